"""A Peppol-profile AS4 peer built on PyPI `as4` 0.2.0, driven by tests/interop_as4.rs through files.

Commands (KEY/CERT: this peer's RSA key and certificate, PEM; its PartyId is the certificate's CN):

  sbd SENDER RECIPIENT DOCID PROCESS PAYLOAD OUT
      Wraps PAYLOAD (XML) in a Peppol StandardBusinessDocument, using as4's own SBDH builder.
  receive KEY CERT ANCHOR REQUEST OUTDIR
      Parses REQUEST (HTTP headers, blank line, body) as a Peppol receiver trusting ANCHOR (chain + CN = From
      PartyId, signature, digests, decryption, SBDH), then writes OUTDIR/signal.xml (its receipt, or its error
      signal) and OUTDIR/payload (the delivered document). Prints "STATE <state>" and "ERROR <detail>" if any;
      exit 0 only when the message was received.
  send KEY CERT TO_CERT TO_PARTY DOCID PROCESS PAYLOAD OUTDIR
      Builds a message with as4 for TO_CERT and writes OUTDIR/request.http, prints "BUILT <MessageId>", then
      waits for one line on stdin naming the answer file (bare SOAP), checks it as as4's sender does (signer =
      TO_CERT, RefToMessageId, every signed reference acknowledged) and prints "STATE <state>"; exit 0 only when
      the message is acknowledged.
"""
import hashlib
import os
import sys
import uuid

import as4
from as4 import peppol
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from lxml import etree

SENDER, RECIPIENT = "0088:7300010000001", "0088:7300010000002"


def certificate(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def common_name(cert):
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def internal_party(key_path, cert_path):
    cert = certificate(cert_path)
    with open(key_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    return peppol.create_peppol_internal_party(common_name(cert), cert, as4.AS4LocalPrivateKey(key))


def builder_args(docid, process):
    return peppol.PeppolAS4MessageBuilderArgs(
        sender=SENDER,
        recipient=RECIPIENT,
        document_type_identifier=peppol.BusdoxDocidQnsDocumentIdentifier.from_identifier_value(docid),
        document_identification_instance_identifier=str(uuid.uuid4()),
        process_identifier=process,
        c1_country_id="SE",
    )


def sbd(sender, recipient, docid, process, payload_path, out_path):
    from as4.profiles.peppol.message import PeppolAS4Message

    args = builder_args(docid, process)
    args.sender, args.recipient = sender, recipient
    document = PeppolAS4Message.get_standard_business_document(args, as4.AS4References())
    element = document.dump_to_xml(
        "{http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader}StandardBusinessDocument"
    )
    with open(payload_path, "rb") as f:
        element.append(etree.fromstring(f.read()))
    with open(out_path, "wb") as f:
        f.write(etree.tostring(element, xml_declaration=True, encoding="UTF-8"))
    return 0


def split_capture(path):
    with open(path, "rb") as f:
        head, _, body = f.read().partition(b"\r\n\r\n")
    headers = {}
    for line in head.decode("ascii").split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() != "content-length":
            headers[name.strip()] = value.strip()
    return headers, body


def receive(key_path, cert_path, anchor_path, request_path, out_dir):
    party = internal_party(key_path, cert_path)
    headers, body = split_capture(request_path)
    policy = peppol.peppol_security_policy(certificate(anchor_path))
    exchange = peppol.parse_peppol_message(headers, body, party, security_policy=policy)
    _, signal = exchange.build_signal()
    with open(os.path.join(out_dir, "signal.xml"), "wb") as f:
        f.write(signal)
    message = exchange.message
    print("STATE", exchange.state.value)
    if message.parse_error is not None:
        print("ERROR", type(message.parse_error).__name__, message.parse_error.detail)
        return 1
    (payload,) = message.decrypted_data.values()
    with open(os.path.join(out_dir, "payload"), "wb") as f:
        f.write(payload)
    print("PAYLOAD", hashlib.sha256(payload).hexdigest(), len(payload))
    print("SIGNED", len(message.signed_references))
    return 0 if exchange.state is as4.ExchangeState.RECEIVED else 1


def send(key_path, cert_path, to_cert_path, to_party, docid, process, payload_path, out_dir):
    party = internal_party(key_path, cert_path)
    remote = peppol.create_peppol_external_party(to_party, certificate(to_cert_path))
    exchange = peppol.PeppolSendingExchange(profile=peppol.PeppolAS4Profile, local_party=party, remote_party=remote)
    with open(payload_path, "rb") as f:
        headers, body = exchange.build(f.read(), builder_args(docid, process))
    with open(os.path.join(out_dir, "request.http"), "wb") as f:
        for name, value in headers.items():
            f.write(("%s: %s\r\n" % (name, value)).encode("utf-8"))
        f.write(b"Content-Length: %d\r\n\r\n" % len(body))
        f.write(body)
    print("BUILT", exchange.message_id, flush=True)
    answer_path = sys.stdin.readline().strip()
    with open(answer_path, "rb") as f:
        answer = f.read()
    try:
        exchange.receive_signal(answer)
    finally:
        print("STATE", exchange.state.value)
        for error in exchange.errors:
            print("SIGNAL-ERROR", error.error_code, error.short_description)
    return 0 if exchange.successful else 1


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    try:
        sys.exit({"sbd": sbd, "receive": receive, "send": send}[command](*arguments))
    except Exception as error:
        print("FAILED %s: %s" % (type(error).__name__, error))
        sys.exit(1)

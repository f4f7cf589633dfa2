"""A Peppol-profile AS4 peer on PyPI `as4` 0.2.0, over HTTPS, for the conformance runner's interop cases
(conformance/src/runner/cases/interop.rs writes this file out and runs it). as4 does all the AS4 work (MIME, lxml
c14n, signature, encryption, receipts); this file only adds the HTTP client and server around it.

  sbd SENDER RECIPIENT PAYLOAD OUT
      Wraps PAYLOAD (XML) in a Peppol StandardBusinessDocument with as4's own SBDH builder.
  send KEY CERT TO_CERT TO_PARTY SENDER RECIPIENT PAYLOAD URL TLS_KEY TLS_CERT TLS_CA OUTDIR
      Builds a message with as4 (signed with KEY, encrypted for TO_CERT, PAYLOAD wrapped in an SBD), POSTs it to
      URL over mutual TLS (client certificate TLS_CERT, server checked against TLS_CA), writes the answer to
      OUTDIR/answer.xml and checks it as as4's sender does (signer = TO_CERT, RefToMessageId, every signed reference
      acknowledged). Prints "BUILT <MessageId>", "HTTP <status>", "TAMPERED-RECEIPT refused|accepted" (the answer
      with one DigestValue character changed), "STATE <state>", "SIGNAL-ERROR ..."; exit 0 only when the message
      is acknowledged.
  receive KEY CERT ANCHOR TLS_KEY TLS_CERT TLS_CLIENT_CA PORT OUTDIR SECONDS
      Serves https://localhost:PORT/as4 (client certificates must chain to TLS_CLIENT_CA) as a Peppol receiver
      trusting ANCHOR for message signatures (chain + CN = From PartyId, signature, digests, decryption, SBDH),
      answers the first POST with as4's signal (receipt or error) and exits. Prints "LISTENING <port>", then
      "RECEIVED <MessageId>", "STATE <state>", "PAYLOAD <sha256> <size>", "SIGNED <n>" and
      "TAMPERED-MESSAGE refused|accepted" (the same body with its MessageId changed), or "ERROR <detail>";
      writes OUTDIR/payload. Exit 0 only when a message was received; 3 when nothing came within SECONDS.
Every other failure prints "FAILED <type>: <detail>" and exits 1.
"""
import hashlib
import http.client
import http.server
import os
import ssl
import sys
import time
import urllib.parse
import uuid

import as4
from as4 import peppol
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from lxml import etree

DOCID = (
    "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice##urn:cen.eu:en16931:2017#compliant"
    "#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1"
)
PROCESS = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
SBDH_NS = "{http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader}StandardBusinessDocument"


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


def builder_args(sender, recipient):
    return peppol.PeppolAS4MessageBuilderArgs(
        sender=sender,
        recipient=recipient,
        document_type_identifier=peppol.BusdoxDocidQnsDocumentIdentifier.from_identifier_value(DOCID),
        document_identification_instance_identifier=str(uuid.uuid4()),
        process_identifier=PROCESS,
        c1_country_id="SE",
    )


def sbd(sender, recipient, payload_path, out_path):
    from as4.profiles.peppol.message import PeppolAS4Message

    document = PeppolAS4Message.get_standard_business_document(builder_args(sender, recipient), as4.AS4References())
    element = document.dump_to_xml(SBDH_NS)
    with open(payload_path, "rb") as f:
        element.append(etree.fromstring(f.read()))
    with open(out_path, "wb") as f:
        f.write(etree.tostring(element, xml_declaration=True, encoding="UTF-8"))
    return 0


def send(key, cert, to_cert, to_party, sender, recipient, payload, url, tls_key, tls_cert, tls_ca, out_dir):
    party = internal_party(key, cert)
    remote = peppol.create_peppol_external_party(to_party, certificate(to_cert))
    exchange = peppol.PeppolSendingExchange(profile=peppol.PeppolAS4Profile, local_party=party, remote_party=remote)
    with open(payload, "rb") as f:
        headers, body = exchange.build(f.read(), builder_args(sender, recipient))
    print("BUILT", exchange.message_id, flush=True)
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=tls_ca)
    context.load_cert_chain(tls_cert, tls_key)
    target = urllib.parse.urlsplit(url)
    connection = http.client.HTTPSConnection(target.hostname, target.port, context=context, timeout=60)
    headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
    connection.request("POST", target.path, body=body, headers=headers)
    response = connection.getresponse()
    answer = response.read()
    print("HTTP", response.status, response.getheader("Content-Type", ""), flush=True)
    with open(os.path.join(out_dir, "answer.xml"), "wb") as f:
        f.write(answer)
    tampered_receipt(answer, exchange.expected_signer)
    try:
        exchange.receive_signal(answer)
    finally:
        print("STATE", exchange.state.value)
        for error in exchange.errors:
            print("SIGNAL-ERROR", error.error_code, error.short_description)
    return 0 if exchange.successful else 1


def tampered_receipt(answer, signer):
    """Negative control: the answer with one DigestValue character changed must not verify."""
    at = answer.find(b"DigestValue>")
    if at < 0:
        print("TAMPERED-RECEIPT none (no DigestValue in the answer)")
        return
    at += len(b"DigestValue>")
    bad = bytearray(answer)
    bad[at] = ord("B") if bad[at] == ord("A") else ord("A")
    try:
        peppol.PeppolAS4Profile.parse_receipt(bytes(bad), signer)
        print("TAMPERED-RECEIPT accepted")
    except Exception as error:
        print("TAMPERED-RECEIPT refused", type(error).__name__)


def receive(key, cert, anchor, tls_key, tls_cert, tls_client_ca, port, out_dir, seconds):
    party = internal_party(key, cert)
    policy = peppol.peppol_security_policy(certificate(anchor))
    outcome = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def body(self):
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length", "0")))

        def do_POST(self):
            body = self.body()
            headers = {"Content-Type": self.headers.get("Content-Type", "")}
            exchange = peppol.parse_peppol_message(headers, body, party, security_policy=policy)
            signal_headers, signal = exchange.build_signal()
            self.send_response(200)
            self.send_header("Content-Type", signal_headers.get("Content-Type", "application/soap+xml"))
            self.send_header("Content-Length", str(len(signal)))
            # One message per connection: the server stops after it, so the client must not keep the connection.
            self.send_header("Connection", "close")
            self.close_connection = True
            self.end_headers()
            self.wfile.write(signal)
            self.wfile.flush()
            outcome["exchange"], outcome["headers"], outcome["body"] = exchange, headers, body

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=tls_client_ca)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(tls_cert, tls_key)
    server = http.server.HTTPServer(("127.0.0.1", int(port)), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.timeout = 1.0
    print("LISTENING", server.server_address[1], flush=True)
    deadline = time.monotonic() + float(seconds)
    while "exchange" not in outcome and time.monotonic() < deadline:
        server.handle_request()
    server.server_close()
    exchange = outcome.get("exchange")
    if exchange is None:
        print("FAILED timeout: no message within %s seconds" % seconds)
        return 3
    message = exchange.message
    print("RECEIVED", exchange.message_id)
    print("STATE", exchange.state.value)
    if message.parse_error is not None:
        print("ERROR", type(message.parse_error).__name__, message.parse_error.detail)
        return 1
    (payload,) = message.decrypted_data.values()
    with open(os.path.join(out_dir, "payload"), "wb") as f:
        f.write(payload)
    print("PAYLOAD", hashlib.sha256(payload).hexdigest(), len(payload))
    print("SIGNED", len(message.signed_references))
    # Negative control: the same message with its MessageId changed must be refused.
    mid = exchange.message_id.encode()
    second = peppol.parse_peppol_message(
        outcome["headers"], outcome["body"].replace(mid, b"x" + mid, 1), party, security_policy=policy
    )
    verdict = "accepted" if second.state is as4.ExchangeState.RECEIVED else "refused"
    print("TAMPERED-MESSAGE", verdict, type(second.message.parse_error).__name__)
    return 0 if exchange.state is as4.ExchangeState.RECEIVED else 1


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    try:
        sys.exit({"sbd": sbd, "send": send, "receive": receive}[command](*arguments))
    except Exception as error:
        print("FAILED %s: %s" % (type(error).__name__, error), flush=True)
        sys.exit(1)

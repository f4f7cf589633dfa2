"""The PyPI `as4` 0.2.0 comparison row of `conformance bench` (conformance/src/bench/as4.rs runs this file).

    as4_bench.py SIZE COUNT

Plays both sides in one process, COUNT times: as4's Peppol sender builds a signed + encrypted (and compressed) AS4
message with a payload of about SIZE bytes, as4's receiver parses it (certificate chain, signature, digests,
decryption) and builds its signed receipt, and the sender checks that receipt. Keys are RSA 3072 under a CA made
here, as sdk-ap's development PKI does. No HTTP, no disk, no durability: only the message work. Prints one JSON
object: size, count, seconds (wall time of the COUNT exchanges), latencies_ms (each exchange), max_rss_kib.
"""
import base64
import datetime
import json
import os
import resource
import sys
import time
import uuid

import as4
from as4 import peppol
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

DOCID = (
    "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice##urn:cen.eu:en16931:2017#compliant"
    "#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1"
)
PROCESS = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def certificate(subject_cn, subject_key, issuer_cn, issuer_key, ca):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(subject_cn))
        .issuer_name(name(issuer_cn))
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        usage = dict(key_cert_sign=True, crl_sign=True, digital_signature=False, key_encipherment=False)
    else:
        usage = dict(key_cert_sign=False, crl_sign=False, digital_signature=True, key_encipherment=True)
    builder = builder.add_extension(
        x509.KeyUsage(
            content_commitment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False, **usage
        ),
        critical=True,
    )
    return builder.sign(issuer_key, hashes.SHA256())


def main(size, count):
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    ca = certificate("as4 bench CA", ca_key, "as4 bench CA", ca_key, True)
    parties = {}
    for cn in ("POP000001", "POP000002"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        parties[cn] = (key, certificate(cn, key, "as4 bench CA", ca_key, False))
    (a_key, a_cert), (b_key, b_cert) = parties["POP000001"], parties["POP000002"]
    sender = peppol.create_peppol_internal_party("POP000001", a_cert, as4.AS4LocalPrivateKey(a_key))
    receiver = peppol.create_peppol_internal_party("POP000002", b_cert, as4.AS4LocalPrivateKey(b_key))
    remote = peppol.create_peppol_external_party("POP000002", b_cert)
    policy = peppol.peppol_security_policy(ca)
    # An XML payload of about SIZE bytes: base64 of random bytes (as incompressible as XML text gets), in elements
    # of 64 KiB (as4's hardened parser refuses text nodes over 10 MB).
    head, tail = b'<Payload xmlns="urn:sdk-ap:bench">', b"</Payload>"
    text = base64.b64encode(os.urandom(max(3, (size - len(head) - len(tail)) * 3 // 4)))
    chunk = 65536
    payload = head + b"".join(b"<c>" + text[i:i + chunk - 7] + b"</c>" for i in range(0, len(text), chunk - 7)) + tail

    latencies = []
    started = time.perf_counter()
    for _ in range(count):
        t0 = time.perf_counter()
        exchange = peppol.PeppolSendingExchange(profile=peppol.PeppolAS4Profile, local_party=sender, remote_party=remote)
        args = peppol.PeppolAS4MessageBuilderArgs(
            sender="0088:7300010000001",
            recipient="0088:7300010000002",
            document_type_identifier=peppol.BusdoxDocidQnsDocumentIdentifier.from_identifier_value(DOCID),
            document_identification_instance_identifier=str(uuid.uuid4()),
            process_identifier=PROCESS,
            c1_country_id="SE",
        )
        headers, body = exchange.build(payload, args)
        headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
        received = peppol.parse_peppol_message(headers, body, receiver, security_policy=policy)
        _, signal = received.build_signal()
        if received.state is not as4.ExchangeState.RECEIVED:
            raise SystemExit("as4 receiver refused the message: %s" % received.message.parse_error)
        exchange.receive_signal(signal)
        if not exchange.successful:
            raise SystemExit("as4 sender refused the receipt: %s" % exchange.errors)
        latencies.append((time.perf_counter() - t0) * 1000.0)
    seconds = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"size": len(payload), "count": count, "seconds": seconds, "latencies_ms": latencies,
                      "max_rss_kib": rss}))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))

"""Decrypts a whole AS4 message sealed by sdk-ap with PyPI `xmlsec` 1.3.17 (bundled libxmlsec1 1.3).

Everything here is independent of sdk-ap: the HTTP capture is split and its multipart/related body parsed by
Python's `email` package, the SOAP envelope by lxml, and the XML Encryption is libxmlsec1's. The message-level
structure is followed as WS-Security / SwA 1.1 define it: one xenc:EncryptedKey in wsse:Security (key transport
to our certificate), whose ReferenceList names one xenc:EncryptedData per attachment, each with a
CipherReference to `cid:<Content-ID>` and Type Attachment-Content-Only. libxmlsec1 cannot dereference `cid:` nor
a WS-Security token reference, so each EncryptedData is handed to it self-contained: the MIME part's octets
inline as CipherValue, the EncryptedKey (minus its token reference and ReferenceList) inside its KeyInfo.

Usage: decrypt_message_with_xmlsec.py CAPTURE PRIVATE_KEY.pem OUTDIR
Writes OUTDIR/envelope.xml (the root part) and OUTDIR/part-N (plaintexts); prints "<cid> <sha256> <path>" per
attachment; exit status 2 on any failure.
"""
import copy
import email.parser
import email.policy
import hashlib
import os
import sys
import base64

import xmlsec
from lxml import etree

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
XENC = "http://www.w3.org/2001/04/xmlenc#"
DS = "http://www.w3.org/2000/09/xmldsig#"
CONTENT_ONLY = "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Content-Only"


def q(ns, local):
    return "{%s}%s" % (ns, local)


def mime_parts(capture):
    head, _, body = capture.partition(b"\r\n\r\n")
    content_type = [l.split(b":", 1)[1].strip() for l in head.split(b"\r\n") if l.lower().startswith(b"content-type:")]
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type[0] + b"\r\nMIME-Version: 1.0\r\n\r\n" + body
    )
    if message.get_content_type() != "multipart/related":
        raise ValueError("not multipart/related: %s" % message.get_content_type())
    parts = list(message.iter_parts())
    ids = {str(p["Content-ID"]).strip().strip("<>"): p.get_payload(decode=True) for p in parts[1:]}
    return parts[0].get_payload(decode=True), ids


def main():
    capture_path, key_path, out_dir = sys.argv[1:]
    with open(capture_path, "rb") as f:
        envelope, attachments = mime_parts(f.read())
    with open(os.path.join(out_dir, "envelope.xml"), "wb") as f:
        f.write(envelope)
    root = etree.fromstring(envelope, etree.XMLParser(resolve_entities=False, no_network=True))
    (security,) = root.iter(q(WSSE, "Security"))
    (encrypted_key,) = security.findall(q(XENC, "EncryptedKey"))
    listed = [r.get("URI").lstrip("#") for r in encrypted_key.iter(q(XENC, "DataReference"))]
    standalone_key = copy.deepcopy(encrypted_key)
    for child in list(standalone_key):
        if child.tag in (q(DS, "KeyInfo"), q(XENC, "ReferenceList")):
            standalone_key.remove(child)
    manager = xmlsec.KeysManager()
    manager.add_key(xmlsec.Key.from_file(key_path, xmlsec.KeyFormat.PEM))
    datas = security.findall(q(XENC, "EncryptedData"))
    if sorted(d.get("Id") for d in datas) != sorted(listed) or len(datas) != len(attachments):
        raise ValueError("EncryptedData %s, ReferenceList %s, attachments %s" % (len(datas), listed, len(attachments)))
    for n, data in enumerate(datas):
        if data.get("Type") != CONTENT_ONLY:
            raise ValueError("EncryptedData Type %r" % data.get("Type"))
        data = copy.deepcopy(data)
        reference = data.find(q(XENC, "CipherData") + "/" + q(XENC, "CipherReference"))
        cid = reference.get("URI")[len("cid:"):]
        cipher_data = reference.getparent()
        cipher_data.remove(reference)
        etree.SubElement(cipher_data, q(XENC, "CipherValue")).text = base64.b64encode(attachments[cid]).decode()
        key_info = data.find(q(DS, "KeyInfo"))
        for child in list(key_info):
            key_info.remove(child)
        key_info.append(copy.deepcopy(standalone_key))
        plaintext = xmlsec.EncryptionContext(manager).decrypt(etree.ElementTree(data).getroot())
        if not isinstance(plaintext, bytes):
            raise ValueError("xmlsec returned an element, not the attachment octets")
        path = os.path.join(out_dir, "part-%d" % n)
        with open(path, "wb") as f:
            f.write(plaintext)
        print(cid, hashlib.sha256(plaintext).hexdigest(), path)


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # report and fail with the agreed status
        print("decryption failed: %r" % (error,), file=sys.stderr)
        sys.exit(2)

"""Decrypts attachments sealed by sdk-ap with PyPI `xmlsec` (libxmlsec1 1.3), an independent XML Encryption engine.

libxmlsec1 cannot follow `cid:` CipherReferences or WS-Security token references, so each EncryptedData is first
rewritten into a self-contained one: the attachment's octets inline as CipherValue and the message's EncryptedKey
(minus its STR KeyInfo and ReferenceList) inside its ds:KeyInfo. Algorithms, parameters and the IV/tag layout are
left exactly as sdk-ap wrote them.

Usage: decrypt_with_xmlsec.py HEADER.xml PRIVATE_KEY.pem CID=FILE...
Prints "<cid> <sha256 hex>" per attachment; exit status 2 on failure.
"""
import base64
import copy
import hashlib
import sys

import xmlsec
from lxml import etree

XENC = "http://www.w3.org/2001/04/xmlenc#"
DS = "http://www.w3.org/2000/09/xmldsig#"


def q(ns, local):
    return "{%s}%s" % (ns, local)


def main():
    header_path, key_path, *parts = sys.argv[1:]
    files = dict(p.split("=", 1) for p in parts)
    security = etree.parse(header_path).getroot()
    encrypted_key = security.find(q(XENC, "EncryptedKey"))
    standalone_key = copy.deepcopy(encrypted_key)
    for child in list(standalone_key):
        if child.tag in (q(DS, "KeyInfo"), q(XENC, "ReferenceList")):
            standalone_key.remove(child)
    manager = xmlsec.KeysManager()
    manager.add_key(xmlsec.Key.from_file(key_path, xmlsec.KeyFormat.PEM))
    for data in security.findall(q(XENC, "EncryptedData")):
        data = copy.deepcopy(data)
        reference = data.find(q(XENC, "CipherData") + "/" + q(XENC, "CipherReference"))
        cid = reference.get("URI")[len("cid:"):]
        cipher_data = reference.getparent()
        cipher_data.remove(reference)
        value = etree.SubElement(cipher_data, q(XENC, "CipherValue"))
        with open(files[cid], "rb") as f:
            value.text = base64.b64encode(f.read()).decode()
        key_info = data.find(q(DS, "KeyInfo"))
        for child in list(key_info):
            key_info.remove(child)
        key_info.append(copy.deepcopy(standalone_key))
        document = etree.ElementTree(data)
        ctx = xmlsec.EncryptionContext(manager)
        plaintext = ctx.decrypt(document.getroot())
        if not isinstance(plaintext, bytes):
            sys.exit("xmlsec returned an element, not the attachment octets")
        print(cid, hashlib.sha256(plaintext).hexdigest())


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # report and fail with the agreed status
        print("xmlsec failed: %r" % (error,), file=sys.stderr)
        sys.exit(2)

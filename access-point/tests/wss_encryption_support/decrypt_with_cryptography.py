"""Independent decryption of attachments sealed by sdk-ap, with PyPI `cryptography` and the stdlib XML parser.

Usage: decrypt_with_cryptography.py HEADER.xml PRIVATE_KEY.pem CID=FILE...
Prints one line per attachment: "<cid> <sha256 hex of the plaintext>". Exit status 2 on any failure.
"""
import base64
import hashlib
import sys
import xml.etree.ElementTree as ET

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap

XENC = "{http://www.w3.org/2001/04/xmlenc#}"
XENC11 = "{http://www.w3.org/2009/xmlenc11#}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"
DSIG11 = "{http://www.w3.org/2009/xmldsig11#}"
MORE = "{http://www.w3.org/2021/04/xmldsig-more#}"


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(2)


def b64(element):
    return base64.b64decode("".join((element.text or "").split()))


def content_key(encrypted_key, private_key):
    method = encrypted_key.find(XENC + "EncryptionMethod")
    algorithm = method.get("Algorithm")
    wrapped = b64(encrypted_key.find(XENC + "CipherData/" + XENC + "CipherValue"))
    if algorithm == "http://www.w3.org/2009/xmlenc11#rsa-oaep":
        if method.find(XENC11 + "MGF").get("Algorithm") != "http://www.w3.org/2009/xmlenc11#mgf1sha256":
            fail("unexpected MGF")
        if method.find(DS + "DigestMethod").get("Algorithm") != "http://www.w3.org/2001/04/xmlenc#sha256":
            fail("unexpected OAEP digest")
        return private_key.decrypt(
            wrapped, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
        )
    if algorithm == "http://www.w3.org/2001/04/xmlenc#kw-aes128":
        agreement = encrypted_key.find(DS + "KeyInfo/" + XENC + "AgreementMethod")
        if agreement.get("Algorithm") != "http://www.w3.org/2021/04/xmldsig-more#x25519":
            fail("unexpected agreement method")
        kdm = agreement.find(XENC11 + "KeyDerivationMethod")
        if kdm.get("Algorithm") != "http://www.w3.org/2021/04/xmldsig-more#hkdf":
            fail("unexpected key derivation")
        params = kdm.find(MORE + "HKDFParams")
        if params.find(MORE + "PRF").get("Algorithm") != "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256":
            fail("unexpected PRF")
        length = int(params.find(MORE + "KeyLength").text)
        originator = serialization.load_der_public_key(
            b64(agreement.find(XENC + "OriginatorKeyInfo/" + DSIG11 + "DEREncodedKeyValue"))
        )
        if not isinstance(originator, x25519.X25519PublicKey):
            fail("originator key is not X25519")
        shared = private_key.exchange(originator)
        kek = HKDF(
            algorithm=hashes.SHA256(),
            length=length,
            salt=b64(params.find(MORE + "Salt")),
            info=b64(params.find(MORE + "Info")),
        ).derive(shared)
        return aes_key_unwrap(kek, wrapped)
    fail("unexpected key encryption method " + algorithm)


def main():
    header_path, key_path, *parts = sys.argv[1:]
    files = dict(p.split("=", 1) for p in parts)
    security = ET.parse(header_path).getroot()
    with open(key_path, "rb") as f:
        private_key = serialization.load_pem_private_key(f.read(), password=None)
    encrypted_key = security.find(XENC + "EncryptedKey")
    key = content_key(encrypted_key, private_key)
    listed = {r.get("URI")[1:] for r in encrypted_key.find(XENC + "ReferenceList")}
    for data in security.findall(XENC + "EncryptedData"):
        if data.get("Id") not in listed:
            fail("EncryptedData not listed")
        if data.find(XENC + "EncryptionMethod").get("Algorithm") != "http://www.w3.org/2009/xmlenc11#aes128-gcm":
            fail("unexpected content algorithm")
        cid = data.find(XENC + "CipherData/" + XENC + "CipherReference").get("URI")[len("cid:"):]
        with open(files[cid], "rb") as f:
            sealed = f.read()
        plaintext = AESGCM(key).decrypt(sealed[:12], sealed[12:], None)
        print(cid, hashlib.sha256(plaintext).hexdigest())


if __name__ == "__main__":
    main()

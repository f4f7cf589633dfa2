//! Payload encryption inside the XHE (Kuverteringsprofil XHE §3.4): the clear payload in PayloadContent is
//! replaced by `xenc:EncryptedData` — Type `#Element` for an XML payload, `#Content` for a text payload; the
//! payload encrypted with a fresh AES-256-CBC session key (`xmlenc#aes256-cbc`, IV prepended to the cipher text),
//! the session key encrypted for the recipient organisation's (CertPub) encryption certificate with
//! `xmlenc#rsa-oaep-mgf1p` (OAEP, SHA-1, MGF1-SHA-1), and that certificate in EncryptedKey/KeyInfo/X509Data — the
//! algorithms DIGG's profile prescribes (§3.4.4). InstanceEncryptionIndicator becomes `true`.
//!
//! CBC has no integrity of its own: DIGG's countermeasure (§3.4.1) is to verify the envelope signature before any
//! decryption and to answer every decryption failure the same way. [`verify_and_open`] does exactly that, and
//! [`open`] is only for an envelope whose signature was already verified.

use super::xhe::{PayloadContent, Xhe, XheError, DSIG_NS, XENC_NS};
use super::xhe_signature::{verify_and_parse, XheSignatureError};
use super::xml;
use base64::Engine;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Padding;
use openssl::symm::{Cipher, Crypter, Mode};
use openssl::x509::X509;
use xmldsig::dom::{Document, ParseLimits};
use xmldsig::policy::Policy;

/// `EncryptedData/EncryptionMethod` DIGG prescribes.
pub const AES256_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes256-cbc";
/// `EncryptedKey/EncryptionMethod` DIGG prescribes.
pub const RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
/// EncryptedData Type of an XML payload.
pub const TYPE_ELEMENT: &str = "http://www.w3.org/2001/04/xmlenc#Element";
/// EncryptedData Type of a non-XML payload.
pub const TYPE_CONTENT: &str = "http://www.w3.org/2001/04/xmlenc#Content";

const KEY_BYTES: usize = 32;
const IV_BYTES: usize = 16;

/// Why a payload could not be encrypted or opened. Decryption failures are deliberately not detailed.
#[derive(Debug, thiserror::Error)]
pub enum XheEncryptionError {
    #[error("the payload is already encrypted")]
    AlreadyEncrypted,
    #[error("the payload is not encrypted")]
    NotEncrypted,
    #[error("the encrypted payload uses {0:?}, not DIGG's algorithms")]
    UnsupportedAlgorithm(String),
    #[error("the encrypted payload could not be decrypted")]
    DecryptionFailed,
    #[error("encryption: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
    #[error(transparent)]
    Signature(#[from] XheSignatureError),
    #[error(transparent)]
    Xhe(#[from] XheError),
}

/// Encrypts the payload of `xhe` for `recipient` (its CertPub encryption certificate, RSA).
pub fn encrypt_payload(xhe: &Xhe, recipient: &X509) -> Result<Xhe, XheEncryptionError> {
    let (plaintext, data_type) = match &xhe.payload.content {
        PayloadContent::Xml(xml) => (xml.as_bytes(), TYPE_ELEMENT),
        PayloadContent::Text(text) => (text.as_bytes(), TYPE_CONTENT),
        PayloadContent::Encrypted(_) => return Err(XheEncryptionError::AlreadyEncrypted),
    };
    let mut key = [0u8; KEY_BYTES];
    let mut iv = [0u8; IV_BYTES];
    openssl::rand::rand_bytes(&mut key)?;
    openssl::rand::rand_bytes(&mut iv)?;
    let mut cipher_value = iv.to_vec();
    cipher_value.extend(openssl::symm::encrypt(
        Cipher::aes_256_cbc(),
        &key,
        Some(&iv),
        plaintext,
    )?);
    let rsa = recipient.public_key()?.rsa()?;
    let mut wrapped = vec![0u8; rsa.size() as usize];
    let n = rsa.public_encrypt(&key, &mut wrapped, Padding::PKCS1_OAEP)?;
    wrapped.truncate(n);
    let b64 = base64::engine::general_purpose::STANDARD;
    let certificate = b64.encode(recipient.to_der()?);
    let encrypted = format!(
        "<xenc:EncryptedData xmlns:xenc=\"{XENC_NS}\" Type=\"{data_type}\"><xenc:EncryptionMethod Algorithm=\"{AES256_CBC}\"></xenc:EncryptionMethod><ds:KeyInfo xmlns:ds=\"{DSIG_NS}\"><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm=\"{RSA_OAEP_MGF1P}\"></xenc:EncryptionMethod><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{certificate}</ds:X509Certificate></ds:X509Data></ds:KeyInfo><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData>",
        b64.encode(wrapped),
        b64.encode(cipher_value)
    );
    let mut out = xhe.clone();
    out.payload.content = PayloadContent::Encrypted(encrypted);
    Ok(out)
}

/// Verifies the envelope signature against `expected_signer` (the sender's CertPub signing certificate) and only
/// then decrypts the payload with `recipient_key`.
pub fn verify_and_open(
    signed_xhe: &[u8],
    expected_signer: &X509,
    policy: &Policy,
    limits: &ParseLimits,
    recipient_key: &PKey<Private>,
) -> Result<Xhe, XheEncryptionError> {
    let xhe = verify_and_parse(signed_xhe, expected_signer, policy, limits)?;
    open(&xhe, recipient_key)
}

/// Decrypts the payload of an envelope whose signature the caller has already verified.
pub fn open(xhe: &Xhe, recipient_key: &PKey<Private>) -> Result<Xhe, XheEncryptionError> {
    let PayloadContent::Encrypted(encrypted) = &xhe.payload.content else {
        return Err(XheEncryptionError::NotEncrypted);
    };
    let doc = Document::parse_str(encrypted).map_err(XheError::from)?;
    let root = doc.root();
    let method = |parent| {
        xml::child(&doc, parent, XENC_NS, "EncryptionMethod")
            .and_then(|m| doc.attribute(m, None, "Algorithm"))
            .unwrap_or_default()
            .to_string()
    };
    if method(root) != AES256_CBC {
        return Err(XheEncryptionError::UnsupportedAlgorithm(method(root)));
    }
    let encrypted_key = xml::select(&doc, root, &[(DSIG_NS, "KeyInfo"), (XENC_NS, "EncryptedKey")])
        .into_iter()
        .next()
        .ok_or(XheEncryptionError::DecryptionFailed)?;
    if method(encrypted_key) != RSA_OAEP_MGF1P {
        return Err(XheEncryptionError::UnsupportedAlgorithm(method(encrypted_key)));
    }
    let cipher_value = |parent| -> Result<Vec<u8>, XheEncryptionError> {
        let node = xml::select(&doc, parent, &[(XENC_NS, "CipherData"), (XENC_NS, "CipherValue")])
            .into_iter()
            .next()
            .ok_or(XheEncryptionError::DecryptionFailed)?;
        let text: String = doc.text_content(node).split_ascii_whitespace().collect();
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| XheEncryptionError::DecryptionFailed)
    };
    let wrapped = cipher_value(encrypted_key)?;
    let rsa = recipient_key.rsa()?;
    let mut key = vec![0u8; rsa.size() as usize];
    let n = rsa
        .private_decrypt(&wrapped, &mut key, Padding::PKCS1_OAEP)
        .map_err(|_| XheEncryptionError::DecryptionFailed)?;
    if n != KEY_BYTES {
        return Err(XheEncryptionError::DecryptionFailed);
    }
    let data = cipher_value(root)?;
    if data.len() < IV_BYTES * 2 || data.len() % IV_BYTES != 0 {
        return Err(XheEncryptionError::DecryptionFailed);
    }
    let plaintext = aes_cbc_decrypt(&key[..KEY_BYTES], &data[..IV_BYTES], &data[IV_BYTES..])?;
    let text = String::from_utf8(plaintext).map_err(|_| XheEncryptionError::DecryptionFailed)?;
    let content = match doc.attribute(root, None, "Type") {
        Some(TYPE_CONTENT) => PayloadContent::Text(text),
        _ => {
            // Re-read the element so the opened payload is in the same canonical form as a clear one.
            let inner = Document::parse_str(&text).map_err(|_| XheEncryptionError::DecryptionFailed)?;
            let canonical = xmldsig::c14n::canonicalize_to_vec(
                &inner,
                &xmldsig::c14n::NodeSet::subtree(inner.root()),
                &xmldsig::c14n::C14nMode::exclusive(),
            );
            PayloadContent::Xml(String::from_utf8(canonical).map_err(|_| XheEncryptionError::DecryptionFailed)?)
        }
    };
    let mut out = xhe.clone();
    out.payload.content = content;
    Ok(out)
}

/// AES-256-CBC with XML Encryption padding: the last byte gives the padding length (1..=16); the other padding
/// bytes are arbitrary, so the padding is removed by hand rather than checked as PKCS#7.
fn aes_cbc_decrypt(key: &[u8], iv: &[u8], data: &[u8]) -> Result<Vec<u8>, XheEncryptionError> {
    let mut crypter = Crypter::new(Cipher::aes_256_cbc(), Mode::Decrypt, key, Some(iv))?;
    crypter.pad(false);
    let mut out = vec![0u8; data.len() + IV_BYTES];
    let mut n = crypter
        .update(data, &mut out)
        .map_err(|_| XheEncryptionError::DecryptionFailed)?;
    n += crypter
        .finalize(&mut out[n..])
        .map_err(|_| XheEncryptionError::DecryptionFailed)?;
    out.truncate(n);
    let pad = *out.last().ok_or(XheEncryptionError::DecryptionFailed)? as usize;
    if pad == 0 || pad > IV_BYTES || pad > out.len() {
        return Err(XheEncryptionError::DecryptionFailed);
    }
    out.truncate(out.len() - pad);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::xhe::tests::sample;
    use crate::sdk::xhe_signature::sign;
    use crate::sdk::xhe_signature::tests::key_and_cert;

    #[test]
    fn encrypt_sign_verify_open_round_trip() {
        let (sender_key, sender_cert) = key_and_cert("sender");
        let (recipient_key, recipient_cert) = key_and_cert("recipient");
        let clear = sample();
        let sealed = encrypt_payload(&clear, &recipient_cert).unwrap();
        let xml = sealed.render().unwrap();
        assert!(xml.contains("<xhb:InstanceEncryptionIndicator>true<") && xml.contains(AES256_CBC));
        assert!(!xml.contains("hej"));
        let signed = sign(xml.as_bytes(), &sender_key, &sender_cert).unwrap();
        let opened = verify_and_open(
            &signed,
            &sender_cert,
            &Policy::default(),
            &ParseLimits::default(),
            &recipient_key,
        )
        .unwrap();
        assert_eq!(opened, clear);
    }

    #[test]
    fn text_payload_round_trip() {
        let (recipient_key, recipient_cert) = key_and_cert("recipient");
        let mut clear = sample();
        clear.payload.content = PayloadContent::Text("VU5CK1VOT0E6".into());
        let sealed = encrypt_payload(&clear, &recipient_cert).unwrap();
        let reparsed = Xhe::parse(sealed.render().unwrap().as_bytes(), &ParseLimits::default()).unwrap();
        assert_eq!(open(&reparsed, &recipient_key).unwrap(), clear);
    }

    #[test]
    fn tampered_signature_stops_before_decryption() {
        let (sender_key, sender_cert) = key_and_cert("sender");
        let (recipient_key, recipient_cert) = key_and_cert("recipient");
        let sealed = encrypt_payload(&sample(), &recipient_cert).unwrap();
        let signed = sign(sealed.render().unwrap().as_bytes(), &sender_key, &sender_cert).unwrap();
        let text = String::from_utf8(signed).unwrap();
        // Flip one base64 character of the payload cipher text (the last CipherValue before the signature).
        let at = text.rfind("</xenc:CipherValue>").unwrap() - 2;
        let mut bytes = text.into_bytes();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let err = verify_and_open(
            &bytes,
            &sender_cert,
            &Policy::default(),
            &ParseLimits::default(),
            &recipient_key,
        );
        assert!(matches!(err, Err(XheEncryptionError::Signature(_))), "{err:?}");
    }

    #[test]
    fn wrong_recipient_key_fails_uniformly() {
        let (_, recipient_cert) = key_and_cert("recipient");
        let (other_key, _) = key_and_cert("other");
        let sealed = encrypt_payload(&sample(), &recipient_cert).unwrap();
        assert!(matches!(
            open(&sealed, &other_key),
            Err(XheEncryptionError::DecryptionFailed)
        ));
    }

    #[test]
    fn other_algorithms_are_refused() {
        let (recipient_key, recipient_cert) = key_and_cert("recipient");
        let mut sealed = encrypt_payload(&sample(), &recipient_cert).unwrap();
        if let PayloadContent::Encrypted(e) = &mut sealed.payload.content {
            *e = e.replace(AES256_CBC, "http://www.w3.org/2009/xmlenc11#aes128-gcm");
        }
        assert!(matches!(
            open(&sealed, &recipient_key),
            Err(XheEncryptionError::UnsupportedAlgorithm(_))
        ));
    }
}

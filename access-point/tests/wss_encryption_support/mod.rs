//! Shared fixtures for the attachment-encryption tests: throw-away CAs and receiver certificates, and a helper that
//! seals attachments into files and wraps the header in a `wsse:Security` element.
#![allow(dead_code)]

use access_point::wss::decrypt::RecipientKey;
use access_point::wss::encrypt::{EncryptedAttachment, EncryptionProfile, MessageEncryptor};
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::SubjectKeyIdentifier;
use openssl::x509::{X509Builder, X509NameBuilder, X509};
use std::path::{Path, PathBuf};

pub const WSSE: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";

fn certificate(subject_cn: &str, subject_key: &PKey<Private>, ca_key: &PKey<Private>, digest: MessageDigest) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("C", "SE").unwrap();
    name.append_entry_by_text("O", "Test, Org").unwrap();
    name.append_entry_by_text("CN", subject_cn).unwrap();
    let name = name.build();
    let mut issuer = X509NameBuilder::new().unwrap();
    issuer.append_entry_by_text("C", "SE").unwrap();
    issuer.append_entry_by_text("CN", "Test CA").unwrap();
    let issuer = issuer.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(120, MsbOption::MAYBE_ZERO, false).unwrap();
    b.set_serial_number(&serial.to_asn1_integer().unwrap()).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&issuer).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap()).unwrap();
    let public = PKey::public_key_from_der(&subject_key.public_key_to_der().unwrap()).unwrap();
    b.set_pubkey(&public).unwrap();
    let ski = SubjectKeyIdentifier::new()
        .build(&b.x509v3_context(None, None))
        .unwrap();
    b.append_extension(ski).unwrap();
    b.sign(ca_key, digest).unwrap();
    b.build()
}

/// An RSA receiver (AS4 1.15 / SDK).
pub fn rsa_receiver(bits: u32) -> RecipientKey {
    let ca = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let key = PKey::from_rsa(Rsa::generate(bits).unwrap()).unwrap();
    let certificate = certificate("receiver-ap", &key, &ca, MessageDigest::sha256());
    RecipientKey {
        private_key: key,
        certificate,
    }
}

/// An X25519 receiver certified by an Ed25519 CA (AS4 2.0).
pub fn x25519_receiver() -> RecipientKey {
    let ca = PKey::generate_ed25519().unwrap();
    let key = PKey::generate_x25519().unwrap();
    let certificate = certificate("receiver-ap-2", &key, &ca, MessageDigest::null());
    RecipientKey {
        private_key: key,
        certificate,
    }
}

/// One sealed attachment on disk.
pub struct SealedPart {
    pub content_id: String,
    pub mime_type: String,
    pub plaintext: Vec<u8>,
    pub encrypted_path: PathBuf,
    pub result: EncryptedAttachment,
}

pub fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2654435761).rotate_left(seed as u32) as u8 ^ seed)
        .collect()
}

/// Seals `sizes.len()` attachments for `receiver` into files under `dir`; returns the `wsse:Security` element
/// text and the parts.
pub async fn seal(
    profile: &EncryptionProfile,
    receiver: &X509,
    sizes: &[usize],
    dir: &Path,
) -> (String, Vec<SealedPart>) {
    let mut encryptor = MessageEncryptor::new(profile, receiver).unwrap();
    let mut parts = Vec::new();
    for (i, len) in sizes.iter().enumerate() {
        let content_id = format!("part{i}@sender.example.se");
        let mime_type = if i % 2 == 0 {
            "application/xml"
        } else {
            "application/pdf"
        }
        .to_string();
        let plaintext = payload(*len, i as u8 + 1);
        let encrypted_path = dir.join(format!("part{i}.enc"));
        let out = tokio::fs::File::create(&encrypted_path).await.unwrap();
        let result = encryptor
            .encrypt_attachment(&content_id, &mime_type, &plaintext[..], out)
            .await
            .unwrap();
        parts.push(SealedPart {
            content_id,
            mime_type,
            plaintext,
            encrypted_path,
            result,
        });
    }
    let header = format!(
        r#"<wsse:Security xmlns:wsse="{WSSE}">{}</wsse:Security>"#,
        encryptor.security_header_xml()
    );
    (header, parts)
}

/// `SDK_AP_REQUIRE_PEERS=1` turns a missing third-party peer into a failure.
pub fn skip_or_fail(what: &str) {
    if std::env::var("SDK_AP_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("required peer missing: {what}");
    }
    eprintln!("SKIPPED: {what}");
}

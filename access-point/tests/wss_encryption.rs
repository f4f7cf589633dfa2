//! Attachment encryption end to end: seal with `MessageEncryptor`, parse the header with the shared DOM, open with
//! `MessageDecryptor`, for eDelivery AS4 1.15 (RSA-OAEP) and 2.0 (X25519 + HKDF + kw-aes128), and every way a
//! received message must be refused.

mod wss_encryption_support;

use access_point::wss::algorithms::KeyTransportMethod;
use access_point::wss::content::CHUNK_LEN;
use access_point::wss::decrypt::{DecryptionPolicy, MessageDecryptor, RecipientKey};
use access_point::wss::encrypt::{EncryptionProfile, ENCRYPTED_PART_CONTENT_TYPE};
use access_point::wss::error::{EncryptionEbmsError, EncryptionError};
use access_point::wss::xenc::KeyReferenceStyle;
use base64::Engine;
use std::path::Path;
use wss_encryption_support::*;
use xmldsig::dom::Document;

fn open(
    header: &str,
    cids: &[&str],
    policy: &DecryptionPolicy,
    recipient: &RecipientKey,
) -> Result<MessageDecryptor, EncryptionError> {
    let doc = Document::parse_str(header).expect("header parses");
    MessageDecryptor::open(&doc, doc.root(), cids, policy, recipient)
}

fn cids(parts: &[SealedPart]) -> Vec<&str> {
    parts.iter().map(|p| p.content_id.as_str()).collect()
}

fn spool_is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}

async fn round_trip(profile: EncryptionProfile, policy: DecryptionPolicy, recipient: &RecipientKey) {
    for sizes in [&[][..], &[10_000][..], &[0, CHUNK_LEN + 123, 3 * CHUNK_LEN][..]] {
        let dir = tempfile::tempdir().unwrap();
        let spool = tempfile::tempdir().unwrap();
        let (header, parts) = seal(&profile, &recipient.certificate, sizes, dir.path()).await;
        if parts.is_empty() {
            assert!(!header.contains("EncryptedKey"), "no attachment, no key");
        }
        let decryptor = open(&header, &cids(&parts), &policy, recipient).unwrap();
        for part in &parts {
            assert_eq!(part.result.content_type, ENCRYPTED_PART_CONTENT_TYPE);
            let data = decryptor.encrypted_data(&part.content_id).unwrap();
            assert_eq!(data.mime_type.as_deref(), Some(part.mime_type.as_str()));
            let input = tokio::fs::File::open(&part.encrypted_path).await.unwrap();
            let opened = decryptor
                .decrypt_attachment(&part.content_id, input, spool.path())
                .await
                .unwrap();
            assert_eq!(std::fs::read(opened.path()).unwrap(), part.plaintext);
            assert_eq!(opened.plaintext_sha256, openssl::sha::sha256(&part.plaintext));
            assert_eq!(opened.plaintext_sha256, part.result.plaintext_sha256);
        }
    }
}

#[tokio::test]
async fn round_trip_edelivery_1_15_with_each_key_reference() {
    let recipient = rsa_receiver(3072);
    for style in [
        KeyReferenceStyle::BinarySecurityToken,
        KeyReferenceStyle::IssuerSerial,
        KeyReferenceStyle::SubjectKeyIdentifier,
    ] {
        let profile = EncryptionProfile {
            key_reference: style,
            ..EncryptionProfile::edelivery_1_15()
        };
        round_trip(profile, DecryptionPolicy::edelivery_1_15(), &recipient).await;
    }
}

#[tokio::test]
async fn round_trip_edelivery_2_0_with_each_key_reference() {
    let recipient = x25519_receiver();
    for style in [
        KeyReferenceStyle::IssuerSerial,
        KeyReferenceStyle::SubjectKeyIdentifier,
        KeyReferenceStyle::BinarySecurityToken,
    ] {
        let profile = EncryptionProfile {
            key_reference: style,
            ..EncryptionProfile::edelivery_2_0()
        };
        round_trip(profile, DecryptionPolicy::edelivery_2_0(), &recipient).await;
    }
}

#[tokio::test]
async fn header_layout_matches_the_profiles() {
    let dir = tempfile::tempdir().unwrap();
    let rsa = rsa_receiver(2048);
    let (header, _) = seal(&EncryptionProfile::edelivery_1_15(), &rsa.certificate, &[5], dir.path()).await;
    for needle in [
        r#"Algorithm="http://www.w3.org/2009/xmlenc11#rsa-oaep""#,
        r#"<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>"#,
        r#"<xenc11:MGF Algorithm="http://www.w3.org/2009/xmlenc11#mgf1sha256"/>"#,
        r#"Type="http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Content-Only""#,
        r#"MimeType="application/xml""#,
        r#"<xenc:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes128-gcm"/>"#,
        r#"<xenc:CipherReference URI="cid:part0@sender.example.se">"#,
        r#"Algorithm="http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Ciphertext-Transform""#,
        "<wsse:BinarySecurityToken",
    ] {
        assert!(header.contains(needle), "missing {needle} in {header}");
    }
    let x = x25519_receiver();
    let (header, _) = seal(&EncryptionProfile::edelivery_2_0(), &x.certificate, &[5], dir.path()).await;
    for needle in [
        r#"<xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#kw-aes128"/>"#,
        r#"<xenc:AgreementMethod Algorithm="http://www.w3.org/2021/04/xmldsig-more#x25519">"#,
        r#"<xenc11:KeyDerivationMethod Algorithm="http://www.w3.org/2021/04/xmldsig-more#hkdf">"#,
        r#"<dsig-more:PRF Algorithm="http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"/>"#,
        "<dsig-more:KeyLength>16</dsig-more:KeyLength>",
        "<xenc:OriginatorKeyInfo><dsig11:DEREncodedKeyValue>",
        "<xenc:RecipientKeyInfo><wsse:SecurityTokenReference><ds:X509Data><ds:X509IssuerSerial>",
    ] {
        assert!(header.contains(needle), "missing {needle} in {header}");
    }
}

/// Seals one attachment, lets `corrupt` damage the encrypted file, and checks the failure and that no plaintext
/// file remains.
async fn decrypt_damaged(corrupt: impl Fn(&mut Vec<u8>)) -> EncryptionError {
    let dir = tempfile::tempdir().unwrap();
    let spool = tempfile::tempdir().unwrap();
    let recipient = rsa_receiver(2048);
    let (header, parts) = seal(
        &EncryptionProfile::edelivery_1_15(),
        &recipient.certificate,
        &[200_000],
        dir.path(),
    )
    .await;
    let mut bytes = std::fs::read(&parts[0].encrypted_path).unwrap();
    corrupt(&mut bytes);
    let decryptor = open(&header, &cids(&parts), &DecryptionPolicy::edelivery_1_15(), &recipient).unwrap();
    let err = decryptor
        .decrypt_attachment(&parts[0].content_id, &bytes[..], spool.path())
        .await
        .unwrap_err();
    assert!(
        spool_is_empty(spool.path()),
        "a plaintext file was left behind after {err}"
    );
    assert_eq!(err.ebms_error(), EncryptionEbmsError::FailedDecryption);
    err
}

#[tokio::test]
async fn broken_tag_is_refused() {
    let err = decrypt_damaged(|b| *b.last_mut().unwrap() ^= 0x80).await;
    assert!(matches!(err, EncryptionError::TagMismatch { .. }), "{err}");
}

#[tokio::test]
async fn flipped_ciphertext_byte_is_refused() {
    let err = decrypt_damaged(|b| b[100_000] ^= 0x01).await;
    assert!(matches!(err, EncryptionError::TagMismatch { .. }), "{err}");
}

#[tokio::test]
async fn truncated_part_is_refused() {
    let err = decrypt_damaged(|b| b.truncate(b.len() - 1000)).await;
    assert!(matches!(err, EncryptionError::TagMismatch { .. }), "{err}");
    let err = decrypt_damaged(|b| b.truncate(20)).await;
    assert!(matches!(err, EncryptionError::Truncated { .. }), "{err}");
}

#[tokio::test]
async fn wrong_receiver_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let intended = rsa_receiver(2048);
    let other = rsa_receiver(2048);
    let (header, parts) = seal(
        &EncryptionProfile::edelivery_1_15(),
        &intended.certificate,
        &[10],
        dir.path(),
    )
    .await;
    let policy = DecryptionPolicy::edelivery_1_15();
    // Another access point's certificate: the key reference does not name it.
    let err = open(&header, &cids(&parts), &policy, &other).unwrap_err();
    assert!(matches!(err, EncryptionError::NotForThisRecipient), "{err}");
    // The right certificate but the wrong private key: RSA-OAEP fails.
    let mismatched = RecipientKey {
        private_key: other.private_key,
        certificate: intended.certificate.clone(),
    };
    let err = open(&header, &cids(&parts), &policy, &mismatched).unwrap_err();
    assert!(matches!(err, EncryptionError::KeyUnwrapFailed(_)), "{err}");
    assert_eq!(err.ebms_error().code(), "EBMS:0102");

    let intended = x25519_receiver();
    let other = x25519_receiver();
    let (header, parts) = seal(
        &EncryptionProfile::edelivery_2_0(),
        &intended.certificate,
        &[10],
        dir.path(),
    )
    .await;
    let mismatched = RecipientKey {
        private_key: other.private_key,
        certificate: intended.certificate.clone(),
    };
    let err = open(&header, &cids(&parts), &DecryptionPolicy::edelivery_2_0(), &mismatched).unwrap_err();
    assert!(matches!(err, EncryptionError::KeyUnwrapFailed(_)), "{err}");
}

fn assert_policy_refusal(result: Result<MessageDecryptor, EncryptionError>, element: &str) {
    match result {
        Err(err @ EncryptionError::AlgorithmNotAllowed { .. })
        | Err(err @ EncryptionError::ParameterNotAllowed { .. }) => {
            assert_eq!(err.ebms_error().code(), "EBMS:0103");
            assert!(err.to_string().contains(element), "{err} should name {element}");
        }
        other => panic!("expected a policy refusal naming {element}, got {other:?}"),
    }
}

#[tokio::test]
async fn wrong_key_transport_algorithm_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rsa = rsa_receiver(2048);
    let (header, parts) = seal(
        &EncryptionProfile::edelivery_1_15(),
        &rsa.certificate,
        &[10],
        dir.path(),
    )
    .await;
    let cids = cids(&parts);
    // A 2.0 P-Mode receiving an RSA-OAEP message.
    assert_policy_refusal(
        open(&header, &cids, &DecryptionPolicy::edelivery_2_0(), &rsa),
        "EncryptedKey/EncryptionMethod",
    );
    let policy = DecryptionPolicy::edelivery_1_15();
    // rsa-oaep-mgf1p (MGF1 with SHA-1 implied).
    let mgf1p = header.replace(
        "http://www.w3.org/2009/xmlenc11#rsa-oaep",
        "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
    );
    assert_policy_refusal(open(&mgf1p, &cids, &policy, &rsa), "EncryptedKey/EncryptionMethod");
    // rsa-oaep with MGF1-SHA1.
    let sha1_mgf = header.replace("#mgf1sha256", "#mgf1sha1");
    assert_policy_refusal(open(&sha1_mgf, &cids, &policy, &rsa), "EncryptionMethod/MGF");
    // rsa-oaep without MGF: XML Encryption 1.1 defaults it to MGF1-SHA1.
    let no_mgf = header.replace(
        r#"<xenc11:MGF Algorithm="http://www.w3.org/2009/xmlenc11#mgf1sha256"/>"#,
        "",
    );
    assert_policy_refusal(open(&no_mgf, &cids, &policy, &rsa), "EncryptionMethod/MGF");
    // SHA-1 as OAEP digest.
    let sha1_digest = header.replace(
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "http://www.w3.org/2000/09/xmldsig#sha1",
    );
    assert_policy_refusal(
        open(&sha1_digest, &cids, &policy, &rsa),
        "EncryptionMethod/DigestMethod",
    );
    // rsa-1_5.
    let pkcs1 = header.replace(
        "http://www.w3.org/2009/xmlenc11#rsa-oaep",
        "http://www.w3.org/2001/04/xmlenc#rsa-1_5",
    );
    assert_policy_refusal(open(&pkcs1, &cids, &policy, &rsa), "EncryptedKey/EncryptionMethod");

    // A 1.15 P-Mode receiving an X25519 message, and a 2.0 message with a wrong PRF.
    let x = x25519_receiver();
    let (header, parts) = seal(&EncryptionProfile::edelivery_2_0(), &x.certificate, &[10], dir.path()).await;
    let cids = self::cids(&parts);
    assert_policy_refusal(
        open(&header, &cids, &DecryptionPolicy::edelivery_1_15(), &x),
        "EncryptedKey/EncryptionMethod",
    );
    let sha1_prf = header.replace(
        "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
        "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
    );
    assert_policy_refusal(
        open(&sha1_prf, &cids, &DecryptionPolicy::edelivery_2_0(), &x),
        "HKDFParams/PRF",
    );
    let long_key = header.replace("<dsig-more:KeyLength>16<", "<dsig-more:KeyLength>32<");
    assert_policy_refusal(
        open(&long_key, &cids, &DecryptionPolicy::edelivery_2_0(), &x),
        "HKDFParams/KeyLength",
    );
}

#[tokio::test]
async fn aes_cbc_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rsa = rsa_receiver(2048);
    let (header, parts) = seal(
        &EncryptionProfile::edelivery_1_15(),
        &rsa.certificate,
        &[10, 20],
        dir.path(),
    )
    .await;
    let cbc = header.replacen(
        "http://www.w3.org/2009/xmlenc11#aes128-gcm",
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
        1,
    );
    assert_policy_refusal(
        open(&cbc, &cids(&parts), &DecryptionPolicy::edelivery_1_15(), &rsa),
        "EncryptedData/EncryptionMethod",
    );
}

#[tokio::test]
async fn x25519_tampered_ephemeral_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let x = x25519_receiver();
    let (header, parts) = seal(&EncryptionProfile::edelivery_2_0(), &x.certificate, &[10], dir.path()).await;
    let start = header.find("<dsig11:DEREncodedKeyValue>").unwrap() + "<dsig11:DEREncodedKeyValue>".len();
    let end = start + header[start..].find('<').unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut der = b64.decode(&header[start..end]).unwrap();
    *der.last_mut().unwrap() ^= 0x04; // a bit of the raw 32-byte public key
    let tampered = format!("{}{}{}", &header[..start], b64.encode(&der), &header[end..]);
    let err = open(&tampered, &cids(&parts), &DecryptionPolicy::edelivery_2_0(), &x).unwrap_err();
    assert!(matches!(err, EncryptionError::KeyUnwrapFailed(_)), "{err}");
    assert_eq!(err.ebms_error().code(), "EBMS:0102");
    // The untouched header opens (the test above fails for the tampering, not for something else).
    assert!(open(&header, &cids(&parts), &DecryptionPolicy::edelivery_2_0(), &x).is_ok());
}

#[tokio::test]
async fn unreferenced_or_missing_encryption_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rsa = rsa_receiver(2048);
    let policy = DecryptionPolicy::edelivery_1_15();
    let (header, parts) = seal(
        &EncryptionProfile::edelivery_1_15(),
        &rsa.certificate,
        &[10, 20],
        dir.path(),
    )
    .await;
    let cids = cids(&parts);

    // An EncryptedData the EncryptedKey does not list.
    let second = &parts[1].result.encrypted_data_id;
    let unlisted = header.replace(&format!(r##"<xenc:DataReference URI="#{second}"/>"##), "");
    assert!(unlisted.len() < header.len());
    let err = open(&unlisted, &cids, &policy, &rsa).unwrap_err();
    assert!(
        matches!(err, EncryptionError::UnreferencedEncryptedData { .. }),
        "{err}"
    );
    assert_eq!(err.ebms_error().code(), "EBMS:0103");

    // A DataReference to nothing.
    let dangling = header.replace(&format!(r##"URI="#{second}"/>"##), r##"URI="#nothing"/>"##);
    let err = open(&dangling, &cids, &policy, &rsa).unwrap_err();
    assert!(matches!(err, EncryptionError::DanglingDataReference { .. }), "{err}");

    // An attachment the policy requires encrypted that is not.
    let mut with_plain = cids.clone();
    with_plain.push("plain@sender.example.se");
    let err = open(&header, &with_plain, &policy, &rsa).unwrap_err();
    assert!(matches!(err, EncryptionError::AttachmentNotEncrypted { .. }), "{err}");
    assert_eq!(err.ebms_error().code(), "EBMS:0103");
    let lenient = DecryptionPolicy {
        require_encrypted_attachments: false,
        ..policy.clone()
    };
    assert!(open(&header, &with_plain, &lenient, &rsa).is_ok());

    // An EncryptedData for an attachment the message does not carry.
    let err = open(&header, &cids[..1], &policy, &rsa).unwrap_err();
    assert!(matches!(err, EncryptionError::MissingAttachment { .. }), "{err}");

    // An EncryptedData without the ciphertext transform.
    let no_transform = header.replacen(
        r#"<ds:Transform Algorithm="http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Ciphertext-Transform"/>"#,
        "",
        1,
    );
    assert_policy_refusal(open(&no_transform, &cids, &policy, &rsa), "CipherReference/Transforms");

    // Attachment-Complete instead of Attachment-Content-Only.
    let complete = header.replacen("#Attachment-Content-Only", "#Attachment-Complete", 1);
    assert_policy_refusal(open(&complete, &cids, &policy, &rsa), "EncryptedData/@Type");
}

#[tokio::test]
async fn policy_names_the_key_transport() {
    assert_eq!(
        DecryptionPolicy::edelivery_1_15().key_transport,
        KeyTransportMethod::RsaOaepSha256
    );
    assert_eq!(
        DecryptionPolicy::edelivery_2_0().key_transport,
        KeyTransportMethod::X25519HkdfKwAes128
    );
}

//! Bad input: each forged or non-compliant message is refused with the right ebMS error (EBMS:0101
//! FailedAuthentication, 0102 FailedDecryption, 0103 PolicyNoncompliance), and nothing is released (no payload,
//! no file left in the receiver's spool directory). Each test also opens the untouched message, so a refusal for
//! an unrelated reason cannot pass for the check under test.

mod wss_message_support;

use access_point::ebms::ErrorCode;
use access_point::pki::dev::CertSpec;
use access_point::pki::TrustStore;
use time::{Duration, OffsetDateTime};
use wss_message_support::*;

const SDK_BODY_TAG: &[u8] = b"<env:Body ";

async fn sealed_sdk(world: &World) -> (String, Vec<u8>) {
    let sealed = world
        .seal_sdk(&world.payloads(&[b"<doc>payload one</doc>", b"second payload"]))
        .await;
    let body = body_of(&sealed);
    world
        .open_sdk(&sealed.content_type, &body)
        .await
        .expect("the untouched message opens");
    (sealed.content_type.clone(), body)
}

async fn sealed_signed_only(world: &World) -> (String, Vec<u8>) {
    let pmode = sdk_signed_only();
    let sealed = world
        .seal_with(
            &pmode,
            &world.payloads(&[b"<doc>payload one</doc>"]),
            &world.sender.message,
            None,
        )
        .await;
    let body = body_of(&sealed);
    world
        .open_with(&pmode, &sealed.content_type, &body, &world.receiver_trust)
        .await
        .expect("the untouched message opens");
    (sealed.content_type.clone(), body)
}

#[tokio::test]
async fn tampered_attachment_bytes() {
    let world = World::new();
    // Encrypted: the GCM tag catches it before anything is released.
    let (ct, body) = sealed_sdk(&world).await;
    let range = part_range(&body, "part-1@sdk");
    let mut tampered = body.clone();
    tampered[range.start + 20] ^= 0x01;
    world
        .expect_refusal(
            &pmode::builtin::sdk_message(),
            &ct,
            &tampered,
            ErrorCode::FailedDecryption,
        )
        .await;
    // A broken tag (last byte of the part).
    let mut broken_tag = body.clone();
    broken_tag[range.end - 1] ^= 0x80;
    world
        .expect_refusal(
            &pmode::builtin::sdk_message(),
            &ct,
            &broken_tag,
            ErrorCode::FailedDecryption,
        )
        .await;
    // Signed only: the attachment digest catches it.
    let (ct, body) = sealed_signed_only(&world).await;
    let range = part_range(&body, "part-0@sdk");
    let mut tampered = body.clone();
    tampered[range.start + 12] ^= 0x01;
    world
        .expect_refusal(&sdk_signed_only(), &ct, &tampered, ErrorCode::FailedAuthentication)
        .await;
}

#[tokio::test]
async fn tampered_messaging_and_body() {
    let world = World::new();
    let (ct, body) = sealed_sdk(&world).await;
    let messaging = replace_once(&body, b">AP0002-DEV<", b">AP0003-DEV<");
    let err = world
        .expect_refusal(
            &pmode::builtin::sdk_message(),
            &ct,
            &messaging,
            ErrorCode::FailedAuthentication,
        )
        .await;
    assert!(err.message_id.is_some());
    let at = body
        .windows(SDK_BODY_TAG.len())
        .position(|w| w == SDK_BODY_TAG)
        .unwrap();
    let close = at + body[at..].iter().position(|&b| b == b'>').unwrap();
    let mut with_content = body[..close].to_vec();
    if body[close - 1] == b'/' {
        with_content.pop();
        with_content.extend_from_slice(b"><x xmlns=\"urn:evil\"/></env:Body");
    } else {
        with_content.extend_from_slice(b"><x xmlns=\"urn:evil\"/");
    }
    with_content.extend_from_slice(&body[close..]);
    world
        .expect_refusal(
            &pmode::builtin::sdk_message(),
            &ct,
            &with_content,
            ErrorCode::FailedAuthentication,
        )
        .await;
}

/// The text of the first `eb:Messaging` element.
fn messaging_element(body: &[u8]) -> Vec<u8> {
    let start = body.windows(13).position(|w| w == b"<eb:Messaging").unwrap();
    let end_tag = b"</eb:Messaging>";
    let end = body.windows(end_tag.len()).position(|w| w == end_tag).unwrap() + end_tag.len();
    body[start..end].to_vec()
}

/// The text of the SOAP Body element and its wsu:Id.
fn body_element(body: &[u8]) -> (String, String) {
    let start = body
        .windows(SDK_BODY_TAG.len())
        .position(|w| w == SDK_BODY_TAG)
        .unwrap();
    let rest = String::from_utf8_lossy(&body[start..]).into_owned();
    let end = match rest.find("</env:Body>") {
        Some(e) if rest[..e].find("/>").is_none_or(|sc| sc > e) => e + "</env:Body>".len(),
        _ => rest.find("/>").unwrap() + 2,
    };
    let element = rest[..end].to_string();
    let id_start = element.find("wsu:Id=\"").unwrap() + 8;
    let id = element[id_start..id_start + element[id_start..].find('"').unwrap()].to_string();
    (element, id)
}

#[tokio::test]
async fn signature_wrapping_moved_id() {
    let world = World::new();
    let sdk = pmode::builtin::sdk_message();
    let (ct, body) = sealed_sdk(&world).await;
    // Messaging: the signed original moves into a wrapper in the security header; the Messaging the MSH reads is
    // forged (another receiver) and carries another Id. The parser already refuses a Messaging outside the Header.
    let original = messaging_element(&body);
    let text = String::from_utf8(original.clone()).unwrap();
    let id_start = text.find("wsu:Id=\"").unwrap() + 8;
    let id = &text[id_start..id_start + text[id_start..].find('"').unwrap()];
    let forged = text.replace(id, "ebms-forged").replace(">AP0002-DEV<", ">AP0003-DEV<");
    let mut wrapped = replace_once(&body, &original, forged.as_bytes());
    let wrapper = format!("<w:Wrapper xmlns:w=\"urn:evil\">{text}</w:Wrapper></wsse:Security>");
    wrapped = replace_once(&wrapped, b"</wsse:Security>", wrapper.as_bytes());
    let err = world.open_sdk(&ct, &wrapped).await.unwrap_err();
    assert!(
        matches!(err.code(), ErrorCode::InvalidHeader | ErrorCode::FailedAuthentication),
        "{err}"
    );
    assert!(world.spooled_files().is_empty());

    // Body: the signed (empty) Body moves into a wrapper; the Body read carries content and another Id. Only the
    // signature layer's node comparison sees this.
    let (element, id) = body_element(&body);
    let forged_body = "<env:Body wsu:Id=\"body-forged\"><x xmlns=\"urn:evil\">forged</x></env:Body>";
    let mut wrapped = replace_once(&body, element.as_bytes(), forged_body.as_bytes());
    let wrapper = format!("<w:Wrapper xmlns:w=\"urn:evil\">{element}</w:Wrapper></wsse:Security>");
    wrapped = replace_once(&wrapped, b"</wsse:Security>", wrapper.as_bytes());
    assert!(String::from_utf8_lossy(&wrapped).contains(&id));
    world
        .expect_refusal(&sdk, &ct, &wrapped, ErrorCode::FailedAuthentication)
        .await;
}

#[tokio::test]
async fn signature_wrapping_duplicate_id_and_second_messaging() {
    let world = World::new();
    let (ct, body) = sealed_sdk(&world).await;
    let original = String::from_utf8(messaging_element(&body)).unwrap();
    let id_start = original.find("wsu:Id=\"").unwrap() + 8;
    let id = &original[id_start..id_start + original[id_start..].find('"').unwrap()];
    // A second element with the Messaging's Id.
    let duplicate = format!("<w:x xmlns:w=\"urn:evil\" wsu:Id=\"{id}\"/></wsse:Security>");
    let dup = replace_once(&body, b"</wsse:Security>", duplicate.as_bytes());
    let err = world.open_sdk(&ct, &dup).await.unwrap_err();
    assert!(
        matches!(err.code(), ErrorCode::InvalidHeader | ErrorCode::FailedAuthentication),
        "{err}"
    );
    assert!(world.spooled_files().is_empty());
    // A second Messaging header (forged, its own Id) after the signed one.
    let second = original
        .replace(id, "ebms-second")
        .replace(">AP0002-DEV<", ">AP0003-DEV<");
    let two = replace_once(&body, b"</env:Header>", format!("{second}</env:Header>").as_bytes());
    let err = world.open_sdk(&ct, &two).await.unwrap_err();
    assert!(
        matches!(err.code(), ErrorCode::InvalidHeader | ErrorCode::FailedAuthentication),
        "{err}"
    );
    assert!(world.spooled_files().is_empty());
}

#[tokio::test]
async fn an_unsigned_attachment_is_refused() {
    let world = World::new();
    let mut message = world.message();
    let payloads = world.payloads(&[b"signed", b"not signed"]);
    message.payload_info = payloads
        .iter()
        .map(|p| {
            access_point::ebms::PartInfo::new(access_point::ebms::PartRef::Cid(p.content_id.clone()))
                .with_property("MimeType", &p.mime_type)
        })
        .collect();
    let profile = access_point::wss::sign::SigningProfile::from_pmode(&sdk_signed_only()).unwrap();
    let digest = |data: &[u8], cid: &str| access_point::wss::sign::AttachmentDigest {
        content_id: cid.into(),
        sha256: openssl::sha::sha256(data),
    };
    let parts = vec![
        ("part-0@sdk".to_string(), "text/xml".to_string(), b"signed".to_vec()),
        (
            "part-1@sdk".to_string(),
            "application/octet-stream".to_string(),
            b"not signed".to_vec(),
        ),
    ];
    let now = OffsetDateTime::now_utc();
    // Control: both covered → accepted.
    let both = [digest(b"signed", "part-0@sdk"), digest(b"not signed", "part-1@sdk")];
    let (ct, body) = world
        .assemble(
            message.clone(),
            &both,
            &world.sender.message,
            &profile,
            "",
            parts.clone(),
            now,
        )
        .await;
    world
        .open_with(&sdk_signed_only(), &ct, &body, &world.receiver_trust)
        .await
        .unwrap();
    let (ct, body) = world
        .assemble(message, &both[..1], &world.sender.message, &profile, "", parts, now)
        .await;
    world
        .expect_refusal(&sdk_signed_only(), &ct, &body, ErrorCode::PolicyNoncompliance)
        .await;
}

#[tokio::test]
async fn an_expired_timestamp_is_refused() {
    let world = World::new();
    let profile = access_point::wss::sign::SigningProfile::from_pmode(&sdk_signed_only()).unwrap();
    let (ct, body) = world
        .assemble(
            world.message(),
            &[],
            &world.sender.message,
            &profile,
            "",
            vec![],
            OffsetDateTime::now_utc() - Duration::hours(1),
        )
        .await;
    world
        .expect_refusal(&sdk_signed_only(), &ct, &body, ErrorCode::FailedAuthentication)
        .await;
}

#[tokio::test]
async fn weak_or_unexpected_algorithms_are_policy_noncompliance() {
    let world = World::new();
    let (ct, body) = sealed_sdk(&world).await;
    let sdk = pmode::builtin::sdk_message();
    let rsa_sha1 = replace_once(
        &body,
        b"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        b"http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    );
    world
        .expect_refusal(&sdk, &ct, &rsa_sha1, ErrorCode::PolicyNoncompliance)
        .await;
    let sha1_digest = replace_once(
        &body,
        b"<ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue>",
        b"<ds:DigestMethod Algorithm=\"http://www.w3.org/2000/09/xmldsig#sha1\"/><ds:DigestValue>",
    );
    world
        .expect_refusal(&sdk, &ct, &sha1_digest, ErrorCode::PolicyNoncompliance)
        .await;
    let aes_cbc = replace_once(
        &body,
        b"http://www.w3.org/2009/xmlenc11#aes128-gcm",
        b"http://www.w3.org/2001/04/xmlenc#aes128-cbc",
    );
    world
        .expect_refusal(&sdk, &ct, &aes_cbc, ErrorCode::PolicyNoncompliance)
        .await;
    let rsa_v15 = replace_once(
        &body,
        b"http://www.w3.org/2009/xmlenc11#rsa-oaep",
        b"http://www.w3.org/2001/04/xmlenc#rsa-1_5",
    );
    world
        .expect_refusal(&sdk, &ct, &rsa_v15, ErrorCode::PolicyNoncompliance)
        .await;
    let mgf1p = replace_once(
        &body,
        b"http://www.w3.org/2009/xmlenc11#rsa-oaep",
        b"http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
    );
    world
        .expect_refusal(&sdk, &ct, &mgf1p, ErrorCode::PolicyNoncompliance)
        .await;
}

#[tokio::test]
async fn certificates_that_must_not_sign() {
    let mut world = World::new();
    let sdk = pmode::builtin::sdk_message();
    let payloads = world.payloads(&[b"x"]);
    let receiver_cert = world.receiver.message.certificate.clone();

    // Another CA: the receiver trusts only the sender's CA.
    let stranger = access_point::pki::dev::DevPki::throwaway("AP0001-DEV").unwrap();
    let sealed = world
        .seal_with(&sdk, &payloads, &stranger.message, Some(&receiver_cert))
        .await;
    world
        .expect_refusal(
            &sdk,
            &sealed.content_type,
            &body_of(&sealed),
            ErrorCode::FailedAuthentication,
        )
        .await;

    // Expired.
    let mut spec = CertSpec::leaf("AP0001-DEV", CertSpec::message_key_usage());
    spec.not_before = OffsetDateTime::now_utc() - Duration::days(30);
    spec.not_after = OffsetDateTime::now_utc() - Duration::days(1);
    let expired = world.sender.issue_rsa(&spec).unwrap();
    let sealed = world.seal_with(&sdk, &payloads, &expired, Some(&receiver_cert)).await;
    world
        .expect_refusal(
            &sdk,
            &sealed.content_type,
            &body_of(&sealed),
            ErrorCode::FailedAuthentication,
        )
        .await;

    // CN not the From PartyId.
    let other_cn = world
        .sender
        .issue_rsa(&CertSpec::leaf("AP0009-DEV", CertSpec::message_key_usage()))
        .unwrap();
    let sealed = world.seal_with(&sdk, &payloads, &other_cn, Some(&receiver_cert)).await;
    world
        .expect_refusal(
            &sdk,
            &sealed.content_type,
            &body_of(&sealed),
            ErrorCode::FailedAuthentication,
        )
        .await;

    // Revoked by CRL (the control first: accepted before revocation).
    let good = world
        .sender
        .issue_rsa(&CertSpec::leaf("AP0001-DEV", CertSpec::message_key_usage()))
        .unwrap();
    let sealed = world.seal_with(&sdk, &payloads, &good, Some(&receiver_cert)).await;
    world.open_sdk(&sealed.content_type, &body_of(&sealed)).await.unwrap();
    world.sender.revoke(&good.certificate).unwrap();
    let trust = TrustStore::new(vec![world.sender.ca.certificate.clone()]).with_crls(vec![crl_copy(&world.sender.crl)]);
    world
        .expect_refusal_with_trust(
            &sdk,
            &sealed.content_type,
            &body_of(&sealed),
            ErrorCode::FailedAuthentication,
            &trust,
        )
        .await;
}

#[tokio::test]
async fn sign_then_compress_fails_the_digest_and_encrypt_then_compress_fails_decryption() {
    use access_point::wss::encrypt::{EncryptionProfile, MessageEncryptor};
    let world = World::new();
    let sdk = pmode::builtin::sdk_message();
    let profile = access_point::wss::sign::SigningProfile::from_pmode(&sdk).unwrap();
    let plaintext = b"<doc>ordered wrongly</doc>".repeat(20);
    let gzip = |data: &[u8]| {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    let mut message = world.message();
    message.payload_info = vec![
        access_point::ebms::PartInfo::new(access_point::ebms::PartRef::Cid("p@sdk".into()))
            .with_property("MimeType", "text/xml")
            .with_property("CompressionType", "application/gzip"),
    ];
    let now = OffsetDateTime::now_utc();

    // Sign over the plaintext, then compress and encrypt: the digest of what decrypts differs.
    let mut enc = MessageEncryptor::new(
        &EncryptionProfile::edelivery_1_15(),
        &world.receiver.message.certificate,
    )
    .unwrap();
    let mut wire = Vec::new();
    enc.encrypt_attachment("p@sdk", "application/gzip", &gzip(&plaintext)[..], &mut wire)
        .await
        .unwrap();
    let signed_digest = access_point::wss::sign::AttachmentDigest {
        content_id: "p@sdk".into(),
        sha256: openssl::sha::sha256(&plaintext),
    };
    let (ct, body) = world
        .assemble(
            message.clone(),
            std::slice::from_ref(&signed_digest),
            &world.sender.message,
            &profile,
            &enc.security_header_xml(),
            vec![("p@sdk".into(), "application/octet-stream".into(), wire)],
            now,
        )
        .await;
    world
        .expect_refusal(&sdk, &ct, &body, ErrorCode::FailedAuthentication)
        .await;

    // Compress, sign, encrypt, then gzip the ciphertext: decryption fails.
    let compressed = gzip(&plaintext);
    let mut enc = MessageEncryptor::new(
        &EncryptionProfile::edelivery_1_15(),
        &world.receiver.message.certificate,
    )
    .unwrap();
    let mut wire = Vec::new();
    let done = enc
        .encrypt_attachment("p@sdk", "application/gzip", &compressed[..], &mut wire)
        .await
        .unwrap();
    let digest = access_point::wss::sign::AttachmentDigest {
        content_id: "p@sdk".into(),
        sha256: done.plaintext_sha256,
    };
    // Control: the right order opens.
    let (ct, body) = world
        .assemble(
            message.clone(),
            std::slice::from_ref(&digest),
            &world.sender.message,
            &profile,
            &enc.security_header_xml(),
            vec![("p@sdk".into(), "application/octet-stream".into(), wire.clone())],
            now,
        )
        .await;
    let opened = world.open_sdk(&ct, &body).await.unwrap();
    assert_eq!(
        std::fs::read(opened.payloads[0].file.path().unwrap()).unwrap(),
        plaintext
    );
    drop(opened);
    let (ct, body) = world
        .assemble(
            message,
            &[digest],
            &world.sender.message,
            &profile,
            &enc.security_header_xml(),
            vec![("p@sdk".into(), "application/octet-stream".into(), gzip(&wire))],
            now,
        )
        .await;
    world
        .expect_refusal(&sdk, &ct, &body, ErrorCode::FailedDecryption)
        .await;
}

#[tokio::test]
async fn a_damaged_compressed_payload_is_decompression_failure() {
    let world = World::new();
    let profile = access_point::wss::sign::SigningProfile::from_pmode(&sdk_signed_only()).unwrap();
    let not_gzip = b"this is not gzip data".to_vec();
    let mut message = world.message();
    message.payload_info = vec![
        access_point::ebms::PartInfo::new(access_point::ebms::PartRef::Cid("p@sdk".into()))
            .with_property("MimeType", "text/xml")
            .with_property("CompressionType", "application/gzip"),
    ];
    let digest = access_point::wss::sign::AttachmentDigest {
        content_id: "p@sdk".into(),
        sha256: openssl::sha::sha256(&not_gzip),
    };
    let (ct, body) = world
        .assemble(
            message,
            &[digest],
            &world.sender.message,
            &profile,
            "",
            vec![("p@sdk".into(), "application/gzip".into(), not_gzip)],
            OffsetDateTime::now_utc(),
        )
        .await;
    world
        .expect_refusal(&sdk_signed_only(), &ct, &body, ErrorCode::DecompressionFailure)
        .await;
}

#[tokio::test]
async fn part_info_rules() {
    let world = World::new();
    let profile = access_point::wss::sign::SigningProfile::from_pmode(&sdk_signed_only()).unwrap();
    let data = b"<a/>".to_vec();
    let digest = access_point::wss::sign::AttachmentDigest {
        content_id: "p@sdk".into(),
        sha256: openssl::sha::sha256(&data),
    };
    let with = |props: &[(&str, &str)], cid: &str| {
        let mut message = world.message();
        let mut info = access_point::ebms::PartInfo::new(access_point::ebms::PartRef::Cid(cid.into()));
        for (n, v) in props {
            info = info.with_property(n, v);
        }
        message.payload_info = vec![info];
        message
    };
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, ErrorCode);
    let cases: [Case; 4] = [
        (
            &[("MimeType", "text/xml"), ("CharacterSet", "UTF-16")],
            "p@sdk",
            ErrorCode::Other,
        ),
        (&[("CharacterSet", "UTF-8")], "p@sdk", ErrorCode::ValueInconsistent),
        (
            &[("MimeType", "text/xml"), ("CharacterSet", "not-a-charset!")],
            "p@sdk",
            ErrorCode::ValueInconsistent,
        ),
        (
            &[("MimeType", "text/xml")],
            "missing@sdk",
            ErrorCode::ExternalPayloadError,
        ),
    ];
    for (props, cid, code) in cases {
        let (ct, body) = world
            .assemble(
                with(props, cid),
                std::slice::from_ref(&digest),
                &world.sender.message,
                &profile,
                "",
                vec![("p@sdk".into(), "text/xml".into(), data.clone())],
                OffsetDateTime::now_utc(),
            )
            .await;
        if code == ErrorCode::Other {
            // The control: a valid PartInfo is accepted and its properties carried.
            let opened = world
                .open_with(&sdk_signed_only(), &ct, &body, &world.receiver_trust)
                .await
                .unwrap();
            assert!(opened.payloads[0]
                .part_properties
                .contains(&("CharacterSet".into(), "UTF-16".into())));
        } else {
            world.expect_refusal(&sdk_signed_only(), &ct, &body, code).await;
        }
    }
}

#[tokio::test]
async fn decompression_is_capped() {
    let mut world = World::new();
    let zeros = vec![0u8; 100_000];
    // A small part (in-memory path) and a large one (streaming path), both beyond the cap once decompressed.
    let incompressible: Vec<u8> = (0..400_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    for content in [zeros, incompressible] {
        let sealed = world.seal_sdk(&world.payloads(&[&content])).await;
        world.limits.max_decompressed_bytes = content.len() as u64 - 1;
        world
            .expect_refusal(
                &pmode::builtin::sdk_message(),
                &sealed.content_type,
                &body_of(&sealed),
                ErrorCode::DecompressionFailure,
            )
            .await;
        world.limits.max_decompressed_bytes = content.len() as u64;
        let opened = world.open_sdk(&sealed.content_type, &body_of(&sealed)).await.unwrap();
        assert_eq!(std::fs::read(opened.payloads[0].file.path().unwrap()).unwrap(), content);
    }
}

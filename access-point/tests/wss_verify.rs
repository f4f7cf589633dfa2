//! Verification details: the signer's certificate may be named by issuer-serial or subject key identifier on input
//! (resolved against a BinarySecurityToken of the message, never elsewhere); a key that does not fit the P-Mode is
//! refused when sealing.

mod wss_message_support;

use access_point::ebms::ErrorCode;
use access_point::wss::xenc::distinguished_name;
use base64::Engine;
use wss_message_support::*;

const STR_OPEN: &[u8] = b"<ds:KeyInfo><wsse:SecurityTokenReference";

/// Replaces the signature's SecurityTokenReference (KeyInfo is outside SignedInfo, so the signature still holds).
fn with_signature_key_info(body: &[u8], replacement: &str) -> Vec<u8> {
    // The signature's KeyInfo is the last one in the header (the EncryptedKey's comes first when encrypting).
    let start = body.windows(STR_OPEN.len()).rposition(|w| w == STR_OPEN).unwrap();
    let end_tag = b"</ds:KeyInfo>";
    let end = start + body[start..].windows(end_tag.len()).position(|w| w == end_tag).unwrap() + end_tag.len();
    let mut out = body[..start].to_vec();
    out.extend_from_slice(format!("<ds:KeyInfo>{replacement}</ds:KeyInfo>").as_bytes());
    out.extend_from_slice(&body[end..]);
    out
}

const WSSE: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";

#[tokio::test]
async fn issuer_serial_and_ski_references_resolve_against_the_message_token() {
    let world = World::new();
    let pmode = sdk_signed_only();
    let sealed = world
        .seal_with(&pmode, &world.payloads(&[b"x"]), &world.sender.message, None)
        .await;
    let body = body_of(&sealed);
    let cert = &world.sender.message.certificate;

    let issuer_serial = format!(
        "<wsse:SecurityTokenReference xmlns:wsse=\"{WSSE}\"><ds:X509Data><ds:X509IssuerSerial><ds:X509IssuerName>{}</ds:X509IssuerName><ds:X509SerialNumber>{}</ds:X509SerialNumber></ds:X509IssuerSerial></ds:X509Data></wsse:SecurityTokenReference>",
        distinguished_name(cert.issuer_name()),
        cert.serial_number().to_bn().unwrap().to_dec_str().unwrap()
    );
    let by_issuer_serial = with_signature_key_info(&body, &issuer_serial);
    world
        .open_with(&pmode, &sealed.content_type, &by_issuer_serial, &world.receiver_trust)
        .await
        .unwrap();

    let ski = |bytes: &[u8]| {
        format!(
            "<wsse:SecurityTokenReference xmlns:wsse=\"{WSSE}\"><wsse:KeyIdentifier EncodingType=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary\" ValueType=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509SubjectKeyIdentifier\">{}</wsse:KeyIdentifier></wsse:SecurityTokenReference>",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    };
    let own_ski = cert.subject_key_id().unwrap().as_slice().to_vec();
    let by_ski = with_signature_key_info(&body, &ski(&own_ski));
    world
        .open_with(&pmode, &sealed.content_type, &by_ski, &world.receiver_trust)
        .await
        .unwrap();

    // An SKI naming no token of the message: refused, nothing looked up elsewhere.
    let mut other = own_ski.clone();
    other[0] ^= 0xff;
    let unresolved = with_signature_key_info(&body, &ski(&other));
    world
        .expect_refusal(
            &pmode,
            &sealed.content_type,
            &unresolved,
            ErrorCode::FailedAuthentication,
        )
        .await;
    // No KeyInfo reference at all.
    let none = with_signature_key_info(&body, "");
    world
        .expect_refusal(&pmode, &sealed.content_type, &none, ErrorCode::FailedAuthentication)
        .await;
}

#[tokio::test]
async fn a_key_that_does_not_fit_the_pmode_is_refused_when_sealing() {
    let world = World::new();
    let params = access_point::wss::message::SealParams {
        pmode: &pmode::builtin::sdk_message(),
        signer: &world.sender.ed25519,
        receiver_encryption_cert: Some(&world.receiver.message.certificate),
        spool_dir: world.dir.path(),
    };
    let err = access_point::wss::message::seal(&world.message(), &world.payloads(&[b"x"]), &params)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not fit"), "{err}");
    // The P-Mode requires encryption: no receiver certificate is an error, not a plaintext message.
    let params = access_point::wss::message::SealParams {
        receiver_encryption_cert: None,
        signer: &world.sender.message,
        ..params
    };
    assert!(access_point::wss::message::seal(&world.message(), &[], &params)
        .await
        .is_err());
}

#[tokio::test]
async fn references_with_an_inclusive_namespaces_prefix_list_verify() {
    // As WSS4J (Domibus) writes them: exc-c14n with PrefixList="env eb".
    let world = World::new();
    let pmode = sdk_signed_only();
    let mut profile = access_point::wss::sign::SigningProfile::from_pmode(&pmode).unwrap();
    profile.inclusive_prefixes = vec!["env".into(), "eb".into()];
    let (ct, body) = world
        .assemble(
            world.message(),
            &[],
            &world.sender.message,
            &profile,
            "",
            vec![],
            time::OffsetDateTime::now_utc(),
        )
        .await;
    assert!(String::from_utf8_lossy(&body).contains("PrefixList=\"env eb\""));
    world
        .open_with(&pmode, &ct, &body, &world.receiver_trust)
        .await
        .unwrap();
    // Any other transform on a same-document reference is refused.
    let inclusive = replace_once(
        &body,
        b"<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\">",
        b"<ds:Transform Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\">",
    );
    let err = world
        .open_with(&pmode, &ct, &inclusive, &world.receiver_trust)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.code(),
            ErrorCode::PolicyNoncompliance | ErrorCode::FailedAuthentication
        ),
        "{err}"
    );
}

/// Cuts the `wsu:Timestamp` element out of a sealed body (it is not signed, so the signature still holds).
fn without_timestamp(body: &[u8]) -> Vec<u8> {
    let open = b"<wsu:Timestamp";
    let close = b"</wsu:Timestamp>";
    let start = body
        .windows(open.len())
        .position(|w| w == open)
        .expect("sealed messages carry a timestamp");
    let end = start + body[start..].windows(close.len()).position(|w| w == close).unwrap() + close.len();
    [&body[..start], &body[end..]].concat()
}

#[tokio::test]
async fn a_missing_timestamp_is_accepted_and_a_present_one_is_checked() {
    let world = World::new();
    let pmode = sdk_signed_only();
    let sealed = world
        .seal_with(&pmode, &world.payloads(&[b"x"]), &world.sender.message, None)
        .await;
    let body = body_of(&sealed);

    // Strict peers (PyPI `as4`, Peppol profile) send no wsu:Timestamp; ebMS3/AS4 does not require one.
    let bare = without_timestamp(&body);
    world
        .open_with(&pmode, &sealed.content_type, &bare, &world.receiver_trust)
        .await
        .unwrap();

    // A timestamp that is present is still checked: one that expired long ago is refused.
    let created = access_point::ebms::Timestamp::parse("2001-01-01T00:00:00Z")
        .unwrap()
        .to_xsd();
    let expires = access_point::ebms::Timestamp::parse("2001-01-01T00:05:00Z")
        .unwrap()
        .to_xsd();
    let stale = format!(
        "<wsu:Timestamp wsu:Id=\"TS-stale\"><wsu:Created>{created}</wsu:Created><wsu:Expires>{expires}</wsu:Expires></wsu:Timestamp>"
    );
    let start = bare
        .windows(b"<wsse:Security".len())
        .position(|w| w == b"<wsse:Security")
        .unwrap();
    let header_end = start + bare[start..].iter().position(|b| *b == b'>').unwrap() + 1;
    let expired = [&bare[..header_end], stale.as_bytes(), &bare[header_end..]].concat();
    world
        .expect_refusal(&pmode, &sealed.content_type, &expired, ErrorCode::FailedAuthentication)
        .await;
}

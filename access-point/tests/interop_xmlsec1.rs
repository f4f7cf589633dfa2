//! Debian `xmlsec1` 1.2.37 (libxml2's canonicaliser, OpenSSL) checks our AS4 signatures. What it can check, exactly:
//!
//! * A message whose signature covers only `#id` references (a UserMessage sealed without payloads; the same
//!   sealing code as every message): xmlsec1 verifies the whole signature, unchanged: both reference digests
//!   (eb:Messaging and the SOAP Body, found with `--id-attr:Id Messaging --id-attr:Id Body`) and the
//!   SignatureValue, with the signer's public key given as `--pubkey-cert-pem` (xmlsec1 does not resolve a
//!   WS-Security SecurityTokenReference to the BinarySecurityToken).
//! * A message with attachments: xmlsec1 1.2.37 has no implementation of the SwA Attachment-Content-Signature-
//!   Transform (it fails in `xmlSecTransformIdListFindByHref` on the first `cid:` reference, whatever `--url-map`
//!   says), and it processes the references in order before the SignatureValue. So it verifies the digests of
//!   Messaging and Body ("SignedInfo References (ok/all): 2/3") and stops: the SignatureValue and the attachment
//!   digests of such messages are verified by Santuario instead (interop_santuario.rs, interop_pyxmlsec.rs).
//!   We assert that exact outcome, and that after a changed Messaging byte xmlsec1 stops at the first reference
//!   with "data and digest do not match" (0/1).

mod interop_support;

use access_point::ebms::test_support::sample_user_message;
use interop_support::*;
use std::path::Path;
use std::process::{Command, Output};

const ID_ARGS: [&str; 4] = ["--id-attr:Id", "Messaging", "--id-attr:Id", "Body"];

fn xmlsec1(dir: &Path, args: &[&str]) -> Option<Output> {
    Command::new("xmlsec1").args(args).current_dir(dir).output().ok()
}

fn available(dir: &Path) -> bool {
    match xmlsec1(dir, &["--version"]) {
        Some(out) if out.status.success() => true,
        _ => {
            skip("xmlsec1 (apt-get install xmlsec1=1.2.37-2); AS4 signature interoperability test");
            false
        }
    }
}

fn verify(dir: &Path, envelope: &[u8], signer_pem: &str) -> Output {
    std::fs::write(dir.join("envelope.xml"), envelope).unwrap();
    let mut args = vec!["--verify", "--pubkey-cert-pem", signer_pem];
    args.extend(ID_ARGS);
    args.push("envelope.xml");
    xmlsec1(dir, &args).unwrap()
}

#[tokio::test]
async fn xmlsec1_verifies_the_whole_signature_of_a_message_without_attachments() {
    let world = World::new();
    if !available(world.dir.path()) {
        return;
    }
    std::fs::write(
        world.path("signer.pem"),
        world.sender.message.certificate.to_pem().unwrap(),
    )
    .unwrap();
    std::fs::write(
        world.path("other.pem"),
        world.receiver.message.certificate.to_pem().unwrap(),
    )
    .unwrap();
    let mut signed_only = pmode::builtin::sdk_message();
    signed_only.security.encryption = None;
    let sealed = world.seal(&sample_user_message(0), &signed_only, &[], None).await;
    assert_eq!(sealed.sent_references.len(), 2, "Messaging and Body only");
    let body = std::fs::read(sealed.body.path().unwrap()).unwrap();
    let (envelope, parts) = split_mime(&sealed.content_type, &body).await;
    assert!(parts.is_empty());

    let out = verify(world.dir.path(), &envelope, "signer.pem");
    assert!(
        out.status.success(),
        "xmlsec1 refused our signature: {}",
        output_text(&out)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("SignedInfo References (ok/all): 2/2"));

    // Negative controls: xmlsec1 notices a changed Messaging byte, a changed Body, and another key.
    let text = String::from_utf8(envelope).unwrap();
    let tampered = text.replacen("conv-1", "conv-2", 1);
    assert_ne!(tampered, text);
    let out = verify(world.dir.path(), tampered.as_bytes(), "signer.pem");
    assert!(
        !out.status.success(),
        "xmlsec1 accepted a changed Messaging: {}",
        output_text(&out)
    );
    let body_start = text.find(":Body").expect("a Body");
    let body_end = body_start + text[body_start..].find('>').unwrap();
    let mut tampered = text.clone();
    tampered.insert_str(body_end, " xmlns:x=\"urn:x\" x:a=\"1\"");
    let out = verify(world.dir.path(), tampered.as_bytes(), "signer.pem");
    assert!(
        !out.status.success(),
        "xmlsec1 accepted a changed Body: {}",
        output_text(&out)
    );
    let out = verify(world.dir.path(), text.as_bytes(), "other.pem");
    assert!(
        !out.status.success(),
        "xmlsec1 accepted another key: {}",
        output_text(&out)
    );
}

#[tokio::test]
async fn xmlsec1_confirms_the_messaging_and_body_digests_of_a_message_with_attachments() {
    let world = World::new();
    if !available(world.dir.path()) {
        return;
    }
    std::fs::write(
        world.path("signer.pem"),
        world.sender.message.certificate.to_pem().unwrap(),
    )
    .unwrap();
    for encrypt in [false, true] {
        let payloads = world.payloads(&[b"<doc>a</doc>", b"binary"], true);
        let sealed = world.seal_sdk(&payloads, encrypt).await;
        let body = std::fs::read(sealed.body.path().unwrap()).unwrap();
        let (envelope, parts) = split_mime(&sealed.content_type, &body).await;
        assert_eq!(parts.len(), 2);
        let out = verify(world.dir.path(), &envelope, "signer.pem");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "xmlsec1 1.2.37 cannot process the SwA transform: {}",
            output_text(&out)
        );
        assert!(
            stderr.contains("SignedInfo References (ok/all): 2/3")
                && stderr.contains("Attachment-Content-Signature-Transform"),
            "expected both #id digests verified, then a stop at the first cid: reference: {}",
            output_text(&out)
        );
        let text = String::from_utf8(envelope).unwrap();
        let tampered = text.replacen("conv-1", "conv-2", 1);
        let out = verify(world.dir.path(), tampered.as_bytes(), "signer.pem");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("data and digest do not match")
                && String::from_utf8_lossy(&out.stderr).contains("SignedInfo References (ok/all): 0/1"),
            "a changed Messaging must fail its digest in xmlsec1: {}",
            output_text(&out)
        );
    }
}

/// Our signed signals cover only `#id` references (Messaging and Body), so xmlsec1 verifies them whole; Santuario
/// too, as a second opinion.
#[tokio::test]
async fn xmlsec1_and_santuario_verify_our_receipts_and_error_signals() {
    use access_point::ebms::{EbmsError, ErrorCode, UserMessage};
    use access_point::wss::message::{build_error_signal, build_receipt, open, OpenLimits, OpenParams};

    let world = World::new();
    if !available(world.dir.path()) {
        return;
    }
    std::fs::write(
        world.path("receiver.pem"),
        world.receiver.message.certificate.to_pem().unwrap(),
    )
    .unwrap();
    std::fs::write(
        world.path("sender.pem"),
        world.sender.message.certificate.to_pem().unwrap(),
    )
    .unwrap();
    let payloads = world.payloads(&[b"<doc>receipt me</doc>"], true);
    let sealed = world.seal_sdk(&payloads, true).await;
    let body = std::fs::read(sealed.body.path().unwrap()).unwrap();
    let pm = pmode::builtin::sdk_message();
    let chosen = pm.clone();
    let choose = move |_: &UserMessage| -> Result<pmode::PMode, EbmsError> { Ok(chosen.clone()) };
    let keys = identity(&world.receiver);
    let trust = world.receiver_trust();
    let limits = OpenLimits::default();
    let params = OpenParams {
        our_keys: &keys,
        message_trust: &trust,
        limits: &limits,
        spool_dir: world.dir.path(),
    };
    let opened = open(&sealed.content_type, &body[..], &choose, &params).await.unwrap();
    let receipt = build_receipt(&opened, &world.receiver.message, &pm).unwrap();
    let error = build_error_signal(
        &EbmsError::new(ErrorCode::FailedDecryption, "interop"),
        Some(&sealed.message_id),
        &world.receiver.message,
    )
    .unwrap();
    let santuario = santuario_classes();
    for (what, signal) in [("receipt", &receipt.body), ("error signal", &error.body)] {
        let out = verify(world.dir.path(), signal, "receiver.pem");
        assert!(
            out.status.success(),
            "xmlsec1 refused our {what}: {}",
            output_text(&out)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("SignedInfo References (ok/all): 2/2"));
        let out = verify(world.dir.path(), signal, "sender.pem");
        assert!(!out.status.success(), "xmlsec1 accepted our {what} with another key");
        if let Some(classes) = &santuario {
            let verdict = santuario_verify(classes, signal, &world.receiver.message.certificate, &[]);
            assert!(verdict.ok, "Santuario refused our {what}: {}", verdict.output);
        }
    }
    // The receipt's echoed digest changed: the Messaging digest no longer matches, in xmlsec1's view too.
    let text = String::from_utf8(receipt.body.clone()).unwrap();
    // The last opening DigestValue tag is inside the receipt's NonRepudiationInformation (in eb:Messaging).
    let at = text
        .match_indices("DigestValue>")
        .filter(|(i, _)| !text[..*i].ends_with("</ds:") && text[..*i].ends_with(':'))
        .map(|(i, m)| i + m.len())
        .filter(|&i| !text[..i].rsplit('<').next().unwrap().starts_with('/'))
        .last()
        .unwrap();
    assert!(text[at..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '+' || c == '/'));
    assert!(text[..at].rfind("Messaging").unwrap() > text[..at].rfind("SignedInfo").unwrap_or(0));
    let mut bad = text.into_bytes();
    bad[at] = if bad[at] == b'A' { b'B' } else { b'A' };
    let out = verify(world.dir.path(), &bad, "receiver.pem");
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("data and digest do not match"),
        "xmlsec1 must refuse a changed receipt for its Messaging digest: {}",
        output_text(&out)
    );
}

//! Apache Santuario (Debian libxml-security-java 2.1.7, its own DOM and canonicaliser) verifies our complete AS4
//! signatures: eb:Messaging, the SOAP Body and every attachment by `cid:` (through a resolver serving the
//! attachment octets and the SwA Attachment-Content-Signature-Transform registered as a pass-through). The
//! verifier is `interop_support/santuario/As4SignatureCheck.java`, compiled with javac into target/ once.
//! Negative controls prove it checks: a changed attachment byte or Messaging byte fails that very reference.
//! (Signed and encrypted messages: see interop_pyxmlsec.rs, where PyPI xmlsec decrypts and Santuario verifies.)

mod interop_support;

use interop_support::*;

fn gzip_ish_payloads() -> (Vec<u8>, Vec<u8>) {
    let xml = "<?xml version=\"1.0\"?><doc xmlns=\"urn:x\">Räksmörgås &amp; co</doc>"
        .as_bytes()
        .to_vec();
    let binary: Vec<u8> = (0..70_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    (xml, binary)
}

#[tokio::test]
async fn santuario_verifies_our_signature_over_messaging_body_and_attachments() {
    let Some(classes) = santuario_classes() else { return };
    let world = World::new();
    let (xml, binary) = gzip_ish_payloads();
    for compress in [true, false] {
        let payloads = world.payloads(&[&xml, &binary], compress);
        let sealed = world.seal_sdk(&payloads, false).await;
        let body = std::fs::read(sealed.body.path().unwrap()).unwrap();
        let (envelope, parts) = split_mime(&sealed.content_type, &body).await;
        assert_eq!(parts.len(), 2);
        let verdict = santuario_verify(&classes, &envelope, &world.sender.message.certificate, &parts);
        assert!(verdict.ok, "Santuario refused our signature: {}", verdict.output);
        let uris: Vec<&str> = verdict.references.iter().map(|(u, _)| u.as_str()).collect();
        assert_eq!(uris.len(), 4, "{}", verdict.output);
        assert!(uris[0].starts_with('#') && uris[1].starts_with('#'), "{uris:?}");
        assert_eq!(&uris[2..], ["cid:part-0@interop.sdk-ap", "cid:part-1@interop.sdk-ap"]);
        assert!(verdict.references.iter().all(|(_, ok)| *ok));
    }
}

#[tokio::test]
async fn santuario_notices_a_changed_attachment_or_messaging_byte() {
    let Some(classes) = santuario_classes() else { return };
    let world = World::new();
    let (xml, binary) = gzip_ish_payloads();
    let payloads = world.payloads(&[&xml, &binary], true);
    let sealed = world.seal_sdk(&payloads, false).await;
    let body = std::fs::read(sealed.body.path().unwrap()).unwrap();
    let (envelope, parts) = split_mime(&sealed.content_type, &body).await;
    let signer = &world.sender.message.certificate;

    let mut bad_parts = parts.clone();
    let last = bad_parts[1].1.len() - 1;
    bad_parts[1].1[last / 2] ^= 0x20;
    let verdict = santuario_verify(&classes, &envelope, signer, &bad_parts);
    assert!(!verdict.ok, "{}", verdict.output);
    let failed: Vec<&str> = verdict
        .references
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(u, _)| u.as_str())
        .collect();
    assert_eq!(failed, ["cid:part-1@interop.sdk-ap"], "{}", verdict.output);

    let text = String::from_utf8(envelope.clone()).unwrap();
    let bad_envelope = text.replacen("0203:recipient.example.se", "0203:recipient.example.sf", 1);
    assert_ne!(bad_envelope, text);
    let verdict = santuario_verify(&classes, bad_envelope.as_bytes(), signer, &parts);
    assert!(!verdict.ok, "{}", verdict.output);
    assert!(
        !verdict.references[0].1 && verdict.references[1].1,
        "{}",
        verdict.output
    );

    // Another certificate than the signer's: refused.
    let verdict = santuario_verify(&classes, &envelope, &world.receiver.message.certificate, &parts);
    assert!(!verdict.ok, "{}", verdict.output);
}

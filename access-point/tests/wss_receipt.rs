//! Receipts: build a signed NRR receipt for an opened message and verify it against what was sealed; refuse a
//! receipt for another message, with a wrong digest, or signed by anyone but the expected receiver.

mod wss_message_support;

use access_point::ebms::{
    receipt_signal, EnvelopeBuilder, ErrorCode, MessageIdGenerator, MessagePartNRInformation, Messaging, NonEmpty,
    NonRepudiationInformation,
};
use access_point::pki::dev::CertSpec;
use access_point::wss::message::{build_error_signal, build_receipt, verify_receipt, VerifiedSignal};
use access_point::wss::receipt::to_receipt_reference;
use access_point::wss::sign::{sign_envelope, SigningProfile};
use wss_message_support::*;

#[tokio::test]
async fn a_receipt_for_the_opened_message_verifies_and_echoes_every_reference() {
    let world = World::new();
    let pmode = pmode::builtin::sdk_message();
    let sealed = world.seal_sdk(&world.payloads(&[b"a", b"b"])).await;
    let opened = world.open_sdk(&sealed.content_type, &body_of(&sealed)).await.unwrap();
    let receipt = build_receipt(&opened, &world.receiver.message, &pmode).unwrap();
    let text = String::from_utf8(receipt.body.clone()).unwrap();
    assert!(text.contains("NonRepudiationInformation"));
    assert_eq!(
        text.matches("</ebbp:MessagePartNRInformation>").count(),
        4,
        "one per reference"
    );
    let verified = verify_receipt(
        &receipt.content_type,
        &receipt.body,
        &sealed,
        &world.receiver.message.certificate,
        &world.sender_trust,
        &pmode,
    )
    .await
    .unwrap();
    match verified {
        VerifiedSignal::Receipt { ref_to_message_id, .. } => assert_eq!(ref_to_message_id, sealed.message_id),
        other => panic!("expected a receipt, got {other:?}"),
    }
}

#[tokio::test]
async fn a_receipt_for_another_message_is_refused() {
    let world = World::new();
    let pmode = pmode::builtin::sdk_message();
    let first = world.seal_sdk(&world.payloads(&[b"a"])).await;
    let mut second_message = world.message();
    second_message.message_info.message_id = MessageIdGenerator::new("ap0001.example.se").unwrap().generate();
    let params = access_point::wss::message::SealParams {
        pmode: &pmode,
        signer: &world.sender.message,
        receiver_encryption_cert: Some(&world.receiver.message.certificate),
        spool_dir: world.dir.path(),
    };
    let second = access_point::wss::message::seal(&second_message, &world.payloads(&[b"a"]), &params)
        .await
        .unwrap();
    let opened = world.open_sdk(&first.content_type, &body_of(&first)).await.unwrap();
    let receipt = build_receipt(&opened, &world.receiver.message, &pmode).unwrap();
    let err = verify_receipt(
        &receipt.content_type,
        &receipt.body,
        &second,
        &world.receiver.message.certificate,
        &world.sender_trust,
        &pmode,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidReceipt, "{err}");
}

/// A receipt correctly signed by the receiver whose echoed references are `mutate`d.
fn receipt_with(
    world: &World,
    sealed: &access_point::wss::message::SealedMessage,
    mutate: impl Fn(&mut Vec<MessagePartNRInformation>),
) -> Vec<u8> {
    let mut parts: Vec<_> = sealed
        .sent_references
        .iter()
        .map(|r| MessagePartNRInformation::Reference(to_receipt_reference(r)))
        .collect();
    mutate(&mut parts);
    let ids = MessageIdGenerator::new("ap0002.example.se").unwrap();
    let ref_to = access_point::ebms::MessageId::parse(&sealed.message_id).unwrap();
    let signal = receipt_signal(
        &ids,
        &ref_to,
        NonRepudiationInformation {
            parts: NonEmpty::from_vec(parts).unwrap(),
        },
    );
    let builder = EnvelopeBuilder::new(Messaging::signal(signal)).unwrap();
    let profile = SigningProfile::from_pmode(&pmode::builtin::sdk_message()).unwrap();
    sign_envelope(
        &builder,
        &[],
        &world.receiver.message,
        &profile,
        "",
        time::OffsetDateTime::now_utc(),
    )
    .unwrap()
    .xml
    .into_bytes()
}

#[tokio::test]
async fn echoed_references_must_equal_the_sent_ones() {
    let world = World::new();
    let pmode = pmode::builtin::sdk_message();
    let sealed = world.seal_sdk(&world.payloads(&[b"a"])).await;
    let verify = |body: Vec<u8>| {
        let (sealed, world, pmode) = (&sealed, &world, &pmode);
        async move {
            verify_receipt(
                "application/soap+xml; charset=UTF-8",
                &body,
                sealed,
                &world.receiver.message.certificate,
                &world.sender_trust,
                pmode,
            )
            .await
        }
    };
    // Unchanged: accepted (the control).
    assert!(verify(receipt_with(&world, &sealed, |_| {})).await.is_ok());
    // A wrong digest value.
    let wrong_digest = receipt_with(&world, &sealed, |parts| {
        if let MessagePartNRInformation::Reference(r) = &mut parts[2] {
            r.digest_value[0] ^= 1;
        }
    });
    assert_eq!(
        verify(wrong_digest).await.unwrap_err().code(),
        ErrorCode::InvalidReceipt
    );
    // A reference left out.
    let missing = receipt_with(&world, &sealed, |parts| {
        parts.pop();
    });
    assert_eq!(verify(missing).await.unwrap_err().code(), ErrorCode::InvalidReceipt);
    // Another transform.
    let other_transform = receipt_with(&world, &sealed, |parts| {
        if let MessagePartNRInformation::Reference(r) = &mut parts[0] {
            r.transforms[0].algorithm = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315".into();
        }
    });
    assert_eq!(
        verify(other_transform).await.unwrap_err().code(),
        ErrorCode::InvalidReceipt
    );
}

#[tokio::test]
async fn a_receipt_signed_by_someone_else_is_refused() {
    let world = World::new();
    let pmode = pmode::builtin::sdk_message();
    let sealed = world.seal_sdk(&world.payloads(&[b"a"])).await;
    let opened = world.open_sdk(&sealed.content_type, &body_of(&sealed)).await.unwrap();
    // Same CA, same CN, but not the receiver's certificate.
    let impostor = world
        .receiver
        .issue_rsa(&CertSpec::leaf("AP0002-DEV", CertSpec::message_key_usage()))
        .unwrap();
    let receipt = build_receipt(&opened, &impostor, &pmode).unwrap();
    let err = verify_receipt(
        &receipt.content_type,
        &receipt.body,
        &sealed,
        &world.receiver.message.certificate,
        &world.sender_trust,
        &pmode,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::FailedAuthentication, "{err}");
    // And a tampered receipt (signature broken) is refused too.
    let genuine = build_receipt(&opened, &world.receiver.message, &pmode).unwrap();
    let tampered = replace_once(&genuine.body, b"RefToMessageId>", b"RefToMessageId> ");
    let err = verify_receipt(
        &genuine.content_type,
        &tampered,
        &sealed,
        &world.receiver.message.certificate,
        &world.sender_trust,
        &pmode,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::FailedAuthentication, "{err}");
}

#[tokio::test]
async fn a_signed_error_signal_is_returned_as_the_peers_errors() {
    let world = World::new();
    let pmode = pmode::builtin::sdk_message();
    let sealed = world.seal_sdk(&world.payloads(&[b"a"])).await;
    let error = access_point::ebms::EbmsError::new(ErrorCode::FailedDecryption, "cannot decrypt");
    let signal = build_error_signal(&error, Some(&sealed.message_id), &world.receiver.message).unwrap();
    let verified = verify_receipt(
        &signal.content_type,
        &signal.body,
        &sealed,
        &world.receiver.message.certificate,
        &world.sender_trust,
        &pmode,
    )
    .await
    .unwrap();
    match verified {
        VerifiedSignal::Error {
            errors,
            ref_to_message_id,
            ..
        } => {
            assert_eq!(ref_to_message_id.as_deref(), Some(sealed.message_id.as_str()));
            assert_eq!(errors[0].error_code.as_str(), "EBMS:0102");
        }
        other => panic!("expected errors, got {other:?}"),
    }
}

/// A sender that crashed mid-attempt seals the same message again; the receiver answers the duplicate with the
/// receipt it stored for the first copy. That receipt must satisfy the second attempt: every attempt of one message
/// signs the same references (stable wsu:Ids, same content), though each is encrypted with a fresh key.
#[tokio::test]
async fn the_receipt_for_a_first_attempt_satisfies_a_later_attempt_of_the_same_message() {
    let world = World::new();
    let pmode = pmode::builtin::sdk_message();
    let payloads = world.payloads(&[b"<doc/>", b"attachment bytes"]);
    let first = world.seal_sdk(&payloads).await;
    let second = world.seal_sdk(&payloads).await;
    assert_eq!(first.message_id, second.message_id);
    assert_eq!(first.sent_references, second.sent_references);
    assert_ne!(body_of(&first), body_of(&second), "each attempt is encrypted afresh");

    let opened = world.open_sdk(&first.content_type, &body_of(&first)).await.unwrap();
    let stored_receipt = build_receipt(&opened, &world.receiver.message, &pmode).unwrap();
    let verified = verify_receipt(
        &stored_receipt.content_type,
        &stored_receipt.body,
        &second,
        &world.receiver.message.certificate,
        &world.sender_trust,
        &pmode,
    )
    .await
    .unwrap();
    assert!(matches!(verified, VerifiedSignal::Receipt { .. }));
}

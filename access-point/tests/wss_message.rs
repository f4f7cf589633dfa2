//! seal → open round trips under the SDK profile (RSA-3072, rsa-oaep) and eDelivery AS4 2.0 (Ed25519, X25519).

mod wss_message_support;

use access_point::ebms::ErrorCode;
use wss_message_support::*;

#[tokio::test]
async fn sdk_seal_then_open_delivers_the_payloads_in_order() {
    let world = World::new();
    let big: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let payloads = world.payloads(&[b"<doc>hello</doc>", &big]);
    let sealed = world.seal_sdk(&payloads).await;
    assert_eq!(sealed.sent_references.len(), 4, "Messaging, Body and two attachments");
    let body = body_of(&sealed);
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("mustUnderstand=\"true\""));
    assert!(text.contains("Attachment-Content-Signature-Transform"));
    assert!(!text.contains("hello"), "payloads travel encrypted");

    let opened = world.open_sdk(&sealed.content_type, &body).await.unwrap();
    assert_eq!(opened.signer_common_name, "AP0001-DEV");
    assert_eq!(opened.payloads.len(), 2);
    assert_eq!(opened.payloads[0].content_id, "part-0@sdk");
    assert_eq!(opened.payloads[0].mime_type, "text/xml");
    assert_eq!(
        std::fs::read(opened.payloads[0].file.path().unwrap()).unwrap(),
        b"<doc>hello</doc>"
    );
    assert_eq!(std::fs::read(opened.payloads[1].file.path().unwrap()).unwrap(), big);
    assert_eq!(opened.payloads[1].size, big.len() as u64);
    let sha: [u8; 32] = openssl::sha::sha256(&big);
    assert_eq!(opened.payloads[1].sha256, sha);
    assert_eq!(opened.received_references, sealed.sent_references);
}

#[tokio::test]
async fn edelivery_2_0_seal_then_open_with_ed25519_and_x25519() {
    let world = World::new();
    let pmode = pmode::builtin::edelivery_as4_v2(
        "v2",
        pmode::Service {
            value: "bdx:noprocess".into(),
            service_type: Some("urn:fdc:digg.se:edelivery:process".into()),
        },
        "act",
    );
    let payloads = world.payloads(&[b"payload for 2.0"]);
    let sealed = world
        .seal_with(
            &pmode,
            &payloads,
            &world.sender.ed25519,
            Some(&world.receiver.x25519.certificate),
        )
        .await;
    let body = body_of(&sealed);
    assert!(String::from_utf8_lossy(&body).contains("eddsa-ed25519"));
    let opened = world
        .open_with(&pmode, &sealed.content_type, &body, &world.receiver_trust)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(opened.payloads[0].file.path().unwrap()).unwrap(),
        b"payload for 2.0"
    );
}

#[tokio::test]
async fn a_message_signed_for_the_sdk_profile_is_refused_under_2_0() {
    let world = World::new();
    let sealed = world.seal_sdk(&world.payloads(&[b"x"])).await;
    let v2 = pmode::builtin::edelivery_as4_v2(
        "v2",
        pmode::Service {
            value: "bdx:noprocess".into(),
            service_type: None,
        },
        "act",
    );
    let err = world
        .open_with(&v2, &sealed.content_type, &body_of(&sealed), &world.receiver_trust)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::PolicyNoncompliance, "{err}");
    assert_eq!(err.message_id.as_deref(), Some(sealed.message_id.as_str()));
}

/// Writes the seed corpus of the `wss_verify` fuzz target (signed envelopes of each kind):
/// `WSS_WRITE_SEEDS=1 cargo test -p access-point --test wss_message write_fuzz_seeds -- --ignored`.
#[tokio::test]
#[ignore]
async fn write_fuzz_seeds() {
    let world = World::new();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/wss_verify");
    std::fs::create_dir_all(&dir).unwrap();
    let root_of = |body: &[u8]| {
        let start = body.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let end = start + body[start..].windows(4).position(|w| w == b"\r\n--").unwrap();
        body[start..end].to_vec()
    };
    let encrypted = world.seal_sdk(&world.payloads(&[b"a", b"b"])).await;
    std::fs::write(dir.join("seed-sdk-encrypted.xml"), root_of(&body_of(&encrypted))).unwrap();
    let signed = world
        .seal_with(
            &sdk_signed_only(),
            &world.payloads(&[b"a"]),
            &world.sender.message,
            None,
        )
        .await;
    std::fs::write(dir.join("seed-sdk-signed.xml"), root_of(&body_of(&signed))).unwrap();
    let opened = world
        .open_sdk(&encrypted.content_type, &body_of(&encrypted))
        .await
        .unwrap();
    let receipt =
        access_point::wss::message::build_receipt(&opened, &world.receiver.message, &pmode::builtin::sdk_message())
            .unwrap();
    std::fs::write(dir.join("seed-receipt.xml"), &receipt.body).unwrap();
}

//! eDelivery AS4 2.0 through the send pipeline: two access points made by `init` and linked with `peers add` (which
//! copies each one's Ed25519 and X25519 certificates into the other's `[[peers]]` entry) hold the SDK P-Modes and
//! the built-in AS4 2.0 profile side by side. A message submitted with `Node::submit` under the AS4 2.0 P-Mode is
//! signed with A's Ed25519 key, encrypted to B's X25519 certificate, and delivered with a receipt that A verified
//! against B's Ed25519 certificate; an SDK (AS4 1.15) message in the same run still goes with the RSA keys.

mod support;

use std::path::Path;
use std::time::Duration;

use access_point::config::Config;
use access_point::msh::{Node, NodeOptions, SenderSettings, Submission, SubmittedPayload};
use access_point::store::{Direction, EvidenceKind, State};
use pmode::{PModeSet, Profile, RetryPolicy};
use support::{B_PARTICIPANT, B_PARTY};

const AS4V2_PMODE_ID: &str = "test-edelivery-as4-2.0";
const AS4V2_SERVICE: &str = "urn:fdc:sdk-ap:test:as4v2";
const AS4V2_ACTION: &str = "urn:fdc:sdk-ap:test:as4v2:payload";
const ED25519_URI: &str = "http://www.w3.org/2021/04/xmldsig-more#eddsa-ed25519";
const RSA_SHA256_URI: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

/// The SDK P-Modes, the test service and the AS4 2.0 common profile (own service and action), retrying quickly.
fn pmodes() -> PModeSet {
    let mut all = pmode::builtin::sdk_profile();
    all.push(pmode::builtin::ebms_test_service(Profile::Sdk));
    all.push(pmode::builtin::edelivery_as4_v2(
        AS4V2_PMODE_ID,
        pmode::Service::new(AS4V2_SERVICE, None),
        AS4V2_ACTION,
    ));
    for p in &mut all {
        p.reception_awareness.retry = RetryPolicy::Constant {
            max_retries: 3,
            interval_seconds: 1,
        };
    }
    PModeSet::from_pmodes(all, "<test>").unwrap()
}

async fn start(config: &Path) -> Node {
    let options = NodeOptions {
        pmodes: Some(pmodes()),
        sender: Some(SenderSettings {
            idle_poll: Duration::from_millis(200),
            ..SenderSettings::default()
        }),
        ..NodeOptions::default()
    };
    Node::start(Config::load(config).unwrap(), options).await.unwrap()
}

fn payload(dir: &Path, name: &str, mime_type: &str, bytes: &[u8]) -> SubmittedPayload {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    SubmittedPayload {
        path,
        mime_type: mime_type.into(),
        content_id: None,
    }
}

fn as4v2_submission(payloads: Vec<SubmittedPayload>) -> Submission {
    Submission {
        pmode_id: Some(AS4V2_PMODE_ID.into()),
        service: AS4V2_SERVICE.into(),
        service_type: None,
        action: AS4V2_ACTION.into(),
        ..support::sdk_submission(Some(B_PARTY), B_PARTICIPANT, payloads)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as4v2_and_sdk_messages_go_side_by_side_through_the_pipeline() {
    let tmp = tempfile::tempdir().unwrap();
    let aps = support::two_linked_aps(tmp.path());
    let a_config = std::fs::read_to_string(&aps.a).unwrap();
    assert!(
        a_config.contains("ed25519_cert = ") && a_config.contains("x25519_cert = "),
        "peers add copies B's AS4 2.0 certificates:\n{a_config}"
    );
    let a = start(&aps.a).await;
    let b = start(&aps.b).await;
    let mut outcomes = a.subscribe();
    let files = tmp.path().join("payloads");
    std::fs::create_dir_all(&files).unwrap();

    let xml = b"<?xml version=\"1.0\"?><doc>AS4 2.0</doc>".to_vec();
    let binary: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let v2_parts = vec![
        payload(&files, "v2.xml", "text/xml", &xml),
        payload(&files, "v2.bin", "application/octet-stream", &binary),
    ];
    let sdk_parts = vec![payload(&files, "sdk.xml", "text/xml", b"<doc>SDK</doc>")];

    let v2 = a.submit(as4v2_submission(v2_parts.clone())).await.unwrap();
    assert_eq!(v2.pmode_id, AS4V2_PMODE_ID);
    let sdk = a
        .submit(support::sdk_submission(Some(B_PARTY), B_PARTICIPANT, sdk_parts.clone()))
        .await
        .unwrap();
    assert_ne!(sdk.pmode_id, AS4V2_PMODE_ID);

    // Both are sent at once and may finish in either order: collect both outcomes before checking them (waiting for
    // one would drop the other's outcome from the channel).
    let mut finished = std::collections::HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while finished.len() < 2 {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let outcome = tokio::time::timeout(left, outcomes.recv())
            .await
            .unwrap_or_else(|_| panic!("outcomes so far: {finished:?}"))
            .expect("outcome channel open");
        if outcome.message_id == v2.message_id || outcome.message_id == sdk.message_id {
            finished.insert(outcome.message_id.clone(), outcome);
        }
    }
    for (accepted, parts, signature_uri) in [(&v2, &v2_parts, ED25519_URI), (&sdk, &sdk_parts, RSA_SHA256_URI)] {
        let outcome = finished.remove(&accepted.message_id).expect("collected above");
        assert_eq!(outcome.state, State::Delivered, "{outcome:?}");
        assert_eq!(outcome.attempts, 1);

        // The receipt A verified and kept is signed with the algorithm of the message's P-Mode.
        let evidence = a.store().evidence(accepted.key).await.unwrap();
        let receipts: Vec<_> = evidence.iter().filter(|e| e.kind == EvidenceKind::Receipt).collect();
        assert_eq!(receipts.len(), 1);
        let receipt = String::from_utf8_lossy(&receipts[0].bytes);
        assert!(
            receipt.contains(signature_uri),
            "receipt of {}: {receipt}",
            accepted.pmode_id
        );

        let received = b
            .store()
            .get_by_message_id(Direction::Inbound, &accepted.message_id)
            .await
            .unwrap()
            .expect("stored at B");
        // B matched the same P-Mode, so it opened the message under that P-Mode's algorithms only (for AS4 2.0:
        // Ed25519 signature, X25519 + HKDF + kw-aes128, AES-128-GCM).
        assert_eq!(received.meta.pmode_id, accepted.pmode_id);
        assert!(
            matches!(received.state, State::Received | State::Acknowledged),
            "{received:?}"
        );
        assert_eq!(received.payloads.len(), parts.len());
        for (part, original) in received.payloads.iter().zip(parts) {
            let path = b.store().payload_files().path_of(received.key, part).unwrap();
            assert!(
                std::fs::read(path).unwrap() == std::fs::read(&original.path).unwrap(),
                "payload bytes differ under {}",
                accepted.pmode_id
            );
            assert_eq!(part.mime_type, original.mime_type);
        }
    }
}

//! Two access points in one process on 127.0.0.1, made by `init` and linked with `add_peer_from` (what
//! `sdk-ap init` and `sdk-ap peers add` run), exchanging SDK-profile messages over mutual TLS:
//! delivery with 0, 1 and 3 attachments (one of 5 MB) with identical bytes at the receiver, a re-POSTed sealed body
//! answered with the same receipt and stored once, the ebMS test service acknowledged but not stored, an unserved
//! final recipient refused with EBMS:0004 and failed without retries, and a receiver that is down for a while (the
//! sender restarting meanwhile) and then delivered to after retries.

mod support;

use std::path::Path;
use std::time::Duration;

use access_point::config::Config;
use access_point::msh::{Node, Submission, SubmitError, SubmittedPayload};
use access_point::store::{Direction, EvidenceKind, ListQuery, State};
use support::{outcome_of, B_PARTY};

const TEST_SERVICE: &str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/service";
const TEST_ACTION: &str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/test";
/// Retries of the quick P-Modes: 1 s apart, so the outage test runs in seconds.
const MAX_RETRIES: u32 = 6;

/// Creates and links A and B; returns their configuration files.
fn two_linked_aps(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let aps = support::two_linked_aps(root);
    (aps.a, aps.b)
}

async fn start(config: &Path) -> Node {
    support::start_node(config, MAX_RETRIES).await
}

fn submission(final_recipient: &str, payloads: Vec<SubmittedPayload>) -> Submission {
    Submission {
        conversation_id: Some("conversation-1".into()),
        tracking_identifier: None,
        ..support::sdk_submission(Some(B_PARTY), final_recipient, payloads)
    }
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

/// Deterministic, incompressible-looking bytes (xorshift).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

const SERVED: &str = "0203:ap0002-dev.example";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_aps_deliver_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_toml, b_toml) = two_linked_aps(tmp.path());
    let a = start(&a_toml).await;
    let b = start(&b_toml).await;
    let mut outcomes = a.subscribe();
    let files = tmp.path().join("payloads");
    std::fs::create_dir_all(&files).unwrap();

    let xml = b"<?xml version=\"1.0\"?><doc>hej</doc>".to_vec();
    let big = noise(5 * 1024 * 1024, 7);
    let sets: Vec<Vec<SubmittedPayload>> = vec![
        vec![],
        vec![payload(&files, "one.xml", "text/xml", &xml)],
        vec![
            payload(&files, "m.xml", "text/xml", &xml),
            payload(&files, "big.bin", "application/octet-stream", &big),
            payload(&files, "note.txt", "text/plain", b"three"),
        ],
    ];
    let mut accepted = Vec::new();
    for set in &sets {
        accepted.push(a.submit(submission(SERVED, set.clone())).await.unwrap());
    }
    for (acc, set) in accepted.iter().zip(&sets) {
        let outcome = outcome_of(&mut outcomes, &acc.message_id, Duration::from_secs(60)).await;
        assert_eq!(outcome.state, State::Delivered, "{outcome:?}");
        assert_eq!(outcome.attempts, 1);
        let sent = a.store().get(acc.key).await.unwrap().unwrap();
        assert_eq!(sent.state, State::Delivered);
        let evidence = a.store().evidence(acc.key).await.unwrap();
        assert_eq!(evidence.iter().filter(|e| e.kind == EvidenceKind::Receipt).count(), 1);

        let received = b
            .store()
            .get_by_message_id(Direction::Inbound, &acc.message_id)
            .await
            .unwrap()
            .expect("stored at B");
        assert!(stored_for_the_recipient(received.state), "{received:?}");
        assert_eq!(received.meta.final_recipient.as_deref(), Some(SERVED));
        assert_eq!(
            received.meta.original_sender.as_deref(),
            Some("0203:ap0001-dev.example")
        );
        assert_eq!(received.meta.conversation_id, "conversation-1");
        assert_eq!(received.payloads.len(), set.len());
        for (part, original) in received.payloads.iter().zip(set) {
            let path = b.store().payload_files().path_of(received.key, part).unwrap();
            assert!(
                std::fs::read(path).unwrap() == std::fs::read(&original.path).unwrap(),
                "payload bytes differ"
            );
            assert_eq!(part.mime_type, original.mime_type);
        }
    }

    // The same sealed body POSTed twice: the same receipt bytes both times, stored once.
    let duplicate_id = format!("{}@test.example", uuid::Uuid::new_v4());
    let mut bodies = support::post_sealed(tmp.path(), &a_toml, &b, &duplicate_id, None, 2).await;
    let (first, second) = (bodies.remove(0), bodies.remove(0));
    assert!(!first.is_empty());
    assert_eq!(first, second, "a duplicate gets the very same receipt");
    let stored = b
        .store()
        .get_by_message_id(Direction::Inbound, &duplicate_id)
        .await
        .unwrap()
        .expect("stored once");
    let receipts = b.store().evidence(stored.key).await.unwrap();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].bytes, first);
    assert_eq!(b.metrics().messages_in.with(&["duplicate"]).get(), 1);

    // A message signed with a key B does not trust (same CN, another CA): a signed EBMS:0101, nothing stored.
    let forged_id = format!("{}@test.example", uuid::Uuid::new_v4());
    let stranger = access_point::pki::dev::DevPki::throwaway("AP0001-DEV").unwrap();
    let answer = support::post_sealed(tmp.path(), &a_toml, &b, &forged_id, Some(&stranger.message), 1).await;
    let answer = String::from_utf8(answer[0].clone()).unwrap();
    assert!(answer.contains("EBMS:0101") && answer.contains("Signature"), "{answer}");
    assert!(b
        .store()
        .get_by_message_id(Direction::Inbound, &forged_id)
        .await
        .unwrap()
        .is_none());

    // The ebMS test service: a receipt, but nothing stored at B.
    let test = Submission {
        service: TEST_SERVICE.into(),
        service_type: None,
        action: TEST_ACTION.into(),
        original_sender: String::new(),
        final_recipient: String::new(),
        ..submission("", vec![])
    };
    let test = a.submit(test).await.unwrap();
    let outcome = outcome_of(&mut outcomes, &test.message_id, Duration::from_secs(30)).await;
    assert_eq!(outcome.state, State::Delivered, "{outcome:?}");
    assert!(b
        .store()
        .get_by_message_id(Direction::Inbound, &test.message_id)
        .await
        .unwrap()
        .is_none());

    // An unserved final recipient: EBMS:0004 NOT_SERVICED, Failed at once, no retry.
    let refused = a.submit(submission("0203:nobody.example", vec![])).await.unwrap();
    let outcome = outcome_of(&mut outcomes, &refused.message_id, Duration::from_secs(30)).await;
    assert_eq!((outcome.state, outcome.attempts), (State::Failed, 1), "{outcome:?}");
    assert!(
        outcome.reason.contains("EBMS:0004") && outcome.reason.contains("NOT_SERVICED"),
        "{}",
        outcome.reason
    );
    let evidence = a.store().evidence(refused.key).await.unwrap();
    assert_eq!(evidence[0].kind, EvidenceKind::ErrorSignal);
    assert_eq!(b.metrics().messages_in.with(&["error"]).get(), 2);
    assert_eq!(a.metrics().messages_out.with(&["failed"]).get(), 1);
    assert!(b
        .store()
        .get_by_message_id(Direction::Inbound, &refused.message_id)
        .await
        .unwrap()
        .is_none());

    let inbound = b
        .store()
        .list(ListQuery {
            direction: Some(Direction::Inbound),
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        inbound.records.len(),
        4,
        "the three business messages and the duplicate, once, are stored at B"
    );
    // The inbox gauge follows the store (refreshed every QUEUE_GAUGE_INTERVAL): B's SDK classifier retires these
    // non-XHE payloads (TF-09), and the gauge falls to the number still waiting in the inbox, none.
    // A's send gauge, refreshed on the same interval, falls to zero too.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let waiting = b.store().counts().await.unwrap().get(State::Received);
        let gauge = b.metrics().queue_depth.with(&["inbox"]).get();
        let sending = a.metrics().queue_depth.with(&["send"]).get();
        if waiting == 0 && gauge == 0.0 && sending == 0.0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waiting {waiting}, inbox gauge {gauge}, send gauge {sending}\n{}",
            b.metrics().render()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_down_then_up_gets_the_message_after_retries_and_a_sender_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_toml, b_toml) = two_linked_aps(tmp.path());
    let a = start(&a_toml).await;
    let files = tmp.path().join("payloads");
    std::fs::create_dir_all(&files).unwrap();
    let accepted = a
        .submit(submission(SERVED, vec![payload(&files, "x.xml", "text/xml", b"<x/>")]))
        .await
        .unwrap();
    // B is not running: the attempts fail and the message waits for a retry.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let record = a.store().get(accepted.key).await.unwrap().unwrap();
        if record.attempts >= 2 && record.state == State::WaitingRetry {
            assert!(record.last_error.is_some());
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no retry scheduled: {record:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A stops while the message waits, and resumes by itself after its restart (store recovery + schedule).
    a.shutdown().await;
    drop(a); // the store's database lock is released with the node
    let b = start(&b_toml).await;
    let a = start(&a_toml).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let record = loop {
        let record = a.store().get(accepted.key).await.unwrap().unwrap();
        if record.state.is_final() {
            break record;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not delivered after the restart: {record:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(record.state, State::Delivered, "{record:?}");
    assert!(record.attempts >= 3, "{record:?}");
    let received = b
        .store()
        .get_by_message_id(Direction::Inbound, &accepted.message_id)
        .await
        .unwrap();
    assert!(received.is_some_and(|r| stored_for_the_recipient(r.state)));
    a.shutdown().await;
    b.shutdown().await;
}

/// In SDK the producer names only the recipient participant: A finds B through the `participants` that `peers add`
/// copied into A's `[[peers]]` entry for B, records B's PartyId as `To` before storing, and delivers. A participant
/// no peer serves (and no `[discovery]`) is refused at submit time, nothing stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submission_naming_only_the_final_recipient_reaches_the_peer_serving_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_toml, b_toml) = two_linked_aps(tmp.path());
    let a_config = Config::load(&a_toml).unwrap();
    assert_eq!(
        a_config.peer(B_PARTY).unwrap().participants,
        vec![support::B_PARTICIPANT.to_string()],
        "peers add lists B's participants"
    );
    let a = start(&a_toml).await;
    let b = start(&b_toml).await;
    let mut outcomes = a.subscribe();

    let accepted = a
        .submit(support::sdk_submission(None, "0203:AP0002-dev.example", vec![]))
        .await
        .unwrap();
    let stored = a.store().get(accepted.key).await.unwrap().unwrap();
    assert_eq!(
        stored.meta.to.id, B_PARTY,
        "To is resolved before the message is stored"
    );
    assert_eq!(
        stored.meta.to.id_type.as_deref(),
        Some(access_point::config::SDK_PARTY_ID_TYPE)
    );
    let outcome = outcome_of(&mut outcomes, &accepted.message_id, Duration::from_secs(60)).await;
    assert_eq!(outcome.state, State::Delivered, "{outcome:?}");
    let received = b
        .store()
        .get_by_message_id(Direction::Inbound, &accepted.message_id)
        .await
        .unwrap()
        .expect("stored at B");
    assert_eq!(received.meta.to.id, B_PARTY);

    let before = a.store().counts().await.unwrap();
    let refused = a
        .submit(support::sdk_submission(None, "0203:nobody.example", vec![]))
        .await
        .unwrap_err();
    assert!(matches!(refused, SubmitError::Recipient(_)), "{refused}");
    assert!(refused.to_string().contains("0203:nobody.example"), "{refused}");
    assert_eq!(a.store().counts().await.unwrap(), before, "nothing stored");
    a.shutdown().await;
    b.shutdown().await;
}

/// These payloads are not XHE envelopes, so B's SDK classifier retires them (TF-09: dropped, no kvittens) soon after
/// they are stored: the MSH's part is done when the message is stored once, whichever of the two states it is in.
fn stored_for_the_recipient(state: State) -> bool {
    matches!(state, State::Received | State::Acknowledged)
}

/// A static `[[peers]]` entry whose message certificate A's copy of B's CRL revokes: A refuses to encrypt to it,
/// the message fails on its first attempt naming the revocation, and B never sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_static_peer_certificate_fails_before_anything_is_sent() {
    use access_point::pki::dev::DevPki;
    use access_point::pki::KeyPair;
    let tmp = tempfile::tempdir().unwrap();
    let (a_toml, b_toml) = two_linked_aps(tmp.path());
    let b_keys = b_toml.parent().unwrap().join("keys");
    let b_ca = KeyPair::load(&b_keys.join("ca.key.pem"), &b_keys.join("ca.pem"), &[]).unwrap();
    let b_message = openssl::x509::X509::from_pem(&std::fs::read(b_keys.join("message.pem")).unwrap()).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let crl = DevPki::crl_from(
        &b_ca,
        &[&b_message],
        now - time::Duration::minutes(5),
        now + time::Duration::days(1),
    )
    .unwrap();
    let crl_dir = a_toml.parent().unwrap().join("trust/crls");
    let mut replaced = 0;
    for entry in std::fs::read_dir(&crl_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with(B_PARTY) {
            std::fs::write(&path, crl.to_pem().unwrap()).unwrap();
            replaced += 1;
        }
    }
    assert_eq!(replaced, 1, "peers add copied B's CRL into {}", crl_dir.display());

    let a = start(&a_toml).await;
    let b = start(&b_toml).await;
    let mut outcomes = a.subscribe();
    let accepted = a.submit(submission(SERVED, vec![])).await.unwrap();
    let outcome = outcome_of(&mut outcomes, &accepted.message_id, Duration::from_secs(30)).await;
    assert_eq!((outcome.state, outcome.attempts), (State::Failed, 1), "{outcome:?}");
    assert!(
        outcome.reason.contains("not trusted") && outcome.reason.contains("revoked"),
        "{}",
        outcome.reason
    );
    assert!(b
        .store()
        .get_by_message_id(Direction::Inbound, &accepted.message_id)
        .await
        .unwrap()
        .is_none());
    for outcome in ["delivered", "duplicate", "error"] {
        assert_eq!(
            b.metrics().messages_in.with(&[outcome]).get(),
            0,
            "B got no request ({outcome})"
        );
    }
    a.shutdown().await;
    b.shutdown().await;
}

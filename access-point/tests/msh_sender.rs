//! The sender task against a real store with a scripted deliverer: retries by the P-Mode policy, final peer errors,
//! exhausted retries, bounded concurrency, outcomes published, graceful stop.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use access_point::ebms::Severity;
use access_point::msh::{AttemptResult, Deliverer, Outcome, PeerError, Sender, SenderSettings};
use access_point::store::{
    BoxFuture, EvidenceKind, MessageKey, MessageMeta, MessageRecord, NewOutbound, Party, SledStore, State, Store,
    StoreSettings,
};
use pmode::RetryPolicy;
use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;

/// Plays back a script of results per MessageId (the last one repeats) and tracks concurrency.
struct Scripted {
    scripts: Mutex<HashMap<String, Vec<AttemptResult>>>,
    policy: Option<RetryPolicy>,
    running: AtomicUsize,
    max_running: AtomicUsize,
    delay: Duration,
}

impl Deliverer for Scripted {
    fn attempt<'a>(&'a self, record: &'a MessageRecord) -> BoxFuture<'a, AttemptResult> {
        Box::pin(async move {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_running.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            let result = {
                let mut scripts = self.scripts.lock().unwrap();
                let script = scripts.get_mut(&record.meta.message_id).expect("scripted message");
                if script.len() > 1 {
                    script.remove(0)
                } else {
                    script[0].clone()
                }
            };
            self.running.fetch_sub(1, Ordering::SeqCst);
            result
        })
    }

    fn retry_policy(&self, _pmode_id: &str) -> Option<RetryPolicy> {
        self.policy.clone()
    }
}

fn meta(message_id: &str) -> MessageMeta {
    let party = |id: &str| Party {
        id: id.into(),
        id_type: None,
        role: "r".into(),
    };
    MessageMeta {
        message_id: message_id.into(),
        pmode_id: "p".into(),
        from: party("A"),
        to: party("B"),
        service: "s".into(),
        service_type: None,
        action: "a".into(),
        conversation_id: "c".into(),
        ref_to_message_id: None,
        original_sender: None,
        final_recipient: None,
        tracking_identifier: None,
    }
}

struct Harness {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    outcomes: broadcast::Receiver<Outcome>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    deliverer: Arc<Scripted>,
}

async fn start(scripts: Vec<(&str, Vec<AttemptResult>)>, policy: Option<RetryPolicy>, max_in_flight: usize) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SledStore::open(StoreSettings::with_data_dir(dir.path())).await.unwrap());
    for (id, _) in &scripts {
        let key = store.allocate_key().unwrap();
        store
            .insert_outbound(NewOutbound {
                key,
                meta: meta(id),
                payloads: vec![],
                actor: "test".into(),
            })
            .await
            .unwrap()
            .durable()
            .await
            .unwrap();
    }
    let deliverer = Arc::new(Scripted {
        scripts: Mutex::new(scripts.into_iter().map(|(k, v)| (k.to_string(), v)).collect()),
        policy,
        running: AtomicUsize::new(0),
        max_running: AtomicUsize::new(0),
        delay: Duration::from_millis(30),
    });
    let (tx, rx) = broadcast::channel(256);
    let sender = Arc::new(Sender {
        store: store.clone(),
        deliverer: deliverer.clone(),
        settings: SenderSettings {
            max_in_flight,
            attempt_timeout: Duration::from_secs(10),
            idle_poll: Duration::from_millis(200),
        },
        wake: Arc::new(Notify::new()),
        outcomes: tx,
        metrics: None,
    });
    let stop = CancellationToken::new();
    let task = tokio::spawn(sender.run(stop.clone()));
    Harness {
        _dir: dir,
        store,
        outcomes: rx,
        stop,
        task,
        deliverer,
    }
}

async fn outcomes(h: &mut Harness, n: usize) -> Vec<Outcome> {
    let mut got = Vec::new();
    while got.len() < n {
        let next = tokio::time::timeout(Duration::from_secs(20), h.outcomes.recv()).await;
        got.push(next.expect("outcome within 20 s").expect("channel open"));
    }
    got
}

async fn record(store: &Arc<dyn Store>, key: MessageKey) -> MessageRecord {
    store.get(key).await.unwrap().unwrap()
}

fn retry(reason: &str) -> AttemptResult {
    AttemptResult::Retryable { reason: reason.into() }
}

fn quick(max_retries: u32) -> Option<RetryPolicy> {
    Some(RetryPolicy::Constant {
        max_retries,
        interval_seconds: 0,
    })
}

#[tokio::test]
async fn retries_then_delivers_and_keeps_the_receipt() {
    let delivered = AttemptResult::Delivered {
        receipt: b"<receipt/>".to_vec(),
        receipt_message_id: "r1@b".into(),
    };
    let mut h = start(
        vec![("m1@a", vec![retry("connection refused"), retry("HTTP 503"), delivered])],
        quick(5),
        4,
    )
    .await;
    let got = outcomes(&mut h, 1).await;
    assert_eq!(got[0].state, State::Delivered);
    assert_eq!(got[0].attempts, 3);
    let rec = record(&h.store, got[0].key).await;
    assert_eq!(rec.state, State::Delivered);
    let evidence = h.store.evidence(rec.key).await.unwrap();
    assert_eq!(evidence.len(), 1);
    assert_eq!(evidence[0].kind, EvidenceKind::Receipt);
    assert_eq!(evidence[0].bytes, b"<receipt/>");
    let history = h.store.history(rec.key).await.unwrap();
    let waits = history.iter().filter(|c| c.to == State::WaitingRetry).count();
    assert_eq!(waits, 2, "{history:?}");
    h.stop.cancel();
    h.task.await.unwrap();
}

#[tokio::test]
async fn a_final_peer_error_fails_without_retry_and_exhausted_retries_fail_with_the_reason() {
    let refused = AttemptResult::PeerErrors {
        errors: vec![PeerError {
            code: "EBMS:0004".into(),
            severity: Severity::Failure,
            detail: "NOT_SERVICED".into(),
        }],
        signal: b"<error/>".to_vec(),
    };
    let busy = AttemptResult::PeerErrors {
        errors: vec![PeerError {
            code: "EBMS:0202".into(),
            severity: Severity::Failure,
            detail: "busy".into(),
        }],
        signal: b"<busy/>".to_vec(),
    };
    let mut h = start(
        vec![
            ("refused@a", vec![refused]),
            ("down@a", vec![retry("connection refused")]),
            ("busy@a", vec![busy]),
        ],
        quick(2),
        4,
    )
    .await;
    let got = outcomes(&mut h, 3).await;
    let by_id: HashMap<_, _> = got.iter().map(|o| (o.message_id.as_str(), o)).collect();
    let refused = by_id["refused@a"];
    assert_eq!((refused.state, refused.attempts), (State::Failed, 1));
    assert!(
        refused.reason.contains("EBMS:0004") && refused.reason.contains("NOT_SERVICED"),
        "{}",
        refused.reason
    );
    let down = by_id["down@a"];
    assert_eq!((down.state, down.attempts), (State::Failed, 3), "1 attempt + 2 retries");
    assert!(down.reason.contains("connection refused"));
    let busy = by_id["busy@a"];
    assert_eq!(
        (busy.state, busy.attempts),
        (State::Failed, 3),
        "EBMS:0202 is retryable"
    );
    let rec = record(&h.store, refused.key).await;
    assert_eq!(rec.last_error.as_deref(), Some(refused.reason.as_str()));
    let evidence = h.store.evidence(rec.key).await.unwrap();
    assert_eq!(evidence[0].kind, EvidenceKind::ErrorSignal);
    // Nothing keeps retrying: no message is left in the schedule.
    assert_eq!(h.store.next_due().await.unwrap(), None);
    h.stop.cancel();
    h.task.await.unwrap();
}

#[tokio::test]
async fn no_reception_awareness_means_no_retry() {
    let mut h = start(vec![("once@a", vec![retry("connection refused")])], None, 1).await;
    let got = outcomes(&mut h, 1).await;
    assert_eq!((got[0].state, got[0].attempts), (State::Failed, 1));
    h.stop.cancel();
    h.task.await.unwrap();
}

#[tokio::test]
async fn in_flight_attempts_are_bounded() {
    let ok = |n: usize| AttemptResult::Delivered {
        receipt: vec![n as u8],
        receipt_message_id: format!("r{n}"),
    };
    let ids: Vec<String> = (0..12).map(|n| format!("m{n}@a")).collect();
    let scripts = ids
        .iter()
        .enumerate()
        .map(|(n, id)| (id.as_str(), vec![ok(n)]))
        .collect();
    let mut h = start(scripts, quick(1), 3).await;
    let got = outcomes(&mut h, 12).await;
    assert!(got.iter().all(|o| o.state == State::Delivered));
    let max = h.deliverer.max_running.load(Ordering::SeqCst);
    assert!((1..=3).contains(&max), "max in flight {max}");
    h.stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), h.task)
        .await
        .unwrap()
        .unwrap();
}

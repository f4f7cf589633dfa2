//! Crash safety of the sled store: a child process (this test binary, re-executed) writes messages and prints each
//! one only after `durable()` resolved; the parent kills it with SIGKILL at random moments, reopens the store and
//! checks that every acknowledged message is there and consistent (record, history, duplicate entry, receipt,
//! payload files), that re-inserting an acknowledged inbound MessageId is detected as a duplicate, and that no
//! record ever refers to a half-written payload file.
//!
//! Without flush-before-acknowledge these checks fail: sled keeps recent writes in process memory (its own
//! background flush runs only every 500 ms), and SIGKILL discards them.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use access_point::store::*;
use tokio::io::{AsyncRead, ReadBuf};

const CHILD_DIR_ENV: &str = "SDK_AP_STORE_CRASH_DIR";
const CHILD_ROUND_ENV: &str = "SDK_AP_STORE_CRASH_ROUND";
const ROUNDS: u32 = 6;
const RECEIPT_PREFIX: &str = "receipt-for-";
const WINDOW: Duration = Duration::from_secs(7 * 86_400);

fn meta(message_id: &str) -> MessageMeta {
    MessageMeta {
        message_id: message_id.to_string(),
        pmode_id: "crash".into(),
        from: Party {
            id: "a".into(),
            id_type: None,
            role: "initiator".into(),
        },
        to: Party {
            id: "b".into(),
            id_type: None,
            role: "responder".into(),
        },
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

/// Small deterministic generator (no extra dependency needed for test randomness).
struct XorShift(u64);

impl XorShift {
    fn seeded() -> XorShift {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        XorShift(t ^ (u64::from(std::process::id()) << 32) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A payload source that trickles data, so that a kill very likely lands in the middle of a file write.
struct SlowSource {
    remaining: usize,
    chunk: usize,
    sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl AsyncRead for SlowSource {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.remaining == 0 {
            return std::task::Poll::Ready(Ok(()));
        }
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_millis(2))));
        if sleep.as_mut().poll(cx).is_pending() {
            return std::task::Poll::Pending;
        }
        self.sleep = None;
        let n = self.chunk.min(self.remaining).min(buf.remaining());
        buf.put_slice(&vec![0x5a; n]);
        self.remaining -= n;
        std::task::Poll::Ready(Ok(()))
    }
}

use std::future::Future;

fn ack(out: &Mutex<std::io::Stdout>, line: String) {
    let mut out = out.lock().unwrap();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
}

/// The child's work: concurrent inbound and outbound writers, a sender that delivers, and a slow payload writer.
async fn child_main(dir: PathBuf, round: u32) {
    let store = Arc::new(SledStore::open(StoreSettings::with_data_dir(&dir)).await.unwrap());
    store.recover().await.unwrap();
    let out = Arc::new(Mutex::new(std::io::stdout()));
    ack(&out, "READY".into());
    let mut tasks = Vec::new();
    for worker in 0..6u32 {
        let store = store.clone();
        let out = out.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = XorShift::seeded();
            for n in 0.. {
                let id = format!("r{round}-w{worker}-{n}@crash");
                let key = store.allocate_key().unwrap();
                let size = rng.below(256 * 1024) as usize;
                let body = vec![(n % 251) as u8; size];
                let mut src: &[u8] = &body;
                let part = store
                    .payload_files()
                    .write_part(key, 0, "p0", "application/octet-stream", &mut src, 1 << 30)
                    .await
                    .unwrap();
                if worker % 2 == 0 {
                    let new = NewInbound {
                        key,
                        meta: meta(&id),
                        payloads: vec![part],
                        receipt: format!("{RECEIPT_PREFIX}{id}").into_bytes(),
                        duplicate_window: WINDOW,
                        actor: "receiver".into(),
                    };
                    match store.insert_inbound(new).await.unwrap().durable().await.unwrap() {
                        InboundInsert::Inserted(r) => ack(&out, format!("IN {id} {}", r.key)),
                        InboundInsert::Duplicate { .. } => panic!("fresh id {id} seen as duplicate"),
                    }
                } else {
                    let new = NewOutbound {
                        key,
                        meta: meta(&id),
                        payloads: vec![part],
                        actor: "api:crash".into(),
                    };
                    let r = store.insert_outbound(new).await.unwrap().durable().await.unwrap();
                    ack(&out, format!("OUT {id} {}", r.key));
                }
            }
        }));
    }
    {
        // The sender: claims due messages and delivers them with a receipt as evidence.
        let store = store.clone();
        let out = out.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let claimed = store.claim_due(Timestamp::now(), 8, "sender-task").await.unwrap();
                if claimed.is_empty() {
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
                for c in claimed {
                    let id = c.record.meta.message_id.clone();
                    if c.record.attempts == 1 && c.record.key.0 % 2 == 1 {
                        // Every other message fails its first attempt and is retried shortly after.
                        let t = Transition::new(c.record.key, State::Sending, State::WaitingRetry, "sender-task")
                            .reason("simulated HTTP 503")
                            .error("simulated HTTP 503")
                            .retry_at(Timestamp::now().plus(Duration::from_millis(5)))
                            .for_attempt(1);
                        store.transition(t).await.unwrap().durable().await.unwrap();
                        ack(&out, format!("RETRY {id} {}", c.record.key));
                        continue;
                    }
                    let t = Transition::new(c.record.key, State::Sending, State::Delivered, "sender-task")
                        .evidence(EvidenceKind::Receipt, format!("{RECEIPT_PREFIX}{id}").into_bytes())
                        .for_attempt(c.record.attempts);
                    store.transition(t).await.unwrap().durable().await.unwrap();
                    ack(&out, format!("DELIVERED {id} {}", c.record.key));
                }
            }
        }));
    }
    {
        // Slow payload writer: most of its time is spent inside a payload file write.
        let store = store.clone();
        let out = out.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0.. {
                let id = format!("r{round}-slow-{n}@crash");
                let key = store.allocate_key().unwrap();
                let mut src = SlowSource {
                    remaining: 64 * 1024,
                    chunk: 4096,
                    sleep: None,
                };
                let part = store
                    .payload_files()
                    .write_part(key, 0, "p0", "application/octet-stream", &mut src, 1 << 30)
                    .await
                    .unwrap();
                let new = NewOutbound {
                    key,
                    meta: meta(&id),
                    payloads: vec![part],
                    actor: "api:slow".into(),
                };
                let r = store.insert_outbound(new).await.unwrap().durable().await.unwrap();
                ack(&out, format!("OUT {id} {}", r.key));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// Entry point of the re-executed child; does nothing in a normal test run.
#[test]
fn crash_child_process() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else { return };
    let round: u32 = std::env::var(CHILD_ROUND_ENV).unwrap().parse().unwrap();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(child_main(PathBuf::from(dir), round));
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Acked {
    Inbound,
    Outbound,
    Delivered,
    Retry,
}

/// Runs the child until a random moment after it is ready, kills it, and returns the acknowledged lines.
fn run_and_kill(dir: &Path, round: u32, rng: &mut XorShift) -> Vec<(Acked, String, MessageKey)> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child_process", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR_ENV, dir)
        .env(CHILD_ROUND_ENV, round.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (first_ack_tx, first_ack_rx) = std::sync::mpsc::channel();
    let reader = {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // libtest may have printed "test crash_child_process ... " on the same line.
                if line.ends_with("READY") {
                    let _ = ready_tx.send(());
                }
                if ["IN ", "OUT ", "DELIVERED ", "RETRY "]
                    .iter()
                    .any(|p| line.starts_with(p))
                {
                    let _ = first_ack_tx.send(());
                }
                lines.lock().unwrap().push(line);
            }
        })
    };
    ready_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("child did not become ready");
    // Kill at a random moment after the first acknowledged write (not after READY: on a loaded machine the first
    // flush can take longer than the random delay, and a round that acknowledged nothing proves nothing).
    first_ack_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the child acknowledged no write within 60 s");
    std::thread::sleep(Duration::from_millis(rng.below(700)));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap();
    let lines = lines.lock().unwrap();
    lines
        .iter()
        .filter_map(|l| {
            let mut parts = l.split(' ');
            let kind = match parts.next()? {
                "IN" => Acked::Inbound,
                "OUT" => Acked::Outbound,
                "DELIVERED" => Acked::Delivered,
                "RETRY" => Acked::Retry,
                _ => return None,
            };
            let id = parts.next()?.to_string();
            let key = MessageKey::from_hex(parts.next()?)?;
            Some((kind, id, key))
        })
        .collect()
}

fn count_temp_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir.join(PAYLOADS_DIR)) else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| std::fs::read_dir(e.path()).ok())
        .flat_map(|files| files.flatten())
        .filter(|f| f.file_name().to_string_lossy().starts_with(".tmp-"))
        .count()
}

/// Every record (acknowledged or not) must be whole: indexes agree, history ends in its state, files are intact.
async fn check_all_records(store: &SledStore) -> usize {
    let mut query = ListQuery::default();
    let mut per_state = std::collections::BTreeMap::<State, u64>::new();
    let mut total = 0;
    loop {
        let page = store.list(query.clone()).await.unwrap();
        for rec in &page.records {
            total += 1;
            *per_state.entry(rec.state).or_default() += 1;
            let history = store.history(rec.key).await.unwrap();
            assert_eq!(
                history.last().map(|h| h.to),
                Some(rec.state),
                "history of {} ends elsewhere",
                rec.key
            );
            assert_eq!(history[0].from, None);
            for w in history.windows(2) {
                assert_eq!(w[0].to, w[1].from.unwrap(), "history of {} has a gap", rec.key);
            }
            for part in &rec.payloads {
                assert!(
                    store.payload_files().verify_part(rec.key, part).await.unwrap(),
                    "record {} refers to an incomplete payload file",
                    rec.key
                );
            }
            assert_eq!(
                store
                    .get_by_message_id(rec.direction, &rec.meta.message_id)
                    .await
                    .unwrap()
                    .map(|r| r.key),
                Some(rec.key)
            );
            assert_ne!(rec.state, State::Sending, "recover must have released every lease");
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    let counts = store.counts().await.unwrap();
    for state in State::ALL {
        assert_eq!(
            counts.get(state),
            per_state.get(&state).copied().unwrap_or(0),
            "count of {state} is off"
        );
    }
    total
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    if std::env::var(CHILD_DIR_ENV).is_ok() {
        return; // we are the child running the whole binary by mistake; never recurse
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rng = XorShift::seeded();
    let mut acked: Vec<(Acked, String, MessageKey)> = Vec::new();
    let mut rounds_with_interrupted_writes = 0;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    for round in 0..ROUNDS {
        let new = run_and_kill(dir.path(), round, &mut rng);
        assert!(!new.is_empty(), "round {round}: the child acknowledged nothing");
        acked.extend(new);
        if count_temp_files(dir.path()) > 0 {
            rounds_with_interrupted_writes += 1;
        }
        runtime.block_on(async {
            let store = SledStore::open(StoreSettings::with_data_dir(dir.path())).await.unwrap();
            store.recover().await.unwrap();
            assert_eq!(
                count_temp_files(dir.path()),
                0,
                "recover must remove interrupted payload writes"
            );
            for (kind, id, key) in &acked {
                let direction = if *kind == Acked::Inbound {
                    Direction::Inbound
                } else {
                    Direction::Outbound
                };
                let rec = store
                    .get(*key)
                    .await
                    .unwrap()
                    .unwrap_or_else(|| panic!("round {round}: acknowledged {kind:?} {id} ({key}) is lost"));
                assert_eq!(&rec.meta.message_id, id);
                assert_eq!(rec.direction, direction);
                match kind {
                    Acked::Inbound => {
                        assert_eq!(rec.state, State::Received);
                        let receipt = format!("{RECEIPT_PREFIX}{id}").into_bytes();
                        let (dup, stored) = store.find_duplicate(id, Timestamp::now()).await.unwrap().unwrap();
                        assert_eq!(dup.key, *key);
                        assert_eq!(stored.unwrap().bytes, receipt);
                        // A peer re-sending the acknowledged message must be told "duplicate", with the receipt.
                        let again = NewInbound {
                            key: store.allocate_key().unwrap(),
                            meta: meta(id),
                            payloads: vec![],
                            receipt: b"another receipt".to_vec(),
                            duplicate_window: WINDOW,
                            actor: "receiver".into(),
                        };
                        match store.insert_inbound(again).await.unwrap().durable().await.unwrap() {
                            InboundInsert::Duplicate {
                                existing,
                                receipt: Some(r),
                            } => {
                                assert_eq!((existing.key, r.bytes), (*key, receipt));
                            }
                            other => panic!("re-insert of acknowledged {id} was not a duplicate: {other:?}"),
                        }
                    }
                    Acked::Outbound => {
                        assert!(
                            matches!(rec.state, State::Submitted | State::WaitingRetry | State::Delivered),
                            "{id} is {}",
                            rec.state
                        );
                        assert_eq!(store.history(*key).await.unwrap()[0].to, State::Submitted);
                    }
                    Acked::Retry => {
                        assert!(
                            matches!(rec.state, State::WaitingRetry | State::Delivered),
                            "{id} is {} after an acknowledged retry",
                            rec.state
                        );
                        assert_eq!(rec.last_error.as_deref(), Some("simulated HTTP 503"));
                        let history = store.history(*key).await.unwrap();
                        assert!(history.iter().any(|h| h.from == Some(State::Sending)
                            && h.to == State::WaitingRetry
                            && h.actor == "sender-task"));
                    }
                    Acked::Delivered => {
                        assert_eq!(rec.state, State::Delivered, "{id} was acknowledged as delivered");
                        let evidence = store.evidence(*key).await.unwrap();
                        assert_eq!(
                            evidence.last().unwrap().bytes,
                            format!("{RECEIPT_PREFIX}{id}").into_bytes()
                        );
                    }
                }
            }
            let total = check_all_records(&store).await;
            eprintln!(
                "round {round}: {} acknowledged so far, {total} records, all consistent",
                acked.len()
            );
            store.close().await.unwrap();
        });
    }
    eprintln!(
        "{ROUNDS} SIGKILL rounds in {:?}; {rounds_with_interrupted_writes} rounds interrupted a payload write",
        started.elapsed()
    );
    assert!(
        rounds_with_interrupted_writes > 0,
        "no kill landed inside a payload write; the test proved nothing there"
    );
}

//! Group commit, measured: 1,000 concurrent durable inserts with and without batching of flushes.
//!
//! Run: `cargo bench -p access-point --bench store_group_commit`. Prints inserts/s, flushes per insert, and the ratio
//! of inserts/s to the raw rate of `write + fsync` on the same disk, measured in the same run as the reference.

use std::sync::Arc;
use std::time::{Duration, Instant};

use access_point::store::*;

const CONCURRENT: usize = 1_000;
const ROUNDS: usize = 3;

fn meta(message_id: String) -> MessageMeta {
    MessageMeta {
        message_id,
        pmode_id: "bench".into(),
        from: Party {
            id: "0203:a".into(),
            id_type: None,
            role: "initiator".into(),
        },
        to: Party {
            id: "0203:b".into(),
            id_type: None,
            role: "responder".into(),
        },
        service: "urn:bench:service".into(),
        service_type: None,
        action: "urn:bench:action".into(),
        conversation_id: "bench".into(),
        ref_to_message_id: None,
        original_sender: Some("0203:orig".into()),
        final_recipient: Some("0203:final".into()),
        tracking_identifier: None,
    }
}

/// The reference: how many `write(4 KiB) + fsync` a second this disk does, one after another.
fn fsync_rate(dir: &std::path::Path) -> f64 {
    use std::io::Write;
    let mut file = std::fs::File::create(dir.join("fsync-probe")).unwrap();
    let block = vec![1u8; 4096];
    let n = 200;
    let start = Instant::now();
    for _ in 0..n {
        file.write_all(&block).unwrap();
        file.sync_data().unwrap();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

struct Outcome {
    inserts_per_sec: f64,
    flushes_per_insert: f64,
}

async fn run(label: &str, group_commit: GroupCommitSettings, inbound: bool) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let settings = StoreSettings {
        group_commit,
        ..StoreSettings::with_data_dir(dir.path())
    };
    let store = Arc::new(SledStore::open(settings).await.unwrap());
    let mut best = Duration::MAX;
    let mut flushes = 0;
    for round in 0..ROUNDS {
        let before = store.flush_count();
        let start = Instant::now();
        let mut tasks = Vec::with_capacity(CONCURRENT);
        for i in 0..CONCURRENT {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let key = store.allocate_key().unwrap();
                let id = format!("{round}-{i}@bench");
                if inbound {
                    let new = NewInbound {
                        key,
                        meta: meta(id),
                        payloads: vec![],
                        receipt: vec![b'r'; 2048],
                        duplicate_window: Duration::from_secs(86_400),
                        actor: "receiver".into(),
                    };
                    store.insert_inbound(new).await.unwrap().durable().await.unwrap();
                } else {
                    let new = NewOutbound {
                        key,
                        meta: meta(id),
                        payloads: vec![],
                        actor: "api:bench".into(),
                    };
                    store.insert_outbound(new).await.unwrap().durable().await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let elapsed = start.elapsed();
        if elapsed < best {
            best = elapsed;
            flushes = store.flush_count() - before;
        }
    }
    store.close().await.unwrap();
    let outcome = Outcome {
        inserts_per_sec: CONCURRENT as f64 / best.as_secs_f64(),
        flushes_per_insert: flushes as f64 / CONCURRENT as f64,
    };
    println!(
        "{label:<44} {:>9.0} inserts/s  {:>6.3} flushes/insert  (best of {ROUNDS}: {best:?} for {CONCURRENT})",
        outcome.inserts_per_sec, outcome.flushes_per_insert
    );
    outcome
}

/// One writer at a time: every insert waits for its own flush, so this is bound by the disk's sync latency.
async fn sequential(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(StoreSettings::with_data_dir(dir.path())).await.unwrap();
    let start = Instant::now();
    for i in 0..n {
        let key = store.allocate_key().unwrap();
        let new = NewOutbound {
            key,
            meta: meta(format!("seq-{i}@bench")),
            payloads: vec![],
            actor: "api:bench".into(),
        };
        store.insert_outbound(new).await.unwrap().durable().await.unwrap();
    }
    let elapsed = start.elapsed();
    println!(
        "{:<44} {:>9.0} inserts/s  {:>6.3} flushes/insert  ({n} one after another in {elapsed:?})",
        "outbound, single writer",
        n as f64 / elapsed.as_secs_f64(),
        store.flush_count() as f64 / n as f64
    );
    store.close().await.unwrap();
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: then run a tiny smoke version only.
    if !std::env::args().any(|a| a == "--bench") {
        println!("store_group_commit: run with `cargo bench` to measure");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let probe = tempfile::tempdir().unwrap();
    let fsyncs = fsync_rate(probe.path());
    println!("reference: {fsyncs:.0} write+fsync/s on this disk");
    runtime.block_on(async {
        sequential(200).await;
        let off = GroupCommitSettings { enabled: false, ..GroupCommitSettings::default() };
        let natural = GroupCommitSettings::default();
        let delayed = GroupCommitSettings { max_delay_micros: 1_000, ..GroupCommitSettings::default() };
        for inbound in [false, true] {
            let kind = if inbound { "inbound (+dedup, +2 KiB receipt)" } else { "outbound" };
            let a = run(&format!("{kind}, flush per insert"), off.clone(), inbound).await;
            let b = run(&format!("{kind}, group commit"), natural.clone(), inbound).await;
            let c = run(&format!("{kind}, group commit, 1 ms max delay"), delayed.clone(), inbound).await;
            println!(
                "{kind}: group commit is {:.1}x flush-per-insert; {:.1}x / {:.1}x the raw fsync rate (group / per insert)",
                b.inserts_per_sec / a.inserts_per_sec,
                b.inserts_per_sec / fsyncs,
                a.inserts_per_sec / fsyncs
            );
            let _ = c;
        }
    });
}

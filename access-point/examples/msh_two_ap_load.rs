//! End-to-end measurement of two of our access points on loopback (mutual TLS, SDK profile: signed + encrypted,
//! receipts, durable storage): throughput of 10 KB messages at full load, and submit-to-Delivered latency at a light
//! load (10 msg/s), next to the RSA-3072 ceiling measured by `openssl speed` in the same run.
//!
//! `cargo run --release -p access-point --example msh_two_ap_load -- [MESSAGES] [LIGHT_MESSAGES]`

use std::path::Path;
use std::time::{Duration, Instant};

use access_point::cli::init::{init, InitArgs};
use access_point::config::link::add_peer_from;
use access_point::config::Config;
use access_point::msh::{Node, NodeOptions, Submission, SubmittedPayload};
use access_point::store::State;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn submission(payload: &Path) -> Submission {
    Submission {
        to_party: Some("AP0002-DEV".into()),
        to_party_type: None,
        pmode_id: None,
        service: pmode::builtin::SDK_SERVICE.into(),
        service_type: Some("urn:fdc:digg.se:edelivery:process".into()),
        action: pmode::builtin::SDK_MESSAGE_ACTION.into(),
        original_sender: "0203:ap0001-dev.example".into(),
        final_recipient: "0203:ap0002-dev.example".into(),
        conversation_id: None,
        tracking_identifier: None,
        payloads: vec![SubmittedPayload {
            path: payload.to_path_buf(),
            mime_type: "application/octet-stream".into(),
            content_id: None,
        }],
        actor: "load".into(),
    }
}

/// RSA-3072 private-key operations per second on one core (`openssl speed`).
fn openssl_rsa3072_signs_per_second() -> Option<f64> {
    let out = std::process::Command::new("openssl")
        .args(["speed", "-seconds", "3", "rsa3072"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.trim_start().starts_with("rsa 3072"))?;
    // "rsa 3072 bits 0.001234s 0.000045s    810.4  22222.2"
    let fields: Vec<&str> = line.split_whitespace().collect();
    fields.get(fields.len().checked_sub(2)?)?.parse().ok()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let messages: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(300);
    let light: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);
    let tmp = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (name, party) in [("a", "AP0001-DEV"), ("b", "AP0002-DEV")] {
        let outcome = init(&InitArgs {
            dir: tmp.path().join(name),
            party: party.into(),
            port: free_port(),
            api_port: Some(free_port()),
            force: false,
        })
        .unwrap();
        files.push(outcome.config_file);
    }
    add_peer_from(&files[0], &files[1]).unwrap();
    add_peer_from(&files[1], &files[0]).unwrap();
    let a = Node::start(Config::load(&files[0]).unwrap(), NodeOptions::default())
        .await
        .unwrap();
    let b = Node::start(Config::load(&files[1]).unwrap(), NodeOptions::default())
        .await
        .unwrap();
    let payload = tmp.path().join("10k.bin");
    std::fs::write(
        &payload,
        (0..10 * 1024).map(|i| (i * 7 % 251) as u8).collect::<Vec<u8>>(),
    )
    .unwrap();

    // Throughput: everything submitted at once, the sender runs max_in_flight attempts.
    let mut outcomes = a.subscribe();
    let started = Instant::now();
    for _ in 0..messages {
        a.submit(submission(&payload)).await.unwrap();
    }
    let mut delivered = 0;
    while delivered < messages {
        let o = tokio::time::timeout(Duration::from_secs(120), outcomes.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(o.state, State::Delivered, "{o:?}");
        delivered += 1;
    }
    let elapsed = started.elapsed();
    let throughput = messages as f64 / elapsed.as_secs_f64();

    // Light load: 10 msg/s, latency from submit to Delivered.
    let mut latencies = Vec::with_capacity(light);
    for _ in 0..light {
        let sent = Instant::now();
        let accepted = a.submit(submission(&payload)).await.unwrap();
        loop {
            let o = tokio::time::timeout(Duration::from_secs(30), outcomes.recv())
                .await
                .unwrap()
                .unwrap();
            if o.message_id == accepted.message_id {
                break;
            }
        }
        let took = sent.elapsed();
        latencies.push(took);
        tokio::time::sleep(Duration::from_millis(100).saturating_sub(took)).await;
    }
    latencies.sort();
    a.shutdown().await;
    b.shutdown().await;

    println!(
        "messages: {messages} x 10 KB in {:.2} s = {throughput:.1} msg/s",
        elapsed.as_secs_f64()
    );
    println!(
        "light load ({light} at 10 msg/s): p50 {:.1} ms, p99 {:.1} ms",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3
    );
    match openssl_rsa3072_signs_per_second() {
        Some(signs) => {
            let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
            // Per message: A signs, B decrypts the key, B signs the receipt (3 private-key operations).
            let ceiling = signs * cores / 3.0;
            println!(
                "openssl speed rsa3072: {signs:.0} sign/s per core x {cores} cores / 3 ops per message = ceiling {ceiling:.1} msg/s; ratio {:.2}",
                throughput / ceiling
            );
        }
        None => println!("openssl speed unavailable: no ceiling"),
    }
}

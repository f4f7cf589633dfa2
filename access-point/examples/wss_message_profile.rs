//! A fixed number of `wss::message::seal` or `open` calls on a 10 KB message (one gzip-compressed attachment), for
//! instruction-level profiling with callgrind, which counts instructions reproducibly on a loaded machine:
//!
//! ```text
//! cargo build --release -p access-point --example wss_message_profile
//! valgrind --tool=callgrind target/release/examples/wss_message_profile sdk|v2 seal|open [COUNT]
//! callgrind_annotate --inclusive=yes callgrind.out.PID | head -60
//! ```
//!
//! It prints the CPU time per call (all threads, from `/proc/self/task/*/schedstat`, set-up left out) and the wall
//! time per call: on a shared machine the CPU figure is the one to compare before and after a change.
//!
//! The criterion bench `wss_seal` measures the same calls by the clock, as ratios against `openssl speed`.

use access_point::ebms::test_support::sample_user_message;
use access_point::ebms::{EbmsError, UserMessage};
use access_point::pki::dev::DevPki;
use access_point::pki::{NodeIdentity, TrustStore};
use access_point::wss::message::{open, seal, OpenLimits, OpenParams, OutgoingPayload, SealParams};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let profile = args.get(1).map(String::as_str).unwrap_or("sdk");
    let operation = args.get(2).map(String::as_str).unwrap_or("open");
    let count: usize = args.get(3).and_then(|c| c.parse().ok()).unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let sender = DevPki::throwaway("AP0001-DEV").unwrap();
    let receiver_pki = DevPki::throwaway("AP0002-DEV").unwrap();
    let receiver = NodeIdentity {
        message: receiver_pki.message.clone(),
        ed25519: Some(receiver_pki.ed25519.clone()),
        x25519: Some(receiver_pki.x25519.clone()),
        tls: None,
    };
    let trust = TrustStore::new(vec![sender.ca.certificate.clone()])
        .with_crls(vec![
            openssl::x509::X509Crl::from_der(&sender.crl.to_der().unwrap()).unwrap()
        ]);
    let source = dir.path().join("payload.xml");
    let content: Vec<u8> = (0..10 * 1024)
        .map(|i| b"<a>0123456789abcdef</a>\n"[i % 24] ^ (i / 997) as u8)
        .collect();
    std::fs::write(&source, content).unwrap();
    let payloads = vec![OutgoingPayload {
        content_id: "payload@sdk".into(),
        mime_type: "application/xml".into(),
        character_set: Some("UTF-8".into()),
        compress: true,
        source,
        extra_part_properties: vec![],
    }];
    let (pmode, signer, receiver_cert) = match profile {
        "sdk" => (
            pmode::builtin::sdk_message(),
            &sender.message,
            &receiver.message.certificate,
        ),
        _ => (
            pmode::builtin::edelivery_as4_v2(
                "v2",
                pmode::Service {
                    value: "bdx:noprocess".into(),
                    service_type: None,
                },
                "act",
            ),
            &sender.ed25519,
            &receiver.x25519.as_ref().unwrap().certificate,
        ),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let message = sample_user_message(0);
    let seal_params = SealParams {
        pmode: &pmode,
        signer,
        receiver_encryption_cert: Some(receiver_cert),
        spool_dir: dir.path(),
    };
    let sealed = rt.block_on(seal(&message, &payloads, &seal_params)).unwrap();
    let body = std::fs::read(sealed.body.path().unwrap()).unwrap();
    let limits = OpenLimits::default();
    let chosen = pmode.clone();
    let choose = move |_: &UserMessage| -> Result<pmode::PMode, EbmsError> { Ok(chosen.clone()) };
    let open_params = OpenParams {
        our_keys: &receiver,
        message_trust: &trust,
        limits: &limits,
        spool_dir: dir.path(),
    };
    let (cpu_before, wall_before) = (process_cpu_ns(), std::time::Instant::now());
    for _ in 0..count {
        match operation {
            "seal" => {
                rt.block_on(seal(&message, &payloads, &seal_params)).unwrap();
            }
            _ => {
                let opened = rt
                    .block_on(open(&sealed.content_type, &body[..], &choose, &open_params))
                    .unwrap();
                assert_eq!(opened.payloads.len(), 1);
            }
        }
    }
    let cpu = process_cpu_ns().saturating_sub(cpu_before);
    let wall = wall_before.elapsed();
    if count > 0 {
        println!(
            "{profile} {operation}: {count} calls, CPU {:.1} µs per call (all threads), wall {:.1} µs per call",
            cpu as f64 / 1e3 / count as f64,
            wall.as_secs_f64() * 1e6 / count as f64
        );
    }
}

/// CPU time of every live thread of this process, in nanoseconds (`/proc/self/task/*/schedstat`, first field), so
/// that the key generation of the set-up is left out. Threads of tokio's blocking pool live on for 10 s after their
/// last task, so they are still counted at the end of the loop.
fn process_cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

//! Criterion benchmark: `wss::message::seal` and `open` of a 10 KB message (one gzip-compressed attachment) under the
//! SDK profile (RSA-3072: rsa-sha256 + rsa-oaep) and eDelivery AS4 2.0 (Ed25519 + X25519/HKDF/kw-aes128), with the
//! ceilings measured in the same run by `openssl speed` (rsa3072, ed25519, ecdhx25519). A final report prints each
//! operation's rate as a ratio of the ceiling of the private-key operations it needs:
//! - seal SDK: one RSA-3072 private op (signature)              → ceiling = rsa3072 sign/s
//! - open SDK: one RSA-3072 private op (OAEP decryption)        → ceiling = rsa3072 sign/s (same private op cost)
//! - seal 2.0: one Ed25519 sign + one X25519 derive             → ceiling = 1 / (1/ed25519_sign + 1/x25519)
//! - open 2.0: one X25519 derive (+ Ed25519 verify, public)     → ceiling = x25519/s
//!
//!
//! A second ratio counts every cryptographic operation a message needs, public ones included (the ceiling
//! leaves them out, which for AS4 2.0 is below what any implementation can reach: verifying one Ed25519 signature
//! costs three X25519 agreements). The dev CA signs certificates and CRLs with RSA-3072; the signer's chain (two
//! RSA-3072 public operations: certificate and CRL signatures) is verified once per trust store, certificate and
//! CRL (`pki::cache::VerifiedChainCache`, at most 5 minutes), as in a running node, so it is not counted per message:
//! - seal SDK: RSA sign + RSA-OAEP encryption (public)
//! - open SDK: RSA-OAEP decryption + 1 RSA verification (message signature)
//! - seal 2.0: Ed25519 sign + 2 X25519 (ephemeral key generation, agreement)
//! - open 2.0: X25519 + Ed25519 verify
//!
//! `cargo bench -p access-point --bench wss_seal -- --warm-up-time 1 --measurement-time 3`

use access_point::ebms::test_support::sample_user_message;
use access_point::ebms::{EbmsError, UserMessage};
use access_point::pki::dev::DevPki;
use access_point::pki::{KeyPair, NodeIdentity, TrustStore};
use access_point::wss::message::{open, seal, OpenLimits, OpenParams, OutgoingPayload, SealParams};
use criterion::{criterion_group, criterion_main, Criterion};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

struct Setup {
    dir: tempfile::TempDir,
    sender: DevPki,
    receiver: NodeIdentity,
    trust: TrustStore,
    payload: Vec<OutgoingPayload>,
}

fn setup() -> Setup {
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
    let payload = vec![OutgoingPayload {
        content_id: "payload@sdk".into(),
        mime_type: "application/xml".into(),
        character_set: Some("UTF-8".into()),
        compress: true,
        source,
        extra_part_properties: vec![],
    }];
    Setup {
        dir,
        sender,
        receiver,
        trust,
        payload,
    }
}

fn v2_pmode() -> pmode::PMode {
    pmode::builtin::edelivery_as4_v2(
        "v2",
        pmode::Service {
            value: "bdx:noprocess".into(),
            service_type: None,
        },
        "act",
    )
}

struct Case<'a> {
    name: &'static str,
    pmode: pmode::PMode,
    signer: &'a KeyPair,
    receiver_cert: &'a openssl::x509::X509,
}

async fn seal_once(s: &Setup, case: &Case<'_>, message: &UserMessage) -> access_point::wss::message::SealedMessage {
    let params = SealParams {
        pmode: &case.pmode,
        signer: case.signer,
        receiver_encryption_cert: Some(case.receiver_cert),
        spool_dir: s.dir.path(),
    };
    seal(message, &s.payload, &params).await.unwrap()
}

async fn open_once(s: &Setup, case: &Case<'_>, content_type: &str, body: &[u8], limits: &OpenLimits, spool: &Path) {
    let pmode = case.pmode.clone();
    let choose = move |_: &UserMessage| -> Result<pmode::PMode, EbmsError> { Ok(pmode.clone()) };
    let params = OpenParams {
        our_keys: &s.receiver,
        message_trust: &s.trust,
        limits,
        spool_dir: spool,
    };
    let opened = open(content_type, body, &choose, &params).await.unwrap();
    assert_eq!(opened.payloads.len(), 1);
}

/// `openssl speed -mr` figures: (rsa3072 sign/s, rsa3072 verify/s, ed25519 sign/s, ed25519 verify/s, x25519/s).
fn openssl_speed() -> Option<(f64, f64, f64, f64, f64)> {
    let run = |args: &[&str]| -> Option<String> {
        let out = Command::new("openssl")
            .args(["speed", "-seconds", "2", "-mr"])
            .args(args)
            .output()
            .ok()?;
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let rsa = run(&["rsa3072"])?;
    let ec = run(&["ed25519", "ecdhx25519"])?;
    let field = |text: &str, prefix: &str, index: usize| -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(prefix))?
            .split(':')
            .nth(index)?
            .parse()
            .ok()
    };
    Some((
        field(&rsa, "+F2:", 3)?,
        field(&rsa, "+F2:", 4)?,
        field(&ec, "+F6:", 4)?,
        field(&ec, "+F6:", 5)?,
        field(&ec, "+F5:", 3)?,
    ))
}

fn bench(c: &mut Criterion) {
    let s = setup();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let message = sample_user_message(0);
    let sdk = Case {
        name: "sdk_rsa3072",
        pmode: pmode::builtin::sdk_message(),
        signer: &s.sender.message,
        receiver_cert: &s.receiver.message.certificate,
    };
    let v2 = Case {
        name: "as4v2_ed25519_x25519",
        pmode: v2_pmode(),
        signer: &s.sender.ed25519,
        receiver_cert: &s.receiver.x25519.as_ref().unwrap().certificate,
    };
    let limits = OpenLimits::default();
    let open_dir = tempfile::tempdir().unwrap();
    let mut rates = Vec::new();
    for case in [&sdk, &v2] {
        let sealed = rt.block_on(seal_once(&s, case, &message));
        let body = std::fs::read(sealed.body.path().unwrap()).unwrap();
        let mut group = c.benchmark_group(format!("wss_{}", case.name));
        group.bench_function("seal_10k", |b| b.iter(|| rt.block_on(seal_once(&s, case, &message))));
        group.bench_function("open_10k", |b| {
            b.iter(|| {
                rt.block_on(open_once(
                    &s,
                    case,
                    &sealed.content_type,
                    &body,
                    &limits,
                    open_dir.path(),
                ))
            })
        });
        group.finish();
        // Rates for the ratio report, measured the same way (a fixed count, after criterion's warm-up).
        let n = 60;
        let t = Instant::now();
        for _ in 0..n {
            rt.block_on(seal_once(&s, case, &message));
        }
        let seal_rate = n as f64 / t.elapsed().as_secs_f64();
        let t = Instant::now();
        for _ in 0..n {
            rt.block_on(open_once(
                &s,
                case,
                &sealed.content_type,
                &body,
                &limits,
                open_dir.path(),
            ));
        }
        let open_rate = n as f64 / t.elapsed().as_secs_f64();
        rates.push((case.name, seal_rate, open_rate));
    }
    match openssl_speed() {
        None => println!("SKIPPED ratio report: `openssl speed` did not run"),
        Some((rsa_sign, rsa_verify, ed_sign, ed_verify, x25519)) => {
            println!("openssl speed: rsa3072 sign {rsa_sign:.0}/s verify {rsa_verify:.0}/s; ed25519 sign {ed_sign:.0}/s verify {ed_verify:.0}/s; x25519 {x25519:.0}/s");
            // The rate of doing each listed operation once, one after the other.
            let serial = |ops: &[(f64, f64)]| 1.0 / ops.iter().map(|(count, rate)| count / rate).sum::<f64>();
            for (name, seal_rate, open_rate) in rates {
                let (seal_ceiling, open_ceiling, seal_all, open_all) = if name.starts_with("sdk") {
                    (
                        rsa_sign,
                        rsa_sign,
                        serial(&[(1.0, rsa_sign), (1.0, rsa_verify)]),
                        serial(&[(1.0, rsa_sign), (1.0, rsa_verify)]),
                    )
                } else {
                    (
                        serial(&[(1.0, ed_sign), (1.0, x25519)]),
                        x25519,
                        serial(&[(1.0, ed_sign), (2.0, x25519)]),
                        serial(&[(1.0, x25519), (1.0, ed_verify)]),
                    )
                };
                println!(
                    "{name}: seal {seal_rate:.0}/s = {:.0}% of private-key ceiling {seal_ceiling:.0}/s ({:.0}% of all-crypto ceiling {seal_all:.0}/s); open {open_rate:.0}/s = {:.0}% of private-key ceiling {open_ceiling:.0}/s ({:.0}% of all-crypto ceiling {open_all:.0}/s)",
                    100.0 * seal_rate / seal_ceiling,
                    100.0 * seal_rate / seal_all,
                    100.0 * open_rate / open_ceiling,
                    100.0 * open_rate / open_all,
                );
            }
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

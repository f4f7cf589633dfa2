//! Seal and open of one 10 KB attachment (content key protection, AES-128-GCM, header XML rendered / parsed with
//! the shared DOM, decryption spooled to a file) for eDelivery AS4 1.15 (RSA-3072 OAEP) and 2.0 (X25519 + HKDF +
//! kw-aes128), as operations per second against `openssl speed rsa3072 / ecdhx25519 / ed25519` measured in the same run.
//!
//! ```text
//! cargo build --release -p access-point --example wss_crypto_seal_open
//! target/release/examples/wss_crypto_seal_open [SECONDS_PER_CASE]
//! ```
//!
//! Both our loops and `openssl speed` (run with `-elapsed`) are timed by the wall clock, so machine load affects
//! both alike. Seal needs one public-key operation for RSA (OAEP encryption) and two X25519 scalar multiplications
//! (ephemeral key generation and agreement) for 2.0; open needs one private-key operation (RSA decryption) or one
//! X25519 agreement. The signature that a full AS4 message adds (RSA-3072 or Ed25519 sign) is not part of this.

use access_point::wss::decrypt::{DecryptionPolicy, MessageDecryptor, RecipientKey};
use access_point::wss::encrypt::{EncryptionProfile, MessageEncryptor};
use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509Builder, X509NameBuilder, X509};
use std::process::Command;
use std::time::{Duration, Instant};
use xmldsig::dom::Document;

const WSSE: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";

fn certificate(key: &PKey<Private>, ca: &PKey<Private>, digest: MessageDigest) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "bench").unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
    b.set_not_after(&Asn1Time::days_from_now(1).unwrap()).unwrap();
    b.set_pubkey(&PKey::public_key_from_der(&key.public_key_to_der().unwrap()).unwrap())
        .unwrap();
    b.sign(ca, digest).unwrap();
    b.build()
}

/// Runs `op` repeatedly for `duration`; returns operations per second.
async fn rate<F, Fut>(duration: Duration, mut op: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    op().await; // warm-up
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < duration {
        op().await;
        n += 1;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// Runs `openssl speed -elapsed -seconds S ALG` and returns the numbers of the result line that contains `marker`.
fn openssl_speed(seconds: u64, algorithm: &str, marker: &str) -> Option<Vec<f64>> {
    let out = Command::new("openssl")
        .args(["speed", "-elapsed", "-seconds", &seconds.to_string(), algorithm])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains(marker) && l.trim_end().ends_with(|c: char| c.is_ascii_digit()))?;
    let after = &line[line.find(marker)? + marker.len()..];
    Some(
        after
            .split_whitespace()
            .filter_map(|w| w.trim_end_matches('s').parse().ok())
            .collect(),
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let seconds: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let duration = Duration::from_secs(seconds);
    let spool = tempfile::tempdir().unwrap();
    let attachment: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();

    let rsa_key = PKey::from_rsa(Rsa::generate(3072).unwrap()).unwrap();
    let rsa = RecipientKey {
        certificate: certificate(&rsa_key, &rsa_key, MessageDigest::sha256()),
        private_key: rsa_key,
    };
    let ca = PKey::generate_ed25519().unwrap();
    let x_key = PKey::generate_x25519().unwrap();
    let x25519 = RecipientKey {
        certificate: certificate(&x_key, &ca, MessageDigest::null()),
        private_key: x_key,
    };

    let cases = [
        (
            "AS4 1.15 RSA-3072",
            EncryptionProfile::edelivery_1_15(),
            DecryptionPolicy::edelivery_1_15(),
            &rsa,
        ),
        (
            "AS4 2.0 X25519",
            EncryptionProfile::edelivery_2_0(),
            DecryptionPolicy::edelivery_2_0(),
            &x25519,
        ),
    ];
    let mut results = Vec::new();
    for (name, profile, policy, recipient) in cases {
        let seal = || async {
            let mut encryptor = MessageEncryptor::new(&profile, &recipient.certificate).unwrap();
            let mut out = Vec::with_capacity(10_100);
            encryptor
                .encrypt_attachment("a@b", "application/xml", &attachment[..], &mut out)
                .await
                .unwrap();
            (
                format!(
                    r#"<wsse:Security xmlns:wsse="{WSSE}">{}</wsse:Security>"#,
                    encryptor.security_header_xml()
                ),
                out,
            )
        };
        let seal_rate = rate(duration, || async {
            std::hint::black_box(seal().await);
        })
        .await;
        let (header, part) = seal().await;
        let open_rate = rate(duration, || async {
            let doc = Document::parse_str(&header).unwrap();
            let decryptor = MessageDecryptor::open(&doc, doc.root(), &["a@b"], &policy, recipient).unwrap();
            let plain = decryptor
                .decrypt_attachment("a@b", &part[..], spool.path())
                .await
                .unwrap();
            assert_eq!(plain.plaintext_len, 10_000);
        })
        .await;
        let doc = Document::parse_str(&header).unwrap();
        let decryptor = MessageDecryptor::open(&doc, doc.root(), &["a@b"], &policy, recipient).unwrap();
        let key_rate = rate(duration / 3, || async {
            let doc = Document::parse_str(&header).unwrap();
            std::hint::black_box(MessageDecryptor::open(&doc, doc.root(), &["a@b"], &policy, recipient).unwrap());
        })
        .await;
        let part_rate = rate(duration / 3, || async {
            std::hint::black_box(
                decryptor
                    .decrypt_attachment("a@b", &part[..], spool.path())
                    .await
                    .unwrap(),
            );
        })
        .await;
        println!("{name}: open breakdown: header parse + policy + key recovery {key_rate:.0}/s, part to spool {part_rate:.0}/s");
        results.push((name, seal_rate, open_rate));
    }

    let rsa_ref = openssl_speed(seconds, "rsa3072", "rsa 3072 bits");
    let x_ref = openssl_speed(seconds, "ecdhx25519", "(X25519)");
    let ed_ref = openssl_speed(seconds, "ed25519", "(Ed25519)");

    for (name, seal, open) in &results {
        println!("{name}: seal {seal:.0}/s, open {open:.0}/s (10 KB attachment)");
    }
    // OpenSSL 3.0 reports RSA as "sign verify sign/s verify/s": a private-key and a public-key operation.
    if let Some(r) = rsa_ref.as_ref().filter(|r| r.len() >= 4) {
        println!(
            "openssl speed -elapsed rsa3072: {:.0} private-key ops/s, {:.0} public-key ops/s",
            r[2], r[3]
        );
        println!("ratio AS4 1.15 open / rsa3072 private ops: {:.2}", results[0].2 / r[2]);
        println!("ratio AS4 1.15 seal / rsa3072 public ops:  {:.2}", results[0].1 / r[3]);
    }
    if let Some(x) = x_ref.as_ref().and_then(|x| x.last()) {
        println!("openssl speed -elapsed ecdhx25519: {x:.0} ops/s");
        println!("ratio AS4 2.0 open / x25519 ops:     {:.2}", results[1].2 / x);
        println!(
            "ratio AS4 2.0 seal / (x25519 ops/2): {:.2} (seal needs two scalar multiplications)",
            results[1].1 / (x / 2.0)
        );
    }
    if let Some(e) = ed_ref.as_ref().filter(|e| e.len() >= 4) {
        println!(
            "openssl speed -elapsed ed25519: {:.0} sign/s, {:.0} verify/s (for the signature layer)",
            e[2], e[3]
        );
    }
}

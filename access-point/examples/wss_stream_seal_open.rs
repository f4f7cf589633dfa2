//! End-to-end streaming seal and open of one large attachment through the real message API, with throughput
//! reported against `openssl speed` (aes-128-gcm and sha256, 16 KiB blocks) measured in the same run, and the peak
//! RSS of each phase:
//!
//! ```text
//! cargo build --release -p access-point --example wss_stream_seal_open
//! target/release/examples/wss_stream_seal_open seal-open [SIZE_MIB] [LEVEL|none] [random|xml] [WORK_DIR]
//! target/release/examples/wss_stream_seal_open levels [SIZE_MIB]
//! ```
//!
//! `seal-open` (defaults: 1024 MiB, level 1, random, system temp dir) writes the payload file, then times
//! `wss::message::seal_with_compression` (gzip at LEVEL, or no compression with `none` → SHA-256 → AES-128-GCM → MIME
//! body in a spool file) and `wss::message::open` reading that body from its file (MIME → signature → decrypt, tag
//! verified before release → digest check → capped gunzip), under the SDK P-Mode (RSA-3072, RSA-OAEP). It checks
//! that the delivered payload has the SHA-256 of the source. Peak RSS is the kernel's VmHWM, reset between phases
//! through /proc/self/clear_refs. `levels` compresses SIZE_MIB (default 64) of XML-like and of incompressible data
//! at gzip levels 0, 1, 6 and 9 in memory and prints ratio and speed per CPU second.

use access_point::ebms::test_support::sample_user_message;
use access_point::ebms::{EbmsError, UserMessage};
use access_point::pki::dev::DevPki;
use access_point::pki::{NodeIdentity, TrustStore};
use access_point::wss::message::{open, seal_with_compression, OpenLimits, OpenParams, OutgoingPayload, SealParams};
use std::io::Write;
use std::process::Command;
use std::time::Instant;

/// Fills buffers with incompressible (xorshift) or XML-like (repeated records with varying values) bytes.
struct PayloadGenerator {
    state: u64,
    xml: bool,
    record: u64,
}

impl PayloadGenerator {
    fn new(xml: bool) -> Self {
        PayloadGenerator {
            state: 0x9e37_79b9_7f4a_7c15,
            xml,
            record: 0,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    /// Appends about `len` bytes to `out` (exactly `len` for random data).
    fn fill(&mut self, out: &mut Vec<u8>, len: usize) {
        let end = out.len() + len;
        if !self.xml {
            while out.len() < end {
                out.extend_from_slice(&self.next_u64().to_le_bytes());
            }
        } else {
            while out.len() < end {
                let v = self.next_u64();
                self.record += 1;
                let _ = writeln!(
                    out,
                    "  <cac:InvoiceLine><cbc:ID>{}</cbc:ID><cbc:InvoicedQuantity unitCode=\"EA\">{}</cbc:InvoicedQuantity>\
                     <cbc:LineExtensionAmount currencyID=\"SEK\">{}.{:02}</cbc:LineExtensionAmount><cac:Item>\
                     <cbc:Name>Artikel {:x}</cbc:Name><cac:SellersItemIdentification><cbc:ID>{:08}</cbc:ID>\
                     </cac:SellersItemIdentification></cac:Item></cac:InvoiceLine>",
                    self.record,
                    v % 100,
                    (v >> 8) % 100_000,
                    (v >> 30) % 100,
                    (v >> 40) % 4096,
                    (v >> 20) % 100_000_000
                );
            }
        }
        out.truncate(end);
    }
}

/// `openssl speed -seconds 2 -evp ALG -bytes 16384` in bytes per CPU second.
fn openssl_speed(algorithm: &str) -> Option<f64> {
    let out = Command::new("openssl")
        .args(["speed", "-seconds", "2", "-evp", algorithm, "-bytes", "16384"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.to_ascii_uppercase().starts_with(&algorithm.to_ascii_uppercase()))?;
    let kb: f64 = line.split_whitespace().last()?.trim_end_matches('k').parse().ok()?;
    Some(kb * 1000.0)
}

/// CPU time (user + system, all threads) of this process so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: f64 = fields
        .get(11..13)
        .map(|f| f.iter().filter_map(|t| t.parse::<f64>().ok()).sum())
        .unwrap_or(0.0);
    ticks / 100.0
}

/// Peak RSS (VmHWM) in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0), so the next reading is the peak of the next phase.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn levels(mib: usize) {
    for (kind, xml) in [("XML-like", true), ("incompressible", false)] {
        let mut data = Vec::with_capacity(mib << 20);
        PayloadGenerator::new(xml).fill(&mut data, mib << 20);
        for level in [0u32, 1, 6, 9] {
            let cpu = cpu_seconds();
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
            encoder.write_all(&data).unwrap();
            let compressed = encoder.finish().unwrap();
            let seconds = cpu_seconds() - cpu;
            println!(
                "{kind:>15} level {level}: {:6.1}% of the input, {:7.1} MB/s per CPU second",
                100.0 * compressed.len() as f64 / data.len() as f64,
                data.len() as f64 / seconds.max(0.01) / 1e6
            );
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("levels") {
        levels(args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(64));
        return Ok(());
    }
    let mib: u64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(1024);
    let level: Option<u32> = match args.get(3).map(String::as_str) {
        None => Some(1),
        Some("none") => None,
        Some(l) => Some(l.parse()?),
    };
    let xml = args.get(4).map(String::as_str) == Some("xml");
    let work = args
        .get(5)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let size = mib << 20;
    let dir = tempfile::tempdir_in(&work)?;

    let aes = openssl_speed("aes-128-gcm");
    let sha = openssl_speed("sha256");

    // The payload file (not timed).
    let source = dir.path().join("payload.bin");
    let mut source_sha = openssl::sha::Sha256::new();
    {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&source)?);
        let mut generator = PayloadGenerator::new(xml);
        let mut chunk = Vec::with_capacity(1 << 20);
        let mut left = size;
        while left > 0 {
            chunk.clear();
            generator.fill(&mut chunk, (1usize << 20).min(left as usize));
            source_sha.update(&chunk);
            file.write_all(&chunk)?;
            left -= chunk.len() as u64;
        }
        file.flush()?;
    }
    let source_sha = source_sha.finish();

    let sender = DevPki::throwaway("AP0001-DEV")?;
    let receiver_pki = DevPki::throwaway("AP0002-DEV")?;
    let receiver = NodeIdentity {
        message: receiver_pki.message.clone(),
        ed25519: None,
        x25519: None,
        tls: None,
    };
    let trust = TrustStore::new(vec![sender.ca.certificate.clone()])
        .with_crls(vec![openssl::x509::X509Crl::from_der(&sender.crl.to_der()?)?]);
    let pmode = pmode::builtin::sdk_message();
    let payloads = vec![OutgoingPayload {
        content_id: "payload@sdk".into(),
        mime_type: "application/octet-stream".into(),
        character_set: None,
        compress: level.is_some(),
        source: source.clone(),
        extra_part_properties: vec![],
    }];
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let message = sample_user_message(0);
    let seal_params = SealParams {
        pmode: &pmode,
        signer: &sender.message,
        receiver_encryption_cert: Some(&receiver.message.certificate),
        spool_dir: dir.path(),
    };
    let compression = flate2::Compression::new(level.unwrap_or(0));

    reset_peak_rss();
    let (started, cpu) = (Instant::now(), cpu_seconds());
    let sealed = rt.block_on(seal_with_compression(&message, &payloads, &seal_params, compression))?;
    let (seal_wall, seal_cpu, seal_rss) = (started.elapsed().as_secs_f64(), cpu_seconds() - cpu, peak_rss_mib());
    std::fs::remove_file(&source)?;

    let limits = OpenLimits::default();
    let chosen = pmode.clone();
    let choose = move |_: &UserMessage| -> Result<pmode::PMode, EbmsError> { Ok(chosen.clone()) };
    let open_params = OpenParams {
        our_keys: &receiver,
        message_trust: &trust,
        limits: &limits,
        spool_dir: dir.path(),
    };
    reset_peak_rss();
    let (started, cpu) = (Instant::now(), cpu_seconds());
    let opened = rt.block_on(async {
        let body = tokio::fs::File::open(sealed.body.path()?).await?;
        open(&sealed.content_type, body, &choose, &open_params)
            .await
            .map_err(|e| Box::new(e) as Box<dyn std::error::Error>)
    })?;
    let (open_wall, open_cpu, open_rss) = (started.elapsed().as_secs_f64(), cpu_seconds() - cpu, peak_rss_mib());
    assert_eq!(opened.payloads[0].size, size, "delivered size");
    assert_eq!(opened.payloads[0].sha256, source_sha, "delivered digest");

    let compression = level.map_or("no compression".to_string(), |l| format!("gzip level {l}"));
    let kind = if xml { "XML-like" } else { "incompressible" };
    println!(
        "{mib} MiB {kind} payload, {compression}, SDK P-Mode; sealed body {} bytes; work dir {}",
        sealed.body_len,
        work.display()
    );
    let mb_s = |seconds: f64| size as f64 / seconds / 1e6;
    for (what, wall, cpu, rss) in [
        ("seal", seal_wall, seal_cpu, seal_rss),
        ("open", open_wall, open_cpu, open_rss),
    ] {
        let mut line = format!(
            "{what}: {:.2} s wall, {:.2} s CPU: {:.0} MB/s wall, {:.0} MB/s per CPU second, peak RSS {:.1} MiB",
            wall,
            cpu,
            mb_s(wall),
            mb_s(cpu),
            rss
        );
        if let (Some(aes), Some(sha)) = (aes, sha) {
            line += &format!(
                "; wall ratio {:.2} of aes-128-gcm, {:.2} of sha256",
                size as f64 / wall / aes,
                size as f64 / wall / sha
            );
        }
        println!("{line}");
    }
    match (aes, sha) {
        (Some(aes), Some(sha)) => println!(
            "openssl speed -seconds 2 -bytes 16384: aes-128-gcm {:.0} MB/s, sha256 {:.0} MB/s (per CPU second)",
            aes / 1e6,
            sha / 1e6
        ),
        _ => println!("openssl speed unavailable: no reference ratio"),
    }
    Ok(())
}

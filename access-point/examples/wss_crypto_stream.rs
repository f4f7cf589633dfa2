//! Streaming AES-128-GCM encryption and decryption of one large attachment, with throughput reported against
//! `openssl speed -evp aes-128-gcm` at 16 KiB blocks measured in the same run. Run it under `/usr/bin/time -v`:
//!
//! ```text
//! cargo build --release -p access-point --example wss_crypto_stream
//! /usr/bin/time -v target/release/examples/wss_crypto_stream [SIZE_MIB] [WORK_DIR]
//! ```
//!
//! Defaults: 1024 MiB in the system temp dir. The plaintext is generated on the fly by an `AsyncRead`; encryption
//! writes the encrypted part to a file, decryption reads it and spools the plaintext to a temporary file (tag
//! verified before release), both computing the plaintext SHA-256. Files are removed at the end.

use access_point::wss::content::{decrypt_to_spool, encrypt_stream};
use access_point::wss::keytransport::ContentKey;
use std::io;
use std::pin::Pin;
use std::process::Command;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, ReadBuf};

/// Yields `remaining` bytes of a repeating pseudo-random pattern.
struct Generator {
    pattern: Vec<u8>,
    offset: usize,
    remaining: u64,
}

impl AsyncRead for Generator {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let n = (buf.remaining() as u64)
            .min(self.remaining)
            .min((self.pattern.len() - self.offset) as u64) as usize;
        let start = self.offset;
        buf.put_slice(&self.pattern[start..start + n]);
        self.offset = (self.offset + n) % self.pattern.len();
        self.remaining -= n as u64;
        Poll::Ready(Ok(()))
    }
}

/// `openssl speed -evp aes-128-gcm -bytes 16384`: bytes per second, divided by CPU time (openssl's default) or
/// by wall-clock time (`elapsed`).
fn openssl_evp_16k(algorithm: &str, elapsed: bool) -> Option<f64> {
    let mut args = vec!["speed", "-seconds", "3", "-evp", algorithm, "-bytes", "16384"];
    if elapsed {
        args.insert(1, "-elapsed");
    }
    let out = Command::new("openssl").args(args).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.to_ascii_uppercase().starts_with(&algorithm.to_ascii_uppercase()))?;
    let kb: f64 = line.split_whitespace().last()?.trim_end_matches('k').parse().ok()?;
    Some(kb * 1000.0)
}

/// CPU time (user + system, all threads) this process used so far, from /proc/self/stat.
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

fn mb_s(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / seconds / 1e6
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let mib: u64 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(1024);
    let work = args
        .get(2)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let size = mib * 1024 * 1024;
    let dir = tempfile::tempdir_in(&work)?;

    let reference_cpu = openssl_evp_16k("aes-128-gcm", false);
    let reference_wall = openssl_evp_16k("aes-128-gcm", true);
    let sha256_cpu = openssl_evp_16k("sha256", false);
    let key = ContentKey::generate()?;
    let pattern: Vec<u8> = (0..1_048_573u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();

    // The same pipeline without files: generator -> encrypt_stream -> sink.
    let (started, cpu) = (Instant::now(), cpu_seconds());
    let generator = Generator {
        pattern: pattern.clone(),
        offset: 0,
        remaining: size,
    };
    encrypt_stream(&key, generator, tokio::io::sink()).await?;
    let (memory_seconds, memory_cpu) = (started.elapsed().as_secs_f64(), cpu_seconds() - cpu);

    let encrypted_path = dir.path().join("part.enc");
    let (started, cpu) = (Instant::now(), cpu_seconds());
    let output = tokio::fs::File::create(&encrypted_path).await?;
    let sealed = encrypt_stream(
        &key,
        Generator {
            pattern,
            offset: 0,
            remaining: size,
        },
        output,
    )
    .await?;
    let encrypt_seconds = started.elapsed().as_secs_f64();
    let encrypt_cpu = cpu_seconds() - cpu;

    let (started, cpu) = (Instant::now(), cpu_seconds());
    let input = tokio::fs::File::open(&encrypted_path).await?;
    let opened = decrypt_to_spool(&key, "bench", input, dir.path(), u64::MAX).await?;
    let decrypt_seconds = started.elapsed().as_secs_f64();
    let decrypt_cpu = cpu_seconds() - cpu;
    assert_eq!(opened.plaintext_sha256, sealed.plaintext_sha256);
    assert_eq!(opened.plaintext_len, size);

    println!(
        "attachment: {mib} MiB, chunk {} KiB, work dir {}",
        access_point::wss::content::CHUNK_LEN / 1024,
        work.display()
    );
    let report = |what: &str, seconds: f64, cpu: f64| {
        println!(
            "{what}: {:.0} MB/s wall, {:.0} MB/s per CPU second",
            mb_s(size, seconds),
            mb_s(size, cpu)
        );
    };
    report(
        "encrypt (generator -> sink, no file, SHA-256)    ",
        memory_seconds,
        memory_cpu,
    );
    report(
        "encrypt (generator -> file, SHA-256)             ",
        encrypt_seconds,
        encrypt_cpu,
    );
    report(
        "decrypt (file -> spool file, tag checked, SHA-256)",
        decrypt_seconds,
        decrypt_cpu,
    );
    let (Some(cpu), Some(wall)) = (reference_cpu, reference_wall) else {
        println!("openssl speed unavailable: no reference ratio");
        return Ok(());
    };
    println!(
        "openssl speed -evp aes-128-gcm -bytes 16384: {:.0} MB/s per CPU second, {:.0} MB/s wall (-elapsed)",
        cpu / 1e6,
        wall / 1e6
    );
    let ratio = |seconds: f64, reference: f64| size as f64 / seconds / reference;
    for (what, seconds, cpu_used) in [
        ("encrypt without file", memory_seconds, memory_cpu),
        ("encrypt to file     ", encrypt_seconds, encrypt_cpu),
        ("decrypt to spool    ", decrypt_seconds, decrypt_cpu),
    ] {
        println!(
            "ratio {what}: {:.2} (CPU time) {:.2} (wall)",
            ratio(cpu_used, cpu),
            ratio(seconds, wall)
        );
    }
    if let Some(sha) = sha256_cpu {
        // Every byte is both encrypted and hashed: on one core the ceiling is 1/(1/aes + 1/sha) of AES alone; with
        // the hash on a second core it is sha/aes.
        println!(
            "openssl speed -evp sha256 -bytes 16384: {:.0} MB/s per CPU second; ceiling with the plaintext SHA-256: \
             {:.2} on one core, {:.2} on two",
            sha / 1e6,
            1.0 / (1.0 + cpu / sha),
            (sha / cpu).min(1.0)
        );
    }
    Ok(())
}

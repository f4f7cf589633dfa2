//! Throughput and memory benchmark of the SOAP-with-attachments reader on one large attachment.
//!
//! The message is generated on the fly by an `AsyncRead` (nothing is written to disk first); the reader spools the
//! attachment into a temporary directory that is removed at the end. Run it under `/usr/bin/time -v` for peak RSS:
//!
//! ```text
//! cargo build --release --example mime_throughput
//! /usr/bin/time -v target/release/examples/mime_throughput [SIZE_MIB] [binary|base64] [SPOOL_DIR]
//! ```
//!
//! Defaults: 2048 MiB, binary, the system temp dir. As a reference measured in the same run it also reports
//! single-threaded SHA-256 (openssl) over the same bytes: the reader hashes every byte, so that is the yardstick.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use access_point::mime::{read_message, MimeLimits};
use base64::Engine;
use bytes::Bytes;
use tokio::io::{AsyncRead, ReadBuf};

const BOUNDARY: &str = "MIMEBoundary_5f0c4b1e8a7d4c3b9e2f6a1d0c8b7e6f";
/// Bytes of generated content repeated to make the attachment; a multiple of 57 (one 76-character base64 line).
const BLOCK_BYTES: usize = 57 * 18396;

/// Serves head, then `block` `repeats` times, then tail.
struct Generator {
    segments: Vec<(Bytes, u64)>,
    index: usize,
    offset: usize,
}

impl AsyncRead for Generator {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        while buf.remaining() > 0 && self.index < self.segments.len() {
            let (bytes, repeats) = self.segments[self.index].clone();
            if repeats == 0 {
                self.index += 1;
                continue;
            }
            let n = buf.remaining().min(bytes.len() - self.offset);
            buf.put_slice(&bytes[self.offset..self.offset + n]);
            self.offset += n;
            if self.offset == bytes.len() {
                self.offset = 0;
                let index = self.index;
                self.segments[index].1 -= 1;
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// Pseudo-random bytes (xorshift), with the boundary guaranteed absent.
fn random_block() -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let block: Vec<u8> = (0..BLOCK_BYTES)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    assert!(memchr::memmem::find(&block, BOUNDARY.as_bytes()).is_none());
    block
}

/// User + system CPU seconds of this process (all threads), from /proc/self/stat (Linux, USER_HZ = 100).
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15 of the whole line.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let size_mib: u64 = args
        .get(1)
        .map(|s| s.parse().expect("SIZE_MIB must be a number"))
        .unwrap_or(2048);
    let base64 = match args.get(2).map(String::as_str) {
        None | Some("binary") => false,
        Some("base64") => true,
        Some(other) => panic!("unknown encoding {other}"),
    };
    let spool_parent = args
        .get(3)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let spool = tempfile::tempdir_in(spool_parent).expect("spool dir");

    let raw = random_block();
    let repeats = (size_mib << 20).div_ceil(BLOCK_BYTES as u64);
    let attachment_bytes = repeats * BLOCK_BYTES as u64;
    let (block, cte) = if base64 {
        let encoded = base64::engine::general_purpose::STANDARD.encode(&raw);
        let wrapped: Vec<u8> = encoded.as_bytes().chunks(76).collect::<Vec<_>>().join(&b"\r\n"[..]);
        let mut wrapped = wrapped;
        wrapped.extend_from_slice(b"\r\n");
        (Bytes::from(wrapped), "base64")
    } else {
        (Bytes::from(raw.clone()), "binary")
    };
    let head = format!(
        "--{BOUNDARY}\r\nContent-Type: application/soap+xml; charset=UTF-8\r\nContent-ID: <root@bench>\r\n\r\n\
         <env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\"><env:Body/></env:Envelope>\r\n\
         --{BOUNDARY}\r\nContent-Type: application/octet-stream\r\nContent-ID: <payload@bench>\r\n\
         Content-Transfer-Encoding: {cte}\r\n\r\n"
    );
    let tail = format!("\r\n--{BOUNDARY}--\r\n");
    let wire_bytes = head.len() as u64 + repeats * block.len() as u64 + tail.len() as u64;
    let generator = Generator {
        segments: vec![(Bytes::from(head), 1), (block, repeats), (Bytes::from(tail), 1)],
        index: 0,
        offset: 0,
    };
    let content_type =
        format!("multipart/related; boundary=\"{BOUNDARY}\"; type=\"application/soap+xml\"; start=\"<root@bench>\"");
    let limits = MimeLimits {
        max_attachment_bytes: u64::MAX,
        max_total_bytes: u64::MAX,
        ..MimeLimits::default()
    };

    let started = Instant::now();
    let cpu_before = process_cpu_seconds();
    let message = read_message(generator, &content_type, &limits, spool.path())
        .await
        .expect("read failed");
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds() - cpu_before;
    let part = &message.attachments[0];
    assert_eq!(part.size, attachment_bytes);
    let mb = |bytes: u64| bytes as f64 / 1e6;

    // Reference in the same run: SHA-256 of the same content, one thread, no I/O.
    let reference_started = Instant::now();
    let mut hasher = openssl::sha::Sha256::new();
    for _ in 0..repeats {
        hasher.update(&raw);
    }
    let expected_sha = hasher.finish();
    let reference_elapsed = reference_started.elapsed().as_secs_f64();
    assert_eq!(part.sha256().unwrap(), expected_sha, "spooled hash differs");

    println!("encoding:            {cte}");
    println!(
        "attachment (decoded): {:.1} MB in {:.2} s",
        mb(attachment_bytes),
        elapsed
    );
    println!(
        "reader throughput:   {:.0} MB/s decoded, {:.0} MB/s on the wire",
        mb(attachment_bytes) / elapsed,
        mb(wire_bytes) / elapsed
    );
    println!(
        "reader CPU time:     {:.2} s user+sys, all threads: {:.0} MB per CPU-second",
        cpu,
        mb(attachment_bytes) / cpu
    );
    println!(
        "reference sha256:    {:.0} MB/s (openssl, one thread, in memory)",
        mb(attachment_bytes) / reference_elapsed
    );
    println!("ratio reader/sha256: {:.2}", reference_elapsed / elapsed);
    drop(message);
}

//! A real gzip bomb: a valid gzip stream of 1 GiB of zeros (about 6.5 MiB compressed, built directly as fixed-Huffman
//! deflate so that the test does not spend CPU compressing a gigabyte) must stop at the decompressed-size cap, having
//! read only a small part of the input and written no more than the cap.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use access_point::compression::{gzip_decompress, DecompressError};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// CRC-32 of 2^30 zero bytes (Python: `hex(zlib.crc32(bytes(1 << 30)))`).
const CRC32_OF_1_GIB_OF_ZEROS: u32 = 0x5b64_c2b0;

/// Deflate bit writer: values are packed least-significant bit first, Huffman codes most-significant bit first.
struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    fn put(&mut self, value: u32, count: u32) {
        self.acc |= (value as u64) << self.n;
        self.n += count;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    fn code(&mut self, code: u32, len: u32) {
        self.put(code.reverse_bits() >> (32 - len), len);
    }
}

/// A gzip member whose content is `zeros` zero bytes: one fixed-Huffman block of a literal 0 followed by
/// back-references of length 258 at distance 1.
fn gzip_of_zeros(zeros: u64, crc: u32) -> Vec<u8> {
    assert!(zeros >= 4);
    let mut bits = Bits {
        out: vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff],
        acc: 0,
        n: 0,
    };
    bits.put(1, 1); // BFINAL
    bits.put(1, 2); // BTYPE = fixed Huffman
    bits.code(0x30, 8); // literal 0
    let mut left = zeros - 1;
    while left > 0 {
        if left >= 258 + 3 || left == 258 {
            bits.code(0xc5, 8); // length code 285: 258 bytes
            left -= 258;
        } else {
            // The tail uses lengths 3..=10 (codes 257..=264, no extra bits), never leaving 1 or 2 bytes over.
            let mut len = left.min(10);
            if left - len > 0 && left - len < 3 {
                len -= 3;
            }
            bits.code(len as u32 - 2, 7);
            left -= len;
        }
        bits.code(0, 5); // distance code 0: distance 1
    }
    bits.code(0, 7); // end of block
    if bits.n > 0 {
        bits.put(0, 8 - bits.n);
    }
    let mut out = bits.out;
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&(zeros as u32).to_le_bytes());
    out
}

/// Serves a buffer and counts what was read.
struct CountingReader {
    data: Vec<u8>,
    pos: usize,
    served: Arc<AtomicU64>,
}

impl AsyncRead for CountingReader {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let n = buf.remaining().min(self.data.len() - self.pos).min(16 << 10);
        let pos = self.pos;
        buf.put_slice(&self.data[pos..pos + n]);
        self.pos += n;
        self.served.fetch_add(n as u64, Ordering::Relaxed);
        Poll::Ready(Ok(()))
    }
}

/// Discards output, counting bytes and checking they are all zeros.
#[derive(Default)]
struct ZeroSink {
    written: u64,
}

impl AsyncWrite for ZeroSink {
    fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        assert!(buf.iter().all(|&b| b == 0));
        self.written += buf.len() as u64;
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn the_bomb_generator_makes_valid_gzip() {
    for zeros in [4u64, 261, 262, 1000, 1 << 20] {
        let mut crc = flate2::Crc::new();
        crc.update(&vec![0u8; zeros as usize]);
        let gz = gzip_of_zeros(zeros, crc.sum());
        let mut sink = ZeroSink::default();
        let n = gzip_decompress(&gz[..], &mut sink, zeros).await.unwrap();
        assert_eq!((n, sink.written), (zeros, zeros));
    }
}

#[tokio::test]
async fn one_gib_bomb_stops_at_the_cap() {
    let bomb = gzip_of_zeros(1 << 30, CRC32_OF_1_GIB_OF_ZEROS);
    let total = bomb.len() as u64;
    assert!(total < 8 << 20, "bomb is {total} bytes");
    let served = Arc::new(AtomicU64::new(0));
    let reader = CountingReader {
        data: bomb,
        pos: 0,
        served: served.clone(),
    };
    let mut sink = ZeroSink::default();
    let cap = 32 << 20;
    let err = gzip_decompress(reader, &mut sink, cap).await.unwrap_err();
    assert!(
        matches!(err, DecompressError::TooLarge { limit } if limit == cap),
        "{err}"
    );
    assert!(sink.written <= cap, "wrote {} bytes past a cap of {cap}", sink.written);
    let read = served.load(Ordering::Relaxed);
    assert!(
        read < total / 4,
        "read {read} of {total} compressed bytes: decompression did not stop at the cap"
    );
}

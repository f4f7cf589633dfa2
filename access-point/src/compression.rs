//! Streaming gzip payload compression and decompression with a decompressed-size cap (EBMS:0303 on failure).
//!
//! AS4 compresses each payload with gzip (`CompressionType` part property `application/gzip`). Both directions
//! stream between an `AsyncRead` and an `AsyncWrite`: flate2 runs on a blocking thread while the async side reads
//! input and writes output, with bounded queues between them, so memory stays at a few hundred KiB whatever the size.
//!
//! Decompression is hostile-input parsing: output beyond `max_decompressed_bytes` stops the work with
//! [`DecompressError::TooLarge`] (a "zip bomb" is detected after at most that many bytes, never materialised), and
//! a truncated stream, a bad CRC or length, a bad header or trailing garbage gives [`DecompressError::Corrupt`]. The
//! message handler maps both to EBMS:0303 DecompressionFailure. Multi-member gzip files (concatenated members, as
//! RFC 1952 allows) are accepted.

use std::io::{self, Read, Write};
use std::path::Path;

use bytes::{Bytes, BytesMut};
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
pub use flate2::Compression;
use tempfile::NamedTempFile;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// Default decompressed-size cap: 2 GiB, the same as the default largest attachment.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: u64 = 2 << 30;

/// Size of the chunks moved between the async side and the flate2 thread.
const CHUNK_BYTES: usize = 64 << 10;

/// Chunks in flight in each direction.
const QUEUE_CHUNKS: usize = 4;

/// Why decompression failed.
#[derive(Debug, thiserror::Error)]
pub enum DecompressError {
    /// The decompressed data exceeds the cap (a probable zip bomb); work stopped at the cap.
    #[error("decompressed payload exceeds {limit} bytes")]
    TooLarge {
        /// The cap in force.
        limit: u64,
    },
    /// The input is not a valid gzip stream: bad header, corrupt deflate data, truncation, CRC or length mismatch,
    /// trailing garbage, or empty input.
    #[error("corrupt gzip data: {0}")]
    Corrupt(String),
    /// Reading the compressed input failed.
    #[error("reading compressed input failed: {0}")]
    Read(#[source] io::Error),
    /// Writing the decompressed output failed.
    #[error("writing decompressed output failed: {0}")]
    Write(#[source] io::Error),
}

/// Compresses `input` to gzip into `output` (which is flushed). Returns the number of compressed bytes written.
pub async fn gzip_compress<R, W>(input: R, output: &mut W, level: Compression) -> io::Result<u64>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (read, written, worked) = run_pipeline(input, output, move |chunks, out| {
        let mut encoder = GzEncoder::new(ChunkWriter { out }, level);
        for chunk in chunks {
            encoder.write_all(&chunk)?;
        }
        encoder.finish()?.flush()
    })
    .await;
    read?;
    let written = written?;
    worked?;
    Ok(written)
}

/// Decompresses the gzip stream `input` into `output` (which is flushed), stopping with
/// [`DecompressError::TooLarge`] once more than `max_decompressed_bytes` would be produced. Returns the
/// decompressed size. On error, `output` may hold a prefix of the data: write to a temporary file and discard it.
pub async fn gzip_decompress<R, W>(
    input: R,
    output: &mut W,
    max_decompressed_bytes: u64,
) -> Result<u64, DecompressError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (read, written, worked) = run_pipeline(input, output, move |chunks, out| {
        decompress_worker(chunks, out, max_decompressed_bytes)
    })
    .await;
    let read = read.map_err(DecompressError::Read)?;
    // A worker error explains a broken output queue better than the queue's own error, except for real write errors.
    match (written, worked) {
        (Err(e), Ok(_)) => Err(DecompressError::Write(e)),
        (_, Err(e)) => Err(e),
        (Ok(n), Ok(())) if read == 0 => {
            debug_assert_eq!(n, 0);
            Err(DecompressError::Corrupt("empty input".into()))
        }
        (Ok(n), Ok(())) => Ok(n),
    }
}

/// Compresses the file `source` into a new temporary file in `spool_dir`. Returns the file and its size.
pub async fn gzip_compress_file(
    source: &Path,
    spool_dir: &Path,
    level: Compression,
) -> io::Result<(NamedTempFile, u64)> {
    let input = tokio::fs::File::open(source).await?;
    let spooled = new_spool_file(spool_dir).await?;
    let mut output = tokio::fs::File::from_std(spooled.reopen()?);
    let size = gzip_compress(input, &mut output, level).await?;
    Ok((spooled, size))
}

/// Decompresses the file `source` into a new temporary file in `spool_dir`, capped at `max_decompressed_bytes`.
/// Returns the file and the decompressed size; on error the temporary file is removed.
pub async fn gzip_decompress_file(
    source: &Path,
    spool_dir: &Path,
    max_decompressed_bytes: u64,
) -> Result<(NamedTempFile, u64), DecompressError> {
    let input = tokio::fs::File::open(source).await.map_err(DecompressError::Read)?;
    let spooled = new_spool_file(spool_dir).await.map_err(DecompressError::Write)?;
    let mut output = tokio::fs::File::from_std(spooled.reopen().map_err(DecompressError::Write)?);
    let size = gzip_decompress(input, &mut output, max_decompressed_bytes).await?;
    Ok((spooled, size))
}

async fn new_spool_file(dir: &Path) -> io::Result<NamedTempFile> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || tempfile::Builder::new().prefix("sdk-ap-gz-").tempfile_in(dir))
        .await
        .map_err(io::Error::other)?
}

fn decompress_worker(chunks: ChunkReceiver, out: mpsc::Sender<Bytes>, limit: u64) -> Result<(), DecompressError> {
    let mut decoder = MultiGzDecoder::new(ChunkReader {
        chunks,
        current: Bytes::new(),
    });
    let mut produced = 0u64;
    let mut buf = vec![0u8; CHUNK_BYTES];
    loop {
        // Never ask for more than one byte past the cap: a bomb is stopped having produced at most limit + 1 bytes.
        let room = usize::try_from(limit.saturating_sub(produced).saturating_add(1)).unwrap_or(usize::MAX);
        let want = buf.len().min(room);
        let n = decoder
            .read(&mut buf[..want])
            .map_err(|e| DecompressError::Corrupt(e.to_string()))?;
        if n == 0 {
            return Ok(());
        }
        produced += n as u64;
        if produced > limit {
            return Err(DecompressError::TooLarge { limit });
        }
        if out.blocking_send(Bytes::copy_from_slice(&buf[..n])).is_err() {
            // The async side stopped writing; it reports its own error.
            return Ok(());
        }
    }
}

/// Input chunks as seen by the flate2 thread.
struct ChunkReceiver(mpsc::Receiver<Bytes>);

impl Iterator for ChunkReceiver {
    type Item = Bytes;
    fn next(&mut self) -> Option<Bytes> {
        self.0.blocking_recv()
    }
}

/// `std::io::Read` over the input queue; the end of the queue is the end of the input.
struct ChunkReader {
    chunks: ChunkReceiver,
    current: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.next() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// `std::io::Write` onto the output queue.
struct ChunkWriter {
    out: mpsc::Sender<Bytes>,
}

impl Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "output side stopped"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs `work` on a blocking thread, feeding it `input` in chunks and writing what it sends to `output`.
/// Returns (bytes read, bytes written, work result); whichever side fails first stops the others through the
/// closed queues, so nothing waits forever.
async fn run_pipeline<R, W, T, F>(mut input: R, output: &mut W, work: F) -> (io::Result<u64>, io::Result<u64>, T)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    T: Send + 'static,
    F: FnOnce(ChunkReceiver, mpsc::Sender<Bytes>) -> T + Send + 'static,
{
    let (in_tx, in_rx) = mpsc::channel::<Bytes>(QUEUE_CHUNKS);
    let (out_tx, out_rx) = mpsc::channel::<Bytes>(QUEUE_CHUNKS);
    let worker = tokio::task::spawn_blocking(move || work(ChunkReceiver(in_rx), out_tx));
    let feed = async move {
        let mut total = 0u64;
        loop {
            let mut buf = BytesMut::with_capacity(CHUNK_BYTES);
            let n = input.read_buf(&mut buf).await?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if in_tx.send(buf.freeze()).await.is_err() {
                break; // the worker stopped; its result says why
            }
        }
        Ok::<u64, io::Error>(total)
    };
    let drain = async {
        // Owning the receiver here drops it when writing fails, which unblocks a worker waiting to send.
        let mut out_rx = out_rx;
        let mut total = 0u64;
        while let Some(chunk) = out_rx.recv().await {
            output.write_all(&chunk).await?;
            total += chunk.len() as u64;
        }
        output.flush().await?;
        Ok::<u64, io::Error>(total)
    };
    let (read, written) = tokio::join!(feed, drain);
    let worked = match worker.await {
        Ok(result) => result,
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(join) => panic!("compression worker cancelled: {join}"),
    };
    (read, written, worked)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn compress(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        gzip_compress(data, &mut out, Compression::default()).await.unwrap();
        out
    }

    async fn decompress(data: &[u8], limit: u64) -> Result<Vec<u8>, DecompressError> {
        let mut out = Vec::new();
        let n = gzip_decompress(data, &mut out, limit).await?;
        assert_eq!(n, out.len() as u64);
        Ok(out)
    }

    #[tokio::test]
    async fn round_trip_and_multi_member() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let gz = compress(&data).await;
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
        assert_eq!(decompress(&gz, data.len() as u64).await.unwrap(), data);
        let mut two = gz.clone();
        two.extend_from_slice(&compress(b"tail").await);
        let mut expected = data.clone();
        expected.extend_from_slice(b"tail");
        assert_eq!(decompress(&two, u64::MAX).await.unwrap(), expected);
        assert_eq!(decompress(&compress(b"").await, 0).await.unwrap(), b"");
    }

    #[tokio::test]
    async fn cap_is_exact() {
        let gz = compress(&[7u8; 1000]).await;
        assert_eq!(decompress(&gz, 1000).await.unwrap().len(), 1000);
        assert!(matches!(
            decompress(&gz, 999).await,
            Err(DecompressError::TooLarge { limit: 999 })
        ));
    }

    #[tokio::test]
    async fn corrupt_inputs() {
        let gz = compress(b"hello hello hello hello").await;
        let mut bad_crc = gz.clone();
        let crc_at = bad_crc.len() - 8;
        bad_crc[crc_at] ^= 1;
        let mut bad_len = gz.clone();
        let len_at = bad_len.len() - 4;
        bad_len[len_at] ^= 1;
        let mut garbage = gz.clone();
        garbage.extend_from_slice(b"garbage");
        let mut bad_magic = gz.clone();
        bad_magic[0] = 0;
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("truncated", gz[..gz.len() - 3].to_vec()),
            ("truncated in header", gz[..5].to_vec()),
            ("bad crc", bad_crc),
            ("bad length", bad_len),
            ("trailing garbage", garbage),
            ("bad magic", bad_magic),
            ("empty", Vec::new()),
            ("not gzip", b"plain text, not gzip at all".to_vec()),
        ];
        for (name, input) in cases {
            assert!(
                matches!(decompress(&input, u64::MAX).await, Err(DecompressError::Corrupt(_))),
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn files_round_trip_through_spool() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("payload");
        std::fs::write(&source, b"payload bytes ".repeat(10_000)).unwrap();
        let (gz, gz_len) = gzip_compress_file(&source, dir.path(), Compression::fast())
            .await
            .unwrap();
        assert_eq!(gz.as_file().metadata().unwrap().len(), gz_len);
        let (plain, size) = gzip_decompress_file(gz.path(), dir.path(), 1 << 20).await.unwrap();
        assert_eq!(size, 140_000);
        assert_eq!(std::fs::read(plain.path()).unwrap(), std::fs::read(&source).unwrap());
        let err = gzip_decompress_file(gz.path(), dir.path(), 1000).await.unwrap_err();
        assert!(matches!(err, DecompressError::TooLarge { limit: 1000 }));
        // Only the source, the compressed and the decompressed file remain: the failed output was removed.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    }
}

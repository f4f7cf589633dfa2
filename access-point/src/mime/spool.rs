//! Spooling of one attachment. A part is first collected in memory; only when it grows past
//! [`SMALL_PART_IN_MEMORY_BYTES`] does a blocking thread take over a temporary file, so that the async reader keeps
//! scanning while the disk write (and, when asked for, the SHA-256) runs in parallel. The SHA-256 of a large part is
//! computed on the way only with [`PartDigests::WhileSpooling`]; otherwise, and always for a small part, it is
//! computed on the first request ([`SpooledPart::sha256`]) and kept: an encrypted part's digest is never used (the
//! signature covers the decrypted content), and hashing 1 GiB costs about 0.6 CPU second. A small part stays in memory and
//! gets a file only when a caller asks for a path ([`SpooledPart::path`]): creating, writing and unlinking a file per
//! 10 KB part was a good share of the kernel time of a message (inode allocation in the spool folder), and the
//! message handler reads small parts from memory anyway.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use bytes::Bytes;
use openssl::sha::Sha256;
use tempfile::NamedTempFile;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Chunks in flight between the reader and the spool thread; bounds the memory a slow disk can make us hold.
const SPOOL_QUEUE_CHUNKS: usize = 4;

/// Parts up to this size are kept in memory, without a file unless a caller asks for a path (a bound on memory per
/// part being read, not a limit on part size: larger parts stream to a spool thread and a file).
pub const SMALL_PART_IN_MEMORY_BYTES: usize = 256 * 1024;

/// When the SHA-256 of a large attachment is computed (a small part's is always computed on request, from memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartDigests {
    /// By the spool thread, in parallel with the disk write: for callers that use every part's digest.
    #[default]
    WhileSpooling,
    /// Only when [`SpooledPart::sha256`] is called, by reading the part back (for callers that rarely need it).
    OnRequest,
}

/// A complete part: its size, hash (if computed while spooling) and where its bytes are.
pub(crate) struct SpooledFile {
    pub(crate) size: u64,
    pub(crate) sha256: Option<[u8; 32]>,
    pub(crate) storage: Storage,
}

/// Where the bytes of a part are.
#[derive(Debug)]
pub(crate) enum Storage {
    /// A small part: in memory; `file` is created in `dir` from `bytes` the first time a caller needs a path.
    Memory {
        bytes: Bytes,
        dir: PathBuf,
        file: OnceLock<NamedTempFile>,
    },
    /// A large part: the spool file (`None` once [`SpooledPart::take_file`] handed it out).
    File(Option<NamedTempFile>),
}

/// Writes one part: in memory while it is small, then through a spool thread.
pub(crate) struct SpoolWriter {
    state: SpoolState,
}

enum SpoolState {
    /// Small so far: the chunks, their total length, where the file will go and whether a spool thread would hash.
    Collecting {
        dir: PathBuf,
        chunks: Vec<Bytes>,
        len: usize,
        digests: PartDigests,
    },
    /// Large: a spool thread owns the file.
    Streaming {
        sender: Option<mpsc::Sender<Bytes>>,
        task: JoinHandle<std::io::Result<SpooledFile>>,
    },
}

/// A small part from its collected `chunks`: joined in memory, no file and no hash yet.
fn collected(dir: PathBuf, chunks: Vec<Bytes>) -> SpooledFile {
    let bytes = match <[Bytes; 1]>::try_from(chunks) {
        Ok([only]) => only,
        Err(chunks) => chunks.concat().into(),
    };
    SpooledFile {
        size: bytes.len() as u64,
        sha256: None,
        storage: Storage::Memory {
            bytes,
            dir,
            file: OnceLock::new(),
        },
    }
}

/// A new temporary spool file in `dir` holding `bytes`.
fn file_with(dir: &Path, bytes: &[u8]) -> std::io::Result<NamedTempFile> {
    let mut file = tempfile::Builder::new().prefix(PART_FILE_PREFIX).tempfile_in(dir)?;
    file.as_file_mut().write_all(bytes)?;
    Ok(file)
}

/// Name prefix of spool files.
const PART_FILE_PREFIX: &str = "sdk-ap-part-";

/// Starts a spool thread that creates the temporary file in `dir` and writes (and, if asked, hashes) every chunk it
/// receives.
fn start_thread(dir: PathBuf, digests: PartDigests) -> (mpsc::Sender<Bytes>, JoinHandle<std::io::Result<SpooledFile>>) {
    let (sender, mut receiver) = mpsc::channel::<Bytes>(SPOOL_QUEUE_CHUNKS);
    let task = tokio::task::spawn_blocking(move || {
        let mut file = tempfile::Builder::new().prefix(PART_FILE_PREFIX).tempfile_in(&dir)?;
        let mut hasher = (digests == PartDigests::WhileSpooling).then(Sha256::new);
        let mut size = 0u64;
        while let Some(chunk) = receiver.blocking_recv() {
            if let Some(hasher) = &mut hasher {
                hasher.update(&chunk);
            }
            file.as_file_mut().write_all(&chunk)?;
            size += chunk.len() as u64;
        }
        file.as_file_mut().flush()?;
        Ok(SpooledFile {
            size,
            sha256: hasher.map(Sha256::finish),
            storage: Storage::File(Some(file)),
        })
    });
    (sender, task)
}

impl SpoolWriter {
    /// A new part whose file will be created in `dir`; `digests` says whether a large part is hashed on the way.
    pub(crate) fn start(dir: &Path, digests: PartDigests) -> Self {
        SpoolWriter {
            state: SpoolState::Collecting {
                dir: dir.to_owned(),
                chunks: Vec::new(),
                len: 0,
                digests,
            },
        }
    }

    /// Queues a chunk; waits while the spool thread is behind. A failed spool thread surfaces its own error.
    pub(crate) async fn write(&mut self, chunk: Bytes) -> std::io::Result<()> {
        if let SpoolState::Collecting {
            dir,
            chunks,
            len,
            digests,
        } = &mut self.state
        {
            if *len + chunk.len() <= SMALL_PART_IN_MEMORY_BYTES {
                *len += chunk.len();
                chunks.push(chunk);
                return Ok(());
            }
            let held = std::mem::take(chunks);
            let (sender, task) = start_thread(std::mem::take(dir), *digests);
            self.state = SpoolState::Streaming {
                sender: Some(sender),
                task,
            };
            for held_chunk in held {
                self.send(held_chunk).await?;
            }
        }
        self.send(chunk).await
    }

    async fn send(&mut self, chunk: Bytes) -> std::io::Result<()> {
        let SpoolState::Streaming { sender, task } = &mut self.state else {
            unreachable!("send is only called once streaming")
        };
        let queue = sender.as_ref().expect("spool writer used after finish");
        if queue.send(chunk).await.is_err() {
            // The thread stopped early: it can only have done so on an I/O error, which finish() reports.
            *sender = None;
            return match task.await {
                Ok(Ok(_)) => Err(std::io::Error::other("spool thread stopped unexpectedly")),
                Ok(Err(e)) => Err(e),
                Err(join) => Err(std::io::Error::other(join)),
            };
        }
        Ok(())
    }

    /// Ends the part and waits for its size, hash and (for a large part) the file.
    pub(crate) async fn finish(self) -> std::io::Result<SpooledFile> {
        match self.state {
            SpoolState::Collecting { dir, chunks, .. } => Ok(collected(dir, chunks)),
            SpoolState::Streaming { sender, task } => {
                drop(sender);
                match task.await {
                    Ok(result) => result,
                    Err(join) => Err(std::io::Error::other(join)),
                }
            }
        }
    }

    /// Abandons the part: the thread stops and the temporary file is removed before this returns.
    pub(crate) async fn abort(self) {
        if let SpoolState::Streaming { sender, task } = self.state {
            drop(sender);
            // The result (and with it the NamedTempFile) is dropped here, which deletes the file.
            let _ = task.await;
        }
    }
}

/// An attachment read by [`read_message`](super::read_message): kept in memory up to [`SMALL_PART_IN_MEMORY_BYTES`],
/// else spooled to a temporary file. Any file (spooled, or created on demand by [`SpooledPart::path`]) is deleted
/// when this value is dropped. Read the content with [`SpooledPart::reader`] or [`SpooledPart::in_memory`]; ask for
/// a path only when a file is really needed, since for a small part that creates one.
#[derive(Debug)]
pub struct SpooledPart {
    /// Content-ID without angle brackets, if the part has one.
    pub content_id: Option<String>,
    /// Content-Type as received, if present.
    pub content_type: Option<String>,
    /// All header fields of the part, in order.
    pub headers: super::PartHeaders,
    /// Size in bytes after transfer decoding.
    pub size: u64,
    /// SHA-256 of the decoded bytes, once computed (while spooling, or on the first [`SpooledPart::sha256`]).
    sha256: OnceLock<[u8; 32]>,
    storage: Storage,
}

impl SpooledPart {
    pub(crate) fn new(
        content_id: Option<String>,
        content_type: Option<String>,
        headers: super::PartHeaders,
        spooled: SpooledFile,
    ) -> SpooledPart {
        SpooledPart {
            content_id,
            content_type,
            headers,
            size: spooled.size,
            sha256: spooled.sha256.map(OnceLock::from).unwrap_or_default(),
            storage: spooled.storage,
        }
    }

    /// SHA-256 of the decoded bytes. Computed at most once: known already for a large part spooled with
    /// [`PartDigests::WhileSpooling`], computed from memory for a small part, else by reading the spool file back
    /// (blocking; in async code prefer [`SpooledPart::sha256_async`]). Fails only if that file cannot be read
    /// (e.g. it was handed out with [`SpooledPart::take_file`]: ask for the digest before).
    pub fn sha256(&self) -> std::io::Result<[u8; 32]> {
        if let Some(known) = self.sha256.get() {
            return Ok(*known);
        }
        let computed = match &self.storage {
            Storage::Memory { bytes, .. } => openssl::sha::sha256(bytes),
            Storage::File(Some(file)) => sha256_of_file(file.path())?,
            Storage::File(None) => return Err(taken()),
        };
        Ok(*self.sha256.get_or_init(|| computed))
    }

    /// [`SpooledPart::sha256`] for async code: a file is read back on a blocking thread.
    pub async fn sha256_async(&self) -> std::io::Result<[u8; 32]> {
        let path = match (self.sha256.get(), &self.storage) {
            (None, Storage::File(Some(file))) => file.path().to_owned(),
            _ => return self.sha256(),
        };
        let computed = tokio::task::spawn_blocking(move || sha256_of_file(&path))
            .await
            .map_err(std::io::Error::other)??;
        Ok(*self.sha256.get_or_init(|| computed))
    }

    /// The decoded bytes, when the part is small enough to be kept in memory (no file is involved).
    pub fn in_memory(&self) -> Option<&Bytes> {
        match &self.storage {
            Storage::Memory { bytes, .. } => Some(bytes),
            Storage::File(_) => None,
        }
    }

    /// Whether a file holds the content (a large part, or a small one whose path was asked for).
    pub fn has_file(&self) -> bool {
        match &self.storage {
            Storage::Memory { file, .. } => file.get().is_some(),
            Storage::File(file) => file.is_some(),
        }
    }

    /// A reader of the decoded content from the start: from memory for a small part, else from its file.
    pub async fn reader(&self) -> std::io::Result<PartReader> {
        match &self.storage {
            Storage::Memory { bytes, .. } => Ok(PartReader::Memory(bytes.clone())),
            Storage::File(Some(file)) => Ok(PartReader::File(tokio::fs::File::open(file.path()).await?)),
            Storage::File(None) => Err(taken()),
        }
    }

    /// Path of a file holding the decoded content. For a part kept in memory the file is created (in the spool
    /// folder given to the reader) on the first call; prefer [`SpooledPart::reader`] when a stream will do.
    pub fn path(&self) -> std::io::Result<&Path> {
        match &self.storage {
            Storage::Memory { bytes, dir, file } => {
                if let Some(existing) = file.get() {
                    return Ok(existing.path());
                }
                let created = file_with(dir, bytes)?;
                // Another thread may have won the race; its file is as good, ours is dropped (deleted).
                Ok(file.get_or_init(|| created).path())
            }
            Storage::File(Some(file)) => Ok(file.path()),
            Storage::File(None) => Err(taken()),
        }
    }

    /// Opens a file holding the content for reading from the start (creating it for a part kept in memory).
    pub async fn open(&self) -> std::io::Result<tokio::fs::File> {
        tokio::fs::File::open(self.path()?).await
    }

    /// A reader of the decoded content from the start that reads a large part's file ahead on one blocking thread
    /// in [`READ_AHEAD_CHUNK_BYTES`] chunks (at most [`READ_AHEAD_QUEUE_CHUNKS`] queued), instead of a hop to the
    /// blocking pool per read as a `tokio::fs::File` takes; the reading then runs beside the consumer (e.g. the
    /// decryption of a 1 GiB part). A small part is read from memory.
    pub fn read_ahead(&self) -> std::io::Result<ReadAhead> {
        let path = match &self.storage {
            Storage::Memory { bytes, .. } => {
                return Ok(ReadAhead {
                    current: bytes.clone(),
                    chunks: None,
                })
            }
            Storage::File(Some(file)) => file.path(),
            Storage::File(None) => return Err(taken()),
        };
        let mut file = std::fs::File::open(path)?;
        let (sender, chunks) = mpsc::channel::<std::io::Result<Bytes>>(READ_AHEAD_QUEUE_CHUNKS);
        tokio::task::spawn_blocking(move || loop {
            let chunk = read_chunk(&mut file);
            let end = matches!(&chunk, Ok(c) if c.is_empty()) || chunk.is_err();
            // A send fails only when the reader was dropped: stop reading then.
            if sender.blocking_send(chunk).is_err() || end {
                return;
            }
        });
        Ok(ReadAhead {
            current: Bytes::new(),
            chunks: Some(chunks),
        })
    }

    /// Hands the content's file over to the caller (who then owns its deletion); for a part kept in memory a file
    /// is created. Afterwards the part keeps its metadata, but a large part no longer has content to read.
    pub fn take_file(&mut self) -> std::io::Result<NamedTempFile> {
        match &mut self.storage {
            Storage::Memory { bytes, dir, file } => match file.take() {
                Some(existing) => Ok(existing),
                None => file_with(dir, bytes),
            },
            Storage::File(file) => file.take().ok_or_else(taken),
        }
    }
}

/// Bytes per read of [`SpooledPart::read_ahead`].
pub const READ_AHEAD_CHUNK_BYTES: usize = 256 * 1024;
/// Chunks [`SpooledPart::read_ahead`] reads before its consumer takes them (bounds its memory to about 1 MiB).
pub const READ_AHEAD_QUEUE_CHUNKS: usize = 3;

/// Reads up to [`READ_AHEAD_CHUNK_BYTES`] (fewer only at the end of the file; empty at its end).
fn read_chunk(file: &mut std::fs::File) -> std::io::Result<Bytes> {
    let mut chunk = bytes::BytesMut::zeroed(READ_AHEAD_CHUNK_BYTES);
    let mut filled = 0;
    while filled < chunk.len() {
        match file.read(&mut chunk[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    chunk.truncate(filled);
    Ok(chunk.freeze())
}

/// The content of a [`SpooledPart`], read ahead (see [`SpooledPart::read_ahead`]).
#[derive(Debug)]
pub struct ReadAhead {
    /// What is left of the chunk being consumed.
    current: Bytes,
    /// Chunks from the reading thread (`None` for a part in memory, or once the end was seen).
    chunks: Option<mpsc::Receiver<std::io::Result<Bytes>>>,
}

impl AsyncRead for ReadAhead {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        while this.current.is_empty() {
            let Some(chunks) = this.chunks.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            match chunks.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) if !chunk.is_empty() => this.current = chunk,
                Poll::Ready(Some(Err(e))) => {
                    this.chunks = None;
                    return Poll::Ready(Err(e));
                }
                // The end of the file, or the reading thread is gone without saying why (it always sends the end
                // or an error first, so this is only the end).
                Poll::Ready(Some(Ok(_))) | Poll::Ready(None) => this.chunks = None,
            }
        }
        let n = this.current.len().min(buf.remaining());
        buf.put_slice(&this.current.split_to(n));
        Poll::Ready(Ok(()))
    }
}

/// Bytes read from a spool file per call when hashing it back.
const HASH_READ_BYTES: usize = 256 * 1024;

fn sha256_of_file(path: &Path) -> std::io::Result<[u8; 32]> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; HASH_READ_BYTES];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => return Ok(hasher.finish()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
    }
}

fn taken() -> std::io::Error {
    std::io::Error::other("the part's spool file was already handed out")
}

/// The content of a [`SpooledPart`] as an `AsyncRead`.
#[derive(Debug)]
pub enum PartReader {
    /// A small part, read from memory.
    Memory(Bytes),
    /// A large part, read from its spool file.
    File(tokio::fs::File),
}

impl AsyncRead for PartReader {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            PartReader::Memory(bytes) => {
                let n = bytes.len().min(buf.remaining());
                buf.put_slice(&bytes.split_to(n));
                Poll::Ready(Ok(()))
            }
            PartReader::File(file) => Pin::new(file).poll_read(cx, buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn part(spooled: SpooledFile) -> SpooledPart {
        SpooledPart::new(None, None, super::super::PartHeaders::new(), spooled)
    }

    async fn spool(dir: &Path, chunks: &[Bytes]) -> SpooledPart {
        spool_with(dir, chunks, PartDigests::WhileSpooling).await
    }

    async fn spool_with(dir: &Path, chunks: &[Bytes], digests: PartDigests) -> SpooledPart {
        let mut writer = SpoolWriter::start(dir, digests);
        for chunk in chunks {
            writer.write(chunk.clone()).await.unwrap();
        }
        part(writer.finish().await.unwrap())
    }

    fn files_in(dir: &Path) -> usize {
        std::fs::read_dir(dir).unwrap().count()
    }

    async fn read_all(part: &SpooledPart) -> Vec<u8> {
        let mut out = Vec::new();
        part.reader().await.unwrap().read_to_end(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn a_small_part_stays_in_memory_without_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let chunks = [Bytes::from_static(b"hello "), Bytes::from_static(b"world")];
        let p = spool(dir.path(), &chunks).await;
        assert_eq!(files_in(dir.path()), 0, "a small part must not create a file");
        assert!(!p.has_file());
        assert_eq!(p.size, 11);
        assert!(p.sha256.get().is_none(), "a small part is hashed only on request");
        assert_eq!(p.sha256().unwrap(), openssl::sha::sha256(b"hello world"));
        assert_eq!(p.in_memory().unwrap().as_ref(), b"hello world");
        assert_eq!(read_all(&p).await, b"hello world");
        assert_eq!(files_in(dir.path()), 0, "reading must not create a file");
    }

    #[tokio::test]
    async fn asking_for_a_path_creates_one_file_with_the_exact_bytes_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let content: Vec<u8> = (0..10_240u32).map(|i| (i * 7) as u8).collect();
        let p = spool(dir.path(), &[Bytes::from(content.clone())]).await;
        let path = p.path().unwrap().to_path_buf();
        assert!(path.starts_with(dir.path()));
        assert_eq!(std::fs::read(&path).unwrap(), content);
        assert_eq!(p.path().unwrap(), path, "the file is created once");
        assert_eq!(files_in(dir.path()), 1);
        let mut opened = Vec::new();
        p.open().await.unwrap().read_to_end(&mut opened).await.unwrap();
        assert_eq!(opened, content);
        drop(p);
        assert_eq!(files_in(dir.path()), 0);
    }

    #[tokio::test]
    async fn a_large_part_is_spooled_to_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let chunk = Bytes::from(vec![0x5a; 100 * 1024]);
        let chunks = [chunk.clone(), chunk.clone(), chunk.clone()];
        let p = spool(dir.path(), &chunks).await;
        assert!(p.in_memory().is_none());
        assert!(p.has_file());
        assert_eq!(files_in(dir.path()), 1);
        assert_eq!(p.size, 300 * 1024);
        let expected = vec![0x5a; 300 * 1024];
        assert_eq!(std::fs::read(p.path().unwrap()).unwrap(), expected);
        assert_eq!(read_all(&p).await, expected);
        assert!(p.sha256.get().is_some(), "hashed by the spool thread");
        assert_eq!(p.sha256().unwrap(), openssl::sha::sha256(&expected));
        drop(p);
        assert_eq!(files_in(dir.path()), 0);
    }

    #[tokio::test]
    async fn take_file_hands_over_the_content_once_for_a_large_part() {
        let dir = tempfile::tempdir().unwrap();
        let mut small = spool(dir.path(), &[Bytes::from_static(b"small")]).await;
        let file = small.take_file().unwrap();
        assert_eq!(std::fs::read(file.path()).unwrap(), b"small");
        assert_eq!(read_all(&small).await, b"small", "a small part keeps its bytes");
        let big = Bytes::from(vec![1u8; SMALL_PART_IN_MEMORY_BYTES + 1]);
        let mut large = spool(dir.path(), std::slice::from_ref(&big)).await;
        let file = large.take_file().unwrap();
        assert_eq!(std::fs::read(file.path()).unwrap(), big);
        assert!(large.take_file().is_err());
        assert!(large.path().is_err());
        assert!(large.reader().await.is_err());
    }

    #[tokio::test]
    async fn read_ahead_yields_the_exact_content_of_small_and_large_parts() {
        let dir = tempfile::tempdir().unwrap();
        for len in [
            0usize,
            5,
            SMALL_PART_IN_MEMORY_BYTES + 1,
            3 * READ_AHEAD_CHUNK_BYTES,
            5 * READ_AHEAD_CHUNK_BYTES + 7,
        ] {
            let content: Vec<u8> = (0..len).map(|i| (i * 7 % 253) as u8).collect();
            let chunks: Vec<Bytes> = content.chunks(100_000).map(Bytes::copy_from_slice).collect();
            let p = spool_with(dir.path(), &chunks, PartDigests::OnRequest).await;
            let mut read = Vec::new();
            p.read_ahead().unwrap().read_to_end(&mut read).await.unwrap();
            assert_eq!(read, content, "{len} bytes");
            // A reader dropped before the end stops its thread and leaves the file to the part.
            let mut partial = [0u8; 3];
            if len >= 3 {
                p.read_ahead().unwrap().read_exact(&mut partial).await.unwrap();
                assert_eq!(partial[..], content[..3]);
            }
            drop(p);
            assert_eq!(files_in(dir.path()), 0);
        }
        let mut taken = spool(dir.path(), &[Bytes::from(vec![1u8; SMALL_PART_IN_MEMORY_BYTES + 1])]).await;
        taken.take_file().unwrap();
        assert!(taken.read_ahead().is_err());
    }

    #[tokio::test]
    async fn an_aborted_large_part_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = SpoolWriter::start(dir.path(), PartDigests::WhileSpooling);
        writer
            .write(Bytes::from(vec![0u8; SMALL_PART_IN_MEMORY_BYTES + 1]))
            .await
            .unwrap();
        writer.abort().await;
        assert_eq!(files_in(dir.path()), 0);
    }

    #[tokio::test]
    async fn a_large_part_spooled_without_digest_is_hashed_from_its_file_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let content: Vec<u8> = (0..(SMALL_PART_IN_MEMORY_BYTES as u32 * 3 + 17))
            .map(|i| (i % 251) as u8)
            .collect();
        let chunks: Vec<Bytes> = content.chunks(100_000).map(Bytes::copy_from_slice).collect();
        let p = spool_with(dir.path(), &chunks, PartDigests::OnRequest).await;
        assert!(p.sha256.get().is_none(), "not hashed while spooling");
        assert_eq!(p.sha256_async().await.unwrap(), openssl::sha::sha256(&content));
        let mut q = spool_with(dir.path(), &chunks, PartDigests::OnRequest).await;
        assert_eq!(q.sha256().unwrap(), openssl::sha::sha256(&content));
        q.take_file().unwrap();
        assert_eq!(
            q.sha256().unwrap(),
            openssl::sha::sha256(&content),
            "kept once computed"
        );
        let mut r = spool_with(dir.path(), &chunks, PartDigests::OnRequest).await;
        r.take_file().unwrap();
        assert!(r.sha256().is_err(), "no content left to hash");
        assert!(r.sha256_async().await.is_err());
    }
}

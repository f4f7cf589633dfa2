//! Spooling of one attachment to a temporary file, hashing (SHA-256) the bytes on the way. A part is first collected
//! in memory; only when it grows past [`SMALL_PART_IN_MEMORY_BYTES`] does a blocking thread take over the file, so
//! that the async reader keeps scanning while the disk write and the hash run in parallel. A small part is written
//! with plain file calls when it ends: for a 10 KB part a hop to tokio's blocking pool (and the wake-ups of a
//! channel) cost more than writing it, and on a loaded host each hop can wait a whole scheduler slice.

use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use openssl::sha::Sha256;
use tempfile::NamedTempFile;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Chunks in flight between the reader and the spool thread; bounds the memory a slow disk can make us hold.
const SPOOL_QUEUE_CHUNKS: usize = 4;

/// Parts up to this size are collected in memory and written to their spool file in one call at the end (a bound
/// on memory per part being read, not a limit on part size: larger parts stream to a spool thread).
pub const SMALL_PART_IN_MEMORY_BYTES: usize = 256 * 1024;

/// What the spool thread produces when the part is complete.
pub(crate) struct SpooledFile {
    pub(crate) file: NamedTempFile,
    pub(crate) size: u64,
    pub(crate) sha256: [u8; 32],
    /// The same bytes, when the part was small enough to be collected in memory.
    pub(crate) memory: Option<Bytes>,
}

/// Writes one part: in memory while it is small, then through a spool thread.
pub(crate) struct SpoolWriter {
    state: SpoolState,
}

enum SpoolState {
    /// Small so far: the chunks, their total length and where the file will go.
    Collecting {
        dir: PathBuf,
        chunks: Vec<Bytes>,
        len: usize,
    },
    /// Large: a spool thread owns the file.
    Streaming {
        sender: Option<mpsc::Sender<Bytes>>,
        task: JoinHandle<std::io::Result<SpooledFile>>,
    },
}

/// Writes `chunks` to a new temporary file in `dir`, hashing them (plain file calls, on the caller's thread).
fn write_collected(dir: &Path, chunks: &[Bytes]) -> std::io::Result<SpooledFile> {
    let mut file = tempfile::Builder::new().prefix("sdk-ap-part-").tempfile_in(dir)?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    for chunk in chunks {
        hasher.update(chunk);
        file.as_file_mut().write_all(chunk)?;
        size += chunk.len() as u64;
    }
    Ok(SpooledFile {
        file,
        size,
        sha256: hasher.finish(),
        memory: Some(chunks.concat().into()),
    })
}

/// Starts a spool thread that creates the temporary file in `dir` and writes every chunk it receives.
fn start_thread(dir: PathBuf) -> (mpsc::Sender<Bytes>, JoinHandle<std::io::Result<SpooledFile>>) {
    let (sender, mut receiver) = mpsc::channel::<Bytes>(SPOOL_QUEUE_CHUNKS);
    let task = tokio::task::spawn_blocking(move || {
        let mut file = tempfile::Builder::new().prefix("sdk-ap-part-").tempfile_in(&dir)?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = receiver.blocking_recv() {
            hasher.update(&chunk);
            file.as_file_mut().write_all(&chunk)?;
            size += chunk.len() as u64;
        }
        file.as_file_mut().flush()?;
        Ok(SpooledFile {
            file,
            size,
            sha256: hasher.finish(),
            memory: None,
        })
    });
    (sender, task)
}

impl SpoolWriter {
    /// A new part whose file will be created in `dir`.
    pub(crate) fn start(dir: &Path) -> Self {
        SpoolWriter {
            state: SpoolState::Collecting {
                dir: dir.to_owned(),
                chunks: Vec::new(),
                len: 0,
            },
        }
    }

    /// Queues a chunk; waits while the spool thread is behind. A failed spool thread surfaces its own error.
    pub(crate) async fn write(&mut self, chunk: Bytes) -> std::io::Result<()> {
        if let SpoolState::Collecting { dir, chunks, len } = &mut self.state {
            if *len + chunk.len() <= SMALL_PART_IN_MEMORY_BYTES {
                *len += chunk.len();
                chunks.push(chunk);
                return Ok(());
            }
            let held = std::mem::take(chunks);
            let (sender, task) = start_thread(std::mem::take(dir));
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

    /// Ends the part and waits for the file, its size and hash.
    pub(crate) async fn finish(self) -> std::io::Result<SpooledFile> {
        match self.state {
            SpoolState::Collecting { dir, chunks, .. } => write_collected(&dir, &chunks),
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

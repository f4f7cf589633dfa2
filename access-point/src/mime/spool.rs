//! Spooling of one attachment to a temporary file on a blocking thread, hashing (SHA-256) the bytes on the way, so
//! that the async reader keeps scanning while the disk write and the hash run in parallel.

use std::io::Write;
use std::path::Path;

use bytes::Bytes;
use openssl::sha::Sha256;
use tempfile::NamedTempFile;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Chunks in flight between the reader and the spool thread; bounds the memory a slow disk can make us hold.
const SPOOL_QUEUE_CHUNKS: usize = 4;

/// What the spool thread produces when the part is complete.
pub(crate) struct SpooledFile {
    pub(crate) file: NamedTempFile,
    pub(crate) size: u64,
    pub(crate) sha256: [u8; 32],
}

/// Handle to a spool thread writing one part.
pub(crate) struct SpoolWriter {
    sender: Option<mpsc::Sender<Bytes>>,
    task: JoinHandle<std::io::Result<SpooledFile>>,
}

impl SpoolWriter {
    /// Creates the temporary file in `dir` (on the spool thread) and starts accepting chunks.
    pub(crate) fn start(dir: &Path) -> Self {
        let (sender, mut receiver) = mpsc::channel::<Bytes>(SPOOL_QUEUE_CHUNKS);
        let dir = dir.to_owned();
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
            })
        });
        SpoolWriter {
            sender: Some(sender),
            task,
        }
    }

    /// Queues a chunk; waits while the spool thread is behind. A failed spool thread surfaces its own error.
    pub(crate) async fn write(&mut self, chunk: Bytes) -> std::io::Result<()> {
        let sender = self.sender.as_ref().expect("spool writer used after finish");
        if sender.send(chunk).await.is_err() {
            // The thread stopped early: it can only have done so on an I/O error, which finish() reports.
            self.sender = None;
            return match (&mut self.task).await {
                Ok(Ok(_)) => Err(std::io::Error::other("spool thread stopped unexpectedly")),
                Ok(Err(e)) => Err(e),
                Err(join) => Err(std::io::Error::other(join)),
            };
        }
        Ok(())
    }

    /// Ends the part and waits for the file, its size and hash.
    pub(crate) async fn finish(mut self) -> std::io::Result<SpooledFile> {
        self.sender = None;
        match (&mut self.task).await {
            Ok(result) => result,
            Err(join) => Err(std::io::Error::other(join)),
        }
    }

    /// Abandons the part: the thread stops and the temporary file is removed before this returns.
    pub(crate) async fn abort(mut self) {
        self.sender = None;
        // The result (and with it the NamedTempFile) is dropped here, which deletes the file.
        let _ = (&mut self.task).await;
    }
}

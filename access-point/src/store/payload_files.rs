//! Payload files: one folder per message under `data_dir/payloads/<key as 16 hex digits>/`, one file per part.
//!
//! A part is streamed into a temporary file (`.tmp-<part>-<random>`) in the message's folder, fsynced, renamed to
//! its final name (`<part>.bin`) and the folder fsynced, so a final name only ever denotes a complete file. A file is
//! referenced by a record only after this returns, and the record is acknowledged only after the database flush, so
//! no acknowledged record ever points at a half-written file. Interrupted writes leave `.tmp-*` files and folders
//! without a record; [`PayloadFiles::sweep`] (run by `Store::recover` at start) removes both.
//!
//! A new message folder's name is made durable in `payloads/` before its part is reported written, by an fsync of
//! `payloads/` that concurrent writers share: a writer whose folder was created before an fsync of `payloads/`
//! began needs no fsync of its own (a group commit on the folder, see [`RootSync`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use openssl::sha::Sha256;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::error::{StoreError, StoreResult};
use super::types::{MessageKey, PayloadPart};

/// Name of the payload folder inside the data directory.
pub const PAYLOADS_DIR: &str = "payloads";
const TEMP_PREFIX: &str = ".tmp-";
const COPY_CHUNK: usize = 64 * 1024;
/// Parts up to this size are written in one blocking-pool task from memory (one hop instead of one per file call).
pub const SMALL_PART_BYTES: usize = 256 * 1024;

/// The payload folder tree of one data directory.
#[derive(Debug, Clone)]
pub struct PayloadFiles {
    data_dir: PathBuf,
    root: PathBuf,
    root_sync: Arc<RootSync>,
}

/// Shares fsyncs of the payload folder `payloads/` between writers that created message folders in it.
///
/// A writer counts its folder in `created` after `mkdir` returned (its ticket) and, once its part is written and
/// its own folder fsynced, takes `synced` (the count of folders an fsync of `payloads/` has covered). When that count
/// already includes its ticket, an fsync that began after its `mkdir` has completed and it is done; else it reads
/// `created` (every folder counted so far is complete), fsyncs `payloads/` and records that count. Waiting until the
/// part is written gives other writers' folders time to be counted, so concurrent messages share one fsync of
/// `payloads/`: fewer fsyncs, never fewer guarantees (each one still completes before the part is reported
/// written, so before any record refers to it).
#[derive(Debug, Default)]
struct RootSync {
    created: AtomicU64,
    synced: Mutex<u64>,
    fsyncs: AtomicU64,
}

/// A message folder whose name is not yet known to be durable in `payloads/`.
#[must_use]
struct NewFolder(u64);

impl RootSync {
    /// Counts a folder whose `mkdir` has returned.
    fn folder_created(&self) -> NewFolder {
        NewFolder(self.created.fetch_add(1, Ordering::SeqCst) + 1)
    }

    /// Returns once the name of `folder` (if one was created) is durable in `root`.
    fn make_durable(&self, root: &Path, folder: Option<NewFolder>) -> StoreResult<()> {
        let Some(NewFolder(mine)) = folder else {
            return Ok(());
        };
        let mut synced = self.synced.lock().unwrap_or_else(|p| p.into_inner());
        if *synced >= mine {
            return Ok(());
        }
        let covered = self.created.load(Ordering::SeqCst);
        fsync_dir(root)?;
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        *synced = covered;
        Ok(())
    }
}

/// What a sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub temp_files_removed: u64,
    pub orphan_dirs_removed: u64,
}

impl PayloadFiles {
    /// Opens (creating when needed) `data_dir/payloads`.
    pub fn open(data_dir: &Path) -> StoreResult<PayloadFiles> {
        let root = data_dir.join(PAYLOADS_DIR);
        if !root.is_dir() {
            std::fs::create_dir_all(&root).map_err(|e| StoreError::io(format!("creating {}", root.display()), e))?;
            fsync_dir(data_dir)?;
        }
        Ok(PayloadFiles {
            data_dir: data_dir.to_path_buf(),
            root,
            root_sync: Arc::default(),
        })
    }

    /// Number of fsyncs of `payloads/` run for new message folders so far (for measurements and tests).
    pub fn folder_fsyncs(&self) -> u64 {
        self.root_sync.fsyncs.load(Ordering::Relaxed)
    }

    /// The folder that holds the parts of `key`.
    pub fn message_dir(&self, key: MessageKey) -> PathBuf {
        self.root.join(key.to_hex())
    }

    /// Streams `reader` into part number `index` of message `key`, durably, and describes the file. Fails with
    /// [`StoreError::PayloadTooLarge`] (leaving nothing behind) when more than `max_size` bytes arrive.
    ///
    /// A part of at most [`SMALL_PART_BYTES`] is collected in memory and written, fsynced, renamed and its folder
    /// fsynced in one task on the blocking pool; a larger one streams through tokio's file API.
    pub async fn write_part<R>(
        &self,
        key: MessageKey,
        index: u32,
        content_id: &str,
        mime_type: &str,
        reader: &mut R,
        max_size: u64,
    ) -> StoreResult<PayloadPart>
    where
        R: AsyncRead + Unpin + ?Sized,
    {
        let mut head = Vec::new();
        let limit = (SMALL_PART_BYTES as u64).min(max_size) + 1;
        (&mut *reader)
            .take(limit)
            .read_to_end(&mut head)
            .await
            .map_err(|e| StoreError::io("reading payload source", e))?;
        let dir = self.message_dir(key);
        let final_name = format!("{index}.bin");
        if head.len() as u64 > max_size {
            return Err(StoreError::PayloadTooLarge { limit: max_size });
        }
        if head.len() <= SMALL_PART_BYTES {
            let (root, root_sync) = (self.root.clone(), self.root_sync.clone());
            let (size, sha256) =
                blocking(move || write_small_part(&root, &root_sync, &dir, key, index, &final_name, &head)).await?;
            return Ok(self.describe(key, content_id, mime_type, size, sha256, index));
        }
        let folder = self.ensure_message_dir(&dir).await?;
        let temp = dir.join(format!("{TEMP_PREFIX}{index}-{}", uuid::Uuid::new_v4().simple()));
        let mut source = (&head[..]).chain(reader);
        let result = write_temp(&temp, &mut source, max_size).await;
        let (size, sha256) = match result {
            Ok(v) => v,
            Err(e) => {
                let _ = tokio::fs::remove_file(&temp).await;
                return Err(e);
            }
        };
        let (root, root_sync) = (self.root.clone(), self.root_sync.clone());
        blocking(move || {
            publish(&temp, &dir, &final_name, index, key)?;
            root_sync.make_durable(&root, folder)
        })
        .await?;
        Ok(self.describe(key, content_id, mime_type, size, sha256, index))
    }

    /// Makes the complete, verified file `source` part number `index` of message `key` without copying it: the file
    /// is fsynced, hard-linked under its final name (never replacing one) and the folder fsynced, in one task on
    /// the blocking pool. `source` must be on the data directory's file system (the node's spool folder is inside
    /// it); across file systems it is copied instead. `size` and `sha256` are the caller's figures for the file
    /// (computed while it was written). The caller keeps `source` and removes it as usual.
    #[allow(clippy::too_many_arguments)]
    pub async fn adopt_part(
        &self,
        key: MessageKey,
        index: u32,
        content_id: &str,
        mime_type: &str,
        source: &Path,
        size: u64,
        sha256: &[u8; 32],
    ) -> StoreResult<PayloadPart> {
        let dir = self.message_dir(key);
        let (root, root_sync) = (self.root.clone(), self.root_sync.clone());
        let source = source.to_path_buf();
        let final_name = format!("{index}.bin");
        blocking(move || {
            let folder = create_message_dir(&root_sync, &dir)?;
            let target = dir.join(&final_name);
            std::fs::File::open(&source)
                .and_then(|f| f.sync_all())
                .map_err(|e| StoreError::io(format!("fsync {}", source.display()), e))?;
            let linked = match std::fs::hard_link(&source, &target) {
                Ok(()) => fsync_dir(&dir),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(already_written(index, key)),
                Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
                    let temp = dir.join(format!("{TEMP_PREFIX}{index}-{}", uuid::Uuid::new_v4().simple()));
                    let copied = std::fs::copy(&source, &temp)
                        .and_then(|_| std::fs::File::open(&temp))
                        .and_then(|f| f.sync_all());
                    if let Err(e) = copied {
                        let _ = std::fs::remove_file(&temp);
                        return Err(StoreError::io(format!("copying {}", source.display()), e));
                    }
                    publish(&temp, &dir, &final_name, index, key)
                }
                Err(e) => Err(StoreError::io(
                    format!("linking {} as {}", source.display(), target.display()),
                    e,
                )),
            };
            linked?;
            root_sync.make_durable(&root, folder)
        })
        .await?;
        Ok(self.describe(key, content_id, mime_type, size, hex(sha256), index))
    }

    async fn ensure_message_dir(&self, dir: &Path) -> StoreResult<Option<NewFolder>> {
        let root_sync = self.root_sync.clone();
        let dir = dir.to_path_buf();
        blocking(move || create_message_dir(&root_sync, &dir)).await
    }

    fn describe(
        &self,
        key: MessageKey,
        content_id: &str,
        mime_type: &str,
        size: u64,
        sha256: String,
        index: u32,
    ) -> PayloadPart {
        PayloadPart {
            content_id: content_id.to_string(),
            mime_type: mime_type.to_string(),
            size,
            sha256,
            file: format!("{PAYLOADS_DIR}/{}/{index}.bin", key.to_hex()),
        }
    }

    /// The absolute path of a stored part, refusing paths that would leave the message's own folder.
    pub fn path_of(&self, key: MessageKey, part: &PayloadPart) -> StoreResult<PathBuf> {
        let prefix = format!("{PAYLOADS_DIR}/{}/", key.to_hex());
        let name = part
            .file
            .strip_prefix(&prefix)
            .filter(|n| !n.is_empty() && !n.contains('/') && !n.contains('\\') && !n.starts_with('.'))
            .ok_or_else(|| StoreError::InvalidRecord(format!("payload path {:?} is not under {prefix}", part.file)))?;
        Ok(self.data_dir.join(PAYLOADS_DIR).join(key.to_hex()).join(name))
    }

    /// Opens a stored part for streaming.
    pub async fn open_part(&self, key: MessageKey, part: &PayloadPart) -> StoreResult<tokio::fs::File> {
        let path = self.path_of(key, part)?;
        tokio::fs::File::open(&path)
            .await
            .map_err(|e| StoreError::io(format!("opening {}", path.display()), e))
    }

    /// Re-reads a stored part and checks its size and SHA-256 against the record.
    pub async fn verify_part(&self, key: MessageKey, part: &PayloadPart) -> StoreResult<bool> {
        let mut file = self.open_part(key, part).await?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; COPY_CHUNK];
        let mut size = 0u64;
        loop {
            let n = file
                .read(&mut buf)
                .await
                .map_err(|e| StoreError::io("reading payload", e))?;
            if n == 0 {
                break;
            }
            size += n as u64;
            hasher.update(&buf[..n]);
        }
        Ok(size == part.size && hex(&hasher.finish()) == part.sha256)
    }

    /// Removes the folder of `key` and everything in it (a duplicate's staged parts, or a purged message).
    /// Returns the number of files removed.
    pub async fn remove_message(&self, key: MessageKey) -> StoreResult<u64> {
        let dir = self.message_dir(key);
        let root = self.root.clone();
        blocking(move || {
            let removed = remove_dir_counting(&dir)?;
            if removed > 0 || dir.exists() {
                fsync_dir(&root)?;
            }
            Ok(removed)
        })
        .await
    }

    /// Removes temporary files everywhere and the folders of messages for which `has_record` is false. Only safe
    /// while nothing writes payloads (at start, before the pipelines run).
    pub fn sweep(&self, has_record: impl Fn(MessageKey) -> StoreResult<bool>) -> StoreResult<SweepReport> {
        let mut report = SweepReport::default();
        let entries =
            std::fs::read_dir(&self.root).map_err(|e| StoreError::io(format!("listing {}", self.root.display()), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io("listing payloads", e))?;
            let path = entry.path();
            let Some(key) = entry.file_name().to_str().and_then(MessageKey::from_hex) else {
                tracing::warn!(path = %path.display(), "unexpected entry in the payload folder left alone");
                continue;
            };
            if !path.is_dir() {
                continue;
            }
            if !has_record(key)? {
                remove_dir_counting(&path)?;
                report.orphan_dirs_removed += 1;
                continue;
            }
            let mut removed_here = false;
            for file in
                std::fs::read_dir(&path).map_err(|e| StoreError::io(format!("listing {}", path.display()), e))?
            {
                let file = file.map_err(|e| StoreError::io("listing payloads", e))?;
                if file.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                    std::fs::remove_file(file.path())
                        .map_err(|e| StoreError::io(format!("removing {}", file.path().display()), e))?;
                    report.temp_files_removed += 1;
                    removed_here = true;
                }
            }
            if removed_here {
                fsync_dir(&path)?;
            }
        }
        if report.orphan_dirs_removed > 0 {
            fsync_dir(&self.root)?;
        }
        Ok(report)
    }
}

/// Creates the folder of a message unless it exists; the caller makes a new folder's name durable with
/// [`RootSync::make_durable`] before it reports the part written.
fn create_message_dir(root_sync: &RootSync, dir: &Path) -> StoreResult<Option<NewFolder>> {
    if dir.is_dir() {
        return Ok(None);
    }
    std::fs::create_dir_all(dir).map_err(|e| StoreError::io(format!("creating {}", dir.display()), e))?;
    Ok(Some(root_sync.folder_created()))
}

fn already_written(index: u32, key: MessageKey) -> StoreError {
    StoreError::InvalidRecord(format!("part {index} of message {key} is already written"))
}

/// Gives the complete, fsynced `temp` its final name in `dir` (never replacing a stored part) and fsyncs `dir`.
/// `temp` is removed when it cannot be published.
fn publish(temp: &Path, dir: &Path, final_name: &str, index: u32, key: MessageKey) -> StoreResult<()> {
    let target = dir.join(final_name);
    // A hard link fails when the name exists, so a stored part is never replaced (a record may refer to it).
    let linked = std::fs::hard_link(temp, &target);
    let _ = std::fs::remove_file(temp);
    match linked {
        Ok(()) => fsync_dir(dir),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(already_written(index, key)),
        Err(e) => Err(StoreError::io(
            format!("linking {} as {}", temp.display(), target.display()),
            e,
        )),
    }
}

/// Writes a small part held in memory: temporary file, fsync, final name, folder fsync.
fn write_small_part(
    root: &Path,
    root_sync: &RootSync,
    dir: &Path,
    key: MessageKey,
    index: u32,
    final_name: &str,
    data: &[u8],
) -> StoreResult<(u64, String)> {
    use std::io::Write;
    let folder = create_message_dir(root_sync, dir)?;
    let temp = dir.join(format!("{TEMP_PREFIX}{index}-{}", uuid::Uuid::new_v4().simple()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .and_then(|mut f| {
            f.write_all(data)?;
            f.sync_all()
        });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(StoreError::io(format!("writing {}", temp.display()), e));
    }
    publish(&temp, dir, final_name, index, key)?;
    root_sync.make_durable(root, folder)?;
    Ok((data.len() as u64, hex(&openssl::sha::sha256(data))))
}

async fn write_temp<R>(temp: &Path, reader: &mut R, max_size: u64) -> StoreResult<(u64, String)>
where
    R: AsyncRead + Unpin + ?Sized,
{
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(temp)
        .await
        .map_err(|e| StoreError::io(format!("creating {}", temp.display()), e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; COPY_CHUNK];
    let mut size = 0u64;
    loop {
        let n = reader
            .read(&mut buf)
            .await
            .map_err(|e| StoreError::io("reading payload source", e))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        if size > max_size {
            return Err(StoreError::PayloadTooLarge { limit: max_size });
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n])
            .await
            .map_err(|e| StoreError::io(format!("writing {}", temp.display()), e))?;
    }
    file.flush()
        .await
        .map_err(|e| StoreError::io(format!("writing {}", temp.display()), e))?;
    file.sync_all()
        .await
        .map_err(|e| StoreError::io(format!("fsync {}", temp.display()), e))?;
    Ok((size, hex(&hasher.finish())))
}

fn remove_dir_counting(dir: &Path) -> StoreResult<u64> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(StoreError::io(format!("listing {}", dir.display()), e)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io("listing payloads", e))?;
        std::fs::remove_file(entry.path())
            .map_err(|e| StoreError::io(format!("removing {}", entry.path().display()), e))?;
        removed += 1;
    }
    std::fs::remove_dir(dir).map_err(|e| StoreError::io(format!("removing {}", dir.display()), e))?;
    Ok(removed)
}

/// Makes a folder's entries (new, renamed or removed names) durable.
pub(crate) fn fsync_dir(dir: &Path) -> StoreResult<()> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| StoreError::io(format!("fsync folder {}", dir.display()), e))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> StoreResult<T> + Send + 'static) -> StoreResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::io("blocking file task", std::io::Error::other(e.to_string())))?
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_new_folder_is_covered_by_an_fsync_of_the_payload_folder() {
        let dir = tempfile::tempdir().unwrap();
        let files = PayloadFiles::open(dir.path()).unwrap();
        // One writer at a time: every new folder needs its own fsync of payloads/.
        for n in 0..3u64 {
            let mut data: &[u8] = b"x";
            files
                .write_part(MessageKey(0x10 + n), 0, "p@x", "text/plain", &mut data, 16)
                .await
                .unwrap();
            assert_eq!(files.folder_fsyncs(), n + 1);
        }
        // A second part goes into an existing folder: no fsync of payloads/.
        let mut data: &[u8] = b"y";
        files
            .write_part(MessageKey(0x10), 1, "q@x", "text/plain", &mut data, 16)
            .await
            .unwrap();
        assert_eq!(files.folder_fsyncs(), 3);
        // Concurrent writers may share fsyncs, but at least one runs after the last folder was created.
        let writes = (0..8u64).map(|n| {
            let files = files.clone();
            tokio::spawn(async move {
                let mut data: &[u8] = b"z";
                files
                    .write_part(MessageKey(0x100 + n), 0, "p@x", "text/plain", &mut data, 16)
                    .await
                    .unwrap();
            })
        });
        for write in writes.collect::<Vec<_>>() {
            write.await.unwrap();
        }
        let shared = files.folder_fsyncs() - 3;
        assert!((1..=8).contains(&shared), "{shared} fsyncs for 8 folders");
        assert_eq!(*files.root_sync.synced.lock().unwrap(), 3 + 8);
    }

    #[tokio::test]
    async fn written_part_is_complete_hashed_and_inside_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let files = PayloadFiles::open(dir.path()).unwrap();
        let key = MessageKey(0xa1);
        let mut data: &[u8] = b"hello payload";
        let part = files
            .write_part(key, 0, "part@x", "text/plain", &mut data, 1024)
            .await
            .unwrap();
        assert_eq!(part.file, "payloads/00000000000000a1/0.bin");
        assert_eq!(part.size, 13);
        // sha256("hello payload")
        assert_eq!(part.sha256, hex(&openssl::sha::sha256(b"hello payload")));
        assert_eq!(
            std::fs::read(files.path_of(key, &part).unwrap()).unwrap(),
            b"hello payload"
        );
        assert!(files.verify_part(key, &part).await.unwrap());
        let names: Vec<_> = std::fs::read_dir(files.message_dir(key))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("0.bin")],
            "no temporary file may remain"
        );
    }

    #[tokio::test]
    async fn a_written_part_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let files = PayloadFiles::open(dir.path()).unwrap();
        let mut first: &[u8] = b"first";
        let part = files
            .write_part(MessageKey(3), 0, "c", "x/y", &mut first, 100)
            .await
            .unwrap();
        let mut second: &[u8] = b"second";
        let again = files.write_part(MessageKey(3), 0, "c", "x/y", &mut second, 100).await;
        assert!(matches!(again, Err(StoreError::InvalidRecord(_))), "{again:?}");
        assert!(files.verify_part(MessageKey(3), &part).await.unwrap());
        assert_eq!(
            std::fs::read_dir(files.message_dir(MessageKey(3))).unwrap().count(),
            1,
            "temp file left behind"
        );
    }

    #[tokio::test]
    async fn oversized_payload_is_refused_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let files = PayloadFiles::open(dir.path()).unwrap();
        let big = vec![7u8; 200_000];
        let mut src: &[u8] = &big;
        let err = files
            .write_part(MessageKey(1), 0, "c", "application/octet-stream", &mut src, 100_000)
            .await;
        assert!(
            matches!(err, Err(StoreError::PayloadTooLarge { limit: 100_000 })),
            "{err:?}"
        );
        let dir = files.message_dir(MessageKey(1));
        assert!(!dir.exists() || std::fs::read_dir(dir).unwrap().count() == 0);
    }

    #[test]
    fn path_of_refuses_escapes_and_foreign_folders() {
        let dir = tempfile::tempdir().unwrap();
        let files = PayloadFiles::open(dir.path()).unwrap();
        let mut part = PayloadPart {
            content_id: "c".into(),
            mime_type: "x/y".into(),
            size: 0,
            sha256: String::new(),
            file: "payloads/0000000000000001/../../etc/passwd".into(),
        };
        assert!(files.path_of(MessageKey(1), &part).is_err());
        part.file = "payloads/0000000000000002/0.bin".into();
        assert!(files.path_of(MessageKey(1), &part).is_err());
        part.file = "payloads/0000000000000001/.tmp-0-abc".into();
        assert!(files.path_of(MessageKey(1), &part).is_err());
        part.file = "payloads/0000000000000001/0.bin".into();
        assert!(files.path_of(MessageKey(1), &part).is_ok());
    }

    #[tokio::test]
    async fn sweep_removes_temp_files_and_orphan_folders_only() {
        let dir = tempfile::tempdir().unwrap();
        let files = PayloadFiles::open(dir.path()).unwrap();
        let mut a: &[u8] = b"a";
        let kept = files
            .write_part(MessageKey(1), 0, "c", "x/y", &mut a, 10)
            .await
            .unwrap();
        std::fs::write(files.message_dir(MessageKey(1)).join(".tmp-1-dead"), b"half").unwrap();
        let mut b: &[u8] = b"b";
        files
            .write_part(MessageKey(2), 0, "c", "x/y", &mut b, 10)
            .await
            .unwrap();
        let report = files.sweep(|k| Ok(k == MessageKey(1))).unwrap();
        assert_eq!(
            report,
            SweepReport {
                temp_files_removed: 1,
                orphan_dirs_removed: 1
            }
        );
        assert!(files.path_of(MessageKey(1), &kept).unwrap().exists());
        assert!(!files.message_dir(MessageKey(2)).exists());
    }

    #[tokio::test]
    async fn adopted_part_is_the_spooled_file_itself_and_never_replaces_one() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let files = PayloadFiles::open(dir.path()).unwrap();
        let spool = tempfile::NamedTempFile::new_in(dir.path()).unwrap();
        std::fs::write(spool.path(), b"decrypted payload").unwrap();
        let sha = openssl::sha::sha256(b"decrypted payload");
        let key = MessageKey(0x42);
        let part = files
            .adopt_part(key, 0, "c@x", "text/plain", spool.path(), 17, &sha)
            .await
            .unwrap();
        let stored = files.path_of(key, &part).unwrap();
        // Written once: the stored part is a second name of the spooled file, not a copy.
        assert_eq!(
            std::fs::metadata(&stored).unwrap().ino(),
            std::fs::metadata(spool.path()).unwrap().ino()
        );
        assert!(files.verify_part(key, &part).await.unwrap());
        drop(spool);
        assert_eq!(std::fs::read(&stored).unwrap(), b"decrypted payload");

        let other = tempfile::NamedTempFile::new_in(dir.path()).unwrap();
        std::fs::write(other.path(), b"other").unwrap();
        let again = files
            .adopt_part(
                key,
                0,
                "c@x",
                "text/plain",
                other.path(),
                5,
                &openssl::sha::sha256(b"other"),
            )
            .await;
        assert!(matches!(again, Err(StoreError::InvalidRecord(_))), "{again:?}");
        assert_eq!(std::fs::read(&stored).unwrap(), b"decrypted payload");
    }

    #[tokio::test]
    async fn large_part_streams_and_small_part_takes_the_one_task_path() {
        let dir = tempfile::tempdir().unwrap();
        let files = PayloadFiles::open(dir.path()).unwrap();
        for (index, len) in [
            (0u32, SMALL_PART_BYTES),
            (1, SMALL_PART_BYTES + 1),
            (2, 3 * SMALL_PART_BYTES + 7),
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut src: &[u8] = &data;
            let part = files
                .write_part(MessageKey(9), index, "c", "x/y", &mut src, u64::MAX)
                .await
                .unwrap();
            assert_eq!(part.size, len as u64);
            assert_eq!(part.sha256, hex(&openssl::sha::sha256(&data)));
            assert_eq!(
                std::fs::read(files.path_of(MessageKey(9), &part).unwrap()).unwrap(),
                data
            );
        }
        let mut over: &[u8] = &[1u8; 100];
        let refused = files.write_part(MessageKey(9), 3, "c", "x/y", &mut over, 99).await;
        assert!(
            matches!(refused, Err(StoreError::PayloadTooLarge { limit: 99 })),
            "{refused:?}"
        );
        assert_eq!(std::fs::read_dir(files.message_dir(MessageKey(9))).unwrap().count(), 3);
    }
}

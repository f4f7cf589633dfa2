//! `Idempotency-Key` for submissions: the first answer to a key is recorded durably, and a repeated request with the
//! same key from the same caller gets that answer again without storing anything new. A different request under a
//! used key is refused (the fingerprint of the request differs).
//!
//! Records are small JSON files under `<data_dir>/api-idempotency/`, one per (caller, key), named by the SHA-256 of
//! both (so neither appears in a file name), written to a temporary file, fsynced and renamed. They are kept for
//! [`IDEMPOTENCY_RETENTION`]: an older record no longer counts and is removed by the next purge.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Folder of the records under the node's data folder.
pub const IDEMPOTENCY_DIR: &str = "api-idempotency";
/// How long a key is remembered.
pub const IDEMPOTENCY_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// Longest accepted `Idempotency-Key` value (printable ASCII).
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
/// The response header that marks a replayed answer.
pub const REPLAY_HEADER: &str = "idempotent-replayed";
/// At most one purge scan of the folder per this interval.
const PURGE_INTERVAL: Duration = Duration::from_secs(600);

/// The recorded first answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    /// SHA-256 (hex) of what identifies the request: its metadata and each part's type, name and content digest.
    pub fingerprint: String,
    pub message_id: String,
    pub pmode_id: String,
    /// Seconds since the Unix epoch.
    pub created: u64,
}

/// Why the key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    #[error("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters")]
    BadKey,
    #[error("idempotency record {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// The records of one node.
pub struct IdempotencyStore {
    dir: PathBuf,
}

/// Holds the (caller, key) slot while a request with that key is handled, so that a concurrent duplicate waits for
/// the first answer instead of submitting a second message.
pub struct KeyGuard {
    _slot: Arc<tokio::sync::Mutex<()>>,
    _held: tokio::sync::OwnedMutexGuard<()>,
    file: PathBuf,
}

fn slots() -> &'static Mutex<HashMap<PathBuf, Weak<tokio::sync::Mutex<()>>>> {
    static SLOTS: OnceLock<Mutex<HashMap<PathBuf, Weak<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    SLOTS.get_or_init(|| Mutex::new(HashMap::new()))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Checks an `Idempotency-Key` header value.
pub fn validate_key(key: &str) -> Result<(), IdempotencyError> {
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_CHARS || !key.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(IdempotencyError::BadKey);
    }
    Ok(())
}

impl IdempotencyStore {
    /// The records under `data_dir`.
    pub fn new(data_dir: &Path) -> IdempotencyStore {
        IdempotencyStore {
            dir: data_dir.join(IDEMPOTENCY_DIR),
        }
    }

    /// Takes the slot of (`actor`, `key`) for the duration of a request.
    pub async fn lock(&self, actor: &str, key: &str) -> Result<KeyGuard, IdempotencyError> {
        validate_key(key)?;
        let mut digest = openssl::sha::Sha256::new();
        digest.update(actor.as_bytes());
        digest.update(b"\n");
        digest.update(key.as_bytes());
        let file = self.dir.join(format!("{}.json", hex(&digest.finish())));
        let slot = {
            let mut map = slots().lock().unwrap_or_else(|p| p.into_inner());
            map.retain(|_, weak| weak.strong_count() > 0);
            match map.get(&file).and_then(Weak::upgrade) {
                Some(slot) => slot,
                None => {
                    let slot = Arc::new(tokio::sync::Mutex::new(()));
                    map.insert(file.clone(), Arc::downgrade(&slot));
                    slot
                }
            }
        };
        let held = slot.clone().lock_owned().await;
        Ok(KeyGuard {
            _slot: slot,
            _held: held,
            file,
        })
    }

    /// The recorded answer for the key held by `guard`, if one within the retention exists.
    pub async fn get(&self, guard: &KeyGuard) -> Result<Option<Recorded>, IdempotencyError> {
        let bytes = match tokio::fs::read(&guard.file).await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(IdempotencyError::Io {
                    path: guard.file.clone(),
                    source,
                })
            }
        };
        // A record that cannot be read (torn by a crash before the rename cannot happen; hand-edited) counts as none.
        let Ok(recorded) = serde_json::from_slice::<Recorded>(&bytes) else {
            return Ok(None);
        };
        if recorded.created + IDEMPOTENCY_RETENTION.as_secs() < now_secs() {
            return Ok(None);
        }
        Ok(Some(recorded))
    }

    /// Records the first answer for the key held by `guard`, durably (fsync of the file and the folder).
    pub async fn put(&self, guard: &KeyGuard, recorded: &Recorded) -> Result<(), IdempotencyError> {
        let io = |source| IdempotencyError::Io {
            path: guard.file.clone(),
            source,
        };
        tokio::fs::create_dir_all(&self.dir).await.map_err(io)?;
        let body = serde_json::to_vec(recorded).map_err(|e| io(std::io::Error::other(e)))?;
        let dir = self.dir.clone();
        let file = guard.file.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            use std::io::Write;
            let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
            tmp.write_all(&body)?;
            tmp.as_file().sync_all()?;
            tmp.persist(&file).map_err(|e| e.error)?;
            std::fs::File::open(&dir)?.sync_all()
        })
        .await
        .map_err(|e| io(std::io::Error::other(e)))?
        .map_err(io)?;
        self.purge_now_and_then().await;
        Ok(())
    }

    /// Removes records older than the retention, at most once per [`PURGE_INTERVAL`] per process.
    async fn purge_now_and_then(&self) {
        static LAST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let now = now_secs();
        let last = LAST.load(std::sync::atomic::Ordering::Relaxed);
        if now < last + PURGE_INTERVAL.as_secs() {
            return;
        }
        LAST.store(now, std::sync::atomic::Ordering::Relaxed);
        let removed = self.purge(now).await;
        if removed > 0 {
            tracing::info!(removed, "api: expired idempotency records removed");
        }
    }

    /// Removes every record created before `now - retention`; returns how many.
    pub async fn purge(&self, now: u64) -> usize {
        let Ok(mut entries) = tokio::fs::read_dir(&self.dir).await else {
            return 0;
        };
        let mut removed = 0;
        while let Ok(Some(entry)) = entries.next_entry().await {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let expired = match tokio::fs::read(&path).await {
                Ok(bytes) => serde_json::from_slice::<Recorded>(&bytes)
                    .map(|r| r.created + IDEMPOTENCY_RETENTION.as_secs() < now)
                    .unwrap_or(true),
                Err(_) => false,
            };
            if expired && tokio::fs::remove_file(&path).await.is_ok() {
                removed += 1;
            }
        }
        removed
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Accumulates the fingerprint of a request.
pub struct Fingerprint(openssl::sha::Sha256);

impl Default for Fingerprint {
    fn default() -> Self {
        Fingerprint(openssl::sha::Sha256::new())
    }
}

impl Fingerprint {
    /// Adds one field (length-prefixed, so that fields cannot run into each other).
    pub fn field(&mut self, value: &[u8]) -> &mut Self {
        self.0.update(&(value.len() as u64).to_be_bytes());
        self.0.update(value);
        self
    }

    pub fn finish(self) -> String {
        hex(&self.0.finish())
    }
}

/// The answer recorded now.
pub fn record(fingerprint: String, message_id: &str, pmode_id: &str) -> Recorded {
    Recorded {
        fingerprint,
        message_id: message_id.to_string(),
        pmode_id: pmode_id.to_string(),
        created: now_secs(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_survive_a_new_store_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let store = IdempotencyStore::new(dir.path());
        let guard = store.lock("token:a", "k1").await.unwrap();
        assert_eq!(store.get(&guard).await.unwrap(), None);
        let first = record("f".into(), "m1@x", "sdk-message");
        store.put(&guard, &first).await.unwrap();
        drop(guard);
        let again = IdempotencyStore::new(dir.path());
        let guard = again.lock("token:a", "k1").await.unwrap();
        assert_eq!(again.get(&guard).await.unwrap(), Some(first.clone()));
        // Another caller's same key is another slot.
        let other = again.lock("token:b", "k1").await.unwrap();
        assert_eq!(again.get(&other).await.unwrap(), None);
        // Past the retention the record no longer counts, and a purge removes it.
        let old = Recorded {
            created: first.created - IDEMPOTENCY_RETENTION.as_secs() - 1,
            ..first
        };
        again.put(&guard, &old).await.unwrap();
        assert_eq!(again.get(&guard).await.unwrap(), None);
        assert_eq!(again.purge(now_secs()).await, 1);
    }

    #[tokio::test]
    async fn concurrent_holders_of_one_key_wait() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(IdempotencyStore::new(dir.path()));
        let guard = store.lock("a", "k").await.unwrap();
        let second = {
            let store = store.clone();
            tokio::spawn(async move { store.lock("a", "k").await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!second.is_finished());
        drop(guard);
        tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }

    #[test]
    fn keys_are_checked() {
        assert!(validate_key("abc-123").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key("a\nb").is_err());
        assert!(validate_key(&"x".repeat(256)).is_err());
    }
}

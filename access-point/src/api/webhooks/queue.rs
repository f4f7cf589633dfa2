//! Durable webhook deliveries: one JSON file per pending delivery under `<data_dir>/webhooks/<hook>/pending/`,
//! written to a temporary file, fsynced, renamed into place and the folder fsynced, so that a delivery queued before
//! a crash or restart is found again and nothing half-written is ever read. A delivery that used up its attempts
//! moves to `<hook>/dead/` (kept for the operator), a delivered one is removed.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Folder of pending deliveries, under the hook's folder.
pub const PENDING_DIR: &str = "pending";
/// Folder of dead-lettered deliveries, under the hook's folder.
pub const DEAD_DIR: &str = "dead";

/// One event to deliver to one webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The event id (`webhook-id`; the same on every attempt, so receivers can drop repeats).
    pub event_id: u64,
    pub event_type: String,
    /// The exact body sent on every attempt (the event JSON).
    pub body: String,
    /// Attempts made so far.
    pub attempts: u64,
    /// When the next attempt is due (Unix milliseconds).
    pub next_attempt_at_ms: u64,
    /// Why the last attempt failed.
    #[serde(default)]
    pub last_error: Option<String>,
}

impl Delivery {
    fn file_name(&self) -> String {
        format!("{:020}.json", self.event_id)
    }
}

/// The pending and dead deliveries of one webhook, on disk.
#[derive(Debug, Clone)]
pub struct DeliveryFiles {
    pending: PathBuf,
    dead: PathBuf,
}

impl DeliveryFiles {
    /// Creates the folders under `hook_dir` (and removes temporary files an interrupted write left).
    pub fn open(hook_dir: &Path) -> io::Result<DeliveryFiles> {
        let files = DeliveryFiles {
            pending: hook_dir.join(PENDING_DIR),
            dead: hook_dir.join(DEAD_DIR),
        };
        fs::create_dir_all(&files.pending)?;
        fs::create_dir_all(&files.dead)?;
        for entry in fs::read_dir(&files.pending)?.flatten() {
            if entry.file_name().to_string_lossy().ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(files)
    }

    pub fn pending_dir(&self) -> &Path {
        &self.pending
    }

    pub fn dead_dir(&self) -> &Path {
        &self.dead
    }

    /// Every pending delivery, keyed by event id. A file that does not parse is moved to `dead/` with a log line.
    pub fn load(&self) -> io::Result<BTreeMap<u64, Delivery>> {
        let mut found = BTreeMap::new();
        for entry in fs::read_dir(&self.pending)?.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            match fs::read(&path).map(|bytes| serde_json::from_slice::<Delivery>(&bytes)) {
                Ok(Ok(delivery)) => {
                    found.insert(delivery.event_id, delivery);
                }
                Ok(Err(e)) => {
                    tracing::error!(file = %path.display(), error = %e, "webhooks: unreadable delivery file moved to dead/");
                    if let Some(name) = path.file_name() {
                        let _ = fs::rename(&path, self.dead.join(name));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(found)
    }

    /// Writes (or rewrites) a pending delivery durably.
    pub fn store(&self, delivery: &Delivery) -> io::Result<()> {
        let bytes = serde_json::to_vec(delivery).map_err(io::Error::other)?;
        write_durably(&self.pending, &delivery.file_name(), &bytes)
    }

    /// Removes a delivered delivery.
    pub fn remove(&self, delivery: &Delivery) -> io::Result<()> {
        match fs::remove_file(self.pending.join(delivery.file_name())) {
            Ok(()) => sync_dir(&self.pending),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Moves a delivery that used up its attempts to `dead/` (with its last state).
    pub fn dead_letter(&self, delivery: &Delivery) -> io::Result<()> {
        let bytes = serde_json::to_vec(delivery).map_err(io::Error::other)?;
        write_durably(&self.dead, &delivery.file_name(), &bytes)?;
        self.remove(delivery)
    }
}

/// Temporary file, fsync, rename, fsync of the folder.
fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let temporary = dir.join(format!("{name}.tmp"));
    {
        let mut file = File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&temporary, dir.join(name))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(id: u64) -> Delivery {
        Delivery {
            event_id: id,
            event_type: "delivered".into(),
            body: format!("{{\"id\":\"{id}\"}}"),
            attempts: 0,
            next_attempt_at_ms: 5,
            last_error: None,
        }
    }

    #[test]
    fn stored_deliveries_survive_a_reopen_and_leave_when_done() {
        let tmp = tempfile::tempdir().unwrap();
        let files = DeliveryFiles::open(tmp.path()).unwrap();
        files.store(&delivery(2)).unwrap();
        files.store(&delivery(1)).unwrap();
        let mut updated = delivery(2);
        updated.attempts = 3;
        files.store(&updated).unwrap();
        std::fs::write(files.pending_dir().join("x.json.tmp"), b"half").unwrap();
        std::fs::write(files.pending_dir().join("broken.json"), b"{").unwrap();

        let files = DeliveryFiles::open(tmp.path()).unwrap();
        let loaded = files.load().unwrap();
        assert_eq!(loaded.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(loaded[&2].attempts, 3);
        assert!(!files.pending_dir().join("x.json.tmp").exists());
        assert!(files.dead_dir().join("broken.json").exists());

        files.remove(&loaded[&1]).unwrap();
        files.dead_letter(&loaded[&2]).unwrap();
        assert!(files.load().unwrap().is_empty());
        assert_eq!(std::fs::read_dir(files.dead_dir()).unwrap().count(), 2);
    }
}

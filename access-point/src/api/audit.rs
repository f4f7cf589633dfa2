//! The API audit log: one JSON line per API call in `<data_dir>/audit/api-audit.jsonl`.
//!
//! A line holds `time` (RFC 3339, UTC), `actor` (`token:<name>`, `api:local` without authentication, `anonymous`
//! when authentication failed), `method`, `path` (without the query), `message_ids` (when the call concerned
//! messages), `status` and `remote` (the client's address and port).
//!
//! Which messages a call concerned: a handler names them with [`note_message_id`] (a response extension); when it
//! does not, the server takes the id from a `Location` header or from a `…/messages/{id}` path.
//!
//! Durability: each line is one `write` on a file opened with `O_APPEND`, so lines from concurrent requests never
//! interleave and a crash of the process loses nothing already answered. With `[api] audit_fsync = true` every
//! line is also `fdatasync`ed before the answer leaves, so a power loss loses nothing either (at the cost of one
//! disk flush per call). Rotation: when a line would take the file past `[api] audit_max_bytes`, the file is
//! renamed to `api-audit.jsonl.1` (older ones shift up to `.N`, `N` = `[api] audit_keep`, the oldest is deleted).

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

/// Folder of the audit log under the data directory.
pub const AUDIT_DIR: &str = "audit";
/// The current audit file; rotated ones add `.1`, `.2`, …
pub const AUDIT_FILE: &str = "api-audit.jsonl";

/// Message ids a handler names for the audit line of its answer (a response extension).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditMessageIds(pub Vec<String>);

/// Records that the answer concerns message `id` (call once per message).
pub fn note_message_id<B>(response: &mut http::Response<B>, id: impl Into<String>) {
    let ids = response.extensions_mut().get_or_insert_default::<AuditMessageIds>();
    ids.0.push(id.into());
}

/// One audit line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    pub time: String,
    pub actor: String,
    pub method: String,
    pub path: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub message_ids: Vec<String>,
    pub status: u16,
    pub remote: String,
}

impl AuditRecord {
    pub fn new(actor: &str, method: &http::Method, path: &str, status: u16, remote: SocketAddr) -> AuditRecord {
        let time = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        AuditRecord {
            time,
            actor: actor.to_string(),
            method: method.to_string(),
            path: path.to_string(),
            message_ids: Vec::new(),
            status,
            remote: remote.to_string(),
        }
    }
}

/// Rotation and durability of the audit log (from `[api]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditSettings {
    /// Rotate before the file would exceed this size.
    pub max_bytes: u64,
    /// Rotated files kept (at least 1).
    pub keep: u32,
    /// `fdatasync` after every line.
    pub fsync: bool,
}

struct OpenFile {
    file: File,
    size: u64,
}

/// The append-only audit file.
pub struct AuditLog {
    path: PathBuf,
    settings: AuditSettings,
    open: Mutex<Option<OpenFile>>,
}

impl AuditLog {
    /// Opens (creating mode 0700 folder and 0600 file) `<data_dir>/audit/api-audit.jsonl`.
    pub fn open(data_dir: &Path, settings: AuditSettings) -> std::io::Result<AuditLog> {
        let dir = data_dir.join(AUDIT_DIR);
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir)?;
        let log = AuditLog {
            path: dir.join(AUDIT_FILE),
            settings,
            open: Mutex::new(None),
        };
        *log.open.lock().unwrap_or_else(|p| p.into_inner()) = Some(log.open_file()?);
        Ok(log)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open_file(&self) -> std::io::Result<OpenFile> {
        let mut options = OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&self.path)?;
        let size = file.metadata()?.len();
        Ok(OpenFile { file, size })
    }

    /// Appends one line (blocking: call it off the async threads when `fsync` is on).
    pub fn append(&self, record: &AuditRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut guard = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let needs_rotation = guard
            .as_ref()
            .is_some_and(|o| o.size > 0 && o.size + line.len() as u64 > self.settings.max_bytes);
        if needs_rotation || guard.is_none() {
            *guard = None;
            if needs_rotation {
                self.rotate()?;
            }
            *guard = Some(self.open_file()?);
        }
        let open = guard.as_mut().expect("opened above");
        // One write call: O_APPEND places it atomically at the end.
        open.file.write_all(&line)?;
        open.size += line.len() as u64;
        if self.settings.fsync {
            open.file.sync_data()?;
        }
        Ok(())
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn rotate(&self) -> std::io::Result<()> {
        let keep = self.settings.keep.max(1);
        match std::fs::remove_file(self.rotated(keep)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        for n in (1..keep).rev() {
            match std::fs::rename(self.rotated(n), self.rotated(n + 1)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        std::fs::rename(&self.path, self.rotated(1))
    }
}

/// The message ids of an answer for its audit line: those the handler named, else the `Location` of a created
/// message, else the `{id}` of a `…/messages/{id}` path.
pub fn message_ids_of<B>(response: &http::Response<B>, path: &str) -> Vec<String> {
    if let Some(ids) = response.extensions().get::<AuditMessageIds>() {
        return ids.0.clone();
    }
    let from_path = |p: &str| {
        p.split_once("/messages/")
            .map(|(_, rest)| rest.split('/').next().unwrap_or(""))
            .filter(|id| !id.is_empty())
            .and_then(super::server::percent_decode)
    };
    let location = response
        .headers()
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(from_path);
    location.or_else(|| from_path(path)).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: usize) -> AuditRecord {
        AuditRecord::new(
            "token:t",
            &http::Method::GET,
            &format!("/api/v1/messages/m{n}"),
            200,
            "127.0.0.1:1".parse().unwrap(),
        )
    }

    #[test]
    fn lines_append_and_rotate_keeping_n_files() {
        let dir = tempfile::tempdir().unwrap();
        let settings = AuditSettings {
            max_bytes: 400,
            keep: 2,
            fsync: true,
        };
        let log = AuditLog::open(dir.path(), settings).unwrap();
        for n in 0..20 {
            log.append(&record(n)).unwrap();
        }
        let current = std::fs::read_to_string(log.path()).unwrap();
        assert!(current.len() <= 400);
        assert!(current.ends_with("\n"));
        let last: serde_json::Value = serde_json::from_str(current.lines().last().unwrap()).unwrap();
        assert_eq!(last["path"], "/api/v1/messages/m19");
        assert!(log.rotated(1).exists() && log.rotated(2).exists());
        assert!(!log.rotated(3).exists(), "only `keep` rotated files stay");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(log.path()).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn message_ids_come_from_the_handler_then_location_then_path() {
        let mut response = http::Response::new(());
        assert_eq!(
            message_ids_of(&response, "/api/v1/messages/a%40b"),
            vec!["a@b".to_string()]
        );
        assert!(message_ids_of(&response, "/api/v1/status").is_empty());
        response.headers_mut().insert(
            http::header::LOCATION,
            http::HeaderValue::from_static("/api/v1/messages/new"),
        );
        assert_eq!(message_ids_of(&response, "/api/v1/messages"), vec!["new".to_string()]);
        note_message_id(&mut response, "x");
        note_message_id(&mut response, "y");
        assert_eq!(message_ids_of(&response, "/api/v1/messages"), vec!["x", "y"]);
    }
}

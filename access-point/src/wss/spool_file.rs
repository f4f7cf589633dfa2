//! A sealed body or an opened payload: a spool file, or (for a small message) bytes in memory that become a spool
//! file only when a caller asks for a path. A small message then costs no file creation, write and unlink when
//! its caller works from the bytes (the sender POSTs them, the store writes them under their final name).

use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tempfile::NamedTempFile;

/// A spool file, or bytes that are written to one on first use of [`SpoolFile::path`] / [`SpoolFile::reopen`]
/// (removed when this value is dropped, like the file of a [`NamedTempFile`]).
pub struct SpoolFile {
    inner: Inner,
}

enum Inner {
    File(NamedTempFile),
    Memory {
        bytes: Bytes,
        spool_dir: PathBuf,
        file: OnceLock<NamedTempFile>,
    },
}

impl SpoolFile {
    /// Content already in a spool file.
    pub fn from_file(file: NamedTempFile) -> SpoolFile {
        SpoolFile {
            inner: Inner::File(file),
        }
    }

    /// Content held in memory, spooled into `spool_dir` only on request.
    pub fn in_memory(bytes: Bytes, spool_dir: &Path) -> SpoolFile {
        SpoolFile {
            inner: Inner::Memory {
                bytes,
                spool_dir: spool_dir.to_path_buf(),
                file: OnceLock::new(),
            },
        }
    }

    /// The content when it is held in memory (read it from here rather than through a file).
    pub fn bytes(&self) -> Option<&Bytes> {
        match &self.inner {
            Inner::File(_) => None,
            Inner::Memory { bytes, .. } => Some(bytes),
        }
    }

    /// The folder the file is (or would be) in.
    pub fn spool_dir(&self) -> &Path {
        match &self.inner {
            Inner::File(file) => file.path().parent().unwrap_or(Path::new(".")),
            Inner::Memory { spool_dir, .. } => spool_dir,
        }
    }

    /// The path of the file holding the content, writing it first when the content is in memory.
    pub fn path(&self) -> std::io::Result<&Path> {
        Ok(self.file()?.path())
    }

    /// A new handle to the file holding the content (see [`SpoolFile::path`]), positioned at its start.
    pub fn reopen(&self) -> std::io::Result<std::fs::File> {
        self.file()?.reopen()
    }

    fn file(&self) -> std::io::Result<&NamedTempFile> {
        match &self.inner {
            Inner::File(file) => Ok(file),
            Inner::Memory { bytes, spool_dir, file } => {
                if let Some(existing) = file.get() {
                    return Ok(existing);
                }
                let written = NamedTempFile::new_in(spool_dir)?;
                std::io::Write::write_all(&mut written.as_file(), bytes)?;
                // Two callers racing both write a complete file; the loser's is dropped (and removed).
                let _ = file.set(written);
                Ok(file.get().expect("set above or by a concurrent caller"))
            }
        }
    }
}

impl std::fmt::Debug for SpoolFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Inner::File(file) => f.debug_tuple("SpoolFile").field(&file.path()).finish(),
            Inner::Memory { bytes, file, .. } => f
                .debug_struct("SpoolFile")
                .field("in_memory_bytes", &bytes.len())
                .field("spooled", &file.get().map(NamedTempFile::path))
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_memory_content_is_spooled_once_on_request_and_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let spool = SpoolFile::in_memory(Bytes::from_static(b"payload bytes"), dir.path());
        assert_eq!(spool.bytes().unwrap().as_ref(), b"payload bytes");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "nothing written before a path is asked"
        );
        let path = spool.path().unwrap().to_path_buf();
        assert_eq!(path.parent().unwrap(), dir.path());
        assert_eq!(spool.spool_dir(), dir.path());
        assert_eq!(std::fs::read(&path).unwrap(), b"payload bytes");
        assert_eq!(spool.path().unwrap(), path, "the same file on every call");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut spool.reopen().unwrap(), &mut text).unwrap();
        assert_eq!(text, "payload bytes");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        drop(spool);
        assert!(!path.exists());
    }

    #[test]
    fn file_content_is_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = NamedTempFile::new_in(dir.path()).unwrap();
        std::fs::write(file.path(), b"on disk").unwrap();
        let path = file.path().to_path_buf();
        let spool = SpoolFile::from_file(file);
        assert!(spool.bytes().is_none());
        assert_eq!(spool.path().unwrap(), path);
        assert_eq!(spool.spool_dir(), dir.path());
        drop(spool);
        assert!(!path.exists());
    }
}

//! The store's error type.

use super::state::{IllegalTransition, State};
use super::types::MessageKey;

/// Everything a store operation can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No message with this key.
    #[error("no message with key {0}")]
    NotFound(MessageKey),
    /// The lifecycle does not allow this change.
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    /// The message is not in the state the caller expected (someone else changed it first).
    #[error("message {key} is {actual}, expected {expected}")]
    UnexpectedState {
        key: MessageKey,
        expected: State,
        actual: State,
    },
    /// The message was claimed again after this caller's lease expired; its outcome belongs to the newer attempt.
    #[error("message {key} is on attempt {actual}, the change was for attempt {expected}")]
    StaleAttempt {
        key: MessageKey,
        expected: u32,
        actual: u32,
    },
    /// A change to `WaitingRetry` came without a next attempt time.
    #[error("transition of {0} to waiting_retry needs a next attempt time")]
    MissingRetryTime(MessageKey),
    /// The record being inserted is inconsistent (wrong payload path, key already used, ...).
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    /// A payload exceeded the caller's size limit; nothing was kept.
    #[error("payload larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    /// Stored bytes that do not decode: the database is damaged or from an incompatible version.
    #[error("corrupt store entry in {tree}: {detail}")]
    Corrupt { tree: &'static str, detail: String },
    /// Another process (normally the running server) has the database open; sled allows one process per store.
    #[error("the store at {0} is in use by another process")]
    InUse(std::path::PathBuf),
    /// The embedded database failed.
    #[error("database error: {0}")]
    Database(String),
    /// A file-system operation on the data directory failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A flush failed or the committer stopped: the write may not be durable and must not be acknowledged.
    #[error("durability not confirmed: {0}")]
    NotDurable(String),
}

impl StoreError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> StoreError {
        StoreError::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> StoreError {
        StoreError::Database(e.to_string())
    }
}

/// Short alias used throughout the store.
pub type StoreResult<T> = Result<T, StoreError>;

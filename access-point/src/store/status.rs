//! The store's part of `sdk-ap status`: counts per direction and state and the latest errors, as JSON.

use serde::Serialize;

use super::error::StoreResult;
use super::state::{Direction, State};
use super::types::{ErrorEntry, StateCounts};
use super::Store;

/// A snapshot for `sdk-ap status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    pub counts: StateCounts,
    /// Newest first.
    pub last_errors: Vec<ErrorEntry>,
}

/// One error as shown by `sdk-ap status --json`.
#[derive(Serialize)]
struct ErrorView<'a> {
    at: String,
    message_id: &'a str,
    direction: Direction,
    state: State,
    error: &'a str,
}

impl StatusReport {
    /// Reads counts and the `last_errors` newest errors.
    pub async fn read(store: &dyn Store, last_errors: usize) -> StoreResult<StatusReport> {
        Ok(StatusReport {
            counts: store.counts().await?,
            last_errors: store.last_errors(last_errors).await?,
        })
    }

    /// `{"outbound": {"total": n, "submitted": n, ..., "delivered": n, "failed": n}, "inbound": {"total": n,
    /// "received": n, ...}, "last_errors": [{"at": RFC 3339, "message_id", "direction", "state", "error"}]}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut root = self.counts.to_json();
        let errors: Vec<_> = self
            .last_errors
            .iter()
            .map(|e| ErrorView {
                at: e.at.to_rfc3339(),
                message_id: &e.message_id,
                direction: e.direction,
                state: e.state,
                error: &e.error,
            })
            .collect();
        if let Some(map) = root.as_object_mut() {
            map.insert("last_errors".into(), serde_json::to_value(errors).unwrap_or_default());
        }
        root
    }
}

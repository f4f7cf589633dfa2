//! `GET /api/v1/status` and `GET /api/v1/messages/{id}`.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde::{Deserialize, Serialize};

use super::{json_response, problem, ProblemType};
use crate::msh::Node;
use crate::store::{Direction, EvidenceKind, State, StatusReport, Store};

/// How many recent errors `GET /api/v1/status` lists.
pub const STATUS_LAST_ERRORS: usize = 20;

/// One state change as shown by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryView {
    pub at: String,
    pub from: Option<State>,
    pub to: State,
    pub actor: String,
    pub reason: String,
}

/// One payload as shown by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadView {
    pub content_id: String,
    pub mime_type: String,
    pub size: u64,
}

/// The receipt kept for a message: when, how large, and its SHA-256 (hex), which identifies the stored evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptView {
    pub at: String,
    pub bytes: usize,
    pub sha256: String,
}

/// `GET /api/v1/messages/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    pub message_id: String,
    pub direction: Direction,
    pub state: State,
    pub pmode_id: String,
    pub from: String,
    pub to: String,
    pub service: String,
    pub action: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub payloads: Vec<PayloadView>,
    pub history: Vec<HistoryView>,
    pub receipt: Option<ReceiptView>,
}

impl MessageView {
    /// Reads the view of `message_id` (outbound first, then inbound) from a store.
    pub async fn read(store: &dyn Store, message_id: &str) -> Result<Option<MessageView>, crate::store::StoreError> {
        let mut record = store.get_by_message_id(Direction::Outbound, message_id).await?;
        if record.is_none() {
            record = store.get_by_message_id(Direction::Inbound, message_id).await?;
        }
        let Some(record) = record else { return Ok(None) };
        let history = store.history(record.key).await?;
        let evidence = store.evidence(record.key).await?;
        let receipt = evidence
            .iter()
            .rev()
            .find(|e| e.kind == EvidenceKind::Receipt)
            .map(|e| ReceiptView {
                at: e.at.to_rfc3339(),
                bytes: e.bytes.len(),
                sha256: hex(&openssl::sha::sha256(&e.bytes)),
            });
        Ok(Some(MessageView {
            message_id: record.meta.message_id.clone(),
            direction: record.direction,
            state: record.state,
            pmode_id: record.meta.pmode_id.clone(),
            from: record.meta.from.id.clone(),
            to: record.meta.to.id.clone(),
            service: record.meta.service.clone(),
            action: record.meta.action.clone(),
            attempts: record.attempts,
            last_error: record.last_error.clone(),
            created_at: record.created_at.to_rfc3339(),
            updated_at: record.updated_at.to_rfc3339(),
            payloads: record
                .payloads
                .iter()
                .map(|p| PayloadView {
                    content_id: p.content_id.clone(),
                    mime_type: p.mime_type.clone(),
                    size: p.size,
                })
                .collect(),
            history: history
                .into_iter()
                .map(|h| HistoryView {
                    at: h.at.to_rfc3339(),
                    from: h.from,
                    to: h.to,
                    actor: h.actor,
                    reason: h.reason,
                })
                .collect(),
            receipt,
        }))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) async fn status(node: &Node) -> Response<Full<Bytes>> {
    match StatusReport::read(node.store().as_ref(), STATUS_LAST_ERRORS).await {
        Ok(report) => json_response(StatusCode::OK, &report.to_json(), "application/json"),
        Err(e) => problem(ProblemType::StoreUnavailable, e.to_string()),
    }
}

pub(super) async fn message(node: &Node, message_id: &str) -> Response<Full<Bytes>> {
    match MessageView::read(node.store().as_ref(), message_id).await {
        Ok(Some(view)) => json_response(
            StatusCode::OK,
            &serde_json::to_value(view).unwrap_or_default(),
            "application/json",
        ),
        Ok(None) => problem(ProblemType::NotFound, format!("no message {message_id}")),
        Err(e) => problem(ProblemType::StoreUnavailable, e.to_string()),
    }
}

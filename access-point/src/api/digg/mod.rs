//! DIGG's recommended message-client API (B1.4.2 "Rekommendation API MT-MK", `sdk-api-restful.yml`), served on the
//! local API listener under `/v1/sdk` so that SDK message clients written against it work unchanged:
//!
//! * `POST /v1/sdk/messages` (sendMessage, [`send`]): a JSON:API document → SDK message v3 → XHE → stored and sent.
//! * `GET /v1/sdk/messages?filter[…]=…` (getMessageByFilter), `GET /v1/sdk/messages/{id}` (getMessageById) and
//!   `DELETE /v1/sdk/messages/{id}` (deleteMessageById, [`read`]): sent and received SDK messages from the store.
//!
//! Documents: [`document`]; errors in DIGG's problem format: [`problem`]; DIGG's scopes as our permissions:
//! [`scopes`]; our states as DIGG's message status: [`lifecycle`]. The resource `id` is the AS4 MessageId; DIGG's
//! `messageId` attribute is the SDK message's own id. docs/api.md "DIGG message-client API" has the whole mapping.

pub mod document;
pub mod lifecycle;
pub mod problem;
pub mod read;
pub mod scopes;
pub mod send;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::Full;

use super::auth::Caller;
use super::{problem as api_problem, ProblemType};
use crate::msh::Node;

/// Path prefix of DIGG's API (its OpenAPI `servers` URL ends in `/v1`, its paths start with `/sdk`).
pub const DIGG_PREFIX: &str = "/v1/sdk";
/// Largest `sendMessage` body, and largest stored message this API reads back (attachments travel inline as base64
/// in DIGG's documents, so a whole document is held in memory; larger messages go through `/api/v1`). DIGG's own
/// example problem names 30 MB; `[limits] max_message_bytes` applies too when smaller.
pub const DIGG_MAX_REQUEST_BYTES: u64 = 64 * 1024 * 1024;
/// Most messages one `getMessageByFilter` answer lists (oldest first; `meta.truncated` is set when more match).
/// DIGG's API has no paging: clients delete what they have fetched, or narrow with `creationDateTimeStart`.
pub const DIGG_LIST_MAX_RESULTS: usize = 100;
/// Most stored messages one `getMessageByFilter` call reads to apply the filters.
pub const DIGG_LIST_MAX_SCANNED: usize = 2000;

/// Serves a request whose path starts with [`DIGG_PREFIX`] for an authenticated caller. Generic over the body so
/// that tests can call it with any caller.
pub async fn route<B>(node: &Node, caller: &Caller, request: Request<B>) -> Response<Full<Bytes>>
where
    B: hyper::body::Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let rest = path.strip_prefix(DIGG_PREFIX).unwrap_or("");
    let message_id = rest
        .strip_prefix("/messages/")
        .filter(|id| !id.is_empty() && !id.contains('/'));
    match (request.method().clone(), rest, message_id) {
        (Method::POST, "/messages", _) => send::send(node, caller, request).await,
        (Method::GET, "/messages", _) => read::list(node, caller, query.as_deref()).await,
        (Method::GET, _, Some(id)) => read::get(node, caller, id, query.as_deref()).await,
        (Method::DELETE, _, Some(id)) => read::delete(node, caller, id).await,
        (method, _, _) => api_problem(ProblemType::NoRoute, format!("no route {method} {path}")),
    }
}

/// The answer to a request under [`DIGG_PREFIX`] that did not authenticate: 401 in DIGG's problem format (the
/// listener authenticates before routing and calls this for DIGG's paths).
pub fn unauthorized(detail: impl Into<String>) -> Response<Full<Bytes>> {
    problem::DiggProblem::new(
        problem::DiggProblemKind::Unauthorized,
        "Authentication required",
        detail,
    )
    .into_response()
}

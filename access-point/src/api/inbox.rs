//! The inbox of the local API: what arrived for the caller's organisations and functional addresses.
//!
//! * `GET /api/v1/inbox?participant=&functional_address=&state=&cursor=&limit=`: entries oldest first (stable
//!   order: reception time, then store key), filtered by the caller's scope; `next_cursor` continues the listing.
//! * `GET /api/v1/inbox/{message_id}`: one entry's metadata.
//! * `GET /api/v1/inbox/{message_id}/attachments/{n}`: attachment `n` (from 0), decoded from the base64 inside the
//!   SDK message while streaming, with `Content-Type`, `Content-Disposition` and `Content-Length`.
//! * `GET /api/v1/inbox/{message_id}/document`: the whole received XHE envelope (with the SDK message), streamed.
//! * `POST /api/v1/inbox/{message_id}/ack`: `{"state":"fetched"|"acknowledged"}` (default acknowledged); the
//!   store's retention settings purge acknowledged messages later.
//! * `POST /api/v1/inbox/{message_id}/kvittens`: `{"response":"ACCEPTED"|"REJECTED","reason_code":"SV"|"BV"|"SIG",
//!   "description":"..."}` sends the kvittens to the original sender's access point.
//!
//! Every handler checks the caller's scope for the entry's recipient participant and functional address
//! (`Read` to list, fetch and acknowledge, `Send` for a kvittens); a message the caller may not read is `404`, the
//! same answer as an unknown id (ids do not leak), one it may read but not answer is `403`.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use serde::{Deserialize, Serialize};

use super::auth::{AddressRef, Caller, Permission};
use super::server::percent_decode;
use super::{boxed, json_response, problem, ApiBody, ProblemType, API_PREFIX};
use crate::msh::Node;
use crate::sdk::inbound::scan::AttachmentReader;
use crate::sdk::inbound::{send_kvittens, KvittensRequest, ReplyError};
use crate::sdk::kvittens::{ReasonCode, RejectionReason, ResponseCode, NO_LOCATION};
use crate::store::{Direction, InboxCursor, InboxItem, InboxQuery, State, Store, StoreError, Transition};

/// Path of the inbox routes.
pub const INBOX_PATH: &str = "/api/v1/inbox";
/// Default page size of `GET /api/v1/inbox`.
pub const DEFAULT_INBOX_PAGE: usize = 100;
/// Largest `limit` of `GET /api/v1/inbox`.
pub const MAX_INBOX_PAGE: usize = 1000;
/// Store pages one listing request reads at most while filtering by scope (bounded work per request).
const MAX_SCOPE_ROUNDS: usize = 8;
/// Largest accepted body of `POST …/ack` and `POST …/kvittens`.
pub const MAX_INBOX_REQUEST_BYTES: usize = 64 * 1024;
/// Chunks buffered between the blocking attachment decoder and the response.
const STREAM_CHANNEL_CHUNKS: usize = 4;

/// One attachment as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentView {
    pub index: usize,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
}

/// One inbox entry as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxItemView {
    pub message_id: String,
    /// `new`, `fetched` or `acknowledged`.
    pub state: String,
    pub recipient: String,
    pub functional_address: Option<String>,
    pub sender: String,
    pub sender_functional_address: Option<String>,
    pub subject: Option<String>,
    pub document_type: String,
    pub xhe_id: String,
    pub created: String,
    pub received_at: String,
    pub encrypted: bool,
    pub conversation_id: String,
    pub attachments: Vec<AttachmentView>,
}

/// `GET /api/v1/inbox`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxListView {
    pub items: Vec<InboxItemView>,
    pub next_cursor: Option<String>,
}

/// `POST …/ack`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    /// `fetched` or `acknowledged` (default).
    #[serde(default)]
    pub state: Option<String>,
}

/// `POST …/kvittens`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KvittensBody {
    /// `ACCEPTED` or `REJECTED`.
    pub response: String,
    /// `SV`, `BV` or `SIG` (REJECTED only; default `BV`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The answer of `POST …/kvittens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvittensAnswer {
    /// The AS4 MessageId of the outbound kvittens message (its status is at `/api/v1/messages/{id}`).
    pub message_id: String,
    pub kvittens_id: String,
}

/// The state names of the inbox.
pub fn state_name(state: State) -> &'static str {
    match state {
        State::Fetched => "fetched",
        State::Acknowledged => "acknowledged",
        _ => "new",
    }
}

fn parse_state(name: &str) -> Option<State> {
    match name {
        "new" | "received" => Some(State::Received),
        "fetched" => Some(State::Fetched),
        "acknowledged" => Some(State::Acknowledged),
        _ => None,
    }
}

impl InboxItemView {
    pub fn of(item: &InboxItem) -> InboxItemView {
        let e = &item.entry;
        InboxItemView {
            message_id: e.message_id.clone(),
            state: state_name(item.state).into(),
            recipient: e.recipient.clone(),
            functional_address: e.functional_address.clone(),
            sender: e.sender.clone(),
            sender_functional_address: e.sender_functional_address.clone(),
            subject: e.subject.clone(),
            document_type: e.document_type.clone(),
            xhe_id: e.xhe_id.clone(),
            created: e.created.clone(),
            received_at: e.received_at.to_rfc3339(),
            encrypted: e.encrypted,
            conversation_id: e.conversation_id.clone(),
            attachments: e
                .attachments
                .iter()
                .enumerate()
                .map(|(index, a)| AttachmentView {
                    index,
                    file_name: a.file_name.clone(),
                    content_type: a.content_type.clone(),
                    size: a.size,
                })
                .collect(),
        }
    }
}

fn address(item: &InboxItem) -> AddressRef<'_> {
    AddressRef {
        organisation: &item.entry.recipient,
        functional_address: item.entry.functional_address.as_deref(),
    }
}

fn store_problem(e: StoreError) -> Response<Full<Bytes>> {
    problem(ProblemType::StoreUnavailable, e.to_string())
}

/// The inbox path after `/api/v1/inbox`, split into decoded segments (`None` when a segment is badly encoded).
fn segments(rest: &str) -> Option<Vec<String>> {
    rest.split('/').filter(|s| !s.is_empty()).map(percent_decode).collect()
}

/// Routes the `GET` inbox requests (their bodies may stream); `None` for any other request.
pub async fn route_get<B>(node: &Node, caller: &Caller, request: &Request<B>) -> Option<Response<ApiBody>> {
    if request.method() != Method::GET {
        return None;
    }
    let rest = request.uri().path().strip_prefix(INBOX_PATH)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let Some(parts) = segments(rest) else {
        return Some(boxed(problem(
            ProblemType::BadRequest,
            "the path is not valid percent-encoded UTF-8",
        )));
    };
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    Some(match parts.as_slice() {
        [] => boxed(list(node, caller, request.uri().query()).await),
        [id] => boxed(show(node, caller, id).await),
        [id, "document"] => document(node, caller, id).await,
        [id, "attachments", n] => match n.parse::<usize>() {
            Ok(n) => attachment(node, caller, id, n).await,
            Err(_) => boxed(problem(
                ProblemType::BadRequest,
                format!("attachment index {n:?} is not a number"),
            )),
        },
        _ => boxed(problem(
            ProblemType::NoRoute,
            format!("no route GET {}", request.uri().path()),
        )),
    })
}

/// Routes the `POST` inbox requests; `rest` is the path after `/api/v1`. `None` when the path is not an inbox one.
pub async fn route_post(
    node: &Node,
    caller: &Caller,
    rest: &str,
    request: Request<Incoming>,
) -> Option<Response<Full<Bytes>>> {
    let rest = rest.strip_prefix(&INBOX_PATH[API_PREFIX.len()..])?;
    let Some(parts) = segments(rest) else {
        return Some(problem(
            ProblemType::BadRequest,
            "the path is not valid percent-encoded UTF-8",
        ));
    };
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    match parts.as_slice() {
        [id, "ack"] => Some(ack(node, caller, id, request).await),
        [id, "kvittens"] => Some(kvittens(node, caller, id, request).await),
        _ => None,
    }
}

/// The query string as decoded pairs (`+` is a space, as in forms).
fn query_pairs(query: Option<&str>) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| percent_decode(&s.replace('+', " ")).ok_or_else(|| format!("bad escape in {pair:?}"));
        pairs.push((decode(k)?, decode(v)?));
    }
    Ok(pairs)
}

pub fn parse_list_query(query: Option<&str>) -> Result<InboxQuery, String> {
    let mut q = InboxQuery {
        limit: DEFAULT_INBOX_PAGE,
        ..InboxQuery::default()
    };
    for (k, v) in query_pairs(query)? {
        match k.as_str() {
            "participant" => q.participant = Some(v),
            "functional_address" => q.functional_address = Some(v),
            "state" => {
                q.state =
                    Some(parse_state(&v).ok_or_else(|| format!("unknown state {v:?} (new, fetched, acknowledged)"))?)
            }
            "cursor" => q.after = Some(InboxCursor::from_token(&v).ok_or_else(|| format!("invalid cursor {v:?}"))?),
            "limit" => {
                let n: usize = v.parse().map_err(|_| format!("limit {v:?} is not a number"))?;
                if n == 0 || n > MAX_INBOX_PAGE {
                    return Err(format!("limit must be 1..={MAX_INBOX_PAGE}"));
                }
                q.limit = n;
            }
            other => return Err(format!("unknown query parameter {other:?}")),
        }
    }
    Ok(q)
}

/// `GET /api/v1/inbox`.
pub async fn list(node: &Node, caller: &Caller, query: Option<&str>) -> Response<Full<Bytes>> {
    let mut q = match parse_list_query(query) {
        Ok(q) => q,
        Err(detail) => return problem(ProblemType::BadRequest, detail),
    };
    let wanted = q.limit;
    let mut items = Vec::new();
    let mut next = None;
    for _ in 0..MAX_SCOPE_ROUNDS {
        q.limit = wanted - items.len();
        let page = match node.store().inbox_list(q.clone()).await {
            Ok(page) => page,
            Err(e) => return store_problem(e),
        };
        let last_in_page = page.items.last().map(|i| InboxCursor {
            at: i.entry.received_at,
            key: i.entry.key,
        });
        items.extend(
            page.items
                .iter()
                .filter(|item| caller.allows(Permission::Read, address(item)))
                .map(InboxItemView::of),
        );
        next = page.next;
        if items.len() >= wanted || next.is_none() {
            break;
        }
        q.after = next.or(last_in_page);
    }
    let view = InboxListView {
        items,
        next_cursor: next.map(InboxCursor::to_token),
    };
    json_response(
        StatusCode::OK,
        &serde_json::to_value(view).unwrap_or_default(),
        "application/json",
    )
}

/// The inbox item of `message_id` if the caller may do `permission` on it. A message the caller may not even read
/// is answered exactly like an unknown id (404), so that ids outside the caller's scope do not leak (the rule of
/// `GET /api/v1/messages/{id}`); one it may read but not answer (`Send`) is 403.
async fn item_for(
    node: &Node,
    caller: &Caller,
    message_id: &str,
    permission: Permission,
) -> Result<InboxItem, Response<Full<Bytes>>> {
    let store: &dyn Store = node.store().as_ref();
    let not_found = || problem(ProblemType::NotFound, format!("no inbox message {message_id}"));
    let record = match store.get_by_message_id(Direction::Inbound, message_id).await {
        Ok(Some(record)) => record,
        Ok(None) => return Err(not_found()),
        Err(e) => return Err(store_problem(e)),
    };
    let item = match store.inbox_get(record.key).await {
        Ok(Some(item)) => item,
        Ok(None) => return Err(not_found()),
        Err(e) => return Err(store_problem(e)),
    };
    if !caller.allows(Permission::Read, address(&item)) {
        return Err(not_found());
    }
    if !caller.allows(permission, address(&item)) {
        return Err(problem(
            ProblemType::Forbidden,
            format!("the caller may read message {message_id} but has no Send permission for it"),
        ));
    }
    Ok(item)
}

/// `GET /api/v1/inbox/{id}`.
pub async fn show(node: &Node, caller: &Caller, message_id: &str) -> Response<Full<Bytes>> {
    match item_for(node, caller, message_id, Permission::Read).await {
        Ok(item) => json_response(
            StatusCode::OK,
            &serde_json::to_value(InboxItemView::of(&item)).unwrap_or_default(),
            "application/json",
        ),
        Err(response) => response,
    }
}

/// `Content-Disposition: attachment` with an ASCII fallback name and the UTF-8 name (RFC 6266 / RFC 8187).
pub fn content_disposition(file_name: &str) -> String {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let ascii: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in base.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

fn streamed(
    status: StatusCode,
    headers: Vec<(http::HeaderName, String)>,
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> Response<ApiBody> {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item.map(Frame::data), rx))
    });
    let mut response = Response::new(StreamBody::new(stream).boxed_unsync());
    *response.status_mut() = status;
    for (name, value) in headers {
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// `GET /api/v1/inbox/{id}/attachments/{n}`: decoded while streaming, never held whole.
pub async fn attachment(node: &Node, caller: &Caller, message_id: &str, index: usize) -> Response<ApiBody> {
    let item = match item_for(node, caller, message_id, Permission::Read).await {
        Ok(item) => item,
        Err(response) => return boxed(response),
    };
    let Some(meta) = item.entry.attachments.get(index).cloned() else {
        return boxed(problem(
            ProblemType::NotFound,
            format!(
                "message {message_id} has {} attachment(s), no {index}",
                item.entry.attachments.len()
            ),
        ));
    };
    let path = match xhe_path(node, &item).await {
        Ok(path) => path,
        Err(response) => return boxed(response),
    };
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => return boxed(problem(ProblemType::StoreUnavailable, format!("payload file: {e}"))),
    };
    let (tx, rx) = tokio::sync::mpsc::channel(STREAM_CHANNEL_CHUNKS);
    tokio::task::spawn_blocking(move || {
        let mut reader = match AttachmentReader::open(std::io::BufReader::with_capacity(64 * 1024, file), index) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                return;
            }
        };
        loop {
            let next = match reader.next_chunk() {
                Ok(Some(chunk)) => Ok(Bytes::from(chunk)),
                Ok(None) => return,
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            let failed = next.is_err();
            // The client went away: stop decoding.
            if tx.blocking_send(next).is_err() || failed {
                return;
            }
        }
    });
    streamed(
        StatusCode::OK,
        vec![
            (http::header::CONTENT_TYPE, meta.content_type.clone()),
            (http::header::CONTENT_DISPOSITION, content_disposition(&meta.file_name)),
            (http::header::CONTENT_LENGTH, meta.size.to_string()),
        ],
        rx,
    )
}

async fn xhe_path(node: &Node, item: &InboxItem) -> Result<std::path::PathBuf, Response<Full<Bytes>>> {
    let record = match node.store().get(item.entry.key).await {
        Ok(Some(record)) => record,
        Ok(None) => return Err(problem(ProblemType::NotFound, "the message was purged")),
        Err(e) => return Err(store_problem(e)),
    };
    // The decrypted envelope when the classifier opened an end-to-end encrypted payload, else the stored one.
    crate::sdk::inbound::protection::inbox_xhe_path(node.store().payload_files(), &record)
        .map_err(store_problem)?
        .ok_or_else(|| problem(ProblemType::NotFound, "the message has no payload"))
}

/// `GET /api/v1/inbox/{id}/document`: the received XHE envelope as stored, streamed.
pub async fn document(node: &Node, caller: &Caller, message_id: &str) -> Response<ApiBody> {
    let item = match item_for(node, caller, message_id, Permission::Read).await {
        Ok(item) => item,
        Err(response) => return boxed(response),
    };
    let path = match xhe_path(node, &item).await {
        Ok(path) => path,
        Err(response) => return boxed(response),
    };
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) => return boxed(problem(ProblemType::StoreUnavailable, format!("payload file: {e}"))),
    };
    let size = file.metadata().await.map(|m| m.len()).ok();
    let (tx, rx) = tokio::sync::mpsc::channel(STREAM_CHANNEL_CHUNKS);
    tokio::spawn(async move {
        use futures_util::StreamExt;
        let mut chunks = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024);
        while let Some(chunk) = chunks.next().await {
            if tx.send(chunk).await.is_err() {
                return;
            }
        }
    });
    let mut headers = vec![
        (http::header::CONTENT_TYPE, "application/xml".to_string()),
        (
            http::header::CONTENT_DISPOSITION,
            content_disposition(&format!("{message_id}.xml")),
        ),
    ];
    if let Some(size) = size {
        headers.push((http::header::CONTENT_LENGTH, size.to_string()));
    }
    streamed(StatusCode::OK, headers, rx)
}

/// Reads a small JSON request body (empty allowed when `T: Default`).
async fn small_json<T: serde::de::DeserializeOwned + Default>(
    request: Request<Incoming>,
) -> Result<T, Response<Full<Bytes>>> {
    let limited = http_body_util::Limited::new(request.into_body(), MAX_INBOX_REQUEST_BYTES);
    let bytes = match limited.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return Err(problem(
                ProblemType::BadRequest,
                format!("request body (at most {MAX_INBOX_REQUEST_BYTES} bytes): {e}"),
            ))
        }
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes).map_err(|e| problem(ProblemType::BadRequest, format!("request JSON: {e}")))
}

/// `POST /api/v1/inbox/{id}/ack`.
pub async fn ack(node: &Node, caller: &Caller, message_id: &str, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let item = match item_for(node, caller, message_id, Permission::Read).await {
        Ok(item) => item,
        Err(response) => return response,
    };
    let body: AckRequest = match small_json(request).await {
        Ok(b) => b,
        Err(response) => return response,
    };
    let target = match body.state.as_deref() {
        None | Some("acknowledged") => State::Acknowledged,
        Some("fetched") => State::Fetched,
        Some(other) => {
            return problem(
                ProblemType::BadRequest,
                format!("state {other:?}: use fetched or acknowledged"),
            )
        }
    };
    if item.state == target {
        return ack_answer(message_id, target);
    }
    let change = Transition::new(item.entry.key, item.state, target, caller.actor())
        .reason(format!("{} through the API", state_name(target)));
    match node.store().transition(change).await {
        Ok(written) => match written.durable().await {
            Ok(_) => ack_answer(message_id, target),
            Err(e) => store_problem(e),
        },
        Err(StoreError::IllegalTransition(e)) => problem(
            ProblemType::InboxConflict,
            format!("message {message_id} is {}: {e}", state_name(item.state)),
        ),
        Err(StoreError::UnexpectedState { actual, .. }) => problem(
            ProblemType::InboxConflict,
            format!("message {message_id} changed meanwhile; it is {}", state_name(actual)),
        ),
        Err(e) => store_problem(e),
    }
}

fn ack_answer(message_id: &str, state: State) -> Response<Full<Bytes>> {
    json_response(
        StatusCode::OK,
        &serde_json::json!({"message_id": message_id, "state": state_name(state)}),
        "application/json",
    )
}

/// `POST /api/v1/inbox/{id}/kvittens`.
pub async fn kvittens(
    node: &Node,
    caller: &Caller,
    message_id: &str,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    if let Err(response) = item_for(node, caller, message_id, Permission::Send).await {
        return response;
    }
    let body: KvittensBody = match small_json(request).await {
        Ok(b) => b,
        Err(response) => return response,
    };
    let response = match body.response.as_str() {
        "ACCEPTED" => ResponseCode::Accepted,
        "REJECTED" => ResponseCode::Rejected,
        other => {
            return problem(
                ProblemType::BadRequest,
                format!("response {other:?}: use ACCEPTED or REJECTED"),
            )
        }
    };
    let mut reasons = Vec::new();
    if response == ResponseCode::Rejected {
        let code = match body.reason_code.as_deref().unwrap_or("BV") {
            "SV" => ReasonCode::SchemaError,
            "BV" => ReasonCode::BusinessRuleError,
            "SIG" => ReasonCode::SignatureError,
            other => {
                return problem(
                    ProblemType::BadRequest,
                    format!("reason_code {other:?}: use SV, BV or SIG"),
                )
            }
        };
        let text = body.description.clone().unwrap_or_default();
        if text.trim().is_empty() {
            return problem(ProblemType::BadRequest, "a REJECTED kvittens needs a description");
        }
        reasons.push(RejectionReason {
            location: NO_LOCATION.into(),
            code,
            detail_code: None,
            text,
        });
    } else if body.reason_code.is_some() {
        return problem(ProblemType::BadRequest, "reason_code is only for REJECTED");
    }
    let request = KvittensRequest {
        message_id: message_id.to_string(),
        response,
        reasons,
        actor: caller.actor().to_string(),
    };
    match send_kvittens(node, request).await {
        Ok(sent) => json_response(
            StatusCode::ACCEPTED,
            &serde_json::to_value(KvittensAnswer {
                message_id: sent.message_id,
                kvittens_id: sent.kvittens_id,
            })
            .unwrap_or_default(),
            "application/json",
        ),
        Err(ReplyError::AlreadySent(id)) => problem(
            ProblemType::InboxConflict,
            format!("a kvittens was already sent for message {id}"),
        ),
        Err(e @ (ReplyError::NotFound(_) | ReplyError::NotInInbox(_))) => problem(ProblemType::NotFound, e.to_string()),
        Err(e @ ReplyError::Invalid(_)) => problem(ProblemType::BadRequest, e.to_string()),
        Err(e @ ReplyError::Submit(_)) => problem(ProblemType::InvalidSubmission, e.to_string()),
        Err(e) => problem(ProblemType::StoreUnavailable, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_queries_parse_and_refuse_unknown_parameters() {
        let q = parse_list_query(Some(
            "participant=0203%3Aa.se&functional_address=sdk+x&state=fetched&limit=5",
        ))
        .unwrap();
        assert_eq!(q.participant.as_deref(), Some("0203:a.se"));
        assert_eq!(q.functional_address.as_deref(), Some("sdk x"));
        assert_eq!(q.state, Some(State::Fetched));
        assert_eq!(q.limit, 5);
        assert!(parse_list_query(Some("limit=0")).is_err());
        assert!(parse_list_query(Some("state=gone")).is_err());
        assert!(parse_list_query(Some("cursor=zz")).is_err());
        assert!(parse_list_query(Some("colour=red")).is_err());
    }

    #[test]
    fn content_disposition_keeps_names_safe() {
        assert_eq!(
            content_disposition("rapport.pdf"),
            "attachment; filename=\"rapport.pdf\"; filename*=UTF-8''rapport.pdf"
        );
        let d = content_disposition("../x\"\r\nä.txt");
        assert!(!d.contains('\r') && !d.contains('\n') && !d.contains(".."), "{d}");
        assert!(d.contains("%C3%A4"), "{d}");
    }
}

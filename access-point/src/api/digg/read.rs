//! `GET /v1/sdk/messages` (getMessageByFilter), `GET /v1/sdk/messages/{id}` (getMessageById) and
//! `DELETE /v1/sdk/messages/{id}` (deleteMessageById) over the store: every SDK message (action
//! [`pmode::builtin::SDK_MESSAGE_ACTION`]), sent or received, that the caller may read.
//!
//! A message's content is read back from its stored `cid:message` part: the XHE envelope, whose payload is the SDK
//! message. A message whose content cannot be shown (encrypted end to end for the organisation, or not an SDK
//! message v3) is listed with status `ERROR`, the AS4 metadata it has, and an event that says why.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use xmldsig::dom::ParseLimits;

use super::document::{attributes_of, resource, top_level, MessageAttributes};
use super::lifecycle::{self, KvittensFact};
use super::problem::{DiggProblem, DiggProblemKind};
use super::scopes::Operation;
use super::{DIGG_LIST_MAX_RESULTS, DIGG_LIST_MAX_SCANNED, DIGG_MAX_REQUEST_BYTES, DIGG_PREFIX};
use crate::api::auth::{AddressRef, Caller};
use crate::api::json_response;
use crate::api::server::{percent_decode, percent_encode};
use crate::msh::Node;
use crate::sdk::message_v3::SdkMessage;
use crate::sdk::xhe::{PayloadContent, Xhe};
use crate::store::{Direction, ListQuery, MessageRecord, State, Transition, MAX_PAGE_SIZE};

/// The Content-ID of the part that holds the XHE envelope (`cid:message` of the SDK P-Mode).
pub const MESSAGE_PART_ID: &str = "message";

/// The filters of `?filter[NAME]=value` (names compare case-insensitively; values may be quoted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub message_status: Option<String>,
    pub recipient_functional_address: Option<String>,
    pub sender_functional_address: Option<String>,
    pub sender: Option<String>,
    pub recipient: Option<String>,
    pub creation_start: Option<OffsetDateTime>,
    pub creation_stop: Option<OffsetDateTime>,
}

/// The filter names accepted, as DIGG writes them.
pub const FILTER_NAMES: [&str; 7] = [
    "messageStatus",
    "recipientAttention.subOrganization.extension",
    "senderAttention.subOrganization.extension",
    "sender",
    "recipient",
    "creationDateTimeStart",
    "creationDateTimeStop",
];

impl Filter {
    /// Parses a query string. Anything but `filter[NAME]=value` with a known NAME is refused.
    pub fn parse(query: Option<&str>) -> Result<Filter, DiggProblem> {
        let mut filter = Filter::default();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| percent_decode(&s.replace('+', " "));
            let (Some(key), Some(value)) = (decode(raw_key), decode(raw_value)) else {
                return Err(DiggProblem::bad_request(
                    "Query parameter is not valid percent-encoded UTF-8",
                    pair.to_string(),
                    "query",
                ));
            };
            let value = value.trim().trim_matches('"').to_string();
            let Some(name) = key.strip_prefix("filter[").and_then(|k| k.strip_suffix(']')) else {
                return Err(DiggProblem::bad_request(
                    "Unknown query parameter",
                    format!("{key:?}: only filter[attribute]=value is supported"),
                    key,
                ));
            };
            let Some(known) = FILTER_NAMES.iter().find(|n| n.eq_ignore_ascii_case(name)) else {
                return Err(DiggProblem::bad_request(
                    "Unknown filter",
                    format!(
                        "filter[{name}] is not supported; supported: {}",
                        FILTER_NAMES.join(", ")
                    ),
                    key,
                ));
            };
            let time = |v: &str| {
                OffsetDateTime::parse(v, &Rfc3339).map_err(|e| {
                    DiggProblem::bad_request(
                        "Wrong date format",
                        format!("{v:?} is not an ISO 8601 / RFC 3339 date-time (UTC): {e}"),
                        key.clone(),
                    )
                })
            };
            match *known {
                "messageStatus" => {
                    if !lifecycle::ALL_STATUSES.contains(&value.as_str()) {
                        return Err(DiggProblem::bad_request(
                            "Unknown messageStatus",
                            format!("{value:?} is not a KV Meddelandestatus code"),
                            key,
                        ));
                    }
                    filter.message_status = Some(value)
                }
                "recipientAttention.subOrganization.extension" => filter.recipient_functional_address = Some(value),
                "senderAttention.subOrganization.extension" => filter.sender_functional_address = Some(value),
                "sender" => filter.sender = Some(value),
                "recipient" => filter.recipient = Some(value),
                "creationDateTimeStart" => filter.creation_start = Some(time(&value)?),
                _ => filter.creation_stop = Some(time(&value)?),
            }
        }
        Ok(filter)
    }

    /// Whether a message's attributes pass every filter. `created` is its creationDateTime (or, when that does not
    /// parse, when we stored it).
    fn matches(&self, attributes: &MessageAttributes, created: OffsetDateTime) -> bool {
        let eq = |want: &Option<String>, have: Option<&str>| match want {
            None => true,
            Some(w) => have.is_some_and(|h| h.eq_ignore_ascii_case(w)),
        };
        fn fa(a: &Option<super::document::AttentionDef>) -> Option<&str> {
            a.as_ref().map(|a| a.sub_organization.extension.as_str())
        }
        eq(&self.message_status, attributes.message_status.as_deref())
            && eq(&self.recipient_functional_address, fa(&attributes.recipient_attention))
            && eq(&self.sender_functional_address, fa(&attributes.sender_attention))
            && eq(&self.sender, Some(&attributes.sender))
            && eq(&self.recipient, Some(&attributes.recipient))
            && self.creation_start.is_none_or(|start| created >= start)
            && self.creation_stop.is_none_or(|stop| created < stop)
    }
}

/// A stored SDK message as DIGG shows it.
struct Shown {
    record: MessageRecord,
    attributes: MessageAttributes,
    created: OffsetDateTime,
    /// The organisation and functional address the caller's scope is checked against.
    organisation: String,
    functional_address: Option<String>,
}

impl Shown {
    fn allowed(&self, caller: &Caller, operation: Operation) -> bool {
        caller.allows(
            operation.permission(),
            AddressRef {
                organisation: &self.organisation,
                functional_address: self.functional_address.as_deref(),
            },
        )
    }
}

/// The path of a message resource.
pub fn message_path(message_id: &str) -> String {
    format!("{DIGG_PREFIX}/messages/{}", percent_encode(message_id))
}

fn is_visible(record: &MessageRecord) -> bool {
    record.meta.action == pmode::builtin::SDK_MESSAGE_ACTION
        && !(record.direction == Direction::Inbound && record.state == State::Acknowledged)
}

/// Reads the SDK message of a stored record (off the async threads: it parses XML and base64).
async fn read_content(node: &Node, record: &MessageRecord) -> Result<SdkMessage, String> {
    let part = record
        .payloads
        .iter()
        .find(|p| p.content_id == MESSAGE_PART_ID)
        .or_else(|| record.payloads.first())
        .ok_or("the message has no payload")?;
    if part.size > DIGG_MAX_REQUEST_BYTES {
        return Err(format!(
            "the stored message ({} bytes) is larger than this API shows ({DIGG_MAX_REQUEST_BYTES} bytes); fetch it through /api/v1",
            part.size
        ));
    }
    let path = node
        .store()
        .payload_files()
        .path_of(record.key, part)
        .map_err(|e| e.to_string())?;
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| format!("reading the stored message: {e}"))?;
    let base = node.config().limits.xml_parse_limits();
    let limits = ParseLimits {
        max_bytes: usize::try_from(DIGG_MAX_REQUEST_BYTES).unwrap_or(usize::MAX),
        ..base
    };
    tokio::task::spawn_blocking(move || {
        let xhe = Xhe::parse(&bytes, &limits).map_err(|e| format!("the XHE envelope does not parse: {e}"))?;
        match &xhe.payload.content {
            PayloadContent::Xml(fragment) => SdkMessage::parse(fragment.as_bytes(), &limits)
                .map_err(|e| format!("the payload is not a valid SDK message: {e}")),
            PayloadContent::Encrypted(_) => {
                Err("the payload is encrypted end to end for the organisation; fetch it through /api/v1".into())
            }
            PayloadContent::Text(_) => Err("the payload is not XML, so not an SDK message v3".into()),
        }
    })
    .await
    .map_err(|e| format!("reading the stored message: {e}"))?
}

/// What a message's status is made of: its history and kvittens facts (cheap store reads, no payload).
struct StatusFacts {
    status: &'static str,
    history: Vec<crate::store::StateChange>,
    kvittens: KvittensFact,
}

async fn status_facts(node: &Node, record: &MessageRecord) -> Result<StatusFacts, crate::store::StoreError> {
    let history = node.store().history(record.key).await?;
    let limits = node.config().limits.xml_parse_limits();
    let kvittens = lifecycle::kvittens_fact(node.store().as_ref(), record, &history, &limits).await?;
    Ok(StatusFacts {
        status: lifecycle::message_status(record.state, &kvittens),
        history,
        kvittens,
    })
}

async fn show(
    node: &Node,
    record: MessageRecord,
    facts: StatusFacts,
    with_documents: bool,
) -> Result<Shown, crate::store::StoreError> {
    let StatusFacts {
        status,
        history,
        kvittens,
    } = facts;
    let instance = message_path(&record.meta.message_id);
    let stored_at = record.created_at.to_offset_date_time();
    let (mut attributes, functional_address, problem) = match read_content(node, &record).await {
        Ok(message) => {
            let attributes = attributes_of(&message, status, with_documents);
            let fa = match record.direction {
                Direction::Outbound => attributes.sender_attention.as_ref(),
                Direction::Inbound => attributes.recipient_attention.as_ref(),
            }
            .map(|a| a.sub_organization.extension.clone());
            (attributes, fa, None)
        }
        Err(why) => {
            let meta = &record.meta;
            let attributes = MessageAttributes {
                message_status: Some("ERROR".into()),
                creation_date_time: Some(record.created_at.to_rfc3339()),
                message_id: Some(meta.message_id.clone()),
                conversation_id: Some(meta.conversation_id.clone()),
                ref_to_message_id: meta.ref_to_message_id.clone(),
                // Unknown: shown as confidential, the careful reading.
                confidentiality: true,
                generating_system: None,
                recipient_attention: None,
                sender_attention: None,
                sender: meta.original_sender.clone().unwrap_or_default(),
                recipient: meta.final_recipient.clone().unwrap_or_default(),
                label: String::new(),
                digital_document: None,
                events: None,
            };
            (attributes, None, Some(why))
        }
    };
    let mut events = lifecycle::events(&instance, status, record.last_error.as_deref(), &history, &kvittens);
    if let Some(why) = problem {
        events["title"] = "ERROR".into();
        if let Some(issues) = events["eventIssues"].as_array_mut() {
            issues.insert(
                0,
                serde_json::json!({"typeCode": "ERROR", "title": "Content cannot be shown", "detail": why}),
            );
        }
    }
    attributes.events = Some(events);
    let created = attributes
        .creation_date_time
        .as_deref()
        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
        .unwrap_or(stored_at);
    let organisation = match record.direction {
        Direction::Outbound => record.meta.original_sender.clone(),
        Direction::Inbound => record.meta.final_recipient.clone(),
    }
    .unwrap_or_else(|| match record.direction {
        Direction::Outbound => attributes.sender.clone(),
        Direction::Inbound => attributes.recipient.clone(),
    });
    Ok(Shown {
        record,
        attributes,
        created,
        organisation,
        functional_address,
    })
}

fn unavailable(e: impl std::fmt::Display) -> Response<Full<Bytes>> {
    DiggProblem::new(DiggProblemKind::Unavailable, "The message store failed", e.to_string()).into_response()
}

/// `GET /v1/sdk/messages`: the caller's SDK messages that pass the filters, oldest first, at most
/// [`DIGG_LIST_MAX_RESULTS`], never with `digitalDocument`.
pub(super) async fn list(node: &Node, caller: &Caller, query: Option<&str>) -> Response<Full<Bytes>> {
    let filter = match Filter::parse(query) {
        Ok(f) => f,
        Err(p) => return p.into_response(),
    };
    let states: Vec<State> = match &filter.message_status {
        Some(status) => lifecycle::states_for_status(status),
        None => State::ALL.into_iter().filter(|s| *s != State::Acknowledged).collect(),
    };
    let mut shown: Vec<Shown> = Vec::new();
    let mut scanned = 0usize;
    let mut truncated = false;
    'states: for state in states {
        let mut per_state = 0usize;
        let mut after = None;
        loop {
            let page = match node
                .store()
                .list(ListQuery {
                    direction: Some(state.direction()),
                    state: Some(state),
                    limit: MAX_PAGE_SIZE.min(DIGG_LIST_MAX_SCANNED),
                    after,
                    oldest_first: true,
                    ..ListQuery::default()
                })
                .await
            {
                Ok(page) => page,
                Err(e) => return unavailable(e),
            };
            for record in page.records {
                if !is_visible(&record) {
                    continue;
                }
                if scanned >= DIGG_LIST_MAX_SCANNED {
                    truncated = true;
                    break 'states;
                }
                scanned += 1;
                let facts = match status_facts(node, &record).await {
                    Ok(facts) => facts,
                    Err(e) => return unavailable(e),
                };
                // The status filter is decided on the store's facts, before the payload is read.
                if filter
                    .message_status
                    .as_deref()
                    .is_some_and(|want| want != facts.status)
                {
                    continue;
                }
                let item = match show(node, record, facts, false).await {
                    Ok(item) => item,
                    Err(e) => return unavailable(e),
                };
                if item.allowed(caller, Operation::GetMessageByFilter) && filter.matches(&item.attributes, item.created)
                {
                    shown.push(item);
                    per_state += 1;
                    if per_state >= DIGG_LIST_MAX_RESULTS {
                        truncated = true;
                        continue 'states;
                    }
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    shown.sort_by_key(|s| (s.record.created_at, s.record.key));
    if shown.len() > DIGG_LIST_MAX_RESULTS {
        shown.truncate(DIGG_LIST_MAX_RESULTS);
        truncated = true;
    }
    let data: Vec<serde_json::Value> = shown
        .iter()
        .map(|s| resource(&s.record.meta.message_id, &s.attributes))
        .collect();
    let self_link = match query {
        Some(q) if !q.is_empty() => format!("{DIGG_PREFIX}/messages?{q}"),
        _ => format!("{DIGG_PREFIX}/messages"),
    };
    let mut body = top_level(&self_link, data.into());
    if truncated {
        body["meta"]["truncated"] = true.into();
    }
    json_response(StatusCode::OK, &body, "application/json")
}

/// The visible record of `raw_id` (a percent-encoded path segment) that the caller may reach, or the answer.
async fn find(
    node: &Node,
    caller: &Caller,
    raw_id: &str,
    operation: Operation,
    with_documents: bool,
) -> Result<Shown, Response<Full<Bytes>>> {
    let not_found = || {
        DiggProblem::new(
            DiggProblemKind::NotFound,
            "Message not found",
            format!("no message {raw_id} (or not one this client may reach)"),
        )
        .into_response()
    };
    let Some(id) = percent_decode(raw_id) else {
        return Err(DiggProblem::bad_request(
            "The message id is not valid percent-encoded UTF-8",
            raw_id.to_string(),
            "path",
        )
        .into_response());
    };
    let mut record = None;
    for direction in [Direction::Outbound, Direction::Inbound] {
        match node.store().get_by_message_id(direction, &id).await {
            Ok(Some(r)) if is_visible(&r) => {
                record = Some(r);
                break;
            }
            Ok(_) => {}
            Err(e) => return Err(unavailable(e)),
        }
    }
    let Some(record) = record else { return Err(not_found()) };
    let facts = status_facts(node, &record).await.map_err(unavailable)?;
    let shown = show(node, record, facts, with_documents).await.map_err(unavailable)?;
    // A message outside the caller's scope is answered like a missing one, so its existence does not leak.
    if !shown.allowed(caller, operation) {
        return Err(not_found());
    }
    Ok(shown)
}

/// `GET /v1/sdk/messages/{id}`: the whole message, `digitalDocument` included. Fetching a received message marks
/// it `fetched` in our store; its DIGG status does not change (B1.4.2 has no status for a fetched message).
pub(super) async fn get(node: &Node, caller: &Caller, raw_id: &str, query: Option<&str>) -> Response<Full<Bytes>> {
    let filter = match Filter::parse(query) {
        Ok(f) => f,
        Err(p) => return p.into_response(),
    };
    let shown = match find(node, caller, raw_id, Operation::GetMessageById, true).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    if !filter.matches(&shown.attributes, shown.created) {
        return DiggProblem::new(
            DiggProblemKind::NotFound,
            "Message not found",
            format!("message {raw_id} does not pass the filter"),
        )
        .into_response();
    }
    if shown.record.state == State::Received {
        let change = Transition::new(shown.record.key, State::Received, State::Fetched, caller.actor())
            .reason("fetched through the DIGG message-client API (getMessageById)");
        match node.store().transition(change).await {
            Ok(written) => {
                if let Err(e) = written.durable().await {
                    tracing::warn!(error = %e, "digg api: marking a message fetched was not flushed");
                }
            }
            // Another client changed it meanwhile; the answer is the same.
            Err(e) => tracing::debug!(error = %e, "digg api: message not marked fetched"),
        }
    }
    tracing::info!(actor = caller.actor(), message_id = %shown.record.meta.message_id, "digg api: getMessageById");
    let id = &shown.record.meta.message_id;
    let body = top_level(&message_path(id), resource(id, &shown.attributes));
    json_response(StatusCode::OK, &body, "application/json")
}

/// `DELETE /v1/sdk/messages/{id}`: a received message in a final status (`NEW`, or `MESSAGE_EXCHANGE_ERROR` when
/// its kvittens could not be delivered) becomes `acknowledged` (then purged
/// by retention) and is no longer shown. A sent message is never deleted on request: it holds the delivery
/// evidence until retention purges it, so the answer is 400 (and 400 too for a status that is not final).
pub(super) async fn delete(node: &Node, caller: &Caller, raw_id: &str) -> Response<Full<Bytes>> {
    let shown = match find(node, caller, raw_id, Operation::DeleteMessageById, false).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let status = shown.attributes.message_status.clone().unwrap_or_default();
    if !lifecycle::is_deletable_status(&status) {
        return DiggProblem::bad_request(
            "The message has no final status",
            format!(
                "status {status} is not final; only NEW, ACCEPTED and MESSAGE_EXCHANGE_ERROR messages can be deleted"
            ),
            "path",
        )
        .into_response();
    }
    if shown.record.direction == Direction::Outbound {
        return DiggProblem::bad_request(
            "Sent messages are not deleted on request",
            "a sent message keeps its delivery evidence until the store's retention purges it",
            "path",
        )
        .into_response();
    }
    let change = Transition::new(
        shown.record.key,
        shown.record.state,
        State::Acknowledged,
        caller.actor(),
    )
    .reason("deleted through the DIGG message-client API (deleteMessageById)");
    let written = match node.store().transition(change).await {
        Ok(w) => w,
        Err(crate::store::StoreError::IllegalTransition(_)) | Err(crate::store::StoreError::UnexpectedState { .. }) => {
            return DiggProblem::new(
                DiggProblemKind::NotFound,
                "Message not found",
                format!("message {raw_id} was deleted meanwhile"),
            )
            .into_response()
        }
        Err(e) => return unavailable(e),
    };
    if let Err(e) = written.durable().await {
        return unavailable(e);
    }
    tracing::info!(actor = caller.actor(), message_id = %shown.record.meta.message_id, "digg api: deleteMessageById");
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::ACCEPTED;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_as_digg_writes_them() {
        let f = Filter::parse(Some(
            "filter%5BrecipientAttention.subOrganization.extension%5D=%22sdk:inkorg01:0203:inera.se%22&filter[messagestatus]=NEW&filter[creationDateTimeStart]=2024-01-01T00:00:00Z",
        ))
        .unwrap();
        assert_eq!(
            f.recipient_functional_address.as_deref(),
            Some("sdk:inkorg01:0203:inera.se")
        );
        assert_eq!(f.message_status.as_deref(), Some("NEW"));
        assert!(f.creation_start.is_some());
        assert_eq!(Filter::parse(None).unwrap(), Filter::default());
    }

    #[test]
    fn unknown_filters_and_bad_values_are_refused() {
        for query in [
            "filter[colour]=red",
            "page=2",
            "filter[messageStatus]=DONE",
            "filter[creationDateTimeStop]=yesterday",
            "filter[sender]=%ff",
        ] {
            let problem = Filter::parse(Some(query)).unwrap_err();
            assert_eq!(problem.kind, DiggProblemKind::BadRequest, "{query}");
        }
    }
}

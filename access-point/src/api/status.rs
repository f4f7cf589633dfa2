//! `GET /api/v1/status` and `GET /api/v1/messages/{id}`.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde::{Deserialize, Serialize};

use super::auth::{AddressRef, Caller, Permission};
use super::{json_response, problem, ProblemType};
use crate::msh::Node;
use crate::sdk::message_v3::{SdkMessage, MESSAGE_V3_NS};
use crate::sdk::xhe::{PayloadContent, Xhe};
use crate::store::{Direction, EvidenceKind, MessageRecord, State, StatusReport, Store};

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
    /// The `trackingIdentifier` message property, when the message carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_identifier: Option<String>,
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
            tracking_identifier: record.meta.tracking_identifier.clone(),
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

/// `GET /api/v1/status`: the whole node's figures, so only for unrestricted (operator) callers.
pub(super) async fn status(node: &Node, caller: &Caller) -> Response<Full<Bytes>> {
    if !caller.is_operator() {
        return problem(
            ProblemType::Forbidden,
            "the node status is for operator tokens only (sdk-ap api-token create --operator)",
        );
    }
    match StatusReport::read(node.store().as_ref(), STATUS_LAST_ERRORS).await {
        Ok(report) => json_response(StatusCode::OK, &report.to_json(), "application/json"),
        Err(e) => problem(ProblemType::StoreUnavailable, e.to_string()),
    }
}

/// `GET /api/v1/messages/{id}`: only when the caller may read the message's organisation and functional address
/// (outbound: the sender's; inbound: the recipient's); otherwise the same 404 as an unknown id, so that ids of
/// other functions' messages do not leak.
pub(super) async fn message(node: &Node, caller: &Caller, message_id: &str) -> Response<Full<Bytes>> {
    let not_found = || problem(ProblemType::NotFound, format!("no message {message_id}"));
    match readable_record(node, caller, message_id).await {
        Ok(true) => {}
        Ok(false) => return not_found(),
        Err(e) => return problem(ProblemType::StoreUnavailable, e.to_string()),
    }
    match MessageView::read(node.store().as_ref(), message_id).await {
        Ok(Some(view)) => json_response(
            StatusCode::OK,
            &serde_json::to_value(view).unwrap_or_default(),
            "application/json",
        ),
        Ok(None) => not_found(),
        Err(e) => problem(ProblemType::StoreUnavailable, e.to_string()),
    }
}

/// Largest stored SDK message parsed whole to learn a message's functional address for a scope check (the address
/// is in the SDK message header inside the XHE). A larger message is not parsed: an inbound one's address comes
/// from its inbox entry, an outbound one's from a streaming read that stops at the end of the SDK message header
/// (at most this many bytes), so large attachments are never read for a scope check.
pub const MAX_SCOPE_PROBE_BYTES: u64 = 16 << 20;
/// The Content-ID of the XHE part of an SDK message (`cid:message`, SDK transport profile).
const SDK_MESSAGE_PART_ID: &str = "message";

/// Whether the message exists and `caller` may read it (the record [`MessageView::read`] shows: outbound first).
async fn readable_record(node: &Node, caller: &Caller, message_id: &str) -> Result<bool, crate::store::StoreError> {
    if caller.is_operator() {
        return Ok(true);
    }
    let store = node.store();
    let mut record = store.get_by_message_id(Direction::Outbound, message_id).await?;
    if record.is_none() {
        record = store.get_by_message_id(Direction::Inbound, message_id).await?;
    }
    let Some(record) = record else { return Ok(false) };
    let organisation = match record.direction {
        Direction::Outbound => record.meta.original_sender.clone(),
        Direction::Inbound => record.meta.final_recipient.clone(),
    };
    let Some(organisation) = organisation.filter(|o| !o.trim().is_empty()) else {
        // No four-corner party (e.g. the ebMS test service): only the operator sees it.
        return Ok(false);
    };
    let organisation_wide = AddressRef {
        organisation: &organisation,
        functional_address: None,
    };
    if caller.allows(Permission::Read, organisation_wide) {
        return Ok(true);
    }
    // Only a functional-address scope of this organisation can still allow it: find the message's address.
    let functional_address = functional_address_of(node, &record).await;
    Ok(functional_address.is_some_and(|fa| {
        caller.allows(
            Permission::Read,
            AddressRef {
                organisation: &organisation,
                functional_address: Some(&fa),
            },
        )
    }))
}

/// The functional address of a stored SDK message: the sender's (outbound) or the recipient's (inbound)
/// `attention/subOrganization`, else (inbound) the XHE HandlingServiceID. `None` when it cannot be read.
async fn functional_address_of(node: &Node, record: &MessageRecord) -> Option<String> {
    if record.meta.action != pmode::builtin::SDK_MESSAGE_ACTION {
        return None;
    }
    let part = record
        .payloads
        .iter()
        .find(|p| p.content_id == SDK_MESSAGE_PART_ID)
        .or_else(|| record.payloads.first())?;
    let path = node.store().payload_files().path_of(record.key, part).ok()?;
    if part.size > MAX_SCOPE_PROBE_BYTES {
        return large_message_functional_address(node, record, path).await;
    }
    let bytes = tokio::fs::read(&path).await.ok()?;
    let limits = xmldsig::dom::ParseLimits {
        max_bytes: usize::try_from(MAX_SCOPE_PROBE_BYTES).unwrap_or(usize::MAX),
        ..node.config().limits.xml_parse_limits()
    };
    let outbound = record.direction == Direction::Outbound;
    tokio::task::spawn_blocking(move || {
        let xhe = Xhe::parse(&bytes, &limits).ok()?;
        let from_message = match &xhe.payload.content {
            PayloadContent::Xml(fragment) => SdkMessage::parse(fragment.as_bytes(), &limits).ok().and_then(|m| {
                let party = if outbound { m.header.sender } else { m.header.recipient };
                party.attention.map(|a| a.sub_organization.id.extension)
            }),
            _ => None,
        };
        from_message
            .or_else(|| (!outbound).then(|| xhe.payload.handling_service_id.clone()).flatten())
            .filter(|fa| !fa.trim().is_empty())
    })
    .await
    .ok()
    .flatten()
}

/// The functional address of an SDK message too large to parse whole: the inbox entry's (inbound, the address the
/// inbox lists it under), else the one in the SDK message header read as a stream.
async fn large_message_functional_address(
    node: &Node,
    record: &MessageRecord,
    path: std::path::PathBuf,
) -> Option<String> {
    let outbound = record.direction == Direction::Outbound;
    if !outbound {
        return node.store().inbox_get(record.key).await.ok()??.entry.functional_address;
    }
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(path).ok()?;
        header_functional_address(std::io::BufReader::new(file), "sender", MAX_SCOPE_PROBE_BYTES)
    })
    .await
    .ok()
    .flatten()
}

/// `messageHeader/{party}/attention/subOrganization/organizationId/extension` of the SDK message inside an XHE,
/// read as a stream that stops at the end of `messageHeader` (the attachments come after it) or after `max_bytes`.
/// `None` when the header names no address, names it twice, or cannot be read.
fn header_functional_address<R: std::io::BufRead>(reader: R, party: &str, max_bytes: u64) -> Option<String> {
    use quick_xml::events::Event;
    use quick_xml::name::ResolveResult;
    let wanted = [
        "message",
        "messageHeader",
        party,
        "attention",
        "subOrganization",
        "organizationId",
        "extension",
    ];
    let mut xml = quick_xml::NsReader::from_reader(reader.take(max_bytes));
    // Open elements: the local name for those in the SDK message namespace.
    let mut open: Vec<Option<String>> = Vec::new();
    let at_address = |open: &[Option<String>]| {
        open.len() >= wanted.len()
            && open[open.len() - wanted.len()..]
                .iter()
                .zip(wanted)
                .all(|(name, want)| name.as_deref() == Some(want))
    };
    let mut found: Option<String> = None;
    let mut text = String::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match xml.read_resolved_event_into(&mut buf).ok()? {
            (ns, Event::Start(start)) => {
                let in_message = matches!(ns, ResolveResult::Bound(n) if n.as_ref() == MESSAGE_V3_NS.as_bytes());
                open.push(in_message.then(|| String::from_utf8_lossy(start.local_name().as_ref()).into_owned()));
                text.clear();
            }
            (_, Event::Text(t)) if at_address(&open) => text.push_str(&t.unescape().ok()?),
            (_, Event::End(_)) => {
                if at_address(&open) {
                    if found.is_some() {
                        return None;
                    }
                    found = Some(text.trim().to_string());
                }
                let closed = open.pop()?;
                if closed.as_deref() == Some("messageHeader") {
                    return found.filter(|fa| !fa.is_empty());
                }
            }
            (_, Event::Eof) => return None,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn party(name: &str, organisation: &str, function: &str) -> String {
        format!(
            "<tns:{name}><tns:{name}ID><tns:root>iso6523-actorid-upis</tns:root><tns:extension>{organisation}\
             </tns:extension></tns:{name}ID><tns:attention><tns:subOrganization><tns:organizationId><tns:root>x\
             </tns:root><tns:extension>{function}</tns:extension></tns:organizationId></tns:subOrganization>\
             </tns:attention></tns:{name}>"
        )
    }

    /// An XHE-like envelope around an SDK message header, followed by `tail` (the body is never looked at).
    fn envelope(header: &str, tail: &str) -> String {
        format!(
            "<xhe:XHE xmlns:xhe=\"urn:xhe\"><xhe:Payload><tns:messagePayload xmlns:tns=\"{MESSAGE_V3_NS}\">\
             <tns:message><tns:messageHeader><tns:messageId>1</tns:messageId>{header}</tns:messageHeader>{tail}"
        )
    }

    fn read(xml: &str, party: &str) -> Option<String> {
        header_functional_address(xml.as_bytes(), party, MAX_SCOPE_PROBE_BYTES)
    }

    #[test]
    fn the_header_address_is_read_without_reading_the_body() {
        let header = party("recipient", "0203:b", "socialtjanst") + &party("sender", "0203:a", "registrator &amp; co");
        // The body after the header is not even well-formed: the reader has stopped before it.
        let xml = envelope(&header, "<tns:messageBody><tns:content>AAAA</broken");
        assert_eq!(read(&xml, "sender").as_deref(), Some("registrator & co"));
        assert_eq!(read(&xml, "recipient").as_deref(), Some("socialtjanst"));
    }

    #[test]
    fn missing_twice_named_foreign_or_cut_addresses_give_none() {
        let sender = party("sender", "0203:a", "registrator");
        assert_eq!(read(&envelope("", "</tns:message>"), "sender"), None, "no sender");
        assert_eq!(
            read(&envelope(&(sender.clone() + &sender), ""), "sender"),
            None,
            "named twice"
        );
        let foreign =
            sender
                .replace("tns:", "other:")
                .replacen("<other:sender>", "<other:sender xmlns:other=\"urn:other\">", 1);
        assert_eq!(read(&envelope(&foreign, ""), "sender"), None, "another namespace");
        assert_eq!(
            read(&envelope(&party("sender", "0203:a", " "), ""), "sender"),
            None,
            "blank"
        );
        let xml = envelope(&sender, "");
        let cut = header_functional_address(xml.as_bytes(), "sender", 200);
        assert_eq!(cut, None, "the header ends beyond the byte bound");
    }
}

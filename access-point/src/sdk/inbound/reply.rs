//! Sending a kvittens for an inbound message: build the UBL ApplicationResponse ([`crate::sdk::kvittens`]), wrap it
//! in an XHE envelope from the original's recipient to its sender, and submit it as an outbound AS4 message to the
//! access point the original came from (service `bdx:noprocess`, the SDK kvittens action, same ConversationId).

use super::classify::{read_envelope, EnvelopeError};
use super::{CLASSIFIER_ACTOR, KVITTENS_SENT_PREFIX};
use crate::msh::node::NodeShared;
use crate::msh::submit::{self, Accepted, Submission, SubmitError, SubmittedPayload};
use crate::msh::{Node, StaticPeers};
use crate::sdk::kvittens::{Kvittens, KvittensError, RejectionReason, ResponseCode, KVITTENS_DOCUMENT_TYPE};
use crate::sdk::xhe::{BusinessScope, PayloadContent, Xhe, XheError, XhePayload, DOCUMENT_ID_SCHEME};
use crate::store::{Direction, EvidenceKind, HistoryNote, MessageRecord, NewEvidence, SentKvittens, State, StoreError};

/// The MIME Content-ID of the XHE part of an SDK message (transport profile: `cid:message`).
pub const XHE_CONTENT_ID: &str = "message";

/// What to answer.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub response: ResponseCode,
    pub reasons: Vec<RejectionReason>,
    pub actor: String,
}

/// A kvittens the API asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvittensRequest {
    /// The AS4 MessageId of the inbox message.
    pub message_id: String,
    pub response: ResponseCode,
    /// Required for REJECTED (at least one).
    pub reasons: Vec<RejectionReason>,
    /// Who asks (for the history).
    pub actor: String,
}

/// A submitted kvittens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvittensSent {
    /// The AS4 MessageId of the outbound kvittens message.
    pub message_id: String,
    /// The kvittens' own id (`cbc:ID`).
    pub kvittens_id: String,
}

/// Why a kvittens was not sent.
#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    #[error("no inbound message {0}")]
    NotFound(String),
    #[error("message {0} is not an inbox message")]
    NotInInbox(String),
    #[error("a kvittens was already sent for message {0}")]
    AlreadySent(String),
    #[error("the kvittens is invalid: {0}")]
    Invalid(String),
    #[error("the original envelope cannot be read: {0}")]
    Envelope(String),
    #[error(transparent)]
    Submit(#[from] SubmitError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the kvittens to the spool: {0}")]
    Io(#[from] std::io::Error),
}

impl From<KvittensError> for ReplyError {
    fn from(e: KvittensError) -> Self {
        ReplyError::Invalid(e.to_string())
    }
}

impl From<XheError> for ReplyError {
    fn from(e: XheError) -> Self {
        ReplyError::Invalid(e.to_string())
    }
}

/// The kvittens' XHE: from the original's ToParty to its FromParty, in the original's process and federation.
pub fn kvittens_envelope(original: &Xhe, kvittens: &Kvittens, now: time::OffsetDateTime) -> Result<Xhe, ReplyError> {
    let rendered = kvittens.render()?;
    let fragment = match rendered.find("?>") {
        Some(end) if rendered.starts_with("<?xml") => rendered[end + 2..].trim().to_string(),
        _ => rendered.trim().to_string(),
    };
    let action = pmode::builtin::SDK_KVITTENS_ACTION;
    let document_id = action
        .strip_prefix(&format!("{DOCUMENT_ID_SCHEME}::"))
        .unwrap_or(action)
        .to_string();
    let utc = now.to_offset(time::UtcOffset::UTC);
    Ok(Xhe {
        id: kvittens.id.clone(),
        creation_date_time: utc
            .replace_nanosecond(0)
            .unwrap_or(utc)
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| ReplyError::Invalid(e.to_string()))?,
        scope: BusinessScope {
            document_id,
            document_id_scheme: DOCUMENT_ID_SCHEME.into(),
            process_id: original.scope.process_id.clone(),
            process_id_scheme: original.scope.process_id_scheme.clone(),
            federation_id: original.scope.federation_id.clone(),
        },
        from: original.to.clone(),
        to: original.from.clone(),
        payload: XhePayload {
            document_type_code: KVITTENS_DOCUMENT_TYPE.into(),
            content_type_code: "application/xml".into(),
            handling_service_id: None,
            content: PayloadContent::Xml(fragment),
        },
    })
}

/// A kvittens ready to submit: the submission and the spooled XHE file it names (removed on drop).
pub(crate) struct PreparedReply {
    pub submission: Submission,
    pub kvittens: Kvittens,
    spool_file: std::path::PathBuf,
}

impl Drop for PreparedReply {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.spool_file);
    }
}

pub(crate) async fn prepare_reply(
    shared: &NodeShared,
    record: &MessageRecord,
    original: &Xhe,
    reply: Reply,
) -> Result<PreparedReply, ReplyError> {
    let now = time::OffsetDateTime::now_utc();
    let id = uuid::Uuid::new_v4().to_string();
    let kvittens = match reply.response {
        ResponseCode::Accepted => Kvittens::accepted(id, original, now),
        ResponseCode::Rejected => Kvittens::rejected(id, original, now, reply.reasons),
    };
    let envelope = kvittens_envelope(original, &kvittens, now)?.render()?;
    let spool_file = shared.spool_dir.join(format!("kvittens-{}.xml", kvittens.id));
    tokio::fs::write(&spool_file, envelope.as_bytes()).await?;
    let submission = Submission {
        to_party: Some(record.meta.from.id.clone()),
        to_party_type: record.meta.from.id_type.clone(),
        pmode_id: None,
        service: original.scope.process_id.clone(),
        service_type: Some(original.scope.process_id_scheme.clone()),
        action: pmode::builtin::SDK_KVITTENS_ACTION.into(),
        original_sender: original.to.id.clone(),
        final_recipient: original.from.id.clone(),
        conversation_id: Some(record.meta.conversation_id.clone()),
        tracking_identifier: None,
        payloads: vec![SubmittedPayload {
            path: spool_file.clone(),
            mime_type: "text/xml".into(),
            content_id: Some(XHE_CONTENT_ID.into()),
        }],
        actor: reply.actor,
    };
    Ok(PreparedReply {
        submission,
        kvittens,
        spool_file,
    })
}

/// Records on the inbound message that its kvittens went out.
async fn note_sent(
    shared: &NodeShared,
    record: &MessageRecord,
    prepared: &PreparedReply,
    accepted: &Accepted,
    reason: Option<&str>,
) -> Result<KvittensSent, ReplyError> {
    let mut text = format!(
        "{KVITTENS_SENT_PREFIX} {} as {} (kvittens {})",
        prepared.kvittens.response.as_str(),
        accepted.message_id,
        prepared.kvittens.id
    );
    if let Some(reason) = reason {
        text.push_str(": ");
        text.push_str(reason);
    }
    // The typed record next to the text: DIGG's API derives the inbound message's status from it.
    let sent = SentKvittens {
        as4_message_id: accepted.message_id.clone(),
        kvittens_id: prepared.kvittens.id.clone(),
        response: prepared.kvittens.response.as_str().to_string(),
    };
    let note = HistoryNote {
        key: record.key,
        actor: prepared.submission.actor.clone(),
        reason: text,
        evidence: Some(NewEvidence {
            kind: EvidenceKind::KvittensSent,
            bytes: sent.to_bytes(),
        }),
    };
    shared.store.annotate(note).await?.durable().await?;
    tracing::info!(key = %record.key, message_id = %record.meta.message_id, kvittens = %prepared.kvittens.id,
        response = prepared.kvittens.response.as_str(), outbound = %accepted.message_id, "kvittens submitted");
    Ok(KvittensSent {
        message_id: accepted.message_id.clone(),
        kvittens_id: prepared.kvittens.id.clone(),
    })
}

/// Builds and submits a kvittens from the classifier (no `Node` at hand: the sender picks it up at its next poll).
pub(crate) async fn submit_reply(
    shared: &NodeShared,
    record: &MessageRecord,
    original: &Xhe,
    reply: Reply,
    reason: Option<&str>,
) -> Result<KvittensSent, ReplyError> {
    let prepared = prepare_reply(shared, record, original, reply).await?;
    // `to_party` is explicit, so the resolver is never asked.
    let no_resolver = StaticPeers::default();
    let ctx = submit::SubmitContext {
        store: &*shared.store,
        pmodes: &shared.pmodes,
        our_party_id: &shared.config.node.party_id,
        our_party_type: &shared.config.node.party_id_type,
        ids: &shared.ids,
        max_payload_bytes: shared.config.limits.max_payload_bytes,
        resolver: &no_resolver,
    };
    let accepted = submit::submit(&ctx, prepared.submission.clone()).await?;
    note_sent(shared, record, &prepared, &accepted, reason).await
}

/// Sends a kvittens for an inbox message (API `POST /api/v1/inbox/{id}/kvittens`). Refuses a message that is not
/// in the inbox or already has a kvittens.
pub async fn send_kvittens(node: &Node, request: KvittensRequest) -> Result<KvittensSent, ReplyError> {
    let shared = node.shared();
    let store = &*shared.store;
    let record = store
        .get_by_message_id(Direction::Inbound, &request.message_id)
        .await?
        .ok_or_else(|| ReplyError::NotFound(request.message_id.clone()))?;
    if store.inbox_get(record.key).await?.is_none() {
        return Err(ReplyError::NotInInbox(request.message_id));
    }
    if record.state == State::Acknowledged && request.response == ResponseCode::Rejected {
        // Still allowed: a message system may acknowledge first and reject after reading.
    }
    let history = store.history(record.key).await?;
    if history.iter().any(|h| h.reason.starts_with(KVITTENS_SENT_PREFIX)) {
        return Err(ReplyError::AlreadySent(request.message_id));
    }
    if request.response == ResponseCode::Rejected && request.reasons.is_empty() {
        return Err(ReplyError::Invalid("a REJECTED kvittens needs a reason".into()));
    }
    let envelope = read_envelope(shared, &record).await.map_err(|e| match e {
        EnvelopeError::Store(e) => ReplyError::Store(e),
        other => ReplyError::Envelope(other.to_string()),
    })?;
    let reply = Reply {
        response: request.response,
        reasons: request.reasons,
        actor: if request.actor.is_empty() {
            CLASSIFIER_ACTOR.into()
        } else {
            request.actor
        },
    };
    let prepared = prepare_reply(shared, &record, &envelope.xhe, reply).await?;
    let accepted = node.submit(prepared.submission.clone()).await?;
    note_sent(shared, &record, &prepared, &accepted, None).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::xhe::tests::sample;

    #[test]
    fn the_kvittens_envelope_reverses_the_parties_and_validates() {
        let original = sample();
        let now = time::OffsetDateTime::now_utc();
        let kvittens = Kvittens::accepted("k-1", &original, now);
        let xhe = kvittens_envelope(&original, &kvittens, now).unwrap();
        assert_eq!(xhe.from, original.to);
        assert_eq!(xhe.to, original.from);
        assert_eq!(xhe.scope.ebms_action(), pmode::builtin::SDK_KVITTENS_ACTION);
        let rendered = xhe.render().unwrap();
        let parsed = Xhe::parse(rendered.as_bytes(), &xmldsig::dom::ParseLimits::default()).unwrap();
        let PayloadContent::Xml(fragment) = &parsed.payload.content else {
            panic!("xml payload")
        };
        let back = Kvittens::parse(fragment.as_bytes(), &xmldsig::dom::ParseLimits::default()).unwrap();
        assert!(back.refers_to(&original));
        assert_eq!(back.response, ResponseCode::Accepted);
    }
}

//! Classification of stored inbound messages (see the module documentation of [`super`]).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::Semaphore;
use xmldsig::dom::ParseLimits;

use super::protection::{self, Protection, ProtectionError};
use super::reply::{self, Reply};
use super::scan::{scan_envelope, ScanError, Skeleton};
use super::CLASSIFIER_ACTOR;
use crate::msh::events::ApEvent;
use crate::msh::node::NodeShared;
use crate::sdk::consistency::{check_envelope, As4Addressing};
use crate::sdk::kvittens::{Kvittens, ReasonCode, RejectionReason, ResponseCode, KVITTENS_DOCUMENT_TYPE, NO_LOCATION};
use crate::sdk::message_v3::{MessageError, SdkMessage, FUNCTIONAL_ADDRESS_ROOT, MESSAGE_V3_DOCUMENT_TYPE};
use crate::sdk::xhe::{PayloadContent, Xhe, XheError};
use crate::store::{
    Classification, ClassificationCommit, Direction, EvidenceKind, HistoryNote, InboxAttachment, InboxEntry, ListQuery,
    MessageKey, MessageRecord, NewEvidence, State, Store, StoreError, Transition,
};

/// How many outbound messages (newest first) a received kvittens is matched against.
pub const MAX_KVITTENS_LINK_SCAN: usize = 5_000;
/// Messages classified again per round at start.
const RECOVERY_BATCH: usize = 256;

/// Why a message could not be classified (it stays unclassified; retried on a timer when the signer lookup was
/// unavailable, else at the next start).
#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("kvittens: {0}")]
    Reply(#[from] reply::ReplyError),
    #[error("classifier task failed: {0}")]
    Task(String),
    #[error("end-to-end protection: {0}")]
    Protection(String),
    /// The sender's CertPub signing certificate could not be looked up (SML/SMP unreachable): retried on a timer.
    #[error("the sender's signing certificate could not be looked up: {0}")]
    SignerLookupUnavailable(String),
}

/// The longest delay between two classification retries of a message waiting for its sender's CertPub lookup.
pub const MAX_SIGNER_LOOKUP_RETRY_DELAY: Duration = Duration::from_secs(3600);
/// How often a waiting retry looks whether the node is shutting down.
const CLOSING_POLL: Duration = Duration::from_millis(250);

/// Bounds the classifier work of the process (`[sdk] classify_concurrency` of the first node started).
fn permits(shared: &NodeShared) -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| Semaphore::new(usize::try_from(shared.config.sdk.classify_concurrency).unwrap_or(4)))
}

/// Classifies a freshly stored message in the background.
pub(crate) fn spawn_classify(shared: Arc<NodeShared>, key: MessageKey) {
    if !shared.background.start() {
        return;
    }
    tokio::spawn(async move {
        let first = {
            let _permit = permits(&shared).acquire().await;
            if shared.background.is_closing() {
                Ok(())
            } else {
                classify_message(&shared, key).await
            }
        };
        match first {
            Ok(()) => {}
            Err(ClassifyError::SignerLookupUnavailable(e)) => {
                tracing::warn!(key = %key, error = %e, "inbound message not classified yet; retried on a timer");
                retry_signer_lookup(&shared, key).await;
            }
            Err(e) => {
                tracing::error!(key = %key, error = %e, "inbound message not classified; retried at the next start")
            }
        }
        // The store handle goes before the count does, so a waiting shutdown finds the store released.
        let background = shared.background.clone();
        drop(shared);
        background.finish();
    });
}

/// Classifies `key` again on a timer (`[sdk] signer_lookup_retry_seconds`, doubling up to
/// [`MAX_SIGNER_LOOKUP_RETRY_DELAY`]) while its sender's signing certificate cannot be looked up; the last of the
/// `[sdk] signer_lookup_retry_attempts` refuses it (kvittens REJECTED, SIG) if the lookup still fails. Stops when the
/// node shuts down (the message stays unclassified; the next start classifies it again).
async fn retry_signer_lookup(shared: &NodeShared, key: MessageKey) {
    let sdk = &shared.config.sdk;
    let mut delay = Duration::from_secs(sdk.signer_lookup_retry_seconds).min(MAX_SIGNER_LOOKUP_RETRY_DELAY);
    for attempt in 1..=sdk.signer_lookup_retry_attempts {
        if !sleep_unless_closing(shared, delay).await {
            return;
        }
        let last_try = attempt == sdk.signer_lookup_retry_attempts;
        let result = {
            let _permit = permits(shared).acquire().await;
            classify_attempt(shared, key, last_try).await
        };
        match result {
            Ok(()) => return,
            Err(ClassifyError::SignerLookupUnavailable(e)) => {
                tracing::warn!(key = %key, attempt, error = %e, "inbound message still not classified");
            }
            Err(e) => {
                tracing::error!(key = %key, error = %e, "inbound message not classified; retried at the next start");
                return;
            }
        }
        delay = (delay * 2).min(MAX_SIGNER_LOOKUP_RETRY_DELAY);
    }
}

/// Sleeps `delay` unless the node starts shutting down meanwhile (then `false`).
async fn sleep_unless_closing(shared: &NodeShared, delay: Duration) -> bool {
    let until = tokio::time::Instant::now() + delay;
    while !shared.background.is_closing() {
        let now = tokio::time::Instant::now();
        if now >= until {
            return true;
        }
        tokio::time::sleep((until - now).min(CLOSING_POLL)).await;
    }
    false
}

/// [`retry_signer_lookup`] as a background task of its own (for messages found at start).
fn spawn_signer_lookup_retry(shared: Arc<NodeShared>, key: MessageKey) {
    if !shared.background.start() {
        return;
    }
    tokio::spawn(async move {
        retry_signer_lookup(&shared, key).await;
        let background = shared.background.clone();
        drop(shared);
        background.finish();
    });
}

/// Classifies, at start, every received message a crash left unclassified.
pub(crate) fn spawn_recovery(shared: Arc<NodeShared>) {
    if !shared.background.start() {
        return;
    }
    tokio::spawn(async move {
        recover(&shared).await;
        let background = shared.background.clone();
        drop(shared);
        background.finish();
    });
}

async fn recover(shared: &Arc<NodeShared>) {
    let mut failed = std::collections::HashSet::new();
    while !shared.background.is_closing() {
        let keys = match shared.store.unclassified_inbound(RECOVERY_BATCH + failed.len()).await {
            Ok(keys) => keys,
            Err(e) => {
                tracing::error!(error = %e, "listing unclassified inbound messages");
                return;
            }
        };
        let todo: Vec<MessageKey> = keys.into_iter().filter(|k| !failed.contains(k)).collect();
        if todo.is_empty() {
            return;
        }
        for key in todo {
            tracing::info!(key = %key, "classifying an inbound message left unclassified");
            match classify_message(shared, key).await {
                Ok(()) => {}
                Err(ClassifyError::SignerLookupUnavailable(e)) => {
                    tracing::warn!(key = %key, error = %e, "inbound message not classified yet; retried on a timer");
                    spawn_signer_lookup_retry(shared.clone(), key);
                    failed.insert(key);
                }
                Err(e) => {
                    tracing::error!(key = %key, error = %e, "inbound message not classified");
                    failed.insert(key);
                }
            }
        }
    }
}

/// What the envelope reading found.
pub(crate) struct Envelope {
    pub xhe: Xhe,
    pub skeleton: Skeleton,
}

/// Why the envelope is malformed (TF-09).
#[derive(Debug, thiserror::Error)]
pub(crate) enum EnvelopeError {
    #[error("the message has no payload")]
    NoPayload,
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error(transparent)]
    Xhe(#[from] XheError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The payload that carries the XHE: the part with Content-ID `message…` (SDK transport profile), else the first.
pub(crate) fn xhe_part(record: &MessageRecord) -> Option<&crate::store::PayloadPart> {
    record
        .payloads
        .iter()
        .find(|p| p.content_id.starts_with("message"))
        .or_else(|| record.payloads.first())
}

/// Limits for the envelope skeleton: `[limits]` XML limits with `[sdk] max_envelope_bytes`.
pub(crate) fn envelope_limits(shared: &NodeShared) -> ParseLimits {
    ParseLimits {
        max_bytes: usize::try_from(shared.config.sdk.max_envelope_bytes).unwrap_or(usize::MAX),
        ..shared.config.limits.xml_parse_limits()
    }
}

/// Reads and validates the XHE of a stored message without holding its attachments in memory.
pub(crate) async fn read_envelope(shared: &NodeShared, record: &MessageRecord) -> Result<Envelope, EnvelopeError> {
    let part = xhe_part(record).ok_or(EnvelopeError::NoPayload)?;
    let path = shared.store.payload_files().path_of(record.key, part)?;
    let max = shared.config.sdk.max_envelope_bytes;
    let skeleton = tokio::task::spawn_blocking(move || -> Result<Skeleton, ScanError> {
        let file = std::fs::File::open(&path)?;
        scan_envelope(std::io::BufReader::with_capacity(64 * 1024, file), max)
    })
    .await
    .map_err(|e| ScanError::Io(std::io::Error::other(e.to_string())))??;
    let xhe = Xhe::parse(&skeleton.xml, &envelope_limits(shared))?;
    Ok(Envelope { xhe, skeleton })
}

/// Classifies one stored inbound message; does nothing when it is already classified or no longer `Received`.
pub(crate) async fn classify_message(shared: &NodeShared, key: MessageKey) -> Result<(), ClassifyError> {
    classify_attempt(shared, key, false).await
}

/// [`classify_message`]; on the `last_try`, a signer lookup that cannot reach the SML/SMP refuses the message.
async fn classify_attempt(shared: &NodeShared, key: MessageKey, last_try: bool) -> Result<(), ClassifyError> {
    let store = &*shared.store;
    let Some(record) = store.get(key).await? else {
        return Ok(());
    };
    if record.direction != Direction::Inbound || record.state != State::Received {
        return Ok(());
    }
    if store.classification(key).await?.is_some() {
        return Ok(());
    }
    let is_sdk = shared
        .pmodes
        .get(&record.meta.pmode_id)
        .is_some_and(|p| p.profile == pmode::Profile::Sdk);
    if !is_sdk {
        return commit(store, key, Classification::NotSdk, None, Vec::new()).await;
    }
    let envelope = match read_envelope(shared, &record).await {
        Ok(envelope) => envelope,
        Err(EnvelopeError::Store(e)) => return Err(e.into()),
        Err(e) => return drop_malformed(shared, &record, &format!("malformed XHE (TF-09): {e}")).await,
    };
    // End-to-end protection first: nothing in a signed envelope is trusted before its signature verifies.
    let mut notes = Vec::new();
    let envelope = match protection::check(shared, &record, &envelope, last_try).await {
        Ok(Protection::Unprotected) => envelope,
        Ok(Protection::NotVerified) => {
            notes.push("XHE signature not verified by the access point ([sdk] e2e_anchors not set)".to_string());
            envelope
        }
        Ok(Protection::Verified { envelope, note }) => {
            notes.push(note);
            *envelope
        }
        Ok(Protection::Refused(reason)) => {
            if envelope.xhe.payload.document_type_code == KVITTENS_DOCUMENT_TYPE {
                let text = format!("kvittens with a bad XHE signature: {}", reason.text);
                return drop_malformed(shared, &record, &text).await;
            }
            return reject(shared, &record, &envelope.xhe, vec![reason]).await;
        }
        Err(ProtectionError::Store(e)) => return Err(e.into()),
        Err(ProtectionError::SignerLookup(e)) => return Err(ClassifyError::SignerLookupUnavailable(e)),
        Err(e) => return Err(ClassifyError::Protection(e.to_string())),
    };
    let xhe = &envelope.xhe;
    let meta = &record.meta;
    let as4 = As4Addressing {
        original_sender: meta.original_sender.as_deref().unwrap_or(""),
        final_recipient: meta.final_recipient.as_deref().unwrap_or(""),
        service: &meta.service,
        service_type: meta.service_type.as_deref(),
        action: &meta.action,
    };
    let consistency = check_envelope(xhe, &as4);
    if xhe.payload.document_type_code == KVITTENS_DOCUMENT_TYPE {
        if let Err(e) = consistency {
            return drop_malformed(
                shared,
                &record,
                &format!("kvittens inconsistent with the AS4 header: {e}"),
            )
            .await;
        }
        return receive_kvittens(shared, &record, xhe).await;
    }
    if let Err(e) = consistency {
        let reason = RejectionReason {
            location: NO_LOCATION.into(),
            code: ReasonCode::BusinessRuleError,
            detail_code: Some("TF-10".into()),
            text: e.to_string(),
        };
        return reject(shared, &record, xhe, vec![reason]).await;
    }
    let message = match (&xhe.payload.content, xhe.payload.document_type_code.as_str()) {
        (PayloadContent::Xml(fragment), MESSAGE_V3_DOCUMENT_TYPE) => {
            match SdkMessage::parse(fragment.as_bytes(), &envelope_limits(shared)) {
                Ok(m) => Some(m),
                Err(MessageError::Rules(violations)) => {
                    let reasons = violations.iter().map(RejectionReason::from_violation).collect();
                    return reject(shared, &record, xhe, reasons).await;
                }
                Err(e) => {
                    let reason = RejectionReason {
                        location: NO_LOCATION.into(),
                        code: ReasonCode::SchemaError,
                        detail_code: None,
                        text: e.to_string(),
                    };
                    return reject(shared, &record, xhe, vec![reason]).await;
                }
            }
        }
        _ => None,
    };
    let entry = inbox_entry(&record, &envelope, message.as_ref());
    let event = ApEvent::InboxMessage {
        message_id: entry.message_id.clone(),
        recipient: entry.recipient.clone(),
        functional_address: entry.functional_address.clone(),
        sender: entry.sender.clone(),
    };
    tracing::info!(key = %key, message_id = %entry.message_id, recipient = %entry.recipient,
        functional_address = entry.functional_address.as_deref().unwrap_or("-"), sender = %entry.sender,
        attachments = entry.attachments.len(), "inbox message");
    notes.push(format!(
        "in the inbox of {} / {}",
        entry.recipient,
        entry.functional_address.as_deref().unwrap_or("-")
    ));
    let notes = notes
        .into_iter()
        .map(|reason| HistoryNote {
            key,
            actor: CLASSIFIER_ACTOR.into(),
            reason,
            evidence: None,
        })
        .collect();
    commit(store, key, Classification::Inbox, Some(entry), notes).await?;
    shared.events.publish(event);
    if shared.config.sdk.auto_accept {
        let reply = Reply {
            response: ResponseCode::Accepted,
            reasons: Vec::new(),
            actor: CLASSIFIER_ACTOR.into(),
        };
        reply::submit_reply(shared, &record, xhe, reply, None).await?;
    }
    Ok(())
}

async fn commit(
    store: &dyn Store,
    key: MessageKey,
    classification: Classification,
    entry: Option<InboxEntry>,
    notes: Vec<HistoryNote>,
) -> Result<(), ClassifyError> {
    let result = store
        .commit_classification(ClassificationCommit {
            key,
            classification,
            entry,
            notes,
        })
        .await;
    match result {
        Ok(written) => Ok(written.durable().await?),
        // Classified meanwhile (a start-up recovery racing a fresh classification): nothing to do.
        Err(StoreError::InvalidRecord(reason)) if reason.contains("already classified") => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Takes a message that is not for the inbox out of `Received` (so retention purges it) with the reason.
async fn retire(store: &dyn Store, key: MessageKey, reason: &str) -> Result<(), ClassifyError> {
    let change = Transition::new(key, State::Received, State::Acknowledged, CLASSIFIER_ACTOR).reason(reason);
    match store.transition(change).await {
        Ok(written) => {
            written.durable().await?;
            Ok(())
        }
        Err(StoreError::UnexpectedState { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn drop_malformed(shared: &NodeShared, record: &MessageRecord, reason: &str) -> Result<(), ClassifyError> {
    tracing::warn!(key = %record.key, message_id = %record.meta.message_id, peer_ap = %record.meta.from.id,
        reason, "inbound message dropped, no kvittens");
    let note = HistoryNote {
        key: record.key,
        actor: CLASSIFIER_ACTOR.into(),
        reason: format!("dropped: {reason}"),
        evidence: None,
    };
    let classification = Classification::Dropped {
        reason: reason.to_string(),
    };
    commit(&*shared.store, record.key, classification, None, vec![note]).await?;
    retire(&*shared.store, record.key, "dropped from the inbox").await
}

async fn reject(
    shared: &NodeShared,
    record: &MessageRecord,
    xhe: &Xhe,
    reasons: Vec<RejectionReason>,
) -> Result<(), ClassifyError> {
    let reason_text = reasons
        .iter()
        .map(|r| format!("{} {}", r.code.as_str(), r.text))
        .collect::<Vec<_>>()
        .join("; ");
    tracing::warn!(key = %record.key, message_id = %record.meta.message_id, reason = %reason_text,
        "inbound message rejected with a kvittens");
    let reply = Reply {
        response: ResponseCode::Rejected,
        reasons,
        actor: CLASSIFIER_ACTOR.into(),
    };
    let sent = reply::submit_reply(shared, record, xhe, reply, Some(&reason_text)).await?;
    let classification = Classification::Rejected {
        reason: reason_text.clone(),
        kvittens_message_id: Some(sent.message_id),
    };
    commit(&*shared.store, record.key, classification, None, Vec::new()).await?;
    retire(&*shared.store, record.key, &format!("rejected: {reason_text}")).await
}

/// The functional address of the SDK message's recipient (`recipient/attention/subOrganization`), else the XHE
/// HandlingServiceID (which DIGG's examples set to the same value and which stays readable when the payload is
/// encrypted).
fn functional_address(xhe: &Xhe, message: Option<&SdkMessage>) -> Option<String> {
    message
        .and_then(|m| m.header.recipient.attention.as_ref())
        .map(|a| &a.sub_organization.id)
        .filter(|id| id.root == FUNCTIONAL_ADDRESS_ROOT)
        .map(|id| id.extension.clone())
        .or_else(|| xhe.payload.handling_service_id.clone())
        .filter(|fa| !fa.trim().is_empty())
}

fn inbox_entry(record: &MessageRecord, envelope: &Envelope, message: Option<&SdkMessage>) -> InboxEntry {
    let xhe = &envelope.xhe;
    let mut attachments = Vec::new();
    if let Some(m) = message {
        let files = m.documents.iter().flat_map(|d| d.files.iter());
        for (file, size) in files.zip(envelope.skeleton.attachment_sizes.iter()) {
            attachments.push(InboxAttachment {
                file_name: file.file_name.clone(),
                content_type: file.content_type.clone(),
                size: *size,
            });
        }
    }
    InboxEntry {
        key: record.key,
        message_id: record.meta.message_id.clone(),
        recipient: xhe.to.id.clone(),
        functional_address: functional_address(xhe, message),
        sender: xhe.from.id.clone(),
        sender_functional_address: message
            .and_then(|m| m.header.sender.attention.as_ref())
            .map(|a| a.sub_organization.id.extension.clone()),
        subject: message.and_then(|m| m.header.label.clone()),
        document_type: xhe.payload.document_type_code.clone(),
        xhe_id: xhe.id.clone(),
        created: xhe.creation_date_time.clone(),
        received_at: record.created_at,
        encrypted: xhe.payload.is_encrypted(),
        attachments,
        from_ap: record.meta.from.id.clone(),
        from_ap_type: record.meta.from.id_type.clone(),
        conversation_id: record.meta.conversation_id.clone(),
    }
}

async fn receive_kvittens(shared: &NodeShared, record: &MessageRecord, xhe: &Xhe) -> Result<(), ClassifyError> {
    let store = &*shared.store;
    let PayloadContent::Xml(fragment) = &xhe.payload.content else {
        return drop_malformed(
            shared,
            record,
            "the kvittens payload is not readable XML (encrypted or text)",
        )
        .await;
    };
    let kvittens = match Kvittens::parse(fragment.as_bytes(), &envelope_limits(shared)) {
        Ok(k) => k,
        Err(e) => return drop_malformed(shared, record, &format!("malformed kvittens: {e}")).await,
    };
    let verdict = match kvittens.response {
        ResponseCode::Accepted => "kvittens ACCEPTED".to_string(),
        ResponseCode::Rejected => format!(
            "kvittens REJECTED: {}",
            kvittens
                .reasons
                .iter()
                .map(|r| format!("{} {}", r.code.as_str(), r.text))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    };
    let original = find_original(shared, &kvittens, &record.meta.conversation_id).await?;
    let mut notes = Vec::new();
    let linked_to = original.as_ref().map(|(o, _)| o.meta.message_id.clone());
    if let Some((outbound, _)) = &original {
        notes.push(HistoryNote {
            key: outbound.key,
            actor: CLASSIFIER_ACTOR.into(),
            reason: format!("{verdict} (kvittens {}, AS4 {})", kvittens.id, record.meta.message_id),
            evidence: Some(NewEvidence {
                kind: EvidenceKind::Kvittens,
                bytes: fragment.as_bytes().to_vec(),
            }),
        });
    }
    notes.push(HistoryNote {
        key: record.key,
        actor: CLASSIFIER_ACTOR.into(),
        reason: match &linked_to {
            Some(id) => format!("{verdict} for outbound message {id}"),
            None => format!(
                "{verdict} for XHE {} (no outbound message found)",
                kvittens.original_message_id
            ),
        },
        evidence: None,
    });
    let classification = Classification::Kvittens {
        linked_to: linked_to.clone(),
        response: kvittens.response.as_str().to_string(),
    };
    commit(store, record.key, classification, None, notes).await?;
    retire(store, record.key, "kvittens, not an inbox message").await?;
    tracing::info!(key = %record.key, kvittens = %kvittens.id, original_xhe = %kvittens.original_message_id,
        linked_to = linked_to.as_deref().unwrap_or("-"), response = kvittens.response.as_str(), "kvittens received");
    if let Some((outbound, sender_fa)) = original {
        shared.events.publish(ApEvent::KvittensReceived {
            message_id: outbound.meta.message_id.clone(),
            sender: outbound.meta.original_sender.clone().unwrap_or_default(),
            functional_address: sender_fa,
            response_code: kvittens.response.as_str().to_string(),
        });
    }
    Ok(())
}

/// The outbound message a kvittens answers: its XHE Header/ID is the kvittens' reference and it went to the
/// kvittens' sender. Returns it with the sender's functional address.
async fn find_original(
    shared: &NodeShared,
    kvittens: &Kvittens,
    conversation_id: &str,
) -> Result<Option<(MessageRecord, Option<String>)>, ClassifyError> {
    let store = &*shared.store;
    let same = |a: &Option<String>, b: &str| {
        a.as_deref().is_some_and(|a| {
            crate::store::inbox::normalize_participant(a) == crate::store::inbox::normalize_participant(b)
        })
    };
    let mut after = None;
    let mut looked = 0usize;
    // An XHE id reused by a sender matches several messages: the one in the kvittens' conversation wins.
    let mut fallback = None;
    loop {
        let page = store
            .list(ListQuery {
                direction: Some(Direction::Outbound),
                limit: 500,
                after,
                ..ListQuery::default()
            })
            .await?;
        for record in &page.records {
            looked += 1;
            // Only the recipient is compared: a REJECTED kvittens for an XHE whose FromParty differed from the AS4
            // originalSender (TF-10) is addressed to the XHE's sender, not to our AS4 originalSender.
            if !same(&record.meta.final_recipient, &kvittens.sender.id) {
                continue;
            }
            let Ok(envelope) = read_envelope(shared, record).await else {
                continue;
            };
            if envelope.xhe.id == kvittens.original_message_id {
                let found = (record.clone(), sender_functional_address(&envelope, shared));
                if record.meta.conversation_id == conversation_id {
                    return Ok(Some(found));
                }
                fallback.get_or_insert(found);
            }
        }
        match page.next {
            Some(next) if looked < MAX_KVITTENS_LINK_SCAN => after = Some(next),
            _ => return Ok(fallback),
        }
    }
}

fn sender_functional_address(envelope: &Envelope, shared: &NodeShared) -> Option<String> {
    let PayloadContent::Xml(fragment) = &envelope.xhe.payload.content else {
        return None;
    };
    let message = SdkMessage::parse(fragment.as_bytes(), &envelope_limits(shared)).ok()?;
    message.header.sender.attention.map(|a| a.sub_organization.id.extension)
}

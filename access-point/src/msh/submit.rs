//! Submissions from the local side: checked against the P-Modes, stored durably (payload files fsynced, record
//! flushed) as `Submitted`, and only then accepted. The sender task takes them from the store.

use std::path::PathBuf;

use pmode::{OutgoingKeys, PModeSet, PartyId, Service};

use crate::ebms::MessageIdGenerator;
use crate::store::{MessageKey, MessageMeta, NewOutbound, Party, PayloadPart, StoreError};

/// One payload of a submission: a file on disk and its MIME type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmittedPayload {
    pub path: PathBuf,
    pub mime_type: String,
    /// The MIME Content-ID (without `cid:` and `<>`); generated when `None`.
    pub content_id: Option<String>,
}

/// A message to send, as a producer hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The receiving access point's PartyId (looked up in the resolver: `[[peers]]` today).
    pub to_party: String,
    /// Its PartyId type; the SDK AP type when `None`.
    pub to_party_type: Option<String>,
    /// The P-Mode to use; may be omitted when exactly one P-Mode fits service, action and recipient.
    pub pmode_id: Option<String>,
    pub service: String,
    pub service_type: Option<String>,
    pub action: String,
    /// `originalSender` participant (e.g. `0203:sender.example.se`); may be empty only when the P-Mode does not
    /// require it (e.g. the ebMS test service).
    pub original_sender: String,
    /// `finalRecipient` participant.
    pub final_recipient: String,
    /// Generated (a UUID) when `None`.
    pub conversation_id: Option<String>,
    pub payloads: Vec<SubmittedPayload>,
    /// Who submits, for the state history (e.g. `api:<token-name>`, `cli`).
    pub actor: String,
}

/// An accepted submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub key: MessageKey,
    /// The ebMS MessageId the message will carry.
    pub message_id: String,
    pub pmode_id: String,
}

/// Why a submission was refused (nothing is stored then).
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("no P-Mode for this submission: {0}")]
    PMode(#[from] pmode::MatchError),
    #[error("payload {path}: {message}")]
    Payload { path: String, message: String },
    #[error("invalid submission: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What `submit` needs from the node.
pub(crate) struct SubmitContext<'a> {
    pub store: &'a dyn crate::store::Store,
    pub pmodes: &'a PModeSet,
    pub our_party_id: &'a str,
    pub our_party_type: &'a str,
    pub ids: &'a MessageIdGenerator,
    pub max_payload_bytes: u64,
}

/// Stores a submission durably; on any error removes what it staged.
pub(crate) async fn submit(ctx: &SubmitContext<'_>, submission: Submission) -> Result<Accepted, SubmitError> {
    for (name, value) in [
        ("to_party", &submission.to_party),
        ("service", &submission.service),
        ("action", &submission.action),
    ] {
        if value.trim().is_empty() {
            return Err(SubmitError::Invalid(format!("{name} is empty")));
        }
    }
    let to_type = submission
        .to_party_type
        .clone()
        .unwrap_or_else(|| crate::config::SDK_PARTY_ID_TYPE.to_string());
    let keys = OutgoingKeys {
        to_party: PartyId::new(&submission.to_party, Some(&to_type)),
        service: Service::new(&submission.service, submission.service_type.as_deref()),
        action: submission.action.clone(),
        pmode_id: submission.pmode_id.clone(),
    };
    let pmode = ctx.pmodes.match_outgoing(&keys)?;
    for (name, value) in [
        ("originalSender", &submission.original_sender),
        ("finalRecipient", &submission.final_recipient),
    ] {
        let required = pmode
            .business_info
            .properties
            .iter()
            .any(|r| r.required && r.name == name);
        if required && value.trim().is_empty() {
            return Err(SubmitError::Invalid(format!("P-Mode {} requires {name}", pmode.id)));
        }
    }
    let key = ctx.store.allocate_key()?;
    let result = store_submission(ctx, key, pmode, &to_type, &submission).await;
    if result.is_err() {
        let _ = ctx.store.payload_files().remove_message(key).await;
    }
    result
}

async fn store_submission(
    ctx: &SubmitContext<'_>,
    key: MessageKey,
    pmode: &pmode::PMode,
    to_type: &str,
    submission: &Submission,
) -> Result<Accepted, SubmitError> {
    let mut parts: Vec<PayloadPart> = Vec::with_capacity(submission.payloads.len());
    for (index, payload) in submission.payloads.iter().enumerate() {
        let shown = payload.path.display().to_string();
        let mut file = tokio::fs::File::open(&payload.path)
            .await
            .map_err(|e| SubmitError::Payload {
                path: shown.clone(),
                message: e.to_string(),
            })?;
        let content_id = payload
            .content_id
            .clone()
            .unwrap_or_else(|| format!("payload-{index}@{}", ctx.ids.domain()));
        if parts.iter().any(|p| p.content_id == content_id) {
            return Err(SubmitError::Invalid(format!("content id {content_id:?} is used twice")));
        }
        let part = ctx
            .store
            .payload_files()
            .write_part(
                key,
                index as u32,
                &content_id,
                &payload.mime_type,
                &mut file,
                ctx.max_payload_bytes,
            )
            .await?;
        parts.push(part);
    }
    let message_id = ctx.ids.generate().into_string();
    let meta = MessageMeta {
        message_id: message_id.clone(),
        pmode_id: pmode.id.clone(),
        from: Party {
            id: ctx.our_party_id.to_string(),
            id_type: Some(ctx.our_party_type.to_string()),
            role: pmode.initiator.role.clone(),
        },
        to: Party {
            id: submission.to_party.clone(),
            id_type: Some(to_type.to_string()),
            role: pmode.responder.role.clone(),
        },
        service: submission.service.clone(),
        service_type: submission.service_type.clone(),
        action: submission.action.clone(),
        conversation_id: submission
            .conversation_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        ref_to_message_id: None,
        original_sender: non_empty(&submission.original_sender),
        final_recipient: non_empty(&submission.final_recipient),
    };
    let record = ctx
        .store
        .insert_outbound(NewOutbound {
            key,
            meta,
            payloads: parts,
            actor: submission.actor.clone(),
        })
        .await?
        .durable()
        .await?;
    tracing::info!(key = %key, message_id = %record.meta.message_id, pmode = %pmode.id, to = %submission.to_party,
        original_sender = %submission.original_sender, final_recipient = %submission.final_recipient,
        conversation_id = %record.meta.conversation_id, payloads = record.payloads.len(), "submitted");
    Ok(Accepted {
        key,
        message_id,
        pmode_id: pmode.id.clone(),
    })
}

fn non_empty(value: &str) -> Option<String> {
    (!value.trim().is_empty()).then(|| value.to_string())
}

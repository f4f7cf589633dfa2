//! Submissions from the local side: checked against the P-Modes, stored durably (payload files fsynced, record
//! flushed) as `Submitted`, and only then accepted. The sender task takes them from the store.
//!
//! The receiving AP. In SDK a producer knows the recipient participant (`finalRecipient`), not its access point, so
//! [`Submission::to_party`] may be left out. The AP is then resolved at submit time through the node's resolver
//! chain (`[[peers]]` by participant, then SML/SMP): its PartyId is the SMP AP certificate's CN (type: the SDK AP
//! party type), recorded as the message's `To` before the message is stored. When the lookup is *temporarily*
//! impossible (DNS or SMP unreachable and nothing cached), the submission is still accepted and stored with `To`
//! unresolved (empty); the sender resolves it at every attempt ([`with_resolved_to`]) and the P-Mode's retry policy
//! applies, so a brief discovery outage delays a message instead of refusing it. A definite answer that rules the
//! recipient out (not registered, forged SMP answer, no `[[peers]]` entry and no discovery) refuses the submission.

use std::path::PathBuf;

use pmode::{OutgoingKeys, PModeSet, PartyId, Service};

use super::resolver::{RecipientQuery, RecipientResolver, ResolveError, ResolvedRecipient};
use crate::ebms::MessageIdGenerator;
use crate::store::{MessageKey, MessageMeta, MessageRecord, NewOutbound, Party, PayloadPart, StoreError};

/// One payload of a submission: a file on disk and its MIME type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmittedPayload {
    pub path: PathBuf,
    pub mime_type: String,
    /// The MIME Content-ID (without `cid:` and `<>`); generated when `None`.
    pub content_id: Option<String>,
}

/// The longest `trackingIdentifier` accepted, in characters (the eDelivery profile sets no limit; this bounds what a
/// producer can make every hop store and log).
pub const MAX_TRACKING_IDENTIFIER_CHARS: usize = 255;

/// A message to send, as a producer hands it over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Submission {
    /// The receiving access point's PartyId. `None` (the SDK case): resolved from `final_recipient` through
    /// `[[peers]]` `participants` and SML/SMP (the SMP AP certificate's CN), at submit time or, while discovery is
    /// unavailable, at send time.
    pub to_party: Option<String>,
    /// Its PartyId type; when `None`, the resolver's type for a resolved AP, else the SDK AP type.
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
    /// The `trackingIdentifier` message property (eDelivery four-corner profile): the producer's own reference,
    /// sent unchanged; see [`check_tracking_identifier`].
    pub tracking_identifier: Option<String>,
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
    /// The receiving AP could not be found for the final recipient, and no retry would help.
    #[error("no receiving access point: {0}")]
    Recipient(ResolveError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a `trackingIdentifier`: not blank, at most [`MAX_TRACKING_IDENTIFIER_CHARS`] characters, no control
/// characters (it is carried in the ebMS header and written to logs as is).
pub fn check_tracking_identifier(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("trackingIdentifier is empty".into());
    }
    let chars = value.chars().count();
    if chars > MAX_TRACKING_IDENTIFIER_CHARS {
        return Err(format!(
            "trackingIdentifier has {chars} characters, at most {MAX_TRACKING_IDENTIFIER_CHARS} are allowed"
        ));
    }
    if let Some((index, c)) = value.chars().enumerate().find(|(_, c)| c.is_control()) {
        return Err(format!(
            "trackingIdentifier contains the control character U+{:04X} at character {index}",
            c as u32
        ));
    }
    Ok(())
}

/// What `submit` needs from the node.
pub(crate) struct SubmitContext<'a> {
    pub store: &'a dyn crate::store::Store,
    pub pmodes: &'a PModeSet,
    pub our_party_id: &'a str,
    pub our_party_type: &'a str,
    pub ids: &'a MessageIdGenerator,
    pub max_payload_bytes: u64,
    /// Finds the receiving AP of a submission that names only the final recipient.
    pub resolver: &'a dyn RecipientResolver,
}

/// The receiving AP of a submission as decided at submit time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ToParty {
    /// Empty while unresolved (discovery temporarily unavailable).
    id: String,
    id_type: String,
}

/// Stores a submission durably; on any error removes what it staged.
pub(crate) async fn submit(ctx: &SubmitContext<'_>, submission: Submission) -> Result<Accepted, SubmitError> {
    for (name, value) in [("service", &submission.service), ("action", &submission.action)] {
        if value.trim().is_empty() {
            return Err(SubmitError::Invalid(format!("{name} is empty")));
        }
    }
    if let Some(tracking_identifier) = &submission.tracking_identifier {
        check_tracking_identifier(tracking_identifier).map_err(SubmitError::Invalid)?;
    }
    let to = receiving_ap(ctx, &submission).await?;
    let keys = OutgoingKeys {
        to_party: PartyId::new(&to.id, Some(&to.id_type)),
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
    let result = store_submission(ctx, key, pmode, &to, &submission).await;
    if result.is_err() {
        let _ = ctx.store.payload_files().remove_message(key).await;
    }
    result
}

async fn store_submission(
    ctx: &SubmitContext<'_>,
    key: MessageKey,
    pmode: &pmode::PMode,
    to: &ToParty,
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
            id: to.id.clone(),
            id_type: Some(to.id_type.clone()),
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
        tracking_identifier: submission.tracking_identifier.clone(),
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
    tracing::info!(key = %key, message_id = %record.meta.message_id, pmode = %pmode.id, to = %to.id,
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

/// The receiving AP: the one the submission names, else the one the resolver finds for the final recipient (empty
/// while discovery is temporarily unavailable).
async fn receiving_ap(ctx: &SubmitContext<'_>, submission: &Submission) -> Result<ToParty, SubmitError> {
    let default_type = || crate::config::SDK_PARTY_ID_TYPE.to_string();
    match submission.to_party.as_deref() {
        Some(named) if named.trim().is_empty() => Err(SubmitError::Invalid("to_party is empty".into())),
        Some(named) => Ok(ToParty {
            id: named.to_string(),
            id_type: submission.to_party_type.clone().unwrap_or_else(default_type),
        }),
        None => {
            if submission.final_recipient.trim().is_empty() {
                return Err(SubmitError::Invalid(
                    "name the receiving access point (to_party) or the final recipient participant".into(),
                ));
            }
            let query = RecipientQuery {
                to_party: String::new(),
                final_recipient: Some(submission.final_recipient.clone()),
                action: Some(submission.action.clone()),
            };
            match ctx.resolver.resolve(&query).await {
                Ok(found) => Ok(ToParty {
                    id: found.party_id,
                    id_type: submission.to_party_type.clone().unwrap_or(found.party_id_type),
                }),
                Err(e) if e.is_retryable() => {
                    tracing::warn!(final_recipient = %submission.final_recipient, error = %e,
                        "receiving access point not resolved yet: stored, resolved again when sent");
                    Ok(ToParty {
                        id: String::new(),
                        id_type: submission.to_party_type.clone().unwrap_or_else(default_type),
                    })
                }
                Err(e) => Err(SubmitError::Recipient(e)),
            }
        }
    }
}

/// For a message stored with its receiving AP unresolved: a copy whose `To` is the AP just resolved (`None` when the
/// record already names its AP). The P-Mode chosen at submit time must accept that AP.
pub(crate) fn with_resolved_to(
    record: &MessageRecord,
    recipient: &ResolvedRecipient,
    pmode: &pmode::PMode,
) -> Result<Option<MessageRecord>, String> {
    if !record.meta.to.id.is_empty() {
        return Ok(None);
    }
    let id_type = record
        .meta
        .to
        .id_type
        .clone()
        .unwrap_or_else(|| recipient.party_id_type.clone());
    if !pmode
        .responder
        .accepts_party(&PartyId::new(&recipient.party_id, Some(&id_type)))
    {
        return Err(format!(
            "the receiving access point {:?} found for {} is not accepted by P-Mode {}",
            recipient.party_id,
            record.meta.final_recipient.as_deref().unwrap_or("?"),
            pmode.id
        ));
    }
    let mut filled = record.clone();
    filled.meta.to.id = recipient.party_id.clone();
    filled.meta.to.id_type = Some(id_type);
    Ok(Some(filled))
}

#[cfg(test)]
mod tracking_identifier_tests {
    use super::*;

    #[test]
    fn a_plain_identifier_passes() {
        assert_eq!(check_tracking_identifier("urn:tracking:ABC-123/ä"), Ok(()));
        assert_eq!(
            check_tracking_identifier(&"x".repeat(MAX_TRACKING_IDENTIFIER_CHARS)),
            Ok(())
        );
    }

    #[test]
    fn blank_overlong_and_control_characters_are_refused() {
        assert_eq!(
            check_tracking_identifier(" \t"),
            Err("trackingIdentifier is empty".into())
        );
        let long = "ä".repeat(MAX_TRACKING_IDENTIFIER_CHARS + 1);
        assert!(check_tracking_identifier(&long).unwrap_err().contains("256 characters"));
        let error = check_tracking_identifier("abc\ndef").unwrap_err();
        assert!(error.contains("U+000A at character 3"), "{error}");
        assert!(check_tracking_identifier("a\u{7f}").is_err());
    }
}

//! One send attempt for a claimed outbound message: P-Mode → recipient (resolver) → UserMessage → seal (compress,
//! sign, encrypt; spooled to disk) → POST → verify the receipt (signed by the expected receiver's certificate, its
//! references equal to what we signed) → an [`AttemptResult`] for the scheduler.
//!
//! Retry classification: a transport failure the client calls retryable (network, timeout, TLS, HTTP 5xx/408/429),
//! a response that is neither a valid receipt nor a valid signed error, and a temporary resolver failure are
//! retried; a signed ebMS Error signal is judged by its codes ([`super::outcome`]); local problems that no retry
//! fixes (P-Mode gone, payload file missing, unknown peer, bad endpoint URL) fail the message at once.

use std::sync::Arc;

use http::HeaderMap;
use time::OffsetDateTime;

use super::node::NodeShared;
use super::outcome::{AttemptResult, PeerError};
use super::resolver::{RecipientQuery, RecipientResolver};
use super::scheduler::Deliverer;
use crate::ebms::{
    AgreementRef, CollaborationInfo, MessageId, MessageInfo, Party, PartyId, PartyInfo, Property, Service, Timestamp,
    UserMessage,
};
use crate::store::{BoxFuture, MessageRecord};
use crate::transport::{As4Client, OutgoingBody};
use crate::wss::message::{self as wss_message, OutgoingPayload, SealParams, VerifiedSignal};

/// The participant identifier scheme of `originalSender` / `finalRecipient` when the P-Mode names none.
const PARTICIPANT_SCHEME: &str = "iso6523-actorid-upis";

/// The real [`Deliverer`]: seals and POSTs with the transport client.
pub struct As4Deliverer {
    pub(crate) shared: Arc<NodeShared>,
    pub(crate) resolver: Arc<dyn RecipientResolver>,
    pub(crate) client: As4Client,
}

impl Deliverer for As4Deliverer {
    fn attempt<'a>(&'a self, record: &'a MessageRecord) -> BoxFuture<'a, AttemptResult> {
        Box::pin(self.send(record))
    }

    fn retry_policy(&self, pmode_id: &str) -> Option<pmode::RetryPolicy> {
        let pmode = self.shared.pmodes.get(pmode_id)?;
        pmode
            .reception_awareness
            .enabled
            .then(|| pmode.reception_awareness.retry.clone())
    }
}

fn final_(reason: impl Into<String>) -> AttemptResult {
    AttemptResult::Final { reason: reason.into() }
}

fn retry(reason: impl Into<String>) -> AttemptResult {
    AttemptResult::Retryable { reason: reason.into() }
}

impl As4Deliverer {
    async fn send(&self, record: &MessageRecord) -> AttemptResult {
        let shared = &self.shared;
        let meta = &record.meta;
        let Some(pmode) = shared.pmodes.get(&meta.pmode_id) else {
            return final_(format!("P-Mode {:?} is no longer configured", meta.pmode_id));
        };
        let query = RecipientQuery {
            to_party: meta.to.id.clone(),
            final_recipient: meta.final_recipient.clone(),
            action: Some(meta.action.clone()),
        };
        let recipient = match self.resolver.resolve(&query).await {
            Ok(r) => r,
            Err(e) if e.is_retryable() => return retry(e.to_string()),
            Err(e) => return final_(e.to_string()),
        };
        if let Err(e) = receiver_certificate_trusted(&shared.message_trust, pmode, &recipient, OffsetDateTime::now_utc()) {
            return final_(e);
        }
        // Stored with its receiving AP unresolved (discovery was down at submit time): `To` is the AP found now.
        let filled;
        let record = match super::submit::with_resolved_to(record, &recipient, pmode) {
            Ok(Some(r)) => {
                filled = r;
                &filled
            }
            Ok(None) => record,
            Err(e) => return final_(e),
        };
        let user = match user_message(record, pmode) {
            Ok(u) => u,
            Err(e) => return final_(e),
        };
        let mut payloads = Vec::with_capacity(record.payloads.len());
        for part in &record.payloads {
            let source = match shared.store.payload_files().path_of(record.key, part) {
                Ok(p) => p,
                Err(e) => return final_(e.to_string()),
            };
            if !source.is_file() {
                return final_(format!("payload file {} is missing", source.display()));
            }
            payloads.push(OutgoingPayload {
                content_id: part.content_id.clone(),
                mime_type: part.mime_type.clone(),
                character_set: None,
                compress: pmode.compression.compress_outgoing,
                source,
                extra_part_properties: Vec::new(),
            });
        }
        let params = SealParams {
            pmode,
            signer: &shared.identity.message,
            receiver_encryption_cert: pmode.security.encryption.as_ref().map(|_| &recipient.message_cert),
            spool_dir: &shared.spool_dir,
        };
        let sealed = match wss_message::seal(&user, &payloads, &params).await {
            Ok(s) => s,
            Err(crate::wss::message::WssError::Io(e)) => return retry(format!("sealing: {e}")),
            Err(e) => return final_(format!("cannot seal the message: {e}")),
        };
        let started = std::time::Instant::now();
        let body = match &sealed.body_in_memory {
            Some(bytes) => OutgoingBody::bytes(bytes.clone()),
            None => {
                let file = match sealed.body.reopen() {
                    Ok(f) => tokio::fs::File::from_std(f),
                    Err(e) => return retry(format!("reopening the sealed body: {e}")),
                };
                match OutgoingBody::file(file).await {
                    Ok(b) => b,
                    Err(e) => return retry(format!("reading the sealed body: {e}")),
                }
            }
        };
        let response = match self
            .client
            .post(&recipient.endpoint, &sealed.content_type, &HeaderMap::new(), body)
            .await
        {
            Ok(r) => r,
            Err(e) if e.is_retryable() => return retry(format!("POST {}: {e}", recipient.endpoint)),
            Err(e) => return final_(format!("POST {}: {e}", recipient.endpoint)),
        };
        let status = response.status;
        let content_type = response.content_type().unwrap_or("").to_string();
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return retry(format!("reading the response: {e}")),
        };
        if let Some(m) = &shared.metrics {
            m.send_latency.observe_duration(started.elapsed());
        }
        // A 4xx other than 408/429 without a valid signal is the peer refusing the request itself (wrong path,
        // forbidden): resending the same request cannot help.
        let refused_by_http = status.is_client_error()
            && status != http::StatusCode::REQUEST_TIMEOUT
            && status != http::StatusCode::TOO_MANY_REQUESTS;
        let no_receipt = |why: String| if refused_by_http { final_(why) } else { retry(why) };
        if body.is_empty() {
            return no_receipt(format!("HTTP {status} without a receipt"));
        }
        let verified = wss_message::verify_receipt(
            &content_type,
            &body,
            &sealed,
            &recipient.message_cert,
            &shared.message_trust,
            pmode,
        )
        .await;
        match verified {
            Ok(VerifiedSignal::Receipt { message_id, .. }) => AttemptResult::Delivered {
                receipt: body.to_vec(),
                receipt_message_id: message_id,
            },
            Ok(VerifiedSignal::Error { errors, .. }) => AttemptResult::PeerErrors {
                errors: errors
                    .iter()
                    .map(|e| PeerError {
                        code: e.error_code.as_str().to_string(),
                        severity: e.severity,
                        detail: e
                            .error_detail
                            .clone()
                            .or_else(|| e.short_description.clone())
                            .unwrap_or_default(),
                    })
                    .collect(),
                signal: body.to_vec(),
            },
            Err(e) => no_receipt(format!("HTTP {status}: no valid receipt: {}", e.error)),
        }
    }
}

/// The UserMessage for a stored submission. MessageId and Timestamp (the submission time) stay the same across
/// attempts, so the receiver's duplicate detection works and every attempt signs the same eb:Messaging.
/// The receiving AP's certificate must chain to the message trust store, be within validity, not be revoked by a
/// loaded CRL, and fit the P-Mode's key protection, before anything is encrypted to it. Discovery checks SMP answers
/// the same way; this also covers static `[[peers]]` entries, whose certificates are only read from files.
fn receiver_certificate_trusted(
    trust: &crate::pki::TrustStore,
    pmode: &pmode::PMode,
    recipient: &super::resolver::ResolvedRecipient,
    at: OffsetDateTime,
) -> Result<(), String> {
    use crate::pki::Purpose;
    let purpose = match pmode.security.encryption.as_ref().map(|e| &e.key) {
        Some(pmode::KeyEncryption::KeyTransport { .. }) => Purpose::KeyTransport,
        Some(pmode::KeyEncryption::KeyAgreement { .. }) => Purpose::KeyAgreement,
        None => Purpose::MessageSigning,
    };
    trust
        .verify(&recipient.message_cert, &[], purpose, at)
        .map(|_| ())
        .map_err(|e| {
            format!(
                "the certificate of receiving AP {} is not trusted, nothing was sent: {e}",
                recipient.party_id
            )
        })
}

pub(crate) fn user_message(record: &MessageRecord, pmode: &pmode::PMode) -> Result<UserMessage, String> {
    let meta = &record.meta;
    let message_id = MessageId::parse_lenient(&meta.message_id).map_err(|e| format!("stored MessageId: {e}"))?;
    let party = |p: &crate::store::Party| -> Result<Party, String> {
        let id = match &p.id_type {
            Some(t) => PartyId::typed(p.id.clone(), t.clone()),
            None => PartyId::new(p.id.clone(), None),
        }
        .map_err(|e| format!("party {:?}: {e}", p.id))?;
        Ok(Party::new(id, p.role.clone()))
    };
    let service = Service::new(meta.service.clone(), meta.service_type.clone()).map_err(|e| e.to_string())?;
    let submitted_at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(record.created_at.0) * 1_000_000)
        .map_err(|e| format!("stored creation time: {e}"))?;
    let mut info = MessageInfo::new(message_id, Timestamp::from_datetime(submitted_at));
    if let Some(ref_to) = &meta.ref_to_message_id {
        info = info.replying_to(MessageId::parse_lenient(ref_to).map_err(|e| format!("RefToMessageId: {e}"))?);
    }
    let scheme_of = |name: &str| {
        pmode
            .business_info
            .properties
            .iter()
            .find(|r| r.name == name)
            .and_then(|r| r.value_type.clone())
            .unwrap_or_else(|| PARTICIPANT_SCHEME.to_string())
    };
    let mut properties = Vec::new();
    for (name, value) in [
        ("originalSender", &meta.original_sender),
        ("finalRecipient", &meta.final_recipient),
    ] {
        if let Some(v) = value {
            properties.push(Property::typed(name, scheme_of(name), v.clone()));
        }
    }
    let mpc = (pmode.business_info.mpc != crate::ebms::ns::DEFAULT_MPC).then(|| pmode.business_info.mpc.clone());
    Ok(UserMessage {
        mpc,
        message_info: info,
        party_info: PartyInfo {
            from: party(&meta.from)?,
            to: party(&meta.to)?,
        },
        collaboration_info: CollaborationInfo {
            agreement_ref: pmode.agreement.as_ref().map(|a| AgreementRef {
                value: a.value.clone(),
                agreement_type: a.agreement_type.clone(),
                pmode: None,
            }),
            service,
            action: meta.action.clone(),
            conversation_id: meta.conversation_id.clone(),
        },
        message_properties: properties,
        payload_info: Vec::new(),
    })
}

#[cfg(test)]
mod receiver_certificate_tests {
    use super::*;
    use crate::msh::resolver::ResolvedRecipient;
    use crate::pki::dev::{DevPki, DevPkiOptions};
    use crate::pki::TrustStore;

    fn recipient(pki: &DevPki) -> ResolvedRecipient {
        ResolvedRecipient {
            party_id: pki.party_id.clone(),
            party_id_type: String::new(),
            endpoint: "https://127.0.0.1:1/as4".into(),
            message_cert: pki.message.certificate.clone(),
            tls_cert: None,
        }
    }

    #[test]
    fn a_static_peer_is_checked_against_the_trust_store_and_its_crl_before_sealing() {
        let mut pki = DevPki::generate(&DevPkiOptions::new("AP0002-DEV")).unwrap();
        let pmode = pmode::builtin::sdk_message();
        let now = OffsetDateTime::now_utc();
        let trust = |pki: &DevPki| {
            let crl = openssl::x509::X509Crl::from_der(&pki.crl.to_der().unwrap()).unwrap();
            TrustStore::new(vec![pki.ca.certificate.clone()]).with_crls(vec![crl])
        };

        receiver_certificate_trusted(&trust(&pki), &pmode, &recipient(&pki), now).unwrap();

        let stranger = DevPki::generate(&DevPkiOptions::new("AP0002-DEV")).unwrap();
        let e = receiver_certificate_trusted(&trust(&stranger), &pmode, &recipient(&pki), now).unwrap_err();
        assert!(e.contains("AP0002-DEV") && e.contains("not trusted"), "{e}");

        let cert = pki.message.certificate.clone();
        pki.revoke(&cert).unwrap();
        let e = receiver_certificate_trusted(&trust(&pki), &pmode, &recipient(&pki), now).unwrap_err();
        assert!(e.contains("revoked"), "{e}");
    }
}

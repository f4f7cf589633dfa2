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
        let keys = match send_keys(&shared.identity, pmode, &recipient) {
            Ok(k) => k,
            Err(e) => return final_(e),
        };
        if let Err(e) =
            receiver_certificate_trusted(&shared.message_trust, pmode, &recipient, OffsetDateTime::now_utc())
        {
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
            signer: keys.signer,
            receiver_encryption_cert: keys.encryption_cert,
            spool_dir: &shared.spool_dir,
        };
        let level = flate2::Compression::new(shared.config.sender.compression_level);
        let sealed = match wss_message::seal_with_compression(&user, &payloads, &params, level).await {
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
            keys.receipt_cert,
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

/// The keys of one send, chosen by the P-Mode: eDelivery AS4 2.0 (eddsa-ed25519 signatures, X25519 key agreement)
/// uses our Ed25519 key and the peer's Ed25519 and X25519 certificates; SDK / AS4 1.15 uses the RSA message keys.
struct SendKeys<'a> {
    /// Signs the UserMessage.
    signer: &'a crate::pki::KeyPair,
    /// The message is encrypted to it; `None` when the P-Mode does not encrypt.
    encryption_cert: Option<&'a openssl::x509::X509>,
    /// The receipt (or error signal) must be signed with exactly this certificate.
    receipt_cert: &'a openssl::x509::X509,
}

/// Whether `pmode` signs with eddsa-ed25519 (eDelivery AS4 2.0).
fn signs_with_ed25519(pmode: &pmode::PMode) -> bool {
    pmode
        .security
        .signature
        .as_ref()
        .is_some_and(|s| s.algorithm == pmode::algorithms::SignatureAlgorithm::EddsaEd25519)
}

/// The peer certificate `pmode` encrypts to: the X25519 certificate for key agreement, the message (RSA)
/// certificate for key transport; `None` when the P-Mode does not encrypt. A missing X25519 certificate is an error
/// naming the `[[peers]]` setting (discovery does not publish one).
fn encryption_certificate<'a>(
    pmode: &pmode::PMode,
    recipient: &'a super::resolver::ResolvedRecipient,
) -> Result<Option<&'a openssl::x509::X509>, String> {
    match pmode.security.encryption.as_ref().map(|e| &e.key) {
        None => Ok(None),
        Some(pmode::KeyEncryption::KeyTransport { .. }) => Ok(Some(&recipient.message_cert)),
        Some(pmode::KeyEncryption::KeyAgreement { .. }) => recipient.x25519_cert.as_ref().map(Some).ok_or_else(|| {
            format!(
                "P-Mode {} encrypts by key agreement, but no X25519 certificate of receiving AP {} is known \
                 (x25519_cert in its [[peers]] entry), nothing was sent",
                pmode.id, recipient.party_id
            )
        }),
    }
}

fn send_keys<'a>(
    identity: &'a crate::pki::NodeIdentity,
    pmode: &pmode::PMode,
    recipient: &'a super::resolver::ResolvedRecipient,
) -> Result<SendKeys<'a>, String> {
    let (signer, receipt_cert) = if signs_with_ed25519(pmode) {
        let signer = identity.ed25519.as_ref().ok_or_else(|| {
            format!(
                "P-Mode {} signs with eddsa-ed25519, but this AP has no Ed25519 key ([keys.ed25519]), nothing was sent",
                pmode.id
            )
        })?;
        let receipt_cert = recipient.ed25519_cert.as_ref().ok_or_else(|| {
            format!(
                "P-Mode {} signs with eddsa-ed25519, but no Ed25519 certificate of receiving AP {} is known to verify \
                 its receipt with (ed25519_cert in its [[peers]] entry), nothing was sent",
                pmode.id, recipient.party_id
            )
        })?;
        (signer, receipt_cert)
    } else {
        (&identity.message, &recipient.message_cert)
    };
    Ok(SendKeys {
        signer,
        encryption_cert: encryption_certificate(pmode, recipient)?,
        receipt_cert,
    })
}

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
    // The certificate the message is encrypted to (the X25519 one under key agreement), else the message one.
    let cert = encryption_certificate(pmode, recipient)?.unwrap_or(&recipient.message_cert);
    trust.verify(cert, &[], purpose, at).map(|_| ()).map_err(|e| {
        format!(
            "the certificate of receiving AP {} is not trusted, nothing was sent: {e}",
            recipient.party_id
        )
    })
}

/// The UserMessage for a stored submission. MessageId and Timestamp (the submission time) stay the same across
/// attempts, so the receiver's duplicate detection works and every attempt signs the same eb:Messaging.
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
    // eDelivery four-corner profile: trackingIdentifier is an untyped MessageProperty, sent as submitted.
    if let Some(tracking_identifier) = &meta.tracking_identifier {
        properties.push(Property::new("trackingIdentifier", tracking_identifier.clone()));
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
            ed25519_cert: Some(pki.ed25519.certificate.clone()),
            x25519_cert: Some(pki.x25519.certificate.clone()),
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

    fn as4v2_pmode() -> pmode::PMode {
        pmode::builtin::edelivery_as4_v2("as4v2", pmode::Service::new("urn:x:service", None), "urn:x:action")
    }

    #[test]
    fn an_as4v2_pmode_checks_the_x25519_certificate_for_key_agreement() {
        let pki = DevPki::generate(&DevPkiOptions::new("AP0002-DEV")).unwrap();
        let trust = TrustStore::new(vec![pki.ca.certificate.clone()]);
        let now = OffsetDateTime::now_utc();
        let pmode = as4v2_pmode();
        receiver_certificate_trusted(&trust, &pmode, &recipient(&pki), now).unwrap();

        // An RSA certificate in the X25519 slot has no keyAgreement usage: refused before anything is sealed.
        let wrong = ResolvedRecipient {
            x25519_cert: Some(pki.message.certificate.clone()),
            ..recipient(&pki)
        };
        let e = receiver_certificate_trusted(&trust, &pmode, &wrong, now).unwrap_err();
        assert!(e.contains("not trusted") && e.contains("key agreement"), "{e}");

        let missing = ResolvedRecipient {
            x25519_cert: None,
            ..recipient(&pki)
        };
        let e = receiver_certificate_trusted(&trust, &pmode, &missing, now).unwrap_err();
        assert!(e.contains("x25519_cert"), "{e}");
    }

    fn identity(pki: &DevPki, with_ed25519: bool) -> crate::pki::NodeIdentity {
        crate::pki::NodeIdentity {
            message: pki.message.clone(),
            ed25519: with_ed25519.then(|| pki.ed25519.clone()),
            x25519: Some(pki.x25519.clone()),
            tls: None,
        }
    }

    #[test]
    fn keys_are_chosen_by_the_pmode() {
        let ours = DevPki::generate(&DevPkiOptions::new("AP0001-DEV")).unwrap();
        let peer = DevPki::generate(&DevPkiOptions::new("AP0002-DEV")).unwrap();
        let der = |c: &openssl::x509::X509| c.to_der().unwrap();
        let me = identity(&ours, true);
        let to_peer = recipient(&peer);

        let sdk = send_keys(&me, &pmode::builtin::sdk_message(), &to_peer).unwrap();
        assert_eq!(der(&sdk.signer.certificate), der(&ours.message.certificate));
        assert_eq!(der(sdk.encryption_cert.unwrap()), der(&peer.message.certificate));
        assert_eq!(der(sdk.receipt_cert), der(&peer.message.certificate));

        let v2 = send_keys(&me, &as4v2_pmode(), &to_peer).unwrap();
        assert_eq!(der(&v2.signer.certificate), der(&ours.ed25519.certificate));
        assert_eq!(der(v2.encryption_cert.unwrap()), der(&peer.x25519.certificate));
        assert_eq!(der(v2.receipt_cert), der(&peer.ed25519.certificate));

        // Missing keys fail the send with the setting named, never a fallback to the RSA keys.
        let e = send_keys(&identity(&ours, false), &as4v2_pmode(), &recipient(&peer))
            .err()
            .unwrap();
        assert!(e.contains("[keys.ed25519]"), "{e}");
        let no_ed25519 = ResolvedRecipient {
            ed25519_cert: None,
            ..recipient(&peer)
        };
        let e = send_keys(&me, &as4v2_pmode(), &no_ed25519).err().unwrap();
        assert!(e.contains("ed25519_cert"), "{e}");
    }
}

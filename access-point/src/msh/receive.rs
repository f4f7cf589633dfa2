//! The receive pipeline behind `POST /as4`.
//!
//! MIME → ebMS parse → P-Mode match → WS-Security verify → decrypt → decompress ([`wss::message::open`] does these,
//! choosing the P-Mode through [`choose_pmode`]) → profile checks ([`check_profile`]: for SDK the `originalSender` and
//! `finalRecipient` properties, and a final recipient this AP serves, else EBMS:0004 `NOT_SERVICED`) → duplicate
//! check → payload files and record stored with the signed receipt, flushed → the receipt on the HTTP response.
//!
//! The receipt is built and stored in the same transaction as the message, before it is sent, so a re-sent message
//! (same MessageId within the P-Mode's duplicate window) gets the very same receipt bytes back and is not stored or
//! delivered twice. The ebMS test service gets a receipt and is never stored. Any failure answers with a signed ebMS
//! Error signal (HTTP 200, as a signal is a regular ebMS response) and leaves nothing stored; only when even the
//! error signal cannot be signed does the answer become a bare HTTP 500.

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;

use super::node::NodeShared;
use crate::ebms::{EbmsError, ErrorCode, UserMessage};
use crate::pki::certinfo::CertificateInfo;
use crate::store::{InboundInsert, MessageKey, MessageMeta, NewInbound, Party, PayloadPart, Store, Timestamp};
use crate::transport::{As4Handler, As4Request, As4Response, HandlerFuture, PeerInfo};
use crate::wss::message::{self as wss_message, OpenParams, OpenedMessage};

/// Who the store records as storing received messages.
pub const RECEIVER_ACTOR: &str = "receiver";
/// The `Content-Type` of a stored receipt re-sent for a duplicate (signals are single-part SOAP 1.2).
pub const SIGNAL_CONTENT_TYPE: &str = crate::wss::receipt::SIGNAL_CONTENT_TYPE;
/// Detail of EBMS:0004 for a final recipient this AP does not serve (SDK transport profile).
pub const NOT_SERVICED: &str = "NOT_SERVICED";

/// The `POST /as4` handler.
pub struct Receiver {
    pub(crate) shared: Arc<NodeShared>,
}

impl As4Handler for Receiver {
    fn handle(&self, request: As4Request) -> HandlerFuture<'_> {
        Box::pin(async move { self.receive(request).await })
    }
}

/// What the pipeline decided, before it becomes an HTTP response.
enum Answer {
    /// A receipt (new, test service, or the stored one for a duplicate).
    Receipt {
        content_type: String,
        body: Vec<u8>,
        /// A re-sent message answered with the stored receipt.
        duplicate: bool,
    },
    Refused(EbmsError),
}

impl Receiver {
    async fn receive(&self, request: As4Request) -> As4Response {
        let started = std::time::Instant::now();
        let peer = describe_peer(&request.peer);
        let content_type = request.head.content_type().map(str::to_string);
        let answer = match content_type {
            None => Answer::Refused(EbmsError::new(
                ErrorCode::MimeInconsistency,
                "the request has no Content-Type",
            )),
            Some(ct) => self.receive_message(&ct, request.body.into_async_read(), &peer).await,
        };
        let shared = &self.shared;
        if let Some(m) = &shared.metrics {
            let label = match &answer {
                Answer::Receipt { duplicate: true, .. } => crate::transport::metrics::outcome::DUPLICATE,
                Answer::Receipt { .. } => crate::transport::metrics::outcome::DELIVERED,
                Answer::Refused(_) => crate::transport::metrics::outcome::ERROR,
            };
            m.messages_in.with(&[label]).inc();
        }
        match answer {
            Answer::Receipt { content_type, body, .. } => {
                tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "receipt returned");
                As4Response::bytes(StatusCode::OK, &content_type, body)
            }
            Answer::Refused(error) => {
                tracing::warn!(peer_ap = %peer.ap, peer_certificate = %peer.certificate, remote = %peer.remote,
                    code = error.code.code(), detail = %error.detail,
                    ref_to = error.ref_to_message_in_error.as_deref().unwrap_or(""), "message refused");
                let ref_to = error.ref_to_message_in_error.clone();
                match wss_message::build_error_signal(&error, ref_to.as_deref(), &shared.identity.message) {
                    Ok(signal) => As4Response::bytes(StatusCode::OK, &signal.content_type, signal.body),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot sign the error signal");
                        As4Response::empty(StatusCode::INTERNAL_SERVER_ERROR)
                    }
                }
            }
        }
    }

    async fn receive_message<R>(&self, content_type: &str, body: R, peer: &PeerSummary) -> Answer
    where
        R: tokio::io::AsyncRead + Unpin + Send,
    {
        let shared = &self.shared;
        let params = OpenParams {
            our_keys: &shared.identity,
            message_trust: &shared.message_trust,
            limits: &shared.open_limits,
            spool_dir: &shared.spool_dir,
        };
        let choose = |user: &UserMessage| choose_pmode(&shared.pmodes, user);
        let opened = match wss_message::open(content_type, body, &choose, &params).await {
            Ok(opened) => opened,
            Err(e) => return Answer::Refused(e.error),
        };
        let user = opened.user_message();
        let message_id = user.message_info.message_id.as_str().to_string();
        log_received(&opened, peer);
        if let Err(error) = check_profile(&opened.pmode, user, |p| shared.config.serves(p)) {
            return Answer::Refused(error.with_ref_to_message(&message_id));
        }
        let Some(signer) = receipt_signer(&shared.identity, &opened.pmode) else {
            tracing::error!(message_id = %message_id, pmode = %opened.pmode.id,
                "the P-Mode signs with eddsa-ed25519 but this access point has no Ed25519 key ([keys.ed25519])");
            return Answer::Refused(
                EbmsError::new(
                    ErrorCode::Other,
                    format!(
                        "this access point cannot sign a receipt under P-Mode {}",
                        opened.pmode.id
                    ),
                )
                .with_ref_to_message(&message_id),
            );
        };
        let receipt = match wss_message::build_receipt(&opened, signer, &opened.pmode) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(message_id = %message_id, error = %e, "cannot build the receipt");
                return Answer::Refused(
                    EbmsError::new(ErrorCode::Other, "internal error while building the receipt")
                        .with_ref_to_message(&message_id),
                );
            }
        };
        if user.is_test_message() {
            tracing::info!(message_id = %message_id, peer_ap = %peer.ap, "ebMS test message acknowledged, not delivered");
            return Answer::Receipt {
                content_type: receipt.content_type,
                body: receipt.body,
                duplicate: false,
            };
        }
        match self.store_message(&opened, receipt.body.clone()).await {
            Ok(Stored::New(key)) => {
                tracing::info!(key = %key, message_id = %message_id, receipt_id = %receipt.message_id, "stored and receipted");
                crate::sdk::inbound::spawn_classify(self.shared.clone(), key);
                Answer::Receipt {
                    content_type: receipt.content_type,
                    body: receipt.body,
                    duplicate: false,
                }
            }
            Ok(Stored::Duplicate { key, receipt: stored }) => {
                tracing::info!(key = %key, message_id = %message_id, peer_ap = %peer.ap,
                    "duplicate within the detection window: the original receipt is returned, nothing delivered");
                match stored {
                    Some(body) => Answer::Receipt {
                        content_type: SIGNAL_CONTENT_TYPE.to_string(),
                        body,
                        duplicate: true,
                    },
                    None => Answer::Receipt {
                        content_type: receipt.content_type,
                        body: receipt.body,
                        duplicate: true,
                    },
                }
            }
            Err(e) => {
                tracing::error!(message_id = %message_id, error = %e, "cannot store the message");
                Answer::Refused(
                    EbmsError::new(
                        ErrorCode::DeliveryFailure,
                        "the message could not be stored; send it again",
                    )
                    .with_ref_to_message(&message_id),
                )
            }
        }
    }

    async fn store_message(
        &self,
        opened: &OpenedMessage,
        receipt: Vec<u8>,
    ) -> Result<Stored, crate::store::StoreError> {
        let store: &dyn Store = &*self.shared.store;
        let user = opened.user_message();
        let message_id = user.message_info.message_id.as_str();
        let window = duplicate_window(&opened.pmode);
        // Cheap early answer for a re-send: skip copying its payloads.
        if let Some(window) = window {
            if window > Duration::ZERO {
                if let Some((record, stored)) = store.find_duplicate(message_id, Timestamp::now()).await? {
                    return Ok(Stored::Duplicate {
                        key: record.key,
                        receipt: stored.map(|e| e.bytes),
                    });
                }
            }
        }
        let key = store.allocate_key()?;
        let result = self
            .insert(store, key, opened, receipt, window.unwrap_or(Duration::ZERO))
            .await;
        match &result {
            Ok(Stored::New(_)) => {}
            // Nothing of ours is referenced: remove the staged files (recovery would too).
            _ => {
                let _ = store.payload_files().remove_message(key).await;
            }
        }
        result
    }

    async fn insert(
        &self,
        store: &dyn Store,
        key: MessageKey,
        opened: &OpenedMessage,
        receipt: Vec<u8>,
        window: Duration,
    ) -> Result<Stored, crate::store::StoreError> {
        let mut parts: Vec<PayloadPart> = Vec::with_capacity(opened.payloads.len());
        for (index, payload) in opened.payloads.iter().enumerate() {
            let files = store.payload_files();
            let part = match payload.file.bytes() {
                // A small payload opened in memory is written once, under its final name (write, fsync, rename).
                Some(bytes) => {
                    files
                        .write_part(
                            key,
                            index as u32,
                            &payload.content_id,
                            &payload.mime_type,
                            &mut &bytes[..],
                            payload.size,
                        )
                        .await?
                }
                // The verified, decrypted spool file becomes the stored part (hard link, fsync): written once.
                None => {
                    let path = payload
                        .file
                        .path()
                        .map_err(|e| crate::store::StoreError::io("spooling a received payload", e))?;
                    files
                        .adopt_part(
                            key,
                            index as u32,
                            &payload.content_id,
                            &payload.mime_type,
                            path,
                            payload.size,
                            &payload.sha256,
                        )
                        .await?
                }
            };
            parts.push(part);
        }
        let inserted = store
            .insert_inbound(NewInbound {
                key,
                meta: meta_of(opened),
                payloads: parts,
                receipt,
                duplicate_window: window,
                actor: RECEIVER_ACTOR.to_string(),
            })
            .await?
            .durable()
            .await?;
        Ok(match inserted {
            InboundInsert::Inserted(record) => Stored::New(record.key),
            InboundInsert::Duplicate { existing, receipt } => Stored::Duplicate {
                key: existing.key,
                receipt: receipt.map(|e| e.bytes),
            },
        })
    }
}

enum Stored {
    New(MessageKey),
    Duplicate { key: MessageKey, receipt: Option<Vec<u8>> },
}

/// The duplicate-detection window of a P-Mode (`None` when detection is off).
fn duplicate_window(pmode: &pmode::PMode) -> Option<Duration> {
    let dd = &pmode.reception_awareness.duplicate_detection;
    (pmode.reception_awareness.enabled && dd.enabled).then(|| Duration::from_secs(dd.window_seconds))
}

/// The P-Mode for a received UserMessage (EBMS:0010 when none or several fit).
pub fn choose_pmode(pmodes: &pmode::PModeSet, user: &UserMessage) -> Result<pmode::PMode, EbmsError> {
    let message_id = user.message_info.message_id.as_str();
    let party = |p: &crate::ebms::Party| -> Result<pmode::PartyKey, EbmsError> {
        let id = p.single_party_id().ok_or_else(|| {
            EbmsError::new(
                ErrorCode::ValueInconsistent,
                "AS4 requires exactly one PartyId per party",
            )
            .with_ref_to_message(message_id)
        })?;
        Ok(pmode::PartyKey {
            party: pmode::PartyId::new(id.value(), id.party_type()),
            role: p.role.clone(),
        })
    };
    let collaboration = &user.collaboration_info;
    let keys = pmode::IncomingKeys {
        from: party(&user.party_info.from)?,
        to: party(&user.party_info.to)?,
        service: pmode::Service::new(collaboration.service.value(), collaboration.service.service_type()),
        action: collaboration.action.clone(),
        agreement: collaboration.agreement_ref.as_ref().map(|a| pmode::AgreementRef {
            value: a.value.clone(),
            agreement_type: a.agreement_type.clone(),
        }),
        mpc: user.mpc.clone(),
    };
    pmodes
        .match_incoming(&keys)
        .cloned()
        .map_err(|e| EbmsError::new(ErrorCode::ProcessingModeMismatch, e.to_string()).with_ref_to_message(message_id))
}

/// The key that signs our receipt under `pmode`: the Ed25519 key when the P-Mode signs with eddsa-ed25519 (eDelivery
/// AS4 2.0), else the RSA message key (SDK, AS4 1.15). `None` when the P-Mode needs Ed25519 and this node has no
/// such key: a receipt signed with another algorithm would only be refused by the sender, which then retries.
pub fn receipt_signer<'a>(
    identity: &'a crate::pki::NodeIdentity,
    pmode: &pmode::PMode,
) -> Option<&'a crate::pki::KeyPair> {
    let ed25519 = pmode::algorithms::SignatureAlgorithm::EddsaEd25519;
    match &pmode.security.signature {
        Some(policy) if policy.algorithm == ed25519 => identity.ed25519.as_ref(),
        _ => Some(&identity.message),
    }
}

/// Profile checks after security: every property the P-Mode requires is present and non-empty (EBMS:0003
/// otherwise), and for the SDK profile the `finalRecipient` is a participant this AP serves (EBMS:0004
/// `NOT_SERVICED` otherwise). The test service carries no business properties and is exempt.
pub fn check_profile(pmode: &pmode::PMode, user: &UserMessage, serves: impl Fn(&str) -> bool) -> Result<(), EbmsError> {
    if user.is_test_message() {
        return Ok(());
    }
    for rule in pmode.business_info.properties.iter().filter(|r| r.required) {
        match user.property(&rule.name) {
            Some(p) if !p.value.trim().is_empty() => {}
            _ => {
                return Err(EbmsError::new(
                    ErrorCode::ValueInconsistent,
                    format!("the message property {} is required by P-Mode {}", rule.name, pmode.id),
                ))
            }
        }
    }
    if pmode.profile == pmode::Profile::Sdk {
        let final_recipient = user.property("finalRecipient").map(|p| p.value.as_str()).unwrap_or("");
        if final_recipient.is_empty() {
            return Err(EbmsError::new(
                ErrorCode::ValueInconsistent,
                "the finalRecipient property is missing",
            ));
        }
        if !serves(final_recipient) {
            return Err(EbmsError::new(ErrorCode::Other, NOT_SERVICED));
        }
    }
    Ok(())
}

/// The store's view of a received message.
fn meta_of(opened: &OpenedMessage) -> MessageMeta {
    let user = opened.user_message();
    let party = |p: &crate::ebms::Party| {
        let id = p.single_party_id();
        Party {
            id: id.map(|i| i.value().to_string()).unwrap_or_default(),
            id_type: id.and_then(|i| i.party_type().map(str::to_string)),
            role: p.role.clone(),
        }
    };
    let c = &user.collaboration_info;
    MessageMeta {
        message_id: user.message_info.message_id.as_str().to_string(),
        pmode_id: opened.pmode.id.clone(),
        from: party(&user.party_info.from),
        to: party(&user.party_info.to),
        service: c.service.value().to_string(),
        service_type: c.service.service_type().map(str::to_string),
        action: c.action.clone(),
        conversation_id: c.conversation_id.clone(),
        ref_to_message_id: user
            .message_info
            .ref_to_message_id
            .as_ref()
            .map(|m| m.as_str().to_string()),
        original_sender: user.property("originalSender").map(|p| p.value.clone()),
        final_recipient: user.property("finalRecipient").map(|p| p.value.clone()),
        tracking_identifier: user.property("trackingIdentifier").map(|p| p.value.clone()),
    }
}

/// The peer as logged with every received message.
struct PeerSummary {
    remote: String,
    /// The TLS client certificate's CN (the peer AP id in SDK), or `-` on plain HTTP.
    ap: String,
    /// Subject, issuer, serial and expiry of the TLS client certificate.
    certificate: String,
}

fn describe_peer(peer: &PeerInfo) -> PeerSummary {
    let info = peer.certificate().and_then(|c| CertificateInfo::of(&c).ok());
    PeerSummary {
        remote: peer.remote_addr.to_string(),
        ap: info
            .as_ref()
            .and_then(|i| i.subject_cn.clone())
            .unwrap_or_else(|| "-".to_string()),
        certificate: info
            .map(|i| {
                format!(
                    "subject={} issuer={} serial={} not_after={}",
                    i.subject, i.issuer, i.serial_hex, i.not_after
                )
            })
            .unwrap_or_else(|| "-".to_string()),
    }
}

/// What the SDK component specification asks to log for every received message.
fn log_received(opened: &OpenedMessage, peer: &PeerSummary) {
    let user = opened.user_message();
    let prop = |name: &str| user.property(name).map(|p| p.value.as_str()).unwrap_or("");
    let signer = &opened.signer.info;
    tracing::info!(
        message_id = %user.message_info.message_id.as_str(),
        conversation_id = %user.collaboration_info.conversation_id,
        timestamp = %user.message_info.timestamp,
        received_at = %Timestamp::now().to_rfc3339(),
        peer_ap = %peer.ap,
        peer_tls_certificate = %peer.certificate,
        remote = %peer.remote,
        signer = %opened.signer_common_name,
        signer_serial = %signer.serial_hex,
        signer_issuer = %signer.issuer,
        original_sender = prop("originalSender"),
        final_recipient = prop("finalRecipient"),
        service = %user.collaboration_info.service.value(),
        action = %user.collaboration_info.action,
        pmode = %opened.pmode.id,
        payloads = opened.payloads.len(),
        "message verified"
    );
}

#[cfg(test)]
mod tests {
    use super::receipt_signer;
    use crate::pki::dev::{DevPki, DevPkiOptions};

    #[test]
    fn a_receipt_is_signed_with_the_key_the_pmode_names_and_never_with_another_algorithm() {
        let pki = DevPki::generate(&DevPkiOptions::new("AP0001-DEV")).unwrap();
        let identity = |with_ed25519: bool| crate::pki::NodeIdentity {
            message: pki.message.clone(),
            ed25519: with_ed25519.then(|| pki.ed25519.clone()),
            x25519: Some(pki.x25519.clone()),
            tls: None,
        };
        let der = |k: &crate::pki::KeyPair| k.certificate.to_der().unwrap();
        let v2 = pmode::builtin::edelivery_as4_v2("as4v2", pmode::Service::new("urn:x:service", None), "urn:x:action");
        let sdk = pmode::builtin::sdk_message();

        let with = identity(true);
        assert_eq!(der(receipt_signer(&with, &v2).unwrap()), der(&pki.ed25519));
        assert_eq!(der(receipt_signer(&with, &sdk).unwrap()), der(&pki.message));
        // Without an Ed25519 key a 2.0 message is refused, not receipted with the RSA key.
        let without = identity(false);
        assert!(receipt_signer(&without, &v2).is_none());
        assert_eq!(der(receipt_signer(&without, &sdk).unwrap()), der(&pki.message));
    }
}

//! Signed signals: the AS4 non-repudiation receipt (`eb:Receipt` with `ebbp:NonRepudiationInformation` echoing
//! every `ds:Reference` of the received signature), signed Error signals, and the verification of a signal we
//! receive in answer to a message we sealed.
//!
//! A received receipt is accepted only when its signature verifies under the P-Mode's policy with the expected
//! receiver's certificate (the very certificate, chain-checked against the trust store), its RefToMessageId is the
//! message we sent, and its echoed references equal the ones we sent: same URIs, transforms, digest methods and
//! values, none missing, none extra. A signed Error signal from that receiver is returned as
//! [`VerifiedSignal::Error`]; an unsigned one is refused like any unsigned signal.

use crate::ebms::{
    error_signal, receipt_copy_signal, receipt_signal, EbmsError, Envelope, EnvelopeBuilder, ErrorCode,
    MessageIdGenerator, MessagePartNRInformation, Messaging, NonEmpty, NonRepudiationInformation, Receipt, Signal,
    SignalError,
};
use crate::mime::{read_message, MimeLimits};
use crate::pki::{KeyPair, TrustStore, VerifiedCertificate};
use crate::wss::message::{OpenError, OpenedMessage, SealedMessage, WssError};
use crate::wss::sign::{sign_envelope, SignError, SigningProfile};
use crate::wss::timestamp::DEFAULT_TIMESTAMP_TTL;
use crate::wss::verify::{verify_security_header, VerificationPolicy};
use openssl::x509::X509;
use time::OffsetDateTime;
use xmldsig::{C14nMode, DigestMethod, Reference, Transform};

/// The HTTP Content-Type of a signal (a bare SOAP 1.2 envelope: signals carry no attachments).
pub const SIGNAL_CONTENT_TYPE: &str = "application/soap+xml; charset=UTF-8";

/// A signed signal, ready to be sent. Signals are small, so the body is held in memory.
#[derive(Debug, Clone)]
pub struct SignedSignal {
    pub message_id: String,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// A signal that answered one of our messages, with a verified signature.
#[derive(Debug, Clone)]
pub enum VerifiedSignal {
    /// A receipt whose non-repudiation information matches what we sent.
    Receipt {
        message_id: String,
        ref_to_message_id: String,
        signer: VerifiedCertificate,
    },
    /// The peer's signed ebMS errors about our message.
    Error {
        message_id: String,
        ref_to_message_id: Option<String>,
        errors: Vec<SignalError>,
        signer: VerifiedCertificate,
    },
}

/// Message ids of our signals use the domain of the message they answer (when it has a usable one).
fn id_generator(ref_to: Option<&str>) -> MessageIdGenerator {
    ref_to
        .and_then(|id| id.rsplit_once('@'))
        .and_then(|(_, domain)| MessageIdGenerator::new(domain).ok())
        .unwrap_or_else(|| MessageIdGenerator::new("sdk-ap.invalid").expect("a valid domain"))
}

/// A `ds:Reference` as a receipt copies it.
pub fn to_receipt_reference(reference: &Reference) -> crate::ebms::Reference {
    crate::ebms::Reference {
        uri: Some(reference.uri.clone()),
        transforms: reference
            .transforms
            .iter()
            .map(|t| crate::ebms::Transform {
                algorithm: t.uri().to_string(),
                inclusive_namespaces: match t {
                    Transform::Canonicalize(C14nMode::Exclusive { inclusive_prefixes })
                        if !inclusive_prefixes.is_empty() =>
                    {
                        Some(inclusive_prefixes.clone())
                    }
                    _ => None,
                },
            })
            .collect(),
        digest_method: reference.digest_method.uri().to_string(),
        digest_value: reference.digest_value.clone(),
    }
}

fn sign_signal(messaging: Messaging, signer: &KeyPair, profile: &SigningProfile) -> Result<SignedSignal, WssError> {
    let message_id = messaging.signal_messages()[0]
        .message_info
        .message_id
        .as_str()
        .to_string();
    let builder = EnvelopeBuilder::new(messaging).map_err(|e| WssError::Model(e.to_string()))?;
    let signed = sign_envelope(&builder, &[], signer, profile, "", OffsetDateTime::now_utc())?;
    Ok(SignedSignal {
        message_id,
        content_type: SIGNAL_CONTENT_TYPE.to_string(),
        body: signed.xml.into_bytes(),
    })
}

/// A signed receipt for `opened`: with non-repudiation information echoing every received reference when the
/// P-Mode asks for it, else a copy of the UserMessage header.
pub fn build_receipt(opened: &OpenedMessage, signer: &KeyPair, pmode: &pmode::PMode) -> Result<SignedSignal, WssError> {
    let user = opened.user_message();
    let ids = id_generator(Some(user.message_info.message_id.as_str()));
    let signal = if pmode.security.send_receipt.non_repudiation {
        let parts = opened
            .received_references
            .iter()
            .map(|r| MessagePartNRInformation::Reference(to_receipt_reference(r)))
            .collect();
        let parts = NonEmpty::from_vec(parts).ok_or_else(|| WssError::Model("no references to echo".into()))?;
        receipt_signal(&ids, &user.message_info.message_id, NonRepudiationInformation { parts })
    } else {
        receipt_copy_signal(&ids, user)
    };
    sign_signal(Messaging::signal(signal), signer, &SigningProfile::from_pmode(pmode)?)
}

/// A signed Error signal reporting `error` (RefToMessageId `ref_to`), signed with rsa-sha256 or eddsa-ed25519
/// according to `signer`'s key.
pub fn build_error_signal(error: &EbmsError, ref_to: Option<&str>, signer: &KeyPair) -> Result<SignedSignal, WssError> {
    let ids = id_generator(ref_to);
    let ref_to = ref_to.and_then(|r| crate::ebms::MessageId::parse_lenient(r).ok());
    let signal = error_signal(&ids, ref_to.as_ref(), &NonEmpty::new(error.clone()));
    let profile = SigningProfile {
        signature_method: xmldsig::signature_method_for_key(&signer.key).map_err(SignError::from)?,
        digest_method: DigestMethod::Sha256,
        timestamp_ttl: DEFAULT_TIMESTAMP_TTL,
        inclusive_prefixes: Vec::new(),
    };
    sign_signal(Messaging::signal(signal), signer, &profile)
}

/// Verifies a signal received in answer to `sealed`: signed by `expected_receiver` (chain-checked with `trust`)
/// under `pmode`'s signature policy; a receipt must refer to `sealed` and echo exactly its references.
pub async fn verify_receipt(
    content_type: &str,
    body: &[u8],
    sealed: &SealedMessage,
    expected_receiver: &X509,
    trust: &TrustStore,
    pmode: &pmode::PMode,
) -> Result<VerifiedSignal, OpenError> {
    let sent_id = sealed.message_id.as_str();
    let fail = |code, detail: String| OpenError::new(code, detail, Some(sent_id));
    let spool_dir = sealed.body.spool_dir();
    let limits = MimeLimits::default();
    let mime = read_message(body, content_type, &limits, spool_dir)
        .await
        .map_err(|e| fail(ErrorCode::MimeInconsistency, e.to_string()))?;
    if !mime.attachments.is_empty() {
        return Err(fail(
            ErrorCode::InvalidReceipt,
            "a signal must not carry attachments".into(),
        ));
    }
    let envelope = Envelope::parse(&mime.root.content, &Default::default()).map_err(|e| OpenError {
        error: e.to_ebms_error().with_ref_to_message(sent_id),
        message_id: Some(sent_id.to_string()),
    })?;
    let mut policy = VerificationPolicy::from_pmode(pmode).map_err(|e| fail(e.ebms_code(), e.to_string()))?;
    // The receiver is identified by its exact certificate rather than by CN.
    policy.require_cn_match = false;
    let verified = verify_security_header(&envelope, &[], None, &policy, trust, OffsetDateTime::now_utc())
        .map_err(|e| fail(e.ebms_code(), e.to_string()))?;
    let same_certificate = verified.signer.certificate().to_der().ok() == expected_receiver.to_der().ok();
    if !same_certificate {
        return Err(fail(
            ErrorCode::FailedAuthentication,
            format!(
                "the signal is signed by {} instead of the receiver's certificate",
                verified.signer.info.subject
            ),
        ));
    }
    let signals = envelope.messaging().signal_messages();
    let [signal] = signals else {
        return Err(fail(
            ErrorCode::InvalidReceipt,
            format!("expected one signal, found {}", signals.len()),
        ));
    };
    let message_id = signal.message_info.message_id.as_str().to_string();
    let ref_to = signal
        .message_info
        .ref_to_message_id
        .as_ref()
        .map(|m| m.as_str().to_string());
    match &signal.signal {
        Signal::Receipt(receipt) => {
            if ref_to.as_deref() != Some(sent_id) {
                return Err(fail(
                    ErrorCode::InvalidReceipt,
                    format!("the receipt refers to {ref_to:?}, not to the message sent"),
                ));
            }
            match receipt {
                Receipt::NonRepudiation(nri) => check_echoed_references(nri, &sealed.sent_references)
                    .map_err(|d| fail(ErrorCode::InvalidReceipt, d))?,
                Receipt::UserMessageCopy(_) if pmode.security.send_receipt.non_repudiation => {
                    return Err(fail(
                        ErrorCode::InvalidReceipt,
                        "the P-Mode requires a non-repudiation receipt".into(),
                    ))
                }
                Receipt::UserMessageCopy(_) => {}
            }
            Ok(VerifiedSignal::Receipt {
                message_id,
                ref_to_message_id: sent_id.to_string(),
                signer: verified.signer,
            })
        }
        Signal::Errors(errors) => {
            if ref_to.as_deref().is_some_and(|r| r != sent_id) {
                return Err(fail(
                    ErrorCode::InvalidReceipt,
                    format!("the Error signal refers to {ref_to:?}, not to the message sent"),
                ));
            }
            Ok(VerifiedSignal::Error {
                message_id,
                ref_to_message_id: ref_to,
                errors: errors.iter().cloned().collect(),
                signer: verified.signer,
            })
        }
        Signal::PullRequest(_) => Err(fail(ErrorCode::InvalidReceipt, "a PullRequest is not an answer".into())),
    }
}

/// The echoed references must be exactly the sent ones (order aside).
fn check_echoed_references(nri: &NonRepudiationInformation, sent: &[Reference]) -> Result<(), String> {
    let mut expected: Vec<crate::ebms::Reference> = sent.iter().map(to_receipt_reference).collect();
    for part in nri.parts.iter() {
        let MessagePartNRInformation::Reference(echoed) = part else {
            return Err("a MessagePartIdentifier is not a verifiable reference".into());
        };
        let at = expected
            .iter()
            .position(|e| e == echoed)
            .ok_or_else(|| format!("echoed reference {:?} does not match any reference sent", echoed.uri))?;
        expected.swap_remove(at);
    }
    match expected.first() {
        None => Ok(()),
        Some(missing) => Err(format!("the receipt does not echo reference {:?}", missing.uri)),
    }
}

//! The one error type of the XML-DSig core.

use crate::dom::DomError;

/// Why a signature could not be produced or was refused. Each variant names what failed, so callers can map it to
/// their protocol's error (EBMS:0101/0102 for WS-Security, an SMP verification failure for discovery).
#[derive(Debug, thiserror::Error)]
pub enum DsigError {
    #[error("XML refused: {0}")]
    Xml(#[from] DomError),
    #[error("malformed XML signature: {0}")]
    Malformed(String),
    #[error("{kind} algorithm {uri} is not allowed by the policy")]
    DisallowedAlgorithm { kind: &'static str, uri: String },
    #[error("{kind} algorithm {uri} is not supported")]
    UnsupportedAlgorithm { kind: &'static str, uri: String },
    #[error("transform chain of reference {uri:?} is not supported: {reason}")]
    UnsupportedTransformChain { uri: String, reason: String },
    #[error("reference URI {0:?} is not supported (only \"\", \"#id\" and URIs handled by the resolver)")]
    UnsupportedReferenceUri(String),
    #[error("no element has the Id {0:?}")]
    ReferenceNotFound(String),
    #[error("the Id {0:?} appears more than once in the document")]
    DuplicateId(String),
    #[error("digest of reference {uri:?} does not match")]
    DigestMismatch { uri: String },
    #[error("the signature value does not verify over SignedInfo")]
    SignatureInvalid,
    #[error("signature method {method} cannot be used with a {key_type} key")]
    KeyMismatch { method: &'static str, key_type: String },
    #[error("the {bits}-bit RSA key is weaker than the policy's minimum of {min} bits")]
    WeakKey { bits: u32, min: u32 },
    #[error("policy limit exceeded: {limit} (at most {max})")]
    LimitExceeded { limit: &'static str, max: usize },
    #[error("enveloped signature: {0}")]
    Enveloped(String),
    #[error("the enveloped signature's reference has no enveloped-signature transform")]
    EnvelopedTransformMissing,
    #[error("KeyInfo carries no certificate whose key verifies the signature")]
    NoSigningCertificate,
    #[error("invalid base64 in {0}")]
    Base64(&'static str),
    #[error("cryptographic operation failed: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
}

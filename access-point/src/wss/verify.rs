//! Verification of a received `wsse:Security` signature under a strict policy taken from the P-Mode.
//!
//! Checked, in order: one `ds:Signature` in the header; Ids unique in the whole document; the P-Mode's algorithms
//! only (anything else, e.g. rsa-sha1, is EBMS:0103); the `wsu:Timestamp` (Expires not past, with clock skew);
//! the signer's certificate (BST, or issuer-serial / SKI resolved against a BST of the message) chains to the
//! configured anchors, is valid now, may sign, is not revoked, and (SDK) has CN = From PartyId; the signature value;
//! the digest of every same-document reference, each of which must select the very `eb:Messaging` or Body node
//! the ebMS parser read (signature-wrapping defence); coverage: Messaging, Body and every MIME attachment exactly
//! once, nothing else. Attachment digests are checked later, over the decrypted (still compressed) content, with
//! [`VerifiedHeader::check_attachment`].

use crate::ebms::{ns, ErrorCode, ParsedEnvelope};
use crate::pki::{Purpose, TrustError, TrustStore, VerifiedCertificate};
use crate::wss::algorithms::uri;
use crate::wss::timestamp::{check_timestamp, TimestampError, DEFAULT_CLOCK_SKEW};
use crate::wss::token::{resolve_signing_certificate, TokenError};
use crate::wss::xenc::decode_cid;
use std::collections::HashMap;
use time::{Duration, OffsetDateTime};
use xmldsig::{
    check_unique_ids, digest_reference, verify_signed_info, C14nAlgorithm, C14nMode, DigestMethod, DsigError,
    IdAttribute, Policy, Reference, ReferenceContext, Signature, SignatureMethod, Transform,
};

/// What a received signature must look like, from the P-Mode.
#[derive(Debug, Clone)]
pub struct VerificationPolicy {
    /// The one signature method accepted.
    pub signature_method: SignatureMethod,
    /// The one digest method accepted.
    pub digest_method: DigestMethod,
    pub signed_parts: pmode::SignedParts,
    /// Whether the signer's CN must equal the From PartyId (SDK profile).
    pub require_cn_match: bool,
    /// Clock difference tolerated for the timestamp.
    pub clock_skew: Duration,
    /// Whether a `wsu:Timestamp` must be present. Off by default: ebMS3/AS4 does not mandate one, strict peers
    /// (PyPI `as4`, Peppol profile) send none, and an unsigned timestamp proves nothing; replays are caught by
    /// MessageId duplicate detection. A timestamp that is present is always checked.
    pub require_timestamp: bool,
}

impl VerificationPolicy {
    /// The policy of `pmode` (which must require signing).
    pub fn from_pmode(pmode: &pmode::PMode) -> Result<VerificationPolicy, VerifyError> {
        let policy = pmode.security.signature.as_ref().ok_or(VerifyError::PModeUnsigned)?;
        let signature_method =
            SignatureMethod::from_uri(policy.algorithm.uri()).map_err(|_| VerifyError::PModeUnsigned)?;
        let digest_method = DigestMethod::from_uri(policy.hash.uri()).map_err(|_| VerifyError::PModeUnsigned)?;
        Ok(VerificationPolicy {
            signature_method,
            digest_method,
            signed_parts: policy.parts.clone(),
            require_cn_match: pmode.profile == pmode::Profile::Sdk,
            clock_skew: DEFAULT_CLOCK_SKEW,
            require_timestamp: false,
        })
    }

    fn dsig_policy(&self) -> Policy {
        Policy {
            signature_methods: vec![self.signature_method],
            digest_methods: vec![self.digest_method],
            canonicalization_methods: vec![C14nAlgorithm::Exclusive],
            max_references: 2 + crate::mime::MimeLimits::default().max_parts,
            ..Policy::default()
        }
    }
}

/// Why a received signature is refused; [`VerifyError::ebms_code`] names the ebMS error to answer with.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    // --- EBMS:0103 PolicyNoncompliance: not secured as the P-Mode requires ---
    #[error("the P-Mode does not define a usable signature policy")]
    PModeUnsigned,
    #[error("the message has no WS-Security header")]
    NoSecurityHeader,
    #[error("the security header holds {0} ds:Signature elements (exactly one is required)")]
    SignatureCount(usize),
    #[error("algorithm not allowed by the P-Mode: {0}")]
    AlgorithmNotAllowed(String),
    #[error("reference {uri}: transforms not allowed ({detail})")]
    TransformNotAllowed { uri: String, detail: String },
    #[error("{0} is not covered by the signature")]
    NotCovered(String),
    #[error("the signature covers {0} more than once")]
    CoveredTwice(String),
    #[error("the signature covers {0}, which is not a part of an AS4 message")]
    UnexpectedReference(String),
    #[error("timestamp: {0}")]
    Timestamp(TimestampError),

    // --- EBMS:0101 FailedAuthentication: the signature or the signer is not authentic ---
    #[error("signing certificate: {0}")]
    Token(#[from] TokenError),
    #[error("signing certificate refused: {0}")]
    Certificate(#[from] TrustError),
    #[error("signature-wrapping: reference {0} selects another element than the one the message is read from")]
    Wrapped(String),
    #[error("XML signature: {0}")]
    Dsig(DsigError),
    #[error("attachment {0}: digest mismatch")]
    AttachmentDigestMismatch(String),
}

impl From<DsigError> for VerifyError {
    fn from(e: DsigError) -> Self {
        match e {
            DsigError::DisallowedAlgorithm { .. }
            | DsigError::UnsupportedAlgorithm { .. }
            | DsigError::WeakKey { .. } => VerifyError::AlgorithmNotAllowed(e.to_string()),
            other => VerifyError::Dsig(other),
        }
    }
}

impl VerifyError {
    /// The ebMS error this failure is reported as.
    pub fn ebms_code(&self) -> ErrorCode {
        use VerifyError::*;
        match self {
            PModeUnsigned
            | NoSecurityHeader
            | SignatureCount(_)
            | AlgorithmNotAllowed(_)
            | TransformNotAllowed { .. }
            | NotCovered(_)
            | CoveredTwice(_)
            | UnexpectedReference(_)
            | Timestamp(TimestampError::Missing | TimestampError::Duplicate) => ErrorCode::PolicyNoncompliance,
            Timestamp(_) | Token(_) | Certificate(_) | Wrapped(_) | Dsig(_) | AttachmentDigestMismatch(_) => {
                ErrorCode::FailedAuthentication
            }
        }
    }
}

/// A signature that verified, with its attachment references still to be checked against the content.
#[derive(Debug, Clone)]
pub struct VerifiedHeader {
    pub signer: VerifiedCertificate,
    /// Every `ds:Reference`, in SignedInfo order (the non-repudiation information a receipt echoes).
    pub references: Vec<Reference>,
    /// Content-ID (decoded) → the digest the signature claims for it.
    pub attachment_digests: HashMap<String, Vec<u8>>,
}

impl VerifiedHeader {
    /// Checks the SHA-256 of attachment `content_id`'s (decrypted, still compressed) content.
    pub fn check_attachment(&self, content_id: &str, sha256: &[u8; 32]) -> Result<(), VerifyError> {
        let claimed = self
            .attachment_digests
            .get(content_id)
            .ok_or_else(|| VerifyError::NotCovered(format!("attachment {content_id}")))?;
        if openssl::memcmp::eq(claimed, sha256) {
            Ok(())
        } else {
            Err(VerifyError::AttachmentDigestMismatch(content_id.to_string()))
        }
    }
}

/// Verifies the signature of `envelope`, whose MIME attachments have `attachment_content_ids`, from sender
/// `from_party_id`, at `now`.
pub fn verify_security_header(
    envelope: &ParsedEnvelope,
    attachment_content_ids: &[&str],
    from_party_id: Option<&str>,
    policy: &VerificationPolicy,
    trust: &TrustStore,
    now: OffsetDateTime,
) -> Result<VerifiedHeader, VerifyError> {
    let doc = envelope.document();
    let security = envelope.security_node().ok_or(VerifyError::NoSecurityHeader)?;
    check_unique_ids(doc, &IdAttribute::common())?;
    let signatures: Vec<_> = doc.children_named(security, ns::DS, "Signature").collect();
    if signatures.len() != 1 {
        return Err(VerifyError::SignatureCount(signatures.len()));
    }
    let signature = Signature::parse(doc, signatures[0])?;
    let signed_info = &signature.signed_info;
    let dsig_policy = policy.dsig_policy();
    dsig_policy.check_signed_info(signed_info)?;
    let timestamp = match check_timestamp(doc, security, now, policy.clock_skew) {
        Ok(node) => Some(node),
        Err(TimestampError::Missing) if !policy.require_timestamp => None,
        Err(e) => return Err(VerifyError::Timestamp(e)),
    };

    let certificate = resolve_signing_certificate(doc, security, signature.key_info_node)?;
    let signer = match (policy.require_cn_match, from_party_id) {
        (true, Some(cn)) => trust.verify_expecting_cn(&certificate, &[], Purpose::MessageSigning, now, cn)?,
        (true, None) => {
            return Err(VerifyError::Certificate(TrustError::CnMismatch {
                expected: String::new(),
                found: None,
            }))
        }
        (false, _) => trust.verify(&certificate, &[], Purpose::MessageSigning, now)?,
    };
    verify_signed_info(
        doc,
        &signature,
        &certificate.public_key().map_err(DsigError::from)?,
        &dsig_policy,
    )?;

    let id_attributes = [IdAttribute::wsu_id()];
    let ctx = ReferenceContext {
        id_attributes: &id_attributes,
        resolver: None,
        signature: Some(signature.node),
    };
    let (mut messaging, mut body) = (false, false);
    let mut attachment_digests = HashMap::new();
    for reference in &signed_info.references {
        if reference.uri.starts_with('#') {
            // WSS4J (Domibus) adds an InclusiveNamespaces PrefixList; it only widens what is digested, so any is fine.
            if !matches!(
                reference.transforms.as_slice(),
                [Transform::Canonicalize(C14nMode::Exclusive { .. })]
            ) {
                return Err(VerifyError::TransformNotAllowed {
                    uri: reference.uri.clone(),
                    detail: "same-document references take exactly one transform: exc-c14n".into(),
                });
            }
            let (digest, node) = digest_reference(doc, reference, &ctx)?;
            if !openssl::memcmp::eq(&digest, &reference.digest_value) || digest.len() != reference.digest_value.len() {
                return Err(DsigError::DigestMismatch {
                    uri: reference.uri.clone(),
                }
                .into());
            }
            let seen = match node {
                Some(n) if n == envelope.messaging_node() => &mut messaging,
                Some(n) if n == envelope.body_node() => &mut body,
                Some(n) if Some(n) == timestamp => continue,
                _ => {
                    // An element named like Messaging or Body but not the one read is a wrapping attempt.
                    let wrapped = node.is_some_and(|n| {
                        doc.is(n, ns::EB, "Messaging") || doc.is(n, ns::SOAP12, "Body") || doc.is(n, ns::SOAP11, "Body")
                    });
                    return Err(if wrapped {
                        VerifyError::Wrapped(reference.uri.clone())
                    } else {
                        VerifyError::UnexpectedReference(reference.uri.clone())
                    });
                }
            };
            if std::mem::replace(seen, true) {
                return Err(VerifyError::CoveredTwice(reference.uri.clone()));
            }
        } else if let Some(cid) = reference.uri.strip_prefix("cid:") {
            if reference.transforms != [Transform::Other(uri::ATTACHMENT_CONTENT_SIGNATURE_TRANSFORM.into())] {
                return Err(VerifyError::TransformNotAllowed {
                    uri: reference.uri.clone(),
                    detail: "attachments take exactly the Attachment-Content-Signature-Transform".into(),
                });
            }
            if reference.digest_method != DigestMethod::Sha256 {
                return Err(VerifyError::AlgorithmNotAllowed(reference.digest_method.uri().into()));
            }
            let content_id = decode_cid(cid).map_err(|_| VerifyError::UnexpectedReference(reference.uri.clone()))?;
            if !attachment_content_ids.contains(&content_id.as_str()) {
                return Err(VerifyError::UnexpectedReference(reference.uri.clone()));
            }
            if attachment_digests
                .insert(content_id, reference.digest_value.clone())
                .is_some()
            {
                return Err(VerifyError::CoveredTwice(reference.uri.clone()));
            }
        } else {
            return Err(VerifyError::UnexpectedReference(reference.uri.clone()));
        }
    }
    if policy.signed_parts.ebms_header && !messaging {
        return Err(VerifyError::NotCovered("eb:Messaging".into()));
    }
    if policy.signed_parts.body && !body {
        return Err(VerifyError::NotCovered("the SOAP Body".into()));
    }
    for cid in attachment_content_ids {
        if !attachment_digests.contains_key(*cid) {
            return Err(VerifyError::NotCovered(format!("attachment {cid}")));
        }
    }
    Ok(VerifiedHeader {
        signer,
        references: signed_info.references.clone(),
        attachment_digests,
    })
}

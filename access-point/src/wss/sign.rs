//! Signing an AS4 envelope (WS-Security 1.1.1, SwA Profile 1.1, eDelivery AS4 1.15 and 2.0).
//!
//! The `wsse:Security` header (mustUnderstand) holds, in this order: a `wsu:Timestamp`, the encryption elements
//! (receiver token, `xenc:EncryptedKey`, one `xenc:EncryptedData` per attachment; processed first by the receiver,
//! which must decrypt before it can digest the attachments), the signer's `wsse:BinarySecurityToken`, and the
//! `ds:Signature`. SignedInfo is canonicalised with exc-c14n; its references cover `eb:Messaging` and the SOAP Body
//! (by `wsu:Id`, exc-c14n) and every attachment (`cid:`, Attachment-Content-Signature-Transform, digest of the
//! compressed plaintext computed while it streamed). KeyInfo is a SecurityTokenReference to the token.

use crate::ebms::{ns, EnvelopeBuilder};
use crate::pki::KeyPair;
use crate::wss::algorithms::uri;
use crate::wss::timestamp::{render_timestamp, DEFAULT_TIMESTAMP_TTL};
use crate::wss::token::{render_key_info_reference, render_signer_token};
use crate::wss::xenc::encode_cid;
use time::{Duration, OffsetDateTime};
use xmldsig::dom::Document;
use xmldsig::{
    build_reference, sign_signed_info_detached, signature_xml, C14nMode, DigestMethod, DsigError, IdAttribute,
    Reference, ReferenceContext, SignatureMethod, SignedInfo, Transform,
};

/// The signing algorithms of one P-Mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningProfile {
    pub signature_method: SignatureMethod,
    pub digest_method: DigestMethod,
    /// Expires − Created of the `wsu:Timestamp`.
    pub timestamp_ttl: Duration,
    /// InclusiveNamespaces PrefixList of the exc-c14n reference transforms (empty: none). WSS4J-based peers
    /// (Domibus) write one, e.g. `["env"]`; both forms verify everywhere.
    pub inclusive_prefixes: Vec<String>,
}

/// Why a message could not be signed (a local problem: configuration, keys, or the message itself).
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the P-Mode does not require signing; unsigned AS4 messages are not produced")]
    NotSigned,
    #[error("the P-Mode's {0} is not one this access point signs with")]
    UnsupportedAlgorithm(String),
    #[error("the signing key does not fit {method}: {detail}")]
    KeyMismatch { method: String, detail: String },
    #[error("XML signature: {0}")]
    Dsig(#[from] DsigError),
    #[error("cryptographic library: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
}

impl SigningProfile {
    /// The profile of `pmode`'s signature policy (rsa-sha256 or eddsa-ed25519, sha256, exc-c14n).
    pub fn from_pmode(pmode: &pmode::PMode) -> Result<SigningProfile, SignError> {
        let policy = pmode.security.signature.as_ref().ok_or(SignError::NotSigned)?;
        let signature_method = match policy.algorithm {
            pmode::algorithms::SignatureAlgorithm::RsaSha256 => SignatureMethod::RsaSha256,
            pmode::algorithms::SignatureAlgorithm::EddsaEd25519 => SignatureMethod::Ed25519,
            other => return Err(SignError::UnsupportedAlgorithm(format!("signature algorithm {other}"))),
        };
        let digest_method = match policy.hash {
            pmode::algorithms::DigestAlgorithm::Sha256 => DigestMethod::Sha256,
            other => return Err(SignError::UnsupportedAlgorithm(format!("digest algorithm {other}"))),
        };
        Ok(SigningProfile {
            signature_method,
            digest_method,
            timestamp_ttl: DEFAULT_TIMESTAMP_TTL,
            inclusive_prefixes: Vec::new(),
        })
    }
}

/// An attachment as the signature covers it: its Content-ID and the SHA-256 of the octets the receiver will
/// digest (the compressed plaintext).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentDigest {
    pub content_id: String,
    pub sha256: [u8; 32],
}

/// A signed envelope and the references its signature holds (what a receipt must echo).
#[derive(Debug, Clone)]
pub struct SignedEnvelope {
    pub xml: String,
    pub references: Vec<Reference>,
}

/// The `ds:Reference` of an attachment.
pub fn attachment_reference(content_id: &str, sha256: &[u8]) -> Reference {
    Reference {
        uri: format!("cid:{}", encode_cid(content_id)),
        transforms: vec![Transform::Other(
            uri::ATTACHMENT_CONTENT_SIGNATURE_TRANSFORM.to_string(),
        )],
        digest_method: DigestMethod::Sha256,
        digest_value: sha256.to_vec(),
    }
}

/// Signs the envelope `builder` renders, with the encryption elements `encryption_xml` (from
/// [`crate::wss::encrypt::MessageEncryptor::security_header_xml`], or empty) placed in the same header.
pub fn sign_envelope(
    builder: &EnvelopeBuilder,
    attachments: &[AttachmentDigest],
    signer: &KeyPair,
    profile: &SigningProfile,
    encryption_xml: &str,
    now: OffsetDateTime,
) -> Result<SignedEnvelope, SignError> {
    let key_method = xmldsig::signature_method_for_key(&signer.key).map_err(|e| SignError::KeyMismatch {
        method: profile.signature_method.uri().to_string(),
        detail: e.to_string(),
    })?;
    if key_method != profile.signature_method {
        return Err(SignError::KeyMismatch {
            method: profile.signature_method.uri().to_string(),
            detail: format!("the key signs with {}", key_method.uri()),
        });
    }
    if profile.digest_method != DigestMethod::Sha256 && !attachments.is_empty() {
        return Err(SignError::UnsupportedAlgorithm(format!(
            "attachment digest {}",
            profile.digest_method.uri()
        )));
    }
    // Exclusive c14n renders only the namespaces an element visibly uses, all declared on the Envelope in both
    // the unsigned and the final document, so the digests computed here hold in the signed envelope.
    let unsigned = builder.render(None);
    let doc = Document::parse_str(&unsigned).map_err(DsigError::from)?;
    let id_attributes = [IdAttribute::wsu_id()];
    let ctx = ReferenceContext {
        id_attributes: &id_attributes,
        resolver: None,
        signature: None,
    };
    let exc = || {
        vec![Transform::Canonicalize(C14nMode::Exclusive {
            inclusive_prefixes: profile.inclusive_prefixes.clone(),
        })]
    };
    let mut references = Vec::with_capacity(2 + attachments.len());
    for id in [builder.messaging_wsu_id().as_str(), builder.body_wsu_id().as_str()] {
        let (reference, _) = build_reference(&doc, &format!("#{id}"), exc(), profile.digest_method, &ctx)?;
        references.push(reference);
    }
    references.extend(
        attachments
            .iter()
            .map(|a| attachment_reference(&a.content_id, &a.sha256)),
    );
    let signed_info = SignedInfo {
        canonicalization: C14nMode::exclusive(),
        signature_method: profile.signature_method,
        references,
    };
    let value = sign_signed_info_detached(&signed_info, "ds", &[], &signer.key)?;
    let token_id = format!("X509-{}", uuid::Uuid::new_v4());
    let signature = signature_xml(&signed_info, &value, Some(&render_key_info_reference(&token_id)), "ds");
    let security = format!(
        r#"<wsse:Security xmlns:wsse="{wsse}" xmlns:env="{soap}" env:mustUnderstand="true">{ts}{enc}{bst}{signature}</wsse:Security>"#,
        wsse = ns::WSSE,
        soap = ns::SOAP12,
        ts = render_timestamp(&format!("TS-{}", uuid::Uuid::new_v4()), now, profile.timestamp_ttl),
        enc = encryption_xml,
        bst = render_signer_token(&token_id, &signer.certificate)?,
    );
    Ok(SignedEnvelope {
        xml: builder.render(Some(&security)),
        references: signed_info.references,
    })
}

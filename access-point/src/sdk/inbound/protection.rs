//! End-to-end protection on receipt (Kuverteringsprofil XHE §3.2, §3.4, §3.5): an enveloped XHE signature is
//! verified, its signer's certificate checked against `[sdk] e2e_anchors` (§3.5 \[a\]) and against the certificates
//! registered for the envelope's sending organisation ([`crate::sdk::signer_identity`], §3.5 \[b\]), before anything
//! else reads the envelope; an encrypted payload is then decrypted with this organisation's end-to-end key
//! (`[sdk] e2e_key`).
//!
//! The stored payload is never changed (it is the evidence of what arrived). A decrypted envelope is written next
//! to it as the derived file [`OPENED_XHE_FILE`], and the inbox reads that file ([`inbox_xhe_path`]) for the
//! document and the attachments; it goes with the message's folder when the message is purged.

use std::io::Write;
use std::path::{Path, PathBuf};

use openssl::x509::X509;
use time::OffsetDateTime;
use xmldsig::dom::ParseLimits;
use xmldsig::policy::Policy;

use super::classify::{envelope_limits, xhe_part, Envelope};
use super::scan::scan_envelope;
use crate::msh::node::NodeShared;
use crate::pki::{Purpose, TrustStore};
use crate::sdk::kvittens::{ReasonCode, RejectionReason, NO_LOCATION};
use crate::sdk::signer_identity::{check_signer, RegisteredSigners, SignerLookupError};
use crate::sdk::xhe::DSIG_NS;
use crate::sdk::xhe_encryption::{open, XheEncryptionError};
use crate::sdk::xhe_signature::{subject, verify_trusted_and_parse};
use crate::sdk::xml;
use crate::store::{MessageRecord, PayloadFiles, StoreError};

/// The decrypted envelope of a message, in the message's payload folder.
pub const OPENED_XHE_FILE: &str = "xhe-opened.xml";

/// What the protection check decided.
pub(crate) enum Protection {
    /// No enveloped signature: classified exactly as before.
    Unprotected,
    /// Signed, and the AP does not verify XHE signatures (`[sdk] e2e_anchors` empty): the message system does.
    NotVerified,
    /// Signature verified (and the payload decrypted when `opened`); `envelope` is what the inbox reads.
    Verified { envelope: Box<Envelope>, note: String },
    /// Refused: answered with a kvittens REJECTED (SIG), nothing in the inbox.
    Refused(RejectionReason),
}

/// Why the check could not run (the message stays unclassified and is retried).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProtectionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("end-to-end settings: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("writing the decrypted envelope: {0}")]
    Io(#[from] std::io::Error),
    #[error("the sender's signing certificate could not be looked up: {0}")]
    SignerLookup(String),
}

/// Whether the envelope skeleton has a `ds:Signature` as a child of `x:XHE` (the enveloped signature).
fn is_signed(envelope: &Envelope, limits: &ParseLimits) -> bool {
    xml::parse_document(&envelope.skeleton.xml, limits)
        .ok()
        .is_some_and(|doc| xml::child(&doc, doc.root(), DSIG_NS, "Signature").is_some())
}

fn refused(text: impl Into<String>) -> Protection {
    Protection::Refused(RejectionReason {
        location: NO_LOCATION.into(),
        code: ReasonCode::SignatureError,
        detail_code: None,
        text: text.into(),
    })
}

/// Verifies (and opens) a received envelope; see the module documentation. On the `last_try` of a message whose
/// sender's signing certificate could not be looked up, an unreachable SML/SMP refuses it instead of leaving it
/// unclassified.
pub(crate) async fn check(
    shared: &NodeShared,
    record: &MessageRecord,
    envelope: &Envelope,
    last_try: bool,
) -> Result<Protection, ProtectionError> {
    let limits = envelope_limits(shared);
    if !is_signed(envelope, &limits) {
        return Ok(Protection::Unprotected);
    }
    let config = &shared.config;
    let Some(trust) = shared.e2e_trust.clone() else {
        return Ok(Protection::NotVerified);
    };
    let part = xhe_part(record).ok_or(StoreError::InvalidRecord("no payload".into()))?;
    let max = config.sdk.e2e_max_envelope_bytes;
    if part.size > max {
        return Ok(refused(format!(
            "the signed XHE is {} bytes; this access point verifies signed envelopes of at most {max} bytes",
            part.size
        )));
    }
    // The sender named by the envelope (not yet verified): its registered certificates are looked up first, and
    // once the signature verified, the verified envelope must name the same sender.
    let lookup = shared
        .signers
        .registered_signers(&envelope.xhe.from.id, &envelope.xhe.scope.ebms_action())
        .await;
    let registered = match lookup {
        Ok(registered) => registered,
        Err(SignerLookupError::NotRegistered(text)) => return Ok(refused(text)),
        Err(SignerLookupError::Unavailable(text)) if last_try => {
            return Ok(refused(format!(
                "the sending organisation's signing certificate could not be looked up after {} retries: {text}",
                config.sdk.signer_lookup_retry_attempts
            )))
        }
        Err(SignerLookupError::Unavailable(text)) => return Err(ProtectionError::SignerLookup(text)),
    };
    let path = shared.store.payload_files().path_of(record.key, part)?;
    let key_pair = if envelope.xhe.payload.is_encrypted() {
        shared.e2e_key.clone()
    } else {
        None
    };
    let xml_limits = ParseLimits {
        max_bytes: usize::try_from(max).unwrap_or(usize::MAX),
        ..limits
    };
    let outcome =
        tokio::task::spawn_blocking(move || verify_and_open(&path, &trust, &registered, &xml_limits, key_pair))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
    let (opened, note) = match outcome {
        Verified::Refused(text) => return Ok(refused(text)),
        Verified::Clear { signer } => (None, format!("XHE signature verified, signed by {signer}")),
        Verified::StillEncrypted { signer } => (
            None,
            format!("XHE signature verified, signed by {signer}; payload left encrypted (no [sdk] e2e_key)"),
        ),
        Verified::Opened { signer, xml } => (
            Some(xml),
            format!("XHE signature verified, signed by {signer}; payload decrypted"),
        ),
    };
    let envelope = match opened {
        None => Envelope {
            xhe: envelope.xhe.clone(),
            skeleton: envelope.skeleton.clone(),
        },
        Some(xml) => {
            let files = shared.store.payload_files().clone();
            let key = record.key;
            let max_envelope = shared.config.sdk.max_envelope_bytes;
            let skeleton = tokio::task::spawn_blocking(move || -> Result<_, std::io::Error> {
                let path = write_durably(&files.message_dir(key), &xml)?;
                let file = std::fs::File::open(path)?;
                Ok(scan_envelope(std::io::BufReader::new(file), max_envelope))
            })
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
            let skeleton = match skeleton {
                Ok(s) => s,
                Err(e) => {
                    return Ok(refused(format!(
                        "the decrypted payload is not a readable envelope: {e}"
                    )))
                }
            };
            match crate::sdk::xhe::Xhe::parse(&skeleton.xml, &limits) {
                Ok(xhe) => Envelope { xhe, skeleton },
                Err(e) => return Ok(refused(format!("the decrypted envelope is invalid: {e}"))),
            }
        }
    };
    Ok(Protection::Verified {
        envelope: Box::new(envelope),
        note,
    })
}

enum Verified {
    Refused(String),
    Clear { signer: String },
    StillEncrypted { signer: String },
    Opened { signer: String, xml: Vec<u8> },
}

/// Reads the whole stored envelope, verifies its signature, the signer's chain and that the signer is registered
/// for the envelope's sender, then decrypts.
fn verify_and_open(
    path: &Path,
    trust: &TrustStore,
    registered: &RegisteredSigners,
    limits: &ParseLimits,
    key_pair: Option<crate::pki::keys::KeyPair>,
) -> Result<Verified, ProtectionError> {
    let bytes = std::fs::read(path)?;
    let judge = |cert: &X509| {
        trust
            .verify(cert, &[], Purpose::MessageSigning, OffsetDateTime::now_utc())
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let (xhe, signer) = match verify_trusted_and_parse(&bytes, &Policy::default(), limits, judge) {
        Ok(verified) => verified,
        Err(e) => return Ok(Verified::Refused(e.to_string())),
    };
    if let Err(text) = check_signer(&signer, &xhe.from.id, registered) {
        return Ok(Verified::Refused(text));
    }
    let signer = subject(&signer);
    if !xhe.payload.is_encrypted() {
        return Ok(Verified::Clear { signer });
    }
    let Some(key_pair) = key_pair else {
        return Ok(Verified::StillEncrypted { signer });
    };
    // Every decryption failure reads the same (DIGG §3.4.1: no padding oracle).
    let opened = match open(&xhe, &key_pair.key) {
        Ok(opened) => opened,
        Err(XheEncryptionError::UnsupportedAlgorithm(alg)) => {
            return Ok(Verified::Refused(format!(
                "the payload is encrypted with {alg:?}, not DIGG's algorithms"
            )))
        }
        Err(_) => return Ok(Verified::Refused("the encrypted payload could not be decrypted".into())),
    };
    match opened.render() {
        Ok(xml) => Ok(Verified::Opened {
            signer,
            xml: xml.into_bytes(),
        }),
        Err(e) => Ok(Verified::Refused(format!("the decrypted envelope is invalid: {e}"))),
    }
}

/// Writes `bytes` as [`OPENED_XHE_FILE`] in `dir`: a temporary file, fsynced, renamed, the folder fsynced.
fn write_durably(dir: &Path, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let target = dir.join(OPENED_XHE_FILE);
    let temp = dir.join(format!(".tmp-{OPENED_XHE_FILE}"));
    let mut file = std::fs::File::create(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temp, &target)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(target)
}

/// The envelope the inbox serves for a message: the decrypted one when there is one, else the stored payload.
pub fn inbox_xhe_path(files: &PayloadFiles, record: &MessageRecord) -> Result<Option<PathBuf>, StoreError> {
    let opened = files.message_dir(record.key).join(OPENED_XHE_FILE);
    if opened.is_file() {
        return Ok(Some(opened));
    }
    xhe_part(record).map(|part| files.path_of(record.key, part)).transpose()
}

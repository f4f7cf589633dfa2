//! The message-level API the MSH and the CLI use (see /work/WSS_CONTRACT.md): [`seal`] a UserMessage with its
//! payloads into a signed and encrypted SOAP-with-attachments body spooled to disk, and [`open`] a received one.
//!
//! Send order is compress → sign → encrypt: each payload is gzipped into a spool file (when asked), and the SHA-256
//! of its (compressed) plaintext goes into the signature's attachment reference; a small payload is hashed while it
//! is encrypted in memory, a large one in a read-only pass and then encrypted straight into the MIME body after the
//! signed envelope. Receive order is the reverse: verify the header signature and the signer,
//! decrypt each part (its GCM tag verified before the plaintext is released), compare the plaintext digest with
//! the signed one, then decompress with a cap. A sender that signed before compressing fails the digest check
//! (EBMS:0101); one that compressed after encrypting fails decryption (EBMS:0102). Every failure is an
//! [`OpenError`] carrying the ebMS error to answer with; all spool files are removed when it is returned.

use crate::compression::{gzip_compress_file, gzip_decompress, DecompressError};
use crate::ebms::{
    part_property, EbmsError, Envelope, EnvelopeBuilder, ErrorCode, Messaging, ParseLimits, ParsedEnvelope, PartInfo,
    PartRef, Property, UserMessage, WsuId,
};
use crate::mime::{read_message_with, AttachmentSource, MimeLimits, MultipartWriter, OutgoingAttachment, PartDigests};
use crate::pki::{KeyPair, NodeIdentity, TrustStore, VerifiedCertificate};
use crate::wss::decrypt::{DecryptionPolicy, MessageDecryptor, RecipientKey};
use crate::wss::encrypt::{EncryptionProfile, MessageEncryptor, ENCRYPTED_PART_CONTENT_TYPE};
use crate::wss::error::EncryptionError;
use crate::wss::sign::{sign_envelope, AttachmentDigest, SignError, SigningProfile};
pub use crate::wss::spool_file::SpoolFile;
use crate::wss::verify::{verify_security_header, VerificationPolicy};
use crate::wss::xenc::{parse_encryption_header, KeyReferenceStyle};
use openssl::hash::{Hasher, MessageDigest};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use tempfile::NamedTempFile;
use time::{Duration, OffsetDateTime};
use tokio::io::{AsyncRead, AsyncWrite};

pub use crate::wss::receipt::{build_error_signal, build_receipt, verify_receipt, SignedSignal, VerifiedSignal};

/// The `CompressionType` AS4 defines.
pub const GZIP: &str = "application/gzip";

/// Payloads up to this size are compressed, encrypted and written in memory with plain file calls: for them a hop
/// to tokio's blocking pool per file operation costs more than all the cryptography of the part. Larger payloads
/// stream through spool files.
pub const SMALL_PAYLOAD_IN_MEMORY_BYTES: u64 = 256 * 1024;

/// One payload to send.
#[derive(Debug, Clone)]
pub struct OutgoingPayload {
    /// Without `cid:` and without `<>`.
    pub content_id: String,
    /// PartProperties MimeType (from the producer).
    pub mime_type: String,
    pub character_set: Option<String>,
    /// gzip + CompressionType=application/gzip.
    pub compress: bool,
    /// The plaintext, on disk.
    pub source: PathBuf,
    pub extra_part_properties: Vec<(String, String)>,
}

/// What [`seal`] needs besides the message.
pub struct SealParams<'a> {
    /// Algorithms and parts come from its Security section.
    pub pmode: &'a pmode::PMode,
    /// Our message key (RSA 3072, or Ed25519 for AS4 2.0).
    pub signer: &'a KeyPair,
    /// `None`: no encryption (only if the P-Mode has no encryption policy).
    pub receiver_encryption_cert: Option<&'a openssl::x509::X509>,
    /// Temp files (compressed and encrypted parts, the MIME body).
    pub spool_dir: &'a Path,
}

/// A sealed message, ready to be POSTed.
#[derive(Debug)]
pub struct SealedMessage {
    pub message_id: String,
    /// The HTTP Content-Type (`multipart/related; ...`).
    pub content_type: String,
    /// The whole MIME body: streamed to a spool file, or (when every part was sealed in memory) held in memory and
    /// written to a spool file only if a caller asks for its path.
    pub body: SpoolFile,
    pub body_len: u64,
    /// The same body in memory when every part was small enough to be sealed in memory (POST it from here instead
    /// of reading the file back through the blocking pool).
    pub body_in_memory: Option<bytes::Bytes>,
    /// What the receipt must echo.
    pub sent_references: Vec<xmldsig::Reference>,
    pub signing_certificate: openssl::x509::X509,
}

/// Why a message could not be sealed (a local problem, never the peer's).
#[derive(Debug, thiserror::Error)]
pub enum WssError {
    #[error("signing: {0}")]
    Sign(#[from] SignError),
    #[error("encryption: {0}")]
    Encryption(#[from] EncryptionError),
    #[error("the message does not fit the P-Mode: {0}")]
    Policy(String),
    #[error("invalid message: {0}")]
    Model(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("cryptographic library: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
}

/// Size caps and clock tolerance of [`open`]; every one a named node setting.
#[derive(Debug, Clone)]
pub struct OpenLimits {
    pub mime: MimeLimits,
    pub xml: ParseLimits,
    /// Largest decompressed payload (each), in bytes.
    pub max_decompressed_bytes: u64,
    /// Clock difference tolerated for the `wsu:Timestamp`.
    pub clock_skew: Duration,
    /// How received MessageId / RefToMessageId values are checked (`[server] received_message_ids`).
    pub message_id_policy: crate::ebms::MessageIdPolicy,
}

impl Default for OpenLimits {
    fn default() -> Self {
        OpenLimits {
            mime: MimeLimits::default(),
            xml: ParseLimits::default(),
            max_decompressed_bytes: crate::compression::DEFAULT_MAX_DECOMPRESSED_BYTES,
            clock_skew: crate::wss::timestamp::DEFAULT_CLOCK_SKEW,
            message_id_policy: crate::ebms::MessageIdPolicy::default(),
        }
    }
}

/// What [`open`] needs besides the message.
pub struct OpenParams<'a> {
    /// Decryption keys (RSA, X25519).
    pub our_keys: &'a NodeIdentity,
    pub message_trust: &'a TrustStore,
    pub limits: &'a OpenLimits,
    pub spool_dir: &'a Path,
}

/// A verified, decrypted, decompressed message.
#[derive(Debug)]
pub struct OpenedMessage {
    /// The DOM and the Messaging that was verified.
    pub envelope: ParsedEnvelope,
    /// The chain-checked signing certificate.
    pub signer: VerifiedCertificate,
    pub signer_common_name: String,
    /// Plaintext, decompressed, spooled; in PartInfo order.
    pub payloads: Vec<OpenedPayload>,
    /// Every `ds:Reference` of the signature, for the non-repudiation receipt.
    pub received_references: Vec<xmldsig::Reference>,
    /// The P-Mode the caller chose.
    pub pmode: pmode::PMode,
}

impl OpenedMessage {
    /// The UserMessage that was verified.
    pub fn user_message(&self) -> &UserMessage {
        self.envelope
            .messaging()
            .user_message()
            .expect("open accepts only UserMessages")
    }
}

/// One delivered payload.
#[derive(Debug)]
pub struct OpenedPayload {
    pub content_id: String,
    pub mime_type: String,
    pub part_properties: Vec<(String, String)>,
    /// The delivered bytes: a spool file, or for a small payload the bytes in memory, spooled only on request.
    pub file: SpoolFile,
    pub size: u64,
    /// SHA-256 of the delivered (decompressed) bytes.
    pub sha256: [u8; 32],
}

/// A refused message: the ebMS error to answer with, and the MessageId when it could be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{error}")]
pub struct OpenError {
    pub error: EbmsError,
    pub message_id: Option<String>,
}

impl OpenError {
    pub fn new(code: ErrorCode, detail: impl Into<String>, message_id: Option<&str>) -> OpenError {
        let mut error = EbmsError::new(code, detail);
        if let Some(id) = message_id {
            error = error.with_ref_to_message(id);
        }
        OpenError {
            error,
            message_id: message_id.map(str::to_string),
        }
    }

    pub fn code(&self) -> ErrorCode {
        self.error.code
    }
}

/// The encryption profile a P-Mode asks for.
fn encryption_profile(pmode: &pmode::PMode, policy: &pmode::EncryptionPolicy) -> Result<EncryptionProfile, WssError> {
    if policy.data != pmode::algorithms::DataEncryptionAlgorithm::Aes128Gcm {
        return Err(WssError::Policy(format!(
            "data encryption {} is not supported",
            policy.data
        )));
    }
    let mut profile = match &policy.key {
        pmode::KeyEncryption::KeyTransport { algorithm, .. }
            if *algorithm == pmode::algorithms::KeyTransportAlgorithm::RsaOaep =>
        {
            EncryptionProfile::edelivery_1_15()
        }
        pmode::KeyEncryption::KeyAgreement { .. } => EncryptionProfile::edelivery_2_0(),
        other => return Err(WssError::Policy(format!("key encryption {other:?} is not supported"))),
    };
    profile.key_reference = match pmode.security.x509_token_reference {
        pmode::TokenReference::BinarySecurityToken => KeyReferenceStyle::BinarySecurityToken,
        pmode::TokenReference::IssuerSerial => KeyReferenceStyle::IssuerSerial,
        pmode::TokenReference::SubjectKeyIdentifier => KeyReferenceStyle::SubjectKeyIdentifier,
    };
    Ok(profile)
}

/// The decryption policy a P-Mode asks for.
fn decryption_policy(policy: &pmode::EncryptionPolicy, limits: &OpenLimits) -> Result<DecryptionPolicy, String> {
    let mut decryption = match &policy.key {
        pmode::KeyEncryption::KeyTransport { .. } => DecryptionPolicy::edelivery_1_15(),
        pmode::KeyEncryption::KeyAgreement { .. } => DecryptionPolicy::edelivery_2_0(),
    };
    if policy.data != pmode::algorithms::DataEncryptionAlgorithm::Aes128Gcm {
        return Err(format!("the P-Mode's data encryption {} is not supported", policy.data));
    }
    decryption.max_attachment_bytes = limits.mime.max_attachment_bytes;
    Ok(decryption)
}

/// [`seal_with_compression`] at the default `[sender] compression_level`.
pub async fn seal(
    user_message: &UserMessage,
    payloads: &[OutgoingPayload],
    params: &SealParams<'_>,
) -> Result<SealedMessage, WssError> {
    let level = flate2::Compression::new(crate::config::DEFAULT_COMPRESSION_LEVEL);
    seal_with_compression(user_message, payloads, params, level).await
}

/// Seals `user_message` with `payloads`: compress (gzip at `level`, for payloads with `compress`) → sign →
/// encrypt → MIME body in a spool file. The UserMessage's PartInfo is (re)written from `payloads` (href, MimeType,
/// CharacterSet, CompressionType, extras).
pub async fn seal_with_compression(
    user_message: &UserMessage,
    payloads: &[OutgoingPayload],
    params: &SealParams<'_>,
    level: flate2::Compression,
) -> Result<SealedMessage, WssError> {
    let profile = SigningProfile::from_pmode(params.pmode)?;
    let mut seen = std::collections::HashSet::new();
    for p in payloads {
        if p.content_id.is_empty() || p.content_id.contains(['<', '>']) || !seen.insert(p.content_id.as_str()) {
            return Err(WssError::Model(format!(
                "invalid or repeated Content-ID {:?}",
                p.content_id
            )));
        }
        if p.mime_type.trim().is_empty() {
            return Err(WssError::Model(format!("payload {} has no MimeType", p.content_id)));
        }
    }
    let mut encryptor = match (&params.pmode.security.encryption, params.receiver_encryption_cert) {
        (Some(policy), Some(cert)) => Some(MessageEncryptor::new(&encryption_profile(params.pmode, policy)?, cert)?),
        (Some(_), None) => {
            return Err(WssError::Policy(
                "the P-Mode requires encryption: no receiver certificate".into(),
            ))
        }
        (None, Some(_)) => {
            return Err(WssError::Policy(
                "the P-Mode does not encrypt, yet a receiver certificate was given".into(),
            ))
        }
        (None, None) => None,
    };

    let mut spooled = Vec::new(); // keeps compressed and encrypted temp files alive until the body is written
    let mut digests = Vec::with_capacity(payloads.len());
    let mut attachments = Vec::with_capacity(payloads.len());
    let mut part_infos = Vec::with_capacity(payloads.len());
    for payload in payloads {
        let size = std::fs::metadata(&payload.source)?.len();
        let (sha256, wire_source, wire_type) = if size <= SMALL_PAYLOAD_IN_MEMORY_BYTES {
            seal_small_payload(payload, encryptor.as_mut(), level).await?
        } else {
            seal_large_payload(payload, encryptor.as_mut(), params.spool_dir, &mut spooled, level).await?
        };
        digests.push(AttachmentDigest {
            content_id: payload.content_id.clone(),
            sha256,
        });
        attachments.push(OutgoingAttachment {
            content_id: payload.content_id.clone(),
            content_type: wire_type,
            extra_headers: Vec::new(),
            source: wire_source,
        });
        let mut info = PartInfo::new(PartRef::Cid(payload.content_id.clone()))
            .with_property(part_property::MIME_TYPE, &payload.mime_type);
        if let Some(cs) = &payload.character_set {
            info = info.with_property(part_property::CHARACTER_SET, cs);
        }
        if payload.compress {
            info = info.with_property(part_property::COMPRESSION_TYPE, GZIP);
        }
        info.part_properties
            .extend(payload.extra_part_properties.iter().map(|(n, v)| Property::new(n, v)));
        part_infos.push(info);
    }
    let mut message = user_message.clone();
    message.payload_info = part_infos;
    let message_id = message.message_info.message_id.as_str().to_string();
    let (messaging_id, body_id) = stable_wsu_ids(&message_id);
    let builder = EnvelopeBuilder::new(Messaging::user(message))
        .map_err(|e| WssError::Model(e.to_string()))?
        .with_messaging_wsu_id(messaging_id)
        .with_body_wsu_id(body_id);
    let encryption_xml = encryptor.as_ref().map(|e| e.security_header_xml()).unwrap_or_default();
    let signed = sign_envelope(
        &builder,
        &digests,
        params.signer,
        &profile,
        &encryption_xml,
        OffsetDateTime::now_utc(),
    )?;
    let writer = MultipartWriter::new();
    let all_in_memory = attachments
        .iter()
        .all(|a| matches!(a.source, AttachmentSource::Bytes(_)));
    // A body sealed in memory gets a spool file only if a caller asks for one (the MSH POSTs the bytes).
    let body = if all_in_memory {
        None
    } else {
        Some(NamedTempFile::new_in(params.spool_dir)?)
    };
    let soap = bytes::Bytes::from(signed.xml);
    let (body_len, body_in_memory) = if all_in_memory {
        let mut buffer = Vec::new();
        let len = writer.write_to(soap, attachments, &mut buffer).await?;
        (len, Some(bytes::Bytes::from(buffer)))
    } else {
        // Large parts: one blocking task writes the whole body with plain file calls (files copied in the kernel,
        // encrypted parts encrypted in place) instead of a hop to the blocking pool per chunk.
        let file = streamed_body(body.as_ref())?.reopen()?;
        let part_writer = writer.clone();
        let len = tokio::task::spawn_blocking(move || {
            let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
            part_writer.write_blocking(soap, attachments, &mut out)
        })
        .await
        .map_err(std::io::Error::other)??;
        (len, None)
    };
    drop(spooled);
    let body = match (&body_in_memory, body) {
        (Some(bytes), _) => SpoolFile::in_memory(bytes.clone(), params.spool_dir),
        (None, body) => SpoolFile::from_file(streamed_body(body)?),
    };
    Ok(SealedMessage {
        message_id,
        content_type: writer.content_type(),
        body,
        body_len,
        body_in_memory,
        sent_references: signed.references,
        signing_certificate: params.signer.certificate.clone(),
    })
}

/// The spool file a streamed body is written to (created before it, whenever a part is not in memory).
fn streamed_body<T>(body: Option<T>) -> std::io::Result<T> {
    body.ok_or_else(|| std::io::Error::other("the streamed MIME body has no spool file"))
}

/// Compress (if asked) and encrypt (if an encryptor is given) a small payload in memory. Returns the SHA-256 of
/// the (compressed) plaintext, the wire bytes and their Content-Type.
async fn seal_small_payload(
    payload: &OutgoingPayload,
    encryptor: Option<&mut MessageEncryptor>,
    level: flate2::Compression,
) -> Result<([u8; 32], AttachmentSource, String), WssError> {
    let plain = std::fs::read(&payload.source)?;
    let (plain, part_type) = if payload.compress {
        let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(plain.len() / 2), level);
        std::io::Write::write_all(&mut encoder, &plain)?;
        (encoder.finish()?, GZIP.to_string())
    } else {
        (plain, payload.mime_type.clone())
    };
    Ok(match encryptor {
        Some(enc) => {
            let mut wire = Vec::with_capacity(plain.len() + 64);
            let done = enc
                .encrypt_attachment(&payload.content_id, &part_type, &plain[..], &mut wire)
                .await?;
            (
                done.plaintext_sha256,
                AttachmentSource::Bytes(wire.into()),
                ENCRYPTED_PART_CONTENT_TYPE.to_string(),
            )
        }
        None => (
            openssl::sha::sha256(&plain),
            AttachmentSource::Bytes(plain.into()),
            part_type,
        ),
    })
}

/// Compress (if asked) and encrypt (if an encryptor is given) a payload through spool files, streaming.
async fn seal_large_payload(
    payload: &OutgoingPayload,
    encryptor: Option<&mut MessageEncryptor>,
    spool_dir: &Path,
    spooled: &mut Vec<NamedTempFile>,
    level: flate2::Compression,
) -> Result<([u8; 32], AttachmentSource, String), WssError> {
    let (plaintext_path, part_type) = if payload.compress {
        let (file, _) = gzip_compress_file(&payload.source, spool_dir, level).await?;
        let path = file.path().to_path_buf();
        spooled.push(file);
        (path, GZIP.to_string())
    } else {
        (payload.source.clone(), payload.mime_type.clone())
    };
    // The digest goes into the signature, which precedes the part on the wire: hash the (compressed) plaintext in a
    // read-only pass, then encrypt it straight into the MIME body when that is written (no encrypted spool file to
    // write and copy).
    let hashed_path = plaintext_path.clone();
    let (sha256, hashed_len) =
        tokio::task::spawn_blocking(move || crate::wss::content::sha256_blocking(std::fs::File::open(hashed_path)?))
            .await
            .map_err(std::io::Error::other)??;
    Ok(match encryptor {
        Some(enc) => {
            let deferred = enc.defer_attachment(&payload.content_id, &part_type)?;
            let produce = move |out: &mut dyn std::io::Write| -> std::io::Result<()> {
                let input = std::fs::File::open(&plaintext_path)?;
                let encrypted_len = deferred.encrypt_blocking(input, out).map_err(|e| match e {
                    EncryptionError::Io(e) => e,
                    e => std::io::Error::other(e),
                })?;
                if encrypted_len != hashed_len {
                    // The signed digest would not match what was encrypted: never send such a message.
                    return Err(std::io::Error::other(format!(
                        "{} changed while it was sealed ({hashed_len} bytes hashed, {encrypted_len} encrypted)",
                        plaintext_path.display()
                    )));
                }
                Ok(())
            };
            (
                sha256,
                AttachmentSource::Producer(Box::new(produce)),
                ENCRYPTED_PART_CONTENT_TYPE.to_string(),
            )
        }
        None => (sha256, AttachmentSource::File(plaintext_path), part_type),
    })
}

/// Character sets accepted in `CharacterSet` (IANA names, case-insensitive).
const KNOWN_CHARACTER_SETS: &[&str] = &[
    "UTF-8",
    "UTF-16",
    "UTF-16BE",
    "UTF-16LE",
    "UTF-32",
    "US-ASCII",
    "ISO-8859-1",
    "ISO-8859-2",
    "ISO-8859-15",
    "WINDOWS-1252",
];

/// PartInfo rules: every payload is a MIME attachment of this message (an external or missing part is EBMS:0011),
/// carries a MimeType (TA25–26) and, if any, a known CharacterSet (TA27–29); every attachment is a payload.
fn check_part_infos(user: &UserMessage, attachment_ids: &[&str], message_id: &str) -> Result<(), OpenError> {
    let fail = |code, detail: String| OpenError::new(code, detail, Some(message_id));
    let mut referenced = Vec::new();
    for info in &user.payload_info {
        let PartRef::Cid(cid) = &info.part_ref else {
            return Err(fail(
                ErrorCode::ValueInconsistent,
                "payloads must travel as MIME attachments (PartInfo href=\"cid:...\")".into(),
            ));
        };
        if !attachment_ids.contains(&cid.as_str()) {
            return Err(fail(
                ErrorCode::ExternalPayloadError,
                format!("no MIME part for PartInfo cid:{cid}"),
            ));
        }
        if info.mime_type().is_none_or(|m| m.trim().is_empty()) {
            return Err(fail(
                ErrorCode::ValueInconsistent,
                format!("PartInfo cid:{cid} has no MimeType"),
            ));
        }
        if let Some(cs) = info.character_set() {
            if !KNOWN_CHARACTER_SETS.iter().any(|k| k.eq_ignore_ascii_case(cs)) {
                return Err(fail(
                    ErrorCode::ValueInconsistent,
                    format!("PartInfo cid:{cid} has an invalid CharacterSet {cs:?}"),
                ));
            }
        }
        match info.compression_type() {
            None | Some(GZIP) => {}
            Some(other) => {
                return Err(fail(
                    ErrorCode::ValueInconsistent,
                    format!("PartInfo cid:{cid}: unsupported CompressionType {other:?}"),
                ))
            }
        }
        if referenced.contains(&cid.as_str()) {
            return Err(fail(
                ErrorCode::ValueInconsistent,
                format!("two PartInfo name cid:{cid}"),
            ));
        }
        referenced.push(cid.as_str());
    }
    if let Some(extra) = attachment_ids.iter().find(|id| !referenced.contains(id)) {
        return Err(fail(
            ErrorCode::ValueInconsistent,
            format!("MIME part {extra} is not a payload of the message"),
        ));
    }
    Ok(())
}

/// Opens a received message: MIME → parse → P-Mode (`choose_pmode`) → verify → decrypt → digest check →
/// decompress. Nothing is released unless every check passed.
pub async fn open<R: AsyncRead + Unpin>(
    content_type: &str,
    body: R,
    choose_pmode: &(dyn Fn(&UserMessage) -> Result<pmode::PMode, EbmsError> + Sync),
    params: &OpenParams<'_>,
) -> Result<OpenedMessage, OpenError> {
    let limits = params.limits;
    // An encrypted part's digest is never used (the signature covers the decrypted content): hash only on request.
    let mut mime = read_message_with(
        body,
        content_type,
        &limits.mime,
        params.spool_dir,
        PartDigests::OnRequest,
    )
    .await
    .map_err(|e| OpenError::new(ErrorCode::MimeInconsistency, e.to_string(), None))?;
    let options = crate::ebms::ParseOptions {
        message_id_policy: limits.message_id_policy,
    };
    let envelope = Envelope::parse_with(&mime.root.content, &limits.xml, &options).map_err(|e| OpenError {
        error: e.to_ebms_error(),
        message_id: None,
    })?;
    let Some(user) = envelope.messaging().user_message() else {
        return Err(OpenError::new(ErrorCode::ValueInconsistent, "not a UserMessage", None));
    };
    let message_id = user.message_info.message_id.as_str().to_string();
    let mid = Some(message_id.as_str());
    let pmode = choose_pmode(user).map_err(|e| OpenError {
        error: if e.ref_to_message_in_error.is_some() {
            e
        } else {
            e.with_ref_to_message(&message_id)
        },
        message_id: Some(message_id.clone()),
    })?;

    let mut attachment_ids = Vec::with_capacity(mime.attachments.len());
    for part in &mime.attachments {
        let id = part
            .content_id
            .clone()
            .ok_or_else(|| OpenError::new(ErrorCode::MimeInconsistency, "an attachment has no Content-ID", mid))?;
        attachment_ids.push(id);
    }
    let ids: Vec<&str> = attachment_ids.iter().map(String::as_str).collect();
    check_part_infos(user, &ids, &message_id)?;

    let mut policy =
        VerificationPolicy::from_pmode(&pmode).map_err(|e| OpenError::new(e.ebms_code(), e.to_string(), mid))?;
    policy.clock_skew = limits.clock_skew;
    let from = user.party_info.from.single_party_id().map(|p| p.value().to_string());
    let now = OffsetDateTime::now_utc();
    let verified = verify_security_header(&envelope, &ids, from.as_deref(), &policy, params.message_trust, now)
        .map_err(|e| OpenError::new(e.ebms_code(), e.to_string(), mid))?;
    let security = envelope
        .security_node()
        .expect("verified messages have a security header");
    let doc = envelope.document();
    let encryption_error = |e: EncryptionError| OpenError::new(code_of_encryption_error(&e), e.to_string(), mid);

    let decryptor = match &pmode.security.encryption {
        Some(enc_policy) => {
            let policy = decryption_policy(enc_policy, limits)
                .map_err(|d| OpenError::new(ErrorCode::PolicyNoncompliance, d, mid))?;
            let pair = match enc_policy.key {
                pmode::KeyEncryption::KeyTransport { .. } => Some(&params.our_keys.message),
                pmode::KeyEncryption::KeyAgreement { .. } => params.our_keys.x25519.as_ref(),
            }
            .ok_or_else(|| {
                OpenError::new(
                    ErrorCode::FailedDecryption,
                    "no key for this P-Mode's key agreement",
                    mid,
                )
            })?;
            let recipient = RecipientKey {
                private_key: pair.key.clone(),
                certificate: pair.certificate.clone(),
            };
            Some(MessageDecryptor::open(doc, security, &ids, &policy, &recipient).map_err(encryption_error)?)
        }
        None => {
            let header = parse_encryption_header(doc, security).map_err(encryption_error)?;
            if header.encrypted_key.is_some() || !header.encrypted_data.is_empty() {
                return Err(OpenError::new(
                    ErrorCode::PolicyNoncompliance,
                    "the message is encrypted but the P-Mode does not expect encryption",
                    mid,
                ));
            }
            None
        }
    };

    let mut payloads = Vec::with_capacity(user.payload_info.len());
    for info in &user.payload_info {
        let PartRef::Cid(cid) = &info.part_ref else {
            unreachable!("checked by check_part_infos")
        };
        let index = ids
            .iter()
            .position(|id| id == cid)
            .expect("checked by check_part_infos");
        let part = &mime.attachments[index];
        let gzip = info.compression_type() == Some(GZIP);
        let decompression_error =
            |e: DecompressError| OpenError::new(ErrorCode::DecompressionFailure, format!("payload {cid}: {e}"), mid);
        let spool_error = |e: std::io::Error| OpenError::new(ErrorCode::Other, e.to_string(), mid);
        let (file, size, sha256) = match (&decryptor, part.in_memory()) {
            // A small encrypted part: decrypted (tag verified), digest-checked and decompressed in memory, then
            // handed out in memory (spooled only if a caller asks for a path) unless it inflated beyond the
            // in-memory size.
            (Some(d), Some(encrypted)) => {
                let (plain, plain_sha256) = d
                    .decrypt_attachment_in_memory(cid, encrypted)
                    .map_err(encryption_error)?;
                verified
                    .check_attachment(cid, &plain_sha256)
                    .map_err(|e| OpenError::new(e.ebms_code(), e.to_string(), mid))?;
                let (plain, sha256) = if gzip {
                    let inflated =
                        decompress_bytes(&plain, limits.max_decompressed_bytes).map_err(decompression_error)?;
                    let sha = openssl::sha::sha256(&inflated);
                    (inflated, sha)
                } else {
                    (plain, plain_sha256)
                };
                let size = plain.len() as u64;
                let file = if size <= SMALL_PAYLOAD_IN_MEMORY_BYTES {
                    SpoolFile::in_memory(plain.into(), params.spool_dir)
                } else {
                    SpoolFile::from_file(spool_bytes(params.spool_dir, &plain).map_err(spool_error)?)
                };
                (file, size, sha256)
            }
            (decryptor, _) => {
                let (plain, plain_sha256, plain_len) = match decryptor {
                    Some(d) => {
                        let input = part.read_ahead().map_err(spool_error)?;
                        let decrypted = d
                            .decrypt_attachment(cid, input, params.spool_dir)
                            .await
                            .map_err(encryption_error)?;
                        let (sha, len) = (decrypted.plaintext_sha256, decrypted.plaintext_len);
                        (decrypted.into_temp_file(), sha, len)
                    }
                    None => {
                        let sha256 = mime.attachments[index].sha256_async().await.map_err(spool_error)?;
                        let taken = mime.attachments[index].take_file().map_err(spool_error)?;
                        (taken, sha256, mime.attachments[index].size)
                    }
                };
                verified
                    .check_attachment(cid, &plain_sha256)
                    .map_err(|e| OpenError::new(e.ebms_code(), e.to_string(), mid))?;
                let (file, size, sha256) = if gzip {
                    let decompressed = if plain_len <= SMALL_PAYLOAD_IN_MEMORY_BYTES {
                        decompress_small(plain.path(), params.spool_dir, limits.max_decompressed_bytes)
                    } else {
                        decompress(plain.path(), params.spool_dir, limits.max_decompressed_bytes).await
                    };
                    decompressed.map_err(decompression_error)?
                } else {
                    (plain, plain_len, plain_sha256)
                };
                (SpoolFile::from_file(file), size, sha256)
            }
        };
        payloads.push(OpenedPayload {
            content_id: cid.clone(),
            mime_type: info.mime_type().unwrap_or_default().to_string(),
            part_properties: info
                .part_properties
                .iter()
                .map(|p| (p.name.clone(), p.value.clone()))
                .collect(),
            file,
            size,
            sha256,
        });
    }
    let signer_common_name = verified.signer.info.subject_cn.clone().unwrap_or_default();
    Ok(OpenedMessage {
        envelope,
        signer: verified.signer,
        signer_common_name,
        payloads,
        received_references: verified.references,
        pmode,
    })
}

fn code_of_encryption_error(e: &EncryptionError) -> ErrorCode {
    match e.ebms_error() {
        crate::wss::error::EncryptionEbmsError::FailedDecryption => ErrorCode::FailedDecryption,
        crate::wss::error::EncryptionEbmsError::PolicyNoncompliance => ErrorCode::PolicyNoncompliance,
    }
}

/// [`decompress`] for a small compressed part, in memory with plain file calls (the output is still capped).
fn decompress_small(
    source: &Path,
    spool_dir: &Path,
    cap: u64,
) -> Result<(NamedTempFile, u64, [u8; 32]), DecompressError> {
    let compressed = std::fs::read(source).map_err(DecompressError::Read)?;
    let plain = decompress_bytes(&compressed, cap)?;
    let out = spool_bytes(spool_dir, &plain).map_err(DecompressError::Write)?;
    Ok((out, plain.len() as u64, openssl::sha::sha256(&plain)))
}

/// Inflates a gzip member sequence held in memory, refusing more than `cap` bytes of output.
fn decompress_bytes(compressed: &[u8], cap: u64) -> Result<Vec<u8>, DecompressError> {
    use std::io::Read;
    if compressed.is_empty() {
        return Err(DecompressError::Corrupt("empty input".into()));
    }
    let mut plain = Vec::new();
    flate2::read::MultiGzDecoder::new(compressed)
        .take(cap.saturating_add(1))
        .read_to_end(&mut plain)
        .map_err(|e| DecompressError::Corrupt(e.to_string()))?;
    if plain.len() as u64 > cap {
        return Err(DecompressError::TooLarge { limit: cap });
    }
    Ok(plain)
}

/// Writes `bytes` to a new temporary file in `spool_dir` with plain file calls (small parts only).
fn spool_bytes(spool_dir: &Path, bytes: &[u8]) -> std::io::Result<NamedTempFile> {
    let out = NamedTempFile::new_in(spool_dir)?;
    std::io::Write::write_all(&mut out.as_file(), bytes)?;
    Ok(out)
}

async fn decompress(
    source: &Path,
    spool_dir: &Path,
    cap: u64,
) -> Result<(NamedTempFile, u64, [u8; 32]), DecompressError> {
    let input = tokio::fs::File::open(source).await.map_err(DecompressError::Read)?;
    let out = NamedTempFile::new_in(spool_dir).map_err(DecompressError::Write)?;
    let file = tokio::fs::File::from_std(out.reopen().map_err(DecompressError::Write)?);
    let mut writer = HashingWriter::new(file).map_err(|e| DecompressError::Write(std::io::Error::other(e)))?;
    let size = gzip_decompress(input, &mut writer, cap).await?;
    let sha = writer
        .finish()
        .map_err(|e| DecompressError::Write(std::io::Error::other(e)))?;
    Ok((out, size, sha))
}

/// Writes through to a file while computing the SHA-256 of what was written.
struct HashingWriter {
    inner: tokio::fs::File,
    hasher: Hasher,
}

impl HashingWriter {
    fn new(inner: tokio::fs::File) -> Result<Self, openssl::error::ErrorStack> {
        Ok(HashingWriter {
            inner,
            hasher: Hasher::new(MessageDigest::sha256())?,
        })
    }

    fn finish(mut self) -> Result<[u8; 32], openssl::error::ErrorStack> {
        Ok(self.hasher.finish()?.as_ref().try_into().expect("sha256 is 32 bytes"))
    }
}

impl AsyncWrite for HashingWriter {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                this.hasher.update(&buf[..n]).map_err(std::io::Error::other)?;
                Poll::Ready(Ok(n))
            }
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The `wsu:Id`s of eb:Messaging and the Body, derived from the MessageId. Every attempt to send one message then
/// signs the same references (same Ids, same content, deterministic gzip), so the receipt a receiver stored for the
/// first copy, and sends again for a duplicate, still matches what a later attempt sent.
fn stable_wsu_ids(message_id: &str) -> (WsuId, WsuId) {
    let digest = openssl::sha::sha256(message_id.as_bytes());
    let tag: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    let id = |part: &str| WsuId::parse(&format!("_{part}-{tag}")).expect("an NCName: '_' then letters, digits, '-'");
    (id("messaging"), id("body"))
}

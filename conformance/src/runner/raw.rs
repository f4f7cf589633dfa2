//! Hand-made traffic: messages sealed with A's keys (or a stranger's) and POSTed straight to B over A's mutual-TLS
//! identity, so cases can send what our own sender never would (tampered bytes, replays, foreign signers, junk).

use std::path::Path;

use access_point::config::Config;
use access_point::ebms::{MessageId, Property, UserMessage};
use access_point::msh::Node;
use access_point::pki::KeyPair;
use access_point::transport::{As4Client, OutgoingBody};
use access_point::wss::message::{seal, OutgoingPayload, SealParams, SealedMessage};

use super::federation::{quick_retry_pmodes, ORIGINAL_SENDER, SERVED};

/// B's answer to one POST.
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    /// The first `EBMS:NNNN` code in the answer, if any.
    pub fn error_code(&self) -> Option<String> {
        let at = self.body.find("EBMS:")?;
        Some(self.body[at..].chars().take(9).collect())
    }

    pub fn is_signed_receipt(&self) -> bool {
        self.body.contains("Receipt") && self.body.contains("SignatureValue") && self.error_code().is_none()
    }
}

/// A fresh MessageId.
pub fn new_message_id() -> String {
    format!("{}@conformance.example", uuid::Uuid::new_v4())
}

/// An SDK UserMessage from A to B, with PartInfo for `parts` attachments `payload-N@conformance`.
pub fn sdk_user_message(message_id: &str, conversation_id: &str, parts: usize) -> Result<UserMessage, String> {
    let mut user = access_point::ebms::test_support::sample_user_message(parts);
    user.message_info.message_id = MessageId::parse(message_id).map_err(|e| e.to_string())?;
    user.collaboration_info.agreement_ref = None;
    user.collaboration_info.conversation_id = conversation_id.into();
    user.message_properties = vec![
        Property::typed("originalSender", "iso6523-actorid-upis", ORIGINAL_SENDER),
        Property::typed("finalRecipient", "iso6523-actorid-upis", SERVED),
    ];
    Ok(user)
}

/// Seals `user` as A would (A's message key unless `signer` is given), encrypting for B.
pub async fn seal_for_b(
    a_config: &Path,
    b: &Node,
    user: &UserMessage,
    payloads: &[OutgoingPayload],
    signer: Option<&KeyPair>,
    spool: &Path,
) -> Result<SealedMessage, String> {
    let config = Config::load(a_config).map_err(|e| e.to_string())?;
    let identity = config.identity().map_err(|e| e.to_string())?;
    let b_cert = access_point::pki::load_certificate(&b.config().keys.message.cert).map_err(|e| e.to_string())?;
    let pmodes = quick_retry_pmodes();
    let pmode = pmodes
        .get(pmode::builtin::SDK_MESSAGE_ID)
        .ok_or("the SDK message P-Mode is missing")?;
    let params = SealParams {
        pmode,
        signer: signer.unwrap_or(&identity.message),
        receiver_encryption_cert: Some(&b_cert),
        spool_dir: spool,
    };
    seal(user, payloads, &params).await.map_err(|e| format!("seal: {e}"))
}

/// POSTs `body` to B with A's TLS identity.
pub async fn post_to_b(a_config: &Path, b: &Node, content_type: &str, body: Vec<u8>) -> Result<Answer, String> {
    let config = Config::load(a_config).map_err(|e| e.to_string())?;
    let identity = config.identity().map_err(|e| e.to_string())?;
    let tls_trust = config.tls_trust_store().map_err(|e| e.to_string())?;
    let client = As4Client::from_config(&config, &identity, &tls_trust, None).map_err(|e| e.to_string())?;
    let url = b.config().server.endpoint_url();
    let response = client
        .post(&url, content_type, &http::HeaderMap::new(), OutgoingBody::bytes(body))
        .await
        .map_err(|e| format!("POST: {e}"))?;
    let status = response.status.as_u16();
    let bytes = response.bytes().await.map_err(|e| format!("reading the answer: {e}"))?;
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// The sealed body's bytes.
pub fn body_bytes(sealed: &SealedMessage) -> Result<Vec<u8>, String> {
    sealed
        .body
        .path()
        .and_then(std::fs::read)
        .map_err(|e| format!("reading the sealed body: {e}"))
}

/// Checks B still serves: a fresh, well-formed message gets a signed receipt.
pub async fn b_still_serves(a_config: &Path, b: &Node, spool: &Path) -> Result<(), String> {
    let id = new_message_id();
    let user = sdk_user_message(&id, "conformance-liveness", 0)?;
    let sealed = seal_for_b(a_config, b, &user, &[], None, spool).await?;
    let answer = post_to_b(a_config, b, &sealed.content_type, body_bytes(&sealed)?).await?;
    if answer.is_signed_receipt() {
        Ok(())
    } else {
        Err(format!(
            "B no longer serves: HTTP {} {}",
            answer.status,
            truncate(&answer.body)
        ))
    }
}

pub fn truncate(text: &str) -> String {
    text.chars().take(300).collect()
}

// Hand-assembled messages: built from the library's lower-level pieces (envelope builder, signer, encryptor, MIME
// writer) so a case can send what `seal` refuses to build (unsigned parts, wrong processing order).

/// Replaces the first `from` in `body` with `to`; an error when `from` is absent, so a case cannot silently stop
/// tampering when the sealed layout changes.
pub fn replace_once(body: &[u8], from: &[u8], to: &[u8]) -> Result<Vec<u8>, String> {
    let at = body
        .windows(from.len())
        .position(|w| w == from)
        .ok_or_else(|| format!("{:?} not found in the sealed message", String::from_utf8_lossy(from)))?;
    Ok([&body[..at], to, &body[at + from.len()..]].concat())
}

/// The keys an access point's configuration loads (RSA message key, Ed25519, X25519).
pub fn identity_of(config: &Path) -> Result<access_point::pki::NodeIdentity, String> {
    let config = Config::load(config).map_err(|e| e.to_string())?;
    config.identity().map_err(|e| e.to_string())
}

/// B's RSA message certificate, the one A encrypts SDK payloads for.
pub fn b_message_cert(b: &Node) -> Result<openssl::x509::X509, String> {
    access_point::pki::load_certificate(&b.config().keys.message.cert).map_err(|e| e.to_string())
}

/// The SDK message P-Mode the run's nodes use.
pub fn sdk_message_pmode() -> Result<pmode::PMode, String> {
    quick_retry_pmodes()
        .get(pmode::builtin::SDK_MESSAGE_ID)
        .cloned()
        .ok_or_else(|| "the SDK message P-Mode is missing".to_string())
}

/// One MIME part of a hand-assembled message, exactly as it goes on the wire.
pub struct WirePart {
    pub content_id: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Encrypts `plaintext` as attachment `content_id` with `encryptor`; returns the wire part and the SHA-256 of the
/// plaintext (what the signature's attachment reference digests).
pub async fn encrypt_part(
    encryptor: &mut access_point::wss::encrypt::MessageEncryptor,
    content_id: &str,
    original_type: &str,
    plaintext: &[u8],
) -> Result<(WirePart, [u8; 32]), String> {
    let mut wire = Vec::with_capacity(plaintext.len() + 64);
    let done = encryptor
        .encrypt_attachment(content_id, original_type, plaintext, &mut wire)
        .await
        .map_err(|e| format!("encrypting {content_id}: {e}"))?;
    Ok((
        WirePart {
            content_id: content_id.into(),
            content_type: access_point::wss::encrypt::ENCRYPTED_PART_CONTENT_TYPE.into(),
            bytes: wire,
        },
        done.plaintext_sha256,
    ))
}

/// Signs `user` as given (its PartInfo untouched) with `signer` under `pmode`'s signing profile, the signature
/// claiming `digests` for the attachments and carrying `encryption_xml` in the security header, and writes `parts`
/// after the SOAP part. Returns (Content-Type, body).
pub async fn assemble(
    user: UserMessage,
    digests: &[access_point::wss::sign::AttachmentDigest],
    signer: &KeyPair,
    pmode: &pmode::PMode,
    encryption_xml: &str,
    parts: Vec<WirePart>,
) -> Result<(String, Vec<u8>), String> {
    use access_point::ebms::{EnvelopeBuilder, Messaging};
    use access_point::mime::{AttachmentSource, MultipartWriter, OutgoingAttachment};
    let profile = access_point::wss::sign::SigningProfile::from_pmode(pmode).map_err(|e| e.to_string())?;
    let builder = EnvelopeBuilder::new(Messaging::user(user)).map_err(|e| e.to_string())?;
    let signed = access_point::wss::sign::sign_envelope(
        &builder,
        digests,
        signer,
        &profile,
        encryption_xml,
        time::OffsetDateTime::now_utc(),
    )
    .map_err(|e| format!("signing: {e}"))?;
    let writer = MultipartWriter::new();
    let attachments = parts
        .into_iter()
        .map(|p| OutgoingAttachment {
            content_id: p.content_id,
            content_type: p.content_type,
            extra_headers: vec![],
            source: AttachmentSource::Bytes(p.bytes.into()),
        })
        .collect();
    let mut out = Vec::new();
    writer
        .write_to(signed.xml.into_bytes().into(), attachments, &mut out)
        .await
        .map_err(|e| format!("writing the MIME body: {e}"))?;
    Ok((writer.content_type(), out))
}

/// Like [`post_to_b`], also returning the answer's Content-Type (what a receipt check parses the answer with).
pub async fn post_to_b_typed(
    a_config: &Path,
    b: &Node,
    content_type: &str,
    body: Vec<u8>,
) -> Result<(Answer, String), String> {
    let config = Config::load(a_config).map_err(|e| e.to_string())?;
    let identity = config.identity().map_err(|e| e.to_string())?;
    let tls_trust = config.tls_trust_store().map_err(|e| e.to_string())?;
    let client = As4Client::from_config(&config, &identity, &tls_trust, None).map_err(|e| e.to_string())?;
    let url = b.config().server.endpoint_url();
    let response = client
        .post(&url, content_type, &http::HeaderMap::new(), OutgoingBody::bytes(body))
        .await
        .map_err(|e| format!("POST: {e}"))?;
    let status = response.status.as_u16();
    let answer_type = response.content_type().unwrap_or_default().to_string();
    let bytes = response.bytes().await.map_err(|e| format!("reading the answer: {e}"))?;
    let answer = Answer {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    };
    Ok((answer, answer_type))
}

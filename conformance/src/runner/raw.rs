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
    std::fs::read(sealed.body.path()).map_err(|e| format!("reading the sealed body: {e}"))
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

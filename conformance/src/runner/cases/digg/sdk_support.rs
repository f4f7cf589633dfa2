//! What the DIGG business-layer cases share: SDK messages and XHE envelopes built with the access point's own
//! `sdk` library and submitted the way the local API submits them (`cid:message` part, addressing taken from the
//! envelope), DIGG's example files read at their path under `../shared`, a federation whose access points also
//! serve DIGG's example participants, and bounded polling of classifications and kvittens.

use std::path::{Path, PathBuf};
use std::time::Duration;

use access_point::msh::{Node, Submission, SubmittedPayload};
use access_point::sdk::kvittens::Kvittens;
use access_point::sdk::outbound::{self, Address, Envelope, OutboundFile, OutboundMessage};
use access_point::store::{Classification, Direction, EvidenceKind, ListQuery, MessageRecord};
use xmldsig::dom::ParseLimits;

use crate::runner::federation::{self, Federation, B_PARTY, ORIGINAL_SENDER, SERVED};

/// DIGG's example messages (SDK message 3.1), read where the shared specification keeps them.
pub const DIGG_EXAMPLE_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/sdk-spec/repo/Meddelandesystem/Meddelandetyper/sdk-meddelande-3/sdk-meddelande-v3.1/example"
);
/// DIGG's complete unencrypted example: every XHE element of the profile, HandlingServiceID, enveloped signature.
pub const DIGG_FULL_EXAMPLE: &str = "xhe_unencrypted_payload.xml";
/// The XHE FromParty and ToParty of DIGG's examples.
pub const DIGG_FROM: &str = "0203:testb.testbed.inera.se";
pub const DIGG_TO: &str = "0203:testa.testbed.inera.se";
/// Functional addresses the runner's own SDK messages use.
pub const SENDER_FUNCTION: &str = "sdk.conformance.avsandare";
pub const RECIPIENT_FUNCTION: &str = "sdk.conformance.mottagare";
/// Upper bound for a message to be classified, or a kvittens to come back (each includes an AS4 exchange).
pub const BUSINESS_WITHIN: Duration = Duration::from_secs(60);
/// Who the runner's submissions and kvittens are recorded as.
pub const ACTOR: &str = "conformance";

/// Reads one of DIGG's example files at its path (never copied into the repository).
pub fn digg_example(name: &str) -> Result<Vec<u8>, String> {
    let path = Path::new(DIGG_EXAMPLE_DIR).join(name);
    std::fs::read(&path).map_err(|e| format!("DIGG's example {}: {e}", path.display()))
}

/// Parse limits for envelopes the runner reads.
pub fn limits() -> ParseLimits {
    ParseLimits::default()
}

/// An SDK message from A's participant (functional address [`SENDER_FUNCTION`]) to B's ([`RECIPIENT_FUNCTION`]).
pub fn outbound_message(subject: &str, files: Vec<OutboundFile>) -> OutboundMessage {
    let address = |participant: &str, function: &str| Address {
        participant: participant.into(),
        functional_address: function.into(),
        functional_address_label: None,
        label: None,
    };
    OutboundMessage {
        sender: address(ORIGINAL_SENDER, SENDER_FUNCTION),
        recipient: address(SERVED, RECIPIENT_FUNCTION),
        subject: Some(subject.into()),
        confidentiality: false,
        conversation_id: None,
        ref_to_message_id: None,
        references: Vec::new(),
        document_id: format!("conformance-{}", uuid::Uuid::new_v4()),
        document_name: Some(subject.into()),
        texts: vec!["Skapat av sdk-ap:s konformitetssvit.".into()],
        files,
        process_id: None,
        federation_id: None,
    }
}

/// Writes `message` inside its XHE envelope to `dir/name`, as the API's `sdk` format does.
pub async fn write_sdk(
    node: &Node,
    dir: &Path,
    name: &str,
    message: &OutboundMessage,
) -> Result<(Envelope, PathBuf), String> {
    let path = dir.join(name);
    let mut file = tokio::fs::File::create(&path)
        .await
        .map_err(|e| format!("creating {}: {e}", path.display()))?;
    let limit = node.config().limits.max_payload_bytes;
    let envelope = outbound::write_sdk_envelope(message, &mut file, limit)
        .await
        .map_err(|e| format!("building the SDK message: {e}"))?;
    Ok((envelope, path))
}

/// Writes `bytes` to `dir/name` and validates them as a whole client-built XHE, as the API's `xhe` format does.
pub async fn write_client_xhe(dir: &Path, name: &str, bytes: &[u8]) -> Result<(Envelope, PathBuf), String> {
    let path = write_file(dir, name, bytes)?;
    let envelope = outbound::validate_client_xhe(&path, &limits())
        .await
        .map_err(|e| format!("the XHE does not validate: {e}"))?;
    Ok((envelope, path))
}

pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, String> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(path)
}

/// The AS4 submission of an envelope to B, addressed from the envelope exactly as the local API does it.
pub fn submission_for(envelope: &Envelope, path: PathBuf) -> Submission {
    Submission {
        conversation_id: envelope.conversation_id.clone(),
        tracking_identifier: None,
        ..xhe_submission(
            path,
            &envelope.from.id,
            &envelope.to.id,
            &envelope.scope.process_id,
            &envelope.scope.process_id_scheme,
            &envelope.scope.ebms_action(),
        )
    }
}

/// An AS4 submission of the XHE file at `path` to B with addressing chosen by the caller (what a faulty or
/// hostile sending access point could put in the AS4 header).
pub fn xhe_submission(
    path: PathBuf,
    original_sender: &str,
    final_recipient: &str,
    service: &str,
    service_type: &str,
    action: &str,
) -> Submission {
    Submission {
        to_party: Some(B_PARTY.into()),
        to_party_type: None,
        pmode_id: None,
        service: service.into(),
        service_type: Some(service_type.into()),
        action: action.into(),
        original_sender: original_sender.into(),
        final_recipient: final_recipient.into(),
        conversation_id: Some(format!("conformance-{}", uuid::Uuid::new_v4())),
        tracking_identifier: None,
        payloads: vec![SubmittedPayload {
            path,
            mime_type: access_point::api::submit::SDK_MESSAGE_PART_TYPE.into(),
            content_id: Some(access_point::api::submit::SDK_MESSAGE_PART_ID.into()),
        }],
        actor: ACTOR.into(),
    }
}

/// Polls `node` until the inbound message `message_id` is stored and classified.
pub async fn classified(
    node: &Node,
    message_id: &str,
    within: Duration,
) -> Result<(MessageRecord, Classification), String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let record = node
            .store()
            .get_by_message_id(Direction::Inbound, message_id)
            .await
            .map_err(|e| format!("store: {e}"))?;
        if let Some(record) = record {
            let class = node
                .store()
                .classification(record.key)
                .await
                .map_err(|e| format!("store: {e}"))?;
            if let Some(class) = class {
                return Ok((record, class));
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("{message_id} not received and classified within {within:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The history reasons of a stored message, oldest first.
pub async fn history(node: &Node, record: &MessageRecord) -> Result<Vec<String>, String> {
    let changes = node
        .store()
        .history(record.key)
        .await
        .map_err(|e| format!("store: {e}"))?;
    Ok(changes.into_iter().map(|c| c.reason).collect())
}

/// Polls the sender's outbound message `message_id` until a kvittens is linked to it (kept as evidence), and
/// returns the kvittens parsed, with the history line that records it.
pub async fn linked_kvittens(node: &Node, message_id: &str, within: Duration) -> Result<(Kvittens, String), String> {
    let record = node
        .store()
        .get_by_message_id(Direction::Outbound, message_id)
        .await
        .map_err(|e| format!("store: {e}"))?
        .ok_or_else(|| format!("no outbound message {message_id} at the sender"))?;
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let evidence = node
            .store()
            .evidence(record.key)
            .await
            .map_err(|e| format!("store: {e}"))?;
        let kvittens: Vec<_> = evidence.iter().filter(|e| e.kind == EvidenceKind::Kvittens).collect();
        if let Some(first) = kvittens.first() {
            if kvittens.len() != 1 {
                return Err(format!(
                    "{} kvittens linked to {message_id}, expected 1",
                    kvittens.len()
                ));
            }
            let parsed = Kvittens::parse(&first.bytes, &limits()).map_err(|e| format!("the linked kvittens: {e}"))?;
            let line = history(node, &record)
                .await?
                .into_iter()
                .find(|r| r.starts_with("kvittens "))
                .ok_or("the kvittens is kept but not in the message history")?;
            return Ok((parsed, line));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("no kvittens linked to {message_id} within {within:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The outbound messages `node` holds in `conversation_id` (a kvittens travels in its original's conversation).
pub async fn outbound_in_conversation(node: &Node, conversation_id: &str) -> Result<Vec<MessageRecord>, String> {
    let page = node
        .store()
        .list(ListQuery {
            direction: Some(Direction::Outbound),
            ..ListQuery::default()
        })
        .await
        .map_err(|e| format!("store: {e}"))?;
    Ok(page
        .records
        .into_iter()
        .filter(|r| r.meta.conversation_id == conversation_id)
        .collect())
}

/// A federation like the run's own, whose access points also serve DIGG's example participants (A the sender
/// [`DIGG_FROM`], B the recipient [`DIGG_TO`]), so DIGG's example files travel exactly as DIGG wrote them.
pub async fn digg_federation(root: &Path) -> Result<Federation, String> {
    std::fs::create_dir_all(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let (a_config, b_config) = federation::create_linked_pair(root).map_err(|e| e.to_string())?;
    serve_also(&a_config, ORIGINAL_SENDER, DIGG_FROM)?;
    serve_also(&b_config, SERVED, DIGG_TO)?;
    let b = federation::start_node(&b_config).await.map_err(|e| e.to_string())?;
    let a = match federation::start_node(&a_config).await {
        Ok(a) => a,
        Err(e) => {
            b.shutdown().await;
            return Err(e.to_string());
        }
    };
    Ok(Federation {
        root: root.to_path_buf(),
        a_config,
        b_config,
        a,
        b: Some(b),
    })
}

/// Adds `extra` to the `served_participants` that `sdk-ap init` wrote (`[own]`).
fn serve_also(config: &Path, own: &str, extra: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(config).map_err(|e| format!("{}: {e}", config.display()))?;
    let written = format!("served_participants = [\"{own}\"]");
    if !text.contains(&written) {
        return Err(format!("{} does not say {written}", config.display()));
    }
    let text = text.replacen(&written, &format!("served_participants = [\"{own}\", \"{extra}\"]"), 1);
    std::fs::write(config, text).map_err(|e| format!("{}: {e}", config.display()))
}

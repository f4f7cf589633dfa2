//! `POST /api/v1/messages`: a multipart upload streamed to the spool, then stored durably by [`Node::submit`].
//!
//! The body is `multipart/form-data`. Its framing is the same as `multipart/related`, so the streaming reader of
//! [`crate::mime`] parses it (with every `[limits]` setting applied while streaming): the first part is the metadata
//! JSON, each further part one file, spooled to a temporary file under the node's spool folder.
//!
//! The metadata's `format` says what the files are (docs/api.md "Sending"):
//! * `raw` (default, [`SubmitRequest`]): AS4 payloads as they are, for the P-Mode named or found;
//! * `sdk` ([`SdkSubmitRequest`]): the business document and its attachments; the access point builds the SDK message
//!   v3 inside an XHE envelope ([`crate::sdk::outbound`]), streaming every file base64-encoded into one spool file;
//! * `sdk-message`: one SDK message v3 the client built, validated and wrapped in an XHE envelope;
//! * `xhe`: one whole XHE the client built, validated and sent as it is.
//!
//! The SDK formats are sent under the `sdk-message` P-Mode as the `cid:message` part with `originalSender`,
//! `finalRecipient`, Service and Action taken from the envelope, so that the receiver's TF-10 check holds.
//! With an `Idempotency-Key` header the first answer is recorded ([`super::idempotency`]) and repeated.

// Handlers answer a finished HTTP response as their error: it is built once per refused request, never hot.
#![allow(clippy::result_large_err)]

use std::path::Path;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyDataStream, Full};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use super::auth::{AddressRef, Caller, Permission};
use super::idempotency::{self, Fingerprint, IdempotencyStore, KeyGuard, REPLAY_HEADER};
use super::{json_response, problem, ProblemType};
use crate::mime::{read_message, MimeError, MimeLimits, SpooledPart};
use crate::msh::node::SPOOL_DIR;
use crate::msh::{Node, Submission, SubmitError, SubmittedPayload};
use crate::sdk::message_v3::InstanceId;
use crate::sdk::outbound::{self, Address, Envelope, OutboundError, OutboundFile, OutboundMessage};

/// Who submissions through the API are recorded as, until the API has named tokens.
pub const API_ACTOR: &str = "api:local";
/// The Content-ID of the XHE part of an SDK message (`cid:message`, SDK transport profile).
pub const SDK_MESSAGE_PART_ID: &str = "message";
/// The MIME type of that part.
pub const SDK_MESSAGE_PART_TYPE: &str = "text/xml";
/// Largest envelope the access point signs or encrypts for a client: those steps work on the whole envelope in
/// memory (the existing XML-DSig and XML Encryption code), so a larger one is refused with 413 and must be sent
/// without `protection` (AS4 still signs and encrypts it end to end between the access points).
pub const MAX_PROTECTED_XHE_BYTES: u64 = 32 << 20;

/// The metadata part of a raw submission.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// The receiving access point's PartyId; when empty it is discovered from `final_recipient`.
    #[serde(default)]
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_type: Option<String>,
    /// The P-Mode; may be left out when exactly one fits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pmode: Option<String>,
    /// Service and action; taken from the P-Mode when left out (the named one, or the only one configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default)]
    pub original_sender: String,
    #[serde(default)]
    pub final_recipient: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// The `trackingIdentifier` message property (eDelivery four-corner profile), sent unchanged; non-empty, at most
    /// 255 characters, no control characters (else 422).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_identifier: Option<String>,
}

/// What the files of a submission are (the metadata's `format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SubmitFormat {
    #[default]
    Raw,
    Sdk,
    SdkMessage,
    Xhe,
}

/// End-to-end protection the access point adds to the XHE for the client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protection {
    #[default]
    None,
    /// Enveloped XHE signature with the access point's message key, which must be the signing certificate
    /// registered for the sender organisation (`[sdk] e2e_signers` or its CertPub signing certificate), else 422.
    Sign,
    /// Payload encrypted for the recipient's CertPub encryption certificate (from discovery), then signed.
    SignAndEncrypt,
}

/// A sender or recipient of an SDK submission.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SdkAddress {
    /// Participant id of the organisation, e.g. `0203:2120000829`.
    pub participant: String,
    /// The functional address (address-book id).
    #[serde(default)]
    pub functional_address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub functional_address_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// A reference (e.g. a case number) for the recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SdkReference {
    pub root: String,
    pub extension: String,
}

/// The metadata part of an SDK submission (`format` = `sdk`, `sdk-message` or `xhe`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SdkSubmitRequest {
    pub format: SubmitFormat,
    /// `sdk` only: who sends and who receives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<SdkAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<SdkAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default)]
    pub confidentiality: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ref_to_message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<SdkReference>,
    /// `documents/documentID` (default `1`) and `documentName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub texts: Vec<String>,
    /// Business scope (`sdk`, `sdk-message`): PROCESSID and FEDERATIONID of the XHE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federation_id: Option<String>,
    /// The receiving access point's PartyId; discovered from the recipient when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_type: Option<String>,
    #[serde(default)]
    pub protection: Protection,
}

/// The `202 Accepted` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitResponse {
    pub message_id: String,
    pub pmode_id: String,
}

/// The `[limits]` of the configuration as multipart limits for an upload.
pub fn upload_limits(node: &Node) -> MimeLimits {
    let l = &node.config().limits;
    MimeLimits {
        max_soap_bytes: usize::try_from(l.max_soap_part_bytes).unwrap_or(usize::MAX),
        max_header_bytes: usize::try_from(l.max_mime_header_bytes).unwrap_or(usize::MAX),
        max_parts: usize::try_from(l.max_mime_parts).unwrap_or(usize::MAX),
        max_attachment_bytes: l.max_payload_bytes,
        max_total_bytes: l.max_message_bytes,
    }
}

type ApiResponse = Response<Full<Bytes>>;

pub(super) async fn handle(node: &Node, caller: &Caller, request: Request<Incoming>) -> ApiResponse {
    let header = |name: http::HeaderName| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header(http::header::CONTENT_TYPE).unwrap_or_default();
    let idempotency_key = match request.headers().get("idempotency-key") {
        None => None,
        Some(value) => match value.to_str().ok().filter(|k| idempotency::validate_key(k).is_ok()) {
            Some(k) => Some(k.to_string()),
            None => {
                return problem(
                    ProblemType::BadRequest,
                    idempotency::IdempotencyError::BadKey.to_string(),
                )
            }
        },
    };
    let boundary = match form_data_boundary(&content_type) {
        Ok(b) => b,
        Err(detail) => return problem(ProblemType::BadRequest, detail),
    };
    // Same framing as multipart/related; the declared root type only satisfies the reader's SOAP-version check.
    let related = format!("multipart/related; type=\"application/soap+xml\"; boundary=\"{boundary}\"");
    let spool = node.config().node.data_dir.join(SPOOL_DIR);
    let body = BodyDataStream::new(request.into_body());
    let reader = tokio_util::io::StreamReader::new(futures_util::TryStreamExt::map_err(body, std::io::Error::other));
    let upload = match read_message(reader, &related, &upload_limits(node), &spool).await {
        Ok(u) => u,
        Err(e) => return mime_problem(e),
    };
    if !upload
        .root
        .headers
        .content_type()
        .is_some_and(|t| t.trim_start().starts_with("application/json"))
    {
        return problem(
            ProblemType::BadRequest,
            "the first part must be the metadata, as application/json",
        );
    }
    let metadata: serde_json::Value = match serde_json::from_slice(&upload.root.content) {
        Ok(m) => m,
        Err(e) => return problem(ProblemType::BadRequest, format!("metadata: {e}")),
    };
    let fingerprint = match fingerprint_of(&metadata, &upload.attachments) {
        Ok(f) => f,
        Err(e) => return mime_problem(MimeError::Spool(e)),
    };
    let store = IdempotencyStore::new(&node.config().node.data_dir);
    let guard = match &idempotency_key {
        None => None,
        Some(key) => match store.lock(caller.actor(), key).await {
            Ok(guard) => Some(guard),
            Err(e) => return problem(ProblemType::StoreUnavailable, e.to_string()),
        },
    };
    if let Some(guard) = &guard {
        match store.get(guard).await {
            Ok(Some(first)) if first.fingerprint == fingerprint => {
                return accepted_response(StatusCode::OK, &first.message_id, &first.pmode_id, true)
            }
            Ok(Some(first)) => {
                return problem(
                    ProblemType::IdempotencyKeyReused,
                    format!(
                        "this Idempotency-Key was used for another request (message {}); use a new key",
                        first.message_id
                    ),
                )
            }
            Ok(None) => {}
            Err(e) => return problem(ProblemType::StoreUnavailable, e.to_string()),
        }
    }
    let format = metadata.get("format").cloned().unwrap_or(serde_json::Value::Null);
    let result = match serde_json::from_value::<Option<SubmitFormat>>(format) {
        Ok(None | Some(SubmitFormat::Raw)) => submit_raw(node, caller, metadata, &upload.attachments).await,
        Ok(Some(_)) => submit_sdk(node, caller, metadata, &upload.attachments).await,
        Err(e) => Err(problem(ProblemType::BadRequest, format!("metadata format: {e}"))),
    };
    drop(upload);
    match result {
        Ok(accepted) => {
            if let Some(guard) = &guard {
                record(&store, guard, fingerprint, &accepted).await;
            }
            accepted_response(StatusCode::ACCEPTED, &accepted.message_id, &accepted.pmode_id, false)
        }
        Err(response) => response,
    }
}

/// Records the first answer; a failure only loses the replay protection (the message itself is stored).
async fn record(store: &IdempotencyStore, guard: &KeyGuard, fingerprint: String, accepted: &crate::msh::Accepted) {
    let recorded = idempotency::record(fingerprint, &accepted.message_id, &accepted.pmode_id);
    if let Err(e) = store.put(guard, &recorded).await {
        tracing::error!(message_id = %accepted.message_id, error = %e,
            "api: the idempotency record was not written; a retry with this key would submit again");
    }
}

fn accepted_response(status: StatusCode, message_id: &str, pmode_id: &str, replay: bool) -> ApiResponse {
    let body = serde_json::to_value(SubmitResponse {
        message_id: message_id.to_string(),
        pmode_id: pmode_id.to_string(),
    })
    .unwrap_or_default();
    let mut response = json_response(status, &body, "application/json");
    let location = format!(
        "{}/messages/{}",
        super::API_PREFIX,
        super::server::percent_encode(message_id)
    );
    if let Ok(value) = http::HeaderValue::from_str(&location) {
        response.headers_mut().insert(http::header::LOCATION, value);
    }
    if replay {
        response
            .headers_mut()
            .insert(REPLAY_HEADER, http::HeaderValue::from_static("true"));
    }
    response
}

/// What identifies a request independently of its multipart framing: the metadata and each part's type, name and
/// content digest.
fn fingerprint_of(metadata: &serde_json::Value, parts: &[SpooledPart]) -> std::io::Result<String> {
    let mut fingerprint = Fingerprint::default();
    fingerprint.field(metadata.to_string().as_bytes());
    for part in parts {
        fingerprint
            .field(part.content_type.as_deref().unwrap_or("").as_bytes())
            .field(part.headers.content_disposition().unwrap_or("").as_bytes())
            .field(&part.sha256()?);
    }
    Ok(fingerprint.finish())
}

async fn submit_raw(
    node: &Node,
    caller: &Caller,
    metadata: serde_json::Value,
    parts: &[SpooledPart],
) -> Result<crate::msh::Accepted, ApiResponse> {
    let mut metadata = metadata;
    if let Some(object) = metadata.as_object_mut() {
        object.remove("format");
    }
    let metadata: SubmitRequest =
        serde_json::from_value(metadata).map_err(|e| problem(ProblemType::BadRequest, format!("metadata: {e}")))?;
    if !caller.allows(
        Permission::Send,
        AddressRef {
            organisation: &metadata.original_sender,
            functional_address: None,
        },
    ) {
        return Err(problem(
            ProblemType::Forbidden,
            format!("this caller may not send as {:?}", metadata.original_sender),
        ));
    }
    for part in parts {
        // A spool failure is the access point's problem, not an invalid submission: create the files first.
        part_path(part)?;
    }
    let mut submission =
        to_submission(node, metadata, parts).map_err(|detail| problem(ProblemType::InvalidSubmission, detail))?;
    submission.actor = caller.actor().to_string();
    // The spooled files (parts) live until submit has copied them into the store.
    node.submit(submission).await.map_err(submit_problem)
}

fn submit_problem(error: SubmitError) -> ApiResponse {
    match error {
        SubmitError::Store(crate::store::StoreError::PayloadTooLarge { limit }) => {
            problem(ProblemType::TooLarge, format!("a payload exceeds {limit} bytes"))
        }
        SubmitError::Store(e) => problem(ProblemType::StoreUnavailable, e.to_string()),
        e => problem(ProblemType::InvalidSubmission, e.to_string()),
    }
}

async fn submit_sdk(
    node: &Node,
    caller: &Caller,
    metadata: serde_json::Value,
    parts: &[SpooledPart],
) -> Result<crate::msh::Accepted, ApiResponse> {
    let request: SdkSubmitRequest =
        serde_json::from_value(metadata).map_err(|e| problem(ProblemType::BadRequest, format!("metadata: {e}")))?;
    let config = node.config();
    let spool = config.node.data_dir.join(SPOOL_DIR);
    let limit = config.limits.max_payload_bytes;
    let parse_limits = client_document_limits(node);
    let scope = outbound::sdk_scope(request.process_id.as_deref(), request.federation_id.as_deref());
    // The envelope the access point builds goes to a spool file; an uploaded XHE is used as it is.
    let new_spool_file = || {
        tempfile::NamedTempFile::new_in(&spool)
            .map_err(|e| problem(ProblemType::StoreUnavailable, format!("spool folder: {e}")))
    };
    let mut spooled = None;
    let (envelope, xhe_path) = match request.format {
        SubmitFormat::Sdk => {
            let message = outbound_message(&request, parts)?;
            check_send_scope(
                caller,
                &message.sender.participant,
                Some(&message.sender.functional_address),
            )?;
            let file = spooled.insert(new_spool_file()?);
            let mut out = spool_writer(file.path()).await?;
            let written = outbound::write_sdk_envelope(&message, &mut out, limit).await;
            let envelope = finish_spool(out, written).await?;
            (envelope, file.path().to_path_buf())
        }
        SubmitFormat::SdkMessage => {
            let part = single_part(parts, "sdk-message")?;
            let file = spooled.insert(new_spool_file()?);
            let mut out = spool_writer(file.path()).await?;
            let written =
                outbound::wrap_sdk_message_file(part_path(part)?, &parse_limits, &scope, &mut out, limit).await;
            let envelope = finish_spool(out, written).await?;
            check_send_scope(caller, &envelope.from.id, envelope.sender_functional_address.as_deref())?;
            (envelope, file.path().to_path_buf())
        }
        SubmitFormat::Xhe => {
            if request.protection != Protection::None {
                return Err(problem(
                    ProblemType::BadRequest,
                    "protection applies to envelopes the access point builds; sign or encrypt a client-built XHE before uploading it",
                ));
            }
            let part = single_part(parts, "xhe")?;
            let path = part_path(part)?;
            let envelope = outbound::validate_client_xhe(path, &parse_limits)
                .await
                .map_err(outbound_problem)?;
            check_send_scope(caller, &envelope.from.id, envelope.sender_functional_address.as_deref())?;
            (envelope, path.to_path_buf())
        }
        SubmitFormat::Raw => unreachable!("raw submissions are handled by submit_raw"),
    };
    let protected = match request.protection {
        Protection::None => None,
        protection => Some(protect(node, &xhe_path, &envelope, protection, &spool).await?),
    };
    let xhe_path = protected.as_ref().map(|f| f.path().to_path_buf()).unwrap_or(xhe_path);
    let submission = Submission {
        // Left out: the node resolves the receiving AP from finalRecipient ([[peers]], then SML/SMP).
        to_party: request.to.clone().filter(|t| !t.trim().is_empty()),
        to_party_type: request.to_type.clone(),
        pmode_id: None,
        service: envelope.scope.process_id.clone(),
        service_type: Some(envelope.scope.process_id_scheme.clone()),
        action: envelope.scope.ebms_action(),
        original_sender: envelope.from.id.clone(),
        final_recipient: envelope.to.id.clone(),
        conversation_id: envelope.conversation_id.clone(),
        tracking_identifier: None,
        payloads: vec![SubmittedPayload {
            path: xhe_path,
            mime_type: SDK_MESSAGE_PART_TYPE.into(),
            content_id: Some(SDK_MESSAGE_PART_ID.into()),
        }],
        actor: caller.actor().to_string(),
    };
    let accepted = node.submit(submission).await.map_err(submit_problem)?;
    tracing::info!(actor = caller.actor(), message_id = %accepted.message_id, xhe_id = %envelope.xhe_id,
        sdk_message_id = envelope.sdk_message_id.as_deref().unwrap_or(""), from = %envelope.from.id,
        to = %envelope.to.id, bytes = envelope.bytes, "api: SDK message submitted");
    drop(spooled);
    Ok(accepted)
}

/// Parse limits for SDK messages and XHE envelopes a client built: the `[limits]` XML settings, with the size cap
/// of a payload (such a document is read whole into the DOM, so `max_payload_bytes` should stay moderate when
/// clients upload them; large files belong in the `sdk` format, which streams).
fn client_document_limits(node: &Node) -> xmldsig::dom::ParseLimits {
    let limits = &node.config().limits;
    xmldsig::dom::ParseLimits {
        max_bytes: usize::try_from(limits.max_payload_bytes.min(MAX_PROTECTED_XHE_BYTES)).unwrap_or(usize::MAX),
        ..limits.xml_parse_limits()
    }
}

fn check_send_scope(caller: &Caller, organisation: &str, functional_address: Option<&str>) -> Result<(), ApiResponse> {
    if caller.allows(
        Permission::Send,
        AddressRef {
            organisation,
            functional_address,
        },
    ) {
        Ok(())
    } else {
        Err(problem(
            ProblemType::Forbidden,
            format!(
                "this caller may not send as {organisation} / {}",
                functional_address.unwrap_or("(no functional address)")
            ),
        ))
    }
}

/// A file holding an uploaded part, for the code that reads files (created now when the part was kept in memory).
fn part_path(part: &SpooledPart) -> Result<&Path, ApiResponse> {
    part.path()
        .map_err(|e| problem(ProblemType::StoreUnavailable, format!("spool file: {e}")))
}

fn single_part<'a>(parts: &'a [SpooledPart], format: &str) -> Result<&'a SpooledPart, ApiResponse> {
    match parts {
        [only] => Ok(only),
        _ => Err(problem(
            ProblemType::BadRequest,
            format!(
                "format {format} takes exactly one file part after the metadata, not {}",
                parts.len()
            ),
        )),
    }
}

fn outbound_message(request: &SdkSubmitRequest, parts: &[SpooledPart]) -> Result<OutboundMessage, ApiResponse> {
    let address = |a: &Option<SdkAddress>, name: &str| -> Result<Address, ApiResponse> {
        let a = a.as_ref().filter(|a| !a.participant.trim().is_empty()).ok_or_else(|| {
            problem(
                ProblemType::InvalidSubmission,
                format!("format sdk needs {name}.participant and {name}.functional_address"),
            )
        })?;
        if a.functional_address.trim().is_empty() {
            return Err(problem(
                ProblemType::InvalidSubmission,
                format!("{name}.functional_address is empty"),
            ));
        }
        Ok(Address {
            participant: a.participant.trim().to_string(),
            functional_address: a.functional_address.trim().to_string(),
            functional_address_label: a.functional_address_label.clone(),
            label: a.label.clone(),
        })
    };
    if parts.is_empty() {
        return Err(problem(
            ProblemType::BadRequest,
            "format sdk needs the business document as the part after the metadata",
        ));
    }
    let files = parts
        .iter()
        .enumerate()
        .map(|(index, part)| -> Result<OutboundFile, ApiResponse> {
            Ok(OutboundFile {
                file_name: file_name_of(part).unwrap_or_else(|| {
                    if index == 0 {
                        "document".into()
                    } else {
                        format!("attachment-{index}")
                    }
                }),
                content_type: part
                    .content_type
                    .clone()
                    .filter(|t| !t.trim().is_empty())
                    .unwrap_or_else(|| "application/octet-stream".into()),
                path: part_path(part)?.to_path_buf(),
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(OutboundMessage {
        sender: address(&request.sender, "sender")?,
        recipient: address(&request.recipient, "recipient")?,
        subject: request.subject.clone(),
        confidentiality: request.confidentiality,
        conversation_id: request.conversation_id.clone(),
        ref_to_message_id: request.ref_to_message_id.clone(),
        references: request
            .references
            .iter()
            .map(|r| InstanceId::new(r.root.clone(), r.extension.clone()))
            .collect(),
        document_id: request.document_id.clone().unwrap_or_else(|| "1".into()),
        document_name: request.document_name.clone(),
        texts: request.texts.clone(),
        files,
        process_id: request.process_id.clone(),
        federation_id: request.federation_id.clone(),
    })
}

/// The `filename` parameter of a part's Content-Disposition.
fn file_name_of(part: &SpooledPart) -> Option<String> {
    let disposition = part.headers.content_disposition()?;
    disposition.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("filename") {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        // Only the last path segment: a file name is never a path at the receiver.
        let name = value.rsplit(['/', '\\']).next().unwrap_or(value).trim();
        (!name.is_empty()).then(|| name.to_string())
    })
}

/// Opens the spool file at `path` for the envelope, buffered.
async fn spool_writer(path: &Path) -> Result<tokio::io::BufWriter<tokio::fs::File>, ApiResponse> {
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .await
        .map_err(|e| problem(ProblemType::StoreUnavailable, format!("spool file: {e}")))?;
    Ok(tokio::io::BufWriter::with_capacity(256 << 10, file))
}

/// Flushes the spool file after a successful write; maps an outbound error to its problem.
async fn finish_spool(
    mut out: tokio::io::BufWriter<tokio::fs::File>,
    written: Result<Envelope, OutboundError>,
) -> Result<Envelope, ApiResponse> {
    let envelope = written.map_err(outbound_problem)?;
    out.flush()
        .await
        .map_err(|e| problem(ProblemType::StoreUnavailable, format!("spool file: {e}")))?;
    Ok(envelope)
}

/// A problem for an outbound error: rule violations are listed with their rule ids (`violations`).
fn outbound_problem(error: OutboundError) -> ApiResponse {
    let violations = match &error {
        OutboundError::Message(crate::sdk::message_v3::MessageError::Rules(v))
        | OutboundError::Xhe(crate::sdk::xhe::XheError::Rules(v)) => v.clone(),
        _ => Vec::new(),
    };
    let kind = match &error {
        OutboundError::TooLarge { .. } => ProblemType::TooLarge,
        OutboundError::Io(_) => ProblemType::StoreUnavailable,
        _ => ProblemType::InvalidSubmission,
    };
    let mut response = problem(kind, error.to_string());
    if !violations.is_empty() {
        let body = serde_json::json!({
            "type": kind.uri(),
            "title": "Invalid submission",
            "status": kind.status().as_u16(),
            "detail": error.to_string(),
            "violations": violations
                .iter()
                .map(|v| serde_json::json!({"rule": v.rule, "message": v.message}))
                .collect::<Vec<_>>(),
        });
        response = json_response(kind.status(), &body, "application/problem+json");
    }
    response
}

/// Signs (and first encrypts, for [`Protection::SignAndEncrypt`]) the envelope at `path` into a new spool file.
async fn protect(
    node: &Node,
    path: &Path,
    envelope: &Envelope,
    protection: Protection,
    spool: &Path,
) -> Result<tempfile::NamedTempFile, ApiResponse> {
    if envelope.bytes > MAX_PROTECTED_XHE_BYTES {
        return Err(problem(
            ProblemType::TooLarge,
            format!(
                "the envelope is {} bytes; the access point signs or encrypts envelopes of at most {MAX_PROTECTED_XHE_BYTES} bytes (send it without protection)",
                envelope.bytes
            ),
        ));
    }
    let config = node.config();
    let unavailable = |e: String| problem(ProblemType::StoreUnavailable, e);
    let key = crate::pki::keys::load_private_key(&config.keys.message.key).map_err(|e| unavailable(e.to_string()))?;
    let certificate =
        crate::pki::keys::load_certificate(&config.keys.message.cert).map_err(|e| unavailable(e.to_string()))?;
    signer_registered_for_sender(node, envelope, &certificate).await?;
    let recipient_certificate = match protection {
        Protection::SignAndEncrypt => Some(recipient_encryption_certificate(node, envelope).await?),
        _ => None,
    };
    let xml = tokio::fs::read(path).await.map_err(|e| unavailable(e.to_string()))?;
    // Signing and encryption are CPU work on the whole envelope: off the async workers.
    let signed = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
        let xml = match &recipient_certificate {
            None => xml,
            Some(certificate) => {
                let limits = xmldsig::dom::ParseLimits {
                    max_bytes: usize::MAX,
                    max_nodes: usize::MAX,
                    ..xmldsig::dom::ParseLimits::default()
                };
                let xhe = crate::sdk::xhe::Xhe::parse(&xml, &limits).map_err(|e| e.to_string())?;
                let sealed =
                    crate::sdk::xhe_encryption::encrypt_payload(&xhe, certificate).map_err(|e| e.to_string())?;
                sealed.render().map_err(|e| e.to_string())?.into_bytes()
            }
        };
        crate::sdk::xhe_signature::sign(&xml, &key, &certificate).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r)
    .map_err(|e| problem(ProblemType::InvalidSubmission, format!("XHE protection: {e}")))?;
    let file = tempfile::NamedTempFile::new_in(spool).map_err(|e| unavailable(format!("spool folder: {e}")))?;
    tokio::fs::write(file.path(), &signed)
        .await
        .map_err(|e| unavailable(format!("spool file: {e}")))?;
    Ok(file)
}

/// Refuses to sign for a sender organisation with a certificate a receiver would refuse: the signing certificate
/// must be registered for the envelope's FromParty (`[sdk] e2e_signers`, else its CertPub signing certificate;
/// `sdk::signer_identity`, the same rule the receiving side applies).
async fn signer_registered_for_sender(
    node: &Node,
    envelope: &Envelope,
    certificate: &openssl::x509::X509,
) -> Result<(), ApiResponse> {
    use crate::sdk::signer_identity::{check_signer, SignerLookupError};
    let refuse = |detail: String| problem(ProblemType::InvalidSubmission, format!("XHE protection: {detail}"));
    let registered = node
        .shared()
        .signers
        .registered_signers(&envelope.from.id, &envelope.scope.ebms_action())
        .await
        .map_err(|e| match e {
            SignerLookupError::NotRegistered(text) => refuse(text),
            SignerLookupError::Unavailable(text) => problem(ProblemType::StoreUnavailable, text),
        })?;
    check_signer(certificate, &envelope.from.id, &registered).map_err(refuse)
}

/// The recipient organisation's CertPub encryption certificate, from SMP discovery.
async fn recipient_encryption_certificate(
    node: &Node,
    envelope: &Envelope,
) -> Result<openssl::x509::X509, ApiResponse> {
    let config = node.config();
    let refuse = |detail: String| problem(ProblemType::InvalidSubmission, detail);
    let unavailable = |detail: String| problem(ProblemType::StoreUnavailable, detail);
    let trust = config.message_trust_store().map_err(|e| unavailable(e.to_string()))?;
    let resolver =
        match crate::msh::discovery_resolver::from_config(config, &trust) {
            Ok(Some(r)) => r,
            Ok(None) => return Err(refuse(
                "protection sign-and-encrypt needs [discovery] to find the recipient's CertPub encryption certificate"
                    .into(),
            )),
            Err(e) => return Err(unavailable(e.to_string())),
        };
    let participant = address_book_client::ParticipantId::parse(&envelope.to.id)
        .map_err(|e| refuse(format!("recipient {:?}: {e}", envelope.to.id)))?;
    let document = address_book_client::DocumentId::parse(&envelope.scope.ebms_action())
        .map_err(|e| refuse(format!("document id: {e}")))?;
    let resolved = resolver
        .discovery()
        .resolve(&participant, &document)
        .await
        .map_err(|e| unavailable(format!("discovery of {participant}: {e}")))?;
    resolved.certpub.encryption_certificate().ok_or_else(|| {
        refuse(format!(
            "the SMP publishes no CertPub encryption certificate for {participant}"
        ))
    })
}

fn to_submission(node: &Node, metadata: SubmitRequest, parts: &[SpooledPart]) -> Result<Submission, String> {
    let (service, service_type, action) = match (metadata.service, metadata.action) {
        (Some(service), Some(action)) => (service, metadata.service_type, action),
        (None, None) => {
            let pmodes = node.pmodes();
            let pmode = match &metadata.pmode {
                Some(id) => pmodes.get(id).ok_or_else(|| format!("no P-Mode {id}"))?,
                None => {
                    let mut all = pmodes.iter();
                    match (all.next(), all.next()) {
                        (Some(only), None) => only,
                        _ => {
                            let names: Vec<&str> = pmodes.iter().map(|p| p.id.as_str()).collect();
                            return Err(format!(
                                "name a P-Mode (one of {}) or give service and action",
                                names.join(", ")
                            ));
                        }
                    }
                }
            };
            let info = &pmode.business_info;
            (
                info.service.value.clone(),
                info.service.service_type.clone(),
                info.action.clone(),
            )
        }
        _ => return Err("give both service and action, or neither".into()),
    };
    let payloads = parts
        .iter()
        .map(|p| -> Result<SubmittedPayload, String> {
            Ok(SubmittedPayload {
                // msh::submit copies the payload from a file: a part kept in memory gets one here.
                path: p.path().map_err(|e| format!("spool file: {e}"))?.to_path_buf(),
                mime_type: p
                    .content_type
                    .clone()
                    .filter(|t| !t.trim().is_empty())
                    .unwrap_or_else(|| "application/octet-stream".into()),
                content_id: None,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(Submission {
        to_party: Some(metadata.to).filter(|t| !t.trim().is_empty()),
        to_party_type: metadata.to_type,
        pmode_id: metadata.pmode,
        service,
        service_type,
        action,
        original_sender: metadata.original_sender,
        final_recipient: metadata.final_recipient,
        conversation_id: metadata.conversation_id,
        tracking_identifier: metadata.tracking_identifier,
        payloads,
        actor: API_ACTOR.into(),
    })
}

/// The boundary of a `multipart/form-data` Content-Type.
fn form_data_boundary(content_type: &str) -> Result<String, String> {
    let parsed =
        crate::mime::ContentType::parse(content_type).map_err(|e| format!("Content-Type {content_type:?}: {e}"))?;
    if parsed.mime_type != "multipart/form-data" {
        return Err(format!(
            "Content-Type must be multipart/form-data, not {}",
            parsed.mime_type
        ));
    }
    let boundary = parsed
        .param("boundary")
        .ok_or("multipart/form-data without a boundary")?;
    crate::mime::content_type::validate_boundary(boundary).map_err(|e| e.to_string())?;
    Ok(boundary.to_string())
}

fn mime_problem(error: MimeError) -> ApiResponse {
    match error {
        MimeError::HeaderSectionTooLarge { .. }
        | MimeError::TooManyParts { .. }
        | MimeError::SoapPartTooLarge { .. }
        | MimeError::AttachmentTooLarge { .. }
        | MimeError::MessageTooLarge { .. } => problem(ProblemType::TooLarge, error.to_string()),
        other => problem(ProblemType::BadRequest, format!("upload: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_form_data_with_a_boundary_is_accepted() {
        assert_eq!(form_data_boundary("multipart/form-data; boundary=abc").unwrap(), "abc");
        assert!(form_data_boundary("multipart/related; boundary=abc").is_err());
        assert!(form_data_boundary("multipart/form-data").is_err());
        assert!(form_data_boundary("application/json").is_err());
    }

    #[test]
    fn sdk_metadata_reads_with_defaults_and_refuses_unknown_fields() {
        let request: SdkSubmitRequest = serde_json::from_value(serde_json::json!({
            "format": "sdk",
            "sender": {"participant": "0203:a", "functional_address": "fa"},
            "recipient": {"participant": "0203:b", "functional_address": "fb"},
            "protection": "sign-and-encrypt"
        }))
        .unwrap();
        assert_eq!(request.format, SubmitFormat::Sdk);
        assert_eq!(request.protection, Protection::SignAndEncrypt);
        assert!(!request.confidentiality);
        assert!(serde_json::from_value::<SdkSubmitRequest>(serde_json::json!({"format": "sdk", "sendr": {}})).is_err());
        // A raw request may leave `to` out (it is then discovered).
        let raw: SubmitRequest = serde_json::from_value(serde_json::json!({"final_recipient": "0203:b"})).unwrap();
        assert!(raw.to.is_empty());
    }
}

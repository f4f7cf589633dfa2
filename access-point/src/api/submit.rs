//! `POST /api/v1/messages`: a multipart upload streamed to the spool, then stored durably by [`Node::submit`].
//!
//! The body is `multipart/form-data`. Its framing is the same as `multipart/related`, so the streaming reader of
//! [`crate::mime`] parses it (with every `[limits]` setting applied while streaming): the first part is the metadata
//! JSON, each further part one payload, spooled to a temporary file under the node's spool folder.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyDataStream, Full};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};

use super::{json_response, problem, ProblemType};
use crate::mime::{read_message, MimeError, MimeLimits};
use crate::msh::node::SPOOL_DIR;
use crate::msh::{Node, Submission, SubmitError, SubmittedPayload};

/// Who submissions through the API are recorded as, until the API has named tokens.
pub const API_ACTOR: &str = "api:local";

/// The metadata part of a submission.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// The receiving access point's PartyId; empty or absent: the AP is resolved from `final_recipient`
    /// (`[[peers]]` participants, then SML/SMP).
    #[serde(default, skip_serializing_if = "String::is_empty")]
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

pub(super) async fn handle(node: &Node, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let content_type = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
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
    let metadata: SubmitRequest = match serde_json::from_slice(&upload.root.content) {
        Ok(m) => m,
        Err(e) => return problem(ProblemType::BadRequest, format!("metadata: {e}")),
    };
    let submission = match to_submission(node, metadata, &upload.attachments) {
        Ok(s) => s,
        Err(detail) => return problem(ProblemType::InvalidSubmission, detail),
    };
    // The spooled files (upload.attachments) live until submit has copied them into the store.
    let result = node.submit(submission).await;
    drop(upload);
    match result {
        Ok(accepted) => {
            let body = serde_json::to_value(SubmitResponse {
                message_id: accepted.message_id.clone(),
                pmode_id: accepted.pmode_id,
            })
            .unwrap_or_default();
            let mut response = json_response(StatusCode::ACCEPTED, &body, "application/json");
            let location = format!(
                "{}/messages/{}",
                super::API_PREFIX,
                super::server::percent_encode(&accepted.message_id)
            );
            if let Ok(value) = http::HeaderValue::from_str(&location) {
                response.headers_mut().insert(http::header::LOCATION, value);
            }
            response
        }
        Err(SubmitError::Store(crate::store::StoreError::PayloadTooLarge { limit })) => {
            problem(ProblemType::TooLarge, format!("a payload exceeds {limit} bytes"))
        }
        Err(SubmitError::Store(e)) => problem(ProblemType::StoreUnavailable, e.to_string()),
        Err(e) => problem(ProblemType::InvalidSubmission, e.to_string()),
    }
}

fn to_submission(
    node: &Node,
    metadata: SubmitRequest,
    parts: &[crate::mime::SpooledPart],
) -> Result<Submission, String> {
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
        .map(|p| SubmittedPayload {
            path: p.path().to_path_buf(),
            mime_type: p
                .content_type
                .clone()
                .filter(|t| !t.trim().is_empty())
                .unwrap_or_else(|| "application/octet-stream".into()),
            content_id: None,
        })
        .collect();
    Ok(Submission {
        to_party: Some(metadata.to).filter(|to| !to.trim().is_empty()),
        to_party_type: metadata.to_type,
        pmode_id: metadata.pmode,
        service,
        service_type,
        action,
        original_sender: metadata.original_sender,
        final_recipient: metadata.final_recipient,
        conversation_id: metadata.conversation_id,
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

fn mime_problem(error: MimeError) -> Response<Full<Bytes>> {
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
}

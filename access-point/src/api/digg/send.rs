//! `POST /v1/sdk/messages` (sendMessage): a JSON:API `createMessage` document becomes an SDK message v3, wrapped in
//! DIGG's XHE envelope, stored durably through [`Node::submit`] under the `sdk-message` P-Mode, and answered
//! `201 Created` with `Location: /v1/sdk/messages/{id}`.
//!
//! The receiving access point is not part of DIGG's model: submit resolves it from the recipient (the `[[peers]]`
//! entry that lists the participant, else SML/SMP discovery).

// Handlers answer a finished HTTP response as their error: it is built once per refused request, never hot.
#![allow(clippy::result_large_err)]

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use std::io::Write;

use super::document::{attributes_of, resource, sdk_timestamp_now, top_level, CreateDocument};
use super::lifecycle::events;
use super::problem::{DiggProblem, DiggProblemKind, Issue};
use super::read::{message_path, MESSAGE_PART_ID};
use super::scopes::Operation;
use super::DIGG_MAX_REQUEST_BYTES;
use crate::api::auth::{AddressRef, Caller};
use crate::api::json_response;
use crate::msh::node::SPOOL_DIR;
use crate::msh::{Node, Submission, SubmitError, SubmittedPayload};
use crate::sdk::message_v3::{MessageError, SdkMessage, MESSAGE_V3_DOCUMENT_TYPE};
use crate::sdk::xhe::{
    BusinessScope, Participant, PayloadContent, Xhe, XheError, XhePayload, DOCUMENT_ID_SCHEME, PROCESS_ID_SCHEME,
};
use crate::store::{State, StoreError};

/// FEDERATIONID of the XHE envelopes this API writes (the value of DIGG's XHE examples).
pub const SDK_FEDERATION_ID: &str = "urn:fdc:digg.se:edelivery:federation:sdk";
/// The XHE DOCUMENTID of an SDK message v3 (the SDK P-Mode's action without its `busdox-docid-qns::` scheme).
pub const SDK_MESSAGE_DOCUMENT_ID: &str =
    "urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base-ext-sigenc";

fn bad(title: &str, detail: impl Into<String>, location: &str) -> Response<Full<Bytes>> {
    DiggProblem::bad_request(title, detail, location).into_response()
}

pub(super) async fn send<B>(node: &Node, caller: &Caller, request: Request<B>) -> Response<Full<Bytes>>
where
    B: hyper::body::Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let content_type = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence != "application/json" && essence != "application/vnd.api+json" {
        return bad(
            "Input isn't valid with respect to schema",
            format!("Content-Type must be application/json, not {content_type:?}"),
            "header.Content-Type",
        );
    }
    let limit = DIGG_MAX_REQUEST_BYTES.min(node.config().limits.max_message_bytes);
    let body = match Limited::new(request.into_body(), usize::try_from(limit).unwrap_or(usize::MAX))
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return DiggProblem::new(
                DiggProblemKind::TooLarge,
                "Request message is too large",
                format!("the request body must not be larger than {limit} bytes"),
            )
            .into_response()
        }
        Err(e) => return bad("The request body could not be read", e.to_string(), "body"),
    };
    let document: CreateDocument = match serde_json::from_slice(&body) {
        Ok(d) => d,
        Err(e) => return bad("Input isn't valid with respect to schema", e.to_string(), "body"),
    };
    drop(body);
    let message = match document.data.to_sdk_message() {
        Ok(m) => m,
        Err(e) => return bad("Input isn't valid with respect to schema", e.message, &e.location),
    };
    let sender = message.header.sender.id.extension.clone();
    let recipient = message.header.recipient.id.extension.clone();
    let sender_address = message
        .header
        .sender
        .attention
        .as_ref()
        .map(|a| a.sub_organization.id.extension.clone());
    if !caller.allows(
        Operation::SendMessage.permission(),
        AddressRef {
            organisation: &sender,
            functional_address: sender_address.as_deref(),
        },
    ) {
        return DiggProblem::new(
            DiggProblemKind::Unauthorized,
            "Not authorised to send for this sender",
            format!(
                "this client may not send as {sender} / {}",
                sender_address.as_deref().unwrap_or("(no functional address)")
            ),
        )
        .into_response();
    }
    let xhe_xml = match envelope(&message) {
        Ok(x) => x,
        Err(response) => return response,
    };
    // The envelope is spooled to a file (the submission API takes files) and copied into the store by submit.
    let spool = node.config().node.data_dir.join(SPOOL_DIR);
    let file = tempfile::NamedTempFile::new_in(&spool).and_then(|mut f| {
        f.write_all(xhe_xml.as_bytes())?;
        f.flush()?;
        Ok(f)
    });
    let file = match file {
        Ok(f) => f,
        Err(e) => {
            return DiggProblem::new(DiggProblemKind::Unavailable, "The spool folder failed", e.to_string())
                .into_response()
        }
    };
    let submission = Submission {
        // Resolved from the final recipient by submit ([[peers]] participants, then SML/SMP).
        to_party: None,
        to_party_type: None,
        pmode_id: Some(pmode::builtin::SDK_MESSAGE_ID.into()),
        service: pmode::builtin::SDK_SERVICE.into(),
        service_type: Some(PROCESS_ID_SCHEME.into()),
        action: pmode::builtin::SDK_MESSAGE_ACTION.into(),
        original_sender: sender.clone(),
        final_recipient: recipient,
        conversation_id: Some(message.header.conversation_id.clone()),
        tracking_identifier: None,
        payloads: vec![SubmittedPayload {
            path: file.path().to_path_buf(),
            mime_type: "text/xml".into(),
            content_id: Some(MESSAGE_PART_ID.into()),
        }],
        actor: caller.actor().to_string(),
    };
    let result = node.submit(submission).await;
    drop(file);
    let accepted = match result {
        Ok(a) => a,
        Err(SubmitError::Store(StoreError::PayloadTooLarge { limit })) => {
            return DiggProblem::new(
                DiggProblemKind::TooLarge,
                "Request message is too large",
                format!("the message must not be larger than {limit} bytes"),
            )
            .into_response()
        }
        Err(SubmitError::Store(e)) => {
            return DiggProblem::new(DiggProblemKind::Unavailable, "The message store failed", e.to_string())
                .into_response()
        }
        Err(e) => return bad("The message cannot be sent", e.to_string(), "data.attributes"),
    };
    tracing::info!(actor = caller.actor(), message_id = %accepted.message_id, sdk_message_id = %message.header.message_id,
        sender = %sender, "digg api: sendMessage");
    let location = message_path(&accepted.message_id);
    let mut attributes = attributes_of(&message, super::lifecycle::digg_status(State::Submitted), false);
    let status = super::lifecycle::digg_status(State::Submitted);
    attributes.events = Some(events(
        &location,
        status,
        None,
        &[],
        &super::lifecycle::KvittensFact::None,
    ));
    let body = top_level(&location, resource(&accepted.message_id, &attributes));
    let mut response = json_response(StatusCode::CREATED, &body, "application/json");
    if let Ok(value) = http::HeaderValue::from_str(&location) {
        response.headers_mut().insert(http::header::LOCATION, value);
    }
    response
}

/// The XHE envelope around the rendered SDK message, or the 400 naming every rule the message breaks.
fn envelope(message: &SdkMessage) -> Result<String, Response<Full<Bytes>>> {
    let rendered = message.render().map_err(|e| match e {
        MessageError::Rules(violations) => DiggProblem {
            kind: DiggProblemKind::BadRequest,
            detail: super::problem::MESSAGE_EXCHANGE_ERROR.into(),
            issues: violations
                .iter()
                .map(|v| {
                    Issue::refused(
                        format!("Input isn't valid with respect to the SDK message rule {}", v.rule),
                        v.message.clone(),
                        "data.attributes",
                    )
                })
                .collect(),
        }
        .into_response(),
        other => bad(
            "Input isn't valid with respect to schema",
            other.to_string(),
            "data.attributes",
        ),
    })?;
    let fragment = rendered
        .trim()
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        .unwrap_or(&rendered)
        .trim()
        .to_string();
    let xhe = Xhe {
        id: uuid::Uuid::new_v4().to_string(),
        creation_date_time: sdk_timestamp_now(),
        scope: BusinessScope {
            document_id: SDK_MESSAGE_DOCUMENT_ID.into(),
            document_id_scheme: DOCUMENT_ID_SCHEME.into(),
            process_id: pmode::builtin::SDK_SERVICE.into(),
            process_id_scheme: PROCESS_ID_SCHEME.into(),
            federation_id: SDK_FEDERATION_ID.into(),
        },
        from: Participant::sdk(message.header.sender.id.extension.clone()),
        to: Participant::sdk(message.header.recipient.id.extension.clone()),
        payload: XhePayload {
            document_type_code: MESSAGE_V3_DOCUMENT_TYPE.into(),
            content_type_code: "application/xml".into(),
            handling_service_id: None,
            content: PayloadContent::Xml(fragment),
        },
    };
    xhe.render().map_err(|e| match e {
        XheError::Rules(violations) => DiggProblem {
            kind: DiggProblemKind::BadRequest,
            detail: super::problem::MESSAGE_EXCHANGE_ERROR.into(),
            issues: violations
                .iter()
                .map(|v| {
                    Issue::refused(
                        format!("The XHE envelope breaks rule {}", v.rule),
                        v.message.clone(),
                        "data.attributes",
                    )
                })
                .collect(),
        }
        .into_response(),
        other => bad("The message cannot be enveloped", other.to_string(), "data.attributes"),
    })
}

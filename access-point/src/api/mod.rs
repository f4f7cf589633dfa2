//! The local API for message systems: a plain-HTTP listener on `[api] listen` (default `127.0.0.1:8080`), separate
//! from the AS4 server.
//!
//! Routes (this first part is what `sdk-ap send` and `sdk-ap status` need; the full API of issue 6 extends it):
//! * `POST /api/v1/messages`: a `multipart/form-data` upload. The first part is the submission metadata as
//!   `application/json` ([`submit::SubmitRequest`]); every further part is one payload (its `Content-Type` is the
//!   payload's MIME type). Payloads stream to the spool folder, then [`crate::msh::Node::submit`] stores the message
//!   durably; only then the answer is `202 Accepted` with `{"message_id", "pmode_id"}` and a `Location` header.
//! * `GET /api/v1/messages/{message_id}`: state, state history, payload list and receipt summary
//!   ([`status::MessageView`]); outbound first, then inbound.
//! * `GET /api/v1/status`: the [`crate::store::StatusReport`] JSON (counts by direction and state, last errors).
//!
//! Errors are RFC 9457 `application/problem+json` documents whose `type` is a stable URN from [`ProblemType`].
//!
//! There is no authentication yet (it comes with the full API): the listener refuses a non-loopback address unless
//! `[api] allow_non_loopback = true`.

pub mod audit;
pub mod auth;
pub mod client;
pub mod digg;
pub mod events;
pub mod idempotency;
pub mod inbox;
pub mod openapi;
pub mod server;
pub mod status;
pub mod submit;
pub mod tokens;
pub mod webhooks;

pub use client::{ApiClient, ClientError};
pub use server::{ApiServer, ApiStartError};

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;

/// Path prefix of every route.
pub const API_PREFIX: &str = "/api/v1";

/// The body of every API response: whole documents ([`Full`]) and streams (server-sent events) alike.
pub type ApiBody = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

/// A whole-document response as an [`ApiBody`] response.
pub fn boxed(response: Response<Full<Bytes>>) -> Response<ApiBody> {
    use http_body_util::BodyExt;
    response.map(|body| body.map_err(|never| match never {}).boxed_unsync())
}

/// The stable problem types of the API (`type` member of a problem document).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemType {
    /// The request is malformed (bad multipart body, bad metadata JSON, missing part).
    BadRequest,
    /// The submission does not fit any P-Mode or misses a field the P-Mode requires.
    InvalidSubmission,
    /// A payload or the whole upload exceeds a `[limits]` setting.
    TooLarge,
    /// No message with this id.
    NotFound,
    /// No such route or method.
    NoRoute,
    /// The store failed; nothing was accepted.
    StoreUnavailable,
    /// No or invalid credentials.
    Unauthorized,
    /// `[api.events] max_streams` event streams are open already.
    TooManyStreams,
    /// Authenticated, but the caller's scope does not cover this organisation / functional address.
    Forbidden,
    /// An `Idempotency-Key` already used by this caller for a different request.
    IdempotencyKeyReused,
    /// The inbox message is not in a state that allows the request (kvittens already sent, illegal ack).
    InboxConflict,
}

impl ProblemType {
    /// The `type` URN.
    pub fn uri(self) -> &'static str {
        match self {
            ProblemType::BadRequest => "urn:sdk-ap:problem:bad-request",
            ProblemType::InvalidSubmission => "urn:sdk-ap:problem:invalid-submission",
            ProblemType::TooLarge => "urn:sdk-ap:problem:too-large",
            ProblemType::NotFound => "urn:sdk-ap:problem:not-found",
            ProblemType::NoRoute => "urn:sdk-ap:problem:no-route",
            ProblemType::StoreUnavailable => "urn:sdk-ap:problem:store-unavailable",
            ProblemType::Unauthorized => "urn:sdk-ap:problem:unauthorized",
            ProblemType::TooManyStreams => "urn:sdk-ap:problem:too-many-streams",
            ProblemType::Forbidden => "urn:sdk-ap:problem:forbidden",
            ProblemType::IdempotencyKeyReused => "urn:sdk-ap:problem:idempotency-key-reused",
            ProblemType::InboxConflict => "urn:sdk-ap:problem:inbox-conflict",
        }
    }

    /// The HTTP status that goes with it.
    pub fn status(self) -> StatusCode {
        match self {
            ProblemType::BadRequest => StatusCode::BAD_REQUEST,
            ProblemType::InvalidSubmission => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemType::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemType::NotFound => StatusCode::NOT_FOUND,
            ProblemType::NoRoute => StatusCode::NOT_FOUND,
            ProblemType::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ProblemType::Unauthorized => StatusCode::UNAUTHORIZED,
            ProblemType::TooManyStreams => StatusCode::SERVICE_UNAVAILABLE,
            ProblemType::Forbidden => StatusCode::FORBIDDEN,
            ProblemType::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemType::InboxConflict => StatusCode::CONFLICT,
        }
    }

    fn title(self) -> &'static str {
        match self {
            ProblemType::BadRequest => "Bad request",
            ProblemType::InvalidSubmission => "Invalid submission",
            ProblemType::TooLarge => "Too large",
            ProblemType::NotFound => "Message not found",
            ProblemType::NoRoute => "No such route",
            ProblemType::StoreUnavailable => "Store unavailable",
            ProblemType::Unauthorized => "Unauthorized",
            ProblemType::TooManyStreams => "Too many event streams",
            ProblemType::Forbidden => "Forbidden",
            ProblemType::IdempotencyKeyReused => "Idempotency key reused",
            ProblemType::InboxConflict => "Inbox conflict",
        }
    }
}

/// An RFC 9457 problem response.
pub fn problem(kind: ProblemType, detail: impl Into<String>) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "type": kind.uri(),
        "title": kind.title(),
        "status": kind.status().as_u16(),
        "detail": detail.into(),
    });
    json_response(kind.status(), &body, "application/problem+json")
}

/// A JSON response.
pub fn json_response(status: StatusCode, body: &serde_json::Value, content_type: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    if let Ok(value) = http::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(http::header::CONTENT_TYPE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_documents_carry_type_status_and_detail() {
        let response = problem(ProblemType::NotFound, "no message x");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            response.headers()[http::header::CONTENT_TYPE],
            "application/problem+json"
        );
    }
}

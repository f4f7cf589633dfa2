//! DIGG's problem format (the `Events` schema of DIGG's file: RFC 7807 members plus `eventIssues`), used for every
//! error answer of `/v1/sdk/messages`.
//!
//! `type` is `urn:problem-type:sdk:badRequest` for a request that breaks the specification (KV Type of B1.4.2, the
//! only synchronous problem type DIGG defines); the other answers use types of the same family that DIGG does not
//! list: `…:unauthorized`, `…:notFound`, `…:serviceUnavailable`. `instance` is a fresh `urn:uuid:` for this occurrence
//! (it is logged, so an operator can find the request). Each `eventIssues` entry names one problem: `typeCode`
//! (a KV Meddelandestatus code, `MESSAGE_EXCHANGE_ERROR` for a refused request), `title`, `detail`, and `in` (where
//! in the request).

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;

use crate::api::json_response;

/// The KV Meddelandestatus code DIGG puts in `detail` and `typeCode` of a refused request.
pub const MESSAGE_EXCHANGE_ERROR: &str = "MESSAGE_EXCHANGE_ERROR";

/// What went wrong, as one of DIGG's problem types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiggProblemKind {
    /// 400: the request breaks DIGG's specification (schema, SDK message rules, unknown filter, non-final delete).
    BadRequest,
    /// 401: no or insufficient authority (B1.4.2: "Behörighet saknas"), including a sender outside the caller's scope.
    Unauthorized,
    /// 404: no such message, or not one the caller may see.
    NotFound,
    /// 413: the request body exceeds [`super::DIGG_MAX_REQUEST_BYTES`] or `[limits] max_message_bytes`.
    TooLarge,
    /// 503: the store failed; nothing was changed.
    Unavailable,
}

impl DiggProblemKind {
    pub fn uri(self) -> &'static str {
        match self {
            DiggProblemKind::BadRequest => "urn:problem-type:sdk:badRequest",
            DiggProblemKind::Unauthorized => "urn:problem-type:sdk:unauthorized",
            DiggProblemKind::NotFound => "urn:problem-type:sdk:notFound",
            DiggProblemKind::TooLarge => "urn:problem-type:sdk:payloadTooLarge",
            DiggProblemKind::Unavailable => "urn:problem-type:sdk:serviceUnavailable",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            DiggProblemKind::BadRequest => StatusCode::BAD_REQUEST,
            DiggProblemKind::Unauthorized => StatusCode::UNAUTHORIZED,
            DiggProblemKind::NotFound => StatusCode::NOT_FOUND,
            DiggProblemKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            DiggProblemKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn title(self) -> &'static str {
        match self {
            DiggProblemKind::BadRequest => "Bad Request",
            DiggProblemKind::Unauthorized => "Unauthorized",
            DiggProblemKind::NotFound => "Not Found",
            DiggProblemKind::TooLarge => "Payload Too Large",
            DiggProblemKind::Unavailable => "Service Unavailable",
        }
    }
}

/// One entry of `eventIssues`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    #[serde(rename = "typeCode")]
    pub type_code: String,
    pub title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
    #[serde(rename = "in", skip_serializing_if = "String::is_empty")]
    pub location: String,
    #[serde(rename = "dateTime", skip_serializing_if = "String::is_empty")]
    pub date_time: String,
}

impl Issue {
    /// An issue of a refused request: `typeCode` MESSAGE_EXCHANGE_ERROR.
    pub fn refused(title: impl Into<String>, detail: impl Into<String>, location: impl Into<String>) -> Issue {
        Issue {
            type_code: MESSAGE_EXCHANGE_ERROR.into(),
            title: title.into(),
            detail: detail.into(),
            location: location.into(),
            date_time: String::new(),
        }
    }
}

/// A DIGG problem answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiggProblem {
    pub kind: DiggProblemKind,
    pub detail: String,
    pub issues: Vec<Issue>,
}

impl DiggProblem {
    /// A problem with one issue whose title is `title` and detail `detail`.
    pub fn new(kind: DiggProblemKind, title: impl Into<String>, detail: impl Into<String>) -> DiggProblem {
        DiggProblem {
            kind,
            detail: detail_code(kind).into(),
            issues: vec![Issue::refused(title, detail, "")],
        }
    }

    /// A 400 about one place of the request.
    pub fn bad_request(
        title: impl Into<String>,
        detail: impl Into<String>,
        location: impl Into<String>,
    ) -> DiggProblem {
        DiggProblem {
            kind: DiggProblemKind::BadRequest,
            detail: MESSAGE_EXCHANGE_ERROR.into(),
            issues: vec![Issue::refused(title, detail, location)],
        }
    }

    /// The JSON document.
    pub fn to_json(&self, instance: &str) -> serde_json::Value {
        serde_json::json!({
            "type": self.kind.uri(),
            "title": self.kind.title(),
            "status": self.kind.status().as_u16(),
            "detail": self.detail,
            "instance": instance,
            "eventIssues": self.issues,
        })
    }

    /// The HTTP answer (`application/json`, as DIGG's file declares for its problem responses).
    pub fn into_response(self) -> Response<Full<Bytes>> {
        let instance = format!("urn:uuid:{}", uuid::Uuid::new_v4());
        tracing::info!(%instance, status = self.kind.status().as_u16(), problem = self.kind.uri(),
            issues = ?self.issues.iter().map(|i| i.title.as_str()).collect::<Vec<_>>(), "digg api: problem answered");
        let mut response = json_response(self.kind.status(), &self.to_json(&instance), "application/json");
        if self.kind == DiggProblemKind::Unauthorized {
            response
                .headers_mut()
                .insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// DIGG's `detail` is a KV Meddelandestatus code for refused requests; other answers carry their title's code.
fn detail_code(kind: DiggProblemKind) -> &'static str {
    match kind {
        DiggProblemKind::BadRequest | DiggProblemKind::TooLarge => MESSAGE_EXCHANGE_ERROR,
        DiggProblemKind::Unauthorized => "UNAUTHORIZED",
        DiggProblemKind::NotFound => "NOT_FOUND",
        DiggProblemKind::Unavailable => "ERROR",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_request_has_digg_members() {
        let json = DiggProblem::bad_request("Input isn't valid", "missing label", "data.attributes.label").to_json("x");
        assert_eq!(json["type"], "urn:problem-type:sdk:badRequest");
        assert_eq!(json["status"], 400);
        assert_eq!(json["detail"], "MESSAGE_EXCHANGE_ERROR");
        assert_eq!(json["eventIssues"][0]["typeCode"], "MESSAGE_EXCHANGE_ERROR");
        assert_eq!(json["eventIssues"][0]["in"], "data.attributes.label");
    }

    #[test]
    fn unauthorized_answers_carry_www_authenticate() {
        let response = DiggProblem::new(DiggProblemKind::Unauthorized, "no scope", "").into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[http::header::WWW_AUTHENTICATE], "Bearer");
    }
}

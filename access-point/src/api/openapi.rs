//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of everything the local API listener serves (our own
//! `/api/v1` API and DIGG's `/v1/sdk` message-client API), kept in `openapi.json` next to this file and compiled in.
//!
//! `tests/api_openapi.rs` keeps it honest: it is structurally valid OpenAPI 3.1, every documented operation is
//! routed on a live server, every route of `server.rs` is documented, and schemathesis finds no server error.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;

/// The document, as served.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// The document parsed (it is checked to parse by a unit test, so this never fails at run time).
pub fn document() -> serde_json::Value {
    serde_json::from_str(OPENAPI_JSON).unwrap_or_default()
}

pub(super) fn handle() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(OPENAPI_JSON.as_bytes())));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_json_and_openapi_3_1() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI_JSON).expect("openapi.json parses");
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
        assert!(doc["paths"].as_object().is_some_and(|p| !p.is_empty()));
    }
}

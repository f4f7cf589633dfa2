//! Submissions to the sender's local API over kept-alive HTTP/1.1 connections, with the request body built once.
//!
//! Why: `ApiClient` (the `sdk-ap send` client) opens a connection per call and streams the payload file each time.
//! In a load run that costs the measured AP an accept, a connection task and a close per message, and costs the
//! load tool (which shares the cores with the APs) a file read and a multipart assembly per message. Here the
//! multipart body (metadata + the payload) is assembled once and each submission sends the same bytes (each gets its
//! own MessageId from the AP); connections return to a pool after a complete exchange. Payloads above
//! [`MAX_PREBUILT_BYTES`] are not held in memory: they go through `ApiClient`, streamed from the file.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Mutex;

use access_point::api::client::UploadPayload;
use access_point::api::submit::{SubmitRequest, SubmitResponse};
use access_point::api::ApiClient;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// Largest payload whose multipart body is built once and kept in memory.
pub const MAX_PREBUILT_BYTES: u64 = 16 << 20;
/// Largest answer read from a submission (a small JSON document).
const MAX_ANSWER_BYTES: usize = 1 << 20;
/// The multipart boundary of the prebuilt body (the payload is random bytes of a fixed seed; a 32-character
/// boundary behind `--` and CRLF does not occur in it by chance, and [`PreparedBody::build`] checks anyway).
const BOUNDARY: &str = "sdk-ap-load-3f6b1c0e9d2a47a8b5c4e1f0";

/// A submission body assembled once.
#[derive(Clone)]
struct PreparedBody {
    bytes: Bytes,
    content_type: String,
}

impl PreparedBody {
    /// The same `multipart/form-data` layout `ApiClient::submit` sends: the metadata part, then the payload.
    fn build(metadata: &SubmitRequest, payload: &UploadPayload) -> Result<PreparedBody, String> {
        let content = std::fs::read(&payload.path).map_err(|e| format!("{}: {e}", payload.path.display()))?;
        let delimiter = format!("\r\n--{BOUNDARY}");
        if content.windows(delimiter.len()).any(|w| w == delimiter.as_bytes()) {
            return Err(format!("{} contains the multipart boundary", payload.path.display()));
        }
        let json = serde_json::to_vec(metadata).map_err(|e| e.to_string())?;
        let name = file_name(&payload.path);
        let mut body = Vec::with_capacity(content.len() + json.len() + 512);
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(&json);
        body.extend_from_slice(
            format!(
                "\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"payload0\"; filename=\"{name}\"\r\nContent-Type: {}\r\n\r\n",
                payload.mime_type
            )
            .as_bytes(),
        );
        body.extend_from_slice(&content);
        body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        Ok(PreparedBody {
            bytes: Bytes::from(body),
            content_type: format!("multipart/form-data; boundary={BOUNDARY}"),
        })
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().replace(['"', '\r', '\n', '\\'], "_"))
        .unwrap_or_default()
}

/// Submits one message (always the same metadata and payload) to one AP's local API.
pub struct Submitter {
    addr: SocketAddr,
    authorization: Option<http::HeaderValue>,
    metadata: SubmitRequest,
    payload: UploadPayload,
    prepared: Option<PreparedBody>,
    /// Connections whose last exchange completed, ready for the next request.
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
    /// Connections opened so far (a figure for the report: should stay near the concurrency).
    opened: std::sync::atomic::AtomicUsize,
}

impl Submitter {
    /// For the AP at `addr` configured by `config` (its operator token, when the API authenticates).
    pub fn new(
        addr: SocketAddr,
        config: &access_point::config::Config,
        metadata: SubmitRequest,
        payload: UploadPayload,
    ) -> Result<Submitter, String> {
        let authorization = match super::events::operator_token(config).map_err(|e| e.to_string())? {
            Some(token) => {
                let mut value = http::HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| e.to_string())?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        let size = std::fs::metadata(&payload.path)
            .map_err(|e| format!("{}: {e}", payload.path.display()))?
            .len();
        let prepared = if size <= MAX_PREBUILT_BYTES {
            Some(PreparedBody::build(&metadata, &payload)?)
        } else {
            None
        };
        Ok(Submitter {
            addr,
            authorization,
            metadata,
            payload,
            prepared,
            idle: Mutex::new(Vec::new()),
            opened: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// Connections opened so far.
    pub fn connections_opened(&self) -> usize {
        self.opened.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Submits the message; its MessageId. `fallback` streams large payloads (not prebuilt) from the file.
    pub async fn submit(&self, fallback: &ApiClient) -> Result<String, String> {
        let Some(prepared) = &self.prepared else {
            return fallback
                .submit(&self.metadata, std::slice::from_ref(&self.payload))
                .await
                .map(|r| r.message_id)
                .map_err(|e| format!("submit: {e}"));
        };
        let mut connection = self.connection().await?;
        let mut request = http::Request::post("/api/v1/messages")
            .header(http::header::HOST, self.addr.to_string())
            .header(http::header::CONTENT_TYPE, prepared.content_type.as_str())
            .body(Full::new(prepared.bytes.clone()))
            .map_err(|e| e.to_string())?;
        if let Some(value) = &self.authorization {
            request.headers_mut().insert(http::header::AUTHORIZATION, value.clone());
        }
        let response = connection
            .send_request(request)
            .await
            .map_err(|e| format!("submit: {e}"))?;
        let status = response.status();
        let answer = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| format!("submit answer: {e}"))?
            .to_bytes();
        // Only a connection whose exchange completed goes back (hyper keeps it open unless either side said close).
        if !connection.is_closed() {
            self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(connection);
        }
        if status != http::StatusCode::ACCEPTED && status != http::StatusCode::OK {
            return Err(format!(
                "submit: HTTP {status}: {}",
                String::from_utf8_lossy(&answer[..answer.len().min(500)])
            ));
        }
        let accepted: SubmitResponse = serde_json::from_slice(&answer).map_err(|e| format!("submit answer: {e}"))?;
        Ok(accepted.message_id)
    }

    /// An idle connection that is still open, or a new one.
    async fn connection(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let Some(mut connection) = idle else { break };
            if connection.ready().await.is_ok() {
                return Ok(connection);
            }
        }
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connecting to {}: {e}", self.addr))?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP/1.1 with {}: {e}", self.addr))?;
        tokio::spawn(async move { drop(connection.await) });
        self.opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(sender)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata() -> SubmitRequest {
        SubmitRequest {
            to: "AP0002-DEV".into(),
            ..SubmitRequest::default()
        }
    }

    #[test]
    fn the_prebuilt_body_is_the_client_layout_around_the_payload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("payload.bin");
        std::fs::write(&path, b"0123456789").unwrap();
        let payload = UploadPayload {
            path,
            mime_type: "application/octet-stream".into(),
        };
        let body = PreparedBody::build(&metadata(), &payload).unwrap();
        let text = String::from_utf8(body.bytes.to_vec()).unwrap();
        assert!(text.starts_with(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"metadata\""
        )));
        assert!(text.contains(
            "name=\"payload0\"; filename=\"payload.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n0123456789\r\n"
        ));
        assert!(text.ends_with(&format!("\r\n--{BOUNDARY}--\r\n")));
        assert_eq!(body.content_type, format!("multipart/form-data; boundary={BOUNDARY}"));
    }

    #[test]
    fn a_payload_holding_the_boundary_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        std::fs::write(&path, format!("x\r\n--{BOUNDARY}y")).unwrap();
        let payload = UploadPayload {
            path,
            mime_type: "application/octet-stream".into(),
        };
        assert!(PreparedBody::build(&metadata(), &payload).is_err());
    }
}

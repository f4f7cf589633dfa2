//! A small client of the local API, used by `sdk-ap send` and `sdk-ap status` (plain HTTP/1.1 over loopback).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;

use super::status::MessageView;
use super::submit::{SubmitRequest, SubmitResponse};

/// Largest API answer the client reads (answers are small JSON documents).
pub const MAX_ANSWER_BYTES: usize = 4 << 20;

/// What went wrong talking to the API.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens at the address (the server is not running, or `[api] listen` differs).
    #[error("cannot connect to the API at {addr}: {source}")]
    Connect { addr: SocketAddr, source: std::io::Error },
    #[error("HTTP exchange with the API failed: {0}")]
    Http(String),
    /// The API answered with a problem document.
    #[error("{status}: {detail} ({problem_type})")]
    Problem {
        status: StatusCode,
        problem_type: String,
        detail: String,
    },
    #[error("cannot read payload {path}: {source}")]
    Payload { path: PathBuf, source: std::io::Error },
    #[error("unexpected answer: {0}")]
    Answer(String),
}

/// One payload to upload: a file and its MIME type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadPayload {
    pub path: PathBuf,
    pub mime_type: String,
}

type BodyStream = Pin<Box<dyn Stream<Item = Result<Frame<Bytes>, std::io::Error>> + Send>>;

/// A client for the API at one address.
#[derive(Debug, Clone, Copy)]
pub struct ApiClient {
    addr: SocketAddr,
}

impl ApiClient {
    pub fn new(addr: SocketAddr) -> ApiClient {
        ApiClient { addr }
    }

    /// `POST /api/v1/messages`, streaming the payload files.
    pub async fn submit(
        &self,
        metadata: &SubmitRequest,
        payloads: &[UploadPayload],
    ) -> Result<SubmitResponse, ClientError> {
        let boundary = format!("sdk-ap-{}", uuid::Uuid::new_v4().simple());
        let mut pieces: Vec<BodyStream> = Vec::new();
        let json = serde_json::to_vec(metadata).map_err(|e| ClientError::Answer(e.to_string()))?;
        let head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n"
        );
        pieces.push(bytes_stream([Bytes::from(head), Bytes::from(json)]));
        for (index, payload) in payloads.iter().enumerate() {
            let file = tokio::fs::File::open(&payload.path)
                .await
                .map_err(|source| ClientError::Payload {
                    path: payload.path.clone(),
                    source,
                })?;
            let name = payload
                .path
                .file_name()
                .map(|n| n.to_string_lossy().replace(['"', '\r', '\n'], "_"))
                .unwrap_or_default();
            let head = format!(
                "\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"payload{index}\"; filename=\"{name}\"\r\nContent-Type: {}\r\n\r\n",
                payload.mime_type
            );
            pieces.push(bytes_stream([Bytes::from(head)]));
            let content = tokio_util::io::ReaderStream::with_capacity(file, 256 << 10).map(|r| r.map(Frame::data));
            pieces.push(Box::pin(content));
        }
        pieces.push(bytes_stream([Bytes::from(format!("\r\n--{boundary}--\r\n"))]));
        let body = StreamBody::new(futures_util::stream::iter(pieces).flatten());
        let request = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/messages")
            .header(http::header::HOST, self.addr.to_string())
            .header(
                http::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let (status, answer) = self.exchange(request).await?;
        if status != StatusCode::ACCEPTED {
            return Err(problem_error(status, &answer));
        }
        serde_json::from_slice(&answer).map_err(|e| ClientError::Answer(format!("submit answer: {e}")))
    }

    /// `GET /api/v1/messages/{id}`; `None` when the API does not know the message.
    pub async fn message(&self, message_id: &str) -> Result<Option<MessageView>, ClientError> {
        let path = format!("/api/v1/messages/{}", super::server::percent_encode(message_id));
        let (status, answer) = self.get(&path).await?;
        match status {
            StatusCode::OK => serde_json::from_slice(&answer)
                .map(Some)
                .map_err(|e| ClientError::Answer(format!("message view: {e}"))),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(problem_error(status, &answer)),
        }
    }

    /// `GET /api/v1/status`: the status JSON.
    pub async fn status(&self) -> Result<serde_json::Value, ClientError> {
        let (status, answer) = self.get("/api/v1/status").await?;
        if status != StatusCode::OK {
            return Err(problem_error(status, &answer));
        }
        serde_json::from_slice(&answer).map_err(|e| ClientError::Answer(format!("status: {e}")))
    }

    async fn get(&self, path: &str) -> Result<(StatusCode, Bytes), ClientError> {
        let request = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(http::header::HOST, self.addr.to_string())
            .body(Full::new(Bytes::new()))
            .map_err(|e| ClientError::Http(e.to_string()))?;
        self.exchange(request).await
    }

    async fn exchange<B>(&self, request: Request<B>) -> Result<(StatusCode, Bytes), ClientError>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|source| ClientError::Connect {
                addr: self.addr,
                source,
            })?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let driver = tokio::spawn(connection);
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let status = response.status();
        let body = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?
            .to_bytes();
        driver.abort();
        Ok((status, body))
    }
}

fn bytes_stream<const N: usize>(chunks: [Bytes; N]) -> BodyStream {
    Box::pin(futures_util::stream::iter(
        chunks.into_iter().map(|b| Ok(Frame::data(b))),
    ))
}

fn problem_error(status: StatusCode, answer: &[u8]) -> ClientError {
    let value: serde_json::Value = serde_json::from_slice(answer).unwrap_or_default();
    ClientError::Problem {
        status,
        problem_type: value["type"].as_str().unwrap_or("").to_string(),
        detail: value["detail"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&answer[..answer.len().min(500)]).into_owned()),
    }
}

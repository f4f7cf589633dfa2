//! A small client of the local API, used by `sdk-ap send`, `status` and `inbox`: HTTP/1.1, plain on loopback or
//! over TLS (`[api.tls]`, see [`tls`]) with an optional client certificate.

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
use super::tokens::ApiToken;

mod inbox;
pub mod tls;
pub use inbox::{Downloaded, InboxFilter};
pub use tls::{ApiServerTrust, ClientTls};

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
    /// No usable token: `--token`, `SDK_AP_TOKEN` or `[api] client_token_file` is malformed or unreadable.
    #[error("API token: {0}")]
    Token(String),
    /// The TLS settings are unusable, or the TLS handshake with the API failed (server certificate not trusted,
    /// client certificate refused).
    #[error("TLS with the API: {0}")]
    Tls(String),
}

/// The environment variable `sdk-ap send` / `status` read a token from.
pub const TOKEN_ENV: &str = "SDK_AP_TOKEN";

/// One payload to upload: a file and its MIME type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadPayload {
    pub path: PathBuf,
    pub mime_type: String,
}

/// Options of [`ApiClient::submit_with`].
#[derive(Clone, Default)]
pub struct SubmitOptions {
    /// Sent as the `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
    /// Called with (bytes sent, total bytes) as the body streams out.
    pub progress: Option<std::sync::Arc<dyn Fn(u64, u64) + Send + Sync>>,
}

/// The answer to a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitAnswer {
    pub response: SubmitResponse,
    /// True when the API answered with the first answer to this `Idempotency-Key` (nothing new was stored).
    pub replayed: bool,
}

type BodyStream = Pin<Box<dyn Stream<Item = Result<Frame<Bytes>, std::io::Error>> + Send>>;

/// A client for the API at one address, sending a bearer token when it has one, over TLS when it has
/// [`ClientTls`].
#[derive(Debug, Clone)]
pub struct ApiClient {
    addr: SocketAddr,
    token: Option<ApiToken>,
    tls: Option<ClientTls>,
}

impl ApiClient {
    /// A client without a token (for `[api] authentication = "none"`).
    pub fn new(addr: SocketAddr) -> ApiClient {
        ApiClient {
            addr,
            token: None,
            tls: None,
        }
    }

    /// The same client, speaking HTTPS (with the client certificate `tls` carries, if any).
    pub fn with_tls(self, tls: ClientTls) -> ApiClient {
        ApiClient { tls: Some(tls), ..self }
    }

    /// The same client, sending `Authorization: Bearer <token>`.
    pub fn with_token(self, token: ApiToken) -> ApiClient {
        ApiClient {
            token: Some(token),
            ..self
        }
    }

    /// A client of the node's API (`[api] listen`) with the credential chosen by precedence: `explicit` (e.g.
    /// `--token`), then `SDK_AP_TOKEN`, then (on a TLS API) the client certificate `[api] client_cert`, then the
    /// file `[api] client_token_file`; none when the API does not authenticate or nothing is configured (the
    /// server then answers 401 and says how to get a token). HTTPS when the configuration has `[api.tls]` or
    /// `[api] client_trust`.
    pub fn for_config(config: &crate::config::Config, explicit: Option<&str>) -> Result<ApiClient, ClientError> {
        ApiClient::new(config.api.listen).with_config_credentials(config, explicit)
    }

    /// The same client with the TLS settings and the credential [`ApiClient::for_config`] would choose (for a
    /// listener on another address, e.g. a test server on port 0).
    pub fn with_config_credentials(
        self,
        config: &crate::config::Config,
        explicit: Option<&str>,
    ) -> Result<ApiClient, ClientError> {
        let explicit_token = explicit.is_some() || std::env::var(TOKEN_ENV).is_ok_and(|t| !t.trim().is_empty());
        let client = match tls::ClientTls::for_config(config, !explicit_token)? {
            Some(tls) => {
                let certificate = tls.has_client_certificate();
                let client = self.with_tls(tls);
                if certificate {
                    // The certificate is the credential; a token beside it would be refused by the server.
                    return Ok(client);
                }
                client
            }
            None => self,
        };
        client.with_config_token(config, explicit)
    }

    /// The same client with the token [`ApiClient::for_config`] would choose (for a listener on another address,
    /// e.g. a test server on port 0).
    pub fn with_config_token(
        self,
        config: &crate::config::Config,
        explicit: Option<&str>,
    ) -> Result<ApiClient, ClientError> {
        let client = self;
        if let Some(text) = explicit {
            return parse_token(text, "--token").map(|t| client.with_token(t));
        }
        if let Ok(text) = std::env::var(TOKEN_ENV) {
            if !text.trim().is_empty() {
                return parse_token(&text, TOKEN_ENV).map(|t| client.with_token(t));
            }
        }
        if config.api.authentication == crate::config::ApiAuthentication::None {
            return Ok(client);
        }
        match &config.api.client_token_file {
            Some(path) => ApiToken::read_file(path)
                .map(|t| client.with_token(t))
                .map_err(|e| ClientError::Token(e.to_string())),
            None => Ok(client),
        }
    }

    /// `POST /api/v1/messages`, streaming the payload files.
    pub async fn submit(
        &self,
        metadata: &SubmitRequest,
        payloads: &[UploadPayload],
    ) -> Result<SubmitResponse, ClientError> {
        let value = serde_json::to_value(metadata).map_err(|e| ClientError::Answer(e.to_string()))?;
        Ok(self
            .submit_with(&value, payloads, &SubmitOptions::default())
            .await?
            .response)
    }

    /// `POST /api/v1/messages` with any metadata document (e.g. an SDK submission,
    /// [`super::submit::SdkSubmitRequest`]), streaming the files in order; reports progress and sends an
    /// `Idempotency-Key` as `options` say. Accepts `202` and a replayed `200`.
    pub async fn submit_with(
        &self,
        metadata: &serde_json::Value,
        payloads: &[UploadPayload],
        options: &SubmitOptions,
    ) -> Result<SubmitAnswer, ClientError> {
        let boundary = format!("sdk-ap-{}", uuid::Uuid::new_v4().simple());
        let mut pieces: Vec<BodyStream> = Vec::new();
        let json = serde_json::to_vec(metadata).map_err(|e| ClientError::Answer(e.to_string()))?;
        let head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n"
        );
        let mut total = (head.len() + json.len()) as u64;
        pieces.push(bytes_stream([Bytes::from(head), Bytes::from(json)]));
        for (index, payload) in payloads.iter().enumerate() {
            let file = tokio::fs::File::open(&payload.path)
                .await
                .map_err(|source| ClientError::Payload {
                    path: payload.path.clone(),
                    source,
                })?;
            let size = file
                .metadata()
                .await
                .map_err(|source| ClientError::Payload {
                    path: payload.path.clone(),
                    source,
                })?
                .len();
            let name = payload
                .path
                .file_name()
                .map(|n| n.to_string_lossy().replace(['"', '\r', '\n', '\\'], "_"))
                .unwrap_or_default();
            let head = format!(
                "\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"payload{index}\"; filename=\"{name}\"\r\nContent-Type: {}\r\n\r\n",
                payload.mime_type
            );
            total += head.len() as u64 + size;
            pieces.push(bytes_stream([Bytes::from(head)]));
            let content = tokio_util::io::ReaderStream::with_capacity(file, 256 << 10).map(|r| r.map(Frame::data));
            pieces.push(Box::pin(content));
        }
        let tail = format!("\r\n--{boundary}--\r\n");
        total += tail.len() as u64;
        pieces.push(bytes_stream([Bytes::from(tail)]));
        let progress = options.progress.clone();
        let mut sent = 0u64;
        let counted = futures_util::stream::iter(pieces).flatten().inspect(move |frame| {
            if let (Some(report), Ok(frame)) = (&progress, frame) {
                if let Some(data) = frame.data_ref() {
                    sent += data.len() as u64;
                    report(sent, total);
                }
            }
        });
        let body = StreamBody::new(counted);
        let mut request = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/messages")
            .header(http::header::HOST, self.addr.to_string())
            .header(
                http::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            );
        if let Some(key) = &options.idempotency_key {
            request = request.header("Idempotency-Key", key.as_str());
        }
        let request = request.body(body).map_err(|e| ClientError::Http(e.to_string()))?;
        let (status, headers, answer) = self.exchange_with_headers(request).await?;
        if status != StatusCode::ACCEPTED && status != StatusCode::OK {
            return Err(problem_error(status, &answer));
        }
        let response =
            serde_json::from_slice(&answer).map_err(|e| ClientError::Answer(format!("submit answer: {e}")))?;
        Ok(SubmitAnswer {
            response,
            replayed: headers
                .get(super::idempotency::REPLAY_HEADER)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true")),
        })
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
        let (status, _, body) = self.exchange_with_headers(request).await?;
        Ok((status, body))
    }

    async fn exchange_with_headers<B>(
        &self,
        mut request: Request<B>,
    ) -> Result<(StatusCode, http::HeaderMap, Bytes), ClientError>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if let Some(token) = &self.token {
            let mut value = http::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|e| ClientError::Token(e.to_string()))?;
            value.set_sensitive(true);
            request.headers_mut().insert(http::header::AUTHORIZATION, value);
        }
        let (mut sender, driver) = self.connect().await?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?
            .to_bytes();
        driver.abort();
        Ok((status, headers, body))
    }

    /// Opens a connection (TCP, then TLS when configured) and starts HTTP/1.1 on it; the handle drives the
    /// connection (abort it when done).
    async fn connect<B>(
        &self,
    ) -> Result<(hyper::client::conn::http1::SendRequest<B>, tokio::task::JoinHandle<()>), ClientError>
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|source| ClientError::Connect {
                addr: self.addr,
                source,
            })?;
        let http = |e: hyper::Error| ClientError::Http(e.to_string());
        match &self.tls {
            None => {
                let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(http)?;
                Ok((sender, tokio::spawn(async move { drop(connection.await) })))
            }
            Some(tls) => {
                let stream = tls.handshake(self.addr, stream).await?;
                let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(http)?;
                Ok((sender, tokio::spawn(async move { drop(connection.await) })))
            }
        }
    }
}

fn parse_token(text: &str, source: &str) -> Result<ApiToken, ClientError> {
    ApiToken::parse(text).ok_or_else(|| {
        ClientError::Token(format!(
            "{source} does not hold a valid {}… token",
            super::tokens::TOKEN_PREFIX
        ))
    })
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

//! The AS4 HTTPS client: our TLS client certificate, server verified against the TLS trust store and the URL's
//! host name or IP address, pooled keep-alive connections, timeouts, streaming bodies both ways, typed errors.
//!
//! Pooling is our own small pool of hyper `http1::SendRequest` handles keyed by (scheme, host, port), not the
//! hyper-util legacy client: plugging rustls into that client needs a `tower::Service` connector (an extra crate)
//! and its errors are opaque, while the sender needs precise retry classification. A connection returns to the
//! pool only after its response body was read to the end; a dropped response closes it.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, TryStreamExt};
use http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::metrics::ApMetrics;
use super::TransportError;
use crate::config::{Config, TransportConfig};
use crate::pki::{NodeIdentity, TrustStore};

/// Client limits and timeouts (from `[transport]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub response_idle_timeout: Duration,
    pub max_response_bytes: u64,
    pub pool_idle_timeout: Duration,
    pub pool_max_idle_per_peer: usize,
    /// Allow `http://` URLs (loopback tests only).
    pub allow_plain_http: bool,
}

impl ClientSettings {
    pub fn from_transport(t: &TransportConfig, allow_plain_http: bool) -> ClientSettings {
        ClientSettings {
            connect_timeout: TransportConfig::ms(t.client_connect_timeout_ms),
            request_timeout: TransportConfig::ms(t.client_request_timeout_ms),
            response_idle_timeout: TransportConfig::ms(t.client_response_idle_timeout_ms),
            max_response_bytes: t.client_max_response_bytes,
            pool_idle_timeout: TransportConfig::ms(t.client_pool_idle_timeout_ms),
            pool_max_idle_per_peer: usize::try_from(t.client_pool_max_idle_per_peer).unwrap_or(usize::MAX),
            allow_plain_http,
        }
    }
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings::from_transport(&TransportConfig::default(), false)
    }
}

/// A failed exchange, classified for the sender's retry decision ([`ClientError::is_retryable`]).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid endpoint URL {0:?}")]
    InvalidUrl(String),
    #[error("plain http:// endpoint {0:?} refused (allow_plain_http is off)")]
    PlainHttpNotAllowed(String),
    #[error("cannot connect to {endpoint}: {source}")]
    Connect { endpoint: String, source: io::Error },
    #[error("connecting to {endpoint} took more than {timeout:?}")]
    ConnectTimeout { endpoint: String, timeout: Duration },
    #[error("TLS handshake with {endpoint} failed: {message}")]
    TlsHandshake { endpoint: String, message: String },
    #[error("no response head within {0:?}")]
    RequestTimeout(Duration),
    #[error("response body idle for more than {0:?}")]
    ResponseIdleTimeout(Duration),
    #[error("HTTP protocol error: {0}")]
    Protocol(String),
    #[error("HTTP status {status}: {excerpt}")]
    HttpStatus { status: StatusCode, excerpt: String },
    #[error("response body larger than {limit} bytes")]
    ResponseTooLarge { limit: u64 },
    #[error("request body source failed: {0}")]
    RequestBody(String),
}

impl ClientError {
    /// Whether trying again later may succeed: network, timeout, TLS handshake, protocol garbage, and HTTP 5xx,
    /// 408 and 429 are; a bad URL, refused plain HTTP, other 4xx, an oversized response and a failing local body
    /// source are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Connect { .. }
            | ClientError::ConnectTimeout { .. }
            | ClientError::TlsHandshake { .. }
            | ClientError::RequestTimeout(_)
            | ClientError::ResponseIdleTimeout(_)
            | ClientError::Protocol(_) => true,
            ClientError::HttpStatus { status, .. } => {
                status.is_server_error()
                    || *status == StatusCode::REQUEST_TIMEOUT
                    || *status == StatusCode::TOO_MANY_REQUESTS
            }
            ClientError::InvalidUrl(_)
            | ClientError::PlainHttpNotAllowed(_)
            | ClientError::ResponseTooLarge { .. }
            | ClientError::RequestBody(_) => false,
        }
    }
}

/// A request body: bytes in memory or a stream (a spooled file, a MIME writer). Streams are sent chunked unless
/// their length is given.
pub struct OutgoingBody {
    inner: BoxBody<Bytes, io::Error>,
    length: Option<u64>,
}

impl std::fmt::Debug for OutgoingBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingBody").field("length", &self.length).finish()
    }
}

impl OutgoingBody {
    pub fn bytes(data: impl Into<Bytes>) -> OutgoingBody {
        let data = data.into();
        OutgoingBody {
            length: Some(data.len() as u64),
            inner: Full::new(data).map_err(|e| match e {}).boxed(),
        }
    }

    /// No body.
    pub fn empty() -> OutgoingBody {
        OutgoingBody::bytes(Bytes::new())
    }

    /// A streamed body; `length`, when known, is sent as Content-Length (and must be exact).
    pub fn stream<S>(stream: S, length: Option<u64>) -> OutgoingBody
    where
        S: Stream<Item = io::Result<Bytes>> + Send + Sync + 'static,
    {
        OutgoingBody {
            inner: StreamBody::new(stream.map_ok(Frame::data)).boxed(),
            length,
        }
    }

    /// Streams a file from its current position to the end (64 KiB reads).
    pub async fn file(file: tokio::fs::File) -> io::Result<OutgoingBody> {
        let length = file.metadata().await?.len();
        let reader = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024);
        Ok(OutgoingBody::stream(reader, Some(length)))
    }
}

struct CountedBody {
    inner: BoxBody<Bytes, io::Error>,
    length: Option<u64>,
    metrics: Option<Arc<ApMetrics>>,
}

impl Body for CountedBody {
    type Data = Bytes;
    type Error = io::Error;
    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let (Poll::Ready(Some(Ok(frame))), Some(m)) = (&polled, &self.metrics) {
            if let Some(d) = frame.data_ref() {
                m.bytes_out.add(d.len() as u64);
            }
        }
        polled
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        match self.length {
            Some(n) => SizeHint::with_exact(n),
            None => self.inner.size_hint(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PeerKey {
    https: bool,
    host: String,
    port: u16,
}

impl PeerKey {
    fn endpoint(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

struct Idle {
    sender: SendRequest<CountedBody>,
    since: Instant,
}

struct Inner {
    settings: ClientSettings,
    tls: Option<TlsConnector>,
    pool: Mutex<HashMap<PeerKey, Vec<Idle>>>,
    metrics: Option<Arc<ApMetrics>>,
}

/// The AS4 client; cheap to clone, share one per process.
#[derive(Clone)]
pub struct As4Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for As4Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("As4Client")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl As4Client {
    /// A client with an explicit rustls configuration (`None`: no https, only for plain loopback tests).
    pub fn new(
        settings: ClientSettings,
        tls: Option<Arc<rustls::ClientConfig>>,
        metrics: Option<Arc<ApMetrics>>,
    ) -> As4Client {
        As4Client {
            inner: Arc::new(Inner {
                settings,
                tls: tls.map(TlsConnector::from),
                pool: Mutex::new(HashMap::new()),
                metrics,
            }),
        }
    }

    /// From the node configuration: our TLS key as client certificate, servers checked by `tls_trust`.
    pub fn from_config(
        config: &Config,
        identity: &NodeIdentity,
        tls_trust: &TrustStore,
        metrics: Option<Arc<ApMetrics>>,
    ) -> Result<As4Client, TransportError> {
        let tls = super::tls::client_config(identity.tls.as_ref(), tls_trust)?;
        let settings = ClientSettings::from_transport(&config.transport, config.server.allow_plain_http);
        Ok(As4Client::new(settings, Some(tls), metrics))
    }

    pub fn settings(&self) -> &ClientSettings {
        &self.inner.settings
    }

    /// Idle pooled connections to all peers (for tests and diagnostics).
    pub fn idle_connections(&self) -> usize {
        self.inner
            .pool
            .lock()
            .map(|p| p.values().map(Vec::len).sum())
            .unwrap_or(0)
    }

    /// POSTs `body` to `url` and returns the response head with a streaming body, whatever the status (an AS4
    /// error signal may come with a 4xx/5xx). Use [`ClientResponse::into_success`] to turn non-2xx into errors.
    pub async fn post(
        &self,
        url: &str,
        content_type: &str,
        extra_headers: &HeaderMap,
        body: OutgoingBody,
    ) -> Result<ClientResponse, ClientError> {
        self.request(Method::POST, url, Some(content_type), extra_headers, body)
            .await
    }

    /// A GET (e.g. a peer's `/readyz`, or scraping `/metrics` in tests).
    pub async fn get(&self, url: &str) -> Result<ClientResponse, ClientError> {
        self.request(Method::GET, url, None, &HeaderMap::new(), OutgoingBody::empty())
            .await
    }

    /// Any request; [`As4Client::post`] and [`As4Client::get`] are the usual entry points.
    pub async fn request(
        &self,
        method: Method,
        url: &str,
        content_type: Option<&str>,
        extra_headers: &HeaderMap,
        body: OutgoingBody,
    ) -> Result<ClientResponse, ClientError> {
        let (key, uri) = self.parse_url(url)?;
        let (mut sender, mut pooled) = match self.checkout(&key) {
            Some(s) => (s, true),
            None => (self.connect(&key).await?, false),
        };
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut builder = Request::builder().method(method.clone()).uri(path);
        let host = if (key.https && key.port == 443) || (!key.https && key.port == 80) {
            key.host.clone()
        } else {
            format!("{}:{}", uri.host().unwrap_or(&key.host), key.port)
        };
        builder = builder.header(header::HOST, host);
        if let Some(content_type) = content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        let mut request = builder
            .body(CountedBody {
                length: body.length,
                inner: body.inner,
                metrics: self.inner.metrics.clone(),
            })
            .map_err(|e| ClientError::InvalidUrl(format!("{url}: {e}")))?;
        for (name, value) in extra_headers {
            request.headers_mut().append(name, value.clone());
        }
        if let Some(n) = body.length.filter(|n| *n > 0 || method == Method::POST) {
            request
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        }
        let timeout = self.inner.settings.request_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let response = loop {
            match tokio::time::timeout_at(deadline, sender.try_send_request(request)).await {
                Err(_) => return Err(ClientError::RequestTimeout(timeout)),
                Ok(Ok(r)) => break r,
                Ok(Err(mut e)) => match e.take_message() {
                    // A pooled connection the peer closed while idle: nothing was sent, so a fresh one is safe.
                    Some(unsent) if pooled => {
                        request = unsent;
                        sender = self.connect(&key).await?;
                        pooled = false;
                    }
                    _ => return Err(classify_hyper_error(e.error(), &key.endpoint())),
                },
            }
        };
        let (parts, body) = response.into_parts();
        Ok(ClientResponse {
            status: parts.status,
            headers: parts.headers,
            body: ResponseStream {
                body,
                read: 0,
                limit: self.inner.settings.max_response_bytes,
                idle: self.inner.settings.response_idle_timeout,
                connection: Some((key, sender)),
                pool: Arc::downgrade(&self.inner),
                metrics: self.inner.metrics.clone(),
            },
        })
    }

    fn parse_url(&self, url: &str) -> Result<(PeerKey, Uri), ClientError> {
        let uri: Uri = url.parse().map_err(|_| ClientError::InvalidUrl(url.to_string()))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") if self.inner.settings.allow_plain_http => false,
            Some("http") => return Err(ClientError::PlainHttpNotAllowed(url.to_string())),
            _ => return Err(ClientError::InvalidUrl(url.to_string())),
        };
        let host = uri
            .host()
            .ok_or_else(|| ClientError::InvalidUrl(url.to_string()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok((PeerKey { https, host, port }, uri))
    }

    fn checkout(&self, key: &PeerKey) -> Option<SendRequest<CountedBody>> {
        let mut pool = self.inner.pool.lock().ok()?;
        let idle = pool.get_mut(key)?;
        while let Some(candidate) = idle.pop() {
            if candidate.since.elapsed() < self.inner.settings.pool_idle_timeout
                && !candidate.sender.is_closed()
                && candidate.sender.is_ready()
            {
                return Some(candidate.sender);
            }
        }
        None
    }

    async fn connect(&self, key: &PeerKey) -> Result<SendRequest<CountedBody>, ClientError> {
        let timeout = self.inner.settings.connect_timeout;
        let endpoint = key.endpoint();
        match tokio::time::timeout(timeout, self.connect_inner(key)).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::ConnectTimeout { endpoint, timeout }),
        }
    }

    async fn connect_inner(&self, key: &PeerKey) -> Result<SendRequest<CountedBody>, ClientError> {
        let endpoint = key.endpoint();
        let tcp = TcpStream::connect((key.host.as_str(), key.port))
            .await
            .map_err(|source| ClientError::Connect {
                endpoint: endpoint.clone(),
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        let handshake_error = |e: hyper::Error| ClientError::Protocol(e.to_string());
        if key.https {
            let connector = self.inner.tls.as_ref().ok_or_else(|| ClientError::TlsHandshake {
                endpoint: endpoint.clone(),
                message: "no TLS client configuration".to_string(),
            })?;
            let name = ServerName::try_from(key.host.clone()).map_err(|_| ClientError::InvalidUrl(key.host.clone()))?;
            let tls = connector
                .connect(name, tcp)
                .await
                .map_err(|e| ClientError::TlsHandshake {
                    endpoint: endpoint.clone(),
                    message: e.to_string(),
                })?;
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .map_err(handshake_error)?;
            tokio::spawn(connection);
            Ok(sender)
        } else {
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .map_err(handshake_error)?;
            tokio::spawn(connection);
            Ok(sender)
        }
    }
}

/// Sorts a hyper error: a TLS alert after the handshake (TLS 1.3 reports a refused client certificate only then)
/// is a TLS failure, a failing request body source is ours, anything else is the peer's protocol error.
fn classify_hyper_error(e: &hyper::Error, endpoint: &str) -> ClientError {
    use std::error::Error as _;
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            if let Some(tls) = io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
                return ClientError::TlsHandshake {
                    endpoint: endpoint.to_string(),
                    message: tls.to_string(),
                };
            }
            if e.is_user() {
                return ClientError::RequestBody(io.to_string());
            }
        }
        source = s.source();
    }
    ClientError::Protocol(e.to_string())
}

/// A response head with its streaming body.
#[derive(Debug)]
pub struct ClientResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    body: ResponseStream,
}

impl ClientResponse {
    pub fn content_type(&self) -> Option<&str> {
        self.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())
    }

    /// Non-2xx becomes [`ClientError::HttpStatus`] with the first 1 KiB of the body as text.
    pub async fn into_success(mut self) -> Result<ClientResponse, ClientError> {
        if self.status.is_success() {
            return Ok(self);
        }
        let mut excerpt = Vec::new();
        while excerpt.len() < 1024 {
            match self.chunk().await {
                Some(Ok(c)) => excerpt.extend_from_slice(&c),
                _ => break,
            }
        }
        excerpt.truncate(1024);
        Err(ClientError::HttpStatus {
            status: self.status,
            excerpt: String::from_utf8_lossy(&excerpt).into_owned(),
        })
    }

    /// The next body chunk (`None` at the end), under the idle timeout and size cap.
    pub async fn chunk(&mut self) -> Option<Result<Bytes, ClientError>> {
        self.body.next_chunk().await
    }

    /// The whole body, at most `max_response_bytes`.
    pub async fn bytes(mut self) -> Result<Bytes, ClientError> {
        let mut all = BytesMut::new();
        while let Some(chunk) = self.chunk().await {
            all.extend_from_slice(&chunk?);
        }
        Ok(all.freeze())
    }

    /// The body as a stream of chunks.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, ClientError>> + Send {
        futures_util::stream::unfold(self.body, |mut body| async move {
            body.next_chunk().await.map(|c| (c, body))
        })
    }
}

struct ResponseStream {
    body: Incoming,
    read: u64,
    limit: u64,
    idle: Duration,
    /// The connection, handed back to the pool when the body has been read to the end.
    connection: Option<(PeerKey, SendRequest<CountedBody>)>,
    pool: Weak<Inner>,
    metrics: Option<Arc<ApMetrics>>,
}

impl std::fmt::Debug for ResponseStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseStream")
            .field("read", &self.read)
            .field("limit", &self.limit)
            .finish()
    }
}

impl ResponseStream {
    async fn next_chunk(&mut self) -> Option<Result<Bytes, ClientError>> {
        loop {
            let frame = match tokio::time::timeout(self.idle, self.body.frame()).await {
                Err(_) => {
                    self.connection = None;
                    return Some(Err(ClientError::ResponseIdleTimeout(self.idle)));
                }
                Ok(None) => {
                    self.release();
                    return None;
                }
                Ok(Some(Err(e))) => {
                    self.connection = None;
                    return Some(Err(ClientError::Protocol(e.to_string())));
                }
                Ok(Some(Ok(frame))) => frame,
            };
            let Ok(data) = frame.into_data() else { continue };
            self.read += data.len() as u64;
            if let Some(m) = &self.metrics {
                m.bytes_in.add(data.len() as u64);
            }
            if self.read > self.limit {
                self.connection = None;
                return Some(Err(ClientError::ResponseTooLarge { limit: self.limit }));
            }
            return Some(Ok(data));
        }
    }

    fn release(&mut self) {
        let (Some((key, sender)), Some(inner)) = (self.connection.take(), self.pool.upgrade()) else {
            return;
        };
        if sender.is_closed() {
            return;
        }
        let max_idle = inner.settings.pool_max_idle_per_peer;
        if let Ok(mut pool) = inner.pool.lock() {
            let idle = pool.entry(key).or_default();
            if idle.len() < max_idle {
                idle.push(Idle {
                    sender,
                    since: Instant::now(),
                });
            }
        };
    }
}

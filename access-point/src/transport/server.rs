//! The AS4 HTTP/1.1 server: mutual TLS (or plain HTTP when explicitly allowed), routes, limits, graceful shutdown.
//!
//! Routes: `POST /as4` goes to the [`As4Handler`] (the MSH); `GET /healthz` answers while the process runs;
//! `GET /readyz` reflects the [`Readiness`] flag the MSH sets; `GET /metrics` renders [`ApMetrics`].
//! Limits (all in `[transport]`): request head size and count of header fields, header read timeout (slowloris),
//! TLS handshake timeout, request body idle timeout, maximum body size (`limits.max_message_bytes`), maximum open
//! connections. Shutdown stops accepting, asks keep-alive connections to close after their current request, and
//! waits up to `shutdown_grace_ms` before cutting what is left.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use openssl::x509::X509;
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Sleep;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::metrics::ApMetrics;
use super::TransportError;
use crate::config::{Config, TransportConfig};
use crate::pki::{NodeIdentity, TrustStore};

/// Who is on the other end of an inbound connection.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    pub remote_addr: SocketAddr,
    /// Whether the connection is TLS (false only with `allow_plain_http`).
    pub tls: bool,
    /// The client certificate chain as presented (leaf first), already verified against the TLS trust store
    /// (and its CRLs) during the handshake. Empty on plain HTTP.
    pub certificates: Arc<Vec<CertificateDer<'static>>>,
}

impl PeerInfo {
    /// The verified client certificate (leaf), parsed with openssl.
    pub fn certificate(&self) -> Option<X509> {
        self.certificates.first().and_then(|c| X509::from_der(c).ok())
    }

    /// The presented chain, parsed with openssl (leaf first).
    pub fn chain(&self) -> Result<Vec<X509>, openssl::error::ErrorStack> {
        self.certificates.iter().map(|c| X509::from_der(c)).collect()
    }
}

/// The request line and headers of a `POST /as4`.
#[derive(Debug, Clone)]
pub struct RequestHead {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
}

impl RequestHead {
    /// The Content-Type header (AS4: `multipart/related; ...` or `application/soap+xml`), if valid text.
    pub fn content_type(&self) -> Option<&str> {
        self.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())
    }

    /// The declared Content-Length, if any (chunked requests have none).
    pub fn content_length(&self) -> Option<u64> {
        self.headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
    }
}

/// Why reading a request body stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("request body idle for more than {0:?}")]
    IdleTimeout(Duration),
    #[error("request body larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("request body broken: {0}")]
    Broken(String),
}

impl From<BodyError> for io::Error {
    fn from(e: BodyError) -> io::Error {
        let kind = match e {
            BodyError::IdleTimeout(_) => io::ErrorKind::TimedOut,
            BodyError::TooLarge { .. } => io::ErrorKind::InvalidData,
            BodyError::Broken(_) => io::ErrorKind::UnexpectedEof,
        };
        io::Error::new(kind, e)
    }
}

/// The streaming body of an inbound request, with the idle timeout and size cap applied. Use it as a
/// [`hyper::body::Body`], a [`Stream`] of `Bytes`, or an `AsyncRead` ([`RequestBody::into_async_read`]).
pub struct RequestBody {
    inner: Incoming,
    idle: Duration,
    sleep: Pin<Box<Sleep>>,
    limit: u64,
    read: u64,
    finished: bool,
    /// Whether the idle clock runs: it starts when the handler asks for data, so a handler that is slow to ask
    /// (e.g. busy writing to disk) is not taken for an idle peer.
    waiting: bool,
    metrics: Arc<ApMetrics>,
}

impl std::fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestBody")
            .field("read", &self.read)
            .field("limit", &self.limit)
            .finish()
    }
}

impl RequestBody {
    fn new(inner: Incoming, idle: Duration, limit: u64, metrics: Arc<ApMetrics>) -> RequestBody {
        RequestBody {
            inner,
            idle,
            sleep: Box::pin(tokio::time::sleep(idle)),
            limit,
            read: 0,
            finished: false,
            waiting: false,
            metrics,
        }
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// An `AsyncRead` over the body; errors are `io::Error`s wrapping [`BodyError`].
    pub fn into_async_read(self) -> impl AsyncRead + Send + Unpin {
        use futures_util::TryStreamExt;
        tokio_util::io::StreamReader::new(TryStreamExt::map_err(self, io::Error::from))
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        if !this.waiting {
            this.waiting = true;
            let deadline = tokio::time::Instant::now() + this.idle;
            this.sleep.as_mut().reset(deadline);
        }
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if polled.is_ready() {
            this.waiting = false;
        }
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.read += data.len() as u64;
                    this.metrics.bytes_in.add(data.len() as u64);
                    if this.read > this.limit {
                        this.finished = true;
                        return Poll::Ready(Some(Err(BodyError::TooLarge { limit: this.limit })));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.finished = true;
                Poll::Ready(Some(Err(BodyError::Broken(e.to_string()))))
            }
            Poll::Ready(None) => {
                this.finished = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                if this.sleep.as_mut().poll(cx).is_ready() {
                    this.finished = true;
                    return Poll::Ready(Some(Err(BodyError::IdleTimeout(this.idle))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Stream for RequestBody {
    type Item = Result<Bytes, BodyError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match self.as_mut().poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => return Poll::Ready(Some(Ok(data))),
                    Err(_trailers) => continue,
                },
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// A `POST /as4` request as the MSH receives it.
#[derive(Debug)]
pub struct As4Request {
    pub head: RequestHead,
    pub body: RequestBody,
    pub peer: PeerInfo,
}

/// A streaming response body (errors abort the response mid-stream).
pub type ResponseBody = BoxBody<Bytes, io::Error>;

/// What the handler answers.
#[derive(Debug)]
pub struct As4Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: ResponseBody,
}

impl As4Response {
    /// A response with a body held in memory (receipts and error signals are small).
    pub fn bytes(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> As4Response {
        As4Response::with_body(
            status,
            content_type,
            Full::new(body.into()).map_err(|e| match e {}).boxed(),
        )
    }

    /// A response whose body is produced while it is sent.
    pub fn streaming<S>(status: StatusCode, content_type: &str, stream: S) -> As4Response
    where
        S: Stream<Item = io::Result<Bytes>> + Send + Sync + 'static,
    {
        use futures_util::TryStreamExt;
        As4Response::with_body(
            status,
            content_type,
            StreamBody::new(stream.map_ok(Frame::data)).boxed(),
        )
    }

    /// A response without a body (e.g. HTTP 204 / 202 for a one-way exchange with no synchronous signal).
    pub fn empty(status: StatusCode) -> As4Response {
        As4Response {
            status,
            headers: HeaderMap::new(),
            body: http_body_util::Empty::new().map_err(|e| match e {}).boxed(),
        }
    }

    fn with_body(status: StatusCode, content_type: &str, body: ResponseBody) -> As4Response {
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(content_type) {
            headers.insert(header::CONTENT_TYPE, v);
        }
        As4Response { status, headers, body }
    }
}

/// A boxed future, so that [`As4Handler`] stays object-safe.
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = As4Response> + Send + 'a>>;

/// The MSH's receive pipeline, called for every `POST /as4`. Called concurrently; never panic (a panic closes
/// the connection). The body streams: read it as it comes and spool to disk; never collect it whole.
pub trait As4Handler: Send + Sync + 'static {
    fn handle(&self, request: As4Request) -> HandlerFuture<'_>;
}

/// The readiness flag behind `/readyz`; the MSH sets it once it can take messages (store open, P-Modes loaded).
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn new(ready: bool) -> Readiness {
        Readiness(Arc::new(AtomicBool::new(ready)))
    }
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Everything the server needs, resolved from the configuration.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// `None` means plain HTTP, which [`serve`] refuses unless `allow_plain_http` is set.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub allow_plain_http: bool,
    pub transport: TransportConfig,
    /// Largest request body on `/as4` (`limits.max_message_bytes`).
    pub max_body_bytes: u64,
}

impl ServerSettings {
    /// From the node configuration: our TLS key from `identity`, client certificates checked by `tls_trust`
    /// (built from `[trust] tls_anchors / tls_intermediates / tls_crls`).
    pub fn from_config(
        config: &Config,
        identity: &NodeIdentity,
        tls_trust: &TrustStore,
    ) -> Result<ServerSettings, TransportError> {
        let tls = if config.server.tls {
            let key = identity.tls.as_ref().ok_or(TransportError::MissingTlsKey)?;
            Some(super::tls::server_config(key, tls_trust)?)
        } else {
            None
        };
        Ok(ServerSettings {
            listen: config.server.listen,
            tls,
            allow_plain_http: config.server.allow_plain_http,
            transport: config.transport.clone(),
            max_body_bytes: config.limits.max_message_bytes,
        })
    }
}

/// How shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShutdownReport {
    /// Connections open when shutdown began that closed within the grace period.
    pub drained: usize,
    /// Connections cut when the grace period ran out.
    pub cut: usize,
}

/// A running server; dropping it does not stop it (call [`RunningServer::shutdown`] or cancel the token).
#[derive(Debug)]
pub struct RunningServer {
    local_addr: SocketAddr,
    token: CancellationToken,
    task: tokio::task::JoinHandle<ShutdownReport>,
}

impl RunningServer {
    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A token that starts the graceful shutdown when cancelled (e.g. from the SIGTERM handler).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Starts the graceful shutdown and waits until it completes.
    pub async fn shutdown(self) -> ShutdownReport {
        self.token.cancel();
        self.wait().await
    }

    /// Waits until the server has stopped (after the token is cancelled).
    pub async fn wait(self) -> ShutdownReport {
        self.task.await.unwrap_or_default()
    }
}

struct Shared {
    handler: Arc<dyn As4Handler>,
    metrics: Arc<ApMetrics>,
    readiness: Readiness,
    settings: ServerSettings,
    acceptor: Option<TlsAcceptor>,
}

/// Binds the listener and starts serving in a background task.
pub async fn serve(
    settings: ServerSettings,
    handler: Arc<dyn As4Handler>,
    metrics: Arc<ApMetrics>,
    readiness: Readiness,
) -> Result<RunningServer, TransportError> {
    if settings.tls.is_none() && !settings.allow_plain_http {
        return Err(TransportError::PlainHttpNotAllowed);
    }
    let listener = TcpListener::bind(settings.listen)
        .await
        .map_err(|source| TransportError::Bind {
            addr: settings.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| TransportError::Bind {
        addr: settings.listen,
        source,
    })?;
    let token = CancellationToken::new();
    let shared = Arc::new(Shared {
        acceptor: settings.tls.clone().map(TlsAcceptor::from),
        handler,
        metrics,
        readiness,
        settings,
    });
    let task = tokio::spawn(accept_loop(listener, shared, token.clone()));
    Ok(RunningServer {
        local_addr,
        token,
        task,
    })
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, token: CancellationToken) -> ShutdownReport {
    let max = usize::try_from(shared.settings.transport.max_connections)
        .unwrap_or(usize::MAX)
        .min(Semaphore::MAX_PERMITS);
    let permits = Arc::new(Semaphore::new(max));
    let mut connections = JoinSet::new();
    loop {
        let permit = tokio::select! {
            _ = token.cancelled() => break,
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let (stream, remote_addr) = tokio::select! {
            _ = token.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Typically EMFILE: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        let shared = shared.clone();
        let conn_token = token.child_token();
        connections.spawn(async move {
            let _permit = permit;
            shared.metrics.open_connections.inc();
            serve_connection(stream, remote_addr, &shared, conn_token).await;
            shared.metrics.open_connections.dec();
        });
    }
    drop(listener);
    let open = connections.len();
    let grace = TransportConfig::ms(shared.settings.transport.shutdown_grace_ms);
    let drained = tokio::time::timeout(grace, async { while connections.join_next().await.is_some() {} }).await;
    let cut = if drained.is_ok() { 0 } else { connections.len() };
    connections.abort_all();
    while connections.join_next().await.is_some() {}
    ShutdownReport {
        drained: open - cut,
        cut,
    }
}

async fn serve_connection(stream: TcpStream, remote_addr: SocketAddr, shared: &Arc<Shared>, token: CancellationToken) {
    let _ = stream.set_nodelay(true);
    match &shared.acceptor {
        Some(acceptor) => {
            let handshake = TransportConfig::ms(shared.settings.transport.tls_handshake_timeout_ms);
            let tls = match tokio::time::timeout(handshake, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    shared.metrics.tls_handshake_failures.inc();
                    tracing::info!(peer = %remote_addr, error = %e, "TLS handshake refused");
                    return;
                }
                Err(_) => {
                    shared.metrics.tls_handshake_failures.inc();
                    tracing::info!(peer = %remote_addr, "TLS handshake timed out");
                    return;
                }
            };
            let certificates = tls
                .get_ref()
                .1
                .peer_certificates()
                .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
                .unwrap_or_default();
            let peer = PeerInfo {
                remote_addr,
                tls: true,
                certificates: Arc::new(certificates),
            };
            serve_http(tls, peer, shared, token).await;
        }
        None => {
            let peer = PeerInfo {
                remote_addr,
                tls: false,
                certificates: Arc::new(Vec::new()),
            };
            serve_http(stream, peer, shared, token).await;
        }
    }
}

async fn serve_http<I>(io: I, peer: PeerInfo, shared: &Arc<Shared>, token: CancellationToken)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = &shared.settings.transport;
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(TransportConfig::ms(limits.header_read_timeout_ms))
        .max_header_size(usize::try_from(limits.max_request_header_bytes).unwrap_or(usize::MAX))
        .max_headers(usize::try_from(limits.max_request_headers).unwrap_or(usize::MAX))
        .keep_alive(true);
    let service_shared = shared.clone();
    let service = service_fn(move |request: Request<Incoming>| {
        let shared = service_shared.clone();
        let peer = peer.clone();
        async move { Ok::<_, Infallible>(route(&shared, peer, request).await) }
    });
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        _ = token.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

fn text(status: StatusCode, body: &'static str) -> As4Response {
    As4Response::bytes(status, "text/plain; charset=utf-8", body)
}

async fn route(shared: &Arc<Shared>, peer: PeerInfo, request: Request<Incoming>) -> Response<ResponseBody> {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let (route_label, response) = match (parts.method.clone(), parts.uri.path()) {
        (Method::POST, "/as4") => ("as4", handle_as4(shared, peer, parts, body).await),
        (_, "/as4") => {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "use POST\n");
            r.headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
            ("as4", r)
        }
        (Method::GET, "/healthz") => ("healthz", text(StatusCode::OK, "ok\n")),
        (Method::GET, "/readyz") => (
            "readyz",
            if shared.readiness.is_ready() {
                text(StatusCode::OK, "ready\n")
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
            },
        ),
        (Method::GET, "/metrics") => (
            "metrics",
            As4Response::bytes(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                shared.metrics.render(),
            ),
        ),
        _ => ("other", text(StatusCode::NOT_FOUND, "not found\n")),
    };
    if route_label == "as4" {
        shared.metrics.receive_latency.observe_duration(started.elapsed());
    }
    shared
        .metrics
        .http_requests
        .with(&[route_label, response.status.as_str()])
        .inc();
    let bytes_out = shared.metrics.bytes_out.clone();
    let body = response
        .body
        .map_frame(move |frame| {
            if let Some(data) = frame.data_ref() {
                bytes_out.add(data.len() as u64);
            }
            frame
        })
        .boxed();
    let mut http_response = Response::new(body);
    *http_response.status_mut() = response.status;
    *http_response.headers_mut() = response.headers;
    http_response
}

async fn handle_as4(shared: &Arc<Shared>, peer: PeerInfo, parts: http::request::Parts, body: Incoming) -> As4Response {
    let limit = shared.settings.max_body_bytes;
    let head = RequestHead {
        method: parts.method,
        uri: parts.uri,
        headers: parts.headers,
    };
    if head.content_length().is_some_and(|n| n > limit) {
        return text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
    }
    let idle = TransportConfig::ms(shared.settings.transport.body_idle_timeout_ms);
    let body = RequestBody::new(body, idle, limit, shared.metrics.clone());
    shared.handler.handle(As4Request { head, body, peer }).await
}

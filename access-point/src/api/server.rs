//! The API listener: HTTP/1.1 on `[api] listen`, one task per connection, graceful shutdown. With `[api.tls]` it
//! speaks HTTPS (the AS4 transport's TLS profile): a client certificate, when presented, must verify against
//! `[api.tls] client_ca` during the handshake and then authenticates the connection's requests
//! ([`auth::authenticate_connection`]); clients without one send bearer tokens.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::audit::{AuditLog, AuditRecord, AuditSettings};
use super::{auth, problem, status, submit, ProblemType, API_PREFIX};
use crate::config::ApiAuthentication;
use crate::msh::Node;

/// How long shutdown waits for API requests in flight before cutting them.
pub const API_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why the API did not start.
#[derive(Debug, thiserror::Error)]
pub enum ApiStartError {
    #[error("[api] listen {0} is not a loopback address and the API speaks plain HTTP (tokens would cross the network in clear); configure [api.tls], or set [api] allow_non_loopback = true to accept that (e.g. behind a TLS proxy)")]
    NotLoopback(SocketAddr),
    #[error("[api] authentication = \"none\" is allowed only on a loopback address, not {0}")]
    UnauthenticatedNotLoopback(SocketAddr),
    #[error("cannot open the API audit log under {}: {source}", dir.display())]
    Audit {
        dir: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Webhooks(#[from] super::webhooks::WebhookError),
    /// `[api.tls]` files are unusable.
    #[error("[api.tls]: {0}")]
    Tls(String),
}

/// A running API listener.
pub struct ApiServer {
    local_addr: SocketAddr,
    /// `[api.tls]` is on: the listener speaks HTTPS.
    tls: bool,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    /// Webhook delivery (`[[api.webhooks]]`), when configured.
    webhooks: Option<super::webhooks::Webhooks>,
}

impl ApiServer {
    /// Binds `[api] listen` of the node's configuration and serves the API for `node`.
    pub async fn start(node: Arc<Node>) -> Result<ApiServer, ApiStartError> {
        let api = &node.config().api;
        Self::start_on(node.clone(), api.listen, api.allow_non_loopback).await
    }

    /// Binds `addr` (port 0 picks a free port) and serves the API for `node`.
    pub async fn start_on(
        node: Arc<Node>,
        addr: SocketAddr,
        allow_non_loopback: bool,
    ) -> Result<ApiServer, ApiStartError> {
        let tls = tls_acceptor(node.config())?;
        if !listen_allowed(addr, allow_non_loopback, tls.is_some()) {
            return Err(ApiStartError::NotLoopback(addr));
        }
        let handshake_timeout = crate::config::TransportConfig::ms(node.config().transport.tls_handshake_timeout_ms);
        let serves_tls = tls.is_some();
        let context = Arc::new(ApiContext::for_node(&node, addr, tls, handshake_timeout)?);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ApiStartError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| ApiStartError::Bind { addr, source })?;
        let webhooks = super::webhooks::Webhooks::start(&node)?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, node, context, stopped));
        Ok(ApiServer {
            local_addr,
            tls: serves_tls,
            stop,
            task,
            webhooks,
        })
    }

    /// Where the API listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The API's base URL, `http://ADDR/api/v1` or, with `[api.tls]`, `https://ADDR/api/v1`.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{API_PREFIX}", self.local_addr)
    }

    /// Stops accepting and waits (at most [`API_SHUTDOWN_GRACE`]) for requests in flight.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        if let Some(webhooks) = self.webhooks {
            webhooks.stop().await;
        }
    }
}

/// Plain HTTP only on loopback unless explicitly allowed; with TLS anywhere (tokens and certificates are protected).
fn listen_allowed(addr: SocketAddr, allow_non_loopback: bool, tls: bool) -> bool {
    addr.ip().is_loopback() || allow_non_loopback || tls
}

/// The TLS acceptor of `[api.tls]`: the eDelivery TLS profile of the AS4 transport, client certificates optional
/// (bearer-token clients have none) but verified when presented.
fn tls_acceptor(config: &crate::config::Config) -> Result<Option<TlsAcceptor>, ApiStartError> {
    let Some((identity, client_trust)) = config.api_tls().map_err(|e| ApiStartError::Tls(e.to_string()))? else {
        return Ok(None);
    };
    let server_config = crate::transport::tls::server_config_client_cert_optional(&identity, &client_trust)
        .map_err(|e| ApiStartError::Tls(e.to_string()))?;
    Ok(Some(TlsAcceptor::from(server_config)))
}

/// What every request of one listener shares: how callers are authenticated and where calls are audited.
struct ApiContext {
    authenticator: auth::Authenticator,
    audit: Arc<AuditLog>,
    /// `[api] audit_fsync`: each audit line is synced, so it is written on the blocking pool.
    audit_fsync: bool,
    /// `[api.tls]`: the handshake every connection goes through first.
    tls: Option<TlsAcceptor>,
    /// `[transport] tls_handshake_timeout_ms`: a client that does not finish the handshake in time is dropped.
    handshake_timeout: Duration,
}

impl ApiContext {
    fn for_node(
        node: &Node,
        addr: SocketAddr,
        tls: Option<TlsAcceptor>,
        handshake_timeout: Duration,
    ) -> Result<ApiContext, ApiStartError> {
        let config = node.config();
        let authenticator = match config.api.authentication {
            ApiAuthentication::None if !addr.ip().is_loopback() => {
                return Err(ApiStartError::UnauthenticatedNotLoopback(addr))
            }
            ApiAuthentication::None => auth::Authenticator::None,
            ApiAuthentication::Token => {
                auth::Authenticator::Tokens(super::tokens::TokenStore::new(config.api_tokens_file()))
            }
        };
        let settings = AuditSettings {
            max_bytes: config.api.audit_max_bytes,
            keep: u32::try_from(config.api.audit_keep).unwrap_or(u32::MAX),
            fsync: config.api.audit_fsync,
        };
        let audit = AuditLog::open(&config.node.data_dir, settings).map_err(|source| ApiStartError::Audit {
            dir: config.node.data_dir.join(super::audit::AUDIT_DIR),
            source,
        })?;
        Ok(ApiContext {
            authenticator,
            audit: Arc::new(audit),
            audit_fsync: config.api.audit_fsync,
            tls,
            handshake_timeout,
        })
    }
}

async fn accept_loop(
    listener: TcpListener,
    node: Arc<Node>,
    context: Arc<ApiContext>,
    mut stopped: watch::Receiver<bool>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "api: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                tokio::spawn(serve_connection(stream, peer, node.clone(), context.clone(), graceful.watcher()));
            }
            _ = stopped.changed() => break,
        }
    }
    drop(listener);
    // Event streams do not end by themselves: end them, so that the graceful shutdown below need not wait for them.
    node.events().end_streams();
    if tokio::time::timeout(API_SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("api: requests still in flight after the grace period were cut");
    }
}

/// Runs the TLS handshake (with `[api.tls]`), then serves HTTP/1.1 on the connection.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    node: Arc<Node>,
    context: Arc<ApiContext>,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let Some(acceptor) = &context.tls else {
        serve_http(TokioIo::new(stream), peer, None, node, context.clone(), watcher).await;
        return;
    };
    let tls = match tokio::time::timeout(context.handshake_timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::info!(%peer, error = %e, "api: TLS handshake refused");
            return;
        }
        Err(_) => {
            tracing::info!(%peer, "api: TLS handshake timed out");
            return;
        }
    };
    // rustls only hands out a chain its verifier accepted; the first certificate is the client's own.
    let certificate = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|leaf| Arc::new(auth::ClientCertificate::from_der(leaf)));
    serve_http(TokioIo::new(tls), peer, certificate, node, context.clone(), watcher).await;
}

async fn serve_http<I>(
    io: I,
    peer: SocketAddr,
    certificate: Option<Arc<auth::ClientCertificate>>,
    node: Arc<Node>,
    context: Arc<ApiContext>,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| {
        let node = node.clone();
        let context = context.clone();
        let certificate = certificate.clone();
        async move { Ok::<_, Infallible>(route(&node, &context, peer, certificate.as_deref(), request).await) }
    });
    let connection = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
    if let Err(e) = watcher.watch(connection).await {
        tracing::debug!(%peer, error = %e, "api: connection ended with an error");
    }
}

/// Authenticates, routes, and writes the audit line of the call.
async fn route(
    node: &Node,
    context: &ApiContext,
    remote: SocketAddr,
    certificate: Option<&auth::ClientCertificate>,
    request: Request<Incoming>,
) -> Response<super::ApiBody> {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let (actor, response) = match auth::authenticate_connection(&request, &context.authenticator, certificate) {
        Ok(caller) => {
            let response = match streaming_route(node, &caller, &request) {
                Some(response) => response,
                None => match super::inbox::route_get(node, &caller, &request).await {
                    Some(response) => response,
                    None => super::boxed(route_for(node, &caller, request).await),
                },
            };
            (caller.actor, response)
        }
        Err(e) if path.starts_with(super::digg::DIGG_PREFIX) => (
            anonymous(certificate),
            super::boxed(super::digg::unauthorized(e.to_string())),
        ),
        Err(e) => (anonymous(certificate), super::boxed(unauthorized(&e))),
    };
    let mut record = AuditRecord::new(&actor, &method, &path, response.status().as_u16(), remote);
    record.message_ids = super::audit::message_ids_of(&response, &path);
    // Without fsync the line is one `write` to the page cache: cheaper here than the two thread wake-ups of a
    // blocking-pool round trip.
    let written = if context.audit_fsync {
        let audit = context.audit.clone();
        tokio::task::spawn_blocking(move || audit.append(&record))
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r)
    } else {
        context.audit.append(&record)
    };
    if let Err(e) = written {
        tracing::error!(error = %e, "api: cannot write the audit log");
    }
    response
}

/// The audit actor of a refused call: `anonymous`, or the fingerprint of the client certificate that was not let in.
fn anonymous(certificate: Option<&auth::ClientCertificate>) -> String {
    match certificate {
        Some(c) => {
            let hex: String = c.fingerprint.iter().map(|b| format!("{b:02x}")).collect();
            format!("mtls-unregistered:sha256:{hex}")
        }
        None => "anonymous".to_string(),
    }
}

/// `401` with `WWW-Authenticate: Bearer` (RFC 6750 section 3).
fn unauthorized(error: &auth::AuthError) -> Response<Full<Bytes>> {
    let mut response = problem(ProblemType::Unauthorized, error.to_string());
    let challenge = match error {
        auth::AuthError::Missing => r#"Bearer realm="sdk-ap""#,
        _ => r#"Bearer realm="sdk-ap", error="invalid_token""#,
    };
    response.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static(challenge),
    );
    response
}

async fn route_for(node: &Node, caller: &auth::Caller, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_string();
    if path.starts_with(super::digg::DIGG_PREFIX) {
        return super::digg::route(node, caller, request).await;
    }
    let Some(rest) = path.strip_prefix(API_PREFIX) else {
        return problem(ProblemType::NoRoute, format!("no route {path}"));
    };
    match (request.method().clone(), rest) {
        (Method::POST, "/messages") => submit::handle(node, caller, request).await,
        (Method::GET, "/status") => status::status(node, caller).await,
        (Method::GET, "/openapi.json") => super::openapi::handle(),
        (Method::POST, inbox) if inbox.starts_with("/inbox/") => {
            match super::inbox::route_post(node, caller, inbox, request).await {
                Some(response) => response,
                None => problem(ProblemType::NoRoute, format!("no route POST {path}")),
            }
        }
        (Method::GET, id) if id.starts_with("/messages/") && id.len() > "/messages/".len() => {
            let encoded = &id["/messages/".len()..];
            match percent_decode(encoded) {
                Some(message_id) => status::message(node, caller, &message_id).await,
                None => problem(
                    ProblemType::BadRequest,
                    "the message id is not valid percent-encoded UTF-8",
                ),
            }
        }
        (method, _) => problem(ProblemType::NoRoute, format!("no route {method} {path}")),
    }
}

/// Routes whose answer streams (server-sent events): tried before [`route_for`], whose answers are whole documents.
fn streaming_route<B>(node: &Node, caller: &auth::Caller, request: &Request<B>) -> Option<Response<super::ApiBody>> {
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/api/v1/events") => Some(super::events::handle(node, caller, request)),
        _ => None,
    }
}

/// Decodes `%XX` escapes of a path segment; `None` for a bad escape or non-UTF-8 result.
pub fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            // Exactly two hex digits: from_str_radix alone would also take a sign ("%+1").
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Encodes a message id as one path segment (everything but unreserved characters and `@` escaped).
pub fn percent_encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_round_trip_through_the_path() {
        let id = "a b/c%d@example.se";
        assert_eq!(percent_decode(&percent_encode(id)).as_deref(), Some(id));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%ff"), None);
        assert_eq!(percent_decode("%+1"), None, "a sign is not a hex digit");
        assert_eq!(percent_decode("%-1"), None);
    }

    #[test]
    fn plain_http_beyond_loopback_needs_tls_or_an_explicit_allowance() {
        let wide: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let loopback: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert!(!listen_allowed(wide, false, false));
        assert!(listen_allowed(wide, true, false));
        assert!(listen_allowed(wide, false, true));
        assert!(listen_allowed(loopback, false, false));
    }
}

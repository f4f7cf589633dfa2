//! The API listener: HTTP/1.1 on `[api] listen`, one task per connection, graceful shutdown.

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

use super::audit::{AuditLog, AuditRecord, AuditSettings};
use super::{auth, problem, status, submit, ProblemType, API_PREFIX};
use crate::config::ApiAuthentication;
use crate::msh::Node;

/// How long shutdown waits for API requests in flight before cutting them.
pub const API_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why the API did not start.
#[derive(Debug, thiserror::Error)]
pub enum ApiStartError {
    #[error("[api] listen {0} is not a loopback address and the API speaks plain HTTP (tokens would cross the network in clear); set [api] allow_non_loopback = true to accept that (e.g. behind a TLS proxy)")]
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
}

/// A running API listener.
pub struct ApiServer {
    local_addr: SocketAddr,
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
        if !addr.ip().is_loopback() && !allow_non_loopback {
            return Err(ApiStartError::NotLoopback(addr));
        }
        let context = Arc::new(ApiContext::for_node(&node, addr)?);
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
            stop,
            task,
            webhooks,
        })
    }

    /// Where the API listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
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

/// What every request of one listener shares: how callers are authenticated and where calls are audited.
struct ApiContext {
    authenticator: auth::Authenticator,
    audit: Arc<AuditLog>,
}

impl ApiContext {
    fn for_node(node: &Node, addr: SocketAddr) -> Result<ApiContext, ApiStartError> {
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
                let node = node.clone();
                let context = context.clone();
                let service = hyper::service::service_fn(move |request| {
                    let node = node.clone();
                    let context = context.clone();
                    async move { Ok::<_, Infallible>(route(&node, &context, peer, request).await) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(%peer, error = %e, "api: connection ended with an error");
                    }
                });
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

/// Authenticates, routes, and writes the audit line of the call.
async fn route(
    node: &Node,
    context: &ApiContext,
    remote: SocketAddr,
    request: Request<Incoming>,
) -> Response<super::ApiBody> {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let (actor, response) = match auth::authenticate(&request, &context.authenticator) {
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
        Err(e) if path.starts_with(super::digg::DIGG_PREFIX) => {
            ("anonymous".to_string(), super::boxed(super::digg::unauthorized(e.to_string())))
        }
        Err(e) => ("anonymous".to_string(), super::boxed(unauthorized(&e))),
    };
    let mut record = AuditRecord::new(&actor, &method, &path, response.status().as_u16(), remote);
    record.message_ids = super::audit::message_ids_of(&response, &path);
    let audit = context.audit.clone();
    let written = tokio::task::spawn_blocking(move || audit.append(&record)).await;
    if let Err(e) = written.map_err(std::io::Error::other).and_then(|r| r) {
        tracing::error!(error = %e, "api: cannot write the audit log");
    }
    response
}

/// `401` with `WWW-Authenticate: Bearer` (RFC 6750 section 3).
fn unauthorized(error: &auth::AuthError) -> Response<Full<Bytes>> {
    let mut response = problem(ProblemType::Unauthorized, error.to_string());
    let challenge = match error {
        auth::AuthError::Missing => r#"Bearer realm="sdk-ap""#,
        _ => r#"Bearer realm="sdk-ap", error="invalid_token""#,
    };
    response
        .headers_mut()
        .insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static(challenge));
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
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
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
    }
}

//! The AS4 transport: the HTTPS server other access points push to, the HTTPS client the sender uses, their TLS
//! profile, and the Prometheus metrics registry.
//!
//! * [`server`]: hyper 1 HTTP/1.1 over tokio-rustls with required, CRL-checked client certificates; `POST /as4`
//!   goes to an [`As4Handler`] (the MSH receive pipeline) with the verified peer chain in [`PeerInfo`];
//!   `/healthz`, `/readyz`, `/metrics`; limits and graceful shutdown.
//! * [`client`]: [`As4Client`] with our TLS client certificate, pooled connections, timeouts, streaming bodies,
//!   and [`ClientError::is_retryable`] for the sender's retry policy.
//! * [`tls`]: the eDelivery TLS profile (TLS 1.2/1.3, ECDHE + AES-GCM only).
//! * [`metrics`]: dependency-free counters, gauges and histograms in the Prometheus text format.
//!
//! Every limit and timeout is a `[transport]` setting ([`crate::config::TransportConfig`]).

pub mod client;
pub mod metrics;
pub mod server;
pub mod tls;

pub use client::{As4Client, ClientError, ClientResponse, ClientSettings, OutgoingBody};
pub use metrics::ApMetrics;
pub use server::{
    serve, As4Handler, As4Request, As4Response, BodyError, HandlerFuture, PeerInfo, Readiness, RequestBody,
    RequestHead, ResponseBody, RunningServer, ServerSettings, ShutdownReport,
};
pub use tls::TlsSetupError;

/// The transport could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("plain HTTP requested but `server.allow_plain_http` is not set")]
    PlainHttpNotAllowed,
    #[error("server.tls is on but no [keys.tls] key pair is loaded")]
    MissingTlsKey,
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
}

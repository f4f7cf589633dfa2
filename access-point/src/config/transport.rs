//! `[transport]`: limits and timeouts of the AS4 HTTPS server and client (owned by the `transport` module).

use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// Smallest request-head limit accepted (hyper reads at least this much at once).
pub const MIN_REQUEST_HEADER_BYTES: u64 = 8192;

/// `[transport]`: every limit and timeout of the AS4 HTTP server and client. Times are milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransportConfig {
    /// Largest request head (request line + headers) the server reads; at least 8192.
    #[serde(deserialize_with = "header_bytes")]
    pub max_request_header_bytes: u64,
    /// Most header fields in one request.
    #[serde(deserialize_with = "positive")]
    pub max_request_headers: u64,
    /// Time a client gets to send the complete request head (slowloris guard).
    #[serde(deserialize_with = "positive")]
    pub header_read_timeout_ms: u64,
    /// Time a client gets to complete the TLS handshake after connecting.
    #[serde(deserialize_with = "positive")]
    pub tls_handshake_timeout_ms: u64,
    /// Longest pause between two chunks of a request body before the request is abandoned.
    #[serde(deserialize_with = "positive")]
    pub body_idle_timeout_ms: u64,
    /// Most simultaneously open inbound connections; further connections wait in the listen backlog.
    #[serde(deserialize_with = "positive")]
    pub max_connections: u64,
    /// On shutdown, how long in-flight requests may take to finish before they are cut.
    #[serde(deserialize_with = "positive")]
    pub shutdown_grace_ms: u64,
    /// Client: TCP connect plus TLS handshake.
    #[serde(deserialize_with = "positive")]
    pub client_connect_timeout_ms: u64,
    /// Client: from sending the request until the response head arrives (covers the request body upload).
    #[serde(deserialize_with = "positive")]
    pub client_request_timeout_ms: u64,
    /// Client: longest pause between two chunks of a response body.
    #[serde(deserialize_with = "positive")]
    pub client_response_idle_timeout_ms: u64,
    /// Client: largest response body read (receipts and error signals are small).
    #[serde(deserialize_with = "positive")]
    pub client_max_response_bytes: u64,
    /// Client: an idle pooled connection older than this is closed rather than reused.
    #[serde(deserialize_with = "positive")]
    pub client_pool_idle_timeout_ms: u64,
    /// Client: most idle connections kept per peer endpoint (scheme, host, port).
    #[serde(deserialize_with = "positive")]
    pub client_pool_max_idle_per_peer: u64,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            max_request_header_bytes: 64 * 1024,
            max_request_headers: 100,
            header_read_timeout_ms: 10_000,
            tls_handshake_timeout_ms: 10_000,
            body_idle_timeout_ms: 30_000,
            max_connections: 256,
            shutdown_grace_ms: 30_000,
            client_connect_timeout_ms: 10_000,
            client_request_timeout_ms: 600_000,
            client_response_idle_timeout_ms: 30_000,
            client_max_response_bytes: 16 * 1024 * 1024,
            client_pool_idle_timeout_ms: 90_000,
            client_pool_max_idle_per_peer: 8,
        }
    }
}

impl TransportConfig {
    /// A millisecond setting as a `Duration`.
    pub fn ms(value: u64) -> Duration {
        Duration::from_millis(value)
    }
}

fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    use serde::de::Error as _;
    let v = i64::deserialize(d)?;
    if v <= 0 {
        return Err(D::Error::custom(format!("must be a positive number, got {v}")));
    }
    Ok(v as u64)
}

fn header_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    use serde::de::Error as _;
    let v = positive(d)?;
    if v < MIN_REQUEST_HEADER_BYTES {
        return Err(D::Error::custom(format!(
            "must be at least {MIN_REQUEST_HEADER_BYTES}, got {v}"
        )));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Wrapper {
        #[serde(default)]
        transport: TransportConfig,
    }

    #[test]
    fn defaults_apply_and_settings_are_checked() {
        let w: Wrapper = toml::from_str("").unwrap();
        assert_eq!(w.transport, TransportConfig::default());
        let w: Wrapper = toml::from_str("[transport]\nheader_read_timeout_ms = 250\n").unwrap();
        assert_eq!(w.transport.header_read_timeout_ms, 250);
        assert_eq!(w.transport.max_connections, 256);
        let e = toml::from_str::<Wrapper>("[transport]\nmax_request_header_bytes = 1024\n").unwrap_err();
        assert!(e.to_string().contains("at least 8192"), "{e}");
        let e = toml::from_str::<Wrapper>("[transport]\nmax_connections = 0\n").unwrap_err();
        assert!(e.to_string().contains("positive"), "{e}");
        let e = toml::from_str::<Wrapper>("[transport]\nmax_conections = 5\n").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }
}

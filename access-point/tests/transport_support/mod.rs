//! Shared helpers of the transport integration tests: a dev PKI, a test handler, server and client builders.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use access_point::config::TransportConfig;
use access_point::pki::dev::{CertSpec, DevPki};
use access_point::pki::{KeyPair, TrustStore};
use access_point::transport::client::ClientSettings;
use access_point::transport::{
    serve, tls, ApMetrics, As4Client, As4Handler, As4Request, As4Response, HandlerFuture, Readiness, RunningServer,
    ServerSettings,
};
use futures_util::StreamExt;
use http::StatusCode;
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::X509Crl;

pub fn crl_copy(crl: &X509Crl) -> X509Crl {
    X509Crl::from_der(&crl.to_der().unwrap()).unwrap()
}

/// The TLS trust store of a dev PKI: its CA and current CRL.
pub fn trust_of(pki: &DevPki) -> TrustStore {
    TrustStore::new(vec![pki.ca.certificate.clone()]).with_crls(vec![crl_copy(&pki.crl)])
}

/// An extra ECDSA TLS key pair from the PKI's CA (client and server usage) with the given DNS names and IPs.
pub fn extra_tls_pair(pki: &DevPki, cn: &str, dns: &[&str], ips: &[&str]) -> KeyPair {
    let key =
        PKey::from_ec_key(EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap()).unwrap();
    let mut spec = CertSpec::leaf(cn, openssl::x509::X509KeyUsage::DIGITAL_SIGNATURE);
    spec.extended_key_usage =
        openssl::x509::X509ExtendedKeyUsage::SSL_SERVER | openssl::x509::X509ExtendedKeyUsage::SSL_CLIENT;
    spec.dns_names = dns.iter().map(|s| s.to_string()).collect();
    spec.ip_addresses = ips.iter().map(|s| s.parse().unwrap()).collect();
    let cert = pki.issue(&spec, &key).unwrap();
    KeyPair::new(key, cert, Vec::new()).unwrap()
}

/// Short timeouts so every fault test ends in seconds (the ones tests wait for are short; the others leave room
/// for a loaded machine).
pub fn fast_transport() -> TransportConfig {
    TransportConfig {
        header_read_timeout_ms: 500,
        tls_handshake_timeout_ms: 5_000,
        body_idle_timeout_ms: 500,
        shutdown_grace_ms: 5_000,
        client_connect_timeout_ms: 5_000,
        client_request_timeout_ms: 15_000,
        client_response_idle_timeout_ms: 5_000,
        ..TransportConfig::default()
    }
}

/// Reads the whole body as a stream, answers `200 <bytes> <peer CN>`; `x-delay-ms` delays the answer, `x-fail`
/// reports body errors as 400 with the error text.
#[derive(Default)]
pub struct CountingHandler {
    pub calls: AtomicUsize,
    pub bytes: AtomicU64,
}

impl As4Handler for CountingHandler {
    fn handle(&self, request: As4Request) -> HandlerFuture<'_> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let delay = request
                .head
                .headers
                .get("x-delay-ms")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0u64);
            let cn = request
                .peer
                .certificate()
                .and_then(|c| access_point::pki::certinfo::common_name(c.subject_name()))
                .unwrap_or_else(|| "-".to_string());
            let mut body = request.body;
            let mut n = 0u64;
            let mut checksum = 0u64;
            while let Some(chunk) = body.next().await {
                match chunk {
                    Ok(c) => {
                        n += c.len() as u64;
                        checksum = c
                            .iter()
                            .fold(checksum, |a, b| a.wrapping_mul(31).wrapping_add(u64::from(*b)));
                    }
                    Err(e) => return As4Response::bytes(StatusCode::BAD_REQUEST, "text/plain", format!("body: {e}")),
                }
            }
            self.bytes.fetch_add(n, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(delay)).await;
            As4Response::bytes(StatusCode::OK, "text/plain", format!("{n} {checksum} {cn}"))
        })
    }
}

pub struct TestServer {
    pub server: RunningServer,
    pub handler: Arc<CountingHandler>,
    pub metrics: Arc<ApMetrics>,
    pub readiness: Readiness,
}

impl TestServer {
    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.addr().port())
    }
    pub fn plain_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.addr().port())
    }
}

pub async fn start_server(identity: &KeyPair, client_trust: &TrustStore, transport: TransportConfig) -> TestServer {
    let tls = tls::server_config(identity, client_trust).unwrap();
    start_with(Some(tls), transport, 1 << 40).await
}

pub async fn start_with(
    tls: Option<Arc<rustls::ServerConfig>>,
    transport: TransportConfig,
    max_body_bytes: u64,
) -> TestServer {
    let handler = Arc::new(CountingHandler::default());
    let metrics = Arc::new(ApMetrics::new());
    let readiness = Readiness::new(false);
    let settings = ServerSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        allow_plain_http: tls.is_none(),
        tls,
        transport,
        max_body_bytes,
    };
    let server = serve(settings, handler.clone(), metrics.clone(), readiness.clone())
        .await
        .unwrap();
    TestServer {
        server,
        handler,
        metrics,
        readiness,
    }
}

pub fn client_for(identity: Option<&KeyPair>, server_trust: &TrustStore, transport: &TransportConfig) -> As4Client {
    let tls = tls::client_config(identity, server_trust).unwrap();
    As4Client::new(ClientSettings::from_transport(transport, false), Some(tls), None)
}

pub fn plain_client(transport: &TransportConfig) -> As4Client {
    As4Client::new(ClientSettings::from_transport(transport, true), None, None)
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// VmRSS of this process in KiB.
pub fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

/// Peak RSS (VmHWM) in KiB since the last [`reset_peak_rss`].
pub fn peak_rss_kib() -> u64 {
    status_kib("VmHWM:")
}

/// Resets the peak-RSS mark to the current RSS (Linux `clear_refs` value 5); false when not permitted.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

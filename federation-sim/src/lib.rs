//! `federation-sim`: a local SDK federation for development, tests and `sdk-ap demo`, all on 127.0.0.1 and fed
//! from one TOML file ([`config::FederationConfig`]); the `sdk-federation-sim` binary of the conformance crate
//! serves it:
//! - an SDK address book (JSON:API) under `/addressbook/`;
//! - a signed OASIS SMP 1.0 under `/smp/` (enveloped XML-DSig by an SMP certificate from the simulator's own CA,
//!   with the DIGG CertPub extension);
//! - an authoritative SML zone with `Meta:SMP` U-NAPTR records (hickory-server, UDP and TCP);
//! - `/sim/stats` (request counters per service, JSON) and `/sim/faults` (GET/PUT the fault switches, JSON).
//!
//! Tests start it in-process with [`FederationSim::start`] and flip faults with [`FederationSim::set_faults`].

pub mod config;
pub mod dns;
mod http_server;
pub mod pki;
pub mod smp_xml;

use config::FederationConfig;
use openssl::x509::X509;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a faulty SMP answer looks like.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SmpAnswerFault {
    /// A correct, signed answer.
    #[default]
    None,
    /// No signature.
    Unsigned,
    /// Signed, then the endpoint URL changed.
    Tampered,
    /// Signed by a certificate that does not chain to the SMP CA.
    UntrustedSigner,
    /// A correctly signed answer for another participant.
    WrongParticipant,
    /// A correctly signed answer for another document.
    WrongDocument,
    /// Not XML.
    Malformed,
}

/// The fault switches. Delays are in milliseconds so the JSON form is plain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Answer every address book request with this HTTP status.
    pub address_book_status: Option<u16>,
    pub address_book_delay_ms: Option<u64>,
    /// Serve bodies that are not JSON.
    pub address_book_malformed: bool,
    /// Answer every SMP request with this HTTP status.
    pub smp_status: Option<u16>,
    pub smp_delay_ms: Option<u64>,
    pub smp_answer: SmpAnswerFault,
    /// Never answer DNS queries.
    pub dns_drop: bool,
    pub dns_delay_ms: Option<u64>,
    /// Serve NAPTR records whose service is not `Meta:SMP`.
    pub dns_without_meta_smp: bool,
    /// Answer every DNS query with SERVFAIL.
    pub dns_servfail: bool,
}

impl Faults {
    pub fn address_book_delay(&self) -> Option<Duration> {
        self.address_book_delay_ms.map(Duration::from_millis)
    }
    pub fn smp_delay(&self) -> Option<Duration> {
        self.smp_delay_ms.map(Duration::from_millis)
    }
    pub fn dns_delay(&self) -> Option<Duration> {
        self.dns_delay_ms.map(Duration::from_millis)
    }
}

/// Request counters per service.
#[derive(Debug, Default)]
pub struct Stats {
    pub address_book_requests: AtomicU64,
    pub smp_requests: AtomicU64,
    pub dns_queries: AtomicU64,
}

/// A snapshot of [`Stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsSnapshot {
    pub address_book_requests: u64,
    pub smp_requests: u64,
    pub dns_queries: u64,
}

impl Stats {
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            address_book_requests: self.address_book_requests.load(Ordering::Relaxed),
            smp_requests: self.smp_requests.load(Ordering::Relaxed),
            dns_queries: self.dns_queries.load(Ordering::Relaxed),
        }
    }
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("federation file: {0}")]
    Config(String),
    #[error("PKI: {0}")]
    Pki(String),
    #[error("cannot bind {what}: {source}")]
    Bind { what: &'static str, source: std::io::Error },
}

/// Where the simulator listens. Port 0 picks a free port.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub http: SocketAddr,
    pub dns: SocketAddr,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            http: "127.0.0.1:0".parse().expect("literal"),
            dns: "127.0.0.1:0".parse().expect("literal"),
        }
    }
}

/// The prepared federation data: participants with their AP certificates and CertPub certificates loaded.
pub(crate) struct Registration {
    pub participant: address_book_client::ParticipantId,
    pub documents: Vec<String>,
    pub transport_profile: String,
    pub endpoint_url: String,
    pub ap_certificate_der: Vec<u8>,
    pub certpub_signing_der: Option<Vec<u8>>,
    pub certpub_encryption_der: Option<Vec<u8>>,
    pub activation: Option<String>,
    pub expiration: Option<String>,
}

pub(crate) struct Shared {
    pub config: FederationConfig,
    pub registrations: Vec<Registration>,
    pub pki: pki::SmpPki,
    pub faults: Arc<Mutex<Faults>>,
    pub stats: Arc<Stats>,
    pub http_addr: SocketAddr,
}

/// A running simulator. Dropping it stops the servers.
pub struct FederationSim {
    shared: Arc<Shared>,
    dns_addr: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for FederationSim {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn read_certificate(config: &FederationConfig, path: &std::path::Path) -> Result<Vec<u8>, SimError> {
    let full = config.path(path);
    let pem = std::fs::read(&full).map_err(|e| SimError::Config(format!("{}: {e}", full.display())))?;
    let cert = X509::from_pem(&pem).map_err(|e| SimError::Config(format!("{}: {e}", full.display())))?;
    cert.to_der().map_err(|e| SimError::Pki(e.to_string()))
}

fn registrations(config: &FederationConfig) -> Result<Vec<Registration>, SimError> {
    let mut ap_certs = std::collections::HashMap::new();
    for ap in &config.access_points {
        let der = match &ap.certificate {
            Some(p) => read_certificate(config, p)?,
            None => pki::issue(&ap.name, None, false, 365)
                .and_then(|k| k.certificate.to_der())
                .map_err(|e| SimError::Pki(e.to_string()))?,
        };
        ap_certs.insert(ap.name.clone(), der);
    }
    let mut out = Vec::new();
    for o in &config.organisations {
        let Some(ap_name) = &o.access_point else { continue };
        let ap = config
            .access_points
            .iter()
            .find(|a| &a.name == ap_name)
            .ok_or_else(|| SimError::Config(format!("organisation {}: unknown access point {ap_name}", o.id)))?;
        out.push(Registration {
            participant: address_book_client::ParticipantId::parse(&o.participant_id)
                .map_err(|e| SimError::Config(e.to_string()))?,
            documents: o.documents.clone(),
            transport_profile: ap.transport_profile.clone(),
            endpoint_url: ap.endpoint_url.clone(),
            ap_certificate_der: ap_certs[ap_name].clone(),
            certpub_signing_der: o
                .certpub_signing_certificate
                .as_ref()
                .map(|p| read_certificate(config, p))
                .transpose()?,
            certpub_encryption_der: o
                .certpub_encryption_certificate
                .as_ref()
                .map(|p| read_certificate(config, p))
                .transpose()?,
            activation: o.endpoint_activation.clone(),
            expiration: o.endpoint_expiration.clone(),
        });
    }
    Ok(out)
}

/// Binds UDP and TCP on one port. With port 0 the UDP port is free for TCP only by chance, so a few ports are tried.
async fn bind_dns(addr: SocketAddr) -> Result<(tokio::net::UdpSocket, tokio::net::TcpListener, SocketAddr), SimError> {
    const TRIES_WITH_PORT_0: usize = 20;
    let tries = if addr.port() == 0 { TRIES_WITH_PORT_0 } else { 1 };
    let mut last = None;
    for _ in 0..tries {
        let udp = tokio::net::UdpSocket::bind(addr)
            .await
            .map_err(|source| SimError::Bind {
                what: "DNS/UDP",
                source,
            })?;
        let bound = udp.local_addr().map_err(|source| SimError::Bind {
            what: "DNS/UDP",
            source,
        })?;
        match tokio::net::TcpListener::bind(bound).await {
            Ok(tcp) => return Ok((udp, tcp, bound)),
            Err(source) => last = Some(source),
        }
    }
    Err(SimError::Bind {
        what: "DNS/TCP",
        source: last.unwrap_or_else(|| std::io::Error::other("no port")),
    })
}

impl FederationSim {
    /// Starts the simulator on free ports of 127.0.0.1 with a freshly generated SMP PKI.
    pub async fn start(config: FederationConfig) -> Result<FederationSim, SimError> {
        Self::start_with(config, SimOptions::default(), None).await
    }

    /// Starts on the given addresses, with the given SMP PKI (or a generated one).
    pub async fn start_with(
        config: FederationConfig,
        options: SimOptions,
        smp_pki: Option<pki::SmpPki>,
    ) -> Result<FederationSim, SimError> {
        let pki = match smp_pki {
            Some(p) => p,
            None => pki::SmpPki::generate().map_err(|e| SimError::Pki(e.to_string()))?,
        };
        let registrations = registrations(&config)?;
        let listener = tokio::net::TcpListener::bind(options.http)
            .await
            .map_err(|source| SimError::Bind { what: "HTTP", source })?;
        let http_addr = listener
            .local_addr()
            .map_err(|source| SimError::Bind { what: "HTTP", source })?;
        let (udp, tcp, dns_addr) = bind_dns(options.dns).await?;

        let faults = Arc::new(Mutex::new(Faults::default()));
        let stats = Arc::new(Stats::default());
        let names: Vec<String> = registrations
            .iter()
            .map(|r| address_book_client::sml::participant_dns_name(&r.participant, &config.sml_zone))
            .collect();
        let smp_url = config
            .smp_url
            .clone()
            .unwrap_or_else(|| format!("http://{http_addr}/smp"));
        let regexp = format!("!^.*$!{smp_url}!");
        let zone = dns::FaultyZone {
            normal: dns::catalog(&config.sml_zone, &names, "Meta:SMP", &regexp).map_err(SimError::Config)?,
            without_meta_smp: dns::catalog(&config.sml_zone, &names, "Meta:CPP", &regexp).map_err(SimError::Config)?,
            faults: faults.clone(),
            stats: stats.clone(),
        };
        let mut server = hickory_server::ServerFuture::new(zone);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5));
        let dns_task = tokio::spawn(async move {
            let _ = server.block_until_done().await;
        });

        let shared = Arc::new(Shared {
            config,
            registrations,
            pki,
            faults,
            stats,
            http_addr,
        });
        let http_task = tokio::spawn(http_server::serve(listener, shared.clone()));
        Ok(FederationSim {
            shared,
            dns_addr,
            tasks: vec![dns_task, http_task],
        })
    }

    /// The HTTP address (address book, SMP, /sim).
    pub fn http_addr(&self) -> SocketAddr {
        self.shared.http_addr
    }

    /// The DNS server address (UDP and TCP).
    pub fn dns_addr(&self) -> SocketAddr {
        self.dns_addr
    }

    /// The SML zone served.
    pub fn sml_zone(&self) -> &str {
        &self.shared.config.sml_zone
    }

    /// Base URL of the address book JSON:API.
    pub fn address_book_url(&self) -> String {
        format!("http://{}/addressbook", self.shared.http_addr)
    }

    /// Base URL of the SMP.
    pub fn smp_url(&self) -> String {
        format!("http://{}/smp", self.shared.http_addr)
    }

    /// The SMP CA certificate (the trust anchor clients must configure).
    pub fn smp_ca(&self) -> X509 {
        self.shared.pki.ca.certificate.clone()
    }

    /// The SMP CA certificate in PEM.
    pub fn smp_ca_pem(&self) -> Vec<u8> {
        self.shared.pki.ca.certificate.to_pem().unwrap_or_default()
    }

    /// Replaces the fault switches.
    pub fn set_faults(&self, faults: Faults) {
        if let Ok(mut f) = self.shared.faults.lock() {
            *f = faults;
        }
    }

    /// The request counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }
}

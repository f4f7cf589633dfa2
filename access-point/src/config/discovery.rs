//! `[discovery]`: dynamic recipient discovery through the SML (DNS) and SMPs (owned by `msh::discovery_resolver`).
//! When the section is present the node resolves every AP not in `[[peers]]` through SML → SMP; the SMP signing
//! certificates must chain to `[trust] smp_anchors`.

use address_book_client::cache::CachePolicy;
use address_book_client::{
    default_transport_profiles, DiscoverySettings, HttpSettings, SmlSettings, SmpSettings, SmpTrust,
};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// `[discovery]`. Times are milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryConfig {
    /// The SML DNS zone, e.g. `sml.sdk.example` (without the `iso6523-actorid-upis` label).
    pub sml_zone: String,
    /// DNS servers to ask (`ip:port`); empty means the system resolver configuration.
    #[serde(default)]
    pub dns_servers: Vec<SocketAddr>,
    /// Per-query DNS timeout.
    #[serde(default = "default_dns_timeout_ms")]
    pub dns_timeout_ms: u64,
    /// Whole SMP request time limit.
    #[serde(default = "default_smp_timeout_ms")]
    pub smp_timeout_ms: u64,
    /// Largest accepted SMP answer, in bytes.
    #[serde(default = "default_smp_max_body_bytes")]
    pub smp_max_body_bytes: usize,
    /// Accepted transport profiles, most preferred first (default: DIGG AS4 1.2, 1.0, eDelivery AS4).
    #[serde(default = "default_transport_profiles")]
    pub transport_profiles: Vec<String>,
    /// How long a good SMP/SML answer is used without asking again.
    #[serde(default = "default_cache_ttl_ms")]
    pub cache_ttl_ms: u64,
    /// How long a definite "not registered" is remembered.
    #[serde(default = "default_negative_ttl_ms")]
    pub negative_ttl_ms: u64,
    /// How long past its TTL an answer is still used while the SML/SMP is unreachable (logged as stale).
    #[serde(default = "default_stale_grace_ms")]
    pub stale_grace_ms: u64,
    /// While serving stale answers, how often the service is asked again.
    #[serde(default = "default_retry_interval_ms")]
    pub retry_interval_ms: u64,
    /// Most cached answers kept (per cache: SML and SMP).
    #[serde(default = "default_cache_max_entries")]
    pub cache_max_entries: usize,
    /// CA certificates (PEM files, each may hold several) that an SMP reached over `https` must chain to. Empty:
    /// `https` SMP URLs are refused (a TLS error that names the SMP; not retried). Independent of
    /// `[trust] smp_anchors`, which anchors the SMP's XML signature.
    #[serde(default)]
    pub smp_tls_trust: Vec<PathBuf>,
}

fn default_dns_timeout_ms() -> u64 {
    3_000
}
fn default_smp_timeout_ms() -> u64 {
    10_000
}
fn default_smp_max_body_bytes() -> usize {
    4 * 1024 * 1024
}
fn default_cache_ttl_ms() -> u64 {
    15 * 60 * 1000
}
fn default_negative_ttl_ms() -> u64 {
    60 * 1000
}
fn default_stale_grace_ms() -> u64 {
    24 * 60 * 60 * 1000
}
fn default_retry_interval_ms() -> u64 {
    10_000
}
fn default_cache_max_entries() -> usize {
    10_000
}

impl DiscoveryConfig {
    /// The cache policy of both caches.
    pub fn cache_policy(&self) -> CachePolicy {
        CachePolicy {
            ttl: Duration::from_millis(self.cache_ttl_ms),
            negative_ttl: Duration::from_millis(self.negative_ttl_ms),
            stale_grace: Duration::from_millis(self.stale_grace_ms),
            retry_interval: Duration::from_millis(self.retry_interval_ms),
            max_entries: self.cache_max_entries.max(1),
        }
    }

    /// The settings of the discovery client, with `smp_trust` from `[trust] smp_anchors`.
    pub fn settings(&self, smp_trust: SmpTrust) -> DiscoverySettings {
        DiscoverySettings {
            sml: SmlSettings {
                zone: self.sml_zone.clone(),
                dns_servers: self.dns_servers.clone(),
                timeout: Duration::from_millis(self.dns_timeout_ms.max(1)),
                ..SmlSettings::default()
            },
            smp: SmpSettings {
                http: HttpSettings {
                    timeout: Duration::from_millis(self.smp_timeout_ms.max(1)),
                    max_body_bytes: self.smp_max_body_bytes,
                    tls: None,
                },
                trust: smp_trust,
                transport_profiles: self.transport_profiles.clone(),
            },
            sml_cache: self.cache_policy(),
            smp_cache: self.cache_policy(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_everything_but_the_zone() {
        let c: DiscoveryConfig =
            toml::from_str("sml_zone = \"sml.sdk.test\"\ndns_servers = [\"127.0.0.1:5353\"]").unwrap();
        assert_eq!(c.dns_servers, vec!["127.0.0.1:5353".parse::<SocketAddr>().unwrap()]);
        assert_eq!(c.transport_profiles, default_transport_profiles());
        assert_eq!(c.cache_policy().ttl, Duration::from_secs(900));
        assert!(toml::from_str::<DiscoveryConfig>("dns_servers = []").is_err());
        assert!(toml::from_str::<DiscoveryConfig>("sml_zone = \"z\"\nbogus = 1").is_err());
        assert!(
            c.smp_tls_trust.is_empty(),
            "https SMPs are refused unless trust is configured"
        );
    }
}

//! Finding the receiving access point of an outbound message: its endpoint URL and certificates.
//!
//! [`RecipientResolver`] is the seam between the sender and discovery. [`StaticPeers`] answers from the `[[peers]]`
//! table of the configuration; SML/SMP discovery will be a second implementation (its answers depend on the final
//! recipient, which is why the question carries it).

use openssl::x509::X509;

use crate::config::{Config, ConfigError};
use crate::store::BoxFuture;

/// Who the message is for: the receiving AP's party id, and the participant behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientQuery {
    /// The receiving access point's PartyId (`eb:To`).
    pub to_party: String,
    /// The `finalRecipient` participant (e.g. `0203:example.se`), when the profile has one.
    pub final_recipient: Option<String>,
    /// The message's action: the SMP document id when discovery resolves the recipient.
    pub action: Option<String>,
}

/// Where and to whom to send.
#[derive(Debug, Clone)]
pub struct ResolvedRecipient {
    pub party_id: String,
    pub party_id_type: String,
    /// The AS4 endpoint URL.
    pub endpoint: String,
    /// The peer's message certificate: we encrypt to it, and its signature on the receipt must verify with it.
    pub message_cert: X509,
    /// The peer's TLS server certificate when pinned (otherwise the TLS trust store decides).
    pub tls_cert: Option<X509>,
}

/// Why no recipient could be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// Nobody is known under this party id: no retry helps (with a static table).
    #[error("no access point {0:?} is configured in [[peers]]")]
    UnknownPeer(String),
    /// A lookup failed in a way that may pass (DNS, SMP down).
    #[error("recipient lookup failed, will retry: {0}")]
    Temporary(String),
    /// Discovery gave a definite answer that rules the recipient out (not registered in the SML/SMP, a forged or
    /// untrusted answer): no retry helps.
    #[error("recipient discovery failed: {0}")]
    Discovery(String),
    /// The configuration of the peer is broken (e.g. its certificate file is unreadable).
    #[error("peer configuration: {0}")]
    Config(String),
}

impl ResolveError {
    /// Whether a later attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ResolveError::Temporary(_))
    }
}

/// Resolves the receiving access point of a message. Object safe so discovery can be chosen at run time.
pub trait RecipientResolver: Send + Sync {
    fn resolve<'a>(&'a self, query: &'a RecipientQuery) -> BoxFuture<'a, Result<ResolvedRecipient, ResolveError>>;
}

/// The static `[[peers]]` table, with certificates loaded once at start.
#[derive(Debug, Clone, Default)]
pub struct StaticPeers {
    peers: Vec<ResolvedRecipient>,
}

impl StaticPeers {
    /// Loads every `[[peers]]` entry and its certificates (errors name the setting).
    pub fn from_config(config: &Config) -> Result<StaticPeers, ConfigError> {
        let mut peers = Vec::with_capacity(config.peers.len());
        for (index, peer) in config.peers.iter().enumerate() {
            let certs = config.peer_certificates(index)?;
            peers.push(ResolvedRecipient {
                party_id: peer.party_id.clone(),
                party_id_type: peer.party_id_type.clone(),
                endpoint: peer.endpoint.clone(),
                message_cert: certs.message,
                tls_cert: certs.tls,
            });
        }
        Ok(StaticPeers { peers })
    }

    /// A table built in code.
    pub fn new(peers: Vec<ResolvedRecipient>) -> StaticPeers {
        StaticPeers { peers }
    }

    pub fn get(&self, party_id: &str) -> Option<&ResolvedRecipient> {
        self.peers.iter().find(|p| p.party_id == party_id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &ResolvedRecipient> {
        self.peers.iter()
    }
}

impl RecipientResolver for StaticPeers {
    fn resolve<'a>(&'a self, query: &'a RecipientQuery) -> BoxFuture<'a, Result<ResolvedRecipient, ResolveError>> {
        let found = self
            .get(&query.to_party)
            .cloned()
            .ok_or_else(|| ResolveError::UnknownPeer(query.to_party.clone()));
        Box::pin(async move { found })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn static_table_resolves_by_party_id_and_refuses_strangers() {
        let pki = crate::pki::dev::DevPki::throwaway("AP0002-DEV").unwrap();
        let table = StaticPeers::new(vec![ResolvedRecipient {
            party_id: "AP0002-DEV".into(),
            party_id_type: crate::config::SDK_PARTY_ID_TYPE.into(),
            endpoint: "https://localhost:9443/as4".into(),
            message_cert: pki.message.certificate.clone(),
            tls_cert: None,
        }]);
        let query = |to: &str| RecipientQuery {
            to_party: to.into(),
            final_recipient: Some("0203:x.example".into()),
            action: None,
        };
        let found = table.resolve(&query("AP0002-DEV")).await.unwrap();
        assert_eq!(found.endpoint, "https://localhost:9443/as4");
        let err = table.resolve(&query("AP0009-DEV")).await.unwrap_err();
        assert_eq!(err, ResolveError::UnknownPeer("AP0009-DEV".into()));
        assert!(!err.is_retryable());
    }
}

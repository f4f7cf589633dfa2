//! Finding the receiving access point of an outbound message: its endpoint URL and certificates.
//!
//! [`RecipientResolver`] is the seam between the sender and discovery. [`StaticPeers`] answers from the `[[peers]]`
//! table of the configuration (by AP party id, or by a participant listed in a peer's `participants`); SML/SMP
//! discovery ([`super::discovery_resolver`]) is the second implementation. A question may name the receiving AP, or
//! only the final recipient participant: in SDK a sender knows the participant, and the AP is what discovery finds.

use openssl::x509::X509;

use crate::config::{Config, ConfigError};
use crate::store::BoxFuture;

/// Who the message is for: the receiving AP's party id (when known), and the participant behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientQuery {
    /// The receiving access point's PartyId (`eb:To`); empty when the submission did not name it (the resolver then
    /// finds the AP from `final_recipient`).
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
    /// The peer's Ed25519 certificate (eDelivery AS4 2.0): its receipts under an eddsa-ed25519 P-Mode must be signed
    /// with exactly this certificate. `None` when not configured (discovery publishes only the message certificate).
    pub ed25519_cert: Option<X509>,
    /// The peer's X25519 certificate (eDelivery AS4 2.0): we encrypt to it under a key-agreement P-Mode.
    pub x25519_cert: Option<X509>,
}

/// Why no recipient could be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// Nobody is known under this party id (or, when the query names no AP, for this participant): no retry helps
    /// (with a static table).
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
    /// Per peer (same index), the participants it serves (normalised: no scheme, lower case).
    participants: Vec<Vec<String>>,
}

/// A participant id as compared here: without the `iso6523-actorid-upis::` scheme, lower case (participant ids are
/// case-insensitive).
pub fn normalize_participant(participant: &str) -> String {
    let p = participant.trim();
    p.strip_prefix("iso6523-actorid-upis::")
        .unwrap_or(p)
        .to_ascii_lowercase()
}

impl StaticPeers {
    /// Loads every `[[peers]]` entry and its certificates (errors name the setting).
    pub fn from_config(config: &Config) -> Result<StaticPeers, ConfigError> {
        let mut peers = Vec::with_capacity(config.peers.len());
        let mut participants = Vec::with_capacity(config.peers.len());
        for (index, peer) in config.peers.iter().enumerate() {
            participants.push(peer.participants.iter().map(|p| normalize_participant(p)).collect());
            let certs = config.peer_certificates(index)?;
            peers.push(ResolvedRecipient {
                party_id: peer.party_id.clone(),
                party_id_type: peer.party_id_type.clone(),
                endpoint: peer.endpoint.clone(),
                message_cert: certs.message,
                tls_cert: certs.tls,
                ed25519_cert: certs.ed25519,
                x25519_cert: certs.x25519,
            });
        }
        Ok(StaticPeers { peers, participants })
    }

    /// A table built in code (no participants: found by party id only).
    pub fn new(peers: Vec<ResolvedRecipient>) -> StaticPeers {
        let participants = vec![Vec::new(); peers.len()];
        StaticPeers { peers, participants }
    }

    /// A table built in code, each peer with the participants it serves.
    pub fn with_participants(entries: Vec<(ResolvedRecipient, Vec<String>)>) -> StaticPeers {
        let (peers, participants) = entries
            .into_iter()
            .map(|(peer, served)| (peer, served.iter().map(|p| normalize_participant(p)).collect()))
            .unzip();
        StaticPeers { peers, participants }
    }

    pub fn get(&self, party_id: &str) -> Option<&ResolvedRecipient> {
        self.peers.iter().find(|p| p.party_id == party_id)
    }

    /// The peer listing `participant` in its `participants` (the first one, in configuration order).
    pub fn serving(&self, participant: &str) -> Option<&ResolvedRecipient> {
        let wanted = normalize_participant(participant);
        self.participants
            .iter()
            .position(|served| served.contains(&wanted))
            .map(|index| &self.peers[index])
    }

    /// The answer for a query: by party id when it names the AP, else by its final recipient.
    pub fn lookup(&self, query: &RecipientQuery) -> Option<&ResolvedRecipient> {
        if query.to_party.is_empty() {
            query.final_recipient.as_deref().and_then(|p| self.serving(p))
        } else {
            self.get(&query.to_party)
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &ResolvedRecipient> {
        self.peers.iter()
    }
}

impl RecipientResolver for StaticPeers {
    fn resolve<'a>(&'a self, query: &'a RecipientQuery) -> BoxFuture<'a, Result<ResolvedRecipient, ResolveError>> {
        let found = self
            .lookup(query)
            .cloned()
            .ok_or_else(|| ResolveError::UnknownPeer(describe(query)));
        Box::pin(async move { found })
    }
}

/// The query as named in an error: the AP, or the participant when the AP is not named.
pub(crate) fn describe(query: &RecipientQuery) -> String {
    match (&query.to_party, &query.final_recipient) {
        (to, _) if !to.is_empty() => to.clone(),
        (_, Some(participant)) => format!("serving participant {participant}"),
        _ => "(neither an AP nor a final recipient named)".to_string(),
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
            ed25519_cert: None,
            x25519_cert: None,
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

    #[tokio::test]
    async fn static_table_resolves_a_participant_when_the_ap_is_not_named() {
        let pki = crate::pki::dev::DevPki::throwaway("AP0002-DEV").unwrap();
        let peer = |party: &str| ResolvedRecipient {
            party_id: party.into(),
            party_id_type: crate::config::SDK_PARTY_ID_TYPE.into(),
            endpoint: format!("https://{party}/as4"),
            message_cert: pki.message.certificate.clone(),
            tls_cert: None,
            ed25519_cert: None,
            x25519_cert: None,
        };
        let table = StaticPeers::with_participants(vec![
            (peer("AP0002-DEV"), vec!["0203:b.example".into()]),
            (peer("AP0003-DEV"), vec!["iso6523-actorid-upis::0203:C.Example".into()]),
        ]);
        let query = |participant: &str| RecipientQuery {
            to_party: String::new(),
            final_recipient: Some(participant.into()),
            action: None,
        };
        // Scheme prefix and letter case do not matter.
        let found = table
            .resolve(&query("iso6523-actorid-upis::0203:B.example"))
            .await
            .unwrap();
        assert_eq!(found.party_id, "AP0002-DEV");
        assert_eq!(
            table.resolve(&query("0203:c.example")).await.unwrap().party_id,
            "AP0003-DEV"
        );
        let err = table.resolve(&query("0203:nobody.example")).await.unwrap_err();
        assert!(err.to_string().contains("0203:nobody.example"), "{err}");
        assert!(!err.is_retryable());
        // A named AP is looked up by its party id, not by the participant.
        let named = RecipientQuery {
            to_party: "AP0003-DEV".into(),
            ..query("0203:b.example")
        };
        assert_eq!(table.resolve(&named).await.unwrap().party_id, "AP0003-DEV");
    }
}

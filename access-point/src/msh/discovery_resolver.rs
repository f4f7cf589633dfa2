//! Recipient resolution through SML/SMP discovery (`address-book-client`), with the static `[[peers]]` table as an
//! override ([`ChainedResolver`]).
//!
//! The question is the message's `finalRecipient` participant and its action (the SMP document id). The SMP answer
//! gives the endpoint URL and the receiving AP's certificate; that certificate must chain to this environment's AP
//! PKI (the message trust store) before we encrypt to it, and its CN is the receiving AP's PartyId: it must match the
//! message's `To` PartyId when the submission named one, and becomes it when the submission did not. Failures keep their meaning: "not registered" is final, an unreachable SML/SMP is
//! retryable, and a stale cached answer (within the cache's grace period) is used and logged.

use std::sync::Arc;

use address_book_client::{
    Discovery, DiscoveryError, DocumentId, Freshness, HttpSettings, ParticipantId, Resolved, SmpTrust,
};
use time::OffsetDateTime;

use super::resolver::{RecipientQuery, RecipientResolver, ResolveError, ResolvedRecipient, StaticPeers};
use crate::config::{Config, ConfigError, SDK_PARTY_ID_TYPE};
use crate::pki::{Purpose, TrustStore};
use crate::store::BoxFuture;

/// Resolves recipients through SML → SMP and checks the AP certificate against the message trust store.
#[derive(Clone)]
pub struct DiscoveryResolver {
    discovery: Discovery,
    message_trust: TrustStore,
}

impl DiscoveryResolver {
    pub fn new(discovery: Discovery, message_trust: TrustStore) -> DiscoveryResolver {
        DiscoveryResolver {
            discovery,
            message_trust,
        }
    }

    /// The discovery client (for its cache counters).
    pub fn discovery(&self) -> &Discovery {
        &self.discovery
    }

    async fn lookup(&self, query: &RecipientQuery) -> Result<ResolvedRecipient, ResolveError> {
        let (participant, document) = ids_of(query)?;
        let resolved = self
            .discovery
            .resolve(&participant, &document)
            .await
            .map_err(|e| map_discovery_error(&participant, &e))?;
        if let Freshness::Stale { age, reason } = &resolved.freshness {
            tracing::warn!(participant = %participant, age_s = age.as_secs(), %reason,
                "SMP/SML unavailable: using the stale cached discovery answer");
        }
        accept(resolved, query, &self.message_trust, OffsetDateTime::now_utc())
    }
}

/// The discovery resolver `[discovery]` asks for, or `None` without that section. The SMP signing certificates must
/// chain to `[trust] smp_anchors`, which is then required.
pub fn from_config(config: &Config, message_trust: &TrustStore) -> Result<Option<DiscoveryResolver>, ConfigError> {
    let Some(section) = &config.discovery else {
        return Ok(None);
    };
    let anchors = config.smp_trust_store()?.anchors().to_vec();
    let smp_trust =
        SmpTrust::new(anchors).map_err(|e| config.error("trust.smp_anchors", format!("[discovery]: {e}")))?;
    let mut settings = section.settings(smp_trust);
    settings.smp.http.tls = smp_tls(config, &section.smp_tls_trust)?;
    let discovery = Discovery::new(settings).map_err(|e| config.error("discovery.dns_servers", e.to_string()))?;
    Ok(Some(DiscoveryResolver::new(discovery, message_trust.clone())))
}

/// The TLS client configuration for `https` SMPs from `[discovery] smp_tls_trust` (`None` when empty: `https` SMP
/// URLs are then refused).
fn smp_tls(
    config: &Config,
    files: &[std::path::PathBuf],
) -> Result<Option<address_book_client::TlsClientConfig>, ConfigError> {
    if files.is_empty() {
        return Ok(None);
    }
    let mut pem = Vec::new();
    for file in files {
        let bytes = std::fs::read(file)
            .map_err(|e| config.error("discovery.smp_tls_trust", format!("{}: {e}", file.display())))?;
        if !bytes.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
            return Err(config.error(
                "discovery.smp_tls_trust",
                format!("{}: no PEM certificate in the file", file.display()),
            ));
        }
        pem.extend_from_slice(&bytes);
        pem.push(b'\n');
    }
    HttpSettings::tls_from_pem(&pem)
        .map(Some)
        .map_err(|e| config.error("discovery.smp_tls_trust", e))
}

/// The participant and document id of a query: the `finalRecipient` and the action.
fn ids_of(query: &RecipientQuery) -> Result<(ParticipantId, DocumentId), ResolveError> {
    let Some(final_recipient) = query.final_recipient.as_deref().filter(|s| !s.is_empty()) else {
        return Err(ResolveError::UnknownPeer(format!(
            "{} (no finalRecipient to look up in the SML/SMP)",
            query.to_party
        )));
    };
    let participant = ParticipantId::parse(final_recipient)
        .map_err(|e| ResolveError::Discovery(format!("finalRecipient {final_recipient:?}: {e}")))?;
    let action = query.action.as_deref().unwrap_or("");
    let document = DocumentId::parse(action)
        .map_err(|e| ResolveError::Discovery(format!("action {action:?} as SMP document id: {e}")))?;
    Ok((participant, document))
}

/// A discovery failure as a send failure: unavailability may pass (retry); every definite or forged answer is final.
pub fn map_discovery_error(participant: &ParticipantId, e: &DiscoveryError) -> ResolveError {
    let text = format!("discovery of {participant} via {}: {e}", e.service());
    if e.is_unavailability() {
        ResolveError::Temporary(text)
    } else {
        ResolveError::Discovery(text)
    }
}

/// Checks an SMP answer before use: the AP certificate chains to the message trust store (AP PKI), is valid for
/// encryption now, and its CN names the AP the message is addressed to.
fn accept(
    resolved: Resolved,
    query: &RecipientQuery,
    message_trust: &TrustStore,
    at: OffsetDateTime,
) -> Result<ResolvedRecipient, ResolveError> {
    let participant = &resolved.participant;
    message_trust
        .verify(&resolved.ap_certificate, &[], Purpose::KeyTransport, at)
        .map_err(|e| {
            ResolveError::Discovery(format!(
                "SMP {} names an AP certificate for {participant} that this AP does not trust: {e}",
                resolved.smp_url
            ))
        })?;
    if !query.to_party.is_empty() && resolved.ap_party_id != query.to_party {
        return Err(ResolveError::Discovery(format!(
            "SMP {} serves {participant} through AP {:?}, but the message is addressed to AP {:?}",
            resolved.smp_url, resolved.ap_party_id, query.to_party
        )));
    }
    Ok(ResolvedRecipient {
        party_id: resolved.ap_party_id,
        party_id_type: SDK_PARTY_ID_TYPE.to_string(),
        endpoint: resolved.endpoint_url,
        message_cert: resolved.ap_certificate,
        tls_cert: None,
        // SDK's SMP publishes one (RSA) certificate per endpoint: AS4 2.0 peers come from [[peers]].
        ed25519_cert: None,
        x25519_cert: None,
    })
}

impl RecipientResolver for DiscoveryResolver {
    fn resolve<'a>(&'a self, query: &'a RecipientQuery) -> BoxFuture<'a, Result<ResolvedRecipient, ResolveError>> {
        Box::pin(self.lookup(query))
    }
}

/// The static `[[peers]]` table first (an operator's override: by AP party id, or by a peer's `participants` when
/// the query names no AP), then discovery for everything the table does not answer.
pub struct ChainedResolver {
    overrides: StaticPeers,
    fallback: Arc<dyn RecipientResolver>,
}

impl ChainedResolver {
    pub fn new(overrides: StaticPeers, fallback: Arc<dyn RecipientResolver>) -> ChainedResolver {
        ChainedResolver { overrides, fallback }
    }
}

impl RecipientResolver for ChainedResolver {
    fn resolve<'a>(&'a self, query: &'a RecipientQuery) -> BoxFuture<'a, Result<ResolvedRecipient, ResolveError>> {
        match self.overrides.lookup(query) {
            Some(found) => {
                let found = found.clone();
                Box::pin(async move { Ok(found) })
            }
            None => self.fallback.resolve(query),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::dev::DevPki;

    fn query(to: &str, final_recipient: Option<&str>) -> RecipientQuery {
        RecipientQuery {
            to_party: to.into(),
            final_recipient: final_recipient.map(Into::into),
            action: Some(address_book_client::ids::SDK_MESSAGE_BASE.into()),
        }
    }

    fn resolved(cert: openssl::x509::X509, cn: &str) -> Resolved {
        Resolved {
            participant: ParticipantId::parse("0203:b.example").unwrap(),
            document: DocumentId::parse(address_book_client::ids::SDK_MESSAGE_BASE).unwrap(),
            smp_url: "http://127.0.0.1:1/smp".into(),
            endpoint_url: "https://127.0.0.1:2/as4".into(),
            transport_profile: "digg-transport-as4-v1_2".into(),
            process_id: "bdx:noprocess".into(),
            ap_certificate: cert,
            ap_party_id: cn.into(),
            certpub: Default::default(),
            smp_signer: "CN=smp".into(),
            freshness: Freshness::Fresh,
        }
    }

    #[test]
    fn trusted_certificate_with_matching_cn_is_accepted() {
        let pki = DevPki::throwaway("AP0002-DEV").unwrap();
        let trust = TrustStore::new(vec![pki.ca.certificate.clone()]);
        let r = accept(
            resolved(pki.message.certificate.clone(), "AP0002-DEV"),
            &query("AP0002-DEV", Some("0203:b.example")),
            &trust,
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        assert_eq!(r.endpoint, "https://127.0.0.1:2/as4");
        assert_eq!(r.party_id, "AP0002-DEV");
    }

    #[test]
    fn certificate_outside_the_ap_pki_is_refused() {
        let ours = DevPki::throwaway("AP0001-DEV").unwrap();
        let stranger = DevPki::throwaway("AP0002-DEV").unwrap();
        let trust = TrustStore::new(vec![ours.ca.certificate.clone()]);
        let e = accept(
            resolved(stranger.message.certificate.clone(), "AP0002-DEV"),
            &query("AP0002-DEV", Some("0203:b.example")),
            &trust,
            OffsetDateTime::now_utc(),
        )
        .unwrap_err();
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("does not trust"), "{e}");
    }

    #[test]
    fn certificate_of_another_ap_is_refused() {
        let pki = DevPki::throwaway("AP0003-DEV").unwrap();
        let trust = TrustStore::new(vec![pki.ca.certificate.clone()]);
        let e = accept(
            resolved(pki.message.certificate.clone(), "AP0003-DEV"),
            &query("AP0002-DEV", Some("0203:b.example")),
            &trust,
            OffsetDateTime::now_utc(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("addressed to AP"), "{e}");
    }

    #[test]
    fn unavailability_is_retryable_and_not_registered_is_final() {
        let p = ParticipantId::parse("0203:b.example").unwrap();
        let down = DiscoveryError::DnsTimeout {
            name: "x".into(),
            timeout_ms: 10,
        };
        assert!(map_discovery_error(&p, &down).is_retryable());
        let gone = DiscoveryError::NotRegistered {
            participant: p.to_string(),
        };
        let e = map_discovery_error(&p, &gone);
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("SMP"), "{e}");
    }

    #[test]
    fn discovery_section_needs_smp_anchors_and_builds_a_resolver_with_them() {
        let tmp = tempfile::tempdir().unwrap();
        let made = crate::cli::init::init(&crate::cli::init::InitArgs {
            dir: tmp.path().join("a"),
            party: "AP0001-DEV".into(),
            port: 18451,
            api_port: None,
            force: false,
        })
        .unwrap();
        let mut config = Config::load(&made.config_file).unwrap();
        let trust = config.message_trust_store().unwrap();
        assert!(
            from_config(&config, &trust).unwrap().is_none(),
            "no [discovery]: no resolver"
        );
        config.discovery =
            Some(toml::from_str("sml_zone = \"sml.sdk.test\"\ndns_servers = [\"127.0.0.1:5353\"]").unwrap());
        config.trust.smp_anchors.clear();
        let e = from_config(&config, &trust)
            .err()
            .expect("refused without an SMP anchor");
        assert!(e.to_string().contains("smp"), "{e}");
        let ca = DevPki::throwaway("SMP").unwrap();
        let anchor = tmp.path().join("smp-ca.pem");
        std::fs::write(&anchor, ca.ca.certificate.to_pem().unwrap()).unwrap();
        config.trust.smp_anchors = vec![anchor.clone()];
        assert!(from_config(&config, &trust).unwrap().is_some());
        // smp_tls_trust: PEM CA files; anything else is refused naming the setting.
        let section = config.discovery.as_mut().unwrap();
        section.smp_tls_trust = vec![anchor];
        assert!(from_config(&config, &trust).unwrap().is_some());
        let not_pem = tmp.path().join("not-a-cert.txt");
        std::fs::write(&not_pem, "hello").unwrap();
        for bad in [not_pem, tmp.path().join("missing.pem")] {
            config.discovery.as_mut().unwrap().smp_tls_trust = vec![bad];
            let e = from_config(&config, &trust).err().expect("refused");
            assert!(e.to_string().contains("discovery.smp_tls_trust"), "{e}");
        }
    }

    #[test]
    fn missing_final_recipient_is_final() {
        assert!(!ids_of(&query("AP0002-DEV", None)).unwrap_err().is_retryable());
    }

    #[tokio::test]
    async fn static_table_overrides_the_fallback() {
        let pki = DevPki::throwaway("AP0002-DEV").unwrap();
        let table = StaticPeers::new(vec![ResolvedRecipient {
            party_id: "AP0002-DEV".into(),
            party_id_type: SDK_PARTY_ID_TYPE.into(),
            endpoint: "https://override/as4".into(),
            message_cert: pki.message.certificate.clone(),
            tls_cert: None,
            ed25519_cert: None,
            x25519_cert: None,
        }]);
        // The fallback is an empty table: anything not overridden is unknown.
        let chained = ChainedResolver::new(table, Arc::new(StaticPeers::default()));
        let found = chained
            .resolve(&query("AP0002-DEV", Some("0203:b.example")))
            .await
            .unwrap();
        assert_eq!(found.endpoint, "https://override/as4");
        let e = chained
            .resolve(&query("AP0009-DEV", Some("0203:b.example")))
            .await
            .unwrap_err();
        assert_eq!(e, ResolveError::UnknownPeer("AP0009-DEV".into()));
    }
}

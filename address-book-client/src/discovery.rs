//! The discovery facade: participant + document id → verified endpoint, AP certificate, CertPub certificates,
//! through the SML and the SMP, with caching ([`crate::cache`]) of both steps.

use crate::cache::{CachePolicy, CacheStats, Freshness, LookupCache};
use crate::error::DiscoveryError;
use crate::ids::{DocumentId, ParticipantId};
use crate::sml::{Naptr, SmlClient, SmlSettings};
use crate::smp::certpub::CertPub;
use crate::smp::xml::ServiceGroup;
use crate::smp::{SmpClient, SmpSettings, VerifiedMetadata};
use openssl::x509::X509;
use std::sync::Arc;
use std::time::Duration;

/// Discovery settings.
#[derive(Debug, Clone)]
pub struct DiscoverySettings {
    pub sml: SmlSettings,
    pub smp: SmpSettings,
    /// Policy for SML answers (participant → SMP URL).
    pub sml_cache: CachePolicy,
    /// Policy for SMP answers (participant + document → endpoint).
    pub smp_cache: CachePolicy,
}

/// What a recipient resolves to.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub participant: ParticipantId,
    pub document: DocumentId,
    pub smp_url: String,
    pub endpoint_url: String,
    pub transport_profile: String,
    pub process_id: String,
    pub ap_certificate: X509,
    /// The CN of the AP certificate: the AS4 `To/PartyId` in SDK.
    pub ap_party_id: String,
    pub certpub: CertPub,
    /// Subject of the SMP signing certificate.
    pub smp_signer: String,
    pub freshness: Freshness,
}

/// The full lookup chain, uncached, for operators (`sdk-ap lookup`).
#[derive(Debug, Clone)]
pub struct LookupChain {
    pub dns_name: String,
    pub naptrs: Vec<Naptr>,
    pub smp_url: String,
    pub service_group: ServiceGroup,
    pub metadata: Option<VerifiedMetadata>,
}

#[derive(Clone)]
/// A verified answer, and the SML staleness (age, reason) of the SMP URL it was fetched through, if any.
struct SmpAnswer(Arc<VerifiedMetadata>, Option<(Duration, String)>);

/// Resolves recipients. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Discovery {
    sml: Arc<SmlClient>,
    smp: Arc<SmpClient>,
    sml_cache: LookupCache<ParticipantId, String>,
    smp_cache: LookupCache<(ParticipantId, DocumentId), SmpAnswer>,
}

impl Discovery {
    pub fn new(settings: DiscoverySettings) -> Result<Self, DiscoveryError> {
        Ok(Discovery {
            sml: Arc::new(SmlClient::new(settings.sml)?),
            smp: Arc::new(SmpClient::new(settings.smp)),
            sml_cache: LookupCache::new(settings.sml_cache),
            smp_cache: LookupCache::new(settings.smp_cache),
        })
    }

    /// The SMP URL of a participant, through the SML cache.
    pub async fn smp_url(&self, participant: &ParticipantId) -> Result<(String, Freshness), DiscoveryError> {
        let sml = self.sml.clone();
        let p = participant.clone();
        self.sml_cache
            .get_or_fetch(participant, move || async move { Ok((sml.smp_url(&p).await?, None)) })
            .await
    }

    /// Resolves `participant` for `document`: cached when the policy allows, else SML → SMP with every check.
    pub async fn resolve(
        &self,
        participant: &ParticipantId,
        document: &DocumentId,
    ) -> Result<Resolved, DiscoveryError> {
        let key = (participant.clone(), document.clone());
        let this = self.clone();
        let (p, d) = key.clone();
        let (answer, freshness) = self
            .smp_cache
            .get_or_fetch(&key, move || async move {
                let (smp_url, sml_freshness) = this.smp_url(&p).await?;
                let metadata = this.smp.service_metadata(&smp_url, &p, &d).await?;
                let cap = metadata.selected.endpoint.expiration.map(|e| {
                    let left = e - time::OffsetDateTime::now_utc();
                    Duration::try_from(left).unwrap_or(Duration::ZERO)
                });
                let note = match sml_freshness {
                    Freshness::Fresh => None,
                    Freshness::Stale { age, reason } => Some((age, reason)),
                };
                Ok((SmpAnswer(Arc::new(metadata), note), cap))
            })
            .await?;
        let SmpAnswer(metadata, sml_note) = answer;
        // An answer fetched through a stale SMP URL is itself only as current as that URL.
        let freshness = match (freshness, sml_note) {
            (Freshness::Fresh, Some((age, reason))) => Freshness::Stale { age, reason },
            (f, _) => f,
        };
        let endpoint = &metadata.selected.endpoint;
        Ok(Resolved {
            participant: participant.clone(),
            document: document.clone(),
            smp_url: metadata.url.clone(),
            endpoint_url: endpoint.address.clone(),
            transport_profile: endpoint.transport_profile.clone(),
            process_id: metadata.selected.process_id.clone(),
            ap_certificate: metadata.ap_certificate.certificate.clone(),
            ap_party_id: metadata.ap_certificate.common_name.clone(),
            certpub: metadata.information.certpub.clone(),
            smp_signer: metadata.signer_subject.clone(),
            freshness,
        })
    }

    /// Every step, uncached: NAPTR records, SMP URL, service group and (if `document` is given) the verified
    /// metadata.
    pub async fn lookup_chain(
        &self,
        participant: &ParticipantId,
        document: Option<&DocumentId>,
    ) -> Result<LookupChain, DiscoveryError> {
        let (dns_name, naptrs) = self.sml.naptr_records(participant).await?;
        let smp_url = crate::sml::smp_url_from_naptrs(&dns_name, &naptrs)?;
        let service_group = self.smp.service_group(&smp_url, participant).await?;
        let metadata = match document {
            Some(d) => Some(self.smp.service_metadata(&smp_url, participant, d).await?),
            None => None,
        };
        Ok(LookupChain {
            dns_name,
            naptrs,
            smp_url,
            service_group,
            metadata,
        })
    }

    /// Cache counters: (SML, SMP).
    pub fn cache_stats(&self) -> (CacheStats, CacheStats) {
        (self.sml_cache.stats(), self.smp_cache.stats())
    }

    /// Forgets every cached answer.
    pub fn clear_cache(&self) {
        self.sml_cache.clear();
        self.smp_cache.clear();
    }
}

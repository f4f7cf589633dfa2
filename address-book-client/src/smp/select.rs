//! Endpoint selection: the first transport profile in the caller's preference order that the participant offers
//! with an endpoint active now, and the AP certificate of that endpoint.

use super::xml::{Endpoint, ServiceInformation};
use crate::error::DiscoveryError;
use openssl::asn1::Asn1Time;
use openssl::nid::Nid;
use openssl::x509::X509;
use time::OffsetDateTime;

/// SDK AS4 transport profile 1.0 (code list "Transportprofiler").
pub const DIGG_AS4_V1_0: &str = "digg-transport-as4-v1_0";
/// SDK AS4 transport profile 1.2.
pub const DIGG_AS4_V1_2: &str = "digg-transport-as4-v1_2";
/// The eDelivery AS4 profile.
pub const EDELIVERY_AS4: &str = "bdxr-transport-ebms3-as4-v1p0";

/// The default preference order: newest SDK profile first, then eDelivery AS4.
pub fn default_transport_profiles() -> Vec<String> {
    vec![DIGG_AS4_V1_2.into(), DIGG_AS4_V1_0.into(), EDELIVERY_AS4.into()]
}

/// The chosen endpoint with its process.
#[derive(Debug, Clone)]
pub struct SelectedEndpoint {
    pub process_id: String,
    pub endpoint: Endpoint,
}

fn fmt_time(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// Picks the endpoint: profiles in `preference` order; within a profile the first endpoint active at `now`.
/// If endpoints with an accepted profile exist but none is active, the date error of the first is returned.
pub fn select_endpoint(
    info: &ServiceInformation,
    preference: &[String],
    now: OffsetDateTime,
) -> Result<SelectedEndpoint, DiscoveryError> {
    let mut date_error = None;
    for profile in preference {
        for process in &info.processes {
            for endpoint in process.endpoints.iter().filter(|e| &e.transport_profile == profile) {
                match endpoint_active(endpoint, now) {
                    Ok(()) => {
                        return Ok(SelectedEndpoint {
                            process_id: process.process_id.clone(),
                            endpoint: endpoint.clone(),
                        })
                    }
                    Err(e) => {
                        date_error.get_or_insert(e);
                    }
                }
            }
        }
    }
    if let Some(e) = date_error {
        return Err(e);
    }
    let mut offered: Vec<String> = info
        .processes
        .iter()
        .flat_map(|p| p.endpoints.iter().map(|e| e.transport_profile.clone()))
        .collect();
    offered.sort();
    offered.dedup();
    Err(DiscoveryError::NoMatchingTransport {
        accepted: preference.to_vec(),
        offered,
    })
}

fn endpoint_active(endpoint: &Endpoint, now: OffsetDateTime) -> Result<(), DiscoveryError> {
    if let Some(activation) = endpoint.activation {
        if now < activation {
            return Err(DiscoveryError::EndpointNotYetActive {
                url: endpoint.address.clone(),
                activation: fmt_time(activation),
            });
        }
    }
    if let Some(expiration) = endpoint.expiration {
        if now >= expiration {
            return Err(DiscoveryError::EndpointExpired {
                url: endpoint.address.clone(),
                expiration: fmt_time(expiration),
            });
        }
    }
    Ok(())
}

/// The AP certificate of an endpoint: parsed, valid now, with its subject CN (the AS4 To PartyId in SDK).
#[derive(Clone)]
pub struct ApCertificate {
    pub certificate: X509,
    pub common_name: String,
    pub subject: String,
    pub not_before: String,
    pub not_after: String,
}

impl std::fmt::Debug for ApCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApCertificate")
            .field("subject", &self.subject)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish()
    }
}

/// The subject of a certificate as `CN=...,O=...` (RFC 4514-like order as written).
pub fn subject_text(cert: &X509) -> String {
    cert.subject_name()
        .entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?");
            let value = e.data().to_string().unwrap_or_default();
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses the AP certificate and checks that it is within its validity period now.
pub fn ap_certificate(der: &[u8]) -> Result<ApCertificate, DiscoveryError> {
    let bad = |reason: String| DiscoveryError::ApCertificate { reason };
    let certificate = X509::from_der(der).map_err(|e| bad(format!("not an X.509 certificate: {e}")))?;
    let now = Asn1Time::days_from_now(0).map_err(|e| bad(e.to_string()))?;
    if certificate.not_before() > now {
        return Err(bad(format!("not valid before {}", certificate.not_before())));
    }
    if certificate.not_after() < now {
        return Err(bad(format!("expired at {}", certificate.not_after())));
    }
    let common_name = certificate
        .subject_name()
        .entries_by_nid(Nid::COMMONNAME)
        .next()
        .and_then(|e| e.data().to_string().ok())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("the subject has no CN".into()))?;
    Ok(ApCertificate {
        subject: subject_text(&certificate),
        not_before: certificate.not_before().to_string(),
        not_after: certificate.not_after().to_string(),
        common_name,
        certificate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smp::certpub::CertPub;
    use crate::smp::xml::Process;
    use crate::ParticipantId;
    use time::Duration;

    fn endpoint(profile: &str, activation: Option<i64>, expiration: Option<i64>) -> Endpoint {
        let now = OffsetDateTime::now_utc();
        Endpoint {
            transport_profile: profile.into(),
            address: format!("https://{profile}.example/as4"),
            require_business_level_signature: false,
            activation: activation.map(|d| now + Duration::days(d)),
            expiration: expiration.map(|d| now + Duration::days(d)),
            certificate_der: vec![],
            description: None,
            technical_contact: None,
        }
    }

    fn info(endpoints: Vec<Endpoint>) -> ServiceInformation {
        ServiceInformation {
            participant: ParticipantId::parse("0203:example.se").unwrap(),
            document_scheme: "busdox-docid-qns".into(),
            document_id: "doc".into(),
            processes: vec![Process {
                process_id: "bdx:noprocess".into(),
                process_scheme: None,
                endpoints,
            }],
            certpub: CertPub::default(),
        }
    }

    #[test]
    fn preference_order_wins_over_document_order() {
        let i = info(vec![
            endpoint(DIGG_AS4_V1_0, None, None),
            endpoint(DIGG_AS4_V1_2, None, None),
        ]);
        let s = select_endpoint(&i, &default_transport_profiles(), OffsetDateTime::now_utc()).unwrap();
        assert_eq!(s.endpoint.transport_profile, DIGG_AS4_V1_2);
        let only_1_0 = vec![DIGG_AS4_V1_0.to_string()];
        let s = select_endpoint(&i, &only_1_0, OffsetDateTime::now_utc()).unwrap();
        assert_eq!(s.endpoint.transport_profile, DIGG_AS4_V1_0);
    }

    #[test]
    fn expired_and_future_endpoints_are_skipped_or_reported() {
        let now = OffsetDateTime::now_utc();
        let i = info(vec![
            endpoint(DIGG_AS4_V1_2, None, Some(-1)),
            endpoint(DIGG_AS4_V1_0, Some(-2), Some(2)),
        ]);
        assert_eq!(
            select_endpoint(&i, &default_transport_profiles(), now)
                .unwrap()
                .endpoint
                .transport_profile,
            DIGG_AS4_V1_0
        );
        let i = info(vec![endpoint(DIGG_AS4_V1_2, None, Some(-1))]);
        assert!(matches!(
            select_endpoint(&i, &default_transport_profiles(), now),
            Err(DiscoveryError::EndpointExpired { .. })
        ));
        let i = info(vec![endpoint(DIGG_AS4_V1_2, Some(1), None)]);
        assert!(matches!(
            select_endpoint(&i, &default_transport_profiles(), now),
            Err(DiscoveryError::EndpointNotYetActive { .. })
        ));
    }

    #[test]
    fn unknown_profiles_give_no_matching_transport() {
        let i = info(vec![endpoint("busdox-transport-as2-ver1p0", None, None)]);
        match select_endpoint(&i, &default_transport_profiles(), OffsetDateTime::now_utc()) {
            Err(DiscoveryError::NoMatchingTransport { offered, .. }) => {
                assert_eq!(offered, vec!["busdox-transport-as2-ver1p0"])
            }
            other => panic!("{other:?}"),
        }
    }
}

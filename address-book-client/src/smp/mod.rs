//! The SMP 1.0 client: service group and signed service metadata lookups, with signature and chain verification,
//! identity checks (the answer must be for the participant and document asked) and endpoint selection.

pub mod certpub;
pub mod select;
pub mod verify;
pub mod xml;

use crate::error::DiscoveryError;
use crate::http::{self, HttpSettings};
use crate::ids::{DocumentId, ParticipantId, DOCUMENT_SCHEME};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use select::{ap_certificate, select_endpoint, ApCertificate, SelectedEndpoint};
use verify::SmpTrust;
use xml::{parse_document, parse_service_group, parse_service_information, ServiceGroup, ServiceInformation};

/// Everything but RFC 3986 unreserved characters is percent-encoded in SMP path segments, so `:` becomes `%3A`
/// and `#` becomes `%23` (CertPub REST binding example).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// `<smp>/iso6523-actorid-upis%3A%3A<participant>`.
pub fn service_group_url(smp_url: &str, participant: &ParticipantId) -> String {
    format!(
        "{}/{}",
        smp_url.trim_end_matches('/'),
        utf8_percent_encode(&participant.with_scheme(), SEGMENT)
    )
}

/// `<service group URL>/services/busdox-docid-qns%3A%3A<document id>`.
pub fn service_metadata_url(smp_url: &str, participant: &ParticipantId, document: &DocumentId) -> String {
    format!(
        "{}/services/{}",
        service_group_url(smp_url, participant),
        utf8_percent_encode(&document.with_scheme(), SEGMENT)
    )
}

/// SMP client settings.
#[derive(Debug, Clone)]
pub struct SmpSettings {
    pub http: HttpSettings,
    /// Anchors the SMP signing certificate must chain to.
    pub trust: SmpTrust,
    /// Accepted transport profiles, most preferred first.
    pub transport_profiles: Vec<String>,
}

/// A verified service metadata answer and the endpoint chosen from it.
#[derive(Debug, Clone)]
pub struct VerifiedMetadata {
    pub url: String,
    pub information: ServiceInformation,
    /// Subject of the certificate that signed the metadata.
    pub signer_subject: String,
    pub selected: SelectedEndpoint,
    pub ap_certificate: ApCertificate,
}

/// Reads service groups and signed service metadata from SMPs.
#[derive(Debug, Clone)]
pub struct SmpClient {
    settings: SmpSettings,
}

fn unavailable(url: &str, e: http::HttpError) -> DiscoveryError {
    DiscoveryError::SmpUnreachable {
        url: url.to_string(),
        reason: e,
    }
}

impl SmpClient {
    pub fn new(settings: SmpSettings) -> Self {
        SmpClient { settings }
    }

    pub fn settings(&self) -> &SmpSettings {
        &self.settings
    }

    /// GETs and parses the service group of `participant`; checks it is for that participant.
    pub async fn service_group(
        &self,
        smp_url: &str,
        participant: &ParticipantId,
    ) -> Result<ServiceGroup, DiscoveryError> {
        let url = service_group_url(smp_url, participant);
        let response = http::get(&url, "application/xml", &self.settings.http)
            .await
            .map_err(|e| unavailable(&url, e))?;
        match response.status {
            200 => {}
            404 => {
                return Err(DiscoveryError::NotRegistered {
                    participant: participant.to_string(),
                })
            }
            status => return Err(DiscoveryError::SmpHttp { url, status }),
        }
        let limits = xml::smp_parse_limits(self.settings.http.max_body_bytes);
        let malformed = |reason: String| DiscoveryError::SmpMalformed {
            url: url.clone(),
            reason,
        };
        let doc = parse_document(&response.body, &limits).map_err(|e| malformed(e.0))?;
        let group = parse_service_group(&doc).map_err(|e| malformed(e.0))?;
        if &group.participant != participant {
            return Err(DiscoveryError::SmpWrongParticipant {
                asked: participant.to_string(),
                answered: group.participant.to_string(),
            });
        }
        Ok(group)
    }

    /// GETs the signed service metadata of (`participant`, `document`), verifies signature and signer chain,
    /// checks the answer is for what was asked, selects the endpoint and parses its AP certificate.
    /// A 404 is refined with the service group into `NotRegistered` or `DocumentNotSupported`.
    pub async fn service_metadata(
        &self,
        smp_url: &str,
        participant: &ParticipantId,
        document: &DocumentId,
    ) -> Result<VerifiedMetadata, DiscoveryError> {
        let url = service_metadata_url(smp_url, participant, document);
        let response = http::get(&url, "application/xml", &self.settings.http)
            .await
            .map_err(|e| unavailable(&url, e))?;
        match response.status {
            200 => {}
            404 => {
                self.service_group(smp_url, participant).await?;
                return Err(DiscoveryError::DocumentNotSupported {
                    participant: participant.to_string(),
                    document: document.to_string(),
                });
            }
            status => return Err(DiscoveryError::SmpHttp { url, status }),
        }
        self.verify_metadata(url, &response.body, participant, document)
    }

    /// The checks of [`Self::service_metadata`] on an answer already fetched from `url`.
    pub fn verify_metadata(
        &self,
        url: String,
        body: &[u8],
        participant: &ParticipantId,
        document: &DocumentId,
    ) -> Result<VerifiedMetadata, DiscoveryError> {
        let limits = xml::smp_parse_limits(self.settings.http.max_body_bytes);
        let malformed = |reason: String| DiscoveryError::SmpMalformed {
            url: url.clone(),
            reason,
        };
        let doc = parse_document(body, &limits).map_err(|e| malformed(e.0))?;
        // Structure first (a document that is not SignedServiceMetadata is malformed, not "unsigned").
        xml::service_information_node(&doc).map_err(|e| malformed(e.0))?;
        let signer = verify::verify_signed_metadata(&doc, &self.settings.trust)?;
        let information = parse_service_information(&doc).map_err(|e| match e.0.strip_prefix("CertPub: ") {
            Some(reason) => DiscoveryError::CertPub {
                reason: reason.to_string(),
            },
            None => malformed(e.0),
        })?;
        if &information.participant != participant {
            return Err(DiscoveryError::SmpWrongParticipant {
                asked: participant.to_string(),
                answered: information.participant.to_string(),
            });
        }
        if information.document_scheme != DOCUMENT_SCHEME || information.document_id != document.as_str() {
            return Err(DiscoveryError::SmpWrongDocument {
                asked: document.with_scheme(),
                answered: format!("{}::{}", information.document_scheme, information.document_id),
            });
        }
        let selected = select_endpoint(
            &information,
            &self.settings.transport_profiles,
            time::OffsetDateTime::now_utc(),
        )?;
        let ap_certificate = ap_certificate(&selected.endpoint.certificate_der)?;
        Ok(VerifiedMetadata {
            url,
            signer_subject: select::subject_text(&signer),
            information,
            selected,
            ap_certificate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_percent_encode_colons_and_hashes() {
        let p = ParticipantId::parse("0203:receivingexample.se").unwrap();
        let d = DocumentId::parse(
            "urn:riv:infrastructure:messaging:messagewithattachments:2::message::2.0::tm-base-ext-sigenc",
        )
        .unwrap();
        // The example of the CertPub REST binding, §3.
        assert_eq!(
            service_metadata_url("https://domän/", &p, &d),
            "https://domän/iso6523-actorid-upis%3A%3A0203%3Areceivingexample.se/services/busdox-docid-qns%3A%3Aurn%3Ariv%3Ainfrastructure%3Amessaging%3Amessagewithattachments%3A2%3A%3Amessage%3A%3A2.0%3A%3Atm-base-ext-sigenc"
        );
        let d = DocumentId::parse(crate::ids::SDK_MESSAGE_BASE).unwrap();
        assert!(service_metadata_url("http://s", &p, &d).ends_with("messagePayload%23%233.0%3A%3Atm-base"));
    }
}

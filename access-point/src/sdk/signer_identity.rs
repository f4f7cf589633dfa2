//! Who may sign an XHE for a sending organisation: the rule both sides of the access point apply.
//!
//! DIGG's Transportmodell Utökad Bas §2.9.1 has the receiver check "att signatur gjorts av avsändande Deltagare"
//! (the signature was made by the *sending* participant), and §2.9.3 does it "genom avsändande Deltagares signatur
//! och slagning i Certifikatspubliceringstjänsten". Kuverteringsprofil XHE §3.5 \[b\]: when CertPub is used, the
//! signing certificate is compared with the certificate published for that purpose, "för att försäkra sig om att
//! signeringscertifikatet som använts är det som är registrerat för Deltagaren"; §3.1 allows bilateral exchange
//! instead of CertPub. A certificate that merely chains to the federation's CAs (`[sdk] e2e_anchors`, §3.5 \[a\])
//! proves nothing about *which* organisation signed, so the signer must be one of the certificates registered for
//! the envelope's FromParty:
//!
//! 1. `[sdk] e2e_signers` (bilateral exchange): the certificates configured for that participant, when it has an
//!    entry;
//! 2. otherwise, with `[discovery]`: the participant's CertPub signing certificates from its SMP (for the envelope's
//!    document id);
//! 3. otherwise nothing is registered and the signature is refused.
//!
//! The comparison is of the whole certificate (DER), as §3.5 \[b\] says "jämföras med det certifikat som
//! publicerats".

use std::path::Path;

use address_book_client::{Discovery, DocumentId, ParticipantId};
use openssl::x509::X509;

use crate::config::{Config, ConfigError};
use crate::pki::keys::load_certificates_from;

/// Where the registered certificates came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerSource {
    /// `[sdk] e2e_signers` (certificates exchanged bilaterally).
    Configured,
    /// The participant's CertPub signing certificates, from SMP discovery.
    CertPub,
}

impl SignerSource {
    fn describe(self) -> &'static str {
        match self {
            SignerSource::Configured => "[sdk] e2e_signers",
            SignerSource::CertPub => "its CertPub signing certificate",
        }
    }
}

/// The certificates registered for one sending participant.
#[derive(Debug, Clone)]
pub struct RegisteredSigners {
    pub participant: ParticipantId,
    pub source: SignerSource,
    pub certificates: Vec<X509>,
}

/// Why the registered certificates of a participant could not be found.
#[derive(Debug, thiserror::Error)]
pub enum SignerLookupError {
    /// A definite answer: nothing is registered (a signature by this participant is refused).
    #[error("{0}")]
    NotRegistered(String),
    /// The SML/SMP could not be asked now (try again later).
    #[error("{0}")]
    Unavailable(String),
}

/// The registered signers a node knows: the `[sdk] e2e_signers` certificates, read once at start, and the
/// discovery client (with its SML/SMP cache) for CertPub lookups. Built once per node ([`SignerRegistry::load`]), so
/// a signed message costs neither a file read nor, within the discovery cache's lifetime, a network round trip.
pub struct SignerRegistry {
    configured: Vec<(ParticipantId, Vec<X509>)>,
    discovery: Option<Discovery>,
}

impl std::fmt::Debug for SignerRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignerRegistry")
            .field("configured", &self.configured.len())
            .field("discovery", &self.discovery.is_some())
            .finish()
    }
}

impl SignerRegistry {
    /// Reads every `[sdk] e2e_signers` file (an unreadable or empty one is a configuration error naming the
    /// setting, the participant and the file) and takes `discovery` for CertPub lookups: the node's own client, so
    /// the send path and this lookup share one cache. Without one, a client is built from `[discovery]` when that
    /// section is present.
    pub fn load(config: &Config, discovery: Option<Discovery>) -> Result<SignerRegistry, ConfigError> {
        let mut configured = Vec::with_capacity(config.sdk.e2e_signers.len());
        for (id, path) in &config.sdk.e2e_signers {
            let participant = ParticipantId::parse(id)
                .map_err(|e| config.error("sdk.e2e_signers", format!("{id:?} is not a participant id: {e}")))?;
            configured.push((participant, load_configured(config, id, path)?));
        }
        let discovery = match (discovery, &config.discovery) {
            (Some(discovery), _) => Some(discovery),
            (None, None) => None,
            (None, Some(_)) => {
                // Only the discovery client is used, not the resolver's check of the receiving AP's certificate.
                let unused_ap_trust = crate::pki::TrustStore::new(Vec::new());
                crate::msh::discovery_resolver::from_config(config, &unused_ap_trust)?.map(|r| r.discovery().clone())
            }
        };
        Ok(SignerRegistry { configured, discovery })
    }

    /// The discovery client CertPub lookups go through (for its cache counters).
    pub fn discovery(&self) -> Option<&Discovery> {
        self.discovery.as_ref()
    }

    /// The certificates registered for `sender` (an XHE FromParty id such as `0203:example.se`); see the module
    /// documentation for the order of the sources. `document_id` is the envelope's document id as the SMP names
    /// it (`busdox-docid-qns::…`), used only for the CertPub lookup.
    pub async fn registered_signers(
        &self,
        sender: &str,
        document_id: &str,
    ) -> Result<RegisteredSigners, SignerLookupError> {
        let participant = ParticipantId::parse(sender).map_err(|e| {
            SignerLookupError::NotRegistered(format!("the XHE sender {sender:?} is not a participant id: {e}"))
        })?;
        if let Some((_, certificates)) = self.configured.iter().find(|(id, _)| id == &participant) {
            return Ok(RegisteredSigners {
                participant,
                source: SignerSource::Configured,
                certificates: certificates.clone(),
            });
        }
        let Some(discovery) = &self.discovery else {
            return Err(SignerLookupError::NotRegistered(format!(
                "no signing certificate is registered for {participant}: it has no [sdk] e2e_signers entry and \
                 [discovery] (CertPub) is not configured"
            )));
        };
        certpub_signers(discovery, participant, document_id).await
    }
}

/// The participant's CertPub signing certificates. They belong to the participant, but the SMP publishes them per
/// registered document: the envelope's own document first, then the other SDK documents (a kvittens sender may be
/// registered only as a receiver of SDK messages, and the reverse).
async fn certpub_signers(
    discovery: &Discovery,
    participant: ParticipantId,
    document_id: &str,
) -> Result<RegisteredSigners, SignerLookupError> {
    let mut documents = vec![document_id];
    for other in [pmode::builtin::SDK_MESSAGE_ACTION, pmode::builtin::SDK_KVITTENS_ACTION] {
        if !documents.contains(&other) {
            documents.push(other);
        }
    }
    let mut refusals = Vec::new();
    let mut certificates = Vec::new();
    for document_id in documents {
        let document = match DocumentId::parse(document_id) {
            Ok(document) => document,
            Err(e) => {
                refusals.push(format!("document id {document_id:?}: {e}"));
                continue;
            }
        };
        match discovery.resolve(&participant, &document).await {
            Ok(resolved) => {
                certificates = resolved
                    .certpub
                    .signing
                    .iter()
                    .filter_map(|der| X509::from_der(der).ok())
                    .collect();
                if !certificates.is_empty() {
                    break;
                }
                refusals.push(format!(
                    "the SMP publishes no CertPub signing certificate for {document}"
                ));
            }
            Err(e) if e.is_unavailability() => {
                return Err(SignerLookupError::Unavailable(format!(
                    "CertPub lookup of {participant} via {}: {e}",
                    e.service()
                )))
            }
            Err(e) => refusals.push(format!("via {}: {e}", e.service())),
        }
    }
    if certificates.is_empty() {
        return Err(SignerLookupError::NotRegistered(format!(
            "no CertPub signing certificate is registered for {participant}: {}",
            refusals.join("; ")
        )));
    }
    Ok(RegisteredSigners {
        participant,
        source: SignerSource::CertPub,
        certificates,
    })
}

fn load_configured(config: &Config, participant: &str, path: &Path) -> Result<Vec<X509>, ConfigError> {
    let certificates = load_certificates_from(path).map_err(|e| {
        config.error(
            "sdk.e2e_signers",
            format!("{participant}: {} is unreadable: {e}", path.display()),
        )
    })?;
    if certificates.is_empty() {
        return Err(config.error(
            "sdk.e2e_signers",
            format!("{participant}: {} holds no certificate", path.display()),
        ));
    }
    Ok(certificates)
}

/// Whether `signer` (the certificate of a verified signature) is one of the certificates registered for the
/// envelope's sender, and the envelope's FromParty (`from`, as read from the verified envelope) is the participant
/// they were looked up for. The error text is for the kvittens reason and the history.
pub fn check_signer(signer: &X509, from: &str, registered: &RegisteredSigners) -> Result<(), String> {
    let same_participant = ParticipantId::parse(from).is_ok_and(|id| id == registered.participant);
    if !same_participant {
        return Err(format!(
            "the signed XHE's sender {from:?} is not the participant {} its signer was looked up for",
            registered.participant
        ));
    }
    let der = signer.to_der().map_err(|e| format!("signing certificate: {e}"))?;
    let registered_der = registered.certificates.iter().filter_map(|c| c.to_der().ok());
    if registered_der.into_iter().any(|r| r == der) {
        return Ok(());
    }
    Err(format!(
        "the XHE is signed by {}, which is not the signing certificate registered for the sending organisation {} \
         ({})",
        crate::sdk::xhe_signature::subject(signer),
        registered.participant,
        registered.source.describe()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::xhe_signature::tests::key_and_cert;

    fn registered(participant: &str, certificates: Vec<X509>) -> RegisteredSigners {
        RegisteredSigners {
            participant: ParticipantId::parse(participant).unwrap(),
            source: SignerSource::Configured,
            certificates,
        }
    }

    #[test]
    fn only_a_registered_certificate_of_the_sender_passes() {
        let (_, org_a) = key_and_cert("org-a");
        let (_, org_b) = key_and_cert("org-b");
        let a = registered("0203:a.example.se", vec![org_b.clone(), org_a.clone()]);
        assert!(check_signer(&org_a, "0203:a.example.se", &a).is_ok());
        assert!(
            check_signer(&org_a, "0203:A.Example.se", &a).is_ok(),
            "participant ids compare case-insensitively"
        );
        let only_a = registered("0203:a.example.se", vec![org_a.clone()]);
        let err = check_signer(&org_b, "0203:a.example.se", &only_a).unwrap_err();
        assert!(err.contains("not the signing certificate registered"), "{err}");
        let err = check_signer(&org_a, "0203:b.example.se", &only_a).unwrap_err();
        assert!(err.contains("is not the participant"), "{err}");
    }

    #[test]
    fn same_key_in_another_certificate_is_not_the_registered_certificate() {
        let (key, org_a) = key_and_cert("org-a");
        let mut builder = openssl::x509::X509Builder::new().unwrap();
        builder.set_version(2).unwrap();
        let mut name = openssl::x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "org-c").unwrap();
        let name = name.build();
        builder.set_subject_name(&name).unwrap();
        builder.set_issuer_name(&name).unwrap();
        builder.set_pubkey(&key).unwrap();
        builder
            .set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        builder
            .set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        builder.sign(&key, openssl::hash::MessageDigest::sha256()).unwrap();
        let reissued = builder.build();
        let a = registered("0203:a.example.se", vec![org_a]);
        assert!(check_signer(&reissued, "0203:a.example.se", &a).is_err());
    }

    /// CertPub through a local federation: a participant registered only for the SDK message is found for a
    /// kvittens too; one without a CertPub signing certificate is refused; an SMP outage is "unavailable".
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn certpub_signing_certificates_come_from_discovery() {
        let dir = tempfile::tempdir().unwrap();
        let (_, org_a) = key_and_cert("org-a");
        std::fs::write(dir.path().join("a-sign.pem"), org_a.to_pem().unwrap()).unwrap();
        let federation = format!(
            r#"
sml_zone = "sml.sdk.test"

[[access_points]]
name = "ap-x"
endpoint_url = "https://127.0.0.1:9/as4"

[[organisations]]
id = "org-a"
name = "A"
participant_id = "0203:a.example.se"
access_point = "ap-x"
documents = ["{doc}"]
certpub_signing_certificate = "a-sign.pem"

[[organisations]]
id = "org-plain"
name = "Utan CertPub"
participant_id = "0203:plain.example.se"
access_point = "ap-x"
documents = ["{doc}"]
"#,
            doc = address_book_client::ids::SDK_MESSAGE_SIGENC,
        );
        let federation = federation_sim::config::FederationConfig::from_toml(&federation, dir.path()).unwrap();
        let sim = federation_sim::FederationSim::start(federation).await.unwrap();
        let text = format!(
            "{}[discovery]\nsml_zone = \"{}\"\ndns_servers = [\"{}\"]\ndns_timeout_ms = 1000\nsmp_timeout_ms = 2000\n",
            crate::cli::init::render_config("AP0001-DEV", 8443, 8080),
            sim.sml_zone(),
            sim.dns_addr()
        );
        let mut config = Config::from_toml(&text, &dir.path().join("ap.toml")).unwrap();
        let anchor = dir.path().join("smp-ca.pem");
        std::fs::write(&anchor, sim.smp_ca_pem()).unwrap();
        config.trust.smp_anchors = vec![anchor];

        let registry = SignerRegistry::load(&config, None).unwrap();
        let found = registry
            .registered_signers("0203:a.example.se", pmode::builtin::SDK_KVITTENS_ACTION)
            .await
            .unwrap();
        assert_eq!(found.source, SignerSource::CertPub);
        assert_eq!(found.certificates.len(), 1);
        assert!(check_signer(&org_a, "0203:a.example.se", &found).is_ok());
        let err = registry
            .registered_signers("0203:plain.example.se", pmode::builtin::SDK_MESSAGE_ACTION)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, SignerLookupError::NotRegistered(text) if text.contains("no CertPub signing certificate")),
            "{err:?}"
        );
        // A repeated lookup is answered from the discovery cache: an SMP outage does not reach it.
        sim.set_faults(federation_sim::Faults {
            smp_status: Some(503),
            ..Default::default()
        });
        let again = registry
            .registered_signers("0203:a.example.se", pmode::builtin::SDK_KVITTENS_ACTION)
            .await
            .unwrap();
        assert_eq!(again.source, SignerSource::CertPub);
        // A fresh registry (no cache) meets the outage: "unavailable".
        let err = SignerRegistry::load(&config, None)
            .unwrap()
            .registered_signers("0203:a.example.se", pmode::builtin::SDK_MESSAGE_ACTION)
            .await
            .unwrap_err();
        assert!(matches!(err, SignerLookupError::Unavailable(_)), "{err:?}");
    }

    #[tokio::test]
    async fn configured_signers_come_first_and_nothing_registered_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (_, org_a) = key_and_cert("org-a");
        std::fs::write(dir.path().join("a.pem"), org_a.to_pem().unwrap()).unwrap();
        let text = format!(
            "{}[sdk]\ne2e_signers = {{ \"0203:a.example.se\" = \"a.pem\" }}\n",
            crate::cli::init::render_config("AP0001-DEV", 8443, 8080)
        );
        let config = Config::from_toml(&text, &dir.path().join("ap.toml")).unwrap();
        let registry = SignerRegistry::load(&config, None).unwrap();
        // Read once: the file may go away after start.
        std::fs::remove_file(dir.path().join("a.pem")).unwrap();
        let document = pmode::builtin::SDK_MESSAGE_ACTION;
        let found = registry
            .registered_signers("0203:A.example.se", document)
            .await
            .unwrap();
        assert_eq!(found.source, SignerSource::Configured);
        assert_eq!(found.certificates.len(), 1);
        let err = registry
            .registered_signers("0203:b.example.se", document)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, SignerLookupError::NotRegistered(text) if text.contains("[sdk] e2e_signers")),
            "{err:?}"
        );
        // An unreadable file is a start-up error naming the setting and the file.
        let err = SignerRegistry::load(&config, None).unwrap_err().to_string();
        assert!(err.contains("sdk.e2e_signers") && err.contains("a.pem"), "{err}");
    }
}

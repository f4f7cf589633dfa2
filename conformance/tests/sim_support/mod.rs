//! Shared set-up for the simulator integration tests: a federation file with certificates in a temporary
//! directory, and discovery clients pointed at a running simulator.
#![allow(dead_code)]

use address_book_client::cache::CachePolicy;
use address_book_client::{
    default_transport_profiles, AddressBookClient, AddressBookSettings, Discovery, DiscoverySettings, HttpSettings,
    SmlSettings, SmpSettings, SmpTrust,
};
use conformance::sim::config::FederationConfig;
use conformance::sim::{pki, FederationSim};
use std::time::Duration;

pub const DOC: &str = address_book_client::ids::SDK_MESSAGE_BASE;

/// A federation: ap1 (SDK AS4 1.2) serving exempel.se (with CertPub) and expired.se (endpoint expired), ap2
/// (an AS2 profile nobody accepts) serving as2only.se, an address-book-only organisation, and `extra` more
/// participants p0..p{extra}.example.se on ap1.
pub fn federation(dir: &std::path::Path, extra: usize) -> FederationConfig {
    let sign = pki::issue("Exempelkommunen signing", None, false, 365).unwrap();
    let enc = pki::issue("Exempelkommunen encryption", None, false, 365).unwrap();
    std::fs::write(dir.join("sign.pem"), sign.certificate.to_pem().unwrap()).unwrap();
    std::fs::write(dir.join("enc.pem"), enc.certificate.to_pem().unwrap()).unwrap();
    let mut toml = format!(
        r#"
sml_zone = "sml.sdk.test"
page_size = 2

[[access_points]]
name = "ap1"
endpoint_url = "https://ap1.example/as4"
transport_profile = "digg-transport-as4-v1_2"

[[access_points]]
name = "ap2"
endpoint_url = "https://ap2.example/as2"
transport_profile = "busdox-transport-as2-ver1p0"

[[organisations]]
id = "org-1"
name = "Exempelkommunen"
organisation_number = "2021006883"
participant_id = "0203:exempel.se"
access_point = "ap1"
documents = ["{DOC}"]
certpub_signing_certificate = "sign.pem"
certpub_encryption_certificate = "enc.pem"

[[organisations.functional_addresses]]
id = "SE2021006883-1"
name = "Socialtjänsten"
categories = ["social"]

[[organisations.functional_addresses]]
id = "SE2021006883-2"
name = "Registratur"

[[organisations.functional_addresses]]
id = "SE2021006883-3"
name = "Miljöförvaltningen"

[[organisations]]
id = "org-2"
name = "Utgångna regionen"
participant_id = "0203:expired.se"
access_point = "ap1"
documents = ["{DOC}"]
endpoint_expiration = "2020-01-01T00:00:00Z"

[[organisations]]
id = "org-3"
name = "Adressbokskommunen"
organisation_number = "2321000016"
participant_id = "0007:2321000016"

[[organisations]]
id = "org-4"
name = "AS2-bolaget"
participant_id = "0203:as2only.se"
access_point = "ap2"
documents = ["{DOC}"]
"#
    );
    for i in 0..extra {
        toml.push_str(&format!(
            "\n[[organisations]]\nid = \"p{i}\"\nname = \"Deltagare {i}\"\nparticipant_id = \"0203:p{i}.example.se\"\naccess_point = \"ap1\"\ndocuments = [\"{DOC}\"]\n"
        ));
    }
    FederationConfig::from_toml(&toml, dir).unwrap()
}

pub async fn start(extra: usize) -> (FederationSim, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = federation(dir.path(), extra);
    (FederationSim::start(config).await.unwrap(), dir)
}

pub fn policy(ttl: Duration) -> CachePolicy {
    CachePolicy {
        ttl,
        negative_ttl: ttl,
        stale_grace: Duration::from_secs(60),
        retry_interval: Duration::from_millis(200),
        max_entries: 1000,
    }
}

pub fn discovery(sim: &FederationSim, policy: CachePolicy) -> Discovery {
    discovery_with_dns_timeout(sim, policy, Duration::from_millis(300))
}

/// As [`discovery`], with a longer DNS timeout for load tests on a busy machine.
pub fn discovery_with_dns_timeout(sim: &FederationSim, policy: CachePolicy, dns_timeout: Duration) -> Discovery {
    Discovery::new(DiscoverySettings {
        sml: SmlSettings {
            zone: sim.sml_zone().to_string(),
            dns_servers: vec![sim.dns_addr()],
            timeout: dns_timeout,
            attempts: 1,
        },
        smp: SmpSettings {
            http: HttpSettings {
                timeout: Duration::from_millis(1500).max(dns_timeout),
                ..HttpSettings::default()
            },
            trust: SmpTrust::new(vec![sim.smp_ca()]).unwrap(),
            transport_profiles: default_transport_profiles(),
        },
        sml_cache: policy.clone(),
        smp_cache: policy,
    })
    .unwrap()
}

pub fn address_book(sim: &FederationSim) -> AddressBookClient {
    AddressBookClient::new(AddressBookSettings {
        base_url: sim.address_book_url(),
        http: HttpSettings {
            timeout: Duration::from_millis(1000),
            ..HttpSettings::default()
        },
        max_pages: 10,
    })
}

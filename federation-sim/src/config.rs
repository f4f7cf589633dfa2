//! The federation file: one TOML document listing organisations, their functional addresses, participants and
//! their access points. Paths are relative to the file's directory.
//!
//! ```toml
//! sml_zone = "sml.sdk.test"
//!
//! [[access_points]]
//! name = "ap1"
//! endpoint_url = "https://127.0.0.1:8443/as4"
//! certificate = "ap1/ap.crt.pem"          # optional: a self-signed certificate with CN = name is generated
//! transport_profile = "digg-transport-as4-v1_2"
//!
//! [[organisations]]
//! id = "org-1"
//! name = "Exempelkommunen"
//! organisation_number = "2120000142"      # optional
//! participant_id = "0203:exempel.se"
//! access_point = "ap1"
//! documents = ["urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base"]
//! certpub_signing_certificate = "org1/sign.crt.pem"        # optional
//! certpub_encryption_certificate = "org1/enc.crt.pem"      # optional
//! endpoint_expiration = "2030-01-01T00:00:00Z"             # optional
//!
//! [[organisations.functional_addresses]]
//! id = "SE2120000142-1"
//! name = "Socialtjänsten"
//! categories = ["social"]
//! ```

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The whole federation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationConfig {
    /// The SML zone served by the DNS server.
    pub sml_zone: String,
    #[serde(default)]
    pub access_points: Vec<AccessPointConfig>,
    #[serde(default)]
    pub organisations: Vec<OrganisationConfig>,
    /// Page size of address book collections.
    #[serde(default = "default_page_size")]
    pub page_size: usize,
    /// The SMP base URL the NAPTR records publish; default `http://<http address>/smp`. Set it when clients reach
    /// the SMP through a front end (e.g. an HTTPS proxy in a test).
    #[serde(default)]
    pub smp_url: Option<String>,
    /// Directory that relative paths are resolved against (the file's directory when loaded from a file).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

fn default_page_size() -> usize {
    20
}

/// One access point.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessPointConfig {
    pub name: String,
    pub endpoint_url: String,
    /// PEM certificate of the AP; generated (self-signed, CN = name) when absent.
    pub certificate: Option<PathBuf>,
    #[serde(default = "default_profile")]
    pub transport_profile: String,
}

fn default_profile() -> String {
    "digg-transport-as4-v1_2".into()
}

/// One organisation (participant) with its functional addresses and SMP registration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganisationConfig {
    pub id: String,
    pub name: String,
    pub organisation_number: Option<String>,
    pub description: Option<String>,
    pub participant_id: String,
    /// The AP serving this participant; without one the participant is in the address book only.
    pub access_point: Option<String>,
    #[serde(default)]
    pub documents: Vec<String>,
    pub certpub_signing_certificate: Option<PathBuf>,
    pub certpub_encryption_certificate: Option<PathBuf>,
    pub endpoint_activation: Option<String>,
    pub endpoint_expiration: Option<String>,
    #[serde(default)]
    pub functional_addresses: Vec<FunctionalAddressConfig>,
}

/// One functional address.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionalAddressConfig {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    #[serde(default)]
    pub categories: Vec<String>,
}

impl FederationConfig {
    /// Parses TOML text; relative paths resolve against `base_dir`.
    pub fn from_toml(text: &str, base_dir: &Path) -> Result<Self, String> {
        let mut config: FederationConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        config.base_dir = base_dir.to_path_buf();
        config.validate()?;
        Ok(config)
    }

    /// Reads a federation file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::from_toml(&text, path.parent().unwrap_or(Path::new(".")))
    }

    /// Resolves a configured path.
    pub fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    fn validate(&self) -> Result<(), String> {
        if self.page_size == 0 {
            return Err("page_size must be at least 1".into());
        }
        for o in &self.organisations {
            address_book_client::ParticipantId::parse(&o.participant_id)
                .map_err(|e| format!("organisation {}: {e}", o.id))?;
            if let Some(n) = &o.organisation_number {
                address_book_client::OrganisationNumber::parse(n).map_err(|e| format!("organisation {}: {e}", o.id))?;
            }
            if let Some(ap) = &o.access_point {
                if !self.access_points.iter().any(|a| &a.name == ap) {
                    return Err(format!("organisation {}: unknown access point {ap:?}", o.id));
                }
            }
            for d in &o.documents {
                address_book_client::DocumentId::parse(d).map_err(|e| format!("organisation {}: {e}", o.id))?;
            }
            for f in &o.functional_addresses {
                address_book_client::FunctionalAddressId::parse(&f.id)
                    .map_err(|e| format!("organisation {}: {e}", o.id))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
sml_zone = "sml.test"
[[access_points]]
name = "ap1"
endpoint_url = "https://ap1.example/as4"
[[organisations]]
id = "o1"
name = "Org"
participant_id = "0203:org.example"
access_point = "ap1"
documents = ["urn:x::doc"]
"#;

    #[test]
    fn loads_a_file_and_resolves_paths_against_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fed.toml");
        std::fs::write(&path, MINIMAL).unwrap();
        let c = FederationConfig::load(&path).unwrap();
        assert_eq!(c.page_size, 20);
        assert_eq!(c.access_points[0].transport_profile, "digg-transport-as4-v1_2");
        assert_eq!(c.path(Path::new("a.pem")), dir.path().join("a.pem"));
        assert_eq!(c.path(Path::new("/abs.pem")), PathBuf::from("/abs.pem"));
    }

    #[test]
    fn refuses_inconsistent_federations() {
        let here = Path::new(".");
        for (from, to) in [
            ("0203:org.example", "0007:1234567890"),
            ("access_point = \"ap1\"\ndocuments", "access_point = \"ap9\"\ndocuments"),
            ("\"urn:x::doc\"", "\"\""),
            ("name = \"Org\"", "name = \"Org\"\nsurprise = 1"),
            ("name = \"Org\"", "name = \"Org\"\norganisation_number = \"2021006884\""),
        ] {
            assert!(
                FederationConfig::from_toml(&MINIMAL.replace(from, to), here).is_err(),
                "{to}"
            );
        }
        assert!(FederationConfig::from_toml(&format!("page_size = 0\n{MINIMAL}"), here).is_err());
        assert!(FederationConfig::load(Path::new("/nonexistent/fed.toml")).is_err());
    }
}

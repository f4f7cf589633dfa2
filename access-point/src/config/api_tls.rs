//! `[api.tls]` (HTTPS with client certificates on the local API listener) and the `[api] client_cert`,
//! `client_key`, `client_trust` settings the API client (`sdk-ap send`, `status`, `inbox`) reaches it with.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use super::{Config, ConfigError};
use crate::pki::keys::{load_certificates_from, load_crls_from};
use crate::pki::keys::{KeyAlgorithm, KeyPair, MIN_TLS_RSA_BITS};
use crate::pki::TrustStore;

/// `[api.tls]`: the API listener speaks HTTPS (TLS 1.2/1.3, the eDelivery suites). A client authenticates with a
/// client certificate issued under `client_ca` and registered with `sdk-ap api-token create --client-cert`, or,
/// without a certificate, with a bearer token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiTlsConfig {
    /// The API's server certificate (PEM or DER; a PEM file may carry the chain after the leaf).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// CA certificates client certificates must chain to: a file, a folder, or a list of them.
    #[serde(deserialize_with = "one_or_many")]
    pub client_ca: Vec<PathBuf>,
    /// CRLs of those CAs (file, folder or list). Once any is set, every certificate of a client's chain must be
    /// covered by a current CRL, or the handshake fails.
    #[serde(default, deserialize_with = "one_or_many")]
    pub client_crls: Vec<PathBuf>,
}

/// A path or a list of paths.
pub(super) fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(PathBuf),
        Many(Vec<PathBuf>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(p) => vec![p],
        OneOrMany::Many(list) => list,
    })
}

/// Paths resolved against the configuration's folder, and the rules across these settings.
pub(super) fn resolve_and_check(config: &mut Config) -> Result<(), ConfigError> {
    let base = config.base_dir.clone();
    let resolve = |p: &mut PathBuf| {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    };
    let api = &mut config.api;
    if let Some(tls) = &mut api.tls {
        resolve(&mut tls.cert);
        resolve(&mut tls.key);
        tls.client_ca.iter_mut().for_each(resolve);
        tls.client_crls.iter_mut().for_each(resolve);
    }
    for p in [&mut api.client_cert, &mut api.client_key].into_iter().flatten() {
        resolve(p);
    }
    api.client_trust.iter_mut().for_each(resolve);
    if config.api.tls.as_ref().is_some_and(|t| t.client_ca.is_empty()) {
        return Err(config.error(
            "api.tls.client_ca",
            "at least one CA is needed to check client certificates",
        ));
    }
    match (&config.api.client_cert, &config.api.client_key) {
        (Some(_), None) => Err(config.error("api.client_cert", "needs api.client_key too")),
        (None, Some(_)) => Err(config.error("api.client_key", "needs api.client_cert too")),
        _ => Ok(()),
    }
}

impl Config {
    /// The API listener's TLS key pair and the trust store for client certificates (`[api.tls]`); `None` when
    /// the API speaks plain HTTP.
    pub fn api_tls(&self) -> Result<Option<(KeyPair, TrustStore)>, ConfigError> {
        let Some(tls) = &self.api.tls else {
            return Ok(None);
        };
        let identity = self.api_key_pair(("api.tls.key", &tls.key), ("api.tls.cert", &tls.cert))?;
        let trust = self.api_trust_store(
            "api.tls.client_ca",
            &tls.client_ca,
            "api.tls.client_crls",
            &tls.client_crls,
        )?;
        Ok(Some((identity, trust)))
    }

    /// The client certificate the API client presents (`[api] client_cert` / `client_key`), when configured.
    pub fn api_client_identity(&self) -> Result<Option<KeyPair>, ConfigError> {
        match (&self.api.client_key, &self.api.client_cert) {
            (Some(key), Some(cert)) => self
                .api_key_pair(("api.client_key", key), ("api.client_cert", cert))
                .map(Some),
            _ => Ok(None),
        }
    }

    /// CAs the API client checks the API's server certificate with (`[api] client_trust`); `None` when unset.
    pub fn api_client_trust(&self) -> Result<Option<TrustStore>, ConfigError> {
        if self.api.client_trust.is_empty() {
            return Ok(None);
        }
        self.api_trust_store("api.client_trust", &self.api.client_trust, "", &[])
            .map(Some)
    }

    fn api_key_pair(&self, key: (&str, &Path), cert: (&str, &Path)) -> Result<KeyPair, ConfigError> {
        for (setting, path) in [key, cert] {
            if !path.is_file() {
                return Err(self.error(setting, format!("{}: no such file", path.display())));
            }
        }
        let setting = cert.0;
        let pair = KeyPair::load(key.1, cert.1, &[]).map_err(|e| self.error(setting, e.to_string()))?;
        if pair.algorithm() == KeyAlgorithm::Rsa && pair.key.bits() < MIN_TLS_RSA_BITS {
            return Err(self.error(
                setting,
                format!(
                    "RSA key of {} bits is too small (at least {MIN_TLS_RSA_BITS})",
                    pair.key.bits()
                ),
            ));
        }
        Ok(pair)
    }

    fn api_trust_store(
        &self,
        anchors_setting: &str,
        anchors: &[PathBuf],
        crls_setting: &str,
        crls: &[PathBuf],
    ) -> Result<TrustStore, ConfigError> {
        let mut certificates = Vec::new();
        for p in anchors {
            certificates.extend(load_certificates_from(p).map_err(|e| self.error(anchors_setting, e.to_string()))?);
        }
        let mut crl_list = Vec::new();
        for p in crls {
            crl_list.extend(load_crls_from(p).map_err(|e| self.error(crls_setting, e.to_string()))?);
        }
        Ok(TrustStore::new(certificates).with_crls(crl_list))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(api: &str) -> String {
        format!(
            "[node]\nparty_id = \"AP0001-DEV\"\n[server]\ntls = false\nallow_plain_http = true\n\
             [keys.message]\nkey = \"k.pem\"\ncert = \"c.pem\"\n[trust]\nmessage_anchors = [\"ca.pem\"]\n{api}"
        )
    }

    #[test]
    fn tls_paths_resolve_and_accept_one_or_many() {
        let text = base(
            "[api]\nclient_cert = \"cc.pem\"\nclient_key = \"ck.pem\"\nclient_trust = \"st.pem\"\n\
             [api.tls]\ncert = \"s.pem\"\nkey = \"sk.pem\"\nclient_ca = \"ca.pem\"\nclient_crls = [\"a.crl\", \"b.crl\"]\n",
        );
        let config = Config::from_toml(&text, Path::new("/etc/ap/sdk-ap.toml")).unwrap();
        let tls = config.api.tls.as_ref().unwrap();
        assert_eq!(tls.cert, Path::new("/etc/ap/s.pem"));
        assert_eq!(tls.client_ca, vec![PathBuf::from("/etc/ap/ca.pem")]);
        assert_eq!(tls.client_crls.len(), 2);
        assert_eq!(config.api.client_trust, vec![PathBuf::from("/etc/ap/st.pem")]);
        assert_eq!(config.api.client_key.as_deref(), Some(Path::new("/etc/ap/ck.pem")));
    }

    #[test]
    fn half_configured_client_certificates_and_empty_client_ca_are_refused_with_the_line() {
        let text = base("[api]\nclient_cert = \"cc.pem\"\n");
        let e = Config::from_toml(&text, Path::new("sdk-ap.toml")).unwrap_err();
        assert_eq!(e.setting(), "api.client_cert");
        assert!(e.to_string().starts_with("sdk-ap.toml:12: api.client_cert:"), "{e}");
        let text = base("[api.tls]\ncert = \"s.pem\"\nkey = \"k.pem\"\nclient_ca = []\n");
        let e = Config::from_toml(&text, Path::new("sdk-ap.toml")).unwrap_err();
        assert_eq!(e.setting(), "api.tls.client_ca");
        let text = base("[api.tls]\ncert = \"s.pem\"\nkey = \"k.pem\"\n");
        assert!(
            Config::from_toml(&text, Path::new("sdk-ap.toml")).is_err(),
            "client_ca is required"
        );
    }
}

//! `[sdk]`: the SDK business layer on received messages (inbox, kvittens), owned by `sdk::inbound`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use super::api_tls::one_or_many;
use super::{Config, ConfigError};
use crate::pki::keys::{load_certificates_from, load_crls_from, KeyAlgorithm, KeyPair, MIN_MESSAGE_RSA_BITS};
use crate::pki::TrustStore;

/// `[sdk]`: how received SDK messages are classified and answered.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SdkConfig {
    /// Send a kvittens ACCEPTED automatically for every valid inbox message (otherwise the message system sends
    /// ACCEPTED or REJECTED through the API).
    pub auto_accept: bool,
    /// Largest XHE envelope the classifier reads into memory, in bytes, counted without the base64 contents of
    /// the SDK message's attachments (those are streamed, never held). A larger envelope is dropped as malformed.
    #[serde(deserialize_with = "positive")]
    pub max_envelope_bytes: u64,
    /// How many inbound messages the classifier works on at once (the AS4 receipt never waits for it).
    #[serde(deserialize_with = "positive")]
    pub classify_concurrency: u64,
    /// CA certificates (PEM/DER files or folders) a signing certificate of an enveloped XHE signature must chain
    /// to. When empty, the access point does not verify XHE signatures on receipt (the message system does).
    #[serde(deserialize_with = "one_or_many")]
    pub e2e_anchors: Vec<PathBuf>,
    /// CRLs of those CAs (files or folders); once any is set, every certificate of a signer's chain must be
    /// covered by a current CRL.
    #[serde(deserialize_with = "one_or_many")]
    pub e2e_crls: Vec<PathBuf>,
    /// Signing certificates exchanged bilaterally (Kuverteringsprofil XHE §3.1), by sending participant id
    /// (`"0203:example.se" = "certs/example.pem"`, a PEM/DER file or folder). A received signed XHE whose FromParty
    /// has an entry must be signed by one of these certificates; without an entry, the sender's CertPub signing
    /// certificate from `[discovery]` is required; with neither, the signature is refused. The API's
    /// `protection: sign` checks its own signing certificate against the same registration.
    pub e2e_signers: BTreeMap<String, PathBuf>,
    /// This organisation's end-to-end private key (PEM, RSA): the key of the certificate the SMP publishes as our
    /// CertPub encryption certificate. Received XHE payloads encrypted for it are decrypted after their signature
    /// verified. Set together with `e2e_cert`.
    pub e2e_key: Option<PathBuf>,
    /// The certificate of `e2e_key`.
    pub e2e_cert: Option<PathBuf>,
    /// Use the `[keys.message]` key pair as the end-to-end key when `e2e_key` is not set (only when the SMP
    /// publishes the message certificate as CertPub certificate). Off: without `e2e_key`, an encrypted payload
    /// stays encrypted in the inbox for the message system.
    pub e2e_use_message_key: bool,
    /// Largest signed XHE envelope (the whole stored payload, attachments included) the classifier verifies and
    /// decrypts in memory, in bytes. A larger signed envelope is rejected (reason code SIG).
    #[serde(deserialize_with = "positive")]
    pub e2e_max_envelope_bytes: u64,
    /// Seconds before a received signed message whose sender's CertPub signing certificate could not be looked up
    /// (SML/SMP unreachable) is classified again; the delay doubles after each failed retry (at most one hour).
    #[serde(deserialize_with = "positive")]
    pub signer_lookup_retry_seconds: u64,
    /// How many times such a message is classified again; when the lookup still fails on the last retry, the
    /// message is refused with a kvittens REJECTED (SIG), as any other protection failure.
    #[serde(deserialize_with = "positive")]
    pub signer_lookup_retry_attempts: u64,
}

impl Default for SdkConfig {
    fn default() -> Self {
        SdkConfig {
            auto_accept: false,
            max_envelope_bytes: 8 * 1024 * 1024,
            classify_concurrency: 4,
            e2e_anchors: Vec::new(),
            e2e_crls: Vec::new(),
            e2e_signers: BTreeMap::new(),
            e2e_key: None,
            e2e_cert: None,
            e2e_use_message_key: false,
            e2e_max_envelope_bytes: 32 << 20,
            signer_lookup_retry_seconds: 30,
            signer_lookup_retry_attempts: 8,
        }
    }
}

/// Paths resolved against the configuration's folder, and the rules across the end-to-end settings.
pub(super) fn resolve_and_check(config: &mut Config) -> Result<(), ConfigError> {
    let base = config.base_dir.clone();
    let resolve = |p: &mut PathBuf| {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    };
    let sdk = &mut config.sdk;
    sdk.e2e_anchors.iter_mut().for_each(resolve);
    sdk.e2e_crls.iter_mut().for_each(resolve);
    for p in [&mut sdk.e2e_key, &mut sdk.e2e_cert].into_iter().flatten() {
        resolve(p);
    }
    sdk.e2e_signers.values_mut().for_each(resolve);
    if let Some(bad) = config
        .sdk
        .e2e_signers
        .keys()
        .find(|id| address_book_client::ParticipantId::parse(id).is_err())
    {
        return Err(config.error(
            "sdk.e2e_signers",
            format!("{bad:?} is not a participant id (e.g. 0203:example.se)"),
        ));
    }
    match (&config.sdk.e2e_key, &config.sdk.e2e_cert) {
        (Some(_), None) => return Err(config.error("sdk.e2e_key", "needs sdk.e2e_cert too")),
        (None, Some(_)) => return Err(config.error("sdk.e2e_cert", "needs sdk.e2e_key too")),
        (Some(_), Some(_)) if config.sdk.e2e_use_message_key => {
            return Err(config.error(
                "sdk.e2e_use_message_key",
                "set either sdk.e2e_key/e2e_cert or e2e_use_message_key, not both",
            ))
        }
        _ => {}
    }
    if !config.sdk.e2e_crls.is_empty() && config.sdk.e2e_anchors.is_empty() {
        return Err(config.error("sdk.e2e_crls", "CRLs without sdk.e2e_anchors check nothing"));
    }
    Ok(())
}

impl Config {
    /// The trust store for end-to-end (XHE) signing certificates; `None` when `[sdk] e2e_anchors` is empty.
    pub fn sdk_e2e_trust_store(&self) -> Result<Option<TrustStore>, ConfigError> {
        if self.sdk.e2e_anchors.is_empty() {
            return Ok(None);
        }
        let mut anchors = Vec::new();
        for p in &self.sdk.e2e_anchors {
            anchors.extend(load_certificates_from(p).map_err(|e| self.error("sdk.e2e_anchors", e.to_string()))?);
        }
        let mut crls = Vec::new();
        for p in &self.sdk.e2e_crls {
            crls.extend(load_crls_from(p).map_err(|e| self.error("sdk.e2e_crls", e.to_string()))?);
        }
        Ok(Some(TrustStore::new(anchors).with_crls(crls)))
    }

    /// This organisation's end-to-end key pair (`e2e_key`/`e2e_cert`, else `[keys.message]` when
    /// `e2e_use_message_key`); `None` when neither is configured.
    pub fn sdk_e2e_key_pair(&self) -> Result<Option<KeyPair>, ConfigError> {
        let (setting, key, cert) = match (&self.sdk.e2e_key, &self.sdk.e2e_cert) {
            (Some(key), Some(cert)) => ("sdk.e2e_key", key, cert),
            _ if self.sdk.e2e_use_message_key => ("keys.message", &self.keys.message.key, &self.keys.message.cert),
            _ => return Ok(None),
        };
        KeyPair::load_expecting(key, cert, &[], KeyAlgorithm::Rsa, MIN_MESSAGE_RSA_BITS)
            .map(Some)
            .map_err(|e| self.error(setting, e.to_string()))
    }
}

fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    use serde::de::Error as _;
    let v = i64::deserialize(d)?;
    if v <= 0 {
        return Err(D::Error::custom(format!("must be a positive number, got {v}")));
    }
    Ok(v as u64)
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    fn base() -> String {
        crate::cli::init::render_config("AP0001-DEV", 8443, 8080)
    }

    #[test]
    fn defaults_and_overrides() {
        let config = Config::from_toml(&base(), Path::new("x.toml")).unwrap();
        assert!(!config.sdk.auto_accept);
        let text = format!("{}[sdk]\nauto_accept = true\nmax_envelope_bytes = 1024\n", base());
        let config = Config::from_toml(&text, Path::new("x.toml")).unwrap();
        assert!(config.sdk.auto_accept);
        assert_eq!(config.sdk.max_envelope_bytes, 1024);
    }

    #[test]
    fn e2e_settings_resolve_and_are_checked() {
        let config = Config::from_toml(&base(), Path::new("/etc/ap/x.toml")).unwrap();
        assert!(config.sdk.e2e_anchors.is_empty() && config.sdk.e2e_key.is_none());
        assert!(!config.sdk.e2e_use_message_key);
        assert_eq!(config.sdk.e2e_max_envelope_bytes, 32 << 20);
        assert!(config.sdk_e2e_trust_store().unwrap().is_none());
        assert!(config.sdk_e2e_key_pair().unwrap().is_none());
        let text = format!(
            "{}[sdk]\ne2e_anchors = \"ca\"\ne2e_key = \"k.pem\"\ne2e_cert = \"c.pem\"\n",
            base()
        );
        let config = Config::from_toml(&text, Path::new("/etc/ap/x.toml")).unwrap();
        assert_eq!(config.sdk.e2e_anchors, vec![Path::new("/etc/ap/ca").to_path_buf()]);
        assert_eq!(config.sdk.e2e_key.as_deref(), Some(Path::new("/etc/ap/k.pem")));
        let err = config.sdk_e2e_trust_store().unwrap_err().to_string();
        assert!(err.contains("e2e_anchors"), "{err}");
        for (extra, setting) in [
            ("e2e_key = \"k.pem\"\n", "e2e_key"),
            ("e2e_cert = \"c.pem\"\n", "e2e_cert"),
            (
                "e2e_key = \"k\"\ne2e_cert = \"c\"\ne2e_use_message_key = true\n",
                "e2e_use_message_key",
            ),
            ("e2e_crls = \"crl\"\n", "e2e_crls"),
            ("e2e_max_envelope_bytes = 0\n", "e2e_max_envelope_bytes"),
        ] {
            let err = Config::from_toml(&format!("{}[sdk]\n{extra}", base()), Path::new("x.toml")).unwrap_err();
            assert!(err.to_string().contains(setting), "{err}");
        }
    }

    #[test]
    fn zero_and_unknown_settings_are_refused_with_file_and_line() {
        let text = format!("{}[sdk]\nmax_envelope_bytes = 0\n", base());
        let err = Config::from_toml(&text, Path::new("x.toml")).unwrap_err().to_string();
        assert!(err.contains("max_envelope_bytes") && err.contains("positive"), "{err}");
        assert!(err.contains("x.toml"), "{err}");
        let text = format!("{}[sdk]\nauto_acept = true\n", base());
        assert!(Config::from_toml(&text, Path::new("x.toml")).is_err());
    }

    #[test]
    fn e2e_signers_are_keyed_by_participant_ids_and_resolved_against_the_file() {
        let text = format!(
            "{}[sdk]\ne2e_signers = {{ \"0203:a.example.se\" = \"certs/a.pem\" }}\n",
            base()
        );
        let config = Config::from_toml(&text, Path::new("/etc/ap/x.toml")).unwrap();
        assert_eq!(
            config.sdk.e2e_signers.get("0203:a.example.se"),
            Some(&Path::new("/etc/ap/certs/a.pem").to_path_buf())
        );
        let text = format!(
            "{}[sdk]\ne2e_signers = {{ \"not a participant\" = \"a.pem\" }}\n",
            base()
        );
        let err = Config::from_toml(&text, Path::new("x.toml")).unwrap_err().to_string();
        assert!(
            err.contains("sdk.e2e_signers") && err.contains("not a participant"),
            "{err}"
        );
    }
}

//! Checks that need the files a configuration refers to, and loaders that turn settings into keys and trust stores.

use std::path::{Path, PathBuf};

use openssl::x509::X509;

use super::{Config, ConfigError, KeyFiles};
use crate::pki::keys::{load_certificates_from, load_crls_from};
use crate::pki::keys::{KeyAlgorithm, KeyPair, MIN_MESSAGE_RSA_BITS, MIN_TLS_RSA_BITS};
use crate::pki::{load_certificate, NodeIdentity, TrustStore};

impl Config {
    /// Opens every referenced file: keys parse and match their certificates (with the right algorithm and size),
    /// trust anchors and CRLs parse, peer certificates parse, P-Mode files exist. The first problem is returned,
    /// naming the setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.identity()?;
        self.message_trust_store()?;
        if self.server.tls || !self.trust.tls_anchors.is_empty() {
            self.tls_trust_store()?;
        }
        self.smp_trust_store()?;
        self.api_tls()?;
        self.api_client_identity()?;
        self.api_client_trust()?;
        self.sdk_e2e_trust_store()?;
        self.sdk_e2e_key_pair()?;
        for (i, file) in self.pmodes.files.iter().enumerate() {
            if !file.is_file() {
                return Err(self.error(
                    &format!("pmodes.files[{i}]"),
                    format!("{}: no such file", file.display()),
                ));
            }
        }
        for (i, _) in self.peers.iter().enumerate() {
            self.peer_certificates(i)?;
        }
        Ok(())
    }

    /// Loads this AP's key pairs, with errors naming the `[keys]` setting.
    pub fn identity(&self) -> Result<NodeIdentity, ConfigError> {
        let message = self.key_pair(
            "keys.message",
            &self.keys.message,
            KeyAlgorithm::Rsa,
            MIN_MESSAGE_RSA_BITS,
        )?;
        let ed25519 = match &self.keys.ed25519 {
            Some(f) => Some(self.key_pair("keys.ed25519", f, KeyAlgorithm::Ed25519, 0)?),
            None => None,
        };
        let x25519 = match &self.keys.x25519 {
            Some(f) => Some(self.key_pair("keys.x25519", f, KeyAlgorithm::X25519, 0)?),
            None => None,
        };
        let tls = match &self.keys.tls {
            Some(f) => {
                let pair =
                    KeyPair::load(&f.key, &f.cert, &f.chain).map_err(|e| self.error("keys.tls", e.to_string()))?;
                if pair.algorithm() == KeyAlgorithm::Rsa && pair.key.bits() < MIN_TLS_RSA_BITS {
                    return Err(self.error(
                        "keys.tls.key",
                        format!(
                            "RSA key of {} bits is too small (at least {MIN_TLS_RSA_BITS})",
                            pair.key.bits()
                        ),
                    ));
                }
                Some(pair)
            }
            None => None,
        };
        if let Ok(info) = message.info() {
            if info.subject_cn.as_deref() != Some(self.node.party_id.as_str()) {
                return Err(self.error(
                    "node.party_id",
                    format!(
                        "{:?} differs from the CN {:?} of the message certificate {}",
                        self.node.party_id,
                        info.subject_cn.unwrap_or_default(),
                        self.keys.message.cert.display()
                    ),
                ));
            }
        }
        Ok(NodeIdentity {
            message,
            ed25519,
            x25519,
            tls,
        })
    }

    fn key_pair(
        &self,
        setting: &str,
        files: &KeyFiles,
        alg: KeyAlgorithm,
        min_bits: u32,
    ) -> Result<KeyPair, ConfigError> {
        for (name, path) in [("key", &files.key), ("cert", &files.cert)] {
            if !path.is_file() {
                return Err(self.error(
                    &format!("{setting}.{name}"),
                    format!("{}: no such file", path.display()),
                ));
            }
        }
        KeyPair::load_expecting(&files.key, &files.cert, &files.chain, alg, min_bits)
            .map_err(|e| self.error(setting, e.to_string()))
    }

    /// Trust store for peers' message certificates (`trust.message_*`).
    pub fn message_trust_store(&self) -> Result<TrustStore, ConfigError> {
        self.trust_store(
            "trust.message",
            &self.trust.message_anchors,
            &self.trust.message_intermediates,
            &self.trust.message_crls,
        )
    }

    /// Trust store for peers' TLS certificates (`trust.tls_*`).
    pub fn tls_trust_store(&self) -> Result<TrustStore, ConfigError> {
        self.trust_store(
            "trust.tls",
            &self.trust.tls_anchors,
            &self.trust.tls_intermediates,
            &self.trust.tls_crls,
        )
    }

    /// Trust store for SMP signing certificates (`trust.smp_anchors`; empty when not configured).
    pub fn smp_trust_store(&self) -> Result<TrustStore, ConfigError> {
        self.trust_store("trust.smp", &self.trust.smp_anchors, &[], &[])
    }

    fn trust_store(
        &self,
        prefix: &str,
        anchors: &[PathBuf],
        intermediates: &[PathBuf],
        crls: &[PathBuf],
    ) -> Result<TrustStore, ConfigError> {
        let load_all = |suffix: &str, paths: &[PathBuf]| -> Result<Vec<X509>, ConfigError> {
            let mut out = Vec::new();
            for p in paths {
                out.extend(
                    load_certificates_from(p).map_err(|e| self.error(&format!("{prefix}_{suffix}"), e.to_string()))?,
                );
            }
            Ok(out)
        };
        let anchors = load_all("anchors", anchors)?;
        let intermediates = load_all("intermediates", intermediates)?;
        let mut crl_list = Vec::new();
        for p in crls {
            crl_list.extend(load_crls_from(p).map_err(|e| self.error(&format!("{prefix}_crls"), e.to_string()))?);
        }
        Ok(TrustStore::new(anchors)
            .with_intermediates(intermediates)
            .with_crls(crl_list))
    }

    /// The certificates of the `index`-th peer: message, TLS, Ed25519, X25519 (the last three when configured).
    pub fn peer_certificates(&self, index: usize) -> Result<PeerCertificates, ConfigError> {
        let peer = &self.peers[index];
        let load = |name: &str, path: &Path| {
            load_certificate(path).map_err(|e| self.error(&format!("peers[{index}].{name}"), e.to_string()))
        };
        let optional = |name: &str, path: &Option<PathBuf>| path.as_deref().map(|p| load(name, p)).transpose();
        Ok(PeerCertificates {
            message: load("message_cert", &peer.message_cert)?,
            tls: optional("tls_cert", &peer.tls_cert)?,
            ed25519: optional("ed25519_cert", &peer.ed25519_cert)?,
            x25519: optional("x25519_cert", &peer.x25519_cert)?,
        })
    }
}

/// A peer's certificates, loaded from its `[[peers]]` entry.
#[derive(Debug, Clone)]
pub struct PeerCertificates {
    pub message: X509,
    pub tls: Option<X509>,
    pub ed25519: Option<X509>,
    pub x25519: Option<X509>,
}

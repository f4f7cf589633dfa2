//! rustls configurations for the AS4 server and client, restricted to the eDelivery TLS profile.
//!
//! Versions: TLS 1.2 and 1.3 only. Cipher suites: TLS 1.3 `AES_128_GCM_SHA256` and `AES_256_GCM_SHA384`; TLS 1.2
//! `ECDHE_{ECDSA,RSA}_WITH_AES_{128,256}_GCM_SHA{256,384}` (eDelivery AS4 profile and the SDK transport profile
//! §2.4: ECDHE key exchange with AES-GCM, nothing weaker). rustls has no CBC or static-RSA suites at all; the list
//! below also drops ChaCha20-Poly1305, which rustls would otherwise offer. Keys and certificates are loaded with
//! openssl ([`crate::pki`]) and handed to rustls as DER.

use std::sync::Arc;

use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedCipherSuite};

use crate::pki::{KeyPair, TrustStore};

/// The cipher suites this access point negotiates, in preference order.
pub static EDELIVERY_CIPHER_SUITES: &[SupportedCipherSuite] = &[
    ring::cipher_suite::TLS13_AES_256_GCM_SHA384,
    ring::cipher_suite::TLS13_AES_128_GCM_SHA256,
    ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ring::cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ring::cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
];

/// The protocol versions: TLS 1.3 and 1.2, nothing older (rustls cannot speak older ones either).
pub static PROTOCOL_VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// A TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("TLS trust store has no anchors")]
    NoAnchors,
    #[error("TLS trust anchor refused by rustls: {0}")]
    Anchor(String),
    #[error("TLS key or certificate unusable: {0}")]
    Key(String),
    #[error("TLS certificate verifier: {0}")]
    Verifier(String),
    #[error("openssl: {0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
}

/// The ring provider limited to [`EDELIVERY_CIPHER_SUITES`].
pub fn edelivery_provider() -> Arc<CryptoProvider> {
    Arc::new(CryptoProvider {
        cipher_suites: EDELIVERY_CIPHER_SUITES.to_vec(),
        ..ring::default_provider()
    })
}

fn roots(trust: &TrustStore) -> Result<Arc<RootCertStore>, TlsSetupError> {
    let mut store = RootCertStore::empty();
    for der in trust.anchors_der()? {
        store
            .add(CertificateDer::from(der))
            .map_err(|e| TlsSetupError::Anchor(e.to_string()))?;
    }
    if store.is_empty() {
        return Err(TlsSetupError::NoAnchors);
    }
    Ok(Arc::new(store))
}

fn crls(trust: &TrustStore) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsSetupError> {
    Ok(trust
        .crls_der()?
        .into_iter()
        .map(CertificateRevocationListDer::from)
        .collect())
}

fn chain_and_key(identity: &KeyPair) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsSetupError> {
    let chain = identity.chain_der()?.into_iter().map(CertificateDer::from).collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.private_key_pkcs8_der()?));
    Ok((chain, key))
}

/// Server side: our TLS certificate, client certificates required and verified against `client_trust` (with its
/// CRLs: once any CRL is configured every certificate of a chain must be covered by a current one).
pub fn server_config(identity: &KeyPair, client_trust: &TrustStore) -> Result<Arc<ServerConfig>, TlsSetupError> {
    build_server_config(identity, client_trust, true)
}

/// Like [`server_config`], but a client may also connect without a certificate (the local API, where such a client
/// then authenticates with a bearer token). A certificate that is presented must still verify against
/// `client_trust`, or the handshake fails.
pub fn server_config_client_cert_optional(
    identity: &KeyPair,
    client_trust: &TrustStore,
) -> Result<Arc<ServerConfig>, TlsSetupError> {
    build_server_config(identity, client_trust, false)
}

fn build_server_config(
    identity: &KeyPair,
    client_trust: &TrustStore,
    client_cert_required: bool,
) -> Result<Arc<ServerConfig>, TlsSetupError> {
    let provider = edelivery_provider();
    let mut verifier = WebPkiClientVerifier::builder_with_provider(roots(client_trust)?, provider.clone());
    if client_trust.checks_revocation() {
        verifier = verifier.with_crls(crls(client_trust)?).enforce_revocation_expiration();
    }
    if !client_cert_required {
        verifier = verifier.allow_unauthenticated();
    }
    let verifier = verifier.build().map_err(|e| TlsSetupError::Verifier(e.to_string()))?;
    let (chain, key) = chain_and_key(identity)?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(PROTOCOL_VERSIONS)
        .map_err(|e| TlsSetupError::Verifier(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| TlsSetupError::Key(e.to_string()))?;
    // AS4 is HTTP/1.1; no ALPN offered (the client sends none either).
    config.alpn_protocols.clear();
    Ok(Arc::new(config))
}

/// Client side: our TLS certificate as client certificate; the server is verified against `server_trust` (with its
/// CRLs) and must match the URL's host name or IP address.
pub fn client_config(
    identity: Option<&KeyPair>,
    server_trust: &TrustStore,
) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let provider = edelivery_provider();
    let mut verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(roots(server_trust)?, provider.clone());
    if server_trust.checks_revocation() {
        verifier = verifier.with_crls(crls(server_trust)?).enforce_revocation_expiration();
    }
    let verifier = verifier.build().map_err(|e| TlsSetupError::Verifier(e.to_string()))?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(PROTOCOL_VERSIONS)
        .map_err(|e| TlsSetupError::Verifier(e.to_string()))?
        .with_webpki_verifier(verifier);
    let config = match identity {
        Some(identity) => {
            let (chain, key) = chain_and_key(identity)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsSetupError::Key(e.to_string()))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_edelivery_suites_are_offered() {
        let names: Vec<String> = edelivery_provider()
            .cipher_suites
            .iter()
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        for name in &names {
            assert!(name.contains("GCM"), "{name}");
            assert!(name.starts_with("TLS13_") || name.contains("ECDHE"), "{name}");
        }
        assert_eq!(names.len(), 6);
    }

    #[test]
    fn configs_build_from_the_dev_pki() {
        let pki = crate::pki::dev::DevPki::throwaway("AP-TLS-UNIT").unwrap();
        let trust =
            TrustStore::new(vec![pki.ca.certificate.clone()])
                .with_crls(vec![
                    openssl::x509::X509Crl::from_der(&pki.crl.to_der().unwrap()).unwrap()
                ]);
        server_config(&pki.tls, &trust).unwrap();
        client_config(Some(&pki.tls), &trust).unwrap();
        assert!(matches!(
            server_config(&pki.tls, &TrustStore::default()),
            Err(TlsSetupError::NoAnchors)
        ));
    }
}

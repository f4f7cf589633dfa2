//! HTTPS for [`super::ApiClient`]: the AS4 transport's TLS profile, an optional client certificate, and the
//! API's server certificate checked either against CAs (`[api] client_trust`) or, when none are configured, pinned
//! to the certificate `[api.tls] cert` of the same configuration (a client on the node's own machine needs no
//! further setting).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::ClientError;
use crate::pki::{KeyPair, TrustStore};
use crate::transport::tls::{client_config, edelivery_provider, PROTOCOL_VERSIONS};

/// How the client checks the API's server certificate.
pub enum ApiServerTrust {
    /// A chain to one of these CAs, valid for the address connected to (IP SAN).
    Cas(TrustStore),
    /// Exactly this certificate (DER), within its validity period.
    Pinned(openssl::x509::X509),
}

/// The TLS side of an [`super::ApiClient`].
#[derive(Clone)]
pub struct ClientTls {
    connector: TlsConnector,
    client_certificate: bool,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("client_certificate", &self.client_certificate)
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// TLS with `identity` as client certificate (if any), the server checked as `server` says.
    pub fn new(identity: Option<&KeyPair>, server: ApiServerTrust) -> Result<ClientTls, ClientError> {
        let tls = |e: &dyn std::fmt::Display| ClientError::Tls(e.to_string());
        let config = match server {
            ApiServerTrust::Cas(trust) => client_config(identity, &trust).map_err(|e| tls(&e))?,
            ApiServerTrust::Pinned(certificate) => {
                let provider = edelivery_provider();
                let verifier = PinnedServer {
                    der: certificate.to_der().map_err(|e| tls(&e))?,
                    info: crate::pki::CertificateInfo::of(&certificate).map_err(|e| tls(&e))?,
                    provider: provider.clone(),
                };
                let builder = ClientConfig::builder_with_provider(provider)
                    .with_protocol_versions(PROTOCOL_VERSIONS)
                    .map_err(|e| tls(&e))?
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier));
                let config = match identity {
                    Some(identity) => {
                        let chain = identity
                            .chain_der()
                            .map_err(|e| tls(&e))?
                            .into_iter()
                            .map(CertificateDer::from)
                            .collect();
                        let key = identity.private_key_pkcs8_der().map_err(|e| tls(&e))?;
                        builder
                            .with_client_auth_cert(chain, PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)))
                            .map_err(|e| tls(&e))?
                    }
                    None => builder.with_no_client_auth(),
                };
                Arc::new(config)
            }
        };
        Ok(ClientTls {
            connector: TlsConnector::from(config),
            client_certificate: identity.is_some(),
        })
    }

    /// The TLS settings of a configuration: `None` for a plain-HTTP API (no `[api.tls]`, no `[api] client_trust`).
    /// The client certificate `[api] client_cert` is presented when `with_certificate`.
    pub fn for_config(
        config: &crate::config::Config,
        with_certificate: bool,
    ) -> Result<Option<ClientTls>, ClientError> {
        let settings = |e: crate::config::ConfigError| ClientError::Tls(e.to_string());
        let server = match config.api_client_trust().map_err(settings)? {
            Some(trust) => ApiServerTrust::Cas(trust),
            None => match &config.api.tls {
                Some(tls) => ApiServerTrust::Pinned(
                    crate::pki::load_certificate(&tls.cert).map_err(|e| ClientError::Tls(e.to_string()))?,
                ),
                None => return Ok(None),
            },
        };
        let identity = if with_certificate {
            config.api_client_identity().map_err(settings)?
        } else {
            None
        };
        ClientTls::new(identity.as_ref(), server).map(Some)
    }

    /// Whether a client certificate is presented.
    pub fn has_client_certificate(&self) -> bool {
        self.client_certificate
    }

    /// The TLS handshake with the API at `addr` over `stream`. The server is named by its IP address (a wildcard
    /// listen address stands for loopback).
    pub(super) async fn handshake(
        &self,
        addr: SocketAddr,
        stream: tokio::net::TcpStream,
    ) -> Result<TlsStream<tokio::net::TcpStream>, ClientError> {
        let ip = match addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        self.connector
            .connect(ServerName::IpAddress(ip.into()), stream)
            .await
            .map_err(|e| ClientError::Tls(format!("handshake with {addr}: {e}")))
    }
}

/// Accepts exactly one server certificate (and checks the handshake signature with its key).
#[derive(Debug)]
struct PinnedServer {
    der: Vec<u8>,
    info: crate::pki::CertificateInfo,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() != self.der.as_slice() {
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ));
        }
        let now = time::OffsetDateTime::from_unix_timestamp(now.as_secs() as i64)
            .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::Expired))?;
        if !self.info.is_valid_at(now) {
            return Err(rustls::Error::InvalidCertificate(rustls::CertificateError::Expired));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

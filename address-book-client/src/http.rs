//! A minimal HTTP(S) GET client for the discovery services: one connection per request (the answers are cached,
//! so pooling buys little), a whole-request timeout, and a cap on the body size. HTTPS uses rustls with the
//! configured trust anchors only.

use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// A TLS client configuration for `https` discovery services (see [`HttpSettings::tls_from_pem`]).
pub type TlsClientConfig = Arc<rustls::ClientConfig>;

/// Settings for one discovery service's HTTP client.
#[derive(Clone)]
pub struct HttpSettings {
    /// Whole request (connect, TLS, headers, body) time limit.
    pub timeout: Duration,
    /// Largest accepted response body, in bytes.
    pub max_body_bytes: usize,
    /// TLS client configuration for `https` URLs (trust anchors of the service); `None` refuses `https`.
    pub tls: Option<TlsClientConfig>,
}

impl std::fmt::Debug for HttpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSettings")
            .field("timeout", &self.timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            timeout: Duration::from_secs(10),
            max_body_bytes: 4 * 1024 * 1024,
            tls: None,
        }
    }
}

impl HttpSettings {
    /// A rustls client configuration trusting exactly the certificates in `pem` (one or more PEM certificates).
    pub fn tls_from_pem(pem: &[u8]) -> Result<TlsClientConfig, String> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut &pem[..]) {
            let cert = cert.map_err(|e| format!("reading trust anchors: {e}"))?;
            roots.add(cert).map_err(|e| format!("adding trust anchor: {e}"))?;
        }
        if roots.is_empty() {
            return Err("no certificate in the trust anchor PEM".into());
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}

/// What went wrong with one HTTP exchange.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("invalid URL {0:?}")]
    Url(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The TLS handshake was refused for a certificate or configuration reason (not a network failure).
    #[error("TLS: {0}")]
    Tls(String),
    #[error("HTTP exchange failed: {0}")]
    Protocol(String),
    #[error("response body larger than {0} bytes")]
    BodyTooLarge(usize),
}

/// A response: status, content type and the whole (size-capped) body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: bytes::Bytes,
}

/// GETs `url` with `accept` as the Accept header, under the settings' timeout and body cap.
pub async fn get(url: &str, accept: &str, settings: &HttpSettings) -> Result<Response, HttpError> {
    match tokio::time::timeout(settings.timeout, get_inner(url, accept, settings)).await {
        Ok(r) => r,
        Err(_) => Err(HttpError::Timeout(settings.timeout)),
    }
}

async fn get_inner(url: &str, accept: &str, settings: &HttpSettings) -> Result<Response, HttpError> {
    let uri: http::Uri = url.parse().map_err(|_| HttpError::Url(url.to_string()))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(HttpError::Url(url.to_string())),
    };
    let host = uri.host().ok_or_else(|| HttpError::Url(url.to_string()))?.to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_else(|| host.clone());
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_string();
    let host_for_connect = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let tcp = TcpStream::connect((host_for_connect.as_str(), port))
        .await
        .map_err(|e| HttpError::Connect(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let request = http::Request::get(path)
        .header(http::header::HOST, authority)
        .header(http::header::ACCEPT, accept)
        .header(
            http::header::USER_AGENT,
            concat!("sdk-ap-discovery/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|e| HttpError::Url(e.to_string()))?;
    if https {
        let config = settings.tls.clone().ok_or_else(|| {
            HttpError::Tls("https URL, but no TLS trust anchors are configured for this service".into())
        })?;
        let server_name = rustls::pki_types::ServerName::try_from(host_for_connect.clone())
            .map_err(|e| HttpError::Tls(e.to_string()))?;
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(server_name, tcp)
            .await
            .map_err(
                |e| match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
                    Some(refused) => HttpError::Tls(refused.to_string()),
                    None => HttpError::Connect(format!("during the TLS handshake: {e}")),
                },
            )?;
        exchange(TokioIo::new(stream), request, settings.max_body_bytes).await
    } else {
        exchange(TokioIo::new(tcp), request, settings.max_body_bytes).await
    }
}

async fn exchange<T>(io: T, request: http::Request<Empty<bytes::Bytes>>, max_body: usize) -> Result<Response, HttpError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| HttpError::Protocol(e.to_string()))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| HttpError::Protocol(e.to_string()))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if let Some(len) = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
        {
            if len.parse::<usize>().map(|l| l > max_body).unwrap_or(false) {
                return Err(HttpError::BodyTooLarge(max_body));
            }
        }
        let body = Limited::new(response.into_body(), max_body)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                    HttpError::BodyTooLarge(max_body)
                } else {
                    HttpError::Protocol(e.to_string())
                }
            })?;
        Ok(Response {
            status,
            content_type,
            body: body.to_bytes(),
        })
    }
    .await;
    driver.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot server answering every connection with `response`.
    async fn serve(response: Vec<u8>) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(&response).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn bodies_over_the_cap_are_refused() {
        let body = vec![b'x'; 2000];
        let mut response = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        response.extend_from_slice(&body);
        let addr = serve(response).await;
        let settings = HttpSettings {
            max_body_bytes: 1000,
            ..HttpSettings::default()
        };
        assert_eq!(
            get(&format!("http://{addr}/"), "*/*", &settings).await.unwrap_err(),
            HttpError::BodyTooLarge(1000)
        );
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n"
            .iter()
            .copied()
            .chain(body)
            .collect();
        let addr = serve(chunked).await;
        assert_eq!(
            get(&format!("http://{addr}/"), "*/*", &settings).await.unwrap_err(),
            HttpError::BodyTooLarge(1000)
        );
    }

    #[tokio::test]
    async fn bad_urls_closed_ports_garbage_and_unconfigured_tls_are_typed() {
        let s = HttpSettings {
            timeout: Duration::from_secs(2),
            ..HttpSettings::default()
        };
        assert!(matches!(get("ftp://x/", "*/*", &s).await, Err(HttpError::Url(_))));
        assert!(matches!(get("not a url", "*/*", &s).await, Err(HttpError::Url(_))));
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        assert!(matches!(
            get(&format!("http://{closed}/"), "*/*", &s).await,
            Err(HttpError::Connect(_))
        ));
        let addr = serve(b"garbage\r\n\r\n".to_vec()).await;
        assert!(matches!(
            get(&format!("http://{addr}/"), "*/*", &s).await,
            Err(HttpError::Protocol(_))
        ));
        let addr = serve(Vec::new()).await;
        assert!(matches!(
            get(&format!("https://{addr}/"), "*/*", &s).await,
            Err(HttpError::Tls(_))
        ));
        assert!(HttpSettings::tls_from_pem(b"junk").is_err());
    }

    #[tokio::test]
    async fn silent_servers_time_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _keep = tokio::spawn(async move {
            let (_s, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(10)).await;
        });
        let s = HttpSettings {
            timeout: Duration::from_millis(200),
            ..HttpSettings::default()
        };
        assert_eq!(
            get(&format!("http://{addr}/"), "*/*", &s).await.unwrap_err(),
            HttpError::Timeout(s.timeout)
        );
    }

    /// A CA and a server certificate for 127.0.0.1 (EC P-256), as (CA PEM, server cert DER, server key PKCS#8 DER).
    fn tls_material() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        use openssl::asn1::Asn1Time;
        use openssl::ec::{EcGroup, EcKey};
        use openssl::hash::MessageDigest;
        use openssl::nid::Nid;
        use openssl::pkey::PKey;
        use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
        use openssl::x509::{X509Name, X509};
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let make = |cn: &str, issuer: Option<(&X509, &PKey<openssl::pkey::Private>)>| {
            let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
            let mut name = X509Name::builder().unwrap();
            name.append_entry_by_text("CN", cn).unwrap();
            let name = name.build();
            let mut b = X509::builder().unwrap();
            b.set_version(2).unwrap();
            b.set_subject_name(&name).unwrap();
            b.set_issuer_name(issuer.map(|(c, _)| c.subject_name()).unwrap_or(&name))
                .unwrap();
            b.set_pubkey(&key).unwrap();
            b.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
            b.set_not_after(&Asn1Time::days_from_now(2).unwrap()).unwrap();
            if issuer.is_none() {
                b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
                    .unwrap();
            } else {
                let san = SubjectAlternativeName::new()
                    .ip("127.0.0.1")
                    .build(&b.x509v3_context(issuer.map(|(c, _)| &**c), None))
                    .unwrap();
                b.append_extension(san).unwrap();
            }
            b.sign(issuer.map(|(_, k)| k).unwrap_or(&key), MessageDigest::sha256())
                .unwrap();
            (b.build(), key)
        };
        let (ca, ca_key) = make("test CA", None);
        let (leaf, leaf_key) = make("127.0.0.1", Some((&ca, &ca_key)));
        (
            ca.to_pem().unwrap(),
            leaf.to_der().unwrap(),
            leaf_key.private_key_to_pkcs8().unwrap(),
        )
    }

    #[tokio::test]
    async fn https_with_the_configured_anchor_only() {
        let (ca_pem, cert, key) = tls_material();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![rustls::pki_types::CertificateDer::from(cert)],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(mut tls) = acceptor.accept(s).await {
                        let mut buf = [0u8; 4096];
                        let _ = tls.read(&mut buf).await;
                        let _ = tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await;
                        let _ = tls.shutdown().await;
                    }
                });
            }
        });
        let good = HttpSettings {
            tls: Some(HttpSettings::tls_from_pem(&ca_pem).unwrap()),
            ..HttpSettings::default()
        };
        let r = get(&format!("https://{addr}/x"), "*/*", &good).await.unwrap();
        assert_eq!((r.status, &r.body[..]), (200, &b"ok"[..]));
        let (other_ca, _, _) = tls_material();
        let wrong = HttpSettings {
            tls: Some(HttpSettings::tls_from_pem(&other_ca).unwrap()),
            ..HttpSettings::default()
        };
        assert!(matches!(
            get(&format!("https://{addr}/x"), "*/*", &wrong).await,
            Err(HttpError::Tls(_))
        ));
    }
}

//! Mutual TLS of the AS4 transport: round trip with the dev PKI, and every way a peer's certificate or TLS
//! parameters must be refused (missing, foreign CA, revoked, old protocol, weak or non-eDelivery cipher suite),
//! on the server and on the client side.

mod transport_support;

use std::path::Path;
use std::process::{Command, Stdio};

use access_point::pki::dev::DevPki;
use access_point::pki::KeyPair;
use access_point::transport::{ClientError, OutgoingBody};
use http::{HeaderMap, StatusCode};
use transport_support::*;

fn post_body() -> OutgoingBody {
    OutgoingBody::bytes(&b"<Envelope/>"[..])
}

#[tokio::test]
async fn mutual_tls_round_trip_passes_the_peer_certificate_to_the_handler() {
    let pki = DevPki::throwaway("AP-RT").unwrap();
    let trust = trust_of(&pki);
    let server = start_server(&pki.tls, &trust, fast_transport()).await;
    let client = client_for(Some(&pki.tls), &trust, &fast_transport());
    let response = client
        .post(
            &server.url("/as4"),
            "application/soap+xml",
            &HeaderMap::new(),
            post_body(),
        )
        .await
        .unwrap();
    assert_eq!(response.status, StatusCode::OK);
    let text = String::from_utf8(response.bytes().await.unwrap().to_vec()).unwrap();
    assert!(text.starts_with("11 "), "{text}");
    assert!(
        text.ends_with(" AP-RT"),
        "the handler saw the client certificate: {text}"
    );
    assert_eq!(server.metrics.tls_handshake_failures.get(), 0);
    server.server.shutdown().await;
}

/// Asserts that a client with `identity` cannot reach the handler of a server trusting `server_pki`'s CA.
async fn assert_refused_at_tls(server_pki: &DevPki, identity: Option<&KeyPair>) -> ClientError {
    let trust = trust_of(server_pki);
    let server = start_server(&server_pki.tls, &trust, fast_transport()).await;
    let client = client_for(identity, &trust, &fast_transport());
    let error = client
        .post(
            &server.url("/as4"),
            "application/soap+xml",
            &HeaderMap::new(),
            post_body(),
        )
        .await
        .expect_err("the server must refuse this client");
    assert!(matches!(error, ClientError::TlsHandshake { .. }), "{error:?}");
    assert!(error.is_retryable());
    assert_eq!(
        server.handler.calls.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "handler never reached"
    );
    assert_eq!(server.metrics.tls_handshake_failures.get(), 1);
    server.server.shutdown().await;
    error
}

#[tokio::test]
async fn no_client_certificate_is_refused_during_the_handshake() {
    let pki = DevPki::throwaway("AP-NOCERT").unwrap();
    let e = assert_refused_at_tls(&pki, None).await;
    eprintln!("refused: {e}");
}

#[tokio::test]
async fn client_certificate_from_another_ca_is_refused() {
    let pki = DevPki::throwaway("AP-SRV").unwrap();
    let stranger = DevPki::throwaway("AP-STRANGER").unwrap();
    // The client trusts the server (so the failure is the server's refusal), but its certificate is foreign.
    let trust = trust_of(&pki);
    let server = start_server(&pki.tls, &trust, fast_transport()).await;
    let client = client_for(Some(&stranger.tls), &trust, &fast_transport());
    let error = client
        .post(
            &server.url("/as4"),
            "application/soap+xml",
            &HeaderMap::new(),
            post_body(),
        )
        .await
        .expect_err("foreign client certificate");
    assert!(matches!(error, ClientError::TlsHandshake { .. }), "{error:?}");
    assert_eq!(server.handler.calls.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(server.metrics.tls_handshake_failures.get(), 1);
    server.server.shutdown().await;
}

#[tokio::test]
async fn revoked_client_certificate_is_refused_and_an_unrevoked_sibling_passes() {
    let mut pki = DevPki::throwaway("AP-CRL").unwrap();
    let revoked = extra_tls_pair(&pki, "AP-REVOKED", &["localhost"], &["127.0.0.1"]);
    let sibling = extra_tls_pair(&pki, "AP-SIBLING", &["localhost"], &["127.0.0.1"]);
    pki.revoke(&revoked.certificate).unwrap();
    let trust = trust_of(&pki);
    let server = start_server(&pki.tls, &trust, fast_transport()).await;

    let ok = client_for(Some(&sibling), &trust, &fast_transport())
        .post(
            &server.url("/as4"),
            "application/soap+xml",
            &HeaderMap::new(),
            post_body(),
        )
        .await
        .unwrap();
    assert_eq!(ok.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&ok.bytes().await.unwrap()).ends_with("AP-SIBLING"));

    let error = client_for(Some(&revoked), &trust, &fast_transport())
        .post(
            &server.url("/as4"),
            "application/soap+xml",
            &HeaderMap::new(),
            post_body(),
        )
        .await
        .expect_err("revoked client certificate");
    assert!(matches!(error, ClientError::TlsHandshake { .. }), "{error:?}");
    assert!(error.to_string().to_lowercase().contains("revoked"), "{error}");
    assert_eq!(server.handler.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    server.server.shutdown().await;
}

#[tokio::test]
async fn client_refuses_a_server_from_another_ca_or_with_another_name() {
    let pki = DevPki::throwaway("AP-C1").unwrap();
    let stranger = DevPki::throwaway("AP-C2").unwrap();
    // A server whose certificate our trust store does not cover.
    let server = start_server(&stranger.tls, &trust_of(&pki), fast_transport()).await;
    let error = client_for(Some(&pki.tls), &trust_of(&pki), &fast_transport())
        .post(
            &server.url("/as4"),
            "application/soap+xml",
            &HeaderMap::new(),
            post_body(),
        )
        .await
        .expect_err("server from a foreign CA");
    assert!(matches!(error, ClientError::TlsHandshake { .. }), "{error:?}");
    assert_eq!(server.handler.calls.load(std::sync::atomic::Ordering::SeqCst), 0);
    server.server.shutdown().await;

    // A trusted server certificate issued for another host: the name check must refuse it.
    let elsewhere = extra_tls_pair(&pki, "AP-ELSEWHERE", &["elsewhere.example"], &[]);
    let server = start_server(&elsewhere, &trust_of(&pki), fast_transport()).await;
    let error = client_for(Some(&pki.tls), &trust_of(&pki), &fast_transport())
        .post(
            &server.url("/as4"),
            "application/soap+xml",
            &HeaderMap::new(),
            post_body(),
        )
        .await
        .expect_err("server certificate for another host");
    assert!(
        matches!(error, ClientError::TlsHandshake { ref message, .. } if message.contains("not valid for name")),
        "{error:?}"
    );
    server.server.shutdown().await;
}

#[tokio::test]
async fn plain_http_is_refused_unless_allowed() {
    let transport = fast_transport();
    // A server without TLS and without the explicit consent does not start.
    let settings = access_point::transport::ServerSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: None,
        allow_plain_http: false,
        transport: transport.clone(),
        max_body_bytes: 1 << 20,
    };
    let refused = access_point::transport::serve(
        settings,
        std::sync::Arc::new(CountingHandler::default()),
        std::sync::Arc::new(access_point::transport::ApMetrics::new()),
        access_point::transport::Readiness::default(),
    )
    .await;
    assert!(matches!(
        refused,
        Err(access_point::transport::TransportError::PlainHttpNotAllowed)
    ));

    // A client without consent refuses http:// URLs.
    let pki = DevPki::throwaway("AP-PLAIN").unwrap();
    let client = client_for(Some(&pki.tls), &trust_of(&pki), &transport);
    let e = client
        .post("http://127.0.0.1:9/as4", "text/xml", &HeaderMap::new(), post_body())
        .await
        .unwrap_err();
    assert!(
        matches!(e, ClientError::PlainHttpNotAllowed(_)) && !e.is_retryable(),
        "{e:?}"
    );

    // A TLS server does not answer plain HTTP spoken to it.
    let server = start_server(&pki.tls, &trust_of(&pki), transport.clone()).await;
    let e = plain_client(&transport)
        .post(&server.plain_url("/as4"), "text/xml", &HeaderMap::new(), post_body())
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Protocol(_)), "{e:?}");
    assert_eq!(server.handler.calls.load(std::sync::atomic::Ordering::SeqCst), 0);
    server.server.shutdown().await;

    // With consent, plain HTTP works (loopback tests).
    let server = start_with(None, transport.clone(), 1 << 20).await;
    let r = plain_client(&transport)
        .post(&server.plain_url("/as4"), "text/xml", &HeaderMap::new(), post_body())
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    server.server.shutdown().await;
}

/// Runs `openssl s_client` against the server with our client certificate and `extra` arguments.
fn s_client(port: u16, dir: &Path, pki: &DevPki, extra: &[&str]) -> Option<(bool, String)> {
    let cert = dir.join("client.pem");
    let key = dir.join("client.key.pem");
    let ca = dir.join("ca.pem");
    std::fs::write(&cert, pki.tls.certificate.to_pem().unwrap()).unwrap();
    std::fs::write(&key, pki.tls.key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    std::fs::write(&ca, pki.ca.certificate.to_pem().unwrap()).unwrap();
    let connect = format!("127.0.0.1:{port}");
    let output = Command::new("openssl")
        .args(["s_client", "-connect", &connect, "-servername", "localhost"])
        .args(["-cert", cert.to_str().unwrap(), "-key", key.to_str().unwrap()])
        .args(["-CAfile", ca.to_str().unwrap()])
        .args(extra)
        .stdin(Stdio::null())
        .output();
    let output = match output {
        Ok(o) => o,
        Err(e) => {
            if std::env::var("SDK_AP_REQUIRE_PEERS").as_deref() == Ok("1") {
                panic!("openssl not runnable: {e}");
            }
            eprintln!("SKIPPED: openssl s_client not available ({e})");
            return None;
        }
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let negotiated = text.contains("Cipher is ") && !text.contains("Cipher is (NONE)");
    Some((output.status.success() && negotiated, text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_s_client_old_protocols_and_weak_suites_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::throwaway("AP-SCLIENT").unwrap();
    let server = start_server(&pki.tls, &trust_of(&pki), fast_transport()).await;
    let port = server.addr().port();
    let run = |extra: &'static [&'static str]| {
        let dir = dir.path().to_path_buf();
        let pki = &pki;
        tokio::task::block_in_place(|| s_client(port, &dir, pki, extra))
    };
    // Positive controls: the eDelivery suites negotiate, so a refusal below is the server's choice.
    let Some((ok, text)) = run(&["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"]) else {
        return;
    };
    assert!(
        ok && text.contains("ECDHE-ECDSA-AES128-GCM-SHA256"),
        "TLS 1.2 eDelivery suite: {text}"
    );
    let (ok, text) = run(&["-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384"]).unwrap();
    assert!(
        ok && text.contains("TLS_AES_256_GCM_SHA384"),
        "TLS 1.3 AES-256-GCM: {text}"
    );

    for extra in [
        &["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"][..],
        &["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"][..],
        &["-tls1_2", "-cipher", "AES128-SHA"][..],
        &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256"][..],
        // Offered by rustls by default, but not in the eDelivery profile: refused only because we restrict suites.
        &["-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"][..],
        &["-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"][..],
    ] {
        let (ok, text) = run(extra).unwrap();
        assert!(!ok, "{extra:?} must be refused:\n{text}");
    }
    assert_eq!(server.handler.calls.load(std::sync::atomic::Ordering::SeqCst), 0);
    server.server.shutdown().await;
}

//! Mutual TLS on the local API (`[api.tls]`, issue 6 part 3), on real listeners on 127.0.0.1:
//! * a client certificate registered with `sdk-ap api-token create --client-cert` authenticates as `mtls:NAME` and
//!   reaches exactly its scope (its functional address's messages; another's are 404, sending as another 403);
//! * a certificate from another CA is refused in the handshake even when it has an entry; a certificate the CRL
//!   revokes likewise; a trusted certificate without an entry, or with a revoked or expired entry, gets 401;
//!   a certificate plus a bearer token on one request gets 401;
//! * bearer tokens still work over TLS (and are still checked); plain HTTP to the TLS listener gets nowhere;
//! * `ApiClient` built from a configuration with `[api] client_cert` pins the server certificate and presents the
//!   client certificate; the audit log names `mtls:NAME`, or the fingerprint of a refused certificate.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use access_point::api::client::{ApiServerTrust, ClientTls};
use access_point::api::tokens::{self, ApiToken, NewToken, StoredScope};
use access_point::api::{ApiClient, ClientError};
use access_point::cli::api_token::{self, CreateArgs};
use access_point::config::Config;
use access_point::pki::dev::{CertSpec, DevPki};
use access_point::pki::{KeyPair, TrustStore};
use http::StatusCode;
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::{X509ExtendedKeyUsage, X509KeyUsage};

mod support;

use support::{audit_lines, start_with_api, submit_sdk};

const ORG_A: &str = support::A_PARTICIPANT;
const ORG_B: &str = support::B_PARTICIPANT;

/// An ECDSA P-256 TLS client certificate issued by `pki`'s CA.
fn client_pair(pki: &DevPki, common_name: &str) -> KeyPair {
    let key =
        PKey::from_ec_key(EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap()).unwrap();
    let mut spec = CertSpec::leaf(common_name, X509KeyUsage::DIGITAL_SIGNATURE);
    spec.extended_key_usage = X509ExtendedKeyUsage::SSL_CLIENT;
    let certificate = pki.issue(&spec, &key).unwrap();
    KeyPair::new(key, certificate, Vec::new()).unwrap()
}

fn write_pair(dir: &Path, name: &str, pair: &KeyPair) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key.pem"));
    std::fs::write(&cert, pair.certificate.to_pem().unwrap()).unwrap();
    std::fs::write(&key, pair.key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    (cert, key)
}

/// The API's own PKI (server certificate, client CA, CRL) in `<root>/api-pki`, `[api.tls]` added to the
/// configuration; client certificates issued before the CRL is written, `revoked` put on it.
struct TlsNode {
    config_file: PathBuf,
    pki: DevPki,
    pki_dir: PathBuf,
}

fn tls_node(root: &Path, client_names: &[&str], revoked: &[&str]) -> (TlsNode, Vec<KeyPair>) {
    let config_file = support::two_linked_aps(root).a;
    let mut pki = DevPki::throwaway("API-TLS").unwrap();
    let clients: Vec<KeyPair> = client_names.iter().map(|cn| client_pair(&pki, cn)).collect();
    for (name, pair) in client_names.iter().zip(&clients) {
        if revoked.contains(name) {
            pki.revoke(&pair.certificate).unwrap();
        }
    }
    let pki_dir = root.join("api-pki");
    let files = pki.write(&pki_dir, false).unwrap();
    let mut text = std::fs::read_to_string(&config_file).unwrap();
    text.push_str(&format!(
        "\n[api.tls]\ncert = \"{}\"\nkey = \"{}\"\nclient_ca = \"{}\"\nclient_crls = [\"{}\"]\n",
        files.tls_cert.display(),
        files.tls_key.display(),
        files.ca_cert.display(),
        files.crl.display()
    ));
    std::fs::write(&config_file, text).unwrap();
    Config::load(&config_file).unwrap().validate().unwrap();
    (
        TlsNode {
            config_file,
            pki,
            pki_dir,
        },
        clients,
    )
}

/// `sdk-ap api-token create --client-cert FILE` with `scopes`.
fn register(config: &Path, name: &str, cert: &Path, scopes: &[String], expires_in_days: Option<u32>) {
    let (record, shown) = api_token::create(&CreateArgs {
        config: config.to_path_buf(),
        name: name.into(),
        scopes: scopes.to_vec(),
        operator: false,
        expires_in_days,
        token_file: None,
        client_cert: Some(cert.to_path_buf()),
    })
    .unwrap();
    assert!(shown.is_none(), "a certificate entry has no secret to show");
    assert_eq!(record.secret_sha256, "");
}

fn api_trust(node: &TlsNode) -> ApiServerTrust {
    ApiServerTrust::Cas(TrustStore::new(vec![node.pki.ca.certificate.clone()]))
}

fn cert_client(addr: SocketAddr, node: &TlsNode, identity: Option<&KeyPair>) -> ApiClient {
    ApiClient::new(addr).with_tls(ClientTls::new(identity, api_trust(node)).unwrap())
}

fn status_of<T: std::fmt::Debug>(result: Result<T, ClientError>) -> StatusCode {
    match result {
        Err(ClientError::Problem { status, .. }) => status,
        other => panic!("expected a problem answer, got {other:?}"),
    }
}

fn detail_of<T: std::fmt::Debug>(result: Result<T, ClientError>) -> String {
    match result {
        Err(ClientError::Problem { status, detail, .. }) if status == StatusCode::UNAUTHORIZED => detail,
        other => panic!("expected 401, got {other:?}"),
    }
}

/// The request never reached HTTP routing: the TLS handshake (or the connection) failed.
fn assert_refused_in_handshake<T: std::fmt::Debug>(result: Result<T, ClientError>, what: &str) {
    match result {
        Err(ClientError::Tls(_) | ClientError::Http(_)) => {}
        other => panic!("{what}: expected a refused handshake, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_authenticate_within_their_scope_only() {
    let tmp = tempfile::tempdir().unwrap();
    let names = ["fa-x", "unregistered", "revoked-entry", "expired-entry", "crl-revoked"];
    let (node_files, clients) = tls_node(tmp.path(), &names, &["crl-revoked"]);
    let [fa_x, unregistered, revoked_entry, expired_entry, crl_revoked] = &clients[..] else {
        unreachable!()
    };
    let config_file = &node_files.config_file;
    let mut paths = Vec::new();
    for (name, pair) in names.iter().zip(&clients) {
        paths.push(write_pair(&node_files.pki_dir, name, pair).0);
    }
    let scope_x = vec![format!("{ORG_A}/x:send,read")];
    register(config_file, "fa-x", &paths[0], &scope_x, None);
    register(config_file, "revoked-entry", &paths[2], &scope_x, None);
    register(config_file, "expired-entry", &paths[3], &scope_x, Some(0));
    // One active entry per certificate.
    let again = api_token::create(&CreateArgs {
        config: config_file.clone(),
        name: "fa-x-again".into(),
        scopes: scope_x.clone(),
        operator: false,
        expires_in_days: None,
        token_file: None,
        client_cert: Some(paths[0].clone()),
    });
    assert!(again.is_err(), "a second active entry for one certificate");

    // A certificate of another CA and one on the CRL: the CLI refuses to register them, naming the client CA...
    let stranger_pki = DevPki::throwaway("API-TLS-OTHER").unwrap();
    let stranger = client_pair(&stranger_pki, "fa-x");
    let (stranger_path, _) = write_pair(&node_files.pki_dir, "stranger", &stranger);
    for (name, path) in [("stranger", &stranger_path), ("crl-revoked", &paths[4])] {
        let refused = api_token::create(&CreateArgs {
            config: config_file.clone(),
            name: name.into(),
            scopes: scope_x.clone(),
            operator: false,
            expires_in_days: None,
            token_file: None,
            client_cert: Some(path.clone()),
        });
        assert!(
            refused.as_ref().is_err_and(|e| e.to_string().contains("client_ca")),
            "{refused:?}"
        );
    }
    // ...so they are registered directly in the tokens file: only the handshake keeps them out.
    let config = Config::load(config_file).unwrap();
    for (name, certificate) in [
        ("stranger", &stranger.certificate),
        ("crl-revoked", &crl_revoked.certificate),
    ] {
        tokens::create_for_certificate(
            &config.api_tokens_file(),
            NewToken {
                name: name.into(),
                operator: false,
                scopes: vec![StoredScope::parse(&scope_x[0]).unwrap()],
                expires: None,
            },
            certificate,
        )
        .unwrap();
    }

    let (node, api) = start_with_api(config_file).await;
    let addr = api.local_addr();
    let document = tmp.path().join("brev.xml");
    std::fs::write(&document, "<brev xmlns=\"urn:example\">Hej!</brev>").unwrap();

    // The operator (bearer token over TLS) submits as A/x, A/y and B/x.
    let operator_token = ApiToken::read_file(config.api.client_token_file.as_ref().unwrap()).unwrap();
    let operator = cert_client(addr, &node_files, None).with_token(operator_token);
    let of_x = submit_sdk(&operator, &document, ORG_A, "x").await.unwrap();
    let of_y = submit_sdk(&operator, &document, ORG_A, "y").await.unwrap();
    let of_b = submit_sdk(&operator, &document, ORG_B, "x").await.unwrap();

    // The registered certificate: its own address's status yes; A/y and B as if unknown; node status forbidden.
    let x_client = cert_client(addr, &node_files, Some(fa_x));
    let own = x_client.message(&of_x).await.unwrap().expect("own message visible");
    assert_eq!(own.message_id, of_x);
    for other in [&of_y, &of_b] {
        assert!(
            x_client.message(other).await.unwrap().is_none(),
            "{other} is outside the scope"
        );
    }
    assert_eq!(status_of(x_client.status().await), StatusCode::FORBIDDEN);
    // Sending as its own address yes (recorded as mtls:fa-x); as another address no.
    let sent = submit_sdk(&x_client, &document, ORG_A, "x").await.unwrap();
    let view = x_client.message(&sent).await.unwrap().unwrap();
    let history = serde_json::to_value(&view).unwrap()["history"].clone();
    assert_eq!(history[0]["actor"], "mtls:fa-x", "{history}");
    assert_eq!(
        status_of(submit_sdk(&x_client, &document, ORG_A, "y").await),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status_of(submit_sdk(&x_client, &document, ORG_B, "x").await),
        StatusCode::FORBIDDEN
    );
    // The inbox list answers for the certificate caller (filtered by the same scope check).
    x_client.inbox_list(&Default::default()).await.unwrap();

    // Trusted but not registered: 401.
    let detail = detail_of(cert_client(addr, &node_files, Some(unregistered)).message(&of_x).await);
    assert!(detail.contains("not registered"), "{detail}");
    // Revoked entry (revoked while the server runs) and expired entry: 401.
    let revoked_client = cert_client(addr, &node_files, Some(revoked_entry));
    assert!(
        revoked_client.message(&of_x).await.unwrap().is_some(),
        "valid before revocation"
    );
    api_token::revoke(config_file, "revoked-entry").unwrap();
    assert!(detail_of(revoked_client.message(&of_x).await).contains("revoked"));
    assert!(detail_of(cert_client(addr, &node_files, Some(expired_entry)).message(&of_x).await).contains("expired"));
    // A certificate and a token on one request: 401, whichever would have been right.
    let both = x_client.clone().with_token(operator_token);
    assert!(detail_of(both.message(&of_x).await).contains("not both"));

    // Another CA's certificate (with an entry) and a CRL-revoked certificate (with an entry): no handshake.
    let stranger_client =
        ApiClient::new(addr).with_tls(ClientTls::new(Some(&stranger), api_trust(&node_files)).unwrap());
    assert_refused_in_handshake(stranger_client.message(&of_x).await, "certificate of another CA");
    assert_refused_in_handshake(
        cert_client(addr, &node_files, Some(crl_revoked)).message(&of_x).await,
        "certificate on the CRL",
    );

    // The audit log names the certificate entry, and the fingerprint of a certificate that was not let in.
    let lines = audit_lines(&config);
    assert!(lines
        .iter()
        .any(|l| l["actor"] == "mtls:fa-x" && l["status"] == 202 && l["message_ids"][0] == sent.as_str()));
    let fingerprint: String = openssl::sha::sha256(&unregistered.certificate.to_der().unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["actor"] == format!("mtls-unregistered:sha256:{fingerprint}") && l["status"] == 401),
        "{lines:#?}"
    );
    assert!(!lines
        .iter()
        .any(|l| l["actor"] == "mtls:stranger" || l["actor"] == "mtls:crl-revoked"));

    api.shutdown().await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_work_over_tls_plain_http_does_not_and_the_configured_client_uses_its_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let (node_files, clients) = tls_node(tmp.path(), &["case-system"], &[]);
    let config_file = &node_files.config_file;
    let (cert, key) = write_pair(&node_files.pki_dir, "case-system", &clients[0]);
    register(config_file, "case-system", &cert, &[format!("{ORG_A}:send,read")], None);
    let (node, api) = start_with_api(config_file).await;
    let addr = api.local_addr();
    let config = node.config().clone();
    assert_eq!(api.base_url(), format!("https://{addr}/api/v1"));

    // A bearer token over TLS (no client certificate): the operator token reads the node status; a forged one
    // does not.
    let token_client = ApiClient::new(addr).with_config_credentials(&config, None).unwrap();
    token_client.status().await.unwrap();
    let forged = ApiToken::generate().unwrap();
    let forged_client = cert_client(addr, &node_files, None).with_token(forged);
    assert_eq!(status_of(forged_client.status().await), StatusCode::UNAUTHORIZED);

    // Plain HTTP to the TLS listener gets no answer, even with the operator token.
    let operator_token = ApiToken::read_file(config.api.client_token_file.as_ref().unwrap()).unwrap();
    let plain = ApiClient::new(addr).with_token(operator_token);
    assert_refused_in_handshake(plain.status().await, "plain HTTP");

    // The server certificate must be one the client trusts: a client trusting another CA refuses the API.
    let other_ca = DevPki::throwaway("API-TLS-ELSEWHERE").unwrap();
    let distrustful = ApiClient::new(addr)
        .with_tls(
            ClientTls::new(
                None,
                ApiServerTrust::Cas(TrustStore::new(vec![other_ca.ca.certificate.clone()])),
            )
            .unwrap(),
        )
        .with_token(operator_token);
    assert!(matches!(distrustful.status().await, Err(ClientError::Tls(_))));
    // Pinned to another certificate: refused too.
    let pinned_elsewhere = ApiClient::new(addr)
        .with_tls(ClientTls::new(None, ApiServerTrust::Pinned(other_ca.tls.certificate.clone())).unwrap())
        .with_token(operator_token);
    assert!(matches!(pinned_elsewhere.status().await, Err(ClientError::Tls(_))));

    // `[api] client_cert` / `client_key`: the configured client pins `[api.tls] cert` and authenticates with the
    // certificate (not the operator token file), so it may not read the node status but may send as A.
    let mut text = std::fs::read_to_string(config_file).unwrap();
    text = text.replacen(
        "[api]\n",
        &format!(
            "[api]\nclient_cert = \"{}\"\nclient_key = \"{}\"\n",
            cert.display(),
            key.display()
        ),
        1,
    );
    std::fs::write(config_file, text).unwrap();
    let client_config = Config::load(config_file).unwrap();
    client_config.validate().unwrap();
    let configured = ApiClient::new(addr)
        .with_config_credentials(&client_config, None)
        .unwrap();
    assert_eq!(status_of(configured.status().await), StatusCode::FORBIDDEN);
    let document = tmp.path().join("brev.xml");
    std::fs::write(&document, "<brev xmlns=\"urn:example\">Hej!</brev>").unwrap();
    let sent = submit_sdk(&configured, &document, ORG_A, "x").await.unwrap();
    let lines = audit_lines(&config);
    assert!(lines
        .iter()
        .any(|l| l["actor"] == "mtls:case-system" && l["message_ids"][0] == sent.as_str()));
    // An explicit token takes precedence over the configured certificate (and the certificate is then not sent).
    let explicit = ApiClient::new(addr)
        .with_config_credentials(&client_config, Some(&operator_token.to_string()))
        .unwrap();
    explicit.status().await.unwrap();

    api.shutdown().await;
    node.shutdown().await;
}

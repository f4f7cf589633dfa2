//! Authentication, scoping and audit of the local API, on a real listener on 127.0.0.1 (issue 6, part 3):
//! * tokens made by the `sdk-ap api-token` functions authenticate; a missing, forged, revoked or expired token is
//!   answered 401 with `WWW-Authenticate: Bearer`, and revocation takes effect without a restart;
//! * the tokens file holds only hashes (mode 0600);
//! * a token scoped to organisation A / functional address X reads only A/X's message status (A/Y's and another
//!   organisation's are 404, as unknown ids), cannot submit as A/Y or as another organisation, and cannot read the
//!   node status; an organisation-wide read token reads every functional address of its organisation;
//! * every call leaves one audit line (actor, method, path, message id, status, remote address).

use std::net::SocketAddr;
use std::path::Path;

use access_point::api::tokens::{ApiToken, TOKEN_PREFIX};
use access_point::api::{ApiClient, ClientError};
use access_point::cli::api_token::{self, CreateArgs};
use access_point::config::Config;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;

mod support;

use support::{audit_lines, start_with_api, submit_sdk};

const ORG_A: &str = support::A_PARTICIPANT;
const ORG_B: &str = support::B_PARTICIPANT;

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

async fn get(addr: SocketAddr, path: &str, authorization: Option<&str>) -> Answer {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let driver = tokio::spawn(connection);
    let mut request = Request::builder()
        .method(Method::GET)
        .uri(path)
        .header(http::header::HOST, addr.to_string());
    if let Some(value) = authorization {
        request = request.header(http::header::AUTHORIZATION, value);
    }
    let response = sender
        .send_request(request.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    driver.abort();
    Answer { status, headers, body }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn message_path(id: &str) -> String {
    format!("/api/v1/messages/{}", access_point::api::server::percent_encode(id))
}

fn create(config: &Path, name: &str, scopes: &[&str], operator: bool, expires_in_days: Option<u32>) -> String {
    let (_, shown) = api_token::create(&CreateArgs {
        config: config.to_path_buf(),
        name: name.into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        operator,
        expires_in_days,
        token_file: None,
        client_cert: None,
    })
    .unwrap();
    shown.expect("printed once")
}

fn client(addr: SocketAddr, token: &str) -> ApiClient {
    ApiClient::new(addr).with_token(ApiToken::parse(token).unwrap())
}

fn problem_status(result: Result<String, ClientError>) -> StatusCode {
    match result {
        Err(ClientError::Problem { status, .. }) => status,
        other => panic!("expected a problem answer, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_authenticate_only_while_valid_and_rest_as_hashes() {
    let tmp = tempfile::tempdir().unwrap();
    let config_file = support::two_linked_aps(tmp.path()).a;
    let (node, api) = start_with_api(&config_file).await;
    let addr = api.local_addr();
    let config = node.config().clone();
    let probe = message_path("no-such-message@example");

    let token = create(&config_file, "case-system", &[&format!("{ORG_A}:read")], false, None);
    assert!(token.starts_with(TOKEN_PREFIX));
    // Authenticated: the route answers (404 for an unknown id), not the authentication.
    assert_eq!(
        get(addr, &probe, Some(&bearer(&token))).await.status,
        StatusCode::NOT_FOUND
    );

    // Hash-only at rest, mode 0600.
    let tokens_file = config.api_tokens_file();
    let at_rest = std::fs::read_to_string(&tokens_file).unwrap();
    let secret = &token[TOKEN_PREFIX.len() + 17..];
    assert!(
        at_rest.contains("case-system") && !at_rest.contains(secret),
        "{at_rest}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&tokens_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    // Missing, malformed and forged (right id, other secret) tokens: 401 with a Bearer challenge.
    let mut forged = token.clone().into_bytes();
    let last = forged.len() - 2;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert!(ApiToken::parse(&forged).is_some(), "the forged token is well formed");
    for authorization in [None, Some("Bearer nonsense".to_string()), Some(bearer(&forged))] {
        let answer = get(addr, &probe, authorization.as_deref()).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{authorization:?}");
        let challenge = answer.headers[http::header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        assert_eq!(answer.json()["type"], "urn:sdk-ap:problem:unauthorized");
    }

    // Revoked by the CLI function while the server runs: refused at the next request.
    api_token::revoke(&config_file, "case-system").unwrap();
    let answer = get(addr, &probe, Some(&bearer(&token))).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.json()["detail"].as_str().unwrap().contains("revoked"));

    // Expired (0 days: expires at creation).
    let expired = create(&config_file, "short-lived", &[&format!("{ORG_A}:read")], false, Some(0));
    let answer = get(addr, &probe, Some(&bearer(&expired))).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.json()["detail"].as_str().unwrap().contains("expired"));

    // The operator token `init` wrote is what `sdk-ap status` uses: it reads the node status.
    let operator = ApiClient::new(addr).with_config_token(&config, None).unwrap();
    operator.status().await.unwrap();

    // One audit line per call, 401s included, as the anonymous actor.
    let lines = audit_lines(&config);
    assert_eq!(lines.len(), 7, "{lines:#?}");
    assert_eq!(lines[0]["actor"], "token:case-system");
    assert_eq!(lines[0]["status"], 404);
    assert_eq!(lines[0]["message_ids"][0], "no-such-message@example");
    assert_eq!(lines[1]["actor"], "anonymous");
    assert_eq!(lines[1]["status"], 401);
    assert_eq!(lines[6]["actor"], "token:operator");
    assert_eq!(lines[6]["path"], "/api/v1/status");
    assert!(lines[6]["remote"].as_str().unwrap().starts_with("127.0.0.1:"));

    api.shutdown().await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_functional_address_token_reaches_only_its_own_messages() {
    let tmp = tempfile::tempdir().unwrap();
    let config_file = support::two_linked_aps(tmp.path()).a;
    let (node, api) = start_with_api(&config_file).await;
    let addr = api.local_addr();
    let config = node.config().clone();
    let document = tmp.path().join("brev.xml");
    std::fs::write(&document, "<brev xmlns=\"urn:example\">Hej!</brev>").unwrap();

    let operator = ApiClient::new(addr).with_config_token(&config, None).unwrap();
    let of_x = submit_sdk(&operator, &document, ORG_A, "x").await.unwrap();
    let of_y = submit_sdk(&operator, &document, ORG_A, "y").await.unwrap();
    let of_b = submit_sdk(&operator, &document, ORG_B, "x").await.unwrap();

    let fa_x = create(&config_file, "fa-x", &[&format!("{ORG_A}/x:send,read")], false, None);
    let org_a_reader = create(&config_file, "org-a-reader", &[&format!("{ORG_A}:read")], false, None);

    // Reading: A/x yes; A/y and B as if they did not exist.
    let read = |token: String, id: String| async move { get(addr, &message_path(&id), Some(&bearer(&token))).await };
    let own = read(fa_x.clone(), of_x.clone()).await;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(own.json()["message_id"], of_x.as_str());
    for other in [&of_y, &of_b] {
        let answer = read(fa_x.clone(), other.clone()).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{other}");
        assert_eq!(answer.json()["type"], "urn:sdk-ap:problem:not-found");
    }
    // An organisation-wide read token sees every functional address of A, but not B.
    assert_eq!(read(org_a_reader.clone(), of_x.clone()).await.status, StatusCode::OK);
    assert_eq!(read(org_a_reader.clone(), of_y.clone()).await.status, StatusCode::OK);
    assert_eq!(
        read(org_a_reader.clone(), of_b.clone()).await.status,
        StatusCode::NOT_FOUND
    );

    // The node status is for operators only.
    assert_eq!(
        get(addr, "/api/v1/status", Some(&bearer(&fa_x))).await.status,
        StatusCode::FORBIDDEN
    );

    // Sending: as A/x yes (recorded under the token's name); as A/y or as B no; a read-only token not at all.
    let x_client = client(addr, &fa_x);
    let sent = submit_sdk(&x_client, &document, ORG_A, "x").await.unwrap();
    let history = read(fa_x.clone(), sent.clone()).await.json()["history"].clone();
    assert_eq!(history[0]["actor"], "token:fa-x", "{history}");
    assert_eq!(
        problem_status(submit_sdk(&x_client, &document, ORG_A, "y").await),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        problem_status(submit_sdk(&x_client, &document, ORG_B, "x").await),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        problem_status(submit_sdk(&client(addr, &org_a_reader), &document, ORG_A, "x").await),
        StatusCode::FORBIDDEN
    );

    // The audit log names the token and the message of each call.
    let lines = audit_lines(&config);
    assert!(lines.iter().any(|l| l["actor"] == "token:fa-x"
        && l["method"] == "POST"
        && l["status"] == 202
        && l["message_ids"][0] == sent.as_str()));
    assert!(lines
        .iter()
        .any(|l| l["actor"] == "token:fa-x" && l["status"] == 404 && l["message_ids"][0] == of_b.as_str()));

    api.shutdown().await;
    node.shutdown().await;
}

#[test]
fn unauthenticated_access_is_refused_off_loopback() {
    let tmp = tempfile::tempdir().unwrap();
    let config_file = support::two_linked_aps(tmp.path()).a;
    let text = std::fs::read_to_string(&config_file).unwrap();
    let patched = text
        .replacen("[api]\nlisten = \"127.0.0.1:", "[api]\nlisten = \"0.0.0.0:", 1)
        .replacen("authentication = \"token\"", "authentication = \"none\"", 1);
    let error = Config::from_toml(&patched, &config_file).unwrap_err();
    assert_eq!(error.setting(), "api.authentication", "{error}");
    assert!(
        error.to_string().contains("sdk-ap.toml:"),
        "names file and line: {error}"
    );
}

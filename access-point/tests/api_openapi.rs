//! The OpenAPI 3.1 document served at `/api/v1/openapi.json`:
//! * it is what the server serves, and structurally valid OpenAPI 3.1 (our own checks, and openapi-spec-validator
//!   when installed: scripts/install-test-deps.sh);
//! * every documented operation is routed on a live server (answered, and not with the `no-route` problem), while an
//!   undocumented path or method is answered `no-route`;
//! * every route the API's sources name (`METHOD /api/v1/…` or `/v1/sdk/…` in their docs, and the literal match arms
//!   of `server.rs`) is documented;
//! * schemathesis (PyPI, pinned, in its own venv) fuzzes every operation from the document for a bounded time and
//!   finds no server error (5xx).
//!
//! Peers missing (openapi-spec-validator, schemathesis): a loud `SKIPPED` line, or a panic under
//! `SDK_AP_REQUIRE_PEERS=1`.

mod api_test_support;

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use access_point::api::openapi::{document, OPENAPI_JSON};
use api_test_support::*;
use http::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;

const OPERATION_METHODS: [&str; 8] = ["get", "put", "post", "delete", "patch", "options", "head", "trace"];
const NO_ROUTE: &str = "urn:sdk-ap:problem:no-route";

fn skip_or_panic(what: &str) {
    if std::env::var("SDK_AP_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("SDK_AP_REQUIRE_PEERS=1 but {what}");
    }
    eprintln!("SKIPPED: {what} (run scripts/install-test-deps.sh)");
}

/// Every operation of the document: (METHOD, path template).
fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in OPERATION_METHODS {
            if item.get(method).is_some() {
                out.push((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// `/api/v1/inbox/{message_id}/attachments/{n}` → `/api/v1/inbox/{}/attachments/{}`.
fn normalise(template: &str) -> String {
    template
        .split('/')
        .map(|segment| if segment.starts_with('{') { "{}" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "$ref" {
                    out.push(v.as_str().unwrap_or_default().to_string());
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// Structural rules of OpenAPI 3.1 that matter here; returns every violation.
fn structural_errors(doc: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    if !doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1.")) {
        errors.push("openapi must be 3.1.x".into());
    }
    for field in ["title", "version"] {
        if !doc["info"][field].is_string() {
            errors.push(format!("info.{field} must be a string"));
        }
    }
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for (name, scheme) in &schemes {
        let kind = scheme["type"].as_str().unwrap_or("");
        if !["apiKey", "http", "mutualTLS", "oauth2", "openIdConnect"].contains(&kind) {
            errors.push(format!("security scheme {name}: type {kind:?}"));
        }
    }
    let check_security = |security: &Value, at: &str, errors: &mut Vec<String>| {
        for requirement in security.as_array().into_iter().flatten() {
            for name in requirement.as_object().into_iter().flatten().map(|(k, _)| k) {
                if !schemes.contains_key(name) {
                    errors.push(format!("{at}: unknown security scheme {name}"));
                }
            }
        }
    };
    check_security(&doc["security"], "security", &mut errors);
    let mut operation_ids = HashSet::new();
    for (path, item) in doc["paths"].as_object().cloned().unwrap_or_default() {
        if !path.starts_with('/') {
            errors.push(format!("path {path} must start with /"));
        }
        let template_params: BTreeSet<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_string)
            .collect();
        let path_level: Vec<Value> = item["parameters"].as_array().cloned().unwrap_or_default();
        for method in OPERATION_METHODS {
            let Some(operation) = item.get(method) else { continue };
            let at = format!("{} {path}", method.to_ascii_uppercase());
            match operation["operationId"].as_str() {
                Some(id) if operation_ids.insert(id.to_string()) => {}
                other => errors.push(format!("{at}: operationId {other:?} missing or not unique")),
            }
            let responses = operation["responses"].as_object();
            if responses.is_none_or(|r| r.is_empty()) {
                errors.push(format!("{at}: no responses"));
            }
            for (code, _) in responses.into_iter().flatten() {
                let valid = code == "default"
                    || (code.len() == 3
                        && code.starts_with(['1', '2', '3', '4', '5'])
                        && code[1..].chars().all(|c| c.is_ascii_digit() || c == 'X'));
                if !valid {
                    errors.push(format!("{at}: response code {code}"));
                }
            }
            check_security(&operation["security"], &at, &mut errors);
            let params: Vec<Value> = path_level
                .iter()
                .chain(operation["parameters"].as_array().into_iter().flatten())
                .cloned()
                .collect();
            let declared: BTreeSet<String> = params
                .iter()
                .filter(|p| p["in"] == "path")
                .map(|p| {
                    if p["required"] != Value::Bool(true) {
                        errors.push(format!("{at}: path parameter {} must be required", p["name"]));
                    }
                    p["name"].as_str().unwrap_or_default().to_string()
                })
                .collect();
            if declared != template_params {
                errors.push(format!(
                    "{at}: path parameters {declared:?} but the template has {template_params:?}"
                ));
            }
            for p in &params {
                if !["path", "query", "header", "cookie"].contains(&p["in"].as_str().unwrap_or("")) {
                    errors.push(format!("{at}: parameter {} in {}", p["name"], p["in"]));
                }
                if p.get("schema").is_none() && p.get("content").is_none() {
                    errors.push(format!("{at}: parameter {} has no schema", p["name"]));
                }
            }
        }
    }
    let mut refs = Vec::new();
    collect_refs(doc, &mut refs);
    for reference in refs {
        let resolves = reference
            .strip_prefix('#')
            .is_some_and(|pointer| doc.pointer(pointer).is_some());
        if !resolves {
            errors.push(format!("$ref {reference} does not resolve"));
        }
    }
    errors
}

#[test]
fn the_document_is_valid_openapi_3_1() {
    let doc = document();
    assert_eq!(structural_errors(&doc), Vec::<String>::new());
    // The checks can fail: a broken copy is refused.
    let mut broken = doc.clone();
    broken["paths"]["/api/v1/status"]["get"]
        .as_object_mut()
        .unwrap()
        .remove("responses");
    broken["paths"]["/v1/sdk/messages/{messageId}"]["parameters"][0]["name"] = "id".into();
    broken["components"]["schemas"]
        .as_object_mut()
        .unwrap()
        .remove("Problem");
    let found = structural_errors(&broken).join("\n");
    for expected in [
        "GET /api/v1/status: no responses",
        "path parameters {\"id\"}",
        "Problem does not resolve",
    ] {
        assert!(found.contains(expected), "{expected:?} not in {found}");
    }
    // Security schemes: bearer tokens and mutual TLS; every error answer is a problem document.
    assert_eq!(doc["components"]["securitySchemes"]["bearerToken"]["scheme"], "bearer");
    assert_eq!(doc["components"]["securitySchemes"]["mutualTLS"]["type"], "mutualTLS");
    for (method, path) in operations(&doc) {
        let responses = doc["paths"][&path][method.to_ascii_lowercase()]["responses"]
            .as_object()
            .unwrap()
            .clone();
        for (code, response) in responses {
            if code.starts_with('4') || code.starts_with('5') {
                let reference = response["$ref"].as_str().unwrap_or_default();
                assert!(
                    reference.starts_with("#/components/responses/"),
                    "{method} {path} {code}"
                );
            }
        }
    }

    let validator = validator_path();
    if !validator.exists() {
        return skip_or_panic(&format!(
            "openapi-spec-validator is not installed at {}",
            validator.display()
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, OPENAPI_JSON).unwrap();
    let output = std::process::Command::new(&validator).arg(&file).output().unwrap();
    assert!(
        output.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, serde_json::to_vec(&broken).unwrap()).unwrap();
    let output = std::process::Command::new(&validator).arg(&bad).output().unwrap();
    assert!(
        !output.status.success(),
        "openapi-spec-validator accepted a broken document"
    );
}

fn venv() -> PathBuf {
    PathBuf::from(std::env::var("SDK_AP_SCHEMATHESIS_VENV").unwrap_or_else(|_| "/opt/sdk-ap-schemathesis-venv".into()))
}

fn validator_path() -> PathBuf {
    venv().join("bin/openapi-spec-validator")
}

/// Route mentions in the API's sources: `GET /api/v1/…` / `POST /v1/sdk/…` in docs and messages, plus the
/// literal arms `(Method::GET, "/status")` of `server.rs` (relative to `/api/v1`).
fn routes_named_in_sources() -> BTreeSet<(String, String)> {
    let api_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    let mut files = Vec::new();
    let mut stack = vec![api_dir];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("client.rs") {
                files.push(path);
            }
        }
    }
    let methods = ["GET", "POST", "PUT", "DELETE", "PATCH"];
    let mut out = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let tokens: Vec<&str> = text
            .split(|c: char| c.is_whitespace() || "`\"(),;".contains(c))
            .filter(|t| !t.is_empty())
            .collect();
        for pair in tokens.windows(2) {
            if methods.contains(&pair[0]) && (pair[1].starts_with("/api/v1") || pair[1].starts_with("/v1/sdk")) {
                let path = pair[1].split('?').next().unwrap().trim_end_matches(['.', ':']);
                if !path.contains('{') || path.ends_with('}') || path.contains("}/") {
                    out.insert((pair[0].to_string(), normalise(path)));
                }
            }
        }
        if file.ends_with("server.rs") {
            for line in text.lines() {
                let line = line.trim();
                let Some(rest) = line.strip_prefix("(Method::") else {
                    continue;
                };
                let Some((method, rest)) = rest.split_once(", \"") else {
                    continue;
                };
                let Some((literal, _)) = rest.split_once('"') else {
                    continue;
                };
                if literal.starts_with('/') && !literal.starts_with("/api/") {
                    out.insert((method.to_string(), format!("/api/v1{literal}")));
                } else if literal.starts_with("/api/") {
                    out.insert((method.to_string(), literal.to_string()));
                }
            }
        }
    }
    out
}

#[test]
fn every_route_the_sources_name_is_documented() {
    let documented: BTreeSet<(String, String)> = operations(&document())
        .into_iter()
        .map(|(m, p)| (m, normalise(&p)))
        .collect();
    let named = routes_named_in_sources();
    assert!(named.len() >= 5, "the scan found too little: {named:?}");
    let missing: Vec<_> = named.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes named in src/api but not in openapi.json: {missing:?}"
    );
}

/// Status, headers and (for documents) the problem `type` of one request; a streamed answer is not read.
async fn probe(addr: std::net::SocketAddr, token: Option<&str>, method: &str, path: &str) -> (StatusCode, String) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let driver = tokio::spawn(connection);
    let mut request = http::Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(path)
        .header(http::header::HOST, addr.to_string());
    if let Some(token) = token {
        request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = if method == "POST" { b"{}".to_vec() } else { Vec::new() };
    if method == "POST" {
        request = request.header(http::header::CONTENT_TYPE, "application/json");
    }
    let response = tokio::time::timeout(
        Duration::from_secs(20),
        sender.send_request(
            request
                .body(http_body_util::Full::new(bytes::Bytes::from(body)))
                .unwrap(),
        ),
    )
    .await
    .expect("answered in time")
    .unwrap();
    let status = response.status();
    let streamed = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/event-stream"));
    let problem_type = if streamed {
        String::new()
    } else {
        use http_body_util::BodyExt;
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v["type"].as_str().map(str::to_string))
            .unwrap_or_default()
    };
    driver.abort();
    (status, problem_type)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_is_routed_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let config = one_ap(dir.path(), "a", PARTY_A);
    let ap = RunningAp::start(&config).await;
    let token = ap.operator_token.clone();

    let served = ap.get("/api/v1/openapi.json").await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.headers[http::header::CONTENT_TYPE], "application/json");
    assert_eq!(served.json(), document());

    for (method, template) in operations(&document()) {
        let path: String = template
            .split('/')
            .map(|s| if s.starts_with('{') { "probe-0" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let (status, problem_type) = probe(ap.addr(), token.as_deref(), &method, &path).await;
        assert_ne!(
            problem_type, NO_ROUTE,
            "{method} {template} ({path}) is documented but not routed"
        );
        assert!(status.as_u16() < 500, "{method} {path}: {status}");
    }
    for (method, path) in [
        ("GET", "/api/v1/no-such-route"),
        ("DELETE", "/api/v1/status"),
        ("PUT", "/v1/sdk/messages"),
        ("GET", "/v2/sdk/messages"),
    ] {
        let (status, problem_type) = probe(ap.addr(), token.as_deref(), method, path).await;
        assert_eq!(
            (status, problem_type.as_str()),
            (StatusCode::NOT_FOUND, NO_ROUTE),
            "{method} {path}"
        );
    }
    ap.stop().await;
}

/// Longest a schemathesis run may take (its `--max-time`), and the most examples per operation.
const SCHEMATHESIS_MAX_SECONDS: u64 = 45;
const SCHEMATHESIS_MAX_EXAMPLES: u32 = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error() {
    let schemathesis = std::env::var("SDK_AP_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| venv().join("bin/schemathesis"));
    if !schemathesis.exists() {
        return skip_or_panic(&format!("schemathesis is not installed at {}", schemathesis.display()));
    }
    let dir = tempfile::tempdir().unwrap();
    let config = one_ap(dir.path(), "a", PARTY_A);
    let ap = RunningAp::start(&config).await;
    let schema = dir.path().join("openapi.json");
    std::fs::write(&schema, OPENAPI_JSON).unwrap();
    let mut command = tokio::process::Command::new(&schemathesis);
    command
        .arg("run")
        .arg(&schema)
        .args(["--url", &format!("http://{}", ap.addr())])
        .args(["--checks", "not_a_server_error"])
        .args(["--max-examples", &SCHEMATHESIS_MAX_EXAMPLES.to_string()])
        .args(["--max-time", &SCHEMATHESIS_MAX_SECONDS.to_string()])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--workers", "1", "--seed", "20261124", "--request-timeout", "15"])
        // The event stream never ends by design: a fuzzer's request would only time out.
        .args(["--exclude-path", "/api/v1/events"])
        .args(["--report", "junit", "--report-dir"])
        .arg(dir.path().join("report"))
        .env("NO_COLOR", "1")
        .current_dir(dir.path())
        .kill_on_drop(true);
    if let Some(token) = &ap.operator_token {
        command.args(["--header", &format!("Authorization: Bearer {token}")]);
    }
    let output = tokio::time::timeout(Duration::from_secs(SCHEMATHESIS_MAX_SECONDS + 60), command.output())
        .await
        .expect("schemathesis ends within its time budget")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stdout}{stderr}");
    ap.stop().await;
    assert!(output.status.success(), "schemathesis found failures (see above)");
    assert!(!stdout.contains("Server error"), "schemathesis reports a server error");
}

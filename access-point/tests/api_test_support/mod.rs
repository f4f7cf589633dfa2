//! Shared by the API integration tests: access points with their API listener on 127.0.0.1, a small HTTP client,
//! and a checker for the subset of JSON Schema (OpenAPI 3.0/3.1 schema objects) the API documents use.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use access_point::api::tokens::{self, NewToken, StoredScope};
use access_point::api::ApiServer;
use access_point::cli::init::{init, InitArgs};
use access_point::config::link::add_peer_from;
use access_point::config::{ApiAuthentication, Config};
use access_point::msh::{Node, NodeOptions, SenderSettings};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// Party ids and participants of the two test APs (as `sdk-ap init` derives them).
pub const PARTY_A: &str = "AP0001-DEV";
pub const PARTY_B: &str = "AP0002-DEV";
pub const PARTICIPANT_A: &str = "0203:ap0001-dev.example";
pub const PARTICIPANT_B: &str = "0203:ap0002-dev.example";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One AP made by `init` under `root/name`; returns its configuration file.
pub fn one_ap(root: &Path, name: &str, party: &str) -> PathBuf {
    let config = init(&InitArgs {
        dir: root.join(name),
        party: party.into(),
        port: free_port(),
        api_port: Some(free_port()),
        force: false,
    })
    .unwrap()
    .config_file;
    // These tests exercise the routes, not the tokens (tests/api_auth.rs does): no authentication, on loopback.
    let text = std::fs::read_to_string(&config).unwrap();
    let patched = text.replacen("authentication = \"token\"", "authentication = \"none\"", 1);
    assert_ne!(patched, text, "init writes [api] authentication");
    std::fs::write(&config, patched).unwrap();
    config
}

/// A and B, made by `init` and linked both ways (each is the other's only `[[peers]]` entry).
pub fn two_linked_aps(root: &Path) -> (PathBuf, PathBuf) {
    let a = one_ap(root, "a", PARTY_A);
    let b = one_ap(root, "b", PARTY_B);
    add_peer_from(&a, &b).unwrap();
    add_peer_from(&b, &a).unwrap();
    (a, b)
}

/// A running node with its API listener on 127.0.0.1 (a free port), and an operator token when the API checks
/// tokens.
pub struct RunningAp {
    pub node: Arc<Node>,
    pub api: ApiServer,
    pub operator_token: Option<String>,
}

impl RunningAp {
    pub async fn start(config: &Path) -> RunningAp {
        let options = NodeOptions {
            sender: Some(SenderSettings {
                idle_poll: Duration::from_millis(200),
                ..SenderSettings::default()
            }),
            ..NodeOptions::default()
        };
        let config = Config::load(config).unwrap();
        let operator_token = (config.api.authentication == ApiAuthentication::Token)
            .then(|| create_token(&config.api_tokens_file(), "operator", true, Vec::new()));
        let node = Arc::new(Node::start(config, options).await.unwrap());
        let api = ApiServer::start_on(node.clone(), "127.0.0.1:0".parse().unwrap(), false)
            .await
            .unwrap();
        RunningAp {
            node,
            api,
            operator_token,
        }
    }

    /// One request as the operator.
    pub async fn call(&self, method: Method, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Answer {
        call(
            self.addr(),
            self.operator_token.as_deref(),
            method,
            path,
            content_type,
            body,
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None, Vec::new()).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Answer {
        self.call(
            Method::POST,
            path,
            Some("application/json"),
            body.to_string().into_bytes(),
        )
        .await
    }

    pub fn addr(&self) -> SocketAddr {
        self.api.local_addr()
    }

    pub async fn stop(self) {
        self.api.shutdown().await;
        self.node.shutdown().await;
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Creates an API token in `file`; returns its text.
pub fn create_token(file: &Path, name: &str, operator: bool, scopes: Vec<StoredScope>) -> String {
    let (_, token) = tokens::create(
        file,
        NewToken {
            name: name.into(),
            operator,
            scopes,
            expires: None,
        },
    )
    .unwrap();
    token.to_string()
}

/// One request on a fresh connection, with `Authorization: Bearer <token>` when a token is given.
pub async fn call(
    addr: SocketAddr,
    token: Option<&str>,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Answer {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let driver = tokio::spawn(connection);
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, addr.to_string());
    if let Some(ct) = content_type {
        request = request.header(http::header::CONTENT_TYPE, ct);
    }
    if let Some(token) = token {
        request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = sender
        .send_request(request.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    driver.abort();
    Answer { status, headers, body }
}

/// The workspace's `../shared` folder (DIGG's specifications).
pub fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

/// Checks `instance` against an OpenAPI schema object (JSON Schema subset: `$ref` to `#/…`, `allOf`, `type`,
/// `properties`, `required`, `items`, `enum`, `const`, `maxLength`, `minimum`, `maximum`, `exclusiveMaximum` in both
/// the 3.0 (boolean) and 3.1 (number) forms, `additionalProperties: false`, `oneOf`/`anyOf`, `nullable`). As OpenAPI
/// 3.0 says, keywords beside a `$ref` are ignored. `format` is not checked. Returns every violation with its path.
pub fn schema_errors(root: &Value, schema: &Value, instance: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(root, schema, instance, "$", &mut errors, 0);
    errors
}

fn resolve<'a>(root: &'a Value, reference: &str) -> &'a Value {
    let pointer = reference
        .strip_prefix('#')
        .unwrap_or_else(|| panic!("only local references are supported: {reference}"));
    root.pointer(pointer)
        .unwrap_or_else(|| panic!("dangling reference {reference}"))
}

fn type_matches(name: &str, instance: &Value) -> bool {
    match name {
        "object" => instance.is_object(),
        "array" => instance.is_array(),
        "string" => instance.is_string(),
        "boolean" => instance.is_boolean(),
        "integer" => instance.as_i64().is_some() || instance.as_u64().is_some(),
        "number" => instance.is_number(),
        "null" => instance.is_null(),
        other => panic!("unknown schema type {other}"),
    }
}

fn check(root: &Value, schema: &Value, instance: &Value, at: &str, errors: &mut Vec<String>, depth: usize) {
    assert!(depth < 64, "schema recursion too deep at {at}");
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return check(root, resolve(root, reference), instance, at, errors, depth + 1);
    }
    if schema.get("nullable") == Some(&Value::Bool(true)) && instance.is_null() {
        return;
    }
    for sub in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        check(root, sub, instance, at, errors, depth + 1);
    }
    for (keyword, need_one) in [("oneOf", true), ("anyOf", false)] {
        if let Some(options) = schema.get(keyword).and_then(Value::as_array) {
            let passing = options
                .iter()
                .filter(|o| schema_errors_at(root, o, instance, depth).is_empty())
                .count();
            if passing == 0 || (need_one && passing > 1) {
                errors.push(format!("{at}: {passing} of the {keyword} schemas match"));
            }
        }
    }
    match schema.get("type") {
        Some(Value::String(name)) if !type_matches(name, instance) => {
            errors.push(format!("{at}: expected {name}, found {instance}"));
            return;
        }
        Some(Value::Array(names)) if !names.iter().any(|n| type_matches(n.as_str().unwrap_or(""), instance)) => {
            errors.push(format!("{at}: expected one of {names:?}, found {instance}"));
            return;
        }
        _ => {}
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(instance) {
            errors.push(format!("{at}: {instance} is not one of {options:?}"));
        }
    }
    if let Some(constant) = schema.get("const") {
        if constant != instance {
            errors.push(format!("{at}: {instance} is not {constant}"));
        }
    }
    if let (Some(max), Some(text)) = (schema.get("maxLength").and_then(Value::as_u64), instance.as_str()) {
        if text.chars().count() as u64 > max {
            errors.push(format!("{at}: longer than {max} characters"));
        }
    }
    if let Some(number) = instance.as_f64() {
        let exclusive_max_bool = schema.get("exclusiveMaximum") == Some(&Value::Bool(true));
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
            if number < min {
                errors.push(format!("{at}: {number} < minimum {min}"));
            }
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
            if number > max || (exclusive_max_bool && number >= max) {
                errors.push(format!("{at}: {number} above maximum {max}"));
            }
        }
        if let Some(max) = schema.get("exclusiveMaximum").and_then(Value::as_f64) {
            if number >= max {
                errors.push(format!("{at}: {number} not below {max}"));
            }
        }
    }
    if let Some(object) = instance.as_object() {
        for name in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            let name = name.as_str().unwrap_or("");
            if !object.contains_key(name) {
                errors.push(format!("{at}: required member {name:?} is missing"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (name, value) in object {
            match properties.and_then(|p| p.get(name)) {
                Some(sub) => check(root, sub, value, &format!("{at}.{name}"), errors, depth + 1),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => errors.push(format!("{at}: member {name:?} is not allowed")),
                    Some(sub @ Value::Object(_)) => check(root, sub, value, &format!("{at}.{name}"), errors, depth + 1),
                    _ => {}
                },
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), instance.as_array()) {
        for (i, item) in array.iter().enumerate() {
            check(root, items, item, &format!("{at}[{i}]"), errors, depth + 1);
        }
    }
}

fn schema_errors_at(root: &Value, schema: &Value, instance: &Value, depth: usize) -> Vec<String> {
    let mut errors = Vec::new();
    check(root, schema, instance, "$", &mut errors, depth + 1);
    errors
}

//! Events for message systems over real listeners on 127.0.0.1: the SSE stream of `GET /api/v1/events` (delivered
//! and failed events of a real send between two access points, scope filtering, `Last-Event-ID` resume and gap,
//! disconnect and shutdown ending the stream) and webhooks (signature, retries with exactly one successful delivery,
//! dead letters, a pending delivery resumed after a restart) against a small hyper receiver.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use access_point::api::auth::{Caller, Permission, Scope, ScopeEntry};
use access_point::api::webhooks::signature::WebhookSecret;
use access_point::api::ApiServer;
use access_point::cli::init::{init, InitArgs};
use access_point::config::link::add_peer_from;
use access_point::config::{Config, EventsConfig};
use access_point::msh::{ApEvent, EventBus, Node, NodeOptions, SenderSettings, Submission};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;

const PARTICIPANT_A: &str = "0203:ap0001-dev.example";
const PARTICIPANT_B: &str = "0203:ap0002-dev.example";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One AP made by `init` under `root/name`, with `extra` TOML appended to its configuration.
fn one_ap(root: &Path, name: &str, party: &str, extra: &str) -> PathBuf {
    let file = init(&InitArgs {
        dir: root.join(name),
        party: party.into(),
        port: free_port(),
        api_port: Some(free_port()),
        force: false,
    })
    .unwrap()
    .config_file;
    if !extra.is_empty() {
        let mut text = std::fs::read_to_string(&file).unwrap();
        text.push('\n');
        text.push_str(extra);
        std::fs::write(&file, text).unwrap();
    }
    file
}

async fn start_node(config: &Path) -> Arc<Node> {
    let options = NodeOptions {
        sender: Some(SenderSettings {
            idle_poll: Duration::from_millis(200),
            ..SenderSettings::default()
        }),
        ..NodeOptions::default()
    };
    Arc::new(Node::start(Config::load(config).unwrap(), options).await.unwrap())
}

async fn start_api(node: &Arc<Node>) -> ApiServer {
    ApiServer::start_on(node.clone(), "127.0.0.1:0".parse().unwrap(), false)
        .await
        .unwrap()
}

/// The operator token `init` writes when the API has tokens (none: no header).
fn bearer(config: &Path) -> Option<String> {
    let file = config.parent().unwrap().join("keys/api-operator.token");
    std::fs::read_to_string(file)
        .ok()
        .map(|t| format!("Bearer {}", t.trim()))
}

/// One server-sent event.
#[derive(Debug, Clone)]
struct SseEvent {
    id: Option<String>,
    event: String,
    data: Value,
}

/// A client reading `GET /api/v1/events`.
struct SseClient {
    body: Incoming,
    buffer: String,
    driver: tokio::task::JoinHandle<()>,
}

impl SseClient {
    async fn open(addr: SocketAddr, query: &str, last_event_id: Option<&str>, auth: Option<&str>) -> SseClient {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut request = Request::get(format!("/api/v1/events{query}"))
            .header(http::header::HOST, addr.to_string())
            .header(http::header::ACCEPT, "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        if let Some(auth) = auth {
            request = request.header(http::header::AUTHORIZATION, auth);
        }
        let response = sender
            .send_request(request.body(Empty::<Bytes>::new()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[http::header::CONTENT_TYPE], "text/event-stream");
        SseClient {
            body: response.into_body(),
            buffer: String::new(),
            driver,
        }
    }

    /// The next event (comments skipped); `None` when the stream ended or nothing came within `within`.
    async fn next(&mut self, within: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse_block(&block) {
                    return Some(event);
                }
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame()).await.ok()??.ok()?;
            if let Ok(data) = frame.into_data() {
                self.buffer.push_str(std::str::from_utf8(&data).unwrap());
            }
        }
    }

    /// Whether the server ended the stream within `within`.
    async fn ends_within(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.body.frame()).await {
                Err(_) => return false,
                Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => {}
            }
        }
    }
}

fn parse_block(block: &str) -> Option<SseEvent> {
    let (mut id, mut event, mut data) = (None, None, String::new());
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("id: ") {
            id = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("event: ") {
            event = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("data: ") {
            data.push_str(v);
        }
    }
    Some(SseEvent {
        id,
        event: event?,
        data: serde_json::from_str(&data).unwrap(),
    })
}

fn submission(final_recipient: &str) -> Submission {
    Submission {
        to_party: Some("AP0002-DEV".into()),
        to_party_type: None,
        pmode_id: None,
        service: pmode::builtin::SDK_SERVICE.into(),
        service_type: Some("urn:fdc:digg.se:edelivery:process".into()),
        action: pmode::builtin::SDK_MESSAGE_ACTION.into(),
        original_sender: PARTICIPANT_A.into(),
        final_recipient: final_recipient.into(),
        conversation_id: None,
        tracking_identifier: None,
        payloads: Vec::new(),
        actor: "test".into(),
    }
}

fn delivered(sender: &str, functional_address: Option<&str>, message_id: &str) -> ApEvent {
    ApEvent::Delivered {
        message_id: message_id.into(),
        sender: sender.into(),
        functional_address: functional_address.map(str::to_string),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_carries_delivered_and_failed_of_a_real_send() {
    let tmp = tempfile::tempdir().unwrap();
    let a_toml = one_ap(tmp.path(), "a", "AP0001-DEV", "");
    let b_toml = one_ap(tmp.path(), "b", "AP0002-DEV", "");
    add_peer_from(&a_toml, &b_toml).unwrap();
    add_peer_from(&b_toml, &a_toml).unwrap();
    let a = start_node(&a_toml).await;
    let b = start_node(&b_toml).await;
    let api = start_api(&a).await;
    let auth = bearer(&a_toml);
    let mut events = SseClient::open(api.local_addr(), "?types=delivered,failed", None, auth.as_deref()).await;

    let sent = a.submit(submission(PARTICIPANT_B)).await.unwrap();
    // B serves only its own participant: EBMS:0004, failed without retries.
    let refused = a.submit(submission("0203:not-served.example")).await.unwrap();

    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = events
            .next(Duration::from_secs(60))
            .await
            .expect("an event within 60 s");
        seen.push(event);
    }
    let find = |id: &str| seen.iter().find(|e| e.data["data"]["message_id"] == id).cloned();
    let ok = find(&sent.message_id).expect("delivered event");
    assert_eq!(ok.event, "delivered");
    assert_eq!(ok.data["type"], "delivered");
    assert_eq!(ok.id.as_deref(), ok.data["id"].as_str());
    assert_eq!(ok.data["data"]["sender"], PARTICIPANT_A);
    assert!(ok.data["data"]["functional_address"].is_null());
    assert!(ok.data["timestamp"].as_str().unwrap().ends_with('Z'));
    let failed = find(&refused.message_id).expect("failed event");
    assert_eq!(failed.event, "failed");
    assert!(
        failed.data["data"]["reason"].as_str().unwrap().contains("EBMS:0004"),
        "{:?}",
        failed.data
    );

    api.shutdown().await;
    a.shutdown().await;
    b.shutdown().await;
}

/// Reads the data frames of a body until `want` events arrived or nothing more comes within 300 ms.
async fn read_events(body: &mut access_point::api::ApiBody, want: usize) -> Vec<SseEvent> {
    let mut text = String::new();
    let mut events = Vec::new();
    while events.len() < want {
        match tokio::time::timeout(Duration::from_millis(300), body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    text.push_str(std::str::from_utf8(&data).unwrap());
                }
                while let Some(end) = text.find("\n\n") {
                    let block: String = text.drain(..end + 2).collect();
                    events.extend(parse_block(&block));
                }
            }
            _ => break,
        }
    }
    events
}

#[tokio::test]
async fn the_stream_shows_only_events_within_the_callers_scope() {
    let bus = EventBus::new();
    let caller = Caller {
        actor: "token:scoped".into(),
        scope: Scope::Entries(vec![ScopeEntry {
            organisation: "0203:a.example".into(),
            functional_address: Some("socialtjanst".into()),
            permissions: vec![Permission::Read],
        }]),
    };
    let response = access_point::api::events::respond(&bus, &caller, None, None, &EventsConfig::default());
    let mut body = response.into_body();
    // Out of scope: another organisation, another functional address, no functional address, inbox of another
    // organisation. In scope: the caller's functional address (any letter case), and its inbox.
    bus.publish(delivered("0203:b.example", Some("socialtjanst"), "other-org"));
    bus.publish(delivered("0203:a.example", Some("skola"), "other-address"));
    bus.publish(delivered("0203:a.example", None, "no-address"));
    bus.publish(ApEvent::InboxMessage {
        message_id: "other-inbox".into(),
        recipient: "0203:b.example".into(),
        functional_address: Some("socialtjanst".into()),
        sender: "0203:a.example".into(),
    });
    bus.publish(delivered(
        "iso6523-actorid-upis::0203:A.example",
        Some("Socialtjanst"),
        "mine",
    ));
    bus.publish(ApEvent::InboxMessage {
        message_id: "my-inbox".into(),
        recipient: "0203:a.example".into(),
        functional_address: Some("socialtjanst".into()),
        sender: "0203:b.example".into(),
    });
    let ids: Vec<String> = read_events(&mut body, 10)
        .await
        .iter()
        .map(|e| e.data["data"]["message_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec!["mine", "my-inbox"]);

    // A read-only scope of the right address without Read permission sees nothing.
    let sender_only = Caller {
        actor: "token:send".into(),
        scope: Scope::Entries(vec![ScopeEntry {
            organisation: "0203:a.example".into(),
            functional_address: None,
            permissions: vec![Permission::Send],
        }]),
    };
    let mut body =
        access_point::api::events::respond(&bus, &sender_only, None, None, &EventsConfig::default()).into_body();
    bus.publish(delivered("0203:a.example", Some("socialtjanst"), "mine-2"));
    assert!(read_events(&mut body, 1).await.is_empty());
}

#[tokio::test]
async fn open_streams_are_bounded_and_a_closed_one_frees_its_place() {
    let bus = EventBus::new();
    let caller = Caller::unrestricted("test");
    let settings = EventsConfig {
        max_streams: 1,
        ..EventsConfig::default()
    };
    let first = access_point::api::events::respond(&bus, &caller, None, None, &settings);
    assert_eq!(first.status(), StatusCode::OK);
    let refused = access_point::api::events::respond(&bus, &caller, None, None, &settings);
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let problem = refused.into_body().collect().await.unwrap().to_bytes();
    let problem: Value = serde_json::from_slice(&problem).unwrap();
    assert_eq!(problem["type"], "urn:sdk-ap:problem:too-many-streams");
    drop(first);
    let again = access_point::api::events::respond(&bus, &caller, None, None, &settings);
    assert_eq!(again.status(), StatusCode::OK);
    let bad = access_point::api::events::respond(&bus, &caller, Some("types=nope"), None, &settings);
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_event_id_resumes_from_the_ring_or_reports_a_gap_and_streams_end_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let config = one_ap(
        tmp.path(),
        "a",
        "AP0001-DEV",
        "[api.events]\nreplay_events = 3\nheartbeat_ms = 100\n",
    );
    let node = start_node(&config).await;
    let api = start_api(&node).await;
    let auth = bearer(&config);
    let bus = node.events();
    let ids: Vec<u64> = (0..5)
        .map(|i| bus.publish(delivered(PARTICIPANT_A, None, &format!("m{i}"))))
        .collect();
    let baseline = bus.subscriber_count();

    // The ring holds m2, m3, m4: resuming after m2 replays m3 and m4, then live events follow.
    let mut resumed = SseClient::open(api.local_addr(), "", Some(&ids[2].to_string()), auth.as_deref()).await;
    let first = resumed.next(Duration::from_secs(5)).await.unwrap();
    let second = resumed.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(first.id, Some(ids[3].to_string()));
    assert_eq!(first.data["data"]["message_id"], "m3");
    assert_eq!(second.data["data"]["message_id"], "m4");
    let live = bus.publish(delivered(PARTICIPANT_A, None, "m5"));
    let third = resumed.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(third.id, Some(live.to_string()));

    // Resuming after m0 needs m1, which the ring no longer holds: a gap, positioned at the newest id, then live.
    let mut gapped = SseClient::open(api.local_addr(), "", Some(&ids[0].to_string()), auth.as_deref()).await;
    let gap = gapped.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(gap.event, "gap");
    assert_eq!(gap.id, Some(live.to_string()));
    assert_eq!(gap.data["last_event_id"], ids[0].to_string());
    let next = bus.publish(delivered(PARTICIPANT_A, None, "m6"));
    assert_eq!(
        gapped.next(Duration::from_secs(5)).await.unwrap().id,
        Some(next.to_string())
    );
    // So does an id from another run.
    let mut stranger = SseClient::open(api.local_addr(), "", Some("12"), auth.as_deref()).await;
    assert_eq!(stranger.next(Duration::from_secs(5)).await.unwrap().event, "gap");

    // A client that goes away lets go of its subscription (the heartbeat write finds the connection closed).
    let opened = bus.subscriber_count();
    assert_eq!(opened, baseline + 3);
    stranger.driver.abort();
    drop(stranger);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while bus.subscriber_count() > baseline + 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed stream still holds its subscription"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Shutting the API down ends the open streams (the graceful shutdown does not wait for them).
    let shutdown = tokio::spawn(api.shutdown());
    assert!(resumed.ends_within(Duration::from_secs(5)).await);
    assert!(gapped.ends_within(Duration::from_secs(5)).await);
    tokio::time::timeout(Duration::from_secs(5), shutdown)
        .await
        .expect("API shut down with streams open")
        .unwrap();
    node.shutdown().await;
}

/// What the webhook receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: http::HeaderMap,
    body: Bytes,
}

/// A webhook endpoint on 127.0.0.1 answering from a script of statuses (then 200), recording every request.
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(port: u16, script: Vec<u16>) -> Receiver {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let seen = received.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                let seen = seen.clone();
                let script = script.clone();
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let seen = seen.clone();
                    let script = script.clone();
                    async move {
                        let (parts, body) = request.into_parts();
                        let body = body.collect().await.unwrap().to_bytes();
                        seen.lock().unwrap().push(Received {
                            headers: parts.headers,
                            body,
                        });
                        let status = script.lock().unwrap().pop_front().unwrap_or(200);
                        let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
                        *response.status_mut() = StatusCode::from_u16(status).unwrap();
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver { received, task }
    }

    fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        while self.count() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} of {n} requests within {within:?}",
                self.count()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.received.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn webhook_settings(port: u16, attempts: u32, extra: &str) -> String {
    format!(
        "[api.events]\nwebhook_attempts = {attempts}\nwebhook_base_delay_ms = 100\nwebhook_max_delay_ms = 400\n\n\
         [[api.webhooks]]\nurl = \"http://127.0.0.1:{port}/hooks/sdk\"\nsecret_file = \"hook.secret\"\n\
         timeout_ms = 2000\n{extra}"
    )
}

fn webhook_ap(root: &Path, port: u16, attempts: u32, extra: &str) -> PathBuf {
    let config = one_ap(root, "a", "AP0001-DEV", &webhook_settings(port, attempts, extra));
    std::fs::write(config.parent().unwrap().join("hook.secret"), format!("{SECRET}\n")).unwrap();
    config
}

/// Files directly in `<data_dir>/webhooks/*/<sub>`.
fn delivery_files(node: &Node, sub: &str) -> Vec<PathBuf> {
    let root = node.config().node.data_dir.join("webhooks");
    let mut files = Vec::new();
    for hook in std::fs::read_dir(root).into_iter().flatten().flatten() {
        for file in std::fs::read_dir(hook.path().join(sub)).into_iter().flatten().flatten() {
            files.push(file.path());
        }
    }
    files
}

fn header<'a>(r: &'a Received, name: &str) -> &'a str {
    r.headers[name].to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_filtered_and_delivered_once_after_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let receiver = Receiver::start(port, vec![500, 503]).await;
    let config = webhook_ap(
        tmp.path(),
        port,
        5,
        "events = [\"delivered\"]\norganisation = \"0203:a.example\"\n",
    );
    let node = start_node(&config).await;
    let api = start_api(&node).await;

    // Out of the webhook's scope or types: never sent.
    node.events().publish(delivered("0203:b.example", None, "other-org"));
    node.events().publish(ApEvent::Failed {
        message_id: "failed".into(),
        sender: "0203:a.example".into(),
        functional_address: None,
        reason: "x".into(),
    });
    let id = node.events().publish(delivered("0203:a.example", Some("fa"), "mine"));

    // 500, 503, then 200: three attempts of the same delivery, then nothing more.
    let got = receiver.wait_for(3, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(receiver.count(), 3, "delivered exactly once after two failures");
    for r in &got {
        assert_eq!(header(r, "webhook-id"), id.to_string());
        assert_eq!(r.body, got[0].body);
        assert_eq!(header(r, "content-type"), "application/json");
    }
    let body: Value = serde_json::from_slice(&got[2].body).unwrap();
    assert_eq!(body["type"], "delivered");
    assert_eq!(body["id"], id.to_string());
    assert_eq!(body["data"]["message_id"], "mine");

    // The signature verifies with the secret; a tampered body, id or timestamp does not.
    let secret = WebhookSecret::parse(SECRET).unwrap();
    let last = &got[2];
    let timestamp: i64 = header(last, "webhook-timestamp").parse().unwrap();
    let signature = header(last, "webhook-signature");
    assert!(signature.starts_with("v1,"));
    assert!(secret.verify(&id.to_string(), timestamp, &last.body, signature));
    let mut tampered = last.body.to_vec();
    let at = tampered.iter().position(|b| *b == b'm').unwrap();
    tampered[at] = b'M';
    assert!(!secret.verify(&id.to_string(), timestamp, &tampered, signature));
    assert!(!secret.verify(&(id + 1).to_string(), timestamp, &last.body, signature));
    assert!(!secret.verify(&id.to_string(), timestamp + 1, &last.body, signature));

    assert!(delivery_files(&node, "pending").is_empty());
    let metrics = node.metrics().render();
    assert!(
        metrics.contains("sdkap_webhook_deliveries_total{outcome=\"retry\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sdkap_webhook_deliveries_total{outcome=\"delivered\"} 1"),
        "{metrics}"
    );
    api.shutdown().await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_delivery_survives_a_restart_and_a_hopeless_one_is_dead_lettered() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = webhook_ap(tmp.path(), port, 20, "");

    // Nobody listens: the delivery stays pending (durably) through failed attempts.
    let node = start_node(&config).await;
    let api = start_api(&node).await;
    let id = node.events().publish(delivered(PARTICIPANT_A, None, "resumed"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let pending = delivery_files(&node, "pending");
        let attempted = pending.iter().any(|p| {
            let d: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
            d["attempts"].as_u64().unwrap() >= 1
        });
        if attempted {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failed attempt recorded: {pending:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    api.shutdown().await;
    node.shutdown().await;
    drop(node);

    // The receiver comes up; the restarted node resumes the pending delivery.
    let receiver = Receiver::start(port, vec![]).await;
    let node = start_node(&config).await;
    let api = start_api(&node).await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(header(&got[0], "webhook-id"), id.to_string());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !delivery_files(&node, "pending").is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "delivered but still pending");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    api.shutdown().await;
    node.shutdown().await;
    drop(node);

    // An endpoint that always fails: after the last attempt the delivery is dead-lettered.
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let receiver = Receiver::start(port, vec![500; 10]).await;
    let config = webhook_ap(tmp.path(), port, 2, "");
    let node = start_node(&config).await;
    let api = start_api(&node).await;
    node.events().publish(delivered(PARTICIPANT_A, None, "hopeless"));
    receiver.wait_for(2, Duration::from_secs(10)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while delivery_files(&node, "dead").is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "not dead-lettered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.count(), 2, "no attempt after the last one");
    assert!(delivery_files(&node, "pending").is_empty());
    let dead: Value = serde_json::from_slice(&std::fs::read(&delivery_files(&node, "dead")[0]).unwrap()).unwrap();
    assert_eq!(dead["attempts"], 2);
    assert!(dead["last_error"].as_str().unwrap().contains("500"), "{dead}");
    api.shutdown().await;
    node.shutdown().await;
}

#[test]
fn a_plain_http_webhook_off_loopback_is_refused_at_load() {
    let tmp = tempfile::tempdir().unwrap();
    let config = one_ap(
        tmp.path(),
        "a",
        "AP0001-DEV",
        "[[api.webhooks]]\nurl = \"http://hooks.example.se/sdk\"\nsecret_file = \"hook.secret\"\n",
    );
    let err = Config::load(&config).unwrap_err().to_string();
    let text = std::fs::read_to_string(&config).unwrap();
    let line = text
        .lines()
        .position(|l| l.starts_with("url = \"http://hooks"))
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!("sdk-ap.toml:{line}: api.webhooks[0].url")) && err.contains("127.0.0.1"),
        "{err}"
    );
}

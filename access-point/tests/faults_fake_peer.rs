//! The sender against a fake peer (a TLS server holding the real peer's TLS certificate on 127.0.0.1) that answers
//! with garbage, with HTTP 500, or with a body that never finishes: each attempt fails, the message is retried by the
//! P-Mode (1 s interval, 1 retry) and ends Failed with the reason recorded; the sending AP (a child process) keeps
//! running.

use std::convert::Infallible;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use access_point::api::client::UploadPayload;
use access_point::api::submit::SubmitRequest;
use access_point::api::ApiClient;
use access_point::store::State;
use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;

const BIN: &str = env!("CARGO_BIN_EXE_sdk-ap");

#[derive(Clone, Copy, Debug)]
enum Misbehaviour {
    Garbage,
    ServerError,
    SlowBody,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn init(dir: &Path, party: &str, port: u16, api: u16) -> PathBuf {
    let out = Command::new(BIN)
        .args(["init", "--dir", dir.to_str().unwrap(), "--party", party])
        .args(["--port", &port.to_string(), "--api-port", &api.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    dir.join("sdk-ap.toml")
}

/// The SDK message P-Mode with a 1 s interval and one retry.
fn quick_pmode(dir: &Path) -> PathBuf {
    let profile = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../pmode/profiles/sdk.toml")).unwrap();
    let start = profile.find("[[pmode]]").unwrap();
    let end = start + 9 + profile[start + 9..].find("[[pmode]]").unwrap();
    let block = profile[start..end]
        .replacen("id = \"sdk-message\"", "id = \"quick\"", 1)
        .replacen("max_retries = 4", "max_retries = 1", 1)
        .replacen("interval_seconds = 180", "interval_seconds = 1", 1);
    let path = dir.join("quick-pmode.toml");
    std::fs::write(&path, block).unwrap();
    path
}

async fn fake_peer(listener: tokio::net::TcpListener, keys: PathBuf, mode: Misbehaviour, hits: Arc<AtomicUsize>) {
    let certs: Vec<_> = rustls_pemfile::certs(&mut &std::fs::read(keys.join("tls.pem")).unwrap()[..])
        .collect::<Result<_, _>>()
        .unwrap();
    let key = rustls_pemfile::private_key(&mut &std::fs::read(keys.join("tls.key.pem")).unwrap()[..])
        .unwrap()
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    loop {
        let Ok((tcp, _)) = listener.accept().await else { return };
        let acceptor = acceptor.clone();
        let hits = hits.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else { return };
            let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let hits = hits.clone();
                async move {
                    let _ = request.into_body().collect().await;
                    hits.fetch_add(1, Ordering::SeqCst);
                    let (status, chunks): (u16, Vec<Bytes>) = match mode {
                        Misbehaviour::Garbage => (200, vec![Bytes::from_static(b"<<< this is not SOAP \x00\xff")]),
                        Misbehaviour::ServerError => (500, vec![Bytes::from_static(b"internal error")]),
                        Misbehaviour::SlowBody => {
                            (200, vec![Bytes::from_static(b"<?xml version=\"1.0\"?><S:Envelope")])
                        }
                    };
                    let slow = matches!(mode, Misbehaviour::SlowBody);
                    let stream = futures_util::StreamExt::chain(
                        futures_util::stream::iter(chunks.into_iter().map(|c| Ok::<_, Infallible>(Frame::data(c)))),
                        futures_util::stream::once(async move {
                            if slow {
                                tokio::time::sleep(Duration::from_secs(30)).await;
                            }
                            Ok(Frame::data(Bytes::new()))
                        }),
                    );
                    let response = hyper::Response::builder()
                        .status(status)
                        .header("content-type", "application/soap+xml")
                        .body(StreamBody::new(stream))
                        .unwrap();
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
        });
    }
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn misbehaving_peer_fails_the_message_after_retries(mode: Misbehaviour) {
    let tmp = tempfile::tempdir().unwrap();
    let (a_api, b_port) = (free_port(), free_port());
    let a = init(&tmp.path().join("a"), "AP0001-DEV", free_port(), a_api);
    let b = init(&tmp.path().join("b"), "AP0002-DEV", b_port, free_port());
    let out = Command::new(BIN)
        .args([
            "peers",
            "add",
            "--config",
            a.to_str().unwrap(),
            "--from",
            b.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pmode = quick_pmode(&tmp.path().join("a"));
    let text = std::fs::read_to_string(&a).unwrap();
    let text = text.replacen(
        "builtin = [\"sdk\"]\nfiles = []",
        &format!("builtin = []\nfiles = [\"{}\"]", pmode.display()),
        1,
    );
    std::fs::write(&a, format!("{text}\n[sender]\nattempt_timeout_ms = 2000\n")).unwrap();

    let hits = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", b_port)).await.unwrap();
    let peer = tokio::spawn(fake_peer(listener, tmp.path().join("b/keys"), mode, hits.clone()));

    let mut serve = Serve(
        Command::new(BIN)
            .args(["serve", "--config", a.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = ApiClient::new(([127, 0, 0, 1], a_api).into())
        .with_config_token(&access_point::config::Config::load(&a).unwrap(), None)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", a_api)).is_err() {
        assert!(Instant::now() < deadline, "serve did not start");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let payload_path = tmp.path().join("p.xml");
    std::fs::write(&payload_path, b"<p/>").unwrap();
    let request = SubmitRequest {
        to: "AP0002-DEV".into(),
        pmode: Some("quick".into()),
        original_sender: "0203:ap0001-dev.example".into(),
        final_recipient: "0203:ap0002-dev.example".into(),
        ..SubmitRequest::default()
    };
    let payload = UploadPayload {
        path: payload_path,
        mime_type: "application/xml".into(),
    };
    let accepted = client.submit(&request, &[payload]).await.unwrap();
    let view = loop {
        let view = client.message(&accepted.message_id).await.unwrap().unwrap();
        if view.state == State::Failed || view.state == State::Delivered {
            break view;
        }
        assert!(Instant::now() < deadline, "{mode:?}: still {:?}", view.state);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(view.state, State::Failed, "{mode:?}: {view:?}");
    assert_eq!(view.attempts, 2, "{mode:?}: first attempt plus one retry");
    assert!(view.receipt.is_none());
    assert!(
        view.last_error.as_deref().is_some_and(|e| !e.is_empty()),
        "{mode:?}: no reason"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "{mode:?}: the peer saw each attempt once"
    );
    assert!(serve.0.try_wait().unwrap().is_none(), "{mode:?}: the AP exited");
    let status = client.status().await.unwrap();
    assert_eq!(status["outbound"]["failed"], 1, "{status}");
    peer.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_answer_is_retried_then_failed() {
    misbehaving_peer_fails_the_message_after_retries(Misbehaviour::Garbage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_500_is_retried_then_failed() {
    misbehaving_peer_fails_the_message_after_retries(Misbehaviour::ServerError).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_finishes_times_out_and_is_retried_then_failed() {
    misbehaving_peer_fails_the_message_after_retries(Misbehaviour::SlowBody).await;
}

//! `sdk-ap serve`: starts from an `init` folder, answers `/healthz` and `/readyz` over mutual TLS, and stops
//! cleanly (exit status 0, store flushed) on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use access_point::cli::init::{init, InitArgs};
use access_point::config::Config;
use access_point::transport::{As4Client, OutgoingBody};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn serve_starts_reports_ready_and_stops_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let outcome = init(&InitArgs {
        dir: tmp.path().join("a"),
        party: "AP0001-DEV".into(),
        port,
        api_port: Some(free_port()),
        force: false,
    })
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sdk-ap"))
        .args(["serve", "--config", outcome.config_file.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !log.iter().any(|l: &String| l.contains("store opened and recovered")) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => log.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("not ready within 60 s:\n{}", log.join("\n"));
            }
        }
    }
    let text = log.join("\n");
    assert!(
        text.contains("AP0001-DEV") && text.contains(&format!("127.0.0.1:{port}")),
        "{text}"
    );
    assert!(text.contains("certificate") && text.contains("days_left"), "{text}");

    // Garbage POSTed to /as4 over mutual TLS gets a signed ebMS error signal, not a crash.
    let config = Config::load(&outcome.config_file).unwrap();
    let identity = config.identity().unwrap();
    let client = As4Client::from_config(&config, &identity, &config.tls_trust_store().unwrap(), None).unwrap();
    let url = format!("https://localhost:{port}/as4");
    let response = client
        .post(
            &url,
            "application/soap+xml",
            &http::HeaderMap::new(),
            OutgoingBody::bytes("not xml"),
        )
        .await
        .unwrap();
    assert_eq!(response.status, http::StatusCode::OK);
    assert!(response
        .content_type()
        .unwrap_or("")
        .starts_with("application/soap+xml"));
    let body = String::from_utf8(response.bytes().await.unwrap().to_vec()).unwrap();
    assert!(body.contains("eb:Error") || body.contains(":Error "), "{body}");
    assert!(body.contains("Signature"), "the error signal is signed: {body}");

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("did not stop within 40 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(2)) {
        log.push(line);
    }
    let text = log.join("\n");
    assert!(status.success(), "exit {status:?}\n{text}");
    assert!(
        text.contains("SIGTERM received") && text.contains("store flushed"),
        "{text}"
    );
}

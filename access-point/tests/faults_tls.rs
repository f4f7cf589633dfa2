//! A sender whose TLS client certificate the receiver does not trust (B was never linked to A) is refused at the TLS
//! handshake: nothing reaches B's store, A retries by the P-Mode and ends Failed with a TLS reason.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sdk-ap");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn sdk_ap(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn init(dir: &Path, party: &str, api: u16) -> PathBuf {
    let (port, api) = (free_port().to_string(), api.to_string());
    let out = sdk_ap(&[
        "init",
        "--dir",
        dir.to_str().unwrap(),
        "--party",
        party,
        "--port",
        &port,
        "--api-port",
        &api,
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let config = dir.join("sdk-ap.toml");
    let profile = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../pmode/profiles/sdk.toml")).unwrap();
    let start = profile.find("[[pmode]]").unwrap();
    let end = start + 9 + profile[start + 9..].find("[[pmode]]").unwrap();
    let block = profile[start..end]
        .replacen("max_retries = 4", "max_retries = 1", 1)
        .replacen("interval_seconds = 180", "interval_seconds = 1", 1);
    let pmode = dir.join("quick.toml");
    std::fs::write(&pmode, block).unwrap();
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replacen(
        "builtin = [\"sdk\"]\nfiles = []",
        &format!("builtin = []\nfiles = [\"{}\"]", pmode.display()),
        1,
    );
    std::fs::write(&config, text).unwrap();
    config
}

struct Serve(Child);

impl Serve {
    fn start(config: &Path, api: u16) -> Serve {
        let child = Command::new(BIN)
            .args(["serve", "--config", config.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", api)).is_err() {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(25));
        }
        Serve(child)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn an_untrusted_client_certificate_is_refused_at_tls_and_the_message_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_api, b_api) = (free_port(), free_port());
    let a = init(&tmp.path().join("a"), "AP0001-DEV", a_api);
    let b = init(&tmp.path().join("b"), "AP0002-DEV", b_api);
    // Only A learns about B: B does not trust A's CA.
    assert!(sdk_ap(&[
        "peers",
        "add",
        "--config",
        a.to_str().unwrap(),
        "--from",
        b.to_str().unwrap()
    ])
    .status
    .success());
    let _a = Serve::start(&a, a_api);
    let _b = Serve::start(&b, b_api);
    let payload = tmp.path().join("p.xml");
    std::fs::write(&payload, b"<p/>").unwrap();
    let out = sdk_ap(&[
        "send",
        "--config",
        a.to_str().unwrap(),
        "--to",
        "AP0002-DEV",
        "--pmode",
        "sdk-message",
        "--original-sender",
        "0203:ap0001-dev.example",
        "--final-recipient",
        "0203:ap0002-dev.example",
        "--payload",
        payload.to_str().unwrap(),
        "--wait",
        "--timeout",
        "60",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("failed after 2 attempt(s)"), "{stdout}");
    let reason = stdout.to_ascii_lowercase();
    assert!(
        reason.contains("tls") || reason.contains("certificate") || reason.contains("handshake"),
        "{stdout}"
    );
    let status = sdk_ap(&["status", "--config", b.to_str().unwrap(), "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["inbound"]["total"], 0, "{status}");
}

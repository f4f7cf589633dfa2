//! Two access points made by `sdk-ap init`, linked with `sdk-ap peers add` both ways, run as two `sdk-ap serve`
//! processes: `sdk-ap send --wait` delivers a message and prints the receipt summary, `sdk-ap status --json` asks
//! the running servers, and after SIGTERM reads the stores directly. Bad submissions get problem documents.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sdk-ap");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn sdk_ap(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Server(Child);

impl Server {
    fn start(config: &Path, api_port: u16) -> Server {
        let child = Command::new(BIN)
            .args(["serve", "--config", config.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", api_port)).is_err() {
            assert!(Instant::now() < deadline, "the API on port {api_port} did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        Server(child)
    }

    fn terminate(mut self) {
        let pid = self.0.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                assert!(status.success(), "serve exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn init(dir: &Path, party: &str, port: u16, api_port: u16) -> PathBuf {
    ok(&sdk_ap(&[
        "init",
        "--dir",
        dir.to_str().unwrap(),
        "--party",
        party,
        "--port",
        &port.to_string(),
        "--api-port",
        &api_port.to_string(),
    ]));
    dir.join("sdk-ap.toml")
}

fn status_json(config: &Path) -> serde_json::Value {
    let out = ok(&sdk_ap(&["status", "--config", config.to_str().unwrap(), "--json"]));
    serde_json::from_str(&out).unwrap()
}

#[test]
fn two_inited_aps_linked_by_peers_add_exchange_a_message_with_send_wait() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_api, b_api) = (free_port(), free_port());
    let a = init(&tmp.path().join("a"), "AP0001-DEV", free_port(), a_api);
    let b = init(&tmp.path().join("b"), "AP0002-DEV", free_port(), b_api);
    let out = ok(&sdk_ap(&[
        "peers",
        "add",
        "--config",
        a.to_str().unwrap(),
        "--from",
        b.to_str().unwrap(),
    ]));
    assert!(out.contains("added peer AP0002-DEV"), "{out}");
    ok(&sdk_ap(&[
        "peers",
        "add",
        "--config",
        b.to_str().unwrap(),
        "--from",
        a.to_str().unwrap(),
    ]));

    let server_a = Server::start(&a, a_api);
    let server_b = Server::start(&b, b_api);
    let payload = tmp.path().join("invoice.xml");
    std::fs::write(&payload, b"<invoice>42</invoice>").unwrap();
    let payload_arg = format!("{}:application/xml", payload.display());
    let send = |extra: &[&str]| {
        let mut args = vec![
            "send",
            "--config",
            a.to_str().unwrap(),
            "--to",
            "AP0002-DEV",
            "--payload",
            &payload_arg,
        ];
        args.extend_from_slice(extra);
        sdk_ap(&args)
    };
    let out = ok(&send(&[
        "--pmode",
        "sdk-message",
        "--original-sender",
        "0203:ap0001-dev.example",
        "--final-recipient",
        "0203:ap0002-dev.example",
        "--wait",
        "--timeout",
        "60",
    ]));
    assert!(
        out.contains("delivered ") && out.contains("receipt: ") && out.contains("sha256"),
        "{out}"
    );

    // No P-Mode named among several: refused at once. Unknown recipient party: accepted, then Failed; both exit 1.
    let refused = send(&["--original-sender", "0203:x", "--final-recipient", "0203:y"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("urn:sdk-ap:problem:invalid-submission"));
    let unknown = sdk_ap(&[
        "send",
        "--config",
        a.to_str().unwrap(),
        "--to",
        "AP9999-DEV",
        "--pmode",
        "sdk-message",
        "--original-sender",
        "0203:x",
        "--final-recipient",
        "0203:y",
        "--payload",
        &payload_arg,
        "--wait",
        "--timeout",
        "60",
    ]);
    assert!(
        !unknown.status.success() && String::from_utf8_lossy(&unknown.stdout).contains("failed after"),
        "{}",
        String::from_utf8_lossy(&unknown.stdout)
    );

    let a_status = status_json(&a);
    assert_eq!(a_status["outbound"]["delivered"], 1, "{a_status}");
    let b_status = status_json(&b);
    assert_eq!(b_status["inbound"]["total"], 1, "{b_status}");
    let table = ok(&sdk_ap(&["status", "--config", b.to_str().unwrap()]));
    assert!(table.contains("source: running server"), "{table}");

    server_a.terminate();
    server_b.terminate();
    // No server: status reads the store itself.
    let table = ok(&sdk_ap(&["status", "--config", a.to_str().unwrap()]));
    assert!(table.contains("source: store"), "{table}");
    assert_eq!(status_json(&a)["outbound"]["delivered"], 1);
    // No server: send fails with a connection error.
    let down = send(&["--pmode", "sdk-message"]);
    assert!(!down.status.success());
    assert!(String::from_utf8_lossy(&down.stderr).contains("cannot connect to the API"));
}

#[test]
fn serve_refuses_a_non_loopback_api_address() {
    let tmp = tempfile::tempdir().unwrap();
    let config = init(&tmp.path().join("a"), "AP0001-DEV", free_port(), free_port());
    let text = std::fs::read_to_string(&config).unwrap();
    let patched = text.replacen("[api]\nlisten = \"127.0.0.1:", "[api]\nlisten = \"0.0.0.0:", 1);
    assert_ne!(patched, text, "the [api] section has the expected layout");
    std::fs::write(&config, patched).unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--config", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve kept running with a non-loopback API address");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("not a loopback address"), "{stderr}");
}

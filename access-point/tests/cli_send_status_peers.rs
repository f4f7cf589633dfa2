//! Two access points made by `sdk-ap init`, linked with `sdk-ap peers add` both ways, run as two `sdk-ap serve`
//! processes: `sdk-ap send --wait` delivers a message (with `--to`, and without: found by its final recipient) and
//! prints the receipt summary, `sdk-ap status --json` asks
//! the running servers, and after SIGTERM reads the stores directly. Bad submissions get problem documents.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_sdk-ap");

fn sdk_ap(args: &[&str]) -> Output {
    support::sdk_ap(BIN, args)
}

fn ok(out: &Output) -> String {
    support::ok(out)
}

fn init(dir: &Path, party: &str, port: u16, api_port: u16) -> PathBuf {
    support::cli_init(BIN, dir, party, port, api_port)
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

    let server_a = support::Server::start(BIN, &a, a_api);
    let server_b = support::Server::start(BIN, &b, b_api);
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

    // The SDK way: only the recipient participant is named; A finds B through the participants `peers add` copied.
    let out = ok(&sdk_ap(&[
        "send",
        "--config",
        a.to_str().unwrap(),
        "--pmode",
        "sdk-message",
        "--original-sender",
        "0203:ap0001-dev.example",
        "--final-recipient",
        "0203:ap0002-dev.example",
        "--payload",
        &payload_arg,
        "--wait",
        "--timeout",
        "60",
    ]));
    assert!(out.contains("delivered "), "{out}");

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
    assert_eq!(a_status["outbound"]["delivered"], 2, "{a_status}");
    let b_status = status_json(&b);
    assert_eq!(b_status["inbound"]["total"], 2, "{b_status}");
    let table = ok(&sdk_ap(&["status", "--config", b.to_str().unwrap()]));
    assert!(table.contains("source: running server"), "{table}");

    server_a.terminate();
    server_b.terminate();
    // No server: status reads the store itself.
    let table = ok(&sdk_ap(&["status", "--config", a.to_str().unwrap()]));
    assert!(table.contains("source: store"), "{table}");
    assert_eq!(status_json(&a)["outbound"]["delivered"], 2);
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

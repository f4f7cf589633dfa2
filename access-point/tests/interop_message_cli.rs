//! `sdk-ap message seal` / `sdk-ap message inspect` end to end through the binary: two development access points
//! (made with `sdk-ap init`), a sealed message inspected by the receiver, and tampered copies refused with the
//! right ebMS error and a non-zero exit status.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sdk_ap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sdk-ap"))
        .args(args)
        .output()
        .expect("run sdk-ap")
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

struct Nodes {
    dir: tempfile::TempDir,
}

impl Nodes {
    fn new() -> Nodes {
        let dir = tempfile::tempdir().unwrap();
        for (name, party, port) in [("a", "AP0001-DEV", "8443"), ("b", "AP0002-DEV", "9443")] {
            let d = dir.path().join(name);
            let out = sdk_ap(&["init", "--dir", d.to_str().unwrap(), "--party", party, "--port", port]);
            assert!(out.status.success(), "{}", text(&out));
        }
        Nodes { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn p(&self, rel: &str) -> String {
        self.path(rel).to_str().unwrap().to_string()
    }

    /// Seals two payloads from a to b; returns the message file.
    fn seal(&self) -> PathBuf {
        std::fs::write(self.path("doc.xml"), b"<doc>hej</doc>").unwrap();
        let blob: Vec<u8> = (0..50_000u32).flat_map(|i| i.to_be_bytes()).collect();
        std::fs::write(self.path("blob.bin"), blob).unwrap();
        let out_file = self.path("msg.http");
        let out = sdk_ap(&[
            "message",
            "seal",
            "--config",
            &self.p("a/sdk-ap.toml"),
            "--to-cert",
            &self.p("b/keys/message.pem"),
            "--payload",
            &format!("{}:text/xml", self.p("doc.xml")),
            "--payload",
            &self.p("blob.bin"),
            "--property",
            "originalSender=0203:a.example",
            "--property",
            "finalRecipient=0203:b.example",
            "--out",
            out_file.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out));
        out_file
    }

    fn inspect(&self, message: &Path, extra: &[&str]) -> Output {
        let mut args = vec![
            "message".to_string(),
            "inspect".into(),
            message.to_str().unwrap().into(),
            "--trust".into(),
            self.p("a/keys/ca.pem"),
            "--crl".into(),
            self.p("a/keys/ca.crl.pem"),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        sdk_ap(&args)
    }

    fn receiver_key(&self) -> [String; 4] {
        [
            "--key".into(),
            self.p("b/keys/message.key.pem"),
            "--key-cert".into(),
            self.p("b/keys/message.pem"),
        ]
    }
}

fn with_key(key: &[String; 4]) -> Vec<&str> {
    key.iter().map(String::as_str).collect()
}

#[test]
fn sealed_message_inspects_ok_with_the_receivers_key() {
    let nodes = Nodes::new();
    let msg = nodes.seal();
    let raw = std::fs::read(&msg).unwrap();
    assert!(raw.starts_with(b"Content-Type: multipart/related;"));
    assert!(raw.windows(4).any(|w| w == b"\r\n\r\n"));
    assert!(!raw.windows(8).any(|w| w == b"<doc>hej"), "payloads travel encrypted");

    let key = nodes.receiver_key();
    let out = nodes.inspect(&msg, &with_key(&key));
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("RESULT: OK"), "{report}");
    assert!(report.contains("From:           AP0001-DEV"), "{report}");
    assert!(
        report.contains("Property:       originalSender = 0203:a.example"),
        "{report}"
    );
    assert_eq!(
        report.matches("digest OK").count(),
        4,
        "Messaging, Body, two attachments: {report}"
    );
    assert!(report.contains("revocation checked (CRL)"), "{report}");
    assert!(report.contains("(text/xml): 14 bytes decrypted"), "{report}");
    assert!(report.contains("200000 bytes decrypted"), "{report}");

    // The same through the receiver's configuration instead of --key/--trust.
    let out = sdk_ap(&[
        "message",
        "inspect",
        msg.to_str().unwrap(),
        "--config",
        &nodes.p("b/sdk-ap.toml"),
        "--trust",
        &nodes.p("a/keys/ca.pem"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn without_the_key_only_the_header_is_verified_and_the_exit_status_says_so() {
    let nodes = Nodes::new();
    let msg = nodes.seal();
    let out = nodes.inspect(&msg, &[]);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(2), "{report}");
    assert!(report.contains("RESULT: INCOMPLETE"), "{report}");
    assert_eq!(report.matches("NOT checked (no --key)").count(), 2, "{report}");
}

/// Replaces the first occurrence of `from` in the file by `to` (same length).
fn tamper(src: &Path, dst: &Path, from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let mut raw = std::fs::read(src).unwrap();
    let at = raw
        .windows(from.len())
        .position(|w| w == from)
        .expect("text to tamper with");
    raw[at..at + from.len()].copy_from_slice(to);
    std::fs::write(dst, raw).unwrap();
}

#[test]
fn a_tampered_messaging_byte_is_ebms_0101_and_a_failure_exit() {
    let nodes = Nodes::new();
    let msg = nodes.seal();
    let bad = nodes.path("tampered.http");
    tamper(&msg, &bad, b"0203:b.example", b"0203:c.example");
    let key = nodes.receiver_key();
    let out = nodes.inspect(&bad, &with_key(&key));
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains("RESULT: FAILED EBMS:0101"), "{report}");
    assert!(report.contains("digest MISMATCH"), "{report}");
    // Also without the key: the header check alone already fails.
    let out = nodes.inspect(&bad, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("EBMS:0101"), "{}", text(&out));
}

#[test]
fn a_tampered_attachment_byte_fails_decryption_and_a_foreign_ca_fails_authentication() {
    let nodes = Nodes::new();
    let msg = nodes.seal();
    // Flip one byte near the end of the last (encrypted) part: the GCM tag no longer matches.
    let mut raw = std::fs::read(&msg).unwrap();
    let end = raw.len() - 200;
    raw[end] ^= 0x01;
    let bad = nodes.path("tampered-part.http");
    std::fs::write(&bad, raw).unwrap();
    let key = nodes.receiver_key();
    let out = nodes.inspect(&bad, &with_key(&key));
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains("RESULT: FAILED EBMS:0102"), "{report}");

    // The receiver's own CA does not vouch for the sender.
    let out = sdk_ap(&[
        "message",
        "inspect",
        msg.to_str().unwrap(),
        "--key",
        &nodes.p("b/keys/message.key.pem"),
        "--key-cert",
        &nodes.p("b/keys/message.pem"),
        "--trust",
        &nodes.p("b/keys/ca.pem"),
    ]);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains("RESULT: FAILED EBMS:0101"), "{report}");
}

#[tokio::test]
async fn a_captured_receipt_inspects_ok_and_a_changed_one_fails() {
    use access_point::config::Config;
    use access_point::ebms::{EbmsError, UserMessage};
    use access_point::pki::TrustStore;
    use access_point::wss::message::{build_receipt, open, OpenLimits, OpenParams};

    let nodes = Nodes::new();
    let msg = nodes.seal();
    let raw = std::fs::read(&msg).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let content_type = head.lines().next().unwrap().strip_prefix("Content-Type: ").unwrap();
    let receiver = Config::load(&nodes.path("b/sdk-ap.toml")).unwrap();
    let keys = receiver.identity().unwrap();
    let trust = TrustStore::load(&[nodes.path("a/keys/ca.pem")], &[], &[]).unwrap();
    let pm = pmode::builtin::sdk_message();
    let chosen = pm.clone();
    let choose = move |_: &UserMessage| -> Result<pmode::PMode, EbmsError> { Ok(chosen.clone()) };
    let spool = tempfile::tempdir().unwrap();
    let limits = OpenLimits::default();
    let params = OpenParams {
        our_keys: &keys,
        message_trust: &trust,
        limits: &limits,
        spool_dir: spool.path(),
    };
    let opened = open(content_type, &raw[split + 4..], &choose, &params).await.unwrap();
    let receipt = build_receipt(&opened, &keys.message, &pm).unwrap();
    let capture = |name: &str, body: &[u8]| {
        let mut file = format!("Content-Type: {}\r\n\r\n", receipt.content_type).into_bytes();
        file.extend_from_slice(body);
        let path = nodes.path(name);
        std::fs::write(&path, file).unwrap();
        path
    };
    let good = capture("receipt.http", &receipt.body);
    let inspect = |path: &Path| {
        sdk_ap(&[
            "message",
            "inspect",
            path.to_str().unwrap(),
            "--trust",
            &nodes.p("b/keys/ca.pem"),
            "--crl",
            &nodes.p("b/keys/ca.crl.pem"),
        ])
    };
    let out = inspect(&good);
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    assert!(
        report.contains("SignalMessage") && report.contains("non-repudiation, 4 echoed"),
        "{report}"
    );
    assert!(report.contains(&format!(
        "RefToMessageId: {}",
        opened.user_message().message_info.message_id.as_str()
    )));
    assert_eq!(report.matches("digest OK").count(), 2, "{report}");
    assert!(report.contains("RESULT: OK"), "{report}");

    let changed =
        String::from_utf8(receipt.body.clone())
            .unwrap()
            .replacen("<eb:RefToMessageId>", "<eb:RefToMessageId>x", 1);
    assert_ne!(
        changed.as_bytes(),
        &receipt.body[..],
        "the receipt names its RefToMessageId"
    );
    let bad = capture("receipt-changed.http", changed.as_bytes());
    let out = inspect(&bad);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains("digest MISMATCH") && report.contains("RESULT: FAILED EBMS:0101"),
        "{report}"
    );
}

#[test]
fn edelivery_2_0_seal_and_inspect_with_ed25519_and_x25519() {
    let nodes = Nodes::new();
    std::fs::write(nodes.path("doc.xml"), b"<doc>2.0</doc>").unwrap();
    let msg = nodes.path("v2.http");
    let out = sdk_ap(&[
        "message",
        "seal",
        "--config",
        &nodes.p("a/sdk-ap.toml"),
        "--to-cert",
        &nodes.p("b/keys/x25519.pem"),
        "--to-party",
        "AP0002-DEV",
        "--pmode",
        "ebms-test-edelivery-as4-2.0",
        "--payload",
        &format!("{}:text/xml", nodes.p("doc.xml")),
        "--out",
        msg.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    // No --pmode: the ebMS test service is in both built-in profiles; the declared eddsa-ed25519 picks AS4 2.0.
    let out = nodes.inspect(
        &msg,
        &[
            "--key",
            &nodes.p("b/keys/x25519.key.pem"),
            "--key-cert",
            &nodes.p("b/keys/x25519.pem"),
        ],
    );
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    assert!(
        report.contains("P-Mode: ebms-test-edelivery-as4-2.0") && report.contains("eddsa-ed25519"),
        "{report}"
    );
    assert!(report.contains("(text/xml): 14 bytes decrypted"), "{report}");
}

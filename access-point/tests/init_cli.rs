//! `sdk-ap init` end to end: runs the binary, loads and validates what it wrote, and checks every certificate with
//! the `openssl verify` command-line tool.

use std::path::Path;
use std::process::{Command, Output};

use access_point::config::Config;
use access_point::pki::{load_certificate, Purpose};
use time::OffsetDateTime;

fn sdk_ap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sdk-ap"))
        .args(args)
        .output()
        .expect("run sdk-ap")
}

fn openssl_available() -> bool {
    let found = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var("SDK_AP_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("the openssl command-line tool is required");
        }
        eprintln!("SKIPPED: openssl command-line tool not found; certificate checks with it are skipped");
    }
    found
}

fn openssl_verify(keys: &Path, cert: &str, with_crl: bool) -> Output {
    let mut cmd = Command::new("openssl");
    cmd.current_dir(keys).args(["verify", "-CAfile", "ca.pem"]);
    if with_crl {
        cmd.args(["-crl_check", "-CRLfile", "ca.crl.pem"]);
    }
    cmd.arg(cert).output().unwrap()
}

#[test]
fn init_writes_a_configuration_that_loads_validates_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node a");
    let out = sdk_ap(&[
        "init",
        "--dir",
        dir.to_str().unwrap(),
        "--party",
        "AP0042-DEV",
        "--port",
        "9443",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("sdk-ap.toml") && stdout.contains("message.key.pem"),
        "{stdout}"
    );
    assert!(stdout.contains("Next: sdk-ap serve --config"), "{stdout}");

    let config = Config::load(&dir.join("sdk-ap.toml")).unwrap();
    config.validate().unwrap();
    assert_eq!(config.node.party_id, "AP0042-DEV");
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:9443");
    assert_eq!(config.api.listen.to_string(), "127.0.0.1:9444");
    assert!(config.server.tls);
    assert_eq!(config.server.endpoint_url(), "https://localhost:9443/as4");
    assert_eq!(config.node.data_dir, dir.join("data"));

    // The identity and trust stores the server will build from this file agree with each other.
    let identity = config.identity().unwrap();
    let message_trust = config.message_trust_store().unwrap();
    let tls_trust = config.tls_trust_store().unwrap();
    let now = OffsetDateTime::now_utc();
    let v = message_trust
        .verify_expecting_cn(
            &identity.message.certificate,
            &[],
            Purpose::MessageSigning,
            now,
            "AP0042-DEV",
        )
        .unwrap();
    assert!(v.revocation_checked);
    assert_eq!(v.info.key_bits, 3072);
    message_trust
        .verify(
            &identity.ed25519.as_ref().unwrap().certificate,
            &[],
            Purpose::MessageSigning,
            now,
        )
        .unwrap();
    message_trust
        .verify(
            &identity.x25519.as_ref().unwrap().certificate,
            &[],
            Purpose::KeyAgreement,
            now,
        )
        .unwrap();
    let tls = &identity.tls.as_ref().unwrap().certificate;
    tls_trust.verify(tls, &[], Purpose::TlsServer, now).unwrap();
    tls_trust.verify(tls, &[], Purpose::TlsClient, now).unwrap();

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for key in [
            "ca.key.pem",
            "message.key.pem",
            "ed25519.key.pem",
            "x25519.key.pem",
            "tls.key.pem",
        ] {
            let mode = std::fs::metadata(dir.join("keys").join(key))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600, "{key}");
        }
    }

    if openssl_available() {
        let keys = dir.join("keys");
        for cert in ["message.pem", "ed25519.pem", "x25519.pem", "tls.pem"] {
            for with_crl in [false, true] {
                let out = openssl_verify(&keys, cert, with_crl);
                assert!(
                    out.status.success() && String::from_utf8_lossy(&out.stdout).contains(": OK"),
                    "openssl verify {cert} (crl: {with_crl}): {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        // The oracle can fail: a certificate of another CA is refused.
        let other = tmp.path().join("other");
        let out = sdk_ap(&["init", "--dir", other.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let foreign = other.join("keys/message.pem");
        let out = openssl_verify(&keys, foreign.to_str().unwrap(), true);
        assert!(!out.status.success(), "openssl accepted a certificate of another CA");
    }
}

#[test]
fn init_refuses_to_overwrite_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("n");
    let d = dir.to_str().unwrap();
    assert!(sdk_ap(&["init", "--dir", d]).status.success());
    let ca_before = std::fs::read(dir.join("keys/ca.pem")).unwrap();
    let config_before = std::fs::read(dir.join("sdk-ap.toml")).unwrap();

    let out = sdk_ap(&["init", "--dir", d, "--party", "AP0002-DEV"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("sdk-ap.toml") && stderr.contains("--force"), "{stderr}");
    assert_eq!(std::fs::read(dir.join("keys/ca.pem")).unwrap(), ca_before);
    assert_eq!(std::fs::read(dir.join("sdk-ap.toml")).unwrap(), config_before);

    // A lone key is protected too, even without a configuration next to it.
    std::fs::remove_file(dir.join("sdk-ap.toml")).unwrap();
    let out = sdk_ap(&["init", "--dir", d]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ca.pem") && stderr.contains("already exists"),
        "{stderr}"
    );
    assert!(!dir.join("sdk-ap.toml").exists(), "nothing written after a refusal");

    let out = sdk_ap(&["init", "--dir", d, "--party", "AP0002-DEV", "--force"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_ne!(std::fs::read(dir.join("keys/ca.pem")).unwrap(), ca_before);
    let config = Config::load(&dir.join("sdk-ap.toml")).unwrap();
    config.validate().unwrap();
    assert_eq!(config.node.party_id, "AP0002-DEV");
    let cert = load_certificate(&dir.join("keys/message.pem")).unwrap();
    let info = access_point::pki::CertificateInfo::of(&cert).unwrap();
    assert_eq!(info.subject_cn.as_deref(), Some("AP0002-DEV"));
}

#[test]
fn init_rejects_bad_arguments() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("x");
    let out = sdk_ap(&["init", "--dir", d.to_str().unwrap(), "--party", "AP 1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid party id"));
    let out = sdk_ap(&[
        "init",
        "--dir",
        d.to_str().unwrap(),
        "--port",
        "9000",
        "--api-port",
        "9000",
    ]);
    assert!(!out.status.success());
    assert!(!d.join("keys").exists(), "nothing written for bad arguments");
    let help = sdk_ap(&["init", "--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("--force"));
}

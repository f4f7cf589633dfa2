//! Shared fixtures of the `interop_*` tests: third-party peer discovery (loud skip, or a panic under
//! `SDK_AP_REQUIRE_PEERS=1`), two throw-away access points, sealing helpers, MIME splitting, and runners for the
//! Santuario verifier and the Python peer scripts in this folder.
#![allow(dead_code)]

use access_point::ebms::test_support::sample_user_message;
use access_point::ebms::UserMessage;
use access_point::mime::{read_message, MimeLimits};
use access_point::pki::dev::DevPki;
use access_point::pki::{NodeIdentity, TrustStore};
use access_point::wss::message::{seal, OutgoingPayload, SealParams, SealedMessage};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Whether the run demands every peer (`SDK_AP_REQUIRE_PEERS=1`).
pub fn peers_required() -> bool {
    std::env::var("SDK_AP_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// Prints a loud skip message, or panics when peers are required.
pub fn skip(what: &str) {
    if peers_required() {
        panic!("required peer missing: {what} (SDK_AP_REQUIRE_PEERS=1)");
    }
    eprintln!("\n==================================================\nSKIPPED: {what}\n==================================================\n");
}

pub fn support_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop_support")
        .join(name)
}

pub fn output_text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Two throw-away access points: the sender AP0001-DEV and the receiver AP0002-DEV, each with its own CA.
pub struct World {
    pub dir: tempfile::TempDir,
    pub sender: DevPki,
    pub receiver: DevPki,
}

pub fn identity(pki: &DevPki) -> NodeIdentity {
    NodeIdentity {
        message: pki.message.clone(),
        ed25519: Some(pki.ed25519.clone()),
        x25519: Some(pki.x25519.clone()),
        tls: None,
    }
}

pub fn crl_copy(crl: &openssl::x509::X509Crl) -> openssl::x509::X509Crl {
    openssl::x509::X509Crl::from_der(&crl.to_der().unwrap()).unwrap()
}

impl World {
    pub fn new() -> World {
        World {
            dir: tempfile::tempdir().unwrap(),
            sender: DevPki::throwaway("AP0001-DEV").unwrap(),
            receiver: DevPki::throwaway("AP0002-DEV").unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, content: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    /// What the receiver trusts for message signatures.
    pub fn receiver_trust(&self) -> TrustStore {
        TrustStore::new(vec![self.sender.ca.certificate.clone()]).with_crls(vec![crl_copy(&self.sender.crl)])
    }

    /// Payloads `contents` (an XML document first, then binaries), gzip-compressed as the SDK profile asks.
    pub fn payloads(&self, contents: &[&[u8]], compress: bool) -> Vec<OutgoingPayload> {
        contents
            .iter()
            .enumerate()
            .map(|(n, c)| OutgoingPayload {
                content_id: format!("part-{n}@interop.sdk-ap"),
                mime_type: if n == 0 { "text/xml" } else { "application/octet-stream" }.into(),
                character_set: None,
                compress,
                source: self.write(&format!("payload-{n}"), c),
                extra_part_properties: vec![],
            })
            .collect()
    }

    pub async fn seal(
        &self,
        message: &UserMessage,
        pmode: &pmode::PMode,
        payloads: &[OutgoingPayload],
        receiver_cert: Option<&openssl::x509::X509>,
    ) -> SealedMessage {
        let params = SealParams {
            pmode,
            signer: &self.sender.message,
            receiver_encryption_cert: receiver_cert,
            spool_dir: self.dir.path(),
        };
        seal(message, payloads, &params).await.unwrap()
    }

    /// Seals under the SDK P-Mode, signed by the sender, encrypted for the receiver (`encrypt`) or not.
    pub async fn seal_sdk(&self, payloads: &[OutgoingPayload], encrypt: bool) -> SealedMessage {
        let mut pmode = pmode::builtin::sdk_message();
        if !encrypt {
            pmode.security.encryption = None;
        }
        let cert = encrypt.then_some(&self.receiver.message.certificate);
        self.seal(&sample_user_message(0), &pmode, payloads, cert).await
    }

    /// Writes the sealed message as a capture file (HTTP headers, blank line, body), as `sdk-ap message seal` does.
    pub fn capture(&self, sealed: &SealedMessage, name: &str) -> PathBuf {
        let mut raw = format!(
            "Content-Type: {}\r\nContent-Length: {}\r\n\r\n",
            sealed.content_type, sealed.body_len
        )
        .into_bytes();
        raw.extend(std::fs::read(sealed.body.path().unwrap()).unwrap());
        self.write(name, &raw)
    }
}

/// The root part (SOAP envelope) and the attachments `(content id, bytes)` of a MIME body, read by sdk-ap's reader.
pub async fn split_mime(content_type: &str, body: &[u8]) -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    let spool = tempfile::tempdir().unwrap();
    let mime = read_message(body, content_type, &MimeLimits::default(), spool.path())
        .await
        .unwrap();
    let parts = mime
        .attachments
        .iter()
        .map(|p| (p.content_id.clone().unwrap(), std::fs::read(p.path().unwrap()).unwrap()))
        .collect();
    (mime.root.content, parts)
}

// ---------------------------------------------------------------- Apache Santuario (Debian libxml-security-java)

const JAVA_CLASSPATH: &[&str] = &[
    "/usr/share/java/xmlsec.jar",
    "/usr/share/java/commons-codec.jar",
    "/usr/share/java/slf4j-api.jar",
    "/usr/share/java/slf4j-nop.jar",
];

/// Compiles the Santuario verifier once into `target/interop-santuario/<hash of the source>/`; `None` (after a loud
/// skip) when javac or the jars are missing.
pub fn santuario_classes() -> Option<PathBuf> {
    static CLASSES: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let result = CLASSES.get_or_init(|| {
        for jar in JAVA_CLASSPATH {
            if !Path::new(jar).exists() {
                return Err(format!(
                    "{jar} (apt-get install libxml-security-java=2.1.7-3+deb12u1); Santuario interop test"
                ));
            }
        }
        let source = support_path("santuario/As4SignatureCheck.java");
        let text = std::fs::read(&source).unwrap();
        let key = hex(&openssl::sha::sha256(&text)[..8]);
        let target = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/interop-santuario")
            .join(key);
        if target.join("As4SignatureCheck.class").exists() {
            return Ok(target);
        }
        // Compile into a private folder, then rename: parallel test processes never see half a build.
        let staging = target.with_extension(format!("tmp{}", std::process::id()));
        std::fs::create_dir_all(&staging).unwrap();
        let out = match Command::new("javac")
            .args(["-cp", &JAVA_CLASSPATH.join(":"), "-d"])
            .arg(&staging)
            .arg(&source)
            .output()
        {
            Ok(o) => o,
            Err(_) => return Err("javac (a JDK); Santuario interop test".into()),
        };
        assert!(out.status.success(), "javac failed: {}", output_text(&out));
        if std::fs::rename(&staging, &target).is_err() {
            let _ = std::fs::remove_dir_all(&staging); // another process won the race; its build is identical
        }
        Ok(target)
    });
    match result {
        Ok(p) => Some(p.clone()),
        Err(what) => {
            skip(what);
            None
        }
    }
}

/// What the Santuario verifier said.
#[derive(Debug)]
pub struct SantuarioVerdict {
    pub ok: bool,
    /// `(uri, verified)` per reference, in SignedInfo order.
    pub references: Vec<(String, bool)>,
    pub output: String,
}

/// Runs the Santuario verifier on an envelope, its signer's certificate and the attachments' (plaintext) content.
pub fn santuario_verify(
    classes: &Path,
    envelope: &[u8],
    signer: &openssl::x509::X509,
    attachments: &[(String, Vec<u8>)],
) -> SantuarioVerdict {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("envelope.xml"), envelope).unwrap();
    std::fs::write(dir.path().join("signer.pem"), signer.to_pem().unwrap()).unwrap();
    let mut cmd = Command::new("java");
    cmd.arg("-cp")
        .arg(format!("{}:{}", classes.display(), JAVA_CLASSPATH.join(":")))
        .arg("As4SignatureCheck")
        .arg(dir.path().join("envelope.xml"))
        .arg(dir.path().join("signer.pem"));
    for (n, (cid, content)) in attachments.iter().enumerate() {
        let file = dir.path().join(format!("part-{n}"));
        std::fs::write(&file, content).unwrap();
        cmd.arg(format!("{cid}={}", file.display()));
    }
    let out = cmd.output().expect("java runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "Santuario verifier error: {}",
        output_text(&out)
    );
    let references = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("REF "))
        .map(|l| {
            let (uri, status) = l.rsplit_once(' ').unwrap();
            (uri.to_string(), status == "OK")
        })
        .collect();
    SantuarioVerdict {
        ok: out.status.success() && stdout.contains("SIGNATURE OK"),
        references,
        output: output_text(&out),
    }
}

// ---------------------------------------------------------------- Python peers

/// `python3` with `module` importable, or `None` after a loud skip.
pub fn python_with(python: &str, module: &str, install_hint: &str) -> Option<String> {
    let ok = Command::new(python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Some(python.to_string())
    } else {
        skip(&format!("{python} with `{module}` ({install_hint})"));
        None
    }
}

/// The Python with PyPI `as4` 0.2.0: `SDK_AP_AS4_PYTHON`, else the venv `scripts/install-test-deps.sh` makes.
/// (`as4` pins cryptography<47 while the rest of the suite pins 48, hence its own venv.)
pub fn as4_python() -> Option<String> {
    let python = std::env::var("SDK_AP_AS4_PYTHON").unwrap_or_else(|_| "/opt/sdk-ap-as4-venv/bin/python".into());
    python_with(
        &python,
        "as4",
        "scripts/install-test-deps.sh makes /opt/sdk-ap-as4-venv with as4==0.2.0",
    )
}

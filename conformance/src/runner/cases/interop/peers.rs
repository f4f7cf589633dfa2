//! Finding the third-party peers the interop cases drive, without installing anything: each finder answers the
//! peer, or the text the case ends with when it is missing — `SKIPPED: <what> missing; install: ...`, or, under
//! `SDK_AP_REQUIRE_PEERS=1`, a failure naming the same peer.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use super::super::super::SKIPPED_PREFIX;

/// How every peer gets installed, pinned.
pub const INSTALL: &str = "bash scripts/install-test-deps.sh";
/// The longest a version probe or compile may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether the run demands every peer (`SDK_AP_REQUIRE_PEERS=1`, as `.ci/run` sets it).
pub fn peers_required() -> bool {
    std::env::var("SDK_AP_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// The case's ending when `what` is missing: SKIPPED with the install hint, or a failure when peers are required.
pub fn missing(what: &str) -> String {
    if peers_required() {
        format!("required peer missing: {what} (SDK_AP_REQUIRE_PEERS=1; install: {INSTALL})")
    } else {
        format!("{SKIPPED_PREFIX}{what} missing; install: {INSTALL}")
    }
}

/// What a finished tool said: exit code and both streams.
pub struct ToolOutput {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl ToolOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Both streams, for a failure message.
    pub fn text(&self) -> String {
        format!(
            "exit {:?}; stdout: {}; stderr: {}",
            self.code,
            self.stdout.trim(),
            self.stderr.trim()
        )
    }
}

/// Runs `command` to completion within `limit` (killed when the limit passes); `Err` when it cannot start.
pub async fn run_tool(mut command: Command, limit: Duration) -> Result<ToolOutput, String> {
    command.kill_on_drop(true).stdin(std::process::Stdio::null());
    let program = format!("{:?}", command.as_std().get_program());
    let output = match tokio::time::timeout(limit, command.output()).await {
        Err(_) => return Err(format!("{program} did not finish within {limit:?}")),
        Ok(Err(e)) => return Err(format!("{program}: {e}")),
        Ok(Ok(output)) => output,
    };
    Ok(ToolOutput {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Whether `python` can import every one of `modules`.
async fn python_imports(python: &str, modules: &str) -> bool {
    let mut command = Command::new(python);
    command.args(["-c", &format!("import {modules}")]);
    run_tool(command, PROBE_TIMEOUT).await.is_ok_and(|o| o.success())
}

/// The Python with PyPI `as4` 0.2.0: `SDK_AP_AS4_PYTHON`, else the venv the install script makes (as4 pins
/// cryptography<47 while the rest of the suite pins 48, hence its own venv).
pub async fn as4_python() -> Result<String, String> {
    let python = std::env::var("SDK_AP_AS4_PYTHON").unwrap_or_else(|_| "/opt/sdk-ap-as4-venv/bin/python".into());
    if python_imports(&python, "as4, lxml, cryptography").await {
        Ok(python)
    } else {
        Err(missing(&format!(
            "PyPI as4==0.2.0 ({python} cannot import as4; the install script makes the venv /opt/sdk-ap-as4-venv, \
             or set SDK_AP_AS4_PYTHON)"
        )))
    }
}

/// `python3` with PyPI `xmlsec` 1.3.17 and lxml 6.1.3 (bundled libxmlsec1 1.3: xmlenc11 rsa-oaep).
pub async fn pyxmlsec_python() -> Result<String, String> {
    if python_imports("python3", "xmlsec, lxml").await {
        Ok("python3".into())
    } else {
        Err(missing(
            "PyPI xmlsec==1.3.17 with lxml==6.1.3 (python3 cannot import xmlsec)",
        ))
    }
}

/// Debian `xmlsec1`; answers its version line.
pub async fn xmlsec1() -> Result<String, String> {
    let mut command = Command::new("xmlsec1");
    command.arg("--version");
    match run_tool(command, PROBE_TIMEOUT).await {
        Ok(out) if out.success() => Ok(out.stdout.trim().to_string()),
        _ => Err(missing("xmlsec1 (apt: xmlsec1=1.2.37-2)")),
    }
}

/// The jars the Santuario verifier runs with (Debian libxml-security-java and its dependencies).
pub const JAVA_CLASSPATH: &[&str] = &[
    "/usr/share/java/xmlsec.jar",
    "/usr/share/java/commons-codec.jar",
    "/usr/share/java/slf4j-api.jar",
    "/usr/share/java/slf4j-nop.jar",
];

/// The Santuario verifier's source, shared with the access point's own interop tests.
fn santuario_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../access-point/tests/interop_support/santuario/As4SignatureCheck.java")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The compiled Santuario verifier (`As4SignatureCheck`), built with javac once into
/// `target/interop-santuario/<hash of the source>/` (the folder the access point's tests use, so either compiles it).
pub async fn santuario_classes() -> Result<PathBuf, String> {
    for jar in JAVA_CLASSPATH {
        if !Path::new(jar).exists() {
            return Err(missing(&format!(
                "Apache Santuario ({jar}; apt: libxml-security-java=2.1.7-3+deb12u1)"
            )));
        }
    }
    for (tool, hint) in [
        ("javac", "javac (a JDK, e.g. apt: openjdk-17-jdk-headless)"),
        ("java", "java (a JRE)"),
    ] {
        let mut command = Command::new(tool);
        command.arg("-version");
        if !run_tool(command, PROBE_TIMEOUT).await.is_ok_and(|o| o.success()) {
            return Err(missing(hint));
        }
    }
    let source = santuario_source();
    let text = std::fs::read(&source).map_err(|e| format!("{}: {e}", source.display()))?;
    let target = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/interop-santuario")
        .join(hex(&openssl::sha::sha256(&text)[..8]));
    if target.join("As4SignatureCheck.class").exists() {
        return Ok(target);
    }
    // Compile into a private folder, then rename: a parallel test process never sees half a build.
    let staging = target.with_extension(format!("tmp{}", std::process::id()));
    std::fs::create_dir_all(&staging).map_err(|e| format!("{}: {e}", staging.display()))?;
    let mut command = Command::new("javac");
    command
        .args(["-cp", &JAVA_CLASSPATH.join(":"), "-d"])
        .arg(&staging)
        .arg(&source);
    let out = run_tool(command, PROBE_TIMEOUT).await?;
    if !out.success() {
        return Err(format!("javac failed on {}: {}", source.display(), out.text()));
    }
    if std::fs::rename(&staging, &target).is_err() {
        let _ = std::fs::remove_dir_all(&staging); // another process won the race; its build is identical
    }
    Ok(target)
}

/// What the Santuario verifier said.
pub struct SantuarioVerdict {
    /// The signature value and every reference verified.
    pub ok: bool,
    /// `(uri, verified)` per reference, in SignedInfo order.
    pub references: Vec<(String, bool)>,
    /// Its `REF ...` and `SIGNATURE ...` lines.
    pub lines: Vec<String>,
    pub output: String,
}

/// Runs the Santuario verifier on an envelope, its signer's certificate and the attachments' content (as signed:
/// decrypted, still compressed). `dir` receives the input files.
pub async fn santuario_verify(
    classes: &Path,
    dir: &Path,
    envelope: &[u8],
    signer: &openssl::x509::X509,
    attachments: &[(String, Vec<u8>)],
) -> Result<SantuarioVerdict, String> {
    let write = |name: &str, bytes: &[u8]| -> Result<PathBuf, String> {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    };
    let envelope_file = write("santuario-envelope.xml", envelope)?;
    let signer_file = write("santuario-signer.pem", &signer.to_pem().map_err(|e| e.to_string())?)?;
    let mut command = Command::new("java");
    command
        .arg("-cp")
        .arg(format!("{}:{}", classes.display(), JAVA_CLASSPATH.join(":")))
        .arg("As4SignatureCheck")
        .arg(&envelope_file)
        .arg(&signer_file);
    for (n, (cid, content)) in attachments.iter().enumerate() {
        let file = write(&format!("santuario-part-{n}"), content)?;
        command.arg(format!("{cid}={}", file.display()));
    }
    let out = run_tool(command, PROBE_TIMEOUT).await?;
    if out.code != Some(0) && out.code != Some(1) {
        return Err(format!("the Santuario verifier could not run: {}", out.text()));
    }
    let lines: Vec<String> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("REF ") || l.starts_with("SIGNATURE "))
        .map(str::to_string)
        .collect();
    let references = lines
        .iter()
        .filter_map(|l| l.strip_prefix("REF "))
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(uri, status)| (uri.to_string(), status == "OK"))
        .collect();
    Ok(SantuarioVerdict {
        ok: out.success() && out.stdout.contains("SIGNATURE OK"),
        references,
        lines,
        output: out.text(),
    })
}

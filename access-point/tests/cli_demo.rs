//! `sdk-ap demo --exit-after N`: the one-command first look runs without a terminal, passes every milestone
//! (PKIs, simulator, both access points, the message accepted, arrived at the recipient's access point, the AS4
//! receipt back), prints where to point curl, and stops on its own with status 0. The access points found each other
//! through the simulator's SML and SMP: their configurations have no `[[peers]]` entry.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use access_point::config::Config;

#[test]
fn demo_runs_every_milestone_and_exits_on_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sdk-ap"))
        .args(["demo", "--exit-after", "1", "--dir"])
        .arg(&dir)
        .env("SDK_AP_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("sdk-ap demo did not finish within 180 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (mut out, mut err) = (String::new(), String::new());
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(status.success(), "{status}\nstdout:\n{out}\nstderr:\n{err}");

    let milestones = [
        "[1/5] Created two access points",
        "AP0001-DEV serves Region Exempel (0007:2321000099), functional address SE2321000099-1 Socialtjänst",
        "AP0002-DEV serves Exempel kommun (0007:2120000142), functional address SE2120000142-2 Äldreomsorg",
        "[2/5] Federation simulator running",
        "[3/5] Access points running",
        "[4/5] Sent ",
        "from Region Exempel / Socialtjänst to Exempel kommun / Äldreomsorg: meddelande.xml",
        "genomforandeplan.txt",
        "arrived at AP0002-DEV (Exempel kommun): state Received, 2 payload(s)",
        "[5/5] AS4 receipt back at AP0001-DEV",
        "curl -s http://127.0.0.1:",
        "Stopping in 1 s (--exit-after).",
        "Demo finished",
    ];
    let mut from = 0;
    for milestone in milestones {
        let at = out[from..]
            .find(milestone)
            .unwrap_or_else(|| panic!("missing (or out of order) {milestone:?} in:\n{out}\nstderr:\n{err}"));
        from += at;
    }

    // Discovery, not static peers: neither configuration names the other access point.
    for folder in ["region-exempel", "exempel-kommun"] {
        let config = Config::load(&dir.join(folder).join("sdk-ap.toml")).unwrap();
        assert!(config.peers.is_empty(), "{folder} has a [[peers]] entry");
        assert!(config.discovery.is_some(), "{folder} has no [discovery]");
    }
    assert!(dir.join("federation.toml").is_file());
}

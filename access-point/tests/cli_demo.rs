//! `sdk-ap demo --exit-after N`: the one-command first look runs without a terminal, passes every milestone in
//! order (PKIs, simulator, both access points, the SDK submission, the recipient's inbox, the fetch, the kvittens
//! ACCEPTED sent through the API, the AS4 receipt and the kvittens back at the sender), prints where to point curl
//! and a browser, and stops on its own with status 0 within a bounded time. Afterwards the stores it leaves behind
//! prove what it printed: the sender's message is Delivered with a receipt and a kvittens ACCEPTED in its history
//! and evidence; the recipient's copy was fetched and its kvittens was sent by the API's operator token (not by
//! the classifier: `[sdk] auto_accept` is off); the fetched files equal the sent ones; the access points found each
//! other through the simulator's SML and SMP (no `[[peers]]`). A failing step is named in the error.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use access_point::api::status::MessageView;
use access_point::config::Config;
use access_point::sdk::inbound::{CLASSIFIER_ACTOR, KVITTENS_SENT_PREFIX};
use access_point::store::{Classification, Direction, EvidenceKind, SledStore, State, Store, StoreSettings};

/// The demo must finish within this, everything included (it takes a few seconds on an idle machine).
const DEMO_BOUND: Duration = Duration::from_secs(180);

/// Runs `sdk-ap demo` with `args`, killing it past [`DEMO_BOUND`]; returns (success, stdout, stderr).
fn run_demo(args: &[&std::ffi::OsStr]) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sdk-ap"))
        .arg("demo")
        .args(args)
        .env("SDK_AP_LOG", "warn")
        // The demo uses each access point's own operator token file, whatever the environment says.
        .env("SDK_AP_TOKEN", "sdkap_not-a-token")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drain both pipes on threads so a chatty child cannot block on a full pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).map(|_| s)
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).map(|_| s)
    });
    let deadline = Instant::now() + DEMO_BOUND;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (out, err) = (out.join().unwrap().unwrap(), err.join().unwrap().unwrap());
    let Some(status) = status else {
        panic!("sdk-ap demo did not finish within {DEMO_BOUND:?}\nstdout:\n{out}\nstderr:\n{err}");
    };
    (status.success(), out, err)
}

#[test]
fn demo_runs_every_milestone_and_exits_on_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let (ok, out, err) = run_demo(&["--exit-after".as_ref(), "1".as_ref(), "--dir".as_ref(), dir.as_os_str()]);
    assert!(ok, "stdout:\n{out}\nstderr:\n{err}");

    let milestones = [
        "[1/9] Created two access points",
        "AP0001-DEV serves Region Exempel (0007:2321000099), functional address SE2321000099-1 Socialtjänst",
        "AP0002-DEV serves Exempel kommun (0007:2120000142), functional address SE2120000142-2 Äldreomsorg",
        "[2/9] Federation simulator running",
        "[3/9] Access points running",
        "[4/9] Sent ",
        "format sdk, P-Mode sdk-message",
        "from Region Exempel / Socialtjänst to Exempel kommun / Äldreomsorg",
        "built an SDK message v3 in an XHE envelope from meddelande.xml",
        "genomforandeplan.txt",
        "[5/9] In Exempel kommun's inbox",
        "subject \"Samordnad individuell plan\", from 0007:2321000099 / SE2321000099-1 to 0007:2120000142 / \
         SE2120000142-2",
        "files: meddelande.xml (application/xml, ",
        "genomforandeplan.txt (text/plain, ",
        "[6/9] Fetched through AP0002-DEV's API",
        "(state now fetched)",
        "(identical to what was sent)",
        "[7/9] Kvittens ACCEPTED sent by Exempel kommun / Äldreomsorg",
        "[8/9] AS4 receipt at AP0001-DEV",
        "state Delivered",
        "[9/9] Kvittens ACCEPTED in the sender's message history",
        "Sending → Delivered",
        "sdk:classifier  kvittens ACCEPTED",
        "cat ",
        "api-operator.token",
        "curl -s -H \"Authorization: Bearer $A_TOKEN\" http://127.0.0.1:",
        "curl -s -H \"Authorization: Bearer $B_TOKEN\" http://127.0.0.1:",
        "In a browser",
        "/addressbook/organizations",
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
    let sent_line = out.lines().find(|l| l.starts_with("[4/9] Sent ")).unwrap();
    let message_id = sent_line["[4/9] Sent ".len()..].split(' ').next().unwrap().to_string();

    // Discovery, not static peers: neither configuration names the other access point. The recipient does not
    // accept automatically, so the kvittens below can only have come through the API.
    let configs: Vec<Config> = ["region-exempel", "exempel-kommun"]
        .iter()
        .map(|folder| Config::load(&dir.join(folder).join("sdk-ap.toml")).unwrap())
        .collect();
    for config in &configs {
        assert!(
            config.peers.is_empty(),
            "{} has a [[peers]] entry",
            config.node.party_id
        );
        assert!(
            config.discovery.is_some(),
            "{} has no [discovery]",
            config.node.party_id
        );
    }
    assert!(!configs[1].sdk.auto_accept);
    assert!(dir.join("federation.toml").is_file());

    // What the recipient fetched is what the sender sent.
    for name in ["meddelande.xml", "genomforandeplan.txt"] {
        let sent = std::fs::read(dir.join("utkorg").join(name)).unwrap();
        let fetched = std::fs::read(dir.join("inkorg").join(name)).unwrap();
        assert!(sent == fetched, "{name} differs");
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(check_stores(&configs[0], &configs[1], &message_id));
}

async fn open(config: &Config) -> SledStore {
    SledStore::open(StoreSettings::with_data_dir(&config.node.data_dir))
        .await
        .unwrap()
}

/// The stores agree with the printed milestones.
async fn check_stores(sender: &Config, recipient: &Config, message_id: &str) {
    let a = open(sender).await;
    let view = MessageView::read(&a, message_id)
        .await
        .unwrap()
        .expect("the sent message");
    assert_eq!(view.direction, Direction::Outbound);
    assert_eq!(view.state, State::Delivered);
    assert!(view.receipt.is_some(), "no AS4 receipt stored");
    assert!(
        view.history.iter().any(|h| h.reason.starts_with("kvittens ACCEPTED")),
        "{:?}",
        view.history
    );
    let record = a
        .get_by_message_id(Direction::Outbound, message_id)
        .await
        .unwrap()
        .unwrap();
    let evidence = a.evidence(record.key).await.unwrap();
    assert!(evidence.iter().any(|e| e.kind == EvidenceKind::Receipt));
    assert!(evidence.iter().any(|e| e.kind == EvidenceKind::Kvittens));
    a.close().await.unwrap();

    let b = open(recipient).await;
    let view = MessageView::read(&b, message_id)
        .await
        .unwrap()
        .expect("the received message");
    assert_eq!(view.direction, Direction::Inbound);
    assert_eq!(view.state, State::Fetched, "{:?}", view.history);
    let record = b
        .get_by_message_id(Direction::Inbound, message_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.classification(record.key).await.unwrap(), Some(Classification::Inbox));
    let kvittens: Vec<_> = view
        .history
        .iter()
        .filter(|h| h.reason.starts_with(KVITTENS_SENT_PREFIX))
        .collect();
    assert_eq!(kvittens.len(), 1, "{:?}", view.history);
    assert!(kvittens[0].reason.contains("ACCEPTED"), "{:?}", kvittens[0]);
    assert_ne!(
        kvittens[0].actor, CLASSIFIER_ACTOR,
        "the kvittens must come through the API"
    );
    assert!(kvittens[0].actor.starts_with("token:"), "{:?}", kvittens[0]);
    b.close().await.unwrap();
}

#[test]
fn a_failing_step_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    // The demo folder cannot be created where a file is.
    let file = tmp.path().join("not-a-folder");
    std::fs::write(&file, "x").unwrap();
    let (ok, out, err) = run_demo(&[
        "--exit-after".as_ref(),
        "1".as_ref(),
        "--dir".as_ref(),
        file.as_os_str(),
    ]);
    assert!(!ok, "stdout:\n{out}");
    assert!(
        err.contains("sdk-ap demo failed at step 1/9 (creating the demo folder): "),
        "stderr:\n{err}"
    );
    assert!(!out.contains("[1/9]"), "{out}");
}

//! End to end: two access points made by `init`, with trust exchanged but WITHOUT a `[[peers]]` entry on the sender,
//! find each other through the local federation simulator (SML NAPTR → signed SMP → endpoint + AP certificate).
//! A message to B's participant is delivered with a verified receipt; a participant the SMP does not serve for the
//! document fails at once naming the SMP; with the SMP down after one lookup the stale answer is used and delivery
//! still succeeds; with nothing cached the outage is retried and then fails naming the SMP.

use std::path::{Path, PathBuf};
use std::time::Duration;

use access_point::cli::init::{init, InitArgs};
use access_point::config::link::add_peer_from;
use access_point::config::{Config, DiscoveryConfig};
use access_point::msh::{Node, NodeOptions, Outcome, SenderSettings, Submission};
use access_point::store::State;
use conformance::sim::config::FederationConfig;
use conformance::sim::{Faults, FederationSim};
use pmode::{PModeSet, Profile, RetryPolicy};
use tokio::sync::broadcast;

const B_PARTY: &str = "AP0002-DEV";
const B_PARTICIPANT: &str = "0203:ap0002-dev.example";
/// Registered on B's AP in the SML, but the SMP lists no document for it.
const NO_DOCUMENT_PARTICIPANT: &str = "0203:nodocs.example";
/// Registered and served, but never looked up before the SMP goes down.
const UNCACHED_PARTICIPANT: &str = "0203:uncached.example";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A and B made by `init`, each trusting the other's PKI (what `peers add` does); returns their configuration files.
fn two_aps(root: &Path) -> (PathBuf, PathBuf) {
    let mut files = Vec::new();
    for (name, party) in [("a", "AP0001-DEV"), ("b", B_PARTY)] {
        let outcome = init(&InitArgs {
            dir: root.join(name),
            party: party.into(),
            port: free_port(),
            api_port: Some(free_port()),
            force: false,
        })
        .unwrap();
        files.push(outcome.config_file);
    }
    add_peer_from(&files[0], &files[1]).unwrap();
    add_peer_from(&files[1], &files[0]).unwrap();
    (files[0].clone(), files[1].clone())
}

/// The federation: B's AP (its real endpoint and message certificate) serving B's participant for the SDK message,
/// and a participant with no documents.
fn federation(dir: &Path, b: &Config) -> FederationConfig {
    let toml = format!(
        r#"
sml_zone = "sml.sdk.test"

[[access_points]]
name = "ap-b"
endpoint_url = "{endpoint}"
certificate = "{cert}"
transport_profile = "digg-transport-as4-v1_2"

[[organisations]]
id = "org-b"
name = "B-kommunen"
participant_id = "{B_PARTICIPANT}"
access_point = "ap-b"
documents = ["{doc}"]

[[organisations]]
id = "org-uncached"
name = "Ej cachad"
participant_id = "{UNCACHED_PARTICIPANT}"
access_point = "ap-b"
documents = ["{doc}"]

[[organisations]]
id = "org-nodocs"
name = "Inga dokument"
participant_id = "{NO_DOCUMENT_PARTICIPANT}"
access_point = "ap-b"
documents = []
"#,
        endpoint = b.server.endpoint_url(),
        cert = b.keys.message.cert.display(),
        doc = address_book_client::ids::SDK_MESSAGE_SIGENC,
    );
    FederationConfig::from_toml(&toml, dir).unwrap()
}

fn quick_retry_pmodes() -> PModeSet {
    let mut all = pmode::builtin::sdk_profile();
    all.push(pmode::builtin::ebms_test_service(Profile::Sdk));
    for p in &mut all {
        p.reception_awareness.retry = RetryPolicy::Constant {
            max_retries: 3,
            interval_seconds: 1,
        };
    }
    PModeSet::from_pmodes(all, "<test>").unwrap()
}

fn options() -> NodeOptions {
    NodeOptions {
        pmodes: Some(quick_retry_pmodes()),
        sender: Some(SenderSettings {
            idle_poll: Duration::from_millis(200),
            ..SenderSettings::default()
        }),
        ..NodeOptions::default()
    }
}

/// A's configuration: no `[[peers]]`, `[discovery]` pointed at the simulator, its SMP CA as `[trust] smp_anchors`.
fn a_config(a_toml: &Path, sim: &FederationSim, dir: &Path) -> Config {
    let mut config = Config::load(a_toml).unwrap();
    // A only sends here: an ephemeral listen port cannot collide with the simulator's (tests run in parallel).
    config.server.listen = "127.0.0.1:0".parse().unwrap();
    config.peers.clear();
    let anchor = dir.join("smp-ca.pem");
    std::fs::write(&anchor, sim.smp_ca_pem()).unwrap();
    config.trust.smp_anchors = vec![anchor];
    let section = format!(
        "sml_zone = \"{}\"\ndns_servers = [\"{}\"]\ndns_timeout_ms = 1000\nsmp_timeout_ms = 2000\n\
         cache_ttl_ms = 300\nnegative_ttl_ms = 300\nstale_grace_ms = 60000\nretry_interval_ms = 200\n",
        sim.sml_zone(),
        sim.dns_addr()
    );
    config.discovery = Some(toml::from_str::<DiscoveryConfig>(&section).unwrap());
    config
}

fn submission(final_recipient: &str) -> Submission {
    Submission {
        to_party: Some(B_PARTY.into()),
        to_party_type: None,
        pmode_id: None,
        service: pmode::builtin::SDK_SERVICE.into(),
        service_type: Some("urn:fdc:digg.se:edelivery:process".into()),
        action: pmode::builtin::SDK_MESSAGE_ACTION.into(),
        original_sender: "0203:ap0001-dev.example".into(),
        final_recipient: final_recipient.into(),
        conversation_id: None,
        payloads: Vec::new(),
        actor: "test".into(),
    }
}

async fn outcome_of(outcomes: &mut broadcast::Receiver<Outcome>, message_id: &str, within: Duration) -> Outcome {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let next = tokio::time::timeout(left, outcomes.recv())
            .await
            .unwrap_or_else(|_| panic!("no outcome for {message_id} within {within:?}"))
            .expect("outcome channel open");
        if next.message_id == message_id {
            return next;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovered_recipient_is_delivered_unknown_document_fails_and_stale_answers_carry_an_smp_outage() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_toml, b_toml) = two_aps(tmp.path());
    let b = Node::start(Config::load(&b_toml).unwrap(), options()).await.unwrap();
    let sim = FederationSim::start(federation(tmp.path(), b.config())).await.unwrap();
    let a_conf = a_config(&a_toml, &sim, tmp.path());
    assert!(a_conf.peer(B_PARTY).is_none(), "A must have no static entry for B");
    let a = Node::start(a_conf, options()).await.unwrap();
    let mut outcomes = a.subscribe();

    // 1. Discovered and delivered; the receipt was verified with the certificate the SMP named.
    let first = a.submit(submission(B_PARTICIPANT)).await.unwrap();
    let done = outcome_of(&mut outcomes, &first.message_id, Duration::from_secs(60)).await;
    assert_eq!(done.state, State::Delivered, "{}", done.reason);
    let smp_requests = sim.stats().smp_requests;
    assert!(smp_requests >= 1);

    // 2. The SMP does not serve this document for the participant: final at once, the reason names the SMP.
    let refused = a.submit(submission(NO_DOCUMENT_PARTICIPANT)).await.unwrap();
    let failed = outcome_of(&mut outcomes, &refused.message_id, Duration::from_secs(60)).await;
    assert_eq!(failed.state, State::Failed);
    assert_eq!(failed.attempts, 1, "no retries: {}", failed.reason);
    assert!(failed.reason.contains("SMP"), "{}", failed.reason);
    assert!(failed.reason.contains(NO_DOCUMENT_PARTICIPANT), "{}", failed.reason);

    // 3. The cached answer expires, then the SMP goes down: the stale answer is used and delivery succeeds.
    tokio::time::sleep(Duration::from_millis(400)).await;
    sim.set_faults(Faults {
        smp_status: Some(503),
        ..Faults::default()
    });
    let before = sim.stats().smp_requests;
    let second = a.submit(submission(B_PARTICIPANT)).await.unwrap();
    let done = outcome_of(&mut outcomes, &second.message_id, Duration::from_secs(60)).await;
    assert_eq!(done.state, State::Delivered, "{}", done.reason);
    assert!(
        sim.stats().smp_requests > before,
        "the SMP was asked again (and was down)"
    );

    // 4. With nothing cached, the SMP outage is retryable: retried by the P-Mode, then failed naming the SMP.
    let uncached = a.submit(submission(UNCACHED_PARTICIPANT)).await.unwrap();
    let failed = outcome_of(&mut outcomes, &uncached.message_id, Duration::from_secs(60)).await;
    assert_eq!(failed.state, State::Failed);
    assert!(
        failed.attempts > 1,
        "retried: {} attempts, {}",
        failed.attempts,
        failed.reason
    );
    assert!(failed.reason.contains("SMP"), "{}", failed.reason);

    a.shutdown().await;
    b.shutdown().await;
}

/// The workflow `sdk-ap init` ×2 → `sdk-ap init-federation` → `sdk-federation-sim` → `[discovery]`: the generated
/// file is accepted by the simulator and A reaches B through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_federation_file_lets_a_reach_b() {
    use access_point::cli::federation::{init_federation, InitFederationArgs};
    let tmp = tempfile::tempdir().unwrap();
    let (a_toml, b_toml) = two_aps(tmp.path());
    // B binds its port before the simulator takes ephemeral ones.
    let b = Node::start(Config::load(&b_toml).unwrap(), options()).await.unwrap();
    let path = init_federation(&InitFederationArgs {
        out: tmp.path().join("federation"),
        sml_zone: "sml.sdk.test".into(),
        dns: "127.0.0.1:5353".parse().unwrap(),
        configs: vec![a_toml.clone(), b_toml.clone()],
        force: false,
    })
    .unwrap();
    let sim = FederationSim::start(FederationConfig::load(&path).unwrap())
        .await
        .unwrap();
    let a = Node::start(a_config(&a_toml, &sim, tmp.path()), options())
        .await
        .unwrap();
    let mut outcomes = a.subscribe();
    let sent = a.submit(submission(B_PARTICIPANT)).await.unwrap();
    let done = outcome_of(&mut outcomes, &sent.message_id, Duration::from_secs(60)).await;
    assert_eq!(done.state, State::Delivered, "{}", done.reason);
    a.shutdown().await;
    b.shutdown().await;
}

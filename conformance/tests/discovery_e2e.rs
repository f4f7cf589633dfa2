//! End to end: two access points made by `init`, with trust exchanged but WITHOUT a `[[peers]]` entry on the sender,
//! find each other through the local federation simulator (SML NAPTR → signed SMP → endpoint + AP certificate).
//! A message to B's participant is delivered with a verified receipt; a participant the SMP does not serve for the
//! document fails at once naming the SMP; with the SMP down after one lookup the stale answer is used and delivery
//! still succeeds; with nothing cached the outage is retried and then fails naming the SMP.

#[path = "../../access-point/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use access_point::config::{Config, DiscoveryConfig};
use access_point::msh::{Node, NodeOptions, Submission};
use access_point::store::State;
use conformance::sim::config::FederationConfig;
use conformance::sim::{Faults, FederationSim};
use support::{outcome_of, B_PARTICIPANT, B_PARTY};

/// Registered on B's AP in the SML, but the SMP lists no document for it.
const NO_DOCUMENT_PARTICIPANT: &str = "0203:nodocs.example";
/// Registered and served, but never looked up before the SMP goes down.
const UNCACHED_PARTICIPANT: &str = "0203:uncached.example";
/// Registered and served; first looked up while the SMP is down (its AP is resolved at send time).
const LATE_PARTICIPANT: &str = "0203:late.example";
/// Retries of the quick P-Modes (1 s apart).
const MAX_RETRIES: u32 = 3;

/// A and B made by `init`, each trusting the other's PKI (what `peers add` does); returns their configuration files.
fn two_aps(root: &Path) -> (PathBuf, PathBuf) {
    let aps = support::two_linked_aps(root);
    (aps.a, aps.b)
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
id = "org-late"
name = "Sent"
participant_id = "{LATE_PARTICIPANT}"
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

fn options() -> NodeOptions {
    support::quick_options(MAX_RETRIES)
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

/// An SDK message for `final_recipient`, addressed to B's AP by name.
fn submission(final_recipient: &str) -> Submission {
    support::sdk_submission(Some(B_PARTY), final_recipient, Vec::new())
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

/// The SDK case: the submission names only the recipient participant. A resolves it through SML → SMP at submit
/// time and records the SMP AP certificate's CN as `To` before storing; with the SMP down (nothing cached) the
/// submission is still accepted, stored unresolved, and delivered once the SMP is back; a participant the SMP rules
/// out is refused at submit time, nothing stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submission_without_to_party_gets_the_ap_from_the_smp_certificate_even_after_an_smp_outage() {
    use access_point::msh::SubmitError;
    let tmp = tempfile::tempdir().unwrap();
    let (a_toml, b_toml) = two_aps(tmp.path());
    let mut b_config = Config::load(&b_toml).unwrap();
    b_config.node.served_participants.push(LATE_PARTICIPANT.into());
    let b = Node::start(b_config, options()).await.unwrap();
    let sim = FederationSim::start(federation(tmp.path(), b.config())).await.unwrap();
    let a = Node::start(a_config(&a_toml, &sim, tmp.path()), options())
        .await
        .unwrap();
    let mut outcomes = a.subscribe();

    // 1. Resolved at submit time: To is the CN of the AP certificate the SMP names.
    let sent = a
        .submit(support::sdk_submission(None, B_PARTICIPANT, Vec::new()))
        .await
        .unwrap();
    let stored = a.store().get(sent.key).await.unwrap().unwrap();
    assert_eq!(stored.meta.to.id, B_PARTY);
    assert_eq!(
        stored.meta.to.id_type.as_deref(),
        Some(access_point::config::SDK_PARTY_ID_TYPE)
    );
    let done = outcome_of(&mut outcomes, &sent.message_id, Duration::from_secs(60)).await;
    assert_eq!(done.state, State::Delivered, "{}", done.reason);

    // 2. Definite answers refuse the submission: no document for the participant, participant not in the SML.
    let before = a.store().counts().await.unwrap();
    for participant in [NO_DOCUMENT_PARTICIPANT, "0203:unregistered.example"] {
        let e = a
            .submit(support::sdk_submission(None, participant, Vec::new()))
            .await
            .unwrap_err();
        assert!(matches!(e, SubmitError::Recipient(_)), "{e}");
        assert!(e.to_string().contains(participant), "{e}");
    }
    assert_eq!(a.store().counts().await.unwrap(), before, "nothing stored");

    // 3. The SMP is down and nothing is cached for this participant: accepted and stored with To unresolved.
    sim.set_faults(Faults {
        smp_status: Some(503),
        ..Faults::default()
    });
    let late = a
        .submit(support::sdk_submission(None, LATE_PARTICIPANT, Vec::new()))
        .await
        .unwrap();
    let stored = a.store().get(late.key).await.unwrap().unwrap();
    assert_eq!(stored.meta.to.id, "", "stored unresolved");
    // The sender meets the outage too (retryable); then the SMP comes back and the message goes out.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sim.set_faults(Faults::default());
    let done = outcome_of(&mut outcomes, &late.message_id, Duration::from_secs(60)).await;
    assert_eq!(done.state, State::Delivered, "{}", done.reason);
    assert!(done.attempts > 1, "the outage was retried: {done:?}");
    let received = b
        .store()
        .get_by_message_id(access_point::store::Direction::Inbound, &late.message_id)
        .await
        .unwrap()
        .expect("delivered to B");
    assert_eq!(received.meta.to.id, B_PARTY, "sent with To resolved at send time");

    a.shutdown().await;
    b.shutdown().await;
}

/// A TLS front on 127.0.0.1 for the simulator's HTTP side, with a server certificate of `pki`'s CA (SAN localhost and
/// 127.0.0.1); returns its port. Each connection is terminated and its bytes copied to `backend`.
async fn https_front(
    listener: tokio::net::TcpListener,
    pki: &access_point::pki::dev::DevPki,
    backend: std::net::SocketAddr,
) {
    use std::sync::Arc;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls::pki_types::CertificateDer::from(
                pki.tls.certificate.to_der().unwrap(),
            )],
            rustls::pki_types::PrivateKeyDer::Pkcs8(pki.tls.key.private_key_to_pkcs8().unwrap().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
}

/// `[discovery] smp_tls_trust`: the SML points at an `https` SMP. With the SMP's TLS CA configured, A resolves B
/// and delivers; with another CA, or none, the lookup fails at once (not retried) with a TLS error naming the SMP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smp_over_https_needs_the_configured_tls_trust() {
    use access_point::msh::discovery_resolver;
    use access_point::msh::{RecipientQuery, RecipientResolver};
    use access_point::pki::dev::DevPki;
    let tmp = tempfile::tempdir().unwrap();
    let (a_toml, b_toml) = two_aps(tmp.path());
    let b = Node::start(Config::load(&b_toml).unwrap(), options()).await.unwrap();
    let smp_tls = DevPki::throwaway("smp.sdk.test").unwrap();
    let right = tmp.path().join("smp-tls-ca.pem");
    std::fs::write(&right, smp_tls.ca.certificate.to_pem().unwrap()).unwrap();
    let wrong = tmp.path().join("other-ca.pem");
    let other = DevPki::throwaway("other.sdk.test").unwrap();
    std::fs::write(&wrong, other.ca.certificate.to_pem().unwrap()).unwrap();

    let front = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut fed = federation(tmp.path(), b.config());
    fed.smp_url = Some(format!("https://localhost:{}/smp", front.local_addr().unwrap().port()));
    let sim = FederationSim::start(fed).await.unwrap();
    https_front(front, &smp_tls, sim.http_addr()).await;

    let config_with = |trust: Vec<PathBuf>| {
        let mut config = a_config(&a_toml, &sim, tmp.path());
        config.discovery.as_mut().unwrap().smp_tls_trust = trust;
        config
    };
    let query = RecipientQuery {
        to_party: String::new(),
        final_recipient: Some(B_PARTICIPANT.into()),
        action: Some(support::SDK_ACTION.into()),
    };
    for (trust, expected) in [(vec![wrong.clone()], "TLS"), (Vec::new(), "no TLS trust anchors")] {
        let config = config_with(trust);
        let message_trust = config.message_trust_store().unwrap();
        let resolver = discovery_resolver::from_config(&config, &message_trust)
            .unwrap()
            .unwrap();
        let e = resolver.resolve(&query).await.unwrap_err();
        assert!(!e.is_retryable(), "a TLS refusal is not an outage: {e}");
        let text = e.to_string();
        assert!(
            text.contains(expected) && text.contains("SMP") && text.contains("https://localhost"),
            "{text}"
        );
    }
    assert_eq!(sim.stats().smp_requests, 0, "no request got through TLS");

    let a = Node::start(config_with(vec![right]), options()).await.unwrap();
    let mut outcomes = a.subscribe();
    let sent = a
        .submit(support::sdk_submission(None, B_PARTICIPANT, Vec::new()))
        .await
        .unwrap();
    let done = outcome_of(&mut outcomes, &sent.message_id, Duration::from_secs(60)).await;
    assert_eq!(done.state, State::Delivered, "{}", done.reason);
    assert!(sim.stats().smp_requests >= 1);
    a.shutdown().await;
    b.shutdown().await;
}

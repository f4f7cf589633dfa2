//! Discovery against the local federation: the happy path, caching, and every fault of issue 5 as a typed error
//! naming the service.

mod sim_support;

use address_book_client::{DiscoveryError, DocumentId, Freshness, ParticipantId, Service};
use conformance::sim::{Faults, SmpAnswerFault};
use sim_support::*;
use std::time::Duration;

fn p(id: &str) -> ParticipantId {
    ParticipantId::parse(id).unwrap()
}

fn doc() -> DocumentId {
    DocumentId::parse(DOC).unwrap()
}

#[tokio::test]
async fn resolves_endpoint_certificate_and_certpub() {
    let (sim, _dir) = start(0).await;
    let d = discovery(&sim, policy(Duration::from_secs(60)));
    let r = d.resolve(&p("0203:exempel.se"), &doc()).await.unwrap();
    assert_eq!(r.endpoint_url, "https://ap1.example/as4");
    assert_eq!(r.transport_profile, "digg-transport-as4-v1_2");
    assert_eq!(r.ap_party_id, "ap1");
    assert_eq!(r.process_id, "bdx:noprocess");
    assert_eq!(r.freshness, Freshness::Fresh);
    assert!(r.smp_signer.contains("CN=SDK Federation Sim SMP"));
    assert!(r.smp_url.starts_with(&sim.smp_url()));
    let signing = r.certpub.signing_certificate().unwrap();
    assert!(format!("{:?}", signing.subject_name()).contains("Exempelkommunen signing"));
    assert!(r.certpub.encryption_certificate().is_some());
    assert_eq!(sim.stats().smp_requests, 1);
}

#[tokio::test]
async fn cached_answers_make_no_requests_and_expire() {
    let (sim, _dir) = start(0).await;
    let d = discovery(&sim, policy(Duration::from_millis(300)));
    for _ in 0..5 {
        d.resolve(&p("0203:exempel.se"), &doc()).await.unwrap();
    }
    assert_eq!(sim.stats().smp_requests, 1);
    assert_eq!(sim.stats().dns_queries, 1);
    tokio::time::sleep(Duration::from_millis(350)).await;
    d.resolve(&p("0203:exempel.se"), &doc()).await.unwrap();
    assert_eq!(sim.stats().smp_requests, 2);
}

async fn fault_error(faults: Faults, participant: &str) -> DiscoveryError {
    let (sim, _dir) = start(0).await;
    sim.set_faults(faults);
    let d = discovery(&sim, policy(Duration::from_secs(60)));
    d.resolve(&p(participant), &doc()).await.unwrap_err()
}

async fn smp_answer_error(fault: SmpAnswerFault) -> DiscoveryError {
    fault_error(
        Faults {
            smp_answer: fault,
            ..Faults::default()
        },
        "0203:exempel.se",
    )
    .await
}

#[tokio::test]
async fn unsigned_answer_is_refused() {
    let e = smp_answer_error(SmpAnswerFault::Unsigned).await;
    assert_eq!(e, DiscoveryError::SmpSignatureMissing);
    assert_eq!(e.service(), Service::Smp);
}

#[tokio::test]
async fn tampered_answer_is_refused() {
    let e = smp_answer_error(SmpAnswerFault::Tampered).await;
    assert!(matches!(e, DiscoveryError::SmpSignatureInvalid { .. }), "{e}");
}

#[tokio::test]
async fn signer_outside_the_smp_anchor_is_refused() {
    let e = smp_answer_error(SmpAnswerFault::UntrustedSigner).await;
    assert!(matches!(e, DiscoveryError::SmpSignerUntrusted { .. }), "{e}");
}

#[tokio::test]
async fn answer_for_another_participant_or_document_is_refused() {
    let e = smp_answer_error(SmpAnswerFault::WrongParticipant).await;
    assert!(matches!(e, DiscoveryError::SmpWrongParticipant { .. }), "{e}");
    let e = smp_answer_error(SmpAnswerFault::WrongDocument).await;
    assert!(matches!(e, DiscoveryError::SmpWrongDocument { .. }), "{e}");
}

#[tokio::test]
async fn malformed_xml_is_refused() {
    let e = smp_answer_error(SmpAnswerFault::Malformed).await;
    assert!(matches!(e, DiscoveryError::SmpMalformed { .. }), "{e}");
    assert_eq!(e.service(), Service::Smp);
}

#[tokio::test]
async fn expired_endpoint_is_refused() {
    let e = fault_error(Faults::default(), "0203:expired.se").await;
    assert!(matches!(e, DiscoveryError::EndpointExpired { .. }), "{e}");
}

#[tokio::test]
async fn unaccepted_transport_profile_is_refused() {
    let e = fault_error(Faults::default(), "0203:as2only.se").await;
    assert!(matches!(e, DiscoveryError::NoMatchingTransport { .. }), "{e}");
}

#[tokio::test]
async fn dns_timeout_is_typed() {
    let e = fault_error(
        Faults {
            dns_drop: true,
            ..Faults::default()
        },
        "0203:exempel.se",
    )
    .await;
    assert!(matches!(e, DiscoveryError::DnsTimeout { .. }), "{e}");
    assert_eq!(e.service(), Service::Sml);
}

#[tokio::test]
async fn slow_dns_times_out() {
    let e = fault_error(
        Faults {
            dns_delay_ms: Some(1500),
            ..Faults::default()
        },
        "0203:exempel.se",
    )
    .await;
    assert!(matches!(e, DiscoveryError::DnsTimeout { .. }), "{e}");
}

#[tokio::test]
async fn dns_servfail_is_a_failure_not_a_missing_record() {
    let (sim, _dir) = start(0).await;
    let d = discovery(&sim, policy(Duration::from_millis(100)));
    d.resolve(&p("0203:exempel.se"), &doc()).await.unwrap();
    sim.set_faults(Faults {
        dns_servfail: true,
        ..Faults::default()
    });
    let e = d.smp_url(&p("0203:p1.example.se")).await.unwrap_err();
    assert!(matches!(e, DiscoveryError::DnsFailure { .. }), "{e}");
    assert!(e.is_unavailability());
    // A known participant keeps resolving from its last good SMP URL.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let r = d.resolve(&p("0203:exempel.se"), &doc()).await.unwrap();
    assert!(matches!(r.freshness, Freshness::Stale { .. }), "{:?}", r.freshness);
}

#[tokio::test]
async fn naptr_without_meta_smp_is_typed() {
    let e = fault_error(
        Faults {
            dns_without_meta_smp: true,
            ..Faults::default()
        },
        "0203:exempel.se",
    )
    .await;
    assert!(matches!(e, DiscoveryError::NoMetaSmpNaptr { .. }), "{e}");
}

#[tokio::test]
async fn unknown_participant_and_document_are_not_found() {
    let (sim, _dir) = start(0).await;
    let d = discovery(&sim, policy(Duration::from_secs(60)));
    let e = d.resolve(&p("0203:nobody.example"), &doc()).await.unwrap_err();
    assert!(matches!(e, DiscoveryError::NoSmpRecord { .. }), "{e}");
    let other = DocumentId::parse("urn:example:other::doc").unwrap();
    let e = d.resolve(&p("0203:exempel.se"), &other).await.unwrap_err();
    assert!(matches!(e, DiscoveryError::DocumentNotSupported { .. }), "{e}");
    // Negative answers are cached.
    let before = sim.stats();
    d.resolve(&p("0203:exempel.se"), &other).await.unwrap_err();
    d.resolve(&p("0203:nobody.example"), &doc()).await.unwrap_err();
    assert_eq!(sim.stats(), before);
}

#[tokio::test]
async fn smp_http_errors_are_typed() {
    let e = fault_error(
        Faults {
            smp_status: Some(500),
            ..Faults::default()
        },
        "0203:exempel.se",
    )
    .await;
    assert!(matches!(e, DiscoveryError::SmpHttp { status: 500, .. }), "{e}");
    let e = fault_error(
        Faults {
            smp_status: Some(404),
            ..Faults::default()
        },
        "0203:exempel.se",
    )
    .await;
    assert!(matches!(e, DiscoveryError::NotRegistered { .. }), "{e}");
}

#[tokio::test]
async fn slow_smp_times_out() {
    let e = fault_error(
        Faults {
            smp_delay_ms: Some(3000),
            ..Faults::default()
        },
        "0203:exempel.se",
    )
    .await;
    assert!(
        matches!(
            e,
            DiscoveryError::SmpUnreachable {
                reason: address_book_client::http::HttpError::Timeout(_),
                ..
            }
        ),
        "{e}"
    );
}

#[tokio::test]
async fn stale_answer_is_served_while_the_smp_is_down_and_says_so() {
    let (sim, _dir) = start(0).await;
    let d = discovery(&sim, policy(Duration::from_millis(100)));
    d.resolve(&p("0203:exempel.se"), &doc()).await.unwrap();
    sim.set_faults(Faults {
        smp_status: Some(503),
        ..Faults::default()
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let r = d.resolve(&p("0203:exempel.se"), &doc()).await.unwrap();
    match &r.freshness {
        Freshness::Stale { age, reason } => {
            assert!(*age >= Duration::from_millis(100));
            assert!(reason.contains("503"), "{reason}");
        }
        f => panic!("expected stale, got {f:?}"),
    }
    assert_eq!(r.endpoint_url, "https://ap1.example/as4");
    // DNS down as well: still served from cache.
    sim.set_faults(Faults {
        dns_drop: true,
        smp_status: Some(503),
        ..Faults::default()
    });
    tokio::time::sleep(Duration::from_millis(250)).await;
    let r = d.resolve(&p("0203:exempel.se"), &doc()).await.unwrap();
    assert!(matches!(r.freshness, Freshness::Stale { .. }));
    // Back up: fresh again once retried.
    sim.set_faults(Faults::default());
    tokio::time::sleep(Duration::from_millis(250)).await;
    let r = d.resolve(&p("0203:exempel.se"), &doc()).await.unwrap();
    assert_eq!(r.freshness, Freshness::Fresh);
}

#[tokio::test]
async fn forged_answer_is_not_papered_over_by_the_cache() {
    let (sim, _dir) = start(0).await;
    let d = discovery(&sim, policy(Duration::from_millis(100)));
    d.resolve(&p("0203:exempel.se"), &doc()).await.unwrap();
    sim.set_faults(Faults {
        smp_answer: SmpAnswerFault::Tampered,
        ..Faults::default()
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let e = d.resolve(&p("0203:exempel.se"), &doc()).await.unwrap_err();
    assert!(matches!(e, DiscoveryError::SmpSignatureInvalid { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_lookups_of_100_participants_make_at_most_100_smp_requests() {
    let (sim, _dir) = start(100).await;
    // Generous timeouts: this test counts requests, it does not time them.
    let d = discovery_with_dns_timeout(&sim, policy(Duration::from_secs(60)), Duration::from_secs(10));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..1000 {
        let d = d.clone();
        tasks.spawn(async move { d.resolve(&p(&format!("0203:p{}.example.se", i % 100)), &doc()).await });
    }
    let mut ok = 0;
    while let Some(r) = tasks.join_next().await {
        r.unwrap().unwrap();
        ok += 1;
    }
    assert_eq!(ok, 1000);
    let stats = sim.stats();
    eprintln!("1000 concurrent lookups of 100 participants: {stats:?}");
    assert!(stats.smp_requests <= 100, "{stats:?}");
    assert!(stats.dns_queries <= 100, "{stats:?}");
}

#[tokio::test]
async fn lookup_chain_shows_every_step() {
    let (sim, _dir) = start(0).await;
    let d = discovery(&sim, policy(Duration::from_secs(60)));
    let chain = d.lookup_chain(&p("0203:exempel.se"), Some(&doc())).await.unwrap();
    assert!(chain.dns_name.ends_with(".iso6523-actorid-upis.sml.sdk.test"));
    assert_eq!(chain.naptrs.len(), 1);
    assert_eq!(chain.naptrs[0].service, "Meta:SMP");
    assert_eq!(chain.smp_url, sim.smp_url());
    assert_eq!(chain.service_group.references.len(), 1);
    assert!(chain.service_group.references[0].ends_with("tm-base"));
    let m = chain.metadata.unwrap();
    assert_eq!(m.ap_certificate.common_name, "ap1");
    assert_eq!(
        m.url, chain.service_group.references[0],
        "the service group links to the URL the client builds"
    );
}

#[tokio::test]
async fn dns_outage_uses_the_last_smp_url_and_says_so() {
    let (sim, _dir) = start(0).await;
    let d = discovery(&sim, policy(Duration::from_millis(100)));
    d.resolve(&p("0203:exempel.se"), &doc()).await.unwrap();
    sim.set_faults(Faults {
        dns_drop: true,
        ..Faults::default()
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let before = sim.stats().smp_requests;
    let r = d.resolve(&p("0203:exempel.se"), &doc()).await.unwrap();
    assert_eq!(sim.stats().smp_requests, before + 1, "the SMP itself was asked again");
    match r.freshness {
        Freshness::Stale { reason, .. } => assert!(reason.contains("SML"), "{reason}"),
        f => panic!("expected stale, got {f:?}"),
    }
}

//! A cached `Discovery::resolve` (target: under 5 µs), after one real lookup against the local federation, with a
//! reference measured in the same run: one OpenSSL SHA-256 of 1 KiB.

use address_book_client::cache::CachePolicy;
use address_book_client::{
    default_transport_profiles, Discovery, DiscoverySettings, DocumentId, HttpSettings, ParticipantId, SmlSettings,
    SmpSettings, SmpTrust,
};
use conformance::sim::config::FederationConfig;
use conformance::sim::FederationSim;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::time::Duration;

const DOC: &str = address_book_client::ids::SDK_MESSAGE_BASE;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "sml_zone = \"sml.sdk.test\"\n[[access_points]]\nname = \"ap1\"\nendpoint_url = \"https://ap1.example/as4\"\n\
         [[organisations]]\nid = \"o\"\nname = \"O\"\nparticipant_id = \"0203:exempel.se\"\naccess_point = \"ap1\"\n\
         documents = [\"{DOC}\"]\n"
    );
    let config = FederationConfig::from_toml(&toml, dir.path()).unwrap();
    let sim = rt.block_on(FederationSim::start(config)).unwrap();
    let discovery = rt.block_on(async {
        Discovery::new(DiscoverySettings {
            sml: SmlSettings {
                zone: sim.sml_zone().into(),
                dns_servers: vec![sim.dns_addr()],
                timeout: Duration::from_secs(2),
                attempts: 1,
            },
            smp: SmpSettings {
                http: HttpSettings::default(),
                trust: SmpTrust::new(vec![sim.smp_ca()]).unwrap(),
                transport_profiles: default_transport_profiles(),
            },
            sml_cache: CachePolicy::default(),
            smp_cache: CachePolicy::default(),
        })
        .unwrap()
    });
    let participant = ParticipantId::parse("0203:exempel.se").unwrap();
    let document = DocumentId::parse(DOC).unwrap();
    rt.block_on(discovery.resolve(&participant, &document)).unwrap();
    let local = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut group = c.benchmark_group("discovery");
    group.bench_function("cached_resolve", |b| {
        b.iter(|| {
            local
                .block_on(discovery.resolve(black_box(&participant), black_box(&document)))
                .unwrap()
        })
    });
    let data = vec![7u8; 1024];
    group.bench_function("reference_openssl_sha256_1KiB", |b| {
        b.iter(|| openssl::sha::sha256(black_box(&data)))
    });
    group.finish();
    assert_eq!(
        sim.stats().smp_requests,
        1,
        "every measured lookup was served from the cache"
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);

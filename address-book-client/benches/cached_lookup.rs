//! The cost of a cache hit in the discovery cache layer (key hashing, lock, clone of the answer), against a
//! reference measured in the same run: one OpenSSL SHA-256 of 1 KiB. The end-to-end cached `Discovery::resolve`
//! against the simulator is measured in `conformance/benches/sim_cached_lookup.rs`.

use address_book_client::cache::{CachePolicy, LookupCache};
use address_book_client::{DocumentId, ParticipantId};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::sync::Arc;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let cache: LookupCache<(ParticipantId, DocumentId), Arc<String>> = LookupCache::new(CachePolicy::default());
    let keys: Vec<_> = (0..1000)
        .map(|i| {
            (
                ParticipantId::parse(&format!("0203:p{i}.example.se")).unwrap(),
                DocumentId::parse(address_book_client::ids::SDK_MESSAGE_BASE).unwrap(),
            )
        })
        .collect();
    rt.block_on(async {
        for k in &keys {
            cache
                .get_or_fetch(k, || async { Ok((Arc::new("endpoint".to_string()), None)) })
                .await
                .unwrap();
        }
    });
    let mut group = c.benchmark_group("discovery_cache");
    let mut i = 0usize;
    group.bench_function("cache_hit", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            rt.block_on(cache.get_or_fetch(&keys[i], || async { unreachable!("cached") }))
                .unwrap()
        })
    });
    let data = vec![7u8; 1024];
    group.bench_function("reference_openssl_sha256_1KiB", |b| {
        b.iter(|| openssl::sha::sha256(black_box(&data)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! ebMS envelope parsing and rendering. The reference is the bare DOM parse of the same bytes
//! (`xmldsig::dom::Document::parse`), so the `envelope_parse / dom_parse` ratio is the cost of the structure checks
//! and the model read on top of XML parsing.

use access_point::ebms::test_support::{sample_receipt, sample_user_message};
use access_point::ebms::{Envelope, EnvelopeBuilder, Messaging, ParseLimits};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn bench(c: &mut Criterion) {
    let limits = ParseLimits::default();
    let cases = [
        ("user_1_part", Messaging::user(sample_user_message(1))),
        ("user_20_parts", Messaging::user(sample_user_message(20))),
        ("receipt", Messaging::signal(sample_receipt())),
    ];
    let mut group = c.benchmark_group("ebms");
    for (name, messaging) in cases {
        let builder = EnvelopeBuilder::new(messaging).expect("valid sample");
        let xml = builder.render(None);
        group.throughput(Throughput::Bytes(xml.len() as u64));
        group.bench_with_input(BenchmarkId::new("dom_parse", name), &xml, |b, xml| {
            b.iter(|| xmldsig::dom::Document::parse(xml.as_bytes(), &limits).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("envelope_parse", name), &xml, |b, xml| {
            b.iter(|| Envelope::parse(xml.as_bytes(), &limits).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("render", name), &builder, |b, builder| {
            b.iter(|| builder.render(None))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

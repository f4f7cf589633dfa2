//! Small AS4 POSTs (1 KiB) over mutual TLS on loopback: one reused connection versus a new TCP + TLS connection per
//! request. The ratio of the two is the figure to report (both measured in the same run).
//!
//! `cargo bench -p access-point --bench transport_roundtrip -- --warm-up-time 1 --measurement-time 3`

use std::sync::Arc;

use access_point::config::TransportConfig;
use access_point::pki::dev::DevPki;
use access_point::pki::TrustStore;
use access_point::transport::client::ClientSettings;
use access_point::transport::{
    serve, tls, ApMetrics, As4Client, As4Handler, As4Request, As4Response, HandlerFuture, OutgoingBody, Readiness,
    ServerSettings,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_util::StreamExt;
use http::{HeaderMap, StatusCode};
use openssl::x509::X509Crl;

struct Drain;

impl As4Handler for Drain {
    fn handle(&self, request: As4Request) -> HandlerFuture<'_> {
        Box::pin(async move {
            let mut body = request.body;
            while let Some(chunk) = body.next().await {
                if chunk.is_err() {
                    return As4Response::empty(StatusCode::BAD_REQUEST);
                }
            }
            As4Response::bytes(StatusCode::OK, "application/soap+xml", &b"<Receipt/>"[..])
        })
    }
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pki = DevPki::throwaway("AP-BENCH").unwrap();
    let trust = TrustStore::new(vec![pki.ca.certificate.clone()])
        .with_crls(vec![X509Crl::from_der(&pki.crl.to_der().unwrap()).unwrap()]);
    let server_tls = tls::server_config(&pki.tls, &trust).unwrap();
    let client_tls = tls::client_config(Some(&pki.tls), &trust).unwrap();
    let server = runtime
        .block_on(serve(
            ServerSettings {
                listen: "127.0.0.1:0".parse().unwrap(),
                tls: Some(server_tls),
                allow_plain_http: false,
                transport: TransportConfig::default(),
                max_body_bytes: 1 << 20,
            },
            Arc::new(Drain),
            Arc::new(ApMetrics::new()),
            Readiness::new(true),
        ))
        .unwrap();
    let url = format!("https://127.0.0.1:{}/as4", server.local_addr().port());
    let payload = bytes::Bytes::from(vec![b'x'; 1024]);
    let settings = ClientSettings::default();
    let post = |client: As4Client| {
        let url = url.clone();
        let payload = payload.clone();
        async move {
            let r = client
                .post(
                    &url,
                    "application/soap+xml",
                    &HeaderMap::new(),
                    OutgoingBody::bytes(payload),
                )
                .await
                .unwrap();
            assert_eq!(r.status, StatusCode::OK);
            r.bytes().await.unwrap();
        }
    };

    let mut group = c.benchmark_group("transport_small_post_mtls");
    group.throughput(Throughput::Elements(1));
    let reused = As4Client::new(settings.clone(), Some(client_tls.clone()), None);
    group.bench_function("reused_connection", |b| {
        b.iter(|| runtime.block_on(post(reused.clone())))
    });
    group.bench_function("new_connection", |b| {
        b.iter(|| runtime.block_on(post(As4Client::new(settings.clone(), Some(client_tls.clone()), None))))
    });
    group.finish();
    runtime.block_on(server.shutdown());
}

criterion_group!(benches, bench);
criterion_main!(benches);

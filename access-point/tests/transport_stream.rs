//! A 200 MB POST streamed through the mTLS server and client with bounded memory: the client sends a generated
//! stream, the handler reads it chunk by chunk, and the process RSS grows by far less than the body size.

mod transport_support;

use std::time::Duration;

use access_point::pki::dev::DevPki;
use access_point::transport::OutgoingBody;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use transport_support::*;

const TOTAL: u64 = 200 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mb_post_streams_with_bounded_memory() {
    let pki = DevPki::throwaway("AP-STREAM").unwrap();
    let trust = trust_of(&pki);
    // The request timeout covers the whole upload: generous, as a debug build on a shared machine is slow.
    let transport = access_point::config::TransportConfig {
        client_request_timeout_ms: 110_000,
        body_idle_timeout_ms: 20_000,
        client_response_idle_timeout_ms: 20_000,
        ..fast_transport()
    };
    let server = start_server(&pki.tls, &trust, transport.clone()).await;
    let client = client_for(Some(&pki.tls), &trust, &transport);
    // Warm up (TLS, allocator arenas) before the baseline.
    client
        .post(
            &server.url("/as4"),
            "application/octet-stream",
            &HeaderMap::new(),
            OutgoingBody::bytes(vec![1u8; CHUNK]),
        )
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    // Peak RSS, not the final RSS: a body collected in memory and freed again would not show in the latter.
    assert!(
        reset_peak_rss(),
        "cannot reset the peak RSS mark (/proc/self/clear_refs)"
    );
    let before = rss_kib();

    let chunks = (TOTAL / CHUNK as u64) as usize;
    let mut expected = 0u64;
    for i in 0..chunks {
        let c = Bytes::from(vec![(i % 251) as u8; CHUNK]);
        expected = c
            .iter()
            .fold(expected, |a, b| a.wrapping_mul(31).wrapping_add(u64::from(*b)));
    }
    // A second run with an unknown length goes out chunked; both must arrive whole.
    for length in [Some(TOTAL), None] {
        let stream = futures_util::stream::iter(
            (0..chunks).map(|i| Ok::<_, std::io::Error>(Bytes::from(vec![(i % 251) as u8; CHUNK]))),
        );
        let response = tokio::time::timeout(
            Duration::from_secs(120),
            client.post(
                &server.url("/as4"),
                "application/octet-stream",
                &HeaderMap::new(),
                OutgoingBody::stream(stream, length),
            ),
        )
        .await
        .expect("bounded")
        .unwrap();
        assert_eq!(response.status, StatusCode::OK);
        let text = String::from_utf8(response.bytes().await.unwrap().to_vec()).unwrap();
        assert_eq!(text, format!("{TOTAL} {expected} AP-STREAM"), "{length:?}");
    }
    let grown_mib = peak_rss_kib().saturating_sub(before) / 1024;
    eprintln!("peak RSS growth while streaming 2 x 200 MiB: {grown_mib} MiB");
    assert!(
        grown_mib < 64,
        "RSS grew by {grown_mib} MiB: the body is being buffered"
    );
    assert!(server.metrics.bytes_in.get() >= 2 * TOTAL);
    server.server.shutdown().await;
}

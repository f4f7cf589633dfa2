//! Faults on both sides of the AS4 transport: a peer answering garbage, a 500, slowly or too much (client typed
//! errors and their retry class), slow or oversized clients (server limits), connection limits and reuse,
//! graceful shutdown, health, readiness and the metrics exposition.

mod transport_support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use access_point::config::TransportConfig;
use access_point::pki::dev::DevPki;
use access_point::transport::{ClientError, OutgoingBody};
use http::{HeaderMap, HeaderValue, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use transport_support::*;

/// A fake peer: accepts one connection, reads the request head, then runs `answer` on the socket.
async fn fake_peer<F, Fut>(answer: F) -> (String, tokio::task::JoinHandle<()>)
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/as4", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            if n == 0 {
                return;
            }
            head.extend_from_slice(&buf[..n]);
        }
        answer(socket).await;
    });
    (url, task)
}

fn client_with(transport: TransportConfig) -> access_point::transport::As4Client {
    plain_client(&transport)
}

async fn post(
    client: &access_point::transport::As4Client,
    url: &str,
) -> Result<access_point::transport::ClientResponse, ClientError> {
    client
        .post(
            url,
            "application/soap+xml",
            &HeaderMap::new(),
            OutgoingBody::bytes(&b"<x/>"[..]),
        )
        .await
}

#[tokio::test]
async fn garbage_answer_is_a_retryable_protocol_error() {
    let (url, _peer) = fake_peer(|mut s| async move {
        let _ = s.write_all(b"\x16\x03\x01 this is not HTTP at all\r\n\r\n").await;
    })
    .await;
    let e = post(&client_with(fast_transport()), &url).await.unwrap_err();
    assert!(matches!(e, ClientError::Protocol(_)), "{e:?}");
    assert!(e.is_retryable());
}

#[tokio::test]
async fn status_500_is_retryable_and_400_is_not() {
    for (status_line, retryable) in [("500 Internal Server Error", true), ("400 Bad Request", false)] {
        let answer = format!("HTTP/1.1 {status_line}\r\ncontent-length: 5\r\ncontent-type: text/plain\r\n\r\nboom!");
        let (url, _peer) = fake_peer(move |mut s| async move {
            let _ = s.write_all(answer.as_bytes()).await;
        })
        .await;
        let response = post(&client_with(fast_transport()), &url).await.unwrap();
        let e = response.into_success().await.unwrap_err();
        match &e {
            ClientError::HttpStatus { excerpt, .. } => assert_eq!(excerpt, "boom!"),
            other => panic!("{other:?}"),
        }
        assert_eq!(e.is_retryable(), retryable, "{status_line}");
    }
}

#[tokio::test]
async fn no_answer_is_a_request_timeout() {
    let (url, _peer) = fake_peer(|s| async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(s);
    })
    .await;
    let transport = TransportConfig {
        client_request_timeout_ms: 300,
        ..fast_transport()
    };
    let started = std::time::Instant::now();
    let e = post(&client_with(transport), &url).await.unwrap_err();
    assert!(matches!(e, ClientError::RequestTimeout(_)) && e.is_retryable(), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn slow_body_is_an_idle_timeout_and_a_large_body_is_capped() {
    let (url, _peer) = fake_peer(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
            .await;
        tokio::time::sleep(Duration::from_secs(10)).await;
    })
    .await;
    let transport = TransportConfig {
        client_response_idle_timeout_ms: 300,
        ..fast_transport()
    };
    let e = post(&client_with(transport), &url)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap_err();
    assert!(
        matches!(e, ClientError::ResponseIdleTimeout(_)) && e.is_retryable(),
        "{e:?}"
    );

    let (url, _peer) = fake_peer(|mut s| async move {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n").await;
        let _ = s.write_all(&[b'x'; 100_000]).await;
    })
    .await;
    let transport = TransportConfig {
        client_max_response_bytes: 1000,
        ..fast_transport()
    };
    let e = post(&client_with(transport), &url)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap_err();
    assert!(
        matches!(e, ClientError::ResponseTooLarge { limit: 1000 }) && !e.is_retryable(),
        "{e:?}"
    );
}

#[tokio::test]
async fn connection_refused_and_stalled_tls_are_retryable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let e = post(&client_with(fast_transport()), &format!("http://127.0.0.1:{port}/as4"))
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Connect { .. }) && e.is_retryable(), "{e:?}");

    // A peer that accepts TCP but never speaks TLS: the connect timeout covers the handshake.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _hold = tokio::spawn(async move {
        let (_s, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
    });
    let pki = DevPki::throwaway("AP-STALL").unwrap();
    let transport = TransportConfig {
        client_connect_timeout_ms: 300,
        ..fast_transport()
    };
    let client = client_for(Some(&pki.tls), &trust_of(&pki), &transport);
    let e = post(&client, &format!("https://127.0.0.1:{port}/as4"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, ClientError::ConnectTimeout { .. }) && e.is_retryable(),
        "{e:?}"
    );
}

/// Reads from a raw socket until EOF or `limit`, returning what came.
async fn read_until_close(socket: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    let done = tokio::time::timeout(limit, async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    done.ok().map(|_| String::from_utf8_lossy(&all).into_owned())
}

#[tokio::test]
async fn slowloris_head_is_cut_by_the_header_read_timeout() {
    let server = start_with(None, fast_transport(), 1 << 20).await;
    let mut socket = TcpStream::connect(server.addr()).await.unwrap();
    socket
        .write_all(b"POST /as4 HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let closed = read_until_close(&mut socket, Duration::from_secs(5)).await;
    assert!(
        closed.is_some(),
        "the server must close a connection whose head never completes"
    );
    assert_eq!(server.handler.calls.load(Ordering::SeqCst), 0);
    server.server.shutdown().await;
}

#[tokio::test]
async fn stalled_request_body_hits_the_idle_timeout() {
    let server = start_with(None, fast_transport(), 1 << 20).await;
    let mut socket = TcpStream::connect(server.addr()).await.unwrap();
    socket
        .write_all(b"POST /as4 HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    let answer = read_until_close(&mut socket, Duration::from_secs(5))
        .await
        .expect("answered within bounds");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("idle"), "{answer}");
    server.server.shutdown().await;
}

#[tokio::test]
async fn oversized_head_and_body_are_refused() {
    let server = start_with(None, fast_transport(), 1000).await;
    let mut socket = TcpStream::connect(server.addr()).await.unwrap();
    let big = "a".repeat(100 * 1024);
    let _ = socket
        .write_all(format!("POST /as4 HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n").as_bytes())
        .await;
    let answer = read_until_close(&mut socket, Duration::from_secs(5))
        .await
        .unwrap_or_default();
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 431"), "{answer}");

    // Declared too large: refused before the handler runs.
    let client = plain_client(&fast_transport());
    let r = client
        .post(
            &server.plain_url("/as4"),
            "text/xml",
            &HeaderMap::new(),
            OutgoingBody::bytes(vec![0u8; 5000]),
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Chunked, so only counting can catch it: the handler sees the typed body error.
    let chunks = futures_util::stream::iter((0..5).map(|_| Ok(bytes::Bytes::from(vec![0u8; 1000]))));
    let r = client
        .post(
            &server.plain_url("/as4"),
            "text/xml",
            &HeaderMap::new(),
            OutgoingBody::stream(chunks, None),
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&r.bytes().await.unwrap()).contains("larger than 1000"));
    assert_eq!(server.handler.calls.load(Ordering::SeqCst), 1);
    server.server.shutdown().await;
}

#[tokio::test]
async fn max_connections_holds_further_connections_back() {
    let transport = TransportConfig {
        max_connections: 1,
        // Idle keep-alive connections are closed after the header read timeout: keep it well above the test window.
        header_read_timeout_ms: 5_000,
        ..fast_transport()
    };
    let server = start_with(None, transport.clone(), 1 << 20).await;
    let mut first = TcpStream::connect(server.addr()).await.unwrap();
    first
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let n = first.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // The first connection stays open (keep-alive): a second one is not served.
    let client = plain_client(&transport);
    let blocked = tokio::time::timeout(Duration::from_millis(400), client.get(&server.plain_url("/healthz"))).await;
    assert!(
        blocked.is_err(),
        "second connection must wait while the first holds the only slot"
    );
    drop(first);
    let r = tokio::time::timeout(Duration::from_secs(5), client.get(&server.plain_url("/healthz")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    server.server.shutdown().await;
}

#[tokio::test]
async fn connections_are_reused_over_mutual_tls() {
    let pki = DevPki::throwaway("AP-REUSE").unwrap();
    let trust = trust_of(&pki);
    let server = start_server(&pki.tls, &trust, fast_transport()).await;
    let client = client_for(Some(&pki.tls), &trust, &fast_transport());
    for _ in 0..5 {
        let r = post(&client, &server.url("/as4")).await.unwrap();
        r.bytes().await.unwrap();
    }
    assert_eq!(client.idle_connections(), 1);
    // One connection for five requests: five requests, one open connection on the server.
    assert_eq!(server.handler.calls.load(Ordering::SeqCst), 5);
    assert_eq!(server.metrics.open_connections.get(), 1.0);
    server.server.shutdown().await;
}

#[tokio::test]
async fn graceful_shutdown_waits_for_in_flight_requests_within_the_grace_period() {
    let server = start_with(None, fast_transport(), 1 << 20).await;
    let client = plain_client(&fast_transport());
    let url = server.plain_url("/as4");
    let mut headers = HeaderMap::new();
    headers.insert("x-delay-ms", HeaderValue::from_static("700"));
    let in_flight = tokio::spawn({
        let client = client.clone();
        let headers = headers.clone();
        async move {
            let r = client
                .post(&url, "text/xml", &headers, OutgoingBody::bytes(&b"abc"[..]))
                .await?;
            let status = r.status;
            r.bytes().await.map(|b| (status, b))
        }
    });
    while server.handler.calls.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let addr = server.addr();
    let report = server.server.shutdown().await;
    let (status, body) = in_flight.await.unwrap().expect("the in-flight request completed");
    assert_eq!(status, StatusCode::OK);
    assert!(body.starts_with(b"3 "));
    assert_eq!((report.drained, report.cut), (1, 0));
    assert!(TcpStream::connect(addr).await.is_err(), "no longer accepting");

    // A grace period shorter than the request: the request is cut, shutdown does not hang.
    let transport = TransportConfig {
        shutdown_grace_ms: 200,
        ..fast_transport()
    };
    let server = start_with(None, transport.clone(), 1 << 20).await;
    let url = server.plain_url("/as4");
    headers.insert("x-delay-ms", HeaderValue::from_static("5000"));
    let in_flight = tokio::spawn(async move {
        plain_client(&transport)
            .post(&url, "text/xml", &headers, OutgoingBody::bytes(&b"abc"[..]))
            .await
            .map(|r| r.status)
    });
    while server.handler.calls.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = std::time::Instant::now();
    let report = server.server.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!((report.drained, report.cut), (0, 1));
    assert!(in_flight.await.unwrap().is_err());
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let pki = DevPki::throwaway("AP-METRICS").unwrap();
    let trust = trust_of(&pki);
    let server = start_server(&pki.tls, &trust, fast_transport()).await;
    let client = client_for(Some(&pki.tls), &trust, &fast_transport());
    assert_eq!(
        client.get(&server.url("/healthz")).await.unwrap().status,
        StatusCode::OK
    );
    assert_eq!(
        client.get(&server.url("/readyz")).await.unwrap().status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    server.readiness.set(true);
    let r = client.get(&server.url("/readyz")).await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    r.bytes().await.unwrap();
    let r = client.get(&server.url("/as4")).await.unwrap();
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    r.bytes().await.unwrap();
    post(&client, &server.url("/as4")).await.unwrap().bytes().await.unwrap();

    let identity = access_point::pki::NodeIdentity {
        message: pki.message.clone(),
        ed25519: None,
        x25519: None,
        tls: Some(pki.tls.clone()),
    };
    server
        .metrics
        .publish_certificate_expiry(&identity, time::OffsetDateTime::now_utc());
    server.metrics.queue_depth.with(&["send"]).set(3.0);
    let r = client.get(&server.url("/metrics")).await.unwrap();
    assert!(r.content_type().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = String::from_utf8(r.bytes().await.unwrap().to_vec()).unwrap();
    let samples = exposition::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let value = |name: &str, labels: &[(&str, &str)]| {
        samples
            .iter()
            .find(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
    };
    assert_eq!(
        value("sdkap_http_requests_total", &[("route", "as4"), ("status", "200")]),
        Some(1.0)
    );
    assert_eq!(
        value("sdkap_http_requests_total", &[("route", "readyz"), ("status", "503")]),
        Some(1.0)
    );
    assert_eq!(value("sdkap_receive_duration_seconds_count", &[]), Some(2.0));
    assert_eq!(value("sdkap_queue_depth", &[("queue", "send")]), Some(3.0));
    let days = value("sdkap_certificate_expiry_days", &[("certificate", "tls")]).unwrap();
    assert!(days > 300.0, "{days}");
    assert!(value("sdkap_certificate_expiry_days", &[("certificate", "message")]).is_some());
    assert!(value("sdkap_http_bytes_in_total", &[]).unwrap() >= 4.0);
    server.server.shutdown().await;
}

/// A strict reader of the Prometheus text format (0.0.4), checking the rules a scraper relies on.
mod exposition {
    use std::collections::{BTreeMap, HashMap};

    #[derive(Debug)]
    pub struct Sample {
        pub name: String,
        pub labels: BTreeMap<String, String>,
        pub value: f64,
    }

    fn valid_name(n: &str) -> bool {
        let mut c = n.chars();
        matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_' || f == ':')
            && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
    }

    fn parse_value(v: &str) -> Result<f64, String> {
        match v {
            "+Inf" => Ok(f64::INFINITY),
            "-Inf" => Ok(f64::NEG_INFINITY),
            "NaN" => Ok(f64::NAN),
            _ => v.parse().map_err(|_| format!("bad value {v:?}")),
        }
    }

    fn parse_labels(s: &str) -> Result<BTreeMap<String, String>, String> {
        let mut labels = BTreeMap::new();
        let mut chars = s.chars().peekable();
        while chars.peek().is_some() {
            let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
            if !valid_name(&name) || name.contains(':') {
                return Err(format!("bad label name {name:?}"));
            }
            if chars.next() != Some('"') {
                return Err("label value must be quoted".into());
            }
            let mut value = String::new();
            loop {
                match chars.next().ok_or("unterminated label value")? {
                    '\\' => match chars.next().ok_or("dangling escape")? {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        c => return Err(format!("bad escape \\{c}")),
                    },
                    '"' => break,
                    '\n' => return Err("raw newline in label value".into()),
                    c => value.push(c),
                }
            }
            if labels.insert(name.clone(), value).is_some() {
                return Err(format!("label {name} repeated"));
            }
            match chars.next() {
                None => break,
                Some(',') => continue,
                Some(c) => return Err(format!("unexpected {c:?} after label")),
            }
        }
        Ok(labels)
    }

    /// Parses and checks: HELP/TYPE once per family and before its samples, valid names, samples belong to the
    /// family declared by TYPE (histograms: `_bucket` with `le`, `_sum`, `_count`), cumulative buckets ending in
    /// `+Inf` equal to `_count`, counters non-negative.
    pub fn parse(text: &str) -> Result<Vec<Sample>, String> {
        let mut types: HashMap<String, String> = HashMap::new();
        let mut helps = std::collections::HashSet::new();
        let mut samples = Vec::new();
        if !text.ends_with('\n') {
            return Err("exposition must end with a newline".into());
        }
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap_or_default();
                if !valid_name(name) || !helps.insert(name.to_string()) {
                    return Err(format!("bad or repeated HELP: {line}"));
                }
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split(' ');
                let (name, kind) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                    return Err(format!("bad TYPE {line}"));
                }
                if types.insert(name.to_string(), kind.to_string()).is_some() {
                    return Err(format!("TYPE repeated: {line}"));
                }
            } else if line.starts_with('#') || line.is_empty() {
                return Err(format!("unexpected line {line:?}"));
            } else {
                let (series, value) = line.rsplit_once(' ').ok_or(format!("no value: {line}"))?;
                let (name, labels) = match series.split_once('{') {
                    Some((n, l)) => (
                        n,
                        parse_labels(l.strip_suffix('}').ok_or(format!("unclosed labels: {line}"))?)?,
                    ),
                    None => (series, BTreeMap::new()),
                };
                if !valid_name(name) {
                    return Err(format!("bad metric name {name:?}"));
                }
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| {
                        name.strip_suffix(s)
                            .filter(|f| types.get(*f).map(String::as_str) == Some("histogram"))
                    })
                    .unwrap_or(name);
                let kind = types.get(family).ok_or(format!("sample before its TYPE: {line}"))?;
                let value = parse_value(value)?;
                if kind == "counter" && value < 0.0 {
                    return Err(format!("negative counter {line}"));
                }
                if kind == "histogram" && name.ends_with("_bucket") != labels.contains_key("le") {
                    return Err(format!("le only on buckets: {line}"));
                }
                samples.push(Sample {
                    name: name.to_string(),
                    labels,
                    value,
                });
            }
        }
        // Histogram series: cumulative buckets, +Inf last and equal to _count.
        type Labels = BTreeMap<String, String>;
        let mut series: BTreeMap<(String, Labels), Vec<(f64, f64)>> = BTreeMap::new();
        for s in samples.iter().filter(|s| s.name.ends_with("_bucket")) {
            let mut key_labels = s.labels.clone();
            let le = parse_value(&key_labels.remove("le").unwrap())?;
            series
                .entry((s.name.trim_end_matches("_bucket").to_string(), key_labels))
                .or_default()
                .push((le, s.value));
        }
        for ((family, labels), buckets) in series {
            if !buckets.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1) {
                return Err(format!("{family}: buckets not ascending/cumulative"));
            }
            let last = buckets.last().unwrap();
            let count = samples
                .iter()
                .find(|s| s.name == format!("{family}_count") && s.labels == labels)
                .ok_or(format!("{family}: no _count"))?;
            if last.0 != f64::INFINITY || last.1 != count.value {
                return Err(format!("{family}: +Inf bucket must equal _count"));
            }
        }
        Ok(samples)
    }

    #[test]
    fn the_reader_rejects_broken_expositions() {
        assert!(parse("x 1\n").is_err(), "sample before TYPE");
        assert!(parse("# TYPE x counter\nx -1\n").is_err());
        assert!(parse("# TYPE x counter\nx{a=\"b} 1\n").is_err());
        assert!(parse("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n").is_err());
        assert!(parse("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 2\n").is_err());
        assert!(parse("# TYPE x counter\nx{a=\"q\\\"\"} 1\n").is_ok());
    }
}

#[tokio::test]
async fn a_pooled_connection_closed_by_the_peer_is_replaced() {
    // The peer answers each connection once (keep-alive promised) and then closes it.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/as4", listener.local_addr().unwrap());
    let _peer = tokio::spawn(async move {
        for _ in 0..3 {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let mut head = Vec::new();
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                head.extend_from_slice(&buf[..n]);
            }
            socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await
                .unwrap();
            drop(socket);
        }
    });
    let client = client_with(fast_transport());
    for _ in 0..3 {
        let r = post(&client, &url).await.unwrap();
        assert_eq!(&r.bytes().await.unwrap()[..], b"ok");
    }
}

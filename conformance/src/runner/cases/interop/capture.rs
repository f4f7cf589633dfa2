//! Real sends captured on the wire. B moves to a free port and a recording relay takes its place on B's published
//! endpoint, with B's TLS identity and B's client-certificate check; every request A sends is recorded, forwarded
//! to B over mutual TLS (A's TLS identity, which B trusts) and B's answer goes back to A unchanged. So the message
//! the tools check is exactly what A put on the wire, and the send completes with B's own receipt.

use std::sync::{Arc, Mutex};

use access_point::config::Config;
use access_point::msh::Node;
use access_point::transport::{
    serve, As4Client, As4Handler, As4Request, As4Response, HandlerFuture, OutgoingBody, Readiness, RunningServer,
    ServerSettings,
};
use http::StatusCode;
use tokio::io::AsyncReadExt;

use super::super::super::federation::Federation;

/// The largest request the relay records (the cases send a few hundred kilobytes).
const MAX_CAPTURED_BYTES: u64 = 64 * 1024 * 1024;

/// One request as it crossed the relay.
#[derive(Clone)]
pub struct Captured {
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Captured {
    /// The capture file `sdk-ap message seal` writes and the Python tools read: headers, blank line, body.
    pub fn write_capture(&self, path: &std::path::Path) -> Result<(), String> {
        let mut raw = format!(
            "Content-Type: {}\r\nContent-Length: {}\r\n\r\n",
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        raw.extend_from_slice(&self.body);
        std::fs::write(path, raw).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The SOAP envelope (root part) and the attachments `(content id, wire bytes)`, split by sdk-ap's MIME reader.
    pub async fn split(&self, spool: &std::path::Path) -> Result<(Vec<u8>, Vec<(String, Vec<u8>)>), String> {
        let mime = access_point::mime::read_message(
            &self.body[..],
            &self.content_type,
            &access_point::mime::MimeLimits::default(),
            spool,
        )
        .await
        .map_err(|e| format!("splitting the captured message: {e}"))?;
        let mut parts = Vec::new();
        for part in &mime.attachments {
            let mut bytes = Vec::new();
            let mut reader = part.reader().await.map_err(|e| format!("captured part: {e}"))?;
            tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut bytes)
                .await
                .map_err(|e| format!("captured part: {e}"))?;
            parts.push((part.content_id.clone().unwrap_or_default(), bytes));
        }
        Ok((mime.root.content, parts))
    }
}

struct Recorder {
    forward_url: String,
    client: As4Client,
    captured: Arc<Mutex<Vec<Captured>>>,
}

impl As4Handler for Recorder {
    fn handle(&self, request: As4Request) -> HandlerFuture<'_> {
        Box::pin(async move {
            let content_type = request.head.content_type().unwrap_or_default().to_string();
            let mut body = Vec::new();
            let read = request
                .body
                .into_async_read()
                .take(MAX_CAPTURED_BYTES)
                .read_to_end(&mut body)
                .await;
            if read.is_err() {
                return As4Response::empty(StatusCode::BAD_REQUEST);
            }
            if let Ok(mut captured) = self.captured.lock() {
                captured.push(Captured {
                    content_type: content_type.clone(),
                    body: body.clone(),
                });
            }
            let response = match self
                .client
                .post(
                    &self.forward_url,
                    &content_type,
                    &http::HeaderMap::new(),
                    OutgoingBody::bytes(body),
                )
                .await
            {
                Ok(response) => response,
                Err(e) => {
                    tracing::warn!(error = %e, "relay: B did not answer");
                    return As4Response::empty(StatusCode::BAD_GATEWAY);
                }
            };
            let status = response.status;
            let answer_type = response.content_type().unwrap_or("application/soap+xml").to_string();
            match response.bytes().await {
                Ok(answer) => As4Response::bytes(status, &answer_type, answer),
                Err(_) => As4Response::empty(StatusCode::BAD_GATEWAY),
            }
        })
    }
}

/// B behind the recording relay. Call [`Relay::stop`] when done: it stops the relay and this B, and leaves the
/// federation without B, so the runner starts the run's B again on its own port for the next case.
pub struct Relay {
    server: RunningServer,
    b: Node,
    captured: Arc<Mutex<Vec<Captured>>>,
}

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl Relay {
    /// Stops the run's B, starts it again on a free port, and puts the relay on B's published endpoint.
    pub async fn start(fed: &mut Federation) -> Result<Relay, String> {
        if let Some(b) = fed.b.take() {
            b.shutdown().await;
            drop(b); // releases B's store for the moved B
        }
        let published = Config::load(&fed.b_config).map_err(text)?;
        let mut moved = Config::load(&fed.b_config).map_err(text)?;
        moved.server.listen = "127.0.0.1:0".parse().map_err(text)?;
        let b = super::start_node_with(moved, super::super::super::federation::quick_retry_pmodes())
            .await
            .map_err(|e| format!("B behind the relay: {e}"))?;
        let forward_url = format!("https://localhost:{}/as4", b.local_addr().port());

        let a = Config::load(&fed.a_config).map_err(text)?;
        let a_identity = a.identity().map_err(text)?;
        let client =
            As4Client::from_config(&a, &a_identity, &a.tls_trust_store().map_err(text)?, None).map_err(text)?;
        let b_identity = published.identity().map_err(text)?;
        let settings =
            ServerSettings::from_config(&published, &b_identity, &published.tls_trust_store().map_err(text)?)
                .map_err(text)?;
        let captured = Arc::new(Mutex::new(Vec::new()));
        let recorder = Recorder {
            forward_url,
            client,
            captured: captured.clone(),
        };
        let server = match serve(
            settings,
            Arc::new(recorder),
            Arc::new(access_point::transport::ApMetrics::new()),
            Readiness::new(true),
        )
        .await
        {
            Ok(server) => server,
            Err(e) => {
                b.shutdown().await;
                return Err(format!("the relay cannot listen on B's endpoint: {e}"));
            }
        };
        Ok(Relay { server, b, captured })
    }

    /// Stops the relay and the moved B; answers every request recorded.
    pub async fn stop(self) -> Vec<Captured> {
        self.server.shutdown().await;
        self.b.shutdown().await;
        drop(self.b);
        self.captured.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

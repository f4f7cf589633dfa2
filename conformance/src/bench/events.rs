//! Outcomes of the sender's messages from its event stream (`GET /api/v1/events?types=delivered,failed`), so that
//! the benchmark learns of each `Delivered` the moment the node publishes it, without polling.
//!
//! Why not poll: every API call is a new connection, a token check and an audit line; polling hundreds of
//! in-flight messages every few milliseconds would take a large share of the two cores the access points are
//! measured on, and the latency resolution would be the poll interval. One stream costs the node one connection.
//! When the stream breaks (the node ended it, or answered with a `gap` because the reader fell behind), every
//! waiter falls back to polling the message's state ([`DeliveryWatch::wait`] says which way it learned).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use access_point::api::tokens::ApiToken;
use access_point::api::ApiClient;
use access_point::store::State;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

/// The final outcome of an outbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver's signed receipt was verified and stored.
    Delivered,
    /// Failed for good, with the reason.
    Failed(String),
}

/// An outcome and the moment the benchmark learned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub outcome: Outcome,
    pub at: Instant,
    /// True when learned by polling after the event stream broke (latency then has the poll interval's
    /// resolution).
    pub polled: bool,
}

#[derive(Default)]
struct Book {
    /// Outcomes that arrived before anyone waited for them (a small message may be delivered before its
    /// submitter has read the 202 answer).
    arrived: HashMap<String, Seen>,
    waiting: HashMap<String, oneshot::Sender<Seen>>,
    /// Why the stream ended, once it has.
    broken: Option<String>,
}

impl Book {
    fn record(&mut self, message_id: String, seen: Seen) {
        match self.waiting.remove(&message_id) {
            Some(waiter) => {
                let _ = waiter.send(seen);
            }
            None => {
                self.arrived.insert(message_id, seen);
            }
        }
    }

    fn break_with(&mut self, reason: String) {
        self.broken.get_or_insert(reason);
        // Dropping the senders wakes every waiter, which then polls.
        self.waiting.clear();
    }
}

/// Errors opening the event stream.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("the API token: {0}")]
    Token(String),
    #[error("connecting to the event stream at {addr}: {detail}")]
    Connect { addr: SocketAddr, detail: String },
    #[error("the event stream answered {status}: {body}")]
    Refused { status: http::StatusCode, body: String },
}

/// A subscription to one node's `delivered` and `failed` events.
pub struct DeliveryWatch {
    book: Arc<Mutex<Book>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for DeliveryWatch {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// The token `init` wrote for the node's own clients (`[api] client_token_file`), if the API authenticates.
pub(crate) fn operator_token(config: &access_point::config::Config) -> Result<Option<ApiToken>, WatchError> {
    if config.api.authentication == access_point::config::ApiAuthentication::None {
        return Ok(None);
    }
    let path = config
        .api
        .client_token_file
        .as_ref()
        .ok_or_else(|| WatchError::Token("[api] client_token_file is not set".into()))?;
    ApiToken::read_file(path)
        .map(Some)
        .map_err(|e| WatchError::Token(e.to_string()))
}

impl DeliveryWatch {
    /// Opens the stream of the node at `addr` (configured by `config`) and starts reading it.
    pub async fn open(addr: SocketAddr, config: &access_point::config::Config) -> Result<DeliveryWatch, WatchError> {
        let token = operator_token(config)?;
        let connect_error = |detail: String| WatchError::Connect { addr, detail };
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| connect_error(e.to_string()))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| connect_error(e.to_string()))?;
        let driver = tokio::spawn(connection);
        let mut request = http::Request::get("/api/v1/events?types=delivered,failed")
            .header(http::header::HOST, addr.to_string())
            .header(http::header::ACCEPT, "text/event-stream");
        if let Some(token) = token {
            request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .map_err(|e| connect_error(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| connect_error(e.to_string()))?;
        if response.status() != http::StatusCode::OK {
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
                .unwrap_or_default();
            driver.abort();
            return Err(WatchError::Refused { status, body });
        }
        let book = Arc::new(Mutex::new(Book::default()));
        let reader_book = book.clone();
        let reader = tokio::spawn(async move {
            let mut body = response.into_body();
            let mut parser = EventParser::default();
            let reason = loop {
                match body.frame().await {
                    None => break "the node ended the event stream".to_string(),
                    Some(Err(e)) => break format!("reading the event stream: {e}"),
                    Some(Ok(frame)) => {
                        let Ok(data) = frame.into_data() else { continue };
                        let now = Instant::now();
                        let mut events = Vec::new();
                        parser.feed(&data, &mut events);
                        let mut book = reader_book.lock().unwrap_or_else(|p| p.into_inner());
                        for event in events {
                            match event {
                                StreamEvent::Outcome { message_id, outcome } => book.record(
                                    message_id,
                                    Seen {
                                        outcome,
                                        at: now,
                                        polled: false,
                                    },
                                ),
                                StreamEvent::Gap => book.break_with("the event stream reported a gap".into()),
                            }
                        }
                    }
                }
            };
            reader_book.lock().unwrap_or_else(|p| p.into_inner()).break_with(reason);
            driver.abort();
        });
        Ok(DeliveryWatch { book, reader })
    }

    /// Why the stream stopped, if it has (outcomes were then polled).
    pub fn broken(&self) -> Option<String> {
        self.book.lock().unwrap_or_else(|p| p.into_inner()).broken.clone()
    }

    /// Waits for the outcome of `message_id` until `deadline`: from the stream, or, once the stream has broken, by
    /// polling the message's state through `client` every `poll`.
    pub async fn wait(
        &self,
        client: &ApiClient,
        message_id: &str,
        poll: Duration,
        deadline: Instant,
    ) -> Result<Seen, String> {
        let receiver = {
            let mut book = self.book.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(seen) = book.arrived.remove(message_id) {
                return Ok(seen);
            }
            if book.broken.is_none() {
                let (sender, receiver) = oneshot::channel();
                book.waiting.insert(message_id.to_string(), sender);
                Some(receiver)
            } else {
                None
            }
        };
        if let Some(receiver) = receiver {
            match tokio::time::timeout_at(deadline.into(), receiver).await {
                Ok(Ok(seen)) => return Ok(seen),
                Ok(Err(_)) => {} // the stream broke: poll below
                Err(_) => return Err(format!("{message_id}: no outcome in time")),
            }
        }
        loop {
            if let Some(view) = client
                .message(message_id)
                .await
                .map_err(|e| format!("status of {message_id}: {e}"))?
            {
                let outcome = match view.state {
                    State::Delivered => Some(Outcome::Delivered),
                    State::Failed => Some(Outcome::Failed(format!("{:?}", view.last_error))),
                    _ => None,
                };
                if let Some(outcome) = outcome {
                    return Ok(Seen {
                        outcome,
                        at: Instant::now(),
                        polled: true,
                    });
                }
            }
            if Instant::now() > deadline {
                return Err(format!("{message_id}: no outcome in time"));
            }
            tokio::time::sleep(poll).await;
        }
    }
}

/// What the benchmark takes from one server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StreamEvent {
    Outcome { message_id: String, outcome: Outcome },
    Gap,
}

/// Reassembles `text/event-stream` lines across frames (only `data:` and the blank line that ends an event matter
/// here; the JSON names the type).
#[derive(Default)]
struct EventParser {
    line: Vec<u8>,
    data: String,
}

impl EventParser {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) {
        for &b in bytes {
            if b != b'\n' {
                self.line.push(b);
                continue;
            }
            let line = String::from_utf8_lossy(&self.line).trim_end_matches('\r').to_string();
            self.line.clear();
            if line.is_empty() {
                let data = std::mem::take(&mut self.data);
                if let Some(event) = parse_event(&data) {
                    out.push(event);
                }
            } else if let Some(value) = line.strip_prefix("data:") {
                if !self.data.is_empty() {
                    self.data.push('\n');
                }
                self.data.push_str(value.strip_prefix(' ').unwrap_or(value));
            }
        }
    }
}

fn parse_event(data: &str) -> Option<StreamEvent> {
    let value: serde_json::Value = serde_json::from_str(data).ok()?;
    let message_id = || value["data"]["message_id"].as_str().map(str::to_string);
    match value["type"].as_str()? {
        "delivered" => Some(StreamEvent::Outcome {
            message_id: message_id()?,
            outcome: Outcome::Delivered,
        }),
        "failed" => Some(StreamEvent::Outcome {
            message_id: message_id()?,
            outcome: Outcome::Failed(value["data"]["reason"].as_str().unwrap_or("failed").to_string()),
        }),
        "gap" => Some(StreamEvent::Gap),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_reassembled_across_frames() {
        let text =
            "id: 1\nevent: delivered\ndata: {\"id\":\"1\",\"type\":\"delivered\",\"data\":{\"message_id\":\"m1\"}}\n\n\
            : heartbeat\n\nid: 2\r\nevent: failed\r\ndata: {\"type\":\"failed\",\"data\":{\"message_id\":\"m2\",\
            \"reason\":\"EBMS:0004 x\"}}\r\n\r\nevent: gap\ndata: {\"type\":\"gap\",\"last_event_id\":\"0\"}\n\n";
        let mut parser = EventParser::default();
        let mut events = Vec::new();
        for chunk in text.as_bytes().chunks(7) {
            parser.feed(chunk, &mut events);
        }
        assert_eq!(
            events,
            vec![
                StreamEvent::Outcome {
                    message_id: "m1".into(),
                    outcome: Outcome::Delivered
                },
                StreamEvent::Outcome {
                    message_id: "m2".into(),
                    outcome: Outcome::Failed("EBMS:0004 x".into())
                },
                StreamEvent::Gap,
            ]
        );
    }

    #[test]
    fn an_outcome_before_its_waiter_is_kept_and_a_break_wakes_waiters() {
        let mut book = Book::default();
        let seen = Seen {
            outcome: Outcome::Delivered,
            at: Instant::now(),
            polled: false,
        };
        book.record("early".into(), seen.clone());
        assert_eq!(book.arrived.get("early"), Some(&seen));
        let (sender, mut receiver) = oneshot::channel();
        book.waiting.insert("late".into(), sender);
        book.break_with("gone".into());
        assert!(matches!(receiver.try_recv(), Err(oneshot::error::TryRecvError::Closed)));
        assert_eq!(book.broken.as_deref(), Some("gone"));
    }
}

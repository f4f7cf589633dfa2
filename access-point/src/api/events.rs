//! `GET /api/v1/events`: the node's events as server-sent events (`text/event-stream`).
//!
//! Each event is one SSE message: `id:` (the event id), `event:` (its type) and one `data:` line holding the event
//! JSON ([`EventRecord::to_json`]). Only events within the caller's scope are sent ([`Caller::allows`] with
//! [`Permission::Read`] for the organisation and functional address of the event); `?types=delivered,failed`
//! narrows them further. An idle stream gets a comment line every `[api.events] heartbeat_ms`.
//!
//! A client that reconnects with `Last-Event-ID` first gets the events after that id that the node still holds in
//! its replay ring. When the ring no longer reaches back that far (or the id is unknown, e.g. from before a
//! restart), the stream starts with a `gap` event instead: events may have been missed, and the client should
//! re-read state (message status, inbox) through the API. The gap event's `id` is the newest event id at that
//! moment, so the next reconnect resumes from there. A client that reads too slowly is caught up from the ring the
//! same way, or told of a gap.
//!
//! The stream ends when the client disconnects (the response body is dropped with the connection, and its
//! subscription with it) and when the API shuts down ([`crate::msh::EventBus::end_streams`]).

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use tokio::sync::{broadcast, watch};

use super::auth::{AddressRef, Caller, Permission};
use super::{boxed, problem, ApiBody, ProblemType};
use crate::config::EventsConfig;
use crate::msh::events::{EventRecord, Gap, StreamPermit, EVENT_TYPES};
use crate::msh::{EventBus, Node};

/// The SSE `event:` name of the gap notice.
pub const GAP_EVENT: &str = "gap";

/// `GET /api/v1/events` for `caller`.
pub fn handle<B>(node: &Node, caller: &Caller, request: &Request<B>) -> Response<ApiBody> {
    let last_event_id = request
        .headers()
        .get("last-event-id")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    respond(
        node.events(),
        caller,
        request.uri().query(),
        last_event_id.as_deref(),
        &node.config().api.events,
    )
}

/// The event-stream response for `caller`: `query` is the request's query string (`types=…`), `last_event_id` the
/// `Last-Event-ID` header. Public so that the scope filter can be exercised with any [`Caller`].
pub fn respond(
    bus: &EventBus,
    caller: &Caller,
    query: Option<&str>,
    last_event_id: Option<&str>,
    settings: &EventsConfig,
) -> Response<ApiBody> {
    let types = match parse_types(query) {
        Ok(types) => types,
        Err(detail) => return boxed(problem(ProblemType::BadRequest, detail)),
    };
    let max = usize::try_from(settings.max_streams).unwrap_or(usize::MAX);
    let Some(permit) = bus.try_open_stream(max) else {
        return boxed(problem(
            ProblemType::TooManyStreams,
            format!("{max} event streams are open ([api.events] max_streams); try again later"),
        ));
    };
    let stream = EventStream::open(bus, caller.clone(), types, last_event_id, settings.heartbeat(), permit);
    let body = StreamBody::new(futures_util::stream::unfold(stream, EventStream::next)).boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies that buffer responses (nginx) would hold events back.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// `types=a,b` (repeatable); `None` when absent (every type). Public for the fuzz target.
pub fn parse_types(query: Option<&str>) -> Result<Option<Vec<&'static str>>, String> {
    let mut wanted: Option<Vec<&'static str>> = None;
    for pair in query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name != "types" {
            return Err(format!("unknown query parameter {name:?} (only `types`)"));
        }
        let value = super::server::percent_decode(&value.replace('+', " "))
            .ok_or_else(|| "the `types` parameter is not valid percent-encoded UTF-8".to_string())?;
        let list = wanted.get_or_insert_with(Vec::new);
        for name in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let known = EVENT_TYPES
                .iter()
                .find(|t| **t == name)
                .ok_or_else(|| format!("unknown event type {name:?} (known: {})", EVENT_TYPES.join(", ")))?;
            list.push(known);
        }
    }
    Ok(wanted)
}

/// The state of one open stream, driven by the response body.
struct EventStream {
    bus: EventBus,
    caller: Caller,
    types: Option<Vec<&'static str>>,
    receiver: broadcast::Receiver<Arc<EventRecord>>,
    /// The newest event id considered (sent or filtered out); later copies of it or older ones are skipped.
    last_id: u64,
    pending: VecDeque<Bytes>,
    heartbeat: tokio::time::Interval,
    end: watch::Receiver<u64>,
    done: bool,
    /// Counts this stream against `[api.events] max_streams` until it is dropped.
    _permit: StreamPermit,
}

impl EventStream {
    fn open(
        bus: &EventBus,
        caller: Caller,
        types: Option<Vec<&'static str>>,
        last_event_id: Option<&str>,
        heartbeat: Duration,
        permit: StreamPermit,
    ) -> EventStream {
        let mut end = bus.streams_end_signal();
        end.mark_unchanged();
        let asked = last_event_id.map(str::trim).filter(|id| !id.is_empty());
        // An id we cannot read was not issued by us: asking after u64::MAX yields the gap with the newest id.
        let parsed = asked.map(|id| id.parse::<u64>().unwrap_or(u64::MAX));
        let subscription = bus.subscribe_after(parsed);
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stream = EventStream {
            bus: bus.clone(),
            caller,
            types,
            receiver: subscription.receiver,
            last_id: parsed.filter(|id| *id != u64::MAX).unwrap_or(0),
            pending: VecDeque::from([Bytes::from_static(b": sdk-ap events\n\n")]),
            heartbeat,
            end,
            done: false,
            _permit: permit,
        };
        if let Some(gap) = subscription.gap {
            stream.gap(gap, asked.unwrap_or_default());
        }
        for record in &subscription.replay {
            stream.consider(record);
        }
        stream
    }

    fn wants(&self, record: &EventRecord) -> bool {
        let event = &record.event;
        let type_ok = self.types.as_ref().is_none_or(|t| t.contains(&event.type_name()));
        type_ok
            && self.caller.allows(
                Permission::Read,
                AddressRef {
                    organisation: event.organisation(),
                    functional_address: event.functional_address(),
                },
            )
    }

    fn consider(&mut self, record: &EventRecord) {
        if record.id <= self.last_id {
            return;
        }
        self.last_id = record.id;
        if self.wants(record) {
            self.pending.push_back(sse_message(
                Some(record.id),
                record.event.type_name(),
                &record.to_json(),
            ));
        }
    }

    fn gap(&mut self, gap: Gap, asked: &str) {
        if let Some(newest) = gap.newest {
            self.last_id = self.last_id.max(newest);
        }
        let data = serde_json::json!({
            "type": GAP_EVENT,
            "last_event_id": asked,
            "resume_from": gap.newest.map(|id| id.to_string()),
            "detail": "events after last_event_id are no longer held; some may have been missed. Re-read message \
                       status and the inbox through the API; the stream continues with new events.",
        });
        self.pending.push_back(sse_message(gap.newest, GAP_EVENT, &data));
    }

    async fn next(mut self) -> Option<(Result<Frame<Bytes>, io::Error>, EventStream)> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Some((Ok(Frame::data(chunk)), self));
            }
            if self.done {
                return None;
            }
            tokio::select! {
                biased;
                _ = self.end.changed() => self.done = true,
                received = self.receiver.recv() => match received {
                    Ok(record) => self.consider(&record),
                    Err(broadcast::error::RecvError::Lagged(_)) => match self.bus.records_after(self.last_id) {
                        Ok(records) => records.iter().for_each(|r| self.consider(r)),
                        Err(gap) => {
                            let asked = self.last_id.to_string();
                            self.gap(gap, &asked);
                        }
                    },
                    Err(broadcast::error::RecvError::Closed) => self.done = true,
                },
                _ = self.heartbeat.tick() => self.pending.push_back(Bytes::from_static(b": heartbeat\n\n")),
            }
        }
    }
}

/// One SSE message. The JSON is one line (serde_json writes no raw newlines), so one `data:` line suffices.
fn sse_message(id: Option<u64>, event: &str, data: &serde_json::Value) -> Bytes {
    let mut text = String::new();
    if let Some(id) = id {
        text.push_str(&format!("id: {id}\n"));
    }
    text.push_str(&format!("event: {event}\ndata: {data}\n\n"));
    Bytes::from(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_parsed_and_checked() {
        assert_eq!(parse_types(None).unwrap(), None);
        assert_eq!(
            parse_types(Some("types=delivered%2Cfailed&types=inbox_message")).unwrap(),
            Some(vec!["delivered", "failed", "inbox_message"])
        );
        assert!(parse_types(Some("types=delivred")).unwrap_err().contains("delivred"));
        assert!(parse_types(Some("since=1")).is_err());
    }

    #[test]
    fn messages_have_id_event_and_one_data_line() {
        let text = sse_message(Some(7), "delivered", &serde_json::json!({"a": "x\ny"}));
        assert_eq!(
            text,
            Bytes::from("id: 7\nevent: delivered\ndata: {\"a\":\"x\\ny\"}\n\n")
        );
    }
}

//! The access point's event bus: what message systems may want to learn as it happens (a new inbox message, a
//! delivery, a failure, a kvittens). The API turns it into server-sent events and webhooks.
//!
//! Every published event becomes an [`EventRecord`] with a numeric id, increasing within a process. Ids start at the
//! Unix time in microseconds when the bus was created, so the ids of a later run are larger than those of an earlier
//! one and a client's `Last-Event-ID` from before a restart is recognised as a gap. The bus keeps the most recent
//! records in a bounded ring (`[api.events] replay_events`) so that a client that reconnects can resume
//! ([`EventBus::subscribe_after`]); older events are gone, and the client is told so.
//!
//! Publishing never blocks and never fails: a subscriber that falls behind by more than [`EVENT_CHANNEL_CAPACITY`]
//! events loses the oldest (it sees `RecvError::Lagged` and can resume from the ring or re-read state from the
//! store). Events live in memory only: what a message system must not miss is also in the store (message state,
//! inbox), and webhook deliveries are made durable by the API as soon as they are queued.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use super::outcome::Outcome;
use crate::store::{State, Timestamp};

/// How many events a slow subscriber may fall behind before it loses the oldest.
pub const EVENT_CHANNEL_CAPACITY: usize = 4096;
/// Default size of the replay ring (`[api.events] replay_events`).
pub const DEFAULT_REPLAY_EVENTS: usize = 1024;

/// One event. Every variant names the message by its ebMS MessageId and the functional address / participant it
/// concerns, so that a subscriber's scope can be checked per event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ApEvent {
    /// An inbound business message is in the inbox of `functional_address` (of participant `recipient`).
    InboxMessage {
        message_id: String,
        recipient: String,
        functional_address: Option<String>,
        sender: String,
    },
    /// An outbound message was delivered: the receiving AP's signed receipt is stored.
    Delivered {
        message_id: String,
        sender: String,
        functional_address: Option<String>,
    },
    /// An outbound message failed for good.
    Failed {
        message_id: String,
        sender: String,
        functional_address: Option<String>,
        reason: String,
    },
    /// A kvittens (ACCEPTED / REJECTED) arrived for an outbound message.
    KvittensReceived {
        message_id: String,
        sender: String,
        functional_address: Option<String>,
        response_code: String,
    },
}

/// The `type` names of the events, as they appear in JSON, SSE `event:` lines and `[[api.webhooks]] events`.
pub const EVENT_TYPES: [&str; 4] = ["inbox_message", "delivered", "failed", "kvittens_received"];

impl ApEvent {
    /// The `type` name (one of [`EVENT_TYPES`]).
    pub fn type_name(&self) -> &'static str {
        match self {
            ApEvent::InboxMessage { .. } => "inbox_message",
            ApEvent::Delivered { .. } => "delivered",
            ApEvent::Failed { .. } => "failed",
            ApEvent::KvittensReceived { .. } => "kvittens_received",
        }
    }

    /// The ebMS MessageId of the message concerned.
    pub fn message_id(&self) -> &str {
        match self {
            ApEvent::InboxMessage { message_id, .. }
            | ApEvent::Delivered { message_id, .. }
            | ApEvent::Failed { message_id, .. }
            | ApEvent::KvittensReceived { message_id, .. } => message_id,
        }
    }

    /// The organisation (participant id) whose scope covers the event: the recipient of an inbound message, the
    /// sender of an outbound one.
    pub fn organisation(&self) -> &str {
        match self {
            ApEvent::InboxMessage { recipient, .. } => recipient,
            ApEvent::Delivered { sender, .. }
            | ApEvent::Failed { sender, .. }
            | ApEvent::KvittensReceived { sender, .. } => sender,
        }
    }

    /// The functional address of that organisation the event concerns, when known.
    pub fn functional_address(&self) -> Option<&str> {
        match self {
            ApEvent::InboxMessage { functional_address, .. }
            | ApEvent::Delivered { functional_address, .. }
            | ApEvent::Failed { functional_address, .. }
            | ApEvent::KvittensReceived { functional_address, .. } => functional_address.as_deref(),
        }
    }
}

/// A published event with its id and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub id: u64,
    pub at: Timestamp,
    pub event: ApEvent,
}

impl EventRecord {
    /// The JSON document sent to message systems (SSE `data:` and webhook body):
    /// `{"id": "…", "type": "delivered", "timestamp": "RFC 3339", "data": {"message_id": …, …}}`.
    /// The id is a string (it exceeds the integers JavaScript holds exactly in some years).
    pub fn to_json(&self) -> serde_json::Value {
        let mut data = serde_json::to_value(&self.event).unwrap_or_default();
        if let Some(fields) = data.as_object_mut() {
            fields.remove("type");
        }
        serde_json::json!({
            "id": self.id.to_string(),
            "type": self.event.type_name(),
            "timestamp": self.at.to_rfc3339(),
            "data": data,
        })
    }
}

/// Why a subscriber cannot resume after an id: the ring no longer (or never) held the events after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// The id the subscriber asked to resume after.
    pub last_seen: u64,
    /// The newest id issued so far (the subscriber continues after it); `None` when none was issued yet.
    pub newest: Option<u64>,
}

/// A subscription made by [`EventBus::subscribe_after`]: what to replay first, then the live receiver.
#[derive(Debug)]
pub struct Subscription {
    /// Records after the requested id still in the ring (empty on a gap or a fresh subscription).
    pub replay: Vec<Arc<EventRecord>>,
    /// Set when the requested id is too old (or unknown): events may have been missed.
    pub gap: Option<Gap>,
    /// Records published after the subscription.
    pub receiver: broadcast::Receiver<Arc<EventRecord>>,
}

struct Ring {
    first_id: u64,
    next_id: u64,
    records: VecDeque<Arc<EventRecord>>,
    capacity: usize,
}

impl Ring {
    /// The records after `last_seen`, or the gap when the ring does not reach back to it.
    fn after(&self, last_seen: u64) -> Result<Vec<Arc<EventRecord>>, Gap> {
        let gap = Gap {
            last_seen,
            newest: (self.next_id > self.first_id).then(|| self.next_id - 1),
        };
        if last_seen >= self.next_id {
            // An id this bus never issued (a different or newer run): nothing to resume from.
            return Err(gap);
        }
        let oldest_kept = self.records.front().map_or(self.next_id, |r| r.id);
        if last_seen.saturating_add(1) < oldest_kept {
            return Err(gap);
        }
        Ok(self.records.iter().filter(|r| r.id > last_seen).cloned().collect())
    }
}

struct BusInner {
    ring: Mutex<Ring>,
    records: broadcast::Sender<Arc<EventRecord>>,
    events: broadcast::Sender<ApEvent>,
    /// Bumped to end the streams open now (API shutdown).
    streams_end: watch::Sender<u64>,
    /// Event streams open now (held by [`StreamPermit`]s).
    open_streams: AtomicUsize,
}

/// One open event stream, counted against a limit until dropped.
pub struct StreamPermit {
    bus: Arc<BusInner>,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        self.bus.open_streams.fetch_sub(1, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for StreamPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamPermit")
    }
}

/// Fan-out of [`ApEvent`]s to any number of subscribers, with a replay ring. Cheap to clone (shared).
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<BusInner>,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("subscribers", &self.subscriber_count())
            .finish_non_exhaustive()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new()
    }
}

impl EventBus {
    /// A bus with the default replay ring ([`DEFAULT_REPLAY_EVENTS`]).
    pub fn new() -> EventBus {
        EventBus::with_replay_capacity(DEFAULT_REPLAY_EVENTS)
    }

    /// A bus whose ring keeps the last `replay_events` records (0: no replay, every resume is a gap).
    pub fn with_replay_capacity(replay_events: usize) -> EventBus {
        let first_id = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 2))
            .max(1);
        EventBus::starting_at(first_id, replay_events)
    }

    fn starting_at(first_id: u64, replay_events: usize) -> EventBus {
        let (records, _) = broadcast::channel(EVENT_CHANNEL_CAPACITY);
        let (events, _) = broadcast::channel(EVENT_CHANNEL_CAPACITY);
        let (streams_end, _) = watch::channel(0);
        EventBus {
            inner: Arc::new(BusInner {
                ring: Mutex::new(Ring {
                    first_id,
                    next_id: first_id,
                    records: VecDeque::with_capacity(replay_events.min(4096)),
                    capacity: replay_events,
                }),
                records,
                events,
                streams_end,
                open_streams: AtomicUsize::new(0),
            }),
        }
    }

    /// Publishes to the current subscribers (none is fine) and keeps the record in the ring. Returns its id.
    pub fn publish(&self, event: ApEvent) -> u64 {
        let mut ring = self.inner.ring.lock().unwrap_or_else(|p| p.into_inner());
        let id = ring.next_id;
        ring.next_id += 1;
        let record = Arc::new(EventRecord {
            id,
            at: Timestamp::now(),
            event: event.clone(),
        });
        if ring.capacity > 0 {
            if ring.records.len() >= ring.capacity {
                ring.records.pop_front();
            }
            ring.records.push_back(record.clone());
        }
        // Sent under the lock, so every receiver sees records in id order and a subscription made under the same
        // lock neither misses nor repeats one.
        let _ = self.inner.records.send(record);
        let _ = self.inner.events.send(event);
        id
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ApEvent> {
        self.inner.events.subscribe()
    }

    /// Records from now on, after replaying those after `last_seen` that the ring still holds. A `last_seen` older
    /// than the ring (or unknown) yields a [`Gap`] and no replay.
    pub fn subscribe_after(&self, last_seen: Option<u64>) -> Subscription {
        let ring = self.inner.ring.lock().unwrap_or_else(|p| p.into_inner());
        let receiver = self.inner.records.subscribe();
        let (replay, gap) = match last_seen.map(|id| ring.after(id)) {
            None => (Vec::new(), None),
            Some(Ok(records)) => (records, None),
            Some(Err(gap)) => (Vec::new(), Some(gap)),
        };
        Subscription { replay, gap, receiver }
    }

    /// The records after `last_seen` still in the ring (a lagging subscriber catching up), or the gap.
    pub fn records_after(&self, last_seen: u64) -> Result<Vec<Arc<EventRecord>>, Gap> {
        let ring = self.inner.ring.lock().unwrap_or_else(|p| p.into_inner());
        ring.after(last_seen)
    }

    /// Current subscribers of the records (open event streams, webhook dispatchers): lets tests prove that a
    /// closed stream let go of its subscription.
    pub fn subscriber_count(&self) -> usize {
        self.inner.records.receiver_count()
    }

    /// A permit for one more event stream, unless `max` are open already.
    pub fn try_open_stream(&self, max: usize) -> Option<StreamPermit> {
        let opened = self
            .inner
            .open_streams
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < max).then_some(n + 1));
        opened.ok().map(|_| StreamPermit {
            bus: self.inner.clone(),
        })
    }

    /// Event streams open now.
    pub fn open_streams(&self) -> usize {
        self.inner.open_streams.load(Ordering::SeqCst)
    }

    /// A signal that changes when [`EventBus::end_streams`] is called.
    pub fn streams_end_signal(&self) -> watch::Receiver<u64> {
        self.inner.streams_end.subscribe()
    }

    /// Ends the event streams open now (their consumers see the end of the stream); later streams are unaffected.
    pub fn end_streams(&self) {
        self.inner.streams_end.send_modify(|generation| *generation += 1);
    }
}

/// Turns the node's outcomes (Delivered / Failed of outbound messages) into [`ApEvent`]s, with the sender the
/// outcome carries (the `originalSender` participant, or the From party when there is none). The functional address
/// of the sender is not stored with outbound messages yet, so it stays `None`.
pub(crate) fn spawn_outcome_bridge(mut outcomes: broadcast::Receiver<Outcome>, bus: EventBus, stop: CancellationToken) {
    tokio::spawn(async move {
        loop {
            let outcome = tokio::select! {
                _ = stop.cancelled() => break,
                received = outcomes.recv() => match received {
                    Ok(outcome) => outcome,
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "events: outcomes missed (the bridge fell behind); their state is in the store");
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            };
            if let Some(event) = outcome_event(outcome) {
                bus.publish(event);
            }
        }
    });
}

fn outcome_event(outcome: Outcome) -> Option<ApEvent> {
    let Outcome {
        message_id,
        state,
        sender,
        reason,
        ..
    } = outcome;
    match state {
        State::Delivered => Some(ApEvent::Delivered {
            message_id,
            sender,
            functional_address: None,
        }),
        State::Failed => Some(ApEvent::Failed {
            message_id,
            sender,
            functional_address: None,
            reason,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivered(id: &str) -> ApEvent {
        ApEvent::Delivered {
            message_id: id.into(),
            sender: "0203:a.example".into(),
            functional_address: None,
        }
    }

    #[tokio::test]
    async fn subscribers_see_events_published_after_they_subscribed() {
        let bus = EventBus::new();
        bus.publish(delivered("before"));
        let mut rx = bus.subscribe();
        let event = ApEvent::Failed {
            message_id: "m1".into(),
            sender: "s".into(),
            functional_address: Some("fa".into()),
            reason: "EBMS:0004".into(),
        };
        bus.publish(event.clone());
        assert_eq!(rx.recv().await.unwrap(), event);
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], "failed");
    }

    #[test]
    fn type_names_match_the_serialized_tag() {
        let events = [
            ApEvent::InboxMessage {
                message_id: "m".into(),
                recipient: "r".into(),
                functional_address: None,
                sender: "s".into(),
            },
            delivered("m"),
            ApEvent::Failed {
                message_id: "m".into(),
                sender: "s".into(),
                functional_address: None,
                reason: "x".into(),
            },
            ApEvent::KvittensReceived {
                message_id: "m".into(),
                sender: "s".into(),
                functional_address: None,
                response_code: "AP".into(),
            },
        ];
        for (event, name) in events.iter().zip(EVENT_TYPES) {
            assert_eq!(event.type_name(), name);
            assert_eq!(serde_json::to_value(event).unwrap()["type"], name);
        }
    }

    #[test]
    fn records_serialize_with_string_id_type_timestamp_and_data() {
        let record = EventRecord {
            id: 1_764_000_000_000_001,
            at: Timestamp(0),
            event: delivered("m1"),
        };
        let json = record.to_json();
        assert_eq!(json["id"], "1764000000000001");
        assert_eq!(json["type"], "delivered");
        assert_eq!(json["timestamp"], "1970-01-01T00:00:00Z");
        assert_eq!(json["data"]["message_id"], "m1");
        assert!(json["data"].get("type").is_none());
    }

    #[test]
    fn resume_replays_what_the_ring_holds_and_reports_a_gap_beyond_it() {
        let bus = EventBus::starting_at(100, 3);
        for i in 0..5 {
            assert_eq!(bus.publish(delivered(&format!("m{i}"))), 100 + i);
        }
        // The ring holds 102, 103, 104.
        let ids = |s: &Subscription| s.replay.iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(&bus.subscribe_after(Some(102))), vec![103, 104]);
        assert_eq!(ids(&bus.subscribe_after(Some(101))), vec![102, 103, 104]);
        assert!(bus.subscribe_after(Some(104)).replay.is_empty());
        assert!(bus.subscribe_after(Some(104)).gap.is_none());
        let gap = bus.subscribe_after(Some(100)).gap.expect("101 is gone");
        assert_eq!(gap.newest, Some(104));
        assert!(bus.subscribe_after(Some(5000)).gap.is_some(), "an id never issued");
        assert!(bus.subscribe_after(Some(7)).gap.is_some(), "an id of an earlier run");
        assert!(bus.subscribe_after(None).gap.is_none());
    }

    #[tokio::test]
    async fn a_subscription_neither_misses_nor_repeats_around_the_replay() {
        let bus = EventBus::starting_at(1, 10);
        bus.publish(delivered("a"));
        let mut sub = bus.subscribe_after(Some(0));
        bus.publish(delivered("b"));
        assert_eq!(sub.replay.len(), 1);
        assert_eq!(sub.replay[0].id, 1);
        assert_eq!(sub.receiver.recv().await.unwrap().id, 2);
        assert!(sub.receiver.try_recv().is_err());
    }

    #[test]
    fn stream_permits_are_bounded_and_returned_on_drop() {
        let bus = EventBus::new();
        let first = bus.try_open_stream(2).unwrap();
        let _second = bus.try_open_stream(2).unwrap();
        assert!(bus.try_open_stream(2).is_none());
        drop(first);
        assert_eq!(bus.open_streams(), 1);
        assert!(bus.try_open_stream(2).is_some());
    }

    #[test]
    fn without_a_ring_every_resume_is_a_gap() {
        let bus = EventBus::starting_at(10, 0);
        bus.publish(delivered("a"));
        assert_eq!(bus.subscribe_after(Some(9)).gap.and_then(|g| g.newest), Some(10));
        assert!(bus.subscribe_after(Some(10)).gap.is_none());
    }
}

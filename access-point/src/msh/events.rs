//! The access point's event bus: what message systems may want to learn as it happens (a new inbox message, a
//! delivery, a failure, a kvittens). The API turns it into server-sent events and webhooks.
//!
//! Publishing never blocks and never fails: a subscriber that falls behind by more than [`EVENT_CHANNEL_CAPACITY`]
//! events loses the oldest (it sees `RecvError::Lagged` and can re-read state from the store).

use serde::Serialize;
use tokio::sync::broadcast;

/// How many events a slow subscriber may fall behind before it loses the oldest.
pub const EVENT_CHANNEL_CAPACITY: usize = 4096;

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

/// Fan-out of [`ApEvent`]s to any number of subscribers.
#[derive(Debug, Clone)]
pub struct EventBus {
    sender: broadcast::Sender<ApEvent>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new()
    }
}

impl EventBus {
    pub fn new() -> EventBus {
        let (sender, _) = broadcast::channel(EVENT_CHANNEL_CAPACITY);
        EventBus { sender }
    }

    /// Publishes to the current subscribers (none is fine).
    pub fn publish(&self, event: ApEvent) {
        let _ = self.sender.send(event);
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ApEvent> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_see_events_published_after_they_subscribed() {
        let bus = EventBus::new();
        bus.publish(ApEvent::Delivered {
            message_id: "before".into(),
            sender: "s".into(),
            functional_address: None,
        });
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
}

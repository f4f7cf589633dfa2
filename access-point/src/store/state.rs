//! Message states and the only transitions between them.
//!
//! Outbound: `Submitted → Sending → {Delivered | WaitingRetry | Failed}`, `WaitingRetry → Sending`, and an operator or
//! pipeline may give up on a message that has not been delivered (`Submitted | WaitingRetry → Failed`).
//! Inbound: `Received → Fetched → Acknowledged`, `Received → Acknowledged` (push delivery), and `Fetched → Received`
//! (a fetch whose acknowledgement never came is handed out again). `Delivered`, `Failed` and `Acknowledged` are final.

use serde::{Deserialize, Serialize};

/// Which way a message travels through this access point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Submitted locally, sent to another access point.
    Outbound,
    /// Received from another access point, handed to the local side.
    Inbound,
}

impl Direction {
    /// Stable lower-case name (`outbound`, `inbound`), as used in JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
        }
    }

    /// The states a message of this direction can be in, in lifecycle order.
    pub fn states(self) -> &'static [State] {
        match self {
            Direction::Outbound => &OUTBOUND_STATES,
            Direction::Inbound => &INBOUND_STATES,
        }
    }
}

const OUTBOUND_STATES: [State; 5] = [
    State::Submitted,
    State::Sending,
    State::WaitingRetry,
    State::Delivered,
    State::Failed,
];
const INBOUND_STATES: [State; 3] = [State::Received, State::Fetched, State::Acknowledged];

/// Where a message is in its lifecycle. Each state belongs to exactly one [`Direction`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Outbound: accepted from the producer, durably stored, not yet tried.
    Submitted,
    /// Outbound: claimed by a sender task that holds a lease on it.
    Sending,
    /// Outbound: an attempt failed in a retryable way; scheduled for a later attempt.
    WaitingRetry,
    /// Outbound: a verified receipt proves delivery (final).
    Delivered,
    /// Outbound: a final error or retries exhausted (final).
    Failed,
    /// Inbound: stored and receipted, not yet handed to the local side.
    Received,
    /// Inbound: handed to the local side, acknowledgement pending.
    Fetched,
    /// Inbound: the local side confirmed it took the message (final).
    Acknowledged,
}

/// A refused state change: the pair is not an edge of the lifecycle graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("illegal state transition {from:?} -> {to:?}")]
pub struct IllegalTransition {
    pub from: State,
    pub to: State,
}

impl State {
    /// Every state, outbound first.
    pub const ALL: [State; 8] = [
        State::Submitted,
        State::Sending,
        State::WaitingRetry,
        State::Delivered,
        State::Failed,
        State::Received,
        State::Fetched,
        State::Acknowledged,
    ];

    /// The direction this state belongs to.
    pub fn direction(self) -> Direction {
        match self {
            State::Submitted | State::Sending | State::WaitingRetry | State::Delivered | State::Failed => {
                Direction::Outbound
            }
            State::Received | State::Fetched | State::Acknowledged => Direction::Inbound,
        }
    }

    /// Stable lower-case name, as used in JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Submitted => "submitted",
            State::Sending => "sending",
            State::WaitingRetry => "waiting_retry",
            State::Delivered => "delivered",
            State::Failed => "failed",
            State::Received => "received",
            State::Fetched => "fetched",
            State::Acknowledged => "acknowledged",
        }
    }

    /// True when nothing further happens to the message (only retention purges it).
    pub fn is_final(self) -> bool {
        matches!(self, State::Delivered | State::Failed | State::Acknowledged)
    }

    /// True when the sender task must eventually pick the message up (it sits in the retry schedule).
    pub fn is_scheduled(self) -> bool {
        matches!(self, State::Submitted | State::WaitingRetry | State::Sending)
    }

    /// Checks that `self → to` is an edge of the lifecycle graph.
    pub fn check_transition(self, to: State) -> Result<(), IllegalTransition> {
        use State::*;
        let allowed = matches!(
            (self, to),
            (Submitted, Sending)
                | (Submitted, Failed)
                | (Sending, Delivered)
                | (Sending, WaitingRetry)
                | (Sending, Failed)
                | (WaitingRetry, Sending)
                | (WaitingRetry, Failed)
                | (Received, Fetched)
                | (Received, Acknowledged)
                | (Fetched, Acknowledged)
                | (Fetched, Received)
        );
        if allowed {
            Ok(())
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }

    /// One-byte tag used in index keys. Never renumber: the tags are on disk.
    pub(crate) fn tag(self) -> u8 {
        match self {
            State::Submitted => 1,
            State::Sending => 2,
            State::WaitingRetry => 3,
            State::Delivered => 4,
            State::Failed => 5,
            State::Received => 6,
            State::Fetched => 7,
            State::Acknowledged => 8,
        }
    }

    pub(crate) fn from_tag(tag: u8) -> Option<State> {
        State::ALL.into_iter().find(|s| s.tag() == tag)
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_never_cross_directions_and_final_states_are_sinks() {
        for from in State::ALL {
            for to in State::ALL {
                if from.check_transition(to).is_ok() {
                    assert_eq!(from.direction(), to.direction(), "{from} -> {to}");
                    assert!(!from.is_final(), "{from} is final but may go to {to}");
                    assert_ne!(from, to);
                }
            }
        }
    }

    #[test]
    fn delivered_cannot_go_back_to_sending() {
        assert_eq!(
            State::Delivered.check_transition(State::Sending),
            Err(IllegalTransition {
                from: State::Delivered,
                to: State::Sending
            })
        );
        assert!(State::Submitted.check_transition(State::Delivered).is_err());
        assert!(State::Sending.check_transition(State::Delivered).is_ok());
    }

    #[test]
    fn tags_round_trip_and_are_unique() {
        for s in State::ALL {
            assert_eq!(State::from_tag(s.tag()), Some(s));
        }
        assert_eq!(State::from_tag(0), None);
    }

    #[test]
    fn each_direction_lists_its_own_states() {
        for d in [Direction::Outbound, Direction::Inbound] {
            for s in d.states() {
                assert_eq!(s.direction(), d);
            }
        }
        assert_eq!(
            Direction::Outbound.states().len() + Direction::Inbound.states().len(),
            State::ALL.len()
        );
    }
}

//! Our message states as DIGG's KV Meddelandestatus, and a message's state history as DIGG's `events` object.
//!
//! | our state | direction | DIGG `messageStatus` |
//! |---|---|---|
//! | `submitted` | outbound | `SCHEDULED` (received and validated, not yet handed to transport) |
//! | `sending` | outbound | `SUBMITTED` (sealed and on its way to the receiving AP) |
//! | `waiting_retry` | outbound | `SCHEDULED_FOR_RESEND` |
//! | `delivered` | outbound | `WAITING_FOR_RECEIPT` (AS4 receipt held; the kvittens is awaited) |
//! | `failed` | outbound | `MESSAGE_EXCHANGE_ERROR` (final) |
//! | `received`, `fetched` | inbound | `NEW` (final: the client may fetch and delete it) |
//! | `acknowledged` | inbound | not shown: a deleted message answers 404 |

use serde::Serialize;

use crate::store::{State, StateChange};

/// DIGG's status of a message in `state`.
pub fn digg_status(state: State) -> &'static str {
    match state {
        State::Submitted => "SCHEDULED",
        State::Sending => "SUBMITTED",
        State::WaitingRetry => "SCHEDULED_FOR_RESEND",
        State::Delivered => "WAITING_FOR_RECEIPT",
        State::Failed => "MESSAGE_EXCHANGE_ERROR",
        State::Received | State::Fetched | State::Acknowledged => "NEW",
    }
}

/// Our states shown as `status` (for the `messageStatus` filter); empty for a status we never show.
pub fn states_for_status(status: &str) -> Vec<State> {
    State::ALL
        .into_iter()
        .filter(|s| *s != State::Acknowledged && digg_status(*s) == status)
        .collect()
}

/// Every status code of DIGG's `messageStatusDef`.
pub const ALL_STATUSES: [&str; 12] = [
    "SCHEDULED",
    "SUBMITTED",
    "SCHEDULED_FOR_RESEND",
    "ACKNOWLEDGE",
    "WAITING_FOR_RECEIPT",
    "MESSAGE_EXCHANGE_ERROR",
    "ACCEPTED",
    "REJECTED",
    "RETRIEVED",
    "RECEIPT_SENT",
    "NEW",
    "ERROR",
];

/// The statuses after which DIGG allows a client to delete the message (B1.4.2, "Radera meddelande").
pub fn is_deletable_status(status: &str) -> bool {
    matches!(status, "NEW" | "ACCEPTED" | "MESSAGE_EXCHANGE_ERROR")
}

/// One `eventIssues` entry made from a state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct EventIssue {
    #[serde(rename = "typeCode")]
    type_code: &'static str,
    title: String,
    detail: String,
    #[serde(rename = "dateTime")]
    date_time: String,
}

/// DIGG's `events` object of a message: `type` `urn:event-type:sdk:message`, `title` and `detail` the current
/// status (the last error in `detail` when there is one), `instance` the message's path, and one issue per state
/// change, newest first (B1.4.2: "ORDER BY dateTime DESC").
pub fn events(
    instance: &str,
    state: State,
    last_error: Option<&str>,
    history: &[StateChange],
) -> serde_json::Value {
    let status = digg_status(state);
    let issues: Vec<EventIssue> = history
        .iter()
        .rev()
        .map(|change| EventIssue {
            type_code: digg_status(change.to),
            title: if change.reason.is_empty() {
                format!("{} ({})", digg_status(change.to), change.to)
            } else {
                change.reason.clone()
            },
            detail: format!("by {}", change.actor),
            date_time: change.at.to_rfc3339(),
        })
        .collect();
    serde_json::json!({
        "type": "urn:event-type:sdk:message",
        "title": status,
        "detail": last_error.filter(|e| !e.is_empty()).unwrap_or(status),
        "instance": instance,
        "eventIssues": issues,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Timestamp;

    #[test]
    fn every_state_maps_onto_a_digg_status_and_back() {
        for state in State::ALL {
            let status = digg_status(state);
            assert!(ALL_STATUSES.contains(&status), "{state}");
            if state != State::Acknowledged {
                assert!(states_for_status(status).contains(&state));
            }
        }
        assert_eq!(states_for_status("NEW"), vec![State::Received, State::Fetched]);
        assert!(states_for_status("ACCEPTED").is_empty());
        assert!(is_deletable_status(digg_status(State::Failed)));
        assert!(!is_deletable_status(digg_status(State::Delivered)));
    }

    #[test]
    fn events_list_the_newest_change_first() {
        let change = |at, to, reason: &str| StateChange {
            at: Timestamp(at),
            from: None,
            to,
            actor: "sender-task".into(),
            reason: reason.into(),
        };
        let history = vec![change(1, State::Submitted, ""), change(2, State::Failed, "AP unreachable")];
        let json = events("/v1/sdk/messages/x", State::Failed, Some("AP unreachable"), &history);
        assert_eq!(json["title"], "MESSAGE_EXCHANGE_ERROR");
        assert_eq!(json["detail"], "AP unreachable");
        assert_eq!(json["eventIssues"][0]["typeCode"], "MESSAGE_EXCHANGE_ERROR");
        assert_eq!(json["eventIssues"][1]["typeCode"], "SCHEDULED");
    }
}

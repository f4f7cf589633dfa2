//! Our message states and kvittens facts as DIGG's KV Meddelandestatus (B1.4.2, "Meddelandestatus koder"), and a
//! message's history as DIGG's `events` object.
//!
//! | our state | kvittens fact | direction | DIGG `messageStatus` |
//! |---|---|---|---|
//! | `submitted` | | outbound | `SCHEDULED` (received and validated, not yet handed to transport) |
//! | `sending` | | outbound | `SUBMITTED` (sealed and on its way to the receiving AP) |
//! | `waiting_retry` | | outbound | `SCHEDULED_FOR_RESEND` |
//! | `delivered` | none yet | outbound | `WAITING_FOR_RECEIPT` (AS4 receipt held; the kvittens is awaited) |
//! | `delivered` | ACCEPTED received | outbound | `ACCEPTED` (final) |
//! | `delivered` | REJECTED received | outbound | `REJECTED` (its reasons in `events.eventIssues`) |
//! | `failed` | | outbound | `MESSAGE_EXCHANGE_ERROR` (final) |
//! | `received`, `fetched` | none sent | inbound | `RETRIEVED` (validated, a kvittens is to come) |
//! | `received`, `fetched` | sent, its AS4 message not yet delivered | inbound | `RECEIPT_SENT` |
//! | `received`, `fetched` | sent and delivered (or purged, or sent before typed records) | inbound | `NEW` (final) |
//! | `received`, `fetched` | sent, its AS4 message failed | inbound | `MESSAGE_EXCHANGE_ERROR` (final) |
//! | `acknowledged` | | inbound | not shown: a deleted message answers 404 |
//!
//! B1.4.2 orders the inbound statuses RETRIEVED → RECEIPT_SENT → NEW, all before the client reads: NEW is
//! "kvitterat och kan hämtas". Its RECEIPT_SENT row names the kvittens' transport receipt too, which would make it
//! the same fact as NEW; we show RECEIPT_SENT while the kvittens is on its way and NEW once its AS4 receipt is in.
//! Fetching does not change the status (DIGG has no status for it). The kvittens facts come from typed evidence:
//! a received kvittens ([`EvidenceKind::Kvittens`], the UBL document itself) and a sent one
//! ([`EvidenceKind::KvittensSent`], a [`SentKvittens`] record naming the AS4 message that carries it).

use serde::Serialize;
use xmldsig::dom::ParseLimits;

use crate::sdk::inbound::KVITTENS_SENT_PREFIX;
use crate::sdk::kvittens::{Kvittens, RejectionReason, ResponseCode};
use crate::store::{
    Direction, EvidenceKind, MessageRecord, SentKvittens, State, StateChange, Store, StoreResult, Timestamp,
};

/// What the store records about the kvittens of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvittensFact {
    /// None received (outbound) or sent (inbound).
    None,
    /// Outbound: the recipient's kvittens (the latest, when several came), received at `at`.
    Received {
        response: ResponseCode,
        kvittens_id: String,
        reasons: Vec<RejectionReason>,
        at: Timestamp,
    },
    /// Inbound: the kvittens we sent, and the state of the AS4 message that carries it (`None` once purged).
    Sent {
        record: SentKvittens,
        at: Timestamp,
        carrier: Option<State>,
    },
    /// Inbound: a kvittens was sent before typed records existed (only its history note says so).
    SentUntyped,
}

/// DIGG's status of a message in `state` with `kvittens` (see the module's table).
pub fn message_status(state: State, kvittens: &KvittensFact) -> &'static str {
    match (state, kvittens) {
        (State::Submitted, _) => "SCHEDULED",
        (State::Sending, _) => "SUBMITTED",
        (State::WaitingRetry, _) => "SCHEDULED_FOR_RESEND",
        (State::Delivered, KvittensFact::Received { response, .. }) => match response {
            ResponseCode::Accepted => "ACCEPTED",
            ResponseCode::Rejected => "REJECTED",
        },
        (State::Delivered, _) => "WAITING_FOR_RECEIPT",
        (State::Failed, _) => "MESSAGE_EXCHANGE_ERROR",
        (State::Received | State::Fetched | State::Acknowledged, fact) => match fact {
            KvittensFact::None | KvittensFact::Received { .. } => "RETRIEVED",
            KvittensFact::Sent { carrier, .. } => match carrier {
                // Purged with its AS4 receipt long ago, or delivered: the kvittens arrived.
                None | Some(State::Delivered) => "NEW",
                Some(State::Failed) => "MESSAGE_EXCHANGE_ERROR",
                Some(_) => "RECEIPT_SENT",
            },
            KvittensFact::SentUntyped => "NEW",
        },
    }
}

/// DIGG's status of a message in `state` without kvittens facts (what the store's state alone says).
pub fn digg_status(state: State) -> &'static str {
    message_status(state, &KvittensFact::None)
}

/// Our states whose messages can show `status` (for the `messageStatus` filter, which then compares each message's
/// own status, kvittens facts included); empty for a status we never show. Derived from [`message_status`], so the
/// two cannot disagree.
pub fn states_for_status(status: &str) -> Vec<State> {
    let facts = representative_facts();
    State::ALL
        .into_iter()
        .filter(|s| *s != State::Acknowledged && facts.iter().any(|f| message_status(*s, f) == status))
        .collect()
}

/// One fact of every kind that changes a status, for [`states_for_status`].
fn representative_facts() -> Vec<KvittensFact> {
    let kvittens = |response| KvittensFact::Received {
        response,
        kvittens_id: String::new(),
        reasons: Vec::new(),
        at: Timestamp(0),
    };
    let sent = |carrier| KvittensFact::Sent {
        record: SentKvittens {
            as4_message_id: String::new(),
            kvittens_id: String::new(),
            response: String::new(),
        },
        at: Timestamp(0),
        carrier,
    };
    let mut facts = vec![
        KvittensFact::None,
        KvittensFact::SentUntyped,
        kvittens(ResponseCode::Accepted),
        kvittens(ResponseCode::Rejected),
        sent(None),
    ];
    facts.extend(State::ALL.into_iter().map(|s| sent(Some(s))));
    facts
}

/// Reads the kvittens facts of `record` from its evidence (and, for inbound messages stored before typed records,
/// from `history`). Only what can change the status is read: an outbound message's kvittens once it is delivered,
/// an inbound message's sent kvittens while it is shown.
pub async fn kvittens_fact(
    store: &dyn Store,
    record: &MessageRecord,
    history: &[StateChange],
    limits: &ParseLimits,
) -> StoreResult<KvittensFact> {
    match (record.direction, record.state) {
        (Direction::Outbound, State::Delivered) => {
            let evidence = store.evidence(record.key).await?;
            let latest = evidence.iter().rev().find(|e| e.kind == EvidenceKind::Kvittens);
            Ok(match latest {
                Some(e) => match Kvittens::parse(&e.bytes, limits) {
                    Ok(kvittens) => KvittensFact::Received {
                        response: kvittens.response,
                        kvittens_id: kvittens.id,
                        reasons: kvittens.reasons,
                        at: e.at,
                    },
                    // It parsed when it arrived; a stricter limit now must not hide the delivery.
                    Err(error) => {
                        tracing::warn!(key = %record.key, %error, "digg api: stored kvittens does not parse");
                        KvittensFact::None
                    }
                },
                None => KvittensFact::None,
            })
        }
        (Direction::Inbound, State::Received | State::Fetched) => {
            let evidence = store.evidence(record.key).await?;
            let latest = evidence
                .iter()
                .rev()
                .filter(|e| e.kind == EvidenceKind::KvittensSent)
                .find_map(|e| SentKvittens::from_bytes(&e.bytes).map(|r| (r, e.at)));
            if let Some((sent, at)) = latest {
                let carrier = store
                    .get_by_message_id(Direction::Outbound, &sent.as4_message_id)
                    .await?
                    .map(|r| r.state);
                return Ok(KvittensFact::Sent {
                    record: sent,
                    at,
                    carrier,
                });
            }
            let untyped = history.iter().any(|h| h.reason.starts_with(KVITTENS_SENT_PREFIX));
            Ok(if untyped {
                KvittensFact::SentUntyped
            } else {
                KvittensFact::None
            })
        }
        _ => Ok(KvittensFact::None),
    }
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

/// One `eventIssues` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct EventIssue {
    #[serde(rename = "typeCode")]
    type_code: String,
    title: String,
    detail: String,
    #[serde(rename = "in", skip_serializing_if = "Option::is_none")]
    location: Option<String>,
    #[serde(rename = "dateTime")]
    date_time: String,
}

/// DIGG's `events` object of a message whose status is `status`: `type` `urn:event-type:sdk:message`, `title` the
/// status, `detail` the status (or the last error, or for REJECTED "Message REJECTED by receiver"), `instance` the
/// message's path, and one issue per history entry, newest first (B1.4.2: "ORDER BY dateTime DESC").
///
/// The history note written with a kvittens' evidence (same time stamp) is shown with the kvittens' status as its
/// `typeCode`; a REJECTED kvittens' reasons follow it as DIGG's example "Meddelandet avvisat" shows them: `typeCode`
/// the reason code (SV, BV, SIG), `title` the StatusReasonCode, `detail` the StatusReason, `in` the LineID.
pub fn events(
    instance: &str,
    status: &str,
    last_error: Option<&str>,
    history: &[StateChange],
    kvittens: &KvittensFact,
) -> serde_json::Value {
    let (kvittens_at, reasons): (Option<Timestamp>, &[RejectionReason]) = match kvittens {
        KvittensFact::Received { at, reasons, .. } => (Some(*at), reasons),
        KvittensFact::Sent { at, .. } => (Some(*at), &[]),
        KvittensFact::None | KvittensFact::SentUntyped => (None, &[]),
    };
    let mut issues: Vec<EventIssue> = Vec::with_capacity(history.len() + reasons.len());
    for change in history.iter().rev() {
        let is_kvittens_note = kvittens_at == Some(change.at) && change.from == Some(change.to);
        let type_code = if is_kvittens_note {
            message_status(change.to, kvittens)
        } else {
            digg_status(change.to)
        };
        issues.push(EventIssue {
            type_code: type_code.to_string(),
            title: if change.reason.is_empty() {
                format!("{type_code} ({})", change.to)
            } else {
                change.reason.clone()
            },
            detail: format!("by {}", change.actor),
            location: None,
            date_time: change.at.to_rfc3339(),
        });
        if is_kvittens_note {
            issues.extend(reasons.iter().map(|reason| {
                EventIssue {
                    type_code: reason.code.as_str().to_string(),
                    title: reason
                        .detail_code
                        .clone()
                        .unwrap_or_else(|| reason.code.as_str().to_string()),
                    detail: reason.text.clone(),
                    location: Some(reason.location.clone()),
                    date_time: change.at.to_rfc3339(),
                }
            }));
        }
    }
    let detail = match (status, last_error.filter(|e| !e.is_empty())) {
        ("REJECTED", _) => "Message REJECTED by receiver",
        (_, Some(error)) => error,
        (status, None) => status,
    };
    serde_json::json!({
        "type": "urn:event-type:sdk:message",
        "title": status,
        "detail": detail,
        "instance": instance,
        "eventIssues": issues,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::kvittens::ReasonCode;

    fn received(response: ResponseCode, reasons: Vec<RejectionReason>, at: u64) -> KvittensFact {
        KvittensFact::Received {
            response,
            kvittens_id: "k-1".into(),
            reasons,
            at: Timestamp(at),
        }
    }

    fn sent(carrier: Option<State>) -> KvittensFact {
        KvittensFact::Sent {
            record: SentKvittens {
                as4_message_id: "as4-k".into(),
                kvittens_id: "k-1".into(),
                response: "ACCEPTED".into(),
            },
            at: Timestamp(5),
            carrier,
        }
    }

    #[test]
    fn every_state_maps_onto_a_digg_status_and_back() {
        for state in State::ALL {
            let status = digg_status(state);
            assert!(ALL_STATUSES.contains(&status), "{state}");
            if state != State::Acknowledged {
                assert!(states_for_status(status).contains(&state));
            }
        }
        for fact in representative_facts() {
            for state in State::ALL {
                assert!(ALL_STATUSES.contains(&message_status(state, &fact)), "{state} {fact:?}");
            }
        }
        let inbound_shown = vec![State::Received, State::Fetched];
        for status in ["NEW", "RETRIEVED", "RECEIPT_SENT"] {
            assert_eq!(states_for_status(status), inbound_shown, "{status}");
        }
        for status in ["ACCEPTED", "REJECTED", "WAITING_FOR_RECEIPT"] {
            assert_eq!(states_for_status(status), vec![State::Delivered], "{status}");
        }
        assert!(states_for_status("MESSAGE_EXCHANGE_ERROR").contains(&State::Failed));
        assert!(states_for_status("MESSAGE_EXCHANGE_ERROR").contains(&State::Fetched));
        assert!(states_for_status("ACKNOWLEDGE").is_empty());
        assert!(is_deletable_status(digg_status(State::Failed)));
        assert!(!is_deletable_status(digg_status(State::Delivered)));
    }

    #[test]
    fn kvittens_facts_decide_the_status_as_b1_4_2_says() {
        let accepted = received(ResponseCode::Accepted, Vec::new(), 1);
        let rejected = received(ResponseCode::Rejected, Vec::new(), 1);
        assert_eq!(
            message_status(State::Delivered, &KvittensFact::None),
            "WAITING_FOR_RECEIPT"
        );
        assert_eq!(message_status(State::Delivered, &accepted), "ACCEPTED");
        assert_eq!(message_status(State::Delivered, &rejected), "REJECTED");
        for state in [State::Received, State::Fetched] {
            assert_eq!(message_status(state, &KvittensFact::None), "RETRIEVED");
            assert_eq!(message_status(state, &sent(Some(State::Submitted))), "RECEIPT_SENT");
            assert_eq!(message_status(state, &sent(Some(State::WaitingRetry))), "RECEIPT_SENT");
            assert_eq!(message_status(state, &sent(Some(State::Delivered))), "NEW");
            assert_eq!(message_status(state, &sent(None)), "NEW");
            assert_eq!(
                message_status(state, &sent(Some(State::Failed))),
                "MESSAGE_EXCHANGE_ERROR"
            );
            assert_eq!(message_status(state, &KvittensFact::SentUntyped), "NEW");
        }
        // Deletable exactly when B1.4.2 calls the status final.
        assert!(is_deletable_status("ACCEPTED") && is_deletable_status("NEW"));
        for status in ["RETRIEVED", "RECEIPT_SENT", "REJECTED", "WAITING_FOR_RECEIPT"] {
            assert!(!is_deletable_status(status), "{status}");
        }
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
        let history = vec![
            change(1, State::Submitted, ""),
            change(2, State::Failed, "AP unreachable"),
        ];
        let json = events(
            "/v1/sdk/messages/x",
            "MESSAGE_EXCHANGE_ERROR",
            Some("AP unreachable"),
            &history,
            &KvittensFact::None,
        );
        assert_eq!(json["title"], "MESSAGE_EXCHANGE_ERROR");
        assert_eq!(json["detail"], "AP unreachable");
        assert_eq!(json["eventIssues"][0]["typeCode"], "MESSAGE_EXCHANGE_ERROR");
        assert_eq!(json["eventIssues"][1]["typeCode"], "SCHEDULED");
    }

    #[test]
    fn a_rejected_kvittens_shows_its_reasons_as_issues() {
        let change = |at, from, to, reason: &str| StateChange {
            at: Timestamp(at),
            from,
            to,
            actor: "sdk:classifier".into(),
            reason: reason.into(),
        };
        let history = vec![
            change(1, None, State::Submitted, ""),
            change(2, Some(State::Sending), State::Delivered, "receipt"),
            change(
                7,
                Some(State::Delivered),
                State::Delivered,
                "kvittens REJECTED: BV Typkoden",
            ),
        ];
        let reason = RejectionReason {
            location: "/Nyttolast/Typkod".into(),
            code: ReasonCode::BusinessRuleError,
            detail_code: Some("RegelID-123".into()),
            text: "Typkoden måste vara A eller B".into(),
        };
        let fact = received(ResponseCode::Rejected, vec![reason], 7);
        let json = events("/v1/sdk/messages/x", "REJECTED", None, &history, &fact);
        assert_eq!(json["title"], "REJECTED");
        assert_eq!(json["detail"], "Message REJECTED by receiver");
        let issues = json["eventIssues"].as_array().unwrap();
        assert_eq!(issues[0]["typeCode"], "REJECTED");
        assert_eq!(issues[1]["typeCode"], "BV");
        assert_eq!(issues[1]["title"], "RegelID-123");
        assert_eq!(issues[1]["detail"], "Typkoden måste vara A eller B");
        assert_eq!(issues[1]["in"], "/Nyttolast/Typkod");
        assert_eq!(issues[2]["typeCode"], "WAITING_FOR_RECEIPT");
        assert_eq!(issues.len(), 4);
    }
}

//! The records the store keeps: messages, their history, evidence and the query shapes used to read them back.

use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::state::{Direction, State};

/// The store's own key for a message: unique, never reused, independent of the (peer-chosen) ebMS MessageId.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageKey(pub u64);

impl MessageKey {
    pub(crate) fn to_be_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// The fixed-width hex form used for payload folder names (sorts like the key).
    pub fn to_hex(self) -> String {
        format!("{:016x}", self.0)
    }

    /// Parses [`MessageKey::to_hex`] output.
    pub fn from_hex(text: &str) -> Option<MessageKey> {
        if text.len() != 16 {
            return None;
        }
        u64::from_str_radix(text, 16).ok().map(MessageKey)
    }
}

impl std::fmt::Display for MessageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Milliseconds since the Unix epoch (UTC). Millisecond precision is what the retry schedule and history need, and
/// a plain integer keeps index keys ordered by time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Timestamp {
        let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        Timestamp(since.as_millis().min(u64::MAX as u128) as u64)
    }

    /// `self + d`, saturating.
    pub fn plus(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(d.as_millis().min(u64::MAX as u128) as u64))
    }

    /// `self - d`, saturating at the epoch.
    pub fn minus(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(d.as_millis().min(u64::MAX as u128) as u64))
    }

    /// As a `time` value, for formatting.
    pub fn to_offset_date_time(self) -> time::OffsetDateTime {
        let nanos = i128::from(self.0) * 1_000_000;
        time::OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    }

    /// RFC 3339 text, e.g. `2026-11-24T11:00:00.123Z`.
    pub fn to_rfc3339(self) -> String {
        self.to_offset_date_time()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| self.0.to_string())
    }
}

/// An ebMS party identifier (`eb:PartyId` with its optional `type`) and the role the party plays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    pub id: String,
    pub id_type: Option<String>,
    pub role: String,
}

/// The ebMS header fields the store keeps for a message (enough to list, filter, route and rebuild it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageMeta {
    /// The ebMS `eb:MessageId`.
    pub message_id: String,
    /// Name of the P-Mode that governs the exchange.
    pub pmode_id: String,
    pub from: Party,
    pub to: Party,
    pub service: String,
    pub service_type: Option<String>,
    pub action: String,
    pub conversation_id: String,
    /// `eb:RefToMessageId`, when the message answers another.
    pub ref_to_message_id: Option<String>,
    /// The `originalSender` message property (four-corner model).
    pub original_sender: Option<String>,
    /// The `finalRecipient` message property (four-corner model).
    pub final_recipient: Option<String>,
    /// The `trackingIdentifier` message property (eDelivery four-corner profile), kept unchanged end to end.
    /// Absent in records written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_identifier: Option<String>,
}

/// One payload part, stored as a file under the data directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadPart {
    /// MIME `Content-ID` without angle brackets (the `cid:` reference of the PartInfo).
    pub content_id: String,
    pub mime_type: String,
    /// Size of the stored file in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256 of the stored file.
    pub sha256: String,
    /// Path relative to the data directory, `/`-separated (e.g. `payloads/00000000000000a1/0.bin`).
    pub file: String,
}

/// A message as stored: header fields, state, payload files and retry bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub key: MessageKey,
    pub direction: Direction,
    pub state: State,
    pub meta: MessageMeta,
    pub payloads: Vec<PayloadPart>,
    pub created_at: Timestamp,
    /// When the message entered its current state.
    pub updated_at: Timestamp,
    /// Number of send attempts started (outbound; counted when the sender claims the message).
    pub attempts: u32,
    /// When the sender task should next look at the message (outbound, while in the retry schedule).
    pub next_attempt_at: Option<Timestamp>,
    /// While `Sending`: the claim expires at this time, after which another sender may retry.
    pub lease_until: Option<Timestamp>,
    pub last_error: Option<String>,
}

/// One entry of a message's state history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChange {
    pub at: Timestamp,
    /// `None` for the entry that created the record.
    pub from: Option<State>,
    pub to: State,
    /// Who made the change: `sender-task`, `receiver`, `api:<token-name>`, `store:recover`, ...
    pub actor: String,
    pub reason: String,
}

/// The kind of a stored signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    /// An ebMS receipt: for an inbound message the one we sent (re-sent for duplicates); for an outbound message
    /// the one the receiver returned.
    Receipt,
    /// An ebMS error signal, sent or received.
    ErrorSignal,
    /// An SDK kvittens (UBL ApplicationResponse) received for an outbound message.
    Kvittens,
    /// A kvittens we sent for an inbound message: the bytes are a
    /// [`SentKvittens`](super::inbox::SentKvittens) record (which AS4 message carries it, and its response).
    KvittensSent,
}

impl EvidenceKind {
    pub(crate) fn tag(self) -> u8 {
        match self {
            EvidenceKind::Receipt => 1,
            EvidenceKind::ErrorSignal => 2,
            EvidenceKind::Kvittens => 3,
            EvidenceKind::KvittensSent => 4,
        }
    }

    pub(crate) fn from_tag(tag: u8) -> Option<EvidenceKind> {
        match tag {
            1 => Some(EvidenceKind::Receipt),
            2 => Some(EvidenceKind::ErrorSignal),
            3 => Some(EvidenceKind::Kvittens),
            4 => Some(EvidenceKind::KvittensSent),
            _ => None,
        }
    }
}

/// A signal kept byte-for-byte as it was sent or received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub kind: EvidenceKind,
    pub at: Timestamp,
    pub bytes: Vec<u8>,
}

/// Evidence to attach to an insert or a state change (the store stamps the time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvidence {
    pub kind: EvidenceKind,
    pub bytes: Vec<u8>,
}

/// A submission from the local side, with its payload files already written through
/// [`PayloadFiles`](super::PayloadFiles) under `key` (from [`Store::allocate_key`](super::Store::allocate_key)).
#[derive(Debug, Clone)]
pub struct NewOutbound {
    pub key: MessageKey,
    pub meta: MessageMeta,
    pub payloads: Vec<PayloadPart>,
    /// Who submitted it, e.g. `api:<token-name>`.
    pub actor: String,
}

/// A message received from a peer, verified and decrypted, with payload files already written under `key`, and the
/// signed receipt that will be (and, for duplicates, will again be) returned for it.
#[derive(Debug, Clone)]
pub struct NewInbound {
    pub key: MessageKey,
    pub meta: MessageMeta,
    pub payloads: Vec<PayloadPart>,
    pub receipt: Vec<u8>,
    /// Duplicate-detection window from the P-Mode: a re-sent MessageId within it is a duplicate.
    pub duplicate_window: Duration,
    /// Usually `receiver`.
    pub actor: String,
}

/// Outcome of [`Store::insert_inbound`](super::Store::insert_inbound).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundInsert {
    /// Stored; answer with the receipt given.
    Inserted(MessageRecord),
    /// The MessageId was already received within its window: nothing was stored; answer with `receipt`, the very
    /// bytes sent the first time, and do not deliver again. The caller removes the payload files it staged.
    Duplicate {
        existing: MessageRecord,
        receipt: Option<Evidence>,
    },
}

/// The message received earlier under a MessageId, with the receipt sent for it.
pub type DuplicateHit = (MessageRecord, Option<Evidence>);

/// A requested state change.
#[derive(Debug, Clone)]
pub struct Transition {
    pub key: MessageKey,
    /// The state the caller believes the message is in; the change is refused otherwise.
    pub expected_from: State,
    pub to: State,
    pub actor: String,
    pub reason: String,
    /// Required when `to` is `WaitingRetry`; ignored otherwise.
    pub next_attempt_at: Option<Timestamp>,
    /// Recorded as `last_error` and listed by [`Store::last_errors`](super::Store::last_errors).
    pub error: Option<String>,
    pub evidence: Option<NewEvidence>,
    /// When set, the change is refused unless the record's attempt count is this value: a sender whose lease
    /// expired (and whose message another sender claimed again) cannot overwrite the newer attempt's outcome.
    pub expected_attempt: Option<u32>,
}

impl Transition {
    /// A change with no error, evidence or schedule; add those with the builder methods.
    pub fn new(key: MessageKey, expected_from: State, to: State, actor: impl Into<String>) -> Transition {
        Transition {
            key,
            expected_from,
            to,
            actor: actor.into(),
            reason: String::new(),
            next_attempt_at: None,
            error: None,
            evidence: None,
            expected_attempt: None,
        }
    }

    /// Refuse the change unless the message is still on attempt `attempt` (use [`Claimed`]'s `record.attempts`).
    pub fn for_attempt(mut self, attempt: u32) -> Transition {
        self.expected_attempt = Some(attempt);
        self
    }

    pub fn reason(mut self, reason: impl Into<String>) -> Transition {
        self.reason = reason.into();
        self
    }

    pub fn retry_at(mut self, at: Timestamp) -> Transition {
        self.next_attempt_at = Some(at);
        self
    }

    pub fn error(mut self, error: impl Into<String>) -> Transition {
        self.error = Some(error.into());
        self
    }

    pub fn evidence(mut self, kind: EvidenceKind, bytes: Vec<u8>) -> Transition {
        self.evidence = Some(NewEvidence { kind, bytes });
        self
    }
}

/// A message handed to a sender task by [`Store::claim_due`](super::Store::claim_due), now `Sending` under a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub record: MessageRecord,
    /// The state it was claimed from (`Submitted` or `WaitingRetry`; `WaitingRetry` also after an expired lease).
    pub claimed_from: State,
}

/// Position after the last item of a page; pass it back to get the next page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub(crate) at: Timestamp,
    pub(crate) key: MessageKey,
}

/// Filter for [`Store::list`](super::Store::list). Results are newest first (or oldest first, e.g. for an inbox);
/// with `state` set they are ordered by the time the message entered that state, otherwise by creation time, and
/// `since`/`until` apply to that time.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub direction: Option<Direction>,
    pub state: Option<State>,
    /// Inclusive lower bound.
    pub since: Option<Timestamp>,
    /// Exclusive upper bound.
    pub until: Option<Timestamp>,
    /// At most this many records (capped at [`MAX_PAGE_SIZE`]; 0 means the cap).
    pub limit: usize,
    pub after: Option<Cursor>,
    /// Oldest first instead of newest first.
    pub oldest_first: bool,
}

/// Upper bound on one page of [`Store::list`](super::Store::list).
pub const MAX_PAGE_SIZE: usize = 1000;

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub records: Vec<MessageRecord>,
    /// `Some` when more records may follow.
    pub next: Option<Cursor>,
}

/// Message counts per state, for `sdk-ap status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StateCounts {
    pub counts: std::collections::BTreeMap<State, u64>,
}

impl StateCounts {
    pub fn get(&self, state: State) -> u64 {
        self.counts.get(&state).copied().unwrap_or(0)
    }

    pub fn total(&self, direction: Direction) -> u64 {
        direction.states().iter().map(|s| self.get(*s)).sum()
    }

    /// `{"outbound": {"total": n, "submitted": n, ...}, "inbound": {"total": n, ...}}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut root = serde_json::Map::new();
        for direction in [Direction::Outbound, Direction::Inbound] {
            let mut per = serde_json::Map::new();
            per.insert("total".into(), self.total(direction).into());
            for state in direction.states() {
                per.insert(state.as_str().into(), self.get(*state).into());
            }
            root.insert(direction.as_str().into(), per.into());
        }
        root.into()
    }
}

/// One entry of the error log ([`Store::last_errors`](super::Store::last_errors)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEntry {
    pub at: Timestamp,
    pub key: MessageKey,
    pub message_id: String,
    pub direction: Direction,
    /// The state the message went to with this error.
    pub state: State,
    pub error: String,
}

/// What a [`Store::purge`](super::Store::purge) run removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub messages: u64,
    pub payload_files: u64,
    pub expired_duplicate_entries: u64,
}

/// What [`Store::recover`](super::Store::recover) repaired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// `Sending` messages returned to `WaitingRetry`.
    pub leases_released: u64,
    /// Temporary payload files (interrupted writes) removed.
    pub temp_files_removed: u64,
    /// Payload folders with no message record (staged, never inserted, or a duplicate) removed.
    pub orphan_payload_dirs_removed: u64,
}

#[cfg(test)]
mod meta_compatibility_tests {
    use super::*;

    #[test]
    fn a_record_written_before_tracking_identifier_existed_still_loads_and_round_trips() {
        let old = r#"{"message_id":"m@a","pmode_id":"p","from":{"id":"A","id_type":null,"role":"i"},
            "to":{"id":"B","id_type":null,"role":"r"},"service":"s","service_type":null,"action":"a",
            "conversation_id":"c","ref_to_message_id":null,"original_sender":"0203:a","final_recipient":"0203:b"}"#;
        let mut meta: MessageMeta = serde_json::from_str(old).unwrap();
        assert_eq!(meta.tracking_identifier, None);
        assert!(!serde_json::to_string(&meta).unwrap().contains("tracking_identifier"));
        meta.tracking_identifier = Some("urn:t:1".into());
        let again: MessageMeta = serde_json::from_str(&serde_json::to_string(&meta).unwrap()).unwrap();
        assert_eq!(again, meta);
    }
}

//! The inbox side of the store: what the SDK business layer decided about each received message (its
//! classification), the inbox entries of valid business messages indexed for listing, and history notes that do
//! not change a message's state (e.g. "kvittens ACCEPTED" on an outbound message).
//!
//! An inbox entry's state is the state of its message record (`Received` = new, `Fetched`, `Acknowledged`), so the
//! lifecycle rules and the retention settings of the store apply to the inbox unchanged; the entry goes when the
//! record is purged.

use serde::{Deserialize, Serialize};

use super::state::State;
use super::types::{MessageKey, NewEvidence, Timestamp};

/// Upper bound on the entries one [`InboxQuery`] looks at, so that a narrowly filtered listing costs a bounded
/// amount of work per request (the page then ends early, with a cursor to go on from).
pub const MAX_INBOX_SCAN: usize = 10_000;

/// One file of an inbox message (a `ContentFiles` element of the SDK message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxAttachment {
    pub file_name: String,
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: u64,
}

/// A valid inbound business message as the inbox lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxEntry {
    pub key: MessageKey,
    /// The AS4 MessageId.
    pub message_id: String,
    /// The recipient participant (XHE ToParty), e.g. `0203:example.se`.
    pub recipient: String,
    /// The recipient's functional address (SDK message recipient/attention/subOrganization, else the XHE
    /// HandlingServiceID), when the message names one.
    pub functional_address: Option<String>,
    /// The sending participant (XHE FromParty).
    pub sender: String,
    /// The sender's functional address, when given.
    pub sender_functional_address: Option<String>,
    /// The SDK message label (subject), when given.
    pub subject: Option<String>,
    /// The XHE payload's DocumentTypeCode.
    pub document_type: String,
    /// The XHE Header/ID (what a kvittens refers to).
    pub xhe_id: String,
    /// XHE Header/CreationDateTime as written by the sender.
    pub created: String,
    /// When the message was received (the inbox order).
    pub received_at: Timestamp,
    /// True when the XHE payload is encrypted end to end (the AP cannot read the SDK message).
    pub encrypted: bool,
    pub attachments: Vec<InboxAttachment>,
    /// The sending access point's PartyId and type (where a kvittens goes).
    pub from_ap: String,
    pub from_ap_type: Option<String>,
    pub conversation_id: String,
}

/// What the business layer decided about an inbound message. Its presence marks the message as classified;
/// messages in `Received` without one are classified again at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Classification {
    /// A valid business message, in the inbox.
    Inbox,
    /// Malformed XHE (TF-09): dropped from the inbox, no kvittens.
    Dropped { reason: String },
    /// Inconsistent with the AS4 header or breaking a business rule: a REJECTED kvittens was submitted.
    Rejected {
        reason: String,
        kvittens_message_id: Option<String>,
    },
    /// A kvittens for one of our outbound messages (linked when `linked_to` is set).
    Kvittens {
        linked_to: Option<String>,
        response: String,
    },
    /// Not an SDK business message (another profile): kept as it is, not in the inbox.
    NotSdk,
}

/// The typed record of a kvittens we sent for an inbound message, kept as its
/// [`EvidenceKind::KvittensSent`](super::EvidenceKind::KvittensSent) evidence so that readers (DIGG's
/// `messageStatus`) need not read free-text history. Messages stored before this record existed have none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentKvittens {
    /// The AS4 MessageId of the outbound message that carries the kvittens (its state tells whether the sending AP
    /// has its AS4 receipt).
    pub as4_message_id: String,
    /// The kvittens' own id (cbc:ID).
    pub kvittens_id: String,
    /// `ACCEPTED` or `REJECTED`.
    pub response: String,
}

impl SentKvittens {
    /// The record as evidence bytes (JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        // A struct of strings always serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The record from evidence bytes; `None` when they are not one.
    pub fn from_bytes(bytes: &[u8]) -> Option<SentKvittens> {
        serde_json::from_slice(bytes).ok()
    }
}

/// A history entry that does not change the message's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryNote {
    pub key: MessageKey,
    pub actor: String,
    pub reason: String,
    pub evidence: Option<NewEvidence>,
}

/// Everything one classification writes, atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassificationCommit {
    pub key: MessageKey,
    pub classification: Classification,
    /// The inbox entry, for [`Classification::Inbox`].
    pub entry: Option<InboxEntry>,
    /// Notes on this or other messages (the reason of a drop; a kvittens on the outbound message it answers).
    pub notes: Vec<HistoryNote>,
}

/// Position after the last inbox entry looked at; pass it back for the next page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxCursor {
    pub at: Timestamp,
    pub key: MessageKey,
}

impl InboxCursor {
    /// Compact text form for API cursors: `<at>-<key hex>`.
    pub fn to_token(self) -> String {
        format!("{}-{}", self.at.0, self.key.to_hex())
    }

    pub fn from_token(token: &str) -> Option<InboxCursor> {
        let (at, key) = token.split_once('-')?;
        Some(InboxCursor {
            at: Timestamp(at.parse().ok()?),
            key: MessageKey::from_hex(key)?,
        })
    }
}

/// Filter for [`Store::inbox_list`](super::Store::inbox_list); results are oldest first (stable order: reception
/// time, then key).
#[derive(Debug, Clone, Default)]
pub struct InboxQuery {
    /// Only this recipient participant (compared case-insensitively, scheme prefix ignored).
    pub participant: Option<String>,
    /// Only this functional address (case-insensitive).
    pub functional_address: Option<String>,
    /// Only entries whose message is in this state (`Received`, `Fetched`, `Acknowledged`).
    pub state: Option<State>,
    pub after: Option<InboxCursor>,
    /// At most this many entries (capped at [`super::MAX_PAGE_SIZE`]; 0 means the cap).
    pub limit: usize,
}

/// One inbox entry with the state of its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxItem {
    pub entry: InboxEntry,
    pub state: State,
}

/// One page of the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxPage {
    pub items: Vec<InboxItem>,
    /// `Some` when more entries may follow.
    pub next: Option<InboxCursor>,
}

/// Participant ids compare case-insensitively, without an `iso6523-actorid-upis::` prefix.
pub fn normalize_participant(id: &str) -> String {
    id.rsplit_once("::")
        .map(|(_, v)| v)
        .unwrap_or(id)
        .trim()
        .to_ascii_lowercase()
}

impl InboxQuery {
    /// Whether an entry passes the participant and functional-address filters.
    pub fn matches(&self, entry: &InboxEntry) -> bool {
        if let Some(p) = &self.participant {
            if normalize_participant(p) != normalize_participant(&entry.recipient) {
                return false;
            }
        }
        if let Some(fa) = &self.functional_address {
            match &entry.functional_address {
                Some(have) if have.trim().eq_ignore_ascii_case(fa.trim()) => {}
                _ => return false,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sent_kvittens_record_round_trips_as_evidence() {
        let sent = SentKvittens {
            as4_message_id: "as4-1@ap".into(),
            kvittens_id: "k-1".into(),
            response: "REJECTED".into(),
        };
        assert_eq!(SentKvittens::from_bytes(&sent.to_bytes()), Some(sent));
        assert_eq!(SentKvittens::from_bytes(b"<eb:Receipt/>"), None);
        let kind = super::super::EvidenceKind::KvittensSent;
        assert_eq!(super::super::EvidenceKind::from_tag(kind.tag()), Some(kind));
    }

    #[test]
    fn cursor_tokens_round_trip_and_refuse_garbage() {
        let c = InboxCursor {
            at: Timestamp(1_700_000_000_123),
            key: MessageKey(0xabc),
        };
        assert_eq!(InboxCursor::from_token(&c.to_token()), Some(c));
        assert_eq!(InboxCursor::from_token("x-1"), None);
        assert_eq!(InboxCursor::from_token("12"), None);
    }

    #[test]
    fn classification_serialises_with_a_tag() {
        let json = serde_json::to_value(Classification::Dropped { reason: "r".into() }).unwrap();
        assert_eq!(json["outcome"], "dropped");
    }
}

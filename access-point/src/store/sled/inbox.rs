//! The inbox trees of [`SledStore`](super::SledStore):
//!
//! | tree            | key        | value                        |
//! |-----------------|------------|------------------------------|
//! | `classified`    | key        | JSON [`Classification`]      |
//! | `inbox`         | key        | JSON [`InboxEntry`]          |
//! | `inbox_by_time` | at, key    | (empty): the inbox order     |
//!
//! A classification, its inbox entry and its history notes are written in one transaction together with the
//! message records the notes touch, so a crash leaves a message either unclassified (and classified again at
//! start) or completely classified.

use ::sled::transaction::TransactionalTree;
use ::sled::{Transactional, Tree};

use super::{abort, Inner};
use super::{decode_json, encode_evidence, encode_json, keys, StoredRecord, TxResult};
use crate::store::error::{StoreError, StoreResult};
use crate::store::inbox::*;
use crate::store::state::State;
use crate::store::types::*;

pub(super) struct InboxTrees {
    classified: Tree,
    inbox: Tree,
    by_time: Tree,
}

impl InboxTrees {
    pub(super) fn open(db: &::sled::Db) -> StoreResult<InboxTrees> {
        Ok(InboxTrees {
            classified: db.open_tree("classified")?,
            inbox: db.open_tree("inbox")?,
            by_time: db.open_tree("inbox_by_time")?,
        })
    }
}

fn load(messages: &TransactionalTree, key: MessageKey) -> TxResult<Option<StoredRecord>> {
    match messages.get(keys::message(key))? {
        None => Ok(None),
        Some(v) => match decode_json("messages", &v) {
            Ok(r) => Ok(Some(r)),
            Err(e) => abort(e),
        },
    }
}

impl Inner {
    fn inbox_trees(&self) -> StoreResult<InboxTrees> {
        InboxTrees::open(&self.db)
    }

    pub(super) fn commit_classification(&self, commit: &ClassificationCommit) -> StoreResult<()> {
        let t = self.inbox_trees()?;
        let trees = [
            &self.trees.messages,
            &self.trees.history,
            &self.trees.evidence,
            &t.classified,
            &t.inbox,
            &t.by_time,
        ];
        let now = Timestamp::now();
        trees[..]
            .transaction(|tx: &Vec<TransactionalTree>| {
                let (messages, history, evidence) = (&tx[0], &tx[1], &tx[2]);
                let (classified, inbox, by_time) = (&tx[3], &tx[4], &tx[5]);
                if load(messages, commit.key)?.is_none() {
                    return abort(StoreError::NotFound(commit.key));
                }
                if classified.get(keys::message(commit.key))?.is_some() {
                    return abort(StoreError::InvalidRecord(format!(
                        "message {} is already classified",
                        commit.key
                    )));
                }
                classified.insert(&keys::message(commit.key), encode_json(&commit.classification))?;
                if let Some(entry) = &commit.entry {
                    if entry.key != commit.key {
                        return abort(StoreError::InvalidRecord("inbox entry for another key".into()));
                    }
                    inbox.insert(&keys::message(entry.key), encode_json(entry))?;
                    by_time.insert(&keys::at_key(entry.received_at, entry.key), &[])?;
                }
                for note in &commit.notes {
                    write_note(messages, history, evidence, note, now)?;
                }
                Ok(())
            })
            .map_err(tx_error)
    }

    pub(super) fn annotate(&self, note: &HistoryNote) -> StoreResult<()> {
        let trees = [&self.trees.messages, &self.trees.history, &self.trees.evidence];
        let now = Timestamp::now();
        trees[..]
            .transaction(|tx: &Vec<TransactionalTree>| write_note(&tx[0], &tx[1], &tx[2], note, now))
            .map_err(tx_error)
    }

    pub(super) fn classification(&self, key: MessageKey) -> StoreResult<Option<Classification>> {
        match self.inbox_trees()?.classified.get(keys::message(key))? {
            None => Ok(None),
            Some(v) => Ok(Some(decode_json("classified", &v)?)),
        }
    }

    pub(super) fn unclassified_inbound(&self, limit: usize) -> StoreResult<Vec<MessageKey>> {
        let t = self.inbox_trees()?;
        let mut keys_out = Vec::new();
        for k in self.trees.by_state.scan_prefix([State::Received.tag()]).keys() {
            let k = k?;
            let Some(cursor) = keys::cursor_of(&k, true) else {
                continue;
            };
            if !t.classified.contains_key(keys::message(cursor.key))? {
                keys_out.push(cursor.key);
                if keys_out.len() >= limit {
                    break;
                }
            }
        }
        Ok(keys_out)
    }

    pub(super) fn inbox_get(&self, key: MessageKey) -> StoreResult<Option<InboxItem>> {
        let t = self.inbox_trees()?;
        let Some(v) = t.inbox.get(keys::message(key))? else {
            return Ok(None);
        };
        let entry: InboxEntry = decode_json("inbox", &v)?;
        let Some(record) = self.get(key)? else { return Ok(None) };
        Ok(Some(InboxItem {
            entry,
            state: record.state,
        }))
    }

    pub(super) fn inbox_list(&self, q: &InboxQuery) -> StoreResult<InboxPage> {
        let t = self.inbox_trees()?;
        let limit = if q.limit == 0 {
            MAX_PAGE_SIZE
        } else {
            q.limit.min(MAX_PAGE_SIZE)
        };
        let lower = match q.after {
            Some(c) => std::ops::Bound::Excluded(keys::at_key(c.at, c.key).to_vec()),
            None => std::ops::Bound::Unbounded,
        };
        let mut items = Vec::new();
        let mut scanned = 0usize;
        let mut last = None;
        let mut exhausted = true;
        for item in t.by_time.range::<Vec<u8>, _>((lower, std::ops::Bound::Unbounded)) {
            let (k, _) = item?;
            let Some((at, key)) = keys::parse_at_key(&k) else {
                continue;
            };
            last = Some(InboxCursor { at, key });
            scanned += 1;
            if let Some(v) = t.inbox.get(keys::message(key))? {
                let entry: InboxEntry = decode_json("inbox", &v)?;
                if q.matches(&entry) {
                    // A purged record leaves no inbox item (its entry goes with the purge).
                    if let Some(record) = self.get(key)? {
                        if q.state.is_none_or(|s| s == record.state) {
                            items.push(InboxItem {
                                entry,
                                state: record.state,
                            });
                        }
                    }
                }
            }
            if items.len() == limit || scanned >= MAX_INBOX_SCAN {
                exhausted = false;
                break;
            }
        }
        Ok(InboxPage {
            items,
            next: if exhausted { None } else { last },
        })
    }

    /// Drops the inbox entries and classifications of purged messages.
    pub(super) fn forget_inbox(&self, purged: &[MessageKey]) -> StoreResult<()> {
        let t = self.inbox_trees()?;
        for key in purged {
            t.classified.remove(keys::message(*key))?;
            if let Some(v) = t.inbox.remove(keys::message(*key))? {
                if let Ok(entry) = decode_json::<InboxEntry>("inbox", &v) {
                    t.by_time.remove(keys::at_key(entry.received_at, entry.key))?;
                }
            }
        }
        Ok(())
    }
}

fn write_note(
    messages: &TransactionalTree,
    history: &TransactionalTree,
    evidence: &TransactionalTree,
    note: &HistoryNote,
    now: Timestamp,
) -> TxResult<()> {
    let Some(mut stored) = load(messages, note.key)? else {
        return abort(StoreError::NotFound(note.key));
    };
    let state = stored.record.state;
    let entry = StateChange {
        at: now,
        from: Some(state),
        to: state,
        actor: note.actor.clone(),
        reason: note.reason.clone(),
    };
    history.insert(&keys::seq_key(note.key, stored.history_len), encode_json(&entry))?;
    stored.history_len += 1;
    if let Some(e) = &note.evidence {
        evidence.insert(
            &keys::seq_key(note.key, stored.evidence_len),
            encode_evidence(e.kind, now, &e.bytes),
        )?;
        stored.evidence_len += 1;
    }
    messages.insert(&keys::message(note.key), encode_json(&stored))?;
    Ok(())
}

fn tx_error(e: ::sled::transaction::TransactionError<StoreError>) -> StoreError {
    match e {
        ::sled::transaction::TransactionError::Abort(e) => e,
        ::sled::transaction::TransactionError::Storage(e) => e.into(),
    }
}

//! [`SledStore`]: the embedded [`Store`] on sled 0.34.
//!
//! Trees (all changes to them go through multi-tree transactions, so a crash leaves either all or none of a change):
//!
//! | tree           | key                         | value                                   |
//! |----------------|-----------------------------|-----------------------------------------|
//! | `messages`     | key                         | JSON record (+ history/evidence counts) |
//! | `ids`          | direction byte, MessageId   | key                                     |
//! | `dedup`        | inbound MessageId           | key, expiry                             |
//! | `dedup_expiry` | expiry, key                 | MessageId                               |
//! | `history`      | key, seq                    | JSON [`StateChange`]                    |
//! | `evidence`     | key, seq                    | kind byte, time, signal bytes           |
//! | `schedule`     | due time, key               | (empty): Submitted/WaitingRetry by next attempt, Sending by lease end |
//! | `by_state`     | state, entered-at, key      | (empty)                                 |
//! | `by_created`   | created-at, key             | (empty)                                 |
//! | `errors`       | at, key, seq                | JSON [`ErrorEntry`]                     |
//! | `counts`       | state                       | u64 count                               |

use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, Mutex};

use ::sled::transaction::{
    ConflictableTransactionError, ConflictableTransactionResult, TransactionError, TransactionalTree,
};
use ::sled::{IVec, Transactional, Tree};
use serde::{Deserialize, Serialize};

use super::error::{StoreError, StoreResult};
use super::group_commit::{FlushFn, GroupCommit};
use super::inbox::{Classification, ClassificationCommit, HistoryNote, InboxItem, InboxPage, InboxQuery};
use super::keys;
use super::payload_files::PayloadFiles;
use super::settings::StoreSettings;
use super::state::{Direction, State};
use super::types::*;
use super::{BoxFuture, Store, Written};

mod inbox;

/// Name of the sled database folder inside the data directory.
pub const DB_DIR: &str = "db";

/// The error log keeps at most this many entries (trimmed by purge).
const MAX_ERROR_LOG: usize = 10_000;
/// How many schedule entries one claim may look at per requested message (stale entries are skipped).
const CLAIM_SCAN_FACTOR: usize = 4;

/// The embedded store. Clone it freely; clones share one database and one committer.
#[derive(Clone)]
pub struct SledStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: ::sled::Db,
    trees: Trees,
    payloads: PayloadFiles,
    settings: StoreSettings,
    commit: GroupCommit,
    committer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

struct Trees {
    messages: Tree,
    ids: Tree,
    dedup: Tree,
    dedup_expiry: Tree,
    history: Tree,
    evidence: Tree,
    schedule: Tree,
    by_state: Tree,
    by_created: Tree,
    errors: Tree,
    counts: Tree,
}

impl Trees {
    fn open(db: &::sled::Db) -> StoreResult<Trees> {
        Ok(Trees {
            messages: db.open_tree("messages")?,
            ids: db.open_tree("ids")?,
            dedup: db.open_tree("dedup")?,
            dedup_expiry: db.open_tree("dedup_expiry")?,
            history: db.open_tree("history")?,
            evidence: db.open_tree("evidence")?,
            schedule: db.open_tree("schedule")?,
            by_state: db.open_tree("by_state")?,
            by_created: db.open_tree("by_created")?,
            errors: db.open_tree("errors")?,
            counts: db.open_tree("counts")?,
        })
    }

    /// In the order [`Tx`] indexes them.
    fn all(&self) -> [&Tree; 11] {
        [
            &self.messages,
            &self.ids,
            &self.dedup,
            &self.dedup_expiry,
            &self.history,
            &self.evidence,
            &self.schedule,
            &self.by_state,
            &self.by_created,
            &self.errors,
            &self.counts,
        ]
    }
}

/// The transactional view of [`Trees`], by name.
struct Tx<'a>(&'a [TransactionalTree]);

impl Tx<'_> {
    fn messages(&self) -> &TransactionalTree {
        &self.0[0]
    }
    fn ids(&self) -> &TransactionalTree {
        &self.0[1]
    }
    fn dedup(&self) -> &TransactionalTree {
        &self.0[2]
    }
    fn dedup_expiry(&self) -> &TransactionalTree {
        &self.0[3]
    }
    fn history(&self) -> &TransactionalTree {
        &self.0[4]
    }
    fn evidence(&self) -> &TransactionalTree {
        &self.0[5]
    }
    fn schedule(&self) -> &TransactionalTree {
        &self.0[6]
    }
    fn by_state(&self) -> &TransactionalTree {
        &self.0[7]
    }
    fn by_created(&self) -> &TransactionalTree {
        &self.0[8]
    }
    fn errors(&self) -> &TransactionalTree {
        &self.0[9]
    }
    fn counts(&self) -> &TransactionalTree {
        &self.0[10]
    }
}

type TxResult<T> = ConflictableTransactionResult<T, StoreError>;

fn abort<T>(e: StoreError) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(e))
}

/// The record as stored, with the lengths of its history and evidence lists (the next sequence numbers).
#[derive(Serialize, Deserialize)]
struct StoredRecord {
    record: MessageRecord,
    history_len: u32,
    evidence_len: u32,
}

fn encode_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising these plain structs to JSON cannot fail (no maps with non-string keys, no custom serialisers).
    serde_json::to_vec(value).unwrap_or_default()
}

fn decode_json<T: for<'de> Deserialize<'de>>(tree: &'static str, bytes: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        tree,
        detail: e.to_string(),
    })
}

fn encode_evidence(kind: EvidenceKind, at: Timestamp, bytes: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(9 + bytes.len());
    v.push(kind.tag());
    v.extend_from_slice(&at.0.to_be_bytes());
    v.extend_from_slice(bytes);
    v
}

fn decode_evidence(v: &[u8]) -> StoreResult<Evidence> {
    let corrupt = || StoreError::Corrupt {
        tree: "evidence",
        detail: "short or unknown entry".into(),
    };
    let kind = EvidenceKind::from_tag(*v.first().ok_or_else(corrupt)?).ok_or_else(corrupt)?;
    let at = u64::from_be_bytes(v.get(1..9).ok_or_else(corrupt)?.try_into().map_err(|_| corrupt())?);
    Ok(Evidence {
        kind,
        at: Timestamp(at),
        bytes: v[9..].to_vec(),
    })
}

fn encode_dedup(key: MessageKey, expires: Timestamp) -> [u8; 16] {
    keys::at_key(expires, key)
}

/// `(key, expires)` of a duplicate-detection entry (stored as `[expires][key]`).
fn decode_dedup(v: &[u8]) -> StoreResult<(MessageKey, Timestamp)> {
    keys::parse_at_key(v)
        .map(|(expires, key)| (key, expires))
        .ok_or(StoreError::Corrupt {
            tree: "dedup",
            detail: "short entry".into(),
        })
}

fn decode_u64(v: &[u8]) -> u64 {
    v.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

/// The time under which a record sits in the schedule, if it is scheduled at all.
fn schedule_time(record: &MessageRecord) -> Option<Timestamp> {
    match record.state {
        State::Submitted | State::WaitingRetry => record.next_attempt_at,
        State::Sending => record.lease_until,
        _ => None,
    }
}

/// One state change as applied inside a transaction.
struct Change<'a> {
    to: State,
    actor: &'a str,
    reason: &'a str,
    next_attempt_at: Option<Timestamp>,
    lease_until: Option<Timestamp>,
    error: Option<&'a str>,
    evidence: Option<&'a NewEvidence>,
    count_attempt: bool,
}

fn load(tx: &Tx, key: MessageKey) -> TxResult<Option<StoredRecord>> {
    match tx.messages().get(keys::message(key))? {
        None => Ok(None),
        Some(v) => match decode_json("messages", &v) {
            Ok(r) => Ok(Some(r)),
            Err(e) => abort(e),
        },
    }
}

fn save(tx: &Tx, stored: &StoredRecord) -> TxResult<()> {
    tx.messages()
        .insert(&keys::message(stored.record.key), encode_json(stored))?;
    Ok(())
}

fn add_count(tx: &Tx, state: State, delta: i64) -> TxResult<()> {
    let k = keys::count(state);
    let current = tx.counts().get(k)?.map(|v| decode_u64(&v)).unwrap_or(0);
    let next = current.saturating_add_signed(delta);
    tx.counts().insert(&k, &next.to_be_bytes())?;
    Ok(())
}

/// Adds the index entries of a freshly created record.
fn index_new(tx: &Tx, record: &MessageRecord) -> TxResult<()> {
    tx.ids().insert(
        keys::message_id(record.direction, &record.meta.message_id),
        &keys::message(record.key),
    )?;
    tx.by_state()
        .insert(&keys::state_at_key(record.state, record.updated_at, record.key), &[])?;
    tx.by_created()
        .insert(&keys::at_key(record.created_at, record.key), &[])?;
    if let Some(at) = schedule_time(record) {
        tx.schedule().insert(&keys::at_key(at, record.key), &[])?;
    }
    add_count(tx, record.state, 1)
}

fn append_history(tx: &Tx, stored: &mut StoredRecord, entry: &StateChange) -> TxResult<u32> {
    let seq = stored.history_len;
    tx.history()
        .insert(&keys::seq_key(stored.record.key, seq), encode_json(entry))?;
    stored.history_len += 1;
    Ok(seq)
}

fn append_evidence(tx: &Tx, stored: &mut StoredRecord, evidence: &NewEvidence, at: Timestamp) -> TxResult<()> {
    let seq = stored.evidence_len;
    tx.evidence().insert(
        &keys::seq_key(stored.record.key, seq),
        encode_evidence(evidence.kind, at, &evidence.bytes),
    )?;
    stored.evidence_len += 1;
    Ok(())
}

fn apply_change(tx: &Tx, stored: &mut StoredRecord, change: &Change, now: Timestamp) -> TxResult<()> {
    let from = stored.record.state;
    let key = stored.record.key;
    if let Err(e) = from.check_transition(change.to) {
        return abort(e.into());
    }
    tx.by_state()
        .remove(&keys::state_at_key(from, stored.record.updated_at, key))?;
    if let Some(at) = schedule_time(&stored.record) {
        tx.schedule().remove(&keys::at_key(at, key))?;
    }
    add_count(tx, from, -1)?;

    let record = &mut stored.record;
    record.state = change.to;
    record.updated_at = now;
    record.next_attempt_at = change.next_attempt_at;
    record.lease_until = change.lease_until;
    if change.count_attempt {
        record.attempts = record.attempts.saturating_add(1);
    }
    if let Some(error) = change.error {
        record.last_error = Some(error.to_string());
    }
    let entry = StateChange {
        at: now,
        from: Some(from),
        to: change.to,
        actor: change.actor.to_string(),
        reason: change.reason.to_string(),
    };
    let seq = append_history(tx, stored, &entry)?;
    if let Some(error) = change.error {
        let logged = ErrorEntry {
            at: now,
            key,
            message_id: stored.record.meta.message_id.clone(),
            direction: stored.record.direction,
            state: change.to,
            error: error.to_string(),
        };
        tx.errors()
            .insert(&keys::error_key(now, key, seq), encode_json(&logged))?;
    }
    if let Some(evidence) = change.evidence {
        append_evidence(tx, stored, evidence, now)?;
    }

    tx.by_state().insert(&keys::state_at_key(change.to, now, key), &[])?;
    if let Some(at) = schedule_time(&stored.record) {
        tx.schedule().insert(&keys::at_key(at, key), &[])?;
    }
    add_count(tx, change.to, 1)?;
    save(tx, stored)
}

impl SledStore {
    /// Opens (creating when needed) the store under `settings.data_dir`. Must run inside a tokio runtime: it starts
    /// the group-commit task. Call [`Store::recover`] next, before any pipeline uses the store.
    pub async fn open(settings: StoreSettings) -> StoreResult<SledStore> {
        let data_dir = settings.data_dir.clone();
        let cache = settings.cache_capacity_bytes;
        let (db, trees, payloads) = tokio::task::spawn_blocking(move || open_blocking(&data_dir, cache))
            .await
            .map_err(|e| StoreError::Database(format!("open task failed: {e}")))??;
        let flush_db = db.clone();
        let disk = DiskSync::open(&settings.data_dir.join(DB_DIR))?;
        let flush: FlushFn = Arc::new(move || {
            flush_db.flush().map_err(|e| e.to_string())?;
            disk.sync().map_err(|e| format!("fsync of the database files: {e}"))
        });
        let (commit, task) = GroupCommit::start(flush, settings.group_commit.clone());
        Ok(SledStore {
            inner: Arc::new(Inner {
                db,
                trees,
                payloads,
                settings,
                commit,
                committer: Mutex::new(Some(task)),
            }),
        })
    }

    /// The settings the store was opened with.
    pub fn settings(&self) -> &StoreSettings {
        &self.inner.settings
    }

    /// Flushes run by the committer so far (for measurements and metrics).
    pub fn flush_count(&self) -> u64 {
        self.inner.commit.flushes()
    }

    fn durable_after_write(&self) -> BoxFuture<'static, StoreResult<()>> {
        Box::pin(self.inner.commit.clone().wait_durable())
    }

    fn blocking<T, F>(&self, f: F) -> BoxFuture<'static, StoreResult<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> StoreResult<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || f(&inner))
                .await
                .map_err(|e| StoreError::Database(format!("store task failed: {e}")))?
        })
    }
}

/// Completes sled's flush with real fsyncs.
///
/// sled 0.34 makes its log "stable" on Linux with `sync_file_range`, which neither flushes the drive's write cache
/// nor the file's metadata, and it writes values too large for a log segment to separate files under `blobs/` without
/// any sync. Both are enough for a process crash (the kernel has the data) but not for a power loss. After every
/// flush we therefore `fdatasync` the log file and fsync blob files we have not synced yet (blobs are immutable) and
/// the blob folder. With group commit this costs one real sync per batch.
struct DiskSync {
    log: std::fs::File,
    blobs_dir: std::path::PathBuf,
    synced_blobs: Mutex<std::collections::HashSet<std::ffi::OsString>>,
}

impl DiskSync {
    fn open(db_dir: &Path) -> StoreResult<DiskSync> {
        let log_path = db_dir.join("db");
        let log = std::fs::File::open(&log_path)
            .map_err(|e| StoreError::io(format!("opening {} for fsync", log_path.display()), e))?;
        Ok(DiskSync {
            log,
            blobs_dir: db_dir.join("blobs"),
            synced_blobs: Mutex::default(),
        })
    }

    fn sync(&self) -> std::io::Result<()> {
        self.log.sync_data()?;
        let mut synced = self.synced_blobs.lock().unwrap_or_else(|p| p.into_inner());
        let entries = match std::fs::read_dir(&self.blobs_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut present = std::collections::HashSet::new();
        let mut synced_new = false;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            if !synced.contains(&name) {
                match std::fs::File::open(entry.path()).and_then(|f| f.sync_all()) {
                    Ok(()) => synced_new = true,
                    // sled removes blobs it no longer needs; a vanished blob needs no sync.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
            }
            present.insert(name);
        }
        *synced = present;
        if synced_new {
            std::fs::File::open(&self.blobs_dir)?.sync_all()?;
        }
        Ok(())
    }
}

/// How long opening waits for the database lock of a store closed a moment ago by this process.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

fn open_blocking(data_dir: &Path, cache: u64) -> StoreResult<(::sled::Db, Trees, PayloadFiles)> {
    std::fs::create_dir_all(data_dir).map_err(|e| StoreError::io(format!("creating {}", data_dir.display()), e))?;
    let db_dir = data_dir.join(DB_DIR);
    let open_once = || {
        ::sled::Config::new()
            .path(&db_dir)
            .cache_capacity(cache)
            .open()
            .map_err(|e| match e {
                ::sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
                    StoreError::InUse(db_dir.clone())
                }
                other => other.into(),
            })
    };
    // A store this process closed a moment ago keeps its file lock until sled's background flusher thread has
    // ended (it holds the last reference); wait for that briefly instead of failing a restart in the same process.
    // Another process holding the store still fails, after LOCK_WAIT.
    let waited_since = std::time::Instant::now();
    let db = loop {
        match open_once() {
            Err(StoreError::InUse(_)) if waited_since.elapsed() < LOCK_WAIT => {
                std::thread::sleep(std::time::Duration::from_millis(25))
            }
            other => break other?,
        }
    };
    let trees = Trees::open(&db)?;
    let payloads = PayloadFiles::open(data_dir)?;
    Ok((db, trees, payloads))
}

impl Drop for Inner {
    /// A store dropped without `close` still lets its committer end (releasing the database lock) once idle.
    fn drop(&mut self) {
        self.commit.close();
    }
}

impl Inner {
    fn transact<T>(&self, f: impl Fn(&Tx) -> TxResult<T>) -> StoreResult<T> {
        let trees = self.trees.all();
        trees[..]
            .transaction(|view: &Vec<TransactionalTree>| f(&Tx(view)))
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => e.into(),
            })
    }

    fn check_payloads(&self, key: MessageKey, payloads: &[PayloadPart]) -> StoreResult<()> {
        for part in payloads {
            self.payloads.path_of(key, part)?;
        }
        Ok(())
    }

    fn get(&self, key: MessageKey) -> StoreResult<Option<MessageRecord>> {
        match self.trees.messages.get(keys::message(key))? {
            None => Ok(None),
            Some(v) => Ok(Some(decode_json::<StoredRecord>("messages", &v)?.record)),
        }
    }

    fn receipt_of(&self, key: MessageKey) -> StoreResult<Option<Evidence>> {
        for item in self.trees.evidence.scan_prefix(keys::message(key)) {
            let (_, v) = item?;
            let evidence = decode_evidence(&v)?;
            if evidence.kind == EvidenceKind::Receipt {
                return Ok(Some(evidence));
            }
        }
        Ok(None)
    }

    fn insert_outbound(&self, new: &NewOutbound) -> StoreResult<MessageRecord> {
        self.check_payloads(new.key, &new.payloads)?;
        let now = Timestamp::now();
        let record = MessageRecord {
            key: new.key,
            direction: Direction::Outbound,
            state: State::Submitted,
            meta: new.meta.clone(),
            payloads: new.payloads.clone(),
            created_at: now,
            updated_at: now,
            attempts: 0,
            next_attempt_at: Some(now),
            lease_until: None,
            last_error: None,
        };
        let id_key = keys::message_id(Direction::Outbound, &new.meta.message_id);
        self.transact(|tx| {
            if tx.messages().get(keys::message(new.key))?.is_some() {
                return abort(StoreError::InvalidRecord(format!("key {} is already used", new.key)));
            }
            if tx.ids().get(&id_key)?.is_some() {
                return abort(StoreError::InvalidRecord(format!(
                    "outbound MessageId {:?} is already stored",
                    new.meta.message_id
                )));
            }
            let mut stored = StoredRecord {
                record: record.clone(),
                history_len: 0,
                evidence_len: 0,
            };
            let created = StateChange {
                at: now,
                from: None,
                to: State::Submitted,
                actor: new.actor.clone(),
                reason: "submitted".into(),
            };
            append_history(tx, &mut stored, &created)?;
            index_new(tx, &stored.record)?;
            save(tx, &stored)?;
            Ok(())
        })?;
        Ok(record)
    }

    fn insert_inbound(&self, new: &NewInbound) -> StoreResult<InboundInsert> {
        self.check_payloads(new.key, &new.payloads)?;
        let now = Timestamp::now();
        let expires = now.plus(new.duplicate_window);
        let record = MessageRecord {
            key: new.key,
            direction: Direction::Inbound,
            state: State::Received,
            meta: new.meta.clone(),
            payloads: new.payloads.clone(),
            created_at: now,
            updated_at: now,
            attempts: 0,
            next_attempt_at: None,
            lease_until: None,
            last_error: None,
        };
        let dedup_key = new.meta.message_id.as_bytes();
        let receipt = NewEvidence {
            kind: EvidenceKind::Receipt,
            bytes: new.receipt.clone(),
        };
        let outcome = self.transact(|tx| {
            if let Some(v) = tx.dedup().get(dedup_key)? {
                let (old_key, old_expires) = match decode_dedup(&v) {
                    Ok(x) => x,
                    Err(e) => return abort(e),
                };
                if old_expires > now {
                    if let Some(existing) = load(tx, old_key)? {
                        // The receipt is always the first evidence of an inbound record.
                        let receipt = match tx.evidence().get(keys::seq_key(old_key, 0))? {
                            Some(v) => match decode_evidence(&v) {
                                Ok(e) if e.kind == EvidenceKind::Receipt => Some(e),
                                Ok(_) => None,
                                Err(e) => return abort(e),
                            },
                            None => None,
                        };
                        return Ok(InboundInsert::Duplicate {
                            existing: existing.record,
                            receipt,
                        });
                    }
                }
                tx.dedup_expiry().remove(&keys::at_key(old_expires, old_key))?;
            }
            if tx.messages().get(keys::message(new.key))?.is_some() {
                return abort(StoreError::InvalidRecord(format!("key {} is already used", new.key)));
            }
            let mut stored = StoredRecord {
                record: record.clone(),
                history_len: 0,
                evidence_len: 0,
            };
            let created = StateChange {
                at: now,
                from: None,
                to: State::Received,
                actor: new.actor.clone(),
                reason: "received".into(),
            };
            append_history(tx, &mut stored, &created)?;
            append_evidence(tx, &mut stored, &receipt, now)?;
            tx.dedup().insert(dedup_key, &encode_dedup(new.key, expires))?;
            tx.dedup_expiry().insert(&keys::at_key(expires, new.key), dedup_key)?;
            index_new(tx, &stored.record)?;
            save(tx, &stored)?;
            Ok(InboundInsert::Inserted(stored.record.clone()))
        })?;
        Ok(outcome)
    }

    fn transition(&self, t: &Transition) -> StoreResult<MessageRecord> {
        t.expected_from.check_transition(t.to)?;
        if t.to == State::WaitingRetry && t.next_attempt_at.is_none() {
            return Err(StoreError::MissingRetryTime(t.key));
        }
        let now = Timestamp::now();
        let lease_until = (t.to == State::Sending).then(|| now.plus(self.settings.send_lease()));
        let next_attempt_at = (t.to == State::WaitingRetry).then_some(t.next_attempt_at).flatten();
        let change = Change {
            to: t.to,
            actor: &t.actor,
            reason: &t.reason,
            next_attempt_at,
            lease_until,
            error: t.error.as_deref(),
            evidence: t.evidence.as_ref(),
            count_attempt: t.to == State::Sending,
        };
        self.transact(|tx| {
            let Some(mut stored) = load(tx, t.key)? else {
                return abort(StoreError::NotFound(t.key));
            };
            if stored.record.state != t.expected_from {
                return abort(StoreError::UnexpectedState {
                    key: t.key,
                    expected: t.expected_from,
                    actual: stored.record.state,
                });
            }
            if let Some(expected) = t.expected_attempt {
                if stored.record.attempts != expected {
                    return abort(StoreError::StaleAttempt {
                        key: t.key,
                        expected,
                        actual: stored.record.attempts,
                    });
                }
            }
            apply_change(tx, &mut stored, &change, now)?;
            Ok(stored.record)
        })
    }

    fn claim_due(&self, now: Timestamp, limit: usize, actor: &str) -> StoreResult<Vec<Claimed>> {
        let mut claimed = Vec::new();
        if limit == 0 {
            return Ok(claimed);
        }
        let lease_until = now.plus(self.settings.send_lease());
        let upper = keys::at_key(Timestamp(now.0.saturating_add(1)), MessageKey(0));
        let candidates: Vec<IVec> = self
            .trees
            .schedule
            .range(..upper)
            .keys()
            .take(limit.saturating_mul(CLAIM_SCAN_FACTOR))
            .collect::<Result<_, _>>()?;
        for sched_key in candidates {
            if claimed.len() >= limit {
                break;
            }
            let Some((due, key)) = keys::parse_at_key(&sched_key) else {
                continue;
            };
            let outcome = self.transact(|tx| {
                if tx.schedule().get(&sched_key)?.is_none() {
                    return Ok(None); // another claimer was first
                }
                let Some(mut stored) = load(tx, key)? else {
                    tx.schedule().remove(&sched_key)?;
                    return Ok(None);
                };
                if schedule_time(&stored.record) != Some(due) {
                    tx.schedule().remove(&sched_key)?; // stale entry
                    return Ok(None);
                }
                let mut claimed_from = stored.record.state;
                if claimed_from == State::Sending {
                    let expired = Change {
                        to: State::WaitingRetry,
                        actor: "store:lease",
                        reason: "send lease expired without an outcome",
                        next_attempt_at: Some(now),
                        lease_until: None,
                        error: Some("send lease expired without an outcome"),
                        evidence: None,
                        count_attempt: false,
                    };
                    apply_change(tx, &mut stored, &expired, now)?;
                    claimed_from = State::WaitingRetry;
                }
                let sending = Change {
                    to: State::Sending,
                    actor,
                    reason: "claimed for sending",
                    next_attempt_at: None,
                    lease_until: Some(lease_until),
                    error: None,
                    evidence: None,
                    count_attempt: true,
                };
                apply_change(tx, &mut stored, &sending, now)?;
                Ok(Some(Claimed {
                    record: stored.record,
                    claimed_from,
                }))
            })?;
            claimed.extend(outcome);
        }
        Ok(claimed)
    }

    fn next_due(&self) -> StoreResult<Option<Timestamp>> {
        Ok(self
            .trees
            .schedule
            .first()?
            .and_then(|(k, _)| keys::parse_at_key(&k))
            .map(|(at, _)| at))
    }

    fn history(&self, key: MessageKey) -> StoreResult<Vec<StateChange>> {
        self.trees
            .history
            .scan_prefix(keys::message(key))
            .values()
            .map(|v| decode_json("history", &v?))
            .collect()
    }

    fn evidence(&self, key: MessageKey) -> StoreResult<Vec<Evidence>> {
        self.trees
            .evidence
            .scan_prefix(keys::message(key))
            .values()
            .map(|v| decode_evidence(&v?))
            .collect()
    }

    fn find_duplicate(&self, message_id: &str, now: Timestamp) -> StoreResult<Option<DuplicateHit>> {
        let Some(v) = self.trees.dedup.get(message_id.as_bytes())? else {
            return Ok(None);
        };
        let (key, expires) = decode_dedup(&v)?;
        if expires <= now {
            return Ok(None);
        }
        let Some(record) = self.get(key)? else { return Ok(None) };
        Ok(Some((record, self.receipt_of(key)?)))
    }

    fn list(&self, q: &ListQuery) -> StoreResult<Page> {
        let limit = if q.limit == 0 {
            MAX_PAGE_SIZE
        } else {
            q.limit.min(MAX_PAGE_SIZE)
        };
        if let (Some(state), Some(direction)) = (q.state, q.direction) {
            if state.direction() != direction {
                return Ok(Page {
                    records: Vec::new(),
                    next: None,
                });
            }
        }
        let since = q.since.unwrap_or(Timestamp(0));
        let (tree, lower, mut upper): (&Tree, Vec<u8>, Bound<Vec<u8>>) = match q.state {
            Some(state) => {
                let end = match q.until {
                    Some(until) => keys::state_bound(state, until).to_vec(),
                    None => vec![state.tag() + 1],
                };
                (
                    &self.trees.by_state,
                    keys::state_bound(state, since).to_vec(),
                    Bound::Excluded(end),
                )
            }
            None => {
                let end = match q.until {
                    Some(until) => Bound::Excluded(until.0.to_be_bytes().to_vec()),
                    None => Bound::Unbounded,
                };
                (&self.trees.by_created, since.0.to_be_bytes().to_vec(), end)
            }
        };
        let mut lower = Bound::Included(lower);
        if let Some(after) = q.after {
            let cursor_key = match q.state {
                Some(state) => keys::state_at_key(state, after.at, after.key).to_vec(),
                None => keys::at_key(after.at, after.key).to_vec(),
            };
            if q.oldest_first {
                lower = match lower {
                    Bound::Included(start) if start > cursor_key => Bound::Included(start),
                    _ => Bound::Excluded(cursor_key),
                };
            } else {
                upper = match upper {
                    Bound::Excluded(end) if end <= cursor_key => Bound::Excluded(end),
                    _ => Bound::Excluded(cursor_key),
                };
            }
        }
        let mut records = Vec::new();
        let mut next = None;
        let range = tree.range((lower, upper));
        let entries: Box<dyn Iterator<Item = ::sled::Result<(IVec, IVec)>>> = if q.oldest_first {
            Box::new(range)
        } else {
            Box::new(range.rev())
        };
        for item in entries {
            let (k, _) = item?;
            let key = match keys::cursor_of(&k, q.state.is_some()) {
                Some(c) => c.key,
                None => continue,
            };
            let Some(record) = self.get(key)? else { continue };
            if q.direction.is_some_and(|d| d != record.direction) {
                continue;
            }
            records.push(record);
            if records.len() == limit {
                next = keys::cursor_of(&k, q.state.is_some());
                break;
            }
        }
        Ok(Page { records, next })
    }

    fn counts(&self) -> StoreResult<StateCounts> {
        let mut counts = StateCounts::default();
        for item in self.trees.counts.iter() {
            let (k, v) = item?;
            if let Some(state) = k.first().and_then(|t| State::from_tag(*t)) {
                counts.counts.insert(state, decode_u64(&v));
            }
        }
        Ok(counts)
    }

    fn last_errors(&self, n: usize) -> StoreResult<Vec<ErrorEntry>> {
        self.trees
            .errors
            .iter()
            .values()
            .rev()
            .take(n)
            .map(|v| decode_json("errors", &v?))
            .collect()
    }

    /// Removes one message and everything that refers to it, if it is still in `state`.
    fn delete_message(&self, key: MessageKey, state: State) -> StoreResult<bool> {
        self.transact(|tx| {
            let Some(stored) = load(tx, key)? else { return Ok(false) };
            let record = &stored.record;
            if record.state != state {
                return Ok(false);
            }
            tx.messages().remove(&keys::message(key))?;
            let id_key = keys::message_id(record.direction, &record.meta.message_id);
            if tx.ids().get(&id_key)?.as_deref() == Some(&keys::message(key)[..]) {
                tx.ids().remove(id_key)?;
            }
            if record.direction == Direction::Inbound {
                let dedup_key = record.meta.message_id.as_bytes();
                if let Some(v) = tx.dedup().get(dedup_key)? {
                    if let Ok((owner, expires)) = decode_dedup(&v) {
                        if owner == key {
                            tx.dedup().remove(dedup_key)?;
                            tx.dedup_expiry().remove(&keys::at_key(expires, key))?;
                        }
                    }
                }
            }
            for seq in 0..stored.history_len {
                tx.history().remove(&keys::seq_key(key, seq))?;
            }
            for seq in 0..stored.evidence_len {
                tx.evidence().remove(&keys::seq_key(key, seq))?;
            }
            if let Some(at) = schedule_time(record) {
                tx.schedule().remove(&keys::at_key(at, key))?;
            }
            tx.by_state()
                .remove(&keys::state_at_key(record.state, record.updated_at, key))?;
            tx.by_created().remove(&keys::at_key(record.created_at, key))?;
            add_count(tx, record.state, -1)?;
            Ok(true)
        })
    }

    /// The record-side part of a purge; returns the purged keys (their files go after the flush).
    fn purge_records(&self, now: Timestamp, report: &mut PurgeReport) -> StoreResult<Vec<MessageKey>> {
        let mut purged = Vec::new();
        for state in State::ALL {
            let Some(retention) = self.settings.retention.retention_for(state) else {
                continue;
            };
            let cutoff = now.minus(retention);
            let range = keys::state_bound(state, Timestamp(0)).to_vec()..keys::state_bound(state, cutoff).to_vec();
            let due: Vec<IVec> = self.trees.by_state.range(range).keys().collect::<Result<_, _>>()?;
            for k in due {
                let Some(cursor) = keys::cursor_of(&k, true) else {
                    continue;
                };
                if self.delete_message(cursor.key, state)? {
                    purged.push(cursor.key);
                    report.messages += 1;
                }
            }
        }
        // Expired duplicate-detection entries.
        let upper = keys::at_key(Timestamp(now.0.saturating_add(1)), MessageKey(0));
        let expired: Vec<(IVec, IVec)> = self.trees.dedup_expiry.range(..upper).collect::<Result<_, _>>()?;
        for (k, message_id) in expired {
            let Some((expires, key)) = keys::parse_at_key(&k) else {
                continue;
            };
            let removed = self.transact(|tx| {
                let mut removed = false;
                if let Some(v) = tx.dedup().get(&message_id)? {
                    if v.as_ref() == encode_dedup(key, expires) {
                        tx.dedup().remove(&message_id)?;
                        removed = true;
                    }
                }
                tx.dedup_expiry().remove(&k)?;
                Ok(removed)
            })?;
            report.expired_duplicate_entries += u64::from(removed);
        }
        // Error log: entries of purged messages, then everything beyond the cap.
        let mut kept = 0usize;
        for item in self.trees.errors.iter().rev() {
            let (k, _) = item?;
            let gone = keys::parse_at_key(&k)
                .map(|(_, key)| !self.trees.messages.contains_key(keys::message(key)).unwrap_or(true))
                .unwrap_or(true);
            if gone || kept >= MAX_ERROR_LOG {
                self.trees.errors.remove(&k)?;
            } else {
                kept += 1;
            }
        }
        Ok(purged)
    }

    fn release_leases(&self) -> StoreResult<u64> {
        let now = Timestamp::now();
        let sending: Vec<IVec> = self
            .trees
            .by_state
            .scan_prefix([State::Sending.tag()])
            .keys()
            .collect::<Result<_, _>>()?;
        let mut released = 0;
        for k in sending {
            let Some(cursor) = keys::cursor_of(&k, true) else {
                continue;
            };
            let change = Change {
                to: State::WaitingRetry,
                actor: "store:recover",
                reason: "send attempt interrupted by a restart",
                next_attempt_at: Some(now),
                lease_until: None,
                error: None,
                evidence: None,
                count_attempt: false,
            };
            let done = self.transact(|tx| {
                let Some(mut stored) = load(tx, cursor.key)? else {
                    return Ok(false);
                };
                if stored.record.state != State::Sending {
                    return Ok(false);
                }
                apply_change(tx, &mut stored, &change, now)?;
                Ok(true)
            })?;
            released += u64::from(done);
        }
        Ok(released)
    }
}

impl Store for SledStore {
    fn allocate_key(&self) -> StoreResult<MessageKey> {
        // sled persists id blocks ahead of use, so ids are never handed out twice, even across crashes.
        Ok(MessageKey(self.inner.db.generate_id()?))
    }

    fn payload_files(&self) -> &PayloadFiles {
        &self.inner.payloads
    }

    fn insert_outbound(&self, new: NewOutbound) -> BoxFuture<'_, StoreResult<Written<MessageRecord>>> {
        let write = self.blocking(move |inner| inner.insert_outbound(&new));
        Box::pin(async move { Ok(Written::new(write.await?, self.durable_after_write())) })
    }

    fn insert_inbound(&self, new: NewInbound) -> BoxFuture<'_, StoreResult<Written<InboundInsert>>> {
        let write = self.blocking(move |inner| inner.insert_inbound(&new));
        Box::pin(async move { Ok(Written::new(write.await?, self.durable_after_write())) })
    }

    fn transition(&self, change: Transition) -> BoxFuture<'_, StoreResult<Written<MessageRecord>>> {
        let write = self.blocking(move |inner| inner.transition(&change));
        Box::pin(async move { Ok(Written::new(write.await?, self.durable_after_write())) })
    }

    fn claim_due<'a>(
        &'a self,
        now: Timestamp,
        limit: usize,
        actor: &'a str,
    ) -> BoxFuture<'a, StoreResult<Vec<Claimed>>> {
        let actor = actor.to_string();
        self.blocking(move |inner| inner.claim_due(now, limit, &actor))
    }

    fn next_due(&self) -> BoxFuture<'_, StoreResult<Option<Timestamp>>> {
        self.blocking(|inner| inner.next_due())
    }

    fn get(&self, key: MessageKey) -> BoxFuture<'_, StoreResult<Option<MessageRecord>>> {
        self.blocking(move |inner| inner.get(key))
    }

    fn get_by_message_id<'a>(
        &'a self,
        direction: Direction,
        message_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<MessageRecord>>> {
        let id_key = keys::message_id(direction, message_id);
        self.blocking(move |inner| match inner.trees.ids.get(id_key)? {
            Some(v) => inner.get(MessageKey(decode_u64(&v))),
            None => Ok(None),
        })
    }

    fn history(&self, key: MessageKey) -> BoxFuture<'_, StoreResult<Vec<StateChange>>> {
        self.blocking(move |inner| inner.history(key))
    }

    fn evidence(&self, key: MessageKey) -> BoxFuture<'_, StoreResult<Vec<Evidence>>> {
        self.blocking(move |inner| inner.evidence(key))
    }

    fn find_duplicate<'a>(
        &'a self,
        message_id: &'a str,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<Option<DuplicateHit>>> {
        let message_id = message_id.to_string();
        self.blocking(move |inner| inner.find_duplicate(&message_id, now))
    }

    fn list(&self, query: ListQuery) -> BoxFuture<'_, StoreResult<Page>> {
        self.blocking(move |inner| inner.list(&query))
    }

    fn counts(&self) -> BoxFuture<'_, StoreResult<StateCounts>> {
        self.blocking(|inner| inner.counts())
    }

    fn last_errors(&self, n: usize) -> BoxFuture<'_, StoreResult<Vec<ErrorEntry>>> {
        self.blocking(move |inner| inner.last_errors(n))
    }

    fn purge(&self, now: Timestamp) -> BoxFuture<'_, StoreResult<PurgeReport>> {
        Box::pin(async move {
            let (mut report, purged) = self
                .blocking(move |inner| {
                    let mut report = PurgeReport::default();
                    let purged = inner.purge_records(now, &mut report)?;
                    Ok((report, purged))
                })
                .await?;
            let forget = purged.clone();
            self.blocking(move |inner| inner.forget_inbox(&forget)).await?;
            // Files go only after the records that named them are gone for good.
            self.durable_after_write().await?;
            for key in purged {
                report.payload_files += self.inner.payloads.remove_message(key).await?;
            }
            Ok(report)
        })
    }

    fn recover(&self) -> BoxFuture<'_, StoreResult<RecoveryReport>> {
        Box::pin(async move {
            let report = self
                .blocking(|inner| {
                    let leases_released = inner.release_leases()?;
                    let messages = inner.trees.messages.clone();
                    let sweep = inner
                        .payloads
                        .sweep(|key| Ok(messages.contains_key(keys::message(key))?))?;
                    Ok(RecoveryReport {
                        leases_released,
                        temp_files_removed: sweep.temp_files_removed,
                        orphan_payload_dirs_removed: sweep.orphan_dirs_removed,
                    })
                })
                .await?;
            self.durable_after_write().await?;
            Ok(report)
        })
    }

    fn close(&self) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            self.inner.commit.close();
            let task = self.inner.committer.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(task) = task {
                let _ = task.await;
            }
            self.blocking(|inner| inner.db.flush().map(|_| ()).map_err(StoreError::from))
                .await
        })
    }
    fn commit_classification(&self, commit: ClassificationCommit) -> BoxFuture<'_, StoreResult<Written<()>>> {
        let write = self.blocking(move |inner| inner.commit_classification(&commit));
        Box::pin(async move { Ok(Written::new(write.await?, self.durable_after_write())) })
    }

    fn classification(&self, key: MessageKey) -> BoxFuture<'_, StoreResult<Option<Classification>>> {
        self.blocking(move |inner| inner.classification(key))
    }

    fn unclassified_inbound(&self, limit: usize) -> BoxFuture<'_, StoreResult<Vec<MessageKey>>> {
        self.blocking(move |inner| inner.unclassified_inbound(limit))
    }

    fn annotate(&self, note: HistoryNote) -> BoxFuture<'_, StoreResult<Written<()>>> {
        let write = self.blocking(move |inner| inner.annotate(&note));
        Box::pin(async move { Ok(Written::new(write.await?, self.durable_after_write())) })
    }

    fn inbox_get(&self, key: MessageKey) -> BoxFuture<'_, StoreResult<Option<InboxItem>>> {
        self.blocking(move |inner| inner.inbox_get(key))
    }

    fn inbox_list(&self, query: InboxQuery) -> BoxFuture<'_, StoreResult<InboxPage>> {
        self.blocking(move |inner| inner.inbox_list(&query))
    }
}

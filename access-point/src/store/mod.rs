//! The message store: message records and their states, the state history, the duplicate-detection index, receipts
//! and error signals kept as evidence, the retry schedule, and per-message payload files.
//!
//! In the spirit of Postfix's queue, a message's state is where it is stored: every state has its own index, the
//! retry schedule is an index keyed by the time a message next needs attention, and recovery after a crash is a scan
//! of those indexes ([`Store::recover`]), not a guess.
//!
//! # Durability
//! Writes return a [`Written`] value. Awaiting [`Written::durable`] resolves only after a database flush that began
//! after the write, and only then may the caller acknowledge (send the receipt, accept the submission). Concurrent
//! writers share flushes (group commit, see `group_commit.rs`), so N writers pay about one flush, not N. Payload
//! files are written by [`PayloadFiles`] to a temporary name, fsynced, renamed and their folder fsynced before the
//! record that refers to them is written.
//!
//! # Use from the pipelines
//! - Receive: `allocate_key` → stream each part with `payload_files().write_part(key, i, ..)` → (optionally
//!   `find_duplicate` early to skip work) → build the signed receipt → `insert_inbound(..)` → `durable().await` →
//!   answer with the receipt, or for `Duplicate` with the stored receipt (and `payload_files().remove_message(key)`).
//! - Submit: `allocate_key` → write parts → `insert_outbound(..)` → `durable().await` → accept the submission.
//! - Send: loop { `claim_due(now, n, "sender-task")` (sleep until `next_due` when empty) → send →
//!   `transition(Transition::new(key, Sending, Delivered | WaitingRetry | Failed, ..).for_attempt(attempts))` with the
//!   receipt or error signal as evidence → `durable().await` → tell the producer }.
//! - Start: `SledStore::open(settings)` → `recover()` → start the pipelines; call `purge(now)` periodically.
//!
//! # Backends
//! [`Store`] is object safe (`Arc<dyn Store>`): the backend is chosen by configuration at run time (sled embedded
//! today, a server database for clusters later) and the pipelines do not become generic over it. The price is one
//! boxed future per call, which is noise next to the blocking database work each call does. [`SledStore`] is the
//! embedded default.

mod error;
mod group_commit;
pub mod inbox;
mod keys;
mod payload_files;
mod settings;
mod sled;
mod state;
mod status;
mod types;

use std::future::Future;
use std::pin::Pin;

pub use self::error::{StoreError, StoreResult};
pub use self::inbox::{
    Classification, ClassificationCommit, HistoryNote, InboxAttachment, InboxCursor, InboxEntry, InboxItem, InboxPage,
    InboxQuery, SentKvittens,
};
pub use self::payload_files::{PayloadFiles, SweepReport, PAYLOADS_DIR};
pub use self::settings::{GroupCommitSettings, RetentionSettings, StoreSettings};
pub use self::sled::{SledStore, DB_DIR};
pub use self::state::{Direction, IllegalTransition, State};
pub use self::status::StatusReport;
pub use self::types::{
    Claimed, Cursor, DuplicateHit, ErrorEntry, Evidence, EvidenceKind, InboundInsert, ListQuery, MessageKey,
    MessageMeta, MessageRecord, NewEvidence, NewInbound, NewOutbound, Page, Party, PayloadPart, PurgeReport,
    RecoveryReport, StateChange, StateCounts, Timestamp, Transition, MAX_PAGE_SIZE,
};

/// A boxed, sendable future: what the object-safe [`Store`] methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The result of a write that is applied but maybe not yet on disk. Get the value with [`Written::durable`] before
/// acknowledging anything to anyone; [`Written::into_unacknowledged`] is for the few writes that need no durability
/// (their loss in a crash is repaired by recovery).
#[must_use = "a write is not durable until `durable().await` has returned"]
pub struct Written<T> {
    value: T,
    durable: BoxFuture<'static, StoreResult<()>>,
}

impl<T> Written<T> {
    /// Pairs a value with the future that confirms its durability (backends use this).
    pub fn new(value: T, durable: BoxFuture<'static, StoreResult<()>>) -> Written<T> {
        Written { value, durable }
    }

    /// For backends whose writes are durable when they return.
    pub fn already_durable(value: T) -> Written<T> {
        Written {
            value,
            durable: Box::pin(async { Ok(()) }),
        }
    }

    /// Waits until the write is on disk, then yields the value.
    pub async fn durable(self) -> StoreResult<T> {
        self.durable.await?;
        Ok(self.value)
    }

    /// Looks at the value before it is durable (for logging; never for acknowledging).
    pub fn peek(&self) -> &T {
        &self.value
    }

    /// Takes the value without waiting for durability.
    pub fn into_unacknowledged(self) -> T {
        self.value
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Written<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Written")
            .field("value", &self.value)
            .finish_non_exhaustive()
    }
}

/// Persistent message storage. Every method is safe to call concurrently; blocking work runs off the async threads.
pub trait Store: Send + Sync {
    /// A fresh, never reused message key. Allocate it first, write the payload files under it, then insert.
    fn allocate_key(&self) -> StoreResult<MessageKey>;

    /// The payload folder tree of this store.
    fn payload_files(&self) -> &PayloadFiles;

    /// Stores a local submission as `Submitted`, due for sending now. Refuses a key or outbound MessageId that is
    /// already stored, and payload paths outside the message's folder.
    fn insert_outbound(&self, new: NewOutbound) -> BoxFuture<'_, StoreResult<Written<MessageRecord>>>;

    /// Stores a received message as `Received` together with its duplicate-detection entry and its receipt, in one
    /// atomic transaction; or, when its MessageId was received within the window, stores nothing and returns the
    /// original record and receipt. Await durability in both cases before answering: the original may itself still
    /// be waiting for its flush.
    fn insert_inbound(&self, new: NewInbound) -> BoxFuture<'_, StoreResult<Written<InboundInsert>>>;

    /// Applies a state change if the message is in `expected_from` and the lifecycle allows it, appending a history
    /// entry and the optional evidence and error, and updating the retry schedule.
    fn transition(&self, change: Transition) -> BoxFuture<'_, StoreResult<Written<MessageRecord>>>;

    /// Takes up to `limit` outbound messages whose next attempt is due at `now` (or whose send lease expired),
    /// moves them to `Sending` under a lease of the configured length and counts the attempt. Claims need no
    /// durability: a lost claim leaves the message due, and recovery returns `Sending` messages to the schedule.
    fn claim_due<'a>(
        &'a self,
        now: Timestamp,
        limit: usize,
        actor: &'a str,
    ) -> BoxFuture<'a, StoreResult<Vec<Claimed>>>;

    /// When the earliest scheduled message is due (or its lease expires), so the sender task knows how long to sleep.
    fn next_due(&self) -> BoxFuture<'_, StoreResult<Option<Timestamp>>>;

    fn get(&self, key: MessageKey) -> BoxFuture<'_, StoreResult<Option<MessageRecord>>>;

    fn get_by_message_id<'a>(
        &'a self,
        direction: Direction,
        message_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<MessageRecord>>>;

    /// The state history of a message, oldest first.
    fn history(&self, key: MessageKey) -> BoxFuture<'_, StoreResult<Vec<StateChange>>>;

    /// The evidence kept for a message, oldest first.
    fn evidence(&self, key: MessageKey) -> BoxFuture<'_, StoreResult<Vec<Evidence>>>;

    /// The message received earlier under `message_id`, if its duplicate-detection entry is still live at `now`,
    /// and the receipt sent for it. A cheap early check; [`Store::insert_inbound`] decides atomically.
    fn find_duplicate<'a>(
        &'a self,
        message_id: &'a str,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<Option<DuplicateHit>>>;

    /// Records matching `query`, newest first, one page at a time.
    fn list(&self, query: ListQuery) -> BoxFuture<'_, StoreResult<Page>>;

    /// Message counts per state.
    fn counts(&self) -> BoxFuture<'_, StoreResult<StateCounts>>;

    /// The `n` most recent errors recorded by state changes, newest first.
    fn last_errors(&self, n: usize) -> BoxFuture<'_, StoreResult<Vec<ErrorEntry>>>;

    /// Deletes messages that have been in a final (or configured) state longer than the retention settings allow,
    /// with their history, evidence, index entries and payload files, and expires old duplicate-detection entries.
    /// Records go first (and are flushed), files after, so no record ever points at a missing file.
    fn purge(&self, now: Timestamp) -> BoxFuture<'_, StoreResult<PurgeReport>>;

    /// Run once at start, before the pipelines: returns `Sending` messages to `WaitingRetry` (due now), removes
    /// temporary payload files and payload folders without a record, and flushes.
    fn recover(&self) -> BoxFuture<'_, StoreResult<RecoveryReport>>;

    /// Flushes, stops background work and refuses further durability waits.
    fn close(&self) -> BoxFuture<'_, StoreResult<()>>;

    // --- The inbox (SDK business layer); see `inbox.rs`. ---

    /// Records what the business layer decided about an inbound message, with its inbox entry and history notes,
    /// in one transaction. Refuses a message that is already classified.
    fn commit_classification(&self, commit: ClassificationCommit) -> BoxFuture<'_, StoreResult<Written<()>>>;

    /// The classification of a message, `None` while it is unclassified.
    fn classification(&self, key: MessageKey) -> BoxFuture<'_, StoreResult<Option<Classification>>>;

    /// Up to `limit` inbound messages in `Received` that have no classification yet (oldest first): what a start
    /// after a crash must classify again.
    fn unclassified_inbound(&self, limit: usize) -> BoxFuture<'_, StoreResult<Vec<MessageKey>>>;

    /// Appends a history entry that does not change the message's state, with optional evidence.
    fn annotate(&self, note: HistoryNote) -> BoxFuture<'_, StoreResult<Written<()>>>;

    /// The inbox entry of a message with its current state.
    fn inbox_get(&self, key: MessageKey) -> BoxFuture<'_, StoreResult<Option<InboxItem>>>;

    /// Inbox entries matching `query`, oldest first, one page at a time.
    fn inbox_list(&self, query: InboxQuery) -> BoxFuture<'_, StoreResult<InboxPage>>;
}

//! The sender task: claims due outbound messages from the store, runs a bounded number of attempts at once, and
//! turns each [`AttemptResult`] into a state change under the P-Mode's reception-awareness retry policy.
//!
//! The loop: take permits (at most `max_in_flight` attempts run at once) → `claim_due(now, permits)` → one task per
//! claimed message → [`decide`] → `transition(..).durable()` → publish an [`Outcome`] when the message reached a
//! final state. With nothing due it sleeps until the store's `next_due`, a wake-up from a submission, or shutdown.
//! On shutdown it claims nothing more and waits for the attempts in flight (each bounded by `attempt_timeout`).
//! A crash at any point is repaired by `Store::recover` at the next start: a claimed message returns to the
//! schedule, and the attempt-count guard keeps a late attempt from overwriting a newer one.

use std::sync::Arc;
use std::time::Duration;

use pmode::RetryPolicy;
use tokio::sync::{broadcast, Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::outcome::{signal_disposition, AttemptResult, Disposition, Outcome};
use crate::store::{EvidenceKind, MessageRecord, State, Store, Timestamp, Transition};

/// Who the store records as making the sender's state changes.
pub const SENDER_ACTOR: &str = "sender-task";

/// Settings of the sender task (`[sender]` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderSettings {
    /// Most send attempts in flight at once.
    pub max_in_flight: usize,
    /// An attempt that takes longer is abandoned and retried (keep it below the store's send lease).
    pub attempt_timeout: Duration,
    /// Longest sleep when nothing is scheduled (a safety net: submissions and `next_due` wake the task anyway).
    pub idle_poll: Duration,
}

impl Default for SenderSettings {
    fn default() -> Self {
        SenderSettings {
            max_in_flight: 16,
            attempt_timeout: Duration::from_secs(240),
            idle_poll: Duration::from_secs(5),
        }
    }
}

impl SenderSettings {
    /// From `[sender]` in the configuration.
    pub fn from_config(config: &crate::config::SenderConfig) -> SenderSettings {
        SenderSettings {
            max_in_flight: usize::try_from(config.max_in_flight).unwrap_or(usize::MAX),
            attempt_timeout: config.attempt_timeout(),
            idle_poll: config.idle_poll(),
        }
    }
}

/// Makes one send attempt for a claimed message (the real one builds, seals, POSTs and verifies; tests fake it).
pub trait Deliverer: Send + Sync {
    fn attempt<'a>(&'a self, record: &'a MessageRecord) -> crate::store::BoxFuture<'a, AttemptResult>;

    /// The retry policy for messages of this P-Mode; `None` when it has no reception awareness (no retries).
    fn retry_policy(&self, pmode_id: &str) -> Option<RetryPolicy>;
}

/// The state change for the result of attempt number `record.attempts` (1 = the first attempt).
pub fn decide(
    record: &MessageRecord,
    result: AttemptResult,
    policy: Option<&RetryPolicy>,
    now: Timestamp,
) -> Transition {
    let attempts = record.attempts;
    let base = |to: State| Transition::new(record.key, State::Sending, to, SENDER_ACTOR).for_attempt(attempts);
    let retry_or_fail = |reason: String, evidence: Option<Vec<u8>>| {
        let delay = policy.and_then(|p| p.delay_before_retry(attempts));
        let change = match delay {
            Some(delay) => base(State::WaitingRetry)
                .retry_at(now.plus(delay))
                .reason(format!("attempt {attempts} failed, retry in {}s", delay.as_secs()))
                .error(reason),
            None => base(State::Failed)
                .reason(format!("retries exhausted after {attempts} attempt(s)"))
                .error(reason),
        };
        match evidence {
            Some(bytes) => change.evidence(EvidenceKind::ErrorSignal, bytes),
            None => change,
        }
    };
    match result {
        AttemptResult::Delivered {
            receipt,
            receipt_message_id,
        } => base(State::Delivered)
            .reason(format!("receipt {receipt_message_id} verified"))
            .evidence(EvidenceKind::Receipt, receipt),
        AttemptResult::PeerErrors { errors, signal } => {
            let text = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
            match signal_disposition(&errors) {
                Disposition::Final => base(State::Failed)
                    .reason("the receiving access point refused the message")
                    .error(format!("peer error: {text}"))
                    .evidence(EvidenceKind::ErrorSignal, signal),
                Disposition::Retryable => retry_or_fail(format!("peer error: {text}"), Some(signal)),
            }
        }
        AttemptResult::Retryable { reason } => retry_or_fail(reason, None),
        AttemptResult::Final { reason } => base(State::Failed).reason("cannot be sent").error(reason),
    }
}

/// Everything the sender task needs.
pub struct Sender {
    pub store: Arc<dyn Store>,
    pub deliverer: Arc<dyn Deliverer>,
    pub settings: SenderSettings,
    /// Notified by submissions so a new message goes out without waiting for the poll.
    pub wake: Arc<Notify>,
    pub outcomes: broadcast::Sender<Outcome>,
    /// Counts outcomes, retries and submit-to-delivered latency when set.
    pub metrics: Option<Arc<crate::transport::ApMetrics>>,
}

impl Sender {
    /// Runs until `shutdown` is cancelled, then waits for the attempts in flight.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let permits = Arc::new(Semaphore::new(self.settings.max_in_flight.max(1)));
        let mut in_flight = JoinSet::new();
        loop {
            while in_flight.try_join_next().is_some() {}
            let first = tokio::select! {
                _ = shutdown.cancelled() => break,
                permit = permits.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => break },
            };
            let mut held = vec![first];
            while let Ok(p) = permits.clone().try_acquire_owned() {
                held.push(p);
            }
            let now = Timestamp::now();
            let claimed = match self.store.claim_due(now, held.len(), SENDER_ACTOR).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "sender: cannot claim due messages; pausing");
                    drop(held);
                    if sleep_or_stop(&shutdown, &self.wake, Duration::from_secs(1)).await {
                        break;
                    }
                    continue;
                }
            };
            let full_batch = claimed.len() == held.len();
            for claim in claimed {
                let permit = held.pop().expect("one permit per claimed message");
                let this = self.clone();
                in_flight.spawn(async move {
                    this.attempt_one(claim.record).await;
                    drop(permit);
                });
            }
            drop(held);
            if full_batch {
                continue;
            }
            let pause = match self.store.next_due().await {
                Ok(Some(due)) => Duration::from_millis(due.0.saturating_sub(Timestamp::now().0)),
                Ok(None) => self.settings.idle_poll,
                Err(e) => {
                    tracing::error!(error = %e, "sender: cannot read the retry schedule");
                    Duration::from_secs(1)
                }
            };
            // Never spin: a due message that could not be claimed (e.g. all permits busy) is looked at again
            // after a short pause or when an attempt finishes.
            let pause = pause.clamp(Duration::from_millis(20), self.settings.idle_poll);
            if sleep_or_stop(&shutdown, &self.wake, pause).await {
                break;
            }
        }
        let draining = in_flight.len();
        if draining > 0 {
            tracing::info!(in_flight = draining, "sender: stopping after the attempts in flight");
        }
        while in_flight.join_next().await.is_some() {}
        tracing::info!("sender: stopped");
    }

    async fn attempt_one(&self, record: MessageRecord) {
        let started = std::time::Instant::now();
        tracing::info!(key = %record.key, message_id = %record.meta.message_id, attempt = record.attempts,
            to = %record.meta.to.id, pmode = %record.meta.pmode_id, "send attempt");
        let result = match tokio::time::timeout(self.settings.attempt_timeout, self.deliverer.attempt(&record)).await {
            Ok(result) => result,
            Err(_) => AttemptResult::Retryable {
                reason: format!("attempt timed out after {}s", self.settings.attempt_timeout.as_secs()),
            },
        };
        let policy = self.deliverer.retry_policy(&record.meta.pmode_id);
        let change = decide(&record, result, policy.as_ref(), Timestamp::now());
        let to = change.to;
        let error = change.error.clone().unwrap_or_default();
        let written = match self.store.transition(change).await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(key = %record.key, message_id = %record.meta.message_id, error = %e,
                    "sender: outcome not recorded (lease taken over or store error); the schedule retries");
                return;
            }
        };
        let stored = match written.durable().await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(key = %record.key, error = %e, "sender: outcome not durable");
                return;
            }
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match to {
            State::Delivered => tracing::info!(key = %record.key, message_id = %record.meta.message_id,
                attempts = stored.attempts, elapsed_ms, "delivered"),
            State::Failed => tracing::warn!(key = %record.key, message_id = %record.meta.message_id,
                attempts = stored.attempts, reason = %error, "failed"),
            _ => tracing::info!(key = %record.key, message_id = %record.meta.message_id, attempts = stored.attempts,
                next_attempt_at = ?stored.next_attempt_at.map(|t| t.to_rfc3339()), reason = %error, "will retry"),
        }
        if let Some(m) = &self.metrics {
            use crate::transport::metrics::outcome;
            match to {
                State::Delivered => {
                    m.messages_out.with(&[outcome::DELIVERED]).inc();
                    let waited = Timestamp::now().0.saturating_sub(stored.created_at.0);
                    m.delivery_latency.observe_duration(Duration::from_millis(waited));
                }
                State::Failed => m.messages_out.with(&[outcome::FAILED]).inc(),
                _ => m.messages_out.with(&[outcome::RETRY]).inc(),
            }
            if record.attempts > 1 {
                m.send_retries.inc();
            }
        }
        if to.is_final() {
            // Nobody listening is fine: the store holds the outcome too.
            let _ = self.outcomes.send(Outcome {
                key: record.key,
                message_id: record.meta.message_id.clone(),
                state: to,
                at: stored.updated_at,
                attempts: stored.attempts,
                reason: error,
                sender: record
                    .meta
                    .original_sender
                    .clone()
                    .unwrap_or_else(|| record.meta.from.id.clone()),
            });
        } else {
            // A retry entered the schedule: the loop may be sleeping towards a later time.
            self.wake.notify_one();
        }
        // No wake-up for a final outcome: the loop only sleeps after a claim found nothing more due (a due message
        // left waiting for a permit keeps the loop on `acquire`, which the permit dropped after this returns
        // wakes), so waking it would cost a claim and a `next_due` on the store per message for nothing.
    }
}

/// Sleeps for `pause`, or until woken; returns true when shutdown was requested.
async fn sleep_or_stop(shutdown: &CancellationToken, wake: &Notify, pause: Duration) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => true,
        _ = wake.notified() => false,
        _ = tokio::time::sleep(pause) => false,
    }
}

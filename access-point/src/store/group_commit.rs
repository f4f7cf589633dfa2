//! Group commit: many writers, few flushes.
//!
//! A writer that needs its write on disk calls [`GroupCommit::wait_durable`] after the write. It reads the number of
//! the next flush to *start* (`next_epoch`) under a lock and waits until a flush with at least that number has
//! completed. The committer task takes `next_epoch` (and bumps it) under the same lock immediately before it starts a
//! flush, so the flush a writer waits for always began after its write; every writer that registered before that
//! point shares the one flush. With `enabled = false` each writer runs its own flush (the baseline for the bench).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{watch, Notify};

use super::error::{StoreError, StoreResult};
use super::settings::GroupCommitSettings;

/// A blocking flush of everything written so far.
pub(crate) type FlushFn = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

#[derive(Debug, Clone)]
struct Completed {
    epoch: u64,
    result: Result<(), String>,
}

#[derive(Debug)]
struct Registry {
    next_epoch: u64,
    waiting: usize,
    closed: bool,
}

struct Shared {
    registry: Mutex<Registry>,
    wake: Notify,
    done: watch::Sender<Completed>,
    flushes: AtomicU64,
    flush: FlushFn,
    settings: GroupCommitSettings,
}

/// Handle to the committer; cheap to clone.
#[derive(Clone)]
pub(crate) struct GroupCommit {
    shared: Arc<Shared>,
}

impl GroupCommit {
    /// Starts the committer task on the current tokio runtime.
    pub(crate) fn start(flush: FlushFn, settings: GroupCommitSettings) -> (GroupCommit, tokio::task::JoinHandle<()>) {
        let (done, _) = watch::channel(Completed {
            epoch: 0,
            result: Ok(()),
        });
        let shared = Arc::new(Shared {
            registry: Mutex::new(Registry {
                next_epoch: 1,
                waiting: 0,
                closed: false,
            }),
            wake: Notify::new(),
            done,
            flushes: AtomicU64::new(0),
            flush,
            settings,
        });
        let task = tokio::spawn(run_committer(shared.clone()));
        (GroupCommit { shared }, task)
    }

    /// Number of flushes run so far (for measurements and metrics).
    pub(crate) fn flushes(&self) -> u64 {
        self.shared.flushes.load(Ordering::Relaxed)
    }

    /// Resolves once a flush that began after this call has completed. Call it after the write it must cover.
    pub(crate) async fn wait_durable(self) -> StoreResult<()> {
        let shared = self.shared;
        if !shared.settings.enabled {
            return run_flush(&shared).await.map_err(StoreError::NotDurable);
        }
        let mut done = shared.done.subscribe();
        let target = {
            let mut registry = lock(&shared.registry);
            if registry.closed {
                return Err(StoreError::NotDurable("the store is closed".into()));
            }
            registry.waiting += 1;
            registry.next_epoch
        };
        shared.wake.notify_one();
        loop {
            {
                let completed = done.borrow_and_update();
                if completed.epoch >= target {
                    return completed.result.clone().map_err(StoreError::NotDurable);
                }
            }
            if done.changed().await.is_err() {
                return Err(StoreError::NotDurable("the committer stopped".into()));
            }
        }
    }

    /// Stops accepting writers; the committer serves those already waiting, then ends.
    pub(crate) fn close(&self) {
        lock(&self.shared.registry).closed = true;
        self.shared.wake.notify_one();
    }
}

async fn run_committer(shared: Arc<Shared>) {
    loop {
        // Sleep until a writer waits (or we are closed with nobody waiting).
        loop {
            {
                let registry = lock(&shared.registry);
                if registry.waiting > 0 {
                    break;
                }
                if registry.closed {
                    return;
                }
            }
            shared.wake.notified().await;
        }
        gather(&shared).await;
        let epoch = {
            let mut registry = lock(&shared.registry);
            let epoch = registry.next_epoch;
            registry.next_epoch += 1;
            registry.waiting = 0;
            epoch
        };
        let result = run_flush(&shared).await;
        if let Err(e) = &result {
            tracing::error!(error = %e, "store flush failed; waiting writers are told their writes are not durable");
        }
        shared.done.send_replace(Completed { epoch, result });
    }
}

/// Waits up to `max_delay` for more writers, or until `max_batch` of them wait.
async fn gather(shared: &Shared) {
    let max_delay = shared.settings.max_delay();
    if max_delay.is_zero() {
        return;
    }
    let deadline = tokio::time::Instant::now() + max_delay;
    loop {
        if lock(&shared.registry).waiting >= shared.settings.max_batch.max(1) {
            return;
        }
        if tokio::time::timeout_at(deadline, shared.wake.notified()).await.is_err() {
            return;
        }
    }
}

async fn run_flush(shared: &Shared) -> Result<(), String> {
    let flush = shared.flush.clone();
    shared.flushes.fetch_add(1, Ordering::Relaxed);
    match tokio::task::spawn_blocking(move || flush()).await {
        Ok(result) => result,
        Err(e) => Err(format!("flush task failed: {e}")),
    }
}

fn lock(m: &Mutex<Registry>) -> std::sync::MutexGuard<'_, Registry> {
    // A panic while holding this small lock cannot leave the counters half-updated in a harmful way.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    /// A fake flush that records the value of a "written" counter it saw when it began.
    fn recording_flush(written: Arc<AtomicU64>, seen: Arc<Mutex<Vec<u64>>>) -> FlushFn {
        Arc::new(move || {
            seen.lock().unwrap().push(written.load(Ordering::SeqCst));
            std::thread::sleep(Duration::from_millis(5));
            Ok(())
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_writer_waits_for_a_flush_that_began_after_its_write() {
        let written = Arc::new(AtomicU64::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (gc, task) = GroupCommit::start(
            recording_flush(written.clone(), seen.clone()),
            GroupCommitSettings::default(),
        );
        let mut handles = Vec::new();
        for _ in 0..200 {
            let gc = gc.clone();
            let written = written.clone();
            let seen = seen.clone();
            handles.push(tokio::spawn(async move {
                let my_write = written.fetch_add(1, Ordering::SeqCst) + 1;
                gc.wait_durable().await.unwrap();
                // Some flush that completed must have started after my write was counted.
                assert!(seen.lock().unwrap().iter().any(|&w| w >= my_write));
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        let flushes = gc.flushes();
        assert!(
            flushes < 200,
            "group commit must batch: {flushes} flushes for 200 writers"
        );
        gc.close();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn flush_failure_reaches_the_writer_and_close_refuses_new_writers() {
        let fail = Arc::new(AtomicBool::new(true));
        let f = fail.clone();
        let flush: FlushFn = Arc::new(move || {
            if f.load(Ordering::SeqCst) {
                Err("disk on fire".into())
            } else {
                Ok(())
            }
        });
        let (gc, task) = GroupCommit::start(flush, GroupCommitSettings::default());
        let err = gc.clone().wait_durable().await.unwrap_err();
        assert!(
            matches!(err, StoreError::NotDurable(ref m) if m.contains("disk on fire")),
            "{err}"
        );
        fail.store(false, Ordering::SeqCst);
        gc.clone().wait_durable().await.unwrap();
        gc.close();
        task.await.unwrap();
        assert!(gc.clone().wait_durable().await.is_err());
    }

    #[tokio::test]
    async fn disabled_mode_flushes_once_per_writer() {
        let flush: FlushFn = Arc::new(|| Ok(()));
        let settings = GroupCommitSettings {
            enabled: false,
            ..GroupCommitSettings::default()
        };
        let (gc, task) = GroupCommit::start(flush, settings);
        for _ in 0..5 {
            gc.clone().wait_durable().await.unwrap();
        }
        assert_eq!(gc.flushes(), 5);
        gc.close();
        task.await.unwrap();
    }
}

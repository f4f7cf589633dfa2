//! A bounded lookup cache with the policies discovery needs:
//! - per-lookup time to live for answers, and a (shorter) one for "not found" answers (negative caching);
//! - stale-while-revalidate: when a refresh fails because the service is unavailable, the last good answer is
//!   served for a grace period, marked [`Freshness::Stale`] with its age and the reason; further refreshes are
//!   then tried at most once per `retry_interval`, so callers do not each wait for a dead service;
//! - single-flight: concurrent lookups of one key share one fetch;
//! - bounded size: past `max_entries`, the least recently used tenth is evicted.

use crate::error::DiscoveryError;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Cache policy. Every number is a named setting.
#[derive(Debug, Clone)]
pub struct CachePolicy {
    /// How long a good answer is served without asking again.
    pub ttl: Duration,
    /// How long a definite "not found" is remembered.
    pub negative_ttl: Duration,
    /// How long past its TTL a good answer may still be served while the service is unavailable.
    pub stale_grace: Duration,
    /// While serving stale, how often to try the service again.
    pub retry_interval: Duration,
    /// Most entries kept.
    pub max_entries: usize,
}

impl Default for CachePolicy {
    fn default() -> Self {
        CachePolicy {
            ttl: Duration::from_secs(15 * 60),
            negative_ttl: Duration::from_secs(60),
            stale_grace: Duration::from_secs(24 * 60 * 60),
            retry_interval: Duration::from_secs(10),
            max_entries: 10_000,
        }
    }
}

/// How current a cached answer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    /// Fetched within its TTL.
    Fresh,
    /// Past its TTL; the service was unavailable when asked again. `age` is the time since the answer was fetched.
    Stale { age: Duration, reason: String },
}

enum Stored<V> {
    Good(V),
    NotFound(DiscoveryError),
}

struct Entry<V> {
    stored: Stored<V>,
    fetched_at: Instant,
    expires_at: Instant,
    /// Set while serving stale: the failure and when to try again.
    failing: Option<(String, Instant)>,
    last_used: u64,
}

type Flight<V> = Shared<BoxFuture<'static, Result<(V, Freshness), DiscoveryError>>>;

struct Inner<K, V> {
    entries: HashMap<K, Entry<V>>,
    flights: HashMap<K, Flight<V>>,
}

/// Counters for operators and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub fetches: u64,
    pub stale_served: u64,
    pub entries: usize,
}

/// The cache. Cheap to clone (shared state).
pub struct LookupCache<K, V> {
    policy: CachePolicy,
    inner: Arc<Mutex<Inner<K, V>>>,
    clock: Arc<AtomicU64>,
    hits: Arc<AtomicU64>,
    fetches: Arc<AtomicU64>,
    stale_served: Arc<AtomicU64>,
}

impl<K, V> Clone for LookupCache<K, V> {
    fn clone(&self) -> Self {
        LookupCache {
            policy: self.policy.clone(),
            inner: self.inner.clone(),
            clock: self.clock.clone(),
            hits: self.hits.clone(),
            fetches: self.fetches.clone(),
            stale_served: self.stale_served.clone(),
        }
    }
}

impl<K, V> LookupCache<K, V>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub fn new(policy: CachePolicy) -> Self {
        LookupCache {
            policy,
            inner: Arc::new(Mutex::new(Inner {
                entries: HashMap::new(),
                flights: HashMap::new(),
            })),
            clock: Arc::new(AtomicU64::new(0)),
            hits: Arc::default(),
            fetches: Arc::default(),
            stale_served: Arc::default(),
        }
    }

    pub fn policy(&self) -> &CachePolicy {
        &self.policy
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            fetches: self.fetches.load(Ordering::Relaxed),
            stale_served: self.stale_served.load(Ordering::Relaxed),
            entries: self.lock().entries.len(),
        }
    }

    /// Forgets everything.
    pub fn clear(&self) {
        self.lock().entries.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, V>> {
        // A panic while holding the lock cannot leave the maps inconsistent (each update is one insert/remove).
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached answer for `key` if one may be served without asking the service, else the result of `fetch`
    /// (shared with every concurrent caller for the same key), applying the policy to what it returns.
    /// `ttl_cap` lets a fetched value shorten its own TTL (e.g. an endpoint that expires sooner).
    pub async fn get_or_fetch<F, Fut>(&self, key: &K, fetch: F) -> Result<(V, Freshness), DiscoveryError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(V, Option<Duration>), DiscoveryError>> + Send + 'static,
    {
        let flight = {
            let mut inner = self.lock();
            let now = Instant::now();
            let tick = self.clock.fetch_add(1, Ordering::Relaxed);
            if let Some(entry) = inner.entries.get_mut(key) {
                entry.last_used = tick;
                if now < entry.expires_at {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    return match &entry.stored {
                        Stored::Good(v) => Ok((v.clone(), Freshness::Fresh)),
                        Stored::NotFound(e) => Err(e.clone()),
                    };
                }
                if let (Stored::Good(v), Some((reason, retry_at))) = (&entry.stored, &entry.failing) {
                    if now < *retry_at && now < later(entry.expires_at, self.policy.stale_grace) {
                        self.stale_served.fetch_add(1, Ordering::Relaxed);
                        return Ok((
                            v.clone(),
                            Freshness::Stale {
                                age: now - entry.fetched_at,
                                reason: reason.clone(),
                            },
                        ));
                    }
                }
            }
            match inner.flights.get(key) {
                Some(flight) => flight.clone(),
                None => {
                    self.fetches.fetch_add(1, Ordering::Relaxed);
                    let flight = self.flight(key.clone(), fetch());
                    inner.flights.insert(key.clone(), flight.clone());
                    flight
                }
            }
        };
        flight.await
    }

    fn flight<Fut>(&self, key: K, fetch: Fut) -> Flight<V>
    where
        Fut: std::future::Future<Output = Result<(V, Option<Duration>), DiscoveryError>> + Send + 'static,
    {
        let cache = self.clone();
        async move {
            let result = fetch.await;
            cache.settle(key, result)
        }
        .boxed()
        .shared()
    }

    /// Records the outcome of a fetch and decides what the waiting callers get.
    fn settle(
        &self,
        key: K,
        result: Result<(V, Option<Duration>), DiscoveryError>,
    ) -> Result<(V, Freshness), DiscoveryError> {
        let mut inner = self.lock();
        inner.flights.remove(&key);
        let now = Instant::now();
        let tick = self.clock.fetch_add(1, Ordering::Relaxed);
        let outcome = match result {
            Ok((value, cap)) => {
                let ttl = cap.map_or(self.policy.ttl, |c| c.min(self.policy.ttl));
                inner.entries.insert(
                    key,
                    Entry {
                        stored: Stored::Good(value.clone()),
                        fetched_at: now,
                        expires_at: later(now, ttl),
                        failing: None,
                        last_used: tick,
                    },
                );
                Ok((value, Freshness::Fresh))
            }
            Err(e) if e.is_not_found() => {
                inner.entries.insert(
                    key,
                    Entry {
                        stored: Stored::NotFound(e.clone()),
                        fetched_at: now,
                        expires_at: later(now, self.policy.negative_ttl),
                        failing: None,
                        last_used: tick,
                    },
                );
                Err(e)
            }
            Err(e) if e.is_unavailability() => match inner.entries.get_mut(&key) {
                Some(entry)
                    if matches!(entry.stored, Stored::Good(_))
                        && now < later(entry.expires_at, self.policy.stale_grace) =>
                {
                    let reason = e.to_string();
                    entry.failing = Some((reason.clone(), later(now, self.policy.retry_interval)));
                    self.stale_served.fetch_add(1, Ordering::Relaxed);
                    match &entry.stored {
                        Stored::Good(v) => Ok((
                            v.clone(),
                            Freshness::Stale {
                                age: now - entry.fetched_at,
                                reason,
                            },
                        )),
                        Stored::NotFound(_) => Err(e),
                    }
                }
                _ => Err(e),
            },
            // A definite but bad answer (forged, contradictory, expired): the old answer is no longer trusted.
            Err(e) => {
                inner.entries.remove(&key);
                Err(e)
            }
        };
        if inner.entries.len() > self.policy.max_entries {
            evict_least_recently_used(&mut inner.entries, self.policy.max_entries);
        }
        outcome
    }
}

/// `at + after`, saturating far in the future instead of overflowing on absurd settings.
fn later(at: Instant, after: Duration) -> Instant {
    at.checked_add(after)
        .or_else(|| at.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(at)
}

fn evict_least_recently_used<K: Eq + Hash + Clone, V>(entries: &mut HashMap<K, Entry<V>>, max: usize) {
    let target = max - max / 10;
    let mut ages: Vec<(u64, K)> = entries.iter().map(|(k, e)| (e.last_used, k.clone())).collect();
    ages.sort_unstable_by_key(|(t, _)| *t);
    let excess = entries.len().saturating_sub(target);
    for (_, k) in ages.into_iter().take(excess) {
        entries.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn policy() -> CachePolicy {
        CachePolicy {
            ttl: Duration::from_millis(50),
            negative_ttl: Duration::from_millis(50),
            stale_grace: Duration::from_secs(60),
            retry_interval: Duration::from_millis(30),
            max_entries: 10,
        }
    }

    fn down() -> DiscoveryError {
        DiscoveryError::DnsTimeout {
            name: "x".into(),
            timeout_ms: 1,
        }
    }

    #[tokio::test]
    async fn fresh_answers_are_served_from_cache() {
        let cache: LookupCache<u32, u32> = LookupCache::new(policy());
        let calls = Arc::new(AtomicUsize::new(0));
        for _ in 0..3 {
            let c = calls.clone();
            let r = cache
                .get_or_fetch(&1, || async move {
                    c.fetch_add(1, Ordering::SeqCst);
                    Ok((7, None))
                })
                .await;
            assert_eq!(r.unwrap(), (7, Freshness::Fresh));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(70)).await;
        let c = calls.clone();
        cache
            .get_or_fetch(&1, || async move {
                c.fetch_add(1, Ordering::SeqCst);
                Ok((8, None))
            })
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn not_found_is_cached_negatively() {
        let cache: LookupCache<u32, u32> = LookupCache::new(policy());
        let calls = Arc::new(AtomicUsize::new(0));
        for _ in 0..3 {
            let c = calls.clone();
            let r = cache
                .get_or_fetch(&1, || async move {
                    c.fetch_add(1, Ordering::SeqCst);
                    Err(DiscoveryError::NoSmpRecord { name: "n".into() })
                })
                .await;
            assert!(matches!(r, Err(DiscoveryError::NoSmpRecord { .. })));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn stale_answer_served_while_unavailable_but_not_after_a_forged_answer() {
        let cache: LookupCache<u32, u32> = LookupCache::new(policy());
        cache.get_or_fetch(&1, || async { Ok((7, None)) }).await.unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        let (v, f) = cache.get_or_fetch(&1, || async { Err(down()) }).await.unwrap();
        assert_eq!(v, 7);
        assert!(matches!(f, Freshness::Stale { ref reason, .. } if reason.contains("SML")));
        // Within the retry interval the stale answer is served without asking.
        let r = cache
            .get_or_fetch(&1, || async { panic!("must not be asked") })
            .await
            .unwrap();
        assert!(matches!(r.1, Freshness::Stale { .. }));
        tokio::time::sleep(Duration::from_millis(40)).await;
        let r = cache
            .get_or_fetch(&1, || async { Err(DiscoveryError::SmpSignatureMissing) })
            .await;
        assert!(matches!(r, Err(DiscoveryError::SmpSignatureMissing)));
        let r = cache.get_or_fetch(&1, || async { Err(down()) }).await;
        assert!(
            matches!(r, Err(DiscoveryError::DnsTimeout { .. })),
            "the forged answer evicted the old one"
        );
    }

    #[tokio::test]
    async fn stale_grace_is_bounded() {
        let mut p = policy();
        p.stale_grace = Duration::from_millis(10);
        let cache: LookupCache<u32, u32> = LookupCache::new(p);
        cache.get_or_fetch(&1, || async { Ok((7, None)) }).await.unwrap();
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert!(cache.get_or_fetch(&1, || async { Err(down()) }).await.is_err());
    }

    #[tokio::test]
    async fn concurrent_lookups_share_one_fetch() {
        let cache: LookupCache<u32, u32> = LookupCache::new(policy());
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let cache = cache.clone();
            let c = calls.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_fetch(&9, || async move {
                        c.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok((1, None))
                    })
                    .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn size_is_bounded() {
        let cache: LookupCache<u32, u32> = LookupCache::new(policy());
        for k in 0..100 {
            cache.get_or_fetch(&k, || async move { Ok((k, None)) }).await.unwrap();
        }
        assert!(cache.stats().entries <= 10);
        // The most recent key survived.
        cache
            .get_or_fetch(&99, || async { panic!("evicted the newest") })
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn absurd_durations_do_not_overflow() {
        let cache: LookupCache<u32, u32> = LookupCache::new(CachePolicy {
            ttl: Duration::MAX,
            negative_ttl: Duration::MAX,
            stale_grace: Duration::MAX,
            retry_interval: Duration::MAX,
            max_entries: 0,
        });
        cache.get_or_fetch(&1, || async { Ok((1, None)) }).await.unwrap();
        cache
            .get_or_fetch(&2, || async { Err(DiscoveryError::NoSmpRecord { name: "n".into() }) })
            .await
            .unwrap_err();
        // max_entries 0 keeps nothing, so there is no stale answer to serve.
        assert!(cache.get_or_fetch(&1, || async { Err(down()) }).await.is_err());
    }

    #[tokio::test]
    async fn ttl_cap_shortens_the_ttl() {
        let cache: LookupCache<u32, u32> = LookupCache::new(policy());
        cache
            .get_or_fetch(&1, || async { Ok((1, Some(Duration::ZERO))) })
            .await
            .unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        cache
            .get_or_fetch(&1, || async move {
                c.fetch_add(1, Ordering::SeqCst);
                Ok((2, None))
            })
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}

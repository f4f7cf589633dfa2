//! Two small caches for the certificate every received message carries (the sender's, in its BinarySecurityToken):
//!
//! - [`certificate_from_der`]: parsed certificates by the SHA-256 of their DER. OpenSSL 3 decodes a certificate's
//!   public key through its provider machinery, which costs more than an Ed25519 verification; the same peer sends
//!   the same bytes with every message.
//! - [`VerifiedChainCache`]: chains that passed OpenSSL's path validation (certificate and CRL signatures,
//!   revocation, validity), held by one [`super::TrustStore`]. An entry is used only while every certificate of the
//!   chain is within its validity period and every CRL of the store is current (thisUpdate < at < nextUpdate), at
//!   most [`VERIFIED_CHAIN_CACHE_TTL`] after it was stored, and only by the store that stored it: changing the
//!   store's CRLs or intermediates starts an empty cache. Within that window the outcome of the skipped checks
//!   cannot differ (same certificates, same CRLs, and both valid at `at`), so no check that is due is skipped.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::Instant;

use openssl::error::ErrorStack;
use openssl::x509::{X509Ref, X509};
use time::OffsetDateTime;

/// Most parsed certificates kept by [`certificate_from_der`]; the cache is emptied when it is full.
pub const PARSED_CERTIFICATE_CACHE_ENTRIES: usize = 256;

/// Most verified chains one trust store keeps; expired entries are dropped first, then all.
pub const VERIFIED_CHAIN_CACHE_ENTRIES: usize = 256;

/// How long a verified chain is reused at most (also bounds how long a cached result can outlive a change of the
/// system clock).
pub const VERIFIED_CHAIN_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(300);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the map consistent, so a panic elsewhere cannot have left it half-written.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

static PARSED: LazyLock<Mutex<HashMap<[u8; 32], X509>>> = LazyLock::new(Mutex::default);

/// `X509::from_der`, remembered by the SHA-256 of `der` (parsing is a pure function of the bytes).
pub fn certificate_from_der(der: &[u8]) -> Result<X509, ErrorStack> {
    let key = openssl::sha::sha256(der);
    if let Some(found) = lock(&PARSED).get(&key) {
        return Ok(found.clone());
    }
    let parsed = X509::from_der(der)?;
    let mut parsed_map = lock(&PARSED);
    if parsed_map.len() >= PARSED_CERTIFICATE_CACHE_ENTRIES {
        parsed_map.clear();
    }
    parsed_map.insert(key, parsed.clone());
    Ok(parsed)
}

struct VerifiedChain {
    chain: Vec<X509>,
    /// Open interval of checking times in which every certificate of the chain and every CRL is valid.
    valid_after: OffsetDateTime,
    valid_before: OffsetDateTime,
    stored: Instant,
}

impl VerifiedChain {
    fn usable(&self, at: OffsetDateTime, now: Instant) -> bool {
        self.valid_after < at && at < self.valid_before && now.duration_since(self.stored) < VERIFIED_CHAIN_CACHE_TTL
    }
}

/// Chains one trust store has verified, by leaf certificate and offered chain (see the module documentation).
#[derive(Default)]
pub struct VerifiedChainCache {
    entries: Mutex<HashMap<[u8; 32], VerifiedChain>>,
}

impl VerifiedChainCache {
    /// The key of a leaf with the untrusted chain the peer offered.
    pub fn key(cert: &X509Ref, untrusted: &[X509]) -> Result<[u8; 32], ErrorStack> {
        let mut hasher = openssl::sha::Sha256::new();
        hasher.update(&cert.digest(openssl::hash::MessageDigest::sha256())?);
        for c in untrusted {
            hasher.update(&c.digest(openssl::hash::MessageDigest::sha256())?);
        }
        Ok(hasher.finish())
    }

    /// The chain verified earlier under `key`, if it may be reused at `at`.
    pub fn get(&self, key: &[u8; 32], at: OffsetDateTime) -> Option<Vec<X509>> {
        let entries = lock(&self.entries);
        let entry = entries.get(key)?;
        entry.usable(at, Instant::now()).then(|| entry.chain.clone())
    }

    /// Remembers a chain that passed validation; `window` is the open interval of checking times in which every
    /// certificate and CRL it depended on is valid.
    pub fn insert(&self, key: [u8; 32], chain: Vec<X509>, window: (OffsetDateTime, OffsetDateTime)) {
        let now = Instant::now();
        let mut entries = lock(&self.entries);
        if entries.len() >= VERIFIED_CHAIN_CACHE_ENTRIES {
            entries.retain(|_, e| now.duration_since(e.stored) < VERIFIED_CHAIN_CACHE_TTL);
            if entries.len() >= VERIFIED_CHAIN_CACHE_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            key,
            VerifiedChain {
                chain,
                valid_after: window.0,
                valid_before: window.1,
                stored: now,
            },
        );
    }

    /// Number of chains held.
    pub fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::dev::DevPki;
    use time::Duration;

    #[test]
    fn parsed_certificate_is_the_same_certificate() {
        let pki = DevPki::throwaway("AP0001-DEV").unwrap();
        let der = pki.message.certificate.to_der().unwrap();
        let first = certificate_from_der(&der).unwrap();
        let second = certificate_from_der(&der).unwrap();
        assert_eq!(first.to_der().unwrap(), der);
        assert_eq!(second.to_der().unwrap(), der);
        assert!(certificate_from_der(&der[..der.len() - 1]).is_err());
    }

    #[test]
    fn a_chain_is_reused_only_inside_its_window() {
        let pki = DevPki::throwaway("AP0001-DEV").unwrap();
        let cache = VerifiedChainCache::default();
        let key = VerifiedChainCache::key(&pki.message.certificate, &[]).unwrap();
        let now = OffsetDateTime::now_utc();
        cache.insert(
            key,
            vec![pki.message.certificate.clone()],
            (now - Duration::hours(1), now + Duration::hours(1)),
        );
        assert!(cache.get(&key, now).is_some());
        assert!(cache.get(&key, now + Duration::hours(2)).is_none());
        assert!(cache.get(&key, now - Duration::hours(2)).is_none());
        let other =
            VerifiedChainCache::key(&pki.message.certificate, std::slice::from_ref(&pki.ca.certificate)).unwrap();
        assert_ne!(key, other, "the offered chain is part of the key");
        assert!(cache.get(&other, now).is_none());
    }

    #[test]
    fn the_cache_is_bounded() {
        let pki = DevPki::throwaway("AP0001-DEV").unwrap();
        let cache = VerifiedChainCache::default();
        let now = OffsetDateTime::now_utc();
        for i in 0..VERIFIED_CHAIN_CACHE_ENTRIES + 10 {
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&(i as u64).to_le_bytes());
            cache.insert(
                key,
                vec![pki.ca.certificate.clone()],
                (now - Duration::hours(1), now + Duration::hours(1)),
            );
            assert!(cache.len() <= VERIFIED_CHAIN_CACHE_ENTRIES);
        }
    }
}

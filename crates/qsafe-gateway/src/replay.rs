//! Replay protection: a bounded, in-memory cache of `(keyid, nonce)` pairs seen within the
//! signature time window (RFC 9421 §2.3 `nonce`, §7.2.2 replay).
//!
//! # Design
//!
//! A signature is accepted only while `|now − created| ≤ window`, so a nonce has to be
//! remembered only until `created + window` (or `expires`, if earlier): after that the time
//! check refuses a replay on its own. The verifier inserts a nonce **only after** the
//! signature, the time window and the content digest have all been checked, so only holders
//! of a registered key can add entries; an anonymous flood cannot fill the cache.
//!
//! Entries sit in a hash map (keyed with a random per-process hasher, so collisions cannot be
//! forced) and in a ring of one-second buckets by expiry; each call first sweeps the buckets
//! of the seconds that passed since the last call. Inserting, looking up and expiring are O(1)
//! amortised; an entry whose expiry lies more than a lap of the ring ahead is re-bucketed
//! when its bucket comes round, which keeps any TTL correct. If the clock goes backwards
//! nothing is swept until it catches up (entries live longer, never shorter).
//!
//! # When full: refuse, never evict
//!
//! At `max_entries` live entries a new nonce is **refused** ([`ReplayError::Full`]), it does
//! not evict an unexpired one:
//!
//! - Evicting would let the evicted `(keyid, nonce)` be replayed for the rest of its window,
//!   silently: an attacker holding a key (or a captured request) could flush the cache and
//!   then replay. That breaks the security property the cache exists for.
//! - Refusing turns overload into a denial of service, visible as an error
//!   ([`crate::httpsig::Error::ReplayCacheFull`], class `Unavailable`, HTTP 503) and bounded by
//!   the window: entries expire by themselves, so service recovers within `2 × window`.
//!   Because only authenticated requests insert, the DoS needs a valid key, which the
//!   operator can revoke. `max_entries_per_key` keeps one key from using up everyone's share.
//!
//! Size the cap for the expected rate: an entry lives at most `2 × window` (a request may be
//! up to `window` early), so `max_entries ≥ peak requests per second × 2 × window`. The
//! default, 100 000 entries with the default 60 s window, carries about 830 signed requests
//! per second sustained, in a few tens of MB at most (nonces are capped at 128 bytes).
//!
//! The cache is per process: gateways behind a load balancer need sticky routing per key or a
//! shared store for replay protection across instances.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Why a nonce was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// This key already used this nonce, and the entry has not expired.
    #[error("nonce already used with this key")]
    Reused,
    /// The cache holds `max_entries` live entries.
    #[error("replay cache is full")]
    Full,
    /// This key holds `max_entries_per_key` live entries.
    #[error("replay cache share of this key is full")]
    KeyFull,
    /// The nonce is empty.
    #[error("empty nonce")]
    EmptyNonce,
    /// The nonce is longer than `max_nonce_len`.
    #[error("nonce too long")]
    NonceTooLong,
    /// The key id is longer than `max_keyid_len`.
    #[error("key id too long")]
    KeyIdTooLong,
    /// The nonce or key id has characters other than printable ASCII.
    #[error("nonce or key id is not printable ASCII")]
    NotPrintable,
}

/// Limits of a [`NonceCache`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonceCacheConfig {
    /// Most live entries; past it new nonces are refused.
    pub max_entries: usize,
    /// Most live entries of one key id (`None`: only the global cap).
    pub max_entries_per_key: Option<usize>,
    /// Longest nonce accepted, in bytes.
    pub max_nonce_len: usize,
    /// Longest key id accepted, in bytes.
    pub max_keyid_len: usize,
    /// Seconds covered by one lap of the expiry ring: set it to the longest expected entry
    /// lifetime (`2 × window`). Longer lifetimes stay correct, at some re-bucketing cost.
    pub horizon_secs: u32,
}

impl NonceCacheConfig {
    /// Defaults for a `±window_secs` window: 100 000 entries, 128-byte nonces, 256-byte key
    /// ids, a horizon of `2 × window + 1` seconds.
    pub fn for_window(window_secs: i64) -> Self {
        let horizon = window_secs
            .saturating_mul(2)
            .saturating_add(1)
            .clamp(1, 24 * 3600);
        NonceCacheConfig {
            max_entries: 100_000,
            max_entries_per_key: None,
            max_nonce_len: 128,
            max_keyid_len: 256,
            horizon_secs: u32::try_from(horizon).unwrap_or(24 * 3600),
        }
    }
}

impl Default for NonceCacheConfig {
    fn default() -> Self {
        Self::for_window(60)
    }
}

/// A thread-safe, bounded cache of `(keyid, nonce)` pairs (see the module docs).
#[derive(Debug)]
pub struct NonceCache {
    config: NonceCacheConfig,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// `keyid \0 nonce` → last second at which the entry protects (inclusive).
    entries: HashMap<Arc<str>, i64>,
    /// Live entries per key id (only with a per-key cap).
    per_key: HashMap<Box<str>, usize>,
    /// Bucket `t mod len` holds entries that die at second `t` (expiry + 1).
    ring: Vec<Vec<Arc<str>>>,
    /// Seconds up to which the ring has been swept.
    swept_to: Option<i64>,
}

fn printable(s: &str) -> bool {
    s.bytes().all(|c| (0x20..=0x7e).contains(&c))
}

impl NonceCache {
    /// An empty cache.
    pub fn new(config: NonceCacheConfig) -> Self {
        let slots = usize::try_from(config.horizon_secs)
            .unwrap_or(1)
            .saturating_add(1)
            .max(2);
        NonceCache {
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                per_key: HashMap::new(),
                ring: vec![Vec::new(); slots],
                swept_to: None,
            }),
            config,
        }
    }

    /// The limits.
    pub fn config(&self) -> &NonceCacheConfig {
        &self.config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // No operation panics while holding the lock, so a poisoned lock still holds a
        // consistent map; recover it rather than failing every later request.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Checks the nonce syntax only (length, characters), without touching the cache.
    pub fn check_syntax(&self, keyid: &str, nonce: &str) -> Result<(), ReplayError> {
        if nonce.is_empty() {
            return Err(ReplayError::EmptyNonce);
        }
        if nonce.len() > self.config.max_nonce_len {
            return Err(ReplayError::NonceTooLong);
        }
        if keyid.len() > self.config.max_keyid_len {
            return Err(ReplayError::KeyIdTooLong);
        }
        if !printable(nonce) || !printable(keyid) {
            return Err(ReplayError::NotPrintable);
        }
        Ok(())
    }

    /// Records `(keyid, nonce)` as used until second `expires_at` (inclusive), or fails with
    /// [`ReplayError::Reused`] when it is already recorded and live at `now`. Atomic: of two
    /// concurrent calls with the same pair, exactly one succeeds.
    pub fn check_and_insert(
        &self,
        keyid: &str,
        nonce: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<(), ReplayError> {
        self.check_syntax(keyid, nonce)?;
        let key = format!("{keyid}\0{nonce}");
        let mut inner = self.lock();
        inner.sweep(now);
        if let Some(expiry) = inner.entries.get_mut(key.as_str()) {
            if *expiry >= now {
                return Err(ReplayError::Reused);
            }
            // Expired but not yet swept: reuse the entry (and its per-key count).
            *expiry = expires_at;
            let key: Arc<str> = Arc::from(key);
            inner.push(key, expires_at);
            return Ok(());
        }
        if expires_at < now {
            return Ok(()); // no longer acceptable anyway; nothing to remember
        }
        if inner.entries.len() >= self.config.max_entries {
            return Err(ReplayError::Full);
        }
        if let Some(cap) = self.config.max_entries_per_key {
            let used = inner.per_key.get(keyid).copied().unwrap_or(0);
            if used >= cap {
                return Err(ReplayError::KeyFull);
            }
            *inner.per_key.entry(keyid.into()).or_insert(0) += 1;
        }
        let key: Arc<str> = Arc::from(key);
        inner.entries.insert(Arc::clone(&key), expires_at);
        inner.push(key, expires_at);
        Ok(())
    }

    /// Drops the entries that expired before `now`.
    pub fn purge_expired(&self, now: i64) {
        self.lock().sweep(now);
    }

    /// Number of entries held (live, or expired and not yet swept).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// True when no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    fn slot(&self, second: i64) -> usize {
        let len = i64::try_from(self.ring.len()).unwrap_or(i64::MAX);
        usize::try_from(second.rem_euclid(len)).unwrap_or(0)
    }

    /// Files `key` under the second it dies (`expiry + 1`).
    fn push(&mut self, key: Arc<str>, expiry: i64) {
        let slot = self.slot(expiry.saturating_add(1));
        if let Some(bucket) = self.ring.get_mut(slot) {
            bucket.push(key);
        }
    }

    /// Removes the entries that died in the seconds since the last sweep.
    fn sweep(&mut self, now: i64) {
        let Some(from) = self.swept_to else {
            self.swept_to = Some(now);
            return;
        };
        if now <= from {
            return;
        }
        let laps = i64::try_from(self.ring.len()).unwrap_or(i64::MAX);
        let steps = now.saturating_sub(from).min(laps);
        for step in 1..=steps {
            let slot = self.slot(from.saturating_add(step));
            let bucket = self
                .ring
                .get_mut(slot)
                .map(std::mem::take)
                .unwrap_or_default();
            for key in bucket {
                match self.entries.get(&key).copied() {
                    Some(expiry) if expiry < now => {
                        self.entries.remove(&key);
                        self.release(&key);
                    }
                    // Still live (a longer TTL than one lap, or re-inserted): file it again.
                    Some(expiry) => self.push(key, expiry),
                    None => {}
                }
            }
        }
        self.swept_to = Some(now);
    }

    fn release(&mut self, key: &str) {
        let Some((keyid, _)) = key.split_once('\0') else {
            return;
        };
        if let Some(count) = self.per_key.get_mut(keyid) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_key.remove(keyid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(max: usize) -> NonceCache {
        NonceCache::new(NonceCacheConfig {
            max_entries: max,
            ..NonceCacheConfig::for_window(60)
        })
    }

    #[test]
    fn sweep_frees_exactly_the_dead() {
        let c = cache(10);
        c.check_and_insert("k", "a", 100, 50).unwrap();
        c.check_and_insert("k", "b", 101, 50).unwrap();
        c.purge_expired(100);
        assert_eq!(c.len(), 2, "alive through its expiry second");
        c.purge_expired(101);
        assert_eq!(c.len(), 1);
        c.purge_expired(102);
        assert!(c.is_empty());
    }

    #[test]
    fn long_ttls_survive_laps_and_clock_jumps() {
        let c = NonceCache::new(NonceCacheConfig {
            horizon_secs: 3,
            ..NonceCacheConfig::default()
        });
        c.check_and_insert("k", "n", 1_000, 0).unwrap();
        for now in (0..1_000).step_by(7) {
            c.purge_expired(now);
            assert_eq!(
                c.check_and_insert("k", "n", 1_000, now),
                Err(ReplayError::Reused)
            );
        }
        c.purge_expired(10_000);
        assert!(c.is_empty());
        // clock going backwards sweeps nothing
        c.check_and_insert("k", "m", 20_000, 10_000).unwrap();
        c.purge_expired(5);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn reinsert_after_expiry_counts_once_per_key() {
        let c = NonceCache::new(NonceCacheConfig {
            max_entries_per_key: Some(1),
            ..NonceCacheConfig::default()
        });
        c.check_and_insert("k", "n", 10, 0).unwrap();
        assert_eq!(
            c.check_and_insert("k", "o", 10, 0),
            Err(ReplayError::KeyFull)
        );
        // the same (k, n) after its expiry: accepted again, still one entry
        c.check_and_insert("k", "n", 30, 11).unwrap();
        assert_eq!(c.len(), 1);
        c.purge_expired(31);
        assert!(c.is_empty());
        c.check_and_insert("k", "o", 40, 31).unwrap();
    }
}

//! The nonce cache (`qsafe_gateway::replay`): replay refused, expiry, caps, input limits,
//! concurrency, and its use by the verifier.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::sync::{Arc, Barrier};

use qsafe_core::registry;
use qsafe_core::sig::SigningKey;
use qsafe_gateway::httpsig::{
    DigestAlgorithm, ManualClock, Policy, Request, SignatureParams, Signer, Verifier,
    content_digest,
};
use qsafe_gateway::replay::{NonceCache, NonceCacheConfig, ReplayError};

fn cache(config: NonceCacheConfig) -> NonceCache {
    NonceCache::new(config)
}

fn small(max_entries: usize) -> NonceCache {
    cache(NonceCacheConfig {
        max_entries,
        ..NonceCacheConfig::default()
    })
}

#[test]
fn replay_reused_nonce_is_refused_per_key() {
    let c = small(10);
    c.check_and_insert("a", "n1", 160, 100).unwrap();
    assert_eq!(
        c.check_and_insert("a", "n1", 160, 100),
        Err(ReplayError::Reused)
    );
    assert_eq!(
        c.check_and_insert("a", "n1", 200, 159),
        Err(ReplayError::Reused)
    );
    // the same nonce under another key id is another entry
    c.check_and_insert("b", "n1", 160, 100).unwrap();
    // keyid/nonce boundaries cannot be shifted to collide
    c.check_and_insert("a", "n", 160, 100).unwrap();
    c.check_and_insert("an", "1", 160, 100).unwrap();
    assert_eq!(c.len(), 4);
}

#[test]
fn replay_entries_expire_after_their_window() {
    let c = small(10);
    c.check_and_insert("a", "n1", 160, 100).unwrap();
    assert_eq!(
        c.check_and_insert("a", "n1", 220, 160),
        Err(ReplayError::Reused)
    );
    c.check_and_insert("a", "n1", 221, 161).unwrap();
    c.purge_expired(222);
    assert!(c.is_empty());
    // an entry already past its expiry is not stored
    c.check_and_insert("a", "old", 10, 300).unwrap();
    assert!(c.is_empty());
}

#[test]
fn replay_cap_refuses_new_nonces_and_keeps_live_ones() {
    let c = small(3);
    for n in ["1", "2", "3"] {
        c.check_and_insert("a", n, 160, 100).unwrap();
    }
    assert_eq!(
        c.check_and_insert("a", "4", 160, 100),
        Err(ReplayError::Full)
    );
    assert_eq!(
        c.check_and_insert("b", "1", 160, 100),
        Err(ReplayError::Full)
    );
    // nothing was evicted: every live nonce is still refused
    for n in ["1", "2", "3"] {
        assert_eq!(
            c.check_and_insert("a", n, 160, 150),
            Err(ReplayError::Reused)
        );
    }
    assert_eq!(c.len(), 3);
    // expiry makes room
    c.check_and_insert("a", "4", 220, 161).unwrap();
    assert_eq!(c.len(), 1);
}

#[test]
fn replay_per_key_cap_protects_other_keys() {
    let c = cache(NonceCacheConfig {
        max_entries: 10,
        max_entries_per_key: Some(2),
        ..NonceCacheConfig::default()
    });
    c.check_and_insert("noisy", "1", 160, 100).unwrap();
    c.check_and_insert("noisy", "2", 160, 100).unwrap();
    assert_eq!(
        c.check_and_insert("noisy", "3", 160, 100),
        Err(ReplayError::KeyFull)
    );
    c.check_and_insert("quiet", "1", 160, 100).unwrap();
    c.purge_expired(161);
    c.check_and_insert("noisy", "3", 220, 161).unwrap();
}

#[test]
fn replay_nonce_and_keyid_limits() {
    let c = small(10);
    assert_eq!(
        c.check_and_insert("a", "", 160, 100),
        Err(ReplayError::EmptyNonce)
    );
    assert_eq!(
        c.check_and_insert("a", &"n".repeat(129), 160, 100),
        Err(ReplayError::NonceTooLong)
    );
    c.check_and_insert("a", &"n".repeat(128), 160, 100).unwrap();
    assert_eq!(
        c.check_and_insert(&"k".repeat(257), "n", 160, 100),
        Err(ReplayError::KeyIdTooLong)
    );
    assert_eq!(
        c.check_and_insert("a", "n\0x", 160, 100),
        Err(ReplayError::NotPrintable)
    );
    assert_eq!(
        c.check_and_insert("a\0", "n", 160, 100),
        Err(ReplayError::NotPrintable)
    );
    assert_eq!(c.len(), 1);
}

#[test]
fn replay_concurrent_inserts_of_one_nonce_admit_exactly_one() {
    let c = Arc::new(small(1000));
    let threads = 8;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (c, barrier) = (Arc::clone(&c), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                c.check_and_insert("a", "same", 160, 100).is_ok()
            })
        })
        .collect();
    let admitted = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|ok| *ok)
        .count();
    assert_eq!(admitted, 1);
}

#[test]
fn replay_many_threads_distinct_nonces() {
    let c = Arc::new(small(100_000));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let c = Arc::clone(&c);
            std::thread::spawn(move || {
                for i in 0..5_000 {
                    c.check_and_insert("k", &format!("{t}-{i}"), 100 + (i % 120), 100)
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(c.len(), 20_000);
    // entries leave second by second as they die
    c.purge_expired(160);
    let left = c.len();
    assert!(left < 20_000 && left > 0, "{left}");
    c.purge_expired(221);
    assert!(c.is_empty());
}

#[test]
fn replay_through_the_verifier_concurrently() {
    let key = SigningKey::generate(&registry::ML_DSA_44).unwrap();
    let keys = Arc::new(HashMap::from([(
        "k".to_owned(),
        key.verifying_key().unwrap(),
    )]));
    let signer = Signer::new(key, "k").unwrap();
    let now = 1_750_000_000;
    let body = b"{}";
    let mut req = Request::from_target_uri("POST", "https://gw.example/v1/infer")
        .unwrap()
        .with_header(
            "content-digest",
            content_digest(body, &[DigestAlgorithm::Sha512]),
        );
    signer
        .sign_request(&req, &SignatureParams::for_request(&req, now).unwrap())
        .unwrap()
        .apply(&mut req.headers);
    let verifier = Arc::new(
        Verifier::new(keys, Policy::request_default()).with_clock(Arc::new(ManualClock::new(now))),
    );
    let req = Arc::new(req);
    let barrier = Arc::new(Barrier::new(6));
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let (v, r, b) = (
                Arc::clone(&verifier),
                Arc::clone(&req),
                Arc::clone(&barrier),
            );
            std::thread::spawn(move || {
                b.wait();
                v.verify_request(&r, body).map_err(|e| e.code())
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|code| *code == "nonce_reused")
    );
    assert_eq!(verifier.nonce_cache().len(), 1);
}

//! Rotation, retirement and policy changes made by another store handle while the plugin runs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failure is a failed test

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use qsafe_kms::PluginOptions;
use qsafe_kms::proto::EncryptResponse;
use support::{Fixture, KEY, assert_status, expected_key_id, seed};
use tonic::Code;

fn fast() -> PluginOptions {
    PluginOptions::default().refresh_interval(Duration::from_millis(100))
}

/// A client doing continuous Encrypt + Decrypt while the operator rotates the key twice:
/// nothing fails, the key id moves to the newest version, and every ciphertext made along
/// the way (under any version) still decrypts. Then retiring the old versions refuses them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_in_the_middle_of_traffic() {
    let mut f = Fixture::start("x-wing", fast()).await;
    let v1 = f.status().await.key_id;
    assert_eq!(v1, expected_key_id(&f.admin, 1));

    let stop = Arc::new(AtomicBool::new(false));
    let mut client = f.client.clone();
    let flag = Arc::clone(&stop);
    let traffic = tokio::spawn(async move {
        let mut made: Vec<(EncryptResponse, Vec<u8>)> = Vec::new();
        let started = Instant::now();
        // Bounded in count and time.
        for i in 0..5_000u64 {
            if flag.load(Ordering::Relaxed) || started.elapsed() > Duration::from_secs(30) {
                break;
            }
            let plaintext = seed(i);
            let sealed = support::encrypt(&mut client, &plaintext)
                .await
                .unwrap_or_else(|e| panic!("encrypt {i}: {e:?}"));
            let opened = support::decrypt(&mut client, &sealed)
                .await
                .unwrap_or_else(|e| panic!("decrypt {i} under {}: {e:?}", sealed.key_id));
            assert_eq!(opened, plaintext);
            made.push((sealed, plaintext));
        }
        made
    });

    tokio::time::sleep(Duration::from_millis(300)).await;
    // The operator, on another store handle, from another thread.
    let store_dir = f.store_dir.clone();
    tokio::task::spawn_blocking(move || {
        let operator = support::open_admin(&store_dir);
        operator.rotate(KEY).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        operator.rotate(KEY).unwrap();
    })
    .await
    .unwrap();
    // Let traffic run on the newest version for a while (at least two refresh intervals).
    tokio::time::sleep(Duration::from_millis(400)).await;
    stop.store(true, Ordering::Relaxed);
    let made = traffic.await.unwrap();

    let v2 = expected_key_id(&f.admin, 2);
    let v3 = expected_key_id(&f.admin, 3);
    let status = f.status().await;
    assert_eq!(status.healthz, "ok");
    assert_eq!(status.key_id, v3, "Status reports the new key id");
    assert_ne!(status.key_id, v1);
    let count = |id: &str| made.iter().filter(|(s, _)| s.key_id == id).count();
    let (n1, n2, n3) = (count(&v1), count(&v2), count(&v3));
    eprintln!(
        "traffic: {} round trips, {n1} under v1, {n2} under v2, {n3} under v3",
        made.len()
    );
    assert!(n1 > 0 && n3 > 0, "traffic spanned the rotations");
    assert_eq!(n1 + n2 + n3, made.len());
    // Once a ciphertext carries the new key id, no later one goes back.
    let first_v3 = made.iter().position(|(s, _)| s.key_id == v3).unwrap();
    assert!(made[first_v3..].iter().all(|(s, _)| s.key_id == v3));
    // New encrypts carry the new key id.
    assert_eq!(f.encrypt(b"after").await.unwrap().key_id, v3);
    // Every ciphertext made during the traffic still decrypts.
    for (sealed, plaintext) in &made {
        assert_eq!(&f.decrypt(sealed).await.unwrap(), plaintext);
    }

    // Retire version 1: refused from the next Status on, with the documented code.
    let old = made.iter().find(|(s, _)| s.key_id == v1).unwrap().0.clone();
    f.admin.retire(KEY, 1).unwrap();
    assert_eq!(f.status().await.healthz, "ok");
    assert_status(f.decrypt(&old).await, Code::FailedPrecondition, "retired");
    // Versions 2 (decrypt-only) and 3 (active) are untouched.
    for (sealed, plaintext) in made.iter().filter(|(s, _)| s.key_id != v1) {
        assert_eq!(&f.decrypt(sealed).await.unwrap(), plaintext);
    }
    // The refusal is in the store's audit log.
    let audit = std::fs::read_to_string(f.store_dir.join("audit.jsonl")).unwrap();
    assert!(audit.contains("denied:retired"), "{audit}");
    f.stop().await.unwrap();
}

/// `min_decryption_version` raised by the operator: the cached key of version 1 is dropped at
/// the next refresh (no Status call needed), and lowering the policy again restores it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_decryption_version_refuses_older_versions_after_refresh() {
    let mut f = Fixture::start("x-wing", fast()).await;
    let old = f.encrypt(&seed(1)).await.unwrap();
    assert_eq!(f.decrypt(&old).await.unwrap(), seed(1)); // version 1 is now cached
    f.admin.rotate(KEY).unwrap();
    f.admin.set_policy(KEY, Some(2), None).unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await; // > refresh interval
    assert_status(
        f.decrypt(&old).await,
        Code::FailedPrecondition,
        "below-min-decryption-version",
    );
    let new = f.encrypt(&seed(2)).await.unwrap();
    assert_eq!(new.key_id, expected_key_id(&f.admin, 2));
    assert_eq!(f.decrypt(&new).await.unwrap(), seed(2));
    // The policy can be lowered again (Vault Transit semantics): the store decides.
    f.admin.set_policy(KEY, Some(1), None).unwrap();
    assert_eq!(f.decrypt(&old).await.unwrap(), seed(1));
    f.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroyed_version_is_refused() {
    let mut f = Fixture::start("mlkem1024-p384", fast()).await;
    let old = f.encrypt(&seed(1)).await.unwrap();
    f.admin.rotate(KEY).unwrap();
    assert_eq!(f.decrypt(&old).await.unwrap(), seed(1));
    f.admin.destroy(KEY, 1).unwrap();
    assert_eq!(f.status().await.healthz, "ok");
    assert_status(f.decrypt(&old).await, Code::FailedPrecondition, "destroyed");
    f.stop().await.unwrap();
}

/// Two plugin instances share one store (two API servers). One is slow to refresh; a
/// ciphertext made by the other under a version it has not seen yet still decrypts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_newer_than_the_cache_is_looked_up() {
    let slow = PluginOptions::default().refresh_interval(Duration::from_secs(3600));
    let mut a = Fixture::start("x-wing", slow).await;
    let v1 = a.status().await.key_id;
    a.admin.rotate(KEY).unwrap();
    let socket_b = a.dir.path().join("b.sock");
    let (stop_b, server_b, mut b) = support::serve(&a.store_dir, &socket_b, fast()).await;
    let sealed = support::encrypt(&mut b, &seed(7)).await.unwrap();
    assert_eq!(sealed.key_id, expected_key_id(&a.admin, 2));
    // A's snapshot still says v1 (its refresh interval is an hour) ...
    assert_eq!(a.encrypt(b"x").await.unwrap().key_id, v1);
    // ... but an unknown version forces a re-read (at most once a second).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(a.decrypt(&sealed).await.unwrap(), seed(7));
    assert_eq!(a.encrypt(b"x").await.unwrap().key_id, sealed.key_id);
    let _ = stop_b.send(());
    server_b.await.unwrap().unwrap();
    a.stop().await.unwrap();
}

//! The unix socket's life cycle, the keys the plugin refuses to serve, and an unreadable store.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failure is a failed test

mod support;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::time::Duration;

use qsafe_keys::{DirBackend, InsecurePlaintextKek, KeyStore};
use qsafe_kms::{Error, Plugin, PluginOptions};
use support::{Fixture, KEY, assert_status, seed};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_is_0600_and_removed_on_graceful_shutdown() {
    let mut f = Fixture::start("x-wing", PluginOptions::default()).await;
    let meta = std::fs::symlink_metadata(&f.socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // No temporary directory is left beside it.
    let names: Vec<_> = std::fs::read_dir(f.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with(".qkms-")), "{names:?}");
    assert_eq!(f.status().await.healthz, "ok");
    f.stop().await.unwrap();
    assert!(!f.socket.exists(), "socket removed on shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_socket_is_replaced_and_a_live_one_or_a_file_is_refused() {
    let f = Fixture::start("x-wing", PluginOptions::default()).await;
    let store = || support::open_store(&f.store_dir);

    // A live socket (the fixture's own server) is refused.
    let plugin = Plugin::new(store(), KEY).unwrap();
    let err = qsafe_kms::serve(plugin, &f.socket, async {})
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SocketInUse { .. }), "{err}");
    assert!(
        err.to_string().contains("another process is listening"),
        "{err}"
    );

    // A regular file is never removed.
    let file = f.dir.path().join("not-a-socket");
    std::fs::write(&file, b"keep me").unwrap();
    let plugin = Plugin::new(store(), KEY).unwrap();
    let err = qsafe_kms::serve(plugin, &file, async {}).await.unwrap_err();
    assert!(err.to_string().contains("is not a socket"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me");

    // A socket left by a dead process is replaced.
    let stale = f.dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    assert!(stale.exists());
    let (stop, server, mut client) =
        support::serve(&f.store_dir, &stale, PluginOptions::default()).await;
    let sealed = support::encrypt(&mut client, &seed(3)).await.unwrap();
    assert_eq!(
        support::decrypt(&mut client, &sealed).await.unwrap(),
        seed(3)
    );
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    assert!(!stale.exists());
}

#[test]
fn unsuitable_keys_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let store = KeyStore::init(DirBackend::new(dir.path()), InsecurePlaintextKek).unwrap();
    store.create("signing", "ml-dsa-65").unwrap();
    store.create("tls-only", "x25519-mlkem768").unwrap();
    store.create("classical", "x25519").unwrap();
    store.create("pure-pq", "ml-kem-768").unwrap();
    drop(store);
    let open = || {
        let b: Box<dyn qsafe_keys::Backend> = Box::new(DirBackend::new(dir.path()));
        KeyStore::open(b, InsecurePlaintextKek).unwrap()
    };
    for (name, why) in [
        ("signing", "KEM"),
        ("tls-only", "no HPKE KEM id"),
        ("classical", "classical-only"),
        ("missing", "no key of that name"),
    ] {
        let err = Plugin::new(open(), name).unwrap_err();
        assert!(matches!(err, Error::UnsuitableKey { .. }), "{name}: {err}");
        assert_eq!(err.code(), Code::FailedPrecondition);
        assert!(err.to_string().contains(why), "{name}: {err}");
    }
    assert!(Plugin::new(open(), "Bad Name").is_err());
    // Pure ML-KEM is post-quantum and has an HPKE id: allowed.
    Plugin::new(open(), "pure-pq").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_store_is_unhealthy_and_unavailable_until_it_returns() {
    let options = PluginOptions::default().refresh_interval(Duration::from_millis(50));
    let mut f = Fixture::start("x-wing", options).await;
    let key_id = f.status().await.key_id;
    let sealed = f.encrypt(&seed(1)).await.unwrap();

    let moved = f.dir.path().join("store-moved");
    std::fs::rename(&f.store_dir, &moved).unwrap();
    let status = f.status().await;
    assert_eq!(status.version, "v2");
    assert_ne!(status.healthz, "ok");
    assert!(status.healthz.contains("unavailable"), "{}", status.healthz);
    assert_eq!(
        status.key_id, key_id,
        "the last known key id is still reported"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_status(
        f.encrypt(&seed(2)).await,
        Code::Unavailable,
        "store-unavailable",
    );
    assert_status(
        f.decrypt(&sealed).await,
        Code::Unavailable,
        "store-unavailable",
    );

    std::fs::rename(&moved, &f.store_dir).unwrap();
    assert_eq!(f.status().await.healthz, "ok");
    assert_eq!(f.decrypt(&sealed).await.unwrap(), seed(1));
    f.stop().await.unwrap();
}

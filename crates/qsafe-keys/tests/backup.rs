//! Backup and restore: a restored store opens with the same passphrase, holds the same keys
//! and a verifying audit log; a damaged backup or an occupied target is refused untouched.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use qsafe_keys::backup::{backup, restore};
use qsafe_keys::{Argon2Cost, DirBackend, KeyStore, Passphrase, PassphraseKek};

#[test]
fn backup_restores_keys_history_and_policy() {
    let dir = tempfile::tempdir().unwrap();
    let pass = Passphrase::new("backup test passphrase".into()).unwrap();
    let kek = PassphraseKek::with_cost(&pass, Argon2Cost::INSECURE_FAST_FOR_TESTS).unwrap();
    let store = KeyStore::init(DirBackend::new(dir.path().join("a")), kek).unwrap();
    store.create("models", "x-wing").unwrap();
    store.create("signer", "mldsa65-ed25519-sha512").unwrap();
    store.rotate("models").unwrap();
    store.set_policy("models", Some(2), None).unwrap();
    let ek = store.encapsulation_key("models").unwrap();
    let (ct, ss) = ek.key.encapsulate().unwrap();

    let (bytes, summary) = backup(store.backend()).unwrap();
    assert_eq!(summary.keys, 2);
    let restored_dir = DirBackend::new(dir.path().join("b"));
    let r = restore(&restored_dir, &bytes, "backup.json").unwrap();
    assert_eq!(r, summary);

    let restored =
        KeyStore::open_with_passphrase(DirBackend::new(dir.path().join("b")), &pass).unwrap();
    let json = |keys: Vec<qsafe_keys::Key>| -> Vec<Vec<u8>> {
        keys.iter().map(|k| k.to_json().unwrap()).collect()
    };
    assert_eq!(json(restored.list().unwrap()), json(store.list().unwrap()));
    let dk = restored.decapsulation_key("models", 2).unwrap();
    assert_eq!(dk.decapsulate(&ct).unwrap(), ss);
    assert!(
        restored.decapsulation_key("models", 1).is_err(),
        "policy restored too"
    );
    assert!(restored.verify_audit().unwrap().is_clean());
    // The restored store keeps working and its audit chain continues.
    restored.rotate("models").unwrap();
    assert!(restored.verify_audit().unwrap().is_clean());

    // An occupied target is refused.
    assert!(
        restore(
            &DirBackend::new(dir.path().join("a")),
            &bytes,
            "backup.json"
        )
        .is_err()
    );
    // Any change to the backup is caught by its digest, and nothing is written.
    let text = String::from_utf8(bytes.clone()).unwrap();
    let tampered = text.replacen(
        "\\\"min_decryption_version\\\": 2",
        "\\\"min_decryption_version\\\": 1",
        1,
    );
    assert_ne!(tampered, text, "the edit must hit");
    let target = dir.path().join("c");
    let err = restore(
        &DirBackend::new(&target),
        tampered.as_bytes(),
        "backup.json",
    )
    .unwrap_err();
    assert!(err.to_string().contains("SHA-256"), "{err}");
    assert!(!target.join("store.json").exists());
    let err = restore(
        &DirBackend::new(&target),
        &bytes[..bytes.len() / 2],
        "backup.json",
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("not a qsafe key store backup"),
        "{err}"
    );
}

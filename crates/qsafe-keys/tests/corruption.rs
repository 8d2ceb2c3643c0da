//! Corrupt, truncated, unknown-version and missing files give clear errors that name the file,
//! and no operation writes anything after one.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use std::path::Path;

use qsafe_keys::{DirBackend, Error, InsecurePlaintextKek, KeyStore};
use support::{new_store, open, snapshot};

/// Every operation on key `k` fails with an error mentioning `needle`, and nothing changes.
fn all_ops_fail_unchanged(root: &Path, needle: &str) {
    let store = open(root);
    let before = snapshot(root);
    let results: Vec<(&str, Result<(), Error>)> = vec![
        ("show", store.show("k").map(drop)),
        ("list", store.list().map(drop)),
        ("rotate", store.rotate("k").map(drop)),
        ("set-policy", store.set_policy("k", Some(1), None).map(drop)),
        ("retire", store.retire("k", 1)),
        ("destroy", store.destroy("k", 1)),
        ("decapsulation", store.decapsulation_key("k", 1).map(drop)),
        ("export-private", store.export_private("k", 1).map(drop)),
        ("export-public", store.export_public("k", None).map(drop)),
        ("create", store.create("k", "x-wing").map(drop)),
    ];
    for (op, r) in results {
        let err = r.expect_err(op).to_string();
        assert!(err.contains(needle), "{op}: {err}");
        assert!(
            err.contains("nothing was changed") || err.contains("format version"),
            "{op}: {err}"
        );
    }
    assert_eq!(snapshot(root), before);
}

fn store_with_key(dir: &Path) -> std::path::PathBuf {
    let (store, root) = new_store(dir);
    store.create("k", "x-wing").unwrap();
    store.rotate("k").unwrap();
    root
}

#[test]
fn key_file_damage_is_named_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = store_with_key(dir.path());
    let path = root.join("keys/k.json");
    let good = std::fs::read(&path).unwrap();
    let text = String::from_utf8(good.clone()).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated",
            good[..good.len() / 2].to_vec(),
            "truncated JSON",
        ),
        ("empty", Vec::new(), "truncated JSON"),
        ("garbage", b"\x00\x01not json".to_vec(), "invalid JSON"),
        (
            "two active",
            text.replacen("\"decrypt-only\"", "\"active\"", 1)
                .into_bytes(),
            "active version 1 is not the newest",
        ),
        (
            "unknown field",
            text.replacen("\"policy\"", "\"extra\": 1, \"policy\"", 1)
                .into_bytes(),
            "unknown field",
        ),
        (
            "bad base64",
            text.replacen("\"public_key\": \"", "\"public_key\": \"!", 1)
                .into_bytes(),
            "invalid base64",
        ),
        (
            "fingerprint",
            text.replacen("sha256:", "sha256:0", 1).into_bytes(),
            "fingerprint does not match",
        ),
        (
            "name",
            text.replacen("\"name\": \"k\"", "\"name\": \"other\"", 1)
                .into_bytes(),
            "holds key `other`",
        ),
    ];
    for (case, bytes, reason) in cases {
        std::fs::write(&path, &bytes).unwrap();
        let store = open(&root);
        let err = store.show("k").unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{case}: {err}");
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{case}: {msg}");
        assert!(msg.contains(reason), "{case}: {msg}");
        all_ops_fail_unchanged(&root, &path.display().to_string());
    }
    // A newer format is named as such.
    std::fs::write(
        &path,
        text.replacen("\"format_version\": 1", "\"format_version\": 7", 1),
    )
    .unwrap();
    let err = open(&root).show("k").unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnsupportedFormat {
                found: 7,
                supported: 1,
                ..
            }
        ),
        "{err}"
    );
    all_ops_fail_unchanged(&root, "format version 7");
    std::fs::write(&path, &good).unwrap();
    open(&root).rotate("k").unwrap();
    assert!(open(&root).verify_audit().unwrap().is_clean());
}

#[test]
fn store_json_damage_is_named_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = store_with_key(dir.path());
    let store = open(&root);
    let path = root.join("store.json");
    let good = std::fs::read(&path).unwrap();
    let text = String::from_utf8(good.clone()).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated",
            good[..good.len() - 20].to_vec(),
            "truncated JSON",
        ),
        ("garbage", b"{{{".to_vec(), "invalid JSON"),
        (
            "no version",
            text.replacen("\"format_version\": 1,", "", 1).into_bytes(),
            "no format_version",
        ),
        (
            "kek kind",
            text.replacen("\"passphrase\"", "\"rot13\"", 1).into_bytes(),
            "unknown variant",
        ),
        (
            "head",
            text.replacen("\"hash\": \"", "\"hash\": \"x", 1)
                .into_bytes(),
            "64 lowercase hex",
        ),
    ];
    for (case, bytes, reason) in cases {
        std::fs::write(&path, &bytes).unwrap();
        let before = snapshot(&root);
        let err = KeyStore::open_with_passphrase(DirBackend::new(&root), &support::passphrase())
            .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::Corrupt { .. }), "{case}: {msg}");
        assert!(
            msg.contains(&path.display().to_string()) && msg.contains(reason),
            "{case}: {msg}"
        );
        // An already open store refuses to write too.
        assert!(store.rotate("k").is_err(), "{case}");
        assert!(store.decapsulation_key("k", 1).is_err(), "{case}");
        assert!(store.verify_audit().is_err(), "{case}");
        assert_eq!(snapshot(&root), before, "{case}");
    }
    std::fs::write(
        &path,
        text.replacen("\"format_version\": 1", "\"format_version\": 2", 1),
    )
    .unwrap();
    let err = KeyStore::open(DirBackend::new(&root), InsecurePlaintextKek).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} has format version 2; this build reads version 1",
            path.display()
        )
    );
    std::fs::write(&path, &good).unwrap();
    store.rotate("k").unwrap();
}

#[test]
fn missing_partial_and_existing_stores() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("none");
    let err = KeyStore::open(DirBackend::new(&root), InsecurePlaintextKek).unwrap_err();
    assert!(matches!(err, Error::NotAStore(_)), "{err}");
    let root = store_with_key(dir.path());
    let err = KeyStore::init(DirBackend::new(&root), InsecurePlaintextKek).unwrap_err();
    assert!(matches!(err, Error::StoreExists(_)), "{err}");
    // store.json lost: refuse to open and refuse to init over the remains.
    std::fs::rename(root.join("store.json"), dir.path().join("saved.json")).unwrap();
    let before = snapshot(&root);
    let err = KeyStore::open(DirBackend::new(&root), InsecurePlaintextKek).unwrap_err();
    assert!(matches!(err, Error::PartialStore(_)), "{err}");
    let err = KeyStore::init(DirBackend::new(&root), InsecurePlaintextKek).unwrap_err();
    assert!(matches!(err, Error::PartialStore(_)), "{err}");
    assert_eq!(snapshot(&root), before);
    // A directory with other files is not taken over.
    let other = dir.path().join("home");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    let err = KeyStore::init(DirBackend::new(&other), InsecurePlaintextKek).unwrap_err();
    assert!(matches!(err, Error::NotEmpty(_)), "{err}");
    // An empty existing directory is fine.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    KeyStore::init(DirBackend::new(&empty), InsecurePlaintextKek).unwrap();
}

#[test]
fn stray_files_in_keys_dir() {
    let dir = tempfile::tempdir().unwrap();
    let root = store_with_key(dir.path());
    let store = open(&root);
    // Crash leftovers are ignored by readers and removed by the next writer.
    std::fs::write(root.join("keys/.tmp-k.json.1.abc"), "half").unwrap();
    std::fs::write(root.join(".tmp-store.json.1.abc"), "half").unwrap();
    assert_eq!(store.list().unwrap().len(), 1);
    store.rotate("k").unwrap();
    assert!(!root.join("keys/.tmp-k.json.1.abc").exists());
    assert!(!root.join(".tmp-store.json.1.abc").exists());
    // A record with an impossible name is reported, not skipped.
    std::fs::write(root.join("keys/Bad.json"), "{}").unwrap();
    let err = store.list().unwrap_err().to_string();
    assert!(
        err.contains("Bad.json") && err.contains("not a valid key name"),
        "{err}"
    );
}

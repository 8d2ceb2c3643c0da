//! KEKs: wrong passphrase, mismatched KEKs, material bound to its key and version, plaintext
//! mode labelled.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use qsafe_keys::{
    Argon2Cost, DirBackend, Error, InsecurePlaintextKek, KekInfo, KeyStore, Passphrase,
    PassphraseKek,
};
use serde_json::Value;
use support::{new_store, passphrase, snapshot};

#[test]
fn wrong_passphrase_is_reported_before_anything_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let (store, root) = new_store(dir.path());
    store.create("k", "x-wing").unwrap();
    drop(store);
    let before = snapshot(&root);
    let wrong = Passphrase::new("correct horse battery stapler".into()).unwrap();
    let err = KeyStore::open_with_passphrase(DirBackend::new(&root), &wrong).unwrap_err();
    assert!(matches!(err, Error::WrongPassphrase { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!("wrong passphrase for the key store at {}", root.display())
    );
    assert_eq!(snapshot(&root), before);
    // The right one still works.
    support::open(&root).decapsulation_key("k", 1).unwrap();
}

#[test]
fn a_kek_of_another_kind_or_salt_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, root) = new_store(dir.path());
    let err = KeyStore::open(DirBackend::new(&root), InsecurePlaintextKek).unwrap_err();
    assert!(matches!(err, Error::KekMismatch { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("uses a passphrase key-encryption key"),
        "{err}"
    );
    // Same passphrase, fresh salt: not this store's KEK.
    let fresh =
        PassphraseKek::with_cost(&passphrase(), Argon2Cost::INSECURE_FAST_FOR_TESTS).unwrap();
    let err = KeyStore::open(DirBackend::new(&root), fresh).unwrap_err();
    assert!(err.to_string().contains("other parameters"), "{err}");
    // The stored parameters rebuild it.
    let info = KeyStore::kek_info(&DirBackend::new(&root)).unwrap();
    let KekInfo::Passphrase { argon2id } = &info else {
        panic!("{info:?}")
    };
    assert_eq!((argon2id.version, argon2id.salt.len()), (0x13, 16));
    let kek = PassphraseKek::for_store(&passphrase(), &info).unwrap();
    KeyStore::open(DirBackend::new(&root), kek).unwrap();
}

#[test]
fn insecure_plaintext_is_labelled_and_not_opened_with_a_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("dev");
    let store = KeyStore::init(DirBackend::new(&root), InsecurePlaintextKek).unwrap();
    assert!(store.is_insecure());
    store.create("k", "x-wing").unwrap();
    store.decapsulation_key("k", 1).unwrap();
    let record: Value =
        serde_json::from_slice(&std::fs::read(root.join("keys/k.json")).unwrap()).unwrap();
    assert_eq!(
        record["versions"][0]["private"]["scheme"],
        "insecure-plaintext"
    );
    let meta: Value =
        serde_json::from_slice(&std::fs::read(root.join("store.json")).unwrap()).unwrap();
    assert_eq!(meta["kek"]["kind"], "insecure-plaintext");
    let err = KeyStore::open_with_passphrase(DirBackend::new(&root), &passphrase()).unwrap_err();
    assert!(matches!(err, Error::KekMismatch { .. }), "{err}");
    assert!(
        KeyStore::open(DirBackend::new(&root), InsecurePlaintextKek)
            .unwrap()
            .is_insecure()
    );
    let (secure, _) = new_store(dir.path());
    assert!(!secure.is_insecure());
}

fn edit_record(root: &std::path::Path, name: &str, f: impl FnOnce(&mut Value)) {
    let path = root.join("keys").join(format!("{name}.json"));
    let mut record: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    f(&mut record);
    std::fs::write(&path, serde_json::to_vec_pretty(&record).unwrap()).unwrap();
}

#[test]
fn material_moved_to_another_version_or_key_fails_to_unwrap() {
    let dir = tempfile::tempdir().unwrap();
    let (store, root) = new_store(dir.path());
    store.create("a", "x-wing").unwrap();
    store.rotate("a").unwrap();
    store.create("b", "x-wing").unwrap();
    let a = std::fs::read(root.join("keys/a.json")).unwrap();
    // Version 1's material (and public key) in version 2's place.
    edit_record(&root, "a", |r| {
        let v1 = r["versions"][0].clone();
        r["versions"][1]["private"] = v1["private"].clone();
        r["versions"][1]["public_key"] = v1["public_key"].clone();
        r["versions"][1]["fingerprint"] = v1["fingerprint"].clone();
    });
    let err = store.decapsulation_key("a", 2).unwrap_err();
    assert!(matches!(err, Error::Unwrap { version: 2, .. }), "{err}");
    assert!(err.to_string().contains("`a` version 2"), "{err}");
    std::fs::write(root.join("keys/a.json"), &a).unwrap();
    // Key b's material under key a.
    let b: Value =
        serde_json::from_slice(&std::fs::read(root.join("keys/b.json")).unwrap()).unwrap();
    edit_record(&root, "a", |r| {
        r["versions"][0]["private"] = b["versions"][0]["private"].clone()
    });
    assert!(matches!(
        store.decapsulation_key("a", 1),
        Err(Error::Unwrap { .. })
    ));
    assert!(matches!(
        store.export_private("a", 1),
        Err(Error::Unwrap { .. })
    ));
    std::fs::write(root.join("keys/a.json"), &a).unwrap();
    // A swapped public key (with a matching fingerprint) is caught when the key is used.
    edit_record(&root, "a", |r| {
        r["versions"][0]["public_key"] = b["versions"][0]["public_key"].clone();
        r["versions"][0]["fingerprint"] = b["versions"][0]["fingerprint"].clone();
    });
    let err = store.decapsulation_key("a", 1).unwrap_err();
    assert!(
        err.to_string()
            .contains("public key does not match its private key"),
        "{err}"
    );
    // Plaintext material planted in a passphrase store is refused.
    std::fs::write(root.join("keys/a.json"), &a).unwrap();
    let exported = store.export_private("a", 1).unwrap();
    let planted = InsecurePlaintextKek.wrap_for_test(exported.expose());
    edit_record(&root, "a", |r| r["versions"][0]["private"] = planted);
    assert!(matches!(
        store.decapsulation_key("a", 1),
        Err(Error::Unwrap { .. })
    ));
}

/// The JSON an [`InsecurePlaintextKek`] would store.
trait WrapForTest {
    fn wrap_for_test(&self, secret: &[u8]) -> Value;
}

impl WrapForTest for InsecurePlaintextKek {
    fn wrap_for_test(&self, secret: &[u8]) -> Value {
        use qsafe_keys::Kek;
        serde_json::to_value(self.wrap(b"", secret).unwrap()).unwrap()
    }
}

#[test]
fn debug_output_carries_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("dev");
    let store = KeyStore::init(DirBackend::new(&root), InsecurePlaintextKek).unwrap();
    store.create("k", "x-wing").unwrap();
    let der = store.export_private("k", 1).unwrap();
    let b64 = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(der.expose())
    };
    let shown = format!("{:?} {:?} {:?}", store, store.show("k").unwrap(), der);
    assert!(!shown.contains(&b64[..24]), "{shown}");
    assert!(
        !shown.contains(&hex::encode(&der.expose()[..16])),
        "{shown}"
    );
    let dk = store.decapsulation_key("k", 1).unwrap();
    assert!(!format!("{dk:?}").contains(&hex::encode(&der.expose()[..16])));
}

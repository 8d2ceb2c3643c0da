//! Gateway keys from the key store and from mounted Kubernetes Secrets: the OHTTP key id
//! follows the version, a rotation made elsewhere is picked up by `refresh`, the replaced key
//! keeps opening requests encrypted to it until it is retired (then it is dropped), and keys of
//! the wrong kind are refused with their name.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use qsafe_gateway::ohttp::{KeyConfig, bhttp};
use qsafe_gateway::server::GatewayKeys;
use qsafe_gateway::server::managed_keys::{
    Error, KeySource, ManagedKeys, MountedBundles, StoreSource, Versions,
};
use qsafe_keys::{
    Argon2Cost, DirBackend, InsecurePlaintextKek, KeyStore, Passphrase, PassphraseKek,
};

fn store(dir: &std::path::Path) -> KeyStore<DirBackend> {
    KeyStore::open(DirBackend::new(dir.to_path_buf()), InsecurePlaintextKek).unwrap()
}

#[test]
fn rotation_in_the_store_is_picked_up() {
    let d = tempfile::tempdir().unwrap();
    let admin = KeyStore::init(
        DirBackend::new(d.path().to_path_buf()),
        InsecurePlaintextKek,
    )
    .unwrap();
    admin.create("ohttp", "x-wing").unwrap();
    admin.create("sign", "mldsa65-ed25519-sha512").unwrap();

    let (sk, keys) = ManagedKeys::load(StoreSource::new(store(d.path()), "ohttp", "sign")).unwrap();
    assert_eq!(
        sk.versions(),
        Versions {
            ohttp: 1,
            signing: 1
        }
    );
    assert_eq!(keys.current_key_id(), 1);
    let v1 = KeyConfig::decode_list(&keys.encoded_configs().unwrap()).unwrap();
    let inner = bhttp::Request::new("GET", "https", "gw", "/v2/health/ready")
        .encode()
        .unwrap();
    let (old_request, _) = v1[0].encapsulate(&inner).unwrap();

    // Nothing changed: nothing happens.
    assert_eq!(
        sk.refresh(&keys).unwrap(),
        Versions {
            ohttp: 1,
            signing: 1
        }
    );

    admin.rotate("ohttp").unwrap();
    admin.rotate("sign").unwrap();
    assert_eq!(
        sk.refresh(&keys).unwrap(),
        Versions {
            ohttp: 2,
            signing: 2
        }
    );
    assert_eq!(keys.current_key_id(), 2);
    let published = KeyConfig::decode_list(&keys.encoded_configs().unwrap()).unwrap();
    let ids: Vec<u8> = published.iter().map(KeyConfig::key_id).collect();
    assert_eq!(
        ids,
        [2, 1],
        "the new key first, the replaced one still published"
    );
    // A request encrypted to version 1 before the rotation still opens.
    assert!(keys.decapsulate(&old_request).is_ok());
}

#[test]
fn wrong_kinds_are_refused_by_name() {
    let d = tempfile::tempdir().unwrap();
    let admin = KeyStore::init(
        DirBackend::new(d.path().to_path_buf()),
        InsecurePlaintextKek,
    )
    .unwrap();
    admin.create("classical", "x25519").unwrap();
    admin.create("ed", "ed25519").unwrap();
    admin.create("ohttp", "x-wing").unwrap();
    admin.create("sign", "mldsa65-ed25519-sha512").unwrap();

    let e = ManagedKeys::load(StoreSource::new(store(d.path()), "classical", "sign")).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Algorithm {
                role: "OHTTP key",
                ..
            }
        ),
        "{e}"
    );
    let e = ManagedKeys::load(StoreSource::new(store(d.path()), "ohttp", "ed")).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Algorithm {
                role: "response-signing key",
                ..
            }
        ),
        "{e}"
    );
    let e = ManagedKeys::load(StoreSource::new(store(d.path()), "missing", "sign")).unwrap_err();
    assert!(e.to_string().contains("missing"), "{e}");
}

/// An encapsulated request to the gateway's current key.
fn request_to_current(keys: &GatewayKeys) -> Vec<u8> {
    let configs = KeyConfig::decode_list(&keys.encoded_configs().unwrap()).unwrap();
    let inner = bhttp::Request::new("GET", "https", "gw", "/v2/health/ready")
        .encode()
        .unwrap();
    configs[0].encapsulate(&inner).unwrap().0
}

fn published_ids(keys: &GatewayKeys) -> Vec<u8> {
    KeyConfig::decode_list(&keys.encoded_configs().unwrap())
        .unwrap()
        .iter()
        .map(KeyConfig::key_id)
        .collect()
}

#[test]
fn a_retired_or_disallowed_previous_key_is_dropped() {
    let d = tempfile::tempdir().unwrap();
    let admin = KeyStore::init(
        DirBackend::new(d.path().to_path_buf()),
        InsecurePlaintextKek,
    )
    .unwrap();
    admin.create("ohttp", "x-wing").unwrap();
    admin.create("sign", "mldsa65-ed25519-sha512").unwrap();
    let (managed, keys) =
        ManagedKeys::load(StoreSource::new(store(d.path()), "ohttp", "sign")).unwrap();
    let to_v1 = request_to_current(&keys);

    admin.rotate("ohttp").unwrap();
    managed.refresh(&keys).unwrap();
    assert_eq!(managed.previous_ohttp_version(), Some(1));
    assert!(keys.decapsulate(&to_v1).is_ok());

    // Retiring version 1 in the store takes it out of the gateway on the next refresh.
    admin.retire("ohttp", 1).unwrap();
    managed.refresh(&keys).unwrap();
    assert_eq!(managed.previous_ohttp_version(), None);
    assert_eq!(published_ids(&keys), [2]);
    assert!(
        keys.decapsulate(&to_v1).is_err(),
        "a retired key must not decrypt"
    );

    // Raising min_decryption_version does the same.
    let to_v2 = request_to_current(&keys);
    admin.rotate("ohttp").unwrap();
    managed.refresh(&keys).unwrap();
    assert_eq!(managed.previous_ohttp_version(), Some(2));
    assert!(keys.decapsulate(&to_v2).is_ok());
    admin.set_policy("ohttp", Some(3), None).unwrap();
    managed.refresh(&keys).unwrap();
    assert_eq!(managed.previous_ohttp_version(), None);
    assert_eq!(published_ids(&keys), [3]);
    assert!(keys.decapsulate(&to_v2).is_err());
}

/// Writes `name`'s active version as a mounted Secret would show it: `dir/key-bundle.json`,
/// replaced atomically (the kubelet swaps a symlink; a rename is the same to a reader).
fn mount(store: &KeyStore<DirBackend>, name: &str, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let bundle = store.export_wrapped(name, None).unwrap();
    let tmp = dir.join(".key-bundle.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(&bundle).unwrap()).unwrap();
    std::fs::rename(tmp, dir.join("key-bundle.json")).unwrap();
}

#[test]
fn keys_from_mounted_secrets_unlock_and_follow_a_new_secret() {
    let d = tempfile::tempdir().unwrap();
    let pass = || Passphrase::new("mounted secret test".into()).unwrap();
    let kek = PassphraseKek::with_cost(&pass(), Argon2Cost::INSECURE_FAST_FOR_TESTS).unwrap();
    let admin = KeyStore::init(DirBackend::new(d.path().join("store")), kek).unwrap();
    admin.create("ohttp", "x-wing").unwrap();
    admin.create("sign", "mldsa65-ed25519-sha512").unwrap();
    let (ohttp_dir, sign_dir) = (d.path().join("ohttp"), d.path().join("sign"));
    mount(&admin, "ohttp", &ohttp_dir);
    mount(&admin, "sign", &sign_dir);

    let source = MountedBundles::new(&ohttp_dir, &sign_dir, Some(pass()));
    let (managed, keys) = ManagedKeys::load(source).unwrap();
    assert_eq!(
        managed.versions(),
        Versions {
            ohttp: 1,
            signing: 1
        }
    );
    let to_v1 = request_to_current(&keys);

    // A new Secret for each key: picked up on refresh, the replaced OHTTP key still opens.
    admin.rotate("ohttp").unwrap();
    admin.rotate("sign").unwrap();
    mount(&admin, "ohttp", &ohttp_dir);
    mount(&admin, "sign", &sign_dir);
    assert_eq!(
        managed.refresh(&keys).unwrap(),
        Versions {
            ohttp: 2,
            signing: 2
        }
    );
    assert_eq!(published_ids(&keys), [2, 1]);
    assert!(keys.decapsulate(&to_v1).is_ok());

    // A Secret that cannot be read or unlocked leaves the keys in use untouched.
    std::fs::write(ohttp_dir.join("key-bundle.json"), b"{not json").unwrap();
    let e = managed.refresh(&keys).unwrap_err();
    assert!(e.to_string().contains("not a qsafe key bundle"), "{e}");
    assert_eq!(
        managed.versions(),
        Versions {
            ohttp: 2,
            signing: 2
        }
    );
    assert!(keys.decapsulate(&to_v1).is_ok());
}

#[test]
fn mounted_secrets_refuse_a_wrong_passphrase_a_missing_file_and_a_wrong_kind() {
    let d = tempfile::tempdir().unwrap();
    let pass = Passphrase::new("right".into()).unwrap();
    let kek = PassphraseKek::with_cost(&pass, Argon2Cost::INSECURE_FAST_FOR_TESTS).unwrap();
    let admin = KeyStore::init(DirBackend::new(d.path().join("store")), kek).unwrap();
    admin.create("ohttp", "x-wing").unwrap();
    admin.create("sign", "mldsa65-ed25519-sha512").unwrap();
    let (ohttp_dir, sign_dir) = (d.path().join("ohttp"), d.path().join("sign"));
    mount(&admin, "ohttp", &ohttp_dir);
    mount(&admin, "sign", &sign_dir);

    let wrong = Passphrase::new("wrong".into()).unwrap();
    let e = ManagedKeys::load(MountedBundles::new(&ohttp_dir, &sign_dir, Some(wrong))).unwrap_err();
    assert!(e.to_string().contains("wrong passphrase"), "{e}");
    let e = ManagedKeys::load(MountedBundles::new(&ohttp_dir, &sign_dir, None)).unwrap_err();
    assert!(e.to_string().contains("needs the store passphrase"), "{e}");

    let missing = d.path().join("nowhere");
    let e = MountedBundles::new(&missing, &sign_dir, None)
        .active_versions()
        .unwrap_err();
    assert!(
        matches!(e, Error::Read { .. }) && e.to_string().contains("nowhere"),
        "{e}"
    );

    let swapped = MountedBundles::new(
        &sign_dir,
        &ohttp_dir,
        Some(Passphrase::new("right".into()).unwrap()),
    );
    let e = ManagedKeys::load(swapped).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Algorithm {
                role: "OHTTP key",
                ..
            }
        ),
        "{e}"
    );
}

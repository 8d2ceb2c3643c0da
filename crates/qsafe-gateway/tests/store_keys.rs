//! Gateway keys from the key store: the OHTTP key id follows the store version, a rotation
//! made through another handle is picked up by `refresh`, the replaced key keeps opening
//! requests encrypted to it, and keys of the wrong kind are refused with their name.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qsafe_gateway::ohttp::{KeyConfig, bhttp};
use qsafe_gateway::server::store_keys::{Error, StoreKeys, Versions};
use qsafe_keys::{DirBackend, InsecurePlaintextKek, KeyStore};

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

    let (sk, keys) = StoreKeys::load(store(d.path()), "ohttp", "sign").unwrap();
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

    let e = StoreKeys::load(store(d.path()), "classical", "sign").unwrap_err();
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
    let e = StoreKeys::load(store(d.path()), "ohttp", "ed").unwrap_err();
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
    let e = StoreKeys::load(store(d.path()), "missing", "sign").unwrap_err();
    assert!(e.to_string().contains("missing"), "{e}");
}

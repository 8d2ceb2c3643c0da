//! Key lifecycle: create, rotate, policy, retire, destroy, export, signing keys.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use qsafe_core::keys::codec;
use qsafe_keys::{Error, Purpose, Status};
use support::{count_lines, new_store, open};

fn statuses(store: &qsafe_keys::KeyStore<qsafe_keys::DirBackend>, name: &str) -> Vec<Status> {
    store
        .show(name)
        .unwrap()
        .versions
        .iter()
        .map(|v| v.status)
        .collect()
}

#[test]
fn create_and_rotate_move_the_active_version() {
    let dir = tempfile::tempdir().unwrap();
    let (store, root) = new_store(dir.path());
    let v1 = store.create("gateway", "x-wing").unwrap();
    assert_eq!((v1.version, v1.algorithm), (1, "x-wing"));
    assert_eq!(statuses(&store, "gateway"), [Status::Active]);
    let key = store.show("gateway").unwrap();
    assert_eq!(key.purpose, Purpose::Encrypt);
    assert_eq!(key.policy.min_decryption_version, 1);
    assert_eq!(key.versions[0].fingerprint, v1.fingerprint);
    let public = store.public_key("gateway", None).unwrap();
    assert_eq!(public.key.fingerprint().unwrap(), v1.fingerprint);

    assert_eq!(store.rotate("gateway").unwrap().version, 2);
    assert_eq!(store.rotate("gateway").unwrap().version, 3);
    assert_eq!(
        statuses(&store, "gateway"),
        [Status::DecryptOnly, Status::DecryptOnly, Status::Active]
    );
    // Encrypt to the active version; every usable version still decrypts its own data.
    let ek = store.encapsulation_key("gateway").unwrap();
    assert_eq!(ek.version, 3);
    let (ct, ss) = ek.key.encapsulate().unwrap();
    assert_eq!(
        store
            .decapsulation_key("gateway", 3)
            .unwrap()
            .decapsulate(&ct)
            .unwrap(),
        ss
    );
    for v in 1..=2 {
        let ek = store.public_key("gateway", Some(v)).unwrap();
        let qsafe_core::keys::PublicKey::Kem(ek) = ek.key else {
            panic!()
        };
        let (ct, ss) = ek.encapsulate().unwrap();
        assert_eq!(
            store
                .decapsulation_key("gateway", v)
                .unwrap()
                .decapsulate(&ct)
                .unwrap(),
            ss
        );
    }
    let err = store.decapsulation_key("gateway", 4).unwrap_err();
    assert!(
        matches!(
            err,
            Error::VersionNotFound {
                version: 4,
                latest: 3,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "key `gateway` has no version 4 (versions are 1..=3)"
    );

    // Persisted: a reopened store sees the same.
    drop(store);
    let store = open(&root);
    assert_eq!(store.show("gateway").unwrap().latest(), 3);
    assert_eq!(count_lines(&root, "rotate", "gateway", "ok"), 2);
    assert!(store.verify_audit().unwrap().is_clean());
}

#[test]
fn create_refuses_duplicates_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let (store, root) = new_store(dir.path());
    store.create("k", "ml-kem-768").unwrap();
    let err = store.create("k", "x-wing").unwrap_err();
    assert!(matches!(err, Error::KeyExists(_)), "{err}");
    assert_eq!(count_lines(&root, "create", "k", "denied:key-exists"), 1);
    assert_eq!(store.show("k").unwrap().algorithm, "ml-kem-768");

    assert!(matches!(
        store.create("K", "x-wing"),
        Err(Error::InvalidName { .. })
    ));
    assert!(matches!(
        store.create("../k", "x-wing"),
        Err(Error::InvalidName { .. })
    ));
    assert!(matches!(
        store.create("n", "rot13"),
        Err(Error::UnknownAlgorithm(_))
    ));
    let err = store.create("n", "aes-256-gcm").unwrap_err();
    assert!(matches!(err, Error::UnsuitableAlgorithm { .. }), "{err}");
    assert!(matches!(store.rotate("nope"), Err(Error::KeyNotFound(_))));
    assert_eq!(
        count_lines(&root, "rotate", "nope", "denied:key-not-found"),
        1
    );
    // Ids are case-insensitive and stored canonically.
    store.create("m", "X-Wing").unwrap();
    assert_eq!(store.show("m").unwrap().algorithm, "x-wing");
    assert_eq!(
        store
            .list()
            .unwrap()
            .iter()
            .map(|k| k.name.to_string())
            .collect::<Vec<_>>(),
        ["k", "m"]
    );
}

#[test]
fn min_decryption_version_is_enforced_and_names_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let (store, root) = new_store(dir.path());
    store.create("k", "x-wing").unwrap();
    store.rotate("k").unwrap();
    store.rotate("k").unwrap();
    let policy = store.set_policy("k", Some(3), None).unwrap();
    assert_eq!(policy.min_decryption_version, 3);
    for v in [1, 2] {
        let err = store.decapsulation_key("k", v).unwrap_err();
        assert!(
            matches!(err, Error::BelowMinDecryptionVersion { version, min: 3, .. } if version == v),
            "{err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("version {v}")) && msg.contains("min_decryption_version = 3"),
            "{msg}"
        );
    }
    assert_eq!(
        count_lines(
            &root,
            "use-decrypt",
            "k",
            "denied:below-min-decryption-version"
        ),
        2
    );
    store.decapsulation_key("k", 3).unwrap();
    // Private export is not decryption: allowed, and logged.
    store.export_private("k", 1).unwrap();
    // Lowering the policy again is allowed (as in Vault Transit).
    store.set_policy("k", Some(2), None).unwrap();
    store.decapsulation_key("k", 2).unwrap();
    assert!(store.decapsulation_key("k", 1).is_err());
    for bad in [0, 4] {
        let err = store.set_policy("k", Some(bad), None).unwrap_err();
        assert!(matches!(err, Error::InvalidPolicy { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("between 1 and the latest version 3"),
            "{err}"
        );
    }
    assert!(matches!(
        store.set_policy("k", None, Some(Some(0))),
        Err(Error::InvalidPolicy { .. })
    ));
    // Rotation keeps the policy.
    store.rotate("k").unwrap();
    assert_eq!(store.show("k").unwrap().policy.min_decryption_version, 2);
    let details: Vec<_> = support::audit_lines(&root)
        .into_iter()
        .filter(|l| l["op"] == "set-policy" && l["outcome"] == "ok")
        .map(|l| l["detail"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        details,
        [
            "min_decryption_version 1 -> 3",
            "min_decryption_version 3 -> 2"
        ]
    );
}

#[test]
fn retire_and_destroy() {
    let dir = tempfile::tempdir().unwrap();
    let (store, root) = new_store(dir.path());
    store.create("k", "x-wing").unwrap();
    let err = store.retire("k", 1).unwrap_err();
    assert!(
        matches!(err, Error::ActiveVersion { version: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("rotate first"), "{err}");
    let err = store.destroy("k", 1).unwrap_err();
    assert!(matches!(err, Error::ActiveVersion { .. }), "{err}");
    assert_eq!(
        count_lines(&root, "destroy", "k", "denied:active-version"),
        1
    );

    store.rotate("k").unwrap();
    store.rotate("k").unwrap();
    store.retire("k", 1).unwrap();
    assert_eq!(statuses(&store, "k")[0], Status::Retired);
    let err = store.decapsulation_key("k", 1).unwrap_err();
    assert!(
        matches!(err, Error::VersionRetired { version: 1, .. }),
        "{err}"
    );
    assert!(matches!(
        store.export_private("k", 1),
        Err(Error::VersionRetired { .. })
    ));
    let err = store.retire("k", 1).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidTransition {
                from: Status::Retired,
                ..
            }
        ),
        "{err}"
    );

    // Destroy a retired and a decrypt-only version.
    store.destroy("k", 1).unwrap();
    store.destroy("k", 2).unwrap();
    let key = store.show("k").unwrap();
    assert_eq!(
        key.versions.iter().map(|v| v.status).collect::<Vec<_>>(),
        [Status::Destroyed, Status::Destroyed, Status::Active]
    );
    assert!(key.versions[0].private.is_none() && key.versions[1].private.is_none());
    let file = std::fs::read_to_string(root.join("keys/k.json")).unwrap();
    assert_eq!(
        file.matches("\"private\"").count(),
        1,
        "only the active version keeps material"
    );
    // Public key and history stay.
    assert_eq!(
        store.public_key("k", Some(1)).unwrap().fingerprint,
        key.versions[0].fingerprint
    );
    for v in [1, 2] {
        let err = store.decapsulation_key("k", v).unwrap_err();
        assert!(matches!(err, Error::VersionDestroyed { .. }), "{err}");
        assert!(matches!(
            store.export_private("k", v),
            Err(Error::VersionDestroyed { .. })
        ));
    }
    let err = store.destroy("k", 1).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidTransition {
                from: Status::Destroyed,
                ..
            }
        ),
        "{err}"
    );
    assert!(matches!(
        store.retire("k", 2),
        Err(Error::InvalidTransition { .. })
    ));
    assert!(matches!(
        store.destroy("k", 9),
        Err(Error::VersionNotFound { .. })
    ));
    store.decapsulation_key("k", 3).unwrap();
    assert!(store.verify_audit().unwrap().is_clean());
}

#[test]
fn signing_keys_sign_with_active_and_verify_with_older() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _root) = new_store(dir.path());
    store.create("signer", "mldsa65-ed25519-sha512").unwrap();
    let key = store.show("signer").unwrap();
    assert_eq!(key.purpose, Purpose::Sign);
    let sk1 = store.signing_key("signer").unwrap();
    assert_eq!(sk1.version, 1);
    let sig1 = sk1.key.sign(b"model", b"ctx").unwrap();
    store.rotate("signer").unwrap();
    let sk2 = store.signing_key("signer").unwrap();
    assert_eq!(sk2.version, 2);
    let sig2 = sk2.key.sign(b"model", b"ctx").unwrap();
    store
        .verifying_key("signer", 1)
        .unwrap()
        .verify(b"model", b"ctx", &sig1)
        .unwrap();
    store
        .verifying_key("signer", 2)
        .unwrap()
        .verify(b"model", b"ctx", &sig2)
        .unwrap();
    assert!(
        store
            .verifying_key("signer", 1)
            .unwrap()
            .verify(b"model", b"ctx", &sig2)
            .is_err()
    );
    let v1 = &store.show("signer").unwrap().versions[0];
    assert_eq!(v1.status.label(Purpose::Sign), "verify-only");
    store.set_policy("signer", Some(2), None).unwrap();
    assert!(matches!(
        store.verifying_key("signer", 1),
        Err(Error::BelowMinDecryptionVersion { .. })
    ));
    // Purposes do not mix.
    let err = store.decapsulation_key("signer", 2).unwrap_err();
    assert!(matches!(err, Error::WrongPurpose { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "key `signer` (mldsa65-ed25519-sha512) is for signing; this operation needs a key for encryption"
    );
    assert!(matches!(
        store.encapsulation_key("signer"),
        Err(Error::WrongPurpose { .. })
    ));
    store.create("kem", "x-wing").unwrap();
    assert!(matches!(
        store.signing_key("kem"),
        Err(Error::WrongPurpose { .. })
    ));
}

#[test]
fn export_private_round_trips_and_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let (store, root) = new_store(dir.path());
    let made = store.create("k", "mlkem1024-p384").unwrap();
    let der = store.export_private("k", 1).unwrap();
    let private = codec::private_from_bytes(der.expose(), None).unwrap();
    assert_eq!(private.algorithm().id, "mlkem1024-p384");
    assert_eq!(
        private.public_key().unwrap().fingerprint().unwrap(),
        made.fingerprint
    );
    assert_eq!(count_lines(&root, "export-private", "k", "ok"), 1);
    let public = store.export_public("k", None).unwrap();
    assert_eq!(public.version, 1);
    assert_eq!(count_lines(&root, "export-public", "k", "ok"), 1);
    // The audit line records the version exported.
    let line = support::audit_lines(&root)
        .into_iter()
        .find(|l| l["op"] == "export-public")
        .unwrap();
    assert_eq!(line["version"], 1);
    assert_eq!(line["actor"], "tester");
}

#[test]
fn due_for_rotation_follows_the_period() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _root) = new_store(dir.path());
    store.create("a", "x-wing").unwrap();
    store.create("b", "x-wing").unwrap();
    let created = store.show("a").unwrap().versions[0].created.unix;
    store.set_policy("a", None, Some(Some(3600))).unwrap();
    assert!(store.due_for_rotation(created + 3599).unwrap().is_empty());
    let due = store.due_for_rotation(created + 3600).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(
        (due[0].name.as_str(), due[0].version, due[0].due_since),
        ("a", 1, created + 3600)
    );
    store.rotate("a").unwrap();
    let rotated = store.show("a").unwrap().versions[1].created.unix;
    assert!(store.due_for_rotation(rotated + 3599).unwrap().is_empty());
    store.set_policy("a", None, Some(None)).unwrap();
    assert!(store.due_for_rotation(u64::MAX).unwrap().is_empty());
}

#[test]
fn default_argon2_cost_opens() {
    // The production parameters (64 MiB, t = 3) once, end to end.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let kek = qsafe_keys::PassphraseKek::new(&support::passphrase()).unwrap();
    assert_eq!(kek.params().m_cost_kib, 65_536);
    let store = qsafe_keys::KeyStore::init(qsafe_keys::DirBackend::new(&root), kek).unwrap();
    store.create("k", "x-wing").unwrap();
    drop(store);
    let store = open(&root);
    store.decapsulation_key("k", 1).unwrap();
}

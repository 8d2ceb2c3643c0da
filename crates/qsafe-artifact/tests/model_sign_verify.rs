//! `model::sign` and `model::verify`: known answers from model_signing 1.1.1, every signature
//! family, tamper / added / removed detection, shards, ignore rules, symlinks, `require_pq`
//! and the classical-compat bundle.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::path::Path;

use qsafe_artifact::model::{self, Diff, Error, SignOptions, VerifyOptions};
use qsafe_core::keys::{PublicKey, codec};
use qsafe_core::registry::{self, Algorithm, Kind};
use qsafe_core::sig::{SigningKey, VerifyingKey};

/// The model model_signing 1.1.1 hashed for the known answers below.
fn small_model(root: &Path) {
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::create_dir_all(root.join(".git")).unwrap();
    fs::write(root.join("a-c"), "x").unwrap();
    fs::write(root.join("a.txt"), "hello\n").unwrap();
    fs::write(root.join("empty"), "").unwrap();
    fs::write(root.join("sub/a"), "y").unwrap();
    fs::write(root.join("sub/w.bin"), "w\n").unwrap();
    fs::write(root.join(".git/x"), "g\n").unwrap();
}

fn model() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("model");
    small_model(&root);
    (dir, root)
}

fn key(alg: &'static Algorithm) -> (SigningKey, VerifyingKey) {
    let sk = SigningKey::generate(alg).unwrap();
    let vk = sk.verifying_key().unwrap();
    (sk, vk)
}

fn mismatch(r: model::Result<model::VerifyReport>) -> Diff {
    match r {
        Err(Error::Mismatch(d)) => *d,
        other => panic!("expected a mismatch, got {other:?}"),
    }
}

fn sign(root: &Path, sk: &SigningKey) -> Vec<u8> {
    model::sign(root, sk, &SignOptions::default())
        .unwrap()
        .bundle
}

fn verify(root: &Path, vk: &VerifyingKey, bundle: &[u8]) -> model::Result<model::VerifyReport> {
    model::verify(root, vk, bundle, &VerifyOptions::default())
}

#[test]
fn manifest_digests_match_model_signing_known_answers() {
    let (_dir, root) = model();
    let (sk, _) = key(&registry::ECDSA_P256_SHA256);
    // `model_signing.hashing.Config().hash("model")` and `.use_shard_serialization(
    // shard_size=2)`: SHA-256 over the resource digests in manifest order.
    let files = model::sign(&root, &sk, &SignOptions::default()).unwrap();
    assert_eq!(
        files.summary.root_digest,
        "9dbf7d5cef78bb8d1020463541fdcc8a9c8f86eae84a3585f8a6a9dee9a57ee4"
    );
    assert_eq!((files.summary.files, files.summary.items), (5, 5));
    assert_eq!(files.summary.model_name, "model");
    let opts = SignOptions {
        shard_size: Some(2),
        ..SignOptions::default()
    };
    let shards = model::sign(&root, &sk, &opts).unwrap();
    assert_eq!(
        shards.summary.root_digest,
        "c6ef999e345cee962ae6f801d47c550e1f72d36971d4edd96435673e1192c72d"
    );
    // The empty file has no shard, as in model_signing.
    assert_eq!((shards.summary.method, shards.summary.items), ("shards", 6));
}

#[test]
fn every_signature_family_round_trips() {
    let (_dir, root) = model();
    let algs = [
        &registry::ECDSA_P256_SHA256,
        &registry::ECDSA_P384_SHA384,
        &registry::ED25519,
        &registry::ML_DSA_65,
        &registry::MLDSA44_ED25519_SHA512,
        &registry::MLDSA65_ED25519_SHA512,
        &registry::MLDSA65_ECDSA_P256_SHA512,
        &registry::MLDSA87_ECDSA_P384_SHA512,
    ];
    for alg in algs {
        let (sk, vk) = key(alg);
        let bundle = sign(&root, &sk);
        let report = verify(&root, &vk, &bundle).unwrap();
        assert_eq!(report.algorithm, alg);
        assert_eq!(
            report.post_quantum,
            !alg.is_quantum_vulnerable(),
            "{}",
            alg.id
        );
        assert_eq!(report.summary.files, 5, "{}", alg.id);
        let json: serde_json::Value = serde_json::from_slice(&bundle).unwrap();
        let keyid = &json["dsseEnvelope"]["signatures"][0]["keyid"];
        let want = if alg.id.starts_with("ecdsa") {
            ""
        } else {
            alg.name
        };
        assert_eq!(keyid, want, "{}", alg.id);
    }
}

#[test]
fn one_changed_byte_added_and_removed_files_are_named() {
    let (_dir, root) = model();
    let (sk, vk) = key(&registry::MLDSA65_ED25519_SHA512);
    let bundle = sign(&root, &sk);
    fs::write(root.join("sub/w.bin"), "W\n").unwrap();
    fs::write(root.join("new.bin"), "extra").unwrap();
    fs::remove_file(root.join("a-c")).unwrap();
    let d = mismatch(verify(&root, &vk, &bundle));
    assert_eq!(d.changed, ["sub/w.bin"]);
    assert_eq!(d.added, ["new.bin"]);
    assert_eq!(d.removed, ["a-c"]);
    assert_eq!(d.to_string(), "1 added, 1 removed, 1 changed");
}

#[test]
fn empty_file_that_grows_is_changed() {
    let (_dir, root) = model();
    let (sk, vk) = key(&registry::ECDSA_P256_SHA256);
    let bundle = sign(&root, &sk);
    fs::write(root.join("empty"), "now with content").unwrap();
    assert_eq!(mismatch(verify(&root, &vk, &bundle)).changed, ["empty"]);
}

#[test]
fn shards_detect_changes_truncation_and_growth() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("m");
    fs::create_dir(&root).unwrap();
    let weights: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(root.join("weights.bin"), &weights).unwrap();
    fs::write(root.join("config.json"), "{}").unwrap();
    let (sk, vk) = key(&registry::MLDSA87_ECDSA_P384_SHA512);
    let opts = SignOptions {
        shard_size: Some(1000),
        ..SignOptions::default()
    };
    let signed = model::sign(&root, &sk, &opts).unwrap();
    assert_eq!(signed.summary.items, 11);
    let report = verify(&root, &vk, &signed.bundle).unwrap();
    assert_eq!(report.summary.method, "shards");

    let mut w = weights.clone();
    w[5555] ^= 1;
    fs::write(root.join("weights.bin"), &w).unwrap();
    assert_eq!(
        mismatch(verify(&root, &vk, &signed.bundle)).changed,
        ["weights.bin"]
    );
    fs::write(root.join("weights.bin"), &weights[..9000]).unwrap();
    assert_eq!(
        mismatch(verify(&root, &vk, &signed.bundle)).changed,
        ["weights.bin"]
    );
    fs::write(
        root.join("weights.bin"),
        [weights.as_slice(), b"+"].concat(),
    )
    .unwrap();
    assert_eq!(
        mismatch(verify(&root, &vk, &signed.bundle)).changed,
        ["weights.bin"]
    );
    fs::write(root.join("weights.bin"), &weights).unwrap();
    verify(&root, &vk, &signed.bundle).unwrap();
}

#[test]
fn single_file_model_is_named_dot() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("model.safetensors");
    fs::write(&file, vec![7u8; 5000]).unwrap();
    let (sk, vk) = key(&registry::ECDSA_P384_SHA384);
    let signed = model::sign(&file, &sk, &SignOptions::default()).unwrap();
    assert_eq!(signed.summary.model_name, "model.safetensors");
    verify(&file, &vk, &signed.bundle).unwrap();
    fs::write(&file, vec![8u8; 5000]).unwrap();
    assert_eq!(mismatch(verify(&file, &vk, &signed.bundle)).changed, ["."]);
}

#[test]
fn git_paths_and_recorded_ignore_paths_are_left_out() {
    let (_dir, root) = model();
    let (sk, vk) = key(&registry::MLDSA65_ECDSA_P256_SHA512);
    let opts = SignOptions {
        ignore_paths: vec!["model.sig".into(), "./sub/a".into()],
        ..SignOptions::default()
    };
    let signed = model::sign(&root, &sk, &opts).unwrap();
    assert_eq!(signed.summary.files, 4);
    // The signature file inside the model, and changes below ignored paths, do not matter:
    // the bundle records what the signer ignored.
    fs::write(root.join("model.sig"), &signed.bundle).unwrap();
    fs::write(root.join("sub/a"), "changed").unwrap();
    fs::write(root.join(".git/x"), "changed").unwrap();
    fs::write(root.join(".gitignore"), "*.tmp").unwrap();
    verify(&root, &vk, &signed.bundle).unwrap();
    let statement = payload(&signed.bundle);
    assert_eq!(
        statement["predicate"]["serialization"]["ignore_paths"],
        serde_json::json!([
            ".git",
            ".gitattributes",
            ".github",
            ".gitignore",
            "model.sig",
            "sub/a"
        ])
    );

    // Without the git default, .git/x is part of the manifest.
    let opts = SignOptions {
        ignore_git_paths: false,
        ..SignOptions::default()
    };
    let signed = model::sign(&root, &sk, &opts).unwrap();
    let names: Vec<_> = payload(&signed.bundle)["predicate"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.contains(&".git/x".to_string()), "{names:?}");
    assert!(names.contains(&".gitignore".to_string()), "{names:?}");

    for bad in ["../x", "/etc", ".", ""] {
        let opts = SignOptions {
            ignore_paths: vec![bad.into()],
            ..SignOptions::default()
        };
        assert!(
            matches!(model::sign(&root, &sk, &opts), Err(Error::IgnorePath(_))),
            "{bad}"
        );
    }
}

fn payload(bundle: &[u8]) -> serde_json::Value {
    use base64::Engine as _;
    let json: serde_json::Value = serde_json::from_slice(bundle).unwrap();
    let b64 = json["dsseEnvelope"]["payload"].as_str().unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[cfg(unix)]
#[test]
fn symlinks_are_refused_unless_allowed_and_directory_links_not_followed() {
    let (dir, root) = model();
    fs::create_dir(dir.path().join("outside")).unwrap();
    fs::write(dir.path().join("outside/secret"), "s").unwrap();
    std::os::unix::fs::symlink("a.txt", root.join("link.txt")).unwrap();
    std::os::unix::fs::symlink("../outside", root.join("linkdir")).unwrap();
    let (sk, vk) = key(&registry::ECDSA_P256_SHA256);
    assert!(matches!(
        model::sign(&root, &sk, &SignOptions::default()),
        Err(Error::Symlink(_))
    ));
    let opts = SignOptions {
        allow_symlinks: true,
        ..SignOptions::default()
    };
    let signed = model::sign(&root, &sk, &opts).unwrap();
    // link.txt is hashed as a file; linkdir is not descended into.
    assert_eq!(signed.summary.files, 6);
    assert!(matches!(
        verify(&root, &vk, &signed.bundle),
        Err(Error::Symlink(_))
    ));
    let vopts = VerifyOptions {
        allow_symlinks: true,
        ..VerifyOptions::default()
    };
    model::verify(&root, &vk, &signed.bundle, &vopts).unwrap();
    std::os::unix::fs::symlink("missing", root.join("broken")).unwrap();
    assert!(matches!(
        model::verify(&root, &vk, &signed.bundle, &vopts),
        Err(Error::NotFileOrDir(_))
    ));
}

#[test]
fn require_pq_refuses_classical_keys_only() {
    let (_dir, root) = model();
    let strict = VerifyOptions {
        require_pq: true,
        ..VerifyOptions::default()
    };
    let (sk, vk) = key(&registry::ECDSA_P384_SHA384);
    let bundle = sign(&root, &sk);
    assert!(matches!(
        model::verify(&root, &vk, &bundle, &strict),
        Err(Error::NotPostQuantum {
            alg: "ecdsa-p384-sha384"
        })
    ));
    let (sk, vk) = key(&registry::MLDSA87_ECDSA_P384_SHA512);
    let bundle = sign(&root, &sk);
    assert!(
        model::verify(&root, &vk, &bundle, &strict)
            .unwrap()
            .post_quantum
    );
}

#[test]
fn another_key_is_a_key_mismatch_or_a_bad_signature() {
    let (_dir, root) = model();
    let (sk, _) = key(&registry::MLDSA65_ED25519_SHA512);
    let (_, other) = key(&registry::MLDSA65_ED25519_SHA512);
    let bundle = sign(&root, &sk);
    assert!(matches!(
        verify(&root, &other, &bundle),
        Err(Error::KeyMismatch { .. })
    ));
    // Without the (unauthenticated) hint, the signature itself fails.
    let mut json: serde_json::Value = serde_json::from_slice(&bundle).unwrap();
    json["verificationMaterial"]["publicKey"] = serde_json::json!({});
    let stripped = serde_json::to_vec(&json).unwrap();
    assert!(matches!(
        verify(&root, &other, &stripped),
        Err(Error::Signature)
    ));
    // A composite key with only one half correct fails too.
    let (_, vk) = key(&registry::MLDSA65_ED25519_SHA512);
    let mixed_pk = [
        &vk.as_bytes()[..1952],
        &sk.verifying_key().unwrap().as_bytes()[1952..],
    ]
    .concat();
    let mixed = VerifyingKey::from_bytes(&registry::MLDSA65_ED25519_SHA512, &mixed_pk).unwrap();
    assert!(matches!(
        verify(&root, &mixed, &stripped),
        Err(Error::Signature)
    ));
}

#[test]
fn classical_compat_signs_the_same_statement_with_the_ecdsa_half() {
    let (_dir, root) = model();
    let opts = SignOptions {
        classical_compat: true,
        ..SignOptions::default()
    };
    for alg in [
        &registry::MLDSA65_ECDSA_P256_SHA512,
        &registry::MLDSA87_ECDSA_P384_SHA512,
    ] {
        let (sk, vk) = key(alg);
        let signed = model::sign(&root, &sk, &opts).unwrap();
        let compat = signed.classical.unwrap();
        assert_eq!(
            compat.algorithm,
            vk.classical_component().unwrap().algorithm()
        );
        assert_eq!(payload(&compat.bundle), payload(&signed.bundle));
        let PublicKey::Sig(cvk) =
            codec::public_from_bytes(compat.public_key_pem.as_bytes(), Some(Kind::Signature))
                .unwrap()
        else {
            panic!("not a signature key");
        };
        assert_eq!(cvk.as_bytes(), vk.classical_component().unwrap().as_bytes());
        let report = verify(&root, &cvk, &compat.bundle).unwrap();
        assert!(!report.post_quantum);
        // Neither bundle verifies under the other key.
        assert!(verify(&root, &cvk, &signed.bundle).is_err());
        assert!(verify(&root, &vk, &compat.bundle).is_err());
    }
    for alg in [
        &registry::MLDSA65_ED25519_SHA512,
        &registry::ECDSA_P256_SHA256,
    ] {
        let (sk, _) = key(alg);
        assert!(
            matches!(model::sign(&root, &sk, &opts), Err(Error::Unsupported(_))),
            "{}",
            alg.id
        );
    }
}

#[test]
fn thread_count_and_reading_order_do_not_change_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("m");
    for i in 0..40 {
        let sub = root.join(format!("d{}", i % 4));
        fs::create_dir_all(&sub).unwrap();
        fs::write(sub.join(format!("f{i}")), vec![i as u8; 1000 * i]).unwrap();
    }
    fs::write(root.join("big"), vec![1u8; 9 << 20]).unwrap();
    let (sk, _) = key(&registry::ECDSA_P256_SHA256);
    let digests: Vec<String> = [1, 2, 7]
        .map(|t| {
            let opts = SignOptions {
                threads: std::num::NonZeroUsize::new(t),
                ..SignOptions::default()
            };
            model::sign(&root, &sk, &opts).unwrap().summary.root_digest
        })
        .to_vec();
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "{digests:?}");
}

#[test]
fn progress_reaches_the_total() {
    let (_dir, root) = model();
    let (sk, _) = key(&registry::ECDSA_P256_SHA256);
    let last = std::sync::Mutex::new((0, 0));
    // Threads report concurrently; the largest count seen is the final one.
    let record = |done, total| {
        let mut l = last.lock().unwrap();
        *l = (*l).max((done, total));
    };
    let opts = SignOptions {
        progress: Some(model::Progress(&record)),
        ..SignOptions::default()
    };
    let signed = model::sign(&root, &sk, &opts).unwrap();
    assert_eq!(*last.lock().unwrap(), (10, 10));
    assert_eq!(signed.summary.bytes, 10);
}

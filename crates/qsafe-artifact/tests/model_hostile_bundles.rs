//! `model::verify` on hostile input: malformed bundles, and malformed statements that carry
//! a valid signature (a signer's mistakes or a compromised signer). Every case is an error of
//! the expected kind, never a panic or an unbounded allocation.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use qsafe_artifact::model::{self, Error, SignOptions, VerifyOptions};
use qsafe_core::registry;
use qsafe_core::sig::{SigningKey, VerifyingKey};
use serde_json::{Value, json};

fn fixture() -> (tempfile::TempDir, SigningKey, VerifyingKey, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("w.bin"), vec![3u8; 3000]).unwrap();
    // Sparse: cheap to make, and more shards of size 1 than a manifest may hold.
    fs::File::create(dir.path().join("big.bin"))
        .unwrap()
        .set_len(model::MAX_ITEMS as u64 + 1)
        .unwrap();
    let sk = SigningKey::generate(&registry::ECDSA_P256_SHA256).unwrap();
    let vk = sk.verifying_key().unwrap();
    let bundle = model::sign(dir.path(), &sk, &SignOptions::default())
        .unwrap()
        .bundle;
    (dir, sk, vk, bundle)
}

fn verify(root: &Path, vk: &VerifyingKey, bundle: &[u8]) -> model::Result<model::VerifyReport> {
    model::verify(root, vk, bundle, &VerifyOptions::default())
}

/// A bundle around `payload` with a valid signature and no key hint.
fn signed(sk: &SigningKey, payload: &[u8]) -> Vec<u8> {
    let pae = [
        format!(
            "DSSEv1 {} {} {} ",
            model::PAYLOAD_TYPE.len(),
            model::PAYLOAD_TYPE,
            payload.len()
        )
        .as_bytes(),
        payload,
    ]
    .concat();
    let sig = sk.sign(&pae, b"").unwrap();
    serde_json::to_vec(&json!({
        "mediaType": model::BUNDLE_MEDIA_TYPE,
        "verificationMaterial": { "publicKey": {}, "tlogEntries": [] },
        "dsseEnvelope": {
            "payload": STANDARD.encode(payload),
            "payloadType": model::PAYLOAD_TYPE,
            "signatures": [{ "sig": STANDARD.encode(sig), "keyid": "" }],
        },
    }))
    .unwrap()
}

fn statement(bundle: &[u8]) -> Value {
    let b: Value = serde_json::from_slice(bundle).unwrap();
    let p = STANDARD
        .decode(b["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&p).unwrap()
}

#[derive(Debug, Clone, Copy)]
enum Want {
    Bundle,
    Unsupported,
    Signature,
    TooMany,
}

fn check(name: &str, result: model::Result<model::VerifyReport>, want: Want) {
    let ok = matches!(
        (&result, want),
        (Err(Error::Bundle(_)), Want::Bundle)
            | (Err(Error::Unsupported(_)), Want::Unsupported)
            | (Err(Error::Signature), Want::Signature)
            | (Err(Error::TooManyItems { .. }), Want::TooMany)
    );
    assert!(ok, "{name}: wanted {want:?}, got {result:?}");
    if let Err(Error::Bundle(msg)) = &result {
        assert!(msg.chars().count() <= 170, "{name}: unbounded message");
    }
}

#[test]
fn malformed_bundles_are_refused_before_the_signature() {
    let (dir, _, vk, good) = fixture();
    verify(dir.path(), &vk, &good).unwrap();
    let base: Value = serde_json::from_slice(&good).unwrap();
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        f(&mut v);
        serde_json::to_vec(&v).unwrap()
    };
    let long = "A".repeat(1 << 20);
    let deep = "[".repeat(100_000);
    let cases: Vec<(&str, Vec<u8>, Want)> = vec![
        ("empty", Vec::new(), Want::Bundle),
        ("not_json", b"model.sig".to_vec(), Want::Bundle),
        ("json_array", b"[]".to_vec(), Want::Bundle),
        ("deeply_nested", deep.into_bytes(), Want::Bundle),
        ("truncated", good[..good.len() / 2].to_vec(), Want::Bundle),
        (
            "wrong_media_type",
            edit(&|v| v["mediaType"] = json!(long)),
            Want::Bundle,
        ),
        (
            "certificate_bundle",
            edit(&|v| {
                v["verificationMaterial"] = json!({"x509CertificateChain": {"certificates": []}})
            }),
            Want::Unsupported,
        ),
        (
            "no_envelope",
            edit(&|v| {
                v.as_object_mut()
                    .unwrap()
                    .remove("dsseEnvelope")
                    .map(drop)
                    .unwrap()
            }),
            Want::Bundle,
        ),
        (
            "payload_type",
            edit(&|v| v["dsseEnvelope"]["payloadType"] = json!("application/json")),
            Want::Bundle,
        ),
        (
            "no_signature",
            edit(&|v| v["dsseEnvelope"]["signatures"] = json!([])),
            Want::Bundle,
        ),
        (
            "two_signatures",
            edit(&|v| {
                let s = v["dsseEnvelope"]["signatures"][0].clone();
                v["dsseEnvelope"]["signatures"] = json!([s.clone(), s]);
            }),
            Want::Bundle,
        ),
        (
            "signature_not_base64",
            edit(&|v| v["dsseEnvelope"]["signatures"][0]["sig"] = json!("!!")),
            Want::Bundle,
        ),
        (
            "payload_not_base64",
            edit(&|v| v["dsseEnvelope"]["payload"] = json!("@@@@")),
            Want::Bundle,
        ),
        (
            "signature_wrong_type",
            edit(&|v| v["dsseEnvelope"]["signatures"][0]["sig"] = json!(12)),
            Want::Bundle,
        ),
        (
            "signature_empty",
            edit(&|v| v["dsseEnvelope"]["signatures"][0]["sig"] = json!("")),
            Want::Signature,
        ),
        (
            "payload_swapped",
            edit(&|v| v["dsseEnvelope"]["payload"] = json!(STANDARD.encode(b"{}"))),
            Want::Signature,
        ),
        (
            "too_large",
            vec![b' '; model::MAX_BUNDLE_LEN + 1],
            Want::Bundle,
        ),
    ];
    let n = cases.len();
    for (name, bytes, want) in cases {
        check(name, verify(dir.path(), &vk, &bytes), want);
    }
    assert_eq!(n, 17);
}

#[test]
fn malformed_signed_statements_are_refused() {
    let (dir, sk, vk, good) = fixture();
    let base = statement(&good);
    verify(
        dir.path(),
        &vk,
        &signed(&sk, &serde_json::to_vec(&base).unwrap()),
    )
    .unwrap();
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        f(&mut v);
        signed(&sk, &serde_json::to_vec(&v).unwrap())
    };
    let digest = base["predicate"]["resources"][0]["digest"].clone();
    let cases: Vec<(&str, Vec<u8>, Want)> = vec![
        ("not_json", signed(&sk, b"\xff\xfe"), Want::Bundle),
        (
            "statement_type",
            edit(&|v| v["_type"] = json!("https://in-toto.io/Statement/v0.1")),
            Want::Bundle,
        ),
        (
            "predicate_v0_2",
            edit(&|v| v["predicateType"] = json!("https://model_signing/Digests/v0.1")),
            Want::Unsupported,
        ),
        (
            "two_subjects",
            edit(&|v| {
                let s = v["subject"][0].clone();
                v["subject"] = json!([s.clone(), s]);
            }),
            Want::Bundle,
        ),
        (
            "blake3",
            edit(&|v| v["predicate"]["serialization"]["hash_type"] = json!("blake3")),
            Want::Unsupported,
        ),
        (
            "unknown_method",
            edit(&|v| v["predicate"]["serialization"]["method"] = json!("tensors")),
            Want::Unsupported,
        ),
        (
            "shards_without_size",
            edit(&|v| v["predicate"]["serialization"]["method"] = json!("shards")),
            Want::Bundle,
        ),
        (
            "negative_shard_size",
            edit(&|v| {
                v["predicate"]["serialization"]["method"] = json!("shards");
                v["predicate"]["serialization"]["shard_size"] = json!(-1);
            }),
            Want::Bundle,
        ),
        (
            "shard_size_one",
            edit(&|v| {
                v["predicate"]["serialization"]["method"] = json!("shards");
                v["predicate"]["serialization"]["shard_size"] = json!(1);
                v["predicate"]["resources"] = json!([]);
                v["subject"][0]["digest"]["sha256"] =
                    json!("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
            }),
            Want::TooMany,
        ),
        (
            "digest_not_hex",
            edit(&|v| v["predicate"]["resources"][0]["digest"] = json!("zz")),
            Want::Bundle,
        ),
        (
            "digest_short",
            edit(&|v| v["predicate"]["resources"][0]["digest"] = json!("00ff")),
            Want::Bundle,
        ),
        (
            "wrong_resource_algorithm",
            edit(&|v| v["predicate"]["resources"][0]["algorithm"] = json!("sha512")),
            Want::Bundle,
        ),
        (
            "duplicate_resource",
            edit(&|v| {
                let r = v["predicate"]["resources"][0].clone();
                v["predicate"]["resources"] = json!([r.clone(), r]);
            }),
            Want::Bundle,
        ),
        (
            "subject_digest",
            edit(&|v| v["subject"][0]["digest"]["sha256"] = digest.clone()),
            Want::Bundle,
        ),
        (
            "allow_symlinks_missing",
            edit(&|v| {
                v["predicate"]["serialization"]
                    .as_object_mut()
                    .unwrap()
                    .remove("allow_symlinks");
            }),
            Want::Bundle,
        ),
        (
            "ignore_whole_model",
            edit(&|v| v["predicate"]["serialization"]["ignore_paths"] = json!(["."])),
            Want::Bundle,
        ),
    ];
    let n = cases.len();
    for (name, bytes, want) in cases {
        check(name, verify(dir.path(), &vk, &bytes), want);
    }
    assert_eq!(n, 16);
}

/// xorshift64: deterministic mutations without a dependency.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn random_mutations_never_panic() {
    let (dir, _, vk, good) = fixture();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut verified = 0;
    for _ in 0..300 {
        let mut b = good.clone();
        for _ in 0..1 + next(&mut rng) % 3 {
            let i = (next(&mut rng) % b.len() as u64) as usize;
            b[i] = next(&mut rng) as u8;
        }
        // A flip in an unauthenticated field (keyid, tlogEntries spacing) may still verify.
        if verify(dir.path(), &vk, &b).is_ok() {
            verified += 1;
        }
    }
    assert!(verified < 30, "{verified} mutated bundles verified");
    for len in [0usize, 1, 7, 64, 300] {
        let junk: Vec<u8> = (0..len).map(|_| next(&mut rng) as u8).collect();
        assert!(verify(dir.path(), &vk, &junk).is_err());
    }
}

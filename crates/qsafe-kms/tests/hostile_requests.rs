//! Malformed, tampered, mismatched and oversize requests: each gets a clean gRPC status, and
//! the plugin keeps serving afterwards.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failure is a failed test

mod support;

use qsafe_kms::PluginOptions;
use qsafe_kms::envelope::{ENC_ANNOTATION, HEADER_LEN};
use qsafe_kms::proto::{DecryptRequest, EncryptRequest};
use support::{Fixture, KEY, assert_status, decrypt_request, decrypt_with, seed};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_ciphertext_annotation_or_key_id_is_refused() {
    let mut f = Fixture::start("x-wing", PluginOptions::default()).await;
    let sealed = f.encrypt(&seed(1)).await.unwrap();
    let c = &mut f.client;

    // A flipped bit in the AEAD output, in the tag, and in the KEM ciphertext.
    for at in [HEADER_LEN, sealed.ciphertext.len() - 1] {
        let mut r = decrypt_request(&sealed);
        r.ciphertext[at] ^= 0x01;
        assert_status(
            decrypt_with(c, r).await,
            Code::InvalidArgument,
            "unauthentic",
        );
    }
    for at in [0, 1119] {
        let mut r = decrypt_request(&sealed);
        r.annotations.get_mut(ENC_ANNOTATION).unwrap()[at] ^= 0x80;
        assert_status(
            decrypt_with(c, r).await,
            Code::InvalidArgument,
            "unauthentic",
        );
    }
    // The header: magic, format version, HPKE ids.
    for (at, machine) in [
        (0, "invalid-request"),
        (2, "invalid-request"),
        (4, "invalid-request"),
        (6, "invalid-request"),
    ] {
        let mut r = decrypt_request(&sealed);
        r.ciphertext[at] ^= 0x01;
        assert_status(decrypt_with(c, r).await, Code::InvalidArgument, machine);
    }
    // Truncated.
    let mut r = decrypt_request(&sealed);
    r.ciphertext.truncate(HEADER_LEN + 16);
    assert_status(
        decrypt_with(c, r).await,
        Code::InvalidArgument,
        "invalid-request",
    );

    // The key id of another (real) version of the same key: the AAD differs, so it fails.
    f.admin.rotate(KEY).unwrap();
    let v2 = f.status().await.key_id;
    let mut r = decrypt_request(&sealed);
    r.key_id = v2;
    assert_status(
        decrypt_with(&mut f.client, r).await,
        Code::InvalidArgument,
        "unauthentic",
    );

    // Untouched, it still opens.
    assert_eq!(f.decrypt(&sealed).await.unwrap(), seed(1));
    f.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_ids_are_refused() {
    let mut f = Fixture::start("x-wing", PluginOptions::default()).await;
    let sealed = f.encrypt(&seed(1)).await.unwrap();
    let fp = sealed.key_id.rsplit(':').next().unwrap().to_owned();
    let with_id = |id: String| DecryptRequest {
        key_id: id,
        ..decrypt_request(&sealed)
    };
    let c = &mut f.client;

    for malformed in [
        "",
        "k8s-secrets",
        "qsafe:k8s-secrets:v1",
        "qsafe:K8S:v1:sha256:0011223344556677",
        "aws:arn:v1:sha256:0011223344556677",
    ] {
        assert_status(
            decrypt_with(c, with_id(malformed.into())).await,
            Code::InvalidArgument,
            "invalid-key-id",
        );
    }
    // Well-formed, but not a key this plugin has.
    let other_name = format!("qsafe:other-key:v1:sha256:{fp}");
    let no_such_version = format!("qsafe:{KEY}:v9:sha256:{fp}");
    let other_store = format!("qsafe:{KEY}:v1:sha256:0011223344556677");
    for id in [other_name, no_such_version, other_store] {
        assert_status(
            decrypt_with(c, with_id(id)).await,
            Code::NotFound,
            "unknown-key",
        );
    }
    assert_eq!(f.decrypt(&sealed).await.unwrap(), seed(1));
    f.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_and_empty_requests_are_refused() {
    let mut f = Fixture::start("x-wing", PluginOptions::default()).await;
    let sealed = f.encrypt(&seed(1)).await.unwrap();
    let c = &mut f.client;

    // Encrypt: empty, one byte past what fits in a 1 KiB ciphertext, far past the transport limit.
    assert_status(
        support::encrypt(c, b"").await,
        Code::InvalidArgument,
        "invalid-request",
    );
    let too_long = vec![0u8; qsafe_kms::envelope::MAX_PLAINTEXT_LEN + 1];
    assert_status(
        support::encrypt(c, &too_long).await,
        Code::InvalidArgument,
        "invalid-request",
    );
    let huge = c
        .encrypt(EncryptRequest {
            plaintext: vec![0u8; 1 << 20],
            uid: String::new(),
        })
        .await;
    let status = huge.unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{}", status.message());
    let uid = c
        .encrypt(EncryptRequest {
            plaintext: seed(2),
            uid: "u".repeat(1000),
        })
        .await;
    assert_status(uid, Code::InvalidArgument, "invalid-request");

    // Decrypt: ciphertext over 1 KiB, empty ciphertext, key id over 1 KiB.
    let mut r = decrypt_request(&sealed);
    r.ciphertext = vec![0u8; 1025];
    assert_status(
        decrypt_with(c, r).await,
        Code::InvalidArgument,
        "invalid-request",
    );
    let mut r = decrypt_request(&sealed);
    r.ciphertext.clear();
    assert_status(
        decrypt_with(c, r).await,
        Code::InvalidArgument,
        "invalid-request",
    );
    let mut r = decrypt_request(&sealed);
    r.key_id = format!("{}{}", sealed.key_id, "0".repeat(1024));
    assert_status(
        decrypt_with(c, r).await,
        Code::InvalidArgument,
        "invalid-request",
    );

    // Annotations: missing, an extra one, over 32 KiB in total, the wrong length.
    let mut r = decrypt_request(&sealed);
    r.annotations.clear();
    assert_status(
        decrypt_with(c, r).await,
        Code::InvalidArgument,
        "invalid-request",
    );
    let mut r = decrypt_request(&sealed);
    r.annotations
        .insert("other.example.com".into(), b"x".to_vec());
    assert_status(
        decrypt_with(c, r).await,
        Code::InvalidArgument,
        "invalid-request",
    );
    let mut r = decrypt_request(&sealed);
    r.annotations
        .insert(ENC_ANNOTATION.into(), vec![0u8; 33 * 1024]);
    assert_status(
        decrypt_with(c, r).await,
        Code::InvalidArgument,
        "invalid-request",
    );
    let mut r = decrypt_request(&sealed);
    r.annotations.get_mut(ENC_ANNOTATION).unwrap().pop();
    assert_status(
        decrypt_with(c, r).await,
        Code::InvalidArgument,
        "invalid-request",
    );
    // Over the transport limit altogether.
    let mut r = decrypt_request(&sealed);
    r.annotations
        .insert("big.example.com".into(), vec![0u8; 200 * 1024]);
    let status = decrypt_with(c, r).await.unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{}", status.message());

    // Still serving.
    let status = f.status().await;
    assert_eq!(status.healthz, "ok");
    assert_eq!(f.decrypt(&sealed).await.unwrap(), seed(1));
    f.stop().await.unwrap();
}

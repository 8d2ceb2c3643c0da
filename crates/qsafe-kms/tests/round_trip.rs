//! Status and Encrypt → Decrypt over a real unix socket, for both hybrid KEMs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failure is a failed test

mod support;

use qsafe_kms::PluginOptions;
use qsafe_kms::envelope::{ENC_ANNOTATION, HEADER_LEN, TAG_LEN};
use support::{Fixture, KEY, expected_key_id, seed};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_v2_ok_and_the_active_key_id() {
    let mut f = Fixture::start("x-wing", PluginOptions::default()).await;
    let status = f.status().await;
    assert_eq!(status.version, "v2");
    assert_eq!(status.healthz, "ok");
    assert_eq!(status.key_id, expected_key_id(&f.admin, 1));
    assert!(
        status
            .key_id
            .starts_with(&format!("qsafe:{KEY}:v1:sha256:"))
    );
    assert!(status.key_id.len() <= 1024);
    f.stop().await.unwrap();
}

async fn round_trip(alg: &str, enc_len: usize) {
    let mut f = Fixture::start(alg, PluginOptions::default()).await;
    let status = f.status().await;
    for i in 0..8 {
        let plaintext = seed(i);
        let sealed = f.encrypt(&plaintext).await.unwrap();
        assert_eq!(sealed.key_id, status.key_id);
        // kube-apiserver stores at most 1 KiB of ciphertext: the KEM ciphertext rides in an
        // annotation, the ciphertext field holds the header and the AEAD output only.
        assert_eq!(sealed.ciphertext.len(), HEADER_LEN + 32 + TAG_LEN);
        assert_eq!(sealed.annotations.len(), 1);
        assert_eq!(sealed.annotations[ENC_ANNOTATION].len(), enc_len, "{alg}");
        assert_eq!(f.decrypt(&sealed).await.unwrap(), plaintext);
    }
    // Two seals of the same plaintext differ (fresh encapsulation each time).
    let a = f.encrypt(b"same").await.unwrap();
    let b = f.encrypt(b"same").await.unwrap();
    assert_ne!(a.ciphertext, b.ciphertext);
    assert_ne!(a.annotations, b.annotations);
    f.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypt_then_decrypt_round_trips_x_wing() {
    round_trip("x-wing", 1120).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypt_then_decrypt_round_trips_mlkem1024_p384() {
    round_trip("mlkem1024-p384", 1665).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn largest_plaintext_that_fits_round_trips() {
    let mut f = Fixture::start("x-wing", PluginOptions::default()).await;
    let plaintext = vec![0xa5; qsafe_kms::envelope::MAX_PLAINTEXT_LEN];
    let sealed = f.encrypt(&plaintext).await.unwrap();
    assert_eq!(sealed.ciphertext.len(), 1024);
    assert_eq!(f.decrypt(&sealed).await.unwrap(), plaintext);
    f.stop().await.unwrap();
}

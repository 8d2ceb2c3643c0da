//! The embedded model loads only from a sealed file signed by its publisher: the round trip
//! predicts exactly as the committed weights do, and every kind of foreign or damaged file is
//! refused before the weights are parsed.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qsafe_core::kem::DecapsulationKey;
use qsafe_core::keys::PublicKey;
use qsafe_core::registry;
use qsafe_core::sig::SigningKey;
use qsafe_gateway::model::sealed::{self, Error};
use qsafe_gateway::model::{Classifier, DIGITS_MLP_SAFETENSORS, MAX_MODEL_BYTES};

struct Keys {
    model: DecapsulationKey,
    recipient: PublicKey,
    publisher: SigningKey,
}

fn keys() -> Keys {
    let model = DecapsulationKey::generate(&registry::X_WING).unwrap();
    let recipient = PublicKey::Kem(model.encapsulation_key().unwrap());
    let publisher = SigningKey::generate(&registry::MLDSA65_ED25519_SHA512).unwrap();
    Keys {
        model,
        recipient,
        publisher,
    }
}

#[test]
fn sealed_round_trip_predicts_like_the_committed_weights() {
    let k = keys();
    let file = sealed::seal(
        DIGITS_MLP_SAFETENSORS,
        std::slice::from_ref(&k.recipient),
        &k.publisher,
    )
    .unwrap();
    let vk = k.publisher.verifying_key().unwrap();
    let loaded = sealed::open(&file, &k.model, &vk).unwrap();
    let committed = Classifier::from_safetensors(DIGITS_MLP_SAFETENSORS).unwrap();
    let images: Vec<f32> = (0..64 * 5).map(|i| (i % 17) as f32).collect();
    assert_eq!(
        loaded.predict_flat(&images).unwrap(),
        committed.predict_flat(&images).unwrap()
    );
}

#[test]
fn foreign_damaged_or_unsigned_files_are_refused() {
    let k = keys();
    let vk = k.publisher.verifying_key().unwrap();
    let file = sealed::seal(
        DIGITS_MLP_SAFETENSORS,
        std::slice::from_ref(&k.recipient),
        &k.publisher,
    )
    .unwrap();

    // Another publisher: refused by fingerprint before decryption.
    let other = SigningKey::generate(&registry::MLDSA65_ED25519_SHA512).unwrap();
    let e = sealed::open(&file, &k.model, &other.verifying_key().unwrap()).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Artifact(qsafe_artifact::Error::SignerMismatch { .. })
        ),
        "{e}"
    );
    assert!(e.is_verification_failure());

    // Another gateway's model key.
    let stranger = keys();
    let e = sealed::open(&file, &stranger.model, &vk).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Artifact(qsafe_artifact::Error::NoRecipient { .. })
        ),
        "{e}"
    );

    // The same weights re-sealed and signed by someone else, presented as the publisher's.
    let forged = sealed::seal(
        DIGITS_MLP_SAFETENSORS,
        std::slice::from_ref(&k.recipient),
        &other,
    )
    .unwrap();
    assert!(
        sealed::open(&forged, &k.model, &vk)
            .unwrap_err()
            .is_verification_failure()
    );

    // One flipped bit anywhere after the prefix, and a truncation: refused, never a panic.
    for at in [20, file.len() / 2, file.len() - 100, file.len() - 1] {
        let mut bad = file.clone();
        bad[at] ^= 0x40;
        let e = sealed::open(&bad, &k.model, &vk).unwrap_err();
        assert!(e.is_verification_failure(), "byte {at}: {e}");
    }
    let e = sealed::open(&file[..file.len() - 10], &k.model, &vk).unwrap_err();
    assert!(e.is_verification_failure(), "{e}");
}

#[test]
fn verified_but_invalid_weights_are_model_errors() {
    let k = keys();
    let vk = k.publisher.verifying_key().unwrap();
    let junk = sealed::seal(
        b"not a safetensors file",
        std::slice::from_ref(&k.recipient),
        &k.publisher,
    )
    .unwrap();
    assert!(matches!(
        sealed::open(&junk, &k.model, &vk),
        Err(Error::Model(_))
    ));
    let huge = vec![0u8; MAX_MODEL_BYTES + 1];
    let big = sealed::seal(&huge, std::slice::from_ref(&k.recipient), &k.publisher).unwrap();
    assert!(matches!(
        sealed::open(&big, &k.model, &vk),
        Err(Error::TooLarge)
    ));
}

//! Hostile input never panics: random and truncated keys, ciphertexts, signatures and key
//! files for every algorithm of this build, plus property tests of the key codec.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use qsafe_core::kem::{DecapsulationKey, EncapsulationKey};
use qsafe_core::keys::{PrivateKey, codec};
use qsafe_core::registry::{self, Algorithm, Kind};
use qsafe_core::sig::{SigningKey, VerifyingKey};

fn available(kind: Kind) -> impl Iterator<Item = &'static Algorithm> {
    registry::ALL
        .iter()
        .copied()
        .filter(move |a| a.kind == kind && a.is_available())
}

/// Lengths around every size that matters: empty, one byte, the exact size and its neighbours.
fn lengths(exact: usize) -> Vec<usize> {
    vec![
        0,
        1,
        exact.saturating_sub(1),
        exact,
        exact + 1,
        2 * exact + 3,
    ]
}

fn noise(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn kems_survive_random_keys_and_ciphertexts() {
    for alg in available(Kind::Kem) {
        let sk = DecapsulationKey::generate(alg).unwrap();
        let pk_len = sk.public_bytes().len();
        let (ct, _) = sk.encapsulation_key().unwrap().encapsulate().unwrap();
        for len in lengths(pk_len) {
            for seed in [0u8, 0xff] {
                let _ =
                    EncapsulationKey::from_bytes(alg, &noise(len, seed)).map(|pk| pk.encapsulate());
                let _ = DecapsulationKey::from_private_bytes(alg, &noise(len.min(4096), seed));
            }
        }
        for len in lengths(ct.len()) {
            // ML-KEM answers a well-formed wrong ciphertext with an unrelated secret (implicit
            // rejection); everything else must be an error, never a panic.
            let _ = sk.decapsulate(&noise(len, 7));
        }
    }
}

#[test]
fn signatures_survive_random_keys_and_signatures() {
    for alg in available(Kind::Signature) {
        let sk = SigningKey::generate(alg).unwrap();
        let vk = sk.verifying_key().unwrap();
        let sig_len = alg.sizes.signature.unwrap();
        for len in lengths(sig_len) {
            assert!(
                vk.verify(b"m", b"", &noise(len, 3)).is_err(),
                "{} accepted noise",
                alg.id
            );
        }
        for len in lengths(vk.as_bytes().len()) {
            let _ = VerifyingKey::from_bytes(alg, &noise(len, 9))
                .map(|k| k.verify(b"m", b"", &noise(sig_len, 1)));
            let _ = SigningKey::from_private_bytes(alg, &noise(len.min(4096), 5));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn key_codec_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..3000)) {
        let _ = codec::private_from_bytes(&bytes, None);
        let _ = codec::public_from_bytes(&bytes, None);
        let mut pem = b"-----BEGIN PRIVATE KEY-----\n".to_vec();
        pem.extend_from_slice(&bytes);
        let _ = codec::private_from_bytes(&pem, Some(Kind::Kem));
    }

    #[test]
    fn seeded_keys_round_trip_through_pem(seed in proptest::array::uniform32(any::<u8>()), which in 0usize..3) {
        let (alg, seed): (&'static Algorithm, Vec<u8>) = match which {
            0 => (&registry::ML_KEM_768, [seed, seed].concat()),
            1 => (&registry::ML_DSA_65, seed.to_vec()),
            _ => (&registry::X_WING, seed.to_vec()),
        };
        let key = PrivateKey::from_seed(alg, &seed).unwrap();
        let pem = codec::private_to_pem(&key).unwrap();
        let back = codec::private_from_bytes(pem.as_bytes(), None).unwrap();
        let raw = back.raw().unwrap();
        prop_assert_eq!(raw.expose(), seed.as_slice());
        let public = key.public_key().unwrap();
        let decoded = codec::public_from_bytes(&codec::public_to_der(&public).unwrap(), None).unwrap();
        prop_assert_eq!(decoded.raw(), public.raw());
    }

    #[test]
    fn flipped_pkcs8_bits_are_errors_or_other_valid_keys(pos in 0usize..86, bit in 0u8..8) {
        let key = PrivateKey::from_seed(&registry::ML_KEM_768, &[42u8; 64]).unwrap();
        let mut der = codec::private_to_der(&key).unwrap().expose().to_vec();
        let i = pos % der.len();
        der[i] ^= 1 << bit;
        // Rejected, or (a flipped seed or OID bit) another valid key; never the same key.
        if let Ok(k) = codec::private_from_bytes(&der, None) {
            prop_assert!(k.algorithm().id != "ml-kem-768" || k.raw().unwrap() != key.raw().unwrap());
        }
    }
}

//! SLH-DSA (FIPS 205) against NIST ACVP `SLH-DSA-keyGen-FIPS205/internalProjection.json`
//! (120 cases, 12 parameter sets): `slh_keygen_internal(SK.seed, SK.prf, PK.seed)` must give
//! the published `pk` and `sk` for the three sets qsafe offers (30 cases); the other nine sets
//! are counted (90). The ACVP sigVer sample covers none of our three sets (it has SHA2-192s,
//! SHA2-256f and SHAKE sets), so signatures are checked by round trip and tampering below.
#![cfg(feature = "slh")]
// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{array_field, hex_field, str_field, vectors_dir};
use qsafe_core::registry::{self, Algorithm};
use qsafe_core::sig::SigningKey;

fn ours(parameter_set: &str) -> Option<&'static Algorithm> {
    match parameter_set {
        "SLH-DSA-SHA2-128s" => Some(&registry::SLH_DSA_SHA2_128S),
        "SLH-DSA-SHA2-128f" => Some(&registry::SLH_DSA_SHA2_128F),
        "SLH-DSA-SHA2-256s" => Some(&registry::SLH_DSA_SHA2_256S),
        _ => None,
    }
}

#[test]
fn acvp_slhdsa_keygen() {
    let Some(_dir) = vectors_dir("acvp_slhdsa_keygen") else {
        return;
    };
    let v =
        common::load_json("acvp/gen-val/json-files/SLH-DSA-keyGen-FIPS205/internalProjection.json");
    let (mut ran, mut other_sets) = (0, 0);
    for g in array_field(&v, "testGroups") {
        let Some(alg) = ours(str_field(g, "parameterSet")) else {
            other_sets += array_field(g, "tests").len();
            continue;
        };
        for t in array_field(g, "tests") {
            let seed = [
                hex_field(t, "skSeed"),
                hex_field(t, "skPrf"),
                hex_field(t, "pkSeed"),
            ]
            .concat();
            let key = SigningKey::from_seed(alg, &seed).unwrap();
            assert_eq!(
                key.public_bytes(),
                hex_field(t, "pk"),
                "{} tc {}",
                alg.id,
                t["tcId"]
            );
            assert_eq!(
                key.private_bytes().unwrap().expose(),
                hex_field(t, "sk").as_slice()
            );
            // The 4n-byte private key loads back and is checked against PK.root.
            let again = SigningKey::from_private_bytes(alg, &hex_field(t, "sk")).unwrap();
            assert_eq!(again.public_bytes(), key.public_bytes());
            let mut bad = hex_field(t, "sk");
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert!(
                SigningKey::from_private_bytes(alg, &bad).is_err(),
                "tampered PK.root accepted"
            );
            ran += 1;
        }
    }
    assert_eq!((ran, other_sets), (30, 90));
}

#[test]
fn slhdsa_128f_signs_with_context_and_rejects_tampering() {
    let key = SigningKey::generate(&registry::SLH_DSA_SHA2_128F).unwrap();
    let vk = key.verifying_key().unwrap();
    let sig = key.sign(b"checkpoint", b"ctx").unwrap();
    assert_eq!(sig.len(), 17088);
    vk.verify(b"checkpoint", b"ctx", &sig).unwrap();
    assert!(vk.verify(b"checkpoint", b"", &sig).is_err());
    let mut bad = sig.clone();
    bad[100] ^= 1;
    assert!(vk.verify(b"checkpoint", b"ctx", &bad).is_err());
    assert!(
        vk.verify(b"checkpoint", b"ctx", &sig[..sig.len() - 1])
            .is_err()
    );
}

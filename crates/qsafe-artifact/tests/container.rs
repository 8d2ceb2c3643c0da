//! Sealed container v1: round trips, recipients, signatures, policy, random access.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{Cursor, Read, Write};

use qsafe_artifact::Error;
use qsafe_artifact::chunked::CHUNK_SIZE;
use qsafe_artifact::container::{Header, SealOptions, Sealer, verify_signature};
use qsafe_core::kem::DecapsulationKey;
use qsafe_core::keys::PublicKey;
use qsafe_core::registry::{self, SUITE_CNSA2, SUITE_DEFAULT, Suite};
use qsafe_core::sig::SigningKey;

fn kem(id: &str) -> DecapsulationKey {
    DecapsulationKey::generate(registry::by_id(id).unwrap()).unwrap()
}

fn public(dk: &DecapsulationKey) -> PublicKey {
    PublicKey::Kem(dk.encapsulation_key().unwrap())
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn seal(
    suite: &'static Suite,
    to: &[PublicKey],
    signer: Option<&SigningKey>,
    plain: &[u8],
) -> Vec<u8> {
    let opts = SealOptions {
        suite,
        recipients: to,
        signer,
        allow_classical: false,
    };
    let mut s = Sealer::new(&opts, Vec::new()).unwrap();
    s.write_all(plain).unwrap();
    s.finish().unwrap()
}

fn open(
    file: &[u8],
    key: &DecapsulationKey,
    vk: Option<&qsafe_core::sig::VerifyingKey>,
) -> Result<Vec<u8>, Error> {
    let mut r = Cursor::new(file);
    let header = Header::read(&mut r)?;
    let fk = header.unlock(key)?;
    let mut out = Vec::new();
    header
        .open_stream(&fk, r, vk)?
        .read_to_end(&mut out)
        .map_err(qsafe_artifact::unwrap_io)?;
    Ok(out)
}

#[test]
fn round_trips_at_chunk_boundaries_for_both_suites() {
    let xw = kem("x-wing");
    let cn = kem("mlkem1024-p384");
    for len in [
        0,
        1,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        3 * CHUNK_SIZE,
        100_000,
    ] {
        let plain = data(len);
        let f = seal(&SUITE_DEFAULT, &[public(&xw)], None, &plain);
        assert_eq!(open(&f, &xw, None).unwrap(), plain, "len {len}");
        let f = seal(&SUITE_CNSA2, &[public(&cn)], None, &plain);
        assert_eq!(open(&f, &cn, None).unwrap(), plain, "cnsa2 len {len}");
    }
}

#[test]
fn every_recipient_opens_and_others_get_the_fingerprints() {
    let keys = [kem("x-wing"), kem("mlkem768-p256"), kem("ml-kem-1024")];
    let pubs: Vec<_> = keys.iter().map(public).collect();
    let plain = data(50_000);
    let f = seal(&SUITE_DEFAULT, &pubs, None, &plain);
    for k in &keys {
        assert_eq!(open(&f, k, None).unwrap(), plain);
    }
    let stranger = kem("x-wing");
    match open(&f, &stranger, None) {
        Err(Error::NoRecipient { recipients, .. }) => {
            assert_eq!(recipients.len(), 3);
            assert_eq!(recipients[0], pubs[0].fingerprint().unwrap());
        }
        other => panic!("expected NoRecipient, got {other:?}"),
    }
}

#[test]
fn signed_files_verify_and_bind_header_and_payload() {
    let dk = kem("x-wing");
    let sk = SigningKey::generate(registry::by_id("mldsa65-ed25519-sha512").unwrap()).unwrap();
    let vk = sk.verifying_key().unwrap();
    let plain = data(70_000);
    let f = seal(&SUITE_DEFAULT, &[public(&dk)], Some(&sk), &plain);
    assert_eq!(open(&f, &dk, Some(&vk)).unwrap(), plain);
    // Without --verify-with the trailer is skipped, the payload still authenticates.
    assert_eq!(open(&f, &dk, None).unwrap(), plain);

    let mut r = Cursor::new(&f[..]);
    let h = Header::read(&mut r).unwrap();
    verify_signature(&h, &vk, r).unwrap();

    // A damaged trailer fails the signature, and no byte of the last chunk is released.
    let mut bad = f.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(matches!(open(&bad, &dk, Some(&vk)), Err(Error::Signature)));

    // Another signer is named as such.
    let other = SigningKey::generate(registry::by_id("mldsa65-ed25519-sha512").unwrap()).unwrap();
    let err = open(&f, &dk, Some(&other.verifying_key().unwrap())).unwrap_err();
    assert!(matches!(err, Error::SignerMismatch { .. }), "{err:?}");

    // An unsigned file is refused when a signer is required.
    let unsigned = seal(&SUITE_DEFAULT, &[public(&dk)], None, &plain);
    assert!(matches!(
        open(&unsigned, &dk, Some(&vk)),
        Err(Error::NotSigned)
    ));
}

#[test]
fn header_tampering_fails_the_mac_or_the_parse() {
    let dk = kem("x-wing");
    let f = seal(&SUITE_DEFAULT, &[public(&dk)], None, &data(1000));
    let header_len = {
        let mut r = Cursor::new(&f[..]);
        Header::read(&mut r).unwrap().len() as usize
    };
    for i in 0..header_len {
        let mut bad = f.clone();
        bad[i] ^= 0x01;
        assert!(open(&bad, &dk, None).is_err(), "flip at header byte {i}");
    }
}

#[test]
fn policy_refuses_classical_and_non_cnsa_algorithms() {
    let classical = kem("x25519");
    let opts = SealOptions {
        suite: &SUITE_DEFAULT,
        recipients: &[public(&classical)],
        signer: None,
        allow_classical: false,
    };
    let err = Sealer::new(&opts, Vec::new()).unwrap_err();
    assert!(err.to_string().contains("classical-only"), "{err}");
    let allowed = SealOptions {
        allow_classical: true,
        ..opts
    };
    let mut s = Sealer::new(&allowed, Vec::new()).unwrap();
    s.write_all(b"legacy").unwrap();
    let f = s.finish().unwrap();
    assert_eq!(open(&f, &classical, None).unwrap(), b"legacy");

    let xw = kem("x-wing");
    let cnsa = SealOptions {
        suite: &SUITE_CNSA2,
        recipients: &[public(&xw)],
        signer: None,
        allow_classical: false,
    };
    let err = Sealer::new(&cnsa, Vec::new()).unwrap_err();
    assert!(err.to_string().contains("cnsa2"), "{err}");
}

#[test]
fn random_access_reads_ranges_of_signed_and_unsigned_files() {
    let dk = kem("x-wing");
    let sk = SigningKey::generate(registry::by_id("mldsa44-ed25519-sha512").unwrap()).unwrap();
    let plain = data(5 * CHUNK_SIZE + 123);
    for signer in [None, Some(&sk)] {
        let f = seal(&SUITE_DEFAULT, &[public(&dk)], signer, &plain);
        let mut r = Cursor::new(&f[..]);
        let h = Header::read(&mut r).unwrap();
        let fk = h.unlock(&dk).unwrap();
        let mut ra = h.open_random(&fk, Cursor::new(&f[..])).unwrap();
        assert_eq!(ra.len(), plain.len() as u64);
        for (off, len) in [
            (0, 10),
            (CHUNK_SIZE - 3, 7),
            (4 * CHUNK_SIZE, CHUNK_SIZE + 123),
        ] {
            assert_eq!(
                ra.read_range(off as u64, len as u64).unwrap(),
                &plain[off..off + len]
            );
        }
    }
}

#[test]
fn rewrap_replaces_stanzas_and_keeps_payload_and_signature() {
    let xw = kem("x-wing");
    let sk = SigningKey::generate(registry::by_id("mldsa87-ecdsa-p384-sha512").unwrap()).unwrap();
    let vk = sk.verifying_key().unwrap();
    let plain = data(3 * CHUNK_SIZE + 5);
    let cn_old = kem("mlkem1024-p384");
    let f = seal(&SUITE_CNSA2, &[public(&cn_old)], Some(&sk), &plain);
    let cn_new = kem("mlkem1024-p384");
    let h = Header::read(&mut Cursor::new(&f[..])).unwrap();
    let h2 = h.rewrap(&cn_old, &[public(&cn_new)], false).unwrap();
    assert_eq!(h2.len(), h.len(), "same algorithm, same header length");
    let mut g = h2.as_bytes().to_vec();
    g.extend_from_slice(&f[h.len() as usize..]);
    assert_eq!(open(&g, &cn_new, Some(&vk)).unwrap(), plain);
    assert!(matches!(
        open(&g, &cn_old, None),
        Err(Error::NoRecipient { .. })
    ));
    // A rewrap needs a key that opens the file, and the new recipients obey the suite.
    assert!(h.rewrap(&cn_new, &[public(&cn_new)], false).is_err());
    // x-wing is not a CNSA 2.0 KEM.
    assert!(h.rewrap(&cn_old, &[public(&xw)], false).is_err());
}

//! HPKE against RFC 9180 Appendix A (`rfc9180-hpke/rfc9180-appendix-a-test-vectors.json`,
//! 28 setups) and draft-ietf-hpke-pq (`hpke-pq/test-vectors.json`, 13 setups).
//!
//! Runs every base-mode setup whose KEM, KDF and AEAD qsafe implements: key derivation
//! (`DeriveKeyPair(ikmR)` → `skRm`, `pkRm`), deterministic encapsulation from `ikmE` → `enc`,
//! decapsulation, the key schedule, every encryption (sealed and opened in sequence order,
//! skipping unlisted sequence numbers) and every export. Setups outside that set are counted:
//! RFC 9180 psk/auth/auth-psk modes (18) and P-521 (4); HPKE-PQ single-stage SHAKE/TurboSHAKE
//! KDFs (7).

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{array_field, hex_field, vectors_dir};
use qsafe_core::hpke::{self, Suite};
use serde_json::Value;

#[derive(Default, Debug, PartialEq)]
struct Tally {
    setups: usize,
    encryptions: usize,
    exports: usize,
    skipped: usize,
}

fn run_setup(t: &Value, tally: &mut Tally) {
    let id = |k: &str| u16::try_from(t[k].as_u64().unwrap()).unwrap();
    let Ok(suite) = Suite::from_ids(id("kem_id"), id("kdf_id"), id("aead_id")) else {
        tally.skipped += 1;
        return;
    };
    if t["mode"].as_u64() != Some(0) {
        tally.skipped += 1;
        return;
    }
    let label = format!(
        "kem 0x{:04x} kdf 0x{:04x} aead 0x{:04x}",
        id("kem_id"),
        id("kdf_id"),
        id("aead_id")
    );
    let sk_r = hpke::derive_key_pair(suite.kem(), &hex_field(t, "ikmR")).unwrap();
    assert_eq!(sk_r.public_bytes(), hex_field(t, "pkRm"), "{label}: pkRm");
    assert_eq!(
        hpke::serialize_private_key(&sk_r).unwrap().expose(),
        hex_field(t, "skRm"),
        "{label}: skRm"
    );
    let info = hex_field(t, "info");
    let (enc, mut sender) = hpke::setup_base_sender_derand(
        &suite,
        &sk_r.encapsulation_key().unwrap(),
        &info,
        &hex_field(t, "ikmE"),
    )
    .unwrap();
    assert_eq!(enc, hex_field(t, "enc"), "{label}: enc");
    let mut receiver = hpke::setup_base_receiver(&suite, &enc, &sk_r, &info).unwrap();

    let mut seq = 0u64;
    for e in t
        .get("encryptions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let want_seq = e["sequence_number"].as_u64().unwrap_or(seq);
        while seq < want_seq {
            // Advance both contexts over unlisted sequence numbers.
            let ct = sender.seal(b"", b"").unwrap();
            receiver.open(b"", &ct).unwrap();
            seq += 1;
        }
        let (aad, pt, ct) = (hex_field(e, "aad"), hex_field(e, "pt"), hex_field(e, "ct"));
        assert_eq!(
            sender.seal(&aad, &pt).unwrap(),
            ct,
            "{label}: seal seq {seq}"
        );
        assert_eq!(
            receiver.open(&aad, &ct).unwrap(),
            pt,
            "{label}: open seq {seq}"
        );
        seq += 1;
        tally.encryptions += 1;
    }
    for x in array_field(t, "exports") {
        let len = usize::try_from(x["L"].as_u64().unwrap()).unwrap();
        let ctx = hex_field(x, "exporter_context");
        let want = hex_field(x, "exported_value");
        assert_eq!(
            sender.export(&ctx, len).unwrap().expose(),
            want,
            "{label}: export"
        );
        assert_eq!(
            receiver.export(&ctx, len).unwrap().expose(),
            want,
            "{label}: export"
        );
        tally.exports += 1;
    }
    tally.setups += 1;
}

fn run_file(rel: &str) -> Tally {
    let v = common::load_json(rel);
    let mut tally = Tally::default();
    for t in v.as_array().unwrap() {
        run_setup(t, &mut tally);
    }
    tally
}

#[test]
fn rfc9180_appendix_a_base_mode() {
    let Some(_) = vectors_dir("rfc9180_appendix_a_base_mode") else {
        return;
    };
    let tally = run_file("rfc9180-hpke/rfc9180-appendix-a-test-vectors.json");
    // Base mode of DHKEM(X25519) with AES-128-GCM, ChaCha20-Poly1305 and export-only, and
    // DHKEM(P-256) with HKDF-SHA256/AES-128-GCM, HKDF-SHA512/AES-128-GCM, HKDF-SHA256/ChaCha:
    // 5 × 6 encryptions, 6 × 3 exports. Skipped: 18 non-base setups, 4 P-521.
    assert_eq!(
        tally,
        Tally {
            setups: 6,
            encryptions: 30,
            exports: 18,
            skipped: 22
        },
        "{tally:?}"
    );
}

#[test]
fn hpke_pq_base_mode() {
    let Some(_) = vectors_dir("hpke_pq_base_mode") else {
        return;
    };
    let tally = run_file("hpke-pq/test-vectors.json");
    assert_eq!(
        tally,
        Tally {
            setups: 6,
            encryptions: 60,
            exports: 30,
            skipped: 7
        },
        "{tally:?}"
    );
}

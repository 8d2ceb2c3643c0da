//! The envelope: how a DEK seed from kube-apiserver is sealed to a store key (format v1).
//!
//! kube-apiserver hands the plugin a fresh 32-byte DEK seed (or, with the KMSv2KDF gate off,
//! a 32-byte AES key) in `EncryptRequest.plaintext` and stores what comes back beside every
//! object it encrypts with that seed. The plugin seals the seed with HPKE base mode
//! (RFC 9180 §5.1.1, §6.1: `SetupBaseS` then one `Seal`) to the active version of the
//! configured store key, a PQ/T hybrid KEM with its draft-ietf-hpke-pq KEM id
//! (`qsafe_core::registry::drafts::HPKE_PQ`: `x-wing` 0x647a, `mlkem1024-p384` 0x0051).
//!
//! ## Where the bytes go
//!
//! kube-apiserver refuses an encrypted DEK source (`EncryptResponse.ciphertext`) longer than
//! 1 KiB (`encryptedDEKSourceMaxSize` in
//! `staging/src/k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2/envelope.go`), and
//! a hybrid KEM ciphertext alone is larger (X-Wing 1120 bytes, MLKEM1024-P384 1665). So the
//! KEM encapsulation `enc` travels as an annotation, which KEP-3299 provides for exactly this
//! ("can contain the encrypted local KEK"; at most 32 KiB of keys plus values, keys fully
//! qualified domain names), and the ciphertext field holds only a header and the AEAD output:
//!
//! ```text
//! EncryptResponse.ciphertext  = header ‖ Seal(aad, seed)               (9 + len(seed) + 16 bytes)
//!   header                    = "QK" ‖ 0x01 ‖ kem_id ‖ kdf_id ‖ aead_id (u16 big-endian each)
//! EncryptResponse.annotations = { "enc.kms.qsafe.dev": enc }           (the KEM ciphertext)
//! EncryptResponse.key_id      = qsafe:<name>:v<version>:sha256:<16 hex>  (see `key_id`)
//!
//! info = "qsafe-kms/v1"
//! aad  = header ‖ key_id
//! ```
//!
//! The suite is the key's KEM, HKDF-SHA384 for KEMs that CNSA 2.0 admits (`mlkem1024-p384`,
//! `ml-kem-1024`) and HKDF-SHA256 otherwise, and AES-256-GCM — the choice
//! `qsafe-artifact`'s sealed container makes for its file key. Decryption accepts exactly
//! that suite for the key's algorithm and nothing else. The AAD binds the header and the key
//! id, so moving a ciphertext to another key id fails; `enc` needs no AAD because every
//! supported KEM's shared secret depends on its ciphertext (a changed `enc` gives another key
//! and the AEAD fails). A 32-byte seed gives a 57-byte ciphertext; the largest plaintext that
//! fits in 1 KiB is [`MAX_PLAINTEXT_LEN`] bytes.

use std::collections::HashMap;

use qsafe_core::hpke;
use qsafe_core::kdf::Hkdf;
use qsafe_core::kem::{DecapsulationKey, EncapsulationKey};
use qsafe_core::registry::{Algorithm, Cnsa2};
use qsafe_core::symmetric::Aead;

use crate::key_id::truncate;
use crate::{Error, Result};

/// First bytes of every ciphertext.
pub const MAGIC: [u8; 2] = *b"QK";
/// The format version this module writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// Magic, version and the three HPKE ids.
pub const HEADER_LEN: usize = 9;
/// AES-256-GCM tag length.
pub const TAG_LEN: usize = 16;
/// Longest `EncryptResponse.ciphertext` kube-apiserver stores (`encryptedDEKSourceMaxSize`).
pub const MAX_CIPHERTEXT_LEN: usize = 1024;
/// Longest plaintext whose ciphertext still fits in [`MAX_CIPHERTEXT_LEN`].
pub const MAX_PLAINTEXT_LEN: usize = MAX_CIPHERTEXT_LEN - HEADER_LEN - TAG_LEN;
/// Largest total size of annotation keys plus values kube-apiserver accepts (32 KiB).
pub const MAX_ANNOTATIONS_LEN: usize = 32 * 1024;
/// The annotation holding the HPKE `enc` (the KEM ciphertext).
pub const ENC_ANNOTATION: &str = "enc.kms.qsafe.dev";
/// HPKE `info`.
pub const HPKE_INFO: &[u8] = b"qsafe-kms/v1";

/// The HPKE suite used with a KEM: HKDF-SHA384 for CNSA 2.0 KEMs, HKDF-SHA256 otherwise,
/// AES-256-GCM.
pub fn suite_for(kem: &'static Algorithm) -> Result<hpke::Suite> {
    let kdf = match kem.cnsa2 {
        Cnsa2::Approved | Cnsa2::HybridApproved => Hkdf::Sha384,
        Cnsa2::Transitional | Cnsa2::NotApproved => Hkdf::Sha256,
    };
    Ok(hpke::Suite::new(kem, kdf, Some(Aead::Aes256Gcm))?)
}

/// The three HPKE ids of the suite used with `kem`.
fn ids_for(kem: &'static Algorithm) -> Result<[u16; 3]> {
    let kem_id = kem
        .hpke_id
        .ok_or_else(|| Error::Internal(format!("{} has no HPKE KEM id", kem.id)))?;
    let kdf_id = match kem.cnsa2 {
        Cnsa2::Approved | Cnsa2::HybridApproved => 0x0002,
        Cnsa2::Transitional | Cnsa2::NotApproved => 0x0001,
    };
    Ok([kem_id, kdf_id, 0x0002])
}

fn header(ids: [u16; 3]) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    let [kem, kdf, aead] = ids.map(u16::to_be_bytes);
    for (dst, src) in h.iter_mut().zip(
        MAGIC
            .iter()
            .chain(&[FORMAT_VERSION])
            .chain(&kem)
            .chain(&kdf)
            .chain(&aead),
    ) {
        *dst = *src;
    }
    h
}

fn aad(header: &[u8], key_id: &str) -> Vec<u8> {
    [header, key_id.as_bytes()].concat()
}

/// What [`seal`] returns: the three fields of an `EncryptResponse`.
#[derive(Debug)]
pub struct Sealed {
    /// `EncryptResponse.ciphertext`.
    pub ciphertext: Vec<u8>,
    /// `EncryptResponse.annotations`.
    pub annotations: HashMap<String, Vec<u8>>,
}

/// Seals `plaintext` (1..=[`MAX_PLAINTEXT_LEN`] bytes) to `ek` under `key_id`.
pub fn seal(ek: &EncapsulationKey, key_id: &str, plaintext: &[u8]) -> Result<Sealed> {
    check_plaintext(plaintext)?;
    let kem = ek.algorithm();
    let suite = suite_for(kem)?;
    let header = header(ids_for(kem)?);
    let (enc, mut ctx) = hpke::setup_base_sender(&suite, ek, HPKE_INFO)?;
    let sealed = ctx.seal(&aad(&header, key_id), plaintext)?;
    let ciphertext = [&header[..], &sealed].concat();
    Ok(Sealed {
        ciphertext,
        annotations: HashMap::from([(ENC_ANNOTATION.to_owned(), enc)]),
    })
}

/// Checks a plaintext's length.
pub fn check_plaintext(plaintext: &[u8]) -> Result<()> {
    if plaintext.is_empty() {
        return Err(Error::InvalidRequest("plaintext is empty".into()));
    }
    if plaintext.len() > MAX_PLAINTEXT_LEN {
        return Err(Error::InvalidRequest(format!(
            "plaintext is {} bytes; at most {MAX_PLAINTEXT_LEN} fit in the 1 KiB ciphertext \
             kube-apiserver stores (it sends 32-byte DEK seeds)",
            plaintext.len()
        )));
    }
    Ok(())
}

/// A ciphertext whose header has been checked.
#[derive(Debug, Clone, Copy)]
pub struct Parsed<'a> {
    /// HPKE KEM id.
    pub kem_id: u16,
    /// HPKE KDF id.
    pub kdf_id: u16,
    /// HPKE AEAD id.
    pub aead_id: u16,
    header: &'a [u8],
    body: &'a [u8],
}

/// Parses a `DecryptRequest.ciphertext`: length, magic, version and the header ids' shape.
pub fn parse(ciphertext: &[u8]) -> Result<Parsed<'_>> {
    let bad = |why: String| Error::InvalidRequest(format!("ciphertext {why}"));
    if ciphertext.is_empty() {
        return Err(bad("is empty".into()));
    }
    if ciphertext.len() > MAX_CIPHERTEXT_LEN {
        return Err(bad(format!(
            "is {} bytes; this plugin never makes one longer than {MAX_CIPHERTEXT_LEN}",
            ciphertext.len()
        )));
    }
    let (header, body) = ciphertext.split_at_checked(HEADER_LEN).ok_or_else(|| {
        bad(format!(
            "is {} bytes, shorter than its header",
            ciphertext.len()
        ))
    })?;
    let [m0, m1, version, k0, k1, d0, d1, a0, a1] = <[u8; HEADER_LEN]>::try_from(header)
        .map_err(|_| Error::Internal("header length".into()))?;
    if [m0, m1] != MAGIC {
        return Err(bad(
            "does not start with `QK`: it was not made by this plugin".into(),
        ));
    }
    if version != FORMAT_VERSION {
        return Err(bad(format!(
            "has format version {version}; this build reads version {FORMAT_VERSION}"
        )));
    }
    if body.len() <= TAG_LEN {
        return Err(bad(format!(
            "has a {}-byte body; a sealed plaintext is at least {} bytes",
            body.len(),
            TAG_LEN + 1
        )));
    }
    Ok(Parsed {
        kem_id: u16::from_be_bytes([k0, k1]),
        kdf_id: u16::from_be_bytes([d0, d1]),
        aead_id: u16::from_be_bytes([a0, a1]),
        header,
        body,
    })
}

/// Checks the annotations kube-apiserver passes back and returns `enc`, whose length must be
/// the KEM ciphertext length of `kem`.
pub fn enc_annotation<'a>(
    annotations: &'a HashMap<String, Vec<u8>>,
    kem: &'static Algorithm,
) -> Result<&'a [u8]> {
    let total = annotations.iter().fold(0usize, |n, (k, v)| {
        n.saturating_add(k.len()).saturating_add(v.len())
    });
    if total > MAX_ANNOTATIONS_LEN {
        return Err(Error::InvalidRequest(format!(
            "annotations total {total} bytes; kube-apiserver allows at most {MAX_ANNOTATIONS_LEN}"
        )));
    }
    if let Some(other) = annotations.keys().find(|k| k.as_str() != ENC_ANNOTATION) {
        return Err(Error::InvalidRequest(format!(
            "unexpected annotation {:?}; this plugin writes only {ENC_ANNOTATION}",
            truncate(other)
        )));
    }
    let enc = annotations.get(ENC_ANNOTATION).ok_or_else(|| {
        Error::InvalidRequest(format!(
            "annotation {ENC_ANNOTATION} (the KEM ciphertext) is missing"
        ))
    })?;
    let want = kem.sizes.ciphertext;
    if want != Some(enc.len()) {
        return Err(Error::InvalidRequest(format!(
            "annotation {ENC_ANNOTATION} is {} bytes; a {} ciphertext is {} bytes",
            enc.len(),
            kem.id,
            want.map_or_else(|| "?".to_owned(), |n| n.to_string())
        )));
    }
    Ok(enc)
}

/// Opens a parsed ciphertext with `dk` under `key_id`.
pub fn open(
    dk: &DecapsulationKey,
    key_id: &str,
    parsed: &Parsed<'_>,
    enc: &[u8],
) -> Result<Vec<u8>> {
    let kem = dk.algorithm();
    let want = ids_for(kem)?;
    let got = [parsed.kem_id, parsed.kdf_id, parsed.aead_id];
    if got != want {
        return Err(Error::InvalidRequest(format!(
            "ciphertext names HPKE suite {:04x}/{:04x}/{:04x} but {key_id} is a {} key, sealed \
             with {:04x}/{:04x}/{:04x}",
            got[0], got[1], got[2], kem.id, want[0], want[1], want[2]
        )));
    }
    let suite = suite_for(kem)?;
    let unauthentic = || Error::Unauthentic {
        key_id: key_id.to_owned(),
    };
    // Decapsulation of a hybrid fails only on a malformed component (the length was checked);
    // either way the answer is the same opaque error as an AEAD failure.
    let mut ctx =
        hpke::setup_base_receiver(&suite, enc, dk, HPKE_INFO).map_err(|_| unauthentic())?;
    ctx.open(&aad(parsed.header, key_id), parsed.body)
        .map_err(|_| unauthentic())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use qsafe_core::registry;

    const KEY_ID: &str = "qsafe:k:v1:sha256:0011223344556677";

    fn key(alg: &'static Algorithm) -> DecapsulationKey {
        DecapsulationKey::generate(alg).unwrap()
    }

    #[test]
    fn seal_open_round_trip_both_hybrids() {
        for alg in [&registry::X_WING, &registry::MLKEM1024_P384] {
            let dk = key(alg);
            let seed = [7u8; 32];
            let s = seal(&dk.encapsulation_key().unwrap(), KEY_ID, &seed).unwrap();
            assert_eq!(s.ciphertext.len(), HEADER_LEN + 32 + TAG_LEN);
            let enc = enc_annotation(&s.annotations, alg).unwrap();
            let p = parse(&s.ciphertext).unwrap();
            assert_eq!(open(&dk, KEY_ID, &p, enc).unwrap(), seed);
            // Another key id is another AAD.
            assert!(matches!(
                open(&dk, "qsafe:k:v2:sha256:0011223344556677", &p, enc),
                Err(Error::Unauthentic { .. })
            ));
        }
    }

    #[test]
    fn header_pins_the_suite() {
        let dk = key(&registry::X_WING);
        let s = seal(&dk.encapsulation_key().unwrap(), KEY_ID, b"seed").unwrap();
        assert_eq!(
            &s.ciphertext[..HEADER_LEN],
            b"QK\x01\x64\x7a\x00\x01\x00\x02"
        );
        let dk = key(&registry::MLKEM1024_P384);
        let s = seal(&dk.encapsulation_key().unwrap(), KEY_ID, b"seed").unwrap();
        assert_eq!(
            &s.ciphertext[..HEADER_LEN],
            b"QK\x01\x00\x51\x00\x02\x00\x02"
        );
    }

    #[test]
    fn largest_plaintext_fits_in_one_kib() {
        let dk = key(&registry::X_WING);
        let ek = dk.encapsulation_key().unwrap();
        let s = seal(&ek, KEY_ID, &[1u8; MAX_PLAINTEXT_LEN]).unwrap();
        assert_eq!(s.ciphertext.len(), MAX_CIPHERTEXT_LEN);
        assert!(seal(&ek, KEY_ID, &[1u8; MAX_PLAINTEXT_LEN + 1]).is_err());
        assert!(seal(&ek, KEY_ID, b"").is_err());
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1100)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn any_flipped_bit_is_refused(byte in 0usize..(HEADER_LEN + 48), bit in 0u8..8) {
            // One key for all cases: key generation would dominate the run time.
            static DK: std::sync::OnceLock<DecapsulationKey> = std::sync::OnceLock::new();
            let dk = DK.get_or_init(|| key(&registry::X_WING));
            let s = seal(&dk.encapsulation_key().unwrap(), KEY_ID, &[9u8; 32]).unwrap();
            let mut ct = s.ciphertext.clone();
            ct[byte] ^= 1 << bit;
            let enc = enc_annotation(&s.annotations, &registry::X_WING).unwrap();
            let opened = parse(&ct).and_then(|p| open(dk, KEY_ID, &p, enc));
            prop_assert!(opened.is_err());
        }
    }
}

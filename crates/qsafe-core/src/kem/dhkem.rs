//! DHKEM (RFC 9180 §4.1) over X25519, P-256 and P-384: the classical-only KEMs of the
//! registry, kept as baselines and for HPKE.

use super::ecdh::{Curve, PrivateKey, PublicKey};
use crate::Result;
use crate::kdf::{self, Hkdf};
use crate::secret::SecretBytes;

fn params(curve: Curve) -> (u16, Hkdf, usize) {
    match curve {
        Curve::X25519 => (0x0020, Hkdf::Sha256, 32),
        Curve::P256 => (0x0010, Hkdf::Sha256, 32),
        Curve::P384 => (0x0011, Hkdf::Sha384, 48),
    }
}

fn suite_id(kem_id: u16) -> [u8; 5] {
    let [a, b] = kem_id.to_be_bytes();
    [b'K', b'E', b'M', a, b]
}

/// `ExtractAndExpand(dh, enc ‖ pkRm)`.
fn extract_and_expand(
    curve: Curve,
    dh: &SecretBytes,
    enc: &[u8],
    pk_r: &[u8],
) -> Result<SecretBytes> {
    let (kem_id, kdf_alg, n_secret) = params(curve);
    let sid = suite_id(kem_id);
    let prk = kdf::labeled_extract(kdf_alg, &sid, b"", b"eae_prk", dh.expose());
    let ctx = [enc, pk_r].concat();
    kdf::labeled_expand(
        kdf_alg,
        prk.expose(),
        &sid,
        b"shared_secret",
        &ctx,
        n_secret,
    )
}

/// `Encap(pkR)` with the given ephemeral key (random, or derived for vectors).
pub(crate) fn encapsulate_with(
    eph: &PrivateKey,
    pk_r: &PublicKey,
    curve: Curve,
) -> Result<(Vec<u8>, SecretBytes)> {
    let dh = eph.agree(pk_r)?;
    let enc = eph.public().bytes().to_vec();
    let ss = extract_and_expand(curve, &dh, &enc, pk_r.bytes())?;
    Ok((enc, ss))
}

/// `Decap(enc, skR)`.
pub(crate) fn decapsulate(sk_r: &PrivateKey, enc: &[u8], curve: Curve) -> Result<SecretBytes> {
    let pk_e = PublicKey::from_bytes(curve, enc).map_err(|_| crate::Error::Decapsulation)?;
    let dh = sk_r.agree(&pk_e)?;
    extract_and_expand(curve, &dh, enc, sk_r.public().bytes())
}

/// RFC 9180 §7.1.3 `DeriveKeyPair(ikm)`.
pub(crate) fn derive_key_pair(curve: Curve, ikm: &[u8]) -> Result<PrivateKey> {
    let (kem_id, kdf_alg, _) = params(curve);
    let sid = suite_id(kem_id);
    let prk = kdf::labeled_extract(kdf_alg, &sid, b"", b"dkp_prk", ikm);
    let n_sk = curve.scalar_len();
    if curve == Curve::X25519 {
        let sk = kdf::labeled_expand(kdf_alg, prk.expose(), &sid, b"sk", b"", n_sk)?;
        return PrivateKey::from_scalar(curve, sk.expose());
    }
    // NIST curves: rejection sampling over counter-indexed candidates (bitmask 0xff).
    for counter in 0u8..=255 {
        let candidate =
            kdf::labeled_expand(kdf_alg, prk.expose(), &sid, b"candidate", &[counter], n_sk)?;
        if let Ok(sk) = PrivateKey::from_scalar(curve, candidate.expose()) {
            return Ok(sk);
        }
    }
    Err(crate::Error::Internal("DeriveKeyPair found no scalar"))
}

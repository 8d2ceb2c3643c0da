//! Mask expansion: a 32-byte seed becomes a vector of `u32` masks in Z_2^32 (the PRG of
//! Bonawitz et al. 2017 §4).
//!
//! # PRG
//!
//! AES-256-CTR from aws-lc-rs, keyed per use:
//!
//! ```text
//! key       = HKDF-SHA256(salt = "qsafe-train/mask/v1", ikm = seed,
//!                         info = round (u64 BE) ‖ tag ‖ ids (u32 BE)...,  L = 32)
//! keystream = AES-256-CTR(key, counter block = 0, 1, 2, … as a 128-bit big-endian integer)
//! mask[i]   = little-endian u32 from keystream bytes 4i..4i+4
//! ```
//!
//! with `tag = 0x01` and `ids = owner` for a self mask, and `tag = 0x02` and
//! `ids = low ‖ high` for the pairwise mask of two workers. The derived key makes masks of
//! different rounds and purposes independent even if a seed were reused. AES-CTR was chosen
//! over SHAKE256 for speed: masks are expanded once per peer per round over the whole model
//! (10^7 parameters → 40 MB per peer), and AES-NI runs at several GB/s per core. AES-256 as a
//! PRG is secure up to far more than 2^64 blocks per key; a 10^9-parameter model uses 2^28.
//!
//! # Sign convention
//!
//! For a pair `u ≠ v`, the worker with the lower id adds the pairwise mask and the higher one
//! subtracts it ([`pairwise_sign`]), so the two cancel in the sum. A worker's self mask is
//! always added by the worker and removed by the aggregator after unmasking.

use aws_lc_rs::cipher::{AES_256, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::iv::FixedLength;
use qsafe_core::kdf::Hkdf;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

/// Length of a mask seed in bytes.
pub const SEED_LEN: usize = 32;

/// `u32` words expanded per AES-CTR call (64 KiB of keystream).
const CHUNK_WORDS: usize = 16 * 1024;
const BLOCKS_PER_CHUNK: u128 = (CHUNK_WORDS * 4 / 16) as u128;
const SALT: &[u8] = b"qsafe-train/mask/v1";

/// A 32-byte mask seed. Zeroized on drop; not `Clone`; `Debug` prints nothing secret.
pub struct MaskSeed(Zeroizing<[u8; SEED_LEN]>);

impl core::fmt::Debug for MaskSeed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("MaskSeed(redacted)")
    }
}

impl MaskSeed {
    /// A fresh seed from the operating system's CSPRNG.
    pub fn random() -> Result<Self> {
        let bytes = qsafe_core::secret::random_bytes(SEED_LEN)?;
        Self::from_bytes(bytes.expose())
    }

    /// Wraps seed bytes (exactly [`SEED_LEN`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        if bytes.len() != SEED_LEN {
            return Err(Error::Length {
                what: "mask seed",
                expected: SEED_LEN,
                got: bytes.len(),
            });
        }
        seed.copy_from_slice(bytes);
        Ok(MaskSeed(seed))
    }

    /// Derives a seed with HKDF-SHA256 from key material (e.g. a KEM shared secret).
    pub fn derive(ikm: &[u8], salt: &[u8], info: &[&[u8]]) -> Result<Self> {
        let okm = Hkdf::Sha256.derive(salt, ikm, info, SEED_LEN)?;
        Self::from_bytes(okm.expose())
    }

    /// The seed bytes. Keep the borrow short.
    pub(crate) fn expose(&self) -> &[u8; SEED_LEN] {
        &self.0
    }
}

/// What a mask is for; part of the PRG key derivation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The self mask `PRG(b_u)` of one worker.
    SelfMask {
        /// The worker's id.
        owner: u32,
    },
    /// The pairwise mask `PRG(s_uv)` of two workers, `low < high`.
    Pairwise {
        /// The lower id.
        low: u32,
        /// The higher id.
        high: u32,
    },
}

impl Purpose {
    /// The pairwise purpose of two distinct ids, in either order.
    pub fn pair(a: u32, b: u32) -> Result<Self> {
        match a.cmp(&b) {
            core::cmp::Ordering::Less => Ok(Purpose::Pairwise { low: a, high: b }),
            core::cmp::Ordering::Greater => Ok(Purpose::Pairwise { low: b, high: a }),
            core::cmp::Ordering::Equal => Err(Error::InvalidParameter(format!(
                "a pairwise mask needs two distinct workers, got {a} twice"
            ))),
        }
    }

    fn info(self, round: u64) -> Vec<u8> {
        let mut info = Vec::with_capacity(17);
        info.extend_from_slice(&round.to_be_bytes());
        match self {
            Purpose::SelfMask { owner } => {
                info.push(0x01);
                info.extend_from_slice(&owner.to_be_bytes());
            }
            Purpose::Pairwise { low, high } => {
                info.push(0x02);
                info.extend_from_slice(&low.to_be_bytes());
                info.extend_from_slice(&high.to_be_bytes());
            }
        }
        info
    }
}

/// Whether a mask is added to or subtracted from a vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    /// `acc += mask`.
    Add,
    /// `acc -= mask`.
    Subtract,
}

impl Sign {
    /// The opposite sign.
    pub fn negate(self) -> Sign {
        match self {
            Sign::Add => Sign::Subtract,
            Sign::Subtract => Sign::Add,
        }
    }
}

/// The sign with which worker `me` applies its pairwise mask with `peer`: the lower id adds,
/// the higher id subtracts.
pub fn pairwise_sign(me: u32, peer: u32) -> Result<Sign> {
    match me.cmp(&peer) {
        core::cmp::Ordering::Less => Ok(Sign::Add),
        core::cmp::Ordering::Greater => Ok(Sign::Subtract),
        core::cmp::Ordering::Equal => Err(Error::InvalidParameter(format!(
            "worker {me} has no pairwise mask with itself"
        ))),
    }
}

/// Adds (or subtracts) `PRG(seed, round, purpose)` to `acc` element-wise, modulo 2^32.
pub fn apply(
    seed: &MaskSeed,
    round: u64,
    purpose: Purpose,
    sign: Sign,
    acc: &mut [u32],
) -> Result<()> {
    let key = Hkdf::Sha256.derive(SALT, seed.expose(), &[&purpose.info(round)], 32)?;
    let cipher = UnboundCipherKey::new(&AES_256, key.expose())
        .and_then(EncryptingKey::ctr)
        .map_err(|_| Error::Crypto(qsafe_core::Error::Internal("aes-256-ctr key")))?;
    let mut buf = Zeroizing::new(vec![0u8; CHUNK_WORDS * 4]);
    let mut block: u128 = 0;
    for chunk in acc.chunks_mut(CHUNK_WORDS) {
        let bytes = buf
            .get_mut(..chunk.len() * 4)
            .ok_or(Error::Crypto(qsafe_core::Error::Internal("mask buffer")))?;
        bytes.zeroize();
        let iv = EncryptionContext::Iv128(FixedLength::from(block.to_be_bytes()));
        cipher
            .less_safe_encrypt(bytes, iv)
            .map_err(|_| Error::Crypto(qsafe_core::Error::Internal("aes-256-ctr")))?;
        let (words, _) = bytes.as_chunks::<4>();
        match sign {
            Sign::Add => chunk
                .iter_mut()
                .zip(words)
                .for_each(|(a, w)| *a = a.wrapping_add(u32::from_le_bytes(*w))),
            Sign::Subtract => chunk
                .iter_mut()
                .zip(words)
                .for_each(|(a, w)| *a = a.wrapping_sub(u32::from_le_bytes(*w))),
        }
        block = block.wrapping_add(BLOCKS_PER_CHUNK);
    }
    Ok(())
}

/// The mask vector `PRG(seed, round, purpose)` of length `len`.
pub fn expand(seed: &MaskSeed, round: u64, purpose: Purpose, len: usize) -> Result<Vec<u32>> {
    let mut out = vec![0u32; len];
    apply(seed, round, purpose, Sign::Add, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(b: u8) -> MaskSeed {
        MaskSeed::from_bytes(&[b; SEED_LEN]).unwrap()
    }

    #[test]
    fn expansion_is_deterministic_and_domain_separated() {
        let p = Purpose::pair(3, 7).unwrap();
        let a = expand(&seed(1), 5, p, 100).unwrap();
        assert_eq!(a, expand(&seed(1), 5, p, 100).unwrap());
        assert_ne!(a, expand(&seed(2), 5, p, 100).unwrap());
        assert_ne!(a, expand(&seed(1), 6, p, 100).unwrap());
        assert_ne!(
            a,
            expand(&seed(1), 5, Purpose::pair(3, 8).unwrap(), 100).unwrap()
        );
        assert_ne!(
            a,
            expand(&seed(1), 5, Purpose::SelfMask { owner: 3 }, 100).unwrap()
        );
        assert_eq!(p, Purpose::pair(7, 3).unwrap());
        assert!(Purpose::pair(4, 4).is_err());
        // A prefix of a longer expansion is the shorter expansion.
        assert_eq!(a[..], expand(&seed(1), 5, p, 40_000).unwrap()[..100]);
    }

    #[test]
    fn chunked_keystream_matches_one_shot_aes_ctr() {
        // Independent reference: one AES-256-CTR call over the whole length, which crosses
        // several of `apply`'s chunk boundaries.
        let s = seed(9);
        let p = Purpose::SelfMask { owner: 1 };
        let len = CHUNK_WORDS * 3 + 5;
        let key = Hkdf::Sha256
            .derive(SALT, s.expose(), &[&p.info(11)], 32)
            .unwrap();
        let cipher =
            EncryptingKey::ctr(UnboundCipherKey::new(&AES_256, key.expose()).unwrap()).unwrap();
        let mut stream = vec![0u8; len * 4];
        cipher
            .less_safe_encrypt(
                &mut stream,
                EncryptionContext::Iv128(FixedLength::from([0u8; 16])),
            )
            .unwrap();
        let reference: Vec<u32> = stream
            .as_chunks::<4>()
            .0
            .iter()
            .map(|w| u32::from_le_bytes(*w))
            .collect();
        assert_eq!(expand(&s, 11, p, len).unwrap(), reference);
    }

    #[test]
    fn pairwise_masks_cancel() {
        let s = seed(4);
        let p = Purpose::pair(2, 9).unwrap();
        let x2 = vec![10u32; 5000];
        let x9 = vec![20u32; 5000];
        let (mut y2, mut y9) = (x2.clone(), x9.clone());
        apply(&s, 1, p, pairwise_sign(2, 9).unwrap(), &mut y2).unwrap();
        apply(&s, 1, p, pairwise_sign(9, 2).unwrap(), &mut y9).unwrap();
        assert_ne!(y2, x2);
        let sum: Vec<u32> = y2
            .iter()
            .zip(&y9)
            .map(|(a, b)| a.wrapping_add(*b))
            .collect();
        assert_eq!(sum, vec![30u32; 5000]);
        assert_eq!(pairwise_sign(2, 9).unwrap(), Sign::Add);
        assert_eq!(pairwise_sign(9, 2).unwrap(), Sign::Subtract);
        assert!(pairwise_sign(2, 2).is_err());
        assert_eq!(Sign::Add.negate(), Sign::Subtract);
    }

    #[test]
    fn self_mask_removal_restores_input() {
        let s = seed(5);
        let p = Purpose::SelfMask { owner: 4 };
        let x: Vec<u32> = (0..70_000u32).collect();
        let mut y = x.clone();
        apply(&s, 2, p, Sign::Add, &mut y).unwrap();
        assert_ne!(x, y);
        apply(&s, 2, p, Sign::Subtract, &mut y).unwrap();
        assert_eq!(x, y);
    }

    #[test]
    fn masks_look_uniform() {
        // Byte histogram of 2^18 bytes of mask: chi-square with 255 degrees of freedom; the
        // critical value at p = 1e-6 is about 375.
        let m = expand(&seed(6), 0, Purpose::SelfMask { owner: 0 }, 1 << 16).unwrap();
        let mut counts = [0f64; 256];
        for w in &m {
            for b in w.to_le_bytes() {
                counts[usize::from(b)] += 1.0;
            }
        }
        let expected = (m.len() * 4) as f64 / 256.0;
        let chi2: f64 = counts
            .iter()
            .map(|c| (c - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 375.0, "chi2 {chi2}");
    }

    #[test]
    fn seed_debug_is_redacted_and_length_checked() {
        let s = seed(0xAB);
        assert_eq!(format!("{s:?}"), "MaskSeed(redacted)");
        assert!(MaskSeed::from_bytes(&[0u8; 31]).is_err());
        assert_ne!(MaskSeed::random().unwrap().expose(), seed(0).expose());
    }
}

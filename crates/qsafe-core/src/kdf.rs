//! HKDF (RFC 5869) on aws-lc, with the labeled forms of RFC 9180 §4.

use aws_lc_rs::hkdf;

use crate::secret::SecretBytes;
use crate::{Error, Result};

/// The HKDF hash functions qsafe uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hkdf {
    /// HKDF-SHA256 (HPKE KDF 0x0001).
    Sha256,
    /// HKDF-SHA384 (HPKE KDF 0x0002).
    Sha384,
    /// HKDF-SHA512 (HPKE KDF 0x0003).
    Sha512,
}

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

impl Hkdf {
    fn aws(self) -> hkdf::Algorithm {
        match self {
            Hkdf::Sha256 => hkdf::HKDF_SHA256,
            Hkdf::Sha384 => hkdf::HKDF_SHA384,
            Hkdf::Sha512 => hkdf::HKDF_SHA512,
        }
    }

    /// Output length of the hash (`Nh`).
    pub fn hash_len(self) -> usize {
        match self {
            Hkdf::Sha256 => 32,
            Hkdf::Sha384 => 48,
            Hkdf::Sha512 => 64,
        }
    }

    /// `HKDF-Extract(salt, ikm)`; an empty salt means `Nh` zero bytes (RFC 5869 §2.2).
    pub fn extract(self, salt: &[u8], ikm: &[u8]) -> Prk {
        Prk {
            alg: self,
            prk: hkdf::Salt::new(self.aws(), salt).extract(ikm),
        }
    }

    /// A PRK given as bytes (for vectors that start after Extract).
    pub fn prk_from_bytes(self, prk: &[u8]) -> Prk {
        Prk {
            alg: self,
            prk: hkdf::Prk::new_less_safe(self.aws(), prk),
        }
    }

    /// One-shot Extract-then-Expand.
    pub fn derive(
        self,
        salt: &[u8],
        ikm: &[u8],
        info: &[&[u8]],
        len: usize,
    ) -> Result<SecretBytes> {
        self.extract(salt, ikm).expand(info, len)
    }
}

/// A pseudorandom key from `Extract`.
pub struct Prk {
    alg: Hkdf,
    prk: hkdf::Prk,
}

impl core::fmt::Debug for Prk {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Prk({:?}, redacted)", self.alg)
    }
}

impl Prk {
    /// `HKDF-Expand(prk, info, len)`; `info` is the concatenation of the parts.
    /// Fails when `len > 255 * Nh`.
    pub fn expand(&self, info: &[&[u8]], len: usize) -> Result<SecretBytes> {
        if len > 255 * self.alg.hash_len() {
            return Err(Error::Unsupported {
                alg: "hkdf",
                what: "output longer than 255 * hash length",
            });
        }
        let mut out = vec![0u8; len];
        self.prk
            .expand(info, Len(len))
            .and_then(|okm| okm.fill(&mut out))
            .map_err(|_| Error::Internal("hkdf expand"))?;
        Ok(SecretBytes::new(out))
    }

    /// The hash behind this PRK.
    pub fn alg(&self) -> Hkdf {
        self.alg
    }
}

/// RFC 9180 §4 `LabeledExtract(salt, label, ikm)` under `suite_id`.
pub fn labeled_extract(alg: Hkdf, suite_id: &[u8], salt: &[u8], label: &[u8], ikm: &[u8]) -> Prk {
    let mut labeled = zeroize::Zeroizing::new(Vec::with_capacity(
        7 + suite_id.len() + label.len() + ikm.len(),
    ));
    labeled.extend_from_slice(b"HPKE-v1");
    labeled.extend_from_slice(suite_id);
    labeled.extend_from_slice(label);
    labeled.extend_from_slice(ikm);
    alg.extract(salt, &labeled)
}

/// RFC 9180 §4 `LabeledExpand(prk, label, info, L)` under `suite_id`.
pub fn labeled_expand(
    prk: &Prk,
    suite_id: &[u8],
    label: &[u8],
    info: &[u8],
    len: usize,
) -> Result<SecretBytes> {
    let l = u16::try_from(len).map_err(|_| Error::Unsupported {
        alg: "hpke",
        what: "output over 65535 bytes",
    })?;
    prk.expand(&[&l.to_be_bytes(), b"HPKE-v1", suite_id, label, info], len)
}

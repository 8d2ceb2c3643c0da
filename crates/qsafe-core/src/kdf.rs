//! HKDF (RFC 5869) on aws-lc, with the labeled forms of RFC 9180 §4.

use aws_lc_rs::{hkdf, hmac};

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
    /// From an HPKE KDF id (RFC 9180 §7.2).
    pub fn from_hpke_id(id: u16) -> Option<Hkdf> {
        match id {
            0x0001 => Some(Hkdf::Sha256),
            0x0002 => Some(Hkdf::Sha384),
            0x0003 => Some(Hkdf::Sha512),
            _ => None,
        }
    }

    fn aws(self) -> hkdf::Algorithm {
        match self {
            Hkdf::Sha256 => hkdf::HKDF_SHA256,
            Hkdf::Sha384 => hkdf::HKDF_SHA384,
            Hkdf::Sha512 => hkdf::HKDF_SHA512,
        }
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            Hkdf::Sha256 => hmac::HMAC_SHA256,
            Hkdf::Sha384 => hmac::HMAC_SHA384,
            Hkdf::Sha512 => hmac::HMAC_SHA512,
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

    /// `HKDF-Extract(salt, ikm)`, returning the PRK bytes. By RFC 5869 §2.2 this is
    /// `HMAC-Hash(salt, ikm)`; an empty salt equals `Nh` zero bytes as an HMAC key.
    pub fn extract(self, salt: &[u8], ikm: &[u8]) -> SecretBytes {
        let tag = hmac::sign(&hmac::Key::new(self.hmac(), salt), ikm);
        SecretBytes::from_slice(tag.as_ref())
    }

    /// `HKDF-Expand(prk, info, len)`, `info` being the concatenation of the parts.
    /// Fails when `len > 255 * Nh`.
    pub fn expand(self, prk: &[u8], info: &[&[u8]], len: usize) -> Result<SecretBytes> {
        if len > 255 * self.hash_len() {
            return Err(Error::Unsupported {
                alg: "hkdf",
                what: "output longer than 255 * hash length",
            });
        }
        let mut out = vec![0u8; len];
        hkdf::Prk::new_less_safe(self.aws(), prk)
            .expand(info, Len(len))
            .and_then(|okm| okm.fill(&mut out))
            .map_err(|_| Error::Internal("hkdf expand"))?;
        Ok(SecretBytes::new(out))
    }

    /// Extract-then-Expand in one step.
    pub fn derive(
        self,
        salt: &[u8],
        ikm: &[u8],
        info: &[&[u8]],
        len: usize,
    ) -> Result<SecretBytes> {
        if len > 255 * self.hash_len() {
            return Err(Error::Unsupported {
                alg: "hkdf",
                what: "output longer than 255 * hash length",
            });
        }
        let mut out = vec![0u8; len];
        hkdf::Salt::new(self.aws(), salt)
            .extract(ikm)
            .expand(info, Len(len))
            .and_then(|okm| okm.fill(&mut out))
            .map_err(|_| Error::Internal("hkdf expand"))?;
        Ok(SecretBytes::new(out))
    }
}

/// RFC 9180 §4 `LabeledExtract(salt, label, ikm)` under `suite_id`.
pub fn labeled_extract(
    alg: Hkdf,
    suite_id: &[u8],
    salt: &[u8],
    label: &[u8],
    ikm: &[u8],
) -> SecretBytes {
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
    alg: Hkdf,
    prk: &[u8],
    suite_id: &[u8],
    label: &[u8],
    info: &[u8],
    len: usize,
) -> Result<SecretBytes> {
    let l = u16::try_from(len).map_err(|_| Error::Unsupported {
        alg: "hpke",
        what: "output over 65535 bytes",
    })?;
    alg.expand(
        prk,
        &[&l.to_be_bytes(), b"HPKE-v1", suite_id, label, info],
        len,
    )
}

/// HMAC-SHA-512 (RFC 2104, FIPS 198-1) over the concatenated `parts`.
pub fn hmac_sha512(key: &[u8], parts: &[&[u8]]) -> [u8; 64] {
    let mut ctx = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA512, key));
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 64];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

/// Checks an HMAC-SHA-512 tag in constant time.
pub fn hmac_sha512_verify(key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    hmac_sha512(key, parts).ct_eq(tag).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5869_case_1() {
        let ikm = [0x0bu8; 22];
        let salt = hex::decode("000102030405060708090a0b0c").unwrap();
        let info = hex::decode("f0f1f2f3f4f5f6f7f8f9").unwrap();
        let prk = Hkdf::Sha256.extract(&salt, &ikm);
        assert_eq!(
            hex::encode(prk.expose()),
            "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"
        );
        let okm = Hkdf::Sha256.expand(prk.expose(), &[&info], 42).unwrap();
        let expected =
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865";
        assert_eq!(hex::encode(okm.expose()), expected);
        assert_eq!(Hkdf::Sha256.derive(&salt, &ikm, &[&info], 42).unwrap(), okm);
        assert!(
            Hkdf::Sha256
                .expand(prk.expose(), &[], 255 * 32 + 1)
                .is_err()
        );
    }
}

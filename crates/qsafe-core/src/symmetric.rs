//! Symmetric primitives: AEADs (aws-lc), SHA-2 (aws-lc) and BLAKE3.

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::digest;

use crate::registry::{self, AlgId, Algorithm};
use crate::{Error, Result};

/// An AEAD with a 96-bit nonce and a 128-bit tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aead {
    /// AES-128-GCM (HPKE AEAD 0x0001; for RFC 9180 interop and vectors).
    Aes128Gcm,
    /// AES-256-GCM (HPKE AEAD 0x0002).
    Aes256Gcm,
    /// ChaCha20-Poly1305 (HPKE AEAD 0x0003).
    ChaCha20Poly1305,
}

/// Nonce length of every [`Aead`].
pub const NONCE_LEN: usize = 12;
/// Tag length of every [`Aead`].
pub const TAG_LEN: usize = 16;

impl Aead {
    /// The AEAD behind a registry entry.
    pub fn from_algorithm(alg: &Algorithm) -> Result<Aead> {
        match alg.alg_id {
            AlgId::Aes256Gcm => Ok(Aead::Aes256Gcm),
            AlgId::ChaCha20Poly1305 => Ok(Aead::ChaCha20Poly1305),
            _ => Err(Error::WrongKind {
                alg: alg.id,
                expected: registry::Kind::Aead,
            }),
        }
    }

    /// From an HPKE AEAD id (RFC 9180 §7.3).
    pub fn from_hpke_id(id: u16) -> Option<Aead> {
        match id {
            0x0001 => Some(Aead::Aes128Gcm),
            0x0002 => Some(Aead::Aes256Gcm),
            0x0003 => Some(Aead::ChaCha20Poly1305),
            _ => None,
        }
    }

    /// Key length in bytes (`Nk`).
    pub fn key_len(self) -> usize {
        match self {
            Aead::Aes128Gcm => 16,
            Aead::Aes256Gcm | Aead::ChaCha20Poly1305 => 32,
        }
    }

    fn aws(self) -> &'static aead::Algorithm {
        match self {
            Aead::Aes128Gcm => &aead::AES_128_GCM,
            Aead::Aes256Gcm => &aead::AES_256_GCM,
            Aead::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Aead::Aes128Gcm => "aes-128-gcm",
            Aead::Aes256Gcm => "aes-256-gcm",
            Aead::ChaCha20Poly1305 => "chacha20-poly1305",
        }
    }
}

/// A keyed AEAD. The caller owns nonce uniqueness; formats derive nonces from counters.
pub struct AeadKey {
    aead: Aead,
    key: LessSafeKey,
}

impl core::fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "AeadKey({}, redacted)", self.aead.name())
    }
}

fn nonce(n: &[u8]) -> Result<Nonce> {
    Nonce::try_assume_unique_for_key(n)
        .map_err(|_| Error::length("nonce", "aead", NONCE_LEN, n.len()))
}

impl AeadKey {
    /// Keys the AEAD; the key must be exactly [`Aead::key_len`] bytes.
    pub fn new(aead: Aead, key: &[u8]) -> Result<Self> {
        if key.len() != aead.key_len() {
            return Err(Error::length("key", aead.name(), aead.key_len(), key.len()));
        }
        let unbound = UnboundKey::new(aead.aws(), key).map_err(|_| Error::Internal("aead key"))?;
        Ok(AeadKey {
            aead,
            key: LessSafeKey::new(unbound),
        })
    }

    /// The AEAD.
    pub fn aead(&self) -> Aead {
        self.aead
    }

    /// Encrypts `in_out` in place and appends the tag.
    pub fn seal_in_place(
        &self,
        nonce_bytes: &[u8],
        aad: &[u8],
        in_out: &mut Vec<u8>,
    ) -> Result<()> {
        self.key
            .seal_in_place_append_tag(nonce(nonce_bytes)?, Aad::from(aad), in_out)
            .map_err(|_| Error::Internal("aead seal"))
    }

    /// Encrypts: returns `ciphertext ‖ tag`.
    pub fn seal(&self, nonce_bytes: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(plaintext.len() + TAG_LEN);
        buf.extend_from_slice(plaintext);
        self.seal_in_place(nonce_bytes, aad, &mut buf)?;
        Ok(buf)
    }

    /// Decrypts `ciphertext ‖ tag` in place; on success `in_out` is truncated to the plaintext,
    /// on failure it is zeroed so no unauthenticated byte escapes.
    pub fn open_in_place(
        &self,
        nonce_bytes: &[u8],
        aad: &[u8],
        in_out: &mut Vec<u8>,
    ) -> Result<()> {
        let n = nonce(nonce_bytes)?;
        match self.key.open_in_place(n, Aad::from(aad), in_out) {
            Ok(pt) => {
                let len = pt.len();
                in_out.truncate(len);
                Ok(())
            }
            Err(_) => {
                in_out.iter_mut().for_each(|b| *b = 0);
                in_out.clear();
                Err(Error::Decryption)
            }
        }
    }

    /// Decrypts `ciphertext ‖ tag`.
    pub fn open(&self, nonce_bytes: &[u8], aad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>> {
        let mut buf = ciphertext.to_vec();
        self.open_in_place(nonce_bytes, aad, &mut buf)?;
        Ok(buf)
    }
}

/// A hash function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
    /// BLAKE3 with 32-byte output.
    Blake3,
}

impl Hash {
    /// The hash behind a registry entry.
    pub fn from_algorithm(alg: &Algorithm) -> Result<Hash> {
        match alg.alg_id {
            AlgId::Sha256 => Ok(Hash::Sha256),
            AlgId::Sha384 => Ok(Hash::Sha384),
            AlgId::Sha512 => Ok(Hash::Sha512),
            AlgId::Blake3 => Ok(Hash::Blake3),
            _ => Err(Error::WrongKind {
                alg: alg.id,
                expected: registry::Kind::Hash,
            }),
        }
    }

    fn aws(self) -> Option<&'static digest::Algorithm> {
        match self {
            Hash::Sha256 => Some(&digest::SHA256),
            Hash::Sha384 => Some(&digest::SHA384),
            Hash::Sha512 => Some(&digest::SHA512),
            Hash::Blake3 => None,
        }
    }

    /// One-shot digest.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let mut h = Hasher::new(self);
        h.update(data);
        h.finish()
    }
}

/// An incremental hasher.
pub enum Hasher {
    /// SHA-2 on aws-lc.
    Sha2(digest::Context),
    /// BLAKE3.
    Blake3(Box<blake3::Hasher>),
}

impl core::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Hasher")
    }
}

impl Hasher {
    /// Starts a hash.
    pub fn new(hash: Hash) -> Self {
        match hash.aws() {
            Some(alg) => Hasher::Sha2(digest::Context::new(alg)),
            None => Hasher::Blake3(Box::default()),
        }
    }

    /// Absorbs data.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha2(c) => c.update(data),
            Hasher::Blake3(h) => {
                h.update(data);
            }
        }
    }

    /// The digest.
    pub fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Sha2(c) => c.finish().as_ref().to_vec(),
            Hasher::Blake3(h) => h.finalize().as_bytes().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aead_round_trip_and_tamper() {
        for aead in [Aead::Aes128Gcm, Aead::Aes256Gcm, Aead::ChaCha20Poly1305] {
            let key = AeadKey::new(aead, &vec![7u8; aead.key_len()]).unwrap();
            let ct = key.seal(&[1u8; 12], b"aad", b"secret weights").unwrap();
            assert_eq!(
                key.open(&[1u8; 12], b"aad", &ct).unwrap(),
                b"secret weights"
            );
            let mut bad = ct.clone();
            bad[0] ^= 1;
            assert_eq!(key.open(&[1u8; 12], b"aad", &bad), Err(Error::Decryption));
            assert_eq!(key.open(&[1u8; 12], b"aaD", &ct), Err(Error::Decryption));
            assert!(key.open(&[1u8; 11], b"aad", &ct).is_err());
        }
        assert!(AeadKey::new(Aead::Aes256Gcm, &[0u8; 16]).is_err());
    }

    #[test]
    fn known_digests() {
        // FIPS 180-2 "abc" and the BLAKE3 empty-input vector.
        assert_eq!(
            hex::encode(Hash::Sha256.digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex::encode(Hash::Blake3.digest(b"")),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        assert_eq!(Hash::Sha384.digest(b"").len(), 48);
    }
}

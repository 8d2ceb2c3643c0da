//! C2SP chunked encryption ("Cobblestone"), c2sp.org/chunked-encryption @v1.
//!
//! Layout: `salt (24) ‖ commitment (32) ‖ chunk_0 ‖ … ‖ chunk_n`. Per message,
//! `key ‖ base_nonce ‖ commitment = HKDF-Expand(prk = input key,
//! "c2sp.org/chunked-encryption@v1+" ‖ aead ‖ 0x00 ‖ salt ‖ context)` (§Key derivation);
//! chunks are 16 KiB of plaintext except the final one, which is shorter and may be empty
//! (§Message chunking); chunk `i` is sealed with nonce `base_nonce ⊕ i` and empty AAD
//! (§AEAD usage). The short final chunk authenticates the length, so truncation at a chunk
//! boundary is detected; the commitment is checked before any chunk is decrypted.

mod read;
mod write;

pub(crate) use read::read_full;
pub use read::{Decryptor, RandomAccess};
pub use write::Encryptor;

use qsafe_core::kdf::Hkdf;
use qsafe_core::symmetric::{Aead, AeadKey, NONCE_LEN, TAG_LEN};
use subtle::ConstantTimeEq;

use crate::{Error, Result};

/// Plaintext bytes per full chunk.
pub const CHUNK_SIZE: usize = 16 * 1024;
/// Ciphertext bytes per full chunk.
pub const SEALED_CHUNK_SIZE: usize = CHUNK_SIZE + TAG_LEN;
/// Salt length.
pub const SALT_LEN: usize = 24;
/// Commitment length.
pub const COMMITMENT_LEN: usize = 32;
/// Header length (salt ‖ commitment).
pub const HEADER_LEN: usize = SALT_LEN + COMMITMENT_LEN;
/// Chunks a message may have (the nonce counter is 38 bits).
pub const MAX_CHUNKS: u64 = 1 << 38;

/// The two instantiations of the specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cobblestone {
    /// Cobblestone-128: SHA-512 and AES-128-GCM.
    Aes128,
    /// Cobblestone-256: SHA-512 and AES-256-GCM (qsafe's choice).
    Aes256,
}

impl Cobblestone {
    fn aead(self) -> Aead {
        match self {
            Cobblestone::Aes128 => Aead::Aes128Gcm,
            Cobblestone::Aes256 => Aead::Aes256Gcm,
        }
    }

    /// The AEAD's name in the IANA AEAD registry, as bound into the key derivation.
    pub fn aead_name(self) -> &'static str {
        match self {
            Cobblestone::Aes128 => "AEAD_AES_128_GCM",
            Cobblestone::Aes256 => "AEAD_AES_256_GCM",
        }
    }

    /// Input key length in bytes (the AEAD key size).
    pub fn key_len(self) -> usize {
        self.aead().key_len()
    }
}

/// The per-message keys derived from the input key, salt and context.
pub(crate) struct MessageKeys {
    pub(crate) aead: AeadKey,
    base_nonce: [u8; NONCE_LEN],
    pub(crate) commitment: [u8; COMMITMENT_LEN],
}

impl MessageKeys {
    pub(crate) fn derive(
        inst: Cobblestone,
        input_key: &[u8],
        salt: &[u8; SALT_LEN],
        context: &[u8],
    ) -> Result<Self> {
        if input_key.len() != inst.key_len() {
            return Err(qsafe_core::Error::Length {
                what: "input key",
                alg: inst.aead_name(),
                expected: inst.key_len().to_string(),
                got: input_key.len(),
            }
            .into());
        }
        let k = inst.key_len();
        let okm = Hkdf::Sha512.expand(
            input_key,
            &[
                b"c2sp.org/chunked-encryption@v1+",
                inst.aead_name().as_bytes(),
                &[0],
                salt,
                context,
            ],
            k + NONCE_LEN + COMMITMENT_LEN,
        )?;
        let (key, rest) = okm.expose().split_at(k);
        let (nonce, commitment) = rest.split_at(NONCE_LEN);
        let mut keys = MessageKeys {
            aead: AeadKey::new(inst.aead(), key)?,
            base_nonce: [0; NONCE_LEN],
            commitment: [0; COMMITMENT_LEN],
        };
        keys.base_nonce.copy_from_slice(nonce);
        keys.commitment.copy_from_slice(commitment);
        Ok(keys)
    }

    /// Checks a stored commitment in constant time.
    pub(crate) fn check_commitment(&self, stored: &[u8]) -> Result<()> {
        if bool::from(self.commitment.ct_eq(stored)) {
            Ok(())
        } else {
            Err(Error::Header)
        }
    }

    /// `base_nonce ⊕ counter` (big-endian, the counter in the low 38 bits).
    pub(crate) fn nonce(&self, counter: u64) -> Result<[u8; NONCE_LEN]> {
        if counter >= MAX_CHUNKS {
            return Err(Error::TooLong);
        }
        let mut nonce = self.base_nonce;
        for (n, c) in nonce
            .iter_mut()
            .skip(NONCE_LEN - 8)
            .zip(counter.to_be_bytes())
        {
            *n ^= c;
        }
        Ok(nonce)
    }

    /// Hazmat for vectors: the derived AEAD nonce base.
    #[cfg(feature = "hazmat")]
    pub(crate) fn base_nonce(&self) -> &[u8] {
        &self.base_nonce
    }
}

/// Hazmat for test vectors: `(base_nonce, commitment)` of a message.
#[cfg(feature = "hazmat")]
pub fn derived_values(
    inst: Cobblestone,
    input_key: &[u8],
    salt: &[u8; SALT_LEN],
    context: &[u8],
) -> Result<(Vec<u8>, Vec<u8>)> {
    let keys = MessageKeys::derive(inst, input_key, salt, context)?;
    Ok((keys.base_nonce().to_vec(), keys.commitment.to_vec()))
}

/// Encrypts a whole message in memory with a fresh random salt.
pub fn encrypt(
    inst: Cobblestone,
    input_key: &[u8],
    context: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let capacity = sealed_len(plaintext.len() as u64)
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0);
    let mut enc = Encryptor::new(inst, input_key, context, Vec::with_capacity(capacity))?;
    std::io::Write::write_all(&mut enc, plaintext)?;
    enc.finish()
}

/// Decrypts a whole message in memory; nothing is returned unless every chunk and the length
/// authenticate.
pub fn decrypt(
    inst: Cobblestone,
    input_key: &[u8],
    context: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>> {
    let mut dec = Decryptor::new(inst, input_key, context, sealed)?;
    let mut out = Vec::with_capacity(sealed.len());
    std::io::Read::read_to_end(&mut dec, &mut out).map_err(crate::unwrap_io)?;
    Ok(out)
}

/// Ciphertext length for a plaintext length (header, full chunks, short final chunk), or
/// `None` beyond what the format can carry.
pub fn sealed_len(plaintext_len: u64) -> Option<u64> {
    let chunks = plaintext_len / CHUNK_SIZE as u64 + 1;
    if chunks > MAX_CHUNKS {
        return None;
    }
    (HEADER_LEN as u64)
        .checked_add(plaintext_len)?
        .checked_add(chunks * TAG_LEN as u64)
}

/// Plaintext length of a well-formed message of `sealed_len` bytes, or `None` if no message
/// has that length (the inverse of [`sealed_len`]).
pub fn plaintext_len(sealed_len: u64) -> Option<u64> {
    let body = sealed_len.checked_sub(HEADER_LEN as u64)?;
    let full = body / SEALED_CHUNK_SIZE as u64;
    let last = (body % SEALED_CHUNK_SIZE as u64).checked_sub(TAG_LEN as u64)?;
    Some(full * CHUNK_SIZE as u64 + last)
}

//! Keys of any algorithm, with their file encodings.
//!
//! [`PrivateKey`] and [`PublicKey`] wrap the KEM and signature key types so that tools can
//! load "a key" and learn its algorithm from the file. Encodings (see [`codec`]):
//! PKCS #8 `OneAsymmetricKey` (RFC 5958) and `SubjectPublicKeyInfo` (RFC 5280) in DER or PEM
//! (RFC 7468) with the IETF OIDs; algorithms without an OID use a qsafe envelope
//! (`docs/keys.md`).

pub mod codec;

use aws_lc_rs::digest;

use crate::kem::{DecapsulationKey, EncapsulationKey};
use crate::registry::{Algorithm, Kind};
use crate::secret::SecretBytes;
use crate::sig::{SigningKey, VerifyingKey};
use crate::{Error, Result};

/// A private key of any registry KEM or signature algorithm.
#[derive(Debug)]
pub enum PrivateKey {
    /// A KEM decapsulation key.
    Kem(DecapsulationKey),
    /// A signing key.
    Sig(SigningKey),
}

/// A public key of any registry KEM or signature algorithm.
#[derive(Debug)]
pub enum PublicKey {
    /// A KEM encapsulation key.
    Kem(EncapsulationKey),
    /// A signature verification key.
    Sig(VerifyingKey),
}

impl PrivateKey {
    /// Generates a key from the OS CSPRNG.
    pub fn generate(alg: &'static Algorithm) -> Result<Self> {
        match alg.kind {
            Kind::Kem => Ok(PrivateKey::Kem(DecapsulationKey::generate(alg)?)),
            Kind::Signature => Ok(PrivateKey::Sig(SigningKey::generate(alg)?)),
            _ => Err(Error::Unsupported {
                alg: alg.id,
                what: "key pairs",
            }),
        }
    }

    /// Deterministic generation from the standard's seed (see `DecapsulationKey::from_seed`,
    /// `SigningKey::from_seed`).
    pub fn from_seed(alg: &'static Algorithm, seed: &[u8]) -> Result<Self> {
        match alg.kind {
            Kind::Kem => Ok(PrivateKey::Kem(DecapsulationKey::from_seed(alg, seed)?)),
            Kind::Signature => Ok(PrivateKey::Sig(SigningKey::from_seed(alg, seed)?)),
            _ => Err(Error::Unsupported {
                alg: alg.id,
                what: "key pairs",
            }),
        }
    }

    /// From the raw private encoding (stored form, or expanded ML-KEM / ML-DSA keys).
    pub fn from_raw(alg: &'static Algorithm, bytes: &[u8]) -> Result<Self> {
        match alg.kind {
            Kind::Kem => Ok(PrivateKey::Kem(DecapsulationKey::from_private_bytes(
                alg, bytes,
            )?)),
            Kind::Signature => Ok(PrivateKey::Sig(SigningKey::from_private_bytes(alg, bytes)?)),
            _ => Err(Error::Unsupported {
                alg: alg.id,
                what: "key pairs",
            }),
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> &'static Algorithm {
        match self {
            PrivateKey::Kem(k) => k.algorithm(),
            PrivateKey::Sig(k) => k.algorithm(),
        }
    }

    /// The raw stored private form.
    pub fn raw(&self) -> Result<SecretBytes> {
        match self {
            PrivateKey::Kem(k) => k.private_bytes(),
            PrivateKey::Sig(k) => k.private_bytes(),
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> Result<PublicKey> {
        match self {
            PrivateKey::Kem(k) => Ok(PublicKey::Kem(k.encapsulation_key()?)),
            PrivateKey::Sig(k) => Ok(PublicKey::Sig(k.verifying_key()?)),
        }
    }
}

impl PublicKey {
    /// From the raw public encoding.
    pub fn from_raw(alg: &'static Algorithm, bytes: &[u8]) -> Result<Self> {
        match alg.kind {
            Kind::Kem => Ok(PublicKey::Kem(EncapsulationKey::from_bytes(alg, bytes)?)),
            Kind::Signature => Ok(PublicKey::Sig(VerifyingKey::from_bytes(alg, bytes)?)),
            _ => Err(Error::Unsupported {
                alg: alg.id,
                what: "public keys",
            }),
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> &'static Algorithm {
        match self {
            PublicKey::Kem(k) => k.algorithm(),
            PublicKey::Sig(k) => k.algorithm(),
        }
    }

    /// The raw public encoding.
    pub fn raw(&self) -> &[u8] {
        match self {
            PublicKey::Kem(k) => k.as_bytes(),
            PublicKey::Sig(k) => k.as_bytes(),
        }
    }

    /// `sha256:<hex>` of the DER public key encoding: stable across PEM/DER and line endings.
    pub fn fingerprint(&self) -> Result<String> {
        Ok(format_fingerprint(&self.fingerprint_bytes()?))
    }

    /// SHA-256 of the DER public key encoding (the bytes behind [`PublicKey::fingerprint`]).
    pub fn fingerprint_bytes(&self) -> Result<[u8; 32]> {
        let der = codec::public_to_der(self)?;
        let mut out = [0u8; 32];
        out.copy_from_slice(digest::digest(&digest::SHA256, &der).as_ref());
        Ok(out)
    }
}

/// Formats fingerprint bytes as `sha256:<hex>`.
pub fn format_fingerprint(bytes: &[u8; 32]) -> String {
    format!("sha256:{}", hex_lower(bytes))
}

fn hex_lower(bytes: &[u8]) -> String {
    use core::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

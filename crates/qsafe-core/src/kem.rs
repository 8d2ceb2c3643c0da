//! Key encapsulation: one API over ML-KEM (FIPS 203), DHKEM (RFC 9180 §4.1) and the hybrid
//! constructions of [`hybrid`]. The algorithm is a value from the [registry](crate::registry).
//!
//! ```
//! use qsafe_core::{kem::DecapsulationKey, registry};
//! let sk = DecapsulationKey::generate(&registry::X_WING)?;
//! let (ct, ss) = sk.encapsulation_key()?.encapsulate()?;
//! assert_eq!(sk.decapsulate(&ct)?, ss);
//! # Ok::<(), qsafe_core::Error>(())
//! ```

pub(crate) mod dhkem;
pub(crate) mod ecdh;
pub mod hybrid;
#[cfg(feature = "mceliece")]
mod mceliece;
pub(crate) mod mlkem;

use ecdh::Curve;
use mlkem::Level;

use crate::registry::{AlgId, Algorithm, Kind};
use crate::secret::SecretBytes;
use crate::{Error, Result};

enum Shape {
    MlKem(Level),
    Dh(Curve),
    Hybrid(&'static hybrid::Spec),
    #[cfg(feature = "mceliece")]
    McEliece,
}

fn shape(alg: &'static Algorithm) -> Result<Shape> {
    if let Some(level) = Level::of(alg) {
        return Ok(Shape::MlKem(level));
    }
    if let Some(spec) = hybrid::Spec::of(alg) {
        return Ok(Shape::Hybrid(spec));
    }
    match alg.alg_id {
        AlgId::X25519 => Ok(Shape::Dh(Curve::X25519)),
        AlgId::P256 => Ok(Shape::Dh(Curve::P256)),
        AlgId::P384 => Ok(Shape::Dh(Curve::P384)),
        #[cfg(feature = "mceliece")]
        AlgId::McEliece348864 => Ok(Shape::McEliece),
        _ if alg.kind == Kind::Kem => Err(Error::Unsupported {
            alg: alg.id,
            what: "this build",
        }),
        _ => Err(Error::WrongKind {
            alg: alg.id,
            expected: Kind::Kem,
        }),
    }
}

enum PublicInner {
    MlKem(mlkem::PublicKey),
    Dh(ecdh::PublicKey),
    Hybrid(hybrid::PublicKey),
    #[cfg(feature = "mceliece")]
    McEliece(mceliece::PublicKey),
}

/// A KEM public key (encapsulation key), validated on construction.
pub struct EncapsulationKey {
    alg: &'static Algorithm,
    bytes: Vec<u8>,
    inner: PublicInner,
}

impl core::fmt::Debug for EncapsulationKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EncapsulationKey")
            .field("alg", &self.alg.id)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl EncapsulationKey {
    /// Parses and validates the raw public key encoding of `alg`.
    pub fn from_bytes(alg: &'static Algorithm, bytes: &[u8]) -> Result<Self> {
        let inner = match shape(alg)? {
            Shape::MlKem(level) => PublicInner::MlKem(mlkem::PublicKey::from_bytes(level, bytes)?),
            Shape::Dh(curve) => PublicInner::Dh(ecdh::PublicKey::from_bytes(curve, bytes)?),
            Shape::Hybrid(spec) => PublicInner::Hybrid(hybrid::PublicKey::from_bytes(spec, bytes)?),
            #[cfg(feature = "mceliece")]
            Shape::McEliece => PublicInner::McEliece(mceliece::PublicKey::from_bytes(bytes)?),
        };
        Ok(EncapsulationKey {
            alg,
            bytes: bytes.to_vec(),
            inner,
        })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> &'static Algorithm {
        self.alg
    }

    /// The raw public key encoding.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Encapsulates a fresh shared secret: returns `(ciphertext, shared_secret)`.
    pub fn encapsulate(&self) -> Result<(Vec<u8>, SecretBytes)> {
        match &self.inner {
            PublicInner::MlKem(pk) => pk.encapsulate(),
            PublicInner::Dh(pk) => {
                let curve = dh_curve(self.alg)?;
                dhkem::encapsulate_with(&ecdh::PrivateKey::generate(curve)?, pk, curve)
            }
            PublicInner::Hybrid(pk) => pk.encapsulate(),
            #[cfg(feature = "mceliece")]
            PublicInner::McEliece(pk) => pk.encapsulate(),
        }
    }

    #[cfg(feature = "hazmat")]
    /// Hazmat: deterministic encapsulation with caller-chosen randomness, for test vectors.
    /// ML-KEM takes `m` (32 bytes); hybrids take `m ‖ ephemeral scalar`; DHKEM takes the
    /// ephemeral scalar. Reusing randomness destroys security.
    #[doc(hidden)]
    pub fn encapsulate_derand(&self, randomness: &[u8]) -> Result<(Vec<u8>, SecretBytes)> {
        match &self.inner {
            PublicInner::MlKem(pk) => pk.encapsulate_derand(randomness),
            PublicInner::Dh(pk) => {
                let curve = dh_curve(self.alg)?;
                dhkem::encapsulate_with(
                    &ecdh::PrivateKey::from_scalar(curve, randomness)?,
                    pk,
                    curve,
                )
            }
            PublicInner::Hybrid(pk) => pk.encapsulate_derand(randomness),
            #[cfg(feature = "mceliece")]
            PublicInner::McEliece(_) => Err(Error::Unsupported {
                alg: self.alg.id,
                what: "derandomised encapsulation",
            }),
        }
    }
}

#[cfg(feature = "hazmat")]
/// Hazmat: the raw Diffie-Hellman of a DHKEM algorithm (X25519 per RFC 7748; ECDH on P-256
/// and P-384 with a big-endian scalar and an uncompressed peer point), for test vectors.
#[doc(hidden)]
pub fn raw_dh(alg: &'static Algorithm, scalar: &[u8], peer: &[u8]) -> Result<SecretBytes> {
    let curve = dh_curve(alg)?;
    let sk = ecdh::PrivateKey::from_scalar(curve, scalar)?;
    sk.agree(&ecdh::PublicKey::from_bytes(curve, peer)?)
}

pub(crate) fn dh_curve(alg: &'static Algorithm) -> Result<Curve> {
    match shape(alg)? {
        Shape::Dh(c) => Ok(c),
        _ => Err(Error::Internal("dhkem shape")),
    }
}

enum PrivateInner {
    MlKem(mlkem::PrivateKey),
    Dh(ecdh::PrivateKey),
    Hybrid(hybrid::PrivateKey),
    #[cfg(feature = "mceliece")]
    McEliece(mceliece::PrivateKey),
}

/// A KEM private key (decapsulation key). Zeroized on drop; `Debug` shows no key bytes.
pub struct DecapsulationKey {
    alg: &'static Algorithm,
    inner: PrivateInner,
}

impl core::fmt::Debug for DecapsulationKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DecapsulationKey")
            .field("alg", &self.alg.id)
            .finish_non_exhaustive()
    }
}

impl DecapsulationKey {
    /// Generates a key from the operating system's CSPRNG.
    pub fn generate(alg: &'static Algorithm) -> Result<Self> {
        let inner = match shape(alg)? {
            Shape::MlKem(level) => {
                let seed = crate::secret::random_array::<{ mlkem::SEED_LEN }>()?;
                PrivateInner::MlKem(mlkem::PrivateKey::from_seed(level, seed.as_slice())?)
            }
            Shape::Dh(curve) => PrivateInner::Dh(ecdh::PrivateKey::generate(curve)?),
            Shape::Hybrid(spec) => PrivateInner::Hybrid(hybrid::PrivateKey::generate(spec)?),
            #[cfg(feature = "mceliece")]
            Shape::McEliece => PrivateInner::McEliece(mceliece::PrivateKey::generate()?),
        };
        Ok(DecapsulationKey { alg, inner })
    }

    /// Deterministic key generation from the stored private form as each standard defines it:
    /// ML-KEM `d ‖ z` (64 bytes), the X-Wing 32-byte seed, the composite `mlkemSeed ‖ tradSK`,
    /// or the raw scalar for DHKEM.
    pub fn from_seed(alg: &'static Algorithm, seed: &[u8]) -> Result<Self> {
        let inner = match shape(alg)? {
            Shape::MlKem(level) => PrivateInner::MlKem(mlkem::PrivateKey::from_seed(level, seed)?),
            Shape::Dh(curve) => PrivateInner::Dh(ecdh::PrivateKey::from_scalar(curve, seed)?),
            Shape::Hybrid(spec) => {
                PrivateInner::Hybrid(hybrid::PrivateKey::from_stored(spec, seed)?)
            }
            #[cfg(feature = "mceliece")]
            Shape::McEliece => PrivateInner::McEliece(mceliece::PrivateKey::from_seed(seed)?),
        };
        Ok(DecapsulationKey { alg, inner })
    }

    /// Hybrid key generation from a 32-byte seed as draft-irtf-cfrg-concrete-hybrid-kems
    /// defines it (`SHAKE256` expansion, rejection-sampled NIST scalars). For `x-wing` this is
    /// the same as [`DecapsulationKey::from_seed`]; for `mlkem768-p256` and `mlkem1024-p384` it
    /// is the HPKE-PQ key form, whose stored composite form is then `mlkemSeed ‖ ECPrivateKey`.
    pub fn from_concrete_seed(alg: &'static Algorithm, seed: &[u8]) -> Result<Self> {
        match shape(alg)? {
            Shape::Hybrid(spec) => Ok(DecapsulationKey {
                alg,
                inner: PrivateInner::Hybrid(hybrid::PrivateKey::from_concrete_seed(spec, seed)?),
            }),
            _ => Err(Error::Unsupported {
                alg: alg.id,
                what: "concrete hybrid seeds",
            }),
        }
    }

    /// Wraps a derived DHKEM key (HPKE `DeriveKeyPair`).
    pub(crate) fn from_dh(alg: &'static Algorithm, key: ecdh::PrivateKey) -> Self {
        DecapsulationKey {
            alg,
            inner: PrivateInner::Dh(key),
        }
    }

    /// The concrete-hybrid seed of a key made by [`DecapsulationKey::from_concrete_seed`].
    pub fn concrete_seed(&self) -> Option<&[u8]> {
        match &self.inner {
            PrivateInner::Hybrid(sk) => sk.concrete_seed(),
            _ => None,
        }
    }

    /// Imports a raw private key: the stored form, or for ML-KEM also the expanded
    /// decapsulation key (checked per FIPS 203 §7.3).
    pub fn from_private_bytes(alg: &'static Algorithm, bytes: &[u8]) -> Result<Self> {
        match shape(alg)? {
            Shape::MlKem(level) if bytes.len() == level.expanded_len() => Ok(DecapsulationKey {
                alg,
                inner: PrivateInner::MlKem(mlkem::PrivateKey::from_expanded(level, bytes)?),
            }),
            Shape::MlKem(level) if bytes.len() != mlkem::SEED_LEN => Err(Error::Length {
                what: "private key",
                alg: alg.id,
                expected: format!(
                    "{} (seed d ‖ z) or {} (expanded)",
                    mlkem::SEED_LEN,
                    level.expanded_len()
                ),
                got: bytes.len(),
            }),
            _ => Self::from_seed(alg, bytes),
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> &'static Algorithm {
        self.alg
    }

    /// The stored private form (a seed where the standard allows; ML-KEM keys imported in
    /// expanded form return the expanded key).
    pub fn private_bytes(&self) -> Result<SecretBytes> {
        match &self.inner {
            PrivateInner::MlKem(sk) => {
                Ok(SecretBytes::from_slice(sk.seed().unwrap_or(sk.expanded())))
            }
            PrivateInner::Dh(sk) => sk.scalar(),
            PrivateInner::Hybrid(sk) => Ok(SecretBytes::from_slice(sk.stored())),
            #[cfg(feature = "mceliece")]
            PrivateInner::McEliece(sk) => Ok(SecretBytes::from_slice(sk.seed())),
        }
    }

    /// The ML-KEM seed `d ‖ z`, when the key has one; `None` for other algorithms.
    pub fn mlkem_seed(&self) -> Option<&[u8]> {
        match &self.inner {
            PrivateInner::MlKem(sk) => sk.seed(),
            _ => None,
        }
    }

    /// The FIPS 203 expanded decapsulation key (ML-KEM only).
    pub fn mlkem_expanded(&self) -> Option<&[u8]> {
        match &self.inner {
            PrivateInner::MlKem(sk) => Some(sk.expanded()),
            _ => None,
        }
    }

    /// The raw public key encoding.
    pub fn public_bytes(&self) -> Vec<u8> {
        match &self.inner {
            PrivateInner::MlKem(sk) => sk.public().bytes().to_vec(),
            PrivateInner::Dh(sk) => sk.public().bytes().to_vec(),
            PrivateInner::Hybrid(sk) => sk.public_bytes(),
            #[cfg(feature = "mceliece")]
            PrivateInner::McEliece(sk) => sk.public().to_vec(),
        }
    }

    /// The matching public key.
    pub fn encapsulation_key(&self) -> Result<EncapsulationKey> {
        EncapsulationKey::from_bytes(self.alg, &self.public_bytes())
    }

    /// Recovers the shared secret. ML-KEM rejects implicitly: a wrong ciphertext of the right
    /// length yields an unrelated secret, which the caller's AEAD then fails on.
    pub fn decapsulate(&self, ciphertext: &[u8]) -> Result<SecretBytes> {
        match &self.inner {
            PrivateInner::MlKem(sk) => sk.decapsulate(ciphertext),
            PrivateInner::Dh(sk) => dhkem::decapsulate(sk, ciphertext, dh_curve(self.alg)?),
            PrivateInner::Hybrid(sk) => sk.decapsulate(ciphertext),
            #[cfg(feature = "mceliece")]
            PrivateInner::McEliece(sk) => sk.decapsulate(ciphertext),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::ALL;

    #[test]
    fn every_kem_round_trips_and_matches_registry_sizes() {
        let mut n = 0;
        for alg in ALL
            .iter()
            .copied()
            .filter(|a| a.kind == Kind::Kem && a.is_available())
        {
            let sk = DecapsulationKey::generate(alg).unwrap();
            let pk = sk.encapsulation_key().unwrap();
            let (ct, ss) = pk.encapsulate().unwrap();
            assert_eq!(sk.decapsulate(&ct).unwrap(), ss, "{}", alg.id);
            assert_eq!(
                Some(pk.as_bytes().len()),
                alg.sizes.public_key,
                "{} pk",
                alg.id
            );
            assert_eq!(Some(ct.len()), alg.sizes.ciphertext, "{} ct", alg.id);
            assert_eq!(Some(ss.len()), alg.sizes.shared_secret, "{} ss", alg.id);
            assert_eq!(
                Some(sk.private_bytes().unwrap().len()),
                alg.sizes.private_key,
                "{} sk",
                alg.id
            );
            let again =
                DecapsulationKey::from_private_bytes(alg, sk.private_bytes().unwrap().expose())
                    .unwrap();
            assert_eq!(again.public_bytes(), sk.public_bytes(), "{}", alg.id);
            n += 1;
        }
        assert_eq!(n, crate::registry::available_key_algorithms().0);
    }

    #[test]
    fn truncated_inputs_are_errors_not_panics() {
        for alg in ALL
            .iter()
            .copied()
            .filter(|a| a.kind == Kind::Kem && a.is_available())
        {
            let sk = DecapsulationKey::generate(alg).unwrap();
            let pk = sk.public_bytes();
            for cut in [0, 1, pk.len() / 2, pk.len() - 1] {
                assert!(
                    EncapsulationKey::from_bytes(alg, &pk[..cut]).is_err(),
                    "{}",
                    alg.id
                );
            }
            let (ct, _) = sk.encapsulation_key().unwrap().encapsulate().unwrap();
            for cut in [0, 1, ct.len() - 1] {
                assert!(sk.decapsulate(&ct[..cut]).is_err(), "{}", alg.id);
            }
            assert!(DecapsulationKey::from_private_bytes(alg, &[0u8; 7]).is_err());
        }
    }

    #[test]
    fn signature_algorithms_are_refused() {
        let err = DecapsulationKey::generate(&crate::registry::ML_DSA_65).unwrap_err();
        assert!(matches!(err, Error::WrongKind { .. }));
    }
}

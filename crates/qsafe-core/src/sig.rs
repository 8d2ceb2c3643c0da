//! Signatures: one API over ML-DSA (FIPS 204), the classical schemes and composite ML-DSA.
//!
//! ```
//! use qsafe_core::{registry, sig::SigningKey};
//! let key = SigningKey::generate(&registry::MLDSA65_ED25519_SHA512)?;
//! let sig = key.sign(b"model.safetensors digest", b"qsafe-example")?;
//! key.verifying_key()?.verify(b"model.safetensors digest", b"qsafe-example", &sig)?;
//! # Ok::<(), qsafe_core::Error>(())
//! ```

mod classical;
pub mod composite;
#[cfg(feature = "experimental")]
mod fndsa;
pub(crate) mod mldsa;
#[cfg(feature = "slh")]
mod slhdsa;

use classical::Scheme;

use crate::registry::{AlgId, Algorithm, Kind};
use crate::secret::SecretBytes;
use crate::{Error, Result};

#[derive(Clone, Copy)]
enum Shape {
    MlDsa(mldsa::Level),
    Classical(Scheme),
    Composite(&'static composite::Spec),
    #[cfg(feature = "slh")]
    Slh(slhdsa::Param),
    #[cfg(feature = "experimental")]
    Fn(fndsa::Param),
}

fn shape(alg: &'static Algorithm) -> Result<Shape> {
    if let Some(level) = mldsa::Level::of(alg) {
        return Ok(Shape::MlDsa(level));
    }
    if let Some(spec) = composite::Spec::of(alg) {
        return Ok(Shape::Composite(spec));
    }
    #[cfg(feature = "slh")]
    if let Some(p) = slhdsa::Param::of(alg) {
        return Ok(Shape::Slh(p));
    }
    #[cfg(feature = "experimental")]
    if let Some(p) = fndsa::Param::of(alg) {
        return Ok(Shape::Fn(p));
    }
    match alg.alg_id {
        AlgId::Ed25519 => Ok(Shape::Classical(Scheme::Ed25519)),
        AlgId::EcdsaP256Sha256 => Ok(Shape::Classical(Scheme::EcdsaP256)),
        AlgId::EcdsaP384Sha384 => Ok(Shape::Classical(Scheme::EcdsaP384)),
        AlgId::RsaPss2048Sha256 => Ok(Shape::Classical(Scheme::RsaPss2048)),
        _ if alg.kind == Kind::Signature => Err(Error::Unsupported {
            alg: alg.id,
            what: "this build",
        }),
        _ => Err(Error::WrongKind {
            alg: alg.id,
            expected: Kind::Signature,
        }),
    }
}

/// FIPS 204/205 (and draft FIPS 206) contexts are at most 255 bytes.
pub(crate) fn check_context(ctx: &[u8]) -> Result<()> {
    if ctx.len() > 255 {
        return Err(Error::ContextTooLong(ctx.len()));
    }
    Ok(())
}

fn no_context(alg: &'static Algorithm, ctx: &[u8]) -> Result<()> {
    if ctx.is_empty() {
        Ok(())
    } else {
        Err(Error::Unsupported {
            alg: alg.id,
            what: "context strings",
        })
    }
}

/// A signature public key, length- and form-checked on construction.
#[derive(Clone)]
pub struct VerifyingKey {
    alg: &'static Algorithm,
    bytes: Vec<u8>,
    shape: Shape,
}

impl core::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("alg", &self.alg.id)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl VerifyingKey {
    /// Parses the raw public key encoding of `alg`.
    pub fn from_bytes(alg: &'static Algorithm, bytes: &[u8]) -> Result<Self> {
        let shape = shape(alg)?;
        match shape {
            Shape::MlDsa(level) => mldsa::check_public(level, bytes)?,
            Shape::Classical(scheme) => scheme.check_public(bytes)?,
            Shape::Composite(spec) => spec.check_public(bytes)?,
            #[cfg(feature = "slh")]
            Shape::Slh(p) => p.check_public(bytes)?,
            #[cfg(feature = "experimental")]
            Shape::Fn(p) => p.check_public(bytes)?,
        }
        Ok(VerifyingKey {
            alg,
            bytes: bytes.to_vec(),
            shape,
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

    /// The classical component of a composite key as a standalone key of its own registry
    /// algorithm (e.g. `ecdsa-p384-sha384` for `mldsa87-ecdsa-p384-sha512`), for verifiers
    /// that only know classical signatures. Other algorithms refuse with
    /// [`Error::Unsupported`].
    pub fn classical_component(&self) -> Result<VerifyingKey> {
        match self.shape {
            Shape::Composite(spec) => VerifyingKey::from_bytes(
                spec.classical_algorithm(),
                spec.classical_public(&self.bytes)?,
            ),
            _ => Err(Error::Unsupported {
                alg: self.alg.id,
                what: "a classical component (not a composite)",
            }),
        }
    }

    /// Verifies `sig` over `msg` with context `ctx` (empty for none; classical schemes take
    /// none). Any failure is the single opaque [`Error::Verification`].
    pub fn verify(&self, msg: &[u8], ctx: &[u8], sig: &[u8]) -> Result<()> {
        match self.shape {
            Shape::MlDsa(level) => mldsa::verify(level, &self.bytes, msg, ctx, sig),
            Shape::Classical(scheme) => {
                no_context(self.alg, ctx)?;
                scheme.verify(&self.bytes, msg, sig)
            }
            Shape::Composite(spec) => spec.verify(&self.bytes, msg, ctx, sig),
            #[cfg(feature = "slh")]
            Shape::Slh(p) => slhdsa::verify(p, &self.bytes, msg, ctx, sig),
            #[cfg(feature = "experimental")]
            Shape::Fn(p) => fndsa::verify(p, &self.bytes, msg, ctx, sig),
        }
    }
}

enum Inner {
    MlDsa(mldsa::PrivateKey),
    Classical(classical::PrivateKey),
    Composite(composite::PrivateKey),
    #[cfg(feature = "slh")]
    Slh(slhdsa::PrivateKey),
    #[cfg(feature = "experimental")]
    Fn(fndsa::PrivateKey),
}

/// A signing key. Zeroized on drop (SLH-DSA: the stored key bytes; the `slh-dsa` 0.1 crate's
/// own per-signature key copy is not zeroizable); `Debug` shows no key bytes.
pub struct SigningKey {
    alg: &'static Algorithm,
    inner: Inner,
}

impl core::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg.id)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a key from the operating system's CSPRNG.
    pub fn generate(alg: &'static Algorithm) -> Result<Self> {
        let inner = match shape(alg)? {
            Shape::MlDsa(level) => {
                let seed = crate::secret::random_array::<{ mldsa::SEED_LEN }>()?;
                Inner::MlDsa(mldsa::PrivateKey::from_seed(level, seed.as_slice())?)
            }
            Shape::Classical(scheme) => Inner::Classical(classical::PrivateKey::generate(scheme)?),
            Shape::Composite(spec) => Inner::Composite(composite::PrivateKey::generate(spec)?),
            #[cfg(feature = "slh")]
            Shape::Slh(p) => Inner::Slh(slhdsa::PrivateKey::generate(p)?),
            #[cfg(feature = "experimental")]
            Shape::Fn(p) => Inner::Fn(fndsa::PrivateKey::generate(p)?),
        };
        Ok(SigningKey { alg, inner })
    }

    /// Deterministic key generation from the stored private form: the ML-DSA seed ξ
    /// (32 bytes), the Ed25519 seed, the ECDSA scalar, the composite `mldsaSeed ‖ tradSK`,
    /// the SLH-DSA `SK.seed ‖ SK.prf ‖ PK.seed` (or the full 4n-byte key).
    /// RSA and FN-DSA have no seeded key generation; their stored forms are a PKCS #1
    /// `RSAPrivateKey` and the `fn-dsa` signing-key encoding.
    pub fn from_seed(alg: &'static Algorithm, seed: &[u8]) -> Result<Self> {
        let inner = match shape(alg)? {
            Shape::MlDsa(level) => Inner::MlDsa(mldsa::PrivateKey::from_seed(level, seed)?),
            Shape::Classical(scheme) => {
                Inner::Classical(classical::PrivateKey::from_raw(scheme, seed)?)
            }
            Shape::Composite(spec) => {
                Inner::Composite(composite::PrivateKey::from_stored(spec, seed)?)
            }
            #[cfg(feature = "slh")]
            Shape::Slh(p) => Inner::Slh(slhdsa::PrivateKey::from_stored(p, seed)?),
            #[cfg(feature = "experimental")]
            Shape::Fn(p) => Inner::Fn(fndsa::PrivateKey::from_stored(p, seed)?),
        };
        Ok(SigningKey { alg, inner })
    }

    /// Imports a raw private key: the stored form, or for ML-DSA also the FIPS 204 expanded key.
    pub fn from_private_bytes(alg: &'static Algorithm, bytes: &[u8]) -> Result<Self> {
        match shape(alg)? {
            Shape::MlDsa(level) if bytes.len() == level.expanded_len() => Ok(SigningKey {
                alg,
                inner: Inner::MlDsa(mldsa::PrivateKey::from_expanded(level, bytes)?),
            }),
            Shape::MlDsa(level) if bytes.len() != mldsa::SEED_LEN => Err(Error::Length {
                what: "private key",
                alg: alg.id,
                expected: format!(
                    "{} (seed ξ) or {} (expanded)",
                    mldsa::SEED_LEN,
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

    /// The stored private form (ML-DSA keys imported expanded return the expanded key).
    pub fn private_bytes(&self) -> Result<SecretBytes> {
        match &self.inner {
            Inner::MlDsa(sk) => Ok(SecretBytes::from_slice(sk.seed().unwrap_or(sk.expanded()))),
            Inner::Classical(sk) => sk.raw(),
            Inner::Composite(sk) => sk.stored(),
            #[cfg(feature = "slh")]
            Inner::Slh(sk) => Ok(SecretBytes::from_slice(sk.stored())),
            #[cfg(feature = "experimental")]
            Inner::Fn(sk) => Ok(SecretBytes::from_slice(sk.stored())),
        }
    }

    /// The ML-DSA seed ξ, when this is an ML-DSA key made from one.
    pub fn mldsa_seed(&self) -> Option<&[u8]> {
        match &self.inner {
            Inner::MlDsa(sk) => sk.seed(),
            _ => None,
        }
    }

    /// The FIPS 204 expanded private key (ML-DSA only).
    pub fn mldsa_expanded(&self) -> Option<&[u8]> {
        match &self.inner {
            Inner::MlDsa(sk) => Some(sk.expanded()),
            _ => None,
        }
    }

    /// The raw public key encoding.
    pub fn public_bytes(&self) -> Vec<u8> {
        match &self.inner {
            Inner::MlDsa(sk) => sk.public().to_vec(),
            Inner::Classical(sk) => sk.public().to_vec(),
            Inner::Composite(sk) => sk.public_bytes(),
            #[cfg(feature = "slh")]
            Inner::Slh(sk) => sk.public().to_vec(),
            #[cfg(feature = "experimental")]
            Inner::Fn(sk) => sk.public().to_vec(),
        }
    }

    /// The classical component of a composite key as a standalone signing key of its own
    /// registry algorithm. Signatures it makes alone carry no post-quantum protection, and the
    /// composite draft advises against reusing component keys elsewhere: use it only where a
    /// classical-only verifier must be served, over messages that cannot take the composite
    /// `M'` form (which starts with the composite prefix). Other algorithms refuse with
    /// [`Error::Unsupported`].
    pub fn classical_component(&self) -> Result<SigningKey> {
        match &self.inner {
            Inner::Composite(sk) => {
                let raw = sk.classical_raw()?;
                SigningKey::from_seed(sk.spec().classical_algorithm(), raw.expose())
            }
            _ => Err(Error::Unsupported {
                alg: self.alg.id,
                what: "a classical component (not a composite)",
            }),
        }
    }

    /// The matching public key.
    pub fn verifying_key(&self) -> Result<VerifyingKey> {
        VerifyingKey::from_bytes(self.alg, &self.public_bytes())
    }

    /// Signs `msg` with context `ctx` (at most 255 bytes; classical schemes take none).
    /// ML-DSA signing is hedged (fresh randomness each time).
    pub fn sign(&self, msg: &[u8], ctx: &[u8]) -> Result<Vec<u8>> {
        match &self.inner {
            Inner::MlDsa(sk) => sk.sign(msg, ctx),
            Inner::Classical(sk) => {
                no_context(self.alg, ctx)?;
                sk.sign(msg)
            }
            Inner::Composite(sk) => sk.sign(msg, ctx),
            #[cfg(feature = "slh")]
            Inner::Slh(sk) => sk.sign(msg, ctx),
            #[cfg(feature = "experimental")]
            Inner::Fn(sk) => sk.sign(msg, ctx),
        }
    }

    #[cfg(feature = "hazmat")]
    /// Hazmat: ML-DSA signing with caller-chosen `rnd` (32 zero bytes = deterministic), for
    /// test vectors. Other algorithms refuse.
    #[doc(hidden)]
    pub fn sign_with_rnd(&self, msg: &[u8], ctx: &[u8], rnd: [u8; 32]) -> Result<Vec<u8>> {
        match &self.inner {
            Inner::MlDsa(sk) => sk.sign_with_rnd(msg, ctx, rnd),
            _ => Err(Error::Unsupported {
                alg: self.alg.id,
                what: "caller-chosen signing randomness",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::ALL;

    fn signature_algs() -> impl Iterator<Item = &'static Algorithm> {
        ALL.iter()
            .copied()
            .filter(|a| a.kind == Kind::Signature && a.is_available())
    }

    #[test]
    fn every_signature_round_trips_and_matches_registry_sizes() {
        let mut n = 0;
        for alg in signature_algs() {
            let sk = SigningKey::generate(alg).unwrap();
            let vk = sk.verifying_key().unwrap();
            let ctx: &[u8] = if alg.family == crate::registry::Family::Classical {
                b""
            } else {
                b"ctx"
            };
            let sig = sk.sign(b"message", ctx).unwrap();
            vk.verify(b"message", ctx, &sig).unwrap();
            assert_eq!(
                vk.verify(b"messagf", ctx, &sig),
                Err(Error::Verification),
                "{}",
                alg.id
            );
            assert!(
                sig.len() <= alg.sizes.signature.unwrap(),
                "{} sig {}",
                alg.id,
                sig.len()
            );
            if alg.alg_id != AlgId::RsaPss2048Sha256 {
                assert_eq!(
                    Some(vk.as_bytes().len()),
                    alg.sizes.public_key,
                    "{} pk",
                    alg.id
                );
                assert_eq!(
                    Some(sk.private_bytes().unwrap().len()),
                    alg.sizes.private_key,
                    "{} sk",
                    alg.id
                );
            }
            let again =
                SigningKey::from_private_bytes(alg, sk.private_bytes().unwrap().expose()).unwrap();
            assert_eq!(again.public_bytes(), sk.public_bytes(), "{}", alg.id);
            n += 1;
        }
        assert_eq!(n, crate::registry::available_key_algorithms().1);
    }

    #[test]
    fn context_is_bound() {
        for alg in signature_algs().filter(|a| a.family != crate::registry::Family::Classical) {
            let sk = SigningKey::generate(alg).unwrap();
            let sig = sk.sign(b"m", b"one").unwrap();
            assert!(
                sk.verifying_key()
                    .unwrap()
                    .verify(b"m", b"two", &sig)
                    .is_err(),
                "{}",
                alg.id
            );
            assert!(
                sk.verifying_key().unwrap().verify(b"m", b"", &sig).is_err(),
                "{}",
                alg.id
            );
            assert_eq!(sk.sign(b"m", &[0u8; 256]), Err(Error::ContextTooLong(256)));
        }
    }

    #[test]
    fn composite_rejects_either_half_alone() {
        let alg = &crate::registry::MLDSA65_ED25519_SHA512;
        let sk = SigningKey::generate(alg).unwrap();
        let vk = sk.verifying_key().unwrap();
        let mut sig = sk.sign(b"m", b"").unwrap();
        let last = sig.len() - 1;
        sig[last] ^= 1; // Ed25519 half
        assert_eq!(vk.verify(b"m", b"", &sig), Err(Error::Verification));
        sig[last] ^= 1;
        sig[0] ^= 1; // ML-DSA half
        assert_eq!(vk.verify(b"m", b"", &sig), Err(Error::Verification));
        sig[0] ^= 1;
        vk.verify(b"m", b"", &sig).unwrap();
        assert!(vk.verify(b"m", b"", &sig[..sig.len() - 1]).is_err());
    }

    #[test]
    fn composite_classical_component_matches_public_half() {
        let composites = signature_algs().filter(|a| composite::Spec::of(a).is_some());
        let mut n = 0;
        for alg in composites {
            let sk = SigningKey::generate(alg).unwrap();
            let vk = sk.verifying_key().unwrap();
            let csk = sk.classical_component().unwrap();
            let cvk = vk.classical_component().unwrap();
            assert_eq!(csk.algorithm(), cvk.algorithm(), "{}", alg.id);
            assert_eq!(csk.public_bytes(), cvk.as_bytes(), "{}", alg.id);
            assert!(vk.as_bytes().ends_with(cvk.as_bytes()), "{}", alg.id);
            let sig = csk.sign(b"m", b"").unwrap();
            cvk.verify(b"m", b"", &sig).unwrap();
            n += 1;
        }
        assert_eq!(n, 4);
        let ecdsa = SigningKey::generate(&crate::registry::ECDSA_P256_SHA256).unwrap();
        assert!(matches!(
            ecdsa.classical_component(),
            Err(Error::Unsupported { .. })
        ));
    }

    #[test]
    fn classical_refuses_contexts() {
        let sk = SigningKey::generate(&crate::registry::ED25519).unwrap();
        assert!(matches!(
            sk.sign(b"m", b"c"),
            Err(Error::Unsupported { .. })
        ));
    }
}

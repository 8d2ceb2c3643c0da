//! Composite ML-DSA (draft-ietf-lamps-pq-composite-sigs-19): one ML-DSA and one classical
//! signature over the same message representative, so a forgery needs both broken.
//!
//! §2.2: `M' = Prefix ‖ Label ‖ len(ctx) ‖ ctx ‖ PH(M)` with
//! `Prefix = "CompositeAlgorithmSignatures2025"`; ML-DSA signs `M'` with context `Label`,
//! the classical scheme signs `M'`. §4: public key `mldsaPK ‖ tradPK`, private key
//! `mldsaSeed(32) ‖ tradSK` (ECDSA: RFC 5915 `ECPrivateKey` with the curve, no public key),
//! signature `mldsaSig ‖ tradSig` (ECDSA: DER). Labels and OIDs from §7 (algParams).

use aws_lc_rs::digest;
use zeroize::Zeroizing;

use super::classical::{self, Scheme};
use super::mldsa::{self, Level};
use crate::registry::{self, AlgId, Algorithm};
use crate::secret::SecretBytes;
use crate::{Error, Result};

/// The domain-separation prefix of §2.2.
pub const PREFIX: &[u8] = b"CompositeAlgorithmSignatures2025";

#[derive(Debug)]
pub(crate) struct Spec {
    alg: &'static Algorithm,
    mldsa: Level,
    trad: Scheme,
    label: &'static [u8],
}

static MLDSA44_ED25519: Spec = Spec {
    alg: &registry::MLDSA44_ED25519_SHA512,
    mldsa: Level::L44,
    trad: Scheme::Ed25519,
    label: b"COMPSIG-MLDSA44-Ed25519-SHA512",
};
static MLDSA65_ED25519: Spec = Spec {
    alg: &registry::MLDSA65_ED25519_SHA512,
    mldsa: Level::L65,
    trad: Scheme::Ed25519,
    label: b"COMPSIG-MLDSA65-Ed25519-SHA512",
};
static MLDSA65_P256: Spec = Spec {
    alg: &registry::MLDSA65_ECDSA_P256_SHA512,
    mldsa: Level::L65,
    trad: Scheme::EcdsaP256,
    label: b"COMPSIG-MLDSA65-ECDSA-P256-SHA512",
};
static MLDSA87_P384: Spec = Spec {
    alg: &registry::MLDSA87_ECDSA_P384_SHA512,
    mldsa: Level::L87,
    trad: Scheme::EcdsaP384,
    label: b"COMPSIG-MLDSA87-ECDSA-P384-SHA512",
};

impl Spec {
    pub(crate) fn of(alg: &Algorithm) -> Option<&'static Spec> {
        match alg.alg_id {
            AlgId::MlDsa44Ed25519Sha512 => Some(&MLDSA44_ED25519),
            AlgId::MlDsa65Ed25519Sha512 => Some(&MLDSA65_ED25519),
            AlgId::MlDsa65EcdsaP256Sha512 => Some(&MLDSA65_P256),
            AlgId::MlDsa87EcdsaP384Sha512 => Some(&MLDSA87_P384),
            _ => None,
        }
    }

    /// The message representative `M'` (all four use PH = SHA-512).
    fn message_representative(&self, msg: &[u8], ctx: &[u8]) -> Result<Vec<u8>> {
        let ctx_len = u8::try_from(ctx.len()).map_err(|_| Error::ContextTooLong(ctx.len()))?;
        let ph = digest::digest(&digest::SHA512, msg);
        let mut m = Vec::with_capacity(PREFIX.len() + self.label.len() + 1 + ctx.len() + 64);
        m.extend_from_slice(PREFIX);
        m.extend_from_slice(self.label);
        m.push(ctx_len);
        m.extend_from_slice(ctx);
        m.extend_from_slice(ph.as_ref());
        Ok(m)
    }

    fn split_public<'a>(&self, pk: &'a [u8]) -> Result<(&'a [u8], &'a [u8])> {
        let id = self.alg.id;
        let want = self.mldsa.public_len() + self.trad.public_len().unwrap_or(0);
        if pk.len() != want {
            return Err(Error::length("public key", id, want, pk.len()));
        }
        let (m, t) = pk.split_at(self.mldsa.public_len());
        self.trad
            .check_public(t)
            .map_err(|_| Error::bad_public(id, "classical component rejected"))?;
        Ok((m, t))
    }

    pub(crate) fn check_public(&self, pk: &[u8]) -> Result<()> {
        self.split_public(pk).map(|_| ())
    }

    /// The registry algorithm of the classical component.
    pub(crate) fn classical_algorithm(&self) -> &'static Algorithm {
        match self.trad {
            Scheme::Ed25519 => &registry::ED25519,
            Scheme::EcdsaP256 => &registry::ECDSA_P256_SHA256,
            Scheme::EcdsaP384 => &registry::ECDSA_P384_SHA384,
            Scheme::RsaPss2048 => &registry::RSA_PSS_2048_SHA256,
        }
    }

    /// The classical component `tradPK` of a composite public key (§4).
    pub(crate) fn classical_public<'a>(&self, pk: &'a [u8]) -> Result<&'a [u8]> {
        self.split_public(pk).map(|(_, t)| t)
    }

    /// §5.3 Verify: both component signatures must verify; the error never says which failed.
    pub(crate) fn verify(&self, pk: &[u8], msg: &[u8], ctx: &[u8], sig: &[u8]) -> Result<()> {
        let (pk_m, pk_t) = self.split_public(pk)?;
        let m_prime = self.message_representative(msg, ctx)?;
        let Some((sig_m, sig_t)) = sig.split_at_checked(self.mldsa.signature_len()) else {
            return Err(Error::Verification);
        };
        let ok_m = mldsa::verify(self.mldsa, pk_m, &m_prime, self.label, sig_m).is_ok();
        let ok_t = self.trad.verify(pk_t, &m_prime, sig_t).is_ok();
        if ok_m && ok_t {
            Ok(())
        } else {
            Err(Error::Verification)
        }
    }
}

/// A composite signing key.
pub(crate) struct PrivateKey {
    spec: &'static Spec,
    mldsa: mldsa::PrivateKey,
    trad: classical::PrivateKey,
}

impl PrivateKey {
    pub(crate) fn generate(spec: &'static Spec) -> Result<Self> {
        let seed = crate::secret::random_array::<{ mldsa::SEED_LEN }>()?;
        let mldsa = mldsa::PrivateKey::from_seed(spec.mldsa, seed.as_slice())?;
        let trad = classical::PrivateKey::generate(spec.trad)?;
        Ok(PrivateKey { spec, mldsa, trad })
    }

    /// From `mldsaSeed ‖ tradSK`.
    pub(crate) fn from_stored(spec: &'static Spec, bytes: &[u8]) -> Result<Self> {
        let id = spec.alg.id;
        let Some((seed, trad_sk)) = bytes.split_at_checked(mldsa::SEED_LEN) else {
            return Err(Error::Length {
                what: "private key",
                alg: id,
                expected: "32 + classical key".into(),
                got: bytes.len(),
            });
        };
        let mldsa = mldsa::PrivateKey::from_seed(spec.mldsa, seed)?;
        let trad = match spec.trad {
            Scheme::EcdsaP256 | Scheme::EcdsaP384 => {
                classical::PrivateKey::from_ec_private_key_der(spec.trad, trad_sk)
            }
            _ => classical::PrivateKey::from_raw(spec.trad, trad_sk),
        }
        .map_err(|_| Error::bad_private(id, "classical component rejected"))?;
        Ok(PrivateKey { spec, mldsa, trad })
    }

    pub(crate) fn stored(&self) -> Result<SecretBytes> {
        let seed = self
            .mldsa
            .seed()
            .ok_or(Error::Internal("composite without ML-DSA seed"))?;
        let trad = self.trad.composite_form()?;
        let mut out = Zeroizing::new(Vec::with_capacity(seed.len() + trad.len()));
        out.extend_from_slice(seed);
        out.extend_from_slice(trad.expose());
        Ok(SecretBytes::from_slice(&out))
    }

    pub(crate) fn public_bytes(&self) -> Vec<u8> {
        [self.mldsa.public(), self.trad.public()].concat()
    }

    pub(crate) fn spec(&self) -> &'static Spec {
        self.spec
    }

    /// The classical component's raw stored form (see `classical::PrivateKey::from_raw`).
    pub(crate) fn classical_raw(&self) -> Result<SecretBytes> {
        self.trad.raw()
    }

    /// §5.2 Sign.
    pub(crate) fn sign(&self, msg: &[u8], ctx: &[u8]) -> Result<Vec<u8>> {
        let m_prime = self.spec.message_representative(msg, ctx)?;
        let mut sig = self.mldsa.sign(&m_prime, self.spec.label)?;
        sig.extend_from_slice(&self.trad.sign(&m_prime)?);
        Ok(sig)
    }
}

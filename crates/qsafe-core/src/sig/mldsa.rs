//! ML-DSA (FIPS 204), pure mode. aws-lc signs and verifies with the empty context and does
//! seed expansion (`ML-DSA.KeyGen_internal(ξ)`, Algorithm 6); libcrux-ml-dsa (formally
//! verified) handles non-empty context strings (Algorithms 2 and 3 with `ctx`), which
//! composite ML-DSA needs, and deterministic signing for test vectors. Keys are stored as the
//! 32-byte seed ξ (FIPS 204 §3.6.3; RFC 9881 `seed` form).

use aws_lc_rs::encoding::{AsRawBytes, PqdsaPrivateKeyRaw};
use aws_lc_rs::signature as pq;
use aws_lc_rs::signature::{self as aws_sig, KeyPair as _, PqdsaKeyPair, UnparsedPublicKey};
use zeroize::{Zeroize, Zeroizing};

use super::check_context;
use crate::registry::{self, AlgId, Algorithm};
use crate::{Error, Result};

/// Length of the seed ξ.
pub const SEED_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    L44,
    L65,
    L87,
}

macro_rules! per_level {
    ($level:expr, $m:ident => $body:expr) => {
        match $level {
            Level::L44 => {
                use libcrux_ml_dsa::ml_dsa_44 as $m;
                $body
            }
            Level::L65 => {
                use libcrux_ml_dsa::ml_dsa_65 as $m;
                $body
            }
            Level::L87 => {
                use libcrux_ml_dsa::ml_dsa_87 as $m;
                $body
            }
        }
    };
}

impl Level {
    pub(crate) fn of(alg: &Algorithm) -> Option<Level> {
        match alg.alg_id {
            AlgId::MlDsa44 => Some(Level::L44),
            AlgId::MlDsa65 => Some(Level::L65),
            AlgId::MlDsa87 => Some(Level::L87),
            _ => None,
        }
    }

    pub(crate) fn registry(self) -> &'static Algorithm {
        match self {
            Level::L44 => &registry::ML_DSA_44,
            Level::L65 => &registry::ML_DSA_65,
            Level::L87 => &registry::ML_DSA_87,
        }
    }

    /// FIPS 204 §4 Table 2: (pk, expanded sk, signature) sizes.
    fn sizes(self) -> (usize, usize, usize) {
        match self {
            Level::L44 => (1312, 2560, 2420),
            Level::L65 => (1952, 4032, 3309),
            Level::L87 => (2592, 4896, 4627),
        }
    }

    pub(crate) fn public_len(self) -> usize {
        self.sizes().0
    }

    pub(crate) fn expanded_len(self) -> usize {
        self.sizes().1
    }

    pub(crate) fn signature_len(self) -> usize {
        self.sizes().2
    }

    fn signing(self) -> &'static aws_sig::PqdsaSigningAlgorithm {
        match self {
            Level::L44 => &pq::ML_DSA_44_SIGNING,
            Level::L65 => &pq::ML_DSA_65_SIGNING,
            Level::L87 => &pq::ML_DSA_87_SIGNING,
        }
    }

    fn verification(self) -> &'static aws_sig::PqdsaVerificationAlgorithm {
        match self {
            Level::L44 => &pq::ML_DSA_44,
            Level::L65 => &pq::ML_DSA_65,
            Level::L87 => &pq::ML_DSA_87,
        }
    }
}

/// Checks a public key's length; FIPS 204 places no further validity condition on `pk`.
pub(crate) fn check_public(level: Level, pk: &[u8]) -> Result<()> {
    if pk.len() != level.public_len() {
        return Err(Error::length(
            "public key",
            level.registry().id,
            level.public_len(),
            pk.len(),
        ));
    }
    Ok(())
}

/// `ML-DSA.Verify(pk, M, sig, ctx)`.
pub(crate) fn verify(level: Level, pk: &[u8], msg: &[u8], ctx: &[u8], sig: &[u8]) -> Result<()> {
    check_public(level, pk)?;
    check_context(ctx)?;
    if sig.len() != level.signature_len() {
        return Err(Error::Verification);
    }
    if ctx.is_empty() {
        return UnparsedPublicKey::new(level.verification(), pk)
            .verify(msg, sig)
            .map_err(|_| Error::Verification);
    }
    per_level!(level, m => {
        let pk = libcrux_ml_dsa::MLDSAVerificationKey::new(pk.try_into().map_err(|_| Error::Verification)?);
        let sig = libcrux_ml_dsa::MLDSASignature::new(sig.try_into().map_err(|_| Error::Verification)?);
        m::verify(&pk, msg, ctx, &sig).map_err(|_| Error::Verification)
    })
}

/// An ML-DSA signing key.
pub(crate) struct PrivateKey {
    level: Level,
    seed: Option<Zeroizing<[u8; SEED_LEN]>>,
    aws: PqdsaKeyPair,
    expanded: Zeroizing<Vec<u8>>,
    public: Vec<u8>,
}

impl PrivateKey {
    pub(crate) fn from_seed(level: Level, seed: &[u8]) -> Result<Self> {
        let id = level.registry().id;
        let seed: Zeroizing<[u8; SEED_LEN]> = Zeroizing::new(
            seed.try_into()
                .map_err(|_| Error::length("seed ξ", id, SEED_LEN, seed.len()))?,
        );
        let aws = PqdsaKeyPair::from_seed(level.signing(), seed.as_slice())
            .map_err(|_| Error::bad_private(id, "seed rejected"))?;
        let mut key = Self::assemble(level, aws)?;
        key.seed = Some(seed);
        Ok(key)
    }

    /// Imports the FIPS 204 expanded private key (no seed is then available).
    pub(crate) fn from_expanded(level: Level, sk: &[u8]) -> Result<Self> {
        let id = level.registry().id;
        if sk.len() != level.expanded_len() {
            return Err(Error::length(
                "expanded private key",
                id,
                level.expanded_len(),
                sk.len(),
            ));
        }
        let aws = PqdsaKeyPair::from_raw_private_key(level.signing(), sk)
            .map_err(|_| Error::bad_private(id, "expanded key rejected"))?;
        Self::assemble(level, aws)
    }

    fn assemble(level: Level, aws: PqdsaKeyPair) -> Result<Self> {
        let raw: PqdsaPrivateKeyRaw<'_> = aws
            .private_key()
            .as_raw_bytes()
            .map_err(|_| Error::Internal("ml-dsa export"))?;
        let expanded = Zeroizing::new(raw.as_ref().to_vec());
        let public = aws.public_key().as_ref().to_vec();
        Ok(PrivateKey {
            level,
            seed: None,
            aws,
            expanded,
            public,
        })
    }

    pub(crate) fn seed(&self) -> Option<&[u8]> {
        self.seed.as_ref().map(|s| s.as_slice())
    }

    pub(crate) fn expanded(&self) -> &[u8] {
        &self.expanded
    }

    pub(crate) fn public(&self) -> &[u8] {
        &self.public
    }

    /// Hedged `ML-DSA.Sign(sk, M, ctx)` with fresh randomness.
    pub(crate) fn sign(&self, msg: &[u8], ctx: &[u8]) -> Result<Vec<u8>> {
        check_context(ctx)?;
        if ctx.is_empty() {
            let mut sig = vec![0u8; self.level.signature_len()];
            let n = self
                .aws
                .sign(msg, &mut sig)
                .map_err(|_| Error::Internal("ml-dsa sign"))?;
            sig.truncate(n);
            return Ok(sig);
        }
        let rnd = crate::secret::random_array::<32>()?;
        self.sign_with_rnd(msg, ctx, *rnd)
    }

    /// `ML-DSA.Sign` with caller-chosen `rnd` (all zero = the deterministic variant, §3.4).
    pub(crate) fn sign_with_rnd(&self, msg: &[u8], ctx: &[u8], rnd: [u8; 32]) -> Result<Vec<u8>> {
        check_context(ctx)?;
        per_level!(self.level, m => {
            let mut bytes: [u8; _] = self.expanded.as_slice().try_into().map_err(|_| Error::Internal("ml-dsa key length"))?;
            let mut sk = libcrux_ml_dsa::MLDSASigningKey::new(bytes);
            bytes.zeroize();
            let sig = m::sign(&sk, msg, ctx, rnd);
            sk.as_mut_slice().zeroize();
            sig.map(|s| s.as_slice().to_vec()).map_err(|_| Error::Internal("ml-dsa sign"))
        })
    }
}

//! SLH-DSA (FIPS 205), pure mode with context, on RustCrypto `slh-dsa` (feature `slh`).
//! Private keys are the FIPS 205 `SK.seed ‖ SK.prf ‖ PK.seed ‖ PK.root` (RFC 9909); key
//! generation from `SK.seed ‖ SK.prf ‖ PK.seed` is `slh_keygen_internal` (Algorithm 18).

use slh_dsa::{Sha2_128f, Sha2_128s, Sha2_256s, Signature, SigningKey, VerifyingKey};

use super::check_context;
use crate::registry::{AlgId, Algorithm};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Param {
    Sha2_128s,
    Sha2_128f,
    Sha2_256s,
}

macro_rules! per_param {
    ($p:expr, $t:ident => $body:expr) => {
        match $p {
            Param::Sha2_128s => {
                type $t = Sha2_128s;
                $body
            }
            Param::Sha2_128f => {
                type $t = Sha2_128f;
                $body
            }
            Param::Sha2_256s => {
                type $t = Sha2_256s;
                $body
            }
        }
    };
}

impl Param {
    pub(crate) fn of(alg: &Algorithm) -> Option<Param> {
        match alg.alg_id {
            AlgId::SlhDsaSha2_128s => Some(Param::Sha2_128s),
            AlgId::SlhDsaSha2_128f => Some(Param::Sha2_128f),
            AlgId::SlhDsaSha2_256s => Some(Param::Sha2_256s),
            _ => None,
        }
    }

    /// Security parameter `n` in bytes.
    fn n(self) -> usize {
        match self {
            Param::Sha2_128s | Param::Sha2_128f => 16,
            Param::Sha2_256s => 32,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Param::Sha2_128s => "slh-dsa-sha2-128s",
            Param::Sha2_128f => "slh-dsa-sha2-128f",
            Param::Sha2_256s => "slh-dsa-sha2-256s",
        }
    }

    pub(crate) fn check_public(self, pk: &[u8]) -> Result<()> {
        if pk.len() != 2 * self.n() {
            return Err(Error::length(
                "public key",
                self.name(),
                2 * self.n(),
                pk.len(),
            ));
        }
        Ok(())
    }
}

pub(crate) fn verify(p: Param, pk: &[u8], msg: &[u8], ctx: &[u8], sig: &[u8]) -> Result<()> {
    p.check_public(pk)?;
    check_context(ctx)?;
    per_param!(p, P => {
        let vk = VerifyingKey::<P>::try_from(pk).map_err(|_| Error::bad_public(p.name(), "malformed"))?;
        let sig = Signature::<P>::try_from(sig).map_err(|_| Error::Verification)?;
        vk.try_verify_with_context(msg, ctx, &sig).map_err(|_| Error::Verification)
    })
}

/// An SLH-DSA private key in its FIPS 205 encoding.
pub(crate) struct PrivateKey {
    param: Param,
    sk: zeroize::Zeroizing<Vec<u8>>,
    public: Vec<u8>,
}

impl PrivateKey {
    pub(crate) fn generate(p: Param) -> Result<Self> {
        let seed = crate::secret::random_bytes(3 * p.n())?;
        Self::from_seed(p, seed.expose())
    }

    /// `slh_keygen_internal(SK.seed, SK.prf, PK.seed)` from their concatenation (3n bytes).
    pub(crate) fn from_seed(p: Param, seed: &[u8]) -> Result<Self> {
        let n = p.n();
        if seed.len() != 3 * n {
            return Err(Error::length(
                "seed (SK.seed ‖ SK.prf ‖ PK.seed)",
                p.name(),
                3 * n,
                seed.len(),
            ));
        }
        let (sk_seed, rest) = seed.split_at(n);
        let (sk_prf, pk_seed) = rest.split_at(n);
        per_param!(p, P => {
            let sk = SigningKey::<P>::slh_keygen_internal(sk_seed, sk_prf, pk_seed);
            Ok(Self::wrap(p, sk.to_vec(), AsRef::<VerifyingKey<P>>::as_ref(&sk).to_vec()))
        })
    }

    /// From the 4n-byte private key (or the 3n-byte seed).
    pub(crate) fn from_stored(p: Param, bytes: &[u8]) -> Result<Self> {
        let n = p.n();
        match bytes.len() {
            l if l == 3 * n => Self::from_seed(p, bytes),
            l if l == 4 * n => {
                let again = Self::from_seed(p, bytes.get(..3 * n).unwrap_or_default())?;
                if again.sk.as_slice() != bytes {
                    return Err(Error::bad_private(
                        p.name(),
                        "PK.root does not match the seeds",
                    ));
                }
                Ok(again)
            }
            got => Err(Error::Length {
                what: "private key",
                alg: p.name(),
                expected: format!("{} or {}", 4 * n, 3 * n),
                got,
            }),
        }
    }

    fn wrap(param: Param, sk: Vec<u8>, public: Vec<u8>) -> Self {
        PrivateKey {
            param,
            sk: zeroize::Zeroizing::new(sk),
            public,
        }
    }

    pub(crate) fn stored(&self) -> &[u8] {
        &self.sk
    }

    pub(crate) fn public(&self) -> &[u8] {
        &self.public
    }

    /// Hedged `slh_sign` (Algorithm 22) with fresh `addrnd`.
    pub(crate) fn sign(&self, msg: &[u8], ctx: &[u8]) -> Result<Vec<u8>> {
        check_context(ctx)?;
        let p = self.param;
        let rnd = crate::secret::random_bytes(p.n())?;
        per_param!(p, P => {
            let sk = SigningKey::<P>::try_from(self.sk.as_slice()).map_err(|_| Error::Internal("slh-dsa key"))?;
            let sig = sk.try_sign_with_context(msg, ctx, Some(rnd.expose())).map_err(|_| Error::Internal("slh-dsa sign"))?;
            Ok(sig.to_vec())
        })
    }
}

//! ML-KEM (FIPS 203). Encapsulation and decapsulation run on aws-lc; seed expansion
//! (`ML-KEM.KeyGen_internal(d, z)`, §6.1) and derandomised encapsulation (§6.2, for test
//! vectors and hybrid constructions that fix the randomness) use libcrux-ml-kem, whose code is
//! formally verified. Keys are stored as the 64-byte seed `d ‖ z` (FIPS 203 §7.1 allows this and
//! RFC 9935 prefers it); an expanded decapsulation key is accepted on import after the
//! §7.3 input checks.

use aws_lc_rs::digest;
use aws_lc_rs::kem as aws;
use zeroize::{Zeroize, Zeroizing};

use crate::registry::{AlgId, Algorithm};
use crate::secret::SecretBytes;
use crate::{Error, Result};

/// Length of the stored seed `d ‖ z`.
pub const SEED_LEN: usize = 64;
/// Length of the encapsulation randomness `m`.
#[cfg_attr(not(feature = "hazmat"), allow(dead_code))] // used by the hazmat test-vector API
pub const ENCAPS_RANDOMNESS_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    L512,
    L768,
    L1024,
}

impl Level {
    pub(crate) fn of(alg: &Algorithm) -> Option<Level> {
        match alg.alg_id {
            AlgId::MlKem512 => Some(Level::L512),
            AlgId::MlKem768 => Some(Level::L768),
            AlgId::MlKem1024 => Some(Level::L1024),
            _ => None,
        }
    }

    fn aws(self) -> &'static aws::Algorithm<aws::AlgorithmId> {
        match self {
            Level::L512 => &aws::ML_KEM_512,
            Level::L768 => &aws::ML_KEM_768,
            Level::L1024 => &aws::ML_KEM_1024,
        }
    }

    /// FIPS 203 §8 Table 3: (ek, dk, ct) sizes.
    fn sizes(self) -> (usize, usize, usize) {
        match self {
            Level::L512 => (800, 1632, 768),
            Level::L768 => (1184, 2400, 1088),
            Level::L1024 => (1568, 3168, 1568),
        }
    }

    pub(crate) fn public_len(self) -> usize {
        self.sizes().0
    }

    pub(crate) fn expanded_len(self) -> usize {
        self.sizes().1
    }

    pub(crate) fn ciphertext_len(self) -> usize {
        self.sizes().2
    }

    fn registry(self) -> &'static Algorithm {
        match self {
            Level::L512 => &crate::registry::ML_KEM_512,
            Level::L768 => &crate::registry::ML_KEM_768,
            Level::L1024 => &crate::registry::ML_KEM_1024,
        }
    }
}

macro_rules! per_level {
    ($level:expr, $m:ident => $body:expr) => {
        match $level {
            Level::L512 => {
                use libcrux_ml_kem::mlkem512 as $m;
                $body
            }
            Level::L768 => {
                use libcrux_ml_kem::mlkem768 as $m;
                $body
            }
            Level::L1024 => {
                use libcrux_ml_kem::mlkem1024 as $m;
                $body
            }
        }
    };
}

/// An ML-KEM encapsulation key that passed the FIPS 203 §7.2 modulus check.
pub(crate) struct PublicKey {
    #[cfg_attr(not(feature = "hazmat"), allow(dead_code))] // used by the hazmat test-vector API
    level: Level,
    bytes: Vec<u8>,
    aws: aws::EncapsulationKey<aws::AlgorithmId>,
}

impl PublicKey {
    pub(crate) fn from_bytes(level: Level, ek: &[u8]) -> Result<Self> {
        let id = level.registry().id;
        if ek.len() != level.public_len() {
            return Err(Error::length(
                "encapsulation key",
                id,
                level.public_len(),
                ek.len(),
            ));
        }
        let valid = per_level!(level, m => {
            let ek = libcrux_ml_kem::MlKemPublicKey::try_from(ek).map_err(|_| Error::bad_public(id, "length"))?;
            m::validate_public_key(&ek)
        });
        if !valid {
            return Err(Error::bad_public(
                id,
                "coefficient not reduced modulo q (FIPS 203 §7.2)",
            ));
        }
        let aws = aws::EncapsulationKey::new(level.aws(), ek)
            .map_err(|_| Error::bad_public(id, "rejected by aws-lc"))?;
        Ok(PublicKey {
            level,
            bytes: ek.to_vec(),
            aws,
        })
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub(crate) fn encapsulate(&self) -> Result<(Vec<u8>, SecretBytes)> {
        let (ct, ss) = self
            .aws
            .encapsulate()
            .map_err(|_| Error::Internal("ml-kem encapsulate"))?;
        Ok((ct.as_ref().to_vec(), SecretBytes::from_slice(ss.as_ref())))
    }

    /// `ML-KEM.Encaps_internal(ek, m)`: deterministic; for vectors and fixed-randomness hybrids.
    #[cfg_attr(not(feature = "hazmat"), allow(dead_code))] // used by the hazmat test-vector API
    pub(crate) fn encapsulate_derand(&self, m: &[u8]) -> Result<(Vec<u8>, SecretBytes)> {
        let id = self.level.registry().id;
        let m: [u8; ENCAPS_RANDOMNESS_LEN] = m
            .try_into()
            .map_err(|_| Error::length("encapsulation randomness", id, 32, m.len()))?;
        per_level!(self.level, lc => {
            let ek = libcrux_ml_kem::MlKemPublicKey::try_from(self.bytes.as_slice())
                .map_err(|_| Error::bad_public(id, "length"))?;
            let (ct, mut ss) = lc::encapsulate(&ek, m);
            let out = (ct.as_ref().to_vec(), SecretBytes::from_slice(&ss));
            ss.zeroize();
            Ok(out)
        })
    }
}

/// An ML-KEM decapsulation key, with its seed when it was made from one.
pub(crate) struct PrivateKey {
    level: Level,
    seed: Option<Zeroizing<[u8; SEED_LEN]>>,
    expanded: Zeroizing<Vec<u8>>,
    public: PublicKey,
    aws: aws::DecapsulationKey<aws::AlgorithmId>,
}

impl PrivateKey {
    /// `ML-KEM.KeyGen_internal(d, z)` from the 64-byte seed `d ‖ z`.
    pub(crate) fn from_seed(level: Level, seed: &[u8]) -> Result<Self> {
        let id = level.registry().id;
        let seed: Zeroizing<[u8; SEED_LEN]> = Zeroizing::new(
            seed.try_into()
                .map_err(|_| Error::length("seed (d ‖ z)", id, SEED_LEN, seed.len()))?,
        );
        let (expanded, ek) = per_level!(level, m => {
            let (sk, pk) = m::generate_key_pair(*seed).into_parts();
            let mut sk: [u8; _] = sk.into();
            let expanded = Zeroizing::new(sk.to_vec());
            sk.zeroize();
            (expanded, pk.as_ref().to_vec())
        });
        let mut key = Self::assemble(level, expanded, &ek)?;
        key.seed = Some(seed);
        Ok(key)
    }

    /// Imports an expanded decapsulation key after the FIPS 203 §7.3 checks: length, the
    /// embedded encapsulation key's modulus check and `H(ek)`.
    pub(crate) fn from_expanded(level: Level, dk: &[u8]) -> Result<Self> {
        let id = level.registry().id;
        if dk.len() != level.expanded_len() {
            return Err(Error::length(
                "expanded decapsulation key",
                id,
                level.expanded_len(),
                dk.len(),
            ));
        }
        // dk = dk_PKE (384k) ‖ ek (384k + 32) ‖ H(ek) (32) ‖ z (32)
        let ek_len = level.public_len();
        let pke_len = ek_len - 32;
        let ek = dk
            .get(pke_len..pke_len + ek_len)
            .ok_or(Error::bad_private(id, "length"))?;
        let h = dk
            .get(pke_len + ek_len..pke_len + ek_len + 32)
            .ok_or(Error::bad_private(id, "length"))?;
        if digest::digest(&digest::SHA3_256, ek).as_ref() != h {
            return Err(Error::bad_private(
                id,
                "hash of the embedded encapsulation key does not match (FIPS 203 §7.3)",
            ));
        }
        Self::assemble(level, Zeroizing::new(dk.to_vec()), ek)
    }

    fn assemble(level: Level, expanded: Zeroizing<Vec<u8>>, ek: &[u8]) -> Result<Self> {
        let id = level.registry().id;
        let public = PublicKey::from_bytes(level, ek)
            .map_err(|_| Error::bad_private(id, "embedded encapsulation key is invalid"))?;
        let aws = aws::DecapsulationKey::new(level.aws(), &expanded)
            .map_err(|_| Error::bad_private(id, "rejected by aws-lc"))?;
        Ok(PrivateKey {
            level,
            seed: None,
            expanded,
            public,
            aws,
        })
    }

    pub(crate) fn seed(&self) -> Option<&[u8]> {
        self.seed.as_ref().map(|s| s.as_slice())
    }

    pub(crate) fn expanded(&self) -> &[u8] {
        &self.expanded
    }

    pub(crate) fn public(&self) -> &PublicKey {
        &self.public
    }

    /// `ML-KEM.Decaps`: implicit rejection, so a well-formed but wrong ciphertext yields a
    /// pseudorandom secret rather than an error. Only a wrong length is an error.
    pub(crate) fn decapsulate(&self, ct: &[u8]) -> Result<SecretBytes> {
        let id = self.level.registry().id;
        if ct.len() != self.level.ciphertext_len() {
            return Err(Error::length(
                "ciphertext",
                id,
                self.level.ciphertext_len(),
                ct.len(),
            ));
        }
        let ss = self
            .aws
            .decapsulate(aws::Ciphertext::from(ct))
            .map_err(|_| Error::Decapsulation)?;
        Ok(SecretBytes::from_slice(ss.as_ref()))
    }
}

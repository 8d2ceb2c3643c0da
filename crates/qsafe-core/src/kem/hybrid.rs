//! Hybrid KEMs: ML-KEM plus an elliptic-curve Diffie-Hellman, combined so that the shared
//! secret stays secret while either component holds.
//!
//! All five constructions put the ML-KEM part first in keys and ciphertexts and differ in
//! private-key form and combiner:
//!
//! | id | private key | combiner |
//! |---|---|---|
//! | `x-wing` | 32-byte seed, `SHAKE256(seed, 96)` → `d ‖ z ‖ sk_X` (X-Wing §5.2) | `SHA3-256(ss_M ‖ ss_X ‖ ct_X ‖ pk_X ‖ "\.//^\")` (X-Wing §5.3) |
//! | `mlkem768-p256`, `mlkem1024-p384` | `mlkemSeed(64) ‖ ECPrivateKey` (composite-KEM §4) | `SHA3-256(ss_M ‖ ss_T ‖ ct_T ‖ pk_T ‖ Label)` (composite-KEM §3.3) |
//! | `x25519-mlkem768` | `mlkemSeed(64) ‖ sk_X(32)` | `ss_M ‖ ss_X`, the TLS concatenation (draft-ietf-tls-ecdhe-mlkem §3) |
//! | `x25519-mlkem1024-hkdf-sha384` | `mlkemSeed(64) ‖ sk_X(32)` | HKDF-SHA384, see `docs/combiners.md` |

use aws_lc_rs::digest;
use sha3::digest::{ExtendableOutput, Update, XofReader};
use zeroize::Zeroizing;

use super::ecdh::{self, Curve};
use super::mlkem::{self, Level};
use crate::kdf::Hkdf;
use crate::registry::{self, AlgId, Algorithm};
use crate::secret::SecretBytes;
use crate::{Error, Result};

/// The X-Wing combiner label `\.//^\` (X-Wing §5.3; also the composite-KEM X25519 label).
pub const XWING_LABEL: &[u8] = b"\\.//^\\";
/// Label and HKDF salt of qsafe's X25519 + ML-KEM-1024 construction.
pub const SEED_HKDF_LABEL: &[u8] = b"QSAFE-X25519-MLKEM1024-HKDF-SHA384-v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PrivateForm {
    /// One 32-byte seed expanded with SHAKE256 (X-Wing).
    XWingSeed,
    /// ML-KEM seed followed by the classical private key.
    Concat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Combiner {
    Sha3Label(&'static [u8]),
    Concat,
    HkdfSha384(&'static [u8]),
}

#[derive(Debug)]
pub(crate) struct Spec {
    alg: &'static Algorithm,
    pq: Level,
    trad: Curve,
    form: PrivateForm,
    combiner: Combiner,
}

static XWING: Spec = Spec {
    alg: &registry::X_WING,
    pq: Level::L768,
    trad: Curve::X25519,
    form: PrivateForm::XWingSeed,
    combiner: Combiner::Sha3Label(XWING_LABEL),
};
static MLKEM768_P256: Spec = Spec {
    alg: &registry::MLKEM768_P256,
    pq: Level::L768,
    trad: Curve::P256,
    form: PrivateForm::Concat,
    combiner: Combiner::Sha3Label(b"MLKEM768-P256"),
};
static MLKEM1024_P384: Spec = Spec {
    alg: &registry::MLKEM1024_P384,
    pq: Level::L1024,
    trad: Curve::P384,
    form: PrivateForm::Concat,
    combiner: Combiner::Sha3Label(b"MLKEM1024-P384"),
};
static X25519_MLKEM768: Spec = Spec {
    alg: &registry::X25519_MLKEM768,
    pq: Level::L768,
    trad: Curve::X25519,
    form: PrivateForm::Concat,
    combiner: Combiner::Concat,
};
static X25519_MLKEM1024_HKDF: Spec = Spec {
    alg: &registry::X25519_MLKEM1024_HKDF_SHA384,
    pq: Level::L1024,
    trad: Curve::X25519,
    form: PrivateForm::Concat,
    combiner: Combiner::HkdfSha384(SEED_HKDF_LABEL),
};

impl Spec {
    pub(crate) fn of(alg: &Algorithm) -> Option<&'static Spec> {
        match alg.alg_id {
            AlgId::XWing => Some(&XWING),
            AlgId::MlKem768P256 => Some(&MLKEM768_P256),
            AlgId::MlKem1024P384 => Some(&MLKEM1024_P384),
            AlgId::X25519MlKem768 => Some(&X25519_MLKEM768),
            AlgId::X25519MlKem1024HkdfSha384 => Some(&X25519_MLKEM1024_HKDF),
            _ => None,
        }
    }

    /// Bytes of classical seed material `KEM.DeriveKeyPair` draws after the 64-byte ML-KEM
    /// seed (concrete-hybrid-kems §3: X25519 32; P-256 4 × 32 and P-384 1 × 48 candidates).
    /// Encapsulation randomness after ML-KEM's 32-byte `m`: X25519 32 bytes; P-256 3 × 32 and
    /// P-384 1 × 48 scalar candidates (concrete-hybrid-kems `Nrandom`).
    #[cfg_attr(not(feature = "hazmat"), allow(dead_code))] // used by the hazmat test-vector API
    fn trad_encaps_len(&self) -> usize {
        match self.trad {
            Curve::X25519 => 32,
            Curve::P256 => 96,
            Curve::P384 => 48,
        }
    }

    fn trad_seed_len(&self) -> usize {
        match self.trad {
            Curve::X25519 => 32,
            Curve::P256 => 128,
            Curve::P384 => 48,
        }
    }

    fn combine(
        &self,
        ss_m: &SecretBytes,
        ss_t: &SecretBytes,
        ct_m: &[u8],
        ct_t: &[u8],
        pk_t: &[u8],
    ) -> Result<SecretBytes> {
        Ok(match self.combiner {
            Combiner::Sha3Label(label) => {
                let mut h = digest::Context::new(&digest::SHA3_256);
                h.update(ss_m.expose());
                h.update(ss_t.expose());
                h.update(ct_t);
                h.update(pk_t);
                h.update(label);
                SecretBytes::from_slice(h.finish().as_ref())
            }
            Combiner::Concat => {
                let mut out = Vec::with_capacity(ss_m.len() + ss_t.len());
                out.extend_from_slice(ss_m.expose());
                out.extend_from_slice(ss_t.expose());
                SecretBytes::new(out)
            }
            Combiner::HkdfSha384(label) => {
                // docs/combiners.md §1: HKDF-SHA384 with the ML-KEM secret first, and the
                // public transcript bound through its SHA-384 digest (one pass over ct_M).
                let mut ikm = Zeroizing::new(Vec::with_capacity(ss_m.len() + ss_t.len()));
                ikm.extend_from_slice(ss_m.expose());
                ikm.extend_from_slice(ss_t.expose());
                let mut th = digest::Context::new(&digest::SHA384);
                th.update(ct_m);
                th.update(ct_t);
                th.update(pk_t);
                let th = th.finish();
                Hkdf::Sha384.derive(label, &ikm, &[label, th.as_ref()], 64)?
            }
        })
    }
}

/// A hybrid encapsulation key.
pub(crate) struct PublicKey {
    spec: &'static Spec,
    pq: mlkem::PublicKey,
    trad: ecdh::PublicKey,
}

impl PublicKey {
    pub(crate) fn from_bytes(spec: &'static Spec, bytes: &[u8]) -> Result<Self> {
        let id = spec.alg.id;
        let want = spec.pq.public_len() + spec.trad.public_len();
        if bytes.len() != want {
            return Err(Error::length("public key", id, want, bytes.len()));
        }
        let (pq, trad) = bytes.split_at(spec.pq.public_len());
        let pq = mlkem::PublicKey::from_bytes(spec.pq, pq)
            .map_err(|_| Error::bad_public(id, "ML-KEM component rejected"))?;
        let trad = ecdh::PublicKey::from_bytes(spec.trad, trad)
            .map_err(|_| Error::bad_public(id, "classical component rejected"))?;
        Ok(PublicKey { spec, pq, trad })
    }

    pub(crate) fn encapsulate(&self) -> Result<(Vec<u8>, SecretBytes)> {
        let eph = ecdh::PrivateKey::generate(self.spec.trad)?;
        let (ct_m, ss_m) = self.pq.encapsulate()?;
        self.finish_encaps(&eph, ct_m, &ss_m)
    }

    /// `EncapsulateDerand(pk, eseed)`: `eseed[..32]` is ML-KEM's `m`, the rest seeds the
    /// ephemeral classical scalar (X-Wing §5.4; for NIST curves the first in-range candidate,
    /// concrete-hybrid-kems `RandomScalar`).
    #[cfg_attr(not(feature = "hazmat"), allow(dead_code))] // used by the hazmat test-vector API
    pub(crate) fn encapsulate_derand(&self, eseed: &[u8]) -> Result<(Vec<u8>, SecretBytes)> {
        let want = mlkem::ENCAPS_RANDOMNESS_LEN + self.spec.trad_encaps_len();
        if eseed.len() != want {
            return Err(Error::length(
                "encapsulation randomness",
                self.spec.alg.id,
                want,
                eseed.len(),
            ));
        }
        let (m, scalar_seed) = eseed.split_at(mlkem::ENCAPS_RANDOMNESS_LEN);
        let eph = random_scalar(self.spec, scalar_seed)?;
        let (ct_m, ss_m) = self.pq.encapsulate_derand(m)?;
        self.finish_encaps(&eph, ct_m, &ss_m)
    }

    fn finish_encaps(
        &self,
        eph: &ecdh::PrivateKey,
        mut ct_m: Vec<u8>,
        ss_m: &SecretBytes,
    ) -> Result<(Vec<u8>, SecretBytes)> {
        let ss_t = eph.agree(&self.trad)?;
        let ct_t = eph.public().bytes();
        let ss = self
            .spec
            .combine(ss_m, &ss_t, &ct_m, ct_t, self.trad.bytes())?;
        ct_m.extend_from_slice(ct_t);
        Ok((ct_m, ss))
    }
}

/// Length of the seed of draft-irtf-cfrg-concrete-hybrid-kems (and of X-Wing).
pub const CONCRETE_SEED_LEN: usize = 32;

/// `RandomScalar`: the first candidate that is a valid scalar (X25519 takes any 32 bytes).
fn random_scalar(spec: &Spec, seed: &[u8]) -> Result<ecdh::PrivateKey> {
    let len = spec.trad.scalar_len();
    if seed.len() < len {
        return Err(Error::length(
            "classical seed",
            spec.alg.id,
            len,
            seed.len(),
        ));
    }
    seed.chunks_exact(len)
        .find_map(|candidate| ecdh::PrivateKey::from_scalar(spec.trad, candidate).ok())
        .ok_or(Error::bad_private(
            spec.alg.id,
            "rejection sampling found no valid scalar",
        ))
}

/// A hybrid decapsulation key.
pub(crate) struct PrivateKey {
    spec: &'static Spec,
    stored: Zeroizing<Vec<u8>>,
    pq: mlkem::PrivateKey,
    trad: ecdh::PrivateKey,
    seed: Option<Zeroizing<Vec<u8>>>,
}

impl PrivateKey {
    pub(crate) fn generate(spec: &'static Spec) -> Result<Self> {
        match spec.form {
            PrivateForm::XWingSeed => {
                let seed = crate::secret::random_array::<32>()?;
                Self::from_stored(spec, seed.as_slice())
            }
            PrivateForm::Concat => {
                let seed = crate::secret::random_array::<{ mlkem::SEED_LEN }>()?;
                let pq = mlkem::PrivateKey::from_seed(spec.pq, seed.as_slice())?;
                let trad = ecdh::PrivateKey::generate(spec.trad)?;
                Self::assemble(spec, pq, trad)
            }
        }
    }

    /// From the stored private key: the X-Wing seed, or `mlkemSeed ‖ tradSK`.
    pub(crate) fn from_stored(spec: &'static Spec, bytes: &[u8]) -> Result<Self> {
        let id = spec.alg.id;
        match spec.form {
            PrivateForm::XWingSeed => Self::from_concrete_seed(spec, bytes),
            PrivateForm::Concat => {
                let Some((seed, trad_sk)) = bytes.split_at_checked(mlkem::SEED_LEN) else {
                    return Err(Error::Length {
                        what: "private key",
                        alg: id,
                        expected: format!("{} + classical key", mlkem::SEED_LEN),
                        got: bytes.len(),
                    });
                };
                let pq = mlkem::PrivateKey::from_seed(spec.pq, seed)?;
                let trad = ecdh::PrivateKey::from_ec_private_key_der(spec.trad, trad_sk)
                    .map_err(|_| Error::bad_private(id, "classical component rejected"))?;
                Self::assemble(spec, pq, trad)
            }
        }
    }

    fn assemble(
        spec: &'static Spec,
        pq: mlkem::PrivateKey,
        trad: ecdh::PrivateKey,
    ) -> Result<Self> {
        let seed = pq.seed().ok_or(Error::Internal("ml-kem seed"))?;
        let trad_sk = trad.to_ec_private_key_der()?;
        let mut stored = Zeroizing::new(Vec::with_capacity(seed.len() + trad_sk.len()));
        stored.extend_from_slice(seed);
        stored.extend_from_slice(trad_sk.expose());
        Ok(PrivateKey {
            spec,
            stored,
            pq,
            trad,
            seed: None,
        })
    }

    /// `expandDecapsKey(seed)` of draft-irtf-cfrg-concrete-hybrid-kems §3 (X-Wing §5.2 for
    /// X25519): `SHAKE256(seed)` gives the ML-KEM seed `d ‖ z` then the classical seed.
    /// This is how HPKE derives hybrid keys (draft-ietf-hpke-pq §4).
    pub(crate) fn from_concrete_seed(spec: &'static Spec, seed: &[u8]) -> Result<Self> {
        if seed.len() != CONCRETE_SEED_LEN {
            return Err(Error::length(
                "seed",
                spec.alg.id,
                CONCRETE_SEED_LEN,
                seed.len(),
            ));
        }
        let mut expanded = Zeroizing::new(vec![0u8; mlkem::SEED_LEN + spec.trad_seed_len()]);
        let mut shake = sha3::Shake256::default();
        shake.update(seed);
        shake.finalize_xof().read(expanded.as_mut_slice());
        let (d_z, trad_seed) = expanded.split_at(mlkem::SEED_LEN);
        let pq = mlkem::PrivateKey::from_seed(spec.pq, d_z)?;
        let trad = random_scalar(spec, trad_seed)?;
        let mut key = match spec.form {
            PrivateForm::XWingSeed => {
                let stored = Zeroizing::new(seed.to_vec());
                PrivateKey {
                    spec,
                    stored,
                    pq,
                    trad,
                    seed: None,
                }
            }
            PrivateForm::Concat => Self::assemble(spec, pq, trad)?,
        };
        key.seed = Some(Zeroizing::new(seed.to_vec()));
        Ok(key)
    }

    /// The 32-byte concrete-hybrid seed, when the key was derived from one (HPKE `skRm`).
    pub(crate) fn concrete_seed(&self) -> Option<&[u8]> {
        self.seed.as_deref().map(|s| s.as_slice())
    }

    pub(crate) fn stored(&self) -> &[u8] {
        &self.stored
    }

    pub(crate) fn public_bytes(&self) -> Vec<u8> {
        [self.pq.public().bytes(), self.trad.public().bytes()].concat()
    }

    pub(crate) fn decapsulate(&self, ct: &[u8]) -> Result<SecretBytes> {
        let id = self.spec.alg.id;
        let want = self.spec.pq.ciphertext_len() + self.spec.trad.public_len();
        if ct.len() != want {
            return Err(Error::length("ciphertext", id, want, ct.len()));
        }
        let (ct_m, ct_t) = ct.split_at(self.spec.pq.ciphertext_len());
        let ss_m = self.pq.decapsulate(ct_m)?;
        let eph =
            ecdh::PublicKey::from_bytes(self.spec.trad, ct_t).map_err(|_| Error::Decapsulation)?;
        let ss_t = self.trad.agree(&eph).map_err(|_| Error::Decapsulation)?;
        self.spec
            .combine(&ss_m, &ss_t, ct_m, ct_t, self.trad.public().bytes())
    }
}

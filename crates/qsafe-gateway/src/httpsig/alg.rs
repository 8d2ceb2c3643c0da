//! HTTP signature algorithms: the `alg` values (RFC 9421 §3.3, §6.2) mapped to `qsafe-core`
//! registry algorithms.
//!
//! | `alg` | registry | specification | signature bytes |
//! |---|---|---|---|
//! | `ml-dsa-44`, `ml-dsa-65`, `ml-dsa-87` | same ids | c2sp.org/httpsig-pq v1.0.0 | FIPS 204 `sigEncode`, empty context |
//! | `ed25519` | `ed25519` | RFC 9421 §3.3.6 | RFC 8032, 64 bytes |
//! | `ecdsa-p256-sha256` | `ecdsa-p256-sha256` | RFC 9421 §3.3.4 | `r ‖ s`, 32 bytes each |
//! | `ecdsa-p384-sha384` | `ecdsa-p384-sha384` | RFC 9421 §3.3.5 | `r ‖ s`, 48 bytes each |
//! | `mldsa44-ed25519-sha512`, `mldsa65-ed25519-sha512`, `mldsa65-ecdsa-p256-sha512`, `mldsa87-ecdsa-p384-sha512` | same ids | **qsafe extension**, see below | composite signature |
//!
//! **Composite ML-DSA (qsafe extension).** No HTTP Signature Algorithms registry entry exists
//! for composite signatures. qsafe uses the `qsafe-core` registry id as the `alg` value and
//! defines: `HTTP_SIGN(M, Ks)` = `Composite-ML-DSA.Sign(sk, M, ctx = empty)` and
//! `HTTP_VERIFY(M, Kv, S)` = `Composite-ML-DSA.Verify(pk, M, S, ctx = empty)` of
//! draft-ietf-lamps-pq-composite-sigs-19 (the version in `qsafe_core::registry::drafts`), with
//! `M` the RFC 9421 §2.5 signature base bytes, unchanged, exactly as c2sp httpsig-pq maps pure
//! ML-DSA. `Kv` is the draft's raw public key `mldsaPK ‖ tradPK`; `S` is the draft's
//! signature `mldsaSig ‖ tradSig` (ECDSA half DER), carried as the `Signature` Byte Sequence.
//! Like the c2sp identifiers these are indivisible and compared case-sensitively. A change of
//! the draft's signature format will get new identifiers, never a silent reinterpretation.
//!
//! RFC 9421's `rsa-pss-sha512`, `rsa-v1_5-sha256` and `hmac-sha256` are not offered: the
//! registry's RSA-PSS uses SHA-256, and shared-secret MACs are out of scope for a gateway that
//! authenticates clients by public key.

use der::asn1::UintRef;
use der::{Decode as _, Encode as _, Sequence};
use qsafe_core::registry::{self, Algorithm};
use qsafe_core::sig::{SigningKey, VerifyingKey};

use super::Error;

/// Where an `alg` value is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// RFC 9421 §3.3 (IANA HTTP Signature Algorithms registry).
    Rfc9421,
    /// c2sp.org/httpsig-pq v1.0.0.
    C2spHttpsigPq,
    /// qsafe's own identifier for a composite (draft) algorithm; not interoperable outside
    /// qsafe until a registration exists.
    QsafeExtension,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// The `qsafe-core` signature bytes as they are.
    Raw,
    /// ECDSA: `qsafe-core` DER `Ecdsa-Sig-Value` ⇄ fixed `r ‖ s` of this many bytes each.
    EcdsaFixed(usize),
}

/// An HTTP message signature algorithm: an `alg` value and how it maps onto a registry
/// algorithm.
#[derive(Debug)]
pub struct HttpSigAlgorithm {
    /// The `alg` parameter value (case-sensitive).
    pub name: &'static str,
    /// The `qsafe-core` registry algorithm of the keys.
    pub algorithm: &'static Algorithm,
    /// Where the name is defined.
    pub source: Source,
    encoding: Encoding,
}

impl PartialEq for HttpSigAlgorithm {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for HttpSigAlgorithm {}

macro_rules! http_alg {
    ($konst:ident, $name:literal, $reg:ident, $source:ident, $enc:expr) => {
        #[doc = concat!("`", $name, "`.")]
        pub static $konst: HttpSigAlgorithm = HttpSigAlgorithm {
            name: $name,
            algorithm: &registry::$reg,
            source: Source::$source,
            encoding: $enc,
        };
    };
}

http_alg!(
    ML_DSA_44,
    "ml-dsa-44",
    ML_DSA_44,
    C2spHttpsigPq,
    Encoding::Raw
);
http_alg!(
    ML_DSA_65,
    "ml-dsa-65",
    ML_DSA_65,
    C2spHttpsigPq,
    Encoding::Raw
);
http_alg!(
    ML_DSA_87,
    "ml-dsa-87",
    ML_DSA_87,
    C2spHttpsigPq,
    Encoding::Raw
);
http_alg!(ED25519, "ed25519", ED25519, Rfc9421, Encoding::Raw);
http_alg!(
    ECDSA_P256_SHA256,
    "ecdsa-p256-sha256",
    ECDSA_P256_SHA256,
    Rfc9421,
    Encoding::EcdsaFixed(32)
);
http_alg!(
    ECDSA_P384_SHA384,
    "ecdsa-p384-sha384",
    ECDSA_P384_SHA384,
    Rfc9421,
    Encoding::EcdsaFixed(48)
);
http_alg!(
    MLDSA44_ED25519_SHA512,
    "mldsa44-ed25519-sha512",
    MLDSA44_ED25519_SHA512,
    QsafeExtension,
    Encoding::Raw
);
http_alg!(
    MLDSA65_ED25519_SHA512,
    "mldsa65-ed25519-sha512",
    MLDSA65_ED25519_SHA512,
    QsafeExtension,
    Encoding::Raw
);
http_alg!(
    MLDSA65_ECDSA_P256_SHA512,
    "mldsa65-ecdsa-p256-sha512",
    MLDSA65_ECDSA_P256_SHA512,
    QsafeExtension,
    Encoding::Raw
);
http_alg!(
    MLDSA87_ECDSA_P384_SHA512,
    "mldsa87-ecdsa-p384-sha512",
    MLDSA87_ECDSA_P384_SHA512,
    QsafeExtension,
    Encoding::Raw
);

/// Every HTTP signature algorithm, post-quantum and hybrid first.
pub static ALL: &[&HttpSigAlgorithm] = &[
    &ML_DSA_44,
    &ML_DSA_65,
    &ML_DSA_87,
    &MLDSA44_ED25519_SHA512,
    &MLDSA65_ED25519_SHA512,
    &MLDSA65_ECDSA_P256_SHA512,
    &MLDSA87_ECDSA_P384_SHA512,
    &ED25519,
    &ECDSA_P256_SHA256,
    &ECDSA_P384_SHA384,
];

/// The algorithm with this exact (case-sensitive) `alg` value.
pub fn by_name(name: &str) -> Option<&'static HttpSigAlgorithm> {
    ALL.iter().copied().find(|a| a.name == name)
}

/// The HTTP algorithm for keys of a registry algorithm.
pub fn for_key(alg: &Algorithm) -> Option<&'static HttpSigAlgorithm> {
    ALL.iter().copied().find(|a| a.algorithm == alg)
}

impl HttpSigAlgorithm {
    /// True for algorithms a quantum computer breaks on its own (Ed25519, ECDSA).
    pub fn is_quantum_vulnerable(&self) -> bool {
        self.algorithm.is_quantum_vulnerable()
    }

    /// `HTTP_SIGN` (RFC 9421 §3.3): signs the signature base bytes.
    pub fn sign(&self, key: &SigningKey, base: &[u8]) -> Result<Vec<u8>, Error> {
        if key.algorithm() != self.algorithm {
            return Err(Error::AlgorithmMismatch {
                alg: self.name.to_owned(),
                key: for_key(key.algorithm()).map_or(key.algorithm().id, |a| a.name),
            });
        }
        let sig = key.sign(base, b"").map_err(Error::Signing)?;
        match self.encoding {
            Encoding::Raw => Ok(sig),
            Encoding::EcdsaFixed(n) => der_to_fixed(&sig, n).ok_or(Error::Signing(
                qsafe_core::Error::Internal("ECDSA signature encoding"),
            )),
        }
    }

    /// `HTTP_VERIFY` (RFC 9421 §3.3): checks `signature` over the base. Every failure,
    /// including a key of another algorithm or a badly sized signature, is
    /// [`Error::BadSignature`].
    pub fn verify(&self, key: &VerifyingKey, base: &[u8], signature: &[u8]) -> Result<(), Error> {
        if key.algorithm() != self.algorithm {
            return Err(Error::BadSignature);
        }
        let result = match self.encoding {
            Encoding::Raw => key.verify(base, b"", signature),
            Encoding::EcdsaFixed(n) => {
                let der = fixed_to_der(signature, n).ok_or(Error::BadSignature)?;
                key.verify(base, b"", &der)
            }
        };
        result.map_err(|_| Error::BadSignature)
    }
}

/// `Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` (RFC 5480 §2.2.3 / RFC 3279).
#[derive(Sequence)]
struct EcdsaSigValue<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

fn der_to_fixed(der: &[u8], n: usize) -> Option<Vec<u8>> {
    let v = EcdsaSigValue::from_der(der).ok()?;
    let mut out = Vec::with_capacity(2 * n);
    for int in [v.r.as_bytes(), v.s.as_bytes()] {
        let pad = n.checked_sub(int.len())?;
        out.extend(core::iter::repeat_n(0u8, pad));
        out.extend_from_slice(int);
    }
    Some(out)
}

fn fixed_to_der(sig: &[u8], n: usize) -> Option<Vec<u8>> {
    if sig.len() != 2 * n {
        return None;
    }
    let (r, s) = sig.split_at(n);
    EcdsaSigValue {
        r: UintRef::new(r).ok()?,
        s: UintRef::new(s).ok()?,
    }
    .to_der()
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_registry_ids_and_are_unique() {
        for (i, a) in ALL.iter().enumerate() {
            assert_eq!(a.name, a.algorithm.id, "alg values are the registry ids");
            assert_eq!(by_name(a.name), Some(*a));
            assert_eq!(for_key(a.algorithm), Some(*a));
            assert!(ALL.iter().skip(i + 1).all(|b| b.name != a.name));
            if a.source == Source::QsafeExtension {
                assert_eq!(a.algorithm.standard, registry::drafts::COMPOSITE_SIGS);
            }
        }
        assert_eq!(by_name("ML-DSA-65"), None, "case-sensitive");
        assert_eq!(by_name("rsa-pss-sha512"), None);
        assert_eq!(for_key(&registry::SHA256), None);
    }

    #[test]
    fn ecdsa_encoding_round_trips() {
        for alg in [&ECDSA_P256_SHA256, &ECDSA_P384_SHA384] {
            let Encoding::EcdsaFixed(n) = alg.encoding else {
                unreachable!()
            };
            let key = SigningKey::generate(alg.algorithm).unwrap();
            for _ in 0..16 {
                let sig = alg.sign(&key, b"base").unwrap();
                assert_eq!(sig.len(), 2 * n);
                alg.verify(&key.verifying_key().unwrap(), b"base", &sig)
                    .unwrap();
                assert_eq!(
                    der_to_fixed(&fixed_to_der(&sig, n).unwrap(), n).unwrap(),
                    sig
                );
            }
        }
        assert_eq!(fixed_to_der(&[0; 63], 32), None);
        assert_eq!(der_to_fixed(&[0x30, 0x00], 32), None);
        // an integer longer than the field
        let long = EcdsaSigValue {
            r: UintRef::new(&[1; 33]).unwrap(),
            s: UintRef::new(&[1]).unwrap(),
        }
        .to_der()
        .unwrap();
        assert_eq!(der_to_fixed(&long, 32), None);
    }

    #[test]
    fn wrong_key_is_refused() {
        let ed = SigningKey::generate(&registry::ED25519).unwrap();
        assert!(matches!(
            ML_DSA_65.sign(&ed, b"m"),
            Err(Error::AlgorithmMismatch { .. })
        ));
        let sig = ED25519.sign(&ed, b"m").unwrap();
        let other = SigningKey::generate(&registry::ML_DSA_44).unwrap();
        assert_eq!(
            ED25519.verify(&other.verifying_key().unwrap(), b"m", &sig),
            Err(Error::BadSignature)
        );
    }
}

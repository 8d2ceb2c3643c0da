//! DER and PEM encodings of [`PrivateKey`] and [`PublicKey`].
//!
//! - Public keys: `SubjectPublicKeyInfo` (RFC 5280 §4.1.2.7). Parameters: the named curve for
//!   EC keys (RFC 5480), NULL for RSA (RFC 8017 A.1), absent otherwise (RFC 8410, RFC 9881,
//!   RFC 9935, the composite and X-Wing drafts). The key bits are the raw encoding.
//! - Private keys: PKCS #8 v1 `OneAsymmetricKey` (RFC 5958). `privateKey` holds:
//!   ML-KEM / ML-DSA the `seed [0] IMPLICIT OCTET STRING` choice (RFC 9935 §6, RFC 9881 §6),
//!   or `expandedKey OCTET STRING` for keys imported without a seed; X25519/Ed25519 a
//!   `CurvePrivateKey` OCTET STRING (RFC 8410 §7); EC an `ECPrivateKey` (RFC 5915);
//!   RSA an `RSAPrivateKey` (RFC 8017); X-Wing and composites the raw stored form.
//! - Algorithms with no OID (`x25519-mlkem768`, `x25519-mlkem1024-hkdf-sha384`) use the qsafe
//!   envelope `SEQUENCE { algorithm UTF8String, key OCTET STRING }` under the PEM labels
//!   `QSAFE PUBLIC KEY` / `QSAFE PRIVATE KEY` (docs/keys.md).

use der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef, Utf8StringRef};
use der::{Decode, Encode, Sequence};
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};
use zeroize::Zeroizing;

use super::{PrivateKey, PublicKey};
use crate::registry::{self, AlgId, Algorithm, Kind};
use crate::secret::SecretBytes;
use crate::{Error, Result};

/// PEM label of PKCS #8 private keys.
pub const PEM_PRIVATE: &str = "PRIVATE KEY";
/// PEM label of SubjectPublicKeyInfo public keys.
pub const PEM_PUBLIC: &str = "PUBLIC KEY";
/// PEM label of the qsafe private-key envelope.
pub const PEM_QSAFE_PRIVATE: &str = "QSAFE PRIVATE KEY";
/// PEM label of the qsafe public-key envelope.
pub const PEM_QSAFE_PUBLIC: &str = "QSAFE PUBLIC KEY";

#[derive(Sequence)]
struct Envelope<'a> {
    algorithm: Utf8StringRef<'a>,
    key: OctetStringRef<'a>,
}

fn enc_err(e: der::Error) -> Error {
    Error::Encoding(e.to_string())
}

fn oid(s: &'static str) -> Result<ObjectIdentifier> {
    ObjectIdentifier::new(s).map_err(|_| Error::Internal("registry OID"))
}

/// The `AlgorithmIdentifier` parameters as owned DER (curve OID or NULL).
fn params_der(alg: &Algorithm) -> Result<Option<Vec<u8>>> {
    if alg.alg_id == AlgId::RsaPss2048Sha256 {
        return Ok(Some(vec![0x05, 0x00]));
    }
    match (alg.oid, alg.oid_params) {
        (Some("1.2.840.10045.2.1"), Some(curve)) => {
            Ok(Some(oid(curve)?.to_der().map_err(enc_err)?))
        }
        _ => Ok(None),
    }
}

fn with_alg_id<T>(
    alg: &'static Algorithm,
    f: impl FnOnce(AlgorithmIdentifierRef<'_>) -> Result<T>,
) -> Result<T> {
    let key_oid = oid(alg.oid.ok_or(Error::Internal("no OID"))?)?;
    let params = params_der(alg)?;
    let parameters = params
        .as_deref()
        .map(AnyRef::from_der)
        .transpose()
        .map_err(enc_err)?;
    f(AlgorithmIdentifierRef {
        oid: key_oid,
        parameters,
    })
}

/// DER public key: SPKI, or the qsafe envelope for OID-less algorithms.
pub fn public_to_der(key: &PublicKey) -> Result<Vec<u8>> {
    let alg = key.algorithm();
    if alg.oid.is_none() {
        return envelope(alg, key.raw());
    }
    with_alg_id(alg, |algorithm| {
        let subject_public_key = der::asn1::BitStringRef::from_bytes(key.raw()).map_err(enc_err)?;
        SubjectPublicKeyInfoRef {
            algorithm,
            subject_public_key,
        }
        .to_der()
        .map_err(enc_err)
    })
}

/// PEM public key.
pub fn public_to_pem(key: &PublicKey) -> Result<String> {
    let label = if key.algorithm().oid.is_none() {
        PEM_QSAFE_PUBLIC
    } else {
        PEM_PUBLIC
    };
    pem(label, &public_to_der(key)?)
}

/// DER private key: PKCS #8, or the qsafe envelope for OID-less algorithms.
pub fn private_to_der(key: &PrivateKey) -> Result<SecretBytes> {
    let alg = key.algorithm();
    let inner = private_inner(key)?;
    if alg.oid.is_none() {
        return envelope(alg, inner.expose()).map(SecretBytes::new);
    }
    with_alg_id(alg, |algorithm| {
        let info = pkcs8::PrivateKeyInfo {
            algorithm,
            private_key: inner.expose(),
            public_key: None,
        };
        info.to_der().map(SecretBytes::new).map_err(enc_err)
    })
}

/// PEM private key.
pub fn private_to_pem(key: &PrivateKey) -> Result<Zeroizing<String>> {
    let label = if key.algorithm().oid.is_none() {
        PEM_QSAFE_PRIVATE
    } else {
        PEM_PRIVATE
    };
    pem(label, private_to_der(key)?.expose()).map(Zeroizing::new)
}

fn pem(label: &str, der: &[u8]) -> Result<String> {
    pem_rfc7468::encode_string(label, pem_rfc7468::LineEnding::LF, der)
        .map_err(|e| Error::Encoding(e.to_string()))
}

fn envelope(alg: &'static Algorithm, key: &[u8]) -> Result<Vec<u8>> {
    let env = Envelope {
        algorithm: Utf8StringRef::new(alg.id).map_err(enc_err)?,
        key: OctetStringRef::new(key).map_err(enc_err)?,
    };
    env.to_der().map_err(enc_err)
}

/// The `privateKey` OCTET STRING contents.
fn private_inner(key: &PrivateKey) -> Result<SecretBytes> {
    let alg = key.algorithm();
    let raw = key.raw()?;
    let seeded = |seed: Option<&[u8]>, expanded: Option<&[u8]>| -> Result<SecretBytes> {
        match (seed, expanded) {
            (Some(seed), _) => {
                let len = u8::try_from(seed.len()).map_err(|_| Error::Internal("seed length"))?;
                Ok(SecretBytes::new([&[0x80, len][..], seed].concat()))
            }
            (None, Some(exp)) => OctetStringRef::new(exp)
                .and_then(|o| o.to_der())
                .map(SecretBytes::new)
                .map_err(enc_err),
            (None, None) => Err(Error::Internal("no private form")),
        }
    };
    match (alg.alg_id, key) {
        (AlgId::MlKem512 | AlgId::MlKem768 | AlgId::MlKem1024, PrivateKey::Kem(k)) => {
            seeded(k.mlkem_seed(), k.mlkem_expanded())
        }
        (AlgId::MlDsa44 | AlgId::MlDsa65 | AlgId::MlDsa87, PrivateKey::Sig(k)) => {
            seeded(k.mldsa_seed(), k.mldsa_expanded())
        }
        (AlgId::X25519 | AlgId::Ed25519, _) => OctetStringRef::new(raw.expose())
            .and_then(|o| o.to_der())
            .map(SecretBytes::new)
            .map_err(enc_err),
        (AlgId::P256 | AlgId::P384 | AlgId::EcdsaP256Sha256 | AlgId::EcdsaP384Sha384, _) => {
            crate::sec1_key::encode(raw.expose(), None, Some(key.public_key()?.raw()))
        }
        _ => Ok(raw),
    }
}

/// Reads a private key from PEM or DER. `kind` settles keys whose OID serves both a KEM and a
/// signature (EC keys); `None` takes the first match.
pub fn private_from_bytes(input: &[u8], kind: Option<Kind>) -> Result<PrivateKey> {
    let (label, der) = pem_or_der(input, &[PEM_PRIVATE, PEM_QSAFE_PRIVATE])?;
    let der = Zeroizing::new(der);
    if label == Some(PEM_QSAFE_PRIVATE) || looks_like_envelope(&der) {
        let (alg, key) = open_envelope(&der)?;
        return PrivateKey::from_raw(alg, key);
    }
    let info = pkcs8::PrivateKeyInfo::from_der(&der)
        .map_err(|e| Error::Encoding(format!("not a PKCS #8 private key ({e})")))?;
    let alg = lookup(&info.algorithm, kind)?;
    let key = private_from_inner(alg, info.private_key)?;
    crate::sec1_key::check_embedded_public(alg.id, info.public_key, key.public_key()?.raw())?;
    Ok(key)
}

/// Reads a public key from PEM or DER.
pub fn public_from_bytes(input: &[u8], kind: Option<Kind>) -> Result<PublicKey> {
    let (label, der) = pem_or_der(input, &[PEM_PUBLIC, PEM_QSAFE_PUBLIC])?;
    if label == Some(PEM_QSAFE_PUBLIC) || looks_like_envelope(&der) {
        let (alg, key) = open_envelope(&der)?;
        return PublicKey::from_raw(alg, key);
    }
    let spki = SubjectPublicKeyInfoRef::from_der(&der)
        .map_err(|e| Error::Encoding(format!("not a SubjectPublicKeyInfo public key ({e})")))?;
    let alg = lookup(&spki.algorithm, kind)?;
    let bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| Error::Encoding("public key BIT STRING has unused bits".into()))?;
    PublicKey::from_raw(alg, bits)
}

fn looks_like_envelope(der: &[u8]) -> bool {
    Envelope::from_der(der).is_ok()
}

fn open_envelope(der: &[u8]) -> Result<(&'static Algorithm, &[u8])> {
    let env = Envelope::from_der(der)
        .map_err(|e| Error::Encoding(format!("not a qsafe key envelope ({e})")))?;
    let id = env.algorithm.as_str();
    let alg = registry::by_id(id).ok_or_else(|| {
        // The name comes from the file: keep only printable ASCII before showing it.
        let shown: String = id
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(64)
            .collect();
        Error::UnknownAlgorithm(shown)
    })?;
    Ok((alg, env.key.as_bytes()))
}

/// Finds the registry entry for an `AlgorithmIdentifier`. `kind` only breaks ties (EC keys
/// serve both ECDH and ECDSA); a key of the other kind is still found so that the caller can
/// say "this is a signature key" instead of "unknown OID".
fn lookup(alg_id: &AlgorithmIdentifierRef<'_>, kind: Option<Kind>) -> Result<&'static Algorithm> {
    let key_oid = alg_id.oid.to_string();
    let params = alg_id.parameters_oid().ok().map(|o| o.to_string());
    let kinds: &[Kind] = match kind {
        Some(Kind::Signature) => &[Kind::Signature, Kind::Kem],
        _ => &[Kind::Kem, Kind::Signature],
    };
    kinds
        .iter()
        .find_map(|k| registry::by_oid(&key_oid, params.as_deref(), *k))
        .ok_or_else(|| {
            let curve = params.map(|p| format!(" ({p})")).unwrap_or_default();
            Error::UnknownAlgorithm(format!("OID {key_oid}{curve}"))
        })
}

fn private_from_inner(alg: &'static Algorithm, inner: &[u8]) -> Result<PrivateKey> {
    match alg.alg_id {
        AlgId::MlKem512
        | AlgId::MlKem768
        | AlgId::MlKem1024
        | AlgId::MlDsa44
        | AlgId::MlDsa65
        | AlgId::MlDsa87 => seed_choice(alg, inner),
        AlgId::X25519 | AlgId::Ed25519 => {
            let os = OctetStringRef::from_der(inner).map_err(|_| {
                Error::bad_private(alg.id, "expected CurvePrivateKey OCTET STRING (RFC 8410)")
            })?;
            PrivateKey::from_seed(alg, os.as_bytes())
        }
        AlgId::P256 | AlgId::P384 | AlgId::EcdsaP256Sha256 | AlgId::EcdsaP384Sha384 => {
            let curve = oid(alg.oid_params.ok_or(Error::Internal("EC curve"))?)?;
            let ec = crate::sec1_key::parse(inner, curve, alg.id)?;
            let key = PrivateKey::from_seed(alg, ec.scalar)?;
            crate::sec1_key::check_embedded_public(alg.id, ec.public, key.public_key()?.raw())?;
            Ok(key)
        }
        _ => PrivateKey::from_raw(alg, inner),
    }
}

/// The ML-KEM / ML-DSA private key CHOICE: `seed [0]`, `expandedKey`, or `both` (checked).
fn seed_choice(alg: &'static Algorithm, inner: &[u8]) -> Result<PrivateKey> {
    match inner.first() {
        Some(0x80) => {
            let (len, rest) = match inner.get(1..) {
                Some([len, rest @ ..]) => (usize::from(*len), rest),
                _ => return Err(Error::bad_private(alg.id, "truncated seed")),
            };
            if len >= 0x80 || rest.len() != len {
                return Err(Error::bad_private(alg.id, "malformed [0] seed"));
            }
            PrivateKey::from_seed(alg, rest)
        }
        Some(0x04) => {
            let os = OctetStringRef::from_der(inner).map_err(enc_err)?;
            if Some(os.as_bytes().len()) == alg.sizes.private_key {
                return Err(Error::bad_private(
                    alg.id,
                    "expandedKey holds a seed; use the seed [0] choice",
                ));
            }
            PrivateKey::from_raw(alg, os.as_bytes())
        }
        Some(0x30) => {
            let both: Both<'_> = Both::from_der(inner).map_err(enc_err)?;
            let key = PrivateKey::from_seed(alg, both.seed.as_bytes())?;
            let expanded_matches = match &key {
                PrivateKey::Kem(k) => k.mlkem_expanded() == Some(both.expanded.as_bytes()),
                PrivateKey::Sig(k) => k.mldsa_expanded() == Some(both.expanded.as_bytes()),
            };
            if !expanded_matches {
                return Err(Error::bad_private(alg.id, "seed and expanded key disagree"));
            }
            Ok(key)
        }
        _ => Err(Error::bad_private(
            alg.id,
            "expected seed, expandedKey or both (RFC 9881/9935)",
        )),
    }
}

#[derive(Sequence)]
struct Both<'a> {
    seed: OctetStringRef<'a>,
    expanded: OctetStringRef<'a>,
}

/// Splits PEM (with one of `labels`) from DER input; DER passes through.
fn pem_or_der(input: &[u8], labels: &[&'static str]) -> Result<(Option<&'static str>, Vec<u8>)> {
    let trimmed = input.trim_ascii_start();
    if !trimmed.starts_with(b"-----BEGIN ") {
        if trimmed.first() == Some(&0x30) {
            return Ok((None, trimmed.to_vec()));
        }
        return Err(Error::Encoding(format!(
            "neither PEM nor DER: expected '-----BEGIN {}-----' or a DER SEQUENCE",
            labels.first().unwrap_or(&"")
        )));
    }
    let (label, der) = pem_rfc7468::decode_vec(trimmed)
        .map_err(|e| Error::Encoding(format!("malformed PEM ({e})")))?;
    let known = labels.iter().find(|l| **l == label).copied();
    match known {
        Some(l) => Ok((Some(l), der)),
        None => Err(Error::Encoding(format!(
            "PEM label is '{label}', expected one of: {}",
            labels.join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::ALL;

    #[test]
    fn every_key_round_trips_through_pem_and_der() {
        let mut n = 0;
        for alg in ALL
            .iter()
            .copied()
            .filter(|a| matches!(a.kind, Kind::Kem | Kind::Signature) && a.is_available())
        {
            let sk = PrivateKey::generate(alg).unwrap();
            let pem = private_to_pem(&sk).unwrap();
            let back = private_from_bytes(pem.as_bytes(), Some(alg.kind)).unwrap();
            assert_eq!(back.algorithm().id, alg.id);
            assert_eq!(back.raw().unwrap(), sk.raw().unwrap(), "{}", alg.id);
            let der = private_to_der(&sk).unwrap();
            assert_eq!(
                private_from_bytes(der.expose(), Some(alg.kind))
                    .unwrap()
                    .raw()
                    .unwrap(),
                sk.raw().unwrap()
            );
            let pk = sk.public_key().unwrap();
            let pem = public_to_pem(&pk).unwrap();
            let back = public_from_bytes(pem.as_bytes(), Some(alg.kind)).unwrap();
            assert_eq!(back.raw(), pk.raw(), "{}", alg.id);
            assert_eq!(back.fingerprint().unwrap(), pk.fingerprint().unwrap());
            n += 1;
        }
        let (kems, sigs) = crate::registry::available_key_algorithms();
        assert_eq!(n, kems + sigs);
    }

    #[test]
    fn xwing_sample_keys_from_the_draft_parse() {
        // draft-connolly-cfrg-xwing-kem x509/xwing.priv (seed 00..1f)
        let pem = "-----BEGIN PRIVATE KEY-----\nMDQCAQAwDQYLKwYBBAGD5i2ByHoEIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZ\nGhscHR4f\n-----END PRIVATE KEY-----\n";
        let key = private_from_bytes(pem.as_bytes(), None).unwrap();
        assert_eq!(key.algorithm().id, "x-wing");
        assert_eq!(
            key.raw().unwrap().expose(),
            (0u8..32).collect::<Vec<_>>().as_slice()
        );
        assert_eq!(private_to_pem(&key).unwrap().as_str(), pem);
    }

    #[test]
    fn mlkem_seed_form_is_the_rfc9935_choice() {
        let key = PrivateKey::from_seed(&registry::ML_KEM_768, &[7u8; 64]).unwrap();
        let der = private_to_der(&key).unwrap();
        let info = pkcs8::PrivateKeyInfo::from_der(der.expose()).unwrap();
        assert_eq!(&info.private_key[..2], &[0x80, 0x40]);
        assert_eq!(info.algorithm.oid.to_string(), "2.16.840.1.101.3.4.4.2");
    }

    #[test]
    fn a_seed_inside_expanded_key_is_refused() {
        // PKCS#8 for ml-kem-768 whose privateKey is `expandedKey OCTET STRING` of 64 bytes.
        let inner = OctetStringRef::new(&[7u8; 64]).unwrap().to_der().unwrap();
        let der = with_alg_id(&registry::ML_KEM_768, |algorithm| {
            pkcs8::PrivateKeyInfo {
                algorithm,
                private_key: &inner,
                public_key: None,
            }
            .to_der()
            .map_err(enc_err)
        })
        .unwrap();
        let err = private_from_bytes(&der, None).unwrap_err();
        assert!(
            err.to_string().contains("expandedKey holds a seed"),
            "{err}"
        );
    }

    #[test]
    fn composite_keys_must_use_the_drafts_ec_private_key_form() {
        let key = PrivateKey::generate(&registry::MLKEM768_P256).unwrap();
        let raw = key.raw().unwrap();
        let (seed, ec) = raw.expose().split_at(64);
        let parsed = sec1::EcPrivateKey::from_der(ec).unwrap();
        let public = key.public_key().unwrap().raw()[1184..].to_vec();
        let with_public = sec1::EcPrivateKey {
            public_key: Some(&public),
            ..parsed.clone()
        }
        .to_der()
        .unwrap();
        let no_curve = sec1::EcPrivateKey {
            parameters: None,
            ..parsed
        }
        .to_der()
        .unwrap();
        for bad in [with_public, no_curve] {
            assert!(
                PrivateKey::from_raw(&registry::MLKEM768_P256, &[seed, &bad].concat()).is_err()
            );
        }
    }

    #[test]
    fn bad_inputs_name_the_problem() {
        let err = private_from_bytes(b"hello", None).unwrap_err();
        assert!(err.to_string().contains("neither PEM nor DER"), "{err}");
        let err = private_from_bytes(
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("CERTIFICATE"), "{err}");
        let key = PrivateKey::generate(&registry::ML_DSA_44).unwrap();
        let pem = private_to_pem(&key).unwrap();
        let truncated = &pem.as_bytes()[..pem.len() / 2];
        assert!(private_from_bytes(truncated, None).is_err());
        assert!(
            public_from_bytes(pem.as_bytes(), None)
                .unwrap_err()
                .to_string()
                .contains("PRIVATE KEY")
        );
    }
}

//! Classical signatures on aws-lc: Ed25519 (RFC 8032), ECDSA P-256/SHA-256 and P-384/SHA-384
//! (FIPS 186-5, DER `Ecdsa-Sig-Value` signatures), RSASSA-PSS 2048 with SHA-256 (RFC 8017,
//! salt length = hash length). They are the classical halves of composites and the
//! quantum-vulnerable baselines.

use aws_lc_rs::encoding::{AsBigEndian, AsDer, EcPrivateKeyBin, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self as aws_sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair, UnparsedPublicKey,
};
use der::Decode;
use zeroize::Zeroizing;

use crate::sec1_key;
use crate::secret::SecretBytes;
use crate::{Error, Result};

/// A classical signature scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Ed25519,
    EcdsaP256,
    EcdsaP384,
    RsaPss2048,
}

impl Scheme {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Scheme::Ed25519 => "ed25519",
            Scheme::EcdsaP256 => "ecdsa-p256-sha256",
            Scheme::EcdsaP384 => "ecdsa-p384-sha384",
            Scheme::RsaPss2048 => "rsa-pss-2048-sha256",
        }
    }

    fn ecdsa(
        self,
    ) -> Option<(
        &'static aws_sig::EcdsaSigningAlgorithm,
        &'static aws_sig::EcdsaVerificationAlgorithm,
        der::asn1::ObjectIdentifier,
        usize,
    )> {
        match self {
            Scheme::EcdsaP256 => Some((
                &aws_sig::ECDSA_P256_SHA256_ASN1_SIGNING,
                &aws_sig::ECDSA_P256_SHA256_ASN1,
                sec1_key::SECP256R1,
                32,
            )),
            Scheme::EcdsaP384 => Some((
                &aws_sig::ECDSA_P384_SHA384_ASN1_SIGNING,
                &aws_sig::ECDSA_P384_SHA384_ASN1,
                sec1_key::SECP384R1,
                48,
            )),
            _ => None,
        }
    }

    /// Length of a fixed-size public key, `None` for RSA (DER `RSAPublicKey`).
    pub(crate) fn public_len(self) -> Option<usize> {
        match self {
            Scheme::Ed25519 => Some(32),
            Scheme::EcdsaP256 => Some(65),
            Scheme::EcdsaP384 => Some(97),
            Scheme::RsaPss2048 => None,
        }
    }

    pub(crate) fn check_public(self, pk: &[u8]) -> Result<()> {
        if let Some(want) = self.public_len()
            && pk.len() != want
        {
            return Err(Error::length("public key", self.name(), want, pk.len()));
        }
        if self.ecdsa().is_some() && pk.first() != Some(&0x04) {
            return Err(Error::bad_public(
                self.name(),
                "not an uncompressed SEC 1 point",
            ));
        }
        // A DER RSAPublicKey with a 2048-bit modulus and a small exponent is 266-270 bytes;
        // the full parse happens at verification.
        if self == Scheme::RsaPss2048
            && (!(260..=300).contains(&pk.len()) || pk.first() != Some(&0x30))
        {
            return Err(Error::bad_public(
                self.name(),
                "not a DER RSAPublicKey of a 2048-bit modulus",
            ));
        }
        Ok(())
    }

    pub(crate) fn verify(self, pk: &[u8], msg: &[u8], sig: &[u8]) -> Result<()> {
        self.check_public(pk)?;
        let result = match self {
            Scheme::Ed25519 => UnparsedPublicKey::new(&aws_sig::ED25519, pk).verify(msg, sig),
            Scheme::EcdsaP256 | Scheme::EcdsaP384 => {
                let (_, verify, _, _) = self.ecdsa().ok_or(Error::Internal("ecdsa params"))?;
                UnparsedPublicKey::new(verify, pk).verify(msg, sig)
            }
            Scheme::RsaPss2048 => {
                UnparsedPublicKey::new(&aws_sig::RSA_PSS_2048_8192_SHA256, pk).verify(msg, sig)
            }
        };
        result.map_err(|_| Error::Verification)
    }
}

enum Inner {
    Ed25519(Ed25519KeyPair, Zeroizing<[u8; 32]>),
    Ecdsa(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// A classical signing key.
pub(crate) struct PrivateKey {
    scheme: Scheme,
    inner: Inner,
    public: Vec<u8>,
}

impl PrivateKey {
    pub(crate) fn generate(scheme: Scheme) -> Result<Self> {
        match scheme {
            Scheme::Ed25519 => {
                let seed = crate::secret::random_array::<32>()?;
                Self::from_raw(scheme, seed.as_slice())
            }
            Scheme::EcdsaP256 | Scheme::EcdsaP384 => {
                let (signing, _, _, _) = scheme.ecdsa().ok_or(Error::Internal("ecdsa params"))?;
                let kp =
                    EcdsaKeyPair::generate(signing).map_err(|_| Error::Internal("ecdsa keygen"))?;
                let public = kp.public_key().as_ref().to_vec();
                Ok(PrivateKey {
                    scheme,
                    inner: Inner::Ecdsa(kp),
                    public,
                })
            }
            Scheme::RsaPss2048 => {
                let kp = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .map_err(|_| Error::Internal("rsa keygen"))?;
                Self::wrap_rsa(kp)
            }
        }
    }

    /// From the raw stored form: the Ed25519 seed, the big-endian ECDSA scalar, or a DER
    /// PKCS #1 `RSAPrivateKey`.
    pub(crate) fn from_raw(scheme: Scheme, bytes: &[u8]) -> Result<Self> {
        let name = scheme.name();
        match scheme {
            Scheme::Ed25519 => {
                let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
                    bytes
                        .try_into()
                        .map_err(|_| Error::length("private key", name, 32, bytes.len()))?,
                );
                let kp = Ed25519KeyPair::from_seed_unchecked(seed.as_slice())
                    .map_err(|_| Error::bad_private(name, "seed rejected"))?;
                let public = kp.public_key().as_ref().to_vec();
                Ok(PrivateKey {
                    scheme,
                    inner: Inner::Ed25519(kp, seed),
                    public,
                })
            }
            Scheme::EcdsaP256 | Scheme::EcdsaP384 => {
                let (signing, _, oid, len) =
                    scheme.ecdsa().ok_or(Error::Internal("ecdsa params"))?;
                if bytes.len() != len {
                    return Err(Error::length("private key", name, len, bytes.len()));
                }
                let der = sec1_key::encode(bytes, Some(oid), None)?;
                let kp = EcdsaKeyPair::from_private_key_der(signing, der.expose())
                    .map_err(|_| Error::bad_private(name, "scalar out of range"))?;
                let public = kp.public_key().as_ref().to_vec();
                Ok(PrivateKey {
                    scheme,
                    inner: Inner::Ecdsa(kp),
                    public,
                })
            }
            Scheme::RsaPss2048 => {
                let kp = RsaKeyPair::from_der(bytes)
                    .map_err(|_| Error::bad_private(name, "not a DER RSAPrivateKey (PKCS #1)"))?;
                Self::wrap_rsa(kp)
            }
        }
    }

    /// From an RFC 5915 `ECPrivateKey` (the composite-signature draft's form).
    pub(crate) fn from_ec_private_key_der(scheme: Scheme, der_bytes: &[u8]) -> Result<Self> {
        let name = scheme.name();
        let (_, _, oid, _) = scheme.ecdsa().ok_or(Error::Unsupported {
            alg: name,
            what: "ECPrivateKey",
        })?;
        let parsed = sec1_key::parse_composite(der_bytes, oid, name)?;
        let key = Self::from_raw(scheme, parsed.scalar)?;
        sec1_key::check_embedded_public(name, parsed.public, &key.public)?;
        Ok(key)
    }

    fn wrap_rsa(kp: RsaKeyPair) -> Result<Self> {
        if kp.public_modulus_len() != 256 {
            return Err(Error::bad_private(
                Scheme::RsaPss2048.name(),
                "modulus is not 2048 bits",
            ));
        }
        let public = kp.public_key().as_ref().to_vec();
        Ok(PrivateKey {
            scheme: Scheme::RsaPss2048,
            inner: Inner::Rsa(kp),
            public,
        })
    }

    pub(crate) fn public(&self) -> &[u8] {
        &self.public
    }

    /// The raw stored form (see [`PrivateKey::from_raw`]).
    pub(crate) fn raw(&self) -> Result<SecretBytes> {
        let err = |_| Error::Internal("private key export");
        match &self.inner {
            Inner::Ed25519(_, seed) => Ok(SecretBytes::from_slice(seed.as_slice())),
            Inner::Ecdsa(kp) => {
                let b: EcPrivateKeyBin<'_> = kp.private_key().as_be_bytes().map_err(err)?;
                Ok(SecretBytes::from_slice(b.as_ref()))
            }
            Inner::Rsa(kp) => {
                let p8: Pkcs8V1Der<'_> = kp.as_der().map_err(err)?;
                let info = pkcs8::PrivateKeyInfo::from_der(p8.as_ref())
                    .map_err(|_| Error::Internal("rsa pkcs8"))?;
                Ok(SecretBytes::from_slice(info.private_key))
            }
        }
    }

    /// The composite draft's private form: ECPrivateKey (no public key) for ECDSA, else raw.
    pub(crate) fn composite_form(&self) -> Result<SecretBytes> {
        match self.scheme.ecdsa() {
            Some((_, _, oid, _)) => sec1_key::encode(self.raw()?.expose(), Some(oid), None),
            None => self.raw(),
        }
    }

    pub(crate) fn sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
        let err = |_| Error::Internal("sign");
        match &self.inner {
            Inner::Ed25519(kp, _) => Ok(kp.sign(msg).as_ref().to_vec()),
            Inner::Ecdsa(kp) => Ok(kp
                .sign(&SystemRandom::new(), msg)
                .map_err(err)?
                .as_ref()
                .to_vec()),
            Inner::Rsa(kp) => {
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(
                    &aws_sig::RSA_PSS_SHA256,
                    &SystemRandom::new(),
                    msg,
                    &mut sig,
                )
                .map_err(err)?;
                Ok(sig)
            }
        }
    }
}

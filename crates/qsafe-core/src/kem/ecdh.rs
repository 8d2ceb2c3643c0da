//! Raw elliptic-curve Diffie-Hellman on aws-lc: the classical half of every hybrid KEM and the
//! group operation under DHKEM. Public keys are X25519 raw (RFC 7748) or uncompressed SEC 1
//! points; private keys are the raw scalar, and for NIST curves also RFC 5915 `ECPrivateKey`
//! (the form the composite-KEM draft stores).

use aws_lc_rs::agreement::{self, UnparsedPublicKey};
use aws_lc_rs::encoding::{AsBigEndian, Curve25519SeedBin, EcPrivateKeyBin};

use crate::sec1_key;
use crate::secret::SecretBytes;
use crate::{Error, Result};

/// A curve used for key agreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Curve {
    X25519,
    P256,
    P384,
}

impl Curve {
    fn aws(self) -> &'static agreement::Algorithm {
        match self {
            Curve::X25519 => &agreement::X25519,
            Curve::P256 => &agreement::ECDH_P256,
            Curve::P384 => &agreement::ECDH_P384,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Curve::X25519 => "x25519",
            Curve::P256 => "p256",
            Curve::P384 => "p384",
        }
    }

    pub(crate) fn scalar_len(self) -> usize {
        match self {
            Curve::X25519 | Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }

    pub(crate) fn public_len(self) -> usize {
        match self {
            Curve::X25519 => 32,
            Curve::P256 => 65,
            Curve::P384 => 97,
        }
    }

    fn oid(self) -> Option<der::asn1::ObjectIdentifier> {
        match self {
            Curve::X25519 => None,
            Curve::P256 => Some(sec1_key::SECP256R1),
            Curve::P384 => Some(sec1_key::SECP384R1),
        }
    }
}

/// A peer public key of known length and form; on-curve checks happen in aws-lc at use.
#[derive(Clone)]
pub(crate) struct PublicKey {
    curve: Curve,
    bytes: Vec<u8>,
}

impl PublicKey {
    pub(crate) fn from_bytes(curve: Curve, bytes: &[u8]) -> Result<Self> {
        if bytes.len() != curve.public_len() {
            return Err(Error::length(
                "public key",
                curve.name(),
                curve.public_len(),
                bytes.len(),
            ));
        }
        if curve != Curve::X25519 && bytes.first() != Some(&0x04) {
            return Err(Error::bad_public(
                curve.name(),
                "not an uncompressed SEC 1 point",
            ));
        }
        let parsed =
            agreement::ParsedPublicKey::try_from(&UnparsedPublicKey::new(curve.aws(), bytes));
        if parsed.is_err() {
            return Err(Error::bad_public(curve.name(), "not a point on the curve"));
        }
        Ok(PublicKey {
            curve,
            bytes: bytes.to_vec(),
        })
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// A static or ephemeral private scalar.
pub(crate) struct PrivateKey {
    curve: Curve,
    aws: agreement::PrivateKey,
    public: PublicKey,
}

impl PrivateKey {
    pub(crate) fn generate(curve: Curve) -> Result<Self> {
        let aws = agreement::PrivateKey::generate(curve.aws())
            .map_err(|_| Error::Internal("ecdh keygen"))?;
        Self::wrap(curve, aws)
    }

    /// From the raw scalar: 32 bytes for X25519 (RFC 7748 clamps it), a big-endian scalar in
    /// `[1, n-1]` for the NIST curves.
    pub(crate) fn from_scalar(curve: Curve, scalar: &[u8]) -> Result<Self> {
        if scalar.len() != curve.scalar_len() {
            return Err(Error::length(
                "private key",
                curve.name(),
                curve.scalar_len(),
                scalar.len(),
            ));
        }
        let aws = agreement::PrivateKey::from_private_key(curve.aws(), scalar)
            .map_err(|_| Error::bad_private(curve.name(), "scalar out of range"))?;
        Self::wrap(curve, aws)
    }

    /// From an RFC 5915 `ECPrivateKey` (NIST curves); parameters, if present, must name the curve.
    pub(crate) fn from_ec_private_key_der(curve: Curve, der_bytes: &[u8]) -> Result<Self> {
        let Some(oid) = curve.oid() else {
            return Self::from_scalar(curve, der_bytes);
        };
        let parsed = sec1_key::parse_composite(der_bytes, oid, curve.name())?;
        let me = Self::from_scalar(curve, parsed.scalar)?;
        sec1_key::check_embedded_public(curve.name(), parsed.public, me.public.bytes())?;
        Ok(me)
    }

    fn wrap(curve: Curve, aws: agreement::PrivateKey) -> Result<Self> {
        let pk = aws
            .compute_public_key()
            .map_err(|_| Error::Internal("ecdh public key"))?;
        let public = PublicKey {
            curve,
            bytes: pk.as_ref().to_vec(),
        };
        Ok(PrivateKey { curve, aws, public })
    }

    pub(crate) fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The raw scalar (X25519: the 32-byte private key).
    pub(crate) fn scalar(&self) -> Result<SecretBytes> {
        let err = |_| Error::Internal("ecdh export");
        Ok(match self.curve {
            Curve::X25519 => {
                let b: Curve25519SeedBin<'_> = self.aws.as_be_bytes().map_err(err)?;
                SecretBytes::from_slice(b.as_ref())
            }
            _ => {
                let b: EcPrivateKeyBin<'_> = self.aws.as_be_bytes().map_err(err)?;
                SecretBytes::from_slice(b.as_ref())
            }
        })
    }

    /// RFC 5915 `ECPrivateKey` with the named curve and without the public key (the
    /// composite-KEM draft's form); the raw key for X25519.
    pub(crate) fn to_ec_private_key_der(&self) -> Result<SecretBytes> {
        let scalar = self.scalar()?;
        match self.curve.oid() {
            None => Ok(scalar),
            Some(oid) => sec1_key::encode(scalar.expose(), Some(oid), None),
        }
    }

    /// Raw Diffie-Hellman output. aws-lc rejects an all-zero X25519 result (RFC 7748 §6.1) and
    /// points not on the curve.
    pub(crate) fn agree(&self, peer: &PublicKey) -> Result<SecretBytes> {
        if peer.curve != self.curve {
            return Err(Error::bad_public(
                self.curve.name(),
                "peer key is on another curve",
            ));
        }
        agreement::agree(
            &self.aws,
            UnparsedPublicKey::new(self.curve.aws(), peer.bytes()),
            Error::Decapsulation,
            |z| Ok(SecretBytes::from_slice(z)),
        )
    }
}

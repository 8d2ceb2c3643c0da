//! RFC 5915 `ECPrivateKey`, shared by ECDH, ECDSA and the key codec.

use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};

use crate::secret::SecretBytes;
use crate::{Error, Result};

/// secp256r1 (RFC 5480).
pub(crate) const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// secp384r1 (RFC 5480).
pub(crate) const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// A parsed `ECPrivateKey`: the scalar and the optional embedded public key.
pub(crate) struct Parsed<'a> {
    pub scalar: &'a [u8],
    pub public: Option<&'a [u8]>,
}

/// Parses `der`; a `parameters` field, when present, must name `curve`.
pub(crate) fn parse<'a>(
    der: &'a [u8],
    curve: ObjectIdentifier,
    alg: &'static str,
) -> Result<Parsed<'a>> {
    let key = sec1::EcPrivateKey::from_der(der)
        .map_err(|_| Error::bad_private(alg, "not a DER ECPrivateKey (RFC 5915)"))?;
    if let Some(params) = key.parameters
        && params.named_curve() != Some(curve)
    {
        return Err(Error::bad_private(alg, "ECPrivateKey names another curve"));
    }
    Ok(Parsed {
        scalar: key.private_key,
        public: key.public_key,
    })
}

/// Parses the composite drafts' form (composite-KEM §4.3, composite-sigs §4.3): the named
/// curve MUST be present and the public key MUST be absent.
pub(crate) fn parse_composite<'a>(
    der: &'a [u8],
    curve: ObjectIdentifier,
    alg: &'static str,
) -> Result<Parsed<'a>> {
    let key = sec1::EcPrivateKey::from_der(der)
        .map_err(|_| Error::bad_private(alg, "not a DER ECPrivateKey (RFC 5915)"))?;
    if key.parameters.and_then(|p| p.named_curve()) != Some(curve) {
        return Err(Error::bad_private(
            alg,
            "composite ECPrivateKey must name its curve",
        ));
    }
    if key.public_key.is_some() {
        return Err(Error::bad_private(
            alg,
            "composite ECPrivateKey must not carry the public key",
        ));
    }
    Ok(Parsed {
        scalar: key.private_key,
        public: None,
    })
}

/// Encodes an `ECPrivateKey`, with the curve (composite drafts) or the public key (PKCS #8).
pub(crate) fn encode(
    scalar: &[u8],
    curve: Option<ObjectIdentifier>,
    public: Option<&[u8]>,
) -> Result<SecretBytes> {
    let key = sec1::EcPrivateKey {
        private_key: scalar,
        parameters: curve.map(sec1::EcParameters::NamedCurve),
        public_key: public,
    };
    key.to_der()
        .map(SecretBytes::new)
        .map_err(|_| Error::Internal("ECPrivateKey encode"))
}

/// Checks that a public key embedded in a private key file matches the derived one.
pub(crate) fn check_embedded_public(
    alg: &'static str,
    embedded: Option<&[u8]>,
    derived: &[u8],
) -> Result<()> {
    match embedded {
        Some(pk) if pk != derived => Err(Error::bad_private(
            alg,
            "embedded public key does not match the private key",
        )),
        _ => Ok(()),
    }
}

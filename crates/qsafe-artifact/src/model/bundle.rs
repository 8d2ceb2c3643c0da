//! The three nested formats, as JSON:
//!
//! - Sigstore bundle v0.3 (`protobuf-specs` `sigstore_bundle.proto`, JSON mapping): media type,
//!   `verificationMaterial.publicKey.hint` (`sigstore_common.proto` `PublicKeyIdentifier`),
//!   empty `tlogEntries`, and a `dsseEnvelope`.
//! - DSSE v1.0 (`secure-systems-lab/dsse` `envelope.md`, `protocol.md`): base64 `payload`,
//!   `payloadType`, one `{sig, keyid}`; the signature covers
//!   `PAE = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`.
//! - in-toto Statement v1 (`in-toto/attestation` `spec/v1/statement.md`) with the
//!   model_signing v1.0 predicate (model_signing 1.1 `_signing/signing.py` `Payload`).
//!
//! Parsing is structural only; the caller verifies the signature before trusting the payload.

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use qsafe_core::keys::{PublicKey, codec};
use qsafe_core::sig::VerifyingKey;
use qsafe_core::symmetric::Hash;
use serde::{Deserialize, Serialize};

use super::error::{Error, Result, bundle};

/// Sigstore bundle media type written and required by model_signing 1.1 (`sign_sigstore_pb.py`).
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// DSSE payload type of in-toto statements.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// in-toto Statement v1 `_type`.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The model_signing v1.0 predicate type.
pub const PREDICATE_TYPE: &str = "https://model_signing/signature/v1.0";

/// DSSE pre-authentication encoding (protocol.md, "Signature Definition").
pub(crate) fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let head = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        body.len()
    );
    [head.as_bytes(), body].concat()
}

/// The key hint model_signing writes and checks (`sign_ec_key.py`): hex SHA-256 of the public
/// key's SubjectPublicKeyInfo PEM.
pub(crate) fn key_hint(key: &VerifyingKey) -> Result<String> {
    let pem = codec::public_to_pem(&PublicKey::Sig(key.clone()))?;
    Ok(hex::encode(Hash::Sha256.digest(pem.as_bytes())))
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bundle {
    media_type: String,
    verification_material: VerificationMaterial,
    #[serde(default)]
    dsse_envelope: Option<Envelope>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerificationMaterial {
    #[serde(default)]
    public_key: Option<PublicKeyIdentifier>,
    #[serde(default)]
    tlog_entries: Vec<serde_json::Value>,
}

#[derive(Serialize, Deserialize)]
struct PublicKeyIdentifier {
    #[serde(default)]
    hint: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    payload: String,
    payload_type: String,
    signatures: Vec<Signature>,
}

#[derive(Serialize, Deserialize)]
struct Signature {
    sig: String,
    #[serde(default)]
    keyid: Option<String>,
}

/// Writes a bundle with one DSSE signature. `keyid` is DSSE's unauthenticated hint of the
/// key and algorithm.
pub(crate) fn encode(payload: &[u8], sig: &[u8], keyid: &str, hint: &str) -> Result<Vec<u8>> {
    let b = Bundle {
        media_type: BUNDLE_MEDIA_TYPE.into(),
        verification_material: VerificationMaterial {
            public_key: Some(PublicKeyIdentifier {
                hint: Some(hint.into()),
            }),
            tlog_entries: Vec::new(),
        },
        dsse_envelope: Some(Envelope {
            payload: STANDARD.encode(payload),
            payload_type: PAYLOAD_TYPE.into(),
            signatures: vec![Signature {
                sig: STANDARD.encode(sig),
                keyid: Some(keyid.into()),
            }],
        }),
    };
    serde_json::to_vec(&b).map_err(bundle)
}

/// A structurally valid bundle, not yet verified.
#[derive(Debug)]
pub(crate) struct Opened {
    pub payload: Vec<u8>,
    pub sig: Vec<u8>,
    /// The public key hint, when the bundle has a non-empty one.
    pub hint: Option<String>,
}

/// DSSE allows standard or URL-safe base64 (envelope.md); padding is optional in practice.
fn b64(what: &str, s: &str) -> Result<Vec<u8>> {
    let lenient =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    GeneralPurpose::new(&base64::alphabet::STANDARD, lenient)
        .decode(s)
        .or_else(|_| GeneralPurpose::new(&base64::alphabet::URL_SAFE, lenient).decode(s))
        .map_err(|_| Error::Bundle(format!("{what} is not base64")))
}

/// Parses a bundle and checks what can be checked before the signature.
pub(crate) fn open(bytes: &[u8]) -> Result<Opened> {
    let b: Bundle = serde_json::from_slice(bytes).map_err(bundle)?;
    if b.media_type != BUNDLE_MEDIA_TYPE {
        return Err(Error::Bundle(format!(
            "media type is {:?}, expected {BUNDLE_MEDIA_TYPE}",
            b.media_type.chars().take(80).collect::<String>()
        )));
    }
    let Some(key) = b.verification_material.public_key else {
        return Err(Error::Unsupported(
            "the bundle names no public key (certificate and keyless bundles are not supported)"
                .into(),
        ));
    };
    let Some(env) = b.dsse_envelope else {
        return Err(Error::Bundle("no DSSE envelope".into()));
    };
    if env.payload_type != PAYLOAD_TYPE {
        return Err(Error::Bundle(format!(
            "DSSE payload type is not {PAYLOAD_TYPE}"
        )));
    }
    // Sigstore verifiers accept exactly one signature per envelope (sigstore-python's
    // `dsse.Envelope`); model_signing reads only the first.
    let [sig] = env.signatures.as_slice() else {
        return Err(Error::Bundle(format!(
            "{} DSSE signatures, expected exactly one",
            env.signatures.len()
        )));
    };
    Ok(Opened {
        payload: b64("the DSSE payload", &env.payload)?,
        sig: b64("the DSSE signature", &sig.sig)?,
        hint: key.hint.filter(|h| !h.is_empty()),
    })
}

/// The in-toto statement.
#[derive(Serialize, Deserialize)]
pub(crate) struct Statement {
    #[serde(rename = "_type")]
    pub type_: String,
    pub subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: Predicate,
}

/// The model: its name and the SHA-256 over all resource digests in manifest order.
#[derive(Serialize, Deserialize)]
pub(crate) struct Subject {
    pub name: String,
    pub digest: SubjectDigest,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct SubjectDigest {
    pub sha256: String,
}

/// The model_signing v1.0 predicate; verifiers ignore other fields.
#[derive(Serialize, Deserialize)]
pub(crate) struct Predicate {
    pub serialization: Serialization,
    pub resources: Vec<Resource>,
}

/// How the manifest was computed (model_signing `manifest.py` `_FileSerialization`,
/// `_ShardSerialization`).
#[derive(Serialize, Deserialize)]
pub(crate) struct Serialization {
    pub method: String,
    pub hash_type: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number"
    )]
    pub shard_size: Option<u64>,
    pub allow_symlinks: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_paths: Vec<String>,
}

/// model_signing writes the predicate through a protobuf `Struct`, whose numbers are doubles:
/// a shard size arrives as `1000.0`. Accepts whole numbers up to 2^53 in either form.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    let exact = n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(f))
            .map(|f| f as u64)
    });
    exact
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom("shard_size is not a whole number"))
}

/// One file (`path`) or shard (`path:start:end`) and its digest.
#[derive(Serialize, Deserialize)]
pub(crate) struct Resource {
    pub name: String,
    pub algorithm: String,
    pub digest: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_dsse_test_vector() {
        // protocol.md "Test Vectors".
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }

    #[test]
    fn shard_size_accepts_protobuf_doubles_that_are_whole() {
        let parse = |n: &str| {
            let json = format!(
                r#"{{"method":"shards","hash_type":"sha256","allow_symlinks":false,"shard_size":{n}}}"#
            );
            serde_json::from_str::<Serialization>(&json).map(|s| s.shard_size)
        };
        assert_eq!(parse("1000.0").unwrap(), Some(1000));
        assert_eq!(parse("1000").unwrap(), Some(1000));
        for bad in ["1000.5", "-1", "1e300", "\"1000\"", "null"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn base64_accepts_both_alphabets_with_or_without_padding() {
        assert_eq!(b64("x", "+/8=").unwrap(), [0xfb, 0xff]);
        assert_eq!(b64("x", "-_8").unwrap(), [0xfb, 0xff]);
        assert!(b64("x", "%%%").is_err());
    }
}

//! HTTP Message Signatures (RFC 9421) with post-quantum and composite algorithms, and
//! `Content-Digest` (RFC 9530).
//!
//! Framework-independent: messages are [`Request`]/[`Response`] views (method, target URI
//! parts, status, field lines) that the gateway fills from its hyper/`http` types.
//!
//! # What is implemented
//!
//! - **Components** (RFC 9421 §2): the derived components `@method`, `@target-uri`,
//!   `@authority`, `@scheme`, `@request-target`, `@path`, `@query` (§2.2.1–2.2.7) and `@status`
//!   (§2.2.9); HTTP fields by lowercase name (§2.1), with the `bs` (§2.1.3) and `req` (§2.4:
//!   request components in a response signature) parameters. `@query-param`, `sf`, `key` and
//!   `tr` are refused as [`Error::UnsupportedComponent`]. `@authority` and the scheme and
//!   authority inside `@target-uri` are normalised (lowercase, default port dropped, §2.2.3);
//!   an empty path is `/` and a missing query is `?` (§2.2.6, §2.2.7).
//! - **Signature base** (§2.5): one `"<identifier>": <value>` line per component, then the
//!   `"@signature-params"` line, LF-separated, no trailing newline. Values must be ASCII without
//!   control characters (a CR or LF would forge a line): [`Error::ComponentInvalid`].
//! - **Parameters** (§2.3): `created`, `expires`, `nonce`, `keyid`, `alg`, `tag`; unknown
//!   parameters are kept, signed over and otherwise ignored.
//! - **Fields** (§4.1, §4.2): `Signature-Input` and `Signature` are RFC 8941 Dictionaries,
//!   parsed by a small strict parser (`sfv`, private) with size limits and no panics; several
//!   field lines are combined first. A signer appends one member per field.
//! - **Algorithms** (§3.3): see [`alg`] — `ml-dsa-44/65/87` per c2sp.org/httpsig-pq,
//!   `ed25519`, `ecdsa-p256-sha256`, `ecdsa-p384-sha384` per RFC 9421, and the composite
//!   ML-DSA ids of `qsafe_core::registry` as a documented qsafe extension
//!   (draft-ietf-lamps-pq-composite-sigs-19).
//! - **Verification** (§3.2) under a [`Policy`] (§1.4): required components and parameters,
//!   a `±window` around an injectable [`Clock`], key lookup by [`KeyResolver`], `alg`/key
//!   agreement (§3.2 step 6), `Content-Digest` against the body, then a replay check in a
//!   bounded [`crate::replay::NonceCache`] (§7.2.2).
//! - **Content-Digest** (RFC 9530): `sha-256` and `sha-512`, create and verify
//!   ([`content_digest`], [`verify_content_digest`], streaming [`DigestCheck`]).
//!
//! # Error codes
//!
//! [`Error::code`] gives a stable machine code; [`Error::class`] says how to answer.
//!
//! | code | class | meaning |
//! |---|---|---|
//! | `signature_missing` | Invalid | no `Signature-Input`/`Signature`, or none with the policy's label/tag |
//! | `signature_malformed` | Invalid | a signature field does not parse, breaks a limit, or is ambiguous |
//! | `component_unsupported` | Invalid | a covered component this implementation does not derive |
//! | `component_missing` | Invalid | a covered component is absent from the message |
//! | `component_invalid` | Invalid | a covered value has non-ASCII or control characters |
//! | `component_not_covered` | Invalid | the policy requires a component the signature does not cover |
//! | `parameter_missing` | Invalid | `keyid`, or a required `created`/`nonce`/`alg`, is absent |
//! | `key_unknown` | Invalid | the key id does not resolve |
//! | `algorithm_unsupported` | Invalid | unknown `alg`, or a key with no HTTP mapping |
//! | `algorithm_mismatch` | Invalid | `alg` is not the key's algorithm |
//! | `algorithm_not_allowed` | Invalid | the key's algorithm is outside the policy |
//! | `signature_invalid` | Invalid | the signature does not verify |
//! | `digest_malformed` | Invalid | `Content-Digest` does not parse |
//! | `digest_unsupported` | Invalid | `Content-Digest` has no `sha-256`/`sha-512` |
//! | `digest_mismatch` | Invalid | the body does not match `Content-Digest` |
//! | `nonce_invalid` | Invalid | the nonce is empty, too long or not printable |
//! | `signature_expired` | Stale | `expires` has passed |
//! | `signature_outside_window` | Stale | `created` is more than the window away from now |
//! | `nonce_reused` | Replay | the key already used this nonce within the window |
//! | `replay_cache_full` | Unavailable | the nonce cache is full (503, retry) |
//! | `message_invalid` | Local | the caller's message, key id or label is unusable |
//! | `signing_failed` | Local | the signing key failed |
//!
//! # Example
//!
//! ```
//! use std::{collections::HashMap, sync::Arc};
//! use qsafe_core::{registry, sig::SigningKey};
//! use qsafe_gateway::httpsig::{
//!     content_digest, DigestAlgorithm, ManualClock, Policy, Request, SignatureParams, Signer,
//!     Verifier,
//! };
//!
//! let key = SigningKey::generate(&registry::MLDSA65_ED25519_SHA512)?;
//! let mut keys = HashMap::new();
//! keys.insert("client-1".to_owned(), key.verifying_key()?);
//! let signer = Signer::new(key, "client-1")?;
//!
//! let body = br#"{"inputs": [1, 2, 3]}"#;
//! let mut request = Request::from_target_uri("POST", "https://gw.example/v1/infer")?
//!     .with_header("content-type", "application/json")
//!     .with_header("content-digest", content_digest(body, &[DigestAlgorithm::Sha512]));
//! let now = 1_750_000_000;
//! signer
//!     .sign_request(&request, &SignatureParams::for_request(&request, now)?)?
//!     .apply(&mut request.headers);
//!
//! let verifier = Verifier::new(Arc::new(keys), Policy::request_default())
//!     .with_clock(Arc::new(ManualClock::new(now + 5)));
//! let verified = verifier.verify_request(&request, body)?;
//! assert_eq!(verified.algorithm.name, "mldsa65-ed25519-sha512");
//! // the same request again is a replay
//! assert_eq!(verifier.verify_request(&request, body).unwrap_err().code(), "nonce_reused");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod alg;
mod component;
mod digest;
mod error;
mod message;
mod sfv;
mod sign;
mod verify;

pub use alg::HttpSigAlgorithm;
pub use component::{
    ComponentId, ComponentParam, DERIVED_COMPONENTS, MAX_SIGNATURE_INPUT_LEN, MAX_SIGNATURE_LEN,
    ParsedSignature, SignatureHeaders, SignatureInput, parse_signature, parse_signature_input,
    parse_signatures,
};
pub use digest::{
    DigestAlgorithm, DigestCheck, DigestWriter, MAX_CONTENT_DIGEST_LEN, content_digest,
    verify_content_digest,
};
pub use error::{Error, ErrorClass, SHOWN_MAX};
pub use message::{Fields, Request, Response};
pub use sign::{SignatureParams, Signer, random_nonce};
pub use verify::{
    Clock, DEFAULT_WINDOW_SECS, KeyResolver, ManualClock, Policy, Requirement, SystemClock,
    Verified, Verifier,
};

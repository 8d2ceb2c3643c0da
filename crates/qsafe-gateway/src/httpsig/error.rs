//! Errors of signing and verifying, each with a stable machine code ([`Error::code`]) and a
//! class ([`Error::class`]) that says how a server should answer.
//!
//! Strings taken from the message (key ids, component names) are cut to
//! [`SHOWN_MAX`] characters; they are printable ASCII by the time they get here (structured
//! field strings), so they cannot inject lines into a log.

use crate::replay::ReplayError;

/// Longest piece of peer-supplied text an error carries.
pub const SHOWN_MAX: usize = 64;

/// Cuts peer-supplied text to [`SHOWN_MAX`] characters.
pub(crate) fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(SHOWN_MAX).collect();
    if s.chars().nth(SHOWN_MAX).is_some() {
        out.push('…');
    }
    out
}

/// How a server should treat an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The signature, its headers, the key or the digest is missing or wrong: answer 401
    /// (the code tells which).
    Invalid,
    /// Well-formed and possibly authentic, but created outside the time window or expired:
    /// answer 401 with the code, so an honest client with a bad clock can tell.
    Stale,
    /// A nonce already seen with this key: answer 401 with the code.
    Replay,
    /// The replay cache is full, so freshness cannot be checked: answer 503 (retry later).
    Unavailable,
    /// A local failure of the signer or of the caller's input, not the peer's fault.
    Local,
}

/// Everything that can go wrong signing or verifying an HTTP message.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No `Signature-Input`/`Signature` pair (or none with the label or tag the policy asks
    /// for).
    #[error("no usable HTTP message signature: {0}")]
    MissingSignature(&'static str),
    /// `Signature-Input` or `Signature` does not parse, breaks a size limit, or has a
    /// parameter of the wrong type.
    #[error("malformed signature header: {0}")]
    Malformed(&'static str),
    /// A covered component this implementation does not derive (`@query-param`, `;sf`, `;key`,
    /// `;tr`, unknown derived names).
    #[error("unsupported covered component {0}")]
    UnsupportedComponent(String),
    /// A covered component is absent from the message.
    #[error("covered component {0} is not in the message")]
    ComponentMissing(String),
    /// A covered component's value cannot be signed: non-ASCII or control characters
    /// (RFC 9421 §2.5 bases are ASCII; a line break would forge a base line).
    #[error("covered component {0} has characters that cannot be signed")]
    ComponentInvalid(String),
    /// The policy requires a component that the signature does not cover.
    #[error("the signature does not cover required component(s) {0}")]
    ComponentNotCovered(String),
    /// The policy requires a signature parameter that is absent.
    #[error("the signature has no `{0}` parameter")]
    ParameterMissing(&'static str),
    /// No key is known under this key id.
    #[error("unknown key id \"{0}\"")]
    UnknownKey(String),
    /// The `alg` value (or the key's algorithm) has no HTTP signature mapping here.
    #[error("unsupported HTTP signature algorithm \"{0}\"")]
    UnsupportedAlgorithm(String),
    /// The `alg` parameter names another algorithm than the key's (RFC 9421 §3.2 step 6).
    #[error("`alg` \"{alg}\" does not match the key's algorithm {key}")]
    AlgorithmMismatch {
        /// The `alg` parameter.
        alg: String,
        /// The key's HTTP algorithm name.
        key: &'static str,
    },
    /// The key's algorithm is not in the policy's allowed list.
    #[error("algorithm {0} is not allowed by the verification policy")]
    AlgorithmNotAllowed(&'static str),
    /// The signature does not verify. Deliberately without detail.
    #[error("signature verification failed")]
    BadSignature,
    /// `Content-Digest` does not parse.
    #[error("malformed Content-Digest: {0}")]
    DigestMalformed(&'static str),
    /// `Content-Digest` names no algorithm this implementation checks (sha-256, sha-512).
    #[error("Content-Digest has no sha-256 or sha-512 member")]
    DigestUnsupported,
    /// The body does not hash to its `Content-Digest`.
    #[error("the body does not match its Content-Digest ({0})")]
    DigestMismatch(&'static str),
    /// The `expires` time has passed.
    #[error("the signature expired at {expires} (now {now})")]
    Expired {
        /// `expires` parameter (Unix seconds).
        expires: i64,
        /// Verifier's clock.
        now: i64,
    },
    /// `created` is further than the window from the verifier's clock (past or future).
    #[error("signature created at {created} is outside the ±{window} s window around {now}")]
    OutsideWindow {
        /// `created` parameter (Unix seconds).
        created: i64,
        /// Verifier's clock.
        now: i64,
        /// Allowed distance in seconds.
        window: i64,
    },
    /// This key already used this nonce within the window.
    #[error("nonce already used with this key")]
    NonceReused,
    /// The nonce is empty, too long or not printable ASCII.
    #[error("invalid nonce: {0}")]
    NonceInvalid(&'static str),
    /// The replay cache is full; the request is refused rather than evicting live nonces.
    #[error("replay cache full ({0}); retry later")]
    ReplayCacheFull(&'static str),
    /// The message given to the signer or verifier is unusable (bad target URI, label, key id).
    #[error("invalid input: {0}")]
    InvalidMessage(&'static str),
    /// The signing key failed (qsafe-core error, no secret detail).
    #[error("signing failed: {0}")]
    Signing(qsafe_core::Error),
}

impl Error {
    /// A stable machine code: these strings are API and never change meaning.
    pub fn code(&self) -> &'static str {
        match self {
            Error::MissingSignature(_) => "signature_missing",
            Error::Malformed(_) => "signature_malformed",
            Error::UnsupportedComponent(_) => "component_unsupported",
            Error::ComponentMissing(_) => "component_missing",
            Error::ComponentInvalid(_) => "component_invalid",
            Error::ComponentNotCovered(_) => "component_not_covered",
            Error::ParameterMissing(_) => "parameter_missing",
            Error::UnknownKey(_) => "key_unknown",
            Error::UnsupportedAlgorithm(_) => "algorithm_unsupported",
            Error::AlgorithmMismatch { .. } => "algorithm_mismatch",
            Error::AlgorithmNotAllowed(_) => "algorithm_not_allowed",
            Error::BadSignature => "signature_invalid",
            Error::DigestMalformed(_) => "digest_malformed",
            Error::DigestUnsupported => "digest_unsupported",
            Error::DigestMismatch(_) => "digest_mismatch",
            Error::Expired { .. } => "signature_expired",
            Error::OutsideWindow { .. } => "signature_outside_window",
            Error::NonceReused => "nonce_reused",
            Error::NonceInvalid(_) => "nonce_invalid",
            Error::ReplayCacheFull(_) => "replay_cache_full",
            Error::InvalidMessage(_) => "message_invalid",
            Error::Signing(_) => "signing_failed",
        }
    }

    /// How a server should answer.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Expired { .. } | Error::OutsideWindow { .. } => ErrorClass::Stale,
            Error::NonceReused => ErrorClass::Replay,
            Error::ReplayCacheFull(_) => ErrorClass::Unavailable,
            Error::InvalidMessage(_) | Error::Signing(_) => ErrorClass::Local,
            _ => ErrorClass::Invalid,
        }
    }
}

impl From<ReplayError> for Error {
    fn from(e: ReplayError) -> Self {
        match e {
            ReplayError::Reused => Error::NonceReused,
            ReplayError::Full => Error::ReplayCacheFull("all entries in use"),
            ReplayError::KeyFull => Error::ReplayCacheFull("this key's share is in use"),
            ReplayError::EmptyNonce => Error::NonceInvalid("empty"),
            ReplayError::NonceTooLong => Error::NonceInvalid("too long"),
            ReplayError::NotPrintable => Error::NonceInvalid("not printable ASCII"),
            ReplayError::KeyIdTooLong => Error::NonceInvalid("key id too long for the cache"),
        }
    }
}

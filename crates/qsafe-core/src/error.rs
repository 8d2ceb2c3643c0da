//! Errors of `qsafe-core`. Cryptographic failures are deliberately opaque: they never say
//! which half of a hybrid or which byte failed, and never carry secret material.

use crate::registry::Kind;

/// Result alias for this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong in `qsafe-core`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// No algorithm has this id.
    #[error("unknown algorithm `{0}`")]
    UnknownAlgorithm(String),
    /// The algorithm exists but is of the wrong kind for the operation.
    #[error("`{alg}` is not a {expected:?} algorithm")]
    WrongKind {
        /// Algorithm id.
        alg: &'static str,
        /// Kind the operation needs.
        expected: Kind,
    },
    /// An input has the wrong length.
    #[error("{what} for `{alg}` must be {expected} bytes, got {got}")]
    Length {
        /// What was measured (public key, ciphertext, seed, …).
        what: &'static str,
        /// Algorithm id.
        alg: &'static str,
        /// Expected length (a description when several are allowed).
        expected: String,
        /// Length given.
        got: usize,
    },
    /// A key was rejected (malformed, out of range, inconsistent).
    #[error("invalid {what} for `{alg}`: {reason}")]
    InvalidKey {
        /// Public or private key.
        what: &'static str,
        /// Algorithm id.
        alg: &'static str,
        /// Which check failed (never key bytes).
        reason: &'static str,
    },
    /// The operation is not defined for this algorithm or this build.
    #[error("`{alg}` does not support {what}")]
    Unsupported {
        /// Algorithm id.
        alg: &'static str,
        /// The operation.
        what: &'static str,
    },
    /// An ML-DSA or composite context string is longer than 255 bytes.
    #[error("context string is {0} bytes; at most 255 are allowed")]
    ContextTooLong(usize),
    /// Decapsulation failed (malformed ciphertext or a component rejected it).
    #[error("decapsulation failed")]
    Decapsulation,
    /// A signature did not verify.
    #[error("signature verification failed")]
    Verification,
    /// Authenticated decryption failed.
    #[error("decryption failed: the data or key is wrong, or the ciphertext was modified")]
    Decryption,
    /// A DER or PEM structure could not be parsed or produced.
    #[error("encoding error: {0}")]
    Encoding(String),
    /// The backend failed in a way that input cannot explain (RNG, allocation).
    #[error("internal cryptographic error in {0}")]
    Internal(&'static str),
}

impl Error {
    pub(crate) fn length(
        what: &'static str,
        alg: &'static str,
        expected: usize,
        got: usize,
    ) -> Self {
        Error::Length {
            what,
            alg,
            expected: expected.to_string(),
            got,
        }
    }

    pub(crate) fn bad_public(alg: &'static str, reason: &'static str) -> Self {
        Error::InvalidKey {
            what: "public key",
            alg,
            reason,
        }
    }

    pub(crate) fn bad_private(alg: &'static str, reason: &'static str) -> Self {
        Error::InvalidKey {
            what: "private key",
            alg,
            reason,
        }
    }
}

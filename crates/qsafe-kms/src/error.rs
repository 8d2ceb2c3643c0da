//! Errors of `qsafe-kms`, and the gRPC status each one becomes.
//!
//! | error | gRPC code | `qsafe-error` |
//! | --- | --- | --- |
//! | [`Error::InvalidRequest`], [`Error::InvalidKeyId`] (malformed or oversize input) | `INVALID_ARGUMENT` | `invalid-request`, `invalid-key-id` |
//! | [`Error::Unauthentic`] (tampered ciphertext, annotation or key id) | `INVALID_ARGUMENT` | `unauthentic` |
//! | [`Error::UnknownKey`] (another key's id, no such version, fingerprint mismatch) | `NOT_FOUND` | `unknown-key` |
//! | [`Error::Refused`] (version retired, destroyed, below `min_decryption_version`) | `FAILED_PRECONDITION` | the store's denial code (`retired`, `destroyed`, `below-min-decryption-version`) |
//! | [`Error::UnsuitableKey`] (the configured key is missing, or not a post-quantum KEM with an HPKE id) | `FAILED_PRECONDITION` | `unsuitable-key` |
//! | [`Error::StoreUnavailable`] (the store cannot be read) | `UNAVAILABLE` | `store-unavailable` |
//! | [`Error::Store`], [`Error::Crypto`], [`Error::Internal`] | `INTERNAL` | `store`, `crypto`, `internal` |
//!
//! A tampered ciphertext gets `INVALID_ARGUMENT`, as in Google Cloud KMS's Decrypt; the message
//! says only that it did not authenticate (no detail about which part failed). Messages name
//! the key and version and never contain key material or plaintext. The stable code is also
//! sent as the `qsafe-error` response metadata entry, for programs.

use tonic::Code;

/// Result alias for this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong in the plugin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A request field is empty, too large or malformed.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// `key_id` does not parse.
    #[error("invalid key_id {key_id:?}: {reason}")]
    InvalidKeyId {
        /// The id as given (at most 80 characters).
        key_id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The ciphertext did not authenticate under the key the key id names.
    #[error(
        "the ciphertext did not authenticate under {key_id}: it, its annotations or its key_id \
         were modified, or it was not made by this plugin"
    )]
    Unauthentic {
        /// The key id.
        key_id: String,
    },
    /// The key id names a key or version this store does not have.
    #[error("{key_id}: {reason}")]
    UnknownKey {
        /// The key id.
        key_id: String,
        /// Why it does not resolve.
        reason: String,
    },
    /// The store refuses the version (retired, destroyed, below `min_decryption_version`).
    #[error("{0}")]
    Refused(qsafe_keys::Error),
    /// The configured key cannot serve as the plugin's key.
    #[error("key `{name}` cannot be used by the KMS plugin: {reason}")]
    UnsuitableKey {
        /// Key name.
        name: String,
        /// Why not, and what to do.
        reason: String,
    },
    /// The key store cannot be read (I/O, database, the store vanished).
    #[error("key store unavailable: {0}")]
    StoreUnavailable(String),
    /// Another key-store failure (corrupt record, private key that does not unwrap).
    #[error("key store: {0}")]
    Store(qsafe_keys::Error),
    /// A cryptographic operation failed unexpectedly.
    #[error("{0}")]
    Crypto(#[from] qsafe_core::Error),
    /// Setting up or serving the unix socket failed.
    #[error("cannot {op} {path}: {source}")]
    Socket {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The socket path is taken by something this plugin must not remove.
    #[error("{path}: {reason}")]
    SocketInUse {
        /// The path.
        path: String,
        /// What is there, and what to do.
        reason: String,
    },
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<qsafe_keys::Error> for Error {
    fn from(e: qsafe_keys::Error) -> Self {
        use qsafe_keys::Error as K;
        match e {
            K::BelowMinDecryptionVersion { .. }
            | K::VersionRetired { .. }
            | K::VersionDestroyed { .. } => Error::Refused(e),
            K::KeyNotFound(ref name) => Error::UnsuitableKey {
                name: name.clone(),
                reason: "there is no key of that name in the store; create it with \
                         `qsafe key create NAME --alg x-wing`"
                    .into(),
            },
            K::WrongPurpose {
                ref name, ref alg, ..
            } => Error::UnsuitableKey {
                name: name.clone(),
                reason: format!("it is a {alg} signing key; the plugin needs a KEM key (x-wing)"),
            },
            K::Io { .. } | K::NotAStore(_) | K::PartialStore(_) | K::Database { .. } => {
                Error::StoreUnavailable(e.to_string())
            }
            K::Crypto(c) => Error::Crypto(c),
            other => Error::Store(other),
        }
    }
}

impl Error {
    /// The gRPC status code (see the module table).
    pub fn code(&self) -> Code {
        match self {
            Error::InvalidRequest(_) | Error::InvalidKeyId { .. } | Error::Unauthentic { .. } => {
                Code::InvalidArgument
            }
            Error::UnknownKey { .. } => Code::NotFound,
            Error::Refused(_) | Error::UnsuitableKey { .. } => Code::FailedPrecondition,
            Error::StoreUnavailable(_) => Code::Unavailable,
            Error::Store(_)
            | Error::Crypto(_)
            | Error::Socket { .. }
            | Error::SocketInUse { .. }
            | Error::Transport(_)
            | Error::Internal(_) => Code::Internal,
        }
    }

    /// The stable machine code sent as `qsafe-error` (see the module table).
    pub fn machine_code(&self) -> &'static str {
        match self {
            Error::InvalidRequest(_) => "invalid-request",
            Error::InvalidKeyId { .. } => "invalid-key-id",
            Error::Unauthentic { .. } => "unauthentic",
            Error::UnknownKey { .. } => "unknown-key",
            Error::Refused(e) => e.denial_code().unwrap_or("refused"),
            Error::UnsuitableKey { .. } => "unsuitable-key",
            Error::StoreUnavailable(_) => "store-unavailable",
            Error::Store(_) => "store",
            Error::Crypto(_) => "crypto",
            Error::Socket { .. } | Error::SocketInUse { .. } => "socket",
            Error::Transport(_) => "transport",
            Error::Internal(_) => "internal",
        }
    }

    pub(crate) fn socket(op: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Socket {
            op,
            path: path.display().to_string(),
            source,
        }
    }
}

/// Metadata key carrying [`Error::machine_code`].
pub const ERROR_METADATA_KEY: &str = "qsafe-error";

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        let mut status = tonic::Status::new(e.code(), e.to_string());
        status.metadata_mut().insert(
            ERROR_METADATA_KEY,
            tonic::metadata::MetadataValue::from_static(e.machine_code()),
        );
        status
    }
}

//! Errors of `qsafe-keys`. Every message names the key, version or file concerned and never
//! contains key material; where a fix exists the message says it.

use crate::model::Status;

/// Result alias for this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong in the key store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key name does not match `[a-z0-9][a-z0-9._-]{0,62}`.
    #[error("invalid key name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No registry algorithm has this id.
    #[error("unknown algorithm `{0}` (see `qsafe algs` for the ids)")]
    UnknownAlgorithm(String),
    /// The algorithm exists but cannot be a stored key (AEAD, hash, …) or is not in this build.
    #[error("algorithm `{alg}` cannot be used for a stored key: {reason}")]
    UnsuitableAlgorithm {
        /// Algorithm id.
        alg: String,
        /// Why not.
        reason: &'static str,
    },
    /// `create` of a name that already exists.
    #[error("key `{0}` already exists (use `rotate` to add a version)")]
    KeyExists(String),
    /// No key of this name.
    #[error("no key named `{0}` in the store")]
    KeyNotFound(String),
    /// The key has no such version.
    #[error("key `{name}` has no version {version} (versions are 1..={latest})")]
    VersionNotFound {
        /// Key name.
        name: String,
        /// Requested version.
        version: u32,
        /// Newest version.
        latest: u32,
    },
    /// Decryption (or verification) with a version below the key's `min_decryption_version`.
    #[error(
        "key `{name}` version {version} is below the policy min_decryption_version = {min}; \
         rewrap the data to a newer version, or lower the policy with set-policy"
    )]
    BelowMinDecryptionVersion {
        /// Key name.
        name: String,
        /// Requested version.
        version: u32,
        /// The policy value.
        min: u32,
    },
    /// The version is retired: no longer usable for anything.
    #[error("key `{name}` version {version} is retired and can no longer be used")]
    VersionRetired {
        /// Key name.
        name: String,
        /// Version.
        version: u32,
    },
    /// The version's private material was destroyed.
    #[error("key `{name}` version {version} was destroyed: its private key no longer exists")]
    VersionDestroyed {
        /// Key name.
        name: String,
        /// Version.
        version: u32,
    },
    /// The operation is not allowed on the active version.
    #[error("cannot {op} key `{name}` version {version}: it is the active version; rotate first")]
    ActiveVersion {
        /// Key name.
        name: String,
        /// Version.
        version: u32,
        /// The refused operation.
        op: &'static str,
    },
    /// The version's status does not allow this transition.
    #[error("cannot {op} key `{name}` version {version}: it is {from}")]
    InvalidTransition {
        /// Key name.
        name: String,
        /// Version.
        version: u32,
        /// Current status.
        from: Status,
        /// The refused operation.
        op: &'static str,
    },
    /// A KEM key used for signing or the reverse.
    #[error("key `{name}` ({alg}) is for {purpose}; this operation needs a key for {wanted}")]
    WrongPurpose {
        /// Key name.
        name: String,
        /// Algorithm id.
        alg: String,
        /// The key's purpose (`encryption`, `signing`).
        purpose: &'static str,
        /// What the operation needs (`encryption`, `signing`).
        wanted: &'static str,
    },
    /// A policy value out of range.
    #[error("invalid policy for key `{name}`: {reason}")]
    InvalidPolicy {
        /// Key name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The passphrase does not open this store (the KEK check value did not authenticate).
    #[error("wrong passphrase for the key store at {location}")]
    WrongPassphrase {
        /// Store location.
        location: String,
    },
    /// A non-passphrase KEK does not open this store.
    #[error("the {kind} key-encryption key does not open the key store at {location}")]
    WrongKek {
        /// KEK kind.
        kind: String,
        /// Store location.
        location: String,
    },
    /// The store was made with another kind (or other parameters) of KEK.
    #[error("the key store at {location} uses a {store} key-encryption key; {given}")]
    KekMismatch {
        /// Store location.
        location: String,
        /// The store's KEK kind.
        store: String,
        /// What was offered and how to fix it.
        given: String,
    },
    /// Wrapped private material failed authentication (modified, or moved from another key or
    /// version).
    #[error(
        "private key of `{name}` version {version} failed to unwrap: the key file was modified \
         or its material belongs to another key or version"
    )]
    Unwrap {
        /// Key name.
        name: String,
        /// Version.
        version: u32,
    },
    /// Wrapped material did not authenticate under this KEK. Returned by [`crate::Kek::unwrap`];
    /// the store turns it into [`Error::WrongPassphrase`], [`Error::WrongKek`] or
    /// [`Error::Unwrap`].
    #[error("wrapped material did not authenticate under this key-encryption key")]
    WrappedUnauthentic,
    /// The database backend failed (connection, query, serialization).
    #[error("database {location}: {reason}")]
    Database {
        /// The redacted connection target.
        location: String,
        /// What failed.
        reason: String,
    },
    /// A Kubernetes object name that cannot be used.
    #[error("invalid Kubernetes Secret name {0:?}: use lowercase letters, digits, '-' and '.'")]
    InvalidSecretName(String),
    /// A passphrase was empty or unreadable, or Argon2 parameters are out of range.
    #[error("{0}")]
    Kek(String),
    /// A PKCS#11 module, token or key failed or refused (see [`Pkcs11Problem`]). Names the
    /// token and key labels, never the PIN.
    #[error("PKCS#11 token `{token}`: {problem}")]
    Pkcs11 {
        /// The token label.
        token: String,
        /// What went wrong.
        problem: Pkcs11Problem,
    },
    /// `init` on a location that already holds a store.
    #[error("a key store already exists at {0}; open it instead")]
    StoreExists(String),
    /// No store at this location.
    #[error("no key store at {0}; create one with init")]
    NotAStore(String),
    /// A store-shaped directory without `store.json`: a crashed `init` or a deleted file.
    #[error(
        "{0} holds part of a key store but no store.json; nothing was changed. Move it aside \
         or restore store.json from a backup"
    )]
    PartialStore(String),
    /// `init` on a directory that holds other files.
    #[error("{0} is not empty and holds no key store; choose a new or empty directory")]
    NotEmpty(String),
    /// No `QSAFE_HOME`, `XDG_DATA_HOME` or `HOME` to put the default store in.
    #[error("no place for the key store: set QSAFE_HOME (or XDG_DATA_HOME or HOME)")]
    NoDefaultRoot,
    /// A store file could not be parsed or breaks an invariant.
    #[error("corrupt key store file {file}: {reason}; nothing was changed")]
    Corrupt {
        /// The file (or row) concerned.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A file written by a newer qsafe.
    #[error("{file} has format version {found}; this build reads version {supported}")]
    UnsupportedFormat {
        /// The file.
        file: String,
        /// Version found.
        found: u64,
        /// Version this build reads.
        supported: u32,
    },
    /// The audit log does not verify.
    #[error("audit log {file}: {problem}")]
    Audit {
        /// The log file.
        file: String,
        /// What is wrong, with the line number.
        problem: crate::audit::AuditProblem,
    },
    /// An I/O operation on a store file failed.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A cryptographic operation failed (key generation, encoding, …).
    #[error("{0}")]
    Crypto(#[from] qsafe_core::Error),
}

/// Why a PKCS#11 KEK could not be opened or used ([`Error::Pkcs11`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Pkcs11Problem {
    /// The module (shared library) could not be loaded or initialised.
    #[error(
        "cannot load the PKCS#11 module {module}: {reason}; check the module path (SoftHSM2: \
         /usr/lib/softhsm/libsofthsm2.so)"
    )]
    Module {
        /// The module path as given.
        module: String,
        /// The loader's or the module's error.
        reason: String,
    },
    /// No slot of the module holds a token with this label.
    #[error(
        "no token with this label in module {module} (tokens present: {present}); initialise \
         the token or check its label"
    )]
    TokenNotFound {
        /// The module path.
        module: String,
        /// Labels of the tokens that are present, for the fix.
        present: String,
    },
    /// Several tokens carry the label, so the key's token is not determined.
    #[error("{count} tokens in module {module} carry this label; give each token a unique label")]
    TokenAmbiguous {
        /// The module path.
        module: String,
        /// How many tokens carry it.
        count: usize,
    },
    /// The user PIN was refused (`CKR_PIN_INCORRECT`, `CKR_PIN_INVALID`, `CKR_PIN_LEN_RANGE`).
    #[error("the user PIN is incorrect (check the PIN you supplied; it is not shown)")]
    PinIncorrect,
    /// The user PIN is locked after too many failures (`CKR_PIN_LOCKED`).
    #[error("the user PIN is locked; the token's security officer must unlock or reset it")]
    PinLocked,
    /// Other code in this process logged in to the token, so the PIN cannot be checked.
    #[error(
        "the token is already logged in by other code in this process, so the PIN cannot be \
         checked; leave the login to qsafe-keys (every Pkcs11Kek shares one)"
    )]
    LoggedInElsewhere,
    /// No secret key with this label is on the token.
    #[error("no secret key labelled `{key}` on the token; create it first (Pkcs11Kek::create_key)")]
    KeyNotFound {
        /// The key label.
        key: String,
    },
    /// Several secret keys carry the label.
    #[error("{count} secret keys on the token are labelled `{key}`; labels must be unique")]
    KeyAmbiguous {
        /// The key label.
        key: String,
        /// How many keys carry it.
        count: usize,
    },
    /// `create_key` with a label that a secret key already has.
    #[error(
        "a secret key labelled `{key}` already exists on the token; open it, or choose another \
         label"
    )]
    KeyExists {
        /// The key label.
        key: String,
    },
    /// The key is not an AES-256 key allowed to encrypt and decrypt.
    #[error("the key labelled `{key}` cannot be a KEK: {reason}")]
    KeyUnsuitable {
        /// The key label.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A label is empty or too long.
    #[error("invalid {what} label: {reason}")]
    InvalidLabel {
        /// `token` or `key`.
        what: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A PKCS#11 call failed for another reason (device removed, session closed, …).
    #[error("{function}{} failed: {code}", with_key(key))]
    Call {
        /// The PKCS#11 function, e.g. `C_Encrypt`.
        function: String,
        /// The key label, when a key was involved.
        key: Option<String>,
        /// The return value, e.g. `CKR_DEVICE_REMOVED`.
        code: String,
    },
}

fn with_key(key: &Option<String>) -> String {
    key.as_ref()
        .map(|k| format!(" with key `{k}`"))
        .unwrap_or_default()
}

impl Error {
    pub(crate) fn io(op: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn corrupt(file: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Corrupt {
            file: file.into(),
            reason: reason.into(),
        }
    }

    /// A stable short code for a refusal, used in audit outcomes (`denied:<code>`); `None` for
    /// errors that are not refusals (I/O, corruption), which are not audited.
    pub fn denial_code(&self) -> Option<&'static str> {
        Some(match self {
            Error::KeyExists(_) => "key-exists",
            Error::KeyNotFound(_) => "key-not-found",
            Error::VersionNotFound { .. } => "version-not-found",
            Error::BelowMinDecryptionVersion { .. } => "below-min-decryption-version",
            Error::VersionRetired { .. } => "retired",
            Error::VersionDestroyed { .. } => "destroyed",
            Error::ActiveVersion { .. } => "active-version",
            Error::InvalidTransition { .. } => "invalid-transition",
            Error::WrongPurpose { .. } => "wrong-purpose",
            Error::InvalidPolicy { .. } => "invalid-policy",
            _ => return None,
        })
    }
}

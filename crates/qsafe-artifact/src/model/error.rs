//! Errors of [`crate::model`]. A bad signature is one opaque variant; everything the verifier
//! learns from the authenticated manifest (which files differ) is reported in full.

use std::path::PathBuf;

/// Result alias for [`crate::model`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong signing or verifying a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the model failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A symbolic link in the model while links are not allowed (model_signing's default).
    #[error("{0} is a symbolic link, and following links was not allowed")]
    Symlink(PathBuf),
    /// A path that is neither a regular file nor a directory (socket, FIFO, broken link).
    #[error("{0} is neither a regular file nor a directory")]
    NotFileOrDir(PathBuf),
    /// A file name that is not UTF-8 cannot be named in the JSON manifest.
    #[error("{0}: the file name is not UTF-8")]
    NonUtf8Path(PathBuf),
    /// An ignore path that cannot name a part of the model, or names all of it.
    #[error("ignore path {0:?} must be relative to the model and name a part of it")]
    IgnorePath(PathBuf),
    /// More files or shards than one manifest may hold.
    #[error("the model has more than {max} files or shards; use a larger shard size")]
    TooManyItems {
        /// The limit, [`super::MAX_ITEMS`].
        max: usize,
    },
    /// The signature file is not a well-formed bundle, or its statement is malformed.
    #[error("malformed signature bundle: {0}")]
    Bundle(String),
    /// A well-formed bundle or option this implementation does not handle.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The bundle's key hint names a different public key.
    #[error("the bundle was signed by another key (its key hint is {hint})")]
    KeyMismatch {
        /// The hint in the bundle (hex SHA-256 of the signer's public key PEM).
        hint: String,
    },
    /// The DSSE signature does not verify.
    #[error("the signature does not verify")]
    Signature,
    /// `require_pq` refused a key a quantum computer could forge with.
    #[error("`{alg}` is a classical signature; post-quantum signatures were required")]
    NotPostQuantum {
        /// The key's algorithm id.
        alg: &'static str,
    },
    /// The signature is valid but the model differs from the signed manifest.
    #[error("the model differs from what was signed: {0}")]
    Mismatch(Box<Diff>),
    /// A primitive failed (key of the wrong kind and the like).
    #[error(transparent)]
    Core(#[from] qsafe_core::Error),
}

/// Files that differ between a model and its signed manifest, by model-relative name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// Present in the model, absent from the manifest.
    pub added: Vec<String>,
    /// In the manifest, absent from the model.
    pub removed: Vec<String>,
    /// In both, with different contents (or, for shards, a different length).
    pub changed: Vec<String>,
}

impl Diff {
    /// True when nothing differs.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

impl core::fmt::Display for Diff {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{} added, {} removed, {} changed",
            self.added.len(),
            self.removed.len(),
            self.changed.len()
        )
    }
}

/// An I/O error naming the path.
pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A bundle error whose text is bounded: serde messages quote the offending value.
pub(crate) fn bundle(e: impl core::fmt::Display) -> Error {
    let text = e.to_string();
    let cut: String = text.chars().take(160).collect();
    Error::Bundle(if cut.len() < text.len() {
        format!("{cut}…")
    } else {
        cut
    })
}

//! Errors of `qsafe-artifact`. Authentication failures never say more than which check failed.

/// Result alias for this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong reading or writing artifacts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing the underlying stream failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The header is malformed, or its key commitment does not match: wrong key, wrong
    /// context, or a modified header.
    #[error("header check failed: wrong key or context, or the header was modified")]
    Header,
    /// A chunk failed authentication: modified, reordered, or from another message.
    #[error("chunk {0} failed authentication: the data was modified")]
    Chunk(u64),
    /// The ciphertext ends where no final chunk can end.
    #[error("the ciphertext is truncated")]
    Truncated,
    /// The message exceeds 2^38 chunks (4 PiB).
    #[error("message too long: more than 2^38 chunks")]
    TooLong,
    /// A byte range outside the plaintext.
    #[error("range {offset}+{len} is outside the {size}-byte plaintext")]
    Range {
        /// Requested start.
        offset: u64,
        /// Requested length.
        len: u64,
        /// Plaintext size.
        size: u64,
    },
    /// An earlier error left the stream unusable; its output must be discarded.
    #[error("an earlier error interrupted this stream; discard its output")]
    Failed,
    /// Not a sealed file, or a header field is malformed (`field` names it).
    #[error("malformed header: {field}: {problem}")]
    Format {
        /// The header field, e.g. `recipient[0].enc`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A container version this build does not read.
    #[error("unsupported container version {0} (this build reads version 1)")]
    Version(u16),
    /// An algorithm id the registry does not know, or one not allowed in this place.
    #[error("algorithm {id:?} is not allowed as {role}: {why}")]
    Algorithm {
        /// The id as written.
        id: String,
        /// Where it was found (`recipient`, `signer`).
        role: &'static str,
        /// Why it is refused.
        why: String,
    },
    /// No recipient stanza was made for the key offered.
    #[error("no recipient stanza matches this key ({key}); the file is sealed to: {}", recipients.join(", "))]
    NoRecipient {
        /// Fingerprint of the key offered.
        key: String,
        /// Fingerprints of the file's recipients.
        recipients: Vec<String>,
    },
    /// The recipient stanza for this key does not decrypt: modified, or not made for it.
    #[error("the recipient stanza for this key failed to decrypt: it was modified")]
    Stanza,
    /// The header MAC does not verify under the file key: the header was modified.
    #[error("header authentication failed: the header was modified")]
    HeaderMac,
    /// The sender signature is missing although one is required.
    #[error("the file carries no sender signature, but one is required")]
    NotSigned,
    /// The file was signed by a different key than the one required.
    #[error("the file was signed by {found}, not by the required key {expected}")]
    SignerMismatch {
        /// Fingerprint of the key the reader requires.
        expected: String,
        /// Fingerprint of the signer stanza.
        found: String,
    },
    /// The sender signature trailer is malformed or does not verify.
    #[error("the sender signature does not verify: header or payload modified, or trailer damaged")]
    Signature,
    /// An in-place header rewrite cannot proceed (different length, pending journal, file
    /// changed underneath).
    #[error("cannot rewrite the header in place: {0}")]
    InPlace(String),
    /// A safetensors header or tensor request is invalid.
    #[error("safetensors: {0}")]
    Safetensors(String),
    /// A primitive failed (bad key length and the like).
    #[error(transparent)]
    Core(#[from] qsafe_core::Error),
}

/// Carries an artifact error through `std::io::Read`/`Write` (recovered by `unwrap_io`).
impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(e) => e,
            other => std::io::Error::other(other),
        }
    }
}

/// Recovers a crate error carried through `std::io::Read`/`Write`; other I/O errors become
/// [`Error::Io`].
pub fn unwrap_io(e: std::io::Error) -> Error {
    if !e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        return Error::Io(e);
    }
    match e.into_inner().map(|inner| inner.downcast::<Error>()) {
        Some(Ok(err)) => *err,
        _ => Error::Io(std::io::Error::other("error lost in transit")),
    }
}

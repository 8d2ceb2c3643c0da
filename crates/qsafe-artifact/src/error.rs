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

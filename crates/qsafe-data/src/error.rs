//! Errors of the data-set crate.

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Why a data set could not be loaded, split or partitioned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The embedded gzip stream did not decompress, or decompressed to more than the limit.
    #[error("data set {dataset}: cannot decompress the embedded gzip file: {reason}")]
    Decompress {
        /// Which data set.
        dataset: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// A CSV record is malformed (wrong field count, not an integer, out of range).
    #[error("data set {dataset}: line {line}: {reason}")]
    Parse {
        /// Which data set.
        dataset: &'static str,
        /// 1-based line number in the decompressed CSV.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The file parsed but does not have the shape the data set is documented to have.
    #[error("data set {dataset}: expected {expected}, found {found}")]
    Shape {
        /// Which data set.
        dataset: &'static str,
        /// What was expected, e.g. "1797 samples".
        expected: String,
        /// What was found.
        found: String,
    },
    /// An argument to a split or partition is out of range (e.g. zero workers).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

//! Errors of the embedded model.

/// A `Result` with the model's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Why a model file was rejected or an inference request could not be run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a well-formed safetensors file (or are larger than
    /// [`MAX_MODEL_BYTES`](super::MAX_MODEL_BYTES)).
    #[error("model file is not a valid safetensors file: {0}")]
    Format(String),
    /// A tensor is missing, unexpected, or has the wrong dtype, shape or values.
    #[error("model file: tensor {name:?}: {reason}")]
    Tensor {
        /// Tensor name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `__metadata__` entry is missing or does not describe this model.
    #[error("model file: metadata {key:?}: {reason}")]
    Metadata {
        /// Metadata key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An inference input has the wrong length, is too large, or holds a value outside the
    /// model's input domain.
    #[error("model input: {0}")]
    Input(String),
    /// Training was asked for something impossible (feature `train`).
    #[error("training: {0}")]
    Training(String),
}

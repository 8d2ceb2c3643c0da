//! Real public data sets for qsafe's embedded model and federated-training demos, vendored
//! with their licences (see `data/README.md`).
//!
//! - [`digits()`]: the UCI Optical Recognition of Handwritten Digits test set as shipped by
//!   scikit-learn (1797 samples, 8x8 images with intensities 0..=16, labels 0..=9).
//! - [`Dataset::stratified_split`]: a seeded, per-class train/test split.
//! - [`Dataset::partition`]: shards for N federated workers, [`Partitioning::Iid`] or
//!   [`Partitioning::LabelSkew`].
//!
//! All randomness comes from `rand`'s ChaCha8 generator seeded with a caller-supplied `u64`;
//! the same seed gives the same split on every platform. Each operation uses its own ChaCha
//! stream, so reusing one seed for a split and a partition does not correlate them.

mod dataset;
mod digits;
mod error;
mod partition;

pub use dataset::{Dataset, Sample, Split};
pub use digits::{
    DIGITS_CLASSES, DIGITS_CSV_SHA256, DIGITS_FEATURES, DIGITS_GZ_SHA256, DIGITS_SAMPLES, digits,
    digits_csv,
};
pub use error::{Error, Result};
pub use partition::Partitioning;

//! An in-memory labelled data set and its seeded stratified split.

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand::seq::SliceRandom;

use crate::{Error, Result};

/// ChaCha stream used by [`Dataset::stratified_split`] (partitions use other streams).
pub(crate) const STREAM_SPLIT: u64 = 1;

/// A labelled data set: `len()` samples of `n_features()` `f32` features each (row-major, one
/// flat vector) and a `u8` label in `0..n_classes()` per sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    name: &'static str,
    n_features: usize,
    n_classes: usize,
    features: Vec<f32>,
    labels: Vec<u8>,
}

/// One sample borrowed from a [`Dataset`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample<'a> {
    /// Its `n_features()` features.
    pub features: &'a [f32],
    /// Its class.
    pub label: u8,
}

/// A train/test split, as ascending indices into the data set it was made from. Every index
/// appears in exactly one of the two lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Indices of the training samples.
    pub train: Vec<usize>,
    /// Indices of the held-out test samples.
    pub test: Vec<usize>,
}

impl Dataset {
    /// Builds a data set from flat row-major features and one label per sample.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `n_features` or `n_classes` is zero, `n_classes` is above
    /// 256, the feature count is not `labels.len() * n_features`, or a label is out of range.
    pub fn new(
        name: &'static str,
        n_features: usize,
        n_classes: usize,
        features: Vec<f32>,
        labels: Vec<u8>,
    ) -> Result<Self> {
        if n_features == 0 || n_classes == 0 || n_classes > 256 {
            return Err(Error::InvalidArgument(format!(
                "data set {name}: {n_features} features and {n_classes} classes"
            )));
        }
        if Some(features.len()) != labels.len().checked_mul(n_features) {
            return Err(Error::InvalidArgument(format!(
                "data set {name}: {} feature values for {} samples of {n_features}",
                features.len(),
                labels.len()
            )));
        }
        if let Some(bad) = labels.iter().find(|&&l| usize::from(l) >= n_classes) {
            return Err(Error::InvalidArgument(format!(
                "data set {name}: label {bad} is not below {n_classes}"
            )));
        }
        Ok(Self {
            name,
            n_features,
            n_classes,
            features,
            labels,
        })
    }

    /// The data set's short name (e.g. `digits`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Features per sample.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of classes; labels are `0..n_classes()`.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// All features, row-major: sample `i` is `features()[i * n_features()..][..n_features()]`.
    pub fn features(&self) -> &[f32] {
        &self.features
    }

    /// All labels, one per sample.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// Sample `index`, or `None` past the end.
    pub fn sample(&self, index: usize) -> Option<Sample<'_>> {
        let label = *self.labels.get(index)?;
        let start = index.checked_mul(self.n_features)?;
        let features = self
            .features
            .get(start..start.checked_add(self.n_features)?)?;
        Some(Sample { features, label })
    }

    /// All samples in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Sample<'_>> + '_ {
        self.features
            .chunks_exact(self.n_features)
            .zip(&self.labels)
            .map(|(features, &label)| Sample { features, label })
    }

    /// How many samples each class has, indexed by label.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.n_classes];
        for &label in &self.labels {
            if let Some(count) = counts.get_mut(usize::from(label)) {
                *count += 1;
            }
        }
        counts
    }

    /// A new data set holding the given samples, in the given order (duplicates allowed).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if an index is out of range.
    pub fn subset(&self, indices: &[usize]) -> Result<Self> {
        let mut features = Vec::with_capacity(indices.len().saturating_mul(self.n_features));
        let mut labels = Vec::with_capacity(indices.len());
        for &index in indices {
            let sample = self.sample(index).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "data set {}: index {index} is not below {}",
                    self.name,
                    self.len()
                ))
            })?;
            features.extend_from_slice(sample.features);
            labels.push(sample.label);
        }
        Ok(Self {
            features,
            labels,
            ..*self
        })
    }

    /// A seeded stratified split: within each class the samples are shuffled and
    /// `round(class_count * test_fraction)` of them (half away from zero) go to the test set,
    /// so both sides keep the class proportions. The same seed always gives the same split.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] unless `0 < test_fraction < 1`, or if rounding would leave a
    /// class with no training sample.
    pub fn stratified_split(&self, test_fraction: f64, seed: u64) -> Result<Split> {
        if !(test_fraction > 0.0 && test_fraction < 1.0) {
            return Err(Error::InvalidArgument(format!(
                "test fraction {test_fraction} is not strictly between 0 and 1"
            )));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(STREAM_SPLIT);
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); self.n_classes];
        for (index, &label) in self.labels.iter().enumerate() {
            if let Some(class) = by_class.get_mut(usize::from(label)) {
                class.push(index);
            }
        }
        let mut split = Split {
            train: Vec::with_capacity(self.len()),
            test: Vec::new(),
        };
        for (class, mut members) in by_class.into_iter().enumerate() {
            members.shuffle(&mut rng);
            // Class sizes are far below 2^52, so the conversion to f64 is exact.
            let n_test = (members.len() as f64 * test_fraction).round() as usize;
            if n_test >= members.len() && !members.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "test fraction {test_fraction} leaves class {class} without training samples"
                )));
            }
            let (test, train) = members.split_at(n_test.min(members.len()));
            split.test.extend_from_slice(test);
            split.train.extend_from_slice(train);
        }
        split.train.sort_unstable();
        split.test.sort_unstable();
        Ok(split)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Result<Dataset> {
        // 10 samples, 2 features, labels 0,1,0,1,...
        let labels: Vec<u8> = (0..10).map(|i| i % 2).collect();
        let features = (0..20u8).map(f32::from).collect();
        Dataset::new("toy", 2, 2, features, labels)
    }

    #[test]
    fn new_rejects_inconsistent_inputs() {
        assert!(Dataset::new("x", 2, 2, vec![0.0; 3], vec![0, 1]).is_err());
        assert!(Dataset::new("x", 2, 2, vec![0.0; 4], vec![0, 2]).is_err());
        assert!(Dataset::new("x", 0, 2, vec![], vec![]).is_err());
        assert!(Dataset::new("x", 1, 0, vec![], vec![]).is_err());
    }

    #[test]
    fn sample_and_subset_agree() -> Result<()> {
        let toy = toy()?;
        let sub = toy.subset(&[3, 0, 3])?;
        assert_eq!(sub.len(), 3);
        assert_eq!(sub.sample(0), toy.sample(3));
        assert_eq!(sub.sample(1), toy.sample(0));
        assert_eq!(sub.sample(3), None);
        assert_eq!(sub.iter().count(), 3);
        assert!(toy.subset(&[10]).is_err());
        Ok(())
    }

    #[test]
    fn split_is_stratified_and_complete() -> Result<()> {
        let toy = toy()?;
        let split = toy.stratified_split(0.4, 7)?;
        assert_eq!(split.test.len(), 4);
        assert_eq!(toy.subset(&split.test)?.class_counts(), vec![2, 2]);
        let mut all = [split.train, split.test].concat();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert!(toy.stratified_split(0.0, 7).is_err());
        assert!(toy.stratified_split(1.0, 7).is_err());
        assert!(toy.stratified_split(f64::NAN, 7).is_err());
        assert!(toy.stratified_split(0.95, 7).is_err());
        Ok(())
    }
}

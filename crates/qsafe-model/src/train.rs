//! The training recipe behind `assets/digits-mlp.safetensors` (feature `train`).
//!
//! Mini-batch stochastic gradient descent with momentum on the softmax cross-entropy loss,
//! single-threaded `f32` arithmetic in a fixed order, with every random choice (weight
//! initialisation, per-epoch shuffles) drawn from one ChaCha8 generator seeded with
//! [`TrainConfig::seed`]. The same configuration therefore yields the same weights, bit for
//! bit, on every platform; `tests/model_train.rs` retrains and compares with the committed
//! file.
//!
//! Federated training builds on the same arithmetic: [`Classifier::initial`] is the recipe's
//! seeded starting point, and [`train_from`] continues SGD from given weights for a few epochs
//! (fresh momentum, shuffles from its own seed) on one worker's data; the weights travel as
//! [`Classifier::parameters`] vectors.
//!
//! Inputs are scaled by 1/16 during training (so the first layer sees values in 0..1) and the
//! factor is folded into `w1` afterwards (exact: a power of two), so the saved model takes raw
//! 0..=16 intensities.

use rand::rngs::ChaCha8Rng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

use super::mlp::{Mlp, argmax, softmax};
use super::{
    CLASSES, Classifier, Error, INPUT_FEATURES, MAX_BATCH, MAX_HIDDEN, MAX_INTENSITY, Result,
    required_metadata,
};

/// Version written into the committed model's metadata (and served in V2 `versions`).
pub const MODEL_VERSION: &str = "1";
/// Seed of the stratified train/test split of the digits data.
pub const SPLIT_SEED: u64 = 42;
/// Fraction of each class held out for testing.
pub const TEST_FRACTION: f64 = 0.2;

/// Hyperparameters. [`TrainConfig::default`] is the recipe of the committed model.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Hidden-layer width.
    pub hidden: usize,
    /// Passes over the training set.
    pub epochs: usize,
    /// Samples per gradient step (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Step size.
    pub learning_rate: f32,
    /// Heavy-ball momentum coefficient.
    pub momentum: f32,
    /// L2 penalty on the weights (not the biases), added to the gradient.
    pub weight_decay: f32,
    /// Seed of the ChaCha8 generator for initialisation and shuffles.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            hidden: 32,
            epochs: 60,
            batch_size: 32,
            learning_rate: 0.05,
            momentum: 0.9,
            weight_decay: 1e-4,
            seed: 2024,
        }
    }
}

impl TrainConfig {
    fn validate(&self) -> Result<()> {
        let ok = (1..=MAX_HIDDEN).contains(&self.hidden)
            && self.epochs >= 1
            && self.batch_size >= 1
            && self.learning_rate.is_finite()
            && self.learning_rate > 0.0
            && (0.0..1.0).contains(&self.momentum)
            && self.weight_decay.is_finite()
            && self.weight_decay >= 0.0;
        if ok {
            Ok(())
        } else {
            Err(Error::Training(format!("invalid configuration {self:?}")))
        }
    }

    /// One-line description stored in the model's `training` metadata.
    pub fn describe(&self) -> String {
        format!(
            "mini-batch SGD, momentum {}, learning rate {}, batch {}, {} epochs, L2 {}; \
             He-uniform w1, Glorot-uniform w2, zero biases; ChaCha8 (rand 0.10) seed {}; \
             inputs scaled by 1/16 in training, folded into w1",
            self.momentum,
            self.learning_rate,
            self.batch_size,
            self.epochs,
            self.weight_decay,
            self.seed
        )
    }
}

/// Progress after each epoch, for a caller-supplied callback.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochStats {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean cross-entropy over the epoch's training samples (computed before each step).
    pub loss: f32,
    /// Fraction of the epoch's training samples classified correctly before each step.
    pub train_accuracy: f32,
}

/// Correct predictions out of a total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accuracy {
    /// Correctly classified samples.
    pub correct: usize,
    /// All samples.
    pub total: usize,
}

impl Accuracy {
    /// `correct / total` (0 for an empty set).
    pub fn ratio(&self) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        // Counts are far below 2^52: exact conversions.
        self.correct as f64 / self.total as f64
    }
}

/// Trains a classifier on raw `[n, 64]` row-major features (0..=16) and labels 0..=9.
///
/// The returned classifier's metadata holds the required entries plus `architecture`,
/// `training` and `training_seed`.
///
/// # Errors
/// [`Error::Training`] for an invalid configuration, empty or inconsistent data, a label
/// above 9, or a feature outside 0..=16.
pub fn train(
    features: &[f32],
    labels: &[u8],
    config: &TrainConfig,
    mut on_epoch: impl FnMut(&EpochStats),
) -> Result<Classifier> {
    config.validate()?;
    check_data(features, labels)?;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut mlp = initial_mlp(config.hidden, &mut rng);
    sgd(&mut mlp, features, labels, config, &mut rng, &mut on_epoch);
    fold_input_scale(&mut mlp);
    let mut metadata = recipe_metadata(config.hidden);
    for (key, value) in [
        ("training", config.describe()),
        ("training_seed", config.seed.to_string()),
    ] {
        metadata.insert(key.to_owned(), value);
    }
    Ok(Classifier {
        mlp,
        version: MODEL_VERSION.to_owned(),
        metadata,
    })
}

/// Continues training `start` for `config.epochs` epochs of the recipe's SGD on raw `[n, 64]`
/// features and labels: the building block of federated averaging, where each worker trains
/// the round's global model on its own shard.
///
/// Same arithmetic as [`train`], with two differences: the weights come from `start` instead
/// of the seeded initialisation, and the ChaCha8 generator seeded with `config.seed` draws
/// only the per-epoch shuffles. The momentum buffer starts at zero and lives only for this
/// call. `config.hidden` must equal `start.hidden()`. The result keeps `start`'s version and
/// metadata. Deterministic: the same start, data and configuration give the same bits.
///
/// `start`'s `w1` (raw-input space) is multiplied by 16 for training and by 1/16 afterwards,
/// as the recipe folds its input scale; both are exact in `f32` for weights of ordinary size.
///
/// # Errors
/// [`Error::Training`] for an invalid configuration, a hidden width that differs from
/// `start`'s, empty or inconsistent data, a label above 9, a feature outside 0..=16, or if
/// training diverges (a weight becomes NaN or infinite).
pub fn train_from(
    start: &Classifier,
    features: &[f32],
    labels: &[u8],
    config: &TrainConfig,
    mut on_epoch: impl FnMut(&EpochStats),
) -> Result<Classifier> {
    config.validate()?;
    if config.hidden != start.hidden() {
        return Err(Error::Training(format!(
            "configuration says hidden width {}, the starting model has {}",
            config.hidden,
            start.hidden()
        )));
    }
    check_data(features, labels)?;
    let mut mlp = start.mlp.clone();
    for w in &mut mlp.w1 {
        *w *= MAX_INTENSITY;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    sgd(&mut mlp, features, labels, config, &mut rng, &mut on_epoch);
    fold_input_scale(&mut mlp);
    let finite = [&mlp.w1, &mlp.b1, &mlp.w2, &mlp.b2]
        .iter()
        .all(|t| t.iter().all(|v| v.is_finite()));
    if !finite {
        return Err(Error::Training(
            "training diverged: a weight is not a finite number (lower the learning rate)"
                .to_owned(),
        ));
    }
    Ok(Classifier {
        mlp,
        version: start.version.clone(),
        metadata: start.metadata.clone(),
    })
}

impl Classifier {
    /// The untrained network the recipe starts from for hidden width `hidden` and `seed`:
    /// He-uniform `w1`, Glorot-uniform `w2`, zero biases, drawn from ChaCha8 seeded with
    /// `seed` exactly as [`train`] draws them (with the input scale folded into `w1`). The
    /// starting point of federated training. Version [`MODEL_VERSION`].
    ///
    /// # Errors
    /// [`Error::Training`] if `hidden` is outside `1..=`[`MAX_HIDDEN`].
    pub fn initial(hidden: usize, seed: u64) -> Result<Self> {
        if !(1..=MAX_HIDDEN).contains(&hidden) {
            return Err(Error::Training(format!(
                "hidden width {hidden}, expected 1..={MAX_HIDDEN}"
            )));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut mlp = initial_mlp(hidden, &mut rng);
        fold_input_scale(&mut mlp);
        let mut metadata = recipe_metadata(hidden);
        metadata.insert(
            "initialisation".to_owned(),
            format!(
                "He-uniform w1, Glorot-uniform w2, zero biases; ChaCha8 (rand 0.10) seed {seed}; \
                 untrained"
            ),
        );
        Ok(Classifier {
            mlp,
            version: MODEL_VERSION.to_owned(),
            metadata,
        })
    }
}

/// The recipe's metadata: the required entries plus `architecture` and `input`.
fn recipe_metadata(hidden: usize) -> BTreeMap<String, String> {
    let mut metadata = required_metadata(MODEL_VERSION);
    for (key, value) in [
        (
            "architecture",
            format!(
                "MLP {INPUT_FEATURES}-{hidden}-{CLASSES}: probabilities = softmax(w2 relu(w1 x + b1) + b2); \
                 w1 [{hidden},{INPUT_FEATURES}], w2 [{CLASSES},{hidden}] ([out,in], as torch nn.Linear)"
            ),
        ),
        (
            "input",
            "FP32 [N,64]: 8x8 image, row-major, raw intensities 0..16".to_owned(),
        ),
    ] {
        metadata.insert(key.to_owned(), value);
    }
    metadata
}

/// The recipe's initialisation, in training space (inputs scaled by 1/16): He-uniform for the
/// ReLU layer, Glorot-uniform for the softmax layer, zero biases.
fn initial_mlp(hidden: usize, rng: &mut ChaCha8Rng) -> Mlp {
    let bound1 = (6.0 / INPUT_FEATURES as f32).sqrt();
    let bound2 = (6.0 / (hidden + CLASSES) as f32).sqrt();
    let w1: Vec<f32> = (0..hidden * INPUT_FEATURES)
        .map(|_| uniform(rng, bound1))
        .collect();
    let w2: Vec<f32> = (0..CLASSES * hidden)
        .map(|_| uniform(rng, bound2))
        .collect();
    Mlp {
        hidden,
        w1,
        b1: vec![0.0; hidden],
        w2,
        b2: vec![0.0; CLASSES],
    }
}

/// Folds the training input scale into `w1`, so the model takes raw 0..=16 intensities.
fn fold_input_scale(mlp: &mut Mlp) {
    for w in &mut mlp.w1 {
        *w *= INPUT_SCALE;
    }
}

/// `config.epochs` epochs of mini-batch SGD with momentum (a fresh, zero velocity) on `mlp`
/// in training space, one shuffle drawn from `rng` per epoch. Data and configuration are
/// validated by the caller.
fn sgd(
    mlp: &mut Mlp,
    features: &[f32],
    labels: &[u8],
    config: &TrainConfig,
    rng: &mut ChaCha8Rng,
    on_epoch: &mut impl FnMut(&EpochStats),
) {
    let n = labels.len();
    let hidden = mlp.hidden;
    let x: Vec<f32> = features.iter().map(|v| v * INPUT_SCALE).collect();
    let mut grad = Gradients::zeros(hidden);
    let mut velocity = Gradients::zeros(hidden);
    let mut h = vec![0.0; hidden];
    let mut dh = vec![0.0; hidden];
    let mut order: Vec<usize> = (0..n).collect();

    for epoch in 1..=config.epochs {
        order.shuffle(rng);
        let mut loss_sum = 0.0f64;
        let mut correct = 0usize;
        for batch in order.chunks(config.batch_size) {
            grad.clear();
            for &i in batch {
                let xi = x
                    .get(i * INPUT_FEATURES..(i + 1) * INPUT_FEATURES)
                    .unwrap_or_default();
                let yi = usize::from(labels.get(i).copied().unwrap_or_default());
                mlp.hidden_layer(xi, &mut h);
                let mut d = softmax(&mlp.output_layer(&h));
                let p_true = d.get(yi).copied().unwrap_or_default();
                loss_sum -= f64::from(libm::logf(p_true.max(f32::MIN_POSITIVE)));
                correct += usize::from(argmax(&d) == yi);
                // dL/dz = p - onehot(y)
                if let Some(dy) = d.get_mut(yi) {
                    *dy -= 1.0;
                }
                grad.accumulate(mlp, xi, &h, &d, &mut dh);
            }
            // Batch sizes are at most n, far below 2^24: exact.
            let inv = 1.0 / batch.len() as f32;
            step(mlp, &grad, &mut velocity, inv, config);
        }
        on_epoch(&EpochStats {
            epoch,
            loss: (loss_sum / n as f64) as f32,
            train_accuracy: (correct as f64 / n as f64) as f32,
        });
    }
}

/// Accuracy of `classifier` on raw `[n, 64]` features and labels.
///
/// # Errors
/// [`Error::Training`] if the data is inconsistent, [`Error::Input`] if a feature is out of
/// range.
pub fn evaluate(classifier: &Classifier, features: &[f32], labels: &[u8]) -> Result<Accuracy> {
    check_data(features, labels)?;
    let mut correct = 0;
    for (x, y) in features
        .chunks(MAX_BATCH * INPUT_FEATURES)
        .zip(labels.chunks(MAX_BATCH))
    {
        let predictions = classifier.predict_flat(x)?;
        correct += predictions
            .iter()
            .zip(y)
            .filter(|(p, y)| p.label == **y)
            .count();
    }
    Ok(Accuracy {
        correct,
        total: labels.len(),
    })
}

/// The committed model and how it scored.
#[derive(Debug, Clone)]
pub struct TrainedDigits {
    /// The classifier, with dataset and accuracy metadata added.
    pub classifier: Classifier,
    /// Accuracy on the training split.
    pub train_accuracy: Accuracy,
    /// Accuracy on the held-out test split.
    pub test_accuracy: Accuracy,
}

/// The digits train/test split used for the committed model: `(train, test)` data sets.
///
/// # Errors
/// [`Error::Training`] if the vendored data fails to load (it is checked by `qsafe-data`'s
/// tests).
pub fn digits_split() -> Result<(qsafe_data::Dataset, qsafe_data::Dataset)> {
    let data_error = |e: qsafe_data::Error| Error::Training(e.to_string());
    let digits = qsafe_data::digits().map_err(data_error)?;
    let split = digits
        .stratified_split(TEST_FRACTION, SPLIT_SEED)
        .map_err(data_error)?;
    Ok((
        digits.subset(&split.train).map_err(data_error)?,
        digits.subset(&split.test).map_err(data_error)?,
    ))
}

/// The whole recipe: load the vendored digits, split them ([`SPLIT_SEED`], 20% test,
/// stratified), train with `config`, evaluate, and record provenance and accuracy in the
/// metadata. `examples/train_digits.rs` saves the result with
/// [`Classifier::to_safetensors`].
///
/// # Errors
/// As [`digits_split`], [`train`] and [`evaluate`].
pub fn train_digits(
    config: &TrainConfig,
    on_epoch: impl FnMut(&EpochStats),
) -> Result<TrainedDigits> {
    let (train_set, test_set) = digits_split()?;
    let mut classifier = train(train_set.features(), train_set.labels(), config, on_epoch)?;
    let train_accuracy = evaluate(&classifier, train_set.features(), train_set.labels())?;
    let test_accuracy = evaluate(&classifier, test_set.features(), test_set.labels())?;
    for (key, value) in [
        (
            "dataset",
            "UCI Optical Recognition of Handwritten Digits, test set (Alpaydin & Kaynak 1998, \
             doi:10.24432/C50P49, CC BY 4.0), as shipped by scikit-learn 1.9.1 (digits.csv.gz)"
                .to_owned(),
        ),
        ("dataset_sha256", qsafe_data::DIGITS_GZ_SHA256.to_owned()),
        (
            "split",
            format!(
                "qsafe-data stratified_split, test fraction {TEST_FRACTION}, seed {SPLIT_SEED}: \
                 {} train, {} test",
                train_set.len(),
                test_set.len()
            ),
        ),
        ("train_accuracy", format!("{:.4}", train_accuracy.ratio())),
        ("test_accuracy", format!("{:.4}", test_accuracy.ratio())),
        (
            "test_correct",
            format!("{}/{}", test_accuracy.correct, test_accuracy.total),
        ),
    ] {
        classifier.metadata.insert(key.to_owned(), value);
    }
    Ok(TrainedDigits {
        classifier,
        train_accuracy,
        test_accuracy,
    })
}

/// Inputs are multiplied by this during training; it is folded into `w1` at the end.
const INPUT_SCALE: f32 = 1.0 / MAX_INTENSITY;

fn check_data(features: &[f32], labels: &[u8]) -> Result<()> {
    if labels.is_empty() || Some(features.len()) != labels.len().checked_mul(INPUT_FEATURES) {
        return Err(Error::Training(format!(
            "{} feature values for {} labels (need {INPUT_FEATURES} per label, at least one)",
            features.len(),
            labels.len()
        )));
    }
    if let Some(bad) = labels.iter().find(|&&y| usize::from(y) >= CLASSES) {
        return Err(Error::Training(format!("label {bad} is not a digit")));
    }
    if features.iter().any(|v| !(0.0..=MAX_INTENSITY).contains(v)) {
        return Err(Error::Training(format!(
            "a feature is outside 0..={MAX_INTENSITY}"
        )));
    }
    Ok(())
}

/// Uniform in `[-bound, bound)`: the top 24 bits of a ChaCha8 word as an exact fraction in
/// `[0, 1)`, mapped affinely. Spelled out (rather than `rand`'s float sampling) so the
/// initial weights are pinned down by this file alone.
fn uniform(rng: &mut ChaCha8Rng, bound: f32) -> f32 {
    let unit = (rng.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0);
    (2.0 * unit - 1.0) * bound
}

/// Per-parameter buffers with the network's shapes (gradients or momentum).
struct Gradients {
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: Vec<f32>,
}

impl Gradients {
    fn zeros(hidden: usize) -> Self {
        Self {
            w1: vec![0.0; hidden * INPUT_FEATURES],
            b1: vec![0.0; hidden],
            w2: vec![0.0; CLASSES * hidden],
            b2: vec![0.0; CLASSES],
        }
    }

    fn clear(&mut self) {
        for buffer in [&mut self.w1, &mut self.b1, &mut self.w2, &mut self.b2] {
            buffer.fill(0.0);
        }
    }

    /// Adds one sample's gradient: `d` is dL/dlogits, `h` the hidden activations, `x` the
    /// (scaled) input; `dh` is scratch space.
    fn accumulate(&mut self, mlp: &Mlp, x: &[f32], h: &[f32], d: &[f32; CLASSES], dh: &mut [f32]) {
        let hidden = mlp.hidden;
        for ((g_row, gb), &dc) in self.w2.chunks_exact_mut(hidden).zip(&mut self.b2).zip(d) {
            *gb += dc;
            for (g, &hj) in g_row.iter_mut().zip(h) {
                *g += dc * hj;
            }
        }
        // dh_j = relu'(a_j) * Σ_c w2[c, j] d_c, summed over c in order.
        dh.fill(0.0);
        for (w_row, &dc) in mlp.w2.chunks_exact(hidden).zip(d) {
            for (dhj, &w) in dh.iter_mut().zip(w_row) {
                *dhj += w * dc;
            }
        }
        for (dhj, &hj) in dh.iter_mut().zip(h) {
            if hj <= 0.0 {
                *dhj = 0.0;
            }
        }
        for ((g_row, gb), &dhj) in self
            .w1
            .chunks_exact_mut(INPUT_FEATURES)
            .zip(&mut self.b1)
            .zip(dh.iter())
        {
            *gb += dhj;
            if dhj != 0.0 {
                for (g, &xk) in g_row.iter_mut().zip(x) {
                    *g += dhj * xk;
                }
            }
        }
    }
}

/// One momentum step: `v = μ v + (g / batch + λ w)`, `w -= η v` (no decay on biases).
fn step(
    mlp: &mut Mlp,
    grad: &Gradients,
    velocity: &mut Gradients,
    inv_batch: f32,
    c: &TrainConfig,
) {
    let update = |w: &mut [f32], g: &[f32], v: &mut [f32], decay: f32| {
        for ((w, &g), v) in w.iter_mut().zip(g).zip(v.iter_mut()) {
            *v = c.momentum * *v + (g * inv_batch + decay * *w);
            *w -= c.learning_rate * *v;
        }
    };
    update(&mut mlp.w1, &grad.w1, &mut velocity.w1, c.weight_decay);
    update(&mut mlp.b1, &grad.b1, &mut velocity.b1, 0.0);
    update(&mut mlp.w2, &grad.w2, &mut velocity.w2, c.weight_decay);
    update(&mut mlp.b2, &grad.b2, &mut velocity.b2, 0.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_stays_in_bounds() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..10_000 {
            let u = uniform(&mut rng, 0.5);
            assert!((-0.5..0.5).contains(&u));
        }
    }

    #[test]
    fn train_rejects_bad_input() {
        let cfg = TrainConfig {
            epochs: 1,
            ..TrainConfig::default()
        };
        let ok = |_: &EpochStats| {};
        assert!(train(&[], &[], &cfg, ok).is_err());
        assert!(train(&[0.0; 64], &[10], &cfg, ok).is_err());
        assert!(train(&[17.0; 64], &[1], &cfg, ok).is_err());
        assert!(train(&[0.0; 63], &[1], &cfg, ok).is_err());
        let bad = TrainConfig {
            hidden: 0,
            ..cfg.clone()
        };
        assert!(train(&[0.0; 64], &[1], &bad, ok).is_err());
        assert!(train(&[0.0; 64], &[1], &cfg, ok).is_ok());
    }

    #[test]
    fn tiny_training_run_is_deterministic() -> Result<()> {
        // Two classes: bright top half vs bright bottom half.
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..40u8 {
            let top = i % 2 == 0;
            x.extend((0..64).map(|k| if (k < 32) == top { 16.0 } else { 0.0 }));
            y.push(u8::from(!top));
        }
        let cfg = TrainConfig {
            epochs: 5,
            batch_size: 8,
            hidden: 4,
            ..TrainConfig::default()
        };
        let a = train(&x, &y, &cfg, |_| {})?;
        let b = train(&x, &y, &cfg, |_| {})?;
        assert_eq!(a, b);
        assert_eq!(evaluate(&a, &x, &y)?.correct, 40);
        let c = train(&x, &y, &TrainConfig { seed: 1, ..cfg }, |_| {})?;
        assert_ne!(a, c);
        Ok(())
    }
}

//! Federated averaging of the digits classifier (`qsafe-model`) on shards of the UCI digits
//! training split: the [`LocalTrainer`] of one worker ([`ShardTrainer`]), evaluation on the
//! held-out test split, the final-model writer, and [`simulate`], an in-process reference that
//! the networked runs (`net`) are compared with.
//!
//! # Algorithm
//!
//! FedAvg, McMahan et al., *Communication-Efficient Learning of Deep Networks from
//! Decentralized Data* (AISTATS 2017), Algorithm 1, with every worker taking part in every
//! round (`C = 1`) and an **unweighted** mean:
//!
//! ```text
//! θ_0 = Classifier::initial(hidden, init_seed).parameters()
//! round r = 1..=R:
//!     each worker i in the round's survivors S_r:
//!         Δ_i = train_from(θ_{r-1}, shard_i, E local epochs, seed_{i,r}) − θ_{r-1}
//!     θ_r = θ_{r-1} + (1/|S_r|) Σ_{i ∈ S_r} Δ_i
//! ```
//!
//! The paper weights worker `i` by its sample count `n_i / n`; here the mean is unweighted,
//! because secure aggregation reveals only the plain sum of the survivors' inputs and a
//! per-worker weight would have to be announced (leaking shard sizes) or multiplied in before
//! quantisation. With [`Partitioning::Iid`] the shard sizes differ by at most one sample, so
//! the two coincide up to `1/n_i`; with [`Partitioning::LabelSkew`] shards are equal up to one
//! sample as well (`qsafe-data` cuts near-equal shards). Parameters travel as the flat vector
//! of [`Classifier::parameters`]: `w1`, `b1`, `w2`, `b2`, `75·H + 10` values (2410 for
//! `H = 32`), `w1` acting on raw `0..=16` intensities.
//!
//! Local training is the committed model's recipe ([`qsafe_model::train`]): mini-batch SGD with
//! heavy-ball momentum and L2 decay on the softmax cross-entropy, momentum reset at the start
//! of every round (it is local to [`train_from`]), so nothing but the parameters crosses a
//! round boundary.
//!
//! # Defaults and measured accuracy
//!
//! [`LocalConfig::default`]: hidden width 32, 2 local epochs per round, batch 32, learning
//! rate 0.05, momentum 0.9, L2 `1e-4` (the centralised recipe's hyperparameters), and
//! [`DEFAULT_ROUNDS`] = 20 rounds, i.e. 40 passes over the training data in total (the
//! centralised recipe makes 60). Measured on the 359-sample test split (the committed,
//! centrally trained model scores 0.97 on it), with the default seeds:
//!
//! | 4 workers, 20 rounds                       | plaintext f32 | quantised ([`Quantiser::DEFAULT`]) |
//! |--------------------------------------------|---------------|------------------------------------|
//! | [`Partitioning::Iid`]                      | 0.9833 (353)  | 0.9833 (353)                       |
//! | [`Partitioning::LabelSkew`] (2 shards each)| 0.9304 (334)  | 0.9304 (334)                       |
//!
//! The IID run passes 0.90 in round 2 and stays between 0.97 and 0.98 from round 9. The
//! label-skew run (most workers see two or three digits) oscillates in the first rounds (0.17
//! after round 1, 0.50 after round 3) and passes 0.90 in round 12; the tests hold it to at
//! least [`LABEL_SKEW_FLOOR`] after the default 20 rounds. Each reference run takes well under
//! a second.
//!
//! # Quantisation and the clip bound
//!
//! Secure aggregation sums updates quantised by a [`Quantiser`] ([`Aggregation::Quantised`]);
//! [`Quantiser::DEFAULT`] clips every coordinate to `[-4, 4]` and rounds to a step of
//! `2^-20`. Digits updates stay well inside that range: the largest update coordinate in any
//! round of the default runs is 0.47 with IID shards and 1.19 with label skew, both in round 1
//! while the model is still untrained, and below 0.07 and 0.25 by round 20 (`w1` acts on raw
//! `0..=16` intensities, so its coordinates move 16 times less than in training space). The
//! tests check `clip / 4` (IID) and `clip / 2` (label skew) and that nothing was clipped.
//! Rounding then moves each coordinate of the mean by at most `2^-21` (plus the final `f32`
//! rounding), and the quantised runs end with the same test accuracy as the float runs.
//!
//! Should an update exceed the bound (a much larger learning rate, many more local epochs, or
//! a wider model), the quantiser clips it silently: the aggregate then differs from plaintext
//! FedAvg, biased towards zero in that coordinate, and protected and plaintext runs drift
//! apart. [`RoundStats::clipped`] counts such coordinates so a run can detect it; the remedies
//! are a smaller step size or a [`Quantiser::new`] with a larger clip bound (fewer fractional
//! bits: clip 64 for 256 workers still leaves a step of `2^-16`). NaN or infinite updates are
//! never aggregated: [`ShardTrainer`] returns an error instead (the worker then drops out of
//! the round), and [`Aggregation::mean`] and the quantiser reject them too.
//!
//! # Determinism
//!
//! Everything is single-threaded `f32` in a fixed order (the recipe's arithmetic). The worker
//! `i`'s shuffles in round `r` come from ChaCha8 seeded with
//! [`local_seed`]`(config.seed, i, r)`, so a worker's update depends only on the global
//! parameters, its shard, its index and the round: an aggregator over TCP and [`simulate`]
//! compute the same updates bit for bit, provided they number workers the same way
//! ([`simulate`] gives shard `i` of [`digits_shards`] the index `i`, from 0) and rounds the
//! same way (from 1). The quantised sum is exact integer arithmetic modulo
//! `2^32`, independent of the order in which updates arrive, so the secure-aggregation result
//! equals [`Aggregation::Quantised`]'s here exactly; the float mean accumulates in `f64` in
//! ascending worker order.

use core::fmt;
use std::collections::BTreeMap;

use qsafe_data::{Dataset, Partitioning};
use qsafe_model::train::{Accuracy, TrainConfig, digits_split, train_from};
use qsafe_model::{CLASSES, Classifier, INPUT_FEATURES, parameter_count, required_metadata};

use crate::error::{Error, Result};
use crate::quant::{Quantiser, add_assign};
use crate::trainer::LocalTrainer;

/// Hidden-layer width of the federated model (the committed model's).
pub const DEFAULT_HIDDEN: usize = 32;
/// Rounds of FedAvg in the reference run.
pub const DEFAULT_ROUNDS: u64 = 20;
/// Workers in the reference run.
pub const DEFAULT_WORKERS: usize = 4;
/// Seed of [`Classifier::initial`] for the round-0 global model (the recipe's seed).
pub const DEFAULT_INIT_SEED: u64 = 2024;
/// Seed of the partition of the training split into shards.
pub const DEFAULT_PARTITION_SEED: u64 = 7;
/// Model version written by [`to_safetensors`] unless the metadata names another.
pub const FEDAVG_MODEL_VERSION: &str = "fedavg-1";
/// Test accuracy the default run with [`Partitioning::LabelSkew`] (2 shards per worker, 4
/// workers) must reach after [`DEFAULT_ROUNDS`] rounds (0.93 measured).
pub const LABEL_SKEW_FLOOR: f64 = 0.85;

/// Every worker's local training hyperparameters. [`LocalConfig::default`] is documented in the
/// [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalConfig {
    /// Hidden-layer width `H` of the model (all parties must agree).
    pub hidden: usize,
    /// Local passes over the shard per round (`E` in McMahan et al.).
    pub epochs: usize,
    /// Samples per gradient step (`B`).
    pub batch_size: usize,
    /// SGD step size.
    pub learning_rate: f32,
    /// Heavy-ball momentum coefficient (the velocity restarts at zero every round).
    pub momentum: f32,
    /// L2 penalty on the weights (not the biases).
    pub weight_decay: f32,
    /// Base seed from which every worker's per-round shuffle seed is derived
    /// ([`local_seed`]).
    pub seed: u64,
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            hidden: DEFAULT_HIDDEN,
            epochs: 2,
            batch_size: 32,
            learning_rate: 0.05,
            momentum: 0.9,
            weight_decay: 1e-4,
            seed: 2024,
        }
    }
}

impl LocalConfig {
    /// The recipe configuration worker `worker` trains with in `round`.
    pub fn train_config(&self, worker: usize, round: u64) -> TrainConfig {
        TrainConfig {
            hidden: self.hidden,
            epochs: self.epochs,
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            seed: local_seed(self.seed, worker, round),
        }
    }

    /// One-line description for the final model's `training` metadata.
    pub fn describe(&self) -> String {
        format!(
            "local: mini-batch SGD, momentum {} (reset each round), learning rate {}, batch {}, \
             {} epochs per round, L2 {}; shuffle seeds derived from {}",
            self.momentum,
            self.learning_rate,
            self.batch_size,
            self.epochs,
            self.weight_decay,
            self.seed
        )
    }
}

/// The shuffle seed of worker `worker` in round `round`: SplitMix64 applied to `base`, then
/// to that xor `worker`, then to that xor `round`. Distinct workers and rounds get unrelated
/// seeds; the same triple always gives the same seed.
pub fn local_seed(base: u64, worker: usize, round: u64) -> u64 {
    let worker = u64::try_from(worker).unwrap_or(u64::MAX);
    splitmix64(splitmix64(splitmix64(base) ^ worker) ^ round)
}

/// SplitMix64's output function (Steele, Lea & Flood 2014) on `x + γ`.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One worker: its shard of the digits training split and the local configuration. Implements
/// [`LocalTrainer`] for the transport.
#[derive(Clone)]
pub struct ShardTrainer {
    worker: usize,
    shard: Dataset,
    config: LocalConfig,
}

impl fmt::Debug for ShardTrainer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardTrainer")
            .field("worker", &self.worker)
            .field("samples", &self.shard.len())
            .field("config", &self.config)
            .finish()
    }
}

impl ShardTrainer {
    /// Worker `worker` (its index, which only feeds [`local_seed`]) training on `shard`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the shard is empty or not 64-feature, 10-class data.
    pub fn new(worker: usize, shard: Dataset, config: LocalConfig) -> Result<Self> {
        if shard.is_empty() || shard.n_features() != INPUT_FEATURES || shard.n_classes() != CLASSES
        {
            return Err(Error::InvalidParameter(format!(
                "worker {worker}: shard of {} samples with {} features and {} classes; \
                 expected a non-empty digits shard ({INPUT_FEATURES} features, {CLASSES} classes)",
                shard.len(),
                shard.n_features(),
                shard.n_classes()
            )));
        }
        Ok(Self {
            worker,
            shard,
            config,
        })
    }

    /// The worker's index.
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// The worker's shard.
    pub fn shard(&self) -> &Dataset {
        &self.shard
    }

    /// The local configuration.
    pub fn config(&self) -> &LocalConfig {
        &self.config
    }

    /// The update for `round` from the global parameters `global`: locally trained parameters
    /// minus `global`. [`LocalTrainer::local_update`] is this with the error as a string.
    ///
    /// # Errors
    /// [`Error::Length`] if `global` is not [`parameter_count`]`(hidden)` long,
    /// [`Error::NonFinite`] if a coordinate of `global` or of the update is NaN or infinite,
    /// [`Error::InvalidParameter`] if local training rejects the configuration or diverges.
    pub fn update(&self, round: u64, global: &[f32]) -> Result<Vec<f32>> {
        let start = classifier(self.config.hidden, global)?;
        let local = train_from(
            &start,
            self.shard.features(),
            self.shard.labels(),
            &self.config.train_config(self.worker, round),
            |_| {},
        )
        .map_err(|e| {
            Error::InvalidParameter(format!("worker {}, round {round}: {e}", self.worker))
        })?;
        let update: Vec<f32> = local
            .parameters()
            .iter()
            .zip(global)
            .map(|(l, g)| l - g)
            .collect();
        check_finite(&update)?;
        Ok(update)
    }
}

impl LocalTrainer for ShardTrainer {
    fn local_update(&mut self, round: u64, global: &[f32]) -> Result<Vec<f32>, String> {
        self.update(round, global).map_err(|e| e.to_string())
    }
}

/// Checks `parameters` (length and finiteness) and builds the classifier they describe.
fn classifier(hidden: usize, parameters: &[f32]) -> Result<Classifier> {
    classifier_with(
        hidden,
        parameters,
        "global parameter vector",
        required_metadata(FEDAVG_MODEL_VERSION),
    )
}

/// [`classifier`] with the vector's name for errors and the model's metadata.
fn classifier_with(
    hidden: usize,
    parameters: &[f32],
    what: &'static str,
    metadata: BTreeMap<String, String>,
) -> Result<Classifier> {
    let expected = parameter_count(hidden);
    if parameters.len() != expected {
        return Err(Error::Length {
            what,
            expected,
            got: parameters.len(),
        });
    }
    check_finite(parameters)?;
    Classifier::from_parameters(hidden, parameters, metadata)
        .map_err(|e| Error::InvalidParameter(e.to_string()))
}

fn check_finite(values: &[f32]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(Error::NonFinite { index }),
        None => Ok(()),
    }
}

/// The round-0 global parameters: [`Classifier::initial`]`(hidden, seed)`.
///
/// # Errors
/// [`Error::InvalidParameter`] if `hidden` is outside `1..=512`.
pub fn initial_parameters(hidden: usize, seed: u64) -> Result<Vec<f32>> {
    Classifier::initial(hidden, seed)
        .map(|c| c.parameters())
        .map_err(|e| Error::InvalidParameter(e.to_string()))
}

/// The digits training split (the committed model's: stratified, 20% test, seed 42) dealt out
/// to `workers` shards with `partitioning` and `seed`, and the 359-sample test split.
///
/// # Errors
/// [`Error::InvalidParameter`] if the partition is impossible (zero workers, more shards than
/// samples) or the vendored data fails to load.
pub fn digits_shards(
    workers: usize,
    partitioning: Partitioning,
    seed: u64,
) -> Result<(Vec<Dataset>, Dataset)> {
    let (train, test) = digits_split().map_err(|e| Error::InvalidParameter(e.to_string()))?;
    let data = |e: qsafe_data::Error| Error::InvalidParameter(format!("digits shards: {e}"));
    let shards = train
        .partition(workers, partitioning, seed)
        .map_err(data)?
        .iter()
        .map(|indices| train.subset(indices).map_err(data))
        .collect::<Result<Vec<_>>>()?;
    Ok((shards, test))
}

/// Accuracy of the model with parameters `params` (hidden width `hidden`) on `test`.
///
/// # Errors
/// As [`ShardTrainer::update`] for bad parameters; [`Error::InvalidParameter`] if `test` is
/// empty or not digits data.
pub fn evaluate(params: &[f32], hidden: usize, test: &Dataset) -> Result<Accuracy> {
    let model = classifier(hidden, params)?;
    qsafe_model::train::evaluate(&model, test.features(), test.labels())
        .map_err(|e| Error::InvalidParameter(format!("evaluation: {e}")))
}

/// The final model as a safetensors file that [`Classifier::from_safetensors`] (and so the
/// gateway) accepts: tensors `w1`, `b1`, `w2`, `b2` from `params`, `__metadata__` with the
/// required entries (`name` `digits-mlp`, `version` [`FEDAVG_MODEL_VERSION`], `input_shape`,
/// `class_labels`) overlaid with `metadata` (which may set `version`, and add e.g.
/// `training`, `test_accuracy`). Canonical bytes, as [`Classifier::to_safetensors`].
///
/// # Errors
/// As [`ShardTrainer::update`] for bad parameters; [`Error::InvalidParameter`] if `metadata`
/// contradicts a required entry or breaks a size limit (32 entries, 64-byte keys, 1 KiB
/// values).
pub fn to_safetensors(
    params: &[f32],
    hidden: usize,
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    let mut all = required_metadata(FEDAVG_MODEL_VERSION);
    all.extend(metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
    classifier_with(hidden, params, "model parameter vector", all)?
        .to_safetensors()
        .map_err(|e| Error::InvalidParameter(e.to_string()))
}

/// How the server combines the round's updates into their mean.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregation {
    /// Plaintext: the `f32` updates summed in `f64` in the given order, divided by `n`.
    Float,
    /// What secure aggregation computes: each update quantised, the wrapping sum in Z_2^32,
    /// then [`Quantiser::dequantise_mean`].
    Quantised(Quantiser),
}

impl Aggregation {
    /// The unweighted mean of `updates` (all the same length, at least one).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for no updates (or more than the quantiser's `N_max`),
    /// [`Error::Length`] for unequal lengths, [`Error::NonFinite`] for NaN or infinity.
    pub fn mean(&self, updates: &[Vec<f32>]) -> Result<Vec<f32>> {
        let first = updates
            .first()
            .ok_or_else(|| Error::InvalidParameter("no updates to aggregate".into()))?;
        let n = u32::try_from(updates.len())
            .map_err(|_| Error::InvalidParameter("too many updates".into()))?;
        for u in updates {
            if u.len() != first.len() {
                return Err(Error::Length {
                    what: "update vector",
                    expected: first.len(),
                    got: u.len(),
                });
            }
            check_finite(u)?;
        }
        match self {
            Aggregation::Float => {
                let mut sum = vec![0.0f64; first.len()];
                for u in updates {
                    for (s, &x) in sum.iter_mut().zip(u) {
                        *s += f64::from(x);
                    }
                }
                let n = f64::from(n);
                Ok(sum.iter().map(|s| (s / n) as f32).collect())
            }
            Aggregation::Quantised(q) => {
                let mut sum = vec![0u32; first.len()];
                for u in updates {
                    add_assign(&mut sum, &q.quantise(u)?)?;
                }
                q.dequantise_mean(&sum, n)
            }
        }
    }

    /// Coordinates of `update` this aggregation clips (0 for [`Aggregation::Float`]).
    pub fn clipped(&self, update: &[f32]) -> usize {
        match self {
            Aggregation::Float => 0,
            Aggregation::Quantised(q) => update.iter().filter(|x| x.abs() > q.clip()).count(),
        }
    }
}

/// `global += mean`, the server step of FedAvg.
///
/// # Errors
/// [`Error::Length`] if the lengths differ.
pub fn apply(global: &mut [f32], mean: &[f32]) -> Result<()> {
    if global.len() != mean.len() {
        return Err(Error::Length {
            what: "aggregated update",
            expected: global.len(),
            got: mean.len(),
        });
    }
    for (g, m) in global.iter_mut().zip(mean) {
        *g += m;
    }
    Ok(())
}

/// An in-process FedAvg run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimulationConfig {
    /// Number of workers `N`, each with one shard.
    pub workers: usize,
    /// How the training split is dealt out.
    pub partitioning: Partitioning,
    /// Seed of the partition.
    pub partition_seed: u64,
    /// Rounds `R`.
    pub rounds: u64,
    /// Seed of the round-0 model ([`Classifier::initial`]).
    pub init_seed: u64,
    /// Every worker's local training.
    pub local: LocalConfig,
    /// Plaintext or quantised aggregation.
    pub aggregation: Aggregation,
}

impl Default for SimulationConfig {
    /// 4 IID workers, 20 rounds, [`LocalConfig::default`], plaintext aggregation.
    fn default() -> Self {
        Self {
            workers: DEFAULT_WORKERS,
            partitioning: Partitioning::Iid,
            partition_seed: DEFAULT_PARTITION_SEED,
            rounds: DEFAULT_ROUNDS,
            init_seed: DEFAULT_INIT_SEED,
            local: LocalConfig::default(),
            aggregation: Aggregation::Float,
        }
    }
}

impl SimulationConfig {
    /// One-line description for the final model's `training` metadata.
    pub fn describe(&self) -> String {
        let aggregation = match self.aggregation {
            Aggregation::Float => "plaintext f32 mean".to_owned(),
            Aggregation::Quantised(q) => format!(
                "quantised mean (clip {}, {} fractional bits, as secure aggregation)",
                q.clip(),
                q.frac_bits()
            ),
        };
        format!(
            "FedAvg (McMahan et al. 2017), unweighted mean of updates; {} workers, {:?} \
             partition (seed {}), {} rounds, initial seed {}; {aggregation}; {}",
            self.workers,
            self.partitioning,
            self.partition_seed,
            self.rounds,
            self.init_seed,
            self.local.describe()
        )
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundStats {
    /// 1-based round number.
    pub round: u64,
    /// Test accuracy of the global model after the round.
    pub accuracy: Accuracy,
    /// Largest `|coordinate|` of any worker's update this round.
    pub max_abs_update: f32,
    /// Update coordinates the aggregation clipped this round (over all workers).
    pub clipped: usize,
}

/// The result of [`simulate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    /// One entry per round.
    pub rounds: Vec<RoundStats>,
    /// The final global parameters.
    pub parameters: Vec<f32>,
}

impl Simulation {
    /// Test accuracy after the last round (`None` for zero rounds).
    pub fn final_accuracy(&self) -> Option<Accuracy> {
        self.rounds.last().map(|r| r.accuracy)
    }
}

/// Runs `config.rounds` rounds of FedAvg over the digits shards in-process, every worker
/// taking part in every round, and evaluates the global model on the test split after each.
///
/// # Errors
/// As [`digits_shards`], [`ShardTrainer::update`] and [`Aggregation::mean`].
pub fn simulate(config: &SimulationConfig) -> Result<Simulation> {
    let (shards, test) = digits_shards(config.workers, config.partitioning, config.partition_seed)?;
    let trainers = shards
        .into_iter()
        .enumerate()
        .map(|(i, shard)| ShardTrainer::new(i, shard, config.local))
        .collect::<Result<Vec<_>>>()?;
    let mut global = initial_parameters(config.local.hidden, config.init_seed)?;
    let mut rounds = Vec::new();
    for round in 1..=config.rounds {
        let updates = trainers
            .iter()
            .map(|t| t.update(round, &global))
            .collect::<Result<Vec<_>>>()?;
        let max_abs_update = updates.iter().flatten().fold(0.0f32, |m, x| m.max(x.abs()));
        let clipped = updates.iter().map(|u| config.aggregation.clipped(u)).sum();
        let mean = config.aggregation.mean(&updates)?;
        apply(&mut global, &mean)?;
        rounds.push(RoundStats {
            round,
            accuracy: evaluate(&global, config.local.hidden, &test)?,
            max_abs_update,
            clipped,
        });
    }
    Ok(Simulation {
        rounds,
        parameters: global,
    })
}

#[cfg(test)]
mod tests;

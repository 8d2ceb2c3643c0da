//! `qsafe bench training`: the seed's "network impact" rows for federated training, measured
//! (issue 6).
//!
//! For each model size `P` and worker count `W`, one aggregator and `W` workers run a few
//! federated-averaging rounds over real TCP on loopback ([`qsafe_train::net`]) in each mode:
//!
//! - **plaintext**: raw `f32` updates over plain TCP (the baseline, what PyTorch/NCCL
//!   collectives or an unprotected parameter server send);
//! - **protected**: the hybrid-KEM, mutually authenticated session with AEAD frames;
//! - **secagg**: the session plus post-quantum secure aggregation (complete graph, Bonawitz
//!   et al. 2017);
//! - **secagg+**: the same on a Harary graph (SecAgg+, Bell et al. 2020) of the smallest even
//!   degree the default threshold allows (`t − 1 ≤ degree`, so `degree` = `W/2` rounded up to
//!   even), when that graph is sparser than the complete one (`degree + 1 < W`): each worker
//!   agrees masks with about half of the others.
//!
//! The workers' local training is synthetic and free (each returns a fixed update), so the
//! round time is the *sync time* — broadcast, upload, protection, aggregation — which is what
//! the protection adds to; with real local training the relative overhead only shrinks. Bytes
//! are the aggregator's socket bytes in both directions (all framing included). The first
//! round also carries the handshakes, so it is reported apart; the steady figures are the mean
//! bytes and the median time of the later rounds. Every run is checked: all rounds complete
//! and the final parameters equal the plaintext run's (exactly for `protected`, within the
//! quantisation bound for `secagg`).
//!
//! Everything shares the machine's cores: on a 2-core machine, `W` workers and the aggregator
//! compete for CPU, so the time overheads are upper bounds on what separate machines would see.

use std::time::Duration;

use qsafe_core::registry::SUITE_DEFAULT;
use qsafe_core::sig::SigningKey;
use qsafe_train::net::{
    Aggregator, AggregatorConfig, Mode, NetError, Outcome, RunSummary, Worker, WorkerConfig,
};
use qsafe_train::secagg::Graph;
use qsafe_train::{LocalTrainer, Quantiser};
use serde::Serialize;

/// The seed's claims this bench answers.
pub const SEED_BANDWIDTH_CLAIM: &str = "+15-25%";
/// The seed's claimed federated sync-time overhead.
pub const SEED_SYNC_TIME_CLAIM: &str = "+18-30%";

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Model sizes (parameters).
    pub params: Vec<usize>,
    /// Worker counts.
    pub workers: Vec<usize>,
    /// Rounds per run (at least 2: the first carries the handshakes).
    pub rounds: u64,
}

impl Config {
    /// Seconds: small models, four workers.
    pub fn quick() -> Self {
        Config {
            params: vec![10_000, 100_000],
            workers: vec![4],
            rounds: 3,
        }
    }

    /// The grid: 10^4 to 10^7 parameters, 4 and 16 workers.
    pub fn full() -> Self {
        Config {
            params: vec![10_000, 100_000, 1_000_000, 10_000_000],
            workers: vec![4, 16],
            rounds: 4,
        }
    }

    fn validate(&self) -> Result<(), Error> {
        let bad = |s: &str| Err(Error::Config(s.to_string()));
        if self.rounds < 2 || self.rounds > 100 {
            return bad("rounds must be in 2..=100 (the first carries the handshakes)");
        }
        if self.params.is_empty() || self.params.iter().any(|&p| p == 0 || p > 100_000_000) {
            return bad("parameter counts must be in 1..=100000000");
        }
        if self.workers.is_empty() || self.workers.iter().any(|&w| !(2..=64).contains(&w)) {
            return bad("worker counts must be in 2..=64");
        }
        Ok(())
    }
}

/// One (model size, workers, mode) run.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Model parameters `P`.
    pub params: usize,
    /// Workers `W`.
    pub workers: usize,
    /// `plaintext`, `protected`, `secagg` or `secagg+`.
    pub mode: &'static str,
    /// The raw update payload of one round: `W · 4P` bytes each way.
    pub payload_bytes_per_round: u64,
    /// Aggregator socket bytes (both directions) per steady round (mean over rounds 2..).
    pub bytes_per_round: f64,
    /// Aggregator socket bytes of round 1 (handshakes included).
    pub first_round_bytes: u64,
    /// Median wall-clock time of the steady rounds.
    pub round_seconds: f64,
    /// Wall-clock time of round 1.
    pub first_round_seconds: f64,
    /// `bytes_per_round` over the plaintext run's, minus one.
    pub bytes_overhead: Option<f64>,
    /// `round_seconds` over the plaintext run's, minus one.
    pub time_overhead: Option<f64>,
    /// Largest difference of a final parameter from the plaintext run's.
    pub max_diff_vs_plaintext: Option<f64>,
}

/// All rows, grouped by (params, workers), plaintext first.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Rounds per run.
    pub rounds: u64,
    /// The seed's bandwidth claim.
    pub seed_bandwidth_claim: &'static str,
    /// The seed's sync-time claim.
    pub seed_sync_time_claim: &'static str,
    /// The rows.
    pub rows: Vec<Row>,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Unusable configuration.
    #[error("invalid bench configuration: {0}")]
    Config(String),
    /// The aggregator or a worker failed.
    #[error("{mode} run with {params} parameters and {workers} workers: {what}")]
    Run {
        /// Mode.
        mode: &'static str,
        /// Parameters.
        params: usize,
        /// Workers.
        workers: usize,
        /// What went wrong.
        what: String,
    },
}

/// A worker whose local training costs nothing: it contributes the same update every round,
/// with values spread over the quantiser's range (multiples of 2^-8 in [-0.5, 0.5)).
struct FixedUpdate(Vec<f32>);

impl FixedUpdate {
    fn new(worker: usize, params: usize) -> Self {
        FixedUpdate(
            (0..params)
                .map(|j| ((worker * 131 + j * 7) % 256) as f32 / 256.0 - 0.5)
                .collect(),
        )
    }
}

impl LocalTrainer for FixedUpdate {
    fn local_update(&mut self, _round: u64, _global: &[f32]) -> Result<Vec<f32>, String> {
        Ok(self.0.clone())
    }
}

/// The runs for `workers`: plaintext first (the baseline), then the protected modes.
fn modes(workers: usize) -> Vec<(Mode, &'static str, Graph)> {
    let mut modes = vec![
        (Mode::Plaintext, "plaintext", Graph::Complete),
        (Mode::Protected, "protected", Graph::Complete),
        (Mode::SecureAggregation, "secagg", Graph::Complete),
    ];
    // The default threshold is W/2 + 1, so the degree must be at least W/2.
    let degree = (workers / 2).next_multiple_of(2);
    if degree + 1 < workers {
        modes.push((Mode::SecureAggregation, "secagg+", Graph::Harary { degree }));
    }
    modes
}

/// Runs the grid; `progress(done, total, what)` is called before each run.
pub fn run(config: &Config, progress: &mut dyn FnMut(usize, usize, &str)) -> Result<Report, Error> {
    config.validate()?;
    let total = config.params.len()
        * config
            .workers
            .iter()
            .map(|&w| modes(w).len())
            .sum::<usize>();
    let mut rows = Vec::with_capacity(total);
    for &params in &config.params {
        for &workers in &config.workers {
            let mut baseline: Option<(Row, Vec<f32>)> = None;
            for (mode, name, graph) in modes(workers) {
                progress(
                    rows.len(),
                    total,
                    &format!("{name}, {params} params, {workers} workers"),
                );
                let fail = |what: String| Error::Run {
                    mode: name,
                    params,
                    workers,
                    what,
                };
                let summary = run_one(mode, graph, params, workers, config.rounds).map_err(fail)?;
                let mut row = row_of(&summary, name, params, workers);
                if let Some((base, base_params)) = &baseline {
                    row.bytes_overhead = Some(row.bytes_per_round / base.bytes_per_round - 1.0);
                    row.time_overhead = Some(row.round_seconds / base.round_seconds - 1.0);
                    let diff = max_diff(&summary.params, base_params);
                    let allowed = match mode {
                        Mode::SecureAggregation => {
                            config.rounds as f64 * Quantiser::DEFAULT.step() + 1e-6
                        }
                        _ => 0.0,
                    };
                    if diff > allowed {
                        return Err(fail(format!(
                            "final parameters differ from plaintext by {diff:e} (allowed {allowed:e})"
                        )));
                    }
                    row.max_diff_vs_plaintext = Some(diff);
                } else {
                    baseline = Some((row.clone(), summary.params));
                }
                rows.push(row);
            }
        }
    }
    progress(total, total, "done");
    Ok(Report {
        rounds: config.rounds,
        seed_bandwidth_claim: SEED_BANDWIDTH_CLAIM,
        seed_sync_time_claim: SEED_SYNC_TIME_CLAIM,
        rows,
    })
}

fn max_diff(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).abs())
        .fold(0.0, f64::max)
}

fn row_of(s: &RunSummary, mode: &'static str, params: usize, workers: usize) -> Row {
    let (first, steady) = s
        .rounds
        .split_first()
        .map_or((None, &[][..]), |(f, r)| (Some(f), r));
    let bytes = |r: &qsafe_train::net::RoundReport| r.bytes_sent + r.bytes_received;
    let mut times: Vec<f64> = steady.iter().map(|r| r.seconds).collect();
    times.sort_by(f64::total_cmp);
    Row {
        params,
        workers,
        mode,
        payload_bytes_per_round: (workers * params * 4) as u64,
        bytes_per_round: steady.iter().map(|r| bytes(r) as f64).sum::<f64>()
            / steady.len().max(1) as f64,
        first_round_bytes: first.map_or(0, bytes),
        round_seconds: median(&times),
        first_round_seconds: first.map_or(0.0, |r| r.seconds),
        bytes_overhead: None,
        time_overhead: None,
        max_diff_vs_plaintext: None,
    }
}

fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted.get(n / 2).copied().unwrap_or(0.0),
        n => {
            let (a, b) = (sorted.get(n / 2 - 1), sorted.get(n / 2));
            a.zip(b).map_or(0.0, |(a, b)| (a + b) / 2.0)
        }
    }
}

/// One aggregator and `workers` worker threads on loopback; every round must complete.
fn run_one(
    mode: Mode,
    graph: Graph,
    params: usize,
    workers: usize,
    rounds: u64,
) -> Result<RunSummary, String> {
    let s = |e: &dyn std::fmt::Display| e.to_string();
    let agg_key = SigningKey::generate(SUITE_DEFAULT.signature).map_err(|e| s(&e))?;
    let agg_vk = agg_key.verifying_key().map_err(|e| s(&e))?;
    let keys = (0..workers)
        .map(|_| SigningKey::generate(SUITE_DEFAULT.signature))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| s(&e))?;
    let mut cfg = match mode {
        Mode::Plaintext => AggregatorConfig::plaintext(rounds, workers),
        _ => {
            let trusted = keys
                .iter()
                .map(SigningKey::verifying_key)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| s(&e))?;
            AggregatorConfig::protected(mode, agg_key, trusted, rounds, workers)
        }
    };
    cfg.graph = graph;
    let timeout = Duration::from_secs(600);
    cfg.phase_timeout = timeout;
    cfg.join_timeout = Duration::from_secs(60);
    let mut aggregator = Aggregator::bind("127.0.0.1:0", cfg).map_err(|e| s(&e))?;
    let addr = aggregator.local_addr().map_err(|e| s(&e))?;
    let handles: Vec<std::thread::JoinHandle<Result<(), NetError>>> = keys
        .into_iter()
        .enumerate()
        .map(|(i, key)| {
            let mut wcfg = match mode {
                Mode::Plaintext => WorkerConfig::plaintext(),
                _ => WorkerConfig::protected(mode, key, agg_vk.clone()),
            };
            wcfg.timeout = timeout;
            let trainer = FixedUpdate::new(i, params);
            std::thread::spawn(move || Worker::connect(addr, wcfg, trainer).map(drop))
        })
        .collect();
    let initial = vec![0.0f32; params];
    let summary = aggregator.run(initial, |_, _| {}).map_err(|e| s(&e));
    drop(aggregator);
    for (i, h) in handles.into_iter().enumerate() {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("worker {}: {e}", i + 1)),
            Err(_) => return Err(format!("worker {} panicked", i + 1)),
        }
    }
    let summary = summary?;
    if let Some(r) = summary
        .rounds
        .iter()
        .find(|r| r.outcome != Outcome::Completed || r.survivors.len() != workers)
    {
        return Err(format!(
            "round {} did not complete with every worker: {:?}, dropped {:?}",
            r.round, r.outcome, r.dropped
        ));
    }
    if summary.rounds.len() as u64 != rounds {
        return Err(format!(
            "ran {} of {rounds} rounds: {:?}",
            summary.rounds.len(),
            summary.stopped_early
        ));
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_grid_runs_and_protection_costs_bytes() -> Result<(), Error> {
        let config = Config {
            params: vec![2000],
            workers: vec![3],
            rounds: 2,
        };
        let mut calls = 0;
        let report = run(&config, &mut |_, _, _| calls += 1)?;
        assert_eq!(calls, 4);
        let modes: Vec<&str> = report.rows.iter().map(|r| r.mode).collect();
        assert_eq!(modes, ["plaintext", "protected", "secagg"]);
        // SecAgg+ only where its graph is sparser than the complete one.
        assert_eq!(super::modes(3).len(), 3);
        assert!(matches!(
            super::modes(4).get(3),
            Some((_, "secagg+", Graph::Harary { degree: 2 }))
        ));
        assert!(matches!(
            super::modes(16).get(3),
            Some((_, "secagg+", Graph::Harary { degree: 8 }))
        ));
        for row in &report.rows {
            // Framing and headers on top of 3 workers x 8000 bytes each way.
            assert!(row.bytes_per_round > 2.0 * 24_000.0, "{row:?}");
            assert!(
                row.first_round_bytes as f64 >= row.bytes_per_round,
                "{row:?}"
            );
        }
        for row in report.rows.iter().skip(1) {
            assert!(row.bytes_overhead.is_some_and(|o| o > 0.0), "{row:?}");
            assert!(row.max_diff_vs_plaintext.is_some(), "{row:?}");
        }
        Ok(())
    }

    #[test]
    fn bad_configs_are_refused() {
        for config in [
            Config {
                rounds: 1,
                ..Config::quick()
            },
            Config {
                workers: vec![1],
                ..Config::quick()
            },
            Config {
                params: vec![],
                ..Config::quick()
            },
        ] {
            assert!(matches!(
                run(&config, &mut |_, _, _| {}),
                Err(Error::Config(_))
            ));
        }
    }
}

//! The three transport modes end to end on loopback: same averaged result, bytes counted.

// Test helpers run outside #[test] functions, where the workspace lints still apply.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::thread::JoinHandle;
use std::time::Duration;

use qsafe_core::registry::SUITE_DEFAULT;
use qsafe_core::sig::SigningKey;
use qsafe_train::LocalTrainer;
use qsafe_train::net::{
    Aggregator, AggregatorConfig, Mode, NetError, Outcome, RunSummary, WorkerConfig, WorkerSummary,
};

struct FnTrainer<F>(F);

impl<F> LocalTrainer for FnTrainer<F>
where
    F: FnMut(u64, &[f32]) -> Result<Vec<f32>, String> + Send,
{
    fn local_update(&mut self, round: u64, global: &[f32]) -> Result<Vec<f32>, String> {
        (self.0)(round, global)
    }
}

/// Worker `i`'s update: dyadic values (multiples of 2^-8 in [-0.125, 0.125)), exact in the
/// quantiser (k = 20) and summed exactly in `f64` in any order.
fn dyadic(i: usize, round: u64, j: usize) -> f32 {
    (((i * 7 + j * 3 + round as usize) % 64) as f32 - 32.0) / 256.0
}

/// A non-dyadic update, to exercise the quantisation error.
fn wavy(i: usize, round: u64, j: usize) -> f32 {
    ((j as f32) * 0.0137 + (i as f32) * 1.3 + round as f32).sin() * 0.9
}

fn run(
    mode: Mode,
    n: usize,
    rounds: u64,
    params: Vec<f32>,
    update: fn(usize, u64, usize) -> f32,
) -> (RunSummary, Vec<Result<WorkerSummary, NetError>>) {
    let agg_key = SigningKey::generate(SUITE_DEFAULT.signature).unwrap();
    let agg_vk = agg_key.verifying_key().unwrap();
    let keys: Vec<SigningKey> = (0..n)
        .map(|_| SigningKey::generate(SUITE_DEFAULT.signature).unwrap())
        .collect();
    let mut cfg = match mode {
        Mode::Plaintext => AggregatorConfig::plaintext(rounds, n),
        _ => AggregatorConfig::protected(
            mode,
            agg_key,
            keys.iter().map(|k| k.verifying_key().unwrap()).collect(),
            rounds,
            n,
        ),
    };
    cfg.phase_timeout = Duration::from_secs(120);
    cfg.max_frame = 64 * 1024; // several frames per model-sized message
    let mut agg = Aggregator::bind("127.0.0.1:0", cfg).unwrap();
    let addr = agg.local_addr().unwrap();
    let len = params.len();
    let workers: Vec<JoinHandle<Result<WorkerSummary, NetError>>> = keys
        .into_iter()
        .enumerate()
        .map(|(i, key)| {
            let mut wcfg = match mode {
                Mode::Plaintext => WorkerConfig::plaintext(),
                _ => WorkerConfig::protected(mode, key, agg_vk.clone()),
            };
            wcfg.max_frame = 64 * 1024;
            wcfg.timeout = Duration::from_secs(120);
            std::thread::spawn(move || {
                let trainer = FnTrainer(move |round, _g: &[f32]| {
                    Ok((0..len).map(|j| update(i, round, j)).collect())
                });
                qsafe_train::net::Worker::connect(addr, wcfg, trainer)
            })
        })
        .collect();
    let summary = agg.run(params, |_, _| {}).unwrap();
    let results = workers.into_iter().map(|h| h.join().unwrap()).collect();
    (summary, results)
}

fn expected(
    n: usize,
    rounds: u64,
    params: &[f32],
    update: fn(usize, u64, usize) -> f32,
) -> Vec<f32> {
    let mut p = params.to_vec();
    for round in 1..=rounds {
        for (j, g) in p.iter_mut().enumerate() {
            let s: f64 = (0..n).map(|i| f64::from(update(i, round, j))).sum();
            *g += (s / n as f64) as f32;
        }
    }
    p
}

#[test]
fn net_three_modes_give_the_same_average() {
    let (n, rounds, len) = (4, 3, 5000);
    let initial: Vec<f32> = (0..len).map(|j| (j % 17) as f32 / 64.0).collect();
    let want = expected(n, rounds, &initial, dyadic);
    let mut finals = Vec::new();
    for mode in [Mode::Plaintext, Mode::Protected, Mode::SecureAggregation] {
        let (summary, workers) = run(mode, n, rounds, initial.clone(), dyadic);
        assert_eq!(summary.rounds.len(), rounds as usize, "{mode}");
        for rep in &summary.rounds {
            assert_eq!(
                rep.outcome,
                Outcome::Completed,
                "{mode} round {}",
                rep.round
            );
            assert_eq!(rep.survivors, vec![1, 2, 3, 4], "{mode}");
            assert!(rep.dropped.is_empty(), "{mode}: {:?}", rep.dropped);
            assert!(rep.bytes_sent > 4 * 4 * len as u64, "{mode}");
            assert!(rep.bytes_received > 4 * 4 * len as u64, "{mode}");
        }
        for w in workers {
            let w = w.unwrap();
            assert_eq!(w.rounds_contributed, rounds, "{mode}");
        }
        finals.push((mode, summary.params));
    }
    for (mode, params) in &finals {
        // Dyadic inputs are exact in every mode, so all three agree bit for bit.
        assert_eq!(params, &want, "{mode}");
    }
}

#[test]
fn net_secure_aggregation_is_within_the_quantisation_bound() {
    let (n, rounds, len) = (3, 2, 3000);
    let initial = vec![0.25f32; len];
    let (protected, _) = run(Mode::Protected, n, rounds, initial.clone(), wavy);
    let (secure, _) = run(Mode::SecureAggregation, n, rounds, initial.clone(), wavy);
    assert_eq!(protected.params, expected(n, rounds, &initial, wavy));
    let q = qsafe_train::Quantiser::DEFAULT;
    // Per round the mean is off by at most bound(n)/n, plus f32 rounding of the sums.
    let bound =
        rounds as f64 * (q.sum_error_bound(n as u32) / n as f64 + 4.0 * f64::from(f32::EPSILON));
    let worst = protected
        .params
        .iter()
        .zip(&secure.params)
        .map(|(a, b)| (f64::from(*a) - f64::from(*b)).abs())
        .fold(0.0, f64::max);
    assert!(
        worst <= bound,
        "secure aggregation off by {worst} > bound {bound}"
    );
    assert!(
        worst > 0.0,
        "non-dyadic inputs should show some quantisation error"
    );
}

#[test]
fn net_bytes_on_the_wire_protected_over_plaintext() {
    let (n, rounds, len) = (2, 2, 100_000);
    let initial = vec![0.0f32; len];
    let (plain, _) = run(Mode::Plaintext, n, rounds, initial.clone(), dyadic);
    let (prot, _) = run(Mode::Protected, n, rounds, initial.clone(), dyadic);
    let (sec, _) = run(Mode::SecureAggregation, n, rounds, initial, dyadic);
    let total = |s: &RunSummary| (s.bytes_sent + s.bytes_received) as f64;
    // Round 2 is steady state (round 1 also carries the handshakes).
    let steady = |s: &RunSummary| {
        let r = &s.rounds[1];
        (r.bytes_sent + r.bytes_received) as f64
    };
    let payload = (2 * n * rounds as usize * 4 * len) as f64;
    assert!(
        total(&plain) >= payload,
        "plaintext {} < payload {payload}",
        total(&plain)
    );
    let ratio = total(&prot) / total(&plain);
    let steady_ratio = steady(&prot) / steady(&plain);
    let sec_ratio = total(&sec) / total(&plain);
    let sec_steady = steady(&sec) / steady(&plain);
    let msg = format!(
        "10^5 params, {n} workers, {rounds} rounds: plaintext {} B, protected {} B (ratio \
         {ratio:.5}, steady-state round {steady_ratio:.6}), secure aggregation {} B (ratio \
         {sec_ratio:.5}, steady-state round {sec_steady:.5})",
        total(&plain),
        total(&prot),
        total(&sec)
    );
    eprintln!("{msg}");
    assert!(ratio > 1.0 && ratio < 1.05, "{msg}");
    assert!(steady_ratio > 1.0 && steady_ratio < 1.001, "{msg}");
    assert!(sec_ratio > 1.0 && sec_ratio < 1.10, "{msg}");
}

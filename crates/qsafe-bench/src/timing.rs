//! Timing loop: warm up, then run until both a minimum count and a time budget are reached,
//! and report the median (robust to the noise of a shared machine).

use std::time::{Duration, Instant};

use serde::Serialize;

/// How long to measure each operation.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Time per operation.
    pub per_op: Duration,
    /// Minimum samples per operation.
    pub min_samples: usize,
    /// Maximum samples per operation.
    pub max_samples: usize,
}

impl Budget {
    /// Well under 20 s for the whole registry.
    pub const QUICK: Budget = Budget {
        per_op: Duration::from_millis(40),
        min_samples: 3,
        max_samples: 2_000,
    };
    /// Tighter figures; about two minutes.
    pub const FULL: Budget = Budget {
        per_op: Duration::from_millis(400),
        min_samples: 21,
        max_samples: 20_000,
    };
}

/// Summary statistics of one operation, in nanoseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Stats {
    /// Median.
    pub median_ns: f64,
    /// 10th percentile.
    pub p10_ns: f64,
    /// 90th percentile.
    pub p90_ns: f64,
    /// Samples taken.
    pub samples: usize,
}

impl Stats {
    /// Median in milliseconds.
    pub fn median_ms(&self) -> f64 {
        self.median_ns / 1e6
    }
}

/// Runs `op` repeatedly until the budget is spent; an error aborts the measurement.
pub fn measure<E>(budget: Budget, mut op: impl FnMut() -> Result<(), E>) -> Result<Stats, E> {
    let [stats] = measure_interleaved(budget, &mut [&mut op])?;
    Ok(stats)
}

/// Times several operations in alternation (one of each per round), so that drift in clock
/// speed or background load hits them all alike: the fair way to compare a hybrid with its
/// parts. The budget applies to each operation.
pub fn measure_interleaved<E, const N: usize>(
    budget: Budget,
    ops: &mut [&mut dyn FnMut() -> Result<(), E>; N],
) -> Result<[Stats; N], E> {
    for op in ops.iter_mut() {
        op()?; // warm-up: caches, lazy tables
    }
    let mut samples: [Vec<f64>; N] =
        std::array::from_fn(|_| Vec::with_capacity(budget.min_samples));
    let total = budget.per_op * u32::try_from(N).unwrap_or(1);
    let start = Instant::now();
    let mut rounds = 0;
    while rounds < budget.max_samples && (rounds < budget.min_samples || start.elapsed() < total) {
        for (op, s) in ops.iter_mut().zip(samples.iter_mut()) {
            let t = Instant::now();
            op()?;
            s.push(t.elapsed().as_nanos() as f64);
        }
        rounds += 1;
    }
    Ok(samples.map(summarize))
}

fn summarize(mut samples: Vec<f64>) -> Stats {
    samples.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        let i = (samples.len().saturating_sub(1) as f64 * q).round() as usize;
        samples.get(i).copied().unwrap_or(f64::NAN)
    };
    Stats {
        median_ns: pick(0.5),
        p10_ns: pick(0.1),
        p90_ns: pick(0.9),
        samples: samples.len(),
    }
}

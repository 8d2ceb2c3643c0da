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
    /// A few seconds for the whole registry.
    pub const QUICK: Budget = Budget {
        per_op: Duration::from_millis(60),
        min_samples: 5,
        max_samples: 2_000,
    };
    /// Tighter figures; about a minute.
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

/// Runs `op` repeatedly; `op` returns `false` to report a failure (which aborts the measure).
pub fn measure<E>(budget: Budget, mut op: impl FnMut() -> Result<(), E>) -> Result<Stats, E> {
    op()?; // warm-up: caches, lazy tables
    let mut samples = Vec::with_capacity(budget.min_samples);
    let start = Instant::now();
    while samples.len() < budget.max_samples
        && (samples.len() < budget.min_samples || start.elapsed() < budget.per_op)
    {
        let t = Instant::now();
        op()?;
        samples.push(t.elapsed().as_nanos() as f64);
    }
    samples.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        let i = ((samples.len() - 1) as f64 * q).round() as usize;
        samples.get(i).copied().unwrap_or(f64::NAN)
    };
    Ok(Stats {
        median_ns: pick(0.5),
        p10_ns: pick(0.1),
        p90_ns: pick(0.9),
        samples: samples.len(),
    })
}

//! Fixed-point quantisation of `f32` model updates into Z_2^32, the group secure aggregation
//! works in (Bonawitz et al. 2017 §3 take inputs in Z_R; here R = 2^32 and the arithmetic is
//! wrapping `u32`).
//!
//! # Range and precision
//!
//! A [`Quantiser`] has a clip bound `C` (each coordinate is clipped to `[-C, C]`) and a
//! maximum number of workers `N_max`. It picks the scale `2^k` as the largest power of two
//! with `C · 2^k ≤ Q`, where `Q = ⌊(2^31 − 1) / N_max⌋`. A coordinate `x` becomes
//!
//! ```text
//! q = round(clip(x, -C, C) · 2^k)   ∈ [-Q, Q],   stored as q mod 2^32 (two's complement)
//! ```
//!
//! The wrapping sum of `n ≤ N_max` such values is the true integer sum modulo 2^32, and the true
//! sum lies in `[-n·Q, n·Q] ⊂ [-(2^31 − 1), 2^31 − 1]`, so reading the `u32` sum as an `i32`
//! recovers it exactly: no overflow for any inputs. [`Quantiser::dequantise_sum`] then divides
//! by `2^k`.
//!
//! Error bound: for inputs inside `[-C, C]` each coordinate is off by at most `2^-(k+1)`
//! (round to nearest), so the dequantised sum of `n` updates differs from the exact real sum by
//! at most `n · 2^-(k+1)` ([`Quantiser::sum_error_bound`]), plus the `f32` rounding of the
//! final division (relative 2^-24). Inputs outside the range are clipped (the clipping error is
//! the caller's choice of `C`); NaN and infinities are rejected.
//!
//! The default ([`Quantiser::DEFAULT`]): `C = 4`, `N_max = 256`, so `Q = 2^23 − 1`, `k = 20`,
//! step `2^-20 ≈ 9.5·10^-7`, per-coordinate error `≤ 4.8·10^-7`.

use crate::error::{Error, Result};

/// Fixed-point parameters: clip bound, maximum number of summed workers, and the derived scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantiser {
    clip: f32,
    max_workers: u32,
    frac_bits: u32,
}

/// Largest magnitude a single quantised value may have so that `n` of them cannot overflow.
fn per_worker_limit(max_workers: u32) -> u32 {
    (i32::MAX as u32) / max_workers.max(1)
}

impl Quantiser {
    /// `C = 4`, `N_max = 256`, `k = 20`.
    pub const DEFAULT: Quantiser = Quantiser {
        clip: 4.0,
        max_workers: 256,
        frac_bits: 20,
    };

    /// Chooses the largest scale `2^k` (`k ≤ 30`) with `clip · 2^k ≤ ⌊(2^31 − 1) / max_workers⌋`.
    /// Fails when `clip` is not a positive finite number, `max_workers` is zero, or no `k ≥ 0`
    /// fits (clip too large for that many workers).
    pub fn new(clip: f32, max_workers: u32) -> Result<Self> {
        if !(clip.is_finite() && clip > 0.0) {
            return Err(Error::InvalidParameter(format!(
                "quantisation clip bound must be positive and finite, got {clip}"
            )));
        }
        if max_workers == 0 {
            return Err(Error::InvalidParameter(
                "quantisation needs at least one worker".into(),
            ));
        }
        let limit = f64::from(per_worker_limit(max_workers));
        let clip64 = f64::from(clip);
        let frac_bits = (0..=30u32)
            .rev()
            .find(|k| clip64 * f64::from(1u32 << k) <= limit)
            .ok_or_else(|| {
                Error::InvalidParameter(format!(
                    "clip bound {clip} is too large for {max_workers} workers in 32 bits"
                ))
            })?;
        Ok(Quantiser {
            clip,
            max_workers,
            frac_bits,
        })
    }

    /// The clip bound `C`.
    pub fn clip(&self) -> f32 {
        self.clip
    }

    /// The maximum number of updates that may be summed, `N_max`.
    pub fn max_workers(&self) -> u32 {
        self.max_workers
    }

    /// The number of fractional bits `k` (the scale is `2^k`).
    pub fn frac_bits(&self) -> u32 {
        self.frac_bits
    }

    /// The quantisation step `2^-k`.
    pub fn step(&self) -> f64 {
        1.0 / f64::from(1u32 << self.frac_bits)
    }

    /// The bound on `|dequantise_sum(Σ quantise(x_i)) − Σ x_i|` per coordinate for `n` updates
    /// whose coordinates lie in `[-C, C]`: `n · 2^-(k+1)` (before the final `f32` rounding).
    pub fn sum_error_bound(&self, n: u32) -> f64 {
        f64::from(n) * self.step() / 2.0
    }

    /// Quantises one update. Coordinates are clipped to `[-C, C]`; NaN or infinite values are
    /// an error naming the first such index.
    pub fn quantise(&self, update: &[f32]) -> Result<Vec<u32>> {
        let scale = f64::from(1u32 << self.frac_bits);
        let clip = f64::from(self.clip);
        update
            .iter()
            .enumerate()
            .map(|(index, &x)| {
                if !x.is_finite() {
                    return Err(Error::NonFinite { index });
                }
                let q = (f64::from(x).clamp(-clip, clip) * scale).round();
                // |q| ≤ C·2^k ≤ Q < 2^31, so the cast is exact; `as u32` is two's complement.
                Ok(q as i32 as u32)
            })
            .collect()
    }

    /// Dequantises the wrapping sum of `n` quantised updates back to the real-valued sum.
    /// Fails when `n` is zero or exceeds `N_max` (the sum could then have wrapped).
    pub fn dequantise_sum(&self, sum: &[u32], n: u32) -> Result<Vec<f32>> {
        self.check_n(n)?;
        let scale = f64::from(1u32 << self.frac_bits);
        Ok(sum
            .iter()
            .map(|&s| (f64::from(s as i32) / scale) as f32)
            .collect())
    }

    /// The mean: [`Quantiser::dequantise_sum`] divided by `n` (federated averaging).
    pub fn dequantise_mean(&self, sum: &[u32], n: u32) -> Result<Vec<f32>> {
        self.check_n(n)?;
        let scale = f64::from(1u32 << self.frac_bits) * f64::from(n);
        Ok(sum
            .iter()
            .map(|&s| (f64::from(s as i32) / scale) as f32)
            .collect())
    }

    fn check_n(&self, n: u32) -> Result<()> {
        if n == 0 || n > self.max_workers {
            return Err(Error::InvalidParameter(format!(
                "a sum of {n} updates cannot be dequantised (1..={} allowed)",
                self.max_workers
            )));
        }
        Ok(())
    }
}

impl Default for Quantiser {
    fn default() -> Self {
        Quantiser::DEFAULT
    }
}

/// Wrapping element-wise sum `acc += v` in Z_2^32. Fails on a length mismatch.
pub fn add_assign(acc: &mut [u32], v: &[u32]) -> Result<()> {
    if acc.len() != v.len() {
        return Err(Error::Length {
            what: "update vector",
            expected: acc.len(),
            got: v.len(),
        });
    }
    acc.iter_mut()
        .zip(v)
        .for_each(|(a, b)| *a = a.wrapping_add(*b));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_matches_its_documented_derivation() {
        assert_eq!(Quantiser::new(4.0, 256).unwrap(), Quantiser::DEFAULT);
        assert_eq!(Quantiser::DEFAULT.frac_bits(), 20);
        // Q = 2^23 - 1 and C·2^k = 2^22 ≤ Q, while C·2^(k+1) = 2^23 > Q.
        assert_eq!(per_worker_limit(256), (1 << 23) - 1);
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(Quantiser::new(0.0, 4).is_err());
        assert!(Quantiser::new(-1.0, 4).is_err());
        assert!(Quantiser::new(f32::NAN, 4).is_err());
        assert!(Quantiser::new(f32::INFINITY, 4).is_err());
        assert!(Quantiser::new(1.0, 0).is_err());
        // 2^31 / 2 workers = 2^30 per worker: a clip of 2^31 cannot fit even with k = 0.
        assert!(Quantiser::new(2_147_483_648.0, 2).is_err());
    }

    #[test]
    fn round_trip_error_is_within_half_a_step() {
        let q = Quantiser::DEFAULT;
        let xs: Vec<f32> = (0..10_000)
            .map(|i| ((i as f32) * 0.000_813).sin() * 3.999)
            .collect();
        let back = q.dequantise_sum(&q.quantise(&xs).unwrap(), 1).unwrap();
        let bound = q.sum_error_bound(1) + 4.0 * f64::from(f32::EPSILON);
        for (x, y) in xs.iter().zip(&back) {
            let err = (f64::from(*x) - f64::from(*y)).abs();
            assert!(err <= bound, "{x} -> {y}: {err} > {bound}");
        }
    }

    #[test]
    fn clips_and_rejects_non_finite() {
        let q = Quantiser::DEFAULT;
        let back = q
            .dequantise_sum(&q.quantise(&[100.0, -100.0, 4.0]).unwrap(), 1)
            .unwrap();
        assert_eq!(back, vec![4.0, -4.0, 4.0]);
        assert!(matches!(
            q.quantise(&[0.0, f32::NAN]),
            Err(Error::NonFinite { index: 1 })
        ));
        assert!(matches!(
            q.quantise(&[f32::NEG_INFINITY]),
            Err(Error::NonFinite { index: 0 })
        ));
    }

    #[test]
    fn sum_of_max_workers_at_the_extremes_does_not_overflow() {
        for (clip, n) in [(4.0f32, 256u32), (1.0, 1000), (0.01, 3), (1000.0, 16)] {
            let q = Quantiser::new(clip, n).unwrap();
            for x in [clip, -clip] {
                let one = q.quantise(&[x]).unwrap();
                let mut acc = vec![0u32];
                for _ in 0..n {
                    add_assign(&mut acc, &one).unwrap();
                }
                let sum = q.dequantise_sum(&acc, n).unwrap()[0];
                let exact = f64::from(x) * f64::from(n);
                let err = (f64::from(sum) - exact).abs();
                assert!(
                    err <= q.sum_error_bound(n) + exact.abs() * 1e-6,
                    "clip {clip} n {n}: {sum} vs {exact}"
                );
                // The largest sum still has the right sign (no wrap into the other half).
                assert_eq!(sum.is_sign_negative(), x < 0.0, "clip {clip} n {n}");
            }
            // One more scale bit would have overflowed for n workers at the clip bound.
            if q.frac_bits() < 30 {
                let bigger = f64::from(clip) * f64::from(1u32 << (q.frac_bits() + 1));
                assert!(
                    bigger * f64::from(n) > f64::from(i32::MAX),
                    "clip {clip} n {n}"
                );
            }
        }
    }

    #[test]
    fn sum_of_n_updates_is_within_the_bound() {
        let q = Quantiser::new(2.0, 64).unwrap();
        let n = 17u32;
        let updates: Vec<Vec<f32>> = (0..n)
            .map(|w| {
                (0..1000)
                    .map(|i| ((i * 7 + w as usize * 131) as f32 * 0.37).cos() * 1.9)
                    .collect()
            })
            .collect();
        let mut acc = vec![0u32; 1000];
        for u in &updates {
            add_assign(&mut acc, &q.quantise(u).unwrap()).unwrap();
        }
        let sum = q.dequantise_sum(&acc, n).unwrap();
        let mean = q.dequantise_mean(&acc, n).unwrap();
        for i in 0..1000 {
            let exact: f64 = updates.iter().map(|u| f64::from(u[i])).sum();
            let bound = q.sum_error_bound(n) + exact.abs() * f64::from(f32::EPSILON);
            assert!((f64::from(sum[i]) - exact).abs() <= bound, "coordinate {i}");
            let mbound = bound / f64::from(n) + (exact / f64::from(n)).abs() * 1e-7;
            assert!(
                (f64::from(mean[i]) - exact / f64::from(n)).abs() <= mbound,
                "mean {i}"
            );
        }
        assert!(q.dequantise_sum(&acc, 0).is_err());
        assert!(q.dequantise_sum(&acc, 65).is_err());
        assert!(add_assign(&mut acc, &[1, 2]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_in_range_value_round_trips_within_half_a_step(
            x in -4.0f32..=4.0,
            clip in 0.01f32..100.0,
            workers in 1u32..2000,
        ) {
            let q = Quantiser::new(clip, workers).unwrap();
            let x = x.clamp(-clip, clip);
            let back = q.dequantise_sum(&q.quantise(&[x]).unwrap(), 1).unwrap()[0];
            let err = (f64::from(back) - f64::from(x)).abs();
            proptest::prop_assert!(err <= q.step() / 2.0 + f64::from(x.abs()) * 1e-7);
        }
    }
}

//! The network's arithmetic, shared by inference and training so both compute the same bits.
//!
//! Everything is plain `f32` in a fixed summation order (Rust never contracts `a * b + c` into
//! a fused multiply-add on its own), and `exp` is `libm::expf`, a pure-Rust port of the
//! FreeBSD routine, rather than the platform C library's. So a given weights file gives the
//! same probabilities, to the bit, on every target.

use super::{CLASSES, INPUT_FEATURES};

/// A 64-H-10 perceptron: `softmax(w2 · relu(w1 · x + b1) + b2)`.
///
/// Weights use the PyTorch `nn.Linear` layout, `[out_features, in_features]` row-major:
/// `w1` is `[hidden, 64]`, `w2` is `[10, hidden]`.
#[derive(Clone, PartialEq)]
pub(crate) struct Mlp {
    pub(crate) hidden: usize,
    pub(crate) w1: Vec<f32>,
    pub(crate) b1: Vec<f32>,
    pub(crate) w2: Vec<f32>,
    pub(crate) b2: Vec<f32>,
}

impl core::fmt::Debug for Mlp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Mlp({INPUT_FEATURES}-{}-{CLASSES})", self.hidden)
    }
}

/// `bias + Σ w_i · x_i`, summed left to right.
pub(crate) fn dot(bias: f32, w: &[f32], x: &[f32]) -> f32 {
    w.iter().zip(x).fold(bias, |acc, (w, x)| acc + w * x)
}

impl Mlp {
    /// Hidden activations `relu(w1 · x + b1)` into `h` (length `hidden`).
    pub(crate) fn hidden_layer(&self, x: &[f32], h: &mut [f32]) {
        for ((h, row), &b) in h
            .iter_mut()
            .zip(self.w1.chunks_exact(INPUT_FEATURES))
            .zip(&self.b1)
        {
            *h = dot(b, row, x).max(0.0);
        }
    }

    /// Logits `w2 · h + b2`.
    pub(crate) fn output_layer(&self, h: &[f32]) -> [f32; CLASSES] {
        let mut z = [0.0; CLASSES];
        for ((z, row), &b) in z
            .iter_mut()
            .zip(self.w2.chunks_exact(self.hidden))
            .zip(&self.b2)
        {
            *z = dot(b, row, h);
        }
        z
    }

    /// Class probabilities for one input; `h` is scratch space of length `hidden`.
    pub(crate) fn forward(&self, x: &[f32], h: &mut [f32]) -> [f32; CLASSES] {
        self.hidden_layer(x, h);
        softmax(&self.output_layer(h))
    }
}

/// Numerically stable softmax (shifted by the maximum logit).
pub(crate) fn softmax(z: &[f32; CLASSES]) -> [f32; CLASSES] {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut p = z.map(|z| libm::expf(z - max));
    let sum: f32 = p.iter().sum();
    for p in &mut p {
        *p /= sum;
    }
    p
}

/// Index of the largest probability; the first one on ties.
pub(crate) fn argmax(p: &[f32; CLASSES]) -> usize {
    let mut best = 0;
    let mut best_p = f32::NEG_INFINITY;
    for (i, &p) in p.iter().enumerate() {
        if p > best_p {
            best = i;
            best_p = p;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_is_a_distribution_and_shift_invariant() {
        let z = [1.0, 2.0, 3.0, 0.0, -1.0, 0.5, 0.25, 100.0, -100.0, 7.0];
        let p = softmax(&z);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(argmax(&p), 7);
        assert_eq!(softmax(&z.map(|z| z + 1000.0)), p);
    }

    #[test]
    fn argmax_takes_the_first_of_ties() {
        assert_eq!(argmax(&[0.1; CLASSES]), 0);
    }
}

//! The gradient `g` of the Lovász extension of the Jaccard loss along a sorted order (Berman et
//! al. 2018, Alg. 1), from integer counts.
//!
//! With `G` positives in the problem, after the `k`-th sorted pixel `I_k = G - (positives so far)`
//! and `U_k = G + (negatives so far)`:
//! `g_k = 1 / U_k` for a positive, `g_k = I_k / (U_k (U_k - 1))` for a negative; with `G = 0`,
//! `g = e_1` (1 at the first pixel, 0 elsewhere). These are the exact first differences of the
//! Jaccard loss `1 - I_k / U_k` along the order; computed in `f64` from exact integer counts they
//! keep every digit, whereas the reference's difference of two float32 Jaccard values close to
//! each other loses most digits per element beyond a few hundred thousand pixels.
//!
//! Properties: `g >= 0`, and `sum g = 1` (the Jaccard loss of the full set) when there is a
//! positive or `G = 0` and the problem is not empty.

use segloss_core::{LossError, Result};

/// The running counts of the walk along the sorted pixels of one problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Walk {
    g_total: u64,
    pos: u64,
    neg: u64,
}

impl Walk {
    /// A walk over a problem with `g_total` positives.
    #[inline(always)]
    pub fn new(g_total: u64) -> Self {
        Walk { g_total, pos: 0, neg: 0 }
    }

    /// `g` of the next pixel in the order, which is a positive when `positive`.
    #[inline(always)]
    pub fn step(&mut self, positive: bool) -> f64 {
        let gt = self.g_total;
        if gt == 0 {
            let first = self.pos + self.neg == 0;
            self.neg += 1;
            return if first { 1.0 } else { 0.0 };
        }
        if positive {
            self.pos += 1;
            1.0 / (gt + self.neg) as f64
        } else {
            self.neg += 1;
            let u = (gt + self.neg) as f64;
            let i = (gt - self.pos) as f64;
            i / (u * (u - 1.0))
        }
    }
}

/// Writes `g` for the labels `gt_sorted` (in sorted order; `true` is a positive) into `out`
/// (same length, in `f32`, each element the rounding of the `f64` value). Slices of different
/// lengths are a [`LossError::ShapeMismatch`].
pub fn jaccard_grad(gt_sorted: &[bool], out: &mut [f32]) -> Result<()> {
    if out.len() != gt_sorted.len() {
        return Err(LossError::ShapeMismatch {
            what: "jaccard_grad writes one g per label".into(),
            left_name: "out",
            left: vec![out.len()],
            right_name: "gt_sorted",
            right: vec![gt_sorted.len()],
        });
    }
    let g_total = gt_sorted.iter().filter(|&&b| b).count() as u64;
    let mut w = Walk::new(g_total);
    for (o, &b) in out.iter_mut().zip(gt_sorted) {
        *o = w.step(b) as f32;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first differences of the Jaccard loss in f64, as the reference computes them.
    fn by_differences(gt: &[bool]) -> Vec<f64> {
        let g: f64 = gt.iter().filter(|&&b| b).count() as f64;
        let (mut pos, mut neg) = (0.0, 0.0);
        let mut prev = 0.0;
        gt.iter()
            .map(|&b| {
                if b {
                    pos += 1.0
                } else {
                    neg += 1.0
                }
                let j = 1.0 - (g - pos) / (g + neg);
                let d = j - prev;
                prev = j;
                d
            })
            .collect()
    }

    #[test]
    fn small_cases_match_differences() {
        for gt in [vec![true], vec![false], vec![false, false, true], vec![true, false, true, false, false], vec![false, false, false]] {
            let mut out = vec![0.0f32; gt.len()];
            jaccard_grad(&gt, &mut out).unwrap();
            let want = by_differences(&gt);
            for (a, b) in out.iter().zip(&want) {
                assert!((*a as f64 - b).abs() <= 1e-7, "{gt:?}: {out:?} vs {want:?}");
            }
            let sum: f64 = out.iter().map(|&v| v as f64).sum();
            assert!((sum - 1.0).abs() < 1e-6, "sum {sum}");
        }
    }

    #[test]
    fn no_positive_is_e1() {
        let mut out = vec![9.0f32; 4];
        jaccard_grad(&[false; 4], &mut out).unwrap();
        assert!(jaccard_grad(&[true], &mut out).is_err());
        assert_eq!(out, vec![1.0, 0.0, 0.0, 0.0]);
    }
}

//! The elementwise passes of the distance losses, twice: [`scalar`] (the readable reference, in
//! `f64` per element, written from the formulas) and the SIMD kernels of `kernels_simd.rs`
//! (`f32x8` lanes, compiled per level, run at [`Level::current`]). Every
//! kernel returns the sum of its loss terms (before the `1 / (N |K| |S|)` scale) and writes
//! `scale * d term / d pred` into `out`; `scale` carries the upstream gradient and the
//! normaliser. Neutral elements of the SIMD tails: `phi = 0`, `w = 0` (the padded lanes add 0 and
//! are never stored).
//!
//! - `boundary`: term `p phi`, `d/dp = phi`.
//! - `hausdorff`: term `(p - g)^2 w`, `w = w1 + w2`, `d/dp = 2 (p - g) w`.
//! - `softmax_vjp`: multiclass, per pixel, `p = softmax(x)` over the channels, `v` the per-class
//!   derivative (`phi`, or the `dL/dp` of `hausdorff`): returns `sum_c p_c v_c`, writes
//!   `scale * p_c (v_c - sum_k p_k v_k)` (the softmax Jacobian) over `v` in place.
//! - `softmax`: multiclass probabilities.
//!
//! With logits the binary and multilabel kernels apply the sigmoid, `p = sigmoid(x)` and
//! `dp/dx = p (1 - p)`; with probabilities `p = x` (unclipped) and `dp/dx = 1`.

use segloss_core::kernel::{Backend, StridedOut};
use segloss_core::simd::Level;

#[path = "simd_avx2.rs"]
mod simd_avx2;
#[path = "simd_avx512.rs"]
mod simd_avx512;
#[path = "simd_base.rs"]
mod simd_base;

/// Runs `$f($args)` of the SIMD kernels at the process's level ([`Level::current`]).
macro_rules! simd {
    ($f:ident($($a:expr),* $(,)?)) => {
        segloss_core::simd_dispatch!(Level::current(), body::$f($($a),*))
    };
}

/// `boundary` on one (image, channel) pair.
pub(crate) fn boundary(b: Backend, logits: bool, x: &[f32], phi: &[f32], out: &mut [f32], scale: f32) -> f64 {
    match b {
        Backend::Simd => simd!(boundary(logits, x, phi, out, scale)),
        Backend::Scalar => scalar::boundary(logits, x, phi, out, scale),
    }
}

/// `hausdorff_dt` on one (image, channel) pair.
#[allow(clippy::too_many_arguments)]
pub(crate) fn hausdorff(b: Backend, logits: bool, x: &[f32], g: &[f32], w1: &[f32], w2: &[f32], out: &mut [f32], scale: f32) -> f64 {
    match b {
        Backend::Simd => simd!(hausdorff(logits, x, g, w1, w2, out, scale)),
        Backend::Scalar => scalar::hausdorff(logits, x, g, w1, w2, out, scale),
    }
}

/// The softmax Jacobian-vector product over the pixels `j0..j0 + len` of one image (`x` its
/// `C * S` logits, `v` its rows of `S` elements in the buffer).
#[allow(clippy::too_many_arguments)]
pub(crate) fn softmax_vjp(b: Backend, x: &[f32], c: usize, s: usize, v: &StridedOut<'_>, j0: usize, len: usize, scale: f32) -> f64 {
    match b {
        Backend::Simd => simd!(softmax_vjp(x, c, s, v, j0, len, scale)),
        Backend::Scalar => scalar::softmax_vjp(x, c, s, v, j0, len, scale),
    }
}

/// The softmax probabilities of the pixels `j0..j0 + len` of one image into `out`'s rows.
pub(crate) fn softmax(b: Backend, x: &[f32], c: usize, s: usize, out: &StridedOut<'_>, j0: usize, len: usize) {
    match b {
        Backend::Simd => simd!(softmax(x, c, s, out, j0, len)),
        Backend::Scalar => scalar::softmax(x, c, s, out, j0, len),
    }
}

/// The reference kernels: one element at a time, in `f64`.
pub(crate) mod scalar {
    use super::StridedOut;

    fn sigmoid(x: f64) -> f64 {
        if x >= 0.0 {
            1.0 / (1.0 + (-x).exp())
        } else {
            let e = x.exp();
            e / (1.0 + e)
        }
    }

    /// `(p, dp/dx)`.
    fn activate(logits: bool, x: f32) -> (f64, f64) {
        if logits {
            let p = sigmoid(x as f64);
            (p, p * (1.0 - p))
        } else {
            (x as f64, 1.0)
        }
    }

    pub(crate) fn boundary(logits: bool, x: &[f32], phi: &[f32], out: &mut [f32], scale: f32) -> f64 {
        let mut sum = 0.0;
        for ((o, &xi), &f) in out.iter_mut().zip(x).zip(phi) {
            let (p, dp) = activate(logits, xi);
            sum += p * f as f64;
            *o = (scale as f64 * f as f64 * dp) as f32;
        }
        sum
    }

    pub(crate) fn hausdorff(logits: bool, x: &[f32], g: &[f32], w1: &[f32], w2: &[f32], out: &mut [f32], scale: f32) -> f64 {
        let mut sum = 0.0;
        for i in 0..out.len() {
            let (p, dp) = activate(logits, x[i]);
            let w = w1[i] as f64 + w2[i] as f64;
            let e = p - g[i] as f64;
            sum += e * e * w;
            out[i] = (scale as f64 * 2.0 * e * w * dp) as f32;
        }
        sum
    }

    fn probs(x: &[f32], c: usize, s: usize, j: usize, p: &mut [f64]) {
        let m = (0..c).map(|k| x[k * s + j] as f64).fold(f64::NEG_INFINITY, f64::max);
        let mut sum = 0.0;
        for (k, pk) in p.iter_mut().enumerate() {
            *pk = (x[k * s + j] as f64 - m).exp();
            sum += *pk;
        }
        p.iter_mut().for_each(|pk| *pk /= sum);
    }

    pub(crate) fn softmax_vjp(x: &[f32], c: usize, s: usize, v: &StridedOut<'_>, j0: usize, len: usize, scale: f32) -> f64 {
        let mut p = vec![0.0f64; c];
        let mut total = 0.0;
        for j in j0..j0 + len {
            probs(x, c, s, j, &mut p);
            // SAFETY: each row is taken once at a time, and no other block shares these pixels.
            let dot: f64 = (0..c).map(|k| p[k] * unsafe { v.row(k) }[j - j0] as f64).sum();
            total += dot;
            for (k, &pk) in p.iter().enumerate() {
                // SAFETY: as above.
                let r = unsafe { v.row(k) };
                r[j - j0] = (scale as f64 * pk * (r[j - j0] as f64 - dot)) as f32;
            }
        }
        total
    }

    pub(crate) fn softmax(x: &[f32], c: usize, s: usize, out: &StridedOut<'_>, j0: usize, len: usize) {
        let mut p = vec![0.0f64; c];
        for j in j0..j0 + len {
            probs(x, c, s, j, &mut p);
            for (k, &pk) in p.iter().enumerate() {
                // SAFETY: each row is taken once at a time, and no other block shares these pixels.
                let r = unsafe { out.row(k) };
                r[j - j0] = pk as f32;
            }
        }
    }
}

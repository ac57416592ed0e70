//! The SIMD kernels at a given level (see [`super`]), with the signatures of [`super::scalar`]
//! after the level, plus a cached pair for logits when a gradient is wanted:
//! [`dense_stats_cached`] / [`softmax_stats_cached`] leave the activation in the gradient buffer
//! and [`dense_grad_cached`] / [`softmax_grad_cached`] finish from it, so the gradient pass has
//! no exponential (without a gradient buffer, the driver gives `softmax_stats_cached` scratch rows
//! of its own: the class-major kernel is the faster one). Each call runs the copy of the kernel
//! compiled for `level` (`segloss_core::simd::Level`), or the baseline's where this CPU cannot run
//! that level; the drivers read `Level::current()` once per pass.
//!
//! Sums accumulate in `f32x8` lanes over at most 1024 elements (pixels for softmax), then in
//! `f64`. Every exponential has an argument `<= 0` (`-|x|` for the sigmoid, `z - max` for the
//! softmax) and goes through `segloss_core::simd`'s `exp_nonpos`.

use super::{simd_avx2, simd_avx512, simd_base, Coef, KParams, SoftBlock, Stats};
use segloss_core::kernel::StridedOut;
use segloss_core::simd::Level;

/// Statistics of one segment of a sigmoid (or identity) row at `level` (see
/// [`super::scalar::dense_stats`]).
pub fn dense_stats(level: Level, x: &[f32], y: &[f32], kp: &KParams) -> (Stats, bool) {
    segloss_core::simd_dispatch!(level, dense_stats(x, y, kp))
}

/// [`dense_stats`] for logits that also writes, for the gradient pass, the cache value
/// `copysign(m, x)` with `m = min(p, 1 - p) = e^-|x| / (1 + e^-|x|)` into `cache` (same length as
/// `x`; the gradient buffer): [`dense_grad_cached`] then needs neither the exponential nor the
/// division, and `p (1 - p) = m (1 - m)` keeps full relative accuracy.
pub fn dense_stats_cached(level: Level, x: &[f32], y: &[f32], kp: &KParams, cache: &mut [f32]) -> (Stats, bool) {
    segloss_core::simd_dispatch!(level, dense_stats_cached(x, y, kp, cache))
}

/// Gradient of one segment of a sigmoid (or identity) row at `level` (see
/// [`super::scalar::dense_grad`]).
pub fn dense_grad(level: Level, x: &[f32], y: &[f32], kp: &KParams, coef: &Coef, out: &mut [f32]) {
    segloss_core::simd_dispatch!(level, dense_grad(x, y, kp, coef, out))
}

/// Gradient of one segment of a sigmoid row from the cache [`dense_stats_cached`] left in `out`
/// (read, then overwritten with the gradient): with `m = |cache|`, `p = m` for negative logits
/// and `1 - m` otherwise, `dp/dx = m (1 - m)`.
pub fn dense_grad_cached(level: Level, y: &[f32], kp: &KParams, coef: &Coef, out: &mut [f32]) {
    segloss_core::simd_dispatch!(level, dense_grad_cached(y, kp, coef, out))
}

/// Statistics of one softmax block at `level` (see [`super::scalar::softmax_stats`]).
pub fn softmax_stats(level: Level, b: &SoftBlock<'_, f32>, kp: &KParams, out: &mut [Stats]) -> bool {
    segloss_core::simd_dispatch!(level, softmax_stats(b, kp, out))
}

/// [`softmax_stats`] for logits that also writes the probabilities `p_c` into `cache` (the
/// gradient rows of the block), for [`softmax_grad_cached`]: the same `f32` values the gradient
/// pass would recompute, without the second max, exponentials and sum.
pub fn softmax_stats_cached(level: Level, b: &SoftBlock<'_, f32>, kp: &KParams, out: &mut [Stats], cache: &StridedOut<'_>) -> bool {
    segloss_core::simd_dispatch!(level, softmax_stats_cached(b, kp, out, cache))
}

/// Gradient of one softmax block at `level` (see [`super::scalar::softmax_grad`]).
pub fn softmax_grad(level: Level, b: &SoftBlock<'_, f32>, kp: &KParams, coefs: &[Coef], out: &StridedOut<'_>) {
    segloss_core::simd_dispatch!(level, softmax_grad(b, kp, coefs, out))
}

/// Gradient of one softmax block from the probabilities [`softmax_stats_cached`] left in `out`
/// (read, then overwritten): `dz_c = p_c (a_c - sum_k p_k a_k)`, 0 at ignored pixels.
pub fn softmax_grad_cached(level: Level, b: &SoftBlock<'_, f32>, kp: &KParams, coefs: &[Coef], out: &StridedOut<'_>) {
    segloss_core::simd_dispatch!(level, softmax_grad_cached(b, kp, coefs, out))
}

//! The SIMD kernels at a given level (see [`super`]), with the signatures of [`super::scalar`]
//! after the level: each call runs the copy of the kernel compiled for `level`
//! (`segloss_core::simd::Level`), or the baseline's where this CPU cannot run that level. The
//! drivers read `Level::current()` once per loss evaluation.
//!
//! Sums accumulate in `f32x8` lanes over at most 1024 elements, then in `f64`.

use super::{simd_avx2, simd_avx512, simd_base, Aux, ElemParams, SoftmaxBlock, SoftmaxParams, StridedOut};
use segloss_core::simd::Level;

/// Elementwise kernel at `level` (see [`super::scalar::elementwise`]).
pub fn elementwise(
    level: Level,
    x: &[f32],
    y: &[f32],
    aux: Aux<'_, f32>,
    p: &ElemParams,
    scale: f32,
    grad: Option<&mut [f32]>,
) -> (f64, bool) {
    elementwise_terms(level, x, y, aux, p, scale, grad, None)
}

/// [`elementwise`] that also writes each element's loss into `terms` (same length as `x`) when
/// given (see [`super::scalar::elementwise_terms`]).
#[allow(clippy::too_many_arguments)]
pub fn elementwise_terms(
    level: Level,
    x: &[f32],
    y: &[f32],
    aux: Aux<'_, f32>,
    p: &ElemParams,
    scale: f32,
    grad: Option<&mut [f32]>,
    terms: Option<&mut [f32]>,
) -> (f64, bool) {
    segloss_core::simd_dispatch!(level, elementwise_terms(x, y, aux, p, scale, grad, terms))
}

/// Softmax kernel over one block at `level` (see [`super::scalar::softmax`]).
pub fn softmax(level: Level, b: &SoftmaxBlock<'_>, p: &SoftmaxParams<'_>, scale: f32, grad: Option<&StridedOut<'_>>) -> f64 {
    softmax_terms(level, b, p, scale, grad, None)
}

/// [`softmax`] that also writes each pixel's loss (times its weight; 0 at ignored pixels) into
/// `terms` (length `b.len`) when given (see [`super::scalar::softmax_terms`]).
pub fn softmax_terms(
    level: Level,
    b: &SoftmaxBlock<'_>,
    p: &SoftmaxParams<'_>,
    scale: f32,
    grad: Option<&StridedOut<'_>>,
    terms: Option<&mut [f32]>,
) -> f64 {
    segloss_core::simd_dispatch!(level, softmax_terms(b, p, scale, grad, terms))
}

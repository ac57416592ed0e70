//! The AVX-512 level's 16-lane form of the class passes of a full sub-block of the softmax
//! kernel (`softmax_sub` of the parent module) on integer labels: pass 1 (the max over the
//! classes), pass 2 (the exponentials, kept in the gradient rows, their sum and the other
//! classes' sum) and, for the plain cross-entropy, pass 3 (the gradient `e a - [label == c] b`).
//! 16 pixels per 512-bit register, half the instructions of the 8-lane passes; the per-pixel
//! steps between them (the true class's logit, the logarithms, the coefficients) stay 8 lanes
//! wide, on the halves of these registers. Interleaved, 5 rounds, W2 (2 threads): `ce` 3.48 ->
//! 2.84 ms, `ce:label_smoothing=0.1` 4.22 -> 3.65, multiclass `focal` 3.92 -> 3.4, `topk_ce`
//! 4.61 -> 3.88.
//!
//! The same bits as the 8-lane form (test `avx512_level_gives_the_avx2_bits`): every step is
//! per lane, with the 8-lane form's operations in its order (the exponential is the level's
//! 16-lane `exp_nonpos`, `segloss_core::avx512_wide!`), and no sum runs across lanes.

use super::super::super::lanes::f32x8;
use super::super::super::wide16::{exp_nonpos, join, load, mask_of, split, splat, store, W};
use super::{SUB, SUBV};
use crate::kernels::StridedOut;
use core::arch::x86_64::*;

// SAFETY (every `unsafe` block of this module): the intrinsics need AVX-512 F, which the only
// code that reaches this module has: it is declared in the AVX-512 level's copy of the kernels
// only, whose functions carry that level's target features and run only where
// `segloss_core::simd::avx512()` found them.

/// Registers per sub-block.
const V: usize = SUB / W;

/// The registers of an array of 8-lane vectors, two halves each.
#[inline(always)]
fn joined(x: &[f32x8; SUBV]) -> [__m512; V] {
    std::array::from_fn(|v| join(x[2 * v], x[2 * v + 1]))
}

/// Writes the halves of `x` into `out`.
#[inline(always)]
fn split_into(x: &[__m512; V], out: &mut [f32x8; SUBV]) {
    for v in 0..V {
        (out[2 * v], out[2 * v + 1]) = split(x[v]);
    }
}

/// Passes 1 and 2 of a full sub-block at `j0` of a block of `classes` rows of logits `z` (class
/// `c` at `c * stride`) with the labels `tf` (as `f32`): the max `mx`, the sum of the
/// exponentials `sum` and of the other classes' `others`, each exponential written into the
/// class's gradient row when `grad` is given.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn passes_1_2(
    z: &[f32],
    stride: usize,
    j0: usize,
    classes: usize,
    tf: &[f32x8; SUBV],
    grad: Option<&StridedOut<'_>>,
    mx: &mut [f32x8; SUBV],
    sum: &mut [f32x8; SUBV],
    others: &mut [f32x8; SUBV],
) {
    let zrow = |c: usize| &z[c * stride + j0..c * stride + j0 + SUB];
    let tf = joined(tf);
    let mut m = [splat(f32::NEG_INFINITY); V];
    for c in 0..classes {
        let row = zrow(c);
        for v in 0..V {
            // (the row first, as the 8-lane `fast_max`: a NaN logit keeps the max)
            m[v] = unsafe { _mm512_max_ps(load(row, v * W), m[v]) };
        }
    }
    let (mut s, mut o) = ([splat(0.0); V], [splat(0.0); V]);
    for c in 0..classes {
        let row = zrow(c);
        let cf = splat(c as f32);
        // SAFETY: this block owns these positions; the row is used in this iteration only.
        let mut keep_e = grad.map(|g| unsafe { &mut g.row(c)[j0..j0 + SUB] });
        for v in 0..V {
            let e = exp_nonpos(unsafe { _mm512_sub_ps(load(row, v * W), m[v]) });
            unsafe {
                s[v] = _mm512_add_ps(s[v], e);
                // the other classes' exponentials: +0 where the label is c
                let other = _mm512_mask_mov_ps(e, _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(tf[v], cf), splat(0.0));
                o[v] = _mm512_add_ps(o[v], other);
            }
            if let Some(k) = keep_e.as_deref_mut() {
                store(k, v * W, e);
            }
        }
    }
    split_into(&m, mx);
    split_into(&s, sum);
    split_into(&o, others);
}

/// Pass 3 of the plain cross-entropy on a full sub-block at `j0`: each gradient row holds pass
/// 2's exponential `e`, overwritten with `e a - [label == c] b` (one rounding), 0 where `valid`
/// is not set.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn plain_ce_pass_3(
    j0: usize,
    classes: usize,
    tf: &[f32x8; SUBV],
    valid: &[f32x8; SUBV],
    ga: &[f32x8; SUBV],
    gb: &[f32x8; SUBV],
    grad: &StridedOut<'_>,
) {
    let (tf, ga, gb) = (joined(tf), joined(ga), joined(gb));
    let valid: [__mmask16; V] = std::array::from_fn(|v| mask_of(valid[2 * v], valid[2 * v + 1]));
    for c in 0..classes {
        let cf = splat(c as f32);
        // SAFETY: this block owns these positions; the row is used in this iteration only.
        let row = unsafe { &mut grad.row(c)[j0..j0 + SUB] };
        for v in 0..V {
            let g = unsafe {
                let delta = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask::<_CMP_EQ_OQ>(tf[v], cf), gb[v]);
                _mm512_maskz_mov_ps(valid[v], _mm512_fmsub_ps(load(row, v * W), ga[v], delta))
            };
            store(row, v * W, g);
        }
    }
}

//! The AVX-512 level's 16-lane form of a full sub-block of the class-major softmax pair
//! (`stats_sub` and `grad_sub` of the parent module, for integer labels without the extra sums:
//! the Dice, Jaccard and Tversky losses on labels): 16 pixels per 512-bit register, so half the
//! instructions of the 8-lane form, whose statistics loop was bound by their number. W2 `dice`
//! (2 threads, interleaved, 7 rounds): 3.25 -> 2.69 ms with the statistics alone at 16 lanes,
//! 2.41 ms with the gradient too.
//!
//! The same bits as the 8-lane form (test `avx512_level_gives_the_avx2_bits`): every step but
//! the sums is per lane, with the 8-lane form's operations in its order (the max and the
//! exponential are the level's 16-lane helpers, `segloss_core::avx512_wide!`); the statistics
//! split each register into its two 8-lane halves and add them, the lower first, to the 8-lane
//! accumulators, which is the 8-lane loop's order of pixels.

use super::super::super::lanes::f32x8;
use super::super::super::wide16::{exp_nonpos, labels_f32, load, max_rows, split, splat, store, W};
use super::super::{Acc, CoefV, SUB};
use core::arch::x86_64::*;
use segloss_core::kernel::StridedOut;

// SAFETY (every `unsafe` block of this module): the intrinsics need AVX-512 F, which the only
// code that reaches this module has: it is declared in the AVX-512 level's copy of the kernels
// only, whose functions carry that level's target features and run only where
// `segloss_core::simd::avx512()` found them.

/// Registers per sub-block.
const V: usize = SUB / W;

/// Class `c`'s logits of the sub-block at `j0` of a block (class `c` at `c * stride`).
#[inline(always)]
fn zrow(z: &[f32], stride: usize, c: usize, j0: usize) -> &[f32] {
    &z[c * stride + j0..c * stride + j0 + SUB]
}

/// Adds the counted probabilities `p` and one-hot targets `g` of 16 pixels into `acc` as the
/// 8-lane `Acc::add` (without extras) adds two vectors: the lower 8 pixels, then the upper.
#[inline(always)]
fn add_halves(acc: &mut Acc, p: __m512, g: __m512) {
    let ((pl, ph), (gl, gh)) = (split(p), split(g));
    for (p, g) in [(pl, gl), (ph, gh)] {
        acc.i = p.mul_add(g, acc.i);
        acc.p += p;
        acc.g += g;
    }
}

/// The labels of the full sub-block at `j0` as `f32` lanes, and the masks of the counted pixels
/// (label >= 0).
#[inline(always)]
fn label_regs(labels: &[i32], j0: usize) -> ([__m512; V], [__mmask16; V]) {
    let mut tf = [splat(0.0); V];
    let mut valid = [0; V];
    for v in 0..V {
        tf[v] = labels_f32(labels, j0 + v * W);
        valid[v] = unsafe { _mm512_cmp_ps_mask::<_CMP_GE_OQ>(tf[v], splat(0.0)) };
    }
    (tf, valid)
}

/// The one-hot target of class `c` (`cf`, as `f32`) for labels `tf`: 1 where equal, +0 elsewhere.
#[inline(always)]
fn one_hot(tf: __m512, cf: __m512) -> __m512 {
    unsafe { _mm512_maskz_mov_ps(_mm512_cmp_ps_mask::<_CMP_EQ_OQ>(tf, cf), splat(1.0)) }
}

/// One full sub-block (`SUB` pixels at `j0`) of a block of `classes` rows of logits `z` (class
/// `c` at `c * stride`) with the block's `labels` (-1: ignored): the probabilities into the rows
/// of `cache` and each class's `I, P, G` into `accs` (the parent's `stats_sub` for labels and
/// `X = false`, the same bits).
#[inline(always)]
pub(super) fn stats_sub_labels(z: &[f32], stride: usize, classes: usize, labels: &[i32], j0: usize, cache: &StridedOut<'_>, accs: &mut [Acc]) {
    let zero = splat(0.0);
    let (tf, valid) = label_regs(labels, j0);
    let mx: [__m512; V] = max_rows(z, stride, j0, classes);
    let mut inv = [zero; V];
    for c in 0..classes {
        // SAFETY: the C rows of this block are distinct ranges no other block touches; one row
        // is live at a time.
        let row = unsafe { &mut cache.row(c)[j0..j0 + SUB] };
        let zc = zrow(z, stride, c, j0);
        for v in 0..V {
            let e = exp_nonpos(unsafe { _mm512_sub_ps(load(zc, v * W), mx[v]) });
            inv[v] = unsafe { _mm512_add_ps(inv[v], e) };
            store(row, v * W, e);
        }
    }
    for x in &mut inv {
        *x = unsafe { _mm512_div_ps(splat(1.0), *x) };
    }
    for (c, acc) in accs.iter_mut().enumerate().take(classes) {
        // SAFETY: as above.
        let row = unsafe { &mut cache.row(c)[j0..j0 + SUB] };
        let cf = splat(c as f32);
        let mut a = *acc;
        for v in 0..V {
            let (pc, g) = unsafe {
                let p = _mm512_mul_ps(load(row, v * W), inv[v]);
                store(row, v * W, p);
                (_mm512_maskz_mov_ps(valid[v], p), one_hot(tf[v], cf))
            };
            add_halves(&mut a, pc, g);
        }
        *acc = a;
    }
}

/// A coefficient's lanes (all equal) in a 512-bit register. (A function, not a closure: a
/// closure does not inherit the level's target features.)
#[inline(always)]
fn broadcast(x: f32x8) -> __m512 {
    unsafe { _mm512_broadcast_f32x8(x.m256()) }
}

/// The gradient of one full sub-block (`SUB` pixels at `j0`) from the probabilities in the rows
/// of `out`, with the block's `labels` and each class's coefficients `cv` (the parent's
/// `grad_sub` for labels and `X = false`: `dL/dp_c = a_c + b_c g_c`, then
/// `p_c dL/dp_c - p_c sum_k p_k dL/dp_k`, 0 at ignored pixels). Every step is per lane, in the
/// 8-lane form's order, so the same bits.
#[inline(always)]
pub(super) fn grad_sub_labels(labels: &[i32], j0: usize, cv: &[CoefV], out: &StridedOut<'_>) {
    let (tf, valid) = label_regs(labels, j0);
    let mut dot = [splat(0.0); V];
    for (c, cvc) in cv.iter().enumerate() {
        // SAFETY: the C rows of this block are distinct ranges no other block touches; one row
        // is live at a time.
        let row = unsafe { &out.row(c)[j0..j0 + SUB] };
        let (a, b, cf) = (broadcast(cvc.a), broadcast(cvc.b), splat(c as f32));
        for v in 0..V {
            let pc = load(row, v * W);
            dot[v] = unsafe { _mm512_fmadd_ps(pc, _mm512_fmadd_ps(b, one_hot(tf[v], cf), a), dot[v]) };
        }
    }
    for (c, cvc) in cv.iter().enumerate() {
        // SAFETY: as above.
        let row = unsafe { &mut out.row(c)[j0..j0 + SUB] };
        let (a, b, cf) = (broadcast(cvc.a), broadcast(cvc.b), splat(c as f32));
        for v in 0..V {
            let pc = load(row, v * W);
            let g = unsafe {
                let pa = _mm512_mul_ps(pc, _mm512_fmadd_ps(b, one_hot(tf[v], cf), a));
                _mm512_maskz_mov_ps(valid[v], _mm512_fnmadd_ps(pc, dot[v], pa))
            };
            store(row, v * W, g);
        }
    }
}

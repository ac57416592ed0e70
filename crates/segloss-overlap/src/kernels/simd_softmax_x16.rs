//! The AVX-512 level's 16-lane form of a full sub-block of the class-major softmax pair
//! (`stats_sub` and `grad_sub` of the parent module, for integer labels without the extra sums:
//! the Dice, Jaccard and Tversky losses on labels): 16 pixels per 512-bit register, so half the
//! instructions of the 8-lane form, whose statistics loop was bound by their number. W2 `dice`
//! (2 threads, interleaved, 5 rounds): 3.45 -> 2.84 ms with a first version of the statistics.
//!
//! The same bits as the 8-lane form (test `avx512_level_gives_the_avx2_bits`): every step but
//! the sums is per lane, with the 8-lane form's operations in its order (the exponential is
//! `exp_nonpos` of `segloss_core::simd_math!`, with the constants that macro exports); the
//! statistics split each register into its two 8-lane halves and add them, the lower first, to
//! the 8-lane accumulators, which is the 8-lane loop's order of pixels.

use super::super::super::lanes::{f32x8, EXP_NONPOS_LO, EXP_POLY, LN2_HI, LN2_LO, LOG2E, SHIFTER};
use super::super::{Acc, CoefV, SUB};
use core::arch::x86_64::*;
use segloss_core::kernel::StridedOut;

// SAFETY (every `unsafe` block of this module): the intrinsics need AVX-512 F (and DQ for the
// upper-half extract), which the only code that reaches this module has: it is declared in the
// AVX-512 level's copy of the kernels only, whose functions carry that level's target features
// and run only where `segloss_core::simd::avx512()` found them.

/// Pixels per register.
const W: usize = 16;
/// Registers per sub-block.
const V: usize = SUB / W;

/// Register `v` of a sub-block row (`SUB` values).
#[inline(always)]
fn load(row: &[f32], v: usize) -> __m512 {
    let r: &[f32; W] = row[v * W..v * W + W].try_into().expect("16 lanes");
    unsafe { _mm512_loadu_ps(r.as_ptr()) }
}

/// Stores register `v` of a sub-block row.
#[inline(always)]
fn store(row: &mut [f32], v: usize, x: __m512) {
    let r: &mut [f32; W] = (&mut row[v * W..v * W + W]).try_into().expect("16 lanes");
    unsafe { _mm512_storeu_ps(r.as_mut_ptr(), x) }
}

/// Class `c`'s logits of the sub-block at `j0` of a block (class `c` at `c * stride`).
#[inline(always)]
fn zrow(z: &[f32], stride: usize, c: usize, j0: usize) -> &[f32] {
    &z[c * stride + j0..c * stride + j0 + SUB]
}

/// `exp_nonpos` of `segloss_core::simd_math!` on 16 lanes: the same operations in the same
/// order, so the same bits per lane.
#[inline(always)]
fn exp_nonpos(x: __m512) -> __m512 {
    unsafe {
        let lo = _mm512_set1_ps(EXP_NONPOS_LO);
        let xc = _mm512_max_ps(x, lo);
        let t = _mm512_add_ps(_mm512_mul_ps(xc, _mm512_set1_ps(LOG2E)), _mm512_set1_ps(SHIFTER));
        let kf = _mm512_sub_ps(t, _mm512_set1_ps(SHIFTER));
        let r = _mm512_fnmadd_ps(kf, _mm512_set1_ps(LN2_HI), xc);
        let r = _mm512_fnmadd_ps(kf, _mm512_set1_ps(LN2_LO), r);
        let mut p = _mm512_set1_ps(EXP_POLY[0]);
        for c in &EXP_POLY[1..] {
            p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(*c));
        }
        let y = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0));
        let scale = _mm512_slli_epi32::<23>(_mm512_add_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(127)));
        let y = _mm512_mul_ps(y, _mm512_castsi512_ps(scale));
        let y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, lo), _mm512_setzero_ps());
        _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(x, x), x)
    }
}

/// Adds the counted probabilities `p` and one-hot targets `g` of 16 pixels into `acc` as the
/// 8-lane `Acc::add` (without extras) adds two vectors: the lower 8 pixels, then the upper.
#[inline(always)]
fn add_halves(acc: &mut Acc, p: __m512, g: __m512) {
    let (pl, gl, ph, gh) = unsafe {
        (
            f32x8::from_m256(_mm512_castps512_ps256(p)),
            f32x8::from_m256(_mm512_castps512_ps256(g)),
            f32x8::from_m256(_mm512_extractf32x8_ps::<1>(p)),
            f32x8::from_m256(_mm512_extractf32x8_ps::<1>(g)),
        )
    };
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
    let labels: &[i32; SUB] = labels[j0..j0 + SUB].try_into().expect("a full sub-block");
    let mut tf = [unsafe { _mm512_setzero_ps() }; V];
    let mut valid = [0; V];
    for v in 0..V {
        unsafe {
            tf[v] = _mm512_cvtepi32_ps(_mm512_loadu_si512(labels[v * W..].as_ptr().cast()));
            valid[v] = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(tf[v], _mm512_setzero_ps());
        }
    }
    (tf, valid)
}

/// The one-hot target of class `c` (`cf`, as `f32`) for labels `tf`: 1 where equal, +0 elsewhere.
#[inline(always)]
fn one_hot(tf: __m512, cf: __m512) -> __m512 {
    unsafe { _mm512_maskz_mov_ps(_mm512_cmp_ps_mask::<_CMP_EQ_OQ>(tf, cf), _mm512_set1_ps(1.0)) }
}

/// One full sub-block (`SUB` pixels at `j0`) of a block of `classes` rows of logits `z` (class
/// `c` at `c * stride`) with the block's `labels` (-1: ignored): the probabilities into the rows
/// of `cache` and each class's `I, P, G` into `accs` (the parent's `stats_sub` for labels and
/// `X = false`, the same bits).
#[inline(always)]
pub(super) fn stats_sub_labels(z: &[f32], stride: usize, classes: usize, labels: &[i32], j0: usize, cache: &StridedOut<'_>, accs: &mut [Acc]) {
    let zero = unsafe { _mm512_setzero_ps() };
    let (tf, valid) = label_regs(labels, j0);
    let mut mx = [zero; V];
    let mut inv = [zero; V];
    let z0 = zrow(z, stride, 0, j0);
    for v in 0..V {
        mx[v] = load(z0, v);
    }
    for c in 1..classes {
        let zc = zrow(z, stride, c, j0);
        for v in 0..V {
            // (the 8-lane `fast_max` order: a NaN logit becomes the max)
            mx[v] = unsafe { _mm512_max_ps(mx[v], load(zc, v)) };
        }
    }
    for c in 0..classes {
        // SAFETY: the C rows of this block are distinct ranges no other block touches; one row
        // is live at a time.
        let row = unsafe { &mut cache.row(c)[j0..j0 + SUB] };
        let zc = zrow(z, stride, c, j0);
        for v in 0..V {
            let e = exp_nonpos(unsafe { _mm512_sub_ps(load(zc, v), mx[v]) });
            inv[v] = unsafe { _mm512_add_ps(inv[v], e) };
            store(row, v, e);
        }
    }
    for x in &mut inv {
        *x = unsafe { _mm512_div_ps(_mm512_set1_ps(1.0), *x) };
    }
    for (c, acc) in accs.iter_mut().enumerate().take(classes) {
        // SAFETY: as above.
        let row = unsafe { &mut cache.row(c)[j0..j0 + SUB] };
        let cf = unsafe { _mm512_set1_ps(c as f32) };
        let mut a = *acc;
        for v in 0..V {
            let (pc, g) = unsafe {
                let p = _mm512_mul_ps(load(row, v), inv[v]);
                store(row, v, p);
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
    let mut dot = [unsafe { _mm512_setzero_ps() }; V];
    for (c, cvc) in cv.iter().enumerate() {
        // SAFETY: the C rows of this block are distinct ranges no other block touches; one row
        // is live at a time.
        let row = unsafe { &out.row(c)[j0..j0 + SUB] };
        let (a, b, cf) = (broadcast(cvc.a), broadcast(cvc.b), unsafe { _mm512_set1_ps(c as f32) });
        for v in 0..V {
            let pc = load(row, v);
            dot[v] = unsafe { _mm512_fmadd_ps(pc, _mm512_fmadd_ps(b, one_hot(tf[v], cf), a), dot[v]) };
        }
    }
    for (c, cvc) in cv.iter().enumerate() {
        // SAFETY: as above.
        let row = unsafe { &mut out.row(c)[j0..j0 + SUB] };
        let (a, b, cf) = (broadcast(cvc.a), broadcast(cvc.b), unsafe { _mm512_set1_ps(c as f32) });
        for v in 0..V {
            let pc = load(row, v);
            let g = unsafe {
                let pa = _mm512_mul_ps(pc, _mm512_fmadd_ps(b, one_hot(tf[v], cf), a));
                _mm512_maskz_mov_ps(valid[v], _mm512_fnmadd_ps(pc, dot[v], pa))
            };
            store(row, v, g);
        }
    }
}

//! The class-major pair of cached softmax kernels (`softmax_stats_cached` /
//! `softmax_grad_cached` of the parent body), compiled with it once per level: per sub-block of
//! [`SUB`] pixels, each class row is streamed whole instead of touching the `C` rows of a block
//! for every 8 pixels. Full sub-blocks (every one but a block's last) run the loops with constant
//! bounds (`FULL`). On W2 `dice` (2 threads, AVX-512 level) both measured: constant bounds 4.2 ->
//! 3.4 ms at 256 pixels per sub-block, then 128 pixels 3.5 -> 3.2 ms (64: 3.8 ms).

use super::super::lanes::{exp_nonpos, f32x8, first_lanes};
use super::{label_lanes, ld, row_ld, store_lanes, Acc, CoefV, FLUSH, SUB, SUBV};
use crate::kernels::{Coef, KParams, SoftBlock, Stats};
use segloss_core::kernel::StridedOut;
use segloss_core::simd::LANES;

const _: () = assert!(FLUSH.is_multiple_of(SUB), "flushes fall on sub-block ends");

super::super::avx512_only! {
    // the 16-lane form of a full sub-block's two passes on labels, at the AVX-512 level only
    #[path = "simd_softmax_x16.rs"]
    mod x16;
}

/// The labels (as `f32` lanes) and lane masks of the vectors of a sub-block of `len` pixels at `j0`.
#[inline(always)]
fn sub_labels(b: &SoftBlock<'_, f32>, j0: usize, len: usize, tf: &mut [f32x8; SUBV], valid: &mut [f32x8; SUBV]) {
    for v in 0..len.div_ceil(LANES) {
        let lanes = (len - v * LANES).min(LANES);
        match b.labels {
            Some(l) => {
                tf[v] = label_lanes(l, j0 + v * LANES, lanes);
                valid[v] = tf[v].simd_ge(f32x8::ZERO);
            }
            None => valid[v] = first_lanes(lanes),
        }
    }
}

/// `softmax_stats_g` for logits with the cache, class-major (the same values, bit for bit):
/// per sub-block of up to [`SUB`] pixels, one pass over the class rows for the max, one for
/// the exponentials (kept in the cache rows) and their sum, and one that writes the
/// probabilities over them and adds each class's statistics in lane accumulators.
#[inline(always)]
pub(super) fn softmax_stats_cm<const X: bool>(b: &SoftBlock<'_, f32>, kp: &KParams, out: &mut [Stats], cache: &StridedOut<'_>) -> bool {
    let mut sub = SubStats {
        bad: f32x8::ZERO,
        tf: [f32x8::ZERO; SUBV],
        valid: [f32x8::ZERO; SUBV],
        mx: [f32x8::ZERO; SUBV],
        inv: [f32x8::ZERO; SUBV],
        accs: vec![Acc::ZERO; b.classes],
    };
    let mut j0 = 0;
    while j0 < b.len {
        let len = SUB.min(b.len - j0);
        // full sub-blocks (all but a block's last) get the loops with constant bounds
        if len == SUB {
            stats_sub::<X, true>(b, kp, out, cache, &mut sub, j0, len);
        } else {
            stats_sub::<X, false>(b, kp, out, cache, &mut sub, j0, len);
        }
        j0 += len;
    }
    sub.bad.any()
}

/// The state of [`softmax_stats_cm`] across its sub-blocks.
struct SubStats {
    bad: f32x8,
    tf: [f32x8; SUBV],
    valid: [f32x8; SUBV],
    mx: [f32x8; SUBV],
    inv: [f32x8; SUBV],
    accs: Vec<Acc>,
}

/// One sub-block of [`softmax_stats_cm`]: `len` pixels at `j0` (`SUB` of them when `FULL`).
#[inline(always)]
fn stats_sub<const X: bool, const FULL: bool>(
    b: &SoftBlock<'_, f32>,
    kp: &KParams,
    out: &mut [Stats],
    cache: &StridedOut<'_>,
    st: &mut SubStats,
    j0: usize,
    len: usize,
) {
    let len = if FULL { SUB } else { len };
    let cc = b.classes;
    let nv = len.div_ceil(LANES);
    let lanes = |v: usize| if FULL { LANES } else { (len - v * LANES).min(LANES) };
    let SubStats { bad, tf, valid, mx, inv, accs } = st;
    // the lane sums go to `f64` every FLUSH pixels, as in the pixel-major kernel
    let flush = (j0 + len).is_multiple_of(FLUSH) || j0 + len == b.len;
    super::super::avx512_only! {
        if let (true, false, Some(l), None) = (FULL, X, b.labels, b.probs) {
            x16::stats_sub_labels(b.z, b.stride, cc, l, j0, cache, &mut accs[..cc]);
            if flush {
                for (stats, acc) in out.iter_mut().zip(accs.iter_mut()) {
                    acc.flush_into(stats, X);
                }
            }
            return;
        }
    }
    sub_labels(b, j0, len, tf, valid);
    for v in 0..nv {
        mx[v] = ld(b.z, b.stride, 0, j0 + v * LANES, lanes(v));
    }
    for c in 1..cc {
        for v in 0..nv {
            // (`probs_lanes`' order: a NaN logit becomes the max)
            mx[v] = mx[v].fast_max(ld(b.z, b.stride, c, j0 + v * LANES, lanes(v)));
        }
    }
    inv[..nv].fill(f32x8::ZERO);
    for c in 0..cc {
        // SAFETY: the C rows of this block are distinct ranges no other block touches; one
        // row is live at a time.
        let row = unsafe { &mut cache.row(c)[j0..j0 + len] };
        for v in 0..nv {
            let e = exp_nonpos(ld(b.z, b.stride, c, j0 + v * LANES, lanes(v)) - mx[v]);
            inv[v] += e;
            store_lanes(row, v * LANES, lanes(v), e);
        }
    }
    for v in 0..nv {
        inv[v] = f32x8::ONE / inv[v];
    }
    for (c, (stats, acc_c)) in out.iter_mut().zip(accs.iter_mut()).enumerate().take(cc) {
        // SAFETY: as above.
        let row = unsafe { &mut cache.row(c)[j0..j0 + len] };
        let cf = f32x8::splat(c as f32);
        let mut acc = *acc_c;
        for v in 0..nv {
            let p = row_ld(row, v, len) * inv[v];
            store_lanes(row, v * LANES, lanes(v), p);
            let pc = valid[v].select(p, f32x8::ZERO);
            let g = match b.probs {
                Some(pr) => {
                    let g = ld(pr, b.stride, c, j0 + v * LANES, lanes(v));
                    *bad |= valid[v] & !(g.simd_ge(f32x8::ZERO) & g.simd_le(f32x8::ONE));
                    g
                }
                None => tf[v].simd_eq(cf) & f32x8::ONE,
            };
            acc.add::<X>(pc, g, valid[v], kp);
        }
        if flush {
            acc.flush_into(stats, X);
        }
        *acc_c = acc;
    }
}

/// `softmax_grad_cached`, class-major by sub-blocks of [`SUB`] pixels: one pass over the
/// class rows for `sum_k p_k a_k`, one that writes `p_c a_c - p_c sum_k p_k a_k` (the values
/// of the pixel-major form, bit for bit).
#[inline(always)]
pub(super) fn softmax_grad_cached_g<const X: bool>(b: &SoftBlock<'_, f32>, kp: &KParams, coefs: &[Coef], out: &StridedOut<'_>) {
    let cv: Vec<CoefV> = coefs.iter().map(CoefV::of).collect();
    let mut sub = ([f32x8::ZERO; SUBV], [f32x8::ZERO; SUBV], [f32x8::ZERO; SUBV]);
    let mut j0 = 0;
    while j0 < b.len {
        let len = SUB.min(b.len - j0);
        // full sub-blocks (all but a block's last) get the loops with constant bounds
        if len == SUB {
            grad_sub::<X, true>(b, kp, &cv, out, &mut sub, j0, len);
        } else {
            grad_sub::<X, false>(b, kp, &cv, out, &mut sub, j0, len);
        }
        j0 += len;
    }
}

/// One sub-block of [`softmax_grad_cached_g`]: `len` pixels at `j0` (`SUB` of them when `FULL`);
/// `sub` holds the labels, lane masks and dot products.
#[allow(clippy::type_complexity)]
#[inline(always)]
fn grad_sub<const X: bool, const FULL: bool>(
    b: &SoftBlock<'_, f32>,
    kp: &KParams,
    cv: &[CoefV],
    out: &StridedOut<'_>,
    sub: &mut ([f32x8; SUBV], [f32x8; SUBV], [f32x8; SUBV]),
    j0: usize,
    len: usize,
) {
    let len = if FULL { SUB } else { len };
    let nv = len.div_ceil(LANES);
    let lanes = |v: usize| if FULL { LANES } else { (len - v * LANES).min(LANES) };
    super::super::avx512_only! {
        if let (true, false, Some(l), None) = (FULL, X, b.labels, b.probs) {
            x16::grad_sub_labels(l, j0, &cv[..b.classes], out);
            return;
        }
    }
    let (tf, valid, dot) = sub;
    sub_labels(b, j0, len, tf, valid);
    dot[..nv].fill(f32x8::ZERO);
    for (c, cvc) in cv.iter().enumerate().take(b.classes) {
        // SAFETY: the C rows of this block are distinct ranges no other block touches; one
        // row is live at a time.
        let row = unsafe { &out.row(c)[j0..j0 + len] };
        for v in 0..nv {
            let pc = row_ld(row, v, len);
            dot[v] = pc.mul_add(cvc.dl_dp::<X>(pc, target_lanes(b, tf, c, j0, v, lanes(v)), kp), dot[v]);
        }
    }
    for (c, cvc) in cv.iter().enumerate().take(b.classes) {
        // SAFETY: as above.
        let row = unsafe { &mut out.row(c)[j0..j0 + len] };
        for v in 0..nv {
            let pc = row_ld(row, v, len);
            let pa = pc * cvc.dl_dp::<X>(pc, target_lanes(b, tf, c, j0, v, lanes(v)), kp);
            store_lanes(row, v * LANES, lanes(v), valid[v].select(pc.mul_neg_add(dot[v], pa), f32x8::ZERO));
        }
    }
}

/// The target of class `c` for vector `v` of the sub-block at `j0`: the class probabilities, or
/// the one-hot of the labels `tf`. A function, not a closure: a closure does not inherit the
/// level's target features, so its lane operations became calls (W2 `dice`'s gradient pass).
#[inline(always)]
fn target_lanes(b: &SoftBlock<'_, f32>, tf: &[f32x8; SUBV], c: usize, j0: usize, v: usize, lanes: usize) -> f32x8 {
    match b.probs {
        Some(pr) => ld(pr, b.stride, c, j0 + v * LANES, lanes),
        None => tf[v].simd_eq(f32x8::splat(c as f32)) & f32x8::ONE,
    }
}

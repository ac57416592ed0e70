//! The SIMD kernels of `unified_focal` (see `crate::unified_focal_kernels`), 8 pixels per `f32x8`
//! lane group, compiled once per level with the overlap kernels (`kernels/simd_base.rs`,
//! `kernels/simd_avx2.rs`): `stats` and `grad` through the level's `level_fn!`, the helpers
//! `#[inline(always)]` without closures.

use super::body::{ld, store_lanes as st};
use super::lanes::{exp_nonpos, f32x8, first_lanes, i32x8, lanes_sum_f64, ln};
use crate::unified_focal_kernels::{Block, Coefs, Params, Sums, Tgt, EPS};
use segloss_core::kernel::StridedOut;
use segloss_core::simd::LANES;

/// Everything one group of 8 pixels needs.
struct Px {
    p0: f32x8,
    p1: f32x8,
    q0: f32x8,
    q1: f32x8,
    r0: f32x8,
    /// The clamp does not act (all-ones lanes).
    in0: f32x8,
    in1: f32x8,
    y0: f32x8,
    y1: f32x8,
    lq0: f32x8,
    lq1: f32x8,
    /// `r_0^gamma`.
    pw: f32x8,
}

/// `clamp(p, EPS, 1 - EPS)` (NaN stays NaN) and the lanes inside the bounds.
#[inline(always)]
fn clamp(p: f32x8) -> (f32x8, f32x8) {
    let (lo, hi) = (f32x8::splat(EPS as f32), f32x8::splat((1.0 - EPS) as f32));
    let q = p.max(lo).min(hi);
    (p.is_nan().select(p, q), p.simd_ge(lo) & p.simd_le(hi))
}

/// `v` in every lane (a function: a closure would not get the level's target features).
#[inline(always)]
fn sp(v: f64) -> f32x8 {
    f32x8::splat(v as f32)
}

/// `ln` of the clamp's bounds, `(ln EPS, ln (1 - EPS))` in `f32`, as [`pixels`] takes them.
#[inline(always)]
fn ln_bounds() -> (f32x8, f32x8) {
    (ln(f32x8::splat(EPS as f32)), ln(f32x8::splat((1.0 - EPS) as f32)))
}

/// `ln q` for `q = clamp(p)` from `lp = ln p` (`inside`: the clamp does not act; NaN stays NaN).
#[inline(always)]
fn clamped_ln(p: f32x8, inside: f32x8, lp: f32x8, (ln_lo, ln_hi): (f32x8, f32x8)) -> f32x8 {
    (inside | p.is_nan()).select(lp, p.simd_lt(f32x8::splat(EPS as f32)).select(ln_lo, ln_hi))
}

#[inline(always)]
fn pixels(b: &Block<'_>, j: usize, lanes: usize, prm: &Params, gamma: f32x8, lnb: (f32x8, f32x8)) -> Px {
    let two = b.two();
    let z0 = ld(b.z, b.stride, 0, j, lanes);
    // with logits, (ln p_0, ln p_1) from the one logarithm below (else None)
    let (p0, p1, lp) = if prm.from_logits {
        let x = if two { ld(b.z, b.stride, 1, j, lanes) - z0 } else { z0 };
        // sigmoid(x) and sigmoid(-x) from one exponential
        let e = exp_nonpos(-x.abs());
        let s = f32x8::ONE / (f32x8::ONE + e);
        let es = e * s;
        let pos = x.simd_ge(f32x8::ZERO);
        // ln sigmoid(x) = -(ln(1 + e) + max(-x, 0)), ln sigmoid(-x) = -(ln(1 + e) + max(x, 0))
        let l = ln(f32x8::ONE + e);
        let lp0 = -(l + x.fast_max(f32x8::ZERO));
        let lp1 = -(l + (-x).fast_max(f32x8::ZERO));
        (pos.select(es, s), pos.select(s, es), Some((lp0, lp1)))
    } else if two {
        (z0, ld(b.z, b.stride, 1, j, lanes), None)
    } else {
        (f32x8::ONE - z0, z0, None)
    };
    let (q0, in0) = clamp(p0);
    let (q1, in1) = clamp(p1);
    // p_0 + p_1 = 1: 1 - q_0 = q_1 (symmetric bounds)
    let complement = prm.from_logits || !two;
    let r0 = if complement { q1 } else { f32x8::ONE - q0 };
    let (y0, y1) = match b.t {
        Tgt::Binary(y) => {
            let y = ld(y, 0, 0, j, lanes);
            (f32x8::ONE - y, y)
        }
        Tgt::Labels(l) => {
            // a full vector as one fixed-size copy (a copy of `lanes` values is a `memcpy` call)
            let a: [i32; LANES] = match l[j..].first_chunk::<LANES>() {
                Some(full) if lanes == LANES => *full,
                _ => std::array::from_fn(|k| if k < lanes { l[j + k] } else { -1 }),
            };
            let lf = f32x8::from_i32x8(i32x8::new(a));
            (lf.simd_eq(f32x8::ZERO).select(f32x8::ONE, f32x8::ZERO), lf.simd_eq(f32x8::ONE).select(f32x8::ONE, f32x8::ZERO))
        }
        Tgt::Probs(q) => (ld(q, b.stride, 0, j, lanes), ld(q, b.stride, 1, j, lanes)),
    };
    let (lq0, lq1) = match lp {
        Some((lp0, lp1)) => (clamped_ln(p0, in0, lp0, lnb), clamped_ln(p1, in1, lp1, lnb)),
        None => (ln(q0), ln(q1)),
    };
    let lr0 = if complement { lq1 } else { ln(r0) };
    let pw = exp_nonpos(gamma * lr0);
    Px { p0, p1, q0, q1, r0, in0, in1, y0, y1, lq0, lq1, pw }
}

super::level_fn! {
    /// The sums of one block.
    pub(crate) fn stats(b: &Block<'_>, prm: &Params) -> Sums {
        let gamma = f32x8::splat(prm.gamma as f32);
        let lnb = ln_bounds();
        let complement = prm.from_logits || !b.two();
        let mut acc = [f32x8::ZERO; 8];
        let mut j = 0;
        while j < b.len {
            let lanes = (b.len - j).min(LANES);
            let x = pixels(b, j, lanes, prm, gamma, lnb);
            let v = first_lanes(lanes).select(f32x8::ONE, f32x8::ZERO);
            let (y0, y1) = (x.y0 * v, x.y1 * v);
            let (n0, n1) = (v - y0, v - y1);
            let r1 = if complement { x.q0 } else { f32x8::ONE - x.q1 };
            acc[0] = (x.pw * y0).mul_neg_add(x.lq0, acc[0]);
            acc[1] = y1.mul_neg_add(x.lq1, acc[1]);
            acc[2] = y0.mul_add(x.q0, acc[2]);
            acc[3] = y0.mul_add(x.r0, acc[3]);
            acc[4] = n0.mul_add(x.q0, acc[4]);
            acc[5] = y1.mul_add(x.q1, acc[5]);
            acc[6] = y1.mul_add(r1, acc[6]);
            acc[7] = n1.mul_add(x.q1, acc[7]);
            j += LANES;
        }
        acc.map(lanes_sum_f64)
    }
}

super::level_fn! {
    /// The gradient of one block into `out` (row 0, and row 1 for two channels).
    // `j` indexes the block's pixel in both rows at once
    #[allow(clippy::needless_range_loop)]
    pub(crate) fn grad(b: &Block<'_>, prm: &Params, cf: &Coefs, out: &StridedOut<'_>) {
        let two = b.two();
        // SAFETY: the rows of this block are distinct ranges no other block touches.
        let mut rows: Vec<&mut [f32]> = (0..1 + two as usize).map(|c| unsafe { out.row(c) }).collect();
        let gamma = f32x8::splat(prm.gamma as f32);
        let lnb = ln_bounds();
        let (kf0, kf1, a0, b0, a1, b1) = (sp(cf.kf0), sp(cf.kf1), sp(cf.a0), sp(cf.b0), sp(cf.a1), sp(cf.b1));
        let mut j = 0;
        while j < b.len {
            let lanes = (b.len - j).min(LANES);
            let x = pixels(b, j, lanes, prm, gamma, lnb);
            // d/dq_0 of r_0^gamma (-ln q_0): gamma r_0^(gamma-1) ln q_0 - r_0^gamma / q_0
            let h = (gamma * x.pw / x.r0).mul_sub(x.lq0, x.pw / x.q0);
            let d0 = (kf0 * x.y0).mul_add(h, b0.mul_add(x.y0, a0 * (f32x8::ONE - x.y0)));
            let d1 = (kf1 * x.y1 / x.q1).mul_neg_add(f32x8::ONE, b1.mul_add(x.y1, a1 * (f32x8::ONE - x.y1)));
            let d0 = x.in0.select(d0, f32x8::ZERO);
            let d1 = x.in1.select(d1, f32x8::ZERO);
            if prm.from_logits {
                let d = x.p0 * x.p1 * (d1 - d0);
                if two {
                    st(rows[0], j, lanes, -d);
                    st(rows[1], j, lanes, d);
                } else {
                    st(rows[0], j, lanes, d);
                }
            } else if two {
                st(rows[0], j, lanes, d0);
                st(rows[1], j, lanes, d1);
            } else {
                st(rows[0], j, lanes, d1 - d0);
            }
            j += LANES;
        }
    }
}

//! The SIMD kernels (see `crate::kernels`), compiled once per level (`simd_base.rs`,
//! `simd_avx2.rs`), with the signatures of `crate::kernels::scalar` on `f32x8` lanes and the
//! elementary functions of `segloss_core::simd`.
//!
//! Sums accumulate in `f32x8` lanes over at most 1024 elements, then in `f64`.
//!
//! Functions with loops or closures are declared through the level's `level_fn!` (the AVX2 level
//! compiles them with `#[target_feature(enable = "avx2,fma")]`; closures inside them inherit it);
//! the small helpers are `#[inline(always)]` and take no closure, so they become part of their
//! callers.

// Class loops index several per-class arrays at once; `for c in 0..C` reads like the formulas.
#![allow(clippy::needless_range_loop)]

use super::lanes::{self as m, f32x8, first_lanes, lanes_sum_f64, load_padded, store};
use crate::kernels::{Aux, ElemKind, ElemParams, SoftmaxBlock, SoftmaxParams, StridedOut};
use segloss_core::simd::LANES;
use segloss_core::PROB_EPS;

// the class-major softmax kernel behind `softmax_terms`, compiled with this body
#[path = "simd_softmax.rs"]
mod softmax;

const FLUSH: usize = 1024;

/// `(p, 1 - p, softplus(-x), softplus(x))` from one exponential: `log p = -softplus(-x)`,
/// `log(1 - p) = -softplus(x)`, and `1 - p` without cancellation.
#[inline(always)]
fn sig_parts(x: f32x8) -> (f32x8, f32x8, f32x8, f32x8) {
    let e = m::exp_nonpos(-x.abs());
    let s = f32x8::ONE / (f32x8::ONE + e);
    let es = e * s;
    let pos = x.simd_ge(f32x8::ZERO);
    let p = pos.select(s, es);
    let q = pos.select(es, s);
    let l1p = m::ln_1p_unit(e);
    // `fast_max` against a constant gives `max`'s lanes (a NaN `x` gives 0, and NaN through `l1p`)
    let sp_neg = (-x).fast_max(f32x8::ZERO) + l1p;
    let sp_pos = x.fast_max(f32x8::ZERO) + l1p;
    (p, q, sp_neg, sp_pos)
}

/// `base^gamma` given `ln(base)`, with fast paths for gamma in {0, 1, 2}.
#[inline(always)]
fn pow_g<const G: u8>(base: f32x8, ln_base: f32x8, gamma: f32x8) -> f32x8 {
    match G {
        0 => f32x8::ONE,
        1 => base,
        2 => base * base,
        _ => m::exp(gamma * ln_base),
    }
}

#[inline(always)]
fn vec8(c: &[f32]) -> f32x8 {
    f32x8::new(*c.first_chunk::<LANES>().expect("chunks of 8"))
}

super::level_fn! {
    /// The generic elementwise loop: `f(x, y, aux) -> (loss, dloss/dx)` per vector. Full vectors
    /// run through `chunks_exact` (no bounds checks), one loop per combination of inputs; the lane
    /// sums go to `f64` every [`FLUSH`] elements; the tail is padded and masked.
    #[allow(clippy::too_many_arguments)]
    fn run<F>(
        x: &[f32],
        y: &[f32],
        aux: Aux<'_, f32>,
        smoothing: f32,
        scale: f32,
        mut grad: Option<&mut [f32]>,
        mut terms: Option<&mut [f32]>,
        f: F,
    ) -> (f64, bool)
    where
        F: Fn(f32x8, f32x8, f32x8) -> (f32x8, f32x8),
    {
        let n = x.len();
        let aux_slice: Option<&[f32]> = match aux {
            Aux::None => None,
            Aux::Weight(w) | Aux::Distance(w) => Some(w),
        };
        assert!(
            y.len() == n
                && aux_slice.is_none_or(|a| a.len() == n)
                && grad.as_ref().is_none_or(|g| g.len() == n)
                && terms.as_ref().is_none_or(|t| t.len() == n),
            "kernel inputs of equal length"
        );
        let keep = f32x8::splat(1.0 - smoothing);
        let half_s = f32x8::splat(smoothing * 0.5);
        let scale_v = f32x8::splat(scale);
        // loss, scaled gradient and the out-of-range mask of one vector
        let core = |xv: f32x8, yv: f32x8, av: f32x8| {
            let out = !(yv.simd_ge(f32x8::ZERO) & yv.simd_le(f32x8::ONE));
            let (l, g) = f(xv, yv.mul_add(keep, half_s), av);
            (l, g * scale_v, out)
        };
        let full = n - n % LANES;
        let mut total = 0.0f64;
        let mut bad = f32x8::ZERO;
        for start in (0..full).step_by(FLUSH) {
            let end = (start + FLUSH).min(full);
            let mut acc = f32x8::ZERO;
            if let Some(t) = terms.as_deref_mut() {
                // the per-element losses (`topk_ce`'s map): one indexed loop for every combination
                for o in (start..end).step_by(LANES) {
                    let av = aux_slice.map_or(f32x8::ONE, |a| vec8(&a[o..]));
                    let (l, g, ob) = core(vec8(&x[o..]), vec8(&y[o..]), av);
                    acc += l;
                    bad |= ob;
                    store(&mut t[o..], l);
                    if let Some(gr) = grad.as_deref_mut() {
                        store(&mut gr[o..], g);
                    }
                }
                total += lanes_sum_f64(acc);
                continue;
            }
            let xs = x[start..end].chunks_exact(LANES).zip(y[start..end].chunks_exact(LANES));
            match (aux_slice, grad.as_deref_mut()) {
                (None, None) => xs.for_each(|(xc, yc)| {
                    let (l, _, o) = core(vec8(xc), vec8(yc), f32x8::ONE);
                    acc += l;
                    bad |= o;
                }),
                (Some(a), None) => xs.zip(a[start..end].chunks_exact(LANES)).for_each(|((xc, yc), ac)| {
                    let (l, _, o) = core(vec8(xc), vec8(yc), vec8(ac));
                    acc += l;
                    bad |= o;
                }),
                (None, Some(gr)) => xs.zip(gr[start..end].chunks_exact_mut(LANES)).for_each(|((xc, yc), gc)| {
                    let (l, g, o) = core(vec8(xc), vec8(yc), f32x8::ONE);
                    acc += l;
                    bad |= o;
                    store(gc, g);
                }),
                (Some(a), Some(gr)) => {
                    xs.zip(a[start..end].chunks_exact(LANES)).zip(gr[start..end].chunks_exact_mut(LANES)).for_each(|(((xc, yc), ac), gc)| {
                        let (l, g, o) = core(vec8(xc), vec8(yc), vec8(ac));
                        acc += l;
                        bad |= o;
                        store(gc, g);
                    })
                }
            }
            total += lanes_sum_f64(acc);
        }
        if full < n {
            let lanes = n - full;
            let av = aux_slice.map_or(f32x8::ONE, |a| load_padded(&a[full..], 0.0));
            let (l, g, o) = core(load_padded(&x[full..], 0.5), load_padded(&y[full..], 0.0), av);
            let mask = first_lanes(lanes);
            bad |= mask & o;
            total += lanes_sum_f64(mask.select(l, f32x8::ZERO));
            if let Some(gr) = grad {
                store(&mut gr[full..], g);
            }
            if let Some(t) = terms {
                store(&mut t[full..], l);
            }
        }
        (total, bad.any())
    }
}

super::level_fn! {
    /// The elementwise kernel that also writes each element's loss into `terms` (same length as `x`) when
    /// given (see `crate::kernels::scalar::elementwise_terms`).
    pub(crate) fn elementwise_terms(
        x: &[f32],
        y: &[f32],
        aux: Aux<'_, f32>,
        p: &ElemParams,
        scale: f32,
        grad: Option<&mut [f32]>,
        terms: Option<&mut [f32]>,
    ) -> (f64, bool) {
        let weighted = matches!(aux, Aux::Weight(_));
        match (p.kind, p.from_logits) {
            (ElemKind::Bce { q, factor }, true) => {
                let qv = f32x8::splat(q);
                let fct = f32x8::splat(factor);
                run(x, y, aux, p.smoothing, scale, grad, terms, |x, y, w| {
                    let (_, om, sp_neg, sp_pos) = sig_parts(x);
                    let oy = f32x8::ONE - y;
                    // (1-y) softplus(x) + q y softplus(-x); k = 1 + (q-1) y written as q y + (1-y):
                    // both terms are >= 0, so neither cancels (q - 1 loses q's digits when q << 1)
                    let qy = qv * y;
                    let k = qy + oy;
                    let l = oy.mul_add(sp_pos, qy * sp_neg);
                    let g = k.mul_neg_add(om, oy);
                    let f = if weighted { fct * w } else { fct };
                    (l * f, g * f)
                })
            }
            (ElemKind::DistanceBce { q0, factor }, true) => {
                let q0 = f32x8::splat(q0);
                let fct = f32x8::splat(factor);
                run(x, y, aux, p.smoothing, scale, grad, terms, |x, y, d| {
                    let (_, om, sp_neg, sp_pos) = sig_parts(x);
                    let q = q0 + m::exp(-(d * d));
                    let oy = f32x8::ONE - y;
                    let qy = q * y;
                    let k = qy + oy;
                    let l = oy.mul_add(sp_pos, qy * sp_neg);
                    let g = k.mul_neg_add(om, oy);
                    (l * fct, g * fct)
                })
            }
            (ElemKind::Bce { q, factor }, false) => probs_bce(x, y, aux, p, scale, grad, terms, q, factor, false),
            (ElemKind::DistanceBce { q0, factor }, false) => probs_bce(x, y, aux, p, scale, grad, terms, q0, factor, true),
            (ElemKind::Focal { gamma, a, b }, true) => match gamma {
                0.0 => focal_logits::<0>(x, y, aux, p, scale, grad, terms, gamma, a, b),
                1.0 => focal_logits::<1>(x, y, aux, p, scale, grad, terms, gamma, a, b),
                2.0 => focal_logits::<2>(x, y, aux, p, scale, grad, terms, gamma, a, b),
                _ => focal_logits::<255>(x, y, aux, p, scale, grad, terms, gamma, a, b),
            },
            (ElemKind::Focal { gamma, a, b }, false) => match gamma {
                0.0 => focal_probs::<0>(x, y, aux, p, scale, grad, terms, gamma, a, b),
                _ => focal_probs::<255>(x, y, aux, p, scale, grad, terms, gamma, a, b),
            },
        }
    }
}

super::level_fn! {
    #[allow(clippy::too_many_arguments)]
    fn probs_bce(
        x: &[f32],
        y: &[f32],
        aux: Aux<'_, f32>,
        p: &ElemParams,
        scale: f32,
        grad: Option<&mut [f32]>,
        terms: Option<&mut [f32]>,
        q: f32,
        factor: f32,
        distance: bool,
    ) -> (f64, bool) {
        let weighted = matches!(aux, Aux::Weight(_));
        let qv = f32x8::splat(q);
        let fct = f32x8::splat(factor);
        let eps = f32x8::splat(PROB_EPS);
        let hi = f32x8::splat(1.0 - PROB_EPS);
        run(x, y, aux, p.smoothing, scale, grad, terms, |x, y, a| {
            let pc = x.fast_max(eps).fast_min(hi); // a NaN `x` gives `eps`, as `max` does
            let inside = x.simd_ge(eps) & x.simd_le(hi);
            let qc = f32x8::ONE - pc;
            let q = if distance { qv + m::exp(-(a * a)) } else { qv };
            let qy = q * y;
            let oy = f32x8::ONE - y;
            let l = -(qy * m::ln(pc) + oy * m::ln(qc));
            let g = oy / qc - qy / pc;
            let g = inside.select(g, f32x8::ZERO);
            let f = if weighted { fct * a } else { fct };
            (l * f, g * f)
        })
    }
}

super::level_fn! {
    #[allow(clippy::too_many_arguments)]
    fn focal_logits<const G: u8>(
        x: &[f32],
        y: &[f32],
        aux: Aux<'_, f32>,
        p: &ElemParams,
        scale: f32,
        grad: Option<&mut [f32]>,
        terms: Option<&mut [f32]>,
        gamma: f32,
        a: f32,
        b: f32,
    ) -> (f64, bool) {
        let weighted = matches!(aux, Aux::Weight(_));
        let (gv, av, bv) = (f32x8::splat(gamma), f32x8::splat(a), f32x8::splat(b));
        run(x, y, aux, p.smoothing, scale, grad, terms, |x, y, w| {
            let (p, q, sp_neg, sp_pos) = sig_parts(x);
            let qg = pow_g::<G>(q, -sp_pos, gv);
            let pg = pow_g::<G>(p, -sp_neg, gv);
            let ay = av * y;
            let by = bv * (f32x8::ONE - y);
            let l = ay * qg * sp_neg + by * pg * sp_pos;
            let g = by * pg * (gv * q).mul_add(sp_pos, p) - ay * qg * (gv * p).mul_add(sp_neg, q);
            if weighted {
                (l * w, g * w)
            } else {
                (l, g)
            }
        })
    }
}

super::level_fn! {
    #[allow(clippy::too_many_arguments)]
    fn focal_probs<const G: u8>(
        x: &[f32],
        y: &[f32],
        aux: Aux<'_, f32>,
        p: &ElemParams,
        scale: f32,
        grad: Option<&mut [f32]>,
        terms: Option<&mut [f32]>,
        gamma: f32,
        a: f32,
        b: f32,
    ) -> (f64, bool) {
        let weighted = matches!(aux, Aux::Weight(_));
        let (gv, av, bv) = (f32x8::splat(gamma), f32x8::splat(a), f32x8::splat(b));
        let eps = f32x8::splat(PROB_EPS);
        let hi = f32x8::splat(1.0 - PROB_EPS);
        run(x, y, aux, p.smoothing, scale, grad, terms, |x, y, w| {
            let p = x.fast_max(eps).fast_min(hi); // a NaN `x` gives `eps`, as `max` does
            let inside = x.simd_ge(eps) & x.simd_le(hi);
            let q = f32x8::ONE - p;
            let (lp, lq) = (m::ln(p), m::ln(q));
            let qg = pow_g::<G>(q, lq, gv);
            let pg = pow_g::<G>(p, lp, gv);
            let ay = av * y;
            let by = bv * (f32x8::ONE - y);
            let l = -(ay * qg * lp + by * pg * lq);
            let d_pos = qg / p - gv * (qg / q) * lp;
            let d_neg = gv * (pg / p) * lq - pg / q;
            let g = inside.select(-(ay * d_pos + by * d_neg), f32x8::ZERO);
            if weighted {
                (l * w, g * w)
            } else {
                (l, g)
            }
        })
    }
}

super::level_fn! {
    /// The softmax kernel that also writes each pixel's loss (times its weight; 0 at ignored pixels) into
    /// `terms` (length `b.len`) when given (see `crate::kernels::scalar::softmax_terms`).
    pub(crate) fn softmax_terms(
        b: &SoftmaxBlock<'_>,
        p: &SoftmaxParams<'_>,
        scale: f32,
        grad: Option<&StridedOut<'_>>,
        terms: Option<&mut [f32]>,
    ) -> f64 {
        match p.focal_gamma {
            None => softmax::softmax_g::<0>(b, p, scale, grad, terms),
            Some(0.0) => softmax::softmax_g::<10>(b, p, scale, grad, terms),
            Some(2.0) => softmax::softmax_g::<12>(b, p, scale, grad, terms),
            Some(_) => softmax::softmax_g::<255>(b, p, scale, grad, terms),
        }
    }
}

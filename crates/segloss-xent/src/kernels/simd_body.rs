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
            None => softmax_g::<0>(b, p, scale, grad, terms),
            Some(0.0) => softmax_g::<10>(b, p, scale, grad, terms),
            Some(2.0) => softmax_g::<12>(b, p, scale, grad, terms),
            Some(_) => softmax_g::<255>(b, p, scale, grad, terms),
        }
    }
}

/// Pixels handled at once by the class-major softmax loops (per-pixel state lives on the stack).
const SUB: usize = 1024;
const SUBV: usize = SUB / LANES;

/// Loads the vector `v` of a row of `len` pixels, padding past the end with `pad`.
#[inline(always)]
fn row_vec(row: &[f32], v: usize, pad: f32) -> f32x8 {
    let at = v * LANES;
    match row.get(at..at + LANES) {
        Some(c) => vec8(c),
        None => load_padded(&row[at..], pad),
    }
}

super::level_fn! {
    /// `F = 0`: cross-entropy; `F = 10, 12, 255`: focal with gamma 0, 2, other.
    ///
    /// Class-major: each pass streams every class row of the block once, with the per-pixel state
    /// (max, sums, the true class's logit, ...) in stack arrays; blocks longer than 1024 pixels are
    /// cut into sub-blocks.
    fn softmax_g<const F: u8>(
        b: &SoftmaxBlock<'_>,
        p: &SoftmaxParams<'_>,
        scale: f32,
        grad: Option<&StridedOut<'_>>,
        mut terms: Option<&mut [f32]>,
    ) -> f64 {
        let mut total = 0.0;
        let mut j0 = 0;
        while j0 < b.len {
            let len = SUB.min(b.len - j0);
            let t = terms.as_deref_mut().map(|t| &mut t[j0..j0 + len]);
            // full sub-blocks get the loops with constant bounds
            total += if len == SUB {
                softmax_sub::<F, true>(b, j0, len, p, scale, grad, t)
            } else {
                softmax_sub::<F, false>(b, j0, len, p, scale, grad, t)
            };
            j0 += len;
        }
        total
    }
}

super::level_fn! {
    /// `len` pixels at `j0`; `SUB` of them when `FULL`.
    fn softmax_sub<const F: u8, const FULL: bool>(
        b: &SoftmaxBlock<'_>,
        j0: usize,
        len: usize,
        p: &SoftmaxParams<'_>,
        scale: f32,
        grad: Option<&StridedOut<'_>>,
        mut terms: Option<&mut [f32]>,
    ) -> f64 {
        let len = if FULL { SUB } else { len };
        let cc = p.classes;
        let nv = len.div_ceil(LANES);
        let s = p.smoothing;
        let keep = f32x8::splat(1.0 - s);
        let s_over_c = f32x8::splat(s / cc as f32);
        let w_sum = f32x8::splat(p.w_sum());
        let gamma = f32x8::splat(p.focal_gamma.unwrap_or(0.0));
        let scale_v = f32x8::splat(scale);
        let zrow = |c: usize| &b.z[c * b.stride + j0..c * b.stride + j0 + len];
        let prow = |c: usize| b.probs.map(|pr| &pr[c * b.stride + j0..c * b.stride + j0 + len]);
        // per-pixel state
        let mut tf = [f32x8::ZERO; SUBV];
        let mut valid = [f32x8::ZERO; SUBV];
        let mut wpix = [f32x8::ONE; SUBV];
        for v in 0..nv {
            let lanes = (len - v * LANES).min(LANES);
            if let Some(l) = b.labels {
                let mut a = [-1.0f32; LANES];
                for (k, t) in a.iter_mut().take(lanes).enumerate() {
                    *t = l[j0 + v * LANES + k] as f32;
                }
                tf[v] = f32x8::new(a);
                valid[v] = tf[v].simd_ge(f32x8::ZERO);
            } else {
                valid[v] = first_lanes(lanes);
            }
            if let Some(w) = b.weight {
                wpix[v] = row_vec(&w[j0..j0 + len], v, 0.0);
            }
        }
        // pass 1: max over classes (`fast_max` with the row first: a NaN logit keeps the max, as
        // `max` does)
        let mut mx = [f32x8::splat(f32::NEG_INFINITY); SUBV];
        for c in 0..cc {
            let row = zrow(c);
            for v in 0..nv {
                mx[v] = row_vec(row, v, 0.0).fast_max(mx[v]);
            }
        }
        // pass 2: sums of exp (and of the other classes' exp, or of the soft targets); each exp is
        // kept in the gradient row, which pass 3 overwrites, so that pass 3 reads it back instead
        // of computing it again
        let mut sum = [f32x8::ZERO; SUBV];
        let mut others = [f32x8::ZERO; SUBV];
        let mut wy = [f32x8::ZERO; SUBV];
        for c in 0..cc {
            let row = zrow(c);
            let cf = f32x8::splat(c as f32);
            let wc = f32x8::splat(p.w(c));
            // SAFETY: this block owns these positions; the row is used in this iteration only.
            let mut keep_e = grad.map(|o| unsafe { &mut o.row(c)[j0..j0 + len] });
            let pr = prow(c);
            for v in 0..nv {
                let e = m::exp_nonpos(row_vec(row, v, 0.0) - mx[v]);
                sum[v] += e;
                match pr {
                    Some(pr) => wy[v] += row_vec(pr, v, 0.0).mul_add(keep, s_over_c) * wc,
                    None => others[v] += tf[v].simd_eq(cf).select(f32x8::ZERO, e),
                }
                if let Some(k) = keep_e.as_deref_mut() {
                    store(&mut k[v * LANES..], e);
                }
            }
        }
        // the true class's logit, exp and weight, read at each pixel's label (0 where the label is
        // not a class)
        let mut zt = [f32x8::ZERO; SUBV];
        let mut et = [f32x8::ZERO; SUBV];
        let mut wt = [f32x8::ZERO; SUBV];
        if let Some(l) = b.labels {
            for v in 0..nv {
                let (mut za, mut wa, mut ia) = ([0.0f32; LANES], [0.0f32; LANES], [0.0f32; LANES]);
                for k in 0..(len - v * LANES).min(LANES) {
                    let j = j0 + v * LANES + k;
                    if let Ok(t) = usize::try_from(l[j]) {
                        if t < cc {
                            za[k] = b.z[t * b.stride + j];
                            wa[k] = p.w(t);
                            ia[k] = f32::from_bits(u32::MAX);
                        }
                    }
                }
                let is_class = f32x8::new(ia);
                zt[v] = f32x8::new(za);
                wt[v] = f32x8::new(wa);
                et[v] = is_class.select(m::exp_nonpos(zt[v] - mx[v]), f32x8::ZERO);
            }
        }
        // per pixel: loss (labels part) and the gradient coefficient
        let mut inv_s = [f32x8::ZERO; SUBV];
        let mut lse = [f32x8::ZERO; SUBV];
        let mut loss = [f32x8::ZERO; SUBV];
        let mut dcoef = [f32x8::ZERO; SUBV];
        for v in 0..nv {
            let ln_s = m::ln(sum[v]);
            inv_s[v] = f32x8::ONE / sum[v];
            lse[v] = mx[v] + ln_s;
            if b.probs.is_some() {
                continue;
            }
            // -log p_t, accurate when p_t is close to 1
            let dz = mx[v] - zt[v];
            let u = dz.simd_lt(f32x8::splat(80.0)).select(m::ln_1p(others[v] / et[v]), dz + ln_s);
            if F == 0 {
                loss[v] = keep * wt[v] * u;
                dcoef[v] = keep * wt[v];
            } else {
                let q = others[v] * inv_s[v];
                let pt = et[v] * inv_s[v];
                let qg = match F {
                    10 => f32x8::ONE,
                    12 => q * q,
                    _ => m::exp(gamma * m::ln(q)),
                };
                let h = others[v].simd_gt(f32x8::ZERO).select(u / q, f32x8::ONE);
                // D = dl/dlog p_t = -w (1-p)^g (1 + g p h); the gradient is D (delta - sigma)
                loss[v] = wt[v] * qg * u;
                dcoef[v] = -(wt[v] * qg) * (gamma * pt).mul_add(h, f32x8::ONE);
            }
        }
        // pass 3: gradient, and the smoothing / soft-target terms of the loss
        let need_pass3 = grad.is_some() || b.probs.is_some() || (F == 0 && s != 0.0);
        if need_pass3 {
            let mut gscale = [f32x8::ZERO; SUBV];
            for v in 0..nv {
                gscale[v] = scale_v * wpix[v];
            }
            // cross-entropy with labels, no smoothing: the gradient is `e a - delta b` with one
            // rounding, `a = D / sum * scale * w`, `b = D * scale * w` per pixel
            let plain_ce = F == 0 && s == 0.0 && b.probs.is_none();
            let (mut ga, mut gb) = ([f32x8::ZERO; SUBV], [f32x8::ZERO; SUBV]);
            if plain_ce {
                for v in 0..nv {
                    gb[v] = dcoef[v] * gscale[v];
                    ga[v] = gb[v] * inv_s[v];
                }
            }
            // the logits are read again only for the terms that need them
            let read_z = b.probs.is_some() || (F == 0 && s != 0.0);
            for c in 0..cc {
                let row = zrow(c);
                let pr = prow(c);
                let cf = f32x8::splat(c as f32);
                let wc = f32x8::splat(p.w(c));
                // SAFETY: this block owns these positions; the row is used in this iteration only.
                let mut out = grad.map(|o| unsafe { &mut o.row(c)[j0..j0 + len] });
                for v in 0..nv {
                    let e = match out.as_deref() {
                        // pass 2's exp
                        Some(o) => row_vec(o, v, 0.0),
                        None => m::exp_nonpos(row_vec(row, v, 0.0) - mx[v]),
                    };
                    if plain_ce {
                        let delta = tf[v].simd_eq(cf) & gb[v];
                        if let Some(o) = out.as_deref_mut() {
                            store(&mut o[v * LANES..], valid[v].select(e.mul_sub(ga[v], delta), f32x8::ZERO));
                        }
                        continue;
                    }
                    let z = if read_z { row_vec(row, v, 0.0) } else { f32x8::ZERO };
                    let sig = e * inv_s[v];
                    let g = if let Some(pr) = pr {
                        let y = row_vec(pr, v, 0.0).mul_add(keep, s_over_c);
                        loss[v] += wc * y * (lse[v] - z);
                        sig * wy[v] - wc * y
                    } else {
                        let delta = tf[v].simd_eq(cf) & f32x8::ONE;
                        if F == 0 {
                            if s != 0.0 {
                                loss[v] += s_over_c * wc * (lse[v] - z);
                                dcoef[v] * (sig - delta) + s_over_c * w_sum.mul_sub(sig, wc)
                            } else {
                                // (the smoothing term is exactly 0)
                                dcoef[v] * (sig - delta)
                            }
                        } else {
                            dcoef[v] * (delta - sig)
                        }
                    };
                    if let Some(o) = out.as_deref_mut() {
                        store(&mut o[v * LANES..], valid[v].select(g * gscale[v], f32x8::ZERO));
                    }
                }
            }
        }
        let mut acc = f32x8::ZERO;
        for v in 0..nv {
            let l = valid[v].select(loss[v] * wpix[v], f32x8::ZERO);
            acc += l;
            if let Some(t) = terms.as_deref_mut() {
                store(&mut t[v * LANES..], l);
            }
        }
        lanes_sum_f64(acc)
    }
}

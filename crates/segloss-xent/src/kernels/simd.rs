//! SIMD kernels on `f32x8` lanes, with the same signatures as [`super::scalar`].
//!
//! Sums accumulate in `f32x8` lanes over at most 1024 elements, then in `f64`.

use super::{Aux, ElemKind, ElemParams, SoftmaxBlock, SoftmaxParams, StridedOut};
use segloss_core::simd::{self as m, f32x8, first_lanes, lanes_sum_f64, load, load_padded, store, LANES};
use segloss_core::PROB_EPS;

const FLUSH: usize = 1024;

/// Up to this many classes, the softmax kernels keep `exp(z - max)` between passes.
const EXP_CACHE: usize = 64;

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
    let sp_neg = (-x).max(f32x8::ZERO) + l1p;
    let sp_pos = x.max(f32x8::ZERO) + l1p;
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

/// The generic elementwise loop: `f(x, y, aux) -> (loss, dloss/dx)` per vector. Full vectors
/// run through `chunks_exact` (no bounds checks), one loop per combination of inputs; the lane
/// sums go to `f64` every [`FLUSH`] elements; the tail is padded and masked.
#[inline(always)]
fn run<F>(x: &[f32], y: &[f32], aux: Aux<'_, f32>, smoothing: f32, scale: f32, mut grad: Option<&mut [f32]>, f: F) -> (f64, bool)
where
    F: Fn(f32x8, f32x8, f32x8) -> (f32x8, f32x8),
{
    let n = x.len();
    let aux_slice: Option<&[f32]> = match aux {
        Aux::None => None,
        Aux::Weight(w) | Aux::Distance(w) => Some(w),
    };
    assert!(
        y.len() == n && aux_slice.is_none_or(|a| a.len() == n) && grad.as_ref().is_none_or(|g| g.len() == n),
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
    }
    (total, bad.any())
}

/// Elementwise kernel (see [`super::scalar::elementwise`]).
pub fn elementwise(x: &[f32], y: &[f32], aux: Aux<'_, f32>, p: &ElemParams, scale: f32, grad: Option<&mut [f32]>) -> (f64, bool) {
    let weighted = matches!(aux, Aux::Weight(_));
    match (p.kind, p.from_logits) {
        (ElemKind::Bce { q, factor }, true) => {
            let qv = f32x8::splat(q);
            let fct = f32x8::splat(factor);
            run(x, y, aux, p.smoothing, scale, grad, |x, y, w| {
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
            run(x, y, aux, p.smoothing, scale, grad, |x, y, d| {
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
        (ElemKind::Bce { q, factor }, false) => probs_bce(x, y, aux, p, scale, grad, q, factor, false),
        (ElemKind::DistanceBce { q0, factor }, false) => probs_bce(x, y, aux, p, scale, grad, q0, factor, true),
        (ElemKind::Focal { gamma, a, b }, true) => match gamma {
            0.0 => focal_logits::<0>(x, y, aux, p, scale, grad, gamma, a, b),
            1.0 => focal_logits::<1>(x, y, aux, p, scale, grad, gamma, a, b),
            2.0 => focal_logits::<2>(x, y, aux, p, scale, grad, gamma, a, b),
            _ => focal_logits::<255>(x, y, aux, p, scale, grad, gamma, a, b),
        },
        (ElemKind::Focal { gamma, a, b }, false) => match gamma {
            0.0 => focal_probs::<0>(x, y, aux, p, scale, grad, gamma, a, b),
            _ => focal_probs::<255>(x, y, aux, p, scale, grad, gamma, a, b),
        },
    }
}

#[allow(clippy::too_many_arguments)]
fn probs_bce(
    x: &[f32],
    y: &[f32],
    aux: Aux<'_, f32>,
    p: &ElemParams,
    scale: f32,
    grad: Option<&mut [f32]>,
    q: f32,
    factor: f32,
    distance: bool,
) -> (f64, bool) {
    let weighted = matches!(aux, Aux::Weight(_));
    let qv = f32x8::splat(q);
    let fct = f32x8::splat(factor);
    let eps = f32x8::splat(PROB_EPS);
    let hi = f32x8::splat(1.0 - PROB_EPS);
    run(x, y, aux, p.smoothing, scale, grad, |x, y, a| {
        let pc = x.max(eps).min(hi);
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

#[allow(clippy::too_many_arguments)]
fn focal_logits<const G: u8>(
    x: &[f32],
    y: &[f32],
    aux: Aux<'_, f32>,
    p: &ElemParams,
    scale: f32,
    grad: Option<&mut [f32]>,
    gamma: f32,
    a: f32,
    b: f32,
) -> (f64, bool) {
    let weighted = matches!(aux, Aux::Weight(_));
    let (gv, av, bv) = (f32x8::splat(gamma), f32x8::splat(a), f32x8::splat(b));
    run(x, y, aux, p.smoothing, scale, grad, |x, y, w| {
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

#[allow(clippy::too_many_arguments)]
fn focal_probs<const G: u8>(
    x: &[f32],
    y: &[f32],
    aux: Aux<'_, f32>,
    p: &ElemParams,
    scale: f32,
    grad: Option<&mut [f32]>,
    gamma: f32,
    a: f32,
    b: f32,
) -> (f64, bool) {
    let weighted = matches!(aux, Aux::Weight(_));
    let (gv, av, bv) = (f32x8::splat(gamma), f32x8::splat(a), f32x8::splat(b));
    let eps = f32x8::splat(PROB_EPS);
    let hi = f32x8::splat(1.0 - PROB_EPS);
    run(x, y, aux, p.smoothing, scale, grad, |x, y, w| {
        let p = x.max(eps).min(hi);
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

/// Softmax kernel over one block (see [`super::scalar::softmax`]).
pub fn softmax(b: &SoftmaxBlock<'_>, p: &SoftmaxParams<'_>, scale: f32, grad: Option<&StridedOut<'_>>) -> f64 {
    match p.focal_gamma {
        None => softmax_g::<0>(b, p, scale, grad),
        Some(0.0) => softmax_g::<10>(b, p, scale, grad),
        Some(2.0) => softmax_g::<12>(b, p, scale, grad),
        Some(_) => softmax_g::<255>(b, p, scale, grad),
    }
}

/// `F = 0`: cross-entropy; `F = 10, 12, 255`: focal with gamma 0, 2, other.
fn softmax_g<const F: u8>(b: &SoftmaxBlock<'_>, p: &SoftmaxParams<'_>, scale: f32, grad: Option<&StridedOut<'_>>) -> f64 {
    let cc = p.classes;
    let s = p.smoothing;
    let keep = f32x8::splat(1.0 - s);
    let s_over_c = f32x8::splat(s / cc as f32);
    let w_sum = f32x8::splat(p.w_sum());
    let gamma = f32x8::splat(p.focal_gamma.unwrap_or(0.0));
    let scale_v = f32x8::splat(scale);
    let mut total = 0.0f64;
    // exp(z - max) of pass 2, reused by pass 3 when the classes fit
    let mut cache = [f32x8::ZERO; EXP_CACHE];
    let mut j = 0;
    while j < b.len {
        let lanes = (b.len - j).min(LANES);
        let ld = |src: &[f32], c: usize| {
            let at = c * b.stride + j;
            if lanes == LANES {
                load(&src[at..])
            } else {
                load_padded(&src[at..at + lanes], 0.0)
            }
        };
        // labels as f32 class indices (-1: ignored or padding)
        let tf = match b.labels {
            Some(l) => {
                let mut a = [-1.0f32; LANES];
                for (k, v) in a.iter_mut().take(lanes).enumerate() {
                    *v = l[j + k] as f32;
                }
                f32x8::new(a)
            }
            None => f32x8::splat(0.0),
        };
        let valid = if b.labels.is_some() { tf.simd_ge(f32x8::ZERO) } else { first_lanes(lanes) };
        let wpix = match b.weight {
            Some(w) => load_padded(&w[j..j + lanes], 0.0),
            None => f32x8::ONE,
        };
        // pass 1: max
        let mut mx = ld(b.z, 0);
        for c in 1..cc {
            mx = mx.max(ld(b.z, c));
        }
        // pass 2: sums
        let mut sum = f32x8::ZERO;
        let mut others = f32x8::ZERO;
        let mut zt = f32x8::ZERO;
        let mut et = f32x8::ZERO;
        let mut wt = f32x8::ZERO;
        let mut wy = f32x8::ZERO;
        for c in 0..cc {
            let z = ld(b.z, c);
            let e = m::exp_nonpos(z - mx);
            if cc <= EXP_CACHE {
                cache[c] = e;
            }
            sum += e;
            if let Some(pr) = b.probs {
                let y = ld(pr, c).mul_add(keep, s_over_c);
                wy += y * f32x8::splat(p.w(c));
            } else {
                let is_t = tf.simd_eq(f32x8::splat(c as f32));
                others += is_t.select(f32x8::ZERO, e);
                zt = is_t.select(z, zt);
                et = is_t.select(e, et);
                wt = is_t.select(f32x8::splat(p.w(c)), wt);
            }
        }
        let ln_s = m::ln(sum);
        let inv_s = f32x8::ONE / sum;
        let lse = mx + ln_s;
        // -log p_t, accurate when p_t is close to 1
        let dz = mx - zt;
        let u = dz.simd_lt(f32x8::splat(80.0)).select(m::ln_1p(others / et), dz + ln_s);
        let (mut l, dcoef) = if b.probs.is_some() {
            (f32x8::ZERO, f32x8::ZERO)
        } else if F == 0 {
            (keep * wt * u, keep * wt)
        } else {
            let q = others * inv_s;
            let pt = et * inv_s;
            let qg = match F {
                10 => f32x8::ONE,
                12 => q * q,
                _ => m::exp(gamma * m::ln(q)),
            };
            let h = others.simd_gt(f32x8::ZERO).select(u / q, f32x8::ONE);
            // D = dl/dlog p_t = -w (1-p)^g (1 + g p h); the gradient is D (delta - sigma)
            let d = -(wt * qg) * (gamma * pt).mul_add(h, f32x8::ONE);
            (wt * qg * u, d)
        };
        // pass 3: gradient (and the smoothing / soft-target terms of the loss)
        let need_pass3 = grad.is_some() || b.probs.is_some() || (F == 0 && s != 0.0);
        if need_pass3 {
            let gscale = scale_v * wpix;
            for c in 0..cc {
                let z = ld(b.z, c);
                let e = if cc <= EXP_CACHE { cache[c] } else { m::exp_nonpos(z - mx) };
                let sig = e * inv_s;
                let wc = f32x8::splat(p.w(c));
                let g = if let Some(pr) = b.probs {
                    let y = ld(pr, c).mul_add(keep, s_over_c);
                    l += wc * y * (lse - z);
                    sig * wy - wc * y
                } else {
                    let delta = tf.simd_eq(f32x8::splat(c as f32)) & f32x8::ONE;
                    if F == 0 {
                        if s != 0.0 {
                            l += s_over_c * wc * (lse - z);
                        }
                        dcoef * (sig - delta) + s_over_c * w_sum.mul_sub(sig, wc)
                    } else {
                        dcoef * (delta - sig)
                    }
                };
                if let Some(out) = grad {
                    // SAFETY: this block owns these positions; the row is used for this store only.
                    let row = unsafe { out.row(c) };
                    store(&mut row[j..j + lanes], valid.select(g * gscale, f32x8::ZERO));
                }
            }
        }
        total += lanes_sum_f64(valid.select(l * wpix, f32x8::ZERO));
        j += LANES;
    }
    total
}

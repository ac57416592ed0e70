//! The class-major softmax kernel of `ce` and multiclass `focal` (`softmax_terms` of the parent
//! body), compiled with it once per level: per sub-block of [`SUB`] pixels, each pass streams
//! every class row once, with the per-pixel state on the stack. Full sub-blocks (every one but a
//! block's last) run the loops with constant bounds (`FULL`).

// Class loops index several per-class arrays at once; `for c in 0..C` reads like the formulas.
#![allow(clippy::needless_range_loop)]

use super::*;

super::super::avx512_only! {
    // the 16-lane class passes of a full sub-block on labels, at the AVX-512 level only
    #[path = "simd_softmax_x16.rs"]
    mod x16;
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

super::super::level_fn! {
    /// `F = 0`: cross-entropy; `F = 10, 12, 255`: focal with gamma 0, 2, other.
    ///
    /// Class-major: each pass streams every class row of the block once, with the per-pixel state
    /// (max, sums, the true class's logit, ...) in stack arrays; blocks longer than 1024 pixels are
    /// cut into sub-blocks.
    pub(super) fn softmax_g<const F: u8>(
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

super::super::level_fn! {
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
        // the AVX-512 level runs the class passes of a full sub-block on labels 16 lanes wide
        // (passes 1 and 2, and pass 3 of the plain cross-entropy; `x16`, the same bits)
        // (at the other levels it stays `false`)
        #[allow(unused_mut, unused_assignments)]
        let mut wide = false;
        super::super::avx512_only! {
            wide = FULL && b.labels.is_some() && b.probs.is_none();
        }
        // pass 1: max over classes (`fast_max` with the row first: a NaN logit keeps the max, as
        // `max` does)
        let mut mx = [f32x8::splat(f32::NEG_INFINITY); SUBV];
        for c in (0..cc).filter(|_| !wide) {
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
        super::super::avx512_only! {
            if wide {
                x16::passes_1_2(b.z, b.stride, j0, cc, &tf, grad, &mut mx, &mut sum, &mut others);
            }
        }
        for c in (0..cc).filter(|_| !wide) {
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
            #[allow(unused_mut)]
            let mut pass_3_done = false;
            super::super::avx512_only! {
                if let (true, true, Some(g)) = (wide, plain_ce, grad) {
                    x16::plain_ce_pass_3(j0, cc, &tf, &valid, &ga, &gb, g);
                    pass_3_done = true;
                }
            }
            for c in (0..cc).filter(|_| !pass_3_done) {
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

//! The SIMD kernels (see `crate::kernels`), compiled once per level (`simd_base.rs`,
//! `simd_avx2.rs`): on `f32x8` lanes, with the signatures of `crate::kernels::scalar`, plus a cached
//! pair for logits when a gradient is wanted: [`dense_stats_cached`] / [`softmax_stats_cached`]
//! leave the activation in the gradient buffer and [`dense_grad_cached`] /
//! [`softmax_grad_cached`] finish from it, so the gradient pass has no exponential.
//!
//! Sums accumulate in `f32x8` lanes over at most [`FLUSH`] elements (pixels for softmax), then in
//! `f64`. Specialisations by const generics: `L` (logits: sigmoid/softmax first), `X` (extras:
//! squared sums, per-pixel Dice, soft labels, ignore value; the plain Dice/Jaccard/Tversky path has
//! no mask and no extra accumulator) and `C` (write the cache). Every exponential has an argument `<= 0`
//! (`-|x|` for the sigmoid, `z - max` for the softmax) and goes through [`exp_nonpos`].

//!
//! Functions with loops or closures are declared through the level's `level_fn!` (the AVX2 level
//! compiles them with `#[target_feature(enable = "avx2,fma")]`; closures inside them inherit it);
//! the small helpers are `#[inline(always)]` and take no closure, so they become part of their
//! callers. The helpers `ld`, `store_lanes` and `probs_lanes` are shared with the other kernel
//! bodies of the crate compiled at the same level.

// The class-major loops index several per-pixel arrays at once (`for v in 0..nv`).
#![allow(clippy::needless_range_loop)]

use super::lanes::{exp_nonpos, f32x8, first_lanes, i32x8, lanes_sum_f64, load, load_padded, store};
use crate::kernels::{Coef, KParams, SoftBlock, Stats};
use segloss_core::kernel::StridedOut;
use segloss_core::simd::LANES;

// the class-major pair behind `softmax_stats_cached` / `softmax_grad_cached`, compiled with this body
#[path = "simd_softmax_cm.rs"]
mod softmax_cm;

/// Elements (or pixels) accumulated in `f32` lanes before the lanes are added into `f64`.
pub(crate) const FLUSH: usize = 1024;

/// Lane accumulators of the statistics.
#[derive(Clone, Copy)]
struct Acc {
    i: f32x8,
    p: f32x8,
    g: f32x8,
    p2: f32x8,
    g2: f32x8,
    cnt: f32x8,
    pix: f32x8,
}

impl Acc {
    const ZERO: Acc =
        Acc { i: f32x8::ZERO, p: f32x8::ZERO, g: f32x8::ZERO, p2: f32x8::ZERO, g2: f32x8::ZERO, cnt: f32x8::ZERO, pix: f32x8::ZERO };

    #[inline(always)]
    fn flush_into(&mut self, s: &mut Stats, extra: bool) {
        s.i += lanes_sum_f64(self.i);
        s.p += lanes_sum_f64(self.p);
        s.g += lanes_sum_f64(self.g);
        if extra {
            s.p2 += lanes_sum_f64(self.p2);
            s.g2 += lanes_sum_f64(self.g2);
            s.cnt += lanes_sum_f64(self.cnt);
            s.pix += lanes_sum_f64(self.pix);
        }
        *self = Acc::ZERO;
    }

    /// Adds counted lanes: `p` and `g` already 0 on lanes that do not count; `valid` is the lane
    /// mask (only read with extras).
    #[inline(always)]
    fn add<const X: bool>(&mut self, p: f32x8, g: f32x8, valid: f32x8, kp: &KParams) {
        if X && kp.soft_label {
            // (p + g - |p - g|)/2 = min(p, g); `g.fast_min(p)` returns p when p is NaN
            self.i += g.fast_min(p);
        } else {
            self.i = p.mul_add(g, self.i);
        }
        self.p += p;
        self.g += g;
        if X {
            if kp.squared {
                self.p2 = p.mul_add(p, self.p2);
                self.g2 = g.mul_add(g, self.g2);
            }
            if kp.pixelwise {
                self.cnt += valid & f32x8::ONE;
                self.pix += valid.select(pix_dice(p, g), f32x8::ZERO);
            }
        }
    }
}

/// `(p, dp/dx)`: the sigmoid and `p (1 - p)` for logits (from one exponential of `-|x|`, without
/// cancellation: `p (1 - p) = e s^2` with `e = exp(-|x|)`, `s = 1/(1 + e)`), `(x, 1)` for
/// probabilities.
#[inline(always)]
fn act<const L: bool>(x: f32x8) -> (f32x8, f32x8) {
    if L {
        let e = exp_nonpos(-x.abs());
        let s = f32x8::ONE / (f32x8::ONE + e);
        let es = e * s;
        (x.simd_ge(f32x8::ZERO).select(s, es), es * s)
    } else {
        (x, f32x8::ONE)
    }
}

/// `p` alone: the sigmoid from `e^-|x|`, or `x` for probabilities.
#[inline(always)]
fn prob<const L: bool>(x: f32x8) -> f32x8 {
    if L {
        let e = exp_nonpos(-x.abs());
        let s = f32x8::ONE / (f32x8::ONE + e);
        x.simd_lt(f32x8::ZERO).select(e * s, s)
    } else {
        x
    }
}

#[inline(always)]
fn pix_dice(p: f32x8, g: f32x8) -> f32x8 {
    let two = f32x8::splat(2.0);
    f32x8::ONE - (two * p).mul_add(g, f32x8::ONE) / (p + g + f32x8::ONE)
}

#[inline(always)]
fn pix_dice_dp(p: f32x8, g: f32x8) -> f32x8 {
    let two = f32x8::splat(2.0);
    let d = p + g + f32x8::ONE;
    (f32x8::ONE - two * g.mul_add(g, g)) / (d * d)
}

/// The gradient coefficients of one row as lanes.
#[derive(Clone, Copy)]
struct CoefV {
    a: f32x8,
    b: f32x8,
    c: f32x8,
    k: f32x8,
}

impl CoefV {
    #[inline(always)]
    fn of(c: &Coef) -> Self {
        CoefV { a: f32x8::splat(c.a as f32), b: f32x8::splat(c.b as f32), c: f32x8::splat(c.c as f32), k: f32x8::splat(c.k as f32) }
    }

    #[inline(always)]
    fn dl_dp<const X: bool>(&self, p: f32x8, g: f32x8, kp: &KParams) -> f32x8 {
        if X && kp.pixelwise {
            self.k * pix_dice_dp(p, g)
        } else if X && kp.soft_label {
            // d min(p, g) / dp: 1 below the target, 1/2 at a tie, 0 above
            let h = (p.simd_lt(g) & f32x8::ONE) + (p.simd_eq(g) & f32x8::splat(0.5));
            self.b.mul_add(h, self.a)
        } else if X && kp.squared {
            self.c.mul_add(p, self.b.mul_add(g, self.a))
        } else {
            self.b.mul_add(g, self.a)
        }
    }
}

fn extras(kp: &KParams) -> bool {
    kp.squared || kp.pixelwise || kp.soft_label || kp.ignore.is_some()
}

/// The extras of the softmax kernels (which mask ignored pixels by their labels).
fn softmax_extras(kp: &KParams) -> bool {
    kp.squared || kp.pixelwise || kp.soft_label
}

super::level_fn! {
    /// Statistics of one segment of a sigmoid (or identity) row (see [`crate::kernels::scalar::dense_stats`]).
    pub(crate) fn dense_stats(x: &[f32], y: &[f32], kp: &KParams) -> (Stats, bool) {
        match (kp.from_logits, extras(kp)) {
            (true, false) => dense_stats_g::<true, false, false>(x, y, kp, &mut []),
            (true, true) => dense_stats_g::<true, true, false>(x, y, kp, &mut []),
            (false, false) => dense_stats_g::<false, false, false>(x, y, kp, &mut []),
            (false, true) => dense_stats_g::<false, true, false>(x, y, kp, &mut []),
        }
    }
}

super::level_fn! {
    /// [`dense_stats`] for logits that also writes, for the gradient pass, the cache value
    /// `copysign(m, x)` with `m = min(p, 1 - p) = e^-|x| / (1 + e^-|x|)` into `cache` (same length as
    /// `x`; the gradient buffer): [`dense_grad_cached`] then needs neither the exponential nor the
    /// division, and `p (1 - p) = m (1 - m)` keeps full relative accuracy.
    pub(crate) fn dense_stats_cached(x: &[f32], y: &[f32], kp: &KParams, cache: &mut [f32]) -> (Stats, bool) {
        assert!(kp.from_logits && cache.len() == x.len(), "the cache holds one value per logit");
        if extras(kp) {
            dense_stats_g::<true, true, true>(x, y, kp, cache)
        } else {
            dense_stats_g::<true, false, true>(x, y, kp, cache)
        }
    }
}

/// `p` and the cache value `copysign(min(p, 1 - p), x)` of the sigmoid, from `e^-|x|`.
#[inline(always)]
fn prob_cache(x: f32x8) -> (f32x8, f32x8) {
    let e = exp_nonpos(-x.abs());
    let s = f32x8::ONE / (f32x8::ONE + e);
    let mv = e * s;
    let p = x.simd_lt(f32x8::ZERO).select(mv, s);
    (p, mv | (x & f32x8::splat(-0.0)))
}

super::level_fn! {
    fn dense_stats_g<const L: bool, const X: bool, const C: bool>(x: &[f32], y: &[f32], kp: &KParams, cache: &mut [f32]) -> (Stats, bool) {
        let n = x.len().min(y.len());
        let ign = f32x8::splat(kp.ignore.unwrap_or(f32::NAN));
        let mut s = Stats::default();
        let mut acc = Acc::ZERO;
        let mut bad = f32x8::ZERO;
        let mut i = 0;
        let mut since = 0;
        let step = |xv: f32x8, yv: f32x8, lanes: f32x8, acc: &mut Acc, bad: &mut f32x8| -> f32x8 {
            let (p, cv) = if C { prob_cache(xv) } else { (prob::<L>(xv), f32x8::ZERO) };
            let valid = if X { lanes & !yv.simd_eq(ign) } else { lanes };
            let in_range = yv.simd_ge(f32x8::ZERO) & yv.simd_le(f32x8::ONE);
            *bad |= valid & !in_range;
            acc.add::<X>(valid.select(p, f32x8::ZERO), valid.select(yv, f32x8::ZERO), valid, kp);
            cv
        };
        let all = first_lanes(LANES);
        while i + LANES <= n {
            let (xv, yv) = (load(&x[i..]), load(&y[i..]));
            let cv = if X {
                step(xv, yv, all, &mut acc, &mut bad)
            } else {
                // no mask on full vectors of the plain path
                let (p, cv) = if C { prob_cache(xv) } else { (prob::<L>(xv), f32x8::ZERO) };
                bad |= !(yv.simd_ge(f32x8::ZERO) & yv.simd_le(f32x8::ONE));
                acc.add::<false>(p, yv, all, kp);
                cv
            };
            if C {
                store_lanes(cache, i, LANES, cv);
            }
            i += LANES;
            since += LANES;
            if since >= FLUSH {
                acc.flush_into(&mut s, X);
                since = 0;
            }
        }
        if i < n {
            let cv = step(load_padded(&x[i..n], 0.0), load_padded(&y[i..n], 0.0), first_lanes(n - i), &mut acc, &mut bad);
            if C {
                store(&mut cache[i..n], cv);
            }
        }
        acc.flush_into(&mut s, X);
        (s, bad.any())
    }
}

super::level_fn! {
    /// Gradient of one segment of a sigmoid (or identity) row (see [`crate::kernels::scalar::dense_grad`]).
    pub(crate) fn dense_grad(x: &[f32], y: &[f32], kp: &KParams, coef: &Coef, out: &mut [f32]) {
        match (kp.from_logits, extras(kp)) {
            (true, false) => dense_grad_g::<true, false>(x, y, kp, coef, out),
            (true, true) => dense_grad_g::<true, true>(x, y, kp, coef, out),
            (false, false) => dense_grad_g::<false, false>(x, y, kp, coef, out),
            (false, true) => dense_grad_g::<false, true>(x, y, kp, coef, out),
        }
    }
}

super::level_fn! {
    fn dense_grad_g<const L: bool, const X: bool>(x: &[f32], y: &[f32], kp: &KParams, coef: &Coef, out: &mut [f32]) {
        let n = x.len().min(y.len()).min(out.len());
        let cv = CoefV::of(coef);
        let ign = f32x8::splat(kp.ignore.unwrap_or(f32::NAN));
        let step = |xv: f32x8, yv: f32x8| -> f32x8 {
            let (p, dp) = act::<L>(xv);
            let g = cv.dl_dp::<X>(p, yv, kp) * dp;
            if X && kp.ignore.is_some() {
                yv.simd_eq(ign).select(f32x8::ZERO, g)
            } else {
                g
            }
        };
        let mut i = 0;
        while i + LANES <= n {
            let g = step(load(&x[i..]), load(&y[i..]));
            store_lanes(out, i, LANES, g);
            i += LANES;
        }
        if i < n {
            let g = step(load_padded(&x[i..n], 0.0), load_padded(&y[i..n], 0.0));
            store(&mut out[i..n], g);
        }
    }
}

super::level_fn! {
    /// Gradient of one segment of a sigmoid row from the cache [`dense_stats_cached`] left in `out`
    /// (read, then overwritten with the gradient): with `m = |cache|`, `p = m` for negative logits
    /// and `1 - m` otherwise, `dp/dx = m (1 - m)`.
    pub(crate) fn dense_grad_cached(y: &[f32], kp: &KParams, coef: &Coef, out: &mut [f32]) {
        if extras(kp) {
            dense_grad_cached_g::<true>(y, kp, coef, out)
        } else {
            dense_grad_cached_g::<false>(y, kp, coef, out)
        }
    }
}

super::level_fn! {
    fn dense_grad_cached_g<const X: bool>(y: &[f32], kp: &KParams, coef: &Coef, out: &mut [f32]) {
        let n = y.len().min(out.len());
        let cv = CoefV::of(coef);
        let ign = f32x8::splat(kp.ignore.unwrap_or(f32::NAN));
        // (a -0.0 cache value has m = 0, hence dp = 0 whichever p the sign test picks)
        let step = |c: f32x8, yv: f32x8| -> f32x8 {
            let mv = c.abs();
            let q = f32x8::ONE - mv;
            let p = if X { c.simd_lt(f32x8::ZERO).select(mv, q) } else { f32x8::ZERO };
            let g = cv.dl_dp::<X>(p, yv, kp) * (mv * q);
            if X && kp.ignore.is_some() {
                yv.simd_eq(ign).select(f32x8::ZERO, g)
            } else {
                g
            }
        };
        let mut i = 0;
        while i + LANES <= n {
            let g = step(load(&out[i..]), load(&y[i..]));
            store_lanes(out, i, LANES, g);
            i += LANES;
        }
        if i < n {
            let g = step(load_padded(&out[i..n], 0.0), load_padded(&y[i..n], 0.0));
            store(&mut out[i..n], g);
        }
    }
}

/// Class indices of up to 8 pixels as `f32` lanes (`-1` for ignored pixels and padding).
#[inline(always)]
fn label_lanes(l: &[i32], j: usize, lanes: usize) -> f32x8 {
    let a: [i32; LANES] = if lanes == LANES {
        l[j..j + LANES].try_into().expect("8 lanes")
    } else {
        let mut a = [-1i32; LANES];
        for (k, v) in a.iter_mut().enumerate().take(lanes) {
            *v = l[j + k];
        }
        a
    };
    f32x8::from_i32x8(i32x8::new(a))
}

/// Stores the first `lanes` lanes of `v` at `dst[j..]` (a single vector store for full vectors).
#[inline(always)]
pub(crate) fn store_lanes(dst: &mut [f32], j: usize, lanes: usize, v: f32x8) {
    if lanes == LANES {
        let d: &mut [f32; LANES] = (&mut dst[j..j + LANES]).try_into().expect("8 lanes");
        *d = v.to_array();
    } else {
        store(&mut dst[j..j + lanes], v);
    }
}

/// Pixels of one sub-block of the class-major kernels (the overlap softmax pair's and
/// `wasserstein_dice`'s): their per-pixel state lives on the stack, and each class row of the
/// sub-block is streamed whole (the rows of a block are far apart, so a pixel-major loop touches
/// C distant cache lines for every 8 pixels). 128 pixels keep a sub-block's logits and cache rows
/// (`C` rows of 512 bytes each) within L1 for `C` up to about 40.
pub(crate) const SUB: usize = 128;
/// Vectors per sub-block.
pub(crate) const SUBV: usize = SUB / LANES;

/// Vector `v` of a sub-block row of `len` pixels (padded with 0).
#[inline(always)]
pub(crate) fn row_ld(row: &[f32], v: usize, len: usize) -> f32x8 {
    let at = v * LANES;
    if at + LANES <= len {
        load(&row[at..])
    } else {
        load_padded(&row[at..len], 0.0)
    }
}

/// Loads class `c` of the 8 pixels at `j` of a block.
#[inline(always)]
pub(crate) fn ld(src: &[f32], stride: usize, c: usize, j: usize, lanes: usize) -> f32x8 {
    let at = c * stride + j;
    if lanes == LANES {
        load(&src[at..])
    } else {
        load_padded(&src[at..at + lanes], 0.0)
    }
}

/// Softmax (or identity) of 8 pixels into `p` (length C).
#[inline(always)]
fn probs_of<const L: bool>(b: &SoftBlock<'_, f32>, j: usize, lanes: usize, p: &mut [f32x8]) {
    probs_lanes(b.z, b.stride, b.classes, j, lanes, L, p);
}

/// Softmax over the `classes` channels (or, without `from_logits`, the values themselves) of the
/// 8 pixels at `j` of a block of `z` (class `c` at `c * stride`) into `p`; `lanes` of them real.
/// Shared with the Wasserstein Dice kernels.
#[inline(always)]
pub(crate) fn probs_lanes(z: &[f32], stride: usize, classes: usize, j: usize, lanes: usize, from_logits: bool, p: &mut [f32x8]) {
    if !from_logits {
        for (c, pc) in p.iter_mut().enumerate().take(classes) {
            *pc = ld(z, stride, c, j, lanes);
        }
        return;
    }
    let mut mx = ld(z, stride, 0, j, lanes);
    for c in 1..classes {
        // a NaN logit still poisons the pixel through exp(z - max)
        mx = mx.fast_max(ld(z, stride, c, j, lanes));
    }
    let mut sum = f32x8::ZERO;
    for (c, pc) in p.iter_mut().enumerate().take(classes) {
        let e = exp_nonpos(ld(z, stride, c, j, lanes) - mx);
        *pc = e;
        sum += e;
    }
    let inv = f32x8::ONE / sum;
    for pc in p.iter_mut().take(classes) {
        *pc *= inv;
    }
}

super::level_fn! {
    /// Statistics of one softmax block (see [`crate::kernels::scalar::softmax_stats`]).
    pub(crate) fn softmax_stats(b: &SoftBlock<'_, f32>, kp: &KParams, out: &mut [Stats]) -> bool {
        match (kp.from_logits, softmax_extras(kp)) {
            (true, false) => softmax_stats_g::<true, false>(b, kp, out),
            (true, true) => softmax_stats_g::<true, true>(b, kp, out),
            (false, false) => softmax_stats_g::<false, false>(b, kp, out),
            (false, true) => softmax_stats_g::<false, true>(b, kp, out),
        }
    }
}

super::level_fn! {
    /// [`softmax_stats`] for logits that also writes the probabilities `p_c` into `cache` (the
    /// gradient rows of the block), for [`softmax_grad_cached`]: the same `f32` values the gradient
    /// pass would recompute, without the second max, exponentials and sum.
    pub(crate) fn softmax_stats_cached(b: &SoftBlock<'_, f32>, kp: &KParams, out: &mut [Stats], cache: &StridedOut<'_>) -> bool {
        assert!(kp.from_logits, "the cache holds softmax probabilities");
        if softmax_extras(kp) {
            softmax_cm::softmax_stats_cm::<true>(b, kp, out, cache)
        } else {
            softmax_cm::softmax_stats_cm::<false>(b, kp, out, cache)
        }
    }
}

super::level_fn! {
    fn softmax_stats_g<const L: bool, const X: bool>(b: &SoftBlock<'_, f32>, kp: &KParams, out: &mut [Stats]) -> bool {
        let cc = b.classes;
        let mut p = vec![f32x8::ZERO; cc];
        let mut acc = vec![Acc::ZERO; cc];
        let mut bad = f32x8::ZERO;
        let mut since = 0;
        let mut j = 0;
        while j < b.len {
            let lanes = (b.len - j).min(LANES);
            let (tf, valid) = match b.labels {
                Some(l) => {
                    let tf = label_lanes(l, j, lanes);
                    (tf, tf.simd_ge(f32x8::ZERO))
                }
                None => (f32x8::ZERO, first_lanes(lanes)),
            };
            probs_of::<L>(b, j, lanes, &mut p);
            for c in 0..cc {
                let pc = valid.select(p[c], f32x8::ZERO);
                let g = match b.probs {
                    Some(pr) => {
                        let g = ld(pr, b.stride, c, j, lanes);
                        bad |= valid & !(g.simd_ge(f32x8::ZERO) & g.simd_le(f32x8::ONE));
                        g
                    }
                    None => tf.simd_eq(f32x8::splat(c as f32)) & f32x8::ONE,
                };
                acc[c].add::<X>(pc, g, valid, kp);
            }
            j += LANES;
            since += LANES;
            if since >= FLUSH || j >= b.len {
                for (a, s) in acc.iter_mut().zip(out.iter_mut()) {
                    a.flush_into(s, X);
                }
                since = 0;
            }
        }
        bad.any()
    }
}

super::level_fn! {
    /// Gradient of one softmax block (see [`crate::kernels::scalar::softmax_grad`]).
    pub(crate) fn softmax_grad(b: &SoftBlock<'_, f32>, kp: &KParams, coefs: &[Coef], out: &StridedOut<'_>) {
        match (kp.from_logits, softmax_extras(kp)) {
            (true, false) => softmax_grad_g::<true, false>(b, kp, coefs, out),
            (true, true) => softmax_grad_g::<true, true>(b, kp, coefs, out),
            (false, false) => softmax_grad_g::<false, false>(b, kp, coefs, out),
            (false, true) => softmax_grad_g::<false, true>(b, kp, coefs, out),
        }
    }
}

super::level_fn! {
    fn softmax_grad_g<const L: bool, const X: bool>(b: &SoftBlock<'_, f32>, kp: &KParams, coefs: &[Coef], out: &StridedOut<'_>) {
        let cc = b.classes;
        let cv: Vec<CoefV> = coefs.iter().map(CoefV::of).collect();
        // SAFETY: the C rows of this block are distinct ranges no other block touches.
        let mut rows: Vec<&mut [f32]> = (0..cc).map(|c| unsafe { out.row(c) }).collect();
        let mut p = vec![f32x8::ZERO; cc];
        let mut pa = vec![f32x8::ZERO; cc];
        let mut j = 0;
        while j < b.len {
            let lanes = (b.len - j).min(LANES);
            let (tf, valid) = match b.labels {
                Some(l) => {
                    let tf = label_lanes(l, j, lanes);
                    (tf, tf.simd_ge(f32x8::ZERO))
                }
                None => (f32x8::ZERO, first_lanes(lanes)),
            };
            probs_of::<L>(b, j, lanes, &mut p);
            let mut dot = f32x8::ZERO;
            for c in 0..cc {
                let g = match b.probs {
                    Some(pr) => ld(pr, b.stride, c, j, lanes),
                    None => tf.simd_eq(f32x8::splat(c as f32)) & f32x8::ONE,
                };
                let a = cv[c].dl_dp::<X>(p[c], g, kp);
                if L {
                    pa[c] = p[c] * a;
                    dot = p[c].mul_add(a, dot);
                } else {
                    pa[c] = a;
                }
            }
            for (c, row) in rows.iter_mut().enumerate() {
                let g = if L { p[c].mul_neg_add(dot, pa[c]) } else { pa[c] };
                store_lanes(row, j, lanes, valid.select(g, f32x8::ZERO));
            }
            j += LANES;
        }
    }
}

super::level_fn! {
    /// Gradient of one softmax block from the probabilities [`softmax_stats_cached`] left in `out`
    /// (read, then overwritten): `dz_c = p_c (a_c - sum_k p_k a_k)`, 0 at ignored pixels.
    pub(crate) fn softmax_grad_cached(b: &SoftBlock<'_, f32>, kp: &KParams, coefs: &[Coef], out: &StridedOut<'_>) {
        if softmax_extras(kp) {
            softmax_cm::softmax_grad_cached_g::<true>(b, kp, coefs, out)
        } else {
            softmax_cm::softmax_grad_cached_g::<false>(b, kp, coefs, out)
        }
    }
}

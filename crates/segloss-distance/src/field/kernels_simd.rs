//! The SIMD kernels of the distance losses, compiled once per level (`simd_base.rs`,
//! `simd_avx2.rs`): 8 elements per step; sums in `f32x8` lanes flushed to `f64` every
//! [`FLUSH`] steps (the layout is fixed, so results do not depend on the thread count).
//!
//! Functions with loops are declared through the level's `level_fn!` (the AVX2 level compiles them
//! with `#[target_feature(enable = "avx2,fma")]`; closures inside them inherit it); the small
//! helpers are `#[inline(always)]` and hold no closure, so they become part of their callers.

use super::lanes::{exp_nonpos, f32x8, load_padded, sigmoid, store};
use segloss_core::kernel::StridedOut;
use segloss_core::simd::LANES;

/// Steps between flushes of the lane sums to `f64`.
const FLUSH: usize = 64;

/// Lane sums flushed to `f64`.
struct Acc {
    lanes: f32x8,
    steps: usize,
    total: f64,
}

impl Acc {
    #[inline(always)]
    fn new() -> Self {
        Acc { lanes: f32x8::ZERO, steps: 0, total: 0.0 }
    }
    #[inline(always)]
    fn add(&mut self, v: f32x8) {
        self.lanes += v;
        self.steps += 1;
        if self.steps == FLUSH {
            self.flush();
        }
    }
    #[inline(always)]
    fn flush(&mut self) {
        self.total += self.lanes.to_array().iter().map(|&v| v as f64).sum::<f64>();
        self.lanes = f32x8::ZERO;
        self.steps = 0;
    }
    #[inline(always)]
    fn finish(mut self) -> f64 {
        self.flush();
        self.total
    }
}

#[inline(always)]
fn activate(logits: bool, x: f32x8) -> (f32x8, f32x8) {
    if logits {
        let p = sigmoid(x);
        (p, p * (f32x8::ONE - p))
    } else {
        (x, f32x8::ONE)
    }
}

super::level_fn! {
    pub(crate) fn boundary(logits: bool, x: &[f32], phi: &[f32], out: &mut [f32], scale: f32) -> f64 {
        let mut acc = Acc::new();
        let sc = f32x8::splat(scale);
        for ((o, xs), fs) in out.chunks_mut(LANES).zip(x.chunks(LANES)).zip(phi.chunks(LANES)) {
            let (p, dp) = activate(logits, load_padded(xs, 0.0));
            let f = load_padded(fs, 0.0);
            acc.add(p * f);
            store(o, sc * f * dp);
        }
        acc.finish()
    }
}

super::level_fn! {
    pub(crate) fn hausdorff(logits: bool, x: &[f32], g: &[f32], w1: &[f32], w2: &[f32], out: &mut [f32], scale: f32) -> f64 {
        let mut acc = Acc::new();
        let sc2 = f32x8::splat(2.0 * scale);
        for (i, o) in out.chunks_mut(LANES).enumerate() {
            let r = i * LANES..(i * LANES + LANES).min(x.len());
            let (p, dp) = activate(logits, load_padded(&x[r.clone()], 0.0));
            let w = load_padded(&w1[r.clone()], 0.0) + load_padded(&w2[r.clone()], 0.0);
            let e = p - load_padded(&g[r], 0.0);
            let ew = e * w;
            acc.add(e * ew);
            store(o, sc2 * ew * dp);
        }
        acc.finish()
    }
}

/// `m = max_c x_c` and `sum_c e^(x_c - m)` of 8 pixels starting at `j`.
#[inline(always)]
fn max_and_sum(x: &[f32], c: usize, s: usize, j: usize, n: usize) -> (f32x8, f32x8) {
    let mut m = f32x8::splat(f32::NEG_INFINITY);
    for k in 0..c {
        m = m.max(load_padded(&x[k * s + j..k * s + j + n], 0.0));
    }
    let mut sum = f32x8::ZERO;
    for k in 0..c {
        sum += exp_nonpos(load_padded(&x[k * s + j..k * s + j + n], 0.0) - m);
    }
    (m, sum)
}

/// Channels whose exponentials [`softmax_vjp`] keeps on the stack (more: computed twice).
const KEEP: usize = 32;

super::level_fn! {
    pub(crate) fn softmax_vjp(x: &[f32], c: usize, s: usize, v: &StridedOut<'_>, j0: usize, len: usize, scale: f32) -> f64 {
        if c <= KEEP {
            return softmax_vjp_kept(x, c, s, v, j0, len, scale);
        }
        let mut acc = Acc::new();
        let sc = f32x8::splat(scale);
        let mut off = 0;
        while off < len {
            let n = LANES.min(len - off);
            let j = j0 + off;
            let (m, sum) = max_and_sum(x, c, s, j, n);
            let inv = f32x8::ONE / sum;
            let mut dot = f32x8::ZERO;
            for k in 0..c {
                let e = exp_nonpos(load_padded(&x[k * s + j..k * s + j + n], 0.0) - m);
                // SAFETY: one row at a time; no other block shares these pixels.
                let vk = load_padded(&unsafe { v.row(k) }[off..off + n], 0.0);
                dot += e * vk;
            }
            let dot = dot * inv;
            acc.add(dot);
            for k in 0..c {
                let p = exp_nonpos(load_padded(&x[k * s + j..k * s + j + n], 0.0) - m) * inv;
                // SAFETY: as above.
                let row = &mut unsafe { v.row(k) }[off..off + n];
                let vk = load_padded(row, 0.0);
                store(row, sc * p * (vk - dot));
            }
            off += n;
        }
        acc.finish()
    }
}

super::level_fn! {
    /// [`softmax_vjp`] for at most [`KEEP`] channels: the exponentials of the first pass are kept
    /// for the second (the same values, so the same bits as recomputing them).
    fn softmax_vjp_kept(x: &[f32], c: usize, s: usize, v: &StridedOut<'_>, j0: usize, len: usize, scale: f32) -> f64 {
        let mut acc = Acc::new();
        let sc = f32x8::splat(scale);
        let mut e = [f32x8::ZERO; KEEP];
        let e = &mut e[..c];
        let mut off = 0;
        while off < len {
            let n = LANES.min(len - off);
            let j = j0 + off;
            let mut m = f32x8::splat(f32::NEG_INFINITY);
            for k in 0..c {
                m = m.max(load_padded(&x[k * s + j..k * s + j + n], 0.0));
            }
            let mut sum = f32x8::ZERO;
            let mut dot = f32x8::ZERO;
            for (k, ek) in e.iter_mut().enumerate() {
                *ek = exp_nonpos(load_padded(&x[k * s + j..k * s + j + n], 0.0) - m);
                sum += *ek;
                // SAFETY: one row at a time; no other block shares these pixels.
                dot += *ek * load_padded(&unsafe { v.row(k) }[off..off + n], 0.0);
            }
            let inv = f32x8::ONE / sum;
            let dot = dot * inv;
            acc.add(dot);
            for (k, &ek) in e.iter().enumerate() {
                // SAFETY: as above.
                let row = &mut unsafe { v.row(k) }[off..off + n];
                let vk = load_padded(row, 0.0);
                store(row, sc * (ek * inv) * (vk - dot));
            }
            off += n;
        }
        acc.finish()
    }
}

super::level_fn! {
    pub(crate) fn softmax(x: &[f32], c: usize, s: usize, out: &StridedOut<'_>, j0: usize, len: usize) {
        let mut off = 0;
        while off < len {
            let n = LANES.min(len - off);
            let j = j0 + off;
            let (m, sum) = max_and_sum(x, c, s, j, n);
            let inv = f32x8::ONE / sum;
            for k in 0..c {
                let p = exp_nonpos(load_padded(&x[k * s + j..k * s + j + n], 0.0) - m) * inv;
                // SAFETY: one row at a time; no other block shares these pixels.
                store(&mut unsafe { out.row(k) }[off..off + n], p);
            }
            off += n;
        }
    }
}

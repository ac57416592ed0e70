//! The elementwise passes of the distance losses, twice: [`scalar`] (the readable reference, in
//! `f64` per element, written from the formulas) and [`simd`] (`f32x8` lanes of `wide`). Every
//! kernel returns the sum of its loss terms (before the `1 / (N |K| |S|)` scale) and writes
//! `scale * d term / d pred` into `out`; `scale` carries the upstream gradient and the
//! normaliser. Neutral elements of the SIMD tails: `phi = 0`, `w = 0` (the padded lanes add 0 and
//! are never stored).
//!
//! - `boundary`: term `p phi`, `d/dp = phi`.
//! - `hausdorff`: term `(p - g)^2 w`, `w = w1 + w2`, `d/dp = 2 (p - g) w`.
//! - `softmax_vjp`: multiclass, per pixel, `p = softmax(x)` over the channels, `v` the per-class
//!   derivative (`phi`, or the `dL/dp` of `hausdorff`): returns `sum_c p_c v_c`, writes
//!   `scale * p_c (v_c - sum_k p_k v_k)` (the softmax Jacobian) over `v` in place.
//! - `softmax`: multiclass probabilities.
//!
//! With logits the binary and multilabel kernels apply the sigmoid, `p = sigmoid(x)` and
//! `dp/dx = p (1 - p)`; with probabilities `p = x` (unclipped) and `dp/dx = 1`.

use segloss_core::kernel::{Backend, StridedOut};

/// `boundary` on one (image, channel) pair.
pub(crate) fn boundary(b: Backend, logits: bool, x: &[f32], phi: &[f32], out: &mut [f32], scale: f32) -> f64 {
    match b {
        Backend::Simd => simd::boundary(logits, x, phi, out, scale),
        Backend::Scalar => scalar::boundary(logits, x, phi, out, scale),
    }
}

/// `hausdorff_dt` on one (image, channel) pair.
#[allow(clippy::too_many_arguments)]
pub(crate) fn hausdorff(b: Backend, logits: bool, x: &[f32], g: &[f32], w1: &[f32], w2: &[f32], out: &mut [f32], scale: f32) -> f64 {
    match b {
        Backend::Simd => simd::hausdorff(logits, x, g, w1, w2, out, scale),
        Backend::Scalar => scalar::hausdorff(logits, x, g, w1, w2, out, scale),
    }
}

/// The softmax Jacobian-vector product over the pixels `j0..j0 + len` of one image (`x` its
/// `C * S` logits, `v` its rows of `S` elements in the buffer).
#[allow(clippy::too_many_arguments)]
pub(crate) fn softmax_vjp(b: Backend, x: &[f32], c: usize, s: usize, v: &StridedOut<'_>, j0: usize, len: usize, scale: f32) -> f64 {
    match b {
        Backend::Simd => simd::softmax_vjp(x, c, s, v, j0, len, scale),
        Backend::Scalar => scalar::softmax_vjp(x, c, s, v, j0, len, scale),
    }
}

/// The softmax probabilities of the pixels `j0..j0 + len` of one image into `out`'s rows.
pub(crate) fn softmax(b: Backend, x: &[f32], c: usize, s: usize, out: &StridedOut<'_>, j0: usize, len: usize) {
    match b {
        Backend::Simd => simd::softmax(x, c, s, out, j0, len),
        Backend::Scalar => scalar::softmax(x, c, s, out, j0, len),
    }
}

/// The reference kernels: one element at a time, in `f64`.
pub(crate) mod scalar {
    use super::StridedOut;

    fn sigmoid(x: f64) -> f64 {
        if x >= 0.0 {
            1.0 / (1.0 + (-x).exp())
        } else {
            let e = x.exp();
            e / (1.0 + e)
        }
    }

    /// `(p, dp/dx)`.
    fn activate(logits: bool, x: f32) -> (f64, f64) {
        if logits {
            let p = sigmoid(x as f64);
            (p, p * (1.0 - p))
        } else {
            (x as f64, 1.0)
        }
    }

    pub(crate) fn boundary(logits: bool, x: &[f32], phi: &[f32], out: &mut [f32], scale: f32) -> f64 {
        let mut sum = 0.0;
        for ((o, &xi), &f) in out.iter_mut().zip(x).zip(phi) {
            let (p, dp) = activate(logits, xi);
            sum += p * f as f64;
            *o = (scale as f64 * f as f64 * dp) as f32;
        }
        sum
    }

    pub(crate) fn hausdorff(logits: bool, x: &[f32], g: &[f32], w1: &[f32], w2: &[f32], out: &mut [f32], scale: f32) -> f64 {
        let mut sum = 0.0;
        for i in 0..out.len() {
            let (p, dp) = activate(logits, x[i]);
            let w = w1[i] as f64 + w2[i] as f64;
            let e = p - g[i] as f64;
            sum += e * e * w;
            out[i] = (scale as f64 * 2.0 * e * w * dp) as f32;
        }
        sum
    }

    fn probs(x: &[f32], c: usize, s: usize, j: usize, p: &mut [f64]) {
        let m = (0..c).map(|k| x[k * s + j] as f64).fold(f64::NEG_INFINITY, f64::max);
        let mut sum = 0.0;
        for (k, pk) in p.iter_mut().enumerate() {
            *pk = (x[k * s + j] as f64 - m).exp();
            sum += *pk;
        }
        p.iter_mut().for_each(|pk| *pk /= sum);
    }

    pub(crate) fn softmax_vjp(x: &[f32], c: usize, s: usize, v: &StridedOut<'_>, j0: usize, len: usize, scale: f32) -> f64 {
        let mut p = vec![0.0f64; c];
        let mut total = 0.0;
        for j in j0..j0 + len {
            probs(x, c, s, j, &mut p);
            // SAFETY: each row is taken once at a time, and no other block shares these pixels.
            let dot: f64 = (0..c).map(|k| p[k] * unsafe { v.row(k) }[j - j0] as f64).sum();
            total += dot;
            for (k, &pk) in p.iter().enumerate() {
                // SAFETY: as above.
                let r = unsafe { v.row(k) };
                r[j - j0] = (scale as f64 * pk * (r[j - j0] as f64 - dot)) as f32;
            }
        }
        total
    }

    pub(crate) fn softmax(x: &[f32], c: usize, s: usize, out: &StridedOut<'_>, j0: usize, len: usize) {
        let mut p = vec![0.0f64; c];
        for j in j0..j0 + len {
            probs(x, c, s, j, &mut p);
            for (k, &pk) in p.iter().enumerate() {
                // SAFETY: each row is taken once at a time, and no other block shares these pixels.
                let r = unsafe { out.row(k) };
                r[j - j0] = pk as f32;
            }
        }
    }
}

/// The SIMD kernels: 8 elements per step; sums in `f32x8` lanes flushed to `f64` every
/// [`FLUSH`] steps (the layout is fixed, so results do not depend on the thread count).
pub(crate) mod simd {
    use super::StridedOut;
    use segloss_core::simd::{exp_nonpos, f32x8, load_padded, sigmoid, store, LANES};

    /// Steps between flushes of the lane sums to `f64`.
    const FLUSH: usize = 64;

    /// Lane sums flushed to `f64`.
    struct Acc {
        lanes: f32x8,
        steps: usize,
        total: f64,
    }

    impl Acc {
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
        fn flush(&mut self) {
            self.total += self.lanes.to_array().iter().map(|&v| v as f64).sum::<f64>();
            self.lanes = f32x8::ZERO;
            self.steps = 0;
        }
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

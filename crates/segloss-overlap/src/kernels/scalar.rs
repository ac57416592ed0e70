//! Reference kernels, written from the formulas of `docs/LOSSES.md`, generic over `f32` and `f64`.
//! Readability over speed: one element (or pixel) at a time, textbook expressions, every sum in
//! `f64` in element order.

use super::{Coef, KParams, SoftBlock, Stats};
use num_traits::Float;
use segloss_core::kernel::StridedOut;

fn f<T: Float>(x: T) -> f64 {
    x.to_f64().unwrap_or(f64::NAN)
}

fn t<T: Float>(x: f64) -> T {
    T::from(x).unwrap_or(T::nan())
}

/// The logistic sigmoid `1 / (1 + e^-x)`, without overflow.
pub fn sigmoid<T: Float>(x: T) -> T {
    if x >= T::zero() {
        T::one() / (T::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::one() + e)
    }
}

/// `(p, dp/dx)` of one element: the sigmoid and `p (1 - p)` for logits, `(x, 1)` for probabilities.
pub fn activate<T: Float>(x: T, from_logits: bool) -> (T, T) {
    if from_logits {
        let p = sigmoid(x);
        let q = sigmoid(-x); // 1 - p without cancellation
        (p, p * q)
    } else {
        (x, T::one())
    }
}

/// The per-pixel Dice loss of the origin write-up, `1 - (2pg + 1)/(p + g + 1)`.
pub fn pixel_dice<T: Float>(p: T, g: T) -> T {
    let one = T::one();
    let two = one + one;
    one - (two * p * g + one) / (p + g + one)
}

/// `d/dp` of [`pixel_dice`]: `(1 - 2g - 2g^2) / (p + g + 1)^2`.
pub fn pixel_dice_dp<T: Float>(p: T, g: T) -> T {
    let one = T::one();
    let two = one + one;
    let d = p + g + one;
    (one - two * g - two * g * g) / (d * d)
}

/// `d min(p, g) / dp = (1 - sign(p - g))/2`: 1 below the target, 0 above, 1/2 at `p = g` (the
/// subgradient 0 of `|p - g|` at a tie, as torch's `abs`).
pub fn soft_dmin<T: Float>(p: T, g: T) -> T {
    if p < g {
        T::one()
    } else if p > g {
        T::zero()
    } else {
        T::one() / (T::one() + T::one())
    }
}

/// `d loss / d p` of one element of a row with coefficients `coef`.
pub fn dl_dp<T: Float>(p: T, g: T, kp: &KParams, coef: &Coef) -> T {
    if kp.pixelwise {
        t::<T>(coef.k) * pixel_dice_dp(p, g)
    } else if kp.soft_label {
        t::<T>(coef.a) + t::<T>(coef.b) * soft_dmin(p, g)
    } else {
        t::<T>(coef.a) + t::<T>(coef.b) * g + t::<T>(coef.c) * p
    }
}

fn ignored<T: Float>(y: T, kp: &KParams) -> bool {
    kp.ignore.is_some_and(|v| f(y) == v as f64)
}

/// Accumulates one counted element `(p, g)` into `s`.
pub fn accumulate<T: Float>(s: &mut Stats, p: T, g: T, kp: &KParams) {
    let (pf, gf) = (f(p), f(g));
    // soft labels: (p + g - |p - g|)/2 = min(p, g) (a NaN p stays NaN)
    s.i += if kp.soft_label {
        if gf < pf {
            gf
        } else {
            pf
        }
    } else {
        pf * gf
    };
    s.p += pf;
    s.g += gf;
    if kp.squared {
        s.p2 += pf * pf;
        s.g2 += gf * gf;
    }

    if kp.pixelwise {
        s.cnt += 1.0;
        s.pix += f(pixel_dice(p, g));
    }
}

/// Statistics of one segment of a sigmoid (or identity) row. Returns the statistics and whether
/// a target was neither in `[0, 1]` nor the ignore value.
pub fn dense_stats<T: Float>(x: &[T], y: &[T], kp: &KParams) -> (Stats, bool) {
    let mut s = Stats::default();
    let mut bad = false;
    for (&xi, &yi) in x.iter().zip(y) {
        if ignored(yi, kp) {
            continue;
        }
        if !(yi >= T::zero() && yi <= T::one()) {
            bad = true;
        }
        let (p, _) = activate(xi, kp.from_logits);
        accumulate(&mut s, p, yi, kp);
    }
    (s, bad)
}

/// Gradient of one segment of a sigmoid (or identity) row: `out_i = dl/dp (p_i, g_i) * dp/dx`,
/// 0 at ignored elements.
pub fn dense_grad<T: Float>(x: &[T], y: &[T], kp: &KParams, coef: &Coef, out: &mut [T]) {
    for ((&xi, &yi), o) in x.iter().zip(y).zip(out.iter_mut()) {
        *o = if ignored(yi, kp) {
            T::zero()
        } else {
            let (p, dp) = activate(xi, kp.from_logits);
            dl_dp(p, yi, kp, coef) * dp
        };
    }
}

/// The class probabilities of one pixel: the softmax of `z` (or `z` itself for probabilities).
pub fn softmax<T: Float>(z: &[T], from_logits: bool, out: &mut [T]) {
    if !from_logits {
        out.copy_from_slice(z);
        return;
    }
    let m = z.iter().fold(T::neg_infinity(), |a, &b| a.max(b));
    let mut sum = T::zero();
    for (o, &v) in out.iter_mut().zip(z) {
        *o = (v - m).exp();
        sum = sum + *o;
    }
    for o in out.iter_mut() {
        *o = *o / sum;
    }
}

/// The target of class `c` of a pixel: one-hot of `label`, or `probs[c]`.
fn target<T: Float>(c: usize, label: Option<usize>, probs: Option<&[T]>) -> T {
    match probs {
        Some(pr) => pr[c],
        None => {
            if label == Some(c) {
                T::one()
            } else {
                T::zero()
            }
        }
    }
}

/// Adds one pixel (logits `z`, label or class probabilities) to the statistics of its C rows.
/// Returns whether a class probability was outside `[0, 1]`.
pub fn softmax_pixel_stats<T: Float>(z: &[T], label: Option<usize>, probs: Option<&[T]>, kp: &KParams, out: &mut [Stats]) -> bool {
    let mut p = vec![T::zero(); z.len()];
    softmax(z, kp.from_logits, &mut p);
    let mut bad = false;
    for (c, s) in out.iter_mut().enumerate() {
        let g = target(c, label, probs);
        if !(g >= T::zero() && g <= T::one()) {
            bad = true;
        }
        accumulate(s, p[c], g, kp);
    }
    bad
}

/// Gradient of one pixel with respect to its C logits: with `a_c = dL/dp_c`,
/// `dz_c = p_c (a_c - sum_k p_k a_k)` (softmax Jacobian), or `a_c` for probabilities.
pub fn softmax_pixel_grad<T: Float>(z: &[T], label: Option<usize>, probs: Option<&[T]>, kp: &KParams, coefs: &[Coef], grad: &mut [T]) {
    let cc = z.len();
    let mut p = vec![T::zero(); cc];
    softmax(z, kp.from_logits, &mut p);
    let a: Vec<T> = (0..cc).map(|c| dl_dp(p[c], target(c, label, probs), kp, &coefs[c])).collect();
    if !kp.from_logits {
        grad.copy_from_slice(&a);
        return;
    }
    let dot = (0..cc).fold(T::zero(), |acc, k| acc + p[k] * a[k]);
    for c in 0..cc {
        grad[c] = p[c] * (a[c] - dot);
    }
}

fn pixel<'b, T: Float>(b: &SoftBlock<'_, T>, j: usize, zp: &'b mut [T], yp: &'b mut [T]) -> (Option<usize>, bool) {
    for c in 0..b.classes {
        zp[c] = b.z[c * b.stride + j];
        if let Some(pr) = b.probs {
            yp[c] = pr[c * b.stride + j];
        }
    }
    match b.labels {
        Some(l) => ((l[j] >= 0).then_some(l[j] as usize), l[j] >= 0),
        None => (None, true),
    }
}

/// Statistics of one softmax block: adds each counted pixel to `out` (length C, one per class).
/// Returns whether a class probability was outside `[0, 1]`.
pub fn softmax_stats<T: Float>(b: &SoftBlock<'_, T>, kp: &KParams, out: &mut [Stats]) -> bool {
    let mut zp = vec![T::zero(); b.classes];
    let mut yp = vec![T::zero(); b.classes];
    let mut bad = false;
    for j in 0..b.len {
        let (label, counted) = pixel(b, j, &mut zp, &mut yp);
        if counted {
            bad |= softmax_pixel_stats(&zp, label, b.probs.map(|_| &yp[..]), kp, out);
        }
    }
    bad
}

/// Gradient of one softmax block (the signature of [`super::simd::softmax_grad`] after its level); 0 at
/// ignored pixels.
pub fn softmax_grad(b: &SoftBlock<'_, f32>, kp: &KParams, coefs: &[Coef], out: &StridedOut<'_>) {
    let cc = b.classes;
    let mut zp = vec![0.0f32; cc];
    let mut yp = vec![0.0f32; cc];
    let mut gp = vec![0.0f32; cc];
    for j in 0..b.len {
        let (label, counted) = pixel(b, j, &mut zp, &mut yp);
        if counted {
            softmax_pixel_grad(&zp, label, b.probs.map(|_| &yp[..]), kp, coefs, &mut gp);
        } else {
            gp.fill(0.0);
        }
        for (c, g) in gp.iter().enumerate() {
            // SAFETY: each row is borrowed for this one write only; blocks are disjoint.
            unsafe { out.row(c)[j] = *g };
        }
    }
}

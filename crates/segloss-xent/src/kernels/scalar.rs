//! Reference kernels, written from the formulas of `docs/LOSSES.md`, generic over `f32` and `f64`.
//! Readability over speed: one element (or pixel) at a time, textbook expressions.

use super::{Aux, ElemKind, ElemParams, SoftmaxBlock, SoftmaxParams, StridedOut};
use num_traits::Float;

fn c<T: Float>(x: f64) -> T {
    T::from(x).expect("representable constant")
}

/// `softplus(x) = ln(1 + e^x)`, stably.
pub fn softplus<T: Float>(x: T) -> T {
    x.max(T::zero()) + (-x.abs()).exp().ln_1p()
}

/// Loss and derivative (with respect to `x`) of one element.
pub fn element<T: Float>(x: T, y: T, aux: Option<T>, is_distance: bool, p: &ElemParams) -> (T, T) {
    let one = T::one();
    let s: T = c(p.smoothing as f64);
    let y = y * (one - s) + s / c(2.0);
    let (q, factor, w) = match p.kind {
        ElemKind::Bce { q, factor } => (c::<T>(q as f64), c::<T>(factor as f64), aux.unwrap_or(one)),
        ElemKind::DistanceBce { q0, factor } => {
            let d = aux.unwrap_or(T::zero());
            (c::<T>(q0 as f64) + (-(d * d)).exp(), c::<T>(factor as f64), one)
        }
        ElemKind::Focal { gamma, a, b } => {
            let w = if is_distance { one } else { aux.unwrap_or(one) };
            let (l, g) = focal(x, y, c(gamma as f64), c(a as f64), c(b as f64), p.from_logits);
            return (w * l, w * g);
        }
    };
    let (l, g) = if p.from_logits {
        // -(q y log p + (1-y) log(1-p)) with log p = -softplus(-x), log(1-p) = -softplus(x)
        let sig = one / (one + (-x).exp());
        let l = q * y * softplus(-x) + (one - y) * softplus(x);
        let g = -q * y * (one - sig) + (one - y) * sig;
        (l, g)
    } else {
        let eps: T = c(segloss_core::PROB_EPS as f64);
        let pc = x.max(eps).min(one - eps);
        let l = -(q * y * pc.ln() + (one - y) * (one - pc).ln());
        let inside = x >= eps && x <= one - eps;
        let g = if inside { -(q * y / pc) + (one - y) / (one - pc) } else { T::zero() };
        (l, g)
    };
    (factor * w * l, factor * w * g)
}

/// Binary focal loss of one element and its derivative.
pub fn focal<T: Float>(x: T, y: T, gamma: T, a: T, b: T, from_logits: bool) -> (T, T) {
    let one = T::one();
    let zero = T::zero();
    if from_logits {
        let p = one / (one + (-x).exp());
        let q = one / (one + x.exp()); // 1 - p without cancellation
        let log_p = -softplus(-x);
        let log_q = -softplus(x);
        let l = -(a * y * q.powf(gamma) * log_p + b * (one - y) * p.powf(gamma) * log_q);
        // d/dx [(1-p)^g log p] = (1-p)^g [(1-p) - g p log p]; d/dx [p^g log(1-p)] = p^g [g (1-p) log(1-p) - p]
        let g = -(a * y * q.powf(gamma) * (q - gamma * p * log_p) + b * (one - y) * p.powf(gamma) * (gamma * q * log_q - p));
        (l, g)
    } else {
        let eps: T = c(segloss_core::PROB_EPS as f64);
        let p = x.max(eps).min(one - eps);
        let q = one - p;
        let l = -(a * y * q.powf(gamma) * p.ln() + b * (one - y) * p.powf(gamma) * q.ln());
        let inside = x >= eps && x <= one - eps;
        let g = if inside {
            // d/dp [(1-p)^g ln p] = (1-p)^g / p - g (1-p)^(g-1) ln p
            let d_pos = q.powf(gamma) / p - gamma * q.powf(gamma - one) * p.ln();
            // d/dp [p^g ln(1-p)] = g p^(g-1) ln(1-p) - p^g / (1-p)
            let d_neg = gamma * p.powf(gamma - one) * q.ln() - p.powf(gamma) / q;
            -(a * y * d_pos + b * (one - y) * d_neg)
        } else {
            zero
        };
        (l, g)
    }
}

/// Elementwise kernel: returns the sum of the losses and whether a target was outside `[0, 1]`;
/// writes `scale * dl/dx` into `grad` when given.
pub fn elementwise<T: Float>(x: &[T], y: &[T], aux: Aux<'_, T>, p: &ElemParams, scale: T, grad: Option<&mut [T]>) -> (f64, bool) {
    elementwise_terms(x, y, aux, p, scale, grad, None)
}

/// [`elementwise`] that also writes each element's loss into `terms` (same length as `x`) when
/// given: the `reduction=none` map of the block (`topk_ce` selects from it).
pub fn elementwise_terms<T: Float>(
    x: &[T],
    y: &[T],
    aux: Aux<'_, T>,
    p: &ElemParams,
    scale: T,
    mut grad: Option<&mut [T]>,
    mut terms: Option<&mut [T]>,
) -> (f64, bool) {
    let mut sum = 0.0f64;
    let mut bad = false;
    for i in 0..x.len() {
        if !(y[i] >= T::zero() && y[i] <= T::one()) {
            bad = true;
        }
        let (a, dist) = match aux {
            Aux::None => (None, false),
            Aux::Weight(w) => (Some(w[i]), false),
            Aux::Distance(d) => (Some(d[i]), true),
        };
        let (l, g) = element(x[i], y[i], a, dist, p);
        sum += l.to_f64().unwrap_or(f64::NAN);
        if let Some(gr) = grad.as_deref_mut() {
            gr[i] = scale * g;
        }
        if let Some(t) = terms.as_deref_mut() {
            t[i] = l;
        }
    }
    (sum, bad)
}

/// Loss and gradient (per class) of one pixel under the softmax: `z` its logits (length C),
/// `label` its class (or `None` when ignored) or `probs` its class probabilities.
pub fn softmax_pixel<T: Float>(z: &[T], label: Option<usize>, probs: Option<&[T]>, p: &SoftmaxParams<'_>, grad: &mut [T]) -> T {
    let one = T::one();
    let cc = z.len();
    let m = z.iter().fold(T::neg_infinity(), |a, &b| a.max(b));
    let lse = m + z.iter().map(|&v| (v - m).exp()).fold(T::zero(), |a, b| a + b).ln();
    let w = |k: usize| c::<T>(p.w(k) as f64);
    let prob = |k: usize| (z[k] - lse).exp();
    let s: T = c(p.smoothing as f64);
    grad.iter_mut().for_each(|g| *g = T::zero());
    if let Some(probs) = probs {
        // class-probability targets, smoothed: y <- y (1 - s) + s / C
        let y = |k: usize| probs[k] * (one - s) + s / c(cc as f64);
        let mut l = T::zero();
        let mut wy = T::zero();
        for k in 0..cc {
            l = l + w(k) * y(k) * (lse - z[k]);
            wy = wy + w(k) * y(k);
        }
        for k in 0..cc {
            grad[k] = prob(k) * wy - w(k) * y(k);
        }
        return l;
    }
    let Some(t) = label else { return T::zero() };
    match p.focal_gamma {
        None => {
            let mut l = (one - s) * w(t) * (lse - z[t]);
            let mut w_sum = T::zero();
            for k in 0..cc {
                l = l + s / c(cc as f64) * w(k) * (lse - z[k]);
                w_sum = w_sum + w(k);
            }
            for k in 0..cc {
                let delta = if k == t { one } else { T::zero() };
                grad[k] = (one - s) * w(t) * (prob(k) - delta) + s / c(cc as f64) * (w_sum * prob(k) - w(k));
            }
            l
        }
        Some(gamma) => {
            let gamma: T = c(gamma as f64);
            let log_pt = z[t] - lse;
            let pt = log_pt.exp();
            let q = one - pt;
            let l = -w(t) * q.powf(gamma) * log_pt;
            // dl/dlog_pt = -w [(1-p)^g - g (1-p)^(g-1) p log p]; the second term -> 0 as p -> 1
            let second = if q > T::zero() { gamma * q.powf(gamma - one) * pt * log_pt } else { T::zero() };
            let d = -w(t) * (q.powf(gamma) - second);
            for k in 0..cc {
                let delta = if k == t { one } else { T::zero() };
                grad[k] = d * (delta - prob(k));
            }
            l
        }
    }
}

/// Softmax kernel over one block (the signature of [`super::simd::softmax`] after its level): returns the
/// sum of the pixel losses (times the pixel weights) and writes `scale * gradient`.
pub fn softmax(b: &SoftmaxBlock<'_>, p: &SoftmaxParams<'_>, scale: f32, grad: Option<&StridedOut<'_>>) -> f64 {
    softmax_terms(b, p, scale, grad, None)
}

/// [`softmax`] that also writes each pixel's loss (times its weight; 0 at ignored pixels) into
/// `terms` (length `b.len`) when given: the `reduction=none` map of the block.
pub fn softmax_terms(
    b: &SoftmaxBlock<'_>,
    p: &SoftmaxParams<'_>,
    scale: f32,
    grad: Option<&StridedOut<'_>>,
    mut terms: Option<&mut [f32]>,
) -> f64 {
    let cc = p.classes;
    let mut zp = vec![0.0f32; cc];
    let mut yp = vec![0.0f32; cc];
    let mut gp = vec![0.0f32; cc];
    let mut sum = 0.0f64;
    for j in 0..b.len {
        for k in 0..cc {
            zp[k] = b.z[k * b.stride + j];
            if let Some(pr) = b.probs {
                yp[k] = pr[k * b.stride + j];
            }
        }
        let label = b.labels.and_then(|l| (l[j] >= 0).then_some(l[j] as usize));
        let l = softmax_pixel(&zp, label, b.probs.map(|_| yp.as_slice()), p, &mut gp);
        let w = b.weight.map_or(1.0, |w| w[j]);
        sum += (w * l) as f64;
        if let Some(t) = terms.as_deref_mut() {
            t[j] = w * l;
        }
        if let Some(g) = grad {
            for (k, gk) in gp.iter().enumerate() {
                // SAFETY: each row is borrowed for this one write only; blocks are disjoint.
                unsafe { g.row(k)[j] = scale * w * gk };
            }
        }
    }
    sum
}

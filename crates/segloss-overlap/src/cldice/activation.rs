//! The activation of clDice's prediction and its Jacobian.

use crate::kernels::{simd_avx2, simd_avx512, simd_base};
use segloss_core::kernel::Backend;
use segloss_core::simd::Level;

/// The probabilities of one image (`c` channels of `s` pixels): sigmoid per element, or softmax
/// over the channels; with the SIMD backend the full vectors at `level` (`cldice_activation_simd.rs`,
/// compiled once per level), the tail by the scalar functions.
#[allow(clippy::too_many_arguments)]
pub(super) fn activate(be: Backend, level: Level, multiclass: bool, c: usize, s: usize, x: &[f32], p: &mut [f32]) {
    if !multiclass {
        let j = match be {
            Backend::Simd => segloss_core::simd_dispatch!(level, activation::sigmoid_lanes(x, p)),
            Backend::Scalar => 0,
        };
        for k in j..x.len() {
            p[k] = crate::kernels::scalar::sigmoid(x[k]);
        }
        return;
    }
    let j = match be {
        Backend::Simd => segloss_core::simd_dispatch!(level, activation::softmax_lanes(c, s, x, p)),
        Backend::Scalar => 0,
    };
    let mut z = vec![0.0f32; c];
    let mut q = vec![0.0f32; c];
    for i in j..s {
        for k in 0..c {
            z[k] = x[k * s + i];
        }
        crate::kernels::scalar::softmax(&z, true, &mut q);
        for k in 0..c {
            p[k * s + i] = q[k];
        }
    }
}

/// `g (=|+=) dL/dz` of one image from `a = dL/dp`: identity, sigmoid `a p (1 - p)`, or softmax
/// `p_c (a_c - sum_k p_k a_k)`.
#[allow(clippy::too_many_arguments)]
pub(super) fn jacobian(from_logits: bool, multiclass: bool, c: usize, s: usize, p: &[f32], a: &[f32], g: &mut [f32], accumulate: bool) {
    let put = |g: &mut f32, v: f32| {
        if accumulate {
            *g += v
        } else {
            *g = v
        }
    };
    if !from_logits {
        g.iter_mut().zip(a).for_each(|(g, &v)| put(g, v));
    } else if !multiclass {
        g.iter_mut().zip(a.iter().zip(p)).for_each(|(g, (&v, &p))| put(g, v * (p * (1.0 - p))));
    } else {
        let mut dot = vec![0.0f32; s];
        for k in 0..c {
            let (pk, ak) = (&p[k * s..(k + 1) * s], &a[k * s..(k + 1) * s]);
            dot.iter_mut().zip(pk.iter().zip(ak)).for_each(|(d, (&p, &a))| *d += p * a);
        }
        for k in 0..c {
            let (pk, ak, gk) = (&p[k * s..(k + 1) * s], &a[k * s..(k + 1) * s], &mut g[k * s..(k + 1) * s]);
            gk.iter_mut().zip(pk.iter().zip(ak.iter().zip(&dot))).for_each(|(g, (&p, (&a, &d)))| put(g, p * (a - d)));
        }
    }
}

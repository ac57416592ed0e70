//! The SIMD part of clDice's activation (see `crate::cldice`'s `activation`), 8 elements per
//! `f32x8`, compiled once per level with the overlap kernels (`kernels/simd_base.rs`,
//! `kernels/simd_avx2.rs`) through the level's `level_fn!`. Each function handles the full
//! vectors and returns the first element (pixel) it left to the scalar tail.

use super::lanes::{exp, f32x8, load, sigmoid, store};
use segloss_core::simd::LANES;

super::level_fn! {
    /// `p = sigmoid(x)` on the full vectors of `x`; returns where the tail starts.
    pub(crate) fn sigmoid_lanes(x: &[f32], p: &mut [f32]) -> usize {
        let mut j = 0;
        while j + LANES <= x.len() {
            store(&mut p[j..], sigmoid(load(&x[j..])));
            j += LANES;
        }
        j
    }
}

super::level_fn! {
    /// The softmax over the `c` channels (`s` pixels each) of one image, on the full vectors of
    /// pixels; returns the first pixel of the tail.
    pub(crate) fn softmax_lanes(c: usize, s: usize, x: &[f32], p: &mut [f32]) -> usize {
        let mut j = 0;
        while j + LANES <= s {
            let mut m = load(&x[j..]);
            for k in 1..c {
                m = m.max(load(&x[k * s + j..]));
            }
            let mut sum = f32x8::ZERO;
            for k in 0..c {
                let e = exp(load(&x[k * s + j..]) - m);
                store(&mut p[k * s + j..], e);
                sum += e;
            }
            let inv = f32x8::ONE / sum;
            for k in 0..c {
                let v = load(&p[k * s + j..]) * inv;
                store(&mut p[k * s + j..], v);
            }
            j += LANES;
        }
        j
    }
}

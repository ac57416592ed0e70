//! The SIMD gradient kernel of `mcc` (see `crate::mcc`), 8 elements per `f32x8`, compiled once
//! per level with the overlap kernels (`kernels/simd_base.rs`, `kernels/simd_avx2.rs`) through
//! the level's `level_fn!`.

use super::lanes::{exp_nonpos, f32x8, load_padded, store};
use segloss_core::simd::LANES;

super::level_fn! {
    /// The gradient of one block of elements into `out`.
    pub(crate) fn grad(x: &[f32], y: &[f32], from_logits: bool, a: f32, b: f32, out: &mut [f32]) {
        let (a, b) = (f32x8::splat(a), f32x8::splat(b));
        let mut i = 0;
        while i < x.len() {
            let n = (x.len() - i).min(LANES);
            let (xv, yv) = (load_padded(&x[i..i + n], 0.0), load_padded(&y[i..i + n], 0.0));
            let d = a.mul_add(f32x8::ONE - yv, b * yv);
            let d = if from_logits {
                // p (1 - p) = e / (1 + e)^2 with e = exp(-|x|)
                let e = exp_nonpos(-xv.abs());
                let s = f32x8::ONE / (f32x8::ONE + e);
                d * (e * s * s)
            } else {
                d
            };
            store(&mut out[i..i + n], d);
            i += LANES;
        }
    }
}

//! The passes of the skeleton (`forward`, `lanes`, `reverse`, `window`), compiled once per level
//! with the overlap kernels (`kernels/simd_base.rs`, `kernels/simd_avx2.rs`): every function with
//! a loop through the level's `level_fn!`, the lane kernels `#[inline(always)]`. The types they
//! work on (`Grid`, `Scratch`, `Skel`) are the level-independent ones of `crate::skeleton`, whose
//! `Skel::forward`, `Skel::backward` and `sums` run [`forward`], [`backward`] and [`sums`] at the
//! skeleton's level.

use super::lanes::{f32x8, lanes_sum_f64, load};
use crate::skeleton::{Scratch, Skel};
use segloss_core::kernel::Backend;
use segloss_core::simd::LANES;

/// Runs the lane kernel `f(j, args..)` over `0..n`: `f32x8` lanes with the SIMD backend, then
/// (or only, with the scalar backend) one element at a time.
macro_rules! each {
    ($be:expr, $n:expr, $f:ident ( $($arg:expr),* $(,)? )) => {{
        let n: usize = $n;
        let mut j = 0usize;
        if $be == Backend::Simd {
            while j + LANES <= n {
                $f::<f32x8>(j, $($arg),*);
                j += LANES;
            }
        }
        while j < n {
            $f::<f32>(j, $($arg),*);
            j += 1;
        }
    }};
}

#[path = "forward.rs"]
pub(crate) mod forward;
#[path = "lanes.rs"]
mod lanes;
#[path = "reverse.rs"]
pub(crate) mod reverse;
#[path = "window.rs"]
mod window;

super::level_fn! {
    /// `skel(x)` (see `Skel::forward`).
    pub(crate) fn forward<'s>(sk: &Skel, x: &[f32], sc: &'s mut Scratch, record: bool) -> &'s [f32] {
        if sk.grid.nd == 2 {
            forward::forward_2d(sk, x, sc, record)
        } else {
            forward::forward_nd(sk, x, sc, record)
        }
    }
}

super::level_fn! {
    /// The reverse pass (see `Skel::backward`).
    pub(crate) fn backward(sk: &Skel, sc: &mut Scratch, gs: &mut [f32], gin: &mut [f32]) {
        if sk.grid.nd == 2 {
            reverse::backward_2d(sk, sc, gs, gin)
        } else {
            reverse::backward_nd(sk, sc, gs, gin)
        }
    }
}

super::level_fn! {
    /// `sum a b` (and `sum a`) in `f64`: per element in `f64` (scalar backend), or `f32` lanes
    /// over chunks of 32 elements added in `f64` (SIMD backend).
    pub(crate) fn sums(be: Backend, a: &[f32], b: &[f32]) -> (f64, f64) {
        let n = a.len();
        let (mut sab, mut sa) = (0.0f64, 0.0f64);
        let mut j = 0;
        if be == Backend::Simd {
            const CHUNK: usize = 4 * LANES;
            while j + CHUNK <= n {
                let (mut p, mut q) = (f32x8::ZERO, f32x8::ZERO);
                for k in 0..4 {
                    let (x, y) = (load(&a[j + k * LANES..]), load(&b[j + k * LANES..]));
                    p += x * y;
                    q += x;
                }
                sab += lanes_sum_f64(p);
                sa += lanes_sum_f64(q);
                j += CHUNK;
            }
        }
        for k in j..n {
            sab += a[k] as f64 * b[k] as f64;
            sa += a[k] as f64;
        }
        (sab, sa)
    }
}

#[cfg(test)]
super::level_fn! {
    /// For the tests, on one 2D plane: the forward outputs of the fused 2D pass and of the
    /// per-pass one (without, then with recording), then the input gradients of the two reverse
    /// passes for the output gradient `g0`.
    pub(crate) fn fused_vs_per_pass(sk: &Skel, x: &[f32], g0: &[f32]) -> Vec<(Vec<f32>, Vec<f32>)> {
        let (mut a, mut b) = (Scratch::default(), Scratch::default());
        let mut out = Vec::new();
        for record in [false, true] {
            let fa = forward::forward_2d(sk, x, &mut a, record).to_vec();
            let fb = forward::forward_nd(sk, x, &mut b, record).to_vec();
            out.push((fa, fb));
        }
        let (mut ga, mut gb) = (g0.to_vec(), g0.to_vec());
        let (mut ia, mut ib) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        reverse::backward_2d(sk, &mut a, &mut ga, &mut ia);
        reverse::backward_nd(sk, &mut b, &mut gb, &mut ib);
        out.push((ia, ib));
        out
    }
}

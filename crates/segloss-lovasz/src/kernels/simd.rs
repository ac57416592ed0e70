//! The SIMD kernels at a given level (see [`super`]): each call runs the copy of the kernel
//! compiled for `level` (`segloss_core::simd::Level`), or the baseline's where this CPU cannot
//! run that level.

use super::{simd_avx2, simd_avx512, simd_base};
use segloss_core::simd::Level;

/// Pixels per chunk of the kernels (a multiple of the lane count): the `C * CHUNK` exponentials
/// and gradient values of a chunk stay in L1 (64 measured faster than 32, 128 and 256 on W2).
pub const CHUNK: usize = simd_base::body::CHUNK;

/// Same as [`super::scalar::softmax`], at `level`.
pub fn softmax(level: Level, z: &[&[f32]], p: &mut [&mut [f32]]) {
    segloss_core::simd_dispatch!(level, softmax(z, p))
}

/// Same as [`super::scalar::softmax_backward`], at `level`.
pub fn softmax_backward(level: Level, z: &[&[f32]], g: &mut [&mut [f32]]) {
    segloss_core::simd_dispatch!(level, softmax_backward(z, g))
}

//! The SIMD kernels (see [`super`]), compiled once per level (`simd_base.rs`, `simd_avx2.rs`):
//! eight pixels per step on `f32x8` lanes, `exp` from `segloss_core::simd` (2 ulp). The two
//! entry points are declared through the level's `level_fn!` (`#[target_feature]` at the AVX2
//! level); the helpers are `#[inline(always)]` and hold no closure.
//!
//! The range is cut into chunks of [`CHUNK`] pixels, each processed one channel at a time (max,
//! then exponentials and their sum, then the normalization), so every pass streams one channel
//! contiguously instead of touching `C` strided streams per step.

use super::lanes::{exp, f32x8, load, load_padded, store};
use segloss_core::simd::LANES;

/// Pixels per chunk (a multiple of the lane count): the `C * CHUNK` exponentials and gradient
/// values of a chunk stay in L1 (64 measured faster than 32, 128 and 256 on W2).
pub const CHUNK: usize = 64;
const VECS: usize = CHUNK / LANES;

#[inline(always)]
fn ld(src: &[f32], j: usize, lanes: usize) -> f32x8 {
    if lanes == LANES {
        load(&src[j..])
    } else {
        load_padded(&src[j..j + lanes], 0.0)
    }
}

/// For the chunk `j0..j0 + len`: `e[c * VECS + v] = exp(z_c - m)` and returns `1 / sum_c e` per
/// vector `v` (padding lanes hold logit 0).
/// `len` is `CHUNK` when `FULL` (every chunk but the last), which gives the loops constant bounds.
#[inline(always)]
fn chunk_exps<const FULL: bool>(z: &[&[f32]], j0: usize, len: usize, e: &mut [f32x8], inv: &mut [f32x8; VECS]) {
    let len = if FULL { CHUNK } else { len };
    let nv = len.div_ceil(LANES);
    let mut m = [f32x8::splat(f32::NEG_INFINITY); VECS];
    for zc in z {
        for (v, mv) in m.iter_mut().enumerate().take(nv) {
            let j = v * LANES;
            let x = ld(zc, j0 + j, (len - j).min(LANES));
            // NaN-propagating max: a NaN logit makes the pixel's probabilities NaN, as in torch
            *mv = x.is_nan().select(x, mv.max(x));
        }
    }
    let mut sum = [f32x8::ZERO; VECS];
    for (c, zc) in z.iter().enumerate() {
        let ec = &mut e[c * VECS..(c + 1) * VECS];
        for v in 0..nv {
            let j = v * LANES;
            let x = exp(ld(zc, j0 + j, (len - j).min(LANES)) - m[v]);
            ec[v] = x;
            sum[v] += x;
        }
    }
    for v in 0..nv {
        inv[v] = f32x8::ONE / sum[v];
    }
}

super::level_fn! {
    /// Same as `crate::kernels::scalar::softmax`.
    pub(crate) fn softmax(z: &[&[f32]], p: &mut [&mut [f32]]) {
        let len = z.first().map_or(0, |s| s.len());
        let mut e = vec![f32x8::ZERO; z.len() * VECS];
        let mut inv = [f32x8::ZERO; VECS];
        let mut j0 = 0;
        while j0 < len {
            let cl = (len - j0).min(CHUNK);
            if cl == CHUNK {
                softmax_chunk::<true>(z, p, j0, cl, &mut e, &mut inv);
            } else {
                softmax_chunk::<false>(z, p, j0, cl, &mut e, &mut inv);
            }
            j0 += cl;
        }
    }
}

/// One chunk of [`softmax`]: `cl` pixels at `j0` (`CHUNK` of them when `FULL`).
#[inline(always)]
fn softmax_chunk<const FULL: bool>(z: &[&[f32]], p: &mut [&mut [f32]], j0: usize, cl: usize, e: &mut [f32x8], inv: &mut [f32x8; VECS]) {
    let cl = if FULL { CHUNK } else { cl };
    chunk_exps::<FULL>(z, j0, cl, e, inv);
    for (c, pc) in p.iter_mut().enumerate() {
        for v in 0..cl.div_ceil(LANES) {
            let j = j0 + v * LANES;
            let lanes = (cl - v * LANES).min(LANES);
            store(&mut pc[j..j + lanes], e[c * VECS + v] * inv[v]);
        }
    }
}

super::level_fn! {
    /// Same as `crate::kernels::scalar::softmax_backward`.
    pub(crate) fn softmax_backward(z: &[&[f32]], g: &mut [&mut [f32]]) {
        let len = z.first().map_or(0, |s| s.len());
        let mut e = vec![f32x8::ZERO; z.len() * VECS];
        let mut inv = [f32x8::ZERO; VECS];
        let mut j0 = 0;
        while j0 < len {
            let cl = (len - j0).min(CHUNK);
            if cl == CHUNK {
                backward_chunk::<true>(z, g, j0, cl, &mut e, &mut inv);
            } else {
                backward_chunk::<false>(z, g, j0, cl, &mut e, &mut inv);
            }
            j0 += cl;
        }
    }
}

/// One chunk of [`softmax_backward`]: `cl` pixels at `j0` (`CHUNK` of them when `FULL`).
#[inline(always)]
fn backward_chunk<const FULL: bool>(z: &[&[f32]], g: &mut [&mut [f32]], j0: usize, cl: usize, e: &mut [f32x8], inv: &mut [f32x8; VECS]) {
    let cl = if FULL { CHUNK } else { cl };
    let nv = cl.div_ceil(LANES);
    chunk_exps::<FULL>(z, j0, cl, e, inv);
    let mut dot = [f32x8::ZERO; VECS];
    for (c, gc) in g.iter().enumerate() {
        for v in 0..nv {
            let j = v * LANES;
            let p = e[c * VECS + v] * inv[v];
            e[c * VECS + v] = p;
            dot[v] = p.mul_add(ld(gc, j0 + j, (cl - j).min(LANES)), dot[v]);
        }
    }
    for (c, gc) in g.iter_mut().enumerate() {
        for v in 0..nv {
            let j = v * LANES;
            let lanes = (cl - j).min(LANES);
            let r = e[c * VECS + v] * (ld(gc, j0 + j, lanes) - dot[v]);
            store(&mut gc[j0 + j..j0 + j + lanes], r);
        }
    }
}

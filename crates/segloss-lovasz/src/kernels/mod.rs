//! The softmax kernels of `lovasz_softmax`, each twice with the same signature: [`scalar`] (the
//! readable reference, written from the formula) and [`simd`] (on `f32x8` lanes, compiled once
//! per SIMD level and run at the level given, `segloss_core::simd::Level::current()` in the
//! losses).
//!
//! Both work on one range of pixels of one image: `z[c]` is channel `c`'s slice of logits over the
//! range (every slice of the same length). Neutral element: an empty range writes nothing. Tail
//! handling: the SIMD kernels pad the last partial vector with logit 0 and store only the valid
//! lanes, so padding never changes a result.
//!
//! - `softmax(z, p)`: `p_c = exp(z_c - m) / sum_k exp(z_k - m)`, `m = max_k z_k`.
//! - `softmax_backward(z, g)`: `g` holds `d loss / d p` and receives `d loss / d z` through the
//!   softmax Jacobian, `dz_c = p_c (dp_c - sum_k p_k dp_k)`, with `p` recomputed from `z`.
//!
//! Which of the two runs is `segloss_core::Backend::current()`, read once per evaluation.

pub mod scalar;
pub mod simd;
mod simd_avx2;
mod simd_avx512;
mod simd_base;

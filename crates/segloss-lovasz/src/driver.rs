//! The drivers: cut a batch into independent sorting problems (one per image, class or
//! (image, channel) pair), solve them in parallel with the deterministic `tree_reduce`/`par_for`
//! of `segloss_core::reduce` (a fixed tree: the same bits for any thread count), and write the
//! gradient.
//!
//! A *problem* is a set of pixels given as segments of `s` consecutive `pred` elements (one
//! segment per image it spans). Its local pixel index is `segment << local_shift(s) | offset`
//! (ordered like `(segment, offset)`, decoded without division). Only the pixels with a positive
//! (or NaN) error are given keys and sorted: the others contribute `relu(e) = 0` (hinge) or
//! `e = 0` (softmax) to the loss and 0 to the gradient, and since the counts `I_k`, `U_k` of the
//! Jaccard gradient accumulate along the order, `g` of the sorted prefix only depends on the prefix
//! and on the total number of positives `G`, which is counted over all valid pixels. The key of a
//! pixel is `make_key(e, local << 1 | label)` (label 1 for a positive), so the local index must
//! fit 31 bits: `segments * s.next_power_of_two() <= 2^31` ([`fits`]).
//!
//! One problem's key building, sort and walk are in the crate-private module `problem`, which
//! also states the memory they take.

use crate::kernels::{scalar, simd};
use crate::sort::{key_payload, positive_error_of_bits};
use segloss_core::input::Labels;
use segloss_core::kernel::Backend;
use segloss_core::reduce::{par_for, tree_reduce, tree_sum, SharedMut};
use segloss_core::simd::Level;
use segloss_core::{Batch, LossError, Result};

/// Largest local pixel index of one problem (the local index takes 31 bits of the key).
pub const MAX_PROBLEM: usize = (1 << 31) - 1;

/// Pixels per block of the softmax passes.
pub const SOFTMAX_BLOCK: usize = 4096;

/// Keys per block of the walk: the divisions of a block run as one vectorizable loop.
pub const WALK_BLOCK: usize = 64;

/// Walks the sorted keys of one problem with `g_total` positives (keys of positive or NaN errors,
/// payload `local << 1 | label`): returns `sum_k e_k g_k` and calls
/// `write(local, -scale g_k (2 y_k - 1))` for every key.
///
/// `g_k = 1 / U_k` (positive) or `I_k / (U_k (U_k - 1))` (negative) from integer counts (exact in
/// `f64`), one `f64` division per key rounded once to `f32` for the gradient. Per block of
/// [`WALK_BLOCK`] keys: the block's running count of positives in `i32` (the only loop-carried
/// value; a `u64` count converted to `f64` per key drew a tenth of `lovasz_softmax`'s samples,
/// and the `i32` count made the loss 2-3% faster), then `g` for the whole block in one
/// branch-free loop the compiler vectorizes, then the loss in four interleaved `f64` sums and
/// the gradient writes (a fixed order: the result does not depend on the thread count).
#[inline(always)]
pub fn walk_keys(keys: &[u64], g_total: u64, scale: f64, mut write: impl FnMut(usize, f32)) -> f64 {
    if g_total == 0 {
        // g = e_1: only the first pixel of the order has g = 1 (it is a negative: +scale)
        let mut loss = 0.0;
        for (k, &key) in keys.iter().enumerate() {
            let first = k == 0;
            if first {
                loss = positive_error_of_bits((key >> 32) as u32) as f64;
            }
            write((key_payload(key) >> 1) as usize, if first { scale as f32 } else { 0.0 });
        }
        return loss;
    }
    let gt = g_total as f64;
    let mut pc = 0.0f64; // positives before the block
    let mut seen = 0.0f64; // keys before the block
    let mut acc = [0.0f64; 4];
    let mut cnt = [0i32; WALK_BLOCK];
    let mut posi = [0i32; WALK_BLOCK];
    let mut g = [0.0f64; WALK_BLOCK];
    let iota: [f64; WALK_BLOCK] = std::array::from_fn(|k| (k + 1) as f64);
    for chunk in keys.chunks(WALK_BLOCK) {
        // the block's running count of positives, in 32-bit integers: the only loop-carried
        // value (one integer addition; converted to f64 in the vectorized loop below)
        let mut c = 0i32;
        for ((&key, ck), sk) in chunk.iter().zip(cnt.iter_mut()).zip(posi.iter_mut()) {
            let pos = (key & 1) as i32;
            c += pos;
            *ck = c;
            *sk = pos;
        }
        // independent per key (vectorizes): U = G + negatives so far, I = G - positives so far,
        // g = 1 / U (positive) or I / (U (U - 1)) (negative), as exact selects on pf in {0, 1}
        for k in 0..WALK_BLOCK {
            let pf = posi[k] as f64;
            let pck = pc + cnt[k] as f64;
            let u = gt + (seen + iota[k] - pck);
            let i = gt - pck;
            let num = pf + (1.0 - pf) * i;
            let den = u * (pf + (1.0 - pf) * (u - 1.0));
            g[k] = num / den;
        }
        for (k, (&key, &gk)) in chunk.iter().zip(&g).enumerate() {
            acc[k & 3] += positive_error_of_bits((key >> 32) as u32) as f64 * gk;
            let d = scale * gk;
            let pf = (key & 1) as f64;
            write((key_payload(key) >> 1) as usize, (d - 2.0 * d * pf) as f32);
        }
        seen += chunk.len() as f64;
        pc += c as f64;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// Bits of the in-segment offset in a local pixel index: `local = segment << shift | offset`, so
/// that decoding needs no division and the local order is the (segment, offset) order.
#[inline]
pub fn local_shift(s: usize) -> u32 {
    s.next_power_of_two().trailing_zeros()
}

/// Whether a problem of `segments` segments of `s` pixels fits the 31-bit local index.
pub fn fits(segments: usize, s: usize) -> bool {
    let sh = local_shift(s);
    sh <= 31 && segments <= (MAX_PROBLEM + 1) >> sh
}

/// Why both losses reject a `weight` tensor (the reason of their `Unsupported` error).
pub const REJECT_WEIGHT: &str = "the Lovász losses are not per-pixel sums";

/// Errors unless a problem of `segments` segments of `s` pixels fits the 31-bit local index
/// ([`fits`]); the message names the loss `name` and suggests `reduce=image`.
pub fn check_problem(name: &str, segments: usize, s: usize, batch: &Batch<'_>) -> Result<()> {
    if !fits(segments, s) {
        return Err(LossError::InvalidShape {
            name: "pred",
            shape: batch.pred.shape().to_vec(),
            reason: format!(
                "{name} indexes the pixels of one problem in 31 bits: {segments} image(s) of {s} pixels (rounded up to a power of two) do not fit (try reduce=image)"
            ),
        });
    }
    Ok(())
}

/// Integer label types read by the softmax problems.
pub(crate) trait Label: Copy + Sync {
    /// The label as `i64`.
    fn as_i64(self) -> i64;
}
impl Label for u8 {
    #[inline(always)]
    fn as_i64(self) -> i64 {
        self as i64
    }
}
impl Label for i32 {
    #[inline(always)]
    fn as_i64(self) -> i64 {
        self as i64
    }
}
impl Label for i64 {
    #[inline(always)]
    fn as_i64(self) -> i64 {
        self
    }
}

/// Sum over problems `0..count` of `solve(i)`, in parallel along the fixed tree.
pub(crate) fn solve_all<F: Fn(usize) -> f64 + Sync>(count: usize, solve: &F) -> f64 {
    tree_sum(count, solve)
}

/// The softmax blocks: `(image, first pixel, length)` covering `n` images of `s` pixels.
fn blocks(n: usize, s: usize) -> Vec<(usize, usize, usize)> {
    let per = s.div_ceil(SOFTMAX_BLOCK);
    (0..n * per)
        .map(|b| {
            let (img, k) = (b / per, b % per);
            let j0 = k * SOFTMAX_BLOCK;
            (img, j0, (s - j0).min(SOFTMAX_BLOCK))
        })
        .collect()
}

/// Writes `softmax(z)` over the `c` channels of `z` (`[n, c, s]`) into `p` (same layout).
pub(crate) fn softmax_forward(z: &[f32], n: usize, c: usize, s: usize, p: SharedMut<'_>, backend: Backend) {
    let bl = blocks(n, s);
    par_for(bl.len(), &|b| {
        let (img, j0, len) = bl[b];
        let zs: Vec<&[f32]> = (0..c).map(|k| &z[(img * c + k) * s + j0..][..len]).collect();
        // SAFETY: block b owns pixels j0..j0+len of image img in every channel; blocks are disjoint.
        let mut ps: Vec<&mut [f32]> = (0..c).map(|k| unsafe { p.slice((img * c + k) * s + j0, len) }).collect();
        match backend {
            Backend::Scalar => scalar::softmax(&zs, &mut ps),
            Backend::Simd => simd::softmax(Level::current(), &zs, &mut ps),
        }
    });
}

/// Turns `d loss / d p` held in `g` (`[n, c, s]`) into `d loss / d z` through the softmax of `z`.
pub(crate) fn softmax_backward(z: &[f32], n: usize, c: usize, s: usize, g: SharedMut<'_>, backend: Backend) {
    let bl = blocks(n, s);
    par_for(bl.len(), &|b| {
        let (img, j0, len) = bl[b];
        let zs: Vec<&[f32]> = (0..c).map(|k| &z[(img * c + k) * s + j0..][..len]).collect();
        // SAFETY: as in softmax_forward.
        let mut gs: Vec<&mut [f32]> = (0..c).map(|k| unsafe { g.slice((img * c + k) * s + j0, len) }).collect();
        match backend {
            Backend::Scalar => scalar::softmax_backward(&zs, &mut gs),
            Backend::Simd => simd::softmax_backward(Level::current(), &zs, &mut gs),
        }
    });
}

/// The code of an ignored pixel once `lovasz_softmax` packs its labels into bytes.
pub const IGNORED_CODE: u8 = 255;

/// Labels (validated) as one byte per pixel when `classes < 255`: the class, or [`IGNORED_CODE`]
/// for `ignore`; `None` for 255 classes or more.
pub(crate) fn label_codes(labels: &Labels<'_>, classes: usize, ignore: Option<i64>) -> Option<Vec<u8>> {
    if classes >= IGNORED_CODE as usize {
        return None;
    }
    let n = labels.len();
    let block = 1 << 16;
    let code = |l: i64| if Some(l) == ignore { IGNORED_CODE } else { l as u8 };
    tree_reduce(
        n.div_ceil(block),
        &|b| {
            let r = b * block..((b + 1) * block).min(n);
            match labels {
                Labels::U8(v) => v[r].iter().map(|&l| code(l as i64)).collect::<Vec<u8>>(),
                Labels::I32(v) => v[r].iter().map(|&l| code(l as i64)).collect(),
                Labels::I64(v) => v[r].iter().map(|&l| code(l)).collect(),
            }
        },
        &|mut a, b| {
            a.extend(b);
            a
        },
    )
}

/// Valid-pixel counts per image and class (`counts[img * c + k]`), labels validated beforehand.
pub(crate) fn class_counts(labels: &Labels<'_>, n: usize, c: usize, s: usize, ignore: Option<i64>) -> Vec<u64> {
    tree_reduce(
        n,
        &|img| {
            let mut h = vec![0u64; c];
            for j in 0..s {
                let l = labels.get(img * s + j);
                if Some(l) != ignore && l >= 0 && (l as usize) < c {
                    h[l as usize] += 1;
                }
            }
            h
        },
        &|mut a, b| {
            a.extend(b);
            a
        },
    )
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_index_bounds() {
        assert!(fits(1, 1 << 31));
        assert!(!fits(2, 1 << 31));
        assert!(fits(8, 1 << 28));
        assert!(!fits(9, 1 << 28));
        assert!(fits(4, (1 << 28) + 1) && !fits(5, (1 << 28) + 1));
        assert!(!fits(1, (1 << 31) + 1));
        assert_eq!(local_shift(1), 0);
        assert_eq!(local_shift(5), 3);
    }
}

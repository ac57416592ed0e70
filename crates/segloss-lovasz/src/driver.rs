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
//! fit 31 bits: `segments * s.next_power_of_two() <= 2^31` ([`fits`]). Of those keys, the ones
//! whose place cannot change the result (the negatives after the last positive, when every
//! positive has a key) leave before the sort: [`cut_after_last_positive`] (`lovasz_softmax` finds
//! the same bound before it builds its keys, with [`last_positive_bound`]).
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

/// Drops the keys whose place in the order cannot change the loss or the gradient, before the
/// sort; returns whether it dropped any. The result (loss bits and every gradient element, the
/// dropped pixels' being the zeros the caller has already written) is the same as the walk of all
/// the keys.
///
/// - **Every positive has a key** (`g_total` positive keys, `g_total > 0`): after the last
///   positive of the order, `I_k = G - G = 0`, so every later (negative) key has `g_k = 0`
///   exactly, contributes `e_k * 0 = +0` to the loss and writes `+0` to the gradient: only the
///   keys up to the last positive's key (as `u64`s: error bits, then index) are kept. Not when
///   that key's error is infinite (a later key's `inf * 0` would be NaN) or `scale` is not finite
///   (`scale * 0` would be NaN).
/// - **No positive** (`g_total = 0`): `g = 1` for the first key of the order and 0 after it, so
///   the smallest key alone is kept.
///
/// With a positive without a key (error 0, or `relu(e) = 0` in the hinge), `I` stays above 0 to
/// the end and every key is kept.
#[inline(always)]
pub fn cut_after_last_positive(keys: &mut Vec<u64>, g_total: u64, scale: f64) -> bool {
    if keys.len() < 2 {
        return false;
    }
    if g_total == 0 {
        let first = keys.iter().fold(u64::MAX, |a, &k| a.min(k));
        keys.clear();
        keys.push(first);
        return true;
    }
    // positive keys and the largest of them (keys are below 2^63: their error bits are 31 bits)
    let (mut pos, mut last) = (0u64, 0u64);
    for &k in keys.iter() {
        let p = k & 1;
        pos += p;
        last = last.max(k & p.wrapping_neg());
    }
    let Some(last) = last_positive_bound(pos, last, g_total, scale) else {
        return false;
    };
    let mut m = 0;
    for i in 0..keys.len() {
        let k = keys[i];
        keys[m] = k;
        m += (k <= last) as usize;
    }
    let cut = m < keys.len();
    keys.truncate(m);
    cut
}

/// The largest key [`cut_after_last_positive`] keeps, from the problem's `keyed` positive keys
/// and the largest of them, `last`: `Some(last)` when every positive has a key (`keyed ==
/// g_total > 0`), `last`'s error is finite and `scale` is finite; `None` when every key must stay.
#[inline(always)]
pub fn last_positive_bound(keyed: u64, last: u64, g_total: u64, scale: f64) -> Option<u64> {
    let finite = positive_error_of_bits((last >> 32) as u32).is_finite();
    (g_total > 0 && keyed == g_total && finite && scale.is_finite()).then_some(last)
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

    /// The walk of a problem's keys, sorted, with the gradient of every pixel (`len` of them,
    /// zeros for pixels without a key, as the problems' zero fill leaves them).
    fn walk_all(keys: &[u64], g_total: u64, scale: f64, len: usize) -> (f64, Vec<f32>) {
        let mut k = keys.to_vec();
        crate::sort::sort_keys_vec(&mut k, &mut Vec::new(), crate::sort::SortAlgo::Radix);
        let mut g = vec![0.0f32; len];
        let loss = walk_keys(&k, g_total, scale, |l, v| g[l] = v);
        (loss, g)
    }

    /// Keys as the problems build them: pixels with a positive (or NaN) error, payload
    /// `index << 1 | label`; returns them with `G`, the number of positives (with a key or not).
    fn problem_keys(errors: &[f32], labels: &[bool]) -> (Vec<u64>, u64) {
        let keys = errors
            .iter()
            .zip(labels)
            .enumerate()
            .filter(|(_, (&e, _))| e > 0.0 || e.is_nan())
            .map(|(i, (&e, &y))| crate::sort::make_key(e, ((i << 1) | y as usize) as u32))
            .collect();
        (keys, labels.iter().filter(|&&y| y).count() as u64)
    }

    /// [`cut_after_last_positive`] keeps the walk's bits (the loss and every gradient element)
    /// and cuts where its documentation says: ties with the last positive on both sides of it,
    /// no positive, a positive without a key, an infinite last positive, NaN errors, a scale
    /// that is not finite.
    #[test]
    fn the_cut_after_the_last_positive_keeps_every_bit() {
        let mut r = segloss_core::rng::Rng::new(5);
        // errors in steps of 1/64 (ties), 20% positives, every positive with a positive error
        let n = 3000;
        let base: Vec<f32> = (0..n).map(|_| ((r.next_f32() * 64.0).floor() + 1.0) / 64.0).collect();
        let labels: Vec<bool> = (0..n).map(|_| r.next_f32() < 0.2).collect();
        let no_pos = vec![false; n];
        let mut zero_pos = base.clone(); // one positive without a key (error 0)
        let first_pos = labels.iter().position(|&y| y).unwrap();
        zero_pos[first_pos] = 0.0;
        let mut inf_last = base.clone(); // every positive infinite: the last positive is +inf
        for (e, &y) in inf_last.iter_mut().zip(&labels) {
            if y {
                *e = f32::INFINITY;
            }
        }
        let mut nan = base.clone();
        nan[7] = f32::NAN;
        nan[8] = f32::NAN;
        // (name, errors, labels, scale, whether keys are cut)
        type Case<'a> = (&'a str, &'a [f32], &'a [bool], f64, bool);
        let cases: Vec<Case<'_>> = vec![
            ("ties", &base, &labels, 0.37, true),
            ("negative scale", &base, &labels, -2.5, true),
            ("no positive", &base, &no_pos, 0.37, true),
            ("a positive without a key", &zero_pos, &labels, 0.37, false),
            ("infinite last positive", &inf_last, &labels, 0.37, false),
            ("NaN errors", &nan, &labels, 0.37, true),
            ("infinite scale", &base, &labels, f64::INFINITY, false),
            ("NaN scale", &base, &labels, f64::NAN, false),
        ];
        for (name, e, y, scale, cuts) in cases {
            let (keys, g_total) = problem_keys(e, y);
            let (want_loss, want_g) = walk_all(&keys, g_total, scale, n);
            let mut cut = keys.clone();
            assert_eq!(cut_after_last_positive(&mut cut, g_total, scale), cuts, "{name}: whether it cuts");
            assert_eq!(cut.len() < keys.len(), cuts, "{name}: {} of {} keys kept", cut.len(), keys.len());
            let (loss, g) = walk_all(&cut, g_total, scale, n);
            assert!(loss.to_bits() == want_loss.to_bits() || (loss.is_nan() && want_loss.is_nan()), "{name}: loss {loss} vs {want_loss}");
            for (i, (a, b)) in g.iter().zip(&want_g).enumerate() {
                assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()), "{name}: gradient {i}: {a} vs {b}");
            }
        }
        // the ties case keeps a negative tied with the last positive but placed before it, and
        // cuts the one placed after it
        let (keys, g_total) = problem_keys(&base, &labels);
        let last = keys.iter().filter(|&&k| k & 1 == 1).max().copied().unwrap();
        let tied = |before: bool| keys.iter().any(|&k| k & 1 == 0 && k >> 32 == last >> 32 && (k < last) == before);
        assert!(tied(true) && tied(false), "the data should have negatives tied with the last positive on both sides");
        let mut cut = keys.clone();
        cut_after_last_positive(&mut cut, g_total, 1.0);
        assert!(cut.iter().all(|&k| k <= last) && cut.contains(&last));
        assert_eq!(cut.len(), keys.iter().filter(|&&k| k <= last).count());
    }

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

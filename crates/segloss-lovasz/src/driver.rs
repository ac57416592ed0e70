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
//! Each problem runs at the process's SIMD level (`segloss_core::simd::Level::current`): the
//! whole of it (key building, sort, walk) is one `#[inline(always)]` body compiled twice, as
//! the build compiles it and with AVX2 and FMA enabled (`hinge_problem_avx2`,
//! `softmax_problem_avx2`). The levels give the same bits: nothing here fuses a multiply with an
//! add.
//!
//! Memory beyond the gradient: 16 bytes per sorted pixel of each problem in flight (the keys and
//! the radix scratch). At most `min(threads, problems)` problems are in flight and together they
//! cover at most every `pred` element once, so this stays within 16 bytes per element. Each
//! thread keeps its two buffers for its next problem when they hold at most [`KEEP_KEYS`] keys
//! each (at most 16 MiB per thread, kept after the call), so that a batch of problems does not
//! pay fresh pages and a zero-filled scratch for each one. Besides:
//! `lovasz_softmax` packs `i32`/`i64` labels of fewer than 255 classes into one byte per pixel,
//! and from logits without a gradient buffer it keeps the probabilities (4 bytes per element; with
//! a gradient buffer they live in it).

use crate::kernels::{scalar, simd};
use crate::sort::{desc_bits_positive, key_payload, positive_error_of_bits, sort_keys_vec, SortAlgo};
use segloss_core::input::Labels;
use segloss_core::kernel::Backend;
use segloss_core::reduce::{par_for, tree_reduce, tree_sum, SharedMut};
use segloss_core::simd::{avx2_fma, Level};
use segloss_core::{Batch, LossError, Result};
use std::cell::Cell;

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
/// [`WALK_BLOCK`] keys: the running count of positives (the only loop-carried value), then `g` for
/// the whole block in one branch-free loop the compiler vectorizes, then the loss in four
/// interleaved `f64` sums and the gradient writes (a fixed order: the result does not depend on
/// the thread count).
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
    let mut pc = 0u64; // positives so far
    let mut seen = 0.0f64; // keys before the block
    let mut acc = [0.0f64; 4];
    let mut pcf = [0.0f64; WALK_BLOCK];
    let mut posf = [0.0f64; WALK_BLOCK];
    let mut g = [0.0f64; WALK_BLOCK];
    let iota: [f64; WALK_BLOCK] = std::array::from_fn(|k| (k + 1) as f64);
    for chunk in keys.chunks(WALK_BLOCK) {
        // running count of positives: the only loop-carried value (one integer addition)
        for ((&key, pk), sk) in chunk.iter().zip(pcf.iter_mut()).zip(posf.iter_mut()) {
            let pos = key & 1;
            pc += pos;
            *pk = pc as f64;
            *sk = pos as f64;
        }
        // independent per key (vectorizes): U = G + negatives so far, I = G - positives so far,
        // g = 1 / U (positive) or I / (U (U - 1)) (negative), as exact selects on pf in {0, 1}
        for k in 0..WALK_BLOCK {
            let pf = posf[k];
            let u = gt + (seen + iota[k] - pcf[k]);
            let i = gt - pcf[k];
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

/// Writes into the problem's gradient segments (`None`: no gradient).
struct Out<'a> {
    segs: Vec<&'a mut [f32]>,
    shift: u32,
}

impl Out<'_> {
    fn zero(&mut self) {
        self.segs.iter_mut().for_each(|s| s.fill(0.0));
    }

    #[inline(always)]
    fn put(&mut self, local: usize, v: f32) {
        if self.segs.len() == 1 {
            self.segs[0][local] = v;
        } else {
            self.segs[local >> self.shift][local & ((1 << self.shift) - 1)] = v;
        }
    }
}

/// # Safety
/// The segments `bases[i]..bases[i] + s` must not overlap any slice live in another thread.
#[inline(always)]
unsafe fn out_segs<'a>(out: Option<SharedMut<'a>>, bases: &[usize], s: usize) -> Option<Out<'a>> {
    // SAFETY: forwarded to the caller.
    out.map(|o| Out { segs: bases.iter().map(|&b| unsafe { o.slice(b, s) }).collect(), shift: local_shift(s) })
}

/// One hinge problem: logits `x` at the segments `bases` (each `s` long) with targets `y` (same
/// indexing as `x`); `classify(y) = (valid, positive)` (targets validated beforehand). Returns the
/// loss `sum relu(e_sorted) g`; writes `scale * d loss / d x` into `out` (all of the problem's
/// elements) when given.
///
/// # Safety
/// The problem's segments in `out` must be disjoint from every other problem's in flight.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn hinge_problem<T: Copy, F: Fn(T) -> (bool, bool)>(
    x: &[f32],
    y: &[T],
    classify: &F,
    bases: &[usize],
    s: usize,
    out: Option<SharedMut<'_>>,
    scale: f64,
    algo: SortAlgo,
) -> f64 {
    match Level::current() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the AVX2 copy runs only where the CPU has AVX2 and FMA, checked here; the
        // segments' guarantee is the caller's.
        Level::Avx2 if avx2_fma() => unsafe { hinge_problem_avx2(x, y, classify, bases, s, out, scale, algo) },
        // SAFETY: forwarded to the caller.
        _ => unsafe { hinge_problem_body(x, y, classify, bases, s, out, scale, algo) },
    }
}

/// [`hinge_problem_body`] compiled with AVX2 and FMA, where the key building, the radix passes and the
/// walk's vectorized loops take 256-bit registers.
///
/// # Safety
/// As [`hinge_problem`], and the CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn hinge_problem_avx2<T: Copy, F: Fn(T) -> (bool, bool)>(
    x: &[f32],
    y: &[T],
    classify: &F,
    bases: &[usize],
    s: usize,
    out: Option<SharedMut<'_>>,
    scale: f64,
    algo: SortAlgo,
) -> f64 {
    // SAFETY: forwarded to the caller.
    unsafe { hinge_problem_body(x, y, classify, bases, s, out, scale, algo) }
}

/// [`hinge_problem`]'s work, inlined into each level's copy.
///
/// # Safety
/// As [`hinge_problem`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn hinge_problem_body<T: Copy, F: Fn(T) -> (bool, bool)>(
    x: &[f32],
    y: &[T],
    classify: &F,
    bases: &[usize],
    s: usize,
    out: Option<SharedMut<'_>>,
    scale: f64,
    algo: SortAlgo,
) -> f64 {
    let (mut keys, mut scratch) = take_buffers(bases.len() * s);
    let mut g_total = 0u64;
    let mut m = 0usize;
    let shift = local_shift(s);
    {
        let spare = keys.spare_capacity_mut();
        let mut kbuf = [0u64; KEY_CHUNK];
        let mut keep = [0u8; KEY_CHUNK];
        for (si, &b) in bases.iter().enumerate() {
            let seg = si << shift;
            for (ci, (xc, yc)) in x[b..b + s].chunks(KEY_CHUNK).zip(y[b..b + s].chunks(KEY_CHUNK)).enumerate() {
                let j0 = seg | (ci * KEY_CHUNK);
                // phase 1, independent per pixel: the key and whether it is kept
                for (k, ((&xv, &yv), (kb, kp))) in xc.iter().zip(yc).zip(kbuf.iter_mut().zip(keep.iter_mut())).enumerate() {
                    let (valid, pos) = classify(yv);
                    g_total += pos as u64;
                    // e = 1 - x (2y - 1): the sign of x flipped for a positive, without a branch
                    let e = 1.0 + f32::from_bits(xv.to_bits() ^ ((pos as u32) << 31));
                    *kp = (valid & ((e > 0.0) | e.is_nan())) as u8;
                    let payload = (((j0 + k) << 1) | pos as usize) as u32;
                    *kb = ((desc_bits_positive(e) as u64) << 32) | payload as u64;
                }
                m = compact(&kbuf[..xc.len()], &keep[..xc.len()], spare, m);
            }
        }
    }
    // SAFETY: the first m elements were written above (m <= capacity: one write per pixel).
    unsafe { keys.set_len(m) };
    sort_keys_vec(&mut keys, &mut scratch, algo);
    // SAFETY: the caller guarantees the segments are this problem's alone.
    let total = match unsafe { out_segs(out, bases, s) } {
        None => walk_keys(&keys, g_total, 0.0, |_, _| {}),
        Some(mut o) => {
            o.zero();
            walk_keys(&keys, g_total, scale, |l, v| o.put(l, v))
        }
    };
    keep_buffers(keys, scratch);
    total
}

/// One softmax problem: class `c`, pixels at the `p` segments `bases` (each `s` long, class `c`'s
/// probabilities) whose labels start at `label_bases`. The probabilities are read from `p_src`, or
/// from `out` itself when `p_in_out` (they are all read before anything is written). `g_total` is
/// the number of valid pixels labelled `c`. Returns `sum e_sorted g`; writes
/// `scale * d loss / d p_c` into `out` (all of the problem's elements) when given.
///
/// # Safety
/// As [`hinge_problem`].
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn softmax_problem(
    p_src: &[f32],
    p_in_out: bool,
    labels: &Labels<'_>,
    c: usize,
    ignore: Option<i64>,
    bases: &[usize],
    label_bases: &[usize],
    s: usize,
    g_total: u64,
    out: Option<SharedMut<'_>>,
    scale: f64,
    algo: SortAlgo,
) -> f64 {
    match Level::current() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the AVX2 copy runs only where the CPU has AVX2 and FMA, checked here; the
        // segments' guarantee is the caller's.
        Level::Avx2 if avx2_fma() => unsafe {
            softmax_problem_avx2(p_src, p_in_out, labels, c, ignore, bases, label_bases, s, g_total, out, scale, algo)
        },
        // SAFETY: forwarded to the caller.
        _ => unsafe { softmax_problem_body(p_src, p_in_out, labels, c, ignore, bases, label_bases, s, g_total, out, scale, algo) },
    }
}

/// [`softmax_problem_body`] compiled with AVX2 and FMA, where the key building, the radix passes and the
/// walk's vectorized loops take 256-bit registers.
///
/// # Safety
/// As [`softmax_problem`], and the CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn softmax_problem_avx2(
    p_src: &[f32],
    p_in_out: bool,
    labels: &Labels<'_>,
    c: usize,
    ignore: Option<i64>,
    bases: &[usize],
    label_bases: &[usize],
    s: usize,
    g_total: u64,
    out: Option<SharedMut<'_>>,
    scale: f64,
    algo: SortAlgo,
) -> f64 {
    // SAFETY: forwarded to the caller.
    unsafe { softmax_problem_body(p_src, p_in_out, labels, c, ignore, bases, label_bases, s, g_total, out, scale, algo) }
}

/// [`softmax_problem`]'s work, inlined into each level's copy.
///
/// # Safety
/// As [`softmax_problem`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn softmax_problem_body(
    p_src: &[f32],
    p_in_out: bool,
    labels: &Labels<'_>,
    c: usize,
    ignore: Option<i64>,
    bases: &[usize],
    label_bases: &[usize],
    s: usize,
    g_total: u64,
    out: Option<SharedMut<'_>>,
    scale: f64,
    algo: SortAlgo,
) -> f64 {
    // SAFETY: the caller guarantees the segments are this problem's alone.
    let mut o = unsafe { out_segs(out, bases, s) };
    let (mut keys, mut scratch) = take_buffers(bases.len() * s);
    let mut m = 0usize;
    {
        let segs: Vec<&[f32]> = match (&o, p_in_out) {
            (Some(o), true) => o.segs.iter().map(|v| &**v).collect(),
            _ => bases.iter().map(|&b| &p_src[b..b + s]).collect(),
        };
        let spare = keys.spare_capacity_mut();
        match labels {
            Labels::U8(l) => softmax_keys(&segs, l, label_bases, s, c, ignore, spare, &mut m),
            Labels::I32(l) => softmax_keys(&segs, l, label_bases, s, c, ignore, spare, &mut m),
            Labels::I64(l) => softmax_keys(&segs, l, label_bases, s, c, ignore, spare, &mut m),
        }
    }
    // SAFETY: the first m elements were written by softmax_keys.
    unsafe { keys.set_len(m) };
    sort_keys_vec(&mut keys, &mut scratch, algo);
    let total = match &mut o {
        None => walk_keys(&keys, g_total, 0.0, |_, _| {}),
        Some(o) => {
            o.zero();
            if p_in_out {
                walk_keys(&keys, g_total, scale, |l, v| o.put(l, v))
            } else {
                // d|y - p|/dp = sign(p - y): -(2y - 1) for p in [0, 1], flipped for unclipped
                // probabilities outside it (p > 1 on a positive, p < 0 on a negative)
                walk_keys(&keys, g_total, scale, |l, v| {
                    let shift = local_shift(s);
                    let pv = p_src[bases[l >> shift] + (l & ((1 << shift) - 1))];
                    let v = if (pv > 1.0 && v < 0.0) || (pv < 0.0 && v > 0.0) { -v } else { v };
                    o.put(l, v)
                })
            }
        }
    };
    keep_buffers(keys, scratch);
    total
}

/// Writes the keys of the valid pixels with a positive (or NaN) error `|1[l = c] - p|` into
/// `spare[..*m]` (branch-free: one write per pixel, `*m` advanced for the kept ones).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn softmax_keys<L: Label>(
    segs: &[&[f32]],
    labels: &[L],
    label_bases: &[usize],
    s: usize,
    c: usize,
    ignore: Option<i64>,
    spare: &mut [std::mem::MaybeUninit<u64>],
    m: &mut usize,
) {
    let cl = c as i64;
    let (has_ig, ig) = (ignore.is_some(), ignore.unwrap_or(0));
    let shift = local_shift(s);
    let mut kbuf = [0u64; KEY_CHUNK];
    let mut keep = [0u8; KEY_CHUNK];
    for (si, (ps, &lb)) in segs.iter().zip(label_bases).enumerate() {
        let seg = si << shift;
        for (ci, (pc, lc)) in ps.chunks(KEY_CHUNK).zip(labels[lb..lb + s].chunks(KEY_CHUNK)).enumerate() {
            let j0 = seg | (ci * KEY_CHUNK);
            for (k, ((&pv, &l), (kb, kp))) in pc.iter().zip(lc).zip(kbuf.iter_mut().zip(keep.iter_mut())).enumerate() {
                let l = l.as_i64();
                let valid = !(has_ig & (l == ig));
                let fg = l == cl;
                let e = ((fg as u8 as f32) - pv).abs();
                *kp = (valid & ((e > 0.0) | e.is_nan())) as u8;
                let payload = (((j0 + k) << 1) | fg as usize) as u32;
                *kb = ((desc_bits_positive(e) as u64) << 32) | payload as u64;
            }
            *m = compact(&kbuf[..pc.len()], &keep[..pc.len()], spare, *m);
        }
    }
}

/// Pixels per chunk of the key builders.
const KEY_CHUNK: usize = 256;

/// Largest buffer (in keys) a thread keeps for its next problem: `2^20` keys, 8 MiB (the keys
/// and the scratch of one problem of a 1024 x 1024 image).
pub const KEEP_KEYS: usize = 1 << 20;

thread_local! {
    /// This thread's key buffer and radix scratch, between problems.
    static BUFFERS: Cell<(Vec<u64>, Vec<u64>)> = const { Cell::new((Vec::new(), Vec::new())) };
}

/// This thread's buffers (taken out while a problem uses them): the keys emptied with room for
/// `n`, the scratch as it was left (the sort overwrites what it uses).
#[inline(always)]
fn take_buffers(n: usize) -> (Vec<u64>, Vec<u64>) {
    let (mut keys, scratch) = BUFFERS.with(|c| c.take());
    keys.clear();
    keys.reserve(n);
    (keys, scratch)
}

/// Gives the buffers back to this thread, unless one is larger than [`KEEP_KEYS`] (then both are
/// freed).
#[inline(always)]
fn keep_buffers(keys: Vec<u64>, scratch: Vec<u64>) {
    if keys.capacity() <= KEEP_KEYS && scratch.capacity() <= KEEP_KEYS {
        BUFFERS.with(|c| c.set((keys, scratch)));
    }
}

/// Phase 2 of the key builders: appends the kept keys of a chunk at `spare[m..]`, returns the new
/// length. Every key is written and only kept ones advance the position, so the loop carries one
/// integer addition (the keep flags were computed independently per pixel in phase 1).
#[inline(always)]
fn compact(keys: &[u64], keep: &[u8], spare: &mut [std::mem::MaybeUninit<u64>], mut m: usize) -> usize {
    for (&k, &f) in keys.iter().zip(keep) {
        spare[m].write(k);
        m += f as usize;
    }
    m
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

//! One sorting problem of the Lovász losses, from its pixels to its loss and gradient: the keys
//! of the pixels with a positive (or NaN) error, their sort, and the walk (see [`crate::driver`]
//! for how a batch is cut into problems).
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

use crate::driver::{cut_after_last_positive, last_positive_bound, local_shift, walk_keys, Label};
use crate::sort::{desc_bits_positive, sort_keys_vec, SortAlgo};
use segloss_core::input::Labels;
use segloss_core::reduce::SharedMut;
use segloss_core::simd::Level;
use std::cell::Cell;

/// Writes into the problem's gradient segments (`None`: no gradient).
struct Out<'a> {
    segs: Vec<&'a mut [f32]>,
    shift: u32,
}

impl Out<'_> {
    /// Zeroes the segments. Also when the keys cover every pixel, so that the walk's scattered
    /// writes find the lines in cache: skipping it made `lovasz_softmax` W2 slower (36.1 against
    /// 40.1 ms in one interleaved run).
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
        l if l.runs_avx2() => unsafe { hinge_problem_avx2(x, y, classify, bases, s, out, scale, algo) },
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
    cut_after_last_positive(&mut keys, g_total, scale);
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
/// from the gradient buffer itself when `p_in_out` (they are all read before anything is
/// written). `g_total` is the number of valid pixels labelled `c`.
pub(crate) struct SoftmaxProblem<'a> {
    pub p_src: &'a [f32],
    pub p_in_out: bool,
    pub labels: &'a Labels<'a>,
    pub c: usize,
    pub ignore: Option<i64>,
    pub bases: &'a [usize],
    pub label_bases: &'a [usize],
    pub s: usize,
    pub g_total: u64,
    pub scale: f64,
    pub algo: SortAlgo,
}

/// Solves `pr`: returns `sum e_sorted g`; writes `scale * d loss / d p_c` into `out` (all of the
/// problem's elements) when given.
///
/// # Safety
/// As [`hinge_problem`].
pub(crate) unsafe fn softmax_problem(pr: &SoftmaxProblem<'_>, out: Option<SharedMut<'_>>) -> f64 {
    match Level::current() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the AVX2 copy runs only where the CPU has AVX2 and FMA, checked here; the
        // segments' guarantee is the caller's.
        l if l.runs_avx2() => unsafe { softmax_problem_avx2(pr, out) },
        // SAFETY: forwarded to the caller.
        _ => unsafe { softmax_problem_body(pr, out) },
    }
}

/// [`softmax_problem_body`] compiled with AVX2 and FMA, where the key building, the radix passes and the
/// walk's vectorized loops take 256-bit registers.
///
/// # Safety
/// As [`softmax_problem`], and the CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn softmax_problem_avx2(pr: &SoftmaxProblem<'_>, out: Option<SharedMut<'_>>) -> f64 {
    // SAFETY: forwarded to the caller.
    unsafe { softmax_problem_body(pr, out) }
}

/// [`softmax_problem`]'s work, inlined into each level's copy.
///
/// # Safety
/// As [`softmax_problem`].
#[inline(always)]
unsafe fn softmax_problem_body(pr: &SoftmaxProblem<'_>, out: Option<SharedMut<'_>>) -> f64 {
    let &SoftmaxProblem { p_src, p_in_out, labels, c, ignore, bases, label_bases, s, g_total, scale, algo } = pr;
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
        let at = KeySite { segs: &segs, label_bases, s, c, ignore };
        match labels {
            Labels::U8(l) => softmax_keys(&at, l, softmax_bound(&at, l, g_total, scale), spare, &mut m),
            Labels::I32(l) => softmax_keys(&at, l, softmax_bound(&at, l, g_total, scale), spare, &mut m),
            Labels::I64(l) => softmax_keys(&at, l, softmax_bound(&at, l, g_total, scale), spare, &mut m),
        }
    }
    // SAFETY: the first m elements were written by softmax_keys.
    unsafe { keys.set_len(m) };
    if g_total == 0 {
        cut_after_last_positive(&mut keys, g_total, scale);
    }
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

/// Where a softmax problem's keys come from: its probability segments (each `s` long), where its
/// labels start for each segment, its class and the ignored label.
struct KeySite<'a> {
    segs: &'a [&'a [f32]],
    label_bases: &'a [usize],
    s: usize,
    c: usize,
    ignore: Option<i64>,
}

/// The key of pixel `j` (local index) with probability `pv` of the problem's class, and whether
/// it gets one (a positive or NaN error `|1[fg] - p|`).
#[inline(always)]
fn softmax_key(pv: f32, fg: bool, j: usize) -> (u64, bool) {
    let e = ((fg as u8 as f32) - pv).abs();
    let payload = ((j << 1) | fg as usize) as u32;
    (((desc_bits_positive(e) as u64) << 32) | payload as u64, (e > 0.0) | e.is_nan())
}

/// The largest key to keep (`u64::MAX`: all), from the problem's positives alone, before any key
/// is built: the bound of [`last_positive_bound`], which [`cut_after_last_positive`] would find
/// in the built keys. The positives are the pixels labelled `c` (a `1/C` share of a multiclass
/// batch), found 64 labels at a time, so this costs a pass over the labels and not over the
/// probabilities.
#[inline(always)]
fn softmax_bound<L: Label>(at: &KeySite<'_>, labels: &[L], g_total: u64, scale: f64) -> u64 {
    // (with `ignore_index = c` no positive is valid and `g_total` is 0)
    let cl = at.c as i64;
    if g_total == 0 {
        return u64::MAX;
    }
    let shift = local_shift(at.s);
    let (mut keyed, mut last) = (0u64, 0u64);
    for (si, (ps, &lb)) in at.segs.iter().zip(at.label_bases).enumerate() {
        for (bi, lc) in labels[lb..lb + at.s].chunks(64).enumerate() {
            let mut fg = 0u64;
            for (k, &l) in lc.iter().enumerate() {
                fg |= ((l.as_i64() == cl) as u64) << k;
            }
            while fg != 0 {
                let j = bi * 64 + fg.trailing_zeros() as usize;
                fg &= fg - 1;
                let (key, has_key) = softmax_key(ps[j], true, (si << shift) | j);
                keyed += has_key as u64;
                last = last.max(key); // a positive without a key leaves keyed < g_total: no bound
            }
        }
    }
    last_positive_bound(keyed, last, g_total, scale).unwrap_or(u64::MAX)
}

/// Writes the keys of the valid pixels with a positive (or NaN) error `|1[l = c] - p|` and a key
/// at most `bound` into `spare[..*m]` (branch-free: one write per pixel, `*m` advanced for the
/// kept ones).
#[inline(always)]
fn softmax_keys<L: Label>(at: &KeySite<'_>, labels: &[L], bound: u64, spare: &mut [std::mem::MaybeUninit<u64>], m: &mut usize) {
    let cl = at.c as i64;
    let (has_ig, ig) = (at.ignore.is_some(), at.ignore.unwrap_or(0));
    let shift = local_shift(at.s);
    let mut kbuf = [0u64; KEY_CHUNK];
    let mut keep = [0u8; KEY_CHUNK];
    for (si, (ps, &lb)) in at.segs.iter().zip(at.label_bases).enumerate() {
        let seg = si << shift;
        for (ci, (pc, lc)) in ps.chunks(KEY_CHUNK).zip(labels[lb..lb + at.s].chunks(KEY_CHUNK)).enumerate() {
            let j0 = seg | (ci * KEY_CHUNK);
            for (k, ((&pv, &l), (kb, kp))) in pc.iter().zip(lc).zip(kbuf.iter_mut().zip(keep.iter_mut())).enumerate() {
                let l = l.as_i64();
                let valid = !(has_ig & (l == ig));
                let (key, has_key) = softmax_key(pv, l == cl, j0 + k);
                *kp = (valid & has_key & (key <= bound)) as u8;
                *kb = key;
            }
            *m = compact(&kbuf[..pc.len()], &keep[..pc.len()], spare, *m);
        }
    }
}

/// Pixels per chunk of the key builders.
const KEY_CHUNK: usize = 256;

/// Largest buffer (in keys) a thread keeps for its next problem: `2^20` keys, 8 MiB (the keys
/// and the scratch of one problem of a 1024 x 1024 image).
pub(crate) const KEEP_KEYS: usize = 1 << 20;

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

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use segloss_core::rng::Rng;
    use std::borrow::Cow;

    /// The softmax problems find the bound of the cut from their positives before building keys
    /// ([`softmax_bound`]); the keys they build are those of [`cut_after_last_positive`] applied
    /// to all the keys: the same keys in the same order. Over two segments, with ties, an ignored
    /// label, a NaN probability, a positive at probability 1 (no key: nothing is cut), the
    /// ignored class, a class without positives, and a scale that is not finite.
    #[test]
    fn the_softmax_bound_keeps_the_keys_the_cut_keeps() {
        let mut r = Rng::new(3);
        let (n, s, classes) = (2usize, 1500usize, 4usize);
        let p: Vec<f32> = (0..n * s).map(|_| (r.next_f32() * 31.0).round() / 32.0).collect(); // below 1: every positive has a key
        let lab: Vec<u8> = (0..n * s).map(|_| (r.next_u64() % classes as u64) as u8).collect();
        let mut p_nan = p.clone();
        p_nan[11] = f32::NAN;
        let mut p_one = p.clone();
        let first2 = lab.iter().position(|&l| l == 2).unwrap();
        p_one[first2] = 1.0;
        let lab_no3: Vec<u8> = lab.iter().map(|&l| if l == 3 { 0 } else { l }).collect();
        // (name, probabilities, labels, class, ignore, scale, whether keys are cut)
        type Case<'a> = (&'a str, &'a [f32], &'a [u8], usize, Option<i64>, f64, bool);
        let cases: Vec<Case<'_>> = vec![
            ("ties", &p, &lab, 2, None, 0.5, true),
            ("ignored label", &p, &lab, 2, Some(1), 0.5, true),
            ("NaN probability", &p_nan, &lab, 2, None, 0.5, true),
            ("a positive at 1", &p_one, &lab, 2, None, 0.5, false),
            ("the ignored class", &p, &lab, 2, Some(2), 0.5, true),
            ("no positive", &p, &lab_no3, 3, None, 0.5, true),
            ("infinite scale", &p, &lab, 2, None, f64::INFINITY, false),
        ];
        for (name, p, lab, c, ignore, scale, cuts) in cases {
            let segs: Vec<&[f32]> = (0..n).map(|i| &p[i * s..(i + 1) * s]).collect();
            let label_bases: Vec<usize> = (0..n).map(|i| i * s).collect();
            let at = KeySite { segs: &segs, label_bases: &label_bases, s, c, ignore };
            let g_total = lab.iter().filter(|&&l| l as usize == c && ignore != Some(c as i64)).count() as u64;
            let build = |bound: u64| {
                let mut keys: Vec<u64> = Vec::with_capacity(n * s);
                let mut m = 0;
                softmax_keys(&at, lab, bound, keys.spare_capacity_mut(), &mut m);
                // SAFETY: softmax_keys wrote the first m keys.
                unsafe { keys.set_len(m) };
                keys
            };
            let all = build(u64::MAX);
            let mut want = all.clone();
            let cut = cut_after_last_positive(&mut want, g_total, scale);
            let mut got = build(softmax_bound(&at, lab, g_total, scale));
            if g_total == 0 {
                cut_after_last_positive(&mut got, g_total, scale);
            }
            assert_eq!(got, want, "{name}");
            assert_eq!(cut, cuts, "{name}: whether keys are cut ({} of {} kept)", want.len(), all.len());
        }
    }

    /// The two copies of a problem give the same bits (loss and every gradient element), as the
    /// module documentation states; ties and repeated values included, so the sort's order
    /// matters. Skipped (passes) on a CPU without AVX2 and FMA.
    #[test]
    fn levels_give_the_same_bits() {
        if !segloss_core::simd::avx2_fma() {
            return;
        }
        let mut r = Rng::new(11);
        for (n, s) in [(1usize, 1000usize), (3, 700), (2, 70_000)] {
            let len = n * s;
            // logits with repeats (ties), labels 0/1
            let x: Vec<f32> = (0..len).map(|_| (r.uniform(-3.0, 3.0) * 4.0).round() / 4.0).collect();
            let y: Vec<f32> = (0..len).map(|_| (r.next_f32() < 0.3) as u8 as f32).collect();
            let bases: Vec<usize> = (0..n).map(|i| i * s).collect();
            let classify = |v: f32| (true, v == 1.0);
            let (mut g0, mut g1) = (vec![f32::NAN; len], vec![f32::NAN; len]);
            // SAFETY: one problem owns the whole buffer; the CPU has AVX2 and FMA (checked above).
            let (l0, l1) = unsafe {
                (
                    hinge_problem_body(&x, &y, &classify, &bases, s, Some(SharedMut::new(&mut g0)), 0.37, SortAlgo::Radix),
                    hinge_problem_avx2(&x, &y, &classify, &bases, s, Some(SharedMut::new(&mut g1)), 0.37, SortAlgo::Radix),
                )
            };
            assert_eq!(l0.to_bits(), l1.to_bits(), "hinge loss, n {n} s {s}");
            assert!(g0.iter().zip(&g1).all(|(a, b)| a.to_bits() == b.to_bits()), "hinge gradient, n {n} s {s}");

            // softmax: class 1 of 3 over probabilities with repeats, labels 0..3
            let p: Vec<f32> = (0..len).map(|_| (r.next_f32() * 16.0).round() / 16.0).collect();
            let lab: Vec<u8> = (0..len).map(|_| (r.next_u64() % 3) as u8).collect();
            let g_total = lab.iter().filter(|&&l| l == 1).count() as u64;
            let labels = Labels::U8(Cow::Borrowed(&lab));
            let pr = SoftmaxProblem {
                p_src: &p,
                p_in_out: false,
                labels: &labels,
                c: 1,
                ignore: None,
                bases: &bases,
                label_bases: &bases,
                s,
                g_total,
                scale: 0.37,
                algo: SortAlgo::Radix,
            };
            let (mut g0, mut g1) = (vec![f32::NAN; len], vec![f32::NAN; len]);
            // SAFETY: as above.
            let (l0, l1) = unsafe {
                (softmax_problem_body(&pr, Some(SharedMut::new(&mut g0))), softmax_problem_avx2(&pr, Some(SharedMut::new(&mut g1))))
            };
            assert_eq!(l0.to_bits(), l1.to_bits(), "softmax loss, n {n} s {s}");
            assert!(g0.iter().zip(&g1).all(|(a, b)| a.to_bits() == b.to_bits()), "softmax gradient, n {n} s {s}");
        }
    }
}

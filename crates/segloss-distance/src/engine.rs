//! The separable exact EDT engine shared by [`crate::edt`] and the U-Net weight maps.
//!
//! Axis 0 is a forward and a backward sweep over whole rows (planes in 3D) that counts, for each
//! position, the steps to the nearest zero along axis 0 (`u32`, [`G_INF`] when the column has
//! no zero). Rows are contiguous, so the sweeps vectorize; they run in parallel over strips of
//! [`STRIP`] columns. Every further axis is a Felzenszwalb-Huttenlocher lower envelope of
//! parabolas over one line of squared distances in `f64` ([`fh_line`]); the last axis writes each
//! squared distance, or its square root, as `f32`. The counts live in the output buffer itself
//! (as `u32` bits) until the line or slice that holds them has been read into scratch.
//!
//! Both passes run at the process's SIMD level (`segloss_core::simd::Level::current`): each
//! strip of the first pass, each chunk of rows (2D) and each slice (3D) of the later ones is one
//! `#[inline(always)]` body compiled as the build compiles it, with AVX2 and FMA, and (the later
//! passes) with the AVX-512 level's features as well. Nothing here fuses a multiply with an add,
//! so every level gives the same bits.

use crate::values::MaskValue;
use rayon::prelude::*;
use segloss_core::simd::Level;

/// "No zero along this column" in the first pass.
pub(crate) const G_INF: u32 = u32::MAX;
/// Columns per parallel task of the first pass (a multiple of every vector width).
const STRIP: usize = 256;
/// Columns transposed together in the axis-1 pass of a 3D slice.
const COLS: usize = 8;
/// Runs of at most this many pixels are transformed by exhaustive search ([`exhaustive_run`]).
const SHORT_RUN: usize = 64;
/// Pixels per parallel task of the 2D row pass.
const TASK_PIXELS: usize = 1 << 15;

#[derive(Clone, Copy)]
struct SyncPtr(*mut u32);
// SAFETY: used only by `count_pass`, whose tasks touch disjoint column strips.
unsafe impl Send for SyncPtr {}
unsafe impl Sync for SyncPtr {}

impl SyncPtr {
    /// The pointer (a method, so closures capture the whole `Sync` wrapper).
    fn get(&self) -> *mut u32 {
        self.0
    }
}

/// Steps to the nearest zero along axis 0, for a row-major array of `n0` planes of `plane`
/// elements each, written into `g` (same length as `mask`), at `level`.
fn count_pass<T: MaskValue>(level: Level, mask: &[T], n0: usize, plane: usize, g: &mut [u32]) {
    assert_eq!(mask.len(), n0 * plane);
    assert_eq!(g.len(), n0 * plane);
    let ptr = SyncPtr(g.as_mut_ptr());
    let strips = plane.div_ceil(STRIP);
    // SAFETY: each task reads and writes only columns j0..j0 + len of every plane, a range no other
    // task touches, all in bounds of `g` (n0 * plane elements, asserted above), which is
    // exclusively borrowed for the duration of this function.
    let run = |s: usize| unsafe { count_strip(level, mask, ptr, n0, plane, s * STRIP, STRIP.min(plane - s * STRIP)) };
    if strips == 1 || n0 * plane < TASK_PIXELS {
        (0..strips).for_each(run);
    } else {
        (0..strips).into_par_iter().for_each(run);
    }
}

/// One strip (columns `j0..j0 + len` of every plane) of [`count_pass`] at `level`.
///
/// # Safety
/// The strip is in bounds of the `n0 * plane` elements at `g`, and no other thread touches it.
#[allow(clippy::too_many_arguments)]
unsafe fn count_strip<T: MaskValue>(level: Level, mask: &[T], g: SyncPtr, n0: usize, plane: usize, j0: usize, len: usize) {
    match level {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the AVX2 copy runs only where the CPU has AVX2 and FMA, checked here; the
        // strip's guarantee is the caller's.
        l if l.runs_avx2() => unsafe { count_strip_avx2(mask, g, n0, plane, j0, len) },
        // SAFETY: forwarded to the caller.
        _ => unsafe { count_strip_body(mask, g, n0, plane, j0, len) },
    }
}

/// [`count_strip_body`] compiled with AVX2 and FMA (the `u32` minimum and saturating add
/// vectorize 8 wide; SSE2 has neither instruction).
///
/// # Safety
/// As [`count_strip`], and the CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn count_strip_avx2<T: MaskValue>(mask: &[T], g: SyncPtr, n0: usize, plane: usize, j0: usize, len: usize) {
    // SAFETY: forwarded to the caller.
    unsafe { count_strip_body(mask, g, n0, plane, j0, len) }
}

/// [`count_strip`]'s work, inlined into each level's copy.
///
/// # Safety
/// As [`count_strip`].
#[inline(always)]
unsafe fn count_strip_body<T: MaskValue>(mask: &[T], g: SyncPtr, n0: usize, plane: usize, j0: usize, len: usize) {
    // SAFETY: `cur` and `prev` / `next` are distinct planes (disjoint ranges) of this strip, which
    // the caller guarantees is in bounds and this thread's alone.
    let row = |i: usize| unsafe { std::slice::from_raw_parts_mut(g.get().add(i * plane + j0), len) };
    let m0 = &mask[j0..j0 + len];
    for (o, &m) in row(0).iter_mut().zip(m0) {
        *o = if m.is_foreground() { G_INF } else { 0 };
    }
    for i in 1..n0 {
        let prev: &[u32] = row(i - 1);
        let cur = row(i);
        let m = &mask[i * plane + j0..i * plane + j0 + len];
        for ((o, &p), &mv) in cur.iter_mut().zip(prev).zip(m) {
            *o = if mv.is_foreground() { p.saturating_add(1) } else { 0 };
        }
    }
    for i in (0..n0.saturating_sub(1)).rev() {
        let next: &[u32] = row(i + 1);
        let cur = row(i);
        // in fixed blocks of 8 (as a plain loop over the two rows, LLVM keeps this one scalar)
        let mut oc = cur.chunks_exact_mut(8);
        let mut nc = next.chunks_exact(8);
        for (o8, n8) in (&mut oc).zip(&mut nc) {
            let (o8, n8): (&mut [u32; 8], &[u32; 8]) = (o8.try_into().expect("8"), n8.try_into().expect("8"));
            *o8 = std::array::from_fn(|k| o8[k].min(n8[k].saturating_add(1)));
        }
        for (o, &nx) in oc.into_remainder().iter_mut().zip(nc.remainder()) {
            *o = (*o).min(nx.saturating_add(1));
        }
    }
}

/// Squared distance along axis 0 of a first-pass count.
#[inline(always)]
pub(crate) fn count_to_sq(g: u32, s0: f64) -> f64 {
    if g == G_INF {
        f64::INFINITY
    } else {
        let t = g as f64 * s0;
        t * t
    }
}

/// Scratch of the lower envelope for lines up to `n` long: per parabola of the envelope, its
/// root `q` and value `f[q]` (as `f64`), `h = f[q] + s^2 q^2`, and the left end `zn / zd` of the
/// interval where it is the minimum.
pub(crate) struct Envelope {
    q: Vec<f64>,
    fq: Vec<f64>,
    h: Vec<f64>,
    zn: Vec<f64>,
    zd: Vec<f64>,
}

impl Envelope {
    /// Grows the scratch to lines of up to `n` pixels (no allocation when it is large enough).
    pub(crate) fn ensure(&mut self, n: usize) {
        if self.q.len() < n {
            *self = Envelope::new(n);
        }
    }

    pub(crate) fn new(n: usize) -> Self {
        Envelope { q: vec![0.0; n], fq: vec![0.0; n], h: vec![0.0; n], zn: vec![0.0; n], zd: vec![0.0; n] }
    }
}

/// One line of the Felzenszwalb-Huttenlocher transform: `d[p] = min_q f[q] + ((p - q) s)^2`
/// for every `p`, `+inf` where every `f[q]` is `+inf`.
///
/// A site with `f[q] <= s^2` (a zero pixel, or a pixel whose nearest zero on the earlier axes is
/// within one step of this axis) is final and a barrier. Final: every other site gives
/// `f[q'] + ((q - q') s)^2 >= s^2 >= f[q]` (also after rounding, which is monotonic). Barrier:
/// for `p` on one side of `q`, a site `q'` beyond it has `|p - q'| >= |p - q| + 1`, so
/// `f[q'] + ((p - q') s)^2 >= ((p - q) s)^2 + (2 |p - q| + 1) s^2 > f[q] + ((p - q) s)^2` (the
/// margin, at least `2 s^2`, is far above rounding). The line is therefore cut at these sites,
/// which keep their value, and each run between them is transformed with the sites that bound
/// it as its only outside sites.
#[inline(always)]
pub(crate) fn fh_line(f: &[f64], s: f64, env: &mut Envelope, d: &mut [f64]) {
    let n = f.len();
    let s2 = s * s;
    let mut i = 0;
    while i < n {
        if f[i] <= s2 {
            d[i] = f[i];
            i += 1;
            continue;
        }
        let a = i;
        while i < n && f[i] > s2 {
            i += 1;
        }
        let lo = a.saturating_sub(1);
        let hi = (i + 1).min(n);
        if i - a <= SHORT_RUN {
            exhaustive_run(&f[lo..hi], s, a - lo, &mut d[a..i]);
        } else {
            envelope_run(&f[lo..hi], s, env, a - lo, &mut d[a..i]);
        }
    }
}

/// `d[i] = min_q f[q] + ((out_lo + i - q) s)^2` by exhaustive search, for short runs: below
/// [`SHORT_RUN`] pixels it beats the envelope, whose pops and ranges are data-dependent branches.
/// Eight outputs at a time keep their minimum in registers over every site (no branch, and no
/// store of a partial minimum that the next site reads back: that masked store and reload had
/// taken a quarter of the EDT's time). The sites are visited in order and a candidate replaces
/// the minimum only when smaller, and each candidate is summed as the envelope sums it, so both
/// give the same bits.
#[inline(always)]
fn exhaustive_run(f: &[f64], s: f64, out_lo: usize, d: &mut [f64]) {
    let x_lo = out_lo as i64 as f64;
    for (c, o) in d.chunks_mut(8).enumerate() {
        // the outputs' offsets from the run's start, as exact f64 integers
        let pos: [f64; 8] = std::array::from_fn(|k| (c * 8 + k) as f64);
        let mut acc = [f64::INFINITY; 8];
        let mut x0 = x_lo;
        for &fq in f {
            if fq != f64::INFINITY {
                acc = std::array::from_fn(|k| {
                    let t = (x0 + pos[k]) * s;
                    let v = fq + t * t;
                    if v < acc[k] {
                        v
                    } else {
                        acc[k]
                    }
                });
            }
            x0 -= 1.0;
        }
        o.copy_from_slice(&acc[..o.len()]);
    }
}

/// The lower envelope of the parabolas rooted at the finite `f[q]`, evaluated at
/// `out_lo..out_lo + d.len()` into `d`.
///
/// The envelope keeps parabolas `0..k`; parabola `j` is the minimum on `[z[j], z[j + 1]]`,
/// `z[j] = zn[j] / zd[j]` with `zd[j] > 0` (`z[0] = -inf`). The intersection of the parabolas
/// rooted at `q > v` is `((f[q] + s^2 q^2) - (f[v] + s^2 v^2)) / (2 s^2 (q - v))`, kept as that
/// fraction and compared by cross-multiplication. With unit spacing and integer `f`, numerators
/// and denominators are integers and every product is an integer below 2^53 (for lines up to
/// 2^16 pixels), so every comparison is exact (see [`crate::edt`]).
///
/// Parabola `j` serves the pixels `p` with `p zd[j + 1] <= zn[j + 1]`: the last one is
/// `floor(zn / zd)`, taken from one division and corrected by the exact product test, so each
/// parabola fills a contiguous range without a per-pixel branch. The value at `p` is summed as
/// `f[v] + ((p - v) s)^2`, the order a brute force uses.
#[inline(always)]
fn envelope_run(f: &[f64], s: f64, env: &mut Envelope, out_lo: usize, d: &mut [f64]) {
    let n = f.len();
    let s2 = s * s;
    let two_s2 = 2.0 * s2;
    let (rq, rf, h, zn, zd) = (&mut env.q[..n], &mut env.fq[..n], &mut env.h[..n], &mut env.zn[..n], &mut env.zd[..n]);
    // Positions are carried as f64 counters (exact integers): `usize as f64` is a multi-instruction
    // sequence on x86-64 without AVX-512. The top of the envelope lives in locals (`t*`), the
    // parabolas below it in the arrays, so the common case (no pop) reads no memory just written.
    let mut k = 0usize;
    let (mut tq, mut tf, mut th, mut tzn, mut tzd) = (0.0f64, 0.0f64, 0.0f64, f64::NEG_INFINITY, 1.0f64);
    let mut qf = -1.0f64;
    for &fq in f.iter() {
        qf += 1.0;
        if fq == f64::INFINITY {
            continue;
        }
        let hq = fq + s2 * (qf * qf);
        if k == 0 {
            (tq, tf, th, tzn, tzd) = (qf, fq, hq, f64::NEG_INFINITY, 1.0);
            k = 1;
            continue;
        }
        let (num, den) = loop {
            let num = hq - th;
            let den = two_s2 * (qf - tq);
            if k > 1 && num * tzd <= tzn * den {
                k -= 1;
                let b = k - 1;
                (tq, tf, th, tzn, tzd) = (rq[b], rf[b], h[b], zn[b], zd[b]);
            } else {
                break (num, den);
            }
        };
        let b = k - 1;
        (rq[b], rf[b], h[b], zn[b], zd[b]) = (tq, tf, th, tzn, tzd);
        (tq, tf, th, tzn, tzd) = (qf, fq, hq, num, den);
        k += 1;
    }
    if k > 0 {
        let b = k - 1;
        (rq[b], rf[b], h[b], zn[b], zd[b]) = (tq, tf, th, tzn, tzd);
    }
    if k == 0 {
        d.fill(f64::INFINITY);
        return;
    }
    // Output positions out_lo..end, as f64 counters too.
    let len = d.len();
    let end = (out_lo + len) as i64 as f64;
    let mut p = 0usize; // next output index into d
    let mut pf = out_lo as i64 as f64; // its position
    for j in 0..k {
        let stop = if j + 1 == k {
            len
        } else {
            let (num, den) = (zn[j + 1], zd[j + 1]);
            let mut e = (num / den).floor();
            if e * den > num {
                e -= 1.0;
            } else if (e + 1.0) * den <= num {
                e += 1.0;
            }
            // Parabola j serves positions pf..=e (possibly none).
            if e < pf {
                continue;
            }
            if e >= end - 1.0 {
                len
            } else {
                p + (e - pf) as usize + 1
            }
        };
        let (qv, fv) = (rq[j], rf[j]);
        let mut x = pf - qv;
        for o in d[p..stop].iter_mut() {
            let t = x * s;
            *o = fv + t * t;
            x += 1.0;
        }
        pf += (stop - p) as f64;
        p = stop;
        if p >= len {
            break;
        }
    }
}

/// What the last axis writes for each squared distance `d`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Output {
    /// `d` as `f32`.
    Squared,
    /// `sqrt(d)` in `f64`, rounded to `f32`.
    Root,
    /// `sqrt(d as f32)`: the same bits as [`Output::Root`] when every finite `d` is an integer
    /// below 2^24 (unit spacing on an image whose diagonal is shorter than 4096 pixels): `d as
    /// f32` is then exact, and both are the correctly rounded root (an `f64` root rounded to
    /// `f32` is, since 53 >= 2 * 24 + 2). Eight lanes per `sqrtps` instead of four per `sqrtpd`.
    RootF32,
}

impl Output {
    fn of(squared: bool, shape: &[usize], spacing: &[f64]) -> Output {
        // the largest squared distance with unit spacing: the squared diagonal
        let diag2: f64 = shape.iter().map(|&n| ((n - 1) as f64).powi(2)).sum();
        if squared {
            Output::Squared
        } else if spacing.iter().all(|&s| s == 1.0) && diag2 < 16_777_216.0 {
            Output::RootF32
        } else {
            Output::Root
        }
    }
}

/// Writes the output elements of the squared distances `d` into `row` (as `f32` bits), one loop
/// per [`Output`].
#[inline(always)]
fn write_row(row: &mut [u32], d: &[f64], out: Output) {
    let pairs = row.iter_mut().zip(d);
    match out {
        Output::Squared => pairs.for_each(|(o, &dv)| *o = (dv as f32).to_bits()),
        Output::Root => pairs.for_each(|(o, &dv)| *o = (dv.sqrt() as f32).to_bits()),
        Output::RootF32 => pairs.for_each(|(o, &dv)| *o = (dv as f32).sqrt().to_bits()),
    }
}

/// Squared EDT (or EDT) of a row-major 2D or 3D mask into `out`.
/// The caller has validated the rank (2 or 3), the sizes (nonzero) and the spacing.
///
/// The counts of the first pass live in `out` itself (as `u32`), each later pass reading a line
/// into scratch before writing it back, so the transform allocates no image-sized buffer.
pub(crate) fn squared_edt<T: MaskValue>(mask: &[T], shape: &[usize], spacing: &[f64], out: &mut [f32], squared: bool) {
    squared_edt_at(Level::current(), mask, shape, spacing, out, squared)
}

/// [`squared_edt`] at `level`.
fn squared_edt_at<T: MaskValue>(level: Level, mask: &[T], shape: &[usize], spacing: &[f64], out: &mut [f32], squared: bool) {
    // SAFETY: f32 and u32 have the same size and alignment, and every bit pattern is valid for
    // both; `store` is the only access to `out` while it lives.
    let store: &mut [u32] = unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<u32>(), out.len()) };
    match *shape {
        [h, w] => edt2(level, mask, h, w, spacing[0], spacing[1], store, Output::of(squared, shape, spacing)),
        [d, h, w] => edt3(level, mask, d, h, w, [spacing[0], spacing[1], spacing[2]], store, Output::of(squared, shape, spacing)),
        _ => unreachable!("rank checked by the caller"),
    }
}

#[allow(clippy::too_many_arguments)]
fn edt2<T: MaskValue>(level: Level, mask: &[T], h: usize, w: usize, s0: f64, s1: f64, store: &mut [u32], out: Output) {
    count_pass(level, mask, h, w, store);
    let rows = (TASK_PIXELS / w).max(1);
    let task = |chunk: &mut [u32], sc: &mut (Vec<f64>, Vec<f64>, Envelope)| {
        let (f, d, env) = sc;
        rows2(level, chunk, w, s0, s1, f, d, env, out);
    };
    let init = || (vec![0.0f64; w], vec![0.0f64; w], Envelope::new(w));
    if h * w <= TASK_PIXELS {
        let mut sc = init();
        task(store, &mut sc);
    } else {
        store.par_chunks_mut(rows * w).for_each_init(init, |sc, chunk| task(chunk, sc));
    }
}

/// The axis-1 pass of [`edt2`] over whole rows of `chunk` (`w` pixels each), at `level`.
#[allow(clippy::too_many_arguments)]
fn rows2(level: Level, chunk: &mut [u32], w: usize, s0: f64, s1: f64, f: &mut [f64], d: &mut [f64], env: &mut Envelope, out: Output) {
    match level {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the AVX-512 copy runs only where the CPU has its features, checked here.
        Level::Avx512 if segloss_core::simd::avx512() => unsafe { rows2_avx512(chunk, w, s0, s1, f, d, env, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the AVX2 copy runs only where the CPU has AVX2 and FMA, checked here.
        l if l.runs_avx2() => unsafe { rows2_avx2(chunk, w, s0, s1, f, d, env, out) },
        _ => rows2_body(chunk, w, s0, s1, f, d, env, out),
    }
}

/// [`rows2_body`] compiled with AVX2 and FMA (the conversions, the exhaustive search of short
/// runs and the envelope's fills vectorize 4 wide in `f64`).
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn rows2_avx2(chunk: &mut [u32], w: usize, s0: f64, s1: f64, f: &mut [f64], d: &mut [f64], env: &mut Envelope, out: Output) {
    rows2_body(chunk, w, s0, s1, f, d, env, out)
}

/// [`rows2_body`] compiled with AVX2, FMA and the AVX-512 level's features
/// (`segloss_core::simd::AVX512_FEATURES`): the AVX2 copy's operations with 32 registers.
///
/// # Safety
/// The CPU must have those features.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,avx512f,avx512vl,avx512bw,avx512dq")]
#[allow(clippy::too_many_arguments)]
unsafe fn rows2_avx512(chunk: &mut [u32], w: usize, s0: f64, s1: f64, f: &mut [f64], d: &mut [f64], env: &mut Envelope, out: Output) {
    rows2_body(chunk, w, s0, s1, f, d, env, out)
}

/// [`rows2`]'s work, inlined into each level's copy.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn rows2_body(chunk: &mut [u32], w: usize, s0: f64, s1: f64, f: &mut [f64], d: &mut [f64], env: &mut Envelope, out: Output) {
    for row in chunk.chunks_mut(w) {
        for (fj, &gj) in f.iter_mut().zip(row.iter()) {
            *fj = count_to_sq(gj, s0);
        }
        fh_line(f, s1, env, d);
        write_row(row, d, out);
    }
}

#[allow(clippy::too_many_arguments)]
fn edt3<T: MaskValue>(level: Level, mask: &[T], d: usize, h: usize, w: usize, s: [f64; 3], store: &mut [u32], out: Output) {
    let plane = h * w;
    count_pass(level, mask, d, plane, store);
    let task = |slice: &mut [u32], sc: &mut Scratch3| slice3(level, slice, h, w, s, sc, out);
    let init = || (vec![0.0f64; plane], vec![0.0f64; COLS * h], vec![0.0f64; (COLS * h).max(w)], Envelope::new(h.max(w)));
    if d * plane <= TASK_PIXELS {
        let mut sc = init();
        store.chunks_mut(plane).for_each(|slice| task(slice, &mut sc));
    } else {
        store.par_chunks_mut(plane).for_each_init(init, |sc, slice| task(slice, sc));
    }
}

/// The scratch of one 3D slice: the slice after axis 1, `COLS` transposed columns, one line's
/// output, and the envelope.
type Scratch3 = (Vec<f64>, Vec<f64>, Vec<f64>, Envelope);

/// Axes 1 and 2 of one slice (`h` rows of `w`) of [`edt3`], at `level`.
fn slice3(level: Level, slice: &mut [u32], h: usize, w: usize, s: [f64; 3], sc: &mut Scratch3, out: Output) {
    match level {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the AVX-512 copy runs only where the CPU has its features, checked here.
        Level::Avx512 if segloss_core::simd::avx512() => unsafe { slice3_avx512(slice, h, w, s, sc, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the AVX2 copy runs only where the CPU has AVX2 and FMA, checked here.
        l if l.runs_avx2() => unsafe { slice3_avx2(slice, h, w, s, sc, out) },
        _ => slice3_body(slice, h, w, s, sc, out),
    }
}

/// [`slice3_body`] compiled with AVX2 and FMA.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn slice3_avx2(slice: &mut [u32], h: usize, w: usize, s: [f64; 3], sc: &mut Scratch3, out: Output) {
    slice3_body(slice, h, w, s, sc, out)
}

/// [`slice3_body`] compiled with AVX2, FMA and the AVX-512 level's features.
///
/// # Safety
/// The CPU must have those features.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,avx512f,avx512vl,avx512bw,avx512dq")]
unsafe fn slice3_avx512(slice: &mut [u32], h: usize, w: usize, s: [f64; 3], sc: &mut Scratch3, out: Output) {
    slice3_body(slice, h, w, s, sc, out)
}

/// [`slice3`]'s work, inlined into each level's copy.
#[inline(always)]
fn slice3_body(slice: &mut [u32], h: usize, w: usize, s: [f64; 3], sc: &mut Scratch3, out: Output) {
    {
        let (buf, cols, dl, env) = sc;
        // Axis 1: columns of the slice, COLS at a time: a blocked transpose into `cols` (row
        // segments read contiguously), one line each, and the transpose back into `buf`.
        for j0 in (0..w).step_by(COLS) {
            let nb = COLS.min(w - j0);
            for i in 0..h {
                for (b, &g) in slice[i * w + j0..i * w + j0 + nb].iter().enumerate() {
                    cols[b * h + i] = count_to_sq(g, s[0]);
                }
            }
            for b in 0..nb {
                let (src, dst) = (&cols[b * h..(b + 1) * h], &mut dl[b * h..(b + 1) * h]);
                fh_line(src, s[1], env, dst);
            }
            for i in 0..h {
                for (b, o) in buf[i * w + j0..i * w + j0 + nb].iter_mut().enumerate() {
                    *o = dl[b * h + i];
                }
            }
        }
        // Axis 2: rows, written to the output.
        for (i, orow) in slice.chunks_mut(w).enumerate() {
            fh_line(&buf[i * w..(i + 1) * w], s[2], env, &mut dl[..w]);
            write_row(orow, &dl[..w], out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// With spacing, the envelope may settle a near tie on the other site: the two sums differ by
    /// a few units in the last place of the f64.
    const SPACING_REL: f64 = 1e-13;

    /// A line of squared distances as the passes see them: zeros, +inf (no zero on the earlier
    /// axes) and integers (unit spacing) or arbitrary values (spacing), long enough to take the
    /// envelope path.
    fn line() -> impl Strategy<Value = Vec<f64>> {
        prop::collection::vec(
            prop_oneof![
                1 => Just(0.0f64),
                1 => Just(f64::INFINITY),
                6 => (0u32..2000).prop_map(|v| v as f64),
                2 => (0u32..40).prop_map(|v| (v * v) as f64),
            ],
            1..400,
        )
    }

    fn check(f: &[f64], s: f64) -> Result<(), TestCaseError> {
        let n = f.len();
        let mut env = Envelope::new(n);
        let mut by_envelope = vec![0.0; n];
        let mut by_search = vec![0.0; n];
        envelope_run(f, s, &mut env, 0, &mut by_envelope);
        exhaustive_run(f, s, 0, &mut by_search);
        let mut by_line = vec![0.0; n];
        fh_line(f, s, &mut env, &mut by_line);
        for p in 0..n {
            let (a, b, c) = (by_envelope[p], by_search[p], by_line[p]);
            if s == 1.0 {
                prop_assert_eq!(a.to_bits(), b.to_bits(), "envelope at {}", p);
                prop_assert_eq!(c.to_bits(), b.to_bits(), "fh_line at {}", p);
            } else {
                prop_assert!(a == b || (a - b).abs() <= SPACING_REL * b, "envelope at {}: {} vs {}", p, a, b);
                prop_assert!(c == b || (c - b).abs() <= SPACING_REL * b, "fh_line at {}: {} vs {}", p, c, b);
            }
        }
        Ok(())
    }

    /// [`Output::RootF32`]'s claim: below 2^24, the `f32` root of every integer is the `f64`
    /// root rounded to `f32`, bit for bit (and both keep `+inf`).
    #[test]
    fn f32_root_of_small_integers_is_the_f64_root() {
        for d in 0..(1u32 << 24) {
            let v = d as f64;
            assert_eq!((v as f32).sqrt().to_bits(), (v.sqrt() as f32).to_bits(), "d = {d}");
        }
        assert_eq!((f64::INFINITY as f32).sqrt(), f32::INFINITY);
    }

    /// The unsquared transform is the `f64` root of the squared one, rounded to `f32`, whichever
    /// [`Output`] the shape and spacing select (the `f32` root on small unit-spacing images, the
    /// `f64` one on a long one and with spacing).
    #[test]
    fn root_is_the_root_of_the_squared_transform() {
        let mut r = segloss_core::rng::Rng::new(9);
        for (shape, spacing) in [
            (vec![300usize, 257], vec![1.0, 1.0]),
            (vec![3, 4200], vec![1.0, 1.0]),
            (vec![40, 50], vec![0.5, 1.3]),
            (vec![9, 41, 67], vec![1.0, 1.0, 1.0]),
        ] {
            let n: usize = shape.iter().product();
            let mask: Vec<u8> = (0..n).map(|_| (r.next_f32() >= 0.01) as u8).collect();
            let (mut sq, mut root) = (vec![0.0f32; n], vec![0.0f32; n]);
            squared_edt(&mask, &shape, &spacing, &mut sq, true);
            squared_edt(&mask, &shape, &spacing, &mut root, false);
            let want = Output::of(false, &shape, &spacing);
            for (i, (&a, &b)) in root.iter().zip(&sq).enumerate() {
                // (with spacing the squared output is rounded to f32: compare within an ulp)
                let exact = ((b as f64).sqrt() as f32).to_bits();
                let ok = if want == Output::RootF32 { a.to_bits() == exact } else { a.to_bits().abs_diff(exact) <= 1 };
                assert!(ok, "{shape:?} {spacing:?} ({want:?}) element {i}: {a} vs sqrt({b})");
            }
        }
        assert_eq!(Output::of(false, &[300, 257], &[1.0, 1.0]), Output::RootF32);
        assert_eq!(Output::of(false, &[3, 4200], &[1.0, 1.0]), Output::Root);
        assert_eq!(Output::of(false, &[40, 50], &[0.5, 1.3]), Output::Root);
        assert_eq!(Output::of(true, &[40, 50], &[1.0, 1.0]), Output::Squared);
    }

    /// Every level this CPU runs gives the baseline's bits (the module documentation's claim),
    /// in 2D and 3D, with unit and anisotropic spacing, squared or not, on masks with short and
    /// long runs, and larger than one parallel task.
    #[test]
    fn levels_give_the_same_bits() {
        let mut r = segloss_core::rng::Rng::new(3);
        for shape in [vec![300usize, 257], vec![37, 1100], vec![9, 41, 67]] {
            let n: usize = shape.iter().product();
            // sparse zeros (long runs) in one half, dense zeros (short runs) in the other
            let mask: Vec<u8> = (0..n).map(|i| (r.next_f32() >= if i < n / 2 { 0.002 } else { 0.2 }) as u8).collect();
            for spacing in [vec![1.0; shape.len()], (0..shape.len()).map(|k| 0.7 + 0.45 * k as f64).collect()] {
                for squared in [true, false] {
                    let mut want = vec![0.0f32; n];
                    squared_edt_at(Level::Baseline, &mask, &shape, &spacing, &mut want, squared);
                    for level in Level::supported_levels() {
                        let mut got = vec![f32::NAN; n];
                        squared_edt_at(level, &mask, &shape, &spacing, &mut got, squared);
                        let same = got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits());
                        assert!(same, "{level:?} {shape:?} {spacing:?} squared={squared}: differs from the baseline");
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// The envelope (long runs) and the exhaustive search (short runs) agree on whole lines of
        /// any length, and so does the line driver that cuts at barriers and picks between them.
        #[test]
        fn envelope_equals_exhaustive_search(f in line()) {
            check(&f, 1.0)?;
        }

        #[test]
        fn envelope_equals_exhaustive_search_with_spacing(f in line(), s in 0.1f64..7.0) {
            check(&f, s)?;
        }
    }

    #[test]
    fn all_infinite_line_stays_infinite() {
        let f = vec![f64::INFINITY; 100];
        let mut env = Envelope::new(100);
        let mut d = vec![0.0; 100];
        fh_line(&f, 1.0, &mut env, &mut d);
        assert!(d.iter().all(|&v| v == f64::INFINITY));
    }
}

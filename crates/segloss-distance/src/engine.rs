//! The separable exact EDT engine shared by [`crate::edt`] and the U-Net weight maps.
//!
//! Axis 0 is a forward and a backward sweep over whole rows (planes in 3D) that counts, for each
//! position, the steps to the nearest zero along axis 0 (`u32`, [`G_INF`] when the column has
//! no zero). Rows are contiguous, so the sweeps vectorize; they run in parallel over strips of
//! [`STRIP`] columns. Every further axis is a Felzenszwalb-Huttenlocher lower envelope of
//! parabolas over one line of squared distances in `f64` ([`fh_line`], in [`crate::line`]); the
//! last axis writes each squared distance, or its square root, as `f32`. The counts live in the output buffer itself
//! (as `u32` bits) until the line or slice that holds them has been read into scratch.
//!
//! Both passes run at the process's SIMD level (`segloss_core::simd::Level::current`): each
//! strip of the first pass, each chunk of rows (2D) and each slice (3D) of the later ones is one
//! `#[inline(always)]` body compiled as the build compiles it, with AVX2 and FMA, and (the later
//! passes) with the AVX-512 level's features as well. Nothing here fuses a multiply with an add,
//! so every level gives the same bits.

use crate::line::{fh_line, Envelope};
use crate::values::MaskValue;
use rayon::prelude::*;
use segloss_core::simd::Level;

/// "No zero along this column" in the first pass.
pub(crate) const G_INF: u32 = u32::MAX;
/// Columns per parallel task of the first pass (a multiple of every vector width).
const STRIP: usize = 256;
/// Columns transposed together in the axis-1 pass of a 3D slice.
const COLS: usize = 8;
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

segloss_core::level_copies! {
    /// The axis-1 pass of [`edt2`] over whole rows of `chunk` (`w` pixels each), at `level` (the
    /// AVX2 copy vectorizes the exhaustive search of short runs and the envelope's fills 4 wide in
    /// `f64`; the AVX-512 copy does the same with 32 registers, and converts the counts 8 at a
    /// time, `vcvtudq2pd`. AVX2 has no unsigned conversion, so its copy converts one count at a
    /// time: a conversion through `i32` that vectorizes, exact for every count, measured EDT
    /// 2048^2 10.4 -> 10.8 ms and 128^3 6.43 -> 6.61 at that level, 5 rounds, and was not kept).
    #[allow(clippy::too_many_arguments)]
    fn rows2(chunk: &mut [u32], w: usize, s0: f64, s1: f64, f: &mut [f64], d: &mut [f64], env: &mut Envelope, out: Output) => rows2_body
}

/// [`rows2`]'s work, inlined into each level's copy.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn rows2_body(chunk: &mut [u32], w: usize, s0: f64, s1: f64, f: &mut [f64], d: &mut [f64], env: &mut Envelope, out: Output) {
    for row in chunk.chunks_mut(w) {
        for (fj, &gj) in f.iter_mut().zip(row.iter()) {
            *fj = count_to_sq(gj, s0);
        }
        fh_line::<true>(f, s1, env, d);
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

/// The scratch of one 3D slice: the slice as squared distances (those of axis 0, then after
/// axis 1), `COLS` transposed columns, one line's output, and the envelope.
type Scratch3 = (Vec<f64>, Vec<f64>, Vec<f64>, Envelope);

segloss_core::level_copies! {
    /// Axes 1 and 2 of one slice (`h` rows of `w`) of [`edt3`], at `level`.
    fn slice3(slice: &mut [u32], h: usize, w: usize, s: [f64; 3], sc: &mut Scratch3, out: Output) => slice3_body
}

/// [`slice3`]'s work, inlined into each level's copy.
#[inline(always)]
fn slice3_body(slice: &mut [u32], h: usize, w: usize, s: [f64; 3], sc: &mut Scratch3, out: Output) {
    let (buf, cols, dl, env) = sc;
    // The counts as squared distances, in one contiguous pass, out of the strided transpose below
    // (at the AVX-512 level it vectorizes, `vcvtudq2pd`; AVX2 has no unsigned conversion and
    // converts one element at a time, as the transpose did).
    for (o, &g) in buf.iter_mut().zip(slice.iter()) {
        *o = count_to_sq(g, s[0]);
    }
    // Axis 1: columns of the slice, COLS at a time: a blocked transpose into `cols` (row
    // segments read contiguously), one line each, and the transpose back into `buf` (over the
    // columns just read).
    for j0 in (0..w).step_by(COLS) {
        let nb = COLS.min(w - j0);
        for i in 0..h {
            for (b, &v) in buf[i * w + j0..i * w + j0 + nb].iter().enumerate() {
                cols[b * h + i] = v;
            }
        }
        for b in 0..nb {
            let (src, dst) = (&cols[b * h..(b + 1) * h], &mut dl[b * h..(b + 1) * h]);
            fh_line::<true>(src, s[1], env, dst);
        }
        for i in 0..h {
            for (b, o) in buf[i * w + j0..i * w + j0 + nb].iter_mut().enumerate() {
                *o = dl[b * h + i];
            }
        }
    }
    // Axis 2: rows, written to the output.
    for (i, orow) in slice.chunks_mut(w).enumerate() {
        fh_line::<true>(&buf[i * w..(i + 1) * w], s[2], env, &mut dl[..w]);
        write_row(orow, &dl[..w], out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

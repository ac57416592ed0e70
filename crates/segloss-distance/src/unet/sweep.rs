//! The sweep construction: a separable transform carrying, per pixel, the squared distance to
//! the nearest object pixel, its label, and the squared distance to the nearest object pixel of
//! another label, each line scanned no farther than the cutoff. Its cost is linear in the image
//! times at most the cutoff per axis, whatever the number of objects.
//!
//! Axis `rank - 1` (along rows) is exact by two scans ([`row_pass`]). Each further axis is swept
//! row by row ([`sweep`]): the state of an output row starts as the source row and is offered the
//! source rows at offsets `t = 1, 2, ...` on both sides (each entry plus `t^2`, [`offer`]), over
//! segments of columns so that the rows vectorize; the 3D middle axis goes through a scratch
//! plane, the last axis straight into the map.

use super::{Params, BAND_ROWS};
use rayon::prelude::*;
use segloss_core::simd::Level;

/// Columns swept together: the unit of the stopping test of [`sweep`].
pub(super) const SEGMENT: usize = 64;

/// Squared distances as integers (unit spacing): `u32` when the cutoff fits below `u32::MAX`,
/// `u64` otherwise. Sums saturate at `INF`, "no object found".
pub(super) trait Sq: Copy + Ord + Send + Sync + 'static {
    const INF: Self;
    const ZERO: Self;
    /// `v`, saturated at `INF`.
    fn sat(v: u64) -> Self;
    /// Saturating sum.
    fn plus(self, o: Self) -> Self;
    fn to_f64(self) -> f64;
}

impl Sq for u32 {
    const INF: u32 = u32::MAX;
    const ZERO: u32 = 0;
    fn sat(v: u64) -> u32 {
        v.min(u32::MAX as u64) as u32
    }
    fn plus(self, o: u32) -> u32 {
        self.saturating_add(o)
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Sq for u64 {
    const INF: u64 = u64::MAX;
    const ZERO: u64 = 0;
    fn sat(v: u64) -> u64 {
        v
    }
    fn plus(self, o: u64) -> u64 {
        self.saturating_add(o)
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}

/// Per pixel, over the object pixels of the part of the image swept so far: `d1` the squared
/// distance to the nearest one and `lab` its label, `d2` the squared distance to the nearest
/// one whose label is not `lab`. Every stored value is the squared distance of a real object
/// pixel (or `INF`), so never below the true one; it is the true one whenever that is at most
/// the cutoff.
struct Near<'a, D> {
    d1: &'a [D],
    lab: &'a [u32],
    d2: &'a [D],
}

/// Offers one source entry `(v, l, v2)` to the state `(b1, la, b2)` of a pixel: `v` the squared
/// distance of an object pixel of label `l`, `v2 >= v` that of an object pixel of some label
/// other than `l`. Keeps the invariant of [`Near`] for the union of what was offered, whatever
/// the order of the offers:
/// - `v < b1`: `v` is the new nearest; the old nearest (`b1`, below everything offered so far)
///   becomes the nearest of another label if `l != la`, else `b2` stands;
/// - `v >= b1`: `v` competes for `b2` if `l != la`;
/// - `v2` (label unknown but not `l`) competes for `b2` when the nearest label is `l`; otherwise
///   `v <= v2` of label `l`, not the nearest label, already did.
///
/// Branch-free, so the loops over rows vectorize.
#[inline(always)]
fn offer<D: Sq>(b1: &mut D, la: &mut u32, b2: &mut D, v: D, l: u32, v2: D) {
    let (c1, cl, c2) = (*b1, *la, *b2);
    let lt = v < c1;
    let same = l == cl;
    let n2 = if same { c2 } else { c2.min(c1.max(v)) };
    *b2 = if lt | same { n2.min(v2) } else { n2 };
    *b1 = c1.min(v);
    *la = if lt { l } else { cl };
}

/// Axis-`rank - 1` pass over one image row: the two scans carry the nearest object pixel at or
/// before (after) `x` and the nearest one of another label, which is the exact [`Near`] state
/// of the row (no cutoff).
#[inline(never)]
fn row_pass<D: Sq>(ids: &[u32], d1: &mut [D], lab: &mut [u32], d2: &mut [D]) {
    const NONE: usize = usize::MAX;
    let dist = |p: usize, x: usize| if p == NONE { D::INF } else { D::sat((p.abs_diff(x) as u64).pow(2)) };
    let (mut p1, mut l1, mut p2) = (NONE, 0u32, NONE);
    for x in (0..ids.len()).rev() {
        let id = ids[x];
        if id != 0 {
            if id != l1 {
                p2 = p1;
                l1 = id;
            }
            p1 = x;
        }
        (d1[x], lab[x], d2[x]) = (dist(p1, x), l1, dist(p2, x));
    }
    let (mut p1, mut l1, mut p2) = (NONE, 0u32, NONE);
    for x in 0..ids.len() {
        let id = ids[x];
        if id != 0 {
            if id != l1 {
                p2 = p1;
                l1 = id;
            }
            p1 = x;
        }
        offer(&mut d1[x], &mut lab[x], &mut d2[x], dist(p1, x), l1, dist(p2, x));
    }
}

/// Offers a source row segment at squared offset `t2` to a state segment.
#[inline(always)]
fn offer_row<D: Sq>(b1: &mut [D], la: &mut [u32], b2: &mut [D], s1: &[D], sl: &[u32], s2: &[D], t2: D) {
    let n = b1.len();
    let (la, b2, s1, sl, s2) = (&mut la[..n], &mut b2[..n], &s1[..n], &sl[..n], &s2[..n]);
    for i in 0..n {
        offer(&mut b1[i], &mut la[i], &mut b2[i], s1[i].plus(t2), sl[i], s2[i].plus(t2));
    }
}

/// How far a sweep goes.
struct Reach<D> {
    /// The squared cutoff `r2 = floor(R^2)` (at most the image's largest squared distance).
    r2: D,
    /// Largest offset: `t^2 <= r2`.
    t_max: usize,
    /// In the last pass, the cutoff `R` itself: a pixel stops once `d1 + d2 >= R` is certain.
    last: Option<f64>,
}

/// What a sweep reads: the [`Near`] state of rows of `w` pixels, and for each row and segment
/// of columns the least `d1` there (`least[row * nseg + segment]`).
struct Src<'a, D> {
    near: Near<'a, D>,
    least: &'a [D],
    w: usize,
    nseg: usize,
}

/// The least `d1` of each row and segment of `seg` columns.
fn least_table<D: Sq>(d1: &[D], w: usize, seg: usize) -> Vec<D> {
    let nseg = w.div_ceil(seg);
    let mut least = vec![D::INF; d1.len() / w * nseg];
    least.par_chunks_mut(nseg * BAND_ROWS).zip(d1.par_chunks(w * BAND_ROWS)).for_each(|(t, d)| {
        for (t, row) in t.chunks_mut(nseg).zip(d.chunks(w)) {
            for (t, part) in t.iter_mut().zip(row.chunks(seg)) {
                *t = part.iter().copied().min().unwrap_or(D::INF);
            }
        }
    });
    least
}

/// The largest `b2` of the open pixels (`b2 > t2` and `b1 <= qm`), 0 if none.
#[inline(always)]
fn open_max<D: Sq>(b1: &[D], b2: &[D], t2: D, qm: D) -> D {
    let b2 = &b2[..b1.len()];
    let mut acc = D::ZERO;
    for i in 0..b1.len() {
        let open = (b2[i] > t2) & (b1[i] <= qm);
        acc = acc.max(if open { b2[i] } else { D::ZERO });
    }
    acc
}

/// Sweeps a state segment (columns `x0..` of segment `si`, already holding the source row at
/// offset 0) along one axis: offers the source rows at offsets `t = 1, 2, ...` on both sides,
/// `row(p)` the source row at position `p` of `m` (the state is that of position `p0`).
///
/// A pixel is open while something can still change it: every entry offered at `t` or later is
/// at least `t^2`, so it needs `b2 > t^2`; in the last pass also `d1 + d2 < R` still possible,
/// `2t < R` or `b1 < (R - t)^2` (see [`super::unet_weights_from_instances`]). The sweep ends when no pixel of the
/// segment is open, or at the cutoff `t^2 > r2`, and skips a source row whose least `d1 + t^2`
/// is above the cutoff or not below the largest `b2` of an open pixel: it cannot change any.
///
/// Runs at the process's SIMD level: [`sweep_body`] (with [`offer_row`] and [`open_max`]
/// inlined into it) compiled as the build compiles it, or with AVX2 and FMA ([`sweep_avx2`]),
/// where the offers' `u32`/`u64` minima take 256-bit registers. Both give the same values (integer
/// arithmetic).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn sweep<D: Sq>(
    src: &Src<D>,
    row: impl Fn(usize) -> usize,
    p0: usize,
    m: usize,
    xs: (usize, usize),
    b1: &mut [D],
    la: &mut [u32],
    b2: &mut [D],
    reach: &Reach<D>,
) {
    match Level::current() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the AVX2 copy runs only where the CPU has AVX2 and FMA, checked here.
        l if l.runs_avx2() => unsafe { sweep_avx2(src, row, p0, m, xs, b1, la, b2, reach) },
        _ => sweep_body(src, row, p0, m, xs, b1, la, b2, reach),
    }
}

/// [`sweep_body`] compiled with AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
fn sweep_avx2<D: Sq>(
    src: &Src<D>,
    row: impl Fn(usize) -> usize,
    p0: usize,
    m: usize,
    xs: (usize, usize),
    b1: &mut [D],
    la: &mut [u32],
    b2: &mut [D],
    reach: &Reach<D>,
) {
    sweep_body(src, row, p0, m, xs, b1, la, b2, reach)
}

/// [`sweep`]'s work, inlined into each level's copy.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn sweep_body<D: Sq>(
    src: &Src<D>,
    row: impl Fn(usize) -> usize,
    p0: usize,
    m: usize,
    (x0, si): (usize, usize),
    b1: &mut [D],
    la: &mut [u32],
    b2: &mut [D],
    reach: &Reach<D>,
) {
    let n = b1.len();
    for t in 1..=reach.t_max {
        if t > p0 && p0 + t >= m {
            break;
        }
        let t2 = D::sat((t as u64) * (t as u64));
        // Open: b2 > t^2 and b1 <= qm, qm = floor((R - t)^2) in the last pass once 2t >= R
        // (b1 <= floor(y) is b1 < y for an integer up to equality, on the safe side), else INF.
        let qm = match reach.last {
            Some(r) if 2.0 * t as f64 >= r => {
                let q = r - t as f64;
                if q <= 0.0 {
                    break;
                }
                D::sat((q * q).floor() as u64)
            }
            _ => D::INF,
        };
        let open_max = open_max(b1, b2, t2, qm);
        if open_max == D::ZERO {
            break;
        }
        for p in [p0.wrapping_sub(t), p0 + t] {
            if p < m {
                let r = row(p);
                let least = src.least[r * src.nseg + si].plus(t2);
                if least < open_max && least <= reach.r2 {
                    let s = r * src.w + x0;
                    let nr = &src.near;
                    offer_row(b1, la, b2, &nr.d1[s..s + n], &nr.lab[s..s + n], &nr.d2[s..s + n], t2);
                }
            }
        }
    }
}

/// The map by the sweeps over segments of `seg` columns (see the module docs).
pub(super) fn sweep_weights<D: Sq>(ids: &[u32], p: &Params, seg: usize) -> Vec<f32> {
    let seg = seg.max(1);
    let [d, h, w] = p.dims;
    let n = ids.len();
    let chunk = w * BAND_ROWS;
    let (mut d1, mut lab, mut d2) = (vec![D::INF; n], vec![0u32; n], vec![D::INF; n]);
    d1.par_chunks_mut(chunk).zip(lab.par_chunks_mut(chunk)).zip(d2.par_chunks_mut(chunk)).zip(ids.par_chunks(chunk)).for_each(
        |(((a, l), b), ids)| {
            for (((a, l), b), ids) in a.chunks_mut(w).zip(l.chunks_mut(w)).zip(b.chunks_mut(w)).zip(ids.chunks(w)) {
                row_pass(ids, a, l, b);
            }
        },
    );
    // isqrt(r2), by f64 then corrected.
    let sq = |t: u64| t.saturating_mul(t);
    let mut t_max = (p.r2 as f64).sqrt() as u64;
    while sq(t_max) > p.r2 {
        t_max -= 1;
    }
    while sq(t_max + 1) <= p.r2 {
        t_max += 1;
    }
    let t_max = t_max.min(usize::MAX as u64) as usize;
    let r2 = D::sat(p.r2);
    let nseg = w.div_ceil(seg);
    if d > 1 {
        // Axis 1 of each plane, into a scratch plane, then back.
        let plane = h * w;
        let mid = Reach { r2, t_max, last: None };
        let least = least_table(&d1, w, seg);
        d1.par_chunks_mut(plane).zip(lab.par_chunks_mut(plane)).zip(d2.par_chunks_mut(plane)).zip(least.par_chunks(h * nseg)).for_each(
            |(((a, l), b), least)| {
                let (mut s1, mut sl, mut s2) = (a.to_vec(), l.to_vec(), b.to_vec());
                let src = Src { near: Near { d1: &*a, lab: &*l, d2: &*b }, least, w, nseg };
                s1.par_chunks_mut(chunk).zip(sl.par_chunks_mut(chunk)).zip(s2.par_chunks_mut(chunk)).enumerate().for_each(
                    |(band, ((s1, sl), s2))| {
                        for (i, ((s1, sl), s2)) in s1.chunks_mut(w).zip(sl.chunks_mut(w)).zip(s2.chunks_mut(w)).enumerate() {
                            let y = band * BAND_ROWS + i;
                            for (si, x0) in (0..w).step_by(seg).enumerate() {
                                let x1 = (x0 + seg).min(w);
                                sweep(&src, |q| q, y, h, (x0, si), &mut s1[x0..x1], &mut sl[x0..x1], &mut s2[x0..x1], &mid);
                            }
                        }
                    },
                );
                a.copy_from_slice(&s1);
                l.copy_from_slice(&sl);
                b.copy_from_slice(&s2);
            },
        );
    }
    // The last axis (0 in 3D, 1 in 2D) straight into the map: row r of the image is at position
    // r / step of that axis (m positions), `step` rows apart.
    let (m, step) = if d > 1 { (d, h) } else { (h, 1) };
    let last = Reach { r2, t_max, last: Some(p.reach) };
    let least = least_table(&d1, w, seg);
    let src = Src { near: Near { d1: &d1, lab: &lab, d2: &d2 }, least: &least, w, nseg };
    let mut out = vec![0.0f32; n];
    out.par_chunks_mut(chunk).enumerate().for_each(|(band, o)| {
        let mut b1 = vec![D::INF; seg];
        let mut la = vec![0u32; seg];
        let mut b2 = vec![D::INF; seg];
        for (i, o) in o.chunks_mut(w).enumerate() {
            let r = band * BAND_ROWS + i;
            let (pos, q) = (r / step, r % step);
            for (si, x0) in (0..w).step_by(seg).enumerate() {
                let x1 = (x0 + seg).min(w);
                let len = x1 - x0;
                let s = r * w + x0;
                let (b1, la, b2) = (&mut b1[..len], &mut la[..len], &mut b2[..len]);
                for j in 0..len {
                    // Object pixels are final from the start (their weight has no term).
                    let obj = ids[s + j] != 0;
                    b1[j] = if obj { D::ZERO } else { d1[s + j] };
                    la[j] = lab[s + j];
                    b2[j] = if obj { D::ZERO } else { d2[s + j] };
                }
                sweep(&src, |t| t * step + q, pos, m, (x0, si), b1, la, b2, &last);
                for j in 0..len {
                    let some = |v: D| if v == D::INF { None } else { Some(v.to_f64()) };
                    o[x0 + j] = p.weight(ids[s + j] != 0, some(b1[j]), some(b2[j]));
                }
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The offers keep the invariant whatever their order: against the definition on random
    /// entries offered in every rotation.
    #[test]
    fn offers_commute() {
        let mut s = 7u64;
        let mut next = |m: u64| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 33) % m
        };
        for _ in 0..2000 {
            let len = 1 + next(6) as usize;
            // Entries (v, l, v2) with v2 >= v; the pixel of v2 has some label != l.
            let entries: Vec<(u32, u32, u32, u32)> = (0..len)
                .map(|_| {
                    let v = next(10) as u32;
                    let l = 1 + next(3) as u32;
                    let v2 = v + next(10) as u32;
                    let l2 = 1 + (l + next(2) as u32) % 3;
                    (v, l, v2, l2)
                })
                .collect();
            let pixels: Vec<(u32, u32)> = entries.iter().flat_map(|&(v, l, v2, l2)| [(v, l), (v2, l2)]).collect();
            let best = pixels.iter().map(|p| p.0).min().unwrap();
            for rot in 0..len {
                let (mut b1, mut la, mut b2) = (u32::INF, 0u32, u32::INF);
                for i in 0..len {
                    let (v, l, v2, _) = entries[(i + rot) % len];
                    offer(&mut b1, &mut la, &mut b2, v, l, v2);
                }
                assert_eq!(b1, best);
                assert!(pixels.contains(&(b1, la)));
                let second = pixels.iter().filter(|p| p.1 != la).map(|p| p.0).min().unwrap_or(u32::INF);
                assert_eq!(b2, second, "{entries:?} rotation {rot}");
            }
        }
    }
}

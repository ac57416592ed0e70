//! The two-sided exact distance transform of the distance losses (`boundary`, `hausdorff_dt`):
//! for every pixel of a binary mask `M`, the distance to the nearest pixel on the other side,
//! `edt(M) + edt(not M)` (at most one of the two is nonzero at a pixel), in one transform.
//!
//! It is the separable transform of [`crate::engine`] run on both sides at once. The first axis
//! counts, per column, the steps to the nearest pixel whose mask value differs. Every later axis
//! cuts each line into runs of equal mask value: within a run the sites are the run's own
//! squared distances plus two sites of value 0 just outside it (the neighbouring pixels, which
//! lie on the other side), so each run is one line of the one-sided transform ([`fh_line`]).
//! Every squared distance after the first axis is `> 0` (the nearest pixel of the other side is
//! at least one step away), so the side travels as the sign of the value between the passes.
//! Where the other side is never far (scattered pixels, thin structures, finely mixed classes),
//! a line is done instead by the window method of [`window`], which takes a few offsets around
//! every pixel in vector passes and gives the same values; each mask's lines choose between the
//! two from the distances of the line before.
//!
//! Everything runs on the calling thread, in a [`TwoSided`] workspace that is grown once and
//! reused: the losses call it per (image, channel) pair from their parallel loops.

mod window;

use crate::engine::{count_to_sq, G_INF};
use crate::line::{fh_line, Envelope};
use segloss_core::simd::Level;
use window::{window_line, Window};

/// Columns gathered together in the axis-1 pass of a 3D volume.
const COLS: usize = 8;

/// How a distance `d` is written out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Finish {
    /// `d`.
    Distance,
    /// `d^2`.
    Squared,
    /// `d^a` (computed as `(d^2)^(a/2)` in `f64`).
    Power(f64),
    /// The boundary loss's `phi`: `1 - d` inside the mask, `d` outside.
    Phi,
}

impl Finish {
    /// `d^1`, `d^2` or `d^a` for the exponent `a`.
    pub(crate) fn power(a: f64) -> Finish {
        if a == 1.0 {
            Finish::Distance
        } else if a == 2.0 {
            Finish::Squared
        } else {
            Finish::Power(a)
        }
    }

    /// The outputs of a line of signed squared distances `d` (`> 0` inside the mask): one loop
    /// per kind, so that each vectorizes.
    #[inline(always)]
    fn write(self, d: &[f64], out: &mut [f32]) {
        let pairs = out.iter_mut().zip(d);
        match self {
            Finish::Distance => pairs.for_each(|(o, &v)| *o = v.abs().sqrt() as f32),
            Finish::Squared => pairs.for_each(|(o, &v)| *o = v.abs() as f32),
            Finish::Power(a) => pairs.for_each(|(o, &v)| *o = v.abs().powf(0.5 * a) as f32),
            Finish::Phi => pairs.for_each(|(o, &v)| {
                let r = v.abs().sqrt() as f32;
                *o = if v > 0.0 { 1.0 - r } else { r };
            }),
        }
    }

    /// The output of a pixel at squared distance `d2`, `inside` the mask or not.
    #[inline(always)]
    fn apply(self, d2: f64, inside: bool) -> f32 {
        match self {
            Finish::Distance => d2.sqrt() as f32,
            Finish::Squared => d2 as f32,
            Finish::Power(a) => d2.powf(0.5 * a) as f32,
            Finish::Phi => {
                let d = d2.sqrt() as f32;
                if inside {
                    1.0 - d
                } else {
                    d
                }
            }
        }
    }
}

/// Reusable scratch of [`two_sided`]: grown to the largest image seen, never shrunk.
#[derive(Default)]
pub(crate) struct TwoSided {
    counts: Vec<u32>,
    slice: Vec<f64>,
    colf: Vec<f64>,
    cold: Vec<f64>,
    linef: Vec<f64>,
    lined: Vec<f64>,
    runf: Vec<f64>,
    rund: Vec<f64>,
    env: Option<Envelope>,
    win: Window,
}

fn grow<T: Clone + Default>(v: &mut Vec<T>, n: usize) {
    if v.len() < n {
        v.resize(n, T::default());
    }
}

impl TwoSided {
    fn ensure(&mut self, shape: &[usize]) {
        let s: usize = shape.iter().product();
        let longest = shape.iter().copied().max().unwrap_or(1);
        grow(&mut self.counts, s);
        grow(&mut self.linef, longest);
        grow(&mut self.lined, longest);
        grow(&mut self.runf, longest + 2);
        grow(&mut self.rund, longest + 2);
        if let [_, h, w] = *shape {
            grow(&mut self.slice, h * w);
            grow(&mut self.colf, COLS * h);
            grow(&mut self.cold, COLS * h);
        }
        match &mut self.env {
            Some(e) => e.ensure(longest + 2),
            None => self.env = Some(Envelope::new(longest + 2)),
        }
        // every call starts the window afresh: its choices depend on this mask's lines only
        self.win.start(longest);
    }
}

/// Writes `finish(d)` into `out` for every pixel of the row-major `mask` (`shape` of rank 1 to
/// 3, `spacing` one value per axis), `d` the distance to the nearest pixel whose mask value
/// differs. The mask must hold both values (the callers give an empty or full mask the map 0
/// without calling this); otherwise some distances would be `+inf`.
///
/// Runs at the process's SIMD level ([`Level::current`]): the whole transform is one body
/// ([`two_sided_body`], every function it calls inlined into it), compiled as the build compiles
/// it, with AVX2 and FMA enabled (where the counts, the exhaustive searches and the window's
/// `f64x4` lanes take 256-bit registers), and with the AVX-512 level's features as well
/// ([`two_sided_at`]). The copies give the same bits: the transform adds and compares, it never
/// fuses a multiply with an add.
pub(crate) fn two_sided(mask: &[u8], shape: &[usize], spacing: &[f64], finish: Finish, ws: &mut TwoSided, out: &mut [f32]) {
    two_sided_at(Level::current(), mask, shape, spacing, finish, ws, out)
}

segloss_core::level_copies! {
    /// [`two_sided`] at `level` (the baseline where the CPU lacks AVX2 or FMA).
    pub(crate) fn two_sided_at(mask: &[u8], shape: &[usize], spacing: &[f64], finish: Finish, ws: &mut TwoSided, out: &mut [f32]) => two_sided_body
}

/// The transform; everything it calls per line is `#[inline(always)]`, so that each copy of
/// [`two_sided_at`] compiles it for its own level.
#[inline(always)]
fn two_sided_body(mask: &[u8], shape: &[usize], spacing: &[f64], finish: Finish, ws: &mut TwoSided, out: &mut [f32]) {
    debug_assert_eq!(mask.len(), out.len());
    ws.ensure(shape);
    let s = mask.len();
    let TwoSided { counts, slice, colf, cold, linef, lined, runf, rund, env, win } = ws;
    let env = env.as_mut().expect("ensured");
    let counts = &mut counts[..s];
    match *shape {
        [n] => {
            count_pass(mask, n, 1, counts);
            for ((o, &g), &m) in out.iter_mut().zip(counts.iter()).zip(mask) {
                *o = finish.apply(count_to_sq(g, spacing[0]), m != 0);
            }
        }
        [h, w] => {
            count_pass(mask, h, w, counts);
            let (f, d) = (&mut linef[..w], &mut lined[..w]);
            for i in 0..h {
                let (g, m) = (&counts[i * w..(i + 1) * w], &mask[i * w..(i + 1) * w]);
                signed_line(g, m, spacing[0], f);
                line(f, spacing[1], runf, rund, env, win, d);
                finish.write(d, &mut out[i * w..(i + 1) * w]);
            }
        }
        [dd, h, w] => {
            let plane = h * w;
            count_pass(mask, dd, plane, counts);
            let sl = &mut slice[..plane];
            for k in 0..dd {
                let (g, m) = (&counts[k * plane..(k + 1) * plane], &mask[k * plane..(k + 1) * plane]);
                // axis 1: columns of the slice, COLS at a time, gathered and scattered back
                for j0 in (0..w).step_by(COLS) {
                    let nb = COLS.min(w - j0);
                    for i in 0..h {
                        for b in 0..nb {
                            let at = i * w + j0 + b;
                            let v = count_to_sq(g[at], spacing[0]);
                            colf[b * h + i] = if m[at] != 0 { v } else { -v };
                        }
                    }
                    for b in 0..nb {
                        line(&colf[b * h..(b + 1) * h], spacing[1], runf, rund, env, win, &mut cold[b * h..(b + 1) * h]);
                    }
                    for i in 0..h {
                        for b in 0..nb {
                            sl[i * w + j0 + b] = cold[b * h + i];
                        }
                    }
                }
                // axis 2: rows, written out
                let d = &mut lined[..w];
                for i in 0..h {
                    line(&sl[i * w..(i + 1) * w], spacing[2], runf, rund, env, win, d);
                    finish.write(d, &mut out[k * plane + i * w..k * plane + (i + 1) * w]);
                }
            }
        }
        _ => unreachable!("rank 1 to 3, checked by the callers"),
    }
}

/// The signed squared distances along axis 0 of one line: `+(g s0)^2` inside the mask, `-(g
/// s0)^2` outside (`+-inf` where the column has no pixel of the other side).
#[inline(always)]
fn signed_line(g: &[u32], m: &[u8], s0: f64, f: &mut [f64]) {
    for ((o, &c), &mv) in f.iter_mut().zip(g).zip(m) {
        let v = count_to_sq(c, s0);
        *o = if mv != 0 { v } else { -v };
    }
}

/// Steps to the nearest position of the other mask value along axis 0 ([`G_INF`]: none in the
/// column), for `n0` planes of `plane` elements.
#[inline(always)]
fn count_pass(mask: &[u8], n0: usize, plane: usize, g: &mut [u32]) {
    g[..plane].fill(G_INF);
    for i in 1..n0 {
        let (before, rest) = g.split_at_mut(i * plane);
        let prev = &before[(i - 1) * plane..];
        let cur = &mut rest[..plane];
        let (mp, mc) = (&mask[(i - 1) * plane..i * plane], &mask[i * plane..(i + 1) * plane]);
        for (((o, &p), &a), &b) in cur.iter_mut().zip(prev).zip(mp).zip(mc) {
            *o = if a != b { 1 } else { p.saturating_add(1) };
        }
    }
    for i in (0..n0.saturating_sub(1)).rev() {
        let (before, rest) = g.split_at_mut((i + 1) * plane);
        let cur = &mut before[i * plane..];
        let next = &rest[..plane];
        let (mc, mn) = (&mask[i * plane..(i + 1) * plane], &mask[(i + 1) * plane..(i + 2) * plane]);
        for (((o, &nx), &a), &b) in cur.iter_mut().zip(next).zip(mc).zip(mn) {
            let v = if a != b { 1 } else { nx.saturating_add(1) };
            *o = (*o).min(v);
        }
    }
}

/// Runs of at most this many pixels are solved in place by exhaustive search (no copy, no call
/// into the envelope driver): with a mask of scattered pixels most runs are this short.
const SHORT: usize = 12;

/// One line of a later axis: signed squared distances `f` in, signed squared distances `d` out
/// (same signs). The window method ([`window`]) first, while the lines of this mask let it
/// finish; otherwise the runs ([`runs`]).
#[inline(always)]
fn line(f: &[f64], s: f64, runf: &mut [f64], rund: &mut [f64], env: &mut Envelope, win: &mut Window, d: &mut [f64]) {
    if win.wanted() && window_line(f, s, win, d) {
        return;
    }
    runs(f, s, runf, rund, env, d);
    win.record_runs(d.iter().fold(0.0f64, |m, v| m.max(v.abs())), s);
}

/// [`line`] by runs: signed squared distances `f` in, signed squared distances `d` out (same
/// signs). Each run of one sign is transformed with its own values and a site of value 0
/// on each side where the line goes on (the pixel there is on the other side).
#[inline(always)]
fn runs(f: &[f64], s: f64, runf: &mut [f64], rund: &mut [f64], env: &mut Envelope, d: &mut [f64]) {
    let n = f.len();
    let mut a = 0;
    while a < n {
        let inside = f[a] > 0.0;
        let mut b = a + 1;
        while b < n && (f[b] > 0.0) == inside {
            b += 1;
        }
        let len = b - a;
        if len <= SHORT {
            short_run(f, s, a, b, inside, d);
            a = b;
            continue;
        }
        runf[0] = if a > 0 { 0.0 } else { f64::INFINITY };
        for (o, &v) in runf[1..=len].iter_mut().zip(&f[a..b]) {
            *o = v.abs();
        }
        runf[len + 1] = if b < n { 0.0 } else { f64::INFINITY };
        fh_line::<false>(&runf[..len + 2], s, env, &mut rund[..len + 2]);
        if inside {
            d[a..b].copy_from_slice(&rund[1..=len]);
        } else {
            for (o, &v) in d[a..b].iter_mut().zip(&rund[1..=len]) {
                *o = -v;
            }
        }
        a = b;
    }
}

/// [`line`] on the run `a..b` by exhaustive search over its sites and the 0-sites just outside
/// it: eight outputs at a time keep their minimum in registers over every site (branch-free, and
/// no partial minimum stored and read back per site); every candidate is summed as
/// `f[q] + ((p - q) s)^2`, the order of [`fh_line`], and the sites are visited in a fixed order
/// with a strict comparison, so both give the same bits.
#[inline(always)]
fn short_run(f: &[f64], s: f64, a: usize, b: usize, inside: bool, d: &mut [f64]) {
    let n = f.len();
    let out = &mut d[a..b];
    // positions relative to a: outputs 0..len, sites -1 (left), 0..len, len (right)
    let lenf = out.len() as f64;
    for (c, o) in out.chunks_mut(8).enumerate() {
        let pos: [f64; 8] = std::array::from_fn(|k| (c * 8 + k) as f64);
        let mut acc = [f64::INFINITY; 8];
        let mut site = |q: f64, fq: f64| {
            acc = std::array::from_fn(|k| {
                let t = (pos[k] - q) * s;
                let v = fq + t * t;
                if v < acc[k] {
                    v
                } else {
                    acc[k]
                }
            });
        };
        if a > 0 {
            site(-1.0, 0.0);
        }
        if b < n {
            site(lenf, 0.0);
        }
        let mut q = 0.0f64;
        for &v in &f[a..b] {
            site(q, v.abs());
            q += 1.0;
        }
        for (oi, &m) in o.iter_mut().zip(&acc) {
            *oi = if inside { m } else { -m };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Brute force: the distance from each pixel to the nearest pixel of the other value.
    fn brute(mask: &[u8], shape: &[usize], spacing: &[f64]) -> Vec<f64> {
        let s = mask.len();
        let coords = |mut i: usize| -> Vec<usize> {
            let mut c = vec![0; shape.len()];
            for ax in (0..shape.len()).rev() {
                c[ax] = i % shape[ax];
                i /= shape[ax];
            }
            c
        };
        (0..s)
            .map(|x| {
                let cx = coords(x);
                (0..s)
                    .filter(|&y| mask[y] != mask[x])
                    .map(|y| {
                        let cy = coords(y);
                        cx.iter().zip(&cy).zip(spacing).map(|((a, b), sp)| ((*a as f64 - *b as f64) * sp).powi(2)).sum::<f64>()
                    })
                    .fold(f64::INFINITY, f64::min)
                    .sqrt()
            })
            .collect()
    }

    fn case() -> impl Strategy<Value = (Vec<usize>, Vec<u8>, Vec<f64>, bool)> {
        // sizes past SHORT (the exhaustive runs) so the envelope path runs too, and densities from
        // scattered pixels to large blobs
        (1usize..=3, any::<bool>(), prop::sample::select(vec![0.05f64, 0.4, 0.9]))
            .prop_flat_map(|(rank, spaced, density)| {
                let max = [0, 80, 32, 9][rank];
                let dims = prop::collection::vec(1usize..=max, rank);
                (dims, Just(spaced), prop::collection::vec(0.3f64..3.0, rank), Just(density))
            })
            .prop_flat_map(|(dims, spaced, sp, density)| {
                let s: usize = dims.iter().product();
                let sp = if spaced { sp } else { vec![1.0; dims.len()] };
                (Just(dims), prop::collection::vec(prop::bool::weighted(density).prop_map(|b| b as u8), s), Just(sp), Just(spaced))
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Equal to the brute force at every SIMD level this CPU runs: bit for bit at unit
        /// spacing (exact integers), to 1e-6 relative with spacing (near ties may be settled on
        /// another site, and the output is `f32`); and the levels give the same bits as each
        /// other (the transform never fuses a multiply with an add).
        #[test]
        fn equals_brute_force((shape, mask, spacing, spaced) in case()) {
            prop_assume!(mask.iter().any(|&m| m != 0) && mask.contains(&0));
            let want = brute(&mask, &shape, &spacing);
            let mut first: Option<Vec<f32>> = None;
            for level in Level::supported_levels() {
                let mut ws = TwoSided::default();
                let mut out = vec![0.0f32; mask.len()];
                two_sided_at(level, &mask, &shape, &spacing, Finish::Distance, &mut ws, &mut out);
                for (i, (&o, &w)) in out.iter().zip(&want).enumerate() {
                    if spaced {
                        prop_assert!(((o as f64) - w).abs() <= 1e-6 * w, "{:?}, pixel {}: {} vs {}", level, i, o, w);
                    } else {
                        prop_assert_eq!(o, w as f32, "{:?}, pixel {}", level, i);
                    }
                }
                match &first {
                    None => first = Some(out),
                    Some(f) => {
                        let same = f.iter().zip(&out).all(|(a, b)| a.to_bits() == b.to_bits());
                        prop_assert!(same, "{:?} differs from the baseline", level);
                    }
                }
            }
        }
    }

    #[test]
    fn squared_power_and_phi_outputs() {
        let mask = [1u8, 1, 1, 0, 0];
        let mut ws = TwoSided::default();
        let mut out = [0.0f32; 5];
        two_sided(&mask, &[5], &[1.0], Finish::Squared, &mut ws, &mut out);
        assert_eq!(out, [9.0, 4.0, 1.0, 1.0, 4.0]);
        two_sided(&mask, &[5], &[2.0], Finish::Power(3.0), &mut ws, &mut out);
        assert_eq!(out, [216.0, 64.0, 8.0, 8.0, 64.0]);
        two_sided(&mask, &[5], &[1.0], Finish::Phi, &mut ws, &mut out);
        assert_eq!(out, [-2.0, -1.0, 0.0, 1.0, 2.0]);
        // 2D: the sign of the value between the passes carries the side
        let mask2 = [1u8, 1, 0, 0, 1, 1, 0, 0];
        let mut out2 = [0.0f32; 8];
        two_sided(&mask2, &[2, 4], &[1.0, 1.0], Finish::Phi, &mut ws, &mut out2);
        assert_eq!(out2, [-1.0, 0.0, 1.0, 2.0, -1.0, 0.0, 1.0, 2.0]);
    }
}

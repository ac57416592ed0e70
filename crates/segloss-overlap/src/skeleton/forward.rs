//! The forward pass: erosion, dilation and the skeleton's levels.

use super::super::lanes::{f32x8, load, store};
use super::lanes::{k_step, step, Lane};
use super::window::{line_op, op, opv};
use crate::skeleton::{ensure, pair_mut, Grid, Scratch, Skel};
use segloss_core::kernel::Backend;
use segloss_core::simd::LANES;

super::super::level_fn! {
    /// The lines of the last axis: its length `w`, the number of lines, and each outer axis as
    /// `(size, stride in lines)`.
    pub(super) fn lines(g: &Grid) -> (usize, usize, Vec<(usize, usize)>) {
        let d = &g.dims[..g.nd];
        let w = d[g.nd - 1];
        let axes = (0..g.nd - 1).map(|a| (d[a], d[a + 1..g.nd - 1].iter().product::<usize>())).collect();
        (w, g.len() / w, axes)
    }
}

super::super::level_fn! {
    /// `out = op(line window of cur, nbrs[0], nbrs[1], ...)` elementwise: the line's own 3-window
    /// (clipped at its ends) and `K` whole neighbouring lines, in one sweep (`K` a constant, so that
    /// the neighbours' loop unrolls).
    pub(super) fn cross<const MAX: bool, const K: usize>(be: Backend, cur: &[f32], nbrs: [&[f32]; K], out: &mut [f32]) {
        let len = cur.len();
        let at = |j: usize| -> f32 {
            let mut v = cur[j];
            if j > 0 {
                v = op::<MAX>(cur[j - 1], v);
            }
            if j + 1 < len {
                v = op::<MAX>(v, cur[j + 1]);
            }
            for nb in nbrs {
                v = op::<MAX>(v, nb[j]);
            }
            v
        };
        out[0] = at(0);
        let mut j = 1;
        if be == Backend::Simd {
            while j + LANES < len {
                let mut v = opv::<MAX>(opv::<MAX>(load(&cur[j - 1..]), load(&cur[j..])), load(&cur[j + 1..]));
                for nb in nbrs {
                    v = opv::<MAX>(v, load(&nb[j..]));
                }
                store(&mut out[j..], v);
                j += LANES;
            }
        }
        while j < len {
            out[j] = at(j);
            j += 1;
        }
    }
}

super::super::level_fn! {
    /// The lines of `src` next to line `l` along the outer axes: the axis neighbours (`box_`: false)
    /// or every line of the 3^(nd-1) box but `l` itself (`box_`: true).
    pub(super) fn neighbours<'a>(src: &'a [f32], w: usize, axes: &[(usize, usize)], l: usize, box_: bool) -> Vec<&'a [f32]> {
        let line = |m: usize| &src[m * w..(m + 1) * w];
        let step = |m: usize, size: usize, st: usize, d: isize| -> Option<usize> {
            let pos = (m / st) % size;
            match d {
                -1 if pos > 0 => Some(m - st),
                1 if pos + 1 < size => Some(m + st),
                0 => Some(m),
                _ => None,
            }
        };
        let mut out = Vec::with_capacity(8);
        if !box_ {
            for &(size, st) in axes {
                for d in [-1, 1] {
                    if let Some(m) = step(l, size, st, d) {
                        out.push(line(m));
                    }
                }
            }
            return out;
        }
        let mut ms = vec![l];
        for &(size, st) in axes {
            ms = ms.iter().flat_map(|&m| [-1isize, 0, 1].into_iter().filter_map(move |d| step(m, size, st, d))).collect();
        }
        out.extend(ms.into_iter().filter(|&m| m != l).map(line));
        out
    }
}

super::super::level_fn! {
    /// `dst = erode(src)`: the value of `min(min3x1, min1x3)` (3D: of the three 1D windows) is the
    /// minimum over the cross of the pixel and its axis neighbours, computed line by line in one
    /// sweep (the reverse pass recomputes the 1D windows, whose winners it needs).
    pub(super) fn erode(be: Backend, g: &Grid, src: &[f32], dst: &mut [f32]) {
        let (w, n_lines, axes) = lines(g);
        for l in 0..n_lines {
            let nb = neighbours(src, w, &axes, l, false);
            let (cur, out) = (&src[l * w..(l + 1) * w], &mut dst[l * w..(l + 1) * w]);
            match nb[..] {
                [] => cross::<false, 0>(be, cur, [], out),
                [a] => cross::<false, 1>(be, cur, [a], out),
                [a, b] => cross::<false, 2>(be, cur, [a, b], out),
                [a, b, c] => cross::<false, 3>(be, cur, [a, b, c], out),
                [a, b, c, d] => cross::<false, 4>(be, cur, [a, b, c, d], out),
                _ => unreachable!("a line has at most 4 axis neighbours (3D)"),
            }
        }
    }
}

super::super::level_fn! {
    /// `dilate(src)` line by line: `h` (a plane) receives the maxima along the last axis, then each
    /// output line, the maximum of `h` over its neighbouring lines, is written into its place in
    /// `o` (a plane) or into `line`, and handed to `f(line index, values)`.
    pub(super) fn dilate<F: FnMut(usize, &[f32])>(
        be: Backend,
        g: &Grid,
        src: &[f32],
        h: &mut [f32],
        line: &mut Vec<f32>,
        mut o: Option<&mut [f32]>,
        mut f: F,
    ) {
        let (w, n_lines, axes) = lines(g);
        for l in 0..n_lines {
            line_op::<true>(be, &src[l * w..(l + 1) * w], &mut h[l * w..(l + 1) * w]);
        }
        line.resize(w, 0.0);
        let h: &[f32] = h;
        for l in 0..n_lines {
            let out: &mut [f32] = match o.as_deref_mut() {
                Some(o) => &mut o[l * w..(l + 1) * w],
                None => &mut line[..],
            };
            let nb = neighbours(h, w, &axes, l, true);
            rows_max(be, &h[l * w..(l + 1) * w], &nb, out);
            f(l, out);
        }
    }
}

super::super::level_fn! {
    /// `out = max(cur, nbrs...)` elementwise in one sweep.
    pub(super) fn rows_max(be: Backend, cur: &[f32], nbrs: &[&[f32]], out: &mut [f32]) {
        let n = cur.len();
        let mut j = 0;
        if be == Backend::Simd {
            while j + LANES <= n {
                let mut v = load(&cur[j..]);
                for nb in nbrs {
                    v = v.fast_max(load(&nb[j..]));
                }
                store(&mut out[j..], v);
                j += LANES;
            }
        }
        for k in j..n {
            let mut v = cur[k];
            for nb in nbrs {
                v = op::<true>(v, nb[k]);
            }
            out[k] = v;
        }
    }
}

super::super::level_fn! {
    /// `skel(x)` on any grid (the 3D path): every level one erosion sweep, then the dilation line by
    /// line with the level's update. See [`Skel::forward`].
    pub(crate) fn forward_nd<'s>(sk: &Skel, x: &[f32], sc: &'s mut Scratch, record: bool) -> &'s [f32] {
        let (be, g, it) = (sk.be, &sk.grid, sk.iters);
        let n = g.len();
        let w = g.dims[g.nd - 1];
        ensure(&mut sc.i, if record { it + 2 } else { 2 }, n);
        ensure(&mut sc.o, if record { it + 1 } else { 0 }, n);
        ensure(&mut sc.s, if record { it + 1 } else { 1 }, n);
        ensure(&mut sc.t, 1, n);
        // level k of the erosion chain lives in i[ix(k)]; without recording, level 0 is `x`
        let ix = |k: usize| if record { k } else { k % 2 };
        if record {
            sc.i[0].copy_from_slice(x);
        }
        for k in 0..=it {
            if k == 0 && !record {
                erode(be, g, x, &mut sc.i[1]);
            } else {
                let (dst, src) = pair_mut(&mut sc.i, ix(k + 1), ix(k));
                erode(be, g, src, dst);
            }
            let img: &[f32] = if k == 0 && !record { x } else { &sc.i[ix(k)] };
            let s = &mut sc.s;
            let o = if record { Some(&mut sc.o[k][..]) } else { None };
            dilate(be, g, &sc.i[ix(k + 1)], &mut sc.t[0], &mut sc.line, o, |l, o| {
                let r = l * w..(l + 1) * w;
                let i = &img[r.clone()];
                if record && k > 0 {
                    let (sk, prev) = pair_mut(s, k, k - 1);
                    each!(be, w, k_step(&mut sk[r.clone()], Some(&prev[r.clone()]), false, i, o));
                } else {
                    each!(be, w, k_step(&mut s[0][r.clone()], None, k == 0, i, o));
                }
            });
        }
        &sc.s[if record { it } else { 0 }]
    }
}

super::super::level_fn! {
    /// `skel(x)` on a 2D grid, each level in one sweep over the rows: row `r` of the erosion
    /// `I_{k+1}` (stored: the next level's input), its line maximum into a ring of three rows, and,
    /// one row behind, the opening's row (the maximum over the ring) and the level's update, the
    /// opening never stored. The same values as [`forward_nd`].
    pub(crate) fn forward_2d<'s>(sk: &Skel, x: &[f32], sc: &'s mut Scratch, record: bool) -> &'s [f32] {
        let (be, it) = (sk.be, sk.iters);
        let (rows, w) = (sk.grid.dims[0], sk.grid.dims[1]);
        ensure(&mut sc.i, if record { it + 2 } else { 2 }, rows * w);
        ensure(&mut sc.s, if record { it + 1 } else { 1 }, rows * w);
        sc.line.resize(3 * w, 0.0);
        let Scratch { i: planes, s, line: ring, .. } = sc;
        let ix = |k: usize| if record { k } else { k % 2 };
        if record {
            planes[0].copy_from_slice(x);
        }
        for k in 0..=it {
            let (dst, src): (&mut [f32], &[f32]) = if k == 0 && !record { (&mut planes[1], x) } else { pair_mut(planes, ix(k + 1), ix(k)) };
            let row = |r: usize| r * w..(r + 1) * w;
            let slot = |r: usize| (r % 3) * w..(r % 3 + 1) * w;
            for r in 0..=rows {
                if r < rows {
                    let up = &src[row(r.saturating_sub(1))];
                    let dn = &src[row((r + 1).min(rows - 1))];
                    // a missing neighbour row is the row itself (the minimum is unchanged)
                    cross::<false, 2>(be, &src[row(r)], [up, dn], &mut dst[row(r)]);
                    line_op::<true>(be, &dst[row(r)], &mut ring[slot(r)]);
                }
                let Some(q) = r.checked_sub(1) else { continue };
                let (h0, h1, h2) = (&ring[slot(q.saturating_sub(1))], &ring[slot(q)], &ring[slot((q + 1).min(rows - 1))]);
                let i = &src[row(q)];
                if record && k > 0 {
                    let (sk, prev) = pair_mut(s, k, k - 1);
                    each!(be, w, k_open_step(&mut sk[row(q)], Some(&prev[row(q)]), false, i, h0, h1, h2));
                } else {
                    each!(be, w, k_open_step(&mut s[0][row(q)], None, k == 0, i, h0, h1, h2));
                }
            }
        }
        &s[if record { it } else { 0 }]
    }
}

/// The level's update with the opening `max(h0, h1, h2)` (rows of line maxima) computed in place.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn k_open_step<L: Lane>(j: usize, s: &mut [f32], prev: Option<&[f32]>, first: bool, i: &[f32], h0: &[f32], h1: &[f32], h2: &[f32]) {
    let o = L::ld(h1, j).max(L::ld(h0, j)).max(L::ld(h2, j));
    let sp = (!first).then(|| L::ld(prev.unwrap_or(&*s), j));
    step(sp, L::ld(i, j), o).st(s, j);
}

//! The reverse pass: the gradient through the erosions, dilations and relus of the skeleton.

use super::super::lanes::f32x8;
use super::lanes::{k_back_step, k_share2, k_share3, step_back, win, Lane};
use super::window::{line_back, line_op, window, window_back};
use crate::skeleton::{ensure, Grid, Scratch, Skel};
use segloss_core::kernel::Backend;
use segloss_core::simd::LANES;

super::super::level_fn! {
    /// `gin += ` the reverse of [`erode`](super::forward::erode) at `src` for the output gradient `gout`; `t`: 3 temporaries.
    pub(super) fn erode_back(be: Backend, g: &Grid, src: &[f32], gout: &[f32], gin: &mut [f32], t: &mut [Vec<f32>], line: &mut Vec<f32>) {
        let (t0, rest) = t.split_first_mut().expect("temporaries");
        let (t1, rest) = rest.split_first_mut().expect("temporaries");
        let t2 = &mut rest[0];
        window::<false>(be, g, 0, src, t0);
        window::<false>(be, g, 1, src, t1);
        if g.nd == 2 {
            each!(be, gout.len(), k_share2(gout, &mut t0[..], &mut t1[..]));
        } else {
            window::<false>(be, g, 2, src, t2);
            each!(be, gout.len(), k_share3(gout, &mut t0[..], &mut t1[..], &mut t2[..]));
            window_back::<false>(be, g, 0, src, t0, gin, line);
            window_back::<false>(be, g, 1, src, t1, gin, line);
            window_back::<false>(be, g, 2, src, t2, gin, line);
            return;
        }
        window_back::<false>(be, g, 0, src, t0, gin, line);
        window_back::<false>(be, g, 1, src, t1, gin, line);
    }
}

super::super::level_fn! {
    /// `gin += ` the reverse of [`dilate`](super::forward::dilate) at `src` for the output gradient `gout`; `t`: 4 temporaries.
    pub(super) fn dilate_back(be: Backend, g: &Grid, src: &[f32], gout: &[f32], gin: &mut [f32], t: &mut [Vec<f32>], line: &mut Vec<f32>) {
        let (t0, rest) = t.split_first_mut().expect("temporaries");
        let (t1, rest) = rest.split_first_mut().expect("temporaries");
        let (t2, rest) = rest.split_first_mut().expect("temporaries");
        let t3 = &mut rest[0];
        if g.nd == 2 {
            window::<true>(be, g, 1, src, t0);
            t1.fill(0.0);
            window_back::<true>(be, g, 0, t0, gout, t1, line);
            window_back::<true>(be, g, 1, src, t1, gin, line);
        } else {
            window::<true>(be, g, 2, src, t0);
            window::<true>(be, g, 1, t0, t1);
            t2.fill(0.0);
            window_back::<true>(be, g, 0, t1, gout, t2, line);
            t3.fill(0.0);
            window_back::<true>(be, g, 1, t0, t2, t3, line);
            window_back::<true>(be, g, 2, src, t3, gin, line);
        }
    }
}

super::super::level_fn! {
    /// The reverse pass on any grid (the 3D path), a level at a time: the update's reverse over the
    /// plane, then the dilation's and the erosion's window passes in turn. See [`Skel::backward`].
    pub(crate) fn backward_nd(sk: &Skel, sc: &mut Scratch, gs: &mut [f32], gin: &mut [f32]) {
        let (be, g, it) = (sk.be, &sk.grid, sk.iters);
        let n = g.len();
        // b[0], b[1]: dL/dI_k and dL/dI_{k+1} (roles swap each step); b[2]: -dL/dO_k
        ensure(&mut sc.b, 3, n);
        ensure(&mut sc.t, 4, n);
        let mut cur = 0;
        sc.b[1 - cur].fill(0.0);
        for k in (0..=it).rev() {
            let (i, o) = (&sc.i[k], &sc.o[k]);
            let (bc, rest) = sc.b.split_at_mut(1);
            let (bn, bneg) = rest.split_at_mut(1);
            let (gcur, gnext) = if cur == 0 { (&mut bc[0], &mut bn[0]) } else { (&mut bn[0], &mut bc[0]) };
            let gneg = &mut bneg[0];
            let sp = (k >= 1).then(|| &sc.s[k - 1][..]);
            each!(be, n, k_back_step(&mut *gs, sp, i, o, &mut gcur[..], &mut gneg[..]));
            dilate_back(be, g, &sc.i[k + 1], gneg, gnext, &mut sc.t, &mut sc.line);
            erode_back(be, g, i, gnext, gcur, &mut sc.t, &mut sc.line);
            cur = 1 - cur;
        }
        gin.copy_from_slice(&sc.b[1 - cur]);
    }
}

super::super::level_fn! {
    /// The reverse pass on a 2D grid, each level in one sweep over the rows, with the additions of
    /// [`backward_nd`] in the same order (the same bits). With `E = I_{k+1}`, `H` its line maxima
    /// (a ring of three rows), `V`/`M` the column/line minima of `I_k`, at row `r`:
    ///
    /// 1. the update's reverse at row `r` (its opening recomputed from `H` with the winners), its
    ///    `-dL/dO` scattered to the winning rows of `dL/dH` (a ring of three rows);
    /// 2. row `r - 1` of `dL/dH` is then whole: its line pass adds into `dL/dE`, whose row is then
    ///    whole; split between `V` and `M` by the erosion's min (`dL/dM` into a ring of two rows),
    ///    the `V` share scattered to the winning rows of `dL/dI_k`;
    /// 3. row `r - 2` of `dL/dI_k` has then all its column terms: the line pass of its `M` share.
    pub(crate) fn backward_2d(sk: &Skel, sc: &mut Scratch, gs: &mut [f32], gin: &mut [f32]) {
        let (be, it) = (sk.be, sk.iters);
        let (rows, w) = (sk.grid.dims[0], sk.grid.dims[1]);
        ensure(&mut sc.b, 2, rows * w);
        sc.line.resize(11 * w, 0.0);
        let Scratch { i, s, b, line, .. } = sc;
        let (b0, b1) = b.split_at_mut(1);
        let (mut gcur, mut gnext) = (&mut b0[0][..], &mut b1[0][..]);
        gnext.fill(0.0);
        for k in (0..=it).rev() {
            let sp = (k >= 1).then(|| &s[k - 1][..]);
            level_back_2d(be, (rows, w), &i[k], &i[k + 1], sp, gs, gnext, gcur, line);
            std::mem::swap(&mut gcur, &mut gnext);
        }
        gin.copy_from_slice(gnext);
    }
}

super::super::level_fn! {
    /// The ring rows of `buf` (`3 w` long).
    fn ring3(buf: &mut [f32], w: usize) -> [&mut [f32]; 3] {
        let (a, rest) = buf.split_at_mut(w);
        let (b, c) = rest.split_at_mut(w);
        [a, b, &mut c[..w]]
    }
}

super::super::level_fn! {
    /// Rows `m - 1`, `m`, `m + 1` of a plane of `rows` rows of `w` (an absent row comes back empty).
    fn rows3(plane: &mut [f32], w: usize, rows: usize, m: usize) -> (&mut [f32], &mut [f32], &mut [f32]) {
        let (before, rest) = plane.split_at_mut(m * w);
        let (cur, after) = rest.split_at_mut(w);
        let prev = if m > 0 { &mut before[(m - 1) * w..] } else { &mut [][..] };
        let next = if m + 1 < rows { &mut after[..w] } else { &mut [][..] };
        (prev, cur, next)
    }
}

super::super::level_fn! {
    /// One level of [`backward_2d`]: `gs <- dL/ds_{k-1}`, `gnext += ` the opening's reverse (then
    /// whole: `dL/dI_{k+1}`), `gcur = dL/dI_k` (overwritten). `buf`: 11 rows of scratch.
    #[allow(clippy::too_many_arguments)]
    fn level_back_2d(
        be: Backend,
        (rows, w): (usize, usize),
        ii: &[f32],
        e: &[f32],
        sp: Option<&[f32]>,
        gs: &mut [f32],
        gnext: &mut [f32],
        gcur: &mut [f32],
        buf: &mut [f32],
    ) {
        let row = |r: usize| r * w..(r + 1) * w;
        let (hb, rest) = buf.split_at_mut(3 * w);
        let (gb, rest) = rest.split_at_mut(3 * w);
        let (mb, tmp) = rest.split_at_mut(2 * w);
        // rings rotated each row so that [0], [1], [2] hold rows r - 1, r, r + 1
        let (mut h, mut gh) = (ring3(hb, w), ring3(gb, w));
        let (m0, m1) = mb.split_at_mut(w);
        let gm = [m0, m1];
        line_op::<true>(be, &e[row(0)], h[2]);
        gh[2].fill(0.0);
        for r in 0..rows + 2 {
            h.rotate_left(1);
            gh.rotate_left(1);
            if r < rows {
                let (p, n) = (r > 0, r + 1 < rows);
                if n {
                    line_op::<true>(be, &e[row(r + 1)], h[2]);
                    gh[2].fill(0.0);
                }
                let hs = [&*h[0], &*h[1], &*h[2]];
                let [g0, g1, g2] = &mut gh;
                let sp = sp.map(|s| &s[row(r)]);
                each!(be, w, k_open_back((p, n), hs, &ii[row(r)], sp, &mut gs[row(r)], &mut gcur[row(r)], g0, g1, g2));
            }
            if let Some(m) = r.checked_sub(1).filter(|&m| m < rows) {
                line_back::<true>(be, &e[row(m)], gh[0], &mut gnext[row(m)], tmp);
                let gmm = &mut *gm[m % 2];
                line_op::<false>(be, &ii[row(m)], gmm);
                let (p, n) = (m > 0, m + 1 < rows);
                let up = if p { &ii[row(m - 1)] } else { &[][..] };
                let dn = if n { &ii[row(m + 1)] } else { &[][..] };
                let (ga, gb, gc) = rows3(gcur, w, rows, m);
                each!(be, w, k_erode_back((p, n), [up, &ii[row(m)], dn], &gnext[row(m)], gmm, ga, gb, gc));
            }
            if let Some(m) = r.checked_sub(2) {
                line_back::<false>(be, &ii[row(m)], gm[m % 2], &mut gcur[row(m)], tmp);
            }
        }
    }
}

/// Step 1 of [`backward_2d`] at one row: the opening `max(h0?, h1, h2?)` with its winners, the
/// update's reverse (`gs`, `gcur`), and `-dL/di` added to the winner's row of `dL/dH`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn k_open_back<L: Lane>(
    j: usize,
    (p, n): (bool, bool),
    [h0, h1, h2]: [&[f32]; 3],
    i: &[f32],
    sp: Option<&[f32]>,
    gs: &mut [f32],
    gcur: &mut [f32],
    g0: &mut [f32],
    g1: &mut [f32],
    g2: &mut [f32],
) {
    let hb = L::ld(h1, j);
    let (mp, mm, mn, o) = match (p, n) {
        (true, true) => win::<L, true, true, true>(L::ld(h0, j), hb, L::ld(h2, j)),
        (true, false) => win::<L, true, true, false>(L::ld(h0, j), hb, hb),
        (false, true) => win::<L, true, false, true>(hb, hb, L::ld(h2, j)),
        (false, false) => win::<L, true, false, false>(hb, hb, hb),
    };
    let x = L::ld(i, j) - o;
    let (gp, gv) = step_back(sp.map(|s| L::ld(s, j)), x, L::ld(gs, j));
    if sp.is_some() {
        gp.st(gs, j);
    }
    gv.st(gcur, j);
    scatter(j, (p, n), (mp, mm, mn), -gv, g0, g1, g2);
}

/// `g0 += mp ? v : 0`, `g1 += mm ? v : 0`, `g2 += mn ? v : 0` (rows `g0`, `g2` when present).
#[inline(always)]
#[allow(clippy::type_complexity)]
fn scatter<L: Lane>(
    j: usize,
    (p, n): (bool, bool),
    (mp, mm, mn): (L::M, L::M, L::M),
    v: L,
    g0: &mut [f32],
    g1: &mut [f32],
    g2: &mut [f32],
) {
    if p {
        (L::ld(g0, j) + L::keep(mp, v)).st(g0, j);
    }
    (L::ld(g1, j) + L::keep(mm, v)).st(g1, j);
    if n {
        (L::ld(g2, j) + L::keep(mn, v)).st(g2, j);
    }
}

/// Step 2 of [`backward_2d`] at one row: the column minimum `V = min(up?, cur, dn?)` with its
/// winners and the line minimum `M` (in `gm`), the row's `dL/dE` (`ge`) split between them, `gm`
/// becoming the `M` share and the `V` share added to the winner's row of `dL/dI`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn k_erode_back<L: Lane>(
    j: usize,
    (p, n): (bool, bool),
    [up, cur, dn]: [&[f32]; 3],
    ge: &[f32],
    gm: &mut [f32],
    g0: &mut [f32],
    g1: &mut [f32],
    g2: &mut [f32],
) {
    let b = L::ld(cur, j);
    let (mp, mm, mn, v) = match (p, n) {
        (true, true) => win::<L, false, true, true>(L::ld(up, j), b, L::ld(dn, j)),
        (true, false) => win::<L, false, true, false>(L::ld(up, j), b, b),
        (false, true) => win::<L, false, false, true>(b, b, L::ld(dn, j)),
        (false, false) => win::<L, false, false, false>(b, b, b),
    };
    let (g, m) = (L::ld(ge, j), L::ld(gm, j));
    L::share(m, v, g).st(gm, j);
    scatter(j, (p, n), (mp, mm, mn), L::share(v, m, g), g0, g1, g2);
}

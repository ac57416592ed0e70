//! Soft morphology and the soft skeleton of clDice (Shit et al. 2021), forward and reverse, on one
//! plane (one (image, channel) pair) of 2 or 3 spatial axes. See `docs/LOSSES.md`, section clDice.
//!
//! - `erode(I)`: 2D `min(min3x1(I), min1x3(I))`; 3D `min(min(min3x1x1, min1x3x1), min1x1x3)`.
//! - `dilate(I)`: the maximum over the 3x3 (3x3x3) window, computed separably (last axis first).
//! - `skel(I)`: `s = relu(I - open(I))`; then `iters` times `I <- erode(I)`,
//!   `d = relu(I - open(I))`, `s <- s + relu(d - s d)`; `open = dilate o erode`.
//!
//! Windows are clipped at the border (padding never wins). The reverse pass follows torch's
//! subgradient rules exactly: a max (min) window sends its gradient to the first extreme element
//! in scan order (the smallest flat index; separable passes innermost axis first reproduce the
//! row-major scan of the full window), the elementwise min of the 1D erosions splits it equally
//! among equal arguments (2D 1/2 + 1/2; 3D as `min(min(p1, p2), p3)`: 1/4, 1/4, 1/2), and
//! `relu'(0) = 0`. The winners are recomputed from the stored inputs of each window pass.
//!
//! Both backends compute the same operations in the same order (window passes select, never
//! round; elementwise steps use no fused multiply-add), so they agree bit for bit; only the sums
//! of [`sum_prod`] accumulate differently (`f32` lanes per chunk vs `f64` per element).

use segloss_core::kernel::Backend;
use segloss_core::simd::{f32x8, lanes_sum_f64, load, store, LANES};
use std::ops::{Add, Mul, Neg, Sub};

/// Runs the lane kernel `f(j, args..)` over `0..n`: `f32x8` lanes with the SIMD backend, then
/// (or only, with the scalar backend) one element at a time.
macro_rules! each {
    ($be:expr, $n:expr, $f:ident ( $($arg:expr),* $(,)? )) => {{
        let n: usize = $n;
        let mut j = 0usize;
        if $be == Backend::Simd {
            while j + LANES <= n {
                $f::<f32x8>(j, $($arg),*);
                j += LANES;
            }
        }
        while j < n {
            $f::<f32>(j, $($arg),*);
            j += 1;
        }
    }};
}

/// The spatial shape of one plane: 2 or 3 axes (`dims[..nd]`, row-major).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grid {
    pub(crate) dims: [usize; 3],
    pub(crate) nd: usize,
}

impl Grid {
    /// The grid of `spatial` (2 or 3 axes; the caller checks).
    pub(crate) fn new(spatial: &[usize]) -> Grid {
        let mut dims = [1; 3];
        dims[..spatial.len()].copy_from_slice(spatial);
        Grid { dims, nd: spatial.len() }
    }

    /// Pixels of the plane.
    pub(crate) fn len(&self) -> usize {
        self.dims[..self.nd].iter().product()
    }

    /// `(outer, len, inner)` of axis `a`: element `(o, i, j)` is at `(o * len + i) * inner + j`.
    fn axis(&self, a: usize) -> (usize, usize, usize) {
        let d = &self.dims[..self.nd];
        (d[..a].iter().product(), d[a], d[a + 1..].iter().product())
    }
}

/// Buffers of one skeleton evaluation, reused across planes and calls.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// The erosion chain `I_0 .. I_{iters+1}` (two planes when nothing is recorded).
    i: Vec<Vec<f32>>,
    /// The openings `O_k = dilate(I_{k+1})`.
    o: Vec<Vec<f32>>,
    /// The skeletons `s_0 .. s_iters`.
    s: Vec<Vec<f32>>,
    /// Temporaries of the window passes and of the reverse pass.
    t: Vec<Vec<f32>>,
    /// The gradients of the reverse pass.
    b: Vec<Vec<f32>>,
    /// Three lines of the last axis (reverse pass of a line).
    line: Vec<f32>,
}

fn ensure(v: &mut Vec<Vec<f32>>, count: usize, len: usize) {
    if v.len() < count {
        v.resize_with(count, Vec::new);
    }
    for p in v.iter_mut().take(count) {
        if p.len() != len {
            p.clear();
            p.resize(len, 0.0);
        }
    }
}

/// Two distinct planes of `v`, the first mutable.
fn pair_mut(v: &mut [Vec<f32>], a: usize, b: usize) -> (&mut [f32], &[f32]) {
    assert_ne!(a, b);
    if a < b {
        let (x, y) = v.split_at_mut(b);
        (&mut x[a], &y[0])
    } else {
        let (x, y) = v.split_at_mut(a);
        (&mut y[0], &x[b])
    }
}

// ---------------------------------------------------------------------------------------------
// window passes

/// `min` or `max` of two values (`MAX` selects).
#[inline(always)]
fn op<const MAX: bool>(a: f32, b: f32) -> f32 {
    if MAX {
        a.max(b)
    } else {
        a.min(b)
    }
}

#[inline(always)]
fn opv<const MAX: bool>(a: f32x8, b: f32x8) -> f32x8 {
    if MAX {
        a.max(b)
    } else {
        a.min(b)
    }
}

/// `out = op(a, b[, c])` elementwise (rows of an outer axis).
fn rows_op<const MAX: bool>(be: Backend, a: &[f32], b: &[f32], c: Option<&[f32]>, out: &mut [f32]) {
    let n = out.len();
    let mut j = 0;
    if be == Backend::Simd {
        while j + LANES <= n {
            let mut v = opv::<MAX>(load(&a[j..]), load(&b[j..]));
            if let Some(c) = c {
                v = opv::<MAX>(v, load(&c[j..]));
            }
            store(&mut out[j..], v);
            j += LANES;
        }
    }
    for k in j..n {
        let v = op::<MAX>(a[k], b[k]);
        out[k] = match c {
            Some(c) => op::<MAX>(v, c[k]),
            None => v,
        };
    }
}

/// The 3-window min or max along one line (the last axis), clipped at its ends.
fn line_op<const MAX: bool>(be: Backend, s: &[f32], d: &mut [f32]) {
    let len = s.len();
    if len == 1 {
        d[0] = s[0];
        return;
    }
    d[0] = op::<MAX>(s[0], s[1]);
    d[len - 1] = op::<MAX>(s[len - 2], s[len - 1]);
    let mut i = 1;
    if be == Backend::Simd {
        while i + LANES < len {
            let v = opv::<MAX>(opv::<MAX>(load(&s[i - 1..]), load(&s[i..])), load(&s[i + 1..]));
            store(&mut d[i..], v);
            i += LANES;
        }
    }
    while i + 1 < len {
        d[i] = op::<MAX>(op::<MAX>(s[i - 1], s[i]), s[i + 1]);
        i += 1;
    }
}

/// The 3-window min or max along axis `ax` of `src` into `dst`, clipped at the border.
fn window<const MAX: bool>(be: Backend, g: &Grid, ax: usize, src: &[f32], dst: &mut [f32]) {
    let (outer, len, inner) = g.axis(ax);
    if inner == 1 {
        for o in 0..outer {
            line_op::<MAX>(be, &src[o * len..(o + 1) * len], &mut dst[o * len..(o + 1) * len]);
        }
        return;
    }
    for o in 0..outer {
        let base = o * len * inner;
        let row = |k: usize| &src[base + k * inner..base + (k + 1) * inner];
        for i in 0..len {
            let out = &mut dst[base + i * inner..base + (i + 1) * inner];
            match (i > 0, i + 1 < len) {
                (true, true) => rows_op::<MAX>(be, row(i - 1), row(i), Some(row(i + 1)), out),
                (true, false) => rows_op::<MAX>(be, row(i - 1), row(i), None, out),
                (false, true) => rows_op::<MAX>(be, row(i), row(i + 1), None, out),
                (false, false) => out.copy_from_slice(row(i)),
            }
        }
    }
}

/// Which element of the window `(a, b, c)` around `b` wins: -1, 0 or 1 (`a`, `c` absent at the
/// border). The first extreme in scan order: torch's `max_pool` keeps the first strict maximum.
#[inline(always)]
fn winner<const MAX: bool>(a: Option<f32>, b: f32, c: Option<f32>) -> i32 {
    let better = |x: f32, y: f32| if MAX { x > y } else { x < y };
    let (mut m, mut w) = match a {
        Some(a) => (a, -1),
        None => (b, 0),
    };
    if w == -1 && better(b, m) {
        m = b;
        w = 0;
    }
    if let Some(c) = c {
        if better(c, m) {
            w = 1;
        }
    }
    w
}

/// Lane masks `(prev, self, next)` of the winners of windows `(a, b, c)` (all three present).
#[inline(always)]
fn winner_v<const MAX: bool>(a: f32x8, b: f32x8, c: f32x8) -> (f32x8, f32x8, f32x8) {
    let better = |x: f32x8, y: f32x8| if MAX { x.simd_gt(y) } else { x.simd_lt(y) };
    let b_over_a = better(b, a);
    let m = b_over_a.select(b, a);
    let next = better(c, m);
    let prev = !(b_over_a | next);
    let mid = b_over_a & !next;
    (prev, mid, next)
}

/// Lane masks for a window with one side absent: `(first, second)` winners of `(x, y)`, `x` the
/// earlier element in scan order.
#[inline(always)]
fn winner2_v<const MAX: bool>(x: f32x8, y: f32x8) -> (f32x8, f32x8) {
    let second = if MAX { y.simd_gt(x) } else { y.simd_lt(x) };
    (!second, second)
}

/// `gin += ` the reverse of [`window`] along `ax` (input values `src`, output gradient `gout`).
fn window_back<const MAX: bool>(be: Backend, g: &Grid, ax: usize, src: &[f32], gout: &[f32], gin: &mut [f32], line: &mut Vec<f32>) {
    let (outer, len, inner) = g.axis(ax);
    if inner == 1 {
        line.resize(3 * len, 0.0);
        for o in 0..outer {
            let r = o * len..(o + 1) * len;
            line_back::<MAX>(be, &src[r.clone()], &gout[r.clone()], &mut gin[r], line);
        }
        return;
    }
    for o in 0..outer {
        let base = o * len * inner;
        for i in 0..len {
            let at = |k: usize| base + k * inner;
            let mut j = 0;
            if be == Backend::Simd {
                let z = f32x8::ZERO;
                while j + LANES <= inner {
                    let b = load(&src[at(i) + j..]);
                    let gv = load(&gout[at(i) + j..]);
                    let add = |gin: &mut [f32], k: usize, m: f32x8| {
                        let p = at(k) + j;
                        let v = load(&gin[p..]) + m.select(gv, z);
                        store(&mut gin[p..], v);
                    };
                    match (i > 0, i + 1 < len) {
                        (true, true) => {
                            let (mp, mm, mn) = winner_v::<MAX>(load(&src[at(i - 1) + j..]), b, load(&src[at(i + 1) + j..]));
                            add(gin, i - 1, mp);
                            add(gin, i, mm);
                            add(gin, i + 1, mn);
                        }
                        (true, false) => {
                            let (mp, mm) = winner2_v::<MAX>(load(&src[at(i - 1) + j..]), b);
                            add(gin, i - 1, mp);
                            add(gin, i, mm);
                        }
                        (false, true) => {
                            let (mm, mn) = winner2_v::<MAX>(b, load(&src[at(i + 1) + j..]));
                            add(gin, i, mm);
                            add(gin, i + 1, mn);
                        }
                        (false, false) => add(gin, i, f32x8::from_bits(wide::u32x8::splat(u32::MAX))),
                    }
                    j += LANES;
                }
            }
            for jj in j..inner {
                let a = (i > 0).then(|| src[at(i - 1) + jj]);
                let c = (i + 1 < len).then(|| src[at(i + 1) + jj]);
                let w = winner::<MAX>(a, src[at(i) + jj], c);
                // the same additions as the lanes above: prev, self, next rows in turn
                let gv = gout[at(i) + jj];
                if i > 0 {
                    gin[at(i - 1) + jj] += if w == -1 { gv } else { 0.0 };
                }
                gin[at(i) + jj] += if w == 0 { gv } else { 0.0 };
                if i + 1 < len {
                    gin[at(i + 1) + jj] += if w == 1 { gv } else { 0.0 };
                }
            }
        }
    }
}

/// The reverse of a window pass along one line: `gin[j] += ((next_{j-1} + self_j) + prev_{j+1})`
/// with `next_i`, `self_i`, `prev_i` the gradient of output `i` when its window's winner is the
/// next, the same or the previous element (0 otherwise); `tmp` holds the three contributions.
fn line_back<const MAX: bool>(be: Backend, s: &[f32], g: &[f32], gin: &mut [f32], tmp: &mut [f32]) {
    let len = s.len();
    let (tp, rest) = tmp.split_at_mut(len);
    let (tm, tn) = rest.split_at_mut(len);
    let mut i = 0;
    if be == Backend::Simd && len > LANES + 1 {
        let z = f32x8::ZERO;
        i = 1;
        while i + LANES < len {
            let (mp, mm, mn) = winner_v::<MAX>(load(&s[i - 1..]), load(&s[i..]), load(&s[i + 1..]));
            let gv = load(&g[i..]);
            store(&mut tp[i..], mp.select(gv, z));
            store(&mut tm[i..], mm.select(gv, z));
            store(&mut tn[i..], mn.select(gv, z));
            i += LANES;
        }
        // the first window (no previous element)
        let w = winner::<MAX>(None, s[0], (len > 1).then(|| s[1]));
        tp[0] = 0.0;
        tm[0] = if w == 0 { g[0] } else { 0.0 };
        tn[0] = if w == 1 { g[0] } else { 0.0 };
    }
    while i < len {
        let a = (i > 0).then(|| s[i - 1]);
        let c = (i + 1 < len).then(|| s[i + 1]);
        let w = winner::<MAX>(a, s[i], c);
        tp[i] = if w == -1 { g[i] } else { 0.0 };
        tm[i] = if w == 0 { g[i] } else { 0.0 };
        tn[i] = if w == 1 { g[i] } else { 0.0 };
        i += 1;
    }
    // gather, in the order a scatter over increasing outputs adds: i = j-1, j, j+1
    let mut j = 0;
    if be == Backend::Simd && len > LANES + 1 {
        j = 1;
        while j + LANES < len {
            let v = ((load(&gin[j..]) + load(&tn[j - 1..])) + load(&tm[j..])) + load(&tp[j + 1..]);
            store(&mut gin[j..], v);
            j += LANES;
        }
        gin[0] = (gin[0] + tm[0]) + tp[1];
    }
    while j < len {
        let mut v = gin[j];
        if j > 0 {
            v += tn[j - 1];
        }
        v += tm[j];
        if j + 1 < len {
            v += tp[j + 1];
        }
        gin[j] = v;
        j += 1;
    }
}

// ---------------------------------------------------------------------------------------------
// erosion and dilation

/// The lines of the last axis: its length `w`, the number of lines, and each outer axis as
/// `(size, stride in lines)`.
fn lines(g: &Grid) -> (usize, usize, Vec<(usize, usize)>) {
    let d = &g.dims[..g.nd];
    let w = d[g.nd - 1];
    let axes = (0..g.nd - 1).map(|a| (d[a], d[a + 1..g.nd - 1].iter().product::<usize>())).collect();
    (w, g.len() / w, axes)
}

/// `out = op(line window of cur, nbrs[0], nbrs[1], ...)` elementwise: the line's own 3-window
/// (clipped at its ends) and whole neighbouring lines, in one sweep.
fn cross<const MAX: bool>(be: Backend, cur: &[f32], nbrs: &[&[f32]], out: &mut [f32]) {
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

/// The lines of `src` next to line `l` along the outer axes: the axis neighbours (`box_`: false)
/// or every line of the 3^(nd-1) box but `l` itself (`box_`: true).
fn neighbours<'a>(src: &'a [f32], w: usize, axes: &[(usize, usize)], l: usize, box_: bool) -> Vec<&'a [f32]> {
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

/// `dst = erode(src)`: the value of `min(min3x1, min1x3)` (3D: of the three 1D windows) is the
/// minimum over the cross of the pixel and its axis neighbours, computed line by line in one
/// sweep (the reverse pass recomputes the 1D windows, whose winners it needs).
fn erode(be: Backend, g: &Grid, src: &[f32], dst: &mut [f32]) {
    let (w, n_lines, axes) = lines(g);
    for l in 0..n_lines {
        let nb = neighbours(src, w, &axes, l, false);
        cross::<false>(be, &src[l * w..(l + 1) * w], &nb, &mut dst[l * w..(l + 1) * w]);
    }
}

/// `dilate(src)` line by line: `h` (a plane) receives the maxima along the last axis, then each
/// output line, the maximum of `h` over its neighbouring lines, is written into its place in
/// `o` (a plane) or into `line`, and handed to `f(line index, values)`.
fn dilate<F: FnMut(usize, &[f32])>(
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

/// `out = max(cur, nbrs...)` elementwise in one sweep.
fn rows_max(be: Backend, cur: &[f32], nbrs: &[&[f32]], out: &mut [f32]) {
    let n = cur.len();
    let mut j = 0;
    if be == Backend::Simd {
        while j + LANES <= n {
            let mut v = load(&cur[j..]);
            for nb in nbrs {
                v = v.max(load(&nb[j..]));
            }
            store(&mut out[j..], v);
            j += LANES;
        }
    }
    for k in j..n {
        let mut v = cur[k];
        for nb in nbrs {
            v = v.max(nb[k]);
        }
        out[k] = v;
    }
}

/// `gin += ` the reverse of [`erode`] at `src` for the output gradient `gout`; `t`: 3 temporaries.
fn erode_back(be: Backend, g: &Grid, src: &[f32], gout: &[f32], gin: &mut [f32], t: &mut [Vec<f32>], line: &mut Vec<f32>) {
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

/// `gin += ` the reverse of [`dilate`] at `src` for the output gradient `gout`; `t`: 4 temporaries.
fn dilate_back(be: Backend, g: &Grid, src: &[f32], gout: &[f32], gin: &mut [f32], t: &mut [Vec<f32>], line: &mut Vec<f32>) {
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

// ---------------------------------------------------------------------------------------------
// elementwise kernels, written once for f32 and f32x8 lanes

trait Lane: Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Neg<Output = Self> {
    fn ld(s: &[f32], j: usize) -> Self;
    fn st(self, s: &mut [f32], j: usize);
    /// `x > 0 ? v : 0`.
    fn if_pos(self, v: Self) -> Self;
    /// `relu(x) = x > 0 ? x : 0`.
    fn relu(self) -> Self {
        self.if_pos(self)
    }
    /// `x < y ? g : x == y ? g / 2 : 0`, torch's `minimum` gradient share of `x`.
    fn share(x: Self, y: Self, g: Self) -> Self;
    fn min(self, o: Self) -> Self;
}

impl Lane for f32 {
    #[inline(always)]
    fn ld(s: &[f32], j: usize) -> f32 {
        s[j]
    }
    #[inline(always)]
    fn st(self, s: &mut [f32], j: usize) {
        s[j] = self;
    }
    #[inline(always)]
    fn if_pos(self, v: f32) -> f32 {
        if self > 0.0 {
            v
        } else {
            0.0
        }
    }
    #[inline(always)]
    fn share(x: f32, y: f32, g: f32) -> f32 {
        if x < y {
            g
        } else if x == y {
            g * 0.5
        } else {
            0.0
        }
    }
    #[inline(always)]
    fn min(self, o: f32) -> f32 {
        f32::min(self, o)
    }
}

impl Lane for f32x8 {
    #[inline(always)]
    fn ld(s: &[f32], j: usize) -> f32x8 {
        load(&s[j..])
    }
    #[inline(always)]
    fn st(self, s: &mut [f32], j: usize) {
        store(&mut s[j..], self)
    }
    #[inline(always)]
    fn if_pos(self, v: f32x8) -> f32x8 {
        self.simd_gt(f32x8::ZERO).select(v, f32x8::ZERO)
    }
    #[inline(always)]
    fn share(x: f32x8, y: f32x8, g: f32x8) -> f32x8 {
        x.simd_lt(y).select(g, x.simd_eq(y).select(g * f32x8::splat(0.5), f32x8::ZERO))
    }
    #[inline(always)]
    fn min(self, o: f32x8) -> f32x8 {
        f32x8::min(self, o)
    }
}

/// 2D erosion: `(t0, t1) = (m0, m1)` become their gradient shares of `min(m0, m1)`.
#[inline(always)]
fn k_share2<L: Lane>(j: usize, g: &[f32], t0: &mut [f32], t1: &mut [f32]) {
    let (gv, a, b) = (L::ld(g, j), L::ld(t0, j), L::ld(t1, j));
    L::share(a, b, gv).st(t0, j);
    L::share(b, a, gv).st(t1, j);
}

/// 3D erosion: shares of `min(min(m0, m1), m2)`.
#[inline(always)]
fn k_share3<L: Lane>(j: usize, g: &[f32], t0: &mut [f32], t1: &mut [f32], t2: &mut [f32]) {
    let (gv, a, b, c) = (L::ld(g, j), L::ld(t0, j), L::ld(t1, j), L::ld(t2, j));
    let m = a.min(b);
    let gm = L::share(m, c, gv);
    L::share(c, m, gv).st(t2, j);
    L::share(a, b, gm).st(t0, j);
    L::share(b, a, gm).st(t1, j);
}

/// `s = relu(i - o)`.
#[inline(always)]
fn k_first<L: Lane>(j: usize, s: &mut [f32], i: &[f32], o: &[f32]) {
    (L::ld(i, j) - L::ld(o, j)).relu().st(s, j);
}

/// `d = relu(i - o)`, `s = prev + relu(d - prev d)` (`prev` = `s` itself when `None`).
#[inline(always)]
fn k_step<L: Lane>(j: usize, s: &mut [f32], prev: Option<&[f32]>, i: &[f32], o: &[f32]) {
    let d = (L::ld(i, j) - L::ld(o, j)).relu();
    let sp = match prev {
        Some(p) => L::ld(p, j),
        None => L::ld(s, j),
    };
    (sp + (d - sp * d).relu()).st(s, j);
}

/// Reverse of `k_step` and of `d = relu(i - o)`: from `gs = dL/ds_k`, writes `gs <- dL/ds_{k-1}`,
/// `gv = dL/d(i)` through `d` (`gcur`) and `-gv` (`gneg`, the gradient of `o`).
#[inline(always)]
fn k_back_step<L: Lane>(j: usize, gs: &mut [f32], sp: &[f32], i: &[f32], o: &[f32], gcur: &mut [f32], gneg: &mut [f32]) {
    let x = L::ld(i, j) - L::ld(o, j);
    let d = x.relu();
    let (g, s) = (L::ld(gs, j), L::ld(sp, j));
    let du = (d - s * d).if_pos(g);
    let gd = du - du * s;
    (g - du * d).st(gs, j);
    let gv = x.if_pos(gd);
    gv.st(gcur, j);
    (-gv).st(gneg, j);
}

/// Reverse of `s_0 = relu(i - o)`.
#[inline(always)]
fn k_back_first<L: Lane>(j: usize, gs: &[f32], i: &[f32], o: &[f32], gcur: &mut [f32], gneg: &mut [f32]) {
    let gv = (L::ld(i, j) - L::ld(o, j)).if_pos(L::ld(gs, j));
    gv.st(gcur, j);
    (-gv).st(gneg, j);
}

/// `sum a b` (and `sum a`) in `f64`: per element in `f64` (scalar backend), or `f32` lanes over
/// chunks of 32 elements added in `f64` (SIMD backend).
pub(crate) fn sums(be: Backend, a: &[f32], b: &[f32]) -> (f64, f64) {
    let n = a.len();
    let (mut sab, mut sa) = (0.0f64, 0.0f64);
    let mut j = 0;
    if be == Backend::Simd {
        const CHUNK: usize = 4 * LANES;
        while j + CHUNK <= n {
            let (mut p, mut q) = (f32x8::ZERO, f32x8::ZERO);
            for k in 0..4 {
                let (x, y) = (load(&a[j + k * LANES..]), load(&b[j + k * LANES..]));
                p += x * y;
                q += x;
            }
            sab += lanes_sum_f64(p);
            sa += lanes_sum_f64(q);
            j += CHUNK;
        }
    }
    for k in j..n {
        sab += a[k] as f64 * b[k] as f64;
        sa += a[k] as f64;
    }
    (sab, sa)
}

// ---------------------------------------------------------------------------------------------
// the skeleton

/// The soft skeleton of planes of one grid, with `iters` iterations, on a backend.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Skel {
    pub(crate) grid: Grid,
    pub(crate) iters: usize,
    pub(crate) be: Backend,
}

impl Skel {
    /// `skel(x)`, left in `sc` and returned. With `record`, every plane the reverse pass needs
    /// is kept (`iters + 2` erosions, `iters + 1` openings and skeletons); without, two
    /// erosions and one opening and skeleton plane are reused.
    pub(crate) fn forward<'s>(&self, x: &[f32], sc: &'s mut Scratch, record: bool) -> &'s [f32] {
        let (be, g, it) = (self.be, &self.grid, self.iters);
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
                if k == 0 {
                    each!(be, w, k_first(&mut s[0][r.clone()], i, o));
                } else if record {
                    let (sk, prev) = pair_mut(s, k, k - 1);
                    each!(be, w, k_step(&mut sk[r.clone()], Some(&prev[r.clone()]), i, o));
                } else {
                    each!(be, w, k_step(&mut s[0][r.clone()], None, i, o));
                }
            });
        }
        &sc.s[if record { it } else { 0 }]
    }

    /// `gin = sum_y gs(y) d skel(x)(y) / d x` for the `x` of the last recorded [`Skel::forward`]
    /// (`gs` is overwritten), by torch's subgradient rules.
    pub(crate) fn backward(&self, sc: &mut Scratch, gs: &mut [f32], gin: &mut [f32]) {
        let (be, g, it) = (self.be, &self.grid, self.iters);
        let n = g.len();
        // b[0], b[1]: dL/dI_k and dL/dI_{k+1} (roles swap each step); b[2]: -dL/dO_k
        ensure(&mut sc.b, 3, n);
        ensure(&mut sc.t, 4, n);
        let mut cur = 0;
        sc.b[1 - cur].fill(0.0);
        for k in (0..=it).rev() {
            let (i, o) = (&sc.i[k], &sc.o[k]);
            {
                let (bc, rest) = sc.b.split_at_mut(1);
                let (bn, bneg) = rest.split_at_mut(1);
                let (gcur, gnext) = if cur == 0 { (&mut bc[0], &mut bn[0]) } else { (&mut bn[0], &mut bc[0]) };
                let gneg = &mut bneg[0];
                if k >= 1 {
                    each!(be, n, k_back_step(&mut *gs, &sc.s[k - 1], i, o, &mut gcur[..], &mut gneg[..]));
                } else {
                    each!(be, n, k_back_first(&*gs, i, o, &mut gcur[..], &mut gneg[..]));
                }
                dilate_back(be, g, &sc.i[k + 1], gneg, gnext, &mut sc.t, &mut sc.line);
                erode_back(be, g, i, gnext, gcur, &mut sc.t, &mut sc.line);
            }
            cur = 1 - cur;
        }
        gin.copy_from_slice(&sc.b[1 - cur]);
    }
}

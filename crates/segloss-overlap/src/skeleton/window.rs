//! The 3-windows of the soft morphology along one axis, forward (values) and reverse (the
//! gradient routed to each window's winner, recomputed from the pass's input).

use super::super::lanes::{f32x8, load, store, u32x8};
use crate::skeleton::Grid;
use segloss_core::kernel::Backend;
use segloss_core::simd::LANES;

/// `min` or `max` of two values (`MAX` selects) as x86's `minps`/`maxps` select: `a < b ? a : b`
/// (`a > b ? a : b`), the second on a tie or a NaN. [`opv`] selects the same on lanes (one
/// instruction, where `f32::min` and `wide`'s NaN-aware `min` need three), so both backends pick
/// the same element.
#[inline(always)]
pub(super) fn op<const MAX: bool>(a: f32, b: f32) -> f32 {
    let first = if MAX { a > b } else { a < b };
    if first {
        a
    } else {
        b
    }
}

#[inline(always)]
pub(super) fn opv<const MAX: bool>(a: f32x8, b: f32x8) -> f32x8 {
    if MAX {
        a.fast_max(b)
    } else {
        a.fast_min(b)
    }
}

super::super::level_fn! {
    /// `out = op(a, b[, c])` elementwise (rows of an outer axis).
    pub(super) fn rows_op<const MAX: bool>(be: Backend, a: &[f32], b: &[f32], c: Option<&[f32]>, out: &mut [f32]) {
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
}

super::super::level_fn! {
    /// The 3-window min or max along one line (the last axis), clipped at its ends.
    pub(super) fn line_op<const MAX: bool>(be: Backend, s: &[f32], d: &mut [f32]) {
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
}

super::super::level_fn! {
    /// The 3-window min or max along axis `ax` of `src` into `dst`, clipped at the border.
    pub(super) fn window<const MAX: bool>(be: Backend, g: &Grid, ax: usize, src: &[f32], dst: &mut [f32]) {
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
}

/// Which element of the window `(a, b, c)` around `b` wins: -1, 0 or 1 (`a`, `c` absent at the
/// border). The first extreme in scan order: torch's `max_pool` keeps the first strict maximum.
#[inline(always)]
pub(super) fn winner<const MAX: bool>(a: Option<f32>, b: f32, c: Option<f32>) -> i32 {
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
pub(super) fn winner_v<const MAX: bool>(a: f32x8, b: f32x8, c: f32x8) -> (f32x8, f32x8, f32x8) {
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
pub(super) fn winner2_v<const MAX: bool>(x: f32x8, y: f32x8) -> (f32x8, f32x8) {
    let second = if MAX { y.simd_gt(x) } else { y.simd_lt(x) };
    (!second, second)
}

super::super::level_fn! {
    /// `gin += ` the reverse of [`window`] along `ax` (input values `src`, output gradient `gout`).
    pub(super) fn window_back<const MAX: bool>(
        be: Backend,
        g: &Grid,
        ax: usize,
        src: &[f32],
        gout: &[f32],
        gin: &mut [f32],
        line: &mut Vec<f32>,
    ) {
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
                            (false, false) => add(gin, i, f32x8::from_bits(u32x8::splat(u32::MAX))),
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
}

super::super::level_fn! {
    /// The reverse of a window pass along one line: `gin[j] += ((next_{j-1} + self_j) + prev_{j+1})`
    /// with `next_i`, `self_i`, `prev_i` the gradient of output `i` when its window's winner is the
    /// next, the same or the previous element (0 otherwise); `tmp` holds the three contributions.
    pub(super) fn line_back<const MAX: bool>(be: Backend, s: &[f32], g: &[f32], gin: &mut [f32], tmp: &mut [f32]) {
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
}

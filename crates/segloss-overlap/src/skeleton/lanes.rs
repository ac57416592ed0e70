//! Elementwise kernels of the skeleton, written once for `f32` and `f32x8` lanes, and the
//! winners of a 3-window (torch's first extreme in scan order) as lane masks.

use super::super::lanes::{f32x8, load, store, u32x8};
use super::window::{op, opv};
use std::ops::{Add, Mul, Neg, Sub};

pub(super) trait Lane: Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Neg<Output = Self> {
    /// A lane mask (`bool` for one element).
    type M: Copy;
    fn ld(s: &[f32], j: usize) -> Self;
    fn st(self, s: &mut [f32], j: usize);
    /// `x > 0 ? v : 0`.
    fn if_pos(self, v: Self) -> Self;
    /// `relu(x) = x > 0 ? x : 0`.
    #[inline(always)]
    fn relu(self) -> Self {
        self.if_pos(self)
    }
    /// `x < y ? g : x == y ? g / 2 : 0`, torch's `minimum` gradient share of `x`.
    fn share(x: Self, y: Self, g: Self) -> Self;
    /// The minimum and maximum of [`op`] (the same element on both backends).
    fn min(self, o: Self) -> Self;
    fn max(self, o: Self) -> Self;
    /// `x > y` (`MAX`) or `x < y`: `x` beats `y`, which comes first in scan order.
    fn beats<const MAX: bool>(x: Self, y: Self) -> Self::M;
    /// `m ? a : b`.
    fn sel(m: Self::M, a: Self, b: Self) -> Self;
    /// `m ? a : 0`.
    fn keep(m: Self::M, a: Self) -> Self;
    fn and_not(a: Self::M, b: Self::M) -> Self::M;
    fn nor(a: Self::M, b: Self::M) -> Self::M;
    fn not(a: Self::M) -> Self::M;
    fn all(v: bool) -> Self::M;
}

impl Lane for f32 {
    type M = bool;
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
        op::<false>(self, o)
    }
    #[inline(always)]
    fn max(self, o: f32) -> f32 {
        op::<true>(self, o)
    }
    #[inline(always)]
    fn beats<const MAX: bool>(x: f32, y: f32) -> bool {
        if MAX {
            x > y
        } else {
            x < y
        }
    }
    #[inline(always)]
    fn sel(m: bool, a: f32, b: f32) -> f32 {
        if m {
            a
        } else {
            b
        }
    }
    #[inline(always)]
    fn keep(m: bool, a: f32) -> f32 {
        if m {
            a
        } else {
            0.0
        }
    }
    #[inline(always)]
    fn and_not(a: bool, b: bool) -> bool {
        a && !b
    }
    #[inline(always)]
    fn nor(a: bool, b: bool) -> bool {
        !(a || b)
    }
    #[inline(always)]
    fn not(a: bool) -> bool {
        !a
    }
    #[inline(always)]
    fn all(v: bool) -> bool {
        v
    }
}

impl Lane for f32x8 {
    type M = f32x8;
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
        opv::<false>(self, o)
    }
    #[inline(always)]
    fn max(self, o: f32x8) -> f32x8 {
        opv::<true>(self, o)
    }
    #[inline(always)]
    fn beats<const MAX: bool>(x: f32x8, y: f32x8) -> f32x8 {
        if MAX {
            x.simd_gt(y)
        } else {
            x.simd_lt(y)
        }
    }
    #[inline(always)]
    fn sel(m: f32x8, a: f32x8, b: f32x8) -> f32x8 {
        m.select(a, b)
    }
    #[inline(always)]
    fn keep(m: f32x8, a: f32x8) -> f32x8 {
        m.select(a, f32x8::ZERO)
    }
    #[inline(always)]
    fn and_not(a: f32x8, b: f32x8) -> f32x8 {
        a & !b
    }
    #[inline(always)]
    fn nor(a: f32x8, b: f32x8) -> f32x8 {
        !(a | b)
    }
    #[inline(always)]
    fn not(a: f32x8) -> f32x8 {
        !a
    }
    #[inline(always)]
    fn all(v: bool) -> f32x8 {
        f32x8::from_bits(u32x8::splat(if v { u32::MAX } else { 0 }))
    }
}

/// The winner masks `(prev, self, next)` of the 3-window `(a?, b, c?)` (`P`, `N`: `a`, `c`
/// present) and its extreme value: the first extreme in scan order, as torch's pooling keeps the
/// first strict maximum. An absent element's mask is all false and its value is not read.
#[inline(always)]
pub(super) fn win<L: Lane, const MAX: bool, const P: bool, const N: bool>(a: L, b: L, c: L) -> (L::M, L::M, L::M, L) {
    let none = L::all(false);
    match (P, N) {
        (true, true) => {
            let b_over_a = L::beats::<MAX>(b, a);
            let m = L::sel(b_over_a, b, a);
            let next = L::beats::<MAX>(c, m);
            (L::nor(b_over_a, next), L::and_not(b_over_a, next), next, L::sel(next, c, m))
        }
        (true, false) => {
            let second = L::beats::<MAX>(b, a);
            (L::not(second), second, none, L::sel(second, b, a))
        }
        (false, true) => {
            let second = L::beats::<MAX>(c, b);
            (none, L::not(second), second, L::sel(second, c, b))
        }
        (false, false) => (none, L::all(true), none, b),
    }
}

/// 2D erosion: `(t0, t1) = (m0, m1)` become their gradient shares of `min(m0, m1)`.
#[inline(always)]
pub(super) fn k_share2<L: Lane>(j: usize, g: &[f32], t0: &mut [f32], t1: &mut [f32]) {
    let (gv, a, b) = (L::ld(g, j), L::ld(t0, j), L::ld(t1, j));
    L::share(a, b, gv).st(t0, j);
    L::share(b, a, gv).st(t1, j);
}

/// 3D erosion: shares of `min(min(m0, m1), m2)`.
#[inline(always)]
pub(super) fn k_share3<L: Lane>(j: usize, g: &[f32], t0: &mut [f32], t1: &mut [f32], t2: &mut [f32]) {
    let (gv, a, b, c) = (L::ld(g, j), L::ld(t0, j), L::ld(t1, j), L::ld(t2, j));
    let m = a.min(b);
    let gm = L::share(m, c, gv);
    L::share(c, m, gv).st(t2, j);
    L::share(a, b, gm).st(t0, j);
    L::share(b, a, gm).st(t1, j);
}

/// One level's update of the skeleton from the image `i`, its opening `o` and the previous
/// skeleton `sp` (`None` at level 0): `relu(i - o)`, or `sp + relu(d - sp d)` with `d = relu(i - o)`.
#[inline(always)]
pub(super) fn step<L: Lane>(sp: Option<L>, i: L, o: L) -> L {
    let d = (i - o).relu();
    match sp {
        None => d,
        Some(sp) => sp + (d - sp * d).relu(),
    }
}

/// The reverse of [`step`] at `x = i - o`: from `g = dL/ds`, returns `(dL/dsp, dL/di)`
/// (`dL/do = -dL/di`); at level 0 (`sp` `None`) the first is not used.
#[inline(always)]
pub(super) fn step_back<L: Lane>(sp: Option<L>, x: L, g: L) -> (L, L) {
    match sp {
        None => (g, x.if_pos(g)),
        Some(s) => {
            let d = x.relu();
            let du = (d - s * d).if_pos(g);
            let gd = du - du * s;
            (g - du * d, x.if_pos(gd))
        }
    }
}

/// `s = step(prev, i, o)` (`prev` = `s` itself when `None`; `first`: level 0).
#[inline(always)]
pub(super) fn k_step<L: Lane>(j: usize, s: &mut [f32], prev: Option<&[f32]>, first: bool, i: &[f32], o: &[f32]) {
    let sp = (!first).then(|| L::ld(prev.unwrap_or(&*s), j));
    step(sp, L::ld(i, j), L::ld(o, j)).st(s, j);
}

/// Reverse of [`k_step`]: from `gs = dL/ds_k`, writes `gs <- dL/ds_{k-1}` (not at level 0,
/// `sp` `None`), `dL/d(i)` (`gcur`) and its negative, the gradient of `o` (`gneg`).
#[inline(always)]
pub(super) fn k_back_step<L: Lane>(j: usize, gs: &mut [f32], sp: Option<&[f32]>, i: &[f32], o: &[f32], gcur: &mut [f32], gneg: &mut [f32]) {
    let x = L::ld(i, j) - L::ld(o, j);
    let (gp, gv) = step_back(sp.map(|s| L::ld(s, j)), x, L::ld(gs, j));
    if sp.is_some() {
        gp.st(gs, j);
    }
    gv.st(gcur, j);
    (-gv).st(gneg, j);
}

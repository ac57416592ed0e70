//! The lane types of the AVX2+FMA level: the subset of `wide`'s `f32x8`, `i32x8` and `u32x8`
//! that the kernels use, with `wide`'s semantics lane for lane (its AVX2 build: the same NaN
//! rules of `min`/`max`, rounding, saturation and masks), written as plain arrays of eight lanes
//! in safe code.
//!
//! Nothing here names an instruction: each operation is a loop over the eight lanes, which LLVM
//! turns into one 256-bit instruction wherever the code is compiled with AVX2 and FMA enabled,
//! that is inside the kernel crates' `#[target_feature(enable = "avx2,fma")]` functions (see
//! `segloss_core::simd`). Outside them the same code is correct but slow (`mul_add` becomes a
//! call to `fmaf`), so only the dispatched kernels use these types. The one difference from
//! `wide`'s SSE2 build is rounding: `mul_add`, `mul_neg_add` and `mul_sub` are fused here (one
//! rounding) and unfused there (two).

#![allow(non_camel_case_types)]

use std::ops::{Add, AddAssign, BitAnd, BitOr, BitXor, Div, Mul, MulAssign, Neg, Not, Shl, Shr, Sub, SubAssign};

/// Eight `f32` lanes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[repr(C, align(32))]
pub struct f32x8([f32; 8]);

/// Eight `i32` lanes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C, align(32))]
pub struct i32x8([i32; 8]);

/// Eight `u32` lanes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C, align(32))]
pub struct u32x8([u32; 8]);

/// `[f(a[0]), ..., f(a[7])]`.
#[inline(always)]
fn map<A: Copy, R: Copy + Default>(a: [A; 8], f: impl Fn(A) -> R) -> [R; 8] {
    let mut r = [R::default(); 8];
    for i in 0..8 {
        r[i] = f(a[i]);
    }
    r
}

/// `[f(a[0], b[0]), ..., f(a[7], b[7])]`.
#[inline(always)]
fn zip<A: Copy, B: Copy, R: Copy + Default>(a: [A; 8], b: [B; 8], f: impl Fn(A, B) -> R) -> [R; 8] {
    let mut r = [R::default(); 8];
    for i in 0..8 {
        r[i] = f(a[i], b[i]);
    }
    r
}

/// A comparison result: all ones where true.
#[inline(always)]
fn mask(b: bool) -> f32 {
    f32::from_bits(if b { u32::MAX } else { 0 })
}

macro_rules! binary_ops {
    ($t:ident, $($tr:ident $f:ident $op:tt),*) => {$(
        impl $tr for $t {
            type Output = $t;
            #[inline(always)]
            fn $f(self, rhs: $t) -> $t {
                $t(zip(self.0, rhs.0, |a, b| a $op b))
            }
        }
    )*};
}

macro_rules! assign_ops {
    ($t:ident, $($tr:ident $f:ident $op:tt),*) => {$(
        impl $tr for $t {
            #[inline(always)]
            fn $f(&mut self, rhs: $t) {
                *self = *self $op rhs;
            }
        }
    )*};
}

binary_ops!(f32x8, Add add +, Sub sub -, Mul mul *, Div div /);
assign_ops!(f32x8, AddAssign add_assign +, SubAssign sub_assign -, MulAssign mul_assign *);
binary_ops!(i32x8, BitAnd bitand &, BitOr bitor |, BitXor bitxor ^);
binary_ops!(u32x8, BitAnd bitand &, BitOr bitor |, BitXor bitxor ^);

impl Add for i32x8 {
    type Output = i32x8;
    #[inline(always)]
    fn add(self, rhs: i32x8) -> i32x8 {
        i32x8(zip(self.0, rhs.0, i32::wrapping_add))
    }
}

impl Sub for i32x8 {
    type Output = i32x8;
    #[inline(always)]
    fn sub(self, rhs: i32x8) -> i32x8 {
        i32x8(zip(self.0, rhs.0, i32::wrapping_sub))
    }
}

impl Add for u32x8 {
    type Output = u32x8;
    #[inline(always)]
    fn add(self, rhs: u32x8) -> u32x8 {
        u32x8(zip(self.0, rhs.0, u32::wrapping_add))
    }
}

/// Bitwise operations of float lanes (masks), as `wide` has them.
macro_rules! float_bits {
    ($($tr:ident $f:ident $op:tt),*) => {$(
        impl $tr for f32x8 {
            type Output = f32x8;
            #[inline(always)]
            fn $f(self, rhs: f32x8) -> f32x8 {
                f32x8(zip(self.0, rhs.0, |a, b| f32::from_bits(a.to_bits() $op b.to_bits())))
            }
        }
    )*};
}

float_bits!(BitAnd bitand &, BitOr bitor |, BitXor bitxor ^);

impl Not for f32x8 {
    type Output = f32x8;
    #[inline(always)]
    fn not(self) -> f32x8 {
        f32x8(map(self.0, |a| f32::from_bits(!a.to_bits())))
    }
}

impl Neg for f32x8 {
    type Output = f32x8;
    /// Flips the sign bit (`-0.0` for `0.0`), as `wide` does.
    #[inline(always)]
    fn neg(self) -> f32x8 {
        f32x8(map(self.0, |a| f32::from_bits(a.to_bits() ^ 0x8000_0000)))
    }
}

/// Shifts by `rhs % 32` (`wide`'s wrapping shifts), arithmetic for `i32`, logical for `u32`.
macro_rules! shifts {
    ($($t:ident),*) => {$(
        impl Shl<u32> for $t {
            type Output = $t;
            #[inline(always)]
            fn shl(self, rhs: u32) -> $t {
                $t(map(self.0, |a| a.wrapping_shl(rhs)))
            }
        }
        impl Shr<u32> for $t {
            type Output = $t;
            #[inline(always)]
            fn shr(self, rhs: u32) -> $t {
                $t(map(self.0, |a| a.wrapping_shr(rhs)))
            }
        }
    )*};
}

shifts!(i32x8, u32x8);

impl Not for i32x8 {
    type Output = i32x8;
    #[inline(always)]
    fn not(self) -> i32x8 {
        i32x8(map(self.0, |a| !a))
    }
}

impl f32x8 {
    /// All lanes 0.
    pub const ZERO: f32x8 = f32x8([0.0; 8]);
    /// All lanes 1.
    pub const ONE: f32x8 = f32x8([1.0; 8]);

    /// From eight values.
    #[inline(always)]
    pub fn new(a: [f32; 8]) -> f32x8 {
        f32x8(a)
    }

    /// Every lane `v`.
    #[inline(always)]
    pub fn splat(v: f32) -> f32x8 {
        f32x8([v; 8])
    }

    /// The eight values.
    #[inline(always)]
    pub fn to_array(self) -> [f32; 8] {
        self.0
    }

    /// The bits of each lane.
    #[inline(always)]
    pub fn to_bits(self) -> u32x8 {
        u32x8(map(self.0, f32::to_bits))
    }

    /// Lanes from their bits.
    #[inline(always)]
    pub fn from_bits(b: u32x8) -> f32x8 {
        f32x8(map(b.0, f32::from_bits))
    }

    /// Each integer lane converted (rounded to nearest even where inexact).
    #[inline(always)]
    pub fn from_i32x8(v: i32x8) -> f32x8 {
        f32x8(map(v.0, |a| a as f32))
    }

    /// `self * m + a` with one rounding.
    #[inline(always)]
    pub fn mul_add(self, m: f32x8, a: f32x8) -> f32x8 {
        let mut r = [0.0; 8];
        for i in 0..8 {
            r[i] = self.0[i].mul_add(m.0[i], a.0[i]);
        }
        f32x8(r)
    }

    /// `a - self * m` with one rounding.
    #[inline(always)]
    pub fn mul_neg_add(self, m: f32x8, a: f32x8) -> f32x8 {
        let mut r = [0.0; 8];
        for i in 0..8 {
            r[i] = (-self.0[i]).mul_add(m.0[i], a.0[i]);
        }
        f32x8(r)
    }

    /// `self * m - a` with one rounding.
    #[inline(always)]
    pub fn mul_sub(self, m: f32x8, a: f32x8) -> f32x8 {
        let mut r = [0.0; 8];
        for i in 0..8 {
            r[i] = self.0[i].mul_add(m.0[i], -a.0[i]);
        }
        f32x8(r)
    }

    /// The larger lane, ignoring a NaN `rhs` (`self` is kept); a NaN `self` gives `rhs`.
    #[inline(always)]
    pub fn max(self, rhs: f32x8) -> f32x8 {
        f32x8(zip(self.0, rhs.0, |a, b| if b.is_nan() || a > b { a } else { b }))
    }

    /// The smaller lane, ignoring a NaN `rhs` (`self` is kept); a NaN `self` gives `rhs`.
    #[inline(always)]
    pub fn min(self, rhs: f32x8) -> f32x8 {
        f32x8(zip(self.0, rhs.0, |a, b| if b.is_nan() || a < b { a } else { b }))
    }

    /// `self > rhs ? self : rhs` per lane (the instruction's rule: `rhs` where either is NaN).
    #[inline(always)]
    pub fn fast_max(self, rhs: f32x8) -> f32x8 {
        f32x8(zip(self.0, rhs.0, |a, b| if a > b { a } else { b }))
    }

    /// `self < rhs ? self : rhs` per lane (the instruction's rule: `rhs` where either is NaN).
    #[inline(always)]
    pub fn fast_min(self, rhs: f32x8) -> f32x8 {
        f32x8(zip(self.0, rhs.0, |a, b| if a < b { a } else { b }))
    }

    /// The absolute value (sign bit cleared).
    #[inline(always)]
    pub fn abs(self) -> f32x8 {
        f32x8(map(self.0, |a| f32::from_bits(a.to_bits() & 0x7fff_ffff)))
    }

    /// Rounds half away from zero.
    #[inline(always)]
    pub fn round(self) -> f32x8 {
        f32x8(map(self.0, f32::round))
    }

    /// Rounds down.
    #[inline(always)]
    pub fn floor(self) -> f32x8 {
        f32x8(map(self.0, f32::floor))
    }

    /// The square root.
    #[inline(always)]
    pub fn sqrt(self) -> f32x8 {
        f32x8(map(self.0, f32::sqrt))
    }

    /// Rounds to the nearest integer, ties to even; NaN gives 0 and out-of-range values saturate.
    #[inline(always)]
    pub fn round_int(self) -> i32x8 {
        i32x8(map(self.0, |a| a.round_ties_even() as i32))
    }

    /// Lanes equal (ordered: false with a NaN).
    #[inline(always)]
    pub fn simd_eq(self, rhs: f32x8) -> f32x8 {
        f32x8(zip(self.0, rhs.0, |a, b| mask(a == b)))
    }

    /// Lanes not equal (unordered: true with a NaN).
    #[inline(always)]
    pub fn simd_ne(self, rhs: f32x8) -> f32x8 {
        f32x8(zip(self.0, rhs.0, |a, b| mask(a != b)))
    }

    /// `self < rhs` (false with a NaN).
    #[inline(always)]
    pub fn simd_lt(self, rhs: f32x8) -> f32x8 {
        f32x8(zip(self.0, rhs.0, |a, b| mask(a < b)))
    }

    /// `self <= rhs` (false with a NaN).
    #[inline(always)]
    pub fn simd_le(self, rhs: f32x8) -> f32x8 {
        f32x8(zip(self.0, rhs.0, |a, b| mask(a <= b)))
    }

    /// `self > rhs` (false with a NaN).
    #[inline(always)]
    pub fn simd_gt(self, rhs: f32x8) -> f32x8 {
        f32x8(zip(self.0, rhs.0, |a, b| mask(a > b)))
    }

    /// `self >= rhs` (false with a NaN).
    #[inline(always)]
    pub fn simd_ge(self, rhs: f32x8) -> f32x8 {
        f32x8(zip(self.0, rhs.0, |a, b| mask(a >= b)))
    }

    /// Lanes that are NaN.
    #[inline(always)]
    pub fn is_nan(self) -> f32x8 {
        f32x8(map(self.0, |a| mask(a.is_nan())))
    }

    /// Lanes that are finite.
    #[inline(always)]
    pub fn is_finite(self) -> f32x8 {
        f32x8(map(self.0, |a| mask(a.is_finite())))
    }

    /// `if_true` where this mask's lane has its top bit set, `if_false` elsewhere.
    #[inline(always)]
    pub fn select(self, if_true: f32x8, if_false: f32x8) -> f32x8 {
        let mut r = [0.0; 8];
        for i in 0..8 {
            r[i] = if (self.0[i].to_bits() as i32) < 0 { if_true.0[i] } else { if_false.0[i] };
        }
        f32x8(r)
    }

    /// The top bit of each lane, lane 0 in bit 0.
    #[inline(always)]
    pub fn to_bitmask(self) -> u32 {
        let mut m = 0;
        for i in 0..8 {
            m |= (self.0[i].to_bits() >> 31) << i;
        }
        m
    }

    /// Whether any lane has its top bit set.
    #[inline(always)]
    pub fn any(self) -> bool {
        self.to_bitmask() != 0
    }

    /// Whether every lane has its top bit set.
    #[inline(always)]
    pub fn all(self) -> bool {
        self.to_bitmask() == 0xff
    }

    /// Whether no lane has its top bit set.
    #[inline(always)]
    pub fn none(self) -> bool {
        self.to_bitmask() == 0
    }
}

impl From<[f32; 8]> for f32x8 {
    #[inline(always)]
    fn from(a: [f32; 8]) -> f32x8 {
        f32x8(a)
    }
}

impl i32x8 {
    /// From eight values.
    #[inline(always)]
    pub fn new(a: [i32; 8]) -> i32x8 {
        i32x8(a)
    }

    /// Every lane `v`.
    #[inline(always)]
    pub fn splat(v: i32) -> i32x8 {
        i32x8([v; 8])
    }

    /// The eight values.
    #[inline(always)]
    pub fn to_array(self) -> [i32; 8] {
        self.0
    }

    /// The same bits as `u32` lanes.
    #[inline(always)]
    pub fn cast_unsigned(self) -> u32x8 {
        u32x8(map(self.0, |a| a as u32))
    }
}

impl u32x8 {
    /// From eight values.
    #[inline(always)]
    pub fn new(a: [u32; 8]) -> u32x8 {
        u32x8(a)
    }

    /// Every lane `v`.
    #[inline(always)]
    pub fn splat(v: u32) -> u32x8 {
        u32x8([v; 8])
    }

    /// The eight values.
    #[inline(always)]
    pub fn to_array(self) -> [u32; 8] {
        self.0
    }

    /// The same bits as `i32` lanes.
    #[inline(always)]
    pub fn cast_signed(self) -> i32x8 {
        i32x8(map(self.0, |a| a as i32))
    }
}

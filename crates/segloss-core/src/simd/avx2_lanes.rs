//! The lane types of the AVX2+FMA level, as a macro ([`avx2_lanes!`](crate::avx2_lanes)) that
//! each kernel crate expands into a private module.
//!
//! They are `wide`'s `f32x8`, `i32x8` and `u32x8` (the subset the kernels use, with `wide`'s
//! semantics lane for lane: its NaN rules of `min`/`max`, rounding, saturation and masks) on
//! 256-bit registers, written with `core::arch` intrinsics. Their safe methods execute AVX2 and
//! FMA instructions, so they must only be used where those features are known to exist: inside
//! the kernel crates' `#[target_feature(enable = "avx2,fma")]` copies of their kernels, which
//! the crates call only after [`Level::current`](crate::simd::Level::current) found the
//! features. A public type with these methods would let safe code run them anywhere; expanded
//! into a private module of each kernel crate, they are reachable only by that crate's kernels.
//! The one difference from `wide`'s SSE2 build is rounding: `mul_add`, `mul_neg_add` and
//! `mul_sub` are fused here (one rounding) and unfused there (two).

/// Expands the AVX2+FMA lane types `f32x8`, `i32x8` and `u32x8` (x86_64 only) into the current
/// module, crate-private. See the module `segloss_core::simd` for how the kernel crates use them.
#[macro_export]
macro_rules! avx2_lanes {
    () => {
        // (`suspicious_arithmetic_impl`: the shifts mask their count with `&`, as `wide`'s do)
        #[allow(non_camel_case_types, clippy::missing_safety_doc, clippy::suspicious_arithmetic_impl, dead_code, unused_unsafe)]
        mod avx2_lane_types {
            use core::arch::x86_64::*;
            use std::ops::{Add, AddAssign, BitAnd, BitOr, BitOrAssign, BitXor, Div, Mul, MulAssign, Neg, Not, Shl, Shr, Sub, SubAssign};

            // SAFETY (every `unsafe` block of this module): the intrinsics need AVX, AVX2 or FMA,
            // which every caller has (see the module documentation of `segloss_core::simd`).

            /// Eight `f32` lanes in a 256-bit register.
            #[derive(Clone, Copy, Debug)]
            #[repr(transparent)]
            pub(crate) struct f32x8(__m256);

            /// Eight `i32` lanes in a 256-bit register.
            #[derive(Clone, Copy, Debug)]
            #[repr(transparent)]
            pub(crate) struct i32x8(__m256i);

            /// Eight `u32` lanes in a 256-bit register.
            #[derive(Clone, Copy, Debug)]
            #[repr(transparent)]
            pub(crate) struct u32x8(__m256i);

            impl Add for f32x8 {
                type Output = f32x8;
                #[inline(always)]
                fn add(self, rhs: f32x8) -> f32x8 {
                    f32x8(unsafe { _mm256_add_ps(self.0, rhs.0) })
                }
            }
            impl Sub for f32x8 {
                type Output = f32x8;
                #[inline(always)]
                fn sub(self, rhs: f32x8) -> f32x8 {
                    f32x8(unsafe { _mm256_sub_ps(self.0, rhs.0) })
                }
            }
            impl Mul for f32x8 {
                type Output = f32x8;
                #[inline(always)]
                fn mul(self, rhs: f32x8) -> f32x8 {
                    f32x8(unsafe { _mm256_mul_ps(self.0, rhs.0) })
                }
            }
            impl Div for f32x8 {
                type Output = f32x8;
                #[inline(always)]
                fn div(self, rhs: f32x8) -> f32x8 {
                    f32x8(unsafe { _mm256_div_ps(self.0, rhs.0) })
                }
            }
            impl BitAnd for f32x8 {
                type Output = f32x8;
                #[inline(always)]
                fn bitand(self, rhs: f32x8) -> f32x8 {
                    f32x8(unsafe { _mm256_and_ps(self.0, rhs.0) })
                }
            }
            impl BitOr for f32x8 {
                type Output = f32x8;
                #[inline(always)]
                fn bitor(self, rhs: f32x8) -> f32x8 {
                    f32x8(unsafe { _mm256_or_ps(self.0, rhs.0) })
                }
            }
            impl BitXor for f32x8 {
                type Output = f32x8;
                #[inline(always)]
                fn bitxor(self, rhs: f32x8) -> f32x8 {
                    f32x8(unsafe { _mm256_xor_ps(self.0, rhs.0) })
                }
            }
            impl Add for i32x8 {
                type Output = i32x8;
                #[inline(always)]
                fn add(self, rhs: i32x8) -> i32x8 {
                    i32x8(unsafe { _mm256_add_epi32(self.0, rhs.0) })
                }
            }
            impl Sub for i32x8 {
                type Output = i32x8;
                #[inline(always)]
                fn sub(self, rhs: i32x8) -> i32x8 {
                    i32x8(unsafe { _mm256_sub_epi32(self.0, rhs.0) })
                }
            }
            impl BitAnd for i32x8 {
                type Output = i32x8;
                #[inline(always)]
                fn bitand(self, rhs: i32x8) -> i32x8 {
                    i32x8(unsafe { _mm256_and_si256(self.0, rhs.0) })
                }
            }
            impl BitOr for i32x8 {
                type Output = i32x8;
                #[inline(always)]
                fn bitor(self, rhs: i32x8) -> i32x8 {
                    i32x8(unsafe { _mm256_or_si256(self.0, rhs.0) })
                }
            }
            impl BitXor for i32x8 {
                type Output = i32x8;
                #[inline(always)]
                fn bitxor(self, rhs: i32x8) -> i32x8 {
                    i32x8(unsafe { _mm256_xor_si256(self.0, rhs.0) })
                }
            }
            impl Add for u32x8 {
                type Output = u32x8;
                #[inline(always)]
                fn add(self, rhs: u32x8) -> u32x8 {
                    u32x8(unsafe { _mm256_add_epi32(self.0, rhs.0) })
                }
            }
            impl BitAnd for u32x8 {
                type Output = u32x8;
                #[inline(always)]
                fn bitand(self, rhs: u32x8) -> u32x8 {
                    u32x8(unsafe { _mm256_and_si256(self.0, rhs.0) })
                }
            }
            impl BitOr for u32x8 {
                type Output = u32x8;
                #[inline(always)]
                fn bitor(self, rhs: u32x8) -> u32x8 {
                    u32x8(unsafe { _mm256_or_si256(self.0, rhs.0) })
                }
            }
            impl BitXor for u32x8 {
                type Output = u32x8;
                #[inline(always)]
                fn bitxor(self, rhs: u32x8) -> u32x8 {
                    u32x8(unsafe { _mm256_xor_si256(self.0, rhs.0) })
                }
            }

            impl AddAssign for f32x8 {
                #[inline(always)]
                fn add_assign(&mut self, rhs: f32x8) {
                    *self = *self + rhs;
                }
            }
            impl SubAssign for f32x8 {
                #[inline(always)]
                fn sub_assign(&mut self, rhs: f32x8) {
                    *self = *self - rhs;
                }
            }
            impl MulAssign for f32x8 {
                #[inline(always)]
                fn mul_assign(&mut self, rhs: f32x8) {
                    *self = *self * rhs;
                }
            }
            impl BitOrAssign for f32x8 {
                #[inline(always)]
                fn bitor_assign(&mut self, rhs: f32x8) {
                    *self = *self | rhs;
                }
            }

            impl Neg for f32x8 {
                type Output = f32x8;
                /// Flips the sign bit, as `wide` does.
                #[inline(always)]
                fn neg(self) -> f32x8 {
                    f32x8(unsafe { _mm256_xor_ps(self.0, _mm256_set1_ps(-0.0)) })
                }
            }

            impl Not for f32x8 {
                type Output = f32x8;
                #[inline(always)]
                fn not(self) -> f32x8 {
                    f32x8(unsafe { _mm256_xor_ps(self.0, _mm256_castsi256_ps(_mm256_set1_epi32(-1))) })
                }
            }

            impl Not for i32x8 {
                type Output = i32x8;
                #[inline(always)]
                fn not(self) -> i32x8 {
                    i32x8(unsafe { _mm256_xor_si256(self.0, _mm256_set1_epi32(-1)) })
                }
            }

            // Shifts by `rhs % 32`, `wide`'s wrapping shifts: arithmetic right for i32, logical for u32.
            impl Shl<u32> for i32x8 {
                type Output = i32x8;
                #[inline(always)]
                fn shl(self, rhs: u32) -> i32x8 {
                    i32x8(unsafe { _mm256_sll_epi32(self.0, _mm_cvtsi32_si128((rhs & 31) as i32)) })
                }
            }
            impl Shr<u32> for i32x8 {
                type Output = i32x8;
                #[inline(always)]
                fn shr(self, rhs: u32) -> i32x8 {
                    i32x8(unsafe { _mm256_sra_epi32(self.0, _mm_cvtsi32_si128((rhs & 31) as i32)) })
                }
            }
            impl Shl<u32> for u32x8 {
                type Output = u32x8;
                #[inline(always)]
                fn shl(self, rhs: u32) -> u32x8 {
                    u32x8(unsafe { _mm256_sll_epi32(self.0, _mm_cvtsi32_si128((rhs & 31) as i32)) })
                }
            }
            impl Shr<u32> for u32x8 {
                type Output = u32x8;
                #[inline(always)]
                fn shr(self, rhs: u32) -> u32x8 {
                    u32x8(unsafe { _mm256_srl_epi32(self.0, _mm_cvtsi32_si128((rhs & 31) as i32)) })
                }
            }

            impl f32x8 {
                /// All lanes 0.
                pub(crate) const ZERO: f32x8 = f32x8(unsafe { core::mem::transmute::<[f32; 8], __m256>([0.0; 8]) });
                /// All lanes 1.
                pub(crate) const ONE: f32x8 = f32x8(unsafe { core::mem::transmute::<[f32; 8], __m256>([1.0; 8]) });

                #[inline(always)]
                pub(crate) fn new(a: [f32; 8]) -> f32x8 {
                    f32x8(unsafe { _mm256_loadu_ps(a.as_ptr()) })
                }
                #[inline(always)]
                pub(crate) fn splat(v: f32) -> f32x8 {
                    f32x8(unsafe { _mm256_set1_ps(v) })
                }
                /// The lanes of a register (for a level's wider code, which splits its registers into
                /// these lanes).
                #[inline(always)]
                pub(crate) fn from_m256(r: __m256) -> f32x8 {
                    f32x8(r)
                }
                /// The register.
                #[inline(always)]
                pub(crate) fn m256(self) -> __m256 {
                    self.0
                }
                #[inline(always)]
                pub(crate) fn to_array(self) -> [f32; 8] {
                    let mut a = [0.0f32; 8];
                    unsafe { _mm256_storeu_ps(a.as_mut_ptr(), self.0) };
                    a
                }
                #[inline(always)]
                pub(crate) fn to_bits(self) -> u32x8 {
                    u32x8(unsafe { _mm256_castps_si256(self.0) })
                }
                #[inline(always)]
                pub(crate) fn from_bits(b: u32x8) -> f32x8 {
                    f32x8(unsafe { _mm256_castsi256_ps(b.0) })
                }
                #[inline(always)]
                pub(crate) fn from_i32x8(v: i32x8) -> f32x8 {
                    f32x8(unsafe { _mm256_cvtepi32_ps(v.0) })
                }
                /// `self * m + a`, one rounding.
                #[inline(always)]
                pub(crate) fn mul_add(self, m: f32x8, a: f32x8) -> f32x8 {
                    f32x8(unsafe { _mm256_fmadd_ps(self.0, m.0, a.0) })
                }
                /// `a - self * m`, one rounding.
                #[inline(always)]
                pub(crate) fn mul_neg_add(self, m: f32x8, a: f32x8) -> f32x8 {
                    f32x8(unsafe { _mm256_fnmadd_ps(self.0, m.0, a.0) })
                }
                /// `self * m - a`, one rounding.
                #[inline(always)]
                pub(crate) fn mul_sub(self, m: f32x8, a: f32x8) -> f32x8 {
                    f32x8(unsafe { _mm256_fmsub_ps(self.0, m.0, a.0) })
                }
                /// The larger lane; a NaN `rhs` keeps `self`, a NaN `self` gives `rhs`.
                #[inline(always)]
                pub(crate) fn max(self, rhs: f32x8) -> f32x8 {
                    rhs.is_nan().select(self, self.fast_max(rhs))
                }
                /// The smaller lane; a NaN `rhs` keeps `self`, a NaN `self` gives `rhs`.
                #[inline(always)]
                pub(crate) fn min(self, rhs: f32x8) -> f32x8 {
                    rhs.is_nan().select(self, self.fast_min(rhs))
                }
                /// `self > rhs ? self : rhs`.
                #[inline(always)]
                pub(crate) fn fast_max(self, rhs: f32x8) -> f32x8 {
                    f32x8(unsafe { _mm256_max_ps(self.0, rhs.0) })
                }
                /// `self < rhs ? self : rhs`.
                #[inline(always)]
                pub(crate) fn fast_min(self, rhs: f32x8) -> f32x8 {
                    f32x8(unsafe { _mm256_min_ps(self.0, rhs.0) })
                }
                #[inline(always)]
                pub(crate) fn abs(self) -> f32x8 {
                    f32x8(unsafe { _mm256_andnot_ps(_mm256_set1_ps(-0.0), self.0) })
                }
                /// Rounds half away from zero: `trunc(x + copysign(0.5 - 2^-25, x))` (the sum
                /// rounds ties up, and is `x` itself from 2^23 on, where every `f32` is an integer).
                #[inline(always)]
                pub(crate) fn round(self) -> f32x8 {
                    unsafe {
                        let sign = _mm256_and_ps(self.0, _mm256_set1_ps(-0.0));
                        let half = _mm256_or_ps(sign, _mm256_set1_ps(0.5f32 - f32::EPSILON / 4.0));
                        f32x8(_mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(_mm256_add_ps(self.0, half)))
                    }
                }
                #[inline(always)]
                pub(crate) fn floor(self) -> f32x8 {
                    f32x8(unsafe { _mm256_floor_ps(self.0) })
                }
                #[inline(always)]
                pub(crate) fn sqrt(self) -> f32x8 {
                    f32x8(unsafe { _mm256_sqrt_ps(self.0) })
                }
                /// Nearest integer, ties to even; NaN gives 0, values from 2^31 give `i32::MAX`,
                /// below -2^31 `i32::MIN` (`wide`'s rule).
                #[inline(always)]
                pub(crate) fn round_int(self) -> i32x8 {
                    let non_nan = self & self.simd_eq(self);
                    let flip = self.simd_ge(f32x8::splat(2147483648.0)).to_bits().cast_signed();
                    i32x8(unsafe { _mm256_cvtps_epi32(non_nan.0) }) ^ flip
                }
                #[inline(always)]
                pub(crate) fn simd_eq(self, rhs: f32x8) -> f32x8 {
                    f32x8(unsafe { _mm256_cmp_ps::<_CMP_EQ_OQ>(self.0, rhs.0) })
                }
                #[inline(always)]
                pub(crate) fn simd_ne(self, rhs: f32x8) -> f32x8 {
                    f32x8(unsafe { _mm256_cmp_ps::<_CMP_NEQ_UQ>(self.0, rhs.0) })
                }
                #[inline(always)]
                pub(crate) fn simd_lt(self, rhs: f32x8) -> f32x8 {
                    f32x8(unsafe { _mm256_cmp_ps::<_CMP_LT_OQ>(self.0, rhs.0) })
                }
                #[inline(always)]
                pub(crate) fn simd_le(self, rhs: f32x8) -> f32x8 {
                    f32x8(unsafe { _mm256_cmp_ps::<_CMP_LE_OQ>(self.0, rhs.0) })
                }
                #[inline(always)]
                pub(crate) fn simd_gt(self, rhs: f32x8) -> f32x8 {
                    f32x8(unsafe { _mm256_cmp_ps::<_CMP_GT_OQ>(self.0, rhs.0) })
                }
                #[inline(always)]
                pub(crate) fn simd_ge(self, rhs: f32x8) -> f32x8 {
                    f32x8(unsafe { _mm256_cmp_ps::<_CMP_GE_OQ>(self.0, rhs.0) })
                }
                #[inline(always)]
                pub(crate) fn is_nan(self) -> f32x8 {
                    f32x8(unsafe { _mm256_cmp_ps::<_CMP_UNORD_Q>(self.0, self.0) })
                }
                #[inline(always)]
                pub(crate) fn is_finite(self) -> f32x8 {
                    let exp = u32x8::splat(0xff00_0000);
                    let e = (self.to_bits() << 1) & exp;
                    !f32x8::from_bits(e).simd_eq(f32x8::from_bits(exp))
                }
                /// `if_true` where the mask lane's top bit is set.
                #[inline(always)]
                pub(crate) fn select(self, if_true: f32x8, if_false: f32x8) -> f32x8 {
                    f32x8(unsafe { _mm256_blendv_ps(if_false.0, if_true.0, self.0) })
                }
                #[inline(always)]
                pub(crate) fn to_bitmask(self) -> u32 {
                    unsafe { _mm256_movemask_ps(self.0) as u32 }
                }
                #[inline(always)]
                pub(crate) fn any(self) -> bool {
                    self.to_bitmask() != 0
                }
                #[inline(always)]
                pub(crate) fn all(self) -> bool {
                    self.to_bitmask() == 0xff
                }
                #[inline(always)]
                pub(crate) fn none(self) -> bool {
                    self.to_bitmask() == 0
                }
            }

            impl i32x8 {
                #[inline(always)]
                pub(crate) fn new(a: [i32; 8]) -> i32x8 {
                    i32x8(unsafe { _mm256_loadu_si256(a.as_ptr().cast()) })
                }
                #[inline(always)]
                pub(crate) fn splat(v: i32) -> i32x8 {
                    i32x8(unsafe { _mm256_set1_epi32(v) })
                }
                #[inline(always)]
                pub(crate) fn to_array(self) -> [i32; 8] {
                    let mut a = [0i32; 8];
                    unsafe { _mm256_storeu_si256(a.as_mut_ptr().cast(), self.0) };
                    a
                }
                #[inline(always)]
                pub(crate) fn cast_unsigned(self) -> u32x8 {
                    u32x8(self.0)
                }
            }

            impl u32x8 {
                #[inline(always)]
                pub(crate) fn new(a: [u32; 8]) -> u32x8 {
                    u32x8(unsafe { _mm256_loadu_si256(a.as_ptr().cast()) })
                }
                #[inline(always)]
                pub(crate) fn splat(v: u32) -> u32x8 {
                    u32x8(unsafe { _mm256_set1_epi32(v as i32) })
                }
                #[inline(always)]
                pub(crate) fn to_array(self) -> [u32; 8] {
                    let mut a = [0u32; 8];
                    unsafe { _mm256_storeu_si256(a.as_mut_ptr().cast(), self.0) };
                    a
                }
                #[inline(always)]
                pub(crate) fn cast_signed(self) -> i32x8 {
                    i32x8(self.0)
                }
            }
        }
        pub(crate) use avx2_lane_types::{f32x8, i32x8, u32x8};
        /// These lanes are AVX2 registers, used in code compiled with AVX2 (see
        /// `segloss_core::simd::base::AVX2`).
        #[allow(dead_code)]
        pub(crate) const AVX2: bool = true;
    };
}

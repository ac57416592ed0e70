//! The AVX-512 level's 16-lane helpers, as a macro ([`avx512_wide!`](crate::avx512_wide)) that
//! [`simd_level!`](crate::simd_level) expands into the AVX-512 level's module of each kernel crate
//! (as the private module `wide16`, beside `lanes`).
//!
//! A kernel crate may give the AVX-512 level a 16-lane form of a loop, on 512-bit registers, as
//! long as it gives the 8-lane form's bits: per-lane steps with the same operations in the same
//! order, and sums added in the 8-lane form's order (split a register into its two 8-lane halves
//! with [`split`], the lower first). These helpers are the pieces such forms share: the loads and
//! stores of whole 16-lane registers, the halves, the max over class rows, and `exp_nonpos` on 16 lanes with the 8-lane
//! function's operations and constants (`simd_math!` exports them). Their safe functions execute
//! AVX-512 F and DQ instructions, so, as with the AVX2 lanes, they must only be used inside the
//! level's `#[target_feature]` copies, which run only where
//! [`avx512`](crate::simd::avx512) found the features; expanded privately into each crate's
//! AVX-512 module, nothing else reaches them.

/// Expands the 16-lane helpers of the AVX-512 level (x86_64 only) into the current module, which
/// must sit beside the level's `lanes` module. See [`simd_level!`](crate::simd_level).
#[macro_export]
macro_rules! avx512_wide {
    () => {
        #[allow(dead_code, unused_unsafe)]
        mod helpers {
            use super::super::lanes::{f32x8, EXP_NONPOS_LO, EXP_POLY, LN2_HI, LN2_LO, LOG2E, SHIFTER};
            use core::arch::x86_64::*;

            // SAFETY (every `unsafe` block of this module): the intrinsics need AVX-512 F (and DQ
            // for the 256-bit halves and the mask of sign bits), which every caller has (see the
            // module documentation of `segloss_core::simd::avx512_wide`).

            /// Lanes per register.
            pub(crate) const W: usize = 16;

            /// The 16 values at `at` of `src` (at least `at + 16` long).
            #[inline(always)]
            pub(crate) fn load(src: &[f32], at: usize) -> __m512 {
                let r: &[f32; W] = src[at..at + W].try_into().expect("16 lanes");
                unsafe { _mm512_loadu_ps(r.as_ptr()) }
            }

            /// Stores `x` at `at` of `dst` (at least `at + 16` long).
            #[inline(always)]
            pub(crate) fn store(dst: &mut [f32], at: usize, x: __m512) {
                let r: &mut [f32; W] = (&mut dst[at..at + W]).try_into().expect("16 lanes");
                unsafe { _mm512_storeu_ps(r.as_mut_ptr(), x) }
            }

            /// All lanes `v`.
            #[inline(always)]
            pub(crate) fn splat(v: f32) -> __m512 {
                unsafe { _mm512_set1_ps(v) }
            }

            /// The 16 labels at `at` of `l` as `f32`.
            #[inline(always)]
            pub(crate) fn labels_f32(l: &[i32], at: usize) -> __m512 {
                let r: &[i32; W] = l[at..at + W].try_into().expect("16 lanes");
                unsafe { _mm512_cvtepi32_ps(_mm512_loadu_si512(r.as_ptr().cast())) }
            }

            /// The lower and the upper 8 lanes.
            #[inline(always)]
            pub(crate) fn split(x: __m512) -> (f32x8, f32x8) {
                unsafe { (f32x8::from_m256(_mm512_castps512_ps256(x)), f32x8::from_m256(_mm512_extractf32x8_ps::<1>(x))) }
            }

            /// The register of the lanes `lo` then `hi`.
            #[inline(always)]
            pub(crate) fn join(lo: f32x8, hi: f32x8) -> __m512 {
                unsafe { _mm512_insertf32x8::<1>(_mm512_castps256_ps512(lo.m256()), hi.m256()) }
            }

            /// The lanes of an 8-lane mask pair (all bits set: true) as a mask register.
            #[inline(always)]
            pub(crate) fn mask_of(lo: f32x8, hi: f32x8) -> __mmask16 {
                unsafe { _mm512_movepi32_mask(_mm512_castps_si512(join(lo, hi))) }
            }

            /// The max over `classes` rows of `V` registers each (row `c` at `c * stride + j0` of
            /// `z`), in the 8-lane class-major kernels' order: row 0, then `max(m, row)`, as
            /// `m.fast_max(row)` (a NaN logit becomes the max).
            #[inline(always)]
            pub(crate) fn max_rows<const V: usize>(z: &[f32], stride: usize, j0: usize, classes: usize) -> [__m512; V] {
                let mut m: [__m512; V] = std::array::from_fn(|v| load(z, j0 + v * W));
                for c in 1..classes {
                    let row = &z[c * stride + j0..c * stride + j0 + V * W];
                    for (v, mv) in m.iter_mut().enumerate() {
                        *mv = unsafe { _mm512_max_ps(*mv, load(row, v * W)) };
                    }
                }
                m
            }

            /// `exp_nonpos` of `segloss_core::simd_math!` on 16 lanes: the same operations in the
            /// same order, so the same bits per lane.
            #[inline(always)]
            pub(crate) fn exp_nonpos(x: __m512) -> __m512 {
                unsafe {
                    let lo = _mm512_set1_ps(EXP_NONPOS_LO);
                    let xc = _mm512_max_ps(x, lo);
                    let t = _mm512_add_ps(_mm512_mul_ps(xc, _mm512_set1_ps(LOG2E)), _mm512_set1_ps(SHIFTER));
                    let kf = _mm512_sub_ps(t, _mm512_set1_ps(SHIFTER));
                    let r = _mm512_fnmadd_ps(kf, _mm512_set1_ps(LN2_HI), xc);
                    let r = _mm512_fnmadd_ps(kf, _mm512_set1_ps(LN2_LO), r);
                    let mut p = _mm512_set1_ps(EXP_POLY[0]);
                    for c in &EXP_POLY[1..] {
                        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(*c));
                    }
                    let y = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0));
                    let scale = _mm512_slli_epi32::<23>(_mm512_add_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(127)));
                    let y = _mm512_mul_ps(y, _mm512_castsi512_ps(scale));
                    let y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, lo), _mm512_setzero_ps());
                    _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(x, x), x)
                }
            }
        }
        pub(crate) use helpers::*;
    };
}

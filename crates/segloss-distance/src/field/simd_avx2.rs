//! The SIMD kernels at the AVX2+FMA level, selected at run time: every function of the body
//! compiled with AVX2 and FMA enabled, on `segloss_core::simd::avx2`'s lanes.

use segloss_core::simd::avx2 as lanes;

macro_rules! level_fn {
    ($($i:item)*) => { $( #[target_feature(enable = "avx2,fma")] $i )* };
}
use level_fn;

#[path = "kernels_simd.rs"]
pub(super) mod body;

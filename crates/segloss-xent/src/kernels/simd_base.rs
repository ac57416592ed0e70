//! The SIMD kernels at the baseline level (`wide` as the build compiles it).

use segloss_core::simd::base as lanes;

macro_rules! level_fn {
    ($($i:item)*) => { $( #[inline] $i )* };
}
use level_fn;

/// Expands its items and statements at the AVX-512 level only (`segloss_core::simd_level!`
/// defines it for the other levels): at this level, to nothing.
macro_rules! avx512_only {
    ($($t:tt)*) => {};
}
use avx512_only;

// the body compiled once per level: the other level file loads it too
#[allow(clippy::duplicate_mod)]
#[path = "simd_body.rs"]
pub(super) mod body;

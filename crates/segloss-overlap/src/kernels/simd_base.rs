//! The SIMD kernels of the crate at the baseline level (`wide` as the build compiles it): `body`
//! (the overlap kernels of `simd_body.rs`), `unified_focal`, `mcc`, `wasserstein`,
//! `activation` (clDice's) and `skeleton` (the skeleton's passes).

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

// the bodies compiled once per level (the other level files load them too)
level_bodies!();

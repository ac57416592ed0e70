//! The SIMD kernels of the crate at the baseline level (`wide` as the build compiles it): `body`
//! (the overlap kernels of `simd_body.rs`), `unified_focal`, `mcc`, `wasserstein`,
//! `activation` (clDice's) and `skeleton` (the skeleton's passes).

use segloss_core::simd::base as lanes;

macro_rules! level_fn {
    ($($i:item)*) => { $( #[inline] $i )* };
}
use level_fn;

// the bodies compiled once per level (the other level files load them too)
level_bodies!();

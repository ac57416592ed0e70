//! The SIMD kernels of the crate at the baseline level (`wide` as the build compiles it): `body`
//! (the overlap kernels of `simd_body.rs`).

use segloss_core::simd::base as lanes;

macro_rules! level_fn {
    ($($i:item)*) => { $( #[inline] $i )* };
}
use level_fn;

// the body compiled once per level: the other level file loads it too
#[allow(clippy::duplicate_mod)]
#[path = "simd_body.rs"]
pub(crate) mod body;

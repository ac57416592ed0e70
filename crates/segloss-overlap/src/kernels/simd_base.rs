//! The SIMD kernels of the crate at the baseline level (`wide` as the build compiles it): `body`
//! (the overlap kernels of `simd_body.rs`), `unified_focal`, `mcc`, `wasserstein`,
//! `activation` (clDice's) and `skeleton` (the skeleton's passes).

use segloss_core::simd::base as lanes;

macro_rules! level_fn {
    ($($i:item)*) => { $( #[inline] $i )* };
}
use level_fn;

// the body compiled once per level: the other level file loads it too
#[allow(clippy::duplicate_mod)]
#[path = "simd_body.rs"]
pub(crate) mod body;

// the kernels of `unified_focal`, `mcc`, `wasserstein_dice`, clDice's activation and the skeleton's
// passes, compiled at this level with the ones above
#[allow(clippy::duplicate_mod)]
#[path = "../cldice_activation_simd.rs"]
pub(crate) mod activation;
#[allow(clippy::duplicate_mod)]
#[path = "../mcc_simd.rs"]
pub(crate) mod mcc;
#[allow(clippy::duplicate_mod)]
#[path = "../skeleton/level.rs"]
pub(crate) mod skeleton;
#[allow(clippy::duplicate_mod)]
#[path = "../unified_focal_simd.rs"]
pub(crate) mod unified_focal;
#[allow(clippy::duplicate_mod)]
#[path = "../wasserstein_simd.rs"]
pub(crate) mod wasserstein;

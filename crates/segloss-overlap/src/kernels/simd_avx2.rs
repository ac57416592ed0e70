//! The SIMD kernels at the AVX2+FMA level, selected at run time: every function of the body
//! compiled with AVX2 and FMA enabled, on this crate's private instance of the AVX2 lanes
//! (`segloss_core::avx2_lanes!`), which only these functions use: `body` (the overlap kernels of
//! `simd_body.rs`), `unified_focal`, `mcc`, `wasserstein`,
//! `activation` (clDice's) and `skeleton` (the skeleton's passes).

segloss_core::simd_level!($, "avx2,fma");

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

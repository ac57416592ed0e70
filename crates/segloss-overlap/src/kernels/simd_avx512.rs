//! The SIMD kernels at the AVX-512 level, selected at run time: the AVX2 level's lanes and body
//! (`simd_avx2.rs`, 256-bit `f32x8`), every function compiled with AVX2, FMA and AVX-512 F, VL,
//! BW and DQ enabled (`segloss_core::simd::AVX512_FEATURES`): 32 vector registers and mask
//! registers for the same operations, so the same results as the AVX2 level.
//! Bodies: as in `simd_avx2.rs`.

segloss_core::simd_level!($, "avx2,fma,avx512f,avx512vl,avx512bw,avx512dq");

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

//! The SIMD kernels at the AVX2+FMA level, selected at run time: every function of the body
//! compiled with AVX2 and FMA enabled, on this crate's private instance of the AVX2 lanes
//! (`segloss_core::avx2_lanes!`), which only these functions use: `body` (the overlap kernels of
//! `simd_body.rs`), `unified_focal`, `mcc`, `wasserstein`,
//! `activation` (clDice's) and `skeleton` (the skeleton's passes).

segloss_core::simd_level!($, avx2_fn);

// the bodies compiled once per level (the other level files load them too)
level_bodies!();

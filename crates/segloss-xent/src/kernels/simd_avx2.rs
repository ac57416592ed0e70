//! The SIMD kernels at the AVX2+FMA level, selected at run time: every function of the body
//! compiled with AVX2 and FMA enabled, on this crate's private instance of the AVX2 lanes
//! (`segloss_core::avx2_lanes!`), which only these functions use.

segloss_core::simd_level!($, avx2_fn);

// the body compiled once per level: the other level file loads it too
#[allow(clippy::duplicate_mod)]
#[path = "simd_body.rs"]
pub(super) mod body;

//! The SIMD kernels at the AVX-512 level, selected at run time: the AVX2 level's lanes and body
//! (`simd_avx2.rs`, 256-bit `f32x8`), every function compiled with AVX2, FMA and AVX-512 F, VL,
//! BW and DQ enabled (`segloss_core::simd::AVX512_FEATURES`): 32 vector registers and mask
//! registers for the same operations, so the same results as the AVX2 level.
//! Bodies: as in `simd_avx2.rs`.

segloss_core::simd_level!($, avx512_fn);

// the bodies compiled once per level (the other level files load them too)
level_bodies!();

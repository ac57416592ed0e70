//! The baseline level: `wide`'s lanes as this build compiles them (SSE2 in a default x86_64
//! build, AVX2+FMA in a build with `-C target-cpu=x86-64-v3`, NEON on aarch64), and the
//! elementary functions of [`simd_math!`](crate::simd_math) on them.

pub use wide::{f32x8, i32x8, u32x8};

/// Whether these lanes are AVX2 registers (`__m256`, `__m256i`) in code compiled with AVX2: true
/// in a build with AVX2 (`-C target-cpu=x86-64-v3`). Kernels that apply an AVX2 intrinsic the
/// lanes lack (`vpermps`) check it.
pub const AVX2: bool = cfg!(all(target_arch = "x86_64", target_feature = "avx2"));

crate::simd_math!(pub);

#[cfg(test)]
fn supported() -> bool {
    true
}

#[cfg(test)]
// the same tests as the AVX2 level's (`avx2_check.rs`), at this level
#[allow(clippy::duplicate_mod)]
#[path = "math_tests.rs"]
mod math_tests;

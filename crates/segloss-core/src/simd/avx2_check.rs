//! The AVX2 lanes and the elementary functions on them, instantiated here for the tests only
//! (the kernel crates instantiate their own): the error bounds hold at this level too, and
//! every lane operation equals `wide`'s (see `super::tests`). Outside `#[target_feature]`
//! functions they run slowly but give the same values; on a CPU without AVX2 and FMA they are
//! skipped.

crate::avx2_lanes!();
crate::simd_math!(pub(crate));

pub(crate) fn supported() -> bool {
    crate::simd::avx2_fma()
}

// the same tests as the baseline's (`base.rs`), at this level
#[allow(clippy::duplicate_mod)]
#[path = "math_tests.rs"]
mod math_tests;

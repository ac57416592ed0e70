//! The AVX2+FMA level, chosen at run time: the lane types of `avx2_lanes.rs` (plain arrays that
//! compile to 256-bit instructions inside `#[target_feature(enable = "avx2,fma")]` functions),
//! and the functions of the `math` module on them.

#[path = "avx2_lanes.rs"]
mod lanes;
pub use lanes::{f32x8, i32x8, u32x8};

#[path = "math.rs"]
mod math;
pub use math::*;

//! The baseline level: `wide`'s lanes as this build compiles them (SSE2 in a default x86_64
//! build, AVX2+FMA in a build with `-C target-cpu=x86-64-v3`, NEON on aarch64), and the
//! functions of the `math` module on them.

pub use wide::{f32x8, i32x8, u32x8};

#[path = "math.rs"]
mod math;
pub use math::*;

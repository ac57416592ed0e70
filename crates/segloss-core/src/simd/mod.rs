//! SIMD lanes at three levels, and the choice between them at run time.
//!
//! The kernels of the family crates are written once, on `f32x8` lanes and the functions of the
//! `math` module (exp, ln, ln_1p, sigmoid, softplus with measured error bounds), and compiled
//! once per level:
//!
//! - [`base`]: `wide`'s lanes as the build compiles them: SSE2 in a default x86_64 build (what a
//!   user of the published crates gets, and this workspace's build), AVX2+FMA when the build
//!   enables them (`-C target-cpu=x86-64-v3`);
//! - AVX2+FMA: the lanes of [`avx2_lanes!`](crate::avx2_lanes) (`core::arch` intrinsics on
//!   256-bit registers), which each kernel crate expands privately and uses only in its
//!   `#[target_feature(enable = "avx2,fma")]` copies of its kernels, run only where the CPU has
//!   both features;
//! - AVX-512: the same 256-bit lanes and kernels compiled once more with
//!   [`AVX512_FEATURES`] enabled as well, which gives the compiler 32 vector registers (16 with
//!   AVX2: the longer kernels spill) and mask registers for compares and blends. The lanes stay
//!   8 wide: the operations, and so the results, are the AVX2 level's. (A kernel crate may give
//!   this level a 16-lane form of a loop on 512-bit registers, with the helpers of
//!   [`avx512_wide!`](crate::avx512_wide), as long as it keeps those bits: the softmax kernels of
//!   the overlap and cross-entropy crates do, on labels.)
//!
//! [`Level::current`] picks the level once per process: the highest one the CPU runs (x86_64
//! only; AVX2+FMA is skipped when the build already compiles the baseline with it); the
//! environment variable `SEGLOSS_SIMD` (`baseline`, alias `sse2`, `avx2` or `avx512`) forces
//! one, for tests and comparisons. The kernels give the same bits for any number of threads at
//! one level; across levels they differ by rounding only (the AVX2 and AVX-512 levels fuse
//! `mul_add`).
//!
//! The re-exports at the top of this module are the baseline's, for code that does not dispatch.

mod avx2_lanes;
mod avx512_wide;
pub mod base;
mod levels;
mod math;

#[cfg(all(test, target_arch = "x86_64"))]
mod avx2_check;

pub use base::*;

/// Number of `f32` lanes in one vector.
pub const LANES: usize = 8;

use std::sync::OnceLock;

/// A level the kernels are compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// `wide` as the build compiles it (SSE2 in a default x86_64 build).
    Baseline,
    /// AVX2 and FMA, selected at run time.
    Avx2,
    /// The AVX2 level's kernels compiled with [`AVX512_FEATURES`] as well, selected at run time.
    Avx512,
}

/// The environment variable that forces a level.
pub const LEVEL_VAR: &str = "SEGLOSS_SIMD";

/// The target features of the AVX-512 level's copies (with AVX2 and FMA), as the kernel crates'
/// `#[target_feature(enable = ...)]` attributes spell them.
pub const AVX512_FEATURES: &str = "avx512f,avx512vl,avx512bw,avx512dq";

impl Level {
    /// Every level, the baseline first.
    pub const ALL: [Level; 3] = [Level::Baseline, Level::Avx2, Level::Avx512];

    /// Its name, as `SEGLOSS_SIMD` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Level::Baseline => "baseline",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }

    /// Whether this CPU runs the level's kernels.
    pub fn supported(self) -> bool {
        match self {
            Level::Baseline => true,
            Level::Avx2 => avx2_fma(),
            Level::Avx512 => avx512(),
        }
    }

    /// The level chosen without `SEGLOSS_SIMD`: AVX-512 where the CPU has it; otherwise AVX2+FMA
    /// where the CPU has it, unless the build already compiles the baseline with both (then the
    /// two are the same instructions, and the baseline is `wide`'s own implementation).
    pub fn detected() -> Level {
        if avx512() {
            Level::Avx512
        } else if cfg!(all(target_feature = "avx2", target_feature = "fma")) || !avx2_fma() {
            Level::Baseline
        } else {
            Level::Avx2
        }
    }

    /// Parses a `SEGLOSS_SIMD` value: `baseline` (or `sse2`), `avx2` or `avx512`. A level this
    /// CPU cannot run is an error too.
    pub fn parse(value: &str) -> Result<Level, String> {
        let level = match value.trim().to_ascii_lowercase().as_str() {
            "baseline" | "sse2" => Level::Baseline,
            "avx2" => Level::Avx2,
            "avx512" => Level::Avx512,
            _ => return Err(format!("{LEVEL_VAR}={value:?}: expected baseline (or sse2), avx2 or avx512")),
        };
        if !level.supported() {
            let needs = match level {
                Level::Avx512 => "AVX2, FMA and AVX-512 F, VL, BW and DQ",
                _ => "AVX2 and FMA",
            };
            return Err(format!("{LEVEL_VAR}={value:?}: this CPU has no {} (it needs {needs})", level.name()));
        }
        Ok(level)
    }

    /// The level from `SEGLOSS_SIMD` if it is set: `None` when it is not, an error (the value
    /// named) when it is not a level this CPU runs. A program that wants to refuse a bad value
    /// checks this at start-up; [`Level::current`] ignores it (and takes the detected level).
    pub fn from_env() -> Option<Result<Level, String>> {
        std::env::var(LEVEL_VAR).ok().map(|v| Level::parse(&v))
    }

    /// The level of this process, fixed at its first call: `SEGLOSS_SIMD` when it names a level
    /// this CPU runs, otherwise [`Level::detected`] (an unknown or unsupported value is ignored;
    /// see [`Level::from_env`]).
    pub fn current() -> Level {
        static LEVEL: OnceLock<Level> = OnceLock::new();
        *LEVEL.get_or_init(|| match Level::from_env() {
            Some(Ok(level)) => level,
            _ => Level::detected(),
        })
    }

    /// Whether code with an AVX2 copy but no AVX-512 copy of its own (the distance transforms,
    /// the Lovász problems) runs that copy at this level: at the AVX2 and AVX-512 levels, where
    /// the CPU has AVX2 and FMA.
    #[inline]
    pub fn runs_avx2(self) -> bool {
        matches!(self, Level::Avx2 | Level::Avx512) && avx2_fma()
    }
}

impl Level {
    /// The levels this CPU runs, the baseline first (for tests that compare them).
    pub fn supported_levels() -> impl Iterator<Item = Level> {
        Level::ALL.into_iter().filter(|l| l.supported())
    }
}

/// Calls `$f($args)` of a kernel crate's SIMD kernels at `$level`: `simd_avx512::body::$f` where
/// the level is `Avx512` and the CPU has it, `simd_avx2::body::$f` where the level is `Avx2` and
/// the CPU has AVX2 and FMA, `simd_base::body::$f` otherwise. The three modules are the kernel
/// body compiled per level, declared next to the call (see this module's documentation). A crate
/// whose level modules hold several bodies names the body: `simd_dispatch!(level,
/// $body::$f($args))` calls `simd_avx512::$body::$f`, `simd_avx2::$body::$f` or
/// `simd_base::$body::$f`.
#[macro_export]
macro_rules! simd_dispatch {
    ($level:expr, $f:ident($($a:expr),* $(,)?)) => {
        $crate::simd_dispatch!($level, body::$f($($a),*))
    };
    ($level:expr, $m:ident::$f:ident($($a:expr),* $(,)?)) => {
        match $level {
            // SAFETY: the AVX-512 copy runs only where the CPU has its features, checked here.
            $crate::simd::Level::Avx512 if $crate::simd::avx512() => unsafe { simd_avx512::$m::$f($($a),*) },
            // SAFETY: the AVX2 copy runs only where the CPU has AVX2 and FMA, checked here.
            $crate::simd::Level::Avx2 if $crate::simd::avx2_fma() => unsafe { simd_avx2::$m::$f($($a),*) },
            _ => simd_base::$m::$f($($a),*),
        }
    };
}

/// Whether the CPU has AVX2 and FMA (cached by `std` after the first call).
#[inline]
pub fn avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the CPU has what the AVX-512 level's copies are compiled for: AVX2, FMA and
/// [`AVX512_FEATURES`] (cached by `std` after the first call).
#[inline]
pub fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        avx2_fma()
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::{avx2_check as a, base as w};

    /// Values with every special: signed zeros, infinities, NaN, subnormals, halves (rounding
    /// ties), the i32 range's edges, and random bit patterns.
    fn values() -> Vec<f32> {
        let mut v = vec![
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -f32::NAN,
            f32::MIN_POSITIVE,
            1e-40,
            -1e-40,
            0.5,
            -0.5,
            1.5,
            2.5,
            -2.5,
            0.49999997,
            8388607.5,
            2147483648.0,
            -2147483904.0,
            1.0,
            -1.0,
            3.0e38,
        ];
        let mut s: u64 = 0x2545_f491_4f6c_dd1d;
        while v.len() < 4096 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            v.push(f32::from_bits(s as u32));
            v.push((s >> 40) as f32 / 1e4 - 800.0);
        }
        v
    }

    fn same(x: f32, y: f32) -> bool {
        x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
    }

    /// Every operation of the AVX2 lanes equals `wide`'s, bit for bit (NaN payloads aside), on
    /// every special value; the fused operations equal the `f64`-exact result rounded once.
    #[test]
    fn avx2_lanes_equal_wide() {
        if !a::supported() {
            return;
        }
        let v = values();
        let n = v.len() / 8;
        for i in 0..n {
            let (x, y, z) =
                (&v[i * 8..i * 8 + 8], &v[((i + 1) % n) * 8..((i + 1) % n) * 8 + 8], &v[((i + 7) % n) * 8..((i + 7) % n) * 8 + 8]);
            let (ax, ay, az) = (a::load(x), a::load(y), a::load(z));
            let (wx, wy, wz) = (w::load(x), w::load(y), w::load(z));
            let check = |what: &str, got: a::f32x8, want: w::f32x8| {
                for (l, (g, e)) in got.to_array().iter().zip(want.to_array()).enumerate() {
                    assert!(same(*g, e), "{what} lane {l}: x={} y={}: avx2 {g:?} wide {e:?}", x[l], y[l]);
                }
            };
            check("add", ax + ay, wx + wy);
            check("sub", ax - ay, wx - wy);
            check("mul", ax * ay, wx * wy);
            check("div", ax / ay, wx / wy);
            check("neg", -ax, -wx);
            check("abs", ax.abs(), wx.abs());
            check("max", ax.max(ay), wx.max(wy));
            check("min", ax.min(ay), wx.min(wy));
            check("fast_max", ax.fast_max(ay), wx.fast_max(wy));
            check("fast_min", ax.fast_min(ay), wx.fast_min(wy));
            check("round", ax.round(), wx.round());
            check("floor", ax.floor(), wx.floor());
            check("sqrt", ax.sqrt(), wx.sqrt());
            check("eq", ax.simd_eq(ay), wx.simd_eq(wy));
            check("ne", ax.simd_ne(ay), wx.simd_ne(wy));
            check("lt", ax.simd_lt(ay), wx.simd_lt(wy));
            check("le", ax.simd_le(ay), wx.simd_le(wy));
            check("gt", ax.simd_gt(ay), wx.simd_gt(wy));
            check("ge", ax.simd_ge(ay), wx.simd_ge(wy));
            check("is_nan", ax.is_nan(), wx.is_nan());
            check("is_finite", ax.is_finite(), wx.is_finite());
            check("select", ax.simd_lt(ay).select(ax, az), wx.simd_lt(wy).select(wx, wz));
            check("and", ax & ay, wx & wy);
            check("or", ax | ay, wx | wy);
            let (mut ao, mut wo) = (ax, wx);
            ao |= ay;
            wo |= wy;
            check("or_assign", ao, wo);
            check("not", !ax, !wx);
            assert_eq!(ax.round_int().to_array(), wx.round_int().to_array(), "round_int of {x:?}");
            check("from_i32x8", a::f32x8::from_i32x8(ax.round_int()), w::f32x8::from_i32x8(wx.round_int()));
            assert_eq!(ax.to_bits().to_array(), wx.to_bits().to_array());
            let (ai, wi) = (ax.round_int(), wx.round_int());
            assert_eq!(
                ((ai + a::i32x8::splat(127)) << 23u32).cast_unsigned().to_array(),
                ((wi + w::i32x8::splat(127)) << 23u32).cast_unsigned().to_array()
            );
            assert_eq!((ax.to_bits() >> 23u32).cast_signed().to_array(), (wx.to_bits() >> 23u32).cast_signed().to_array());
            assert_eq!((ai >> 1u32).to_array(), (wi >> 1u32).to_array());
            assert_eq!(ax.simd_gt(ay).any(), wx.simd_gt(wy).any());
            assert_eq!(ax.simd_gt(ay).all(), wx.simd_gt(wy).all());
            for (l, ((&p, &q), &r)) in x.iter().zip(y).zip(z).enumerate() {
                let fused = |m: f64| if p.is_finite() && q.is_finite() && r.is_finite() { Some(m) } else { None };
                if let Some(e) = fused(p as f64 * q as f64 + r as f64) {
                    assert!(same(ax.mul_add(ay, az).to_array()[l], e as f32), "mul_add {p} {q} {r}");
                    assert!(same(ax.mul_sub(ay, az).to_array()[l], (p as f64 * q as f64 - r as f64) as f32), "mul_sub {p} {q} {r}");
                    assert!(same(ax.mul_neg_add(ay, az).to_array()[l], (r as f64 - p as f64 * q as f64) as f32), "mul_neg_add {p} {q} {r}");
                }
            }
        }
    }
}

//! The macros that declare a kernel crate's per-level copies: the level's target features on
//! its items (`avx2_fn!`, `avx512_fn!`), a level module's preamble (`simd_level!`), and a
//! function's dispatcher with its AVX2 and AVX-512 copies (`level_copies!`).

/// Declares each item given to it with `#[target_feature(enable = "avx2,fma")]`: the AVX2
/// level's copy of a function. The one place that spells the level's features.
#[macro_export]
macro_rules! avx2_fn {
    ($($i:item)*) => { $( #[target_feature(enable = "avx2,fma")] $i )* };
}

/// Declares each item given to it with the AVX-512 level's target features: AVX2, FMA and
/// [`AVX512_FEATURES`](crate::simd::AVX512_FEATURES). The one place that spells them.
#[macro_export]
macro_rules! avx512_fn {
    ($($i:item)*) => { $( #[target_feature(enable = "avx2,fma,avx512f,avx512vl,avx512bw,avx512dq")] $i )* };
}

/// Expands the preamble of a kernel crate's module for one run-time level into that module: the
/// AVX2 lanes and the elementary functions on them as the private module `lanes`
/// ([`avx2_lanes!`](crate::avx2_lanes), [`simd_math!`](crate::simd_math)), the macro `level_fn!`,
/// which declares each item given to it with the level's target features
/// ([`avx2_fn!`](crate::avx2_fn) or [`avx512_fn!`](crate::avx512_fn)), and the macro
/// `avx512_only!`, which expands its items or statements at the AVX-512 level only (to nothing at
/// the AVX2 level). At the AVX-512 level it also expands the 16-lane helpers
/// ([`avx512_wide!`](crate::avx512_wide)) as the private module `wide16`. Call it as
/// `simd_level!($, avx2_fn)` or `simd_level!($, avx512_fn)` (the `$` lets it write the macros' own
/// patterns); the module then declares its bodies (`#[path = ...] mod body;`). A baseline module,
/// which does not call this, defines an `avx512_only!` that expands to nothing if its bodies use it.
#[macro_export]
macro_rules! simd_level {
    (@common $d:tt, $features:ident) => {
        mod lanes {
            $crate::avx2_lanes!();
            $crate::simd_math!(pub(crate));
        }

        macro_rules! level_fn {
            ($d($d i:item)*) => { $crate::$features! { $d($d i)* } };
        }
        use level_fn;
    };
    ($d:tt, avx512_fn) => {
        $crate::simd_level!(@common $d, avx512_fn);

        mod wide16 {
            $crate::avx512_wide!();
        }

        #[allow(unused_macros)]
        macro_rules! avx512_only {
            ($d($d t:tt)*) => { $d($d t)* };
        }
        #[allow(unused_imports)]
        use avx512_only;
    };
    ($d:tt, $features:ident) => {
        $crate::simd_level!(@common $d, $features);

        #[allow(unused_macros)]
        macro_rules! avx512_only {
            ($d($d t:tt)*) => {};
        }
        #[allow(unused_imports)]
        use avx512_only;
    };
}

/// Defines `$vis fn $name(level: Level, args) -> R`, which runs `$body(args)` (an
/// `#[inline(always)]` function) compiled for `level`: in a copy with the AVX-512 level's
/// features where the level is `Avx512` and the CPU has them, in one with AVX2 and FMA where
/// [`Level::runs_avx2`](crate::simd::Level::runs_avx2), as the build compiles it otherwise. For
/// the code outside the kernel bodies that dispatches by hand (non-generic functions only).
#[macro_export]
macro_rules! level_copies {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($a:ident: $t:ty),* $(,)?) $(-> $r:ty)? => $body:path) => {
        $(#[$m])*
        $vis fn $name(level: $crate::simd::Level, $($a: $t),*) $(-> $r)? {
            #[cfg(target_arch = "x86_64")]
            {
                $crate::avx2_fn! {
                    #[allow(clippy::too_many_arguments)]
                    fn avx2($($a: $t),*) $(-> $r)? { $body($($a),*) }
                }
                $crate::avx512_fn! {
                    #[allow(clippy::too_many_arguments)]
                    fn avx512($($a: $t),*) $(-> $r)? { $body($($a),*) }
                }
                match level {
                    // SAFETY: the AVX-512 copy runs only where the CPU has its features, checked here.
                    $crate::simd::Level::Avx512 if $crate::simd::avx512() => return unsafe { avx512($($a),*) },
                    // SAFETY: the AVX2 copy runs only where the CPU has AVX2 and FMA, checked here.
                    l if l.runs_avx2() => return unsafe { avx2($($a),*) },
                    _ => {}
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            let _ = level;
            $body($($a),*)
        }
    };
}

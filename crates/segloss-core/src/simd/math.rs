//! Fast elementary functions on `f32x8` lanes, with measured error bounds, as a macro
//! ([`simd_math!`](crate::simd_math)) expanded once per level on that level's lane types: in
//! [`super::base`] on `wide`'s, and in each kernel crate on the AVX2 lanes of
//! [`avx2_lanes!`](crate::avx2_lanes).
//!
//! `wide`'s own `exp`/`ln` are accurate but slow; these are short polynomial kernels (Cephes-style
//! range reduction) built from lane primitives. Error bounds, measured by the tests of this module
//! (run at every level) against `f64` over the whole `f32` range (every result that is a normal
//! `f32`):
//!
//! | function | max error | specials |
//! |---|---|---|
//! | [`exp_nonpos`] | 2 ulp for x <= 0 | results below `f32::MIN_POSITIVE` flush to 0, NaN -> NaN |
//! | [`exp`] | 2 ulp | `exp(-inf) = 0`, `exp(+inf) = +inf`, NaN -> NaN; results below `f32::MIN_POSITIVE` are subnormal or 0 (not counted in the bound) |
//! | [`ln`] | 2 ulp | `ln(0) = -inf`, `ln(x < 0) = NaN`, `ln(+inf) = +inf`, NaN -> NaN; subnormal inputs are exact-scaled first |
//! | [`ln_1p`] | 3 ulp for x >= -0.5 | `ln_1p(-1) = -inf`, `ln_1p(x < -1) = NaN`, `ln_1p(+inf) = +inf` |
//! | [`ln_1p_unit`] | 3 ulp for e in [0, 1] | none: the caller guarantees the range |
//! | [`sigmoid`] | 3 ulp | `sigmoid(-inf) = 0`, `sigmoid(+inf) = 1`, NaN -> NaN |
//! | [`softplus`] | 4 ulp | `softplus(-inf) = 0`, `softplus(+inf) = +inf`, NaN -> NaN |
//!
//! Reciprocals are computed as `ONE / x` (an exact IEEE division), never with the approximate
//! `recip` instruction.

/// Expands the elementary functions (`exp`, `exp_nonpos`, `ln`, `ln_1p`, `ln_1p_unit`, `sigmoid`,
/// `softplus`, `sigmoid_and_softplus_neg`) and the loads and stores (`load`, `load_padded`,
/// `store`, `first_lanes`, `lanes_sum_f64`) with visibility `$vis`, on the types `f32x8`,
/// `i32x8` and `u32x8` in scope. Their error bounds are in the module `segloss_core::simd`.
#[macro_export]
macro_rules! simd_math {
    ($vis:vis) => {
        // (crate-visible for a level's wider copy of `exp_nonpos`, which must give its bits)
        #[allow(dead_code)]
        pub(crate) const LOG2E: f32 = std::f32::consts::LOG2_E;
        #[allow(dead_code)]
        pub(crate) const LN2_HI: f32 = 0.693_359_4;
        #[allow(dead_code)]
        pub(crate) const LN2_LO: f32 = -2.121_944_4e-4;

        /// `1.5 * 2^23`: for `|v| < 2^22`, `v + SHIFTER` is `SHIFTER + round(v)` exactly (ties to
        /// even), so its bits hold the nearest integer in the low mantissa bits.
        #[allow(dead_code)]
        pub(crate) const SHIFTER: f32 = 12_582_912.0;

        /// The Cephes polynomial of [`exp_reduced`], highest degree first.
        #[allow(dead_code)]
        pub(crate) const EXP_POLY: [f32; 6] = [1.987_569_1e-4, 1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 0.5];

        /// `ln(f32::MIN_POSITIVE)`: [`exp_nonpos`] flushes arguments below it to 0.
        #[allow(dead_code)]
        pub(crate) const EXP_NONPOS_LO: f32 = -87.336_55;

        /// `2^k` for integer `k` in `[-126, 127]`, built from the exponent bits.
        #[inline(always)]
        fn pow2i(k: i32x8) -> f32x8 {
            f32x8::from_bits(((k + i32x8::splat(127)) << 23u32).cast_unsigned())
        }

        /// Cody-Waite range reduction `x = k ln 2 + r` (for `x` in `[-104, 89]`, not NaN) and the
        /// Cephes polynomial: `(t, e^r)` with `t = SHIFTER + k` (see [`SHIFTER`]). The nearest
        /// integer comes from two additions, with no rounding instruction or integer conversion.
        #[inline(always)]
        fn exp_reduced(xc: f32x8) -> (f32x8, f32x8) {
            let t = xc * f32x8::splat(LOG2E) + f32x8::splat(SHIFTER);
            let kf = t - f32x8::splat(SHIFTER);
            let r = kf.mul_neg_add(f32x8::splat(LN2_HI), xc);
            let r = kf.mul_neg_add(f32x8::splat(LN2_LO), r);
            let mut p = f32x8::splat(EXP_POLY[0]);
            for c in &EXP_POLY[1..] {
                p = p.mul_add(r, f32x8::splat(*c));
            }
            let y = p.mul_add(r * r, r) + f32x8::ONE;
            (t, y)
        }

        /// The integer `k` of `t = SHIFTER + k` (see [`exp_reduced`]).
        #[inline(always)]
        fn shifted_int(t: f32x8) -> i32x8 {
            t.to_bits().cast_signed() - i32x8::splat(0x4b40_0000)
        }

        /// `e^x` per lane (max error 2 ulp on normal results).
        #[inline(always)]
        #[allow(dead_code)]
        $vis fn exp(x: f32x8) -> f32x8 {
            // (`fast_max`/`fast_min` give the bound for a NaN `x`, whose result is replaced below)
            let xc = x.fast_max(f32x8::splat(-104.0)).fast_min(f32x8::splat(89.0));
            let (t, y) = exp_reduced(xc);
            // Scale by 2^k in two steps so that k down to -150 gives correct subnormals / zero.
            let k = shifted_int(t);
            let k1 = k >> 1u32;
            let k2 = k - k1;
            let y = y * pow2i(k1) * pow2i(k2);
            let y = x.simd_gt(f32x8::splat(88.722_84)).select(f32x8::splat(f32::INFINITY), y);
            x.is_nan().select(x, y)
        }

        /// `e^x` for `x <= 0` (or NaN): [`exp`] without the overflow handling and with one scaling step,
        /// so results below `f32::MIN_POSITIVE` (x < -87.3) flush to 0 (max error 2 ulp on normal results).
        #[inline(always)]
        #[allow(dead_code)]
        $vis fn exp_nonpos(x: f32x8) -> f32x8 {
            const LO: f32 = EXP_NONPOS_LO;
            let xc = x.fast_max(f32x8::splat(LO));
            let (t, y) = exp_reduced(xc);
            // k >= -126 here, so 2^k is one normal power of two (the result may still round below
            // it): its bits are `(k + 127) << 23`, and `t`'s bits are `0x4b40_0000 + k`, whose
            // high bits the shift drops
            let y = y * f32x8::from_bits((t.to_bits() + u32x8::splat(127)) << 23u32);
            let y = x.simd_lt(f32x8::splat(LO)).select(f32x8::ZERO, y);
            x.is_nan().select(x, y)
        }

        /// Natural logarithm per lane (max error 2 ulp).
        #[inline(always)]
        #[allow(dead_code)]
        $vis fn ln(x: f32x8) -> f32x8 {
            // Subnormal inputs: scale by 2^23 exactly and correct the exponent.
            let sub = x.simd_lt(f32x8::splat(f32::MIN_POSITIVE));
            let xs = sub.select(x * f32x8::splat(8_388_608.0), x);
            let eadj = sub.select(f32x8::splat(-23.0), f32x8::ZERO);
            let r = ln_core(xs, eadj);
            let r = x.simd_eq(f32x8::ZERO).select(f32x8::splat(f32::NEG_INFINITY), r);
            let r = x.simd_eq(f32x8::splat(f32::INFINITY)).select(x, r);
            // x < 0 or NaN -> NaN
            x.simd_ge(f32x8::ZERO).select(r, f32x8::splat(f32::NAN))
        }

        /// `ln(x) + eadj * ln 2` for normal, finite, positive `x` (no special cases).
        #[inline(always)]
        fn ln_core(xs: f32x8, eadj: f32x8) -> f32x8 {
            let bits = xs.to_bits();
            let e_int = ((bits >> 23u32) & u32x8::splat(0xff)).cast_signed() - i32x8::splat(126);
            let m = f32x8::from_bits((bits & u32x8::splat(0x807f_ffff)) | u32x8::splat(0x3f00_0000));
            let mut e = f32x8::from_i32x8(e_int) + eadj;
            let small = m.simd_lt(f32x8::splat(std::f32::consts::FRAC_1_SQRT_2));
            e = small.select(e - f32x8::ONE, e);
            let m = small.select(m + m, m) - f32x8::ONE;
            let z = m * m;
            let mut y = f32x8::splat(7.037_683_6e-2);
            y = y.mul_add(m, f32x8::splat(-1.151_461e-1));
            y = y.mul_add(m, f32x8::splat(1.167_699_9e-1));
            y = y.mul_add(m, f32x8::splat(-1.242_014_1e-1));
            y = y.mul_add(m, f32x8::splat(1.424_932_3e-1));
            y = y.mul_add(m, f32x8::splat(-1.666_805_8e-1));
            y = y.mul_add(m, f32x8::splat(2.000_071_4e-1));
            y = y.mul_add(m, f32x8::splat(-2.499_999_4e-1));
            y = y.mul_add(m, f32x8::splat(3.333_333e-1));
            y = y * m * z;
            y = e.mul_add(f32x8::splat(LN2_LO), y);
            y = z.mul_neg_add(f32x8::splat(0.5), y);
            (m + y) + e * f32x8::splat(LN2_HI)
        }

        /// `ln(1 + e)` for `e` in `[0, 1]` (max error 3 ulp; no special cases: the caller guarantees the
        /// range). With `t = e / (2 + e)` in `[0, 1/3]`, `ln(1 + e) = 2 atanh(t) = 2t (1 + t^2/3 + t^4/5 +
        /// ...)`, seven terms: shorter than the general [`ln`] and exact at `e = 0`.
        #[inline(always)]
        #[allow(dead_code)]
        $vis fn ln_1p_unit(e: f32x8) -> f32x8 {
            let t = e / (f32x8::splat(2.0) + e);
            let t2 = t * t;
            let mut p = f32x8::splat(1.0 / 13.0);
            p = p.mul_add(t2, f32x8::splat(1.0 / 11.0));
            p = p.mul_add(t2, f32x8::splat(1.0 / 9.0));
            p = p.mul_add(t2, f32x8::splat(1.0 / 7.0));
            p = p.mul_add(t2, f32x8::splat(1.0 / 5.0));
            p = p.mul_add(t2, f32x8::splat(1.0 / 3.0));
            let tt = t + t;
            (tt * t2).mul_add(p, tt)
        }

        /// `ln(1 + x)` per lane, accurate for small `x` (max error 3 ulp for `x >= -0.5`).
        #[inline(always)]
        #[allow(dead_code)]
        $vis fn ln_1p(x: f32x8) -> f32x8 {
            let u = x + f32x8::ONE;
            let d = u - f32x8::ONE;
            // ln(u) * x / (u - 1) corrects the rounding of 1 + x (Goldberg's trick).
            let r = ln(u) * (x / d);
            let r = d.simd_eq(f32x8::ZERO).select(x, r);
            x.simd_eq(f32x8::splat(f32::INFINITY)).select(x, r)
        }

        /// Logistic sigmoid `1 / (1 + e^-x)` per lane, without overflow (max error 3 ulp).
        #[inline(always)]
        #[allow(dead_code)]
        $vis fn sigmoid(x: f32x8) -> f32x8 {
            let e = exp(-x.abs());
            let s = f32x8::ONE / (f32x8::ONE + e);
            x.simd_ge(f32x8::ZERO).select(s, e * s)
        }

        /// `softplus(x) = ln(1 + e^x) = max(x, 0) + ln_1p(e^-|x|)` per lane (max error 4 ulp).
        /// Note `-log(sigmoid(x)) = softplus(-x)`.
        #[inline(always)]
        #[allow(dead_code)]
        $vis fn softplus(x: f32x8) -> f32x8 {
            let e = exp_nonpos(-x.abs());
            // (`fast_max`: a NaN `x` is replaced below)
            let r = x.fast_max(f32x8::ZERO) + ln_1p_unit(e);
            x.is_nan().select(x, r)
        }

        /// Both `sigmoid(x)` and `softplus(-x) = -ln sigmoid(x)` from one exponential.
        #[inline(always)]
        #[allow(dead_code)]
        $vis fn sigmoid_and_softplus_neg(x: f32x8) -> (f32x8, f32x8) {
            let e = exp_nonpos(-x.abs());
            let s = f32x8::ONE / (f32x8::ONE + e);
            let sig = x.simd_ge(f32x8::ZERO).select(s, e * s);
            let sp = (-x).fast_max(f32x8::ZERO) + ln_1p_unit(e);
            (sig, x.is_nan().select(x, sp))
        }

        /// Loads up to 8 values from `src`, filling the missing lanes with `pad`.
        #[inline(always)]
        #[allow(dead_code)]
        $vis fn load_padded(src: &[f32], pad: f32) -> f32x8 {
            if let Some(full) = src.first_chunk::<{ $crate::simd::LANES }>() {
                f32x8::new(*full)
            } else {
                let mut a = [pad; $crate::simd::LANES];
                a[..src.len()].copy_from_slice(src);
                f32x8::new(a)
            }
        }

        /// Loads exactly 8 values (caller guarantees the length).
        #[inline(always)]
        #[allow(dead_code)]
        $vis fn load(src: &[f32]) -> f32x8 {
            f32x8::new(*src.first_chunk::<{ $crate::simd::LANES }>().expect("at least 8 values"))
        }

        /// Stores the first `dst.len().min(8)` lanes of `v`.
        #[inline(always)]
        #[allow(dead_code)]
        $vis fn store(dst: &mut [f32], v: f32x8) {
            if let Some(full) = dst.first_chunk_mut::<{ $crate::simd::LANES }>() {
                // a fixed-size copy: one vector store
                *full = v.to_array();
            } else {
                let a = v.to_array();
                let n = dst.len();
                dst.copy_from_slice(&a[..n]);
            }
        }

        /// A lane mask (all-ones lanes) with the first `n` lanes set.
        ///
        /// One comparison of the lane indices with `n`: written as a loop over the lanes, it
        /// compiled to a `memset` call, which in a kernel's loop forced every vector register to
        /// the stack at each step (`unified_focal` W1 11.9 -> 9.5 ms without it).
        #[inline(always)]
        #[allow(dead_code)]
        $vis fn first_lanes(n: usize) -> f32x8 {
            const _: () = assert!($crate::simd::LANES == 8, "eight lane indices below");
            let k = f32x8::new([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
            k.simd_lt(f32x8::splat(n.min($crate::simd::LANES) as f32))
        }

        /// Sums the lanes of `v` in `f64` (a fixed order: lane 0 first).
        #[inline(always)]
        #[allow(dead_code)]
        $vis fn lanes_sum_f64(v: f32x8) -> f64 {
            v.to_array().iter().map(|&x| x as f64).sum()
        }
    };
}

//! The two passes of the family, each twice with the same signature on slices:
//! [`scalar`] (the readable reference, written from the formulas of `docs/LOSSES.md`, generic
//! over `f32`/`f64` so tests can finite-difference it in `f64`) and [`simd`] (on `f32x8` lanes,
//! compiled once per SIMD level and run at the level given, `segloss_core::simd::Level::current()`
//! in the drivers).
//!
//! - The **statistics pass** reads a segment of one (image, channel) row (sigmoid or identity
//!   activation) or a block of pixels of one image across all channels (softmax) and returns the
//!   sufficient statistics [`Stats`] of each row: `I = sum p g` (with soft labels
//!   `sum min(p, g)`), `P = sum p`, `G = sum g`, `sum p^2`, `sum g^2`, the number of counted
//!   elements and the sum of the per-pixel Dice losses.
//! - The **gradient pass** writes `d loss / d pred`. Per row, `d loss / d p = a + b g + c p` (an
//!   affine function of `p` and `g` whose coefficients [`Coef`] come from the statistics), with
//!   soft labels `a + b h` where `h = d min(p, g) / dp` is 1 below the target, 0 above and 1/2 at
//!   `p = g` (the subgradient 0 of `|p - g|`), or `k (1 - 2g - 2g^2) / (p + g + 1)^2` for the
//!   per-pixel Dice; then through the sigmoid (`p (1 - p)`) or the softmax Jacobian
//!   (`dz_c = p_c (a_c - sum_k p_k a_k)`).
//!
//! Neutral element: an empty segment gives `Stats::default()` (all zero) and writes nothing.
//! Ignored elements (target equal to the ignore value, or label `-1`) count in no sum and receive
//! a zero gradient. Tail handling: the SIMD kernels pad the last partial vector with `x = 0`,
//! `y = 0`, mask its lanes out of every sum and store only the valid lanes, so padding never
//! changes a result.

pub mod scalar;
pub mod simd;
/// Declares, in a level module (`simd_base.rs`, `simd_avx2.rs`, `simd_avx512.rs`), the bodies
/// compiled once per level: `body` (the overlap kernels of `simd_body.rs`) and the kernels of
/// `unified_focal`, `mcc`, `wasserstein_dice`, clDice's activation and the skeleton's passes.
macro_rules! level_bodies {
    () => {
        #[allow(clippy::duplicate_mod)]
        #[path = "../cldice_activation_simd.rs"]
        pub(crate) mod activation;
        #[allow(clippy::duplicate_mod)]
        #[path = "simd_body.rs"]
        pub(crate) mod body;
        #[allow(clippy::duplicate_mod)]
        #[path = "../mcc_simd.rs"]
        pub(crate) mod mcc;
        #[allow(clippy::duplicate_mod)]
        #[path = "../skeleton/level.rs"]
        pub(crate) mod skeleton;
        #[allow(clippy::duplicate_mod)]
        #[path = "../unified_focal_simd.rs"]
        pub(crate) mod unified_focal;
        #[allow(clippy::duplicate_mod)]
        #[path = "../wasserstein_simd.rs"]
        pub(crate) mod wasserstein;
    };
}

pub(crate) mod simd_avx2;
pub(crate) mod simd_avx512;
pub(crate) mod simd_base;

/// Sufficient statistics of one (image, channel) row, in `f64`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    /// `I = sum p g`, or with `soft_label` `sum min(p, g)` (`= (P + G - sum |p - g|)/2` without
    /// its cancellation).
    pub i: f64,
    /// `P = sum p`.
    pub p: f64,
    /// `G = sum g`.
    pub g: f64,
    /// `sum p^2` (only with `squared`).
    pub p2: f64,
    /// `sum g^2` (only with `squared`).
    pub g2: f64,
    /// Number of counted (non-ignored) elements (only with `pixelwise`).
    pub cnt: f64,
    /// Sum of the per-pixel Dice losses `1 - (2pg + 1)/(p + g + 1)` (only with `pixelwise`).
    pub pix: f64,
}

impl Stats {
    /// Adds `o` field by field.
    #[inline]
    pub fn add(&mut self, o: &Stats) {
        self.i += o.i;
        self.p += o.p;
        self.g += o.g;
        self.p2 += o.p2;
        self.g2 += o.g2;
        self.cnt += o.cnt;
        self.pix += o.pix;
    }
}

/// What the kernels compute, fixed for one call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KParams {
    /// `true`: `pred` holds logits (sigmoid or softmax first); `false`: probabilities, unclipped.
    pub from_logits: bool,
    /// Accumulate `sum p^2` and `sum g^2`; the gradient has a `c p` term.
    pub squared: bool,
    /// Accumulate the per-pixel Dice loss and the count; the gradient is the per-pixel one.
    pub pixelwise: bool,
    /// `I` accumulates `min(p, g)`; the gradient is `a + b h`, `h` = 1, 1/2 or 0 for `p` below, at
    /// or above `g` (never with `squared` or `pixelwise`).
    pub soft_label: bool,
    /// Dense targets equal to this value are ignored (binary and multilabel).
    pub ignore: Option<f32>,
}

/// Per-row coefficients of the gradient with respect to `p` (the upstream gradient and the
/// normalisation are folded in): `d loss / d p = a + b g + c p`, with `soft_label` `a + b h`
/// (`h = d min(p, g) / dp`: 1, 1/2 or 0 for `p` below, at or above `g`), or with `pixelwise`
/// `k (1 - 2g - 2g^2) / (p + g + 1)^2`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Coef {
    /// Constant term (`dL/dP`).
    pub a: f64,
    /// Coefficient of `g` (`dL/dI`), or of `h = d min(p, g) / dp` with `soft_label`.
    pub b: f64,
    /// Coefficient of `p` (`2 dL/d sum p^2`, squared Dice); 0 unless `squared` (the SIMD
    /// kernels only read it with `squared`).
    pub c: f64,
    /// Factor of the per-pixel Dice derivative.
    pub k: f64,
}

/// One block of the softmax kernels: `len` pixels of one image, class `c` of pixel `j` at
/// `z[c * stride + j]` (and `probs[c * stride + j]`).
#[derive(Clone, Copy)]
pub struct SoftBlock<'a, T> {
    /// Logits (or probabilities with `from_logits = false`), from the block's first pixel of class 0.
    pub z: &'a [T],
    /// Distance between classes.
    pub stride: usize,
    /// Number of pixels.
    pub len: usize,
    /// Number of classes C.
    pub classes: usize,
    /// Class index per pixel (`-1`: ignored), when targets are labels.
    pub labels: Option<&'a [i32]>,
    /// Class probabilities (same layout as `z`), when targets are soft.
    pub probs: Option<&'a [T]>,
}

#[cfg(test)]
mod tests {
    //! One harness, every kernel: the SIMD kernels, at every SIMD level this CPU runs, against the
    //! scalar ones on every length from 0 to 40 (all tail sizes), every parameter combination,
    //! including ignored elements.
    use super::*;
    use segloss_core::kernel::StridedOut;
    use segloss_core::reduce::SharedMut;
    use segloss_core::simd::Level;

    /// Statistics: relative tolerance of SIMD (f32 lanes) against scalar (f64 per element).
    const STATS_REL: f64 = 1e-6;
    /// Gradients: tolerance relative to the coefficient scale `|a| + |b| + |c| + 3 |k|` (a bound
    /// of `|dL/dp|`), since `a + b g` may cancel.
    const GRAD_REL: f64 = 1e-6;

    /// A value in [0, 1) per index: the first value of core's generator seeded with salt and index.
    fn val(i: usize, salt: u32) -> f32 {
        segloss_core::rng::Rng::new(((salt as u64) << 40) ^ i as u64).next_f32()
    }

    fn params() -> Vec<KParams> {
        let mut v = Vec::new();
        for from_logits in [true, false] {
            for (squared, pixelwise, soft_label) in
                [(false, false, false), (true, false, false), (false, true, false), (false, false, true)]
            {
                for ignore in [None, Some(255.0)] {
                    v.push(KParams { from_logits, squared, pixelwise, soft_label, ignore });
                }
            }
        }
        v
    }

    fn stats_close(a: &Stats, b: &Stats) -> bool {
        let f = |x: f64, y: f64| (x - y).abs() <= STATS_REL * (x.abs().max(y.abs()) + 1.0);
        f(a.i, b.i) && f(a.p, b.p) && f(a.g, b.g) && f(a.p2, b.p2) && f(a.g2, b.g2) && a.cnt == b.cnt && f(a.pix, b.pix)
    }

    fn grads_close(a: &[f32], b: &[f32], coefs: &[Coef]) -> bool {
        let scale = coefs.iter().map(|c| c.a.abs() + c.b.abs() + c.c.abs() + 3.0 * c.k.abs()).fold(0.0, f64::max);
        a.iter().zip(b).all(|(x, y)| ((x - y).abs() as f64) <= GRAD_REL * scale)
    }

    fn coef(kp: &KParams, k: usize) -> Coef {
        Coef { a: 0.3 + 0.1 * k as f64, b: -1.2 + 0.3 * k as f64, c: if kp.squared { 0.7 } else { 0.0 }, k: -0.4 }
    }

    macro_rules! dense_case {
        ($name:ident, $stats:path, $grad:path) => {
            #[test]
            fn $name() {
                for (level, kp) in Level::supported_levels().flat_map(|l| params().into_iter().map(move |k| (l, k))) {
                    let coef = coef(&kp, 0);
                    for n in 0..=40 {
                        let x: Vec<f32> = (0..n).map(|i| if kp.from_logits { val(i, 1) * 16.0 - 8.0 } else { val(i, 1) }).collect();
                        let y: Vec<f32> = (0..n).map(|i| if kp.ignore.is_some() && i % 7 == 3 { 255.0 } else { val(i, 2) }).collect();
                        let (s1, b1) = $stats(level, &x, &y, &kp);
                        let (s2, b2) = scalar::dense_stats(&x, &y, &kp);
                        assert!(stats_close(&s1, &s2), "{level:?} {kp:?} n={n}: {s1:?} vs {s2:?}");
                        assert_eq!(b1, b2, "{level:?} {kp:?} n={n}");
                        let mut g1 = vec![f32::NAN; n];
                        let mut g2 = vec![f32::NAN; n];
                        $grad(level, &x, &y, &kp, &coef, &mut g1);
                        scalar::dense_grad(&x, &y, &kp, &coef, &mut g2);
                        assert!(g1.iter().all(|g| g.is_finite()), "{level:?} {kp:?} n={n}: not fully written");
                        assert!(grads_close(&g1, &g2, &[coef]), "{level:?} {kp:?} n={n}: {g1:?} vs {g2:?}");
                    }
                }
            }
        };
    }

    macro_rules! softmax_case {
        ($name:ident, $stats:path, $grad:path) => {
            #[test]
            fn $name() {
                let kps = || params().into_iter().filter(|k| k.ignore.is_none());
                for (level, kp) in Level::supported_levels().flat_map(|l| kps().map(move |k| (l, k))) {
                    for classes in [2usize, 3, 7] {
                        for len in [0usize, 1, 5, 8, 13, 16, 29] {
                            let stride = len + 3; // rows of the block inside a longer image
                            let z: Vec<f32> =
                                (0..classes * stride).map(|i| if kp.from_logits { val(i, 3) * 12.0 - 6.0 } else { val(i, 3) }).collect();
                            let labels: Vec<i32> =
                                (0..len).map(|j| if j % 5 == 2 { -1 } else { (val(j, 4) * classes as f32) as i32 }).collect();
                            let probs: Vec<f32> = (0..classes * stride).map(|i| val(i, 5)).collect();
                            for soft in [false, true] {
                                let b = SoftBlock {
                                    z: &z,
                                    stride,
                                    len,
                                    classes,
                                    labels: (!soft).then_some(&labels[..]),
                                    probs: soft.then_some(&probs[..]),
                                };
                                let mut s1 = vec![Stats::default(); classes];
                                let mut s2 = vec![Stats::default(); classes];
                                assert_eq!($stats(level, &b, &kp, &mut s1), scalar::softmax_stats(&b, &kp, &mut s2));
                                for (a, c) in s1.iter().zip(&s2) {
                                    assert!(stats_close(a, c), "{level:?} {kp:?} C={classes} len={len}: {a:?} vs {c:?}");
                                }
                                let coefs: Vec<Coef> = (0..classes).map(|k| coef(&kp, k)).collect();
                                let mut g1 = vec![f32::NAN; classes * stride];
                                let mut g2 = vec![f32::NAN; classes * stride];
                                $grad(level, &b, &kp, &coefs, &StridedOut::new(SharedMut::new(&mut g1), 0, stride, len));
                                scalar::softmax_grad(&b, &kp, &coefs, &StridedOut::new(SharedMut::new(&mut g2), 0, stride, len));
                                for c in 0..classes {
                                    let (r1, r2) = (&g1[c * stride..c * stride + len], &g2[c * stride..c * stride + len]);
                                    assert!(r1.iter().all(|g| g.is_finite()), "not fully written");
                                    assert!(
                                        grads_close(r1, r2, &coefs),
                                        "{level:?} {kp:?} C={classes} len={len} soft={soft}: {r1:?} vs {r2:?}"
                                    );
                                    // nothing written past the block
                                    assert!(g1[c * stride + len..(c + 1) * stride].iter().all(|g| g.is_nan()));
                                }
                            }
                        }
                    }
                }
            }
        };
    }

    dense_case!(simd_dense_matches_scalar, simd::dense_stats, simd::dense_grad);
    softmax_case!(simd_softmax_matches_scalar, simd::softmax_stats, simd::softmax_grad);

    /// The cached pair (stats pass leaving per-element values in the gradient buffer, gradient
    /// pass reading them back), as one call with the signature of the dense kernels.
    fn dense_stats_then_cache(level: Level, x: &[f32], y: &[f32], kp: &KParams) -> (Stats, bool) {
        if kp.from_logits {
            simd::dense_stats_cached(level, x, y, kp, &mut vec![f32::NAN; x.len()])
        } else {
            simd::dense_stats(level, x, y, kp)
        }
    }

    fn dense_grad_via_cache(level: Level, x: &[f32], y: &[f32], kp: &KParams, coef: &Coef, out: &mut [f32]) {
        if kp.from_logits {
            let _ = simd::dense_stats_cached(level, x, y, kp, out);
            simd::dense_grad_cached(level, y, kp, coef, out);
        } else {
            simd::dense_grad(level, x, y, kp, coef, out);
        }
    }

    fn softmax_stats_then_cache(level: Level, b: &SoftBlock<'_, f32>, kp: &KParams, out: &mut [Stats]) -> bool {
        if kp.from_logits {
            let mut cache = vec![f32::NAN; b.classes * b.stride];
            simd::softmax_stats_cached(level, b, kp, out, &StridedOut::new(SharedMut::new(&mut cache), 0, b.stride, b.len))
        } else {
            simd::softmax_stats(level, b, kp, out)
        }
    }

    fn softmax_grad_via_cache(level: Level, b: &SoftBlock<'_, f32>, kp: &KParams, coefs: &[Coef], out: &StridedOut<'_>) {
        if kp.from_logits {
            let mut st = vec![Stats::default(); b.classes];
            let _ = simd::softmax_stats_cached(level, b, kp, &mut st, out);
            simd::softmax_grad_cached(level, b, kp, coefs, out);
        } else {
            simd::softmax_grad(level, b, kp, coefs, out);
        }
    }

    dense_case!(simd_cached_dense_matches_scalar, dense_stats_then_cache, dense_grad_via_cache);
    softmax_case!(simd_cached_softmax_matches_scalar, softmax_stats_then_cache, softmax_grad_via_cache);

    /// The cached softmax pair (class-major, by sub-blocks of `SUB` pixels) gives the statistics of
    /// the pixel-major `softmax_stats` and the gradient of the pixel-major `softmax_grad`, bit for
    /// bit, on blocks that cross the sub-block and `FLUSH` boundaries (lengths around 256 and
    /// 1024, up to 2100), with and without extras, labels with ignored pixels and soft targets.
    #[test]
    fn cached_softmax_equals_pixel_major_bits() {
        let kps = params().into_iter().filter(|k| k.from_logits && k.ignore.is_none());
        for (level, kp) in Level::supported_levels().flat_map(|l| kps.clone().map(move |k| (l, k))) {
            for (classes, len) in [(3usize, 255usize), (2, 256), (4, 263), (5, 1024), (3, 1031), (7, 2100)] {
                let stride = len + 5;
                // logits over [-40, 40], so that some exponentials underflow
                let z: Vec<f32> = (0..classes * stride).map(|i| val(i, 6) * 80.0 - 40.0).collect();
                let labels: Vec<i32> = (0..len).map(|j| if j % 9 == 4 { -1 } else { (val(j, 7) * classes as f32) as i32 }).collect();
                let probs: Vec<f32> = (0..classes * stride).map(|i| val(i, 8)).collect();
                for soft in [false, true] {
                    let b = soft_block(&z, stride, classes, &labels, &probs, soft);
                    let what = format!("{level:?} {kp:?} C={classes} len={len} soft={soft}");
                    let (mut s1, mut s2) = (vec![Stats::default(); classes], vec![Stats::default(); classes]);
                    let mut g1 = vec![f32::NAN; classes * stride];
                    let bad1 =
                        simd::softmax_stats_cached(level, &b, &kp, &mut s1, &StridedOut::new(SharedMut::new(&mut g1), 0, stride, len));
                    let bad2 = simd::softmax_stats(level, &b, &kp, &mut s2);
                    assert_eq!(bad1, bad2, "{what}");
                    assert_eq!(format!("{s1:?}"), format!("{s2:?}"), "{what}: statistics");
                    let coefs: Vec<Coef> = (0..classes).map(|k| coef(&kp, k)).collect();
                    simd::softmax_grad_cached(level, &b, &kp, &coefs, &StridedOut::new(SharedMut::new(&mut g1), 0, stride, len));
                    let mut g2 = vec![f32::NAN; classes * stride];
                    simd::softmax_grad(level, &b, &kp, &coefs, &StridedOut::new(SharedMut::new(&mut g2), 0, stride, len));
                    for (i, (a, c)) in g1.iter().zip(&g2).enumerate() {
                        assert!(a.to_bits() == c.to_bits() || (a.is_nan() && c.is_nan()), "{what}: gradient element {i}: {a} vs {c}");
                    }
                }
            }
        }
    }

    /// A block of `labels.len()` pixels over `z` (class `c` at `c * stride`) with the labels, or
    /// with the class probabilities `probs` when `soft`.
    fn soft_block<'a>(z: &'a [f32], stride: usize, classes: usize, labels: &'a [i32], probs: &'a [f32], soft: bool) -> SoftBlock<'a, f32> {
        SoftBlock { z, stride, len: labels.len(), classes, labels: (!soft).then_some(labels), probs: soft.then_some(probs) }
    }

    /// The AVX-512 level gives the AVX2 level's bits (the same lanes and operations, compiled with
    /// more registers; the 16-lane statistics of full softmax sub-blocks with the same operations
    /// per lane and sums in the same order): dense and softmax statistics and gradients, cached
    /// and not, for every parameter combination, with 4 and 21 classes (and, with 21, special
    /// logits). Skipped (passes) on a CPU without AVX-512.
    #[test]
    fn avx512_level_gives_the_avx2_bits() {
        if !Level::Avx512.supported() {
            return;
        }
        let bits = |g: &[f32]| g.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        for kp in params() {
            let n = 1030;
            let x: Vec<f32> = (0..n).map(|i| if kp.from_logits { val(i, 11) * 24.0 - 12.0 } else { val(i, 11) }).collect();
            let y: Vec<f32> = (0..n).map(|i| if kp.ignore.is_some() && i % 7 == 3 { 255.0 } else { val(i, 12) }).collect();
            let dense = |level| {
                let (s, bad) = simd::dense_stats(level, &x, &y, &kp);
                let mut g = vec![f32::NAN; n];
                simd::dense_grad(level, &x, &y, &kp, &coef(&kp, 0), &mut g);
                let mut gc = vec![f32::NAN; n];
                dense_grad_via_cache(level, &x, &y, &kp, &coef(&kp, 0), &mut gc);
                (format!("{s:?}"), bad, bits(&g), bits(&gc))
            };
            assert!(dense(Level::Avx2) == dense(Level::Avx512), "dense {kp:?}: the levels differ");
            if kp.ignore.is_some() {
                continue;
            }
            // 4 classes; 21 (W2's count) with logits far apart, infinite and NaN here and there
            for (classes, specials) in [(4usize, false), (21, true)] {
                let len = 1100usize;
                let stride = len + 3;
                let special = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e30, -1e30, 95.0, -95.0];
                let z: Vec<f32> = (0..classes * stride)
                    .map(|i| match (kp.from_logits, specials && i % 41 == 7) {
                        (true, true) => special[(i / 41) % special.len()],
                        (true, false) => val(i, 13) * 16.0 - 8.0,
                        (false, _) => val(i, 13),
                    })
                    .collect();
                let labels: Vec<i32> = (0..len).map(|j| if j % 5 == 2 { -1 } else { (val(j, 14) * classes as f32) as i32 }).collect();
                let probs: Vec<f32> = (0..classes * stride).map(|i| val(i, 15)).collect();
                for soft in [false, true] {
                    let b = soft_block(&z, stride, classes, &labels, &probs, soft);
                    let coefs: Vec<Coef> = (0..classes).map(|k| coef(&kp, k)).collect();
                    let softmax = |level| {
                        let mut st = vec![Stats::default(); classes];
                        let bad = softmax_stats_then_cache(level, &b, &kp, &mut st);
                        let mut g = vec![f32::NAN; classes * stride];
                        softmax_grad_via_cache(level, &b, &kp, &coefs, &StridedOut::new(SharedMut::new(&mut g), 0, stride, len));
                        let mut g2 = vec![f32::NAN; classes * stride];
                        simd::softmax_grad(level, &b, &kp, &coefs, &StridedOut::new(SharedMut::new(&mut g2), 0, stride, len));
                        (format!("{st:?}"), bad, bits(&g), bits(&g2))
                    };
                    assert!(softmax(Level::Avx2) == softmax(Level::Avx512), "softmax {kp:?} soft={soft} C={classes}: the levels differ");
                }
            }
        }
    }

    #[test]
    fn empty_segment_is_the_neutral_element() {
        for (level, kp) in Level::supported_levels().flat_map(|l| params().into_iter().map(move |k| (l, k))) {
            assert_eq!(simd::dense_stats(level, &[], &[], &kp), (Stats::default(), false));
            assert_eq!(scalar::dense_stats::<f32>(&[], &[], &kp), (Stats::default(), false));
        }
    }

    #[test]
    fn padding_never_counts() {
        // 3 elements: the 5 padded lanes (x = 0 -> p = 0.5 under the sigmoid) must not count
        for level in Level::supported_levels() {
            let kp = KParams { from_logits: true, squared: true, pixelwise: true, soft_label: false, ignore: None };
            let (s, _) = simd::dense_stats(level, &[0.0, 0.0, 0.0], &[1.0, 0.0, 1.0], &kp);
            assert_eq!((s.p, s.g, s.i, s.cnt), (1.5, 2.0, 1.0, 3.0), "{level:?}");
            let kp = KParams { from_logits: true, squared: false, pixelwise: false, soft_label: true, ignore: None };
            let (s, _) = simd::dense_stats(level, &[0.0, 0.0, 0.0], &[1.0, 0.0, 1.0], &kp);
            assert_eq!((s.p, s.g, s.i), (1.5, 2.0, 1.0), "{level:?}");
        }
    }
}

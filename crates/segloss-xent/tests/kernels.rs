//! SIMD kernels, at every SIMD level this CPU runs, against the scalar reference kernels, and both
//! against f64 finite differences.

use proptest::prelude::*;
use segloss_core::kernel::StridedOut;
use segloss_core::reduce::SharedMut;
use segloss_core::rng::Rng;
use segloss_core::simd::Level;
use segloss_core::testing::{self, check_gradient_fn, logit, probability};
use segloss_xent::kernels::{scalar, simd, Aux, ElemKind, ElemParams, SoftmaxBlock, SoftmaxParams};

/// SIMD vs scalar, elementwise: |sum_simd - sum_scalar| <= SUM_TOL * (sum of |l_i|) + tiny.
const SUM_TOL: f64 = 2e-6;
/// SIMD vs scalar, elementwise gradients: per element, relative to the larger magnitude or to 1
/// (the gradient is a difference of O(1) terms, so near 0 its error is absolute).
const GRAD_REL_TOL: f32 = 2e-5;
/// Softmax kernels accumulate over classes in a different order: a little looser.
const SOFTMAX_SUM_TOL: f64 = 1e-5;
const SOFTMAX_GRAD_TOL: f32 = 5e-5;
/// Finite differences (f64 reference) vs the f64 analytic gradient.
const FD_REL_TOL: f64 = 1e-6;
const FD_ABS_TOL: f64 = 1e-9;
const FD_STEP: f64 = 1e-6;

fn all_params() -> Vec<(ElemParams, bool)> {
    let mut v = Vec::new();
    for &from_logits in &[true, false] {
        for &smoothing in &[0.0f32, 0.1] {
            for kind in [
                ElemKind::Bce { q: 1.0, factor: 1.0 },
                ElemKind::Bce { q: 3.5, factor: 0.3 },
                ElemKind::Focal { gamma: 2.0, a: 0.25, b: 0.75 },
                ElemKind::Focal { gamma: 0.0, a: 1.0, b: 1.0 },
                ElemKind::Focal { gamma: 0.5, a: 0.6, b: 0.4 },
                ElemKind::Focal { gamma: 1.0, a: 0.25, b: 0.75 },
                ElemKind::Focal { gamma: 3.7, a: 0.25, b: 0.75 },
                ElemKind::DistanceBce { q0: 1.0, factor: 0.5 },
            ] {
                let distance = matches!(kind, ElemKind::DistanceBce { .. });
                v.push((ElemParams { kind, from_logits, smoothing }, distance));
            }
        }
    }
    v
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= GRAD_REL_TOL * a.abs().max(b.abs()).max(1.0)
}

fn compare_elementwise(x: &[f32], y: &[f32], w: &[f32]) {
    for level in Level::supported_levels() {
        compare_elementwise_at(level, x, y, w);
    }
}

fn compare_elementwise_at(level: Level, x: &[f32], y: &[f32], w: &[f32]) {
    for (p, distance) in all_params() {
        for use_w in [false, true] {
            let aux = match (use_w || distance, distance) {
                (false, _) => Aux::None,
                (true, true) => Aux::Distance(w),
                (true, false) => Aux::Weight(w),
            };
            let mut g1 = vec![f32::NAN; x.len()];
            let mut g2 = vec![f32::NAN; x.len()];
            let (s1, b1) = simd::elementwise(level, x, y, aux, &p, 0.7, Some(&mut g1));
            let (s2, b2) = scalar::elementwise(x, y, aux, &p, 0.7, Some(&mut g2));
            assert_eq!(b1, b2, "{level:?} {p:?}");
            let mag: f64 = x
                .iter()
                .zip(y)
                .enumerate()
                .map(|(i, (&xi, &yi))| {
                    let a = match aux {
                        Aux::None => None,
                        Aux::Weight(w) | Aux::Distance(w) => Some(w[i]),
                    };
                    scalar::element(xi as f64, yi as f64, a.map(|v| v as f64), distance, &p).0.abs()
                })
                .sum();
            assert!((s1 - s2).abs() <= SUM_TOL * mag + 1e-30, "{level:?} {p:?} len {}: simd {s1} scalar {s2}", x.len());
            for i in 0..x.len() {
                assert!(
                    close(g1[i], g2[i]),
                    "{level:?} {p:?} element {i} of {}: x={} y={} simd {} scalar {}",
                    x.len(),
                    x[i],
                    y[i],
                    g1[i],
                    g2[i]
                );
            }
            // no gradient requested: same sum
            let (s3, _) = simd::elementwise(level, x, y, aux, &p, 0.7, None);
            assert_eq!(s1.to_bits(), s3.to_bits());
        }
    }
}

/// A softmax block of `labels.len()` pixels over `z` (class `c` at `c * len`) with the labels, or
/// with the class probabilities `probs` when `soft`, and the pixel weights `weight`.
fn soft_block<'a>(z: &'a [f32], labels: &'a [i32], probs: &'a [f32], soft: bool, weight: Option<&'a [f32]>) -> SoftmaxBlock<'a> {
    let len = labels.len();
    SoftmaxBlock { z, stride: len, len, labels: (!soft).then_some(labels), probs: soft.then_some(probs), weight }
}

#[test]
fn elementwise_simd_equals_scalar_for_every_length() {
    // lengths 0..=4*lanes+7 exercise the full vectors and every tail
    for len in 0..=39usize {
        let x: Vec<f32> = (0..len).map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.9).collect();
        let y: Vec<f32> = (0..len).map(|i| [0.0, 1.0, 0.3, 1.0, 0.0][i % 5]).collect();
        let w: Vec<f32> = (0..len).map(|i| 0.5 + (i % 4) as f32 * 0.7).collect();
        compare_elementwise(&x, &y, &w);
        let p: Vec<f32> = (0..len).map(|i| [0.0, 1.0, 0.5, 1e-8, 0.999_999_9, 0.2][i % 6]).collect();
        compare_elementwise(&p, &y, &w);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn elementwise_simd_equals_scalar(xs in prop::collection::vec((logit(), probability(), 0.0f32..3.0), 0..60)) {
        let x: Vec<f32> = xs.iter().map(|v| v.0).collect();
        let y: Vec<f32> = xs.iter().map(|v| v.1).collect();
        let w: Vec<f32> = xs.iter().map(|v| v.2).collect();
        compare_elementwise(&x, &y, &w);
        let p: Vec<f32> = xs.iter().map(|v| (v.0 / 20.0).clamp(0.0, 1.0)).collect();
        compare_elementwise(&p, &y, &w);
    }

    /// Value and gradient stay finite for logits up to ±1e4, every gamma in [0, 5] and
    /// probabilities exactly 0 and 1.
    #[test]
    fn finite_everywhere(x in logit(), y in probability(), p in probability(), gamma in testing::kit::gamma(), d in 0.0f32..10.0) {
        for kind in [ElemKind::Bce { q: 2.0, factor: 1.0 }, ElemKind::Focal { gamma, a: 0.25, b: 0.75 }, ElemKind::DistanceBce { q0: 1.0, factor: 0.5 }] {
            for (v, from_logits) in [(x, true), (p, false)] {
                let params = ElemParams { kind, from_logits, smoothing: 0.0 };
                let vs = [v; 9];
                let ys = [y; 9];
                let ds = [d; 9];
                for level in Level::supported_levels() {
                    let mut g = [f32::NAN; 9];
                    let (s, _) = simd::elementwise(level, &vs, &ys, Aux::Distance(&ds), &params, 1.0, Some(&mut g));
                    prop_assert!(s.is_finite(), "{level:?} {params:?} x={v} y={y}: {s}");
                    prop_assert!(g.iter().all(|g| g.is_finite()), "{level:?} {params:?} x={v} y={y}: {g:?}");
                }
                let (l, gs) = scalar::element(v, y, Some(d), matches!(kind, ElemKind::DistanceBce { .. }), &params);
                prop_assert!(l.is_finite() && gs.is_finite(), "scalar {params:?} x={v} y={y}: {l} {gs}");
            }
        }
    }

    /// The analytic gradient of the f64 reference equals central differences.
    #[test]
    fn elementwise_gradient_matches_finite_differences(xs in prop::collection::vec((-12.0f64..12.0, 0.0f64..=1.0, 0.0f64..3.0), 1..12), gamma in 0.0f32..4.0, from_logits in any::<bool>()) {
        let x: Vec<f64> = xs.iter().map(|v| if from_logits { v.0 } else { 0.02 + 0.96 * (v.0 + 12.0) / 24.0 }).collect();
        let y: Vec<f64> = xs.iter().map(|v| v.1).collect();
        let w: Vec<f64> = xs.iter().map(|v| v.2).collect();
        for (kind, distance) in [(ElemKind::Bce { q: 2.5, factor: 0.7 }, false), (ElemKind::Focal { gamma, a: 0.3, b: 0.7 }, false), (ElemKind::DistanceBce { q0: 0.5, factor: 0.6 }, true)] {
            let p = ElemParams { kind, from_logits, smoothing: 0.05 };
            let aux = if distance { Aux::Distance(w.as_slice()) } else { Aux::Weight(w.as_slice()) };
            let f = |xv: &[f64]| scalar::elementwise(xv, &y, aux, &p, 1.0, None).0;
            let mut g = vec![0.0f64; x.len()];
            scalar::elementwise(&x, &y, aux, &p, 1.0, Some(&mut g));
            check_gradient_fn(&f, &x, &g, FD_STEP, FD_REL_TOL, FD_ABS_TOL).map_err(|e| TestCaseError::fail(format!("{p:?}: {e}")))?;
        }
    }
}

fn softmax_case(cc: usize, len: usize, seed: u64, weights: bool, ignore_some: bool) {
    let mut r = Rng::new(seed);
    let mut rnd = || r.next_f32();
    let z: Vec<f32> = (0..cc * len).map(|_| (rnd() - 0.5) * 16.0).collect();
    let labels: Vec<i32> = (0..len).map(|_| if ignore_some && rnd() < 0.2 { -1 } else { (rnd() * cc as f32) as i32 % cc as i32 }).collect();
    let mut probs: Vec<f32> = (0..cc * len).map(|_| rnd()).collect();
    for j in 0..len {
        let t: f32 = (0..cc).map(|c| probs[c * len + j]).sum();
        (0..cc).for_each(|c| probs[c * len + j] /= t);
    }
    let pw: Vec<f32> = (0..len).map(|_| rnd() * 2.0).collect();
    let cw: Vec<f32> = (0..cc).map(|c| 0.5 + c as f32 * 0.25).collect();
    for (gamma, smoothing, soft) in [
        (None, 0.0, false),
        (None, 0.15, false),
        (None, 0.1, true),
        (Some(2.0), 0.0, false),
        (Some(0.0), 0.0, false),
        (Some(0.5), 0.0, false),
        (Some(3.3), 0.0, false),
    ] {
        let p = SoftmaxParams { classes: cc, class_weights: if weights { &cw } else { &[] }, smoothing, focal_gamma: gamma };
        let block = soft_block(&z, &labels, &probs, soft, weights.then_some(pw.as_slice()));
        let mut g2 = vec![f32::NAN; cc * len];
        let s2 = scalar::softmax(&block, &p, 0.9, Some(&StridedOut::new(SharedMut::new(&mut g2), 0, len, len)));
        let gmax = g2.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for level in Level::supported_levels() {
            let mut g1 = vec![f32::NAN; cc * len];
            let s1 = simd::softmax(level, &block, &p, 0.9, Some(&StridedOut::new(SharedMut::new(&mut g1), 0, len, len)));
            assert!(
                (s1 - s2).abs() <= SOFTMAX_SUM_TOL * s2.abs().max(1.0),
                "{level:?} C={cc} len={len} {gamma:?} s={smoothing} soft={soft}: simd {s1} scalar {s2}"
            );
            for i in 0..g1.len() {
                assert!(
                    (g1[i] - g2[i]).abs() <= SOFTMAX_GRAD_TOL * gmax.max(1e-3),
                    "{level:?} C={cc} len={len} {gamma:?} soft={soft} grad[{i}]: simd {} scalar {}",
                    g1[i],
                    g2[i]
                );
            }
            let s3 = simd::softmax(level, &block, &p, 0.9, None);
            assert!((s3 - s1).abs() <= 1e-12 * s1.abs().max(1.0), "{level:?}");
        }
    }
}

#[test]
fn softmax_simd_equals_scalar() {
    for cc in [2usize, 3, 5, 21] {
        for len in 0..=39usize {
            softmax_case(cc, len, (cc * 100 + len) as u64, len % 2 == 0, len % 3 == 0);
        }
    }
    // longer than one sub-block of the class-major kernel (1024 pixels)
    softmax_case(3, 2500, 7, true, true);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Per-pixel softmax gradient (ce, smoothed ce, soft targets, focal) against central differences.
    #[test]
    fn softmax_gradient_matches_finite_differences(z in prop::collection::vec(-9.0f64..9.0, 2..7), t in 0usize..7, gamma in 0.0f32..4.0, s in 0.0f32..0.3) {
        let cc = z.len();
        let t = t % cc;
        let cw: Vec<f32> = (0..cc).map(|c| 0.3 + c as f32 * 0.4).collect();
        let probs: Vec<f64> = (0..cc).map(|c| (c as f64 + 1.0) / (cc * (cc + 1) / 2) as f64).collect();
        for (focal, soft) in [(None, false), (None, true), (Some(gamma), false)] {
            let p = SoftmaxParams { classes: cc, class_weights: &cw, smoothing: if focal.is_some() { 0.0 } else { s }, focal_gamma: focal };
            let f = |zv: &[f64]| { let mut g = vec![0.0; cc]; scalar::softmax_pixel(zv, Some(t), soft.then_some(probs.as_slice()), &p, &mut g) };
            let mut g = vec![0.0; cc];
            scalar::softmax_pixel(&z, Some(t), soft.then_some(probs.as_slice()), &p, &mut g);
            check_gradient_fn(&f, &z, &g, FD_STEP, FD_REL_TOL, FD_ABS_TOL).map_err(|e| TestCaseError::fail(format!("{focal:?} soft={soft}: {e}")))?;
        }
    }

    /// Softmax kernels stay finite at saturated logits for every gamma.
    #[test]
    fn softmax_finite_everywhere(z in prop::collection::vec(logit(), 2..6), t in 0usize..6, gamma in testing::kit::gamma()) {
        let cc = z.len();
        let labels = [(t % cc) as i32];
        for focal in [None, Some(gamma)] {
            let p = SoftmaxParams { classes: cc, class_weights: &[], smoothing: 0.1 * (focal.is_none() as u8 as f32), focal_gamma: focal };
            let block = SoftmaxBlock { z: &z, stride: 1, len: 1, labels: Some(&labels), probs: None, weight: None };
            for level in Level::supported_levels() {
                let mut g = vec![f32::NAN; cc];
                let s = simd::softmax(level, &block, &p, 1.0, Some(&StridedOut::new(SharedMut::new(&mut g), 0, 1, 1)));
                prop_assert!(s.is_finite() && g.iter().all(|v| v.is_finite()), "{level:?} {focal:?} z={z:?}: {s} {g:?}");
            }
        }
    }
}

/// Pinned: gamma in (0, 1) at p = 1 exactly (the naive chain rule gives inf * 0 there).
#[test]
fn focal_gamma_below_one_at_saturation() {
    for level in Level::supported_levels() {
        for x in [1e4f32, -1e4, 88.0, -88.0, 30.0] {
            for y in [0.0f32, 1.0] {
                let p = ElemParams { kind: ElemKind::Focal { gamma: 0.3, a: 0.25, b: 0.75 }, from_logits: true, smoothing: 0.0 };
                let mut g = [f32::NAN; 1];
                let (s, _) = simd::elementwise(level, &[x], &[y], Aux::None, &p, 1.0, Some(&mut g));
                assert!(s.is_finite() && g[0].is_finite(), "{level:?} x={x} y={y}: {s} {}", g[0]);
            }
        }
        let p = ElemParams { kind: ElemKind::Focal { gamma: 0.3, a: 0.25, b: 0.75 }, from_logits: false, smoothing: 0.0 };
        let mut g = [f32::NAN; 2];
        let (s, _) = simd::elementwise(level, &[0.0, 1.0], &[0.0, 1.0], Aux::None, &p, 1.0, Some(&mut g));
        assert!(s.is_finite() && g == [0.0, 0.0], "{level:?} {s} {g:?}");
    }
}

/// Pinned (found by the golden tests): a tiny positive weight must keep its digits; computing
/// `1 + (q - 1) y` in f32 lost them (19% error at q = 1e-7).
#[test]
fn tiny_positive_weight_keeps_its_digits() {
    for (level, q) in Level::supported_levels().flat_map(|l| [(l, 1e-4f32), (l, 1e-7)]) {
        for (kind, distance) in [(ElemKind::Bce { q, factor: 1.0 }, false), (ElemKind::DistanceBce { q0: q, factor: 1.0 }, true)] {
            let p = ElemParams { kind, from_logits: true, smoothing: 0.0 };
            let d = [30.0f32; 3]; // exp(-d^2) = 0: q stays tiny
            let aux = if distance { Aux::Distance(&d) } else { Aux::None };
            let (x, y) = ([1.0f32, -2.0, 3.0], [1.0f32, 1.0, 1.0]);
            let mut g = [0.0f32; 3];
            let (s, _) = simd::elementwise(level, &x, &y, aux, &p, 1.0, Some(&mut g));
            for i in 0..3 {
                let xi = x[i] as f64;
                let want_g = -(q as f64) / (1.0 + xi.exp());
                assert!(((g[i] as f64) - want_g).abs() <= 1e-6 * want_g.abs(), "{level:?} q={q} {i}: {} vs {want_g}", g[i]);
            }
            let want: f64 = x.iter().map(|&xi| q as f64 * ((-xi as f64).exp().ln_1p())).sum();
            assert!((s - want).abs() <= 1e-6 * want, "{level:?} q={q}: {s} vs {want}");
        }
    }
}

/// Pinned (shrunk by proptest from `elementwise_simd_equals_scalar`): near-balanced probabilities
/// make the gradient a difference of O(1) terms, so its error is absolute, not relative.
#[test]
fn pinned_gradient_cancellation_is_compared_absolutely() {
    compare_elementwise(&[4.5657597], &[0.19841883], &[2.7194765]);
    compare_elementwise(&[0.22828798], &[0.19841883], &[2.7194765]);
}

/// The AVX-512 level compiles the AVX2 level's lanes and operations with more registers (and runs
/// the class passes of full softmax sub-blocks on labels 16 lanes wide, with the same operations
/// per lane): the same bits, sums and every gradient element, for every elementwise and softmax
/// configuration, with 5 and 21 classes (README, "SIMD: run-time dispatch"). Skipped (passes) on
/// a CPU without AVX-512.
#[test]
fn avx512_level_gives_the_avx2_bits() {
    if !Level::Avx512.supported() {
        return;
    }
    let mut r = Rng::new(5);
    let n = 1003;
    let x: Vec<f32> = (0..n).map(|_| (r.next_f32() - 0.5) * 30.0).collect();
    let pr: Vec<f32> = (0..n).map(|_| r.next_f32()).collect();
    let y: Vec<f32> = (0..n).map(|_| if r.next_f32() < 0.5 { (r.next_f32() < 0.3) as u8 as f32 } else { r.next_f32() }).collect();
    let w: Vec<f32> = (0..n).map(|_| r.next_f32() * 3.0).collect();
    let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(u, v)| u.to_bits() == v.to_bits() || (u.is_nan() && v.is_nan()));
    for (p, distance) in all_params() {
        let xs = if p.from_logits { &x } else { &pr };
        let aux = if distance { Aux::Distance(&w) } else { Aux::Weight(&w) };
        let run = |level| {
            let mut g = vec![f32::NAN; n];
            let (s, bad) = simd::elementwise(level, xs, &y, aux, &p, 0.7, Some(&mut g));
            (s.to_bits(), bad, g)
        };
        let (a, b) = (run(Level::Avx2), run(Level::Avx512));
        assert!(a.0 == b.0 && a.1 == b.1 && same(&a.2, &b.2), "{p:?}: the levels differ");
    }
    // 5 classes; 21 (W2's count) with logits that are NaN, infinite or far apart here and there
    // (1300 pixels: a full sub-block of the 16-lane passes, then a partial one)
    let len = 1300usize;
    let special = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e30, -1e30, 95.0, -95.0];
    for (cc, specials) in [(5usize, false), (21, true)] {
        let z: Vec<f32> = (0..cc * len)
            .map(|i| if specials && i % 41 == 7 { special[(i / 41) % special.len()] } else { (r.next_f32() - 0.5) * 16.0 })
            .collect();
        let labels: Vec<i32> =
            (0..len).map(|_| if r.next_f32() < 0.1 { -1 } else { (r.next_f32() * cc as f32) as i32 % cc as i32 }).collect();
        let probs: Vec<f32> = (0..cc * len).map(|_| r.next_f32() / cc as f32).collect();
        let pw: Vec<f32> = (0..len).map(|_| r.next_f32() * 2.0).collect();
        let cw: Vec<f32> = (0..cc).map(|_| r.next_f32() * 2.0).collect();
        for (gamma, smoothing, soft) in
            [(None, 0.0, false), (None, 0.15, false), (None, 0.1, true), (Some(2.0), 0.0, false), (Some(0.7), 0.0, false)]
        {
            for (weighted, class_weights, with_grad) in
                [(true, &[][..], true), (false, &[][..], true), (false, &cw[..], true), (false, &[][..], false)]
            {
                let p = SoftmaxParams { classes: cc, class_weights, smoothing, focal_gamma: gamma };
                let block = soft_block(&z, &labels, &probs, soft, weighted.then_some(&pw[..]));
                let run = |level| {
                    let mut g = vec![f32::NAN; cc * len];
                    let out = StridedOut::new(SharedMut::new(&mut g), 0, len, len);
                    let s = simd::softmax(level, &block, &p, 0.9, with_grad.then_some(&out));
                    (s.to_bits(), g)
                };
                let (a, b) = (run(Level::Avx2), run(Level::Avx512));
                let what = format!(
                    "softmax C={cc} {gamma:?} s={smoothing} soft={soft} weighted={weighted} cw={} grad={with_grad}",
                    !class_weights.is_empty()
                );
                assert!(a.0 == b.0, "{what}: the losses differ");
                assert!(same(&a.1, &b.1), "{what}: the gradients differ");
            }
        }
    }
}

//! Hostile inputs that once gave silently wrong or infinite results (issue 12, defects 1 and 8):
//! - a softmax loss with class-probability targets read a `weight` of `pred`'s shape as a
//!   per-pixel map (`w[n*S + j]`), taking values from other channels from the second image on;
//!   the weight of `ce` and multiclass `focal` is one value per pixel, `[N, *S]` or
//!   `[N, 1, *S]`, and any other shape is an error naming the accepted ones;
//! - huge but valid weights overflowed f32: `ce:class_weights=[1e38,1e38,1e38]` gave `inf` (the
//!   class weights are now divided by their maximum, in f64, before the kernels) and
//!   `bce:pos_weight=1e38` gave `inf` (`pos_weight` and `wce`'s `beta` are bounded by
//!   `MAX_POS_WEIGHT` (1e12)).

use ndarray::{ArrayD, Axis, IxDyn};
use segloss_core::kernel::with_backend;
use segloss_core::rng::Rng;
use segloss_core::testing::check_gradient_fn;
use segloss_core::{Backend, Batch, Loss, LossError, Registry};
use segloss_xent::*;

fn build(spec: &str) -> Box<dyn Loss> {
    Box::new(Registry::new(LOSSES).build_str(spec).unwrap_or_else(|e| panic!("{spec}: {e}")))
}

fn logits(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let mut r = Rng::new(seed);
    ArrayD::from_shape_simple_fn(IxDyn(shape), || 2.0 * r.normal())
}

/// Class probabilities `[N, C, *S]` (a softmax of random logits over axis 1).
fn class_probs(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let z = logits(shape, seed).mapv(f32::exp);
    let sum = z.sum_axis(Axis(1)).insert_axis(Axis(1));
    &z / &sum
}

fn uniform(shape: &[usize], lo: f32, hi: f32, seed: u64) -> ArrayD<f32> {
    let mut r = Rng::new(seed);
    ArrayD::from_shape_simple_fn(IxDyn(shape), || lo + (hi - lo) * r.next_f32())
}

fn to64(a: &ArrayD<f32>) -> Vec<f64> {
    a.iter().map(|&v| v as f64).collect()
}

/// The f64 re-statement of `ce` on class probabilities with a per-pixel weight `w` ([N, S]):
/// `sum_i w_i sum_c -cw_c y~_ic log softmax(z_i)_c / (N S)` (`reduction=mean`), `y~ = y (1-s) + s/C`.
#[allow(clippy::too_many_arguments)]
fn ce_probs_ref(z: &[f64], y: &[f64], w: &[f64], cw: &[f64], s: f64, n: usize, c: usize, px: usize) -> f64 {
    let mut total = 0.0;
    for i in 0..n {
        for j in 0..px {
            let at = |k: usize| (i * c + k) * px + j;
            let m = (0..c).map(|k| z[at(k)]).fold(f64::NEG_INFINITY, f64::max);
            let lse = m + (0..c).map(|k| (z[at(k)] - m).exp()).sum::<f64>().ln();
            let l: f64 = (0..c).map(|k| cw[k] * (y[at(k)] * (1.0 - s) + s / c as f64) * (lse - z[at(k)])).sum();
            total += w[i * px + j] * l;
        }
    }
    total / (n * px) as f64
}

/// Defect 1, before the fix: `ce` with a `[N, C, *S]` weight whose channels all equal a per-pixel
/// map `w` gave 3.8849 where `w` itself gives 3.4952 (the second image read channels 1 and 2 of the
/// first).
/// Now it is an error naming the weight's shape, pred's, and the accepted per-pixel shapes.
#[test]
fn softmax_losses_reject_a_weight_of_preds_shape_with_class_probabilities() {
    let (n, c, h, w) = (2, 3, 5, 7);
    let x = logits(&[n, c, h, w], 1);
    let y = class_probs(&[n, c, h, w], 2);
    let wp = uniform(&[n, h, w], 0.2, 3.0, 3);
    let dense = wp.clone().insert_axis(Axis(1)).broadcast(IxDyn(&[n, c, h, w])).unwrap().to_owned();
    for spec in ["ce", "ce:class_weights=[1,2,0.5],label_smoothing=0.1", "ce:reduction=sum", "ce:reduction=none"] {
        let loss = build(spec);
        let per_pixel = loss.forward(&Batch::new(&x, &y).with_weight(&wp)).unwrap();
        let e = match loss.forward(&Batch::new(&x, &y).with_weight(&dense)) {
            Ok(v) => panic!("{spec}: a [N, C, *S] weight was accepted: {v} (the per-pixel weight gives {per_pixel})"),
            Err(e) => e,
        };
        assert!(matches!(e, LossError::ShapeMismatch { .. }), "{spec}: {e}");
        let msg = e.to_string();
        for part in ["weight", "[2, 3, 5, 7]", "[2, 5, 7]", "[2, 1, 5, 7]", "one value per pixel"] {
            assert!(msg.contains(part), "{spec}: the message lacks {part}: {msg}");
        }
    }
    // forward_map too
    let ce = CeConfig::default().build().unwrap();
    assert!(ce.forward_map(&Batch::new(&x, &y).with_weight(&dense)).is_err());
    // and with labels, as before: the weight of pred's shape was already an error
    let labels = ArrayD::from_shape_fn(IxDyn(&[n, h, w]), |ix| ((ix[1] + ix[2]) % c) as i64);
    for spec in ["ce", "focal:gamma=2"] {
        let e = build(spec).forward(&Batch::new(&x, &labels).with_weight(&dense)).unwrap_err();
        assert!(e.to_string().contains("one value per pixel"), "{spec}: {e}");
    }
    // multiclass focal takes no class-probability targets, whatever the weight
    let focal = build("focal:mode=multiclass");
    for wt in [&wp, &dense] {
        assert!(focal.forward(&Batch::new(&x, &y).with_weight(wt)).is_err());
    }
    assert!(focal.forward(&Batch::new(&x, &y)).is_err());
}

/// The accepted per-pixel weights, `[N, *S]` and `[N, 1, *S]`, with class probabilities: the
/// value, the map and the gradient against the f64 re-statement, on both backends.
#[test]
fn class_probabilities_with_a_per_pixel_weight_match_the_f64_restatement() {
    let (n, c, h, w) = (3, 4, 5, 7);
    let px = h * w;
    let x = logits(&[n, c, h, w], 4);
    let y = class_probs(&[n, c, h, w], 5);
    let wp = uniform(&[n, h, w], 0.2, 3.0, 6);
    let wp1 = wp.clone().insert_axis(Axis(1));
    let (x64, y64, w64) = (to64(&x), to64(&y), to64(&wp));
    for (cw, s) in [(None, 0.0), (None, 0.2), (Some(vec![0.5, 1.0, 2.0, 1.5]), 0.1), (Some(vec![0.3, 1.7, 1.0, 0.0]), 0.0)] {
        let mut cfg = CeConfig { class_weights: cw.clone(), label_smoothing: s as f32, ..Default::default() };
        let spec = cfg.to_spec();
        let loss = cfg.build().unwrap();
        let cw64: Vec<f64> = cw.unwrap_or(vec![1.0; c]).iter().map(|&v| v as f64).collect();
        let f = |z: &[f64]| ce_probs_ref(z, &y64, &w64, &cw64, s, n, c, px);
        let v_ref = f(&x64);
        for backend in [Backend::Simd, Backend::Scalar] {
            for weight in [&wp, &wp1] {
                let b = Batch::new(&x, &y).with_weight(weight);
                let (v, g) = with_backend(backend, || loss.forward_backward(&b)).unwrap();
                assert!((v as f64 - v_ref).abs() <= 2e-6 * v_ref.abs(), "{spec} {backend:?} weight {:?}: {v} vs {v_ref}", weight.shape());
                let g64: Vec<f64> = g.iter().map(|&v| v as f64).collect();
                check_gradient_fn(&f, &x64, &g64, 1e-5, 2e-4, 1e-12).unwrap_or_else(|e| panic!("{spec} {backend:?}: {e}"));
            }
        }
        // the map (reduction=none): w_i times the pixel's loss, [N, *S]
        cfg.common.reduction = segloss_core::Reduction::None;
        let map = cfg.build().unwrap().forward_map(&Batch::new(&x, &y).with_weight(&wp1)).unwrap();
        assert_eq!(map.shape(), &[n, h, w]);
        let sum: f64 = map.iter().map(|&v| v as f64).sum();
        let want = v_ref * (n * px) as f64;
        assert!((sum - want).abs() <= 2e-6 * want.abs(), "{spec}: map sum {sum} vs {want}");
    }
}

/// Defect 8, before the fix: `ce:class_weights=[1e38,1e38,1e38]` gave `inf` (plain `ce`: 1.6365)
/// and a gradient a few ulp off; equal weights must give plain `ce`, bit for bit, and any common
/// factor drops out of the mean over labels.
#[test]
fn huge_equal_class_weights_give_plain_ce() {
    let (n, c, h, w) = (2, 3, 4, 5);
    let x = logits(&[n, c, h, w], 7);
    let labels = ArrayD::from_shape_fn(IxDyn(&[n, h, w]), |ix| ((ix[0] + 2 * ix[1] + ix[2]) % c) as i64);
    let wp = uniform(&[n, h, w], 0.2, 3.0, 8);
    for (huge, plain) in [
        ("ce:class_weights=[1e38,1e38,1e38]", "ce"),
        ("ce:class_weights=[3e38,3e38,3e38],label_smoothing=0.1", "ce:label_smoothing=0.1"),
        ("ce:class_weights=[1e38,1e38,1e38],label_smoothing=1", "ce:label_smoothing=1"),
    ] {
        for weight in [None, Some(&wp)] {
            let b = match weight {
                Some(wt) => Batch::new(&x, &labels).with_weight(wt),
                None => Batch::new(&x, &labels),
            };
            for backend in [Backend::Simd, Backend::Scalar] {
                let (v, g) = with_backend(backend, || build(huge).forward_backward(&b)).unwrap();
                let (v0, g0) = with_backend(backend, || build(plain).forward_backward(&b)).unwrap();
                assert_eq!(v.to_bits(), v0.to_bits(), "{huge} {backend:?}: {v} vs {plain} {v0}");
                assert!(g.iter().zip(g0.iter()).all(|(a, b)| a.to_bits() == b.to_bits()), "{huge} {backend:?}: gradients differ");
            }
        }
    }
    // unequal huge weights: the mean over labels equals that of the same ratios
    let b = Batch::new(&x, &labels);
    let (v, g) = build("ce:class_weights=[1e38,2e38,5e37],label_smoothing=0.1").forward_backward(&b).unwrap();
    let (v0, g0) = build("ce:class_weights=[1,2,0.5],label_smoothing=0.1").forward_backward(&b).unwrap();
    assert!((v - v0).abs() <= 1e-6 * v0.abs(), "{v} vs {v0}");
    let gmax = g0.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(g.iter().zip(g0.iter()).all(|(a, b)| (a - b).abs() <= 1e-6 * gmax), "gradients differ");
}

/// Where the weights do not cancel (class probabilities, multiclass focal, `reduction=sum`), a
/// common factor k of the class weights multiplies the value and the gradient (computed in f64,
/// so k = 1e38 stays finite where the result is). Before the fix,
/// `focal:class_weights=[1e38,1e38,1e38]` gave `inf` where the loss is 1.26e38.
#[test]
fn huge_class_weights_scale_the_losses_they_do_not_cancel_in() {
    let (n, c, h, w) = (2, 3, 4, 5);
    let x = logits(&[n, c, h, w], 9);
    let labels = ArrayD::from_shape_fn(IxDyn(&[n, h, w]), |ix| ((ix[0] + ix[1] + 2 * ix[2]) % c) as i64);
    let y = class_probs(&[n, c, h, w], 10);
    let wp = uniform(&[n, h, w], 0.2, 3.0, 11);
    let soft = Batch::new(&x, &y);
    let soft_w = Batch::new(&x, &y).with_weight(&wp);
    let hard = Batch::new(&x, &labels);
    let hard_w = Batch::new(&x, &labels).with_weight(&wp);
    // (the results stay below f32::MAX: k = 1e38 without the weight map, which reaches 3)
    for (huge, plain, k, b) in [
        ("ce:class_weights=[1e38,2e38,5e37],mode=multiclass", "ce:class_weights=[1,2,0.5],mode=multiclass", 1e38, &soft),
        ("ce:class_weights=[1e37,2e37,5e36],mode=multiclass", "ce:class_weights=[1,2,0.5],mode=multiclass", 1e37, &soft_w),
        ("ce:class_weights=[1e38,1e38,1e38],label_smoothing=0.1", "ce:label_smoothing=0.1", 1e38, &soft),
        ("focal:class_weights=[1e38,1e38,1e38],gamma=2", "focal:gamma=2", 1e38, &hard),
        ("focal:class_weights=[1e38,2e38,5e37],gamma=0.5", "focal:class_weights=[1,2,0.5],gamma=0.5", 1e38, &hard),
        ("focal:class_weights=[1e37,2e37,5e36],gamma=2", "focal:class_weights=[1,2,0.5],gamma=2", 1e37, &hard_w),
        ("ce:class_weights=[1e36,1e36,1e36],reduction=sum", "ce:reduction=sum", 1e36, &hard_w),
        ("focal:class_weights=[1e36,1e36,1e36],reduction=none", "focal:reduction=none", 1e36, &hard_w),
    ] {
        for backend in [Backend::Simd, Backend::Scalar] {
            let (v, g) = with_backend(backend, || build(huge).forward_backward(b)).unwrap();
            let (v0, g0) = with_backend(backend, || build(plain).forward_backward(b)).unwrap();
            assert!(v.is_finite() && g.iter().all(|g| g.is_finite()), "{huge} {backend:?}: {v}");
            let rel = (v as f64 / (k * v0 as f64) - 1.0).abs();
            assert!(rel <= 1e-6, "{huge} {backend:?}: {v} vs {k} x {v0}");
            let gmax = g0.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64));
            for (a, b) in g.iter().zip(g0.iter()) {
                assert!((*a as f64 / k - *b as f64).abs() <= 1e-6 * gmax, "{huge} {backend:?}: gradient {a} vs {k} x {b}");
            }
        }
    }
    // the maps too (one pixel's loss times its weight reaches 30: k = 1e36)
    let huge = FocalConfig { class_weights: Some(vec![1e36; 3]), ..Default::default() }.build().unwrap();
    let plain = FocalConfig::default().build().unwrap();
    let (m, m0) = (huge.forward_map(&hard_w).unwrap(), plain.forward_map(&hard_w).unwrap());
    assert!(m.iter().zip(m0.iter()).all(|(a, b)| (*a as f64 / 1e36 - *b as f64).abs() <= 1e-6 * b.abs() as f64), "{m} vs 1e36 x {m0}");
}

/// Defect 8, before the fix: `bce:pos_weight=1e38` gave `inf` on ordinary logits (the terms
/// `q y softplus(-x)` and their f32 lane sums overflow). `pos_weight` and `wce`'s `beta` are now
/// bounded by `MAX_POS_WEIGHT` (1e12): beyond it the spec is an error naming key, value and bound;
/// at the bound the loss is finite and right.
#[test]
fn positive_weights_beyond_the_bound_are_errors() {
    for (spec, key) in [
        ("bce:pos_weight=1e38", "pos_weight"),
        ("bce:pos_weight=1.0000001e12", "pos_weight"),
        ("wce:beta=1e38", "beta"),
        ("wce:beta=2e12,from_logits=false", "beta"),
    ] {
        match Registry::new(LOSSES).build_str(spec) {
            Ok(l) => {
                let x = logits(&[2, 1, 5, 7], 12);
                let y = uniform(&[2, 1, 5, 7], 0.0, 1.0, 13).mapv(|v| (v < 0.5) as u8 as f32);
                panic!("{spec} builds and gives {:?}", l.forward(&Batch::new(&x, &y)));
            }
            Err(LossError::InvalidConfig { key: k, value, reason }) => {
                assert_eq!(k, key, "{spec}");
                assert_eq!(value, spec.split('=').nth(1).unwrap().split(',').next().unwrap(), "{spec}");
                assert!(reason.contains("1e12"), "{spec}: the reason names the bound: {reason}");
            }
            Err(e) => panic!("{spec}: unexpected {e}"),
        }
    }
    // the typed configs are checked the same way
    assert!(BceConfig { pos_weight: 1e38, ..Default::default() }.build().is_err());
    assert!(WceConfig::new(1e38).build().is_err());
    // at the bound: finite, and q times the positive term plus the negative term
    let x = logits(&[2, 1, 5, 7], 14);
    let y = uniform(&[2, 1, 5, 7], 0.0, 1.0, 15);
    let b = Batch::new(&x, &y);
    for spec in ["bce:pos_weight=1e12", "wce:beta=1e12"] {
        let (v, g) = build(spec).forward_backward(&b).unwrap();
        let want: f64 = x
            .iter()
            .zip(y.iter())
            .map(|(&x, &y)| {
                let (x, y) = (x as f64, y as f64);
                let sp = |t: f64| t.max(0.0) + (-t.abs()).exp().ln_1p();
                1e12 * y * sp(-x) + (1.0 - y) * sp(x)
            })
            .sum::<f64>()
            / x.len() as f64;
        assert!(((v as f64) - want).abs() <= 1e-5 * want, "{spec}: {v} vs {want}");
        assert!(g.iter().all(|g| g.is_finite()), "{spec}");
    }
}

/// Dividing the class weights by their maximum must not flush a nonzero weight to 0 (or to an
/// f32 subnormal): a nonzero weight below 1e-30 times the largest is an error.
#[test]
fn class_weights_spanning_more_than_1e30_are_errors() {
    for spec in ["ce:class_weights=[1e38,1e-8,1]", "focal:class_weights=[1,1e-31,0]"] {
        match Registry::new(LOSSES).build_str(spec) {
            Err(LossError::InvalidConfig { key, reason, .. }) => {
                assert_eq!(key, "class_weights", "{spec}");
                assert!(reason.contains("1e-30"), "{spec}: {reason}");
            }
            r => panic!("{spec}: {:?}", r.map(|_| ())),
        }
    }
    // zeros are fine, and a span of 1e29
    let x = logits(&[2, 3, 4, 5], 16);
    let labels = ArrayD::from_shape_fn(IxDyn(&[2, 4, 5]), |ix| ((ix[1] + ix[2]) % 3) as i64);
    let b = Batch::new(&x, &labels);
    let v = build("ce:class_weights=[1e29,0,1]").forward(&b).unwrap();
    let v0 = build("ce:class_weights=[1,0,1e-29]").forward(&b).unwrap();
    assert!((v - v0).abs() <= 1e-6 * v0.abs(), "{v} vs {v0}");
}

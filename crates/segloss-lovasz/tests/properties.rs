//! Property tests of the Lovász family: the Jaccard gradient, loss bounds, gradients against f64
//! central differences (away from ties), tie invariance, thread and layout independence, written
//! gradients, SIMD against scalar kernels and radix against comparison sorting.

use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use segloss_core::kernel::{with_backend, Backend};
use segloss_core::rng::Rng;
use segloss_core::simd::Level;
use segloss_core::testing::{assert_all_written, central_diff, max_abs_diff, Layouts};
use segloss_core::{Batch, Classes, Loss, Reduce};
use segloss_lovasz::driver::walk_keys;
use segloss_lovasz::jaccard::jaccard_grad;
use segloss_lovasz::kernels::{scalar, simd};
use segloss_lovasz::reference;
use segloss_lovasz::sort::{make_key, sort_keys, SortAlgo};
use segloss_lovasz::{LovaszHingeConfig, LovaszSoftmaxConfig};

/// Gradient of the f32 loss against central differences of the f64 reference value:
/// `max |analytic - numeric| <= GRAD_REL * max |numeric| + GRAD_ABS`.
const GRAD_REL: f64 = 1e-4;
const GRAD_ABS: f64 = 1e-6;
/// Finite-difference step (relative to `max(1, |x|)`), far below the input gaps kept (`MIN_GAP`).
const FD_STEP: f64 = 1e-7;
/// Smallest gap between the errors of a problem (and between an error and 0) for the
/// finite-difference tests: the order and the active set do not change within the step.
const MIN_GAP: f64 = 1e-4;
/// f32 loss value against the f64 reference: `|v - ref| <= VALUE_REL |ref| + VALUE_ABS`.
const VALUE_REL: f64 = 2e-5;
const VALUE_ABS: f64 = 1e-6;
/// SIMD softmax kernels against the scalar ones (absolute, probabilities and gradients are O(1)).
const SIMD_TOL: f64 = 2e-6;

fn reduce(per_image: bool) -> Reduce {
    if per_image {
        Reduce::Image
    } else {
        Reduce::Batch
    }
}

fn hinge(per_image: bool, ignore: Option<i64>, mode: Option<segloss_core::Mode>) -> segloss_lovasz::LovaszHinge {
    LovaszHingeConfig { reduce: reduce(per_image), ignore_index: ignore, mode }.build().unwrap()
}

fn softmax(classes: Classes, per_image: bool, ignore: Option<i64>, from_logits: bool) -> segloss_lovasz::LovaszSoftmax {
    LovaszSoftmaxConfig { classes, reduce: reduce(per_image), ignore_index: ignore, from_logits, mode: None }.build().unwrap()
}

fn arr<T: Clone>(shape: &[usize], v: Vec<T>) -> ArrayD<T> {
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
}

fn min_gap(mut e: Vec<f64>) -> f64 {
    e.sort_by(|a, b| a.partial_cmp(b).unwrap());
    e.windows(2).map(|w| w[1] - w[0]).fold(f64::INFINITY, f64::min)
}

/// `[n, c, s]` logits in [-3, 3] and 0/1 targets.
fn hinge_input() -> impl Strategy<Value = (Vec<usize>, Vec<f32>, Vec<f32>)> {
    (1usize..=3, 1usize..=3, 1usize..=24).prop_flat_map(|(n, c, s)| {
        let len = n * c * s;
        (Just(vec![n, c, s]), prop::collection::vec(-3.0f32..3.0, len), prop::collection::vec(prop::bool::weighted(0.4), len))
            .prop_map(|(sh, x, y)| (sh, x, y.into_iter().map(|b| b as u8 as f32).collect()))
    })
}

/// `[n, c, s]` logits in [-4, 4] and the kit's labels in [0, c) (or 255, ignored, one in six).
fn softmax_input() -> impl Strategy<Value = (Vec<usize>, Vec<f32>, Vec<i64>)> {
    (1usize..=3, 2usize..=4, 1usize..=20).prop_flat_map(|(n, c, s)| {
        (Just(vec![n, c, s]), prop::collection::vec(-4.0f32..4.0, n * c * s), segloss_core::testing::kit::labels(n * s, c, Some(255)))
    })
}

fn hinge_gaps_ok(sh: &[usize], x: &[f32], y: &[f32], per_image: bool) -> bool {
    let (n, c, s) = (sh[0], sh[1], sh[2]);
    let e = |i: usize| 1.0 - x[i] as f64 * (2.0 * y[i] as f64 - 1.0);
    let problems: Vec<Vec<usize>> = if per_image {
        (0..n * c).map(|p| (p * s..(p + 1) * s).collect()).collect()
    } else {
        (0..c).map(|k| (0..n).flat_map(|m| ((m * c + k) * s)..((m * c + k + 1) * s)).collect()).collect()
    };
    problems.iter().all(|p| {
        let es: Vec<f64> = p.iter().map(|&i| e(i)).collect();
        es.iter().all(|v| v.abs() >= MIN_GAP) && min_gap(es) >= MIN_GAP
    })
}

fn softmax_gaps_ok(sh: &[usize], z: &[f32], l: &[i64], per_image: bool) -> bool {
    let (n, c, s) = (sh[0], sh[1], sh[2]);
    let mut p = vec![0.0f64; z.len()];
    for m in 0..n {
        for j in 0..s {
            let mx = (0..c).map(|k| z[(m * c + k) * s + j] as f64).fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = (0..c).map(|k| (z[(m * c + k) * s + j] as f64 - mx).exp()).sum();
            for k in 0..c {
                p[(m * c + k) * s + j] = (z[(m * c + k) * s + j] as f64 - mx).exp() / sum;
            }
        }
    }
    let groups: Vec<Vec<usize>> = if per_image { (0..n).map(|m| vec![m]).collect() } else { vec![(0..n).collect()] };
    groups.iter().all(|g| {
        (0..c).all(|k| {
            let es: Vec<f64> = g
                .iter()
                .flat_map(|&m| (0..s).map(move |j| (m, j)))
                .filter(|&(m, j)| l[m * s + j] != 255)
                .map(|(m, j)| ((l[m * s + j] == k as i64) as u8 as f64 - p[(m * c + k) * s + j]).abs())
                .collect();
            min_gap(es) >= MIN_GAP
        })
    })
}

fn check_against(name: &str, v: f32, g: &[f32], f: &dyn Fn(&[f64]) -> f64, x: &[f32]) -> Result<(), TestCaseError> {
    let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let v_ref = f(&x64);
    prop_assert!((v as f64 - v_ref).abs() <= VALUE_REL * v_ref.abs() + VALUE_ABS, "{name}: value {v} vs f64 {v_ref}");
    let num = central_diff(f, &x64, FD_STEP);
    let scale = num.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (i, (a, b)) in g.iter().zip(&num).enumerate() {
        prop_assert!((*a as f64 - b).abs() <= GRAD_REL * scale + GRAD_ABS, "{name}: grad[{i}] {a} vs numeric {b} (max {scale})");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// g >= 0, sum g = 1 for a non-empty problem, equal to the f64 differences of Jaccard values,
    /// and the branch-free walk of the driver gives the same g.
    #[test]
    fn jaccard_gradient_properties(gt in prop::collection::vec(prop::bool::weighted(0.3), 1..300)) {
        let mut g = vec![0.0f32; gt.len()];
        jaccard_grad(&gt, &mut g).unwrap();
        prop_assert!(g.iter().all(|&v| v >= 0.0));
        let sum: f64 = g.iter().map(|&v| v as f64).sum();
        prop_assert!((sum - 1.0).abs() <= 1e-5, "sum g = {sum}");
        let want = reference::lovasz_grad::<f64>(&gt);
        for (a, b) in g.iter().zip(&want) {
            prop_assert!((*a as f64 - b).abs() <= 1e-7 * want.iter().fold(0.0f64, |m, v| m.max(*v)));
        }
        // walk_keys on keys in the same order (decreasing positive errors, labels in the payload)
        let keys: Vec<u64> = gt.iter().enumerate().map(|(i, &b)| make_key(1.0 + (gt.len() - i) as f32, ((i << 1) | b as usize) as u32)).collect();
        let g_total = gt.iter().filter(|&&b| b).count() as u64;
        let mut walked = vec![f32::NAN; gt.len()];
        walk_keys(&keys, g_total, 1.0, |l, v| walked[l] = v);
        for (i, (&w, &b)) in walked.iter().zip(&gt).enumerate() {
            let gi = if b { -w } else { w };
            prop_assert_eq!(gi, g[i], "walk vs jaccard_grad at {}", i);
        }
    }

    /// loss >= 0 (hinge and softmax), every gradient element written, radix == comparison sort.
    #[test]
    fn losses_are_nonnegative_and_sort_independent((sh, x, y) in hinge_input(), per_image in any::<bool>()) {
        let pred = arr(&sh, x);
        let tgt = arr(&sh, y);
        let b = Batch::new(&pred, &tgt);
        let l = hinge(per_image, None, Some(if sh[1] == 1 { segloss_core::Mode::Binary } else { segloss_core::Mode::Multilabel }));
        let mut g = ArrayD::from_elem(IxDyn(&sh), f32::NAN);
        let v = l.forward_backward_into(&b, g.view_mut(), 1.0).unwrap();
        prop_assert!(v >= 0.0);
        assert_all_written(g.as_slice().unwrap());
        let (v2, g2) = l.clone().with_sort(SortAlgo::Unstable).forward_backward(&b).unwrap();
        prop_assert_eq!(v.to_bits(), v2.to_bits());
        prop_assert_eq!(g.as_slice().unwrap().iter().map(|v| v.to_bits()).collect::<Vec<_>>(), g2.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    }

    #[test]
    fn softmax_nonnegative_written_and_sort_independent((sh, z, l) in softmax_input(), per_image in any::<bool>(), all in any::<bool>(), from_logits in any::<bool>()) {
        let (n, c, s) = (sh[0], sh[1], sh[2]);
        let z: Vec<f32> = if from_logits { z } else { z.iter().map(|v| (v + 4.0) / 8.0).collect() };
        let pred = arr(&sh, z);
        let lab = arr(&[n, s], l);
        let b = Batch::new(&pred, &lab);
        let loss = softmax(if all { Classes::All } else { Classes::Present }, per_image, Some(255), from_logits);
        let mut g = ArrayD::from_elem(IxDyn(&[n, c, s]), f32::NAN);
        let v = loss.forward_backward_into(&b, g.view_mut(), 1.0).unwrap();
        prop_assert!(v >= 0.0);
        assert_all_written(g.as_slice().unwrap());
        let (v2, g2) = loss.clone().with_sort(SortAlgo::Unstable).forward_backward(&b).unwrap();
        prop_assert_eq!(v.to_bits(), v2.to_bits());
        prop_assert_eq!(max_abs_diff(g.as_slice().unwrap(), g2.as_slice().unwrap()), 0.0);
        prop_assert_eq!(loss.forward(&b).unwrap().to_bits(), v.to_bits());
    }

    /// Hinge gradient equals f64 central differences of the reference value, away from ties.
    #[test]
    fn hinge_gradient_matches_central_differences((sh, x, y) in hinge_input(), per_image in any::<bool>()) {
        prop_assume!(hinge_gaps_ok(&sh, &x, &y, per_image));
        let (n, c, s) = (sh[0], sh[1], sh[2]);
        let pred = arr(&sh, x.clone());
        let tgt = arr(&sh, y.clone());
        let mode = if c == 1 { segloss_core::Mode::Binary } else { segloss_core::Mode::Multilabel };
        let (v, g) = hinge(per_image, None, Some(mode)).forward_backward(&Batch::new(&pred, &tgt)).unwrap();
        let y64: Vec<f64> = y.iter().map(|&v| v as f64).collect();
        let f = |xs: &[f64]| reference::lovasz_hinge(xs, &y64, n, c, s, per_image, None).0;
        check_against("hinge", v, g.as_slice().unwrap(), &f, &x)?;
    }

    /// Softmax gradient (through the softmax Jacobian) equals f64 central differences.
    #[test]
    fn softmax_gradient_matches_central_differences((sh, z, l) in softmax_input(), per_image in any::<bool>(), all in any::<bool>()) {
        prop_assume!(softmax_gaps_ok(&sh, &z, &l, per_image));
        let (n, c, s) = (sh[0], sh[1], sh[2]);
        let pred = arr(&sh, z.clone());
        let lab = arr(&[n, s], l.clone());
        let classes = if all { Classes::All } else { Classes::Present };
        let (v, g) = softmax(classes, per_image, Some(255), true).forward_backward(&Batch::new(&pred, &lab)).unwrap();
        let f = |zs: &[f64]| reference::lovasz_softmax(zs, &l, n, c, s, all, per_image, Some(255), true).0;
        check_against("softmax", v, g.as_slice().unwrap(), &f, &z)?;
    }

    /// Probabilities in, gradient with respect to the probabilities.
    #[test]
    fn softmax_probability_gradient_matches_central_differences((sh, z, l) in softmax_input(), per_image in any::<bool>()) {
        let (n, c, s) = (sh[0], sh[1], sh[2]);
        let p: Vec<f32> = z.iter().map(|v| (v + 4.0) / 8.0).collect();
        // errors |fg - p| with these p: gaps are checked on the p themselves (softmax of log p = p / sum p is not p)
        let gaps_ok = (0..c).all(|k| {
            let groups: Vec<Vec<usize>> = if per_image { (0..n).map(|m| vec![m]).collect() } else { vec![(0..n).collect()] };
            groups.iter().all(|g| {
                let es: Vec<f64> = g.iter().flat_map(|&m| (0..s).map(move |j| (m, j))).filter(|&(m, j)| l[m * s + j] != 255)
                    .map(|(m, j)| ((l[m * s + j] == k as i64) as u8 as f64 - p[(m * c + k) * s + j] as f64).abs()).collect();
                es.iter().all(|v| *v >= MIN_GAP) && min_gap(es) >= MIN_GAP
            })
        });
        prop_assume!(gaps_ok);
        let pred = arr(&sh, p.clone());
        let lab = arr(&[n, s], l.clone());
        let (v, g) = softmax(Classes::Present, per_image, Some(255), false).forward_backward(&Batch::new(&pred, &lab)).unwrap();
        let f = |ps: &[f64]| reference::lovasz_softmax(ps, &l, n, c, s, false, per_image, Some(255), false).0;
        check_against("softmax probabilities", v, g.as_slice().unwrap(), &f, &p)?;
    }

    /// With ties, the loss does not depend on the order of the pixels.
    #[test]
    fn ties_give_the_same_loss_in_any_order(
        x in prop::collection::vec(prop::sample::select(vec![-1.0f32, 0.0, 0.5, 1.0, 2.0]), 40),
        y in prop::collection::vec(prop::bool::ANY, 40),
        z in prop::collection::vec(prop::sample::select(vec![-1.0f32, 0.0, 1.0]), 3 * 40),
        lab in prop::collection::vec(0i64..3, 40),
        perm in Just((0..40).collect::<Vec<usize>>()).prop_shuffle(),
    ) {
        let y: Vec<f32> = y.into_iter().map(|b| b as u8 as f32).collect();
        let h = hinge(true, None, None);
        let v1 = h.forward(&Batch::new(&arr(&[1, 1, 40], x.clone()), &arr(&[1, 1, 40], y.clone()))).unwrap();
        let xp: Vec<f32> = perm.iter().map(|&i| x[i]).collect();
        let yp: Vec<f32> = perm.iter().map(|&i| y[i]).collect();
        let v2 = h.forward(&Batch::new(&arr(&[1, 1, 40], xp), &arr(&[1, 1, 40], yp))).unwrap();
        prop_assert!((v1 - v2).abs() <= 1e-6 * v1.abs().max(1.0), "hinge {v1} vs permuted {v2}");

        let sm = softmax(Classes::All, false, None, true);
        let v1 = sm.forward(&Batch::new(&arr(&[1, 3, 40], z.clone()), &arr(&[1, 40], lab.clone()))).unwrap();
        let zp: Vec<f32> = (0..3).flat_map(|k| perm.iter().map(move |&i| (k, i))).map(|(k, i)| z[k * 40 + i]).collect();
        let lp: Vec<i64> = perm.iter().map(|&i| lab[i]).collect();
        let v2 = sm.forward(&Batch::new(&arr(&[1, 3, 40], zp), &arr(&[1, 40], lp))).unwrap();
        prop_assert!((v1 - v2).abs() <= 1e-6 * v1.abs().max(1.0), "softmax {v1} vs permuted {v2}");
    }

    /// SIMD softmax kernels, at every level this CPU runs, against the scalar reference kernels;
    /// lengths up to three full chunks and a partial one (the kernels' two paths).
    #[test]
    fn simd_softmax_kernels_match_scalar(c in 2usize..6, len in 0usize..3 * simd::CHUNK + 40, seed in any::<u64>()) {
        let mut r = Rng::new(seed);
        let mut next = move || r.uniform(-30.0, 30.0);
        let z: Vec<Vec<f32>> = (0..c).map(|_| (0..len).map(|_| next()).collect()).collect();
        let dp: Vec<Vec<f32>> = (0..c).map(|_| (0..len).map(|_| next() / 30.0).collect()).collect();
        let zs: Vec<&[f32]> = z.iter().map(|v| v.as_slice()).collect();
        let mut a = vec![vec![0.0f32; len]; c];
        let mut b = vec![vec![0.0f32; len]; c];
        scalar::softmax(&zs, &mut a.iter_mut().map(|v| v.as_mut_slice()).collect::<Vec<_>>());
        for level in Level::supported_levels() {
            simd::softmax(level, &zs, &mut b.iter_mut().map(|v| v.as_mut_slice()).collect::<Vec<_>>());
            for (u, v) in a.iter().zip(&b) { prop_assert!(max_abs_diff(u, v) <= SIMD_TOL, "{level:?}"); }
        }
        let mut a = dp.clone();
        scalar::softmax_backward(&zs, &mut a.iter_mut().map(|v| v.as_mut_slice()).collect::<Vec<_>>());
        for level in Level::supported_levels() {
            let mut b = dp.clone();
            simd::softmax_backward(level, &zs, &mut b.iter_mut().map(|v| v.as_mut_slice()).collect::<Vec<_>>());
            for (u, v) in a.iter().zip(&b) { prop_assert!(max_abs_diff(u, v) <= SIMD_TOL, "{level:?}"); }
        }
    }
}

fn hinge_batch() -> (ArrayD<f32>, ArrayD<f32>) {
    let mut r = Rng::new(7);
    let x = ArrayD::from_shape_simple_fn(IxDyn(&[3, 2, 37, 41]), || r.uniform(-3.0, 3.0));
    let y =
        ArrayD::from_shape_simple_fn(IxDyn(&[3, 2, 37, 41]), || if r.next_f32() < 0.1 { 255.0 } else { (r.next_f32() < 0.3) as u8 as f32 });
    (x, y)
}

fn softmax_batch() -> (ArrayD<f32>, ArrayD<i64>) {
    let mut r = Rng::new(8);
    let z = ArrayD::from_shape_simple_fn(IxDyn(&[3, 5, 37, 41]), || r.uniform(-4.0, 4.0));
    let l = ArrayD::from_shape_simple_fn(IxDyn(&[3, 37, 41]), || if r.next_f32() < 0.1 { 255 } else { r.below(4) as i64 });
    (z, l)
}

fn bits(a: &ArrayD<f32>) -> Vec<u32> {
    a.iter().map(|v| v.to_bits()).collect()
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
}

#[test]
fn one_and_two_threads_agree_bit_for_bit() {
    let (x, y) = hinge_batch();
    for per_image in [true, false] {
        let l = hinge(per_image, Some(255), Some(segloss_core::Mode::Multilabel));
        let (v1, g1) = in_pool(1, || l.forward_backward(&Batch::new(&x, &y)).unwrap());
        let (v2, g2) = in_pool(2, || l.forward_backward(&Batch::new(&x, &y)).unwrap());
        assert_eq!(v1.to_bits(), v2.to_bits());
        assert_eq!(bits(&g1), bits(&g2));
    }
    let (z, lab) = softmax_batch();
    for (per_image, classes, from_logits) in [(false, Classes::Present, true), (true, Classes::All, true), (true, Classes::Present, false)]
    {
        let l = softmax(classes, per_image, Some(255), from_logits);
        let (v1, g1) = in_pool(1, || l.forward_backward(&Batch::new(&z, &lab)).unwrap());
        let (v2, g2) = in_pool(2, || l.forward_backward(&Batch::new(&z, &lab)).unwrap());
        assert_eq!(v1.to_bits(), v2.to_bits());
        assert_eq!(bits(&g1), bits(&g2));
    }
}

#[test]
fn non_contiguous_views_match_contiguous() {
    let (x, y) = hinge_batch();
    let l = hinge(true, Some(255), Some(segloss_core::Mode::Multilabel));
    let (v, g) = l.forward_backward(&Batch::new(&x, &y)).unwrap();
    let (lx, ly) = (Layouts::of(&x), Layouts::of(&y));
    for (xv, yv) in [(lx.fortran.view(), ly.fortran.view()), (lx.strided(), ly.strided()), (lx.fortran.view(), ly.strided())] {
        let b = Batch::new(xv, yv);
        let (v2, g2) = l.forward_backward(&b).unwrap();
        assert_eq!(v.to_bits(), v2.to_bits());
        assert_eq!(bits(&g), bits(&g2));
        // a Fortran-order gradient buffer pre-filled with NaN
        let mut gf = Layouts::of(&ArrayD::from_elem(IxDyn(x.shape()), f32::NAN)).fortran;
        let v3 = l.forward_backward_into(&b, gf.view_mut(), 1.0).unwrap();
        assert_eq!(v.to_bits(), v3.to_bits());
        assert_eq!(gf, g);
    }
    let (z, lab) = softmax_batch();
    let l = softmax(Classes::Present, true, Some(255), true);
    let (v, g) = l.forward_backward(&Batch::new(&z, &lab)).unwrap();
    let (lz, ll) = (Layouts::of(&z), Layouts::of(&lab));
    for (zv, lv) in [(lz.fortran.view(), ll.fortran.view()), (lz.strided(), ll.strided())] {
        let b = Batch::new(zv, lv);
        let (v2, g2) = l.forward_backward(&b).unwrap();
        assert_eq!(v.to_bits(), v2.to_bits());
        assert_eq!(bits(&g), bits(&g2));
        let mut gf = Layouts::of(&ArrayD::from_elem(IxDyn(z.shape()), f32::NAN)).fortran;
        l.forward_backward_into(&b, gf.view_mut(), 1.0).unwrap();
        assert_eq!(gf, g);
    }
}

#[test]
fn nan_prefilled_gradients_are_fully_written() {
    // all-ignored image 0, an absent class, an image with no positive pixel
    let (x, mut y) = hinge_batch();
    y.index_axis_mut(ndarray::Axis(0), 0).fill(255.0);
    y.index_axis_mut(ndarray::Axis(0), 1).mapv_inplace(|v| if v == 1.0 { 0.0 } else { v });
    for per_image in [true, false] {
        let mut g = ArrayD::from_elem(IxDyn(x.shape()), f32::NAN);
        hinge(per_image, Some(255), Some(segloss_core::Mode::Multilabel))
            .forward_backward_into(&Batch::new(&x, &y), g.view_mut(), 1.0)
            .unwrap();
        assert_all_written(g.as_slice().unwrap());
    }
    let (z, mut lab) = softmax_batch();
    lab.index_axis_mut(ndarray::Axis(0), 0).fill(255);
    lab.mapv_inplace(|v| if v == 2 { 0 } else { v });
    for per_image in [true, false] {
        for classes in [Classes::Present, Classes::All] {
            for from_logits in [true, false] {
                let mut g = ArrayD::from_elem(IxDyn(z.shape()), f32::NAN);
                let l = softmax(classes, per_image, Some(255), from_logits);
                l.forward_backward_into(&Batch::new(&z, &lab), g.view_mut(), 1.0).unwrap();
                assert_all_written(g.as_slice().unwrap());
            }
        }
    }
    // everything ignored: 0 with a zero gradient
    lab.fill(255);
    let mut g = ArrayD::from_elem(IxDyn(z.shape()), f32::NAN);
    let v = softmax(Classes::All, false, Some(255), true).forward_backward_into(&Batch::new(&z, &lab), g.view_mut(), 1.0).unwrap();
    assert_eq!(v, 0.0);
    assert!(g.iter().all(|&v| v == 0.0));
}

#[test]
fn scalar_and_simd_backends_agree() {
    let (z, lab) = softmax_batch();
    for per_image in [true, false] {
        let l = softmax(Classes::Present, per_image, Some(255), true);
        let (v1, g1) = with_backend(Backend::Scalar, || l.forward_backward(&Batch::new(&z, &lab))).unwrap();
        let (v2, g2) = with_backend(Backend::Simd, || l.forward_backward(&Batch::new(&z, &lab))).unwrap();
        assert!((v1 - v2).abs() <= 1e-6, "{v1} vs {v2}");
        let scale = g1.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
        assert!(max_abs_diff(g1.as_slice().unwrap(), g2.as_slice().unwrap()) <= 1e-3 * scale);
    }
}

#[test]
fn upstream_scales_the_gradient() {
    let (z, lab) = softmax_batch();
    let l = softmax(Classes::Present, false, Some(255), true);
    let b = Batch::new(&z, &lab);
    let (v, g) = l.forward_backward(&b).unwrap();
    let mut g2 = ArrayD::zeros(IxDyn(z.shape()));
    let v2 = l.forward_backward_into(&b, g2.view_mut(), 0.5).unwrap();
    assert_eq!(v, v2);
    assert!(g.iter().zip(&g2).all(|(a, b)| (a * 0.5 - b).abs() <= 1e-6 * a.abs().max(1e-30)));
}

#[test]
fn sort_algorithms_agree_on_keys() {
    let mut r = Rng::new(3);
    let e: Vec<f32> = (0..5000).map(|_| (r.next_f32() * 8.0).round() / 4.0).collect(); // many ties
    let mk = || e.iter().enumerate().map(|(i, &v)| make_key(v, i as u32)).collect::<Vec<u64>>();
    let (mut a, mut b) = (mk(), mk());
    sort_keys(&mut a, &mut Vec::new(), SortAlgo::Radix);
    sort_keys(&mut b, &mut Vec::new(), SortAlgo::Unstable);
    assert_eq!(a, b);
}

#[test]
fn label_types_agree_bit_for_bit() {
    let (z, lab) = softmax_batch();
    let l8 = lab.mapv(|v| v as u8);
    let l32 = lab.mapv(|v| v as i32);
    for per_image in [true, false] {
        let l = softmax(Classes::Present, per_image, Some(255), true);
        let (v, g) = l.forward_backward(&Batch::new(&z, &lab)).unwrap();
        let (v8, g8) = l.forward_backward(&Batch::new(&z, &l8)).unwrap();
        let (v32, g32) = l.forward_backward(&Batch::new(&z, &l32)).unwrap();
        assert_eq!(v.to_bits(), v8.to_bits());
        assert_eq!(v.to_bits(), v32.to_bits());
        assert_eq!(bits(&g), bits(&g8));
        assert_eq!(bits(&g), bits(&g32));
    }
    // hinge: float, u8 and i64 targets (with an ignore value) agree
    let (x, y) = hinge_batch();
    let y8 = y.mapv(|v| v as u8);
    let y64 = y.mapv(|v| v as i64);
    let l = hinge(true, Some(255), Some(segloss_core::Mode::Multilabel));
    let (v, g) = l.forward_backward(&Batch::new(&x, &y)).unwrap();
    let (v8, g8) = l.forward_backward(&Batch::new(&x, &y8)).unwrap();
    let (v64, g64) = l.forward_backward(&Batch::new(&x, &y64)).unwrap();
    assert_eq!((v.to_bits(), bits(&g)), (v8.to_bits(), bits(&g8)));
    assert_eq!((v.to_bits(), bits(&g)), (v64.to_bits(), bits(&g64)));
}

//! U-Net weight maps against the per-object brute force (eq. 2 written out: d_k by exhaustive
//! search over the pixels of object k), edge cases, class weights, layouts and thread counts.

mod common;

use common::*;
use ndarray::{arr2, ArrayD, IxDyn};
use proptest::prelude::*;
use segloss_core::testing::Layouts;
use segloss_distance::{label, unet_weights_from_instances, unet_weights_from_mask, ClassWeights, UnetWeightConfig, TERM_TOLERANCE};

/// The contract: within 1e-3 absolute of the per-object construction.
const UNET_TOL: f64 = 1e-3;

fn max_err(got: &ArrayD<f32>, want: &[f64]) -> f64 {
    got.iter().zip(want).map(|(&g, &w)| (g as f64 - w).abs()).fold(0.0, f64::max)
}

/// Sharper than the contract: the dropped term (below TERM_TOLERANCE) plus the f32 rounding of
/// the output (relative 2^-24, here bounded by 1e-6 of the value).
fn max_excess(got: &ArrayD<f32>, want: &[f64]) -> f64 {
    got.iter().zip(want).map(|(&g, &w)| (g as f64 - w).abs() - TERM_TOLERANCE - 1e-6 * w.abs()).fold(f64::NEG_INFINITY, f64::max)
}

fn cfg(w0: f32, sigma: f32, fixed: Option<(f32, f32)>) -> UnetWeightConfig {
    UnetWeightConfig {
        w0,
        sigma,
        class_weights: fixed.map_or(ClassWeights::Balanced, |(a, b)| ClassWeights::Fixed(a, b)),
        connectivity: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Instance labels, 2D and 3D, random w0 and sigma (small sigmas so the boxes are cut).
    #[test]
    fn instances_equal_brute_force(
        labels in small_shape(24, 9).prop_flat_map(|s| instances_of(s, 6)),
        w0 in 0.0f32..20.0,
        sigma in 0.3f32..8.0,
        fixed in proptest::option::of((0.0f32..3.0, 0.0f32..3.0)),
    ) {
        let c = cfg(w0, sigma, fixed);
        let got = unet_weights_from_instances(labels.view(), &c).unwrap();
        let want = brute_unet(&labels, w0 as f64, sigma as f64, fixed.map(|(a, b)| (a as f64, b as f64)));
        let e = max_err(&got, &want);
        prop_assert!(e <= UNET_TOL, "max error {} on {:?} (w0 {}, sigma {})", e, labels, w0, sigma);
        prop_assert!(max_excess(&got, &want) <= 0.0, "beyond TERM_TOLERANCE on {:?} (w0 {}, sigma {})", labels, w0, sigma);
    }

    /// Binary masks: components first (both connectivities), then the same map.
    #[test]
    fn masks_equal_brute_force(mask in small_shape(20, 8).prop_flat_map(mask_of), full in any::<bool>()) {
        let conn = match (mask.ndim(), full) { (2, false) => 4, (2, true) => 8, (_, false) => 6, (_, true) => 26 };
        let c = UnetWeightConfig { connectivity: Some(conn), ..UnetWeightConfig::default() };
        let got = unet_weights_from_mask(mask.view(), &c).unwrap();
        let (lab, _) = flood_label(&mask, full);
        let lab = ArrayD::from_shape_vec(IxDyn(mask.shape()), lab.into_iter().map(|v| v as i64).collect()).unwrap();
        let want = brute_unet(&lab, 10.0, 5.0, None);
        prop_assert!(max_err(&got, &want) <= UNET_TOL);
    }
}

/// The error of dropping the term outside the grown boxes stays below the tolerance: two
/// objects far apart at the defaults, the term at the midpoint is tiny but not zero.
#[test]
fn far_objects_stay_within_tolerance() {
    let mut l = ArrayD::<i64>::zeros(IxDyn(&[5, 80]));
    l[[2, 0]] = 1;
    l[[2, 79]] = 2;
    for w0 in [10.0f32, 1000.0] {
        let got = unet_weights_from_instances(l.view(), &cfg(w0, 5.0, Some((1.0, 1.0)))).unwrap();
        let want = brute_unet(&l, w0 as f64, 5.0, Some((1.0, 1.0)));
        assert!(max_err(&got, &want) <= TERM_TOLERANCE + 1e-6, "w0 {w0}");
    }
    // Close objects on a long image: exact values well above the tolerance near them.
    let mut l = ArrayD::<i64>::zeros(IxDyn(&[3, 200]));
    l[[1, 100]] = 1;
    l[[1, 104]] = 2;
    let got = unet_weights_from_instances(l.view(), &cfg(10.0, 5.0, Some((1.0, 1.0)))).unwrap();
    // Pixel (1, 102): d1 = d2 = 2, w = 1 + 10 exp(-16 / 50).
    assert!((got[[1, 102]] as f64 - (1.0 + 10.0 * (-16.0f64 / 50.0).exp())).abs() < 1e-6);
    let want = brute_unet(&l, 10.0, 5.0, Some((1.0, 1.0)));
    assert!(max_err(&got, &want) <= TERM_TOLERANCE + 1e-6);
}

#[test]
fn all_zero_and_all_one() {
    let z = ArrayD::<u8>::zeros(IxDyn(&[6, 7]));
    let w = unet_weights_from_mask(z.view(), &UnetWeightConfig::default()).unwrap();
    assert!(w.iter().all(|&v| v == 0.5), "balanced, one class: n / (2 n) on every pixel");
    let o = ArrayD::<u8>::ones(IxDyn(&[3, 6, 7]));
    let w = unet_weights_from_mask(o.view(), &UnetWeightConfig::default()).unwrap();
    assert!(w.iter().all(|&v| v == 0.5));
    let w = unet_weights_from_mask(o.view(), &cfg(10.0, 5.0, Some((0.25, 2.0)))).unwrap();
    assert!(w.iter().all(|&v| v == 2.0));
}

#[test]
fn one_pixel_images() {
    for v in [0u8, 1] {
        let m = ArrayD::from_elem(IxDyn(&[1, 1]), v);
        let w = unet_weights_from_mask(m.view(), &UnetWeightConfig::default()).unwrap();
        assert_eq!(w.iter().copied().collect::<Vec<_>>(), vec![0.5]);
    }
}

#[test]
fn single_line() {
    // Objects at 0 and 6 on one row: pixel x has d1 + d2 = 6, so every background pixel weighs
    // w_bg + 10 exp(-36 / 50); n = 9, 2 object pixels, 7 background pixels.
    let l = arr2(&[[3i64, 0, 0, 0, 0, 0, 8, 0, 0]]).into_dyn();
    let w = unet_weights_from_instances(l.view(), &UnetWeightConfig::default()).unwrap();
    let (wb, wo) = (9.0 / 14.0, 9.0 / 4.0);
    let between = wb + 10.0 * (-36.0f64 / 50.0).exp();
    for x in 1..6 {
        assert!((w[[0, x]] as f64 - between).abs() < 1e-6);
    }
    // Right of the second object: d1 = x - 6, d2 = x, d1 + d2 = 2x - 6.
    for x in 7..9 {
        let t = (2 * x - 6) as f64;
        assert!((w[[0, x]] as f64 - (wb + 10.0 * (-t * t / 50.0).exp())).abs() < 1e-6);
    }
    assert!((w[[0, 0]] as f64 - wo).abs() < 1e-6 && (w[[0, 6]] as f64 - wo).abs() < 1e-6);
}

#[test]
fn one_object_has_no_border_term() {
    let mut l = ArrayD::<i32>::zeros(IxDyn(&[9, 9]));
    l.slice_mut(ndarray::s![3..6, 3..6]).fill(7);
    let w = unet_weights_from_instances(l.view(), &cfg(10.0, 5.0, Some((1.0, 2.0)))).unwrap();
    assert!(w.iter().zip(l.iter()).all(|(&w, &l)| w == if l != 0 { 2.0 } else { 1.0 }));
    // As a mask, one component: the same.
    let w2 = unet_weights_from_mask(l.view(), &cfg(10.0, 5.0, Some((1.0, 2.0)))).unwrap();
    assert_eq!(w, w2);
}

#[test]
fn touching_objects() {
    // Two instances sharing an edge: as labels, two objects (background next to both gets the
    // term); as a binary mask, one component (no term).
    let l = arr2(&[[0i64, 0, 0, 0, 0, 0], [0, 1, 1, 2, 2, 0], [0, 1, 1, 2, 2, 0], [0, 0, 0, 0, 0, 0]]).into_dyn();
    let c = cfg(10.0, 5.0, Some((1.0, 1.0)));
    let w = unet_weights_from_instances(l.view(), &c).unwrap();
    let want = brute_unet(&l, 10.0, 5.0, Some((1.0, 1.0)));
    assert!(max_err(&w, &want) <= 1e-6);
    // (0, 2) is at 1 from object 1 and sqrt(2) from object 2.
    let t = 1.0 + 2f64.sqrt();
    assert!((w[[0, 2]] as f64 - (1.0 + 10.0 * (-t * t / 50.0).exp())).abs() < 1e-6);
    let m = l.mapv(|v| v != 0);
    assert_eq!(label(m.view(), None).unwrap().1, 1);
    let wm = unet_weights_from_mask(m.view(), &c).unwrap();
    assert!(wm.iter().all(|&v| v == 1.0));
}

#[test]
fn label_values_need_not_be_consecutive_and_types_agree() {
    let mut l = ArrayD::<i64>::zeros(IxDyn(&[20, 30]));
    l.slice_mut(ndarray::s![2..5, 3..9]).fill(1_000_000_000_000);
    l.slice_mut(ndarray::s![10..14, 12..15]).fill(5);
    l.slice_mut(ndarray::s![15..19, 20..28]).fill(200);
    let c = UnetWeightConfig::default();
    let w = unet_weights_from_instances(l.view(), &c).unwrap();
    assert!(max_err(&w, &brute_unet(&l, 10.0, 5.0, None)) <= UNET_TOL);
    let small = l.mapv(|v| if v == 1_000_000_000_000 { 77 } else { v });
    assert_eq!(unet_weights_from_instances(small.mapv(|v| v as u8).view(), &c).unwrap(), w);
    assert_eq!(unet_weights_from_instances(small.mapv(|v| v as i32).view(), &c).unwrap(), w);
    assert_eq!(unet_weights_from_instances(small.mapv(|v| v as u32).view(), &c).unwrap(), w);
}

#[test]
fn layouts_equal_contiguous() {
    for shape in [vec![40, 50], vec![9, 20, 22]] {
        let m = disc_mask(&shape, 9, 4);
        let c = UnetWeightConfig::default();
        let want = unet_weights_from_mask(m.view(), &c).unwrap();
        let l = Layouts::of(&m);
        assert_eq!(unet_weights_from_mask(l.fortran.view(), &c).unwrap(), want);
        assert_eq!(unet_weights_from_mask(l.strided(), &c).unwrap(), want);
        let (lab, _) = label(m.view(), None).unwrap();
        let ll = Layouts::of(&lab);
        assert_eq!(unet_weights_from_instances(ll.fortran.view(), &c).unwrap(), want);
        assert_eq!(unet_weights_from_instances(ll.strided(), &c).unwrap(), want);
    }
}

#[test]
fn one_and_two_threads_give_the_same_bits() {
    let (one, two) = pools();
    for shape in [vec![300, 260], vec![30, 60, 50]] {
        let m = disc_mask(&shape, 40, 8);
        let c = UnetWeightConfig::default();
        let a = one.install(|| unet_weights_from_mask(m.view(), &c).unwrap());
        let b = two.install(|| unet_weights_from_mask(m.view(), &c).unwrap());
        assert!(a.iter().zip(b.iter()).all(|(x, y)| x.to_bits() == y.to_bits()));
    }
}

/// Many objects on a larger image, several merge groups' worth of bands: against the brute
/// force on a sample of pixels.
#[test]
fn many_cells_match_brute_force() {
    let m = disc_mask(&[120, 140], 45, 12);
    let (lab, n) = label(m.view(), None).unwrap();
    assert!(n > 10);
    let lab = lab.mapv(|v| v as i64);
    let w = unet_weights_from_instances(lab.view(), &UnetWeightConfig::default()).unwrap();
    let want = brute_unet(&lab, 10.0, 5.0, None);
    assert!(max_err(&w, &want) <= UNET_TOL);
}

/// Labels 1..=n in raster order on every pixel (`holes` = 0), or with background on the
/// pixels where `holes(flat index, coordinate sum)` holds.
fn unique_labels(shape: &[usize], holes: impl Fn(usize, usize) -> bool) -> ArrayD<i64> {
    let mut next = 0;
    let mut a = ArrayD::<i64>::zeros(IxDyn(shape));
    for (i, (idx, v)) in a.indexed_iter_mut().enumerate() {
        let sum: usize = (0..shape.len()).map(|ax| idx[ax]).sum();
        if !holes(i, sum) {
            next += 1;
            *v = next;
        }
    }
    a
}

/// The pathological input of the quadratic construction: every pixel its own object, with no
/// background, on a checkerboard, and with scattered background pixels; 2D and 3D, several
/// widths of the border term.
#[test]
fn every_pixel_its_own_label_matches_brute_force() {
    for shape in [vec![16usize, 16], vec![6, 8, 8]] {
        let all = unique_labels(&shape, |_, _| false);
        let w = unet_weights_from_instances(all.view(), &UnetWeightConfig::default()).unwrap();
        assert!(w.iter().all(|&v| v == 0.5), "no background: n / (2 n) everywhere");
        let checker = unique_labels(&shape, |_, sum| sum % 2 == 1);
        let holes = unique_labels(&shape, |i, _| (i * 7919) % 11 < 3);
        let stripes = unique_labels(&shape, |i, _| (i / 3) % 4 == 0);
        for labels in [&all, &checker, &holes, &stripes] {
            for (w0, sigma) in [(10.0f32, 5.0f32), (10.0, 1.0), (50.0, 12.0)] {
                let c = cfg(w0, sigma, None);
                let got = unet_weights_from_instances(labels.view(), &c).unwrap();
                let want = brute_unet(labels, w0 as f64, sigma as f64, None);
                assert!(max_err(&got, &want) <= UNET_TOL, "{shape:?} w0 {w0} sigma {sigma}");
                assert!(max_excess(&got, &want) <= 0.0, "{shape:?} w0 {w0} sigma {sigma}");
            }
        }
    }
}

/// Many objects with recurring, scattered labels (an object need not be connected): against
/// the brute force, 1 and 2 threads giving the same bits.
#[test]
fn random_labels_with_many_objects_match_brute_force() {
    let (one, two) = pools();
    let mut rng = segloss_core::rng::Rng::new(12);
    for (shape, n_labels, background) in
        [(vec![40usize, 50], 300u64, 50u64), (vec![33, 17], 5, 80), (vec![8, 12, 14], 400, 60), (vec![7, 9, 11], 3, 30)]
    {
        let n: usize = shape.iter().product();
        let data: Vec<i64> =
            (0..n).map(|_| if rng.next_u64() % 100 < background { 0 } else { 1 + (rng.next_u64() % n_labels) as i64 }).collect();
        let labels = ArrayD::from_shape_vec(IxDyn(&shape), data).unwrap();
        for (w0, sigma) in [(10.0f32, 5.0f32), (3.0, 2.5), (10.0, 20.0)] {
            let c = cfg(w0, sigma, Some((1.0, 0.5)));
            let a = one.install(|| unet_weights_from_instances(labels.view(), &c).unwrap());
            let b = two.install(|| unet_weights_from_instances(labels.view(), &c).unwrap());
            assert!(a.iter().zip(b.iter()).all(|(x, y)| x.to_bits() == y.to_bits()));
            let want = brute_unet(&labels, w0 as f64, sigma as f64, Some((1.0, 0.5)));
            assert!(max_err(&a, &want) <= UNET_TOL, "{shape:?} w0 {w0} sigma {sigma}");
            assert!(max_excess(&a, &want) <= 0.0, "{shape:?} w0 {w0} sigma {sigma}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    /// Random per-pixel labels from a random number of values, dense to sparse.
    #[test]
    fn scattered_labels_equal_brute_force(
        shape in small_shape(16, 7),
        n_labels in 1i64..200,
        background in 0.0f64..0.95,
        seed in any::<u64>(),
        w0 in 0.0f32..20.0,
        sigma in 0.3f32..10.0,
    ) {
        let mut rng = segloss_core::rng::Rng::new(seed);
        let n: usize = shape.iter().product();
        let mut draw = || {
            let bg = (rng.next_u64() % 10_000) as f64 / 10_000.0 < background;
            if bg { 0 } else { 1 + (rng.next_u64() % n_labels as u64) as i64 }
        };
        let data: Vec<i64> = (0..n).map(|_| draw()).collect();
        let labels = ArrayD::from_shape_vec(IxDyn(&shape), data).unwrap();
        let c = cfg(w0, sigma, None);
        let got = unet_weights_from_instances(labels.view(), &c).unwrap();
        let want = brute_unet(&labels, w0 as f64, sigma as f64, None);
        prop_assert!(max_err(&got, &want) <= UNET_TOL, "{:?} (w0 {}, sigma {})", labels, w0, sigma);
        prop_assert!(max_excess(&got, &want) <= 0.0, "{:?} (w0 {}, sigma {})", labels, w0, sigma);
    }
}

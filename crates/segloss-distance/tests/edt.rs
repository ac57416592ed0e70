//! `edt` against the O(n^2) brute force (proptest, 2D and 3D, with spacing), edge cases, element
//! types, memory layouts and thread counts.

mod common;

use common::*;
use ndarray::{arr2, ArrayD, IxDyn};
use proptest::prelude::*;
use segloss_core::testing::Layouts;
use segloss_distance::{edt, EdtOptions};

/// With spacing, squared distances are f64 sums of non-integers: the envelope may pick another
/// zero pixel at an exact or near tie, whose f64 sum differs in the last bits; after the square
/// root and the rounding to f32 the two agree to this many units in the last place.
const SPACING_ULPS: u32 = 2;

fn run(mask: &ArrayD<u8>, spacing: Option<Vec<f64>>, squared: bool) -> Vec<f32> {
    edt(mask.view(), &EdtOptions { spacing, squared }).unwrap().iter().copied().collect()
}

fn check_unit(mask: &ArrayD<u8>) -> Result<(), TestCaseError> {
    let ones = vec![1.0; mask.ndim()];
    for squared in [false, true] {
        let got = run(mask, None, squared);
        let want = brute_edt(mask, &ones, squared);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            prop_assert_eq!(g.to_bits(), w.to_bits(), "pixel {} of shape {:?}: {} != {} (squared {})", i, mask.shape(), g, w, squared);
        }
    }
    Ok(())
}

fn check_spacing(mask: &ArrayD<u8>, spacing: &[f64]) -> Result<(), TestCaseError> {
    for squared in [false, true] {
        let got = run(mask, Some(spacing.to_vec()), squared);
        let want = brute_edt(mask, spacing, squared);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            prop_assert!(ulps(*g, *w) <= SPACING_ULPS, "pixel {} of shape {:?}, spacing {:?}: {} != {}", i, mask.shape(), spacing, g, w);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Unit spacing: bit-equal to the brute force (exact integers).
    #[test]
    fn unit_spacing_equals_brute_force(mask in small_shape(14, 7).prop_flat_map(mask_of)) {
        check_unit(&mask)?;
    }

    /// Anisotropic spacing, 2D and 3D.
    #[test]
    fn spacing_equals_brute_force(
        (mask, spacing) in small_shape(14, 7).prop_flat_map(|s| { let r = s.len(); (mask_of(s), spacing_of(r)) })
    ) {
        check_spacing(&mask, &spacing)?;
    }

    /// Long thin lines (many parabolas per envelope).
    #[test]
    fn long_lines_equal_brute_force(mask in prop_oneof![
        (1usize..=3, 40usize..=120).prop_map(|(a, b)| vec![a, b]),
        (40usize..=120, 1usize..=3).prop_map(|(a, b)| vec![a, b]),
        (1usize..=2, 1usize..=3, 20usize..=60).prop_map(|(a, b, c)| vec![a, b, c]),
    ].prop_flat_map(mask_of)) {
        check_unit(&mask)?;
    }
}

#[test]
fn all_zero_is_zero() {
    for shape in [vec![5, 7], vec![3, 4, 2]] {
        let m = ArrayD::<u8>::zeros(IxDyn(&shape));
        assert!(run(&m, None, false).iter().all(|&d| d == 0.0));
    }
}

#[test]
fn all_one_is_infinite() {
    for shape in [vec![5, 7], vec![3, 4, 2], vec![1, 1]] {
        let m = ArrayD::<u8>::ones(IxDyn(&shape));
        for squared in [false, true] {
            assert!(run(&m, Some(vec![0.5; shape.len()]), squared).iter().all(|&d| d == f32::INFINITY));
        }
    }
}

#[test]
fn one_pixel() {
    assert_eq!(run(&ArrayD::<u8>::zeros(IxDyn(&[1, 1])), None, false), vec![0.0]);
    assert_eq!(run(&ArrayD::<u8>::ones(IxDyn(&[1, 1, 1])), None, false), vec![f32::INFINITY]);
    // A single background pixel in the middle: the distance is the norm of the offset.
    let mut m = ArrayD::<u8>::ones(IxDyn(&[5, 7]));
    m[[2, 3]] = 0;
    let d = edt(m.view(), &EdtOptions { spacing: Some(vec![2.0, 0.5]), squared: false }).unwrap();
    assert_eq!(d[[0, 0]], ((2.0f64 * 2.0).powi(2) + (3.0f64 * 0.5).powi(2)).sqrt() as f32);
    assert_eq!(d[[4, 6]], ((2.0f64 * 2.0).powi(2) + (3.0f64 * 0.5).powi(2)).sqrt() as f32);
    assert_eq!(d[[2, 3]], 0.0);
}

#[test]
fn single_line() {
    // One row, one column, and one line along each axis of a volume: the distance to the nearest
    // zero along the line.
    let row = arr2(&[[1u8, 1, 0, 1, 1, 1, 0, 1]]).into_dyn();
    assert_eq!(run(&row, None, false), vec![2.0, 1.0, 0.0, 1.0, 2.0, 1.0, 0.0, 1.0]);
    let col = row.clone().into_shape_with_order(IxDyn(&[8, 1])).unwrap();
    assert_eq!(run(&col, Some(vec![0.5, 3.0]), false), vec![1.0, 0.5, 0.0, 0.5, 1.0, 0.5, 0.0, 0.5]);
    for shape in [[8, 1, 1], [1, 8, 1], [1, 1, 8]] {
        let v = row.clone().into_shape_with_order(IxDyn(&shape)).unwrap();
        assert_eq!(run(&v, None, true), vec![4.0, 1.0, 0.0, 1.0, 4.0, 1.0, 0.0, 1.0]);
    }
    // A foreground line in a zero image is 1 on the line.
    let mut m = ArrayD::<u8>::zeros(IxDyn(&[5, 9]));
    m.slice_mut(ndarray::s![2, ..]).fill(1);
    let d = run(&m, None, false);
    assert!(d.iter().enumerate().all(|(i, &v)| v == if i / 9 == 2 { 1.0 } else { 0.0 }));
}

#[test]
fn element_types_agree() {
    let m = disc_mask(&[23, 31], 6, 7);
    let want = run(&m, None, false);
    let opts = EdtOptions::default();
    let as_vec = |a: ArrayD<f32>| a.iter().copied().collect::<Vec<f32>>();
    assert_eq!(as_vec(edt(m.mapv(|v| v != 0).view(), &opts).unwrap()), want);
    assert_eq!(as_vec(edt(m.mapv(|v| v as i32 * -3).view(), &opts).unwrap()), want);
    assert_eq!(as_vec(edt(m.mapv(|v| v as u32 * 7).view(), &opts).unwrap()), want);
    // f32: any nonzero is foreground, NaN included; -0.0 is zero.
    let f = m.mapv(|v| if v != 0 { f32::NAN } else { -0.0 });
    assert_eq!(as_vec(edt(f.view(), &opts).unwrap()), want);
}

#[test]
fn layouts_equal_contiguous() {
    for shape in [vec![17, 29], vec![6, 9, 11]] {
        let m = disc_mask(&shape, 5, 3);
        let opts = EdtOptions { spacing: Some(vec![0.7; shape.len()]), squared: false };
        let want = edt(m.view(), &opts).unwrap();
        let l = Layouts::of(&m);
        assert_eq!(edt(l.fortran.view(), &opts).unwrap(), want);
        assert_eq!(edt(l.strided(), &opts).unwrap(), want);
        // A permuted view is another mask: compare against its contiguous copy.
        let t = m.view().reversed_axes();
        let tc = t.as_standard_layout().into_owned();
        let mut opts_t = opts.clone();
        opts_t.spacing = Some(vec![0.7; shape.len()]);
        assert_eq!(edt(t, &opts_t).unwrap(), edt(tc.view(), &opts_t).unwrap());
    }
}

#[test]
fn one_and_two_threads_give_the_same_bits() {
    let (one, two) = pools();
    for (shape, discs) in [(vec![300, 517], 40), (vec![40, 64, 70], 30)] {
        let m = disc_mask(&shape, discs, 11);
        let opts = EdtOptions { spacing: Some(vec![1.3; shape.len()]), squared: false };
        let a = one.install(|| edt(m.view(), &opts).unwrap());
        let b = two.install(|| edt(m.view(), &opts).unwrap());
        assert!(a.iter().zip(b.iter()).all(|(x, y)| x.to_bits() == y.to_bits()));
    }
}

/// Larger than the parallel threshold (2D rows in several tasks, several column strips):
/// still equal to the brute force on a sparse sample of pixels.
#[test]
fn large_mask_matches_brute_force_on_samples() {
    let m = disc_mask(&[260, 700], 60, 5);
    let d = run(&m, None, true);
    let zeros: Vec<(usize, usize)> = m.indexed_iter().filter(|(_, &v)| v == 0).map(|(i, _)| (i[0], i[1])).collect();
    for i in (0..d.len()).step_by(97) {
        let (y, x) = (i / 700, i % 700);
        let want =
            zeros.iter().map(|&(a, b)| ((y as i64 - a as i64).pow(2) + (x as i64 - b as i64).pow(2)) as f64).fold(f64::INFINITY, f64::min);
        assert_eq!(d[i], want as f32, "pixel ({y}, {x})");
    }
}

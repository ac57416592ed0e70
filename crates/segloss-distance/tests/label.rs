//! `label` against a flood fill written from the neighbourhood definition (proptest, 2D and 3D,
//! both connectivities), edge cases, element types and layouts.

mod common;

use common::*;
use ndarray::{arr2, ArrayD, IxDyn};
use proptest::prelude::*;
use segloss_core::testing::Layouts;
use segloss_distance::label;

fn check(mask: &ArrayD<u8>, full: bool) -> Result<(), TestCaseError> {
    let conn = match (mask.ndim(), full) {
        (2, false) => 4,
        (2, true) => 8,
        (_, false) => 6,
        (_, true) => 26,
    };
    let (got, n) = label(mask.view(), Some(conn)).unwrap();
    let (want, wn) = flood_label(mask, full);
    prop_assert_eq!(n, wn);
    let got: Vec<u32> = got.iter().copied().collect();
    prop_assert!(same_partition(&got, &want), "connectivity {} on {:?}", conn, mask);
    // Numbers are 1..=n, each used.
    let mut used = vec![false; n + 1];
    for &l in &got {
        prop_assert!((l as usize) <= n);
        used[l as usize] = true;
    }
    prop_assert!(used[1..].iter().all(|&u| u));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn equals_flood_fill(mask in small_shape(16, 7).prop_flat_map(mask_of), full in any::<bool>()) {
        check(&mask, full)?;
    }
}

#[test]
fn default_connectivity_is_faces_only() {
    // Two diagonal pixels: two components with 4 (default), one with 8.
    let m = arr2(&[[1u8, 0], [0, 1]]).into_dyn();
    assert_eq!(label(m.view(), None).unwrap().1, 2);
    assert_eq!(label(m.view(), Some(4)).unwrap().1, 2);
    assert_eq!(label(m.view(), Some(8)).unwrap().1, 1);
    // Two voxels touching at a corner: two with 6 (default), one with 26.
    let mut v = ArrayD::<u8>::zeros(IxDyn(&[2, 2, 2]));
    v[[0, 0, 0]] = 1;
    v[[1, 1, 1]] = 1;
    assert_eq!(label(v.view(), None).unwrap().1, 2);
    assert_eq!(label(v.view(), Some(26)).unwrap().1, 1);
}

#[test]
fn numbering_follows_raster_order() {
    // A U shape whose arms meet only at the bottom: one component, found from both arms.
    let m = arr2(&[[1u8, 0, 1, 0, 1], [1, 0, 1, 0, 1], [1, 1, 1, 0, 1], [0, 0, 0, 0, 0], [1, 1, 0, 0, 0]]).into_dyn();
    let (l, n) = label(m.view(), None).unwrap();
    assert_eq!(n, 3);
    let want = arr2(&[[1u32, 0, 1, 0, 2], [1, 0, 1, 0, 2], [1, 1, 1, 0, 2], [0, 0, 0, 0, 0], [3, 3, 0, 0, 0]]).into_dyn();
    assert_eq!(l, want);
}

#[test]
fn edge_cases() {
    let zero = ArrayD::<u8>::zeros(IxDyn(&[4, 5]));
    let (l, n) = label(zero.view(), None).unwrap();
    assert_eq!((n, l.iter().all(|&v| v == 0)), (0, true));
    let one = ArrayD::<u8>::ones(IxDyn(&[3, 4, 5]));
    let (l, n) = label(one.view(), Some(6)).unwrap();
    assert_eq!((n, l.iter().all(|&v| v == 1)), (1, true));
    let px = ArrayD::<u8>::ones(IxDyn(&[1, 1]));
    assert_eq!(label(px.view(), None).unwrap().1, 1);
    // A single line of alternating runs.
    let line = arr2(&[[1u8, 1, 0, 1, 0, 0, 1]]).into_dyn();
    let (l, n) = label(line.view(), None).unwrap();
    assert_eq!(n, 3);
    assert_eq!(l.iter().copied().collect::<Vec<_>>(), vec![1, 1, 0, 2, 0, 0, 3]);
}

#[test]
fn element_types_and_layouts_agree() {
    for shape in [vec![19, 23], vec![7, 8, 9]] {
        let m = disc_mask(&shape, 8, 21);
        let conn = if shape.len() == 2 { 8 } else { 26 };
        let (want, n) = label(m.view(), Some(conn)).unwrap();
        assert!(n > 0);
        assert_eq!(label(m.mapv(|v| v != 0).view(), Some(conn)).unwrap(), (want.clone(), n));
        assert_eq!(label(m.mapv(|v| v as f32 * 0.5).view(), Some(conn)).unwrap(), (want.clone(), n));
        assert_eq!(label(m.mapv(|v| v as i32).view(), Some(conn)).unwrap(), (want.clone(), n));
        assert_eq!(label(m.mapv(|v| v as u32).view(), Some(conn)).unwrap(), (want.clone(), n));
        let l = Layouts::of(&m);
        assert_eq!(label(l.fortran.view(), Some(conn)).unwrap(), (want.clone(), n));
        assert_eq!(label(l.strided(), Some(conn)).unwrap(), (want.clone(), n));
    }
}

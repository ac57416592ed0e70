//! Small cases with literal values worked out by hand from the definitions (`docs/LOSSES.md`,
//! Berman et al. 2018 Alg. 1), including the edge cases the property tests shrink to: one pixel, no
//! positive (g = e_1), full ties (order by index), probabilities outside [0, 1].

use ndarray::{ArrayD, IxDyn};
use segloss_core::{Batch, Classes, Loss, Reduce};
use segloss_lovasz::{LovaszHingeConfig, LovaszSoftmaxConfig};

const TOL: f32 = 1e-6;

fn a<T: Clone>(shape: &[usize], v: Vec<T>) -> ArrayD<T> {
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
}

fn close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= TOL, "[{i}]: {g} vs {w} (all: {got:?})");
    }
}

#[test]
fn hinge_one_positive_pixel() {
    // e = 1 - 0.3 = 0.7, G = 1, g = 1/U = 1: loss 0.7, d/dx = -1
    let (v, g) = LovaszHingeConfig::default()
        .build()
        .unwrap()
        .forward_backward(&Batch::new(&a(&[1, 1, 1], vec![0.3f32]), &a(&[1, 1, 1], vec![1.0f32])))
        .unwrap();
    assert!((v - 0.7).abs() <= TOL);
    close(g.as_slice().unwrap(), &[-1.0]);
}

#[test]
fn hinge_no_positive_is_e1() {
    // e = [1.5, -1.0]; G = 0: g = e_1, loss = relu(1.5) = 1.5, d/dx = [+1, 0]
    let (v, g) = LovaszHingeConfig::default()
        .build()
        .unwrap()
        .forward_backward(&Batch::new(&a(&[1, 1, 2], vec![0.5f32, -2.0]), &a(&[1, 1, 2], vec![0.0f32, 0.0])))
        .unwrap();
    assert!((v - 1.5).abs() <= TOL);
    close(g.as_slice().unwrap(), &[1.0, 0.0]);
}

#[test]
fn hinge_full_tie_orders_by_index() {
    // x = 0: every e = 1, loss = sum g = J(all) = 1; the order is the index order with labels
    // 1, 0, 1, 0 (G = 2): g = 1/2, 1/(3*2), 1/3, 0 -> d/dx = [-1/2, 1/6, -1/3, 0]
    let (v, g) = LovaszHingeConfig::default()
        .build()
        .unwrap()
        .forward_backward(&Batch::new(&a(&[1, 1, 4], vec![0.0f32; 4]), &a(&[1, 1, 4], vec![1.0f32, 0.0, 1.0, 0.0])))
        .unwrap();
    assert!((v - 1.0).abs() <= TOL);
    close(g.as_slice().unwrap(), &[-0.5, 1.0 / 6.0, -1.0 / 3.0, 0.0]);
}

#[test]
fn softmax_two_pixels_two_classes_by_hand() {
    // p0 = [0.9, 0.2], p1 = [0.1, 0.8], labels [0, 1]
    // class 0: e = [0.1, 0.2] -> order (px1 neg, px0 pos), G = 1: g = 1/(2*1), 1/2 -> loss 0.15
    // class 1: e = [0.1, 0.2] -> order (px1 pos, px0 neg): g = 1, 0 -> loss 0.2; mean 0.175
    // d/dp (halved by the mean): p0 = [-0.25, 0.25], p1 = [0, -0.5]
    let l = LovaszSoftmaxConfig { from_logits: false, ..Default::default() }.build().unwrap();
    let (v, g) = l.forward_backward(&Batch::new(&a(&[1, 2, 2], vec![0.9f32, 0.2, 0.1, 0.8]), &a(&[1, 2], vec![0i64, 1]))).unwrap();
    assert!((v - 0.175).abs() <= TOL, "{v}");
    close(g.as_slice().unwrap(), &[-0.25, 0.25, 0.0, -0.5]);
}

#[test]
fn softmax_unclipped_probabilities_outside_unit_interval() {
    // one class present (label 0 everywhere) of C = 2, classes=present: p0 = [1.5, -0.5]
    // class 0: fg = [1, 1], e = |1 - p| = [0.5, 1.5] -> order (px1, px0), both positives, G = 2:
    // g = 1/2, 1/2 -> loss 1.0; d/dp0 = g sign(p - 1) = [+1/2, -1/2]
    let l = LovaszSoftmaxConfig { from_logits: false, classes: Classes::Present, ..Default::default() }.build().unwrap();
    let (v, g) = l.forward_backward(&Batch::new(&a(&[1, 2, 2], vec![1.5f32, -0.5, 0.0, 0.0]), &a(&[1, 2], vec![0i64, 0]))).unwrap();
    assert!((v - 1.0).abs() <= TOL, "{v}");
    close(g.as_slice().unwrap(), &[0.5, -0.5, 0.0, 0.0]);
}

#[test]
fn softmax_all_ignored_image_counts_in_the_per_image_mean() {
    // image 0 all ignored (contributes 0), image 1 = the two-pixel case above (0.175): mean 0.0875
    let l =
        LovaszSoftmaxConfig { from_logits: false, reduce: Reduce::Image, ignore_index: Some(255), ..Default::default() }.build().unwrap();
    let p = a(&[2, 2, 2], vec![0.5f32, 0.5, 0.5, 0.5, 0.9, 0.2, 0.1, 0.8]);
    let lab = a(&[2, 2], vec![255i64, 255, 0, 1]);
    let (v, g) = l.forward_backward(&Batch::new(&p, &lab)).unwrap();
    assert!((v - 0.0875).abs() <= TOL, "{v}");
    close(g.as_slice().unwrap(), &[0.0, 0.0, 0.0, 0.0, -0.125, 0.125, 0.0, -0.25]);
}

#[test]
fn many_classes_take_the_wide_label_path() {
    // 300 classes (labels are not packed into bytes): same value and gradient as the reference
    let (n, c, s) = (2usize, 300usize, 7usize);
    let z: Vec<f32> = (0..n * c * s).map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 6.0).collect();
    let lab: Vec<i64> = (0..n * s).map(|i| if i == 3 { -1 } else { (i * 37 % 299) as i64 }).collect();
    let l = LovaszSoftmaxConfig { ignore_index: Some(-1), classes: Classes::All, ..Default::default() }.build().unwrap();
    let (v, g) = l.forward_backward(&Batch::new(&a(&[n, c, s], z.clone()), &a(&[n, s], lab.clone()))).unwrap();
    let z64: Vec<f64> = z.iter().map(|&v| v as f64).collect();
    let (v_ref, g_ref) = segloss_lovasz::reference::lovasz_softmax(&z64, &lab, n, c, s, true, false, Some(-1), true);
    assert!((v as f64 - v_ref).abs() <= 1e-5 * v_ref.abs() + 1e-7, "{v} vs {v_ref}");
    let scale = g_ref.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let diff = g.iter().zip(&g_ref).fold(0.0f64, |m, (a, b)| m.max((*a as f64 - b).abs()));
    assert!(diff <= 1e-4 * scale, "max |grad - ref| = {diff} (max {scale})");
}

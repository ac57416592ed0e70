//! Precision of the Jaccard gradient `g` at 4 M pixels: ours (integer counts, `f64`, rounded to
//! `f32`) stays within `1e-6 max(g)` of an `f64` computation for every element, where the
//! reference's float32 construction (difference of float32 Jaccard values) does not. Checked on
//! `jaccard_grad` and on the gradient the built `lovasz_hinge` writes.

use ndarray::{ArrayD, IxDyn};
use segloss_core::rng::Rng;
use segloss_core::{Batch, Loss};
use segloss_lovasz::jaccard::jaccard_grad;
use segloss_lovasz::reference::{argsort_desc, lovasz_grad};
use segloss_lovasz::LovaszHingeConfig;

/// Every element of g within `G_BOUND * max(g)` of the f64 computation.
const G_BOUND: f64 = 1e-6;
const PIXELS: usize = 1 << 22; // 4 M

fn worst(g: &[f32], g64: &[f64]) -> f64 {
    let gmax = g64.iter().fold(0.0f64, |m, v| m.max(*v));
    g.iter().zip(g64).fold(0.0f64, |m, (a, b)| m.max((*a as f64 - b).abs())) / gmax
}

#[test]
fn integer_counts_hold_the_bound_where_float32_differences_fail() {
    let mut r = Rng::new(11);
    let gt: Vec<bool> = (0..PIXELS).map(|_| r.next_f32() < 0.3).collect();
    let g64 = lovasz_grad::<f64>(&gt);
    let mut ours = vec![0.0f32; PIXELS];
    jaccard_grad(&gt, &mut ours).unwrap();
    let naive = lovasz_grad::<f32>(&gt);
    let (e_ours, e_naive) = (worst(&ours, &g64), worst(&naive, &g64));
    eprintln!("4M pixels: worst |g - g_f64| / max(g): integer counts {e_ours:e}, float32 differences {e_naive:e}");
    assert!(e_ours <= G_BOUND, "integer counts: worst error {e_ours:e} max(g)");
    assert!(e_naive > G_BOUND, "the float32 differences were expected to fail the bound, worst error {e_naive:e} max(g)");
}

/// The gradient of a one-problem hinge whose errors are all positive is `-g (2y - 1)` in the
/// order of the errors: compare it with `g` computed in f64 along an independent comparison sort.
#[test]
fn hinge_gradient_at_4m_pixels_is_g_to_the_bound() {
    let mut r = Rng::new(12);
    let x: Vec<f32> = (0..PIXELS).map(|_| (r.next_f32() - 0.5) * 1.9).collect();
    let y: Vec<f32> = (0..PIXELS).map(|_| (r.next_f32() < 0.3) as u8 as f32).collect();
    let e: Vec<f32> = x.iter().zip(&y).map(|(&xv, &yv)| if yv == 1.0 { 1.0 - xv } else { 1.0 + xv }).collect();
    assert!(e.iter().all(|&v| v > 0.0));
    let order = argsort_desc(&e);
    let gt: Vec<bool> = order.iter().map(|&i| y[i] == 1.0).collect();
    let g64 = lovasz_grad::<f64>(&gt);
    let pred = ArrayD::from_shape_vec(IxDyn(&[1, 1, 2048, 2048]), x).unwrap();
    let tgt = ArrayD::from_shape_vec(IxDyn(&[1, 1, 2048, 2048]), y.clone()).unwrap();
    let (_, grad) = LovaszHingeConfig::default().build().unwrap().forward_backward(&Batch::new(&pred, &tgt)).unwrap();
    let grad = grad.as_slice().unwrap();
    let g: Vec<f32> = order.iter().map(|&i| if y[i] == 1.0 { -grad[i] } else { grad[i] }).collect();
    let err = worst(&g, &g64);
    eprintln!("lovasz_hinge at 4M pixels: worst |g - g_f64| / max(g) = {err:e}");
    assert!(err <= G_BOUND, "worst error {err:e} max(g)");
}

//! Property tests of the overlap family on random problems in every mode (binary, multilabel,
//! multiclass labels and class probabilities) and random configurations of every loss.

mod common;

use common::*;
use proptest::prelude::*;
use segloss_core::testing::{self, assert_all_written, check_gradient, max_abs_diff, Layouts};
use segloss_core::{Batch, Loss, Target};
use segloss_overlap::driver::Backend;

/// The non-log losses stay in `[0, 1]` up to this rounding when `smooth_nr <= smooth_dr`.
const UNIT_TOL: f32 = 1e-6;
/// A perfect prediction has loss 0 up to this.
const PERFECT_TOL: f32 = 1e-6;
/// SIMD vs scalar (and vs the f64 reference): value, relative and absolute.
const VALUE_REL: f64 = 1e-5;
const VALUE_ABS: f64 = 2e-6;
/// SIMD vs scalar (and vs the f64 reference): gradient, relative to its largest element, and absolute.
const GRAD_REL: f64 = 1e-4;
const GRAD_ABS: f64 = 1e-7;
/// Central differences: step (relative), and tolerance relative to the largest numeric element.
const FD_STEP: f64 = 1e-6;
const FD_REL: f64 = 1e-5;
const FD_ABS: f64 = 1e-9;

fn moderate() -> BoxedStrategy<f32> {
    (-4.0f32..4.0).boxed()
}

fn any_logit() -> BoxedStrategy<f32> {
    testing::logit().boxed()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= VALUE_REL * b.abs().max(a.abs()) + VALUE_ABS
}

fn grads_close(a: &[f32], b: &[f32]) -> Result<(), String> {
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64));
    let d = max_abs_diff(a, b);
    if d <= GRAD_REL * scale + GRAD_ABS {
        Ok(())
    } else {
        Err(format!("max |grad diff| {d:e} > {GRAD_REL:e} * {scale:e} + {GRAD_ABS:e}"))
    }
}

/// Turns logits into probabilities in (0.02, 0.98) for the from_logits=false checks.
fn to_probs(p: &Problem) -> Problem {
    let mut q = p.clone();
    q.x = p.x.iter().map(|&v| 0.02 + 0.96 / (1.0 + (-v).exp())).collect();
    q
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn non_log_losses_lie_in_unit_interval(p in problem(any_logit(), 0..4), c in cfg(false, true, vec![0.5, 1.0, 2.0])) {
        let a = p.arrays();
        let loss = c.build(&p, true);
        let (v, g) = loss.forward_backward(&a.batch()).unwrap();
        prop_assert!((-UNIT_TOL..=1.0 + UNIT_TOL).contains(&v), "loss {v}");
        prop_assert!(g.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn perfect_prediction_gives_zero(p in problem(moderate(), 0..3), c in cfg(true, false, vec![0.5, 1.0, 2.0]), s in prop::sample::select(vec![1e-5, 0.1, 1.0])) {
        // probabilities equal to hard targets (ignored pixels get an arbitrary 0.3)
        let mut q = p.clone();
        let cc = p.classes();
        let pix = p.x.len() / cc;
        let sp = pix / p.shape[0];
        q.x = match &p.t {
            Tgt::Dense(y) => y.iter().map(|&v| if v == IGNORE as f32 { 0.3 } else { v.round() }).collect(),
            Tgt::Labels(l) => (0..p.x.len()).map(|e| {
                let (i, k, j) = (e / (cc * sp), (e / sp) % cc, e % sp);
                let lab = l[i * sp + j];
                if lab == IGNORE { 0.3 } else if lab == k as i64 { 1.0 } else { 0.0 }
            }).collect(),
            Tgt::Probs(_) => unreachable!(),
        };
        if let Tgt::Dense(y) = &mut q.t {
            y.iter_mut().for_each(|v| if *v != IGNORE as f32 { *v = v.round() });
        }
        let mut c = c;
        c.nr = s;
        c.dr = s;
        let a = q.arrays();
        let loss = c.build(&q, false);
        let v = loss.forward(&a.batch()).unwrap();
        prop_assert!(v.abs() <= PERFECT_TOL, "loss {v} at a perfect prediction ({c:?})");
    }

    #[test]
    fn gradient_matches_central_differences(p in problem(moderate(), 0..4), c in cfg(true, true, vec![0.5, 1.0, 2.0]), logits in any::<bool>()) {
        let p = if logits { p } else { to_probs(&p) };
        let a = p.arrays();
        let batch = a.batch();
        let loss = c.build(&p, logits);
        let x64: Vec<f64> = p.x.iter().map(|&v| v as f64).collect();
        let (v_ref, g_ref) = p.reference(&loss, &batch, &x64);
        let f = |x: &[f64]| p.reference(&loss, &batch, x).0;
        if let Err(e) = check_gradient(&f, &x64, &g_ref, FD_STEP, FD_REL, FD_ABS) {
            return Err(TestCaseError::fail(format!("{e} ({c:?})")));
        }
        // and the SIMD driver against the f64 reference
        let (v, g) = loss.forward_backward(&batch).unwrap();
        prop_assert!(close(v as f64, v_ref), "simd {v} vs reference {v_ref}");
        let g_ref32: Vec<f32> = g_ref.iter().map(|&v| v as f32).collect();
        if let Err(e) = grads_close(g.as_slice().unwrap(), &g_ref32) {
            return Err(TestCaseError::fail(e));
        }
    }

    #[test]
    fn finite_everywhere(p in problem(any_logit(), 0..4), c in cfg(true, false, vec![0.25, 0.5, 1.0, 3.0]), logits in any::<bool>()) {
        let p = if logits { p } else { to_probs(&p) };
        let a = p.arrays();
        let loss = c.build(&p, logits);
        let (v, g) = loss.forward_backward(&a.batch()).unwrap();
        prop_assert!(v.is_finite(), "loss {v}");
        prop_assert!(g.iter().all(|x| x.is_finite()), "non-finite gradient");
    }

    #[test]
    fn simd_equals_scalar(p in problem(any_logit(), 0..4), c in cfg(true, false, vec![0.5, 1.0, 2.0]), logits in any::<bool>()) {
        let p = if logits { p } else { to_probs(&p) };
        let a = p.arrays();
        let simd = c.build(&p, logits);
        let scalar = simd.clone().with_backend(Backend::Scalar);
        let (v1, g1) = simd.forward_backward(&a.batch()).unwrap();
        let (v2, g2) = scalar.forward_backward(&a.batch()).unwrap();
        prop_assert!(close(v1 as f64, v2 as f64), "simd {v1} vs scalar {v2}");
        if let Err(e) = grads_close(g1.as_slice().unwrap(), g2.as_slice().unwrap()) {
            return Err(TestCaseError::fail(e));
        }
    }

    #[test]
    fn non_contiguous_views_equal_contiguous(p in problem(moderate(), 0..4), c in cfg(true, false, vec![1.0, 2.0])) {
        let a = p.arrays();
        let loss = c.build(&p, true);
        let (v, g) = loss.forward_backward(&a.batch()).unwrap();
        let lp = Layouts::of(&a.pred);
        let preds = [lp.fortran.view(), lp.strided()];
        for pv in preds {
            let (v2, g2) = match (&a.dense, &a.labels) {
                (Some(d), _) => {
                    let ld = Layouts::of(d);
                    let r1 = loss.forward_backward(&Batch::new(pv.clone(), Target::F32(ld.fortran.view()))).unwrap();
                    let r2 = loss.forward_backward(&Batch::new(pv.clone(), Target::F32(ld.strided()))).unwrap();
                    prop_assert_eq!(r1.0.to_bits(), r2.0.to_bits());
                    prop_assert_eq!(&r1.1, &r2.1);
                    r1
                }
                (_, Some(l)) => {
                    let ll = Layouts::of(l);
                    let r1 = loss.forward_backward(&Batch::new(pv.clone(), Target::I64(ll.fortran.view()))).unwrap();
                    let r2 = loss.forward_backward(&Batch::new(pv.clone(), Target::I64(ll.strided()))).unwrap();
                    prop_assert_eq!(r1.0.to_bits(), r2.0.to_bits());
                    prop_assert_eq!(&r1.1, &r2.1);
                    r1
                }
                _ => unreachable!(),
            };
            prop_assert_eq!(v.to_bits(), v2.to_bits());
            prop_assert_eq!(&g, &g2);
        }
    }

    #[test]
    fn one_and_two_threads_agree_bit_for_bit(p in problem(any_logit(), 0..4), c in cfg(true, false, vec![0.5, 1.0, 2.0])) {
        let a = p.arrays();
        let loss = c.build(&p, true);
        let run = |n: usize| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap().install(|| loss.forward_backward(&a.batch()).unwrap());
        let (v1, g1) = run(1);
        let (v2, g2) = run(2);
        prop_assert_eq!(v1.to_bits(), v2.to_bits());
        prop_assert!(g1.iter().zip(&g2).all(|(x, y)| x.to_bits() == y.to_bits()));
    }

    #[test]
    fn nan_prefilled_grad_is_fully_written(p in problem(any_logit(), 0..4), c in cfg(true, false, vec![0.5, 1.0]), upstream in prop::sample::select(vec![1.0f32, 0.5, -2.0])) {
        let a = p.arrays();
        let loss = c.build(&p, true);
        let mut g = ndarray::ArrayD::<f32>::from_elem(ndarray::IxDyn(&p.shape), f32::NAN);
        loss.forward_backward_into(&a.batch(), g.view_mut(), upstream).unwrap();
        assert_all_written(g.as_slice().unwrap());
        // a non-standard-layout grad buffer too
        let mut gf = ndarray::ArrayD::<f32>::from_elem(ndarray::IxDyn(&p.shape).f(), f32::NAN);
        loss.forward_backward_into(&a.batch(), gf.view_mut(), upstream).unwrap();
        prop_assert_eq!(&gf, &g);
    }
}

use ndarray::ShapeBuilder;

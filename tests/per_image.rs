//! The unreduced per-image values (`Loss::per_image`) and their vector-Jacobian product: the
//! rule docs/LOSSES.md states (the mean of the values is the batch's loss where the loss is a
//! mean of per-image terms with equal divisors, and not otherwise), the product against central
//! differences of `sum_i u_i values_i` in f64, and the errors. `tests/harness.rs` checks every
//! loss of the registry against each image alone (`check_per_image`).

use ndarray::{Array1, ArrayD, IxDyn};
use segloss::testing::{Problem, ProblemConfig};
use segloss::{Batch, Loss, LossSpec, Mode};

/// Mean of the per-image values against the batch's loss (f32 values, f64 mean).
const MEAN_REL: f64 = 1e-5;

fn problem(mode: Mode, shape: &[usize], seed: u64) -> Problem {
    Problem::generate(&ProblemConfig::new(mode).shape(shape), seed)
}

fn build(spec: &str) -> Box<dyn Loss> {
    Box::new(LossSpec::parse(spec).unwrap().build().unwrap())
}

/// The documented cases where the mean of the per-image values is the batch's loss.
#[test]
fn the_mean_of_the_values_is_the_batch_loss_where_the_docs_say_so() {
    let cases: [(&str, Mode); 17] = [
        ("generalized_dice", Mode::Multiclass),
        ("jaccard", Mode::Multiclass),
        ("cldice", Mode::Multiclass),
        ("dice_cldice", Mode::Multiclass),
        ("wasserstein_dice", Mode::Multiclass),
        ("unified_focal", Mode::Binary),
        ("bce", Mode::Binary),
        ("focal", Mode::Binary),
        ("ce", Mode::Multiclass),
        ("dice", Mode::Multiclass),
        ("tversky", Mode::Multiclass),
        ("jaccard:mode=multilabel", Mode::Multilabel),
        ("lovasz_hinge", Mode::Binary),
        ("lovasz_softmax:reduce=image", Mode::Multiclass),
        ("boundary", Mode::Multiclass),
        ("hausdorff_dt", Mode::Binary),
        ("bce+0.5*dice", Mode::Binary),
    ];
    for (spec, mode) in cases {
        let ch = if mode == Mode::Binary { 1 } else { 3 };
        let p = problem(mode, &[4, ch, 9, 11], 21);
        let loss = build(spec);
        let values = loss.per_image(&p.batch()).unwrap();
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64;
        let batch = loss.forward(&p.batch()).unwrap() as f64;
        assert!((mean - batch).abs() <= MEAN_REL * batch.abs().max(1e-3), "{spec}: mean of {values} = {mean} vs the batch's {batch}");
    }
}

/// And where it is not: a batch-level rule (top-k over the batch, one Lovász problem over the
/// batch, the log cosh of the batch's mean, one coefficient over the batch) gives per-image
/// values whose mean differs from the batch's loss.
#[test]
fn batch_level_rules_apply_to_each_image_alone() {
    for (spec, mode) in [
        ("topk_ce:k=10", Mode::Multiclass),
        ("lovasz_softmax:reduce=batch", Mode::Multiclass),
        ("log_cosh_dice", Mode::Multiclass),
        ("mcc", Mode::Binary),
    ] {
        let ch = if mode == Mode::Binary { 1 } else { 3 };
        let p = problem(mode, &[4, ch, 9, 11], 22);
        let loss = build(spec);
        let values = loss.per_image(&p.batch()).unwrap();
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64;
        let batch = loss.forward(&p.batch()).unwrap() as f64;
        assert!((mean - batch).abs() > 1e-4 * batch.abs(), "{spec}: mean {mean} equals the batch's {batch}");
        for i in 0..4 {
            let one = Problem {
                pred: p.pred.slice_axis(ndarray::Axis(0), (i..i + 1).into()).to_owned(),
                target: match &p.target {
                    segloss::core::OwnedTarget::I64(t) => {
                        segloss::core::OwnedTarget::I64(t.slice_axis(ndarray::Axis(0), (i..i + 1).into()).to_owned())
                    }
                    segloss::core::OwnedTarget::F32(t) => {
                        segloss::core::OwnedTarget::F32(t.slice_axis(ndarray::Axis(0), (i..i + 1).into()).to_owned())
                    }
                    other => panic!("{spec}: labels or float targets expected, got {other:?}"),
                },
                weight: None,
                probabilities: false,
            };
            assert_eq!(values[i], loss.forward(&one.batch()).unwrap(), "{spec}: image {i}");
        }
    }
}

/// The vector-Jacobian product against central differences of `sum_i u_i values_i`, in f64 (the
/// values are f32: steps of 1e-2 on O(1) logits, tolerance 2e-3 relative plus 5e-5).
#[test]
fn the_vjp_matches_central_differences() {
    for (spec, mode) in [("bce+dice", Mode::Binary), ("ce", Mode::Multiclass), ("focal:mode=multilabel", Mode::Multilabel)] {
        let ch = if mode == Mode::Binary { 1 } else { 3 };
        let p = problem(mode, &[3, ch, 3, 4], 23);
        let loss = build(spec);
        let u = Array1::from(vec![0.7f32, -1.3, 2.0]);
        let (_, g) = loss.per_image_backward(&p.batch(), u.view()).unwrap();
        let f = |x: &ArrayD<f32>| -> f64 {
            let q = p.with_pred(x.clone());
            let v = loss.per_image(&q.batch()).unwrap();
            v.iter().zip(u.iter()).map(|(&a, &b)| a as f64 * b as f64).sum()
        };
        let h = 1e-2f32;
        for (k, &gk) in g.iter().enumerate() {
            let (mut up, mut dn) = (p.pred.clone(), p.pred.clone());
            up.as_slice_mut().unwrap()[k] += h;
            dn.as_slice_mut().unwrap()[k] -= h;
            let fd = (f(&up) - f(&dn)) / (2.0 * h as f64);
            assert!((fd - gk as f64).abs() <= 2e-3 * fd.abs() + 5e-5, "{spec}: element {k}: analytic {gk} vs numeric {fd}");
        }
    }
}

#[test]
fn bad_inputs_are_errors_naming_the_shapes() {
    let loss = build("bce");
    let p = problem(Mode::Binary, &[2, 1, 3, 4], 1);
    let e = loss.per_image_backward(&p.batch(), Array1::from(vec![1.0f32; 3]).view()).unwrap_err().to_string();
    assert!(e.contains("upstream has shape [3]") && e.contains("pred has shape [2, 1, 3, 4]"), "{e}");
    let mut g = ArrayD::<f32>::zeros(IxDyn(&[2, 1, 3, 5]));
    let e = loss.per_image_backward_into(&p.batch(), Array1::from(vec![1.0f32; 2]).view(), g.view_mut()).unwrap_err().to_string();
    assert!(e.contains("grad has shape [2, 1, 3, 5]"), "{e}");
    // a target with another batch size
    let t = ArrayD::<f32>::zeros(IxDyn(&[3, 1, 3, 4]));
    let e = loss.per_image(&Batch::new(&p.pred, &t)).unwrap_err().to_string();
    assert!(e.contains("target has shape [3, 1, 3, 4]") && e.contains("pred has shape [2, 1, 3, 4]"), "{e}");
    // an empty batch
    let (pe, te) = (ArrayD::<f32>::zeros(IxDyn(&[0, 1, 3, 4])), ArrayD::<f32>::zeros(IxDyn(&[0, 1, 3, 4])));
    let e = loss.per_image(&Batch::new(&pe, &te)).unwrap_err().to_string();
    assert!(e.contains("empty") && e.contains("[0, 1, 3, 4]"), "{e}");
    // a rank-0 pred
    let (p0, t0) = (ArrayD::<f32>::zeros(IxDyn(&[])), ArrayD::<f32>::zeros(IxDyn(&[])));
    let e = loss.per_image(&Batch::new(&p0, &t0)).unwrap_err().to_string();
    assert!(e.contains("batch axis"), "{e}");
}

/// Relative tolerance of the per-image values against the reference (f32 kernels, f64 reference).
const GOLDEN_VALUE_RTOL: f64 = 1e-5;
/// Tolerance of the vector-Jacobian product, relative to its largest reference element.
const GOLDEN_GRAD_RTOL: f64 = 1e-4;

/// The per-image values and their vector-Jacobian product against the libraries' own
/// `reduction="none"` outputs (`tests/fixtures/per_image.json`, written by
/// `tools/golden/per_image.py`; each case's `python` is the reference line).
#[test]
fn golden_per_image_values_and_vjp() {
    let fx = segloss::core::golden::Fixture::load(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/per_image.json")).unwrap();
    assert!(fx.cases.len() >= 7, "{} cases", fx.cases.len());
    for case in &fx.cases {
        let loss = build(&case.spec);
        // pred and target as a loss case reads them; `upstream` is this fixture's own input
        let inputs = segloss::core::golden::LossInputs {
            pred: case.input("pred").unwrap().to_f32(),
            target: case.input("target").unwrap().to_target(),
            weight: None,
        };
        let u = case.input("upstream").unwrap().to_f32().into_dimensionality::<ndarray::Ix1>().unwrap();
        let (values, grad) = loss.per_image_backward(&inputs.batch(), u.view()).unwrap_or_else(|e| panic!("{}: {e}", case.context()));
        let want = case.expected.map.as_ref().expect("map").to_f64();
        let vmax = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (i, (&v, &w)) in values.iter().zip(want.iter()).enumerate() {
            assert!((v as f64 - w).abs() <= GOLDEN_VALUE_RTOL * vmax, "{}: value {i}: {v} vs {w}", case.context());
        }
        let gw = case.expected.grad.as_ref().expect("grad").to_f64();
        let gmax = gw.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (k, (&g, &w)) in grad.iter().zip(gw.iter()).enumerate() {
            assert!((g as f64 - w).abs() <= GOLDEN_GRAD_RTOL * gmax, "{}: grad element {k}: {g} vs {w}", case.context());
        }
    }
}

/// The registry says each loss's unreduced shape, and `per_image` gives that shape, for every
/// loss at its defaults in each mode it accepts.
#[test]
fn the_registry_states_the_unreduced_shape() {
    for decl in segloss::catalogue() {
        assert_eq!(decl.unreduced(), "[N]", "{}", decl.name);
        for &mode in decl.modes {
            let ch = match (mode, decl.name) {
                (Mode::Binary, _) => 1,
                (Mode::Multiclass, "unified_focal") => 2,
                _ => 3,
            };
            let p = Problem::generate(
                &ProblemConfig::new(mode).shape(&[3, ch, 4, 5]).weight(match decl.weight {
                    segloss::core::WeightUse::Required => segloss::testing::WeightKind::PerElement,
                    _ => segloss::testing::WeightKind::None,
                }),
                3,
            );
            let pairs: Vec<(String, segloss::core::Value)> = decl
                .keys()
                .iter()
                .filter(|k| k.default == "required")
                .map(|k| (k.key.to_string(), segloss::core::Value::Num(2.0)))
                .chain([("mode".to_string(), segloss::core::Value::Word(mode.name().into()))])
                .collect();
            let loss = decl.build_from(pairs).unwrap_or_else(|e| panic!("{} {mode}: {e}", decl.name));
            let values = loss.per_image(&p.batch()).unwrap_or_else(|e| panic!("{} {mode}: {e}", decl.name));
            assert_eq!(Some(values.shape().to_vec()), decl.unreduced_shape(p.pred.shape()), "{} {mode}", decl.name);
        }
    }
}

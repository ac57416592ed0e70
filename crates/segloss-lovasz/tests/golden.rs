//! Golden values from `tools/golden/lovasz.py`: the reference algorithm of
//! bermanmaxim/LovaszSoftmax re-stated in float64 PyTorch (autograd gradients), checked there
//! against segmentation_models_pytorch 0.6 `LovaszLoss` where it applies (binary, multiclass with
//! `classes='present'`, two or more spatial axes; the smp call is the case's `extra.smp`). Every
//! loss is built through the family's registry (`Registry::new(segloss_lovasz::LOSSES)`) from the
//! case's spec (`reduce=image|batch`, the reference's `per_image=True|False`).
//!
//! Tolerances (inputs are tie-free float32 values): value `|v - ref| <= 1e-5 |ref| + 1e-7`,
//! gradient `max |g - ref| <= 1e-4 max |ref|`.

use segloss_core::golden::{check_loss, Case, Fixture, OwnedTarget};
use segloss_core::spec::Combination;
use segloss_core::{Classes, Loss, Reduce, Registry};
use segloss_lovasz::{LovaszHingeConfig, LovaszSoftmaxConfig};

const VALUE_REL: f64 = 1e-5;
const VALUE_ABS: f64 = 1e-7;
const GRAD_REL: f64 = 1e-4;
/// The f64 reference module against the f64 fixture (same algorithm, same precision).
const REFERENCE_TOL: f64 = 1e-12;

fn fixture() -> Fixture {
    Fixture::load(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lovasz.json")).unwrap_or_else(|e| panic!("{e}"))
}

fn build(case: &Case) -> Combination {
    Registry::new(segloss_lovasz::LOSSES).build_str(&case.spec).unwrap_or_else(|e| panic!("{}", case.error(e)))
}

/// The fixture is the script's and covers both losses, both reductions and ignored pixels.
#[test]
fn fixture_covers_the_family() {
    let fx = fixture();
    assert_eq!(fx.generator, "tools/golden/lovasz.py");
    assert!(fx.versions.contains_key("segmentation_models_pytorch"), "{:?}", fx.versions);
    for want in ["lovasz_hinge:reduce=image", "lovasz_hinge:reduce=batch", "lovasz_softmax:classes=present,reduce=image"] {
        assert!(fx.cases.iter().any(|c| c.spec.starts_with(want)), "no case with spec {want}");
    }
    assert!(fx.cases.iter().any(|c| c.spec.contains("ignore_index")));
    assert!(fx.cases.iter().all(|c| c.expected.grad.is_some() && !c.python.is_empty()));
}

#[test]
fn built_losses_match_the_reference_values_and_gradients() {
    let (mut worst_value, mut worst_grad) = (0.0f64, 0.0f64);
    for case in &fixture().cases {
        let loss = build(case);
        let check = check_loss(case, &loss, VALUE_REL, VALUE_ABS, GRAD_REL).unwrap_or_else(|e| panic!("{e}"));
        worst_value = worst_value.max(check.value_rel);
        worst_grad = worst_grad.max(check.grad_rel);
        // forward alone gives the same value, bit for bit
        let inputs = case.loss_inputs().unwrap_or_else(|e| panic!("{e}"));
        let batch = inputs.batch();
        let (v, _) = loss.forward_backward(&batch).unwrap_or_else(|e| panic!("{}", case.error(e)));
        assert_eq!(loss.forward(&batch).unwrap().to_bits(), v.to_bits(), "{}", case.context());
    }
    eprintln!("golden: worst |v - ref| / |ref| = {worst_value:e}, worst max|g - ref| / max|ref| = {worst_grad:e}");
}

/// The generic reference module (used by the property tests) reproduces the fixture in f64,
/// with the keys of the built loss's typed config.
#[test]
fn reference_module_matches_the_fixture() {
    for case in &fixture().cases {
        let loss = build(case);
        let config = loss.terms().next().and_then(|(_, l)| l.config()).expect("a typed config");
        let inputs = case.loss_inputs().unwrap_or_else(|e| panic!("{e}"));
        let ps = inputs.pred.shape().to_vec();
        let (n, c) = (ps[0], ps[1]);
        let s: usize = ps[2..].iter().product();
        let x: Vec<f64> = inputs.pred.iter().map(|&v| v as f64).collect();
        let (v, g) = if let Some(k) = config.downcast_ref::<LovaszHingeConfig>() {
            let y: Vec<f64> = match &inputs.target {
                OwnedTarget::F32(t) => t.iter().map(|&v| v as f64).collect(),
                OwnedTarget::I64(t) => t.iter().map(|&v| v as f64).collect(),
                other => panic!("{}", case.error(format!("unexpected target {other:?}"))),
            };
            let ignore = k.ignore_index.map(|i| i as f64);
            segloss_lovasz::reference::lovasz_hinge(&x, &y, n, c, s, k.reduce == Reduce::Image, ignore)
        } else {
            let k = config.downcast_ref::<LovaszSoftmaxConfig>().expect("a Lovász config");
            let labels: Vec<i64> =
                case.input("target").and_then(|t| t.to_i64()).unwrap_or_else(|e| panic!("{e}")).iter().copied().collect();
            let all = k.classes == Classes::All;
            segloss_lovasz::reference::lovasz_softmax(&x, &labels, n, c, s, all, k.reduce == Reduce::Image, k.ignore_index, k.from_logits)
        };
        let want = case.expected.value.expect("value");
        assert!((v - want).abs() <= REFERENCE_TOL * want.abs().max(1.0), "{}: {v} vs {want}", case.context());
        let want_g = &case.expected.grad.as_ref().expect("grad").data;
        let diff = g.iter().zip(want_g).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(diff <= REFERENCE_TOL, "{}: reference grad differs by {diff}", case.context());
    }
}

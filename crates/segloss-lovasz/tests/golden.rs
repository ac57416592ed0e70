//! Golden values from `tools/golden/lovasz.py`: the reference algorithm of
//! bermanmaxim/LovaszSoftmax re-stated in float64 PyTorch (autograd gradients), checked there
//! against segmentation_models_pytorch 0.6 `LovaszLoss` where it applies (binary, multiclass with
//! `classes='present'`, two or more spatial axes). Every loss is built through the family's
//! registry (`Registry::new(segloss_lovasz::LOSSES)`) from the fixture's spec keys (`per_image`
//! there is the old name of `reduce`, so the alias is exercised too).
//!
//! Tolerances (inputs are tie-free float32 values): value `|v - ref| <= 1e-5 |ref| + 1e-7`,
//! gradient `max |g - ref| <= 1e-4 max |ref|`.

use ndarray::{ArrayD, IxDyn};
use segloss_core::{Batch, Registry, Value};
use serde_json::Value as J;

const VALUE_REL: f64 = 1e-5;
const VALUE_ABS: f64 = 1e-7;
const GRAD_REL: f64 = 1e-4;
/// The f64 reference module against the f64 fixture (same algorithm, same precision).
const REFERENCE_TOL: f64 = 1e-12;

/// Every case of the fixture with the Python line that produced it (`x`/`z` the logits, `y` the
/// targets; `lovasz_hinge_multilabel` is the script's per-(image, channel) problem split).
const CASES: &[(&str, &str)] = &[
    ("hinge_binary_per_image", "lovasz_hinge(x, y, per_image=True, ignore=None)"),
    ("hinge_binary_batch", "lovasz_hinge(x, y, per_image=False, ignore=None)"),
    ("hinge_binary_nchw_target_nhw_int", "lovasz_hinge(x, y, per_image=True, ignore=None)"),
    ("hinge_no_positive_image", "lovasz_hinge(x, y, per_image=True, ignore=None)"),
    ("hinge_ignore_255_int", "lovasz_hinge(x, y, per_image=True, ignore=255)"),
    ("hinge_ignore_batch_float_minus1", "lovasz_hinge(x, y, per_image=False, ignore=-1)"),
    ("hinge_all_ignored_image", "lovasz_hinge(x, y, per_image=True, ignore=255)"),
    ("hinge_3d", "lovasz_hinge(x, y, per_image=True, ignore=None)"),
    ("hinge_3d_batch", "lovasz_hinge(x, y, per_image=False, ignore=None)"),
    ("hinge_multilabel_per_image", "lovasz_hinge_multilabel(x, y, per_image=True, ignore=None)"),
    ("hinge_multilabel_batch", "lovasz_hinge_multilabel(x, y, per_image=False, ignore=None)"),
    ("hinge_multilabel_ignore", "lovasz_hinge_multilabel(x, y, per_image=True, ignore=255)"),
    ("softmax_present_batch", "lovasz_softmax(softmax(z, 1), labels, classes='present', per_image=False, ignore=None)"),
    ("softmax_present_absent_class", "lovasz_softmax(softmax(z, 1), labels, classes='present', per_image=False, ignore=None)"),
    ("softmax_all_absent_class", "lovasz_softmax(softmax(z, 1), labels, classes='all', per_image=False, ignore=None)"),
    ("softmax_present_per_image", "lovasz_softmax(softmax(z, 1), labels, classes='present', per_image=True, ignore=None)"),
    ("softmax_all_per_image", "lovasz_softmax(softmax(z, 1), labels, classes='all', per_image=True, ignore=None)"),
    ("softmax_ignore_255", "lovasz_softmax(softmax(z, 1), labels, classes='present', per_image=False, ignore=255)"),
    ("softmax_all_ignored_image_per_image", "lovasz_softmax(softmax(z, 1), labels, classes='present', per_image=True, ignore=255)"),
    ("softmax_all_ignored_image_batch", "lovasz_softmax(softmax(z, 1), labels, classes='present', per_image=False, ignore=255)"),
    ("softmax_ignore_class_0", "lovasz_softmax(softmax(z, 1), labels, classes='all', per_image=False, ignore=0)"),
    ("softmax_3d", "lovasz_softmax(softmax(z, 1), labels, classes='present', per_image=False, ignore=None)"),
    ("softmax_3d_per_image_all", "lovasz_softmax(softmax(z, 1), labels, classes='all', per_image=True, ignore=None)"),
    ("softmax_probabilities", "lovasz_softmax(p, labels, classes='present', per_image=False, ignore=None)"),
    ("softmax_probabilities_per_image_all", "lovasz_softmax(p, labels, classes='all', per_image=True, ignore=None)"),
    ("softmax_1d", "lovasz_softmax(softmax(z, 1), labels, classes='present', per_image=False, ignore=None)"),
];

fn fixture() -> J {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lovasz.json")).expect("fixture");
    serde_json::from_str(&text).expect("json")
}

fn shape(v: &J) -> Vec<usize> {
    v.as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect()
}

fn floats(v: &J) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|d| d.as_f64().unwrap()).collect()
}

fn params(case: &J) -> Vec<(String, Value)> {
    case["params"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let val = match v {
                J::Bool(b) => Value::Bool(*b),
                J::Number(n) => Value::Num(n.as_f64().unwrap()),
                J::String(s) => Value::Word(s.clone()),
                other => panic!("unexpected parameter {other}"),
            };
            (k.clone(), val)
        })
        .collect()
}

struct Case {
    name: String,
    loss: String,
    pred: ArrayD<f32>,
    target_f32: Option<ArrayD<f32>>,
    target_i64: Option<ArrayD<i64>>,
    value: f64,
    grad: Vec<f64>,
    raw: J,
}

fn cases() -> Vec<Case> {
    let doc = fixture();
    doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let ps = shape(&c["pred_shape"]);
            let ts = shape(&c["target_shape"]);
            let pred = ArrayD::from_shape_vec(IxDyn(&ps), floats(&c["pred"]).iter().map(|&v| v as f32).collect()).unwrap();
            let t = floats(&c["target"]);
            let (target_f32, target_i64) = if c["target_dtype"] == "f32" {
                (Some(ArrayD::from_shape_vec(IxDyn(&ts), t.iter().map(|&v| v as f32).collect()).unwrap()), None)
            } else {
                (None, Some(ArrayD::from_shape_vec(IxDyn(&ts), t.iter().map(|&v| v as i64).collect()).unwrap()))
            };
            Case {
                name: c["name"].as_str().unwrap().to_string(),
                loss: c["loss"].as_str().unwrap().to_string(),
                pred,
                target_f32,
                target_i64,
                value: c["value"].as_f64().unwrap(),
                grad: floats(&c["grad"]),
                raw: c.clone(),
            }
        })
        .collect()
}

#[test]
fn fixture_lists_the_python_calls() {
    let all = cases();
    assert_eq!(all.len(), CASES.len(), "the fixture and CASES disagree on the number of cases");
    for (case, (name, python)) in all.iter().zip(CASES) {
        assert_eq!(case.name, *name);
        assert_eq!(case.raw["python"].as_str().unwrap(), *python, "{name}");
    }
}

#[test]
fn built_losses_match_the_reference_values_and_gradients() {
    let (mut worst_value, mut worst_grad) = (0.0f64, 0.0f64);
    let registry = Registry::new(segloss_lovasz::LOSSES);
    for case in cases() {
        let loss = registry.build_one(&case.loss, params(&case.raw)).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let batch = match (&case.target_f32, &case.target_i64) {
            (Some(t), _) => Batch::new(&case.pred, t),
            (_, Some(t)) => Batch::new(&case.pred, t),
            _ => unreachable!(),
        };
        let (v, g) = loss.forward_backward(&batch).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let tol = VALUE_REL * case.value.abs() + VALUE_ABS;
        assert!((v as f64 - case.value).abs() <= tol, "{}: value {v} vs reference {} (tolerance {tol})", case.name, case.value);
        let scale = case.grad.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let diff = g.iter().zip(&case.grad).fold(0.0f64, |m, (a, b)| m.max((*a as f64 - b).abs()));
        assert!(diff <= GRAD_REL * scale, "{}: max |grad - ref| = {diff} > {GRAD_REL} * {scale}", case.name);
        worst_value = worst_value.max((v as f64 - case.value).abs() / case.value.abs());
        worst_grad = worst_grad.max(diff / scale);
        // forward alone gives the same value
        assert_eq!(loss.forward(&batch).unwrap().to_bits(), v.to_bits(), "{}", case.name);
    }
    eprintln!("golden: worst |v - ref| / |ref| = {worst_value:e}, worst max|g - ref| / max|ref| = {worst_grad:e}");
}

/// The generic reference module (used by the property tests) reproduces the fixture in f64.
#[test]
fn reference_module_matches_the_fixture() {
    for case in cases() {
        let ps = case.pred.shape().to_vec();
        let (n, c) = (ps[0], ps[1]);
        let s: usize = ps[2..].iter().product();
        let x: Vec<f64> = case.pred.iter().map(|&v| v as f64).collect();
        let p = &case.raw["params"];
        let per_image = p["per_image"].as_bool().unwrap();
        let ignore = p.get("ignore_index").and_then(|v| v.as_i64());
        let (v, g) = if case.loss == "lovasz_hinge" {
            let y: Vec<f64> = match (&case.target_f32, &case.target_i64) {
                (Some(t), _) => t.iter().map(|&v| v as f64).collect(),
                (_, Some(t)) => t.iter().map(|&v| v as f64).collect(),
                _ => unreachable!(),
            };
            segloss_lovasz::reference::lovasz_hinge(&x, &y, n, c, s, per_image, ignore.map(|i| i as f64))
        } else {
            let labels: Vec<i64> = case.target_i64.as_ref().unwrap().iter().copied().collect();
            let all = p["classes"] == "all";
            let from_logits = p["from_logits"].as_bool().unwrap();
            segloss_lovasz::reference::lovasz_softmax(&x, &labels, n, c, s, all, per_image, ignore, from_logits)
        };
        assert!((v - case.value).abs() <= REFERENCE_TOL * case.value.abs().max(1.0), "{}: {v} vs {}", case.name, case.value);
        let diff = g.iter().zip(&case.grad).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(diff <= REFERENCE_TOL, "{}: reference grad differs by {diff}", case.name);
    }
}

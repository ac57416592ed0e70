//! Golden values of the cross-entropy family (`bce`, `wce`, `balanced_ce`, `focal`,
//! `distance_bce`, `ce`) against the anchors of `LOSSES.md`: torch, Keras 3 (torch backend),
//! torchvision, MONAI, and float64 torch re-statements of the origin write-up's formulas.
//!
//! The fixture `tests/fixtures/xent.json` is written by `tools/golden/xent.py`
//! (`KERAS_BACKEND=torch /work/venv/py/bin/python tools/golden/xent.py`). Each case carries its
//! spec string, the Python expression that produced its reference (`python`, evaluated verbatim
//! in float64 torch on the float32 inputs; `grad` is its autograd gradient with respect to
//! `pred`), and, for re-statements, the library call it was checked against (`anchor`).
//! A failure prints the case name, the spec and that Python line.
//!
//! Every case must hold both tolerances:
//! `|value - ref| <= VALUE_RTOL |ref| + VALUE_ATOL` and
//! `max |grad - ref_grad| <= GRAD_RTOL max |ref_grad|`.

use ndarray::{ArrayD, IxDyn};
use segloss::{Batch, Loss, LossSpec};
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::BTreeSet;

/// Relative tolerance of the loss value.
const VALUE_RTOL: f64 = 1e-5;
/// Absolute tolerance of the loss value (for values near 0).
const VALUE_ATOL: f64 = 1e-7;
/// Tolerance of the gradient, relative to the largest reference gradient element.
const GRAD_RTOL: f64 = 1e-4;

const FIXTURE: &str = include_str!("fixtures/xent.json");

/// The losses of the family: each must have golden cases.
const FAMILY: [&str; 6] = ["bce", "wce", "balanced_ce", "focal", "distance_bce", "ce"];

fn fixture() -> Value {
    serde_json::from_str(FIXTURE).expect("tests/fixtures/xent.json is valid JSON")
}

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value, String> {
    v.get(key).ok_or_else(|| format!("missing field `{key}`"))
}

fn text<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    field(v, key)?.as_str().ok_or_else(|| format!("field `{key}` is not a string"))
}

fn shape(t: &Value) -> Result<Vec<usize>, String> {
    field(t, "shape")?
        .as_array()
        .ok_or("shape is not an array")?
        .iter()
        .map(|d| d.as_u64().map(|d| d as usize).ok_or_else(|| format!("bad dimension {d}")))
        .collect()
}

fn numbers(v: &Value) -> Result<Vec<f64>, String> {
    v.as_array().ok_or("data is not an array")?.iter().map(|x| x.as_f64().ok_or_else(|| format!("bad number {x}"))).collect()
}

/// Float32 data, stored with 9 significant digits (which round-trips float32 exactly).
fn f32_array(t: &Value) -> Result<ArrayD<f32>, String> {
    let data: Vec<f32> = numbers(field(t, "data")?)?.into_iter().map(|x| x as f32).collect();
    ArrayD::from_shape_vec(IxDyn(&shape(t)?), data).map_err(|e| e.to_string())
}

fn int_data(t: &Value) -> Result<Vec<i64>, String> {
    field(t, "data")?.as_array().ok_or("data is not an array")?.iter().map(|x| x.as_i64().ok_or_else(|| format!("bad label {x}"))).collect()
}

/// Runs `forward_backward` and `forward` on one batch.
fn eval<'a>(loss: &dyn Loss, batch: Batch<'a>, weight: Option<&'a ArrayD<f32>>) -> Result<(f32, ArrayD<f32>, f32), String> {
    let batch = match weight {
        Some(w) => batch.with_weight(w),
        None => batch,
    };
    let (v, g) = loss.forward_backward(&batch).map_err(|e| format!("forward_backward failed: {e}"))?;
    let f = loss.forward(&batch).map_err(|e| format!("forward failed: {e}"))?;
    Ok((v, g, f))
}

/// Evaluates one case: (forward_backward value, its gradient, forward value).
fn run(case: &Value) -> Result<(f32, ArrayD<f32>, f32), String> {
    let spec = text(case, "spec")?;
    let loss = LossSpec::parse(spec).and_then(|s| s.build()).map_err(|e| format!("spec {spec:?} does not build: {e}"))?;
    let pred = f32_array(field(case, "pred")?)?;
    let t = field(case, "target")?;
    let weight = case.get("weight").map(f32_array).transpose()?;
    let tshape = shape(t)?;
    match text(t, "dtype")? {
        "f32" => {
            let target = f32_array(t)?;
            eval(&loss, Batch::new(&pred, &target), weight.as_ref())
        }
        "u8" => {
            let data = int_data(t)?
                .into_iter()
                .map(|l| u8::try_from(l).map_err(|_| format!("label {l} is not a u8")))
                .collect::<Result<Vec<u8>, String>>()?;
            let target = ArrayD::from_shape_vec(IxDyn(&tshape), data).map_err(|e| e.to_string())?;
            eval(&loss, Batch::new(&pred, &target), weight.as_ref())
        }
        "i64" => {
            let target = ArrayD::from_shape_vec(IxDyn(&tshape), int_data(t)?).map_err(|e| e.to_string())?;
            eval(&loss, Batch::new(&pred, &target), weight.as_ref())
        }
        other => Err(format!("unknown target dtype {other:?}")),
    }
}

fn value_ok(v: f64, reference: f64) -> bool {
    (v - reference).abs() <= VALUE_RTOL * reference.abs() + VALUE_ATOL
}

/// Checks one case. `Ok` holds the errors as fractions of their tolerances (value, gradient);
/// `Err` says what disagrees.
fn check(case: &Value) -> Result<(f64, f64), String> {
    let (value, grad, fwd) = run(case)?;
    let reference = field(case, "value")?.as_f64().ok_or("value is not a number")?;
    let ref_grad = numbers(field(case, "grad")?)?;
    let pred_shape = shape(field(case, "pred")?)?;
    let mut problems = Vec::new();
    let value_margin = (value as f64 - reference).abs() / (VALUE_RTOL * reference.abs() + VALUE_ATOL);
    let mut grad_margin = f64::INFINITY;
    if !value_ok(value as f64, reference) {
        problems.push(format!(
            "value {value:e} vs reference {reference:e}: |diff| = {:e} > {VALUE_RTOL:e} |ref| + {VALUE_ATOL:e}",
            (value as f64 - reference).abs()
        ));
    }
    if !value_ok(fwd as f64, reference) {
        problems.push(format!("forward() value {fwd:e} vs reference {reference:e}"));
    }
    if grad.shape() != pred_shape.as_slice() || ref_grad.len() != grad.len() {
        problems.push(format!("gradient shape {:?}, pred shape {pred_shape:?}, {} reference values", grad.shape(), ref_grad.len()));
    } else {
        let scale = ref_grad.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        let (worst, diff) = grad
            .iter()
            .zip(&ref_grad)
            .map(|(&g, &r)| if g.is_finite() { (g as f64 - r).abs() } else { f64::INFINITY })
            .enumerate()
            .fold((0, 0.0f64), |(wi, wd), (i, d)| if d > wd { (i, d) } else { (wi, wd) });
        grad_margin = if diff == 0.0 { 0.0 } else { diff / (GRAD_RTOL * scale) };
        // NaN compares as neither: a failure
        if !matches!(diff.partial_cmp(&(GRAD_RTOL * scale)), Some(Ordering::Less | Ordering::Equal)) {
            let got = grad.iter().nth(worst).copied().unwrap_or(f32::NAN);
            problems.push(format!(
                "gradient: max |diff| = {diff:e} > {GRAD_RTOL:e} * max |ref| = {:e}; worst at flat index {worst} \
                 (multi-index {:?}): {got:e} vs reference {:e}",
                GRAD_RTOL * scale,
                unravel(worst, &pred_shape),
                ref_grad[worst]
            ));
        }
    }
    if problems.is_empty() {
        Ok((value_margin, grad_margin))
    } else {
        Err(problems.join("\n    "))
    }
}

fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (k, &d) in shape.iter().enumerate().rev() {
        idx[k] = i % d.max(1);
        i /= d.max(1);
    }
    idx
}

fn cases(fx: &Value) -> &Vec<Value> {
    fx.get("cases").and_then(Value::as_array).expect("the fixture has a `cases` array")
}

/// Every case of the fixture holds both tolerances against its reference.
#[test]
fn golden_values_and_gradients() {
    let fx = fixture();
    let mut failures = Vec::new();
    let mut margins = Vec::new();
    for case in cases(&fx) {
        let name = case.get("name").and_then(Value::as_str).unwrap_or("(unnamed)");
        match check(case) {
            Ok((v, g)) => margins.push((v.max(g), v, g, name)),
            Err(e) => {
                let spec = case.get("spec").and_then(Value::as_str).unwrap_or("?");
                let python = case.get("python").and_then(Value::as_str).unwrap_or("?");
                let mut msg = format!("case {name} (spec {spec:?})\n    python: {python}");
                if let Some(a) = case.get("anchor").and_then(Value::as_str) {
                    msg.push_str(&format!("\n    anchor: {a}"));
                }
                msg.push_str(&format!("\n    {e}"));
                failures.push(msg);
            }
        }
    }
    // The closest calls, for `--nocapture` readers: error / tolerance of value and gradient.
    margins.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (_, v, g, name) in margins.iter().take(8) {
        eprintln!("closest: {name}: value error {v:.3} of its tolerance, gradient error {g:.3} of its tolerance");
    }
    if !failures.is_empty() {
        panic!("{} of {} golden cases failed:\n{}", failures.len(), cases(&fx).len(), failures.join("\n"));
    }
}

/// The fixture is the one this test expects: its tolerances are ours, and it covers every loss of
/// the family, every reduction, every target dtype, weights, probabilities and 3D inputs (so the
/// golden test cannot pass on an empty or truncated fixture).
#[test]
fn fixture_covers_the_family() {
    let fx = fixture();
    let tol = fx.get("tolerance").expect("tolerance header");
    assert_eq!(tol["value_rtol"].as_f64(), Some(VALUE_RTOL));
    assert_eq!(tol["value_atol"].as_f64(), Some(VALUE_ATOL));
    assert_eq!(tol["grad_rtol_of_max"].as_f64(), Some(GRAD_RTOL));
    for lib in ["torch", "torchvision", "monai", "keras", "scipy"] {
        assert!(fx["versions"][lib].is_string(), "the header records the {lib} version");
    }
    let cases = cases(&fx);
    let mut names = BTreeSet::new();
    let mut losses = BTreeSet::new();
    let mut dtypes = BTreeSet::new();
    let (mut sum, mut none, mut weighted, mut probs, mut three_d, mut no_channel, mut large) = (0, 0, 0, 0, 0, 0, 0);
    for c in cases {
        let name = c["name"].as_str().expect("name");
        assert!(names.insert(name), "case name {name} repeats");
        let spec = c["spec"].as_str().expect("spec");
        assert!(c["python"].as_str().is_some_and(|p| !p.is_empty()), "case {name} has its Python line");
        losses.insert(spec.split(':').next().unwrap_or("").to_string());
        dtypes.insert(c["target"]["dtype"].as_str().expect("dtype").to_string());
        sum += spec.contains("reduction=sum") as usize;
        none += spec.contains("reduction=none") as usize;
        probs += spec.contains("from_logits=false") as usize;
        no_channel += (spec.contains("mode=binary") && c["pred"]["shape"].as_array().is_some_and(|s| s.len() == 3)) as usize;
        weighted += c.get("weight").is_some() as usize;
        three_d += (c["pred"]["shape"].as_array().map_or(0, Vec::len) == 5) as usize;
        large += c["pred"]["data"].as_array().is_some_and(|d| d.iter().any(|x| x.as_f64().is_some_and(|x| x.abs() >= 1e4))) as usize;
    }
    for loss in FAMILY {
        assert!(losses.contains(loss), "no golden case for {loss}");
    }
    for d in ["f32", "u8", "i64"] {
        assert!(dtypes.contains(d), "no golden case with {d} targets");
    }
    assert!(cases.len() >= 80, "only {} cases", cases.len());
    assert!(sum >= 5 && none >= 5 && probs >= 5 && no_channel >= 2 && weighted >= 10 && three_d >= 5 && large >= 5);
}

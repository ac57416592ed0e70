//! Golden values of the cross-entropy family (`bce`, `wce`, `balanced_ce`, `focal`,
//! `distance_bce`, `ce`) against the anchors of `docs/LOSSES.md`: torch, Keras 3 (torch backend),
//! torchvision, MONAI, and float64 torch re-statements of the origin write-up's formulas.
//!
//! The fixture `tests/fixtures/xent.json` is written by `tools/golden/xent.py`
//! (`KERAS_BACKEND=torch /work/venv/py/bin/python tools/golden/xent.py`). Each case carries its
//! spec string, the Python expression that produced its reference (`python`, evaluated verbatim
//! in float64 torch on the float32 inputs; `grad` is its autograd gradient with respect to
//! `pred`), and, for re-statements, the library call it was checked against (`extra.anchor`).
//! A failure prints the case name, the spec, that Python line and the anchor.
//!
//! Every case must hold both tolerances:
//! `|value - ref| <= VALUE_RTOL |ref| + VALUE_ATOL` and
//! `max |grad - ref_grad| <= GRAD_RTOL max |ref_grad|`.

use segloss::LossSpec;
use segloss_core::golden::{check_loss, DType, Fixture};
use std::collections::BTreeSet;

/// Relative tolerance of the loss value.
const VALUE_RTOL: f64 = 1e-5;
/// Absolute tolerance of the loss value (for values near 0).
const VALUE_ATOL: f64 = 1e-7;
/// Tolerance of the gradient, relative to the largest reference gradient element.
const GRAD_RTOL: f64 = 1e-4;

/// The losses of the family: each must have golden cases.
const FAMILY: [&str; 6] = ["bce", "wce", "balanced_ce", "focal", "distance_bce", "ce"];

fn fixture() -> Fixture {
    Fixture::load(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/xent.json")).unwrap_or_else(|e| panic!("{e}"))
}

/// Every case of the fixture holds both tolerances against its reference.
#[test]
fn golden_values_and_gradients() {
    let fx = fixture();
    let mut failures = Vec::new();
    let mut margins = Vec::new();
    for case in &fx.cases {
        let loss = match LossSpec::parse(&case.spec).and_then(|s| s.build()) {
            Ok(l) => l,
            Err(e) => {
                failures.push(case.error(format!("the spec does not build: {e}")));
                continue;
            }
        };
        match check_loss(case, &loss, VALUE_RTOL, VALUE_ATOL, GRAD_RTOL) {
            Ok(c) => margins.push((c.margin(), c.value_margin, c.grad_margin, case.name.as_str())),
            Err(e) => failures.push(e),
        }
    }
    // The closest calls, for `--nocapture` readers: error / tolerance of value and gradient.
    margins.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (_, v, g, name) in margins.iter().take(8) {
        eprintln!("closest: {name}: value error {v:.3} of its tolerance, gradient error {g:.3} of its tolerance");
    }
    if !failures.is_empty() {
        panic!("{} of {} golden cases failed:\n{}", failures.len(), fx.cases.len(), failures.join("\n"));
    }
}

/// The fixture is the one this test expects: its tolerances are ours, and it covers every loss of
/// the family, every reduction, every target dtype, weights, probabilities and 3D inputs (so the
/// golden test cannot pass on an empty or truncated fixture).
#[test]
fn fixture_covers_the_family() {
    let fx = fixture();
    assert!(fx.generator.starts_with("tools/golden/xent.py"), "{}", fx.generator);
    let tol = fx.extra.get("tolerance").expect("the script's tolerances in `extra`");
    assert_eq!(tol["value_rtol"].as_f64(), Some(VALUE_RTOL));
    assert_eq!(tol["value_atol"].as_f64(), Some(VALUE_ATOL));
    assert_eq!(tol["grad_rtol_of_max"].as_f64(), Some(GRAD_RTOL));
    for lib in ["torch", "torchvision", "monai", "keras", "scipy"] {
        assert!(fx.versions.contains_key(lib), "the header records the {lib} version");
    }
    let mut losses = BTreeSet::new();
    let mut dtypes = BTreeSet::new();
    let (mut sum, mut none, mut weighted, mut probs, mut three_d, mut no_channel, mut large) = (0, 0, 0, 0, 0, 0, 0);
    // class-probability targets with a per-pixel weight, [N, *S] and [N, 1, *S]
    let mut soft_weighted = BTreeSet::new();
    for c in &fx.cases {
        let spec = c.spec.as_str();
        let pred = c.input("pred").unwrap_or_else(|e| panic!("{e}"));
        assert!(!c.python.is_empty(), "case {} has its Python line", c.name);
        assert!(c.expected.value.is_some() && c.expected.grad.is_some(), "case {} has a value and a gradient", c.name);
        losses.insert(spec.split(':').next().unwrap_or("").to_string());
        dtypes.insert(c.input("target").unwrap_or_else(|e| panic!("{e}")).dtype);
        sum += spec.contains("reduction=sum") as usize;
        none += spec.contains("reduction=none") as usize;
        probs += spec.contains("from_logits=false") as usize;
        no_channel += (spec.contains("mode=binary") && pred.shape.len() == 3) as usize;
        weighted += c.inputs.contains_key("weight") as usize;
        let target = c.input("target").unwrap_or_else(|e| panic!("{e}"));
        if let (Some(w), true) = (c.inputs.get("weight"), spec.starts_with("ce") && target.shape == pred.shape) {
            soft_weighted.insert(if w.shape.len() < pred.shape.len() { "[N, *S]" } else { "[N, 1, *S]" });
        }
        three_d += (pred.shape.len() == 5) as usize;
        large += pred.data.iter().any(|x| x.abs() >= 1e4) as usize;
    }
    for loss in FAMILY {
        assert!(losses.contains(loss), "no golden case for {loss}");
    }
    for d in [DType::F32, DType::U8, DType::I64] {
        assert!(dtypes.contains(&d), "no golden case with {d} targets");
    }
    assert!(fx.cases.len() >= 80, "only {} cases", fx.cases.len());
    assert!(sum >= 5 && none >= 5 && probs >= 5 && no_channel >= 2 && weighted >= 10 && three_d >= 5 && large >= 5);
    assert_eq!(soft_weighted, BTreeSet::from(["[N, *S]", "[N, 1, *S]"]), "ce on class probabilities with each per-pixel weight shape");
}

//! The loader on small inline fixtures.

use super::*;
use crate::input::contiguous;
use crate::Loss;
use crate::Result as LossResult;

const TINY: &str = r#"{
    "generator": "tools/golden/tiny.py",
    "versions": {"python": "3.11.7", "numpy": "2.4.6"},
    "extra": {"note": "a test"},
    "cases": [
        {"name": "half_sq", "spec": "half_sq", "python": "0.5 * ((x - y) ** 2).mean()",
         "inputs": {"pred": {"shape": [2, 2], "dtype": "float32", "data": [1, 2.5, -1, 0.1]},
                    "target": {"shape": [2, 2], "dtype": "float32", "data": [0, 2, 1, 0.1]}},
         "expected": {"value": 0.65625, "grad": {"shape": [2, 2], "dtype": "float64", "data": [0.25, 0.125, -0.5, 0]}},
         "extra": {"anchor": "torch.nn.functional.mse_loss(x, y) / 2"}},
        {"name": "labels", "spec": "label:connectivity=4", "python": "ndimage.label(mask)",
         "inputs": {"mask": {"shape": [1, 3], "dtype": "uint8", "data": [1, 0, 1]},
                    "labels": {"shape": [3], "dtype": "int64", "data": [-100, 0, 255]}},
         "expected": {"value": 2, "map": {"shape": [1, 3], "dtype": "int32", "data": [1, 0, 2]}}}
    ]}"#;

/// `0.5 * mean((pred - target)^2)` on float targets.
#[derive(Debug)]
struct HalfSq;

impl Loss for HalfSq {
    fn name(&self) -> &'static str {
        "half_sq"
    }
    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> LossResult<f32> {
        let x = contiguous(&batch.pred);
        let t = batch.target.floats().expect("float target");
        let n = x.len() as f32;
        if let Some(g) = grad {
            for ((g, a), b) in g.iter_mut().zip(x.iter()).zip(t.iter()) {
                *g = upstream * (a - b) / n;
            }
        }
        Ok(x.iter().zip(t.iter()).map(|(a, b)| 0.5 * (a - b) * (a - b)).sum::<f32>() / n)
    }
}

fn tiny() -> Fixture {
    Fixture::parse(TINY, "tiny.json").unwrap()
}

#[test]
fn parses_the_format() {
    let fx = tiny();
    assert_eq!(fx.generator, "tools/golden/tiny.py");
    assert_eq!(fx.versions["numpy"], "2.4.6");
    assert_eq!(fx.extra["note"], "a test");
    assert_eq!(fx.cases.len(), 2);
    let c = &fx.cases[0];
    assert_eq!((c.name.as_str(), c.spec.as_str(), c.file.as_str()), ("half_sq", "half_sq", "tiny.json"));
    assert_eq!(c.expected.value, Some(0.65625));
    assert_eq!(c.expected.grad.as_ref().unwrap().dtype, DType::F64);
    assert!(c.expected.map.is_none());
    assert_eq!(c.extra["anchor"], "torch.nn.functional.mse_loss(x, y) / 2");
    assert!(c.context().contains("anchor: torch.nn.functional.mse_loss"));
    let pred = c.input("pred").unwrap().to_f32();
    assert_eq!(pred.shape(), &[2, 2]);
    assert_eq!(pred[[1, 1]], 0.1f32);
    let l = fx.case("labels").unwrap();
    assert_eq!(l.expected.value, Some(2.0));
    assert!(l.extra.is_empty());
    assert_eq!(l.input("mask").unwrap().to_u8().unwrap().into_raw_vec_and_offset().0, vec![1, 0, 1]);
    assert_eq!(l.expected.map.as_ref().unwrap().to_i64().unwrap().shape(), &[1, 3]);
    let err = l.input("pred").unwrap_err();
    assert!(err.contains("tiny.json: case labels") && err.contains("no input `pred`"), "{err}");
}

#[test]
fn converts_by_dtype() {
    let fx = tiny();
    let labels = fx.cases[1].input("labels").unwrap();
    assert_eq!(labels.to_i64().unwrap().into_raw_vec_and_offset().0, vec![-100, 0, 255]);
    assert!(labels.to_u8().unwrap_err().contains("-100"));
    assert_eq!(labels.to_target(), OwnedTarget::I64(labels.to_i64().unwrap()));
    let mask = fx.cases[1].input("mask").unwrap();
    assert!(matches!(mask.to_target(), OwnedTarget::U8(_)));
    assert_eq!(mask.to_target().view().dtype(), "u8");
    let pred = fx.cases[0].input("pred").unwrap();
    assert!(pred.to_i64().unwrap_err().contains("float32"));
    assert!(matches!(pred.to_target(), OwnedTarget::F32(_)));
    let i32s = Tensor::new(vec![2], DType::I32, vec![3.0, -4.0]).unwrap();
    assert_eq!(i32s.to_target().view().dtype(), "i32");
    assert_eq!(fx.cases[1].expected.map.as_ref().unwrap().to_i32().unwrap().into_raw_vec_and_offset().0, vec![1, 0, 2]);
}

#[test]
fn builds_the_batch() {
    let fx = tiny();
    let inputs = fx.cases[0].loss_inputs().unwrap();
    let b = inputs.batch();
    assert_eq!(b.pred.shape(), &[2, 2]);
    assert!(!b.target.is_integer() && b.weight.is_none());
    // the distance case has no `pred`: not a loss case
    let err = fx.cases[1].loss_inputs().unwrap_err();
    assert!(err.contains("unexpected input"), "{err}");
}

#[test]
fn check_loss_passes_and_reports_the_worst_element() {
    let fx = tiny();
    let ok = check_loss(&fx.cases[0], &HalfSq, 1e-6, 0.0, 1e-6).unwrap();
    assert!(ok.margin() < 1.0, "{ok:?}");
    let mut bad = fx.cases[0].clone();
    bad.expected.grad.as_mut().unwrap().data[2] = -0.4;
    let err = check_loss(&bad, &HalfSq, 1e-6, 0.0, 1e-6).unwrap_err();
    assert!(err.starts_with("tiny.json: case half_sq (spec \"half_sq\")"), "{err}");
    assert!(err.contains("python: 0.5 * ((x - y) ** 2).mean()"), "{err}");
    assert!(err.contains("flat index 2 (multi-index [1, 0]): got -5e-1, want -4e-1"), "{err}");
    let mut bad = fx.cases[0].clone();
    bad.expected.value = Some(0.7);
    let err = check_loss(&bad, &HalfSq, 1e-6, 0.0, 1e-6).unwrap_err();
    assert!(err.contains("value 6.5625e-1 vs reference 7e-1"), "{err}");
    assert!(err.contains("forward() value"), "{err}");
}

fn parse_err(text: &str) -> String {
    Fixture::parse(text, "bad.json").unwrap_err()
}

fn with_case(case: &str) -> String {
    format!(r#"{{"generator": "g", "versions": {{}}, "cases": [{case}]}}"#)
}

#[test]
fn rejects_malformed_fixtures() {
    let t = |shape: &str, dtype: &str, data: &str| format!(r#"{{"shape": {shape}, "dtype": "{dtype}", "data": {data}}}"#);
    let case = |name: &str, input: String| {
        format!(r#"{{"name": "{name}", "spec": "s", "python": "p", "inputs": {{"pred": {input}}}, "expected": {{"value": 1}}}}"#)
    };
    let good = t("[2]", "float32", "[1, 2]");
    assert!(Fixture::parse(&with_case(&case("a", good.clone())), "ok.json").is_ok());
    let cases = [
        (with_case(&case("a", t("[3]", "float32", "[1, 2]"))), "cases[0] (a): inputs.pred: shape [3] holds 3 elements but data has 2"),
        (with_case(&case("a", t("[2]", "float16", "[1, 2]"))), "unknown dtype \"float16\""),
        (with_case(&case("a", t("[2]", "int64", "[1, 2.5]"))), "data[1] = 2.5 is not a int64 value"),
        (with_case(&case("a", t("[2]", "uint8", "[1, 256]"))), "data[1] = 256 is not a uint8 value"),
        (with_case(&case("a", t("[2]", "float32", "[1, \"x\"]"))), "data[1] is a string, not a number"),
        (with_case(&format!("{},{}", case("a", good.clone()), case("a", good.clone()))), "cases[1]: the case name \"a\" repeats"),
        (with_case(r#"{"name": "a", "spec": "s", "python": "p", "inputs": {}, "expected": {}}"#), "`expected` is empty"),
        (with_case(r#"{"name": "a", "spec": "s", "inputs": {}, "expected": {"value": 1}}"#), "missing `python`"),
        (
            with_case(r#"{"name": "a", "spec": "s", "python": "p", "inputs": {}, "expected": {"value": 1}, "note": 1}"#),
            "unknown key `note`",
        ),
        (with_case(r#"{"name": "a", "spec": "s", "python": "p", "inputs": {}, "expected": {"valu": 1}}"#), "unknown key `valu`"),
        (r#"{"generator": "g", "versions": {"torch": 2}, "cases": []}"#.to_string(), "versions: `torch` is not a string"),
        (r#"{"generator": "g", "versions": {}}"#.to_string(), "missing `cases`"),
        ("{".to_string(), "invalid JSON"),
    ];
    for (text, want) in cases {
        let err = parse_err(&text);
        assert!(err.starts_with("bad.json: ") && err.contains(want), "{err}\n  does not say: {want}");
    }
    let err = Fixture::load("/nonexistent/golden.json").unwrap_err();
    assert!(err.starts_with("/nonexistent/golden.json: "), "{err}");
}

#[test]
fn unravels_row_major() {
    assert_eq!(unravel(7, &[2, 3, 2]), vec![1, 0, 1]);
    assert_eq!(unravel(0, &[]), Vec::<usize>::new());
}

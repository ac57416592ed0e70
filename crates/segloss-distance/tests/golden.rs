//! Golden values from scipy, written by `tools/golden/distance.py` into
//! `tests/fixtures/distance.json` (versions recorded there). Each case carries the Python line
//! that produced its expected output and a spec naming the map and its keys:
//! - `edt[:spacing=[..]]`: `ndimage.distance_transform_edt(mask, sampling=spacing)`;
//! - `label:connectivity=4|8|6|26`: `ndimage.label(mask, structure=generate_binary_structure(..))`
//!   (the number of objects is the expected value);
//! - `unet_weights_from_instances:w0=..,sigma=..,class_weights=balanced|[a,b]` and
//!   `unet_weights_from_mask:...,connectivity=4|8`: the per-object construction of Ronneberger et
//!   al. 2015, eq. 2 (`unet_per_object` in the script).

use ndarray::ArrayD;
use segloss_core::golden::{Case, Fixture};
use segloss_core::spec::parse_terms;
use segloss_core::Value;
use segloss_distance::{edt, label, unet_weights_from_instances, unet_weights_from_mask, ClassWeights, EdtOptions, UnetWeightConfig};

/// With spacing, scipy and segloss may pick different nearest zeros at exact ties, whose f64 sums
/// differ in the last bits (see `SPACING_ULPS` in tests/edt.rs).
const SPACING_ULPS: u32 = 2;
/// The U-Net contract (docs/LOSSES.md): 1e-3 absolute.
const UNET_TOL: f64 = 1e-3;

fn fixture() -> Fixture {
    Fixture::load(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/distance.json")).unwrap_or_else(|e| panic!("{e}"))
}

/// The map's name and its keys, from the case's spec.
fn spec(case: &Case) -> (String, Vec<(String, Value)>) {
    let mut terms = parse_terms(&case.spec).unwrap_or_else(|e| panic!("{}", case.error(e)));
    assert_eq!(terms.len(), 1, "{}", case.context());
    let t = terms.remove(0);
    (t.name, t.params)
}

fn key<'p>(params: &'p [(String, Value)], name: &str) -> Option<&'p Value> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn num(case: &Case, params: &[(String, Value)], name: &str) -> Option<f64> {
    key(params, name).map(|v| match v {
        Value::Num(x) => *x,
        other => panic!("{}", case.error(format!("`{name}` is {other}, not a number"))),
    })
}

fn map(case: &Case) -> &segloss_core::golden::Tensor {
    case.expected.map.as_ref().unwrap_or_else(|| panic!("{}", case.error("no expected map")))
}

fn same_partition(a: &[u32], b: &[i64]) -> bool {
    let mut ab = std::collections::HashMap::new();
    let mut ba = std::collections::HashMap::new();
    a.iter().zip(b).all(|(&x, &y)| (x == 0) == (y == 0) && *ab.entry(x).or_insert(y) == y && *ba.entry(y).or_insert(x) == x)
}

fn mask(case: &Case) -> ArrayD<u8> {
    case.input("mask").and_then(|t| t.to_u8()).unwrap_or_else(|e| panic!("{e}"))
}

fn check_edt(case: &Case, params: &[(String, Value)]) {
    let mask = mask(case);
    let spacing = key(params, "spacing").map(|v| match v {
        Value::List(l) => l.clone(),
        other => panic!("{}", case.error(format!("spacing {other} is not a list"))),
    });
    let want = &map(case).data;
    for squared in [false, true] {
        let got = edt(mask.view(), &EdtOptions { spacing: spacing.clone(), squared }).unwrap();
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            // scipy's distances are f64 square roots; squared output is compared with w * w.
            // With unit spacing the exact square is an integer, the nearest one to w * w.
            let w = if !squared {
                w
            } else if spacing.is_none() {
                (w * w).round()
            } else {
                w * w
            } as f32;
            let ok = if spacing.is_none() { g.to_bits() == w.to_bits() } else { g.to_bits().abs_diff(w.to_bits()) <= SPACING_ULPS };
            assert!(ok, "{} (squared {squared}) pixel {i}: segloss {g} scipy {w}", case.context());
        }
    }
}

fn check_label(case: &Case, params: &[(String, Value)]) {
    let conn = num(case, params, "connectivity").map(|c| c as u32);
    let (got, n) = label(mask(case).view(), conn).unwrap();
    assert_eq!(Some(n as f64), case.expected.value, "{}", case.context());
    let got: Vec<u32> = got.iter().copied().collect();
    let want = map(case).to_i64().unwrap_or_else(|e| panic!("{}", case.error(e)));
    assert!(same_partition(&got, want.as_slice().unwrap()), "{}", case.context());
}

fn check_unet(case: &Case, from_mask: bool, params: &[(String, Value)]) {
    let labels = case.input("labels").and_then(|t| t.to_i64()).unwrap_or_else(|e| panic!("{e}"));
    let class_weights = match key(params, "class_weights") {
        Some(Value::List(v)) if v.len() == 2 => ClassWeights::Fixed(v[0] as f32, v[1] as f32),
        Some(Value::Word(w)) if w == "balanced" => ClassWeights::Balanced,
        other => panic!("{}", case.error(format!("class_weights {other:?}"))),
    };
    let cfg = UnetWeightConfig {
        w0: num(case, params, "w0").expect("w0") as f32,
        sigma: num(case, params, "sigma").expect("sigma") as f32,
        class_weights,
        connectivity: num(case, params, "connectivity").map(|c| c as u32),
    };
    let got = if from_mask {
        unet_weights_from_mask(labels.mapv(|v| v as u8).view(), &cfg).unwrap()
    } else {
        unet_weights_from_instances(labels.view(), &cfg).unwrap()
    };
    let err = got.iter().zip(&map(case).data).map(|(&g, &w)| (g as f64 - w).abs()).fold(0.0, f64::max);
    assert!(err <= UNET_TOL, "{}: max error {err}", case.context());
}

#[test]
fn scipy_fixtures() {
    let fx = fixture();
    assert_eq!(fx.generator, "tools/golden/distance.py");
    assert!(fx.versions.contains_key("scipy"), "{:?}", fx.versions);
    let mut kinds = std::collections::BTreeSet::new();
    for case in &fx.cases {
        let (name, params) = spec(case);
        match name.as_str() {
            "edt" => check_edt(case, &params),
            "label" => check_label(case, &params),
            "unet_weights_from_instances" => check_unet(case, false, &params),
            "unet_weights_from_mask" => check_unet(case, true, &params),
            other => panic!("{}", case.error(format!("unknown map {other}"))),
        }
        kinds.insert(name);
    }
    assert_eq!(kinds.len(), 4, "every map has golden cases: {kinds:?}");
}

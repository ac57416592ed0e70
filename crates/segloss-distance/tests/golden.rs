//! Golden values from scipy, written by `tools/golden/distance.py` into
//! `tests/fixtures/distance.json` (versions recorded there). Each case below names the Python
//! line that produced its expected output; the test checks that the fixture says the same.

use ndarray::{ArrayD, IxDyn};
use segloss_distance::{edt, label, unet_weights_from_instances, unet_weights_from_mask, ClassWeights, EdtOptions, UnetWeightConfig};
use serde_json::Value;

/// With spacing, scipy and segloss may pick different nearest zeros at exact ties, whose f64 sums
/// differ in the last bits (see `SPACING_ULPS` in tests/edt.rs).
const SPACING_ULPS: u32 = 2;
/// The U-Net contract (docs/LOSSES.md): 1e-3 absolute.
const UNET_TOL: f64 = 1e-3;

/// (case, the Python line that produced its expected output).
const CASES: &[(&str, &str)] = &[
    ("2d_random", "ndimage.distance_transform_edt(mask)"),
    ("2d_spacing", "ndimage.distance_transform_edt(mask, sampling=sampling)"), // sampling = [1.5, 0.7]
    ("3d_random", "ndimage.distance_transform_edt(mask)"),
    ("3d_spacing", "ndimage.distance_transform_edt(mask, sampling=sampling)"), // sampling = [2.0, 1.0, 0.5]
    ("all_zero", "ndimage.distance_transform_edt(mask)"),
    ("one_pixel", "ndimage.distance_transform_edt(mask)"),
    ("one_background_pixel", "ndimage.distance_transform_edt(mask, sampling=sampling)"), // sampling = [2.0, 0.5]
    ("single_line", "ndimage.distance_transform_edt(mask)"),
    ("discs_2d", "ndimage.distance_transform_edt(mask)"),
    ("label_2d_4", "ndimage.label(mask, structure=ndimage.generate_binary_structure(2, 1))"),
    ("label_2d_8", "ndimage.label(mask, structure=ndimage.generate_binary_structure(2, 2))"),
    ("label_3d_6", "ndimage.label(mask, structure=ndimage.generate_binary_structure(3, 1))"),
    ("label_3d_26", "ndimage.label(mask, structure=ndimage.generate_binary_structure(3, 3))"),
    ("unet_instances", "unet_per_object(labels)"),
    ("unet_instances_fixed", "unet_per_object(labels, w0=w0, sigma=sigma, class_weights=class_weights)"), // w0 5, sigma 3, [1, 2]
    ("unet_touching", "unet_per_object(labels)"),
    ("unet_one_object", "unet_per_object(labels)"),
    ("unet_3d", "unet_per_object(labels, sigma=sigma)"), // sigma 2
    ("unet_mask_4", "unet_per_object(ndimage.label(labels)[0])"),
    ("unet_mask_8", "unet_per_object(ndimage.label(labels, structure=ndimage.generate_binary_structure(2, 2))[0])"),
];

fn fixture() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/distance.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect()
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn i64s(v: &Value) -> Vec<i64> {
    v.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect()
}

fn same_partition(a: &[u32], b: &[i64]) -> bool {
    let mut ab = std::collections::HashMap::new();
    let mut ba = std::collections::HashMap::new();
    a.iter().zip(b).all(|(&x, &y)| (x == 0) == (y == 0) && *ab.entry(x).or_insert(y) == y && *ba.entry(y).or_insert(x) == x)
}

fn check_edt(case: &Value) {
    let shape = usizes(&case["shape"]);
    let mask = ArrayD::from_shape_vec(IxDyn(&shape), i64s(&case["mask"]).into_iter().map(|v| v as u8).collect()).unwrap();
    let spacing = case["spacing"].as_array().map(|_| f64s(&case["spacing"]));
    let want = f64s(&case["expected"]);
    let name = case["name"].as_str().unwrap();
    for squared in [false, true] {
        let got = edt(mask.view(), &EdtOptions { spacing: spacing.clone(), squared }).unwrap();
        for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
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
            assert!(ok, "{name} (squared {squared}) pixel {i}: segloss {g} scipy {w}");
        }
    }
}

fn check_label(case: &Value) {
    let shape = usizes(&case["shape"]);
    let mask = ArrayD::from_shape_vec(IxDyn(&shape), i64s(&case["mask"]).into_iter().map(|v| v as u8).collect()).unwrap();
    let conn = case["connectivity"].as_u64().unwrap() as u32;
    let (got, n) = label(mask.view(), Some(conn)).unwrap();
    assert_eq!(n as u64, case["count"].as_u64().unwrap(), "{}", case["name"]);
    let got: Vec<u32> = got.iter().copied().collect();
    assert!(same_partition(&got, &i64s(&case["expected"])), "{}", case["name"]);
}

fn check_unet(case: &Value) {
    let shape = usizes(&case["shape"]);
    let labels = ArrayD::from_shape_vec(IxDyn(&shape), i64s(&case["labels"])).unwrap();
    let class_weights = match case["class_weights"].as_array() {
        Some(v) => ClassWeights::Fixed(v[0].as_f64().unwrap() as f32, v[1].as_f64().unwrap() as f32),
        None => ClassWeights::Balanced,
    };
    let cfg = UnetWeightConfig {
        w0: case["w0"].as_f64().unwrap() as f32,
        sigma: case["sigma"].as_f64().unwrap() as f32,
        class_weights,
        connectivity: case["connectivity"].as_u64().map(|c| c as u32),
    };
    let got = match case["source"].as_str().unwrap() {
        "mask" => unet_weights_from_mask(labels.mapv(|v| v as u8).view(), &cfg).unwrap(),
        _ => unet_weights_from_instances(labels.view(), &cfg).unwrap(),
    };
    let want = f64s(&case["expected"]);
    let err = got.iter().zip(&want).map(|(&g, &w)| (g as f64 - w).abs()).fold(0.0, f64::max);
    assert!(err <= UNET_TOL, "{}: max error {err}", case["name"]);
}

#[test]
fn scipy_fixtures() {
    let fx = fixture();
    assert!(fx["versions"]["scipy"].as_str().is_some());
    let cases = fx["cases"].as_array().unwrap();
    assert_eq!(cases.len(), CASES.len());
    for (case, &(name, python)) in cases.iter().zip(CASES) {
        assert_eq!(case["name"].as_str().unwrap(), name);
        assert_eq!(case["python"].as_str().unwrap(), python, "{name}: the fixture was made by another line");
        match case["kind"].as_str().unwrap() {
            "edt" => check_edt(case),
            "label" => check_label(case),
            "unet" => check_unet(case),
            other => panic!("unknown kind {other}"),
        }
    }
}

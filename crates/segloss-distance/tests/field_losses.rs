//! The distance-map losses `boundary` and `hausdorff_dt`:
//! - golden values and gradients from `tests/fixtures/field_distance.json`, written by
//!   `tools/golden/field_distance.py` (MONAI 1.6 `BoundaryLoss` / `HausdorffDTLoss` called in
//!   float64 on float32 inputs; the spacing and one-axis cases from Kervadec's `one_hot2dist` and
//!   MONAI's HausdorffDT formula written out with scipy `distance_transform_edt(sampling=...)`;
//!   each case carries its Python line);
//! - the maps against brute-force distances written from the definitions, in 1D, 2D and 3D with
//!   spacing; empty and full masks; key and input errors; determinism across thread counts and
//!   memory layouts.

mod common;

use common::{coords, sq_dist};
use ndarray::{ArrayD, IxDyn};
use segloss_core::golden::{check_loss, Fixture};
use segloss_core::testing::kit::{check_determinism, check_layouts, Problem, ProblemConfig};
use segloss_core::{Batch, Loss, LossError, Mode, Registry};
use segloss_distance::{boundary_map, BoundaryConfig, Spacing};
use std::collections::BTreeSet;

/// Relative tolerance of the value (MONAI rounds its maps to f32: about 1e-7 relative).
const VALUE_REL: f64 = 1e-5;
/// Absolute tolerance of the value.
const VALUE_ABS: f64 = 1e-7;
/// Tolerance of the gradient, relative to its largest reference element.
const GRAD_REL: f64 = 1e-4;
/// Brute-force comparisons in f64 of f32 results: relative bound per value, and the absolute
/// bound of a loss value (sums of a few hundred f32 terms).
const BRUTE_REL: f64 = 1e-6;

fn fixture() -> Fixture {
    Fixture::load(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/field_distance.json")).unwrap_or_else(|e| panic!("{e}"))
}

fn registry() -> Registry<'static> {
    Registry::new(segloss_distance::LOSSES)
}

fn build(spec: &str) -> segloss_core::Combination {
    registry().build_str(spec).unwrap_or_else(|e| panic!("{spec}: {e}"))
}

fn arr(shape: &[usize], data: Vec<f32>) -> ArrayD<f32> {
    ArrayD::from_shape_vec(IxDyn(shape), data).unwrap()
}

#[test]
fn every_loss_of_the_family_has_golden_cases() {
    let fx = fixture();
    assert_eq!(fx.generator, "tools/golden/field_distance.py");
    assert!(fx.versions.get("monai").is_some_and(|v| v.starts_with("1.")), "{:?}", fx.versions);
    let covered: BTreeSet<String> =
        fx.cases.iter().map(|c| registry().parse(&c.spec).unwrap_or_else(|e| panic!("{}", c.error(e)))[0].name.clone()).collect();
    for decl in registry().decls() {
        assert!(covered.contains(decl.name), "no golden case for {} in {}", decl.name, fx.file);
    }
}

/// Every case of the fixture: MONAI's classes (unit spacing, 2D and 3D, binary, multiclass,
/// multilabel, empty and full classes, alpha != 2, probabilities), Kervadec's `one_hot2dist`
/// with `resolution` and MONAI's HausdorffDT formula with `sampling` (spacing, one spatial axis).
#[test]
fn golden_values_and_gradients() {
    let fx = fixture();
    let mut failures = Vec::new();
    for case in &fx.cases {
        let loss = build(&case.spec);
        match check_loss(case, &loss, VALUE_REL, VALUE_ABS, GRAD_REL) {
            Ok(c) => eprintln!("{:48} value rel err {:.1e}, grad err / max|ref| {:.1e}", case.name, c.value_rel, c.grad_rel),
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{} of {} golden cases failed:\n{}", failures.len(), fx.cases.len(), failures.join("\n"));
}

/// Distance from each pixel to the nearest pixel of the other value (`None`: a mask without
/// both values), by exhaustive search.
fn brute_two_sided(mask: &[bool], shape: &[usize], spacing: &[f64]) -> Option<Vec<f64>> {
    if mask.iter().all(|&m| m) || mask.iter().all(|&m| !m) {
        return None;
    }
    Some(
        (0..mask.len())
            .map(|x| {
                let cx = coords(x, shape);
                (0..mask.len())
                    .filter(|&y| mask[y] != mask[x])
                    .map(|y| sq_dist(&cx, &coords(y, shape), spacing))
                    .fold(f64::INFINITY, f64::min)
                    .sqrt()
            })
            .collect(),
    )
}

/// A deterministic mask of about a third of the pixels.
fn mask(len: usize, seed: u64) -> Vec<f32> {
    let mut r = segloss_core::rng::Rng::new(seed);
    (0..len).map(|_| (r.next_f32() < 0.35) as u8 as f32).collect()
}

/// `boundary_map` and the loss against the definition, brute force, in 1D, 2D and 3D, with and
/// without spacing.
#[test]
fn boundary_maps_and_value_equal_the_definition_in_1d_2d_3d() {
    for (spatial, spacing) in [
        (vec![17usize], vec![1.0]),
        (vec![17], vec![0.7]),
        (vec![6, 7], vec![1.0, 1.0]),
        (vec![6, 7], vec![0.5, 2.0]),
        (vec![3, 4, 5], vec![1.0, 1.0, 1.0]),
        (vec![3, 4, 5], vec![2.0, 0.7, 1.3]),
    ] {
        let s: usize = spatial.iter().product();
        let mut shape = vec![2, 1];
        shape.extend(&spatial);
        let t = arr(&shape, [mask(s, 1), mask(s, 2)].concat());
        let spec = Spacing::PerAxis(spacing.clone());
        let config = BoundaryConfig { spacing: spec, ..Default::default() };
        let map = boundary_map((&t).into(), &shape, &config).unwrap();
        let mut want = Vec::new();
        for img in 0..2 {
            let m: Vec<bool> = t.iter().skip(img * s).take(s).map(|&v| v > 0.5).collect();
            let d = brute_two_sided(&m, &spatial, &spacing).expect("both sides");
            want.extend(m.iter().zip(&d).map(|(&inside, &d)| if inside { 1.0 - d } else { d }));
        }
        for (i, (&got, &w)) in map.iter().zip(&want).enumerate() {
            assert!((got as f64 - w).abs() <= BRUTE_REL * w.abs().max(1.0), "{spatial:?} {spacing:?} pixel {i}: {got} vs {w}");
        }
        // the loss is sum p phi / (N |K| |S|)
        let logits = arr(&shape, (0..2 * s).map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.3).collect());
        let loss = config.build().unwrap();
        let v = loss.forward(&Batch::new(&logits, &t)).unwrap() as f64;
        let direct: f64 = logits.iter().zip(&want).map(|(&x, &phi)| phi / (1.0 + (-(x as f64)).exp())).sum::<f64>() / (2 * s) as f64;
        assert!((v - direct).abs() <= BRUTE_REL * direct.abs().max(1.0), "{spatial:?}: {v} vs {direct}");
    }
}

/// `hausdorff_dt` against the definition, brute force, in 1D and 3D with spacing and alpha.
#[test]
fn hausdorff_value_equals_the_definition_in_1d_and_3d() {
    for (spatial, spacing, alpha) in
        [(vec![19usize], vec![1.0], 2.0), (vec![19], vec![1.5], 1.0), (vec![3, 4, 5], vec![2.0, 0.7, 1.3], 1.7)]
    {
        let s: usize = spatial.iter().product();
        let mut shape = vec![2, 1];
        shape.extend(&spatial);
        let t = arr(&shape, [mask(s, 3), mask(s, 4)].concat());
        let logits = arr(&shape, (0..2 * s).map(|i| ((i * 41 % 29) as f32 - 14.5) * 0.37).collect());
        let spec = format!("hausdorff_dt:alpha={alpha},spacing=[{}]", spacing.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(","));
        let v = build(&spec).forward(&Batch::new(&logits, &t)).unwrap() as f64;
        let mut direct = 0.0;
        for img in 0..2 {
            let x: Vec<f64> = logits.iter().skip(img * s).take(s).map(|&x| x as f64).collect();
            let g: Vec<f64> = t.iter().skip(img * s).take(s).map(|&v| v as f64).collect();
            let pm: Vec<bool> = x.iter().map(|&x| x > 0.0).collect();
            let gm: Vec<bool> = g.iter().map(|&v| v > 0.5).collect();
            let zero = vec![0.0; s];
            let dp = brute_two_sided(&pm, &spatial, &spacing).unwrap_or(zero.clone());
            let dg = brute_two_sided(&gm, &spatial, &spacing).unwrap_or(zero);
            for j in 0..s {
                let p = 1.0 / (1.0 + (-x[j]).exp());
                direct += (p - g[j]).powi(2) * (dp[j].powf(alpha) + dg[j].powf(alpha));
            }
        }
        direct /= (2 * s) as f64;
        assert!((v - direct).abs() <= BRUTE_REL * direct.abs().max(1.0), "{spec} on {spatial:?}: {v} vs {direct}");
    }
}

/// An empty or full target has the map 0: `boundary` is 0 with a zero gradient there, and
/// `hausdorff_dt` keeps only the prediction's map.
#[test]
fn empty_and_full_targets_have_no_map() {
    let logits = arr(&[2, 1, 4, 5], (0..40).map(|i| (i as f32 - 20.0) * 0.2).collect());
    let t = arr(&[2, 1, 4, 5], [vec![0.0; 20], vec![1.0; 20]].concat());
    let (v, g) = build("boundary").forward_backward(&Batch::new(&logits, &t)).unwrap();
    assert_eq!(v, 0.0);
    assert!(g.iter().all(|&x| x == 0.0));
    // a prediction full in image 1 and a target full or empty everywhere: no map at all
    let sat = arr(&[2, 1, 4, 5], [vec![-3.0; 20], vec![3.0; 20]].concat());
    let (v, g) = build("hausdorff_dt").forward_backward(&Batch::new(&sat, &t)).unwrap();
    assert_eq!(v, 0.0);
    assert!(g.iter().all(|&x| x == 0.0));
    // an empty target with a mixed prediction: (p - 0)^2 d_P^2
    let v = build("hausdorff_dt").forward(&Batch::new(&logits, &t)).unwrap();
    assert!(v > 0.0);
}

/// Binary mode keeps its one channel whatever `include_background` says (as MONAI, which warns).
#[test]
fn binary_ignores_include_background() {
    let logits = arr(&[2, 1, 5, 6], (0..60).map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.4).collect());
    let t = arr(&[2, 1, 5, 6], mask(60, 9));
    for name in ["boundary", "hausdorff_dt"] {
        let a = build(name).forward(&Batch::new(&logits, &t)).unwrap();
        let b = build(&format!("{name}:include_background=false")).forward(&Batch::new(&logits, &t)).unwrap();
        assert_eq!(a.to_bits(), b.to_bits(), "{name}");
        assert!(a != 0.0, "{name}");
    }
}

fn config_error(spec: &str) -> (String, String) {
    match registry().build_str(spec) {
        Err(LossError::InvalidConfig { key, value, .. }) => (key, value),
        other => panic!("{spec}: expected a config error, got {other:?}"),
    }
}

#[test]
fn bad_keys_name_key_and_value() {
    for (spec, key, value) in [
        ("hausdorff_dt:alpha=0", "alpha", "0"),
        ("hausdorff_dt:alpha=-1", "alpha", "-1"),
        ("boundary:spacing=0", "spacing", "0"),
        ("boundary:spacing=[1,-2]", "spacing", "[1,-2]"),
        ("hausdorff_dt:spacing=[]", "spacing", "[]"),
        ("boundary:spacing=fine", "spacing", "fine"),
        ("boundary:classes=[1,1]", "classes", "[1,1]"),
        ("boundary:classes=[]", "classes", "[]"),
        ("boundary:classes=[0.5]", "classes", "[0.5]"),
        ("boundary:classes=present", "classes", "present"),
        ("boundary:classes=[1,2],include_background=false", "classes", "[1,2]"),
        ("boundary:include_background=maybe", "include_background", "maybe"),
    ] {
        let (k, v) = config_error(spec);
        assert_eq!((k.as_str(), v.as_str()), (key, value), "{spec}");
    }
    // hausdorff_dt has no classes key; both reject reduction
    assert!(registry().build_str("hausdorff_dt:classes=[1]").is_err());
    assert!(registry().build_str("boundary:reduction=sum").is_err());
    // printing parses back
    for spec in ["boundary:classes=[1,3],spacing=[0.5,2]", "hausdorff_dt:alpha=1.5,include_background=true,spacing=0.5"] {
        let printed = registry().parse(spec).unwrap()[0].to_string();
        assert_eq!(registry().parse(&printed).unwrap()[0].to_string(), printed, "{spec}");
    }
}

#[test]
fn spacing_of_the_wrong_length_is_an_error_at_call_time() {
    let logits = arr(&[1, 1, 4, 5], vec![0.3; 20]);
    let t = arr(&[1, 1, 4, 5], mask(20, 5));
    for name in ["boundary", "hausdorff_dt"] {
        let loss = build(&format!("{name}:spacing=[1,2,3]"));
        let e = loss.forward(&Batch::new(&logits, &t)).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(&e, LossError::InvalidConfig { key, .. } if key == "spacing"), "{name}: {msg}");
        assert!(msg.contains("[1,2,3]") && msg.contains("2 spatial axes") && msg.contains("[1, 1, 4, 5]"), "{name}: {msg}");
    }
    // the same key on a 3D prediction is fine
    let logits3 = arr(&[1, 1, 2, 4, 5], vec![0.3; 40]);
    let t3 = arr(&[1, 1, 2, 4, 5], mask(40, 5));
    build("boundary:spacing=[1,2,3]").forward(&Batch::new(&logits3, &t3)).unwrap();
}

#[test]
fn bad_inputs_are_errors() {
    let logits = arr(&[1, 3, 4, 5], vec![0.3; 60]);
    let labels = ArrayD::from_shape_vec(IxDyn(&[1, 4, 5]), (0..20).map(|i| (i % 3) as i64).collect()).unwrap();
    let w = arr(&[1, 4, 5], vec![1.0; 20]);
    for name in ["boundary", "hausdorff_dt"] {
        let loss = build(name);
        // a weight
        let e = loss.forward(&Batch::new(&logits, &labels).with_weight(&w)).unwrap_err();
        assert!(matches!(e, LossError::Unsupported { .. }) && e.to_string().contains("weight"), "{name}: {e}");
        // a label outside [0, C)
        let mut bad = labels.clone();
        bad[[0, 2, 3]] = 3;
        let e = loss.forward(&Batch::new(&logits, &bad)).unwrap_err();
        assert!(matches!(e, LossError::LabelOutOfRange { .. }) && e.to_string().contains("[0, 2, 3]"), "{name}: {e}");
        // a float target outside [0, 1]
        let mut t = arr(&[1, 3, 4, 5], vec![0.0; 60]);
        t[[0, 1, 1, 1]] = 1.5;
        let e = loss.forward(&Batch::new(&logits, &t)).unwrap_err();
        assert!(matches!(e, LossError::LabelOutOfRange { .. }) && e.to_string().contains("1.5"), "{name}: {e}");
        // shapes
        let e = loss.forward(&Batch::new(&logits, &arr(&[1, 3, 4, 6], vec![0.0; 72]))).unwrap_err();
        assert!(e.to_string().contains("[1, 3, 4, 5]") && e.to_string().contains("[1, 3, 4, 6]"), "{name}: {e}");
        // four spatial axes
        let big = arr(&[1, 1, 2, 2, 2, 2], vec![0.0; 16]);
        assert!(loss.forward(&Batch::new(&big, &big)).is_err(), "{name}");
    }
    // a channel of `classes` outside [0, C), at call time
    let e = build("boundary:classes=[1,3]").forward(&Batch::new(&logits, &labels)).unwrap_err();
    assert!(matches!(&e, LossError::InvalidConfig { key, .. } if key == "classes") && e.to_string().contains("[0, 3)"), "{e}");
}

/// Same bits for 1, 2 and 3 threads, every gradient element written, and for Fortran, strided and
/// permuted views, in every mode, 2D and 3D.
#[test]
fn deterministic_across_threads_and_layouts() {
    for spec in ["boundary", "boundary:include_background=true,spacing=[0.5,2]", "hausdorff_dt", "hausdorff_dt:alpha=1.5"] {
        let loss = build(spec);
        for mode in [Mode::Binary, Mode::Multiclass, Mode::Multilabel] {
            let c = if mode == Mode::Binary { 1 } else { 3 };
            let big = Problem::generate(&ProblemConfig::new(mode).shape(&[2, c, 64, 70]), 5);
            check_determinism(&loss, &big).unwrap_or_else(|e| panic!("{spec} {mode}: {e}"));
            check_layouts(&loss, &Problem::generate(&ProblemConfig::new(mode), 3)).unwrap_or_else(|e| panic!("{spec} {mode}: {e}"));
        }
    }
    for spec in ["boundary", "hausdorff_dt"] {
        let loss = build(spec);
        let p = Problem::generate(&ProblemConfig::new(Mode::Multiclass).shape(&[2, 3, 9, 10, 11]), 7);
        check_determinism(&loss, &p).unwrap_or_else(|e| panic!("{spec} 3D: {e}"));
    }
}

/// The gradient against central differences (the kit's `check_gradient`, as the registry-wide
/// harness runs it: step 1e-2 on logits, 1e-3 on probabilities, retried once at a 100x smaller
/// step), in every mode, on hard and soft targets, with 1, 2 and 3 spatial axes.
///
/// `hausdorff_dt` jumps where a probability crosses 0.5 (the prediction's map changes, and the
/// jump has no gradient): a step that crosses it at the perturbed pixel fails by a factor of
/// about 100 (the jump over the step), which these seeded problems do at the step 1e-2 in about
/// a third of the `hausdorff_dt` configurations (printed); at the 100x smaller step no element
/// of these problems lies within the step of 0.5 (logit 0), and every element must then match
/// (a wrong gradient fails both steps).
#[test]
fn gradients_match_central_differences_in_1d_2d_3d() {
    use segloss_core::testing::kit::{check_gradient, GradTolerance};
    let specs = [
        "boundary",
        "boundary:include_background=true",
        "boundary:classes=[0,2]",
        "boundary:spacing=0.7",
        "boundary:from_logits=false",
        "hausdorff_dt",
        "hausdorff_dt:alpha=1",
        "hausdorff_dt:alpha=3,include_background=true",
        "hausdorff_dt:spacing=0.7",
        "hausdorff_dt:from_logits=false",
    ];
    for spec in specs {
        let loss = build(spec);
        for mode in [Mode::Binary, Mode::Multiclass, Mode::Multilabel] {
            let c = if mode == Mode::Binary { 1 } else { 3 };
            for soft in [false, true] {
                for spatial in [&[3usize, 4][..], &[9][..], &[2, 3, 4][..]] {
                    let mut shape = vec![2, c];
                    shape.extend(spatial);
                    let probs = spec.contains("from_logits=false");
                    let cfg = ProblemConfig::new(mode).shape(&shape).soft_targets(soft).probabilities(probs);
                    let p = Problem::generate(&cfg, 11);
                    if loss.forward(&p.batch()).is_err() {
                        continue; // classes=[0,2] in binary mode
                    }
                    let tol = GradTolerance { step: if probs { 1e-3 } else { 1e-2 }, ..GradTolerance::default() };
                    if let Err(e) = check_gradient(&loss, &p, &tol) {
                        eprintln!("{spec} {mode} soft={soft} {shape:?}: retried at a 100x smaller step after: {e}");
                        let small = GradTolerance { step: tol.step * 1e-2, ..tol };
                        check_gradient(&loss, &p, &small)
                            .unwrap_or_else(|e2| panic!("{spec} {mode} soft={soft} {shape:?}\n{e}\nat a smaller step: {e2}"));
                    }
                }
            }
        }
    }
}

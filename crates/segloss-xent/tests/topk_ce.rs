//! `topk_ce`: golden values against nnU-Net v2's `TopKLoss` (multiclass) and torch.topk over
//! BCE terms (binary/multilabel, our extension), the tie rule, `k=100` against `ce`'s
//! `reduction=none` map, the one-term path, bad keys and inputs, and thread determinism.
//!
//! The fixture `tests/fixtures/topk_ce.json` is written by `tools/golden/topk_ce.py`
//! (`/work/venv/py/bin/python tools/golden/topk_ce.py`, nnU-Net v2 installed with `--no-deps`):
//! each case carries its spec and the Python expression that produced its value (float64 torch on
//! the float32 inputs; `grad` is its autograd gradient). Multiclass expressions call
//! `nnunetv2.training.loss.robust_ce_loss.TopKLoss` itself.

use ndarray::{ArrayD, IxDyn};
use segloss_core::golden::{check_loss, Fixture};
use segloss_core::rng::Rng;
use segloss_core::testing::kit::{check_determinism, Problem, ProblemConfig};
use segloss_core::{Batch, Loss, LossError, Mode, Reduction, Registry};
use segloss_xent::*;

/// Relative tolerance of the value.
const VALUE_RTOL: f64 = 1e-5;
/// Absolute tolerance of the value (values near 0).
const VALUE_ATOL: f64 = 1e-7;
/// Gradient tolerance, relative to the largest reference element.
const GRAD_RTOL: f64 = 1e-4;
/// `k=100` against the mean of `ce`'s map: both f32 terms, summed in f64 in different orders.
const MEAN_MAP_REL: f64 = 1e-6;

fn fixture() -> Fixture {
    Fixture::load(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/topk_ce.json")).unwrap_or_else(|e| panic!("{e}"))
}

fn build(spec: &str) -> Box<dyn Loss> {
    Box::new(Registry::new(LOSSES).build_str(spec).unwrap_or_else(|e| panic!("{spec}: {e}")))
}

fn logits(shape: &[usize], seed: u64, scale: f32) -> ArrayD<f32> {
    let mut r = Rng::new(seed);
    ArrayD::from_shape_simple_fn(IxDyn(shape), || (r.next_f32() * 2.0 - 1.0) * scale)
}

fn labels(shape: &[usize], classes: usize, seed: u64) -> ArrayD<i64> {
    let mut r = Rng::new(seed);
    ArrayD::from_shape_simple_fn(IxDyn(shape), || ((r.next_f32() * classes as f32) as i64).min(classes as i64 - 1))
}

#[test]
fn golden_values_and_gradients() {
    let fx = fixture();
    let mut failures = Vec::new();
    for case in &fx.cases {
        let loss = build(&case.spec);
        match check_loss(case, &loss, VALUE_RTOL, VALUE_ATOL, GRAD_RTOL) {
            Ok(c) => eprintln!("{:40} value rel err {:.1e}, grad err / max|ref| {:.1e}", case.name, c.value_rel, c.grad_rel),
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{} of {} golden cases failed:\n{}", failures.len(), fx.cases.len(), failures.join("\n"));
}

/// The fixture is the script's, with nnU-Net's version, and covers what the golden test is for:
/// nnU-Net's class on every key, the one-term path, 3D, large logits, binary and multilabel.
#[test]
fn fixture_covers_the_keys_and_modes() {
    let fx = fixture();
    assert_eq!(fx.generator, "tools/golden/topk_ce.py");
    assert!(fx.versions.get("nnunetv2").is_some_and(|v| v.starts_with("2.")), "{:?}", fx.versions);
    let tol = fx.extra.get("tolerance").expect("the script's tolerances");
    assert_eq!(tol["value_rtol"].as_f64(), Some(VALUE_RTOL));
    assert_eq!(tol["grad_rtol_of_max"].as_f64(), Some(GRAD_RTOL));
    let with = |s: &str| fx.cases.iter().filter(|c| c.spec.contains(s) || c.name.contains(s)).count();
    for needle in [
        "k=10,",
        "k=50",
        "k=100",
        "k=0.01",
        "class_weights",
        "ignore_index=255",
        "ignore_index=1",
        "label_smoothing",
        "3d",
        "large_logits",
        "bin_",
        "multilabel",
        "from_logits=false",
    ] {
        assert!(with(needle) > 0, "no golden case with {needle}");
    }
    let nnunet = fx.cases.iter().filter(|c| c.python.contains("nnunet_topk")).count();
    assert!(nnunet >= 10, "{nnunet} cases call nnU-Net's TopKLoss");
    let one = fx.cases.iter().filter(|c| c.extra.get("n_k").and_then(|v| v.as_u64()) == Some(1)).count();
    assert!(one >= 2, "the n_k = 1 path has {one} cases");
}

#[test]
fn kept_terms_follows_nnunet_and_keeps_at_least_one() {
    assert_eq!(kept_terms(198, 10.0), 19); // int(198 * 10 / 100) = int(19.8)
    assert_eq!(kept_terms(198, 0.01), 1); // nnU-Net: int(0.0198) = 0, the mean of nothing
    assert_eq!(kept_terms(198, 100.0), 198);
    assert_eq!(kept_terms(1, 0.5), 1);
    // the f64 product, as Python's int(n * k / 100): 3 * (100 / 3) / 100 = 1.0000000000000002
    assert_eq!(kept_terms(3, 100.0 / 3.0), 1);
    assert_eq!(kept_terms(10, 29.999999999999996), 2);
}

/// Equal terms straddling the cut: the value is the same whichever are kept, the gradient goes
/// to the smallest flat indices.
#[test]
fn ties_at_the_cut_go_to_the_smallest_indices() {
    // multiclass: 10 pixels, pixels 2, 4, 5, 7, 9 have the same (largest) term; k=30 keeps 3
    let mut x = ArrayD::<f32>::zeros(IxDyn(&[1, 3, 1, 10]));
    let mut y = ArrayD::<i64>::zeros(IxDyn(&[1, 1, 10]));
    for j in 0..10 {
        x[[0, 0, 0, j]] = 0.1 * j as f32; // distinct small terms elsewhere (label 1, small logits)
        y[[0, 0, j]] = 1;
    }
    for j in [2, 4, 5, 7, 9] {
        x[[0, 0, 0, j]] = 3.0;
        x[[0, 1, 0, j]] = -1.0;
        x[[0, 2, 0, j]] = 0.5;
    }
    let loss = build("topk_ce:k=30");
    let (v, g) = loss.forward_backward(&Batch::new(&x, &y)).unwrap();
    let ce = build("ce:reduction=none");
    let map = CeConfig { common: ReductionKey { reduction: Reduction::None }, ..Default::default() }
        .build()
        .unwrap()
        .forward_map(&Batch::new(&x, &y))
        .unwrap();
    let tied = map[[0, 0, 2]];
    for j in [4, 5, 7, 9] {
        assert_eq!(map[[0, 0, j]], tied);
    }
    assert!((v - tied).abs() <= 1e-6 * tied, "value {v} vs the tied term {tied}");
    let (_, gce) = ce.forward_backward(&Batch::new(&x, &y)).unwrap();
    for j in 0..10 {
        for c in 0..3 {
            let want = if [2, 4, 5].contains(&j) { gce[[0, c, 0, j]] / 3.0 } else { 0.0 };
            assert!((g[[0, c, 0, j]] - want).abs() <= 1e-6, "grad[{c}, {j}] {} vs {want}", g[[0, c, 0, j]]);
        }
    }
    // binary: four equal terms (same logit and label), k=20 of 10 keeps 2: the first two
    let mut xb = ArrayD::<f32>::from_shape_fn(IxDyn(&[1, 1, 10]), |d| 0.01 * d[2] as f32);
    let yb = ArrayD::<f32>::zeros(IxDyn(&[1, 1, 10]));
    for j in [3, 6, 8, 1] {
        xb[[0, 0, j]] = 2.0;
    }
    let (_, g) = build("topk_ce:k=20").forward_backward(&Batch::new(&xb, &yb)).unwrap();
    let nonzero: Vec<usize> = (0..10).filter(|&j| g[[0, 0, j]] != 0.0).collect();
    assert_eq!(nonzero, [1, 3]);
}

/// `k=100` is the mean of `ce`'s `reduction=none` map (ignored pixels count, the class weights
/// are not divided out), and its gradient is that of the map's sum divided by n.
#[test]
fn k100_is_the_mean_of_the_ce_map() {
    let x = logits(&[2, 4, 7, 9], 3, 4.0);
    let mut y = labels(&[2, 7, 9], 4, 4);
    for (i, v) in y.iter_mut().enumerate() {
        if i % 5 == 0 {
            *v = 255;
        }
    }
    let b = Batch::new(&x, &y);
    let cases: [(Option<Vec<f32>>, f32, &str); 4] = [
        (None, 0.0, ""),
        (Some(vec![1.0, 3.0, 0.5, 2.0]), 0.0, ",class_weights=[1,3,0.5,2]"),
        (None, 0.2, ",label_smoothing=0.2"),
        (Some(vec![2.0, 1.0, 1.0, 4.0]), 0.1, ",class_weights=[2,1,1,4],label_smoothing=0.1"),
    ];
    for (class_weights, label_smoothing, keys) in cases {
        let ce =
            CeConfig { class_weights, label_smoothing, ignore_index: 255, common: ReductionKey { reduction: Reduction::None }, mode: None };
        let map = ce.build().unwrap().forward_map(&b).unwrap();
        let n = map.len() as f64;
        let mean = map.iter().map(|&v| v as f64).sum::<f64>() / n;
        let (v, g) = build(&format!("topk_ce:k=100,ignore_index=255{keys}")).forward_backward(&b).unwrap();
        assert!((v as f64 - mean).abs() <= MEAN_MAP_REL * mean, "{keys}: topk_ce:k=100 {v} vs mean of the ce map {mean}");
        let (_, gsum) = build(&format!("ce:ignore_index=255,reduction=sum{keys}")).forward_backward(&b).unwrap();
        let gmax = gsum.iter().fold(0.0f32, |m, v| m.max(v.abs())) / n as f32;
        for (a, s) in g.iter().zip(gsum.iter()) {
            let want = s / n as f32;
            assert!((a - want).abs() <= 1e-6 * gmax, "{keys}: gradient {a} vs {want}");
        }
    }
}

/// `k=0.01` of 198 terms keeps one (nnU-Net: the mean of none, NaN): the largest term, and the
/// gradient of that one pixel.
#[test]
fn one_term_is_the_largest() {
    let x = logits(&[2, 3, 9, 11], 8, 3.0);
    let y = labels(&[2, 9, 11], 3, 9);
    let b = Batch::new(&x, &y);
    let map =
        CeConfig { common: ReductionKey { reduction: Reduction::None }, ..Default::default() }.build().unwrap().forward_map(&b).unwrap();
    let (at, max) = map.indexed_iter().fold((None, f32::MIN), |(a, m), (i, &v)| if v > m { (Some(i), v) } else { (a, m) });
    let at = at.unwrap();
    let (v, g) = build("topk_ce:k=0.01").forward_backward(&b).unwrap();
    assert!((v - max).abs() <= 1e-6 * max, "{v} vs the largest term {max}");
    let (_, gce) = build("ce:reduction=sum").forward_backward(&b).unwrap();
    for ((idx, &a), &c) in g.indexed_iter().zip(gce.iter()) {
        let own = idx[0] == at[0] && idx[2] == at[1] && idx[3] == at[2];
        assert_eq!(a, if own { c } else { 0.0 }, "grad{idx:?}");
    }
}

fn config_error(r: Result<impl std::fmt::Debug, LossError>) -> String {
    match r {
        Err(e @ LossError::InvalidConfig { .. }) => e.to_string(),
        other => panic!("expected an InvalidConfig error, got {other:?}"),
    }
}

/// Bad keys: errors naming the key and the value, at build time where the mode is known and at
/// call time where it is inferred.
#[test]
fn bad_keys_name_key_and_value() {
    let reg = Registry::new(LOSSES);
    for (spec, key, value) in [
        ("topk_ce:k=0", "k", "0"),
        ("topk_ce:k=101", "k", "101"),
        ("topk_ce:k=-5", "k", "-5"),
        ("topk_ce:mode=binary,class_weights=[1,2]", "class_weights", "[1,2]"),
        ("topk_ce:mode=multilabel,label_smoothing=0.1", "label_smoothing", "0.1"),
        ("topk_ce:mode=multiclass,from_logits=false", "from_logits", "false"),
        ("topk_ce:label_smoothing=2", "label_smoothing", "2"),
    ] {
        let e = config_error(reg.build_str(spec));
        assert!(e.contains(key) && e.contains(value), "{spec}: {e}");
    }
    // inferred binary mode: class_weights is an error at call time
    let x = logits(&[2, 1, 4, 4], 1, 2.0);
    let y = ArrayD::<f32>::zeros(IxDyn(&[2, 1, 4, 4]));
    let loss = build("topk_ce:class_weights=[1,2]");
    let e = config_error(loss.forward(&Batch::new(&x, &y)));
    assert!(e.contains("class_weights") && e.contains("[1,2]") && e.contains("binary"), "{e}");
    // class weights of the wrong length
    let x = logits(&[2, 3, 4, 4], 1, 2.0);
    let y = labels(&[2, 4, 4], 3, 2);
    let e = config_error(build("topk_ce:class_weights=[1,2]").forward(&Batch::new(&x, &y)));
    assert!(e.contains("class_weights") && e.contains("2 values for 3 classes"), "{e}");
    // class probabilities and probabilities in multiclass
    let probs = ArrayD::<f32>::from_elem(IxDyn(&[2, 3, 4, 4]), 1.0 / 3.0);
    let e = build("topk_ce:mode=multiclass").forward(&Batch::new(&x, &probs)).unwrap_err().to_string();
    assert!(e.contains("integer labels"), "{e}");
    let e = build("topk_ce:from_logits=false").forward(&Batch::new(&x, &y)).unwrap_err().to_string();
    assert!(e.contains("from_logits"), "{e}");
    // a label out of range names it
    let mut bad = y.clone();
    bad[[1, 2, 3]] = 7;
    let e = build("topk_ce").forward(&Batch::new(&x, &bad)).unwrap_err();
    assert!(matches!(e, LossError::LabelOutOfRange { .. }) && e.to_string().contains('7'), "{e}");
    // a binary target outside [0, 1] (and not ignore_index) names it
    let xb = logits(&[2, 1, 4, 4], 1, 2.0);
    let mut yb = ArrayD::<f32>::zeros(IxDyn(&[2, 1, 4, 4]));
    yb[[1, 0, 2, 3]] = 1.5;
    let e = build("topk_ce").forward(&Batch::new(&xb, &yb)).unwrap_err();
    assert!(matches!(e, LossError::LabelOutOfRange { .. }) && e.to_string().contains("1.5"), "{e}");
}

#[test]
fn a_weight_input_is_rejected() {
    let x = logits(&[2, 3, 4, 4], 1, 2.0);
    let y = labels(&[2, 4, 4], 3, 2);
    let w = ArrayD::<f32>::ones(IxDyn(&[2, 4, 4]));
    let e = build("topk_ce").forward(&Batch::new(&x, &y).with_weight(&w)).unwrap_err();
    assert!(matches!(e, LossError::Unsupported { .. }) && e.to_string().contains("[2, 4, 4]"), "{e}");
    assert_eq!(TopkCeConfig::DECL.weight, segloss_core::WeightUse::None);
}

/// The same bits on 1, 2 and 3 threads, over several blocks, with ties at the cut (ignored
/// pixels are 0: k=90 keeps some of them) and without, in every mode.
#[test]
fn deterministic_across_thread_counts() {
    let cases = [
        ("topk_ce", Mode::Multiclass, None),
        ("topk_ce:k=90,ignore_index=255", Mode::Multiclass, Some(255)),
        ("topk_ce:k=0.01,class_weights=[1,2,3],label_smoothing=0.1", Mode::Multiclass, None),
        ("topk_ce:k=30", Mode::Binary, None),
        ("topk_ce:k=50,from_logits=false", Mode::Multilabel, None),
    ];
    for (spec, mode, ignore) in cases {
        let c = if mode == Mode::Binary { 1 } else { 3 };
        let probabilities = spec.contains("from_logits=false");
        let cfg = ProblemConfig::new(mode).shape(&[2, c, 96, 130]).ignore_index(ignore).probabilities(probabilities);
        let p = Problem::generate(&cfg, 17);
        check_determinism(build(spec).as_ref(), &p).unwrap_or_else(|e| panic!("{spec}: {e}"));
    }
}

/// Binary elements whose target equals `ignore_index` have a zero term and gradient and count in n.
#[test]
fn ignored_binary_elements_count_and_get_no_gradient() {
    let x = logits(&[1, 1, 20], 5, 3.0);
    let mut y = ArrayD::<f32>::from_shape_fn(IxDyn(&[1, 1, 20]), |d| (d[2] % 2) as f32);
    for j in [0, 3, 4, 11] {
        y[[0, 0, j]] = -100.0;
    }
    let (v, g) = build("topk_ce:k=100").forward_backward(&Batch::new(&x, &y)).unwrap();
    let bce = |xi: f64, yi: f64| xi.max(0.0) - xi * yi + (-xi.abs()).exp().ln_1p();
    let want: f64 =
        (0..20).filter(|j| ![0, 3, 4, 11].contains(j)).map(|j| bce(x[[0, 0, j]] as f64, y[[0, 0, j]] as f64)).sum::<f64>() / 20.0;
    assert!((v as f64 - want).abs() <= 1e-6 * want, "{v} vs {want}");
    for j in [0, 3, 4, 11] {
        assert_eq!(g[[0, 0, j]], 0.0);
    }
}

/// SIMD kernels against the scalar reference kernels (the same selection on both), every mode.
#[test]
fn simd_matches_scalar() {
    use segloss_core::kernel::with_backend;
    use segloss_core::Backend;
    for (spec, mode, c) in [
        ("topk_ce:class_weights=[1,2,0.5,3],label_smoothing=0.1", Mode::Multiclass, 4),
        ("topk_ce:k=25", Mode::Binary, 1),
        ("topk_ce:k=40,from_logits=false", Mode::Multilabel, 3),
    ] {
        let cfg = ProblemConfig::new(mode).shape(&[2, c, 33, 17]).probabilities(spec.contains("from_logits=false"));
        let p = Problem::generate(&cfg, 21);
        let loss = build(spec);
        let (vs, gs) = loss.forward_backward(&p.batch()).unwrap();
        let (vr, gr) = with_backend(Backend::Scalar, || loss.forward_backward(&p.batch())).unwrap();
        assert!(((vs - vr) as f64).abs() <= 2e-5 * (vr as f64).abs(), "{spec}: {vs} vs {vr}");
        let gmax = gr.iter().fold(0.0f32, |m, g| m.max(g.abs()));
        for (a, r) in gs.iter().zip(gr.iter()) {
            assert!((a - r).abs() <= 2e-5 * gmax + 1e-4 * r.abs(), "{spec}: grad {a} vs {r}");
            assert_eq!(*a == 0.0, *r == 0.0, "{spec}: the same elements selected");
        }
    }
}

/// Central differences on inputs whose kept terms are well separated from the next ones (no
/// selection change within the step), multiclass with every key and binary.
#[test]
fn gradient_matches_central_differences() {
    use segloss_core::testing::kit::{check_gradient, GradTolerance};
    for (spec, mode, c, seed) in [
        ("topk_ce:k=20,class_weights=[1,2,0.5],label_smoothing=0.1,ignore_index=255", Mode::Multiclass, 3, 5u64),
        ("topk_ce:k=50", Mode::Binary, 1, 6),
    ] {
        let ignore = spec.contains("ignore_index").then_some(255);
        let p = Problem::generate(&ProblemConfig::new(mode).shape(&[2, c, 3, 4]).ignore_index(ignore), seed);
        check_gradient(build(spec).as_ref(), &p, &GradTolerance::default()).unwrap_or_else(|e| panic!("{spec}: {e}"));
    }
}

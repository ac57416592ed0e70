//! `focal`'s parity options (issue 18): `class_weights` and `ignore_index` in binary and
//! multilabel mode, `include_background` in every mode, `reduction=sum`.
//!
//! - golden values and gradients from the reference classes: the fixture
//!   `tests/fixtures/focal.json` is written by `tools/golden/focal.py`
//!   (`/work/venv/py/bin/python tools/golden/focal.py`); each case carries its spec and the
//!   Python line that produced its value: MONAI 1.6's `FocalLoss` itself (`monai(x, t, **kw)`,
//!   run in float64), smp 0.6's `FocalLoss` (`smp(mode, **kw)(x, t)`) or torchvision's
//!   `sigmoid_focal_loss`, float64 torch on the stored float32 inputs, `grad` its autograd
//!   gradient;
//! - MONAI's `reduction="sum"` with `ignore_index` (a per-(image, channel) mean, summed) against
//!   per-image segloss evaluations (the documented relation);
//! - every new key against central differences of an f64 re-statement built from the scalar
//!   kernels (`kernels::scalar::element`, `softmax_pixel`);
//! - the SIMD kernels against the scalar ones through the new driver paths, thread determinism,
//!   the `reduction=none` map, the single-channel and all-ignored edge cases;
//! - bad values: a wrong number of class weights (both counts named), negative, NaN and infinite
//!   weights, targets that are neither in [0, 1] nor the ignore value.

use ndarray::{ArrayD, Axis, IxDyn};
use segloss_core::golden::{check_loss, Case, Fixture};
use segloss_core::kernel::with_backend;
use segloss_core::rng::Rng;
use segloss_core::testing::kit::{check_determinism, Problem, ProblemConfig, WeightKind};
use segloss_core::testing::{assert_all_written, check_gradient_fn};
use segloss_core::{Backend, Batch, Loss, LossError, Mode, Reduction, Registry};
use segloss_xent::kernels::{scalar, ElemKind, ElemParams, SoftmaxParams};
use segloss_xent::*;

/// Relative tolerance of the value (the script's).
const VALUE_RTOL: f64 = 1e-5;
/// Absolute tolerance of the value (values near 0).
const VALUE_ATOL: f64 = 1e-7;
/// Gradient tolerance, relative to the largest reference element.
const GRAD_RTOL: f64 = 1e-4;
/// The f32 loss against its f64 re-statement: the value, relative.
const RESTATE_VALUE_REL: f64 = 2e-6;
/// Central differences of the f64 re-statement against the f32 gradient: relative to each element.
const FD_REL: f64 = 2e-4;
/// SIMD against scalar kernels: the value, relative.
const SIMD_VALUE_REL: f64 = 2e-5;
/// SIMD against scalar kernels: each gradient element, relative to max |g|.
const SIMD_GRAD_REL: f64 = 2e-5;

fn fixture() -> Fixture {
    Fixture::load(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/focal.json")).unwrap_or_else(|e| panic!("{e}"))
}

fn build(spec: &str) -> Box<dyn Loss> {
    Box::new(Registry::new(LOSSES).build_str(spec).unwrap_or_else(|e| panic!("{spec}: {e}")))
}

fn logits(shape: &[usize], seed: u64, scale: f32) -> ArrayD<f32> {
    let mut r = Rng::new(seed);
    ArrayD::from_shape_simple_fn(IxDyn(shape), || scale * r.normal())
}

/// Hard float targets, a fraction `frac` set to `ignore`.
fn targets(shape: &[usize], seed: u64, ignore: Option<f32>, frac: f32) -> ArrayD<f32> {
    let mut r = Rng::new(seed);
    ArrayD::from_shape_simple_fn(IxDyn(shape), || {
        let u = r.next_f32();
        match ignore {
            Some(ig) if u < frac => ig,
            _ => (r.next_f32() < 0.4) as u8 as f32,
        }
    })
}

/// Labels `[N, *S]` in `[0, c)`, a fraction `frac` set to `ignore`.
fn labels(shape: &[usize], c: usize, seed: u64, ignore: Option<i64>, frac: f32) -> ArrayD<i64> {
    let mut r = Rng::new(seed);
    ArrayD::from_shape_simple_fn(IxDyn(shape), || {
        let u = r.next_f32();
        match ignore {
            Some(ig) if u < frac => ig,
            _ => ((r.next_f32() * c as f32) as i64).min(c as i64 - 1),
        }
    })
}

fn uniform(shape: &[usize], lo: f32, hi: f32, seed: u64) -> ArrayD<f32> {
    let mut r = Rng::new(seed);
    ArrayD::from_shape_simple_fn(IxDyn(shape), || lo + (hi - lo) * r.next_f32())
}

fn to64(a: &ArrayD<f32>) -> Vec<f64> {
    a.iter().map(|&v| v as f64).collect()
}

fn relation(case: &Case) -> Option<&str> {
    case.extra.get("relation").and_then(|v| v.as_str())
}

// ------------------------------------------------------------------------------- golden ----

/// Every exact case of the fixture holds both tolerances against the library call it states.
#[test]
fn golden_values_and_gradients() {
    let fx = fixture();
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in fx.cases.iter().filter(|c| relation(c).is_none()) {
        let loss = build(&case.spec);
        match check_loss(case, &loss, VALUE_RTOL, VALUE_ATOL, GRAD_RTOL) {
            Ok(c) => eprintln!("{:48} value rel err {:.1e}, grad err / max|ref| {:.1e}", case.name, c.value_rel, c.grad_rel),
            Err(e) => failures.push(e),
        }
        checked += 1;
    }
    assert!(failures.is_empty(), "{} of {checked} golden cases failed:\n{}", failures.len(), failures.join("\n"));
}

/// The fixture is the script's, with the libraries' versions and tolerances, and covers each new
/// key in each mode it applies to, against each library the docs name.
#[test]
fn fixture_covers_the_keys_modes_and_libraries() {
    let fx = fixture();
    assert_eq!(fx.generator, "tools/golden/focal.py");
    assert!(fx.versions.get("monai").is_some_and(|v| v.starts_with("1.6")), "{:?}", fx.versions);
    assert!(fx.versions.get("segmentation_models_pytorch").is_some_and(|v| v.starts_with("0.6")), "{:?}", fx.versions);
    assert!(fx.versions.contains_key("torchvision"));
    let tol = fx.extra.get("tolerance").expect("the script's tolerances");
    assert_eq!(tol["value_rtol"].as_f64(), Some(VALUE_RTOL));
    assert_eq!(tol["value_atol"].as_f64(), Some(VALUE_ATOL));
    assert_eq!(tol["grad_rtol_of_max"].as_f64(), Some(GRAD_RTOL));
    let count = |f: &dyn Fn(&Case) -> bool| fx.cases.iter().filter(|c| f(c)).count();
    let mode = |c: &Case| {
        let pred = &c.inputs["pred"].shape;
        if c.inputs["target"].dtype.is_integer() {
            Mode::Multiclass
        } else if pred.len() < 4 || pred[1] == 1 {
            Mode::Binary
        } else {
            Mode::Multilabel
        }
    };
    for (key, modes) in [
        ("class_weights", &[Mode::Binary, Mode::Multilabel, Mode::Multiclass][..]),
        ("include_background=false", &[Mode::Binary, Mode::Multilabel, Mode::Multiclass]),
        ("ignore_index", &[Mode::Binary, Mode::Multilabel, Mode::Multiclass]),
        ("reduction=sum", &[Mode::Binary, Mode::Multilabel, Mode::Multiclass]),
    ] {
        for &m in modes {
            let n = count(&|c| c.spec.contains(key) && mode(c) == m);
            assert!(n >= 1, "no golden case with {key} in mode {m}");
        }
    }
    assert!(count(&|c| c.python.contains("monai(")) >= 25, "MONAI's FocalLoss is the main anchor");
    assert!(count(&|c| c.python.contains("smp(")) >= 3, "smp's FocalLoss");
    assert!(count(&|c| c.python.contains("sigmoid_focal_loss(")) >= 3, "torchvision");
    assert!(count(&|c| relation(c).is_some()) >= 2, "MONAI's sum with ignore_index");
    // every MONAI case also ran as shipped (float32) and agreed
    for c in fx.cases.iter().filter(|c| c.python.contains("monai(")) {
        let v32 = c.extra.get("monai_float32").and_then(|v| v.as_f64()).unwrap_or_else(|| panic!("{}: no float32 value", c.name));
        let v = c.expected.value.unwrap();
        assert!((v32 - v).abs() <= VALUE_RTOL * v.abs() + VALUE_ATOL, "{}: MONAI float32 {v32} vs float64 {v}", c.name);
    }
}

/// MONAI's `reduction="sum"` with `ignore_index` sums, over (image, channel), the kept terms
/// divided by that image's kept count: segloss's `sum` of each image alone, divided by the
/// image's kept elements (binary) or pixels (multiclass), summed over the images.
#[test]
fn monai_sum_with_ignore_index_is_a_sum_of_per_image_means() {
    let fx = fixture();
    let cases: Vec<&Case> = fx.cases.iter().filter(|c| relation(c) == Some("per_image_mean")).collect();
    assert!(!cases.is_empty());
    for case in cases {
        let loss = build(&case.spec);
        let inputs = case.loss_inputs().unwrap();
        let ignore = 255.0;
        let n = inputs.pred.shape()[0];
        let mut total = 0.0f64;
        for i in 0..n {
            let pred = inputs.pred.index_axis(Axis(0), i).insert_axis(Axis(0)).to_owned();
            let (v, kept) = match &inputs.target {
                segloss_core::OwnedTarget::F32(t) => {
                    let t = t.index_axis(Axis(0), i).insert_axis(Axis(0)).to_owned();
                    let kept = t.iter().filter(|&&v| v != ignore).count();
                    (loss.forward(&Batch::new(&pred, &t)).unwrap(), kept)
                }
                segloss_core::OwnedTarget::I64(t) => {
                    let t = t.index_axis(Axis(0), i).insert_axis(Axis(0)).to_owned();
                    let kept = t.iter().filter(|&&v| v != ignore as i64).count();
                    (loss.forward(&Batch::new(&pred, &t)).unwrap(), kept)
                }
                other => panic!("{}: target {other:?}", case.name),
            };
            total += v as f64 / kept as f64;
        }
        let want = case.expected.value.unwrap();
        assert!((total - want).abs() <= VALUE_RTOL * want.abs(), "{}: per-image means {total} vs MONAI {want}", case.name);
        // and segloss's sum is not MONAI's (the relation is not an identity on these inputs)
        let sum = loss.forward(&case.loss_inputs().unwrap().batch()).unwrap() as f64;
        assert!((sum - want).abs() > 1e-3 * want.abs(), "{}", case.name);
    }
}

// ----------------------------------------------------------------- f64 re-statements ----

/// The f64 re-statement of binary/multilabel focal: `sum over kept elements of w_c l_i * m_i`
/// (m the weight map), divided by the kept count (`mean`). `keep(c)`: channel c is kept.
#[allow(clippy::too_many_arguments)]
fn sigmoid_ref(
    x: &[f64],
    y: &[f64],
    wmap: Option<&[f64]>,
    cw: &[f64],
    keep_first: bool,
    ignore: f64,
    p: &ElemParams,
    (c, s): (usize, usize),
    reduction: Reduction,
) -> f64 {
    let (mut sum, mut count) = (0.0, 0usize);
    for i in 0..x.len() {
        let ch = (i / s) % c;
        if (ch == 0 && !keep_first && c > 1) || y[i] == ignore {
            continue;
        }
        count += 1;
        sum += cw[ch] * scalar::element(x[i], y[i], wmap.map(|w| w[i]), false, p).0;
    }
    match reduction {
        Reduction::Mean if count == 0 => 0.0,
        Reduction::Mean => sum / count as f64,
        _ => sum,
    }
}

/// The f64 re-statement of multiclass focal: per non-ignored pixel, `-w_t (1-p_t)^g log p_t` over
/// the softmax of channels `first..C` (`first = 1` without the background: label 0 adds 0),
/// times the pixel weight; `mean` divides by the non-ignored pixels.
#[allow(clippy::too_many_arguments)]
fn softmax_ref(
    z: &[f64],
    lab: &[i64],
    pw: Option<&[f64]>,
    cw: &[f32],
    first: usize,
    ignore: i64,
    gamma: f32,
    (n, c, s): (usize, usize, usize),
    reduction: Reduction,
) -> f64 {
    let p = SoftmaxParams { classes: c - first, class_weights: &cw[first..], smoothing: 0.0, focal_gamma: Some(gamma) };
    let (mut sum, mut count) = (0.0, 0usize);
    let mut zp = vec![0.0; c - first];
    let mut g = vec![0.0; c - first];
    for i in 0..n {
        for j in 0..s {
            let l = lab[i * s + j];
            if l == ignore {
                continue;
            }
            count += 1;
            if (l as usize) < first {
                continue;
            }
            (first..c).for_each(|k| zp[k - first] = z[(i * c + k) * s + j]);
            let v = scalar::softmax_pixel(&zp, Some(l as usize - first), None, &p, &mut g);
            sum += v * pw.map_or(1.0, |w| w[i * s + j]);
        }
    }
    match reduction {
        Reduction::Mean if count == 0 => 0.0,
        Reduction::Mean => sum / count as f64,
        _ => sum,
    }
}

fn check_against(spec: &str, v: f32, g: &ArrayD<f32>, f: &dyn Fn(&[f64]) -> f64, x64: &[f64]) {
    let v_ref = f(x64);
    assert!((v as f64 - v_ref).abs() <= RESTATE_VALUE_REL * v_ref.abs() + 1e-9, "{spec}: {v} vs f64 {v_ref}");
    let g64: Vec<f64> = g.iter().map(|&v| v as f64).collect();
    check_gradient_fn(f, x64, &g64, 1e-5, FD_REL, 1e-9).unwrap_or_else(|e| panic!("{spec}: {e}"));
}

/// Binary and multilabel: every new key (and their combinations, with a weight map and with
/// probabilities) against central differences of the f64 re-statement.
#[test]
fn sigmoid_keys_match_f64_restatement_and_finite_differences() {
    let shape = [2, 3, 4, 5];
    let (c, s) = (3, 20);
    let x = logits(&shape, 1, 2.5);
    let probs = x.mapv(|v| 1.0 / (1.0 + (-v).exp()));
    let y = targets(&shape, 2, Some(255.0), 0.2);
    let y_default = y.mapv(|v| if v == 255.0 { -100.0 } else { v });
    let wm = uniform(&shape, 0.2, 2.0, 3);
    let cw = [0.5, 2.0, 1.5];
    let params =
        |gamma: f32, a: f32, b: f32, from_logits: bool| ElemParams { kind: ElemKind::Focal { gamma, a, b }, from_logits, smoothing: 0.0 };
    // (spec, kernel params, class weights, keep channel 0, weight map, reduction); a spec without
    // ignore_index=255 gets the targets with -100 (the default ignore_index) instead of 255
    type Row<'a> = (&'a str, ElemParams, [f64; 3], bool, bool, Reduction);
    let rows: Vec<Row> = vec![
        ("focal:class_weights=[0.5,2,1.5],mode=multilabel", params(2.0, 0.25, 0.75, true), cw, true, false, Reduction::Mean),
        ("focal:include_background=false,alpha=none,mode=multilabel", params(2.0, 1.0, 1.0, true), [1.0; 3], false, false, Reduction::Mean),
        ("focal:ignore_index=255,gamma=0.5,mode=multilabel", params(0.5, 0.25, 0.75, true), [1.0; 3], true, false, Reduction::Mean),
        ("focal:mode=multilabel,gamma=1.5,reduction=sum", params(1.5, 0.25, 0.75, true), [1.0; 3], true, true, Reduction::Sum),
        (
            "focal:class_weights=[0.5,2,1.5],include_background=false,ignore_index=255,alpha=0.6,mode=multilabel",
            params(2.0, 0.6, 0.4, true),
            cw,
            false,
            true,
            Reduction::Mean,
        ),
        (
            "focal:class_weights=[0.5,2,1.5],ignore_index=255,reduction=sum,gamma=0.7,mode=multilabel",
            params(0.7, 0.25, 0.75, true),
            cw,
            true,
            true,
            Reduction::Sum,
        ),
        (
            "focal:class_weights=[0.5,2,1.5],include_background=false,ignore_index=255,from_logits=false,mode=multilabel",
            params(2.0, 0.25, 0.75, false),
            cw,
            false,
            false,
            Reduction::Mean,
        ),
    ];
    for (spec, p, cwr, keep_first, with_w, reduction) in rows {
        let loss = build(spec);
        let pred = if p.from_logits { &x } else { &probs };
        let (yy, ignore) = if spec.contains("ignore_index=255") { (&y, 255.0) } else { (&y_default, -100.0) };
        let mut batch = Batch::new(pred, yy);
        if with_w {
            batch = batch.with_weight(&wm);
        }
        let (v, g) = loss.forward_backward(&batch).unwrap();
        let (y64, w64) = (to64(yy), to64(&wm));
        let f = |xv: &[f64]| sigmoid_ref(xv, &y64, with_w.then_some(w64.as_slice()), &cwr, keep_first, ignore, &p, (c, s), reduction);
        check_against(spec, v, &g, &f, &to64(pred));
        // ignored elements and a dropped channel 0 get a zero gradient
        for (i, (&gi, &yi)) in g.iter().zip(yy.iter()).enumerate() {
            if yi as f64 == ignore || (!keep_first && (i / s) % c == 0) {
                assert_eq!(gi, 0.0, "{spec}: gradient[{i}]");
            }
        }
    }
}

/// Binary (with and without the channel axis) with one class weight and ignored elements.
#[test]
fn binary_keys_match_f64_restatement_and_finite_differences() {
    for shape in [vec![3, 1, 5, 7], vec![3, 5, 7]] {
        let x = logits(&shape, 5, 3.0);
        let y = targets(&shape, 6, Some(255.0), 0.25);
        let s = shape[1..].iter().product::<usize>();
        for (spec, red) in [
            ("focal:class_weights=[2.5],ignore_index=255,mode=binary", Reduction::Mean),
            ("focal:class_weights=[0.3],ignore_index=255,alpha=none,reduction=sum,mode=binary", Reduction::Sum),
            ("focal:include_background=false,ignore_index=255,gamma=0.5,mode=binary", Reduction::Mean),
        ] {
            let cfg = Registry::new(LOSSES).build_str(spec).unwrap();
            let (_, l) = cfg.terms().next().unwrap();
            let c = l.config().unwrap().downcast_ref::<FocalConfig>().unwrap().clone();
            let (a, b) = c.alpha.weights();
            let p = ElemParams { kind: ElemKind::Focal { gamma: c.gamma, a, b }, from_logits: true, smoothing: 0.0 };
            let w = c.class_weights.as_ref().map_or(1.0, |w| w[0] as f64);
            let (v, g) = build(spec).forward_backward(&Batch::new(&x, &y)).unwrap();
            let y64 = to64(&y);
            let f = |xv: &[f64]| sigmoid_ref(xv, &y64, None, &[w, w, w], true, 255.0, &p, (1, s), red);
            check_against(&format!("{spec} on {shape:?}"), v, &g, &f, &to64(&x));
        }
    }
}

/// Multiclass: `include_background=false` (softmax over the kept channels), with class weights,
/// ignored pixels, a per-pixel weight and `sum`, against central differences of the f64
/// re-statement.
#[test]
fn softmax_keys_match_f64_restatement_and_finite_differences() {
    let (n, c, h, w) = (2usize, 4usize, 3usize, 5usize);
    let s = h * w;
    let z = logits(&[n, c, h, w], 11, 2.0);
    let lab = labels(&[n, h, w], c, 12, Some(255), 0.15);
    let pw = uniform(&[n, h, w], 0.5, 1.5, 13);
    let cw = [3.0f32, 0.5, 1.0, 2.0];
    for (spec, gamma, first, class_w, with_pw, ignore, reduction) in [
        ("focal:include_background=false", 2.0, 1, false, false, -100, Reduction::Mean),
        ("focal:include_background=false,ignore_index=255,gamma=0.5", 0.5, 1, false, true, 255, Reduction::Mean),
        ("focal:include_background=false,ignore_index=255,class_weights=[3,0.5,1,2],gamma=1.5", 1.5, 1, true, false, 255, Reduction::Mean),
        (
            "focal:include_background=false,ignore_index=255,class_weights=[3,0.5,1,2],reduction=sum",
            2.0,
            1,
            true,
            true,
            255,
            Reduction::Sum,
        ),
        ("focal:ignore_index=255,class_weights=[3,0.5,1,2],reduction=sum,gamma=0", 0.0, 0, true, true, 255, Reduction::Sum),
    ] {
        let lab_used = if ignore == 255 { lab.clone() } else { lab.mapv(|v| if v == 255 { 0 } else { v }) };
        let loss = build(spec);
        let mut batch = Batch::new(&z, &lab_used);
        if with_pw {
            batch = batch.with_weight(&pw);
        }
        let (v, g) = loss.forward_backward(&batch).unwrap();
        let l64: Vec<i64> = lab_used.iter().copied().collect();
        let pw64 = to64(&pw);
        let ones = [1.0f32; 4];
        let cwr: &[f32] = if class_w { &cw } else { &ones };
        let f = |zv: &[f64]| softmax_ref(zv, &l64, with_pw.then_some(pw64.as_slice()), cwr, first, ignore, gamma, (n, c, s), reduction);
        check_against(spec, v, &g, &f, &to64(&z));
        if first == 1 {
            // the background logit takes no part: its gradient is 0 everywhere
            assert!(g.index_axis(Axis(1), 0).iter().all(|&v| v == 0.0), "{spec}");
        }
    }
}

// ------------------------------------------------------------------- kernels, threads ----

/// The new driver paths (per-channel factors, masked ranges, the shifted softmax) on the SIMD
/// kernels against the scalar ones, on batches spanning several blocks with odd tails.
#[test]
fn simd_equals_scalar_on_the_new_paths() {
    let ml = [3, 3, 61, 67];
    let x = logits(&ml, 21, 3.0);
    let y = targets(&ml, 22, Some(255.0), 0.1);
    let y_def = y.mapv(|v| if v == 255.0 { -100.0 } else { v });
    let wm = uniform(&ml, 0.2, 2.0, 23);
    let wp = uniform(&[3, 61, 67], 0.2, 2.0, 24);
    let probs = x.mapv(|v| 1.0 / (1.0 + (-v).exp()));
    let z = logits(&[2, 5, 45, 47], 25, 2.0);
    let lab = labels(&[2, 45, 47], 5, 26, Some(255), 0.1);
    let pwm = uniform(&[2, 45, 47], 0.2, 2.0, 27);
    type Run<'a> = (&'a str, Batch<'a>);
    let runs: Vec<Run> = vec![
        ("focal:class_weights=[0.5,2,1.5],mode=multilabel", Batch::new(&x, &y_def)),
        ("focal:include_background=false,gamma=0.5,mode=multilabel", Batch::new(&x, &y_def)),
        ("focal:ignore_index=255,class_weights=[1,0,3],mode=multilabel", Batch::new(&x, &y).with_weight(&wm)),
        ("focal:ignore_index=255,include_background=false,gamma=1.5,reduction=sum,mode=multilabel", Batch::new(&x, &y).with_weight(&wp)),
        ("focal:mode=multilabel", Batch::new(&x, &y_def)),
        ("focal:ignore_index=255,class_weights=[2,1,0.5],from_logits=false,mode=multilabel", Batch::new(&probs, &y)),
        ("focal:include_background=false,ignore_index=255", Batch::new(&z, &lab)),
        ("focal:include_background=false,ignore_index=255,class_weights=[1,2,0.5,3,1],gamma=0.7", Batch::new(&z, &lab).with_weight(&pwm)),
    ];
    for (spec, batch) in runs {
        let loss = build(spec);
        let (vs, gs) = with_backend(Backend::Scalar, || loss.forward_backward(&batch)).unwrap();
        let (vv, gv) = with_backend(Backend::Simd, || loss.forward_backward(&batch)).unwrap();
        assert!(((vs - vv) as f64).abs() <= SIMD_VALUE_REL * (vs as f64).abs(), "{spec}: scalar {vs} simd {vv}");
        let gmax = gs.iter().fold(0.0f64, |m, &v| m.max((v as f64).abs()));
        for (i, (a, b)) in gs.iter().zip(gv.iter()).enumerate() {
            assert!(((a - b) as f64).abs() <= SIMD_GRAD_REL * gmax, "{spec}: gradient[{i}] scalar {a} simd {b}");
        }
    }
}

/// The new keys give the same bits on 1, 2 and 3 threads and write every gradient element.
#[test]
fn new_keys_are_deterministic_across_threads() {
    let big = |mode: Mode, c: usize, ignore: Option<i64>, w: WeightKind| {
        Problem::generate(&ProblemConfig::new(mode).shape(&[2, c, 71, 83]).ignore_index(ignore).weight(w), 3)
    };
    for (spec, problem) in [
        ("focal:class_weights=[0.5,2,1.5],include_background=false,mode=multilabel", big(Mode::Multilabel, 3, None, WeightKind::None)),
        ("focal:ignore_index=255,class_weights=[1,2,3],mode=multilabel", big(Mode::Multilabel, 3, Some(255), WeightKind::PerElement)),
        ("focal:ignore_index=255,class_weights=[4],mode=binary", big(Mode::Binary, 1, Some(255), WeightKind::None)),
        ("focal:mode=binary", big(Mode::Binary, 1, Some(-100), WeightKind::None)),
        (
            "focal:include_background=false,ignore_index=255,class_weights=[1,2,0.5]",
            big(Mode::Multiclass, 3, Some(255), WeightKind::PerPixel),
        ),
    ] {
        check_determinism(build(spec).as_ref(), &problem).unwrap_or_else(|e| panic!("{spec}: {e}"));
    }
}

// ------------------------------------------------------------------------- semantics ----

/// `include_background=false` with one channel is ignored (MONAI warns and ignores it): the same
/// bits as the default, binary with and without the channel axis and multilabel with C = 1.
#[test]
fn include_background_false_is_ignored_with_one_channel() {
    for (shape, mode) in [(vec![2, 1, 9, 11], "binary"), (vec![2, 9, 11], "binary"), (vec![2, 1, 9, 11], "multilabel")] {
        let x = logits(&shape, 31, 2.0);
        let y = targets(&shape, 32, Some(255.0), 0.1);
        for keys in ["", ",ignore_index=255,class_weights=[2]", ",reduction=sum,gamma=0.5"] {
            let a = build(&format!("focal:mode={mode}{keys}")).forward_backward(&Batch::new(&x, &y));
            let b = build(&format!("focal:mode={mode},include_background=false{keys}")).forward_backward(&Batch::new(&x, &y));
            match (a, b) {
                (Ok((va, ga)), Ok((vb, gb))) => {
                    assert_eq!(va.to_bits(), vb.to_bits(), "{shape:?} {mode}{keys}");
                    assert!(ga.iter().zip(gb.iter()).all(|(p, q)| p.to_bits() == q.to_bits()), "{shape:?} {mode}{keys}");
                }
                // without ignore_index=255 the 255 targets are errors, for both
                (Err(ea), Err(eb)) => assert_eq!(ea.to_string(), eb.to_string()),
                (a, b) => panic!("{shape:?} {mode}{keys}: {a:?} vs {b:?}"),
            }
        }
    }
}

/// Class weights are one factor per channel: equal weights `k` give `k` times plain focal (the
/// mean's divisor unchanged), and channel c's gradient is `w_c` times plain focal's.
#[test]
fn class_weights_scale_each_channel() {
    let shape = [2, 3, 17, 19];
    let x = logits(&shape, 41, 2.0);
    let y = targets(&shape, 42, None, 0.0);
    let (v0, g0) = build("focal:mode=multilabel").forward_backward(&Batch::new(&x, &y)).unwrap();
    let (v2, _) = build("focal:mode=multilabel,class_weights=[2,2,2]").forward_backward(&Batch::new(&x, &y)).unwrap();
    assert!((v2 as f64 - 2.0 * v0 as f64).abs() <= 1e-6 * v0 as f64, "{v2} vs 2 x {v0}");
    let w = [0.5f32, 0.0, 3.0];
    let (_, gw) = build("focal:mode=multilabel,class_weights=[0.5,0,3]").forward_backward(&Batch::new(&x, &y)).unwrap();
    for (c, wc) in w.iter().enumerate() {
        for (a, b) in gw.index_axis(Axis(1), c).iter().zip(g0.index_axis(Axis(1), c).iter()) {
            assert!((a - wc * b).abs() <= 1e-6 * b.abs().max(1e-30), "channel {c}: {a} vs {wc} x {b}");
        }
    }
    // huge weights (1e38) stay finite where the loss is: the factor multiplies the f64 sum
    let x1 = logits(&[2, 1, 8, 8], 43, 2.0);
    let y1 = targets(&[2, 1, 8, 8], 44, None, 0.0);
    let plain = build("focal").forward(&Batch::new(&x1, &y1)).unwrap() as f64;
    let huge = build("focal:class_weights=[1e38]").forward(&Batch::new(&x1, &y1)).unwrap() as f64;
    assert!(huge.is_finite() && (huge - 1e38 * plain).abs() <= 1e-6 * 1e38 * plain, "{huge} vs 1e38 x {plain}");
}

/// `reduction=none` (through `forward_map`): each element is `w_c` times plain focal's, 0 at
/// ignored elements and on a dropped channel 0 (multiclass: 0 at pixels labelled 0); the map sums
/// to the `sum` value.
#[test]
fn the_unreduced_map_follows_the_keys() {
    let none = XentKeys { reduction: Reduction::None, ..Default::default() };
    let shape = [2, 3, 6, 7];
    let x = logits(&shape, 51, 2.0);
    let y = targets(&shape, 52, Some(255.0), 0.2);
    let plain = FocalConfig { common: none, ignore_index: 255, mode: Some(Mode::Multilabel), ..Default::default() }.build().unwrap();
    let cfg = FocalConfig {
        common: none,
        ignore_index: 255,
        class_weights: Some(vec![0.5, 2.0, 1.5]),
        include_background: false,
        mode: Some(Mode::Multilabel),
        ..Default::default()
    };
    let m0 = plain.forward_map(&Batch::new(&x, &y)).unwrap();
    let m = cfg.build().unwrap().forward_map(&Batch::new(&x, &y)).unwrap();
    let w = [0.0f32, 2.0, 1.5];
    for (i, ((&a, &b), &t)) in m.iter().zip(m0.iter()).zip(y.iter()).enumerate() {
        let c = (i / 42) % 3;
        let want = if t == 255.0 { 0.0 } else { w[c] * b };
        assert!((a - want).abs() <= 1e-6 * want.abs(), "map[{i}] {a} vs {want}");
    }
    let sum = build("focal:ignore_index=255,class_weights=[0.5,2,1.5],include_background=false,reduction=sum,mode=multilabel")
        .forward(&Batch::new(&x, &y))
        .unwrap();
    let msum: f64 = m.iter().map(|&v| v as f64).sum();
    assert!((msum - sum as f64).abs() <= 1e-5 * msum, "{msum} vs {sum}");
    // multiclass: [N, *S], 0 where the label is 0 or ignored
    let z = logits(&[2, 4, 6, 7], 53, 2.0);
    let lab = labels(&[2, 6, 7], 4, 54, Some(255), 0.2);
    let cfg = FocalConfig { common: none, ignore_index: 255, include_background: false, ..Default::default() };
    let m = cfg.build().unwrap().forward_map(&Batch::new(&z, &lab)).unwrap();
    assert_eq!(m.shape(), lab.shape());
    for (&v, &l) in m.iter().zip(lab.iter()) {
        assert_eq!(v == 0.0, l == 0 || l == 255, "label {l}: term {v}");
    }
    let sum = build("focal:ignore_index=255,include_background=false,reduction=sum").forward(&Batch::new(&z, &lab)).unwrap();
    let msum: f64 = m.iter().map(|&v| v as f64).sum();
    assert!((msum - sum as f64).abs() <= 1e-5 * msum, "{msum} vs {sum}");
}

/// The default `ignore_index` (-100) applies in binary mode too: float and integer targets of
/// -100 leave the mean (the plain pass finds them and the batch runs again masked), the same
/// value as an explicit `ignore_index`; every element ignored gives 0 with a zero gradient.
#[test]
fn default_ignore_index_in_binary_mode() {
    let shape = [2, 1, 23, 29];
    let x = logits(&shape, 61, 2.0);
    let y = targets(&shape, 62, Some(-100.0), 0.2);
    let y7 = y.mapv(|v| if v == -100.0 { 7.0 } else { v });
    let (v, g) = build("focal").forward_backward(&Batch::new(&x, &y)).unwrap();
    let (v7, g7) = build("focal:ignore_index=7").forward_backward(&Batch::new(&x, &y7)).unwrap();
    assert_eq!(v.to_bits(), v7.to_bits());
    assert!(g.iter().zip(g7.iter()).all(|(a, b)| a.to_bits() == b.to_bits()));
    // integer labels
    let yi = y.mapv(|v| v as i64);
    let (vi, _) = build("focal").forward_backward(&Batch::new(&x, &yi)).unwrap();
    assert_eq!(v.to_bits(), vi.to_bits());
    // all ignored
    let all = ArrayD::from_elem(IxDyn(&shape), -100.0f32);
    let mut gbuf = ArrayD::from_elem(IxDyn(&shape), f32::NAN);
    let v0 = build("focal").forward_backward_into(&Batch::new(&x, &all), gbuf.view_mut(), 1.0).unwrap();
    assert_eq!(v0, 0.0);
    assert_all_written(gbuf.as_slice().unwrap());
    assert!(gbuf.iter().all(|&g| g == 0.0));
}

/// Multiclass with two channels and `include_background=false`: a softmax over one channel is 1,
/// so every term and the whole gradient are 0 (MONAI gives 0 too).
#[test]
fn two_classes_without_background_give_zero() {
    let z = logits(&[2, 2, 9, 9], 71, 3.0);
    let lab = labels(&[2, 9, 9], 2, 72, None, 0.0);
    for backend in [Backend::Scalar, Backend::Simd] {
        for spec in ["focal:include_background=false", "focal:include_background=false,gamma=0", "focal:include_background=false,gamma=0.5"]
        {
            let (v, g) = with_backend(backend, || build(spec).forward_backward(&Batch::new(&z, &lab))).unwrap();
            assert_eq!(v, 0.0, "{spec} {backend:?}");
            assert!(g.iter().all(|&x| x == 0.0), "{spec} {backend:?}");
        }
    }
}

// ------------------------------------------------------------------------- bad values ----

fn config_error(e: LossError) -> (String, String, String) {
    match e {
        LossError::InvalidConfig { key, value, reason } => (key, value, reason),
        e => panic!("unexpected {e}"),
    }
}

/// A wrong number of class weights names both counts, at build time (mode=binary) and at
/// evaluation (the channel count of pred); multiclass without the background still takes one
/// weight per channel (MONAI's C - 1 form is refused with a hint).
#[test]
fn a_wrong_number_of_class_weights_names_both_counts() {
    let (k, v, r) = config_error(Registry::new(LOSSES).build_str("focal:mode=binary,class_weights=[1,2]").map(|_| ()).unwrap_err());
    assert_eq!((k.as_str(), v.as_str()), ("class_weights", "[1,2]"));
    assert!(r.contains("2 values") && r.contains("1 channel"), "{r}");
    let x3 = logits(&[2, 3, 4, 5], 81, 1.0);
    let y3 = targets(&[2, 3, 4, 5], 82, None, 0.0);
    let x1 = logits(&[2, 1, 4, 5], 83, 1.0);
    let y1 = targets(&[2, 1, 4, 5], 84, None, 0.0);
    let z4 = logits(&[2, 4, 4, 5], 85, 1.0);
    let l4 = labels(&[2, 4, 5], 4, 86, None, 0.0);
    let cases: Vec<(&str, Batch, &str, &str)> = vec![
        ("focal:class_weights=[1,2]", Batch::new(&x3, &y3), "2 values", "3 channels"),
        ("focal:class_weights=[1,2,3,4]", Batch::new(&x3, &y3), "4 values", "3 channels"),
        ("focal:class_weights=[1,2,3]", Batch::new(&x1, &y1), "3 values", "1 channel "),
        ("focal:class_weights=[1,2,3],include_background=false", Batch::new(&z4, &l4), "3 values", "4 channels"),
    ];
    for (spec, batch, given, expected) in cases {
        let (k, _, r) = config_error(build(spec).forward(&batch).unwrap_err());
        assert_eq!(k, "class_weights", "{spec}");
        assert!(r.contains(given) && r.contains(expected), "{spec}: {r}");
        if spec.contains("include_background=false") {
            assert!(r.contains("the background's included"), "{spec}: {r}");
        }
    }
}

/// Negative, NaN and infinite class weights are errors naming the key and the values, in every
/// mode; so are weights spanning more than 1e30.
#[test]
fn bad_class_weights_are_errors() {
    for spec in ["focal:class_weights=[1,-2,1],mode=multilabel", "focal:class_weights=[-0.5],mode=binary", "focal:class_weights=[]"] {
        let (k, _, r) = config_error(Registry::new(LOSSES).build_str(spec).map(|_| ()).unwrap_err());
        assert_eq!(k, "class_weights", "{spec}");
        assert!(r.contains("finite values >= 0"), "{spec}: {r}");
    }
    for w in [f32::NAN, f32::INFINITY, -1.0] {
        for mode in [Mode::Binary, Mode::Multilabel, Mode::Multiclass] {
            let cw = if mode == Mode::Binary { vec![w] } else { vec![1.0, w, 2.0] };
            let e = FocalConfig { class_weights: Some(cw), mode: Some(mode), ..Default::default() }.build().unwrap_err();
            let (k, v, r) = config_error(e);
            assert_eq!(k, "class_weights");
            assert!(v.starts_with('[') && v.ends_with(']'), "{v}");
            assert!(r.contains("finite values >= 0"), "{r}");
        }
    }
    let (k, _, r) = config_error(Registry::new(LOSSES).build_str("focal:class_weights=[1,1e-31],mode=multilabel").map(|_| ()).unwrap_err());
    assert!(k == "class_weights" && r.contains("1e-30"), "{r}");
}

/// A binary or multilabel target neither in [0, 1] nor equal to `ignore_index` is an error naming
/// its index, the value and the ignore index; integer targets likewise.
#[test]
fn targets_outside_the_range_and_not_ignored_are_errors() {
    let shape = [2, 3, 4, 5];
    let x = logits(&shape, 91, 1.0);
    let mut y = targets(&shape, 92, Some(255.0), 0.2);
    y[[1, 2, 3, 4]] = 7.0;
    for spec in ["focal:ignore_index=255,mode=multilabel", "focal:ignore_index=255,include_background=false,class_weights=[1,2,3]"] {
        for backend in [Backend::Scalar, Backend::Simd] {
            let e = with_backend(backend, || build(spec).forward_backward(&Batch::new(&x, &y))).unwrap_err();
            match &e {
                LossError::LabelOutOfRange { label, index, expected } => {
                    assert_eq!(label, "7");
                    assert_eq!(index, &vec![1, 2, 3, 4]);
                    assert!(expected.contains("ignore_index 255"), "{expected}");
                }
                e => panic!("{spec}: {e}"),
            }
        }
    }
    // on a dropped channel 0 too (the targets are checked, not silently skipped)
    let mut y0 = targets(&shape, 93, None, 0.0);
    y0[[0, 0, 1, 1]] = -3.0;
    let e = build("focal:include_background=false,mode=multilabel").forward(&Batch::new(&x, &y0)).unwrap_err();
    assert!(matches!(&e, LossError::LabelOutOfRange { index, .. } if index == &vec![0, 0, 1, 1]), "{e}");
    // the default -100 with a 255 present: 255 is the error
    let e = build("focal:mode=multilabel").forward(&Batch::new(&x, &y)).unwrap_err();
    assert!(matches!(&e, LossError::LabelOutOfRange { expected, .. } if expected.contains("ignore_index -100")), "{e}");
    // integer binary labels: 255 with ignore_index=255, not 3
    let xb = logits(&[2, 1, 4, 5], 94, 1.0);
    let mut yb = labels(&[2, 1, 4, 5], 2, 95, Some(255), 0.2);
    assert!(build("focal:ignore_index=255").forward(&Batch::new(&xb, &yb)).is_ok());
    yb[[0, 0, 0, 0]] = 3;
    assert!(build("focal:ignore_index=255").forward(&Batch::new(&xb, &yb)).is_err());
}

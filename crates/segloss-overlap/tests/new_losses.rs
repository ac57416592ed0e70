//! `mcc` (Abhishek & Hamarneh 2021) and `unified_focal` (Yeung et al. 2022):
//! - golden values and gradients of `tests/fixtures/new_losses.json`, written by
//!   `tools/golden/new_losses.py`, which calls segmentation_models_pytorch 0.6's own
//!   `MCCLoss(eps)` and MONAI 1.6's own `AsymmetricUnifiedFocalLoss(to_onehot_y, num_classes=2,
//!   weight, gamma, delta)` in float64 (value and torch-autograd gradient with respect to `pred`,
//!   through `torch.sigmoid` / `torch.softmax` for the logit cases), on both kernel backends;
//! - scalar `f64` references written here from the formulas of `docs/LOSSES.md` (sections mcc and
//!   unified_focal), their values against the losses and their central differences against the
//!   losses' analytic gradients, in every mode, target kind and activation, over the keys;
//! - semantics (pooling over the batch, binary = two-channel softmax of `[0, x]`, the clamp's zero
//!   gradient, perfect predictions), SIMD against scalar kernels, the same bits across thread
//!   counts and layouts, and the errors.

use ndarray::{ArrayD, IxDyn};
use segloss_core::golden::{check_loss, Fixture};
use segloss_core::kernel::{with_backend, Backend};
use segloss_core::rng::Rng;
use segloss_core::testing::kit::{check_determinism, check_layouts, Problem, ProblemConfig};
use segloss_core::testing::{assert_all_written, central_diff, max_abs_diff};
use segloss_core::{Batch, Loss, LossError, Mode, Registry};

/// Golden value: `|value - ref| <= VALUE_REL |ref| + VALUE_ABS` (f32 kernels against float64).
const VALUE_REL: f64 = 1e-5;
const VALUE_ABS: f64 = 1e-7;
/// Golden and reference gradients: `max |grad - ref| <= GRAD_REL * max |ref|`.
const GRAD_REL: f64 = 1e-4;
/// Central-difference step of the f64 references (relative to `max(1, |x|)`).
const FD_STEP: f64 = 1e-6;
/// SIMD against scalar kernels: value relative, gradient relative to its largest element.
const SIMD_VALUE_REL: f64 = 1e-5;
const SIMD_GRAD_REL: f64 = 2e-5;
/// MONAI's clamp and Tversky smoothing.
const EPS: f64 = 1e-7;

fn registry() -> Registry<'static> {
    Registry::new(segloss_overlap::LOSSES)
}

fn build(spec: &str) -> Box<dyn Loss> {
    Box::new(registry().build_str(spec).unwrap_or_else(|e| panic!("{spec}: {e}")))
}

#[test]
fn golden_values_and_gradients_from_smp_and_monai() {
    let fx = Fixture::load(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/new_losses.json")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fx.generator, "tools/golden/new_losses.py");
    assert!(fx.versions.get("monai").is_some_and(|v| v.starts_with("1.")), "{:?}", fx.versions);
    assert!(fx.versions.get("segmentation_models_pytorch").is_some_and(|v| v.starts_with("0.")), "{:?}", fx.versions);
    let count = |p: &str| fx.cases.iter().filter(|c| c.spec.starts_with(p)).count();
    assert!(count("mcc") >= 15 && count("unified_focal") >= 20, "{} cases", fx.cases.len());
    let mut failures = Vec::new();
    for case in &fx.cases {
        let loss = registry().build_str(&case.spec).unwrap_or_else(|e| panic!("{}", case.error(e)));
        for backend in [Backend::Simd, Backend::Scalar] {
            match with_backend(backend, || check_loss(case, &loss, VALUE_REL, VALUE_ABS, GRAD_REL)) {
                Ok(c) => {
                    eprintln!("{:44} {backend:?}: value rel err {:.1e}, grad err / max|ref| {:.1e}", case.name, c.value_rel, c.grad_rel)
                }
                Err(e) => failures.push(format!("{backend:?} kernels: {e}")),
            }
        }
    }
    assert!(failures.is_empty(), "{} failures over {} cases:\n{}", failures.len(), fx.cases.len(), failures.join("\n"));
    // the one value-only case (MONAI's gradient is not finite there): ours is finite
    let case = fx.cases.iter().find(|c| c.name == "uf_delta_1_empty_foreground").expect("the delta=1 case");
    assert!(case.expected.grad.is_none());
    let inputs = case.loss_inputs().unwrap();
    let (_, g) = build(&case.spec).forward_backward(&inputs.batch()).unwrap();
    assert!(g.iter().all(|v| v.is_finite()));
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// `mcc` from docs/LOSSES.md (section mcc), smp's formula in f64: every element of the batch pooled.
fn mcc_reference(x: &[f64], y: &[f64], logits: bool, s: f64) -> f64 {
    let (mut tp, mut fp, mut fn_, mut tn) = (s, s, s, s);
    for (&xi, &yi) in x.iter().zip(y) {
        let p = if logits { sigmoid(xi) } else { xi };
        tp += p * yi;
        fp += p * (1.0 - yi);
        fn_ += (1.0 - p) * yi;
        tn += (1.0 - p) * (1.0 - yi);
    }
    1.0 - (tp * tn - fp * fn_) / ((tp + fp) * (tp + fn_) * (tn + fp) * (tn + fn_)).sqrt()
}

/// Targets of the `unified_focal` reference.
#[derive(Debug, Clone)]
enum Tgt {
    /// Binary floats `[N, S]`.
    Binary(Vec<f64>),
    /// Two-channel labels `[N, S]`.
    Labels(Vec<usize>),
    /// Two-channel class probabilities `[N, 2, S]`.
    Probs(Vec<f64>),
}

/// `unified_focal` from docs/LOSSES.md (section unified_focal), MONAI's formula in f64: `x` is
/// `pred` `[N, 1, S]` (binary) or `[N, 2, S]`.
fn uf_reference(x: &[f64], t: &Tgt, n: usize, logits: bool, (w, d, g): (f64, f64, f64)) -> f64 {
    let two = !matches!(t, Tgt::Binary(_));
    let s = x.len() / (n * if two { 2 } else { 1 });
    let clamp = |p: f64| p.clamp(EPS, 1.0 - EPS);
    let (mut focal, mut ft) = (0.0, 0.0);
    for img in 0..n {
        // TP, FN, FP per channel
        let mut c = [[0.0f64; 3]; 2];
        for j in 0..s {
            let (p0, p1) = if two {
                let (z0, z1) = (x[img * 2 * s + j], x[(img * 2 + 1) * s + j]);
                if logits {
                    let m = z0.max(z1);
                    let (e0, e1) = ((z0 - m).exp(), (z1 - m).exp());
                    (e0 / (e0 + e1), e1 / (e0 + e1))
                } else {
                    (z0, z1)
                }
            } else {
                let p = if logits { sigmoid(x[img * s + j]) } else { x[img * s + j] };
                (1.0 - p, p)
            };
            let (y0, y1) = match t {
                Tgt::Binary(y) => (1.0 - y[img * s + j], y[img * s + j]),
                Tgt::Labels(l) => ((l[img * s + j] == 0) as u8 as f64, (l[img * s + j] == 1) as u8 as f64),
                Tgt::Probs(q) => (q[img * 2 * s + j], q[(img * 2 + 1) * s + j]),
            };
            let (q0, q1) = (clamp(p0), clamp(p1));
            focal += (1.0 - d) * (1.0 - q0).powf(g) * (-y0 * q0.ln()) + d * (-y1 * q1.ln());
            for (k, (q, y)) in [(q0, y0), (q1, y1)].into_iter().enumerate() {
                c[k][0] += y * q;
                c[k][1] += y * (1.0 - q);
                c[k][2] += (1.0 - y) * q;
            }
        }
        let ti = |k: usize| (c[k][0] + EPS) / (c[k][0] + d * c[k][1] + (1.0 - d) * c[k][2] + EPS);
        ft += (1.0 - ti(0)) + (1.0 - ti(1)).max(0.0).powf(1.0 - g);
    }
    w * focal / (2.0 * (n * s) as f64) + (1.0 - w) * ft / (2.0 * n as f64)
}

/// Logits in `[-scale, scale]` (or probabilities in (0.02, 0.98)).
fn preds(rng: &mut Rng, len: usize, probs: bool, scale: f32) -> Vec<f32> {
    (0..len).map(|_| if probs { rng.uniform(0.02, 0.98) } else { rng.uniform(-scale, scale) }).collect()
}

fn eval_dense(loss: &dyn Loss, x: &ArrayD<f32>, y: &[f64]) -> (f32, ArrayD<f32>) {
    let t = ArrayD::from_shape_vec(IxDyn(x.shape()), y.iter().map(|&v| v as f32).collect()).unwrap();
    loss.forward_backward(&Batch::new(x, &t)).unwrap()
}

fn eval_uf(loss: &dyn Loss, x: &ArrayD<f32>, t: &Tgt) -> (f32, ArrayD<f32>) {
    match t {
        Tgt::Binary(y) | Tgt::Probs(y) => eval_dense(loss, x, y),
        Tgt::Labels(l) => {
            let mut ts = vec![x.shape()[0]];
            ts.extend(&x.shape()[2..]);
            let l = ArrayD::from_shape_vec(IxDyn(&ts), l.iter().map(|&v| v as i64).collect()).unwrap();
            loss.forward_backward(&Batch::new(x, &l)).unwrap()
        }
    }
}

/// The loss's value against `f` at `x`, and its gradient against `f`'s central differences.
fn check_against(what: &str, v: f32, g: &ArrayD<f32>, f: &dyn Fn(&[f64]) -> f64, x: &ArrayD<f32>) {
    let xs: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let want = f(&xs);
    assert!((v as f64 - want).abs() <= VALUE_REL * want.abs() + 2e-6, "{what}: value {v} vs reference {want}");
    let num = central_diff(f, &xs, FD_STEP);
    let gmax = num.iter().fold(0.0f64, |a, b| a.max(b.abs()));
    for (i, (a, b)) in g.iter().zip(&num).enumerate() {
        assert!((*a as f64 - b).abs() <= GRAD_REL * gmax + 1e-9, "{what}: grad[{i}] {a} vs numeric {b} (max {gmax:.3e})");
    }
}

#[test]
fn mcc_value_and_gradient_match_the_f64_reference() {
    let mut rng = Rng::new(41);
    let mut checked = 0;
    for shape in [vec![2usize, 1, 5, 4], vec![2, 3, 3, 4], vec![1, 2, 3, 2, 3], vec![3, 1, 11]] {
        let len: usize = shape.iter().product();
        for soft in [false, true] {
            for logits in [true, false] {
                for smooth in [1e-5, 1e-3, 1.0] {
                    let x = ArrayD::from_shape_vec(IxDyn(&shape), preds(&mut rng, len, !logits, 3.0)).unwrap();
                    let y: Vec<f64> =
                        (0..len).map(|_| if soft { rng.next_f32() as f64 } else { (rng.next_f32() < 0.4) as u8 as f64 }).collect();
                    let spec = format!("mcc:smooth={smooth},from_logits={logits}");
                    let (v, g) = eval_dense(build(&spec).as_ref(), &x, &y);
                    let f = |v: &[f64]| mcc_reference(v, &y, logits, smooth);
                    check_against(&format!("{spec} {shape:?} soft={soft}"), v, &g, &f, &x);
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 4 * 12);
}

/// A `unified_focal` problem: `pred` (logits or probabilities) and targets of `kind` (0 binary, 1
/// labels, 2 class probabilities).
fn uf_problem(rng: &mut Rng, n: usize, spatial: &[usize], kind: usize, probs: bool, soft: bool) -> (ArrayD<f32>, Tgt) {
    let two = kind > 0;
    let s: usize = spatial.iter().product();
    let mut shape = vec![n, if two { 2 } else { 1 }];
    shape.extend(spatial);
    let len: usize = shape.iter().product();
    let x = ArrayD::from_shape_vec(IxDyn(&shape), preds(rng, len, probs, 4.0)).unwrap();
    let t = match kind {
        0 => Tgt::Binary(
            (0..n * s).map(|i| if soft { rng.next_f32() as f64 } else { (i % 5 == 0 || rng.next_f32() < 0.35) as u8 as f64 }).collect(),
        ),
        1 => Tgt::Labels((0..n * s).map(|i| (i % 4 == 1 || rng.next_f32() < 0.3) as usize).collect()),
        _ => {
            let mut q = vec![0.0; 2 * n * s];
            for img in 0..n {
                for j in 0..s {
                    let a = rng.next_f32() as f64;
                    q[img * 2 * s + j] = a;
                    q[(img * 2 + 1) * s + j] = (1.0 - a) as f32 as f64;
                }
            }
            Tgt::Probs(q)
        }
    };
    (x, t)
}

#[test]
fn unified_focal_value_and_gradient_match_the_f64_reference() {
    let mut rng = Rng::new(42);
    let mut checked = 0;
    for keys in [(0.5, 0.7, 0.5), (0.3, 0.6, 0.25), (1.0, 0.7, 0.0), (0.0, 0.4, 1.0), (0.8, 1.0, 0.75), (0.5, 0.0, 0.5)] {
        for kind in 0..3 {
            for logits in [true, false] {
                for spatial in [&[5usize, 4][..], &[3, 2, 3], &[13]] {
                    let soft = checked % 2 == 1;
                    let (x, t) = uf_problem(&mut rng, 2, spatial, kind, !logits, soft);
                    let (w, d, g) = keys;
                    let spec = format!(
                        "unified_focal:weight={w},delta={d},gamma={g},from_logits={logits},mode={}",
                        if kind > 0 { "multiclass" } else { "binary" }
                    );
                    let (v, gr) = eval_uf(build(&spec).as_ref(), &x, &t);
                    let f = |v: &[f64]| uf_reference(v, &t, 2, logits, keys);
                    check_against(&format!("{spec} {:?}", x.shape()), v, &gr, &f, &x);
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 6 * 3 * 2 * 3);
}

/// `delta = 1` with an image without foreground: `1 - TI = FN/(...) = 0` for that image's
/// foreground whatever the prediction, a constant term with gradient 0 (ours); the rest of the
/// gradient matches the reference's central differences.
#[test]
fn unified_focal_delta_1_on_an_empty_foreground() {
    let mut rng = Rng::new(5);
    let (x, t) = uf_problem(&mut rng, 2, &[4, 5], 0, false, false);
    let Tgt::Binary(mut y) = t else { unreachable!() };
    y[..20].iter_mut().for_each(|v| *v = 0.0);
    let t = Tgt::Binary(y);
    let (v, g) = eval_uf(build("unified_focal:delta=1").as_ref(), &x, &t);
    check_against("delta=1", v, &g, &|v: &[f64]| uf_reference(v, &t, 2, true, (0.5, 1.0, 0.5)), &x);
}

#[test]
fn simd_matches_scalar_kernels() {
    let mut rng = Rng::new(9);
    for (spec, kind) in [
        ("mcc", 0),
        ("mcc:from_logits=false", 0),
        ("unified_focal", 0),
        ("unified_focal:from_logits=false", 0),
        ("unified_focal", 1),
        ("unified_focal:mode=multiclass,gamma=0.25", 2),
        ("unified_focal:from_logits=false", 1),
    ] {
        let loss = build(spec);
        for (spatial, n) in [([37usize, 29], 2), ([91, 95], 1)] {
            let probs = spec.contains("from_logits=false");
            let (x, t) = uf_problem(&mut rng, n, &spatial, kind, probs, false);
            let (vs, gs) = eval_uf(loss.as_ref(), &x, &t);
            let (vr, gr) = with_backend(Backend::Scalar, || eval_uf(loss.as_ref(), &x, &t));
            assert!(((vs - vr) as f64).abs() <= SIMD_VALUE_REL * (vr as f64).abs().max(1e-3), "{spec}: {vs} vs {vr}");
            let gmax = gr.iter().fold(0.0f32, |a, b| a.max(b.abs())) as f64;
            let d = max_abs_diff(gs.as_slice().unwrap(), gr.as_slice().unwrap());
            assert!(d <= SIMD_GRAD_REL * gmax, "{spec} {:?}: simd vs scalar gradients differ by {d:e} (max {gmax:e})", x.shape());
        }
    }
}

/// smp pools every channel and image: a multilabel batch `[N, C, S]` has the value of the binary
/// batch `[N C, 1, S]` of its rows, and the same gradient.
#[test]
fn mcc_pools_every_element() {
    let mut rng = Rng::new(3);
    let x = ArrayD::from_shape_vec(IxDyn(&[2, 3, 4, 5]), preds(&mut rng, 120, false, 3.0)).unwrap();
    let y: Vec<f64> = (0..120).map(|_| (rng.next_f32() < 0.5) as u8 as f64).collect();
    let loss = build("mcc");
    let (v1, g1) = eval_dense(loss.as_ref(), &x, &y);
    let xb = x.clone().into_shape_with_order(IxDyn(&[6, 1, 4, 5])).unwrap();
    let (v2, g2) = eval_dense(loss.as_ref(), &xb, &y);
    assert!((v1 - v2).abs() <= 1e-6, "{v1} vs {v2}");
    assert!(max_abs_diff(g1.as_slice().unwrap(), g2.as_slice().unwrap()) <= 1e-7);
}

/// A perfect prediction (probabilities equal to hard targets) has MCC = 1 up to the smoothing,
/// the inverted prediction MCC = -1; a constant prediction has MCC = 0 (loss 1).
#[test]
fn mcc_edge_values() {
    let y: Vec<f64> = (0..40).map(|i| (i % 3 == 0) as u8 as f64).collect();
    let x = |v: Vec<f32>| ArrayD::from_shape_vec(IxDyn(&[2, 1, 4, 5]), v).unwrap();
    let loss = build("mcc:from_logits=false");
    let perfect = x(y.iter().map(|&v| v as f32).collect());
    assert!(eval_dense(loss.as_ref(), &perfect, &y).0.abs() < 1e-5);
    let inverted = x(y.iter().map(|&v| 1.0 - v as f32).collect());
    assert!((eval_dense(loss.as_ref(), &inverted, &y).0 - 2.0).abs() < 1e-5);
    let constant = x(vec![0.3; 40]);
    assert!((eval_dense(loss.as_ref(), &constant, &y).0 - 1.0).abs() < 1e-5);
}

/// The binary loss on `x` equals the two-channel loss on logits `[0, x]` (softmax of two = the
/// sigmoid of their difference) with labels `y`: same value, `d/dz_1 = d/dx`, `d/dz_0 = -d/dx`.
#[test]
fn unified_focal_binary_equals_two_channel_softmax() {
    let mut rng = Rng::new(8);
    let (x, t) = uf_problem(&mut rng, 2, &[6, 7], 0, false, false);
    let Tgt::Binary(y) = &t else { unreachable!() };
    let s = 42;
    let mut z = vec![0.0f32; 2 * 2 * s];
    for img in 0..2 {
        for j in 0..s {
            z[(img * 2 + 1) * s + j] = x[[img, 0, j / 7, j % 7]];
        }
    }
    let z = ArrayD::from_shape_vec(IxDyn(&[2, 2, 6, 7]), z).unwrap();
    let labels = Tgt::Labels(y.iter().map(|&v| v as usize).collect());
    let loss = build("unified_focal:weight=0.4,gamma=0.3");
    let (v1, g1) = eval_uf(loss.as_ref(), &x, &t);
    let (v2, g2) = eval_uf(loss.as_ref(), &z, &labels);
    assert!(((v1 - v2) as f64).abs() <= 1e-6 * v1 as f64, "{v1} vs {v2}");
    let gmax = g1.iter().fold(0.0f32, |a, b| a.max(b.abs()));
    for img in 0..2 {
        for j in 0..s {
            let (h, w) = (j / 7, j % 7);
            let gx = g1[[img, 0, h, w]];
            assert!((g2[[img, 1, h, w]] - gx).abs() <= 1e-5 * gmax, "{img} {j}");
            assert!((g2[[img, 0, h, w]] + gx).abs() <= 1e-5 * gmax, "{img} {j}");
        }
    }
}

/// Where MONAI's clamp acts (|logit| beyond ln((1 - 1e-7)/1e-7) = 16.1) the gradient is exactly 0
/// and the loss does not move; probabilities 0 and 1 likewise.
#[test]
fn unified_focal_clamp_has_zero_gradient() {
    let xs: Vec<f32> = (0..20).map(|i| if i % 2 == 0 { 30.0 + i as f32 } else { -25.0 - i as f32 }).collect();
    let y: Vec<f64> = (0..20).map(|i| (i % 3 == 0) as u8 as f64).collect();
    let x = ArrayD::from_shape_vec(IxDyn(&[1, 1, 4, 5]), xs).unwrap();
    let loss = build("unified_focal");
    let (v, g) = eval_dense(loss.as_ref(), &x, &y);
    assert!(g.iter().all(|&v| v == 0.0), "{g:?}");
    let (v2, _) = eval_dense(loss.as_ref(), &x.mapv(|v| 2.0 * v), &y);
    assert_eq!(v, v2);
    let p = ArrayD::from_shape_vec(IxDyn(&[1, 1, 4, 5]), (0..20).map(|i| (i % 2) as f32).collect()).unwrap();
    let (_, g) = eval_dense(build("unified_focal:from_logits=false").as_ref(), &p, &y);
    assert!(g.iter().all(|&v| v == 0.0), "{g:?}");
}

fn err(spec: &str, x: &ArrayD<f32>, t: &Tgt) -> LossError {
    let loss = match registry().build_str(spec) {
        Ok(l) => l,
        Err(e) => return e,
    };
    match t {
        Tgt::Binary(y) | Tgt::Probs(y) => {
            let t = ArrayD::from_shape_vec(IxDyn(x.shape()), y.iter().map(|&v| v as f32).collect()).unwrap();
            loss.forward(&Batch::new(x, &t)).unwrap_err()
        }
        Tgt::Labels(l) => {
            let mut ts = vec![x.shape()[0]];
            ts.extend(&x.shape()[2..]);
            let l = ArrayD::from_shape_vec(IxDyn(&ts), l.iter().map(|&v| v as i64).collect()).unwrap();
            loss.forward(&Batch::new(x, &l)).unwrap_err()
        }
    }
}

#[test]
fn errors_name_what_is_wrong() {
    let has = |e: LossError, needles: &[&str]| {
        let s = e.to_string();
        for n in needles {
            assert!(s.contains(n), "`{s}` lacks `{n}`");
        }
    };
    let mut rng = Rng::new(1);
    let (xb, tb) = uf_problem(&mut rng, 2, &[3, 4], 0, false, false);
    let (x2, t2) = uf_problem(&mut rng, 2, &[3, 4], 1, false, false);
    let x3 = ArrayD::from_shape_vec(IxDyn(&[2, 3, 3, 4]), vec![0.5f32; 72]).unwrap();
    let l3 = Tgt::Labels(vec![1; 24]);
    // keys: ranges, unknown keys
    has(err("mcc:smooth=0", &xb, &tb), &["smooth", "0", "> 0"]);
    has(err("mcc:smooth=-1", &xb, &tb), &["smooth", "-1"]);
    has(err("mcc:eps=1e-5", &xb, &tb), &["eps"]);
    has(err("mcc:mode=multiclass", &xb, &tb), &["mode", "binary, multilabel"]);
    has(err("unified_focal:gamma=1.5", &xb, &tb), &["gamma", "1.5", "[0, 1]"]);
    has(err("unified_focal:weight=-0.1", &xb, &tb), &["weight", "-0.1"]);
    has(err("unified_focal:delta=2", &xb, &tb), &["delta", "2"]);
    has(err("unified_focal:ignore_index=255", &xb, &tb), &["ignore_index"]);
    has(err("unified_focal:reduction=sum", &xb, &tb), &["reduction"]);
    has(err("unified_focal:mode=multilabel", &xb, &tb), &["mode", "binary, multiclass"]);
    // mcc: multiclass labels, inferred
    has(err("mcc", &x3, &l3), &["mcc", "binary or multilabel", "multiclass"]);
    // unified_focal: three channels, a multilabel (inferred) float target of two channels
    has(err("unified_focal", &x3, &l3), &["unified_focal", "exactly 2 channels", "[2, 3, 3, 4]", "C = 3"]);
    let Tgt::Labels(l) = &t2 else { unreachable!() };
    let probs = Tgt::Probs((0..48).map(|i| (l[(i / 24) * 12 + i % 12] == (i / 12) % 2) as u8 as f64).collect());
    has(err("unified_focal", &x2, &probs), &["multilabel", "mode=multiclass"]);
    // targets out of range: labels >= 2, probabilities and binary targets outside [0, 1]
    has(err("unified_focal", &x2, &Tgt::Labels(vec![2; 24])), &["2", "[0, 2)"]);
    has(err("unified_focal:mode=multiclass", &x2, &Tgt::Probs(vec![1.5; 48])), &["1.5", "class probability"]);
    has(err("unified_focal", &xb, &Tgt::Binary(vec![-0.5; 24])), &["-0.5", "unified_focal"]);
    has(err("mcc", &xb, &Tgt::Binary(vec![1.5; 24])), &["1.5", "mcc"]);
    // a weight tensor, and a gradient buffer of the wrong length
    let y = ArrayD::<f32>::zeros(IxDyn(xb.shape()));
    for name in ["mcc", "unified_focal"] {
        let e = build(name).forward(&Batch::new(&xb, &y).with_weight(&y)).unwrap_err();
        has(e, &[name, "weight", "[2, 1, 3, 4]"]);
        let mut g = ArrayD::<f32>::zeros(IxDyn(&[3]));
        let e = build(name).forward_backward_into(&Batch::new(&xb, &y), g.view_mut(), 1.0).unwrap_err();
        has(e, &["grad", "[2, 1, 3, 4]"]);
    }
}

#[test]
fn same_bits_on_1_2_3_threads_and_on_strided_views() {
    let cases: [(&str, ProblemConfig); 6] = [
        ("mcc", ProblemConfig::new(Mode::Binary)),
        ("mcc:from_logits=false", ProblemConfig::new(Mode::Multilabel).probabilities(true).soft_targets(true)),
        ("unified_focal", ProblemConfig::new(Mode::Binary)),
        ("unified_focal:from_logits=false", ProblemConfig::new(Mode::Binary).probabilities(true).soft_targets(true)),
        ("unified_focal", ProblemConfig::new(Mode::Multiclass).shape(&[2, 2, 5, 7])),
        ("unified_focal:mode=multiclass", ProblemConfig::new(Mode::Multiclass).shape(&[2, 2, 5, 7]).soft_targets(true)),
    ];
    for (spec, cfg) in cases {
        let loss = build(spec);
        // several reduction blocks (8192 elements for mcc, 1024 pixels for unified_focal)
        let c = cfg.shape[1];
        let big = Problem::generate(&cfg.clone().shape(&[3, c, 64, 70]), 5);
        check_determinism(loss.as_ref(), &big).unwrap_or_else(|e| panic!("{spec}: {e}"));
        check_layouts(loss.as_ref(), &Problem::generate(&cfg, 3)).unwrap_or_else(|e| panic!("{spec}: {e}"));
        // the gradient buffer is fully written
        let mut g = ArrayD::<f32>::from_elem(IxDyn(big.pred.shape()), f32::NAN);
        loss.forward_backward_into(&big.batch(), g.view_mut(), 1.0).unwrap();
        assert_all_written(g.as_slice().unwrap());
    }
}

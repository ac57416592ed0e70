//! `wasserstein_dice` (Fidon et al. 2017; the gdl weighting of Tilborghs et al. 2020):
//! - golden values and gradients of `tests/fixtures/wasserstein_dice.json`, written by
//!   `tools/golden/wasserstein_dice.py`, which calls MONAI 1.6's own
//!   `GeneralizedWassersteinDiceLoss` in float64 (value and torch-autograd gradient);
//! - a scalar `f64` reference written here from the formulas of `docs/LOSSES.md` (section
//!   Wasserstein Dice), its value against the loss and its central differences against the
//!   loss's analytic gradient, for labels and class probabilities, logits and probabilities;
//! - class-probability targets equal to labels for one-hot `q`; SIMD against scalar kernels;
//!   errors; the same bits across thread counts; strided views.

use ndarray::{ArrayD, IxDyn, ShapeBuilder};
use segloss_core::golden::{check_loss, Fixture};
use segloss_core::kernel::{with_backend, Backend};
use segloss_core::rng::Rng;
use segloss_core::testing::kit::{check_determinism, check_layouts, Problem, ProblemConfig};
use segloss_core::testing::{central_diff, max_abs_diff};
use segloss_core::{Batch, Loss, LossError, Mode, Registry};

/// Golden value: `|value - ref| <= VALUE_REL |ref| + VALUE_ABS` (f32 kernels against float64).
const VALUE_REL: f64 = 1e-5;
const VALUE_ABS: f64 = 1e-7;
/// Golden and reference gradients: `max |grad - ref| <= GRAD_REL * max |ref|`.
const GRAD_REL: f64 = 1e-4;
/// Central-difference step of the f64 reference (relative to `max(1, |x|)`).
const FD_STEP: f64 = 1e-6;
/// SIMD against scalar kernels: value relative, gradient relative to its largest element.
const SIMD_VALUE_REL: f64 = 1e-5;
const SIMD_GRAD_REL: f64 = 2e-5;

const M3: [[f64; 3]; 3] = [[0.0, 1.0, 2.0], [0.5, 0.0, 1.5], [4.0, 0.25, 0.5]];

fn registry() -> Registry<'static> {
    Registry::new(segloss_overlap::LOSSES)
}

fn build(spec: &str) -> Box<dyn Loss> {
    Box::new(registry().build_str(spec).unwrap_or_else(|e| panic!("{spec}: {e}")))
}

fn fixture() -> Fixture {
    Fixture::load(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/wasserstein_dice.json")).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn golden_values_and_gradients_from_monai() {
    let fx = fixture();
    assert_eq!(fx.generator, "tools/golden/wasserstein_dice.py");
    assert!(fx.versions.get("monai").is_some_and(|v| v.starts_with("1.")), "{:?}", fx.versions);
    assert!(fx.cases.len() >= 15);
    let mut failures = Vec::new();
    for case in &fx.cases {
        let loss = registry().build_str(&case.spec).unwrap_or_else(|e| panic!("{}", case.error(e)));
        match check_loss(case, &loss, VALUE_REL, VALUE_ABS, GRAD_REL) {
            Ok(c) => eprintln!("{:32} value rel err {:.1e}, grad err / max|ref| {:.1e}", case.name, c.value_rel, c.grad_rel),
            Err(e) => failures.push(e),
        }
        // the scalar kernels agree with MONAI too
        let scalar = with_backend(Backend::Scalar, || check_loss(case, &loss, VALUE_REL, VALUE_ABS, GRAD_REL));
        if let Err(e) = scalar {
            failures.push(format!("scalar kernels: {e}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} golden cases failed:\n{}", failures.len(), fx.cases.len(), failures.join("\n"));
}

/// The targets of the reference: labels `[N, S]` or class probabilities `[N, C, S]`.
enum Tgt {
    Labels(Vec<usize>),
    Probs(Vec<f64>),
}

/// The loss written from docs/LOSSES.md (section Wasserstein Dice) in f64, one pixel at a time: `x` is `pred` `[N, C, S]`.
#[allow(clippy::too_many_arguments)]
fn reference(x: &[f64], t: &Tgt, n: usize, c: usize, m: &[f64], gdl: bool, nr: f64, dr: f64, logits: bool) -> f64 {
    let s = x.len() / (n * c);
    let max = m.iter().fold(0.0f64, |a, &b| a.max(b));
    let m: Vec<f64> = m.iter().map(|v| v / max).collect();
    let q = |img: usize, y: usize, j: usize| -> f64 {
        match t {
            Tgt::Labels(l) => (l[img * s + j] == y) as u8 as f64,
            Tgt::Probs(q) => q[(img * c + y) * s + j],
        }
    };
    let mut total = 0.0;
    for img in 0..n {
        let alpha: Vec<f64> = (0..c)
            .map(|y| {
                if gdl {
                    let v: f64 = (0..s).map(|j| q(img, y, j)).sum();
                    (1.0f32 / (v as f32 + 1.0)) as f64 // MONAI's f32 weights
                } else if y == 0 {
                    0.0
                } else {
                    1.0
                }
            })
            .collect();
        let (mut tp, mut all_w, mut gdl_den) = (0.0, 0.0, 0.0);
        for j in 0..s {
            let z: Vec<f64> = (0..c).map(|k| x[(img * c + k) * s + j]).collect();
            let p: Vec<f64> = if logits {
                let mx = z.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
                let e: Vec<f64> = z.iter().map(|v| (v - mx).exp()).collect();
                let sum: f64 = e.iter().sum();
                e.iter().map(|v| v / sum).collect()
            } else {
                z
            };
            for y in 0..c {
                let wy: f64 = (0..c).map(|k| m[y * c + k] * p[k]).sum();
                let qy = q(img, y, j);
                tp += qy * alpha[y] * (1.0 - wy);
                all_w += qy * wy;
                gdl_den += qy * alpha[y] * (2.0 - wy);
            }
        }
        let den = if gdl { gdl_den } else { 2.0 * tp + all_w };
        total += 1.0 - (2.0 * tp + nr) / (den + dr).max(1e-7);
    }
    total / n as f64
}

/// A random problem: logits (or probabilities) `[N, C, *S]`, coherent labels with some noise,
/// or class probabilities.
fn problem(shape: &[usize], seed: u64, soft: bool, probs: bool, scale: f32) -> (ArrayD<f32>, Tgt) {
    let mut rng = Rng::new(seed);
    let (n, c) = (shape[0], shape[1]);
    let s: usize = shape[2..].iter().product();
    let mut x: Vec<f32> = (0..n * c * s).map(|_| (rng.next_f32() * 2.0 - 1.0) * scale).collect();
    if probs {
        for img in 0..n {
            for j in 0..s {
                let tot: f32 = (0..c).map(|k| x[(img * c + k) * s + j].exp()).sum();
                for k in 0..c {
                    x[(img * c + k) * s + j] = x[(img * c + k) * s + j].exp() / tot;
                }
            }
        }
    }
    let t = if soft {
        let mut q: Vec<f64> = (0..n * c * s).map(|_| rng.next_f32() as f64).collect();
        for img in 0..n {
            for j in 0..s {
                let tot: f64 = (0..c).map(|k| q[(img * c + k) * s + j]).sum();
                for k in 0..c {
                    // exactly representable in f32
                    q[(img * c + k) * s + j] = (q[(img * c + k) * s + j] / tot) as f32 as f64;
                }
            }
        }
        Tgt::Probs(q)
    } else {
        Tgt::Labels((0..n * s).map(|i| if rng.next_f32() < 0.3 { (rng.next_f32() * c as f32) as usize % c } else { (i / 7) % c }).collect())
    };
    (ArrayD::from_shape_vec(IxDyn(shape), x).unwrap(), t)
}

fn target_array(t: &Tgt, shape: &[usize]) -> (Option<ArrayD<i64>>, Option<ArrayD<f32>>) {
    match t {
        Tgt::Labels(l) => {
            let mut ts = vec![shape[0]];
            ts.extend(&shape[2..]);
            (Some(ArrayD::from_shape_vec(IxDyn(&ts), l.iter().map(|&v| v as i64).collect()).unwrap()), None)
        }
        Tgt::Probs(q) => (None, Some(ArrayD::from_shape_vec(IxDyn(shape), q.iter().map(|&v| v as f32).collect()).unwrap())),
    }
}

fn eval(loss: &dyn Loss, x: &ArrayD<f32>, t: &Tgt) -> (f32, ArrayD<f32>) {
    let (l, q) = target_array(t, x.shape());
    let b = match (&l, &q) {
        (Some(l), _) => Batch::new(x, l),
        (_, Some(q)) => Batch::new(x, q),
        _ => unreachable!(),
    };
    loss.forward_backward(&b).unwrap()
}

fn flat(m: &[[f64; 3]; 3]) -> Vec<f64> {
    m.iter().flatten().copied().collect()
}

fn uniform(c: usize) -> Vec<f64> {
    (0..c * c).map(|i| if i / c == i % c { 0.0 } else { 1.0 }).collect()
}

/// Value against the f64 reference and the analytic gradient against the reference's central
/// differences, in every combination of weighting, targets, activation, 1 to 3 spatial axes.
#[test]
fn value_and_gradient_match_the_f64_reference() {
    let m3 = "[[0,1,2],[0.5,0,1.5],[4,0.25,0.5]]";
    let mut checked = 0;
    for (shape, mat, mtext) in [
        (vec![2usize, 3, 5, 4], flat(&M3), Some(m3)),
        (vec![2, 3, 3, 2, 3], flat(&M3), Some(m3)),
        (vec![1, 4, 11], uniform(4), None),
        (vec![2, 2, 3, 3], uniform(2), None),
    ] {
        for gdl in [false, true] {
            for soft in [false, true] {
                for logits in [true, false] {
                    for (nr, dr) in [(1e-5, 1e-5), (0.5, 2.0)] {
                        let mut spec = format!("wasserstein_dice:mode=multiclass,smooth_nr={nr},smooth_dr={dr},from_logits={logits}");
                        if let Some(m) = mtext {
                            spec.push_str(&format!(",dist_matrix={m}"));
                        }
                        if gdl {
                            spec.push_str(",weighting_mode=gdl");
                        }
                        let loss = build(&spec);
                        let (x, t) = problem(&shape, 7 + checked, soft, !logits, 2.5);
                        let (n, c) = (shape[0], shape[1]);
                        let xs: Vec<f64> = x.iter().map(|&v| v as f64).collect();
                        let f = |v: &[f64]| reference(v, &t, n, c, &mat, gdl, nr, dr, logits);
                        let (v, g) = eval(loss.as_ref(), &x, &t);
                        let want = f(&xs);
                        assert!((v as f64 - want).abs() <= VALUE_REL * want.abs() + 2e-6, "{spec} {shape:?} soft={soft}: {v} vs {want}");
                        let num = central_diff(&f, &xs, FD_STEP);
                        let gmax = num.iter().fold(0.0f64, |a, b| a.max(b.abs()));
                        for (i, (a, b)) in g.iter().zip(&num).enumerate() {
                            assert!(
                                (*a as f64 - b).abs() <= GRAD_REL * gmax + 1e-9,
                                "{spec} {shape:?} soft={soft}: grad[{i}] {a} vs numeric {b} (max {gmax:.3e})"
                            );
                        }
                        checked += 1;
                    }
                }
            }
        }
    }
    assert_eq!(checked, 4 * 16);
}

/// One-hot class probabilities give exactly the labels' value and gradient (the soft formulas
/// reduce to the hard ones), in both weightings and several blocks per image.
#[test]
fn one_hot_class_probabilities_equal_labels() {
    for spec in ["wasserstein_dice", "wasserstein_dice:weighting_mode=gdl,dist_matrix=[[0,1,2],[0.5,0,1.5],[4,0.25,0.5]]"] {
        let shape = [2usize, 3, 40, 33];
        let (x, t) = problem(&shape, 3, false, false, 3.0);
        let Tgt::Labels(l) = &t else { unreachable!() };
        let (n, c, s) = (2, 3, 40 * 33);
        let q: Vec<f64> = (0..n * c * s).map(|i| (l[(i / (c * s)) * s + i % s] == (i / s) % c) as u8 as f64).collect();
        let loss = build(&format!("{spec}{}mode=multiclass", if spec.contains(':') { "," } else { ":" }));
        for backend in [Backend::Simd, Backend::Scalar] {
            let (vh, gh) = with_backend(backend, || eval(loss.as_ref(), &x, &t));
            let (vs, gs) = with_backend(backend, || eval(loss.as_ref(), &x, &Tgt::Probs(q.clone())));
            let gmax = gh.iter().fold(0.0f32, |a, b| a.max(b.abs())) as f64;
            assert!(((vh - vs) as f64).abs() <= 1e-6 * vh.abs() as f64, "{spec} {backend:?}: {vh} vs {vs}");
            let d = max_abs_diff(gh.as_slice().unwrap(), gs.as_slice().unwrap());
            assert!(d <= 1e-5 * gmax, "{spec} {backend:?}: gradients differ by {d:e} (max {gmax:e})");
        }
    }
}

#[test]
fn simd_matches_scalar_kernels() {
    for spec in [
        "wasserstein_dice:mode=multiclass",
        "wasserstein_dice:mode=multiclass,weighting_mode=gdl",
        "wasserstein_dice:mode=multiclass,from_logits=false,dist_matrix=[[0,1,2],[0.5,0,1.5],[4,0.25,0.5]]",
    ] {
        let loss = build(spec);
        for (shape, soft, scale) in [([2usize, 3, 37, 29], false, 3.0), ([1, 3, 33, 35], true, 3.0), ([2, 3, 9, 13], false, 80.0)] {
            let (x, t) = problem(&shape, 11, soft, spec.contains("from_logits=false"), scale);
            let (vs, gs) = eval(loss.as_ref(), &x, &t);
            let (vr, gr) = with_backend(Backend::Scalar, || eval(loss.as_ref(), &x, &t));
            assert!(((vs - vr) as f64).abs() <= SIMD_VALUE_REL * (vr as f64).abs().max(1e-3), "{spec}: {vs} vs {vr}");
            let gmax = gr.iter().fold(0.0f32, |a, b| a.max(b.abs())) as f64;
            let d = max_abs_diff(gs.as_slice().unwrap(), gr.as_slice().unwrap());
            assert!(d <= SIMD_GRAD_REL * gmax, "{spec} {shape:?}: simd vs scalar gradients differ by {d:e} (max {gmax:e})");
        }
    }
}

/// A perfect prediction of every pixel (one-hot probabilities, zero-diagonal matrix) has W = 0,
/// hence loss 0 up to the smoothing; an image of background labels only has TP = 0 and the loss
/// `1 - nr/(sum W + dr)` (default weighting).
#[test]
fn edge_values() {
    let loss = build("wasserstein_dice:from_logits=false,smooth=0");
    let x = ArrayD::from_shape_vec(IxDyn(&[1, 3, 2]), vec![1.0f32, 0.0, 0.0, 0.0, 0.0, 1.0]).unwrap();
    let y = ArrayD::from_shape_vec(IxDyn(&[1, 2]), vec![0i64, 2]).unwrap();
    assert_eq!(loss.forward(&Batch::new(&x, &y)).unwrap(), 0.0);
    let loss = build("wasserstein_dice:from_logits=false,smooth_nr=0.25,smooth_dr=0.5");
    let x = ArrayD::from_shape_vec(IxDyn(&[1, 3, 2]), vec![0.5f32, 0.2, 0.25, 0.3, 0.25, 0.5]).unwrap();
    let y = ArrayD::from_shape_vec(IxDyn(&[1, 2]), vec![0i64, 0]).unwrap();
    // W = M[0, :] . p = 0.25 + 0.25 at pixel 0, 0.3 + 0.5 at pixel 1 (uniform matrix)
    let want = 1.0 - 0.25 / (0.5 + 0.8 + 0.5);
    assert!((loss.forward(&Batch::new(&x, &y)).unwrap() as f64 - want).abs() < 1e-6);
}

fn err(spec: &str, x: &ArrayD<f32>, t: &Tgt) -> LossError {
    let (l, q) = target_array(t, x.shape());
    let loss = match registry().build_str(spec) {
        Ok(l) => l,
        Err(e) => return e,
    };
    match (&l, &q) {
        (Some(l), _) => loss.forward(&Batch::new(x, l)).unwrap_err(),
        (_, Some(q)) => loss.forward(&Batch::new(x, q)).unwrap_err(),
        _ => unreachable!(),
    }
}

#[test]
fn errors_name_what_is_wrong() {
    let (x, t) = problem(&[2, 3, 4, 4], 1, false, false, 1.0);
    let has = |e: LossError, needles: &[&str]| {
        let s = e.to_string();
        for n in needles {
            assert!(s.contains(n), "`{s}` lacks `{n}`");
        }
    };
    // the matrix's size against pred's channels: both named
    has(err("wasserstein_dice:dist_matrix=[[0,1],[1,0]]", &x, &t), &["dist_matrix", "2 x 2", "C = 3", "[2, 3, 4, 4]"]);
    // entries and shape of the matrix: errors at parse time naming the key and the value
    has(err("wasserstein_dice:dist_matrix=[[0,-1],[1,0]]", &x, &t), &["dist_matrix", "[[0,-1],[1,0]]", "[0][1]", ">= 0"]);
    has(err("wasserstein_dice:dist_matrix=[[0,0],[0,0]]", &x, &t), &["dist_matrix", "largest entry must be > 0"]);
    has(err("wasserstein_dice:dist_matrix=[[0,1,2],[1,0,1]]", &x, &t), &["dist_matrix", "square"]);
    has(err("wasserstein_dice:dist_matrix=[[1]]", &x, &t), &["dist_matrix", "C >= 2"]);
    has(err("wasserstein_dice:dist_matrix=[0,1]", &x, &t), &["dist_matrix", "uniform or a square matrix"]);
    has(err("wasserstein_dice:dist_matrix=[[0,1],[1,0]", &x, &t), &["dist_matrix", "matrix"]);
    has(err("wasserstein_dice:weighting_mode=GDL", &x, &t), &["weighting_mode", "default, gdl"]);
    has(err("wasserstein_dice:smooth=1,smooth_nr=0.5", &x, &t), &["smooth", "smooth_nr"]);
    has(err("wasserstein_dice:smooth_dr=-1", &x, &t), &["smooth_dr", "-1"]);
    has(err("wasserstein_dice:ignore_index=255", &x, &t), &["ignore_index"]);
    has(err("wasserstein_dice:mode=binary", &x, &t), &["mode", "multiclass"]);
    // binary data and float targets without mode=multiclass (inferred multilabel)
    let (xb, tb) = problem(&[2, 1, 4, 4], 1, true, false, 1.0);
    has(err("wasserstein_dice", &xb, &tb), &["multiclass only", "binary"]);
    let (xs, ts) = problem(&[2, 3, 4, 4], 1, true, false, 1.0);
    has(err("wasserstein_dice", &xs, &ts), &["multiclass only", "multilabel", "mode=multiclass"]);
    // labels out of range, class probabilities out of [0, 1]
    let bad = Tgt::Labels(vec![3; 32]);
    has(err("wasserstein_dice", &x, &bad), &["3", "[0, 3)"]);
    let bad = Tgt::Probs(vec![1.5; 96]);
    has(err("wasserstein_dice:mode=multiclass", &x, &bad), &["1.5", "class probability"]);
    // a weight
    let Tgt::Labels(l) = &t else { unreachable!() };
    let y = ArrayD::from_shape_vec(IxDyn(&[2, 4, 4]), l.iter().map(|&v| v as i64).collect()).unwrap();
    let w = ArrayD::<f32>::ones(IxDyn(&[2, 4, 4]));
    let e = build("wasserstein_dice").forward(&Batch::new(&x, &y).with_weight(&w)).unwrap_err();
    has(e, &["wasserstein_dice", "weight", "[2, 4, 4]"]);
    // a printed matrix spec parses back to the same spec
    let spec = "wasserstein_dice:dist_matrix=[[0,1,2],[0.5,0,1.5],[4,0.25,0.5]],weighting_mode=gdl,smooth=0.5";
    let terms = registry().parse(spec).unwrap();
    assert_eq!(segloss_core::spec::print_terms(&terms), spec);
}

fn mc(soft: bool) -> ProblemConfig {
    ProblemConfig::new(Mode::Multiclass).soft_targets(soft)
}

#[test]
fn same_bits_on_1_2_3_threads_and_on_strided_views() {
    for spec in [
        "wasserstein_dice:mode=multiclass",
        "wasserstein_dice:mode=multiclass,weighting_mode=gdl,dist_matrix=[[0,1,2],[0.5,0,1.5],[4,0.25,0.5]]",
    ] {
        let loss = build(spec);
        for soft in [false, true] {
            // 3 x 40 x 70 = 2800 pixels per image: 3 blocks of 1024
            let big = Problem::generate(&mc(soft).shape(&[3, 3, 40, 70]), 5);
            check_determinism(loss.as_ref(), &big).unwrap_or_else(|e| panic!("{spec}: {e}"));
            let small = Problem::generate(&mc(soft).shape(&[2, 3, 5, 7]), 3);
            check_layouts(loss.as_ref(), &small).unwrap_or_else(|e| panic!("{spec}: {e}"));
        }
    }
    // a Fortran-order pred and a strided label view give the contiguous result
    let loss = build("wasserstein_dice:weighting_mode=gdl");
    let (x, t) = problem(&[2, 3, 6, 5], 9, false, false, 2.0);
    let (l, _) = target_array(&t, x.shape());
    let l = l.unwrap();
    let (v0, g0) = loss.forward_backward(&Batch::new(&x, &l)).unwrap();
    let mut xf = ArrayD::<f32>::zeros(IxDyn(x.shape()).f());
    xf.assign(&x);
    let mut lw = ArrayD::<i64>::zeros(IxDyn(&[2, 12, 5]));
    lw.slice_each_axis_mut(|ax| if ax.axis.index() == 1 { ndarray::Slice::new(0, None, 2) } else { ndarray::Slice::from(..) }).assign(&l);
    let lv = lw.slice_each_axis(|ax| if ax.axis.index() == 1 { ndarray::Slice::new(0, None, 2) } else { ndarray::Slice::from(..) });
    assert!(lv.as_slice().is_none());
    let (v1, g1) = loss.forward_backward(&Batch::new(&xf, lv)).unwrap();
    assert_eq!(v0.to_bits(), v1.to_bits());
    assert_eq!(max_abs_diff(g0.as_slice().unwrap(), g1.as_standard_layout().as_slice().unwrap()), 0.0);
}

/// More than 32 classes: the SIMD lookups of mixed labels take the scalar path (at most 32 rows
/// are permuted in registers); values and gradients still match the f64 reference.
#[test]
fn many_classes_match_the_reference() {
    for gdl in [false, true] {
        let spec = if gdl { "wasserstein_dice:weighting_mode=gdl" } else { "wasserstein_dice" };
        let loss = build(spec);
        let shape = [2usize, 35, 4, 5];
        let (x, t) = problem(&shape, 21, false, false, 2.0);
        let xs: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let f = |v: &[f64]| reference(v, &t, 2, 35, &uniform(35), gdl, 1e-5, 1e-5, true);
        let (v, g) = eval(loss.as_ref(), &x, &t);
        let want = f(&xs);
        assert!((v as f64 - want).abs() <= VALUE_REL * want.abs() + 2e-6, "{spec}: {v} vs {want}");
        let num = central_diff(&f, &xs, FD_STEP);
        let gmax = num.iter().fold(0.0f64, |a, b| a.max(b.abs()));
        for (i, (a, b)) in g.iter().zip(&num).enumerate() {
            assert!((*a as f64 - b).abs() <= GRAD_REL * gmax + 1e-9, "{spec}: grad[{i}] {a} vs numeric {b}");
        }
    }
}

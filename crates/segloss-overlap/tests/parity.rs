//! The overlap family's parity keys with MONAI and segmentation_models_pytorch: `soft_label`,
//! `ignore_mode`, `reduction=sum` and the denominator floor `eps`.
//!
//! - Golden values: every case of `tests/fixtures/overlap_parity.json`, written by
//!   `tools/golden/overlap_parity.py` (`/work/venv/py/bin/python tools/golden/overlap_parity.py`):
//!   MONAI 1.6's `DiceLoss` / `TverskyLoss` / `GeneralizedDiceLoss(soft_label=True,
//!   ignore_index=..., reduction="sum", smooth_dr=1e-8)` and smp 0.6's `DiceLoss` / `JaccardLoss`
//!   / `TverskyLoss`, called in float64 on the stored float32 inputs; each case carries its spec
//!   and the Python call. `|value - ref| <= 1e-5 |ref| + 1e-7`, `max |grad - ref| <= 1e-4 max |ref|`.
//! - Gradients: the f64 reference (`segloss_overlap::reference`, the scalar kernels in f64)
//!   against central differences, and the SIMD driver against it, for every new key.
//! - The rules stated in docs/LOSSES.md: the soft-label form equals the hard one on hard labels,
//!   `ignore_mode=class` is `mask` with the class weighted 0, `sum` is the mean times the total
//!   weight, the floor of a denominator.
//! - Bad values: an error naming the key and the value.

mod common;

use common::{Problem, Tgt};
use segloss_core::golden::{check_loss, Fixture};
use segloss_core::rng::Rng;
use segloss_core::testing::check_gradient_fn;
use segloss_core::{Loss, LossError, Registry};
use segloss_overlap::*;

/// Relative tolerance of the value.
const VALUE_REL: f64 = 1e-5;
/// Absolute tolerance of the value.
const VALUE_ABS: f64 = 1e-7;
/// Tolerance of the gradient, relative to its largest reference element.
const GRAD_REL: f64 = 1e-4;
/// Central differences in f64: relative step, tolerance relative to the numeric element, absolute.
const FD_STEP: f64 = 1e-6;
const FD_REL: f64 = 1e-5;
const FD_ABS: f64 = 1e-9;
/// The soft-label kink `|p - g|` must be farther than this from every element of an FD problem
/// (a central step of 1e-6 on logits in [-4, 4] moves `p` by at most 1e-6).
const KINK_MARGIN: f64 = 1e-5;

fn fixture() -> Fixture {
    Fixture::load(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/overlap_parity.json")).unwrap_or_else(|e| panic!("{e}"))
}

fn registry() -> Registry<'static> {
    Registry::new(LOSSES)
}

/// The one loss of a spec (not a combination: the f64 reference reads the loss's config).
fn build(spec: &str) -> Box<dyn Loss> {
    let terms = registry().parse(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
    let [t] = &terms[..] else { panic!("{spec}: one term expected") };
    registry().build_one(&t.name, t.params.clone()).unwrap_or_else(|e| panic!("{spec}: {e}"))
}

fn build_err(spec: &str) -> LossError {
    match registry().build_str(spec) {
        Ok(_) => panic!("{spec}: built"),
        Err(e) => e,
    }
}

/// The key and value an `InvalidConfig` error names.
fn key_value(e: &LossError) -> (&str, &str) {
    match e {
        LossError::InvalidConfig { key, value, .. } => (key, value),
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

#[test]
fn golden_values_and_gradients() {
    let fx = fixture();
    let mut failures = Vec::new();
    for case in &fx.cases {
        let loss = registry().build_str(&case.spec).unwrap_or_else(|e| panic!("{}", case.error(e)));
        match check_loss(case, &loss, VALUE_REL, VALUE_ABS, GRAD_REL) {
            Ok(c) => eprintln!("{:44} value rel err {:.1e}, grad err / max|ref| {:.1e}", case.name, c.value_rel, c.grad_rel),
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{} of {} golden cases failed:\n{}", failures.len(), fx.cases.len(), failures.join("\n"));
}

/// The fixture is the script's, with the libraries' versions and tolerances, and holds the
/// anchors each key is for: MONAI's class on every new key and every loss, smp's three classes.
#[test]
fn fixture_covers_the_keys_and_anchors() {
    let fx = fixture();
    assert_eq!(fx.generator, "tools/golden/overlap_parity.py");
    assert!(fx.versions.get("monai").is_some_and(|v| v.starts_with("1.6")), "{:?}", fx.versions);
    assert!(fx.versions.get("segmentation_models_pytorch").is_some_and(|v| v.starts_with("0.")), "{:?}", fx.versions);
    let tol = fx.extra.get("tolerance").expect("the script's tolerances");
    assert_eq!(tol["value_rtol"].as_f64(), Some(VALUE_REL));
    assert_eq!(tol["value_atol"].as_f64(), Some(VALUE_ABS));
    assert_eq!(tol["grad_rtol_of_max"].as_f64(), Some(GRAD_REL));
    let count = |spec: &str, python: &str| fx.cases.iter().filter(|c| c.spec.contains(spec) && c.python.contains(python)).count();
    for (spec, python) in [
        ("dice:soft_label=true", "DiceLoss("),
        ("jaccard:soft_label=true", "jaccard=True, soft_label=True"),
        ("tversky:soft_label=true", "TverskyLoss("),
        ("generalized_dice:soft_label=true", "GeneralizedDiceLoss("),
        ("log_cosh_dice:soft_label=true", "DiceLoss("),
        ("soft_label=true,squared=true", "squared_pred=True"),
        ("soft_label=true", "smp.losses.DiceLoss("),
        ("soft_label=true", "smp.losses.JaccardLoss("),
        ("soft_label=true", "smp.losses.TverskyLoss("),
        ("dice:ignore_index=1,ignore_mode=mask", "DiceLoss(softmax=True, to_onehot_y=True, ignore_index=1)"),
        ("tversky:ignore_index=1,ignore_mode=mask", "TverskyLoss("),
        ("jaccard:ignore_index=2,ignore_mode=mask", "jaccard=True"),
        ("generalized_dice:ignore_index=1,ignore_mode=mask", "create_ignore_mask"),
        ("log_cosh_dice:ignore_index=1,ignore_mode=mask", "DiceLoss("),
        ("dice:reduction=sum", "reduction='sum'"),
        ("reduction=sum,class_weights", "weight=[0.5, 2.0, 1.0, 3.0], reduction='sum'"),
        ("jaccard:reduction=sum", "reduction='sum'"),
        ("tversky:reduction=sum", "reduction='sum'"),
        ("generalized_dice:reduction=sum", "reduction='sum'"),
        ("log_cosh_dice:reduction=sum", "reduction='sum'"),
        ("generalized_dice:smooth=1e-08", "GeneralizedDiceLoss(sigmoid=True, smooth_nr=1e-8, smooth_dr=1e-8)(pred, zeros)"),
        ("dice:smooth=1e-08", "smooth_dr=1e-8"),
    ] {
        assert!(count(spec, python) > 0, "no golden case with `{spec}` from `{python}`");
    }
    // the case: MONAI gives 0.0 where a clamp at eps = 1e-7 gives 0.9
    let gdl = fx.cases.iter().find(|c| c.name == "gdl_smooth_1e-8_empty_foreground").expect("the issue's case");
    assert_eq!(gdl.expected.value, Some(0.0));
    // exact ties p = g in the soft-label case (torch's subgradient 0 of |p - g|)
    let ties = fx.cases.iter().find(|c| c.name == "dice_soft_label_probabilities_ties").expect("the ties case");
    assert!(ties.extra["ties"].as_u64().unwrap() >= 10);
}

// --- problems --------------------------------------------------------------------------------

fn uniform(n: usize, seed: u64) -> Vec<f32> {
    let mut r = Rng::new(seed);
    (0..n).map(|_| r.next_f32()).collect()
}

fn logits(shape: &[usize], seed: u64) -> Vec<f32> {
    uniform(shape.iter().product(), seed).into_iter().map(|u| u * 8.0 - 4.0).collect()
}

/// Soft targets in [0, 1], pred's shape.
fn soft(shape: &[usize], seed: u64) -> Tgt {
    Tgt::Dense(uniform(shape.iter().product(), seed))
}

/// Hard 0/1 targets (30% positive), pred's shape.
fn hard(shape: &[usize], seed: u64) -> Tgt {
    Tgt::Dense(uniform(shape.iter().product(), seed).into_iter().map(|u| (u < 0.3) as u8 as f32).collect())
}

/// Labels `[N, *S]` in [0, C), a fraction `ignored` of them set to `ignore`.
fn labels(shape: &[usize], seed: u64, ignore: i64, ignored: f32) -> Tgt {
    let c = shape[1];
    let n = shape.iter().product::<usize>() / c;
    let u = uniform(2 * n, seed);
    Tgt::Labels((0..n).map(|j| if u[n + j] < ignored { ignore } else { ((u[j] * c as f32) as i64).min(c as i64 - 1) }).collect())
}

/// Class probabilities, pred's shape (each pixel's C values sum to 1).
fn class_probs(shape: &[usize], seed: u64) -> Tgt {
    let (n, c) = (shape[0], shape[1]);
    let s = shape.iter().product::<usize>() / (n * c);
    let mut v = uniform(n * c * s, seed);
    for i in 0..n {
        for j in 0..s {
            let tot: f32 = (0..c).map(|k| v[(i * c + k) * s + j]).sum();
            (0..c).for_each(|k| v[(i * c + k) * s + j] /= tot);
        }
    }
    Tgt::Probs(v)
}

fn problem(shape: &[usize], seed: u64, t: Tgt) -> Problem {
    Problem { shape: shape.to_vec(), x: logits(shape, seed), t, ignore: false }
}

/// The f64 reference's gradient against central differences, and the SIMD driver (value and
/// gradient) against the f64 reference.
fn gradient_check(spec: &str, p: &Problem) {
    let loss = build(spec);
    if spec.contains("soft_label=true") {
        let d = p.distance_to_kink(!spec.contains("from_logits=false"));
        assert!(d > KINK_MARGIN, "{spec}: an element lies {d:e} from the kink p = g");
    }
    let a = p.arrays();
    let batch = a.batch();
    let x64: Vec<f64> = p.x.iter().map(|&v| v as f64).collect();
    let (v_ref, g_ref) = p.reference(loss.as_ref(), &batch, &x64);
    let f = |x: &[f64]| p.reference(loss.as_ref(), &batch, x).0;
    check_gradient_fn(&f, &x64, &g_ref, FD_STEP, FD_REL, FD_ABS).unwrap_or_else(|e| panic!("{spec} on {:?}: {e}", p.shape));
    let (v, g) = loss.forward_backward(&batch).unwrap();
    assert!((v as f64 - v_ref).abs() <= VALUE_REL * v_ref.abs() + 2e-6, "{spec}: kernels {v} vs f64 reference {v_ref}");
    let scale = g_ref.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (i, (a, r)) in g.iter().zip(&g_ref).enumerate() {
        assert!((*a as f64 - r).abs() <= GRAD_REL * scale + 1e-7, "{spec}: grad[{i}] kernels {a} vs f64 reference {r}");
    }
}

#[test]
fn soft_label_gradients_match_central_differences() {
    let bin = [2, 1, 5, 7];
    let ml = [2, 3, 4, 5];
    let mc = [2, 4, 5, 6];
    for (spec, p) in [
        ("dice:soft_label=true", problem(&bin, 1, soft(&bin, 2))),
        ("dice:soft_label=true,reduce=batch,smooth=0", problem(&ml, 3, soft(&ml, 4))),
        ("dice:soft_label=true,log=true,smooth=0.5", problem(&ml, 5, soft(&ml, 6))),
        ("dice:soft_label=true,classes=present,include_background=false,ignore_index=255", problem(&mc, 7, labels(&mc, 8, 255, 0.2))),
        ("dice:soft_label=true,mode=multiclass,class_weights=[1,2,0.5,3]", problem(&mc, 9, class_probs(&mc, 10))),
        ("jaccard:soft_label=true", problem(&ml, 11, soft(&ml, 12))),
        ("jaccard:soft_label=true,log=true,reduce=batch", problem(&mc, 13, labels(&mc, 14, 255, 0.0))),
        ("tversky:soft_label=true,alpha=0.3,beta=0.7", problem(&ml, 15, soft(&ml, 16))),
        ("tversky:soft_label=true,alpha=0.8,beta=0.1,gamma=1.5", problem(&bin, 17, soft(&bin, 18))),
        ("generalized_dice:soft_label=true", problem(&ml, 19, soft(&ml, 20))),
        ("generalized_dice:soft_label=true,weight_type=simple,reduce=batch,mode=multiclass", problem(&mc, 21, class_probs(&mc, 22))),
        ("log_cosh_dice:soft_label=true", problem(&ml, 23, soft(&ml, 24))),
        ("dice:soft_label=true,squared=true", problem(&ml, 25, soft(&ml, 26))),
        ("dice:soft_label=true,ignore_index=255", problem(&ml, 27, soft(&ml, 28))),
    ] {
        gradient_check(spec, &p);
    }
}

#[test]
fn ignore_mode_and_reduction_gradients_match_central_differences() {
    let mc = [2, 3, 5, 6];
    let ml = [3, 2, 4, 5];
    for (spec, p) in [
        ("dice:ignore_index=1,ignore_mode=mask", problem(&mc, 31, labels(&mc, 32, 255, 0.0))),
        ("tversky:ignore_index=2,ignore_mode=mask,alpha=0.2,beta=0.8,gamma=2", problem(&mc, 33, labels(&mc, 34, 255, 0.0))),
        ("jaccard:ignore_index=0,ignore_mode=mask,reduce=batch", problem(&mc, 35, labels(&mc, 36, 255, 0.0))),
        ("generalized_dice:ignore_index=1,ignore_mode=mask", problem(&mc, 37, labels(&mc, 38, 255, 0.0))),
        ("log_cosh_dice:ignore_index=1,ignore_mode=mask,squared=true", problem(&mc, 39, labels(&mc, 40, 255, 0.0))),
        ("dice:reduction=sum", problem(&mc, 41, labels(&mc, 42, 255, 0.0))),
        ("dice:reduction=sum,class_weights=[0.5,2,1],classes=present,ignore_index=255", problem(&mc, 43, labels(&mc, 44, 255, 0.1))),
        ("dice:reduction=sum,reduce=batch,squared=true", problem(&ml, 45, soft(&ml, 46))),
        ("jaccard:reduction=sum,log=true", problem(&ml, 47, hard(&ml, 48))),
        ("tversky:reduction=sum,gamma=0.75", problem(&ml, 49, soft(&ml, 50))),
        ("generalized_dice:reduction=sum", problem(&mc, 51, labels(&mc, 52, 255, 0.0))),
        ("generalized_dice:reduction=sum,reduce=batch,class_weights=[1,3,2]", problem(&mc, 53, labels(&mc, 54, 255, 0.0))),
        ("log_cosh_dice:reduction=sum", problem(&ml, 55, soft(&ml, 56))),
        ("dice:reduction=sum,soft_label=true,ignore_index=1,ignore_mode=mask", problem(&mc, 57, labels(&mc, 58, 255, 0.0))),
    ] {
        gradient_check(spec, &p);
    }
    // smooth_dr = 1e-8 below eps on nearly empty pairs (logits near -22, empty targets): the
    // denominator P + dr is not floored
    let mut p = problem(&ml, 59, Tgt::Dense(vec![0.0; ml.iter().product()]));
    p.x.iter_mut().for_each(|x| *x -= 22.0);
    for spec in ["dice:smooth=1e-8", "tversky:smooth=1e-8,alpha=0.6,beta=0.4", "jaccard:smooth=1e-8", "generalized_dice:smooth=1e-8"] {
        gradient_check(spec, &p);
    }
}

/// A tie `p = g` takes the subgradient 0 of `|p - g|`: with probabilities, the gradient there is
/// the row's constant coefficient, and the SIMD kernels agree with the f64 reference element by
/// element.
#[test]
fn soft_label_ties_take_the_subgradient_zero() {
    let shape = [1, 1, 2, 4];
    let x = vec![0.2f32, 0.5, 0.7, 0.1, 0.9, 0.4, 0.3, 0.6];
    let g = vec![0.2f32, 0.1, 0.7, 0.3, 0.9, 0.8, 0.0, 0.6]; // ties at 0, 2, 4, 7
    let p = Problem { shape: shape.to_vec(), x: x.clone(), t: Tgt::Dense(g.clone()), ignore: false };
    let loss = build("dice:soft_label=true,from_logits=false,smooth=0");
    let a = p.arrays();
    let (_, grad) = loss.forward_backward(&a.batch()).unwrap();
    // by hand: P, G, D, I = (P + G - D)/2, L = 1 - 2I/(P + G); dL/dI = -2/(P+G), dL/dP = 2I/(P+G)^2
    let (ps, gs) = (x.iter().map(|&v| v as f64).sum::<f64>(), g.iter().map(|&v| v as f64).sum::<f64>());
    let d: f64 = x.iter().zip(&g).map(|(a, b)| (*a as f64 - *b as f64).abs()).sum();
    let i = (ps + gs - d) / 2.0;
    let (di, dp) = (-2.0 / (ps + gs), 2.0 * i / (ps + gs).powi(2));
    for k in 0..8 {
        let s = if x[k] > g[k] {
            1.0
        } else if x[k] < g[k] {
            -1.0
        } else {
            0.0
        };
        let want = dp + di * (1.0 - s) / 2.0;
        assert!((grad.as_slice().unwrap()[k] as f64 - want).abs() <= 1e-6, "element {k}: {} vs {want}", grad.as_slice().unwrap()[k]);
    }
}

// --- the rules ---------------------------------------------------------------------------------

fn value_grad(spec: &str, p: &Problem) -> (f64, Vec<f32>) {
    let a = p.arrays();
    let (v, g) = build(spec).forward_backward(&a.batch()).unwrap_or_else(|e| panic!("{spec}: {e}"));
    (v as f64, g.iter().copied().collect())
}

fn assert_close(what: &str, (va, ga): (f64, Vec<f32>), (vb, gb): (f64, Vec<f32>), rel: f64) {
    assert!((va - vb).abs() <= rel * va.abs().max(vb.abs()) + 1e-7, "{what}: {va} vs {vb}");
    let scale = gb.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64));
    for (i, (a, b)) in ga.iter().zip(&gb).enumerate() {
        assert!(((a - b) as f64).abs() <= rel * scale + 1e-8, "{what}: grad[{i}] {a} vs {b}");
    }
}

/// `(P + G - sum |p - g|)/2 = sum p g` for targets in {0, 1}: the soft-label form gives the hard
/// form's value and (away from ties) gradient, for every loss and mode.
#[test]
fn soft_label_equals_the_hard_form_on_hard_labels() {
    let bin = [2, 1, 6, 5];
    let ml = [2, 3, 4, 5];
    let mc = [2, 4, 5, 6];
    let cases = [(bin.to_vec(), hard(&bin, 61)), (ml.to_vec(), hard(&ml, 62)), (mc.to_vec(), labels(&mc, 63, 255, 0.2))];
    for loss in ["dice", "dice:reduce=batch,log=true", "jaccard", "tversky:alpha=0.3,beta=0.7,gamma=2", "generalized_dice", "log_cosh_dice"]
    {
        for (shape, t) in &cases {
            let p = Problem { shape: shape.clone(), x: logits(shape, 64), t: t.clone(), ignore: false };
            let sep = if loss.contains(':') { ',' } else { ':' };
            let soft_spec = format!("{loss}{sep}soft_label=true");
            let (hard_spec, soft_spec) = if matches!(t, Tgt::Labels(_)) {
                (format!("{loss}{sep}ignore_index=255"), format!("{soft_spec},ignore_index=255"))
            } else {
                (loss.to_string(), soft_spec)
            };
            assert_close(&format!("{soft_spec} on {shape:?}"), value_grad(&soft_spec, &p), value_grad(&hard_spec, &p), 1e-5);
        }
    }
    // on soft targets the two forms differ
    let p = problem(&ml, 65, soft(&ml, 66));
    let (vs, _) = value_grad("dice:soft_label=true", &p);
    let (vh, _) = value_grad("dice", &p);
    assert!((vs - vh).abs() > 1e-3, "soft {vs} vs hard {vh}");
}

/// With `squared=true` the soft-label form is `sum p g` exactly (MONAI's order-2 form): the key
/// changes nothing.
#[test]
fn soft_label_with_squared_is_squared() {
    let ml = [2, 3, 4, 5];
    let p = problem(&ml, 67, soft(&ml, 68));
    let a = value_grad("dice:squared=true,soft_label=true", &p);
    let b = value_grad("dice:squared=true", &p);
    assert_eq!(a, b);
}

/// `ignore_mode=class` is `ignore_mode=mask` with the ignored class weighted 0; outside
/// multiclass, or with an ignore_index outside [0, C), the two modes are the same loss.
#[test]
fn ignore_mode_class_is_mask_without_the_class() {
    let mc = [2, 4, 5, 6];
    let p = problem(&mc, 71, labels(&mc, 72, 255, 0.0));
    for loss in ["dice", "tversky:alpha=0.3,beta=0.7", "jaccard:reduce=batch", "log_cosh_dice"] {
        let class = value_grad(&format!("{loss}{}ignore_index=2", if loss.contains(':') { ',' } else { ':' }), &p);
        let mask = value_grad(
            &format!("{loss}{}ignore_index=2,ignore_mode=mask,class_weights=[1,1,0,1]", if loss.contains(':') { ',' } else { ':' }),
            &p,
        );
        assert_close(loss, class, mask, 1e-6);
        // and mask keeps the class in the mean: another value
        let kept = value_grad(&format!("{loss}{}ignore_index=2,ignore_mode=mask", if loss.contains(':') { ',' } else { ':' }), &p);
        assert!((kept.0 - value_grad(&format!("{loss}{}ignore_index=2", if loss.contains(':') { ',' } else { ':' }), &p).0).abs() > 1e-4);
    }
    // ignore_index outside [0, C): pixels only, in both modes
    let q = problem(&mc, 73, labels(&mc, 74, 255, 0.3));
    assert_eq!(value_grad("dice:ignore_index=255", &q), value_grad("dice:ignore_index=255,ignore_mode=mask", &q));
    // binary and multilabel: the ignore value masks elements in both modes
    let ml = [2, 3, 4, 5];
    let Tgt::Dense(mut t) = hard(&ml, 75) else { unreachable!() };
    t.iter_mut().step_by(7).for_each(|v| *v = 255.0);
    let r = Problem { shape: ml.to_vec(), x: logits(&ml, 76), t: Tgt::Dense(t), ignore: true };
    assert_eq!(value_grad("dice:ignore_index=255", &r), value_grad("dice:ignore_index=255,ignore_mode=mask", &r));
}

/// `reduction=sum` is the weighted sum of the pair losses: the mean times the total weight of the
/// kept pairs (N C with reduce=image and no weights); for generalized_dice, the mean times the
/// number of images with a kept channel. log_cosh_dice takes log cosh of the sum.
#[test]
fn reduction_sum_is_the_mean_times_the_total_weight() {
    let mc = [3, 3, 5, 6];
    let p = problem(&mc, 81, labels(&mc, 82, 255, 0.1));
    let scaled = |(v, g): (f64, Vec<f32>), k: f64| (v * k, g.iter().map(|x| x * k as f32).collect::<Vec<f32>>());
    for (loss, total) in [
        ("dice", 9.0),
        ("tversky:alpha=0.3,beta=0.7,gamma=2", 9.0),
        ("jaccard:log=true", 9.0),
        ("dice:reduce=batch", 3.0),
        ("dice:class_weights=[0.5,2,1]", 3.0 * 3.5),
        ("dice:include_background=false,class_weights=[9,2,1]", 3.0 * 3.0),
        ("generalized_dice", 3.0),
        ("generalized_dice:reduce=batch", 1.0),
    ] {
        let sep = if loss.contains(':') { ',' } else { ':' };
        let mean = value_grad(&format!("{loss}{sep}ignore_index=255"), &p);
        let sum = value_grad(&format!("{loss}{sep}reduction=sum,ignore_index=255"), &p);
        assert_close(loss, sum, scaled(mean, total), 1e-5);
    }
    let (l, _) = value_grad("dice:reduction=sum,ignore_index=255", &p);
    let (lc, _) = value_grad("log_cosh_dice:reduction=sum,ignore_index=255", &p);
    assert!((lc - l.cosh().ln()).abs() <= 1e-5 * lc, "{lc} vs log cosh {l}");
}

/// The floor of a denominator: eps when smooth_dr = 0, else min(eps, smooth_dr), so with
/// smooth_dr > 0 and probabilities in [0, 1] no denominator is ever floored.
#[test]
fn the_denominator_floor() {
    let floor = |dr: f64, eps: f64| OverlapKeys { smooth_dr: dr, eps, ..OverlapKeys::default() }.denominator_floor().unwrap();
    assert_eq!(floor(0.0, 1e-7), 1e-7);
    assert_eq!(floor(1e-8, 1e-7), 1e-8);
    assert_eq!(floor(1e-5, 1e-7), 1e-7);
    assert_eq!(floor(1.0, 0.5), 0.5);
    let s = OverlapKeys { smooth: Some(1e-9), ..OverlapKeys::default() };
    assert_eq!(s.denominator_floor().unwrap(), 1e-9);
    // smooth_dr = 0: an empty pair (P = G = 0) is 0/eps, score 0, loss 1, zero gradient
    let shape = [1, 1, 2, 3];
    let p = Problem { shape: shape.to_vec(), x: vec![0.0; 6], t: Tgt::Dense(vec![0.0; 6]), ignore: false };
    let (v, g) = value_grad("dice:smooth=0,from_logits=false", &p);
    assert_eq!(v, 1.0);
    assert!(g.iter().all(|x| x.is_finite()));
    // smooth_dr = 1e-8 < eps on an empty prediction and target: 1 - nr / dr (MONAI's value),
    // where a clamp at eps would give 1 - 1e-8 / 1e-7 = 0.9
    let (v, _) = value_grad("dice:smooth=1e-8,from_logits=false", &p);
    assert_eq!(v, 0.0);
    let (v, _) = value_grad("generalized_dice:smooth=1e-8,from_logits=false", &p);
    assert_eq!(v, 0.0);
    let (v, _) = value_grad("dice:smooth_nr=1e-9,smooth_dr=1e-8,from_logits=false", &p);
    assert!((v - 0.9).abs() < 1e-7, "{v}");
}

/// A spec with every new key prints back to itself and parses to the same loss.
#[test]
fn new_keys_round_trip_through_spec_strings() {
    for spec in [
        "dice:soft_label=true,ignore_index=1,ignore_mode=mask,reduction=sum",
        "tversky:alpha=0.3,soft_label=true,reduction=sum",
        "generalized_dice:ignore_index=0,ignore_mode=mask",
        "log_cosh_dice:soft_label=true,reduction=sum",
        "jaccard:soft_label=true",
    ] {
        let printed = registry().build_str(spec).unwrap().spec().to_string();
        assert_eq!(registry().build_str(&printed).unwrap().spec(), printed, "{spec}");
        for kv in spec.split(':').nth(1).unwrap().split(',') {
            assert!(printed.contains(kv), "{spec} printed as {printed}");
        }
    }
    let c = DiceConfig {
        common: OverlapKeys { soft_label: true, reduction: Reduction::Sum, ..OverlapKeys::default() },
        ..DiceConfig::default()
    };
    assert_eq!(segloss_core::LossConfig::to_spec(&c), "dice:soft_label=true,reduction=sum");
}

// --- bad values ------------------------------------------------------------------------------

#[test]
fn reduction_none_is_an_error_naming_the_key() {
    for loss in ["dice", "tversky", "jaccard", "generalized_dice", "log_cosh_dice"] {
        let e = build_err(&format!("{loss}:reduction=none"));
        assert_eq!(key_value(&e), ("reduction", "none"), "{loss}");
        assert!(e.to_string().contains("mean or sum"), "{e}");
        let e = build_err(&format!("{loss}:reduction=avg"));
        assert_eq!(key_value(&e), ("reduction", "avg"), "{loss}");
    }
}

#[test]
fn bad_soft_label_and_ignore_mode_values() {
    let e = build_err("dice:soft_label=1");
    assert_eq!(key_value(&e), ("soft_label", "1"));
    let e = build_err("jaccard:ignore_mode=pixels,ignore_index=1");
    assert_eq!(key_value(&e), ("ignore_mode", "pixels"));
    assert!(e.to_string().contains("class, mask"), "{e}");
    // mask without an ignore_index has nothing to mask
    for loss in ["dice", "tversky", "jaccard", "generalized_dice", "log_cosh_dice"] {
        let e = build_err(&format!("{loss}:ignore_mode=mask"));
        assert_eq!(key_value(&e), ("ignore_mode", "mask"), "{loss}");
        assert!(e.to_string().contains("ignore_index"), "{e}");
    }
}

#[test]
fn pixelwise_dice_takes_no_soft_label_and_no_sum() {
    for loss in ["dice", "log_cosh_dice"] {
        let e = build_err(&format!("{loss}:pixelwise=true,soft_label=true"));
        assert_eq!(key_value(&e), ("soft_label", "true"));
        assert!(e.to_string().contains("pixelwise"), "{e}");
        let e = build_err(&format!("{loss}:pixelwise=true,reduction=sum"));
        assert_eq!(key_value(&e), ("reduction", "sum"));
        assert!(e.to_string().contains("pixelwise"), "{e}");
    }
}

/// Class-probability targets have no labelled pixels to mask.
#[test]
fn ignore_mode_mask_with_class_probabilities_is_an_error() {
    let mc = [1, 3, 2, 2];
    let p = problem(&mc, 91, class_probs(&mc, 92));
    let a = p.arrays();
    let loss = build("dice:mode=multiclass,ignore_index=1,ignore_mode=mask");
    let e = loss.forward(&a.batch()).unwrap_err();
    assert_eq!(key_value(&e), ("ignore_mode", "mask"));
    assert!(e.to_string().contains("class-probability"), "{e}");
    // class mode still drops the class
    assert!(build("dice:mode=multiclass,ignore_index=1").forward(&a.batch()).is_ok());
}

/// The new keys of a typed config are checked when built, like the spec's.
#[test]
fn typed_configs_check_the_new_keys() {
    let c = TverskyConfig { common: OverlapKeys { reduction: Reduction::None, ..OverlapKeys::default() }, ..TverskyConfig::default() };
    assert_eq!(key_value(&c.build().unwrap_err()), ("reduction", "none"));
    let c = GeneralizedDiceConfig {
        common: OverlapKeys { ignore_mode: IgnoreMode::Mask, ..OverlapKeys::default() },
        ..GeneralizedDiceConfig::default()
    };
    assert_eq!(key_value(&c.build().unwrap_err()), ("ignore_mode", "mask"));
}

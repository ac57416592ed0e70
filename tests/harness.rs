//! The property-test kit (`segloss::testing`) run over every loss the registry lists, in every
//! mode it accepts, with its `weight` input when it takes one, on logits and (where the loss has
//! `from_logits`) probabilities, on hard and soft (class-probability) targets where the loss
//! accepts them (two channels for a multiclass loss that rejects the kit's three), with ignored
//! pixels where it has `ignore_index`, and over its keys: every key
//! at each of its example values (declared in the loss's declaration; every word of a word key,
//! both booleans), and every PAIR of keys at their example values (pairwise coverage: the full
//! product of a dozen keys is tens of thousands of configurations, and a defect that needs
//! three non-default keys at once has not been seen in this project). Weighted sums of two
//! losses of the same mode are checked the same way. A loss added to the registry is covered
//! here with no test edit.
//!
//! Per configuration: `check_stability` (edges: logits at +-1e4 and +-88, probabilities exactly
//! 0 and 1, empty and full masks, all pixels ignored, one-pixel images), `check_gradient`
//! (central differences, per element) and the SIMD kernels against the scalar reference kernels
//! (`segloss_core::kernel::with_backend`). Per single-key configuration also `check_determinism`
//! (1, 2, 3 threads, several blocks, NaN-prefilled gradient fully written) and `check_layouts`
//! (Fortran, strided, permuted views and gradient buffers), and `check_per_image` (the unreduced
//! per-image values and their vector-Jacobian product against each image alone). The ONNX graph
//! of every loss is checked against the native kernels in tract by `tools/segloss-onnx/tests/catalogue.rs`
//! (tract is built only for the tools).

use ndarray::{ArrayD, IxDyn};
use segloss::core::kernel::{with_backend, Backend};
use segloss::core::{Value, WeightUse};
use segloss::testing::*;
use segloss::{Loss, LossDecl, Mode};

/// SIMD against scalar: the value, relative (f32 lanes vs one f64 sum per element).
const SIMD_VALUE_REL: f64 = 2e-5;
/// SIMD against scalar: every gradient element within `SIMD_GRAD_REL * max |g| + SIMD_GRAD_ELEM
/// * |g_i|` (polynomial exp/ln of at most 4 ulp, f32 lanes).
const SIMD_GRAD_REL: f64 = 2e-5;
/// Per-element part of the bound above.
const SIMD_GRAD_ELEM: f64 = 1e-4;

/// Stability problems per two-key configuration, as a fraction of the kit's count (256 by default,
/// `PROPTEST_CASES` overrides it): across the ~2,700 two-key configurations a quarter keeps the
/// run within CI's budget; the one-key configurations and the sums get the full count.
const PAIR_CASES_DIVISOR: u32 = 4;

/// One configuration of one loss (or of a weighted sum).
struct Case {
    label: String,
    loss: Box<dyn Loss>,
    problem: ProblemConfig,
    single: bool,
}

/// The keys a case sets, as spec pairs.
type Pairs = Vec<(String, Value)>;

fn key_variants(decl: &LossDecl) -> (Vec<Pairs>, Vec<Pairs>) {
    let required: Pairs = decl.keys().iter().filter(|k| k.default == "required").map(|k| (k.key.to_string(), Value::Num(2.0))).collect();
    let per_key: Vec<Vec<(String, Value)>> = decl
        .keys()
        .iter()
        .map(|k| k.examples.iter().filter(|v| **v != k.value).map(|v| (k.key.to_string(), v.clone())).collect())
        .collect();
    let mut singles = vec![required.clone()];
    for vals in &per_key {
        for kv in vals {
            let mut p = required.clone();
            p.push(kv.clone());
            singles.push(p);
        }
    }
    let mut pairs = Vec::new();
    for i in 0..per_key.len() {
        for j in i + 1..per_key.len() {
            for a in &per_key[i] {
                for b in &per_key[j] {
                    let mut p = required.clone();
                    p.push(a.clone());
                    p.push(b.clone());
                    pairs.push(p);
                }
            }
        }
    }
    (singles, pairs)
}

fn value_of<'a>(pairs: &'a Pairs, key: &str) -> Option<&'a Value> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// The problem kinds a loss gets in `mode` with these keys.
fn problem_configs(decl: &LossDecl, mode: Mode, pairs: &Pairs) -> Vec<ProblemConfig> {
    let probabilities = value_of(pairs, "from_logits") == Some(&Value::Bool(false));
    let ignore = match value_of(pairs, "ignore_index") {
        Some(Value::Num(i)) => Some(*i as i64),
        _ => None,
    };
    let weights: Vec<WeightKind> = match decl.weight {
        WeightUse::None => vec![WeightKind::None],
        WeightUse::Optional if mode == Mode::Multiclass => vec![WeightKind::None, WeightKind::PerPixel],
        WeightUse::Optional => vec![WeightKind::None, WeightKind::PerElement],
        WeightUse::Required => vec![WeightKind::PerElement],
    };
    let mut out = Vec::new();
    for w in weights {
        for soft in [false, true] {
            out.push(ProblemConfig::new(mode).probabilities(probabilities).ignore_index(ignore).weight(w).soft_targets(soft));
        }
    }
    out
}

/// Whether the loss takes this kind of problem at all (soft targets: not every loss does); a
/// loss that takes it must pass every check on it.
fn accepts(loss: &dyn Loss, cfg: &ProblemConfig) -> bool {
    loss.forward(&Problem::generate(cfg, 0).batch()).is_ok()
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for decl in segloss::catalogue() {
        for &mode in decl.modes {
            let (singles, pairs) = key_variants(decl);
            for (single, list) in [(true, singles), (false, pairs)] {
                for mut keys in list {
                    keys.push(("mode".into(), Value::Word(mode.name().into())));
                    // a pair of keys the loss rejects together (say pixelwise with squared)
                    let Ok(loss) = decl.build_from(keys.clone()) else { continue };
                    for problem in problem_configs(decl, mode, &keys) {
                        // a loss that takes exactly two channels in multiclass (unified_focal:
                        // background and foreground) gets two-channel problems
                        let problem = match mode {
                            Mode::Multiclass if !accepts(loss.as_ref(), &problem) => problem.shape(&[2, 2, 5, 7]),
                            _ => problem,
                        };
                        if !accepts(loss.as_ref(), &problem) {
                            continue;
                        }
                        let label = format!("{}:{} on {:?}", decl.name, pairs_text(&keys), problem);
                        let loss = decl.build_from(keys.clone()).unwrap();
                        out.push(Case { label, loss, problem, single });
                    }
                }
            }
        }
    }
    // weighted sums: each loss with the next one of the registry that accepts the same mode
    let cat = segloss::catalogue();
    for mode in [Mode::Binary, Mode::Multilabel, Mode::Multiclass] {
        let of_mode: Vec<&LossDecl> = cat.iter().filter(|d| d.accepts(mode) && d.weight != WeightUse::Required).collect();
        for (i, a) in of_mode.iter().enumerate() {
            let b = of_mode[(i + 1) % of_mode.len()];
            if a.name == b.name {
                continue;
            }
            let req =
                |d: &LossDecl| -> String { d.keys().iter().filter(|k| k.default == "required").map(|k| format!(",{}=2", k.key)).collect() };
            let spec = format!("{}:mode={m}{}+0.5*{}:mode={m}{}", a.name, req(a), b.name, req(b), m = mode.name());
            let loss: Box<dyn Loss> = Box::new(segloss::LossSpec::parse(&spec).unwrap().build().unwrap());
            let problem = ProblemConfig::new(mode);
            if accepts(loss.as_ref(), &problem) {
                out.push(Case { label: spec, loss, problem, single: true });
            }
        }
    }
    out
}

fn pairs_text(p: &Pairs) -> String {
    p.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

#[test]
fn every_loss_in_every_mode_is_covered() {
    let cases = cases();
    for decl in segloss::catalogue() {
        for &m in decl.modes {
            let n = cases.iter().filter(|c| c.label.starts_with(&format!("{}:", decl.name)) && c.problem.mode == m).count();
            assert!(n >= 1, "{} in mode {m}: no configuration runs", decl.name);
        }
    }
    assert!(cases.iter().any(|c| c.label.contains('+')), "no weighted sum");
    let singles = cases.iter().filter(|c| c.single).count();
    eprintln!("{} configurations ({singles} with at most one key changed, or a weighted sum)", cases.len());
}

#[test]
fn stable_at_the_edges() {
    let mut total = 0u64;
    for c in cases() {
        let mut cfg = StabilityConfig::new(c.problem.clone());
        if !c.single {
            cfg.cases = (cfg.cases / PAIR_CASES_DIVISOR).max(1);
        }
        total += check_stability(c.loss.as_ref(), &cfg).unwrap_or_else(|e| panic!("{}\n{e}", c.label)) as u64;
    }
    eprintln!("stability: {total} problems");
}

#[test]
fn gradients_match_central_differences() {
    for c in cases() {
        let p = Problem::generate(&c.problem.clone().shape(&[2, c.problem.shape[1], 3, 4]), 11);
        let tol = GradTolerance { step: if c.problem.probabilities { 1e-3 } else { 1e-2 }, ..GradTolerance::default() };
        // piecewise losses have breakpoints (Lovasz: two sorted errors tie; topk_ce: the n_k-th
        // term; hausdorff_dt: a probability crossing 0.5; clDice: pooling ties): a step that
        // crosses one averages two slopes, so a failure is retried at a step 100x smaller, below
        // most gaps between these inputs' values, and then, for a breakpoint closer than that,
        // with one-sided differences (the subgradient equals one side's slope; a wrong gradient
        // matches neither side)
        let small = GradTolerance { step: tol.step * 1e-2, ..tol };
        let one_sided = GradTolerance { kinks: true, ..small };
        if let Err(e) = check_gradient(c.loss.as_ref(), &p, &tol) {
            if let Err(e2) = check_gradient(c.loss.as_ref(), &p, &small) {
                check_gradient(c.loss.as_ref(), &p, &one_sided)
                    .unwrap_or_else(|e3| panic!("{}\n{e}\nat a smaller step: {e2}\none-sided: {e3}", c.label));
            }
        }
    }
}

#[test]
fn deterministic_across_threads_and_layouts() {
    for c in cases().into_iter().filter(|c| c.single) {
        // 2 x 3 x 64 x 70: several reduction blocks of 8192 elements
        let big = Problem::generate(&c.problem.clone().shape(&[2, c.problem.shape[1], 64, 70]), 5);
        check_determinism(c.loss.as_ref(), &big).unwrap_or_else(|e| panic!("{}\n{e}", c.label));
        let small = Problem::generate(&c.problem, 3);
        check_layouts(c.loss.as_ref(), &small).unwrap_or_else(|e| panic!("{}\n{e}", c.label));
    }
}

#[test]
fn per_image_values_and_their_vjp_equal_each_image_alone() {
    // three images (upstream 1.5, -0.25 and 0), every single-key configuration and the sums
    for c in cases().into_iter().filter(|c| c.single) {
        let p = Problem::generate(&c.problem.clone().shape(&[3, c.problem.shape[1], 4, 5]), 7);
        check_per_image(c.loss.as_ref(), &p).unwrap_or_else(|e| panic!("{}\n{e}", c.label));
    }
}

#[test]
fn simd_matches_scalar() {
    for c in cases() {
        let ch = c.problem.shape[1];
        for (seed, shape) in [(1u64, [2, ch, 5, 7]), (2, [1, ch, 9, 13])] {
            let p = Problem::generate(&c.problem.clone().shape(&shape), seed);
            let b = p.batch();
            let (vs, gs) = c.loss.forward_backward(&b).unwrap_or_else(|e| panic!("{}: {e}", c.label));
            let (vr, gr) = with_backend(Backend::Scalar, || c.loss.forward_backward(&b)).unwrap();
            let scale = (vr as f64).abs().max(1e-3);
            assert!(((vs - vr) as f64).abs() <= SIMD_VALUE_REL * scale, "{}: value simd {vs} vs scalar {vr}", c.label);
            let gmax = gr.iter().fold(0.0f64, |m, g| m.max((*g as f64).abs()));
            for (i, (a, r)) in gs.iter().zip(gr.iter()).enumerate() {
                let tol = SIMD_GRAD_REL * gmax + SIMD_GRAD_ELEM * (*r as f64).abs();
                assert!(((a - r) as f64).abs() <= tol, "{}: grad[{i}] simd {a} vs scalar {r} (tol {tol})", c.label);
            }
        }
    }
}

#[test]
fn softmax_losses_reject_a_weight_of_preds_shape() {
    // the weight of a softmax loss is one value per pixel: with class-probability targets a
    // weight of pred's shape [N, C, *S] is also the target's shape, and is rejected
    let mut checked = 0;
    for c in
        cases().into_iter().filter(|c| c.problem.mode == Mode::Multiclass && c.problem.soft_targets && c.problem.weight != WeightKind::None)
    {
        let mut p = Problem::generate(&c.problem.clone().shape(&[2, 3, 4, 5]), 1);
        p.weight = Some(ArrayD::<f32>::ones(IxDyn(p.pred.shape())));
        let e = c.loss.forward(&p.batch()).expect_err(&format!("{}: a weight of pred's shape was accepted", c.label));
        assert!(e.to_string().contains("[2, 4, 5]"), "{}: the error names the per-pixel shape: {e}", c.label);
        checked += 1;
    }
    assert!(checked > 0, "no softmax loss takes class-probability targets with a weight");
}

//! One harness over every loss the registry lists, in every mode it accepts, with its `weight`
//! input when it takes one, and with each key set in turn to each of its example values (every
//! word of a word key, both booleans). Multiclass also runs with class-probability targets (float,
//! `pred`'s shape) for every configuration whose evaluation accepts them, with the per-pixel
//! weight (`[N, *S]` or `[N, 1, *S]`) when the loss takes one; a loss that accepts them passes
//! every check below. A loss added to the registry is covered here with no test edit. Checks,
//! each with its named tolerance:
//! - SIMD kernels against the scalar reference kernels (value and every gradient element);
//! - the analytic gradient against central differences of the loss;
//! - non-contiguous inputs and gradient buffers (Fortran order, stride 2) give the same bits;
//! - 1, 2 and 3 threads give the same bits, on inputs spanning several reduction blocks;
//! - a NaN-prefilled gradient buffer is fully written.
//!
//! The ONNX graph of every loss is checked against the native kernels in tract by
//! `tools/segloss-onnx/tests/catalogue.rs` (tract is built only for the tools).

use ndarray::{ArrayD, IxDyn, ShapeBuilder};
use segloss::core::kernel::{with_backend, Backend};
use segloss::core::rng::Rng;
use segloss::core::testing::Layouts;
use segloss::core::{Value, WeightUse};
use segloss::{Batch, Loss, LossDecl, LossError, Mode};

/// SIMD against scalar: the value, relative (f32 lanes vs one f64 sum per element).
const SIMD_VALUE_REL: f64 = 2e-5;
/// SIMD against scalar: every gradient element within `SIMD_GRAD_REL * max |g| + SIMD_GRAD_ELEM
/// * |g_i|` (polynomial exp/ln of at most 4 ulp, f32 lanes).
const SIMD_GRAD_REL: f64 = 2e-5;
/// Per-element part of the bound above.
const SIMD_GRAD_ELEM: f64 = 1e-4;
/// Central-difference step on logits (the loss is computed in f32: a value error of about
/// 1e-7 gives a numeric-gradient error of about 1e-7 / h = 1e-5 at this step, while the
/// truncation error h^2 f''' / 6 stays near 1e-5 for these smooth losses on O(1) logits).
const FD_STEP: f64 = 1e-2;
/// Central differences: every element within `FD_ABS * max |g| + FD_ELEM * |g_i|`.
const FD_ABS: f64 = 2e-2;
/// Per-element part of the bound above.
const FD_ELEM: f64 = 2e-2;

/// The input a loss gets in one mode.
struct Problem {
    pred: ArrayD<f32>,
    target: Target,
    weight: Option<ArrayD<f32>>,
}

enum Target {
    Float(ArrayD<f32>),
    Labels(ArrayD<i64>),
}

impl Problem {
    fn batch(&self) -> Batch<'_> {
        let b = match &self.target {
            Target::Float(t) => Batch::new(&self.pred, t),
            Target::Labels(t) => Batch::new(&self.pred, t),
        };
        match &self.weight {
            Some(w) => b.with_weight(w),
            None => b,
        }
    }
}

/// A problem for `mode` with `n` images of `h x w` and 3 channels (1 for binary); logits that
/// lean toward the target plus noise (probabilities in (0.02, 0.98) when `probs`), targets with
/// every class present, the weight when the loss takes one. `soft` (multiclass): class
/// probabilities of `pred`'s shape instead of labels, and a per-pixel weight, `[N, *S]` for an odd
/// seed and `[N, 1, *S]` for an even one.
#[allow(clippy::too_many_arguments)]
fn problem(mode: Mode, soft: bool, weight: bool, probs: bool, n: usize, h: usize, w: usize, seed: u64) -> Problem {
    let mut rng = Rng::new(seed);
    let c = if mode == Mode::Binary { 1 } else { 3 };
    let s = h * w;
    let (target, sign): (Target, Vec<f32>) = match mode {
        Mode::Multiclass if soft => {
            // a softmax of random scores per pixel; logits lean toward the likelier classes
            let scores: Vec<f32> = (0..n * c * s).map(|_| 1.5 * rng.normal()).collect();
            let t = softmax_channels(&scores, n, c, s);
            let sign = t.iter().map(|&p| if p > 1.0 / c as f32 { 1.0 } else { -1.0 }).collect();
            (Target::Float(ArrayD::from_shape_vec(IxDyn(&[n, c, h, w]), t).unwrap()), sign)
        }
        Mode::Multiclass => {
            let labels: Vec<i64> = (0..n * s).map(|i| if i % 7 == 0 { (i / 7 % 3) as i64 } else { rng.below(3) as i64 }).collect();
            let sign = (0..n * c * s).map(|i| if labels[(i / (c * s)) * s + i % s] == ((i / s) % c) as i64 { 1.0 } else { -1.0 }).collect();
            (Target::Labels(ArrayD::from_shape_vec(IxDyn(&[n, h, w]), labels).unwrap()), sign)
        }
        _ => {
            let t: Vec<f32> =
                (0..n * c * s).map(|i| if i % 5 == 0 { ((i / 5) % 2) as f32 } else { (rng.next_f32() < 0.4) as u8 as f32 }).collect();
            let sign = t.iter().map(|&y| 2.0 * y - 1.0).collect();
            (Target::Float(ArrayD::from_shape_vec(IxDyn(&[n, c, h, w]), t).unwrap()), sign)
        }
    };
    let logits: Vec<f32> = sign.iter().map(|&sg| 0.8 * sg + 1.2 * rng.normal()).collect();
    let pred = if probs {
        let p: Vec<f32> = match mode {
            Mode::Multiclass => softmax_channels(&logits, n, c, s),
            _ => logits.iter().map(|&x| 1.0 / (1.0 + (-x).exp())).collect(),
        };
        p.into_iter().map(|v| v.clamp(0.02, 0.98)).collect()
    } else {
        logits
    };
    let pred = ArrayD::from_shape_vec(IxDyn(&[n, c, h, w]), pred).unwrap();
    let weight = weight.then(|| {
        let shape: Vec<usize> = match &target {
            Target::Float(_) if soft && seed % 2 == 1 => vec![n, h, w],
            Target::Float(_) if soft => vec![n, 1, h, w],
            Target::Float(t) => t.shape().to_vec(),
            Target::Labels(t) => t.shape().to_vec(),
        };
        let len = shape.iter().product();
        ArrayD::from_shape_vec(IxDyn(&shape), rng.vec(len, 0.2, 3.0)).unwrap()
    });
    Problem { pred, target, weight }
}

fn softmax_channels(z: &[f32], n: usize, c: usize, s: usize) -> Vec<f32> {
    let mut out = vec![0.0; z.len()];
    for i in 0..n {
        for j in 0..s {
            let m = (0..c).map(|k| z[(i * c + k) * s + j]).fold(f32::MIN, f32::max);
            let sum: f32 = (0..c).map(|k| (z[(i * c + k) * s + j] - m).exp()).sum();
            for k in 0..c {
                out[(i * c + k) * s + j] = (z[(i * c + k) * s + j] - m).exp() / sum;
            }
        }
    }
    out
}

/// One configuration of one loss: the spec pairs, the mode, whether pred holds probabilities,
/// whether the targets are class probabilities (multiclass).
struct Case {
    decl: &'static LossDecl,
    pairs: Vec<(String, Value)>,
    mode: Mode,
    probs: bool,
    soft: bool,
}

impl Case {
    fn label(&self) -> String {
        let keys: Vec<String> = self.pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let soft = if self.soft { " (class-probability targets)" } else { "" };
        format!("{}:{}{soft}", self.decl.name, keys.join(","))
    }

    fn build(&self) -> Option<Box<dyn Loss>> {
        // a key value the loss rejects in this mode (say pixelwise with squared) is not a case
        self.decl.build_from(self.pairs.clone()).ok()
    }

    /// The built loss, unless its evaluation rejects the case's problem for what it is: a
    /// configuration that rejects class-probability targets (any error) is not a case, nor one
    /// whose key value does not fit the problem (an `InvalidConfig` error, say three
    /// `class_weights` for the one channel of binary); any other error fails the checks.
    fn loss(&self) -> Option<Box<dyn Loss>> {
        let loss = self.build()?;
        match loss.forward(&self.problem(1, 2, 3, 0).batch()) {
            Err(_) if self.soft => None,
            Err(LossError::InvalidConfig { .. }) => None,
            _ => Some(loss),
        }
    }

    fn problem(&self, n: usize, h: usize, w: usize, seed: u64) -> Problem {
        problem(self.mode, self.soft, self.decl.weight != WeightUse::None, self.probs, n, h, w, seed)
    }
}

/// Every loss, every accepted mode, the defaults and each key at each of its example values.
fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for decl in segloss::catalogue() {
        for &mode in decl.modes {
            let mode_pair = ("mode".to_string(), Value::Word(mode.name().into()));
            // a key without a default (`wce`'s beta, a positive number) gets 2
            let required: Vec<(String, Value)> =
                decl.keys().iter().filter(|k| k.default == "required").map(|k| (k.key.to_string(), Value::Num(2.0))).collect();
            let mut variants = vec![Vec::new()];
            for k in decl.keys() {
                for ex in k.examples.iter().filter(|v| **v != k.value) {
                    variants.push(vec![(k.key.to_string(), ex.clone())]);
                }
            }
            for v in variants {
                let probs = v.iter().any(|(k, v)| k == "from_logits" && *v == Value::Bool(false));
                let mut pairs = v;
                pairs.extend(required.iter().cloned());
                pairs.push(mode_pair.clone());
                for soft in [false, true].into_iter().take(if mode == Mode::Multiclass { 2 } else { 1 }) {
                    out.push(Case { decl, pairs: pairs.clone(), mode, probs, soft });
                }
            }
        }
    }
    out
}

fn flat(a: &ArrayD<f32>) -> Vec<f32> {
    a.iter().copied().collect()
}

#[test]
fn every_loss_in_every_mode_has_cases() {
    let cases = cases();
    for decl in segloss::catalogue() {
        for &m in decl.modes {
            let built = cases.iter().filter(|c| c.decl.name == decl.name && c.mode == m && !c.soft && c.loss().is_some()).count();
            assert!(built >= 1, "{} in mode {m} evaluates with no configuration", decl.name);
        }
    }
    // class-probability targets reach the checks through the losses that accept them
    let soft: Vec<String> = cases.iter().filter(|c| c.soft && c.loss().is_some()).map(|c| c.label()).collect();
    assert!(!soft.is_empty(), "no loss of the registry accepts class-probability targets");
    // ... and a weight of pred's shape is rejected for them (the weight of a softmax loss is one
    // value per pixel), where a per-pixel one is accepted
    for case in cases.iter().filter(|c| c.soft && c.decl.weight != WeightUse::None) {
        let Some(loss) = case.loss() else { continue };
        let p = case.problem(2, 3, 4, 1);
        let dense = ArrayD::<f32>::ones(IxDyn(p.pred.shape()));
        let b = match &p.target {
            Target::Float(t) => Batch::new(&p.pred, t).with_weight(&dense),
            Target::Labels(t) => Batch::new(&p.pred, t).with_weight(&dense),
        };
        let e = loss.forward(&b).expect_err(&format!("{}: a weight of pred's shape was accepted", case.label()));
        assert!(e.to_string().contains("[2, 3, 4]"), "{}: the error names the per-pixel shape: {e}", case.label());
    }
}

#[test]
fn simd_matches_scalar() {
    for case in cases() {
        let Some(loss) = case.loss() else { continue };
        for (seed, (n, h, w)) in [(1u64, (2, 5, 7)), (2, (1, 9, 13))] {
            let p = case.problem(n, h, w, seed);
            let b = p.batch();
            let (vs, gs) = loss.forward_backward(&b).unwrap_or_else(|e| panic!("{}: {e}", case.label()));
            let (vr, gr) = with_backend(Backend::Scalar, || loss.forward_backward(&b)).unwrap();
            let scale = (vr as f64).abs().max(1e-3);
            assert!(((vs - vr) as f64).abs() <= SIMD_VALUE_REL * scale, "{}: value simd {vs} vs scalar {vr}", case.label());
            let gmax = gr.iter().fold(0.0f64, |m, g| m.max((*g as f64).abs()));
            for (i, (a, r)) in gs.iter().zip(gr.iter()).enumerate() {
                let tol = SIMD_GRAD_REL * gmax + SIMD_GRAD_ELEM * (*r as f64).abs();
                assert!(((a - r) as f64).abs() <= tol, "{}: grad[{i}] simd {a} vs scalar {r} (tol {tol})", case.label());
            }
        }
    }
}

#[test]
fn gradient_matches_central_differences() {
    for case in cases() {
        let Some(loss) = case.loss() else { continue };
        let p = case.problem(2, 3, 4, 11);
        let (_, g) = loss.forward_backward(&p.batch()).unwrap_or_else(|e| panic!("{}: {e}", case.label()));
        let g = flat(&g);
        let gmax = g.iter().fold(0.0f64, |m, v| m.max((*v as f64).abs()));
        let x0 = flat(&p.pred);
        let step = if case.probs { FD_STEP * 0.1 } else { FD_STEP };
        for i in 0..x0.len() {
            let eval = |d: f64| {
                let mut x = x0.clone();
                x[i] = (x0[i] as f64 + d) as f32;
                let q = Problem {
                    pred: ArrayD::from_shape_vec(IxDyn(p.pred.shape()), x).unwrap(),
                    target: clone_target(&p.target),
                    weight: p.weight.clone(),
                };
                loss.forward(&q.batch()).unwrap() as f64
            };
            let num = (eval(step) - eval(-step)) / (2.0 * step);
            let tol = FD_ABS * gmax + FD_ELEM * num.abs();
            assert!((num - g[i] as f64).abs() <= tol, "{}: grad[{i}] analytic {} vs numeric {num} (tol {tol})", case.label(), g[i]);
        }
    }
}

fn clone_target(t: &Target) -> Target {
    match t {
        Target::Float(a) => Target::Float(a.clone()),
        Target::Labels(a) => Target::Labels(a.clone()),
    }
}

#[test]
fn layouts_give_the_same_bits() {
    for case in cases() {
        let Some(loss) = case.loss() else { continue };
        let p = case.problem(2, 6, 5, 3);
        let (v, g) = loss.forward_backward(&p.batch()).unwrap();
        let lp = Layouts::of(&p.pred);
        let strided_pred = lp.strided();
        for pred in [lp.fortran.view(), strided_pred.view()] {
            let b = match &p.target {
                Target::Float(t) => Batch::new(pred.view(), t),
                Target::Labels(t) => Batch::new(pred.view(), t),
            };
            let b = match &p.weight {
                Some(w) => b.with_weight(w),
                None => b,
            };
            // a non-contiguous gradient buffer too, pre-filled with NaN
            let mut gbuf = ArrayD::<f32>::from_elem(IxDyn(p.pred.shape()).f(), f32::NAN);
            let v2 = loss.forward_backward_into(&b, gbuf.view_mut(), 1.0).unwrap();
            assert_eq!(v.to_bits(), v2.to_bits(), "{}", case.label());
            assert!(gbuf.iter().zip(g.iter()).all(|(a, b)| a.to_bits() == b.to_bits()), "{}: gradient differs", case.label());
        }
    }
}

#[test]
fn threads_give_the_same_bits_and_every_element_is_written() {
    // 2 x 3 x 96 x 96 = 55,296 elements: several blocks of segloss-core's reduction
    let pools: Vec<rayon::ThreadPool> = (1..=3).map(|t| rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap()).collect();
    for case in cases() {
        let Some(loss) = case.loss() else { continue };
        let p = case.problem(2, 96, 96, 5);
        let mut first: Option<(u32, Vec<u32>)> = None;
        for pool in &pools {
            let mut g = ArrayD::<f32>::from_elem(IxDyn(p.pred.shape()), f32::NAN);
            let v = pool.install(|| loss.forward_backward_into(&p.batch(), g.view_mut(), 1.0)).unwrap();
            segloss::core::testing::assert_all_written(g.as_slice().unwrap());
            let bits = (v.to_bits(), g.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
            match &first {
                None => first = Some(bits),
                Some(f) => assert!(*f == bits, "{}: {} threads differ from 1", case.label(), pool.current_num_threads()),
            }
        }
    }
}

//! Whole problems (`pred`, target, optional weight) for a mode, generated deterministically from a
//! seed ([`Problem::generate`]) or drawn by proptest ([`problems`]), with the edges that break
//! losses: saturated logits, probabilities exactly 0 and 1, empty and full masks, ignored pixels,
//! one-pixel images, class-probability targets, per-pixel and per-element weights.

use crate::rng::Rng;
use crate::{Batch, Mode, OwnedTarget};
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;

/// The `weight` input a problem carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightKind {
    /// No weight.
    None,
    /// One value per target element (the target's shape).
    PerElement,
    /// One value per pixel, `[N, *S]`.
    PerPixel,
}

/// What a generated problem looks like.
#[derive(Debug, Clone, PartialEq)]
pub struct ProblemConfig {
    /// The mode: binary and multilabel get float targets of `pred`'s shape, multiclass integer
    /// labels `[N, *S]` (or class probabilities with `soft_targets`).
    pub mode: Mode,
    /// `pred`'s shape `[N, C, *S]` (C = 1 for binary).
    pub shape: Vec<usize>,
    /// `pred` holds probabilities (sigmoid or softmax of the logits) instead of logits.
    pub probabilities: bool,
    /// Soft float targets in `[0, 1]` (binary, multilabel), or class-probability targets
    /// (multiclass).
    pub soft_targets: bool,
    /// Integer labels (or float targets) equal to this value appear (about one pixel in six).
    pub ignore_index: Option<i64>,
    /// The weight input.
    pub weight: WeightKind,
    /// Logits are `margin * (2 y - 1) + scale * N(0, 1)`: how saturated they are.
    pub logit_scale: f32,
}

impl ProblemConfig {
    /// A problem of `mode` on `[2, C, 5, 7]` (C = 1 for binary, 3 otherwise), logits, hard
    /// targets, no ignored pixel, no weight.
    pub fn new(mode: Mode) -> Self {
        let c = if mode == Mode::Binary { 1 } else { 3 };
        ProblemConfig {
            mode,
            shape: vec![2, c, 5, 7],
            probabilities: false,
            soft_targets: false,
            ignore_index: None,
            weight: WeightKind::None,
            logit_scale: 1.2,
        }
    }

    /// The same with `pred` of `shape`.
    pub fn shape(mut self, shape: &[usize]) -> Self {
        self.shape = shape.to_vec();
        self
    }

    /// The same with probabilities in `pred`.
    pub fn probabilities(mut self, on: bool) -> Self {
        self.probabilities = on;
        self
    }

    /// The same with soft (or class-probability) targets.
    pub fn soft_targets(mut self, on: bool) -> Self {
        self.soft_targets = on;
        self
    }

    /// The same with some pixels set to `ignore_index`.
    pub fn ignore_index(mut self, i: Option<i64>) -> Self {
        self.ignore_index = i;
        self
    }

    /// The same with a weight input.
    pub fn weight(mut self, w: WeightKind) -> Self {
        self.weight = w;
        self
    }

    /// The same with logits of noise scale `s`.
    pub fn logit_scale(mut self, s: f32) -> Self {
        self.logit_scale = s;
        self
    }
}

/// One input of a loss: `pred`, its target and an optional weight.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Logits or probabilities, `[N, C, *S]`.
    pub pred: ArrayD<f32>,
    /// The target.
    pub target: OwnedTarget,
    /// The optional weight.
    pub weight: Option<ArrayD<f32>>,
    /// Whether `pred` holds probabilities (the gradient checker keeps its steps inside `[0, 1]`).
    pub probabilities: bool,
}

impl Problem {
    /// The batch of this problem.
    pub fn batch(&self) -> Batch<'_> {
        let b = Batch::new(&self.pred, self.target.view());
        match &self.weight {
            Some(w) => b.with_weight(w),
            None => b,
        }
    }

    /// The same problem with another `pred` of the same shape.
    pub fn with_pred(&self, pred: ArrayD<f32>) -> Problem {
        Problem { pred, target: self.target.clone(), weight: self.weight.clone(), probabilities: self.probabilities }
    }

    /// A problem drawn from `cfg` with segloss-core's seeded generator: every class present when
    /// the image is large enough, logits leaning toward the target.
    pub fn generate(cfg: &ProblemConfig, seed: u64) -> Problem {
        let mut rng = Rng::new(seed);
        let (n, c) = (cfg.shape[0], cfg.shape[1]);
        let s: usize = cfg.shape[2..].iter().product();
        let spatial = &cfg.shape[2..];
        let ignored = |rng: &mut Rng| cfg.ignore_index.is_some() && rng.below(6) == 0;
        let (target, sign): (OwnedTarget, Vec<f32>) = match cfg.mode {
            Mode::Multiclass if cfg.soft_targets => {
                let mut t = vec![0.0f32; n * c * s];
                for img in 0..n {
                    for j in 0..s {
                        let raw: Vec<f32> = (0..c).map(|_| rng.next_f32() + 0.05).collect();
                        let sum: f32 = raw.iter().sum();
                        for k in 0..c {
                            t[(img * c + k) * s + j] = raw[k] / sum;
                        }
                    }
                }
                let sign = t.iter().map(|&p| 2.0 * p - 0.5).collect();
                (OwnedTarget::F32(ArrayD::from_shape_vec(IxDyn(&cfg.shape), t).expect("shape")), sign)
            }
            Mode::Multiclass => {
                let labels: Vec<i64> = (0..n * s)
                    .map(|i| {
                        if ignored(&mut rng) {
                            cfg.ignore_index.unwrap_or(-100)
                        } else if i % s < c {
                            (i % s) as i64
                        } else {
                            rng.below(c) as i64
                        }
                    })
                    .collect();
                let sign =
                    (0..n * c * s).map(|i| if labels[(i / (c * s)) * s + i % s] == ((i / s) % c) as i64 { 1.0 } else { -1.0 }).collect();
                let mut tshape = vec![n];
                tshape.extend_from_slice(spatial);
                (OwnedTarget::I64(ArrayD::from_shape_vec(IxDyn(&tshape), labels).expect("shape")), sign)
            }
            _ => {
                let t: Vec<f32> = (0..n * c * s)
                    .map(|i| {
                        if ignored(&mut rng) {
                            cfg.ignore_index.unwrap_or(-100) as f32
                        } else if cfg.soft_targets {
                            rng.next_f32()
                        } else if i % s == 0 {
                            ((i / s) % 2) as f32
                        } else {
                            (rng.next_f32() < 0.4) as u8 as f32
                        }
                    })
                    .collect();
                let sign = t.iter().map(|&y| if (0.0..=1.0).contains(&y) { 2.0 * y - 1.0 } else { 0.0 }).collect();
                (OwnedTarget::F32(ArrayD::from_shape_vec(IxDyn(&cfg.shape), t).expect("shape")), sign)
            }
        };
        let logits: Vec<f32> = sign.iter().map(|&sg| 0.8 * sg + cfg.logit_scale * rng.normal()).collect();
        let pred = if cfg.probabilities { activate(&logits, cfg.mode, n, c, s) } else { logits };
        let pred = ArrayD::from_shape_vec(IxDyn(&cfg.shape), pred).expect("shape");
        let weight = match cfg.weight {
            WeightKind::None => None,
            WeightKind::PerElement => {
                let shape = target.shape().to_vec();
                let len = shape.iter().product();
                Some(ArrayD::from_shape_vec(IxDyn(&shape), rng.vec(len, 0.2, 3.0)).expect("shape"))
            }
            WeightKind::PerPixel => {
                let mut shape = vec![n];
                shape.extend_from_slice(spatial);
                Some(ArrayD::from_shape_vec(IxDyn(&shape), rng.vec(n * s, 0.2, 3.0)).expect("shape"))
            }
        };
        Problem { pred, target, weight, probabilities: cfg.probabilities }
    }
}

/// Sigmoid (binary, multilabel) or softmax over the channels (multiclass), in f64.
fn activate(z: &[f32], mode: Mode, n: usize, c: usize, s: usize) -> Vec<f32> {
    if mode != Mode::Multiclass {
        return z.iter().map(|&x| (1.0 / (1.0 + (-(x as f64)).exp())) as f32).collect();
    }
    let mut out = vec![0.0; z.len()];
    for i in 0..n {
        for j in 0..s {
            let m = (0..c).map(|k| z[(i * c + k) * s + j] as f64).fold(f64::MIN, f64::max);
            let sum: f64 = (0..c).map(|k| (z[(i * c + k) * s + j] as f64 - m).exp()).sum();
            for k in 0..c {
                out[(i * c + k) * s + j] = ((z[(i * c + k) * s + j] as f64 - m).exp() / sum) as f32;
            }
        }
    }
    out
}

/// Integer labels in `[0, classes)`, some equal to `ignore_index` when given.
pub fn labels(len: usize, classes: usize, ignore_index: Option<i64>) -> impl Strategy<Value = Vec<i64>> {
    let class = (0..classes.max(1) as i64).boxed();
    let one = match ignore_index {
        Some(i) => prop_oneof![5 => class, 1 => Just(i)].boxed(),
        None => class,
    };
    prop::collection::vec(one, len)
}

/// Class-probability targets: `n * s` pixels of `classes` probabilities summing to 1, laid out
/// `[N, C, *S]`; one-hot pixels mixed in.
pub fn class_probabilities(n: usize, classes: usize, s: usize) -> impl Strategy<Value = Vec<f32>> {
    let pixel = prop_oneof![
        3 => prop::collection::vec(0.0f32..1.0, classes).prop_map(|v| {
            let sum: f32 = v.iter().sum();
            let k = v.len() as f32;
            if sum > 0.0 {
                v.into_iter().map(|x| x / sum).collect::<Vec<f32>>()
            } else {
                v.into_iter().map(|_| 1.0 / k).collect::<Vec<f32>>()
            }
        }),
        1 => (0..classes).prop_map(move |k| (0..classes).map(|j| (j == k) as u8 as f32).collect::<Vec<f32>>()),
    ];
    prop::collection::vec(pixel, n * s).prop_map(move |px| {
        let mut out = vec![0.0f32; n * classes * s];
        for (p, probs) in px.iter().enumerate() {
            let (img, j) = (p / s.max(1), p % s.max(1));
            for (k, v) in probs.iter().enumerate() {
                out[(img * classes + k) * s + j] = *v;
            }
        }
        out
    })
}

/// Per-pixel or per-element weights: positive values, zeros and large values mixed in.
pub fn weights(len: usize) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(prop_oneof![6 => 0.0f32..4.0, 1 => Just(0.0f32), 1 => Just(1e3f32)], len)
}

/// Per-class weights: finite, `>= 0`, not all 0.
pub fn class_weights(classes: usize) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(prop_oneof![4 => 0.05f32..5.0, 1 => Just(0.0f32), 1 => Just(1.0f32)], classes)
        .prop_filter("not all zero", |w| w.iter().any(|&x| x > 0.0))
}

/// Focusing exponents: 0, values in (0, 1) (where naive chain rules divide by zero), 1, 2, 5.
pub fn gamma() -> impl Strategy<Value = f32> {
    prop_oneof![Just(0.0f32), 0.05f32..1.0, Just(0.5f32), Just(1.0f32), Just(2.0f32), 1.0f32..5.0]
}

/// Problems of `cfg`'s mode and kind, drawn from the edges: `pred` of shape `[N, C, *S]` with
/// one or two images of 1 to 6 x 1 to 6 pixels (one-pixel images included), logits at `±1e4`,
/// `±88`, 0 or ordinary (probabilities exactly 0 and 1 with `cfg.probabilities`), targets empty,
/// full, one-pixel or random, and, with `cfg.ignore_index`, images whose pixels are all ignored.
pub fn problems(cfg: ProblemConfig) -> impl Strategy<Value = Problem> {
    let c = cfg.shape.get(1).copied().unwrap_or(1);
    (1usize..=2, 1usize..=6, 1usize..=6).prop_flat_map(move |(n, h, w)| {
        let cfg = cfg.clone();
        let len = n * c * h * w;
        let pixels = n * h * w;
        let value = if cfg.probabilities {
            prop_oneof![4 => 0.0f32..=1.0, 1 => prop::sample::select(vec![0.0f32, 1.0, 1e-30, 1.0 - 6e-8])].boxed()
        } else {
            super::logit().boxed()
        };
        let preds = prop::collection::vec(value, len);
        let tgt = target_strategy(&cfg, n, c, h, w);
        let wlen = match cfg.weight {
            WeightKind::None => 0,
            WeightKind::PerPixel => pixels,
            WeightKind::PerElement => {
                if cfg.mode == Mode::Multiclass && !cfg.soft_targets {
                    pixels
                } else {
                    len
                }
            }
        };
        (preds, tgt, weights(wlen)).prop_map(move |(p, t, wv)| {
            let shape = [n, c, h, w];
            let pred = ArrayD::from_shape_vec(IxDyn(&shape), p).expect("shape");
            let weight = match cfg.weight {
                WeightKind::None => None,
                WeightKind::PerPixel => Some(ArrayD::from_shape_vec(IxDyn(&[n, h, w]), wv).expect("shape")),
                WeightKind::PerElement => {
                    let ts = t.shape().to_vec();
                    Some(ArrayD::from_shape_vec(IxDyn(&ts), wv).expect("shape"))
                }
            };
            Problem { pred, target: t, weight, probabilities: cfg.probabilities }
        })
    })
}

fn target_strategy(cfg: &ProblemConfig, n: usize, c: usize, h: usize, w: usize) -> BoxedStrategy<OwnedTarget> {
    let s = h * w;
    match cfg.mode {
        Mode::Multiclass if cfg.soft_targets => class_probabilities(n, c, s)
            .prop_map(move |t| OwnedTarget::F32(ArrayD::from_shape_vec(IxDyn(&[n, c, h, w]), t).expect("shape")))
            .boxed(),
        Mode::Multiclass => {
            let all_ignored = cfg.ignore_index.map(|i| vec![i; n * s]);
            let base = labels(n * s, c, cfg.ignore_index).boxed();
            let pick = match all_ignored {
                Some(v) => prop_oneof![6 => base, 1 => Just(v)].boxed(),
                None => base,
            };
            pick.prop_map(move |l| OwnedTarget::I64(ArrayD::from_shape_vec(IxDyn(&[n, h, w]), l).expect("shape"))).boxed()
        }
        _ => {
            let len = n * c * s;
            let base = if cfg.soft_targets { super::soft_labels(len).boxed() } else { super::mask(len).boxed() };
            let pick = match cfg.ignore_index {
                Some(i) => {
                    let iv = i as f32;
                    prop_oneof![
                        5 => base,
                        1 => Just(vec![iv; len]),
                        1 => (super::mask(len), prop::collection::vec(prop::bool::weighted(0.3), len))
                            .prop_map(move |(m, ig)| m.into_iter().zip(ig).map(|(v, g)| if g { iv } else { v }).collect()),
                    ]
                    .boxed()
                }
                None => base,
            };
            pick.prop_map(move |t| OwnedTarget::F32(ArrayD::from_shape_vec(IxDyn(&[n, c, h, w]), t).expect("shape"))).boxed()
        }
    }
}

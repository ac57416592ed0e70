//! Shared test support: random problems (pred, targets) in every mode and random configs.
//!
//! The targets come from the property-test kit's generators (`segloss_core::testing`: masks, soft
//! labels, labels with the ignore value, class probabilities); [`Problem`] keeps them as flat
//! vectors because the f64 reference (`segloss_overlap::reference`) reads flat slices, and
//! [`Problem::from_kit`] brings the kit's edge problems (`testing::problems`) to it.
#![allow(dead_code)]

use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use segloss_core::testing;
use segloss_core::{Batch, Loss, LossConfig, Mode, OwnedTarget};
use segloss_overlap::reference::{self, RefTarget};
use segloss_overlap::*;

/// The ignore value used by the generated problems.
pub const IGNORE: i64 = 255;

/// Targets of a problem.
#[derive(Debug, Clone)]
pub enum Tgt {
    /// Binary / multilabel floats (pred's shape).
    Dense(Vec<f32>),
    /// Multiclass labels `[N, *S]`.
    Labels(Vec<i64>),
    /// Multiclass class probabilities (pred's shape).
    Probs(Vec<f32>),
}

/// A problem: `pred` values, its shape, the targets and whether the ignore value occurs.
#[derive(Debug, Clone)]
pub struct Problem {
    pub shape: Vec<usize>,
    pub x: Vec<f32>,
    pub t: Tgt,
    pub ignore: bool,
}

/// Owned arrays of a problem, to build batches from.
pub struct Arrays {
    pub pred: ArrayD<f32>,
    pub dense: Option<ArrayD<f32>>,
    pub labels: Option<ArrayD<i64>>,
}

impl Problem {
    pub fn arrays(&self) -> Arrays {
        let pred = ArrayD::from_shape_vec(IxDyn(&self.shape), self.x.clone()).unwrap();
        let mut pix = vec![self.shape[0]];
        pix.extend(&self.shape[2..]);
        match &self.t {
            Tgt::Dense(v) | Tgt::Probs(v) => {
                Arrays { pred, dense: Some(ArrayD::from_shape_vec(IxDyn(&self.shape), v.clone()).unwrap()), labels: None }
            }
            Tgt::Labels(l) => Arrays { pred, dense: None, labels: Some(ArrayD::from_shape_vec(IxDyn(&pix), l.clone()).unwrap()) },
        }
    }

    /// A problem of the kit (`testing::kit::problems`, `Problem::generate`) in `mode` as flat
    /// vectors for the f64 reference: a multiclass float target is class probabilities; `ignore`
    /// says whether the kit drew it with `ignore_index = IGNORE`. Its `weight` is dropped (the
    /// overlap family takes none).
    pub fn from_kit(k: &testing::kit::Problem, mode: Mode, ignore: bool) -> Problem {
        let shape = k.pred.shape().to_vec();
        let x = k.pred.iter().copied().collect();
        let t = match &k.target {
            OwnedTarget::F32(a) if mode == Mode::Multiclass => Tgt::Probs(a.iter().copied().collect()),
            OwnedTarget::F32(a) => Tgt::Dense(a.iter().copied().collect()),
            OwnedTarget::I64(a) => Tgt::Labels(a.iter().copied().collect()),
            OwnedTarget::I32(a) => Tgt::Labels(a.iter().map(|&v| v as i64).collect()),
            OwnedTarget::U8(a) => Tgt::Labels(a.iter().map(|&v| v as i64).collect()),
        };
        Problem { shape, x, t, ignore }
    }

    pub fn mode(&self) -> Mode {
        match (&self.t, self.shape[1]) {
            (Tgt::Dense(_), 1) => Mode::Binary,
            (Tgt::Dense(_), _) => Mode::Multilabel,
            _ => Mode::Multiclass,
        }
    }

    pub fn classes(&self) -> usize {
        self.shape[1]
    }

    /// The probabilities of `x` in f64: the sigmoid (binary, multilabel) or the softmax over the
    /// channels (multiclass) of logits, or `x` itself.
    pub fn probabilities(&self, from_logits: bool) -> Vec<f64> {
        let x: Vec<f64> = self.x.iter().map(|&v| v as f64).collect();
        if !from_logits {
            return x;
        }
        if self.mode() != Mode::Multiclass {
            return x.iter().map(|v| 1.0 / (1.0 + (-v).exp())).collect();
        }
        let (n, c) = (self.shape[0], self.classes());
        let s = x.len() / (n * c);
        let mut out = vec![0.0; x.len()];
        for i in 0..n {
            for j in 0..s {
                let at = |k: usize| (i * c + k) * s + j;
                let m = (0..c).map(|k| x[at(k)]).fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = (0..c).map(|k| (x[at(k)] - m).exp()).sum();
                (0..c).for_each(|k| out[at(k)] = (x[at(k)] - m).exp() / z);
            }
        }
        out
    }

    /// The smallest `|p - g|` over the counted elements: how far the problem lies from a kink of
    /// the soft-label intersection `(P + G - sum |p - g|)/2`, which a central difference must not
    /// straddle.
    pub fn distance_to_kink(&self, from_logits: bool) -> f64 {
        let p = self.probabilities(from_logits);
        let (c, s) = (self.classes(), self.x.len() / (self.shape[0] * self.classes()));
        let g_of = |e: usize| -> Option<f64> {
            match &self.t {
                Tgt::Dense(y) => (y[e] != IGNORE as f32).then_some(y[e] as f64),
                Tgt::Probs(y) => Some(y[e] as f64),
                Tgt::Labels(l) => {
                    let (i, k, j) = (e / (c * s), (e / s) % c, e % s);
                    let lab = l[i * s + j];
                    (lab != IGNORE).then_some((lab == k as i64) as u8 as f64)
                }
            }
        };
        (0..p.len()).filter_map(|e| g_of(e).map(|g| (p[e] - g).abs())).fold(f64::INFINITY, f64::min)
    }

    /// The f64 reference value and gradient at `x` (f64 values of `pred`).
    pub fn reference(&self, loss: &dyn Loss, batch: &Batch<'_>, x: &[f64]) -> (f64, Vec<f64>) {
        let dense64: Vec<f64>;
        let t = match &self.t {
            Tgt::Dense(v) => {
                dense64 = v.iter().map(|&a| a as f64).collect();
                RefTarget::Dense(&dense64)
            }
            Tgt::Probs(v) => {
                dense64 = v.iter().map(|&a| a as f64).collect();
                RefTarget::Probs(&dense64)
            }
            Tgt::Labels(l) => RefTarget::Labels(l),
        };
        reference::eval(loss, batch, x, t).expect("reference evaluation")
    }
}

impl Arrays {
    pub fn batch(&self) -> Batch<'_> {
        match (&self.dense, &self.labels) {
            (Some(d), _) => Batch::new(&self.pred, d),
            (_, Some(l)) => Batch::new(&self.pred, l),
            _ => unreachable!(),
        }
    }
}

fn with_ignored(v: Vec<f32>, mask: Vec<bool>, on: bool) -> Vec<f32> {
    v.into_iter().zip(mask).map(|(a, m)| if on && m { IGNORE as f32 } else { a }).collect()
}

/// Random problems in every mode: `kinds` picks among 0 binary, 1 multilabel, 2 multiclass
/// labels, 3 multiclass probabilities; the ignore value appears only when `ignore` is drawn true.
pub fn problem(logits: BoxedStrategy<f32>, kinds: std::ops::Range<u8>) -> impl Strategy<Value = Problem> {
    (kinds, any::<bool>()).prop_flat_map(move |(kind, ignore)| {
        let c_range = match kind {
            0 => 1..=1,
            1 => 2..=4,
            _ => 2..=5,
        };
        let logits = logits.clone();
        testing::shape(c_range).prop_flat_map(move |shape| {
            let len: usize = shape.iter().product();
            let c = shape[1];
            let pix = len / c;
            let ignore = ignore && kind != 3;
            let x = prop::collection::vec(logits.clone(), len);
            let t: BoxedStrategy<Tgt> = match kind {
                0 | 1 => {
                    (prop_oneof![testing::mask(len), testing::soft_labels(len)], prop::collection::vec(prop::bool::weighted(0.2), len))
                        .prop_map(move |(v, m)| Tgt::Dense(with_ignored(v, m, ignore)))
                        .boxed()
                }
                2 => testing::kit::labels(pix, c, ignore.then_some(IGNORE)).prop_map(Tgt::Labels).boxed(),
                _ => testing::kit::class_probabilities(shape[0], c, len / shape[0] / c).prop_map(Tgt::Probs).boxed(),
            };
            (Just(shape), x, t, Just(ignore)).prop_map(|(shape, x, t, ignore)| Problem { shape, x, t, ignore })
        })
    })
}

/// A random configuration.
#[derive(Debug, Clone)]
pub struct Cfg {
    /// 0 dice, 1 tversky, 2 jaccard, 3 generalized_dice.
    pub kind: u8,
    pub batch: bool,
    pub squared: bool,
    pub log: bool,
    pub pixelwise: bool,
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
    pub weight_type: u8,
    pub present: bool,
    pub no_background: bool,
    pub weights: Option<Vec<f32>>,
    pub nr: f64,
    pub dr: f64,
    /// `soft_label=true` (not with the per-pixel Dice).
    pub soft_label: bool,
    /// `reduction=sum` (not with the per-pixel Dice).
    pub sum: bool,
    /// `ignore_mode=mask` with `ignore_index = 1` (multiclass labels only: see [`Cfg::ignore`]).
    pub mask: bool,
}

/// Random configurations; `log` only when `allow_log`; `nr <= dr` when `nr_le_dr`.
pub fn cfg(allow_log: bool, nr_le_dr: bool, gammas: Vec<f64>) -> impl Strategy<Value = Cfg> {
    (
        (0u8..4, any::<bool>(), any::<bool>(), any::<bool>(), prop::bool::weighted(0.15)),
        (0.0f64..1.5, 0.0f64..1.5, prop::sample::select(gammas), 0u8..3),
        (any::<bool>(), prop::bool::weighted(0.3), prop::option::weighted(0.4, prop::collection::vec(0.0f32..3.0, 5))),
        (prop::sample::select(vec![0.0, 1e-8, 1e-5, 0.1, 1.0]), prop::sample::select(vec![0.0, 1e-8, 1e-5, 0.1, 1.0])),
        (any::<bool>(), prop::bool::weighted(0.3), prop::bool::weighted(0.3)),
    )
        .prop_map(
            move |(
                (kind, batch, squared, log, pixelwise),
                (alpha, beta, gamma, weight_type),
                (present, no_bg, weights),
                (nr, dr),
                (soft_label, sum, mask),
            )| {
                let (nr, dr) = if nr_le_dr && nr > dr { (dr, nr) } else { (nr, dr) };
                let pixelwise = pixelwise && kind == 0;
                Cfg {
                    kind,
                    batch,
                    squared: squared && !pixelwise,
                    log: log && allow_log && !pixelwise,
                    pixelwise,
                    alpha,
                    beta,
                    gamma,
                    weight_type,
                    present,
                    no_background: no_bg,
                    weights,
                    nr,
                    dr,
                    soft_label: soft_label && !pixelwise,
                    sum: sum && !pixelwise,
                    mask,
                }
            },
        )
}

impl Cfg {
    /// Builds the loss for a problem with `c` channels.
    pub fn build(&self, p: &Problem, from_logits: bool) -> Box<dyn Loss> {
        let common = self.overlap_keys(p, from_logits);
        let mode = Some(p.mode());
        let reduce = if self.batch { Reduce::Batch } else { Reduce::Image };
        match self.kind {
            0 => DiceConfig { dice: self.dice_keys(), common, mode }.build_boxed(),
            1 => TverskyConfig { alpha: self.alpha, beta: self.beta, gamma: self.gamma, reduce, common, mode }.build_boxed(),
            2 => JaccardConfig { reduce, log: self.log, common, mode }.build_boxed(),
            _ => GeneralizedDiceConfig {
                weight_type: [WeightType::Square, WeightType::Simple, WeightType::Uniform][self.weight_type as usize],
                reduce,
                common,
                mode,
            }
            .build_boxed(),
        }
        .expect("valid config")
    }

    /// Whether, with `soft_label`, an element of `p` lies within `margin` of the kink `p = g` of
    /// `min(p, g)`: a central difference would straddle it, and two backends computing `p` a few
    /// ulps apart could take different sides of it (a different subgradient, both correct).
    pub fn near_kink(&self, p: &Problem, from_logits: bool, margin: f64) -> bool {
        self.soft_label && p.distance_to_kink(from_logits) <= margin
    }

    /// The ignore index and mode of this configuration for a problem: `mask` applies to
    /// multiclass labels without ignored pixels (class 1's pixels are then masked, its channel
    /// kept); otherwise the problem's ignore value, if any, in `class` mode.
    pub fn ignore(&self, p: &Problem) -> (Option<i64>, IgnoreMode) {
        if self.mask && !p.ignore && matches!(p.t, Tgt::Labels(_)) {
            (Some(1), IgnoreMode::Mask)
        } else {
            (p.ignore.then_some(IGNORE), IgnoreMode::Class)
        }
    }

    /// The shared keys of this configuration for a problem.
    pub fn overlap_keys(&self, p: &Problem, from_logits: bool) -> OverlapKeys {
        let c = p.classes();
        let (ignore_index, ignore_mode) = self.ignore(p);
        OverlapKeys {
            smooth_nr: self.nr,
            smooth_dr: self.dr,
            soft_label: self.soft_label,
            classes: if self.present { Classes::Present } else { Classes::All },
            include_background: !self.no_background,
            ignore_index,
            ignore_mode,
            class_weights: self.weights.as_ref().map(|w| w.iter().cycle().take(c).copied().collect()),
            reduction: if self.sum { Reduction::Sum } else { Reduction::Mean },
            from_logits,
            ..OverlapKeys::default()
        }
    }

    /// The `dice` keys of this configuration (whatever its kind).
    pub fn dice_keys(&self) -> DiceKeys {
        DiceKeys {
            reduce: if self.batch { Reduce::Batch } else { Reduce::Image },
            squared: self.squared,
            log: self.log,
            pixelwise: self.pixelwise,
        }
    }
}

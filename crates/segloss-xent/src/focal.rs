//! `focal`: the focal loss, binary/multilabel (sigmoid) and multiclass (softmax).

use crate::engine::{check_class_weights, ClassWeights, Engine, Kind};
use crate::keys::XentKeys;
use ndarray::ArrayD;
use segloss_core::declare::{checks, KeyValue, WeightUse};
use segloss_core::{Batch, Loss, LossError, Mode, Reduction, Result, Value};
use std::any::Any;

/// Focal's `alpha`: a number in `[0, 1]`, `none`, or (not given) the binary default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Alpha {
    /// Not given: 0.25 for binary and multilabel; nothing for multiclass.
    Default,
    /// A value in [0, 1]: `a = alpha`, `b = 1 - alpha`.
    Value(f32),
    /// `none`: `a = b = 1` (torchvision's `alpha = -1`).
    None,
}

impl Alpha {
    /// The alpha of binary and multilabel focal when none is given.
    pub const DEFAULT_BINARY: f32 = 0.25;

    /// The weights `(a, b)` of the positive and negative terms (binary and multilabel).
    pub fn weights(self) -> (f32, f32) {
        match self {
            Alpha::Default => (Self::DEFAULT_BINARY, 1.0 - Self::DEFAULT_BINARY),
            Alpha::Value(a) => (a, 1.0 - a),
            Alpha::None => (1.0, 1.0),
        }
    }
}

impl KeyValue for Alpha {
    fn from_value(key: &str, v: &Value) -> Result<Self> {
        match v {
            Value::Num(x) => Ok(Alpha::Value(*x as f32)),
            Value::Word(w) if w == "none" => Ok(Alpha::None),
            _ => Err(LossError::config(key, v, "expected a number in [0, 1] or none")),
        }
    }

    /// `Default` is never printed (only keys that differ from their default are); it reads as
    /// the number it stands for in binary mode.
    fn to_value(&self) -> Value {
        match self {
            Alpha::Default => Alpha::Value(Self::DEFAULT_BINARY).to_value(),
            Alpha::Value(a) => a.to_value(),
            Alpha::None => Value::Word("none".into()),
        }
    }

    fn default_text(&self) -> String {
        match self {
            Alpha::Default => format!("{} (binary, multilabel)", Alpha::Value(Self::DEFAULT_BINARY).to_value()),
            a => a.to_value().to_string(),
        }
    }
}

/// A given alpha lies in `[0, 1]`.
fn check_alpha(key: &str, a: &Alpha) -> Result<()> {
    match a {
        Alpha::Value(v) => checks::unit(key, v),
        _ => Ok(()),
    }
}

segloss_core::declare_loss! {
    /// `focal`: binary/multilabel `-w_c (a y (1-p)^gamma log p + b (1-y) p^gamma log(1-p))`
    /// (Lin et al. 2017; equal to torchvision `sigmoid_focal_loss` on labels in {0, 1}), and
    /// multiclass `-w_y (1-p_t)^gamma log p_t` over the softmax, averaged over the kept elements
    /// (binary, multilabel) or non-ignored pixels (multiclass; C times MONAI's
    /// `FocalLoss(use_softmax=True, to_onehot_y=True)`); see `docs/LOSSES.md`, section
    /// Cross-entropy.
    ///
    /// Binary and multilabel take `alpha` (`a = alpha`, `b = 1 - alpha`; `none`: both 1);
    /// multiclass rejects it and needs logits and integer labels; its `weight` input is one value
    /// per pixel, `[N, *S]` or `[N, 1, *S]`. Every mode takes `class_weights` (one per channel of
    /// `pred`: one value in binary mode), `include_background` and `ignore_index`:
    /// - `class_weights` multiply channel c's terms by `w_c` and leave the mean's divisor as it
    ///   is (MONAI's `weight`); in multiclass they reach the kernels divided by their largest
    ///   (in f64), in binary and multilabel each channel's kernel sum is multiplied by `w_c` in
    ///   f64;
    /// - `include_background=false` drops channel 0 from the terms and from the mean (binary and
    ///   multilabel: the mean is over N (C-1) S elements; multiclass: the softmax runs over
    ///   channels 1..C-1, as MONAI's, pixels labelled 0 have a zero term and still count in the
    ///   mean); with one channel it is ignored, as MONAI does;
    /// - `ignore_index`: multiclass, a label (inside [0, C) it ignores that class); binary and
    ///   multilabel, an element whose target equals it has a zero term and gradient and leaves
    ///   the mean (MONAI 1.6's single-channel `ignore_index`).
    ///
    /// Gradients stay finite for every `gamma >= 0`, including `0 < gamma < 1` at `p = 0` and
    /// `p = 1`: the `(1-p)^(gamma-1)` of the naive chain rule is folded into `(1-p)^gamma`.
    pub struct FocalConfig {
        name: "focal",
        family: "segloss-xent",
        modes: [Binary, Multilabel, Multiclass],
        weight: WeightUse::Optional,
        formula: "-w_c (a y (1-p)^gamma log p + b (1-y) p^gamma log(1-p)); multiclass -w_y (1-p_t)^gamma log p_t",
        anchor: "torchvision `sigmoid_focal_loss(alpha, gamma)` on labels in {0, 1}; MONAI `FocalLoss(weight, include_background, ignore_index)`; C x MONAI `FocalLoss(use_softmax=True, to_onehot_y=True)`",
        aliases: [],
        keys: {
            /// every mode: focusing parameter, >= 0
            gamma: f32 = 2.0, check checks::nonneg, examples [0.0, 0.5, 1.0];
            /// binary/multilabel: in [0, 1] or none (multiclass: an error)
            alpha: Alpha = Alpha::Default, check check_alpha;
            /// every mode: one weight w_c per channel of pred (binary: one), finite, >= 0, each 0 or >= 1e-30 x the largest; multiplies channel c's terms, the mean's divisor unchanged (none: all 1)
            class_weights: Option<Vec<f32>> = None, check check_class_weights, examples [Some(vec![0.5, 1.0, 2.0]), Some(vec![2.5])];
            /// every mode: false drops channel 0 from the terms and the mean (ignored with one channel; multiclass: softmax over channels 1..C-1)
            include_background: bool = true;
            /// every mode: targets equal to it leave the terms and the mean (multiclass: a label, inside [0, C) that class; binary/multilabel: an element's target)
            ignore_index: i64 = -100, examples [255];
            ..common: XentKeys;
        }
    }
}

impl FocalConfig {
    /// Validates and builds.
    pub fn build(&self) -> Result<Focal> {
        self.check_keys()?;
        let custom_ignore = self.ignore_index != FocalConfig::default().ignore_index;
        if self.mode == Some(Mode::Multiclass) && self.alpha != Alpha::Default {
            return Err(LossError::config("alpha", self.alpha.to_value(), "multiclass focal takes no alpha (use class_weights)"));
        }
        if self.mode == Some(Mode::Multiclass) && !self.common.from_logits {
            return Err(LossError::config("from_logits", false, "multiclass focal takes logits"));
        }
        if self.mode == Some(Mode::Binary) {
            if let Some(w) = self.class_weights.as_ref().filter(|w| w.len() != 1) {
                return Err(LossError::config(
                    "class_weights",
                    w.to_value(),
                    format!("has {} values for 1 channel (binary focal takes one class weight)", w.len()),
                ));
            }
        }
        let engine = Engine {
            name: FocalConfig::DECL.name,
            kind: Kind::Focal {
                gamma: self.gamma,
                alpha: self.alpha,
                class_weights: self.class_weights.as_deref().map(ClassWeights::new),
                include_background: self.include_background,
                ignore_index: self.ignore_index,
                custom_ignore,
            },
            from_logits: self.common.from_logits,
            smoothing: 0.0,
            reduction: self.common.reduction,
            mode: self.mode,
        };
        Ok(Focal { config: self.clone(), engine })
    }
}

/// A built `focal` ([`FocalConfig::build`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Focal {
    config: FocalConfig,
    engine: Engine,
}

impl Focal {
    /// The reduction.
    pub fn reduction(&self) -> Reduction {
        self.engine.reduction
    }

    /// The per-element loss map (`reduction=none`): `pred`'s shape for binary and multilabel (0
    /// at ignored elements and on a dropped channel 0), `[N, *S]` for multiclass (0 at ignored
    /// pixels, and at pixels labelled 0 with `include_background=false`). Computed with the
    /// scalar reference kernels.
    pub fn forward_map(&self, batch: &Batch<'_>) -> Result<ArrayD<f32>> {
        self.engine.forward_map(batch)
    }
}

impl Loss for Focal {
    fn name(&self) -> &'static str {
        FocalConfig::DECL.name
    }

    fn config(&self) -> Option<&dyn Any> {
        Some(&self.config)
    }

    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        self.engine.eval(batch, grad, upstream)
    }
}

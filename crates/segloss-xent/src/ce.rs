//! `ce`: softmax cross-entropy.

use crate::engine::{check_class_weights, ClassWeights, Engine, Kind};
use crate::keys::ReductionKey;
use ndarray::ArrayD;
use segloss_core::declare::{checks, WeightUse};
use segloss_core::{Batch, Loss, LossError, Mode, Reduction, Result};
use std::any::Any;

segloss_core::declare_loss! {
    /// `ce`: softmax cross-entropy over channels (torch `cross_entropy(weight, ignore_index,
    /// label_smoothing)`); see `docs/LOSSES.md`, section Cross-entropy.
    ///
    /// With `l_ic = -log softmax`,
    /// `[sum_i (1-s) w_yi l_iyi + (s/C) sum_i sum_c w_c l_ic] / sum_i w_yi` over non-ignored
    /// pixels. Float targets of `pred`'s shape are class probabilities (smoothed as
    /// `y (1-s) + s/C`), averaged over pixels. Where every pixel is ignored the loss is 0 with a
    /// zero gradient (torch gives NaN). The `weight` input is one value per pixel, `[N, *S]` or
    /// `[N, 1, *S]` (labels and class probabilities alike). The class weights reach the kernels
    /// divided by their largest, in f64: equal weights of any size give plain `ce` exactly.
    pub struct CeConfig {
        name: "ce",
        family: "segloss-xent",
        modes: [Multiclass],
        weight: WeightUse::Optional,
        formula: "[sum_i (1-s) w_yi l_iyi + (s/C) sum_ic w_c l_ic] / sum_i w_yi, l = -log softmax",
        anchor: "torch `cross_entropy(weight, ignore_index, label_smoothing)`",
        aliases: [],
        keys: {
            /// per-class weights w_c, finite, >= 0, each 0 or >= 1e-30 x the largest (none: all 1)
            class_weights: Option<Vec<f32>> = None, check check_class_weights;
            /// label to ignore (a value inside [0, C) ignores that class)
            ignore_index: i64 = -100;
            /// s in [0, 1]
            label_smoothing: f32 = 0.0, check checks::unit, examples [0.1, 1.0];
            ..common: ReductionKey;
        }
    }
}

impl CeConfig {
    /// Validates and builds.
    pub fn build(&self) -> Result<Ce> {
        if let Some(m) = self.mode.filter(|m| *m != Mode::Multiclass) {
            return Err(LossError::config("mode", m, "ce is multiclass (softmax over channels); use bce for binary or multilabel"));
        }
        self.check_keys()?;
        let engine = Engine {
            name: CeConfig::DECL.name,
            kind: Kind::Ce {
                class_weights: self.class_weights.as_deref().map(ClassWeights::new),
                ignore_index: self.ignore_index,
                custom_ignore: self.ignore_index != CeConfig::default().ignore_index,
            },
            from_logits: true,
            smoothing: self.label_smoothing,
            reduction: self.common.reduction,
            mode: Some(Mode::Multiclass),
        };
        Ok(Ce { config: self.clone(), engine })
    }
}

/// A built `ce` ([`CeConfig::build`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Ce {
    config: CeConfig,
    engine: Engine,
}

impl Ce {
    /// The reduction.
    pub fn reduction(&self) -> Reduction {
        self.engine.reduction
    }

    /// The per-pixel loss map (`reduction=none`), `[N, *S]`, 0 at ignored pixels. Computed with
    /// the scalar reference kernels.
    pub fn forward_map(&self, batch: &Batch<'_>) -> Result<ArrayD<f32>> {
        self.engine.forward_map(batch)
    }
}

impl Loss for Ce {
    fn name(&self) -> &'static str {
        CeConfig::DECL.name
    }

    fn config(&self) -> Option<&dyn Any> {
        Some(&self.config)
    }

    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        self.engine.eval(batch, grad, upstream)
    }
}

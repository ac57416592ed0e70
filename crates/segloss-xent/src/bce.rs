//! `bce`: binary cross-entropy.

use crate::engine::{Engine, Kind};
use crate::kernels::ElemKind;
use crate::keys::{check_pos_weight, XentKeys};
use ndarray::ArrayD;
use segloss_core::declare::{checks, WeightUse};
use segloss_core::{Batch, Loss, Reduction, Result};
use std::any::Any;

segloss_core::declare_loss! {
    /// `bce`: binary cross-entropy with logits (torch `binary_cross_entropy_with_logits(pos_weight=q)`),
    /// or with probabilities (Keras `binary_crossentropy`); see `docs/LOSSES.md`, section
    /// Cross-entropy.
    ///
    /// `l = -(q y log p + (1-y) log(1-p))`, computed as
    /// `(1-y) x + (1 + (q-1) y) (log1p(e^-|x|) + max(-x, 0))`; `dl/dx = (1-y) - (1 + (q-1) y)(1-p)`.
    /// Label smoothing: `y <- y (1-s) + s/2`.
    pub struct BceConfig {
        name: "bce",
        family: "segloss-xent",
        modes: [Binary, Multilabel],
        weight: WeightUse::Optional,
        formula: "-(q y log p + (1-y) log(1-p)), p = sigmoid(x), q = pos_weight",
        anchor: "torch `binary_cross_entropy_with_logits(pos_weight=q)`; Keras `binary_crossentropy(label_smoothing=s)`",
        aliases: [],
        keys: {
            /// weight q of the positive term, in [0, 1e12]
            pos_weight: f32 = 1.0, check check_pos_weight, examples [0.0, 3.0];
            /// s in [0, 1]: y <- y(1-s) + s/2
            label_smoothing: f32 = 0.0, check checks::unit, examples [0.1, 1.0];
            ..common: XentKeys;
        }
    }
}

impl BceConfig {
    /// Validates and builds.
    pub fn build(&self) -> Result<Bce> {
        self.check_keys()?;
        let engine = Engine {
            name: BceConfig::DECL.name,
            kind: Kind::Elem(ElemKind::Bce { q: self.pos_weight, factor: 1.0 }),
            from_logits: self.common.from_logits,
            smoothing: self.label_smoothing,
            reduction: self.common.reduction,
            mode: self.mode,
        };
        Ok(Bce { config: self.clone(), engine })
    }
}

/// A built `bce` ([`BceConfig::build`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Bce {
    config: BceConfig,
    engine: Engine,
}

impl Bce {
    /// The reduction.
    pub fn reduction(&self) -> Reduction {
        self.engine.reduction
    }

    /// The per-element loss map (`reduction=none`), `pred`'s shape. Computed with the scalar
    /// reference kernels.
    pub fn forward_map(&self, batch: &Batch<'_>) -> Result<ArrayD<f32>> {
        self.engine.forward_map(batch)
    }
}

impl Loss for Bce {
    fn name(&self) -> &'static str {
        BceConfig::DECL.name
    }

    fn config(&self) -> Option<&dyn Any> {
        Some(&self.config)
    }

    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        self.engine.eval(batch, grad, upstream)
    }
}

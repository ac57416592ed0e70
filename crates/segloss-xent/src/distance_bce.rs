//! `distance_bce`: cross-entropy weighted by a distance map.

use crate::engine::{Engine, Kind};
use crate::kernels::ElemKind;
use crate::keys::XentKeys;
use ndarray::ArrayD;
use segloss_core::declare::{checks, WeightUse};
use segloss_core::{Batch, Loss, Reduction, Result};
use std::any::Any;

segloss_core::declare_loss! {
    /// `distance_bce`: `(1-beta) wce` with per-pixel `q = beta/(1-beta) + exp(-d^2)`, where `d`
    /// is the `weight` input: the distance of each object pixel to the background (`edt(mask)`),
    /// so `q` rises toward object borders (the origin write-up, after Ronneberger et al. 2015);
    /// see `docs/LOSSES.md`, section Cross-entropy.
    pub struct DistanceBceConfig {
        name: "distance_bce",
        family: "segloss-xent",
        modes: [Binary, Multilabel],
        weight: WeightUse::Required,
        formula: "(1-beta) wce with q = beta/(1-beta) + exp(-d^2), d = the weight input",
        anchor: "the origin write-up",
        aliases: [],
        keys: {
            /// in (0, 1)
            beta: f32 = 0.5, check checks::open_unit, examples [0.2, 0.9];
            ..common: XentKeys;
        }
    }
}

impl DistanceBceConfig {
    /// Validates and builds.
    pub fn build(&self) -> Result<DistanceBce> {
        self.check_keys()?;
        let b = self.beta;
        let engine = Engine {
            name: DistanceBceConfig::DECL.name,
            kind: Kind::Elem(ElemKind::DistanceBce { q0: b / (1.0 - b), factor: 1.0 - b }),
            from_logits: self.common.from_logits,
            smoothing: 0.0,
            reduction: self.common.reduction,
            mode: self.mode,
        };
        Ok(DistanceBce { config: self.clone(), engine })
    }
}

/// A built `distance_bce` ([`DistanceBceConfig::build`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DistanceBce {
    config: DistanceBceConfig,
    engine: Engine,
}

impl DistanceBce {
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

impl Loss for DistanceBce {
    fn name(&self) -> &'static str {
        DistanceBceConfig::DECL.name
    }

    fn config(&self) -> Option<&dyn Any> {
        Some(&self.config)
    }

    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        self.engine.eval(batch, grad, upstream)
    }
}

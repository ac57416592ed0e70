//! `wce`: weighted cross-entropy.

use crate::engine::{Engine, Kind};
use crate::kernels::ElemKind;
use crate::keys::{check_beta, XentKeys};
use ndarray::ArrayD;
use segloss_core::declare::{Required, WeightUse};
use segloss_core::{Batch, Loss, Reduction, Result};
use std::any::Any;

segloss_core::declare_loss! {
    /// `wce`: weighted cross-entropy, `bce` with `q = beta` (TF
    /// `weighted_cross_entropy_with_logits`); see `docs/LOSSES.md`, section Cross-entropy.
    ///
    /// With probabilities the origin write-up turns the clipped `p` into the logit `log(p/(1-p))`
    /// first; the result is the same function as `bce`'s clipped-probability form, which is what
    /// runs. `beta` has no default: [`WceConfig::new`] gives it.
    pub struct WceConfig {
        name: "wce",
        family: "segloss-xent",
        modes: [Binary, Multilabel],
        weight: WeightUse::Optional,
        formula: "bce with q = beta",
        anchor: "TF `weighted_cross_entropy_with_logits(pos_weight=beta)`",
        aliases: [],
        keys: {
            /// positive weight q, in (0, 1e12]
            beta: Required<f32> = Required(None), check check_beta;
            ..common: XentKeys;
        }
    }
}

impl WceConfig {
    /// A config with the given beta and the other keys at their defaults.
    pub fn new(beta: f32) -> Self {
        WceConfig { beta: Required(Some(beta)), ..Default::default() }
    }

    /// Validates and builds.
    pub fn build(&self) -> Result<Wce> {
        self.check_keys()?;
        let q = self.beta.get().expect("checked: beta is given");
        let engine = Engine {
            name: WceConfig::DECL.name,
            kind: Kind::Elem(ElemKind::Bce { q, factor: 1.0 }),
            from_logits: self.common.from_logits,
            smoothing: 0.0,
            reduction: self.common.reduction,
            mode: self.mode,
        };
        Ok(Wce { config: self.clone(), engine })
    }
}

/// A built `wce` ([`WceConfig::build`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Wce {
    config: WceConfig,
    engine: Engine,
}

impl Wce {
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

impl Loss for Wce {
    fn name(&self) -> &'static str {
        WceConfig::DECL.name
    }

    fn config(&self) -> Option<&dyn Any> {
        Some(&self.config)
    }

    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        self.engine.eval(batch, grad, upstream)
    }
}

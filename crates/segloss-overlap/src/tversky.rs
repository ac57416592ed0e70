//! `tversky`: per (image, channel) pair `(1 - TI)^gamma` with
//! `TI = (I + nr)/(I + alpha FP + beta FN + dr)`, `FP = P - I`, `FN = G - I`, averaged over the
//! kept pairs (Salehi et al. 2017; the focal exponent of Abraham & Khan 2019 applied per pair).
//! See `docs/LOSSES.md`, section Overlap family.
//!
//! For `gamma < 1` the gradient at `TI = 1` is 0; for `gamma != 1` a pair with `TI > 1` (possible
//! when `nr > dr`) has loss 0.
//!
//! Keys: `alpha` (0.5, >= 0, weight of FP), `beta` (0.5, >= 0, weight of FN), `gamma` (1, > 0),
//! `reduce` (image; or batch), and the [`OverlapKeys`].
//!
//! Anchor (equal): MONAI `TverskyLoss(alpha, beta, smooth_nr, smooth_dr, batch, soft_label,
//! ignore_index, reduction)` with gamma = 1. The origin write-up's Tversky with its beta is
//! `tversky:alpha=beta,beta=1-beta`. segmentation_models_pytorch's `TverskyLoss(mode, smooth=s)`
//! is `tversky:reduce=batch,smooth=s,soft_label=true` for gamma = 1; it applies gamma after
//! averaging the pairs, ours per pair.

use crate::common::OverlapKeys;
use crate::engine::Engine;
use crate::pairs::Kind;
use segloss_core::declare::{checks, WeightUse};
use segloss_core::{Batch, Loss, Reduce, Result};

segloss_core::declare_loss! {
    /// `tversky`: `(1 - TI)^gamma` per pair, `TI = (I + nr)/(I + alpha FP + beta FN + dr)` (see
    /// the [module docs](self)).
    pub struct TverskyConfig {
        name: "tversky",
        family: "segloss-overlap",
        modes: [Binary, Multiclass, Multilabel],
        weight: WeightUse::None,
        formula: "(1 - TI)^gamma per pair, TI = (I + nr)/(I + alpha FP + beta FN + dr)",
        anchor: "MONAI `TverskyLoss(alpha, beta, smooth_nr, smooth_dr, batch)` with gamma = 1",
        aliases: [],
        keys: {
            /// weight of FP, >= 0
            alpha: f64 = 0.5, check checks::nonneg, examples [0.0, 0.7];
            /// weight of FN, >= 0
            beta: f64 = 0.5, check checks::nonneg, examples [0.0, 0.3];
            /// exponent applied per pair, > 0
            gamma: f64 = 1.0, check checks::positive, examples [0.5, 2.0];
            /// image: a pair per (image, channel); batch: a pair per channel over the batch
            reduce: Reduce = Reduce::Image;
            ..common: OverlapKeys;
        }
    }
}

impl TverskyConfig {
    /// Checks every key and builds the loss.
    pub fn build(&self) -> Result<Tversky> {
        self.check_keys()?;
        let kind = Kind::Tversky { alpha: self.alpha, beta: self.beta, gamma: self.gamma };
        Ok(Tversky { engine: Engine::new("tversky", kind, self.reduce, &self.common, self.mode)?, config: self.clone() })
    }
}

/// The built `tversky` loss (from [`TverskyConfig::build`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Tversky {
    config: TverskyConfig,
    pub(crate) engine: Engine,
}

impl Loss for Tversky {
    fn name(&self) -> &'static str {
        "tversky"
    }

    fn config(&self) -> Option<&dyn std::any::Any> {
        Some(&self.config)
    }

    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        self.engine.eval(batch, grad, upstream).map(|v| v as f32)
    }
}

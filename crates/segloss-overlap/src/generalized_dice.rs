//! `generalized_dice`: per image (or once over the batch with `reduce=batch`)
//! `1 - (2 sum_c w_c I_c + nr)/(sum_c w_c (P_c + G_c) + dr)` over the kept channels, with
//! `w_c = 1/G_c^2` (square), `1/G_c` (simple) or 1 (uniform); infinite weights are replaced by the
//! largest finite weight of the same image (batch), all 0 if none is finite; `class_weights`
//! multiply `w_c`. Averaged over the images with a kept channel (Sudre et al. 2017). See
//! `docs/LOSSES.md`, section Overlap family.
//!
//! Keys: `weight_type` (square; or simple, uniform), `reduce` (image; or batch), and the
//! [`OverlapKeys`].
//!
//! Anchor (equal): MONAI `GeneralizedDiceLoss(w_type, smooth_nr, smooth_dr, batch, soft_label,
//! reduction)` (with `soft_label` the weights still come from `G_c`; with `reduction=sum` the
//! images' losses are added up).

use crate::common::OverlapKeys;
use crate::engine::Engine;
use crate::pairs::Kind;
use segloss_core::declare::WeightUse;
use segloss_core::{Batch, Loss, Reduce, Result};

segloss_core::word_enum! {
    /// The class weights of `generalized_dice`: the `weight_type` key.
    pub enum WeightType {
        /// `w_c = 1 / G_c^2`.
        Square = "square",
        /// `w_c = 1 / G_c`.
        Simple = "simple",
        /// `w_c = 1`.
        Uniform = "uniform",
    }
}

segloss_core::declare_loss! {
    /// `generalized_dice`: `1 - (2 sum_c w_c I_c + nr)/(sum_c w_c (P_c + G_c) + dr)` per image
    /// (see the [module docs](self)).
    pub struct GeneralizedDiceConfig {
        name: "generalized_dice",
        family: "segloss-overlap",
        modes: [Binary, Multiclass, Multilabel],
        weight: WeightUse::None,
        formula: "1 - (2 sum_c w_c I_c + nr)/(sum_c w_c (P_c + G_c) + dr) per image, w_c = 1/G_c^2",
        anchor: "MONAI `GeneralizedDiceLoss(w_type, smooth_nr, smooth_dr, batch)`",
        aliases: [],
        keys: {
            /// square (1/G^2), simple (1/G) or uniform (1)
            weight_type: WeightType = WeightType::Square;
            /// image: one score per image; batch: one score over the batch
            reduce: Reduce = Reduce::Image;
            ..common: OverlapKeys;
        }
    }
}

impl GeneralizedDiceConfig {
    /// Checks every key and builds the loss.
    pub fn build(&self) -> Result<GeneralizedDice> {
        self.check_keys()?;
        let kind = Kind::GeneralizedDice { weight_type: self.weight_type };
        Ok(GeneralizedDice { engine: Engine::new("generalized_dice", kind, self.reduce, &self.common, self.mode)?, config: self.clone() })
    }
}

/// The built `generalized_dice` loss (from [`GeneralizedDiceConfig::build`]).
#[derive(Debug, Clone, PartialEq)]
pub struct GeneralizedDice {
    config: GeneralizedDiceConfig,
    pub(crate) engine: Engine,
}

impl Loss for GeneralizedDice {
    fn name(&self) -> &'static str {
        "generalized_dice"
    }

    fn config(&self) -> Option<&dyn std::any::Any> {
        Some(&self.config)
    }

    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        self.engine.eval(batch, grad, upstream).map(|v| v as f32)
    }
}

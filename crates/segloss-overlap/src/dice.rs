//! `dice`: per (image, channel) pair `1 - (2I + nr)/(P + G + dr)`, averaged over the kept pairs
//! (Milletari et al. 2016, V-Net; Sudre et al. 2017 for the soft form). See `docs/LOSSES.md`,
//! section Overlap family.
//!
//! Keys: `reduce` (image; or batch: one pair per channel over the batch), `squared` (false; true:
//! `P` and `G` become `sum p^2` and `sum g^2`), `log` (false; true: `-ln(max(score, eps))`),
//! `pixelwise` (false; true: the origin write-up's per-pixel `1 - (2pg + 1)/(p + g + 1)`, averaged
//! over the counted pixels of the kept pairs, weighted by `class_weights`; the smoothing keys do
//! not apply, and it has no `squared` or `log` form), and the [`OverlapKeys`].
//!
//! Anchors (equal): MONAI `DiceLoss(sigmoid|softmax, to_onehot_y, smooth_nr, smooth_dr, batch,
//! squared_pred, soft_label, ignore_index, reduction)` with `reduce=batch` for `batch=True` and
//! `ignore_mode=mask` for an `ignore_index` inside `[0, C)`; MONAI's `weight=w` is ours times
//! `sum(w)/C` (with `reduction=sum`, ours exactly); segmentation_models_pytorch
//! `DiceLoss(mode, smooth=s)` is `dice:reduce=batch,smooth=2s,soft_label=true` when every channel
//! is present. The origin write-up's per-image DL is `dice:smooth=0`, its per-pixel DL
//! `dice:pixelwise=true` (which takes neither `soft_label` nor `reduction=sum`).

use crate::common::OverlapKeys;
use crate::engine::Engine;
use crate::pairs::Kind;
use segloss_core::declare::WeightUse;
use segloss_core::{Batch, Loss, LossError, Reduce, Reduction, Result};

segloss_core::declare_keys! {
    /// The keys of `dice` besides the [`OverlapKeys`], shared with `log_cosh_dice`.
    pub struct DiceKeys {
        /// image: a pair per (image, channel); batch: a pair per channel over the batch
        reduce: Reduce = Reduce::Image;
        /// true: P and G become sum p^2 and sum g^2
        squared: bool = false;
        /// true: the loss is -ln(max(score, eps))
        log: bool = false;
        /// true: mean of the per-pixel 1 - (2pg+1)/(p+g+1) (no smoothing, squared or log)
        pixelwise: bool = false;
    }
}

impl DiceKeys {
    /// The pair formula these keys select.
    pub(crate) fn kind(&self) -> Kind {
        Kind::Dice { squared: self.squared, log: self.log, pixelwise: self.pixelwise }
    }

    /// The per-pixel Dice has no squared or log form.
    pub(crate) fn check_pixelwise(&self) -> Result<()> {
        if self.pixelwise && self.squared {
            return Err(LossError::config("pixelwise", "true", "the per-pixel Dice has no squared form (do not give squared=true)"));
        }
        if self.pixelwise && self.log {
            return Err(LossError::config(
                "pixelwise",
                "true",
                "the per-pixel Dice has no score to take the log of (do not give log=true)",
            ));
        }
        Ok(())
    }

    /// The per-pixel Dice has no intersection sum to take in soft-label form, and no pair losses
    /// to add up.
    fn check_pixelwise_common(&self, common: &OverlapKeys) -> Result<()> {
        if self.pixelwise && common.soft_label {
            return Err(LossError::config(
                "soft_label",
                "true",
                "the per-pixel Dice (pixelwise=true) has no intersection sum to take in soft-label form",
            ));
        }
        if self.pixelwise && common.reduction == Reduction::Sum {
            return Err(LossError::config(
                "reduction",
                "sum",
                "the per-pixel Dice (pixelwise=true) is a mean over pixels, with no pair losses to add up",
            ));
        }
        Ok(())
    }

    /// The engine of a loss named `name` running this Dice.
    pub(crate) fn engine(&self, name: &'static str, common: &OverlapKeys, mode: Option<segloss_core::Mode>) -> Result<Engine> {
        let engine = Engine::new(name, self.kind(), self.reduce, common, mode)?;
        self.check_pixelwise()?;
        self.check_pixelwise_common(common)?;
        Ok(engine)
    }
}

segloss_core::declare_loss! {
    /// `dice`: `1 - (2I + nr)/(P + G + dr)` per (image, channel) pair, weighted mean over the kept
    /// pairs (see the [module docs](self)).
    pub struct DiceConfig {
        name: "dice",
        family: "segloss-overlap",
        modes: [Binary, Multiclass, Multilabel],
        weight: WeightUse::None,
        formula: "1 - (2I + nr)/(P + G + dr) per pair, weighted mean over the kept pairs",
        anchor: "MONAI `DiceLoss(sigmoid|softmax, to_onehot_y, smooth_nr, smooth_dr, batch, squared_pred)`",
        aliases: [],
        keys: {
            ..dice: DiceKeys;
            ..common: OverlapKeys;
        }
    }
}

impl DiceConfig {
    /// Checks every key and builds the loss.
    pub fn build(&self) -> Result<Dice> {
        self.check_keys()?;
        Ok(Dice { engine: self.dice.engine("dice", &self.common, self.mode)?, config: self.clone() })
    }
}

/// The built `dice` loss (from [`DiceConfig::build`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Dice {
    config: DiceConfig,
    pub(crate) engine: Engine,
}

impl Loss for Dice {
    fn name(&self) -> &'static str {
        "dice"
    }

    fn config(&self) -> Option<&dyn std::any::Any> {
        Some(&self.config)
    }

    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        self.engine.eval(batch, grad, upstream).map(|v| v as f32)
    }
}

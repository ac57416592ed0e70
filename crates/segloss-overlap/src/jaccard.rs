//! `jaccard`: per (image, channel) pair `1 - (I + nr)/(P + G - I + dr)` (the soft IoU; Rahman &
//! Wang 2016), averaged over the kept pairs; with `log=true` the pair loss is
//! `-ln(max(score, eps))`. See `docs/LOSSES.md`, section Overlap family.
//!
//! Keys: `reduce` (image; or batch), `log` (false), and the [`OverlapKeys`].
//!
//! Anchor (equal): MONAI `DiceLoss(jaccard=True, smooth_nr=2 nr, smooth_dr=2 dr)` (MONAI doubles
//! TP), its other arguments as for `dice`; segmentation_models_pytorch `JaccardLoss(mode,
//! smooth=s)` is `jaccard:reduce=batch,smooth=s,soft_label=true` when every channel is present.

use crate::common::OverlapKeys;
use crate::engine::Engine;
use crate::pairs::Kind;
use segloss_core::declare::WeightUse;
use segloss_core::{Batch, Loss, Reduce, Result};

segloss_core::declare_loss! {
    /// `jaccard`: `1 - (I + nr)/(P + G - I + dr)` per pair (see the [module docs](self)).
    pub struct JaccardConfig {
        name: "jaccard",
        family: "segloss-overlap",
        modes: [Binary, Multiclass, Multilabel],
        weight: WeightUse::None,
        formula: "1 - (I + nr)/(P + G - I + dr) per pair, weighted mean over the kept pairs",
        anchor: "MONAI `DiceLoss(jaccard=True, smooth_nr=2 nr, smooth_dr=2 dr)`",
        aliases: [],
        keys: {
            /// image: a pair per (image, channel); batch: a pair per channel over the batch
            reduce: Reduce = Reduce::Image;
            /// true: the loss is -ln(max(score, eps))
            log: bool = false;
            ..common: OverlapKeys;
        }
    }
}

impl JaccardConfig {
    /// Checks every key and builds the loss.
    pub fn build(&self) -> Result<Jaccard> {
        self.check_keys()?;
        let engine = Engine::new("jaccard", Kind::Jaccard { log: self.log }, self.reduce, &self.common, self.mode)?;
        Ok(Jaccard { engine, config: self.clone() })
    }
}

/// The built `jaccard` loss (from [`JaccardConfig::build`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Jaccard {
    config: JaccardConfig,
    pub(crate) engine: Engine,
}

impl Loss for Jaccard {
    fn name(&self) -> &'static str {
        "jaccard"
    }

    fn config(&self) -> Option<&dyn std::any::Any> {
        Some(&self.config)
    }

    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        self.engine.eval(batch, grad, upstream).map(|v| v as f32)
    }
}

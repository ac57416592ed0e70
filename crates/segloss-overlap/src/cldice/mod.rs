//! `cldice`: the soft clDice loss of Shit et al. 2021 ("clDice - a Novel Topology-Preserving Loss
//! Function for Tubular Structure Segmentation"), as MONAI 1.6 computes it. See `docs/LOSSES.md`,
//! section clDice.
//!
//! With `P`, `G` the kept channels of the probabilities and of the target, `SP = skel(P)` and
//! `SG = skel(G)` (the soft skeletons, per (image, channel)):
//! `Tprec = (sum SP G + nr)/(sum SP + dr)`, `Tsens = (sum SG P + nr)/(sum SG + dr)`, the sums over
//! the kept channels and pixels of one image (`reduce=batch`: of the whole batch), and
//! `cl = 1 - 2 Tprec Tsens / (Tprec + Tsens + smooth_hm)`; the loss is the mean of `cl` over the
//! images (or the batch's one `cl`). Every denominator is clamped to `>= 1e-7`. The target's
//! skeleton is a constant for the gradient. 2 or 3 spatial axes.
//!
//! Keys: [`ClDiceKeys`]. Anchor (equal): MONAI 1.6 `SoftclDiceLoss(iter_, smooth_nr, smooth_dr,
//! smooth=smooth_hm, include_background, sigmoid|softmax, to_onehot_y=True)`.
//!
//! Evaluation, per call: the probabilities once; then in parallel per (image, channel) the two
//! skeletons and their four sums (the target's skeleton kept for the gradient); the ratios per
//! image; then, for the gradient, per (image, channel) the prediction's skeleton again with every
//! plane recorded and its reverse pass; last the activation's Jacobian. Every sum of a plane runs
//! in one task in a fixed order and planes are combined in channel then image order, so any thread
//! count gives the same bits. Buffers are kept in the loss and reused by the next call.

mod activation;
mod engine;

pub(crate) use engine::ClEngine;

use crate::common::resolve_smoothing;
use segloss_core::declare::{checks, KeyGroup, WeightUse};
use segloss_core::{Batch, Loss, Reduce, Result};

/// Every denominator is clamped to at least this.
pub(crate) const EPS: f64 = 1e-7;

segloss_core::declare_keys! {
    /// The keys of `cldice`, shared with `dice_cldice` (see `docs/LOSSES.md`, section clDice).
    pub struct ClDiceKeys {
        /// skeleton iterations, an integer >= 0
        iters: usize = 3, examples [0, 5];
        /// sets smooth_nr and smooth_dr, >= 0 (an error with either at another value)
        smooth: Option<f64> = None, check checks::opt_nonneg, examples [Some(0.0)];
        /// added to every numerator (Tprec, Tsens; dice_cldice's Dice score too), >= 0
        smooth_nr: f64 = 1.0, check checks::nonneg, examples [0.0];
        /// added to every denominator (Tprec, Tsens; dice_cldice's Dice score too), >= 0
        smooth_dr: f64 = 1.0, check checks::nonneg, examples [1e-5];
        /// added to the denominator of the harmonic mean, >= 0 (MONAI 1.6's `smooth`)
        smooth_hm: f64 = 1e-4, check checks::nonneg, examples [0.0];
        /// false drops channel 0 (multiclass and multilabel; no effect in binary)
        include_background: bool = true;
        /// image: Tprec and Tsens per image, then the mean; batch: over the whole batch
        reduce: Reduce = Reduce::Image;
        /// false: pred holds probabilities (softmax/sigmoid skipped), used unclipped
        from_logits: bool = true;
    }
}

impl ClDiceKeys {
    /// The smoothing `(nr, dr)` in use: `(s, s)` when `smooth = s` is given, else
    /// `(smooth_nr, smooth_dr)`; every key checked. `smooth` with a `smooth_nr` or `smooth_dr`
    /// that differs from its default is an error naming `smooth` (the overlap family's rule).
    pub fn smoothing(&self) -> Result<(f64, f64)> {
        self.check_keys()?;
        let d = ClDiceKeys::default();
        resolve_smoothing(self.smooth, (self.smooth_nr, self.smooth_dr), (d.smooth_nr, d.smooth_dr))
    }
}

segloss_core::declare_loss! {
    /// `cldice`: `1 - 2 Tprec Tsens / (Tprec + Tsens + smooth_hm)` on soft skeletons, per image
    /// (see the [module docs](self)).
    pub struct ClDiceConfig {
        name: "cldice",
        family: "segloss-overlap",
        modes: [Binary, Multiclass, Multilabel],
        weight: WeightUse::None,
        formula: "1 - 2 Tprec Tsens / (Tprec + Tsens + smooth_hm), Tprec = (sum skel(P) G + nr)/(sum skel(P) + dr), Tsens = (sum skel(G) P + nr)/(sum skel(G) + dr)",
        anchor: "MONAI 1.6 `SoftclDiceLoss(iter_, smooth_nr, smooth_dr, smooth=smooth_hm, include_background, sigmoid|softmax, to_onehot_y=True)`",
        aliases: [],
        keys: {
            ..cl: ClDiceKeys;
        }
    }
}

impl ClDiceConfig {
    /// Checks every key and builds the loss.
    pub fn build(&self) -> Result<ClDice> {
        self.check_keys()?;
        Ok(ClDice { engine: ClEngine::new("cldice", &self.cl, self.mode)?, config: self.clone() })
    }
}

/// The built `cldice` loss (from [`ClDiceConfig::build`]).
#[derive(Debug)]
pub struct ClDice {
    config: ClDiceConfig,
    pub(crate) engine: ClEngine,
}

impl Loss for ClDice {
    fn name(&self) -> &'static str {
        "cldice"
    }

    fn config(&self) -> Option<&dyn std::any::Any> {
        Some(&self.config)
    }

    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        self.engine.eval(batch, grad, upstream as f64, false).map(|v| v as f32)
    }
}

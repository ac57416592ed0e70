//! `hausdorff_dt`: the Hausdorff distance-transform loss of Karimi and Salcudean 2019 ("Reducing
//! the Hausdorff distance in medical image segmentation with convolutional neural networks"),
//! `mean (p - g)^2 (d_P^alpha + d_G^alpha)` over the pixels of the kept (image, channel) pairs.
//! See `docs/LOSSES.md`, section Distance-map losses.
//!
//! For each kept pair, `P = {p > 0.5}` (strict; with binary and multilabel logits `x > 0`; in
//! multiclass each channel's softmax probability is thresholded, not the argmax), `G = {g > 0.5}`;
//! `d_M = edt(M) + edt(not M)` with `spacing` (each pixel's distance to the other side), 0 when
//! `M` is empty or full. The maps are constants for the gradient (MONAI computes them under
//! `no_grad`): `dL/dp = 2 (p - g)(d_P^alpha + d_G^alpha) / (N |K| |S|)`, then the sigmoid or
//! softmax chain rule. The loss jumps where a probability crosses 0.5 (the map `d_P` changes) and
//! the jump has no gradient.
//!
//! Keys: `alpha` (2, > 0), `include_background` (`auto`: false in multiclass, true in multilabel;
//! binary keeps its channel), `spacing`, `from_logits`. 1 to 3 spatial axes.
//!
//! Anchor (equal): MONAI `HausdorffDTLoss(alpha, include_background, sigmoid|softmax,
//! to_onehot_y=True, reduction="mean")` at unit spacing.
//!
//! No ONNX export: `d_P` is the distance transform of the prediction at run time, which no ONNX
//! operator computes.

use crate::field::keys::{check_spacing, Channels, IncludeBackground, Spacing};
use crate::field::{Field, Kind};
use segloss_core::declare::{checks, WeightUse};
use segloss_core::{Batch, Loss, Result};

segloss_core::declare_loss! {
    /// `hausdorff_dt`: `mean (p - g)^2 (d_P^alpha + d_G^alpha)` (see the [module docs](self)).
    pub struct HausdorffDtConfig {
        name: "hausdorff_dt",
        family: "segloss-distance",
        modes: [Binary, Multiclass, Multilabel],
        weight: WeightUse::None,
        formula: "mean over kept pairs and pixels of (p - g)^2 (d_P^alpha + d_G^alpha), d_M = edt(M) + edt(not M), P = {p > 0.5}, G = {g > 0.5}",
        anchor: "MONAI `HausdorffDTLoss(alpha, include_background, sigmoid|softmax, to_onehot_y=True)`",
        aliases: [],
        keys: {
            /// exponent of the distance maps, > 0
            alpha: f64 = 2.0, check checks::positive, examples [1.0, 3.0];
            /// auto: false in multiclass, true in multilabel (binary keeps its channel); false drops channel 0
            include_background: IncludeBackground = IncludeBackground::default();
            /// pixel spacing: a number > 0 for every axis, or one per spatial axis of pred
            spacing: Spacing = Spacing::default(), check check_spacing, examples [Spacing::PerAxis(vec![0.5, 2.0])];
            /// false: pred holds probabilities (softmax/sigmoid skipped), used unclipped
            from_logits: bool = true;
        }
    }
}

impl HausdorffDtConfig {
    /// Checks every key and builds the loss.
    pub fn build(&self) -> Result<HausdorffDt> {
        self.check_keys()?;
        Ok(HausdorffDt {
            field: Field {
                name: "hausdorff_dt",
                kind: Kind::Hausdorff { alpha: self.alpha },
                include_background: self.include_background,
                classes: Channels::All,
                spacing: self.spacing.clone(),
                from_logits: self.from_logits,
                mode: self.mode,
            },
            config: self.clone(),
        })
    }
}

/// The built `hausdorff_dt` loss (from [`HausdorffDtConfig::build`]).
#[derive(Debug, Clone, PartialEq)]
pub struct HausdorffDt {
    config: HausdorffDtConfig,
    field: Field,
}

impl Loss for HausdorffDt {
    fn name(&self) -> &'static str {
        "hausdorff_dt"
    }

    fn config(&self) -> Option<&dyn std::any::Any> {
        Some(&self.config)
    }

    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        self.field.eval(batch, grad, upstream).map(|v| v as f32)
    }
}

//! `boundary`: the boundary loss of Kervadec et al. 2019 ("Boundary loss for highly unbalanced
//! segmentation"), `sum p phi / (N |K| |S|)` over the kept (image, channel) pairs, with `phi` the
//! signed distance map of the target. See `docs/LOSSES.md`, section Distance-map losses.
//!
//! For each kept pair, `G = {g > 0.5}`; `phi = edt(not G)` outside `G` (the distance to the
//! nearest pixel of `G`) and `1 - edt(G)` inside (1 minus the distance to the nearest pixel
//! outside), both with `spacing`, the 1 unscaled (one unit of distance, as Kervadec's code); `phi
//! = 0` when `G` is empty or fills the image (the pair still counts in `|K|`). The maps are
//! constants for the gradient: `dL/dp = phi / (N |K| |S|)`, then the sigmoid or softmax chain
//! rule.
//!
//! Keys: `include_background` (`auto`: false in multiclass, true in multilabel; binary always
//! keeps its channel), `classes` (`all`, or a list of channel indices that replaces
//! `include_background`), `spacing` (1; a number or one per spatial axis), `from_logits`.
//! Multiclass targets are labels (`G_c` = the pixels of class `c`) or class probabilities
//! (`G_c = {g_c > 0.5}`, this crate's extension). 1 to 3 spatial axes.
//!
//! Anchors (equal): MONAI `BoundaryLoss(sigmoid|softmax, to_onehot_y=True, include_background=b)`
//! at unit spacing; Kervadec's `SurfaceLoss(idc)` on `one_hot2dist(seg, resolution)` =
//! `boundary:classes=idc,spacing=resolution` except where a class fills an image.

use crate::field::keys::{check_channels, check_spacing, Channels, IncludeBackground, Spacing};
use crate::field::{Field, Kind};
use ndarray::{ArrayD, ArrayViewD, IxDyn, ShapeBuilder};
use segloss_core::declare::WeightUse;
use segloss_core::{Batch, Loss, LossError, Result, Target};

segloss_core::declare_loss! {
    /// `boundary`: `sum p phi / (N |K| |S|)`, `phi` the signed distance map of the target (see the
    /// [module docs](self)).
    pub struct BoundaryConfig {
        name: "boundary",
        family: "segloss-distance",
        modes: [Binary, Multiclass, Multilabel],
        weight: WeightUse::None,
        formula: "sum p phi / (N |K| |S|), phi = edt(not G) outside G and 1 - edt(G) inside (0 for an empty or full G)",
        anchor: "MONAI `BoundaryLoss(sigmoid|softmax, to_onehot_y=True, include_background=b)`; Kervadec `SurfaceLoss(idc)` on `one_hot2dist(seg, resolution)`",
        aliases: [],
        keys: {
            /// auto: false in multiclass, true in multilabel (binary keeps its channel); false drops channel 0
            include_background: IncludeBackground = IncludeBackground::default();
            /// all, or a list of channel indices such as [1,3] (replaces include_background)
            classes: Channels = Channels::All, check check_channels, examples [Channels::List(vec![0, 2])];
            /// pixel spacing: a number > 0 for every axis, or one per spatial axis of pred
            spacing: Spacing = Spacing::default(), check check_spacing, examples [Spacing::PerAxis(vec![0.5, 2.0])];
            /// false: pred holds probabilities (softmax/sigmoid skipped), used unclipped
            from_logits: bool = true;
        }
    }
}

impl BoundaryConfig {
    /// Checks every key and builds the loss.
    pub fn build(&self) -> Result<Boundary> {
        self.check_keys()?;
        if matches!(self.classes, Channels::List(_)) && self.include_background.0.is_some() {
            return Err(LossError::config(
                "classes",
                segloss_core::KeyValue::to_value(&self.classes),
                "a list of classes replaces include_background: do not give both",
            ));
        }
        Ok(Boundary {
            field: Field {
                name: "boundary",
                kind: Kind::Boundary,
                include_background: self.include_background,
                classes: self.classes.clone(),
                spacing: self.spacing.clone(),
                from_logits: self.from_logits,
                mode: self.mode,
            },
            config: self.clone(),
        })
    }
}

/// The built `boundary` loss (from [`BoundaryConfig::build`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Boundary {
    config: BoundaryConfig,
    field: Field,
}

impl Boundary {
    /// The maps `phi` this loss multiplies the probabilities with, `pred`'s shape (0 on the
    /// channels it does not keep), for `target` and a `pred` of shape `pred_shape`: see
    /// [`boundary_map`].
    pub fn map(&self, target: Target<'_>, pred_shape: &[usize]) -> Result<ArrayD<f32>> {
        // pred is read for its shape only: one zero, broadcast (all strides 0)
        static ZERO: [f32; 1] = [0.0];
        let strides = IxDyn(&vec![0; pred_shape.len()]);
        let pred = ArrayViewD::from_shape(IxDyn(pred_shape).strides(strides), &ZERO[..]).map_err(|e| LossError::InvalidShape {
            name: "pred",
            shape: pred_shape.to_vec(),
            reason: format!("not a valid shape: {e}"),
        })?;
        let batch = Batch { pred, target, weight: None, check_finite: false };
        let mut out = vec![0.0f32; pred_shape.iter().product()];
        self.field.boundary_maps(&batch, &mut out)?;
        ArrayD::from_shape_vec(IxDyn(pred_shape), out).map_err(|e| LossError::InvalidShape {
            name: "pred",
            shape: pred_shape.to_vec(),
            reason: format!("internal shape error: {e}"),
        })
    }
}

/// The distance maps `phi` of `boundary` with `config`, for `target` (labels or masks, as the
/// loss reads them) and a prediction of shape `pred_shape`: an array of `pred_shape` holding
/// `phi` on every channel the loss keeps and 0 on the others, so that the loss equals
/// `sum(p * map) / (N |K| |S|)`. The ONNX graph of `boundary` takes this array as its
/// `boundary_map` input; `segloss boundary-map` writes it.
///
/// Errors: those of the loss itself for this target and shape (mode, shapes, labels out of
/// range, `spacing` of the wrong length, `classes` outside `[0, C)`).
///
/// ```
/// use ndarray::{ArrayD, IxDyn};
/// use segloss_distance::{boundary_map, BoundaryConfig};
///
/// let mask = ArrayD::from_shape_vec(IxDyn(&[1, 1, 1, 5]), vec![0.0f32, 1.0, 1.0, 1.0, 0.0]).unwrap();
/// let phi = boundary_map((&mask).into(), &[1, 1, 1, 5], &BoundaryConfig::default()).unwrap();
/// assert_eq!(phi.iter().copied().collect::<Vec<_>>(), [1.0, 0.0, -1.0, 0.0, 1.0]);
/// ```
pub fn boundary_map(target: Target<'_>, pred_shape: &[usize], config: &BoundaryConfig) -> Result<ArrayD<f32>> {
    config.build()?.map(target, pred_shape)
}

impl Loss for Boundary {
    fn name(&self) -> &'static str {
        "boundary"
    }

    fn config(&self) -> Option<&dyn std::any::Any> {
        Some(&self.config)
    }

    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        self.field.eval(batch, grad, upstream).map(|v| v as f32)
    }
}

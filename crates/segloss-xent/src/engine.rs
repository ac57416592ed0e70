//! The machinery the six losses share: the checks of a batch against a loss (layout), the kernel
//! parameters, the softmax setup, the `reduction=none` map and the evaluation through the drivers.
//! Each loss file builds an [`Engine`] from its validated config and delegates to it.

use crate::driver::{self, Channels, SoftTargets};
use crate::focal::Alpha;
use crate::kernels::{self, ElemKind, ElemParams, SoftmaxParams};
use ndarray::{ArrayD, IxDyn};
use segloss_core::declare::KeyValue;
use segloss_core::error::unravel;
use segloss_core::input::{contiguous, DenseTarget};
use segloss_core::kernel::check_grad_len;
use segloss_core::{
    resolve, resolve_with_ignore, Backend, Batch, Layout, LossError, Mode, Reduction, Result, TargetLayout, Value, WeightLayout,
};

/// What a loss computes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// An elementwise (sigmoid) loss with fixed parameters.
    Elem(ElemKind),
    /// `balanced_ce:beta=auto`: beta from the batch.
    BalancedAuto,
    /// `focal`, elementwise or softmax depending on the mode.
    Focal {
        gamma: f32,
        alpha: Alpha,
        /// One per channel (every mode).
        class_weights: Option<ClassWeights>,
        /// `false`: channel 0 leaves the terms and the mean (with at least 2 channels).
        include_background: bool,
        /// Multiclass: a label; binary and multilabel: an element's target value.
        ignore_index: i64,
        /// `ignore_index` differs from its default.
        custom_ignore: bool,
    },
    /// `ce` (softmax).
    Ce {
        class_weights: Option<ClassWeights>,
        ignore_index: i64,
        /// `ignore_index` differs from its default.
        custom_ignore: bool,
    },
}

/// A validated loss of the family, ready to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Engine {
    pub name: &'static str,
    pub kind: Kind,
    pub from_logits: bool,
    /// Label smoothing (`bce`, `ce`).
    pub smoothing: f32,
    pub reduction: Reduction,
    pub mode: Option<Mode>,
}

fn class_weights_value(w: &[f32]) -> Value {
    w.to_vec().to_value()
}

/// The class weights of `ce` and `focal`: as given, and divided by their maximum (in f64) for the
/// softmax kernels, so that no common factor of the weights reaches the f32 arithmetic.
/// Every term is linear in the weights: the loss is `max` times the loss with the `unit` weights,
/// and in `ce`'s mean over labels (divided by the sum of the weights) the factor cancels, so
/// equal weights of any size give plain `ce` exactly.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ClassWeights {
    /// As given (for messages).
    pub given: Vec<f32>,
    /// `given / max`, in [0, 1] (the given weights when they are all 0).
    pub unit: Vec<f32>,
    /// The factor the losses with `unit` are multiplied by: the largest weight (1 when all are 0).
    pub max: f64,
}

impl ClassWeights {
    /// The smallest ratio of a nonzero class weight to the largest: below it the weights divided
    /// by their maximum would lose their f32 precision (f32 normals end near 1.2e-38).
    pub const MIN_RATIO: f64 = 1e-30;

    /// Splits validated weights (finite, >= 0) into their maximum and the weights divided by it.
    pub fn new(given: &[f32]) -> ClassWeights {
        let max = given.iter().fold(0.0f64, |m, &w| m.max(w as f64));
        if max == 0.0 {
            return ClassWeights { given: given.to_vec(), unit: given.to_vec(), max: 1.0 };
        }
        let unit = given.iter().map(|&w| (w as f64 / max) as f32).collect();
        ClassWeights { given: given.to_vec(), unit, max }
    }
}

/// `class_weights` of `ce` and `focal`: a non-empty list of finite values >= 0 whose nonzero
/// values are at least [`ClassWeights::MIN_RATIO`] times the largest.
pub(crate) fn check_class_weights(key: &str, w: &Option<Vec<f32>>) -> Result<()> {
    segloss_core::declare::checks::weights(key, w)?;
    let Some(w) = w else { return Ok(()) };
    let max = w.iter().fold(0.0f64, |m, &v| m.max(v as f64));
    if w.iter().any(|&v| v > 0.0 && (v as f64) < ClassWeights::MIN_RATIO * max) {
        return Err(LossError::config(
            key,
            class_weights_value(w),
            "each nonzero weight must be at least 1e-30 times the largest (the weights are divided by their maximum)",
        ));
    }
    Ok(())
}

/// What the softmax losses need besides the batch: the targets, the kernel parameters (with the
/// unit class weights), and how the kernels' sum becomes the loss.
pub(crate) struct SoftmaxSetup<'b> {
    pub targets: SoftTargets<'b>,
    /// The kernel parameters: over channels 1..C-1 when `skip_first`.
    pub params: SoftmaxParams<'b>,
    /// Multiclass `focal:include_background=false`: the softmax runs over channels 1..C-1, label
    /// 0 has no term (and still counts in the normalizer).
    pub skip_first: bool,
    /// The normalizer of `reduction=mean`, with the unit class weights where it holds them.
    pub norm: f64,
    /// The factor of the kernels' sum: the largest class weight (1 without class weights).
    pub max: f64,
    /// The normalizer is a sum of the (unit) class weights (`ce` with labels): `max` cancels in
    /// the mean.
    pub norm_weighted: bool,
}

impl SoftmaxSetup<'_> {
    /// `(div, k)`: the loss is `k * sum / div`, `sum` the kernels' (unit-weight) sum; `div` is 0
    /// when every pixel is ignored (or all their class weights are 0) in a mean.
    pub fn reduction(&self, reduction: Reduction) -> (f64, f64) {
        match reduction {
            Reduction::Mean if self.norm_weighted => (self.norm, 1.0),
            Reduction::Mean => (self.norm, self.max),
            _ => (1.0, self.max),
        }
    }
}

impl Engine {
    /// Resolves the layout and checks the batch suits this loss.
    pub fn layout(&self, batch: &Batch<'_>) -> Result<Layout> {
        if matches!(self.kind, Kind::Ce { .. }) && batch.pred.ndim() >= 2 && batch.pred.shape()[1] < 2 {
            return Err(LossError::unsupported(
                "ce",
                format!("needs C >= 2 channels on axis 1, pred has shape {:?}; use bce", batch.pred.shape()),
            ));
        }
        let layout = match &self.kind {
            // binary and multilabel integer targets may hold focal's ignore_index besides 0 and 1
            Kind::Focal { ignore_index, .. } => resolve_with_ignore(batch, self.mode, Some(*ignore_index))?,
            _ => resolve(batch, self.mode)?,
        };
        let multiclass = layout.mode == Mode::Multiclass;
        match (&self.kind, multiclass) {
            (Kind::Ce { .. }, false) => {
                return Err(LossError::unsupported(
                    "ce",
                    format!("needs C >= 2 channels with labels or class probabilities (mode {}); use bce", layout.mode),
                ))
            }
            (Kind::Elem(_) | Kind::BalancedAuto, true) => {
                return Err(LossError::unsupported(
                    self.name,
                    "is binary/multilabel (a sigmoid per element); for multiclass targets use ce or focal",
                ))
            }
            (Kind::Focal { alpha, .. }, m) => {
                if m && *alpha != Alpha::Default {
                    return Err(LossError::config("alpha", alpha.to_value(), "multiclass focal takes no alpha (use class_weights)"));
                }
                if m && layout.target != TargetLayout::Labels {
                    return Err(LossError::unsupported(
                        "focal",
                        "multiclass focal needs integer labels (class-probability targets are not supported)",
                    ));
                }
                if m && !self.from_logits {
                    return Err(LossError::config("from_logits", false, "multiclass focal takes logits"));
                }
            }
            _ => {}
        }
        if let (Kind::Elem(ElemKind::DistanceBce { .. }), None) = (&self.kind, &batch.weight) {
            return Err(LossError::unsupported("distance_bce", "needs the distance map d as the weight input"));
        }
        if let Kind::Ce { class_weights: Some(w), .. } = &self.kind {
            if w.given.len() != layout.c {
                return Err(LossError::config(
                    "class_weights",
                    class_weights_value(&w.given),
                    format!("has {} values for {} classes", w.given.len(), layout.c),
                ));
            }
        }
        if let Kind::Focal { class_weights: Some(w), include_background, .. } = &self.kind {
            if w.given.len() != layout.c {
                // MONAI takes C - 1 weights without the background; segloss one per channel
                let bg = if *include_background { "" } else { ", the background's included" };
                let ch = if layout.c == 1 { "channel" } else { "channels" };
                return Err(LossError::config(
                    "class_weights",
                    class_weights_value(&w.given),
                    format!("has {} values for {} {ch} of pred (one per channel{bg}; mode {})", w.given.len(), layout.c, layout.mode),
                ));
            }
        }
        if let Kind::Ce { ignore_index, custom_ignore: true, .. } = &self.kind {
            if layout.target == TargetLayout::Dense {
                return Err(LossError::config("ignore_index", ignore_index, "is not supported with class-probability targets"));
            }
        }
        Ok(layout)
    }

    fn elem_params(&self, batch: &Batch<'_>, layout: &Layout) -> ElemParams {
        let kind = match &self.kind {
            Kind::Elem(k) => *k,
            Kind::BalancedAuto => {
                let beta = (driver::sum_one_minus(batch, layout.len()) / layout.len() as f64) as f32;
                let beta = beta.clamp(segloss_core::PROB_EPS, 1.0 - segloss_core::PROB_EPS);
                ElemKind::Bce { q: beta / (1.0 - beta), factor: 1.0 - beta }
            }
            Kind::Focal { gamma, alpha, .. } => {
                let (a, b) = alpha.weights();
                ElemKind::Focal { gamma: *gamma, a, b }
            }
            Kind::Ce { .. } => unreachable!("ce is multiclass"),
        };
        ElemParams { kind, from_logits: self.from_logits, smoothing: self.smoothing }
    }

    fn softmax_setup<'b>(&'b self, batch: &'b Batch<'_>, layout: &Layout) -> Result<SoftmaxSetup<'b>> {
        let (cw, ignore, gamma, skip_first) = match &self.kind {
            Kind::Ce { class_weights, ignore_index, .. } => (class_weights, *ignore_index, None, false),
            Kind::Focal { gamma, class_weights, ignore_index, include_background, .. } => {
                (class_weights, *ignore_index, Some(*gamma), !include_background)
            }
            _ => unreachable!("softmax losses only"),
        };
        let (unit, max) = cw.as_ref().map_or((&[][..], 1.0), |w| (w.unit.as_slice(), w.max));
        let first = skip_first as usize;
        let unit = if unit.is_empty() { unit } else { &unit[first..] };
        let params = SoftmaxParams { classes: layout.c - first, class_weights: unit, smoothing: self.smoothing, focal_gamma: gamma };
        let ignore = Some(ignore);
        if layout.target == TargetLayout::Labels {
            let labels = batch.target.labels().expect("labels");
            labels.validate(layout.c, ignore, batch.target.shape())?;
            let norm = driver::label_normalizer(&labels, layout.c, ignore, params.class_weights, gamma.is_some());
            let targets = SoftTargets::Labels(labels, ignore);
            Ok(SoftmaxSetup { targets, params, skip_first, norm, max, norm_weighted: gamma.is_none() })
        } else {
            let probs = batch.target.floats().expect("float target");
            let norm = (layout.n * layout.s) as f64;
            Ok(SoftmaxSetup { targets: SoftTargets::Probs(probs), params, skip_first, norm, max, norm_weighted: false })
        }
    }

    /// The per-element loss map (`reduction=none`): `pred`'s shape for binary and multilabel,
    /// `[N, *S]` for multiclass (0 at ignored pixels). Computed with the scalar reference kernels.
    pub fn forward_map(&self, batch: &Batch<'_>) -> Result<ArrayD<f32>> {
        let layout = self.layout(batch)?;
        if layout.mode == Mode::Multiclass {
            let SoftmaxSetup { targets, params, skip_first, max, .. } = self.softmax_setup(batch, &layout)?;
            let z = contiguous(&batch.pred);
            let w = batch.weight.as_ref().map(contiguous);
            let (c, s) = (layout.c, layout.s);
            // the channels the softmax runs over: first..c (`include_background=false`: from 1)
            let first = skip_first as usize;
            let mut out = vec![0.0f32; layout.n * s];
            let mut zp = vec![0.0f32; c - first];
            let mut yp = vec![0.0f32; c];
            let mut gp = vec![0.0f32; c - first];
            for n in 0..layout.n {
                for j in 0..s {
                    for k in first..c {
                        zp[k - first] = z[(n * c + k) * s + j];
                    }
                    let (label, probs) = match &targets {
                        SoftTargets::Labels(l, ig) => {
                            let mut b = [0i32];
                            l.classes_into(n * s + j, &mut b, c, *ig);
                            // label `first - 1` (0 when skipping) and ignored labels have no term
                            ((b[0] >= first as i32).then(|| b[0] as usize - first), None)
                        }
                        SoftTargets::Probs(p) => {
                            for k in 0..c {
                                yp[k] = p[(n * c + k) * s + j];
                            }
                            (None, Some(yp.as_slice()))
                        }
                    };
                    let l = kernels::scalar::softmax_pixel(&zp, label, probs, &params, &mut gp);
                    // the weight is per pixel, [N, *S] or [N, 1, *S] (checked by `resolve`);
                    // l * w is exact in f64, so without class weights this is the f32 product
                    let wj = w.as_ref().map_or(1.0, |w| w[n * s + j]);
                    out[n * s + j] = (l as f64 * wj as f64 * max) as f32;
                }
            }
            return Ok(ArrayD::from_shape_vec(IxDyn(&layout.pixel_shape()), out).expect("shape"));
        }
        let params = self.elem_params(batch, &layout);
        let x = contiguous(&batch.pred);
        let y = DenseTarget::from_target(&batch.target);
        let w = batch.weight.as_ref().map(contiguous);
        let per_pixel = layout.weight == Some(WeightLayout::PerPixel) && layout.c > 1;
        let distance = matches!(params.kind, ElemKind::DistanceBce { .. });
        // focal: the channel factors and its ignore value (always applied here)
        let channels = self.channels(&layout, true);
        let mut out = vec![0.0f32; layout.len()];
        let mut yb = [0.0f32];
        for (i, o) in out.iter_mut().enumerate() {
            let yv = y.chunk(i, &mut yb)[0];
            let ignored = channels.as_ref().and_then(|c| c.ignore).is_some_and(|ig| yv == ig);
            if !ignored && !(0.0..=1.0).contains(&yv) {
                return Err(self.bad_target(batch, i, yv));
            }
            let factor = channels.as_ref().map_or(1.0, |c| c.factors[(i / layout.s) % layout.c]);
            if ignored || factor == 0.0 {
                continue;
            }
            let aux = w.as_ref().map(|w| if per_pixel { w[(i / layout.s / layout.c) * layout.s + i % layout.s] } else { w[i] });
            let l = kernels::scalar::element(x[i], yv, aux, distance, &params).0;
            // l * w_c in f64: without class weights (factor 1) the f32 term as it is
            *o = (l as f64 * factor) as f32;
        }
        Ok(ArrayD::from_shape_vec(IxDyn(batch.pred.shape()), out).expect("shape"))
    }

    fn bad_target(&self, batch: &Batch<'_>, i: usize, v: f32) -> LossError {
        let shape = batch.target.shape();
        let idx = if shape.iter().product::<usize>() == batch.pred.len() { unravel(i, shape) } else { unravel(i, batch.pred.shape()) };
        let expected = match &self.kind {
            Kind::Focal { ignore_index, .. } => format!("a float target in [0, 1] (or ignore_index {ignore_index}) for {}", self.name),
            _ => format!("a float target in [0, 1] for {}", self.name),
        };
        LossError::LabelOutOfRange { label: v.to_string(), index: idx, expected }
    }

    /// Binary and multilabel `focal`: how its channels enter the loss, or `None` where nothing
    /// changes the plain elementwise loss (every other loss; focal without class weights, with
    /// every channel kept, and `with_ignore` false). `with_ignore`: elements whose target equals
    /// `ignore_index` are masked (always when a non-default `ignore_index` is given).
    fn channels(&self, layout: &Layout, with_ignore: bool) -> Option<Channels> {
        let Kind::Focal { class_weights, include_background, ignore_index, custom_ignore, .. } = &self.kind else { return None };
        let skip_first = !include_background && layout.c > 1;
        let with_ignore = with_ignore || *custom_ignore;
        if class_weights.is_none() && !skip_first && !with_ignore {
            return None;
        }
        let mut factors: Vec<f64> = match class_weights {
            Some(w) => w.given.iter().map(|&v| v as f64).collect(),
            None => vec![1.0; layout.c],
        };
        if skip_first {
            factors[0] = 0.0;
        }
        Some(Channels { factors, skip_first, ignore: with_ignore.then_some(*ignore_index as f32) })
    }

    /// The elementwise evaluation of binary and multilabel `focal` with its channel setup.
    fn eval_channels(&self, batch: &Batch<'_>, layout: &Layout, ch: &Channels, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        let params = self.elem_params(batch, layout);
        let div = match self.reduction {
            Reduction::Mean if ch.ignore.is_some() => driver::count_kept(batch, layout, ch) as f64,
            Reduction::Mean => (layout.n * (layout.c - ch.skip_first as usize) * layout.s) as f64,
            _ => 1.0,
        };
        // every element ignored: 0 with a zero gradient (the pass still checks the targets)
        let k = if div == 0.0 { 0.0 } else { upstream as f64 / div };
        let mut grad = grad;
        let (sum, bad) = driver::elementwise_channels(batch, layout, &params, ch, k, grad.as_deref_mut(), Backend::current())?;
        if let Some(i) = bad {
            let mut b = [0.0f32];
            let v = DenseTarget::from_target(&batch.target).chunk(i, &mut b)[0];
            // the default ignore_index, not masked in this pass: again with it masked
            if let Some(ch) = self.channels(layout, true).filter(|c| ch.ignore.is_none() && c.ignore == Some(v)) {
                return self.eval_channels(batch, layout, &ch, grad, upstream);
            }
            return Err(self.bad_target(batch, i, v));
        }
        Ok(if div == 0.0 { 0.0 } else { (sum / div) as f32 })
    }

    /// The loss value (and `upstream * d loss / d pred` into `grad`), on the kernels of
    /// [`Backend::current`].
    pub fn eval(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        let layout = self.layout(batch)?;
        check_grad_len(&grad, layout.len(), batch)?;
        let backend = Backend::current();
        if layout.mode == Mode::Multiclass {
            let setup = self.softmax_setup(batch, &layout)?;
            let (div, k) = setup.reduction(self.reduction);
            if div == 0.0 {
                // every pixel ignored (or all their class weights 0): 0 with a zero gradient
                if let Some(g) = grad {
                    g.fill(0.0);
                }
                return Ok(0.0);
            }
            let scale = (upstream as f64 * k / div) as f32;
            let sum = driver::softmax(batch, &layout, &setup.targets, &setup.params, setup.skip_first, scale, grad, backend);
            return Ok((sum * k / div) as f32);
        }
        if let Some(ch) = self.channels(&layout, false) {
            return self.eval_channels(batch, &layout, &ch, grad, upstream);
        }
        let params = self.elem_params(batch, &layout);
        let div = match self.reduction {
            Reduction::Mean => layout.len() as f64,
            _ => 1.0,
        };
        let scale = (upstream as f64 / div) as f32;
        let distance = matches!(params.kind, ElemKind::DistanceBce { .. });
        let mut grad = grad;
        let (sum, bad) = driver::elementwise(batch, &layout, &params, distance, scale, grad.as_deref_mut(), backend)?;
        if let Some(i) = bad {
            let mut b = [0.0f32];
            let v = DenseTarget::from_target(&batch.target).chunk(i, &mut b)[0];
            // focal with the default ignore_index: the plain pass (no per-element test) found a
            // target equal to it, so the batch runs again with those elements masked
            if let Some(ch) = self.channels(&layout, true).filter(|c| c.ignore == Some(v)) {
                return self.eval_channels(batch, &layout, &ch, grad, upstream);
            }
            return Err(self.bad_target(batch, i, v));
        }
        Ok((sum / div) as f32)
    }
}

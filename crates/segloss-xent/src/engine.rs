//! The machinery the six losses share: the checks of a batch against a loss (layout), the kernel
//! parameters, the softmax setup, the `reduction=none` map and the evaluation through the drivers.
//! Each loss file builds an [`Engine`] from its validated config and delegates to it.

use crate::driver::{self, SoftTargets};
use crate::focal::Alpha;
use crate::kernels::{self, ElemKind, ElemParams, SoftmaxParams};
use ndarray::{ArrayD, IxDyn};
use segloss_core::declare::KeyValue;
use segloss_core::error::unravel;
use segloss_core::input::{contiguous, DenseTarget};
use segloss_core::kernel::check_grad_len;
use segloss_core::{resolve, Backend, Batch, Layout, LossError, Mode, Reduction, Result, TargetLayout, Value, WeightLayout};

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
        class_weights: Option<Vec<f32>>,
        ignore_index: i64,
        /// `ignore_index` differs from its default.
        custom_ignore: bool,
    },
    /// `ce` (softmax).
    Ce {
        class_weights: Option<Vec<f32>>,
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

impl Engine {
    /// Resolves the layout and checks the batch suits this loss.
    pub fn layout(&self, batch: &Batch<'_>) -> Result<Layout> {
        if matches!(self.kind, Kind::Ce { .. }) && batch.pred.ndim() >= 2 && batch.pred.shape()[1] < 2 {
            return Err(LossError::unsupported(
                "ce",
                format!("needs C >= 2 channels on axis 1, pred has shape {:?}; use bce", batch.pred.shape()),
            ));
        }
        let layout = resolve(batch, self.mode)?;
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
            (Kind::Focal { alpha, class_weights, custom_ignore, .. }, m) => {
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
                if !m && class_weights.is_some() {
                    return Err(LossError::unsupported("focal", "class_weights is only for multiclass focal"));
                }
                if !m && *custom_ignore {
                    return Err(LossError::unsupported("focal", "ignore_index is only for multiclass focal"));
                }
            }
            _ => {}
        }
        if let (Kind::Elem(ElemKind::DistanceBce { .. }), None) = (&self.kind, &batch.weight) {
            return Err(LossError::unsupported("distance_bce", "needs the distance map d as the weight input"));
        }
        if let Kind::Ce { class_weights: Some(w), .. } | Kind::Focal { class_weights: Some(w), .. } = &self.kind {
            if w.len() != layout.c {
                return Err(LossError::config(
                    "class_weights",
                    class_weights_value(w),
                    format!("has {} values for {} classes", w.len(), layout.c),
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

    fn softmax_setup<'b>(&'b self, batch: &'b Batch<'_>, layout: &Layout) -> Result<(SoftTargets<'b>, SoftmaxParams<'b>, f64)> {
        let (cw, ignore, gamma) = match &self.kind {
            Kind::Ce { class_weights, ignore_index, .. } => (class_weights, *ignore_index, None),
            Kind::Focal { gamma, class_weights, ignore_index, .. } => (class_weights, *ignore_index, Some(*gamma)),
            _ => unreachable!("softmax losses only"),
        };
        let params =
            SoftmaxParams { classes: layout.c, class_weights: cw.as_deref().unwrap_or(&[]), smoothing: self.smoothing, focal_gamma: gamma };
        let ignore = Some(ignore);
        if layout.target == TargetLayout::Labels {
            let labels = batch.target.labels().expect("labels");
            labels.validate(layout.c, ignore, batch.target.shape())?;
            let norm = driver::label_normalizer(&labels, layout.c, ignore, params.class_weights, gamma.is_some());
            Ok((SoftTargets::Labels(labels, ignore), params, norm))
        } else {
            let probs = batch.target.floats().expect("float target");
            Ok((SoftTargets::Probs(probs), params, (layout.n * layout.s) as f64))
        }
    }

    /// The per-element loss map (`reduction=none`): `pred`'s shape for binary and multilabel,
    /// `[N, *S]` for multiclass (0 at ignored pixels). Computed with the scalar reference kernels.
    pub fn forward_map(&self, batch: &Batch<'_>) -> Result<ArrayD<f32>> {
        let layout = self.layout(batch)?;
        if layout.mode == Mode::Multiclass {
            let (targets, params, _) = self.softmax_setup(batch, &layout)?;
            let z = contiguous(&batch.pred);
            let w = batch.weight.as_ref().map(contiguous);
            let (c, s) = (layout.c, layout.s);
            let mut out = vec![0.0f32; layout.n * s];
            let mut zp = vec![0.0f32; c];
            let mut yp = vec![0.0f32; c];
            let mut gp = vec![0.0f32; c];
            for n in 0..layout.n {
                for j in 0..s {
                    for k in 0..c {
                        zp[k] = z[(n * c + k) * s + j];
                    }
                    let (label, probs) = match &targets {
                        SoftTargets::Labels(l, ig) => {
                            let mut b = [0i32];
                            l.classes_into(n * s + j, &mut b, c, *ig);
                            ((b[0] >= 0).then_some(b[0] as usize), None)
                        }
                        SoftTargets::Probs(p) => {
                            for k in 0..c {
                                yp[k] = p[(n * c + k) * s + j];
                            }
                            (None, Some(yp.as_slice()))
                        }
                    };
                    let l = kernels::scalar::softmax_pixel(&zp, label, probs, &params, &mut gp);
                    out[n * s + j] = l * w.as_ref().map_or(1.0, |w| w[n * s + j]);
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
        let mut out = vec![0.0f32; layout.len()];
        let mut yb = [0.0f32];
        for (i, o) in out.iter_mut().enumerate() {
            let yv = y.chunk(i, &mut yb)[0];
            if !(0.0..=1.0).contains(&yv) {
                return Err(self.bad_target(batch, i, yv));
            }
            let aux = w.as_ref().map(|w| if per_pixel { w[(i / layout.s / layout.c) * layout.s + i % layout.s] } else { w[i] });
            *o = kernels::scalar::element(x[i], yv, aux, distance, &params).0;
        }
        Ok(ArrayD::from_shape_vec(IxDyn(batch.pred.shape()), out).expect("shape"))
    }

    fn bad_target(&self, batch: &Batch<'_>, i: usize, v: f32) -> LossError {
        let shape = batch.target.shape();
        let idx = if shape.iter().product::<usize>() == batch.pred.len() { unravel(i, shape) } else { unravel(i, batch.pred.shape()) };
        LossError::LabelOutOfRange { label: v.to_string(), index: idx, expected: format!("a float target in [0, 1] for {}", self.name) }
    }

    /// The loss value (and `upstream * d loss / d pred` into `grad`), on the kernels of
    /// [`Backend::current`].
    pub fn eval(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        let layout = self.layout(batch)?;
        check_grad_len(&grad, layout.len(), batch)?;
        let backend = Backend::current();
        if layout.mode == Mode::Multiclass {
            let (targets, params, norm) = self.softmax_setup(batch, &layout)?;
            let div = match self.reduction {
                Reduction::Mean => norm,
                _ => 1.0,
            };
            if div == 0.0 {
                // every pixel ignored (or all their class weights 0): 0 with a zero gradient
                if let Some(g) = grad {
                    g.fill(0.0);
                }
                return Ok(0.0);
            }
            let scale = (upstream as f64 / div) as f32;
            let sum = driver::softmax(batch, &layout, &targets, &params, scale, grad, backend);
            return Ok((sum / div) as f32);
        }
        let params = self.elem_params(batch, &layout);
        let div = match self.reduction {
            Reduction::Mean => layout.len() as f64,
            _ => 1.0,
        };
        let scale = (upstream as f64 / div) as f32;
        let distance = matches!(params.kind, ElemKind::DistanceBce { .. });
        let (sum, bad) = driver::elementwise(batch, &layout, &params, distance, scale, grad, backend)?;
        if let Some(i) = bad {
            let mut b = [0.0f32];
            let v = DenseTarget::from_target(&batch.target).chunk(i, &mut b)[0];
            return Err(self.bad_target(batch, i, v));
        }
        Ok((sum / div) as f32)
    }
}

//! # segloss-xent: the cross-entropy family
//!
//! `bce`, `wce`, `balanced_ce`, `focal` (binary, multilabel and multiclass), `distance_bce` and
//! `ce`, as defined in `LOSSES.md`: values and analytic gradients from SIMD kernels
//! ([`kernels::simd`]) checked against scalar references ([`kernels::scalar`]).
//!
//! Every loss is built from a config (`FocalConfig { gamma, .. }.build()?`), validated once, and
//! implements [`segloss_core::Loss`]. Conventions shared by the family:
//! - `x` is a logit, `y` the target, `p = sigmoid(x)`, `q` the positive weight;
//! - `reduction=mean` divides by the element count (binary, multilabel), by the number of
//!   non-ignored pixels (multiclass focal), by the sum of the class weights of the non-ignored
//!   pixels' labels (`ce`, as torch) or by the pixel count (`ce` with class-probability targets);
//!   a per-pixel `weight` multiplies each term and leaves every normalizer as it is;
//! - `from_logits=false`: probabilities are clipped to `[1e-7, 1 - 1e-7]` (Keras' epsilon) and the
//!   gradient is 0 where `p` lies outside that interval;
//! - where every pixel is ignored the loss is 0 with a zero gradient (torch gives NaN);
//! - binary and multilabel float targets must lie in `[0, 1]` (soft labels allowed): a value
//!   outside is a [`LossError::LabelOutOfRange`], never clamped.
#![warn(missing_docs)]

pub mod driver;
pub mod kernels;

use driver::{Backend, SoftTargets};
use kernels::{ElemKind, ElemParams, SoftmaxParams};
use ndarray::{ArrayD, IxDyn};
use segloss_core::error::unravel;
use segloss_core::input::contiguous;
use segloss_core::params::{check, KeyInfo, LossInfo, Params, Value};
use segloss_core::{resolve, Batch, Layout, Loss, LossError, Mode, Reduction, Result, TargetLayout};

/// torch's default `ignore_index`.
pub const DEFAULT_IGNORE_INDEX: i64 = -100;

/// `balanced_ce`'s beta.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Beta {
    /// A fixed beta in (0, 1).
    Fixed(f32),
    /// `sum(1 - y) / count` over the whole batch (HED), clamped to `[eps, 1 - eps]`.
    Auto,
}

/// Focal's alpha.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Alpha {
    /// 0.25 for binary and multilabel; nothing for multiclass.
    Default,
    /// A value in [0, 1]: `a = alpha`, `b = 1 - alpha`.
    Value(f32),
    /// `none`: `a = b = 1` (torchvision's `alpha = -1`).
    None,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Elem(ElemKind),
    BalancedAuto,
    Focal { gamma: f32, alpha: Alpha, class_weights: Option<Vec<f32>>, ignore_index: Option<i64> },
    Ce { class_weights: Option<Vec<f32>>, ignore_index: Option<i64> },
}

/// A built loss of the cross-entropy family.
#[derive(Debug, Clone, PartialEq)]
pub struct XentLoss {
    name: &'static str,
    kind: Kind,
    from_logits: bool,
    smoothing: f32,
    reduction: Reduction,
    mode: Option<Mode>,
    backend: Backend,
}

fn check_common(reduction: Reduction, mode: Option<Mode>) -> Result<()> {
    let _ = (reduction, mode);
    Ok(())
}

fn check_unit(key: &str, x: f32) -> Result<f32> {
    check(key, x as f64, (0.0..=1.0).contains(&x), "must lie in [0, 1]").map(|_| x)
}

fn check_open_unit(key: &str, x: f32) -> Result<f32> {
    check(key, x as f64, x > 0.0 && x < 1.0, "must lie in the open interval (0, 1)").map(|_| x)
}

fn check_class_weights(w: &Option<Vec<f32>>) -> Result<()> {
    if let Some(w) = w {
        if w.is_empty() || w.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
            let txt = Value::List(w.iter().map(|v| *v as f64).collect()).to_string();
            return Err(LossError::config("class_weights", txt, "must be a non-empty list of finite values >= 0"));
        }
    }
    Ok(())
}

/// `bce`: binary cross-entropy with logits (torch `binary_cross_entropy_with_logits(pos_weight=q)`),
/// or with probabilities (Keras `binary_crossentropy`).
///
/// `l = -(q y log p + (1-y) log(1-p))`, computed as
/// `(1-y) x + (1 + (q-1) y) (log1p(e^-|x|) + max(-x, 0))`; `dl/dx = (1-y) - (1 + (q-1) y)(1-p)`.
/// Label smoothing: `y <- y (1-s) + s/2`.
#[derive(Debug, Clone, PartialEq)]
pub struct BceConfig {
    /// `pos_weight` (1).
    pub pos_weight: f32,
    /// `label_smoothing` (0).
    pub label_smoothing: f32,
    /// `from_logits` (true).
    pub from_logits: bool,
    /// `reduction` (mean).
    pub reduction: Reduction,
    /// `mode` (inferred).
    pub mode: Option<Mode>,
}

impl Default for BceConfig {
    fn default() -> Self {
        BceConfig { pos_weight: 1.0, label_smoothing: 0.0, from_logits: true, reduction: Reduction::Mean, mode: None }
    }
}

impl BceConfig {
    /// Validates and builds.
    pub fn build(&self) -> Result<XentLoss> {
        check("pos_weight", self.pos_weight as f64, self.pos_weight.is_finite() && self.pos_weight >= 0.0, "must be finite and >= 0")?;
        check_unit("label_smoothing", self.label_smoothing)?;
        check_common(self.reduction, self.mode)?;
        Ok(XentLoss::elem(
            "bce",
            ElemKind::Bce { q: self.pos_weight, factor: 1.0 },
            self.from_logits,
            self.label_smoothing,
            self.reduction,
            self.mode,
        ))
    }
}

/// `wce`: weighted cross-entropy, `bce` with `q = beta` (TF `weighted_cross_entropy_with_logits`).
/// With probabilities the origin write-up turns the clipped `p` into the logit `log(p/(1-p))`
/// first; the result is the same function as `bce`'s clipped-probability form, which is what runs.
#[derive(Debug, Clone, PartialEq)]
pub struct WceConfig {
    /// `beta` (required, > 0).
    pub beta: f32,
    /// `from_logits` (true).
    pub from_logits: bool,
    /// `reduction` (mean).
    pub reduction: Reduction,
    /// `mode` (inferred).
    pub mode: Option<Mode>,
}

impl WceConfig {
    /// A config with the given beta and the other keys at their defaults.
    pub fn new(beta: f32) -> Self {
        WceConfig { beta, from_logits: true, reduction: Reduction::Mean, mode: None }
    }

    /// Validates and builds.
    pub fn build(&self) -> Result<XentLoss> {
        check("beta", self.beta as f64, self.beta.is_finite() && self.beta > 0.0, "must be finite and > 0")?;
        Ok(XentLoss::elem("wce", ElemKind::Bce { q: self.beta, factor: 1.0 }, self.from_logits, 0.0, self.reduction, self.mode))
    }
}

/// `balanced_ce`: `-(beta y log p + (1-beta)(1-y) log(1-p))` = `(1-beta) wce(q = beta/(1-beta))`
/// (the origin write-up); `beta=auto` is HED's `sum(1-y)/count` over the batch, a constant for
/// the gradient, clamped to `[1e-7, 1 - 1e-7]`.
#[derive(Debug, Clone, PartialEq)]
pub struct BalancedCeConfig {
    /// `beta` (0.5).
    pub beta: Beta,
    /// `from_logits` (true).
    pub from_logits: bool,
    /// `reduction` (mean).
    pub reduction: Reduction,
    /// `mode` (inferred).
    pub mode: Option<Mode>,
}

impl Default for BalancedCeConfig {
    fn default() -> Self {
        BalancedCeConfig { beta: Beta::Fixed(0.5), from_logits: true, reduction: Reduction::Mean, mode: None }
    }
}

impl BalancedCeConfig {
    /// Validates and builds.
    pub fn build(&self) -> Result<XentLoss> {
        let kind = match self.beta {
            Beta::Fixed(b) => {
                check_open_unit("beta", b)?;
                Kind::Elem(ElemKind::Bce { q: b / (1.0 - b), factor: 1.0 - b })
            }
            Beta::Auto => Kind::BalancedAuto,
        };
        Ok(XentLoss {
            name: "balanced_ce",
            kind,
            from_logits: self.from_logits,
            smoothing: 0.0,
            reduction: self.reduction,
            mode: self.mode,
            backend: Backend::Simd,
        })
    }
}

/// `focal`: binary/multilabel `-(a y (1-p)^gamma log p + b (1-y) p^gamma log(1-p))`
/// (Lin et al. 2017; equal to torchvision `sigmoid_focal_loss` on labels in {0, 1}), and
/// multiclass `-w_y (1-p_t)^gamma log p_t` over the softmax, averaged over non-ignored pixels
/// (C times MONAI's `FocalLoss(use_softmax=True, to_onehot_y=True)`).
///
/// Gradients stay finite for every `gamma >= 0`, including `0 < gamma < 1` at `p = 0` and `p = 1`:
/// the `(1-p)^(gamma-1)` of the naive chain rule is folded into `(1-p)^gamma`.
#[derive(Debug, Clone, PartialEq)]
pub struct FocalConfig {
    /// `gamma` (2, >= 0).
    pub gamma: f32,
    /// `alpha` (0.25 for binary; not allowed for multiclass).
    pub alpha: Alpha,
    /// `class_weights` (multiclass; all 1).
    pub class_weights: Option<Vec<f32>>,
    /// `ignore_index` (multiclass; -100).
    pub ignore_index: Option<i64>,
    /// `from_logits` (true; binary and multilabel only).
    pub from_logits: bool,
    /// `reduction` (mean).
    pub reduction: Reduction,
    /// `mode` (inferred).
    pub mode: Option<Mode>,
}

impl Default for FocalConfig {
    fn default() -> Self {
        FocalConfig {
            gamma: 2.0,
            alpha: Alpha::Default,
            class_weights: None,
            ignore_index: None,
            from_logits: true,
            reduction: Reduction::Mean,
            mode: None,
        }
    }
}

impl FocalConfig {
    /// Validates and builds.
    pub fn build(&self) -> Result<XentLoss> {
        check("gamma", self.gamma as f64, self.gamma.is_finite() && self.gamma >= 0.0, "must be finite and >= 0")?;
        if let Alpha::Value(a) = self.alpha {
            check_unit("alpha", a)?;
        }
        check_class_weights(&self.class_weights)?;
        if self.mode == Some(Mode::Multiclass) {
            if let Alpha::Value(a) = self.alpha {
                return Err(LossError::config("alpha", a, "multiclass focal takes no alpha (use class_weights)"));
            }
            if self.alpha == Alpha::None {
                return Err(LossError::config("alpha", "none", "multiclass focal takes no alpha (use class_weights)"));
            }
        }
        if matches!(self.mode, Some(Mode::Binary | Mode::Multilabel)) {
            if let Some(w) = &self.class_weights {
                return Err(LossError::config(
                    "class_weights",
                    Value::List(w.iter().map(|v| *v as f64).collect()),
                    "only for multiclass focal",
                ));
            }
            if let Some(i) = self.ignore_index {
                return Err(LossError::config("ignore_index", i, "only for multiclass focal"));
            }
        }
        Ok(XentLoss {
            name: "focal",
            kind: Kind::Focal {
                gamma: self.gamma,
                alpha: self.alpha,
                class_weights: self.class_weights.clone(),
                ignore_index: self.ignore_index,
            },
            from_logits: self.from_logits,
            smoothing: 0.0,
            reduction: self.reduction,
            mode: self.mode,
            backend: Backend::Simd,
        })
    }
}

/// `distance_bce`: `(1-beta) wce` with per-pixel `q = beta/(1-beta) + exp(-d^2)`, where `d` is the
/// `weight` input: the distance of each object pixel to the background (`edt(mask)`), so `q`
/// rises toward object borders (the origin write-up, after Ronneberger et al. 2015).
#[derive(Debug, Clone, PartialEq)]
pub struct DistanceBceConfig {
    /// `beta` (0.5, in (0, 1)).
    pub beta: f32,
    /// `from_logits` (true).
    pub from_logits: bool,
    /// `reduction` (mean).
    pub reduction: Reduction,
    /// `mode` (inferred).
    pub mode: Option<Mode>,
}

impl Default for DistanceBceConfig {
    fn default() -> Self {
        DistanceBceConfig { beta: 0.5, from_logits: true, reduction: Reduction::Mean, mode: None }
    }
}

impl DistanceBceConfig {
    /// Validates and builds.
    pub fn build(&self) -> Result<XentLoss> {
        check_open_unit("beta", self.beta)?;
        let b = self.beta;
        Ok(XentLoss::elem(
            "distance_bce",
            ElemKind::DistanceBce { q0: b / (1.0 - b), factor: 1.0 - b },
            self.from_logits,
            0.0,
            self.reduction,
            self.mode,
        ))
    }
}

/// `ce`: softmax cross-entropy over channels (torch `cross_entropy(weight, ignore_index,
/// label_smoothing)`): with `l_ic = -log softmax`,
/// `[sum_i (1-s) w_yi l_iyi + (s/C) sum_i sum_c w_c l_ic] / sum_i w_yi` over non-ignored pixels.
/// Float targets of `pred`'s shape are class probabilities (smoothed as `y (1-s) + s/C`), averaged
/// over pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct CeConfig {
    /// `class_weights` (all 1).
    pub class_weights: Option<Vec<f32>>,
    /// `ignore_index` (-100); a value inside [0, C) ignores that class.
    pub ignore_index: Option<i64>,
    /// `label_smoothing` (0).
    pub label_smoothing: f32,
    /// `reduction` (mean).
    pub reduction: Reduction,
    /// `mode` (multiclass; the only one allowed).
    pub mode: Option<Mode>,
}

impl Default for CeConfig {
    fn default() -> Self {
        CeConfig { class_weights: None, ignore_index: None, label_smoothing: 0.0, reduction: Reduction::Mean, mode: None }
    }
}

impl CeConfig {
    /// Validates and builds.
    pub fn build(&self) -> Result<XentLoss> {
        check_class_weights(&self.class_weights)?;
        check_unit("label_smoothing", self.label_smoothing)?;
        if let Some(m) = self.mode.filter(|m| *m != Mode::Multiclass) {
            return Err(LossError::config("mode", m, "ce is multiclass (softmax over channels); use bce for binary or multilabel"));
        }
        Ok(XentLoss {
            name: "ce",
            kind: Kind::Ce { class_weights: self.class_weights.clone(), ignore_index: self.ignore_index },
            from_logits: true,
            smoothing: self.label_smoothing,
            reduction: self.reduction,
            mode: Some(Mode::Multiclass),
            backend: Backend::Simd,
        })
    }
}

impl XentLoss {
    fn elem(name: &'static str, kind: ElemKind, from_logits: bool, smoothing: f32, reduction: Reduction, mode: Option<Mode>) -> Self {
        XentLoss { name, kind: Kind::Elem(kind), from_logits, smoothing, reduction, mode, backend: Backend::Simd }
    }

    /// The same loss running the given kernels (the scalar reference, for comparisons).
    pub fn with_backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// The reduction.
    pub fn reduction(&self) -> Reduction {
        self.reduction
    }

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
            (Kind::Focal { alpha, class_weights, ignore_index, .. }, m) => {
                if m && *alpha != Alpha::Default {
                    return Err(LossError::config("alpha", alpha_text(*alpha), "multiclass focal takes no alpha (use class_weights)"));
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
                if !m && ignore_index.is_some() {
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
                    Value::List(w.iter().map(|v| *v as f64).collect()),
                    format!("has {} values for {} classes", w.len(), layout.c),
                ));
            }
        }
        if let Kind::Ce { ignore_index: Some(i), .. } = &self.kind {
            if layout.target == TargetLayout::Dense {
                return Err(LossError::config("ignore_index", i, "is not supported with class-probability targets"));
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
                let (a, b) = match alpha {
                    Alpha::Default => (0.25, 0.75),
                    Alpha::Value(a) => (*a, 1.0 - a),
                    Alpha::None => (1.0, 1.0),
                };
                ElemKind::Focal { gamma: *gamma, a, b }
            }
            Kind::Ce { .. } => unreachable!("ce is multiclass"),
        };
        ElemParams { kind, from_logits: self.from_logits, smoothing: self.smoothing }
    }

    fn softmax_setup<'b>(&'b self, batch: &'b Batch<'_>, layout: &Layout) -> Result<(SoftTargets<'b>, SoftmaxParams<'b>, f64)> {
        let (cw, ignore, gamma) = match &self.kind {
            Kind::Ce { class_weights, ignore_index } => (class_weights, ignore_index, None),
            Kind::Focal { gamma, class_weights, ignore_index, .. } => (class_weights, ignore_index, Some(*gamma)),
            _ => unreachable!("softmax losses only"),
        };
        let params =
            SoftmaxParams { classes: layout.c, class_weights: cw.as_deref().unwrap_or(&[]), smoothing: self.smoothing, focal_gamma: gamma };
        let ignore = Some(ignore.unwrap_or(DEFAULT_IGNORE_INDEX));
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
        let y = segloss_core::input::DenseTarget::from_target(&batch.target);
        let w = batch.weight.as_ref().map(contiguous);
        let per_pixel = layout.weight == Some(segloss_core::WeightLayout::PerPixel) && layout.c > 1;
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
}

fn alpha_text(a: Alpha) -> String {
    match a {
        Alpha::Default => "0.25".into(),
        Alpha::Value(v) => v.to_string(),
        Alpha::None => "none".into(),
    }
}

impl Loss for XentLoss {
    fn name(&self) -> &'static str {
        self.name
    }

    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        let layout = self.layout(batch)?;
        if let Some(g) = &grad {
            if g.len() != layout.len() {
                return Err(LossError::ShapeMismatch {
                    what: "the gradient buffer must have pred's element count".into(),
                    left_name: "grad",
                    left: vec![g.len()],
                    right_name: "pred",
                    right: batch.pred.shape().to_vec(),
                });
            }
        }
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
            let sum = driver::softmax(batch, &layout, &targets, &params, scale, grad, self.backend);
            return Ok((sum / div) as f32);
        }
        let params = self.elem_params(batch, &layout);
        let div = match self.reduction {
            Reduction::Mean => layout.len() as f64,
            _ => 1.0,
        };
        let scale = (upstream as f64 / div) as f32;
        let distance = matches!(params.kind, ElemKind::DistanceBce { .. });
        let (sum, bad) = driver::elementwise(batch, &layout, &params, distance, scale, grad, self.backend)?;
        if let Some(i) = bad {
            let mut b = [0.0f32];
            let v = segloss_core::input::DenseTarget::from_target(&batch.target).chunk(i, &mut b)[0];
            return Err(self.bad_target(batch, i, v));
        }
        Ok((sum / div) as f32)
    }
}

const MODE: KeyInfo = segloss_core::params::MODE_KEY;
const REDUCTION: KeyInfo =
    KeyInfo { key: "reduction", default: "mean", doc: "mean, sum or none (the per-element map; its sum through Loss)" };
const FROM_LOGITS: KeyInfo =
    KeyInfo { key: "from_logits", default: "true", doc: "false: pred holds probabilities, clipped to [1e-7, 1-1e-7]" };

static CATALOGUE: &[LossInfo] = &[
    LossInfo {
        name: "bce",
        family: "segloss-xent",
        keys: &[
            KeyInfo { key: "pos_weight", default: "1", doc: "weight q of the positive term, >= 0" },
            KeyInfo { key: "label_smoothing", default: "0", doc: "s in [0, 1]: y <- y(1-s) + s/2" },
            FROM_LOGITS,
            REDUCTION,
            MODE,
        ],
        formula: "-(q y log p + (1-y) log(1-p)), p = sigmoid(x)",
    },
    LossInfo {
        name: "wce",
        family: "segloss-xent",
        keys: &[KeyInfo { key: "beta", default: "required", doc: "positive weight, > 0" }, FROM_LOGITS, REDUCTION, MODE],
        formula: "bce with q = beta",
    },
    LossInfo {
        name: "balanced_ce",
        family: "segloss-xent",
        keys: &[
            KeyInfo { key: "beta", default: "0.5", doc: "in (0, 1), or auto = sum(1-y)/count over the batch" },
            FROM_LOGITS,
            REDUCTION,
            MODE,
        ],
        formula: "-(beta y log p + (1-beta)(1-y) log(1-p))",
    },
    LossInfo {
        name: "focal",
        family: "segloss-xent",
        keys: &[
            KeyInfo { key: "gamma", default: "2", doc: "focusing parameter, >= 0" },
            KeyInfo { key: "alpha", default: "0.25", doc: "in [0, 1] or none (binary/multilabel only)" },
            KeyInfo { key: "class_weights", default: "all 1", doc: "multiclass: per-class weights" },
            KeyInfo { key: "ignore_index", default: "-100", doc: "multiclass: label to ignore" },
            FROM_LOGITS,
            REDUCTION,
            MODE,
        ],
        formula: "-(a y (1-p)^gamma log p + b (1-y) p^gamma log(1-p)); multiclass -w_y (1-p_t)^gamma log p_t",
    },
    LossInfo {
        name: "distance_bce",
        family: "segloss-xent",
        keys: &[KeyInfo { key: "beta", default: "0.5", doc: "in (0, 1)" }, FROM_LOGITS, REDUCTION, MODE],
        formula: "(1-beta) wce with q = beta/(1-beta) + exp(-d^2), d = the weight input",
    },
    LossInfo {
        name: "ce",
        family: "segloss-xent",
        keys: &[
            KeyInfo { key: "class_weights", default: "all 1", doc: "per-class weights w_c" },
            KeyInfo { key: "ignore_index", default: "-100", doc: "label to ignore" },
            KeyInfo { key: "label_smoothing", default: "0", doc: "s in [0, 1]" },
            REDUCTION,
            MODE,
        ],
        formula: "[sum_i (1-s) w_yi l_iyi + (s/C) sum_ic w_c l_ic] / sum_i w_yi, l = -log softmax",
    },
];

/// The losses of this family.
pub fn catalogue() -> &'static [LossInfo] {
    CATALOGUE
}

fn f32_key(p: &mut Params, key: &str) -> Result<Option<f32>> {
    Ok(p.num(key)?.map(|v| v as f32))
}

fn list_key(p: &mut Params, key: &str) -> Result<Option<Vec<f32>>> {
    Ok(p.list(key)?.map(|v| v.into_iter().map(|x| x as f32).collect()))
}

/// Builds the loss `name` of this family from spec parameters (`None` if the name is not ours).
pub fn build(name: &str, p: &mut Params) -> Option<Result<Box<dyn Loss>>> {
    let info = CATALOGUE.iter().find(|i| i.name == name)?;
    Some(build_inner(name, p).and_then(|l| {
        p.finish(info.keys)?;
        Ok(Box::new(l) as Box<dyn Loss>)
    }))
}

fn build_inner(name: &str, p: &mut Params) -> Result<XentLoss> {
    let mode = p.mode()?;
    let reduction = p.reduction()?.unwrap_or_default();
    match name {
        "bce" => BceConfig {
            pos_weight: f32_key(p, "pos_weight")?.unwrap_or(1.0),
            label_smoothing: f32_key(p, "label_smoothing")?.unwrap_or(0.0),
            from_logits: p.bool("from_logits")?.unwrap_or(true),
            reduction,
            mode,
        }
        .build(),
        "wce" => {
            let beta = f32_key(p, "beta")?.ok_or_else(|| LossError::config("beta", "(missing)", "wce needs beta (> 0)"))?;
            WceConfig { beta, from_logits: p.bool("from_logits")?.unwrap_or(true), reduction, mode }.build()
        }
        "balanced_ce" => {
            let beta = match p.num_or_word("beta", &["auto"])? {
                None => Beta::Fixed(0.5),
                Some(Value::Num(b)) => Beta::Fixed(b as f32),
                Some(_) => Beta::Auto,
            };
            BalancedCeConfig { beta, from_logits: p.bool("from_logits")?.unwrap_or(true), reduction, mode }.build()
        }
        "focal" => {
            let alpha = match p.num_or_word("alpha", &["none"])? {
                None => Alpha::Default,
                Some(Value::Num(a)) => Alpha::Value(a as f32),
                Some(_) => Alpha::None,
            };
            FocalConfig {
                gamma: f32_key(p, "gamma")?.unwrap_or(2.0),
                alpha,
                class_weights: list_key(p, "class_weights")?,
                ignore_index: p.int("ignore_index")?,
                from_logits: p.bool("from_logits")?.unwrap_or(true),
                reduction,
                mode,
            }
            .build()
        }
        "distance_bce" => DistanceBceConfig {
            beta: f32_key(p, "beta")?.unwrap_or(0.5),
            from_logits: p.bool("from_logits")?.unwrap_or(true),
            reduction,
            mode,
        }
        .build(),
        "ce" => CeConfig {
            class_weights: list_key(p, "class_weights")?,
            ignore_index: p.int("ignore_index")?,
            label_smoothing: f32_key(p, "label_smoothing")?.unwrap_or(0.0),
            reduction,
            mode,
        }
        .build(),
        _ => unreachable!("name checked against the catalogue"),
    }
}

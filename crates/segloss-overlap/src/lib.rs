//! # segloss-overlap: the overlap family
//!
//! `dice`, `tversky`, `jaccard` and `generalized_dice`, as defined in `LOSSES.md`, in binary,
//! multiclass and multilabel modes, with values and analytic gradients.
//!
//! With `p` the sigmoid (binary, multilabel) or softmax (multiclass) probability and `g` the
//! target (one-hot for multiclass labels), the sums over the spatial axes of each (image,
//! channel) pair (and over the batch with `reduce=batch`) are `I = sum p g`, `P = sum p`,
//! `G = sum g`, `FP = P - I`, `FN = G - I`. The loss is `sum_c w_c L_nc / sum_c w_c` over the kept
//! pairs (`classes`, `include_background`, `ignore_index`; `w_c` the `class_weights`, all 1 by
//! default); with no pair kept it is 0 with a zero gradient.
//!
//! How it runs: one SIMD pass gathers `I, P, G` (and `sum p^2, sum g^2` for squared Dice) per row
//! in fixed blocks added along a fixed tree ([`driver`]), so 1 and N threads agree bit for bit; the
//! pair formulas ([`pairs`]) give the loss and `dL/dp = a + b g + c p` per row; a second pass
//! writes the gradient through the sigmoid or the softmax Jacobian
//! (`dL/dz_c = p_c (a_c - sum_k p_k a_k)`). When a gradient is asked for, the first pass leaves
//! the activation in the gradient buffer (the softmax probabilities, or `copysign(min(p, 1-p), x)`
//! for the sigmoid) so the second pass needs no exponential; there is no per-pixel temporary
//! besides the gradient buffer itself. When every image keeps the same pairs (`reduce=image`,
//! `classes=all`, not `pixelwise`), the normaliser is known in advance and the two passes run
//! image by image, so an image's data is still in cache for its gradient pass.
//!
//! ```
//! use ndarray::{ArrayD, IxDyn};
//! use segloss_core::{Batch, Loss};
//! use segloss_overlap::DiceConfig;
//!
//! let logits = ArrayD::from_shape_vec(IxDyn(&[1, 2, 2, 2]), vec![2.0, -1.0, 0.5, 0.0, -2.0, 1.0, -0.5, 0.0]).unwrap();
//! let labels = ArrayD::from_shape_vec(IxDyn(&[1, 2, 2]), vec![0i64, 1, 0, 1]).unwrap();
//! let dice = DiceConfig::default().build().unwrap();
//! let (value, grad) = dice.forward_backward(&Batch::new(&logits, &labels)).unwrap();
//! assert!(value > 0.0 && value < 1.0);
//! assert_eq!(grad.shape(), &[1, 2, 2, 2]);
//! ```
//!
//! Common keys and defaults: `smooth_nr = smooth_dr = 1e-5` (`smooth` sets both; giving it with
//! either is an error), `eps = 1e-7` (every denominator is clamped to `>= eps`), `classes=all`,
//! `include_background=true` (ignored with a single channel, as MONAI), `ignore_index` none,
//! `class_weights` all 1, `from_logits=true` (`false`: probabilities, used unclipped), `mode`
//! inferred. A per-pixel `weight` tensor is rejected.
#![warn(missing_docs)]

pub mod driver;
pub mod kernels;
pub mod pairs;
pub mod reference;

use driver::{Backend, Inputs};
use kernels::KParams;
use pairs::PairParams;
pub use pairs::{Classes, Kind, Reduce, WeightType};
use segloss_core::error::unravel;
use segloss_core::params::{check, fmt_num, KeyInfo, LossInfo, Params, Value};
use segloss_core::{resolve_with_ignore, Batch, Layout, Loss, LossError, Mode, Result, TargetLayout};

/// Default `smooth_nr` and `smooth_dr`.
pub const DEFAULT_SMOOTH: f64 = 1e-5;
/// Default `eps`, the lower bound of every denominator.
pub const DEFAULT_EPS: f64 = 1e-7;

/// The keys every overlap loss shares.
#[derive(Debug, Clone, PartialEq)]
pub struct CommonConfig {
    /// `smooth`: sets both `smooth_nr` and `smooth_dr` (an error together with either).
    pub smooth: Option<f64>,
    /// `smooth_nr` (1e-5, >= 0): added to the numerator of the score.
    pub smooth_nr: Option<f64>,
    /// `smooth_dr` (1e-5, >= 0): added to the denominator of the score.
    pub smooth_dr: Option<f64>,
    /// `eps` (1e-7, > 0): every denominator is clamped to `>= eps`.
    pub eps: f64,
    /// `classes` (all; present: pairs with `G = 0` are dropped).
    pub classes: Classes,
    /// `include_background` (true; false drops channel 0 when there are at least 2 channels).
    pub include_background: bool,
    /// `ignore_index` (none): pixels with that label leave every sum; with `mode=multiclass` a
    /// value inside `[0, C)` also drops that class. For binary/multilabel float targets, elements
    /// equal to it are ignored.
    pub ignore_index: Option<i64>,
    /// `class_weights` (all 1): the loss is `sum w_c L / sum w_c` over the kept pairs.
    pub class_weights: Option<Vec<f32>>,
    /// `from_logits` (true; false: `pred` holds probabilities, used unclipped).
    pub from_logits: bool,
    /// `mode` (inferred).
    pub mode: Option<Mode>,
}

impl Default for CommonConfig {
    fn default() -> Self {
        CommonConfig {
            smooth: None,
            smooth_nr: None,
            smooth_dr: None,
            eps: DEFAULT_EPS,
            classes: Classes::All,
            include_background: true,
            ignore_index: None,
            class_weights: None,
            from_logits: true,
            mode: None,
        }
    }
}

/// The validated common keys.
#[derive(Debug, Clone, PartialEq)]
struct Common {
    nr: f64,
    dr: f64,
    eps: f64,
    classes: Classes,
    include_background: bool,
    ignore_index: Option<i64>,
    class_weights: Option<Vec<f32>>,
    from_logits: bool,
    mode: Option<Mode>,
}

fn nonneg(key: &str, x: f64) -> Result<f64> {
    check(key, x, x.is_finite() && x >= 0.0, "must be finite and >= 0")
}

impl CommonConfig {
    fn validate(&self) -> Result<Common> {
        if let Some(s) = self.smooth {
            if self.smooth_nr.is_some() || self.smooth_dr.is_some() {
                let other = if self.smooth_nr.is_some() { "smooth_nr" } else { "smooth_dr" };
                return Err(LossError::config(
                    "smooth",
                    fmt_num(s),
                    format!("sets both smooth_nr and smooth_dr; do not give it with `{other}`"),
                ));
            }
        }
        let nr = nonneg("smooth_nr", self.smooth_nr.or(self.smooth).unwrap_or(DEFAULT_SMOOTH)).map_err(|e| {
            if self.smooth.is_some() {
                rename(e, "smooth")
            } else {
                e
            }
        })?;
        let dr = nonneg("smooth_dr", self.smooth_dr.or(self.smooth).unwrap_or(DEFAULT_SMOOTH)).map_err(|e| {
            if self.smooth.is_some() {
                rename(e, "smooth")
            } else {
                e
            }
        })?;
        let eps = check("eps", self.eps, self.eps.is_finite() && self.eps > 0.0, "must be finite and > 0")?;
        if let Some(w) = &self.class_weights {
            if w.is_empty() || w.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
                return Err(LossError::config("class_weights", list_text(w), "must be a non-empty list of finite values >= 0"));
            }
        }
        Ok(Common {
            nr,
            dr,
            eps,
            classes: self.classes,
            include_background: self.include_background,
            ignore_index: self.ignore_index,
            class_weights: self.class_weights.clone(),
            from_logits: self.from_logits,
            mode: self.mode,
        })
    }
}

fn rename(e: LossError, key: &str) -> LossError {
    match e {
        LossError::InvalidConfig { value, reason, .. } => LossError::InvalidConfig { key: key.into(), value, reason },
        e => e,
    }
}

fn list_text(w: &[f32]) -> String {
    Value::List(w.iter().map(|v| *v as f64).collect()).to_string()
}

/// `dice`: per pair `1 - (2I + nr)/(P + G + dr)` (Milletari et al. 2016, V-Net; Sudre et al.
/// 2017 for the soft form).
///
/// Keys: `reduce` (image; or batch), `squared` (false; true: `P` and `G` become `sum p^2` and
/// `sum g^2`), `log` (false; true: `-ln(max(score, eps))`), `pixelwise` (false; true: the origin
/// write-up's per-pixel `1 - (2pg + 1)/(p + g + 1)`, averaged over the counted pixels of the kept
/// pairs, weighted by `class_weights`; smoothing keys do not apply), and the [`CommonConfig`] keys.
///
/// Anchors (equal): MONAI `DiceLoss(sigmoid|softmax, to_onehot_y, smooth_nr, smooth_dr, batch,
/// squared_pred)`; MONAI's `weight=w` is ours times `sum(w)/C`; segmentation_models_pytorch
/// `DiceLoss(mode, smooth=0)` is `dice:reduce=batch,smooth=0` when every channel is present.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DiceConfig {
    /// `reduce` (image).
    pub reduce: Reduce,
    /// `squared` (false).
    pub squared: bool,
    /// `log` (false).
    pub log: bool,
    /// `pixelwise` (false).
    pub pixelwise: bool,
    /// The common keys.
    pub common: CommonConfig,
}

impl DiceConfig {
    /// Validates and builds.
    pub fn build(&self) -> Result<OverlapLoss> {
        let common = self.common.validate()?;
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
        Ok(OverlapLoss::new("dice", Kind::Dice { squared: self.squared, log: self.log, pixelwise: self.pixelwise }, self.reduce, common))
    }
}

/// `tversky`: per pair `(1 - TI)^gamma` with `TI = (I + nr)/(I + alpha FP + beta FN + dr)`
/// (Salehi et al. 2017; the focal exponent of Abraham & Khan 2019 applied per pair). For
/// `gamma < 1` the gradient at `TI = 1` is 0; for `gamma != 1` a pair with `TI > 1` (possible
/// when `nr > dr`) has loss 0.
///
/// Keys: `alpha` (0.5, >= 0, weight of FP), `beta` (0.5, >= 0, weight of FN), `gamma` (1, > 0),
/// `reduce` (image; or batch), and the [`CommonConfig`] keys.
///
/// Anchor (equal): MONAI `TverskyLoss(alpha, beta, smooth_nr, smooth_dr, batch)` with gamma = 1.
/// The origin write-up's Tversky with its beta is `tversky:alpha=beta,beta=1-beta`.
#[derive(Debug, Clone, PartialEq)]
pub struct TverskyConfig {
    /// `alpha` (0.5).
    pub alpha: f64,
    /// `beta` (0.5).
    pub beta: f64,
    /// `gamma` (1).
    pub gamma: f64,
    /// `reduce` (image).
    pub reduce: Reduce,
    /// The common keys.
    pub common: CommonConfig,
}

impl Default for TverskyConfig {
    fn default() -> Self {
        TverskyConfig { alpha: 0.5, beta: 0.5, gamma: 1.0, reduce: Reduce::Image, common: CommonConfig::default() }
    }
}

impl TverskyConfig {
    /// Validates and builds.
    pub fn build(&self) -> Result<OverlapLoss> {
        let common = self.common.validate()?;
        nonneg("alpha", self.alpha)?;
        nonneg("beta", self.beta)?;
        check("gamma", self.gamma, self.gamma.is_finite() && self.gamma > 0.0, "must be finite and > 0")?;
        Ok(OverlapLoss::new("tversky", Kind::Tversky { alpha: self.alpha, beta: self.beta, gamma: self.gamma }, self.reduce, common))
    }
}

/// `jaccard`: per pair `1 - (I + nr)/(P + G - I + dr)` (soft IoU; Rahman & Wang 2016).
///
/// Keys: `reduce` (image; or batch), `log` (false), and the [`CommonConfig`] keys.
///
/// Anchor (equal): MONAI `DiceLoss(jaccard=True, smooth_nr=2 nr, smooth_dr=2 dr)` (MONAI doubles TP).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JaccardConfig {
    /// `reduce` (image).
    pub reduce: Reduce,
    /// `log` (false).
    pub log: bool,
    /// The common keys.
    pub common: CommonConfig,
}

impl JaccardConfig {
    /// Validates and builds.
    pub fn build(&self) -> Result<OverlapLoss> {
        let common = self.common.validate()?;
        Ok(OverlapLoss::new("jaccard", Kind::Jaccard { log: self.log }, self.reduce, common))
    }
}

/// `generalized_dice`: per image (or over the batch with `reduce=batch`)
/// `1 - (2 sum_c w_c I_c + nr)/(sum_c w_c (P_c + G_c) + dr)` with `w_c = 1/G_c^2` (square),
/// `1/G_c` (simple) or 1 (uniform) over the kept channels; infinite weights are replaced by the
/// largest finite weight of the same image (batch), all 0 if none is finite; `class_weights`
/// multiply `w_c`. Averaged over the images with a kept channel (Sudre et al. 2017).
///
/// Keys: `weight_type` (square; or simple, uniform), `reduce` (image; or batch), and the
/// [`CommonConfig`] keys.
///
/// Anchor (equal): MONAI `GeneralizedDiceLoss(w_type, smooth_nr, smooth_dr, batch)`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GeneralizedDiceConfig {
    /// `weight_type` (square).
    pub weight_type: WeightType,
    /// `reduce` (image).
    pub reduce: Reduce,
    /// The common keys.
    pub common: CommonConfig,
}

impl GeneralizedDiceConfig {
    /// Validates and builds.
    pub fn build(&self) -> Result<OverlapLoss> {
        let common = self.common.validate()?;
        Ok(OverlapLoss::new("generalized_dice", Kind::GeneralizedDice { weight_type: self.weight_type }, self.reduce, common))
    }
}

/// A built loss of the overlap family.
#[derive(Debug, Clone, PartialEq)]
pub struct OverlapLoss {
    name: &'static str,
    kind: Kind,
    reduce: Reduce,
    common: Common,
    backend: Backend,
}

/// What one evaluation needs after the checks.
struct Prepared<'b> {
    layout: Layout,
    inputs: Inputs<'b>,
    kp: KParams,
    keep: Vec<bool>,
}

impl OverlapLoss {
    fn new(name: &'static str, kind: Kind, reduce: Reduce, common: Common) -> Self {
        OverlapLoss { name, kind, reduce, common, backend: Backend::Simd }
    }

    /// The same loss running the given kernels (the scalar reference, for comparisons).
    pub fn with_backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// The loss kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Resolves the layout and checks the batch suits this loss.
    pub fn layout(&self, batch: &Batch<'_>) -> Result<Layout> {
        if let Some(w) = &batch.weight {
            return Err(LossError::unsupported(
                self.name,
                format!("overlap losses take no weight tensor (got a weight of shape {})", segloss_core::error::fmt_shape(w.shape())),
            ));
        }
        let layout = resolve_with_ignore(batch, self.common.mode, self.common.ignore_index)?;
        if let Some(w) = &self.common.class_weights {
            if w.len() != layout.c {
                return Err(LossError::config("class_weights", list_text(w), format!("has {} values for {} channels", w.len(), layout.c)));
            }
        }
        if layout.mode == Mode::Multiclass && layout.target == TargetLayout::Dense {
            if let Some(i) = self.common.ignore_index {
                if i < 0 || i >= layout.c as i64 {
                    return Err(LossError::config(
                        "ignore_index",
                        i,
                        format!("with class-probability targets only a class index in [0, {}) can be ignored", layout.c),
                    ));
                }
            }
        }
        Ok(layout)
    }

    fn prepare<'b>(&self, batch: &'b Batch<'_>) -> Result<Prepared<'b>> {
        let layout = self.layout(batch)?;
        let multiclass = layout.mode == Mode::Multiclass;
        if multiclass && layout.target == TargetLayout::Labels {
            let labels = batch.target.labels().expect("integer labels");
            labels.validate(layout.c, self.common.ignore_index, batch.target.shape())?;
        }
        let keep = (0..layout.c)
            .map(|k| {
                let bg = !(k == 0 && !self.common.include_background && layout.c > 1);
                let ig = !(multiclass && self.common.ignore_index == Some(k as i64));
                bg && ig
            })
            .collect();
        let (squared, pixelwise) = match self.kind {
            Kind::Dice { squared, pixelwise, .. } => (squared, pixelwise),
            _ => (false, false),
        };
        let kp = KParams {
            from_logits: self.common.from_logits,
            squared,
            pixelwise,
            ignore: if multiclass { None } else { self.common.ignore_index.map(|i| i as f32) },
        };
        let inputs = Inputs::new(batch, &layout, if multiclass { self.common.ignore_index } else { None });
        Ok(Prepared { layout, inputs, kp, keep })
    }

    /// Blocks per image when the loss can run image by image: one pair per (image, channel), every
    /// image keeping the same channels (`classes=all`, not the per-pixel Dice, some channel kept),
    /// and blocks that never straddle two images.
    fn units_per_image(&self, prep: &Prepared<'_>) -> Option<usize> {
        let same_pairs = self.reduce == Reduce::Image
            && self.common.classes == Classes::All
            && !matches!(self.kind, Kind::Dice { pixelwise: true, .. })
            && prep.keep.iter().any(|&k| k);
        if same_pairs {
            prep.inputs.units_per_image()
        } else {
            None
        }
    }

    fn pair_params<'a>(&'a self, keep: &'a [bool]) -> PairParams<'a> {
        PairParams {
            kind: self.kind,
            reduce: self.reduce,
            nr: self.common.nr,
            dr: self.common.dr,
            eps: self.common.eps,
            classes: self.common.classes,
            keep_channel: keep,
            class_weights: self.common.class_weights.as_deref().unwrap_or(&[]),
        }
    }

    fn bad_target(&self, batch: &Batch<'_>, prep: &Prepared<'_>) -> LossError {
        let ign = prep.kp.ignore;
        let vals: Vec<f32> = match &batch.target.floats() {
            Some(v) => v.to_vec(),
            None => Vec::new(),
        };
        let i = vals.iter().position(|&v| !(0.0..=1.0).contains(&v) && Some(v) != ign).unwrap_or(0);
        let expected = match (prep.layout.mode, ign) {
            (Mode::Multiclass, _) => format!("a class probability in [0, 1] for {}", self.name),
            (_, Some(ig)) => format!("a float target in [0, 1] or the ignore_index {ig} for {}", self.name),
            (_, None) => format!("a float target in [0, 1] for {}", self.name),
        };
        LossError::LabelOutOfRange {
            label: vals.get(i).map_or("?".into(), |v| v.to_string()),
            index: unravel(i, batch.target.shape()),
            expected,
        }
    }

    /// The statistics of every row `n * C + c` (for inspection and tests), after every check.
    pub fn row_stats(&self, batch: &Batch<'_>) -> Result<Vec<kernels::Stats>> {
        let prep = self.prepare(batch)?;
        let (stats, bad, _) = driver::stats(&prep.inputs, &prep.kp, self.backend, None);
        if bad {
            return Err(self.bad_target(batch, &prep));
        }
        Ok(stats)
    }

    /// What [`reference::eval`] needs after the checks: the layout, the kernel parameters and
    /// which channels are kept.
    pub fn reference_parts(&self, batch: &Batch<'_>) -> Result<(Layout, KParams, Vec<bool>)> {
        let prep = self.prepare(batch)?;
        Ok((prep.layout, prep.kp, prep.keep))
    }
}

impl Loss for OverlapLoss {
    fn name(&self) -> &'static str {
        self.name
    }

    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        let prep = self.prepare(batch)?;
        if let Some(g) = &grad {
            if g.len() != prep.layout.len() {
                return Err(LossError::ShapeMismatch {
                    what: "the gradient buffer must have pred's element count".into(),
                    left_name: "grad",
                    left: vec![g.len()],
                    right_name: "pred",
                    right: batch.pred.shape().to_vec(),
                });
            }
        }
        let mut grad = grad;
        let pp = self.pair_params(&prep.keep);
        let (n, c) = (prep.layout.n, prep.layout.c);
        if let Some(per) = self.units_per_image(&prep) {
            // image by image: statistics, pair formulas, then the gradient while the image is
            // still in cache (every image keeps the same pairs, so the normaliser is known)
            let mut coefs = vec![kernels::Coef::default(); n * c];
            let mut total = 0.0;
            for img in 0..n {
                let units = img * per..(img + 1) * per;
                let (st, bad, cached) = driver::stats_of(&prep.inputs, &prep.kp, self.backend, grad.as_deref_mut(), units.clone());
                if bad {
                    return Err(self.bad_target(batch, &prep));
                }
                let (l, cf) = pairs::finalize(&pp, 1, c, &st, upstream as f64 / n as f64);
                total += l;
                if let Some(g) = grad.as_deref_mut() {
                    coefs[img * c..(img + 1) * c].copy_from_slice(&cf);
                    driver::grad_of(&prep.inputs, &prep.kp, &coefs, g, self.backend, cached, units);
                }
            }
            return Ok((total / n as f64) as f32);
        }
        let (stats, bad, cached) = driver::stats(&prep.inputs, &prep.kp, self.backend, grad.as_deref_mut());
        if bad {
            return Err(self.bad_target(batch, &prep));
        }
        let (loss, coefs) = pairs::finalize(&pp, n, c, &stats, upstream as f64);
        if let Some(g) = grad {
            if coefs.iter().all(|c| *c == kernels::Coef::default()) {
                g.fill(0.0);
            } else {
                driver::grad(&prep.inputs, &prep.kp, &coefs, g, self.backend, cached);
            }
        }
        Ok(loss as f32)
    }
}

impl OverlapLoss {
    /// The pair parameters of this loss with the given kept channels (see [`reference_parts`](Self::reference_parts)).
    pub fn pair_params_with<'a>(&'a self, keep: &'a [bool]) -> PairParams<'a> {
        self.pair_params(keep)
    }
}

const MODE: KeyInfo = segloss_core::params::MODE_KEY;
const FROM_LOGITS: KeyInfo =
    KeyInfo { key: "from_logits", default: "true", doc: "false: pred holds probabilities (softmax/sigmoid skipped), used unclipped" };
const SMOOTH: KeyInfo = KeyInfo { key: "smooth", default: "none", doc: "sets smooth_nr and smooth_dr (an error with either)" };
const SMOOTH_NR: KeyInfo = KeyInfo { key: "smooth_nr", default: "1e-5", doc: "added to the numerator of the score, >= 0" };
const SMOOTH_DR: KeyInfo = KeyInfo { key: "smooth_dr", default: "1e-5", doc: "added to the denominator of the score, >= 0" };
const EPS: KeyInfo = KeyInfo { key: "eps", default: "1e-7", doc: "every denominator is clamped to >= eps, > 0" };
const CLASSES: KeyInfo = KeyInfo { key: "classes", default: "all", doc: "all, or present: pairs with G = 0 are dropped" };
const INCLUDE_BG: KeyInfo = KeyInfo { key: "include_background", default: "true", doc: "false drops channel 0 (C >= 2)" };
const IGNORE: KeyInfo = KeyInfo {
    key: "ignore_index",
    default: "none",
    doc: "pixels with that label leave every sum; inside [0, C) it also drops that class (multiclass)",
};
const CLASS_WEIGHTS: KeyInfo =
    KeyInfo { key: "class_weights", default: "all 1", doc: "weighted average of the kept pairs, one per channel" };
const REDUCE: KeyInfo =
    KeyInfo { key: "reduce", default: "image", doc: "image: a pair per (image, channel); batch: per channel over the batch" };

static CATALOGUE: &[LossInfo] = &[
    LossInfo {
        name: "dice",
        family: "segloss-overlap",
        keys: &[
            REDUCE,
            KeyInfo { key: "squared", default: "false", doc: "true: P and G become sum p^2 and sum g^2" },
            KeyInfo { key: "log", default: "false", doc: "true: the loss is -ln(max(score, eps))" },
            KeyInfo { key: "pixelwise", default: "false", doc: "true: mean of the per-pixel 1 - (2pg+1)/(p+g+1)" },
            SMOOTH,
            SMOOTH_NR,
            SMOOTH_DR,
            EPS,
            CLASSES,
            INCLUDE_BG,
            IGNORE,
            CLASS_WEIGHTS,
            FROM_LOGITS,
            MODE,
        ],
        formula: "1 - (2I + nr)/(P + G + dr) per pair, weighted mean over the kept pairs",
    },
    LossInfo {
        name: "tversky",
        family: "segloss-overlap",
        keys: &[
            KeyInfo { key: "alpha", default: "0.5", doc: "weight of FP, >= 0" },
            KeyInfo { key: "beta", default: "0.5", doc: "weight of FN, >= 0" },
            KeyInfo { key: "gamma", default: "1", doc: "exponent applied per pair, > 0" },
            REDUCE,
            SMOOTH,
            SMOOTH_NR,
            SMOOTH_DR,
            EPS,
            CLASSES,
            INCLUDE_BG,
            IGNORE,
            CLASS_WEIGHTS,
            FROM_LOGITS,
            MODE,
        ],
        formula: "(1 - TI)^gamma, TI = (I + nr)/(I + alpha FP + beta FN + dr)",
    },
    LossInfo {
        name: "jaccard",
        family: "segloss-overlap",
        keys: &[
            REDUCE,
            KeyInfo { key: "log", default: "false", doc: "true: the loss is -ln(max(score, eps))" },
            SMOOTH,
            SMOOTH_NR,
            SMOOTH_DR,
            EPS,
            CLASSES,
            INCLUDE_BG,
            IGNORE,
            CLASS_WEIGHTS,
            FROM_LOGITS,
            MODE,
        ],
        formula: "1 - (I + nr)/(P + G - I + dr) per pair",
    },
    LossInfo {
        name: "generalized_dice",
        family: "segloss-overlap",
        keys: &[
            KeyInfo { key: "weight_type", default: "square", doc: "square (1/G^2), simple (1/G) or uniform (1)" },
            REDUCE,
            SMOOTH,
            SMOOTH_NR,
            SMOOTH_DR,
            EPS,
            CLASSES,
            INCLUDE_BG,
            IGNORE,
            CLASS_WEIGHTS,
            FROM_LOGITS,
            MODE,
        ],
        formula: "1 - (2 sum_c w_c I_c + nr)/(sum_c w_c (P_c + G_c) + dr) per image, w_c = 1/G_c^2",
    },
];

/// The losses of this family.
pub fn catalogue() -> &'static [LossInfo] {
    CATALOGUE
}

/// Builds the loss `name` of this family from spec parameters (`None` if the name is not ours).
pub fn build(name: &str, p: &mut Params) -> Option<Result<Box<dyn Loss>>> {
    let info = CATALOGUE.iter().find(|i| i.name == name)?;
    Some(build_inner(name, p).and_then(|l| {
        p.finish(info.keys)?;
        Ok(Box::new(l) as Box<dyn Loss>)
    }))
}

fn reduce_key(p: &mut Params) -> Result<Reduce> {
    Ok(match p.word("reduce", &["image", "batch"])?.as_deref() {
        Some("batch") => Reduce::Batch,
        _ => Reduce::Image,
    })
}

fn common_keys(p: &mut Params) -> Result<CommonConfig> {
    Ok(CommonConfig {
        smooth: p.num("smooth")?,
        smooth_nr: p.num("smooth_nr")?,
        smooth_dr: p.num("smooth_dr")?,
        eps: p.num("eps")?.unwrap_or(DEFAULT_EPS),
        classes: match p.word("classes", &["all", "present"])?.as_deref() {
            Some("present") => Classes::Present,
            _ => Classes::All,
        },
        include_background: p.bool("include_background")?.unwrap_or(true),
        ignore_index: p.int("ignore_index")?,
        class_weights: p.list("class_weights")?.map(|v| v.into_iter().map(|x| x as f32).collect()),
        from_logits: p.bool("from_logits")?.unwrap_or(true),
        mode: p.mode()?,
    })
}

fn build_inner(name: &str, p: &mut Params) -> Result<OverlapLoss> {
    let common = common_keys(p)?;
    match name {
        "dice" => DiceConfig {
            reduce: reduce_key(p)?,
            squared: p.bool("squared")?.unwrap_or(false),
            log: p.bool("log")?.unwrap_or(false),
            pixelwise: p.bool("pixelwise")?.unwrap_or(false),
            common,
        }
        .build(),
        "tversky" => TverskyConfig {
            alpha: p.num("alpha")?.unwrap_or(0.5),
            beta: p.num("beta")?.unwrap_or(0.5),
            gamma: p.num("gamma")?.unwrap_or(1.0),
            reduce: reduce_key(p)?,
            common,
        }
        .build(),
        "jaccard" => JaccardConfig { reduce: reduce_key(p)?, log: p.bool("log")?.unwrap_or(false), common }.build(),
        "generalized_dice" => GeneralizedDiceConfig {
            weight_type: match p.word("weight_type", &["square", "simple", "uniform"])?.as_deref() {
                Some("simple") => WeightType::Simple,
                Some("uniform") => WeightType::Uniform,
                _ => WeightType::Square,
            },
            reduce: reduce_key(p)?,
            common,
        }
        .build(),
        _ => unreachable!("name checked against the catalogue"),
    }
}

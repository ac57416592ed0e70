//! The engine every overlap loss runs: the checks of a batch, the statistics pass, the pair
//! formulas and the gradient pass.
//!
//! One SIMD pass gathers `I, P, G` (and `sum p^2, sum g^2` for squared Dice) per row in fixed
//! blocks added along a fixed tree (`driver`), so 1 and N threads agree bit for bit; the pair
//! formulas (`pairs`) give the loss and `dL/dp = a + b g + c p` per row; a second pass writes the
//! gradient through the sigmoid or the softmax Jacobian (`dL/dz_c = p_c (a_c - sum_k p_k a_k)`).
//! When a gradient is asked for, the first pass leaves the activation in the gradient buffer (the
//! softmax probabilities, or `copysign(min(p, 1-p), x)` for the sigmoid) so the second pass needs
//! no exponential; there is no per-pixel temporary besides the gradient buffer itself. When every
//! image keeps the same pairs (`reduce=image`, `classes=all`, not `pixelwise`), the normaliser is
//! known in advance and the two passes run image by image, so an image's data is still in cache
//! for its gradient pass.

use crate::common::{denominator_floor, IgnoreMode, OverlapKeys};
use crate::driver::{self, Inputs};
use crate::kernels::{self, KParams};
use crate::pairs::{self, Kind, PairParams};
use segloss_core::error::unravel;
use segloss_core::kernel::{check_grad_len, reject_weight, Backend};
use segloss_core::{resolve_with_ignore, Batch, Classes, KeyValue, Layout, LossError, Mode, Reduce, Reduction, Result, TargetLayout};

/// A validated overlap loss, ready to evaluate: the pair kind and every shared key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Engine {
    /// The loss name, for messages.
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    pub(crate) reduce: Reduce,
    pub(crate) nr: f64,
    pub(crate) dr: f64,
    pub(crate) eps: f64,
    pub(crate) soft_label: bool,
    pub(crate) classes: Classes,
    pub(crate) include_background: bool,
    pub(crate) ignore_index: Option<i64>,
    pub(crate) ignore_mode: IgnoreMode,
    pub(crate) class_weights: Option<Vec<f32>>,
    pub(crate) reduction: Reduction,
    pub(crate) from_logits: bool,
    pub(crate) mode: Option<Mode>,
}

/// What one evaluation needs after the checks.
pub(crate) struct Prepared<'b> {
    pub(crate) layout: Layout,
    pub(crate) inputs: Inputs<'b>,
    pub(crate) kp: KParams,
    pub(crate) keep: Vec<bool>,
}

impl Engine {
    /// The engine of the loss `name` (its keys already checked by the caller's `check_keys`).
    pub(crate) fn new(name: &'static str, kind: Kind, reduce: Reduce, common: &OverlapKeys, mode: Option<Mode>) -> Result<Engine> {
        let (nr, dr) = common.smoothing()?;
        common.check_combination()?;
        Ok(Engine {
            name,
            kind,
            reduce,
            nr,
            dr,
            eps: common.eps,
            soft_label: common.soft_label,
            classes: common.classes,
            include_background: common.include_background,
            ignore_index: common.ignore_index,
            ignore_mode: common.ignore_mode,
            class_weights: common.class_weights.clone(),
            reduction: common.reduction,
            from_logits: common.from_logits,
            mode,
        })
    }

    /// Resolves the layout and checks the batch suits this loss.
    fn layout(&self, batch: &Batch<'_>) -> Result<Layout> {
        reject_weight(self.name, batch, "the overlap losses weight classes (class_weights), not pixels")?;
        let layout = resolve_with_ignore(batch, self.mode, self.ignore_index)?;
        if let Some(w) = &self.class_weights {
            if w.len() != layout.c {
                return Err(LossError::config("class_weights", w.to_value(), format!("has {} values for {} channels", w.len(), layout.c)));
            }
        }
        if layout.mode == Mode::Multiclass && layout.target == TargetLayout::Dense {
            if let Some(i) = self.ignore_index {
                if i < 0 || i >= layout.c as i64 {
                    return Err(LossError::config(
                        "ignore_index",
                        i,
                        format!("with class-probability targets only a class index in [0, {}) can be ignored", layout.c),
                    ));
                }
                if self.ignore_mode == IgnoreMode::Mask {
                    return Err(LossError::config(
                        "ignore_mode",
                        "mask",
                        "masks the pixels labelled ignore_index; class-probability targets have no labels (use ignore_mode=class, which drops the class)",
                    ));
                }
            }
        }
        Ok(layout)
    }

    pub(crate) fn prepare<'b>(&self, batch: &'b Batch<'_>) -> Result<Prepared<'b>> {
        let layout = self.layout(batch)?;
        let multiclass = layout.mode == Mode::Multiclass;
        if multiclass && layout.target == TargetLayout::Labels {
            let labels = batch.target.labels().expect("integer labels");
            labels.validate(layout.c, self.ignore_index, batch.target.shape())?;
        }
        let keep = (0..layout.c)
            .map(|k| {
                let bg = !(k == 0 && !self.include_background && layout.c > 1);
                let ig = !(multiclass && self.ignore_mode == IgnoreMode::Class && self.ignore_index == Some(k as i64));
                bg && ig
            })
            .collect();
        let (squared, pixelwise) = match self.kind {
            Kind::Dice { squared, pixelwise, .. } => (squared, pixelwise),
            _ => (false, false),
        };
        let kp = KParams {
            from_logits: self.from_logits,
            squared,
            pixelwise,
            // squared Dice's soft-label form (sum p^2 + sum g^2 - sum (p - g)^2)/2 is sum p g
            soft_label: self.soft_label && !squared,
            ignore: if multiclass { None } else { self.ignore_index.map(|i| i as f32) },
        };
        let inputs = Inputs::new(batch, &layout, if multiclass { self.ignore_index } else { None });
        Ok(Prepared { layout, inputs, kp, keep })
    }

    /// Blocks per image when the loss can run image by image: one pair per (image, channel), every
    /// image keeping the same channels (`classes=all`, not the per-pixel Dice, some channel kept),
    /// and blocks that never straddle two images.
    fn units_per_image(&self, prep: &Prepared<'_>) -> Option<usize> {
        let same_pairs = self.reduce == Reduce::Image
            && self.classes == Classes::All
            && !matches!(self.kind, Kind::Dice { pixelwise: true, .. })
            && prep.keep.iter().any(|&k| k);
        if same_pairs {
            prep.inputs.units_per_image()
        } else {
            None
        }
    }

    pub(crate) fn pair_params<'a>(&'a self, keep: &'a [bool]) -> PairParams<'a> {
        PairParams {
            kind: self.kind,
            reduce: self.reduce,
            nr: self.nr,
            dr: self.dr,
            floor: denominator_floor(self.eps, self.dr),
            eps: self.eps,
            sum: self.reduction == Reduction::Sum,
            classes: self.classes,
            keep_channel: keep,
            class_weights: self.class_weights.as_deref().unwrap_or(&[]),
        }
    }

    pub(crate) fn bad_target(&self, batch: &Batch<'_>, prep: &Prepared<'_>) -> LossError {
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

    /// The loss of `batch` (in `f64`; a `Loss` returns it rounded to `f32`); with `grad`,
    /// `upstream * dL/dpred` written into it (every element).
    pub(crate) fn eval(&self, batch: &Batch<'_>, mut grad: Option<&mut [f32]>, upstream: f32) -> Result<f64> {
        let backend = Backend::current();
        let prep = self.prepare(batch)?;
        check_grad_len(&grad, prep.layout.len(), batch)?;
        let pp = self.pair_params(&prep.keep);
        let (n, c) = (prep.layout.n, prep.layout.c);
        if let Some(per) = self.units_per_image(&prep) {
            // image by image: statistics, pair formulas, then the gradient while the image is
            // still in cache (every image keeps the same pairs, so the normaliser is known)
            // mean: the mean of the images' means (each image keeps the same pairs); sum: the sum
            let per_image = if pp.sum { 1.0 } else { 1.0 / n as f64 };
            let mut coefs = vec![kernels::Coef::default(); n * c];
            let mut total = 0.0;
            for img in 0..n {
                let units = img * per..(img + 1) * per;
                let (st, bad, cached) = driver::stats_of(&prep.inputs, &prep.kp, backend, grad.as_deref_mut(), units.clone());
                if bad {
                    return Err(self.bad_target(batch, &prep));
                }
                let (l, cf) = pairs::finalize(&pp, 1, c, &st, upstream as f64 * per_image);
                total += l;
                if let Some(g) = grad.as_deref_mut() {
                    coefs[img * c..(img + 1) * c].copy_from_slice(&cf);
                    driver::grad_of(&prep.inputs, &prep.kp, &coefs, g, backend, cached, units);
                }
            }
            return Ok(total * per_image);
        }
        let (stats, bad, cached) = driver::stats(&prep.inputs, &prep.kp, backend, grad.as_deref_mut());
        if bad {
            return Err(self.bad_target(batch, &prep));
        }
        let (loss, coefs) = pairs::finalize(&pp, n, c, &stats, upstream as f64);
        if let Some(g) = grad {
            if coefs.iter().all(|c| *c == kernels::Coef::default()) {
                g.fill(0.0);
            } else {
                driver::grad(&prep.inputs, &prep.kp, &coefs, g, backend, cached);
            }
        }
        Ok(loss)
    }
}

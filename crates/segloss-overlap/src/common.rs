//! The keys every overlap loss shares ([`OverlapKeys`]), declared once and embedded in each
//! loss's declaration with `..common: OverlapKeys;`.

use segloss_core::declare::{checks, KeyGroup, KeyValue};
use segloss_core::params::fmt_num;
use segloss_core::{Classes, LossError, Reduction, Result};

segloss_core::word_enum! {
    /// What an `ignore_index` inside `[0, C)` does in multiclass mode: the `ignore_mode` key.
    pub enum IgnoreMode {
        /// The pixels carrying it leave every sum and the class is dropped from the mean.
        Class = "class",
        /// Only the pixels carrying it are masked; the class's channel stays in the mean (MONAI 1.6).
        Mask = "mask",
    }
}

segloss_core::declare_keys! {
    /// The keys shared by every overlap loss: smoothing, the denominator floor, the intersection's
    /// form, which pairs are kept and how they are weighted and reduced, and the activation (see
    /// `docs/LOSSES.md`, section Overlap family).
    ///
    /// `smooth` sets both `smooth_nr` and `smooth_dr`; [`OverlapKeys::smoothing`] gives the pair
    /// in use and rejects `smooth` together with a `smooth_nr` or `smooth_dr` that differs from its
    /// default.
    pub struct OverlapKeys {
        /// sets smooth_nr and smooth_dr, >= 0 (an error with either at another value)
        smooth: Option<f64> = None, check checks::opt_nonneg, examples [Some(0.0), Some(1.0)];
        /// added to the numerator of the score, >= 0
        smooth_nr: f64 = 1e-5, check checks::nonneg, examples [0.0, 1.0];
        /// added to the denominator of the score, >= 0
        smooth_dr: f64 = 1e-5, check checks::nonneg, examples [0.0, 1.0];
        /// floor of a denominator: eps if smooth_dr = 0, else min(eps, smooth_dr); of the score under log, > 0
        eps: f64 = 1e-7, check checks::positive;
        /// true: I = (P + G - sum |p - g|)/2, equal to sum p g for hard labels (MONAI soft_label, smp)
        soft_label: bool = false;
        /// all, or present: pairs with G = 0 are dropped
        classes: Classes = Classes::All;
        /// false drops channel 0 (with at least 2 channels)
        include_background: bool = true;
        /// pixels with that label leave every sum; inside [0, C) see ignore_mode (multiclass)
        ignore_index: Option<i64> = None, examples [Some(255), Some(1)];
        /// class: an ignore_index inside [0, C) also drops that class; mask: its channel stays (MONAI)
        ignore_mode: IgnoreMode = IgnoreMode::Class;
        /// weighted average of the kept pairs, one value >= 0 per channel (none: all 1)
        class_weights: Option<Vec<f32>> = None, check checks::weights, examples [Some(vec![0.5, 1.0, 2.0])];
        /// mean: the weighted mean of the pair losses; sum: their weighted sum (none: an error; unreduced values: Loss::per_image)
        reduction: Reduction = Reduction::Mean, check mean_or_sum;
        /// false: pred holds probabilities (softmax/sigmoid skipped), used unclipped
        from_logits: bool = true;
    }
}

/// `reduction` is `mean` or `sum`: the overlap family has no per-element map, so `none` is an
/// error naming the key rather than a silent sum; its unreduced values are `Loss::per_image`.
pub(crate) fn mean_or_sum(key: &str, r: &Reduction) -> Result<()> {
    match r {
        Reduction::Mean | Reduction::Sum => Ok(()),
        Reduction::None => Err(LossError::config(
            key,
            r.to_value(),
            "the overlap losses take mean or sum; their unreduced values are the per-image values of Loss::per_image",
        )),
    }
}

impl OverlapKeys {
    /// The smoothing `(nr, dr)` in use: `(s, s)` when `smooth = s` is given, else
    /// `(smooth_nr, smooth_dr)`; every key checked.
    ///
    /// `smooth` given together with a `smooth_nr` or `smooth_dr` that differs from its default is an
    /// error naming `smooth`. Giving `smooth` with `smooth_nr` / `smooth_dr` at their default values
    /// is accepted (a typed config cannot tell them from keys left out): `smooth` wins.
    pub fn smoothing(&self) -> Result<(f64, f64)> {
        self.check_keys()?;
        let d = OverlapKeys::default();
        resolve_smoothing(self.smooth, (self.smooth_nr, self.smooth_dr), (d.smooth_nr, d.smooth_dr))
    }

    /// The floor of every denominator: `eps` when `smooth_dr = 0` (a denominator can then be 0),
    /// else `min(eps, smooth_dr)`, which a denominator (a sum of non-negative terms plus
    /// `smooth_dr`) reaches only with probabilities outside `[0, 1]`. Every key checked.
    pub fn denominator_floor(&self) -> Result<f64> {
        let (_, dr) = self.smoothing()?;
        Ok(denominator_floor(self.eps, dr))
    }

    /// The cross-key checks of the shared keys: `ignore_mode=mask` needs an `ignore_index`.
    pub(crate) fn check_combination(&self) -> Result<()> {
        if self.ignore_mode == IgnoreMode::Mask && self.ignore_index.is_none() {
            return Err(LossError::config("ignore_mode", "mask", "masks the pixels of an ignore_index; give ignore_index too"));
        }
        Ok(())
    }
}

/// The floor of a denominator with smoothing `dr` (see [`OverlapKeys::denominator_floor`]).
pub(crate) fn denominator_floor(eps: f64, dr: f64) -> f64 {
    if dr > 0.0 {
        eps.min(dr)
    } else {
        eps
    }
}

/// The smoothing `(nr, dr)` in use from the keys `smooth`, `(smooth_nr, smooth_dr)` and the
/// defaults of the latter: `(s, s)` when `smooth = s` is given, else `(smooth_nr, smooth_dr)`.
/// `smooth` with a `smooth_nr` or `smooth_dr` that differs from its default is an error naming
/// `smooth`; at their defaults they are accepted (a typed config cannot tell them from keys left
/// out) and `smooth` wins. Shared by every loss with these three keys.
pub(crate) fn resolve_smoothing(smooth: Option<f64>, (nr, dr): (f64, f64), (default_nr, default_dr): (f64, f64)) -> Result<(f64, f64)> {
    let Some(s) = smooth else { return Ok((nr, dr)) };
    let other = if nr != default_nr {
        "smooth_nr"
    } else if dr != default_dr {
        "smooth_dr"
    } else {
        return Ok((s, s));
    };
    Err(LossError::config("smooth", fmt_num(s), format!("sets both smooth_nr and smooth_dr; do not give it with `{other}`")))
}

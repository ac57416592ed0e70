//! The keys every overlap loss shares ([`OverlapKeys`]), declared once and embedded in each
//! loss's declaration with `..common: OverlapKeys;`.

use segloss_core::declare::{checks, KeyGroup};
use segloss_core::params::fmt_num;
use segloss_core::{Classes, LossError, Result};

segloss_core::declare_keys! {
    /// The keys shared by every overlap loss: smoothing, the denominator clamp, which pairs are
    /// kept and how they are weighted, and the activation (see `docs/LOSSES.md`, section Overlap
    /// family).
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
        /// every denominator is clamped to >= eps, > 0
        eps: f64 = 1e-7, check checks::positive;
        /// all, or present: pairs with G = 0 are dropped
        classes: Classes = Classes::All;
        /// false drops channel 0 (with at least 2 channels)
        include_background: bool = true;
        /// pixels with that label leave every sum; inside [0, C) it also drops that class (multiclass)
        ignore_index: Option<i64> = None, examples [Some(255)];
        /// weighted average of the kept pairs, one value >= 0 per channel (none: all 1)
        class_weights: Option<Vec<f32>> = None, check checks::weights, examples [Some(vec![0.5, 1.0, 2.0])];
        /// false: pred holds probabilities (softmax/sigmoid skipped), used unclipped
        from_logits: bool = true;
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

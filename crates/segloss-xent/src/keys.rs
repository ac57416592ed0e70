//! The keys several losses of the family share, each declared once: `reduction` (all six) and
//! `from_logits` (all but `ce`). The five sigmoid losses embed both as [`XentKeys`], `ce` embeds
//! [`ReductionKey`] alone; either way the field is `common`, so `config.common.reduction` reads
//! the reduction of any loss of the family.

use segloss_core::declare::{checks, KeyGroup, KeyValue, Required};
use segloss_core::{KeyInfo, LossError, Params, Reduction, Result, Value};

/// The largest positive weight `q` (`bce`'s `pos_weight`, `wce`'s `beta`). The term
/// `q y softplus(-x)` and the f32 lane sums of 128 such terms stay finite for `|x| w` up to about
/// 2e24 (`w` the weight input); at `q = 1e38` they overflow on ordinary logits.
pub const MAX_POS_WEIGHT: f32 = 1e12;

/// A positive weight `q` is at most [`MAX_POS_WEIGHT`] (the callers check its lower bound first).
fn check_bound(key: &str, q: f32) -> Result<()> {
    if q > MAX_POS_WEIGHT {
        let bound = MAX_POS_WEIGHT.to_value();
        return Err(LossError::config(key, q.to_value(), format!("must be <= {bound} (a larger positive weight overflows the f32 sums)")));
    }
    Ok(())
}

/// `bce`'s `pos_weight`: finite, >= 0 and at most [`MAX_POS_WEIGHT`].
pub(crate) fn check_pos_weight(key: &str, q: &f32) -> Result<()> {
    checks::nonneg(key, q)?;
    check_bound(key, *q)
}

/// `wce`'s `beta`: given, > 0 and at most [`MAX_POS_WEIGHT`].
pub(crate) fn check_beta(key: &str, q: &Required<f32>) -> Result<()> {
    checks::required_positive(key, q)?;
    q.0.map_or(Ok(()), |q| check_bound(key, q))
}

segloss_core::declare_keys! {
    /// The `reduction` key of every loss of the family.
    pub struct ReductionKey {
        /// mean, sum or none (the per-element map; its sum through Loss)
        reduction: Reduction = Reduction::Mean;
    }
}

segloss_core::declare_keys! {
    /// The `from_logits` key (its part of [`XentKeys`]; alone in `topk_ce`, which has no
    /// `reduction`).
    pub struct LogitsKey {
        /// false: pred holds probabilities, clipped to [1e-7, 1-1e-7]
        from_logits: bool = true;
    }
}

/// The keys `bce`, `wce`, `balanced_ce`, `focal` and `distance_bce` share: `from_logits` and
/// `reduction` (their defaults and doc lines are those of their declarations above: `true` and
/// `mean`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct XentKeys {
    /// `from_logits`: `false` when `pred` holds probabilities (clipped to `[1e-7, 1 - 1e-7]`).
    pub from_logits: bool,
    /// `reduction`: mean, sum or none.
    pub reduction: Reduction,
}

impl XentKeys {
    fn join(l: LogitsKey, r: ReductionKey) -> Self {
        XentKeys { from_logits: l.from_logits, reduction: r.reduction }
    }

    fn split(&self) -> (LogitsKey, ReductionKey) {
        (LogitsKey { from_logits: self.from_logits }, ReductionKey { reduction: self.reduction })
    }
}

impl Default for XentKeys {
    fn default() -> Self {
        XentKeys::join(LogitsKey::default(), ReductionKey::default())
    }
}

impl KeyGroup for XentKeys {
    fn key_infos(out: &mut Vec<KeyInfo>) {
        LogitsKey::key_infos(out);
        ReductionKey::key_infos(out);
    }

    fn read(&mut self, p: &mut Params) -> Result<()> {
        let (mut l, mut r) = self.split();
        l.read(p)?;
        r.read(p)?;
        *self = XentKeys::join(l, r);
        Ok(())
    }

    fn write(&self, out: &mut Vec<(String, Value)>) {
        let (l, r) = self.split();
        l.write(out);
        r.write(out);
    }

    fn check_keys(&self) -> Result<()> {
        let (l, r) = self.split();
        l.check_keys()?;
        r.check_keys()
    }
}

//! `log_cosh_dice`: `log(cosh(L))` with `L` the value of `dice` with the same keys (after its
//! average over the pairs), Jadon 2020, "A survey of loss functions for semantic segmentation".
//! See `docs/LOSSES.md`, section log-cosh Dice.
//!
//! The value is computed as `|L| + log1p(exp(-2|L|)) - ln 2` (no overflow of `cosh`); the gradient
//! is `tanh(L)` times `dice`'s gradient. The log cosh applies to the final `dice` scalar, not per
//! pair (Jadon's code and paper).
//!
//! Keys: those of `dice` ([`DiceKeys`] and [`OverlapKeys`]), with the same defaults.
//!
//! Anchors (equal): `log(cosh(MONAI DiceLoss(...)))` with `dice`'s key mapping; Jadon's
//! `log_cosh_dice_loss(y_true, y_pred)` (probabilities, one channel) is
//! `log_cosh_dice:reduce=batch,smooth=1,from_logits=false` (for several channels Jadon pools them
//! into one ratio).

use crate::common::OverlapKeys;
use crate::dice::DiceKeys;
use crate::engine::Engine;
use segloss_core::declare::WeightUse;
use segloss_core::{Batch, Loss, Result};

segloss_core::declare_loss! {
    /// `log_cosh_dice`: `log(cosh(L))`, `L` the `dice` loss with the same keys (see the
    /// [module docs](self)).
    pub struct LogCoshDiceConfig {
        name: "log_cosh_dice",
        family: "segloss-overlap",
        modes: [Binary, Multiclass, Multilabel],
        weight: WeightUse::None,
        formula: "log(cosh(L)), L = the dice loss with the same keys",
        anchor: "log(cosh(MONAI `DiceLoss(...)`)) with dice's key mapping",
        aliases: [],
        keys: {
            ..dice: DiceKeys;
            ..common: OverlapKeys;
        }
    }
}

impl LogCoshDiceConfig {
    /// Checks every key and builds the loss.
    pub fn build(&self) -> Result<LogCoshDice> {
        self.check_keys()?;
        Ok(LogCoshDice { engine: self.dice.engine("log_cosh_dice", &self.common, self.mode)?, config: self.clone() })
    }
}

/// The built `log_cosh_dice` loss (from [`LogCoshDiceConfig::build`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LogCoshDice {
    config: LogCoshDiceConfig,
    pub(crate) engine: Engine,
}

/// `log(cosh(l))` without overflow: `|l| + log1p(exp(-2|l|)) - ln 2`.
pub(crate) fn log_cosh(l: f64) -> f64 {
    let a = l.abs();
    a + (-2.0 * a).exp().ln_1p() - std::f64::consts::LN_2
}

impl Loss for LogCoshDice {
    fn name(&self) -> &'static str {
        "log_cosh_dice"
    }

    fn config(&self) -> Option<&dyn std::any::Any> {
        Some(&self.config)
    }

    /// The Dice runs with upstream 1 into `grad`, which is then scaled by `upstream * tanh(L)`.
    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        let l = match grad {
            None => self.engine.eval(batch, None, 1.0)?,
            Some(g) => {
                let l = self.engine.eval(batch, Some(&mut *g), 1.0)?;
                let s = (upstream as f64 * l.tanh()) as f32;
                g.iter_mut().for_each(|x| *x *= s);
                l
            }
        };
        Ok(log_cosh(l) as f32)
    }
}

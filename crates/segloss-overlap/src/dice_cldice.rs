//! `dice_cldice`: `(1 - alpha) D + alpha cl`, `D` the `dice` loss and `cl` the `cldice` loss with
//! the same `smooth_nr`, `smooth_dr`, `include_background`, `reduce` and `from_logits` (Shit et al.
//! 2021; MONAI 1.6 `SoftDiceclDiceLoss`). See `docs/LOSSES.md`, section clDice.
//!
//! `dice_cldice:alpha=a` equals `(1-a)*dice:smooth=1+a*cldice`: the smoothing defaults here are
//! clDice's (1), not `dice`'s (1e-5). The Dice term runs the family's `dice` engine (per (image,
//! channel) pair, averaged over the kept pairs), the clDice term [`crate::cldice`]'s.
//!
//! Keys: `alpha` (0.5, in [0, 1]) and the [`ClDiceKeys`]. Anchor (equal): MONAI 1.6
//! `SoftDiceclDiceLoss(iter_, alpha, smooth_nr, smooth_dr, smooth=smooth_hm, include_background,
//! sigmoid|softmax, to_onehot_y=True)`.

use crate::cldice::{ClDiceKeys, ClEngine};
use crate::common::OverlapKeys;
use crate::engine::Engine;
use crate::pairs::Kind;
use segloss_core::declare::{checks, WeightUse};
use segloss_core::{Batch, Loss, Result};

segloss_core::declare_loss! {
    /// `dice_cldice`: `(1 - alpha) dice + alpha cldice` with shared keys (see the
    /// [module docs](self)).
    pub struct DiceClDiceConfig {
        name: "dice_cldice",
        family: "segloss-overlap",
        modes: [Binary, Multiclass, Multilabel],
        weight: WeightUse::None,
        formula: "(1 - alpha) D + alpha cl, D = the dice loss and cl = the cldice loss with the same smoothing and keys",
        anchor: "MONAI 1.6 `SoftDiceclDiceLoss(iter_, alpha, smooth_nr, smooth_dr, smooth=smooth_hm, include_background, sigmoid|softmax, to_onehot_y=True)`",
        aliases: [],
        keys: {
            /// weight of the clDice term, in [0, 1]
            alpha: f64 = 0.5, check checks::unit, examples [0.0, 1.0];
            ..cl: ClDiceKeys;
        }
    }
}

impl DiceClDiceConfig {
    /// Checks every key and builds the loss.
    pub fn build(&self) -> Result<DiceClDice> {
        self.check_keys()?;
        let cl = ClEngine::new("dice_cldice", &self.cl, self.mode)?;
        let (nr, dr) = self.cl.smoothing()?;
        let common = OverlapKeys {
            smooth_nr: nr,
            smooth_dr: dr,
            include_background: self.cl.include_background,
            from_logits: self.cl.from_logits,
            ..OverlapKeys::default()
        };
        let dice =
            Engine::new("dice_cldice", Kind::Dice { squared: false, log: false, pixelwise: false }, self.cl.reduce, &common, self.mode)?;
        Ok(DiceClDice { config: self.clone(), dice, cl })
    }
}

/// The built `dice_cldice` loss (from [`DiceClDiceConfig::build`]).
#[derive(Debug)]
pub struct DiceClDice {
    config: DiceClDiceConfig,
    pub(crate) dice: Engine,
    pub(crate) cl: ClEngine,
}

impl Loss for DiceClDice {
    fn name(&self) -> &'static str {
        "dice_cldice"
    }

    fn config(&self) -> Option<&dyn std::any::Any> {
        Some(&self.config)
    }

    /// The Dice writes `(1 - alpha) upstream dD/dpred` into `grad`, the clDice adds its part.
    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        // clDice's checks first (spatial axes, weight), so its messages win
        self.cl.layout(batch)?;
        let a = self.config.alpha;
        let (d, c) = match grad {
            None => (self.dice.eval(batch, None, 1.0)?, self.cl.eval(batch, None, 1.0, false)?),
            Some(g) => {
                let d = self.dice.eval(batch, Some(&mut *g), (upstream as f64 * (1.0 - a)) as f32)?;
                (d, self.cl.eval(batch, Some(g), upstream as f64 * a, true)?)
            }
        };
        Ok(((1.0 - a) * d + a * c) as f32)
    }
}

//! `mcc`: `1 - MCC`, the Matthews correlation coefficient of the soft confusion counts pooled over
//! the whole batch (every image and every channel), Abhishek & Hamarneh 2021, "Matthews
//! Correlation Coefficient Loss for Deep Convolutional Networks: Application to Skin Lesion
//! Segmentation". See `docs/LOSSES.md`, section mcc.
//!
//! With `p` the sigmoid of the logits (or `pred` itself, unclipped, with `from_logits=false`), `g`
//! the target and `s` the `smooth` key, every sum over every element of the batch:
//!
//! ```text
//! TP = sum p g + s        FP = sum p (1 - g) + s
//! FN = sum (1 - p) g + s  TN = sum (1 - p)(1 - g) + s
//! MCC  = (TP TN - FP FN) / sqrt((TP + FP)(TP + FN)(TN + FP)(TN + FN))
//! loss = 1 - MCC
//! ```
//!
//! The four counts come from the family's pair sums `I = sum p g`, `P = sum p`, `G = sum g` (one
//! statistics pass of the overlap engine, rows added in a fixed order) and the element count `M`:
//! `TP = I + s`, `FP = P - I + s`, `FN = G - I + s`, `TN = M - P - G + I + s`. With
//! `A = TP + FP`, `B = TP + FN`, `C = TN + FP`, `D = TN + FN` (`B` and `C` do not depend on `p`),
//! `dL/dp = (B - (B + C) g)/sqrt(ABCD) + MCC (1/A - 1/D)/2`, an affine function of `g` that the
//! engine's gradient pass writes through the sigmoid.
//!
//! Keys: `smooth` (1e-5, > 0: smp's `eps`, added to each count), `from_logits` (true). Binary and
//! multilabel (smp pools the channels of a multi-channel input the same way); multiclass, a
//! `weight` input and targets outside `[0, 1]` are errors.
//!
//! Anchor (equal): segmentation_models_pytorch 0.6 `MCCLoss(eps=smooth)(p, target)` with `p` the
//! sigmoid of the logits (smp takes probabilities; `from_logits=false` takes them as smp does).

use crate::common::OverlapKeys;
use crate::driver;
use crate::engine::Engine;
use crate::kernels::{Coef, Stats};
use crate::pairs::Kind;
use segloss_core::declare::{checks, WeightUse};
use segloss_core::kernel::{check_grad_len, Backend};
use segloss_core::{resolve, Batch, Loss, LossError, Mode, Reduce, Result};

segloss_core::declare_loss! {
    /// `mcc`: `1 - MCC` of the soft confusion counts over the batch (see the [module docs](self)).
    pub struct MccConfig {
        name: "mcc",
        family: "segloss-overlap",
        modes: [Binary, Multilabel],
        weight: WeightUse::None,
        formula: "1 - (TP TN - FP FN)/sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)), soft counts over the batch, each + smooth",
        anchor: "segmentation_models_pytorch `MCCLoss(eps=smooth)` on the sigmoid probabilities",
        aliases: [],
        keys: {
            /// added to each of TP, TN, FP, FN (smp's eps), > 0
            smooth: f64 = 1e-5, check checks::positive, examples [1e-3, 1.0];
            /// false: pred holds probabilities (sigmoid skipped), used unclipped
            from_logits: bool = true;
        }
    }
}

impl MccConfig {
    /// Checks every key and builds the loss.
    pub fn build(&self) -> Result<Mcc> {
        self.check_keys()?;
        // the plain pair sums I, P, G of the engine's statistics pass (the Dice kind's, without
        // squares or per-pixel terms); `mcc` pools them over every row itself
        let keys = OverlapKeys { from_logits: self.from_logits, ..OverlapKeys::default() };
        let kind = Kind::Dice { squared: false, log: false, pixelwise: false };
        let engine = Engine::new("mcc", kind, Reduce::Batch, &keys, self.mode)?;
        Ok(Mcc { config: self.clone(), engine })
    }
}

/// The built `mcc` loss (from [`MccConfig::build`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Mcc {
    config: MccConfig,
    engine: Engine,
}

/// The loss and `(a, b)` of `dL/dp = a + b g` from the pooled sums, the element count `m` and the
/// smoothing `s`.
pub(crate) fn mcc_of(st: &Stats, m: f64, s: f64) -> (f64, f64, f64) {
    let tp = st.i + s;
    let fp = st.p - st.i + s;
    let fn_ = st.g - st.i + s;
    let tn = m - st.p - st.g + st.i + s;
    let (a, b, c, d) = (tp + fp, tp + fn_, tn + fp, tn + fn_);
    // a product of square roots: no overflow or underflow of the product of four counts
    let den = a.sqrt() * b.sqrt() * c.sqrt() * d.sqrt();
    let mcc = (tp * tn - fp * fn_) / den;
    let ca = b / den + 0.5 * mcc * (1.0 / a - 1.0 / d);
    let cb = -(b + c) / den;
    (1.0 - mcc, ca, cb)
}

impl Mcc {
    fn eval(&self, batch: &Batch<'_>, mut grad: Option<&mut [f32]>, upstream: f32) -> Result<f64> {
        let layout = resolve(batch, self.config.mode)?;
        if layout.mode == Mode::Multiclass {
            return Err(LossError::unsupported(
                "mcc",
                format!(
                    "is binary or multilabel only (got mode multiclass{}): it pools the counts of every element, as smp's MCCLoss does",
                    if self.config.mode.is_some() { "" } else { ", inferred from integer labels with C > 1 channels" }
                ),
            ));
        }
        let prep = self.engine.prepare(batch)?;
        check_grad_len(&grad, prep.layout.len(), batch)?;
        let backend = Backend::current();
        let (stats, bad, cached) = driver::stats(&prep.inputs, &prep.kp, backend, grad.as_deref_mut());
        if bad {
            return Err(self.engine.bad_target(batch, &prep));
        }
        // the rows in order: the same bits for any thread count
        let mut tot = Stats::default();
        stats.iter().for_each(|s| tot.add(s));
        let (loss, a, b) = mcc_of(&tot, prep.layout.len() as f64, self.config.smooth);
        if let Some(g) = grad {
            let u = upstream as f64;
            let coefs = vec![Coef { a: u * a, b: u * b, c: 0.0, k: 0.0 }; prep.layout.n * prep.layout.c];
            driver::grad(&prep.inputs, &prep.kp, &coefs, g, backend, cached);
        }
        Ok(loss)
    }
}

impl Loss for Mcc {
    fn name(&self) -> &'static str {
        "mcc"
    }

    fn config(&self) -> Option<&dyn std::any::Any> {
        Some(&self.config)
    }

    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        self.eval(batch, grad, upstream).map(|v| v as f32)
    }
}

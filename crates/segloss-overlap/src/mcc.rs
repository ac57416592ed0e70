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
//! `dL/dp = (1 - g) (B/sqrt(ABCD) + m) + g (-C/sqrt(ABCD) + m)` with `m = MCC (1/A - 1/D)/2`,
//! written through the sigmoid by this module's own gradient pass. It is kept in that
//! form rather than the engine's `a + b g`: with a target of mostly foreground `B >> C`, and
//! `a + b` (`a = B/sqrt(ABCD) + m`, `b = -(B + C)/sqrt(ABCD)`) would cancel in `f32`.
//!
//! Keys: `smooth` (1e-5, > 0: smp's `eps`, added to each count), `from_logits` (true). Binary and
//! multilabel (smp pools the channels of a multi-channel input the same way); multiclass, a
//! `weight` input and targets outside `[0, 1]` are errors.
//!
//! Anchor (equal): segmentation_models_pytorch 0.6 `MCCLoss(eps=smooth)(p, target)` with `p` the
//! sigmoid of the logits (smp takes probabilities; `from_logits=false` takes them as smp does).

use crate::common::OverlapKeys;
use crate::driver::{self, Targets};
use crate::engine::Engine;
use crate::kernels::Stats;
use crate::pairs::Kind;
use segloss_core::declare::{checks, WeightUse};
use segloss_core::input::DenseTarget;
use segloss_core::kernel::{check_grad_len, Backend};
use segloss_core::reduce::{n_blocks, par_for, SharedMut, BLOCK};
use segloss_core::simd::Level;
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

/// The loss and `(a, b)` of `dL/dp = a (1 - g) + b g` from the pooled sums, the element count `m`
/// and the smoothing `s`.
pub(crate) fn mcc_of(st: &Stats, m: f64, s: f64) -> (f64, f64, f64) {
    let tp = st.i + s;
    let fp = st.p - st.i + s;
    let fn_ = st.g - st.i + s;
    let tn = m - st.p - st.g + st.i + s;
    let (a, b, c, d) = (tp + fp, tp + fn_, tn + fp, tn + fn_);
    // a product of square roots: no overflow or underflow of the product of four counts
    let den = a.sqrt() * b.sqrt() * c.sqrt() * d.sqrt();
    let mcc = (tp * tn - fp * fn_) / den;
    let k = 0.5 * mcc * (1.0 / a - 1.0 / d);
    (1.0 - mcc, b / den + k, -c / den + k)
}

impl Mcc {
    fn eval(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f64> {
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
        let level = Level::current();
        let (stats, bad, _) = driver::stats(&prep.inputs, &prep.kp, backend, None);
        if bad {
            return Err(self.engine.bad_target(batch, &prep));
        }
        // the rows in order: the same bits for any thread count
        let mut tot = Stats::default();
        stats.iter().for_each(|s| tot.add(s));
        let len = prep.layout.len();
        let (loss, a, b) = mcc_of(&tot, len as f64, self.config.smooth);
        if let Some(g) = grad {
            let Targets::Dense(y) = &prep.inputs.t else { unreachable!("binary and multilabel targets are dense") };
            let (a, b) = ((upstream as f64 * a) as f32, (upstream as f64 * b) as f32);
            let (x, from_logits) = (&prep.inputs.x, self.config.from_logits);
            let out = SharedMut::new(g);
            par_for(n_blocks(len, BLOCK), &|k| {
                let (lo, hi) = (k * BLOCK, ((k + 1) * BLOCK).min(len));
                let mut buf = vec![0.0f32; if matches!(y, DenseTarget::Int(_)) { hi - lo } else { 0 }];
                let yk = match y {
                    DenseTarget::F32(v) => &v[lo..hi],
                    DenseTarget::Int(_) => y.chunk(lo, &mut buf),
                };
                // SAFETY: blocks cover disjoint element ranges.
                let o = unsafe { out.slice(lo, hi - lo) };
                match backend {
                    Backend::Simd => kernels::simd::grad(level, &x[lo..hi], yk, from_logits, a, b, o),
                    Backend::Scalar => kernels::scalar::grad(&x[lo..hi], yk, from_logits, a, b, o),
                }
            });
        }
        Ok(loss)
    }
}

pub(crate) mod kernels {
    //! The gradient pass of `mcc`, twice with the same signature: `out = (a (1 - y) + b y) dp/dx`
    //! with `dp/dx = p (1 - p)` for logits (1 for probabilities). Tail: the SIMD kernel pads the
    //! last vector and stores only the valid lanes.

    pub mod scalar {
        //! One element at a time, in `f64`.

        /// The gradient of one block of elements into `out`.
        pub fn grad(x: &[f32], y: &[f32], from_logits: bool, a: f32, b: f32, out: &mut [f32]) {
            for ((&xi, &yi), o) in x.iter().zip(y).zip(out.iter_mut()) {
                let (xi, yi) = (xi as f64, yi as f64);
                let dp = if from_logits {
                    // p (1 - p) = e / (1 + e)^2 with e = exp(-|x|), without cancellation
                    let e = (-xi.abs()).exp();
                    e / ((1.0 + e) * (1.0 + e))
                } else {
                    1.0
                };
                *o = ((a as f64 * (1.0 - yi) + b as f64 * yi) * dp) as f32;
            }
        }
    }

    pub mod simd {
        //! 8 elements per `f32x8` (`mcc_simd.rs`, compiled once per level with the overlap
        //! kernels): each call runs the copy compiled for `level`, or the baseline's where this
        //! CPU cannot run that level.
        use crate::kernels::{simd_avx2, simd_avx512, simd_base};
        use segloss_core::simd::Level;

        /// The gradient of one block of elements into `out` at `level`.
        pub fn grad(level: Level, x: &[f32], y: &[f32], from_logits: bool, a: f32, b: f32, out: &mut [f32]) {
            segloss_core::simd_dispatch!(level, mcc::grad(x, y, from_logits, a, b, out))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use segloss_core::simd::Level;

        /// At every SIMD level this CPU runs.
        #[test]
        fn simd_matches_scalar() {
            for (level, from_logits) in Level::supported_levels().flat_map(|l| [(l, true), (l, false)]) {
                for n in 0..=40usize {
                    let x: Vec<f32> = (0..n)
                        .map(|i| (i as f32 * 0.77).sin() * if from_logits { 30.0 } else { 0.5 } + if from_logits { 0.0 } else { 0.5 })
                        .collect();
                    let y: Vec<f32> = (0..n).map(|i| if i % 4 == 0 { 0.3 } else { (i % 3 == 0) as u8 as f32 }).collect();
                    let (mut g1, mut g2) = (vec![f32::NAN; n + 3], vec![f32::NAN; n + 3]);
                    simd::grad(level, &x, &y, from_logits, 0.8, -1.3, &mut g1[..n]);
                    scalar::grad(&x, &y, from_logits, 0.8, -1.3, &mut g2[..n]);
                    for (u, v) in g1[..n].iter().zip(&g2[..n]) {
                        assert!((u - v).abs() <= 1e-6 * (1.0 + v.abs()), "{level:?} {from_logits} {n}: {g1:?} vs {g2:?}");
                    }
                    assert!(g1[n..].iter().all(|v| v.is_nan()), "written past the block");
                }
            }
        }
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

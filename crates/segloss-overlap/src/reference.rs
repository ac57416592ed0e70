//! Test hooks (feature `testing`, not public API): a sequential reference evaluation, generic
//! over `f32`/`f64` (the scalar kernels on whole rows, or pixel by pixel for the softmax, the pair
//! formulas, then the gradient), which tests run in `f64` to finite-difference the analytic
//! gradient and to check the SIMD driver; and the statistics of every row ([`row_stats`]).

use crate::engine::Engine;
pub use crate::kernels::Stats;
use crate::kernels::{scalar, Coef};
use crate::log_cosh_dice::log_cosh;
use crate::{driver, pairs};
use crate::{DiceConfig, GeneralizedDiceConfig, JaccardConfig, LogCoshDiceConfig, TverskyConfig};
use num_traits::Float;
use segloss_core::kernel::Backend;
use segloss_core::{Batch, Loss, LossError, Mode, Result};

/// The engine of a loss of this family (rebuilt from its config), and whether its value goes
/// through log cosh (`log_cosh_dice`).
fn engine_of(loss: &dyn Loss) -> Result<(Engine, bool)> {
    let c = loss.config();
    let c = c.ok_or_else(|| LossError::unsupported(loss.name(), "not a loss of the overlap family"))?;
    if let Some(c) = c.downcast_ref::<DiceConfig>() {
        Ok((c.build()?.engine, false))
    } else if let Some(c) = c.downcast_ref::<TverskyConfig>() {
        Ok((c.build()?.engine, false))
    } else if let Some(c) = c.downcast_ref::<JaccardConfig>() {
        Ok((c.build()?.engine, false))
    } else if let Some(c) = c.downcast_ref::<GeneralizedDiceConfig>() {
        Ok((c.build()?.engine, false))
    } else if let Some(c) = c.downcast_ref::<LogCoshDiceConfig>() {
        Ok((c.build()?.engine, true))
    } else {
        Err(LossError::unsupported(loss.name(), "not a loss of the overlap family"))
    }
}

/// The statistics of every row `n * C + c` of `batch` under `loss` (a loss of this family), after
/// every check, with the backend of [`Backend::current`].
pub fn row_stats(loss: &dyn Loss, batch: &Batch<'_>) -> Result<Vec<Stats>> {
    let (engine, _) = engine_of(loss)?;
    let prep = engine.prepare(batch)?;
    let (stats, bad, _) = driver::stats(&prep.inputs, &prep.kp, Backend::current(), None);
    if bad {
        return Err(engine.bad_target(batch, &prep));
    }
    Ok(stats)
}

/// The targets of a reference evaluation, in row-major order.
#[derive(Debug, Clone, Copy)]
pub enum RefTarget<'a, T> {
    /// Binary / multilabel targets, `pred`'s element order.
    Dense(&'a [T]),
    /// Multiclass labels `[N, S]`.
    Labels(&'a [i64]),
    /// Multiclass class probabilities `[N, C, S]`.
    Probs(&'a [T]),
}

/// The loss and its gradient (upstream 1) of `loss` (a loss of this family) at `x` (logits or
/// probabilities, `pred`'s row-major order) with targets `t`; `batch` (the same problem in `f32`)
/// fixes the layout, the mode and the checks.
pub fn eval<T: Float>(loss: &dyn Loss, batch: &Batch<'_>, x: &[T], t: RefTarget<'_, T>) -> Result<(f64, Vec<T>)> {
    let (engine, log_cosh_of) = engine_of(loss)?;
    let (layout, kp, keep) = {
        let prep = engine.prepare(batch)?;
        (prep.layout, prep.kp, prep.keep)
    };
    let (n, c, s) = (layout.n, layout.c, layout.s);
    let t_len = match t {
        RefTarget::Dense(v) | RefTarget::Probs(v) => v.len(),
        RefTarget::Labels(l) => l.len() * c,
    };
    let kind_ok = match t {
        RefTarget::Dense(_) => layout.mode != Mode::Multiclass,
        _ => layout.mode == Mode::Multiclass,
    };
    if x.len() != layout.len() || t_len != layout.len() || !kind_ok {
        return Err(LossError::unsupported(
            "reference",
            format!(
                "x ({} values) and the targets must match the batch's layout ({} elements, mode {})",
                x.len(),
                layout.len(),
                layout.mode
            ),
        ));
    }
    let mut stats = vec![Stats::default(); n * c];
    let ignore = engine.ignore_index;
    let label_of = |l: &[i64], i: usize, j: usize| -> Option<usize> {
        let v = l[i * s + j];
        (Some(v) != ignore && v >= 0 && (v as usize) < c).then_some(v as usize)
    };
    let mut zp = vec![T::zero(); c];
    let mut yp = vec![T::zero(); c];
    let pixel = |i: usize, j: usize, zp: &mut [T], yp: &mut [T]| -> (Option<usize>, bool, bool) {
        for k in 0..c {
            zp[k] = x[(i * c + k) * s + j];
        }
        match t {
            RefTarget::Labels(l) => {
                let lab = label_of(l, i, j);
                (lab, lab.is_some(), false)
            }
            RefTarget::Probs(p) => {
                for k in 0..c {
                    yp[k] = p[(i * c + k) * s + j];
                }
                (None, true, true)
            }
            RefTarget::Dense(_) => unreachable!("multiclass targets are labels or probabilities"),
        }
    };
    if layout.mode == Mode::Multiclass {
        for i in 0..n {
            for j in 0..s {
                let (lab, counted, soft) = pixel(i, j, &mut zp, &mut yp);
                if counted {
                    scalar::softmax_pixel_stats(&zp, lab, soft.then_some(&yp[..]), &kp, &mut stats[i * c..(i + 1) * c]);
                }
            }
        }
    } else {
        let RefTarget::Dense(y) = t else { unreachable!("checked above") };
        for (r, st) in stats.iter_mut().enumerate() {
            *st = scalar::dense_stats(&x[r * s..(r + 1) * s], &y[r * s..(r + 1) * s], &kp).0;
        }
    }
    let pp: pairs::PairParams<'_> = engine.pair_params(&keep);
    let (value, coefs): (f64, Vec<Coef>) = pairs::finalize(&pp, n, c, &stats, 1.0);
    let mut grad = vec![T::zero(); x.len()];
    if layout.mode == Mode::Multiclass {
        let mut gp = vec![T::zero(); c];
        for i in 0..n {
            for j in 0..s {
                let (lab, counted, soft) = pixel(i, j, &mut zp, &mut yp);
                if counted {
                    scalar::softmax_pixel_grad(&zp, lab, soft.then_some(&yp[..]), &kp, &coefs[i * c..(i + 1) * c], &mut gp);
                    for k in 0..c {
                        grad[(i * c + k) * s + j] = gp[k];
                    }
                }
            }
        }
    } else {
        let RefTarget::Dense(y) = t else { unreachable!("checked above") };
        for r in 0..n * c {
            scalar::dense_grad(&x[r * s..(r + 1) * s], &y[r * s..(r + 1) * s], &kp, &coefs[r], &mut grad[r * s..(r + 1) * s]);
        }
    }
    if log_cosh_of {
        // log(cosh(L)), gradient tanh(L) dL
        let th = T::from(value.tanh()).unwrap_or(T::nan());
        grad.iter_mut().for_each(|g| *g = *g * th);
        return Ok((log_cosh(value), grad));
    }
    Ok((value, grad))
}

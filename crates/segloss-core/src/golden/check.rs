//! Comparing a loss with a fixture case.

use super::Case;
use crate::Loss;
use std::cmp::Ordering;

/// How close a loss came to a case (returned by [`check_loss`] when it passes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Check {
    /// `|value - ref| / |ref|`.
    pub value_rel: f64,
    /// `max |grad - ref| / max |ref|` (0 without a reference gradient).
    pub grad_rel: f64,
    /// The value's error as a fraction of its tolerance.
    pub value_margin: f64,
    /// The gradient's error as a fraction of its tolerance.
    pub grad_margin: f64,
}

impl Check {
    /// The larger margin.
    pub fn margin(&self) -> f64 {
        self.value_margin.max(self.grad_margin)
    }
}

/// Row-major multi-index of the flat index `i` in `shape`.
pub fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (k, &d) in shape.iter().enumerate().rev() {
        idx[k] = i % d.max(1);
        i /= d.max(1);
    }
    idx
}

/// `err <= tol`, false when either is NaN.
fn within(err: f64, tol: f64) -> bool {
    matches!(err.partial_cmp(&tol), Some(Ordering::Less | Ordering::Equal))
}

/// Checks `loss` against a loss case: builds the batch from its inputs ([`Case::loss_inputs`]),
/// runs `forward_backward` and `forward`, and requires
/// `|value - ref| <= value_rtol |ref| + value_atol` for both values and, when the case has a
/// reference gradient, `max |grad - ref| <= grad_tol_of_max * max |ref|` (a NaN fails both).
/// The error names the file, the case, its spec and Python line, and the worst gradient element
/// (flat and multi-index, got, want).
pub fn check_loss(case: &Case, loss: &dyn Loss, value_rtol: f64, value_atol: f64, grad_tol_of_max: f64) -> Result<Check, String> {
    let want = case.expected.value.ok_or_else(|| case.error("the case has no expected value"))?;
    let inputs = case.loss_inputs()?;
    let batch = inputs.batch();
    let (value, grad) = loss.forward_backward(&batch).map_err(|e| case.error(format!("forward_backward failed: {e}")))?;
    let fwd = loss.forward(&batch).map_err(|e| case.error(format!("forward failed: {e}")))?;
    let value_tol = value_rtol * want.abs() + value_atol;
    let value_err = (value as f64 - want).abs();
    let mut problems = Vec::new();
    if !within(value_err, value_tol) {
        problems.push(format!("value {value:e} vs reference {want:e}: |diff| = {value_err:e} > {value_rtol:e} |ref| + {value_atol:e}"));
    }
    let fwd_err = (fwd as f64 - want).abs();
    if !within(fwd_err, value_tol) {
        problems.push(format!("forward() value {fwd:e} vs reference {want:e}: |diff| = {fwd_err:e}"));
    }
    let (mut grad_rel, mut grad_margin) = (0.0, 0.0);
    if let Some(reference) = &case.expected.grad {
        if grad.shape() != reference.shape.as_slice() {
            problems.push(format!("gradient shape {:?}, reference gradient shape {:?}", grad.shape(), reference.shape));
        } else {
            let scale = reference.data.iter().fold(0.0f64, |m, g| m.max(g.abs()));
            let (worst, diff) = grad
                .iter()
                .zip(&reference.data)
                .map(|(&g, &r)| if g.is_finite() { (g as f64 - r).abs() } else { f64::INFINITY })
                .enumerate()
                .fold((0, 0.0f64), |(wi, wd), (i, d)| if d > wd { (i, d) } else { (wi, wd) });
            let tol = grad_tol_of_max * scale;
            grad_rel = if diff == 0.0 { 0.0 } else { diff / scale };
            grad_margin = if diff == 0.0 { 0.0 } else { diff / tol };
            if !within(diff, tol) {
                let got = grad.iter().nth(worst).copied().unwrap_or(f32::NAN);
                problems.push(format!(
                    "gradient: max |diff| = {diff:e} > {grad_tol_of_max:e} * max |ref| = {tol:e}; worst at flat index {worst} \
                     (multi-index {:?}): got {got:e}, want {:e}",
                    unravel(worst, &reference.shape),
                    reference.data[worst]
                ));
            }
        }
    }
    if !problems.is_empty() {
        return Err(case.error(problems.join("\n    ")));
    }
    let value_rel = if value_err == 0.0 { 0.0 } else { value_err / want.abs() };
    let value_margin = if value_err == 0.0 { 0.0 } else { value_err / value_tol };
    Ok(Check { value_rel, grad_rel, value_margin, grad_margin })
}

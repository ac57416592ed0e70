//! The checks of the property-test kit, each taking any `&dyn Loss`:
//! [`check_gradient`], [`check_stability`], [`check_determinism`], [`check_layouts`],
//! [`check_per_image`]. Each returns
//! `Err` with a report naming the worst or first failing element, so a test can `unwrap()` it.

use super::problem::{problems, Problem, ProblemConfig};
use super::Layouts;
use crate::{Batch, Loss};
use ndarray::{ArrayD, ArrayViewD, IxDyn, ShapeBuilder};
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

/// Tolerances of [`check_gradient`]: element `i` passes when
/// `|analytic_i - numeric_i| <= abs + rel * |numeric_i| + noise_i`, where `noise_i` is the
/// finite-difference noise of an f32 loss, `4 ulp(max(|f(x+h)|, |f(x-h)|)) / (2 h_i)`, computed per
/// element (the loss value is an f32: its rounding divided by the step is all a central
/// difference can resolve).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradTolerance {
    /// Absolute part.
    pub abs: f64,
    /// Part relative to the element's numeric gradient.
    pub rel: f64,
    /// Step: `h_i = step * max(1, |x_i|)` for logits; for probabilities also at most half the
    /// distance to 0 and to 1, so both evaluations stay inside `[0, 1]`.
    pub step: f64,
    /// For piecewise losses (a selection, a threshold, a sort, pooling ties): an element whose
    /// central difference fails may pass on either one-sided difference, `(f(x+h) - f(x)) / h` or
    /// `(f(x) - f(x-h)) / h`, with the same tolerance (its noise term doubled). Near a kink the
    /// central difference averages two slopes while the subgradient a loss takes equals one of
    /// them; a wrong gradient still fails both sides. Off by default.
    pub kinks: bool,
}

impl Default for GradTolerance {
    /// `abs = 1e-5`, `rel = 1e-2`, `step = 1e-2`, `kinks = false`: a truncation error of `h^2 f''' / 6` stays near
    /// 1e-5 for smooth losses of O(1) logits; the noise term covers the f32 rounding.
    fn default() -> Self {
        GradTolerance { abs: 1e-5, rel: 1e-2, step: 1e-2, kinks: false }
    }
}

/// The worst element of a gradient check.
#[derive(Debug, Clone, PartialEq)]
pub struct GradReport {
    /// Its multi-index in `pred`.
    pub index: Vec<usize>,
    /// The loss's gradient there.
    pub analytic: f64,
    /// The central difference there.
    pub numeric: f64,
    /// Its tolerance.
    pub tolerance: f64,
    /// `|analytic - numeric| / tolerance` (the check passes below 1).
    pub ratio: f64,
}

fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for ax in (0..shape.len()).rev() {
        idx[ax] = i % shape[ax].max(1);
        i /= shape[ax].max(1);
    }
    idx
}

fn ulp(x: f32) -> f64 {
    let x = x.abs();
    if !x.is_finite() {
        return f64::INFINITY;
    }
    (f32::from_bits(x.to_bits() + 1) - x) as f64
}

/// Checks the loss's gradient at `problem` against central differences of its value, element by
/// element (see [`GradTolerance`]). Returns the worst element, or an error describing it.
pub fn check_gradient(loss: &dyn Loss, problem: &Problem, tol: &GradTolerance) -> Result<GradReport, String> {
    let (_, grad) = loss.forward_backward(&problem.batch()).map_err(|e| format!("{}: forward_backward failed: {e}", loss.name()))?;
    let x0: Vec<f32> = problem.pred.iter().copied().collect();
    let g: Vec<f32> = grad.iter().copied().collect();
    let shape = problem.pred.shape().to_vec();
    let mut worst: Option<GradReport> = None;
    let mut x = x0.clone();
    // the value at x0, for the one-sided differences of `tol.kinks`
    let f0 = match tol.kinks {
        true => Some(loss.forward(&problem.batch()).map_err(|e| format!("{}: forward failed: {e}", loss.name()))?),
        false => None,
    };
    for i in 0..x0.len() {
        let xi = x0[i] as f64;
        let mut h = tol.step * xi.abs().max(1.0);
        if problem.probabilities {
            h = h.min(xi / 2.0).min((1.0 - xi) / 2.0);
            if h <= 0.0 {
                continue; // p exactly 0 or 1: no central difference inside [0, 1]
            }
        }
        let mut eval = |d: f64| -> Result<(f64, f32), String> {
            x[i] = (xi + d) as f32;
            let p = problem.with_pred(ArrayD::from_shape_vec(IxDyn(&shape), x.clone()).expect("shape"));
            let v = loss.forward(&p.batch()).map_err(|e| format!("{}: forward failed at {:?}: {e}", loss.name(), unravel(i, &shape)))?;
            Ok((v as f64, v))
        };
        let (fp, vp) = eval(h)?;
        let (fm, vm) = eval(-h)?;
        x[i] = x0[i];
        // the step actually taken, after rounding x +- h to f32
        let hp = ((xi + h) as f32) as f64 - xi;
        let hm = xi - ((xi - h) as f32) as f64;
        let numeric = (fp - fm) / (hp + hm);
        let noise = 4.0 * ulp(vp.abs().max(vm.abs())) / (hp + hm);
        let analytic = g[i] as f64;
        let judge = |numeric: f64, noise: f64| {
            let tolerance = tol.abs + tol.rel * numeric.abs() + noise;
            let err = (analytic - numeric).abs();
            (numeric, tolerance, if err.is_nan() { f64::INFINITY } else { err / tolerance })
        };
        let (mut numeric, mut tolerance, mut ratio) = judge(numeric, noise);
        if let Some(vf) = f0.filter(|_| ratio > 1.0) {
            let f = vf as f64;
            for (d, h) in [(fp - f, hp), (f - fm, hm)] {
                let one = judge(d / h, 4.0 * ulp(vf.abs().max(vp.abs()).max(vm.abs())) / h);
                if one.2 < ratio {
                    (numeric, tolerance, ratio) = one;
                }
            }
        }
        if worst.as_ref().is_none_or(|w| ratio > w.ratio) {
            worst = Some(GradReport { index: unravel(i, &shape), analytic, numeric, tolerance, ratio });
        }
    }
    let worst = worst.unwrap_or(GradReport { index: Vec::new(), analytic: 0.0, numeric: 0.0, tolerance: 0.0, ratio: 0.0 });
    if worst.ratio > 1.0 {
        return Err(format!(
            "{}: gradient{:?}: analytic {} vs numeric {} (tolerance {:.3e}, {:.1}x over)",
            loss.name(),
            worst.index,
            worst.analytic,
            worst.numeric,
            worst.tolerance,
            worst.ratio
        ));
    }
    Ok(worst)
}

/// What [`check_stability`] sweeps.
#[derive(Debug, Clone, PartialEq)]
pub struct StabilityConfig {
    /// The problems: mode, channel count (`shape[1]`), probabilities or logits, soft or
    /// class-probability targets, `ignore_index`, weight. The image sizes are drawn (1 to 6 per
    /// axis, one or two images), so `shape`'s other axes are not used.
    pub problem: ProblemConfig,
    /// How many problems to draw (default 256, or `PROPTEST_CASES` when set).
    pub cases: u32,
}

impl StabilityConfig {
    /// A sweep of `problem`'s kind at the default case count.
    pub fn new(problem: ProblemConfig) -> Self {
        let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
        StabilityConfig { problem, cases }
    }
}

/// Draws problems from the edges that break losses (logits at `±1e4` and `±88`, probabilities
/// exactly 0 and 1, empty and full masks, every pixel ignored, one-pixel images; see
/// [`problems`]) and asserts a finite value and a finite gradient for each. On failure the
/// input is shrunk by proptest and printed. Returns the number of problems run.
pub fn check_stability(loss: &dyn Loss, cfg: &StabilityConfig) -> Result<u32, String> {
    let mut runner = TestRunner::new(Config { cases: cfg.cases, failure_persistence: None, ..Config::default() });
    let count = std::cell::Cell::new(0u32);
    let result = runner.run(&problems(cfg.problem.clone()), |p| {
        count.set(count.get() + 1);
        let (v, g) = loss.forward_backward(&p.batch()).map_err(|e| TestCaseError::fail(format!("error: {e}")))?;
        if !v.is_finite() {
            return Err(TestCaseError::fail(format!("value {v}")));
        }
        if let Some(i) = g.iter().position(|x| !x.is_finite()) {
            return Err(TestCaseError::fail(format!("gradient{:?} = {}", unravel(i, g.shape()), g.iter().nth(i).unwrap())));
        }
        Ok(())
    });
    match result {
        Ok(()) => Ok(count.get()),
        Err(TestError::Fail(why, p)) => Err(format!("{}: not stable: {why}\nminimal input: {p:#?}", loss.name())),
        Err(e) => Err(format!("{}: {e}", loss.name())),
    }
}

/// Runs the loss in rayon pools of 1, 2 and 3 threads and asserts the same bits for the value
/// and every gradient element (use a problem spanning several blocks: segloss's reductions cut
/// the input into blocks of 8192 elements). Also asserts that a gradient buffer pre-filled with
/// NaN is fully written.
pub fn check_determinism(loss: &dyn Loss, problem: &Problem) -> Result<(), String> {
    let mut first: Option<(u32, Vec<u32>)> = None;
    for threads in 1..=3 {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().map_err(|e| e.to_string())?;
        let mut g = ArrayD::<f32>::from_elem(IxDyn(problem.pred.shape()), f32::NAN);
        let v = pool
            .install(|| loss.forward_backward_into(&problem.batch(), g.view_mut(), 1.0))
            .map_err(|e| format!("{}: {threads} thread(s): {e}", loss.name()))?;
        if let Some(i) = g.iter().position(|x| x.is_nan()) {
            if !v.is_nan() {
                return Err(format!("{}: gradient{:?} was not written (still NaN)", loss.name(), unravel(i, g.shape())));
            }
        }
        let bits = (v.to_bits(), g.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
        match &first {
            None => first = Some(bits),
            Some(f) if f.0 != bits.0 => {
                return Err(format!("{}: value with {threads} threads {v} differs from 1 thread {}", loss.name(), f32::from_bits(f.0)))
            }
            Some(f) => {
                if let Some(i) = f.1.iter().zip(&bits.1).position(|(a, b)| a != b) {
                    return Err(format!(
                        "{}: gradient{:?} with {threads} threads {} differs from 1 thread {}",
                        loss.name(),
                        unravel(i, problem.pred.shape()),
                        f32::from_bits(bits.1[i]),
                        f32::from_bits(f.1[i])
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Runs the loss on non-contiguous views of the same problem (`pred`, target and weight in
/// Fortran order, with stride 2 on the last axis, and with two spatial axes swapped back by a
/// permuted view) and into a Fortran-order gradient buffer pre-filled with NaN; asserts the same
/// bits as the standard layout.
pub fn check_layouts(loss: &dyn Loss, problem: &Problem) -> Result<(), String> {
    let (v0, g0) = loss.forward_backward(&problem.batch()).map_err(|e| format!("{}: {e}", loss.name()))?;
    let lp = Layouts::of(&problem.pred);
    let lt = TargetLayouts::of(&problem.target);
    let lw = problem.weight.as_ref().map(Layouts::of);
    // a permuted view: the data transposed in memory, viewed back in the original axis order
    let permuted_pred = permuted(&problem.pred);
    let variants: Vec<(&str, ArrayViewD<'_, f32>)> =
        vec![("fortran", lp.fortran.view()), ("strided", lp.strided()), ("permuted", permuted_pred.view())];
    for (k, (name, pred)) in variants.into_iter().enumerate() {
        let target = lt.pick(k);
        let b = Batch::new(pred, target);
        let b = match &lw {
            Some(w) => b.with_weight(if k == 0 { w.fortran.view() } else { w.strided() }),
            None => b,
        };
        let mut g = ArrayD::<f32>::from_elem(IxDyn(problem.pred.shape()).f(), f32::NAN);
        let v = loss.forward_backward_into(&b, g.view_mut(), 1.0).map_err(|e| format!("{}: {name}: {e}", loss.name()))?;
        if v.to_bits() != v0.to_bits() {
            return Err(format!("{}: {name} layout: value {v} vs {v0}", loss.name()));
        }
        if let Some((i, (a, b))) = g.iter().zip(g0.iter()).enumerate().find(|(_, (a, b))| a.to_bits() != b.to_bits()) {
            return Err(format!("{}: {name} layout: gradient{:?} {a} vs {b}", loss.name(), unravel(i, g0.shape())));
        }
    }
    Ok(())
}

/// Checks the unreduced values ([`Loss::per_image`]) and their vector-Jacobian product
/// ([`Loss::per_image_backward_into`]) against the loss on each image alone: for every image `i`
/// of `problem`, a problem made of copies of image `i`'s `pred`, target and weight gives, through
/// the batch methods, the same bits as `values[i]` and as image `i`'s part of the gradient for
/// the upstream value `u_i` (the upstream values `1.5, -0.25, 0, 2, ...` include a zero: that
/// image's gradient must be zero). The gradient is also taken into a Fortran-order buffer
/// pre-filled with NaN, from a permuted view of `pred`, with the same bits. A wrong length of
/// the upstream values must be an error.
pub fn check_per_image(loss: &dyn Loss, problem: &Problem) -> Result<(), String> {
    let name = loss.name();
    let n = problem.pred.shape()[0];
    let u: Vec<f32> = (0..n).map(|i| [1.5f32, -0.25, 0.0, 2.0][i % 4]).collect();
    let up = ndarray::ArrayView1::from(&u[..]);
    let values = loss.per_image(&problem.batch()).map_err(|e| format!("{name}: per_image: {e}"))?;
    let (vjp_values, grad) = loss.per_image_backward(&problem.batch(), up).map_err(|e| format!("{name}: per_image_backward: {e}"))?;
    if values.len() != n || vjp_values.len() != n {
        return Err(format!("{name}: {} and {} per-image values for {n} images", values.len(), vjp_values.len()));
    }
    let ax = ndarray::Axis(0);
    fn copy_of_image<T: Clone>(a: &ArrayD<T>, i: usize) -> ArrayD<T> {
        a.index_axis(ndarray::Axis(0), i).insert_axis(ndarray::Axis(0)).to_owned()
    }
    for i in 0..n {
        let target = match &problem.target {
            crate::OwnedTarget::F32(a) => crate::OwnedTarget::F32(copy_of_image(a, i)),
            crate::OwnedTarget::U8(a) => crate::OwnedTarget::U8(copy_of_image(a, i)),
            crate::OwnedTarget::I32(a) => crate::OwnedTarget::I32(copy_of_image(a, i)),
            crate::OwnedTarget::I64(a) => crate::OwnedTarget::I64(copy_of_image(a, i)),
        };
        let alone = Problem {
            pred: copy_of_image(&problem.pred, i),
            target,
            weight: problem.weight.as_ref().map(|w| copy_of_image(w, i)),
            probabilities: problem.probabilities,
        };
        let v = loss.forward(&alone.batch()).map_err(|e| format!("{name}: image {i} alone: {e}"))?;
        if v.to_bits() != values[i].to_bits() {
            return Err(format!("{name}: per_image value {i} {} vs the loss of image {i} alone {v}", values[i]));
        }
        let mut g = ArrayD::<f32>::zeros(IxDyn(alone.pred.shape()));
        let v = loss.forward_backward_into(&alone.batch(), g.view_mut(), u[i]).map_err(|e| format!("{name}: image {i} alone: {e}"))?;
        if v.to_bits() != vjp_values[i].to_bits() {
            return Err(format!("{name}: per_image_backward value {i} {} vs the loss of image {i} alone {v}", vjp_values[i]));
        }
        let part = grad.index_axis(ax, i);
        if let Some((j, (a, b))) = part.iter().zip(g.iter()).enumerate().find(|(_, (a, b))| a.to_bits() != b.to_bits()) {
            return Err(format!(
                "{name}: per-image vector-Jacobian product, image {i} (upstream {}): element {j} {a} vs {b} from the image alone",
                u[i]
            ));
        }
        if u[i] == 0.0 {
            if let Some(x) = part.iter().find(|x| **x != 0.0) {
                return Err(format!("{name}: image {i} has upstream 0 but gradient value {x}"));
            }
        }
    }
    // non-contiguous pred and gradient buffer
    let permuted_pred = permuted(&problem.pred);
    let b = Batch { pred: permuted_pred.view(), ..problem.batch() };
    let mut g = ArrayD::<f32>::from_elem(IxDyn(problem.pred.shape()).f(), f32::NAN);
    let v = loss.per_image_backward_into(&b, up, g.view_mut()).map_err(|e| format!("{name}: permuted pred: {e}"))?;
    if v.iter().zip(&vjp_values).any(|(a, b)| a.to_bits() != b.to_bits()) {
        return Err(format!("{name}: per-image values from a permuted view {v} vs {vjp_values}"));
    }
    if let Some((i, (a, b))) = g.iter().zip(grad.iter()).enumerate().find(|(_, (a, b))| a.to_bits() != b.to_bits()) {
        return Err(format!("{name}: Fortran-order gradient{:?} {a} vs {b}", unravel(i, grad.shape())));
    }
    let short = vec![1.0f32; n + 1];
    match loss.per_image_backward(&problem.batch(), ndarray::ArrayView1::from(&short[..])) {
        Err(e) if e.to_string().contains(&format!("[{}]", n + 1)) => Ok(()),
        Err(e) => Err(format!("{name}: the error for {} upstream values does not name their shape: {e}", n + 1)),
        Ok(_) => Err(format!("{name}: {} upstream values for {n} images were accepted", n + 1)),
    }
}

/// `a`'s values stored with the last two axes swapped, viewed in `a`'s axis order (a
/// non-contiguous view that is neither C nor Fortran order for rank >= 3).
fn permuted(a: &ArrayD<f32>) -> ArrayD<f32> {
    let r = a.ndim();
    if r < 2 {
        return a.clone();
    }
    let mut axes: Vec<usize> = (0..r).collect();
    axes.swap(r - 1, r - 2);
    let stored = a.view().permuted_axes(axes.clone()).as_standard_layout().into_owned();
    stored.permuted_axes(axes)
}

/// The target in the same layouts.
enum TargetLayouts {
    F32(Layouts<f32>),
    U8(Layouts<u8>),
    I32(Layouts<i32>),
    I64(Layouts<i64>),
}

impl TargetLayouts {
    fn of(t: &crate::OwnedTarget) -> Self {
        match t {
            crate::OwnedTarget::F32(a) => TargetLayouts::F32(Layouts::of(a)),
            crate::OwnedTarget::U8(a) => TargetLayouts::U8(Layouts::of(a)),
            crate::OwnedTarget::I32(a) => TargetLayouts::I32(Layouts::of(a)),
            crate::OwnedTarget::I64(a) => TargetLayouts::I64(Layouts::of(a)),
        }
    }

    /// Fortran order for variant 0, stride 2 otherwise.
    fn pick(&self, k: usize) -> crate::Target<'_> {
        match self {
            TargetLayouts::F32(l) => (if k == 0 { l.fortran.view() } else { l.strided() }).into(),
            TargetLayouts::U8(l) => (if k == 0 { l.fortran.view() } else { l.strided() }).into(),
            TargetLayouts::I32(l) => (if k == 0 { l.fortran.view() } else { l.strided() }).into(),
            TargetLayouts::I64(l) => (if k == 0 { l.fortran.view() } else { l.strided() }).into(),
        }
    }
}

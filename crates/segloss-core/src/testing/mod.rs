//! Test support (feature `testing`): proptest strategies for segmentation inputs, non-contiguous
//! layouts of the same data, and a central finite-difference gradient checker in `f64`.
//!
//! Users can property-test their own losses the same way segloss tests its own.

use ndarray::{ArrayD, ArrayViewD, IxDyn, ShapeBuilder, Slice};
use proptest::prelude::*;

mod checks;
mod problem;

/// The property-test kit for any `&dyn Loss` (the facade re-exports it as `segloss::testing`):
/// problem generators and the gradient, stability, determinism and layout checks.
pub mod kit {
    pub use super::checks::{
        check_determinism, check_gradient, check_layouts, check_per_image, check_stability, GradReport, GradTolerance, StabilityConfig,
    };
    pub use super::problem::{class_probabilities, class_weights, gamma, labels, problems, weights, Problem, ProblemConfig, WeightKind};
    pub use super::{logit, mask, probability, shape, soft_labels, Layouts};
}

/// Logits from every regime: ordinary values, large magnitudes up to `±1e4`, exact zeros.
pub fn logit() -> impl Strategy<Value = f32> {
    prop_oneof![
        6 => -8.0f32..8.0,
        2 => -1e4f32..1e4,
        1 => prop::sample::select(vec![-1e4f32, 1e4, 0.0, -88.0, 88.0, -30.0, 30.0]),
    ]
}

/// Probabilities including exactly 0 and 1.
pub fn probability() -> impl Strategy<Value = f32> {
    prop_oneof![
        6 => 0.0f32..=1.0,
        1 => prop::sample::select(vec![0.0f32, 1.0, 1e-8, 1.0 - 1e-7]),
    ]
}

/// Binary mask patterns: empty, full, a single positive pixel, or random.
pub fn mask(len: usize) -> impl Strategy<Value = Vec<f32>> {
    prop_oneof![
        Just(vec![0.0f32; len]),
        Just(vec![1.0f32; len]),
        (0..len.max(1)).prop_map(move |i| {
            let mut v = vec![0.0f32; len];
            if len > 0 {
                v[i] = 1.0;
            }
            v
        }),
        prop::collection::vec(prop::bool::weighted(0.3).prop_map(|b| b as u8 as f32), len),
    ]
}

/// Soft labels in `[0, 1]`, with exact 0 and 1 mixed in.
pub fn soft_labels(len: usize) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(probability(), len)
}

/// A shape `[N, C, *S]` with `C` in `c_range`, one to three spatial axes of odd and even sizes.
pub fn shape(c_range: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Vec<usize>> {
    (1usize..=3, c_range, prop::collection::vec(1usize..=9, 1..=3)).prop_map(|(n, c, s)| {
        let mut v = vec![n, c];
        v.extend(s);
        v
    })
}

/// The same values in three memory layouts: a column-major (Fortran) array, and a view with
/// stride 2 on the last axis into a larger buffer. Both compare equal to the standard array.
pub struct Layouts<T> {
    /// Column-major copy.
    pub fortran: ArrayD<T>,
    strided_base: ArrayD<T>,
}

impl<T: Clone + Default> Layouts<T> {
    /// Builds the layouts of `a`.
    pub fn of(a: &ArrayD<T>) -> Self {
        let mut fortran = ArrayD::<T>::default(IxDyn(a.shape()).f());
        fortran.assign(a);
        let mut big_shape = a.shape().to_vec();
        if big_shape.is_empty() {
            // a 0-d array has no axis to stride: its "strided" view is itself
            return Layouts { fortran, strided_base: a.clone() };
        }
        let last = big_shape.len() - 1;
        big_shape[last] *= 2;
        let mut strided_base = ArrayD::<T>::default(IxDyn(&big_shape));
        strided_base.slice_axis_mut(ndarray::Axis(last), Slice::new(0, None, 2)).assign(a);
        Layouts { fortran, strided_base }
    }

    /// A view with stride 2 on the last axis.
    pub fn strided(&self) -> ArrayViewD<'_, T> {
        if self.strided_base.ndim() == 0 {
            return self.strided_base.view();
        }
        let last = self.strided_base.ndim() - 1;
        self.strided_base.slice_axis(ndarray::Axis(last), Slice::new(0, None, 2))
    }
}

/// Central finite differences of `f` at `x` in `f64`, with step `h * max(1, |x_i|)`.
pub fn central_diff(f: &dyn Fn(&[f64]) -> f64, x: &[f64], h: f64) -> Vec<f64> {
    central_steps(f, x, h).map(|(fp, fm, step)| (fp - fm) / (2.0 * step)).collect()
}

/// For each element: `f(x + h_i)`, `f(x - h_i)` and `h_i = h * max(1, |x_i|)`.
fn central_steps<'a>(f: &'a dyn Fn(&[f64]) -> f64, x: &'a [f64], h: f64) -> impl Iterator<Item = (f64, f64, f64)> + 'a {
    let mut xp = x.to_vec();
    (0..x.len()).map(move |i| {
        let step = h * x[i].abs().max(1.0);
        xp[i] = x[i] + step;
        let fp = f(&xp);
        xp[i] = x[i] - step;
        let fm = f(&xp);
        xp[i] = x[i];
        (fp, fm, step)
    })
}

/// Checks `analytic` against central differences of an `f64` function `f` at `x`, element by
/// element: `|analytic_i - numeric_i| <= abs + rel * |numeric_i| + noise_i`, where `noise_i =
/// 8 eps max(|f(x + h_i)|, |f(x - h_i)|) / h_i` is the rounding a central difference cannot
/// resolve (`h_i = h * max(1, |x_i|)`). A small component is held to its own size, not to the
/// largest one. Returns the first failing element: index, analytic, numeric, tolerance.
pub fn check_gradient_fn(f: &dyn Fn(&[f64]) -> f64, x: &[f64], analytic: &[f64], h: f64, rel: f64, abs: f64) -> Result<(), String> {
    if analytic.len() != x.len() {
        return Err(format!("the gradient has {} elements for {} inputs", analytic.len(), x.len()));
    }
    for (i, (fp, fm, step)) in central_steps(f, x, h).enumerate() {
        let n = (fp - fm) / (2.0 * step);
        let noise = 8.0 * f64::EPSILON * fp.abs().max(fm.abs()) / step;
        let tol = abs + rel * n.abs() + noise;
        let a = analytic[i];
        if (a - n).abs().is_nan() || (a - n).abs() > tol {
            return Err(format!("gradient[{i}]: analytic {a} vs numeric {n} (tolerance {tol:.3e})"));
        }
    }
    Ok(())
}

/// `max |a - b|` over two slices: infinite when their lengths differ, NaN as soon as one pair
/// differs in NaN-ness.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    let mut m = 0.0f64;
    for (x, y) in a.iter().zip(b) {
        if x.is_nan() != y.is_nan() {
            return f64::NAN;
        }
        if x != y && !x.is_nan() {
            m = m.max((*x as f64 - *y as f64).abs());
        }
    }
    m
}

/// Asserts every element of `grad` was written (a buffer pre-filled with NaN keeps no NaN).
pub fn assert_all_written(grad: &[f32]) {
    if let Some(i) = grad.iter().position(|g| g.is_nan()) {
        panic!("gradient element {i} was not written (still NaN)");
    }
}

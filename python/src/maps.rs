//! The maps of `segloss-distance`: `edt`, `label` and `unet_weights`.

use crate::arrays::{labels, mask, LabelView, MaskView};
use crate::run::run;
use numpy::{IntoPyArray, PyArrayDyn};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use segloss_distance::{ClassWeights, EdtOptions, UnetWeightConfig};

/// Runs `$body` with `$v` bound to the view of whichever element type the mask holds.
macro_rules! with_mask {
    ($m:expr, $v:ident => $body:expr) => {
        match $m {
            MaskView::Bool($v) => $body,
            MaskView::U8($v) => $body,
            MaskView::I32($v) => $body,
            MaskView::U32($v) => $body,
            MaskView::F32($v) => $body,
        }
    };
}

/// `spacing`: `None`, one number for every axis, or one number per axis.
fn spacing(s: Option<&Bound<'_, PyAny>>, rank: usize) -> PyResult<Option<Vec<f64>>> {
    let Some(s) = s else { return Ok(None) };
    if let Ok(x) = s.extract::<f64>() {
        return Ok(Some(vec![x; rank]));
    }
    s.extract::<Vec<f64>>()
        .map(Some)
        .map_err(|_| PyTypeError::new_err("spacing: expected a number or a sequence of numbers, one per axis of the mask"))
}

/// Exact Euclidean distance transform of a 2D `(H, W)` or 3D `(D, H, W)` mask: every nonzero
/// element's distance to the nearest zero element, 0 on zero elements; float32 of the mask's
/// shape.
///
/// `d(x) = min over y with mask(y) == 0 of sqrt(sum_i ((x_i - y_i) spacing_i)^2)` (`d(x)^2`
/// with `squared=True`). The convention of `scipy.ndimage.distance_transform_edt(mask,
/// sampling=spacing)`, which it equals bit for bit after rounding to float32 with unit spacing
/// (within 2 ulp with a spacing); a mask without any zero gives `inf` everywhere (scipy returns
/// meaningless finite values there). `spacing` is one number or one per axis, finite and > 0.
/// The mask may be of any number dtype (nonzero, including NaN, is foreground): bool, uint8,
/// int32, uint32 and float32 are read in place, others compared with 0 by numpy first.
#[pyfunction]
#[pyo3(signature = (mask, spacing=None, squared=false, *, threads=None))]
pub fn edt<'py>(
    py: Python<'py>,
    mask: &Bound<'py, PyAny>,
    spacing: Option<&Bound<'py, PyAny>>,
    squared: bool,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    let m = self::mask(mask, "mask")?;
    let m = m.view();
    let rank = with_mask!(&m, v => v.ndim());
    let opts = EdtOptions { spacing: self::spacing(spacing, rank)?, squared };
    let out = run(py, threads, move || with_mask!(m, v => segloss_distance::edt(v, &opts)))?;
    Ok(out.into_pyarray(py))
}

/// Connected components of a 2D or 3D mask (nonzero = foreground): `(labels, n)`, `labels`
/// int32 of the mask's shape with 0 on the background and `1..=n` on the components, numbered in
/// the raster order of each component's first element.
///
/// `connectivity`: `None` is 4 in 2D and 6 in 3D (faces only); 8 (2D) and 26 (3D) add the
/// diagonal neighbours. The convention of `scipy.ndimage.label(mask,
/// generate_binary_structure(mask.ndim, 1 or mask.ndim))`, equal up to the numbering.
#[pyfunction]
#[pyo3(signature = (mask, connectivity=None))]
pub fn label<'py>(py: Python<'py>, mask: &Bound<'py, PyAny>, connectivity: Option<u32>) -> PyResult<(Bound<'py, PyArrayDyn<i32>>, usize)> {
    let m = self::mask(mask, "mask")?;
    let m = m.view();
    let (lab, n) = run(py, None, move || {
        let (lab, n) = with_mask!(m, v => segloss_distance::label(v, connectivity))?;
        if n > i32::MAX as usize {
            return Err(segloss::LossError::config("mask", n, "more components than int32 labels can number"));
        }
        Ok((lab.mapv(|x| x as i32), n))
    })?;
    Ok((lab.into_pyarray(py), n))
}

/// `class_weights`: `None` or `"balanced"`, or `(background, object)`.
fn class_weights(c: Option<&Bound<'_, PyAny>>) -> PyResult<ClassWeights> {
    let Some(c) = c else { return Ok(ClassWeights::Balanced) };
    if let Ok(s) = c.extract::<String>() {
        return match s.as_str() {
            "balanced" => Ok(ClassWeights::Balanced),
            _ => Err(PyValueError::new_err(format!(
                "invalid value for `class_weights`: {s}: expected `balanced` or (background, object) weights"
            ))),
        };
    }
    match c.extract::<Vec<f32>>() {
        Ok(v) if v.len() == 2 => Ok(ClassWeights::Fixed(v[0], v[1])),
        Ok(v) => Err(PyValueError::new_err(format!("invalid value for `class_weights`: {v:?}: expected two values, (background, object)"))),
        Err(_) => Err(PyTypeError::new_err("class_weights: expected None, \"balanced\" or two numbers (background, object)")),
    }
}

/// U-Net weight map (Ronneberger et al. 2015, eq. 2) of instance labels (0 = background, every
/// other value one object) or of a boolean mask (its connected components, by `connectivity`,
/// are the objects): float32 of the input's shape, 2D or 3D.
///
/// `w(x) = w_c(x) + w0 exp(-(d1(x) + d2(x))^2 / (2 sigma^2))` on background pixels, `w_c(x)` on
/// object pixels, `d1`, `d2` the distances (in pixels) to the nearest and second-nearest
/// object (no border term with fewer than two objects). `class_weights`: `None` or
/// `"balanced"` (`w_c = n / (2 n_c)` per class: both classes carry the same total weight; a
/// class with no pixel weighs nothing), or `(background, object)` values. Equals the per-object
/// recipe `d_k = scipy.ndimage.distance_transform_edt(labels != k)`, `d1`, `d2` the two smallest
/// `d_k`, within 1e-3 (the border term is dropped where it is below 1e-4). `connectivity` is
/// `None` (4 in 2D, 6 in 3D), 4 or 8 in 2D, 6 or 26 in 3D.
#[pyfunction]
#[pyo3(signature = (labels, w0=10.0, sigma=5.0, class_weights=None, connectivity=None, *, threads=None))]
pub fn unet_weights<'py>(
    py: Python<'py>,
    labels: &Bound<'py, PyAny>,
    w0: f32,
    sigma: f32,
    class_weights: Option<&Bound<'py, PyAny>>,
    connectivity: Option<u32>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    let cfg = UnetWeightConfig { w0, sigma, class_weights: self::class_weights(class_weights)?, connectivity };
    let l = self::labels(labels, "labels")?;
    let l = l.view();
    let out = run(py, threads, move || {
        use segloss_distance::{unet_weights_from_instances as inst, unet_weights_from_mask as from_mask};
        match l {
            LabelView::Mask(a) => from_mask(a, &cfg),
            LabelView::U8(a) => inst(a, &cfg),
            LabelView::I32(a) => inst(a, &cfg),
            LabelView::U32(a) => inst(a, &cfg),
            LabelView::I64(a) => inst(a, &cfg),
        }
    })?;
    Ok(out.into_pyarray(py))
}

//! `segloss.Loss`: a spec parsed and built once, called on numpy arrays.

use crate::arrays::{floats, target};
use crate::run::{check_threads, run, value_error};
use numpy::{IntoPyArray, PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use segloss::spec::Combination;
use segloss::{Batch, Loss as _, LossSpec};

/// A loss, or a weighted sum of losses, from its spec string (`"focal:gamma=2"`,
/// `"0.5*ce+lovasz_softmax"`; `segloss.catalogue()` lists every loss, its modes, keys and
/// defaults). The spec is parsed and validated once; `str(loss)` and `loss.spec` give its
/// canonical form, which parses to the same loss.
///
/// `loss(pred, target, weight=None)` returns the value as a float and
/// `loss.value_and_grad(pred, target, weight=None)` the value and `d loss / d pred`;
/// `loss.per_image(...)` the loss of each image alone (`[N]`) and
/// `loss.per_image_vjp(pred, target, upstream=None, weight=None)` those values and their
/// vector-Jacobian product.
///
/// Inputs are numpy arrays (anything else goes through `numpy.asarray`) of any strides:
/// - `pred`: logits (or probabilities where the loss says so), float32 or float64, `[N, C, *S]`
///   with one to three spatial axes (`[N, *S]` with `mode=binary`). float32 is read in place;
///   float64 is converted to float32 for the kernels (which compute in float32 with float64
///   accumulation) and its gradient is returned as float64.
/// - `target`: float targets (float32 in place, float64 converted) or integer labels (uint8,
///   int32, int64 in place; int8, int16, uint16, uint32, uint64 converted; bool read as uint8).
/// - `weight`: optional per-element or per-pixel weights (float, or integers converted).
///
/// The gradient is a new C-ordered array of pred's shape and dtype. The GIL is released during
/// the computation; it runs on `threads` threads (per call, else this loss's `threads`, else
/// `segloss.set_threads`, else one per core), with the same bits for any count. Bad input raises
/// `ValueError` (shapes, keys, values named) or `TypeError` (dtypes). With `check_finite=True` a
/// NaN or infinity in `pred`, a float target or `weight` raises `ValueError` naming its index;
/// by default it propagates into the value, as in PyTorch.
#[pyclass(module = "segloss", name = "Loss", frozen)]
pub struct Loss {
    spec: LossSpec,
    loss: Combination,
    threads: Option<usize>,
    check_finite: bool,
}

impl Loss {
    /// Reads `pred`, the target and the weight (in place where their dtypes allow) and calls `f`
    /// with the thread count, the batch, pred's shape and whether pred is float64.
    fn with_batch<'py, R>(
        &self,
        pred: &Bound<'py, PyAny>,
        target_obj: &Bound<'py, PyAny>,
        weight: Option<&Bound<'py, PyAny>>,
        threads: Option<usize>,
        f: impl FnOnce(Option<usize>, Batch<'_>, &[usize], bool) -> PyResult<R>,
    ) -> PyResult<R> {
        let threads = check_threads(threads)?.or(self.threads);
        let (p, p64) = floats(pred, "pred", false)?;
        let t = target(target_obj)?;
        let w = weight.map(|w| floats(w, "weight", true)).transpose()?;
        let mut batch = Batch::new(p.as_array(), t.view()).check_finite(self.check_finite);
        if let Some((w, _)) = &w {
            batch = batch.with_weight(w.as_array());
        }
        f(threads, batch, p.shape(), p64)
    }

    /// The loss value, and the gradient as a numpy array when `grad`.
    fn eval<'py>(
        &self,
        py: Python<'py>,
        pred: &Bound<'py, PyAny>,
        target_obj: &Bound<'py, PyAny>,
        weight: Option<&Bound<'py, PyAny>>,
        threads: Option<usize>,
        grad: bool,
    ) -> PyResult<(f64, Option<Bound<'py, PyAny>>)> {
        let loss = &self.loss;
        self.with_batch(pred, target_obj, weight, threads, |threads, batch, shape, p64| {
            if !grad {
                let v = run(py, threads, || loss.forward(&batch))?;
                return Ok((v as f64, None));
            }
            let (v, g) = into_gradient(py, shape, p64, |g| run(py, threads, move || loss.forward_backward_into(&batch, g, 1.0)))?;
            Ok((v as f64, Some(g)))
        })
    }

    /// The per-image values (float64 `[N]`), and with `upstream` (one value per image, or all
    /// ones when `None`) their vector-Jacobian product as a numpy array of pred's shape and dtype.
    fn eval_per_image<'py>(
        &self,
        py: Python<'py>,
        pred: &Bound<'py, PyAny>,
        target_obj: &Bound<'py, PyAny>,
        weight: Option<&Bound<'py, PyAny>>,
        threads: Option<usize>,
        upstream: Option<Option<&Bound<'py, PyAny>>>,
    ) -> PyResult<(Bound<'py, PyAny>, Option<Bound<'py, PyAny>>)> {
        let loss = &self.loss;
        self.with_batch(pred, target_obj, weight, threads, |threads, batch, shape, p64| {
            let Some(upstream) = upstream else {
                let v = run(py, threads, || loss.per_image(&batch))?;
                return Ok((v.mapv(f64::from).into_pyarray(py).into_any(), None));
            };
            let n = shape.first().copied().unwrap_or(0);
            let u: ndarray::Array1<f32> = match upstream {
                None => ndarray::Array1::ones(n),
                Some(u) => {
                    let (u, _) = floats(u, "upstream", true)?;
                    let u = u.as_array();
                    if u.ndim() != 1 {
                        return Err(PyValueError::new_err(format!(
                            "upstream: expected one value per image of pred, shape [{n}], got shape {:?}",
                            u.shape()
                        )));
                    }
                    u.iter().copied().collect()
                }
            };
            let u = u.view();
            let (v, g) = into_gradient(py, shape, p64, |g| run(py, threads, move || loss.per_image_backward_into(&batch, u, g)))?;
            Ok((v.mapv(f64::from).into_pyarray(py).into_any(), Some(g)))
        })
    }
}

/// Runs `f` on a new C-ordered float32 gradient buffer of `shape` and returns its result and the
/// buffer as a numpy array, converted to float64 when `p64` (pred was float64).
fn into_gradient<'py, T>(
    py: Python<'py>,
    shape: &[usize],
    p64: bool,
    f: impl FnOnce(ndarray::ArrayViewMutD<'_, f32>) -> PyResult<T>,
) -> PyResult<(T, Bound<'py, PyAny>)> {
    let out = PyArrayDyn::<f32>::zeros(py, shape, false);
    let v = {
        let mut rw = out.try_readwrite().map_err(|e| PyValueError::new_err(format!("gradient buffer: {e}")))?;
        f(rw.as_array_mut())?
    };
    let g = if p64 { out.readonly().as_array().mapv(f64::from).into_pyarray(py).into_any() } else { out.into_any() };
    Ok((v, g))
}

#[pymethods]
impl Loss {
    #[new]
    #[pyo3(signature = (spec, threads=None, check_finite=false))]
    fn new(spec: &str, threads: Option<usize>, check_finite: bool) -> PyResult<Self> {
        let threads = check_threads(threads)?;
        let parsed = LossSpec::parse(spec).map_err(value_error)?;
        let loss = parsed.build().map_err(value_error)?;
        Ok(Loss { spec: parsed, loss, threads, check_finite })
    }

    /// The canonical spec string.
    #[getter]
    fn spec(&self) -> String {
        self.spec.to_string()
    }

    /// The loss name of each term, in order.
    #[getter]
    fn names(&self) -> Vec<String> {
        self.spec.terms.iter().map(|t| t.name.clone()).collect()
    }

    /// The thread count given at construction (`None`: the module setting).
    #[getter]
    fn threads(&self) -> Option<usize> {
        self.threads
    }

    /// Whether NaN and infinite inputs raise `ValueError`.
    #[getter]
    fn check_finite(&self) -> bool {
        self.check_finite
    }

    fn __repr__(&self) -> String {
        format!("segloss.Loss('{}')", self.spec)
    }

    fn __str__(&self) -> String {
        self.spec.to_string()
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let me = slf.get();
        let args = (me.spec.to_string(), me.threads, me.check_finite);
        (slf.get_type(), args).into_pyobject(slf.py())
    }

    /// The loss value of `pred` against `target` (and `weight`), as a float.
    #[pyo3(signature = (pred, target, weight=None, *, threads=None))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        pred: &Bound<'py, PyAny>,
        target: &Bound<'py, PyAny>,
        weight: Option<&Bound<'py, PyAny>>,
        threads: Option<usize>,
    ) -> PyResult<f64> {
        Ok(self.eval(py, pred, target, weight, threads, false)?.0)
    }

    /// The loss value and its gradient with respect to `pred` (a new C-ordered array of pred's
    /// shape and dtype).
    #[pyo3(signature = (pred, target, weight=None, *, threads=None))]
    fn value_and_grad<'py>(
        &self,
        py: Python<'py>,
        pred: &Bound<'py, PyAny>,
        target: &Bound<'py, PyAny>,
        weight: Option<&Bound<'py, PyAny>>,
        threads: Option<usize>,
    ) -> PyResult<(f64, Bound<'py, PyAny>)> {
        let (v, g) = self.eval(py, pred, target, weight, threads, true)?;
        Ok((v, g.expect("a gradient was asked for")))
    }

    /// The unreduced values: the loss of each image alone, a float64 array of shape `[N]`
    /// (`values[i]` is this loss on image `i` only; see "Unreduced values" in docs/LOSSES.md).
    #[pyo3(signature = (pred, target, weight=None, *, threads=None))]
    fn per_image<'py>(
        &self,
        py: Python<'py>,
        pred: &Bound<'py, PyAny>,
        target: &Bound<'py, PyAny>,
        weight: Option<&Bound<'py, PyAny>>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.eval_per_image(py, pred, target, weight, threads, None)?.0)
    }

    /// The per-image values and their vector-Jacobian product: `(values, grad)`, `grad` of pred's
    /// shape and dtype holding `sum_i upstream[i] * d values[i] / d pred`; `upstream` has one
    /// value per image (`None`: all ones, which gives each image's own gradient).
    #[pyo3(signature = (pred, target, upstream=None, weight=None, *, threads=None))]
    fn per_image_vjp<'py>(
        &self,
        py: Python<'py>,
        pred: &Bound<'py, PyAny>,
        target: &Bound<'py, PyAny>,
        upstream: Option<&Bound<'py, PyAny>>,
        weight: Option<&Bound<'py, PyAny>>,
        threads: Option<usize>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let (v, g) = self.eval_per_image(py, pred, target, weight, threads, Some(upstream))?;
        Ok((v, g.expect("a gradient was asked for")))
    }
}

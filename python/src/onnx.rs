//! `export_onnx` and `attach_onnx`: a spec as an ONNX graph (the crate `segloss-onnx`), as the
//! bytes of a `.onnx` file.

use crate::run::value_error;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyBytes;
use segloss::{LossSpec, Mode};
use segloss_onnx::pb::{type_proto, ModelProto};
use segloss_onnx::ExportOptions;

fn mode(m: Option<&str>) -> PyResult<Option<Mode>> {
    m.map(|s| {
        Mode::parse(s)
            .ok_or_else(|| PyValueError::new_err(format!("invalid value for `mode`: {s}: expected binary, multiclass or multilabel")))
    })
    .transpose()
}

fn opset(o: i64) -> PyResult<i64> {
    let (lo, hi) = (segloss_onnx::MIN_OPSET, segloss_onnx::MAX_OPSET);
    if (lo..=hi).contains(&o) {
        Ok(o)
    } else {
        Err(PyValueError::new_err(format!("invalid value for `opset`: {o}: expected {lo} to {hi}")))
    }
}

/// The spec as a standalone ONNX model (the bytes of a `.onnx` file): inputs `pred` (float
/// `[N, C, *S]` of rank `rank`, or `[N, *S]` with `channel=False` for binary), `target` (float
/// of pred's shape, or int64 labels `[N, *S]` in multiclass mode) and, with `with_weight`,
/// `weight` (the target's shape, or `[N, *S]` with `pixel_weight`); output `loss` (a scalar),
/// plus `loss_map` for a single term with `reduction=none`. `mode` (binary, multiclass,
/// multilabel) is for specs that leave it open; `classes` fixes C in the declared shapes. The
/// graph computes the native value (ONNX Runtime runs it as it is); errors name the key at fault.
#[pyfunction]
#[pyo3(signature = (spec, rank=4, mode=None, classes=None, with_weight=false, *, pixel_weight=false, channel=true, opset=segloss_onnx::DEFAULT_OPSET, prefix=None))]
#[allow(clippy::too_many_arguments)]
pub fn export_onnx<'py>(
    py: Python<'py>,
    spec: &str,
    rank: usize,
    mode: Option<&str>,
    classes: Option<usize>,
    with_weight: bool,
    pixel_weight: bool,
    channel: bool,
    opset: i64,
    prefix: Option<String>,
) -> PyResult<Bound<'py, PyBytes>> {
    let spec = LossSpec::parse(spec).map_err(value_error)?;
    let mut opts = ExportOptions {
        rank,
        channel,
        mode: self::mode(mode)?,
        classes,
        with_weight,
        pixel_weight,
        opset: self::opset(opset)?,
        ..ExportOptions::default()
    };
    if let Some(p) = prefix {
        opts.prefix = p;
    }
    let model = segloss_onnx::export(&spec, &opts).map_err(value_error)?;
    Ok(PyBytes::new(py, &segloss_onnx::to_bytes(&model)))
}

/// The declared rank of `model`'s output `name`, if it declares one.
fn declared_rank(model: &ModelProto, name: &str) -> Option<usize> {
    let out = model.graph.as_ref()?.output.iter().find(|o| o.name == name)?;
    match out.r#type.as_ref()?.value.as_ref()? {
        type_proto::Value::TensorType(t) => t.shape.as_ref().map(|s| s.dim.len()),
    }
}

/// `model` (the bytes of a `.onnx` file) with the loss attached to its output `to`: that output
/// becomes `pred`, `target` (and `weight`) new inputs, `loss` (and `loss_map`) new outputs; the
/// model's outputs stay and its opset is kept (13 or more). `rank` defaults to the output's
/// declared rank (else 4); the other options are those of `export_onnx`. Returns the new bytes.
#[pyfunction]
#[pyo3(signature = (model, to, spec, rank=None, mode=None, classes=None, with_weight=false, *, pixel_weight=false, channel=true, prefix=None))]
#[allow(clippy::too_many_arguments)]
pub fn attach_onnx<'py>(
    py: Python<'py>,
    model: PyBackedBytes,
    to: &str,
    spec: &str,
    rank: Option<usize>,
    mode: Option<&str>,
    classes: Option<usize>,
    with_weight: bool,
    pixel_weight: bool,
    channel: bool,
    prefix: Option<String>,
) -> PyResult<Bound<'py, PyBytes>> {
    let spec = LossSpec::parse(spec).map_err(value_error)?;
    if model.is_empty() {
        return Err(PyValueError::new_err("model: not an ONNX model: no bytes"));
    }
    let m = segloss_onnx::from_bytes(&model).map_err(value_error)?;
    let rank = rank.or_else(|| declared_rank(&m, to)).unwrap_or(4);
    let mut opts = ExportOptions { rank, channel, mode: self::mode(mode)?, classes, with_weight, pixel_weight, ..ExportOptions::default() };
    if let Some(p) = prefix {
        opts.prefix = p;
    }
    let out = segloss_onnx::attach(m, to, &spec, &opts).map_err(value_error)?;
    Ok(PyBytes::new(py, &segloss_onnx::to_bytes(&out)))
}

//! numpy inputs as ndarray views: zero copy for the dtypes the kernels read (native byte
//! order, any strides), one conversion by numpy otherwise; a `TypeError` naming the argument and
//! its dtype for anything that is not a number array.

use ndarray::ArrayViewD;
use numpy::{Element, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use segloss::Target;

/// `obj` as a numpy array; anything else (a list, a scalar, an object with `__array__`) goes
/// through `numpy.asarray`.
fn ndarray<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Bound<'py, PyUntypedArray>> {
    if let Ok(a) = obj.cast::<PyUntypedArray>() {
        return Ok(a.clone());
    }
    let py = obj.py();
    let a = py
        .import("numpy")?
        .call_method1("asarray", (obj,))
        .map_err(|e| PyTypeError::new_err(format!("{name}: cannot be read as a numpy array ({e})")))?;
    a.cast_into::<PyUntypedArray>().map_err(|_| PyTypeError::new_err(format!("{name}: numpy.asarray did not return an array")))
}

fn dtype_name(a: &Bound<'_, PyUntypedArray>) -> String {
    a.dtype().str().map(|s| s.to_string()).unwrap_or_else(|_| "(unknown)".into())
}

/// `a` converted by numpy to the native, C-ordered `dtype` (a copy).
fn converted<'py, T: Element>(a: &Bound<'py, PyUntypedArray>, dtype: &str, name: &str) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    let c = a.py().import("numpy")?.call_method1("ascontiguousarray", (a, dtype))?;
    c.cast_into::<PyArrayDyn<T>>().map_err(|_| PyTypeError::new_err(format!("{name}: conversion to {dtype} failed")))
}

/// `a` as `T`: the array itself when its dtype is `T` in native byte order (any strides),
/// else numpy's conversion to `dtype`.
fn typed<'py, T: Element>(a: &Bound<'py, PyUntypedArray>, dtype: &str, name: &str) -> PyResult<PyReadonlyArrayDyn<'py, T>> {
    let arr = match a.cast::<PyArrayDyn<T>>() {
        Ok(x) => x.clone(),
        Err(_) => converted::<T>(a, dtype, name)?,
    };
    arr.try_readonly().map_err(|e| PyValueError::new_err(format!("{name}: the array is being written elsewhere ({e})")))
}

/// A float input (`pred`, `weight`) as `f32`: float32 is read in place, float64 converted;
/// with `ints`, integer and boolean arrays are converted too. The flag is true for float64.
pub fn floats<'py>(obj: &Bound<'py, PyAny>, name: &str, ints: bool) -> PyResult<(PyReadonlyArrayDyn<'py, f32>, bool)> {
    let a = ndarray(obj, name)?;
    let d = a.dtype();
    match (d.kind(), d.itemsize()) {
        (b'f', 4) => Ok((typed::<f32>(&a, "float32", name)?, false)),
        (b'f', 8) => Ok((typed::<f32>(&a, "float32", name)?, true)),
        (b'i' | b'u' | b'b', _) if ints => Ok((typed::<f32>(&a, "float32", name)?, false)),
        _ => {
            let also = if ints { " (or an integer or boolean array)" } else { "" };
            Err(PyTypeError::new_err(format!("{name}: expected a float32 or float64 array{also}, got dtype {}", dtype_name(&a))))
        }
    }
}

/// The target: floats (as `f32`) or integer labels (`uint8`, `int32`, `int64` in place; other
/// integer widths converted to `int32` or `int64`; booleans read as `uint8`, in place).
pub enum TargetArray<'py> {
    /// Float targets.
    F32(PyReadonlyArrayDyn<'py, f32>),
    /// `uint8` labels.
    U8(PyReadonlyArrayDyn<'py, u8>),
    /// `int32` labels.
    I32(PyReadonlyArrayDyn<'py, i32>),
    /// `int64` labels.
    I64(PyReadonlyArrayDyn<'py, i64>),
}

impl TargetArray<'_> {
    /// The view the kernels read.
    pub fn view(&self) -> Target<'_> {
        match self {
            TargetArray::F32(a) => Target::F32(a.as_array()),
            TargetArray::U8(a) => Target::U8(a.as_array()),
            TargetArray::I32(a) => Target::I32(a.as_array()),
            TargetArray::I64(a) => Target::I64(a.as_array()),
        }
    }
}

/// Reads `target` (see [`TargetArray`]).
pub fn target<'py>(obj: &Bound<'py, PyAny>) -> PyResult<TargetArray<'py>> {
    let name = "target";
    let a = ndarray(obj, name)?;
    let d = a.dtype();
    Ok(match (d.kind(), d.itemsize()) {
        (b'f', 4 | 8) => TargetArray::F32(typed(&a, "float32", name)?),
        (b'b', 1) => TargetArray::U8(typed(&bool_as_u8(&a)?, "uint8", name)?),
        (b'u', 1) => TargetArray::U8(typed(&a, "uint8", name)?),
        (b'i', 4) => TargetArray::I32(typed(&a, "int32", name)?),
        (b'i', 8) => TargetArray::I64(typed(&a, "int64", name)?),
        (b'i', 1 | 2) | (b'u', 2) => TargetArray::I32(typed(&a, "int32", name)?),
        (b'u', 4 | 8) => TargetArray::I64(typed(&a, "int64", name)?),
        _ => {
            return Err(PyTypeError::new_err(format!(
                "target: expected float targets (float32, float64) or integer labels (int8 to int64, uint8 to uint64, bool), \
                 got dtype {}",
                dtype_name(&a)
            )))
        }
    })
}

/// A boolean array viewed as `uint8` (same bytes, no copy).
fn bool_as_u8<'py>(a: &Bound<'py, PyUntypedArray>) -> PyResult<Bound<'py, PyUntypedArray>> {
    Ok(a.call_method1("view", ("uint8",))?.cast_into::<PyUntypedArray>()?)
}

/// A mask (nonzero = foreground) in one of the element types the maps read in place.
pub enum MaskArray<'py> {
    /// `bool`.
    Bool(PyReadonlyArrayDyn<'py, bool>),
    /// `uint8`.
    U8(PyReadonlyArrayDyn<'py, u8>),
    /// `int32`.
    I32(PyReadonlyArrayDyn<'py, i32>),
    /// `uint32`.
    U32(PyReadonlyArrayDyn<'py, u32>),
    /// `float32` (NaN counts as nonzero).
    F32(PyReadonlyArrayDyn<'py, f32>),
}

/// The view of a [`MaskArray`] (what the kernels read, without the GIL).
pub enum MaskView<'a> {
    /// `bool`.
    Bool(ArrayViewD<'a, bool>),
    /// `uint8`.
    U8(ArrayViewD<'a, u8>),
    /// `int32`.
    I32(ArrayViewD<'a, i32>),
    /// `uint32`.
    U32(ArrayViewD<'a, u32>),
    /// `float32`.
    F32(ArrayViewD<'a, f32>),
}

impl MaskArray<'_> {
    /// The view the kernels read.
    pub fn view(&self) -> MaskView<'_> {
        match self {
            MaskArray::Bool(a) => MaskView::Bool(a.as_array()),
            MaskArray::U8(a) => MaskView::U8(a.as_array()),
            MaskArray::I32(a) => MaskView::I32(a.as_array()),
            MaskArray::U32(a) => MaskView::U32(a.as_array()),
            MaskArray::F32(a) => MaskView::F32(a.as_array()),
        }
    }
}

/// Reads a mask: `bool`, `uint8`, `int32`, `uint32` and `float32` in place (native byte order,
/// any strides); any other number dtype as `mask != 0` computed by numpy (NaN is nonzero).
pub fn mask<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<MaskArray<'py>> {
    let a = ndarray(obj, name)?;
    let d = a.dtype();
    Ok(match (d.kind(), d.itemsize()) {
        (b'b', 1) => MaskArray::Bool(typed(&a, "bool", name)?),
        (b'u', 1) => MaskArray::U8(typed(&a, "uint8", name)?),
        (b'i', 4) if a.cast::<PyArrayDyn<i32>>().is_ok() => MaskArray::I32(typed(&a, "int32", name)?),
        (b'u', 4) if a.cast::<PyArrayDyn<u32>>().is_ok() => MaskArray::U32(typed(&a, "uint32", name)?),
        (b'f', 4) if a.cast::<PyArrayDyn<f32>>().is_ok() => MaskArray::F32(typed(&a, "float32", name)?),
        (b'b' | b'i' | b'u' | b'f', _) => {
            let nz = a.py().import("numpy")?.call_method1("not_equal", (&a, 0))?.cast_into::<PyUntypedArray>()?;
            MaskArray::Bool(typed(&nz, "bool", name)?)
        }
        _ => return Err(PyTypeError::new_err(format!("{name}: expected a boolean or number array, got dtype {}", dtype_name(&a)))),
    })
}

/// Instance labels (0 = background, every other value one object), or a boolean mask whose
/// connected components are the objects.
pub enum LabelArray<'py> {
    /// A boolean mask.
    Mask(PyReadonlyArrayDyn<'py, bool>),
    /// `uint8` labels.
    U8(PyReadonlyArrayDyn<'py, u8>),
    /// `int32` labels.
    I32(PyReadonlyArrayDyn<'py, i32>),
    /// `uint32` labels.
    U32(PyReadonlyArrayDyn<'py, u32>),
    /// `int64` labels.
    I64(PyReadonlyArrayDyn<'py, i64>),
}

/// The view of a [`LabelArray`].
pub enum LabelView<'a> {
    /// A boolean mask.
    Mask(ArrayViewD<'a, bool>),
    /// `uint8` labels.
    U8(ArrayViewD<'a, u8>),
    /// `int32` labels.
    I32(ArrayViewD<'a, i32>),
    /// `uint32` labels.
    U32(ArrayViewD<'a, u32>),
    /// `int64` labels.
    I64(ArrayViewD<'a, i64>),
}

impl LabelArray<'_> {
    /// The view the kernels read.
    pub fn view(&self) -> LabelView<'_> {
        match self {
            LabelArray::Mask(a) => LabelView::Mask(a.as_array()),
            LabelArray::U8(a) => LabelView::U8(a.as_array()),
            LabelArray::I32(a) => LabelView::I32(a.as_array()),
            LabelArray::U32(a) => LabelView::U32(a.as_array()),
            LabelArray::I64(a) => LabelView::I64(a.as_array()),
        }
    }
}

/// Reads instance labels: `uint8`, `int32`, `uint32`, `int64` in place, other integer widths
/// converted (to `int32` or `int64`); `bool` is a mask.
pub fn labels<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<LabelArray<'py>> {
    let a = ndarray(obj, name)?;
    let d = a.dtype();
    Ok(match (d.kind(), d.itemsize()) {
        (b'b', 1) => LabelArray::Mask(typed(&a, "bool", name)?),
        (b'u', 1) => LabelArray::U8(typed(&a, "uint8", name)?),
        (b'i', 4) => LabelArray::I32(typed(&a, "int32", name)?),
        (b'u', 4) => LabelArray::U32(typed(&a, "uint32", name)?),
        (b'i', 8) => LabelArray::I64(typed(&a, "int64", name)?),
        (b'i', 1 | 2) | (b'u', 2) => LabelArray::I32(typed(&a, "int32", name)?),
        (b'u', 8) => LabelArray::I64(typed(&a, "int64", name)?),
        _ => {
            return Err(PyTypeError::new_err(format!(
                "{name}: expected integer instance labels (0 = background) or a boolean mask, got dtype {}",
                dtype_name(&a)
            )))
        }
    })
}

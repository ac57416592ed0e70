//! # segloss-py: the `segloss` Python module
//!
//! A PyO3 extension (`segloss._segloss`, abi3 for CPython >= 3.9) built by maturin from
//! `python/pyproject.toml` (`pip install ./python`); the Python package `python/segloss/`
//! re-exports it and adds the optional PyTorch wrapper `segloss.torch`. Nothing here knows a
//! loss by name: [`loss::Loss`] parses any spec of the registry, [`catalogue::catalogue`] lists
//! the registry, and the ONNX functions call `segloss-onnx`'s exporter.
//!
//! Every entry point reads numpy arrays through [`arrays`] (in place where the dtype allows,
//! any strides), releases the GIL and runs in a rayon pool through [`run::run`], which turns a
//! segloss error into `ValueError` and a panic into `RuntimeError`.

pub mod arrays;
pub mod catalogue;
pub mod loss;
pub mod maps;
#[cfg(feature = "onnx")]
pub mod onnx;
pub mod run;

use pyo3::prelude::*;

/// The native part of the `segloss` package (import `segloss`, not this).
#[pymodule]
fn _segloss(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<loss::Loss>()?;
    m.add_function(wrap_pyfunction!(catalogue::catalogue, m)?)?;
    m.add_function(wrap_pyfunction!(maps::edt, m)?)?;
    m.add_function(wrap_pyfunction!(maps::label, m)?)?;
    m.add_function(wrap_pyfunction!(maps::unet_weights, m)?)?;
    #[cfg(feature = "onnx")]
    {
        m.add_function(wrap_pyfunction!(onnx::export_onnx, m)?)?;
        m.add_function(wrap_pyfunction!(onnx::attach_onnx, m)?)?;
    }
    m.add_function(wrap_pyfunction!(run::set_threads, m)?)?;
    m.add_function(wrap_pyfunction!(run::get_threads, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

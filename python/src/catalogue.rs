//! `catalogue()`: the registry as Python dicts.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use segloss::core::WeightUse;

/// Every loss of the registry, in catalogue order: a dict from each name to a dict with its
/// `family` (crate), `config` (Rust type), `modes` (list), `weight` (`"none"`, `"optional"` or
/// `"required"`: whether it takes the `weight` input), `formula`, `anchor` (the reference it
/// equals), `unreduced` (the shape of `Loss.per_image`'s values, `"[N]"`), `keys` (a dict from each key to `{"default": text, "doc": text}`, in declaration
/// order) and `aliases` (a dict from each old key name to its new one).
#[pyfunction]
pub fn catalogue(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let out = PyDict::new(py);
    for d in segloss::catalogue() {
        let e = PyDict::new(py);
        e.set_item("name", d.name)?;
        e.set_item("family", d.family)?;
        e.set_item("config", d.config)?;
        e.set_item("modes", PyList::new(py, d.modes.iter().map(|m| m.name()))?)?;
        let weight = match d.weight {
            WeightUse::None => "none",
            WeightUse::Optional => "optional",
            WeightUse::Required => "required",
        };
        e.set_item("weight", weight)?;
        e.set_item("formula", d.formula)?;
        e.set_item("anchor", d.anchor)?;
        e.set_item("unreduced", d.unreduced())?;
        let keys = PyDict::new(py);
        for k in d.keys() {
            let kd = PyDict::new(py);
            kd.set_item("default", &k.default)?;
            kd.set_item("doc", &k.doc)?;
            keys.set_item(k.key, kd)?;
        }
        e.set_item("keys", keys)?;
        let aliases = PyDict::new(py);
        for a in d.aliases {
            aliases.set_item(a.old, a.new)?;
        }
        e.set_item("aliases", aliases)?;
        out.set_item(d.name, e)?;
    }
    Ok(out)
}

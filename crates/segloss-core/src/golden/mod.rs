//! Golden fixtures (feature `testing`): the one JSON format of the reference values every family
//! is checked against, its loader, and the one comparison of a built loss with a case.
//!
//! The fixtures are written by the scripts in `tools/golden/` through `tools/golden/fixture.py`:
//!
//! ```text
//! {"generator": "tools/golden/overlap.py",
//!  "versions": {"python": "3.11.7", "torch": "...", ...},
//!  "extra": {...},                                      optional, for the whole file
//!  "cases": [{"name": "dice_binary_2d",                 unique in the file
//!             "spec": "dice:reduce=batch",              a segloss spec (distance maps: "edt:spacing=[1,2]")
//!             "python": "DiceLoss(sigmoid=True)(pred, target)",  the line that produced the reference
//!             "inputs": {"pred": T, "target": T, "weight": T},   distance maps: {"mask": T} / {"labels": T}
//!             "expected": {"value": 0.25, "grad": T, "map": T},  each optional
//!             "extra": {...}}, ...]}                    optional (an anchor, a count, ...)
//! T = {"shape": [2, 3], "dtype": "float32|float64|int64|uint8|int32", "data": [flat, row-major]}
//! ```
//!
//! A loss golden test builds the loss from [`Case::spec`] through a registry and calls
//! [`check_loss`]:
//!
//! ```no_run
//! use segloss_core::golden::{check_loss, Fixture};
//! # fn registry() -> segloss_core::Registry<'static> { segloss_core::Registry::new(&[]) }
//! let fixture = Fixture::load("tests/fixtures/overlap.json").unwrap();
//! for case in &fixture.cases {
//!     let loss = registry().build_str(&case.spec).map_err(|e| case.error(e)).unwrap();
//!     check_loss(case, &loss, 1e-5, 1e-7, 1e-4).unwrap();
//! }
//! ```
//!
//! Every error names the file and the case (with its spec and Python line).

use crate::Batch;
pub use crate::OwnedTarget;
use ndarray::{ArrayD, IxDyn};
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// The element type of a stored [`Tensor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DType {
    /// `float32`: values that are exact `f32` (model inputs).
    F32,
    /// `float64`: values computed in `f64` (references, gradients, maps).
    F64,
    /// `int64` labels.
    I64,
    /// `int32` labels.
    I32,
    /// `uint8` labels or masks.
    U8,
}

impl DType {
    /// Every dtype.
    pub const ALL: [DType; 5] = [DType::F32, DType::F64, DType::I64, DType::I32, DType::U8];

    /// The name in the fixture (`float32`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::I64 => "int64",
            DType::I32 => "int32",
            DType::U8 => "uint8",
        }
    }

    /// The dtype named `name`.
    pub fn parse(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Whether the dtype holds integers.
    pub fn is_integer(self) -> bool {
        !matches!(self, DType::F32 | DType::F64)
    }

    /// The range of an integer dtype.
    fn range(self) -> Option<(f64, f64)> {
        match self {
            DType::F32 | DType::F64 => None,
            DType::I64 => Some((-(2f64.powi(53)), 2f64.powi(53))),
            DType::I32 => Some((i32::MIN as f64, i32::MAX as f64)),
            DType::U8 => Some((0.0, 255.0)),
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A stored tensor: its shape, dtype and data (flat, row-major, held as `f64`; integer dtypes hold
/// integers within their range, checked when loaded).
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// The shape.
    pub shape: Vec<usize>,
    /// The element type.
    pub dtype: DType,
    /// The values, row-major.
    pub data: Vec<f64>,
}

impl Tensor {
    /// A tensor, checked: `data` has `shape`'s element count and fits `dtype`.
    pub fn new(shape: Vec<usize>, dtype: DType, data: Vec<f64>) -> Result<Tensor, String> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(format!("shape {shape:?} holds {n} elements but data has {}", data.len()));
        }
        if let Some((lo, hi)) = dtype.range() {
            if let Some((i, x)) = data.iter().enumerate().find(|(_, x)| x.fract() != 0.0 || **x < lo || **x > hi) {
                return Err(format!("data[{i}] = {x} is not a {dtype} value"));
            }
        }
        Ok(Tensor { shape, dtype, data })
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether it has no element.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn array<T>(&self, f: impl Fn(f64) -> T) -> ArrayD<T> {
        ArrayD::from_shape_vec(IxDyn(&self.shape), self.data.iter().map(|&x| f(x)).collect()).expect("checked when loaded")
    }

    fn ints<T>(&self, what: &str, f: impl Fn(f64) -> Option<T>) -> Result<ArrayD<T>, String> {
        if !self.dtype.is_integer() {
            return Err(format!("a {} tensor read as {what}", self.dtype));
        }
        let data = self
            .data
            .iter()
            .enumerate()
            .map(|(i, &x)| f(x).ok_or_else(|| format!("data[{i}] = {x} does not fit {what}")))
            .collect::<Result<Vec<T>, String>>()?;
        Ok(ArrayD::from_shape_vec(IxDyn(&self.shape), data).expect("checked when loaded"))
    }

    /// The values as `f32` (exact for `float32` data and integers below 2^24).
    pub fn to_f32(&self) -> ArrayD<f32> {
        self.array(|x| x as f32)
    }

    /// The values as `f64`.
    pub fn to_f64(&self) -> ArrayD<f64> {
        self.array(|x| x)
    }

    /// The values of an integer tensor as `i64`.
    pub fn to_i64(&self) -> Result<ArrayD<i64>, String> {
        self.ints("i64", |x| Some(x as i64))
    }

    /// The values of an integer tensor as `i32` (each must fit).
    pub fn to_i32(&self) -> Result<ArrayD<i32>, String> {
        self.ints("i32", |x| i32::try_from(x as i64).ok())
    }

    /// The values of an integer tensor as `u8` (each must fit).
    pub fn to_u8(&self) -> Result<ArrayD<u8>, String> {
        self.ints("u8", |x| u8::try_from(x as i64).ok())
    }

    /// An owned target of its dtype: float data as `f32` targets, integer data as labels of the
    /// same integer type (`uint8`, `int32`, `int64`).
    pub fn to_target(&self) -> OwnedTarget {
        let ints = "integer data checked when loaded";
        match self.dtype {
            DType::F32 | DType::F64 => OwnedTarget::F32(self.to_f32()),
            DType::U8 => OwnedTarget::U8(self.to_u8().expect(ints)),
            DType::I32 => OwnedTarget::I32(self.to_i32().expect(ints)),
            DType::I64 => OwnedTarget::I64(self.to_i64().expect(ints)),
        }
    }
}

/// The owned inputs of a loss case (`pred`, `target`, optional `weight`).
#[derive(Debug, Clone, PartialEq)]
pub struct LossInputs {
    /// The prediction.
    pub pred: ArrayD<f32>,
    /// The target.
    pub target: OwnedTarget,
    /// The optional per-pixel weight.
    pub weight: Option<ArrayD<f32>>,
}

impl LossInputs {
    /// The batch of these inputs.
    pub fn batch(&self) -> Batch<'_> {
        let b = Batch::new(&self.pred, self.target.view());
        match &self.weight {
            Some(w) => b.with_weight(w),
            None => b,
        }
    }
}

/// What a case expects; each part optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expected {
    /// A scalar: the loss value (for `label`, the number of objects).
    pub value: Option<f64>,
    /// The gradient with respect to `pred`.
    pub grad: Option<Tensor>,
    /// An output map (distance transform, labels, weight map).
    pub map: Option<Tensor>,
}

/// One case of a fixture.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// The fixture file it was loaded from (for messages).
    pub file: String,
    /// Its name, unique in the file.
    pub name: String,
    /// The segloss spec string (a map name with keys for the distance maps).
    pub spec: String,
    /// The Python line that produced the expected values.
    pub python: String,
    /// The inputs by name (`pred`, `target`, `weight`; `mask`, `labels`).
    pub inputs: BTreeMap<String, Tensor>,
    /// The expected outputs.
    pub expected: Expected,
    /// Anything else the case carries (an anchor line, ...).
    pub extra: Map<String, Json>,
}

impl Case {
    /// The file, the case, its spec and its Python line, for messages.
    pub fn context(&self) -> String {
        let mut s = format!("{}: case {} (spec {:?})\n    python: {}", self.file, self.name, self.spec, self.python);
        for (k, v) in &self.extra {
            if let Some(text) = v.as_str() {
                s.push_str(&format!("\n    {k}: {text}"));
            }
        }
        s
    }

    /// An error message about this case.
    pub fn error(&self, what: impl fmt::Display) -> String {
        format!("{}\n    {what}", self.context())
    }

    /// The input `name`.
    pub fn input(&self, name: &str) -> Result<&Tensor, String> {
        self.inputs.get(name).ok_or_else(|| self.error(format!("no input `{name}` (inputs: {:?})", self.inputs.keys().collect::<Vec<_>>())))
    }

    /// The inputs of a loss case: `pred` (float), `target` (float or integer by its dtype) and an
    /// optional float `weight`; any other input is an error.
    pub fn loss_inputs(&self) -> Result<LossInputs, String> {
        if let Some(other) = self.inputs.keys().find(|k| !matches!(k.as_str(), "pred" | "target" | "weight")) {
            return Err(self.error(format!("unexpected input `{other}` for a loss")));
        }
        let float = |name: &str| -> Result<ArrayD<f32>, String> {
            let t = self.input(name)?;
            if t.dtype.is_integer() {
                return Err(self.error(format!("input `{name}` is {}, not float", t.dtype)));
            }
            Ok(t.to_f32())
        };
        let pred = float("pred")?;
        let target = self.input("target")?.to_target();
        let weight = if self.inputs.contains_key("weight") { Some(float("weight")?) } else { None };
        Ok(LossInputs { pred, target, weight })
    }
}

/// A loaded fixture.
#[derive(Debug, Clone, PartialEq)]
pub struct Fixture {
    /// The file it was loaded from.
    pub file: String,
    /// The script that wrote it.
    pub generator: String,
    /// The versions of Python and of each library used, by name.
    pub versions: BTreeMap<String, String>,
    /// Anything else the file carries (notes, the script's tolerances).
    pub extra: Map<String, Json>,
    /// The cases, in order.
    pub cases: Vec<Case>,
}

impl Fixture {
    /// Reads and checks the fixture at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Fixture, String> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| format!("{file}: {e}"))?;
        Fixture::parse(&text, &file)
    }

    /// Parses and checks a fixture; `file` names it in messages.
    pub fn parse(text: &str, file: &str) -> Result<Fixture, String> {
        let json: Json = serde_json::from_str(text).map_err(|e| format!("{file}: invalid JSON: {e}"))?;
        let at = |path: &str, e: String| format!("{file}: {path}: {e}");
        let top = object(&json, &["generator", "versions", "extra", "cases"]).map_err(|e| at("(top level)", e))?;
        let generator = string(top, "generator").map_err(|e| at("(top level)", e))?;
        let versions = object(field(top, "versions").map_err(|e| at("(top level)", e))?, &[])
            .map_err(|e| at("versions", e))?
            .iter()
            .map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())).ok_or_else(|| at("versions", format!("`{k}` is not a string"))))
            .collect::<Result<BTreeMap<_, _>, _>>()?;
        let extra = optional_object(top, "extra").map_err(|e| at("(top level)", e))?;
        let list = field(top, "cases").and_then(|c| c.as_array().ok_or_else(|| "`cases` is not an array".to_string()));
        let mut cases = Vec::new();
        for (i, c) in list.map_err(|e| at("(top level)", e))?.iter().enumerate() {
            let case = parse_case(c, file).map_err(|e| {
                let name = c.get("name").and_then(Json::as_str).map(|n| format!(" ({n})")).unwrap_or_default();
                at(&format!("cases[{i}]{name}"), e)
            })?;
            if cases.iter().any(|other: &Case| other.name == case.name) {
                return Err(at(&format!("cases[{i}]"), format!("the case name {:?} repeats", case.name)));
            }
            cases.push(case);
        }
        Ok(Fixture { file: file.to_string(), generator, versions, extra, cases })
    }

    /// The case `name`.
    pub fn case(&self, name: &str) -> Option<&Case> {
        self.cases.iter().find(|c| c.name == name)
    }
}

fn field<'j>(o: &'j Map<String, Json>, key: &str) -> Result<&'j Json, String> {
    o.get(key).ok_or_else(|| format!("missing `{key}`"))
}

fn string(o: &Map<String, Json>, key: &str) -> Result<String, String> {
    field(o, key)?.as_str().map(str::to_string).ok_or_else(|| format!("`{key}` is not a string"))
}

/// `j` as an object whose keys are all in `allowed` (any key when `allowed` is empty).
fn object<'j>(j: &'j Json, allowed: &[&str]) -> Result<&'j Map<String, Json>, String> {
    let o = j.as_object().ok_or_else(|| format!("expected an object, found {}", kind(j)))?;
    if !allowed.is_empty() {
        if let Some(k) = o.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(format!("unknown key `{k}` (known: {})", allowed.join(", ")));
        }
    }
    Ok(o)
}

fn optional_object(o: &Map<String, Json>, key: &str) -> Result<Map<String, Json>, String> {
    match o.get(key) {
        None => Ok(Map::new()),
        Some(j) => object(j, &[]).cloned().map_err(|e| format!("`{key}`: {e}")),
    }
}

fn kind(j: &Json) -> &'static str {
    match j {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn parse_case(j: &Json, file: &str) -> Result<Case, String> {
    let o = object(j, &["name", "spec", "python", "inputs", "expected", "extra"])?;
    let mut inputs = BTreeMap::new();
    for (k, t) in object(field(o, "inputs")?, &[])? {
        inputs.insert(k.clone(), parse_tensor(t).map_err(|e| format!("inputs.{k}: {e}"))?);
    }
    let e = object(field(o, "expected")?, &["value", "grad", "map"])?;
    let value = match e.get("value") {
        None => None,
        Some(v) => Some(v.as_f64().ok_or_else(|| format!("expected.value is {}, not a number", kind(v)))?),
    };
    let tensor = |key: &str| e.get(key).map(|t| parse_tensor(t).map_err(|err| format!("expected.{key}: {err}"))).transpose();
    let expected = Expected { value, grad: tensor("grad")?, map: tensor("map")? };
    if expected == Expected::default() {
        return Err("`expected` is empty".into());
    }
    Ok(Case {
        file: file.to_string(),
        name: string(o, "name")?,
        spec: string(o, "spec")?,
        python: string(o, "python")?,
        inputs,
        expected,
        extra: optional_object(o, "extra")?,
    })
}

fn parse_tensor(j: &Json) -> Result<Tensor, String> {
    let o = object(j, &["shape", "dtype", "data"])?;
    let shape = field(o, "shape")?
        .as_array()
        .ok_or("`shape` is not an array")?
        .iter()
        .map(|d| d.as_u64().map(|d| d as usize).ok_or_else(|| format!("bad dimension {d}")))
        .collect::<Result<Vec<usize>, String>>()?;
    let name = string(o, "dtype")?;
    let dtype = DType::parse(&name).ok_or_else(|| {
        let known: Vec<&str> = DType::ALL.iter().map(|d| d.name()).collect();
        format!("unknown dtype {name:?} (known: {})", known.join(", "))
    })?;
    let data = field(o, "data")?
        .as_array()
        .ok_or("`data` is not an array")?
        .iter()
        .enumerate()
        .map(|(i, x)| x.as_f64().ok_or_else(|| format!("data[{i}] is {}, not a number", kind(x))))
        .collect::<Result<Vec<f64>, String>>()?;
    Tensor::new(shape, dtype, data)
}

mod check;
pub use check::{check_loss, unravel, Check};

#[cfg(test)]
mod tests;

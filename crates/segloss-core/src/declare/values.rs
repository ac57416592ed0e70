//! The values a key can hold ([`KeyValue`]) and the shared word keys ([`Reduce`], [`Classes`]).

use crate::error::{LossError, Result};
use crate::input::Mode;
use crate::loss::Reduction;
use crate::params::Value;

/// A value a key can hold: parsed from a spec [`Value`] and printed back to one.
pub trait KeyValue: Sized + Clone + PartialEq {
    /// Reads the value of `key`; the error names the key and the value.
    fn from_value(key: &str, v: &Value) -> Result<Self>;
    /// The spec value (parsing it gives `self` back).
    fn to_value(&self) -> Value;
    /// The text shown as the default in the key table.
    fn default_text(&self) -> String {
        self.to_value().to_string()
    }
    /// Values worth testing besides the default (every word of a word key, both booleans);
    /// empty for numbers, whose ranges are the loss's business. The shared test harness runs
    /// every loss with each of them.
    fn examples() -> Vec<Self> {
        Vec::new()
    }
}

fn expected(key: &str, v: &Value, what: &str) -> LossError {
    LossError::config(key, v, format!("expected {what}"))
}

impl KeyValue for f64 {
    fn from_value(key: &str, v: &Value) -> Result<Self> {
        match v {
            Value::Num(x) => Ok(*x),
            _ => Err(expected(key, v, "a number")),
        }
    }
    fn to_value(&self) -> Value {
        Value::Num(*self)
    }
}

impl KeyValue for f32 {
    fn from_value(key: &str, v: &Value) -> Result<Self> {
        f64::from_value(key, v).map(|x| x as f32)
    }
    fn to_value(&self) -> Value {
        Value::Num(shortest_f64(*self))
    }
}

/// The shortest decimal that reads back to `x` as f32, as an f64 (so `0.1f32` prints `0.1`).
pub fn shortest_f64(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(x as f64)
}

impl KeyValue for bool {
    fn from_value(key: &str, v: &Value) -> Result<Self> {
        match v {
            Value::Bool(b) => Ok(*b),
            _ => Err(expected(key, v, "true or false")),
        }
    }
    fn to_value(&self) -> Value {
        Value::Bool(*self)
    }
    fn examples() -> Vec<Self> {
        vec![false, true]
    }
}

impl KeyValue for i64 {
    fn from_value(key: &str, v: &Value) -> Result<Self> {
        match v {
            Value::Num(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => Ok(*x as i64),
            _ => Err(expected(key, v, "an integer")),
        }
    }
    fn to_value(&self) -> Value {
        Value::Num(*self as f64)
    }
}

impl KeyValue for usize {
    fn from_value(key: &str, v: &Value) -> Result<Self> {
        match v {
            Value::Num(x) if x.fract() == 0.0 && *x >= 0.0 && *x < 9.0e15 => Ok(*x as usize),
            _ => Err(expected(key, v, "an integer >= 0")),
        }
    }
    fn to_value(&self) -> Value {
        Value::Num(*self as f64)
    }
}

impl KeyValue for Vec<f32> {
    fn from_value(key: &str, v: &Value) -> Result<Self> {
        match v {
            Value::List(l) => Ok(l.iter().map(|x| *x as f32).collect()),
            _ => Err(expected(key, v, "a list of numbers such as [1,2,0.5]")),
        }
    }
    fn to_value(&self) -> Value {
        Value::List(self.iter().map(|x| shortest_f64(*x)).collect())
    }
}

impl KeyValue for Vec<f64> {
    fn from_value(key: &str, v: &Value) -> Result<Self> {
        match v {
            Value::List(l) => Ok(l.clone()),
            _ => Err(expected(key, v, "a list of numbers such as [1,2,0.5]")),
        }
    }
    fn to_value(&self) -> Value {
        Value::List(self.clone())
    }
}

/// `none` or a value.
impl<T: KeyValue> KeyValue for Option<T> {
    fn from_value(key: &str, v: &Value) -> Result<Self> {
        match v {
            Value::Word(w) if w == "none" => Ok(None),
            v => T::from_value(key, v).map(Some).map_err(|e| match e {
                LossError::InvalidConfig { key, value, reason } => {
                    LossError::InvalidConfig { key, value, reason: format!("{reason}, or none") }
                }
                e => e,
            }),
        }
    }
    fn to_value(&self) -> Value {
        match self {
            None => Value::Word("none".into()),
            Some(x) => x.to_value(),
        }
    }
    fn examples() -> Vec<Self> {
        T::examples().into_iter().map(Some).collect()
    }
}

/// A key without a default: the config's value is `None` until given, and `build()` fails while
/// it is missing ([`checks::required_positive`](super::checks::required_positive)).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Required<T>(pub Option<T>);

impl<T: Copy> Required<T> {
    /// The value, once given.
    pub fn get(&self) -> Option<T> {
        self.0
    }
}

impl<T: KeyValue> KeyValue for Required<T> {
    fn from_value(key: &str, v: &Value) -> Result<Self> {
        T::from_value(key, v).map(|x| Required(Some(x)))
    }
    fn to_value(&self) -> Value {
        match &self.0 {
            None => Value::Word("required".into()),
            Some(x) => x.to_value(),
        }
    }
}

/// Declares an enum whose values are bare words of the spec strings, with [`KeyValue`].
///
/// ```
/// segloss_core::word_enum! {
///     /// How to average.
///     pub enum Avg { /// per image
///         Image = "image", /// over the batch
///         Batch = "batch" }
/// }
/// use segloss_core::declare::KeyValue;
/// assert_eq!(Avg::Batch.to_value().to_string(), "batch");
/// ```
#[macro_export]
macro_rules! word_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The spec-string word.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }
            /// Parses a spec-string word.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($word => Some($name::$variant),)+ _ => None }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl $crate::declare::KeyValue for $name {
            fn from_value(key: &str, v: &$crate::params::Value) -> $crate::Result<Self> {
                match v {
                    $crate::params::Value::Word(w) => $name::parse(w),
                    _ => None,
                }
                .ok_or_else(|| {
                    let words: &[&str] = &[$($word),+];
                    $crate::LossError::config(key, v, format!("expected one of {}", words.join(", ")))
                })
            }
            fn to_value(&self) -> $crate::params::Value {
                $crate::params::Value::Word(self.name().into())
            }
            fn examples() -> ::std::vec::Vec<Self> {
                $name::ALL.to_vec()
            }
        }
    };
}

impl KeyValue for Mode {
    fn from_value(key: &str, v: &Value) -> Result<Self> {
        match v {
            Value::Word(w) => Mode::parse(w),
            _ => None,
        }
        .ok_or_else(|| expected(key, v, "one of binary, multiclass, multilabel"))
    }
    fn to_value(&self) -> Value {
        Value::Word(self.name().into())
    }
}

impl KeyValue for Reduction {
    fn from_value(key: &str, v: &Value) -> Result<Self> {
        match v {
            Value::Word(w) => Reduction::parse(w),
            _ => None,
        }
        .ok_or_else(|| expected(key, v, "one of mean, sum, none"))
    }
    fn to_value(&self) -> Value {
        Value::Word(self.name().into())
    }
    fn examples() -> Vec<Self> {
        vec![Reduction::Mean, Reduction::Sum, Reduction::None]
    }
}

crate::word_enum! {
    /// Whether a loss is computed per image and averaged over the images (`image`), or once over
    /// the whole batch (`batch`): the `reduce` key of the overlap and Lovász losses.
    pub enum Reduce {
        /// One problem (pair, ratio, sort) per image, then the mean over images.
        Image = "image",
        /// One problem over the whole batch.
        Batch = "batch",
    }
}

crate::word_enum! {
    /// Which classes a per-class loss averages over: the `classes` key. Its default is stated in
    /// each loss's declaration (`all` for the overlap losses, `present` for `lovasz_softmax`).
    pub enum Classes {
        /// Every class.
        All = "all",
        /// Classes present in the target (overlap: `G > 0`; Lovász: at least one valid pixel).
        Present = "present",
    }
}

/// Reads `reduce` from the old boolean `per_image` (true: image, false: batch).
pub fn per_image_alias(v: &Value) -> Result<Value> {
    match v {
        Value::Bool(true) => Ok(Value::Word("image".into())),
        Value::Bool(false) => Ok(Value::Word("batch".into())),
        _ => Err(LossError::config("per_image", v, "expected true or false (per_image is the old name of reduce=image|batch)")),
    }
}

/// The `dist_matrix` key of `wasserstein_dice`: `uniform` (0 on the diagonal, 1 elsewhere, for
/// any class count) or a C x C matrix of class distances, row = true class, column = predicted
/// class; entries finite and `>= 0`, the largest `> 0` (symmetry and a zero diagonal are not
/// required). Whether C matches `pred`'s channels is checked at call time.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum DistMatrix {
    /// 0 on the diagonal, 1 elsewhere.
    #[default]
    Uniform,
    /// The rows of a square matrix.
    Matrix(Vec<Vec<f64>>),
}

impl DistMatrix {
    /// The `c x c` matrix in row-major order, divided by its largest entry (`None` when this is
    /// a matrix of another size).
    pub fn normalized(&self, c: usize) -> Option<Vec<f64>> {
        match self {
            DistMatrix::Uniform => Some((0..c * c).map(|i| if i / c == i % c { 0.0 } else { 1.0 }).collect()),
            DistMatrix::Matrix(rows) if rows.len() == c => {
                let max = rows.iter().flatten().fold(0.0f64, |m, &x| m.max(x));
                Some(rows.iter().flatten().map(|&x| x / max).collect())
            }
            DistMatrix::Matrix(_) => None,
        }
    }

    /// The class count of a matrix (`None` for `uniform`).
    pub fn size(&self) -> Option<usize> {
        match self {
            DistMatrix::Uniform => None,
            DistMatrix::Matrix(rows) => Some(rows.len()),
        }
    }
}

impl KeyValue for DistMatrix {
    fn from_value(key: &str, v: &Value) -> Result<Self> {
        let rows = match v {
            Value::Word(w) if w == "uniform" => return Ok(DistMatrix::Uniform),
            Value::Matrix(rows) => rows,
            _ => return Err(expected(key, v, "uniform or a square matrix of distances such as [[0,1],[1,0]]")),
        };
        let c = rows.len();
        if c < 2 || rows.iter().any(|r| r.len() != c) {
            let cols: Vec<String> = rows.iter().map(|r| r.len().to_string()).collect();
            return Err(LossError::config(
                key,
                v,
                format!("must be a square C x C matrix with C >= 2 (got {c} rows of lengths {})", cols.join(", ")),
            ));
        }
        for (i, r) in rows.iter().enumerate() {
            if let Some(j) = r.iter().position(|x| !(x.is_finite() && *x >= 0.0)) {
                return Err(LossError::config(key, v, format!("entry [{i}][{j}] = {} must be finite and >= 0", r[j])));
            }
        }
        if rows.iter().flatten().all(|&x| x == 0.0) {
            return Err(LossError::config(key, v, "the largest entry must be > 0 (the matrix is divided by it)"));
        }
        Ok(DistMatrix::Matrix(rows.clone()))
    }
    fn to_value(&self) -> Value {
        match self {
            DistMatrix::Uniform => Value::Word("uniform".into()),
            DistMatrix::Matrix(rows) => Value::Matrix(rows.clone()),
        }
    }
}

//! Key/value parameters of the spec strings, with typed getters whose errors name key and value,
//! and the catalogue entries that describe each loss.

use crate::error::{LossError, Result};
use crate::input::Mode;
use crate::loss::Reduction;
use std::fmt;

/// A parameter value of a spec string.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number.
    Num(f64),
    /// `true` or `false`.
    Bool(bool),
    /// A bare word such as `auto`, `none` or `batch`.
    Word(String),
    /// A bracketed list of numbers.
    List(Vec<f64>),
    /// A bracketed list of bracketed lists of numbers (`[[0,1],[1,0]]`): non-empty rows of equal
    /// length when parsed from a spec string.
    Matrix(Vec<Vec<f64>>),
}

/// Formats a number so that it parses back to the same `f64` (never with an exponent sign `+`).
pub fn fmt_num(x: f64) -> String {
    let plain = format!("{x}");
    let exp = format!("{x:e}");
    if exp.len() < plain.len() {
        exp
    } else {
        plain
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Num(x) => f.write_str(&fmt_num(*x)),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Word(w) => f.write_str(w),
            Value::List(v) => {
                let parts: Vec<String> = v.iter().map(|x| fmt_num(*x)).collect();
                write!(f, "[{}]", parts.join(","))
            }
            Value::Matrix(rows) => {
                let parts: Vec<String> =
                    rows.iter().map(|r| format!("[{}]", r.iter().map(|x| fmt_num(*x)).collect::<Vec<_>>().join(","))).collect();
                write!(f, "[{}]", parts.join(","))
            }
        }
    }
}

/// The parameters of one loss term, in the order given. Getters consume keys; [`Params::finish`]
/// rejects any key no getter asked for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Params {
    /// The loss name (for messages).
    pub loss: String,
    entries: Vec<(String, Value, bool)>,
}

impl Params {
    /// Parameters of `loss` from `(key, value)` pairs; a repeated key is an error.
    pub fn new(loss: &str, pairs: impl IntoIterator<Item = (String, Value)>) -> Result<Self> {
        let mut p = Params { loss: loss.to_string(), entries: Vec::new() };
        for (k, v) in pairs {
            if p.entries.iter().any(|(e, _, _)| *e == k) {
                return Err(LossError::config(&k, &v, format!("the key `{k}` is given twice")));
            }
            p.entries.push((k, v, false));
        }
        Ok(p)
    }

    /// The `(key, value)` pairs in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v, _)| (k.as_str(), v))
    }

    /// Whether `key` is present.
    pub fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _, _)| k == key)
    }

    /// Takes the value of `key`, marking it used.
    pub fn take_value(&mut self, key: &str) -> Option<Value> {
        self.take(key)
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        self.entries.iter_mut().find(|(k, _, _)| k == key).map(|(_, v, used)| {
            *used = true;
            v.clone()
        })
    }

    /// A number, if given.
    pub fn num(&mut self, key: &str) -> Result<Option<f64>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Num(x)) => Ok(Some(x)),
            Some(v) => Err(LossError::config(key, &v, "expected a number")),
        }
    }

    /// An integer, if given.
    pub fn int(&mut self, key: &str) -> Result<Option<i64>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Num(x)) if x.fract() == 0.0 && x.abs() < 9.0e15 => Ok(Some(x as i64)),
            Some(v) => Err(LossError::config(key, &v, "expected an integer")),
        }
    }

    /// A boolean, if given.
    pub fn bool(&mut self, key: &str) -> Result<Option<bool>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(v) => Err(LossError::config(key, &v, "expected true or false")),
        }
    }

    /// One of the `words`, if given.
    pub fn word(&mut self, key: &str, words: &[&str]) -> Result<Option<String>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Word(w)) if words.contains(&w.as_str()) => Ok(Some(w)),
            Some(v) => Err(LossError::config(key, &v, format!("expected one of {}", words.join(", ")))),
        }
    }

    /// A number or one of the `words`, if given.
    pub fn num_or_word(&mut self, key: &str, words: &[&str]) -> Result<Option<Value>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Num(x)) => Ok(Some(Value::Num(x))),
            Some(Value::Word(w)) if words.contains(&w.as_str()) => Ok(Some(Value::Word(w))),
            Some(v) => Err(LossError::config(key, &v, format!("expected a number or one of {}", words.join(", ")))),
        }
    }

    /// A list of numbers, if given.
    pub fn list(&mut self, key: &str) -> Result<Option<Vec<f64>>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::List(v)) => Ok(Some(v)),
            Some(v) => Err(LossError::config(key, &v, "expected a list of numbers such as [1,2,0.5]")),
        }
    }

    /// The `mode` key.
    pub fn mode(&mut self) -> Result<Option<Mode>> {
        Ok(self.word("mode", &["binary", "multiclass", "multilabel"])?.and_then(|w| Mode::parse(&w)))
    }

    /// The `reduction` key.
    pub fn reduction(&mut self) -> Result<Option<Reduction>> {
        Ok(self.word("reduction", &["mean", "sum", "none"])?.and_then(|w| Reduction::parse(&w)))
    }

    /// Errors on the first key no getter consumed (an unknown key for this loss).
    pub fn finish(&self, known: &[KeyInfo]) -> Result<()> {
        if self.entries.iter().all(|(_, _, used)| *used) {
            return Ok(());
        }
        match self.entries.iter().find(|(_, _, used)| !used) {
            None => Ok(()),
            Some((k, v, _)) => {
                let keys: Vec<&str> = known.iter().map(|k| k.key).collect();
                Err(LossError::config(k, v, format!("`{}` has no key `{k}` (its keys: {})", self.loss, keys.join(", "))))
            }
        }
    }
}

/// One key of a loss in the registry, generated from the loss's declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyInfo {
    /// The key.
    pub key: &'static str,
    /// Its default, as text (`required` when there is none, `inferred` for `mode`).
    pub default: String,
    /// Its default as a spec value.
    pub value: Value,
    /// What it does (its doc line in the declaration).
    pub doc: String,
    /// Values worth testing besides the default (words, booleans; see `KeyValue::examples`).
    pub examples: Vec<Value>,
}

/// The `mode` key every loss has, listing the modes `modes` it accepts.
pub fn mode_key(modes: &[Mode]) -> KeyInfo {
    let names: Vec<&str> = modes.iter().map(|m| m.name()).collect();
    KeyInfo {
        key: "mode",
        default: "inferred".into(),
        value: Value::Word("inferred".into()),
        doc: format!("{} (inferred from the shapes when not given)", names.join(", ")),
        examples: Vec::new(),
    }
}

/// Errors when `mode` is given and is not one of the loss's `modes`.
pub fn check_mode(loss: &str, mode: Option<Mode>, modes: &[Mode]) -> Result<()> {
    match mode {
        Some(m) if !modes.contains(&m) => {
            let names: Vec<&str> = modes.iter().map(|m| m.name()).collect();
            Err(LossError::config("mode", m, format!("`{loss}` supports mode {} only", names.join(", "))))
        }
        _ => Ok(()),
    }
}

/// Checks a number against a predicate, naming key and value on failure.
pub fn check(key: &str, x: f64, ok: bool, reason: &str) -> Result<f64> {
    if ok && !x.is_nan() {
        Ok(x)
    } else {
        Err(LossError::config(key, fmt_num(x), reason))
    }
}

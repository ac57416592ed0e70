//! The key values of the distance losses: [`Spacing`], [`IncludeBackground`] and [`Channels`].

use segloss_core::declare::KeyValue;
use segloss_core::params::Value;
use segloss_core::{LossError, Mode, Result};

/// The `spacing` key: the distance between pixel centres, one positive number for every axis or
/// one per spatial axis of `pred` (in `pred`'s axis order). A list's length is checked against
/// `pred` when the loss runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Spacing {
    /// The same spacing on every axis (default 1).
    Uniform(f64),
    /// One spacing per spatial axis.
    PerAxis(Vec<f64>),
}

impl Default for Spacing {
    fn default() -> Self {
        Spacing::Uniform(1.0)
    }
}

impl Spacing {
    /// The spacing of each of `rank` spatial axes; a list of another length is an error naming
    /// the key, the value and `pred`'s shape and rank.
    pub fn resolve(&self, rank: usize, pred_shape: &[usize]) -> Result<Vec<f64>> {
        match self {
            Spacing::Uniform(v) => Ok(vec![*v; rank]),
            Spacing::PerAxis(l) if l.len() == rank => Ok(l.clone()),
            Spacing::PerAxis(l) => Err(LossError::config(
                "spacing",
                self.to_value(),
                format!(
                    "has {} values but pred {} has {rank} spatial axes (one value per spatial axis, or one number for all)",
                    l.len(),
                    segloss_core::error::fmt_shape(pred_shape)
                ),
            )),
        }
    }
}

/// Checks `spacing`: every value finite and `> 0`, a list not empty.
pub fn check_spacing(key: &str, s: &Spacing) -> Result<()> {
    let vals: &[f64] = match s {
        Spacing::Uniform(v) => std::slice::from_ref(v),
        Spacing::PerAxis(l) => l,
    };
    if vals.is_empty() || vals.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
        return Err(LossError::config(key, s.to_value(), "must be a number > 0 or a non-empty list of finite numbers > 0"));
    }
    Ok(())
}

impl KeyValue for Spacing {
    fn from_value(key: &str, v: &Value) -> Result<Self> {
        match v {
            Value::Num(x) => Ok(Spacing::Uniform(*x)),
            Value::List(l) => Ok(Spacing::PerAxis(l.clone())),
            _ => Err(LossError::config(key, v, "expected a positive number or a list of positive numbers such as [0.5,2]")),
        }
    }
    fn to_value(&self) -> Value {
        match self {
            Spacing::Uniform(x) => Value::Num(*x),
            Spacing::PerAxis(l) => Value::List(l.clone()),
        }
    }
}

/// The `include_background` key of the distance losses: `auto` (the default: false in
/// multiclass, where channel 0 is the background class; true in multilabel, where every channel
/// is a label; binary always keeps its one channel), or `true` / `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IncludeBackground(pub Option<bool>);

impl IncludeBackground {
    /// Whether channel 0 is kept in `mode` (binary: always).
    pub fn keeps_channel0(self, mode: Mode) -> bool {
        match mode {
            Mode::Binary => true,
            Mode::Multiclass => self.0.unwrap_or(false),
            Mode::Multilabel => self.0.unwrap_or(true),
        }
    }
}

impl KeyValue for IncludeBackground {
    fn from_value(key: &str, v: &Value) -> Result<Self> {
        match v {
            Value::Bool(b) => Ok(IncludeBackground(Some(*b))),
            Value::Word(w) if w == "auto" => Ok(IncludeBackground(None)),
            _ => Err(LossError::config(key, v, "expected true, false or auto")),
        }
    }
    fn to_value(&self) -> Value {
        match self.0 {
            None => Value::Word("auto".into()),
            Some(b) => Value::Bool(b),
        }
    }
    fn examples() -> Vec<Self> {
        vec![IncludeBackground(Some(false)), IncludeBackground(Some(true))]
    }
}

/// The `classes` key of `boundary`: `all` (the channels `include_background` keeps) or a list of
/// channel indices such as `[1,3]`, which then replaces `include_background`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Channels {
    /// The channels `include_background` keeps.
    #[default]
    All,
    /// These channels (no duplicates; each checked against `C` when the loss runs).
    List(Vec<usize>),
}

impl KeyValue for Channels {
    fn from_value(key: &str, v: &Value) -> Result<Self> {
        match v {
            Value::Word(w) if w == "all" => Ok(Channels::All),
            Value::List(l) => l
                .iter()
                .map(|&x| {
                    if x.fract() == 0.0 && (0.0..9.0e15).contains(&x) {
                        Ok(x as usize)
                    } else {
                        Err(LossError::config(key, v, format!("{x} is not a channel index (an integer >= 0)")))
                    }
                })
                .collect::<Result<Vec<usize>>>()
                .map(Channels::List),
            _ => Err(LossError::config(key, v, "expected all or a list of channel indices such as [1,3]")),
        }
    }
    fn to_value(&self) -> Value {
        match self {
            Channels::All => Value::Word("all".into()),
            Channels::List(l) => Value::List(l.iter().map(|&c| c as f64).collect()),
        }
    }
}

/// Checks `classes`: a list is not empty and has no duplicate.
pub fn check_channels(key: &str, c: &Channels) -> Result<()> {
    if let Channels::List(l) = c {
        if l.is_empty() {
            return Err(LossError::config(key, c.to_value(), "must list at least one channel (or be all)"));
        }
        for (i, a) in l.iter().enumerate() {
            if l[..i].contains(a) {
                return Err(LossError::config(key, c.to_value(), format!("lists channel {a} twice")));
            }
        }
    }
    Ok(())
}

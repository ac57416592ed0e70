//! One declaration per loss: the typed config, its keys, defaults, checks and docs, and the
//! registry entry ([`LossDecl`]) that every consumer (spec parser, CLI, exporter, tests) asks.
//!
//! A loss file declares its config with [`declare_loss!`](crate::declare_loss): the struct, its
//! `Default`, the key table, parsing from [`Params`] and printing back to spec pairs are generated
//! from one list of fields, each with its default and an optional check. Keys shared by several
//! losses are declared once as a group with [`declare_keys!`](crate::declare_keys) and embedded
//! with `..field: Group`. The loss file then writes `build()` (cross-key validation, the built
//! loss) and the [`Loss`] implementation.
//!
//! ```
//! use segloss_core::declare::{checks, LossConfig, WeightUse};
//! use segloss_core::{Batch, Loss, Mode, Result};
//!
//! segloss_core::declare_loss! {
//!     /// `l1`: mean absolute error between `pred` and the target.
//!     pub struct L1Config {
//!         name: "l1",
//!         family: "my-crate",
//!         modes: [Binary, Multilabel],
//!         weight: WeightUse::None,
//!         formula: "mean |p - y|",
//!         anchor: "torch `l1_loss`",
//!         aliases: [],
//!         keys: {
//!             /// a scale, > 0
//!             scale: f32 = 1.0, check checks::positive;
//!         }
//!     }
//! }
//!
//! #[derive(Debug)]
//! pub struct L1(L1Config);
//! impl L1Config {
//!     pub fn build(&self) -> Result<L1> {
//!         self.check_keys()?;
//!         Ok(L1(self.clone()))
//!     }
//! }
//! impl Loss for L1 {
//!     fn name(&self) -> &'static str { "l1" }
//!     fn config(&self) -> Option<&dyn std::any::Any> { Some(&self.0) }
//!     fn eval_slice(&self, _b: &Batch<'_>, g: Option<&mut [f32]>, _u: f32) -> Result<f32> {
//!         if let Some(g) = g { g.fill(0.0) }
//!         Ok(0.0)
//!     }
//! }
//!
//! assert_eq!(L1Config::DECL.keys().iter().map(|k| k.key).collect::<Vec<_>>(), ["scale", "mode"]);
//! assert_eq!(L1Config::DECL.keys()[0].default, "1");
//! let c = L1Config { scale: 2.0, ..Default::default() };
//! assert_eq!(c.to_spec(), "l1:scale=2");
//! ```

use crate::error::{LossError, Result};
use crate::input::Mode;
use crate::loss::{Loss, Reduction};
use crate::params::{fmt_num, KeyInfo, Params, Value};
use std::fmt;

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
/// it is missing ([`checks::required`]).
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

/// The keys of a config (or of a group of keys shared by several configs).
pub trait KeyGroup: Sized {
    /// Appends the key table, in declaration order.
    fn key_infos(out: &mut Vec<KeyInfo>);
    /// Overrides the fields whose keys `p` holds (each consumed from `p`).
    fn read(&mut self, p: &mut Params) -> Result<()>;
    /// Appends the keys whose values differ from the default, as spec pairs.
    fn write(&self, out: &mut Vec<(String, Value)>);
    /// Runs every per-key check (range, finiteness), naming key and value on failure.
    fn check_keys(&self) -> Result<()>;
}

/// Whether a loss takes the `weight` input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightUse {
    /// A weight is an error.
    None,
    /// A per-element (or per-pixel) weight multiplies each term.
    Optional,
    /// The loss needs it (e.g. the distance map of `distance_bce`).
    Required,
}

/// An old key name still accepted: `old=v` reads as `new=map(v)`, and prints as the new key.
#[derive(Clone, Copy)]
pub struct Alias {
    /// The old key.
    pub old: &'static str,
    /// The key it stands for.
    pub new: &'static str,
    /// Maps the old key's value to the new key's value.
    pub map: fn(&Value) -> Result<Value>,
}

impl fmt::Debug for Alias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Alias({} -> {})", self.old, self.new)
    }
}

/// A loss's typed config, as generated by [`declare_loss!`](crate::declare_loss).
pub trait LossConfig: KeyGroup + Default + Clone + fmt::Debug + PartialEq + Send + Sync + 'static {
    /// The registry entry.
    const DECL: LossDecl;
    /// Builds the config from spec parameters (after aliases), every key checked.
    fn from_params(p: &mut Params) -> Result<Self> {
        let mut c = Self::default();
        c.read(p)?;
        p.finish(Self::DECL.keys())?;
        Ok(c)
    }
    /// The spec pairs of the keys that differ from their defaults.
    fn to_pairs(&self) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }
    /// The spec string of this config (`name` alone when every key is at its default).
    fn to_spec(&self) -> String {
        let pairs = self.to_pairs();
        let mut s = Self::DECL.name.to_string();
        for (i, (k, v)) in pairs.iter().enumerate() {
            s.push_str(if i == 0 { ":" } else { "," });
            s.push_str(&format!("{k}={v}"));
        }
        s
    }
    /// Validates and builds the loss, boxed.
    fn build_boxed(&self) -> Result<Box<dyn Loss>>;
}

/// Prints the canonical spec pairs of parameters (see [`LossDecl::canonical`]).
pub type CanonicalFn = fn(&Params) -> Result<Vec<(String, Value)>>;

/// One loss of the registry: everything the spec parser, the CLI, the exporter, the docs and the
/// tests need to know about it, generated from its declaration.
#[derive(Clone, Copy)]
pub struct LossDecl {
    /// The loss name in spec strings.
    pub name: &'static str,
    /// The crate that implements it.
    pub family: &'static str,
    /// The modes it accepts.
    pub modes: &'static [Mode],
    /// Whether it takes the `weight` input.
    pub weight: WeightUse,
    /// A one-line formula.
    pub formula: &'static str,
    /// The reference it equals.
    pub anchor: &'static str,
    /// Old key names still accepted.
    pub aliases: &'static [Alias],
    /// Its key table (from the declaration; defaults printed from the config's `Default`).
    pub keys: fn() -> &'static [KeyInfo],
    /// Builds the loss from spec parameters.
    pub build: fn(&mut Params) -> Result<Box<dyn Loss>>,
    /// The canonical spec pairs of the given parameters: aliases replaced by their keys, values
    /// printed as the config holds them, keys at their defaults kept (in the order given).
    pub canonical: CanonicalFn,
}

impl fmt::Debug for LossDecl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LossDecl({})", self.name)
    }
}

impl LossDecl {
    /// The key table.
    pub fn keys(&self) -> &'static [KeyInfo] {
        (self.keys)()
    }

    /// The key named `key` (aliases not included).
    pub fn key(&self, key: &str) -> Option<&'static KeyInfo> {
        self.keys().iter().find(|k| k.key == key)
    }

    /// Whether the loss accepts `mode`.
    pub fn accepts(&self, mode: Mode) -> bool {
        self.modes.contains(&mode)
    }

    /// The mode when only this loss decides: its single mode, if it has one.
    pub fn only_mode(&self) -> Option<Mode> {
        match self.modes {
            [m] => Some(*m),
            _ => None,
        }
    }

    /// Replaces old key names by their keys (mapping their values); an old name given together
    /// with its new one is an error naming both.
    pub fn resolve_aliases(&self, pairs: Vec<(String, Value)>) -> Result<Vec<(String, Value)>> {
        let mut out: Vec<(String, Value)> = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            let (k, v) = match self.aliases.iter().find(|a| a.old == k) {
                Some(a) => (a.new.to_string(), (a.map)(&v)?),
                None => (k, v),
            };
            if out.iter().any(|(e, _)| *e == k) {
                let also: Vec<&str> = self.aliases.iter().filter(|a| a.new == k).map(|a| a.old).collect();
                let hint = if also.is_empty() { String::new() } else { format!(" ({} is its old name)", also.join(", ")) };
                return Err(LossError::config(&k, &v, format!("the key `{k}` is given twice{hint}")));
            }
            out.push((k, v));
        }
        Ok(out)
    }

    /// Builds the loss from `(key, value)` pairs (aliases accepted).
    pub fn build_from(&self, pairs: Vec<(String, Value)>) -> Result<Box<dyn Loss>> {
        let mut p = Params::new(self.name, self.resolve_aliases(pairs)?)?;
        (self.build)(&mut p)
    }
}

/// The generic pieces of a [`LossDecl`] (used by [`declare_loss!`](crate::declare_loss)).
pub fn build_params<C: LossConfig>(p: &mut Params) -> Result<Box<dyn Loss>> {
    C::from_params(p)?.build_boxed()
}

/// The canonical pairs of `p` for the config `C` (used by [`declare_loss!`](crate::declare_loss)):
/// the keys in the order given, each value printed from the parsed config.
pub fn canonical_params<C: LossConfig>(p: &Params) -> Result<Vec<(String, Value)>> {
    let mut q = p.clone();
    let c = C::from_params(&mut q)?;
    let printed = c.to_pairs();
    let mut all = Vec::new();
    for (k, given) in p.pairs() {
        let v = match printed.iter().find(|(pk, _)| pk == k) {
            Some((_, v)) => v.clone(),
            // a key given at its default value prints the default
            None => C::DECL.key(k).map_or_else(|| given.clone(), |i| i.value.clone()),
        };
        all.push((k.to_string(), v));
    }
    Ok(all)
}

/// Per-key checks: each returns an error naming the key and the value.
pub mod checks {
    use super::*;

    fn num<T: Copy + Into<f64>>(x: &T) -> f64 {
        (*x).into()
    }

    /// Finite and `>= 0`.
    pub fn nonneg<T: Copy + Into<f64>>(key: &str, x: &T) -> Result<()> {
        let v = num(x);
        ok(key, v, v.is_finite() && v >= 0.0, "must be finite and >= 0")
    }

    /// Finite and `> 0`.
    pub fn positive<T: Copy + Into<f64>>(key: &str, x: &T) -> Result<()> {
        let v = num(x);
        ok(key, v, v.is_finite() && v > 0.0, "must be finite and > 0")
    }

    /// In `[0, 1]`.
    pub fn unit<T: Copy + Into<f64>>(key: &str, x: &T) -> Result<()> {
        let v = num(x);
        ok(key, v, (0.0..=1.0).contains(&v), "must lie in [0, 1]")
    }

    /// In the open interval `(0, 1)`.
    pub fn open_unit<T: Copy + Into<f64>>(key: &str, x: &T) -> Result<()> {
        let v = num(x);
        ok(key, v, v > 0.0 && v < 1.0, "must lie in the open interval (0, 1)")
    }

    /// Given, finite and `> 0`.
    pub fn required_positive<T: Copy + Into<f64> + KeyValue>(key: &str, x: &Required<T>) -> Result<()> {
        match x.0 {
            None => Err(LossError::config(key, "(missing)", "is required (> 0)")),
            Some(v) => positive(key, &v),
        }
    }

    /// When given: `>= 0` (or `none`).
    pub fn opt_nonneg<T: Copy + Into<f64>>(key: &str, x: &Option<T>) -> Result<()> {
        x.as_ref().map_or(Ok(()), |v| nonneg(key, v))
    }

    /// When given: a non-empty list of finite values `>= 0`.
    pub fn weights(key: &str, w: &Option<Vec<f32>>) -> Result<()> {
        match w {
            Some(w) if w.is_empty() || w.iter().any(|v| !(v.is_finite() && *v >= 0.0)) => {
                Err(LossError::config(key, w.to_value(), "must be a non-empty list of finite values >= 0"))
            }
            _ => Ok(()),
        }
    }

    fn ok(key: &str, v: f64, good: bool, reason: &str) -> Result<()> {
        if good && !v.is_nan() {
            Ok(())
        } else {
            Err(LossError::config(key, fmt_num(v), reason))
        }
    }
}

/// The doc text of a field: its doc lines joined with spaces.
pub fn join_doc(lines: &[&str]) -> String {
    lines.iter().map(|l| l.trim()).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Declares a group of keys shared by several losses (see the [module docs](self)).
#[macro_export]
macro_rules! declare_keys {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[doc = $doc:literal])*
                $field:ident : $ty:ty = $default:expr $(, check $check:expr)? ;
            )*
            $( .. $gfield:ident : $gty:ty ; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        $vis struct $name {
            $( $(#[doc = $doc])* pub $field: $ty, )*
            $(
                /// Keys of an embedded group.
                pub $gfield: $gty,
            )*
        }

        impl ::std::default::Default for $name {
            fn default() -> Self {
                $name { $( $field: $default, )* $( $gfield: ::std::default::Default::default(), )* }
            }
        }

        impl $crate::declare::KeyGroup for $name {
            fn key_infos(out: &mut ::std::vec::Vec<$crate::params::KeyInfo>) {
                let d = <Self as ::std::default::Default>::default();
                $(
                    out.push($crate::params::KeyInfo {
                        key: stringify!($field),
                        default: $crate::declare::KeyValue::default_text(&d.$field),
                        value: $crate::declare::KeyValue::to_value(&d.$field),
                        doc: $crate::declare::join_doc(&[$($doc),*]),
                        examples: <$ty as $crate::declare::KeyValue>::examples().iter().map($crate::declare::KeyValue::to_value).collect(),
                    });
                )*
                let _ = d;
                $( <$gty as $crate::declare::KeyGroup>::key_infos(out); )*
            }
            fn read(&mut self, p: &mut $crate::params::Params) -> $crate::Result<()> {
                $(
                    if let Some(v) = p.take_value(stringify!($field)) {
                        self.$field = <$ty as $crate::declare::KeyValue>::from_value(stringify!($field), &v)?;
                    }
                )*
                $( $crate::declare::KeyGroup::read(&mut self.$gfield, p)?; )*
                let _ = p;
                Ok(())
            }
            fn write(&self, out: &mut ::std::vec::Vec<(::std::string::String, $crate::params::Value)>) {
                let d = <Self as ::std::default::Default>::default();
                $(
                    if self.$field != d.$field {
                        out.push((stringify!($field).into(), $crate::declare::KeyValue::to_value(&self.$field)));
                    }
                )*
                let _ = d;
                $( $crate::declare::KeyGroup::write(&self.$gfield, out); )*
                let _ = out;
            }
            fn check_keys(&self) -> $crate::Result<()> {
                $( $( ($check)(stringify!($field), &self.$field)?; )? )*
                $( $crate::declare::KeyGroup::check_keys(&self.$gfield)?; )*
                Ok(())
            }
        }
    };
}

/// Declares a loss's config and its registry entry (see the [module docs](self)). Every loss
/// also gets the `mode` key (`None`: inferred from the shapes), checked against `modes`.
/// `..field: Group;` embeds a group of keys declared with [`declare_keys!`](crate::declare_keys).
/// The loss file writes an inherent `build(&self) -> Result<L>` whose `L: Loss`.
#[macro_export]
macro_rules! declare_loss {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            name: $lname:literal,
            family: $family:literal,
            modes: [$($mode:ident),+ $(,)?],
            weight: $weight:expr,
            formula: $formula:literal,
            anchor: $anchor:literal,
            aliases: [$($alias:expr),* $(,)?],
            keys: {
                $(
                    $(#[doc = $doc:literal])*
                    $field:ident : $ty:ty = $default:expr $(, check $check:expr)? ;
                )*
                $( .. $gfield:ident : $gty:ty ; )*
            }
        }
    ) => {
        $(#[$meta])*
        ///
        /// Every key, its default and its check are listed in `docs/LOSSES.md` and by
        /// `segloss list`, both generated from this declaration.
        #[derive(Debug, Clone, PartialEq)]
        $vis struct $name {
            $( $(#[doc = $doc])* pub $field: $ty, )*
            $(
                /// Keys shared with other losses of the family.
                pub $gfield: $gty,
            )*
            /// `mode`: binary, multiclass or multilabel, as the loss allows (`None`: inferred
            /// from the shapes).
            pub mode: ::std::option::Option<$crate::Mode>,
        }

        impl ::std::default::Default for $name {
            fn default() -> Self {
                $name {
                    $( $field: $default, )*
                    $( $gfield: ::std::default::Default::default(), )*
                    mode: None,
                }
            }
        }

        impl $crate::declare::KeyGroup for $name {
            fn key_infos(out: &mut ::std::vec::Vec<$crate::params::KeyInfo>) {
                let d = <Self as ::std::default::Default>::default();
                $(
                    out.push($crate::params::KeyInfo {
                        key: stringify!($field),
                        default: $crate::declare::KeyValue::default_text(&d.$field),
                        value: $crate::declare::KeyValue::to_value(&d.$field),
                        doc: $crate::declare::join_doc(&[$($doc),*]),
                        examples: <$ty as $crate::declare::KeyValue>::examples().iter().map($crate::declare::KeyValue::to_value).collect(),
                    });
                )*
                $( <$gty as $crate::declare::KeyGroup>::key_infos(out); )*
                out.push($crate::params::mode_key(Self::DECL.modes));
            }
            fn read(&mut self, p: &mut $crate::params::Params) -> $crate::Result<()> {
                $(
                    if let Some(v) = p.take_value(stringify!($field)) {
                        self.$field = <$ty as $crate::declare::KeyValue>::from_value(stringify!($field), &v)?;
                    }
                )*
                $( $crate::declare::KeyGroup::read(&mut self.$gfield, p)?; )*
                if let Some(v) = p.take_value("mode") {
                    self.mode = Some(<$crate::Mode as $crate::declare::KeyValue>::from_value("mode", &v)?);
                }
                Ok(())
            }
            fn write(&self, out: &mut ::std::vec::Vec<(::std::string::String, $crate::params::Value)>) {
                let d = <Self as ::std::default::Default>::default();
                $(
                    if self.$field != d.$field {
                        out.push((stringify!($field).into(), $crate::declare::KeyValue::to_value(&self.$field)));
                    }
                )*
                $( $crate::declare::KeyGroup::write(&self.$gfield, out); )*
                if let Some(m) = self.mode {
                    out.push(("mode".into(), $crate::declare::KeyValue::to_value(&m)));
                }
            }
            fn check_keys(&self) -> $crate::Result<()> {
                $( $( ($check)(stringify!($field), &self.$field)?; )? )*
                $( $crate::declare::KeyGroup::check_keys(&self.$gfield)?; )*
                $crate::params::check_mode($lname, self.mode, Self::DECL.modes)
            }
        }

        impl $crate::declare::LossConfig for $name {
            const DECL: $crate::declare::LossDecl = $crate::declare::LossDecl {
                name: $lname,
                family: $family,
                modes: &[$($crate::Mode::$mode),+],
                weight: $weight,
                formula: $formula,
                anchor: $anchor,
                aliases: &[$($alias),*],
                keys: $name::__key_table,
                build: $crate::declare::build_params::<$name>,
                canonical: $crate::declare::canonical_params::<$name>,
            };
            fn build_boxed(&self) -> $crate::Result<::std::boxed::Box<dyn $crate::Loss>> {
                Ok(::std::boxed::Box::new(self.build()?))
            }
        }

        impl $name {
            /// The registry entry of this loss.
            pub const DECL: $crate::declare::LossDecl = <$name as $crate::declare::LossConfig>::DECL;

            /// Runs every per-key check of the declaration (ranges, finiteness, the mode).
            pub fn check_keys(&self) -> $crate::Result<()> {
                <Self as $crate::declare::KeyGroup>::check_keys(self)
            }

            /// The spec string of this config (`name` alone when every key is at its default).
            pub fn to_spec(&self) -> ::std::string::String {
                <Self as $crate::declare::LossConfig>::to_spec(self)
            }

            #[doc(hidden)]
            pub fn __key_table() -> &'static [$crate::params::KeyInfo] {
                static KEYS: ::std::sync::OnceLock<::std::vec::Vec<$crate::params::KeyInfo>> = ::std::sync::OnceLock::new();
                KEYS.get_or_init(|| {
                    let mut v = ::std::vec::Vec::new();
                    <$name as $crate::declare::KeyGroup>::key_infos(&mut v);
                    v
                })
            }
        }
    };
}

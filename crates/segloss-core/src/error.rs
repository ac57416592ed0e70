//! The one error type of segloss: every message names the shapes, key or value at fault.

use std::fmt;

/// Result alias used across segloss.
pub type Result<T> = std::result::Result<T, LossError>;

/// Formats a shape as `[a, b, c]`.
pub fn fmt_shape(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

/// Everything that can go wrong with user input. Nothing in segloss panics on user input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LossError {
    /// Two tensors whose shapes must agree do not.
    #[error("shape mismatch: {what}: {left_name} has shape {left} but {right_name} has shape {right}", left = fmt_shape(.left), right = fmt_shape(.right))]
    ShapeMismatch {
        /// What rule was broken.
        what: String,
        /// Name of the first tensor (e.g. `pred`).
        left_name: &'static str,
        /// Its shape.
        left: Vec<usize>,
        /// Name of the second tensor (e.g. `target`).
        right_name: &'static str,
        /// Its shape.
        right: Vec<usize>,
    },
    /// A tensor has a rank or shape no loss accepts.
    #[error("invalid shape: {name} has shape {shape}: {reason}", shape = fmt_shape(.shape))]
    InvalidShape {
        /// Name of the tensor.
        name: &'static str,
        /// Its shape.
        shape: Vec<usize>,
        /// Why it is rejected.
        reason: String,
    },
    /// A tensor has no element.
    #[error("empty tensor: {name} has shape {shape} with no element", shape = fmt_shape(.shape))]
    Empty {
        /// Name of the tensor.
        name: &'static str,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// A label is outside `[0, classes)` and is not the ignore index.
    #[error("label out of range: target{index} = {label}, expected {expected}", index = fmt_shape(.index))]
    LabelOutOfRange {
        /// The offending value.
        label: String,
        /// Its multi-index in the target.
        index: Vec<usize>,
        /// What was expected, e.g. `an integer in [0, 21) or ignore_index 255`.
        expected: String,
    },
    /// A configuration value (a key of the spec) is invalid.
    #[error("invalid value for `{key}`: {value}: {reason}")]
    InvalidConfig {
        /// The key, as in the spec strings (e.g. `gamma`).
        key: String,
        /// The value given, as text.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
    /// The input does not suit the loss (wrong mode, wrong target type, a weight where none is taken).
    #[error("unsupported input for `{loss}`: {reason}")]
    Unsupported {
        /// The loss name.
        loss: String,
        /// Why.
        reason: String,
    },
    /// A non-finite value was found while `check_finite` was set.
    #[error("non-finite value: {name}{index} = {value}", index = fmt_shape(.index))]
    NonFinite {
        /// Name of the tensor.
        name: &'static str,
        /// Multi-index of the first non-finite element.
        index: Vec<usize>,
        /// The value.
        value: f64,
    },
    /// A spec string could not be parsed.
    #[error("invalid spec `{spec}` at byte {position}: {reason}")]
    Parse {
        /// The whole spec string.
        spec: String,
        /// Byte offset of the problem.
        position: usize,
        /// What is wrong.
        reason: String,
    },
}

impl LossError {
    /// Shorthand for [`LossError::InvalidConfig`].
    pub fn config(key: impl Into<String>, value: impl fmt::Display, reason: impl Into<String>) -> Self {
        LossError::InvalidConfig { key: key.into(), value: value.to_string(), reason: reason.into() }
    }

    /// Shorthand for [`LossError::Unsupported`].
    pub fn unsupported(loss: impl Into<String>, reason: impl Into<String>) -> Self {
        LossError::Unsupported { loss: loss.into(), reason: reason.into() }
    }
}

/// Turns a flat index into a multi-index for `shape` (row-major).
pub fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (i, &d) in shape.iter().enumerate().rev() {
        if d > 0 {
            idx[i] = flat % d;
            flat /= d;
        }
    }
    idx
}

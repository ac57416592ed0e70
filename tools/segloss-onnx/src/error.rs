//! [`ExportError`]: why an export, an attach or a model decode failed.

use segloss::LossError;
use std::fmt;
use std::path::PathBuf;

/// The result type of this crate's functions.
pub type Result<T, E = ExportError> = std::result::Result<T, E>;

/// Why an export failed. Every variant's message names what to change (the key, option, model
/// name or path, and its value).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The spec: an empty spec, an unknown loss, a key its family rejects (the family's own
    /// [`LossError`], naming key and value), or a term weight that is not finite.
    #[error(transparent)]
    Spec(LossError),
    /// An export option out of range or in conflict with the spec or the model: `rank`, `opset`,
    /// `classes`, `mode`, `channel`, `with_weight`, `pixel_weight`, `prefix`, or attach's `to`.
    #[error("invalid value for `{option}`: {value}: {reason}")]
    Option {
        /// The option's name (the field of [`ExportOptions`](crate::ExportOptions), or `to`).
        option: &'static str,
        /// The value given, as text.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A loss, or a setting of it, with no ONNX form (`hausdorff_dt`; `cldice` with
    /// `reduction=none`; a loss of the registry without an exporter).
    #[error("`{loss}` has no ONNX form: {reason}")]
    Unsupported {
        /// The loss name.
        loss: String,
        /// Why.
        reason: String,
    },
    /// A model given to [`attach`](crate::attach) or [`inline_functions`](crate::inline_functions)
    /// that does not fit: no graph, an opset out of range, a name already used, a function call
    /// with attributes or too many arguments.
    #[error("the model {0}")]
    Model(String),
    /// Bytes that are not an ONNX model (the protobuf decoder's message).
    #[error("not an ONNX model: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// Writing a model file failed.
    #[error("{}: cannot write: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl ExportError {
    /// An [`ExportError::Option`].
    pub(crate) fn option(option: &'static str, value: impl fmt::Display, reason: impl Into<String>) -> Self {
        ExportError::Option { option, value: value.to_string(), reason: reason.into() }
    }

    /// An [`ExportError::Unsupported`].
    pub(crate) fn unsupported(loss: impl Into<String>, reason: impl Into<String>) -> Self {
        ExportError::Unsupported { loss: loss.into(), reason: reason.into() }
    }

    /// An [`ExportError::Model`]: `what` completes "the model ...".
    pub(crate) fn model(what: impl Into<String>) -> Self {
        ExportError::Model(what.into())
    }

    /// The spec key or export option the error is about, if it is about one (for callers that
    /// map it to their own flag names, as the CLI does).
    pub fn key(&self) -> Option<&str> {
        match self {
            ExportError::Spec(LossError::InvalidConfig { key, .. }) => Some(key),
            ExportError::Option { option, .. } => Some(option),
            _ => None,
        }
    }
}

/// A loss family's error (from building a term in the registry) is about the spec.
impl From<LossError> for ExportError {
    fn from(e: LossError) -> Self {
        ExportError::Spec(e)
    }
}

//! # segloss-core
//!
//! The small core shared by the segloss loss families:
//! - [`input`]: the batch (prediction, target, optional weight), the modes and shape rules;
//! - [`error`]: [`LossError`], whose messages name the shapes, key or value at fault;
//! - [`loss`]: the [`Loss`] trait (`forward`, `forward_backward`, `forward_backward_into`) and
//!   [`Reduction`];
//! - [`params`]: typed key/value parameters of the spec strings and the catalogue entries;
//! - [`simd`]: exp, ln, ln_1p, sigmoid and softplus on `f32x8` lanes with measured error bounds;
//! - [`reduce`]: deterministic parallel reductions (same bits for any thread count);
//! - `testing` (feature `testing`): proptest strategies and a finite-difference gradient checker.
#![warn(missing_docs)]

pub mod error;
pub mod input;
pub mod loss;
pub mod params;
pub mod reduce;
pub mod simd;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{LossError, Result};
pub use input::{resolve, resolve_with_ignore, AsView, Batch, Layout, Mode, Target, TargetLayout, WeightLayout};
pub use loss::{Loss, Reduction};
pub use params::{KeyInfo, LossInfo, Params, Value};

/// Clipping bound for probabilities (as Keras' `epsilon()`).
pub const PROB_EPS: f32 = 1e-7;

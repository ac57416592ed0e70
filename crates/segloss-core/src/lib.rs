//! # segloss-core
//!
//! The small core shared by the segloss loss families:
//! - [`input`]: the batch (prediction, target, optional weight), the modes and shape rules;
//! - [`error`]: [`LossError`], whose messages name the shapes, key or value at fault;
//! - [`loss`]: the [`Loss`] trait (`forward`, `forward_backward`, `forward_backward_into`) and
//!   [`Reduction`];
//! - [`declare`]: one declaration per loss ([`declare_loss!`]): typed config, keys, defaults,
//!   checks and the registry entry [`LossDecl`];
//! - [`params`]: key/value parameters of the spec strings; [`spec`]: the spec strings;
//! - [`kernel`]: the backend switch and the checks every loss shares; [`rng`]: the seeded
//!   generator of the tests, benches and demo;
//! - [`simd`]: exp, ln, ln_1p, sigmoid and softplus on `f32x8` lanes with measured error bounds;
//! - [`reduce`]: deterministic parallel reductions (same bits for any thread count);
//! - `testing` (feature `testing`): proptest strategies and a finite-difference gradient checker;
//!   `golden` (feature `testing`): the golden-fixture format, its loader and `check_loss`.
#![warn(missing_docs)]

pub mod declare;
pub mod error;
#[cfg(feature = "testing")]
pub mod golden;
pub mod input;
pub mod kernel;
pub mod loss;
pub mod params;
pub mod reduce;
pub mod rng;
pub mod simd;
pub mod spec;
pub mod target;
#[cfg(feature = "testing")]
pub mod testing;

pub use declare::{Classes, KeyGroup, KeyValue, LossConfig, LossDecl, Reduce, WeightUse};
pub use error::{LossError, Result};
pub use input::{resolve, resolve_with_ignore, AsView, Batch, Layout, Mode, OwnedTarget, Target, TargetLayout, WeightLayout};
pub use kernel::Backend;
pub use loss::{Loss, Reduction};
pub use params::{KeyInfo, Params, Value};
pub use spec::{Combination, Registry, Term};

/// Clipping bound for probabilities (as Keras' `epsilon()`).
pub const PROB_EPS: f32 = 1e-7;

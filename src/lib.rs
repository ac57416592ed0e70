//! # segloss
//!
//! Image segmentation losses with analytic gradients on SIMD CPU kernels: the cross-entropy
//! family ([`xent`]), with the same shapes, modes and errors across families ([`core`]), a text
//! form for losses and weighted sums of losses ([`LossSpec`]), and the catalogue of every loss
//! ([`catalogue`]).
//!
//! ```
//! use ndarray::{Array, IxDyn};
//! use segloss::{Batch, Loss, LossSpec};
//!
//! let pred = Array::from_shape_vec(IxDyn(&[1, 1, 2, 2]), vec![2.0f32, -1.0, 0.5, -3.0]).unwrap();
//! let target = Array::from_shape_vec(IxDyn(&[1, 1, 2, 2]), vec![1.0f32, 0.0, 1.0, 0.0]).unwrap();
//! let loss = LossSpec::parse("focal:gamma=2,alpha=0.25").unwrap().build().unwrap();
//! let (value, grad) = loss.forward_backward(&Batch::new(&pred, &target)).unwrap();
//! assert!(value > 0.0 && grad.shape() == pred.shape());
//! ```
#![warn(missing_docs)]

pub mod registry;
pub mod spec;

pub use registry::{catalogue, info, registry};
pub use segloss_core as core;
pub use segloss_core::{Batch, Layout, Loss, LossConfig, LossDecl, LossError, Mode, Reduction, Result, Target};
pub use segloss_distance as distance;
pub use segloss_lovasz as lovasz;
pub use segloss_overlap as overlap;
pub use segloss_xent as xent;
pub use spec::{Combination, LossSpec, Term};

/// The property-test kit (feature `testing`): property-test any [`Loss`], ours or your own, for
/// numerical stability ([`check_stability`](testing::check_stability)), its gradient
/// ([`check_gradient`](testing::check_gradient)), determinism across thread counts
/// ([`check_determinism`](testing::check_determinism)) and memory layouts
/// ([`check_layouts`](testing::check_layouts)), on problems generated for a mode
/// ([`Problem`](testing::Problem), [`problems`](testing::problems)). The README has a complete
/// example.
#[cfg(feature = "testing")]
pub mod testing {
    pub use segloss_core::testing::kit::*;
}

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

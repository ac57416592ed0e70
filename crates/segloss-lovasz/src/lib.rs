//! # segloss-lovasz: the Lovász family
//!
//! [`lovasz_hinge`](LovaszHingeConfig) (binary and multilabel) and
//! [`lovasz_softmax`](LovaszSoftmaxConfig) (multiclass), as defined in `docs/LOSSES.md`, section
//! Lovász family, after Berman, Rannen Triki and Blaschko, *The Lovász-Softmax loss: a tractable
//! surrogate for the optimization of the intersection-over-union measure in neural networks*,
//! CVPR 2018. Values and (sub)gradients, with the Jaccard gradient `g` held constant (as autograd
//! does through the reference code). Each loss is declared once, in its own module
//! ([`lovasz_hinge`], [`lovasz_softmax`]); [`LOSSES`] is the family's registry.
//!
//! Anchor (equal): the reference `lovasz_hinge` / `lovasz_softmax` of bermanmaxim/LovaszSoftmax,
//! equal to segmentation_models_pytorch's `LovaszLoss` for binary and multiclass, on inputs without
//! ties (golden test `tests/golden.rs`, fixture written by `tools/golden/lovasz.py`).
//!
//! How it is computed:
//! - errors are sorted in descending order by [`sort`]: `u64` keys made of the order-preserving
//!   bits of the `f32` error and the pixel index, so ties are broken by pixel index and results
//!   are deterministic; NaN errors sort first; the keys are ordered by an LSD radix sort, measured
//!   faster than `sort_unstable` at 64 K, 1 M and 4 M keys ([`sort::SortAlgo`]);
//! - `g` comes from integer counts ([`jaccard`]), not from differences of float Jaccard values,
//!   so every element keeps its digits at millions of pixels;
//! - only pixels with a positive error are sorted (the others contribute nothing and `g` of the
//!   sorted prefix only depends on the prefix and the number of positives);
//! - problems (images, classes, (image, channel) pairs) run in parallel through
//!   `segloss_core::reduce` (fixed tree: 1 and N threads give the same bits); memory beyond the
//!   gradient: 16 bytes per sorted pixel of each problem in flight ([`driver`]);
//! - the softmax and its Jacobian run on SIMD kernels ([`kernels::simd`]) checked against scalar
//!   ones ([`kernels::scalar`]), chosen by `segloss_core::Backend::current()`; `reference` (feature `testing`)
//!   holds an independent generic implementation.
//!
//! A `weight` tensor is rejected with [`LossError::Unsupported`](segloss_core::LossError::Unsupported).
//!
//! ```
//! use ndarray::{ArrayD, IxDyn};
//! use segloss_core::{Batch, Classes, Loss};
//! use segloss_lovasz::{LovaszHingeConfig, LovaszSoftmaxConfig};
//!
//! // multiclass: logits [N, C, H, W] and integer labels [N, H, W], 255 ignored
//! let logits = ArrayD::from_shape_fn(IxDyn(&[2, 3, 4, 4]), |ix| (ix[1] as f32 - 1.0) * (ix[2] as f32 - ix[3] as f32));
//! let labels = ArrayD::from_shape_fn(IxDyn(&[2, 4, 4]), |ix| if ix[1] == 0 { 255i64 } else { (ix[2] % 3) as i64 });
//! let loss = LovaszSoftmaxConfig { classes: Classes::All, ignore_index: Some(255), ..Default::default() }.build()?;
//! let (value, grad) = loss.forward_backward(&Batch::new(&logits, &labels))?;
//! assert!(value >= 0.0 && grad.shape() == logits.shape());
//!
//! // binary: logits [N, 1, H, W] and 0/1 targets, one problem per image (reduce=image, the default)
//! let x = ArrayD::from_shape_fn(IxDyn(&[2, 1, 4, 4]), |ix| ix[2] as f32 - 1.5);
//! let y = ArrayD::from_shape_fn(IxDyn(&[2, 1, 4, 4]), |ix| (ix[2] >= 2) as u8 as f32);
//! let hinge = LovaszHingeConfig::default().build()?;
//! assert!(hinge.forward(&Batch::new(&x, &y))? >= 0.0);
//! # Ok::<(), segloss_core::LossError>(())
//! ```
#![warn(missing_docs)]

pub mod driver;
pub mod jaccard;
pub mod kernels;
pub mod lovasz_hinge;
pub mod lovasz_softmax;
mod problem;
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod reference;
pub mod sort;

pub use lovasz_hinge::{LovaszHinge, LovaszHingeConfig};
pub use lovasz_softmax::{LovaszSoftmax, LovaszSoftmaxConfig};

use segloss_core::declare::LossDecl;

/// The losses of this family, as registry entries (see `segloss_core::Registry`).
pub const LOSSES: &[LossDecl] = &[LovaszHingeConfig::DECL, LovaszSoftmaxConfig::DECL];

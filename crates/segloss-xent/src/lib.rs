//! # segloss-xent: the cross-entropy family
//!
//! `bce`, `wce`, `balanced_ce`, `focal` (binary, multilabel and multiclass), `distance_bce`, `ce`
//! and `topk_ce`, as defined in `docs/LOSSES.md` (section Cross-entropy): values and analytic
//! gradients from SIMD kernels ([`kernels::simd`]) checked against scalar references
//! ([`kernels::scalar`]).
//!
//! Each loss is declared once, in its own file: its config (`FocalConfig { gamma, .. }`) with
//! every key, default and check, `build()` (validated once) and the built loss (`Focal`), which
//! implements [`segloss_core::Loss`]. [`LOSSES`] lists them for the registry
//! (`segloss_core::Registry::new(segloss_xent::LOSSES)`). Conventions shared by the family:
//! - `x` is a logit, `y` the target, `p = sigmoid(x)`, `q` the positive weight;
//! - `reduction=mean` divides by the element count (binary, multilabel; for `focal` the kept
//!   elements: not ignored, not on a dropped channel 0), by the number of non-ignored pixels
//!   (multiclass focal), by the sum of the class weights of the non-ignored pixels' labels (`ce`,
//!   as torch) or by the pixel count (`ce` with class-probability targets);
//!   a per-pixel `weight` multiplies each term and leaves every normalizer as it is (the softmax
//!   losses take one weight per pixel, `[N, *S]` or `[N, 1, *S]`, never `pred`'s shape);
//! - class weights (`ce`, multiclass `focal`) are divided by their largest, in f64, before the
//!   kernels (binary and multilabel `focal`: each channel's kernel sum is multiplied by its weight
//!   in f64), and `pos_weight` / `wce`'s `beta` are at most [`MAX_POS_WEIGHT`]: huge weights do
//!   not overflow `f32`;
//! - `from_logits=false`: probabilities are clipped to `[1e-7, 1 - 1e-7]` (Keras' epsilon) and the
//!   gradient is 0 where `p` lies outside that interval;
//! - where every pixel is ignored the loss is 0 with a zero gradient (torch gives NaN);
//! - binary and multilabel float targets must lie in `[0, 1]` (soft labels allowed): a value
//!   outside is a [`segloss_core::LossError::LabelOutOfRange`], never clamped.
//!
//! Every evaluation runs the kernels of [`segloss_core::Backend::current`] (SIMD unless a test
//! forces the scalar ones with `segloss_core::kernel::with_backend`).
#![warn(missing_docs)]

mod balanced_ce;
mod bce;
mod ce;
mod distance_bce;
mod driver;
mod engine;
mod focal;
pub mod kernels;
mod keys;
mod topk_ce;
mod wce;

pub use balanced_ce::{BalancedCe, BalancedCeConfig, Beta};
pub use bce::{Bce, BceConfig};
pub use ce::{Ce, CeConfig};
pub use distance_bce::{DistanceBce, DistanceBceConfig};
pub use focal::{Alpha, Focal, FocalConfig};
pub use keys::{LogitsKey, ReductionKey, XentKeys, MAX_POS_WEIGHT};
pub use topk_ce::{kept_terms, TopkCe, TopkCeConfig};
pub use wce::{Wce, WceConfig};

use segloss_core::LossDecl;

/// The losses of this family, in catalogue order.
pub const LOSSES: &[LossDecl] = &[
    BceConfig::DECL,
    WceConfig::DECL,
    BalancedCeConfig::DECL,
    FocalConfig::DECL,
    DistanceBceConfig::DECL,
    CeConfig::DECL,
    TopkCeConfig::DECL,
];

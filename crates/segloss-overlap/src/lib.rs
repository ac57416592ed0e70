//! # segloss-overlap: the overlap family
//!
//! `dice`, `tversky`, `jaccard`, `generalized_dice`, `log_cosh_dice` (and `cldice`,
//! `dice_cldice`, `wasserstein_dice`, `mcc`, `unified_focal`, each in its own module), as defined in
//! `docs/LOSSES.md` (section Overlap family), in binary, multiclass and multilabel modes, with
//! values and analytic gradients. Each loss is declared in its own module ([`dice`],
//! [`tversky`], ...); [`LOSSES`] is the family's registry.
//!
//! With `p` the sigmoid (binary, multilabel) or softmax (multiclass) probability and `g` the
//! target (one-hot for multiclass labels), the sums over the spatial axes of each (image,
//! channel) pair (and over the batch with `reduce=batch`) are `I = sum p g` (with `soft_label`,
//! `(P + G - sum |p - g|)/2`), `P = sum p`, `G = sum g`, `FP = P - I`, `FN = G - I`. The loss is
//! `sum_c w_c L_nc / sum_c w_c` over the kept pairs (`classes`, `include_background`,
//! `ignore_index` and `ignore_mode`; `w_c` the `class_weights`, all 1 by default), or
//! `sum_c w_c L_nc` with `reduction=sum`; with no pair kept it is 0 with a zero gradient. The keys
//! every loss shares are the [`OverlapKeys`]. A per-pixel `weight` tensor is rejected.
//!
//! Two passes over the data: the first gathers the statistics of every row in fixed blocks added
//! along a fixed tree (1 and N threads agree bit for bit), the second writes the gradient.
//!
//! ```
//! use ndarray::{ArrayD, IxDyn};
//! use segloss_core::{Batch, Loss};
//! use segloss_overlap::DiceConfig;
//!
//! let logits = ArrayD::from_shape_vec(IxDyn(&[1, 2, 2, 2]), vec![2.0, -1.0, 0.5, 0.0, -2.0, 1.0, -0.5, 0.0]).unwrap();
//! let labels = ArrayD::from_shape_vec(IxDyn(&[1, 2, 2]), vec![0i64, 1, 0, 1]).unwrap();
//! let dice = DiceConfig::default().build().unwrap();
//! let (value, grad) = dice.forward_backward(&Batch::new(&logits, &labels)).unwrap();
//! assert!(value > 0.0 && value < 1.0);
//! assert_eq!(grad.shape(), &[1, 2, 2, 2]);
//!
//! // the same loss from a spec string
//! let reg = segloss_core::Registry::new(segloss_overlap::LOSSES);
//! let spec = reg.build_str("dice:reduce=batch,smooth=1").unwrap();
//! assert!(spec.forward(&Batch::new(&logits, &labels)).unwrap() < 1.0);
//! ```
#![warn(missing_docs)]

pub mod cldice;
pub mod common;
pub mod dice;
pub mod dice_cldice;
mod driver;
mod engine;
pub mod generalized_dice;
pub mod jaccard;
mod kernels;
pub mod log_cosh_dice;
pub mod mcc;
mod pairs;
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod reference;
mod skeleton;
pub mod tversky;
pub mod unified_focal;
mod unified_focal_kernels;
pub mod wasserstein_dice;
mod wasserstein_kernels;

pub use cldice::{ClDice, ClDiceConfig, ClDiceKeys};
pub use common::{IgnoreMode, OverlapKeys};
pub use dice::{Dice, DiceConfig, DiceKeys};
pub use dice_cldice::{DiceClDice, DiceClDiceConfig};
pub use generalized_dice::{GeneralizedDice, GeneralizedDiceConfig, WeightType};
pub use jaccard::{Jaccard, JaccardConfig};
pub use log_cosh_dice::{LogCoshDice, LogCoshDiceConfig};
pub use mcc::{Mcc, MccConfig};
pub use segloss_core::{Classes, Reduce, Reduction};
pub use tversky::{Tversky, TverskyConfig};
pub use unified_focal::{UnifiedFocal, UnifiedFocalConfig};
pub use wasserstein_dice::{WassersteinDice, WassersteinDiceConfig, WeightingMode};

use segloss_core::LossDecl;

/// The losses of this family, in catalogue order.
pub const LOSSES: &[LossDecl] = &[
    DiceConfig::DECL,
    TverskyConfig::DECL,
    JaccardConfig::DECL,
    GeneralizedDiceConfig::DECL,
    LogCoshDiceConfig::DECL,
    WassersteinDiceConfig::DECL,
    ClDiceConfig::DECL,
    DiceClDiceConfig::DECL,
    MccConfig::DECL,
    UnifiedFocalConfig::DECL,
];

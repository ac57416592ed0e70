//! The kernels of the family, each twice with the same signature on slices:
//! [`scalar`] (the readable reference, written from the formulas of `docs/LOSSES.md` and generic over
//! `f32`/`f64` so that tests can finite-difference it in `f64`) and [`simd`] (on `f32x8` lanes,
//! compiled once per SIMD level and run at the level given, `segloss_core::simd::Level::current()`
//! in the drivers).
//!
//! Elementwise kernels take `x` (logits or probabilities), `y` (targets), an optional multiplier
//! `w` or distance map `d`, and write `scale * d loss_i / d x_i` into `grad` when given. They
//! return the sum of the per-element losses (`f64`) and whether a target was outside `[0, 1]`.
//! Neutral element: an empty slice sums to 0 and writes nothing. Tail handling: the SIMD kernels
//! pad the last partial vector with `x = 0.5` (finite, and inside (0, 1) for probabilities),
//! `y = 0, w = 0`, mask its lanes out of the sum and
//! store only the valid lanes, so padding never changes a result.

use segloss_core::kernel::StridedOut;

// Class loops index several per-class arrays at once; `for c in 0..C` reads like the formulas.
#[allow(clippy::needless_range_loop)]
pub mod scalar;
pub mod simd;
mod simd_avx2;
mod simd_avx512;
mod simd_base;

/// The elementwise losses of the family.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ElemKind {
    /// `factor * -(q y log p + (1-y) log(1-p))` (bce, wce, balanced_ce).
    Bce {
        /// Positive weight q.
        q: f32,
        /// Overall factor (1 - beta for balanced_ce).
        factor: f32,
    },
    /// `-(a y (1-p)^gamma log p + b (1-y) p^gamma log(1-p))`.
    Focal {
        /// Focusing parameter.
        gamma: f32,
        /// Weight of positives.
        a: f32,
        /// Weight of negatives.
        b: f32,
    },
    /// `factor * bce` with per-pixel `q = q0 + exp(-d^2)`, `d` read from the weight input.
    DistanceBce {
        /// beta / (1 - beta).
        q0: f32,
        /// 1 - beta.
        factor: f32,
    },
}

/// Parameters of an elementwise kernel call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ElemParams {
    /// Which loss.
    pub kind: ElemKind,
    /// `true`: `x` holds logits; `false`: probabilities, clipped to `[eps, 1 - eps]`.
    pub from_logits: bool,
    /// Label smoothing `s`: `y <- y (1 - s) + s / 2`.
    pub smoothing: f32,
}

/// How the third input of an elementwise kernel is read.
#[derive(Debug, Clone, Copy)]
pub enum Aux<'a, T> {
    /// Nothing: every multiplier is 1.
    None,
    /// A per-element multiplier.
    Weight(&'a [T]),
    /// The distance map of `distance_bce`.
    Distance(&'a [T]),
}

impl<T: Copy> Aux<'_, T> {
    /// The sub-range `lo..hi`.
    pub fn range(&self, lo: usize, hi: usize) -> Self {
        match self {
            Aux::None => Aux::None,
            Aux::Weight(w) => Aux::Weight(&w[lo..hi]),
            Aux::Distance(d) => Aux::Distance(&d[lo..hi]),
        }
    }
}

/// Parameters of a softmax (multiclass) kernel call.
#[derive(Debug, Clone, PartialEq)]
pub struct SoftmaxParams<'a> {
    /// Number of classes C.
    pub classes: usize,
    /// Class weights (length C), or empty for all 1.
    pub class_weights: &'a [f32],
    /// `ce`: label smoothing s. Unused by focal.
    pub smoothing: f32,
    /// `Some(gamma)`: multiclass focal; `None`: cross-entropy.
    pub focal_gamma: Option<f32>,
}

impl SoftmaxParams<'_> {
    /// Weight of class `c`.
    #[inline(always)]
    pub fn w(&self, c: usize) -> f32 {
        if self.class_weights.is_empty() {
            1.0
        } else {
            self.class_weights[c]
        }
    }

    /// Sum of the class weights.
    pub fn w_sum(&self) -> f32 {
        (0..self.classes).map(|c| self.w(c)).sum()
    }
}

/// One block of a softmax kernel: `len` pixels of one image, class `c` of pixel `j` at
/// `z[c * stride + j]`.
#[derive(Clone, Copy)]
pub struct SoftmaxBlock<'a> {
    /// Logits, starting at the block's first pixel of class 0.
    pub z: &'a [f32],
    /// Distance between classes in `z`.
    pub stride: usize,
    /// Number of pixels.
    pub len: usize,
    /// Per-pixel class indices (`-1`: ignored) when targets are labels.
    pub labels: Option<&'a [i32]>,
    /// Class probabilities, same layout as `z`, when targets are soft.
    pub probs: Option<&'a [f32]>,
    /// Per-pixel multipliers.
    pub weight: Option<&'a [f32]>,
}

//! Inputs: the prediction, the target (float or integer labels), an optional per-pixel weight,
//! and the shape and mode rules of `docs/LOSSES.md`.

use crate::error::{fmt_shape, LossError, Result};
use ndarray::{ArrayBase, ArrayView, ArrayViewD, Data, Dimension, IxDyn};
use std::fmt;

pub use crate::target::{contiguous, validate_range, DenseTarget, Labels, OwnedTarget, Target};

/// How channels are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// One sigmoid per element; `pred` is `[N, 1, *S]` or `[N, *S]`.
    Binary,
    /// Softmax over the `C >= 2` channels of axis 1; integer labels or class probabilities.
    Multiclass,
    /// One sigmoid per channel; target of `pred`'s shape.
    Multilabel,
}

impl Mode {
    /// The spec-string name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Binary => "binary",
            Mode::Multiclass => "multiclass",
            Mode::Multilabel => "multilabel",
        }
    }

    /// Parses a spec-string name.
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "binary" => Some(Mode::Binary),
            "multiclass" => Some(Mode::Multiclass),
            "multilabel" => Some(Mode::Multilabel),
            _ => None,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Anything that can be viewed as an n-dimensional array of `T`.
#[allow(clippy::wrong_self_convention)]
pub trait AsView<'a, T> {
    /// The dynamic-rank view.
    fn as_view(self) -> ArrayViewD<'a, T>;
}

impl<'a, T, D: Dimension> AsView<'a, T> for ArrayView<'a, T, D> {
    fn as_view(self) -> ArrayViewD<'a, T> {
        self.into_dyn()
    }
}

impl<'a, T, S: Data<Elem = T>, D: Dimension> AsView<'a, T> for &'a ArrayBase<S, D> {
    fn as_view(self) -> ArrayViewD<'a, T> {
        self.view().into_dyn()
    }
}

/// One batch of inputs to a loss.
#[derive(Debug, Clone)]
pub struct Batch<'a> {
    /// Logits or probabilities, `[N, C, *S]` (or `[N, *S]` in binary mode).
    pub pred: ArrayViewD<'a, f32>,
    /// The target.
    pub target: Target<'a>,
    /// Optional weight: binary and multilabel, the target's shape, or `[N, *S]` / `[N, 1, *S]`
    /// broadcast over channels; multiclass (softmax), one value per pixel, `[N, *S]` or
    /// `[N, 1, *S]`.
    pub weight: Option<ArrayViewD<'a, f32>>,
    /// When set, a NaN or infinity in `pred`, a float target or `weight` is an error naming its index.
    pub check_finite: bool,
}

impl<'a> Batch<'a> {
    /// A batch of `pred` and `target`.
    pub fn new(pred: impl AsView<'a, f32>, target: impl Into<Target<'a>>) -> Self {
        Batch { pred: pred.as_view(), target: target.into(), weight: None, check_finite: false }
    }

    /// Adds a per-pixel weight map.
    pub fn with_weight(mut self, weight: impl AsView<'a, f32>) -> Self {
        self.weight = Some(weight.as_view());
        self
    }

    /// Turns non-finite inputs into errors instead of propagating them.
    pub fn check_finite(mut self, on: bool) -> Self {
        self.check_finite = on;
        self
    }

    /// Checks `pred`, float targets and `weight` for NaN/inf (only when `check_finite` is set).
    pub fn validate_finite(&self) -> Result<()> {
        if !self.check_finite {
            return Ok(());
        }
        let check = |name: &'static str, a: &ArrayViewD<'_, f32>| -> Result<()> {
            match a.indexed_iter().find(|(_, v)| !v.is_finite()) {
                None => Ok(()),
                Some((ix, v)) => Err(LossError::NonFinite { name, index: ix.as_array_view().to_vec(), value: *v as f64 }),
            }
        };
        check("pred", &self.pred)?;
        if let Target::F32(t) = &self.target {
            check("target", t)?;
        }
        if let Some(w) = &self.weight {
            check("weight", w)?;
        }
        Ok(())
    }
}

/// How the target's elements line up with `pred`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetLayout {
    /// One target value per `pred` element (`[N, C, S]` order).
    Dense,
    /// One label per pixel (`[N, S]` order).
    Labels,
}

/// How the weight's elements line up with `pred`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightLayout {
    /// One weight per `pred` element (binary and multilabel only).
    Dense,
    /// One weight per pixel, `[N, *S]` order: broadcast over the channels (binary, multilabel),
    /// or the weight of the pixel's term (multiclass, whose only layout this is).
    PerPixel,
}

/// The resolved problem: mode, sizes and how target and weight map onto `pred`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The mode (given or inferred).
    pub mode: Mode,
    /// Batch size N.
    pub n: usize,
    /// Channels C (1 for binary).
    pub c: usize,
    /// Pixels per image (product of the spatial axes).
    pub s: usize,
    /// The spatial axes.
    pub spatial: Vec<usize>,
    /// Whether `pred` has a channel axis.
    pub channel_axis: bool,
    /// The target's layout.
    pub target: TargetLayout,
    /// The weight's layout, if a weight is given.
    pub weight: Option<WeightLayout>,
}

impl Layout {
    /// Number of `pred` elements.
    pub fn len(&self) -> usize {
        self.n * self.c * self.s
    }

    /// Whether there is no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shape of `pred`.
    pub fn pred_shape(&self) -> Vec<usize> {
        let mut v = vec![self.n];
        if self.channel_axis {
            v.push(self.c);
        }
        v.extend(&self.spatial);
        v
    }

    /// The shape of a per-pixel map `[N, *S]`.
    pub fn pixel_shape(&self) -> Vec<usize> {
        let mut v = vec![self.n];
        v.extend(&self.spatial);
        v
    }
}

fn mismatch(what: &str, pred: &[usize], target: &[usize]) -> LossError {
    LossError::ShapeMismatch {
        what: what.to_string(),
        left_name: "pred",
        left: pred.to_vec(),
        right_name: "target",
        right: target.to_vec(),
    }
}

/// Resolves the mode and layout of a batch by the rules of `docs/LOSSES.md`.
///
/// `requested` is the loss's `mode` key, if given. Integer binary targets must be 0 or 1 (checked
/// here); multiclass labels are checked by the loss (it knows `ignore_index`). A weight must be
/// the target's shape, `[N, *S]` or `[N, 1, *S]`; in multiclass mode (labels or class
/// probabilities) only the per-pixel `[N, *S]` and `[N, 1, *S]`.
pub fn resolve(batch: &Batch<'_>, requested: Option<Mode>) -> Result<Layout> {
    resolve_with_ignore(batch, requested, None)
}

/// [`resolve`] for a loss with an `ignore_index`: integer binary and multilabel targets may hold
/// that value besides 0 and 1.
pub fn resolve_with_ignore(batch: &Batch<'_>, requested: Option<Mode>, ignore_index: Option<i64>) -> Result<Layout> {
    let ps = batch.pred.shape();
    let ts = batch.target.shape();
    if ps.contains(&0) {
        return Err(LossError::Empty { name: "pred", shape: ps.to_vec() });
    }
    if ts.contains(&0) {
        return Err(LossError::Empty { name: "target", shape: ts.to_vec() });
    }
    let float = !batch.target.is_integer();
    let bad_rank = |reason: &str| LossError::InvalidShape { name: "pred", shape: ps.to_vec(), reason: reason.to_string() };

    // Binary without a channel axis: pred [N, *S] with target of the same shape.
    let no_channel = requested == Some(Mode::Binary) && ts == ps && (2..=4).contains(&ps.len()) && !(ps.len() >= 3 && ps[1] == 1);
    let (n, c, spatial, channel_axis) = if no_channel {
        (ps[0], 1, ps[1..].to_vec(), false)
    } else {
        if !(3..=5).contains(&ps.len()) {
            return Err(bad_rank(
                "expected [N, C, *S] with one to three spatial axes (or [N, *S] with mode=binary and a target of the same shape)",
            ));
        }
        (ps[0], ps[1], ps[2..].to_vec(), true)
    };
    let s: usize = spatial.iter().product();
    let mut pix = vec![n];
    pix.extend(&spatial);
    let mut pix1 = vec![n, 1];
    pix1.extend(&spatial);

    let mode = match requested {
        Some(m) => m,
        None => {
            if c == 1 {
                Mode::Binary
            } else if float {
                Mode::Multilabel
            } else {
                Mode::Multiclass
            }
        }
    };
    let target = match mode {
        Mode::Binary => {
            if c != 1 {
                return Err(LossError::InvalidShape {
                    name: "pred",
                    shape: ps.to_vec(),
                    reason: format!("mode=binary needs one channel (axis 1 has {c}); use mode=multilabel for one sigmoid per channel"),
                });
            }
            if ts == ps || ts == pix.as_slice() || ts == pix1.as_slice() {
                TargetLayout::Dense
            } else {
                return Err(mismatch(&format!("binary targets must have pred's shape or {}", fmt_shape(&pix)), ps, ts));
            }
        }
        Mode::Multilabel => {
            if ts != ps {
                return Err(mismatch("multilabel targets must have pred's shape", ps, ts));
            }
            TargetLayout::Dense
        }
        Mode::Multiclass => {
            if c < 2 {
                return Err(LossError::InvalidShape {
                    name: "pred",
                    shape: ps.to_vec(),
                    reason: "mode=multiclass needs at least 2 channels on axis 1".into(),
                });
            }
            if float {
                if ts != ps {
                    return Err(mismatch("multiclass class-probability targets must have pred's shape", ps, ts));
                }
                TargetLayout::Dense
            } else if ts == pix.as_slice() || ts == pix1.as_slice() {
                TargetLayout::Labels
            } else {
                return Err(mismatch(&format!("multiclass labels must have shape {} or {}", fmt_shape(&pix), fmt_shape(&pix1)), ps, ts));
            }
        }
    };
    let weight = match &batch.weight {
        None => None,
        Some(w) => {
            let ws = w.shape();
            let per_pixel = ws == pix.as_slice() || ws == pix1.as_slice();
            if mode == Mode::Multiclass && !per_pixel {
                // a softmax loss has one term per pixel, labels and class probabilities alike: a
                // weight of pred's shape (also the class-probability target's) has no meaning
                return Err(LossError::ShapeMismatch {
                    what: format!(
                        "the weight of a softmax (multiclass) loss is one value per pixel: [N, *S] = {} or [N, 1, *S] = {}",
                        fmt_shape(&pix),
                        fmt_shape(&pix1)
                    ),
                    left_name: "weight",
                    left: ws.to_vec(),
                    right_name: "pred",
                    right: ps.to_vec(),
                });
            }
            let wl = if mode == Mode::Multiclass {
                Some(WeightLayout::PerPixel)
            } else if ws == ps || ws == ts {
                Some(WeightLayout::Dense)
            } else if per_pixel {
                Some(if c == 1 { WeightLayout::Dense } else { WeightLayout::PerPixel })
            } else {
                None
            };
            let Some(wl) = wl else {
                return Err(LossError::ShapeMismatch {
                    what: format!("weight must have the target's shape or the per-pixel shape {}", fmt_shape(&pix)),
                    left_name: "weight",
                    left: ws.to_vec(),
                    right_name: "target",
                    right: ts.to_vec(),
                });
            };
            Some(wl)
        }
    };
    if mode == Mode::Binary && target == TargetLayout::Dense && batch.target.is_integer() {
        let labels = batch.target.labels().expect("integer target");
        labels.validate(2, ignore_index, ts)?;
    }
    if mode == Mode::Multilabel && batch.target.is_integer() {
        let labels = batch.target.labels().expect("integer target");
        labels.validate(2, ignore_index, ts)?;
    }
    batch.validate_finite()?;
    Ok(Layout { mode, n, c, s, spatial, channel_axis, target, weight })
}

/// The dimension type used for outputs.
pub type Shape = IxDyn;

//! `topk_ce`: the mean of the largest k percent of the per-element cross-entropy terms (nnU-Net's
//! `TopKLoss`).
//!
//! Three passes, each over fixed blocks (the same bits for any thread count):
//! 1. the per-element terms `l_i` (the `reduction=none` map of `ce` or `bce`) from the family's
//!    kernels, in parallel; with a gradient buffer the kernels also write each term's gradient
//!    there (at scale 1);
//! 2. the selection: the `n_k`-th key of the total order (value descending, flat index
//!    ascending), found in O(n) (a radix histogram of the values' order bits narrows the search
//!    to one bucket, `select_nth_unstable` finds the key inside it; no sort);
//! 3. the value (the sum of the selected terms: four interleaved partial sums per block, the
//!    blocks along the fixed tree) and the gradient: each selected element's gradient times
//!    `upstream / n_k`, 0 elsewhere.

use crate::driver::SOFTMAX_BLOCK;
use crate::engine::{check_class_weights, ClassWeights};
use crate::kernels::{self, Aux, ElemKind, ElemParams, SoftmaxBlock, SoftmaxParams};
use crate::keys::LogitsKey;
use segloss_core::declare::{checks, KeyValue, WeightUse};
use segloss_core::error::unravel;
use segloss_core::input::{contiguous, DenseTarget};
use segloss_core::kernel::{check_grad_len, reject_weight, StridedOut};
use segloss_core::reduce::{n_blocks, par_for, tree_reduce, SharedMut, BLOCK};
use segloss_core::simd::Level;
use segloss_core::{resolve_with_ignore, Backend, Batch, Layout, Loss, LossError, Mode, Result, TargetLayout};
use std::any::Any;

/// `k`: a percentage in `(0, 100]`.
fn check_k(key: &str, k: &f64) -> Result<()> {
    if *k > 0.0 && *k <= 100.0 {
        Ok(())
    } else {
        Err(LossError::config(key, k.to_value(), "must be a percentage in (0, 100]"))
    }
}

segloss_core::declare_loss! {
    /// `topk_ce`: the mean of the `n_k` largest per-element cross-entropy terms over the whole
    /// batch (nnU-Net v2 `TopKLoss(weight, ignore_index, k, label_smoothing)`, Wu et al. 2016's
    /// bootstrapped cross-entropy); see `docs/LOSSES.md`, section Cross-entropy.
    ///
    /// `l_i` is `ce`'s per-pixel term in multiclass, `(1-s) w_y l_iy + (s/C) sum_c w_c l_ic` with
    /// `l_ic = -log softmax` (integer labels, logits), and `bce`'s per-element term in binary and
    /// multilabel mode (our extension: the same selection over
    /// `binary_cross_entropy_with_logits` terms; `class_weights` and `label_smoothing` are errors
    /// there). Ignored elements have `l_i = 0` and still count in `n`;
    /// `n_k = max(1, floor(n k / 100))` (the product in f64, as nnU-Net's `int(n * k / 100)`,
    /// which gives NaN where it is 0); the loss is the sum of the selected terms divided by `n_k`,
    /// never by the class weights. The selection is a constant for the gradient; ties at the
    /// `n_k`-th value go to the smallest flat indices. `k=100` is the mean of `ce`'s
    /// `reduction=none` map. No `weight` input, no `reduction`.
    pub struct TopkCeConfig {
        name: "topk_ce",
        family: "segloss-xent",
        modes: [Binary, Multilabel, Multiclass],
        weight: WeightUse::None,
        formula: "(1/n_k) sum of the n_k = max(1, floor(n k/100)) largest terms l_i of ce (multiclass) or bce (binary, multilabel)",
        anchor: "nnU-Net v2 `TopKLoss(weight, ignore_index, k, label_smoothing)` (multiclass)",
        aliases: [],
        keys: {
            /// k in (0, 100]: the percentage of the terms kept (the largest, over the whole batch)
            k: f64 = 10.0, check check_k, examples [50.0, 100.0, 0.01];
            /// multiclass only: per-class weights w_c, finite, >= 0, each 0 or >= 1e-30 x the largest (none: all 1)
            class_weights: Option<Vec<f32>> = None, check check_class_weights;
            /// label to ignore (its terms are 0 and still count in n; inside [0, C) it ignores that class)
            ignore_index: i64 = -100;
            /// multiclass only: s in [0, 1]
            label_smoothing: f32 = 0.0, check checks::unit, examples [0.1, 1.0];
            ..common: LogitsKey;
        }
    }
}

impl TopkCeConfig {
    /// Validates and builds.
    pub fn build(&self) -> Result<TopkCe> {
        self.check_keys()?;
        if let Some(m) = self.mode.filter(|m| *m != Mode::Multiclass) {
            self.check_sigmoid_keys(m)?;
        }
        if self.mode == Some(Mode::Multiclass) && !self.common.from_logits {
            return Err(multiclass_probabilities());
        }
        Ok(TopkCe { config: self.clone(), class_weights: self.class_weights.as_deref().map(ClassWeights::new) })
    }

    /// The keys binary and multilabel `topk_ce` reject.
    fn check_sigmoid_keys(&self, mode: Mode) -> Result<()> {
        if let Some(w) = &self.class_weights {
            return Err(LossError::config(
                "class_weights",
                w.to_value(),
                format!("is only for multiclass topk_ce (mode {mode} takes bce terms, which have no class weights)"),
            ));
        }
        if self.label_smoothing != 0.0 {
            return Err(LossError::config(
                "label_smoothing",
                self.label_smoothing.to_value(),
                format!("is only for multiclass topk_ce (mode {mode} takes bce terms, without smoothing)"),
            ));
        }
        Ok(())
    }
}

fn multiclass_probabilities() -> LossError {
    LossError::config("from_logits", false, "multiclass topk_ce takes logits (the softmax of ce), as nnU-Net's TopKLoss")
}

/// The number of terms kept: `max(1, floor(n k / 100))`, the product in f64 (nnU-Net's
/// `int(num_voxels * k / 100)`), at most `n`.
pub fn kept_terms(n: usize, k: f64) -> usize {
    let nk = (n as f64 * k / 100.0).floor();
    if nk >= n as f64 {
        n
    } else if nk >= 1.0 {
        nk as usize
    } else {
        1
    }
}

/// A built `topk_ce` ([`TopkCeConfig::build`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TopkCe {
    config: TopkCeConfig,
    class_weights: Option<ClassWeights>,
}

/// The per-element terms of a batch and what turns their selected sum into the loss.
struct Terms {
    /// `l_i` (with the unit class weights in multiclass), flat: pixels `n * S + j` (multiclass)
    /// or `pred`'s elements (binary, multilabel).
    values: Vec<f32>,
    /// The factor of the unit-weight terms: the largest class weight (1 without them).
    max: f64,
}

impl TopkCe {
    /// The number of terms kept for `n` terms ([`kept_terms`] with this loss's `k`).
    pub fn kept(&self, n: usize) -> usize {
        kept_terms(n, self.config.k)
    }

    fn layout(&self, batch: &Batch<'_>) -> Result<Layout> {
        reject_weight(
            TopkCeConfig::DECL.name,
            batch,
            "the terms are selected as they are (nnU-Net's TopKLoss has no pixel weights); use class_weights",
        )?;
        let layout = resolve_with_ignore(batch, self.config.mode, Some(self.config.ignore_index))?;
        if layout.mode != Mode::Multiclass {
            self.config.check_sigmoid_keys(layout.mode)?;
            return Ok(layout);
        }
        if layout.c < 2 {
            return Err(LossError::unsupported(
                "topk_ce",
                format!("multiclass needs C >= 2 channels on axis 1, pred has shape {:?}", batch.pred.shape()),
            ));
        }
        if layout.target != TargetLayout::Labels {
            return Err(LossError::unsupported(
                "topk_ce",
                "multiclass topk_ce needs integer labels (class-probability targets are not supported, as in nnU-Net)",
            ));
        }
        if !self.config.common.from_logits {
            return Err(multiclass_probabilities());
        }
        if let Some(w) = &self.class_weights {
            if w.given.len() != layout.c {
                return Err(LossError::config(
                    "class_weights",
                    w.given.to_value(),
                    format!("has {} values for {} classes", w.given.len(), layout.c),
                ));
            }
        }
        Ok(layout)
    }

    /// Multiclass terms: `ce`'s softmax kernel per block of one image's pixels, writing each
    /// pixel's term (and, with `grad`, its gradient at scale 1).
    fn softmax_terms(&self, batch: &Batch<'_>, layout: &Layout, grad: Option<&mut [f32]>, backend: Backend) -> Result<Terms> {
        let ignore = Some(self.config.ignore_index);
        let labels = batch.target.labels().expect("integer labels (checked by layout)");
        labels.validate(layout.c, ignore, batch.target.shape())?;
        let (unit, max) = self.class_weights.as_ref().map_or((&[][..], 1.0), |w| (w.unit.as_slice(), w.max));
        let params = SoftmaxParams { classes: layout.c, class_weights: unit, smoothing: self.config.label_smoothing, focal_gamma: None };
        let z = contiguous(&batch.pred);
        let level = Level::current();
        let (c, s) = (layout.c, layout.s);
        let mut values = vec![0.0f32; layout.n * s];
        let terms = SharedMut::new(&mut values);
        let grad = grad.map(SharedMut::new);
        let per_img = n_blocks(s, SOFTMAX_BLOCK);
        par_for(layout.n * per_img, &|bi| {
            let (n, k) = (bi / per_img, bi % per_img);
            let lo = k * SOFTMAX_BLOCK;
            let len = SOFTMAX_BLOCK.min(s - lo);
            let base = n * c * s + lo;
            let mut lbuf = [0i32; SOFTMAX_BLOCK];
            labels.classes_into(n * s + lo, &mut lbuf[..len], c, ignore);
            let block = SoftmaxBlock { z: &z[base..], stride: s, len, labels: Some(&lbuf[..len]), probs: None, weight: None };
            let out = grad.map(|g| StridedOut::new(g, base, s, len));
            // SAFETY: the blocks' pixel ranges are disjoint.
            let t = unsafe { terms.slice(n * s + lo, len) };
            match backend {
                Backend::Simd => kernels::simd::softmax_terms(level, &block, &params, 1.0, out.as_ref(), Some(t)),
                Backend::Scalar => kernels::scalar::softmax_terms(&block, &params, 1.0, out.as_ref(), Some(t)),
            };
        });
        Ok(Terms { values, max })
    }

    /// Binary and multilabel terms: `bce`'s elementwise kernel per block, each element's term
    /// (and, with `grad`, its gradient at scale 1); elements whose target equals `ignore_index`
    /// get 0 for both.
    fn sigmoid_terms(&self, batch: &Batch<'_>, layout: &Layout, grad: Option<&mut [f32]>, backend: Backend) -> Result<Terms> {
        let params =
            ElemParams { kind: ElemKind::Bce { q: 1.0, factor: 1.0 }, from_logits: self.config.common.from_logits, smoothing: 0.0 };
        let x = contiguous(&batch.pred);
        let level = Level::current();
        let y = DenseTarget::from_target(&batch.target);
        let ignore = self.config.ignore_index as f64;
        let len = layout.len();
        let mut values = vec![0.0f32; len];
        let terms = SharedMut::new(&mut values);
        let grad = grad.map(SharedMut::new);
        let leaf = |bi: usize| -> Option<usize> {
            let lo = bi * BLOCK;
            let hi = (lo + BLOCK).min(len);
            let mut ybuf = [0.0f32; BLOCK];
            let yc = y.chunk(lo, &mut ybuf[..hi - lo]);
            let mut fixed = [0.0f32; BLOCK];
            let ignored = yc.iter().any(|&v| v as f64 == ignore);
            let yk = if ignored {
                // an ignored target reads as 0 in the kernel; its term and gradient are zeroed below
                for (f, &v) in fixed.iter_mut().zip(yc) {
                    *f = if v as f64 == ignore { 0.0 } else { v };
                }
                &fixed[..hi - lo]
            } else {
                yc
            };
            // SAFETY: the blocks' ranges are disjoint.
            let t = unsafe { terms.slice(lo, hi - lo) };
            let mut g = grad.map(|g| unsafe { g.slice(lo, hi - lo) });
            let (_, bad) = match backend {
                Backend::Simd => {
                    kernels::simd::elementwise_terms(level, &x[lo..hi], yk, Aux::None, &params, 1.0, g.as_deref_mut(), Some(&mut *t))
                }
                Backend::Scalar => {
                    kernels::scalar::elementwise_terms(&x[lo..hi], yk, Aux::None, &params, 1.0, g.as_deref_mut(), Some(&mut *t))
                }
            };
            if ignored {
                for (i, &v) in yc.iter().enumerate() {
                    if v as f64 == ignore {
                        t[i] = 0.0;
                        if let Some(g) = g.as_deref_mut() {
                            g[i] = 0.0;
                        }
                    }
                }
            }
            if bad {
                return yk.iter().position(|v| !(*v >= 0.0 && *v <= 1.0)).map(|k| lo + k);
            }
            None
        };
        let bad = tree_reduce(n_blocks(len, BLOCK), &leaf, &|a, b| a.or(b)).flatten();
        if let Some(i) = bad {
            let mut b = [0.0f32];
            let v = y.chunk(i, &mut b)[0];
            let shape = batch.target.shape();
            let index = if shape.iter().product::<usize>() == len { unravel(i, shape) } else { unravel(i, batch.pred.shape()) };
            return Err(LossError::LabelOutOfRange {
                label: v.to_string(),
                index,
                expected: format!("a float target in [0, 1] (or ignore_index {}) for topk_ce", self.config.ignore_index),
            });
        }
        Ok(Terms { values, max: 1.0 })
    }

    fn eval(&self, batch: &Batch<'_>, mut grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        let layout = self.layout(batch)?;
        check_grad_len(&grad, layout.len(), batch)?;
        let backend = Backend::current();
        let multiclass = layout.mode == Mode::Multiclass;
        let terms = if multiclass {
            self.softmax_terms(batch, &layout, grad.as_deref_mut(), backend)?
        } else {
            self.sigmoid_terms(batch, &layout, grad.as_deref_mut(), backend)?
        };
        let n = terms.values.len();
        let n_k = self.kept(n);
        let level = Level::current();
        let threshold = select::threshold(level, &terms.values, n_k);
        let scale = (upstream as f64 * terms.max / n_k as f64) as f32;
        // one element per term (binary, multilabel) or C per pixel (multiclass, rows of S)
        let (rows, s) = if multiclass { (layout.c, layout.s) } else { (1, n) };
        let sum = select::finish(level, &terms.values, threshold, rows, s, scale, grad);
        Ok((sum * terms.max / n_k as f64) as f32)
    }
}

impl Loss for TopkCe {
    fn name(&self) -> &'static str {
        TopkCeConfig::DECL.name
    }

    fn config(&self) -> Option<&dyn Any> {
        Some(&self.config)
    }

    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        self.eval(batch, grad, upstream)
    }
}

/// The selection of the `n_k` largest terms under the total order (value descending, flat index
/// ascending), and the pass that sums them and masks the gradient.
pub(crate) mod select;

//! `lovasz_hinge`: the Lovász hinge of Berman et al. (2018), binary and multilabel (see
//! `docs/LOSSES.md`, section Lovász family): its declaration, its validation and its [`Loss`]
//! implementation on the family's [`driver`].

use crate::driver::{self, check_problem, REJECT_WEIGHT};
use crate::problem;
use crate::sort::SortAlgo;
use segloss_core::declare::{per_image_alias, Alias, WeightUse};
use segloss_core::error::{fmt_shape, unravel};
use segloss_core::input::{contiguous, DenseTarget, Labels};
use segloss_core::kernel::{check_grad_len, reject_weight};
use segloss_core::reduce::{tree_reduce, SharedMut};
use segloss_core::{resolve_with_ignore, Batch, Loss, LossError, Mode, Reduce, Result};

segloss_core::declare_loss! {
    /// `lovasz_hinge`: the Lovász hinge of Berman et al. (2018), binary and multilabel.
    ///
    /// Per problem: errors `e = 1 - x (2y - 1)` of the valid pixels (target not `ignore_index`)
    /// sorted in descending order, `loss = sum_k relu(e_k) g_k` with `g` the Jaccard gradient along
    /// the sorted labels ([`jaccard`](crate::jaccard)); gradient `d loss / d x_i = -g_i (2 y_i - 1)`
    /// where `e_i > 0`, else 0. Problems: binary `reduce=image` (default) one per image, averaged;
    /// `reduce=batch` one over the batch. Multilabel: one per (image, channel) pair with
    /// `reduce=image`, else one per channel over the batch, averaged (smp instead pools the
    /// channels of an image into one problem). A problem with every pixel ignored contributes 0
    /// and still counts in the mean. Targets must be 0, 1 or `ignore_index` (default none). Pixels
    /// whose error is NaN sort first and make the loss NaN. The old key `per_image=true|false` is
    /// read as `reduce=image|batch`.
    ///
    /// Anchor (equal): bermanmaxim/LovaszSoftmax `lovasz_hinge(logits, labels, per_image, ignore)`
    /// and smp `LovaszLoss("binary", per_image, ignore_index)` on tie-free inputs.
    pub struct LovaszHingeConfig {
        name: "lovasz_hinge",
        family: "segloss-lovasz",
        modes: [Binary, Multilabel],
        weight: WeightUse::None,
        formula: "sum_k relu(e_k) g_k, e = 1 - x(2y-1) sorted descending, g = Jaccard gradient (Berman et al. 2018)",
        anchor: "bermanmaxim/LovaszSoftmax `lovasz_hinge` = smp `LovaszLoss` binary, on tie-free inputs",
        aliases: [Alias { old: "per_image", new: "reduce", map: per_image_alias }],
        keys: {
            /// image (one problem per image, or per (image, channel) pair in multilabel, averaged) or batch
            reduce: Reduce = Reduce::Image;
            /// target value of the pixels left out, or none
            ignore_index: Option<i64> = None, examples [Some(255)];
        }
    }
}

impl LovaszHingeConfig {
    /// Validates the keys and builds the loss.
    pub fn build(&self) -> Result<LovaszHinge> {
        self.check_keys()?;
        Ok(LovaszHinge { config: self.clone(), sort: SortAlgo::default() })
    }
}

/// A built `lovasz_hinge` (see [`LovaszHingeConfig`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LovaszHinge {
    config: LovaszHingeConfig,
    sort: SortAlgo,
}

impl LovaszHinge {
    /// The validated config it was built from.
    pub fn config(&self) -> &LovaszHingeConfig {
        &self.config
    }

    /// The same loss sorting with `algo` (for comparisons; results are identical).
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn with_sort(mut self, algo: SortAlgo) -> Self {
        self.sort = algo;
        self
    }
}

/// Whether a float hinge target is 0, 1 or the ignore value (branch-free: `|`, not `||`, so the
/// validation pass vectorizes instead of mispredicting on random labels).
#[inline(always)]
fn ok_f32(v: f32, ig: Option<f32>) -> bool {
    (v == 0.0) | (v == 1.0) | (ig.is_some() & (v == ig.unwrap_or(0.0)))
}

/// Whether an integer hinge target is 0, 1 or the ignore value (branch-free).
#[inline(always)]
fn ok_int(v: i64, ig: Option<i64>) -> bool {
    (v == 0) | (v == 1) | (ig.is_some() & (v == ig.unwrap_or(0)))
}

/// The first index of `vals` where `ok` fails (blocks in parallel, the lowest index wins; each
/// block is first checked by a branch-free fold the compiler vectorizes).
fn first_bad<T: Copy + Sync, F: Fn(T) -> bool + Sync>(vals: &[T], ok: F) -> Option<usize> {
    let block = 1 << 14;
    let len = vals.len();
    tree_reduce(
        len.div_ceil(block),
        &|b| {
            let lo = b * block;
            let part = &vals[lo..(lo + block).min(len)];
            let bad = part.iter().fold(false, |a, &v| a | !ok(v));
            if bad {
                part.iter().position(|&v| !ok(v)).map(|i| lo + i)
            } else {
                None
            }
        },
        &|a, b| a.or(b),
    )
    .flatten()
}

/// `(valid, positive)` of an integer hinge target (values validated beforehand).
fn int_classify<T: Into<i64>>(has_ig: bool, igv: i64) -> impl Fn(T) -> (bool, bool) + Sync {
    move |v: T| {
        let v: i64 = v.into();
        let valid = !(has_ig & (v == igv));
        (valid, valid & (v == 1))
    }
}

/// The problems of one `lovasz_hinge` evaluation.
struct HingeRun<'a, 'g> {
    x: &'a [f32],
    problems: usize,
    per_image: bool,
    n: usize,
    c: usize,
    s: usize,
    out: Option<SharedMut<'g>>,
    /// Weight of a problem in the mean.
    w: f64,
    upstream: f64,
    algo: SortAlgo,
}

impl HingeRun<'_, '_> {
    /// Solves every problem (in parallel, fixed tree) and returns the mean loss.
    fn run<T: Copy + Sync, F: Fn(T) -> (bool, bool) + Sync>(&self, y: &[T], classify: F) -> f64 {
        let (n, c, s) = (self.n, self.c, self.s);
        let scale = self.upstream * self.w;
        driver::solve_all(self.problems, &|p| {
            // problem p: image-channel pair p (reduce=image), or channel p over the batch
            let bases: Vec<usize> = if self.per_image { vec![p * s] } else { (0..n).map(|m| (m * c + p) * s).collect() };
            // SAFETY: problem p owns its segments (distinct images/channels).
            unsafe { problem::hinge_problem(self.x, y, &classify, &bases, s, self.out, scale, self.algo) * self.w }
        })
    }
}

impl Loss for LovaszHinge {
    fn name(&self) -> &'static str {
        "lovasz_hinge"
    }

    fn config(&self) -> Option<&dyn std::any::Any> {
        Some(&self.config)
    }

    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        reject_weight("lovasz_hinge", batch, REJECT_WEIGHT)?;
        let ig = self.config.ignore_index;
        let layout = resolve_with_ignore(batch, self.config.mode, ig)?;
        if layout.mode == Mode::Multiclass {
            return Err(LossError::unsupported(
                "lovasz_hinge",
                format!(
                    "takes binary or multilabel inputs (a target of pred's shape {}); for class labels over C >= 2 channels use lovasz_softmax",
                    fmt_shape(batch.pred.shape())
                ),
            ));
        }
        check_grad_len(&grad, layout.len(), batch)?;
        let (n, c, s) = (layout.n, layout.c, layout.s);
        let target = DenseTarget::from_target(&batch.target);
        let expected = || match ig {
            Some(i) => format!("0 or 1 or the ignore_index {i} for lovasz_hinge"),
            None => "0 or 1 for lovasz_hinge".to_string(),
        };
        let bad =
            |i: usize, v: String| LossError::LabelOutOfRange { label: v, index: unravel(i, batch.target.shape()), expected: expected() };
        let per_image = self.config.reduce == Reduce::Image;
        let problems = if per_image { n * c } else { c };
        check_problem("lovasz_hinge", if per_image { 1 } else { n }, s, batch)?;
        let run = HingeRun {
            x: &contiguous(&batch.pred),
            problems,
            per_image,
            n,
            c,
            s,
            out: grad.map(SharedMut::new),
            w: 1.0 / problems as f64,
            upstream: upstream as f64,
            algo: self.sort,
        };
        let (has_ig, igv) = (ig.is_some(), ig.unwrap_or(0));
        let total = match &target {
            DenseTarget::F32(y) => {
                let igf = ig.map(|v| v as f32);
                if let Some(i) = first_bad(y, |v| ok_f32(v, igf)) {
                    return Err(bad(i, y[i].to_string()));
                }
                let igf = igv as f32;
                run.run(y, |v: f32| {
                    let valid = !(has_ig & (v == igf));
                    (valid, valid & (v == 1.0))
                })
            }
            DenseTarget::Int(l) => {
                let bad_at = match l {
                    Labels::U8(v) => first_bad(v, |x| ok_int(x as i64, ig)),
                    Labels::I32(v) => first_bad(v, |x| ok_int(x as i64, ig)),
                    Labels::I64(v) => first_bad(v, |x| ok_int(x, ig)),
                };
                if let Some(i) = bad_at {
                    return Err(bad(i, l.get(i).to_string()));
                }
                match l {
                    Labels::U8(v) => run.run(v, int_classify(has_ig, igv)),
                    Labels::I32(v) => run.run(v, int_classify(has_ig, igv)),
                    Labels::I64(v) => run.run(v, int_classify(has_ig, igv)),
                }
            }
        };
        Ok(total as f32)
    }
}

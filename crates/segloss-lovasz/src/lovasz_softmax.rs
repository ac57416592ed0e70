//! `lovasz_softmax`: the Lovász-Softmax loss of Berman et al. (2018), multiclass (see
//! `docs/LOSSES.md`, section Lovász family): its declaration, its validation and its [`Loss`]
//! implementation on the family's [`driver`] and softmax [`kernels`](crate::kernels).

use crate::driver::{self, check_problem, REJECT_WEIGHT};
use crate::problem::{softmax_problem, SoftmaxProblem};
use crate::sort::SortAlgo;
use segloss_core::declare::{per_image_alias, Alias, WeightUse};
use segloss_core::error::fmt_shape;
use segloss_core::input::{contiguous, Labels};
use segloss_core::kernel::{check_grad_len, reject_weight, Backend};
use segloss_core::reduce::SharedMut;
use segloss_core::{resolve, Batch, Classes, Loss, LossError, Mode, Reduce, Result, TargetLayout};

segloss_core::declare_loss! {
    /// `lovasz_softmax`: the Lovász-Softmax loss of Berman et al. (2018), multiclass.
    ///
    /// `p = softmax(pred)` over the channel axis (`from_logits=true`, default) or `pred` itself
    /// (`from_logits=false`, probabilities used unclipped). Per class `c`: `e = |1[y = c] - p_c|`
    /// over the valid pixels (label not `ignore_index`), sorted in descending order,
    /// `loss_c = sum_k e_k g_k` with `g` the Jaccard gradient along the sorted labels
    /// ([`jaccard`](crate::jaccard)); `d loss_c / d p_c = g sign(p_c - 1[y = c])`, then through the
    /// softmax Jacobian when from logits. The loss is the mean of `loss_c` over the counted classes:
    /// `classes=present` (default) counts the classes with at least one valid pixel of that label,
    /// `classes=all` every class; with `reduce=batch` (default) the classes are problems over the
    /// whole batch, with `reduce=image` over each image, then averaged over images (an image with
    /// every pixel ignored contributes 0 and still counts). If no class is counted the loss is 0
    /// with a zero gradient. Labels must be integers in `[0, C)` or `ignore_index` (default none; a
    /// value inside `[0, C)` ignores that class). The old key `per_image=true|false` is read as
    /// `reduce=image|batch`.
    ///
    /// Anchor (equal): bermanmaxim/LovaszSoftmax `lovasz_softmax(softmax(logits), labels, classes,
    /// per_image, ignore)` and smp `LovaszLoss("multiclass", per_image, ignore_index)` on tie-free
    /// inputs.
    pub struct LovaszSoftmaxConfig {
        name: "lovasz_softmax",
        family: "segloss-lovasz",
        modes: [Multiclass],
        weight: WeightUse::None,
        formula: "mean over counted classes c of sum_k e_k g_k, e = abs(1[y=c] - p_c) sorted descending",
        anchor: "bermanmaxim/LovaszSoftmax `lovasz_softmax` = smp `LovaszLoss` multiclass, on tie-free inputs",
        aliases: [Alias { old: "per_image", new: "reduce", map: per_image_alias }],
        keys: {
            /// present (classes with a valid pixel) or all
            classes: Classes = Classes::Present;
            /// batch (class problems over the batch) or image (per image, then the mean over images)
            reduce: Reduce = Reduce::Batch;
            /// target value of the pixels left out, or none
            ignore_index: Option<i64> = None, examples [Some(255)];
            /// true: softmax first; false: pred holds probabilities (unclipped)
            from_logits: bool = true;
        }
    }
}

impl LovaszSoftmaxConfig {
    /// Validates the keys and builds the loss.
    pub fn build(&self) -> Result<LovaszSoftmax> {
        self.check_keys()?;
        Ok(LovaszSoftmax { config: self.clone(), sort: SortAlgo::default() })
    }
}

/// A built `lovasz_softmax` (see [`LovaszSoftmaxConfig`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LovaszSoftmax {
    config: LovaszSoftmaxConfig,
    sort: SortAlgo,
}

impl LovaszSoftmax {
    /// The validated config it was built from.
    pub fn config(&self) -> &LovaszSoftmaxConfig {
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

/// One class problem of `lovasz_softmax`.
struct ClassProblem {
    class: usize,
    bases: Vec<usize>,
    label_bases: Vec<usize>,
    g_total: u64,
    /// Weight in the loss (0: not counted, only its gradient is zeroed).
    weight: f64,
}

impl Loss for LovaszSoftmax {
    fn name(&self) -> &'static str {
        "lovasz_softmax"
    }

    fn config(&self) -> Option<&dyn std::any::Any> {
        Some(&self.config)
    }

    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        let backend = Backend::current();
        reject_weight("lovasz_softmax", batch, REJECT_WEIGHT)?;
        let layout = resolve(batch, self.config.mode)?;
        if layout.mode != Mode::Multiclass || layout.target != TargetLayout::Labels {
            return Err(LossError::unsupported(
                "lovasz_softmax",
                format!(
                    "needs C >= 2 channels and integer class labels of shape [N, *S] (got pred {} and a {} target {}, mode {}); use lovasz_hinge for binary or multilabel",
                    fmt_shape(batch.pred.shape()),
                    batch.target.dtype(),
                    fmt_shape(batch.target.shape()),
                    layout.mode
                ),
            ));
        }
        check_grad_len(&grad, layout.len(), batch)?;
        let (n, c, s) = (layout.n, layout.c, layout.s);
        let ig = self.config.ignore_index;
        let labels = batch.target.labels().expect("integer labels");
        labels.validate(c, ig, batch.target.shape())?;
        // every class problem reads the labels: i32/i64 labels of fewer than 255 classes are
        // packed into one byte per pixel first (255 = ignored)
        let codes = match labels {
            Labels::U8(_) => None,
            _ => driver::label_codes(&labels, c, ig),
        };
        let (labels, ig) = match codes {
            Some(codes) => (Labels::U8(std::borrow::Cow::Owned(codes)), Some(driver::IGNORED_CODE as i64)),
            None => (labels, ig),
        };
        let per_image = self.config.reduce == Reduce::Image;
        check_problem("lovasz_softmax", if per_image { 1 } else { n }, s, batch)?;
        let counts = driver::class_counts(&labels, n, c, s, ig);
        let all = self.config.classes == Classes::All;
        let mut problems = Vec::new();
        let groups: Vec<Vec<usize>> = if per_image { (0..n).map(|m| vec![m]).collect() } else { vec![(0..n).collect()] };
        let wg = 1.0 / groups.len() as f64;
        for imgs in &groups {
            let g_of = |k: usize| imgs.iter().map(|&m| counts[m * c + k]).sum::<u64>();
            let valid: u64 = (0..c).map(g_of).sum();
            let counted = if valid == 0 { 0 } else { (0..c).filter(|&k| all || g_of(k) > 0).count() };
            for k in 0..c {
                let g_total = g_of(k);
                let on = counted > 0 && (all || g_total > 0);
                problems.push(ClassProblem {
                    class: k,
                    bases: imgs.iter().map(|&m| (m * c + k) * s).collect(),
                    label_bases: imgs.iter().map(|&m| m * s).collect(),
                    g_total,
                    weight: if on { wg / counted as f64 } else { 0.0 },
                });
            }
        }
        let z = contiguous(&batch.pred);
        let from_logits = self.config.from_logits;
        let out = grad.map(SharedMut::new);
        let mut own_p = Vec::new();
        let p_in_out = from_logits && out.is_some();
        if from_logits {
            let dst = match out {
                Some(o) => o,
                None => {
                    own_p = vec![0.0f32; layout.len()];
                    SharedMut::new(&mut own_p)
                }
            };
            driver::softmax_forward(&z, n, c, s, dst, backend);
        }
        let p_src: &[f32] = if !from_logits { &z } else { &own_p };
        let algo = self.sort;
        let total = driver::solve_all(problems.len(), &|i| {
            let pr = &problems[i];
            if pr.weight == 0.0 {
                if let Some(o) = out {
                    for &b in &pr.bases {
                        // SAFETY: problem i owns class pr.class of its images.
                        unsafe { o.slice(b, s) }.fill(0.0);
                    }
                }
                return 0.0;
            }
            let scale = upstream as f64 * pr.weight;
            // SAFETY: problem i owns class pr.class of its images; problems are disjoint.
            let problem = SoftmaxProblem {
                p_src,
                p_in_out,
                labels: &labels,
                c: pr.class,
                ignore: ig,
                bases: &pr.bases,
                label_bases: &pr.label_bases,
                s,
                g_total: pr.g_total,
                scale,
                algo,
            };
            let l = unsafe { softmax_problem(&problem, out) };
            l * pr.weight
        });
        if let (Some(o), true) = (out, from_logits) {
            driver::softmax_backward(&z, n, c, s, o, backend);
        }
        Ok(total as f32)
    }
}

//! # segloss-lovasz: the Lovász family
//!
//! `lovasz_hinge` (binary and multilabel) and `lovasz_softmax` (multiclass), as defined in
//! `LOSSES.md` ("Lovász family"), after Berman, Rannen Triki and Blaschko, *The Lovász-Softmax
//! loss: a tractable surrogate for the optimization of the intersection-over-union measure in
//! neural networks*, CVPR 2018. Values and (sub)gradients, with the Jaccard gradient `g` held
//! constant (as autograd does through the reference code).
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
//!   ones ([`kernels::scalar`]); [`mod@reference`] holds an independent generic implementation.
//!
//! A `weight` tensor is rejected with [`LossError::Unsupported`].
//!
//! ```
//! use ndarray::{ArrayD, IxDyn};
//! use segloss_core::{Batch, Loss};
//! use segloss_lovasz::{Classes, LovaszHingeConfig, LovaszSoftmaxConfig};
//!
//! // multiclass: logits [N, C, H, W] and integer labels [N, H, W], 255 ignored
//! let logits = ArrayD::from_shape_fn(IxDyn(&[2, 3, 4, 4]), |ix| (ix[1] as f32 - 1.0) * (ix[2] as f32 - ix[3] as f32));
//! let labels = ArrayD::from_shape_fn(IxDyn(&[2, 4, 4]), |ix| if ix[1] == 0 { 255i64 } else { (ix[2] % 3) as i64 });
//! let loss = LovaszSoftmaxConfig { classes: Classes::All, ignore_index: Some(255), ..Default::default() }.build()?;
//! let (value, grad) = loss.forward_backward(&Batch::new(&logits, &labels))?;
//! assert!(value >= 0.0 && grad.shape() == logits.shape());
//!
//! // binary: logits [N, 1, H, W] and 0/1 targets, one problem per image (the default)
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
pub mod reference;
pub mod sort;

use kernels::Backend;
use segloss_core::error::unravel;
use segloss_core::input::{contiguous, DenseTarget, Labels};
use segloss_core::params::{KeyInfo, LossInfo, Params};
use segloss_core::reduce::{tree_reduce, SharedMut};
use segloss_core::{resolve, resolve_with_ignore, Batch, Layout, Loss, LossError, Mode, Result, TargetLayout};
use sort::SortAlgo;

/// Which classes `lovasz_softmax` averages over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Classes {
    /// Classes with at least one non-ignored pixel of that label (in the image with `per_image`,
    /// in the batch otherwise); the default.
    #[default]
    Present,
    /// Every class `0..C`.
    All,
}

impl Classes {
    /// The spec-string name.
    pub fn name(self) -> &'static str {
        match self {
            Classes::Present => "present",
            Classes::All => "all",
        }
    }
}

fn check_grad_len(grad: &Option<&mut [f32]>, layout: &Layout, batch: &Batch<'_>) -> Result<()> {
    if let Some(g) = grad {
        if g.len() != layout.len() {
            return Err(LossError::ShapeMismatch {
                what: "the gradient buffer must have pred's element count".into(),
                left_name: "grad",
                left: vec![g.len()],
                right_name: "pred",
                right: batch.pred.shape().to_vec(),
            });
        }
    }
    Ok(())
}

fn reject_weight(name: &str, batch: &Batch<'_>) -> Result<()> {
    match &batch.weight {
        None => Ok(()),
        Some(w) => Err(LossError::unsupported(
            name,
            format!(
                "takes no weight tensor (got one of shape {}): the Lovász losses are not per-pixel sums",
                segloss_core::error::fmt_shape(w.shape())
            ),
        )),
    }
}

fn check_problem(name: &str, segments: usize, s: usize, batch: &Batch<'_>) -> Result<()> {
    if !driver::fits(segments, s) {
        return Err(LossError::InvalidShape {
            name: "pred",
            shape: batch.pred.shape().to_vec(),
            reason: format!(
                "{name} indexes the pixels of one problem in 31 bits: {segments} image(s) of {s} pixels (rounded up to a power of two) do not fit (try per_image=true)"
            ),
        });
    }
    Ok(())
}

/// `lovasz_hinge`: the Lovász hinge of Berman et al. (2018), binary and multilabel.
///
/// Per problem: errors `e = 1 - x (2y - 1)` of the valid pixels (target not `ignore_index`) sorted
/// in descending order, `loss = sum_k relu(e_k) g_k` with `g` the Jaccard gradient along the sorted
/// labels ([`jaccard`]); gradient `d loss / d x_i = -g_i (2 y_i - 1)` where `e_i > 0`, else 0.
/// Problems: binary `per_image=true` (default) one per image, averaged; `per_image=false` one over
/// the batch. Multilabel: one per (image, channel) pair with `per_image`, else one per channel over
/// the batch, averaged (smp instead pools the channels of an image into one problem). A problem with
/// every pixel ignored contributes 0 and still counts in the mean. Targets must be 0, 1 or
/// `ignore_index` (default none). Pixels whose error is NaN sort first and make the loss NaN.
///
/// Anchor (equal): bermanmaxim/LovaszSoftmax `lovasz_hinge(logits, labels, per_image, ignore)` and
/// smp `LovaszLoss("binary", per_image, ignore_index)` on tie-free inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LovaszHingeConfig {
    /// `per_image` (true).
    pub per_image: bool,
    /// `ignore_index` (none): target value of ignored pixels.
    pub ignore_index: Option<i64>,
    /// `mode` (inferred; binary or multilabel).
    pub mode: Option<Mode>,
}

impl Default for LovaszHingeConfig {
    fn default() -> Self {
        LovaszHingeConfig { per_image: true, ignore_index: None, mode: None }
    }
}

impl LovaszHingeConfig {
    /// Validates and builds.
    pub fn build(&self) -> Result<LovaszHinge> {
        if self.mode == Some(Mode::Multiclass) {
            return Err(LossError::config("mode", "multiclass", "lovasz_hinge is binary or multilabel; use lovasz_softmax for multiclass"));
        }
        Ok(LovaszHinge { config: self.clone(), sort: SortAlgo::default() })
    }
}

/// A built `lovasz_hinge` (see [`LovaszHingeConfig`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LovaszHinge {
    config: LovaszHingeConfig,
    sort: SortAlgo,
}

impl LovaszHinge {
    /// The same loss sorting with `algo` (for comparisons; results are identical).
    pub fn with_sort(mut self, algo: SortAlgo) -> Self {
        self.sort = algo;
        self
    }

    /// The config it was built from.
    pub fn config(&self) -> &LovaszHingeConfig {
        &self.config
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
            // problem p: image-channel pair p (per_image), or channel p over the batch
            let bases: Vec<usize> = if self.per_image { vec![p * s] } else { (0..n).map(|m| (m * c + p) * s).collect() };
            // SAFETY: problem p owns its segments (distinct images/channels).
            unsafe { driver::hinge_problem(self.x, y, &classify, &bases, s, self.out, scale, self.algo) * self.w }
        })
    }
}

impl Loss for LovaszHinge {
    fn name(&self) -> &'static str {
        "lovasz_hinge"
    }

    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        reject_weight("lovasz_hinge", batch)?;
        let ig = self.config.ignore_index;
        let layout = resolve_with_ignore(batch, self.config.mode, ig)?;
        if layout.mode == Mode::Multiclass {
            return Err(LossError::unsupported(
                "lovasz_hinge",
                format!(
                    "takes binary or multilabel inputs (a target of pred's shape {}); for class labels over C >= 2 channels use lovasz_softmax",
                    segloss_core::error::fmt_shape(batch.pred.shape())
                ),
            ));
        }
        check_grad_len(&grad, &layout, batch)?;
        let (n, c, s) = (layout.n, layout.c, layout.s);
        let target = DenseTarget::from_target(&batch.target);
        let expected = || match ig {
            Some(i) => format!("0 or 1 or the ignore_index {i} for lovasz_hinge"),
            None => "0 or 1 for lovasz_hinge".to_string(),
        };
        let bad =
            |i: usize, v: String| LossError::LabelOutOfRange { label: v, index: unravel(i, batch.target.shape()), expected: expected() };
        let per_image = self.config.per_image;
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

/// `lovasz_softmax`: the Lovász-Softmax loss of Berman et al. (2018), multiclass.
///
/// `p = softmax(pred)` over the channel axis (`from_logits=true`, default) or `pred` itself
/// (`from_logits=false`, probabilities used unclipped). Per class `c`: `e = |1[y = c] - p_c|` over
/// the valid pixels (label not `ignore_index`), sorted in descending order,
/// `loss_c = sum_k e_k g_k` with `g` the Jaccard gradient along the sorted labels ([`jaccard`]);
/// `d loss_c / d p_c = g sign(p_c - 1[y = c])`, then through the softmax Jacobian when from logits.
/// The loss is the mean of `loss_c` over the counted classes: `classes=present` (default) counts
/// the classes with at least one valid pixel of that label, `classes=all` every class; with
/// `per_image=false` (default) the classes are problems over the whole batch, with `per_image=true`
/// over each image, then averaged over images (an image with every pixel ignored contributes 0
/// and still counts). If no class is counted the loss is 0 with a zero gradient. Labels must be
/// integers in `[0, C)` or `ignore_index` (default none; a value inside `[0, C)` ignores that class).
///
/// Anchor (equal): bermanmaxim/LovaszSoftmax `lovasz_softmax(softmax(logits), labels, classes,
/// per_image, ignore)` and smp `LovaszLoss("multiclass", per_image, ignore_index)` on tie-free
/// inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LovaszSoftmaxConfig {
    /// `classes` (present).
    pub classes: Classes,
    /// `per_image` (false).
    pub per_image: bool,
    /// `ignore_index` (none).
    pub ignore_index: Option<i64>,
    /// `from_logits` (true: softmax first; false: `pred` holds probabilities).
    pub from_logits: bool,
    /// `mode` (inferred; multiclass only).
    pub mode: Option<Mode>,
}

impl Default for LovaszSoftmaxConfig {
    fn default() -> Self {
        LovaszSoftmaxConfig { classes: Classes::Present, per_image: false, ignore_index: None, from_logits: true, mode: None }
    }
}

impl LovaszSoftmaxConfig {
    /// Validates and builds.
    pub fn build(&self) -> Result<LovaszSoftmax> {
        if let Some(m) = self.mode.filter(|m| *m != Mode::Multiclass) {
            return Err(LossError::config("mode", m, "lovasz_softmax is multiclass; use lovasz_hinge for binary or multilabel"));
        }
        Ok(LovaszSoftmax { config: self.clone(), sort: SortAlgo::default(), backend: Backend::default() })
    }
}

/// A built `lovasz_softmax` (see [`LovaszSoftmaxConfig`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LovaszSoftmax {
    config: LovaszSoftmaxConfig,
    sort: SortAlgo,
    backend: Backend,
}

impl LovaszSoftmax {
    /// The same loss sorting with `algo` (results are identical).
    pub fn with_sort(mut self, algo: SortAlgo) -> Self {
        self.sort = algo;
        self
    }

    /// The same loss running the given softmax kernels (the scalar reference, for comparisons).
    pub fn with_backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// The config it was built from.
    pub fn config(&self) -> &LovaszSoftmaxConfig {
        &self.config
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

    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        reject_weight("lovasz_softmax", batch)?;
        let layout = resolve(batch, self.config.mode)?;
        if layout.mode != Mode::Multiclass || layout.target != TargetLayout::Labels {
            return Err(LossError::unsupported(
                "lovasz_softmax",
                format!(
                    "needs C >= 2 channels and integer class labels of shape [N, *S] (got pred {} and a {} target {}, mode {}); use lovasz_hinge for binary or multilabel",
                    segloss_core::error::fmt_shape(batch.pred.shape()),
                    batch.target.dtype(),
                    segloss_core::error::fmt_shape(batch.target.shape()),
                    layout.mode
                ),
            ));
        }
        check_grad_len(&grad, &layout, batch)?;
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
        let per_image = self.config.per_image;
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
            driver::softmax_forward(&z, n, c, s, dst, self.backend);
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
            let l = unsafe {
                driver::softmax_problem(p_src, p_in_out, &labels, pr.class, ig, &pr.bases, &pr.label_bases, s, pr.g_total, out, scale, algo)
            };
            l * pr.weight
        });
        if let (Some(o), true) = (out, from_logits) {
            driver::softmax_backward(&z, n, c, s, o, self.backend);
        }
        Ok(total as f32)
    }
}

const MODE: KeyInfo = segloss_core::params::MODE_KEY;
const IGNORE: KeyInfo = KeyInfo { key: "ignore_index", default: "none", doc: "target value of pixels left out" };

static CATALOGUE: &[LossInfo] = &[
    LossInfo {
        name: "lovasz_hinge",
        family: "segloss-lovasz",
        keys: &[
            KeyInfo { key: "per_image", default: "true", doc: "one problem per image (per (image, channel) pair in multilabel), averaged" },
            IGNORE,
            MODE,
        ],
        formula: "sum_k relu(e_k) g_k, e = 1 - x(2y-1) sorted descending, g = Jaccard gradient (Berman et al. 2018)",
    },
    LossInfo {
        name: "lovasz_softmax",
        family: "segloss-lovasz",
        keys: &[
            KeyInfo { key: "classes", default: "present", doc: "present (classes with a valid pixel) or all" },
            KeyInfo { key: "per_image", default: "false", doc: "class problems per image, then the mean over images" },
            IGNORE,
            KeyInfo { key: "from_logits", default: "true", doc: "true: softmax first; false: pred holds probabilities (unclipped)" },
            MODE,
        ],
        formula: "mean over counted classes c of sum_k e_k g_k, e = |1[y=c] - p_c| sorted descending",
    },
];

/// The losses of this family.
pub fn catalogue() -> &'static [LossInfo] {
    CATALOGUE
}

/// Builds the loss `name` of this family from spec parameters (`None` if the name is not ours).
/// Unknown keys and bad values are errors naming key and value.
pub fn build(name: &str, p: &mut Params) -> Option<Result<Box<dyn Loss>>> {
    let info = CATALOGUE.iter().find(|i| i.name == name)?;
    Some(build_inner(name, p).and_then(|l| {
        p.finish(info.keys)?;
        Ok(l)
    }))
}

fn build_inner(name: &str, p: &mut Params) -> Result<Box<dyn Loss>> {
    let mode = p.mode()?;
    let ignore_index = p.int("ignore_index")?;
    Ok(match name {
        "lovasz_hinge" => {
            Box::new(LovaszHingeConfig { per_image: p.bool("per_image")?.unwrap_or(true), ignore_index, mode }.build()?) as Box<dyn Loss>
        }
        "lovasz_softmax" => {
            let classes = match p.word("classes", &["present", "all"])?.as_deref() {
                Some("all") => Classes::All,
                _ => Classes::Present,
            };
            Box::new(
                LovaszSoftmaxConfig {
                    classes,
                    per_image: p.bool("per_image")?.unwrap_or(false),
                    ignore_index,
                    from_logits: p.bool("from_logits")?.unwrap_or(true),
                    mode,
                }
                .build()?,
            )
        }
        _ => unreachable!("name checked against the catalogue"),
    })
}

//! `wasserstein_dice`: the generalized Wasserstein Dice loss (Fidon et al. 2017, "Generalised
//! Wasserstein Dice Score for Imbalanced Multi-class Segmentation using Holistic Convolutional
//! Networks"; the `gdl` weighting from Tilborghs et al. 2020). See `docs/LOSSES.md`, section
//! Wasserstein Dice.
//!
//! `M` (the `dist_matrix`, row = true class, column = predicted class) is divided by its largest
//! entry. Per image n and pixel x with label y: `W(x) = sum_c M[y, c] p_c(x)`. Class weights:
//! `default`: `a_0 = 0`, `a_c = 1` otherwise; `gdl`: `a_c = 1/(V_nc + 1)`, `V_nc` the number of
//! pixels of image n labelled c (computed in `f32`, as MONAI does). `TP = sum_x a_y (1 - W)`;
//! `Den = 2 TP + sum_x W` (default) or `sum_x a_y (2 - W)` (gdl); the loss is the mean over the
//! images of `1 - (2 TP + nr)/(Den + dr)`, the denominator `Den + dr` clamped to `>= 1e-7`
//! (which only matters with `smooth_dr = 0`). The weights are constants for the gradient (they
//! depend on the labels only): `dW/dp_c = M[y, c]`.
//!
//! Class-probability targets `q` (`mode=multiclass` with a float target of `pred`'s shape), our
//! extension: every per-pixel term becomes its expectation under `q`,
//! `W(x) = sum_y q_y(x) W_y(x)` with `W_y(x) = sum_c M[y, c] p_c(x)`,
//! `TP = sum_x sum_y q_y a_y (1 - W_y(x))`, the gdl denominator `sum_x sum_y q_y a_y (2 - W_y(x))`,
//! and `V_nc = sum_x q_c(x)`; for one-hot `q` this is the label formula exactly.
//!
//! Everything reduces to three sums per image, `A = sum a_y`, `B = sum a_y W`, `S = sum W`
//! (`TP = A - B`), gathered in one pass over fixed blocks (the same bits for any thread count);
//! the gradient is `dL/dp_c(x) = Gm[y, c]` with `Gm[y, c] = (dL/dS + a_y dL/dB) M[y, c]` (for `q`:
//! `sum_y q_y Gm[y, c]`), then through the softmax.
//!
//! Keys: `dist_matrix` (`uniform`, or a C x C matrix), `weighting_mode` (default, gdl),
//! `smooth_nr`, `smooth_dr` (1e-5 each), `smooth` (sets both), `from_logits`. Multiclass only:
//! integer labels with C >= 2 channels, C equal to the matrix size; no `weight`, no
//! `ignore_index`; `reduction` is `mean` (over the images) or `sum`.
//!
//! Anchor (equal): MONAI `GeneralizedWassersteinDiceLoss(dist_matrix, weighting_mode="default"|"GDL",
//! smooth_nr, smooth_dr, reduction="mean"|"sum")`.

use crate::common::{mean_or_sum, resolve_smoothing};
use crate::wasserstein_kernels::{scalar, simd, Block, BLOCK_PIX};
use segloss_core::declare::{checks, DistMatrix, KeyValue, WeightUse};
use segloss_core::input::{contiguous, validate_range};
use segloss_core::kernel::{check_grad_len, reject_weight, Backend, StridedOut};
use segloss_core::reduce::{n_blocks, par_for, tree_reduce, SharedMut};
use segloss_core::simd::Level;
use segloss_core::{resolve, Batch, Loss, LossError, Mode, Reduction, Result, TargetLayout};

segloss_core::word_enum! {
    /// How `wasserstein_dice` weights the true positives of each class (`weighting_mode`).
    pub enum WeightingMode {
        /// Fidon et al.: 0 for the background (class 0), 1 for every other class.
        Default = "default",
        /// Tilborghs et al.: `1/(V_c + 1)`, `V_c` the class's pixel count in the image.
        Gdl = "gdl",
    }
}

/// The non-symmetric 3 x 3 matrix the shared test harness runs besides `uniform` (its
/// multiclass problems have 3 channels).
fn example_matrix() -> DistMatrix {
    DistMatrix::Matrix(vec![vec![0.0, 1.0, 2.0], vec![0.5, 0.0, 1.5], vec![3.0, 0.25, 0.5]])
}

segloss_core::declare_loss! {
    /// `wasserstein_dice`: the generalized Wasserstein Dice loss (see the [module docs](self)).
    pub struct WassersteinDiceConfig {
        name: "wasserstein_dice",
        family: "segloss-overlap",
        modes: [Multiclass],
        weight: WeightUse::None,
        formula: "mean (sum) over images of 1 - (2 TP + nr)/(Den + dr), W(x) = sum_c M[y,c] p_c(x), TP = sum_x a_y (1 - W)",
        anchor: "MONAI `GeneralizedWassersteinDiceLoss(dist_matrix, weighting_mode, smooth_nr, smooth_dr, reduction=\"mean\"|\"sum\")`",
        aliases: [],
        keys: {
            /// uniform (0 on the diagonal, 1 elsewhere) or a C x C matrix [[...],...], row = true class, entries finite and >= 0, largest > 0; divided by its largest entry
            dist_matrix: DistMatrix = DistMatrix::Uniform, examples [example_matrix()];
            /// default: a = 0 for class 0, 1 otherwise; gdl: a_c = 1/(V_c + 1) per image
            weighting_mode: WeightingMode = WeightingMode::Default;
            /// sets smooth_nr and smooth_dr, >= 0 (an error with either at another value)
            smooth: Option<f64> = None, check checks::opt_nonneg, examples [Some(1.0)];
            /// added to the numerator 2 TP, >= 0
            smooth_nr: f64 = 1e-5, check checks::nonneg, examples [0.0, 1.0];
            /// added to the denominator, >= 0
            smooth_dr: f64 = 1e-5, check checks::nonneg, examples [1.0];
            /// mean: the mean of the image losses; sum: their sum (none: an error; unreduced values: Loss::per_image)
            reduction: Reduction = Reduction::Mean, check mean_or_sum;
            /// false: pred holds probabilities (softmax skipped), used unclipped
            from_logits: bool = true;
        }
    }
}

/// Every denominator `Den + dr` is clamped to at least this.
const DEN_EPS: f64 = 1e-7;

impl WassersteinDiceConfig {
    /// The smoothing `(nr, dr)` in use: `(s, s)` with `smooth = s`, else `(smooth_nr, smooth_dr)`.
    fn smoothing(&self) -> Result<(f64, f64)> {
        let d = WassersteinDiceConfig::default();
        resolve_smoothing(self.smooth, (self.smooth_nr, self.smooth_dr), (d.smooth_nr, d.smooth_dr))
    }

    /// Checks every key and builds the loss.
    pub fn build(&self) -> Result<WassersteinDice> {
        self.check_keys()?;
        let (nr, dr) = self.smoothing()?;
        Ok(WassersteinDice { config: self.clone(), nr, dr })
    }
}

/// The built `wasserstein_dice` loss (from [`WassersteinDiceConfig::build`]).
#[derive(Debug, Clone, PartialEq)]
pub struct WassersteinDice {
    config: WassersteinDiceConfig,
    nr: f64,
    dr: f64,
}

/// The targets of one evaluation, contiguous.
enum Tgt<'a> {
    Labels(segloss_core::input::Labels<'a>),
    Probs(std::borrow::Cow<'a, [f32]>),
}

impl WassersteinDice {
    /// The loss of one image from its sums `[A, B, S]`, and `(dL/dB, dL/dS)`.
    fn image_loss(&self, sums: [f64; 3]) -> (f64, f64, f64) {
        let [a, b, s] = sums;
        let tp = a - b;
        let num = 2.0 * tp + self.nr;
        let gdl = self.config.weighting_mode == WeightingMode::Gdl;
        // Den as a function of B and S: default 2(A - B) + S, gdl 2A - B
        let (den, dden_db, dden_ds) = if gdl { (2.0 * a - b, -1.0, 0.0) } else { (2.0 * tp + s, -2.0, 1.0) };
        let raw = den + self.dr;
        let (d, dd_db, dd_ds) = if raw >= DEN_EPS { (raw, dden_db, dden_ds) } else { (DEN_EPS, 0.0, 0.0) };
        let loss = 1.0 - num / d;
        // L = 1 - num/d: dL/dx = -(num' d - num d')/d^2, num' = -2 for B, 0 for S
        let dl_db = -(-2.0 * d - num * dd_db) / (d * d);
        let dl_ds = num * dd_ds / (d * d);
        (loss, dl_db, dl_ds)
    }

    fn eval(&self, batch: &Batch<'_>, mut grad: Option<&mut [f32]>, upstream: f32) -> Result<f64> {
        let name = "wasserstein_dice";
        reject_weight(name, batch, "its class weights come from the labels (weighting_mode)")?;
        let layout = resolve(batch, self.config.mode)?;
        if layout.mode != Mode::Multiclass {
            return Err(LossError::unsupported(
                name,
                format!(
                    "is multiclass only (got mode {}{}); class-probability targets need mode=multiclass",
                    layout.mode,
                    if self.config.mode.is_some() { "" } else { ", inferred from the shapes" }
                ),
            ));
        }
        let (n, cc, s) = (layout.n, layout.c, layout.s);
        let m = self.config.dist_matrix.normalized(cc).ok_or_else(|| {
            LossError::config(
                "dist_matrix",
                self.config.dist_matrix.to_value(),
                format!(
                    "is {k} x {k} but pred {:?} has C = {cc} channels",
                    batch.pred.shape(),
                    k = self.config.dist_matrix.size().unwrap_or(0)
                ),
            )
        })?;
        check_grad_len(&grad, layout.len(), batch)?;
        let tgt = if layout.target == TargetLayout::Labels {
            let l = batch.target.labels().expect("integer labels");
            l.validate(cc, None, batch.target.shape())?;
            Tgt::Labels(l)
        } else {
            let q = batch.target.floats().expect("float targets");
            validate_range(&q, 0.0, 1.0, batch.target.shape(), "a class probability in [0, 1] for wasserstein_dice")?;
            Tgt::Probs(q)
        };
        let x = contiguous(&batch.pred);
        let backend = Backend::current();
        let level = Level::current();
        let from_logits = self.config.from_logits;
        let m32: Vec<f32> = m.iter().map(|&v| v as f32).collect();
        let per = n_blocks(s, BLOCK_PIX);
        // the blocks of one image: (first pixel, length)
        let span = |k: usize| (k * BLOCK_PIX, BLOCK_PIX.min(s - k * BLOCK_PIX));
        let with_block = |img: usize, k: usize, f: &mut dyn FnMut(&Block<'_>, usize)| {
            let (lo, len) = span(k);
            let base = img * cc * s + lo;
            let mut lbuf = [0i32; BLOCK_PIX];
            let (labels, probs) = match &tgt {
                Tgt::Labels(l) => {
                    l.classes_into(img * s + lo, &mut lbuf[..len], cc, None);
                    (Some(&lbuf[..len]), None)
                }
                Tgt::Probs(q) => (None, Some(&q[base..])),
            };
            f(&Block { z: &x[base..], stride: s, len, classes: cc, labels, probs }, base);
        };
        // the divisor of the reduction: the image count (mean) or 1 (sum)
        let div = match self.config.reduction {
            Reduction::Sum => 1.0,
            _ => n as f64,
        };
        let mut total = 0.0;
        for img in 0..n {
            // the class weights a (f32 values, as MONAI computes them)
            let a: Vec<f64> = match self.config.weighting_mode {
                WeightingMode::Default => (0..cc).map(|c| if c == 0 { 0.0 } else { 1.0 }).collect(),
                WeightingMode::Gdl => {
                    let vol = |k: usize| -> Vec<f64> {
                        let mut v = vec![0.0; cc];
                        with_block(img, k, &mut |b, _| match (b.labels, b.probs) {
                            (Some(l), _) => l.iter().for_each(|&y| v[y as usize] += 1.0),
                            (None, Some(q)) => {
                                for (c, vc) in v.iter_mut().enumerate() {
                                    *vc += q[c * s..c * s + b.len].iter().map(|&t| t as f64).sum::<f64>();
                                }
                            }
                            (None, None) => unreachable!("labels or class probabilities"),
                        });
                        v
                    };
                    let v = tree_reduce(per, &vol, &|mut l, r| {
                        l.iter_mut().zip(&r).for_each(|(a, b)| *a += b);
                        l
                    })
                    .expect("at least one block");
                    v.iter().map(|&vc| (1.0f32 / (vc as f32 + 1.0)) as f64).collect()
                }
            };
            let a32: Vec<f32> = a.iter().map(|&v| v as f32).collect();
            let (mt, at) = (simd::Table::new(&m32, cc, cc), simd::Table::new(&a32, cc, 1));
            let cached = backend == Backend::Simd && from_logits && grad.is_some();
            let shared = grad.as_deref_mut().map(SharedMut::new);
            let leaf = |k: usize| -> [f64; 3] {
                let mut out = [0.0; 3];
                with_block(img, k, &mut |b, base| {
                    out = match backend {
                        Backend::Scalar => scalar::stats(b, &m, &a, from_logits),
                        Backend::Simd => {
                            let cache = shared.filter(|_| cached).map(|g| StridedOut::new(g, base, s, b.len));
                            simd::stats(level, b, &mt, &at, from_logits, cache.as_ref())
                        }
                    }
                });
                out
            };
            let sums = tree_reduce(per, &leaf, &|l, r| [l[0] + r[0], l[1] + r[1], l[2] + r[2]]).expect("at least one block");
            let (loss, dl_db, dl_ds) = self.image_loss(sums);
            total += loss;
            if let Some(g) = shared {
                let k = upstream as f64 / div;
                let gm: Vec<f64> = (0..cc * cc).map(|i| k * (dl_ds + a[i / cc] * dl_db) * m[i]).collect();
                let gm32: Vec<f32> = gm.iter().map(|&v| v as f32).collect();
                let gt = simd::Table::new(&gm32, cc, cc);
                par_for(per, &|k| {
                    with_block(img, k, &mut |b, base| {
                        let o = StridedOut::new(g, base, s, b.len);
                        match (backend, cached) {
                            (Backend::Scalar, _) => scalar::grad(b, &gm, from_logits, &o),
                            (Backend::Simd, true) => simd::grad_cached(level, b, &gt, &o),
                            (Backend::Simd, false) => simd::grad(level, b, &gt, from_logits, &o),
                        }
                    })
                });
            }
        }
        Ok(total / div)
    }
}

impl Loss for WassersteinDice {
    fn name(&self) -> &'static str {
        "wasserstein_dice"
    }

    fn config(&self) -> Option<&dyn std::any::Any> {
        Some(&self.config)
    }

    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        self.eval(batch, grad, upstream).map(|v| v as f32)
    }
}

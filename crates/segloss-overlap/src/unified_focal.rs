//! `unified_focal`: the asymmetric unified focal loss of Yeung et al. 2022 ("Unified Focal loss:
//! Generalising Dice and cross entropy-based losses to handle class imbalanced medical image
//! segmentation", Computerized Medical Imaging and Graphics 95), as MONAI 1.6 computes it
//! (`AsymmetricUnifiedFocalLoss`). See `docs/LOSSES.md`, section unified_focal.
//!
//! A binary problem in two channels, background `c = 0` and foreground `c = 1`: binary
//! `pred` (one channel, probability `p`) becomes `p_0 = 1 - p`, `p_1 = p` with targets `1 - y`, `y`
//! (MONAI's own expansion); a two-channel multiclass `pred` is the softmax of its logits (or the two
//! probabilities as given), with labels 0/1 (one-hot) or two-channel class probabilities. Every
//! probability is clamped, `q_c = clamp(p_c, 1e-7, 1 - 1e-7)`, and where the clamp acts the
//! gradient through it is 0 (MONAI's `torch.clamp`). With `N` images of `S` pixels, `w` = `weight`,
//! `d` = `delta`, `g` = `gamma`:
//!
//! ```text
//! F  = 1/(2NS) sum_{n,x} [ (1-d) (1 - q_0)^g (-y_0 ln q_0) + d (-y_1 ln q_1) ]
//! TI_nc = (TP + 1e-7)/(TP + d FN + (1-d) FP + 1e-7),  TP = sum y q, FN = sum y (1-q), FP = sum (1-y) q
//! FT = 1/(2N) sum_n [ (1 - TI_n0) + (1 - TI_n1)^(1-g) ]
//! loss = w F + (1 - w) FT
//! ```
//!
//! The focal term suppresses the background (`(1 - q_0)^g`) and keeps the foreground's cross
//! entropy whole; the focal Tversky term keeps the background's `1 - TI` and enhances the
//! foreground's (`(1 - TI)^(1-g)`, `1 - g <= 1`). `1 - TI` is computed as
//! `(d FN + (1-d) FP)/(TP + d FN + (1-d) FP + 1e-7)`, positive unless `d` is 0 or 1 and the pair's
//! FP (or FN) is 0; there `(1 - TI)^(1-g)` is `0^(1-g)` (1 for `g = 1`, as torch's `pow`) and its
//! gradient is taken as 0.
//!
//! Keys: `weight` (0.5), `delta` (0.7), `gamma` (0.5), each in `[0, 1]`, and `from_logits`
//! (true: sigmoid for binary, softmax for two channels; false: `pred` holds probabilities, MONAI's
//! input). Binary (one channel) and multiclass with exactly 2 channels; no `weight` input, no
//! `ignore_index`, targets in `[0, 1]`.
//!
//! Anchor (equal): MONAI 1.6 `AsymmetricUnifiedFocalLoss(weight, gamma, delta)(p, target)` with `p`
//! the sigmoid (binary) or softmax (two channels) of the logits (MONAI applies no activation;
//! `from_logits=false` takes probabilities as MONAI does), `to_onehot_y=True` for labels.
//!
//! Two passes over fixed blocks of 1024 pixels (the same bits for any thread count): the first
//! gathers eight sums per image (the focal sums and the Tversky counts of both channels, over the
//! clamped probabilities), the second writes the gradient; the scalar and SIMD kernels are in
//! `unified_focal_kernels`. The overlap engine's pair sums are not used: they are taken over the
//! unclamped probabilities.

use crate::unified_focal_kernels::{scalar, simd, Block, Coefs, Params, Sums, Tgt, BLOCK_PIX, EPS};
use segloss_core::declare::{checks, WeightUse};
use segloss_core::input::{contiguous, validate_range, DenseTarget, Labels};
use segloss_core::kernel::{check_grad_len, reject_weight, Backend, StridedOut};
use segloss_core::reduce::{n_blocks, par_for, tree_reduce, SharedMut};
use segloss_core::simd::Level;
use segloss_core::{resolve, Batch, Loss, LossError, Mode, Result, TargetLayout};
use std::borrow::Cow;

segloss_core::declare_loss! {
    /// `unified_focal`: the asymmetric unified focal loss (see the [module docs](self)).
    pub struct UnifiedFocalConfig {
        name: "unified_focal",
        family: "segloss-overlap",
        modes: [Binary, Multiclass],
        weight: WeightUse::None,
        formula: "w F + (1-w) FT: F = asymmetric focal CE ((1-q0)^gamma on the background), FT = mean of 1 - TI_0 and (1 - TI_1)^(1-gamma); q clamped to [1e-7, 1-1e-7]",
        anchor: "MONAI `AsymmetricUnifiedFocalLoss(weight, gamma, delta)` on the sigmoid (binary) or softmax (2 channels) probabilities",
        aliases: [],
        keys: {
            /// in [0, 1]: weight of the asymmetric focal term; the focal Tversky term gets 1 - weight
            weight: f64 = 0.5, check checks::unit, examples [0.0, 1.0];
            /// in [0, 1]: weight of the foreground in the focal term (1 - delta: background) and of FN in the Tversky index (1 - delta: FP)
            delta: f64 = 0.7, check checks::unit, examples [0.5, 1.0];
            /// in [0, 1]: background focal exponent (1 - q0)^gamma; foreground Tversky exponent 1 - gamma
            gamma: f64 = 0.5, check checks::unit, examples [0.0, 1.0];
            /// false: pred holds probabilities (sigmoid/softmax skipped), clamped to [1e-7, 1 - 1e-7] as MONAI does
            from_logits: bool = true;
        }
    }
}

impl UnifiedFocalConfig {
    /// Checks every key and builds the loss.
    pub fn build(&self) -> Result<UnifiedFocal> {
        self.check_keys()?;
        Ok(UnifiedFocal { config: self.clone() })
    }
}

/// The built `unified_focal` loss (from [`UnifiedFocalConfig::build`]).
#[derive(Debug, Clone, PartialEq)]
pub struct UnifiedFocal {
    config: UnifiedFocalConfig,
}

/// The targets of one evaluation, contiguous.
enum Targets<'a> {
    /// Binary: floats, or integers 0/1 converted per block.
    Binary(DenseTarget<'a>),
    /// Two channels: labels 0/1.
    Labels(Labels<'a>),
    /// Two channels: class probabilities `[N, 2, S]`.
    Probs(Cow<'a, [f32]>),
}

/// The per-image sums of a run of consecutive images, as handed up the reduction tree.
struct Part {
    start: usize,
    sums: Vec<Sums>,
}

/// Adds `r` (the right neighbour, starting at `l`'s last image or the next) into `l`.
fn merge(mut l: Part, r: Part) -> Part {
    let off = r.start - l.start;
    for (i, s) in r.sums.iter().enumerate() {
        match l.sums.get_mut(off + i) {
            Some(t) => t.iter_mut().zip(s).for_each(|(a, b)| *a += b),
            None => l.sums.push(*s),
        }
    }
    l
}

/// The Tversky index of one (image, channel) pair from its counts: `(1 - TI, u, v)` with
/// `dTI/dq = u (1 - y) + v y` for every pixel of the pair (`dTP = y`, `dFN = -y`, `dFP = 1 - y`,
/// so the denominator moves by `1 - delta`). `v = (1 - (1 - delta) TI)/den` is computed as
/// `(delta + (1 - delta)(1 - TI))/den`, which does not cancel as `TI` nears 1.
fn tversky(tp: f64, fn_: f64, fp: f64, delta: f64) -> (f64, f64, f64) {
    let den = tp + delta * fn_ + (1.0 - delta) * fp + EPS;
    let ti = (tp + EPS) / den;
    let base = (delta * fn_ + (1.0 - delta) * fp) / den;
    (base, -ti * (1.0 - delta) / den, (delta + (1.0 - delta) * base) / den)
}

impl UnifiedFocal {
    /// The loss of the images from their sums, and each image's gradient coefficients (`upstream`
    /// folded in).
    fn finish(&self, sums: &[Sums], s: usize, upstream: f64) -> (f64, Vec<Coefs>) {
        let UnifiedFocalConfig { weight: w, delta: d, gamma: g, .. } = self.config;
        let n = sums.len() as f64;
        let per_elem = 1.0 / (2.0 * n * s as f64);
        let (mut f0, mut f1, mut ft) = (0.0, 0.0, 0.0);
        let kt = upstream * (1.0 - w) / (2.0 * n);
        let coefs = sums
            .iter()
            .map(|sm| {
                f0 += sm[0];
                f1 += sm[1];
                let (b0, u0, v0) = tversky(sm[2], sm[3], sm[4], d);
                let (b1, u1, v1) = tversky(sm[5], sm[6], sm[7], d);
                let l1 = b1.powf(1.0 - g);
                ft += b0 + l1;
                // dL/dTI: -1 for the background; -(1 - g) (1 - TI)^(-g) for the foreground (0 at 1 - TI = 0)
                let dl1 = if b1 > 0.0 { -(1.0 - g) * b1.powf(-g) } else { 0.0 };
                Coefs {
                    kf0: upstream * w * (1.0 - d) * per_elem,
                    kf1: upstream * w * d * per_elem,
                    a0: -kt * u0,
                    b0: -kt * v0,
                    a1: kt * dl1 * u1,
                    b1: kt * dl1 * v1,
                }
            })
            .collect();
        let focal = ((1.0 - d) * f0 + d * f1) * per_elem;
        (w * focal + (1.0 - w) * ft / (2.0 * n), coefs)
    }

    fn eval(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f64> {
        let name = "unified_focal";
        reject_weight(name, batch, "MONAI's AsymmetricUnifiedFocalLoss takes none")?;
        let layout = resolve(batch, self.config.mode)?;
        let inferred = if self.config.mode.is_some() { "" } else { ", inferred from the shapes" };
        match layout.mode {
            Mode::Binary => {}
            Mode::Multiclass if layout.c == 2 => {}
            Mode::Multiclass => {
                return Err(LossError::unsupported(
                    name,
                    format!(
                        "takes exactly 2 channels in mode multiclass (0: background, 1: foreground) but pred {:?} has C = {}: \
                         MONAI's AsymmetricUnifiedFocalLoss reads channels 0 and 1 only (num_classes = 2)",
                        batch.pred.shape(),
                        layout.c
                    ),
                ))
            }
            Mode::Multilabel => {
                return Err(LossError::unsupported(
                    name,
                    format!(
                        "is binary (one channel) or two-channel multiclass (got mode multilabel{inferred}); \
                         two-channel class-probability targets need mode=multiclass"
                    ),
                ))
            }
        }
        check_grad_len(&grad, layout.len(), batch)?;
        let shape = batch.target.shape();
        let tgt = match (layout.mode, layout.target) {
            (Mode::Multiclass, TargetLayout::Labels) => {
                let l = batch.target.labels().expect("integer labels");
                l.validate(2, None, shape)?;
                Targets::Labels(l)
            }
            (Mode::Multiclass, _) => {
                let q = batch.target.floats().expect("float targets");
                validate_range(&q, 0.0, 1.0, shape, "a class probability in [0, 1] for unified_focal")?;
                Targets::Probs(q)
            }
            _ => {
                let y = DenseTarget::from_target(&batch.target);
                if let DenseTarget::F32(v) = &y {
                    validate_range(v, 0.0, 1.0, shape, "a float target in [0, 1] for unified_focal")?;
                }
                Targets::Binary(y)
            }
        };
        let x = contiguous(&batch.pred);
        let (n, c, s) = (layout.n, layout.c, layout.s);
        let prm = Params { from_logits: self.config.from_logits, gamma: self.config.gamma };
        let backend = Backend::current();
        let level = Level::current();
        let per = n_blocks(s, BLOCK_PIX);
        // block u: image u / per, pixels [lo, lo + len) of it
        let with_block = |u: usize, f: &mut dyn FnMut(&Block<'_>, usize)| {
            let (img, k) = (u / per, u % per);
            let lo = k * BLOCK_PIX;
            let len = BLOCK_PIX.min(s - lo);
            let base = img * c * s + lo;
            let mut lbuf = [0i32; BLOCK_PIX];
            let mut ybuf = [0f32; BLOCK_PIX];
            let t = match &tgt {
                Targets::Binary(y) => Tgt::Binary(y.chunk(base, &mut ybuf[..len])),
                Targets::Labels(l) => {
                    l.classes_into(img * s + lo, &mut lbuf[..len], 2, None);
                    Tgt::Labels(&lbuf[..len])
                }
                Targets::Probs(q) => Tgt::Probs(&q[base..]),
            };
            f(&Block { z: &x[base..], stride: s, len, t }, base);
        };
        let leaf = |u: usize| -> Part {
            let mut sums = [0.0; 8];
            with_block(u, &mut |b, _| {
                sums = match backend {
                    Backend::Scalar => scalar::stats(b, &prm),
                    Backend::Simd => simd::stats(level, b, &prm),
                }
            });
            Part { start: u / per, sums: vec![sums] }
        };
        let all = tree_reduce(n * per, &leaf, &merge).expect("at least one block");
        let (loss, coefs) = self.finish(&all.sums, s, upstream as f64);
        if let Some(g) = grad {
            let out = SharedMut::new(g);
            par_for(n * per, &|u| {
                let cf = &coefs[u / per];
                with_block(u, &mut |b, base| {
                    let o = StridedOut::new(out, base, s, b.len);
                    match backend {
                        Backend::Scalar => scalar::grad(b, &prm, cf, &o),
                        Backend::Simd => simd::grad(level, b, &prm, cf, &o),
                    }
                })
            });
        }
        Ok(loss)
    }
}

impl Loss for UnifiedFocal {
    fn name(&self) -> &'static str {
        "unified_focal"
    }

    fn config(&self) -> Option<&dyn std::any::Any> {
        Some(&self.config)
    }

    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        self.eval(batch, grad, upstream).map(|v| v as f32)
    }
}

//! Drivers: cut a batch into fixed blocks, run a kernel on each in parallel, add the block sums
//! along the fixed tree of `segloss_core::reduce` (same bits for any thread count).

use crate::kernels::{self, Aux, ElemParams, SoftmaxBlock, SoftmaxParams};
use segloss_core::input::{contiguous, DenseTarget, Labels};
use segloss_core::kernel::StridedOut;
use segloss_core::reduce::{n_blocks, tree_reduce, tree_sum, SharedMut, BLOCK};
use segloss_core::simd::Level;
use segloss_core::{Backend, Batch, Layout, Result, WeightLayout};

/// Pixels per block of the softmax kernels.
pub const SOFTMAX_BLOCK: usize = 1024;

/// Runs an elementwise kernel over the batch. Returns the sum of the per-element losses and the
/// first flat index whose target is outside `[0, 1]`, if any. `aux_is_distance`: the weight input
/// is a distance map. `grad` receives `scale * dl/dx`.
pub fn elementwise(
    batch: &Batch<'_>,
    layout: &Layout,
    params: &ElemParams,
    aux_is_distance: bool,
    scale: f32,
    grad: Option<&mut [f32]>,
    backend: Backend,
) -> Result<(f64, Option<usize>)> {
    let x = contiguous(&batch.pred);
    let level = Level::current();
    let y = DenseTarget::from_target(&batch.target);
    let w = batch.weight.as_ref().map(contiguous);
    let len = layout.len();
    let per_pixel = layout.weight == Some(WeightLayout::PerPixel) && layout.c > 1;
    let s = layout.s;
    let grad = grad.map(SharedMut::new);
    let nb = n_blocks(len, BLOCK);
    let leaf = |bi: usize| -> (f64, Option<usize>) {
        let lo = bi * BLOCK;
        let hi = (lo + BLOCK).min(len);
        let mut ybuf = [0.0f32; BLOCK];
        let mut sum = 0.0;
        let mut bad = None;
        let mut a = lo;
        while a < hi {
            // sub-ranges never cross a row when the weight is broadcast over channels
            let b = if per_pixel { hi.min((a / s + 1) * s) } else { hi };
            let yc = y.chunk(a, &mut ybuf[..b - a]);
            let aux = match &w {
                None => Aux::None,
                Some(wv) => {
                    let (wa, wb) = if per_pixel {
                        let img = a / s / layout.c;
                        (img * s + a % s, img * s + a % s + (b - a))
                    } else {
                        (a, b)
                    };
                    if aux_is_distance {
                        Aux::Distance(&wv[wa..wb])
                    } else {
                        Aux::Weight(&wv[wa..wb])
                    }
                }
            };
            // SAFETY: block ranges are disjoint.
            let g = grad.map(|g| unsafe { g.slice(a, b - a) });
            let (sm, bd) = match backend {
                Backend::Simd => kernels::simd::elementwise(level, &x[a..b], yc, aux, params, scale, g),
                Backend::Scalar => kernels::scalar::elementwise(&x[a..b], yc, aux, params, scale, g),
            };
            sum += sm;
            if bd && bad.is_none() {
                bad = yc.iter().position(|v| !(*v >= 0.0 && *v <= 1.0)).map(|k| a + k);
            }
            a = b;
        }
        (sum, bad)
    };
    let (sum, bad) = tree_reduce(nb, &leaf, &|l, r| (l.0 + r.0, l.1.or(r.1))).unwrap_or((0.0, None));
    Ok((sum, bad))
}

/// How the channels of binary and multilabel `focal` enter the loss (`class_weights`,
/// `include_background`, `ignore_index`).
#[derive(Debug, Clone, PartialEq)]
pub struct Channels {
    /// The factor of each channel's terms (length C): its class weight, 0 for a dropped channel
    /// 0. A channel of factor 0 is not computed: its terms are 0 and its gradient is 0 (its
    /// targets are still checked).
    pub factors: Vec<f64>,
    /// Channel 0 leaves the mean (`include_background=false` with at least 2 channels).
    pub skip_first: bool,
    /// Elements whose target equals this value have a zero term and gradient and leave the mean.
    pub ignore: Option<f32>,
}

/// The number of elements in the mean of [`elementwise_channels`]: those of the kept channels
/// whose target is not [`Channels::ignore`].
pub fn count_kept(batch: &Batch<'_>, layout: &Layout, ch: &Channels) -> usize {
    let y = DenseTarget::from_target(&batch.target);
    let (len, s, c) = (layout.len(), layout.s, layout.c);
    let ig = ch.ignore;
    let n = tree_sum(n_blocks(len, BLOCK), &|bi| {
        let lo = bi * BLOCK;
        let hi = (lo + BLOCK).min(len);
        let mut buf = [0.0f32; BLOCK];
        let yc = y.chunk(lo, &mut buf[..hi - lo]);
        let mut kept = 0usize;
        let mut a = lo;
        while a < hi {
            let b = hi.min((a / s + 1) * s);
            if !(ch.skip_first && (a / s).is_multiple_of(c)) {
                kept += match ig {
                    Some(ig) => yc[a - lo..b - lo].iter().map(|&v| (v != ig) as usize).sum::<usize>(),
                    None => b - a,
                };
            }
            a = b;
        }
        kept as f64
    });
    n as usize
}

/// [`elementwise`] for binary and multilabel `focal` with [`Channels`]: each channel's terms
/// times its factor, elements equal to the ignore value masked. Runs the same kernels on
/// sub-ranges that never cross a channel row: the kernel's sum is multiplied by the channel's
/// factor in `f64` and its gradient scale is `k * factor` (`k` the upstream gradient over the
/// mean's divisor); a range holding ignored elements runs with those elements' target and logit
/// set to 0 and their multiplier set to 0 (the weight input, or 1, elsewhere). Returns the sum
/// and the first flat index whose target is outside `[0, 1]` and not the ignore value.
pub fn elementwise_channels(
    batch: &Batch<'_>,
    layout: &Layout,
    params: &ElemParams,
    ch: &Channels,
    k: f64,
    grad: Option<&mut [f32]>,
    backend: Backend,
) -> Result<(f64, Option<usize>)> {
    let x = contiguous(&batch.pred);
    let level = Level::current();
    let y = DenseTarget::from_target(&batch.target);
    let w = batch.weight.as_ref().map(contiguous);
    let len = layout.len();
    let per_pixel = layout.weight == Some(WeightLayout::PerPixel) && layout.c > 1;
    let (s, c) = (layout.s, layout.c);
    let ig = ch.ignore;
    let grad = grad.map(SharedMut::new);
    let outside = |v: f32| !(0.0..=1.0).contains(&v) && ig != Some(v);
    let leaf = |bi: usize| -> (f64, Option<usize>) {
        let lo = bi * BLOCK;
        let hi = (lo + BLOCK).min(len);
        let mut ybuf = [0.0f32; BLOCK];
        // logits, targets and multipliers of a range with ignored elements (allocated when one is met)
        let mut fix: Vec<f32> = Vec::new();
        let yall = y.chunk(lo, &mut ybuf[..hi - lo]);
        let mut bad = None;
        let mut sum = 0.0;
        let mut a = lo;
        while a < hi {
            // one channel row at a time
            let b = hi.min((a / s + 1) * s);
            let factor = ch.factors[(a / s) % c];
            // SAFETY: block ranges are disjoint.
            let g = grad.map(|g| unsafe { g.slice(a, b - a) });
            let y_orig = &yall[a - lo..b - lo];
            let first_bad = || y_orig.iter().position(|&v| outside(v)).map(|i| a + i);
            if factor == 0.0 {
                // not computed: a zero gradient, the targets still checked
                if let Some(g) = g {
                    g.fill(0.0);
                }
                bad = bad.or_else(first_bad);
                a = b;
                continue;
            }
            let wr = w.as_ref().map(|wv| {
                if per_pixel {
                    let img = a / s / c;
                    &wv[img * s + a % s..img * s + a % s + (b - a)]
                } else {
                    &wv[a..b]
                }
            });
            let yr = y_orig;
            let masked = ig.is_some_and(|ig| yr.iter().fold(false, |m, &v| m | (v == ig)));
            let (xr, yr, aux) = if masked {
                let ig = ig.expect("masked");
                let m = b - a;
                fix.resize(3 * BLOCK, 0.0);
                let (xf, rest) = fix.split_at_mut(BLOCK);
                let (yf, wf) = rest.split_at_mut(BLOCK);
                for i in 0..m {
                    let keep = yr[i] != ig;
                    xf[i] = if keep { x[a + i] } else { 0.0 };
                    yf[i] = if keep { yr[i] } else { 0.0 };
                    wf[i] = if keep { wr.map_or(1.0, |w| w[i]) } else { 0.0 };
                }
                (&xf[..m], &yf[..m], Aux::Weight(&wf[..m]))
            } else {
                (&x[a..b], yr, wr.map_or(Aux::None, Aux::Weight))
            };
            let scale = (k * factor) as f32;
            let (sm, out) = match backend {
                Backend::Simd => kernels::simd::elementwise(level, xr, yr, aux, params, scale, g),
                Backend::Scalar => kernels::scalar::elementwise(xr, yr, aux, params, scale, g),
            };
            // the kernel saw ignored targets as 0: a target it flags is neither in [0, 1] nor ignored
            if out {
                bad = bad.or_else(first_bad);
            }
            sum += sm * factor;
            a = b;
        }
        (sum, bad)
    };
    let (sum, bad) = tree_reduce(n_blocks(len, BLOCK), &leaf, &|l, r| (l.0 + r.0, l.1.or(r.1))).unwrap_or((0.0, None));
    Ok((sum, bad))
}

/// Sum of `1 - y` over dense targets (for `balanced_ce:beta=auto`).
pub fn sum_one_minus(batch: &Batch<'_>, len: usize) -> f64 {
    let y = DenseTarget::from_target(&batch.target);
    tree_sum(n_blocks(len, BLOCK), &|bi| {
        let lo = bi * BLOCK;
        let hi = (lo + BLOCK).min(len);
        let mut buf = [0.0f32; BLOCK];
        y.chunk(lo, &mut buf[..hi - lo]).iter().map(|v| 1.0 - *v as f64).sum()
    })
}

/// Targets of a softmax loss.
pub enum SoftTargets<'a> {
    /// Integer labels, `[N, S]`, with the class count and ignore index.
    Labels(Labels<'a>, Option<i64>),
    /// Class probabilities, `[N, C, S]`.
    Probs(std::borrow::Cow<'a, [f32]>),
}

/// Runs a softmax kernel over the batch; returns the sum of the (pixel-weighted) pixel losses.
/// `skip_first` (multiclass `focal:include_background=false`): the kernels see channels 1..C-1
/// (`params.classes` is C - 1) and labels minus 1 (label 0: no term, as an ignored pixel), and
/// channel 0's gradient is 0.
#[allow(clippy::too_many_arguments)]
pub fn softmax(
    batch: &Batch<'_>,
    layout: &Layout,
    targets: &SoftTargets<'_>,
    params: &SoftmaxParams<'_>,
    skip_first: bool,
    scale: f32,
    grad: Option<&mut [f32]>,
    backend: Backend,
) -> f64 {
    let z = contiguous(&batch.pred);
    let level = Level::current();
    let w = batch.weight.as_ref().map(contiguous);
    let (c, s) = (layout.c, layout.s);
    let per_img = n_blocks(s, SOFTMAX_BLOCK);
    let grad = grad.map(SharedMut::new);
    tree_sum(layout.n * per_img, &|bi| {
        let (n, k) = (bi / per_img, bi % per_img);
        let lo = k * SOFTMAX_BLOCK;
        let len = SOFTMAX_BLOCK.min(s - lo);
        let mut base = n * c * s + lo;
        let mut lbuf = [0i32; SOFTMAX_BLOCK];
        if skip_first {
            if let Some(g) = grad {
                // SAFETY: this block owns channel 0's pixels lo..lo+len of image n.
                unsafe { g.slice(base, len) }.fill(0.0);
            }
            base += s;
        }
        let (labels, probs) = match targets {
            SoftTargets::Labels(l, ignore) => {
                l.classes_into(n * s + lo, &mut lbuf[..len], c, *ignore);
                if skip_first {
                    // channel k of the kernels is channel k + 1; label 0 (and -1, ignored) -> -1
                    lbuf[..len].iter_mut().for_each(|t| *t = (*t - 1).max(-1));
                }
                (Some(&lbuf[..len]), None)
            }
            SoftTargets::Probs(p) => (None, Some(&p[base..])), // ce only: never with skip_first
        };
        let block =
            SoftmaxBlock { z: &z[base..], stride: s, len, labels, probs, weight: w.as_ref().map(|w| &w[n * s + lo..n * s + lo + len]) };
        let out = grad.map(|g| StridedOut::new(g, base, s, len));
        match backend {
            Backend::Simd => kernels::simd::softmax(level, &block, params, scale, out.as_ref()),
            Backend::Scalar => kernels::scalar::softmax(&block, params, scale, out.as_ref()),
        }
    })
}

/// Sum over non-ignored pixels of `class_weight[label]` (`count_only`: of 1).
pub fn label_normalizer(labels: &Labels<'_>, classes: usize, ignore: Option<i64>, class_weights: &[f32], count_only: bool) -> f64 {
    let len = labels.len();
    tree_sum(n_blocks(len, BLOCK), &|bi| {
        let lo = bi * BLOCK;
        let hi = (lo + BLOCK).min(len);
        let mut buf = [0i32; BLOCK];
        labels.classes_into(lo, &mut buf[..hi - lo], classes, ignore);
        buf[..hi - lo]
            .iter()
            .filter(|&&t| t >= 0)
            .map(|&t| if count_only || class_weights.is_empty() { 1.0 } else { class_weights[t as usize] as f64 })
            .sum()
    })
}

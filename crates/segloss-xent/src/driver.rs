//! Drivers: cut a batch into fixed blocks, run a kernel on each in parallel, add the block sums
//! along the fixed tree of `segloss_core::reduce` (same bits for any thread count).

use crate::kernels::{self, Aux, ElemParams, SoftmaxBlock, SoftmaxParams};
use segloss_core::input::{contiguous, DenseTarget, Labels};
use segloss_core::kernel::StridedOut;
use segloss_core::reduce::{n_blocks, tree_reduce, tree_sum, SharedMut, BLOCK};
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
                Backend::Simd => kernels::simd::elementwise(&x[a..b], yc, aux, params, scale, g),
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
pub fn softmax(
    batch: &Batch<'_>,
    layout: &Layout,
    targets: &SoftTargets<'_>,
    params: &SoftmaxParams<'_>,
    scale: f32,
    grad: Option<&mut [f32]>,
    backend: Backend,
) -> f64 {
    let z = contiguous(&batch.pred);
    let w = batch.weight.as_ref().map(contiguous);
    let (c, s) = (layout.c, layout.s);
    let per_img = n_blocks(s, SOFTMAX_BLOCK);
    let grad = grad.map(SharedMut::new);
    tree_sum(layout.n * per_img, &|bi| {
        let (n, k) = (bi / per_img, bi % per_img);
        let lo = k * SOFTMAX_BLOCK;
        let len = SOFTMAX_BLOCK.min(s - lo);
        let base = n * c * s + lo;
        let mut lbuf = [0i32; SOFTMAX_BLOCK];
        let (labels, probs) = match targets {
            SoftTargets::Labels(l, ignore) => {
                l.classes_into(n * s + lo, &mut lbuf[..len], c, *ignore);
                (Some(&lbuf[..len]), None)
            }
            SoftTargets::Probs(p) => (None, Some(&p[base..])),
        };
        let block =
            SoftmaxBlock { z: &z[base..], stride: s, len, labels, probs, weight: w.as_ref().map(|w| &w[n * s + lo..n * s + lo + len]) };
        let out = grad.map(|g| StridedOut::new(g, base, s, len));
        match backend {
            Backend::Simd => kernels::simd::softmax(&block, params, scale, out.as_ref()),
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

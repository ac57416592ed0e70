//! What `boundary` and `hausdorff_dt` share: their key values ([`keys`]), the checks of a batch,
//! the per-(image, channel) maps and the passes that turn maps into a value and a gradient.
//!
//! Maps come from the two-sided transform ([`crate::two_sided`]) of the masks `value > 0.5` of
//! each kept (image, channel) pair, computed in parallel over the pairs in the current rayon
//! pool, each pair on one thread in that thread's reusable [`Workspace`] (grown to the largest
//! image seen, never freed), so a call allocates nothing proportional to its input beyond what
//! earlier calls already hold. A mask that is empty or fills the image gets the map 0.
//!
//! The gradient buffer doubles as the maps' storage: binary, multilabel and probability inputs
//! run one pass per pair (map, then the elementwise kernel); multiclass logits run the pairs,
//! then the softmax Jacobian over blocks of pixels of each image. Sums are taken per pair or per
//! block and added along core's fixed tree, so 1 and N threads give the same bits.

mod kernels;
pub mod keys;

use crate::two_sided::{two_sided, Finish, TwoSided};
use keys::{Channels, IncludeBackground, Spacing};
use segloss_core::input::validate_range;
use segloss_core::kernel::{check_grad_len, reject_weight, Backend, StridedOut};
use segloss_core::reduce::{par_for, tree_sum, SharedMut};
use segloss_core::simd::Level;
use segloss_core::target::{DenseTarget, Labels};
use segloss_core::{resolve, Batch, KeyValue, Layout, LossError, Mode, Result, TargetLayout};
use std::borrow::Cow;
use std::cell::Cell;

/// Pixels per block of the multiclass passes.
const BLOCK_PIXELS: usize = 2048;

/// Which loss runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    /// `sum p phi / (N |K| |S|)`.
    Boundary,
    /// `mean (p - g)^2 (d_P^alpha + d_G^alpha)`.
    Hausdorff {
        /// The exponent.
        alpha: f64,
    },
}

/// A validated distance loss.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Field {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    pub(crate) include_background: IncludeBackground,
    pub(crate) classes: Channels,
    pub(crate) spacing: Spacing,
    pub(crate) from_logits: bool,
    pub(crate) mode: Option<Mode>,
}

/// The target, read per pair.
enum Tgt<'a> {
    /// One value per `pred` element (binary, multilabel, class probabilities).
    Dense(DenseTarget<'a>),
    /// One class index per pixel (multiclass).
    Labels(Labels<'a>),
}

/// A batch after the checks.
struct Prepared<'a> {
    layout: Layout,
    pred: Cow<'a, [f32]>,
    target: Tgt<'a>,
    spacing: Vec<f64>,
    keep: Vec<bool>,
    kept: usize,
}

/// One thread's scratch, reused across pairs and calls.
#[derive(Default)]
struct Workspace {
    ts: TwoSided,
    mask: Vec<u8>,
    g: Vec<f32>,
    m1: Vec<f32>,
    m2: Vec<f32>,
    x: Vec<f32>,
}

impl Workspace {
    fn ensure(&mut self, s: usize) {
        for v in [&mut self.g, &mut self.m1, &mut self.m2, &mut self.x] {
            if v.len() < s {
                v.resize(s, 0.0);
            }
        }
        if self.mask.len() < s {
            self.mask.resize(s, 0);
        }
    }
}

thread_local! {
    static WORKSPACE: Cell<Option<Box<Workspace>>> = const { Cell::new(None) };
    static SCRATCH: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` with this thread's workspace (taken out while `f` runs, so a re-entrant call on the
/// same thread gets a fresh one instead of a borrow conflict).
fn with_workspace<R>(s: usize, f: impl FnOnce(&mut Workspace) -> R) -> R {
    let mut ws = WORKSPACE.with(|c| c.take()).unwrap_or_default();
    ws.ensure(s);
    let r = f(&mut ws);
    WORKSPACE.with(|c| c.set(Some(ws)));
    r
}

/// Runs `f` with a buffer of `len` elements from this thread's reusable scratch (the gradient
/// buffer of `forward`, which the maps need as storage).
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    let mut v = SCRATCH.with(|c| c.take());
    if v.len() < len {
        v.resize(len, 0.0);
    }
    let r = f(&mut v[..len]);
    SCRATCH.with(|c| c.set(v));
    r
}

/// `mask[j] = values[j] > cut` (strict), and the number of pixels set; at the process's SIMD
/// level (the AVX2 copy packs 32 comparisons per step, SSE2 has no such packing).
fn threshold(values: &[f32], cut: f32, mask: &mut [u8]) -> usize {
    match Level::current() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the AVX2 copy runs only where the CPU has AVX2 and FMA, checked here.
        l if l.runs_avx2() => unsafe { threshold_avx2(values, cut, mask) },
        _ => threshold_body(values, cut, mask),
    }
}

/// [`threshold_body`] compiled with AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn threshold_avx2(values: &[f32], cut: f32, mask: &mut [u8]) -> usize {
    threshold_body(values, cut, mask)
}

#[inline(always)]
fn threshold_body(values: &[f32], cut: f32, mask: &mut [u8]) -> usize {
    let mut n = 0;
    for (m, &v) in mask.iter_mut().zip(values) {
        let on = v > cut;
        *m = on as u8;
        n += on as usize;
    }
    n
}

/// The map of one mask into `out`: `finish(d)` of the two-sided distance, or 0 everywhere when
/// the mask is empty or full. Returns whether the mask has both sides.
fn map_of(mask: &[u8], set: usize, spatial: &[usize], spacing: &[f64], finish: Finish, ts: &mut TwoSided, out: &mut [f32]) -> bool {
    if set == 0 || set == mask.len() {
        out.fill(0.0);
        return false;
    }
    two_sided(mask, spatial, spacing, finish, ts, out);
    true
}

/// `phi`: the distance to the mask outside it, `1 - ` the distance to the outside inside it.
fn phi_of(mask: &[u8], set: usize, spatial: &[usize], spacing: &[f64], ts: &mut TwoSided, out: &mut [f32]) {
    map_of(mask, set, spatial, spacing, Finish::Phi, ts, out);
}

impl Field {
    /// The checks of a batch: weight, shapes and mode, spatial rank, spacing, kept channels,
    /// target values.
    fn prepare<'a>(&self, batch: &'a Batch<'_>) -> Result<Prepared<'a>> {
        reject_weight(self.name, batch, "the distance losses weigh pixels by their distance maps")?;
        let layout = resolve(batch, self.mode)?;
        let spacing = self.spacing.resolve(layout.spatial.len(), batch.pred.shape())?;
        let c = layout.c;
        let keep: Vec<bool> = match &self.classes {
            Channels::List(list) => {
                if let Some(bad) = list.iter().find(|&&k| k >= c) {
                    return Err(LossError::config(
                        "classes",
                        self.classes.to_value(),
                        format!(
                            "channel {bad} is outside [0, {c}) for pred of shape {}",
                            segloss_core::error::fmt_shape(batch.pred.shape())
                        ),
                    ));
                }
                (0..c).map(|k| list.contains(&k)).collect()
            }
            Channels::All => (0..c).map(|k| k > 0 || self.include_background.keeps_channel0(layout.mode)).collect(),
        };
        let kept = keep.iter().filter(|&&k| k).count();
        let target = match layout.target {
            TargetLayout::Labels => {
                let labels = batch.target.labels().expect("integer labels");
                labels.validate(c, None, batch.target.shape())?;
                Tgt::Labels(labels)
            }
            TargetLayout::Dense => {
                if let Some(f) = batch.target.floats() {
                    let what = match layout.mode {
                        Mode::Multiclass => format!("a class probability in [0, 1] for {}", self.name),
                        _ => format!("a float target in [0, 1] for {}", self.name),
                    };
                    validate_range(&f, 0.0, 1.0, batch.target.shape(), &what)?;
                }
                Tgt::Dense(DenseTarget::from_target(&batch.target))
            }
        };
        let pred = segloss_core::input::contiguous(&batch.pred);
        Ok(Prepared { layout, pred, target, spacing, keep, kept })
    }

    /// The loss of `batch` in `f64`; with `grad`, `upstream * dL/dpred` written into it.
    pub(crate) fn eval(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f64> {
        let backend = Backend::current();
        let prep = self.prepare(batch)?;
        check_grad_len(&grad, prep.layout.len(), batch)?;
        Ok(match grad {
            Some(g) => self.run(&prep, backend, g, upstream),
            None => with_scratch(prep.layout.len(), |g| self.run(&prep, backend, g, upstream)),
        })
    }

    /// The maps of `boundary` (`phi` on kept channels, 0 on the others) into `out`, `pred`'s
    /// shape; `batch.pred` is read for its shape only.
    pub(crate) fn boundary_maps(&self, batch: &Batch<'_>, out: &mut [f32]) -> Result<()> {
        let prep = self.prepare(batch)?;
        let s = prep.layout.s;
        let shared = SharedMut::new(out);
        par_for(prep.layout.n * prep.layout.c, &|pair| {
            // SAFETY: each pair writes its own S elements.
            let o = unsafe { shared.slice(pair * s, s) };
            self.boundary_map_of_pair(&prep, pair, o);
        });
        Ok(())
    }

    /// The target values of `pair` (borrowed, or written into `buf`).
    fn target_of<'b>(prep: &'b Prepared<'_>, pair: usize, buf: &'b mut [f32]) -> &'b [f32] {
        let (c, s) = (prep.layout.c, prep.layout.s);
        match &prep.target {
            Tgt::Dense(d) => d.chunk(pair * s, buf),
            Tgt::Labels(l) => {
                let (n, k) = (pair / c, (pair % c) as i64);
                for (j, b) in buf.iter_mut().enumerate() {
                    *b = (l.get(n * s + j) == k) as u8 as f32;
                }
                buf
            }
        }
    }

    /// The mask `G = {g > 0.5}` of `pair` into `mask` (labels: the pixels of the class, without
    /// going through float values) and the number of pixels set.
    fn target_mask(prep: &Prepared<'_>, pair: usize, buf: &mut [f32], mask: &mut [u8]) -> usize {
        let (c, s) = (prep.layout.c, prep.layout.s);
        match &prep.target {
            Tgt::Labels(l) => {
                let (n, k) = (pair / c, (pair % c) as i64);
                let mut set = 0;
                for (j, m) in mask.iter_mut().enumerate() {
                    let on = l.get(n * s + j) == k;
                    *m = on as u8;
                    set += on as usize;
                }
                set
            }
            Tgt::Dense(_) => threshold(Self::target_of(prep, pair, buf), 0.5, mask),
        }
    }

    fn boundary_map_of_pair(&self, prep: &Prepared<'_>, pair: usize, out: &mut [f32]) {
        let s = prep.layout.s;
        if !prep.keep[pair % prep.layout.c] {
            out.fill(0.0);
            return;
        }
        with_workspace(s, |ws| {
            let Workspace { ts, mask, g, .. } = ws;
            let set = Self::target_mask(prep, pair, &mut g[..s], &mut mask[..s]);
            phi_of(&mask[..s], set, &prep.layout.spatial, &prep.spacing, ts, out);
        });
    }

    fn run(&self, prep: &Prepared<'_>, backend: Backend, grad: &mut [f32], upstream: f32) -> f64 {
        let l = &prep.layout;
        let (n, c, s) = (l.n, l.c, l.s);
        if prep.kept == 0 {
            grad.fill(0.0);
            return 0.0;
        }
        let norm = (n * prep.kept * s) as f64;
        let scale = (upstream as f64 / norm) as f32;
        let softmax = l.mode == Mode::Multiclass && self.from_logits;
        let x: &[f32] = &prep.pred;
        let shared = SharedMut::new(grad);
        let blocks = s.div_ceil(BLOCK_PIXELS);
        let block = |b: usize| (b / blocks, (b % blocks) * BLOCK_PIXELS, BLOCK_PIXELS.min(s - (b % blocks) * BLOCK_PIXELS));
        let total = match (self.kind, softmax) {
            (Kind::Boundary, false) => tree_sum(n * c, &|pair| {
                // SAFETY: each pair writes its own S elements.
                let out = unsafe { shared.slice(pair * s, s) };
                if !prep.keep[pair % c] {
                    out.fill(0.0);
                    return 0.0;
                }
                with_workspace(s, |ws| {
                    let Workspace { ts, mask, g, m1, .. } = ws;
                    let set = Self::target_mask(prep, pair, &mut g[..s], &mut mask[..s]);
                    phi_of(&mask[..s], set, &l.spatial, &prep.spacing, ts, &mut m1[..s]);
                    kernels::boundary(backend, self.from_logits, &x[pair * s..(pair + 1) * s], &m1[..s], out, scale)
                })
            }),
            (Kind::Boundary, true) => {
                par_for(n * c, &|pair| {
                    // SAFETY: each pair writes its own S elements.
                    let out = unsafe { shared.slice(pair * s, s) };
                    self.boundary_map_of_pair(prep, pair, out);
                });
                tree_sum(n * blocks, &|b| {
                    let (img, j0, len) = block(b);
                    let rows = StridedOut::new(shared, img * c * s + j0, s, len);
                    kernels::softmax_vjp(backend, &x[img * c * s..(img + 1) * c * s], c, s, &rows, j0, len, scale)
                })
            }
            (Kind::Hausdorff { alpha }, softmax) => {
                if softmax {
                    par_for(n * blocks, &|b| {
                        let (img, j0, len) = block(b);
                        let rows = StridedOut::new(shared, img * c * s + j0, s, len);
                        kernels::softmax(backend, &x[img * c * s..(img + 1) * c * s], c, s, &rows, j0, len);
                    });
                }
                let finish = Finish::power(alpha);
                // binary and multilabel logits: p > 0.5 exactly when x > 0
                let (cut, sigmoid) = if self.from_logits && !softmax { (0.0, true) } else { (0.5, false) };
                let total = tree_sum(n * c, &|pair| {
                    // SAFETY: each pair reads and writes its own S elements.
                    let out = unsafe { shared.slice(pair * s, s) };
                    if !prep.keep[pair % c] {
                        out.fill(0.0);
                        return 0.0;
                    }
                    with_workspace(s, |ws| {
                        let Workspace { ts, mask, g, m1, m2, x: xb } = ws;
                        let xs: &[f32] = if softmax {
                            xb[..s].copy_from_slice(out);
                            &xb[..s]
                        } else {
                            &x[pair * s..(pair + 1) * s]
                        };
                        let set = threshold(xs, cut, &mut mask[..s]);
                        map_of(&mask[..s], set, &l.spatial, &prep.spacing, finish, ts, &mut m1[..s]);
                        let gv = Self::target_of(prep, pair, &mut g[..s]);
                        let set = threshold(gv, 0.5, &mut mask[..s]);
                        map_of(&mask[..s], set, &l.spatial, &prep.spacing, finish, ts, &mut m2[..s]);
                        kernels::hausdorff(backend, sigmoid, xs, gv, &m1[..s], &m2[..s], out, scale)
                    })
                });
                if softmax {
                    par_for(n * blocks, &|b| {
                        let (img, j0, len) = block(b);
                        let rows = StridedOut::new(shared, img * c * s + j0, s, len);
                        kernels::softmax_vjp(backend, &x[img * c * s..(img + 1) * c * s], c, s, &rows, j0, len, 1.0);
                    });
                }
                total
            }
        };
        total / norm
    }
}

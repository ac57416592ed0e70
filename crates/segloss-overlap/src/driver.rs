//! Drivers: cut a batch into fixed blocks, gather the statistics of every row in parallel along
//! the fixed tree of `segloss_core::reduce` (same bits for any thread count), then write the
//! gradient block by block.
//!
//! Blocks depend only on the shape: a sigmoid row longer than [`BLOCK`] is cut into segments of
//! [`BLOCK`] elements, shorter rows are grouped `BLOCK / S` to a block; a softmax block is up to
//! [`SOFTMAX_BLOCK`] pixels of one image across all channels. Each block returns the statistics of
//! the rows it touches, and neighbouring blocks' results are added row by row as the tree combines
//! them.

use crate::kernels::{self, Coef, KParams, SoftBlock, Stats};
use segloss_core::input::{contiguous, DenseTarget, Labels};
use segloss_core::kernel::{Backend, StridedOut};
use segloss_core::reduce::{n_blocks, par_for, tree_reduce, SharedMut, BLOCK};
use segloss_core::simd::Level;
use segloss_core::{Batch, Layout, Mode, TargetLayout};
use std::borrow::Cow;

/// Pixels per block of the softmax kernels.
pub const SOFTMAX_BLOCK: usize = 1024;

/// The targets, read in the layout the kernels want.
pub enum Targets<'a> {
    /// Dense values in `pred`'s element order (binary, multilabel).
    Dense(DenseTarget<'a>),
    /// Class indices per pixel `[N, S]`, with the ignore index (multiclass).
    Labels(Labels<'a>, Option<i64>),
    /// Class probabilities `[N, C, S]` (multiclass with float targets).
    Probs(Cow<'a, [f32]>),
}

/// A batch ready for the kernels: contiguous `pred` and the targets.
pub struct Inputs<'a> {
    /// `pred` in row-major order.
    pub x: Cow<'a, [f32]>,
    /// The targets.
    pub t: Targets<'a>,
    /// N, C, S.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Pixels per image.
    pub s: usize,
    /// Softmax over the channels.
    pub multiclass: bool,
}

impl<'a> Inputs<'a> {
    /// Borrows (or copies into row-major order) the batch's tensors.
    pub fn new(batch: &'a Batch<'_>, layout: &Layout, ignore: Option<i64>) -> Self {
        let multiclass = layout.mode == Mode::Multiclass;
        let t = if multiclass && layout.target == TargetLayout::Labels {
            Targets::Labels(batch.target.labels().expect("integer labels"), ignore)
        } else if multiclass {
            Targets::Probs(batch.target.floats().expect("float targets"))
        } else {
            Targets::Dense(DenseTarget::from_target(&batch.target))
        };
        Inputs { x: contiguous(&batch.pred), t, n: layout.n, c: layout.c, s: layout.s, multiclass }
    }

    /// Number of blocks.
    fn units(&self) -> usize {
        let rows = self.n * self.c;
        if self.multiclass {
            self.n * n_blocks(self.s, SOFTMAX_BLOCK)
        } else if self.s >= BLOCK {
            rows * n_blocks(self.s, BLOCK)
        } else {
            n_blocks(rows, BLOCK / self.s)
        }
    }

    /// Blocks per image when every block lies inside one image (always for the softmax; for
    /// sigmoid rows when `S >= BLOCK`): image `n` is then the blocks `n * k..(n + 1) * k`.
    pub fn units_per_image(&self) -> Option<usize> {
        if self.multiclass {
            Some(n_blocks(self.s, SOFTMAX_BLOCK))
        } else if self.s >= BLOCK {
            Some(self.c * n_blocks(self.s, BLOCK))
        } else {
            None
        }
    }

    /// The segments `(row, lo, hi)` (element offsets into `x`) of a sigmoid block.
    fn segments(&self, u: usize) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        let s = self.s;
        let rows = self.n * self.c;
        let (r0, r1, seg) = if s >= BLOCK {
            let per = n_blocks(s, BLOCK);
            let r = u / per;
            (r, r + 1, Some(((u % per) * BLOCK, ((u % per) * BLOCK + BLOCK).min(s))))
        } else {
            let rpu = BLOCK / s;
            (u * rpu, ((u + 1) * rpu).min(rows), None)
        };
        (r0..r1).map(move |r| match seg {
            Some((a, b)) => (r, r * s + a, r * s + b),
            None => (r, r * s, (r + 1) * s),
        })
    }

    /// `(image, first pixel, pixel count)` of a softmax block.
    fn softmax_block(&self, u: usize) -> (usize, usize, usize) {
        let per = n_blocks(self.s, SOFTMAX_BLOCK);
        let (img, k) = (u / per, u % per);
        let lo = k * SOFTMAX_BLOCK;
        (img, lo, SOFTMAX_BLOCK.min(self.s - lo))
    }
}

/// The targets of elements `a..b`: borrowed floats, or integers converted into `buf`.
fn dense_chunk<'s>(y: &'s DenseTarget<'_>, a: usize, b: usize, buf: &'s mut Vec<f32>) -> &'s [f32] {
    match y {
        DenseTarget::F32(v) => &v[a..b],
        DenseTarget::Int(_) => {
            buf.resize(b - a, 0.0);
            y.chunk(a, &mut buf[..b - a])
        }
    }
}

/// The statistics of a run of consecutive rows, as handed up the reduction tree.
struct Partial {
    start: usize,
    stats: Vec<Stats>,
    bad: bool,
}

/// Adds `r` (the right neighbour, starting at or after `l`'s first row and no later than one past
/// its last) into `l`, row by row.
fn merge(mut l: Partial, r: Partial) -> Partial {
    let off = r.start - l.start;
    for (i, s) in r.stats.iter().enumerate() {
        match l.stats.get_mut(off + i) {
            Some(t) => t.add(s),
            None => l.stats.push(*s),
        }
    }
    l.bad |= r.bad;
    l
}

thread_local! {
    /// This thread's rows for the class-major softmax statistics of a block when there is no
    /// gradient buffer to hold them (`C * SOFTMAX_BLOCK` floats at most, kept between calls).
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Gathers the statistics of every row `n * C + c`. The flag says a target was outside `[0, 1]`
/// (and not the ignore value).
///
/// With `cache` (the gradient buffer, `pred`'s length), the SIMD backend on logits also leaves
/// per-element values there for [`grad`] with `cached = true` (see
/// [`kernels::simd::dense_stats_cached`] and [`kernels::simd::softmax_stats_cached`]); the returned
/// `bool` says whether it did. Without it, multiclass logits still take the class-major
/// `softmax_stats_cached`, over a per-thread scratch of `C * SOFTMAX_BLOCK` floats (the same bits
/// as the pixel-major `softmax_stats`, which remains the kernel for probabilities).
pub fn stats(inp: &Inputs<'_>, kp: &KParams, backend: Backend, cache: Option<&mut [f32]>) -> (Vec<Stats>, bool, bool) {
    stats_of(inp, kp, backend, cache, 0..inp.units())
}

/// [`stats`] of the rows covered by the blocks `units` (one image with
/// [`Inputs::units_per_image`]); the statistics start at the first block's first row.
pub fn stats_of(
    inp: &Inputs<'_>,
    kp: &KParams,
    backend: Backend,
    cache: Option<&mut [f32]>,
    units: std::ops::Range<usize>,
) -> (Vec<Stats>, bool, bool) {
    let c = inp.c;
    let level = Level::current();
    let cached = backend == Backend::Simd && kp.from_logits && cache.is_some();
    let cache = cache.filter(|_| cached).map(SharedMut::new);
    let leaf = |k: usize| -> Partial {
        let u = units.start + k;
        if inp.multiclass {
            let (img, lo, len) = inp.softmax_block(u);
            let mut out = vec![Stats::default(); c];
            let mut lbuf = [0i32; SOFTMAX_BLOCK];
            let base = img * c * inp.s + lo;
            let (labels, probs) = match &inp.t {
                Targets::Labels(l, ig) => {
                    l.classes_into(img * inp.s + lo, &mut lbuf[..len], c, *ig);
                    (Some(&lbuf[..len]), None)
                }
                Targets::Probs(p) => (None, Some(&p[base..])),
                Targets::Dense(_) => unreachable!("multiclass targets are labels or probabilities"),
            };
            let b = SoftBlock { z: &inp.x[base..], stride: inp.s, len, classes: c, labels, probs };
            let bad = match (backend, cache) {
                (Backend::Simd, Some(buf)) => {
                    kernels::simd::softmax_stats_cached(level, &b, kp, &mut out, &StridedOut::new(buf, base, inp.s, len))
                }
                // logits without a gradient buffer: the class-major kernel over this thread's
                // scratch rows (the same bits as the pixel-major `softmax_stats`, faster)
                (Backend::Simd, None) if kp.from_logits => SCRATCH.with_borrow_mut(|scratch| {
                    if scratch.len() < c * len {
                        scratch.resize(c * len, 0.0);
                    }
                    let rows = StridedOut::from_slice(&mut scratch[..c * len], len, len);
                    kernels::simd::softmax_stats_cached(level, &b, kp, &mut out, &rows)
                }),
                (Backend::Simd, None) => kernels::simd::softmax_stats(level, &b, kp, &mut out),
                (Backend::Scalar, _) => kernels::scalar::softmax_stats(&b, kp, &mut out),
            };
            Partial { start: img * c, stats: out, bad }
        } else {
            let Targets::Dense(y) = &inp.t else { unreachable!("sigmoid targets are dense") };
            let mut ybuf = Vec::new();
            let mut p = Partial { start: usize::MAX, stats: Vec::new(), bad: false };
            for (r, a, b) in inp.segments(u) {
                if p.start == usize::MAX {
                    p.start = r;
                }
                let yc = dense_chunk(y, a, b, &mut ybuf);
                let (st, bad) = match (backend, cache) {
                    // SAFETY: blocks cover disjoint element ranges.
                    (Backend::Simd, Some(buf)) => {
                        kernels::simd::dense_stats_cached(level, &inp.x[a..b], yc, kp, unsafe { buf.slice(a, b - a) })
                    }
                    (Backend::Simd, None) => kernels::simd::dense_stats(level, &inp.x[a..b], yc, kp),
                    (Backend::Scalar, _) => kernels::scalar::dense_stats(&inp.x[a..b], yc, kp),
                };
                p.stats.push(st);
                p.bad |= bad;
            }
            p
        }
    };
    let all = tree_reduce(units.len(), &leaf, &merge).expect("at least one block");
    (all.stats, all.bad, cached)
}

/// Writes `d loss / d pred` (coefficients per row, upstream folded in) into `grad`; `cached`:
/// `grad` holds what [`stats`] left there.
pub fn grad(inp: &Inputs<'_>, kp: &KParams, coefs: &[Coef], grad: &mut [f32], backend: Backend, cached: bool) {
    grad_of(inp, kp, coefs, grad, backend, cached, 0..inp.units())
}

/// [`grad`] of the blocks `units` only (`coefs` still indexed by absolute row).
pub fn grad_of(
    inp: &Inputs<'_>,
    kp: &KParams,
    coefs: &[Coef],
    grad: &mut [f32],
    backend: Backend,
    cached: bool,
    units: std::ops::Range<usize>,
) {
    let c = inp.c;
    let level = Level::current();
    let out = SharedMut::new(grad);
    par_for(units.len(), &|k| {
        let u = units.start + k;
        if inp.multiclass {
            let (img, lo, len) = inp.softmax_block(u);
            let mut lbuf = [0i32; SOFTMAX_BLOCK];
            let base = img * c * inp.s + lo;
            let (labels, probs) = match &inp.t {
                Targets::Labels(l, ig) => {
                    l.classes_into(img * inp.s + lo, &mut lbuf[..len], c, *ig);
                    (Some(&lbuf[..len]), None)
                }
                Targets::Probs(p) => (None, Some(&p[base..])),
                Targets::Dense(_) => unreachable!("multiclass targets are labels or probabilities"),
            };
            let b = SoftBlock { z: &inp.x[base..], stride: inp.s, len, classes: c, labels, probs };
            let o = StridedOut::new(out, base, inp.s, len);
            let cf = &coefs[img * c..(img + 1) * c];
            match (backend, cached) {
                (Backend::Simd, true) => kernels::simd::softmax_grad_cached(level, &b, kp, cf, &o),
                (Backend::Simd, false) => kernels::simd::softmax_grad(level, &b, kp, cf, &o),
                (Backend::Scalar, _) => kernels::scalar::softmax_grad(&b, kp, cf, &o),
            }
        } else {
            let Targets::Dense(y) = &inp.t else { unreachable!("sigmoid targets are dense") };
            let mut ybuf = Vec::new();
            for (r, a, b) in inp.segments(u) {
                let yc = dense_chunk(y, a, b, &mut ybuf);
                // SAFETY: blocks cover disjoint element ranges.
                let g = unsafe { out.slice(a, b - a) };
                match (backend, cached) {
                    (Backend::Simd, true) => kernels::simd::dense_grad_cached(level, yc, kp, &coefs[r], g),
                    (Backend::Simd, false) => kernels::simd::dense_grad(level, &inp.x[a..b], yc, kp, &coefs[r], g),
                    (Backend::Scalar, _) => kernels::scalar::dense_grad(&inp.x[a..b], yc, kp, &coefs[r], g),
                }
            }
        }
    });
}

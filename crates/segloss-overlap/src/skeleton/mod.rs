//! Soft morphology and the soft skeleton of clDice (Shit et al. 2021), forward and reverse, on one
//! plane (one (image, channel) pair) of 2 or 3 spatial axes. See `docs/LOSSES.md`, section clDice.
//!
//! - `erode(I)`: 2D `min(min3x1(I), min1x3(I))`; 3D `min(min(min3x1x1, min1x3x1), min1x1x3)`.
//! - `dilate(I)`: the maximum over the 3x3 (3x3x3) window, computed separably (last axis first).
//! - `skel(I)`: `s = relu(I - open(I))`; then `iters` times `I <- erode(I)`,
//!   `d = relu(I - open(I))`, `s <- s + relu(d - s d)`; `open = dilate o erode`.
//!
//! Windows are clipped at the border (padding never wins). The reverse pass follows torch's
//! subgradient rules exactly: a max (min) window sends its gradient to the first extreme element
//! in scan order (the smallest flat index; separable passes innermost axis first reproduce the
//! row-major scan of the full window), the elementwise min of the 1D erosions splits it equally
//! among equal arguments (2D 1/2 + 1/2; 3D as `min(min(p1, p2), p3)`: 1/4, 1/4, 1/2), and
//! `relu'(0) = 0`. The winners are recomputed from the stored inputs of each window pass.
//!
//!
//! 2D planes, the common case, run each level of either pass as one sweep over the rows with
//! rings of a few rows (`forward_2d`, `backward_2d`); 3D planes run a sweep per window pass
//! (`forward_nd`, `backward_nd`). Both give the same bits on a 2D plane (a test checks it).
//!
//! Both backends compute the same operations in the same order (window passes select, never
//! round; elementwise steps use no fused multiply-add), so they agree bit for bit; only the sums
//! of [`sums`] accumulate differently (`f32` lanes per chunk vs `f64` per element).
//!
//! The passes themselves (`forward.rs`, `lanes.rs`, `reverse.rs`, `window.rs`, gathered by
//! `level.rs`) are compiled once per SIMD level with the overlap kernels; a [`Skel`] runs them at
//! its `level` (the baseline's copy for the scalar backend).

use crate::kernels::{simd_avx2, simd_avx512, simd_base};
use segloss_core::kernel::Backend;
use segloss_core::simd::Level;

/// The spatial shape of one plane: 2 or 3 axes (`dims[..nd]`, row-major).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grid {
    pub(crate) dims: [usize; 3],
    pub(crate) nd: usize,
}

impl Grid {
    /// The grid of `spatial` (2 or 3 axes; the caller checks).
    pub(crate) fn new(spatial: &[usize]) -> Grid {
        let mut dims = [1; 3];
        dims[..spatial.len()].copy_from_slice(spatial);
        Grid { dims, nd: spatial.len() }
    }

    /// Pixels of the plane.
    pub(crate) fn len(&self) -> usize {
        self.dims[..self.nd].iter().product()
    }

    /// `(outer, len, inner)` of axis `a`: element `(o, i, j)` is at `(o * len + i) * inner + j`.
    pub(crate) fn axis(&self, a: usize) -> (usize, usize, usize) {
        let d = &self.dims[..self.nd];
        (d[..a].iter().product(), d[a], d[a + 1..].iter().product())
    }
}

/// Buffers of one skeleton evaluation, reused across planes and calls.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// The erosion chain `I_0 .. I_{iters+1}` (two planes when nothing is recorded).
    pub(crate) i: Vec<Vec<f32>>,
    /// The openings `O_k = dilate(I_{k+1})`.
    pub(crate) o: Vec<Vec<f32>>,
    /// The skeletons `s_0 .. s_iters`.
    pub(crate) s: Vec<Vec<f32>>,
    /// Temporaries of the window passes and of the reverse pass.
    pub(crate) t: Vec<Vec<f32>>,
    /// The gradients of the reverse pass.
    pub(crate) b: Vec<Vec<f32>>,
    /// Lines of the last axis: the reverse pass of a line (3), the 2D rings (3 forward, 11 reverse).
    pub(crate) line: Vec<f32>,
}

/// At least `count` planes of `len` elements in `v`. Their old values stay (the strips of a
/// plane differ in length, and zeroing every plane at each change costs a sweep): every pass
/// writes each element of a plane before it reads it.
pub(crate) fn ensure(v: &mut Vec<Vec<f32>>, count: usize, len: usize) {
    if v.len() < count {
        v.resize_with(count, Vec::new);
    }
    for p in v.iter_mut().take(count) {
        p.resize(len, 0.0);
    }
}

/// Two distinct planes of `v`, the first mutable.
pub(crate) fn pair_mut(v: &mut [Vec<f32>], a: usize, b: usize) -> (&mut [f32], &[f32]) {
    assert_ne!(a, b);
    if a < b {
        let (x, y) = v.split_at_mut(b);
        (&mut x[a], &y[0])
    } else {
        let (x, y) = v.split_at_mut(a);
        (&mut y[0], &x[b])
    }
}

/// `sum a b` (and `sum a`) in `f64`: per element in `f64` (scalar backend), or `f32` lanes over
/// chunks of 32 elements added in `f64` (SIMD backend, at `level`).
pub(crate) fn sums(be: Backend, level: Level, a: &[f32], b: &[f32]) -> (f64, f64) {
    let level = if be == Backend::Simd { level } else { Level::Baseline };
    segloss_core::simd_dispatch!(level, skeleton::sums(be, a, b))
}

// ---------------------------------------------------------------------------------------------
// the skeleton

/// The soft skeleton of planes of one grid, with `iters` iterations, on a backend (the SIMD one
/// at a level).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Skel {
    pub(crate) grid: Grid,
    pub(crate) iters: usize,
    pub(crate) be: Backend,
    pub(crate) level: Level,
}

impl Skel {
    /// `skel(x)`, left in `sc` and returned. With `record`, every plane the reverse pass needs
    /// is kept (`iters + 2` erosions and `iters + 1` skeletons; in 3D also `iters + 1` openings);
    /// without, two erosions and one skeleton plane are reused.
    pub(crate) fn forward<'s>(&self, x: &[f32], sc: &'s mut Scratch, record: bool) -> &'s [f32] {
        segloss_core::simd_dispatch!(self.run_level(), skeleton::forward(self, x, sc, record))
    }

    /// `gin = sum_y gs(y) d skel(x)(y) / d x` for the `x` of the last recorded [`Skel::forward`]
    /// (`gs` is overwritten), by torch's subgradient rules.
    pub(crate) fn backward(&self, sc: &mut Scratch, gs: &mut [f32], gin: &mut [f32]) {
        segloss_core::simd_dispatch!(self.run_level(), skeleton::backward(self, sc, gs, gin))
    }

    /// The level whose copy of the passes runs: `level` for the SIMD backend, the baseline's for
    /// the scalar one (whose element loops are the same in every copy).
    fn run_level(&self) -> Level {
        if self.be == Backend::Simd {
            self.level
        } else {
            Level::Baseline
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use segloss_core::kernel::Backend;
    use segloss_core::rng::Rng;
    use segloss_core::simd::Level;

    /// Values with many ties (exact 0, 1 and a repeated 0.5) among distinct ones.
    fn plane(r: &mut Rng, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| match r.below(5) {
                0 => 0.0,
                1 => 1.0,
                2 => 0.5,
                _ => r.next_f32(),
            })
            .collect()
    }

    /// The fused 2D passes give the bits of the per-pass ones, every border case included, at
    /// every SIMD level this CPU runs.
    #[test]
    fn fused_2d_passes_match_the_per_pass_ones_bit_for_bit() {
        let mut r = Rng::new(11);
        let mut nonzero = 0;
        for (rows, w) in [(1, 1), (1, 10), (6, 1), (2, 2), (3, 9), (7, 13), (9, 17), (16, 33), (5, 40)] {
            for iters in 0..4 {
                for be in [Backend::Simd, Backend::Scalar] {
                    let x = plane(&mut r, rows * w);
                    let g0: Vec<f32> = (0..rows * w).map(|_| r.uniform(-1.0, 1.0)).collect();
                    let levels: Vec<Level> = if be == Backend::Simd { Level::supported_levels().collect() } else { vec![Level::Baseline] };
                    for level in levels {
                        let sk = Skel { grid: Grid::new(&[rows, w]), iters, be, level };
                        let out = segloss_core::simd_dispatch!(level, skeleton::fused_vs_per_pass(&sk, &x, &g0));
                        for (k, (fa, fb)) in out[..2].iter().enumerate() {
                            assert_eq!(bits(fa), bits(fb), "forward {rows}x{w} iters {iters} {be:?} {level:?} record {}", k == 1);
                        }
                        let (ia, ib) = &out[2];
                        assert_eq!(bits(ia), bits(ib), "reverse {rows}x{w} iters {iters} {be:?} {level:?}");
                        nonzero += ia.iter().filter(|&&v| v != 0.0).count();
                    }
                }
            }
        }
        assert!(nonzero > 1000, "{nonzero} nonzero gradient elements: too few to test the routing");
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }
}

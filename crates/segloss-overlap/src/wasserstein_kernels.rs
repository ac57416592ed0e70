//! The kernels of `wasserstein_dice`, twice with the same signatures: [`scalar`] (one pixel at a
//! time, every sum in `f64`, written from the formulas) and [`simd`] (8 pixels per `f32x8` lane
//! group, compiled once per SIMD level and run at the level given).
//!
//! A block is up to [`BLOCK_PIX`] pixels of one image across all C channels (class `c` of pixel
//! `j` at `c * stride + j`). With `M` the normalised distance matrix (row-major, row = true class)
//! and `a` the class weights of the image:
//!
//! - the **statistics pass** returns `[A, B, W]`, the block's sums of `a_y`, `a_y W(x)` and `W(x)`
//!   with `W(x) = sum_c M[y, c] p_c(x)` (labels), or for class probabilities `q` their
//!   expectations `sum_y q_y a_y`, `sum_y q_y a_y W_y(x)`, `sum_y q_y W_y(x)` with
//!   `W_y(x) = sum_c M[y, c] p_c(x)`;
//! - the **gradient pass** writes `dz_c = p_c (g_c - sum_k p_k g_k)` (softmax Jacobian; `g_c` alone
//!   for probabilities) with `g_c(x) = Gm[y, c]`, or `sum_y q_y(x) Gm[y, c]` for class
//!   probabilities, where `Gm` (the upstream gradient, normalisation and weights folded in) comes
//!   from the statistics.
//!
//! The SIMD statistics pass can leave the softmax probabilities in the gradient rows (`cache`),
//! which the gradient pass then reads instead of recomputing the exponentials. Sums accumulate in
//! `f32x8` lanes over one block and are handed back in `f64`. Padded lanes of the last vector are
//! masked out of every sum and never stored.

use segloss_core::kernel::StridedOut;

/// Pixels per block.
pub const BLOCK_PIX: usize = 1024;

/// One block: `len` pixels of one image.
#[derive(Clone, Copy)]
pub struct Block<'a> {
    /// Logits (or probabilities), from the block's first pixel of class 0.
    pub z: &'a [f32],
    /// Distance between classes.
    pub stride: usize,
    /// Number of pixels.
    pub len: usize,
    /// Number of classes C.
    pub classes: usize,
    /// Class index per pixel, when targets are labels.
    pub labels: Option<&'a [i32]>,
    /// Class probabilities (same layout as `z`), when targets are soft.
    pub probs: Option<&'a [f32]>,
}

pub mod scalar {
    //! One pixel at a time, in `f64`.
    use super::*;

    /// The softmax (or the identity) of pixel `j`, in `f64`.
    pub fn probs(b: &Block<'_>, j: usize, from_logits: bool, p: &mut [f64]) {
        let cc = b.classes;
        for (c, pc) in p.iter_mut().enumerate().take(cc) {
            *pc = b.z[c * b.stride + j] as f64;
        }
        if from_logits {
            let mx = p[..cc].iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
            let mut sum = 0.0;
            for pc in p.iter_mut().take(cc) {
                *pc = (*pc - mx).exp();
                sum += *pc;
            }
            for pc in p.iter_mut().take(cc) {
                *pc /= sum;
            }
        }
    }

    /// `[A, B, W]` of one block (see the [module docs](super)).
    pub fn stats(b: &Block<'_>, m: &[f64], a: &[f64], from_logits: bool) -> [f64; 3] {
        let cc = b.classes;
        let mut p = vec![0.0; cc];
        let mut out = [0.0; 3];
        for j in 0..b.len {
            probs(b, j, from_logits, &mut p);
            let w_of = |y: usize| -> f64 { (0..cc).map(|c| m[y * cc + c] * p[c]).sum() };
            match (b.labels, b.probs) {
                (Some(l), _) => {
                    let y = l[j] as usize;
                    let w = w_of(y);
                    out[0] += a[y];
                    out[1] += a[y] * w;
                    out[2] += w;
                }
                (None, Some(q)) => {
                    for y in 0..cc {
                        let qy = q[y * b.stride + j] as f64;
                        let w = w_of(y);
                        out[0] += qy * a[y];
                        out[1] += qy * a[y] * w;
                        out[2] += qy * w;
                    }
                }
                (None, None) => unreachable!("labels or class probabilities"),
            }
        }
        out
    }

    /// The gradient of one block into `out` (see the [module docs](super)).
    pub fn grad(b: &Block<'_>, gm: &[f64], from_logits: bool, out: &StridedOut<'_>) {
        let cc = b.classes;
        // SAFETY: the C rows of this block are distinct ranges no other block touches.
        let mut rows: Vec<&mut [f32]> = (0..cc).map(|c| unsafe { out.row(c) }).collect();
        let mut p = vec![0.0; cc];
        let mut g = vec![0.0; cc];
        for j in 0..b.len {
            probs(b, j, from_logits, &mut p);
            for (c, gc) in g.iter_mut().enumerate() {
                *gc = match (b.labels, b.probs) {
                    (Some(l), _) => gm[l[j] as usize * cc + c],
                    (None, Some(q)) => (0..cc).map(|y| q[y * b.stride + j] as f64 * gm[y * cc + c]).sum(),
                    (None, None) => unreachable!("labels or class probabilities"),
                };
            }
            let dot: f64 = if from_logits { (0..cc).map(|c| p[c] * g[c]).sum() } else { 0.0 };
            for (c, row) in rows.iter_mut().enumerate() {
                row[j] = if from_logits { p[c] * (g[c] - dot) } else { g[c] } as f32;
            }
        }
    }
}

pub mod simd {
    //! The SIMD kernels at a given level, 8 pixels per `f32x8` lane group (`wasserstein_simd.rs`,
    //! compiled once per level with the overlap kernels): each call runs the copy compiled for
    //! `level`, or the baseline's where this CPU cannot run that level.
    use super::Block;
    use crate::kernels::{simd_avx2, simd_avx512, simd_base};
    use segloss_core::kernel::StridedOut;
    use segloss_core::simd::{Level, LANES};

    /// A `rows x C` table (row-major, row = label) for per-lane lookups `tab[y_k, c]`, with the
    /// register form the permute lookups read: for column `c` and chunk `i`, the lanes
    /// `tab[8 i + l, c]` (0 past the last row).
    pub struct Table<'a> {
        pub(crate) tab: &'a [f32],
        pub(crate) cols: usize,
        // read by the permute lookups (x86_64) only
        #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
        pub(crate) chunks: usize,
        #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
        pub(crate) regs: Vec<[f32; LANES]>,
    }

    /// Tables up to this many rows use the permute path (beyond it the scalar lookups are as cheap).
    pub(crate) const PERMUTE_ROWS: usize = 32;

    impl<'a> Table<'a> {
        /// The table `tab` of `rows x cols` entries.
        pub fn new(tab: &'a [f32], rows: usize, cols: usize) -> Self {
            let chunks = rows.div_ceil(LANES);
            let mut regs = Vec::new();
            if rows <= PERMUTE_ROWS {
                for c in 0..cols {
                    for i in 0..chunks {
                        regs.push(std::array::from_fn(|l| if i * LANES + l < rows { tab[(i * LANES + l) * cols + c] } else { 0.0 }));
                    }
                }
            }
            Table { tab, cols, chunks, regs }
        }
    }

    /// `[A, B, W]` of one block at `level`; with `cache` (logits only) the probabilities are also
    /// written into the gradient rows for [`grad_cached`].
    pub fn stats(level: Level, b: &Block<'_>, m: &Table<'_>, a: &Table<'_>, from_logits: bool, cache: Option<&StridedOut<'_>>) -> [f64; 3] {
        segloss_core::simd_dispatch!(level, wasserstein::stats(b, m, a, from_logits, cache))
    }

    /// The gradient of one block into `out` at `level`, recomputing the probabilities.
    pub fn grad(level: Level, b: &Block<'_>, gm: &Table<'_>, from_logits: bool, out: &StridedOut<'_>) {
        segloss_core::simd_dispatch!(level, wasserstein::grad(b, gm, from_logits, out))
    }

    /// The gradient of one block at `level` from the probabilities [`stats`] left in `out`
    /// (logits only).
    pub fn grad_cached(level: Level, b: &Block<'_>, gm: &Table<'_>, out: &StridedOut<'_>) {
        segloss_core::simd_dispatch!(level, wasserstein::grad_cached(b, gm, out))
    }
}

#[cfg(test)]
mod tests {
    use super::simd::{self, Table};
    use super::Block;
    use segloss_core::kernel::StridedOut;
    use segloss_core::reduce::SharedMut;
    use segloss_core::rng::Rng;
    use segloss_core::simd::Level;

    /// The class-major kernels of logits with labels give the pixel-major bits at every level:
    /// the statistics' `W` sums against the pixel-major loop run on the probabilities the
    /// class-major pass cached, and the gradient from that cache against the pixel-major gradient
    /// that recomputes the probabilities. Blocks with full and partial sub-blocks, runs of equal
    /// labels (one broadcast per lookup) and logits that underflow.
    #[test]
    fn class_major_kernels_give_the_pixel_major_bits() {
        let mut r = Rng::new(21);
        for level in Level::supported_levels() {
            for (classes, len) in [(3usize, 255usize), (2, 256), (21, 1024), (9, 300), (5, 1), (33, 130)] {
                let stride = len + 5;
                let z: Vec<f32> = (0..classes * stride).map(|_| r.uniform(-40.0, 40.0)).collect();
                let labels: Vec<i32> =
                    (0..len).map(|j| if (j / 16) % 3 == 1 { 1 % classes as i32 } else { (r.next_u64() % classes as u64) as i32 }).collect();
                let table = |rows: usize, cols: usize, r: &mut Rng| (0..rows * cols).map(|_| r.next_f32()).collect::<Vec<f32>>();
                let (mt, at, gt) = (table(classes, classes, &mut r), table(classes, 1, &mut r), table(classes, classes, &mut r));
                let (m, a, g) = (Table::new(&mt, classes, classes), Table::new(&at, classes, 1), Table::new(&gt, classes, classes));
                let what = format!("{level:?} C={classes} len={len}");
                let b = Block { z: &z, stride, len, classes, labels: Some(&labels), probs: None };
                let mut g1 = vec![f32::NAN; classes * stride];
                let s1 = simd::stats(level, &b, &m, &a, true, Some(&StridedOut::new(SharedMut::new(&mut g1), 0, stride, len)));
                let p = g1.clone();
                let pb = Block { z: &p, stride, len, classes, labels: Some(&labels), probs: None };
                let s2 = simd::stats(level, &pb, &m, &a, false, None);
                assert_eq!(s1.map(f64::to_bits), s2.map(f64::to_bits), "{what}: statistics");
                simd::grad_cached(level, &b, &g, &StridedOut::new(SharedMut::new(&mut g1), 0, stride, len));
                let mut g2 = vec![f32::NAN; classes * stride];
                simd::grad(level, &b, &g, true, &StridedOut::new(SharedMut::new(&mut g2), 0, stride, len));
                for (i, (x, y)) in g1.iter().zip(&g2).enumerate() {
                    assert!(x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()), "{what}: gradient element {i}: {x} vs {y}");
                }
            }
        }
    }
}

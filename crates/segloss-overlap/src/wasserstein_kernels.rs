//! The kernels of `wasserstein_dice`, twice with the same signatures: [`scalar`] (one pixel at a
//! time, every sum in `f64`, written from the formulas) and [`simd`] (8 pixels per `f32x8` lane
//! group).
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
    //! 8 pixels per `f32x8` lane group.
    use super::*;
    use crate::kernels::simd_base::body::{ld, probs_lanes, store_lanes as st};
    use segloss_core::simd::{f32x8, first_lanes, lanes_sum_f64, load, load_padded, LANES};

    /// A `rows x C` table (row-major, row = label) for per-lane lookups `tab[y_k, c]`, with the
    /// register form the AVX2 path permutes: for column `c` and chunk `i`, the lanes
    /// `tab[8 i + l, c]` (0 past the last row).
    pub struct Table<'a> {
        tab: &'a [f32],
        cols: usize,
        // read by the AVX2 lookups only
        #[cfg_attr(not(all(target_arch = "x86_64", target_feature = "avx2")), allow(dead_code))]
        chunks: usize,
        #[cfg_attr(not(all(target_arch = "x86_64", target_feature = "avx2")), allow(dead_code))]
        regs: Vec<f32x8>,
    }

    /// Tables up to this many rows use the permute path (beyond it the scalar lookups are as cheap).
    const PERMUTE_ROWS: usize = 32;

    impl<'a> Table<'a> {
        /// The table `tab` of `rows x cols` entries.
        pub fn new(tab: &'a [f32], rows: usize, cols: usize) -> Self {
            let chunks = rows.div_ceil(LANES);
            let mut regs = Vec::new();
            if rows <= PERMUTE_ROWS {
                for c in 0..cols {
                    for i in 0..chunks {
                        regs.push(f32x8::new(std::array::from_fn(|l| {
                            if i * LANES + l < rows {
                                tab[(i * LANES + l) * cols + c]
                            } else {
                                0.0
                            }
                        })));
                    }
                }
            }
            Table { tab, cols, chunks, regs }
        }

        /// `tab[y_k, c]` for the 8 labels of `y`.
        #[inline(always)]
        pub fn pick(&self, y: &Labels8, c: usize) -> f32x8 {
            if y.same {
                return f32x8::splat(self.tab[y.y[0] as usize * self.cols + c]);
            }
            #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
            if !self.regs.is_empty() {
                let r = &self.regs[c * self.chunks..(c + 1) * self.chunks];
                let mut v = permute(r[0], y.idx);
                for (i, ri) in r.iter().enumerate().skip(1) {
                    v = y.from[i - 1].select(permute(*ri, y.idx), v);
                }
                return v;
            }
            f32x8::new(std::array::from_fn(|k| self.tab[y.y[k] as usize * self.cols + c]))
        }
    }

    /// `t[idx_k & 7]` per lane (`vpermps`).
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
    #[inline(always)]
    fn permute(t: f32x8, idx: std::arch::x86_64::__m256i) -> f32x8 {
        use std::arch::x86_64::{__m256, _mm256_permutevar8x32_ps};
        // SAFETY: `f32x8` and `__m256` are both 32 bytes holding 8 f32 lanes in order, and AVX2 is
        // enabled for this build (the cfg above).
        unsafe { std::mem::transmute::<__m256, f32x8>(_mm256_permutevar8x32_ps(std::mem::transmute::<f32x8, __m256>(t), idx)) }
    }

    /// The labels of 8 pixels (padding repeats the first) and what the lookups need.
    pub struct Labels8 {
        y: [i32; LANES],
        /// All lanes hold the same label: every lookup is one broadcast.
        same: bool,
        #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
        idx: std::arch::x86_64::__m256i,
        /// Lane masks `y >= 8 (i + 1)`.
        #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
        from: [f32x8; PERMUTE_ROWS / LANES - 1],
    }

    impl Labels8 {
        #[inline(always)]
        fn new(l: &[i32], j: usize, lanes: usize) -> Self {
            let mut y = [l[j]; LANES];
            y[..lanes].copy_from_slice(&l[j..j + lanes]);
            let same = y.iter().all(|&v| v == y[0]);
            #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
            {
                let yv = wide::i32x8::new(y);
                let from =
                    std::array::from_fn(|i| f32x8::from_bits(yv.simd_gt(wide::i32x8::splat(((i + 1) * LANES) as i32 - 1)).cast_unsigned()));
                // SAFETY: `i32x8` and `__m256i` are both 32 bytes holding 8 i32 lanes in order.
                let idx = unsafe { std::mem::transmute::<wide::i32x8, std::arch::x86_64::__m256i>(yv) };
                Labels8 { y, same, idx, from }
            }
            #[cfg(not(all(target_arch = "x86_64", target_feature = "avx2")))]
            Labels8 { y, same }
        }
    }

    /// `[A, B, W]` of one block; with `cache` (logits only) the probabilities are also written
    /// into the gradient rows for [`grad_cached`].
    pub fn stats(b: &Block<'_>, m: &Table<'_>, a: &Table<'_>, from_logits: bool, cache: Option<&StridedOut<'_>>) -> [f64; 3] {
        let cc = b.classes;
        // SAFETY: the C rows of this block are distinct ranges no other block touches.
        let mut rows: Vec<&mut [f32]> = cache.map_or_else(Vec::new, |o| (0..cc).map(|c| unsafe { o.row(c) }).collect());
        let mut p = vec![f32x8::ZERO; cc];
        let (mut acc_a, mut acc_b, mut acc_w) = (f32x8::ZERO, f32x8::ZERO, f32x8::ZERO);
        let mut j = 0;
        while j < b.len {
            let lanes = (b.len - j).min(LANES);
            probs_lanes(b.z, b.stride, b.classes, j, lanes, from_logits, &mut p);
            for (row, pc) in rows.iter_mut().zip(&p) {
                st(row, j, lanes, *pc);
            }
            match (b.labels, b.probs) {
                (Some(l), _) => {
                    let y = Labels8::new(l, j, lanes);
                    let mut w = f32x8::ZERO;
                    for (c, pc) in p.iter().enumerate() {
                        w = m.pick(&y, c).mul_add(*pc, w);
                    }
                    let av = a.pick(&y, 0);
                    let valid = first_lanes(lanes);
                    let (w, av) = (valid.select(w, f32x8::ZERO), valid.select(av, f32x8::ZERO));
                    acc_a += av;
                    acc_b = av.mul_add(w, acc_b);
                    acc_w += w;
                }
                (None, Some(q)) => {
                    // padded lanes load q = 0 and add nothing
                    for y in 0..cc {
                        let mut wy = f32x8::ZERO;
                        for (c, pc) in p.iter().enumerate() {
                            wy = f32x8::splat(m.tab[y * cc + c]).mul_add(*pc, wy);
                        }
                        let qy = ld(q, b.stride, y, j, lanes);
                        let t = qy * wy;
                        let ay = f32x8::splat(a.tab[y]);
                        acc_a = ay.mul_add(qy, acc_a);
                        acc_b = ay.mul_add(t, acc_b);
                        acc_w += t;
                    }
                }
                (None, None) => unreachable!("labels or class probabilities"),
            }
            j += LANES;
        }
        [lanes_sum_f64(acc_a), lanes_sum_f64(acc_b), lanes_sum_f64(acc_w)]
    }

    /// The gradient of one block into `out`, recomputing the probabilities.
    pub fn grad(b: &Block<'_>, gm: &Table<'_>, from_logits: bool, out: &StridedOut<'_>) {
        grad_g::<false>(b, gm, from_logits, out)
    }

    /// The gradient of one block from the probabilities [`stats`] left in `out` (logits only).
    pub fn grad_cached(b: &Block<'_>, gm: &Table<'_>, out: &StridedOut<'_>) {
        grad_g::<true>(b, gm, true, out)
    }

    fn grad_g<const CACHED: bool>(b: &Block<'_>, gm: &Table<'_>, from_logits: bool, out: &StridedOut<'_>) {
        let cc = b.classes;
        // SAFETY: the C rows of this block are distinct ranges no other block touches.
        let mut rows: Vec<&mut [f32]> = (0..cc).map(|c| unsafe { out.row(c) }).collect();
        let mut p = vec![f32x8::ZERO; cc];
        let mut g = vec![f32x8::ZERO; cc];
        let mut q = vec![f32x8::ZERO; cc];
        let mut j = 0;
        while j < b.len {
            let lanes = (b.len - j).min(LANES);
            if CACHED {
                for (pc, row) in p.iter_mut().zip(&rows) {
                    *pc = if lanes == LANES { load(&row[j..]) } else { load_padded(&row[j..j + lanes], 0.0) };
                }
            } else {
                probs_lanes(b.z, b.stride, b.classes, j, lanes, from_logits, &mut p);
            }
            match (b.labels, b.probs) {
                (Some(l), _) => {
                    let y = Labels8::new(l, j, lanes);
                    for (c, gc) in g.iter_mut().enumerate() {
                        *gc = gm.pick(&y, c);
                    }
                }
                (None, Some(qs)) => {
                    for (y, qy) in q.iter_mut().enumerate() {
                        *qy = ld(qs, b.stride, y, j, lanes);
                    }
                    for (c, gc) in g.iter_mut().enumerate() {
                        let mut s = f32x8::ZERO;
                        for (y, qy) in q.iter().enumerate() {
                            s = f32x8::splat(gm.tab[y * cc + c]).mul_add(*qy, s);
                        }
                        *gc = s;
                    }
                }
                (None, None) => unreachable!("labels or class probabilities"),
            }
            if from_logits {
                let mut dot = f32x8::ZERO;
                for (pc, gc) in p.iter().zip(&g) {
                    dot = pc.mul_add(*gc, dot);
                }
                for ((row, pc), gc) in rows.iter_mut().zip(&p).zip(&g) {
                    st(row, j, lanes, pc.mul_neg_add(dot, *pc * *gc));
                }
            } else {
                for (row, gc) in rows.iter_mut().zip(&g) {
                    st(row, j, lanes, *gc);
                }
            }
            j += LANES;
        }
    }
}

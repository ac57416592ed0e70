//! The SIMD kernels of `wasserstein_dice` (see `crate::wasserstein_kernels`), 8 pixels per
//! `f32x8` lane group, compiled once per level with the overlap kernels (`kernels/simd_base.rs`,
//! `kernels/simd_avx2.rs`): `stats`, `grad`, `grad_cached` and `grad_g` through the level's
//! `level_fn!`, the helpers `#[inline(always)]` without closures.
//!
//! The label lookups `tab[y_k, c]` of small tables permute registers (`vpermps`) where this
//! level's lanes are AVX2 registers (`lanes::AVX2`: the AVX2 level, and the baseline of a build
//! with AVX2), and read the table per lane otherwise.

use super::body::{ld, probs_lanes, row_ld, store_lanes as st, SUB, SUBV};
use super::lanes::{exp_nonpos, f32x8, first_lanes, i32x8, lanes_sum_f64, load, load_padded, AVX2};
use crate::wasserstein_kernels::simd::{Table, PERMUTE_ROWS};
use crate::wasserstein_kernels::Block;
use segloss_core::kernel::StridedOut;
use segloss_core::simd::LANES;

/// `tab[y_k, c]` for the 8 labels of `y`.
#[inline(always)]
fn pick(t: &Table<'_>, y: &Labels8, c: usize) -> f32x8 {
    if y.same {
        return f32x8::splat(t.tab[y.y[0] as usize * t.cols + c]);
    }
    #[cfg(target_arch = "x86_64")]
    if AVX2 && !t.regs.is_empty() {
        let r = &t.regs[c * t.chunks..(c + 1) * t.chunks];
        let mut v = permute(f32x8::new(r[0]), y.idx);
        for (i, ri) in r.iter().enumerate().skip(1) {
            v = y.from[i - 1].select(permute(f32x8::new(*ri), y.idx), v);
        }
        return v;
    }
    let mut a = [0.0f32; LANES];
    for (k, v) in a.iter_mut().enumerate() {
        *v = t.tab[y.y[k] as usize * t.cols + c];
    }
    f32x8::new(a)
}

/// `t[idx_k & 7]` per lane (`vpermps`); called only where `AVX2`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn permute(t: f32x8, idx: i32x8) -> f32x8 {
    use std::arch::x86_64::{__m256, __m256i, _mm256_permutevar8x32_ps};
    use std::mem::transmute;
    // SAFETY: called only where `AVX2`: this level's `f32x8` and `i32x8` are 32-byte AVX2
    // registers (`__m256`, `__m256i`: 8 lanes in order) and the code runs with AVX2 enabled (the
    // build's target features at the baseline, `#[target_feature]` at the AVX2 level).
    unsafe { transmute::<__m256, f32x8>(_mm256_permutevar8x32_ps(transmute::<f32x8, __m256>(t), transmute::<i32x8, __m256i>(idx))) }
}

/// The labels of 8 pixels (padding repeats the first) and what the lookups need.
#[derive(Clone, Copy)]
struct Labels8 {
    y: [i32; LANES],
    /// All lanes hold the same label: every lookup is one broadcast.
    same: bool,
    /// The labels as lanes (the permute's indices; read only where `AVX2`).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    idx: i32x8,
    /// Lane masks `y >= 8 (i + 1)` (only where `AVX2`).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    from: [f32x8; PERMUTE_ROWS / LANES - 1],
}

impl Labels8 {
    #[inline(always)]
    fn new(l: &[i32], j: usize, lanes: usize) -> Self {
        // a full vector as one fixed-size copy (a copy of `lanes` values is a `memcpy` call)
        let y: [i32; LANES] = match l[j..].first_chunk::<LANES>() {
            Some(full) if lanes == LANES => *full,
            _ => std::array::from_fn(|k| if k < lanes { l[j + k] } else { l[j] }),
        };
        let same = y.iter().all(|&v| v == y[0]);
        let idx = i32x8::new(y);
        let mut from = [f32x8::ZERO; PERMUTE_ROWS / LANES - 1];
        if AVX2 && !same {
            // labels are small integers: exact in f32, and the f32 comparison gives the same masks
            let yf = f32x8::from_i32x8(idx);
            for (i, f) in from.iter_mut().enumerate() {
                *f = yf.simd_gt(f32x8::splat(((i + 1) * LANES) as f32 - 1.0));
            }
        }
        Labels8 { y, same, idx, from }
    }
}

super::level_fn! {
    /// `[A, B, W]` of one block; with `cache` (logits only) the probabilities are also written
    /// into the gradient rows for [`grad_cached`].
    pub(crate) fn stats(b: &Block<'_>, m: &Table<'_>, a: &Table<'_>, from_logits: bool, cache: Option<&StridedOut<'_>>) -> [f64; 3] {
        let cc = b.classes;
        // SAFETY: the C rows of this block are distinct ranges no other block touches.
        let mut rows: Vec<&mut [f32]> = cache.map_or_else(Vec::new, |o| (0..cc).map(|c| unsafe { o.row(c) }).collect());
        if let (true, Some(l)) = (from_logits, b.labels) {
            let acc = stats_labels_cm(b, m, a, l, &mut rows);
            return acc.map(lanes_sum_f64);
        }
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
                        w = pick(m, &y, c).mul_add(*pc, w);
                    }
                    let av = pick(a, &y, 0);
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
}

super::level_fn! {
    /// The gradient of one block into `out`, recomputing the probabilities.
    pub(crate) fn grad(b: &Block<'_>, gm: &Table<'_>, from_logits: bool, out: &StridedOut<'_>) {
        grad_g::<false>(b, gm, from_logits, out)
    }
}

super::level_fn! {
    /// The gradient of one block from the probabilities [`stats`] left in `out` (logits only).
    pub(crate) fn grad_cached(b: &Block<'_>, gm: &Table<'_>, out: &StridedOut<'_>) {
        match b.labels {
            Some(l) => grad_labels_cm(b, gm, l, out),
            None => grad_g::<true>(b, gm, true, out),
        }
    }
}

super::level_fn! {
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
                        *gc = pick(gm, &y, c);
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

/// Lanes of vector `v` of a sub-block of `len` pixels.
#[inline(always)]
fn lanes_of(len: usize, v: usize) -> usize {
    (len - v * LANES).min(LANES)
}

/// The labels of the vectors of a sub-block of `len` pixels at `j0` (vectors past the end repeat
/// the first one; they are never read). A plain loop: in a closure (`std::array::from_fn`) the
/// level's target features are lost and the lane comparisons become calls.
#[inline(always)]
fn sub_labels(l: &[i32], j0: usize, len: usize) -> [Labels8; SUBV] {
    let mut ys = [Labels8::new(l, j0, lanes_of(len, 0)); SUBV];
    for (v, y) in ys.iter_mut().enumerate().take(len.div_ceil(LANES)).skip(1) {
        *y = Labels8::new(l, j0 + v * LANES, lanes_of(len, v));
    }
    ys
}

/// [`stats`] for logits with labels, class-major: per sub-block of [`SUB`] pixels, one pass over
/// the class rows for the max, one for the exponentials (kept in `e`) and their sum, and one that
/// forms each probability, writes it into the cache rows (when given) and adds `M[y, c] p_c` to
/// the pixel's `W`. The same operations in the same order per pixel as the pixel-major loop, so
/// the same bits (test `class_major_kernels_give_the_pixel_major_bits`). Returns the lane sums
/// `[A, B, W]`.
#[inline(always)]
fn stats_labels_cm(b: &Block<'_>, m: &Table<'_>, a: &Table<'_>, l: &[i32], rows: &mut [&mut [f32]]) -> [f32x8; 3] {
    let mut e = vec![f32x8::ZERO; b.classes * SUBV];
    let mut acc = [f32x8::ZERO; 3];
    let mut j0 = 0;
    while j0 < b.len {
        let len = SUB.min(b.len - j0);
        // full sub-blocks (all but a block's last) get the loops with constant bounds
        if len == SUB {
            stats_sub::<true>(b, m, a, l, rows, &mut e, j0, len, &mut acc);
        } else {
            stats_sub::<false>(b, m, a, l, rows, &mut e, j0, len, &mut acc);
        }
        j0 += len;
    }
    acc
}

super::avx512_only! {
    /// The max and exponential passes of a full sub-block of [`stats_sub`] at the AVX-512 level,
    /// 16 pixels per 512-bit register (half the instructions): the exponentials into `e` and their
    /// sums into `sum`, as 8-lane halves. Every step is per lane, with the 8-lane passes'
    /// operations in their order (the level's 16-lane `max_rows` and `exp_nonpos`,
    /// `segloss_core::avx512_wide!`), so the same bits (test
    /// `class_major_kernels_give_the_pixel_major_bits`). W2 `wasserstein_dice` 5.0 -> 4.4 ms
    /// (interleaved, 5 rounds).
    #[inline(always)]
    #[allow(clippy::needless_range_loop)]
    fn max_exp_x16(z: &[f32], stride: usize, cc: usize, j0: usize, e: &mut [f32x8], sum: &mut [f32x8; SUBV]) {
        use super::wide16::{exp_nonpos, load, max_rows, split, splat, W};
        use core::arch::x86_64::{_mm512_add_ps, _mm512_sub_ps, __m512};
        // SAFETY (the `unsafe` blocks): the intrinsics need AVX-512 F, which this level's
        // functions, the only callers, have.
        const V: usize = SUB / W;
        let mx: [__m512; V] = max_rows(z, stride, j0, cc);
        let mut s = [splat(0.0); V];
        for (c, ec) in e.chunks_exact_mut(SUBV).enumerate().take(cc) {
            let zc = &z[c * stride + j0..c * stride + j0 + SUB];
            for v in 0..V {
                let x = exp_nonpos(unsafe { _mm512_sub_ps(load(zc, v * W), mx[v]) });
                (ec[2 * v], ec[2 * v + 1]) = split(x);
                s[v] = unsafe { _mm512_add_ps(s[v], x) };
            }
        }
        for v in 0..V {
            (sum[2 * v], sum[2 * v + 1]) = split(s[v]);
        }
    }
}

/// One sub-block of [`stats_labels_cm`]: `len` pixels at `j0` (`SUB` of them when `FULL`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn stats_sub<const FULL: bool>(
    b: &Block<'_>,
    m: &Table<'_>,
    a: &Table<'_>,
    l: &[i32],
    rows: &mut [&mut [f32]],
    e: &mut [f32x8],
    j0: usize,
    len: usize,
    acc: &mut [f32x8; 3],
) {
    let len = if FULL { SUB } else { len };
    let nv = len.div_ceil(LANES);
    let (z, stride, cc) = (b.z, b.stride, b.classes);
    let mut sum = [f32x8::ZERO; SUBV];
    // (at the other levels it stays `false`)
    #[allow(unused_mut, unused_assignments)]
    let mut wide = false;
    super::avx512_only! {
        if FULL {
            max_exp_x16(z, stride, cc, j0, e, &mut sum);
            wide = true;
        }
    }
    if !wide {
        let mut mx = [f32x8::ZERO; SUBV];
        for (v, mv) in mx.iter_mut().enumerate().take(nv) {
            *mv = ld(z, stride, 0, j0 + v * LANES, lanes_of(len, v));
        }
        for c in 1..cc {
            for (v, mv) in mx.iter_mut().enumerate().take(nv) {
                // a NaN logit still poisons the pixel through exp(z - max)
                *mv = mv.fast_max(ld(z, stride, c, j0 + v * LANES, lanes_of(len, v)));
            }
        }
        for (c, ec) in e.chunks_exact_mut(SUBV).enumerate().take(cc) {
            for v in 0..nv {
                let x = exp_nonpos(ld(z, stride, c, j0 + v * LANES, lanes_of(len, v)) - mx[v]);
                ec[v] = x;
                sum[v] += x;
            }
        }
    }
    let mut inv = [f32x8::ZERO; SUBV];
    for v in 0..nv {
        inv[v] = f32x8::ONE / sum[v];
    }
    let ys = sub_labels(l, j0, len);
    let mut w = [f32x8::ZERO; SUBV];
    let cache = !rows.is_empty();
    for (c, ec) in e.chunks_exact(SUBV).enumerate().take(cc) {
        for v in 0..nv {
            let p = ec[v] * inv[v];
            if cache {
                st(rows[c], j0 + v * LANES, lanes_of(len, v), p);
            }
            w[v] = pick(m, &ys[v], c).mul_add(p, w[v]);
        }
    }
    for v in 0..nv {
        let av = pick(a, &ys[v], 0);
        let valid = first_lanes(lanes_of(len, v));
        let (wv, av) = (valid.select(w[v], f32x8::ZERO), valid.select(av, f32x8::ZERO));
        acc[0] += av;
        acc[1] = av.mul_add(wv, acc[1]);
        acc[2] += wv;
    }
}

/// [`grad_cached`] with labels, class-major: per sub-block of [`SUB`] pixels, one pass over the
/// cached probability rows that gathers `g_c = G[y, c]` (kept in a buffer) and forms
/// `dot = sum_c p_c g_c`, and one that writes `p_c g_c - p_c dot` over the probabilities. The same
/// operations per pixel as [`grad_g`], so the same bits.
#[inline(always)]
fn grad_labels_cm(b: &Block<'_>, gm: &Table<'_>, l: &[i32], out: &StridedOut<'_>) {
    // SAFETY: the C rows of this block are distinct ranges no other block touches.
    let mut rows: Vec<&mut [f32]> = (0..b.classes).map(|c| unsafe { out.row(c) }).collect();
    let mut g = vec![f32x8::ZERO; b.classes * SUBV];
    let mut j0 = 0;
    while j0 < b.len {
        let len = SUB.min(b.len - j0);
        if len == SUB {
            grad_sub::<true>(gm, l, &mut rows, &mut g, j0, len);
        } else {
            grad_sub::<false>(gm, l, &mut rows, &mut g, j0, len);
        }
        j0 += len;
    }
}

/// One sub-block of [`grad_labels_cm`]: `len` pixels at `j0` (`SUB` of them when `FULL`).
#[inline(always)]
fn grad_sub<const FULL: bool>(gm: &Table<'_>, l: &[i32], rows: &mut [&mut [f32]], g: &mut [f32x8], j0: usize, len: usize) {
    let len = if FULL { SUB } else { len };
    let nv = len.div_ceil(LANES);
    let ys = sub_labels(l, j0, len);
    let mut dot = [f32x8::ZERO; SUBV];
    for (c, (row, gc)) in rows.iter().zip(g.chunks_exact_mut(SUBV)).enumerate() {
        for v in 0..nv {
            let gv = pick(gm, &ys[v], c);
            gc[v] = gv;
            dot[v] = row_ld(&row[j0..], v, len).mul_add(gv, dot[v]);
        }
    }
    for (row, gc) in rows.iter_mut().zip(g.chunks_exact(SUBV)) {
        for v in 0..nv {
            let p = row_ld(&row[j0..], v, len);
            st(row, j0 + v * LANES, lanes_of(len, v), p.mul_neg_add(dot[v], p * gc[v]));
        }
    }
}

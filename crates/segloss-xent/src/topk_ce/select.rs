//! The selection of `topk_ce`: the `n_k` largest terms under the total order (value descending,
//! flat index ascending), and the pass that sums them and masks the gradient.

use segloss_core::reduce::{n_blocks, tree_reduce, tree_sum, SharedMut, BLOCK};
use segloss_core::simd::Level;

/// The key of a value in ascending total order (`f32::total_cmp`: -NaN < -inf < ... < -0 <
/// +0 < ... < +inf < +NaN).
#[inline(always)]
pub fn order_bits(v: f32) -> u32 {
    let b = v.to_bits();
    if b & 0x8000_0000 != 0 {
        !b
    } else {
        b | 0x8000_0000
    }
}

/// The selection order as one integer: smaller is selected first (larger value, then smaller
/// flat index). Distinct for distinct indices, so exactly `n_k` keys are `<=` the `n_k`-th.
#[inline(always)]
pub fn key(v: f32, i: usize) -> u128 {
    ((!order_bits(v) as u128) << 64) | i as u128
}

/// Radix buckets of the first pass: the top 16 order bits (sign, exponent and 7 mantissa bits).
const BUCKET_SHIFT: u32 = 16;

/// Terms per block of the histogram and of the key gathering: a block's histogram holds
/// `2^16` counts (256 KiB), so blocks are large (smaller ones spent more time zeroing and
/// adding histograms than counting).
const SELECT_BLOCK: usize = 1 << 18;

/// The key of the `n_k`-th term in selection order (`1 <= n_k <= values.len()`). O(n): a
/// histogram of the values' top order bits (in parallel blocks; integer counts, so the same
/// for any split) finds the bucket holding the `n_k`-th value; `select_nth_unstable` finds it
/// among that bucket's keys (gathered in parallel blocks; the keys are distinct, so the
/// `n_k`-th is the same whatever their order; ties of equal values ordered by flat index).
pub fn threshold(level: Level, values: &[f32], n_k: usize) -> u128 {
    assert!(n_k >= 1 && n_k <= values.len(), "1 <= n_k <= n");
    const BUCKETS: usize = 1 << (32 - BUCKET_SHIFT);
    let nb = n_blocks(values.len(), SELECT_BLOCK);
    let range = |bi: usize| bi * SELECT_BLOCK..((bi + 1) * SELECT_BLOCK).min(values.len());
    let hist = tree_reduce(
        nb,
        &|bi| {
            let mut h = vec![0u32; BUCKETS];
            for &v in &values[range(bi)] {
                h[(order_bits(v) >> BUCKET_SHIFT) as usize] += 1;
            }
            h
        },
        &|mut a, b| {
            a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
            a
        },
    )
    .expect("n >= 1");
    // buckets from the largest values down: the one where the count reaches n_k
    let mut above = 0usize;
    let mut bucket = 0u32;
    for b in (0..BUCKETS).rev() {
        let c = hist[b] as usize;
        if above + c >= n_k {
            bucket = b as u32;
            break;
        }
        above += c;
    }
    let mut keys: Vec<u128> = tree_reduce(
        nb,
        &|bi| {
            let r = range(bi);
            let mut keys = Vec::new();
            gather_bucket(level, &values[r.clone()], r.start, bucket, &mut keys);
            keys
        },
        &|mut a: Vec<u128>, b| {
            a.extend(b);
            a
        },
    )
    .expect("n >= 1");
    let (_, nth, _) = keys.select_nth_unstable(n_k - above - 1);
    *nth
}

segloss_core::level_copies! {
    /// Appends to `keys` the keys of the terms of `vals` (flat indices from `lo`) whose
    /// top order bits are `bucket`, at `level`.
    fn gather_bucket(vals: &[f32], lo: usize, bucket: u32, keys: &mut Vec<u128>) => gather_bucket_body
}

/// [`gather_bucket`]'s work, inlined into each level's copy: per group of 64 terms, a
/// branch-free loop marks the members (few: one bucket of `2^16`), and only a group with one
/// reads them out.
#[inline(always)]
fn gather_bucket_body(vals: &[f32], lo: usize, bucket: u32, keys: &mut Vec<u128>) {
    for (gi, group) in vals.chunks(64).enumerate() {
        let mut hit = [0u8; 64];
        for (h, &v) in hit.iter_mut().zip(group) {
            *h = (order_bits(v) >> BUCKET_SHIFT == bucket) as u8;
        }
        if hit.iter().any(|&h| h != 0) {
            let base = lo + gi * 64;
            keys.extend(group.iter().zip(&hit).enumerate().filter(|(_, (_, &h))| h != 0).map(|(k, (&v, _))| key(v, base + k)));
        }
    }
}

/// Sums the selected terms (`key <= threshold`) and writes the gradient: `scale` times the
/// gradient already in `grad` for the selected elements, 0 elsewhere. `grad` holds `rows`
/// rows of `s` elements per image for every term `n * s + j` (multiclass: the C class rows of
/// pixel j of image n; otherwise rows = 1). The loops run at `level` ([`block_sum`],
/// [`mask_grad`]).
///
/// The sum: per block of [`BLOCK`] terms, four `f64` partial sums (term `lo + 4 q + r` into
/// sum `r`, unselected terms adding 0), added as `(s0 + s1) + (s2 + s3)`; the blocks along
/// the fixed tree. Both the selection flags and the sums are branch-free loops (a branch per
/// term and one dependent sum took a third of `topk_ce`'s time on W1).
#[allow(clippy::too_many_arguments)]
pub fn finish(level: Level, values: &[f32], threshold: u128, rows: usize, s: usize, scale: f32, grad: Option<&mut [f32]>) -> f64 {
    let len = values.len();
    let grad = grad.map(SharedMut::new);
    // the threshold's parts: order bits (complemented: smaller is larger) and flat index
    let (t_bits, t_index) = ((threshold >> 64) as u32, threshold as u64);
    tree_sum(n_blocks(len, BLOCK), &|bi| {
        let lo = bi * BLOCK;
        let hi = (lo + BLOCK).min(len);
        let mut sel = [0u32; BLOCK];
        let sum = block_sum(level, &values[lo..hi], lo as u64, t_bits, t_index, &mut sel[..hi - lo]);
        if let Some(g) = grad {
            // the block's terms, cut where an image ends
            let mut a = lo;
            while a < hi {
                let (n, j) = (a / s, a % s);
                let b = hi.min((n + 1) * s);
                let mask = &sel[a - lo..b - lo];
                for r in 0..rows {
                    // SAFETY: the blocks' term ranges are disjoint, so are their rows.
                    let out = unsafe { g.slice((n * rows + r) * s + j, b - a) };
                    mask_grad(level, out, mask, scale);
                }
                a = b;
            }
        }
        sum
    })
}

segloss_core::level_copies! {
    /// The selection flags of one block of terms (`sel[k]` all ones where term `lo + k` is
    /// selected, else 0) and its sum, at `level`.
    pub(crate) fn block_sum(vals: &[f32], lo: u64, t_bits: u32, t_index: u64, sel: &mut [u32]) -> f64 => block_sum_body
}

/// [`block_sum`]'s work, inlined into each level's copy.
#[inline(always)]
fn block_sum_body(vals: &[f32], lo: u64, t_bits: u32, t_index: u64, sel: &mut [u32]) -> f64 {
    for (k, (&v, on)) in vals.iter().zip(sel.iter_mut()).enumerate() {
        let b = !order_bits(v);
        let take = (b < t_bits) | ((b == t_bits) & (lo + k as u64 <= t_index));
        *on = (take as u32).wrapping_neg();
    }
    let mut acc = [0.0f64; 4];
    let quads = vals.len() / 4 * 4;
    // an unselected term's bits masked to +0.0, which adds nothing
    for (vq, sq) in vals[..quads].chunks_exact(4).zip(sel[..quads].chunks_exact(4)) {
        for r in 0..4 {
            acc[r] += f32::from_bits(vq[r].to_bits() & sq[r]) as f64;
        }
    }
    for (r, (&v, &on)) in vals[quads..].iter().zip(&sel[quads..]).enumerate() {
        acc[r] += f32::from_bits(v.to_bits() & on) as f64;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

segloss_core::level_copies! {
    /// `out[k] = scale * out[k]` where `mask[k]` is set, else 0, at `level`.
    pub(crate) fn mask_grad(out: &mut [f32], mask: &[u32], scale: f32) => mask_grad_body
}

/// [`mask_grad`]'s work, inlined into each level's copy.
#[inline(always)]
fn mask_grad_body(out: &mut [f32], mask: &[u32], scale: f32) {
    for (o, &m) in out.iter_mut().zip(mask) {
        *o = if m != 0 { *o * scale } else { 0.0 };
    }
}

#[cfg(test)]
mod tests {
    use super::{block_sum, mask_grad, order_bits};
    use segloss_core::rng::Rng;
    use segloss_core::simd::Level;

    /// The three level copies of the selection loops give the same flags, sums and gradients,
    /// bit for bit, on terms with ties at the threshold's value and a block length that is not a
    /// multiple of four (levels this CPU lacks run the baseline copy).
    #[test]
    fn selection_loops_give_the_same_bits_at_every_level() {
        let mut r = Rng::new(5);
        let vals: Vec<f32> = (0..8191).map(|_| (r.next_f32() * 64.0).round() / 16.0).collect();
        let t_value = vals[4000];
        let (t_bits, t_index) = (!order_bits(t_value), 4321u64);
        let g0: Vec<f32> = (0..vals.len()).map(|_| r.next_f32() - 0.5).collect();
        let run = |level: Level| {
            let mut sel = vec![0u32; vals.len()];
            let sum = block_sum(level, &vals, 100, t_bits, t_index, &mut sel);
            let mut g = g0.clone();
            mask_grad(level, &mut g, &sel, 0.37);
            (sum.to_bits(), sel, g.iter().map(|v| v.to_bits()).collect::<Vec<u32>>())
        };
        let base = run(Level::Baseline);
        let kept = base.1.iter().filter(|&&m| m != 0).count();
        assert!(kept > 0 && kept < vals.len(), "the threshold splits the block: {kept} kept");
        for level in [Level::Avx2, Level::Avx512] {
            assert!(run(level) == base, "{level:?} differs from the baseline copy");
        }
    }
}

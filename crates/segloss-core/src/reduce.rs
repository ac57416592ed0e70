//! Deterministic parallel reductions.
//!
//! Work is cut into fixed blocks whose layout depends only on the input's shape, never on the
//! number of threads. Block results are combined along a fixed binary tree (`tree_reduce`), whose
//! two halves run through [`rayon::join`] in the caller's rayon pool. The arithmetic is therefore
//! the same for 1 or N threads, and results are identical bit for bit. Inside a block, kernels
//! accumulate in `f32x8` lanes and hand back an `f64`; blocks are added in `f64`.
//!
//! Threads: the work runs in whatever rayon pool is current, so a user controls the thread count
//! with `rayon::ThreadPool::install`.

use std::marker::PhantomData;

/// Elements per block of the elementwise kernels (a multiple of the lane count).
pub const BLOCK: usize = 8192;

/// Number of blocks of size `block` covering `len` items.
#[inline]
pub fn n_blocks(len: usize, block: usize) -> usize {
    len.div_ceil(block)
}

/// Combines `leaf(i)` for `i` in `0..n` along a fixed binary tree (split at the midpoint),
/// in parallel. Returns `None` for `n == 0`. The result does not depend on the thread count.
pub fn tree_reduce<T, L, C>(n: usize, leaf: &L, combine: &C) -> Option<T>
where
    T: Send,
    L: Fn(usize) -> T + Sync,
    C: Fn(T, T) -> T + Sync,
{
    fn go<T: Send, L: Fn(usize) -> T + Sync, C: Fn(T, T) -> T + Sync>(lo: usize, hi: usize, leaf: &L, combine: &C) -> T {
        if hi - lo == 1 {
            return leaf(lo);
        }
        let mid = lo + (hi - lo) / 2;
        // the split points are fixed whatever runs them, so forking changes no arithmetic
        let (a, b) = if hi - lo >= 2 {
            rayon::join(|| go(lo, mid, leaf, combine), || go(mid, hi, leaf, combine))
        } else {
            (go(lo, mid, leaf, combine), go(mid, hi, leaf, combine))
        };
        combine(a, b)
    }
    if n == 0 {
        None
    } else {
        Some(go(0, n, leaf, combine))
    }
}

/// Sums `leaf(i)` for `i` in `0..n` in `f64` along the fixed tree (0 for `n == 0`).
pub fn tree_sum<L: Fn(usize) -> f64 + Sync>(n: usize, leaf: &L) -> f64 {
    tree_reduce(n, leaf, &|a, b| a + b).unwrap_or(0.0)
}

/// Runs `f(i)` for `i` in `0..n` in parallel (no result).
pub fn par_for<F: Fn(usize) + Sync>(n: usize, f: &F) {
    tree_reduce(n, &|i| f(i), &|_, _| ());
}

/// A mutable `f32` buffer shared by parallel blocks that write disjoint parts of it.
///
/// This is the one place where blocks write through a shared pointer: a multiclass block owns the
/// positions `s` of one image across every channel, which are not one contiguous range.
#[derive(Clone, Copy)]
pub struct SharedMut<'a> {
    ptr: *mut f32,
    len: usize,
    _life: PhantomData<&'a mut [f32]>,
}

// SAFETY: access is only through `slice`, whose contract requires disjoint ranges across threads.
unsafe impl Send for SharedMut<'_> {}
unsafe impl Sync for SharedMut<'_> {}

impl<'a> SharedMut<'a> {
    /// Wraps a buffer.
    pub fn new(buf: &'a mut [f32]) -> Self {
        SharedMut { ptr: buf.as_mut_ptr(), len: buf.len(), _life: PhantomData }
    }

    /// Length of the buffer.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A mutable view of `start..start + len`.
    ///
    /// # Safety
    /// No two live slices obtained from copies of this value may overlap.
    /// Panics (a bug, never user input) if the range is out of bounds.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice(&self, start: usize, len: usize) -> &'a mut [f32] {
        assert!(start.checked_add(len).is_some_and(|e| e <= self.len), "SharedMut range out of bounds");
        // SAFETY: in bounds (checked above); disjointness is the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_sum_is_thread_independent() {
        let vals: Vec<f64> = (0..1000).map(|i| 1.0 / (i as f64 + 0.3)).collect();
        let leaf = |i: usize| vals[i];
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(|| tree_sum(vals.len(), &leaf));
        let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap().install(|| tree_sum(vals.len(), &leaf));
        assert_eq!(one.to_bits(), two.to_bits());
        assert!((one - vals.iter().sum::<f64>()).abs() < 1e-12);
        assert_eq!(tree_sum(0, &leaf), 0.0);
    }
}

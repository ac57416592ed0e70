//! Pieces every family's driver shares: the kernel switch ([`Backend`]), the strided gradient
//! rows of a softmax block ([`StridedOut`]) and the checks every `Loss` runs first
//! ([`check_grad_len`], [`reject_weight`]).

use crate::error::{fmt_shape, LossError, Result};
use crate::input::Batch;
use crate::reduce::SharedMut;

/// Which kernel implementation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// The SIMD kernels (default).
    #[default]
    Simd,
    /// The scalar reference kernels (for tests and comparisons).
    Scalar,
}

thread_local! {
    static OVERRIDE: std::cell::Cell<Option<Backend>> = const { std::cell::Cell::new(None) };
}

impl Backend {
    /// The backend a loss evaluated on this thread runs: [`Backend::Simd`] unless a test forces
    /// another with `with_backend` (feature `testing`). Losses read it once at the start of an
    /// evaluation, on the calling thread, and pass it to their workers.
    pub fn current() -> Backend {
        OVERRIDE.with(|c| c.get()).unwrap_or_default()
    }
}

/// Runs `f` with every loss evaluated on this thread using `backend` (the scalar reference
/// kernels, for comparisons with the SIMD ones).
#[cfg(feature = "testing")]
pub fn with_backend<R>(backend: Backend, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Backend>);
    impl Drop for Restore {
        fn drop(&mut self) {
            OVERRIDE.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(OVERRIDE.with(|c| c.replace(Some(backend))));
    f()
}

/// Where a softmax kernel writes its gradient: the positions `base + c * stride + j` for class `c`
/// and pixel `j` of the block. Blocks of one image share the buffer and write disjoint positions.
#[derive(Clone, Copy)]
pub struct StridedOut<'a> {
    buf: SharedMut<'a>,
    base: usize,
    stride: usize,
    len: usize,
}

impl<'a> StridedOut<'a> {
    /// The gradient rows of a block of `len` pixels starting at `base`, channel stride `stride`.
    pub fn new(buf: SharedMut<'a>, base: usize, stride: usize, len: usize) -> Self {
        StridedOut { buf, base, stride, len }
    }

    /// A plain slice as the gradient of a block that is the whole of `buf` (`base = 0`).
    pub fn from_slice(buf: &'a mut [f32], stride: usize, len: usize) -> Self {
        StridedOut { buf: SharedMut::new(buf), base: 0, stride, len }
    }

    /// The row of class `c`.
    ///
    /// # Safety
    /// The caller holds no other live reference to this row, and no other block shares its range.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn row(&self, c: usize) -> &'a mut [f32] {
        // SAFETY: forwarded to the caller.
        unsafe { self.buf.slice(self.base + c * self.stride, self.len) }
    }
}

/// Errors unless the gradient buffer (when given) has `len` elements, pred's count.
pub fn check_grad_len(grad: &Option<&mut [f32]>, len: usize, batch: &Batch<'_>) -> Result<()> {
    match grad {
        Some(g) if g.len() != len => Err(LossError::ShapeMismatch {
            what: "the gradient buffer must have pred's element count".into(),
            left_name: "grad",
            left: vec![g.len()],
            right_name: "pred",
            right: batch.pred.shape().to_vec(),
        }),
        _ => Ok(()),
    }
}

/// Errors when `batch` carries a weight, for the loss `name` that takes none (`why` says why).
pub fn reject_weight(name: &str, batch: &Batch<'_>, why: &str) -> Result<()> {
    match &batch.weight {
        None => Ok(()),
        Some(w) => Err(LossError::unsupported(name, format!("takes no weight tensor (got one of shape {}): {why}", fmt_shape(w.shape())))),
    }
}

//! The element types accepted as masks and as instance labels.

/// A mask element: nonzero is foreground (an object pixel, whose distance [`crate::edt`]
/// measures), zero is background.
///
/// Implemented for `u8`, `bool`, `i32`, `u32` and `f32`. For `f32`, `-0.0` is zero and NaN is
/// nonzero (NaN != 0), as in numpy's `mask != 0`.
pub trait MaskValue: Copy + Send + Sync + 'static {
    /// Whether the element is nonzero.
    fn is_foreground(self) -> bool;
}

impl MaskValue for u8 {
    #[inline(always)]
    fn is_foreground(self) -> bool {
        self != 0
    }
}

impl MaskValue for bool {
    #[inline(always)]
    fn is_foreground(self) -> bool {
        self
    }
}

impl MaskValue for i32 {
    #[inline(always)]
    fn is_foreground(self) -> bool {
        self != 0
    }
}

impl MaskValue for u32 {
    #[inline(always)]
    fn is_foreground(self) -> bool {
        self != 0
    }
}

impl MaskValue for f32 {
    #[inline(always)]
    fn is_foreground(self) -> bool {
        self != 0.0
    }
}

/// An instance-label element: 0 is background, every other value one object (values need not
/// be consecutive). Negative values are rejected with [`segloss_core::LossError::LabelOutOfRange`].
///
/// Implemented for `u8`, `i32`, `u32` and `i64`.
pub trait LabelValue: Copy + Send + Sync + 'static {
    /// The label as an `i64`.
    fn to_i64(self) -> i64;
}

impl LabelValue for u8 {
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self as i64
    }
}

impl LabelValue for i32 {
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self as i64
    }
}

impl LabelValue for u32 {
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self as i64
    }
}

impl LabelValue for i64 {
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self
    }
}

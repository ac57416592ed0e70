//! The target tensor ([`Target`]), integer labels ([`Labels`]) and dense float targets
//! ([`DenseTarget`]).

use crate::error::{unravel, LossError, Result};
use crate::reduce::tree_reduce;
use ndarray::{ArrayView, ArrayViewD, Dimension};
use std::borrow::Cow;

/// The target tensor: floats (binary/multilabel targets, class probabilities) or integer labels.
#[derive(Debug, Clone)]
pub enum Target<'a> {
    /// Float targets.
    F32(ArrayViewD<'a, f32>),
    /// `u8` labels.
    U8(ArrayViewD<'a, u8>),
    /// `i32` labels.
    I32(ArrayViewD<'a, i32>),
    /// `i64` labels.
    I64(ArrayViewD<'a, i64>),
}

macro_rules! target_from {
    ($t:ty, $v:ident) => {
        impl<'a, D: Dimension> From<ArrayView<'a, $t, D>> for Target<'a> {
            fn from(a: ArrayView<'a, $t, D>) -> Self {
                Target::$v(a.into_dyn())
            }
        }
        impl<'a, D: Dimension> From<&'a ndarray::Array<$t, D>> for Target<'a> {
            fn from(a: &'a ndarray::Array<$t, D>) -> Self {
                Target::$v(a.view().into_dyn())
            }
        }
    };
}
target_from!(f32, F32);
target_from!(u8, U8);
target_from!(i32, I32);
target_from!(i64, I64);

impl<'a> Target<'a> {
    /// Image `i` of the target: the view cut to `i..i + 1` along axis 0 (which must exist and
    /// have more than `i` entries).
    pub(crate) fn image(&self, i: usize) -> Target<'a> {
        let cut = ndarray::Slice::from(i..i + 1);
        match self {
            Target::F32(a) => Target::F32(a.clone().slice_axis_move(ndarray::Axis(0), cut)),
            Target::U8(a) => Target::U8(a.clone().slice_axis_move(ndarray::Axis(0), cut)),
            Target::I32(a) => Target::I32(a.clone().slice_axis_move(ndarray::Axis(0), cut)),
            Target::I64(a) => Target::I64(a.clone().slice_axis_move(ndarray::Axis(0), cut)),
        }
    }

    /// The target's shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            Target::F32(a) => a.shape(),
            Target::U8(a) => a.shape(),
            Target::I32(a) => a.shape(),
            Target::I64(a) => a.shape(),
        }
    }

    /// Whether the target holds integer labels.
    pub fn is_integer(&self) -> bool {
        !matches!(self, Target::F32(_))
    }

    /// The element type's name.
    pub fn dtype(&self) -> &'static str {
        match self {
            Target::F32(_) => "f32",
            Target::U8(_) => "u8",
            Target::I32(_) => "i32",
            Target::I64(_) => "i64",
        }
    }

    /// A contiguous (row-major) copy or borrow of integer labels.
    pub fn labels(&self) -> Option<Labels<'_>> {
        match self {
            Target::F32(_) => None,
            Target::U8(a) => Some(Labels::U8(contiguous(a))),
            Target::I32(a) => Some(Labels::I32(contiguous(a))),
            Target::I64(a) => Some(Labels::I64(contiguous(a))),
        }
    }

    /// A contiguous view of float targets.
    pub fn floats(&self) -> Option<Cow<'_, [f32]>> {
        match self {
            Target::F32(a) => Some(contiguous(a)),
            _ => None,
        }
    }
}

/// Borrows the data of a standard-layout view, or copies it into row-major order otherwise.
pub fn contiguous<'a, T: Clone>(a: &'a ArrayViewD<'_, T>) -> Cow<'a, [T]> {
    match a.as_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(a.iter().cloned().collect()),
    }
}

/// Contiguous integer labels.
#[derive(Debug, Clone)]
pub enum Labels<'a> {
    /// `u8` labels.
    U8(Cow<'a, [u8]>),
    /// `i32` labels.
    I32(Cow<'a, [i32]>),
    /// `i64` labels.
    I64(Cow<'a, [i64]>),
}

impl Labels<'_> {
    /// Number of labels.
    pub fn len(&self) -> usize {
        match self {
            Labels::U8(v) => v.len(),
            Labels::I32(v) => v.len(),
            Labels::I64(v) => v.len(),
        }
    }

    /// Whether there is no label.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The label at `i`.
    #[inline(always)]
    pub fn get(&self, i: usize) -> i64 {
        match self {
            Labels::U8(v) => v[i] as i64,
            Labels::I32(v) => v[i] as i64,
            Labels::I64(v) => v[i],
        }
    }

    /// Writes the class indices of `start..start + out.len()` into `out`, with `-1` for a pixel
    /// whose label equals `ignore` or is outside `[0, classes)` (callers validate labels first).
    #[inline]
    pub fn classes_into(&self, start: usize, out: &mut [i32], classes: usize, ignore: Option<i64>) {
        let map = |l: i64| -> i32 {
            if Some(l) == ignore || l < 0 || l >= classes as i64 {
                -1
            } else {
                l as i32
            }
        };
        match self {
            Labels::U8(v) => out.iter_mut().zip(&v[start..]).for_each(|(o, &l)| *o = map(l as i64)),
            Labels::I32(v) => out.iter_mut().zip(&v[start..]).for_each(|(o, &l)| *o = map(l as i64)),
            Labels::I64(v) => out.iter_mut().zip(&v[start..]).for_each(|(o, &l)| *o = map(l)),
        }
    }

    /// Checks every label is in `[0, classes)` or equal to `ignore`; the error names the first
    /// offending multi-index of `shape`.
    pub fn validate(&self, classes: usize, ignore: Option<i64>, shape: &[usize]) -> Result<()> {
        let n = self.len();
        let block = 1 << 14;
        let nb = n.div_ceil(block);
        let bad = tree_reduce(
            nb,
            &|b| {
                let lo = b * block;
                let hi = (lo + block).min(n);
                (lo..hi).find(|&i| {
                    let l = self.get(i);
                    Some(l) != ignore && (l < 0 || l >= classes as i64)
                })
            },
            &|a, b| a.or(b),
        )
        .flatten();
        match bad {
            None => Ok(()),
            Some(i) => Err(LossError::LabelOutOfRange {
                label: self.get(i).to_string(),
                index: unravel(i, shape),
                expected: match ignore {
                    Some(ig) => format!("an integer in [0, {classes}) or the ignore_index {ig}"),
                    None => format!("an integer in [0, {classes})"),
                },
            }),
        }
    }
}

/// Dense targets as `f32` values in `pred`'s element order (integer 0/1 targets are converted
/// per block by [`DenseTarget::chunk`], so no full-size copy is made for them).
#[derive(Debug, Clone)]
pub enum DenseTarget<'a> {
    /// Float targets.
    F32(Cow<'a, [f32]>),
    /// Integer targets (values validated to be 0 or 1, or a class index for multiclass).
    Int(Labels<'a>),
}

impl DenseTarget<'_> {
    /// From a batch's target.
    pub fn from_target<'b>(t: &'b Target<'_>) -> DenseTarget<'b> {
        match t.floats() {
            Some(f) => DenseTarget::F32(f),
            None => DenseTarget::Int(t.labels().expect("integer target")),
        }
    }

    /// The values of `start..start + buf.len()`, borrowed or converted into `buf`.
    #[inline]
    pub fn chunk<'s>(&'s self, start: usize, buf: &'s mut [f32]) -> &'s [f32] {
        match self {
            DenseTarget::F32(v) => &v[start..start + buf.len()],
            DenseTarget::Int(l) => {
                for (i, b) in buf.iter_mut().enumerate() {
                    *b = l.get(start + i) as f32;
                }
                buf
            }
        }
    }
}

/// Checks that dense float targets lie in `[lo, hi]` (NaN is rejected too); names the first index.
pub fn validate_range(values: &[f32], lo: f32, hi: f32, shape: &[usize], what: &str) -> Result<()> {
    // blocks checked without an early exit (a loop that vectorizes); the first bad one is searched
    const BLOCK: usize = 1024;
    let ok = |v: f32| v >= lo && v <= hi;
    for (b, block) in values.chunks(BLOCK).enumerate() {
        if !block.iter().fold(true, |all, &v| all & ok(v)) {
            let i = b * BLOCK + block.iter().position(|&v| !ok(v)).expect("a value out of range");
            return Err(LossError::LabelOutOfRange { label: values[i].to_string(), index: unravel(i, shape), expected: what.to_string() });
        }
    }
    Ok(())
}

/// An owned target (float targets or integer labels), to borrow as a [`Target`] of a
/// [`Batch`](crate::Batch): what readers of files and fixtures produce.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnedTarget {
    /// Float targets.
    F32(ndarray::ArrayD<f32>),
    /// `u8` labels.
    U8(ndarray::ArrayD<u8>),
    /// `i32` labels.
    I32(ndarray::ArrayD<i32>),
    /// `i64` labels.
    I64(ndarray::ArrayD<i64>),
}

impl OwnedTarget {
    /// The target, borrowed.
    pub fn view(&self) -> Target<'_> {
        match self {
            OwnedTarget::F32(a) => a.into(),
            OwnedTarget::U8(a) => a.into(),
            OwnedTarget::I32(a) => a.into(),
            OwnedTarget::I64(a) => a.into(),
        }
    }

    /// Its shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            OwnedTarget::F32(a) => a.shape(),
            OwnedTarget::U8(a) => a.shape(),
            OwnedTarget::I32(a) => a.shape(),
            OwnedTarget::I64(a) => a.shape(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first value outside the range is named, wherever it lies among the blocks (NaN too).
    #[test]
    fn validate_range_names_the_first_bad_value() {
        let shape = [2, 3000];
        let mut v = vec![0.5f32; 6000];
        assert!(validate_range(&v, 0.0, 1.0, &shape, "x").is_ok());
        for (at, bad) in [(0usize, -0.1f32), (1023, 1.5), (1024, f32::NAN), (5999, f32::INFINITY), (3001, 2.0)] {
            v[at] = bad;
            v[5999] = if at == 5999 { bad } else { 0.5 };
            match validate_range(&v, 0.0, 1.0, &shape, "x") {
                Err(LossError::LabelOutOfRange { label, index, .. }) => {
                    assert_eq!(label, bad.to_string());
                    assert_eq!(index, vec![at / 3000, at % 3000], "value {bad} at {at}");
                }
                other => panic!("{bad} at {at}: {other:?}"),
            }
            v[at] = 0.5;
        }
        // the bounds themselves are in range
        assert!(validate_range(&[0.0, 1.0], 0.0, 1.0, &[2], "x").is_ok());
    }
}

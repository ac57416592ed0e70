//! The `Loss` trait every segloss loss implements.

use crate::error::{LossError, Result};
use crate::input::Batch;
use ndarray::{ArrayD, ArrayViewMutD, IxDyn};
use std::fmt;

/// A built, validated loss: a value and its analytic gradient with respect to `pred`.
///
/// Implementors provide [`Loss::eval_slice`]; the other methods are built on it. Inputs may be
/// views of any memory layout: standard-layout inputs take the slice fast path, others are copied
/// into row-major order first.
pub trait Loss: Send + Sync + fmt::Debug {
    /// The loss's name in the catalogue (e.g. `focal`).
    fn name(&self) -> &'static str;

    /// Computes the loss of `batch`. When `grad` is given (row-major, `pred`'s element count), it
    /// receives `upstream * d loss / d pred`, every element written.
    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32>;

    /// The validated typed config the loss was built from (`FocalConfig`, ...), for consumers
    /// such as the ONNX exporter that downcast it; `None` for losses without one (combinations).
    fn config(&self) -> Option<&dyn std::any::Any> {
        None
    }

    /// The loss value.
    fn forward(&self, batch: &Batch<'_>) -> Result<f32> {
        self.eval_slice(batch, None, 1.0)
    }

    /// The loss value and its gradient with respect to `pred` (same shape as `pred`).
    fn forward_backward(&self, batch: &Batch<'_>) -> Result<(f32, ArrayD<f32>)> {
        let mut grad = ArrayD::<f32>::zeros(IxDyn(batch.pred.shape()));
        let v = self.forward_backward_into(batch, grad.view_mut(), 1.0)?;
        Ok((v, grad))
    }

    /// The loss value; `upstream * d loss / d pred` is written into `grad` (pred's shape, any
    /// layout). With a standard-layout `grad` nothing proportional to the input is allocated.
    fn forward_backward_into(&self, batch: &Batch<'_>, mut grad: ArrayViewMutD<'_, f32>, upstream: f32) -> Result<f32> {
        if grad.shape() != batch.pred.shape() {
            return Err(LossError::ShapeMismatch {
                what: "the gradient buffer must have pred's shape".into(),
                left_name: "grad",
                left: grad.shape().to_vec(),
                right_name: "pred",
                right: batch.pred.shape().to_vec(),
            });
        }
        if let Some(g) = grad.as_slice_mut() {
            return self.eval_slice(batch, Some(g), upstream);
        }
        let mut tmp = vec![0.0f32; grad.len()];
        let v = self.eval_slice(batch, Some(&mut tmp), upstream)?;
        grad.iter_mut().zip(tmp).for_each(|(g, t)| *g = t);
        Ok(v)
    }
}

impl<L: Loss + ?Sized> Loss for Box<L> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        (**self).eval_slice(batch, grad, upstream)
    }
    fn config(&self) -> Option<&dyn std::any::Any> {
        (**self).config()
    }
}

/// How elementwise losses reduce their per-element map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reduction {
    /// The mean (default; see each loss for its normalizer).
    #[default]
    Mean,
    /// The sum.
    Sum,
    /// No reduction: the per-element map. Through [`Loss`], the value is the map's sum and the
    /// gradient is that of the sum; the map itself comes from the loss's `forward_map`.
    None,
}

impl Reduction {
    /// The spec-string name.
    pub fn name(self) -> &'static str {
        match self {
            Reduction::Mean => "mean",
            Reduction::Sum => "sum",
            Reduction::None => "none",
        }
    }

    /// Parses a spec-string name.
    pub fn parse(s: &str) -> Option<Reduction> {
        match s {
            "mean" => Some(Reduction::Mean),
            "sum" => Some(Reduction::Sum),
            "none" => Some(Reduction::None),
            _ => None,
        }
    }
}

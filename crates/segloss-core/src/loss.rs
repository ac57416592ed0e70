//! The `Loss` trait every segloss loss implements.

use crate::error::{LossError, Result};
use crate::input::Batch;
use ndarray::{Array1, ArrayD, ArrayView1, ArrayViewMutD, Axis, IxDyn};
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
    /// layout). With a standard-layout `grad` nothing proportional to the input is allocated,
    /// except the one term buffer per thread that a [`Combination`](crate::spec::Combination)
    /// of two or more terms keeps between calls.
    fn forward_backward_into(&self, batch: &Batch<'_>, mut grad: ArrayViewMutD<'_, f32>, upstream: f32) -> Result<f32> {
        check_grad_shape(grad.shape(), batch)?;
        if let Some(g) = grad.as_slice_mut() {
            return self.eval_slice(batch, Some(g), upstream);
        }
        let mut tmp = vec![0.0f32; grad.len()];
        let v = self.eval_slice(batch, Some(&mut tmp), upstream)?;
        grad.iter_mut().zip(tmp).for_each(|(g, t)| *g = t);
        Ok(v)
    }

    /// The unreduced values: the loss of each image alone, shape `[N]`. `values[i]` is this
    /// loss on the batch made of image `i` only (`pred`, the target and the weight cut to
    /// `i..i + 1` along axis 0), so every loss has them, with the batch-level rules (the mean's
    /// divisor, class weights from the batch, `batch_dice`, ...) applied to that image alone.
    /// Where the loss is a mean of per-image terms with equal divisors (the overlap losses per
    /// image, `lovasz_hinge`, the cross-entropies without `ignore_index` or weights), the mean of
    /// these values is the batch's loss.
    fn per_image(&self, batch: &Batch<'_>) -> Result<Array1<f32>> {
        let n = batch_size(batch)?;
        let mut out = Array1::zeros(n);
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.eval_slice(&image_of(batch, i), None, 1.0)?;
        }
        Ok(out)
    }

    /// [`Loss::per_image`] and its vector-Jacobian product: `grad` (pred's shape, any layout)
    /// receives `sum_i upstream[i] * d values[i] / d pred` (image `i`'s part of `grad` depends
    /// on image `i` only). `upstream` has one value per image.
    fn per_image_backward_into(
        &self,
        batch: &Batch<'_>,
        upstream: ArrayView1<'_, f32>,
        mut grad: ArrayViewMutD<'_, f32>,
    ) -> Result<Array1<f32>> {
        let n = batch_size(batch)?;
        if upstream.len() != n {
            return Err(LossError::ShapeMismatch {
                what: "the upstream gradient of the per-image values has one value per image of pred".into(),
                left_name: "upstream",
                left: upstream.shape().to_vec(),
                right_name: "pred",
                right: batch.pred.shape().to_vec(),
            });
        }
        check_grad_shape(grad.shape(), batch)?;
        let mut out = Array1::zeros(n);
        for (i, o) in out.iter_mut().enumerate() {
            let g = grad.slice_axis_mut(Axis(0), (i..i + 1).into());
            *o = self.forward_backward_into(&image_of(batch, i), g, upstream[i])?;
        }
        Ok(out)
    }

    /// [`Loss::per_image_backward_into`] into a new gradient array.
    fn per_image_backward(&self, batch: &Batch<'_>, upstream: ArrayView1<'_, f32>) -> Result<(Array1<f32>, ArrayD<f32>)> {
        let mut grad = ArrayD::<f32>::zeros(IxDyn(batch.pred.shape()));
        let v = self.per_image_backward_into(batch, upstream, grad.view_mut())?;
        Ok((v, grad))
    }
}

/// A gradient buffer must have pred's shape.
fn check_grad_shape(grad: &[usize], batch: &Batch<'_>) -> Result<()> {
    if grad != batch.pred.shape() {
        return Err(LossError::ShapeMismatch {
            what: "the gradient buffer must have pred's shape".into(),
            left_name: "grad",
            left: grad.to_vec(),
            right_name: "pred",
            right: batch.pred.shape().to_vec(),
        });
    }
    Ok(())
}

/// `N`, pred's first axis, after checking that the target and the weight share it (an empty
/// batch is reported by the loss itself, as for its batch value).
fn batch_size(batch: &Batch<'_>) -> Result<usize> {
    let Some(&n) = batch.pred.shape().first() else {
        return Err(LossError::InvalidShape {
            name: "pred",
            shape: batch.pred.shape().to_vec(),
            reason: "per-image values need a batch axis [N, ...]".into(),
        });
    };
    let mut others = vec![("target", batch.target.shape())];
    if let Some(w) = &batch.weight {
        others.push(("weight", w.shape()));
    }
    for (name, shape) in others {
        if shape.first() != Some(&n) {
            return Err(LossError::ShapeMismatch {
                what: format!("per-image values cut every input along axis 0: {name} must have pred's batch size"),
                left_name: name,
                left: shape.to_vec(),
                right_name: "pred",
                right: batch.pred.shape().to_vec(),
            });
        }
    }
    if n == 0 {
        return Err(LossError::Empty { name: "pred", shape: batch.pred.shape().to_vec() });
    }
    Ok(n)
}

/// The batch made of image `i` of `batch` (every input cut to `i..i + 1` along axis 0).
fn image_of<'a>(batch: &Batch<'a>, i: usize) -> Batch<'a> {
    Batch {
        pred: batch.pred.clone().slice_axis_move(Axis(0), (i..i + 1).into()),
        target: batch.target.image(i),
        weight: batch.weight.clone().map(|w| w.slice_axis_move(Axis(0), (i..i + 1).into())),
        check_finite: batch.check_finite,
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
    fn per_image(&self, batch: &Batch<'_>) -> Result<Array1<f32>> {
        (**self).per_image(batch)
    }
    fn per_image_backward_into(
        &self,
        batch: &Batch<'_>,
        upstream: ArrayView1<'_, f32>,
        grad: ArrayViewMutD<'_, f32>,
    ) -> Result<Array1<f32>> {
        (**self).per_image_backward_into(batch, upstream, grad)
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

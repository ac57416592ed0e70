//! # segloss-distance: exact distance transforms, connected components and U-Net weight maps
//!
//! The maps that `distance_bce` (its `d` is [`edt`] of the mask) and the per-pixel `weight`
//! input of the losses (the U-Net maps of [`unet_weights_from_instances`] and
//! [`unet_weights_from_mask`]) consume, as defined in `docs/LOSSES.md`, section "Distance transforms
//! and weight maps":
//!
//! - [`edt`]: the exact Euclidean distance transform of 2D and 3D masks, with per-axis spacing and
//!   optional squared output (anchor: scipy `ndimage.distance_transform_edt(mask, sampling)`);
//! - [`label`]: connected components of a binary mask, 4/8-connectivity in 2D, 6/26 in 3D
//!   (anchor: scipy `ndimage.label`, equal up to the numbering of the components);
//! - [`unet_weights_from_instances`], [`unet_weights_from_mask`]: the weight map of Ronneberger
//!   et al. 2015, eq. 2 (anchor: the per-object construction `d_k = distance_transform_edt(labels
//!   != k)`, `d1`, `d2` the two smallest over `k`, within 1e-3).
//!
//! It is also the distance-map loss family ([`LOSSES`]): [`boundary`] (Kervadec et al. 2019) and
//! [`hausdorff_dt`] (Karimi and Salcudean 2019), as defined in `docs/LOSSES.md`, section
//! "Distance-map losses", with their maps from the exact two-sided transform of each (image,
//! channel) pair; [`boundary_map`] gives `boundary`'s maps on their own.
//!
//! Arrays are ndarray views of any memory layout; a 2D array is `(H, W)`, a 3D one `(D, H, W)`.
//! Work runs in the caller's rayon pool (`ThreadPool::install` sets the thread count); every
//! output is exact per pixel (no reduction), so 1 and N threads give the same bits.
//!
//! ```
//! use ndarray::{arr2, IxDyn};
//! use segloss_distance::{edt, label, EdtOptions};
//!
//! let mask = arr2(&[[0u8, 1, 1, 1], [0, 1, 1, 1], [0, 0, 0, 0]]).into_dyn();
//! let d = edt(mask.view(), &EdtOptions::default()).unwrap();
//! assert_eq!(d[IxDyn(&[0, 3])], 2.0); // nearest zero pixel: (2, 3)
//! assert_eq!(d[IxDyn(&[1, 2])], 1.0); // (2, 2) is one step below
//! let (labels, n) = label(mask.view(), None).unwrap();
//! assert_eq!((n, labels[IxDyn(&[1, 2])]), (1, 1));
//! ```
#![warn(missing_docs)]

pub mod boundary;
mod engine;
mod field;
pub mod hausdorff_dt;
mod label;
mod line;
mod two_sided;
mod unet;
mod values;

pub use boundary::{boundary_map, Boundary, BoundaryConfig};
pub use field::keys::{Channels, IncludeBackground, Spacing};
pub use hausdorff_dt::{HausdorffDt, HausdorffDtConfig};
pub use label::label;
pub use unet::{unet_weights_from_instances, unet_weights_from_mask, ClassWeights, UnetWeightConfig, TERM_TOLERANCE};
pub use values::{LabelValue, MaskValue};

use ndarray::{ArrayD, ArrayViewD, IxDyn};
use segloss_core::{LossDecl, LossError, Result};

/// The losses of this family, in catalogue order: `boundary` and `hausdorff_dt`.
pub const LOSSES: &[LossDecl] = &[BoundaryConfig::DECL, HausdorffDtConfig::DECL];

/// Options of [`edt`].
///
/// `Default` is unit spacing and non-squared output.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EdtOptions {
    /// Distance between pixel centres along each axis (`sampling` in scipy), one finite positive
    /// value per axis of the mask; `None` is 1 on every axis.
    pub spacing: Option<Vec<f64>>,
    /// Return the squared distances instead of the distances.
    pub squared: bool,
}

/// Exact Euclidean distance transform: for every nonzero pixel, the distance to the nearest zero
/// pixel; 0 on zero pixels.
///
/// `d(x) = min over y with mask(y) == 0 of sqrt(sum_i ((x_i - y_i) * spacing_i)^2)`
/// (`d(x)^2` if `opts.squared`). Anchor: scipy `ndimage.distance_transform_edt(mask, sampling =
/// spacing)`. A mask without any zero pixel gives `+inf` on every pixel (scipy returns
/// meaningless finite values there). "Nonzero" is [`MaskValue::is_foreground`]: for `f32`,
/// NaN counts as nonzero.
///
/// Algorithm: separable and linear in the number of pixels. The first axis is a forward and a
/// backward sweep counting the steps to the nearest zero in each column (integers); each further
/// axis is the lower envelope of parabolas of Felzenszwalb and Huttenlocher (2012, "Distance
/// transforms of sampled functions"), on squared distances in `f64`, the last one writing the
/// output. Pixels already within one step of a zero cut every line into independent runs (no
/// site beyond them can be nearer); runs of up to 64 pixels are solved by a branch-free
/// exhaustive search instead, which gives the same bits and vectorizes (linear time still: at
/// most 66 candidates per pixel). The envelope keeps each intersection as a fraction and compares by
/// cross-multiplication: with unit spacing every squared distance, numerator and denominator is
/// an integer and every product stays below 2^53 for lines up to 2^16 pixels, so every decision
/// is exact and the result is the `f32` rounding of the `f64` square root of the exact integer,
/// bit for bit what a brute-force search gives. With spacing, squared distances are sums of
/// `(steps * spacing)^2` in `f64`, summed in axis order as a brute force summing in the same
/// order, which it matches to the last bit except at exact or near ties (tested to 2 ulp).
///
/// Memory: the output array and per-task line buffers (2D) or slice buffers (3D) only (the
/// integer counts of the first pass are kept in the output buffer until each line or slice is
/// finished).
///
/// Parallel over strips of columns (first axis), over rows (2D) and over slices (3D), in the
/// current rayon pool.
///
/// Errors: rank other than 2 or 3 ([`LossError::InvalidShape`]), an empty array
/// ([`LossError::Empty`]), `spacing` of the wrong length, non-finite or not positive
/// ([`LossError::InvalidConfig`] with key `spacing`).
pub fn edt<T: MaskValue>(mask: ArrayViewD<'_, T>, opts: &EdtOptions) -> Result<ArrayD<f32>> {
    let shape = mask.shape().to_vec();
    check_rank_and_size("mask", &shape)?;
    let spacing = resolve_spacing(opts.spacing.as_deref(), &shape)?;
    let data = segloss_core::input::contiguous(&mask);
    let data: &[T] = &data;
    let mut out = vec![0.0f32; data.len()];
    engine::squared_edt(data, &shape, &spacing, &mut out, opts.squared);
    ArrayD::from_shape_vec(IxDyn(&shape), out).map_err(|e| LossError::InvalidShape {
        name: "mask",
        shape: shape.clone(),
        reason: format!("internal shape error: {e}"),
    })
}

/// Rank 2 or 3 and no zero-length axis.
pub(crate) fn check_rank_and_size(name: &'static str, shape: &[usize]) -> Result<()> {
    if shape.len() != 2 && shape.len() != 3 {
        return Err(LossError::InvalidShape {
            name,
            shape: shape.to_vec(),
            reason: format!("expected a 2D (H, W) or 3D (D, H, W) array, got rank {}", shape.len()),
        });
    }
    if shape.contains(&0) {
        return Err(LossError::Empty { name, shape: shape.to_vec() });
    }
    Ok(())
}

fn fmt_list(v: &[f64]) -> String {
    let parts: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

/// The spacing per axis, validated (finite, positive, one per axis).
fn resolve_spacing(spacing: Option<&[f64]>, shape: &[usize]) -> Result<Vec<f64>> {
    let Some(sp) = spacing else { return Ok(vec![1.0; shape.len()]) };
    if sp.len() != shape.len() {
        return Err(LossError::config(
            "spacing",
            fmt_list(sp),
            format!("expected {} values, one per axis of the mask of shape {}", shape.len(), segloss_core::error::fmt_shape(shape)),
        ));
    }
    if let Some((axis, v)) = sp.iter().enumerate().find(|(_, v)| !(v.is_finite() && **v > 0.0)) {
        return Err(LossError::config("spacing", fmt_list(sp), format!("spacing[{axis}] = {v}: every value must be finite and > 0")));
    }
    Ok(sp.to_vec())
}

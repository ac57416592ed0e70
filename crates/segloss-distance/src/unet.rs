//! U-Net weight maps (Ronneberger et al. 2015, eq. 2).

use crate::check_rank_and_size;
use crate::engine;
use crate::label::{dims3, label_slice, resolve_connectivity};
use crate::values::{LabelValue, MaskValue};
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use rayon::prelude::*;
use segloss_core::error::unravel;
use segloss_core::{LossError, Result};
use std::collections::HashMap;

/// Largest value of the border term `w0 exp(-(d1 + d2)^2 / (2 sigma^2))` that is dropped: the
/// term is computed exactly wherever it can exceed this, and set to 0 elsewhere, so the map is
/// within `TERM_TOLERANCE` (plus `f32` rounding) of the exact one.
pub const TERM_TOLERANCE: f64 = 1e-4;

/// Squared-distance elements computed per group of objects before merging: the per-object crops
/// of one group hold at most this many `f32` (32 MiB), or one object's box if it is larger.
const GROUP_BUDGET: usize = 1 << 23;

/// Image rows per parallel task of the merge and output passes.
const BAND_ROWS: usize = 16;

/// The class-balancing term `w_c` of the U-Net weight map.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum ClassWeights {
    /// `w_c = n / (2 n_c)` for the background pixels (`n_c` = their count) and for the object
    /// pixels (`n_c` = theirs), `n` the pixel count: both classes then carry the same total
    /// weight (scikit-learn's `class_weight="balanced"` with two classes). A class with no pixel
    /// weighs nothing, so an image without objects is 0.5 everywhere. The default.
    #[default]
    Balanced,
    /// `[a, b]`: `a` on background pixels, `b` on object pixels (both finite and >= 0).
    Fixed(f32, f32),
}

/// Configuration of the U-Net weight map (`docs/LOSSES.md`, `unet_weights`).
///
/// Defaults (Ronneberger et al. 2015): `w0 = 10`, `sigma = 5` pixels, balanced class weights,
/// connectivity 4 in 2D and 6 in 3D (used only by [`unet_weights_from_mask`]).
#[derive(Debug, Clone, PartialEq)]
pub struct UnetWeightConfig {
    /// Amplitude of the border term, finite and >= 0 (default 10).
    pub w0: f32,
    /// Width of the border term in pixels, finite and > 0 (default 5).
    pub sigma: f32,
    /// The class-balancing term (default [`ClassWeights::Balanced`]).
    pub class_weights: ClassWeights,
    /// Connectivity of the components of a binary mask: `None` (4 in 2D, 6 in 3D), 4 or 8 in 2D,
    /// 6 or 26 in 3D. Validated also for instance labels, where it is otherwise unused.
    pub connectivity: Option<u32>,
}

impl Default for UnetWeightConfig {
    fn default() -> Self {
        UnetWeightConfig { w0: 10.0, sigma: 5.0, class_weights: ClassWeights::Balanced, connectivity: None }
    }
}

impl UnetWeightConfig {
    /// Checks every field; returns the resolved connectivity for `rank`.
    fn validate(&self, rank: usize) -> Result<u32> {
        if !(self.w0.is_finite() && self.w0 >= 0.0) {
            return Err(LossError::config("w0", self.w0, "expected a finite value >= 0"));
        }
        if !(self.sigma.is_finite() && self.sigma > 0.0) {
            return Err(LossError::config("sigma", self.sigma, "expected a finite value > 0 (pixels)"));
        }
        if let ClassWeights::Fixed(a, b) = self.class_weights {
            if !(a.is_finite() && a >= 0.0 && b.is_finite() && b >= 0.0) {
                return Err(LossError::config("class_weights", format!("[{a}, {b}]"), "expected `balanced` or two finite values >= 0"));
            }
        }
        resolve_connectivity(self.connectivity, rank)
    }
}

/// U-Net weight map of an instance-label image: 0 is background, every other value one object.
///
/// `w(x) = w_c(x) + w0 exp(-(d1(x) + d2(x))^2 / (2 sigma^2))` on background pixels and
/// `w(x) = w_c(x)` on object pixels, `d1`, `d2` the Euclidean distances (in pixels) to the
/// nearest and the second-nearest object; with fewer than two objects the exponential term is 0.
/// `w_c` is [`ClassWeights`]. Ronneberger, Fischer, Brox 2015, "U-Net: Convolutional Networks
/// for Biomedical Image Segmentation", eq. 2. Anchor: the per-object construction `d_k = scipy
/// ndimage.distance_transform_edt(labels != k)`, `d1`, `d2` the two smallest `d_k`, within 1e-3
/// (in fact within [`TERM_TOLERANCE`] plus `f32` rounding).
///
/// Method, and why: the term exceeds [`TERM_TOLERANCE`] only where `d1 + d2 < R` with
/// `R = sigma sqrt(2 ln(w0 / TERM_TOLERANCE))` (24 pixels at the defaults), hence only where both
/// objects lie within `R`. Each object's exact distance ([`crate::edt`]'s engine) is therefore
/// computed only inside its bounding box grown by `ceil(R)` on every side: the box holds every
/// pixel of the object, so the distance there is exact, and a pixel outside it is more than `R`
/// away from the object. Each pixel keeps the two smallest distances over the boxes that hold
/// it; a pixel in fewer than two boxes has `d2 > R` and its term, below the tolerance, is set to
/// 0. The cost is linear in the image plus the total area of the grown boxes, never one
/// full-image transform per object (unless an object spans the image); objects run in parallel,
/// in groups whose crops hold at most 2^23 values. A single separable pass carrying the two
/// nearest distinct labels would also be exact, but its second-nearest envelope is not the
/// parabola envelope of one function, so it loses the linear-time transform.
///
/// Errors: rank other than 2 or 3 ([`LossError::InvalidShape`]), an empty array
/// ([`LossError::Empty`]), a negative label ([`LossError::LabelOutOfRange`]), `w0` < 0 or not
/// finite, `sigma` <= 0 or not finite, fixed class weights negative or not finite, a bad
/// `connectivity` ([`LossError::InvalidConfig`] naming the key).
pub fn unet_weights_from_instances<T: LabelValue>(labels: ArrayViewD<'_, T>, cfg: &UnetWeightConfig) -> Result<ArrayD<f32>> {
    let shape = labels.shape().to_vec();
    check_rank_and_size("labels", &shape)?;
    cfg.validate(shape.len())?;
    let owned;
    let data: &[T] = match labels.as_slice() {
        Some(s) => s,
        None => {
            owned = labels.iter().copied().collect::<Vec<T>>();
            &owned
        }
    };
    // Compact ids 1..=k in the raster order of each object's first pixel.
    let mut ids = vec![0u32; data.len()];
    let mut map: HashMap<i64, u32> = HashMap::new();
    let mut last: (i64, u32) = (0, 0);
    for (i, (&v, id)) in data.iter().zip(ids.iter_mut()).enumerate() {
        let x = v.to_i64();
        if x == 0 {
            continue;
        }
        if x < 0 {
            return Err(LossError::LabelOutOfRange {
                label: x.to_string(),
                index: unravel(i, &shape),
                expected: "0 (background) or a positive instance id".into(),
            });
        }
        if x != last.0 {
            let next = map.len() as u32 + 1;
            last = (x, *map.entry(x).or_insert(next));
        }
        *id = last.1;
    }
    let out = weights_of_ids(&ids, map.len(), &shape, cfg);
    to_array(out, &shape, "labels")
}

/// U-Net weight map of a binary mask: its connected components ([`crate::label`] with
/// `cfg.connectivity`) are the objects, then as [`unet_weights_from_instances`].
///
/// Errors: as [`unet_weights_from_instances`] (the array is named `mask`).
pub fn unet_weights_from_mask<T: MaskValue>(mask: ArrayViewD<'_, T>, cfg: &UnetWeightConfig) -> Result<ArrayD<f32>> {
    let shape = mask.shape().to_vec();
    check_rank_and_size("mask", &shape)?;
    let conn = cfg.validate(shape.len())?;
    let owned;
    let data: &[T] = match mask.as_slice() {
        Some(s) => s,
        None => {
            owned = mask.iter().copied().collect::<Vec<T>>();
            &owned
        }
    };
    let (ids, k) = label_slice(data, dims3(&shape), conn)?;
    let out = weights_of_ids(&ids, k, &shape, cfg);
    to_array(out, &shape, "mask")
}

fn to_array(out: Vec<f32>, shape: &[usize], name: &'static str) -> Result<ArrayD<f32>> {
    ArrayD::from_shape_vec(IxDyn(shape), out).map_err(|e| LossError::InvalidShape {
        name,
        shape: shape.to_vec(),
        reason: format!("internal shape error: {e}"),
    })
}

/// A half-open box `[lo, hi)` in `[d, h, w]` coordinates.
#[derive(Clone, Copy)]
struct Bbox {
    lo: [usize; 3],
    hi: [usize; 3],
}

impl Bbox {
    fn len(&self) -> usize {
        (0..3).map(|a| self.hi[a] - self.lo[a]).product()
    }
}

/// The weight map of compact ids (0 background, `1..=k` objects), validated config.
fn weights_of_ids(ids: &[u32], k: usize, shape: &[usize], cfg: &UnetWeightConfig) -> Vec<f32> {
    weights_with_budget(ids, k, shape, cfg, GROUP_BUDGET)
}

/// [`weights_of_ids`] with objects processed in groups of at most `budget` crop elements.
fn weights_with_budget(ids: &[u32], k: usize, shape: &[usize], cfg: &UnetWeightConfig, budget: usize) -> Vec<f32> {
    let dims = dims3(shape);
    let n = ids.len();
    let n_obj = ids.iter().filter(|&&x| x != 0).count();
    let n_bg = n - n_obj;
    let (wb, wo) = match cfg.class_weights {
        ClassWeights::Balanced => {
            let half = |c: usize| if c == 0 { 0.0 } else { n as f64 / (2.0 * c as f64) };
            (half(n_bg), half(n_obj))
        }
        ClassWeights::Fixed(a, b) => (a as f64, b as f64),
    };
    let w0 = cfg.w0 as f64;
    let sigma = cfg.sigma as f64;
    let row_len = dims[2];
    let mut out = vec![0.0f32; n];

    if k < 2 || w0 <= TERM_TOLERANCE {
        out.par_chunks_mut(row_len * BAND_ROWS).zip(ids.par_chunks(row_len * BAND_ROWS)).for_each(|(o, l)| {
            for (o, &l) in o.iter_mut().zip(l) {
                *o = (if l != 0 { wo } else { wb }) as f32;
            }
        });
        return out;
    }

    let reach = sigma * (2.0 * (w0 / TERM_TOLERANCE).ln()).sqrt();
    let boxes = grown_boxes(ids, dims, k, reach);

    // Two smallest squared distances per pixel.
    let mut best1 = vec![f32::INFINITY; n];
    let mut best2 = vec![f32::INFINITY; n];
    let mut start = 0;
    while start < k {
        let mut end = start;
        let mut total = 0usize;
        while end < k && (end == start || total + boxes[end].len() <= budget) {
            total += boxes[end].len();
            end += 1;
        }
        let crops: Vec<Vec<f32>> =
            (start..end).into_par_iter().map(|obj| crop_sq_distance(ids, dims, shape.len(), &boxes[obj], obj as u32 + 1)).collect();
        merge(&mut best1, &mut best2, dims, &boxes[start..end], &crops);
        start = end;
    }

    let two_s2 = 2.0 * sigma * sigma;
    let chunk = row_len * BAND_ROWS;
    out.par_chunks_mut(chunk).zip(ids.par_chunks(chunk)).zip(best1.par_chunks(chunk).zip(best2.par_chunks(chunk))).for_each(
        |((o, l), (b1, b2))| {
            for i in 0..o.len() {
                o[i] = if l[i] != 0 {
                    wo as f32
                } else if b2[i].is_finite() {
                    let s = (b1[i] as f64).sqrt() + (b2[i] as f64).sqrt();
                    (wb + w0 * (-(s * s) / two_s2).exp()) as f32
                } else {
                    wb as f32
                };
            }
        },
    );
    out
}

/// Bounding box of each object grown by `ceil(reach)` on every side, clipped to the image.
fn grown_boxes(ids: &[u32], dims: [usize; 3], k: usize, reach: f64) -> Vec<Bbox> {
    let [d, h, w] = dims;
    let mut boxes = vec![Bbox { lo: [usize::MAX; 3], hi: [0; 3] }; k];
    for z in 0..d {
        for y in 0..h {
            let row = &ids[(z * h + y) * w..(z * h + y + 1) * w];
            for (x, &id) in row.iter().enumerate() {
                if id != 0 {
                    let b = &mut boxes[id as usize - 1];
                    for (a, c) in [z, y, x].into_iter().enumerate() {
                        b.lo[a] = b.lo[a].min(c);
                        b.hi[a] = b.hi[a].max(c + 1);
                    }
                }
            }
        }
    }
    // `reach` is finite (w0, sigma finite); clamp so huge sigmas do not overflow.
    let r = reach.ceil().min(usize::MAX as f64 / 4.0) as usize;
    for b in boxes.iter_mut() {
        for (a, &size) in dims.iter().enumerate() {
            b.lo[a] = b.lo[a].saturating_sub(r);
            b.hi[a] = b.hi[a].saturating_add(r).min(size);
        }
    }
    boxes
}

/// Squared distance to object `id` on its box (row-major over the box), as `f32`: exact below
/// 2^24, and within a relative 2^-24 above, far below what the term can resolve.
fn crop_sq_distance(ids: &[u32], dims: [usize; 3], rank: usize, b: &Bbox, id: u32) -> Vec<f32> {
    let [_, h, w] = dims;
    let ext = [b.hi[0] - b.lo[0], b.hi[1] - b.lo[1], b.hi[2] - b.lo[2]];
    let mut mask = Vec::with_capacity(b.len());
    for z in b.lo[0]..b.hi[0] {
        for y in b.lo[1]..b.hi[1] {
            let base = (z * h + y) * w;
            mask.extend(ids[base + b.lo[2]..base + b.hi[2]].iter().map(|&l| l != id));
        }
    }
    let mut out = vec![0.0f32; mask.len()];
    let (shape, spacing): (&[usize], &[f64]) = if rank == 2 { (&ext[1..], &[1.0, 1.0]) } else { (&ext[..], &[1.0, 1.0, 1.0]) };
    engine::squared_edt(&mask, shape, spacing, &mut out, true);
    out
}

/// Folds the crops of one group into the two smallest squared distances per pixel, in parallel
/// over bands of image rows. The two smallest of a multiset do not depend on the order of the
/// updates, so the result does not depend on the thread count.
fn merge(best1: &mut [f32], best2: &mut [f32], dims: [usize; 3], boxes: &[Bbox], crops: &[Vec<f32>]) {
    let [_, h, w] = dims;
    let chunk = w * BAND_ROWS;
    best1.par_chunks_mut(chunk).zip(best2.par_chunks_mut(chunk)).enumerate().for_each(|(band, (b1, b2))| {
        let r0 = band * BAND_ROWS;
        let r1 = r0 + b1.len() / w;
        for (b, crop) in boxes.iter().zip(crops) {
            let cw = b.hi[2] - b.lo[2];
            let ch = b.hi[1] - b.lo[1];
            for r in r0..r1 {
                let (z, y) = (r / h, r % h);
                if z < b.lo[0] || z >= b.hi[0] || y < b.lo[1] || y >= b.hi[1] {
                    continue;
                }
                let src = &crop[((z - b.lo[0]) * ch + (y - b.lo[1])) * cw..][..cw];
                let off = (r - r0) * w + b.lo[2];
                let (d1, d2) = (&mut b1[off..off + cw], &mut b2[off..off + cw]);
                for ((p1, p2), &v) in d1.iter_mut().zip(d2.iter_mut()).zip(src) {
                    if v < *p1 {
                        *p2 = *p1;
                        *p1 = v;
                    } else if v < *p2 {
                        *p2 = v;
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Folding the objects one group at a time gives the same bits as all at once: the two
    /// smallest of a multiset do not depend on the order in which it is scanned.
    #[test]
    fn groups_do_not_change_the_result() {
        for shape in [vec![60usize, 70], vec![12, 20, 24]] {
            let n: usize = shape.iter().product();
            let dims = dims3(&shape);
            // Blocks of ids on a grid, 3 px apart, ids 1..=k in raster order of their corner.
            let mut ids = vec![0u32; n];
            let mut k = 0u32;
            let mut first = std::collections::HashMap::new();
            for z in 0..dims[0] {
                for y in 0..dims[1] {
                    for x in 0..dims[2] {
                        if (y / 4) % 2 == 0 && (x / 5) % 2 == 0 && y % 4 < 3 && x % 5 < 4 {
                            let key = (z / 3, y / 8, x / 10);
                            let id = *first.entry(key).or_insert_with(|| {
                                k += 1;
                                k
                            });
                            ids[(z * dims[1] + y) * dims[2] + x] = id;
                        }
                    }
                }
            }
            assert!(k > 5);
            let cfg = UnetWeightConfig::default();
            let all = weights_with_budget(&ids, k as usize, &shape, &cfg, usize::MAX);
            for budget in [1, 500, 5000] {
                let grouped = weights_with_budget(&ids, k as usize, &shape, &cfg, budget);
                assert!(all.iter().zip(&grouped).all(|(a, b)| a.to_bits() == b.to_bits()), "budget {budget}");
            }
        }
    }
}

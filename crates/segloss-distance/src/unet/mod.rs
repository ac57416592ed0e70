//! U-Net weight maps (Ronneberger et al. 2015, eq. 2).

mod boxes;
mod sweep;

use crate::check_rank_and_size;
use crate::label::{dims3, label_slice, resolve_connectivity};
use crate::values::{LabelValue, MaskValue};
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use rayon::prelude::*;
use segloss_core::error::unravel;
use segloss_core::{LossError, Result};
use std::collections::HashMap;

/// Largest value of the border term `w0 exp(-(d1 + d2)^2 / (2 sigma^2))` that is dropped: the
/// term is computed exactly where `d1 + d2 < R = sigma sqrt(2 ln(w0 / TERM_TOLERANCE))`, where it
/// can exceed this, and set to 0 elsewhere, so the map is within `TERM_TOLERANCE` (plus `f32`
/// rounding) of the exact one.
pub const TERM_TOLERANCE: f64 = 1e-4;

/// Image rows per parallel task of the passes.
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
/// Cutoff and error bound: the term is computed exactly where `d1 + d2 < R`,
/// `R = sigma sqrt(2 ln(w0 / TERM_TOLERANCE))` (24.3 pixels at the defaults), and set to 0
/// elsewhere, where its exact value is `w0 exp(-(d1 + d2)^2 / (2 sigma^2)) <= w0 exp(-R^2 /
/// (2 sigma^2)) = TERM_TOLERANCE`. So the map is within [`TERM_TOLERANCE`] (1e-4) plus the
/// `f32` rounding of the output (relative 2^-24) of the exact one, inside the 1e-3 contract.
///
/// Method, and why: either of two constructions, both exact wherever `d1 + d2 < R` (both
/// objects lie within `R`) and both giving elsewhere distances of real objects, never below the
/// true ones, so that the term is dropped exactly where `d1 + d2 >= R` and the two give the same
/// bits (while `R^2 < 2^24`; beyond, within `f32` rounding):
/// - boxes: each object's exact distance ([`crate::edt`]'s engine) inside its bounding box
///   grown by `ceil(R)`, where it is exact and outside which the object is farther than `R`;
///   each pixel keeps the two smallest over the boxes that hold it. Cost: the image plus the
///   total volume of the grown boxes, objects in parallel in groups of at most 2^23 values.
///   Fast for a few objects; quadratic when every pixel is its own object (`objects x (2R)^3`);
/// - sweeps: a separable transform carrying, per pixel, `d1^2`, the label of that nearest
///   object pixel, and `d2^2` to the nearest object pixel of another label (the second-nearest
///   object). Along rows two scans give it exactly; each further axis offers a pixel the entries
///   of its line at offset `t` (each plus `t^2`): the nearest is the minimum, the second the
///   minimum over the entries whose label is not the new nearest one, or the second entries of
///   those whose label is (which then cover every other label). Only offsets with `t^2 <= R^2`
///   matter, and a scan ends once nothing can change (every later entry is at least `t^2`: once
///   `d2^2 <= t^2`; in the last pass also once `d1 + d2 >= R` is certain, `2t >= R` with nothing
///   nearer than `t`, or `d1 + t >= R`). Squared distances are integers (`u32`, `u64` when `R^2`
///   does not fit), every comparison exact. Cost: at most `2R + 1` row operations per pixel and
///   axis after the first, whatever the number of objects, and a step or two in densely
///   labelled images.
///
/// The boxes run while their total volume is at most `1 + R / 12` times the image (3 at the
/// defaults, about where the two cost the same), the sweeps otherwise: so the cost is linear in
/// the pixels, times at most `1 + R` per axis, whatever the number of objects. Every output row
/// is computed on its own in a fixed order: 1 and N threads give the same bits.
///
/// Errors: rank other than 2 or 3 ([`LossError::InvalidShape`]), an empty array
/// ([`LossError::Empty`]), a negative label ([`LossError::LabelOutOfRange`]), `w0` < 0 or not
/// finite, `sigma` <= 0 or not finite, fixed class weights negative or not finite, a bad
/// `connectivity` ([`LossError::InvalidConfig`] naming the key).
pub fn unet_weights_from_instances<T: LabelValue>(labels: ArrayViewD<'_, T>, cfg: &UnetWeightConfig) -> Result<ArrayD<f32>> {
    let shape = labels.shape().to_vec();
    check_rank_and_size("labels", &shape)?;
    cfg.validate(shape.len())?;
    let data = segloss_core::input::contiguous(&labels);
    let data: &[T] = &data;
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
    let data = segloss_core::input::contiguous(&mask);
    let data: &[T] = &data;
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

/// The shared part of both constructions.
struct Params {
    /// `[d, h, w]`, `d = 1` in 2D.
    dims: [usize; 3],
    rank: usize,
    /// Class weights of background and object pixels.
    wb: f64,
    wo: f64,
    w0: f64,
    /// `2 sigma^2`.
    two_s2: f64,
    /// The cutoff `R = sigma sqrt(2 ln(w0 / TERM_TOLERANCE))`.
    reach: f64,
    /// `floor(R^2)`, at most the largest squared distance in the image.
    r2: u64,
}

impl Params {
    /// The weight of a pixel from the squared distances to its nearest and second-nearest
    /// objects as found (`None`: none found): the term where `d1 + d2 < R`, else 0. Both
    /// constructions find the exact distances wherever `d1 + d2 < R`, and elsewhere distances
    /// of real objects, at least the true ones, so the term is dropped exactly where
    /// `d1 + d2 >= R`, whichever construction ran.
    fn weight(&self, object: bool, d1: Option<f64>, d2: Option<f64>) -> f32 {
        if object {
            return self.wo as f32;
        }
        if let (Some(a), Some(b)) = (d1, d2) {
            let s = a.sqrt() + b.sqrt();
            if s < self.reach {
                return (self.wb + self.w0 * (-(s * s) / self.two_s2).exp()) as f32;
            }
        }
        self.wb as f32
    }
}

/// Which construction computes the map.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Method {
    /// By the estimated cost (see [`weights_of_ids`]).
    Auto,
    #[cfg_attr(not(test), allow(dead_code))]
    Boxes,
    #[cfg_attr(not(test), allow(dead_code))]
    Sweep,
}

/// Knobs of [`weights_with`] that do not change the result (the tests check it).
#[derive(Debug, Clone, Copy)]
struct Tuning {
    method: Method,
    /// Columns per segment of the sweeps.
    seg: usize,
    /// Sweeps in `u64` even when `u32` holds the cutoff.
    wide: bool,
    /// Crop elements per group of objects of the boxes.
    budget: usize,
}

use sweep::SEGMENT;

const DEFAULT_TUNING: Tuning = Tuning { method: Method::Auto, seg: SEGMENT, wide: false, budget: boxes::GROUP_BUDGET };

/// The boxes are chosen while their total volume is at most `1 + R / BOX_VOLUME_PER_REACH`
/// times the image (3 at the defaults): about where the two cost the same, in 2D and 3D, with
/// objects of a pixel to a few tens and `R` from 7 to 73 (the sweeps cost up to `R` row steps
/// per pixel, the boxes their volume, which grows faster with `R`). Measured on 2 cores at the
/// defaults: 60 cells in 512 x 512 (volume 1.2 times the image), boxes 1.9 ms, sweeps 2.9 ms;
/// 150 discs (2.4 times) 3.2 against 3.6 ms; 20 balls in 96^3 (3.8 times) 23 against 23 ms;
/// 1000 small discs (12 times) 11 against 4 ms; 200 small balls in 64^3 (68 times) 92 against
/// 5 ms; at sigma 15 (`R` = 73) the crossing is near 7 times the image, at sigma 1.5 near 1.5.
const BOX_VOLUME_PER_REACH: f64 = 12.0;

/// The largest total volume of the grown boxes for which they are chosen.
fn box_volume_limit(n: usize, reach: f64) -> f64 {
    n as f64 * (1.0 + reach / BOX_VOLUME_PER_REACH)
}

/// The weight map of compact ids (0 background, `1..=k` objects), validated config.
fn weights_of_ids(ids: &[u32], k: usize, shape: &[usize], cfg: &UnetWeightConfig) -> Vec<f32> {
    weights_with(ids, k, shape, cfg, DEFAULT_TUNING)
}

fn weights_with(ids: &[u32], k: usize, shape: &[usize], cfg: &UnetWeightConfig, tuning: Tuning) -> Vec<f32> {
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
    if k < 2 || w0 <= TERM_TOLERANCE || n_bg == 0 {
        let chunk = dims[2] * BAND_ROWS;
        let mut out = vec![0.0f32; n];
        out.par_chunks_mut(chunk).zip(ids.par_chunks(chunk)).for_each(|(o, l)| {
            for (o, &l) in o.iter_mut().zip(l) {
                *o = (if l != 0 { wo } else { wb }) as f32;
            }
        });
        return out;
    }
    let reach = sigma * (2.0 * (w0 / TERM_TOLERANCE).ln()).sqrt();
    let max_sq: u64 = dims.iter().map(|&s| (s as u64 - 1).pow(2)).fold(0u64, |a, b| a.saturating_add(b));
    let r2 = ((reach * reach).floor() as u64).min(max_sq);
    let p = Params { dims, rank: shape.len(), wb, wo, w0, two_s2: 2.0 * sigma * sigma, reach, r2 };
    let boxes = match tuning.method {
        Method::Sweep => None,
        Method::Boxes => Some(boxes::grown_boxes(ids, dims, k, reach)),
        Method::Auto => {
            let b = boxes::grown_boxes(ids, dims, k, reach);
            let volume = b.iter().fold(0usize, |a, b| a.saturating_add(b.len()));
            (volume as f64 <= box_volume_limit(n, reach)).then_some(b)
        }
    };
    match boxes {
        Some(b) => boxes::box_weights(ids, &p, &b, tuning.budget),
        None if !tuning.wide && r2 < u32::MAX as u64 => sweep::sweep_weights::<u32>(ids, &p, tuning.seg),
        None => sweep::sweep_weights::<u64>(ids, &p, tuning.seg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Labels of a pseudo-random image: about a third background, object ids from `1..=k`,
    /// so that equal labels recur (objects need not be connected).
    fn random_ids(n: usize, k: u32, seed: u64) -> Vec<u32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let v = (s >> 33) as u32;
                if v.is_multiple_of(3) {
                    0
                } else {
                    1 + v % k
                }
            })
            .collect()
    }

    /// Compact ids 1..=k in order of first appearance, as the public functions make them.
    fn compact(ids: &[u32]) -> (Vec<u32>, usize) {
        let mut map = HashMap::new();
        let out = ids
            .iter()
            .map(|&v| {
                if v == 0 {
                    0
                } else {
                    let next = map.len() as u32 + 1;
                    *map.entry(v).or_insert(next)
                }
            })
            .collect();
        (out, map.len())
    }

    /// Both constructions, either integer width, any segment width and any group budget give
    /// the same bits: the term is exact where d1 + d2 < R and 0 elsewhere, however it is found.
    #[test]
    fn constructions_and_tunings_give_the_same_bits() {
        for shape in [vec![37usize, 70], vec![9, 20, 26], vec![1, 1, 90], vec![4, 1, 30]] {
            let n: usize = shape.iter().product();
            for (k, sigma, holes) in [(2u32, 5.0f32, 5), (7, 2.0, 5), (400, 5.0, 5), (3, 40.0, 5), (50, 3.0, 2)] {
                let raw = random_ids(n, k, k as u64 * 31 + n as u64);
                // Thin the objects out: every `holes`-th id becomes background.
                let raw: Vec<u32> = raw.iter().map(|&v| if v % holes == 1 { 0 } else { v }).collect();
                let (ids, k) = compact(&raw);
                let cfg = UnetWeightConfig { sigma, ..UnetWeightConfig::default() };
                let base = weights_with(&ids, k, &shape, &cfg, Tuning { method: Method::Boxes, ..DEFAULT_TUNING });
                for tuning in [
                    DEFAULT_TUNING,
                    Tuning { method: Method::Boxes, budget: 1, ..DEFAULT_TUNING },
                    Tuning { method: Method::Boxes, budget: 500, ..DEFAULT_TUNING },
                    Tuning { method: Method::Sweep, ..DEFAULT_TUNING },
                    Tuning { method: Method::Sweep, seg: 1, ..DEFAULT_TUNING },
                    Tuning { method: Method::Sweep, seg: 7, ..DEFAULT_TUNING },
                    Tuning { method: Method::Sweep, seg: 1000, ..DEFAULT_TUNING },
                    Tuning { method: Method::Sweep, wide: true, ..DEFAULT_TUNING },
                ] {
                    let other = weights_with(&ids, k, &shape, &cfg, tuning);
                    assert!(base.iter().zip(&other).all(|(a, b)| a.to_bits() == b.to_bits()), "{shape:?} k {k} sigma {sigma} {tuning:?}");
                }
            }
        }
    }

    /// Where the sweeps stop early: a few single-pixel objects (no other object nearby to stop
    /// the scans), at random places, with widths that put `d1 + d2` on both sides of `R` for
    /// many pixels; the boxes, exact there, give the same bits.
    #[test]
    fn sweeps_stop_exactly_at_the_cutoff() {
        let mut s = 99u64;
        let mut next = |m: u64| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 33) % m
        };
        for case in 0..300 {
            let shape: Vec<usize> = if case % 2 == 0 { vec![40, 40] } else { vec![14, 16, 18] };
            let n: usize = shape.iter().product();
            let mut ids = vec![0u32; n];
            let k = 2 + next(3) as usize;
            for id in 1..=k as u32 {
                ids[next(n as u64) as usize] = id;
            }
            let (ids, k) = compact(&ids);
            let cfg =
                UnetWeightConfig { w0: 0.5 + next(200) as f32 / 10.0, sigma: 0.5 + next(60) as f32 / 10.0, ..UnetWeightConfig::default() };
            let boxes = weights_with(&ids, k, &shape, &cfg, Tuning { method: Method::Boxes, ..DEFAULT_TUNING });
            // One column per segment: each pixel stops on its own test, not held open by others.
            for seg in [1, SEGMENT] {
                let sweeps = weights_with(&ids, k, &shape, &cfg, Tuning { method: Method::Sweep, seg, ..DEFAULT_TUNING });
                assert!(boxes.iter().zip(&sweeps).all(|(a, b)| a.to_bits() == b.to_bits()), "case {case} {shape:?} {cfg:?} seg {seg}");
            }
        }
    }

    /// Two single-pixel objects at every offset whose length is near `R`: on many pixels
    /// `d1 + d2` falls just below or just above `R`, with the two objects on other rows and
    /// columns than the pixel, the cases the early stops of the last pass decide.
    #[test]
    fn pairs_near_the_cutoff() {
        for (sigma, rank3) in [(1.3f32, false), (2.1, false), (3.3, false), (1.7, true)] {
            let cfg = UnetWeightConfig { sigma, ..UnetWeightConfig::default() };
            let r = sigma as f64 * (2.0 * (10.0 / TERM_TOLERANCE).ln()).sqrt();
            let m = r.ceil() as i64 + 2;
            let side = 2 * m as usize + 1;
            let shape: Vec<usize> = if rank3 { vec![side; 3] } else { vec![side; 2] };
            let dims = dims3(&shape);
            let at = |z: i64, y: i64, x: i64| ((z as usize * dims[1]) + y as usize) * dims[2] + x as usize;
            let zs: Vec<i64> = if rank3 { (-m..=m).collect() } else { vec![0] };
            for &dz in &zs {
                for dy in -m..=m {
                    for dx in -m..=m {
                        let len = ((dz * dz + dy * dy + dx * dx) as f64).sqrt();
                        if len < r - 2.0 || len > r + 0.5 || (rank3 && (dz + 2 * dy + 4 * dx).rem_euclid(7) != 0) {
                            continue;
                        }
                        let mut ids = vec![0u32; dims.iter().product()];
                        let (z0, y0, x0) = (if rank3 { m } else { 0 }, m, m);
                        ids[at(z0 - dz / 2, y0 - dy / 2, x0 - dx / 2)] = 1;
                        ids[at(z0 - dz / 2 + dz, y0 - dy / 2 + dy, x0 - dx / 2 + dx)] = 2;
                        let boxes = weights_with(&ids, 2, &shape, &cfg, Tuning { method: Method::Boxes, ..DEFAULT_TUNING });
                        for seg in [1, SEGMENT] {
                            let sweeps = weights_with(&ids, 2, &shape, &cfg, Tuning { method: Method::Sweep, seg, ..DEFAULT_TUNING });
                            assert!(
                                boxes.iter().zip(&sweeps).all(|(a, b)| a.to_bits() == b.to_bits()),
                                "sigma {sigma} offset ({dz}, {dy}, {dx}) seg {seg}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// The cost rule: a few cells take the boxes, every pixel its own label the sweeps.
    #[test]
    fn auto_picks_by_box_volume() {
        let shape = [64usize, 64];
        let mut few = vec![0u32; 64 * 64];
        few[10 * 64 + 10] = 1;
        few[40 * 64 + 50] = 2;
        let dims = dims3(&shape);
        let vol = |ids: &[u32], k| boxes::grown_boxes(ids, dims, k, 24.3).iter().map(|b| b.len()).sum::<usize>();
        let limit = box_volume_limit(64 * 64, 24.3);
        assert!((limit / (64.0 * 64.0) - 3.0).abs() < 0.03);
        assert!(vol(&few, 2) as f64 <= limit);
        let mut wide = vec![0u32; 64 * 64];
        wide[..64].fill(1);
        wide[63 * 64..].fill(2);
        assert!(vol(&wide, 2) as f64 <= limit);
        let (every, k) = compact(&(1..=64 * 64).map(|i| if i % 2 == 0 { 0 } else { i }).collect::<Vec<u32>>());
        assert!(vol(&every, k) as f64 > limit);
    }
}

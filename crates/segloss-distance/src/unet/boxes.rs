//! The bounding-box construction: each object's exact distance inside its bounding box grown by
//! the cutoff, the two smallest per pixel. Its cost is linear in the image plus the total volume
//! of the grown boxes, which is small for a few objects and quadratic when every pixel is its own
//! object; [`super::weights_of_ids`] picks it by that volume.

use super::{Params, BAND_ROWS};
use crate::engine;
use rayon::prelude::*;

/// Squared-distance elements computed per group of objects before merging: the per-object crops
/// of one group hold at most this many `f32` (32 MiB), or one object's box if it is larger.
pub(super) const GROUP_BUDGET: usize = 1 << 23;

/// The map by grown bounding boxes (`boxes` from [`grown_boxes`]), objects folded in groups of
/// at most `budget` crop elements. A pixel within `R` of two objects lies in both their boxes,
/// where their distances are exact, so `d1` and `d2` are exact wherever `d1 + d2 < R`; elsewhere
/// the two smallest distances over the boxes that hold it (if any) are those of real objects,
/// at least the true ones, and [`Params::weight`] drops the term as the sweep does: the two
/// constructions give the same bits (while `R^2 < 2^24`, where the `f32` squared distances are
/// exact integers).
pub(super) fn box_weights(ids: &[u32], p: &Params, boxes: &[Bbox], budget: usize) -> Vec<f32> {
    let dims = p.dims;
    let n = ids.len();
    let k = boxes.len();
    let rank = p.rank;
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
            (start..end).into_par_iter().map(|obj| crop_sq_distance(ids, dims, rank, &boxes[obj], obj as u32 + 1)).collect();
        merge(&mut best1, &mut best2, dims, &boxes[start..end], &crops);
        start = end;
    }
    let chunk = dims[2] * BAND_ROWS;
    let mut out = vec![0.0f32; n];
    out.par_chunks_mut(chunk).zip(ids.par_chunks(chunk)).zip(best1.par_chunks(chunk).zip(best2.par_chunks(chunk))).for_each(
        |((o, l), (b1, b2))| {
            for i in 0..o.len() {
                let inf = |v: f32| if v.is_finite() { Some(v as f64) } else { None };
                o[i] = p.weight(l[i] != 0, inf(b1[i]), inf(b2[i]));
            }
        },
    );
    out
}

/// A half-open box `[lo, hi)` in `[d, h, w]` coordinates.
#[derive(Clone, Copy)]
pub(super) struct Bbox {
    lo: [usize; 3],
    hi: [usize; 3],
}

impl Bbox {
    pub(super) fn len(&self) -> usize {
        (0..3).map(|a| self.hi[a] - self.lo[a]).product()
    }
}

/// Bounding box of each object grown by `ceil(reach)` on every side, clipped to the image.
pub(super) fn grown_boxes(ids: &[u32], dims: [usize; 3], k: usize, reach: f64) -> Vec<Bbox> {
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

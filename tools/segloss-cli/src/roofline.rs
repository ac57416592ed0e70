//! `segloss bench --roofline`: the limits a loss is measured against, timed in the same run, on
//! the same data, with the same threads.
//!
//! - The stream: read `pred` and the target and write a gradient of `pred`'s shape, the least
//!   memory traffic any loss with a gradient needs (`grad = pred - target`, or `pred - [label ==
//!   c]` for integer labels, read once per pixel for all the channels of a block).
//! - For the distance maps (`edt`, `unet_weights`): read the mask and write an `f32` map of its
//!   shape ([`mask_stream`]).
//! - For the sorting losses (`lovasz_hinge`, `lovasz_softmax`): a plain LSD radix sort (four
//!   passes of 8 bits) of 32-bit keys, one sort per (image, channel) of `S` keys, the number of
//!   keys these losses sort at most.
//!
//! A loss's *fraction* is the limit's time over the loss's: 1 would be the loss at the speed of
//! the bare memory traffic (or of the bare sort).

use crate::io::OwnedTarget;
use rayon::prelude::*;

/// Pixels per block of the label stream.
const BLOCK: usize = 4096;

/// The stream over `pred` (`shape` = [N, C, *S]) and its target into `grad`.
pub fn stream(pred: &[f32], target: &OwnedTarget, shape: &[usize], grad: &mut [f32]) {
    let n = shape[0].max(1);
    let c = shape.get(1).copied().unwrap_or(1);
    let s = pred.len() / n / c.max(1);
    match target {
        OwnedTarget::F32(t) => {
            let t = t.as_slice().expect("standard layout");
            grad.par_chunks_mut(1 << 16).zip(pred.par_chunks(1 << 16)).zip(t.par_chunks(1 << 16)).for_each(|((g, p), t)| {
                for ((g, &p), &t) in g.iter_mut().zip(p).zip(t) {
                    *g = p - t;
                }
            });
        }
        OwnedTarget::U8(l) => labels_stream(pred, l.as_slice().expect("standard layout"), n, c, s, grad),
        OwnedTarget::I32(l) => labels_stream(pred, l.as_slice().expect("standard layout"), n, c, s, grad),
        OwnedTarget::I64(l) => labels_stream(pred, l.as_slice().expect("standard layout"), n, c, s, grad),
    }
}

fn labels_stream<L: Copy + Sync + Into<i64>>(pred: &[f32], labels: &[L], n: usize, c: usize, s: usize, grad: &mut [f32]) {
    let blocks = s.div_ceil(BLOCK);
    let out = segloss::core::reduce::SharedMut::new(grad);
    (0..n * blocks).into_par_iter().for_each(|b| {
        let (img, j0) = (b / blocks, (b % blocks) * BLOCK);
        let len = BLOCK.min(s - j0);
        let lab = &labels[img * s + j0..img * s + j0 + len];
        for ch in 0..c {
            let base = (img * c + ch) * s + j0;
            // SAFETY: block b writes its own pixels of each channel; blocks are disjoint.
            let g = unsafe { out.slice(base, len) };
            for ((g, &p), &l) in g.iter_mut().zip(&pred[base..base + len]).zip(lab) {
                *g = p - (l.into() == ch as i64) as u8 as f32;
            }
        }
    });
}

/// The stream of the distance maps (`edt`, `unet_weights`): read the mask and write an `f32` map of
/// its shape (`1` where the mask is set, `0` elsewhere), the least memory traffic a map needs.
pub fn mask_stream(mask: &[u8], map: &mut [f32]) {
    map.par_chunks_mut(1 << 16).zip(mask.par_chunks(1 << 16)).for_each(|(o, m)| {
        for (o, &m) in o.iter_mut().zip(m) {
            *o = (m != 0) as u8 as f32;
        }
    });
}

/// Sorts each run of `s` keys of `keys` (`scratch` as long), in parallel over the runs.
pub fn sort_problems(keys: &mut [u32], scratch: &mut [u32], s: usize) {
    keys.par_chunks_mut(s.max(1)).zip(scratch.par_chunks_mut(s.max(1))).for_each(|(k, t)| radix_sort(k, t));
}

/// LSD radix sort of `keys` in four passes of 8 bits (`tmp` as long as `keys`).
pub fn radix_sort(keys: &mut [u32], tmp: &mut [u32]) {
    let (mut src, mut dst) = (keys, tmp);
    for shift in [0u32, 8, 16, 24] {
        let mut count = [0usize; 257];
        for &k in src.iter() {
            count[((k >> shift) & 0xff) as usize + 1] += 1;
        }
        for i in 0..256 {
            count[i + 1] += count[i];
        }
        for &k in src.iter() {
            let d = &mut count[((k >> shift) & 0xff) as usize];
            dst[*d] = k;
            *d += 1;
        }
        std::mem::swap(&mut src, &mut dst);
    }
    // four passes: the sorted keys are back in `keys`
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};

    #[test]
    fn mask_stream_writes_the_mask_as_ones() {
        let mask: Vec<u8> = (0..200_000).map(|i| (i % 7 == 3 || i % 11 == 0) as u8 * (1 + (i % 3) as u8)).collect();
        let mut map = vec![f32::NAN; mask.len()];
        mask_stream(&mask, &mut map);
        assert!(mask.iter().zip(&map).all(|(&m, &o)| o == if m != 0 { 1.0 } else { 0.0 }));
    }

    #[test]
    fn radix_sort_sorts() {
        let mut s: u32 = 12345;
        let mut keys: Vec<u32> = (0..5000)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                s
            })
            .collect();
        let mut want = keys.clone();
        want.sort_unstable();
        let mut tmp = vec![0; keys.len()];
        radix_sort(&mut keys, &mut tmp);
        assert_eq!(keys, want);
        let mut runs = vec![3u32, 1, 2, 9, 8, 7];
        sort_problems(&mut runs, &mut [0; 6], 3);
        assert_eq!(runs, [1, 2, 3, 7, 8, 9]);
    }

    #[test]
    fn stream_writes_pred_minus_target() {
        let pred: Vec<f32> = (0..2 * 3 * 5).map(|i| i as f32).collect();
        let labels = OwnedTarget::U8(ArrayD::from_shape_vec(IxDyn(&[2, 5]), vec![0, 1, 2, 0, 1, 2, 2, 1, 0, 0]).unwrap());
        let mut g = vec![0.0; 30];
        stream(&pred, &labels, &[2, 3, 5], &mut g);
        for img in 0..2 {
            for c in 0..3 {
                for k in 0..5 {
                    let i = (img * 3 + c) * 5 + k;
                    let l = [[0, 1, 2, 0, 1], [2, 2, 1, 0, 0]][img][k];
                    assert_eq!(g[i], pred[i] - (l == c) as u8 as f32);
                }
            }
        }
        let t = OwnedTarget::F32(ArrayD::from_shape_vec(IxDyn(&[1, 1, 4]), vec![1.0, 0.0, 1.0, 0.0]).unwrap());
        let mut g = vec![0.0; 4];
        stream(&[0.5, 0.5, 2.0, 3.0], &t, &[1, 1, 4], &mut g);
        assert_eq!(g, [-0.5, 0.5, 1.0, 3.0]);
    }
}

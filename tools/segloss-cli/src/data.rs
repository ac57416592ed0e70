//! Deterministic synthetic data: the random inputs of `bench` and the cell images of `demo`.

use crate::io::OwnedTarget;
use ndarray::{Array3, ArrayD, IxDyn};

pub use segloss::core::rng::Rng;

/// Bench data: `pred` of `shape` (`[N, C, *S]`) and its target. For `C = 1`, float targets of
/// pred's shape with 30% positives; otherwise integer labels `[N, *S]` in `[0, C)` (uint8 when
/// `C <= 256`, int32 otherwise). The logits lean toward the target (a margin of 1) plus N(0, 1)
/// noise, like a half-trained model.
pub fn bench_batch(shape: &[usize], seed: u64) -> (ArrayD<f32>, OwnedTarget) {
    let mut rng = Rng::new(seed);
    let len: usize = shape.iter().product();
    let c = shape.get(1).copied().unwrap_or(1);
    if c == 1 || shape.len() < 2 {
        let t: Vec<f32> = (0..len).map(|_| (rng.next_f32() < 0.3) as u8 as f32).collect();
        let p: Vec<f32> = t.iter().map(|&y| (2.0 * y - 1.0) + rng.normal()).collect();
        let pred = ArrayD::from_shape_vec(IxDyn(shape), p).expect("shape");
        let target = ArrayD::from_shape_vec(IxDyn(shape), t).expect("shape");
        return (pred, OwnedTarget::F32(target));
    }
    let n = shape[0];
    let s: usize = shape[2..].iter().product();
    let labels: Vec<usize> = (0..n * s).map(|_| rng.below(c)).collect();
    let mut p = vec![0.0f32; len];
    for i in 0..n {
        for ch in 0..c {
            for k in 0..s {
                let y = (labels[i * s + k] == ch) as u8 as f32;
                p[(i * c + ch) * s + k] = 2.0 * y + rng.normal();
            }
        }
    }
    let mut lshape = vec![n];
    lshape.extend(&shape[2..]);
    let pred = ArrayD::from_shape_vec(IxDyn(shape), p).expect("shape");
    let target = if c <= 256 {
        OwnedTarget::U8(ArrayD::from_shape_vec(IxDyn(&lshape), labels.iter().map(|&l| l as u8).collect()).expect("shape"))
    } else {
        OwnedTarget::I32(ArrayD::from_shape_vec(IxDyn(&lshape), labels.iter().map(|&l| l as i32).collect()).expect("shape"))
    };
    (pred, target)
}

/// A deterministic batch of touching cells.
#[derive(Debug, Clone)]
pub struct Cells {
    /// Instance labels `[N, H, W]`: 0 background, 1.. one id per cell.
    pub instances: Array3<i32>,
    /// The binary mask `[N, 1, H, W]` as float 0/1.
    pub mask: ArrayD<f32>,
    /// Three-class labels `[N, H, W]`: 0 background, 1 cell interior, 2 cell border (a pixel with a
    /// 4-neighbour outside its cell).
    pub labels: ArrayD<u8>,
    /// Binary logits `[N, 1, H, W]`.
    pub logits: ArrayD<f32>,
    /// Three-class logits `[N, 3, H, W]`.
    pub class_logits: ArrayD<f32>,
}

/// `n` images of `h` x `w` pixels of discs and ellipses on a jittered grid, sized so that
/// neighbours touch; the logits are the target with a margin of 2.5, blurred edges and noise.
pub fn cells(n: usize, h: usize, w: usize, seed: u64) -> Cells {
    let mut rng = Rng::new(seed);
    let mut inst = Array3::<i32>::zeros((n, h, w));
    let step = 36.0f32;
    for img in 0..n {
        let mut id = 0;
        let rows = (h as f32 / step).ceil() as usize;
        let cols = (w as f32 / step).ceil() as usize;
        for gy in 0..rows {
            for gx in 0..cols {
                if rng.next_f32() < 0.15 {
                    continue;
                }
                id += 1;
                let cy = (gy as f32 + 0.5) * step + (rng.next_f32() - 0.5) * 10.0;
                let cx = (gx as f32 + 0.5) * step + (rng.next_f32() - 0.5) * 10.0;
                let ellipse = rng.next_f32() < 0.5;
                let (ra, rb) = if ellipse {
                    (13.0 + rng.next_f32() * 9.0, 10.0 + rng.next_f32() * 4.0)
                } else {
                    let r = 14.0 + rng.next_f32() * 6.0;
                    (r, r)
                };
                let th = rng.next_f32() * std::f32::consts::PI;
                let (s, c) = th.sin_cos();
                let y0 = (cy - ra).floor().max(0.0) as usize;
                let y1 = ((cy + ra).ceil() as usize + 1).min(h);
                let x0 = (cx - ra).floor().max(0.0) as usize;
                let x1 = ((cx + ra).ceil() as usize + 1).min(w);
                for y in y0..y1 {
                    for x in x0..x1 {
                        let (dy, dx) = (y as f32 - cy, x as f32 - cx);
                        let u = dx * c + dy * s;
                        let v = -dx * s + dy * c;
                        if (u / ra).powi(2) + (v / rb).powi(2) <= 1.0 && inst[[img, y, x]] == 0 {
                            inst[[img, y, x]] = id;
                        }
                    }
                }
            }
        }
    }
    let mut labels = ArrayD::<u8>::zeros(IxDyn(&[n, h, w]));
    let mut mask = ArrayD::<f32>::zeros(IxDyn(&[n, 1, h, w]));
    for img in 0..n {
        for y in 0..h {
            for x in 0..w {
                let l = inst[[img, y, x]];
                if l == 0 {
                    continue;
                }
                mask[[img, 0, y, x]] = 1.0;
                let nb = [(y.wrapping_sub(1), x), (y + 1, x), (y, x.wrapping_sub(1)), (y, x + 1)];
                let border = nb.iter().any(|&(yy, xx)| yy >= h || xx >= w || inst[[img, yy, xx]] != l);
                labels[[img, y, x]] = if border { 2 } else { 1 };
            }
        }
    }
    // A smooth field (a few random plane waves) plus white noise.
    let waves: Vec<(f32, f32, f32)> = (0..6).map(|_| (rng.normal() * 0.05, rng.normal() * 0.05, rng.next_f32() * 6.3)).collect();
    let smooth =
        |y: usize, x: usize| -> f32 { waves.iter().map(|&(a, b, ph)| (a * y as f32 + b * x as f32 + ph).sin()).sum::<f32>() * 0.6 };
    let mut logits = ArrayD::<f32>::zeros(IxDyn(&[n, 1, h, w]));
    let mut class_logits = ArrayD::<f32>::zeros(IxDyn(&[n, 3, h, w]));
    for img in 0..n {
        for y in 0..h {
            for x in 0..w {
                let yv = mask[[img, 0, y, x]];
                logits[[img, 0, y, x]] = 2.5 * (2.0 * yv - 1.0) + smooth(y, x) + rng.normal();
                let l = labels[[img, y, x]] as usize;
                for ch in 0..3 {
                    class_logits[[img, ch, y, x]] = if ch == l { 2.0 } else { 0.0 } + 0.5 * smooth(x, y) + rng.normal();
                }
            }
        }
    }
    Cells { instances: inst, mask, labels, logits, class_logits }
}

/// A mask of touching blobs for the distance benches: a 2D `[H, W]` or 3D `[D, H, W]` `u8` mask
/// of discs (balls) of radius 8 to 13 on a jittered grid of step 24 (about half the pixels are
/// foreground).
pub fn blobs(shape: &[usize], seed: u64) -> ArrayD<u8> {
    let mut rng = Rng::new(seed);
    let dims3 = match shape {
        [h, w] => [1, *h, *w],
        [d, h, w] => [*d, *h, *w],
        _ => [0, 0, 0],
    };
    let flat = shape.len() == 2;
    let mut m = ArrayD::<u8>::zeros(IxDyn(shape));
    let step = 24.0f32;
    let cells = |n: usize| (n as f32 / step).ceil() as usize;
    let nz = if flat { 1 } else { cells(dims3[0]) };
    let slice = m.as_slice_mut().expect("standard layout");
    for gz in 0..nz {
        for gy in 0..cells(dims3[1]) {
            for gx in 0..cells(dims3[2]) {
                let r = 8.0 + rng.next_f32() * 5.0;
                let jit = |rng: &mut Rng| (rng.next_f32() - 0.5) * 6.0;
                let cz = if flat { 0.0 } else { (gz as f32 + 0.5) * step + jit(&mut rng) };
                let cy = (gy as f32 + 0.5) * step + jit(&mut rng);
                let cx = (gx as f32 + 0.5) * step + jit(&mut rng);
                let range = |c: f32, n: usize| ((c - r).floor().max(0.0) as usize, ((c + r).ceil() as usize + 1).min(n));
                let (z0, z1) = if flat { (0, 1) } else { range(cz, dims3[0]) };
                let (y0, y1) = range(cy, dims3[1]);
                let (x0, x1) = range(cx, dims3[2]);
                for z in z0..z1 {
                    for y in y0..y1 {
                        for x in x0..x1 {
                            let dz = if flat { 0.0 } else { z as f32 - cz };
                            let (dy, dx) = (y as f32 - cy, x as f32 - cx);
                            if dz * dz + dy * dy + dx * dx <= r * r {
                                slice[(z * dims3[1] + y) * dims3[2] + x] = 1;
                            }
                        }
                    }
                }
            }
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_batch_shapes_and_rate() {
        let (p, t) = bench_batch(&[2, 1, 64, 64], 1);
        assert_eq!(p.shape(), &[2, 1, 64, 64]);
        let OwnedTarget::F32(t) = t else { panic!("float target") };
        let rate = t.sum() / t.len() as f32;
        assert!((rate - 0.3).abs() < 0.03, "{rate}");
        let (p, t) = bench_batch(&[2, 4, 8, 8], 1);
        assert_eq!(p.shape(), &[2, 4, 8, 8]);
        let OwnedTarget::U8(t) = t else { panic!("labels") };
        assert_eq!(t.shape(), &[2, 8, 8]);
        assert!(t.iter().all(|&l| l < 4));
    }

    #[test]
    fn blobs_cover_about_half() {
        for shape in [vec![96, 80], vec![40, 48, 56]] {
            let m = blobs(&shape, 5);
            assert_eq!(m.shape(), shape.as_slice());
            let fg = m.iter().map(|&v| v as f32).sum::<f32>() / m.len() as f32;
            assert!((0.2..0.8).contains(&fg), "{shape:?}: {fg}");
        }
    }

    #[test]
    fn cells_touch_and_have_three_classes() {
        let c = cells(2, 128, 128, 3);
        let fg = c.mask.sum() / c.mask.len() as f32;
        assert!((0.3..0.8).contains(&fg), "foreground fraction {fg}");
        for k in 0..3u8 {
            assert!(c.labels.iter().any(|&l| l == k));
        }
        // Some pixel of one cell has a 4-neighbour of another cell: cells touch.
        let i = &c.instances;
        let touching = (0..2)
            .any(|n| (0..128).any(|y| (0..127).any(|x| i[[n, y, x]] > 0 && i[[n, y, x + 1]] > 0 && i[[n, y, x]] != i[[n, y, x + 1]])));
        assert!(touching);
    }
}

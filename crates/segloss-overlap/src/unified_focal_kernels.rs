//! The kernels of `unified_focal`, twice with the same signatures: [`scalar`] (one pixel at a
//! time in `f64`, written from the formulas) and [`simd`] (8 pixels per `f32x8` lane group, compiled once
//! per SIMD level and run at the level given).
//!
//! A block is up to [`BLOCK_PIX`] pixels of one image: binary (one channel, `p_1 = p`,
//! `p_0 = 1 - p`, targets `y_1 = y`, `y_0 = 1 - y`) or two channels (channel `c` of pixel `j` at
//! `c * stride + j`; labels 0/1 or class probabilities). With `q_c = clamp(p_c, EPS, 1 - EPS)`
//! ([`EPS`] = 1e-7, MONAI's clamp) and `r_c = 1 - q_c`:
//!
//! - the **statistics pass** returns the block's sums ([`Sums`]) `F0 = sum r_0^gamma (-y_0 ln q_0)`,
//!   `F1 = sum -y_1 ln q_1` and per channel `TP = sum y q`, `FN = sum y r`, `FP = sum (1 - y) q`;
//! - the **gradient pass** writes `d loss / d pred` from the per-image coefficients [`Coefs`]:
//!   `dL/dq_0 = kf0 y_0 (gamma r_0^(gamma-1) ln q_0 - r_0^gamma / q_0) + a0 (1 - y_0) + b0 y_0`,
//!   `dL/dq_1 = -kf1 y_1 / q_1 + a1 (1 - y_1) + b1 y_1` (the Tversky parts in that form rather
//!   than `a + b y`, which cancels in `f32` when `b ~ -a`), each 0 where the clamp acts (`p_c` outside
//!   `[EPS, 1 - EPS]`), then `dL/dp = dL/dq_1 - dL/dq_0` (binary probabilities), `dL/dp_c`
//!   (two-channel probabilities), or through the sigmoid / two-class softmax:
//!   `dL/dz_1 = p_0 p_1 (dL/dq_1 - dL/dq_0)` and `dL/dz_0 = -dL/dz_1` (binary: `dL/dx = dL/dz_1`).
//!
//! With logits (and for binary probabilities) `p_0 + p_1 = 1`, so the SIMD kernels take
//! `r_0 = q_1` and `r_1 = q_0` (the clamp's bounds are symmetric): the sigmoid gives both from one
//! exponential without the cancellation of `1 - q`. Sums accumulate in `f32x8` lanes over one block
//! and are handed back in `f64`. Padded lanes of the last vector are masked out of every sum and
//! never stored. Neutral element: an empty block gives all-zero sums and writes nothing.

use segloss_core::kernel::StridedOut;

/// Pixels per block.
pub const BLOCK_PIX: usize = 1024;

/// MONAI's clamp of the probabilities, `[EPS, 1 - EPS]`, and the smoothing of its Tversky index.
pub const EPS: f64 = 1e-7;

/// The targets of one block.
#[derive(Clone, Copy)]
pub enum Tgt<'a> {
    /// Binary: `y` per pixel (`y_1 = y`, `y_0 = 1 - y`).
    Binary(&'a [f32]),
    /// Two channels, a label 0 or 1 per pixel.
    Labels(&'a [i32]),
    /// Two channels, the target of channel `c` of pixel `j` at `c * stride + j`.
    Probs(&'a [f32]),
}

/// One block: `len` pixels of one image.
#[derive(Clone, Copy)]
pub struct Block<'a> {
    /// Logits (or probabilities) from the block's first pixel (of channel 0).
    pub z: &'a [f32],
    /// Distance between the two channels (unused for binary).
    pub stride: usize,
    /// Number of pixels.
    pub len: usize,
    /// The targets.
    pub t: Tgt<'a>,
}

impl Block<'_> {
    /// Whether the block has two channels.
    pub fn two(&self) -> bool {
        !matches!(self.t, Tgt::Binary(_))
    }
}

/// The keys the kernels read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Logits (sigmoid, two-class softmax) or probabilities.
    pub from_logits: bool,
    /// The background's focal exponent.
    pub gamma: f64,
}

/// Sums of a block (or an image): `[F0, F1, TP0, FN0, FP0, TP1, FN1, FP1]`.
pub type Sums = [f64; 8];

/// The gradient coefficients of one image (upstream and normalisation folded in).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Coefs {
    /// Factor of the background focal term's derivative.
    pub kf0: f64,
    /// Factor of the foreground cross-entropy's derivative.
    pub kf1: f64,
    /// Background Tversky: `dL/dq_0 += a0 (1 - y_0) + b0 y_0`.
    pub a0: f64,
    /// See `a0`.
    pub b0: f64,
    /// Foreground Tversky: `dL/dq_1 += a1 (1 - y_1) + b1 y_1`.
    pub a1: f64,
    /// See `a1`.
    pub b1: f64,
}

pub mod scalar {
    //! One pixel at a time, in `f64`.
    use super::*;

    /// The logistic sigmoid in `f64`, without overflow.
    fn sigmoid(x: f64) -> f64 {
        if x >= 0.0 {
            1.0 / (1.0 + (-x).exp())
        } else {
            let e = x.exp();
            e / (1.0 + e)
        }
    }

    /// `(p_0, p_1)` of pixel `j`.
    pub fn probs(b: &Block<'_>, j: usize, from_logits: bool) -> (f64, f64) {
        let z0 = b.z[j] as f64;
        match (b.two(), from_logits) {
            (false, true) => (sigmoid(-z0), sigmoid(z0)),
            (false, false) => (1.0 - z0, z0),
            (true, true) => {
                let z1 = b.z[b.stride + j] as f64;
                (sigmoid(z0 - z1), sigmoid(z1 - z0))
            }
            (true, false) => (z0, b.z[b.stride + j] as f64),
        }
    }

    /// `(y_0, y_1)` of pixel `j`.
    pub fn targets(b: &Block<'_>, j: usize) -> (f64, f64) {
        match b.t {
            Tgt::Binary(y) => (1.0 - y[j] as f64, y[j] as f64),
            Tgt::Labels(l) => ((l[j] == 0) as u8 as f64, (l[j] == 1) as u8 as f64),
            Tgt::Probs(q) => (q[j] as f64, q[b.stride + j] as f64),
        }
    }

    /// `clamp(p, EPS, 1 - EPS)` (NaN stays NaN) and whether `p` lies inside (the clamp's
    /// derivative, 1 inside and on the bounds, as torch's).
    pub fn clamp(p: f64) -> (f64, bool) {
        if p.is_nan() {
            return (p, false);
        }
        (p.clamp(EPS, 1.0 - EPS), (EPS..=1.0 - EPS).contains(&p))
    }

    /// The sums of one block.
    pub fn stats(b: &Block<'_>, prm: &Params) -> Sums {
        let mut s = [0.0; 8];
        for j in 0..b.len {
            let (p0, p1) = probs(b, j, prm.from_logits);
            let (y0, y1) = targets(b, j);
            let (q0, _) = clamp(p0);
            let (q1, _) = clamp(p1);
            s[0] += (1.0 - q0).powf(prm.gamma) * (-y0 * q0.ln());
            s[1] += -y1 * q1.ln();
            s[2] += y0 * q0;
            s[3] += y0 * (1.0 - q0);
            s[4] += (1.0 - y0) * q0;
            s[5] += y1 * q1;
            s[6] += y1 * (1.0 - q1);
            s[7] += (1.0 - y1) * q1;
        }
        s
    }

    /// The gradient of one block into `out` (row 0, and row 1 for two channels).
    // `j` indexes the block's pixel in both rows at once
    #[allow(clippy::needless_range_loop)]
    pub fn grad(b: &Block<'_>, prm: &Params, cf: &Coefs, out: &StridedOut<'_>) {
        let two = b.two();
        // SAFETY: the rows of this block are distinct ranges no other block touches.
        let mut rows: Vec<&mut [f32]> = (0..1 + two as usize).map(|c| unsafe { out.row(c) }).collect();
        let g = prm.gamma;
        for j in 0..b.len {
            let (p0, p1) = probs(b, j, prm.from_logits);
            let (y0, y1) = targets(b, j);
            let (q0, in0) = clamp(p0);
            let (q1, in1) = clamp(p1);
            let r0 = 1.0 - q0;
            let d0 = if in0 {
                let h = if g == 0.0 { -1.0 / q0 } else { g * r0.powf(g - 1.0) * q0.ln() - r0.powf(g) / q0 };
                cf.kf0 * y0 * h + cf.a0 * (1.0 - y0) + cf.b0 * y0
            } else {
                0.0
            };
            let d1 = if in1 { -cf.kf1 * y1 / q1 + cf.a1 * (1.0 - y1) + cf.b1 * y1 } else { 0.0 };
            match (two, prm.from_logits) {
                (false, true) => rows[0][j] = (p0 * p1 * (d1 - d0)) as f32,
                (false, false) => rows[0][j] = (d1 - d0) as f32,
                (true, true) => {
                    let d = p0 * p1 * (d1 - d0);
                    rows[0][j] = -d as f32;
                    rows[1][j] = d as f32;
                }
                (true, false) => {
                    rows[0][j] = d0 as f32;
                    rows[1][j] = d1 as f32;
                }
            }
        }
    }
}

pub mod simd {
    //! The SIMD kernels at a given level, 8 pixels per `f32x8` lane group (`unified_focal_simd.rs`,
    //! compiled once per level with the overlap kernels): each call runs the copy compiled for
    //! `level`, or the baseline's where this CPU cannot run that level.
    use super::{Block, Coefs, Params, Sums};
    use crate::kernels::{simd_avx2, simd_avx512, simd_base};
    use segloss_core::kernel::StridedOut;
    use segloss_core::simd::Level;

    /// The sums of one block at `level` (see [`super::scalar::stats`]).
    pub fn stats(level: Level, b: &Block<'_>, prm: &Params) -> Sums {
        segloss_core::simd_dispatch!(level, unified_focal::stats(b, prm))
    }

    /// The gradient of one block into `out` (row 0, and row 1 for two channels) at `level` (see
    /// [`super::scalar::grad`]).
    pub fn grad(level: Level, b: &Block<'_>, prm: &Params, cf: &Coefs, out: &StridedOut<'_>) {
        segloss_core::simd_dispatch!(level, unified_focal::grad(b, prm, cf, out))
    }
}

#[cfg(test)]
mod tests {
    //! The SIMD kernels against the scalar ones on every length from 0 to 40 (all tail sizes),
    //! binary and two channels, labels and class probabilities, logits and probabilities (with
    //! values at and beyond the clamp), several gammas.
    use super::*;
    use segloss_core::reduce::SharedMut;
    use segloss_core::simd::Level;

    fn val(i: usize, salt: u32) -> f32 {
        segloss_core::rng::Rng::new(((salt as u64) << 40) ^ i as u64).next_f32()
    }

    #[test]
    fn simd_matches_scalar() {
        for (level, from_logits) in Level::supported_levels().flat_map(|l| [(l, true), (l, false)]) {
            for gamma in [0.0, 0.5, 1.0] {
                let prm = Params { from_logits, gamma };
                let cf = Coefs { kf0: 0.3, kf1: -0.2, a0: 0.1, b0: -0.7, a1: 0.25, b1: 0.4 };
                for kind in 0..3 {
                    for len in 0..=40usize {
                        let stride = len + 3;
                        let z: Vec<f32> = (0..2 * stride)
                            .map(|i| {
                                let u = val(i, 1);
                                match (from_logits, i % 11) {
                                    (true, 3) => 40.0,
                                    (true, _) => u * 24.0 - 12.0,
                                    (false, 3) => 0.0,
                                    (false, 5) => 1.0,
                                    (false, _) => u,
                                }
                            })
                            .collect();
                        let yb: Vec<f32> = (0..len).map(|i| if i % 3 == 0 { val(i, 2) } else { (val(i, 2) < 0.5) as u8 as f32 }).collect();
                        let yl: Vec<i32> = (0..len).map(|i| (val(i, 3) < 0.4) as i32).collect();
                        let yp: Vec<f32> = (0..2 * stride).map(|i| val(i, 4)).collect();
                        let t = match kind {
                            0 => Tgt::Binary(&yb),
                            1 => Tgt::Labels(&yl),
                            _ => Tgt::Probs(&yp),
                        };
                        let b = Block { z: &z, stride, len, t };
                        let (s1, s2) = (simd::stats(level, &b, &prm), scalar::stats(&b, &prm));
                        for (a, c) in s1.iter().zip(&s2) {
                            assert!(
                                (a - c).abs() <= 1e-5 * (a.abs().max(c.abs()) + 1.0),
                                "{level:?} {prm:?} kind {kind} len {len}: {s1:?} vs {s2:?}"
                            );
                        }
                        let mut g1 = vec![f32::NAN; 2 * stride];
                        let mut g2 = vec![f32::NAN; 2 * stride];
                        simd::grad(level, &b, &prm, &cf, &StridedOut::new(SharedMut::new(&mut g1), 0, stride, len));
                        scalar::grad(&b, &prm, &cf, &StridedOut::new(SharedMut::new(&mut g2), 0, stride, len));
                        let rows = if b.two() { 2 } else { 1 };
                        let scale = g2.iter().filter(|v| v.is_finite()).fold(1e-3f32, |m, v| m.max(v.abs()));
                        for c in 0..rows {
                            let (r1, r2) = (&g1[c * stride..c * stride + len], &g2[c * stride..c * stride + len]);
                            assert!(r1.iter().all(|v| v.is_finite()), "not fully written");
                            for (a, e) in r1.iter().zip(r2) {
                                assert!(
                                    (a - e).abs() <= 2e-5 * scale + 1e-4 * e.abs(),
                                    "{level:?} {prm:?} kind {kind} len {len}: {r1:?} vs {r2:?}"
                                );
                            }
                            // nothing written past the block
                            assert!(g1[c * stride + len..(c + 1) * stride].iter().all(|v| v.is_nan()));
                        }
                        if rows == 1 {
                            assert!(g1[stride..].iter().all(|v| v.is_nan()), "binary writes one row");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn empty_block_is_the_neutral_element() {
        let prm = Params { from_logits: true, gamma: 0.5 };
        let b = Block { z: &[], stride: 0, len: 0, t: Tgt::Binary(&[]) };
        for level in Level::supported_levels() {
            assert_eq!(simd::stats(level, &b, &prm), [0.0; 8], "{level:?}");
        }
        assert_eq!(scalar::stats(&b, &prm), [0.0; 8]);
    }

    #[test]
    fn padding_never_counts() {
        // 3 pixels: the 5 padded lanes must add nothing (x = 0 would give p = 0.5 and FP > 0)
        let prm = Params { from_logits: true, gamma: 0.5 };
        let y = [1.0f32, 0.0, 1.0];
        let b = Block { z: &[0.0, 0.0, 0.0], stride: 3, len: 3, t: Tgt::Binary(&y) };
        for level in Level::supported_levels() {
            let s = simd::stats(level, &b, &prm);
            // TP1 = 2 * 0.5, FP1 = 0.5, TP0 = 0.5, FP0 = 2 * 0.5
            assert_eq!([s[5], s[7], s[2], s[4]], [1.0, 0.5, 0.5, 1.0], "{level:?}");
        }
    }
}

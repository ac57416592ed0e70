//! The clDice graphs (`cldice`, `dice_cldice`), from `docs/LOSSES.md` (section clDice) and the
//! validated config's values.
//!
//! Soft morphology with `MaxPool` (stride 1): the erosion is `-MaxPool(-x)` with the 3x1 and 1x3
//! kernels (3x1x1, 1x3x1, 1x1x3 in 3D) combined by `Min`, the dilation `MaxPool` with the 3x3
//! (3x3x3) kernel. `MaxPool`'s padding never wins (padded positions are not candidates), which
//! is the border clipping of the contract. The skeleton loop is unrolled `iters` times; Tprec and
//! Tsens sum over the kept channels and pixels of each image (of the batch with `reduce=batch`),
//! every denominator clamped to 1e-7.

use crate::graph::{attr_ints, channel_range, dense, Graph, Io, TermOut};
use crate::plan::TermExport;
use crate::{ExportError, Result};
use segloss::core::Reduce;
use segloss::overlap::{ClDiceConfig, ClDiceKeys, DiceClDiceConfig, DiceConfig, DiceKeys, OverlapKeys};
use segloss::Mode;

/// Every denominator is clamped to at least this.
const EPS: f32 = 1e-7;

impl TermExport for ClDiceConfig {
    fn mode(&self) -> Option<Mode> {
        self.mode
    }
    fn body(&self, g: &mut Graph, io: &Io) -> Result<TermOut> {
        Ok(TermOut::scalar(cldice(g, io, &self.cl, "cldice")?))
    }
}

impl TermExport for DiceClDiceConfig {
    fn mode(&self) -> Option<Mode> {
        self.mode
    }
    /// `(1 - alpha)` times the `dice` graph with the same smoothing and keys plus `alpha` times
    /// the clDice graph.
    fn body(&self, g: &mut Graph, io: &Io) -> Result<TermOut> {
        let (nr, dr) = self.cl.smoothing()?;
        let dice = DiceConfig {
            dice: DiceKeys { reduce: self.cl.reduce, ..DiceKeys::default() },
            common: OverlapKeys {
                smooth_nr: nr,
                smooth_dr: dr,
                include_background: self.cl.include_background,
                from_logits: self.cl.from_logits,
                ..OverlapKeys::default()
            },
            mode: self.mode,
        };
        let cl = cldice(g, io, &self.cl, "dice_cldice")?;
        let d = dice.body(g, io)?.loss;
        let a = self.alpha as f32;
        let d = g.scale(&d, 1.0 - a);
        let c = g.scale(&cl, a);
        Ok(TermOut::scalar(g.add(&d, &c)))
    }
}

/// `MaxPool` with stride 1 and the given kernel and pads.
fn pool(g: &mut Graph, x: &str, kernel: &[i64], pads: &[i64]) -> String {
    let strides = vec![1i64; kernel.len()];
    g.op("MaxPool", &[x], vec![attr_ints("kernel_shape", kernel), attr_ints("pads", pads), attr_ints("strides", &strides)])
}

/// `erode(x)`: the minimum of the 1D 3-windows along each spatial axis.
fn erode(g: &mut Graph, x: &str, nd: usize) -> String {
    let neg = g.un("Neg", x);
    let mut parts = Vec::new();
    for a in 0..nd {
        let mut k = vec![1i64; nd];
        k[a] = 3;
        let mut pads = vec![0i64; 2 * nd];
        pads[a] = 1;
        pads[nd + a] = 1;
        let m = pool(g, &neg, &k, &pads);
        parts.push(g.un("Neg", &m));
    }
    let mut e = g.bin("Min", &parts[0], &parts[1]);
    if nd == 3 {
        e = g.bin("Min", &e, &parts[2]);
    }
    e
}

/// `dilate(x)`: the maximum over the 3^nd window.
fn dilate(g: &mut Graph, x: &str, nd: usize) -> String {
    pool(g, x, &vec![3; nd], &vec![1; 2 * nd])
}

/// `skel(x)` with `iters` iterations, per (image, channel): `x` `[N, C, *S]` is pooled as
/// `[N C, 1, *S]` (a constant channel count: tract types `MaxPool` only with a known depth) and
/// the skeleton reshaped back.
fn skel(g: &mut Graph, x: &str, nd: usize, iters: usize) -> String {
    let mut flat = vec![-1i64, 1];
    flat.extend(std::iter::repeat_n(0i64, nd));
    let flat = g.ci(&flat);
    let orig = g.un("Shape", x);
    let x = g.op("Reshape", &[x, &flat], vec![]);
    let s = skel_planes(g, &x, nd, iters);
    g.op("Reshape", &[&s, &orig], vec![])
}

/// `skel` of `[M, 1, *S]` planes.
fn skel_planes(g: &mut Graph, x: &str, nd: usize, iters: usize) -> String {
    let mut img = x.to_string();
    let mut e = erode(g, &img, nd);
    let open = dilate(g, &e, nd);
    let d = g.sub(&img, &open);
    let mut s = g.un("Relu", &d);
    for _ in 0..iters {
        img = e;
        e = erode(g, &img, nd);
        let open = dilate(g, &e, nd);
        let d = g.sub(&img, &open);
        let delta = g.un("Relu", &d);
        let sd = g.mul(&s, &delta);
        let t = g.sub(&delta, &sd);
        let t = g.un("Relu", &t);
        s = g.add(&s, &t);
    }
    s
}

/// The clDice loss of the inputs (a float scalar).
fn cldice(g: &mut Graph, io: &Io, k: &ClDiceKeys, name: &str) -> Result<String> {
    let sp = io.spatial();
    let nd = sp.len();
    if !(2..=3).contains(&nd) {
        return Err(ExportError::unsupported(
            name,
            format!("needs 2 or 3 spatial axes, the export has {nd} (rank {}): the soft skeleton has 2D and 3D kernels only", io.rank),
        ));
    }
    let (nr, dr) = k.smoothing()?;
    let (nr, dr, hm) = (nr as f32, dr as f32, k.smooth_hm as f32);
    let d = dense(g, io, k.from_logits, None);
    let (p, y) = (d.p, d.y);
    let sp_ = skel(g, &p, nd, k.iters);
    let sg_ = skel(g, &y, nd, k.iters);
    // kept channels [C] as floats
    let ch = channel_range(g, &io.pred);
    let kf = if k.include_background {
        let chf = g.cast_f(&ch);
        let z = g.scale(&chf, 0.0);
        g.add_k(&z, 1.0)
    } else {
        let zero = g.ci0(0);
        let gt = g.bin("Greater", &ch, &zero);
        let cdim = g.dim(&io.pred, 1);
        let one = g.ci(&[1]);
        let single = g.bin("Equal", &cdim, &one);
        let keep = g.bin("Or", &gt, &single);
        g.cast_f(&keep)
    };
    let batch = k.reduce == Reduce::Batch;
    // sums over the kept channels and pixels: [N], or a scalar with reduce=batch
    let sums = |g: &mut Graph, v: &str| -> String {
        let s = g.rsum(v, Some(&sp), false);
        let s = g.mul(&s, &kf);
        if batch {
            g.rsum(&s, None, false)
        } else {
            g.rsum(&s, Some(&[1]), false)
        }
    };
    let ratio = |g: &mut Graph, num: &str, den: &str| -> String {
        let n = g.add_k(num, nr);
        let d = g.add_k(den, dr);
        let d = g.max_k(&d, EPS);
        g.div(&n, &d)
    };
    let spg = g.mul(&sp_, &y);
    let a = sums(g, &spg);
    let b = sums(g, &sp_);
    let sgp = g.mul(&sg_, &p);
    let c = sums(g, &sgp);
    let dsum = sums(g, &sg_);
    let tp = ratio(g, &a, &b);
    let ts = ratio(g, &c, &dsum);
    let prod = g.mul(&tp, &ts);
    let prod2 = g.scale(&prod, 2.0);
    let h = g.add(&tp, &ts);
    let h = g.add_k(&h, hm);
    let h = g.max_k(&h, EPS);
    let q = g.div(&prod2, &h);
    let cl = g.rsub(1.0, &q);
    let tot = g.rsum(&cl, None, false);
    let n = g.count_f(&cl);
    Ok(g.div(&tot, &n))
}

//! The Lovász family's graphs (`lovasz_hinge`, `lovasz_softmax`), one exporter per config type,
//! from `docs/LOSSES.md` (section Lovász family) and the validated config's values.

use crate::graph::{attr_i, attr_ints, dense, Graph, Io, TermOut};
use crate::plan::TermExport;
use crate::Result;
use segloss::core::{Classes, Reduce};
use segloss::lovasz::{LovaszHingeConfig, LovaszSoftmaxConfig};
use segloss::Mode;

/// The Lovász extension of the Jaccard loss over rows `[A, B, M]` (sorted along the last axis):
/// `e` the errors (`-inf` at ignored pixels), `fg` the foreground indicator (0 at ignored pixels).
/// Returns `sum relu(e_sorted) g` per row `[A, B]` and `G` per row `[A, B]`.
///
/// Sorting is `TopK(e, K = Shape(e)[2], axis=2)`; `fg` follows by `GatherElements`; with `cp`,
/// `cn` the `CumSum` of positives and negatives, `I = G - cp`, `U = G + cn`, `g = 1/U` at a
/// positive and `I/(U(U-1))` at a negative; with `G = 0`, `g = e_1`.
fn lovasz_rows(g: &mut Graph, e: &str, fg: &str) -> (String, String) {
    let kdim = g.dim(e, 2);
    let outs = g.op_n("TopK", &[e, &kdim], vec![attr_i("axis", 2), attr_i("largest", 1), attr_i("sorted", 1)], 2);
    let (vs, idx) = (outs[0].clone(), outs[1].clone());
    let fs = g.op("GatherElements", &[fg, &idx], vec![attr_i("axis", 2)]);
    let gsum = g.rsum(fg, Some(&[2]), true);
    let ax = g.ci0(2);
    let cp = g.op("CumSum", &[&fs, &ax], vec![]);
    let nfs = g.rsub(1.0, &fs);
    let cn = g.op("CumSum", &[&nfs, &ax], vec![]);
    let i_ = g.sub(&gsum, &cp);
    let u = g.add(&gsum, &cn);
    let one = g.cf(1.0);
    let inv_u = g.div(&one, &u);
    let um1 = g.add_k(&u, -1.0);
    let uu = g.mul(&u, &um1);
    let uu = g.max_k(&uu, 1.0);
    let neg = g.div(&i_, &uu);
    let half = g.cf(0.5);
    let is_pos = g.bin("Greater", &fs, &half);
    let gr = g.where_(&is_pos, &inv_u, &neg);
    // G = 0: the first sorted pixel gets 1
    let pos = g.add(&cp, &cn);
    let first = g.bin("Equal", &pos, &one);
    let firstf = g.cast_f(&first);
    let zero = g.cf(0.0);
    let empty = g.bin("Equal", &gsum, &zero);
    let gr = g.where_(&empty, &firstf, &gr);
    let r = g.un("Relu", &vs);
    let prod = g.mul(&r, &gr);
    let loss = g.rsum(&prod, Some(&[2]), false);
    let gs = g.squeeze(&gsum, &[2]);
    (loss, gs)
}

/// `[N, C, *S]` -> rows `[A, B, M]`: per image `[N, C, S]` (`reduce=image`), else per channel
/// over the batch `[1, C, N S]`.
fn rows(g: &mut Graph, v: &str, rank: usize, reduce: Reduce) -> String {
    match reduce {
        Reduce::Image => {
            let sh = g.ci(&[0, 0, -1]);
            g.op("Reshape", &[v, &sh], vec![])
        }
        Reduce::Batch => {
            let mut perm: Vec<i64> = (0..rank as i64).collect();
            perm.swap(0, 1);
            let t = g.op("Transpose", &[v], vec![attr_ints("perm", &perm)]);
            let sh = g.ci(&[0, -1]);
            let r = g.op("Reshape", &[&t, &sh], vec![]);
            g.unsqueeze(&r, &[0])
        }
    }
}

impl TermExport for LovaszHingeConfig {
    fn mode(&self) -> Option<Mode> {
        self.mode
    }
    /// Binary and multilabel: errors `e = 1 - x (2y - 1)`, one problem per (image, channel) pair
    /// with `reduce=image`, else per channel over the batch; the mean over problems.
    fn body(&self, g: &mut Graph, io: &Io) -> Result<TermOut> {
        let y = io.target.clone();
        let y2 = g.scale(&y, 2.0);
        let s = g.add_k(&y2, -1.0);
        let xs = g.mul(&io.pred, &s);
        let mut e = g.rsub(1.0, &xs);
        let mut fg = y.clone();
        if let Some(i) = self.ignore_index {
            let c = g.cf(i as f32);
            let eq = g.bin("Equal", &y, &c);
            let ninf = g.cf(f32::NEG_INFINITY);
            e = g.where_(&eq, &ninf, &e);
            let zero = g.cf(0.0);
            fg = g.where_(&eq, &zero, &fg);
        }
        let er = rows(g, &e, io.rank, self.reduce);
        let fr = rows(g, &fg, io.rank, self.reduce);
        let (l, _) = lovasz_rows(g, &er, &fr);
        let s = g.rsum(&l, None, false);
        let n = g.count_f(&l);
        Ok(TermOut::scalar(g.div(&s, &n)))
    }
}

impl TermExport for LovaszSoftmaxConfig {
    fn mode(&self) -> Option<Mode> {
        self.mode
    }
    /// Multiclass: per class `e = |1[y=c] - p_c|`, one problem per class over the batch (or per
    /// image with `reduce=image`); the mean over the counted classes (`present`: with a valid
    /// pixel of that label; `all`), then over images.
    fn body(&self, g: &mut Graph, io: &Io) -> Result<TermOut> {
        let d = dense(g, io, self.from_logits, self.ignore_index);
        let diff = g.sub(&d.y, &d.p);
        let mut e = g.un("Abs", &diff);
        if let Some(m) = &d.mask {
            let half = g.cf(0.5);
            let valid = g.bin("Greater", m, &half);
            let ninf = g.cf(f32::NEG_INFINITY);
            e = g.where_(&valid, &e, &ninf);
        }
        let er = rows(g, &e, io.rank, self.reduce);
        let fr = rows(g, &d.y, io.rank, self.reduce);
        let (l, gs) = lovasz_rows(g, &er, &fr);
        let zero = g.cf(0.0);
        let counted = match self.classes {
            Classes::All => {
                let z = g.mul(&gs, &zero);
                g.add_k(&z, 1.0)
            }
            Classes::Present => {
                let p = g.bin("Greater", &gs, &zero);
                g.cast_f(&p)
            }
        };
        let lc = g.mul(&l, &counted);
        let num = g.rsum(&lc, Some(&[1]), false);
        let den = g.rsum(&counted, Some(&[1]), false);
        let per = g.safe_div(&num, &den);
        let s = g.rsum(&per, None, false);
        let n = g.count_f(&per);
        Ok(TermOut::scalar(g.div(&s, &n)))
    }
}

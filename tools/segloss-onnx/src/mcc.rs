//! The `mcc` graph, from `docs/LOSSES.md` (section mcc) and the validated config's values.
//! Binary and multilabel.
//!
//! `p` = `Sigmoid(pred)` (or `pred`), `g` = `target`; the four counts are sums over every element
//! (`ReduceSum` over all axes, float32), each `+ smooth`; the MCC itself is computed in double
//! (`TP TN - FP FN` would cancel in float32) with the denominator as a product of four `Sqrt`s,
//! as the native loss does.

use crate::graph::{Graph, Io, TermOut};
use crate::plan::TermExport;
use crate::{ExportError, Result};
use segloss::overlap::MccConfig;
use segloss::Mode;

impl TermExport for MccConfig {
    fn mode(&self) -> Option<Mode> {
        self.mode
    }
    fn body(&self, g: &mut Graph, io: &Io) -> Result<TermOut> {
        if io.mode == Mode::Multiclass {
            return Err(ExportError::unsupported("mcc", "is binary or multilabel only (got mode multiclass)"));
        }
        let p = if self.from_logits { g.un("Sigmoid", &io.pred) } else { io.pred.clone() };
        let y = io.target.clone();
        let np = g.rsub(1.0, &p);
        let ny = g.rsub(1.0, &y);
        let s = g.cd(self.smooth);
        let mut count = |a: &str, b: &str| -> String {
            let m = g.mul(a, b);
            let sum = g.rsum(&m, None, false);
            let d = g.cast_d(&sum);
            g.add(&d, &s)
        };
        let tp = count(&p, &y);
        let fp = count(&p, &ny);
        let fn_ = count(&np, &y);
        let tn = count(&np, &ny);
        let a = g.mul(&tp, &tn);
        let b = g.mul(&fp, &fn_);
        let num = g.sub(&a, &b);
        let mut root = |u: &str, v: &str| -> String {
            let t = g.add(u, v);
            g.un("Sqrt", &t)
        };
        let r1 = root(&tp, &fp);
        let r2 = root(&tp, &fn_);
        let r3 = root(&tn, &fp);
        let r4 = root(&tn, &fn_);
        let den = g.mul(&r1, &r2);
        let den = g.mul(&den, &r3);
        let den = g.mul(&den, &r4);
        let mcc = g.div(&num, &den);
        let one = g.cd(1.0);
        let l = g.sub(&one, &mcc);
        Ok(TermOut::scalar(g.cast_f(&l)))
    }
}

//! The `unified_focal` graph, from `docs/LOSSES.md` (section unified_focal) and the validated
//! config's values. Binary (one channel) and two-channel multiclass labels.
//!
//! `p_1 = exp(-softplus(-pred))`, `p_0 = exp(-softplus(pred))` (binary logits; `1 - pred` and
//! `pred` for probabilities), or
//! channels 0 and 1 of `Softmax(pred)` (or of `pred`) taken with `Gather`; the targets `y_1 = target`,
//! `y_0 = 1 - target`, or the labels' `Equal` 0 and 1. `q_c = Clip(p_c, 1e-7, 1 - 1e-7)`, and
//! `1 - q_0 = q_1`, `1 - q_1 = q_0` where `p_0 + p_1 = 1` (logits, binary probabilities), as the
//! native kernels take them. The focal term is the sum of its per-pixel map over `2 N S`; the
//! Tversky counts are sums over the spatial axes per image (`[N]`); the focal Tversky term is the
//! sum of `(1 - TI_0) + (1 - TI_1)^(1 - gamma)` over `2 N`. The graph reads channels 0 and 1 of a
//! multiclass `pred` and does not check that C is 2 (the native loss does).

use crate::graph::{attr_i, Graph, Io, TermOut};
use crate::plan::TermExport;
use crate::xent::clip_probs;
use crate::{ExportError, Result};
use segloss::overlap::UnifiedFocalConfig;
use segloss::Mode;

/// MONAI's Tversky smoothing.
const EPS: f32 = 1e-7;

impl TermExport for UnifiedFocalConfig {
    fn mode(&self) -> Option<Mode> {
        self.mode
    }
    fn body(&self, g: &mut Graph, io: &Io) -> Result<TermOut> {
        let (w, d, gm) = (self.weight as f32, self.delta as f32, self.gamma as f32);
        let two = match io.mode {
            Mode::Binary => false,
            Mode::Multiclass => true,
            Mode::Multilabel => {
                return Err(ExportError::unsupported("unified_focal", "is binary or two-channel multiclass (got mode multilabel)"))
            }
        };
        let (p0, p1, y0, y1) = if two {
            let p = if self.from_logits { g.op("Softmax", &[&io.pred], vec![attr_i("axis", 1)]) } else { io.pred.clone() };
            let mut channel = |c: i64| -> (String, String) {
                let idx = g.ci(&[c]);
                let pc = g.op("Gather", &[&p, &idx], vec![attr_i("axis", 1)]);
                let k = g.ci0(c);
                let eq = g.bin("Equal", &io.target, &k);
                let yc = g.cast_f(&eq);
                (pc, g.unsqueeze(&yc, &[1]))
            };
            let (p0, y0) = channel(0);
            let (p1, y1) = channel(1);
            (p0, p1, y0, y1)
        } else {
            let (p0, p1) = if self.from_logits {
                // p_1 = exp(-softplus(-x)), p_0 = exp(-softplus(x)): accurate in the tails, where
                // the clamp decides and ln q_0 is taken (tract's `Sigmoid` is a rational
                // approximation with an absolute, not relative, error there)
                let (sp, spn) = g.softplus_pair(&io.pred);
                let (a, b) = (g.un("Neg", &sp), g.un("Neg", &spn));
                (g.un("Exp", &a), g.un("Exp", &b))
            } else {
                (g.rsub(1.0, &io.pred), io.pred.clone())
            };
            let y0 = g.rsub(1.0, &io.target);
            (p0, p1, y0, io.target.clone())
        };
        let q0 = clip_probs(g, &p0);
        let q1 = clip_probs(g, &p1);
        let (r0, r1) = if self.from_logits || !two { (q1.clone(), q0.clone()) } else { (g.rsub(1.0, &q0), g.rsub(1.0, &q1)) };
        // the focal term: (1-d) r_0^g (-y_0 ln q_0) + d (-y_1 ln q_1), mean over 2 N S
        let l0 = g.un("Log", &q0);
        let ce0 = g.mul(&y0, &l0);
        let pw = g.pow_k(&r0, gm);
        let f0 = g.mul(&pw, &ce0);
        let f0 = g.scale(&f0, -(1.0 - d));
        let l1 = g.un("Log", &q1);
        let ce1 = g.mul(&y1, &l1);
        let f1 = g.scale(&ce1, -d);
        let f = g.add(&f0, &f1);
        let fsum = g.rsum(&f, None, false);
        let nsx = g.count_f(&p0);
        let nsx2 = g.scale(&nsx, 2.0);
        let focal = g.div(&fsum, &nsx2);
        // the focal Tversky term, per image
        let axes: Vec<i64> = (1..io.rank as i64).collect();
        let mut base = |q: &str, r: &str, y: &str| -> String {
            let tp = g.mul(y, q);
            let tp = g.rsum(&tp, Some(&axes), false);
            let fnm = g.mul(y, r);
            let fn_ = g.rsum(&fnm, Some(&axes), false);
            let ny = g.rsub(1.0, y);
            let fpm = g.mul(&ny, q);
            let fp = g.rsum(&fpm, Some(&axes), false);
            let a = g.scale(&fn_, d);
            let b = g.scale(&fp, 1.0 - d);
            let num = g.add(&a, &b);
            let den = g.add(&tp, &num);
            let den = g.add_k(&den, EPS);
            g.div(&num, &den)
        };
        let b0 = base(&q0, &r0, &y0);
        let b1 = base(&q1, &r1, &y1);
        let t1 = g.pow_k(&b1, 1.0 - gm);
        let t = g.add(&b0, &t1);
        let tsum = g.rsum(&t, None, false);
        let n = g.count_f(&b0);
        let n2 = g.scale(&n, 2.0);
        let ft = g.div(&tsum, &n2);
        let a = g.scale(&focal, w);
        let b = g.scale(&ft, 1.0 - w);
        Ok(TermOut::scalar(g.add(&a, &b)))
    }
}

//! `topk_ce`'s graph, from `docs/LOSSES.md` (section Cross-entropy family, `topk_ce`) and the
//! validated config's values: the per-element terms of `ce` (multiclass) or `bce` (binary,
//! multilabel), 0 at ignored elements, flattened; `n_k = max(1, floor(n k / 100))` computed in
//! double from `Size` (as nnU-Net's `int(n * k / 100)`); `TopK(terms, n_k)` and the mean of the
//! kept values.
//!
//! `K` comes from `Shape`, so tract 0.23 runs the graph only with its symbols bound (parse once,
//! `set_symbols` per shape; see the crate docs on the Lovász graphs); ONNX Runtime runs it as is.
//! Ties at the cut do not change the value, whichever equal terms `TopK` keeps.

use crate::graph::{attr_i, labels, smoothing_term, Graph, Io, TermOut};
use crate::pb::tensor_proto::DataType;
use crate::plan::TermExport;
use crate::Result;
use segloss::core::PROB_EPS;
use segloss::xent::TopkCeConfig;
use segloss::Mode;

impl TermExport for TopkCeConfig {
    fn mode(&self) -> Option<Mode> {
        self.mode
    }
    fn class_weights(&self) -> Option<&[f32]> {
        self.class_weights.as_deref()
    }
    fn body(&self, g: &mut Graph, io: &Io) -> Result<TermOut> {
        let terms = if io.mode == Mode::Multiclass { ce_terms(self, g, io) } else { bce_terms(self, g, io) };
        let flat_shape = g.ci(&[-1]);
        let flat = g.op("Reshape", &[&terms, &flat_shape], vec![]);
        // n_k = max(1, floor(n k / 100)), the product in double
        let n = g.un("Size", &flat);
        let n = g.cast_d(&n);
        let k = g.cd(self.k);
        let nk = g.mul(&n, &k);
        let hundred = g.cd(100.0);
        let nk = g.div(&nk, &hundred);
        let nk = g.un("Floor", &nk);
        let one = g.cd(1.0);
        let nk = g.bin("Max", &nk, &one);
        let nk_i = g.op("Cast", &[&nk], vec![attr_i("to", DataType::Int64 as i64)]);
        let nk_1 = g.unsqueeze(&nk_i, &[0]);
        let kept = g.op_n("TopK", &[&flat, &nk_1], vec![attr_i("axis", 0), attr_i("largest", 1), attr_i("sorted", 1)], 2);
        let sum = g.rsum(&kept[0], None, false);
        let nk_f = g.cast_f(&nk);
        Ok(TermOut::scalar(g.div(&sum, &nk_f)))
    }
}

/// `ce`'s per-pixel terms `[N, *S]`: with `l = -LogSoftmax(x, axis=1)`,
/// `(1-s) w_y l_y + (s/C) sum_c w_c l_c`, 0 at ignored pixels.
fn ce_terms(cfg: &TopkCeConfig, g: &mut Graph, io: &Io) -> String {
    let s = cfg.label_smoothing;
    let ls = g.op("LogSoftmax", &[&io.pred], vec![attr_i("axis", 1)]);
    let lab = labels(g, &io.target, Some(cfg.ignore_index));
    let tu = g.unsqueeze(&lab.safe, &[1]);
    let lt = g.op("GatherElements", &[&ls, &tu], vec![attr_i("axis", 1)]);
    let lt = g.squeeze(&lt, &[1]);
    let mut pix = g.un("Neg", &lt);
    if let Some(w) = &cfg.class_weights {
        let c = g.cf_dims(&[w.len() as i64], w);
        let wy = g.op("Gather", &[&c, &lab.safe], vec![attr_i("axis", 0)]);
        pix = g.mul(&pix, &wy);
    }
    if s != 0.0 {
        pix = g.scale(&pix, 1.0 - s);
        let sm = smoothing_term(g, io, &ls, cfg.class_weights.as_deref(), s);
        pix = g.add(&pix, &sm);
    }
    let valid = lab.valid_f.expect("an ignore_index is given");
    g.mul(&pix, &valid)
}

/// `bce`'s per-element terms (`pred`'s shape): `y softplus(-x) + (1-y) softplus(x)` on logits,
/// `-(y ln p + (1-y) ln(1-p))` on probabilities clipped to `[1e-7, 1-1e-7]`; 0 where the
/// target equals `ignore_index`.
fn bce_terms(cfg: &TopkCeConfig, g: &mut Graph, io: &Io) -> String {
    let x = io.pred.as_str();
    let ig = g.cf(cfg.ignore_index as f32);
    let eq = g.bin("Equal", &io.target, &ig);
    let valid = g.un("Not", &eq);
    let zero = g.cf(0.0);
    let y = g.where_(&valid, &io.target, &zero);
    let omy = g.rsub(1.0, &y);
    let l = if cfg.common.from_logits {
        let (sp, spn) = g.softplus_pair(x);
        let a = g.mul(&y, &spn);
        let b = g.mul(&omy, &sp);
        g.add(&a, &b)
    } else {
        let lo = g.cf(PROB_EPS);
        let hi = g.cf(1.0 - PROB_EPS);
        let p = g.op("Clip", &[x, &lo, &hi], vec![]);
        let lp = g.un("Log", &p);
        let omp = g.rsub(1.0, &p);
        let lq = g.un("Log", &omp);
        let a = g.mul(&y, &lp);
        let b = g.mul(&omy, &lq);
        let s = g.add(&a, &b);
        g.un("Neg", &s)
    };
    g.where_(&valid, &l, &zero)
}

//! The cross-entropy family's graphs, one exporter per config type, written from the formulas of
//! `docs/LOSSES.md` (section Cross-entropy family) and the validated config's values.

use crate::graph::{attr_i, channel_range, labels, per_class, smoothing_term, Graph, Io, TermOut};
use crate::plan::TermExport;
use crate::{ExportError, Result};
use segloss::core::PROB_EPS;
use segloss::xent::{BalancedCeConfig, BceConfig, Beta, CeConfig, DistanceBceConfig, FocalConfig, WceConfig};
use segloss::{Mode, Reduction};

/// The elementwise weighted binary cross-entropy of `bce`, `wce`, `balanced_ce` and
/// `distance_bce`, on the target `y`, with `q` (a constant or a per-element tensor) weighting the
/// positive term and the whole term times `factor` and the pixel weight `weight`.
///
/// Logits: `l = q y softplus(-x) + (1-y) softplus(x)`; probabilities: `p = Clip(x, 1e-7,
/// 1-1e-7)`, `l = -(q y ln p + (1-y) ln(1-p))`.
struct WeightedBce<'a> {
    y: &'a str,
    q: &'a str,
    factor: Option<&'a str>,
    weight: Option<&'a str>,
    from_logits: bool,
    reduction: Reduction,
}

impl WeightedBce<'_> {
    fn write(&self, g: &mut Graph, io: &Io) -> TermOut {
        let (x, y) = (io.pred.as_str(), self.y);
        let omy = g.rsub(1.0, y);
        let qy = g.mul(self.q, y);
        let mut l = if self.from_logits {
            let (sp, spn) = g.softplus_pair(x);
            let a = g.mul(&qy, &spn);
            let b = g.mul(&omy, &sp);
            g.add(&a, &b)
        } else {
            let p = clip_probs(g, x);
            let lp = g.un("Log", &p);
            let omp = g.rsub(1.0, &p);
            let lq = g.un("Log", &omp);
            let a = g.mul(&qy, &lp);
            let b = g.mul(&omy, &lq);
            let s = g.add(&a, &b);
            g.un("Neg", &s)
        };
        if let Some(f) = self.factor {
            l = g.mul(&l, f);
        }
        if let Some(w) = self.weight {
            l = g.mul(&l, w);
        }
        g.reduction(&l, self.reduction, None)
    }
}

/// `Clip(x, 1e-7, 1 - 1e-7)`.
pub(crate) fn clip_probs(g: &mut Graph, x: &str) -> String {
    let lo = g.cf(PROB_EPS);
    let hi = g.cf(1.0 - PROB_EPS);
    g.op("Clip", &[x, &lo, &hi], vec![])
}

/// `beta` in (0, 1) as the pair `(q, factor) = (beta / (1 - beta), 1 - beta)`.
fn balanced(g: &mut Graph, beta: f32) -> (String, String) {
    (g.cf(beta / (1.0 - beta)), g.cf(1.0 - beta))
}

impl TermExport for BceConfig {
    fn mode(&self) -> Option<Mode> {
        self.mode
    }
    fn reduction(&self) -> Reduction {
        self.common.reduction
    }
    /// `bce`: `q = pos_weight`, the target smoothed as `y (1-s) + s/2`.
    fn body(&self, g: &mut Graph, io: &Io) -> Result<TermOut> {
        let s = self.label_smoothing;
        let y = if s != 0.0 {
            let a = g.scale(&io.target, 1.0 - s);
            g.add_k(&a, s / 2.0)
        } else {
            io.target.clone()
        };
        let q = g.cf(self.pos_weight);
        let w = io.weight.as_deref();
        let e =
            WeightedBce { y: &y, q: &q, factor: None, weight: w, from_logits: self.common.from_logits, reduction: self.common.reduction };
        Ok(e.write(g, io))
    }
}

impl TermExport for WceConfig {
    fn mode(&self) -> Option<Mode> {
        self.mode
    }
    fn reduction(&self) -> Reduction {
        self.common.reduction
    }
    /// `wce`: `q = beta`.
    fn body(&self, g: &mut Graph, io: &Io) -> Result<TermOut> {
        let beta = self.beta.get().expect("wce's build checks that beta is given");
        let q = g.cf(beta);
        let w = io.weight.as_deref();
        let e = WeightedBce {
            y: &io.target,
            q: &q,
            factor: None,
            weight: w,
            from_logits: self.common.from_logits,
            reduction: self.common.reduction,
        };
        Ok(e.write(g, io))
    }
}

impl TermExport for BalancedCeConfig {
    fn mode(&self) -> Option<Mode> {
        self.mode
    }
    fn reduction(&self) -> Reduction {
        self.common.reduction
    }
    /// `balanced_ce`: `(1-beta) wce(q = beta/(1-beta))`; `auto`: `beta = sum(1-y)/count` over the
    /// batch, clipped to `[1e-7, 1-1e-7]`.
    fn body(&self, g: &mut Graph, io: &Io) -> Result<TermOut> {
        let y = io.target.as_str();
        let (q, factor) = match self.beta {
            Beta::Auto => {
                let om = g.rsub(1.0, y);
                let s = g.rsum(&om, None, false);
                let cnt = g.count_f(y);
                let b = g.div(&s, &cnt);
                let b = clip_probs(g, &b);
                let omb = g.rsub(1.0, &b);
                (g.div(&b, &omb), omb)
            }
            Beta::Fixed(b) => balanced(g, b),
        };
        let w = io.weight.as_deref();
        let e = WeightedBce {
            y,
            q: &q,
            factor: Some(&factor),
            weight: w,
            from_logits: self.common.from_logits,
            reduction: self.common.reduction,
        };
        Ok(e.write(g, io))
    }
}

impl TermExport for DistanceBceConfig {
    fn mode(&self) -> Option<Mode> {
        self.mode
    }
    fn reduction(&self) -> Reduction {
        self.common.reduction
    }
    /// `distance_bce`: `(1-beta) wce` with per-pixel `q = beta/(1-beta) + exp(-d^2)`, `d` the
    /// `weight` input (not a multiplier here).
    fn body(&self, g: &mut Graph, io: &Io) -> Result<TermOut> {
        let d = io
            .weight
            .as_deref()
            .ok_or_else(|| ExportError::option("with_weight", false, "distance_bce needs the distance map input `weight`"))?;
        let (q0, factor) = balanced(g, self.beta);
        let d2 = g.mul(d, d);
        let nd2 = g.un("Neg", &d2);
        let e = g.un("Exp", &nd2);
        let q = g.add(&e, &q0);
        let e = WeightedBce {
            y: &io.target,
            q: &q,
            factor: Some(&factor),
            weight: None,
            from_logits: self.common.from_logits,
            reduction: self.common.reduction,
        };
        Ok(e.write(g, io))
    }
}

impl TermExport for FocalConfig {
    fn mode(&self) -> Option<Mode> {
        self.mode
    }
    fn class_weights(&self) -> Option<&[f32]> {
        self.class_weights.as_deref()
    }
    fn reduction(&self) -> Reduction {
        self.common.reduction
    }
    fn body(&self, g: &mut Graph, io: &Io) -> Result<TermOut> {
        if io.mode == Mode::Multiclass {
            let f =
                Softmax { class_weights: self.class_weights.as_deref(), ignore_index: self.ignore_index, reduction: self.common.reduction };
            Ok(if self.include_background { f.focal(g, io, self.gamma) } else { f.focal_no_background(g, io, self.gamma) })
        } else {
            Ok(focal_binary(self, g, io))
        }
    }
}

/// `[1, C, 1, ...]` float: 0 for channel 0 when there are at least 2 channels, 1 elsewhere
/// (`include_background=false`, ignored with one channel as in the native loss).
fn keep_channels(g: &mut Graph, io: &Io) -> String {
    let r = channel_range(g, &io.pred);
    let zero = g.ci0(0);
    let not_first = g.bin("Greater", &r, &zero);
    let c = g.dim(&io.pred, 1);
    let one = g.ci(&[1]);
    let single = g.bin("Equal", &c, &one);
    let keep = g.bin("Or", &not_first, &single);
    let keep = g.cast_f(&keep);
    let mut shape = vec![1i64; io.rank];
    shape[1] = -1;
    let sh = g.ci(&shape);
    g.op("Reshape", &[&keep, &sh], vec![])
}

/// Binary / multilabel `focal`: `-w_c (a y (1-p)^gamma ln p + b (1-y) p^gamma ln(1-p))` over the
/// kept elements: those whose target is not `ignore_index` (their target and logit read as 0,
/// their term 0), on every channel but channel 0 with `include_background=false` (and at least
/// two channels); the mean divides by their number.
fn focal_binary(cfg: &FocalConfig, g: &mut Graph, io: &Io) -> TermOut {
    let gamma = cfg.gamma;
    let (a, b) = cfg.alpha.weights();
    let ig = g.cf(cfg.ignore_index as f32);
    let eq = g.bin("Equal", &io.target, &ig);
    let valid = g.un("Not", &eq);
    let validf = g.cast_f(&valid);
    let zero = g.cf(0.0);
    let x = g.where_(&valid, &io.pred, &zero);
    let y = g.where_(&valid, &io.target, &zero);
    let (x, y) = (x.as_str(), y.as_str());
    let (p, q, lp, lq) = if cfg.common.from_logits {
        let p = g.un("Sigmoid", x);
        let nx = g.un("Neg", x);
        let q = g.un("Sigmoid", &nx);
        let (sp, spn) = g.softplus_pair(x);
        let lp = g.un("Neg", &spn);
        let lq = g.un("Neg", &sp);
        (p, q, lp, lq)
    } else {
        let p = clip_probs(g, x);
        let q = g.rsub(1.0, &p);
        let lp = g.un("Log", &p);
        let lq = g.un("Log", &q);
        (p, q, lp, lq)
    };
    let omy = g.rsub(1.0, y);
    let pos = if gamma == 0.0 {
        lp
    } else {
        let qg = g.pow_k(&q, gamma);
        g.mul(&qg, &lp)
    };
    let pos = g.mul(&pos, y);
    let pos = g.scale(&pos, a);
    let neg = if gamma == 0.0 {
        lq
    } else {
        let pg = g.pow_k(&p, gamma);
        g.mul(&pg, &lq)
    };
    let neg = g.mul(&neg, &omy);
    let neg = g.scale(&neg, b);
    let s = g.add(&pos, &neg);
    let l = g.un("Neg", &s);
    let mut l = g.mul(&l, &validf);
    if let Some(w) = &io.weight {
        l = g.mul(&l, w);
    }
    let mut kept = validf;
    if !cfg.include_background {
        let keep = keep_channels(g, io);
        l = g.mul(&l, &keep);
        kept = g.mul(&kept, &keep);
    }
    if let Some(w) = &cfg.class_weights {
        let wc = per_class(g, w, io.rank);
        l = g.mul(&l, &wc);
    }
    let norm = g.rsum(&kept, None, false);
    g.reduction(&l, cfg.common.reduction, Some(&norm))
}

impl TermExport for CeConfig {
    fn mode(&self) -> Option<Mode> {
        self.mode
    }
    fn class_weights(&self) -> Option<&[f32]> {
        self.class_weights.as_deref()
    }
    fn reduction(&self) -> Reduction {
        self.common.reduction
    }
    fn body(&self, g: &mut Graph, io: &Io) -> Result<TermOut> {
        let f = Softmax { class_weights: self.class_weights.as_deref(), ignore_index: self.ignore_index, reduction: self.common.reduction };
        Ok(f.ce(g, io, self.label_smoothing))
    }
}

/// The softmax cross-entropy losses (`ce`, multiclass `focal`) over integer labels.
struct Softmax<'a> {
    class_weights: Option<&'a [f32]>,
    ignore_index: i64,
    reduction: Reduction,
}

/// `LogSoftmax` of pred, the log-probability of the true class, the class weight of each pixel
/// and the valid pixels.
struct Picked {
    ls: String,
    lt: String,
    wy: Option<String>,
    valid: String,
}

impl Softmax<'_> {
    fn pick(&self, g: &mut Graph, io: &Io) -> Picked {
        let ls = g.op("LogSoftmax", &[&io.pred], vec![attr_i("axis", 1)]);
        let lab = labels(g, &io.target, Some(self.ignore_index));
        let tu = g.unsqueeze(&lab.safe, &[1]);
        let lt = g.op("GatherElements", &[&ls, &tu], vec![attr_i("axis", 1)]);
        let lt = g.squeeze(&lt, &[1]);
        let wy = self.class_weights.map(|w| {
            let c = g.cf_dims(&[w.len() as i64], w);
            g.op("Gather", &[&c, &lab.safe], vec![attr_i("axis", 0)])
        });
        let valid = lab.valid_f.expect("an ignore_index is given");
        Picked { ls, lt, wy, valid }
    }

    /// Zero at ignored pixels, times the pixel weight, reduced with `norm` as the mean's divisor.
    fn finish(&self, g: &mut Graph, io: &Io, pix: &str, valid: &str, norm: &str) -> TermOut {
        let mut pix = g.mul(pix, valid);
        if let Some(w) = &io.weight {
            pix = g.mul(&pix, w);
        }
        g.reduction(&pix, self.reduction, Some(norm))
    }

    /// `ce`: with `l = -LogSoftmax(x, axis=1)`, per pixel `(1-s) w_y l_y + (s/C) sum_c w_c l_c`,
    /// zero at ignored pixels, times the pixel weight; the mean divides by `sum w_y` over the
    /// valid pixels.
    fn ce(&self, g: &mut Graph, io: &Io, s: f32) -> TermOut {
        let Picked { ls, lt, wy, valid } = self.pick(g, io);
        let nll = g.un("Neg", &lt);
        let mut pix = match &wy {
            Some(w) => g.mul(&nll, w),
            None => nll,
        };
        pix = g.scale(&pix, 1.0 - s);
        if s != 0.0 {
            let sm = smoothing_term(g, io, &ls, self.class_weights, s);
            pix = g.add(&pix, &sm);
        }
        let norm = match &wy {
            Some(w) => {
                let wv = g.mul(w, &valid);
                g.rsum(&wv, None, false)
            }
            None => g.rsum(&valid, None, false),
        };
        self.finish(g, io, &pix, &valid, &norm)
    }

    /// Multiclass `focal`: `-w_y (1-p_t)^gamma ln p_t`; the mean divides by the number of valid
    /// pixels.
    fn focal(&self, g: &mut Graph, io: &Io, gamma: f32) -> TermOut {
        let Picked { lt, wy, valid, .. } = self.pick(g, io);
        let pt = g.un("Exp", &lt);
        let q = g.rsub(1.0, &pt);
        let q = g.max_k(&q, 0.0);
        let f = if gamma == 0.0 {
            lt.clone()
        } else {
            let qg = g.pow_k(&q, gamma);
            g.mul(&qg, &lt)
        };
        let mut pix = g.un("Neg", &f);
        if let Some(w) = &wy {
            pix = g.mul(&pix, w);
        }
        let norm = g.rsum(&valid, None, false);
        self.finish(g, io, &pix, &valid, &norm)
    }

    /// Multiclass `focal:include_background=false`: the softmax over channels 1..C-1 (MONAI's
    /// `include_background=False`), `-w_y (1-p_t)^gamma ln p_t` at pixels labelled 1..C-1, 0 at
    /// pixels labelled 0 (which still count in the mean, as the non-ignored pixels do).
    fn focal_no_background(&self, g: &mut Graph, io: &Io, gamma: f32) -> TermOut {
        let (one, end, axis) = (g.ci(&[1]), g.ci(&[i64::MAX]), g.ci(&[1]));
        let z = g.op("Slice", &[&io.pred, &one, &end, &axis], vec![]);
        let ls = g.op("LogSoftmax", &[&z], vec![attr_i("axis", 1)]);
        let lab = labels(g, &io.target, Some(self.ignore_index));
        let zero = g.ci0(0);
        let bg = g.bin("Equal", &lab.safe, &zero);
        let one0 = g.ci0(1);
        let shifted = g.sub(&lab.safe, &one0);
        let t = g.where_(&bg, &zero, &shifted);
        let tu = g.unsqueeze(&t, &[1]);
        let lt = g.op("GatherElements", &[&ls, &tu], vec![attr_i("axis", 1)]);
        let lt = g.squeeze(&lt, &[1]);
        let pt = g.un("Exp", &lt);
        let q = g.rsub(1.0, &pt);
        let q = g.max_k(&q, 0.0);
        let f = if gamma == 0.0 {
            lt
        } else {
            let qg = g.pow_k(&q, gamma);
            g.mul(&qg, &lt)
        };
        let mut pix = g.un("Neg", &f);
        if let Some(w) = self.class_weights {
            let c = g.cf_dims(&[w.len() as i64], w);
            let wy = g.op("Gather", &[&c, &lab.safe], vec![attr_i("axis", 0)]);
            pix = g.mul(&pix, &wy);
        }
        let fg = g.un("Not", &bg);
        let fg = g.cast_f(&fg);
        pix = g.mul(&pix, &fg);
        let valid = lab.valid_f.expect("an ignore_index is given");
        let norm = g.rsum(&valid, None, false);
        self.finish(g, io, &pix, &valid, &norm)
    }
}

//! The graph of each loss, written from the formulas of `LOSSES.md`.
//!
//! Every function takes the prepared inputs ([`Io`]: `pred` as `[N, C, *S]`, the target as floats
//! of that shape or int64 labels `[N, *S]`, the optional weight of the target's shape) and returns
//! the name of the scalar loss (and of the per-element map for `reduction=none`).

use crate::graph::Graph;
use crate::keys::Keys;
use segloss::{LossError, Mode, Result};

/// Keras' / segloss' probability clip.
pub(crate) const PROB_EPS: f32 = 1e-7;

/// The prepared inputs of a loss body.
#[derive(Debug, Clone)]
pub(crate) struct Io {
    /// `[N, C, *S]` float.
    pub pred: String,
    /// Float `[N, C, *S]` (binary, multilabel) or int64 `[N, *S]` (multiclass).
    pub target: String,
    /// The target's shape, float.
    pub weight: Option<String>,
    /// Rank of `pred` (with the channel axis).
    pub rank: usize,
    /// The mode.
    pub mode: Mode,
}

impl Io {
    fn spatial(&self) -> Vec<i64> {
        (2..self.rank as i64).collect()
    }
}

/// What a term produces.
#[derive(Debug, Clone)]
pub(crate) struct TermOut {
    pub loss: String,
    pub map: Option<String>,
}

fn reduce(g: &mut Graph, map: &str, reduction: &str, norm: Option<&str>) -> TermOut {
    let sum = g.rsum(map, None, false);
    match reduction {
        "sum" => TermOut { loss: sum, map: None },
        "none" => TermOut { loss: sum, map: Some(map.to_string()) },
        _ => {
            let loss = match norm {
                Some(n) => g.safe_div(&sum, n),
                None => {
                    let c = g.count_f(map);
                    g.safe_div(&sum, &c)
                }
            };
            TermOut { loss, map: None }
        }
    }
}

/// `bce`, `wce`, `balanced_ce`, `distance_bce`: the elementwise weighted binary cross-entropy.
///
/// Logits: `l = q y softplus(-x) + (1-y) softplus(x)`; probabilities: `p = Clip(x, 1e-7,
/// 1-1e-7)`, `l = -(q y ln p + (1-y) ln(1-p))`; times `factor` and the pixel weight.
pub(crate) fn bce_family(g: &mut Graph, io: &Io, name: &str, k: &Keys) -> Result<TermOut> {
    let from_logits = k.bool("from_logits", true);
    let x = io.pred.clone();
    let mut y = io.target.clone();
    let smoothing = if name == "bce" { k.num("label_smoothing", 0.0) as f32 } else { 0.0 };
    if smoothing != 0.0 {
        let a = g.scale(&y, 1.0 - smoothing);
        y = g.add_k(&a, smoothing / 2.0);
    }
    // q (a constant name or a per-element tensor) and the factor (a constant or a tensor)
    let (q, factor): (String, Option<String>) = match name {
        "bce" => (g.cf(k.num("pos_weight", 1.0) as f32), None),
        "wce" => (g.cf(k.num("beta", f64::NAN) as f32), None),
        "balanced_ce" => match k.word("beta") {
            Some("auto") => {
                let om = g.rsub(1.0, &y);
                let s = g.rsum(&om, None, false);
                let cnt = g.count_f(&y);
                let b = g.div(&s, &cnt);
                let lo = g.cf(PROB_EPS);
                let hi = g.cf(1.0 - PROB_EPS);
                let b = g.op("Clip", &[&b, &lo, &hi], vec![]);
                let omb = g.rsub(1.0, &b);
                let q = g.div(&b, &omb);
                (q, Some(omb))
            }
            _ => {
                let b = k.num("beta", 0.5) as f32;
                (g.cf(b / (1.0 - b)), Some(g.cf(1.0 - b)))
            }
        },
        "distance_bce" => {
            let b = k.num("beta", 0.5) as f32;
            let d = io
                .weight
                .clone()
                .ok_or_else(|| LossError::config("with_weight", false, "distance_bce needs the distance map input `weight`"))?;
            let d2 = g.mul(&d, &d);
            let nd2 = g.un("Neg", &d2);
            let e = g.un("Exp", &nd2);
            let q = g.add_k(&e, b / (1.0 - b));
            (q, Some(g.cf(1.0 - b)))
        }
        _ => unreachable!("bce family names"),
    };
    let omy = g.rsub(1.0, &y);
    let qy = g.mul(&q, &y);
    let mut l = if from_logits {
        let (sp, spn) = g.softplus_pair(&x);
        let a = g.mul(&qy, &spn);
        let b = g.mul(&omy, &sp);
        g.add(&a, &b)
    } else {
        let lo = g.cf(PROB_EPS);
        let hi = g.cf(1.0 - PROB_EPS);
        let p = g.op("Clip", &[&x, &lo, &hi], vec![]);
        let lp = g.un("Log", &p);
        let omp = g.rsub(1.0, &p);
        let lq = g.un("Log", &omp);
        let a = g.mul(&qy, &lp);
        let b = g.mul(&omy, &lq);
        let s = g.add(&a, &b);
        g.un("Neg", &s)
    };
    if let Some(f) = factor {
        l = g.mul(&l, &f);
    }
    if name != "distance_bce" {
        if let Some(w) = &io.weight {
            l = g.mul(&l, w);
        }
    }
    Ok(reduce(g, &l, k.word("reduction").unwrap_or("mean"), None))
}

/// Binary / multilabel `focal`: `-(a y (1-p)^gamma ln p + b (1-y) p^gamma ln(1-p))`.
pub(crate) fn focal_binary(g: &mut Graph, io: &Io, k: &Keys) -> Result<TermOut> {
    let gamma = k.num("gamma", 2.0) as f32;
    let (a, b) = match k.word("alpha") {
        Some("none") => (1.0, 1.0),
        _ => {
            let a = k.num("alpha", 0.25) as f32;
            (a, 1.0 - a)
        }
    };
    let x = io.pred.clone();
    let y = io.target.clone();
    let (p, q, lp, lq) = if k.bool("from_logits", true) {
        let p = g.un("Sigmoid", &x);
        let nx = g.un("Neg", &x);
        let q = g.un("Sigmoid", &nx);
        let (sp, spn) = g.softplus_pair(&x);
        let lp = g.un("Neg", &spn);
        let lq = g.un("Neg", &sp);
        (p, q, lp, lq)
    } else {
        let lo = g.cf(PROB_EPS);
        let hi = g.cf(1.0 - PROB_EPS);
        let p = g.op("Clip", &[&x, &lo, &hi], vec![]);
        let q = g.rsub(1.0, &p);
        let lp = g.un("Log", &p);
        let lq = g.un("Log", &q);
        (p, q, lp, lq)
    };
    let omy = g.rsub(1.0, &y);
    let pos = if gamma == 0.0 {
        lp
    } else {
        let qg = g.pow_k(&q, gamma);
        g.mul(&qg, &lp)
    };
    let pos = g.mul(&pos, &y);
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
    let mut l = g.un("Neg", &s);
    if let Some(w) = &io.weight {
        l = g.mul(&l, w);
    }
    Ok(reduce(g, &l, k.word("reduction").unwrap_or("mean"), None))
}

/// The labels of a multiclass problem: the labels with ignored pixels set to 0 (`[N, *S]`), and
/// the valid pixels as floats (`None` when nothing is ignored).
struct Labels {
    safe: String,
    valid_f: Option<String>,
}

fn labels(g: &mut Graph, t: &str, ignore: Option<i64>) -> Labels {
    match ignore {
        None => Labels { safe: t.to_string(), valid_f: None },
        Some(i) => {
            let c = g.ci0(i);
            let eq = g.bin("Equal", t, &c);
            let valid = g.un("Not", &eq);
            let zero = g.ci0(0);
            let safe = g.where_(&valid, t, &zero);
            let valid_f = g.cast_f(&valid);
            Labels { safe, valid_f: Some(valid_f) }
        }
    }
}

/// `[1, C, 1, ...]` constant of per-class values, broadcastable against `[N, C, *S]`.
fn per_class(g: &mut Graph, w: &[f32], rank: usize) -> String {
    let mut dims = vec![1i64; rank];
    dims[1] = w.len() as i64;
    g.cf_dims(&dims, w)
}

/// `ce` and multiclass `focal` over integer labels.
///
/// `ce`: with `l = -LogSoftmax(x, axis=1)`, per pixel `(1-s) w_y l_y + (s/C) sum_c w_c l_c`, zero
/// at ignored pixels, times the pixel weight; mean divides by `sum w_y` over valid pixels.
/// `focal`: `-w_y (1-p_t)^gamma ln p_t`; mean divides by the number of valid pixels.
pub(crate) fn softmax_xent(g: &mut Graph, io: &Io, name: &str, k: &Keys) -> Result<TermOut> {
    let ls = g.op("LogSoftmax", &[&io.pred], vec![crate::graph::attr_i("axis", 1)]);
    let lab = labels(g, &io.target, Some(k.int("ignore_index").unwrap_or(-100)));
    let tu = g.unsqueeze(&lab.safe, &[1]);
    let lt = g.op("GatherElements", &[&ls, &tu], vec![crate::graph::attr_i("axis", 1)]);
    let lt = g.squeeze(&lt, &[1]);
    let cw = k.list("class_weights");
    let wy = cw.as_ref().map(|w| {
        let c = g.cf_dims(&[w.len() as i64], w);
        g.op("Gather", &[&c, &lab.safe], vec![crate::graph::attr_i("axis", 0)])
    });
    let vf = lab.valid_f.clone().expect("ignore_index is always set for softmax losses");
    let (pix, norm) = if name == "ce" {
        let s = k.num("label_smoothing", 0.0) as f32;
        let nll = g.un("Neg", &lt);
        let mut pix = match &wy {
            Some(w) => g.mul(&nll, w),
            None => nll,
        };
        pix = g.scale(&pix, 1.0 - s);
        if s != 0.0 {
            let wl = match &cw {
                Some(w) => {
                    let wc = per_class(g, w, io.rank);
                    g.mul(&ls, &wc)
                }
                None => ls.clone(),
            };
            let sum_c = g.rsum(&wl, Some(&[1]), false);
            let c = g.dim(&io.pred, 1);
            let cf = g.cast_f(&c);
            let mean_c = g.div(&sum_c, &cf);
            let sm = g.scale(&mean_c, -s);
            pix = g.add(&pix, &sm);
        }
        let norm = match &wy {
            Some(w) => {
                let wv = g.mul(w, &vf);
                g.rsum(&wv, None, false)
            }
            None => g.rsum(&vf, None, false),
        };
        (pix, norm)
    } else {
        let gamma = k.num("gamma", 2.0) as f32;
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
        let norm = g.rsum(&vf, None, false);
        (pix, norm)
    };
    let mut pix = g.mul(&pix, &vf);
    if let Some(w) = &io.weight {
        pix = g.mul(&pix, w);
    }
    Ok(reduce(g, &pix, k.word("reduction").unwrap_or("mean"), Some(&norm)))
}

/// The class index `[C]` (int64) of `pred`'s channel axis.
fn channel_range(g: &mut Graph, pred: &str) -> String {
    let c = g.dim(pred, 1);
    let c0 = g.squeeze(&c, &[0]);
    let zero = g.ci0(0);
    let one = g.ci0(1);
    g.op("Range", &[&zero, &c0, &one], vec![])
}

/// One-hot `[N, C, *S]` float of labels `[N, *S]` (`safe`: no ignored value).
fn one_hot(g: &mut Graph, io: &Io, safe: &str) -> String {
    let r = channel_range(g, &io.pred);
    let mut shape = vec![1i64; io.rank];
    shape[1] = -1;
    let sh = g.ci(&shape);
    let r = g.op("Reshape", &[&r, &sh], vec![]);
    let tu = g.unsqueeze(safe, &[1]);
    let eq = g.bin("Equal", &tu, &r);
    g.cast_f(&eq)
}

/// Probabilities, target and mask of an overlap or Lovász-softmax problem, all `[N, C, *S]`
/// float (`mask` broadcastable: `[N, 1, *S]` for multiclass).
struct Dense {
    p: String,
    y: String,
    mask: Option<String>,
}

fn dense(g: &mut Graph, io: &Io, from_logits: bool, ignore: Option<i64>) -> Dense {
    if io.mode == Mode::Multiclass {
        let p = if from_logits { g.op("Softmax", &[&io.pred], vec![crate::graph::attr_i("axis", 1)]) } else { io.pred.clone() };
        let lab = labels(g, &io.target, ignore);
        let y = one_hot(g, io, &lab.safe);
        match lab.valid_f {
            None => Dense { p, y, mask: None },
            Some(v) => {
                let m = g.unsqueeze(&v, &[1]);
                let y = g.mul(&y, &m);
                Dense { p, y, mask: Some(m) }
            }
        }
    } else {
        let p = if from_logits { g.un("Sigmoid", &io.pred) } else { io.pred.clone() };
        match ignore {
            None => Dense { p, y: io.target.clone(), mask: None },
            Some(i) => {
                let c = g.cf(i as f32);
                let eq = g.bin("Equal", &io.target, &c);
                let valid = g.un("Not", &eq);
                let zero = g.cf(0.0);
                let y = g.where_(&valid, &io.target, &zero);
                let m = g.cast_f(&valid);
                Dense { p, y, mask: Some(m) }
            }
        }
    }
}

/// `dice`, `jaccard`, `tversky`, `generalized_dice`.
///
/// Per (image, channel) pair (or channel over the batch with `reduce=batch`), with `p` masked by
/// the valid pixels: `I = sum p g`, `P = sum p` (`sum p^2` for squared Dice), `G = sum g`; the
/// pair losses of `LOSSES.md` with every denominator clamped to `eps`; kept pairs
/// (`include_background`, `ignore_index` in `[0, C)`, `classes=present`) averaged with
/// `class_weights`.
pub(crate) fn overlap(g: &mut Graph, io: &Io, name: &str, k: &Keys) -> Result<TermOut> {
    let smooth = k.opt_num("smooth");
    let nr = k.opt_num("smooth_nr").or(smooth).unwrap_or(1e-5) as f32;
    let dr = k.opt_num("smooth_dr").or(smooth).unwrap_or(1e-5) as f32;
    let eps = k.num("eps", 1e-7) as f32;
    let ignore = k.int("ignore_index");
    let d = dense(g, io, k.bool("from_logits", true), ignore);
    let pm = match &d.mask {
        Some(m) => g.mul(&d.p, m),
        None => d.p.clone(),
    };
    let y = d.y.clone();
    let batch = k.word("reduce") == Some("batch");
    let sp = io.spatial();
    // sums over the spatial axes -> [N, C], then over the batch -> [1, C]
    let sum_pairs = |g: &mut Graph, v: &str| -> String {
        let s = g.rsum(v, Some(&sp), false);
        if batch {
            g.rsum(&s, Some(&[0]), true)
        } else {
            s
        }
    };
    let squared = k.bool("squared", false);
    let pixelwise = k.bool("pixelwise", false);
    let pg = g.mul(&pm, &y);
    let i_ = sum_pairs(g, &pg);
    let p_ = if squared {
        let p2 = g.mul(&pm, &pm);
        sum_pairs(g, &p2)
    } else {
        sum_pairs(g, &pm)
    };
    let g_plain = sum_pairs(g, &y);
    let g_ = if squared {
        let y2 = g.mul(&y, &y);
        sum_pairs(g, &y2)
    } else {
        g_plain.clone()
    };
    // kept channels [C] (bool)
    let ch = channel_range(g, &io.pred);
    let cdim = g.dim(&io.pred, 1);
    let mut keep: Option<String> = None;
    if !k.bool("include_background", true) {
        let zero = g.ci0(0);
        let gt = g.bin("Greater", &ch, &zero);
        let one = g.ci(&[1]);
        let single = g.bin("Equal", &cdim, &one);
        keep = Some(g.bin("Or", &gt, &single));
    }
    if let (Some(i), Mode::Multiclass) = (ignore, io.mode) {
        let c = g.ci0(i);
        let eq = g.bin("Equal", &ch, &c);
        let ne = g.un("Not", &eq);
        keep = Some(match keep {
            Some(kp) => g.bin("And", &kp, &ne),
            None => ne,
        });
    }
    let zero_f = g.cf(0.0);
    if k.word("classes") == Some("present") {
        let present = g.bin("Greater", &g_plain, &zero_f);
        keep = Some(match keep {
            Some(kp) => g.bin("And", &present, &kp),
            None => present,
        });
    }
    // counted pixels per pair (pixelwise)
    let cnt = if pixelwise {
        let ones = g_plain_like_ones(g, &d.p);
        let mb = match &d.mask {
            Some(m) => g.mul(&ones, m),
            None => ones,
        };
        let c = sum_pairs(g, &mb);
        let pos = g.bin("Greater", &c, &zero_f);
        keep = Some(match keep {
            Some(kp) => g.bin("And", &pos, &kp),
            None => pos,
        });
        Some(c)
    } else {
        None
    };
    let kf = match &keep {
        Some(kp) => {
            let f = g.cast_f(kp);
            // broadcast [C] or [Np, C] against the pairs
            let like = g.mul(&i_, &zero_f);
            g.add(&f, &like)
        }
        None => {
            let like = g.mul(&i_, &zero_f);
            g.add_k(&like, 1.0)
        }
    };
    let kw = match k.list("class_weights") {
        Some(w) => {
            let c = g.cf_dims(&[w.len() as i64], &w);
            g.mul(&kf, &c)
        }
        None => kf.clone(),
    };
    let log = k.bool("log", false);
    let score_loss = |g: &mut Graph, score: &str| -> String {
        if log {
            let m = g.max_k(score, eps);
            let l = g.un("Log", &m);
            g.un("Neg", &l)
        } else {
            g.rsub(1.0, score)
        }
    };
    if name == "generalized_dice" {
        let wt = k.word("weight_type").unwrap_or("square");
        let kept = g.bin("Greater", &kf, &zero_f);
        let (raw, finite) = match wt {
            "uniform" => (g.cf(1.0), None),
            _ => {
                let den = if wt == "simple" { g_plain.clone() } else { g.mul(&g_plain, &g_plain) };
                let pos = g.bin("Greater", &den, &zero_f);
                let one = g.cf(1.0);
                let safe = g.where_(&pos, &den, &one);
                (g.div(&one, &safe), Some(pos))
            }
        };
        let w = match finite {
            None => {
                let like = g.mul(&kf, &zero_f);
                g.add(&like, &raw)
            }
            Some(pos) => {
                let fk = g.bin("And", &pos, &kept);
                let cand = g.where_(&fk, &raw, &zero_f);
                let mf = g.rmax(&cand, &[1], true);
                g.where_(&pos, &raw, &mf)
            }
        };
        let w = g.mul(&w, &kw);
        let wi = g.mul(&w, &i_);
        let sn = g.rsum(&wi, Some(&[1]), false);
        let sn2 = g.scale(&sn, 2.0);
        let num = g.add_k(&sn2, nr);
        let pgs = g.add(&p_, &g_);
        let wpg = g.mul(&w, &pgs);
        let sd = g.rsum(&wpg, Some(&[1]), false);
        let den = g.add_k(&sd, dr);
        let den = g.max_k(&den, eps);
        let score = g.div(&num, &den);
        let l = g.rsub(1.0, &score);
        let counted = g.rsum(&kf, Some(&[1]), false);
        let gk = g.bin("Greater", &counted, &zero_f);
        let gkf = g.cast_f(&gk);
        let lk = g.mul(&l, &gkf);
        let tot = g.rsum(&lk, None, false);
        let n = g.rsum(&gkf, None, false);
        return Ok(TermOut { loss: g.safe_div(&tot, &n), map: None });
    }
    let (num_terms, den_terms) = if pixelwise {
        // per pixel 1 - (2pg + 1)/(p + g + 1), summed over the counted pixels of each pair
        let pg2 = g.scale(&pg, 2.0);
        let a = g.add_k(&pg2, 1.0);
        let pgs = g.add(&pm, &y);
        let b = g.add_k(&pgs, 1.0);
        let r = g.div(&a, &b);
        let l = g.rsub(1.0, &r);
        let l = match &d.mask {
            Some(m) => g.mul(&l, m),
            None => l,
        };
        let pix = sum_pairs(g, &l);
        let cnt = cnt.expect("pixelwise counts");
        (g.mul(&kw, &pix), g.mul(&kw, &cnt))
    } else {
        let l = match name {
            "dice" => {
                let i2 = g.scale(&i_, 2.0);
                let num = g.add_k(&i2, nr);
                let s = g.add(&p_, &g_);
                let den = g.add_k(&s, dr);
                let den = g.max_k(&den, eps);
                let sc = g.div(&num, &den);
                score_loss(g, &sc)
            }
            "jaccard" => {
                let num = g.add_k(&i_, nr);
                let s = g.add(&p_, &g_);
                let s = g.sub(&s, &i_);
                let den = g.add_k(&s, dr);
                let den = g.max_k(&den, eps);
                let sc = g.div(&num, &den);
                score_loss(g, &sc)
            }
            "tversky" => {
                let alpha = k.num("alpha", 0.5) as f32;
                let beta = k.num("beta", 0.5) as f32;
                let gamma = k.num("gamma", 1.0) as f32;
                let fp = g.sub(&p_, &i_);
                let fn_ = g.sub(&g_, &i_);
                let a = g.scale(&fp, alpha);
                let b = g.scale(&fn_, beta);
                let s = g.add(&i_, &a);
                let s = g.add(&s, &b);
                let den = g.add_k(&s, dr);
                let den = g.max_k(&den, eps);
                let num = g.add_k(&i_, nr);
                let ti = g.div(&num, &den);
                let base = g.rsub(1.0, &ti);
                if gamma == 1.0 {
                    base
                } else {
                    let b0 = g.max_k(&base, 0.0);
                    g.pow_k(&b0, gamma)
                }
            }
            _ => unreachable!("overlap names"),
        };
        (g.mul(&kw, &l), kw.clone())
    };
    let num = g.rsum(&num_terms, None, false);
    let den = g.rsum(&den_terms, None, false);
    Ok(TermOut { loss: g.safe_div(&num, &den), map: None })
}

/// Ones broadcastable like `a` (`a * 0 + 1`).
fn g_plain_like_ones(g: &mut Graph, a: &str) -> String {
    let z = g.scale(a, 0.0);
    g.add_k(&z, 1.0)
}

/// The Lovász extension of the Jaccard loss over rows `[A, B, M]` (sorted along the last axis):
/// `e` the errors (`-inf` at ignored pixels), `fg` the foreground indicator (0 at ignored pixels).
/// Returns `sum relu(e_sorted) g` per row `[A, B]` and `G` per row `[A, B]`.
///
/// Sorting is `TopK(e, K = Shape(e)[2], axis=2)`; `fg` follows by `GatherElements`; with `cp`,
/// `cn` the `CumSum` of positives and negatives, `I = G - cp`, `U = G + cn`, `g = 1/U` at a
/// positive and `I/(U(U-1))` at a negative; with `G = 0`, `g = e_1`.
fn lovasz_rows(g: &mut Graph, e: &str, fg: &str) -> (String, String) {
    let kdim = g.dim(e, 2);
    let outs = g.op_n(
        "TopK",
        &[e, &kdim],
        vec![crate::graph::attr_i("axis", 2), crate::graph::attr_i("largest", 1), crate::graph::attr_i("sorted", 1)],
        2,
    );
    let (vs, idx) = (outs[0].clone(), outs[1].clone());
    let fs = g.op("GatherElements", &[fg, &idx], vec![crate::graph::attr_i("axis", 2)]);
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

/// `[N, C, *S]` -> rows `[A, B, M]`: per image `[N, C, S]`, else per channel over the batch
/// `[1, C, N S]`.
fn rows(g: &mut Graph, v: &str, rank: usize, per_image: bool) -> String {
    if per_image {
        let sh = g.ci(&[0, 0, -1]);
        g.op("Reshape", &[v, &sh], vec![])
    } else {
        let mut perm: Vec<i64> = (0..rank as i64).collect();
        perm.swap(0, 1);
        let t = g.op("Transpose", &[v], vec![crate::graph::attr_ints("perm", &perm)]);
        let sh = g.ci(&[0, -1]);
        let r = g.op("Reshape", &[&t, &sh], vec![]);
        g.unsqueeze(&r, &[0])
    }
}

/// `lovasz_hinge` (binary, multilabel): errors `e = 1 - x (2y - 1)`, one problem per (image,
/// channel) pair with `per_image`, else per channel over the batch; the mean over problems.
pub(crate) fn lovasz_hinge(g: &mut Graph, io: &Io, k: &Keys) -> Result<TermOut> {
    let per_image = k.bool("per_image", true);
    let y = io.target.clone();
    let y2 = g.scale(&y, 2.0);
    let s = g.add_k(&y2, -1.0);
    let xs = g.mul(&io.pred, &s);
    let mut e = g.rsub(1.0, &xs);
    let mut fg = y.clone();
    if let Some(i) = k.int("ignore_index") {
        let c = g.cf(i as f32);
        let eq = g.bin("Equal", &y, &c);
        let ninf = g.cf(f32::NEG_INFINITY);
        e = g.where_(&eq, &ninf, &e);
        let zero = g.cf(0.0);
        fg = g.where_(&eq, &zero, &fg);
    }
    let er = rows(g, &e, io.rank, per_image);
    let fr = rows(g, &fg, io.rank, per_image);
    let (l, _) = lovasz_rows(g, &er, &fr);
    let s = g.rsum(&l, None, false);
    let n = g.count_f(&l);
    Ok(TermOut { loss: g.div(&s, &n), map: None })
}

/// `lovasz_softmax` (multiclass): per class `e = |1[y=c] - p_c|`, one problem per class over the
/// batch (or per image with `per_image`); the mean over the counted classes (`present`: with a
/// valid pixel of that label; `all`), then over images.
pub(crate) fn lovasz_softmax(g: &mut Graph, io: &Io, k: &Keys) -> Result<TermOut> {
    let per_image = k.bool("per_image", false);
    let d = dense(g, io, k.bool("from_logits", true), k.int("ignore_index"));
    let diff = g.sub(&d.y, &d.p);
    let mut e = g.un("Abs", &diff);
    if let Some(m) = &d.mask {
        let half = g.cf(0.5);
        let valid = g.bin("Greater", m, &half);
        let ninf = g.cf(f32::NEG_INFINITY);
        e = g.where_(&valid, &e, &ninf);
    }
    let er = rows(g, &e, io.rank, per_image);
    let fr = rows(g, &d.y, io.rank, per_image);
    let (l, gs) = lovasz_rows(g, &er, &fr);
    let zero = g.cf(0.0);
    let counted = if k.word("classes") == Some("all") {
        let z = g.mul(&gs, &zero);
        g.add_k(&z, 1.0)
    } else {
        let p = g.bin("Greater", &gs, &zero);
        g.cast_f(&p)
    };
    let lc = g.mul(&l, &counted);
    let num = g.rsum(&lc, Some(&[1]), false);
    let den = g.rsum(&counted, Some(&[1]), false);
    let per = g.safe_div(&num, &den);
    let s = g.rsum(&per, None, false);
    let n = g.count_f(&per);
    Ok(TermOut { loss: g.div(&s, &n), map: None })
}

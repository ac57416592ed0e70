//! The overlap family's graphs (`dice`, `jaccard`, `tversky`, `generalized_dice`,
//! `log_cosh_dice`), one exporter per config type, from `docs/LOSSES.md` (section Overlap family)
//! and the validated config's values.
//!
//! Per (image, channel) pair (or channel over the batch with `reduce=batch`), with `p` masked by
//! the valid pixels: `I = sum p g` (`soft_label`: `(P + G - sum |p - g|)/2 = sum min(p, g)`), `P = sum p`
//! (`sum p^2` for squared Dice), `G = sum g`; the pair losses with every denominator floored at
//! `OverlapKeys::denominator_floor`; the kept pairs (`include_background`, `ignore_index` in
//! `[0, C)` with `ignore_mode=class`, `classes=present`) averaged with `class_weights`, or added up
//! with `reduction=sum`.

use crate::graph::{channel_range, dense, Graph, Io, TermOut};
use crate::plan::TermExport;
use crate::Result;
use segloss::core::{Classes, Reduce};
use segloss::overlap::{
    DiceConfig, DiceKeys, GeneralizedDiceConfig, IgnoreMode, JaccardConfig, LogCoshDiceConfig, OverlapKeys, TverskyConfig, WeightType,
};
use segloss::{Mode, Reduction};

/// The loss of one pair, from its sums.
#[derive(Debug, Clone, Copy)]
enum Score {
    /// `1 - (2I + nr)/(P + G + dr)` (or `-ln` of the score with `log`).
    Dice { log: bool },
    /// `1 - (I + nr)/(P + G - I + dr)` (or `-ln`).
    Jaccard { log: bool },
    /// `(1 - (I + nr)/(I + alpha FP + beta FN + dr))^gamma`.
    Tversky { alpha: f32, beta: f32, gamma: f32 },
    /// One score per image (or batch) over the weighted channels.
    Generalized(WeightType),
}

/// An overlap loss: the shared keys, how pairs are formed and the pair loss.
struct Overlap<'a> {
    common: &'a OverlapKeys,
    reduce: Reduce,
    squared: bool,
    pixelwise: bool,
    score: Score,
}

impl<'a> Overlap<'a> {
    fn dice(dice: &DiceKeys, common: &'a OverlapKeys) -> Self {
        Overlap { common, reduce: dice.reduce, squared: dice.squared, pixelwise: dice.pixelwise, score: Score::Dice { log: dice.log } }
    }

    fn plain(common: &'a OverlapKeys, reduce: Reduce, score: Score) -> Self {
        Overlap { common, reduce, squared: false, pixelwise: false, score }
    }
}

impl TermExport for DiceConfig {
    fn mode(&self) -> Option<Mode> {
        self.mode
    }
    fn class_weights(&self) -> Option<&[f32]> {
        self.common.class_weights.as_deref()
    }
    fn body(&self, g: &mut Graph, io: &Io) -> Result<TermOut> {
        Overlap::dice(&self.dice, &self.common).write(g, io)
    }
}

impl TermExport for LogCoshDiceConfig {
    fn mode(&self) -> Option<Mode> {
        self.mode
    }
    fn class_weights(&self) -> Option<&[f32]> {
        self.common.class_weights.as_deref()
    }
    /// `log(cosh(L))` of the Dice value `L`, as `|L| + ln(1 + e^(-2|L|)) - ln 2`, in double (in
    /// float the last subtraction cancels for small `L`, where the result is about `L^2 / 2`).
    fn body(&self, g: &mut Graph, io: &Io) -> Result<TermOut> {
        let l = Overlap::dice(&self.dice, &self.common).write(g, io)?.loss;
        let l = g.cast_d(&l);
        let a = g.un("Abs", &l);
        let m2 = g.cd(-2.0);
        let x = g.mul(&a, &m2);
        let e = g.un("Exp", &x);
        let one = g.cd(1.0);
        let e1 = g.add(&e, &one);
        let lg = g.un("Log", &e1);
        let s = g.add(&a, &lg);
        let ln2 = g.cd(std::f64::consts::LN_2);
        let r = g.sub(&s, &ln2);
        Ok(TermOut::scalar(g.cast_f(&r)))
    }
}

impl TermExport for JaccardConfig {
    fn mode(&self) -> Option<Mode> {
        self.mode
    }
    fn class_weights(&self) -> Option<&[f32]> {
        self.common.class_weights.as_deref()
    }
    fn body(&self, g: &mut Graph, io: &Io) -> Result<TermOut> {
        Overlap::plain(&self.common, self.reduce, Score::Jaccard { log: self.log }).write(g, io)
    }
}

impl TermExport for TverskyConfig {
    fn mode(&self) -> Option<Mode> {
        self.mode
    }
    fn class_weights(&self) -> Option<&[f32]> {
        self.common.class_weights.as_deref()
    }
    fn body(&self, g: &mut Graph, io: &Io) -> Result<TermOut> {
        let score = Score::Tversky { alpha: self.alpha as f32, beta: self.beta as f32, gamma: self.gamma as f32 };
        Overlap::plain(&self.common, self.reduce, score).write(g, io)
    }
}

impl TermExport for GeneralizedDiceConfig {
    fn mode(&self) -> Option<Mode> {
        self.mode
    }
    fn class_weights(&self) -> Option<&[f32]> {
        self.common.class_weights.as_deref()
    }
    fn body(&self, g: &mut Graph, io: &Io) -> Result<TermOut> {
        Overlap::plain(&self.common, self.reduce, Score::Generalized(self.weight_type)).write(g, io)
    }
}

/// `a AND b` of two optional boolean tensors.
fn and(g: &mut Graph, keep: Option<String>, b: String) -> String {
    match keep {
        Some(k) => g.bin("And", &k, &b),
        None => b,
    }
}

impl Overlap<'_> {
    fn write(&self, g: &mut Graph, io: &Io) -> Result<TermOut> {
        let c = self.common;
        let (nr, dr) = c.smoothing()?;
        let floor = c.denominator_floor()? as f32;
        let (nr, dr, eps) = (nr as f32, dr as f32, c.eps as f32);
        let sum = c.reduction == Reduction::Sum;
        let d = dense(g, io, c.from_logits, c.ignore_index);
        let pm = match &d.mask {
            Some(m) => g.mul(&d.p, m),
            None => d.p.clone(),
        };
        let y = d.y.clone();
        let batch = self.reduce == Reduce::Batch;
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
        let pg = g.mul(&pm, &y);
        let p_ = if self.squared {
            let p2 = g.mul(&pm, &pm);
            sum_pairs(g, &p2)
        } else {
            sum_pairs(g, &pm)
        };
        let g_plain = sum_pairs(g, &y);
        // squared Dice's soft-label form is sum p g
        let i_ = if c.soft_label && !self.squared {
            // (P + G - sum |p - g|)/2 = sum min(p, g), without the cancellation (masked: both 0)
            let m = g.bin("Min", &pm, &y);
            sum_pairs(g, &m)
        } else {
            sum_pairs(g, &pg)
        };
        let g_ = if self.squared {
            let y2 = g.mul(&y, &y);
            sum_pairs(g, &y2)
        } else {
            g_plain.clone()
        };
        // kept channels [C] (bool)
        let ch = channel_range(g, &io.pred);
        let cdim = g.dim(&io.pred, 1);
        let mut keep: Option<String> = None;
        if !c.include_background {
            let zero = g.ci0(0);
            let gt = g.bin("Greater", &ch, &zero);
            let one = g.ci(&[1]);
            let single = g.bin("Equal", &cdim, &one);
            keep = Some(g.bin("Or", &gt, &single));
        }
        if let (Some(i), Mode::Multiclass, IgnoreMode::Class) = (c.ignore_index, io.mode, c.ignore_mode) {
            let ci = g.ci0(i);
            let eq = g.bin("Equal", &ch, &ci);
            let ne = g.un("Not", &eq);
            keep = Some(and(g, keep, ne));
        }
        let zero_f = g.cf(0.0);
        if c.classes == Classes::Present {
            let present = g.bin("Greater", &g_plain, &zero_f);
            keep = Some(match keep {
                Some(kp) => g.bin("And", &present, &kp),
                None => present,
            });
        }
        // counted pixels per pair (pixelwise)
        let cnt = if self.pixelwise {
            let z = g.scale(&d.p, 0.0);
            let ones = g.add_k(&z, 1.0);
            let mb = match &d.mask {
                Some(m) => g.mul(&ones, m),
                None => ones,
            };
            let n = sum_pairs(g, &mb);
            let pos = g.bin("Greater", &n, &zero_f);
            keep = Some(match keep {
                Some(kp) => g.bin("And", &pos, &kp),
                None => pos,
            });
            Some(n)
        } else {
            None
        };
        // the kept pairs as floats, broadcast ([C] or [Np, C]) against the pairs
        let like = g.mul(&i_, &zero_f);
        let kf = match &keep {
            Some(kp) => {
                let f = g.cast_f(kp);
                g.add(&f, &like)
            }
            None => g.add_k(&like, 1.0),
        };
        let kw = match &c.class_weights {
            Some(w) => {
                let cw = g.cf_dims(&[w.len() as i64], w);
                g.mul(&kf, &cw)
            }
            None => kf.clone(),
        };
        let sums = Sums { i: i_, p: p_, g: g_, g_plain, kf, kw, nr, dr, floor, eps, sum };
        if let Score::Generalized(wt) = self.score {
            return Ok(sums.generalized(g, wt));
        }
        let (num_terms, den_terms) = if self.pixelwise {
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
            (g.mul(&sums.kw, &pix), g.mul(&sums.kw, &cnt))
        } else {
            let l = sums.pair_loss(g, self.score);
            (g.mul(&sums.kw, &l), sums.kw.clone())
        };
        let num = g.rsum(&num_terms, None, false);
        if sum {
            // the weighted sum of the pair losses (the per-pixel Dice has no sum: rejected when built)
            return Ok(TermOut::scalar(num));
        }
        let den = g.rsum(&den_terms, None, false);
        Ok(TermOut::scalar(g.safe_div(&num, &den)))
    }
}

/// The per-pair sums and weights of an overlap loss.
struct Sums {
    /// `I`, `P`, `G` (`P`, `G` squared for squared Dice) and the plain `G`, per pair.
    i: String,
    p: String,
    g: String,
    g_plain: String,
    /// The kept pairs as floats, and times the class weights.
    kf: String,
    kw: String,
    nr: f32,
    dr: f32,
    /// The floor of every denominator, and of the score under `log`.
    floor: f32,
    eps: f32,
    /// `reduction=sum`.
    sum: bool,
}

impl Sums {
    /// `(num + nr) / max(den + dr, floor)`.
    fn ratio(&self, g: &mut Graph, num: &str, den: &str) -> String {
        let num = g.add_k(num, self.nr);
        let den = g.add_k(den, self.dr);
        let den = g.max_k(&den, self.floor);
        g.div(&num, &den)
    }

    /// `1 - score`, or `-ln(max(score, eps))` with `log`.
    fn score_loss(&self, g: &mut Graph, score: &str, log: bool) -> String {
        if log {
            let m = g.max_k(score, self.eps);
            let l = g.un("Log", &m);
            g.un("Neg", &l)
        } else {
            g.rsub(1.0, score)
        }
    }

    /// The loss of each pair.
    fn pair_loss(&self, g: &mut Graph, score: Score) -> String {
        let (i_, p_, g_) = (&self.i, &self.p, &self.g);
        match score {
            Score::Dice { log } => {
                let i2 = g.scale(i_, 2.0);
                let s = g.add(p_, g_);
                let sc = self.ratio(g, &i2, &s);
                self.score_loss(g, &sc, log)
            }
            Score::Jaccard { log } => {
                let s = g.add(p_, g_);
                let s = g.sub(&s, i_);
                let sc = self.ratio(g, i_, &s);
                self.score_loss(g, &sc, log)
            }
            Score::Tversky { alpha, beta, gamma } => {
                let fp = g.sub(p_, i_);
                let fn_ = g.sub(g_, i_);
                let a = g.scale(&fp, alpha);
                let b = g.scale(&fn_, beta);
                let s = g.add(i_, &a);
                let s = g.add(&s, &b);
                let ti = self.ratio(g, i_, &s);
                let base = g.rsub(1.0, &ti);
                if gamma == 1.0 {
                    base
                } else {
                    let b0 = g.max_k(&base, 0.0);
                    g.pow_k(&b0, gamma)
                }
            }
            Score::Generalized(_) => unreachable!("generalized Dice has no per-pair loss"),
        }
    }

    /// `generalized_dice`: per image (or batch) `w_c` = `1/G^2`, `1/G` or 1 (infinite weights
    /// replaced by the largest finite weight of the kept channels), score
    /// `(2 sum w I + nr)/(sum w (P + G) + dr)`; the mean of `1 - score` over the images with a
    /// kept channel (their sum with `reduction=sum`).
    fn generalized(&self, g: &mut Graph, wt: WeightType) -> TermOut {
        let zero_f = g.cf(0.0);
        let kf = &self.kf;
        let kept = g.bin("Greater", kf, &zero_f);
        let w = match wt {
            WeightType::Uniform => {
                let like = g.mul(kf, &zero_f);
                g.add_k(&like, 1.0)
            }
            WeightType::Square | WeightType::Simple => {
                let den = if wt == WeightType::Simple { self.g_plain.clone() } else { g.mul(&self.g_plain, &self.g_plain) };
                let pos = g.bin("Greater", &den, &zero_f);
                let one = g.cf(1.0);
                let safe = g.where_(&pos, &den, &one);
                let raw = g.div(&one, &safe);
                let fk = g.bin("And", &pos, &kept);
                let cand = g.where_(&fk, &raw, &zero_f);
                let mf = g.rmax(&cand, &[1], true);
                g.where_(&pos, &raw, &mf)
            }
        };
        let w = g.mul(&w, &self.kw);
        let wi = g.mul(&w, &self.i);
        let sn = g.rsum(&wi, Some(&[1]), false);
        let sn2 = g.scale(&sn, 2.0);
        let pgs = g.add(&self.p, &self.g);
        let wpg = g.mul(&w, &pgs);
        let sd = g.rsum(&wpg, Some(&[1]), false);
        let score = self.ratio(g, &sn2, &sd);
        let l = g.rsub(1.0, &score);
        let counted = g.rsum(kf, Some(&[1]), false);
        let gk = g.bin("Greater", &counted, &zero_f);
        let gkf = g.cast_f(&gk);
        let lk = g.mul(&l, &gkf);
        let tot = g.rsum(&lk, None, false);
        if self.sum {
            return TermOut::scalar(tot);
        }
        let n = g.rsum(&gkf, None, false);
        TermOut::scalar(g.safe_div(&tot, &n))
    }
}

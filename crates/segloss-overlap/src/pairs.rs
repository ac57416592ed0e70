//! From the statistics of every (image, channel) row to the loss and the per-row gradient
//! coefficients: the formulas of `docs/LOSSES.md` (section Overlap family), in `f64`, shared by
//! every backend.

use crate::generalized_dice::WeightType;
use crate::kernels::{Coef, Stats};
use segloss_core::{Classes, Reduce};

/// The loss of a pair, as a function of its statistics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// `dice`.
    Dice {
        /// `squared`: P and G become sums of squares.
        squared: bool,
        /// `log`: `-ln(max(score, eps))`.
        log: bool,
        /// `pixelwise`: the mean per-pixel Dice loss.
        pixelwise: bool,
    },
    /// `jaccard`.
    Jaccard {
        /// `log`: `-ln(max(score, eps))`.
        log: bool,
    },
    /// `tversky`.
    Tversky {
        /// Weight of FP.
        alpha: f64,
        /// Weight of FN.
        beta: f64,
        /// Exponent applied per pair.
        gamma: f64,
    },
    /// `generalized_dice`.
    GeneralizedDice {
        /// The class weights' rule.
        weight_type: WeightType,
    },
}

/// Everything the pair step needs besides the statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct PairParams<'a> {
    /// The loss.
    pub kind: Kind,
    /// Pairs per image or per channel over the batch.
    pub reduce: Reduce,
    /// Numerator smoothing.
    pub nr: f64,
    /// Denominator smoothing.
    pub dr: f64,
    /// Lower bound of every denominator (`OverlapKeys::denominator_floor`).
    pub floor: f64,
    /// Lower bound of the score under `log`.
    pub eps: f64,
    /// `reduction=sum`: the weighted sum of the pair losses instead of their weighted mean.
    pub sum: bool,
    /// `classes=present` drops pairs with `G = 0`.
    pub classes: Classes,
    /// Whether each channel is kept (`include_background`, an `ignore_index` inside `[0, C)`).
    pub keep_channel: &'a [bool],
    /// Per-class weights (empty: all 1).
    pub class_weights: &'a [f32],
}

/// A kept channel of a `generalized_dice` group: `(channel, dL/dI, dL/dP)`.
type ChannelDerivs = (usize, f64, f64);

/// `(loss, dL/dI, dL/dP)` of a pair whose loss is a function of `I`, `P`, `G` (`P`, `G` the
/// sums of squares for squared Dice; `I` the statistics' intersection, `sum min(p, g)` with
/// `soft_label`). Denominators are floored at `floor`; the derivative through a floored
/// denominator is 0.
pub fn pair_loss(kind: &Kind, s: &Stats, nr: f64, dr: f64, floor: f64, eps: f64) -> (f64, f64, f64) {
    let i = s.i;
    // (score, d score/dI, d score/dP)
    let (score, ds_di, ds_dp, log) = match *kind {
        Kind::Dice { squared, log, .. } => {
            let (p, g) = if squared { (s.p2, s.g2) } else { (s.p, s.g) };
            let raw = p + g + dr;
            let d = raw.max(floor);
            let sc = (2.0 * i + nr) / d;
            let dp = if raw > floor { -sc / d } else { 0.0 };
            (sc, 2.0 / d, dp, log)
        }
        Kind::Jaccard { log } => {
            let raw = s.p + s.g - i + dr;
            let d = raw.max(floor);
            let sc = (i + nr) / d;
            let (di, dp) = if raw > floor { (1.0 / d + sc / d, -sc / d) } else { (1.0 / d, 0.0) };
            (sc, di, dp, log)
        }
        Kind::Tversky { alpha, beta, .. } => {
            let fp = s.p - i;
            let fn_ = s.g - i;
            let raw = i + alpha * fp + beta * fn_ + dr;
            let d = raw.max(floor);
            let sc = (i + nr) / d;
            let (di, dp) = if raw > floor { (1.0 / d - sc * (1.0 - alpha - beta) / d, -sc * alpha / d) } else { (1.0 / d, 0.0) };
            (sc, di, dp, false)
        }
        Kind::GeneralizedDice { .. } => unreachable!("generalized_dice is computed per image"),
    };
    let (l, dl_ds) = if log {
        if score > eps {
            (-score.ln(), -1.0 / score)
        } else {
            (-eps.ln(), 0.0)
        }
    } else if let Kind::Tversky { gamma, .. } = *kind {
        let base = 1.0 - score;
        if gamma == 1.0 {
            (base, -1.0)
        } else if base > 0.0 {
            (base.powf(gamma), -gamma * base.powf(gamma - 1.0))
        } else {
            // (1 - TI)^gamma with TI >= 1: 0, with a zero gradient (also for gamma < 1 at TI = 1)
            (0.0, 0.0)
        }
    } else {
        (1.0 - score, -1.0)
    };
    (l, dl_ds * ds_di, dl_ds * ds_dp)
}

/// The loss over the batch and the gradient coefficients of every row `n * C + c`, scaled by
/// `upstream`. `stats` holds one entry per row.
pub fn finalize(pp: &PairParams<'_>, n: usize, c: usize, stats: &[Stats], upstream: f64) -> (f64, Vec<Coef>) {
    let mut coefs = vec![Coef::default(); n * c];
    let w = |k: usize| if pp.class_weights.is_empty() { 1.0 } else { pp.class_weights[k] as f64 };
    // pairs: (rows it covers, its statistics)
    let groups: Vec<(Vec<usize>, Vec<Stats>)> = match pp.reduce {
        // one group per image, one pair per channel
        Reduce::Image => (0..n).map(|i| ((0..c).map(|k| i * c + k).collect(), stats[i * c..(i + 1) * c].to_vec())).collect(),
        // one group, pairs summed over the batch in image order
        Reduce::Batch => {
            let mut tot = vec![Stats::default(); c];
            for i in 0..n {
                for k in 0..c {
                    tot[k].add(&stats[i * c + k]);
                }
            }
            vec![((0..c).collect(), tot)]
        }
    };
    let rows_of = |pair_first_row: usize, k: usize| -> Vec<usize> {
        match pp.reduce {
            Reduce::Image => vec![pair_first_row],
            Reduce::Batch => (0..n).map(|i| i * c + k).collect(),
        }
    };
    let kept = |k: usize, s: &Stats| -> bool {
        pp.keep_channel[k]
            && (pp.classes == Classes::All || s.g > 0.0)
            && !(matches!(pp.kind, Kind::Dice { pixelwise: true, .. }) && s.cnt == 0.0)
    };

    if let Kind::GeneralizedDice { weight_type } = pp.kind {
        let mut total = 0.0;
        let mut counted = 0usize;
        // per counted group: its index and (channel, dL/dI, dL/dP) of its kept channels
        let mut per_group: Vec<(usize, Vec<ChannelDerivs>)> = Vec::new();
        for (gi, (_, st)) in groups.iter().enumerate() {
            let ks: Vec<usize> = (0..c).filter(|&k| kept(k, &st[k])).collect();
            if ks.is_empty() {
                continue;
            }
            let raw_w: Vec<f64> = ks
                .iter()
                .map(|&k| {
                    let g = st[k].g;
                    match weight_type {
                        WeightType::Square => 1.0 / (g * g),
                        WeightType::Simple => 1.0 / g,
                        WeightType::Uniform => 1.0,
                    }
                })
                .collect();
            let max_finite = raw_w.iter().filter(|v| v.is_finite()).fold(0.0f64, |a, &b| a.max(b));
            let wts: Vec<f64> = raw_w.iter().zip(&ks).map(|(&v, &k)| if v.is_finite() { v } else { max_finite } * w(k)).collect();
            let mut num = pp.nr;
            let mut den_raw = pp.dr;
            for (&k, &wk) in ks.iter().zip(&wts) {
                num += 2.0 * wk * st[k].i;
                den_raw += wk * (st[k].p + st[k].g);
            }
            let den = den_raw.max(pp.floor);
            let score = num / den;
            total += 1.0 - score;
            counted += 1;
            let d: Vec<ChannelDerivs> = ks
                .iter()
                .zip(&wts)
                .map(|(&k, &wk)| (k, -2.0 * wk / den, if den_raw > pp.floor { score * wk / den } else { 0.0 }))
                .collect();
            per_group.push((gi, d));
        }
        if counted == 0 {
            return (0.0, coefs);
        }
        // mean over the counted images (groups), or their sum
        let norm = if pp.sum { 1.0 } else { counted as f64 };
        let f = upstream / norm;
        for (gi, d) in per_group {
            let (rows, _) = &groups[gi];
            for (k, di, dp) in d {
                for r in rows_of(rows[k], k) {
                    coefs[r] = Coef { a: f * dp, b: f * di, c: 0.0, k: 0.0 };
                }
            }
        }
        return (total / norm, coefs);
    }

    let pixelwise = matches!(pp.kind, Kind::Dice { pixelwise: true, .. });
    let squared = matches!(pp.kind, Kind::Dice { squared: true, .. });
    let mut num = 0.0;
    let mut den = 0.0;
    let mut derivs: Vec<(Vec<usize>, f64, f64, f64)> = Vec::new(); // rows, weight, dI, dP
    for (rows, st) in &groups {
        for k in 0..c {
            let s = &st[k];
            if !kept(k, s) {
                continue;
            }
            let wk = w(k);
            let rs = rows_of(rows[k], k);
            if pixelwise {
                num += wk * s.pix;
                den += wk * s.cnt;
                derivs.push((rs, wk, 0.0, 0.0));
            } else {
                let (l, di, dp) = pair_loss(&pp.kind, s, pp.nr, pp.dr, pp.floor, pp.eps);
                num += wk * l;
                den += wk;
                derivs.push((rs, wk, di, dp));
            }
        }
    }
    if den == 0.0 {
        // no pair kept (or every kept pair has weight 0): 0 with a zero gradient
        return (0.0, coefs);
    }
    // mean: sum w L / sum w; sum: sum w L (the per-pixel Dice has no sum, rejected when built)
    let norm = if pp.sum { 1.0 } else { den };
    for (rs, wk, di, dp) in derivs {
        let f = upstream * wk / norm;
        let cf = if pixelwise {
            Coef { k: f, ..Coef::default() }
        } else if squared {
            Coef { a: 0.0, b: f * di, c: 2.0 * f * dp, k: 0.0 }
        } else {
            Coef { a: f * dp, b: f * di, c: 0.0, k: 0.0 }
        };
        for r in rs {
            coefs[r] = cf;
        }
    }
    (num / norm, coefs)
}

//! The `wasserstein_dice` graph, from `docs/LOSSES.md` (section Wasserstein Dice) and the
//! validated config's values. Multiclass labels only.
//!
//! `R = MatMul(p^T, M^T)` (`p` moved to `[N, *S, C]`) holds `W_y(x) = sum_c M[y, c] p_c(x)` for
//! every class y; `W(x) = R[x, y(x)]` by `GatherElements` on the labels. The weights `a_y`: `y > 0`
//! (default) or `1/(V_nc + 1)` gathered from the per-image class counts (gdl). Per image
//! `A = sum a_y`, `B = sum a_y W`, `S = sum W`, `TP = A - B`, `Den = 2 TP + S` (default) or
//! `2A - B` (gdl); the loss is the mean over the images of `1 - (2 TP + nr)/max(Den + dr, 1e-7)`.
//! `M` is the normalised matrix as a constant, or `1 - eye(C)` built from `pred`'s channel count
//! for `uniform`.

use crate::graph::{attr_i, attr_ints, channel_range, Graph, Io, TermOut};
use crate::plan::TermExport;
use crate::{ExportError, Result};
use segloss::core::declare::DistMatrix;
use segloss::overlap::{WassersteinDiceConfig, WeightingMode};
use segloss::{Mode, Reduction};

/// The denominator `Den + dr` is clamped to at least this (as the native loss).
const DEN_EPS: f32 = 1e-7;

impl TermExport for WassersteinDiceConfig {
    fn mode(&self) -> Option<Mode> {
        self.mode
    }
    fn body(&self, g: &mut Graph, io: &Io) -> Result<TermOut> {
        if io.mode != Mode::Multiclass {
            return Err(ExportError::unsupported("wasserstein_dice", format!("is multiclass only (got mode {})", io.mode)));
        }
        let (nr, dr) = match self.smooth {
            Some(s) => (s as f32, s as f32),
            None => (self.smooth_nr as f32, self.smooth_dr as f32),
        };
        let rank = io.rank as i64;
        let sp = io.spatial();
        // M^T as [C, C]
        let mt = match &self.dist_matrix {
            DistMatrix::Uniform => {
                let r = channel_range(g, &io.pred);
                let rc = g.unsqueeze(&r, &[1]);
                let rr = g.unsqueeze(&r, &[0]);
                let eye = g.bin("Equal", &rc, &rr);
                let eye = g.cast_f(&eye);
                g.rsub(1.0, &eye)
            }
            DistMatrix::Matrix(rows) => {
                let c = rows.len();
                let m = self.dist_matrix.normalized(c).expect("a square matrix");
                let t: Vec<f32> = (0..c * c).map(|i| m[(i % c) * c + i / c] as f32).collect();
                g.cf_dims(&[c as i64, c as i64], &t)
            }
        };
        let p = if self.from_logits { g.op("Softmax", &[&io.pred], vec![attr_i("axis", 1)]) } else { io.pred.clone() };
        // p^T [N, *S, C] and R = p^T M^T: R[.., y] = sum_c p_c M[y, c]
        let mut perm: Vec<i64> = vec![0];
        perm.extend(2..rank);
        perm.push(1);
        let pt = g.op("Transpose", &[&p], vec![attr_ints("perm", &perm)]);
        let r = g.op("MatMul", &[&pt, &mt], vec![]);
        let yi = g.unsqueeze(&io.target, &[rank - 1]);
        let w = g.op("GatherElements", &[&r, &yi], vec![attr_i("axis", rank - 1)]);
        let w = g.squeeze(&w, &[rank - 1]); // [N, *S]
        let ay = match self.weighting_mode {
            WeightingMode::Default => {
                let zero = g.ci0(0);
                let fg = g.bin("Greater", &io.target, &zero);
                g.cast_f(&fg)
            }
            WeightingMode::Gdl => {
                // one-hot [N, C, *S], counts V [N, C, 1, ...], a = 1/(V + 1), a_y = sum_c onehot a
                let ch = channel_range(g, &io.pred);
                let mut shape = vec![1i64; io.rank];
                shape[1] = -1;
                let sh = g.ci(&shape);
                let ch = g.op("Reshape", &[&ch, &sh], vec![]);
                let tu = g.unsqueeze(&io.target, &[1]);
                let eq = g.bin("Equal", &tu, &ch);
                let oh = g.cast_f(&eq);
                let v = g.rsum(&oh, Some(&sp), true);
                let v1 = g.add_k(&v, 1.0);
                let one = g.cf(1.0);
                let a = g.div(&one, &v1);
                let oa = g.mul(&oh, &a);
                g.rsum(&oa, Some(&[1]), false)
            }
        };
        // per-image sums over the spatial axes of [N, *S]: axes 1..rank-1
        let axes: Vec<i64> = (1..rank - 1).collect();
        let a_sum = g.rsum(&ay, Some(&axes), false);
        let aw = g.mul(&ay, &w);
        let b_sum = g.rsum(&aw, Some(&axes), false);
        let s_sum = g.rsum(&w, Some(&axes), false);
        let tp = g.sub(&a_sum, &b_sum);
        let tp2 = g.scale(&tp, 2.0);
        let num = g.add_k(&tp2, nr);
        let den = match self.weighting_mode {
            WeightingMode::Default => g.add(&tp2, &s_sum),
            WeightingMode::Gdl => {
                let a2 = g.scale(&a_sum, 2.0);
                g.sub(&a2, &b_sum)
            }
        };
        let den = g.add_k(&den, dr);
        let den = g.max_k(&den, DEN_EPS);
        let q = g.div(&num, &den);
        let l = g.rsub(1.0, &q); // [N]
        let total = g.rsum(&l, None, false);
        if self.reduction == Reduction::Sum {
            return Ok(TermOut::scalar(total));
        }
        let n = g.dim(&io.pred, 0);
        let n = g.cast_f(&n);
        let n = g.squeeze(&n, &[0]);
        Ok(TermOut::scalar(g.div(&total, &n)))
    }
}

//! `cldice`: the soft clDice loss of Shit et al. 2021 ("clDice - a Novel Topology-Preserving Loss
//! Function for Tubular Structure Segmentation"), as MONAI 1.6 computes it. See `docs/LOSSES.md`,
//! section clDice.
//!
//! With `P`, `G` the kept channels of the probabilities and of the target, `SP = skel(P)` and
//! `SG = skel(G)` (the soft skeletons, per (image, channel)):
//! `Tprec = (sum SP G + nr)/(sum SP + dr)`, `Tsens = (sum SG P + nr)/(sum SG + dr)`, the sums over
//! the kept channels and pixels of one image (`reduce=batch`: of the whole batch), and
//! `cl = 1 - 2 Tprec Tsens / (Tprec + Tsens + smooth_hm)`; the loss is the mean of `cl` over the
//! images (or the batch's one `cl`). Every denominator is clamped to `>= 1e-7`. The target's
//! skeleton is a constant for the gradient. 2 or 3 spatial axes.
//!
//! Keys: [`ClDiceKeys`]. Anchor (equal): MONAI 1.6 `SoftclDiceLoss(iter_, smooth_nr, smooth_dr,
//! smooth=smooth_hm, include_background, sigmoid|softmax, to_onehot_y=True)`.
//!
//! Evaluation, per call: the probabilities once; then in parallel per (image, channel) the two
//! skeletons and their four sums (the target's skeleton kept for the gradient); the ratios per
//! image; then, for the gradient, per (image, channel) the prediction's skeleton again with every
//! plane recorded and its reverse pass; last the activation's Jacobian. Every sum of a plane runs
//! in one task in a fixed order and planes are combined in channel then image order, so any thread
//! count gives the same bits. Buffers are kept in the loss and reused by the next call.

use crate::skeleton::{sums, Grid, Scratch, Skel};
use rayon::prelude::*;
use segloss_core::declare::{checks, KeyGroup, WeightUse};
use segloss_core::input::{contiguous, DenseTarget, Labels};
use segloss_core::kernel::{check_grad_len, reject_weight, Backend};
use segloss_core::params::fmt_num;
use segloss_core::simd::{self, f32x8, load, store, LANES};
use segloss_core::{resolve, Batch, Layout, Loss, LossError, Mode, Reduce, Result, TargetLayout};
use std::borrow::Cow;
use std::sync::Mutex;

/// Every denominator is clamped to at least this.
pub(crate) const EPS: f64 = 1e-7;

segloss_core::declare_keys! {
    /// The keys of `cldice`, shared with `dice_cldice` (see `docs/LOSSES.md`, section clDice).
    pub struct ClDiceKeys {
        /// skeleton iterations, an integer >= 0
        iters: usize = 3, examples [0, 5];
        /// sets smooth_nr and smooth_dr, >= 0 (an error with either at another value)
        smooth: Option<f64> = None, check checks::opt_nonneg, examples [Some(0.0)];
        /// added to every numerator (Tprec, Tsens; dice_cldice's Dice score too), >= 0
        smooth_nr: f64 = 1.0, check checks::nonneg, examples [0.0];
        /// added to every denominator (Tprec, Tsens; dice_cldice's Dice score too), >= 0
        smooth_dr: f64 = 1.0, check checks::nonneg, examples [1e-5];
        /// added to the denominator of the harmonic mean, >= 0 (MONAI 1.6's `smooth`)
        smooth_hm: f64 = 1e-4, check checks::nonneg, examples [0.0];
        /// false drops channel 0 (multiclass and multilabel; no effect in binary)
        include_background: bool = true;
        /// image: Tprec and Tsens per image, then the mean; batch: over the whole batch
        reduce: Reduce = Reduce::Image;
        /// false: pred holds probabilities (softmax/sigmoid skipped), used unclipped
        from_logits: bool = true;
    }
}

impl ClDiceKeys {
    /// The smoothing `(nr, dr)` in use: `(s, s)` when `smooth = s` is given, else
    /// `(smooth_nr, smooth_dr)`; every key checked. `smooth` with a `smooth_nr` or `smooth_dr`
    /// that differs from its default is an error naming `smooth` (a typed config cannot tell a
    /// key given at its default from one left out: then `smooth` wins).
    pub fn smoothing(&self) -> Result<(f64, f64)> {
        self.check_keys()?;
        let d = ClDiceKeys::default();
        match self.smooth {
            None => Ok((self.smooth_nr, self.smooth_dr)),
            Some(s) => {
                let other = if self.smooth_nr != d.smooth_nr {
                    Some("smooth_nr")
                } else if self.smooth_dr != d.smooth_dr {
                    Some("smooth_dr")
                } else {
                    None
                };
                match other {
                    None => Ok((s, s)),
                    Some(other) => Err(LossError::config(
                        "smooth",
                        fmt_num(s),
                        format!("sets both smooth_nr and smooth_dr; do not give it with `{other}`"),
                    )),
                }
            }
        }
    }
}

segloss_core::declare_loss! {
    /// `cldice`: `1 - 2 Tprec Tsens / (Tprec + Tsens + smooth_hm)` on soft skeletons, per image
    /// (see the [module docs](self)).
    pub struct ClDiceConfig {
        name: "cldice",
        family: "segloss-overlap",
        modes: [Binary, Multiclass, Multilabel],
        weight: WeightUse::None,
        formula: "1 - 2 Tprec Tsens / (Tprec + Tsens + smooth_hm), Tprec = (sum skel(P) G + nr)/(sum skel(P) + dr), Tsens = (sum skel(G) P + nr)/(sum skel(G) + dr)",
        anchor: "MONAI 1.6 `SoftclDiceLoss(iter_, smooth_nr, smooth_dr, smooth=smooth_hm, include_background, sigmoid|softmax, to_onehot_y=True)`",
        aliases: [],
        keys: {
            ..cl: ClDiceKeys;
        }
    }
}

impl ClDiceConfig {
    /// Checks every key and builds the loss.
    pub fn build(&self) -> Result<ClDice> {
        self.check_keys()?;
        Ok(ClDice { engine: ClEngine::new("cldice", &self.cl, self.mode)?, config: self.clone() })
    }
}

/// The built `cldice` loss (from [`ClDiceConfig::build`]).
#[derive(Debug)]
pub struct ClDice {
    config: ClDiceConfig,
    pub(crate) engine: ClEngine,
}

impl Loss for ClDice {
    fn name(&self) -> &'static str {
        "cldice"
    }

    fn config(&self) -> Option<&dyn std::any::Any> {
        Some(&self.config)
    }

    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        self.engine.eval(batch, grad, upstream as f64, false).map(|v| v as f32)
    }
}

// ---------------------------------------------------------------------------------------------
// the engine

/// Per-task buffers: the skeleton's planes, a target plane and two gradient planes.
#[derive(Debug, Default)]
struct Task {
    sk: Scratch,
    g: Vec<f32>,
    gs: Vec<f32>,
    gin: Vec<f32>,
}

/// Buffers kept between calls: the probabilities, the per-plane work buffer (the target's
/// skeleton, then `dL/dp`), and a pool of per-task buffers.
#[derive(Debug, Default)]
struct Workspace {
    p: Vec<f32>,
    w: Vec<f32>,
}

/// A validated clDice: keys in use and reusable buffers.
#[derive(Debug)]
pub(crate) struct ClEngine {
    name: &'static str,
    iters: usize,
    nr: f64,
    dr: f64,
    hm: f64,
    include_background: bool,
    reduce: Reduce,
    from_logits: bool,
    mode: Option<Mode>,
    ws: Mutex<Workspace>,
    pool: Mutex<Vec<Task>>,
}

/// The targets of a batch, read plane by plane.
enum Targets<'a> {
    Dense(DenseTarget<'a>),
    Labels(Labels<'a>),
    Probs(Cow<'a, [f32]>),
}

impl Targets<'_> {
    /// Elements `lo..hi` of plane `t = n * C + c` of the target (`s` pixels per plane): borrowed,
    /// or written into `buf`.
    fn part<'s>(&'s self, t: usize, c: usize, s: usize, (lo, hi): (usize, usize), buf: &'s mut Vec<f32>) -> &'s [f32] {
        match self {
            Targets::Dense(DenseTarget::F32(v)) | Targets::Probs(v) => &v[t * s + lo..t * s + hi],
            Targets::Dense(d) => {
                buf.resize(hi - lo, 0.0);
                d.chunk(t * s + lo, &mut buf[..hi - lo])
            }
            Targets::Labels(l) => {
                buf.resize(hi - lo, 0.0);
                let (n, k) = (t / c, (t % c) as i64);
                for (i, b) in buf.iter_mut().enumerate() {
                    *b = if l.get(n * s + lo + i) == k { 1.0 } else { 0.0 };
                }
                &buf[..hi - lo]
            }
        }
    }
}

/// Elements per strip a skeleton runs on at once (about 128 KiB of `f32`, so that the planes of
/// one strip stay in a core's L2 cache).
const STRIP_ELEMS: usize = 32 * 1024;

/// The strips of a plane along its first axis: `(first, end)` of each strip's own lines, and the
/// sub-grid of `lines` lines. A strip runs on its lines plus a halo of `halo` lines on each side
/// (clipped at the image): the skeleton of a pixel depends on the input within `iters + 2` lines
/// (each level adds an erosion, the opening a dilation), and its reverse pass on the input within
/// twice that, so with that halo a strip's own lines get exactly the values and the gradient of
/// the whole plane. The cut depends on the shape only.
fn strips(grid: &Grid, iters: usize) -> (usize, usize) {
    let per = grid.len() / grid.dims[0];
    let halo = 2 * (iters + 2);
    let own = (STRIP_ELEMS / per).max(2 * halo).max(1);
    (own.min(grid.dims[0]), per)
}

/// The per-group ratios and the gradient coefficients of one image (or of the batch).
#[derive(Debug, Clone, Copy, Default)]
struct Coefs {
    /// `dL/dSP = a G + b`.
    a: f64,
    b: f64,
    /// the direct term `dL/dP += c SG`.
    c: f64,
}

impl ClEngine {
    /// The engine of the loss `name` with these keys (checked).
    pub(crate) fn new(name: &'static str, k: &ClDiceKeys, mode: Option<Mode>) -> Result<ClEngine> {
        let (nr, dr) = k.smoothing()?;
        Ok(ClEngine {
            name,
            iters: k.iters,
            nr,
            dr,
            hm: k.smooth_hm,
            include_background: k.include_background,
            reduce: k.reduce,
            from_logits: k.from_logits,
            mode,
            ws: Mutex::default(),
            pool: Mutex::default(),
        })
    }

    /// Resolves the layout and checks the batch suits clDice (no weight, 2 or 3 spatial axes).
    pub(crate) fn layout(&self, batch: &Batch<'_>) -> Result<Layout> {
        reject_weight(self.name, batch, "clDice compares skeletons, it has no per-pixel weight")?;
        let layout = resolve(batch, self.mode)?;
        if !(2..=3).contains(&layout.spatial.len()) {
            return Err(LossError::InvalidShape {
                name: "pred",
                shape: batch.pred.shape().to_vec(),
                reason: format!(
                    "{} needs 2 or 3 spatial axes (got {}): its soft skeleton (and the anchor's) has 2D and 3D kernels only",
                    self.name,
                    layout.spatial.len()
                ),
            });
        }
        Ok(layout)
    }

    fn task(&self) -> Task {
        self.pool.lock().ok().and_then(|mut p| p.pop()).unwrap_or_default()
    }

    fn give_back(&self, t: Task) {
        if let Ok(mut p) = self.pool.lock() {
            p.push(t);
        }
    }

    /// The loss (in `f64`); with `grad`, `upstream * dL/dpred` written into it (every element),
    /// or added to it with `accumulate`.
    pub(crate) fn eval(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f64, accumulate: bool) -> Result<f64> {
        let be = Backend::current();
        let layout = self.layout(batch)?;
        check_grad_len(&grad, layout.len(), batch)?;
        let (n, c, s) = (layout.n, layout.c, layout.s);
        let multiclass = layout.mode == Mode::Multiclass;
        let targets = if multiclass && layout.target == TargetLayout::Labels {
            let l = batch.target.labels().expect("integer labels");
            l.validate(c, None, batch.target.shape())?;
            Targets::Labels(l)
        } else if multiclass {
            Targets::Probs(batch.target.floats().expect("float targets"))
        } else {
            Targets::Dense(DenseTarget::from_target(&batch.target))
        };
        let keep: Vec<bool> = (0..c).map(|k| !(k == 0 && !self.include_background && c > 1)).collect();
        let skel = Skel { grid: Grid::new(&layout.spatial), iters: self.iters, be };
        let x = contiguous(&batch.pred);

        let mut fresh = Workspace::default();
        let mut guard = self.ws.try_lock().ok();
        let ws: &mut Workspace = match guard.as_deref_mut() {
            Some(w) => w,
            None => &mut fresh,
        };
        let want_grad = grad.is_some();
        if want_grad {
            ws.w.resize(n * c * s, 0.0);
        }
        // the probabilities
        let p: &[f32] = if self.from_logits {
            ws.p.resize(n * c * s, 0.0);
            ws.p.par_chunks_mut(c * s).zip(x.par_chunks(c * s)).for_each(|(p, x)| activate(be, multiclass, c, s, x, p));
            &ws.p
        } else {
            &x
        };

        // pass 1: per plane [sum SP G, sum SP, sum SG P, sum SG]; SG kept in w for the gradient
        let w_chunks: Vec<Option<&mut [f32]>> =
            if want_grad { ws.w.chunks_mut(s).map(Some).collect() } else { (0..n * c).map(|_| None).collect() };
        let per_plane: Vec<Result<[f64; 4]>> = w_chunks
            .into_par_iter()
            .enumerate()
            .map(|(t, w)| {
                if !keep[t % c] {
                    return Ok([0.0; 4]);
                }
                let mut task = self.task();
                let out = self.plane_sums(&skel, &targets, p, t, c, s, &mut task, w, batch);
                self.give_back(task);
                out
            })
            .collect();
        let mut planes = Vec::with_capacity(n * c);
        for r in per_plane {
            planes.push(r?);
        }
        // the ratios per group (image, or the batch)
        let groups = if self.reduce == Reduce::Batch { 1 } else { n };
        let per_group = n / groups;
        let mut loss = 0.0;
        let mut coefs = vec![Coefs::default(); groups];
        for (gi, cf) in coefs.iter_mut().enumerate() {
            let mut acc = [0.0f64; 4];
            for plane in &planes[gi * per_group * c..(gi + 1) * per_group * c] {
                for (a, v) in acc.iter_mut().zip(plane) {
                    *a += v;
                }
            }
            let (l, k) = self.ratios(acc, upstream / groups as f64);
            loss += l;
            *cf = k;
        }
        let loss = loss / groups as f64;
        let Some(grad) = grad else { return Ok(loss) };

        // pass 2: dL/dp per plane into w
        ws.w.par_chunks_mut(s).enumerate().for_each(|(t, w)| {
            if !keep[t % c] {
                w.fill(0.0);
                return;
            }
            let k = coefs[(t / c) / per_group];
            let mut task = self.task();
            self.plane_grad(&skel, &targets, p, t, c, s, &mut task, k, w);
            self.give_back(task);
        });
        // pass 3: the activation's Jacobian
        let w = &ws.w;
        grad.par_chunks_mut(c * s).enumerate().for_each(|(img, g)| {
            let r = img * c * s..(img + 1) * c * s;
            jacobian(self.from_logits, multiclass, c, s, &p[r.clone()], &w[r], g, accumulate);
        });
        Ok(loss)
    }

    /// Pass 1 on plane `t`, strip by strip: the target's skeleton (into `w` when given) and the
    /// four sums.
    #[allow(clippy::too_many_arguments)]
    fn plane_sums(
        &self,
        skel: &Skel,
        targets: &Targets<'_>,
        p: &[f32],
        t: usize,
        c: usize,
        s: usize,
        task: &mut Task,
        mut w: Option<&mut [f32]>,
        batch: &Batch<'_>,
    ) -> Result<[f64; 4]> {
        let (own, per) = strips(&skel.grid, skel.iters);
        let (lines, halo) = (skel.grid.dims[0], skel.iters + 2);
        let mut acc = [0.0f64; 4];
        let mut r0 = 0;
        while r0 < lines {
            let r1 = (r0 + own).min(lines);
            let (a, b) = (r0.saturating_sub(halo), (r1 + halo).min(lines));
            let sk = Skel { grid: Grid { dims: [b - a, skel.grid.dims[1], skel.grid.dims[2]], nd: skel.grid.nd }, ..*skel };
            let (lo, hi) = (a * per, b * per);
            // this strip's own elements, relative to the sub-plane
            let own_r = (r0 - a) * per..(r1 - a) * per;
            let pp = &p[t * s + lo..t * s + hi];
            let g = targets.part(t, c, s, (lo, hi), &mut task.g);
            if let Some(i) = g.iter().position(|v| !(0.0..=1.0).contains(v)) {
                return Err(LossError::LabelOutOfRange {
                    label: g[i].to_string(),
                    index: segloss_core::error::unravel(t * s + lo + i, batch.target.shape()),
                    expected: format!("a float target in [0, 1] for {}", self.name),
                });
            }
            let sg = sk.forward(g, &mut task.sk, false);
            let (sgp, sgs) = sums(sk.be, &sg[own_r.clone()], &pp[own_r.clone()]);
            if let Some(w) = w.as_deref_mut() {
                w[r0 * per..r1 * per].copy_from_slice(&sg[own_r.clone()]);
            }
            let g = targets.part(t, c, s, (lo, hi), &mut task.g);
            let sp = sk.forward(pp, &mut task.sk, false);
            let (spg, sps) = sums(sk.be, &sp[own_r.clone()], &g[own_r]);
            for (x, v) in acc.iter_mut().zip([spg, sps, sgp, sgs]) {
                *x += v;
            }
            r0 = r1;
        }
        Ok(acc)
    }

    /// Pass 2 on plane `t`, strip by strip: `w <- dL/dp` (on entry `w` holds the target's
    /// skeleton).
    #[allow(clippy::too_many_arguments)]
    fn plane_grad(
        &self,
        skel: &Skel,
        targets: &Targets<'_>,
        p: &[f32],
        t: usize,
        c: usize,
        s: usize,
        task: &mut Task,
        k: Coefs,
        w: &mut [f32],
    ) {
        let (own, per) = strips(&skel.grid, skel.iters);
        let (lines, halo) = (skel.grid.dims[0], 2 * (skel.iters + 2));
        let (ca, cb, cc) = (k.a as f32, k.b as f32, k.c as f32);
        let mut r0 = 0;
        while r0 < lines {
            let r1 = (r0 + own).min(lines);
            let (a, b) = (r0.saturating_sub(halo), (r1 + halo).min(lines));
            let sk = Skel { grid: Grid { dims: [b - a, skel.grid.dims[1], skel.grid.dims[2]], nd: skel.grid.nd }, ..*skel };
            let (lo, hi) = (a * per, b * per);
            let own_r = (r0 - a) * per..(r1 - a) * per;
            let pp = &p[t * s + lo..t * s + hi];
            let Task { sk: scratch, g, gs, gin } = task;
            let gt = targets.part(t, c, s, (lo, hi), g);
            gs.resize(hi - lo, 0.0);
            gin.resize(hi - lo, 0.0);
            for (o, &v) in gs.iter_mut().zip(gt) {
                *o = ca * v + cb;
            }
            sk.forward(pp, scratch, true);
            sk.backward(scratch, gs, gin);
            for (o, &v) in w[r0 * per..r1 * per].iter_mut().zip(&gin[own_r]) {
                *o = v + cc * *o;
            }
            r0 = r1;
        }
    }

    /// `cl` of one group from its sums `[sum SP G, sum SP, sum SG P, sum SG]`, and the gradient
    /// coefficients scaled by `scale` (the upstream over the number of groups).
    fn ratios(&self, [spg, sps, sgp, sgs]: [f64; 4], scale: f64) -> (f64, Coefs) {
        let (np, dp_raw) = (spg + self.nr, sps + self.dr);
        let (ns, ds_raw) = (sgp + self.nr, sgs + self.dr);
        let (dp, ds) = (dp_raw.max(EPS), ds_raw.max(EPS));
        let (tp, ts) = (np / dp, ns / ds);
        let h_raw = tp + ts + self.hm;
        let h = h_raw.max(EPS);
        let cl = 1.0 - 2.0 * tp * ts / h;
        // dcl/dTp and dcl/dTs (the clamp, when active, makes its argument's derivative 0)
        let dh = if h_raw >= EPS { 2.0 * tp * ts / (h * h) } else { 0.0 };
        let dtp = (-2.0 * ts / h + dh) * scale;
        let dts = (-2.0 * tp / h + dh) * scale;
        let b = if dp_raw >= EPS { -dtp * np / (dp * dp) } else { 0.0 };
        (cl, Coefs { a: dtp / dp, b, c: dts / ds })
    }
}

/// The probabilities of one image (`c` channels of `s` pixels): sigmoid per element, or softmax
/// over the channels.
fn activate(be: Backend, multiclass: bool, c: usize, s: usize, x: &[f32], p: &mut [f32]) {
    if !multiclass {
        let mut j = 0;
        if be == Backend::Simd {
            while j + LANES <= x.len() {
                store(&mut p[j..], simd::sigmoid(load(&x[j..])));
                j += LANES;
            }
        }
        for k in j..x.len() {
            p[k] = crate::kernels::scalar::sigmoid(x[k]);
        }
        return;
    }
    let mut j = 0;
    if be == Backend::Simd {
        while j + LANES <= s {
            let mut m = load(&x[j..]);
            for k in 1..c {
                m = m.max(load(&x[k * s + j..]));
            }
            let mut sum = f32x8::ZERO;
            for k in 0..c {
                let e = simd::exp(load(&x[k * s + j..]) - m);
                store(&mut p[k * s + j..], e);
                sum += e;
            }
            let inv = f32x8::ONE / sum;
            for k in 0..c {
                let v = load(&p[k * s + j..]) * inv;
                store(&mut p[k * s + j..], v);
            }
            j += LANES;
        }
    }
    let mut z = vec![0.0f32; c];
    let mut q = vec![0.0f32; c];
    for i in j..s {
        for k in 0..c {
            z[k] = x[k * s + i];
        }
        crate::kernels::scalar::softmax(&z, true, &mut q);
        for k in 0..c {
            p[k * s + i] = q[k];
        }
    }
}

/// `g (=|+=) dL/dz` of one image from `a = dL/dp`: identity, sigmoid `a p (1 - p)`, or softmax
/// `p_c (a_c - sum_k p_k a_k)`.
#[allow(clippy::too_many_arguments)]
fn jacobian(from_logits: bool, multiclass: bool, c: usize, s: usize, p: &[f32], a: &[f32], g: &mut [f32], accumulate: bool) {
    let put = |g: &mut f32, v: f32| {
        if accumulate {
            *g += v
        } else {
            *g = v
        }
    };
    if !from_logits {
        g.iter_mut().zip(a).for_each(|(g, &v)| put(g, v));
    } else if !multiclass {
        g.iter_mut().zip(a.iter().zip(p)).for_each(|(g, (&v, &p))| put(g, v * (p * (1.0 - p))));
    } else {
        let mut dot = vec![0.0f32; s];
        for k in 0..c {
            let (pk, ak) = (&p[k * s..(k + 1) * s], &a[k * s..(k + 1) * s]);
            dot.iter_mut().zip(pk.iter().zip(ak)).for_each(|(d, (&p, &a))| *d += p * a);
        }
        for k in 0..c {
            let (pk, ak, gk) = (&p[k * s..(k + 1) * s], &a[k * s..(k + 1) * s], &mut g[k * s..(k + 1) * s]);
            gk.iter_mut().zip(pk.iter().zip(ak.iter().zip(&dot))).for_each(|(g, (&p, (&a, &d)))| put(g, p * (a - d)));
        }
    }
}

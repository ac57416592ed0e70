//! The clDice engine: the passes over the planes of a batch, shared by `cldice` and
//! `dice_cldice`.

use super::activation::{activate, jacobian};
use super::{ClDiceKeys, EPS};
use crate::skeleton::{sums, Grid, Scratch, Skel};
use rayon::prelude::*;
use segloss_core::input::{contiguous, DenseTarget, Labels};
use segloss_core::kernel::{check_grad_len, reject_weight, Backend};
use segloss_core::simd::Level;
use segloss_core::{resolve, Batch, Layout, LossError, Mode, Reduce, Result, TargetLayout};
use std::borrow::Cow;
use std::ops::Range;
use std::sync::Mutex;

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

/// Elements per strip a skeleton runs on at once (256 KiB of `f32` a plane): large enough that the
/// halo's share stays small (a 512-wide plane: 128 own lines, 2 x 10 halo lines in the reverse
/// pass), small enough that the few planes and rings of rows a fused 2D level streams stay near
/// the core (measured on W1: 64 Ki elements 10% faster than 32 Ki, 128 Ki no faster).
const STRIP_ELEMS: usize = 64 * 1024;

/// One strip of a plane, cut along its first axis: the sub-plane `lo..hi` (elements of the plane)
/// it runs on, its own elements `own` (of the plane) and `own_sub` (of the sub-plane), and the
/// skeleton of the sub-plane's grid.
struct Strip {
    lo: usize,
    hi: usize,
    own: Range<usize>,
    own_sub: Range<usize>,
    sk: Skel,
}

/// The strips of a plane of `skel`'s grid. A strip runs on its own lines plus a halo of `halo`
/// lines on each side (clipped at the image): the skeleton of a pixel depends on the input within
/// `iters + 2` lines (each level adds an erosion, the opening a dilation), and its reverse pass on
/// the input within twice that, so with that halo a strip's own lines get exactly the values and
/// the gradient of the whole plane. The cut depends on the shape only.
fn strips(skel: &Skel, halo: usize) -> impl Iterator<Item = Strip> {
    let (g, sk) = (skel.grid, *skel);
    let lines = g.dims[0];
    let per = g.len() / lines;
    let own = (STRIP_ELEMS / per).max(4 * (skel.iters + 2)).max(1);
    (0..lines.div_ceil(own)).map(move |i| {
        let (r0, r1) = (i * own, ((i + 1) * own).min(lines));
        let (a, b) = (r0.saturating_sub(halo), (r1 + halo).min(lines));
        let grid = Grid { dims: [b - a, g.dims[1], g.dims[2]], nd: g.nd };
        Strip { lo: a * per, hi: b * per, own: r0 * per..r1 * per, own_sub: (r0 - a) * per..(r1 - a) * per, sk: Skel { grid, ..sk } }
    })
}

/// What the passes read of a batch, plane `t = n C + c` at a time: the skeleton of a plane's
/// grid, the targets, the probabilities, the channels `c` and the pixels `s` of a plane.
struct Planes<'a> {
    skel: Skel,
    targets: Targets<'a>,
    p: &'a [f32],
    c: usize,
    s: usize,
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
        let level = Level::current();
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
        let skel = Skel { grid: Grid::new(&layout.spatial), iters: self.iters, be, level };
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
            ws.p.par_chunks_mut(c * s).zip(x.par_chunks(c * s)).for_each(|(p, x)| activate(be, level, multiclass, c, s, x, p));
            &ws.p
        } else {
            &x
        };
        let planes_in = Planes { skel, targets, p, c, s };

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
                let out = self.plane_sums(&planes_in, t, &mut task, w, batch);
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
            self.plane_grad(&planes_in, t, &mut task, k, w);
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
    fn plane_sums(&self, pl: &Planes<'_>, t: usize, task: &mut Task, mut w: Option<&mut [f32]>, batch: &Batch<'_>) -> Result<[f64; 4]> {
        let Planes { skel, targets, p, c, s } = pl;
        let (p, c, s) = (*p, *c, *s);
        let mut acc = [0.0f64; 4];
        for Strip { lo, hi, own, own_sub, sk } in strips(skel, skel.iters + 2) {
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
            let (sgp, sgs) = sums(sk.be, sk.level, &sg[own_sub.clone()], &pp[own_sub.clone()]);
            if let Some(w) = w.as_deref_mut() {
                w[own].copy_from_slice(&sg[own_sub.clone()]);
            }
            let sp = sk.forward(pp, &mut task.sk, false);
            let (spg, sps) = sums(sk.be, sk.level, &sp[own_sub.clone()], &g[own_sub]);
            for (x, v) in acc.iter_mut().zip([spg, sps, sgp, sgs]) {
                *x += v;
            }
        }
        Ok(acc)
    }

    /// Pass 2 on plane `t`, strip by strip: `w <- dL/dp` (on entry `w` holds the target's
    /// skeleton).
    fn plane_grad(&self, pl: &Planes<'_>, t: usize, task: &mut Task, k: Coefs, w: &mut [f32]) {
        let Planes { skel, targets, p, c, s } = pl;
        let (p, c, s) = (*p, *c, *s);
        let (ca, cb, cc) = (k.a as f32, k.b as f32, k.c as f32);
        for Strip { lo, hi, own, own_sub, sk } in strips(skel, 2 * (skel.iters + 2)) {
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
            for (o, &v) in w[own].iter_mut().zip(&gin[own_sub]) {
                *o = v + cc * *o;
            }
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

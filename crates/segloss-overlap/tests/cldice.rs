//! `cldice` and `dice_cldice`: golden values from MONAI 1.6 itself, an independent f64 reference
//! of the soft skeleton and its reverse pass, finite differences, errors, determinism and layouts.
//!
//! Golden: every case of `tests/fixtures/cldice.json`, written by `tools/golden/cldice.py` with
//! MONAI 1.6 `SoftclDiceLoss` / `SoftDiceclDiceLoss` in float64 on float32 inputs (value and torch
//! autograd gradient; `reduce=batch` as the same class on the batch folded into one image; tie
//! cases with exact 0/1 probabilities and saturated logits, where torch's subgradient rules decide).

use ndarray::{ArrayD, IxDyn};
use segloss_core::golden::{check_loss, Fixture};
use segloss_core::kernel::{with_backend, Backend};
use segloss_core::testing::kit::{check_determinism, check_layouts, Problem, ProblemConfig};
use segloss_core::{Batch, Loss, LossConfig, Mode, Registry};
use segloss_overlap::{ClDiceConfig, ClDiceKeys, DiceClDiceConfig, Reduce};

/// Relative tolerance of the golden value (f32 kernels against the f64 reference).
const VALUE_REL: f64 = 1e-5;
/// Absolute tolerance of the golden value.
const VALUE_ABS: f64 = 1e-7;
/// Golden gradient tolerance, relative to the largest reference element.
const GRAD_REL: f64 = 1e-4;

fn fixture() -> Fixture {
    Fixture::load(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cldice.json")).unwrap_or_else(|e| panic!("{e}"))
}

fn registry() -> Registry<'static> {
    Registry::new(segloss_overlap::LOSSES)
}

#[test]
fn golden_values_and_gradients_match_monai() {
    let fx = fixture();
    assert_eq!(fx.generator, "tools/golden/cldice.py");
    assert!(fx.versions.get("monai").is_some_and(|v| v.starts_with("1.6")), "{:?}", fx.versions);
    let mut failures = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for case in &fx.cases {
        let loss = registry().build_str(&case.spec).unwrap_or_else(|e| panic!("{}", case.error(e)));
        names.insert(loss.name().to_string());
        match check_loss(case, &loss, VALUE_REL, VALUE_ABS, GRAD_REL) {
            Ok(c) => eprintln!("{:48} value rel err {:.1e}, grad err / max|ref| {:.1e}", case.name, c.value_rel, c.grad_rel),
            Err(e) => failures.push(e),
        }
    }
    assert!(names.contains("cldice") && names.contains("dice_cldice"), "{names:?}");
    assert!(failures.is_empty(), "{} of {} golden cases failed:\n{}", failures.len(), fx.cases.len(), failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// An independent f64 reference: windows scanned directly (no separable passes), winners found by
// a scan in flat-index order, gradients scattered. It shares nothing with the crate's code.

// the reference indexes pixels by flat index, as the formulas do
#[allow(clippy::needless_range_loop)]
mod reference {
    /// Flat indices of the 3-window of `i` along axis `a` (clipped), in scan order.
    pub fn line(dims: &[usize], i: usize, a: usize) -> Vec<usize> {
        let st: usize = dims[a + 1..].iter().product();
        let pos = (i / st) % dims[a];
        let mut v = Vec::new();
        if pos > 0 {
            v.push(i - st);
        }
        v.push(i);
        if pos + 1 < dims[a] {
            v.push(i + st);
        }
        v
    }

    /// Flat indices of the full 3^d window of `i` (clipped), in row-major scan order.
    pub fn cube(dims: &[usize], i: usize) -> Vec<usize> {
        let mut v = vec![i];
        for a in 0..dims.len() {
            v = v.iter().flat_map(|&j| line(dims, j, a)).collect();
        }
        v.sort_unstable();
        v
    }

    /// The first element of `w` (scan order) holding the extreme value.
    pub fn first(x: &[f64], w: &[usize], max: bool) -> usize {
        let mut best = w[0];
        for &j in &w[1..] {
            if (max && x[j] > x[best]) || (!max && x[j] < x[best]) {
                best = j;
            }
        }
        best
    }

    /// torch `minimum`'s share of the first argument.
    fn share(a: f64, b: f64) -> f64 {
        if a < b {
            1.0
        } else if a == b {
            0.5
        } else {
            0.0
        }
    }

    pub fn erode(dims: &[usize], x: &[f64]) -> Vec<f64> {
        (0..x.len())
            .map(|i| {
                let m: Vec<f64> = (0..dims.len()).map(|a| x[first(x, &line(dims, i, a), false)]).collect();
                if dims.len() == 2 {
                    m[0].min(m[1])
                } else {
                    m[0].min(m[1]).min(m[2])
                }
            })
            .collect()
    }

    pub fn erode_back(dims: &[usize], x: &[f64], g: &[f64], gin: &mut [f64]) {
        for i in 0..x.len() {
            let w: Vec<usize> = (0..dims.len()).map(|a| first(x, &line(dims, i, a), false)).collect();
            let m: Vec<f64> = w.iter().map(|&j| x[j]).collect();
            let shares = if dims.len() == 2 {
                vec![share(m[0], m[1]), share(m[1], m[0])]
            } else {
                let t = m[0].min(m[1]);
                let (st, s2) = (share(t, m[2]), share(m[2], t));
                vec![st * share(m[0], m[1]), st * share(m[1], m[0]), s2]
            };
            for (a, &j) in w.iter().enumerate() {
                gin[j] += g[i] * shares[a];
            }
        }
    }

    pub fn dilate(dims: &[usize], x: &[f64]) -> Vec<f64> {
        (0..x.len()).map(|i| x[first(x, &cube(dims, i), true)]).collect()
    }

    pub fn dilate_back(dims: &[usize], x: &[f64], g: &[f64], gin: &mut [f64]) {
        for i in 0..x.len() {
            gin[first(x, &cube(dims, i), true)] += g[i];
        }
    }

    fn relu(v: f64) -> f64 {
        if v > 0.0 {
            v
        } else {
            0.0
        }
    }

    /// `skel(x)` and, for `gs`, `sum gs * skel` differentiated with respect to `x`.
    pub fn skel(dims: &[usize], x: &[f64], iters: usize, gs: Option<&[f64]>) -> (Vec<f64>, Vec<f64>) {
        let n = x.len();
        let mut imgs = vec![x.to_vec()];
        let mut opens = Vec::new();
        let mut skels: Vec<Vec<f64>> = Vec::new();
        for k in 0..=iters {
            let e = erode(dims, &imgs[k]);
            let o = dilate(dims, &e);
            let d: Vec<f64> = (0..n).map(|j| relu(imgs[k][j] - o[j])).collect();
            let s = if k == 0 { d } else { (0..n).map(|j| skels[k - 1][j] + relu(d[j] - skels[k - 1][j] * d[j])).collect() };
            imgs.push(e);
            opens.push(o);
            skels.push(s);
        }
        let out = skels[iters].clone();
        let Some(gs) = gs else { return (out, Vec::new()) };
        let mut gimg = vec![vec![0.0; n]; iters + 2];
        let mut gskel = gs.to_vec();
        for k in (0..=iters).rev() {
            let mut gd = vec![0.0; n];
            for j in 0..n {
                let d = relu(imgs[k][j] - opens[k][j]);
                if k == 0 {
                    gd[j] = gskel[j];
                } else {
                    let sp = skels[k - 1][j];
                    let du = if d - sp * d > 0.0 { gskel[j] } else { 0.0 };
                    gd[j] = du * (1.0 - sp);
                    gskel[j] -= du * d;
                }
            }
            let gv: Vec<f64> = (0..n).map(|j| if imgs[k][j] - opens[k][j] > 0.0 { gd[j] } else { 0.0 }).collect();
            let neg: Vec<f64> = gv.iter().map(|v| -v).collect();
            for j in 0..n {
                gimg[k][j] += gv[j];
            }
            let mut gnext = std::mem::take(&mut gimg[k + 1]);
            dilate_back(dims, &imgs[k + 1], &neg, &mut gnext);
            let mut gk = std::mem::take(&mut gimg[k]);
            erode_back(dims, &imgs[k], &gnext, &mut gk);
            gimg[k] = gk;
        }
        (out, gimg.swap_remove(0))
    }

    /// The keys the reference follows.
    pub struct Keys {
        pub iters: usize,
        pub nr: f64,
        pub dr: f64,
        pub hm: f64,
        pub batch: bool,
        pub include_background: bool,
        pub from_logits: bool,
    }

    /// `cldice` of `x` (`[N, C, *S]` flat; `multiclass`: softmax, else sigmoid) against the target
    /// planes `g` (one-hot for labels), and its gradient with respect to `x`.
    pub fn cldice(shape: &[usize], x: &[f64], g: &[f64], multiclass: bool, k: &Keys) -> (f64, Vec<f64>) {
        let (n, c, dims) = (shape[0], shape[1], &shape[2..]);
        let s: usize = dims.iter().product();
        let mut p = x.to_vec();
        if k.from_logits {
            for img in 0..n {
                for i in 0..s {
                    if multiclass {
                        let z: Vec<f64> = (0..c).map(|ch| x[(img * c + ch) * s + i]).collect();
                        let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                        let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
                        let sum: f64 = e.iter().sum();
                        for ch in 0..c {
                            p[(img * c + ch) * s + i] = e[ch] / sum;
                        }
                    } else {
                        for ch in 0..c {
                            p[(img * c + ch) * s + i] = 1.0 / (1.0 + (-x[(img * c + ch) * s + i]).exp());
                        }
                    }
                }
            }
        }
        let kept = |ch: usize| !(ch == 0 && !k.include_background && c > 1);
        let plane = |v: &[f64], t: usize| v[t * s..(t + 1) * s].to_vec();
        let groups = if k.batch { 1 } else { n };
        let in_group = |t: usize| if k.batch { 0 } else { t / c };
        let mut sums = vec![[0.0f64; 4]; groups];
        let mut sg = vec![Vec::new(); n * c];
        for t in 0..n * c {
            if !kept(t % c) {
                continue;
            }
            let (pp, gg) = (plane(&p, t), plane(g, t));
            let (sp, _) = skel(dims, &pp, k.iters, None);
            let (sgt, _) = skel(dims, &gg, k.iters, None);
            let q = &mut sums[in_group(t)];
            q[0] += (0..s).map(|i| sp[i] * gg[i]).sum::<f64>();
            q[1] += sp.iter().sum::<f64>();
            q[2] += (0..s).map(|i| sgt[i] * pp[i]).sum::<f64>();
            q[3] += sgt.iter().sum::<f64>();
            sg[t] = sgt;
        }
        let eps = 1e-7;
        let mut value = 0.0;
        let mut coef = vec![(0.0, 0.0, 0.0); groups];
        for (gi, q) in sums.iter().enumerate() {
            let (np, dpr, ns, dsr) = (q[0] + k.nr, q[1] + k.dr, q[2] + k.nr, q[3] + k.dr);
            let (dp, ds) = (dpr.max(eps), dsr.max(eps));
            let (tp, ts) = (np / dp, ns / ds);
            let hr = tp + ts + k.hm;
            let h = hr.max(eps);
            value += (1.0 - 2.0 * tp * ts / h) / groups as f64;
            // d cl / d Tp, d Ts by the quotient rule
            let dh = if hr >= eps { 2.0 * tp * ts / (h * h) } else { 0.0 };
            let (a, b) = ((-2.0 * ts / h + dh) / groups as f64, (-2.0 * tp / h + dh) / groups as f64);
            let dtp_db = if dpr >= eps { -np / (dp * dp) } else { 0.0 };
            coef[gi] = (a / dp, a * dtp_db, b / ds);
        }
        let mut dp_all = vec![0.0; n * c * s];
        for t in 0..n * c {
            if !kept(t % c) {
                continue;
            }
            let (ca, cb, cc) = coef[in_group(t)];
            let gg = plane(g, t);
            let gs: Vec<f64> = gg.iter().map(|v| ca * v + cb).collect();
            let (_, gp) = skel(dims, &plane(&p, t), k.iters, Some(&gs));
            for i in 0..s {
                dp_all[t * s + i] = gp[i] + cc * sg[t][i];
            }
        }
        let mut grad = dp_all.clone();
        if k.from_logits {
            for img in 0..n {
                for i in 0..s {
                    let at = |ch: usize| (img * c + ch) * s + i;
                    if multiclass {
                        let dot: f64 = (0..c).map(|ch| p[at(ch)] * dp_all[at(ch)]).sum();
                        for ch in 0..c {
                            grad[at(ch)] = p[at(ch)] * (dp_all[at(ch)] - dot);
                        }
                    } else {
                        for ch in 0..c {
                            grad[at(ch)] = dp_all[at(ch)] * p[at(ch)] * (1.0 - p[at(ch)]);
                        }
                    }
                }
            }
        }
        (value, grad)
    }
}

/// A seeded generator (splitmix64) for the test inputs.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One problem: pred (f32), the target as planes (f64; one-hot for labels) and as a tensor.
struct Case {
    shape: Vec<usize>,
    x: Vec<f32>,
    g: Vec<f64>,
    labels: Option<ArrayD<i64>>,
    dense: Option<ArrayD<f32>>,
}

impl Case {
    fn new(shape: &[usize], multiclass: bool, probabilities: bool, ties: bool, seed: u64) -> Case {
        let mut r = Gen(seed);
        let len: usize = shape.iter().product();
        let (n, c) = (shape[0], shape[1]);
        let s = len / (n * c);
        let x: Vec<f32> = (0..len)
            .map(|_| {
                let u = r.next();
                if ties && u < 0.3 {
                    if probabilities {
                        1.0
                    } else {
                        40.0
                    }
                } else if ties && u > 0.75 {
                    if probabilities {
                        0.0
                    } else {
                        -40.0
                    }
                } else if probabilities {
                    r.next() as f32
                } else {
                    (4.0 * r.next() - 2.0) as f32
                }
            })
            .collect();
        let mut pix = vec![n];
        pix.extend(&shape[2..]);
        if multiclass {
            let lab: Vec<i64> = (0..n * s).map(|_| (r.next() * c as f64) as i64).collect();
            let mut g = vec![0.0; len];
            for img in 0..n {
                for i in 0..s {
                    g[(img * c + lab[img * s + i] as usize) * s + i] = 1.0;
                }
            }
            Case { shape: shape.to_vec(), x, g, labels: Some(ArrayD::from_shape_vec(IxDyn(&pix), lab).unwrap()), dense: None }
        } else {
            let g: Vec<f64> = (0..len).map(|_| if r.next() < 0.45 { 1.0 } else { 0.0 }).collect();
            let dense = ArrayD::from_shape_vec(IxDyn(shape), g.iter().map(|&v| v as f32).collect()).unwrap();
            Case { shape: shape.to_vec(), x, g, labels: None, dense: Some(dense) }
        }
    }

    fn pred(&self) -> ArrayD<f32> {
        ArrayD::from_shape_vec(IxDyn(&self.shape), self.x.clone()).unwrap()
    }

    fn run(&self, loss: &dyn Loss) -> (f32, ArrayD<f32>) {
        let pred = self.pred();
        let b = match (&self.labels, &self.dense) {
            (Some(l), _) => Batch::new(&pred, l),
            (_, Some(d)) => Batch::new(&pred, d),
            _ => unreachable!(),
        };
        loss.forward_backward(&b).unwrap()
    }
}

fn keys(k: &ClDiceKeys, nr: f64, dr: f64) -> reference::Keys {
    reference::Keys {
        iters: k.iters,
        nr,
        dr,
        hm: k.smooth_hm,
        batch: k.reduce == Reduce::Batch,
        include_background: k.include_background,
        from_logits: k.from_logits,
    }
}

/// Maximum |a - b| over max |b|.
fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let m = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-30);
    a.iter().zip(b).fold(0.0f64, |e, (x, y)| e.max((x - y).abs())) / m
}

/// The f64 reference's analytic gradient agrees with its own central differences on inputs with
/// distinct values (no window ties within a step), 2D and 3D, every mode and reduction.
#[test]
fn reference_reverse_pass_matches_finite_differences() {
    let configs = [
        (vec![2, 1, 6, 7], false, ClDiceKeys::default()),
        (vec![1, 3, 5, 6], true, ClDiceKeys { include_background: false, iters: 2, ..Default::default() }),
        (vec![2, 2, 3, 4, 5], false, ClDiceKeys { reduce: Reduce::Batch, iters: 4, smooth_hm: 0.0, ..Default::default() }),
    ];
    for (shape, mc, k) in configs {
        let case = Case::new(&shape, mc, false, false, 7);
        let x: Vec<f64> = case.x.iter().map(|&v| v as f64).collect();
        let rk = keys(&k, 1.0, 1.0);
        let f = |x: &[f64]| reference::cldice(&shape, x, &case.g, mc, &rk).0;
        let (_, grad) = reference::cldice(&shape, &x, &case.g, mc, &rk);
        // step well below the gaps between distinct probabilities of these inputs
        segloss_core::testing::check_gradient_fn(&f, &x, &grad, 1e-7, 1e-5, 1e-9).unwrap_or_else(|e| panic!("{shape:?}: {e}"));
    }
}

/// The loss (both backends) against the f64 reference: distinct values, and ties (probabilities
/// exactly 0 and 1, saturated logits), where the subgradient rules decide.
#[test]
fn loss_matches_the_f64_reference_with_and_without_ties() {
    let configs = [
        (vec![2, 1, 9, 11], false, false, ClDiceKeys::default()),
        (vec![2, 1, 9, 11], false, true, ClDiceKeys { from_logits: false, iters: 5, ..Default::default() }),
        (vec![2, 3, 8, 9], true, false, ClDiceKeys { include_background: false, ..Default::default() }),
        (vec![2, 3, 8, 9], true, true, ClDiceKeys { from_logits: false, reduce: Reduce::Batch, ..Default::default() }),
        (vec![1, 2, 5, 6, 7], false, true, ClDiceKeys { from_logits: false, ..Default::default() }),
        (vec![2, 1, 4, 5, 6], false, true, ClDiceKeys { iters: 2, reduce: Reduce::Batch, ..Default::default() }),
        (vec![1, 3, 4, 5, 6], true, false, ClDiceKeys { smooth_hm: 0.0, smooth_nr: 0.0, ..Default::default() }),
        // planes the loss cuts into strips along the first axis (strip halos at work)
        (vec![1, 1, 150, 300], false, true, ClDiceKeys { iters: 5, ..Default::default() }),
        (vec![1, 1, 130, 257], false, false, ClDiceKeys::default()),
        (vec![1, 1, 45, 30, 31], false, true, ClDiceKeys { from_logits: false, iters: 1, ..Default::default() }),
    ];
    for (i, (shape, mc, ties, k)) in configs.into_iter().enumerate() {
        let case = Case::new(&shape, mc, !k.from_logits, ties, 100 + i as u64);
        let mode = if mc { Some(Mode::Multiclass) } else { None };
        let loss = ClDiceConfig { cl: k.clone(), mode }.build().unwrap();
        let x: Vec<f64> = case.x.iter().map(|&v| v as f64).collect();
        let (rv, rg) = reference::cldice(&shape, &x, &case.g, mc, &keys(&k, k.smooth_nr, k.smooth_dr));
        for be in [Backend::Simd, Backend::Scalar] {
            let (v, g) = with_backend(be, || case.run(&loss));
            let g: Vec<f64> = g.iter().map(|&v| v as f64).collect();
            assert!((v as f64 - rv).abs() <= 1e-5 * rv.abs() + 1e-7, "case {i} {be:?}: value {v} vs reference {rv}");
            let e = rel_err(&g, &rg);
            assert!(e <= 1e-4, "case {i} {be:?} (ties {ties}): gradient error {e:.2e} of the largest element");
        }
    }
}

/// `dice_cldice:alpha=a` is `(1-a) dice:smooth=1 + a cldice`, value and gradient.
#[test]
fn dice_cldice_is_the_weighted_sum() {
    let case = Case::new(&[2, 3, 7, 8], true, false, false, 3);
    let reg = registry();
    let both = reg.build_str("dice_cldice:alpha=0.3,iters=2").unwrap();
    let sum = segloss_core::Registry::new(segloss_overlap::LOSSES);
    let dice = sum.build_str("dice:smooth=1").unwrap();
    let cl = sum.build_str("cldice:iters=2").unwrap();
    let (v, g) = case.run(&both);
    let (vd, gd) = case.run(&dice);
    let (vc, gc) = case.run(&cl);
    assert!((v - (0.7 * vd + 0.3 * vc)).abs() <= 1e-6, "{v} vs {vd} {vc}");
    for ((a, d), c) in g.iter().zip(&gd).zip(&gc) {
        assert!((a - (0.7 * d + 0.3 * c)).abs() <= 1e-6 * (1.0 + a.abs()), "{a} vs {d} {c}");
    }
}

fn err_of(spec: &str) -> String {
    match registry().build_str(spec) {
        Ok(_) => panic!("{spec} was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn key_errors_name_the_key_and_value() {
    let e = err_of("cldice:smooth=0.5,smooth_nr=2");
    assert!(e.contains("smooth") && e.contains("smooth_nr") && e.contains("0.5"), "{e}");
    let e = err_of("dice_cldice:smooth=0.5,smooth_dr=2");
    assert!(e.contains("smooth_dr"), "{e}");
    for bad in ["-1", "2.5"] {
        let e = err_of(&format!("cldice:iters={bad}"));
        assert!(e.contains("iters") && e.contains(bad) && e.contains("integer"), "{e}");
    }
    for bad in ["-0.1", "1.5"] {
        let e = err_of(&format!("dice_cldice:alpha={bad}"));
        assert!(e.contains("alpha") && e.contains(bad), "{e}");
    }
    assert!(err_of("cldice:alpha=0.5").contains("alpha"));
    assert!(err_of("cldice:smooth_hm=-1").contains("smooth_hm"));
    assert!(err_of("cldice:ignore_index=255").contains("ignore_index"));
}

#[test]
fn one_spatial_axis_and_weights_are_rejected() {
    for spec in ["cldice", "dice_cldice"] {
        let loss = registry().build_str(spec).unwrap();
        let pred = ArrayD::<f32>::zeros(IxDyn(&[2, 1, 9]));
        let t = ArrayD::<f32>::zeros(IxDyn(&[2, 1, 9]));
        let e = loss.forward(&Batch::new(&pred, &t)).unwrap_err().to_string();
        assert!(e.contains("2 or 3 spatial axes") && e.contains("[2, 1, 9]"), "{e}");
        let pred = ArrayD::<f32>::zeros(IxDyn(&[2, 1, 4, 5]));
        let t = ArrayD::<f32>::zeros(IxDyn(&[2, 1, 4, 5]));
        let e = loss.forward(&Batch::new(&pred, &t).with_weight(&t)).unwrap_err().to_string();
        assert!(e.contains("weight") && e.contains("[2, 1, 4, 5]"), "{e}");
        let bad = ArrayD::<f32>::from_elem(IxDyn(&[2, 1, 4, 5]), 1.5);
        let e = loss.forward(&Batch::new(&pred, &bad)).unwrap_err().to_string();
        assert!(e.contains("1.5") && e.contains("[0, 1]"), "{e}");
    }
}

/// Same bits on 1, 2 and 3 threads; strided, Fortran and permuted views give the same bits.
#[test]
fn deterministic_and_layout_independent() {
    for spec in ["cldice", "cldice:reduce=batch,iters=4", "dice_cldice:alpha=0.3"] {
        let loss = registry().build_str(spec).unwrap();
        for (mode, shape) in
            [(Mode::Binary, vec![3, 1, 40, 37]), (Mode::Multiclass, vec![2, 3, 9, 10, 11]), (Mode::Multilabel, vec![2, 3, 33, 20])]
        {
            let big = Problem::generate(&ProblemConfig::new(mode).shape(&shape), 5);
            check_determinism(&loss, &big).unwrap_or_else(|e| panic!("{spec} {mode}: {e}"));
            let small = Problem::generate(&ProblemConfig::new(mode).shape(&[2, shape[1], 5, 6, 7]), 3);
            check_layouts(&loss, &small).unwrap_or_else(|e| panic!("{spec} {mode}: {e}"));
        }
    }
}

/// SIMD and scalar kernels agree in 3D and on ties (the harness runs 2D problems).
#[test]
fn simd_matches_scalar_in_3d_and_on_ties() {
    let loss = ClDiceConfig { cl: ClDiceKeys { from_logits: false, ..Default::default() }, mode: None }.build().unwrap();
    for (shape, ties) in [(vec![2, 1, 9, 10, 19], true), (vec![1, 2, 7, 8, 21], false), (vec![2, 1, 17, 35], true)] {
        let case = Case::new(&shape, false, true, ties, 9);
        let (vs, gs) = case.run(&loss);
        let (vr, gr) = with_backend(Backend::Scalar, || case.run(&loss));
        assert!(((vs - vr) as f64).abs() <= 2e-6 * vr.abs() as f64, "{vs} vs {vr}");
        let gs: Vec<f64> = gs.iter().map(|&v| v as f64).collect();
        let gr: Vec<f64> = gr.iter().map(|&v| v as f64).collect();
        assert!(rel_err(&gs, &gr) <= 1e-5, "{shape:?}: {:.2e}", rel_err(&gs, &gr));
    }
    let _ = LossConfig::to_spec(&DiceClDiceConfig::default());
}

//! Whole-loss tests: reductions and normalizers against an f64 re-statement with finite
//! differences, thread independence, memory layouts, gradient buffers, and bad input.

use ndarray::{ArrayD, IxDyn, ShapeBuilder};
use segloss_core::kernel::with_backend;
use segloss_core::rng::Rng;
use segloss_core::testing::{assert_all_written, check_gradient_fn, max_abs_diff, Layouts};
use segloss_core::{Backend, Batch, Loss, LossError, Mode, Params, Reduction, Registry, Value};
use segloss_xent::kernels::{scalar, ElemKind, ElemParams, SoftmaxParams};
use segloss_xent::*;

/// f32 loss gradient vs central differences of the f64 re-statement: relative to max |grad|.
const LOSS_FD_REL_TOL: f64 = 2e-4;
/// f32 loss value vs the f64 re-statement.
const LOSS_VALUE_REL_TOL: f64 = 2e-6;

fn rng(seed: u64) -> impl FnMut() -> f32 {
    let mut r = Rng::new(seed);
    move || r.next_f32()
}

fn arr(shape: &[usize], f: impl FnMut() -> f32) -> ArrayD<f32> {
    ArrayD::from_shape_simple_fn(IxDyn(shape), f)
}

fn build(spec: &str) -> Box<dyn Loss> {
    Box::new(Registry::new(LOSSES).build_str(spec).unwrap_or_else(|e| panic!("{spec}: {e}")))
}

/// The f64 re-statement of an elementwise loss with `reduction` over a dense batch.
fn elem_ref(x: &[f64], y: &[f64], w: Option<&[f64]>, distance: bool, p: &ElemParams, reduction: Reduction) -> f64 {
    let s: f64 = (0..x.len()).map(|i| scalar::element(x[i], y[i], w.map(|w| w[i]), distance, p).0).sum();
    if reduction == Reduction::Mean {
        s / x.len() as f64
    } else {
        s
    }
}

fn to64(a: &ArrayD<f32>) -> Vec<f64> {
    a.iter().map(|&v| v as f64).collect()
}

#[test]
fn elementwise_losses_match_f64_restatement_and_finite_differences() {
    let mut r = rng(7);
    let shape = [2, 3, 4, 5];
    let x = arr(&shape, || (r() - 0.5) * 10.0);
    let y = arr(&shape, || if r() < 0.3 { 1.0 } else { r() * 0.5 });
    let w = arr(&shape, || 0.5 + r());
    let probs = x.mapv(|v| 1.0 / (1.0 + (-v).exp()));
    let cases: Vec<(&str, ElemParams, bool, bool, Reduction)> = vec![
        (
            "bce",
            ElemParams { kind: ElemKind::Bce { q: 1.0, factor: 1.0 }, from_logits: true, smoothing: 0.0 },
            false,
            false,
            Reduction::Mean,
        ),
        (
            "bce:pos_weight=3,label_smoothing=0.1,reduction=sum",
            ElemParams { kind: ElemKind::Bce { q: 3.0, factor: 1.0 }, from_logits: true, smoothing: 0.1 },
            false,
            false,
            Reduction::Sum,
        ),
        (
            "bce:from_logits=false",
            ElemParams { kind: ElemKind::Bce { q: 1.0, factor: 1.0 }, from_logits: false, smoothing: 0.0 },
            false,
            true,
            Reduction::Mean,
        ),
        (
            "wce:beta=2.5",
            ElemParams { kind: ElemKind::Bce { q: 2.5, factor: 1.0 }, from_logits: true, smoothing: 0.0 },
            true,
            false,
            Reduction::Mean,
        ),
        (
            "balanced_ce:beta=0.8",
            ElemParams { kind: ElemKind::Bce { q: 4.0, factor: 0.2 }, from_logits: true, smoothing: 0.0 },
            false,
            false,
            Reduction::Mean,
        ),
        (
            "focal:gamma=2,alpha=0.25",
            ElemParams { kind: ElemKind::Focal { gamma: 2.0, a: 0.25, b: 0.75 }, from_logits: true, smoothing: 0.0 },
            true,
            false,
            Reduction::Mean,
        ),
        (
            "focal:gamma=0.5,alpha=none",
            ElemParams { kind: ElemKind::Focal { gamma: 0.5, a: 1.0, b: 1.0 }, from_logits: true, smoothing: 0.0 },
            false,
            false,
            Reduction::Mean,
        ),
        (
            "focal:gamma=1.5,from_logits=false",
            ElemParams { kind: ElemKind::Focal { gamma: 1.5, a: 0.25, b: 0.75 }, from_logits: false, smoothing: 0.0 },
            false,
            true,
            Reduction::Mean,
        ),
        (
            "distance_bce:beta=0.7",
            ElemParams { kind: ElemKind::DistanceBce { q0: 0.7 / 0.3, factor: 0.3 }, from_logits: true, smoothing: 0.0 },
            true,
            false,
            Reduction::Mean,
        ),
    ];
    for (spec, p, with_w, use_probs, reduction) in cases {
        let loss = build(spec);
        let xin = if use_probs { &probs } else { &x };
        let mut batch = Batch::new(xin, &y);
        if with_w {
            batch = batch.with_weight(&w);
        }
        let (v, g) = loss.forward_backward(&batch).unwrap();
        let distance = matches!(p.kind, ElemKind::DistanceBce { .. });
        let (x64, y64, w64) = (to64(xin), to64(&y), to64(&w));
        let wref = with_w.then_some(w64.as_slice());
        let f = |xv: &[f64]| elem_ref(xv, &y64, wref, distance, &p, reduction);
        let v_ref = f(&x64);
        assert!((v as f64 - v_ref).abs() <= LOSS_VALUE_REL_TOL * v_ref.abs(), "{spec}: {v} vs {v_ref}");
        let g64: Vec<f64> = g.iter().map(|&v| v as f64).collect();
        let h = if use_probs { 1e-7 } else { 1e-5 };
        check_gradient_fn(&f, &x64, &g64, h, LOSS_FD_REL_TOL, 1e-12).unwrap_or_else(|e| panic!("{spec}: {e}"));
    }
}

#[test]
fn balanced_ce_auto_uses_the_batch_fraction() {
    let mut r = rng(3);
    let x = arr(&[2, 1, 6, 7], || (r() - 0.5) * 6.0);
    let y = arr(&[2, 1, 6, 7], || (r() < 0.2) as u8 as f32);
    let beta = y.iter().map(|&v| 1.0 - v as f64).sum::<f64>() / y.len() as f64;
    let auto = build("balanced_ce:beta=auto").forward(&Batch::new(&x, &y)).unwrap();
    let fixed =
        BalancedCeConfig { beta: Beta::Fixed(beta as f32), ..Default::default() }.build().unwrap().forward(&Batch::new(&x, &y)).unwrap();
    assert!((auto - fixed).abs() <= 1e-6 * fixed.abs(), "{auto} vs {fixed}");
}

#[allow(clippy::too_many_arguments)]
fn ce_ref(z: &[f64], labels: &[i64], c: usize, s: usize, pw: Option<&[f64]>, p: &SoftmaxParams<'_>, ignore: i64, count_only: bool) -> f64 {
    let n = labels.len() / s;
    let mut total = 0.0;
    let mut norm = 0.0;
    let mut zp = vec![0.0; c];
    let mut g = vec![0.0; c];
    for i in 0..n {
        for j in 0..s {
            let l = labels[i * s + j];
            if l == ignore {
                continue;
            }
            (0..c).for_each(|k| zp[k] = z[(i * c + k) * s + j]);
            let v = scalar::softmax_pixel(&zp, Some(l as usize), None, p, &mut g);
            total += v * pw.map_or(1.0, |w| w[i * s + j]);
            norm += if count_only { 1.0 } else { p.w(l as usize) as f64 };
        }
    }
    total / norm
}

#[test]
fn softmax_losses_match_f64_restatement_and_finite_differences() {
    let mut r = rng(11);
    let (n, c, h, w) = (2usize, 4usize, 3usize, 5usize);
    let z = arr(&[n, c, h, w], || (r() - 0.5) * 8.0);
    let labels = ArrayD::from_shape_simple_fn(IxDyn(&[n, h, w]), || if r() < 0.15 { 255i64 } else { (r() * c as f32) as i64 % c as i64 });
    let pw = arr(&[n, h, w], || 0.5 + r());
    let cw = [0.5f32, 1.0, 2.0, 1.5];
    for (spec, gamma, smoothing, class_w, with_pw) in [
        ("ce:ignore_index=255", None, 0.0, false, false),
        ("ce:ignore_index=255,class_weights=[0.5,1,2,1.5],label_smoothing=0.2", None, 0.2, true, true),
        ("focal:ignore_index=255,gamma=2", Some(2.0), 0.0, false, true),
        ("focal:ignore_index=255,gamma=0.7,class_weights=[0.5,1,2,1.5]", Some(0.7), 0.0, true, false),
    ] {
        let loss = build(spec);
        let mut batch = Batch::new(&z, &labels);
        if with_pw {
            batch = batch.with_weight(&pw);
        }
        let (v, g) = loss.forward_backward(&batch).unwrap();
        let p = SoftmaxParams { classes: c, class_weights: if class_w { &cw } else { &[] }, smoothing, focal_gamma: gamma };
        let l64: Vec<i64> = labels.iter().copied().collect();
        let pw64 = to64(&pw);
        let f = |zv: &[f64]| ce_ref(zv, &l64, c, h * w, with_pw.then_some(pw64.as_slice()), &p, 255, gamma.is_some());
        let z64 = to64(&z);
        let v_ref = f(&z64);
        assert!((v as f64 - v_ref).abs() <= LOSS_VALUE_REL_TOL * v_ref.abs(), "{spec}: {v} vs {v_ref}");
        let g64: Vec<f64> = g.iter().map(|&v| v as f64).collect();
        check_gradient_fn(&f, &z64, &g64, 1e-5, LOSS_FD_REL_TOL, 1e-12).unwrap_or_else(|e| panic!("{spec}: {e}"));
    }
}

/// (spec, pred, dense target, labels replacing the dense target).
type Case = (&'static str, ArrayD<f32>, ArrayD<f32>, Option<ArrayD<i64>>);

fn specs_and_batches() -> Vec<Case> {
    let mut r = rng(5);
    // sizes chosen to span several blocks and odd tails
    let xb = arr(&[3, 1, 97, 131], || (r() - 0.5) * 12.0);
    let yb = arr(&[3, 1, 97, 131], || (r() < 0.3) as u8 as f32);
    let xm = arr(&[2, 5, 33, 71], || (r() - 0.5) * 12.0);
    let lm = ArrayD::from_shape_simple_fn(IxDyn(&[2, 33, 71]), || if r() < 0.1 { -100 } else { (r() * 5.0) as i64 % 5 });
    vec![
        ("bce", xb.clone(), yb.clone(), None),
        ("focal", xb.clone(), yb.clone(), None),
        ("focal:gamma=0.5,alpha=none", xb.clone(), yb.clone(), None),
        ("balanced_ce:beta=auto", xb, yb, None),
        ("ce:label_smoothing=0.1", xm.clone(), ArrayD::zeros(IxDyn(&[0])), Some(lm.clone())),
        ("focal:gamma=2", xm, ArrayD::zeros(IxDyn(&[0])), Some(lm)),
    ]
}

#[test]
fn one_thread_equals_two_threads_bit_for_bit() {
    let pool1 = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let pool2 = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    for (spec, x, y, labels) in specs_and_batches() {
        let loss = build(spec);
        let batch = match &labels {
            Some(l) => Batch::new(&x, l),
            None => Batch::new(&x, &y),
        };
        let (v1, g1) = pool1.install(|| loss.forward_backward(&batch)).unwrap();
        let (v2, g2) = pool2.install(|| loss.forward_backward(&batch)).unwrap();
        assert_eq!(v1.to_bits(), v2.to_bits(), "{spec}");
        assert!(g1.iter().zip(g2.iter()).all(|(a, b)| a.to_bits() == b.to_bits()), "{spec}");
    }
}

#[test]
fn non_contiguous_views_equal_contiguous_copies() {
    for (spec, x, y, labels) in specs_and_batches() {
        let loss = build(spec);
        let base = match &labels {
            Some(l) => loss.forward_backward(&Batch::new(&x, l)),
            None => loss.forward_backward(&Batch::new(&x, &y)),
        }
        .unwrap();
        let lx = Layouts::of(&x);
        let ly = Layouts::of(&y);
        let views = [(lx.fortran.view(), ly.fortran.view()), (lx.strided(), ly.strided())];
        for (xv, yv) in views {
            let got = match &labels {
                Some(l) => {
                    let ll = Layouts::of(l);
                    let a = loss.forward_backward(&Batch::new(xv.clone(), ll.fortran.view())).unwrap();
                    let b = loss.forward_backward(&Batch::new(xv.clone(), ll.strided())).unwrap();
                    assert_eq!(a.0, b.0, "{spec}");
                    a
                }
                None => loss.forward_backward(&Batch::new(xv.clone(), yv.clone())).unwrap(),
            };
            assert_eq!(got.0.to_bits(), base.0.to_bits(), "{spec}");
            assert_eq!(max_abs_diff(got.1.as_slice().unwrap(), base.1.as_slice().unwrap()), 0.0, "{spec}");
            // a non-contiguous gradient buffer
            let mut gbuf = ArrayD::<f32>::from_elem(IxDyn(x.shape()).f(), f32::NAN);
            let v = match &labels {
                Some(l) => loss.forward_backward_into(&Batch::new(xv.clone(), l), gbuf.view_mut(), 1.0),
                None => loss.forward_backward_into(&Batch::new(xv, yv), gbuf.view_mut(), 1.0),
            }
            .unwrap();
            assert_eq!(v, base.0);
            assert!(gbuf.iter().zip(base.1.iter()).all(|(a, b)| a == b), "{spec}");
        }
    }
}

#[test]
fn nan_prefilled_gradient_is_fully_written() {
    for (spec, x, y, labels) in specs_and_batches() {
        let loss = build(spec);
        let mut g = ArrayD::<f32>::from_elem(IxDyn(x.shape()), f32::NAN);
        match &labels {
            Some(l) => loss.forward_backward_into(&Batch::new(&x, l), g.view_mut(), 0.5),
            None => loss.forward_backward_into(&Batch::new(&x, &y), g.view_mut(), 0.5),
        }
        .unwrap();
        assert_all_written(g.as_slice().unwrap());
    }
    // every pixel ignored: 0 with a zero gradient, still fully written
    let x = ArrayD::<f32>::from_elem(IxDyn(&[1, 3, 2, 2]), 1.0);
    let l = ArrayD::<i64>::from_elem(IxDyn(&[1, 2, 2]), -100);
    let mut g = ArrayD::<f32>::from_elem(IxDyn(&[1, 3, 2, 2]), f32::NAN);
    for spec in ["ce", "focal"] {
        let v = build(spec).forward_backward_into(&Batch::new(&x, &l), g.view_mut(), 1.0).unwrap();
        assert_eq!(v, 0.0);
        assert!(g.iter().all(|&v| v == 0.0));
    }
}

#[test]
fn scalar_backend_agrees_with_simd_on_whole_batches() {
    for (spec, x, y, labels) in specs_and_batches() {
        if spec.starts_with("balanced") {
            continue;
        }
        let (name, _) = spec.split_once(':').unwrap_or((spec, ""));
        let simd_loss = build(spec);
        let scalar_loss: Box<dyn Loss> = match name {
            "bce" => Box::new(BceConfig::default().build().unwrap()),
            "ce" => Box::new(CeConfig { label_smoothing: 0.1, ..Default::default() }.build().unwrap()),
            "focal" if spec.contains("alpha=none") => {
                Box::new(FocalConfig { gamma: 0.5, alpha: Alpha::None, ..Default::default() }.build().unwrap())
            }
            "focal" => Box::new(FocalConfig::default().build().unwrap()),
            _ => unreachable!(),
        };
        let batch = match &labels {
            Some(l) => Batch::new(&x, l),
            None => Batch::new(&x, &y),
        };
        let (v1, g1) = simd_loss.forward_backward(&batch).unwrap();
        let (v2, g2) = with_backend(Backend::Scalar, || scalar_loss.forward_backward(&batch)).unwrap();
        assert!((v1 - v2).abs() <= 1e-5 * v2.abs(), "{spec}: {v1} vs {v2}");
        let gmax = g2.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(max_abs_diff(g1.as_slice().unwrap(), g2.as_slice().unwrap()) <= 1e-4 * gmax as f64, "{spec}");
    }
}

#[test]
fn reduction_none_map_sums_to_the_value() {
    let mut r = rng(9);
    let x = arr(&[2, 3, 4, 5], || (r() - 0.5) * 6.0);
    let y = arr(&[2, 3, 4, 5], &mut r);
    let loss = BceConfig { common: XentKeys { reduction: Reduction::None, ..Default::default() }, ..Default::default() }.build().unwrap();
    let b = Batch::new(&x, &y);
    let map = loss.forward_map(&b).unwrap();
    assert_eq!(map.shape(), x.shape());
    let v = loss.forward(&b).unwrap();
    assert!((map.sum() - v).abs() <= 1e-5 * v.abs());
    let mean = BceConfig::default().build().unwrap().forward(&b).unwrap();
    assert!((v / x.len() as f32 - mean).abs() <= 1e-6 * mean);
    // multiclass map is per pixel, 0 at ignored pixels
    let l = ArrayD::from_shape_vec(IxDyn(&[2, 4, 5]), (0..40).map(|i| if i % 7 == 0 { -100i64 } else { i % 3 }).collect()).unwrap();
    let ce = CeConfig { common: ReductionKey { reduction: Reduction::None }, ..Default::default() }.build().unwrap();
    let map = ce.forward_map(&Batch::new(&x, &l)).unwrap();
    assert_eq!(map.shape(), &[2, 4, 5]);
    assert_eq!(map[[0, 0, 0]], 0.0);
    let v = ce.forward(&Batch::new(&x, &l)).unwrap();
    assert!((map.sum() - v).abs() <= 1e-5 * v.abs());
}

#[test]
fn binary_without_channel_axis_and_integer_targets() {
    let mut r = rng(1);
    let x = arr(&[2, 1, 5, 6], || (r() - 0.5) * 6.0);
    let y = arr(&[2, 1, 5, 6], || (r() < 0.4) as u8 as f32);
    let bce = BceConfig::default().build().unwrap();
    let v = bce.forward(&Batch::new(&x, &y)).unwrap();
    let x3 = x.clone().into_shape_with_order(IxDyn(&[2, 5, 6])).unwrap();
    let y3 = y.clone().into_shape_with_order(IxDyn(&[2, 5, 6])).unwrap();
    let b3 = BceConfig { mode: Some(Mode::Binary), ..Default::default() }.build().unwrap();
    assert_eq!(b3.forward(&Batch::new(&x3, &y3)).unwrap(), v);
    let yu8 = y3.mapv(|v| v as u8);
    assert_eq!(bce.forward(&Batch::new(&x, &yu8)).unwrap(), v);
}

#[test]
fn check_finite_turns_nan_into_an_error() {
    let mut x = ArrayD::<f32>::zeros(IxDyn(&[1, 1, 2, 2]));
    x[[0, 0, 1, 0]] = f32::NAN;
    let y = ArrayD::<f32>::zeros(IxDyn(&[1, 1, 2, 2]));
    let bce = BceConfig::default().build().unwrap();
    assert!(bce.forward(&Batch::new(&x, &y)).unwrap().is_nan(), "NaN propagates by default");
    let e = bce.forward(&Batch::new(&x, &y).check_finite(true)).unwrap_err();
    assert!(matches!(&e, LossError::NonFinite { name: "pred", index, value } if index == &vec![0, 0, 1, 0] && value.is_nan()), "{e}");
    assert!(e.to_string().contains("pred[0, 0, 1, 0]"), "{e}");
}

fn err(spec: &str) -> LossError {
    Registry::new(LOSSES).build_str(spec).map(|_| ()).unwrap_err()
}

#[test]
fn invalid_values_name_key_and_value() {
    for (spec, key, value) in [
        ("focal:gamma=-1", "gamma", "-1"),
        ("balanced_ce:beta=1", "beta", "1"),
        ("balanced_ce:beta=0", "beta", "0"),
        ("distance_bce:beta=1.5", "beta", "1.5"),
        ("wce:beta=0", "beta", "0"),
        ("wce:beta=-2", "beta", "-2"),
        ("wce", "beta", "(missing)"),
        ("focal:alpha=1.5", "alpha", "1.5"),
        ("focal:mode=multiclass,alpha=0.25", "alpha", "0.25"),
        ("bce:label_smoothing=2", "label_smoothing", "2"),
        ("bce:pos_weight=-1", "pos_weight", "-1"),
        ("bce:gamma=2", "gamma", "2"),
        ("bce:reduction=avg", "reduction", "avg"),
        ("ce:mode=binary", "mode", "binary"),
        ("focal:gamma=true", "gamma", "true"),
        ("balanced_ce:beta=often", "beta", "often"),
    ] {
        match err(spec) {
            LossError::InvalidConfig { key: k, value: v, reason } => {
                assert_eq!((k.as_str(), v.as_str()), (key, value), "{spec}: {reason}");
            }
            e => panic!("{spec}: unexpected {e}"),
        }
    }
    // a repeated key
    let e = Params::new("bce", [("pos_weight".to_string(), Value::Num(1.0)), ("pos_weight".to_string(), Value::Num(2.0))]).unwrap_err();
    assert!(e.to_string().contains("given twice"), "{e}");
}

#[test]
fn bad_input_gets_a_clear_error() {
    let x = ArrayD::<f32>::zeros(IxDyn(&[2, 1, 4, 4]));
    let y = ArrayD::<f32>::zeros(IxDyn(&[2, 1, 4, 4]));
    let bce = BceConfig::default().build().unwrap();
    // shape mismatch: both shapes named
    let y_bad = ArrayD::<f32>::zeros(IxDyn(&[2, 1, 4, 5]));
    let e = bce.forward(&Batch::new(&x, &y_bad)).unwrap_err().to_string();
    assert!(e.contains("[2, 1, 4, 4]") && e.contains("[2, 1, 4, 5]"), "{e}");
    // empty tensor
    let x0 = ArrayD::<f32>::zeros(IxDyn(&[0, 1, 4, 4]));
    let e = bce.forward(&Batch::new(&x0, &x0)).unwrap_err();
    assert!(matches!(e, LossError::Empty { name: "pred", .. }), "{e}");
    // weight of the wrong shape
    let w_bad = ArrayD::<f32>::zeros(IxDyn(&[2, 3]));
    let e = bce.forward(&Batch::new(&x, &y).with_weight(&w_bad)).unwrap_err().to_string();
    assert!(e.contains("weight") && e.contains("[2, 3]"), "{e}");
    // binary target outside [0, 1]
    let mut y2 = y.clone();
    y2[[1, 0, 2, 3]] = 1.5;
    let e = bce.forward(&Batch::new(&x, &y2)).unwrap_err();
    assert!(matches!(&e, LossError::LabelOutOfRange { index, .. } if index == &vec![1, 0, 2, 3]), "{e}");
    // integer binary target other than 0/1
    let mut yi = ArrayD::<u8>::zeros(IxDyn(&[2, 4, 4]));
    yi[[0, 1, 1]] = 3;
    let e = bce.forward(&Batch::new(&x, &yi)).unwrap_err();
    assert!(matches!(&e, LossError::LabelOutOfRange { label, .. } if label == "3"), "{e}");
    // labels out of range for ce, naming the index
    let xm = ArrayD::<f32>::zeros(IxDyn(&[2, 3, 4, 4]));
    let mut l = ArrayD::<i64>::zeros(IxDyn(&[2, 4, 4]));
    l[[1, 3, 2]] = 3;
    let ce = CeConfig::default().build().unwrap();
    let e = ce.forward(&Batch::new(&xm, &l)).unwrap_err();
    assert!(matches!(&e, LossError::LabelOutOfRange { index, .. } if index == &vec![1, 3, 2]), "{e}");
    l[[1, 3, 2]] = -5;
    assert!(ce.forward(&Batch::new(&xm, &l)).is_err());
    // class_weights of the wrong length
    l[[1, 3, 2]] = 0;
    let cw = CeConfig { class_weights: Some(vec![1.0, 2.0]), ..Default::default() }.build().unwrap();
    let e = cw.forward(&Batch::new(&xm, &l)).unwrap_err();
    assert!(matches!(&e, LossError::InvalidConfig { key, .. } if key == "class_weights"), "{e}");
    // bce on multiclass labels, ce on a binary batch
    let e = bce.forward(&Batch::new(&xm, &l)).unwrap_err();
    assert!(matches!(e, LossError::Unsupported { .. }), "{e}");
    let e = ce.forward(&Batch::new(&x, &y)).unwrap_err();
    assert!(e.to_string().contains("ce"), "{e}");
    // distance_bce without its distance map
    let e = DistanceBceConfig::default().build().unwrap().forward(&Batch::new(&x, &y)).unwrap_err();
    assert!(e.to_string().contains("distance map"), "{e}");
    // alpha with multiclass focal (mode inferred)
    let e = FocalConfig { alpha: Alpha::Value(0.5), ..Default::default() }.build().unwrap().forward(&Batch::new(&xm, &l)).unwrap_err();
    assert!(matches!(&e, LossError::InvalidConfig { key, .. } if key == "alpha"), "{e}");
    // a gradient buffer of the wrong shape
    let mut g = ArrayD::<f32>::zeros(IxDyn(&[2, 1, 4, 3]));
    let e = bce.forward_backward_into(&Batch::new(&x, &y), g.view_mut(), 1.0).unwrap_err().to_string();
    assert!(e.contains("grad") && e.contains("[2, 1, 4, 3]"), "{e}");
    // rank
    let x1 = ArrayD::<f32>::zeros(IxDyn(&[4]));
    assert!(matches!(bce.forward(&Batch::new(&x1, &x1)).unwrap_err(), LossError::InvalidShape { .. }));
    // ignore_index with class-probability targets
    let e = CeConfig { ignore_index: 1, ..Default::default() }.build().unwrap().forward(&Batch::new(&xm, &xm)).unwrap_err();
    assert!(matches!(&e, LossError::InvalidConfig { key, .. } if key == "ignore_index"), "{e}");
}

//! `log_cosh_dice` (Jadon 2020): its value is `ln(cosh(L))` of the `dice` value `L` with the same
//! keys, its gradient `tanh(L)` times `dice`'s, checked against values computed here in `f64`
//! (see `docs/LOSSES.md`, section log-cosh Dice).

mod common;

use common::*;
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use segloss_core::kernel::{with_backend, Backend};
use segloss_core::rng::Rng;
use segloss_core::testing::{self, check_gradient_fn, max_abs_diff};
use segloss_core::{Batch, Loss, LossConfig, Registry};
use segloss_overlap::*;

/// Central differences: step (relative), and tolerance relative to the largest numeric element.
const FD_STEP: f64 = 1e-6;
const FD_REL: f64 = 1e-5;
const FD_ABS: f64 = 1e-9;
/// With `soft_label`, problems closer than this to the kink `p = g` are left out of the central
/// differences, and closer than the second of the backend comparisons (see `properties.rs`).
const KINK_MARGIN: f64 = 1e-5;
const KINK_ULPS: f64 = 1e-6;
/// SIMD (f32) against the f64 reference, and against the scalar kernels.
const VALUE_REL: f64 = 1e-5;
const VALUE_ABS: f64 = 2e-6;
const GRAD_REL: f64 = 1e-4;
const GRAD_ABS: f64 = 1e-7;

/// `log_cosh_dice` and `dice` with the keys of `c` for the problem `p`.
fn both(c: &Cfg, p: &Problem, logits: bool) -> (Box<dyn Loss>, Box<dyn Loss>) {
    let common = c.overlap_keys(p, logits);
    let mode = Some(p.mode());
    let lcd = LogCoshDiceConfig { dice: c.dice_keys(), common: common.clone(), mode }.build_boxed().unwrap();
    let dice = DiceConfig { dice: c.dice_keys(), common, mode }.build_boxed().unwrap();
    (lcd, dice)
}

/// Probabilities in (0.02, 0.98) for `from_logits=false`.
fn to_probs(p: &Problem) -> Problem {
    let mut q = p.clone();
    q.x = p.x.iter().map(|&v| 0.02 + 0.96 / (1.0 + (-v).exp())).collect();
    q
}

fn grads_close(a: &[f32], b: &[f32]) -> Result<(), TestCaseError> {
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64));
    let d = max_abs_diff(a, b);
    prop_assert!(d <= GRAD_REL * scale + GRAD_ABS, "max |grad diff| {d:e} > {GRAD_REL:e} * {scale:e} + {GRAD_ABS:e}");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn value_is_ln_cosh_of_the_dice_value(p in problem(testing::logit().boxed(), 0..4), c in cfg(true, false, vec![1.0]), logits in any::<bool>()) {
        let p = if logits { p } else { to_probs(&p) };
        let a = p.arrays();
        let batch = a.batch();
        let (lcd, dice) = both(&c, &p, logits);
        let got = lcd.forward(&batch).unwrap() as f64;
        // from dice's own (f32) value
        let l32 = dice.forward(&batch).unwrap() as f64;
        let want = l32.cosh().ln();
        prop_assert!((got - want).abs() <= 1e-6 * (want + l32.abs()) + 1e-12, "{got} vs ln(cosh({l32})) = {want}");
        // from the f64 reference of dice
        let x64: Vec<f64> = p.x.iter().map(|&v| v as f64).collect();
        let l64 = p.reference(dice.as_ref(), &batch, &x64).0;
        let want = l64.cosh().ln();
        prop_assert!((got - want).abs() <= VALUE_REL * want + VALUE_ABS, "{got} vs ln(cosh({l64})) = {want}");
        prop_assert!(got >= 0.0);
    }

    #[test]
    fn gradient_matches_central_differences(p in problem((-4.0f32..4.0).boxed(), 0..4), c in cfg(true, true, vec![1.0]), logits in any::<bool>()) {
        let p = if logits { p } else { to_probs(&p) };
        prop_assume!(!c.near_kink(&p, logits, KINK_MARGIN), "an element at the kink p = g");
        let a = p.arrays();
        let batch = a.batch();
        let (lcd, dice) = both(&c, &p, logits);
        let x64: Vec<f64> = p.x.iter().map(|&v| v as f64).collect();
        // ln(cosh(dice)) in f64, written here, differentiated numerically
        let f = |x: &[f64]| p.reference(dice.as_ref(), &batch, x).0.cosh().ln();
        let (v_ref, g_ref) = p.reference(lcd.as_ref(), &batch, &x64);
        prop_assert!((v_ref - f(&x64)).abs() <= 1e-12 * (1.0 + v_ref), "reference {v_ref} vs {}", f(&x64));
        if let Err(e) = check_gradient_fn(&f, &x64, &g_ref, FD_STEP, FD_REL, FD_ABS) {
            return Err(TestCaseError::fail(format!("{e} ({c:?})")));
        }
        // the loss itself against the f64 reference
        let (v, g) = lcd.forward_backward(&batch).unwrap();
        prop_assert!((v as f64 - v_ref).abs() <= VALUE_REL * v_ref + VALUE_ABS, "{v} vs reference {v_ref}");
        let g_ref32: Vec<f32> = g_ref.iter().map(|&v| v as f32).collect();
        grads_close(g.as_slice().unwrap(), &g_ref32)?;
    }

    #[test]
    fn simd_equals_scalar(p in problem(testing::logit().boxed(), 0..4), c in cfg(true, false, vec![1.0]), logits in any::<bool>()) {
        let p = if logits { p } else { to_probs(&p) };
        prop_assume!(!c.near_kink(&p, logits, KINK_ULPS), "an element at the kink p = g");
        let a = p.arrays();
        let (lcd, _) = both(&c, &p, logits);
        let (v1, g1) = lcd.forward_backward(&a.batch()).unwrap();
        let (v2, g2) = with_backend(Backend::Scalar, || lcd.forward_backward(&a.batch())).unwrap();
        prop_assert!((v1 as f64 - v2 as f64).abs() <= VALUE_REL * v2.abs() as f64 + VALUE_ABS, "simd {v1} vs scalar {v2}");
        prop_assert!(g1.iter().all(|x| x.is_finite()));
        grads_close(g1.as_slice().unwrap(), g2.as_slice().unwrap())?;
    }
}

fn arr(shape: &[usize], mut f: impl FnMut(usize) -> f32) -> ArrayD<f32> {
    let n = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(&mut f).collect()).unwrap()
}

fn spec(s: &str) -> Box<dyn Loss> {
    Box::new(Registry::new(LOSSES).build_str(s).unwrap())
}

#[test]
fn perfect_prediction_gives_zero() {
    let mut r = Rng::new(41);
    // binary and multilabel probabilities equal to hard targets
    for shape in [[2usize, 1, 5, 6], [2, 3, 4, 4]] {
        let t = arr(&shape, |_| (r.next_f32() < 0.4) as u8 as f32);
        for s in ["", ",smooth=0.1", ",smooth=1", ",reduce=batch", ",squared=true", ",log=true"] {
            let loss = spec(&format!("log_cosh_dice:from_logits=false{s}"));
            let (v, g) = loss.forward_backward(&Batch::new(&t, &t)).unwrap();
            assert!(v.abs() <= 1e-6, "{s}: {v}");
            assert!(g.iter().all(|x| x.abs() <= 1e-6), "{s}: gradient {g:?}");
        }
    }
    // multiclass: one-hot probabilities of the labels
    let lab = ArrayD::from_shape_vec(IxDyn(&[2, 4, 5]), (0..40).map(|_| r.below(3) as i64).collect()).unwrap();
    let onehot = arr(&[2, 3, 4, 5], |e| (lab.as_slice().unwrap()[(e / 60) * 20 + e % 20] == ((e / 20) % 3) as i64) as u8 as f32);
    let v = spec("log_cosh_dice:from_logits=false,mode=multiclass").forward(&Batch::new(&onehot, &lab)).unwrap();
    assert!(v.abs() <= 1e-6, "{v}");
}

/// Jadon's `log_cosh_dice_loss(y_true, y_pred)` (probabilities, one channel, every pixel of the
/// batch in one ratio with smooth 1), written out in f64.
#[test]
fn jadons_log_cosh_dice_loss() {
    let mut r = Rng::new(2020);
    for shape in [[1usize, 1, 8, 8], [3, 1, 5, 7]] {
        let p = arr(&shape, |_| r.next_f32());
        let t = arr(&shape, |_| (r.next_f32() < 0.3) as u8 as f32);
        let (p64, t64): (Vec<f64>, Vec<f64>) = (p.iter().map(|&v| v as f64).collect(), t.iter().map(|&v| v as f64).collect());
        let smooth = 1.0;
        let intersection: f64 = p64.iter().zip(&t64).map(|(a, b)| a * b).sum();
        let score = (2.0 * intersection + smooth) / (t64.iter().sum::<f64>() + p64.iter().sum::<f64>() + smooth);
        let x = 1.0 - score;
        let want = ((x.exp() + (-x).exp()) / 2.0).ln();
        let got = spec("log_cosh_dice:reduce=batch,smooth=1,from_logits=false").forward(&Batch::new(&p, &t)).unwrap();
        assert!((got as f64 - want).abs() <= 1e-6 * want, "{got} vs {want}");
    }
}

#[test]
fn value_alone_upstream_and_threads() {
    let mut r = Rng::new(7);
    let pred = arr(&[2, 4, 40, 50], |_| r.uniform(-4.0, 4.0));
    let lab = ArrayD::from_shape_vec(IxDyn(&[2, 40, 50]), (0..4000).map(|_| r.below(4) as i64).collect()).unwrap();
    let b = Batch::new(&pred, &lab);
    for s in ["log_cosh_dice", "log_cosh_dice:reduce=batch,squared=true", "log_cosh_dice:log=true,classes=present"] {
        let loss = spec(s);
        let (v, g) = loss.forward_backward(&b).unwrap();
        assert_eq!(loss.forward(&b).unwrap().to_bits(), v.to_bits(), "{s}");
        let mut g2 = ArrayD::zeros(IxDyn(&[2, 4, 40, 50]));
        loss.forward_backward_into(&b, g2.view_mut(), -2.5).unwrap();
        let scale = g.iter().fold(0.0f32, |m, a| m.max(a.abs()));
        assert!(scale > 0.0);
        assert!(g.iter().zip(&g2).all(|(a, c)| (a * -2.5 - c).abs() <= 1e-6 * scale), "{s}: not scaled by the upstream gradient");
        let run = |n: usize| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap().install(|| loss.forward_backward(&b).unwrap());
        let ((v1, g1), (v2, g2)) = (run(1), run(2));
        assert_eq!(v1.to_bits(), v2.to_bits(), "{s}");
        assert!(g1.iter().zip(&g2).all(|(x, y)| x.to_bits() == y.to_bits()), "{s}");
    }
}

#[test]
fn keys_are_those_of_dice() {
    assert_eq!(LogCoshDiceConfig::DECL.keys(), DiceConfig::DECL.keys());
    assert_eq!(LogCoshDiceConfig::DECL.modes, DiceConfig::DECL.modes);
    let c = LogCoshDiceConfig {
        dice: DiceKeys { reduce: Reduce::Batch, squared: true, ..DiceKeys::default() },
        common: OverlapKeys { smooth: Some(1.0), from_logits: false, ..OverlapKeys::default() },
        mode: None,
    };
    assert_eq!(c.to_spec(), "log_cosh_dice:reduce=batch,squared=true,smooth=1,from_logits=false");
    let terms = Registry::new(LOSSES).parse(&c.to_spec()).unwrap();
    assert_eq!(terms[0].to_string(), c.to_spec());
    let built = Registry::new(LOSSES).build_one("log_cosh_dice", terms[0].params.clone()).unwrap();
    assert_eq!(built.config().and_then(|a| a.downcast_ref::<LogCoshDiceConfig>()), Some(&c));
}

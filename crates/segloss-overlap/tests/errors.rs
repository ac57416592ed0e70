//! Bad input: every case is a `LossError` naming the problem, never a panic.

use ndarray::{ArrayD, IxDyn};
use segloss_core::{Batch, Loss, LossConfig, LossError, Mode, Registry, Value};
use segloss_overlap::*;

fn arr(shape: &[usize], f: impl Fn(usize) -> f32) -> ArrayD<f32> {
    let n = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(f).collect()).unwrap()
}

fn labels(shape: &[usize], f: impl Fn(usize) -> i64) -> ArrayD<i64> {
    let n = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(f).collect()).unwrap()
}

fn spec(name: &str, pairs: &[(&str, Value)]) -> Result<Box<dyn Loss>, LossError> {
    Registry::new(LOSSES).build_one(name, pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
}

fn config_key(e: &LossError) -> &str {
    match e {
        LossError::InvalidConfig { key, .. } => key,
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

#[test]
fn label_out_of_range() {
    let pred = arr(&[2, 3, 4, 4], |i| i as f32 * 0.1);
    let t = labels(&[2, 4, 4], |i| if i == 21 { 7 } else { (i % 3) as i64 });
    let e = DiceConfig::default().build().unwrap().forward(&Batch::new(&pred, &t)).unwrap_err();
    assert!(matches!(&e, LossError::LabelOutOfRange { label, index, .. } if label == "7" && index == &vec![1, 1, 1]), "{e:?}");
    assert!(e.to_string().contains("[0, 3)"), "{e}");
}

#[test]
fn negative_label_without_ignore_index() {
    let pred = arr(&[1, 2, 3, 3], |i| i as f32);
    let t = labels(&[1, 3, 3], |i| if i == 4 { -1 } else { 0 });
    let e = JaccardConfig::default().build().unwrap().forward(&Batch::new(&pred, &t)).unwrap_err();
    assert!(matches!(&e, LossError::LabelOutOfRange { label, .. } if label == "-1"), "{e:?}");
}

#[test]
fn float_target_outside_unit_interval() {
    let pred = arr(&[2, 1, 3, 3], |i| i as f32 * 0.2 - 1.0);
    let t = arr(&[2, 1, 3, 3], |i| if i == 11 { 1.5 } else { 0.0 });
    let e = DiceConfig::default().build().unwrap().forward(&Batch::new(&pred, &t)).unwrap_err();
    assert!(matches!(&e, LossError::LabelOutOfRange { label, index, .. } if label == "1.5" && index == &vec![1, 0, 0, 2]), "{e:?}");
}

#[test]
fn class_weights_of_the_wrong_length() {
    let pred = arr(&[2, 3, 4, 4], |i| i as f32 * 0.1);
    let t = labels(&[2, 4, 4], |i| (i % 3) as i64);
    let loss = spec("dice", &[("class_weights", Value::List(vec![1.0, 2.0]))]).unwrap();
    let e = loss.forward(&Batch::new(&pred, &t)).unwrap_err();
    assert_eq!(config_key(&e), "class_weights");
    assert!(e.to_string().contains("2 values for 3 channels"), "{e}");
}

#[test]
fn class_weights_negative() {
    let e = spec("jaccard", &[("class_weights", Value::List(vec![1.0, -2.0]))]).unwrap_err();
    assert_eq!(config_key(&e), "class_weights");
    assert!(e.to_string().contains("-2"), "{e}");
}

#[test]
fn alpha_negative() {
    let e = TverskyConfig { alpha: -0.1, ..TverskyConfig::default() }.build().unwrap_err();
    assert_eq!(config_key(&e), "alpha");
    assert!(e.to_string().contains("-0.1"), "{e}");
    let e = spec("tversky", &[("alpha", Value::Num(-1.0))]).unwrap_err();
    assert_eq!(config_key(&e), "alpha");
}

#[test]
fn beta_negative() {
    let e = TverskyConfig { beta: -0.5, ..TverskyConfig::default() }.build().unwrap_err();
    assert_eq!(config_key(&e), "beta");
    assert!(e.to_string().contains("-0.5"), "{e}");
}

#[test]
fn gamma_not_positive() {
    let e = spec("tversky", &[("gamma", Value::Num(0.0))]).unwrap_err();
    assert_eq!(config_key(&e), "gamma");
}

#[test]
fn smooth_given_with_smooth_nr_or_smooth_dr() {
    let e = spec("dice", &[("smooth", Value::Num(0.1)), ("smooth_nr", Value::Num(0.2))]).unwrap_err();
    assert_eq!(config_key(&e), "smooth");
    assert!(e.to_string().contains("smooth_nr"), "{e}");
    let e = spec("generalized_dice", &[("smooth_dr", Value::Num(0.2)), ("smooth", Value::Num(0.1))]).unwrap_err();
    assert_eq!(config_key(&e), "smooth");
    assert!(e.to_string().contains("smooth_dr"), "{e}");
}

#[test]
fn smooth_with_smooth_nr_or_smooth_dr_at_their_defaults_is_accepted() {
    // a typed config cannot tell a key at its default from a key left out: `smooth` wins
    let keys = OverlapKeys { smooth: Some(0.5), ..OverlapKeys::default() };
    assert_eq!(keys.smoothing().unwrap(), (0.5, 0.5));
    let d = OverlapKeys::default();
    let keys = OverlapKeys { smooth: Some(0.5), smooth_nr: d.smooth_nr, smooth_dr: d.smooth_dr, ..OverlapKeys::default() };
    assert_eq!(keys.smoothing().unwrap(), (0.5, 0.5));
    assert_eq!(d.smoothing().unwrap(), (d.smooth_nr, d.smooth_dr));
    let e = OverlapKeys { smooth: Some(0.5), smooth_dr: 0.1, ..OverlapKeys::default() }.smoothing().unwrap_err();
    assert_eq!(config_key(&e), "smooth");
    assert!(e.to_string().contains("smooth_dr"), "{e}");
    assert_eq!(config_key(&OverlapKeys { smooth: Some(-1.0), ..d }.smoothing().unwrap_err()), "smooth");
}

#[test]
fn log_cosh_dice_checks_the_keys_of_dice() {
    let e = spec("log_cosh_dice", &[("smooth", Value::Num(0.1)), ("smooth_nr", Value::Num(0.2))]).unwrap_err();
    assert_eq!(config_key(&e), "smooth");
    assert_eq!(
        config_key(&spec("log_cosh_dice", &[("pixelwise", Value::Bool(true)), ("log", Value::Bool(true))]).unwrap_err()),
        "pixelwise"
    );
    assert_eq!(config_key(&spec("log_cosh_dice", &[("alpha", Value::Num(0.5))]).unwrap_err()), "alpha");
    assert_eq!(config_key(&spec("log_cosh_dice", &[("eps", Value::Num(-1.0))]).unwrap_err()), "eps");
    let pred = arr(&[2, 3, 4, 4], |i| i as f32 * 0.1);
    let t = labels(&[2, 4, 4], |i| if i == 21 { 7 } else { (i % 3) as i64 });
    let e = LogCoshDiceConfig::default().build().unwrap().forward(&Batch::new(&pred, &t)).unwrap_err();
    assert!(matches!(&e, LossError::LabelOutOfRange { label, .. } if label == "7"), "{e:?}");
    let mut g = ArrayD::<f32>::zeros(IxDyn(&[2, 3, 4, 5]));
    let e = LogCoshDiceConfig::default().build().unwrap().forward_backward_into(&Batch::new(&pred, &t), g.view_mut(), 1.0).unwrap_err();
    assert!(matches!(&e, LossError::ShapeMismatch { left_name: "grad", .. }), "{e:?}");
}

#[test]
fn negative_smoothing_and_eps() {
    assert_eq!(config_key(&spec("dice", &[("smooth_nr", Value::Num(-1.0))]).unwrap_err()), "smooth_nr");
    assert_eq!(config_key(&spec("dice", &[("smooth_dr", Value::Num(-1e-3))]).unwrap_err()), "smooth_dr");
    assert_eq!(config_key(&spec("dice", &[("smooth", Value::Num(-1.0))]).unwrap_err()), "smooth");
    assert_eq!(config_key(&spec("jaccard", &[("eps", Value::Num(0.0))]).unwrap_err()), "eps");
}

#[test]
fn weight_tensor_is_rejected() {
    let pred = arr(&[2, 1, 3, 3], |i| i as f32 * 0.1);
    let t = arr(&[2, 1, 3, 3], |i| (i % 2) as f32);
    let w = arr(&[2, 1, 3, 3], |_| 1.0);
    for loss in [
        DiceConfig::default().build_boxed().unwrap(),
        TverskyConfig::default().build_boxed().unwrap(),
        JaccardConfig::default().build_boxed().unwrap(),
        GeneralizedDiceConfig::default().build_boxed().unwrap(),
        LogCoshDiceConfig::default().build_boxed().unwrap(),
    ] {
        let e = loss.forward(&Batch::new(&pred, &t).with_weight(&w)).unwrap_err();
        assert!(matches!(&e, LossError::Unsupported { .. }), "{e:?}");
        assert!(e.to_string().contains("weight") && e.to_string().contains("[2, 1, 3, 3]"), "{e}");
    }
}

#[test]
fn mode_and_shape_disagree() {
    let pred = arr(&[2, 3, 4, 4], |i| i as f32 * 0.01);
    let lab = labels(&[2, 4, 4], |i| (i % 3) as i64);
    // (a 4-D pred with mode=binary reads as [N, *S] with three spatial axes; a 5-D one has channels)
    let pred5 = arr(&[2, 3, 4, 4, 2], |i| i as f32 * 0.01);
    let soft5 = arr(&[2, 3, 4, 4, 2], |_| 0.5);
    let binary = DiceConfig { mode: Some(Mode::Binary), ..DiceConfig::default() };
    let e = binary.build().unwrap().forward(&Batch::new(&pred5, &soft5)).unwrap_err();
    assert!(matches!(&e, LossError::InvalidShape { name: "pred", .. }) && e.to_string().contains("one channel"), "{e}");
    let multilabel = DiceConfig { mode: Some(Mode::Multilabel), ..DiceConfig::default() };
    let e = multilabel.build().unwrap().forward(&Batch::new(&pred, &lab)).unwrap_err();
    assert!(matches!(&e, LossError::ShapeMismatch { .. }) && e.to_string().contains("[2, 4, 4]"), "{e}");
    let one = arr(&[2, 1, 4, 4], |i| i as f32);
    let lab1 = labels(&[2, 4, 4], |i| (i % 2) as i64);
    let multiclass = spec("dice", &[("mode", Value::Word("multiclass".into()))]).unwrap();
    let e = multiclass.forward(&Batch::new(&one, &lab1)).unwrap_err();
    assert!(matches!(&e, LossError::InvalidShape { .. }) && e.to_string().contains("at least 2 channels"), "{e}");
    let wrong = labels(&[2, 5, 4], |_| 0);
    let e = DiceConfig::default().build().unwrap().forward(&Batch::new(&pred, &wrong)).unwrap_err();
    assert!(matches!(&e, LossError::ShapeMismatch { .. }), "{e}");
}

#[test]
fn ignore_index_outside_classes_with_class_probabilities() {
    let pred = arr(&[1, 3, 2, 2], |i| i as f32);
    let probs = arr(&[1, 3, 2, 2], |_| 1.0 / 3.0);
    let loss = spec("dice", &[("mode", Value::Word("multiclass".into())), ("ignore_index", Value::Num(255.0))]).unwrap();
    let e = loss.forward(&Batch::new(&pred, &probs)).unwrap_err();
    assert_eq!(config_key(&e), "ignore_index");
}

#[test]
fn pixelwise_with_log_or_squared() {
    assert_eq!(config_key(&spec("dice", &[("pixelwise", Value::Bool(true)), ("log", Value::Bool(true))]).unwrap_err()), "pixelwise");
    assert_eq!(config_key(&spec("dice", &[("pixelwise", Value::Bool(true)), ("squared", Value::Bool(true))]).unwrap_err()), "pixelwise");
}

#[test]
fn unknown_key_and_bad_words() {
    let e = spec("jaccard", &[("alpha", Value::Num(0.5))]).unwrap_err();
    assert_eq!(config_key(&e), "alpha");
    assert!(e.to_string().contains("jaccard"), "{e}");
    assert_eq!(config_key(&spec("dice", &[("reduce", Value::Word("pixel".into()))]).unwrap_err()), "reduce");
    assert_eq!(config_key(&spec("generalized_dice", &[("weight_type", Value::Word("cube".into()))]).unwrap_err()), "weight_type");
    assert_eq!(config_key(&spec("dice", &[("classes", Value::Word("some".into()))]).unwrap_err()), "classes");
}

#[test]
fn gradient_buffer_of_the_wrong_shape() {
    let pred = arr(&[2, 1, 3, 3], |i| i as f32 * 0.1);
    let t = arr(&[2, 1, 3, 3], |i| (i % 2) as f32);
    let mut g = ArrayD::<f32>::zeros(IxDyn(&[2, 1, 3, 4]));
    let e = DiceConfig::default().build().unwrap().forward_backward_into(&Batch::new(&pred, &t), g.view_mut(), 1.0).unwrap_err();
    assert!(matches!(&e, LossError::ShapeMismatch { left_name: "grad", .. }), "{e:?}");
}

#[test]
fn non_finite_input_with_check_finite() {
    let pred = arr(&[1, 1, 2, 3], |i| if i == 4 { f32::NAN } else { 0.0 });
    let t = arr(&[1, 1, 2, 3], |_| 1.0);
    let e = DiceConfig::default().build().unwrap().forward(&Batch::new(&pred, &t).check_finite(true)).unwrap_err();
    assert!(matches!(&e, LossError::NonFinite { name: "pred", index, .. } if index == &vec![0, 0, 1, 1]), "{e:?}");
}

#[test]
fn empty_tensor() {
    let pred = ArrayD::<f32>::zeros(IxDyn(&[0, 1, 3, 3]));
    let t = ArrayD::<f32>::zeros(IxDyn(&[0, 1, 3, 3]));
    let e = DiceConfig::default().build().unwrap().forward(&Batch::new(&pred, &t)).unwrap_err();
    assert!(matches!(&e, LossError::Empty { .. }), "{e:?}");
}

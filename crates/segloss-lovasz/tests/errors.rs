//! Bad input gets a `LossError`, one test per case; build-time errors name key and value.

use ndarray::{ArrayD, IxDyn};
use segloss_core::spec::print_terms;
use segloss_core::{Batch, Classes, Loss, LossError, Mode, Reduce, Registry, Value};
use segloss_lovasz::{LovaszHingeConfig, LovaszSoftmaxConfig};

fn a<T: Clone>(shape: &[usize], v: Vec<T>) -> ArrayD<T> {
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
}

fn hinge() -> segloss_lovasz::LovaszHinge {
    LovaszHingeConfig::default().build().unwrap()
}

fn softmax() -> segloss_lovasz::LovaszSoftmax {
    LovaszSoftmaxConfig::default().build().unwrap()
}

fn registry() -> Registry<'static> {
    Registry::new(segloss_lovasz::LOSSES)
}

fn build(name: &str, pairs: &[(&str, Value)]) -> Result<Box<dyn Loss>, LossError> {
    registry().build_one(name, pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
}

#[test]
fn hinge_float_target_not_0_or_1() {
    let x = a(&[1, 1, 2, 2], vec![0.0f32; 4]);
    let y = a(&[1, 1, 2, 2], vec![0.0f32, 1.0, 0.5, 1.0]);
    match hinge().forward(&Batch::new(&x, &y)) {
        Err(LossError::LabelOutOfRange { label, index, expected }) => {
            assert_eq!(label, "0.5");
            assert_eq!(index, vec![0, 0, 1, 0]);
            assert!(expected.contains("0 or 1"), "{expected}");
        }
        other => panic!("expected LabelOutOfRange, got {other:?}"),
    }
}

#[test]
fn hinge_integer_target_not_0_or_1() {
    let x = a(&[2, 1, 3], vec![0.0f32; 6]);
    let y = a(&[2, 3], vec![0i64, 1, 0, 1, 2, 0]);
    assert!(matches!(hinge().forward(&Batch::new(&x, &y)), Err(LossError::LabelOutOfRange { .. })));
}

#[test]
fn hinge_ignore_value_without_ignore_index() {
    let x = a(&[1, 1, 3], vec![0.0f32; 3]);
    let y = a(&[1, 1, 3], vec![0.0f32, 255.0, 1.0]);
    assert!(matches!(hinge().forward(&Batch::new(&x, &y)), Err(LossError::LabelOutOfRange { .. })));
    let l = LovaszHingeConfig { ignore_index: Some(255), ..Default::default() }.build().unwrap();
    assert!(l.forward(&Batch::new(&x, &y)).is_ok());
    // integer targets with the ignore value, and another bad value
    let yi = a(&[1, 1, 3], vec![0u8, 255, 1]);
    assert!(l.forward(&Batch::new(&x, &yi)).is_ok());
    let yi = a(&[1, 1, 3], vec![0u8, 254, 1]);
    match l.forward(&Batch::new(&x, &yi)) {
        Err(LossError::LabelOutOfRange { label, expected, .. }) => {
            assert_eq!(label, "254");
            assert!(expected.contains("ignore_index 255"), "{expected}");
        }
        other => panic!("expected LabelOutOfRange, got {other:?}"),
    }
}

#[test]
fn hinge_nan_target() {
    let x = a(&[1, 1, 2], vec![0.0f32; 2]);
    let y = a(&[1, 1, 2], vec![f32::NAN, 1.0]);
    assert!(matches!(hinge().forward(&Batch::new(&x, &y)), Err(LossError::LabelOutOfRange { .. })));
}

#[test]
fn softmax_label_out_of_range() {
    let z = a(&[1, 3, 2], vec![0.0f32; 6]);
    for bad in [3i64, -1] {
        let l = a(&[1, 2], vec![0i64, bad]);
        match softmax().forward(&Batch::new(&z, &l)) {
            Err(LossError::LabelOutOfRange { label, index, .. }) => {
                assert_eq!(label, bad.to_string());
                assert_eq!(index, vec![0, 1]);
            }
            other => panic!("expected LabelOutOfRange, got {other:?}"),
        }
    }
    let l = a(&[1, 2], vec![0i64, 255]);
    assert!(matches!(softmax().forward(&Batch::new(&z, &l)), Err(LossError::LabelOutOfRange { .. })));
    let ok = LovaszSoftmaxConfig { ignore_index: Some(255), ..Default::default() }.build().unwrap();
    assert!(ok.forward(&Batch::new(&z, &l)).is_ok());
}

#[test]
fn weight_tensor_is_rejected() {
    let x = a(&[1, 1, 2], vec![0.0f32; 2]);
    let y = a(&[1, 1, 2], vec![0.0f32, 1.0]);
    let w = a(&[1, 1, 2], vec![1.0f32; 2]);
    match hinge().forward(&Batch::new(&x, &y).with_weight(&w)) {
        Err(LossError::Unsupported { loss, reason }) => {
            assert_eq!(loss, "lovasz_hinge");
            assert!(reason.contains("weight"), "{reason}");
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    let z = a(&[1, 2, 2], vec![0.0f32; 4]);
    let l = a(&[1, 2], vec![0i64, 1]);
    let w = a(&[1, 2], vec![1.0f32; 2]);
    assert!(matches!(softmax().forward(&Batch::new(&z, &l).with_weight(&w)), Err(LossError::Unsupported { .. })));
}

#[test]
fn hinge_rejects_class_labels() {
    let z = a(&[1, 3, 2], vec![0.0f32; 6]);
    let l = a(&[1, 2], vec![0i64, 2]);
    assert!(matches!(hinge().forward(&Batch::new(&z, &l)), Err(LossError::Unsupported { .. })));
}

#[test]
fn softmax_rejects_binary_and_probability_targets() {
    let x = a(&[1, 1, 2], vec![0.0f32; 2]);
    let y = a(&[1, 1, 2], vec![0.0f32, 1.0]);
    assert!(matches!(softmax().forward(&Batch::new(&x, &y)), Err(LossError::Unsupported { .. })));
    let z = a(&[1, 2, 2], vec![0.0f32; 4]);
    let p = a(&[1, 2, 2], vec![0.5f32; 4]);
    let l = LovaszSoftmaxConfig { mode: Some(Mode::Multiclass), ..Default::default() }.build().unwrap();
    assert!(matches!(l.forward(&Batch::new(&z, &p)), Err(LossError::Unsupported { .. })));
}

#[test]
fn shape_mismatch_and_empty() {
    let x = a(&[1, 1, 3], vec![0.0f32; 3]);
    let y = a(&[1, 1, 2], vec![0.0f32; 2]);
    assert!(matches!(hinge().forward(&Batch::new(&x, &y)), Err(LossError::ShapeMismatch { .. })));
    let z = a(&[1, 3, 2], vec![0.0f32; 6]);
    let l = a(&[1, 3], vec![0i64; 3]);
    assert!(matches!(softmax().forward(&Batch::new(&z, &l)), Err(LossError::ShapeMismatch { .. })));
    let e = a(&[0, 1, 3], Vec::<f32>::new());
    assert!(matches!(hinge().forward(&Batch::new(&e, &e)), Err(LossError::Empty { .. })));
}

#[test]
fn gradient_buffer_of_the_wrong_shape() {
    let x = a(&[1, 1, 3], vec![0.0f32; 3]);
    let y = a(&[1, 1, 3], vec![0.0f32; 3]);
    let mut g = ArrayD::<f32>::zeros(IxDyn(&[1, 1, 4]));
    assert!(matches!(hinge().forward_backward_into(&Batch::new(&x, &y), g.view_mut(), 1.0), Err(LossError::ShapeMismatch { .. })));
    let mut g = vec![0.0f32; 2];
    assert!(matches!(hinge().eval_slice(&Batch::new(&x, &y), Some(&mut g), 1.0), Err(LossError::ShapeMismatch { .. })));
}

#[test]
fn non_finite_inputs() {
    let x = a(&[1, 1, 3], vec![0.0f32, f32::NAN, 1.0]);
    let y = a(&[1, 1, 3], vec![0.0f32, 1.0, 1.0]);
    match hinge().forward(&Batch::new(&x, &y).check_finite(true)) {
        Err(LossError::NonFinite { name, index, .. }) => {
            assert_eq!(name, "pred");
            assert_eq!(index, vec![0, 0, 1]);
        }
        other => panic!("expected NonFinite, got {other:?}"),
    }
    // without check_finite a NaN error sorts first and propagates into the loss, as in PyTorch
    let (v, g) = hinge().forward_backward(&Batch::new(&x, &y)).unwrap();
    assert!(v.is_nan());
    assert!(g.iter().all(|v| !v.is_nan()));
}

#[test]
fn build_errors_name_key_and_value() {
    let bad = |name: &str, pairs: &[(&str, Value)], key: &str| match build(name, pairs) {
        Err(LossError::InvalidConfig { key: k, .. }) => assert_eq!(k, key),
        Err(other) => panic!("{name}: expected InvalidConfig on {key}, got {other:?}"),
        Ok(_) => panic!("{name}: expected InvalidConfig on {key}, got a loss"),
    };
    bad("lovasz_hinge", &[("mode", Value::Word("multiclass".into()))], "mode");
    bad("lovasz_hinge", &[("per_image", Value::Num(1.0))], "per_image");
    bad("lovasz_hinge", &[("ignore_index", Value::Num(0.5))], "ignore_index");
    bad("lovasz_hinge", &[("classes", Value::Word("all".into()))], "classes");
    bad("lovasz_softmax", &[("mode", Value::Word("binary".into()))], "mode");
    bad("lovasz_softmax", &[("classes", Value::Word("some".into()))], "classes");
    bad("lovasz_softmax", &[("from_logits", Value::Word("yes".into()))], "from_logits");
    bad("lovasz_softmax", &[("reduction", Value::Word("sum".into()))], "reduction");
    assert!(registry().get("dice").is_none());
    assert!(LovaszSoftmaxConfig { mode: Some(Mode::Multilabel), ..Default::default() }.build().is_err());
    assert!(LovaszHingeConfig { mode: Some(Mode::Multiclass), ..Default::default() }.build().is_err());
    // the defaults through the spec keys
    let l = build("lovasz_softmax", &[("classes", Value::Word("all".into())), ("per_image", Value::Bool(true))]).unwrap();
    assert_eq!(l.name(), "lovasz_softmax");
    assert_eq!(LovaszSoftmaxConfig::default().classes, Classes::Present);
    assert_eq!(LovaszHingeConfig::default().reduce, Reduce::Image);
    assert_eq!(LovaszSoftmaxConfig::default().reduce, Reduce::Batch);
}

#[test]
fn catalogue_lists_both_losses() {
    let names: Vec<&str> = registry().decls().iter().map(|d| d.name).collect();
    assert_eq!(names, vec!["lovasz_hinge", "lovasz_softmax"]);
    for decl in registry().decls() {
        assert!(decl.keys().iter().any(|k| k.key == "mode"));
        assert!(decl.keys().iter().any(|k| k.key == "ignore_index"));
        assert!(decl.keys().iter().any(|k| k.key == "reduce"));
        assert!(decl.key("per_image").is_none(), "per_image is an alias, not a key");
    }
}

/// `per_image` is the old name of `reduce`: it parses as `reduce=image|batch` and prints as it.
#[test]
fn per_image_is_an_alias_of_reduce() {
    let r = registry();
    for (src, printed) in [
        ("lovasz_hinge:per_image=true", "lovasz_hinge:reduce=image"),
        ("lovasz_hinge:per_image=false", "lovasz_hinge:reduce=batch"),
        ("lovasz_softmax:per_image=true", "lovasz_softmax:reduce=image"),
        ("lovasz_softmax:classes=all,per_image=false", "lovasz_softmax:classes=all,reduce=batch"),
        ("lovasz_hinge:reduce=image", "lovasz_hinge:reduce=image"),
    ] {
        let terms = r.parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert_eq!(print_terms(&terms), printed, "{src}");
        // the printed spec parses to the same terms
        assert_eq!(r.parse(printed).unwrap(), terms, "{src}");
    }
    // the built config holds the new key
    let l = r.build_str("lovasz_hinge:per_image=false").unwrap();
    let (_, term) = l.terms().next().unwrap();
    let config = term.config().unwrap().downcast_ref::<LovaszHingeConfig>().unwrap();
    assert_eq!(config.reduce, Reduce::Batch);
    let l = r.build_str("lovasz_softmax:per_image=true").unwrap();
    let (_, term) = l.terms().next().unwrap();
    let config = term.config().unwrap().downcast_ref::<LovaszSoftmaxConfig>().unwrap();
    assert_eq!(config.reduce, Reduce::Image);
    assert_eq!(LovaszSoftmaxConfig { reduce: Reduce::Image, ..Default::default() }.to_spec(), "lovasz_softmax:reduce=image");
}

#[test]
fn per_image_and_reduce_together_is_an_error_naming_the_key() {
    let r = registry();
    for src in [
        "lovasz_hinge:per_image=true,reduce=image",
        "lovasz_hinge:reduce=batch,per_image=true",
        "lovasz_softmax:per_image=false,reduce=image",
    ] {
        match r.parse(src) {
            Err(LossError::InvalidConfig { key, reason, .. }) => {
                assert_eq!(key, "reduce", "{src}");
                assert!(reason.contains("per_image"), "{src}: {reason}");
            }
            other => panic!("{src}: expected InvalidConfig on reduce, got {other:?}"),
        }
    }
    let both = vec![("per_image".to_string(), Value::Bool(true)), ("reduce".to_string(), Value::Word("image".into()))];
    assert!(matches!(r.build_one("lovasz_hinge", both), Err(LossError::InvalidConfig { key, .. }) if key == "reduce"));
}

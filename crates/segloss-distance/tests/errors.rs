//! Bad input gives a clear LossError naming the key and value (or the shape), one test per case.

use ndarray::{ArrayD, Dimension, IxDyn};
use segloss_core::LossError;
use segloss_distance::{edt, label, unet_weights_from_instances, unet_weights_from_mask, ClassWeights, EdtOptions, UnetWeightConfig};

fn mask(shape: &[usize]) -> ArrayD<u8> {
    ArrayD::from_shape_fn(IxDyn(shape), |i| (i.as_array_view().sum() % 3 != 0) as u8)
}

fn config_err(e: LossError, key: &str, value_part: &str) {
    match &e {
        LossError::InvalidConfig { key: k, value, .. } => {
            assert_eq!(k, key);
            assert!(value.contains(value_part), "{e}");
        }
        other => panic!("expected InvalidConfig for {key}, got {other:?}"),
    }
    let msg = e.to_string();
    assert!(msg.contains(key) && msg.contains(value_part), "{msg}");
}

#[test]
fn spacing_non_finite() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let e = edt(mask(&[4, 5]).view(), &EdtOptions { spacing: Some(vec![1.0, bad]), squared: false }).unwrap_err();
        config_err(e, "spacing", &bad.to_string());
    }
}

#[test]
fn spacing_not_positive() {
    for bad in [0.0, -1.5] {
        let e = edt(mask(&[3, 4, 5]).view(), &EdtOptions { spacing: Some(vec![bad, 1.0, 1.0]), squared: true }).unwrap_err();
        config_err(e, "spacing", &bad.to_string());
        assert!(e_msg(&mask(&[3, 4, 5]), bad).contains("spacing[0]"));
    }
}

fn e_msg(m: &ArrayD<u8>, bad: f64) -> String {
    edt(m.view(), &EdtOptions { spacing: Some(vec![bad, 1.0, 1.0]), squared: true }).unwrap_err().to_string()
}

#[test]
fn spacing_wrong_length() {
    let e = edt(mask(&[4, 5]).view(), &EdtOptions { spacing: Some(vec![1.0, 2.0, 3.0]), squared: false }).unwrap_err();
    assert!(e.to_string().contains("[4, 5]"), "{e}");
    config_err(e, "spacing", "[1, 2, 3]");
    let e = edt(mask(&[2, 4, 5]).view(), &EdtOptions { spacing: Some(vec![1.0]), squared: false }).unwrap_err();
    config_err(e, "spacing", "[1]");
}

fn assert_rank_err(e: LossError, rank: usize) {
    match &e {
        LossError::InvalidShape { reason, .. } => assert!(reason.contains(&format!("rank {rank}")), "{e}"),
        other => panic!("expected InvalidShape, got {other:?}"),
    }
}

#[test]
fn rank_other_than_2_or_3() {
    for shape in [vec![7], vec![2, 3, 4, 5]] {
        let m = mask(&shape);
        let r = shape.len();
        assert_rank_err(edt(m.view(), &EdtOptions::default()).unwrap_err(), r);
        assert_rank_err(label(m.view(), None).unwrap_err(), r);
        assert_rank_err(unet_weights_from_mask(m.view(), &UnetWeightConfig::default()).unwrap_err(), r);
        assert_rank_err(unet_weights_from_instances(m.mapv(|v| v as i32).view(), &UnetWeightConfig::default()).unwrap_err(), r);
    }
    let scalar = ArrayD::<u8>::zeros(IxDyn(&[]));
    assert_rank_err(edt(scalar.view(), &EdtOptions::default()).unwrap_err(), 0);
}

#[test]
fn empty_arrays() {
    for shape in [vec![0, 5], vec![3, 0], vec![2, 0, 4]] {
        let m = ArrayD::<u8>::zeros(IxDyn(&shape));
        let is_empty = |e: LossError| matches!(e, LossError::Empty { ref shape, .. } if shape.contains(&0));
        assert!(is_empty(edt(m.view(), &EdtOptions::default()).unwrap_err()));
        assert!(is_empty(label(m.view(), None).unwrap_err()));
        assert!(is_empty(unet_weights_from_mask(m.view(), &UnetWeightConfig::default()).unwrap_err()));
        assert!(is_empty(unet_weights_from_instances(m.mapv(|v| v as i64).view(), &UnetWeightConfig::default()).unwrap_err()));
    }
}

#[test]
fn sigma_not_positive() {
    for bad in [0.0f32, -2.0, f32::NAN, f32::INFINITY] {
        let c = UnetWeightConfig { sigma: bad, ..UnetWeightConfig::default() };
        config_err(unet_weights_from_mask(mask(&[5, 5]).view(), &c).unwrap_err(), "sigma", &bad.to_string());
        config_err(unet_weights_from_instances(mask(&[5, 5]).view(), &c).unwrap_err(), "sigma", &bad.to_string());
    }
}

#[test]
fn w0_negative() {
    for bad in [-0.5f32, f32::NAN, f32::INFINITY] {
        let c = UnetWeightConfig { w0: bad, ..UnetWeightConfig::default() };
        config_err(unet_weights_from_mask(mask(&[5, 5]).view(), &c).unwrap_err(), "w0", &bad.to_string());
    }
    // w0 = 0 is valid: the class weights alone.
    let c = UnetWeightConfig { w0: 0.0, class_weights: ClassWeights::Fixed(1.0, 3.0), ..UnetWeightConfig::default() };
    let m = mask(&[5, 5]);
    let w = unet_weights_from_mask(m.view(), &c).unwrap();
    assert!(w.iter().zip(m.iter()).all(|(&w, &m)| w == if m != 0 { 3.0 } else { 1.0 }));
}

#[test]
fn class_weights_invalid() {
    for (a, b) in [(-1.0f32, 1.0f32), (1.0, f32::NAN), (f32::INFINITY, 1.0)] {
        let c = UnetWeightConfig { class_weights: ClassWeights::Fixed(a, b), ..UnetWeightConfig::default() };
        config_err(unet_weights_from_mask(mask(&[5, 5]).view(), &c).unwrap_err(), "class_weights", &format!("[{a}, {b}]"));
    }
}

#[test]
fn bad_connectivity() {
    for (shape, bad) in [(vec![5, 5], 6u32), (vec![5, 5], 0), (vec![5, 5], 26), (vec![3, 3, 3], 4), (vec![3, 3, 3], 8), (vec![3, 3, 3], 18)]
    {
        let m = mask(&shape);
        let e = label(m.view(), Some(bad)).unwrap_err();
        assert!(e.to_string().contains(&format!("{}D", shape.len())), "{e}");
        config_err(e, "connectivity", &bad.to_string());
        let c = UnetWeightConfig { connectivity: Some(bad), ..UnetWeightConfig::default() };
        config_err(unet_weights_from_mask(m.view(), &c).unwrap_err(), "connectivity", &bad.to_string());
        config_err(unet_weights_from_instances(m.view(), &c).unwrap_err(), "connectivity", &bad.to_string());
    }
}

#[test]
fn negative_instance_label() {
    let mut l = ArrayD::<i64>::zeros(IxDyn(&[3, 4]));
    l[[1, 2]] = 4;
    l[[2, 1]] = -3;
    match unet_weights_from_instances(l.view(), &UnetWeightConfig::default()).unwrap_err() {
        LossError::LabelOutOfRange { label, index, .. } => {
            assert_eq!(label, "-3");
            assert_eq!(index, vec![2, 1]);
        }
        other => panic!("expected LabelOutOfRange, got {other:?}"),
    }
    let e = unet_weights_from_instances(l.mapv(|v| v as i32).view(), &UnetWeightConfig::default()).unwrap_err();
    assert!(e.to_string().contains("-3") && e.to_string().contains("[2, 1]"), "{e}");
}

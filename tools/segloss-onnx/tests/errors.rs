//! Bad specs and options: an `ExportError` of the right kind naming key and value, one test per
//! case (`Spec` for what the spec says, `Option` for the export options and their conflicts with
//! the spec).

use segloss::core::params::Value;
use segloss::{LossError, LossSpec, Mode, Term};
use segloss_onnx::{export, function, ExportError, ExportOptions};

fn spec_of(name: &str, params: Vec<(&str, Value)>) -> LossSpec {
    LossSpec { terms: vec![Term { weight: 1.0, name: name.into(), params: params.into_iter().map(|(k, v)| (k.to_string(), v)).collect() }] }
}

fn expect(r: segloss_onnx::Result<impl std::fmt::Debug>, want_key: &str, want_value: &str) -> String {
    match r {
        Err(ExportError::Spec(LossError::InvalidConfig { key, value, reason })) => {
            assert_eq!(key, want_key, "key ({reason})");
            assert_eq!(value, want_value, "value ({reason})");
            assert!(!reason.is_empty());
            reason
        }
        other => panic!("expected a Spec error {want_key}={want_value}, got {other:?}"),
    }
}

fn expect_option(r: segloss_onnx::Result<impl std::fmt::Debug>, want_option: &str, want_value: &str) -> String {
    match r {
        Err(e @ ExportError::Option { .. }) => {
            let ExportError::Option { option, value, reason } = &e else { unreachable!() };
            assert_eq!(*option, want_option, "option ({reason})");
            assert_eq!(value, want_value, "value ({reason})");
            assert!(!reason.is_empty());
            assert_eq!(e.key(), Some(want_option));
            assert!(e.to_string().starts_with(&format!("invalid value for `{want_option}`: {want_value}: ")), "{e}");
            reason.clone()
        }
        other => panic!("expected an Option error {want_option}={want_value}, got {other:?}"),
    }
}

#[test]
fn unknown_loss() {
    let r = expect(export(&spec_of("nope", vec![]), &ExportOptions::default()), "name", "nope");
    assert_eq!(export(&spec_of("nope", vec![]), &ExportOptions::default()).unwrap_err().key(), Some("name"));
    assert!(r.contains("unknown loss"));
    expect(function(&spec_of("nope", vec![]), &ExportOptions::default()), "name", "nope");
}

#[test]
fn unknown_key() {
    expect(export(&spec_of("bce", vec![("gamma", Value::Num(2.0))]), &ExportOptions::default()), "gamma", "2");
}

#[test]
fn value_out_of_range() {
    expect(export(&spec_of("focal", vec![("gamma", Value::Num(-1.0))]), &ExportOptions::default()), "gamma", "-1");
}

#[test]
fn empty_spec() {
    expect(export(&LossSpec { terms: vec![] }, &ExportOptions::default()), "spec", "(empty)");
}

#[test]
fn rank_too_small() {
    let s = LossSpec::parse("bce").unwrap();
    expect_option(export(&s, &ExportOptions { rank: 1, channel: false, ..Default::default() }), "rank", "1");
    expect_option(export(&s, &ExportOptions { rank: 2, ..Default::default() }), "rank", "2");
    expect_option(export(&s, &ExportOptions { rank: 0, ..Default::default() }), "rank", "0");
}

#[test]
fn rank_too_large() {
    let s = LossSpec::parse("bce").unwrap();
    expect_option(export(&s, &ExportOptions { rank: 6, ..Default::default() }), "rank", "6");
    expect_option(export(&s, &ExportOptions { rank: 5, channel: false, ..Default::default() }), "rank", "5");
}

#[test]
fn opset_out_of_range() {
    let s = LossSpec::parse("bce").unwrap();
    expect_option(export(&s, &ExportOptions { opset: 12, ..Default::default() }), "opset", "12");
    expect_option(export(&s, &ExportOptions { opset: 22, ..Default::default() }), "opset", "22");
}

#[test]
fn distance_bce_needs_weight() {
    expect_option(export(&LossSpec::parse("distance_bce").unwrap(), &ExportOptions::default()), "with_weight", "false");
}

#[test]
fn ce_is_multiclass_only() {
    let s = LossSpec::parse("ce").unwrap();
    expect_option(export(&s, &ExportOptions { mode: Some(Mode::Binary), ..Default::default() }), "mode", "binary");
    expect(
        export(
            &LossSpec::parse("ce:mode=multilabel").unwrap_or(spec_of("ce", vec![("mode", Value::Word("multilabel".into()))])),
            &ExportOptions::default(),
        ),
        "mode",
        "multilabel",
    );
}

#[test]
fn bce_is_not_multiclass() {
    let s = LossSpec::parse("bce").unwrap();
    expect_option(export(&s, &ExportOptions { mode: Some(Mode::Multiclass), ..Default::default() }), "mode", "multiclass");
    expect_option(export(&s, &ExportOptions { classes: Some(3), ..Default::default() }), "mode", "multiclass");
}

#[test]
fn mode_conflict() {
    let s = LossSpec::parse("bce:mode=binary+focal:mode=multilabel").unwrap();
    expect(export(&s, &ExportOptions::default()), "mode", "multilabel");
    let s = LossSpec::parse("bce:mode=multilabel").unwrap();
    expect_option(export(&s, &ExportOptions { mode: Some(Mode::Binary), ..Default::default() }), "mode", "binary");
}

#[test]
fn no_channel_is_binary_only() {
    let s = LossSpec::parse("ce").unwrap();
    expect_option(export(&s, &ExportOptions { channel: false, rank: 3, ..Default::default() }), "channel", "false");
}

#[test]
fn class_weights_against_classes() {
    let s = LossSpec::parse("ce:class_weights=[1,2]").unwrap();
    expect_option(export(&s, &ExportOptions { classes: Some(3), ..Default::default() }), "classes", "3");
    let s = LossSpec::parse("ce:class_weights=[1,2]+focal:mode=multiclass,class_weights=[1,2,3]").unwrap();
    expect(export(&s, &ExportOptions::default()), "class_weights", "[1,2,3]");
}

#[test]
fn classes_against_mode() {
    let s = LossSpec::parse("ce").unwrap();
    expect_option(export(&s, &ExportOptions { classes: Some(1), ..Default::default() }), "classes", "1");
    let s = LossSpec::parse("bce").unwrap();
    expect_option(export(&s, &ExportOptions { classes: Some(2), mode: Some(Mode::Binary), ..Default::default() }), "classes", "2");
}

#[test]
fn focal_multiclass_takes_no_alpha() {
    let s = LossSpec::parse("focal:alpha=0.3").unwrap();
    expect(export(&s, &ExportOptions { mode: Some(Mode::Multiclass), ..Default::default() }), "alpha", "0.3");
    let s = LossSpec::parse("focal:from_logits=false").unwrap();
    expect(export(&s, &ExportOptions { mode: Some(Mode::Multiclass), ..Default::default() }), "from_logits", "false");
}

/// `focal` takes one class weight per channel in every mode: two for a binary export are an
/// error naming both counts, and so is a `classes` option that differs from their number.
#[test]
fn focal_class_weights_need_one_per_channel() {
    let s = LossSpec::parse("focal:class_weights=[1,2]").unwrap();
    let r = expect(export(&s, &ExportOptions { mode: Some(Mode::Binary), ..Default::default() }), "class_weights", "[1,2]");
    assert!(r.contains("2 values") && r.contains("1 channel"), "{r}");
    let o = ExportOptions { mode: Some(Mode::Multilabel), classes: Some(3), ..Default::default() };
    let r = expect_option(export(&s, &o), "classes", "3");
    assert!(r.contains("2 values"), "{r}");
    // binary and multilabel exports take every focal key
    let s = LossSpec::parse("focal:class_weights=[1,2],ignore_index=3,include_background=false").unwrap();
    assert!(export(&s, &ExportOptions { mode: Some(Mode::Multilabel), ..Default::default() }).is_ok());
}

#[test]
fn non_finite_term_weight() {
    let mut s = LossSpec::parse("bce").unwrap();
    s.terms[0].weight = f64::INFINITY;
    expect(export(&s, &ExportOptions::default()), "weight", "inf");
}

#[test]
fn pixel_weight_needs_weight() {
    let s = LossSpec::parse("bce").unwrap();
    expect_option(export(&s, &ExportOptions { pixel_weight: true, ..Default::default() }), "pixel_weight", "true");
}

#[test]
fn hausdorff_dt_has_no_onnx_form() {
    match export(&LossSpec::parse("hausdorff_dt").unwrap(), &ExportOptions::default()) {
        Err(e @ ExportError::Unsupported { .. }) => {
            assert!(e.to_string().starts_with("`hausdorff_dt` has no ONNX form: "), "{e}");
            assert_eq!(e.key(), None);
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn bytes_that_are_not_a_model() {
    let e = segloss_onnx::from_bytes(b"\xff\xff\xff").unwrap_err();
    assert!(matches!(e, ExportError::Protobuf(_)), "{e:?}");
    assert!(e.to_string().starts_with("not an ONNX model: "), "{e}");
}

#[test]
fn write_names_the_path() {
    let model = export(&LossSpec::parse("bce").unwrap(), &ExportOptions::default()).unwrap();
    let path = std::path::Path::new("/nonexistent-dir-segloss/x.onnx");
    match segloss_onnx::write(path, &model) {
        Err(e @ ExportError::Io { .. }) => assert!(e.to_string().starts_with("/nonexistent-dir-segloss/x.onnx: cannot write: "), "{e}"),
        other => panic!("expected Io, got {other:?}"),
    }
}

//! The function form and `attach`, run in tract against the native kernels.

mod common;

use common::{assert_close, inputs, native, Input, Setup, Typed};
use ndarray::{ArrayD, IxDyn};
use segloss::LossSpec;
use segloss_onnx::pb::attribute_proto::AttributeType;
use segloss_onnx::pb::tensor_proto::DataType;
use segloss_onnx::pb::tensor_shape_proto::{dimension, Dimension};
use segloss_onnx::pb::{
    type_proto, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};
use segloss_onnx::{ExportOptions, FUNCTION_DOMAIN};

/// The function form: a model calling the function, expanded by `inline_functions` (tract 0.23
/// does not run local functions), equals the native value; the function itself declares its
/// domain, opset and formal arguments.
#[test]
fn function_form_matches_native() {
    let cases: Vec<(&str, ExportOptions, Setup, usize)> = vec![
        ("bce:pos_weight=2", ExportOptions::default(), Setup::binary(), 1),
        (
            "ce:class_weights=[1,2,0.5],ignore_index=255",
            ExportOptions::default(),
            Setup { data: common::Data::Labels { ignore: Some(255) }, ..Setup::labels() },
            3,
        ),
        ("focal:reduction=none", ExportOptions::default(), Setup { weight: true, ..Setup::binary() }, 1),
        ("distance_bce:beta=0.6", ExportOptions::default(), Setup { weight: true, ..Setup::binary() }, 1),
        (
            "dice:include_background=false",
            ExportOptions { mode: Some(segloss::Mode::Multiclass), ..ExportOptions::default() },
            Setup::labels(),
            3,
        ),
        ("lovasz_softmax:per_image=true", ExportOptions::default(), Setup::labels(), 4),
        ("bce+lovasz_hinge+tversky:alpha=0.3,beta=0.7", ExportOptions::default(), Setup::binary(), 1),
    ];
    for (s, o, setup, c) in cases {
        let spec = LossSpec::parse(s).unwrap();
        let o = ExportOptions { with_weight: setup.weight, ..o };
        let f = segloss_onnx::function(&spec, &o).unwrap();
        assert_eq!(f.domain.as_deref(), Some(FUNCTION_DOMAIN));
        assert_eq!(f.name.as_deref(), Some(segloss_onnx::function_name(&spec).as_str()));
        assert_eq!(f.opset_import.len(), 1);
        assert_eq!(f.opset_import[0].version, segloss_onnx::DEFAULT_OPSET);
        assert_eq!(f.input[..2], ["pred".to_string(), "target".to_string()]);
        assert_eq!(f.input.len(), 2 + setup.weight as usize);
        assert_eq!(f.output[0], "loss");
        let m = segloss_onnx::export_calling_function(&spec, &o).unwrap();
        assert_eq!(m.functions.len(), 1);
        assert_eq!(m.graph.as_ref().unwrap().node.len(), 1);
        let calling = m.clone();
        let inlined = segloss_onnx::inline_functions(m).unwrap();
        assert!(inlined.functions.is_empty());
        let t = Typed::new(&inlined);
        for (i, shape) in [vec![2, c, 5, 7], vec![3, c, 3, 1]].iter().enumerate() {
            let inp = inputs(shape, &setup, 50 + i as u64);
            let want = native(&spec, &inp) as f64;
            let got = t.run(&inp)[0].iter().next().copied().unwrap() as f64;
            assert_close(got, want, &format!("function {s} on {shape:?}"));
            common::dump(&calling, &format!("function {s}"), &o, i, &inp, want);
        }
    }
}

/// Two calls of the same function in one graph expand to disjoint names.
#[test]
fn two_calls_inline_without_clashes() {
    let spec = LossSpec::parse("bce").unwrap();
    let o = ExportOptions::default();
    let mut m = segloss_onnx::export_calling_function(&spec, &o).unwrap();
    let g = m.graph.as_mut().unwrap();
    let mut second = g.node[0].clone();
    second.name = "call_again".into();
    second.output = vec!["loss2".into()];
    g.node.push(second);
    let mut out2 = g.output[0].clone();
    out2.name = "loss2".into();
    g.output.push(out2);
    let inlined = segloss_onnx::inline_functions(m).unwrap();
    let outs: Vec<&String> = inlined.graph.as_ref().unwrap().node.iter().flat_map(|n| &n.output).collect();
    let unique: std::collections::HashSet<_> = outs.iter().collect();
    assert_eq!(unique.len(), outs.len(), "every value is written once");
    let t = Typed::new(&inlined);
    let inp = inputs(&[2, 1, 3, 5], &Setup::binary(), 3);
    let r = t.run(&inp);
    assert_eq!(r[0], r[1]);
    assert_close(r[0].iter().next().copied().unwrap() as f64, native(&spec, &inp) as f64, "bce via two calls");
}

fn dims(d: &[&str]) -> Vec<Dimension> {
    d.iter()
        .map(|s| match s.parse::<i64>() {
            Ok(v) => Dimension { value: Some(dimension::Value::DimValue(v)), ..Default::default() },
            Err(_) => Dimension { value: Some(dimension::Value::DimParam(s.to_string())), ..Default::default() },
        })
        .collect()
}

fn vi(name: &str, d: &[&str]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto { dim: dims(d) }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A small real model: `logits = Conv1x1(image; W, b)`, image `[batch, 2, height, width]`,
/// `cout` output channels; the weights are initializers.
fn conv_model(cout: usize, opset: i64) -> (ModelProto, Vec<f32>, Vec<f32>) {
    let w: Vec<f32> = (0..cout * 2).map(|i| 0.7 * ((i as f32) * 1.3).sin() + 0.2).collect();
    let b: Vec<f32> = (0..cout).map(|i| 0.1 * i as f32 - 0.05).collect();
    let wt = TensorProto {
        name: "W".into(),
        dims: vec![cout as i64, 2, 1, 1],
        data_type: DataType::Float as i32,
        float_data: w.clone(),
        ..Default::default()
    };
    let bt = TensorProto {
        name: "B".into(),
        dims: vec![cout as i64],
        data_type: DataType::Float as i32,
        float_data: b.clone(),
        ..Default::default()
    };
    let conv = NodeProto {
        name: "conv".into(),
        op_type: "Conv".into(),
        input: vec!["image".into(), "W".into(), "B".into()],
        output: vec!["logits".into()],
        attribute: vec![AttributeProto {
            name: "kernel_shape".into(),
            r#type: AttributeType::Ints as i32,
            ints: vec![1, 1],
            ..Default::default()
        }],
        ..Default::default()
    };
    let c = cout.to_string();
    let m = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: opset }],
        graph: Some(GraphProto {
            name: "conv".into(),
            node: vec![conv],
            initializer: vec![wt, bt],
            input: vec![vi("image", &["batch", "2", "height", "width"])],
            output: vec![vi("logits", &["batch", &c, "height", "width"])],
            ..Default::default()
        }),
        ..Default::default()
    };
    (m, w, b)
}

/// The convolution, natively: `out[n, o, p] = sum_i W[o, i] x[n, i, p] + b[o]`.
fn conv_native(x: &ArrayD<f32>, w: &[f32], b: &[f32], cout: usize) -> ArrayD<f32> {
    let (n, h, wd) = (x.shape()[0], x.shape()[2], x.shape()[3]);
    let mut out = ArrayD::<f32>::zeros(IxDyn(&[n, cout, h, wd]));
    for i in 0..n {
        for o in 0..cout {
            for y in 0..h {
                for z in 0..wd {
                    out[[i, o, y, z]] = w[o * 2] * x[[i, 0, y, z]] + w[o * 2 + 1] * x[[i, 1, y, z]] + b[o];
                }
            }
        }
    }
    out
}

/// `attach`: the attached model's loss equals the native loss on the convolution's output; the
/// original output stays; names are prefixed.
#[test]
fn attach_to_a_convolution() {
    let cases: Vec<(&str, usize, Setup, bool)> = vec![
        ("bce:pos_weight=2", 1, Setup::binary(), true),
        ("focal:gamma=1.5", 1, Setup::binary(), false),
        ("ce:class_weights=[1,2,0.5]", 3, Setup::labels(), true),
        ("focal:mode=multiclass,reduction=none", 4, Setup::labels(), false),
        ("dice:include_background=false", 3, Setup::labels(), false),
        ("lovasz_softmax", 3, Setup::labels(), false),
        ("bce+lovasz_hinge", 1, Setup::binary(), false),
    ];
    for (s, cout, setup, weight) in cases {
        let spec = LossSpec::parse(s).unwrap();
        let (model, w, b) = conv_model(cout, 17);
        let o = ExportOptions { with_weight: weight, ..ExportOptions::default() };
        let attached = segloss_onnx::attach(model, "logits", &spec, &o).unwrap();
        let g = attached.graph.as_ref().unwrap();
        let ins: Vec<&str> = g.input.iter().map(|i| i.name.as_str()).collect();
        let outs: Vec<&str> = g.output.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(ins[..2], ["image", "target"]);
        assert_eq!(outs[..2], ["logits", "loss"]);
        for n in &g.node[1..] {
            assert!(n.name.starts_with("segloss_"), "{}", n.name);
            for v in &n.output {
                assert!(v.starts_with("segloss_") || v == "loss" || v == "loss_map", "{v}");
            }
        }
        for o in &g.output {
            assert!(o.r#type.is_some(), "output {} declares its type", o.name);
        }
        let t = Typed::new(&attached);
        for (i, (h, wd)) in [(5usize, 7usize), (3, 1)].into_iter().enumerate() {
            let mut r = common::Rng::new(90 + i as u64);
            let img: Vec<f32> = (0..2 * 2 * h * wd).map(|_| r.uniform(-2.0, 2.0)).collect();
            let img = ArrayD::from_shape_vec(IxDyn(&[2, 2, h, wd]), img).unwrap();
            let logits = conv_native(&img, &w, &b, cout);
            let mut s2 = setup.clone();
            s2.weight = weight;
            let mut data = inputs(&[2, cout, h, wd], &s2, 70 + i as u64);
            data[0] = Input::F32(logits.clone());
            let want = native(&spec, &data) as f64;
            let mut feed = vec![Input::F32(img)];
            feed.extend(data[1..].iter().cloned());
            let res = t.run(&feed);
            for (a, b) in res[0].iter().zip(logits.iter()) {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "logits pass through");
            }
            assert_close(res[1].iter().next().copied().unwrap() as f64, want, &format!("attach {s}"));
            common::dump(&attached, &format!("attach {s}"), &o, i, &feed, want);
        }
    }
}

/// A clashing prefix, a clashing input name, an opset below 13 and a wrong rank are errors.
#[test]
fn attach_errors() {
    let spec = LossSpec::parse("bce").unwrap();
    let o = ExportOptions::default();
    let (m, _, _) = conv_model(1, 17);
    let err = segloss_onnx::attach(m.clone(), "nope", &spec, &o).unwrap_err();
    assert!(matches!(&err, segloss_onnx::ExportError::Option { option: "to", value, .. } if value == "nope"), "{err}");
    assert!(err.to_string().contains("logits"), "the message lists the outputs: {err}");
    let mut clash = m.clone();
    clash.graph.as_mut().unwrap().input.push(vi("target", &["1"]));
    let err = segloss_onnx::attach(clash, "logits", &spec, &o).unwrap_err();
    assert!(matches!(&err, segloss_onnx::ExportError::Model(_)) && err.to_string().contains("`target`"), "{err}");
    let (old, _, _) = conv_model(1, 11);
    let err = segloss_onnx::attach(old, "logits", &spec, &o).unwrap_err();
    assert!(matches!(&err, segloss_onnx::ExportError::Model(_)) && err.to_string().contains("opset 11"), "{err}");
    let err = segloss_onnx::attach(m.clone(), "logits", &spec, &ExportOptions { rank: 5, ..o.clone() }).unwrap_err();
    assert!(matches!(&err, segloss_onnx::ExportError::Option { option: "rank", .. }), "{err}");
    let mut pre = m.clone();
    pre.graph.as_mut().unwrap().node[0].output = vec!["logits".into()];
    pre.graph.as_mut().unwrap().node[0].name = "segloss_n2_Constant".into(); // the first generated node (bce starts with its q constant)
    let err = segloss_onnx::attach(pre, "logits", &spec, &o).unwrap_err();
    assert!(matches!(&err, segloss_onnx::ExportError::Option { option: "prefix", .. }), "{err}");
    let (m3, _, _) = conv_model(3, 17);
    let err = segloss_onnx::attach(m3, "logits", &LossSpec::parse("ce:class_weights=[1,2]").unwrap(), &o).unwrap_err();
    assert!(matches!(&err, segloss_onnx::ExportError::Option { option: "classes", .. }), "{err}");
}

/// An output without a declared type: the rank comes from the options, the dims get prefixed
/// symbols, and the new outputs still declare theirs.
#[test]
fn attach_to_an_untyped_output() {
    let (mut m, _, _) = conv_model(3, 17);
    m.graph.as_mut().unwrap().output[0].r#type = None;
    let spec = LossSpec::parse("ce").unwrap();
    let a = segloss_onnx::attach(m, "logits", &spec, &ExportOptions::default()).unwrap();
    let g = a.graph.as_ref().unwrap();
    let target = g.input.iter().find(|i| i.name == "target").unwrap();
    let Some(type_proto::Value::TensorType(t)) = target.r#type.as_ref().and_then(|t| t.value.as_ref()) else { panic!("typed target") };
    assert_eq!(t.elem_type, DataType::Int64 as i32);
    let names: Vec<String> = t
        .shape
        .as_ref()
        .unwrap()
        .dim
        .iter()
        .map(|d| match &d.value {
            Some(dimension::Value::DimParam(p)) => p.clone(),
            other => panic!("symbolic dims expected, got {other:?}"),
        })
        .collect();
    assert_eq!(names, ["segloss_N", "segloss_H", "segloss_W"]);
    assert!(g.output.iter().any(|o| o.name == "loss" && o.r#type.is_some()));
}

/// The bytes round-trip through prost and a file.
#[test]
fn encode_decode_and_write() {
    let spec = LossSpec::parse("focal:gamma=1").unwrap();
    let m = segloss_onnx::export(&spec, &ExportOptions::default()).unwrap();
    let bytes = segloss_onnx::to_bytes(&m);
    assert_eq!(segloss_onnx::from_bytes(&bytes).unwrap(), m);
    let dir = std::env::temp_dir().join(format!("segloss-onnx-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("focal.onnx");
    segloss_onnx::write(&p, &m).unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), bytes);
    std::fs::remove_dir_all(&dir).unwrap();
    let err = segloss_onnx::write(dir.join("missing/x.onnx"), &m).unwrap_err();
    assert!(matches!(&err, segloss_onnx::ExportError::Io { .. }), "{err}");
    assert!(matches!(segloss_onnx::from_bytes(&[0xff, 0xff, 0xff]), Err(segloss_onnx::ExportError::Protobuf(_))));
}

//! End-to-end tests of `segloss export`: the built binary writes `.onnx` files into a temp dir;
//! they are decoded back with `segloss_onnx::from_bytes`, run in tract (this file's own runner,
//! independent of the CLI's) and compared with the native kernels; `--attach` on a 1x1
//! convolution model written by the test; every kind of bad input gives one `error:` line and
//! exit code 2.

mod common;

use common::*;
use ndarray::{ArrayD, IxDyn};
use segloss::{Batch, Loss, LossSpec};
use segloss_onnx::pb::attribute_proto::AttributeType;
use segloss_onnx::pb::tensor_proto::DataType;
use segloss_onnx::pb::tensor_shape_proto::{dimension, Dimension};
use segloss_onnx::pb::{
    type_proto, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};
use std::collections::HashMap;
use std::path::Path;
use tract_onnx::prelude::*;

/// Relative tolerance of graph (float32) against native (f64 accumulation) values.
const REL_TOL: f64 = 1e-5;
/// Absolute floor, for values near 0.
const ABS_FLOOR: f64 = 1e-7;

fn assert_close(got: f64, want: f64, what: &str) {
    let tol = REL_TOL * want.abs() + ABS_FLOOR;
    assert!(got.is_finite() && (got - want).abs() <= tol, "{what}: onnx {got} vs native {want} (diff {:e})", (got - want).abs());
}

/// A model input.
#[derive(Clone)]
enum Input {
    F32(ArrayD<f32>),
    I64(ArrayD<i64>),
}

impl Input {
    fn shape(&self) -> &[usize] {
        match self {
            Input::F32(a) => a.shape(),
            Input::I64(a) => a.shape(),
        }
    }
    fn tvalue(&self) -> TValue {
        match self {
            Input::F32(a) => Tensor::from(a.clone()).into_tvalue(),
            Input::I64(a) => Tensor::from(a.clone()).into_tvalue(),
        }
    }
}

/// Runs `model` in tract: parse and type once, bind each declared symbol (`N`, `C`, `H`, ...) to
/// the size of the data, optimize, run. Returns the outputs as f32.
fn tract_run(model: &ModelProto, inputs: &[Input]) -> Vec<ArrayD<f32>> {
    let g = model.graph.as_ref().unwrap();
    assert_eq!(g.input.len(), inputs.len(), "input count");
    let bytes = segloss_onnx::to_bytes(model);
    let typed = tract_onnx::onnx().model_for_read(&mut &bytes[..]).expect("tract reads the model").into_typed().expect("typed");
    let mut subs = HashMap::new();
    for (vi, x) in g.input.iter().zip(inputs) {
        let Some(type_proto::Value::TensorType(t)) = vi.r#type.as_ref().and_then(|t| t.value.as_ref()) else { panic!("typed input") };
        let dims = &t.shape.as_ref().expect("declared shape").dim;
        assert_eq!(dims.len(), x.shape().len(), "input `{}` rank", vi.name);
        for (d, &n) in dims.iter().zip(x.shape()) {
            match &d.value {
                Some(dimension::Value::DimParam(p)) => {
                    let prev = subs.insert(typed.symbols.sym(p), TDim::Val(n as i64));
                    assert!(prev.is_none() || prev == Some(TDim::Val(n as i64)), "symbol {p} bound twice");
                }
                Some(dimension::Value::DimValue(v)) => assert_eq!(*v, n as i64, "input `{}` declared size", vi.name),
                None => {}
            }
        }
    }
    let plan = typed.set_symbols(&subs).unwrap().into_optimized().unwrap().into_runnable().unwrap();
    let outs = plan.run(inputs.iter().map(Input::tvalue).collect()).expect("tract runs the model");
    outs.into_iter().map(|t| t.into_tensor().into_plain_array::<f32>().unwrap().into_dyn()).collect()
}

/// The native value of `spec` on the inputs (pred, target, optional weight).
fn native(spec: &str, inputs: &[Input]) -> f64 {
    let Input::F32(pred) = &inputs[0] else { panic!("pred") };
    let b = match &inputs[1] {
        Input::F32(t) => Batch::new(pred, t),
        Input::I64(t) => Batch::new(pred, t),
    };
    let b = match inputs.get(2) {
        Some(Input::F32(w)) => b.with_weight(w),
        _ => b,
    };
    LossSpec::parse(spec).unwrap().build().unwrap().forward(&b).unwrap() as f64
}

/// pred [2, C, *S], a binary float target or int64 labels, optionally a positive weight of
/// `weight_shape`.
fn data(pred_shape: &[usize], labels_of: Option<usize>, weight_shape: Option<&[usize]>, seed: u64) -> Vec<Input> {
    let pred = randn(pred_shape, seed);
    let mut v = vec![Input::F32(pred)];
    match labels_of {
        Some(c) => {
            let mut ts = pred_shape.to_vec();
            ts.remove(1);
            let l: Vec<i64> = labels(&ts, c, seed + 1).into_iter().map(|x| x as i64).collect();
            v.push(Input::I64(ArrayD::from_shape_vec(IxDyn(&ts), l).unwrap()));
        }
        None => v.push(Input::F32(randn(pred_shape, seed + 1).mapv(|x| (x > 0.0) as u8 as f32))),
    }
    if let Some(ws) = weight_shape {
        v.push(Input::F32(randn(ws, seed + 2).mapv(|x| x.abs() + 0.1)));
    }
    v
}

fn read_model(path: &Path) -> ModelProto {
    segloss_onnx::from_bytes(&std::fs::read(path).unwrap()).expect("the written file decodes as an ONNX model")
}

fn input_names(m: &ModelProto) -> Vec<String> {
    m.graph.as_ref().unwrap().input.iter().map(|i| i.name.clone()).collect()
}

fn output_names(m: &ModelProto) -> Vec<String> {
    m.graph.as_ref().unwrap().output.iter().map(|i| i.name.clone()).collect()
}

// ---------------------------------------------------------------- standalone export

#[test]
fn export_specs_run_in_tract_and_match_the_library() {
    let d = tmpdir("export-specs");
    // (spec, extra flags, pred shapes, classes of the labels (None: binary float target),
    // weight: None, Some(false) target's shape, Some(true) per pixel [N, *S])
    type Case<'a> = (&'a str, &'a [&'a str], Vec<Vec<usize>>, Option<usize>, Option<bool>);
    let cases: Vec<Case> = vec![
        ("bce", &[], vec![vec![2, 1, 5, 7], vec![3, 1, 4, 1]], None, None),
        ("focal:gamma=2", &[], vec![vec![2, 1, 5, 7], vec![1, 1, 6, 3]], None, None),
        ("ce", &[], vec![vec![2, 3, 5, 7], vec![3, 3, 2, 9]], Some(3), None),
        ("dice", &[], vec![vec![2, 1, 5, 7]], None, None),
        ("dice", &["--classes", "4"], vec![vec![2, 4, 5, 7]], Some(4), None),
        ("lovasz_softmax", &[], vec![vec![2, 3, 5, 7], vec![2, 3, 4, 4]], Some(3), None),
        ("0.5*ce+dice", &["--mode", "multiclass"], vec![vec![2, 3, 5, 7]], Some(3), None),
        ("bce", &["--with-weight"], vec![vec![2, 1, 5, 7]], None, Some(false)),
        ("distance_bce", &["--with-weight", "--pixel-weight"], vec![vec![2, 1, 5, 7]], None, Some(true)),
        ("focal:gamma=2", &["--rank", "5"], vec![vec![2, 1, 3, 4, 5]], None, None),
        ("ce", &["--rank", "3", "--opset", "13"], vec![vec![2, 3, 11]], Some(3), None),
        ("lovasz_hinge", &["--rank", "3", "--no-channel"], vec![vec![2, 5, 7]], None, None),
    ];
    for (i, (spec, flags, shapes, classes, weight)) in cases.into_iter().enumerate() {
        let f = d.join(format!("m{i}.onnx"));
        let mut argv = vec!["export", spec, "-o"];
        let fs = s(&f);
        argv.push(&fs);
        argv.extend_from_slice(flags);
        let out = ok(&argv);
        assert!(out.starts_with(&format!("wrote {fs}")) && out.contains("inputs pred float") && out.contains("loss float []"), "{out}");
        assert_eq!(out.lines().count(), 1, "{out}");
        let m = read_model(&f);
        let mut want_inputs = vec!["pred".to_string(), "target".into()];
        if weight.is_some() {
            want_inputs.push("weight".into());
        }
        assert_eq!(input_names(&m), want_inputs, "{spec}");
        assert_eq!(output_names(&m)[0], "loss");
        let opset = if flags.contains(&"13") { 13 } else { 17 };
        assert_eq!(m.opset_import[0].version, opset, "{spec}");
        for (k, shape) in shapes.iter().enumerate() {
            let ws: Option<Vec<usize>> = weight.map(|pixel| {
                let mut w = shape.clone();
                if pixel || classes.is_some() {
                    w.remove(1);
                }
                w
            });
            let inp = data(shape, classes, ws.as_deref(), 100 + 10 * i as u64 + k as u64);
            // pred [N, *S] without a channel: the native kernels read it with mode=binary.
            let native_spec = if flags.contains(&"--no-channel") { format!("{spec}:mode=binary") } else { spec.to_string() };
            let want = native(&native_spec, &inp);
            let got = tract_run(&m, &inp)[0].iter().next().copied().unwrap() as f64;
            assert_close(got, want, &format!("{spec} {flags:?} on {shape:?}"));
        }
    }
}

#[test]
fn export_reduction_none_adds_the_loss_map() {
    let d = tmpdir("export-map");
    let f = d.join("map.onnx");
    ok(&["export", "bce:reduction=none", "-o", &s(&f)]);
    let m = read_model(&f);
    assert_eq!(output_names(&m), ["loss", "loss_map"]);
    let inp = data(&[2, 1, 4, 6], None, None, 7);
    let outs = tract_run(&m, &inp);
    let want = native("bce:reduction=none", &inp);
    assert_close(outs[0].iter().next().copied().unwrap() as f64, want, "loss");
    assert_eq!(outs[1].shape(), [2, 1, 4, 6]);
    assert_close(outs[1].iter().map(|&x| x as f64).sum(), want, "loss_map sum");
}

// ---------------------------------------------------------------- attach

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

/// `logits = Conv1x1(image; W, B)`: image `[batch, 2, height, width]`, `cout` output channels,
/// the weights as initializers (as tools/segloss-onnx/tests/forms.rs builds it).
fn conv_model(cout: usize) -> (ModelProto, Vec<f32>, Vec<f32>) {
    let w: Vec<f32> = (0..cout * 2).map(|i| 0.7 * ((i as f32) * 1.3).sin() + 0.2).collect();
    let b: Vec<f32> = (0..cout).map(|i| 0.1 * i as f32 - 0.05).collect();
    let tensor = |name: &str, dims: Vec<i64>, data: &[f32]| TensorProto {
        name: name.into(),
        dims,
        data_type: DataType::Float as i32,
        float_data: data.to_vec(),
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
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
        graph: Some(GraphProto {
            name: "conv".into(),
            node: vec![conv],
            initializer: vec![tensor("W", vec![cout as i64, 2, 1, 1], &w), tensor("B", vec![cout as i64], &b)],
            input: vec![vi("image", &["batch", "2", "height", "width"])],
            output: vec![vi("logits", &["batch", &c, "height", "width"])],
            ..Default::default()
        }),
        ..Default::default()
    };
    (m, w, b)
}

/// The convolution, natively: `out[n, o, y, x] = sum_i W[o, i] image[n, i, y, x] + B[o]`.
fn conv_native(x: &ArrayD<f32>, w: &[f32], b: &[f32], cout: usize) -> ArrayD<f32> {
    let (n, h, wd) = (x.shape()[0], x.shape()[2], x.shape()[3]);
    ArrayD::from_shape_fn(IxDyn(&[n, cout, h, wd]), |i| {
        let (k, o, y, z) = (i[0], i[1], i[2], i[3]);
        w[o * 2] * x[[k, 0, y, z]] + w[o * 2 + 1] * x[[k, 1, y, z]] + b[o]
    })
}

#[test]
fn attach_to_a_convolution_model() {
    let d = tmpdir("export-attach");
    for (spec, cout, weight, extra) in [
        ("bce", 1usize, false, &[][..]),
        ("focal:gamma=2", 1, true, &["--with-weight"][..]),
        ("ce", 3, false, &[][..]),
        ("0.5*ce+dice", 3, false, &[][..]),
        ("lovasz_softmax", 3, false, &["--prefix", "lz_"][..]),
    ] {
        let (model, w, b) = conv_model(cout);
        let mp = d.join(format!("conv{cout}.onnx"));
        std::fs::write(&mp, segloss_onnx::to_bytes(&model)).unwrap();
        let f = d.join("attached.onnx");
        let mut argv: Vec<String> = ["export", spec, "--attach", &s(&mp), "--to", "logits", "-o", &s(&f)].map(String::from).to_vec();
        argv.extend(extra.iter().map(|x| x.to_string()));
        let out = ok(&argv);
        assert!(out.contains("inputs image float [batch, 2, height, width], target"), "{out}");
        let m = read_model(&f);
        let mut want_in = vec!["image".to_string(), "target".into()];
        if weight {
            want_in.push("weight".into());
        }
        assert_eq!(input_names(&m), want_in, "{spec}");
        assert_eq!(output_names(&m), ["logits", "loss"], "{spec}");
        let prefix = if extra.contains(&"lz_") { "lz_" } else { "segloss_" };
        for n in &m.graph.as_ref().unwrap().node[1..] {
            assert!(n.name.starts_with(prefix), "{spec}: node {}", n.name);
        }
        for (i, (h, wd)) in [(5usize, 7usize), (3, 4)].into_iter().enumerate() {
            let img = randn(&[2, 2, h, wd], 300 + i as u64);
            let logits = conv_native(&img, &w, &b, cout);
            let mut inp = data(&[2, cout, h, wd], (cout > 1).then_some(cout), weight.then_some(&[2, 1, h, wd][..]), 400 + i as u64);
            inp[0] = Input::F32(logits.clone());
            let want = native(spec, &inp);
            let mut feed = vec![Input::F32(img)];
            feed.extend(inp[1..].iter().cloned());
            let outs = tract_run(&m, &feed);
            for (a, b) in outs[0].iter().zip(logits.iter()) {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{spec}: logits pass through: {a} vs {b}");
            }
            assert_close(outs[1].iter().next().copied().unwrap() as f64, want, &format!("attach {spec} on {h}x{wd}"));
        }
    }
}

// ---------------------------------------------------------------- bad input, one test each

/// A temp dir with the 1-channel conv model written as `conv.onnx`.
fn with_model(name: &str) -> (std::path::PathBuf, String) {
    let d = tmpdir(name);
    let mp = d.join("conv.onnx");
    std::fs::write(&mp, segloss_onnx::to_bytes(&conv_model(1).0)).unwrap();
    let m = s(&mp);
    (d, m)
}

#[test]
fn error_export_bad_spec() {
    let d = tmpdir("export-err-spec");
    let o = s(&d.join("x.onnx"));
    fails(&["export", "focal:gamma=", "-o", &o], &["bad loss spec", "focal:gamma="]);
    fails(&["export", "nosuchloss", "-o", &o], &["nosuchloss", "unknown loss"]);
    fails(&["export", "focal:gamma=-1", "-o", &o], &["gamma", "-1"]);
    fails(&["export", "bce+ce", "-o", &o], &["`bce+ce`", "mode"]);
    fails(&["export", "-o", &o], &["needs SPEC", "segloss export"]);
    assert!(!d.join("x.onnx").exists(), "nothing is written on error");
}

#[test]
fn error_export_rank_too_small() {
    let d = tmpdir("export-err-rank");
    let o = s(&d.join("x.onnx"));
    fails(&["export", "bce", "--rank", "1", "-o", &o], &["--rank", "`rank`", "1", "3..=5"]);
    fails(&["export", "bce", "--rank", "2", "-o", &o], &["--rank", "2"]);
    fails(&["export", "bce", "--rank", "0", "-o", &o], &["--rank", "`0`"]);
    fails(&["export", "bce", "--rank", "6", "-o", &o], &["--rank", "6"]);
    fails(&["export", "bce", "--rank", "-2", "-o", &o], &["--rank", "`-2`"]);
    assert!(!d.join("x.onnx").exists());
}

#[test]
fn error_export_unknown_option_value() {
    let d = tmpdir("export-err-values");
    let o = s(&d.join("x.onnx"));
    fails(&["export", "dice", "--mode", "fuzzy", "-o", &o], &["--mode", "`fuzzy`", "binary, multiclass or multilabel"]);
    fails(&["export", "bce", "--opset", "12", "-o", &o], &["--opset", "12", "13 to 21"]);
    fails(&["export", "bce", "--opset", "x", "-o", &o], &["--opset", "`x`"]);
    fails(&["export", "dice", "--classes", "zero", "-o", &o], &["--classes", "`zero`"]);
    fails(&["export", "ce", "--classes", "1", "-o", &o], &["--classes", "1"]);
    fails(&["export", "ce", "--mode", "binary", "-o", &o], &["--mode", "binary", "`ce`"]);
    fails(&["export", "dice", "--with-weight", "-o", &o], &["--with-weight", "`dice`"]);
    fails(&["export", "distance_bce", "-o", &o], &["--with-weight", "`distance_bce` needs the `weight` input"]);
    fails(&["export", "bce", "--pixel-weight", "-o", &o], &["--pixel-weight", "--with-weight"]);
    fails(&["export", "ce", "--no-channel", "-o", &o], &["--no-channel", "binary only"]);
    fails(&["export", "bce", "--prefix", "a b", "-o", &o], &["--prefix", "`a b`"]);
    fails(&["export", "bce", "--frobnicate", "-o", &o], &["--frobnicate", "unknown flag"]);
    assert!(!d.join("x.onnx").exists());
}

#[test]
fn error_export_output_missing_or_unwritable() {
    let d = tmpdir("export-err-output");
    fails(&["export", "bce"], &["needs --output"]);
    fails(&["export", "bce", "-o"], &["--output", "needs a value"]);
    fails(&["export", "bce", "-o", &s(&d.join("x.npy"))], &["x.npy", ".onnx"]);
    fails(&["export", "bce", "-o", &s(&d.join("no/such/dir/x.onnx"))], &["x.onnx", "cannot write"]);
}

#[test]
fn error_attach_model_missing() {
    let d = tmpdir("export-err-missing");
    fails(
        &["export", "bce", "--attach", &s(&d.join("nope.onnx")), "--to", "logits", "-o", &s(&d.join("x.onnx"))],
        &["nope.onnx", "no such file"],
    );
}

#[test]
fn error_attach_model_corrupt() {
    let (d, m) = with_model("export-err-corrupt");
    let o = s(&d.join("x.onnx"));
    let good = std::fs::read(&m).unwrap();
    // Cut inside the graph message: its length prefix runs past the end of the file.
    std::fs::write(d.join("cut.onnx"), &good[..good.len() / 2]).unwrap();
    fails(&["export", "bce", "--attach", &s(&d.join("cut.onnx")), "--to", "logits", "-o", &o], &["cut.onnx", "not an ONNX model"]);
    std::fs::write(d.join("text.onnx"), b"this is not a model at all").unwrap();
    fails(&["export", "bce", "--attach", &s(&d.join("text.onnx")), "--to", "logits", "-o", &o], &["text.onnx", "not an ONNX model"]);
    std::fs::write(d.join("empty.onnx"), b"").unwrap();
    fails(&["export", "bce", "--attach", &s(&d.join("empty.onnx")), "--to", "logits", "-o", &o], &["empty.onnx", "empty"]);
    // A valid protobuf that is no model: no graph.
    let nograph = ModelProto { ir_version: 8, ..Default::default() };
    std::fs::write(d.join("nograph.onnx"), segloss_onnx::to_bytes(&nograph)).unwrap();
    fails(&["export", "bce", "--attach", &s(&d.join("nograph.onnx")), "--to", "logits", "-o", &o], &["nograph.onnx", "no graph"]);
    assert!(!d.join("x.onnx").exists());
}

#[test]
fn error_attach_to_names_no_output() {
    let (d, m) = with_model("export-err-to");
    let o = s(&d.join("x.onnx"));
    fails(
        &["export", "bce", "--attach", &m, "--to", "probs", "-o", &o],
        &["--to", "probs", "no output of that name", "its outputs: logits"],
    );
    fails(&["export", "bce", "--attach", &m, "-o", &o], &["--attach needs --to"]);
    fails(&["export", "bce", "--to", "logits", "-o", &o], &["--to needs --attach"]);
    assert!(!d.join("x.onnx").exists());
}

#[test]
fn error_attach_does_not_fit_the_model() {
    let (d, m) = with_model("export-err-fit");
    let o = s(&d.join("x.onnx"));
    // The output is [batch, 1, height, width]: rank 4, one channel.
    fails(&["export", "bce", "--attach", &m, "--to", "logits", "--rank", "5", "-o", &o], &["--rank", "rank 4"]);
    // The model's output declares one channel: no multiclass loss fits; the message names the model.
    fails(&["export", "ce", "--attach", &m, "--to", "logits", "-o", &o], &["conv.onnx", "`ce`", "output `logits`", "classes", "C >= 2"]);
    fails(&["export", "bce", "--attach", &m, "--to", "logits", "--opset", "18", "-o", &o], &["--opset 18", "model's opset"]);
    // A model that already has an input named `target`.
    let mut clash = conv_model(1).0;
    clash.graph.as_mut().unwrap().input.push(vi("target", &["1"]));
    std::fs::write(d.join("clash.onnx"), segloss_onnx::to_bytes(&clash)).unwrap();
    fails(&["export", "bce", "--attach", &s(&d.join("clash.onnx")), "--to", "logits", "-o", &o], &["clash.onnx", "target", "already uses"]);
    assert!(!d.join("x.onnx").exists());
}

/// An output that declares no shape is not printed as a scalar (`float []`), and the rank the
/// loss assumes for it is said, with the flag that changes it.
#[test]
fn attach_to_an_output_without_a_declared_shape() {
    let d = tmpdir("export-undeclared");
    let (o, mp) = (s(&d.join("x.onnx")), d.join("m.onnx"));
    let (mut m, _, _) = conv_model(1);
    let out = &mut m.graph.as_mut().unwrap().output[0];
    if let Some(type_proto::Value::TensorType(t)) = out.r#type.as_mut().and_then(|t| t.value.as_mut()) {
        t.shape = None;
    }
    std::fs::write(&mp, segloss_onnx::to_bytes(&m)).unwrap();
    let line = ok(&["export", "bce", "--attach", &s(&mp), "--to", "logits", "-o", &o]);
    assert!(line.contains("logits float (shape not declared, rank 4 assumed (--rank to change))"), "{line}");
    assert!(!line.contains("logits float []"), "{line}");
    let line = ok(&["export", "bce", "--attach", &s(&mp), "--to", "logits", "--rank", "4", "-o", &o]);
    assert!(line.contains("logits float (shape not declared)") && !line.contains("assumed"), "{line}");
    // No type at all.
    m.graph.as_mut().unwrap().output[0].r#type = None;
    std::fs::write(&mp, segloss_onnx::to_bytes(&m)).unwrap();
    let line = ok(&["export", "bce", "--attach", &s(&mp), "--to", "logits", "-o", &o]);
    assert!(line.contains("shape not declared, rank 4 assumed (--rank to change)"), "{line}");
}

#[test]
fn export_help() {
    let out = ok(&["export", "--help"]);
    // clap's usage line: the flags, then the required output and the positional SPEC
    assert!(out.starts_with("usage: segloss export [OPTIONS] --output <FILE> <SPEC>"), "{out}");
    for flag in ["--rank", "--with-weight", "--pixel-weight", "--opset", "--mode", "--classes", "--attach", "--to", "--output"] {
        assert!(out.contains(flag), "{flag} is documented");
    }
}

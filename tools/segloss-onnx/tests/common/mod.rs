//! Shared test helpers: deterministic inputs, the native value, and running a model in tract.
//!
//! Running in tract: the model is parsed once and typed (`into_typed`) with its symbolic dims;
//! for each concrete shape the symbols `N`, `C`, `L`/`H`/`W`/`D` are set (`set_symbols`, tract
//! 0.23's concretize) before `into_optimized` and `into_runnable`. This is what lets tract run a
//! `TopK` whose K comes from `Shape` (the Lovász graphs).
#![allow(dead_code)]

use ndarray::{ArrayD, IxDyn};
pub use segloss::core::rng::Rng;
use segloss::{Batch, Loss, LossSpec, Term};
use segloss_onnx::pb::tensor_shape_proto::dimension;
use segloss_onnx::pb::{type_proto, ModelProto};
use segloss_onnx::ExportOptions;
use std::collections::HashMap;
use tract_onnx::prelude::*;

/// Relative tolerance on values (graph in f32 against the native kernel).
pub const REL_TOL: f64 = 1e-5;
/// Absolute floor, for values that are exactly 0.
pub const ABS_FLOOR: f64 = 1e-7;

/// A model input.
#[derive(Debug, Clone)]
pub enum Input {
    F32(ArrayD<f32>),
    I64(ArrayD<i64>),
}

impl Input {
    fn tvalue(&self) -> TValue {
        match self {
            Input::F32(a) => Tensor::from(a.clone()).into_tvalue(),
            Input::I64(a) => Tensor::from(a.clone()).into_tvalue(),
        }
    }
    pub fn shape(&self) -> &[usize] {
        match self {
            Input::F32(a) => a.shape(),
            Input::I64(a) => a.shape(),
        }
    }
}

/// The symbol values of a model's inputs, read from the declared dims and the actual shapes.
fn symbols(model: &ModelProto, inputs: &[Input]) -> Vec<(String, i64)> {
    let g = model.graph.as_ref().expect("graph");
    let mut out: Vec<(String, i64)> = Vec::new();
    for (vi, inp) in g.input.iter().zip(inputs) {
        let Some(type_proto::Value::TensorType(t)) = vi.r#type.as_ref().and_then(|t| t.value.as_ref()) else { continue };
        let Some(s) = &t.shape else { continue };
        assert_eq!(s.dim.len(), inp.shape().len(), "input `{}`: declared rank vs test data", vi.name);
        for (d, &n) in s.dim.iter().zip(inp.shape()) {
            match &d.value {
                Some(dimension::Value::DimParam(p)) => {
                    if let Some((_, v)) = out.iter().find(|(q, _)| q == p) {
                        assert_eq!(*v, n as i64, "symbol {p} bound to two sizes");
                    } else {
                        out.push((p.clone(), n as i64));
                    }
                }
                Some(dimension::Value::DimValue(v)) => assert_eq!(*v, n as i64, "input `{}`: declared dim", vi.name),
                None => {}
            }
        }
    }
    out
}

/// A model parsed and typed once, run on several shapes.
pub struct Typed {
    pub model: TypedModel,
    pub proto: ModelProto,
}

impl Typed {
    pub fn new(proto: &ModelProto) -> Typed {
        let g = proto.graph.as_ref().expect("graph");
        for v in g.input.iter().chain(&g.output) {
            let Some(type_proto::Value::TensorType(t)) = v.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
                panic!("`{}` declares no tensor type", v.name)
            };
            assert!(t.elem_type != 0, "`{}` declares its element type", v.name);
            assert!(t.shape.is_some(), "`{}` declares its shape", v.name);
        }
        let bytes = segloss_onnx::to_bytes(proto);
        let model = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])
            .expect("tract parses the model")
            .into_typed()
            .expect("tract types the model with symbolic dims");
        Typed { model, proto: proto.clone() }
    }

    /// Runs on concrete inputs: binds the symbols, optimizes, runs; returns the outputs as f32.
    pub fn run(&self, inputs: &[Input]) -> Vec<ArrayD<f32>> {
        let mut subs = HashMap::new();
        for (name, v) in symbols(&self.proto, inputs) {
            subs.insert(self.model.symbols.sym(&name), TDim::Val(v));
        }
        let concrete = self.model.set_symbols(&subs).expect("concretize");
        let plan = concrete.into_optimized().expect("optimize").into_runnable().expect("runnable");
        let outs = plan.run(inputs.iter().map(Input::tvalue).collect()).expect("tract runs the model");
        outs.into_iter()
            .map(|t| {
                let t = t.into_tensor();
                t.into_plain_array::<f32>().expect("f32 output").into_dyn()
            })
            .collect()
    }
}

/// What to feed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Data {
    /// Float targets in {0, 1} (soft: in [0, 1]).
    Binary { soft: bool },
    /// Integer labels in [0, C), and `ignore` at about 1 pixel in 7 when given.
    Labels { ignore: Option<i64> },
}

/// Options of one comparison.
#[derive(Debug, Clone)]
pub struct Setup {
    pub data: Data,
    /// `pred` holds probabilities in (0, 1) rather than logits.
    pub probs: bool,
    /// A positive weight (or distance map) input.
    pub weight: bool,
    /// For binary/multilabel float targets: the value to sprinkle as `ignore_index`.
    pub float_ignore: Option<f32>,
    /// Whether the whole first image has an empty target (no foreground).
    pub empty_first: bool,
    /// The weight is `[N, *S]` (one per pixel, broadcast over the channels).
    pub pixel_weight: bool,
}

impl Setup {
    pub fn binary() -> Self {
        Setup {
            data: Data::Binary { soft: false },
            probs: false,
            weight: false,
            float_ignore: None,
            empty_first: true,
            pixel_weight: false,
        }
    }
    pub fn labels() -> Self {
        Setup {
            data: Data::Labels { ignore: None },
            probs: false,
            weight: false,
            float_ignore: None,
            empty_first: true,
            pixel_weight: false,
        }
    }
}

/// Deterministic inputs for `pred` of shape `shape`.
pub fn inputs(shape: &[usize], s: &Setup, seed: u64) -> Vec<Input> {
    let mut r = Rng::new(seed);
    let n: usize = shape.iter().product();
    let pred: Vec<f32> = (0..n).map(|_| if s.probs { r.uniform(0.02, 0.98) } else { r.uniform(-3.0, 3.0) }).collect();
    let pred = ArrayD::from_shape_vec(IxDyn(shape), pred).unwrap();
    let per_image = n / shape[0];
    let (target, tshape) = match s.data {
        Data::Binary { soft } => {
            let t: Vec<f32> = (0..n)
                .map(|i| {
                    if s.empty_first && i < per_image {
                        return 0.0;
                    }
                    if let Some(ig) = s.float_ignore {
                        if r.below(7) == 0 {
                            return ig;
                        }
                    }
                    if soft {
                        r.uniform(0.0, 1.0)
                    } else {
                        (r.below(2)) as f32
                    }
                })
                .collect();
            (Input::F32(ArrayD::from_shape_vec(IxDyn(shape), t).unwrap()), shape.to_vec())
        }
        Data::Labels { ignore } => {
            let c = shape[1];
            let mut ts = shape.to_vec();
            ts.remove(1);
            let m: usize = ts.iter().product();
            let per = m / shape[0];
            let t: Vec<i64> = (0..m)
                .map(|i| {
                    if let Some(ig) = ignore {
                        if r.below(7) == 0 {
                            return ig;
                        }
                    }
                    if s.empty_first && i < per {
                        0
                    } else {
                        r.below(c) as i64
                    }
                })
                .collect();
            (Input::I64(ArrayD::from_shape_vec(IxDyn(&ts), t).unwrap()), ts)
        }
    };
    let mut v = vec![Input::F32(pred), target];
    if s.weight {
        let mut tshape = tshape;
        if s.pixel_weight && matches!(s.data, Data::Binary { .. }) {
            tshape.remove(1);
        }
        let m: usize = tshape.iter().product();
        let w: Vec<f32> = (0..m).map(|_| r.uniform(0.0, 2.5)).collect();
        v.push(Input::F32(ArrayD::from_shape_vec(IxDyn(&tshape), w).unwrap()));
    }
    v
}

/// A spec string as a [`LossSpec`] (parsed and validated by the registry).
pub fn spec(s: &str) -> LossSpec {
    LossSpec::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// Builds one term through the registry.
pub fn build_term(t: &Term) -> Box<dyn Loss> {
    segloss::registry().build_one(&t.name, t.params.clone()).unwrap_or_else(|e| panic!("{}: {e}", t.name))
}

/// The native value: the weighted sum of the terms' `forward`.
pub fn native(spec: &LossSpec, inp: &[Input]) -> f32 {
    let Input::F32(pred) = &inp[0] else { panic!("pred is f32") };
    let w = match inp.get(2) {
        Some(Input::F32(w)) => Some(w.view()),
        _ => None,
    };
    let b = match &inp[1] {
        Input::F32(t) => Batch::new(pred.view(), t.view()),
        Input::I64(t) => Batch::new(pred.view(), t.view()),
    };
    let b = match w {
        Some(w) => b.with_weight(w),
        None => b,
    };
    let mut total = 0.0f64;
    for t in &spec.terms {
        let v = build_term(t).forward(&b).unwrap_or_else(|e| panic!("native {spec}: {e}"));
        total += t.weight as f32 as f64 * v as f64;
    }
    total as f32
}

/// Asserts `got` is within the tolerance of `want`.
pub fn assert_close(got: f64, want: f64, what: &str) {
    let tol = REL_TOL * want.abs() + ABS_FLOOR;
    assert!(
        got.is_finite() && (got - want).abs() <= tol,
        "{what}: graph {got} vs native {want} (diff {:e}, tol {tol:e})",
        (got - want).abs()
    );
}

/// The standard shapes of a check: odd sizes, a 3-D volume, a single-pixel-wide image, a 1-D
/// signal; with
/// `channels` C (1 for binary).
pub fn shapes(channels: usize, channel_axis: bool) -> Vec<Vec<usize>> {
    let mut v = vec![vec![2, channels, 5, 7], vec![3, channels, 3, 1], vec![2, channels, 3, 4, 5], vec![3, channels, 9]];
    if !channel_axis {
        for s in &mut v {
            s.remove(1);
        }
    }
    v
}

/// Exports `spec` for each shape's rank and compares tract's `loss` with the native value on each
/// shape (a first image with an empty target included); with `reduction=none` also `loss_map`'s
/// sum against the native value (which is the map's sum).
pub fn check(spec_str: &str, opts: &ExportOptions, setup: &Setup, shape_list: &[Vec<usize>]) {
    let spec = spec(spec_str);
    let mut by_rank: HashMap<usize, Typed> = HashMap::new();
    for (i, shape) in shape_list.iter().enumerate() {
        let typed = by_rank.entry(shape.len()).or_insert_with(|| {
            let o = ExportOptions { rank: shape.len(), with_weight: setup.weight, pixel_weight: setup.pixel_weight, ..opts.clone() };
            let m = segloss_onnx::export(&spec, &o).unwrap_or_else(|e| panic!("{spec_str}: export: {e}"));
            Typed::new(&m)
        });
        let inp = inputs(shape, setup, 1000 + i as u64);
        let want = native(&spec, &inp) as f64;
        dump(&typed.proto, spec_str, opts, i, &inp, want);
        let outs = typed.run(&inp);
        assert!(outs[0].ndim() == 0, "{spec_str}: loss must be a scalar, got shape {:?}", outs[0].shape());
        let got = outs[0].iter().next().copied().unwrap() as f64;
        assert_close(got, want, &format!("{spec_str} on {shape:?}"));
        if outs.len() > 1 {
            let s: f64 = outs[1].iter().map(|&v| v as f64).sum();
            assert_close(s, want, &format!("{spec_str} loss_map sum on {shape:?}"));
        }
    }
}

/// When `SEGLOSS_ONNX_DUMP` names a directory, writes each checked model and case there (the
/// model, its inputs and the native value) for `tests/ort_check.py` to run in ONNX Runtime and
/// the ONNX checker.
pub fn dump(model: &ModelProto, spec_str: &str, opts: &ExportOptions, case: usize, inp: &[Input], want: f64) {
    let Ok(dir) = std::env::var("SEGLOSS_ONNX_DUMP") else { return };
    let dir = std::path::Path::new(&dir);
    std::fs::create_dir_all(dir).unwrap();
    let g = model.graph.as_ref().unwrap();
    let rank = inp[0].shape().len();
    let tag: String =
        format!("{spec_str}_{opts:?}_{}_r{rank}", inp.len()).chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let hash = tag.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3));
    let stem = format!("{hash:016x}");
    let onnx = dir.join(format!("{stem}.onnx"));
    segloss_onnx::write(&onnx, model).unwrap();
    let mut feeds = serde_json::Map::new();
    for (vi, x) in g.input.iter().zip(inp) {
        let v = match x {
            Input::F32(a) => serde_json::json!({"dtype": "float32", "shape": a.shape(), "data": a.iter().copied().collect::<Vec<f32>>()}),
            Input::I64(a) => serde_json::json!({"dtype": "int64", "shape": a.shape(), "data": a.iter().copied().collect::<Vec<i64>>()}),
        };
        feeds.insert(vi.name.clone(), v);
    }
    let j = serde_json::json!({"spec": spec_str, "model": format!("{stem}.onnx"), "inputs": feeds, "native": want});
    std::fs::write(dir.join(format!("{stem}_{case}.json")), serde_json::to_string(&j).unwrap()).unwrap();
}

//! # segloss-onnx: every segloss loss as an ONNX graph
//!
//! For a [`LossSpec`] (one loss of `LOSSES.md` or a weighted sum of losses) this crate writes an
//! ONNX graph computing the same value as the native kernel (`LossSpec::build()?.forward(..)`),
//! in three forms:
//! - [`export`]: a standalone model with inputs `pred`, `target` (and `weight`) and outputs
//!   `loss` (a scalar) and, for a single term with `reduction=none`, `loss_map`;
//! - [`function`]: the same body as an ONNX local function (`FunctionProto`, domain
//!   [`FUNCTION_DOMAIN`]) to call from your own graph ([`export_calling_function`] shows the call);
//! - [`attach`]: an existing model whose named output feeds the loss, with `target` (and
//!   `weight`) added as inputs and `loss` as an output; every internal name carries
//!   [`ExportOptions::prefix`].
//!
//! The graphs are built with the protobuf types tract decodes ([`pb`], i.e. `tract_onnx::pb`) and
//! encoded with prost ([`to_bytes`], [`write()`]). The tests run every graph in tract 0.23 and
//! compare it with the native kernels.
//!
//! ```
//! use segloss::LossSpec;
//! use segloss_onnx::{export, ExportOptions};
//!
//! // bce + focal on pred [N, 1, H, W] (binary), with a per-pixel weight input
//! let spec = LossSpec::parse("bce+0.5*focal:gamma=2").unwrap();
//! let opts = ExportOptions { rank: 4, with_weight: true, ..ExportOptions::default() };
//! let model = export(&spec, &opts).unwrap();
//! let names: Vec<&str> = model.graph.as_ref().unwrap().input.iter().map(|i| i.name.as_str()).collect();
//! assert_eq!(names, ["pred", "target", "weight"]);
//! let bytes = segloss_onnx::to_bytes(&model); // the .onnx file's content
//! assert_eq!(segloss_onnx::from_bytes(&bytes).unwrap(), model);
//! ```
//!
//! ## Inputs, outputs and shapes
//!
//! `pred` is float `[N, C, *S]` (or `[N, *S]` for binary with [`ExportOptions::channel`] false)
//! with one to three spatial axes; the rank is fixed at export ([`ExportOptions::rank`]), the
//! sizes are symbolic: `N`, `C` (a number when known: 1 for binary, the length of
//! `class_weights` or [`ExportOptions::classes`]) and `L` / `H, W` / `D, H, W` for the spatial
//! axes. `target` is float of `pred`'s shape (binary, multilabel) or int64 labels `[N, *S]`
//! (multiclass). `weight` is float of the target's shape, or `[N, *S]` broadcast over the
//! channels with [`ExportOptions::pixel_weight`] (the pixel weight of the cross-entropy losses;
//! the distance map `d` of `distance_bce`). `loss` is a float scalar;
//! `loss_map` (single term, `reduction=none`) has the target's shape (pred's for binary and
//! multilabel, `[N, *S]` for multiclass). Every input and output declares its type and shape.
//!
//! ## Opset and operators
//!
//! Default opset 17 ([`DEFAULT_OPSET`]); 13 to 21 are accepted (`ReduceMax` takes its axes as an
//! input from 18 on, as an attribute before). Every constant is a `Constant` node. Operators:
//! - all: `Constant`, `Add`, `Sub`, `Mul`, `Div`, `Neg`, `Greater`, `Where`, `Cast`,
//!   `ReduceSum`, `Size`, `Identity` (and `Unsqueeze`/`Squeeze` for binary without a channel);
//! - `bce`, `wce`, `balanced_ce`, `distance_bce`: `Abs`, `Exp`, `Log`, `Relu` (stable softplus
//!   `max(x, 0) + ln(1 + e^-|x|)`), `Clip` (probabilities);
//! - `focal` binary/multilabel: the same plus `Sigmoid`, `Pow`;
//! - `ce`, `focal` multiclass: `LogSoftmax`, `GatherElements`, `Gather`, `Equal`, `Not`,
//!   `Unsqueeze`, `Squeeze`, `Exp`, `Pow`, `Max`, `Shape`;
//! - `dice`, `jaccard`, `tversky`, `generalized_dice`: `Sigmoid` or `Softmax`, `Shape`,
//!   `Gather`, `Range`, `Reshape`, `Equal`, `Not`, `And`, `Or`, `Max`, `Log`, `Pow`, `ReduceMax`
//!   (generalized Dice);
//! - `lovasz_hinge`, `lovasz_softmax`: `TopK` (K = the row length, from `Shape`),
//!   `GatherElements`, `CumSum`, `Reshape`, `Transpose`, `Relu`, `Abs`, `Softmax`, `Equal`,
//!   `Not`, `Unsqueeze`, `Squeeze`, `Range` (lovasz_softmax's one-hot).
//!
//! ## Running the Lovász graphs in tract
//!
//! The graphs are plain ONNX: ONNX Runtime runs them as they are (local functions included).
//! tract 0.23 types and optimizes a Lovász graph with symbolic dims, but running that plan fails
//! in `TopK` ("Undetermined symbol in expression: (N)*(H)*(W)": the K taken from `Shape` stays a
//! symbolic expression). Parse the model once (`onnx().model_for_read(..)?.into_typed()?`), then
//! for each concrete shape bind the symbols (`TypedModel::set_symbols` with `N`, `C`, `H`, `W`,
//! ..., tract 0.23's concretize) before `into_optimized()` and `into_runnable()`. The tests run
//! every graph that way (`tests/common/mod.rs`, `Typed::run`).
//!
//! ## Validation
//!
//! The tests run every graph in tract 0.23 at opset 17 (and 13, 15, 18, 21 for a sample), on odd
//! 2-D shapes, a 3-D volume, a 1-D signal and an image with an empty target, against the native
//! kernels (1e-5 relative; Lovász also on inputs with ties). With `SEGLOSS_ONNX_DUMP=<dir>` they also write each model and case, and
//! `tests/ort_check.py <dir>` runs them in ONNX Runtime after the ONNX checker (`full_check`)
//! and strict shape inference.
//!
//! ## Differences from the native kernels
//!
//! The graphs compute in float32 (the native kernels accumulate in f64); the tests hold them to
//! 1e-5 relative. Validation the native kernels do at run time (labels out of range, float
//! targets outside [0, 1], non-finite inputs) is not repeated in the graph. Multiclass targets
//! are integer labels (class-probability targets are not exported).
#![warn(missing_docs)]

mod graph;
mod keys;
mod losses;

pub use tract_onnx::pb;

use graph::Graph;
use keys::Keys;
use losses::{Io, TermOut};
use pb::tensor_proto::DataType;
use pb::tensor_shape_proto::{dimension, Dimension};
use pb::type_proto;
use pb::{FunctionProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorShapeProto, TypeProto, ValueInfoProto};
use prost::Message;
use segloss::core::params::Params;
use segloss::{LossError, LossSpec, Mode, Result};
use std::collections::HashSet;

/// The default opset of the exported graphs.
pub const DEFAULT_OPSET: i64 = 17;
/// The lowest opset accepted (`ReduceSum`, `Unsqueeze` and `Squeeze` take their axes as inputs).
pub const MIN_OPSET: i64 = 13;
/// The highest opset accepted.
pub const MAX_OPSET: i64 = 21;
/// The domain of the local functions written by [`function`].
pub const FUNCTION_DOMAIN: &str = "segloss";
/// The IR version written into exported models for an opset (the ONNX versioning table: IR 8 up
/// to opset 18, 9 for 19 and 20, 10 for 21); IR 8 is the first with local functions.
pub fn ir_version(opset: i64) -> i64 {
    match opset {
        ..=18 => 8,
        19 | 20 => 9,
        _ => 10,
    }
}

/// How to export a spec.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportOptions {
    /// Total rank of `pred`, with `N` and `C`: 3 to 5 (1 to 3 spatial axes); 2 to 4 for binary
    /// without a channel axis. Default 4 (`[N, C, H, W]`).
    pub rank: usize,
    /// Whether `pred` has the channel axis 1 (default true; false only for binary, `[N, *S]`,
    /// which the native kernels read with `mode=binary`).
    pub channel: bool,
    /// The mode when the spec gives none: binary, multiclass or multilabel. Default (`None`):
    /// multiclass for `ce` and `lovasz_softmax` or when `classes >= 2`, else binary.
    pub mode: Option<Mode>,
    /// The number of channels C, when fixed (declared in the shapes; otherwise C is symbolic,
    /// except 1 for binary and the length of `class_weights`).
    pub classes: Option<usize>,
    /// Whether the model takes a `weight` input (always true for `distance_bce`, where it is
    /// the distance map; the other cross-entropy losses multiply each pixel's term by it).
    pub with_weight: bool,
    /// Whether `weight` is one value per pixel, `[N, *S]`, broadcast over the channels (default
    /// false: the target's shape). Only matters for binary and multilabel `pred` with a channel
    /// axis (for multiclass the target already is `[N, *S]`); needs `with_weight`.
    pub pixel_weight: bool,
    /// The default-domain opset (17; 13 to 21).
    pub opset: i64,
    /// Prefix of every internal value and node name (default `segloss_`; `attach` needs it to
    /// avoid clashes).
    pub prefix: String,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            rank: 4,
            channel: true,
            mode: None,
            classes: None,
            with_weight: false,
            pixel_weight: false,
            opset: DEFAULT_OPSET,
            prefix: "segloss_".into(),
        }
    }
}

const XENT_ELEM: &[&str] = &["bce", "wce", "balanced_ce", "distance_bce"];
const OVERLAP: &[&str] = &["dice", "tversky", "jaccard", "generalized_dice"];

/// A checked export: the spec's terms and everything the body needs.
#[derive(Debug, Clone)]
struct Plan {
    terms: Vec<segloss::Term>,
    mode: Mode,
    rank: usize,
    channel: bool,
    classes: Option<usize>,
    with_weight: bool,
    pixel_weight: bool,
    opset: i64,
    map: bool,
    prefix: String,
}

/// Validates one term through its family's builder (every key and value, with the family's
/// messages).
fn validate_term(t: &segloss::Term) -> Result<()> {
    let mut p = Params::new(&t.name, t.params.iter().cloned())?;
    let r = segloss::xent::build(&t.name, &mut p)
        .or_else(|| segloss::overlap::build(&t.name, &mut p))
        .or_else(|| segloss::lovasz::build(&t.name, &mut p));
    match r {
        Some(r) => r.map(|_| ()),
        None => Err(LossError::config("name", &t.name, "unknown loss (known: bce, wce, balanced_ce, focal, distance_bce, ce, dice, tversky, jaccard, generalized_dice, lovasz_hinge, lovasz_softmax)")),
    }
}

fn plan(spec: &LossSpec, opts: &ExportOptions) -> Result<Plan> {
    if spec.terms.is_empty() {
        return Err(LossError::config("spec", "(empty)", "a spec needs at least one loss"));
    }
    if !(MIN_OPSET..=MAX_OPSET).contains(&opts.opset) {
        return Err(LossError::config("opset", opts.opset, format!("supported opsets: {MIN_OPSET} to {MAX_OPSET}")));
    }
    for t in &spec.terms {
        validate_term(t)?;
        if !t.weight.is_finite() {
            return Err(LossError::config("weight", t.weight, "a term's weight must be finite"));
        }
    }
    // the mode: the options', the terms' (all equal), or inferred
    let mut mode = opts.mode;
    for t in &spec.terms {
        if let Some(m) = Keys(&t.params).word("mode").and_then(Mode::parse) {
            match mode {
                Some(prev) if prev != m => {
                    return Err(LossError::config("mode", m, format!("conflicts with mode {prev} (given by the options or another term)")))
                }
                _ => mode = Some(m),
            }
        }
    }
    let mode = mode.unwrap_or_else(|| {
        if spec.terms.iter().any(|t| t.name == "ce" || t.name == "lovasz_softmax") || opts.classes.is_some_and(|c| c >= 2) {
            Mode::Multiclass
        } else {
            Mode::Binary
        }
    });
    if !opts.channel && mode != Mode::Binary {
        return Err(LossError::config("channel", false, format!("pred without a channel axis is binary only (mode {mode})")));
    }
    let (lo, hi) = if opts.channel { (3, 5) } else { (2, 4) };
    if !(lo..=hi).contains(&opts.rank) {
        let what = if opts.channel { "[N, C, *S]" } else { "[N, *S] (binary without channel)" };
        return Err(LossError::config("rank", opts.rank, format!("pred {what} needs a rank in {lo}..={hi} (1 to 3 spatial axes)")));
    }
    // classes
    let mut classes = opts.classes;
    match mode {
        Mode::Binary => {
            if let Some(c) = classes.filter(|&c| c != 1) {
                return Err(LossError::config("classes", c, "binary pred has one channel"));
            }
            classes = Some(1);
        }
        Mode::Multiclass => {
            if let Some(c) = classes.filter(|&c| c < 2) {
                return Err(LossError::config("classes", c, "multiclass needs C >= 2 channels"));
            }
        }
        Mode::Multilabel => {
            if let Some(c) = classes.filter(|&c| c < 1) {
                return Err(LossError::config("classes", c, "needs at least one channel"));
            }
        }
    }
    for t in &spec.terms {
        let k = Keys(&t.params);
        let name = t.name.as_str();
        let bad_mode = match name {
            n if XENT_ELEM.contains(&n) => mode == Mode::Multiclass,
            "ce" | "lovasz_softmax" => mode != Mode::Multiclass,
            "lovasz_hinge" => mode == Mode::Multiclass,
            _ => false,
        };
        if bad_mode {
            return Err(LossError::config("mode", mode, format!("`{name}` does not support mode {mode}")));
        }
        if name == "focal" {
            if mode == Mode::Multiclass {
                if let Some(a) = t.params.iter().find(|(key, _)| key == "alpha") {
                    return Err(LossError::config("alpha", &a.1, "multiclass focal takes no alpha (use class_weights)"));
                }
                if !k.bool("from_logits", true) {
                    return Err(LossError::config("from_logits", false, "multiclass focal takes logits"));
                }
            } else {
                for key in ["class_weights", "ignore_index"] {
                    if let Some((_, v)) = t.params.iter().find(|(kk, _)| kk == key) {
                        return Err(LossError::config(key, v, format!("only for multiclass focal (mode {mode})")));
                    }
                }
            }
        }
        if let Some(w) = k.list("class_weights") {
            match classes {
                Some(c) if c != w.len() => {
                    return Err(LossError::config(
                        "class_weights",
                        segloss::core::params::Value::List(w.iter().map(|v| *v as f64).collect()),
                        format!("has {} values for {c} classes", w.len()),
                    ))
                }
                _ => classes = Some(w.len()),
            }
        }
        let takes_weight = XENT_ELEM.contains(&name) || name == "focal" || name == "ce";
        if opts.with_weight && !takes_weight {
            return Err(LossError::config("with_weight", true, format!("`{name}` takes no weight input")));
        }
        if name == "distance_bce" && !opts.with_weight {
            return Err(LossError::config("with_weight", false, "distance_bce needs the distance map d as the `weight` input"));
        }
    }
    if opts.pixel_weight && !opts.with_weight {
        return Err(LossError::config("pixel_weight", true, "a per-pixel weight needs with_weight"));
    }
    let map = spec.terms.len() == 1 && Keys(&spec.terms[0].params).word("reduction") == Some("none");
    Ok(Plan {
        terms: spec.terms.clone(),
        mode,
        rank: opts.rank,
        channel: opts.channel,
        classes,
        with_weight: opts.with_weight,
        pixel_weight: opts.pixel_weight && opts.channel && mode != Mode::Multiclass,
        opset: opts.opset,
        map,
        prefix: opts.prefix.clone(),
    })
}

/// Writes the body: from the names of `pred`, `target`, `weight` to the outputs `loss_out` (and
/// `map_out`).
fn body(g: &mut Graph, plan: &Plan, pred: &str, target: &str, weight: Option<&str>, loss_out: &str, map_out: Option<&str>) -> Result<()> {
    let (pred, target, weight) = if plan.channel {
        (pred.to_string(), target.to_string(), weight.map(str::to_string))
    } else {
        (g.unsqueeze(pred, &[1]), g.unsqueeze(target, &[1]), weight.map(|w| g.unsqueeze(w, &[1])))
    };
    let weight = match weight {
        Some(w) if plan.pixel_weight => Some(g.unsqueeze(&w, &[1])),
        w => w,
    };
    let rank = if plan.channel { plan.rank } else { plan.rank + 1 };
    let io = Io { pred, target, weight, rank, mode: plan.mode };
    let mut total: Option<String> = None;
    let mut map: Option<String> = None;
    for t in &plan.terms {
        let (w, name) = (t.weight as f32, &t.name);
        let k = Keys(&t.params);
        let out: TermOut = match name.as_str() {
            n if XENT_ELEM.contains(&n) => losses::bce_family(g, &io, n, &k)?,
            "focal" if plan.mode == Mode::Multiclass => losses::softmax_xent(g, &io, "focal", &k)?,
            "focal" => losses::focal_binary(g, &io, &k)?,
            "ce" => losses::softmax_xent(g, &io, "ce", &k)?,
            n if OVERLAP.contains(&n) => losses::overlap(g, &io, n, &k)?,
            "lovasz_hinge" => losses::lovasz_hinge(g, &io, &k)?,
            "lovasz_softmax" => losses::lovasz_softmax(g, &io, &k)?,
            n => return Err(LossError::config("name", n, "unknown loss")),
        };
        let v = g.scale(&out.loss, w);
        total = Some(match total {
            None => v,
            Some(t) => g.add(&t, &v),
        });
        if map.is_none() {
            map = out.map.map(|m| g.scale(&m, w));
        }
    }
    let total = total.expect("at least one term");
    g.op_to("Identity", &[&total], loss_out);
    if let (Some(m), Some(out)) = (map, map_out) {
        let m = if plan.channel || plan.mode == Mode::Multiclass { m } else { g.squeeze(&m, &[1]) };
        g.op_to("Identity", &[&m], out);
    }
    Ok(())
}

fn dim_param(s: &str) -> Dimension {
    Dimension { value: Some(dimension::Value::DimParam(s.into())), ..Default::default() }
}

fn dim_value(v: i64) -> Dimension {
    Dimension { value: Some(dimension::Value::DimValue(v)), ..Default::default() }
}

fn value_info(name: &str, elem: DataType, dims: Vec<Dimension>) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: elem as i32,
                shape: Some(TensorShapeProto { dim: dims }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The declared dims of `pred`.
fn pred_dims(plan: &Plan) -> Vec<Dimension> {
    let spatial_n = if plan.channel { plan.rank - 2 } else { plan.rank - 1 };
    let names: &[&str] = match spatial_n {
        1 => &["L"],
        2 => &["H", "W"],
        _ => &["D", "H", "W"],
    };
    let mut d = vec![dim_param("N")];
    if plan.channel {
        d.push(match plan.classes {
            Some(c) => dim_value(c as i64),
            None => dim_param("C"),
        });
    }
    d.extend(names.iter().map(|n| dim_param(n)));
    d
}

/// The target's dims, from pred's (multiclass: without axis 1).
fn target_dims(plan: &Plan, pred: &[Dimension]) -> Vec<Dimension> {
    let mut d = pred.to_vec();
    if plan.mode == Mode::Multiclass {
        d.remove(1);
    }
    d
}

/// The weight's dims: the target's, or `[N, *S]` with `pixel_weight`.
fn weight_dims(plan: &Plan, target: &[Dimension]) -> Vec<Dimension> {
    let mut d = target.to_vec();
    if plan.pixel_weight {
        d.remove(1);
    }
    d
}

fn target_type(plan: &Plan) -> DataType {
    if plan.mode == Mode::Multiclass {
        DataType::Int64
    } else {
        DataType::Float
    }
}

fn opset_import(opset: i64) -> OperatorSetIdProto {
    OperatorSetIdProto { domain: String::new(), version: opset }
}

/// Exports `spec` as a standalone model: inputs `pred`, `target` (and `weight` when
/// [`ExportOptions::with_weight`]), outputs `loss` (and `loss_map` for a single term with
/// `reduction=none`). Errors ([`LossError::InvalidConfig`], naming key and value) on a spec the
/// native kernels would reject, a loss that does not support the mode, a rank out of range, an
/// opset out of range, a `weight` for a loss that takes none, or `distance_bce` without one.
pub fn export(spec: &LossSpec, opts: &ExportOptions) -> Result<ModelProto> {
    let plan = plan(spec, opts)?;
    let mut g = Graph::new(&plan.prefix, plan.opset);
    let map_out = plan.map.then_some("loss_map");
    body(&mut g, &plan, "pred", "target", plan.with_weight.then_some("weight"), "loss", map_out)?;
    let pd = pred_dims(&plan);
    let td = target_dims(&plan, &pd);
    let mut inputs = vec![value_info("pred", DataType::Float, pd.clone()), value_info("target", target_type(&plan), td.clone())];
    if plan.with_weight {
        inputs.push(value_info("weight", DataType::Float, weight_dims(&plan, &td)));
    }
    let mut outputs = vec![value_info("loss", DataType::Float, vec![])];
    if plan.map {
        outputs.push(value_info("loss_map", DataType::Float, if plan.mode == Mode::Multiclass { td } else { pd }));
    }
    Ok(model(g.nodes, inputs, outputs, plan.opset, spec, vec![]))
}

fn model(
    nodes: Vec<NodeProto>,
    input: Vec<ValueInfoProto>,
    output: Vec<ValueInfoProto>,
    opset: i64,
    spec: &LossSpec,
    functions: Vec<FunctionProto>,
) -> ModelProto {
    let mut opsets = vec![opset_import(opset)];
    if !functions.is_empty() {
        opsets.push(OperatorSetIdProto { domain: FUNCTION_DOMAIN.into(), version: 1 });
    }
    ModelProto {
        ir_version: ir_version(opset),
        opset_import: opsets,
        producer_name: "segloss-onnx".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!("segloss loss `{spec}`"),
        graph: Some(GraphProto { name: "segloss".into(), node: nodes, input, output, doc_string: format!("{spec}"), ..Default::default() }),
        functions,
        ..Default::default()
    }
}

/// The name of the local function of `spec`: `loss_` followed by the spec with every character
/// other than ASCII letters and digits replaced by `_`.
pub fn function_name(spec: &LossSpec) -> String {
    let s: String = spec.to_string().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    format!("loss_{s}")
}

/// The loss as an ONNX local function (domain [`FUNCTION_DOMAIN`], name [`function_name`]):
/// inputs `pred`, `target` (and `weight`), outputs `loss` (and `loss_map`), the same body and
/// opset as [`export`]. Call it from a graph with a node of that domain and op type, and import
/// the domain `segloss` (version 1) and the default opset in the model.
pub fn function(spec: &LossSpec, opts: &ExportOptions) -> Result<FunctionProto> {
    let plan = plan(spec, opts)?;
    let mut g = Graph::new(&plan.prefix, plan.opset);
    let map_out = plan.map.then_some("loss_map");
    body(&mut g, &plan, "pred", "target", plan.with_weight.then_some("weight"), "loss", map_out)?;
    let mut input = vec!["pred".to_string(), "target".to_string()];
    if plan.with_weight {
        input.push("weight".into());
    }
    let mut output = vec!["loss".to_string()];
    if plan.map {
        output.push("loss_map".into());
    }
    Ok(FunctionProto {
        name: Some(function_name(spec)),
        domain: Some(FUNCTION_DOMAIN.into()),
        input,
        output,
        node: g.nodes,
        doc_string: Some(format!("segloss loss `{spec}` (opset {})", plan.opset)),
        opset_import: vec![opset_import(plan.opset)],
        ..Default::default()
    })
}

/// A model whose graph is one call of [`function`]`(spec, opts)`, with the same inputs and
/// outputs as [`export`]: the way to use the function form, and what the tests run (after
/// [`inline_functions`]).
pub fn export_calling_function(spec: &LossSpec, opts: &ExportOptions) -> Result<ModelProto> {
    let f = function(spec, opts)?;
    let standalone = export(spec, opts)?;
    let graph = standalone.graph.expect("export writes a graph");
    let call = NodeProto {
        name: "call_loss".into(),
        op_type: f.name.clone().unwrap_or_default(),
        domain: FUNCTION_DOMAIN.into(),
        input: graph.input.iter().map(|i| i.name.clone()).collect(),
        output: graph.output.iter().map(|o| o.name.clone()).collect(),
        ..Default::default()
    };
    Ok(model(vec![call], graph.input, graph.output, opts.opset, spec, vec![f]))
}

/// Replaces every call of a local function of `model` (nodes whose domain and op type name one of
/// `model.functions`) by the function's body, as the ONNX semantics of functions define it:
/// formal inputs and outputs become the call's actual names, every other value gets the prefix
/// `<call node name>__`. Calls nested in function bodies are expanded too. Errors on a call with
/// attributes (the functions written here have none) or with more actual than formal arguments.
pub fn inline_functions(mut model: ModelProto) -> Result<ModelProto> {
    let functions = std::mem::take(&mut model.functions);
    let Some(graph) = model.graph.as_mut() else {
        return Err(LossError::config("model", "(no graph)", "the model has no graph"));
    };
    let mut nodes = std::mem::take(&mut graph.node);
    for _ in 0..64 {
        let mut changed = false;
        let mut out = Vec::with_capacity(nodes.len());
        for (ci, node) in nodes.into_iter().enumerate() {
            let f = functions
                .iter()
                .find(|f| f.name.as_deref() == Some(node.op_type.as_str()) && f.domain.as_deref().unwrap_or("") == node.domain);
            let Some(f) = f else {
                out.push(node);
                continue;
            };
            changed = true;
            if !node.attribute.is_empty() {
                return Err(LossError::config("function", &node.op_type, "calls with attributes are not supported"));
            }
            if node.input.len() > f.input.len() || node.output.len() > f.output.len() {
                return Err(LossError::config("function", &node.op_type, "more arguments than the function declares"));
            }
            let tag = if node.name.is_empty() { format!("call{ci}") } else { node.name.clone() };
            let rename = |n: &str| -> String {
                if n.is_empty() {
                    return String::new();
                }
                if let Some(i) = f.input.iter().position(|x| x == n) {
                    return node.input.get(i).cloned().unwrap_or_default();
                }
                if let Some(i) = f.output.iter().position(|x| x == n) {
                    if let Some(o) = node.output.get(i) {
                        return o.clone();
                    }
                }
                format!("{tag}__{n}")
            };
            for b in &f.node {
                let mut b = b.clone();
                b.name = format!("{tag}__{}", b.name);
                b.input = b.input.iter().map(|n| rename(n)).collect();
                b.output = b.output.iter().map(|n| rename(n)).collect();
                out.push(b);
            }
        }
        nodes = out;
        if !changed {
            break;
        }
    }
    graph.node = nodes;
    model.opset_import.retain(|o| o.domain != FUNCTION_DOMAIN);
    Ok(model)
}

/// Attaches the loss to `model`: its output `to_output` becomes `pred`; `target` (and `weight`)
/// become new inputs and `loss` (and `loss_map`) new outputs; the model's outputs stay. Every
/// internal name starts with [`ExportOptions::prefix`]. The model's default-domain opset is kept
/// (it must be at least [`MIN_OPSET`]); the rank is the output's declared rank when it has one
/// (then [`ExportOptions::rank`] must agree), and the target's dims copy the output's.
///
/// Errors: `to` naming no output (the message lists them), a declared non-float output, a rank
/// mismatch, an opset below 13, a name (`target`, `weight`, `loss`, `loss_map`, or a generated
/// one) already used in the model, and everything [`export`] rejects.
pub fn attach(mut model: ModelProto, to_output: &str, spec: &LossSpec, opts: &ExportOptions) -> Result<ModelProto> {
    let graph = model.graph.as_ref().ok_or_else(|| LossError::config("model", "(no graph)", "the model has no graph"))?;
    let out = graph.output.iter().find(|o| o.name == to_output).cloned().ok_or_else(|| {
        let names: Vec<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
        LossError::config("to", to_output, format!("the model has no output of that name (its outputs: {})", names.join(", ")))
    })?;
    let opset = model.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map(|o| o.version).unwrap_or(0);
    if opset < MIN_OPSET {
        return Err(LossError::config("opset", opset, format!("attach needs a model of opset >= {MIN_OPSET}")));
    }
    let tensor = out.r#type.as_ref().and_then(|t| t.value.as_ref()).map(|type_proto::Value::TensorType(t)| t.clone());
    let mut opts = opts.clone();
    opts.opset = opset.min(MAX_OPSET);
    if opset > MAX_OPSET {
        return Err(LossError::config("opset", opset, format!("supported opsets: {MIN_OPSET} to {MAX_OPSET}")));
    }
    let mut declared: Option<Vec<Dimension>> = None;
    if let Some(t) = &tensor {
        if t.elem_type != DataType::Float as i32 && t.elem_type != 0 {
            return Err(LossError::config("to", to_output, format!("the output has element type {} (float needed)", t.elem_type)));
        }
        if let Some(s) = &t.shape {
            if s.dim.len() != opts.rank {
                return Err(LossError::config("rank", opts.rank, format!("the output `{to_output}` has rank {}", s.dim.len())));
            }
            declared = Some(s.dim.clone());
        }
    }
    if let (Some(d), true, None) = (&declared, opts.channel, opts.classes) {
        if let Some(dimension::Value::DimValue(c)) = d.get(1).and_then(|x| x.value.clone()) {
            if c >= 1 {
                opts.classes = Some(c as usize);
            }
        }
    }
    let mut plan = plan(spec, &opts)?;
    let p = plan.prefix.clone();
    let pd: Vec<Dimension> = match declared {
        Some(d) => {
            // the declared C wins when it is a number
            if plan.channel {
                if let Some(dimension::Value::DimValue(c)) = d[1].value {
                    if let Some(pc) = plan.classes.filter(|&pc| pc as i64 != c) {
                        return Err(LossError::config("classes", pc, format!("the output `{to_output}` declares {c} channels")));
                    }
                    plan.classes = Some(c as usize);
                }
            }
            d.into_iter().enumerate().map(|(i, x)| if x.value.is_none() { dim_param(&format!("{p}d{i}")) } else { x }).collect()
        }
        None => pred_dims(&plan)
            .into_iter()
            .map(|x| match x.value {
                Some(dimension::Value::DimParam(s)) => dim_param(&format!("{p}{s}")),
                _ => x,
            })
            .collect(),
    };
    let graph = model.graph.as_mut().expect("checked above");
    let mut used: HashSet<String> = HashSet::new();
    for v in graph.input.iter().chain(&graph.output).chain(&graph.value_info) {
        used.insert(v.name.clone());
    }
    for t in &graph.initializer {
        used.insert(t.name.clone());
    }
    for n in &graph.node {
        used.extend(n.input.iter().cloned());
        used.extend(n.output.iter().cloned());
        used.insert(n.name.clone());
    }
    let mut g = Graph::new(&p, opts.opset);
    let map_out = plan.map.then_some("loss_map");
    body(&mut g, &plan, to_output, "target", plan.with_weight.then_some("weight"), "loss", map_out)?;
    let mut new_names = vec!["target", "loss"];
    if plan.with_weight {
        new_names.push("weight");
    }
    if plan.map {
        new_names.push("loss_map");
    }
    for n in new_names {
        if used.contains(n) {
            return Err(LossError::config("model", n, "the model already uses this name; rename it before attaching"));
        }
    }
    for n in &g.nodes {
        for v in n.output.iter().chain(std::iter::once(&n.name)) {
            if used.contains(v) {
                return Err(LossError::config(
                    "prefix",
                    &p,
                    format!("the generated name `{v}` is already used in the model; choose another prefix"),
                ));
            }
        }
    }
    let td = target_dims(&plan, &pd);
    graph.input.push(value_info("target", target_type(&plan), td.clone()));
    if plan.with_weight {
        graph.input.push(value_info("weight", DataType::Float, weight_dims(&plan, &td)));
    }
    graph.node.extend(g.nodes);
    graph.output.push(value_info("loss", DataType::Float, vec![]));
    if plan.map {
        graph.output.push(value_info("loss_map", DataType::Float, if plan.mode == Mode::Multiclass { td } else { pd }));
    }
    Ok(model)
}

/// The model's protobuf encoding (the bytes of a `.onnx` file).
pub fn to_bytes(model: &ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

/// Decodes a `.onnx` model.
pub fn from_bytes(bytes: &[u8]) -> Result<ModelProto> {
    ModelProto::decode(bytes).map_err(|e| LossError::config("model", "(bytes)", format!("not an ONNX model: {e}")))
}

/// Writes the model to `path` (errors name the path).
pub fn write(path: impl AsRef<std::path::Path>, model: &ModelProto) -> Result<()> {
    let path = path.as_ref();
    std::fs::write(path, to_bytes(model)).map_err(|e| LossError::config("path", path.display(), format!("cannot write: {e}")))
}

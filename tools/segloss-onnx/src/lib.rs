//! # segloss-onnx: every segloss loss as an ONNX graph
//!
//! For a [`LossSpec`] (one loss of `docs/LOSSES.md` or a weighted sum of losses) this crate
//! writes an ONNX graph computing the same value as the native kernel
//! (`LossSpec::build()?.forward(..)`), in three forms:
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
//! Each term is found in the registry ([`segloss::registry()`]) and built there, so its family
//! validates every key (with the mode of the export); the graph is written from the loss's
//! validated typed config ([`segloss::Loss::config`]) by the one exporter of that config type. A
//! loss of the registry without an exporter is an error naming it.
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
//! - `dice`, `jaccard`, `tversky`, `generalized_dice`, `log_cosh_dice`: `Sigmoid` or `Softmax`,
//!   `Shape`, `Gather`, `Range`, `Reshape`, `Equal`, `Not`, `And`, `Or`, `Max`, `Log`, `Pow`,
//!   `ReduceMax` (generalized Dice), `Abs`, `Exp` (log cosh, computed in double);
//! - `lovasz_hinge`, `lovasz_softmax`: `TopK` (K = the row length, from `Shape`),
//!   `GatherElements`, `CumSum`, `Reshape`, `Transpose`, `Relu`, `Abs`, `Softmax`, `Equal`,
//!   `Not`, `Unsqueeze`, `Squeeze`, `Range` (lovasz_softmax's one-hot).
//! - `topk_ce`: the `ce` or `bce` terms as above, `Reshape`, `Size`, `Floor` (n_k in double),
//!   `TopK` (K = n_k, from `Size`; the same tract note as the Lovász graphs), `ReduceSum`.
//! - `mcc`: `Sigmoid`, `Sqrt`, the counts in double;
//! - `unified_focal`: `Abs`, `Exp`, `Log`, `Relu` (binary logits, through the stable softplus) or
//!   `Softmax`, `Gather` and `Equal` (two channels), `Clip`, `Pow`.
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
//! kernels (1e-5 relative; Lovász also on inputs with ties). With `SEGLOSS_ONNX_DUMP=<dir>` they
//! also write each model and case, and `tests/ort_check.py <dir>` runs them in ONNX Runtime after
//! the ONNX checker (`full_check`) and strict shape inference.
//!
//! ## Differences from the native kernels
//!
//! The graphs compute in float32 (the native kernels accumulate in f64; `log_cosh_dice` applies
//! its log cosh to the float32 Dice value in double, where the float32 form would cancel for
//! small values); the tests hold them to 1e-5 relative. Validation the native kernels do at run time (labels out of range, float
//! targets outside [0, 1], non-finite inputs) is not repeated in the graph. Multiclass targets
//! are integer labels (class-probability targets are not exported).
#![warn(missing_docs)]

mod cldice;
mod error;
mod field;
mod graph;
mod lovasz;
mod mcc;
mod model;
mod overlap;
mod plan;
mod topk;
mod unified_focal;
mod wasserstein;
mod xent;

pub use error::{ExportError, Result};
pub use model::{attach, inline_functions};
pub use tract_onnx::pb;

use graph::Graph;
use model::{model, opset_import, pred_dims, target_dims, target_type, value_info, weight_dims};
use pb::tensor_proto::DataType;
use pb::{FunctionProto, ModelProto, NodeProto};
use plan::{body, plan};
use prost::Message;
use segloss::{LossSpec, Mode};

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
    /// the single mode of a loss that accepts only one (multiclass for `ce` and
    /// `lovasz_softmax`), else multiclass when `classes >= 2`, else binary. The losses are built
    /// with it, so their rules that depend on the mode apply.
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

/// Exports `spec` as a standalone model: inputs `pred`, `target` (and `weight` when
/// [`ExportOptions::with_weight`]; and `boundary_map`, of `pred`'s shape, for a spec with
/// `boundary`: its distance maps from `segloss_distance::boundary_map`), outputs `loss` (and `loss_map` for a single term with
/// `reduction=none`). Errors: [`ExportError::Spec`] (the family's error, naming key and value) on
/// a spec the native kernels would reject; [`ExportError::Option`] on a loss that does not support
/// the mode, a rank or opset out of range, a `weight` for a loss that takes none, or
/// `distance_bce` without one; `hausdorff_dt` is [`ExportError::Unsupported`] (no ONNX operator computes the distance transform
/// of its prediction at run time).
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
    for name in &plan.extra {
        inputs.push(value_info(name, DataType::Float, pd.clone()));
    }
    let mut outputs = vec![value_info("loss", DataType::Float, vec![])];
    if plan.map {
        outputs.push(value_info("loss_map", DataType::Float, if plan.mode == Mode::Multiclass { td } else { pd }));
    }
    Ok(model(g.nodes, inputs, outputs, plan.opset, spec, vec![]))
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
    input.extend(plan.extra.iter().map(|s| s.to_string()));
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

/// The model's protobuf encoding (the bytes of a `.onnx` file).
pub fn to_bytes(model: &ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

/// Decodes a `.onnx` model.
pub fn from_bytes(bytes: &[u8]) -> Result<ModelProto> {
    Ok(ModelProto::decode(bytes)?)
}

/// Writes the model to `path` (errors name the path).
pub fn write(path: impl AsRef<std::path::Path>, model: &ModelProto) -> Result<()> {
    let path = path.as_ref();
    std::fs::write(path, to_bytes(model)).map_err(|source| ExportError::Io { path: path.to_path_buf(), source })
}

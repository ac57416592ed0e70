//! The model around a body: the declared inputs and outputs (types and symbolic dims), the
//! `ModelProto` itself, the expansion of local functions, and [`attach`] to an existing model.

use crate::graph::Graph;
use crate::pb::tensor_proto::DataType;
use crate::pb::tensor_shape_proto::{dimension, Dimension};
use crate::pb::{
    type_proto, FunctionProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use crate::plan::{body, plan, Plan};
use crate::{ir_version, ExportOptions, FUNCTION_DOMAIN, MAX_OPSET, MIN_OPSET};
use crate::{ExportError, Result};
use segloss::{LossSpec, Mode};
use std::collections::HashSet;

pub(crate) fn dim_param(s: &str) -> Dimension {
    Dimension { value: Some(dimension::Value::DimParam(s.into())), ..Default::default() }
}

pub(crate) fn dim_value(v: i64) -> Dimension {
    Dimension { value: Some(dimension::Value::DimValue(v)), ..Default::default() }
}

pub(crate) fn value_info(name: &str, elem: DataType, dims: Vec<Dimension>) -> ValueInfoProto {
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
pub(crate) fn pred_dims(plan: &Plan) -> Vec<Dimension> {
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
pub(crate) fn target_dims(plan: &Plan, pred: &[Dimension]) -> Vec<Dimension> {
    let mut d = pred.to_vec();
    if plan.mode == Mode::Multiclass {
        d.remove(1);
    }
    d
}

/// The weight's dims: the target's, or `[N, *S]` with `pixel_weight`.
pub(crate) fn weight_dims(plan: &Plan, target: &[Dimension]) -> Vec<Dimension> {
    let mut d = target.to_vec();
    if plan.pixel_weight {
        d.remove(1);
    }
    d
}

pub(crate) fn target_type(plan: &Plan) -> DataType {
    if plan.mode == Mode::Multiclass {
        DataType::Int64
    } else {
        DataType::Float
    }
}

pub(crate) fn opset_import(opset: i64) -> OperatorSetIdProto {
    OperatorSetIdProto { domain: String::new(), version: opset }
}

pub(crate) fn model(
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

/// Replaces every call of a local function of `model` (nodes whose domain and op type name one of
/// `model.functions`) by the function's body, as the ONNX semantics of functions define it:
/// formal inputs and outputs become the call's actual names, every other value gets the prefix
/// `<call node name>__`. Calls nested in function bodies are expanded too. Errors on a call with
/// attributes (the functions written here have none) or with more actual than formal arguments.
pub fn inline_functions(mut model: ModelProto) -> Result<ModelProto> {
    let functions = std::mem::take(&mut model.functions);
    let Some(graph) = model.graph.as_mut() else {
        return Err(ExportError::model("has no graph"));
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
                return Err(ExportError::model(format!("calls the function `{}` with attributes, which is not supported", node.op_type)));
            }
            if node.input.len() > f.input.len() || node.output.len() > f.output.len() {
                return Err(ExportError::model(format!("calls the function `{}` with more arguments than it declares", node.op_type)));
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
/// one) already used in the model, and everything [`export`](crate::export) rejects.
pub fn attach(mut model: ModelProto, to_output: &str, spec: &LossSpec, opts: &ExportOptions) -> Result<ModelProto> {
    let graph = model.graph.as_ref().ok_or_else(|| ExportError::model("has no graph"))?;
    let out = graph.output.iter().find(|o| o.name == to_output).cloned().ok_or_else(|| {
        let names: Vec<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
        ExportError::option("to", to_output, format!("the model has no output of that name (its outputs: {})", names.join(", ")))
    })?;
    let opset = model.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map(|o| o.version).unwrap_or(0);
    if opset < MIN_OPSET {
        return Err(ExportError::model(format!("has opset {opset}; attach needs opset {MIN_OPSET} to {MAX_OPSET}")));
    }
    let tensor = out.r#type.as_ref().and_then(|t| t.value.as_ref()).map(|type_proto::Value::TensorType(t)| t.clone());
    let mut opts = opts.clone();
    opts.opset = opset.min(MAX_OPSET);
    if opset > MAX_OPSET {
        return Err(ExportError::model(format!("has opset {opset}; attach needs opset {MIN_OPSET} to {MAX_OPSET}")));
    }
    let mut declared: Option<Vec<Dimension>> = None;
    if let Some(t) = &tensor {
        if t.elem_type != DataType::Float as i32 && t.elem_type != 0 {
            return Err(ExportError::option("to", to_output, format!("the output has element type {} (float needed)", t.elem_type)));
        }
        if let Some(s) = &t.shape {
            if s.dim.len() != opts.rank {
                return Err(ExportError::option("rank", opts.rank, format!("the output `{to_output}` has rank {}", s.dim.len())));
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
                        return Err(ExportError::option("classes", pc, format!("the output `{to_output}` declares {c} channels")));
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
    new_names.extend(plan.extra.iter().copied());
    if plan.map {
        new_names.push("loss_map");
    }
    for n in new_names {
        if used.contains(n) {
            return Err(ExportError::model(format!("already uses the name `{n}`; rename it before attaching")));
        }
    }
    for n in &g.nodes {
        for v in n.output.iter().chain(std::iter::once(&n.name)) {
            if used.contains(v) {
                return Err(ExportError::option(
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
    for name in &plan.extra {
        graph.input.push(value_info(name, DataType::Float, pd.clone()));
    }
    graph.node.extend(g.nodes);
    graph.output.push(value_info("loss", DataType::Float, vec![]));
    if plan.map {
        graph.output.push(value_info("loss_map", DataType::Float, if plan.mode == Mode::Multiclass { td } else { pd }));
    }
    Ok(model)
}

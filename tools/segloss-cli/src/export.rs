//! `segloss export`: a loss spec as an ONNX graph ([`segloss_onnx`]), standalone or attached to
//! an existing model's output; and [`run_model`], which runs such a graph in tract (the demo uses
//! it to check the exported graphs against the native kernels).

use crate::args::ExportArgs;
use crate::eval::parse_spec;
use crate::out::{clip, clip_words};
use crate::CliError;
use ndarray::ArrayD;
use segloss_onnx::pb::tensor_proto::DataType;
use segloss_onnx::pb::tensor_shape_proto::dimension;
use segloss_onnx::pb::{type_proto, ModelProto, ValueInfoProto};
use segloss_onnx::{ExportError, ExportOptions};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tract_onnx::prelude::*;

/// The flag that sets an [`ExportOptions`] field, by the key the exporter's errors name.
fn flag_of(key: &str) -> Option<&'static str> {
    Some(match key {
        "rank" => "--rank",
        "opset" => "--opset",
        "mode" => "--mode",
        "classes" => "--classes",
        "with_weight" => "--with-weight",
        "pixel_weight" => "--pixel-weight",
        "channel" => "--no-channel",
        "prefix" => "--prefix",
        "to" => "--to",
        _ => return None,
    })
}

/// Whether the user gave `flag` (one of [`flag_of`]'s).
fn given(a: &ExportArgs, flag: &str) -> bool {
    match flag {
        "--rank" => a.rank.is_some(),
        "--opset" => a.opset.is_some(),
        "--mode" => a.mode.is_some(),
        "--classes" => a.classes.is_some(),
        "--with-weight" => a.with_weight,
        "--pixel-weight" => a.pixel_weight,
        "--no-channel" => a.no_channel,
        "--prefix" => a.prefix.is_some(),
        "--to" => a.to.is_some(),
        _ => false,
    }
}

/// An exporter error as a CLI error naming the flag at fault when the user gave it, else the
/// model file when attaching (its output fixed the rank or the channels), else the spec.
fn export_error(e: ExportError, spec: &str, a: &ExportArgs, model: Option<(&Path, &str)>) -> CliError {
    let key = match &e {
        ExportError::Option { option, .. } => Some(*option),
        _ => None,
    };
    let flag = key.and_then(flag_of);
    let (spec, e) = (clip(spec), clip_words(&e.to_string()));
    match (flag, model) {
        (Some(flag), _) if given(a, flag) => CliError::new(format!("{flag}: cannot export `{spec}`: {e}")),
        (_, Some((m, to))) => CliError::new(format!("{}: cannot attach `{spec}` to output `{}`: {e}", m.display(), clip(to))),
        (Some(flag), None) if key != Some("mode") => CliError::new(format!("{flag}: cannot export `{spec}`: {e}")),
        _ => CliError::new(format!("bad loss spec `{spec}` for export: {e}")),
    }
}

/// The declared rank of `model`'s output `name`, if it declares one.
fn declared_rank(model: &ModelProto, name: &str) -> Option<usize> {
    let out = model.graph.as_ref()?.output.iter().find(|o| o.name == name)?;
    match out.r#type.as_ref()?.value.as_ref()? {
        type_proto::Value::TensorType(t) => t.shape.as_ref().map(|s| s.dim.len()),
    }
}

/// `name float [N, 1, H, W]` for a declared value; `name float (shape not declared)` (or
/// `name (type and shape not declared)`) for one without a shape, `note` added in the
/// parentheses. (`[]` is the shape of a scalar.)
fn describe(v: &ValueInfoProto, note: &str) -> String {
    let Some(type_proto::Value::TensorType(t)) = v.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return format!("{} (type and shape not declared{note})", v.name);
    };
    let ty = match DataType::try_from(t.elem_type) {
        Ok(DataType::Float) => "float",
        Ok(DataType::Int64) => "int64",
        Ok(DataType::Undefined) => "(type not declared)",
        _ => "other",
    };
    if t.shape.is_none() {
        return format!("{} {ty} (shape not declared{note})", v.name);
    }
    let dims: Vec<String> = t
        .shape
        .iter()
        .flat_map(|s| &s.dim)
        .map(|d| match &d.value {
            Some(dimension::Value::DimValue(v)) => v.to_string(),
            Some(dimension::Value::DimParam(p)) => p.clone(),
            None => "?".into(),
        })
        .collect();
    format!("{} {ty} [{}]", v.name, dims.join(", "))
}

/// The largest `.onnx` model read: protobuf's limit for one message, 2 GiB.
pub const MAX_MODEL_BYTES: u64 = 1 << 31;

/// Reads and decodes an `.onnx` model (a regular file of at most [`MAX_MODEL_BYTES`]), with
/// errors naming the file.
pub fn read_model(path: &Path) -> Result<ModelProto, CliError> {
    let bytes = crate::io::read_bounded(path, MAX_MODEL_BYTES, "for an ONNX model (protobuf's limit)")?;
    model_from_bytes(&bytes, &path.display().to_string())
}

/// Decodes the bytes of an `.onnx` model named `name` (for messages): errors on an empty file,
/// bytes that are not a protobuf `ModelProto` (a truncated or corrupt file), and a model without
/// a graph or without outputs.
pub fn model_from_bytes(bytes: &[u8], name: &str) -> Result<ModelProto, CliError> {
    if bytes.is_empty() {
        return Err(CliError::new(format!("{name}: not an ONNX model: the file is empty")));
    }
    let m = segloss_onnx::from_bytes(bytes).map_err(|e| CliError::new(format!("{name}: {e}")))?;
    match &m.graph {
        Some(g) if !g.output.is_empty() => Ok(m),
        _ => Err(CliError::new(format!("{name}: not an ONNX model: it has no graph with outputs"))),
    }
}

/// Runs `segloss export`.
pub fn run(a: &ExportArgs) -> Result<i32, CliError> {
    let spec_str = a.spec.clone();
    let spec = parse_spec(&spec_str)?;
    let out = PathBuf::from(&a.output);
    if out.extension().and_then(|e| e.to_str()) != Some("onnx") {
        return Err(CliError::new(format!("-o {}: expected a .onnx file name", out.display())));
    }
    if a.pixel_weight && !a.with_weight {
        return Err(CliError::new("--pixel-weight needs --with-weight (it sets the shape of the `weight` input)"));
    }
    let attach = a.attach.as_ref().map(PathBuf::from);
    let to = a.to.as_deref();
    let model = match (&attach, to) {
        (Some(m), Some(_)) => Some(read_model(m)?),
        (Some(_), None) => return Err(CliError::new("--attach needs --to OUTPUT (the model output that feeds the loss)")),
        (None, Some(_)) => return Err(CliError::new("--to needs --attach MODEL.onnx")),
        (None, None) => None,
    };
    if let (Some(_), Some(n)) = (&model, a.opset) {
        return Err(CliError::new(format!("--opset {n}: with --attach the model's opset is kept (drop --opset)")));
    }
    // the note on the attached output when its rank is not declared
    let mut note = "";
    let rank = match (a.rank, &model, to) {
        (Some(r), _, _) => r,
        (None, Some(m), Some(to)) => declared_rank(m, to).unwrap_or_else(|| {
            note = ", rank 4 assumed (--rank to change)";
            4
        }),
        _ => 4,
    };
    let mut opts = ExportOptions {
        rank,
        channel: !a.no_channel,
        mode: a.mode.map(Into::into),
        classes: a.classes,
        with_weight: a.with_weight,
        pixel_weight: a.pixel_weight,
        ..ExportOptions::default()
    };
    if let Some(o) = a.opset {
        opts.opset = i64::try_from(o).unwrap_or(i64::MAX);
    }
    if let Some(prefix) = &a.prefix {
        opts.prefix = prefix.clone();
    }
    let result = match (model, to, &attach) {
        (Some(m), Some(to), Some(path)) => {
            segloss_onnx::attach(m, to, &spec, &opts).map_err(|e| export_error(e, &spec_str, a, Some((path, to))))?
        }
        _ => segloss_onnx::export(&spec, &opts).map_err(|e| export_error(e, &spec_str, a, None))?,
    };
    std::fs::write(&out, segloss_onnx::to_bytes(&result)).map_err(|e| CliError::new(format!("-o {}: cannot write: {e}", out.display())))?;
    let (ins, outs): (Vec<String>, Vec<String>) = result
        .graph
        .as_ref()
        .map(|g| {
            let note = |v: &ValueInfoProto| if Some(v.name.as_str()) == to { note } else { "" };
            (g.input.iter().map(|v| describe(v, note(v))).collect(), g.output.iter().map(|v| describe(v, note(v))).collect())
        })
        .unwrap_or_default();
    let opset = result.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map(|o| o.version).unwrap_or(0);
    outln!("wrote {} (`{spec}`, opset {opset}): inputs {}; outputs {}", out.display(), ins.join(", "), outs.join(", "))?;
    Ok(0)
}

/// Runs an ONNX model in tract on concrete `inputs` (in the order of the graph's inputs) and
/// returns its outputs as float32 arrays.
///
/// The model is parsed and typed with its symbolic dims; the symbols are then bound from the
/// declared dims of each input and the actual shapes (`set_symbols`) before optimizing, which is
/// what lets tract 0.23 run the Lovász graphs (their `TopK` takes K from `Shape`). Errors, as one
/// line: a model tract cannot parse, an input count, rank or declared size that disagrees with
/// the data, a symbol bound to two sizes, or a non-float output.
pub fn run_model(model: &ModelProto, inputs: Vec<Tensor>) -> Result<Vec<ArrayD<f32>>, CliError> {
    let g = model.graph.as_ref().ok_or_else(|| CliError::new("onnx: the model has no graph"))?;
    if g.input.len() != inputs.len() {
        return Err(CliError::new(format!("onnx: the model takes {} inputs, {} given", g.input.len(), inputs.len())));
    }
    let mut bound: Vec<(String, i64)> = Vec::new();
    for (vi, x) in g.input.iter().zip(&inputs) {
        let Some(type_proto::Value::TensorType(t)) = vi.r#type.as_ref().and_then(|t| t.value.as_ref()) else { continue };
        let Some(s) = &t.shape else { continue };
        if s.dim.len() != x.rank() {
            return Err(CliError::new(format!("onnx: input `{}` has rank {}, data {:?}", vi.name, s.dim.len(), x.shape())));
        }
        for (d, &n) in s.dim.iter().zip(x.shape()) {
            match &d.value {
                Some(dimension::Value::DimParam(p)) => match bound.iter().find(|(q, _)| q == p) {
                    Some((_, v)) if *v != n as i64 => {
                        return Err(CliError::new(format!("onnx: symbol {p} is {v} and {n} (input `{}`)", vi.name)));
                    }
                    Some(_) => {}
                    None => bound.push((p.clone(), n as i64)),
                },
                Some(dimension::Value::DimValue(v)) if *v != n as i64 => {
                    return Err(CliError::new(format!("onnx: input `{}` declares size {v}, data {:?}", vi.name, x.shape())));
                }
                _ => {}
            }
        }
    }
    let tract_err = |what: &str, e: TractError| CliError::new(format!("onnx: tract {what}: {e}"));
    let bytes = segloss_onnx::to_bytes(model);
    let typed = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .map_err(|e| tract_err("cannot read the model", e))?
        .into_typed()
        .map_err(|e| tract_err("cannot type the model", e))?;
    let mut subs = HashMap::new();
    for (name, v) in bound {
        subs.insert(typed.symbols.sym(&name), TDim::Val(v));
    }
    let plan = typed
        .set_symbols(&subs)
        .map_err(|e| tract_err("cannot bind the sizes", e))?
        .into_optimized()
        .map_err(|e| tract_err("cannot optimize", e))?
        .into_runnable()
        .map_err(|e| tract_err("cannot plan", e))?;
    let outs = plan.run(inputs.into_iter().map(|t| t.into_tvalue()).collect()).map_err(|e| tract_err("cannot run", e))?;
    outs.into_iter()
        .map(|t| {
            let t = t.into_tensor();
            t.into_plain_array::<f32>().map(|a| a.into_dyn()).map_err(|e| tract_err("output", e))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};

    fn bce() -> ModelProto {
        segloss_onnx::export(&parse_spec("bce").unwrap(), &ExportOptions::default()).unwrap()
    }

    fn t(shape: &[usize], v: f32) -> Tensor {
        Tensor::from(ArrayD::from_elem(IxDyn(shape), v))
    }

    #[test]
    fn run_model_binds_symbols_and_matches_the_formula() {
        // bce of logit 0 is ln 2 whatever the target.
        let out = run_model(&bce(), vec![t(&[2, 1, 3, 5], 0.0), t(&[2, 1, 3, 5], 1.0)]).unwrap();
        assert!((out[0].iter().next().unwrap() - std::f32::consts::LN_2).abs() < 1e-6, "{out:?}");
    }

    #[test]
    fn run_model_rejects_inputs_that_disagree_with_the_model() {
        let m = bce();
        let e = run_model(&m, vec![t(&[2, 1, 3, 5], 0.0)]).unwrap_err();
        assert!(e.0.contains("takes 2 inputs, 1 given"), "{e}");
        let e = run_model(&m, vec![t(&[2, 1, 3], 0.0), t(&[2, 1, 3], 0.0)]).unwrap_err();
        assert!(e.0.contains("input `pred` has rank 4"), "{e}");
        let e = run_model(&m, vec![t(&[2, 3, 3, 5], 0.0), t(&[2, 3, 3, 5], 0.0)]).unwrap_err();
        assert!(e.0.contains("declares size 1"), "{e}");
        let e = run_model(&m, vec![t(&[2, 1, 3, 5], 0.0), t(&[2, 1, 4, 5], 0.0)]).unwrap_err();
        assert!(e.0.contains("symbol H is 3 and 4"), "{e}");
        let e = run_model(&ModelProto::default(), vec![]).unwrap_err();
        assert!(e.0.contains("no graph"), "{e}");
    }

    #[test]
    fn describe_prints_type_and_dims() {
        let m = segloss_onnx::export(&parse_spec("ce").unwrap(), &ExportOptions { classes: Some(3), ..Default::default() }).unwrap();
        let g = m.graph.unwrap();
        assert_eq!(describe(&g.input[0], ""), "pred float [N, 3, H, W]");
        assert_eq!(describe(&g.input[1], ""), "target int64 [N, H, W]");
        assert_eq!(describe(&g.output[0], ""), "loss float []");
        let mut v = g.input[0].clone();
        if let Some(type_proto::Value::TensorType(t)) = v.r#type.as_mut().and_then(|t| t.value.as_mut()) {
            t.shape = None;
        }
        assert_eq!(describe(&v, ", x"), "pred float (shape not declared, x)");
        v.r#type = None;
        assert_eq!(describe(&v, ""), "pred (type and shape not declared)");
    }
}

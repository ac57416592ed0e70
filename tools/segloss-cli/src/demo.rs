//! `segloss demo`: every loss of the catalogue on a synthetic batch of touching cells, each
//! loss's ONNX graph run in tract on the same data, and PNG pictures of the batch.

use crate::args::DemoArgs;
use crate::data::{self, Cells};
use crate::eval::parse_spec;
use crate::out::fmt_f32;
use crate::{bench, image, CliError};
use ndarray::{ArrayD, IxDyn};
use segloss::core::WeightUse;
use segloss::{Batch, Loss, LossDecl, Mode};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tract_onnx::prelude::Tensor;

/// Images in the demo batch.
pub const N: usize = 4;
/// Image side in pixels.
pub const SIDE: usize = 256;
/// The seed of the demo batch.
pub const SEED: u64 = 2015;

/// Values for keys the catalogue marks `required`, by key.
fn required_value(key: &str) -> Option<&'static str> {
    match key {
        "beta" => Some("2"),
        _ => None,
    }
}

/// One row of the demo table.
#[derive(Debug, Clone)]
pub struct Row {
    /// The spec used.
    pub spec: String,
    /// `binary` or `3-class`.
    pub data: &'static str,
    /// The loss value.
    pub value: f32,
    /// The L2 norm of the gradient.
    pub grad_l2: f64,
    /// Median time of forward + backward, ms.
    pub ms: f64,
    /// Millions of pred elements per second.
    pub melem: f64,
    /// |onnx - native| of the value: the row's exported graph run in tract on the same data
    /// (`None` until [`check_onnx`] ran, or when the export or the run failed).
    pub onnx_diff: Option<f64>,
}

/// The distance map (`edt` of each image's mask, `[N, H, W]`) and the U-Net weight map (from
/// each image's instances, `[N, H, W]`) of the demo batch.
pub fn maps(cells: &Cells) -> segloss::Result<(ArrayD<f32>, ArrayD<f32>)> {
    use segloss::distance::{edt, unet_weights_from_instances, EdtOptions, UnetWeightConfig};
    let (n, h, w) = cells.instances.dim();
    let mut d = ArrayD::<f32>::zeros(IxDyn(&[n, h, w]));
    let mut u = ArrayD::<f32>::zeros(IxDyn(&[n, h, w]));
    for i in 0..n {
        let inst = cells.instances.index_axis(ndarray::Axis(0), i).into_dyn();
        let mask = inst.mapv(|l| (l > 0) as u8);
        d.index_axis_mut(ndarray::Axis(0), i).assign(&edt(mask.view(), &EdtOptions::default())?);
        u.index_axis_mut(ndarray::Axis(0), i).assign(&unet_weights_from_instances(inst, &UnetWeightConfig::default())?);
    }
    Ok((d, u))
}

fn time_loss(loss: &dyn Loss, batch: &Batch<'_>, pool: &rayon::ThreadPool) -> segloss::Result<(f32, f64, f64)> {
    let mut grad = ArrayD::<f32>::zeros(IxDyn(batch.pred.shape()));
    let (value, mut times) = pool.install(|| -> segloss::Result<(f32, Vec<f64>)> {
        let mut times = Vec::new();
        let mut v = 0.0;
        for _ in 0..3 {
            let t0 = Instant::now();
            v = loss.forward_backward_into(batch, grad.view_mut(), 1.0)?;
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        Ok((v, times))
    })?;
    let grad_l2 = grad.iter().map(|&g| g as f64 * g as f64).sum::<f64>().sqrt();
    Ok((value, grad_l2, bench::median(&mut times)))
}

/// Computes every catalogue loss that accepts the demo data: on the binary batch and on the
/// 3-class labels, and, for a loss that takes neither, on the binary batch with the distance
/// map `edt` as its weight (`distance_bce`). With `unet`, adds `bce` weighted by the U-Net map.
/// Returns the rows and the skipped losses with their reasons.
pub fn table(
    cells: &Cells,
    catalogue: &[LossDecl],
    edt: Option<&ArrayD<f32>>,
    unet: Option<&ArrayD<f32>>,
    pool: &rayon::ThreadPool,
) -> (Vec<Row>, Vec<(String, String)>) {
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    let datasets: [(&'static str, Batch<'_>); 2] =
        [("binary", Batch::new(&cells.logits, &cells.mask)), ("3-class", Batch::new(&cells.class_logits, &cells.labels))];
    let with_edt = edt.map(|d| ("bin+edt", Batch::new(&cells.logits, &cells.mask).with_weight(d)));
    let mut push = |spec: &str, data: &'static str, r: (f32, f64, f64), len: usize| {
        let (value, grad_l2, ms) = r;
        rows.push(Row { spec: spec.to_string(), data, value, grad_l2, ms, melem: len as f64 / (ms / 1e3) / 1e6, onnx_diff: None });
    };
    for decl in catalogue {
        let mut keys = Vec::new();
        let mut missing = None;
        for k in decl.keys().iter().filter(|k| k.default == "required") {
            match required_value(k.key) {
                Some(v) => keys.push(format!("{}={v}", k.key)),
                None => missing = Some(k.key),
            }
        }
        if let Some(k) = missing {
            skipped.push((decl.name.to_string(), format!("needs a value for `{k}`")));
            continue;
        }
        let spec_str = if keys.is_empty() { decl.name.to_string() } else { format!("{}:{}", decl.name, keys.join(",")) };
        let loss = match parse_spec(&spec_str).and_then(|s| s.build().map_err(|e| CliError::new(e.to_string()))) {
            Ok(l) => l,
            Err(e) => {
                skipped.push((spec_str, e.0));
                continue;
            }
        };
        // the registry says which data the loss accepts: its modes, and whether it needs a weight
        let runs: Vec<&(&'static str, Batch<'_>)> = match (decl.weight, &with_edt) {
            (WeightUse::Required, Some(d)) if decl.accepts(Mode::Binary) => vec![d],
            (WeightUse::Required, _) => Vec::new(),
            _ => {
                datasets.iter().filter(|(data, _)| decl.accepts(if *data == "binary" { Mode::Binary } else { Mode::Multiclass })).collect()
            }
        };
        if runs.is_empty() {
            let modes: Vec<&str> = decl.modes.iter().map(|m| m.name()).collect();
            skipped.push((spec_str, format!("no demo data for its modes ({}) and weight", modes.join(", "))));
            continue;
        }
        for (data, batch) in runs {
            match time_loss(&loss, batch, pool) {
                Ok(r) => push(&spec_str, data, r, batch.pred.len()),
                Err(e) => skipped.push((format!("{spec_str} ({data})"), e.to_string())),
            }
        }
    }
    if let Some(u) = unet {
        let batch = Batch::new(&cells.logits, &cells.mask).with_weight(u);
        match parse_spec("bce").and_then(|s| s.build().map_err(|e| CliError::new(e.to_string()))) {
            Ok(loss) => match time_loss(&loss, &batch, pool) {
                Ok(r) => push("bce", "bin+unet", r, batch.pred.len()),
                Err(e) => skipped.push(("bce (U-Net weights)".into(), e.to_string())),
            },
            Err(e) => skipped.push(("bce (U-Net weights)".into(), e.0)),
        }
    }
    (rows, skipped)
}

/// The table as text (`-` in the `onnx diff` column of a row whose graph was not checked).
pub fn format_table(rows: &[Row]) -> String {
    let w = rows.iter().map(|r| r.spec.len()).max().unwrap_or(4).max(4);
    // the value column fits the longest shortest-form value (at most 13 characters in f32)
    let v = rows.iter().map(|r| fmt_f32(r.value).len()).max().unwrap_or(5).max(10);
    let mut s = format!(
        "{:w$}  {:8}  {:>v$}  {:>10}  {:>9}  {:>9}  {:>9}\n",
        "loss", "data", "value", "grad L2", "time ms", "M elem/s", "onnx diff"
    );
    for r in rows {
        let diff = r.onnx_diff.map_or("-".to_string(), |d| format!("{d:.1e}"));
        s += &format!(
            "{:w$}  {:8}  {:>v$}  {:>10.4e}  {:>9.3}  {:>9.1}  {:>9}\n",
            r.spec,
            r.data,
            fmt_f32(r.value),
            r.grad_l2,
            r.ms,
            r.melem,
            diff
        );
    }
    s
}

/// The file name of a row's ONNX graph: `<spec>_<data>.onnx` with every character other than
/// ASCII letters and digits replaced by `_` (`wce:beta=2`, `binary` -> `wce_beta_2_binary.onnx`).
pub fn onnx_file_name(spec: &str, data: &str) -> String {
    let safe = |s: &str| -> String { s.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect() };
    format!("{}_{}.onnx", safe(spec), safe(data))
}

/// Exports one row's loss (rank 4; `with_weight` and a per-pixel `[N, H, W]` weight for the
/// weighted rows, 3 classes for the 3-class rows), writes it to `path`, runs it in tract on the
/// row's data and returns |onnx - native| of the value, or (inner `Err`) why the loss has no ONNX
/// graph.
fn check_row(
    cells: &Cells,
    edt: Option<&ArrayD<f32>>,
    unet: Option<&ArrayD<f32>>,
    row: &Row,
    path: &Path,
) -> Result<Result<f64, String>, CliError> {
    let spec = parse_spec(&row.spec)?;
    let weight = match row.data {
        "bin+edt" => Some(edt.ok_or_else(|| CliError::new("no distance map"))?),
        "bin+unet" => Some(unet.ok_or_else(|| CliError::new("no U-Net weight map"))?),
        _ => None,
    };
    let multiclass = row.data == "3-class";
    let opts = segloss_onnx::ExportOptions {
        rank: 4,
        classes: multiclass.then_some(3),
        with_weight: weight.is_some(),
        pixel_weight: weight.is_some(),
        ..Default::default()
    };
    let model = match segloss_onnx::export(&spec, &opts) {
        Ok(m) => m,
        // a loss with no ONNX form (hausdorff_dt: docs/LOSSES.md says why) is not a failure
        Err(segloss_onnx::ExportError::Unsupported { reason, .. }) => return Ok(Err(reason)),
        Err(e) => return Err(CliError::new(format!("export: {e}"))),
    };
    std::fs::write(path, segloss_onnx::to_bytes(&model)).map_err(|e| CliError::new(format!("{}: cannot write: {e}", path.display())))?;
    let mut inputs = Vec::new();
    if multiclass {
        inputs.push(Tensor::from(cells.class_logits.clone()));
        inputs.push(Tensor::from(cells.labels.mapv(|l| l as i64)));
    } else {
        inputs.push(Tensor::from(cells.logits.clone()));
        inputs.push(Tensor::from(cells.mask.clone()));
    }
    if let Some(w) = weight {
        inputs.push(Tensor::from(w.clone()));
    }
    // `boundary`'s graph takes its distance map as an input (docs/LOSSES.md): the demo rows use
    // the loss's defaults, so the map is `boundary_map` with the default config
    let graph_inputs = model.graph.as_ref().map(|g| g.input.iter().map(|i| i.name.as_str()).collect::<Vec<_>>()).unwrap_or_default();
    if graph_inputs.contains(&"boundary_map") {
        if row.spec != "boundary" {
            return Err(CliError::new(format!("no boundary map for `{}` in the demo", row.spec)));
        }
        let (pred, target) = if multiclass {
            (&cells.class_logits, segloss::Target::from(&cells.labels))
        } else {
            (&cells.logits, segloss::Target::from(&cells.mask))
        };
        let map = segloss::distance::boundary_map(target, pred.shape(), &segloss::distance::BoundaryConfig::default())
            .map_err(|e| CliError::new(format!("boundary map: {e}")))?;
        inputs.push(Tensor::from(map));
    }
    let outs = crate::export::run_model(&model, inputs)?;
    let got = outs.first().and_then(|o| o.iter().next().copied()).ok_or_else(|| CliError::new("onnx: no `loss` output"))?;
    Ok(Ok((got as f64 - row.value as f64).abs()))
}

/// A row (`spec (data)`) and a reason.
pub type Reason = (String, String);

/// Exports every row's loss into `dir` ([`onnx_file_name`]), runs each graph in tract on the
/// row's data and sets [`Row::onnx_diff`]. Returns the files written, the rows that failed with
/// the reason, and the rows whose loss has no ONNX graph with the reason.
pub fn check_onnx(
    cells: &Cells,
    edt: Option<&ArrayD<f32>>,
    unet: Option<&ArrayD<f32>>,
    rows: &mut [Row],
    dir: &Path,
) -> (Vec<PathBuf>, Vec<Reason>, Vec<Reason>) {
    let mut written = Vec::new();
    let mut failed = Vec::new();
    let mut no_graph = Vec::new();
    for row in rows.iter_mut() {
        let path = dir.join(onnx_file_name(&row.spec, row.data));
        let name = format!("{} ({})", row.spec, row.data);
        match check_row(cells, edt, unet, row, &path) {
            Ok(Ok(d)) => {
                row.onnx_diff = Some(d);
                written.push(path);
            }
            Ok(Err(why)) => no_graph.push((name, why)),
            Err(e) => failed.push((name, e.0)),
        }
    }
    (written, failed, no_graph)
}

fn write_pictures(cells: &Cells, maps: Option<&(ArrayD<f32>, ArrayD<f32>)>, dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    std::fs::create_dir_all(dir).map_err(|e| CliError::new(format!("--out {}: cannot create: {e}", dir.display())))?;
    let mut written = Vec::new();
    let mask: Vec<_> = (0..N).map(|i| cells.instances.index_axis(ndarray::Axis(0), i).mapv(|l| (l > 0) as i64)).collect();
    let views: Vec<_> = mask.iter().map(|m| m.view()).collect();
    let p = dir.join("mask.png");
    image::label_map(&views, &[(0, "background"), (1, "cell")], "binary mask").write(&p)?;
    written.push(p);
    let labels = image::images_2d(&cells.labels, "labels")?;
    let labels: Vec<_> = labels.iter().map(|m| m.mapv(|l| l as i64)).collect();
    let views: Vec<_> = labels.iter().map(|m| m.view()).collect();
    let p = dir.join("labels.png");
    image::label_map(&views, &[(0, "background"), (1, "interior"), (2, "border")], "3-class labels").write(&p)?;
    written.push(p);
    let prob = cells.logits.mapv(|x| 1.0 / (1.0 + (-x).exp()));
    let prob = image::images_2d(&prob, "prediction")?;
    let views: Vec<_> = prob.iter().map(|m| m.view()).collect();
    let p = dir.join("prediction.png");
    image::heatmap(&views, Some((0.0, 1.0)), "prediction: sigmoid(logits)").write(&p)?;
    written.push(p);
    if let Some((d, u)) = maps {
        for (name, m, caption) in
            [("distance.png", d, "distance map: edt(mask)"), ("unet_weights.png", u, "u-net weights: w0=10, sigma=5, balanced")]
        {
            let imgs = image::images_2d(m, name)?;
            let views: Vec<_> = imgs.iter().map(|m| m.view()).collect();
            let p = dir.join(name);
            image::heatmap(&views, None, caption).write(&p)?;
            written.push(p);
        }
    }
    Ok(written)
}

/// Runs `segloss demo`.
pub fn run(a: &DemoArgs) -> Result<i32, CliError> {
    let out = PathBuf::from(&a.out);
    let (pool, threads) = crate::thread_pool(&a.threads)?;
    let cells = data::cells(N, SIDE, SIDE, SEED);
    outln!(
        "synthetic batch: {N} images of {SIDE}x{SIDE} touching cells; binary mask {:?} ({:.1}% foreground), 3-class labels {:?}; {threads} thread(s)\n",
        cells.mask.shape(),
        100.0 * cells.mask.sum() / cells.mask.len() as f32,
        cells.labels.shape()
    )?;
    let cat = segloss::catalogue();
    let maps = pool.install(|| maps(&cells)).map_err(|e| CliError::new(format!("demo distance maps: {e}")))?;
    let (mut rows, skipped) = table(&cells, cat, Some(&maps.0), Some(&maps.1), &pool);
    std::fs::create_dir_all(&out).map_err(|e| CliError::new(format!("--out {}: cannot create: {e}", out.display())))?;
    let (graphs, onnx_failed, no_graph) = pool.install(|| check_onnx(&cells, Some(&maps.0), Some(&maps.1), &mut rows, &out));
    out!("{}", format_table(&rows))?;
    for (spec, why) in &skipped {
        outln!("skipped {spec}: {why}")?;
    }
    for (row, why) in &no_graph {
        outln!("no ONNX graph for {row}: {why}")?;
    }
    for (row, why) in &onnx_failed {
        outln!("onnx check failed for {row}: {why}")?;
    }
    let written = write_pictures(&cells, Some(&maps), &out)?;
    outln!()?;
    outln!("wrote {} ONNX graphs (one per row) into {}", graphs.len(), out.display())?;
    for f in written {
        outln!("wrote {}", f.display())?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onnx_file_names_are_file_safe_and_distinct_per_row() {
        assert_eq!(onnx_file_name("wce:beta=2", "binary"), "wce_beta_2_binary.onnx");
        assert_eq!(onnx_file_name("bce", "bin+unet"), "bce_bin_unet.onnx");
        assert_eq!(onnx_file_name("0.5*ce+dice", "3-class"), "0_5_ce_dice_3_class.onnx");
        assert_ne!(onnx_file_name("focal", "binary"), onnx_file_name("focal", "3-class"));
    }
}

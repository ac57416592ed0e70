//! `segloss demo`: every loss of the catalogue on a synthetic batch of touching cells, and PNG
//! pictures of the batch.

use crate::args::{self, val};
use crate::data::{self, Cells};
use crate::eval::parse_spec;
use crate::{bench, image, CliError};
use ndarray::{ArrayD, IxDyn};
use segloss::{Batch, Loss, LossInfo};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// `segloss demo --help`.
pub const HELP: &str = "\
usage: segloss demo [--out DIR] [--threads N]

Builds a deterministic synthetic batch (no download): 4 images of 256 x 256 pixels of touching
cell-like discs and ellipses, as a binary mask [4, 1, 256, 256] and as 3-class labels
[4, 256, 256] (0 background, 1 cell interior, 2 cell border), with noisy logits for each. Computes
every loss of the catalogue that accepts the data (binary losses on the mask, multiclass ones on
the labels; losses taking both appear twice) and prints a table: spec, data, value, gradient L2
norm, time in ms (median of 3) and M pred elements/s. Losses that need more than the data are
listed as skipped with the reason. distance_bce runs on the binary batch with the distance map
(edt of the mask) as its weight (data `bin+edt`), and bce once more weighted by the U-Net weight
map of the cells (data `bin+unet`).

Writes into DIR (default demo-out), as PNG pictures of the 4 images in a 2 x 2 grid:
  mask.png        the binary mask (legend: 0, 1)
  labels.png      the 3-class labels (legend: 0, 1, 2)
  prediction.png  sigmoid of the binary logits (heat map, colour bar from 0 to 1)
  distance.png    the distance map: edt of the mask (heat map with colour bar)
  unet_weights.png  the U-Net weight map (w0 = 10, sigma = 5, balanced; heat map with colour bar)

  --out DIR       output folder (created if missing; default demo-out)
  --threads N     worker threads (default: all cores)
";

const FLAGS: &[args::Flag] = &[val("--out"), val("--threads")];

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
    catalogue: &[&LossInfo],
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
        rows.push(Row { spec: spec.to_string(), data, value, grad_l2, ms, melem: len as f64 / (ms / 1e3) / 1e6 });
    };
    for info in catalogue {
        let mut keys = Vec::new();
        let mut missing = None;
        for k in info.keys.iter().filter(|k| k.default == "required") {
            match required_value(k.key) {
                Some(v) => keys.push(format!("{}={v}", k.key)),
                None => missing = Some(k.key),
            }
        }
        if let Some(k) = missing {
            skipped.push((info.name.to_string(), format!("needs a value for `{k}`")));
            continue;
        }
        let spec_str = if keys.is_empty() { info.name.to_string() } else { format!("{}:{}", info.name, keys.join(",")) };
        let loss = match parse_spec(&spec_str).and_then(|s| s.build().map_err(|e| CliError::new(e.to_string()))) {
            Ok(l) => l,
            Err(e) => {
                skipped.push((spec_str, e.0));
                continue;
            }
        };
        let mut reasons = Vec::new();
        let mut any = false;
        for (data, batch) in &datasets {
            match time_loss(&loss, batch, pool) {
                Ok(r) => {
                    any = true;
                    push(&spec_str, data, r, batch.pred.len());
                }
                Err(e) => reasons.push(format!("{data}: {e}")),
            }
        }
        if let (false, Some((data, batch))) = (any, &with_edt) {
            match time_loss(&loss, batch, pool) {
                Ok(r) => {
                    any = true;
                    push(&spec_str, data, r, batch.pred.len());
                }
                Err(e) => reasons.push(format!("{data}: {e}")),
            }
        }
        if !any {
            skipped.push((spec_str, reasons.join("; ")));
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

/// The table as text.
pub fn format_table(rows: &[Row]) -> String {
    let w = rows.iter().map(|r| r.spec.len()).max().unwrap_or(4).max(4);
    let mut s = format!("{:w$}  {:8}  {:>10}  {:>10}  {:>9}  {:>9}\n", "loss", "data", "value", "grad L2", "time ms", "M elem/s");
    for r in rows {
        s += &format!("{:w$}  {:8}  {:>10.6}  {:>10.4e}  {:>9.3}  {:>9.1}\n", r.spec, r.data, r.value, r.grad_l2, r.ms, r.melem);
    }
    s
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
pub fn run(argv: &[String]) -> Result<i32, CliError> {
    let p = args::parse("demo", argv, FLAGS)?;
    p.positionals(0, "no positional argument")?;
    let out = PathBuf::from(p.get("--out").unwrap_or("demo-out"));
    let (pool, threads) = crate::thread_pool(&p)?;
    let cells = data::cells(N, SIDE, SIDE, SEED);
    println!(
        "synthetic batch: {N} images of {SIDE}x{SIDE} touching cells; binary mask {:?} ({:.1}% foreground), 3-class labels {:?}; {threads} thread(s)\n",
        cells.mask.shape(),
        100.0 * cells.mask.sum() / cells.mask.len() as f32,
        cells.labels.shape()
    );
    let cat = segloss::catalogue();
    let maps = pool.install(|| maps(&cells)).map_err(|e| CliError::new(format!("demo distance maps: {e}")))?;
    let (rows, skipped) = table(&cells, &cat, Some(&maps.0), Some(&maps.1), &pool);
    print!("{}", format_table(&rows));
    for (spec, why) in &skipped {
        println!("skipped {spec}: {why}");
    }
    let written = write_pictures(&cells, Some(&maps), &out)?;
    println!();
    for f in written {
        println!("wrote {}", f.display());
    }
    Ok(0)
}

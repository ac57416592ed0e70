//! `segloss bench`: times forward + backward of a loss on deterministic generated data.

use crate::args::{self, switch, val};
use crate::data;
use crate::eval::{parse_spec, spec_error};
use crate::io::OwnedTarget;
use crate::out::{clip, fmt_f32, json_f32};
use crate::CliError;
use ndarray::{ArrayD, IxDyn};
use segloss::{Batch, Loss};
use std::time::Instant;

/// `segloss bench --help`.
pub const HELP: &str = "\
usage: segloss bench TARGET --shape A,B[,C..] [--threads N] [--iters K] [--json]
       segloss bench edt|unet_weights --shape H,W[,D..] [--threads N] [--iters K] [--json]

Times forward plus backward (forward_backward_into a preallocated gradient buffer) of TARGET, a
loss spec (e.g. `bce`, `focal:gamma=2`, `bce+dice`), on deterministic data of pred's shape
--shape (e.g. 8,1,256,256): for C = 1 (axis 1) binary float targets with 30% positives, otherwise
integer labels [N, *S] in [0, C). distance_bce gets a per-pixel weight map. Prints the median time
in ms and the throughput in millions of pred elements per second.

TARGET `edt` times the distance transform and `unet_weights` the U-Net weight map (from the
connected components of a mask) on a mask of touching discs (balls), --shape [H, W] or [D, H, W].

  --shape A,B,..  pred's shape [N, C, *S]
  --iters K       timed runs after one warm-up run (default 10, at most 1000000)
  --threads N     worker threads (default: all cores)
  --json          prints one JSON object: spec, shape, threads, iters, median_ms, min_ms,
                  melem_per_s, loss
";

const FLAGS: &[args::Flag] = &[val("--shape"), val("--threads"), val("--iters"), switch("--json")];

/// The largest number of pred elements bench generates.
pub const MAX_ELEMENTS: usize = 1 << 28;

/// The largest `--iters`: the timings are kept (8 bytes each) for the median.
pub const MAX_ITERS: usize = 1_000_000;

/// The median of `v` (sorted in place).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs `segloss bench`.
pub fn run(argv: &[String]) -> Result<i32, CliError> {
    let p = args::parse("bench", argv, FLAGS)?;
    let target = p.positionals(1, "one TARGET (a loss spec)")?[0].clone();
    let shape = p.dims("--shape")?.ok_or_else(|| CliError::new("`segloss bench` needs --shape (e.g. --shape 8,1,256,256)"))?;
    let len = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).filter(|&l| l <= MAX_ELEMENTS);
    let Some(len) = len else {
        return Err(CliError::new(format!("--shape: more than {MAX_ELEMENTS} elements")));
    };
    if !(3..=5).contains(&shape.len()) && target != "edt" && target != "unet_weights" {
        return Err(CliError::new(format!(
            "--shape: expected pred's shape [N, C, *S] with one to three spatial axes (3 to 5 numbers), got {} numbers",
            shape.len()
        )));
    }
    let iters = p.count("--iters", MAX_ITERS, "runs")?.unwrap_or(10);
    let (pool, threads) = crate::thread_pool(&p)?;
    if target == "edt" || target == "unet_weights" {
        return bench_distance(&target, &shape, len, iters, &pool, threads, p.has("--json"));
    }
    let spec = parse_spec(&target)?;
    let loss = spec.build().map_err(|e| spec_error(&target, &e))?;
    let (pred, tgt) = data::bench_batch(&shape, 0x5e9_1055);
    let needs_weight = spec.terms.iter().any(|t| t.name == "distance_bce");
    let weight = needs_weight.then(|| {
        let mut pix = vec![shape[0]];
        pix.extend(&shape[2..]);
        let mut rng = data::Rng::new(17);
        let n = pix.iter().product();
        ArrayD::from_shape_vec(IxDyn(&pix), (0..n).map(|_| rng.next_f32() * 5.0).collect()).expect("shape")
    });
    let mut batch = Batch::new(&pred, tgt.view());
    if let Some(w) = &weight {
        batch = batch.with_weight(w);
    }
    let mut grad = ArrayD::<f32>::zeros(IxDyn(&shape));
    let fail = |e: segloss::LossError| CliError::new(format!("bench `{}` on generated data of shape {shape:?}: {e}", clip(&target)));
    let (value, mut times) = pool.install(|| -> Result<(f32, Vec<f64>), CliError> {
        let v = loss.forward_backward_into(&batch, grad.view_mut(), 1.0).map_err(fail)?;
        let mut times = Vec::with_capacity(iters);
        for _ in 0..iters {
            let t0 = Instant::now();
            loss.forward_backward_into(&batch, grad.view_mut(), 1.0).map_err(fail)?;
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        Ok((v, times))
    })?;
    let min = times.iter().copied().fold(f64::INFINITY, f64::min);
    let med = median(&mut times);
    let melem = len as f64 / (med / 1e3) / 1e6;
    let target_kind = match tgt {
        OwnedTarget::F32(_) => "binary float targets (30% positive)",
        _ => "integer labels",
    };
    if p.has("--json") {
        let o = serde_json::json!({
            "spec": spec.to_string(),
            "shape": shape,
            "threads": threads,
            "iters": iters,
            "median_ms": med,
            "min_ms": min,
            "melem_per_s": melem,
            "loss": json_f32(value),
        });
        outln!("{o}")?;
    } else {
        outln!(
            "{spec}  shape {shape:?} ({target_kind}), {threads} thread(s), {iters} iters: median {med:.3} ms (min {min:.3} ms), {melem:.1} M elements/s, loss {}",
            fmt_f32(value)
        )?;
    }
    Ok(0)
}

fn bench_distance(
    target: &str,
    shape: &[usize],
    len: usize,
    iters: usize,
    pool: &rayon::ThreadPool,
    threads: usize,
    json: bool,
) -> Result<i32, CliError> {
    use segloss::distance::{edt, unet_weights_from_mask, EdtOptions, UnetWeightConfig};
    if shape.len() != 2 && shape.len() != 3 {
        return Err(CliError::new(format!("--shape: `{target}` takes a 2D [H, W] or 3D [D, H, W] shape, got {shape:?}")));
    }
    let mask = data::blobs(shape, 0xd157);
    let fail = |e: segloss::LossError| CliError::new(format!("bench `{target}` on generated data of shape {shape:?}: {e}"));
    let run = || -> segloss::Result<ArrayD<f32>> {
        if target == "edt" {
            edt(mask.view(), &EdtOptions::default())
        } else {
            unet_weights_from_mask(mask.view(), &UnetWeightConfig::default())
        }
    };
    let mut times = pool.install(|| -> Result<Vec<f64>, CliError> {
        run().map_err(fail)?;
        let mut times = Vec::with_capacity(iters);
        for _ in 0..iters {
            let t0 = Instant::now();
            let out = run().map_err(fail)?;
            times.push(t0.elapsed().as_secs_f64() * 1e3);
            drop(out);
        }
        Ok(times)
    })?;
    let min = times.iter().copied().fold(f64::INFINITY, f64::min);
    let med = median(&mut times);
    let melem = len as f64 / (med / 1e3) / 1e6;
    if json {
        let o = serde_json::json!({
            "spec": target, "shape": shape, "threads": threads, "iters": iters,
            "median_ms": med, "min_ms": min, "melem_per_s": melem,
        });
        outln!("{o}")?;
    } else {
        outln!("{target}  shape {shape:?} (touching discs), {threads} thread(s), {iters} iters: median {med:.3} ms (min {min:.3} ms), {melem:.1} M elements/s")?;
    }
    Ok(0)
}

//! `segloss bench`: times forward + backward of a loss on deterministic generated data.

use crate::args::BenchArgs;
use crate::data;
use crate::eval::{parse_spec, spec_error};
use crate::io::OwnedTarget;
use crate::out::{clip, fmt_f32, json_f32};
use crate::CliError;
use ndarray::{ArrayD, IxDyn};
use segloss::{Batch, Loss};
use std::time::Instant;

/// The largest number of pred elements bench generates.
pub const MAX_ELEMENTS: usize = 1 << 28;

/// The largest `--iters` ([`crate::args::iters`]): the timings are kept (8 bytes each) for the
/// median.
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
pub fn run(a: &BenchArgs) -> Result<i32, CliError> {
    let target = a.target.clone();
    let shape = a.shape.0.clone();
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
    let iters = a.iters;
    let (pool, threads) = crate::thread_pool(&a.threads)?;
    if target == "edt" || target == "unet_weights" {
        return bench_distance(&target, &shape, len, iters, &pool, threads, a.json);
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
    if a.json {
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

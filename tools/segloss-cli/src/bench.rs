//! `segloss bench`: times forward + backward of a loss on deterministic generated data.

use crate::args::BenchArgs;
use crate::data;
use crate::eval::{parse_spec, spec_error};
use crate::io::OwnedTarget;
use crate::out::{clip, fmt_f32, json_f32};
use crate::roofline;
use crate::CliError;
use ndarray::{ArrayD, IxDyn};
use segloss::{Batch, Loss};
use std::time::Instant;

/// The largest number of pred elements bench generates.
pub const MAX_ELEMENTS: usize = 1 << 28;

/// The largest `--iters` ([`crate::args::iters`]): the timings are kept (8 bytes each) for the
/// median.
pub const MAX_ITERS: usize = 1_000_000;

/// Time-based runs (no `--iters`): warm-up runs for this long (at least one run) ...
pub const WARM_UP_S: f64 = 0.2;
/// ... then timed runs until at least this long and [`MIN_RUNS`] runs have passed ...
pub const MIN_TIME_S: f64 = 1.0;
/// ... (the run count) ...
pub const MIN_RUNS: usize = 50;
/// ... or, for slow workloads, this long with at least [`FEW_RUNS`] runs.
pub const MAX_TIME_S: f64 = 20.0;
/// The fewest timed runs of a slow workload.
pub const FEW_RUNS: usize = 10;

/// A row whose p90 over its fastest run exceeds this is flagged as unsteady.
pub const SPREAD_FLAG: f64 = 1.3;

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

/// The timings of one workload, in ms.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Timed runs.
    pub runs: usize,
    /// Fastest run.
    pub min: f64,
    /// Median run.
    pub median: f64,
    /// 90th percentile (nearest rank: the run at position ceil(0.9 runs) in order).
    pub p90: f64,
}

impl Stats {
    /// From the times of the runs (at least one).
    pub fn of(mut times: Vec<f64>) -> Stats {
        let median = median(&mut times);
        let n = times.len();
        let p90 = times[(n * 9).div_ceil(10).max(1) - 1];
        Stats { runs: n, min: times[0], median, p90 }
    }

    /// p90 over the fastest run.
    pub fn spread(&self) -> f64 {
        self.p90 / self.min.max(1e-12)
    }

    /// The text form: runs, min / median / p90 and the spread (flagged above [`SPREAD_FLAG`]).
    fn text(&self) -> String {
        let flag = if self.spread() > SPREAD_FLAG { ", unsteady: over 1.3" } else { "" };
        format!(
            "{} runs: min {:.3} ms, median {:.3} ms, p90 {:.3} ms (p90/min {:.2}{flag})",
            self.runs,
            self.min,
            self.median,
            self.p90,
            self.spread()
        )
    }
}

/// Times `f`: one warm-up run and exactly `iters` timed runs, or (no `iters`) the time-based
/// schedule of [`WARM_UP_S`], [`MIN_TIME_S`], [`MIN_RUNS`], [`MAX_TIME_S`] and [`FEW_RUNS`].
pub fn time_runs<E>(iters: Option<usize>, mut f: impl FnMut() -> Result<(), E>) -> Result<Stats, E> {
    let start = Instant::now();
    f()?;
    if iters.is_none() {
        while start.elapsed().as_secs_f64() < WARM_UP_S {
            f()?;
        }
    }
    let mut times = Vec::new();
    let t0 = Instant::now();
    loop {
        let done = match iters {
            Some(k) => times.len() >= k,
            None => {
                let t = t0.elapsed().as_secs_f64();
                (t >= MIN_TIME_S && times.len() >= MIN_RUNS) || (t >= MAX_TIME_S && times.len() >= FEW_RUNS) || times.len() >= MAX_ITERS
            }
        };
        if done {
            break;
        }
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(Stats::of(times))
}

/// The SIMD level the kernels run at (`baseline`, `avx2` or `avx512`; README, "SIMD: run-time
/// dispatch"), as `SEGLOSS_SIMD` names it.
fn simd_level() -> &'static str {
    segloss::core::simd::Level::current().name()
}

/// Runs `segloss bench`.
pub fn run(a: &BenchArgs) -> Result<i32, CliError> {
    if let Some(Err(e)) = segloss::core::simd::Level::from_env() {
        // the kernels ignore it (README): say so, since the timings are at another level
        eprintln!("segloss bench: {e}; ignored, the kernels run at the detected level {}", simd_level());
    }
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
        return bench_distance(&target, &shape, len, iters, &pool, threads, a.json, a.roofline);
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
    let (value, st) = pool.install(|| -> Result<(f32, Stats), CliError> {
        let v = loss.forward_backward_into(&batch, grad.view_mut(), 1.0).map_err(fail)?;
        let st = time_runs(iters, || loss.forward_backward_into(&batch, grad.view_mut(), 1.0).map(drop).map_err(fail))?;
        Ok((v, st))
    })?;
    let melem = len as f64 / (st.median / 1e3) / 1e6;
    let sorts = spec.terms.iter().any(|t| t.name.starts_with("lovasz_"));
    let limits = a.roofline.then(|| pool.install(|| limits(&pred, &tgt, &shape, sorts, iters)));
    let target_kind = match tgt {
        OwnedTarget::F32(_) => "binary float targets (30% positive)",
        _ => "integer labels",
    };
    if a.json {
        let o = serde_json::json!({
            "spec": spec.to_string(),
            "shape": shape,
            "threads": threads,
            "iters": st.runs,
            "min_ms": st.min,
            "median_ms": st.median,
            "p90_ms": st.p90,
            "spread": st.spread(),
            "melem_per_s": melem,
            "loss": json_f32(value),
            "simd_level": simd_level(),
        });
        let mut o = o;
        if let Some(l) = &limits {
            o["stream_ms"] = l.stream.median.into();
            o["stream_fraction"] = (l.stream.median / st.median).into();
            if let Some(sort) = &l.sort {
                o["sort_ms"] = sort.median.into();
                o["sort_fraction"] = (sort.median / st.median).into();
            }
        }
        outln!("{o}")?;
    } else {
        outln!(
            "{spec}  shape {shape:?} ({target_kind}), {threads} thread(s), SIMD level {}, {}, {melem:.1} M elements/s, loss {}",
            simd_level(),
            st.text(),
            fmt_f32(value)
        )?;
        if let Some(l) = &limits {
            outln!("  stream (read pred and target, write a gradient): {}; fraction {:.2}", l.stream.text(), l.stream.median / st.median)?;
            if let Some(sort) = &l.sort {
                outln!(
                    "  radix sort of {len} keys, one sort per (image, channel): {}; fraction {:.2}",
                    sort.text(),
                    sort.median / st.median
                )?;
            }
        }
    }
    Ok(0)
}

/// The timings of the limits of `--roofline`.
struct Limits {
    stream: Stats,
    sort: Option<Stats>,
}

/// Times the stream over `pred` and its target and, with `sorts`, the radix sorts of as many keys.
fn limits(pred: &ArrayD<f32>, tgt: &OwnedTarget, shape: &[usize], sorts: bool, iters: Option<usize>) -> Limits {
    let p = pred.as_slice().expect("standard layout");
    let mut g = vec![0.0f32; p.len()];
    let stream = time_runs::<()>(iters, || {
        roofline::stream(p, tgt, shape, &mut g);
        Ok(())
    })
    .expect("no error");
    let sort = sorts.then(|| {
        let s: usize = shape[2..].iter().product();
        let keys: Vec<u32> = p.iter().map(|v| v.to_bits()).collect();
        let (mut k, mut t) = (keys.clone(), vec![0u32; keys.len()]);
        time_runs::<()>(iters, || {
            k.copy_from_slice(&keys);
            roofline::sort_problems(&mut k, &mut t, s);
            Ok(())
        })
        .expect("no error")
    });
    Limits { stream, sort }
}

#[allow(clippy::too_many_arguments)]
fn bench_distance(
    target: &str,
    shape: &[usize],
    len: usize,
    iters: Option<usize>,
    pool: &rayon::ThreadPool,
    threads: usize,
    json: bool,
    with_limit: bool,
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
    let st = pool.install(|| time_runs(iters, || run().map(drop).map_err(fail)))?;
    let melem = len as f64 / (st.median / 1e3) / 1e6;
    // the limit: read the mask, write a map of its shape
    let stream = with_limit.then(|| {
        let m = mask.as_slice().expect("standard layout");
        let mut map = vec![0.0f32; m.len()];
        pool.install(|| {
            time_runs::<()>(iters, || {
                roofline::mask_stream(m, &mut map);
                Ok(())
            })
        })
        .expect("no error")
    });
    if json {
        let mut o = serde_json::json!({
            "spec": target, "shape": shape, "threads": threads, "iters": st.runs,
            "min_ms": st.min, "median_ms": st.median, "p90_ms": st.p90, "spread": st.spread(),
            "melem_per_s": melem, "simd_level": simd_level(),
        });
        if let Some(sm) = &stream {
            o["stream_ms"] = sm.median.into();
            o["stream_fraction"] = (sm.median / st.median).into();
        }
        outln!("{o}")?;
    } else {
        outln!(
            "{target}  shape {shape:?} (touching discs), {threads} thread(s), SIMD level {}, {}, {melem:.1} M elements/s",
            simd_level(),
            st.text()
        )?;
        if let Some(sm) = &stream {
            outln!("  stream (read the mask, write a map): {}; fraction {:.2}", sm.text(), sm.median / st.median)?;
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nearest-rank p90, the median of odd and even counts, and the spread.
    #[test]
    fn stats_of_runs() {
        let s = Stats::of(vec![5.0, 1.0, 3.0, 2.0, 4.0, 10.0, 6.0, 7.0, 8.0, 9.0]);
        assert_eq!((s.runs, s.min, s.median, s.p90), (10, 1.0, 5.5, 9.0));
        assert_eq!(s.spread(), 9.0);
        let s = Stats::of(vec![2.0, 1.0, 3.0]);
        assert_eq!((s.min, s.median, s.p90), (1.0, 2.0, 3.0));
        let s = Stats::of(vec![4.0]);
        assert_eq!((s.min, s.median, s.p90, s.spread()), (4.0, 4.0, 4.0, 1.0));
        assert!(s.text().contains("1 runs: min 4.000 ms, median 4.000 ms, p90 4.000 ms (p90/min 1.00)"), "{}", s.text());
        assert!(Stats::of(vec![1.0, 2.0]).text().ends_with("(p90/min 2.00, unsteady: over 1.3)"));
    }

    /// `--iters K` times exactly K runs after one warm-up run; without it the schedule runs at
    /// least [`MIN_RUNS`] (these runs take no time) and errors stop it.
    #[test]
    fn run_counts() {
        let mut calls = 0;
        let s = time_runs::<()>(Some(7), || {
            calls += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!((s.runs, calls), (7, 8));
        let s = time_runs::<()>(None, || Ok(())).unwrap();
        assert!(s.runs >= MIN_RUNS);
        let mut n = 0;
        let e = time_runs(None, || {
            n += 1;
            if n == 3 {
                Err("third")
            } else {
                Ok(())
            }
        });
        assert_eq!(e, Err("third"));
    }
}

//! Benchmarks of segloss-distance at the standard workloads:
//! - `edt/2048x2048`: EDT of a 2048 x 2048 mask of random discs;
//! - `edt/128^3`: EDT of a 128^3 volume of random balls;
//! - `unet/512x512`: U-Net weight map of 512 x 512 instance labels of 60 random cells;
//! - `unet/32x64x64_every_voxel_a_label`: the pathological label image of 32 x 64 x 64 voxels
//!   where every voxel is its own object (labels 1..=131072 in raster order, no background);
//! - `unet/32x64x64_checkerboard_labels`: the same with background on every voxel whose
//!   coordinate sum is odd (65536 one-voxel objects, each background voxel next to 6 of them);
//! - `unet/256x256_checkerboard_labels`: the 2D equivalent (32768 one-pixel objects).
//!
//! Each runs in the default rayon pool (both cores) and in a 1-thread pool side by side; the
//! U-Net map also runs the naive per-object construction (one full-image EDT per object, as
//! scipy's recipe) for comparison.
//!
//! The masks come from a documented generator that `tools/bench_distance.py` re-implements
//! (same numbers, checked by the printed checksums), so the Python side (the `edt` package,
//! OpenCV's `distanceTransform`, the per-object scipy construction) times the same inputs:
//!
//! splitmix64 stream from `seed` (segloss-core's `rng::Rng`): `state += 0x9E3779B97F4A7C15; z = state;
//! z = (z ^ z >> 30) * 0xBF58476D1CE4E5B9; z = (z ^ z >> 27) * 0x94D049BB133111EB; z ^ z >> 31`.
//! For each shape `k = 1..=count` in order: one draw per axis for the centre (`next % size`),
//! then the radius `r = r0 + next % r_span`; every pixel with `sum (x_a - c_a)^2 <= r^2`
//! (integers) gets the value (1 for masks, `k` for labels; later shapes overwrite earlier ones).
//!
//! The distance-map losses, forward plus backward into a preallocated gradient, in a 2-thread
//! pool (SIMD and scalar kernels side by side; the maps dominate), on the standard workloads of
//! `benches/common` (the data `tools/compare` times the references on):
//! - `losses/W1 boundary binary`, `losses/W1 hausdorff_dt binary`: logits `[8, 1, 512, 512]`,
//!   binary float targets (30% positive);
//! - `losses/W2 boundary multiclass`: logits `[4, 21, 256, 256]`, integer labels (background
//!   dropped, the multiclass default).
//!
//! Run: `cargo bench --bench distance` (add `-- --quick` for a shorter run; `-- losses` for the
//! losses only).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndarray::{ArrayD, IxDyn};
use segloss_core::kernel::{with_backend, Backend};
use segloss_core::rng::Rng;
use segloss_core::{Batch, Loss};
use segloss_distance::{edt, unet_weights_from_instances, BoundaryConfig, EdtOptions, HausdorffDtConfig, UnetWeightConfig};
use std::time::Duration;

mod common;
use common::{w1, w2};

/// Paints `count` balls into an array of `shape` (see the module docs); `value(k)` is the value
/// of the k-th ball (1-based).
fn balls<T: Copy + Default>(shape: &[usize], count: usize, r0: u64, r_span: u64, seed: u64, value: impl Fn(usize) -> T) -> ArrayD<T> {
    let mut rng = Rng::new(seed);
    let mut a = ArrayD::<T>::default(IxDyn(shape));
    let rank = shape.len();
    for k in 1..=count {
        let c: Vec<i64> = shape.iter().map(|&s| (rng.next_u64() % s as u64) as i64).collect();
        let r = (r0 + rng.next_u64() % r_span) as i64;
        let lo: Vec<usize> = (0..rank).map(|ax| (c[ax] - r).max(0) as usize).collect();
        let hi: Vec<usize> = (0..rank).map(|ax| ((c[ax] + r + 1) as usize).min(shape[ax])).collect();
        let v = value(k);
        let data = a.as_slice_mut().unwrap();
        let mut idx = lo.clone();
        'outer: loop {
            let d2: i64 = (0..rank).map(|ax| (idx[ax] as i64 - c[ax]).pow(2)).sum();
            if d2 <= r * r {
                let flat = idx.iter().zip(shape).fold(0usize, |f, (&i, &s)| f * s + i);
                data[flat] = v;
            }
            let mut ax = rank;
            loop {
                if ax == 0 {
                    break 'outer;
                }
                ax -= 1;
                idx[ax] += 1;
                if idx[ax] < hi[ax] {
                    break;
                }
                idx[ax] = lo[ax];
            }
        }
    }
    a
}

/// 2048 x 2048, 500 discs of radius 4..63, seed 1.
fn mask_2d() -> ArrayD<u8> {
    balls(&[2048, 2048], 500, 4, 60, 1, |_| 1u8)
}

/// 128^3, 150 balls of radius 3..22, seed 2.
fn mask_3d() -> ArrayD<u8> {
    balls(&[128, 128, 128], 150, 3, 20, 2, |_| 1u8)
}

/// 512 x 512, 60 cells of radius 8..19 labelled 1..=60, seed 3.
fn cells() -> ArrayD<i32> {
    balls(&[512, 512], 60, 8, 12, 3, |k| k as i32)
}

/// Labels `1..=n` in raster order on every pixel, or (with `checkerboard`) only on the pixels
/// whose coordinate sum is even, 0 elsewhere.
fn unique_labels(shape: &[usize], checkerboard: bool) -> ArrayD<i32> {
    let mut next = 0;
    let mut a = ArrayD::<i32>::zeros(IxDyn(shape));
    for (idx, v) in a.indexed_iter_mut() {
        if !checkerboard || (0..shape.len()).map(|a| idx[a]).sum::<usize>() % 2 == 0 {
            next += 1;
            *v = next;
        }
    }
    a
}

fn checksum_mask(m: &ArrayD<u8>) -> (usize, u64) {
    let ones = m.iter().filter(|&&v| v != 0).count();
    let weighted = m.iter().enumerate().filter(|(_, &v)| v != 0).fold(0u64, |acc, (i, _)| acc.wrapping_add(i as u64 % 1_000_003));
    (ones, weighted)
}

/// The naive construction: one full-image EDT of `labels != k` per object, the two smallest.
fn unet_naive(labels: &ArrayD<i32>, cfg: &UnetWeightConfig) -> Vec<f32> {
    let mut objects: Vec<i32> = labels.iter().copied().filter(|&v| v != 0).collect();
    objects.sort_unstable();
    objects.dedup();
    let n = labels.len();
    let mut b1 = vec![f32::INFINITY; n];
    let mut b2 = vec![f32::INFINITY; n];
    for &k in &objects {
        let m = labels.mapv(|v| v != k);
        let d = edt(m.view(), &EdtOptions::default()).unwrap();
        for ((p1, p2), &v) in b1.iter_mut().zip(b2.iter_mut()).zip(d.iter()) {
            if v < *p1 {
                *p2 = *p1;
                *p1 = v;
            } else if v < *p2 {
                *p2 = v;
            }
        }
    }
    let n_obj = labels.iter().filter(|&&v| v != 0).count();
    let (wb, wo) = (n as f32 / (2.0 * (n - n_obj) as f32), n as f32 / (2.0 * n_obj as f32));
    labels
        .iter()
        .zip(b1.iter().zip(&b2))
        .map(|(&l, (&d1, &d2))| {
            if l != 0 {
                wo
            } else if objects.len() < 2 {
                wb
            } else {
                wb + cfg.w0 * (-(d1 + d2).powi(2) / (2.0 * cfg.sigma * cfg.sigma)).exp()
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let threads = rayon::current_num_threads();

    let m2 = mask_2d();
    let m3 = mask_3d();
    let lab = cells();
    let n_cells = {
        let mut v: Vec<i32> = lab.iter().copied().filter(|&v| v != 0).collect();
        v.sort_unstable();
        v.dedup();
        v.len()
    };
    eprintln!("mask 2048x2048: (foreground, checksum) = {:?}", checksum_mask(&m2));
    eprintln!("mask 128^3: (foreground, checksum) = {:?}", checksum_mask(&m3));
    eprintln!("cells 512x512: {} objects, label sum {}", n_cells, lab.iter().map(|&v| v as i64).sum::<i64>());

    let opts = EdtOptions::default();
    let mut g = c.benchmark_group("edt");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(m2.len() as u64));
    g.bench_function(BenchmarkId::new("2048x2048", format!("{threads}threads")), |b| b.iter(|| edt(m2.view(), &opts).unwrap()));
    g.bench_function(BenchmarkId::new("2048x2048", "1thread"), |b| b.iter(|| one.install(|| edt(m2.view(), &opts).unwrap())));
    g.throughput(Throughput::Elements(m3.len() as u64));
    g.bench_function(BenchmarkId::new("128^3", format!("{threads}threads")), |b| b.iter(|| edt(m3.view(), &opts).unwrap()));
    g.bench_function(BenchmarkId::new("128^3", "1thread"), |b| b.iter(|| one.install(|| edt(m3.view(), &opts).unwrap())));
    g.finish();

    let cfg = UnetWeightConfig::default();
    // The naive construction agrees with the fast one (sanity check of the bench itself).
    let fast = unet_weights_from_instances(lab.view(), &cfg).unwrap();
    let naive = unet_naive(&lab, &cfg);
    let worst = fast.iter().zip(&naive).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    eprintln!("unet 512x512: max |fast - naive| = {worst:e}");
    assert!(worst < 1e-3);

    let mut g = c.benchmark_group("unet");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(lab.len() as u64));
    g.bench_function(BenchmarkId::new("512x512_cells", format!("{threads}threads")), |b| {
        b.iter(|| unet_weights_from_instances(lab.view(), &cfg).unwrap())
    });
    g.bench_function(BenchmarkId::new("512x512_cells", "1thread"), |b| {
        b.iter(|| one.install(|| unet_weights_from_instances(lab.view(), &cfg).unwrap()))
    });
    g.bench_function(BenchmarkId::new("512x512_cells", "naive_per_object"), |b| b.iter(|| unet_naive(&lab, &cfg)));
    for (name, shape, checkerboard) in [
        ("32x64x64_every_voxel_a_label", &[32usize, 64, 64][..], false),
        ("32x64x64_checkerboard_labels", &[32, 64, 64][..], true),
        ("256x256_checkerboard_labels", &[256, 256][..], true),
    ] {
        let l = unique_labels(shape, checkerboard);
        g.throughput(Throughput::Elements(l.len() as u64));
        g.bench_function(BenchmarkId::new(name, format!("{threads}threads")), |b| {
            b.iter(|| unet_weights_from_instances(l.view(), &cfg).unwrap())
        });
    }
    g.finish();
}

fn bench_losses(c: &mut Criterion) {
    let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let mut g = c.benchmark_group("losses");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    let (x1, y1) = w1();
    let (x2, l2) = w2();
    let boundary = BoundaryConfig::default().build().unwrap();
    let hausdorff = HausdorffDtConfig::default().build().unwrap();
    let mut grad1 = ArrayD::<f32>::zeros(IxDyn(x1.shape()));
    let mut grad2 = ArrayD::<f32>::zeros(IxDyn(x2.shape()));
    for (tag, backend) in [("simd", Backend::Simd), ("scalar", Backend::Scalar)] {
        g.throughput(Throughput::Elements(x1.len() as u64));
        g.bench_function(format!("W1 boundary binary {tag} 2threads"), |b| {
            b.iter(|| {
                two.install(|| {
                    with_backend(backend, || boundary.forward_backward_into(&Batch::new(&x1, &y1), grad1.view_mut(), 1.0).unwrap())
                })
            })
        });
        g.bench_function(format!("W1 hausdorff_dt binary {tag} 2threads"), |b| {
            b.iter(|| {
                two.install(|| {
                    with_backend(backend, || hausdorff.forward_backward_into(&Batch::new(&x1, &y1), grad1.view_mut(), 1.0).unwrap())
                })
            })
        });
        g.throughput(Throughput::Elements(x2.len() as u64));
        g.bench_function(format!("W2 boundary multiclass {tag} 2threads"), |b| {
            b.iter(|| {
                two.install(|| {
                    with_backend(backend, || boundary.forward_backward_into(&Batch::new(&x2, &l2), grad2.view_mut(), 1.0).unwrap())
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench, bench_losses);
criterion_main!(benches);

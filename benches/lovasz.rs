//! Lovász family at the standard workloads, forward plus backward, and the sort it is made of:
//! - W1 = logits [8, 1, 512, 512], binary targets (30% positive): `lovasz_hinge` (per_image);
//! - W2 = logits [4, 21, 256, 256], integer labels: `lovasz_softmax` (classes=present,
//!   per_image=false), SIMD softmax kernels next to the scalar reference ones;
//! - sort: the descending argsort keys of 64 K, 1 M and 4 M uniformly random errors, LSD radix
//!   sort next to `sort_unstable` (this is how the default [`SortAlgo`] was chosen).
//!
//! `cargo bench --bench lovasz` (all cores; `RAYON_NUM_THREADS=1` for one).
//!
//! Measured on the project's 2-core machine, both cores, criterion medians of forward plus
//! backward, at load average about 2 from other jobs (in brackets: load average 4.5):
//! W1 `lovasz_hinge` 8.3 ms (16.6) with the radix sort, 9.0 ms (37.3) with `sort_unstable`;
//! W2 `lovasz_softmax` 25.4 ms (91) with SIMD kernels and the radix sort, 104 ms (226) with the
//! scalar kernels, 85 ms (186) with `sort_unstable`. segmentation_models_pytorch takes 1270 and
//! 4040 ms.

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use ndarray::{ArrayD, IxDyn};
use segloss::{Batch, Loss};
use segloss_core::kernel::{with_backend, Backend};
use segloss_lovasz::sort::{make_key, sort_keys, SortAlgo};
use segloss_lovasz::{LovaszHingeConfig, LovaszSoftmaxConfig};
use std::time::Duration;

mod common;
use common::{uniform, w1, w2};

fn group<'a>(c: &'a mut Criterion, name: &str, elements: usize) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(elements as u64));
    g
}

fn losses(c: &mut Criterion) {
    let (x, y) = w1();
    let b1 = Batch::new(&x, &y);
    let mut grad = ArrayD::<f32>::zeros(IxDyn(x.shape()));
    let mut g = group(c, "W1", x.len());
    for algo in [SortAlgo::Radix, SortAlgo::Unstable] {
        let l = LovaszHingeConfig::default().build().unwrap().with_sort(algo);
        g.bench_function(BenchmarkId::new("lovasz_hinge", format!("{algo:?}")), |b| {
            b.iter(|| l.forward_backward_into(&b1, grad.view_mut(), 1.0).unwrap())
        });
    }
    g.finish();

    let (x, l) = w2();
    let b2 = Batch::new(&x, &l);
    let mut grad = ArrayD::<f32>::zeros(IxDyn(x.shape()));
    let mut g = group(c, "W2", x.len());
    for (backend, algo) in [(Backend::Simd, SortAlgo::Radix), (Backend::Scalar, SortAlgo::Radix), (Backend::Simd, SortAlgo::Unstable)] {
        let loss = LovaszSoftmaxConfig::default().build().unwrap().with_sort(algo);
        g.bench_function(BenchmarkId::new("lovasz_softmax", format!("{backend:?}-{algo:?}")), |b| {
            with_backend(backend, || b.iter(|| loss.forward_backward_into(&b2, grad.view_mut(), 1.0).unwrap()))
        });
    }
    g.finish();
}

fn sorts(c: &mut Criterion) {
    for (label, n) in [("64K", 1usize << 16), ("1M", 1 << 20), ("4M", 1 << 22)] {
        let mut r = uniform(n as u64);
        let keys: Vec<u64> = (0..n).map(|i| make_key(r() * 4.0 - 1.0, i as u32)).collect();
        let mut g = group(c, &format!("sort/{label}"), n);
        for algo in [SortAlgo::Radix, SortAlgo::Unstable] {
            let mut scratch = Vec::with_capacity(n);
            g.bench_function(format!("{algo:?}"), |b| {
                b.iter_batched_ref(|| keys.clone(), |k| sort_keys(k, &mut scratch, algo), BatchSize::LargeInput)
            });
        }
        g.finish();
    }
}

criterion_group!(benches, sorts, losses);
criterion_main!(benches);

//! Overlap family, forward plus backward, SIMD and scalar side by side.
//!
//! W1: logits `[8, 1, 512, 512]`, binary float targets (30% positive), `dice`.
//! W2: logits `[4, 21, 256, 256]`, integer labels, multiclass `dice`.
//! Throughput is in `pred` elements (logits) per second.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ndarray::{ArrayD, IxDyn};
use segloss_core::kernel::{with_backend, Backend};
use segloss_core::{Batch, Loss};
use segloss_overlap::{ClDiceConfig, DiceConfig, WassersteinDiceConfig};
use std::time::Duration;

mod common;
use common::{w1, w2};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("overlap");
    group.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));

    // W1
    let (x, y) = w1();
    let n = x.len();
    let mut grad = ArrayD::<f32>::zeros(IxDyn(x.shape()));
    group.throughput(Throughput::Elements(n as u64));
    for (label, backend) in [("W1 dice binary simd", Backend::Simd), ("W1 dice binary scalar", Backend::Scalar)] {
        let loss = DiceConfig::default().build().unwrap();
        group.bench_function(label, |b| {
            with_backend(backend, || b.iter(|| loss.forward_backward_into(&Batch::new(&x, &y), grad.view_mut(), 1.0).unwrap()));
        });
    }

    // W2
    let (x, labels) = w2();
    let n = x.len();
    let mut grad = ArrayD::<f32>::zeros(IxDyn(x.shape()));
    group.throughput(Throughput::Elements(n as u64));
    for (label, backend) in [("W2 dice multiclass simd", Backend::Simd), ("W2 dice multiclass scalar", Backend::Scalar)] {
        let loss = DiceConfig::default().build().unwrap();
        group.bench_function(label, |b| {
            with_backend(backend, || b.iter(|| loss.forward_backward_into(&Batch::new(&x, &labels), grad.view_mut(), 1.0).unwrap()));
        });
    }
    // clDice (iters 3): W1 binary and W2 multiclass, forward + backward
    let (x, y) = w1();
    let mut grad = ArrayD::<f32>::zeros(IxDyn(x.shape()));
    group.throughput(Throughput::Elements(x.len() as u64));
    let loss = ClDiceConfig::default().build().unwrap();
    group.bench_function("W1 cldice binary simd", |b| {
        b.iter(|| loss.forward_backward_into(&Batch::new(&x, &y), grad.view_mut(), 1.0).unwrap())
    });
    let (x, labels) = w2();
    let mut grad = ArrayD::<f32>::zeros(IxDyn(x.shape()));
    group.throughput(Throughput::Elements(x.len() as u64));
    group.bench_function("W2 cldice multiclass simd", |b| {
        b.iter(|| loss.forward_backward_into(&Batch::new(&x, &labels), grad.view_mut(), 1.0).unwrap())
    });
    // wasserstein_dice (uniform matrix, default weighting): W2, forward + backward
    let (x, labels) = w2();
    let mut grad = ArrayD::<f32>::zeros(IxDyn(x.shape()));
    group.throughput(Throughput::Elements(x.len() as u64));
    let loss = WassersteinDiceConfig::default().build().unwrap();
    for (label, backend) in [("W2 wasserstein_dice simd", Backend::Simd), ("W2 wasserstein_dice scalar", Backend::Scalar)] {
        group.bench_function(label, |b| {
            with_backend(backend, || b.iter(|| loss.forward_backward_into(&Batch::new(&x, &labels), grad.view_mut(), 1.0).unwrap()));
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Overlap family, forward plus backward, SIMD and scalar side by side.
//!
//! W1: logits `[8, 1, 512, 512]`, binary float targets (30% positive), `dice`.
//! W2: logits `[4, 21, 256, 256]`, integer labels, multiclass `dice`.
//! Throughput is in `pred` elements (logits) per second.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ndarray::{ArrayD, IxDyn};
use segloss_core::{Batch, Loss};
use segloss_overlap::driver::Backend;
use segloss_overlap::DiceConfig;
use std::time::Duration;

/// A small deterministic generator (xorshift64*), so the bench needs no extra dependency.
struct Rng(u64);

impl Rng {
    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40) as f32) / (1u64 << 24) as f32
    }
}

fn bench(c: &mut Criterion) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut group = c.benchmark_group("overlap");
    group.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));

    // W1
    let shape = [8usize, 1, 512, 512];
    let n: usize = shape.iter().product();
    let x = ArrayD::from_shape_vec(IxDyn(&shape), (0..n).map(|_| rng.next_f32() * 8.0 - 4.0).collect()).unwrap();
    let y = ArrayD::from_shape_vec(IxDyn(&shape), (0..n).map(|_| (rng.next_f32() < 0.3) as u8 as f32).collect()).unwrap();
    let mut grad = ArrayD::<f32>::zeros(IxDyn(&shape));
    group.throughput(Throughput::Elements(n as u64));
    for (label, backend) in [("W1 dice binary simd", Backend::Simd), ("W1 dice binary scalar", Backend::Scalar)] {
        let loss = DiceConfig::default().build().unwrap().with_backend(backend);
        group.bench_function(label, |b| {
            b.iter(|| loss.forward_backward_into(&Batch::new(&x, &y), grad.view_mut(), 1.0).unwrap());
        });
    }

    // W2
    let shape = [4usize, 21, 256, 256];
    let n: usize = shape.iter().product();
    let x = ArrayD::from_shape_vec(IxDyn(&shape), (0..n).map(|_| rng.next_f32() * 8.0 - 4.0).collect()).unwrap();
    let labels =
        ArrayD::from_shape_vec(IxDyn(&[4, 256, 256]), (0..4 * 256 * 256).map(|_| (rng.next_f32() * 21.0) as i64 % 21).collect()).unwrap();
    let mut grad = ArrayD::<f32>::zeros(IxDyn(&shape));
    group.throughput(Throughput::Elements(n as u64));
    for (label, backend) in [("W2 dice multiclass simd", Backend::Simd), ("W2 dice multiclass scalar", Backend::Scalar)] {
        let loss = DiceConfig::default().build().unwrap().with_backend(backend);
        group.bench_function(label, |b| {
            b.iter(|| loss.forward_backward_into(&Batch::new(&x, &labels), grad.view_mut(), 1.0).unwrap());
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

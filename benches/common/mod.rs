//! The standard workloads shared by the benches (deterministic data, no downloads).

use ndarray::{ArrayD, IxDyn};
use segloss::core::rng::Rng;

/// Values uniform in [0, 1) from segloss-core's seeded generator.
#[allow(dead_code)]
pub fn uniform(seed: u64) -> impl FnMut() -> f32 {
    let mut r = Rng::new(seed);
    move || r.next_f32()
}

/// W1: logits [8, 1, 512, 512] and binary targets with 30% positives.
pub fn w1() -> (ArrayD<f32>, ArrayD<f32>) {
    let mut r = uniform(1);
    let x = ArrayD::from_shape_simple_fn(IxDyn(&[8, 1, 512, 512]), || (r() - 0.5) * 8.0);
    let y = ArrayD::from_shape_simple_fn(IxDyn(&[8, 1, 512, 512]), || (r() < 0.3) as u8 as f32);
    (x, y)
}

/// W2: logits [4, 21, 256, 256] and integer labels.
pub fn w2() -> (ArrayD<f32>, ArrayD<i64>) {
    let mut r = uniform(2);
    let x = ArrayD::from_shape_simple_fn(IxDyn(&[4, 21, 256, 256]), || (r() - 0.5) * 8.0);
    let l = ArrayD::from_shape_simple_fn(IxDyn(&[4, 256, 256]), || (r() * 21.0) as i64 % 21);
    (x, l)
}

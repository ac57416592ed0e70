//! Cross-entropy family at the standard workloads, forward plus backward, SIMD next to the scalar
//! reference kernels:
//! - W1 = logits [8, 1, 512, 512], binary targets (30% positive): bce, focal;
//! - W2 = logits [4, 21, 256, 256], integer labels: ce, topk_ce (k=10), multiclass focal.
//!
//! `cargo bench --bench losses` (all cores; `RAYON_NUM_THREADS=1` for one).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndarray::{ArrayD, IxDyn};
use segloss::core::kernel::{with_backend, Backend};
use segloss::xent::{BceConfig, CeConfig, FocalConfig, TopkCeConfig};
use segloss::{Batch, Loss};
use std::time::Duration;

mod common;
use common::{w1, w2};

fn run(c: &mut Criterion, group: &str, losses: Vec<(&str, Box<dyn Loss>)>, batch: &Batch<'_>) {
    let mut g = c.benchmark_group(group);
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(batch.pred.len() as u64));
    let mut grad = ArrayD::<f32>::zeros(IxDyn(batch.pred.shape()));
    for (name, loss) in losses {
        for backend in [Backend::Simd, Backend::Scalar] {
            g.bench_function(BenchmarkId::new(name, format!("{backend:?}")), |b| {
                with_backend(backend, || b.iter(|| loss.forward_backward_into(batch, grad.view_mut(), 1.0).unwrap()))
            });
        }
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    let (x, y) = w1();
    let b1 = Batch::new(&x, &y);
    run(
        c,
        "W1",
        vec![
            ("bce", Box::new(BceConfig::default().build().unwrap()) as Box<dyn Loss>),
            ("focal", Box::new(FocalConfig::default().build().unwrap()) as Box<dyn Loss>),
        ],
        &b1,
    );
    let (x, l) = w2();
    let b2 = Batch::new(&x, &l);
    run(
        c,
        "W2",
        vec![
            ("ce", Box::new(CeConfig::default().build().unwrap()) as Box<dyn Loss>),
            ("topk_ce", Box::new(TopkCeConfig::default().build().unwrap()) as Box<dyn Loss>),
            ("focal", Box::new(FocalConfig::default().build().unwrap()) as Box<dyn Loss>),
        ],
        &b2,
    );
}

criterion_group!(xent, benches);
criterion_main!(xent);

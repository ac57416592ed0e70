//! `forward_backward_into` allocates nothing proportional to the input (a counting allocator).

use ndarray::{ArrayD, IxDyn};
use segloss_core::{Batch, Loss};
use segloss_xent::{BceConfig, CeConfig, FocalConfig};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static BYTES: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        BYTES.fetch_add(l.size(), Ordering::SeqCst);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Bytes allocated by `f`, run in a two-thread pool built beforehand.
fn allocated(f: impl FnOnce() + Send) -> usize {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    pool.install(|| {
        let before = BYTES.load(Ordering::SeqCst);
        f();
        BYTES.load(Ordering::SeqCst) - before
    })
}

#[test]
fn forward_backward_into_allocates_nothing_proportional_to_the_input() {
    // The input is 8 MB of logits; the budget is a few KB (error paths format no strings here).
    const BUDGET: usize = 16 * 1024;
    let x = ArrayD::<f32>::from_shape_fn(IxDyn(&[4, 1, 512, 512]), |ix| ((ix[2] * 7 + ix[3] * 3) % 17) as f32 - 8.0);
    let y = ArrayD::<f32>::from_shape_fn(IxDyn(&[4, 1, 512, 512]), |ix| ((ix[2] + ix[3]) % 3 == 0) as u8 as f32);
    let mut g = ArrayD::<f32>::zeros(IxDyn(&[4, 1, 512, 512]));
    let losses: [Box<dyn Loss>; 2] = [Box::new(BceConfig::default().build().unwrap()), Box::new(FocalConfig::default().build().unwrap())];
    for loss in losses {
        let b = Batch::new(&x, &y);
        loss.forward_backward_into(&b, g.view_mut(), 1.0).unwrap();
        let bytes = allocated(|| {
            loss.forward_backward_into(&b, g.view_mut(), 1.0).unwrap();
        });
        assert!(bytes <= BUDGET, "{}: {bytes} bytes allocated", loss.name());
    }
    let xm = ArrayD::<f32>::from_shape_fn(IxDyn(&[2, 8, 256, 256]), |ix| ((ix[1] * 5 + ix[2] + ix[3] * 3) % 11) as f32 - 5.0);
    let l = ArrayD::<i64>::from_shape_fn(IxDyn(&[2, 256, 256]), |ix| ((ix[1] + 2 * ix[2]) % 8) as i64);
    let mut gm = ArrayD::<f32>::zeros(IxDyn(&[2, 8, 256, 256]));
    let ce = CeConfig { label_smoothing: 0.1, ..Default::default() }.build().unwrap();
    let b = Batch::new(&xm, &l);
    ce.forward_backward_into(&b, gm.view_mut(), 1.0).unwrap();
    let bytes = allocated(|| {
        ce.forward_backward_into(&b, gm.view_mut(), 1.0).unwrap();
    });
    assert!(bytes <= BUDGET, "ce: {bytes} bytes allocated");
}

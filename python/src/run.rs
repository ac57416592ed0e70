//! Running work without the GIL: thread counts, error conversion and the panic guard.

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use rayon::{ThreadPool, ThreadPoolBuilder};
use segloss::LossError;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// The largest thread count accepted (a pool per distinct count is kept for the process).
pub const MAX_THREADS: usize = 1024;

/// The module's thread setting ([`set_threads`]); 0 is one thread per core.
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// The pools built so far, by process id and thread count. The process id matters after a fork
/// (a PyTorch `DataLoader` worker, `multiprocessing`): the child inherits the parent's pools
/// without their threads, so it builds its own instead of waiting forever on dead ones. Rayon's
/// global pool has the same problem and cannot be rebuilt, so it is never used.
static POOLS: Mutex<Vec<(u32, usize, Arc<ThreadPool>)>> = Mutex::new(Vec::new());

/// A segloss error as the Python `ValueError` carrying segloss's message.
pub fn value_error(e: impl Into<SegError>) -> PyErr {
    PyValueError::new_err(e.into().0)
}

/// The message of a segloss error: a loss's [`LossError`] or, with the `onnx` feature, an
/// exporter's `ExportError`.
pub struct SegError(String);

impl From<LossError> for SegError {
    fn from(e: LossError) -> Self {
        SegError(e.to_string())
    }
}

#[cfg(feature = "onnx")]
impl From<segloss_onnx::ExportError> for SegError {
    fn from(e: segloss_onnx::ExportError) -> Self {
        SegError(e.to_string())
    }
}

/// Checks a `threads=` argument: `None` or a count in `1..=MAX_THREADS`.
pub fn check_threads(threads: Option<usize>) -> PyResult<Option<usize>> {
    match threads {
        Some(n) if n == 0 || n > MAX_THREADS => {
            Err(PyValueError::new_err(format!("invalid value for `threads`: {n}: expected None or a count in [1, {MAX_THREADS}]")))
        }
        t => Ok(t),
    }
}

fn pool(n: usize) -> PyResult<Arc<ThreadPool>> {
    let pid = std::process::id();
    let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, _, p)) = pools.iter().find(|(i, k, _)| *i == pid && *k == n) {
        return Ok(p.clone());
    }
    let p = ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(move |i| format!("segloss-{n}-{i}"))
        .build()
        .map_err(|e| PyRuntimeError::new_err(format!("segloss: cannot start a pool of {n} threads: {e}")))?;
    let p = Arc::new(p);
    pools.push((pid, n, p.clone()));
    Ok(p)
}

/// One thread per core (what `threads=None` means), asked once: `available_parallelism` reads
/// the cgroup files on Linux, which cost more than a small loss.
fn default_threads() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(MAX_THREADS))
}

/// Runs `f` with the GIL released, in the pool of `threads` (else the module setting, else one
/// thread per core). A segloss error becomes a `ValueError`; a panic (a bug, never user
/// input) is caught here and becomes a `RuntimeError`, so nothing unwinds into the interpreter.
pub fn run<T: Send>(py: Python<'_>, threads: Option<usize>, f: impl FnOnce() -> segloss::Result<T> + Send) -> PyResult<T> {
    let n = match check_threads(threads)? {
        Some(n) => n,
        None => match THREADS.load(Ordering::Relaxed) {
            0 => default_threads(),
            n => n,
        },
    };
    let pool = pool(n)?;
    let out = py.detach(move || catch_unwind(AssertUnwindSafe(move || pool.install(f))));
    match out {
        Ok(r) => r.map_err(value_error),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            Err(PyRuntimeError::new_err(format!("segloss: internal error, please report it: {msg}")))
        }
    }
}

/// Sets the number of threads of every later call that gives no `threads=` (its loss none
/// either); `None` restores the default, one thread per core.
///
/// The results are the same bits for any thread count.
#[pyfunction]
#[pyo3(signature = (threads))]
pub fn set_threads(threads: Option<usize>) -> PyResult<()> {
    let t = check_threads(threads)?;
    THREADS.store(t.unwrap_or(0), Ordering::Relaxed);
    Ok(())
}

/// The module's thread setting: a count, or `None` for the default (one thread per core).
#[pyfunction]
pub fn get_threads() -> Option<usize> {
    match THREADS.load(Ordering::Relaxed) {
        0 => None,
        n => Some(n),
    }
}

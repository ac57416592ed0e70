//! `segloss eval`: the loss of one prediction/target pair, or of every pair of two folders.

use crate::args::EvalArgs;
use crate::io::{self, Kind, OwnedTarget};
use crate::out::{clip, clip_to, clip_words, eprint, fmt_f32, json_f32, ECHO_CHARS};
use crate::{npy, CliError};
use ndarray::{ArrayD, IxDyn};
use segloss::{Batch, Loss, LossError, LossSpec};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Parses a spec, with an error naming it ([`spec_error`]).
pub fn parse_spec(s: &str) -> Result<LossSpec, CliError> {
    LossSpec::parse(s).map_err(|e| spec_error(s, &e))
}

/// The error of a spec that does not parse or build: `bad loss spec ...`, quoting the spec once
/// and at most [`ECHO_CHARS`] characters of it (and of anything the
/// library's message quotes from it), with the text around the error's position when that is
/// beyond the part quoted.
pub fn spec_error(spec: &str, e: &LossError) -> CliError {
    match e {
        LossError::Parse { position, reason, .. } => {
            let near = if spec.get(..*position).is_some_and(|s| s.chars().count() > ECHO_CHARS - 20) {
                let before: String = spec[..*position].chars().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect();
                format!(" (near `…{before}{}`)", clip_to(&spec[*position..], 30))
            } else {
                String::new()
            };
            CliError::new(format!("bad loss spec: invalid spec `{}` at byte {position}{near}: {}", clip(spec), clip_words(reason)))
        }
        e => CliError::new(format!("bad loss spec `{}`: {}", clip(spec), clip_words(&e.to_string()))),
    }
}

/// The mode each term resolves to on `batch`, joined by `,` when they differ.
pub fn modes(spec: &LossSpec, batch: &Batch<'_>) -> String {
    let mut out: Vec<&'static str> = Vec::new();
    for t in &spec.terms {
        let requested = t.params.iter().find(|(k, _)| k == "mode").and_then(|(_, v)| match v {
            segloss::core::Value::Word(w) => segloss::Mode::parse(w),
            _ => None,
        });
        if let Ok(l) = segloss::core::resolve(batch, requested) {
            let m = l.mode.name();
            if !out.contains(&m) {
                out.push(m);
            }
        }
    }
    out.join(",")
}

/// One evaluated pair.
#[derive(Debug, Clone)]
pub struct Evaluated {
    /// The loss.
    pub loss: f32,
    /// pred's shape.
    pub shape: Vec<usize>,
    /// The target's shape.
    pub target_shape: Vec<usize>,
    /// The target's dtype.
    pub target_dtype: &'static str,
    /// The resolved mode.
    pub mode: String,
    /// Time of the loss computation, ms.
    pub time_ms: f64,
}

/// Whether the library's error is about the `weight` tensor (its shape, or a weight given to a
/// loss that takes none).
fn about_weight(e: &LossError) -> bool {
    match e {
        LossError::ShapeMismatch { left_name, right_name, .. } => *left_name == "weight" || *right_name == "weight",
        LossError::InvalidShape { name, .. } | LossError::Empty { name, .. } | LossError::NonFinite { name, .. } => *name == "weight",
        LossError::Unsupported { reason, .. } => reason.contains("weight tensor"),
        _ => false,
    }
}

/// A loss error as a CLI error naming the file at fault: the weight file for an error about the
/// weight, else the pred / target pair.
fn loss_error(e: LossError, pred: &Path, target: &Path, weight: Option<&Path>, target_kind: Kind) -> CliError {
    if let (Some(w), true) = (weight, about_weight(&e)) {
        return CliError::new(format!("{}: {e}", w.display()));
    }
    let hint = match (&e, target_kind) {
        (LossError::LabelOutOfRange { .. }, Kind::Png) => " (PNG values are taken as labels as stored; a 0/255 mask must be saved as 0/1)",
        _ => "",
    };
    CliError::new(format!("{} / {}: {e}{hint}", pred.display(), target.display()))
}

/// Loads and evaluates one pair; writes the gradient to `grad_out` when given.
pub fn eval_pair(
    spec: &LossSpec,
    loss: &dyn Loss,
    pred_path: &Path,
    target_path: &Path,
    weight_path: Option<&Path>,
    grad_out: Option<&Path>,
    pool: &rayon::ThreadPool,
) -> Result<Evaluated, CliError> {
    let pred = io::read_pred(pred_path)?;
    let (target, tkind): (OwnedTarget, Kind) = io::read_target(target_path, Some(pred.shape()))?;
    let weight = weight_path.map(io::read_weight).transpose()?;
    let mut batch = Batch::new(&pred, target.view());
    if let Some(w) = &weight {
        batch = batch.with_weight(w);
    }
    let t0 = Instant::now();
    let (value, grad) = pool
        .install(|| -> segloss::Result<(f32, Option<ArrayD<f32>>)> {
            match grad_out {
                None => Ok((loss.forward(&batch)?, None)),
                Some(_) => {
                    let mut g = ArrayD::<f32>::zeros(IxDyn(pred.shape()));
                    let v = loss.forward_backward_into(&batch, g.view_mut(), 1.0)?;
                    Ok((v, Some(g)))
                }
            }
        })
        .map_err(|e| loss_error(e, pred_path, target_path, weight_path, tkind))?;
    let time_ms = t0.elapsed().as_secs_f64() * 1e3;
    if let (Some(path), Some(g)) = (grad_out, grad) {
        npy::write(path, &g.view())?;
    }
    Ok(Evaluated {
        loss: value,
        shape: pred.shape().to_vec(),
        target_shape: target.shape().to_vec(),
        target_dtype: crate::io::dtype_name(&target),
        mode: pool.install(|| modes(spec, &batch)),
        time_ms,
    })
}

/// Runs `segloss eval`.
pub fn run(a: &EvalArgs) -> Result<i32, CliError> {
    let (pool, threads) = crate::thread_pool(&a.threads)?;
    if let Some(pred_dir) = &a.pred_dir {
        return run_folder(a, pred_dir, &pool, threads);
    }
    // clap: --pred and --target are required without --pred-dir
    let (Some(pred), Some(target)) = (&a.pred, &a.target) else {
        return Err(CliError::new("`segloss eval` needs --pred and --target (see `segloss eval --help`)"));
    };
    let (pred, target) = (PathBuf::from(pred), PathBuf::from(target));
    let weight = a.weight.as_ref().map(PathBuf::from);
    let grad_out = a.grad_out.as_ref().map(PathBuf::from);
    if let Some(g) = &grad_out {
        if io::kind(g).ok() != Some(Kind::Npy) {
            return Err(CliError::new(format!("--grad-out: {} must be a .npy file name", g.display())));
        }
    }
    let spec_str = &a.spec;
    let spec = parse_spec(spec_str)?;
    let loss = spec.build().map_err(|e| spec_error(spec_str, &e))?;
    let r = eval_pair(&spec, &loss, &pred, &target, weight.as_deref(), grad_out.as_deref(), &pool)?;
    if a.json {
        let mut o = serde_json::json!({
            "spec": spec.to_string(),
            "loss": json_f32(r.loss),
            "shape": r.shape,
            "target_shape": r.target_shape,
            "target_dtype": r.target_dtype,
            "mode": r.mode,
            "threads": threads,
            "time_ms": r.time_ms,
            "pred": pred.display().to_string(),
            "target": target.display().to_string(),
        });
        if let Some(w) = &weight {
            o["weight"] = w.display().to_string().into();
        }
        if let Some(g) = &grad_out {
            o["grad_out"] = g.display().to_string().into();
        }
        outln!("{o}")?;
    } else {
        outln!("{}", fmt_f32(r.loss))?;
    }
    Ok(0)
}

fn list_dir(dir: &Path, flag: &str) -> Result<Vec<PathBuf>, CliError> {
    let rd = std::fs::read_dir(dir).map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::NotFound { "no such directory".to_string() } else { e.to_string() };
        CliError::new(format!("{flag} {}: cannot read: {why}", dir.display()))
    })?;
    let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
    v.sort();
    Ok(v)
}

fn stem(p: &Path) -> String {
    p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

struct Progress {
    on: bool,
    total: usize,
}

impl Progress {
    fn show(&self, done: usize, name: &str) {
        if !self.on {
            return;
        }
        let width = 30;
        let filled = done * width / self.total.max(1);
        let name: String = name.chars().take(40).collect();
        eprint(&format!("\r\x1b[K[{}{}] {done}/{} {name}", "#".repeat(filled), " ".repeat(width - filled), self.total));
    }
    fn clear(&self) {
        if self.on {
            eprint("\r\x1b[K");
        }
    }
    fn error(&self, msg: &str) {
        self.clear();
        eprint(&format!("error: {}\n", msg.replace(['\n', '\r'], " ")));
    }
}

fn run_folder(a: &EvalArgs, pred_dir: &str, pool: &rayon::ThreadPool, threads: usize) -> Result<i32, CliError> {
    let spec_str = &a.spec;
    let pred_dir = PathBuf::from(pred_dir);
    // clap: --pred-dir requires --target-dir
    let Some(target_dir) = &a.target_dir else {
        return Err(CliError::new("`segloss eval` needs --target-dir with --pred-dir (see `segloss eval --help`)"));
    };
    let target_dir = PathBuf::from(target_dir);
    let weight_dir = a.weight_dir.as_ref().map(PathBuf::from);
    let spec = parse_spec(spec_str)?;
    let loss = spec.build().map_err(|e| spec_error(spec_str, &e))?;
    let preds: Vec<PathBuf> = list_dir(&pred_dir, "--pred-dir")?.into_iter().filter(|f| io::kind(f).ok() == Some(Kind::Npy)).collect();
    if preds.is_empty() {
        return Err(CliError::new(format!("--pred-dir {}: no .npy files", pred_dir.display())));
    }
    let targets = list_dir(&target_dir, "--target-dir")?;
    let weights = match &weight_dir {
        Some(d) => list_dir(d, "--weight-dir")?,
        None => Vec::new(),
    };
    let mut csv = match &a.csv {
        Some(f) => {
            let file = std::fs::File::create(f).map_err(|e| CliError::new(format!("--csv {f}: cannot create: {e}")))?;
            let mut w = std::io::BufWriter::new(file);
            writeln!(w, "file,loss,shape,mode,error").map_err(|e| CliError::new(format!("--csv {f}: cannot write: {e}")))?;
            Some((f.to_string(), w))
        }
        None => None,
    };
    let json = a.json;
    let progress = Progress { on: std::io::stderr().is_terminal(), total: preds.len() };
    let (mut sum, mut count, mut failed) = (0.0f64, 0usize, 0usize);
    let mut rows = Vec::new();
    for (i, pred) in preds.iter().enumerate() {
        let name = stem(pred);
        progress.show(i, &name);
        let result = (|| -> Result<Evaluated, CliError> {
            let matches: Vec<&PathBuf> =
                targets.iter().filter(|t| stem(t) == name && matches!(io::kind(t), Ok(Kind::Npy | Kind::Png))).collect();
            let target = match matches.as_slice() {
                [t] => *t,
                [] => {
                    return Err(CliError::new(format!(
                        "{}: no target {name}.npy or {name}.png in {}",
                        pred.display(),
                        target_dir.display()
                    )))
                }
                _ => {
                    return Err(CliError::new(format!(
                        "{}: both {name}.npy and {name}.png are in {}",
                        pred.display(),
                        target_dir.display()
                    )))
                }
            };
            let weight = match &weight_dir {
                None => None,
                Some(d) => Some(
                    weights
                        .iter()
                        .find(|w| stem(w) == name && io::kind(w).ok() == Some(Kind::Npy))
                        .ok_or_else(|| CliError::new(format!("{}: no weight {name}.npy in {}", pred.display(), d.display())))?,
                ),
            };
            eval_pair(&spec, &loss, pred, target, weight.map(|w| w.as_path()), None, pool)
        })();
        let shape_str = |s: &[usize]| s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x");
        match result {
            Ok(r) => {
                sum += r.loss as f64;
                count += 1;
                if !json {
                    progress.clear();
                    outln!("{name}\t{}", fmt_f32(r.loss))?;
                }
                if let Some((_, w)) = &mut csv {
                    let _ = writeln!(w, "{},{},{},{},", csv_field(&name), fmt_f32(r.loss), shape_str(&r.shape), r.mode);
                }
                rows.push(serde_json::json!({"file": name, "loss": json_f32(r.loss), "shape": r.shape, "mode": r.mode}));
            }
            Err(e) => {
                failed += 1;
                progress.error(&e.0);
                if let Some((_, w)) = &mut csv {
                    let _ = writeln!(w, "{},,,,{}", csv_field(&name), csv_field(&e.0));
                }
                rows.push(serde_json::json!({"file": name, "error": e.0}));
            }
        }
    }
    progress.clear();
    // summed in float64, printed in float32 like the losses it averages
    let mean = if count > 0 { (sum / count as f64) as f32 } else { f32::NAN };
    if let Some((f, w)) = &mut csv {
        w.flush().map_err(|e| CliError::new(format!("--csv {f}: cannot write: {e}")))?;
    }
    if json {
        let o = serde_json::json!({
            "spec": spec.to_string(),
            "files": rows,
            "mean": json_f32(mean),
            "count": count,
            "failed": failed,
            "threads": threads,
        });
        outln!("{o}")?;
    } else {
        outln!("mean\t{}\t({count} files{})", fmt_f32(mean), if failed > 0 { format!(", {failed} failed") } else { String::new() })?;
    }
    if failed > 0 {
        eprint(&format!("error: {failed} of {} files failed\n", preds.len()));
        return Ok(2);
    }
    Ok(0)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\"").replace('\n', " "))
    } else {
        s.to_string()
    }
}

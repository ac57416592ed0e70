//! The `segloss` command-line program: `list`, `eval`, `bench`, `demo`, `export` (ONNX, through
//! [`segloss_onnx`]), the distance verbs `edt` and `weight-map`, and `completions` (shell
//! completion scripts), on top of the [`segloss`] facade.
//!
//! Everything the binary does is here so that the tests can drive the readers directly: the
//! `.npy` reader/writer ([`npy`]), the PNG reader and heat-map writer ([`image`]), the command
//! line ([`args`], clap) and the verbs. `main` only checks the CPU and calls [`run`].
#![warn(missing_docs)]

// first: its `out!`/`outln!` macros are used by the modules below
#[macro_use]
pub mod out;
pub mod args;
pub mod bench;
pub mod bmap;
pub mod data;
pub mod demo;
pub mod dist;
pub mod eval;
pub mod export;
pub mod image;
pub mod io;
pub mod npy;
pub mod roofline;

use args::Verb;
use std::fmt;

/// An error of the command line: one line, naming the file or the flag at fault; or the quiet
/// end of a program whose stdout was closed ([`CliError::stdout_closed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError(pub String, Ending);

/// How [`run`] ends on a [`CliError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// One `error:` line and exit status 2.
    Error,
    /// Stdout was closed (EPIPE): no message, exit status 0.
    StdoutClosed,
}

impl CliError {
    /// An error with this message.
    pub fn new(msg: impl Into<String>) -> CliError {
        CliError(msg.into(), Ending::Error)
    }

    /// The reader of stdout is gone (a closed pipe): the program ends quietly with status 0,
    /// like Unix tools killed by SIGPIPE, without the status 141 that would fail
    /// `set -o pipefail` pipelines such as `segloss list | head -1`.
    pub fn stdout_closed() -> CliError {
        CliError("stdout was closed".into(), Ending::StdoutClosed)
    }

    /// Whether this is [`CliError::stdout_closed`].
    pub fn is_stdout_closed(&self) -> bool {
        self.1 == Ending::StdoutClosed
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Exactly one line whatever the message holds.
        f.write_str(&self.0.replace(['\n', '\r'], " "))
    }
}

impl std::error::Error for CliError {}

/// The rayon pool of `--threads` (default: all cores).
pub fn thread_pool(threads: &args::Threads) -> Result<(rayon::ThreadPool, usize), CliError> {
    let n = match threads.threads {
        Some(n) => n,
        None => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .map_err(|e| CliError::new(format!("--threads: cannot start {n} threads: {e}")))?;
    Ok((pool, n))
}

/// CPU features a binary built for x86-64-v3 relies on, with whether this build was compiled for
/// each.
pub static COMPILED_FEATURES: [(&str, bool); 8] = [
    ("AVX", cfg!(target_feature = "avx")),
    ("AVX2", cfg!(target_feature = "avx2")),
    ("FMA", cfg!(target_feature = "fma")),
    ("BMI1", cfg!(target_feature = "bmi1")),
    ("BMI2", cfg!(target_feature = "bmi2")),
    ("LZCNT", cfg!(target_feature = "lzcnt")),
    ("F16C", cfg!(target_feature = "f16c")),
    ("MOVBE", cfg!(target_feature = "movbe")),
];

/// Writes the one-line message for a CPU missing features this binary was compiled for, and
/// returns whether anything is missing. `detected` says whether the CPU has a feature.
///
/// Runs before anything else in `main`, so it only writes static strings (no formatting, no
/// allocation): code of this crate is compiled for the target CPU, and the less of it runs on a
/// CPU without those features, the better.
pub fn write_cpu_message(compiled: &[(&str, bool)], detected: impl Fn(&str) -> bool, out: &mut dyn std::io::Write) -> bool {
    let mut any = false;
    for &(name, on) in compiled {
        if on && !detected(name) {
            let _ = out.write_all(if any {
                b", "
            } else {
                b"error: this segloss binary was built for x86-64-v3 (AVX2+FMA) but this CPU lacks "
            });
            let _ = out.write_all(name.as_bytes());
            any = true;
        }
    }
    if any {
        let _ = out.write_all(b"; rebuild with RUSTFLAGS=-Ctarget-cpu=x86-64\n");
    }
    any
}

/// Whether this CPU has `feature` (one of the names in [`COMPILED_FEATURES`]).
pub fn cpu_has(feature: &str) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        match feature {
            "AVX" => std::arch::is_x86_feature_detected!("avx"),
            "AVX2" => std::arch::is_x86_feature_detected!("avx2"),
            "FMA" => std::arch::is_x86_feature_detected!("fma"),
            "BMI1" => std::arch::is_x86_feature_detected!("bmi1"),
            "BMI2" => std::arch::is_x86_feature_detected!("bmi2"),
            "LZCNT" => std::arch::is_x86_feature_detected!("lzcnt"),
            "F16C" => std::arch::is_x86_feature_detected!("f16c"),
            "MOVBE" => std::arch::is_x86_feature_detected!("movbe"),
            _ => true,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = feature;
        true
    }
}

/// Runs the program on `argv` (without the program name), writing to stdout/stderr; returns the
/// exit code: 0 on success, 2 on bad input (after one `error: ...` line on stderr).
pub fn run(argv: &[String]) -> i32 {
    match dispatch(argv) {
        Ok(code) => code,
        Err(e) if e.is_stdout_closed() => 0,
        Err(e) => {
            out::eprint(&format!("error: {e}\n"));
            2
        }
    }
}

fn dispatch(argv: &[String]) -> Result<i32, CliError> {
    let Some(cli) = args::parse(argv)? else {
        return Ok(0); // help or version, printed
    };
    match cli.verb {
        Verb::List(a) => list(&a),
        Verb::Eval(a) => eval::run(&a),
        Verb::Bench(a) => bench::run(&a),
        Verb::Demo(a) => demo::run(&a),
        Verb::Edt(a) => dist::run_edt(&a),
        Verb::WeightMap(a) => dist::run_weight_map(&a),
        Verb::BoundaryMap(a) => bmap::run(&a),
        Verb::Export(a) => export::run(&a),
        Verb::Completions(a) => completions(a.shell),
    }
}

/// `segloss completions SHELL`: the completion script, through [`out::print`].
fn completions(shell: clap_complete::Shell) -> Result<i32, CliError> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut args::command(), "segloss", &mut script);
    out::print(&String::from_utf8_lossy(&script))?;
    Ok(0)
}

fn list(a: &args::ListArgs) -> Result<i32, CliError> {
    let cat = segloss::catalogue();
    if a.json {
        let v: Vec<serde_json::Value> = cat
            .iter()
            .map(|d| {
                serde_json::json!({
                    "name": d.name,
                    "family": d.family,
                    "config": d.config,
                    "formula": d.formula,
                    "anchor": d.anchor,
                    "modes": d.modes.iter().map(|m| m.name()).collect::<Vec<_>>(),
                    "weight": weight_text(d.weight),
                    "keys": d.keys().iter().map(|k| serde_json::json!({"key": k.key, "default": k.default, "doc": k.doc})).collect::<Vec<_>>(),
                    "aliases": d.aliases.iter().map(|a| serde_json::json!({"old": a.old, "new": a.new})).collect::<Vec<_>>(),
                })
            })
            .collect();
        outln!("{}", serde_json::Value::Array(v))?;
        return Ok(0);
    }
    let width = cat.iter().map(|d| d.name.len()).max().unwrap_or(4).max(4);
    outln!("{:width$}  {:16}  formula / modes, weight / keys (default)", "loss", "family")?;
    for d in cat {
        outln!("{:width$}  {:16}  {}", d.name, d.family, d.formula)?;
        let modes: Vec<&str> = d.modes.iter().map(|m| m.name()).collect();
        outln!("{:width$}  {:16}  modes: {}; weight: {}", "", "", modes.join(", "), weight_text(d.weight))?;
        let keys: Vec<String> = d.keys().iter().map(|k| format!("{}={}", k.key, k.default)).collect();
        outln!("{:width$}  {:16}  keys: {}", "", "", keys.join(", "))?;
    }
    Ok(0)
}

fn weight_text(w: segloss::core::WeightUse) -> &'static str {
    match w {
        segloss::core::WeightUse::None => "none",
        segloss::core::WeightUse::Optional => "optional",
        segloss::core::WeightUse::Required => "required",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_message_names_missing_features() {
        let compiled = [("AVX2", true), ("FMA", true), ("BMI2", false)];
        let msg = |det: &dyn Fn(&str) -> bool| {
            let mut out = Vec::new();
            let any = write_cpu_message(&compiled, det, &mut out);
            (any, String::from_utf8(out).unwrap())
        };
        assert_eq!(msg(&|_| true), (false, String::new()));
        assert_eq!(
            msg(&|f| f == "AVX2"),
            (true, "error: this segloss binary was built for x86-64-v3 (AVX2+FMA) but this CPU lacks FMA; rebuild with RUSTFLAGS=-Ctarget-cpu=x86-64\n".into())
        );
        assert_eq!(
            msg(&|_| false).1,
            "error: this segloss binary was built for x86-64-v3 (AVX2+FMA) but this CPU lacks AVX2, FMA; rebuild with RUSTFLAGS=-Ctarget-cpu=x86-64\n"
        );
        // A feature the build does not use is never reported.
        assert!(!msg(&|f| f != "BMI2").0);
    }

    #[test]
    fn this_cpu_runs_this_build() {
        let mut out = Vec::new();
        assert!(!write_cpu_message(&COMPILED_FEATURES, cpu_has, &mut out));
    }

    #[test]
    fn error_display_is_one_line() {
        assert_eq!(CliError::new("a\nb\r\nc").to_string(), "a b  c");
    }
}

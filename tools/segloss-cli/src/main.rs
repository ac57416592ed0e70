//! The `segloss` binary: checks the CPU, then runs [`segloss_cli::run`].

/// Exits with one `error:` line when this binary was compiled for CPU features (x86-64-v3:
/// AVX2, FMA, ...) that this CPU lacks, instead of crashing on an illegal instruction later.
#[inline(never)]
fn check_cpu() {
    let mut err = std::io::stderr().lock();
    if segloss_cli::write_cpu_message(&segloss_cli::COMPILED_FEATURES, segloss_cli::cpu_has, &mut err) {
        std::process::exit(2);
    }
}

fn main() {
    check_cpu();
    // A panic is a bug in segloss, never a reaction to bad input; still print one line, no
    // backtrace.
    std::panic::set_hook(Box::new(|info| {
        let msg = info.to_string().replace(['\n', '\r'], " ");
        segloss_cli::out::eprint(&format!("error: internal error (a bug in segloss, please report it): {msg}\n"));
    }));
    let mut argv = Vec::new();
    for a in std::env::args_os().skip(1) {
        match a.into_string() {
            Ok(s) => argv.push(s),
            Err(a) => {
                segloss_cli::out::eprint(&format!("error: argument {} is not valid UTF-8\n", a.to_string_lossy()));
                std::process::exit(2);
            }
        }
    }
    std::process::exit(segloss_cli::run(&argv));
}

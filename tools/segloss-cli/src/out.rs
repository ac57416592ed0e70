//! Everything the program prints, and how it prints numbers and user text.
//!
//! Stdout: every write goes through [`print()`] (the [`out!`](crate::out!) and
//! [`outln!`](crate::outln!) macros), never `print!`/`println!`, which panic when the write
//! fails. A closed pipe (`segloss list | head -1`; EPIPE) ends the program quietly with exit
//! status 0, as [`CliError::is_stdout_closed`] tells [`crate::run`]; any other failure
//! (`> /dev/full`) is one `error: cannot write to stdout: ...` line and exit status 2.
//!
//! Stderr: [`eprint()`], which ignores failures (there is nowhere left to report them).

use crate::CliError;
use std::io::Write;

/// Prints to stdout through [`print()`]; evaluates to `Result<(), CliError>`.
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => {
        $crate::out::print(&format!($($t)*))
    };
}

/// Prints a line to stdout through [`print()`]; evaluates to `Result<(), CliError>`.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::out::print("\n")
    };
    ($($t:tt)*) => {
        $crate::out::print(&format!("{}\n", format_args!($($t)*)))
    };
}

/// Writes `text` to `w` and flushes it; a write error becomes the error of a stdout write
/// ([`stdout_error`]).
pub fn write_to(w: &mut dyn Write, text: &str) -> Result<(), CliError> {
    w.write_all(text.as_bytes()).and_then(|()| w.flush()).map_err(stdout_error)
}

/// The error of a failed stdout write: [`CliError::stdout_closed`] for a closed pipe, else one
/// line naming stdout.
pub fn stdout_error(e: std::io::Error) -> CliError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        CliError::stdout_closed()
    } else {
        CliError::new(format!("cannot write to stdout: {e}"))
    }
}

/// Writes `text` to stdout, flushed.
pub fn print(text: &str) -> Result<(), CliError> {
    write_to(&mut std::io::stdout().lock(), text)
}

/// Writes `text` to stderr, ignoring failures.
pub fn eprint(text: &str) {
    let mut e = std::io::stderr().lock();
    let _ = e.write_all(text.as_bytes());
    let _ = e.flush();
}

/// How many characters of a user's text (a spec, a flag value) messages quote.
pub const ECHO_CHARS: usize = 200;

/// `s` cut to `max` characters, with `…` when cut.
pub fn clip_to(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

/// `s` cut to [`ECHO_CHARS`] characters, with `…` when cut: user text quoted in a message.
pub fn clip(s: &str) -> String {
    clip_to(s, ECHO_CHARS)
}

/// A message that may quote user text (a library error about a spec): every run of characters
/// without a space is cut to [`ECHO_CHARS`], and the whole to `4 * ECHO_CHARS`.
pub fn clip_words(s: &str) -> String {
    let words: Vec<String> = s.split(' ').map(clip).collect();
    clip_to(&words.join(" "), 4 * ECHO_CHARS)
}

/// A float32 (a loss value) as text: the shortest digits that read back to the same float32,
/// with an exponent (`1.49e38`, `2.5e-30`) outside `[1e-5, 1e16)`.
pub fn fmt_f32(x: f32) -> String {
    if x == 0.0 || !x.is_finite() || (1e-5..1e16).contains(&x.abs()) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// A float32 as a JSON number with the digits of [`fmt_f32`] (not those of its float64
/// widening: `0.6931472`, not `0.6931471824645996`); `null` when not finite.
pub fn json_f32(x: f32) -> serde_json::Value {
    let shortest: f64 = format!("{x:e}").parse().unwrap_or(f64::NAN);
    serde_json::Number::from_f64(shortest).map(serde_json::Value::Number).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that fails every write with `kind`.
    struct Failing(std::io::ErrorKind);

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(self.0.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn write_failures_split_into_closed_pipe_and_errors() {
        let mut v = Vec::new();
        write_to(&mut v, "a\n").unwrap();
        assert_eq!(v, b"a\n");
        let e = write_to(&mut Failing(std::io::ErrorKind::BrokenPipe), "a").unwrap_err();
        assert!(e.is_stdout_closed());
        let e = write_to(&mut Failing(std::io::ErrorKind::StorageFull), "a").unwrap_err();
        assert!(!e.is_stdout_closed());
        assert!(e.0.starts_with("cannot write to stdout: "), "{e}");
    }

    #[test]
    fn floats_print_shortest_with_an_exponent_when_large_or_small() {
        assert_eq!(fmt_f32(1.49e38), "1.49e38");
        assert_eq!(fmt_f32(std::f32::consts::LN_2), "0.6931472");
        assert_eq!(fmt_f32(2.5e-30), "2.5e-30");
        assert_eq!(fmt_f32(0.0), "0");
        assert_eq!(fmt_f32(12345.5), "12345.5");
        assert_eq!(fmt_f32(f32::INFINITY), "inf");
        for x in [1.49e38f32, 0.1, 1e-30, 7.0, f32::MAX, f32::MIN_POSITIVE, 1e-45] {
            assert_eq!(fmt_f32(x).parse::<f32>().unwrap(), x);
            assert_eq!(json_f32(x).as_f64().unwrap() as f32, x);
        }
        assert_eq!(json_f32(std::f32::consts::LN_2).to_string(), "0.6931472");
        assert_eq!(json_f32(1.49e38).to_string(), "1.49e+38");
        assert_eq!(json_f32(f32::NAN), serde_json::Value::Null);
    }

    #[test]
    fn clipping_keeps_short_text_and_cuts_long_text() {
        assert_eq!(clip("bce"), "bce");
        let long = "é".repeat(300);
        assert_eq!(clip(&long), format!("{}…", "é".repeat(ECHO_CHARS)));
        let msg = format!("unknown loss {} (known: bce, ce)", "a".repeat(1000));
        assert_eq!(clip_words(&msg), format!("unknown loss {}… (known: bce, ce)", "a".repeat(ECHO_CHARS)));
        assert!(clip_words(&"ab ".repeat(10_000)).chars().count() <= 4 * ECHO_CHARS + 1);
    }
}

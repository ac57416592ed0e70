//! Hand-rolled argument parsing: positional arguments and `--flag value` / `--flag=value` /
//! boolean `--flag`, with one-line errors naming the flag.

use crate::out::clip;
use crate::CliError;

/// A flag a verb accepts.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    /// Its long name, with the dashes (`--pred`).
    pub name: &'static str,
    /// A short alias (`-o`), if any.
    pub short: Option<&'static str>,
    /// Whether it takes a value.
    pub value: bool,
}

/// A flag that takes a value.
pub const fn val(name: &'static str) -> Flag {
    Flag { name, short: None, value: true }
}

/// A boolean flag.
pub const fn switch(name: &'static str) -> Flag {
    Flag { name, short: None, value: false }
}

/// The parsed command line of one verb.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// The verb (`eval`, ...), for messages.
    pub verb: String,
    /// Positional arguments.
    pub positional: Vec<String>,
    flags: Vec<(&'static str, Option<String>)>,
}

/// Parses `argv` (after the verb) against the verb's flags.
pub fn parse(verb: &str, argv: &[String], known: &[Flag]) -> Result<Parsed, CliError> {
    let mut p = Parsed { verb: verb.to_string(), ..Default::default() };
    let mut i = 0;
    let mut only_positional = false;
    while i < argv.len() {
        let a = &argv[i];
        i += 1;
        if only_positional || !a.starts_with('-') || a == "-" || a.parse::<f64>().is_ok() {
            p.positional.push(a.clone());
            continue;
        }
        if a == "--" {
            only_positional = true;
            continue;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let Some(f) = known.iter().find(|f| f.name == name || f.short == Some(name)) else {
            return Err(CliError::new(format!("unknown flag {} for `segloss {verb}` (see `segloss {verb} --help`)", clip(name))));
        };
        if p.flags.iter().any(|(n, _)| *n == f.name) {
            return Err(CliError::new(format!("flag {} is given twice", f.name)));
        }
        let v = if f.value {
            match inline {
                Some(v) => Some(v),
                None => {
                    let Some(v) = argv.get(i) else {
                        return Err(CliError::new(format!("flag {} needs a value", f.name)));
                    };
                    i += 1;
                    Some(v.clone())
                }
            }
        } else {
            if inline.is_some() {
                return Err(CliError::new(format!("flag {} takes no value", f.name)));
            }
            None
        };
        p.flags.push((f.name, v));
    }
    Ok(p)
}

impl Parsed {
    /// Whether a flag was given.
    pub fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|(n, _)| *n == flag)
    }

    /// A flag's value.
    pub fn get(&self, flag: &str) -> Option<&str> {
        self.flags.iter().find(|(n, _)| *n == flag).and_then(|(_, v)| v.as_deref())
    }

    /// A required flag's value.
    pub fn require(&self, flag: &str) -> Result<&str, CliError> {
        self.get(flag).ok_or_else(|| CliError::new(format!("`segloss {}` needs {flag} (see `segloss {} --help`)", self.verb, self.verb)))
    }

    /// Exactly `n` positional arguments, described by `what` for the error.
    pub fn positionals(&self, n: usize, what: &str) -> Result<&[String], CliError> {
        if self.positional.len() != n {
            let got = if self.positional.is_empty() { "none".to_string() } else { clip(&self.positional.join(" ")) };
            return Err(CliError::new(format!("`segloss {}` takes {what} (got {got}; see `segloss {} --help`)", self.verb, self.verb)));
        }
        Ok(&self.positional)
    }

    /// A positive integer flag.
    pub fn positive(&self, flag: &str) -> Result<Option<usize>, CliError> {
        match self.get(flag) {
            None => Ok(None),
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if n > 0 => Ok(Some(n)),
                _ if is_digits(v) && !v.trim().trim_start_matches('0').is_empty() => {
                    Err(CliError::new(format!("{flag}: `{}` is too large", clip(v))))
                }
                _ => Err(CliError::new(format!("{flag}: expected a positive integer, got `{}`", clip(v)))),
            },
        }
    }

    /// A positive integer flag of at most `max` (`what`: the unit, for the message).
    pub fn count(&self, flag: &str, max: usize, what: &str) -> Result<Option<usize>, CliError> {
        let too_many = |v: &str| CliError::new(format!("{flag}: `{}` is more than the {max} {what} allowed", clip(v)));
        match self.get(flag) {
            Some(v) if is_digits(v) && v.trim().parse::<usize>().map_or(true, |n| n > max) => Err(too_many(v)),
            _ => self.positive(flag),
        }
    }

    /// A finite number flag.
    pub fn number(&self, flag: &str) -> Result<Option<f64>, CliError> {
        match self.get(flag) {
            None => Ok(None),
            Some(v) => match v.trim().parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(Some(x)),
                _ => Err(CliError::new(format!("{flag}: expected a finite number, got `{}`", clip(v)))),
            },
        }
    }

    /// A finite number flag that is used as a float32: errors, quoting the text as typed, when
    /// it is beyond float32's range (`1e39` would be `inf`) or so small that it rounds to 0.
    pub fn number_f32(&self, flag: &str) -> Result<Option<f32>, CliError> {
        let Some(x) = self.number(flag)? else { return Ok(None) };
        let v = clip(self.get(flag).unwrap_or_default());
        let y = x as f32;
        if y.is_infinite() {
            return Err(CliError::new(format!("{flag}: `{v}` is beyond the range of 32-bit floats (at most {:e} in magnitude)", f32::MAX)));
        }
        if y == 0.0 && x != 0.0 {
            return Err(CliError::new(format!("{flag}: `{v}` is too small for a 32-bit float (it rounds to 0)")));
        }
        Ok(Some(y))
    }

    /// A comma-separated list of positive integers.
    pub fn dims(&self, flag: &str) -> Result<Option<Vec<usize>>, CliError> {
        match self.get(flag) {
            None => Ok(None),
            Some(v) => {
                let parts: Result<Vec<usize>, _> = v.split(',').map(|p| p.trim().parse::<usize>()).collect();
                match parts {
                    Ok(d) if !d.is_empty() && d.iter().all(|&x| x > 0) => Ok(Some(d)),
                    _ => Err(CliError::new(format!(
                        "{flag}: expected positive integers separated by commas (e.g. 8,1,256,256), got `{}`",
                        clip(v)
                    ))),
                }
            }
        }
    }

    /// A comma-separated list of positive finite numbers.
    pub fn numbers(&self, flag: &str) -> Result<Option<Vec<f64>>, CliError> {
        match self.get(flag) {
            None => Ok(None),
            Some(v) => {
                let parts: Result<Vec<f64>, _> = v.split(',').map(|p| p.trim().parse::<f64>()).collect();
                match parts {
                    Ok(d) if !d.is_empty() && d.iter().all(|&x| x.is_finite() && x > 0.0) => Ok(Some(d)),
                    _ => {
                        Err(CliError::new(format!("{flag}: expected positive numbers separated by commas (e.g. 1,0.5), got `{}`", clip(v))))
                    }
                }
            }
        }
    }
}

/// Whether `v` (trimmed) is a non-empty string of ASCII digits.
fn is_digits(v: &str) -> bool {
    let v = v.trim();
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn flags_and_positionals() {
        let known = [val("--pred"), switch("--json"), Flag { name: "--output", short: Some("-o"), value: true }];
        let p = parse("eval", &s(&["bce", "--pred=a.npy", "--json", "-o", "x", "-1.5"]), &known).unwrap();
        assert_eq!(p.positional, s(&["bce", "-1.5"]));
        assert_eq!(p.get("--pred"), Some("a.npy"));
        assert!(p.has("--json"));
        assert_eq!(p.get("--output"), Some("x"));
        assert!(parse("eval", &s(&["--nope"]), &known).unwrap_err().0.contains("--nope"));
        assert!(parse("eval", &s(&["--pred"]), &known).unwrap_err().0.contains("needs a value"));
        assert!(parse("eval", &s(&["--json", "--json"]), &known).unwrap_err().0.contains("twice"));
    }

    #[test]
    fn bounded_counts_and_float32_numbers() {
        let known = [val("--iters"), val("--w0")];
        let p = |a: &[&str]| parse("bench", &s(a), &known).unwrap();
        assert_eq!(p(&["--iters", "7"]).count("--iters", 10, "runs"), Ok(Some(7)));
        assert_eq!(p(&[]).count("--iters", 10, "runs"), Ok(None));
        for big in ["11", "18446744073709551616", "99999999999999999999999"] {
            let e = p(&["--iters", big]).count("--iters", 10, "runs").unwrap_err();
            assert_eq!(e.0, format!("--iters: `{big}` is more than the 10 runs allowed"));
        }
        assert!(p(&["--iters", "0"]).count("--iters", 10, "runs").unwrap_err().0.contains("positive integer"));
        assert!(p(&["--iters", "99999999999999999999999"]).positive("--iters").unwrap_err().0.contains("too large"));
        assert_eq!(p(&["--w0", "1e38"]).number_f32("--w0"), Ok(Some(1e38)));
        assert!(p(&["--w0", "1e39"]).number_f32("--w0").unwrap_err().0.starts_with("--w0: `1e39` is beyond"));
        assert!(p(&["--w0", "1e-50"]).number_f32("--w0").unwrap_err().0.contains("rounds to 0"));
        assert_eq!(p(&["--w0", "0"]).number_f32("--w0"), Ok(Some(0.0)));
    }
}

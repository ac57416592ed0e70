//! [`parse`] and [`clap_error`]: clap's errors as one line naming the flag or verb at fault.

use super::{command, verbs, Cli};
use crate::out::clip;
use crate::CliError;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::FromArgMatches;

/// Parses `argv` (without the program name). `Ok(None)`: help, version or usage was printed
/// (through [`crate::out`](mod@crate::out), so a closed pipe ends quietly and a full disk is an error).
pub fn parse(argv: &[String]) -> Result<Option<Cli>, CliError> {
    let cmd = command();
    let verb = argv.first().and_then(|v| cmd.find_subcommand(v)).map(|c| c.get_name().to_string());
    let parsed = cmd.try_get_matches_from(std::iter::once("segloss".to_string()).chain(argv.iter().cloned()));
    let result = parsed.and_then(|mut m| Cli::from_arg_matches_mut(&mut m));
    match result {
        Ok(cli) => Ok(Some(cli)),
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            crate::out::print(&e.render().to_string())?;
            Ok(None)
        }
        Err(e) => Err(clap_error(&e, verb.as_deref())),
    }
}

/// The strings of one context item of a clap error.
fn context(e: &clap::Error, kind: ContextKind) -> Vec<String> {
    match e.get(kind) {
        Some(ContextValue::String(s)) => vec![s.clone()],
        Some(ContextValue::Strings(v)) => v.clone(),
        Some(ContextValue::StyledStr(s)) => vec![s.to_string()],
        Some(ContextValue::StyledStrs(v)) => v.iter().map(|s| s.to_string()).collect(),
        Some(ContextValue::Number(n)) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

/// A flag or positional argument as clap shows it (`--threads <N>`, `<SPEC>`) as messages name
/// it: `--threads`, `SPEC`.
fn arg_name(shown: &str) -> String {
    let first = shown.split([' ', '=']).next().unwrap_or(shown);
    let first = first.trim_start_matches('<').trim_end_matches("...").trim_end_matches('>');
    clip(first)
}

/// `a`, `a or b`, `a, b or c`.
fn either(items: &[String]) -> String {
    joined(items, "or")
}

/// `a`, `a and b`, `a, b and c` (`conj` = `and`).
fn joined(items: &[String], conj: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} {conj} {last}", init.join(", ")),
    }
}

/// One clap error as one line: the flag or verb at fault first, the help to read at the end.
/// `verb` is the verb being parsed (`None`: the top level).
pub fn clap_error(e: &clap::Error, verb: Option<&str>) -> CliError {
    let (cmd, see) = match verb {
        Some(v) => (format!("`segloss {v}`"), format!("see `segloss {v} --help`")),
        None => ("`segloss`".to_string(), "see `segloss --help`".to_string()),
    };
    let arg = context(e, ContextKind::InvalidArg);
    let first = arg.first().map(|a| arg_name(a)).unwrap_or_default();
    let msg = match e.kind() {
        ErrorKind::UnknownArgument => {
            let hint = match context(e, ContextKind::SuggestedArg).last() {
                Some(s) => format!("did you mean {}? ", arg_name(s)),
                None => String::new(),
            };
            let shown = arg.first().map(|a| clip(a)).unwrap_or_default();
            if shown.starts_with('-') && shown != "-" {
                format!("unknown flag {} for {cmd} ({hint}{see})", arg_name(&shown))
            } else {
                format!("unexpected argument `{shown}` for {cmd} ({hint}{see})")
            }
        }
        ErrorKind::InvalidSubcommand => {
            let name = context(e, ContextKind::InvalidSubcommand).first().map(|s| clip(s)).unwrap_or_default();
            // clap lists the suggestions from the least to the most alike
            let hint = match context(e, ContextKind::SuggestedSubcommand).last() {
                Some(s) => format!("did you mean `{s}`? "),
                None => String::new(),
            };
            format!("unknown verb `{name}` ({hint}one of {}; see segloss --help)", verbs().join(", "))
        }
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            format!("no verb given (one of {}; see segloss --help)", verbs().join(", "))
        }
        ErrorKind::InvalidValue => {
            // clap gives an empty value for a flag without one
            let valid = context(e, ContextKind::ValidValue);
            let hint = match context(e, ContextKind::SuggestedValue).last() {
                Some(s) => format!(" (did you mean `{s}`?)"),
                None => String::new(),
            };
            match context(e, ContextKind::InvalidValue).into_iter().find(|v| !v.is_empty()) {
                None if valid.is_empty() => format!("flag {first} needs a value"),
                None => format!("flag {first} needs a value: {}", either(&valid)),
                Some(v) => format!("{first}: expected {}, got `{}`{hint}", either(&valid), clip(&v)),
            }
        }
        ErrorKind::ValueValidation => {
            let value = context(e, ContextKind::InvalidValue).first().map(|v| clip(v)).unwrap_or_default();
            match std::error::Error::source(e) {
                Some(why) => format!("{first}: {why}"),
                None => format!("{first}: invalid value `{value}`"),
            }
        }
        ErrorKind::ArgumentConflict => {
            let prior: Vec<String> = context(e, ContextKind::PriorArg).iter().map(|a| arg_name(a)).collect();
            if prior.is_empty() || prior.contains(&first) {
                format!("flag {first} is given twice")
            } else {
                format!("{first} cannot be combined with {} ({see})", either(&prior))
            }
        }
        ErrorKind::MissingRequiredArgument => {
            let names: Vec<String> = arg.iter().map(|a| arg_name(a)).collect();
            format!("{cmd} needs {} ({see})", joined(&names, "and"))
        }
        ErrorKind::InvalidUtf8 => format!("an argument of {cmd} is not valid UTF-8"),
        _ => {
            // Any other kind: clap's own first line, without its `error: ` prefix.
            let text = e.render().to_string();
            let line = text.lines().next().unwrap_or_default().trim_start_matches("error: ").to_string();
            format!("{} ({see})", crate::out::clip_words(&line))
        }
    };
    CliError::new(msg)
}

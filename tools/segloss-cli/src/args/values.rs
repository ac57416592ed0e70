//! The parsers of flag values. Each returns a sentence without the flag (`expected a positive
//! integer, got `0``); [`clap_error`](super::clap_error) puts the flag in front.

use super::MAX_THREADS;
use crate::out::clip;
use segloss::distance::ClassWeights;
use std::path::PathBuf;

/// A comma-separated list of positive integers (`--shape`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dims(pub Vec<usize>);

/// A comma-separated list of positive finite numbers (`--spacing`).
#[derive(Debug, Clone, PartialEq)]
pub struct Spacing(pub Vec<f64>);

/// Whether `v` (trimmed) is a non-empty string of ASCII digits.
fn is_digits(v: &str) -> bool {
    let v = v.trim();
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
}

/// A positive integer.
pub fn positive(v: &str) -> Result<usize, String> {
    match v.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ if is_digits(v) && !v.trim().trim_start_matches('0').is_empty() => Err(format!("`{}` is too large", clip(v))),
        _ => Err(format!("expected a positive integer, got `{}`", clip(v))),
    }
}

/// A positive integer of at most `max` (`what`: the unit, for the message).
pub fn count(v: &str, max: usize, what: &str) -> Result<usize, String> {
    if is_digits(v) && v.trim().parse::<usize>().map_or(true, |n| n > max) {
        return Err(format!("`{}` is more than the {max} {what} allowed", clip(v)));
    }
    positive(v)
}

/// `--threads`: 1 to [`MAX_THREADS`].
pub fn threads(v: &str) -> Result<usize, String> {
    count(v, MAX_THREADS, "threads")
}

/// `--iters`: 1 to [`crate::bench::MAX_ITERS`].
pub fn iters(v: &str) -> Result<usize, String> {
    count(v, crate::bench::MAX_ITERS, "runs")
}

/// A finite number.
pub fn number(v: &str) -> Result<f64, String> {
    match v.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(format!("expected a finite number, got `{}`", clip(v))),
    }
}

/// A finite number used as a float32: an error, quoting the text as typed, when it is beyond
/// float32's range (`1e39` would be `inf`) or so small that it rounds to 0.
pub fn number_f32(v: &str) -> Result<f32, String> {
    let x = number(v)?;
    let y = x as f32;
    if y.is_infinite() {
        return Err(format!("`{}` is beyond the range of 32-bit floats (at most {:e} in magnitude)", clip(v), f32::MAX));
    }
    if y == 0.0 && x != 0.0 {
        return Err(format!("`{}` is too small for a 32-bit float (it rounds to 0)", clip(v)));
    }
    Ok(y)
}

/// `--w0`: a float32 >= 0.
pub fn w0(v: &str) -> Result<f32, String> {
    match number_f32(v)? {
        x if x >= 0.0 => Ok(x),
        _ => Err(format!("expected a number >= 0, got `{}`", clip(v))),
    }
}

/// `--sigma`: a float32 > 0.
pub fn sigma(v: &str) -> Result<f32, String> {
    match number_f32(v)? {
        x if x > 0.0 => Ok(x),
        _ => Err(format!("expected a number > 0, got `{}`", clip(v))),
    }
}

/// `--connectivity`: 4 or 8 (2D), 6 or 26 (3D).
pub fn connectivity(v: &str) -> Result<u32, String> {
    match v.trim().parse::<u32>() {
        Ok(c @ (4 | 8 | 6 | 26)) => Ok(c),
        _ => Err(format!("expected 4 or 8 (2D), 6 or 26 (3D), got `{}`", clip(v))),
    }
}

/// `--shape`: positive integers separated by commas.
pub fn dims(v: &str) -> Result<Dims, String> {
    let parts: Result<Vec<usize>, _> = v.split(',').map(|p| p.trim().parse::<usize>()).collect();
    match parts {
        Ok(d) if !d.is_empty() && d.iter().all(|&x| x > 0) => Ok(Dims(d)),
        _ => Err(format!("expected positive integers separated by commas (e.g. 8,1,256,256), got `{}`", clip(v))),
    }
}

/// `--spacing`: positive finite numbers separated by commas.
pub fn spacing(v: &str) -> Result<Spacing, String> {
    let parts: Result<Vec<f64>, _> = v.split(',').map(|p| p.trim().parse::<f64>()).collect();
    match parts {
        Ok(d) if !d.is_empty() && d.iter().all(|&x| x.is_finite() && x > 0.0) => Ok(Spacing(d)),
        _ => Err(format!("expected positive numbers separated by commas (e.g. 1,0.5), got `{}`", clip(v))),
    }
}

/// `--class-weights`: `balanced` or two numbers >= 0.
pub fn class_weights(v: &str) -> Result<ClassWeights, String> {
    if v == "balanced" {
        return Ok(ClassWeights::Balanced);
    }
    let parts: Vec<Option<f32>> = v.split(',').map(|x| x.trim().parse::<f32>().ok()).collect();
    match parts.as_slice() {
        [Some(a), Some(b)] if a.is_finite() && b.is_finite() && *a >= 0.0 && *b >= 0.0 => Ok(ClassWeights::Fixed(*a, *b)),
        _ => Err(format!("expected `balanced` or two numbers >= 0 such as 1,5 (background, objects), got `{}`", clip(v))),
    }
}

/// `--prefix`: ASCII letters, digits and `_`.
pub fn prefix(v: &str) -> Result<String, String> {
    if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("expected ASCII letters, digits and `_`, got `{}`", clip(v)));
    }
    Ok(v.to_string())
}

/// `-o` of the map verbs (`edt`, `weight-map`, `boundary-map`): a `.npy` or `.png` file name,
/// checked before any input is read or computed (`.npz` is for inputs only).
pub fn map_output(v: &str) -> Result<PathBuf, String> {
    let ext = std::path::Path::new(v).extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("npy" | "png") => Ok(PathBuf::from(v)),
        Some("npz") => Err(format!("`{}`: .npz is for inputs only: write a .npy or .png file", clip(v))),
        _ => Err(format!("expected a .npy or .png file name, got `{}`", clip(v))),
    }
}

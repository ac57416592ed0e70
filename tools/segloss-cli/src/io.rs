//! Loading the inputs of the verbs (`.npy`, an array of an `.npz` archive, or `.png`, by
//! extension) and writing their outputs.
//!
//! An input path `ARCHIVE.npz:NAME` is the array `NAME` (the member `NAME.npy`) of an `.npz`
//! archive, and a bare `ARCHIVE.npz` its only array ([`crate::npy::npz`]).

use crate::npy::{self, NpyArray};
use crate::{image, CliError};
use ndarray::{ArrayD, IxDyn};
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// An error reading `path`, naming it.
pub fn read_error(path: &Path, e: &std::io::Error) -> CliError {
    let why = match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    };
    CliError::new(format!("{}: cannot read: {why}", path.display()))
}

/// What a file that is not a regular file is, for messages.
fn what_file(t: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_fifo() {
            return "a named pipe";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

fn check_regular(path: &Path, meta: &std::fs::Metadata) -> Result<(), CliError> {
    if meta.is_file() {
        Ok(())
    } else {
        Err(CliError::new(format!(
            "{}: not a regular file ({}); segloss reads inputs from regular files only",
            path.display(),
            what_file(meta.file_type())
        )))
    }
}

/// Opens an input file: `path`, symlinks followed, must be a regular file (a device such as
/// `/dev/zero`, a FIFO, a socket or a directory is refused before it is opened, so a FIFO does not
/// block and a device is not read without end). Returns the file and its size.
pub fn open_regular(path: &Path) -> Result<(File, u64), CliError> {
    check_regular(path, &std::fs::metadata(path).map_err(|e| read_error(path, &e))?)?;
    let f = File::open(path).map_err(|e| read_error(path, &e))?;
    // what was opened, in case the path changed since
    let meta = f.metadata().map_err(|e| read_error(path, &e))?;
    check_regular(path, &meta)?;
    Ok((f, meta.len()))
}

/// Reads a whole regular file ([`open_regular`]) of at most `max` bytes; a larger file is an
/// error naming the bound (`what` says what the bound is for), found from its size without
/// reading it.
pub fn read_bounded(path: &Path, max: u64, what: &str) -> Result<Vec<u8>, CliError> {
    let (f, len) = open_regular(path)?;
    let too_large = |n: u64| CliError::new(format!("{}: the file has {n} bytes, more than the {max} bytes allowed {what}", path.display()));
    if len > max {
        return Err(too_large(len));
    }
    let mut v = Vec::with_capacity(len as usize);
    f.take(max + 1).read_to_end(&mut v).map_err(|e| read_error(path, &e))?;
    if v.len() as u64 > max {
        return Err(too_large(v.len() as u64));
    }
    Ok(v)
}

/// The kind of file, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `.npy`
    Npy,
    /// An array of an `.npz` archive: `ARCHIVE.npz:NAME` or `ARCHIVE.npz` (inputs only)
    Npz,
    /// `.png`
    Png,
}

/// The kind of `path` by its extension (case-insensitive); `ARCHIVE.npz:NAME` is [`Kind::Npz`].
pub fn kind(path: &Path) -> Result<Kind, CliError> {
    if npy::npz::split(path).is_some() {
        return Ok(Kind::Npz);
    }
    match path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref() {
        Some("npy") => Ok(Kind::Npy),
        Some("png") => Ok(Kind::Png),
        _ => Err(CliError::new(format!("{}: unknown file type (expected a .npy, .npz or .png file)", path.display()))),
    }
}

/// Reads a `.npy` file, an array of an `.npz` archive, or a `.png` mask/label image as a
/// `[H, W]` array.
pub fn read_any(path: &Path) -> Result<NpyArray, CliError> {
    match kind(path)? {
        Kind::Npy => npy::read(path),
        Kind::Npz => npy::npz::read(path),
        Kind::Png => image::read(path),
    }
}

/// Reads the prediction: a float32/float64 `.npy` (or `.npz` array), as float32.
pub fn read_pred(path: &Path) -> Result<ArrayD<f32>, CliError> {
    if kind(path)? == Kind::Png {
        return Err(CliError::new(format!("{}: the prediction must be a float32 or float64 .npy file (or .npz array)", path.display())));
    }
    let a = read_any(path)?;
    a.to_f32(true)
        .ok_or_else(|| CliError::new(format!("{}: the prediction must be float32 or float64, not {}", path.display(), a.dtype().name())))
}

/// Reads a weight map: a float32/float64 `.npy` (or `.npz` array), as float32.
pub fn read_weight(path: &Path) -> Result<ArrayD<f32>, CliError> {
    if kind(path)? == Kind::Png {
        return Err(CliError::new(format!("{}: the weight must be a float32 or float64 .npy file (or .npz array)", path.display())));
    }
    let a = read_any(path)?;
    a.to_f32(true)
        .ok_or_else(|| CliError::new(format!("{}: the weight must be float32 or float64, not {}", path.display(), a.dtype().name())))
}

pub use segloss::core::OwnedTarget;

/// The numpy name of a target's dtype.
pub fn dtype_name(t: &OwnedTarget) -> &'static str {
    match t {
        OwnedTarget::F32(_) => "float32",
        OwnedTarget::U8(_) => "uint8",
        OwnedTarget::I32(_) => "int32",
        OwnedTarget::I64(_) => "int64",
    }
}

/// A target from a loaded array (float64 becomes float32, bool uint8 0/1 labels).
pub fn target_from_npy(a: NpyArray) -> OwnedTarget {
    match a {
        NpyArray::F32(a) => OwnedTarget::F32(a),
        NpyArray::F64(a) => OwnedTarget::F32(a.mapv(|x| x as f32)),
        NpyArray::U8(a) => OwnedTarget::U8(a),
        NpyArray::I32(a) => OwnedTarget::I32(a),
        NpyArray::I64(a) => OwnedTarget::I64(a),
        NpyArray::Bool(a) => OwnedTarget::U8(a.mapv(|b| b as u8)),
    }
}

/// The sizes `(h, w)` of the PNGs that can be the target of a pred of shape `ps`: a PNG of
/// `w` x `h` pixels is the target `[1, h, w]`, which lines up with pred `[1, C, h, w]` (labels
/// `[N, *S]`), or with pred `[1, h, w]` (pred's own shape) or `[1, C, w]` (labels `[N, 1, *S]`).
pub fn png_sizes(ps: &[usize]) -> Vec<(usize, usize)> {
    match *ps {
        [1, a, b] if a != 1 => vec![(a, b), (1, b)],
        [1, a, b] => vec![(a, b)],
        [1, _, h, w] => vec![(h, w)],
        _ => Vec::new(),
    }
}

fn fmt_shape(s: &[usize]) -> String {
    format!("[{}]", s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "))
}

/// Checks a PNG of `w` x `h` pixels against a pred of shape `ps` ([`png_sizes`]); the error
/// names the file, both shapes and the PNG sizes that would fit.
fn check_png_size(path: &Path, ps: &[usize], w: usize, h: usize) -> Result<(), CliError> {
    let sizes = png_sizes(ps);
    if sizes.contains(&(h, w)) {
        return Ok(());
    }
    let expected = match ps.first() {
        _ if !sizes.is_empty() => {
            let s: Vec<String> = sizes.iter().map(|(h, w)| format!("{w}x{h}")).collect();
            format!("expected a PNG of {} pixels", s.join(" or "))
        }
        Some(&n) if n != 1 => format!("a PNG is one image, this prediction has N = {n} images"),
        _ => "no PNG fits a prediction of this rank: use a .npy target".to_string(),
    };
    Err(CliError::new(format!(
        "{}: shape mismatch: a PNG of {w}x{h} pixels is the target {} but the prediction has shape {} ({expected})",
        path.display(),
        fmt_shape(&[1, h, w]),
        fmt_shape(ps)
    )))
}

/// Reads a target: a `.npy` (or `.npz` array) of any supported dtype, or a PNG mask/label image `[H, W]`, taken
/// as one image of labels `[1, H, W]`. With `pred_shape`, a PNG's size is checked against it
/// ([`png_sizes`]) from the PNG's header, before its pixels are decoded.
pub fn read_target(path: &Path, pred_shape: Option<&[usize]>) -> Result<(OwnedTarget, Kind), CliError> {
    let k = kind(path)?;
    let a = match (k, pred_shape) {
        (Kind::Png, Some(ps)) => image::read_checked(path, &|w, h| check_png_size(path, ps, w, h))?,
        _ => read_any(path)?,
    };
    let a = match (k, a) {
        (Kind::Png, NpyArray::U8(a)) => {
            let s = a.shape().to_vec();
            NpyArray::U8(a.into_shape_with_order(IxDyn(&[1, s[0], s[1]])).map_err(|e| CliError::new(e.to_string()))?)
        }
        (Kind::Png, NpyArray::I32(a)) => {
            let s = a.shape().to_vec();
            NpyArray::I32(a.into_shape_with_order(IxDyn(&[1, s[0], s[1]])).map_err(|e| CliError::new(e.to_string()))?)
        }
        (_, a) => a,
    };
    Ok((target_from_npy(a), k))
}

/// Writes a float map: `.npy` (float32, the array's shape) or `.png` (a heat map with a colour
/// bar and `caption` below; 2D images only: `[H, W]`, `[N, H, W]` or `[N, 1, H, W]`).
pub fn write_map(path: &Path, a: &ArrayD<f32>, caption: &str) -> Result<(), CliError> {
    match kind(path).map_err(|_| CliError::new(format!("{}: unknown output type (expected a .npy or .png file name)", path.display())))? {
        Kind::Npy => npy::write(path, &a.view()),
        Kind::Npz => Err(CliError::new(format!("{}: .npz is for inputs only: write a .npy or .png file", path.display()))),
        Kind::Png => {
            let imgs = image::images_2d(a, &path.display().to_string())?;
            let views: Vec<_> = imgs.iter().map(|i| i.view()).collect();
            image::heatmap(&views, None, caption).write(path)
        }
    }
}

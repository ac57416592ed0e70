//! Loading the inputs of the verbs (`.npy` or `.png` by extension) and writing their outputs.

use crate::npy::{self, NpyArray};
use crate::{image, CliError};
use ndarray::{ArrayD, IxDyn};
use segloss::Target;
use std::path::Path;

/// The kind of file, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `.npy`
    Npy,
    /// `.png`
    Png,
}

/// The kind of `path` by its extension (case-insensitive).
pub fn kind(path: &Path) -> Result<Kind, CliError> {
    match path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref() {
        Some("npy") => Ok(Kind::Npy),
        Some("png") => Ok(Kind::Png),
        _ => Err(CliError::new(format!("{}: unknown file type (expected a .npy or .png file)", path.display()))),
    }
}

/// Reads a `.npy` file, or a `.png` mask/label image as a `[H, W]` array.
pub fn read_any(path: &Path) -> Result<NpyArray, CliError> {
    match kind(path)? {
        Kind::Npy => npy::read(path),
        Kind::Png => image::read(path),
    }
}

/// Reads the prediction: a float32/float64 `.npy`, as float32.
pub fn read_pred(path: &Path) -> Result<ArrayD<f32>, CliError> {
    if kind(path)? != Kind::Npy {
        return Err(CliError::new(format!("{}: the prediction must be a float32 or float64 .npy file", path.display())));
    }
    let a = npy::read(path)?;
    a.to_f32(true)
        .ok_or_else(|| CliError::new(format!("{}: the prediction must be float32 or float64, not {}", path.display(), a.dtype().name())))
}

/// Reads a weight map: a float32/float64 `.npy`, as float32.
pub fn read_weight(path: &Path) -> Result<ArrayD<f32>, CliError> {
    if kind(path)? != Kind::Npy {
        return Err(CliError::new(format!("{}: the weight must be a float32 or float64 .npy file", path.display())));
    }
    let a = npy::read(path)?;
    a.to_f32(true)
        .ok_or_else(|| CliError::new(format!("{}: the weight must be float32 or float64, not {}", path.display(), a.dtype().name())))
}

/// An owned target.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnedTarget {
    /// Float targets (from float32/float64 `.npy`).
    F32(ArrayD<f32>),
    /// uint8 labels (uint8 or bool `.npy`, 1- to 8-bit or palette PNG).
    U8(ArrayD<u8>),
    /// int32 labels (int32 `.npy`, 16-bit PNG).
    I32(ArrayD<i32>),
    /// int64 labels.
    I64(ArrayD<i64>),
}

impl OwnedTarget {
    /// A view for a [`segloss::Batch`].
    pub fn view(&self) -> Target<'_> {
        match self {
            OwnedTarget::F32(a) => Target::F32(a.view()),
            OwnedTarget::U8(a) => Target::U8(a.view()),
            OwnedTarget::I32(a) => Target::I32(a.view()),
            OwnedTarget::I64(a) => Target::I64(a.view()),
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            OwnedTarget::F32(a) => a.shape(),
            OwnedTarget::U8(a) => a.shape(),
            OwnedTarget::I32(a) => a.shape(),
            OwnedTarget::I64(a) => a.shape(),
        }
    }

    /// The dtype name.
    pub fn dtype(&self) -> &'static str {
        match self {
            OwnedTarget::F32(_) => "float32",
            OwnedTarget::U8(_) => "uint8",
            OwnedTarget::I32(_) => "int32",
            OwnedTarget::I64(_) => "int64",
        }
    }

    /// From a loaded array (bool becomes uint8 0/1 labels).
    pub fn from_npy(a: NpyArray) -> OwnedTarget {
        match a {
            NpyArray::F32(a) => OwnedTarget::F32(a),
            NpyArray::F64(a) => OwnedTarget::F32(a.mapv(|x| x as f32)),
            NpyArray::U8(a) => OwnedTarget::U8(a),
            NpyArray::I32(a) => OwnedTarget::I32(a),
            NpyArray::I64(a) => OwnedTarget::I64(a),
            NpyArray::Bool(a) => OwnedTarget::U8(a.mapv(|b| b as u8)),
        }
    }
}

/// Reads a target: a `.npy` of any supported dtype, or a PNG mask/label image `[H, W]`, taken
/// as one image of labels `[1, H, W]`.
pub fn read_target(path: &Path) -> Result<(OwnedTarget, Kind), CliError> {
    let k = kind(path)?;
    let a = read_any(path)?;
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
    Ok((OwnedTarget::from_npy(a), k))
}

/// Writes a float map: `.npy` (float32, the array's shape) or `.png` (a heat map with a colour
/// bar and `caption` below; 2D images only: `[H, W]`, `[N, H, W]` or `[N, 1, H, W]`).
pub fn write_map(path: &Path, a: &ArrayD<f32>, caption: &str) -> Result<(), CliError> {
    match kind(path).map_err(|_| CliError::new(format!("{}: unknown output type (expected a .npy or .png file name)", path.display())))? {
        Kind::Npy => npy::write(path, &a.view()),
        Kind::Png => {
            let imgs = image::images_2d(a, &path.display().to_string())?;
            let views: Vec<_> = imgs.iter().map(|i| i.view()).collect();
            image::heatmap(&views, None, caption).write(path)
        }
    }
}

//! `segloss edt` and `segloss weight-map`: distance transforms and U-Net weight maps through
//! `segloss::distance`.

use crate::args::{self, switch, val, Flag};
use crate::npy::NpyArray;
use crate::out::clip;
use crate::{io, CliError};
use ndarray::ArrayD;
use segloss::distance::{self, ClassWeights, EdtOptions, UnetWeightConfig};
use std::path::{Path, PathBuf};

/// `segloss edt --help`.
pub const EDT_HELP: &str = "\
usage: segloss edt MASK -o OUT [--spacing a,b[,c]] [--squared] [--threads N]

The exact Euclidean distance transform of MASK: for every nonzero pixel, the distance to the
nearest zero pixel; 0 on zero pixels; +inf everywhere if the mask has no zero pixel (anchor: scipy
ndimage.distance_transform_edt(mask, sampling=spacing)).

  MASK            .npy (2D [H, W] image or 3D [D, H, W] volume; float32/float64, uint8, int32,
                  int64 or bool; nonzero = foreground) or .png (grayscale/palette, 2D)
  -o, --output    .npy (float32, MASK's shape) or .png (a heat map with a colour bar; 2D only;
                  non-finite values in magenta)
  --spacing       distance between pixel centres per axis, e.g. 1,0.5 (default 1 on every axis)
  --squared       squared distances
  --threads N     worker threads (default: all cores)
";

/// `segloss weight-map --help`.
pub const WEIGHT_HELP: &str = "\
usage: segloss weight-map LABELS -o OUT [--w0 10] [--sigma 5] [--connectivity N]
                          [--class-weights balanced|a,b] [--input auto|mask|instances] [--threads N]

The U-Net weight map (Ronneberger et al. 2015, eq. 2): w = w_c + w0 exp(-(d1 + d2)^2 / (2 sigma^2))
on background pixels, w_c on object pixels, with d1, d2 the distances to the nearest and the
second-nearest object.

  LABELS          .npy (2D [H, W] or 3D [D, H, W]) or .png: instance labels (0 background, every
                  other value one object) or a binary mask (its connected components are the
                  objects)
  -o, --output    .npy (float32, LABELS' shape) or .png (heat map with a colour bar; 2D only)
  --w0            amplitude of the border term (default 10)
  --sigma         width of the border term in pixels (default 5)
  --connectivity  of the components of a mask: 4 (default) or 8 in 2D, 6 (default) or 26 in 3D
  --class-weights balanced (default: w_c = n / (2 n_c)) or a,b (background a, objects b)
  --input         auto (default: a bool array or values in {0, 1} is a mask, anything else
                  instance labels), mask or instances
  --threads N     worker threads (default: all cores)
";

const EDT_FLAGS: &[Flag] =
    &[Flag { name: "--output", short: Some("-o"), value: true }, val("--spacing"), switch("--squared"), val("--threads")];

const WEIGHT_FLAGS: &[Flag] = &[
    Flag { name: "--output", short: Some("-o"), value: true },
    val("--w0"),
    val("--sigma"),
    val("--connectivity"),
    val("--class-weights"),
    val("--input"),
    val("--threads"),
];

fn output(p: &args::Parsed) -> Result<PathBuf, CliError> {
    let out = PathBuf::from(p.require("--output")?);
    io::kind(&out).map_err(|_| CliError::new(format!("-o {}: expected a .npy or .png file name", out.display())))?;
    Ok(out)
}

fn check_rank(a: &NpyArray, path: &Path) -> Result<(), CliError> {
    let s = a.shape();
    if s.len() != 2 && s.len() != 3 {
        return Err(CliError::new(format!("{}: expected a 2D [H, W] image or a 3D [D, H, W] volume, got shape {s:?}", path.display())));
    }
    Ok(())
}

/// The distance transform of a loaded mask.
pub fn edt_of(a: &NpyArray, opts: &EdtOptions) -> segloss::Result<ArrayD<f32>> {
    match a {
        NpyArray::F32(m) => distance::edt(m.view(), opts),
        NpyArray::F64(m) => distance::edt(m.mapv(|x| x as f32).view(), opts),
        NpyArray::U8(m) => distance::edt(m.view(), opts),
        NpyArray::I32(m) => distance::edt(m.view(), opts),
        NpyArray::I64(m) => distance::edt(m.mapv(|x| x != 0).view(), opts),
        NpyArray::Bool(m) => distance::edt(m.view(), opts),
    }
}

/// Runs `segloss edt`.
pub fn run_edt(argv: &[String]) -> Result<i32, CliError> {
    let p = args::parse("edt", argv, EDT_FLAGS)?;
    let input = PathBuf::from(&p.positionals(1, "one MASK file")?[0]);
    let out = output(&p)?;
    let spacing = p.numbers("--spacing")?;
    let (pool, _) = crate::thread_pool(&p)?;
    let mask = io::read_any(&input)?;
    check_rank(&mask, &input)?;
    if let Some(s) = &spacing {
        if s.len() != mask.shape().len() {
            return Err(CliError::new(format!(
                "--spacing: {} values given but {} has {} axes (shape {:?})",
                s.len(),
                input.display(),
                mask.shape().len(),
                mask.shape()
            )));
        }
    }
    let opts = EdtOptions { spacing, squared: p.has("--squared") };
    let d = pool.install(|| edt_of(&mask, &opts)).map_err(|e| CliError::new(format!("{}: {e}", input.display())))?;
    io::write_map(&out, &d, if opts.squared { "squared edt" } else { "edt" })?;
    Ok(0)
}

/// How `weight-map` reads its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A binary mask: connected components.
    Mask,
    /// Instance labels.
    Instances,
}

fn is_01<T: Copy>(a: &ArrayD<T>, f: impl Fn(T) -> bool) -> bool {
    a.iter().all(|&x| f(x))
}

/// The U-Net weight map of a loaded array.
pub fn weights_of(a: &NpyArray, kind: Option<InputKind>, cfg: &UnetWeightConfig, path: &Path) -> Result<ArrayD<f32>, CliError> {
    let auto = match a {
        NpyArray::Bool(_) => InputKind::Mask,
        NpyArray::U8(m) => {
            if is_01(m, |x| x <= 1) {
                InputKind::Mask
            } else {
                InputKind::Instances
            }
        }
        NpyArray::I32(m) => {
            if is_01(m, |x| x == 0 || x == 1) {
                InputKind::Mask
            } else {
                InputKind::Instances
            }
        }
        NpyArray::I64(m) => {
            if is_01(m, |x| x == 0 || x == 1) {
                InputKind::Mask
            } else {
                InputKind::Instances
            }
        }
        NpyArray::F32(m) => {
            if is_01(m, |x| x == 0.0 || x == 1.0) {
                InputKind::Mask
            } else {
                InputKind::Instances
            }
        }
        NpyArray::F64(m) => {
            if is_01(m, |x| x == 0.0 || x == 1.0) {
                InputKind::Mask
            } else {
                InputKind::Instances
            }
        }
    };
    let kind = kind.unwrap_or(auto);
    let name = path.display();
    let float_labels = |v: &mut dyn Iterator<Item = f64>| -> Result<Vec<i64>, CliError> {
        v.enumerate()
            .map(|(i, x)| {
                if x.fract() == 0.0 && (0.0..9.0e15).contains(&x) {
                    Ok(x as i64)
                } else {
                    Err(CliError::new(format!(
                        "{name}: not an instance-label image: element {i} is {x} (labels must be non-negative integers)"
                    )))
                }
            })
            .collect()
    };
    let r = match (kind, a) {
        (InputKind::Mask, NpyArray::Bool(m)) => distance::unet_weights_from_mask(m.view(), cfg),
        (InputKind::Mask, NpyArray::U8(m)) => distance::unet_weights_from_mask(m.view(), cfg),
        (InputKind::Mask, NpyArray::I32(m)) => distance::unet_weights_from_mask(m.view(), cfg),
        (InputKind::Mask, NpyArray::I64(m)) => distance::unet_weights_from_mask(m.mapv(|x| x != 0).view(), cfg),
        (InputKind::Mask, NpyArray::F32(m)) => distance::unet_weights_from_mask(m.view(), cfg),
        (InputKind::Mask, NpyArray::F64(m)) => distance::unet_weights_from_mask(m.mapv(|x| x != 0.0).view(), cfg),
        (InputKind::Instances, NpyArray::Bool(m)) => distance::unet_weights_from_instances(m.mapv(|x| x as u8).view(), cfg),
        (InputKind::Instances, NpyArray::U8(m)) => distance::unet_weights_from_instances(m.view(), cfg),
        (InputKind::Instances, NpyArray::I32(m)) => distance::unet_weights_from_instances(m.view(), cfg),
        (InputKind::Instances, NpyArray::I64(m)) => distance::unet_weights_from_instances(m.view(), cfg),
        (InputKind::Instances, NpyArray::F32(m)) => {
            let v = float_labels(&mut m.iter().map(|&x| x as f64))?;
            let l = ArrayD::from_shape_vec(m.raw_dim(), v).map_err(|e| CliError::new(e.to_string()))?;
            distance::unet_weights_from_instances(l.view(), cfg)
        }
        (InputKind::Instances, NpyArray::F64(m)) => {
            let v = float_labels(&mut m.iter().copied())?;
            let l = ArrayD::from_shape_vec(m.raw_dim(), v).map_err(|e| CliError::new(e.to_string()))?;
            distance::unet_weights_from_instances(l.view(), cfg)
        }
    };
    r.map_err(|e| CliError::new(format!("{name}: {e}")))
}

/// Parses `--class-weights`.
pub fn class_weights(v: Option<&str>) -> Result<ClassWeights, CliError> {
    match v {
        None | Some("balanced") => Ok(ClassWeights::Balanced),
        Some(s) => {
            let parts: Vec<Option<f32>> = s.split(',').map(|x| x.trim().parse::<f32>().ok()).collect();
            match parts.as_slice() {
                [Some(a), Some(b)] if a.is_finite() && b.is_finite() && *a >= 0.0 && *b >= 0.0 => Ok(ClassWeights::Fixed(*a, *b)),
                _ => Err(CliError::new(format!(
                    "--class-weights: expected `balanced` or two numbers >= 0 such as 1,5 (background, objects), got `{}`",
                    clip(s)
                ))),
            }
        }
    }
}

/// Runs `segloss weight-map`.
pub fn run_weight_map(argv: &[String]) -> Result<i32, CliError> {
    let p = args::parse("weight-map", argv, WEIGHT_FLAGS)?;
    let input = PathBuf::from(&p.positionals(1, "one LABELS file")?[0]);
    let out = output(&p)?;
    let mut cfg = UnetWeightConfig::default();
    if let Some(w0) = p.number_f32("--w0")? {
        if w0 < 0.0 {
            return Err(CliError::new(format!("--w0: expected a number >= 0, got `{}`", clip(p.get("--w0").unwrap_or_default()))));
        }
        cfg.w0 = w0;
    }
    if let Some(s) = p.number_f32("--sigma")? {
        if s <= 0.0 {
            return Err(CliError::new(format!("--sigma: expected a number > 0, got `{}`", clip(p.get("--sigma").unwrap_or_default()))));
        }
        cfg.sigma = s;
    }
    if let Some(c) = p.positive("--connectivity")? {
        if ![4, 8, 6, 26].contains(&c) {
            return Err(CliError::new(format!("--connectivity: expected 4 or 8 (2D), 6 or 26 (3D), got `{c}`")));
        }
        cfg.connectivity = Some(c as u32);
    }
    cfg.class_weights = class_weights(p.get("--class-weights"))?;
    let kind = match p.get("--input") {
        None | Some("auto") => None,
        Some("mask") => Some(InputKind::Mask),
        Some("instances") => Some(InputKind::Instances),
        Some(o) => return Err(CliError::new(format!("--input: expected auto, mask or instances, got `{}`", clip(o)))),
    };
    let (pool, _) = crate::thread_pool(&p)?;
    let a = io::read_any(&input)?;
    check_rank(&a, &input)?;
    if let Some(c) = cfg.connectivity {
        let ok = if a.shape().len() == 2 { c == 4 || c == 8 } else { c == 6 || c == 26 };
        if !ok {
            return Err(CliError::new(format!(
                "--connectivity: {c} does not fit the {}D input {} (use {})",
                a.shape().len(),
                input.display(),
                if a.shape().len() == 2 { "4 or 8" } else { "6 or 26" }
            )));
        }
    }
    let w = pool.install(|| weights_of(&a, kind, &cfg, &input))?;
    io::write_map(&out, &w, "u-net weights")?;
    Ok(0)
}

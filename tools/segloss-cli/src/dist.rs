//! `segloss edt` and `segloss weight-map`: distance transforms and U-Net weight maps through
//! `segloss::distance`.

use crate::args::{EdtArgs, InputArg, WeightMapArgs};
use crate::npy::NpyArray;
use crate::{io, CliError};
use ndarray::ArrayD;
use segloss::distance::{self, EdtOptions, UnetWeightConfig};
use std::path::{Path, PathBuf};

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
pub fn run_edt(a: &EdtArgs) -> Result<i32, CliError> {
    let input = PathBuf::from(&a.mask);
    let out = &a.output;
    let spacing = a.spacing.clone().map(|s| s.0);
    let (pool, _) = crate::thread_pool(&a.threads)?;
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
    let opts = EdtOptions { spacing, squared: a.squared };
    let d = pool.install(|| edt_of(&mask, &opts)).map_err(|e| CliError::new(format!("{}: {e}", input.display())))?;
    io::write_map(out, &d, if opts.squared { "squared edt" } else { "edt" })?;
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

/// Runs `segloss weight-map`.
pub fn run_weight_map(args: &WeightMapArgs) -> Result<i32, CliError> {
    let input = PathBuf::from(&args.labels);
    let out = &args.output;
    let cfg = UnetWeightConfig { w0: args.w0, sigma: args.sigma, connectivity: args.connectivity, class_weights: args.class_weights };
    let kind = match args.input {
        InputArg::Auto => None,
        InputArg::Mask => Some(InputKind::Mask),
        InputArg::Instances => Some(InputKind::Instances),
    };
    let (pool, _) = crate::thread_pool(&args.threads)?;
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
    io::write_map(out, &w, "u-net weights")?;
    Ok(0)
}

//! `segloss boundary-map`: the distance map `phi` of the `boundary` loss for a target
//! ([`segloss::distance::boundary_map`]), the `boundary_map` input of its ONNX graph.

use crate::args::BoundaryMapArgs;
use crate::eval::{parse_spec, spec_error};
use crate::io::{self, OwnedTarget};
use crate::out::clip;
use crate::CliError;
use segloss::distance::{boundary_map, BoundaryConfig};
use segloss::Target;
use std::path::{Path, PathBuf};

/// The config of the one `boundary` term of `spec_str`.
fn boundary_config(spec_str: &str) -> Result<BoundaryConfig, CliError> {
    let spec = parse_spec(spec_str)?;
    let terms: Vec<_> = spec.terms.iter().filter_map(|t| segloss::info(&t.name).filter(|d| d.name == "boundary").map(|d| (d, t))).collect();
    let [(decl, term)] = terms.as_slice() else {
        return Err(CliError::new(format!(
            "SPEC: `{}` has {} `boundary` terms; boundary-map writes the map of exactly one",
            clip(spec_str),
            terms.len()
        )));
    };
    // the whole spec must build (every key of every term valid), then the boundary term alone
    spec.build().map_err(|e| spec_error(spec_str, &e))?;
    let loss = decl.build_from(term.params.clone()).map_err(|e| spec_error(spec_str, &e))?;
    loss.config()
        .and_then(|c| c.downcast_ref::<BoundaryConfig>())
        .cloned()
        .ok_or_else(|| CliError::new("internal error: the `boundary` loss does not expose its config"))
}

/// pred's shape for `target`: the target's own shape for a float target; `[N, C, *S]` for
/// labels `[N, *S]` or `[N, 1, *S]` with `--classes C`.
fn pred_shape(target: &OwnedTarget, classes: Option<usize>, path: &Path) -> Result<Vec<usize>, CliError> {
    let s = target.shape().to_vec();
    match (target, classes) {
        (OwnedTarget::F32(_), None) => Ok(s),
        (OwnedTarget::F32(_), Some(c)) => match s.get(1) {
            Some(&tc) if tc == c => Ok(s),
            _ => Err(CliError::new(format!(
                "--classes: {c} does not match the float target {} of shape {s:?} (a float target has pred's shape [N, C, *S])",
                path.display()
            ))),
        },
        (_, None) => Err(CliError::new(format!(
            "{}: integer labels of shape {s:?}: give --classes C, the prediction's channel count (1 for a binary prediction)",
            path.display()
        ))),
        (_, Some(c)) => {
            if s.len() < 2 {
                return Err(CliError::new(format!(
                    "{}: labels need a batch axis and 1 to 3 spatial axes, got shape {s:?}",
                    path.display()
                )));
            }
            // [N, 1, *S] labels with a 2D-or-more spatial part keep their axis; else insert C
            let spatial = if s.len() >= 4 && s[1] == 1 { &s[2..] } else { &s[1..] };
            Ok([&[s[0], c][..], spatial].concat())
        }
    }
}

/// Runs `segloss boundary-map`.
pub fn run(a: &BoundaryMapArgs) -> Result<i32, CliError> {
    let cfg = boundary_config(&a.spec)?;
    let (pool, _) = crate::thread_pool(&a.threads)?;
    let path = PathBuf::from(&a.target);
    let (target, _) = io::read_target(&path, None)?;
    let ps = pred_shape(&target, a.classes, &path)?;
    let view: Target<'_> = target.view();
    let phi = pool.install(|| boundary_map(view, &ps, &cfg)).map_err(|e| CliError::new(format!("{}: {e}", path.display())))?;
    io::write_map(&a.output, &phi, "boundary map")?;
    Ok(0)
}

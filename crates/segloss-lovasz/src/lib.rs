//! The lovasz family (work in progress: the catalogue is empty until the family lands).
use segloss_core::{Loss, LossInfo, Params, Result};

/// The losses of this family.
pub fn catalogue() -> &'static [LossInfo] {
    &[]
}

/// Builds the loss `name` of this family from spec parameters (`None` if the name is not ours).
pub fn build(name: &str, _params: &mut Params) -> Option<Result<Box<dyn Loss>>> {
    let _ = name;
    None
}

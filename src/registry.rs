//! The catalogue: every loss of every family, found by name.
//!
//! A family crate exposes `catalogue() -> &'static [LossInfo]` and
//! `build(name, &mut Params) -> Option<Result<Box<dyn Loss>>>` (`None` when the name is not its
//! own); plugging a family in is one line in [`FAMILIES`].

use segloss_core::{Loss, LossError, LossInfo, Params, Result};

/// A family's builder: `None` when the name is not its own.
pub type BuildFn = fn(&str, &mut Params) -> Option<Result<Box<dyn Loss>>>;

/// A family of losses.
pub struct Family {
    /// Its crate name.
    pub name: &'static str,
    /// Its losses.
    pub catalogue: fn() -> &'static [LossInfo],
    /// Its builder.
    pub build: BuildFn,
}

/// Every family, in catalogue order.
pub const FAMILIES: &[Family] = &[
    Family { name: "segloss-xent", catalogue: segloss_xent::catalogue, build: segloss_xent::build },
    Family { name: "segloss-overlap", catalogue: segloss_overlap::catalogue, build: segloss_overlap::build },
    Family { name: "segloss-lovasz", catalogue: segloss_lovasz::catalogue, build: segloss_lovasz::build },
];

/// Every loss of the catalogue.
pub fn catalogue() -> Vec<&'static LossInfo> {
    FAMILIES.iter().flat_map(|f| (f.catalogue)().iter()).collect()
}

/// Looks a loss up by name.
pub fn info(name: &str) -> Option<&'static LossInfo> {
    catalogue().into_iter().find(|i| i.name == name)
}

/// Builds the loss `name` from its parameters.
pub fn build(name: &str, params: &mut Params) -> Result<Box<dyn Loss>> {
    for f in FAMILIES {
        if let Some(r) = (f.build)(name, params) {
            return r;
        }
    }
    let names: Vec<&str> = catalogue().iter().map(|i| i.name).collect();
    Err(LossError::config("name", name, format!("unknown loss (known: {})", names.join(", "))))
}

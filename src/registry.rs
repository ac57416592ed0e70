//! The registry: every loss of every family, found by name. It is the only door: the spec
//! parser, the CLI, the demo, the ONNX exporter, the docs and the tests ask it which losses
//! exist, which modes each accepts, whether it takes a weight, and its keys and defaults.
//!
//! Each family crate lists its losses in one constant (`segloss_xent::LOSSES`, ...), one line per
//! loss; plugging a family in is one line in [`FAMILIES`].

use segloss_core::spec::Registry;
use segloss_core::LossDecl;
use std::sync::LazyLock;

/// Every family's losses, in catalogue order.
pub const FAMILIES: &[&[LossDecl]] = &[segloss_xent::LOSSES, segloss_overlap::LOSSES, segloss_lovasz::LOSSES, segloss_distance::LOSSES];

static ALL: LazyLock<Vec<LossDecl>> = LazyLock::new(|| FAMILIES.iter().flat_map(|f| f.iter().copied()).collect());

/// The registry of every loss.
pub fn registry() -> Registry<'static> {
    Registry::new(&ALL)
}

/// Every loss of the catalogue, in order.
pub fn catalogue() -> &'static [LossDecl] {
    &ALL
}

/// Looks a loss up by name.
pub fn info(name: &str) -> Option<&'static LossDecl> {
    registry().get(name)
}

/// The Markdown key table of a loss, as `docs/LOSSES.md` shows it between the markers
/// `<!-- registry:NAME -->` and `<!-- /registry -->` (a test keeps the two equal).
pub fn key_table(decl: &LossDecl) -> String {
    use segloss_core::WeightUse;
    let modes: Vec<&str> = decl.modes.iter().map(|m| m.name()).collect();
    let weight = match decl.weight {
        WeightUse::None => "no `weight` input",
        WeightUse::Optional => "optional `weight` input",
        WeightUse::Required => "`weight` input required",
    };
    let mut s = format!("Modes: {}; {weight}. Rust: `{}` in `{}`.\n\n", modes.join(", "), decl.config, decl.family);
    s += "| key | default | meaning |\n|---|---|---|\n";
    for k in decl.keys() {
        s += &format!("| `{}` | `{}` | {} |\n", k.key, k.default, k.doc.replace('|', "\\|"));
    }
    for a in decl.aliases {
        s += &format!("| `{}` | | old name of `{}`, still accepted; prints as `{}` |\n", a.old, a.new, a.new);
    }
    s
}

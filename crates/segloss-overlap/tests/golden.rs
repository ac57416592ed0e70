//! Golden values: every case of `tests/fixtures/overlap.json` (written by
//! `tools/golden/overlap.py` with MONAI 1.6 and segmentation_models_pytorch 0.6 in float64 on
//! float32 inputs; each case carries its spec and the Python call that produced it) is built from
//! its spec with the family's registry and must match:
//! `|value - ref| <= 1e-5 |ref| + 1e-7` and `max |grad - ref| <= 1e-4 max |ref grad|`.
//!
//! The `log_cosh_dice` cases are `log(cosh(DiceLoss(...)))` on MONAI and Jadon's own
//! `log_cosh_dice_loss` (2020), written out in torch.

use segloss_core::golden::{check_loss, Fixture};
use segloss_core::Registry;
use std::collections::BTreeSet;

/// Relative tolerance of the value.
const VALUE_REL: f64 = 1e-5;
/// Absolute tolerance of the value.
const VALUE_ABS: f64 = 1e-7;
/// Tolerance of the gradient, relative to its largest reference element.
const GRAD_REL: f64 = 1e-4;

fn fixture() -> Fixture {
    Fixture::load(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/overlap.json")).unwrap_or_else(|e| panic!("{e}"))
}

fn registry() -> Registry<'static> {
    Registry::new(segloss_overlap::LOSSES)
}

/// The fixture is the script's, and every loss of the family's registry has golden cases in one
/// of the family's fixtures (`overlap.json` here; `cldice.json` and `wasserstein_dice.json`,
/// checked by tests/cldice.rs and tests/wasserstein_dice.rs, from their own scripts).
#[test]
fn every_loss_of_the_registry_has_golden_cases() {
    let fx = fixture();
    assert_eq!(fx.generator, "tools/golden/overlap.py");
    let monai = fx.versions.get("monai").map(String::as_str).unwrap_or("");
    assert!(monai.starts_with("1."), "{:?}", fx.versions);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let mut covered = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let f = Fixture::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(f.generator.starts_with("tools/golden/"), "{}: generator {}", f.file, f.generator);
            for c in &f.cases {
                covered.insert(registry().parse(&c.spec).unwrap_or_else(|e| panic!("{}", c.error(e)))[0].name.clone());
            }
        }
    }
    for decl in registry().decls() {
        assert!(covered.contains(decl.name), "no golden case for {} in {dir}", decl.name);
    }
}

#[test]
fn golden_values_and_gradients() {
    let fx = fixture();
    let mut failures = Vec::new();
    for case in &fx.cases {
        let loss = registry().build_str(&case.spec).unwrap_or_else(|e| panic!("{}", case.error(e)));
        match check_loss(case, &loss, VALUE_REL, VALUE_ABS, GRAD_REL) {
            Ok(c) => eprintln!("{:48} value rel err {:.1e}, grad err / max|ref| {:.1e}", case.name, c.value_rel, c.grad_rel),
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{} of {} golden cases failed:\n{}", failures.len(), fx.cases.len(), failures.join("\n"));
}

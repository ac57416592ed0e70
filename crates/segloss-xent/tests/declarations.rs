//! The declarations: registry order, key tables and defaults, printing configs back to spec
//! strings, and the cross-key rules that `build()` checks.

use segloss_core::spec::print_terms;
use segloss_core::{Loss, LossError, Mode, Reduction, Registry};
use segloss_xent::*;

fn registry() -> Registry<'static> {
    Registry::new(LOSSES)
}

fn keys(name: &str) -> Vec<(&'static str, String)> {
    registry().find(name).unwrap().keys().iter().map(|k| (k.key, k.default.clone())).collect()
}

fn err(spec: &str) -> (String, String, String) {
    match registry().build_str(spec).map(|_| ()).unwrap_err() {
        LossError::InvalidConfig { key, value, reason } => (key, value, reason),
        e => panic!("{spec}: unexpected {e}"),
    }
}

#[test]
fn the_family_lists_its_losses_in_order() {
    let names: Vec<&str> = LOSSES.iter().map(|d| d.name).collect();
    assert_eq!(names, ["bce", "wce", "balanced_ce", "focal", "distance_bce", "ce", "topk_ce"]);
    for d in LOSSES {
        assert_eq!(d.family, "segloss-xent");
        assert!(!d.formula.is_empty() && !d.anchor.is_empty(), "{}", d.name);
        assert!(d.keys().iter().all(|k| !k.doc.is_empty()), "{}", d.name);
    }
    assert_eq!(CeConfig::DECL.modes, [Mode::Multiclass]);
    assert_eq!(FocalConfig::DECL.modes, [Mode::Binary, Mode::Multilabel, Mode::Multiclass]);
    assert_eq!(DistanceBceConfig::DECL.weight, segloss_core::WeightUse::Required);
    assert_eq!(BceConfig::DECL.weight, segloss_core::WeightUse::Optional);
    assert_eq!(TopkCeConfig::DECL.weight, segloss_core::WeightUse::None);
    assert_eq!(
        keys("topk_ce"),
        [
            ("k", "10"),
            ("class_weights", "none"),
            ("ignore_index", "-100"),
            ("label_smoothing", "0"),
            ("from_logits", "true"),
            ("mode", "inferred")
        ]
        .map(|(k, d)| (k, d.to_string()))
    );
}

#[test]
fn key_tables_and_defaults() {
    let s = |v: &[(&'static str, &str)]| v.iter().map(|(k, d)| (*k, d.to_string())).collect::<Vec<_>>();
    assert_eq!(
        keys("bce"),
        s(&[("pos_weight", "1"), ("label_smoothing", "0"), ("from_logits", "true"), ("reduction", "mean"), ("mode", "inferred")])
    );
    assert_eq!(keys("wce"), s(&[("beta", "required"), ("from_logits", "true"), ("reduction", "mean"), ("mode", "inferred")]));
    assert_eq!(keys("balanced_ce"), s(&[("beta", "0.5"), ("from_logits", "true"), ("reduction", "mean"), ("mode", "inferred")]));
    assert_eq!(
        keys("focal"),
        s(&[
            ("gamma", "2"),
            ("alpha", "0.25 (binary, multilabel)"),
            ("class_weights", "none"),
            ("include_background", "true"),
            ("ignore_index", "-100"),
            ("from_logits", "true"),
            ("reduction", "mean"),
            ("mode", "inferred"),
        ])
    );
    // the focal keys say which modes they apply to
    let focal = registry().find("focal").unwrap();
    for k in focal.keys().iter().filter(|k| !["from_logits", "reduction", "mode"].contains(&k.key)) {
        assert!(k.doc.starts_with("every mode:") || k.doc.starts_with("binary/multilabel:"), "focal {}: {}", k.key, k.doc);
    }
    assert_eq!(keys("distance_bce"), s(&[("beta", "0.5"), ("from_logits", "true"), ("reduction", "mean"), ("mode", "inferred")]));
    assert_eq!(
        keys("ce"),
        s(&[("class_weights", "none"), ("ignore_index", "-100"), ("label_smoothing", "0"), ("reduction", "mean"), ("mode", "inferred")])
    );
    // the shared keys have one doc line, whichever loss lists them
    let doc = |name: &str, key: &str| registry().find(name).unwrap().key(key).unwrap().doc.clone();
    assert_eq!(doc("bce", "reduction"), doc("ce", "reduction"));
    assert_eq!(doc("bce", "from_logits"), doc("focal", "from_logits"));
    assert!(registry().find("ce").unwrap().key("from_logits").is_none());
}

#[test]
fn configs_print_back_to_specs_that_build_the_same_config() {
    let focal =
        FocalConfig { gamma: 1.5, alpha: Alpha::None, common: XentKeys { from_logits: false, ..Default::default() }, ..Default::default() };
    let ce = CeConfig {
        class_weights: Some(vec![0.5, 1.0, 2.0]),
        ignore_index: 255,
        label_smoothing: 0.1,
        common: ReductionKey { reduction: Reduction::Sum },
        mode: Some(Mode::Multiclass),
    };
    let balanced = BalancedCeConfig { beta: Beta::Auto, ..Default::default() };
    let cases: Vec<(String, Box<dyn Loss>, &str)> = vec![
        (focal.to_spec(), Box::new(focal.build().unwrap()), "focal:gamma=1.5,alpha=none,from_logits=false"),
        (
            ce.to_spec(),
            Box::new(ce.build().unwrap()),
            "ce:class_weights=[0.5,1,2],ignore_index=255,label_smoothing=0.1,reduction=sum,mode=multiclass",
        ),
        (balanced.to_spec(), Box::new(balanced.build().unwrap()), "balanced_ce:beta=auto"),
        (WceConfig::new(2.5).to_spec(), Box::new(WceConfig::new(2.5).build().unwrap()), "wce:beta=2.5"),
        (BceConfig::default().to_spec(), Box::new(BceConfig::default().build().unwrap()), "bce"),
        (FocalConfig::default().to_spec(), Box::new(FocalConfig::default().build().unwrap()), "focal"),
    ];
    for (spec, built, want) in cases {
        assert_eq!(spec, want);
        let again = registry().build_str(&spec).unwrap();
        let (_, l) = again.terms().next().unwrap();
        assert_eq!(l.name(), built.name());
        let same = match built.name() {
            "focal" => l.config().unwrap().downcast_ref::<FocalConfig>() == built.config().unwrap().downcast_ref::<FocalConfig>(),
            "ce" => l.config().unwrap().downcast_ref::<CeConfig>() == built.config().unwrap().downcast_ref::<CeConfig>(),
            "balanced_ce" => {
                l.config().unwrap().downcast_ref::<BalancedCeConfig>() == built.config().unwrap().downcast_ref::<BalancedCeConfig>()
            }
            "wce" => l.config().unwrap().downcast_ref::<WceConfig>() == built.config().unwrap().downcast_ref::<WceConfig>(),
            "bce" => l.config().unwrap().downcast_ref::<BceConfig>() == built.config().unwrap().downcast_ref::<BceConfig>(),
            n => unreachable!("{n}"),
        };
        assert!(same, "{spec}");
    }
    // a key given at its default keeps its value when printed canonically
    assert_eq!(print_terms(&registry().parse("focal:gamma=2,alpha=0.25").unwrap()), "focal:gamma=2,alpha=0.25");
}

#[test]
fn special_values_parse() {
    let c = |spec: &str| {
        let comb = registry().build_str(spec).unwrap();
        let (_, l) = comb.terms().next().unwrap();
        l.config().unwrap().downcast_ref::<FocalConfig>().cloned().unwrap()
    };
    assert_eq!(c("focal").alpha, Alpha::Default);
    assert_eq!(c("focal:alpha=none").alpha, Alpha::None);
    assert_eq!(c("focal:alpha=0.5").alpha, Alpha::Value(0.5));
    assert_eq!(c("focal:mode=multiclass,ignore_index=255").ignore_index, 255);
    assert_eq!(Alpha::Default.weights(), (Alpha::DEFAULT_BINARY, 1.0 - Alpha::DEFAULT_BINARY));
    assert_eq!(Alpha::None.weights(), (1.0, 1.0));
    // every focal key is accepted in binary and multilabel mode
    assert!(registry().build_str("focal:mode=binary,ignore_index=255,class_weights=[2],include_background=false").is_ok());
    assert!(registry().build_str("focal:mode=multilabel,ignore_index=-1,class_weights=[1,2]").is_ok());
    assert!(!c("focal:mode=multilabel,include_background=false").include_background);
}

#[test]
fn cross_key_rules_name_key_and_value() {
    for (spec, key, value, reason) in [
        ("focal:mode=binary,class_weights=[1,2]", "class_weights", "[1,2]", "has 2 values for 1 channel"),
        ("focal:mode=multiclass,alpha=none", "alpha", "none", "takes no alpha"),
        ("focal:mode=multiclass,alpha=0.5", "alpha", "0.5", "takes no alpha"),
        ("ce:mode=multilabel", "mode", "multilabel", "use bce"),
        ("focal:class_weights=[1,-2]", "class_weights", "[1,-2]", "finite values >= 0"),
        ("focal:alpha=often", "alpha", "often", "none"),
        ("wce:beta=none", "beta", "none", "number"),
    ] {
        let (k, v, r) = err(spec);
        assert_eq!((k.as_str(), v.as_str()), (key, value), "{spec}: {r}");
        assert!(r.contains(reason), "{spec}: {r}");
    }
    let e = WceConfig::default().build().unwrap_err();
    assert!(matches!(&e, LossError::InvalidConfig { key, value, .. } if key == "beta" && value == "(missing)"), "{e}");
    let e = FocalConfig { alpha: Alpha::Value(-0.5), ..Default::default() }.build().unwrap_err();
    assert!(matches!(&e, LossError::InvalidConfig { key, .. } if key == "alpha"), "{e}");
}

//! Every loss of the registry and every one of its keys: a case per (loss, key), exported, run
//! in tract on odd 2-D shapes, a 3-D volume and an image with an empty target, and compared with
//! the native kernel. A loss or key added to the registry without a case here fails the test, and
//! so does a loss without an exporter.

mod common;

use common::{check, shapes, Data, Setup};
use segloss::{LossSpec, Mode};
use segloss_onnx::ExportOptions;

/// One case: the spec, the mode, the data and the channel count.
struct Case {
    spec: String,
    mode: Mode,
    setup: Setup,
    c: usize,
}

fn case(spec: String, mode: Mode, setup: Setup, c: usize) -> Case {
    Case { spec, mode, setup, c }
}

fn bin(weight: bool, probs: bool) -> Setup {
    Setup { weight, probs, ..Setup::binary() }
}

fn lab(ignore: Option<i64>, probs: bool) -> Setup {
    Setup { data: Data::Labels { ignore }, probs, ..Setup::labels() }
}

/// The case exercising `key` of `loss` (`None`: the loss with its defaults).
fn case_for(loss: &str, key: Option<&str>) -> Option<Case> {
    use Mode::*;
    let xent_elem = ["bce", "wce", "balanced_ce", "distance_bce"].contains(&loss);
    if xent_elem {
        let base = match loss {
            "wce" => "wce:beta=2".to_string(),
            l => l.to_string(),
        };
        let w = loss == "distance_bce";
        let join = |kv: &str| if base.contains(':') { format!("{base},{kv}") } else { format!("{base}:{kv}") };
        return Some(match key {
            None => case(base.clone(), Binary, bin(w, false), 1),
            Some("pos_weight") => case(join("pos_weight=2.5"), Binary, bin(w, false), 1),
            Some("label_smoothing") => case(join("label_smoothing=0.1"), Binary, bin(w, false), 1),
            Some("beta") if loss == "wce" => case("wce:beta=0.3".into(), Binary, bin(w, false), 1),
            Some("beta") if loss == "balanced_ce" => case(join("beta=auto"), Binary, bin(w, false), 1),
            Some("beta") => case(join("beta=0.7"), Binary, bin(w, false), 1),
            Some("from_logits") => case(join("from_logits=false"), Binary, bin(w, true), 1),
            Some("reduction") => case(join("reduction=none"), Binary, bin(w, false), 1),
            Some("mode") => case(join("mode=multilabel"), Multilabel, bin(w, false), 3),
            Some(_) => return None,
        });
    }
    let c = |spec: &str, mode: Mode, setup: Setup, ch: usize| Some(case(spec.to_string(), mode, setup, ch));
    match (loss, key) {
        ("focal", None) => c("focal", Binary, bin(false, false), 1),
        ("focal", Some("gamma")) => c("focal:gamma=0.5", Binary, bin(false, false), 1),
        ("focal", Some("alpha")) => c("focal:alpha=none", Multilabel, bin(true, false), 3),
        ("focal", Some("class_weights")) => c("focal:class_weights=[1,2,0.5]", Multiclass, lab(None, false), 3),
        ("focal", Some("ignore_index")) => c("focal:ignore_index=255", Multiclass, lab(Some(255), false), 3),
        ("focal", Some("include_background")) => c("focal:include_background=false", Multilabel, bin(true, false), 3),
        ("focal", Some("from_logits")) => c("focal:from_logits=false", Binary, bin(false, true), 1),
        ("focal", Some("reduction")) => c("focal:reduction=none", Binary, bin(false, false), 1),
        ("focal", Some("mode")) => c("focal:mode=multiclass", Multiclass, lab(None, false), 4),
        ("ce", None) => c("ce", Multiclass, lab(None, false), 3),
        ("ce", Some("class_weights")) => c("ce:class_weights=[1,2,0.5]", Multiclass, lab(None, false), 3),
        ("ce", Some("ignore_index")) => c("ce:ignore_index=255", Multiclass, lab(Some(255), false), 3),
        ("ce", Some("label_smoothing")) => c("ce:label_smoothing=0.1", Multiclass, lab(None, false), 3),
        ("ce", Some("reduction")) => c("ce:reduction=sum", Multiclass, lab(None, false), 3),
        ("ce", Some("mode")) => c("ce:mode=multiclass", Multiclass, lab(None, false), 2),
        ("topk_ce", None) => c("topk_ce", Multiclass, lab(None, false), 3),
        ("topk_ce", Some("k")) => c("topk_ce:k=37.5", Multiclass, lab(None, false), 3),
        ("topk_ce", Some("class_weights")) => c("topk_ce:k=20,class_weights=[1,2,0.5]", Multiclass, lab(None, false), 3),
        ("topk_ce", Some("ignore_index")) => c("topk_ce:k=60,ignore_index=255", Multiclass, lab(Some(255), false), 3),
        ("topk_ce", Some("label_smoothing")) => c("topk_ce:label_smoothing=0.1", Multiclass, lab(None, false), 3),
        ("topk_ce", Some("from_logits")) => c("topk_ce:from_logits=false,k=25", Binary, bin(false, true), 1),
        ("topk_ce", Some("mode")) => c("topk_ce:mode=multilabel,k=30", Multilabel, bin(false, false), 3),
        ("dice" | "tversky" | "jaccard" | "generalized_dice" | "log_cosh_dice", key) => {
            let kv = match key {
                None => return c(loss, Multiclass, lab(None, false), 3),
                Some("reduce") => "reduce=batch",
                Some("squared") => "squared=true",
                Some("log") => "log=true",
                Some("pixelwise") => "pixelwise=true",
                Some("smooth") => "smooth=0.5",
                Some("smooth_nr") => "smooth_nr=0.1",
                Some("smooth_dr") => "smooth_dr=0.3",
                Some("eps") => "eps=0.01,smooth=0",
                Some("classes") => "classes=present",
                Some("include_background") => "include_background=false",
                Some("ignore_index") => return c(&format!("{loss}:ignore_index=255"), Multiclass, lab(Some(255), false), 3),
                Some("class_weights") => "class_weights=[1,2,0.5]",
                Some("from_logits") => return c(&format!("{loss}:from_logits=false"), Binary, bin(false, true), 1),
                Some("mode") => return c(&format!("{loss}:mode=multilabel"), Multilabel, bin(false, false), 3),
                Some("alpha") => "alpha=0.2",
                Some("beta") => "beta=0.8",
                Some("gamma") => "gamma=1.5",
                Some("weight_type") => "weight_type=simple",
                Some("soft_label") => {
                    let soft = Setup { data: Data::Binary { soft: true }, ..Setup::binary() };
                    return c(&format!("{loss}:soft_label=true,mode=multilabel"), Multilabel, soft, 3);
                }
                Some("ignore_mode") => return c(&format!("{loss}:ignore_index=1,ignore_mode=mask"), Multiclass, lab(None, false), 3),
                Some("reduction") => "reduction=sum",
                Some(_) => return None,
            };
            c(&format!("{loss}:{kv}"), Multiclass, lab(None, false), 3)
        }
        ("cldice" | "dice_cldice", key) => {
            let kv = match key {
                None => return c(loss, Multiclass, lab(None, false), 3),
                Some("iters") => "iters=5",
                Some("smooth") => "smooth=0.5",
                Some("smooth_nr") => "smooth_nr=0.1",
                Some("smooth_dr") => "smooth_dr=0.3",
                Some("smooth_hm") => "smooth_hm=0",
                Some("include_background") => "include_background=false",
                Some("reduce") => "reduce=batch",
                Some("alpha") => "alpha=0.3",
                Some("from_logits") => return c(&format!("{loss}:from_logits=false"), Binary, bin(false, true), 1),
                Some("mode") => return c(&format!("{loss}:mode=multilabel"), Multilabel, bin(false, false), 3),
                Some(_) => return None,
            };
            c(&format!("{loss}:{kv}"), Multiclass, lab(None, false), 3)
        }
        ("wasserstein_dice", key) => {
            let kv = match key {
                None => return c(loss, Multiclass, lab(None, false), 3),
                Some("dist_matrix") => "dist_matrix=[[0,1,2],[0.5,0,1.5],[4,0.25,0.5]]",
                Some("weighting_mode") => "weighting_mode=gdl",
                Some("smooth") => "smooth=0.5",
                Some("smooth_nr") => "smooth_nr=0.1",
                Some("smooth_dr") => "smooth_dr=0.3",
                Some("from_logits") => return c(&format!("{loss}:from_logits=false"), Multiclass, lab(None, true), 4),
                Some("mode") => "mode=multiclass,weighting_mode=gdl,dist_matrix=[[0,1],[0.5,0]]",
                Some("reduction") => "reduction=sum",
                Some(_) => return None,
            };
            c(&format!("{loss}:{kv}"), Multiclass, lab(None, false), if kv.contains("[[0,1],") { 2 } else { 3 })
        }
        ("mcc", None) => c("mcc", Binary, bin(false, false), 1),
        ("mcc", Some("smooth")) => c("mcc:smooth=0.5", Binary, bin(false, false), 1),
        ("mcc", Some("from_logits")) => c("mcc:from_logits=false", Binary, bin(false, true), 1),
        ("mcc", Some("mode")) => c("mcc:mode=multilabel", Multilabel, bin(false, false), 3),
        ("unified_focal", None) => c("unified_focal", Binary, bin(false, false), 1),
        ("unified_focal", Some("weight")) => c("unified_focal:weight=0.3", Binary, bin(false, false), 1),
        ("unified_focal", Some("delta")) => c("unified_focal:delta=0.4", Multiclass, lab(None, false), 2),
        ("unified_focal", Some("gamma")) => c("unified_focal:gamma=0.25", Binary, bin(false, false), 1),
        ("unified_focal", Some("from_logits")) => c("unified_focal:from_logits=false", Binary, bin(false, true), 1),
        ("unified_focal", Some("mode")) => c("unified_focal:mode=multiclass", Multiclass, lab(None, false), 2),
        ("lovasz_hinge", None) => c("lovasz_hinge", Binary, bin(false, false), 1),
        ("lovasz_hinge", Some("reduce")) => c("lovasz_hinge:reduce=batch", Binary, bin(false, false), 1),
        ("lovasz_hinge", Some("ignore_index")) => {
            c("lovasz_hinge:ignore_index=255", Binary, Setup { float_ignore: Some(255.0), ..bin(false, false) }, 1)
        }
        ("lovasz_hinge", Some("mode")) => c("lovasz_hinge:mode=multilabel", Multilabel, bin(false, false), 3),
        ("lovasz_softmax", None) => c("lovasz_softmax", Multiclass, lab(None, false), 3),
        ("lovasz_softmax", Some("classes")) => c("lovasz_softmax:classes=all", Multiclass, lab(None, false), 3),
        ("lovasz_softmax", Some("reduce")) => c("lovasz_softmax:reduce=image", Multiclass, lab(None, false), 4),
        ("lovasz_softmax", Some("ignore_index")) => c("lovasz_softmax:ignore_index=255", Multiclass, lab(Some(255), false), 3),
        ("lovasz_softmax", Some("from_logits")) => c("lovasz_softmax:from_logits=false", Multiclass, lab(None, true), 3),
        ("lovasz_softmax", Some("mode")) => c("lovasz_softmax:mode=multiclass", Multiclass, lab(None, false), 3),
        _ => None,
    }
}

#[test]
fn every_loss_and_key_of_the_catalogue() {
    let losses = segloss::catalogue();
    assert!(losses.len() >= 13, "the catalogue has at least 13 losses, found {}", losses.len());
    let mut missing = Vec::new();
    let mut run = 0;
    for decl in losses {
        // `boundary` needs its distance map as a third input: every key in tests/boundary.rs;
        // `hausdorff_dt` has no export (every_loss_has_an_exporter checks its error)
        if ["boundary", "hausdorff_dt"].contains(&decl.name) {
            continue;
        }
        let keys = std::iter::once(None).chain(decl.keys().iter().map(|k| Some(k.key)));
        for key in keys {
            match case_for(decl.name, key) {
                None => missing.push(format!("{}:{}", decl.name, key.unwrap_or("(defaults)"))),
                Some(cs) => {
                    let opts = ExportOptions { mode: Some(cs.mode), ..ExportOptions::default() };
                    // the soft skeleton has 2D and 3D kernels only: no 1-D shape for clDice
                    let skel = ["cldice", "dice_cldice"].contains(&decl.name);
                    let sh: Vec<Vec<usize>> = shapes(cs.c, true).into_iter().filter(|s| !(skel && s.len() == 3)).collect();
                    check(&cs.spec, &opts, &cs.setup, &sh);
                    run += 1;
                }
            }
        }
    }
    assert!(missing.is_empty(), "no ONNX case for {missing:?}");
    assert!(run > 60, "{run} cases");
}

/// Every loss of the registry has an exporter: its defaults (0.5 for a key without one) export in
/// each mode it accepts.
#[test]
fn every_loss_has_an_exporter() {
    for decl in segloss::catalogue() {
        let required: Vec<String> = decl.keys().iter().filter(|k| k.default == "required").map(|k| format!("{}=0.5", k.key)).collect();
        let spec = if required.is_empty() { decl.name.to_string() } else { format!("{}:{}", decl.name, required.join(",")) };
        let spec = LossSpec::parse(&spec).unwrap();
        for &mode in decl.modes {
            let opts = ExportOptions {
                mode: Some(mode),
                with_weight: decl.weight == segloss::core::WeightUse::Required,
                ..ExportOptions::default()
            };
            match segloss_onnx::export(&spec, &opts) {
                // the one documented exception: no ONNX operator computes its run-time EDT
                Err(segloss_onnx::ExportError::Unsupported { loss, reason }) if decl.name == "hausdorff_dt" => {
                    assert!(loss == "hausdorff_dt" && reason.contains("no ONNX operator computes a distance transform"), "{reason}")
                }
                Err(e) => panic!("`{}` in mode {mode}: {e}", decl.name),
                Ok(_) => assert_ne!(decl.name, "hausdorff_dt", "hausdorff_dt exported in mode {mode}"),
            }
        }
    }
}

/// The same graphs at the other accepted opsets: 13 (the lowest), 15, 18 (`ReduceMax` takes its
/// axes as an input) and 21 (the highest).
#[test]
fn other_opsets() {
    for opset in [13, 15, 18, 21] {
        let o = |mode| ExportOptions { mode: Some(mode), opset, ..ExportOptions::default() };
        check("generalized_dice:reduce=batch", &o(Mode::Multiclass), &lab(None, false), &shapes(3, true));
        check("ce:label_smoothing=0.1,class_weights=[1,2,3]", &o(Mode::Multiclass), &lab(Some(-100), false), &shapes(3, true));
        check("lovasz_softmax:per_image=true", &o(Mode::Multiclass), &lab(None, false), &shapes(3, true));
        check("bce:reduction=none+dice", &o(Mode::Binary), &bin(false, false), &shapes(1, true));
        check("lovasz_hinge+focal", &o(Mode::Multilabel), &bin(false, false), &shapes(2, true));
    }
}

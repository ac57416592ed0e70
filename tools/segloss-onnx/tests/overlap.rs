//! The overlap family (`dice`, `tversky`, `jaccard`, `generalized_dice`, `log_cosh_dice`, `mcc`,
//! `unified_focal`): every key that changes the graph, in binary, multilabel and multiclass modes, run in tract on odd 2-D shapes, a 3-D
//! volume and an image with an empty target, against the native kernels.

mod common;

use common::{check, shapes, Data, Setup};
use segloss::Mode;
use segloss_onnx::ExportOptions;

fn binary() -> ExportOptions {
    ExportOptions::default()
}

fn multilabel() -> ExportOptions {
    ExportOptions { mode: Some(Mode::Multilabel), ..ExportOptions::default() }
}

fn multiclass() -> ExportOptions {
    ExportOptions { mode: Some(Mode::Multiclass), ..ExportOptions::default() }
}

fn probs(s: Setup) -> Setup {
    Setup { probs: true, ..s }
}

fn soft() -> Setup {
    Setup { data: Data::Binary { soft: true }, ..Setup::binary() }
}

fn labels_ignoring(i: i64) -> Setup {
    Setup { data: Data::Labels { ignore: Some(i) }, ..Setup::labels() }
}

/// Each spec in the three modes (multiclass with C = 3 and 4).
fn all_modes(spec: &str) {
    check(spec, &binary(), &Setup::binary(), &shapes(1, true));
    check(spec, &multilabel(), &Setup::binary(), &shapes(3, true));
    check(spec, &multiclass(), &Setup::labels(), &shapes(3, true));
    check(spec, &multiclass(), &Setup::labels(), &shapes(4, true));
}

#[test]
fn dice() {
    for s in [
        "dice",
        "dice:reduce=batch",
        "dice:squared=true",
        "dice:log=true",
        "dice:smooth=0",
        "dice:smooth_nr=0.5,smooth_dr=1",
        "dice:classes=present",
        "dice:include_background=false",
        "dice:eps=0.001,smooth=0",
    ] {
        all_modes(s);
    }
}

#[test]
fn dice_pixelwise() {
    all_modes("dice:pixelwise=true");
    check("dice:pixelwise=true,ignore_index=255", &multiclass(), &labels_ignoring(255), &shapes(3, true));
    check("dice:pixelwise=true,class_weights=[1,2,3],reduce=batch", &multiclass(), &Setup::labels(), &shapes(3, true));
}

#[test]
fn dice_keys_by_mode() {
    check("dice:class_weights=[1,2,0.5]", &multiclass(), &Setup::labels(), &shapes(3, true));
    check("dice:class_weights=[1,2,0.5],classes=present,reduce=batch", &multilabel(), &Setup::binary(), &shapes(3, true));
    check("dice:ignore_index=255", &multiclass(), &labels_ignoring(255), &shapes(3, true));
    check("dice:ignore_index=1", &multiclass(), &Setup::labels(), &shapes(3, true));
    check("dice:ignore_index=2,include_background=false,classes=present", &multiclass(), &labels_ignoring(2), &shapes(4, true));
    check("dice:from_logits=false", &binary(), &probs(Setup::binary()), &shapes(1, true));
    check("dice:from_logits=false,squared=true", &multilabel(), &probs(soft()), &shapes(2, true));
    check("dice", &multilabel(), &soft(), &shapes(3, true));
    check("dice:mode=binary", &ExportOptions { channel: false, ..binary() }, &Setup::binary(), &shapes(1, false));
}

#[test]
fn dice_float_ignore() {
    let s = Setup { float_ignore: Some(255.0), ..Setup::binary() };
    check("dice:ignore_index=255", &binary(), &s, &shapes(1, true));
    check("dice:ignore_index=255,reduce=batch,pixelwise=true", &multilabel(), &s, &shapes(3, true));
}

#[test]
fn jaccard() {
    for s in ["jaccard", "jaccard:reduce=batch", "jaccard:log=true", "jaccard:smooth=0,classes=present"] {
        all_modes(s);
    }
    check("jaccard:ignore_index=255,class_weights=[2,1,1]", &multiclass(), &labels_ignoring(255), &shapes(3, true));
}

#[test]
fn tversky() {
    for s in ["tversky", "tversky:alpha=0.3,beta=0.7", "tversky:gamma=0.75", "tversky:alpha=0.7,beta=0.3,gamma=2,reduce=batch"] {
        all_modes(s);
    }
    check(
        "tversky:include_background=false,classes=present,gamma=1.5,ignore_index=255",
        &multiclass(),
        &labels_ignoring(255),
        &shapes(3, true),
    );
    check("tversky:from_logits=false,alpha=0,beta=1", &multilabel(), &probs(Setup::binary()), &shapes(3, true));
}

#[test]
fn generalized_dice() {
    for s in
        ["generalized_dice", "generalized_dice:weight_type=simple", "generalized_dice:weight_type=uniform", "generalized_dice:reduce=batch"]
    {
        all_modes(s);
    }
    check("generalized_dice:include_background=false,classes=present", &multiclass(), &Setup::labels(), &shapes(4, true));
    check("generalized_dice:ignore_index=255,class_weights=[1,3,2]", &multiclass(), &labels_ignoring(255), &shapes(3, true));
    check("generalized_dice:smooth=0,weight_type=simple", &multilabel(), &soft(), &shapes(3, true));
}

/// `log_cosh_dice`: log cosh of the Dice value, with every Dice key.
#[test]
fn log_cosh_dice() {
    for s in [
        "log_cosh_dice",
        "log_cosh_dice:reduce=batch",
        "log_cosh_dice:squared=true",
        "log_cosh_dice:log=true",
        "log_cosh_dice:pixelwise=true",
        "log_cosh_dice:smooth=1,classes=present",
        "log_cosh_dice:include_background=false",
    ] {
        all_modes(s);
    }
    check("log_cosh_dice:ignore_index=255,class_weights=[2,1,1]", &multiclass(), &labels_ignoring(255), &shapes(3, true));
    check("log_cosh_dice:from_logits=false,reduce=batch,smooth=1", &binary(), &probs(Setup::binary()), &shapes(1, true));
    check("log_cosh_dice:mode=binary", &ExportOptions { channel: false, ..binary() }, &Setup::binary(), &shapes(1, false));
    check("bce+log_cosh_dice", &binary(), &Setup::binary(), &shapes(1, true));
}

/// Small Dice values, where a float form of log cosh would cancel (`|L| + ln(1 + e^(-2|L|)) -
/// ln 2` loses about 1e-7 absolute): the prediction nearly equals the target, so the loss is about
/// `L^2 / 2` with `L` near 0. The graph's error is held to what the Dice value's own tolerance
/// implies (`d log cosh L = tanh L dL`, `tanh L <= L`).
#[test]
fn log_cosh_dice_near_zero() {
    let spec = common::spec("log_cosh_dice:from_logits=false,smooth=0");
    let dice = common::spec("dice:from_logits=false,smooth=0");
    let m = segloss_onnx::export(&spec, &binary()).unwrap();
    let t = common::Typed::new(&m);
    for (hi, lo) in [(0.99f32, 0.01f32), (0.999, 0.001)] {
        let mut inp = common::inputs(&[2, 1, 5, 7], &Setup { empty_first: false, ..Setup::binary() }, 5);
        let common::Input::F32(y) = &inp[1] else { unreachable!() };
        let p = y.mapv(|v| if v > 0.5 { hi } else { lo });
        inp[0] = common::Input::F32(p);
        let want = common::native(&spec, &inp) as f64;
        let l = common::native(&dice, &inp) as f64;
        assert!(want > 0.0 && want < 1e-4, "a small loss: {want}");
        let tol = common::REL_TOL * want + l * (common::REL_TOL * l + common::ABS_FLOOR);
        let got = t.run(&inp)[0].iter().next().copied().unwrap() as f64;
        assert!((got - want).abs() <= tol, "log_cosh_dice near 0: graph {got} vs native {want} (tol {tol:e})");
    }
}

/// `soft_label`: `I = sum min(p, g)` (MONAI's and smp's `(P + G - sum |p - g|)/2`), on soft and
/// hard targets, with probabilities and ignored pixels; with `squared=true` it is `sum p g`.
#[test]
fn soft_label() {
    for s in [
        "dice:soft_label=true",
        "dice:soft_label=true,reduce=batch,log=true",
        "dice:soft_label=true,squared=true",
        "jaccard:soft_label=true",
        "tversky:soft_label=true,alpha=0.3,beta=0.7,gamma=2",
        "generalized_dice:soft_label=true",
        "log_cosh_dice:soft_label=true",
    ] {
        all_modes(s);
        check(s, &multilabel(), &soft(), &shapes(3, true));
    }
    check("dice:soft_label=true,from_logits=false", &multilabel(), &probs(soft()), &shapes(2, true));
    check("generalized_dice:soft_label=true,weight_type=simple,reduce=batch", &binary(), &soft(), &shapes(1, true));
    check("jaccard:soft_label=true,ignore_index=255,class_weights=[2,1,1]", &multiclass(), &labels_ignoring(255), &shapes(3, true));
    let s = Setup { float_ignore: Some(255.0), ..soft() };
    check("tversky:soft_label=true,ignore_index=255", &multilabel(), &s, &shapes(3, true));
}

/// `ignore_mode=mask`: an ignore_index inside [0, C) masks its pixels and keeps its channel
/// (MONAI 1.6); `class` (the default) also drops the channel.
#[test]
fn ignore_mode_mask() {
    for loss in ["dice", "jaccard", "tversky:alpha=0.7,beta=0.3", "generalized_dice", "log_cosh_dice"] {
        let sep = if loss.contains(':') { ',' } else { ':' };
        for c in [3, 4] {
            check(&format!("{loss}{sep}ignore_index=1,ignore_mode=mask"), &multiclass(), &Setup::labels(), &shapes(c, true));
        }
        check(&format!("{loss}{sep}ignore_index=0,ignore_mode=mask,reduce=batch"), &multiclass(), &Setup::labels(), &shapes(3, true));
    }
    check(
        "dice:ignore_index=2,ignore_mode=mask,include_background=false,classes=present",
        &multiclass(),
        &labels_ignoring(2),
        &shapes(4, true),
    );
    check("dice:ignore_index=1,ignore_mode=mask,soft_label=true,squared=true", &multiclass(), &Setup::labels(), &shapes(3, true));
    check("dice:ignore_index=255,ignore_mode=mask", &multiclass(), &labels_ignoring(255), &shapes(3, true));
    let s = Setup { float_ignore: Some(255.0), ..Setup::binary() };
    check("dice:ignore_index=255,ignore_mode=mask", &binary(), &s, &shapes(1, true));
}

/// `reduction=sum`: the weighted sum of the pair losses (generalized_dice: of the images' losses).
#[test]
fn reduction_sum() {
    for s in [
        "dice:reduction=sum",
        "dice:reduction=sum,reduce=batch,squared=true",
        "dice:reduction=sum,class_weights=[0.5,2,1],classes=present",
        "jaccard:reduction=sum,log=true",
        "tversky:reduction=sum,gamma=1.5",
        "generalized_dice:reduction=sum",
        "generalized_dice:reduction=sum,reduce=batch,include_background=false",
        "log_cosh_dice:reduction=sum",
    ] {
        let multi_weights = s.contains("class_weights");
        if multi_weights {
            check(s, &multiclass(), &Setup::labels(), &shapes(3, true));
            check(s, &multilabel(), &Setup::binary(), &shapes(3, true));
        } else {
            all_modes(s);
        }
    }
    check("dice:reduction=sum,ignore_index=255,soft_label=true", &multiclass(), &labels_ignoring(255), &shapes(3, true));
    check("bce+dice:reduction=sum", &binary(), &Setup::binary(), &shapes(1, true));
}

/// `eps` floors a denominator at min(eps, smooth_dr) (eps with smooth_dr = 0): smooth_dr below
/// eps is not floored, on images with an empty target too.
#[test]
fn smooth_dr_below_eps() {
    for s in ["dice:smooth=1e-8", "tversky:smooth=1e-8", "jaccard:smooth_nr=1e-9,smooth_dr=1e-8", "generalized_dice:smooth=1e-8"] {
        all_modes(s);
    }
    check("generalized_dice:smooth_dr=1e-8", &binary(), &Setup::binary(), &shapes(1, true));
}

#[test]
fn combinations_with_cross_entropy() {
    check("bce+dice", &binary(), &Setup::binary(), &shapes(1, true));
    check("0.5*ce+0.5*dice:include_background=false", &multiclass(), &Setup::labels(), &shapes(3, true));
    check("focal:gamma=1+2*tversky:alpha=0.3,beta=0.7", &multilabel(), &Setup::binary(), &shapes(3, true));
}

/// `mcc`: binary (with and without the channel axis), multilabel, soft targets, probabilities.
#[test]
fn mcc() {
    for s in ["mcc", "mcc:smooth=1", "mcc:smooth=1e-3"] {
        check(s, &binary(), &Setup::binary(), &shapes(1, true));
        check(s, &multilabel(), &Setup::binary(), &shapes(3, true));
    }
    check("mcc", &multilabel(), &soft(), &shapes(2, true));
    check("mcc:from_logits=false", &multilabel(), &probs(soft()), &shapes(3, true));
    check("mcc:mode=binary", &ExportOptions { channel: false, ..binary() }, &Setup::binary(), &shapes(1, false));
    check("0.5*bce+mcc", &binary(), &Setup::binary(), &shapes(1, true));
}

/// `unified_focal`: binary and two-channel labels, logits and probabilities (two independent
/// probabilities per pixel), every key, and logits large enough that MONAI's clamp acts.
#[test]
fn unified_focal() {
    for s in ["unified_focal", "unified_focal:weight=0.3,delta=0.6,gamma=0.25", "unified_focal:gamma=0", "unified_focal:gamma=1,weight=0"] {
        check(s, &binary(), &Setup::binary(), &shapes(1, true));
        check(s, &multiclass(), &Setup::labels(), &shapes(2, true));
    }
    check("unified_focal:from_logits=false", &binary(), &probs(Setup::binary()), &shapes(1, true));
    check("unified_focal:from_logits=false,delta=0.5", &multiclass(), &probs(Setup::labels()), &shapes(2, true));
    check("unified_focal", &binary(), &soft(), &shapes(1, true));
    check("unified_focal:mode=binary", &ExportOptions { channel: false, ..binary() }, &Setup::binary(), &shapes(1, false));
    check("dice+unified_focal:weight=0.7", &multiclass(), &Setup::labels(), &shapes(2, true));
    // saturated logits: most probabilities beyond [1e-7, 1 - 1e-7]
    for (opts, setup, c) in [(binary(), Setup::binary(), 1), (multiclass(), Setup::labels(), 2)] {
        let spec = common::spec("unified_focal");
        let t = common::Typed::new(&segloss_onnx::export(&spec, &opts).unwrap());
        let mut inp = common::inputs(&[2, c, 5, 7], &setup, 3);
        let common::Input::F32(x) = &inp[0] else { unreachable!() };
        inp[0] = common::Input::F32(x.mapv(|v| 12.0 * v));
        let want = common::native(&spec, &inp) as f64;
        let got = t.run(&inp)[0].iter().next().copied().unwrap() as f64;
        common::assert_close(got, want, &format!("unified_focal saturated, C = {c}"));
    }
}

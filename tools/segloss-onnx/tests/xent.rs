//! The cross-entropy family: every loss and every key that changes the graph, run in tract on
//! odd 2-D shapes, a 3-D volume and an image with an empty target, against the native kernels.

mod common;

use common::{check, inputs, shapes, Data, Input, Setup, Typed};
use segloss::{Batch, Mode, Reduction};
use segloss_onnx::ExportOptions;

fn opts() -> ExportOptions {
    ExportOptions::default()
}

fn multilabel() -> ExportOptions {
    ExportOptions { mode: Some(Mode::Multilabel), ..ExportOptions::default() }
}

fn no_channel() -> ExportOptions {
    ExportOptions { channel: false, ..ExportOptions::default() }
}

fn weighted() -> Setup {
    Setup { weight: true, ..Setup::binary() }
}

fn probs() -> Setup {
    Setup { probs: true, ..Setup::binary() }
}

fn soft() -> Setup {
    Setup { data: Data::Binary { soft: true }, ..Setup::binary() }
}

fn labels_ignoring(i: i64) -> Setup {
    Setup { data: Data::Labels { ignore: Some(i) }, ..Setup::labels() }
}

#[test]
fn bce_binary() {
    for spec in ["bce", "bce:pos_weight=2.5", "bce:label_smoothing=0.1", "bce:reduction=sum", "bce:reduction=none"] {
        check(spec, &opts(), &Setup::binary(), &shapes(1, true));
    }
    check("bce:pos_weight=0.3,label_smoothing=0.2", &opts(), &soft(), &shapes(1, true));
}

#[test]
fn bce_probabilities() {
    check("bce:from_logits=false", &opts(), &probs(), &shapes(1, true));
    check("bce:from_logits=false,pos_weight=2,label_smoothing=0.05", &opts(), &probs(), &shapes(1, true));
}

#[test]
fn bce_weighted_multilabel_and_no_channel() {
    check("bce", &opts(), &weighted(), &shapes(1, true));
    check("bce:pos_weight=1.5", &multilabel(), &weighted(), &shapes(3, true));
    check("bce:mode=multilabel,reduction=sum", &opts(), &Setup::binary(), &shapes(4, true));
    check("bce:mode=binary", &no_channel(), &Setup::binary(), &shapes(1, false));
    check("bce:reduction=none,mode=binary", &no_channel(), &weighted(), &shapes(1, false));
}

#[test]
fn wce() {
    check("wce:beta=2", &opts(), &Setup::binary(), &shapes(1, true));
    check("wce:beta=0.4,reduction=sum", &multilabel(), &weighted(), &shapes(2, true));
    check("wce:beta=3,from_logits=false", &opts(), &probs(), &shapes(1, true));
}

#[test]
fn balanced_ce() {
    check("balanced_ce", &opts(), &Setup::binary(), &shapes(1, true));
    check("balanced_ce:beta=0.3", &multilabel(), &soft(), &shapes(3, true));
    check("balanced_ce:beta=auto", &opts(), &Setup::binary(), &shapes(1, true));
    check("balanced_ce:beta=auto,reduction=sum", &multilabel(), &weighted(), &shapes(2, true));
    check("balanced_ce:beta=0.8,from_logits=false", &opts(), &probs(), &shapes(1, true));
}

#[test]
fn focal_binary() {
    for spec in
        ["focal", "focal:gamma=0,alpha=none", "focal:gamma=0.5,alpha=0.4", "focal:gamma=3,alpha=none,reduction=sum", "focal:reduction=none"]
    {
        check(spec, &opts(), &Setup::binary(), &shapes(1, true));
    }
    check("focal:gamma=1.5", &multilabel(), &soft(), &shapes(3, true));
    check("focal", &opts(), &weighted(), &shapes(1, true));
    check("focal:from_logits=false,gamma=2", &opts(), &probs(), &shapes(1, true));
    check("focal:from_logits=false,gamma=0.7,alpha=0.6", &multilabel(), &probs(), &shapes(2, true));
    check("focal:gamma=1,mode=binary", &no_channel(), &Setup::binary(), &shapes(1, false));
}

#[test]
fn focal_multiclass() {
    let mc = ExportOptions { mode: Some(Mode::Multiclass), ..opts() };
    check("focal", &mc, &Setup::labels(), &shapes(3, true));
    check("focal:mode=multiclass,gamma=0", &opts(), &Setup::labels(), &shapes(4, true));
    check("focal:mode=multiclass,gamma=0.5,class_weights=[1,2,0.5]", &opts(), &Setup::labels(), &shapes(3, true));
    check("focal:mode=multiclass,ignore_index=255", &opts(), &labels_ignoring(255), &shapes(3, true));
    check("focal:mode=multiclass,ignore_index=1,reduction=sum", &opts(), &Setup::labels(), &shapes(3, true));
    check("focal:mode=multiclass,reduction=none", &opts(), &Setup { weight: true, ..labels_ignoring(-100) }, &shapes(3, true));
    check("focal:mode=multiclass", &opts(), &Setup { weight: true, ..Setup::labels() }, &shapes(2, true));
}

/// The parity keys of `focal` (issue 18): class weights, `include_background` and `ignore_index`
/// in binary and multilabel mode, `include_background` in multiclass (softmax over channels
/// 1..C-1), `reduction=sum` and `none` with them.
#[test]
fn focal_parity_keys() {
    let ig255 = Setup { float_ignore: Some(255.0), ..Setup::binary() };
    check("focal:class_weights=[2.5]", &opts(), &Setup::binary(), &shapes(1, true));
    check("focal:class_weights=[0.5,2,1.5],alpha=none", &multilabel(), &Setup::binary(), &shapes(3, true));
    check("focal:include_background=false", &multilabel(), &Setup::binary(), &shapes(3, true));
    check("focal:include_background=false,ignore_index=255,class_weights=[3]", &opts(), &ig255, &shapes(1, true));
    check(
        "focal:ignore_index=255,class_weights=[1,0,3],include_background=false,reduction=sum,gamma=0.5",
        &multilabel(),
        &Setup { weight: true, ..ig255.clone() },
        &shapes(3, true),
    );
    check("focal:ignore_index=255,alpha=0.6,reduction=none", &multilabel(), &ig255, &shapes(2, true));
    check(
        "focal:from_logits=false,ignore_index=255,class_weights=[2,1]",
        &multilabel(),
        &Setup { probs: true, ..ig255.clone() },
        &shapes(2, true),
    );
    check("focal:gamma=1.5", &opts(), &Setup { float_ignore: Some(-100.0), ..Setup::binary() }, &shapes(1, true));
    check("focal:ignore_index=255,class_weights=[0.5],mode=binary", &no_channel(), &ig255, &shapes(1, false));
    let mc = ExportOptions { mode: Some(Mode::Multiclass), ..opts() };
    check("focal:include_background=false", &mc, &Setup::labels(), &shapes(3, true));
    check(
        "focal:mode=multiclass,include_background=false,ignore_index=255,class_weights=[5,1,2,0.5],gamma=0.5",
        &opts(),
        &labels_ignoring(255),
        &shapes(4, true),
    );
    check(
        "focal:mode=multiclass,include_background=false,reduction=none",
        &opts(),
        &Setup { weight: true, ..labels_ignoring(-100) },
        &shapes(3, true),
    );
    check("focal:mode=multiclass,include_background=false,gamma=0", &opts(), &Setup::labels(), &shapes(2, true));
    check("focal:mode=multiclass,include_background=false,ignore_index=0,reduction=sum", &opts(), &Setup::labels(), &shapes(3, true));
}

#[test]
fn distance_bce() {
    check("distance_bce", &opts(), &weighted(), &shapes(1, true));
    check("distance_bce:beta=0.7,reduction=sum", &multilabel(), &weighted(), &shapes(2, true));
    check("distance_bce:beta=0.2,from_logits=false", &opts(), &Setup { probs: true, ..weighted() }, &shapes(1, true));
    check("distance_bce:reduction=none,mode=binary", &no_channel(), &weighted(), &shapes(1, false));
}

#[test]
fn ce() {
    for spec in ["ce", "ce:class_weights=[1,2,0.5]", "ce:label_smoothing=0.1", "ce:reduction=sum", "ce:reduction=none", "ce:ignore_index=1"]
    {
        check(spec, &opts(), &Setup::labels(), &shapes(3, true));
    }
    check("ce", &opts(), &Setup::labels(), &shapes(2, true));
    check("ce:ignore_index=255,class_weights=[0.5,1,3,2],label_smoothing=0.2", &opts(), &labels_ignoring(255), &shapes(4, true));
    check("ce", &opts(), &labels_ignoring(-100), &shapes(3, true));
    check("ce:class_weights=[1,0.2,2],label_smoothing=0.05", &opts(), &Setup { weight: true, ..labels_ignoring(-100) }, &shapes(3, true));
}

/// Every pixel ignored: 0 (torch gives NaN), in the graph too.
#[test]
fn ce_all_ignored_is_zero() {
    let spec = segloss::LossSpec::parse("ce:ignore_index=7").unwrap();
    let m = segloss_onnx::export(&spec, &ExportOptions { rank: 4, ..opts() }).unwrap();
    let t = Typed::new(&m);
    let pred = ndarray::ArrayD::from_elem(ndarray::IxDyn(&[1, 3, 2, 3]), 0.5f32);
    let target = ndarray::ArrayD::from_elem(ndarray::IxDyn(&[1, 2, 3]), 7i64);
    let out = t.run(&[Input::F32(pred), Input::I64(target)]);
    assert_eq!(out[0].iter().next().copied(), Some(0.0));
}

/// `loss_map` element by element against the native `forward_map`.
#[test]
fn loss_maps_match_forward_map() {
    use segloss::xent::{BceConfig, CeConfig, DistanceBceConfig, FocalConfig, ReductionKey, XentKeys};
    type MapFn = Box<dyn Fn(&Batch<'_>) -> segloss::Result<ndarray::ArrayD<f32>>>;
    let none = XentKeys { reduction: Reduction::None, ..Default::default() };
    let bce = BceConfig { pos_weight: 2.0, common: none, ..Default::default() }.build().unwrap();
    let focal = FocalConfig { gamma: 1.5, common: none, ..Default::default() }.build().unwrap();
    let ce = CeConfig {
        class_weights: Some(vec![1.0, 2.0, 3.0]),
        ignore_index: 255,
        common: ReductionKey { reduction: Reduction::None },
        ..Default::default()
    }
    .build()
    .unwrap();
    let distance = DistanceBceConfig { common: none, mode: Some(Mode::Binary), ..Default::default() }.build().unwrap();
    let focal_keys = FocalConfig {
        common: none,
        class_weights: Some(vec![0.5, 2.0, 1.5]),
        include_background: false,
        ignore_index: 255,
        mode: Some(Mode::Multilabel),
        ..Default::default()
    }
    .build()
    .unwrap();
    let focal_mc = FocalConfig { common: none, include_background: false, class_weights: Some(vec![1.0, 2.0, 0.5]), ..Default::default() }
        .build()
        .unwrap();
    let cases: Vec<(&str, MapFn, ExportOptions, Setup, Vec<usize>)> = vec![
        ("bce:pos_weight=2,reduction=none", Box::new(move |b| bce.forward_map(b)), opts(), weighted(), vec![2, 1, 5, 7]),
        ("focal:reduction=none,gamma=1.5", Box::new(move |b| focal.forward_map(b)), multilabel(), Setup::binary(), vec![2, 3, 3, 5]),
        (
            "ce:reduction=none,class_weights=[1,2,3],ignore_index=255",
            Box::new(move |b| ce.forward_map(b)),
            opts(),
            labels_ignoring(255),
            vec![2, 3, 4, 3, 3],
        ),
        ("distance_bce:reduction=none,mode=binary", Box::new(move |b| distance.forward_map(b)), no_channel(), weighted(), vec![3, 5, 7]),
        (
            "focal:reduction=none,class_weights=[0.5,2,1.5],include_background=false,ignore_index=255,mode=multilabel",
            Box::new(move |b| focal_keys.forward_map(b)),
            multilabel(),
            Setup { float_ignore: Some(255.0), ..Setup::binary() },
            vec![2, 3, 3, 5],
        ),
        (
            "focal:reduction=none,include_background=false,class_weights=[1,2,0.5],mode=multiclass",
            Box::new(move |b| focal_mc.forward_map(b)),
            opts(),
            labels_ignoring(-100),
            vec![2, 3, 4, 3],
        ),
    ];
    for (s, native, o, setup, shape) in cases {
        let spec = segloss::LossSpec::parse(s).unwrap();
        let m = segloss_onnx::export(&spec, &ExportOptions { rank: shape.len(), with_weight: setup.weight, ..o }).unwrap();
        let inp = inputs(&shape, &setup, 7);
        let outs = Typed::new(&m).run(&inp);
        let Input::F32(pred) = &inp[0] else { unreachable!() };
        let b = match &inp[1] {
            Input::F32(t) => Batch::new(pred.view(), t.view()),
            Input::I64(t) => Batch::new(pred.view(), t.view()),
        };
        let b = match inp.get(2) {
            Some(Input::F32(w)) => b.with_weight(w.view()),
            _ => b,
        };
        let want = native(&b).unwrap();
        assert_eq!(outs[1].shape(), want.shape(), "{s}: loss_map shape");
        for (i, (g, w)) in outs[1].iter().zip(want.iter()).enumerate() {
            common::assert_close(*g as f64, *w as f64, &format!("{s}: loss_map[{i}]"));
        }
    }
}

/// A per-pixel weight `[N, *S]` broadcast over the channels (binary and multilabel).
#[test]
fn pixel_weight() {
    let s = Setup { pixel_weight: true, ..weighted() };
    check("bce:pos_weight=2", &multilabel(), &s, &shapes(3, true));
    check("focal:gamma=1.5,reduction=sum", &multilabel(), &s, &shapes(2, true));
    check("balanced_ce:beta=auto", &opts(), &s, &shapes(1, true));
    check("distance_bce:beta=0.3", &multilabel(), &s, &shapes(3, true));
    check("bce:reduction=none", &multilabel(), &s, &shapes(2, true));
}

/// Weighted sums of the family.
#[test]
fn combinations() {
    check("0.3*bce+0.7*focal:gamma=1", &opts(), &Setup::binary(), &shapes(1, true));
    check("ce+0.5*focal:mode=multiclass", &opts(), &Setup::labels(), &shapes(3, true));
    check("2*bce:pos_weight=2+balanced_ce:beta=auto", &multilabel(), &weighted(), &shapes(2, true));
}

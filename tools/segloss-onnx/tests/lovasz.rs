//! The Lovász family (TopK, GatherElements, CumSum), run in tract on odd 2-D shapes, a 3-D
//! volume and an image with an empty target, against the native kernels. The inputs are random
//! floats, so the errors have no ties.

mod common;

use common::{check, shapes, Data, Setup};
use segloss::Mode;
use segloss_onnx::ExportOptions;

fn multilabel() -> ExportOptions {
    ExportOptions { mode: Some(Mode::Multilabel), ..ExportOptions::default() }
}

fn labels_ignoring(i: i64) -> Setup {
    Setup { data: Data::Labels { ignore: Some(i) }, ..Setup::labels() }
}

#[test]
fn lovasz_hinge() {
    let o = ExportOptions::default();
    check("lovasz_hinge", &o, &Setup::binary(), &shapes(1, true));
    check("lovasz_hinge:per_image=false", &o, &Setup::binary(), &shapes(1, true));
    check("lovasz_hinge", &multilabel(), &Setup::binary(), &shapes(3, true));
    check("lovasz_hinge:per_image=false", &multilabel(), &Setup::binary(), &shapes(3, true));
    check("lovasz_hinge:mode=binary", &ExportOptions { channel: false, ..o.clone() }, &Setup::binary(), &shapes(1, false));
    let ig = Setup { float_ignore: Some(255.0), ..Setup::binary() };
    check("lovasz_hinge:ignore_index=255", &o, &ig, &shapes(1, true));
    check("lovasz_hinge:ignore_index=255,per_image=false", &multilabel(), &ig, &shapes(2, true));
}

#[test]
fn lovasz_softmax() {
    let o = ExportOptions::default();
    for s in ["lovasz_softmax", "lovasz_softmax:classes=all", "lovasz_softmax:per_image=true", "lovasz_softmax:per_image=true,classes=all"]
    {
        check(s, &o, &Setup::labels(), &shapes(3, true));
        check(s, &o, &Setup::labels(), &shapes(4, true));
    }
    check("lovasz_softmax:ignore_index=255", &o, &labels_ignoring(255), &shapes(3, true));
    check("lovasz_softmax:ignore_index=255,per_image=true,classes=all", &o, &labels_ignoring(255), &shapes(3, true));
    check("lovasz_softmax:ignore_index=1", &o, &Setup::labels(), &shapes(3, true));
    check("lovasz_softmax:from_logits=false", &o, &Setup { probs: true, ..Setup::labels() }, &shapes(3, true));
}

/// The old key `per_image` is an alias: `per_image=false` exports the very graph of
/// `reduce=batch` (and `true` that of `reduce=image`).
#[test]
fn per_image_is_an_alias_of_reduce() {
    for (old, new, mode) in [
        ("lovasz_hinge:per_image=false", "lovasz_hinge:reduce=batch", Mode::Binary),
        ("lovasz_hinge:per_image=true", "lovasz_hinge:reduce=image", Mode::Multilabel),
        ("lovasz_softmax:per_image=true,classes=all", "lovasz_softmax:reduce=image,classes=all", Mode::Multiclass),
    ] {
        let o = ExportOptions { mode: Some(mode), ..ExportOptions::default() };
        let a = segloss_onnx::export(&common::spec(old), &o).unwrap();
        let b = segloss_onnx::export(&common::spec(new), &o).unwrap();
        assert_eq!(a, b, "{old} vs {new}");
    }
}

/// Every pixel of the batch ignored: 0.
#[test]
fn lovasz_all_ignored() {
    let spec = common::spec("lovasz_softmax:ignore_index=7,per_image=true");
    let m = segloss_onnx::export(&spec, &ExportOptions::default()).unwrap();
    let t = common::Typed::new(&m);
    let pred = ndarray::ArrayD::from_elem(ndarray::IxDyn(&[2, 3, 2, 3]), 0.25f32);
    let target = ndarray::ArrayD::from_elem(ndarray::IxDyn(&[2, 2, 3]), 7i64);
    let inp = vec![common::Input::F32(pred), common::Input::I64(target)];
    let want = common::native(&spec, &inp) as f64;
    let got = t.run(&inp)[0].iter().next().copied().unwrap() as f64;
    common::assert_close(got, want, "all ignored");
}

#[test]
fn combinations() {
    check("0.5*ce+lovasz_softmax:classes=all", &ExportOptions::default(), &Setup::labels(), &shapes(3, true));
    check("bce+lovasz_hinge+dice", &ExportOptions::default(), &Setup::binary(), &shapes(1, true));
}

/// Ties (integer logits, many equal errors): the value does not depend on the order of tied
/// pixels (their `g` sum to the same Jaccard difference), so TopK's order matches the native
/// index order's value.
#[test]
fn ties() {
    for (s, ml, c) in [("lovasz_hinge", false, 1usize), ("lovasz_hinge:per_image=false", true, 3), ("lovasz_softmax:classes=all", false, 3)]
    {
        let spec = common::spec(s);
        let mode = if c == 3 && !ml {
            Mode::Multiclass
        } else if ml {
            Mode::Multilabel
        } else {
            Mode::Binary
        };
        let m = segloss_onnx::export(&spec, &ExportOptions { mode: Some(mode), ..ExportOptions::default() }).unwrap();
        let t = common::Typed::new(&m);
        let setup = if mode == Mode::Multiclass { Setup::labels() } else { Setup::binary() };
        let mut inp = common::inputs(&[2, c, 5, 7], &setup, 11);
        if let common::Input::F32(p) = &mut inp[0] {
            p.mapv_inplace(|v| v.round());
        }
        let want = common::native(&spec, &inp) as f64;
        let got = t.run(&inp)[0].iter().next().copied().unwrap() as f64;
        common::assert_close(got, want, &format!("{s} with ties"));
    }
}

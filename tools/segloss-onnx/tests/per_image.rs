//! The unreduced per-image values through ONNX: an exported graph run on image `i` alone gives
//! `Loss::per_image`'s value `i` (that is their definition: the loss of the batch made of image
//! `i` only), for every exportable loss of the catalogue at its defaults, in each mode it
//! accepts. This is the documented way to get them from a graph (docs/LOSSES.md, "Unreduced
//! values").

mod common;

use common::*;
use ndarray::{Axis, Slice};
use segloss::{Batch, Loss, Mode};
use segloss_onnx::ExportOptions;

#[test]
fn the_graph_on_each_image_alone_gives_the_per_image_values() {
    let mut run = 0;
    for decl in segloss::catalogue() {
        // `boundary` takes its distance map as a graph input (tests/boundary.rs), `hausdorff_dt`
        // has no ONNX form; `distance_bce` needs its weight input
        if ["boundary", "hausdorff_dt", "distance_bce"].contains(&decl.name) {
            continue;
        }
        let required: String = decl.keys().iter().filter(|k| k.default == "required").map(|k| format!(",{}=0.5", k.key)).collect();
        for &mode in decl.modes {
            let (setup, c) = match mode {
                Mode::Binary => (Setup::binary(), 1),
                // unified_focal's multiclass form takes two channels
                Mode::Multiclass => (Setup::labels(), if decl.name == "unified_focal" { 2 } else { 3 }),
                Mode::Multilabel => (Setup::binary(), 3),
            };
            let spec_str = format!("{}:mode={}{required}", decl.name, mode.name());
            let spec = spec(&spec_str);
            let loss = spec.build().unwrap_or_else(|e| panic!("{spec_str}: {e}"));
            let opts = ExportOptions { mode: Some(mode), rank: 4, ..ExportOptions::default() };
            let typed = Typed::new(&segloss_onnx::export(&spec, &opts).unwrap_or_else(|e| panic!("{spec_str}: export: {e}")));
            let inp = inputs(&[3, c, 5, 6], &setup, 77);
            let Input::F32(pred) = &inp[0] else { panic!("pred is f32") };
            let values = match &inp[1] {
                Input::F32(t) => loss.per_image(&Batch::new(pred.view(), t.view())),
                Input::I64(t) => loss.per_image(&Batch::new(pred.view(), t.view())),
            }
            .unwrap_or_else(|e| panic!("{spec_str}: per_image: {e}"));
            for (i, &want) in values.iter().enumerate() {
                let cut = |a: &ndarray::ArrayD<f32>| a.slice_axis(Axis(0), Slice::from(i..i + 1)).to_owned();
                let one: Vec<Input> = inp
                    .iter()
                    .map(|x| match x {
                        Input::F32(a) => Input::F32(cut(a)),
                        Input::I64(a) => Input::I64(a.slice_axis(Axis(0), Slice::from(i..i + 1)).to_owned()),
                    })
                    .collect();
                let got = typed.run(&one)[0].iter().next().copied().expect("a scalar") as f64;
                assert_close(got, want as f64, &format!("{spec_str}: image {i}"));
            }
            run += 1;
        }
    }
    assert!(run >= 20, "{run} losses and modes");
}

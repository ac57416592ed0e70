//! `boundary` in ONNX: the graph takes the distance maps as a third input, `boundary_map` (pred's
//! shape), which `segloss_distance::boundary_map` computes from the target with the same keys.
//! For every key of the loss, on odd 2-D shapes, a 3-D volume, a one-pixel-wide image and a 1-D
//! signal (with an empty first target), tract's value equals the native kernel's; in every mode,
//! with and without a channel axis, inside a combination, and through `export_calling_function`.
//! `hausdorff_dt` has no export: its error is checked in tests/catalogue.rs.

mod common;

use common::{assert_close, inputs, native, shapes, spec, Data, Input, Setup, Typed};
use segloss::core::LossConfig;
use segloss::distance::{boundary_map, BoundaryConfig};
use segloss::{Mode, Target};
use segloss_onnx::ExportOptions;
use std::collections::HashMap;

/// The `boundary` term of `spec_str` as its typed config (for the map).
fn boundary_config(spec_str: &str, mode: Mode) -> BoundaryConfig {
    let s = spec(spec_str);
    let t = s.terms.iter().find(|t| t.name == "boundary").expect("a boundary term");
    let mut p = segloss::core::Params::new("boundary", t.params.clone()).unwrap();
    let mut c = BoundaryConfig::from_params(&mut p).unwrap();
    c.mode = Some(mode);
    c
}

/// Exports `spec_str` (inputs pred, target, boundary_map), runs it in tract on each shape with
/// the map of the target, and compares with the native value.
fn check_boundary(spec_str: &str, mode: Mode, setup: &Setup, shape_list: &[Vec<usize>], channel: bool, via_function: bool) {
    let sp = spec(spec_str);
    let config = boundary_config(spec_str, mode);
    let mut by_rank: HashMap<usize, Typed> = HashMap::new();
    for (i, shape) in shape_list.iter().enumerate() {
        let typed = by_rank.entry(shape.len()).or_insert_with(|| {
            let o = ExportOptions { rank: shape.len(), mode: Some(mode), channel, ..ExportOptions::default() };
            // the function form is expanded by `inline_functions` before tract (tract 0.23 does
            // not run local functions), as tests/forms.rs does
            let m = if via_function {
                segloss_onnx::export_calling_function(&sp, &o).and_then(segloss_onnx::inline_functions)
            } else {
                segloss_onnx::export(&sp, &o)
            };
            let m = m.unwrap_or_else(|e| panic!("{spec_str}: export: {e}"));
            let names: Vec<String> = m.graph.as_ref().unwrap().input.iter().map(|v| v.name.clone()).collect();
            assert_eq!(names, ["pred", "target", "boundary_map"], "{spec_str}");
            Typed::new(&m)
        });
        let mut inp = inputs(shape, setup, 2000 + i as u64);
        let target: Target<'_> = match &inp[1] {
            Input::F32(t) => t.view().into(),
            Input::I64(t) => t.view().into(),
        };
        let map = boundary_map(target, shape, &config).unwrap_or_else(|e| panic!("{spec_str}: map: {e}"));
        let want = native(&sp, &inp) as f64;
        inp.push(Input::F32(map));
        let outs = typed.run(&inp);
        assert_eq!(outs[0].ndim(), 0, "{spec_str}: the loss is a scalar");
        let got = outs[0].iter().next().copied().unwrap() as f64;
        assert_close(got, want, &format!("{spec_str} on {shape:?}"));
    }
}

fn bin(probs: bool) -> Setup {
    Setup { probs, ..Setup::binary() }
}

fn lab(probs: bool) -> Setup {
    Setup { data: Data::Labels { ignore: None }, probs, ..Setup::labels() }
}

/// Every key of the declaration has a case here (a key added without one fails).
#[test]
fn every_key_of_boundary() {
    use Mode::*;
    let decl = segloss::registry().find("boundary").unwrap();
    let mut run = 0;
    for key in std::iter::once(None).chain(decl.keys().iter().map(|k| Some(k.key))) {
        let cases: Vec<(&str, Mode, Setup, usize)> = match key {
            None => {
                vec![("boundary", Multiclass, lab(false), 3), ("boundary", Binary, bin(false), 1), ("boundary", Multilabel, bin(false), 3)]
            }
            Some("include_background") => vec![
                ("boundary:include_background=true", Multiclass, lab(false), 3),
                ("boundary:include_background=false", Multilabel, bin(false), 3),
                ("boundary:include_background=false", Binary, bin(false), 1),
            ],
            Some("classes") => {
                vec![("boundary:classes=[0,2]", Multiclass, lab(false), 4), ("boundary:classes=[1]", Multilabel, bin(false), 2)]
            }
            // one number: every shape; a list: the 2-D shapes
            Some("spacing") => vec![("boundary:spacing=0.5", Multiclass, lab(false), 3)],
            Some("from_logits") => {
                vec![("boundary:from_logits=false", Binary, bin(true), 1), ("boundary:from_logits=false", Multiclass, lab(true), 3)]
            }
            Some("mode") => vec![("boundary:mode=multilabel", Multilabel, bin(false), 2)],
            Some(k) => panic!("no ONNX case for boundary:{k}"),
        };
        for (s, mode, setup, c) in cases {
            check_boundary(s, mode, &setup, &shapes(c, true), true, false);
            run += 1;
        }
    }
    check_boundary("boundary:spacing=[0.5,2]", Mode::Multiclass, &lab(false), &[vec![2, 3, 5, 7], vec![3, 3, 3, 1]], true, false);
    assert!(run >= 10, "{run}");
}

#[test]
fn without_channel_axis_in_a_sum_and_as_a_function() {
    check_boundary("boundary:mode=binary", Mode::Binary, &bin(false), &shapes(1, false), false, false);
    check_boundary("boundary+0.5*dice", Mode::Multiclass, &lab(false), &shapes(3, true), true, false);
    check_boundary("boundary:classes=[1,2]", Mode::Multiclass, &lab(false), &shapes(3, true), true, true);
}

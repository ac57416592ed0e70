//! `segloss boundary-map`: the map against a brute-force reading of docs/LOSSES.md's formula
//! (every pixel against every other, in the test), for masks, labels, PNG labels and spacing; the
//! ONNX graph of `boundary` fed the map equals `segloss eval`; and its errors.

mod common;

use common::*;
use ndarray::{Array2, ArrayD, IxDyn};
use tract_onnx::prelude::Tensor;

/// phi of one 2D mask by brute force (docs/LOSSES.md, `boundary`): outside G the distance to the
/// nearest pixel of G; inside, 1 minus the distance to the nearest pixel outside G; 0 when G is
/// empty or full. `sp` is the spacing (rows, columns).
fn brute_phi(g: &Array2<bool>, sp: (f64, f64)) -> Array2<f64> {
    let (h, w) = g.dim();
    let n_in = g.iter().filter(|&&x| x).count();
    if n_in == 0 || n_in == h * w {
        return Array2::zeros((h, w));
    }
    Array2::from_shape_fn((h, w), |(y, x)| {
        let inside = g[[y, x]];
        let mut best = f64::INFINITY;
        for ((yy, xx), &other) in g.indexed_iter() {
            if other != inside {
                let d = (((y as f64 - yy as f64) * sp.0).powi(2) + ((x as f64 - xx as f64) * sp.1).powi(2)).sqrt();
                best = best.min(d);
            }
        }
        if inside {
            1.0 - best
        } else {
            best
        }
    })
}

/// A mask with two blobs, one touching the border.
fn mask(h: usize, w: usize, shift: usize) -> Array2<bool> {
    Array2::from_shape_fn((h, w), |(y, x)| {
        let (a, b) = (y as f64 - 3.0 - shift as f64, x as f64 - 4.0);
        a * a + b * b / 2.0 <= 6.0 || (y + shift >= h - 2 && x < 3)
    })
}

fn assert_close(got: &[f32], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((*g as f64 - w).abs() <= 1e-5 * (1.0 + w.abs()), "{what}[{i}]: {g} vs {w}");
    }
}

#[test]
fn masks_follow_the_formula_with_and_without_spacing() {
    let d = tmpdir("bmap-mask");
    let (h, w) = (9, 11);
    let masks = [mask(h, w, 0), mask(h, w, 2), Array2::from_elem((h, w), false)];
    let t = ArrayD::from_shape_vec(IxDyn(&[3, 1, h, w]), masks.iter().flat_map(|m| m.iter().map(|&b| b as u8 as f32)).collect()).unwrap();
    write_npy(&d.join("t.npy"), &t);
    for (spec, sp) in [("boundary", (1.0, 1.0)), ("boundary:spacing=[1,0.5]", (1.0, 0.5)), ("0.5*dice+boundary:spacing=2", (2.0, 2.0))] {
        let out = d.join("phi.npy");
        ok(&["boundary-map", spec, "--target", &s(&d.join("t.npy")), "-o", &s(&out)]);
        let phi = read_f32(&out);
        assert_eq!(phi.shape(), [3, 1, h, w], "{spec}");
        let want: Vec<f64> = masks.iter().flat_map(|m| brute_phi(m, sp).into_iter()).collect();
        assert_close(phi.as_slice().unwrap(), &want, spec);
    }
}

#[test]
fn labels_and_png_labels_keep_the_foreground_channels() {
    let d = tmpdir("bmap-labels");
    let (h, w) = (8, 10);
    let lab = Array2::from_shape_fn((h, w), |(y, x)| {
        if mask(h, w, 0)[[y, x]] {
            1u8
        } else if y < 2 && x > 6 {
            2
        } else {
            0
        }
    });
    write_npy(&d.join("l.npy"), &lab.clone().into_dyn().into_shape_with_order(IxDyn(&[1, h, w])).unwrap().mapv(|v| v as i64));
    write_png8(&d.join("l.png"), &lab);
    let one_hot = |c: u8| lab.mapv(|v| v == c);
    for (target, spec) in [("l.npy", "boundary"), ("l.png", "boundary"), ("l.npy", "boundary:include_background=true")] {
        let out = d.join("phi.npy");
        ok(&["boundary-map", spec, "--target", &s(&d.join(target)), "--classes", "3", "-o", &s(&out)]);
        let phi = read_f32(&out);
        assert_eq!(phi.shape(), [1, 3, h, w], "{target} {spec}");
        let bg = if spec.contains("include_background") { brute_phi(&one_hot(0), (1.0, 1.0)) } else { Array2::zeros((h, w)) };
        let want: Vec<f64> =
            [bg, brute_phi(&one_hot(1), (1.0, 1.0)), brute_phi(&one_hot(2), (1.0, 1.0))].iter().flat_map(|a| a.iter().copied()).collect();
        assert_close(phi.as_slice().unwrap(), &want, &format!("{target} {spec}"));
    }
    // a PNG picture of a one-channel map; several channels need a .npy
    write_png8(&d.join("m.png"), &lab.mapv(|v| (v == 1) as u8));
    ok(&["boundary-map", "--target", &s(&d.join("m.png")), "--classes", "1", "-o", &s(&d.join("phi.png"))]);
    assert_eq!(&std::fs::read(d.join("phi.png")).unwrap()[1..4], b"PNG");
    fails(&["boundary-map", "--target", &s(&d.join("l.png")), "--classes", "3", "-o", &s(&d.join("phi3.png"))], &["write a .npy instead"]);
    fails(&["boundary-map", "--target", &s(&d.join("l.npy")), "-o", &s(&d.join("x.npy"))], &["l.npy", "give --classes C"]);
}

/// The exported graph of `boundary` fed the map computes `segloss eval`'s value.
#[test]
fn the_onnx_graph_fed_the_map_equals_eval() {
    let d = tmpdir("bmap-onnx");
    let (h, w) = (9, 11);
    let masks = [mask(h, w, 1), mask(h, w, 3)];
    let t = ArrayD::from_shape_vec(IxDyn(&[2, 1, h, w]), masks.iter().flat_map(|m| m.iter().map(|&b| b as u8 as f32)).collect()).unwrap();
    let p = randn(&[2, 1, h, w], 7);
    let (tp, pp, mp, op) = (d.join("t.npy"), d.join("p.npy"), d.join("m.npy"), d.join("b.onnx"));
    write_npy(&tp, &t);
    write_npy(&pp, &p);
    for spec in ["boundary", "bce+2*boundary:spacing=[1,0.5]"] {
        let v = json(&ok(&["eval", spec, "--pred", &s(&pp), "--target", &s(&tp), "--json"]))["loss"].as_f64().unwrap();
        ok(&["boundary-map", spec, "--target", &s(&tp), "-o", &s(&mp)]);
        ok(&["export", spec, "-o", &s(&op)]);
        let model = segloss_onnx::from_bytes(&std::fs::read(&op).unwrap()).unwrap();
        let inputs = vec![Tensor::from(p.clone()), Tensor::from(t.clone()), Tensor::from(read_f32(&mp))];
        let out = segloss_cli::export::run_model(&model, inputs).unwrap();
        let onnx = out[0].iter().next().copied().unwrap() as f64;
        assert!((onnx - v).abs() <= 1e-5 * v.abs().max(1e-3), "{spec}: onnx {onnx} vs eval {v}");
    }
}

#[test]
fn bad_specs_targets_and_outputs_are_one_line_errors() {
    let d = tmpdir("bmap-err");
    let t = ArrayD::from_shape_vec(IxDyn(&[1, 1, 2, 3]), vec![0f32, 1., 1., 0., 1., 0.]).unwrap();
    let tp = d.join("t.npy");
    write_npy(&tp, &t);
    let o = s(&d.join("o.npy"));
    fails(&["boundary-map", "dice", "--target", &s(&tp), "-o", &o], &["`dice` has 0 `boundary` terms"]);
    fails(&["boundary-map", "boundary+boundary", "--target", &s(&tp), "-o", &o], &["has 2 `boundary` terms"]);
    fails(&["boundary-map", "boundary:spacing=[0]", "--target", &s(&tp), "-o", &o], &["bad loss spec", "spacing"]);
    fails(&["boundary-map", "boundary:spacing=[1,1,1]", "--target", &s(&tp), "-o", &o], &["t.npy", "spacing"]);
    fails(&["boundary-map", "--target", &s(&tp), "--classes", "2", "-o", &o], &["--classes", "does not match"]);
    fails(&["boundary-map", "--target", &s(&tp), "-o", &s(&d.join("o.npz"))], &["--output", ".npz is for inputs only"]);
    fails(&["boundary-map", "--target", &s(&d.join("missing.npy")), "-o", &o], &["missing.npy"]);
    assert!(!d.join("o.npy").exists(), "no output on error");
}

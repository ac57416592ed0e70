//! End-to-end tests of the `segloss` binary: the map verbs (edt, weight-map), the demo and help,
//! PNG outputs decoded.

mod common;

use common::*;
use ndarray::Array2;
use segloss::Batch;

// ---------------------------------------------------------------- edt, weight-map

fn disc_mask(h: usize, w: usize) -> Array2<u8> {
    Array2::from_shape_fn((h, w), |(y, x)| {
        let (a, b) = (y as f32 - 6.0, x as f32 - 5.0);
        let (c, e) = (y as f32 - 7.0, x as f32 - 15.0);
        (a * a + b * b <= 16.0 || c * c + e * e <= 12.0) as u8
    })
}

#[test]
fn edt_npy_and_png_outputs() {
    use segloss::distance::{edt, EdtOptions};
    let d = tmpdir("edt");
    let m = disc_mask(14, 21);
    write_npy(&d.join("m.npy"), &m.clone().into_dyn());
    write_png8(&d.join("m.png"), &m);
    let want = edt(m.view().into_dyn(), &EdtOptions::default()).unwrap();
    ok(&["edt", &s(&d.join("m.npy")), "-o", &s(&d.join("d.npy"))]);
    assert_eq!(read_f32(&d.join("d.npy")), want);
    ok(&["edt", &s(&d.join("m.png")), "--output", &s(&d.join("d2.npy")), "--threads", "1"]);
    assert_eq!(read_f32(&d.join("d2.npy")), want);
    let sq = edt(m.view().into_dyn(), &EdtOptions { spacing: Some(vec![2.0, 0.5]), squared: true }).unwrap();
    ok(&["edt", &s(&d.join("m.npy")), "-o", &s(&d.join("d3.npy")), "--spacing", "2,0.5", "--squared"]);
    assert_eq!(read_f32(&d.join("d3.npy")), sq);

    // A heat map: the image at (MARGIN, MARGIN), a colour bar to its right.
    ok(&["edt", &s(&d.join("m.png")), "-o", &s(&d.join("d.png"))]);
    let img = read_rgb_png(&d.join("d.png"));
    use segloss_cli::image::{colormap, BAR_W, MARGIN};
    assert!(img.0 > MARGIN + 21 + MARGIN + BAR_W);
    let max = want.iter().copied().fold(0.0f32, f32::max);
    for y in 0..14 {
        for x in 0..21 {
            assert_eq!(pixel(&img, MARGIN + x, MARGIN + y), colormap(want[[y, x]] / max), "({y}, {x})");
        }
    }
    let bx = MARGIN + 21 + MARGIN;
    assert_eq!(pixel(&img, bx + 2, MARGIN), colormap(1.0));
    let bh = segloss_cli::image::bar_height(14);
    assert_eq!(pixel(&img, bx + 2, MARGIN + bh - 1), colormap(0.0));
}

#[test]
fn weight_map_npy_and_png_outputs() {
    use segloss::distance::{unet_weights_from_instances, unet_weights_from_mask, ClassWeights, UnetWeightConfig};
    let d = tmpdir("weight-map");
    let m = disc_mask(14, 21);
    write_png8(&d.join("m.png"), &m);
    let cfg = UnetWeightConfig::default();
    let want = unet_weights_from_mask(m.view().into_dyn(), &cfg).unwrap();
    ok(&["weight-map", &s(&d.join("m.png")), "-o", &s(&d.join("w.npy"))]);
    assert_eq!(read_f32(&d.join("w.npy")), want);

    // Instance labels (int32), explicit parameters.
    let inst = Array2::from_shape_fn((14, 21), |(y, x)| {
        if m[[y, x]] == 0 {
            0
        } else if x < 10 {
            3
        } else {
            7
        }
    })
    .into_dyn();
    write_npy(&d.join("i.npy"), &inst);
    let cfg = UnetWeightConfig { w0: 5.0, sigma: 3.0, class_weights: ClassWeights::Fixed(1.0, 2.0), connectivity: None };
    let want = unet_weights_from_instances(inst.view(), &cfg).unwrap();
    ok(&["weight-map", &s(&d.join("i.npy")), "-o", &s(&d.join("w2.npy")), "--w0", "5", "--sigma", "3", "--class-weights", "1,2"]);
    assert_eq!(read_f32(&d.join("w2.npy")), want);

    // 8-connectivity on a mask read from .npy (bool).
    let mb = m.mapv(|v| v == 1).into_dyn();
    write_npy(&d.join("mb.npy"), &mb);
    let cfg8 = UnetWeightConfig { connectivity: Some(8), ..Default::default() };
    ok(&["weight-map", &s(&d.join("mb.npy")), "-o", &s(&d.join("w3.npy")), "--connectivity", "8"]);
    assert_eq!(read_f32(&d.join("w3.npy")), unet_weights_from_mask(mb.view(), &cfg8).unwrap());

    ok(&["weight-map", &s(&d.join("m.png")), "-o", &s(&d.join("w.png"))]);
    let img = read_rgb_png(&d.join("w.png"));
    let w = unet_weights_from_mask(m.view().into_dyn(), &UnetWeightConfig::default()).unwrap();
    let (lo, hi) = w.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    use segloss_cli::image::{colormap, MARGIN};
    for (y, x) in [(0, 0), (6, 5), (7, 10), (13, 20)] {
        assert_eq!(pixel(&img, MARGIN + x, MARGIN + y), colormap((w[[y, x]] - lo) / (hi - lo)), "({y}, {x})");
    }
}

// ---------------------------------------------------------------- demo

/// Bound on the demo's `onnx diff` column: |value of the exported graph in tract (float32) -
/// native value| for every row but the Lovász ones.
const ONNX_DIFF_TOL: f64 = 1e-4;
/// Relative bound for the Lovász rows: their graphs sum 262144 products `e_i * g_i` (the whole
/// 4 x 256 x 256 batch per class) with float32 `ReduceSum` in tract; the native kernel sums in
/// f64. Measured: lovasz_softmax 1.4e-4 on 0.391 (3.6e-4 relative), lovasz_hinge 3e-8.
/// (A sequential float32 sum of 262144 such products is off by ~2e-5 per class in a numpy model
/// of it, a pairwise sum by ~1e-9.)
const ONNX_LOVASZ_REL_TOL: f64 = 1e-3;

#[test]
fn demo_prints_the_table_and_writes_pictures() {
    let d = tmpdir("demo");
    let out = ok(&["demo", "--out", &s(&d), "--threads", "2"]);
    let header = out.lines().position(|l| l.starts_with("loss ")).expect("table header");
    assert!(out.lines().nth(header).unwrap().contains("grad L2"));
    for info in segloss::catalogue() {
        assert!(
            out.lines().any(|l| l.split_whitespace().next().is_some_and(|w| w == info.name || w.starts_with(&format!("{}:", info.name))))
                || out.contains(&format!("skipped {}", info.name)),
            "{} is neither in the table nor skipped:\n{out}",
            info.name
        );
    }
    let row = out.lines().find(|l| l.starts_with("distance_bce ")).expect("distance_bce row");
    assert!(row.contains("bin+edt"), "{row}");
    let bce = out.lines().find(|l| l.starts_with("bce ") && l.contains(" binary ")).expect("bce row");
    let value: f32 = bce.split_whitespace().nth(2).unwrap().parse().unwrap();
    let cells = segloss_cli::data::cells(4, 256, 256, segloss_cli::demo::SEED);
    let (want, _) = library("bce", &Batch::new(&cells.logits, &cells.mask));
    assert!((value - want).abs() <= 1e-6, "{value} vs {want}");

    // Every row's ONNX graph was written, decodes, and agrees with the native value in tract.
    assert!(out.lines().nth(header).unwrap().trim_end().ends_with("onnx diff"), "{out}");
    let rows: Vec<&str> = out
        .lines()
        .skip(header + 1)
        .take_while(|l| !l.is_empty() && !l.starts_with("skipped ") && !l.starts_with("no ONNX graph "))
        .collect();
    assert!(rows.len() >= segloss::catalogue().len(), "{out}");
    assert!(!out.contains("onnx check failed"), "{out}");
    let mut graphs = 0;
    for row in &rows {
        let cols: Vec<&str> = row.split_whitespace().collect();
        if cols.last() == Some(&"-") {
            // only a loss with no ONNX form (hausdorff_dt), and the demo says why
            assert!(out.contains(&format!("no ONNX graph for {} ({})", cols[0], cols[1])), "{row}\n{out}");
            continue;
        }
        graphs += 1;
        let diff: f64 = cols.last().unwrap().parse().unwrap_or_else(|_| panic!("onnx diff of {row}"));
        let value: f64 = cols[2].parse().unwrap();
        let tol = if cols[0].starts_with("lovasz") { ONNX_LOVASZ_REL_TOL * value.abs() } else { ONNX_DIFF_TOL };
        assert!(diff < tol, "onnx diff above {tol:e}: {row}");
        let file = d.join(segloss_cli::demo::onnx_file_name(cols[0], cols[1]));
        let model = segloss_onnx::from_bytes(&std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))).unwrap();
        let inputs: Vec<&str> = model.graph.as_ref().unwrap().input.iter().map(|i| i.name.as_str()).collect();
        let weighted = cols[1] == "bin+edt" || cols[1] == "bin+unet";
        let map = cols[0] == "boundary"; // its distance map is a graph input
        assert_eq!(inputs.len(), 2 + weighted as usize + map as usize, "{row}: {inputs:?}");
    }
    assert!(graphs + 2 >= rows.len(), "at most hausdorff_dt's two rows without a graph:\n{out}");
    for name in ["bce_binary.onnx", "wce_beta_2_binary.onnx", "focal_3_class.onnx", "distance_bce_bin_edt.onnx", "bce_bin_unet.onnx"] {
        assert!(d.join(name).is_file(), "{name}");
    }
    assert!(out.contains(&format!("wrote {graphs} ONNX graphs")), "{out}");
    // Two of the written graphs, run again on the demo data, give the library's value.
    use tract_onnx::prelude::Tensor;
    let run = |file: &str, inputs: Vec<Tensor>| -> f64 {
        let model = segloss_onnx::from_bytes(&std::fs::read(d.join(file)).unwrap()).unwrap();
        segloss_cli::export::run_model(&model, inputs).unwrap()[0].iter().next().copied().unwrap() as f64
    };
    let got = run("bce_binary.onnx", vec![Tensor::from(cells.logits.clone()), Tensor::from(cells.mask.clone())]);
    assert!((got - want as f64).abs() <= 1e-5 * want as f64, "bce graph {got} vs {want}");
    let labels = cells.labels.mapv(|l| l as i64);
    let got = run("ce_3_class.onnx", vec![Tensor::from(cells.class_logits.clone()), Tensor::from(labels)]);
    let (want_ce, _) = library("ce", &Batch::new(&cells.class_logits, &cells.labels));
    assert!((got - want_ce as f64).abs() <= 1e-5 * want_ce as f64, "ce graph {got} vs {want_ce}");

    use segloss_cli::image::{colormap, label_colour, MARGIN};
    for f in ["mask.png", "labels.png", "prediction.png", "distance.png", "unet_weights.png"] {
        let img = read_rgb_png(&d.join(f));
        assert!(img.0 > 2 * 256 && img.1 >= 2 * 256, "{f}: {}x{}", img.0, img.1);
    }
    let mask = read_rgb_png(&d.join("mask.png"));
    let labels = read_rgb_png(&d.join("labels.png"));
    let pred = read_rgb_png(&d.join("prediction.png"));
    for (y, x) in [(0, 0), (40, 40), (128, 77), (255, 255)] {
        let m = cells.mask[[0, 0, y, x]] as i64;
        assert_eq!(pixel(&mask, MARGIN + x, MARGIN + y), label_colour(m));
        assert_eq!(pixel(&labels, MARGIN + x, MARGIN + y), label_colour(cells.labels[[0, y, x]] as i64));
        let p = 1.0 / (1.0 + (-cells.logits[[0, 0, y, x]]).exp());
        assert_eq!(pixel(&pred, MARGIN + x, MARGIN + y), colormap(p));
    }
}

// ---------------------------------------------------------------- help

/// Every verb and the flags its help (generated by clap from the flag declarations) names.
const VERBS: &[(&str, &[&str])] = &[
    ("list", &["--json"]),
    (
        "eval",
        &[
            "SPEC",
            "--pred",
            "--target",
            "--weight",
            "--grad-out",
            "--pred-dir",
            "--target-dir",
            "--weight-dir",
            "--csv",
            "--json",
            "--threads",
        ],
    ),
    ("bench", &["TARGET", "--shape", "--iters", "--roofline", "--threads", "--json"]),
    ("demo", &["--out", "--threads"]),
    ("edt", &["MASK", "-o, --output", "--spacing", "--squared", "--threads"]),
    ("weight-map", &["LABELS", "-o, --output", "--w0", "--sigma", "--connectivity", "--class-weights", "--input", "--threads"]),
    (
        "export",
        &[
            "SPEC",
            "-o, --output",
            "--rank",
            "--with-weight",
            "--pixel-weight",
            "--mode",
            "--classes",
            "--no-channel",
            "--opset",
            "--prefix",
            "--attach",
            "--to",
        ],
    ),
    ("completions", &["SHELL", "bash", "zsh", "fish"]),
];

#[test]
fn every_verb_has_help() {
    for &(verb, flags) in VERBS {
        for help in ["--help", "-h"] {
            let out = ok(&[verb, help]);
            assert!(out.starts_with(&format!("usage: segloss {verb}")), "{verb}: {out}");
            for flag in flags {
                assert!(out.contains(flag), "`segloss {verb} {help}` does not name {flag}:\n{out}");
            }
            assert!(out.contains("-h, --help"), "{verb}: {out}");
            assert_eq!(out, ok(&["help", verb]), "{verb}");
        }
    }
    let main = ok(&["--help"]);
    for &(verb, _) in VERBS {
        assert!(main.lines().any(|l| l.trim_start().starts_with(verb)), "{verb} is not in segloss --help:\n{main}");
    }
    assert_eq!(ok(&["-h"]), main);
    assert_eq!(ok(&["help"]), main);
    assert!(ok(&["eval", "-h"]).contains("[1, H, W]"));
}

/// The help keeps what the hand-written texts said: defaults and bounds, and the possible values.
#[test]
fn help_states_defaults_and_bounds() {
    let bench = ok(&["bench", "--help"]);
    for text in ["at most 1000000", "at least 1 s and 50 runs", "p90", "at most 4096", "unet_weights", "radix sort"] {
        assert!(bench.contains(text), "{text}:\n{bench}");
    }
    let wm = ok(&["weight-map", "--help"]);
    for text in ["[default: 10]", "[default: 5]", "[default: balanced]", "[default: auto]", "instances", "Ronneberger"] {
        assert!(wm.contains(text), "{text}:\n{wm}");
    }
    let export = ok(&["export", "--help"]);
    for text in ["binary", "multiclass", "multilabel", "13 to 21", "default 17", "segloss_"] {
        assert!(export.contains(text), "{text}:\n{export}");
    }
    assert!(ok(&["demo", "--help"]).contains("[default: demo-out]"));
    // wrapped to the same width whatever the terminal
    for &(verb, _) in VERBS {
        let out = ok(&[verb, "--help"]);
        assert!(out.lines().all(|l| l.chars().count() <= 100), "{verb}:\n{out}");
    }
}

#[test]
fn version() {
    let want = format!("segloss {}\n", env!("CARGO_PKG_VERSION"));
    assert_eq!(want, "segloss 0.1.0\n");
    assert_eq!(ok(&["--version"]), want);
    assert_eq!(ok(&["-V"]), want);
}

#[test]
fn completion_scripts_name_the_verbs_and_flags() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = ok(&["completions", shell]);
        assert!(out.len() > 500, "{shell}: {out}");
        // (fish names long flags without their dashes)
        for word in ["segloss", "weight-map", "pred-dir", "class-weights", "completions"] {
            assert!(out.contains(word), "{shell} script lacks {word}");
        }
    }
    // The value lists are completed too.
    assert!(ok(&["completions", "fish"]).contains("multilabel"));
    // A bash script that bash accepts.
    let d = tmpdir("completions");
    std::fs::write(d.join("segloss.bash"), ok(&["completions", "bash"])).unwrap();
    let st = std::process::Command::new("bash")
        .args(["-c", "source \"$1\" && complete -p segloss", "bash", &s(&d.join("segloss.bash"))])
        .output()
        .expect("bash");
    assert!(st.status.success() && String::from_utf8_lossy(&st.stdout).contains("segloss"), "{st:?}");
}

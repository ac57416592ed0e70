//! End-to-end tests of the `segloss` binary: every verb on small files written into a temp dir,
//! JSON parsed back, gradients compared with the library, PNG outputs decoded.

mod common;

use common::*;
use ndarray::{Array2, ArrayD, IxDyn, ShapeBuilder};
use segloss::{Batch, Loss, LossSpec, Target};
use serde_json::Value;

fn json(stdout: &str) -> Value {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line expected: {stdout}");
    serde_json::from_str(lines[0]).unwrap()
}

fn library(spec: &str, batch: &Batch<'_>) -> (f32, ArrayD<f32>) {
    LossSpec::parse(spec).unwrap().build().unwrap().forward_backward(batch).unwrap()
}

// ---------------------------------------------------------------- list

#[test]
fn list_prints_every_loss_with_keys_and_formula() {
    let out = ok(&["list"]);
    for info in segloss::catalogue() {
        let line = out.lines().find(|l| l.split_whitespace().next() == Some(info.name)).expect(info.name);
        assert!(line.contains(info.formula), "{line}");
        for k in info.keys() {
            assert!(out.contains(&format!("{}={}", k.key, k.default)), "{} {}", info.name, k.key);
        }
    }
    let v = json(&ok(&["list", "--json"]));
    let names: Vec<&str> = v.as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    let want: Vec<&str> = segloss::catalogue().iter().map(|i| i.name).collect();
    assert_eq!(names, want);
    let first = &v[0];
    assert_eq!(first["keys"][0]["key"], segloss::catalogue()[0].keys()[0].key);
    assert_eq!(first["formula"], segloss::catalogue()[0].formula);
}

// ---------------------------------------------------------------- eval, one pair

#[test]
fn eval_binary_json_and_gradient_match_the_library() {
    let d = tmpdir("eval-binary");
    let pred = randn(&[2, 1, 6, 7], 1);
    let target = randn(&[2, 1, 6, 7], 2).mapv(|x| (x > 0.5) as u8 as f32);
    write_npy(&d.join("p.npy"), &pred);
    write_npy(&d.join("t.npy"), &target);
    let g = d.join("g.npy");
    for spec in ["bce", "focal:gamma=2,alpha=0.25", "0.5*bce+focal:gamma=1"] {
        let out = ok(&[
            "eval",
            spec,
            "--pred",
            &s(&d.join("p.npy")),
            "--target",
            &s(&d.join("t.npy")),
            "--grad-out",
            &s(&g),
            "--json",
            "--threads",
            "2",
        ]);
        let v = json(&out);
        let (want, want_grad) = library(spec, &Batch::new(&pred, &target));
        assert_eq!(v["spec"], LossSpec::parse(spec).unwrap().to_string());
        assert_eq!(v["loss"].as_f64().unwrap() as f32, want, "{spec}");
        assert_eq!(v["shape"], serde_json::json!([2, 1, 6, 7]));
        assert_eq!(v["mode"], "binary");
        assert_eq!(v["threads"], 2);
        let grad = read_f32(&g);
        assert_eq!(grad.shape(), pred.shape());
        assert_eq!(grad, want_grad, "{spec}");
    }
    // Plain output: just the loss.
    let out = ok(&["eval", "bce", "--pred", &s(&d.join("p.npy")), "--target", &s(&d.join("t.npy"))]);
    let (want, _) = library("bce", &Batch::new(&pred, &target));
    assert_eq!(out.trim().parse::<f32>().unwrap(), want);
}

#[test]
fn eval_one_and_two_threads_agree_bit_for_bit() {
    let d = tmpdir("eval-threads");
    write_npy(&d.join("p.npy"), &randn(&[3, 4, 33, 17], 3));
    let l: Vec<i64> = labels(&[3, 33, 17], 4, 4).iter().map(|&x| x as i64).collect();
    write_npy(&d.join("t.npy"), &ArrayD::from_shape_vec(IxDyn(&[3, 33, 17]), l).unwrap());
    let mut results = Vec::new();
    for t in ["1", "2"] {
        let g = d.join(format!("g{t}.npy"));
        let v = json(&ok(&[
            "eval",
            "ce",
            "--pred",
            &s(&d.join("p.npy")),
            "--target",
            &s(&d.join("t.npy")),
            "--grad-out",
            &s(&g),
            "--json",
            "--threads",
            t,
        ]));
        results.push((v["loss"].as_f64().unwrap(), std::fs::read(&g).unwrap()));
    }
    assert_eq!(results[0], results[1]);
}

#[test]
fn eval_reads_every_dtype_and_layout() {
    let d = tmpdir("eval-dtypes");
    let pred = randn(&[1, 3, 5, 4], 5);
    let lab = labels(&[1, 5, 4], 3, 6);
    let lab_u8 = ArrayD::from_shape_vec(IxDyn(&[1, 5, 4]), lab.iter().map(|&x| x as u8).collect()).unwrap();
    let (want, want_grad) = library("ce", &Batch::new(&pred, &lab_u8));

    // float64 pred, Fortran order, big endian; int32 / int64 / uint8 labels.
    let pf: ArrayD<f64> = ArrayD::from_shape_vec(IxDyn(&[1, 3, 5, 4]).f(), vec![0.0; 60]).unwrap();
    let mut pf = pf;
    pf.assign(&pred.mapv(|x| x as f64));
    let data: Vec<u8> = pf.as_slice_memory_order().unwrap().iter().flat_map(|x| x.to_be_bytes()).collect();
    write_raw_npy(&d.join("p.npy"), "{'descr': '>f8', 'fortran_order': True, 'shape': (1, 3, 5, 4), }", &data);
    write_npy(&d.join("t_u8.npy"), &lab_u8);
    write_npy(&d.join("t_i32.npy"), &lab_u8.mapv(|x| x as i32));
    write_npy(&d.join("t_i64.npy"), &lab_u8.mapv(|x| x as i64));
    // Version 3.0 header.
    let i64_bytes: Vec<u8> = lab.iter().flat_map(|&x| (x as i64).to_le_bytes()).collect();
    std::fs::write(d.join("t_v3.npy"), raw_npy(3, "{'descr': '<i8', 'fortran_order': False, 'shape': (1, 5, 4), }", &i64_bytes)).unwrap();
    for t in ["t_u8.npy", "t_i32.npy", "t_i64.npy", "t_v3.npy"] {
        let g = d.join("g.npy");
        let v = json(&ok(&["eval", "ce", "--pred", &s(&d.join("p.npy")), "--target", &s(&d.join(t)), "--grad-out", &s(&g), "--json"]));
        assert_eq!(v["loss"].as_f64().unwrap() as f32, want, "{t}");
        assert_eq!(v["mode"], "multiclass");
        assert_eq!(read_f32(&g), want_grad, "{t}");
    }

    // bool target (0/1 labels), float64 weight.
    let bp = randn(&[2, 1, 3, 3], 7);
    let bt: Vec<bool> = labels(&[2, 1, 3, 3], 2, 8).iter().map(|&x| x == 1).collect();
    let bt = ArrayD::from_shape_vec(IxDyn(&[2, 1, 3, 3]), bt).unwrap();
    let w = randn(&[2, 3, 3], 9).mapv(|x| (x.abs() + 0.1) as f64);
    write_npy(&d.join("bp.npy"), &bp);
    write_npy(&d.join("bt.npy"), &bt);
    write_npy(&d.join("w.npy"), &w);
    let g = d.join("bg.npy");
    let v = json(&ok(&[
        "eval",
        "bce",
        "--pred",
        &s(&d.join("bp.npy")),
        "--target",
        &s(&d.join("bt.npy")),
        "--weight",
        &s(&d.join("w.npy")),
        "--grad-out",
        &s(&g),
        "--json",
    ]));
    let bt_f = bt.mapv(|b| b as u8);
    let wf = w.mapv(|x| x as f32);
    let batch = Batch::new(&bp, &bt_f).with_weight(&wf);
    let (want, want_grad) = library("bce", &batch);
    assert_eq!(v["loss"].as_f64().unwrap() as f32, want);
    assert_eq!(v["target_dtype"], "uint8");
    assert_eq!(read_f32(&g), want_grad);
}

#[test]
fn eval_png_targets_line_up_as_one_image() {
    let d = tmpdir("eval-png");
    // 8-bit labels for a 3-class pred [1, 3, H, W].
    let lab = labels(&[6, 9], 3, 10);
    let a8 = Array2::from_shape_vec((6, 9), lab.iter().map(|&x| x as u8).collect()).unwrap();
    write_png8(&d.join("t8.png"), &a8);
    let pred = randn(&[1, 3, 6, 9], 11);
    write_npy(&d.join("p.npy"), &pred);
    let target = a8.clone().into_dyn().into_shape_with_order(IxDyn(&[1, 6, 9])).unwrap();
    let (want, want_grad) = library("ce", &Batch::new(&pred, &target));
    let g = d.join("g.npy");
    let v = json(&ok(&["eval", "ce", "--pred", &s(&d.join("p.npy")), "--target", &s(&d.join("t8.png")), "--grad-out", &s(&g), "--json"]));
    assert_eq!(v["loss"].as_f64().unwrap() as f32, want);
    assert_eq!(v["target_shape"], serde_json::json!([1, 6, 9]));
    assert_eq!(read_f32(&g), want_grad);

    // 16-bit labels read as int32.
    write_png16(&d.join("t16.png"), &a8.mapv(|x| x as u16));
    let v = json(&ok(&["eval", "ce", "--pred", &s(&d.join("p.npy")), "--target", &s(&d.join("t16.png")), "--json"]));
    assert_eq!(v["loss"].as_f64().unwrap() as f32, want);
    assert_eq!(v["target_dtype"], "int32");

    // A 0/1 mask for a binary pred [1, 1, H, W].
    let m = a8.mapv(|x| (x == 1) as u8);
    write_png8(&d.join("m.png"), &m);
    let bp = randn(&[1, 1, 6, 9], 12);
    write_npy(&d.join("bp.npy"), &bp);
    let mt = m.into_dyn().into_shape_with_order(IxDyn(&[1, 6, 9])).unwrap();
    let (want, _) = library("bce", &Batch::new(&bp, Target::U8(mt.view())));
    let v = json(&ok(&["eval", "bce", "--pred", &s(&d.join("bp.npy")), "--target", &s(&d.join("m.png")), "--json"]));
    assert_eq!(v["loss"].as_f64().unwrap() as f32, want);
    assert_eq!(v["mode"], "binary");

    // A palette (indexed) label image: the indices are the labels.
    let idx: Vec<u8> = a8.iter().copied().collect();
    let pal = vec![0, 0, 0, 255, 0, 0, 0, 255, 0];
    std::fs::write(d.join("pal.png"), png_bytes(9, 6, png::ColorType::Indexed, png::BitDepth::Eight, &idx, Some(pal))).unwrap();
    let v = json(&ok(&["eval", "ce", "--pred", &s(&d.join("p.npy")), "--target", &s(&d.join("pal.png")), "--json"]));
    let (want, _) = library("ce", &Batch::new(&pred, &target));
    assert_eq!(v["loss"].as_f64().unwrap() as f32, want);

    // A 1-bit mask (packed rows).
    let bits: Vec<u8> = (0..6)
        .flat_map(|r| {
            let row: Vec<u8> = (0..9).map(|c| (a8[[r, c]] == 1) as u8).collect();
            [row[..8].iter().enumerate().fold(0u8, |a, (i, &b)| a | (b << (7 - i))), row[8] << 7]
        })
        .collect();
    std::fs::write(d.join("m1.png"), png_bytes(9, 6, png::ColorType::Grayscale, png::BitDepth::One, &bits, None)).unwrap();
    let v = json(&ok(&["eval", "bce", "--pred", &s(&d.join("bp.npy")), "--target", &s(&d.join("m1.png")), "--json"]));
    let (want, _) = library("bce", &Batch::new(&bp, Target::U8(mt.view())));
    assert_eq!(v["loss"].as_f64().unwrap() as f32, want);
}

// ---------------------------------------------------------------- eval, folders

#[test]
fn eval_folder_mode_reports_per_file_mean_and_goes_past_bad_files() {
    let d = tmpdir("eval-folder");
    let (pd, td, wd) = (d.join("pred"), d.join("target"), d.join("weight"));
    for x in [&pd, &td, &wd] {
        std::fs::create_dir_all(x).unwrap();
    }
    let mut want = Vec::new();
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        let p = randn(&[1, 1, 4, 5], 20 + i as u64);
        let t = randn(&[1, 1, 4, 5], 30 + i as u64).mapv(|x| (x > 0.0) as u8 as f32);
        write_npy(&pd.join(format!("{name}.npy")), &p);
        if i == 2 {
            let m = Array2::from_shape_vec((4, 5), t.iter().map(|&x| x as u8).collect()).unwrap();
            write_png8(&td.join(format!("{name}.png")), &m);
        } else {
            write_npy(&td.join(format!("{name}.npy")), &t);
        }
        want.push(library("bce", &Batch::new(&p, &t)).0);
    }
    // A truncated prediction and a prediction without a target.
    let bad = segloss_cli::npy::to_bytes(&randn(&[1, 1, 4, 5], 40).view());
    std::fs::write(pd.join("d.npy"), &bad[..bad.len() - 7]).unwrap();
    std::fs::write(td.join("d.npy"), segloss_cli::npy::to_bytes(&randn(&[1, 1, 4, 5], 41).view())).unwrap();
    write_npy(&pd.join("e.npy"), &randn(&[1, 1, 4, 5], 42));

    let csv = d.join("out.csv");
    let o = run(&["eval", "bce", "--pred-dir", &s(&pd), "--target-dir", &s(&td), "--csv", &s(&csv)]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    let errs: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(errs.len(), 3, "{}", o.stderr);
    assert!(errs[0].starts_with("error: ") && errs[0].contains("d.npy") && errs[0].contains("truncated"), "{}", errs[0]);
    assert!(errs[1].contains("e.npy") && errs[1].contains("no target"), "{}", errs[1]);
    assert_eq!(errs[2], "error: 2 of 5 files failed");
    let lines: Vec<&str> = o.stdout.lines().collect();
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        let l = lines.iter().find(|l| l.starts_with(&format!("{name}\t"))).unwrap();
        assert_eq!(l.split('\t').nth(1).unwrap().parse::<f32>().unwrap(), want[i]);
    }
    let mean = want.iter().map(|&x| x as f64).sum::<f64>() / 3.0;
    let ml = lines.iter().find(|l| l.starts_with("mean\t")).unwrap();
    assert_eq!(ml.split('\t').nth(1).unwrap().parse::<f64>().unwrap(), mean);
    assert!(ml.contains("3 files, 2 failed"), "{ml}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows[0], "file,loss,shape,mode,error");
    assert_eq!(rows.len(), 6);
    assert!(rows[1].starts_with(&format!("a,{},1x1x4x5,binary,", want[0])), "{}", rows[1]);
    assert!(rows[4].starts_with("d,,,,") && rows[4].contains("truncated"), "{}", rows[4]);

    // JSON, with a weight dir; all good files only.
    std::fs::remove_file(pd.join("d.npy")).unwrap();
    std::fs::remove_file(pd.join("e.npy")).unwrap();
    for name in ["a", "b", "c"] {
        write_npy(&wd.join(format!("{name}.npy")), &ArrayD::<f32>::from_elem(IxDyn(&[1, 4, 5]), 2.0));
    }
    let v = json(&ok(&["eval", "bce", "--pred-dir", &s(&pd), "--target-dir", &s(&td), "--weight-dir", &s(&wd), "--json"]));
    assert_eq!(v["count"], 3);
    assert_eq!(v["failed"], 0);
    assert_eq!(v["files"].as_array().unwrap().len(), 3);
    // A constant weight of 2 doubles the mean of bce (the normalizer is the element count).
    let got = v["mean"].as_f64().unwrap();
    assert!((got - 2.0 * mean).abs() < 1e-6 * mean, "{got} vs {}", 2.0 * mean);
    assert_eq!(v["files"][0]["file"], "a");
    assert_eq!(v["files"][0]["mode"], "binary");
}

// ---------------------------------------------------------------- bench

#[test]
fn bench_json_has_the_contract_keys() {
    for (spec, shape) in [("bce", "2,1,32,32"), ("ce", "2,3,16,16"), ("distance_bce", "1,1,16,16"), ("focal", "1,4,8,8,8")] {
        let v = json(&ok(&["bench", spec, "--shape", shape, "--iters", "3", "--threads", "1", "--json"]));
        assert_eq!(v["spec"], spec);
        let want: Vec<usize> = shape.split(',').map(|x| x.parse().unwrap()).collect();
        assert_eq!(v["shape"], serde_json::json!(want));
        assert_eq!(v["threads"], 1);
        assert!(v["median_ms"].as_f64().unwrap() > 0.0);
        assert!(v["melem_per_s"].as_f64().unwrap() > 0.0);
        assert!(v["loss"].as_f64().unwrap().is_finite());
    }
    let out = ok(&["bench", "bce", "--shape", "2,1,16,16", "--iters", "2"]);
    assert!(out.contains("median") && out.contains("M elements/s"), "{out}");
    for t in ["edt", "unet_weights"] {
        let v = json(&ok(&["bench", t, "--shape", "64,48", "--iters", "2", "--json"]));
        assert_eq!(v["spec"], t);
        assert_eq!(v["shape"], serde_json::json!([64, 48]));
        assert!(v["melem_per_s"].as_f64().unwrap() > 0.0);
    }
    let v = json(&ok(&["bench", "edt", "--shape", "16,20,24", "--iters", "1", "--json"]));
    assert_eq!(v["shape"], serde_json::json!([16, 20, 24]));
}

#[test]
fn bench_data_is_deterministic() {
    let a = json(&ok(&["bench", "focal", "--shape", "2,1,20,20", "--iters", "1", "--json"]));
    let b = json(&ok(&["bench", "focal", "--shape", "2,1,20,20", "--iters", "1", "--json", "--threads", "1"]));
    assert_eq!(a["loss"], b["loss"]);
    let (p, t) = segloss_cli::data::bench_batch(&[2, 1, 20, 20], 0x5e9_1055);
    let (want, _) = library("focal", &Batch::new(&p, t.view()));
    assert_eq!(a["loss"].as_f64().unwrap() as f32, want);
}

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
    let rows: Vec<&str> = out.lines().skip(header + 1).take_while(|l| !l.is_empty() && !l.starts_with("skipped ")).collect();
    assert!(rows.len() >= segloss::catalogue().len(), "{out}");
    assert!(!out.contains("onnx check failed"), "{out}");
    for row in &rows {
        let cols: Vec<&str> = row.split_whitespace().collect();
        let diff: f64 = cols.last().unwrap().parse().unwrap_or_else(|_| panic!("onnx diff of {row}"));
        let value: f64 = cols[2].parse().unwrap();
        let tol = if cols[0].starts_with("lovasz") { ONNX_LOVASZ_REL_TOL * value.abs() } else { ONNX_DIFF_TOL };
        assert!(diff < tol, "onnx diff above {tol:e}: {row}");
        let file = d.join(segloss_cli::demo::onnx_file_name(cols[0], cols[1]));
        let model = segloss_onnx::from_bytes(&std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))).unwrap();
        let inputs: Vec<&str> = model.graph.as_ref().unwrap().input.iter().map(|i| i.name.as_str()).collect();
        let weighted = cols[1] == "bin+edt" || cols[1] == "bin+unet";
        assert_eq!(inputs.len(), 2 + weighted as usize, "{row}: {inputs:?}");
    }
    for name in ["bce_binary.onnx", "wce_beta_2_binary.onnx", "focal_3_class.onnx", "distance_bce_bin_edt.onnx", "bce_bin_unet.onnx"] {
        assert!(d.join(name).is_file(), "{name}");
    }
    assert!(out.contains(&format!("wrote {} ONNX graphs", rows.len())), "{out}");
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

#[test]
fn every_verb_has_help() {
    for verb in ["list", "eval", "bench", "demo", "edt", "weight-map", "export"] {
        let out = ok(&[verb, "--help"]);
        assert!(out.starts_with(&format!("usage: segloss {verb}")), "{verb}: {out}");
    }
    assert!(ok(&["--help"]).contains("weight-map"));
    assert!(ok(&["eval", "-h"]).contains("[1, H, W]"));
}

// ---------------------------------------------------------------- bad input

struct Files {
    dir: std::path::PathBuf,
}

impl Files {
    fn new(name: &str) -> Files {
        let dir = tmpdir(name);
        write_npy(&dir.join("p.npy"), &randn(&[1, 1, 4, 4], 1));
        write_npy(&dir.join("t.npy"), &randn(&[1, 1, 4, 4], 2).mapv(|x| (x > 0.0) as u8 as f32));
        Files { dir }
    }
    fn p(&self, f: &str) -> String {
        s(&self.dir.join(f))
    }
}

#[test]
fn error_missing_file() {
    let f = Files::new("err-missing");
    let nope = f.p("nope.npy");
    fails(&["eval", "bce", "--pred", &nope, "--target", &f.p("t.npy")], &[&nope, "no such file"]);
    fails(&["eval", "bce", "--pred", &f.p("p.npy"), "--target", &nope], &[&nope]);
    fails(&["edt", &nope, "-o", &f.p("o.npy")], &[&nope]);
}

#[test]
fn error_truncated_and_corrupt_npy() {
    let f = Files::new("err-npy");
    let good = std::fs::read(f.dir.join("p.npy")).unwrap();
    std::fs::write(f.dir.join("trunc.npy"), &good[..good.len() - 3]).unwrap();
    fails(&["eval", "bce", "--pred", &f.p("trunc.npy"), "--target", &f.p("t.npy")], &["trunc.npy", "truncated"]);
    std::fs::write(f.dir.join("hdr.npy"), &good[..40]).unwrap();
    fails(&["eval", "bce", "--pred", &f.p("hdr.npy"), "--target", &f.p("t.npy")], &["hdr.npy", "truncated"]);
    let mut bad = good.clone();
    bad[1] = b'X';
    std::fs::write(f.dir.join("magic.npy"), &bad).unwrap();
    fails(&["eval", "bce", "--pred", &f.p("magic.npy"), "--target", &f.p("t.npy")], &["magic.npy", "not a .npy file"]);
    write_raw_npy(&f.dir.join("dict.npy"), "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 4, 4}", &[0; 64]);
    fails(&["eval", "bce", "--pred", &f.p("dict.npy"), "--target", &f.p("t.npy")], &["dict.npy", "malformed .npy header"]);
    let mut extra = good.clone();
    extra.extend_from_slice(&[0; 4]);
    std::fs::write(f.dir.join("extra.npy"), &extra).unwrap();
    fails(&["eval", "bce", "--pred", &f.p("extra.npy"), "--target", &f.p("t.npy")], &["extra.npy", "corrupt"]);
    std::fs::write(f.dir.join("empty.npy"), b"").unwrap();
    fails(&["eval", "bce", "--pred", &f.p("empty.npy"), "--target", &f.p("t.npy")], &["empty.npy", "not a .npy file"]);
}

#[test]
fn error_unsupported_dtype() {
    let f = Files::new("err-dtype");
    write_raw_npy(&f.dir.join("f2.npy"), "{'descr': '<f2', 'fortran_order': False, 'shape': (1, 1, 4, 4), }", &[0; 32]);
    fails(&["eval", "bce", "--pred", &f.p("f2.npy"), "--target", &f.p("t.npy")], &["f2.npy", "unsupported dtype '<f2'"]);
    write_raw_npy(&f.dir.join("c8.npy"), "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", &[0; 16]);
    fails(&["eval", "bce", "--pred", &f.p("p.npy"), "--target", &f.p("c8.npy")], &["c8.npy", "unsupported dtype"]);
    // A uint8 prediction is a supported file but not a prediction.
    write_npy(&f.dir.join("u8.npy"), &ArrayD::<u8>::zeros(IxDyn(&[1, 1, 4, 4])));
    fails(&["eval", "bce", "--pred", &f.p("u8.npy"), "--target", &f.p("t.npy")], &["u8.npy", "float32 or float64", "uint8"]);
    fails(&["eval", "bce", "--pred", &f.p("p.npy"), "--target", &f.p("t.npy"), "--weight", &f.p("u8.npy")], &["u8.npy", "weight"]);
}

#[test]
fn error_png_that_is_not_a_mask() {
    let f = Files::new("err-png");
    std::fs::write(f.dir.join("rgb.png"), png_bytes(4, 4, png::ColorType::Rgb, png::BitDepth::Eight, &[9; 48], None)).unwrap();
    fails(&["eval", "bce", "--pred", &f.p("p.npy"), "--target", &f.p("rgb.png")], &["rgb.png", "RGB colour PNG is not a mask"]);
    std::fs::write(f.dir.join("ga.png"), png_bytes(4, 4, png::ColorType::GrayscaleAlpha, png::BitDepth::Eight, &[9; 32], None)).unwrap();
    fails(&["eval", "bce", "--pred", &f.p("p.npy"), "--target", &f.p("ga.png")], &["ga.png", "alpha"]);
    // A 0/255 mask does not fit a binary loss.
    write_png8(&f.dir.join("m255.png"), &Array2::from_shape_fn((4, 4), |(y, _)| if y < 2 { 255 } else { 0 }));
    fails(
        &["eval", "bce", "--pred", &f.p("p.npy"), "--target", &f.p("m255.png")],
        &["m255.png", "label out of range", "255", "0/255 mask"],
    );
    // Labels beyond the classes of the prediction.
    write_npy(&f.dir.join("p3.npy"), &randn(&[1, 3, 4, 4], 3));
    write_png8(&f.dir.join("l5.png"), &Array2::from_elem((4, 4), 5));
    fails(&["eval", "ce", "--pred", &f.p("p3.npy"), "--target", &f.p("l5.png")], &["l5.png", "label out of range"]);
    std::fs::write(f.dir.join("junk.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    fails(&["eval", "bce", "--pred", &f.p("p.npy"), "--target", &f.p("junk.png")], &["junk.png", "PNG"]);
    fails(&["eval", "bce", "--pred", &f.p("p.npy"), "--target", &f.p("t.txt")], &["t.txt", "unknown file type"]);
}

#[test]
fn error_shapes_disagree() {
    let f = Files::new("err-shape");
    write_npy(&f.dir.join("t5.npy"), &ArrayD::<f32>::zeros(IxDyn(&[1, 1, 5, 4])));
    fails(
        &["eval", "bce", "--pred", &f.p("p.npy"), "--target", &f.p("t5.npy")],
        &["t5.npy", "shape mismatch", "[1, 1, 4, 4]", "[1, 1, 5, 4]"],
    );
    write_npy(&f.dir.join("w.npy"), &ArrayD::<f32>::zeros(IxDyn(&[2, 4, 4])));
    fails(&["eval", "bce", "--pred", &f.p("p.npy"), "--target", &f.p("t.npy"), "--weight", &f.p("w.npy")], &["weight", "[2, 4, 4]"]);
}

#[test]
fn error_bad_spec() {
    let f = Files::new("err-spec");
    let (p, t) = (f.p("p.npy"), f.p("t.npy"));
    fails(&["eval", "focal:gamma=", "--pred", &p, "--target", &t], &["bad loss spec", "focal:gamma="]);
    fails(&["eval", "nosuchloss", "--pred", &p, "--target", &t], &["nosuchloss", "unknown loss"]);
    fails(&["eval", "focal:gamma=-1", "--pred", &p, "--target", &t], &["gamma", "-1"]);
    fails(&["eval", "bce:nokey=1", "--pred", &p, "--target", &t], &["nokey"]);
    fails(&["bench", "bce+", "--shape", "1,1,4,4"], &["bad loss spec"]);
}

#[test]
fn error_bad_flag_values() {
    let f = Files::new("err-flags");
    let (p, t) = (f.p("p.npy"), f.p("t.npy"));
    fails(&["eval", "bce", "--pred", &p, "--target", &t, "--threads", "0"], &["--threads", "`0`"]);
    fails(&["eval", "bce", "--pred", &p, "--target", &t, "--threads", "many"], &["--threads", "many"]);
    fails(&["eval", "bce", "--pred", &p, "--target", &t, "--frobnicate"], &["--frobnicate", "unknown flag"]);
    fails(&["eval", "bce", "--pred", &p], &["--target"]);
    fails(&["eval", "bce", "--pred", &p, "--target", &t, "--grad-out", &f.p("g.png")], &["--grad-out", ".npy"]);
    fails(&["eval", "bce", "--pred", &p, "--target"], &["--target", "needs a value"]);
    fails(&["eval", "bce", "--pred", &p, "--target", &t, "--pred-dir", &s(&f.dir)], &["cannot be combined"]);
    fails(&["eval", "bce", "--pred-dir", &f.p("nodir"), "--target-dir", &s(&f.dir)], &["--pred-dir", "nodir"]);
    fails(&["bench", "bce", "--shape", "1,0,4"], &["--shape", "1,0,4"]);
    fails(&["bench", "bce", "--shape", "4,4"], &["--shape"]);
    fails(&["bench", "bce", "--shape", "1,1,4,4", "--iters", "-3"], &["--iters"]);
    fails(&["bench", "bce"], &["--shape"]);
    fails(&["bench", "ce", "--shape", "1,1,4,4"], &["bench `ce`", "[1, 1, 4, 4]"]);
    fails(&["edt", &t, "-o", &f.p("o.npy"), "--spacing", "1,x"], &["--spacing", "1,x"]);
    fails(&["edt", &t, "-o", &f.p("o.npy")], &["t.npy", "2D"]);
    fails(&["edt", &t], &["--output"]);
    fails(&["edt", &t, "-o", &f.p("o.tif")], &["o.tif"]);
    write_npy(&f.dir.join("m.npy"), &ArrayD::<u8>::zeros(IxDyn(&[4, 4])));
    fails(&["edt", &f.p("m.npy"), "-o", &f.p("o.npy"), "--spacing", "1,1,1"], &["--spacing", "2 axes"]);
    fails(&["weight-map", &f.p("m.npy"), "-o", &f.p("o.npy"), "--class-weights", "1"], &["--class-weights", "`1`"]);
    fails(&["weight-map", &f.p("m.npy"), "-o", &f.p("o.npy"), "--connectivity", "6"], &["--connectivity", "6"]);
    fails(&["weight-map", &f.p("m.npy"), "-o", &f.p("o.npy"), "--sigma", "0"], &["--sigma"]);
    fails(&["weight-map", &f.p("m.npy"), "-o", &f.p("o.npy"), "--w0", "nan"], &["--w0"]);
    fails(&["weight-map", &f.p("m.npy"), "-o", &f.p("o.npy"), "--input", "x"], &["--input"]);
    write_npy(&f.dir.join("neg.npy"), &ArrayD::<i32>::from_elem(IxDyn(&[4, 4]), -2));
    fails(&["weight-map", &f.p("neg.npy"), "-o", &f.p("o.npy")], &["neg.npy", "-2"]);
    write_npy(&f.dir.join("m4.npy"), &ArrayD::<u8>::zeros(IxDyn(&[1, 2, 4, 4])));
    fails(&["edt", &f.p("m4.npy"), "-o", &f.p("o.png")], &["m4.npy", "[1, 2, 4, 4]"]);
    fails(&["demo", "--threads", "-1"], &["--threads"]);
    fails(&["list", "extra"], &["extra"]);
    fails(&["frobnicate"], &["unknown verb `frobnicate`"]);
    fails::<&str>(&[], &["no verb given"]);
}

// ---------------------------------------------------------------- progress bar

/// With stderr on a terminal (a pty from util-linux `script`), folder mode draws a progress
/// bar; without one (every other test) stderr holds only the error lines.
#[cfg(target_os = "linux")]
#[test]
fn folder_mode_shows_a_progress_bar_on_a_terminal() {
    let d = tmpdir("progress");
    let (pd, td) = (d.join("pred"), d.join("target"));
    std::fs::create_dir_all(&pd).unwrap();
    std::fs::create_dir_all(&td).unwrap();
    for name in ["x", "y"] {
        write_npy(&pd.join(format!("{name}.npy")), &randn(&[1, 1, 3, 3], 1));
        write_npy(&td.join(format!("{name}.npy")), &ArrayD::<f32>::zeros(IxDyn(&[1, 1, 3, 3])));
    }
    let cmd = format!("'{}' eval bce --pred-dir '{}' --target-dir '{}'", env!("CARGO_BIN_EXE_segloss"), s(&pd), s(&td));
    let o = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .expect("util-linux `script` is needed to give segloss a terminal");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}");
    assert!(text.contains("\r\x1b[K[###############               ] 1/2 y"), "{text:?}");
    assert!(text.contains("mean\t"), "{text:?}");
}

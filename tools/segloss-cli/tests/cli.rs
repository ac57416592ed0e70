//! End-to-end tests of the `segloss` binary (list, eval, bench): small files written into a temp
//! dir, JSON parsed back, gradients compared with the library.

mod common;

use common::*;
use ndarray::{Array2, ArrayD, IxDyn, ShapeBuilder};
use segloss::{Batch, LossSpec, Target};

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
    // summed in float64, printed in float32 like the losses
    assert_eq!(ml.split('\t').nth(1).unwrap().parse::<f32>().unwrap(), mean as f32);
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
        assert_eq!(v["iters"], 3);
        let (min, med, p90) = (v["min_ms"].as_f64().unwrap(), v["median_ms"].as_f64().unwrap(), v["p90_ms"].as_f64().unwrap());
        assert!(min <= med && med <= p90, "{v}");
        assert!((v["spread"].as_f64().unwrap() - p90 / min).abs() <= 1e-9 * p90 / min, "{v}");
    }
    // without --iters: time-based, at least 50 timed runs (a tiny workload reaches 1 s after many more)
    let v = json(&ok(&["bench", "bce", "--shape", "1,1,8,8", "--threads", "1", "--json"]));
    assert!(v["iters"].as_u64().unwrap() >= 50, "{v}");
    let out = ok(&["bench", "bce", "--shape", "2,1,16,16", "--iters", "2"]);
    assert!(out.contains("2 runs: min ") && out.contains(" p90 ") && out.contains("M elements/s"), "{out}");
    for t in ["edt", "unet_weights"] {
        let v = json(&ok(&["bench", t, "--shape", "64,48", "--iters", "2", "--json"]));
        assert_eq!(v["spec"], t);
        assert_eq!(v["shape"], serde_json::json!([64, 48]));
        assert!(v["melem_per_s"].as_f64().unwrap() > 0.0);
    }
    let v = json(&ok(&["bench", "edt", "--shape", "16,20,24", "--iters", "1", "--json"]));
    assert_eq!(v["shape"], serde_json::json!([16, 20, 24]));
}

/// `bench` reports the SIMD level its kernels ran at: the process's level, the one
/// `SEGLOSS_SIMD` forces, and the detected one (with a warning) when `SEGLOSS_SIMD` is not a level.
#[test]
fn bench_reports_the_simd_level() {
    use segloss::core::simd::{Level, LEVEL_VAR};
    let bench = |env: Option<&str>, spec: &str, shape: &str| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_segloss"));
        c.args(["bench", spec, "--shape", shape, "--iters", "1", "--json"]).env_remove(LEVEL_VAR);
        if let Some(v) = env {
            c.env(LEVEL_VAR, v);
        }
        let o = c.output().expect("run segloss");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        (json(&String::from_utf8(o.stdout).unwrap())["simd_level"].clone(), String::from_utf8(o.stderr).unwrap())
    };
    let detected = Level::detected().name();
    for (spec, shape) in [("bce", "1,1,8,8"), ("edt", "8,8")] {
        assert_eq!(bench(None, spec, shape), (serde_json::json!(detected), String::new()), "{spec}");
        assert_eq!(bench(Some("baseline"), spec, shape).0, "baseline", "{spec}");
        let (level, err) = bench(Some("avx3"), spec, shape);
        assert_eq!(level, detected, "{spec}");
        assert!(err.contains("SEGLOSS_SIMD=\"avx3\"") && err.contains(&format!("detected level {detected}")), "{err}");
    }
    let out = ok(&["bench", "bce", "--shape", "1,1,8,8", "--iters", "1"]);
    assert!(out.contains(&format!("SIMD level {}", Level::current().name())), "{out}");
}

/// `--roofline`: the stream for every loss, the radix sort for the sorting losses only, each with
/// its fraction of the loss's median; for the distance maps, the mask stream.
#[test]
fn bench_roofline_reports_the_limits() {
    for (spec, shape, sorts) in
        [("bce", "2,1,16,16", false), ("ce", "2,3,8,8", false), ("lovasz_softmax", "2,3,8,8", true), ("lovasz_hinge", "2,1,8,8", true)]
    {
        let v = json(&ok(&["bench", spec, "--shape", shape, "--iters", "3", "--roofline", "--json"]));
        let (loss, stream) = (v["median_ms"].as_f64().unwrap(), v["stream_ms"].as_f64().unwrap());
        assert!(stream > 0.0 && (v["stream_fraction"].as_f64().unwrap() - stream / loss).abs() <= 1e-9 * stream / loss, "{v}");
        assert_eq!(v.get("sort_ms").is_some(), sorts, "{spec}: {v}");
        if sorts {
            let sort = v["sort_ms"].as_f64().unwrap();
            assert!((v["sort_fraction"].as_f64().unwrap() - sort / loss).abs() <= 1e-9 * sort / loss, "{v}");
        }
    }
    let out = ok(&["bench", "lovasz_hinge", "--shape", "2,1,8,8", "--iters", "2", "--roofline"]);
    assert!(out.contains("stream (read pred and target, write a gradient): 2 runs") && out.contains("radix sort of 128 keys"), "{out}");
    for (target, shape) in [("edt", "8,8"), ("edt", "4,5,6"), ("unet_weights", "16,16")] {
        let v = json(&ok(&["bench", target, "--shape", shape, "--iters", "3", "--roofline", "--json"]));
        let (map, stream) = (v["median_ms"].as_f64().unwrap(), v["stream_ms"].as_f64().unwrap());
        assert!(stream > 0.0 && (v["stream_fraction"].as_f64().unwrap() - stream / map).abs() <= 1e-9 * stream / map, "{v}");
        assert!(v.get("sort_ms").is_none(), "{target}: {v}");
    }
    let out = ok(&["bench", "edt", "--shape", "8,8", "--iters", "2", "--roofline"]);
    assert!(out.contains("stream (read the mask, write a map): 2 runs"), "{out}");
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

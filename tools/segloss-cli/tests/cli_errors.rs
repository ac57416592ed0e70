//! End-to-end tests of the `segloss` binary on bad input (one `error:` line, exit 2) and its
//! progress output.

mod common;

use common::*;
use ndarray::{Array2, ArrayD, IxDyn};

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

/// The command-line errors clap finds (an unknown flag, a flag without its value, a value that
/// does not parse, a flag given twice, a missing flag or argument, flags of the two modes of
/// eval mixed) are one `error:` line naming the flag, exit 2, for every verb.
#[test]
fn clap_errors_are_one_line_naming_the_flag() {
    let f = Files::new("err-clap");
    let (p, t, o) = (f.p("p.npy"), f.p("t.npy"), f.p("o.npy"));
    let x = f.p("x.onnx");
    let base: &[(&str, Vec<&str>)] = &[
        ("list", vec!["list"]),
        ("eval", vec!["eval", "bce", "--pred", &p, "--target", &t]),
        ("bench", vec!["bench", "bce", "--shape", "1,1,2,2"]),
        ("demo", vec!["demo"]),
        ("edt", vec!["edt", &t, "-o", &o]),
        ("weight-map", vec!["weight-map", &t, "-o", &o]),
        ("export", vec!["export", "bce", "-o", &x]),
        ("completions", vec!["completions", "bash"]),
    ];
    for (verb, args) in base {
        let with = |extra: &[&str]| -> Vec<String> { args.iter().chain(extra).map(|a| a.to_string()).collect() };
        let line = fails(&with(&["--frobnicate"]), &["unknown flag --frobnicate", &format!("`segloss {verb} --help`")]);
        assert_eq!(line, format!("error: unknown flag --frobnicate for `segloss {verb}` (see `segloss {verb} --help`)"));
        fails(&with(&["--frobnicate=3"]), &["unknown flag --frobnicate "]);
        fails(&with(&["stray"]), &["unexpected argument `stray`", verb]);
    }
    // A flag without its value, at the end or before another flag.
    for (args, flag) in [
        (vec!["eval", "bce", "--pred", &p, "--target"], "--target"),
        (vec!["eval", "bce", "--pred", &p, "--target", "--json"], "--target"),
        (vec!["bench", "bce", "--shape"], "--shape"),
        (vec!["bench", "bce", "--shape", "1,1,2,2", "--iters"], "--iters"),
        (vec!["demo", "--out"], "--out"),
        (vec!["edt", &t, "-o"], "--output"),
        (vec!["weight-map", &t, "-o", &o, "--sigma"], "--sigma"),
        (vec!["export", "bce", "-o", &x, "--rank"], "--rank"),
    ] {
        let line = fails(&args, &[]);
        assert_eq!(line, format!("error: flag {flag} needs a value"), "{args:?}");
    }
    // Values that do not parse: the flag first, then the value as typed.
    for (args, flag, value) in [
        (vec!["eval", "bce", "--pred", &p, "--target", &t, "--threads", "x"], "--threads", "x"),
        (vec!["eval", "bce", "--pred", &p, "--target", &t, "--threads", "99999"], "--threads", "99999"),
        (vec!["bench", "bce", "--shape", "1,1,2,2", "--iters", "1.5"], "--iters", "1.5"),
        (vec!["bench", "bce", "--shape", "1,-1,2"], "--shape", "1,-1,2"),
        (vec!["demo", "--threads", "0"], "--threads", "0"),
        (vec!["edt", &t, "-o", &o, "--spacing", "-1"], "--spacing", "-1"),
        (vec!["weight-map", &t, "-o", &o, "--w0", "-1"], "--w0", "-1"),
        (vec!["weight-map", &t, "-o", &o, "--connectivity", "5"], "--connectivity", "5"),
        (vec!["weight-map", &t, "-o", &o, "--input", "labels"], "--input", "labels"),
        (vec!["export", "bce", "-o", &x, "--classes", "-3"], "--classes", "-3"),
        (vec!["export", "bce", "-o", &x, "--opset=abc"], "--opset", "abc"),
        (vec!["completions", "tcsh"], "SHELL", "tcsh"),
    ] {
        let line = fails(&args, &[&format!("`{value}`")]);
        assert!(line.starts_with(&format!("error: {flag}: ")), "{args:?}: {line}");
    }
    let line = fails(&["weight-map", &t, "-o", &o, "--input", "labels"], &[]);
    assert_eq!(line, "error: --input: expected auto, mask or instances, got `labels`");
    // Twice; missing; mixed modes.
    fails(&["eval", "bce", "--pred", &p, "--pred", &p, "--target", &t], &["flag --pred is given twice"]);
    fails(&["list", "--json", "--json"], &["flag --json is given twice"]);
    fails(&["eval", "bce"], &["`segloss eval` needs --pred and --target"]);
    fails(&["eval", "--pred", &p, "--target", &t], &["`segloss eval` needs SPEC"]);
    fails(&["eval", "bce", "--pred-dir", &s(&f.dir)], &["`segloss eval` needs --target-dir"]);
    fails(&["eval", "bce", "--csv", &f.p("o.csv")], &["--pred-dir"]);
    fails(&["eval", "bce", "--pred", &p, "--target", &t, "--csv", &f.p("o.csv")], &["--csv", "--pred", "cannot be combined"]);
    fails(&["completions"], &["`segloss completions` needs SHELL"]);
    fails(&["evl"], &["unknown verb `evl`", "did you mean `eval`?"]);
    fails(&["--frobnicate"], &["unknown flag --frobnicate", "segloss --help"]);
    // A value that starts with a dash (other than a number) takes `=`.
    fails(&["export", "bce", "-o", &x, "--prefix", "-a"], &["unknown flag -a"]);
    fails(&["export", "bce", "-o", &x, "--prefix=-a"], &["--prefix: ", "`-a`"]);
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

//! End-to-end tests of the defects of issue 12 found with hostile inputs: a closed or full
//! stdout, huge `--iters`, device files and files longer than they declare, PNG sizes checked
//! before decoding, `--weight` errors, and the cosmetics of messages and printed numbers.

mod common;

use common::*;
use ndarray::{Array2, ArrayD, IxDyn};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A generous limit for runs that must not read a whole device or a sparse file into memory.
const MEM_KB: u64 = 1 << 20;
const TIMEOUT: Duration = Duration::from_secs(60);

struct Files {
    dir: PathBuf,
}

impl Files {
    /// `p.npy` [1, 1, 4, 4] logits and `t.npy` their 0/1 float targets.
    fn new(name: &str) -> Files {
        let dir = tmpdir(name);
        write_npy(&dir.join("p.npy"), &randn(&[1, 1, 4, 4], 1));
        write_npy(&dir.join("t.npy"), &randn(&[1, 1, 4, 4], 2).mapv(|x| (x > 0.0) as u8 as f32));
        Files { dir }
    }
    fn p(&self, f: &str) -> String {
        s(&self.dir.join(f))
    }
    fn path(&self, f: &str) -> PathBuf {
        self.dir.join(f)
    }
}

/// A pipe whose reading end is already closed: the first write gets EPIPE. (The reading end
/// was the stdin of `true`, which has exited; this process never held it.)
fn closed_pipe() -> Stdio {
    let mut reader = std::process::Command::new("true").stdin(Stdio::piped()).spawn().expect("true");
    let w = reader.stdin.take().unwrap();
    reader.wait().unwrap();
    Stdio::from(w)
}

fn dev_full() -> Stdio {
    Stdio::from(OpenOptions::new().write(true).open("/dev/full").unwrap())
}

/// The argument lists of every verb that prints on stdout, on small inputs in `f`.
fn printing_runs(f: &Files) -> Vec<Vec<String>> {
    let (p, t) = (f.p("p.npy"), f.p("t.npy"));
    std::fs::create_dir_all(f.path("pd")).unwrap();
    std::fs::create_dir_all(f.path("td")).unwrap();
    std::fs::copy(f.path("p.npy"), f.path("pd/a.npy")).unwrap();
    std::fs::copy(f.path("t.npy"), f.path("td/a.npy")).unwrap();
    let v = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        v(&["--help"]),
        v(&["-h"]),
        v(&["help"]),
        v(&["help", "export"]),
        v(&["--version"]),
        v(&["completions", "bash"]),
        v(&["completions", "zsh"]),
        v(&["completions", "fish"]),
        v(&["list"]),
        v(&["list", "--json"]),
        v(&["eval", "--help"]),
        v(&["weight-map", "-h"]),
        v(&["eval", "bce", "--pred", &p, "--target", &t]),
        v(&["eval", "bce", "--pred", &p, "--target", &t, "--json"]),
        v(&["eval", "bce", "--pred-dir", &f.p("pd"), "--target-dir", &f.p("td")]),
        v(&["bench", "bce", "--shape", "1,1,4,4", "--iters", "1"]),
        v(&["export", "bce", "-o", &f.p("x.onnx")]),
    ]
}

// ---------------------------------------------------------------- 2: closed or full stdout

/// A closed pipe on stdout (`segloss list | head -c0`) ends the program quietly with exit 0.
#[test]
fn closed_stdout_pipe_ends_quietly_with_exit_0() {
    let f = Files::new("epipe");
    for args in printing_runs(&f) {
        let o = run_with(&args, Some(closed_pipe()), None, TIMEOUT);
        assert_eq!((o.code, o.stderr.as_str()), (0, ""), "segloss {args:?}");
    }
}

/// Any other write failure on stdout (`> /dev/full`) is one `error:` line naming stdout, exit 2.
#[test]
fn full_stdout_is_one_error_line_and_exit_2() {
    let f = Files::new("devfull");
    for args in printing_runs(&f) {
        let o = run_with(&args, Some(dev_full()), None, TIMEOUT);
        let line = check_fails(&o, &args, &["stdout", "No space left on device"]);
        assert!(!line.contains("internal error"), "{line}");
    }
}

// ---------------------------------------------------------------- 3: bench --iters

#[test]
fn bench_iters_is_bounded() {
    for iters in ["99999999999", "18446744073709551615", "99999999999999999999999"] {
        fails(&["bench", "bce", "--shape", "1,1,2,2", "--iters", iters], &["--iters", &format!("`{iters}`"), "1000000"]);
        fails(&["bench", "edt", "--shape", "8,8", "--iters", iters], &["--iters", iters, "1000000"]);
    }
    assert!(ok(&["bench", "--help"]).contains("at most 1000000"));
    let v = json(&ok(&["bench", "bce", "--shape", "1,1,2,2", "--iters", "1000", "--json"]));
    assert_eq!(v["iters"], 1000);
}

// ---------------------------------------------------------------- 4: unbounded reads

fn guarded(args: &[String]) -> Out {
    run_with(args, None, Some(MEM_KB), TIMEOUT)
}

/// Devices (through a symlink), FIFOs and directories are refused before anything is read; the
/// error names the path.
#[test]
fn inputs_must_be_regular_files() {
    let f = Files::new("devices");
    for name in ["z.npy", "z.png", "z.onnx"] {
        std::os::unix::fs::symlink("/dev/zero", f.path(name)).unwrap();
    }
    let st = std::process::Command::new("mkfifo").arg(f.path("fifo.npy")).status().expect("mkfifo");
    assert!(st.success());
    std::fs::create_dir(f.path("dir.npy")).unwrap();
    let (p, t) = (f.p("p.npy"), f.p("t.npy"));
    let o = f.p("o.npy");
    let runs: Vec<(Vec<String>, String)> = vec![
        (["eval", "bce", "--pred", &f.p("z.npy"), "--target", &t].map(String::from).to_vec(), f.p("z.npy")),
        (["eval", "bce", "--pred", &p, "--target", &f.p("z.npy")].map(String::from).to_vec(), f.p("z.npy")),
        (["eval", "bce", "--pred", &p, "--target", &f.p("z.png")].map(String::from).to_vec(), f.p("z.png")),
        (["eval", "bce", "--pred", &p, "--target", &t, "--weight", &f.p("z.npy")].map(String::from).to_vec(), f.p("z.npy")),
        (["eval", "bce", "--pred", &p, "--target", &f.p("fifo.npy")].map(String::from).to_vec(), f.p("fifo.npy")),
        (["eval", "bce", "--pred", &f.p("dir.npy"), "--target", &t].map(String::from).to_vec(), f.p("dir.npy")),
        (["edt", &f.p("z.png"), "-o", &o].map(String::from).to_vec(), f.p("z.png")),
        (["weight-map", &f.p("fifo.npy"), "-o", &o].map(String::from).to_vec(), f.p("fifo.npy")),
        (["export", "bce", "--attach", &f.p("z.onnx"), "--to", "y", "-o", &f.p("x.onnx")].map(String::from).to_vec(), f.p("z.onnx")),
    ];
    for (args, path) in runs {
        let o = guarded(&args);
        check_fails(&o, &args, &[&path, "not a regular file"]);
    }
}

/// A file of `len` bytes (sparse: nothing is written past `head`) starting with `head`.
fn sparse(path: &Path, head: &[u8], len: u64) {
    std::fs::write(path, head).unwrap();
    OpenOptions::new().write(true).open(path).unwrap().set_len(len).unwrap();
}

/// A `.npy` file is read up to the size its header declares: trailing bytes are an error found
/// from the file's size, without reading them; a header length beyond the bound is refused.
#[test]
fn npy_is_read_no_further_than_its_header_declares() {
    let f = Files::new("npy-bounds");
    let good = std::fs::read(f.path("p.npy")).unwrap();
    sparse(&f.path("long.npy"), &good, 8 << 30);
    let args: Vec<String> = ["eval", "bce", "--pred", &f.p("long.npy"), "--target", &f.p("t.npy")].map(String::from).to_vec();
    let t0 = Instant::now();
    let present = ((8u64 << 30) - (good.len() as u64 - 64)).to_string();
    check_fails(&guarded(&args), &args, &[&f.p("long.npy"), "corrupt .npy file", "needs 64 bytes of data", &present]);
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    // Version 2.0: a 32-bit header length of ~4 GiB, in a file that long.
    let mut head = b"\x93NUMPY\x02\x00".to_vec();
    head.extend_from_slice(&0xFFFF_FF00u32.to_le_bytes());
    head.extend_from_slice(b"{'descr': '<f4', ");
    sparse(&f.path("hdr.npy"), &head, 5 << 30);
    let args: Vec<String> = ["eval", "bce", "--pred", &f.p("hdr.npy"), "--target", &f.p("t.npy")].map(String::from).to_vec();
    check_fails(&guarded(&args), &args, &[&f.p("hdr.npy"), "header of 4294967040 bytes", "1048576"]);
    let _ = std::fs::remove_dir_all(&f.dir); // the sparse files
}

/// A PNG is decoded from the file as a stream: bytes after the image are not read (and are
/// ignored); an `.onnx` model larger than protobuf's 2 GiB is refused without reading it.
#[test]
fn png_and_onnx_reads_are_bounded() {
    let f = Files::new("png-onnx-bounds");
    let m = Array2::from_shape_fn((4, 4), |(y, x)| ((y + x) % 2) as u8);
    write_png8(&f.path("m.png"), &m);
    let good = std::fs::read(f.path("m.png")).unwrap();
    sparse(&f.path("long.png"), &good, 8 << 30);
    let want = ok(&["eval", "bce", "--pred", &f.p("p.npy"), "--target", &f.p("m.png")]);
    let args: Vec<String> = ["eval", "bce", "--pred", &f.p("p.npy"), "--target", &f.p("long.png")].map(String::from).to_vec();
    let o = guarded(&args);
    assert_eq!((o.code, o.stdout.as_str()), (0, want.as_str()), "{}", o.stderr);
    sparse(&f.path("big.onnx"), b"\x08\x08", 3 << 30);
    let args: Vec<String> = ["export", "bce", "--attach", &f.p("big.onnx"), "--to", "y", "-o", &f.p("x.onnx")].map(String::from).to_vec();
    check_fails(&guarded(&args), &args, &[&f.p("big.onnx"), "3221225472 bytes", "2147483648"]);
    let _ = std::fs::remove_dir_all(&f.dir); // the sparse files
}

// ---------------------------------------------------------------- 5: PNG size before decoding

/// A PNG whose IHDR declares `w` x `h` 8-bit gray pixels, with the 4x4 image data of a real one
/// (far too little for that size).
fn png_declaring(w: u32, h: u32, depth: png::BitDepth) -> Vec<u8> {
    let data = vec![0u8; if depth == png::BitDepth::Sixteen { 32 } else { 16 }];
    let mut b = png_bytes(4, 4, png::ColorType::Grayscale, depth, &data, None);
    b[16..20].copy_from_slice(&w.to_be_bytes());
    b[20..24].copy_from_slice(&h.to_be_bytes());
    fix_crcs(&mut b);
    b
}

#[test]
fn png_size_is_checked_against_the_prediction_before_decoding() {
    let f = Files::new("png-size");
    write_npy(&f.path("p16.npy"), &randn(&[1, 1, 16, 16], 3));
    std::fs::write(f.path("huge.png"), png_declaring(30000, 30000, png::BitDepth::Eight)).unwrap();
    std::fs::write(f.path("huge16.png"), png_declaring(30000, 30000, png::BitDepth::Sixteen)).unwrap();
    for name in ["huge.png", "huge16.png"] {
        let args: Vec<String> = ["eval", "bce", "--pred", &f.p("p16.npy"), "--target", &f.p(name)].map(String::from).to_vec();
        let t0 = Instant::now();
        // 512 MiB of address space: decoding 30000 x 30000 pixels (900 MB) cannot happen.
        let o = run_with(&args, None, Some(512 << 10), TIMEOUT);
        check_fails(&o, &args, &[&f.p(name), "30000x30000", "[1, 30000, 30000]", "[1, 1, 16, 16]", "16x16"]);
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    }
    // A PNG can be the target of one image only: N = 2 is refused before decoding too.
    write_npy(&f.path("p2.npy"), &randn(&[2, 1, 16, 16], 3));
    fails(&["eval", "bce", "--pred", &f.p("p2.npy"), "--target", &f.p("huge.png")], &["huge.png", "[2, 1, 16, 16]", "30000x30000"]);
    // The size that fits still decodes.
    write_png8(&f.path("ok.png"), &Array2::from_elem((16, 16), 1u8));
    ok(&["eval", "bce", "--pred", &f.p("p16.npy"), "--target", &f.p("ok.png")]);
}

// ---------------------------------------------------------------- 7: --weight errors

#[test]
fn weight_errors_name_the_weight_file() {
    let f = Files::new("weight-errors");
    let (p, t) = (f.p("p.npy"), f.p("t.npy"));
    write_npy(&f.path("w.npy"), &ArrayD::<f32>::zeros(IxDyn(&[2, 4, 4])));
    let line = fails(&["eval", "bce", "--pred", &p, "--target", &t, "--weight", &f.p("w.npy")], &["[2, 4, 4]", "[1, 4, 4]"]);
    assert!(line.starts_with(&format!("error: {}: ", f.p("w.npy"))), "{line}");
    assert!(!line.contains(&p), "{line}");
    // A loss that takes no weight.
    write_npy(&f.path("w1.npy"), &ArrayD::<f32>::ones(IxDyn(&[1, 1, 4, 4])));
    let line = fails(&["eval", "dice", "--pred", &p, "--target", &t, "--weight", &f.p("w1.npy")], &["no weight"]);
    assert!(line.starts_with(&format!("error: {}: ", f.p("w1.npy"))), "{line}");
}

// ---------------------------------------------------------------- 9: cosmetics

#[test]
fn long_bad_specs_are_clipped_in_messages() {
    let f = Files::new("long-spec");
    let (p, t) = (f.p("p.npy"), f.p("t.npy"));
    let long = "a".repeat(130_000);
    let specs = [format!("bce+{long}="), long.clone(), format!("bce:gamma={}", "1".repeat(130_000)), format!("{long}+bce")];
    for spec in &specs {
        let o = f.p("x.onnx");
        for args in
            [vec!["eval", spec, "--pred", &p, "--target", &t], vec!["bench", spec, "--shape", "1,1,2,2"], vec!["export", spec, "-o", &o]]
        {
            let line = fails(&args, &["bad loss spec", "…"]);
            assert!(line.len() < 1000, "{} bytes: {}…", line.len(), &line[..300]);
        }
    }
}

#[test]
fn out_of_range_numbers_are_quoted_as_typed() {
    let f = Files::new("w0");
    write_npy(&f.path("m.npy"), &ArrayD::<u8>::zeros(IxDyn(&[4, 4])));
    let o = f.p("o.npy");
    for (flag, v) in [("--w0", "1e39"), ("--sigma", "1e39"), ("--sigma", "1e-50")] {
        let line = fails(&["weight-map", &f.p("m.npy"), "-o", &o, flag, v], &[flag, &format!("`{v}`")]);
        assert!(!line.contains("inf") && !line.contains("`0`"), "{line}");
    }
}

#[test]
fn png_crc_error_is_a_sentence() {
    let f = Files::new("png-crc");
    write_png8(&f.path("m.png"), &Array2::from_elem((4, 4), 1u8));
    let mut b = std::fs::read(f.path("m.png")).unwrap();
    b[29] ^= 0xff; // the IHDR chunk's CRC
    std::fs::write(f.path("crc.png"), &b).unwrap();
    let line = fails(&["eval", "bce", "--pred", &f.p("p.npy"), "--target", &f.p("crc.png")], &["crc.png", "IHDR", "CRC"]);
    assert!(!line.contains('{') && !line.contains("critical"), "{line}");
}

/// Losses print in shortest round-trip form, with an exponent when large or small: never as a
/// 39-digit integer. JSON gives the same digits (as `1.49e+38`, serde_json's exponent).
#[test]
fn loss_values_print_in_shortest_form() {
    let f = Files::new("print-floats");
    write_npy(&f.path("big.npy"), &ArrayD::from_elem(IxDyn(&[1, 1, 1, 1]), -1.49e38f32));
    write_npy(&f.path("one.npy"), &ArrayD::from_elem(IxDyn(&[1, 1, 1, 1]), 1.0f32));
    let (big, one) = (f.p("big.npy"), f.p("one.npy"));
    assert_eq!(ok(&["eval", "bce", "--pred", &big, "--target", &one]), "1.49e38\n");
    let line = ok(&["eval", "bce", "--pred", &big, "--target", &one, "--json"]);
    assert!(line.contains("\"loss\":1.49e+38,"), "{line}");
    // bce of logit 0 is ln 2: the f32 digits, not those of its f64 widening.
    write_npy(&f.path("zero.npy"), &ArrayD::from_elem(IxDyn(&[1, 1, 1, 1]), 0.0f32));
    let (zero, ln2) = (f.p("zero.npy"), std::f32::consts::LN_2);
    assert_eq!(ok(&["eval", "bce", "--pred", &zero, "--target", &one]), format!("{ln2}\n"));
    let line = ok(&["eval", "bce", "--pred", &zero, "--target", &one, "--json"]);
    assert!(line.contains(&format!("\"loss\":{ln2},")), "{line}");
}

/// Folder mode prints the per-file losses and their mean with the same precision (the loss's
/// float32), in text, CSV and JSON.
#[test]
fn folder_mode_prints_losses_and_mean_alike() {
    let f = Files::new("folder-floats");
    let (pd, td) = (f.path("pd"), f.path("td"));
    std::fs::create_dir_all(&pd).unwrap();
    std::fs::create_dir_all(&td).unwrap();
    for (name, seed) in [("a", 5), ("b", 6), ("c", 7)] {
        write_npy(&pd.join(format!("{name}.npy")), &randn(&[1, 1, 4, 4], seed));
        std::fs::copy(f.path("t.npy"), td.join(format!("{name}.npy"))).unwrap();
    }
    write_npy(&pd.join("d.npy"), &ArrayD::from_elem(IxDyn(&[1, 1, 1, 1]), -1.49e38f32));
    write_npy(&td.join("d.npy"), &ArrayD::from_elem(IxDyn(&[1, 1, 1, 1]), 1.0f32));
    let csv = f.path("o.csv");
    let out = ok(&["eval", "bce", "--pred-dir", &s(&pd), "--target-dir", &s(&td), "--csv", &s(&csv)]);
    let mut values = Vec::new();
    for line in out.lines() {
        let text = line.split('\t').nth(1).unwrap();
        let x: f32 = text.parse().unwrap();
        let shortest = if x.abs() >= 1e16 { format!("{x:e}") } else { format!("{x}") };
        assert_eq!(text, shortest, "{line}");
        values.push(x);
    }
    assert_eq!(values.len(), 5, "{out}");
    assert!(out.contains("d\t1.49e38\n"), "{out}");
    let mean = values[..4].iter().map(|&x| x as f64).sum::<f64>() / 4.0;
    assert_eq!(values[4], mean as f32);
    let mean_text = out.lines().last().unwrap().split('\t').nth(1).unwrap();
    let rows = std::fs::read_to_string(&csv).unwrap();
    assert!(rows.contains("\nd,1.49e38,1x1x1x1,binary,"), "{rows}");
    let line = ok(&["eval", "bce", "--pred-dir", &s(&pd), "--target-dir", &s(&td), "--json"]);
    // serde_json writes the exponent as `e+37`
    assert!(line.contains(&format!("\"mean\":{},", mean_text.replace("e", "e+"))), "{line}");
    assert!(line.contains("\"loss\":1.49e+38,"), "{line}");
}

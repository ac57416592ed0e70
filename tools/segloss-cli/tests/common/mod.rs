//! Helpers shared by the end-to-end tests: a unique temp dir, running the built binary, writing
//! `.npy` and `.png` inputs.
#![allow(dead_code)]

use ndarray::{ArrayD, IxDyn};
use segloss::{Batch, Loss, LossSpec};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh directory under the system temp dir, unique per process and call.
pub fn tmpdir(name: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let d = std::env::temp_dir().join(format!("segloss-cli-test-{}-{n}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The result of one run of the binary.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the built `segloss` binary with `args`.
pub fn run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Out {
    let o = Command::new(env!("CARGO_BIN_EXE_segloss")).args(args).output().expect("run segloss");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8(o.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(o.stderr).expect("utf-8 stderr"),
    }
}

/// Runs the built binary with `args`, its stdout sent to `stdout` (captured when `None`), under
/// a virtual-memory limit of `mem_kb` KiB (`ulimit -v`, through `sh`) when given, killed after
/// `timeout`. A run killed by a signal has code -1 (its stderr ends with the signal), a run
/// killed at the timeout -2.
pub fn run_with<S: AsRef<std::ffi::OsStr>>(args: &[S], stdout: Option<Stdio>, mem_kb: Option<u64>, timeout: Duration) -> Out {
    let bin = env!("CARGO_BIN_EXE_segloss");
    let mut cmd = match mem_kb {
        Some(kb) => {
            let mut c = Command::new("sh");
            c.args(["-c", "ulimit -v \"$1\" || exit 99; shift; exec \"$@\"", "sh", &kb.to_string(), bin]);
            c
        }
        None => Command::new(bin),
    };
    cmd.args(args).stdin(Stdio::null()).stderr(Stdio::piped()).stdout(stdout.unwrap_or_else(Stdio::piped));
    let mut child = cmd.spawn().expect("run segloss");
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut v);
            }
            String::from_utf8_lossy(&v).into_owned()
        })
    };
    let out_t = drain(child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
    let err_t = drain(child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break Some(st);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let (stdout, mut stderr) = (out_t.join().unwrap(), err_t.join().unwrap());
    let code = match status {
        None => {
            stderr += &format!("[killed after {timeout:?}]");
            -2
        }
        Some(st) => st.code().unwrap_or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            stderr += &format!("[killed by signal {:?}]", st.signal());
            -1
        }),
    };
    Out { code, stdout, stderr }
}

/// Runs and asserts success; returns stdout.
pub fn ok<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> String {
    let o = run(args);
    assert_eq!(o.code, 0, "segloss {args:?} failed: {}", o.stderr);
    o.stdout
}

/// Runs and asserts a bad-input failure: exit code 2 and exactly one stderr line `error: ...`
/// that contains every one of `needles`. Returns that line.
pub fn fails<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S], needles: &[&str]) -> String {
    check_fails(&run(args), args, needles)
}

/// [`fails`] on the result of a run made otherwise ([`run_with`]).
pub fn check_fails<S: std::fmt::Debug>(o: &Out, args: &[S], needles: &[&str]) -> String {
    assert_eq!(o.code, 2, "segloss {args:?}: expected exit code 2, got {} (stderr: {})", o.code, o.stderr);
    let lines: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "segloss {args:?}: expected one stderr line, got {:?}", o.stderr);
    let line = lines[0];
    assert!(line.starts_with("error: "), "{line}");
    assert!(!line.contains("panicked") && !line.contains("RUST_BACKTRACE"), "{line}");
    for n in needles {
        assert!(line.contains(n), "segloss {args:?}: `{line}` does not contain `{n}`");
    }
    assert!(o.stdout.is_empty(), "no output on stdout on error: {}", o.stdout);
    line.to_string()
}

/// A path as a `String` argument.
pub fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Writes an array as `.npy` with the CLI's writer.
pub fn write_npy<T: segloss_cli::npy::NpyElem>(path: &Path, a: &ArrayD<T>) {
    std::fs::write(path, segloss_cli::npy::to_bytes(&a.view())).unwrap();
}

/// Writes a `.npy` file by hand: any header dict and raw data bytes (version 1.0).
pub fn write_raw_npy(path: &Path, dict: &str, data: &[u8]) {
    std::fs::write(path, raw_npy(1, dict, data)).unwrap();
}

/// The bytes of a `.npy` file of version `major` with this header dict and data.
pub fn raw_npy(major: u8, dict: &str, data: &[u8]) -> Vec<u8> {
    let mut h = dict.to_string();
    let pre = if major == 1 { 10 } else { 12 };
    let pad = (64 - (pre + h.len() + 1) % 64) % 64;
    h.push_str(&" ".repeat(pad));
    h.push('\n');
    let mut b = b"\x93NUMPY".to_vec();
    b.extend_from_slice(&[major, 0]);
    if major == 1 {
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
    } else {
        b.extend_from_slice(&(h.len() as u32).to_le_bytes());
    }
    b.extend_from_slice(h.as_bytes());
    b.extend_from_slice(data);
    b
}

/// Encodes a PNG.
pub fn png_bytes(w: u32, h: u32, color: png::ColorType, depth: png::BitDepth, data: &[u8], palette: Option<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(color);
        enc.set_depth(depth);
        if let Some(p) = palette {
            enc.set_palette(p);
        }
        let mut wr = enc.write_header().unwrap();
        wr.write_image_data(data).unwrap();
        wr.finish().unwrap();
    }
    out
}

/// Writes an 8-bit grayscale PNG of `[H, W]` values.
pub fn write_png8(path: &Path, a: &ndarray::Array2<u8>) {
    let (h, w) = a.dim();
    let data: Vec<u8> = a.iter().copied().collect();
    std::fs::write(path, png_bytes(w as u32, h as u32, png::ColorType::Grayscale, png::BitDepth::Eight, &data, None)).unwrap();
}

/// Writes a 16-bit grayscale PNG of `[H, W]` values.
pub fn write_png16(path: &Path, a: &ndarray::Array2<u16>) {
    let (h, w) = a.dim();
    let data: Vec<u8> = a.iter().flat_map(|v| v.to_be_bytes()).collect();
    std::fs::write(path, png_bytes(w as u32, h as u32, png::ColorType::Grayscale, png::BitDepth::Sixteen, &data, None)).unwrap();
}

/// A decoded RGB8 PNG: (width, height, bytes).
pub fn read_rgb_png(path: &Path) -> (usize, usize, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let dec = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut r = dec.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb, "{}", path.display());
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    buf.truncate(info.buffer_size());
    (info.width as usize, info.height as usize, buf)
}

/// The RGB colour at (x, y) of a decoded image.
pub fn pixel(img: &(usize, usize, Vec<u8>), x: usize, y: usize) -> [u8; 3] {
    let i = (y * img.0 + x) * 3;
    [img.2[i], img.2[i + 1], img.2[i + 2]]
}

/// Deterministic pseudo-random floats in [-3, 3).
pub fn randn(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let mut r = segloss_cli::data::Rng::new(seed);
    let n = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(|_| r.next_f32() * 6.0 - 3.0).collect()).unwrap()
}

/// Deterministic labels in [0, k).
pub fn labels(shape: &[usize], k: usize, seed: u64) -> Vec<usize> {
    let mut r = segloss_cli::data::Rng::new(seed);
    let n: usize = shape.iter().product();
    (0..n).map(|_| r.below(k)).collect()
}

/// Reads a float32 `.npy` written by the CLI.
pub fn read_f32(path: &Path) -> ArrayD<f32> {
    match segloss_cli::npy::read(path).unwrap() {
        segloss_cli::npy::NpyArray::F32(a) => a,
        other => panic!("{}: expected float32, got {:?}", path.display(), other.dtype()),
    }
}

/// The one JSON line of a `--json` run.
pub fn json(stdout: &str) -> Value {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line expected: {stdout}");
    serde_json::from_str(lines[0]).unwrap()
}

/// The library's value and gradient for a spec.
pub fn library(spec: &str, batch: &Batch<'_>) -> (f32, ArrayD<f32>) {
    LossSpec::parse(spec).unwrap().build().unwrap().forward_backward(batch).unwrap()
}

/// The CRC-32 of PNG chunks.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    !c
}

/// Recomputes the CRC of every chunk of a PNG whose length field fits in the file.
pub fn fix_crcs(b: &mut [u8]) {
    let mut p = 8;
    while p + 12 <= b.len() {
        let len = u32::from_be_bytes([b[p], b[p + 1], b[p + 2], b[p + 3]]) as usize;
        if len > b.len() || p + 12 + len > b.len() {
            break;
        }
        let crc = crc32(&b[p + 4..p + 8 + len]);
        b[p + 8 + len..p + 12 + len].copy_from_slice(&crc.to_be_bytes());
        p += 12 + len;
    }
}

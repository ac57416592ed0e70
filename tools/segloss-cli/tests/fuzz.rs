//! Fuzzing of the input readers and the spec parser with proptest: mutations of valid `.npy`,
//! `.npz` and `.png` files (truncation, bit flips, overwritten and inserted bytes, random header
//! text; for PNG also with the chunk CRCs repaired so the mutation reaches the decoder) and random
//! spec strings, and of `.onnx` models read for `segloss export --attach` (decoded, then the loss
//! attached). Nothing may panic; what is accepted must be consistent. The guards of issue 12 are
//! fuzzed too: the `.npy` file reader (prelude, header of bounded size, then exactly the
//! declared data; `ndarray-npy` parses the header and decodes the data) agrees with the
//! in-memory one, an `.npz` member read through its bounded reader is what the `.npy` reader
//! makes of the member's bytes, a PNG's size check runs on its header before decoding, and error
//! messages quote at most 200 characters of a long spec.
//!
//! The number of cases per property is `SEGLOSS_FUZZ_CASES` (default 2000):
//! `SEGLOSS_FUZZ_CASES=250000 cargo test -p segloss-cli --release --test fuzz` runs 1,500,000
//! (six properties).

mod common;

use common::{fix_crcs, png_bytes, raw_npy};
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use segloss::LossSpec;
use segloss_cli::npy::{self, npz, NpyArray};
use std::cell::Cell;
use std::io::{Read, Write};

fn cases() -> u32 {
    std::env::var("SEGLOSS_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)
}

thread_local! {
    /// Inputs tried by the property running on this thread (each test runs on its own thread),
    /// printed at the end of each (`--nocapture` shows them).
    static INPUTS: Cell<u64> = const { Cell::new(0) };
    /// How many of them were accepted.
    static ACCEPTED: Cell<u64> = const { Cell::new(0) };
}

fn accepted() {
    ACCEPTED.with(|c| c.set(c.get() + 1));
}

fn count() {
    INPUTS.with(|c| c.set(c.get() + 1));
}

fn report(name: &str, before: (u64, u64)) {
    let n = INPUTS.with(|c| c.get()) - before.0;
    let a = ACCEPTED.with(|c| c.get()) - before.1;
    eprintln!("{name}: {n} inputs, {a} accepted, {} rejected with an error", n - a);
}

fn config() -> Config {
    Config { cases: cases(), failure_persistence: None, ..Config::default() }
}

/// A mutation of a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    FlipBit(usize, u8),
    Overwrite(usize, Vec<u8>),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    /// Replaces bytes with header-like text.
    Text(usize, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<prop::sample::Index>().prop_map(|i| Mutation::Truncate(i.index(1 << 20))),
        (any::<usize>(), 0u8..8).prop_map(|(p, b)| Mutation::FlipBit(p, b)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8)).prop_map(|(p, v)| Mutation::Overwrite(p, v)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(p, v)| Mutation::Insert(p, v)),
        (any::<usize>(), 1usize..16).prop_map(|(p, n)| Mutation::Remove(p, n)),
        (
            any::<usize>(),
            "[ -~]{0,12}|'shape': \\([0-9, ]{0,20}\\)|'descr': '[<>|=]?[a-z?][0-9]{0,2}'|True|False|\\{|\\}|9999999999999999999"
        )
            .prop_map(|(p, s)| Mutation::Text(p, s)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let n = bytes.len();
    match m {
        Mutation::Truncate(k) => bytes.truncate(k % (n + 1)),
        Mutation::FlipBit(p, b) if n > 0 => bytes[p % n] ^= 1 << b,
        Mutation::Overwrite(p, v) if n > 0 => {
            let p = p % n;
            for (i, &x) in v.iter().enumerate() {
                if p + i < n {
                    bytes[p + i] = x;
                }
            }
        }
        Mutation::Insert(p, v) => {
            let p = p % (n + 1);
            bytes.splice(p..p, v.iter().copied());
        }
        Mutation::Remove(p, k) if n > 0 => {
            let p = p % n;
            bytes.drain(p..(p + k).min(n));
        }
        Mutation::Text(p, s) if n > 0 => {
            let p = p % n;
            for (i, &x) in s.as_bytes().iter().enumerate() {
                if p + i < n {
                    bytes[p + i] = x;
                }
            }
        }
        _ => {}
    }
}

/// Valid `.npy` files of every supported dtype, both orders and endiannesses, all versions.
fn npy_seeds() -> Vec<Vec<u8>> {
    let a = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1.5f32, -2.0, 0.0, 3.25, 1e-3, 7.0]).unwrap();
    let mut v = vec![
        npy::to_bytes(&a.view()),
        npy::to_bytes(&a.mapv(|x| x as f64).view()),
        npy::to_bytes(&a.mapv(|x| x.abs() as u8).view()),
        npy::to_bytes(&a.mapv(|x| x as i32).view()),
        npy::to_bytes(&a.mapv(|x| x as i64).view()),
        npy::to_bytes(&a.mapv(|x| x > 0.0).view()),
        npy::to_bytes(&ArrayD::<f32>::zeros(IxDyn(&[])).view()),
        npy::to_bytes(&ArrayD::<u8>::zeros(IxDyn(&[0, 5])).view()),
    ];
    let be: Vec<u8> = (0..6i32).flat_map(|x| x.to_be_bytes()).collect();
    v.push(raw_npy(1, "{'descr': '>i4', 'fortran_order': True, 'shape': (2, 3), }", &be));
    let le: Vec<u8> = (0..4i64).flat_map(|x| x.to_le_bytes()).collect();
    v.push(raw_npy(2, "{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }", &le));
    let f: Vec<u8> = (0..8).flat_map(|x| (x as f64).to_be_bytes()).collect();
    v.push(raw_npy(3, "{\"descr\": \">f8\", \"fortran_order\": False, \"shape\": (2, 2, 2)}", &f));
    v.push(raw_npy(1, "{'descr': '>f8', 'fortran_order': True, 'shape': (2, 2, 2), }", &f));
    let f4: Vec<u8> = (0..24).flat_map(|x| (x as f32 - 3.5).to_be_bytes()).collect();
    v.push(raw_npy(1, "{'descr': '>f4', 'fortran_order': True, 'shape': (2, 3, 2, 2), }", &f4));
    v.push(raw_npy(1, "{'descr': '|b1', 'fortran_order': True, 'shape': (2, 3), }", &[0, 1, 1, 0, 0, 1]));
    v
}

/// Whether two arrays have the same shape and the same bits (NaN equal to itself).
fn bit_equal(a: &NpyArray, b: &NpyArray) -> bool {
    let same = match (a, b) {
        (NpyArray::F32(x), NpyArray::F32(y)) => x.iter().zip(y.iter()).all(|(p, q)| p.to_bits() == q.to_bits()),
        (NpyArray::F64(x), NpyArray::F64(y)) => x.iter().zip(y.iter()).all(|(p, q)| p.to_bits() == q.to_bits()),
        (x, y) => x == y,
    };
    same && a.shape() == b.shape()
}

/// The file reader, which reads the prelude, the header and the declared data in turn (never
/// more than declared), gives what the in-memory reader gives for the same bytes: the same
/// array or the same error.
fn check_npy_file(bytes: &[u8]) {
    let path = std::env::temp_dir().join(format!("segloss-fuzz-{}-{:?}.npy", std::process::id(), std::thread::current().id()));
    std::fs::write(&path, bytes).unwrap();
    let name = path.display().to_string();
    match (npy::read(&path), npy::read_bytes(bytes, &name)) {
        (Ok(a), Ok(b)) => assert!(bit_equal(&a, &b)),
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("file reader {a:?}, in-memory reader {b:?}"),
    }
    let _ = std::fs::remove_file(&path);
}

fn check_npy(bytes: &[u8]) {
    count();
    match npy::read_bytes(bytes, "fuzz.npy") {
        Ok(a) => {
            accepted();
            let count: usize = a.shape().iter().product();
            let len = match &a {
                NpyArray::F32(x) => x.len(),
                NpyArray::F64(x) => x.len(),
                NpyArray::U8(x) => x.len(),
                NpyArray::I32(x) => x.len(),
                NpyArray::I64(x) => x.len(),
                NpyArray::Bool(x) => x.len(),
            };
            assert_eq!(count, len);
            // What was read writes back and reads again to the same array.
            let again = match &a {
                NpyArray::F32(x) => npy::read_bytes(&npy::to_bytes(&x.view()), "again"),
                NpyArray::F64(x) => npy::read_bytes(&npy::to_bytes(&x.view()), "again"),
                NpyArray::U8(x) => npy::read_bytes(&npy::to_bytes(&x.view()), "again"),
                NpyArray::I32(x) => npy::read_bytes(&npy::to_bytes(&x.view()), "again"),
                NpyArray::I64(x) => npy::read_bytes(&npy::to_bytes(&x.view()), "again"),
                NpyArray::Bool(x) => npy::read_bytes(&npy::to_bytes(&x.view()), "again"),
            }
            .unwrap();
            assert!(bit_equal(&a, &again));
        }
        Err(e) => {
            assert!(e.0.starts_with("fuzz.npy: "), "{}", e.0);
            assert!(!e.0.contains('\n'));
        }
    }
}

#[test]
fn fuzz_npy_reader() {
    let before = (INPUTS.with(|c| c.get()), ACCEPTED.with(|c| c.get()));
    let seeds = npy_seeds();
    for s in &seeds {
        npy::read_bytes(s, "seed").unwrap();
    }
    let strategy = (0..seeds.len(), prop::collection::vec(mutation(), 1..5));
    TestRunner::new(config())
        .run(&strategy, |(i, muts)| {
            let mut b = seeds[i].clone();
            for m in &muts {
                apply(&mut b, m);
            }
            check_npy(&b);
            check_npy_file(&b);
            Ok(())
        })
        .unwrap();
    report("fuzz_npy_reader", before);
}

/// Random header dicts around the valid ones: any dtype text, order, shape, key order, quotes
/// and spacing, with data of the right length or one that is off, or plain random text.
#[test]
fn fuzz_npy_header_text() {
    let before = (INPUTS.with(|c| c.get()), ACCEPTED.with(|c| c.get()));
    let descr = prop_oneof!["[<>|=]?(f4|f8|u1|i4|i8|b1)", "[<>|=]?(f2|c8|\\?|O|U3|S5|u2|i2|M8)", "[ -~]{0,6}",];
    let shape = prop::collection::vec(0usize..5, 0..5);
    let dict = (descr, any::<bool>(), shape, 0usize..6, any::<bool>(), any::<bool>(), "[ ]{0,2}", 0u8..8);
    let strategy = (1u8..4, dict, prop_oneof![4 => Just(0i64), 1 => -3i64..4], "[ -~]{0,60}", 0u8..10);
    TestRunner::new(config())
        .run(&strategy, |(major, (descr, fortran, shape, order, dq, trailing, sp, tweak), delta, junk, mode)| {
            let q = if dq { '"' } else { '\'' };
            let tuple = match shape.as_slice() {
                [d] => format!("({d},)"),
                s => format!("({})", s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
            };
            let mut items = vec![
                format!("{q}descr{q}:{sp}{q}{descr}{q}"),
                format!("{q}fortran_order{q}:{sp}{}", if fortran { "True" } else { "False" }),
                format!("{q}shape{q}:{sp}{tuple}"),
            ];
            items.rotate_left(order % 3);
            if order >= 3 {
                items.swap(0, 1);
            }
            match tweak {
                0 => {
                    items.pop();
                }
                1 => items.push(format!("{q}extra{q}: 1")),
                _ => {}
            }
            let mut text = format!("{{{}{}}}", items.join(&format!(",{sp}")), if trailing { ", " } else { "" });
            if mode == 0 {
                text = junk;
            }
            let size = match descr.trim_start_matches(['<', '>', '|', '=']) {
                "f8" | "i8" => 8,
                "f4" | "i4" => 4,
                _ => 1,
            };
            let len = (shape.iter().product::<usize>() * size) as i64 + delta;
            let data: Vec<u8> = (0..len.max(0)).map(|i| (i % 2) as u8).collect();
            check_npy(&raw_npy(major, &text, &data));
            Ok(())
        })
        .unwrap();
    report("fuzz_npy_header_text", before);
}

/// A zip archive of these members, stored or deflated.
fn zip_bytes(members: &[(&str, Vec<u8>)], deflate: bool) -> Vec<u8> {
    let method = if deflate { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored };
    let opts = zip::write::SimpleFileOptions::default().compression_method(method);
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in members {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// `.npz` archives: one array stored or deflated, two arrays, an array beside another file.
fn npz_seeds() -> Vec<Vec<u8>> {
    let npys = npy_seeds();
    vec![
        zip_bytes(&[("a.npy", npys[0].clone())], false),
        zip_bytes(&[("a.npy", npys[8].clone())], true),
        zip_bytes(&[("a.npy", npys[1].clone()), ("b.npy", npys[5].clone())], false),
        zip_bytes(&[("b.npy", npys[3].clone()), ("a.npy", npys[11].clone())], true),
        zip_bytes(&[("README", b"x".to_vec()), ("a.npy", npys[2].clone())], true),
    ]
}

/// The `.npz` reader on mutated archives, asking for the array `a`, `b` or the only one: the
/// in-memory and file readers agree; errors name the archive, on one line; an array read is the
/// one the `.npy` reader makes of the member's bytes (taken out with the zip crate directly).
#[test]
fn fuzz_npz_reader() {
    let before = (INPUTS.with(|c| c.get()), ACCEPTED.with(|c| c.get()));
    let seeds = npz_seeds();
    for s in &seeds {
        npz::read_bytes(s, "seed", Some("a")).unwrap();
    }
    let path = std::env::temp_dir().join(format!("segloss-fuzz-{}-{:?}.npz", std::process::id(), std::thread::current().id()));
    let strategy = (0..seeds.len(), prop::collection::vec(mutation(), 1..4), 0usize..3);
    TestRunner::new(config())
        .run(&strategy, |(i, muts, which)| {
            let mut b = seeds[i].clone();
            for m in &muts {
                apply(&mut b, m);
            }
            count();
            let member = [None, Some("a"), Some("b")][which];
            let mem = npz::read_bytes(&b, "fuzz.npz", member);
            std::fs::write(&path, &b).unwrap();
            let name = path.display().to_string();
            let spec = match member {
                Some(m) => format!("{name}:{m}"),
                None => name.clone(),
            };
            let file = npz::read(std::path::Path::new(&spec));
            match (&mem, &file) {
                (Ok(a), Ok(f)) => prop_assert!(bit_equal(a, f)),
                (Err(a), Err(f)) => prop_assert_eq!(a.0.replace("fuzz.npz", &name), f.0.clone()),
                (a, f) => panic!("in memory {a:?}, from the file {f:?}"),
            }
            match mem {
                Ok(a) => {
                    accepted();
                    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&b)).unwrap();
                    let wanted = match member {
                        Some(m) => format!("{m}.npy"),
                        None => zip.file_names().find(|n| n.ends_with(".npy")).unwrap().to_string(),
                    };
                    let mut raw = Vec::new();
                    zip.by_name(&wanted).unwrap().take(64 << 20).read_to_end(&mut raw).unwrap();
                    let direct = npy::read_bytes(&raw, "direct").unwrap();
                    prop_assert!(bit_equal(&a, &direct));
                }
                Err(e) => {
                    prop_assert!(e.0.starts_with("fuzz.npz"), "{}", e.0);
                    prop_assert!(!e.0.contains('\n'), "{}", e.0);
                }
            }
            Ok(())
        })
        .unwrap();
    let _ = std::fs::remove_file(&path);
    report("fuzz_npz_reader", before);
}

fn png_seeds() -> Vec<Vec<u8>> {
    use png::{BitDepth as D, ColorType as C};
    let g8: Vec<u8> = (0..35).map(|i| (i % 3) as u8).collect();
    let g16: Vec<u8> = (0..35u16).flat_map(|i| (i * 1000).to_be_bytes()).collect();
    vec![
        png_bytes(7, 5, C::Grayscale, D::Eight, &g8, None),
        png_bytes(7, 5, C::Grayscale, D::Sixteen, &g16, None),
        png_bytes(7, 5, C::Grayscale, D::One, &[0b1010_1010; 5], None),
        png_bytes(7, 5, C::Grayscale, D::Four, &[0x12, 0x34, 0x56, 0x70].repeat(5), None),
        png_bytes(7, 5, C::Indexed, D::Eight, &g8, Some(vec![0, 0, 0, 255, 0, 0, 0, 255, 0])),
        png_bytes(7, 5, C::Rgb, D::Eight, &[7; 105], None),
        png_bytes(3, 2, C::GrayscaleAlpha, D::Eight, &[1; 12], None),
    ]
}

#[test]
fn fuzz_png_reader() {
    let before = (INPUTS.with(|c| c.get()), ACCEPTED.with(|c| c.get()));
    let seeds = png_seeds();
    let strategy = (0..seeds.len(), prop::collection::vec(mutation(), 1..4), any::<bool>());
    TestRunner::new(config())
        .run(&strategy, |(i, muts, fix)| {
            let mut b = seeds[i].clone();
            for m in &muts {
                apply(&mut b, m);
            }
            if fix {
                fix_crcs(&mut b);
            }
            count();
            // The size check sees the header's size before any pixel is decoded: a size it
            // refuses ends the read with its error; a decoded image has the size it saw.
            let seen = Cell::new(None);
            let check = |w: usize, h: usize| {
                seen.set(Some((w, h)));
                if w * h > 1000 {
                    Err(segloss_cli::CliError::new("fuzz.png: refused by the size check"))
                } else {
                    Ok(())
                }
            };
            match segloss_cli::image::read_bytes_checked(&b, "fuzz.png", &check) {
                Ok(a) => {
                    accepted();
                    let (w, h) = seen.get().expect("the size was checked");
                    assert_eq!(a.shape(), [h, w]);
                    assert!(matches!(a, NpyArray::U8(_) | NpyArray::I32(_)));
                }
                Err(e) => {
                    assert!(e.0.starts_with("fuzz.png: ") && !e.0.contains('\n'), "{}", e.0);
                    if seen.get().is_some_and(|(w, h)| w * h > 1000) {
                        assert_eq!(e.0, "fuzz.png: refused by the size check");
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    report("fuzz_png_reader", before);
}

/// Spec strings: random token sequences and mutations of valid specs. A spec that parses prints
/// to a string that parses to the same spec.
#[test]
fn fuzz_spec_parser() {
    let before = (INPUTS.with(|c| c.get()), ACCEPTED.with(|c| c.get()));
    let names: Vec<String> = segloss::catalogue().iter().map(|i| i.name.to_string()).collect();
    let mut keys: Vec<String> = segloss::catalogue().iter().flat_map(|i| i.keys().iter().map(|k| k.key.to_string())).collect();
    keys.sort();
    keys.dedup();
    let valid = [
        "bce",
        "focal:gamma=2,alpha=0.25",
        "0.5*ce+focal:gamma=1",
        "ce:class_weights=[1,2,0.5],ignore_index=255",
        "balanced_ce:beta=auto",
        "wce:beta=2e-3,from_logits=false",
        "bce:pos_weight=3,reduction=sum,mode=binary",
    ];
    let token = prop_oneof![
        prop::sample::select(names.clone()),
        prop::sample::select(keys.clone()),
        prop::sample::select(vec![
            ":", "=", ",", "+", "*", "[", "]", " ", "-", ".", "e", "1e3", "1e+3", "0", "-1", "2.5", "1e400", "true", "false", "auto",
            "none", "batch", "all", "mean", "sum", "nan", "inf", "_", "é", "\u{0}",
        ])
        .prop_map(str::to_string),
        "[ -~]{1,3}",
        "-?[0-9]{0,3}(\\.[0-9]{0,3})?(e-?[0-9]{1,3})?",
    ];
    let random = prop::collection::vec(token, 0..12).prop_map(|v| v.concat());
    let mutated = (prop::sample::select(valid.to_vec()), prop::collection::vec(mutation(), 1..3)).prop_map(|(s, muts)| {
        let mut b = s.as_bytes().to_vec();
        for m in &muts {
            apply(&mut b, m);
        }
        String::from_utf8_lossy(&b).into_owned()
    });
    // Long specs (up to ~10,000 characters): messages quote at most 200 characters of them.
    let long =
        (prop::sample::select(valid.to_vec()), "[a-z_=:,+*0-9.\\[\\] ]{1,4}", 1usize..2500, 0usize..3).prop_map(|(v, t, n, at)| match at {
            0 => format!("{v}{}", t.repeat(n)),
            1 => format!("{}{v}", t.repeat(n)),
            _ => format!("{v}:{}={}", t.repeat(n), t.repeat(n)),
        });
    let strategy = prop_oneof![4 => random, 4 => mutated, 1 => long];
    TestRunner::new(config())
        .run(&strategy, |s| {
            count();
            match LossSpec::parse(&s) {
                Ok(spec) => {
                    accepted();
                    let printed = spec.to_string();
                    let again = LossSpec::parse(&printed).unwrap_or_else(|e| panic!("`{s}` printed as `{printed}` fails: {e}"));
                    prop_assert_eq!(&again, &spec, "`{}` printed as `{}`", s, printed);
                }
                Err(e) => {
                    let cli = segloss_cli::eval::parse_spec(&s).unwrap_err();
                    prop_assert!(cli.0.starts_with("bad loss spec"));
                    prop_assert!(!cli.to_string().contains('\n'));
                    prop_assert!(cli.0.chars().count() <= 1200, "{} characters: {}", cli.0.chars().count(), cli.0);
                    let _ = e;
                }
            }
            Ok(())
        })
        .unwrap();
    report("fuzz_spec_parser", before);
}

/// `.onnx` models for `export --attach`: mutations of exported models; whatever decodes is
/// handed to `segloss_onnx::attach` (which must return, not panic); errors are one line naming
/// the file.
#[test]
fn fuzz_onnx_model_reader() {
    let before = (INPUTS.with(|c| c.get()), ACCEPTED.with(|c| c.get()));
    let attached = Cell::new(0u64);
    // Small models `y = Op(x)` with x, y declared [N, C, H, W] (or [N, H, W]), opset 17.
    let seeds: Vec<Vec<u8>> =
        [("Identity", vec!["N", "1", "H", "W"]), ("Relu", vec!["N", "1", "H", "W"]), ("Sigmoid", vec!["N", "H", "W"])]
            .into_iter()
            .map(|(op, dims)| segloss_onnx::to_bytes(&unary_model(op, &dims)))
            .collect();
    let strategy = (0..seeds.len(), prop::collection::vec(mutation(), 1..4));
    TestRunner::new(config())
        .run(&strategy, |(i, muts)| {
            let mut b = seeds[i].clone();
            for m in &muts {
                apply(&mut b, m);
            }
            count();
            match segloss_cli::export::model_from_bytes(&b, "fuzz.onnx") {
                Ok(m) => {
                    accepted();
                    // Attach bce to the last output: [N, 1, H, W] with a channel, [N, H, W] or
                    // any other rank without.
                    let out = m.graph.as_ref().unwrap().output.last().unwrap().clone();
                    let rank = match out.r#type.as_ref().and_then(|t| t.value.as_ref()) {
                        Some(segloss_onnx::pb::type_proto::Value::TensorType(t)) => t.shape.as_ref().map_or(4, |s| s.dim.len()),
                        None => 4,
                    };
                    let opts = segloss_onnx::ExportOptions { rank, channel: rank == 4, prefix: "fz_".into(), ..Default::default() };
                    let spec = LossSpec::parse(if rank == 4 { "bce" } else { "bce:mode=binary" }).unwrap();
                    if let Ok(a) = segloss_onnx::attach(m, &out.name, &spec, &opts) {
                        attached.set(attached.get() + 1);
                        prop_assert!(a.graph.unwrap().output.iter().any(|o| o.name == "loss"));
                    }
                }
                Err(e) => prop_assert!(e.0.starts_with("fuzz.onnx: ") && !e.to_string().contains('\n'), "{}", e.0),
            }
            Ok(())
        })
        .unwrap();
    report("fuzz_onnx_model_reader", before);
    eprintln!("fuzz_onnx_model_reader: the loss attached to {} decoded models", attached.get());
    assert!(attached.get() > 0, "some mutations keep an attachable model");
}

/// A model `y = op(x)`, `x` and `y` float with these dims (numbers or symbols), opset 17.
fn unary_model(op: &str, dims: &[&str]) -> segloss_onnx::pb::ModelProto {
    use segloss_onnx::pb::tensor_shape_proto::{dimension, Dimension};
    use segloss_onnx::pb::*;
    let vi = |name: &str| ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: tensor_proto::DataType::Float as i32,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            value: Some(match d.parse::<i64>() {
                                Ok(v) => dimension::Value::DimValue(v),
                                Err(_) => dimension::Value::DimParam(d.to_string()),
                            }),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let node = NodeProto { name: "op".into(), op_type: op.into(), input: vec!["x".into()], output: vec!["y".into()], ..Default::default() };
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
        graph: Some(GraphProto { name: "m".into(), node: vec![node], input: vec![vi("x")], output: vec![vi("y")], ..Default::default() }),
        ..Default::default()
    }
}

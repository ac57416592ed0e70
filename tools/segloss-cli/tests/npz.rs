//! The `.npy` reader on `ndarray-npy` and `.npz` inputs: big-endian and Fortran-order arrays
//! read element by element as their little-endian C-order twins, numpy's own `.npz` files,
//! `ARCHIVE.npz:NAME` and bare `ARCHIVE.npz` selection, and hostile archives (corrupt, truncated,
//! declaring more than the cap or than deflate can produce, inflating to more than declared).
//! Fixtures are made here: hand-written `.npy` headers, and zip archives written with the `zip`
//! crate or byte by byte (to declare sizes that lie).

mod common;

use common::*;
use ndarray::{ArrayD, IxDyn};
use segloss_cli::npy::{self, npz, NpyArray};
use std::io::{Cursor, Read, Write};
use std::path::Path;
use std::time::Duration;

// ---------------------------------------------------------------- fixtures

/// A zip archive of these members, written by the `zip` crate, stored or deflated.
fn zip_bytes(members: &[(&str, &[u8])], deflate: bool) -> Vec<u8> {
    let method = if deflate { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored };
    let opts = zip::write::SimpleFileOptions::default().compression_method(method);
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in members {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// The deflate stream of `data` (as the `zip` crate compresses it).
fn deflated(data: &[u8]) -> Vec<u8> {
    let z = zip_bytes(&[("m", data)], true);
    let mut a = zip::ZipArchive::new(Cursor::new(z)).unwrap();
    let mut raw = Vec::new();
    a.by_index_raw(0).unwrap().read_to_end(&mut raw).unwrap();
    raw
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 == 1 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 };
        }
    }
    !c
}

/// A member of a hand-made archive: `data` as stored (compressed for method 8), with a declared
/// uncompressed `size` that may lie.
struct Raw<'a> {
    name: &'a str,
    method: u16,
    data: Vec<u8>,
    size: u64,
    crc: u32,
}

/// A zip archive written byte by byte: local headers, data, central directory, end record; a
/// size of 4 GiB or more goes in a zip64 extra field.
fn zip_raw(members: &[Raw<'_>]) -> Vec<u8> {
    let (mut out, mut cd) = (Vec::new(), Vec::new());
    for m in members {
        let packed = m.data.len() as u64;
        let zip64 = m.size >= 0xFFFF_FFFF || packed >= 0xFFFF_FFFF;
        let mut extra = Vec::new();
        let (size32, packed32) = if zip64 {
            extra.extend_from_slice(&1u16.to_le_bytes());
            extra.extend_from_slice(&16u16.to_le_bytes());
            extra.extend_from_slice(&m.size.to_le_bytes());
            extra.extend_from_slice(&packed.to_le_bytes());
            (0xFFFF_FFFFu32, 0xFFFF_FFFFu32)
        } else {
            (m.size as u32, packed as u32)
        };
        let offset = out.len() as u32;
        // version 4.5, no flags, method, time 0, date 1980-01-01, crc, sizes, name/extra lengths
        let common = |v: &mut Vec<u8>| {
            v.extend_from_slice(&45u16.to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
            v.extend_from_slice(&m.method.to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
            v.extend_from_slice(&0x21u16.to_le_bytes());
            v.extend_from_slice(&m.crc.to_le_bytes());
            v.extend_from_slice(&packed32.to_le_bytes());
            v.extend_from_slice(&size32.to_le_bytes());
            v.extend_from_slice(&(m.name.len() as u16).to_le_bytes());
            v.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        };
        out.extend_from_slice(b"PK\x03\x04");
        common(&mut out);
        out.extend_from_slice(m.name.as_bytes());
        out.extend_from_slice(&extra);
        out.extend_from_slice(&m.data);
        cd.extend_from_slice(b"PK\x01\x02");
        cd.extend_from_slice(&(0x0300u16 | 45).to_le_bytes());
        common(&mut cd);
        cd.extend_from_slice(&[0; 10]); // comment length, disk, internal and external attributes
        cd.extend_from_slice(&offset.to_le_bytes());
        cd.extend_from_slice(m.name.as_bytes());
        cd.extend_from_slice(&extra);
    }
    let (cd_offset, cd_len, n) = (out.len() as u32, cd.len() as u32, members.len() as u16);
    out.extend_from_slice(&cd);
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&cd_len.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// A stored member that tells the truth.
fn stored<'a>(name: &'a str, data: &[u8]) -> Raw<'a> {
    Raw { name, method: 0, data: data.to_vec(), size: data.len() as u64, crc: crc32(data) }
}

/// The shape as a Python tuple.
fn tuple(shape: &[usize]) -> String {
    match shape {
        [d] => format!("({d},)"),
        s => format!("({})", s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    }
}

/// A hand-written `.npy` of `a` with this dtype string, order and element encoding.
fn npy_of<T: Copy>(a: &ArrayD<T>, descr: &str, fortran: bool, enc: impl Fn(T) -> Vec<u8>) -> Vec<u8> {
    let dict =
        format!("{{'descr': '{descr}', 'fortran_order': {}, 'shape': {}, }}", if fortran { "True" } else { "False" }, tuple(a.shape()));
    // Fortran order: the elements of `a` column-major, i.e. its transpose in row-major order
    let data: Vec<u8> = if fortran { a.t().iter().flat_map(|&x| enc(x)).collect() } else { a.iter().flat_map(|&x| enc(x)).collect() };
    raw_npy(1, &dict, &data)
}

/// Values with a fractional part, negative and positive, none repeated.
fn values(shape: &[usize]) -> ArrayD<f64> {
    let n: usize = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(|i| i as f64 * 0.75 - 7.25).collect()).unwrap()
}

/// Reads bytes both ways: in memory, and from a file by the bounded file reader.
fn read_both(bytes: &[u8], dir: &Path, file: &str) -> NpyArray {
    let a = npy::read_bytes(bytes, file).unwrap();
    std::fs::write(dir.join(file), bytes).unwrap();
    let b = npy::read(&dir.join(file)).unwrap();
    assert_eq!(a, b, "{file}");
    a
}

/// Checks `got` element by element against `want` (bit patterns for floats).
fn same(got: &NpyArray, want: &NpyArray, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}");
    assert_eq!(got.dtype(), want.dtype(), "{what}");
    let idx: Vec<IxDyn> = ndarray::indices(IxDyn(want.shape())).into_iter().collect();
    for i in idx {
        let ok = match (got, want) {
            (NpyArray::F32(g), NpyArray::F32(w)) => g[&i].to_bits() == w[&i].to_bits(),
            (NpyArray::F64(g), NpyArray::F64(w)) => g[&i].to_bits() == w[&i].to_bits(),
            (NpyArray::U8(g), NpyArray::U8(w)) => g[&i] == w[&i],
            (NpyArray::I32(g), NpyArray::I32(w)) => g[&i] == w[&i],
            (NpyArray::I64(g), NpyArray::I64(w)) => g[&i] == w[&i],
            (NpyArray::Bool(g), NpyArray::Bool(w)) => g[&i] == w[&i],
            _ => false,
        };
        assert!(ok, "{what}: element {:?} differs", i);
    }
}

/// One hand-written variant of a dtype: (descr, fortran, bytes).
type Variant = (String, bool, Vec<u8>);

/// The little-endian C-order twin, written by the crate, and the hand-written variants of each
/// supported dtype: (name, twin, variants).
fn variants(shape: &[usize]) -> Vec<(&'static str, Vec<u8>, Vec<Variant>)> {
    let v = values(shape);
    let mut out = Vec::new();
    macro_rules! multi {
        ($t:ty, $code:expr, $conv:expr) => {{
            let a: ArrayD<$t> = v.mapv($conv);
            let mut vs = Vec::new();
            for fortran in [false, true] {
                vs.push((format!("<{}", $code), fortran, npy_of(&a, &format!("<{}", $code), fortran, |x: $t| x.to_le_bytes().to_vec())));
                vs.push((format!(">{}", $code), fortran, npy_of(&a, &format!(">{}", $code), fortran, |x: $t| x.to_be_bytes().to_vec())));
            }
            out.push(($code, npy::to_bytes(&a.view()), vs));
        }};
    }
    multi!(f32, "f4", |x| x as f32);
    multi!(f64, "f8", |x| x);
    multi!(i32, "i4", |x| (x * 4.0) as i32);
    multi!(i64, "i8", |x| (x * 4.0) as i64 * 1_000_000_007);
    let u: ArrayD<u8> = v.mapv(|x| (x * 4.0).rem_euclid(256.0) as u8);
    let b: ArrayD<bool> = v.mapv(|x| (x * 4.0) as i64 % 3 == 0);
    let mut vu = Vec::new();
    let mut vb = Vec::new();
    for fortran in [false, true] {
        vu.push(("|u1".to_string(), fortran, npy_of(&u, "|u1", fortran, |x| vec![x])));
        vb.push(("|b1".to_string(), fortran, npy_of(&b, "|b1", fortran, |x| vec![x as u8])));
    }
    out.push(("u1", npy::to_bytes(&u.view()), vu));
    out.push(("b1", npy::to_bytes(&b.view()), vb));
    out
}

// ---------------------------------------------------------------- .npy: byte and memory orders

/// Every dtype, big and little endian, in C order, 1D to 4D: the same array as the crate's
/// little-endian C-order file.
#[test]
fn big_endian_arrays_read_as_their_little_endian_twins() {
    let d = tmpdir("npz-be");
    for shape in [&[5][..], &[2, 3], &[1, 2, 3, 4]] {
        for (code, twin, vs) in variants(shape) {
            let want = read_both(&twin, &d, "twin.npy");
            for (descr, fortran, bytes) in vs.iter().filter(|v| !v.1) {
                let got = read_both(bytes, &d, "v.npy");
                same(&got, &want, &format!("{code} {descr} fortran={fortran} {shape:?}"));
            }
        }
    }
}

/// Fortran-order 3D and 4D arrays of every dtype, both byte orders, come out with their logical
/// layout: element by element the C-order twin.
#[test]
fn fortran_order_3d_and_4d_arrays_have_their_logical_layout() {
    let d = tmpdir("npz-fortran");
    for shape in [&[2, 3, 4][..], &[2, 3, 4, 5], &[3, 1, 2, 2]] {
        for (code, twin, vs) in variants(shape) {
            let want = read_both(&twin, &d, "twin.npy");
            for (descr, _, bytes) in vs.iter().filter(|v| v.1) {
                let got = read_both(bytes, &d, "f.npy");
                same(&got, &want, &format!("{code} {descr} Fortran {shape:?}"));
            }
        }
    }
}

/// The writer is the crate's: a Fortran-contiguous view is written in Fortran order and reads
/// back as the view's logical array; numpy's header layout (64-byte aligned, newline) holds.
#[test]
fn the_crate_writes_fortran_views_and_aligned_headers() {
    let a: ArrayD<f32> = values(&[2, 3, 4]).mapv(|x| x as f32);
    let t = a.view().reversed_axes(); // shape [4, 3, 2], Fortran-contiguous
    let bytes = npy::to_bytes(&t);
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + hlen]).unwrap();
    assert!(header.contains("'fortran_order': True"), "{header}");
    assert_eq!(((10 + hlen) % 64, header.ends_with('\n')), (0, true));
    match npy::read_bytes(&bytes, "t.npy").unwrap() {
        NpyArray::F32(b) => assert_eq!(b, t.to_owned()),
        other => panic!("{:?}", other.dtype()),
    }
}

// ---------------------------------------------------------------- .npz selection

/// Written by numpy 2.4.6: `np.savez(f, logits=np.arange(6, dtype='>f4').reshape(2, 3) / 4,
/// labels=np.asfortranarray(np.arange(24, dtype='<i8').reshape(2, 3, 4)))` (stored members with
/// zip64 extra fields in their local headers; numpy stores `logits` as '<f4').
const NUMPY_SAVEZ: &[&str] = &[
    "504b03042d0000000000000021000a9c00a4ffffffffffffffff0a0014006c6f676974732e6e70790100100098000000",
    "000000009800000000000000934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f",
    "6f72646572273a2046616c73652c20277368617065273a2028322c2033292c207d202020202020202020202020202020",
    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a00000000",
    "0000803e0000003f0000403f0000803f0000a03f504b03042d0000000000000021009cacf626ffffffffffffffff0a00",
    "14006c6162656c732e6e70790100100040010000000000004001000000000000934e554d5059010076007b2764657363",
    "72273a20273c6938272c2027666f727472616e5f6f72646572273a20547275652c20277368617065273a2028322c2033",
    "2c2034292c207d2020202020202020202020202020202020202020202020202020202020202020202020202020202020",
    "2020202020202020202020202020200a00000000000000000c0000000000000004000000000000001000000000000000",
    "0800000000000000140000000000000001000000000000000d0000000000000005000000000000001100000000000000",
    "0900000000000000150000000000000002000000000000000e0000000000000006000000000000001200000000000000",
    "0a00000000000000160000000000000003000000000000000f0000000000000007000000000000001300000000000000",
    "0b000000000000001700000000000000504b01022d032d0000000000000021000a9c00a498000000980000000a000000",
    "00000000000000008001000000006c6f676974732e6e7079504b01022d032d0000000000000021009cacf62640010000",
    "400100000a00000000000000000000008001d40000006c6162656c732e6e7079504b0506000000000200020070000000",
    "500200000000",
];

/// Written by numpy 2.4.6: `np.savez_compressed(f, mask=np.array([[True, False], [False, True]]))`.
const NUMPY_SAVEZ_COMPRESSED: &[&str] = &[
    "504b03042d000000080000002100bbe44cadffffffffffffffff080014006d61736b2e6e707901001000840000000000",
    "00004a000000000000009bec17ea1b10c9c850c650ad9e925a9c5ca46ea5a05e9364a8aea3a09e965f54529498179f5f",
    "94920a12774bcc294e058a17672416a402f91a463a0a469a3a0ab50a64032e4606064600504b01022d032d0000000800",
    "00002100bbe44cad4a000000840000000800000000000000000000008001000000006d61736b2e6e7079504b05060000",
    "00000100010036000000840000000000",
];

fn unhex(lines: &[&str]) -> Vec<u8> {
    let s = lines.concat();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn numpy_savez_files_read() {
    let d = tmpdir("npz-numpy");
    let f = d.join("np.npz");
    std::fs::write(&f, unhex(NUMPY_SAVEZ)).unwrap();
    let logits = npz::read(&d.join("np.npz:logits")).unwrap();
    let want = ArrayD::from_shape_vec(IxDyn(&[2, 3]), (0..6).map(|i| i as f32 / 4.0).collect()).unwrap();
    assert_eq!(logits, NpyArray::F32(want));
    let labels = npz::read(&d.join("np.npz:labels")).unwrap();
    let want = ArrayD::from_shape_vec(IxDyn(&[2, 3, 4]), (0..24i64).collect()).unwrap();
    assert_eq!(labels, NpyArray::I64(want));
    let e = npz::read(&f).unwrap_err();
    assert_eq!(e.0, format!("{}: the archive holds 2 arrays (logits, labels): name one as {}:NAME", s(&f), s(&f)));
    std::fs::write(d.join("c.npz"), unhex(NUMPY_SAVEZ_COMPRESSED)).unwrap();
    let mask = npz::read(&d.join("c.npz")).unwrap();
    assert_eq!(mask, NpyArray::Bool(ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![true, false, false, true]).unwrap()));
    assert_eq!(npz::read(&d.join("c.npz:mask")).unwrap(), mask);
    assert_eq!(npz::read(&d.join("c.npz:mask.npy")).unwrap(), mask);
}

#[test]
fn one_member_is_read_bare_or_by_name_stored_or_deflated() {
    let d = tmpdir("npz-one");
    let a = randn(&[2, 3, 4], 7);
    let member = npy::to_bytes(&a.view());
    for deflate in [false, true] {
        let f = d.join(format!("one{deflate}.NPZ"));
        std::fs::write(&f, zip_bytes(&[("x.npy", &member)], deflate)).unwrap();
        for p in [s(&f), format!("{}:x", s(&f)), format!("{}:x.npy", s(&f))] {
            assert_eq!(npz::read(Path::new(&p)).unwrap(), NpyArray::F32(a.clone()), "{p}");
            assert_eq!(segloss_cli::io::kind(Path::new(&p)).unwrap(), segloss_cli::io::Kind::Npz);
        }
    }
}

#[test]
fn several_members_are_picked_by_name_and_a_bare_archive_lists_them() {
    let d = tmpdir("npz-several");
    let (a, b) = (randn(&[3, 2], 1), ArrayD::<u8>::from_elem(IxDyn(&[4]), 3));
    let f = d.join("two.npz");
    std::fs::write(&f, zip_bytes(&[("pred.npy", &npy::to_bytes(&a.view())), ("target.npy", &npy::to_bytes(&b.view()))], true)).unwrap();
    assert_eq!(npz::read(&d.join("two.npz:pred")).unwrap(), NpyArray::F32(a));
    assert_eq!(npz::read(&d.join("two.npz:target")).unwrap(), NpyArray::U8(b));
    let e = npz::read(&f).unwrap_err();
    assert_eq!(e.0, format!("{}: the archive holds 2 arrays (pred, target): name one as {}:NAME", s(&f), s(&f)));
    // Members that are not .npy files are not arrays.
    std::fs::write(d.join("none.npz"), zip_bytes(&[("README.txt", b"hi")], false)).unwrap();
    let e = npz::read(&d.join("none.npz")).unwrap_err();
    assert!(e.0.ends_with("none.npz: the archive holds no arrays (.npy members)"), "{}", e.0);
    let e = npz::read(&d.join("two.npz:")).unwrap_err();
    assert!(e.0.contains("two.npz: no array name after"), "{}", e.0);
}

#[test]
fn a_missing_member_error_names_the_available_ones() {
    let d = tmpdir("npz-missing");
    let a = npy::to_bytes(&randn(&[2], 1).view());
    let f = d.join("m.npz");
    std::fs::write(&f, zip_bytes(&[("logits.npy", &a), ("target.npy", &a)], false)).unwrap();
    let e = npz::read(&d.join("m.npz:pred")).unwrap_err();
    assert_eq!(e.0, format!("{}: no array 'pred' (member pred.npy) in the archive; its arrays: logits, target", s(&f)));
    // through the binary: exit 2, one line
    write_npy(&d.join("t.npy"), &ArrayD::<f32>::zeros(IxDyn(&[2])));
    fails(
        &["eval", "bce:mode=binary", "--pred", &format!("{}:pred", s(&f)), "--target", &s(&d.join("t.npy"))],
        &[&s(&f), "'pred'", "logits, target"],
    );
}

// ---------------------------------------------------------------- hostile archives

#[test]
fn corrupt_and_truncated_archives_are_errors_naming_the_archive() {
    let d = tmpdir("npz-corrupt");
    let a = randn(&[4, 4], 3);
    let good = zip_bytes(&[("a.npy", &npy::to_bytes(&a.view()))], true);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("garbage.npz", b"this is not a zip archive at all".to_vec(), "not a valid .npz file"),
        ("empty.npz", Vec::new(), "not a valid .npz file"),
        ("half.npz", good[..good.len() / 2].to_vec(), "not a valid .npz file"),
        ("nocd.npz", good[..good.len() - 10].to_vec(), "not a valid .npz file"),
    ];
    for (name, bytes, needle) in cases {
        std::fs::write(d.join(name), &bytes).unwrap();
        let e = npz::read(&d.join(name)).unwrap_err();
        assert!(e.0.starts_with(&format!("{}: ", s(&d.join(name)))) && e.0.contains(needle), "{name}: {}", e.0);
        assert!(!e.0.contains('\n'));
    }
    // Damaged deflate data or checksum: an error naming the member.
    let data_at = 30 + "a.npy".len();
    for (i, at) in [data_at + 3, data_at + 20, good.len() - 60].into_iter().enumerate() {
        let mut b = good.clone();
        b[at] ^= 0x5A;
        let name = format!("flip{i}.npz");
        std::fs::write(d.join(&name), &b).unwrap();
        match npz::read(&d.join(&name)) {
            Err(e) => assert!(e.0.starts_with(&s(&d.join(&name))) && !e.0.contains('\n'), "{}", e.0),
            Ok(got) => assert_eq!(got, NpyArray::F32(a.clone()), "a flip that reads must not change the data"),
        }
    }
}

/// A member whose `.npy` is cut short, inside an intact archive.
#[test]
fn a_truncated_member_is_a_truncated_npy_naming_archive_and_member() {
    let d = tmpdir("npz-trunc");
    let m = npy::to_bytes(&randn(&[1, 1, 4, 4], 1).view());
    for deflate in [false, true] {
        let f = d.join(format!("t{deflate}.npz"));
        std::fs::write(&f, zip_bytes(&[("p.npy", &m[..m.len() - 3])], deflate)).unwrap();
        let e = npz::read(&f).unwrap_err();
        assert_eq!(
            e.0,
            format!("{}:p: truncated .npy file: shape [1, 1, 4, 4] of float32 needs 64 bytes of data but only 61 are present", s(&f))
        );
        let e = npz::read(&d.join(format!("t{deflate}.npz:p"))).unwrap_err();
        assert!(e.0.starts_with(&format!("{}:p: truncated", s(&f))), "{}", e.0);
    }
}

/// Members declaring more than the cap, more than deflate can produce from their compressed
/// size, or (stored) a size other than what they occupy, are refused before a byte is
/// decompressed.
#[test]
fn bomb_like_members_are_refused_from_their_declared_sizes() {
    let m = npy::to_bytes(&randn(&[8], 1).view());
    let z = deflated(&m);
    let cases = [
        // zip64: 5 GiB declared
        (
            Raw { name: "a.npy", method: 8, data: z.clone(), size: 5 << 30, crc: 0 },
            "declares 5368709120 bytes uncompressed, more than the 4294967296",
        ),
        // 4 GiB - 2 from a few dozen deflated bytes
        (Raw { name: "a.npy", method: 8, data: z.clone(), size: 0xFFFF_FFFE, crc: 0 }, "more than deflate can produce"),
        // stored, declaring more than it occupies
        (Raw { name: "a.npy", method: 0, data: m.clone(), size: 1 << 31, crc: 0 }, "a stored member of 2147483648 bytes occupies"),
        // an unsupported method (bzip2)
        (Raw { name: "a.npy", method: 12, data: z.clone(), size: m.len() as u64, crc: 0 }, "compression"),
    ];
    for (i, (raw, needle)) in cases.into_iter().enumerate() {
        let e = npz::read_bytes(&zip_raw(&[raw]), "bomb.npz", None).unwrap_err();
        assert!(e.0.starts_with("bomb.npz") && e.0.contains(needle), "case {i}: {}", e.0);
    }
    // The honest hand-made archive reads, so the refusals above are the sizes'.
    let ok = zip_raw(&[Raw { name: "a.npy", method: 8, data: z, size: m.len() as u64, crc: crc32(&m) }, stored("b.npy", &m)]);
    assert_eq!(npz::read_bytes(&ok, "ok.npz", Some("a")).unwrap(), npz::read_bytes(&ok, "ok.npz", Some("b")).unwrap());
}

/// A member that inflates to far more than it declares (8 MiB of zeros declared as a 16-byte
/// array) is read no further than one byte past its declared size.
#[test]
fn a_member_inflating_past_its_declared_size_is_an_error() {
    let mut m = raw_npy(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (16,), }", &[0; 16]);
    let declared = m.len() as u64;
    m.resize(8 << 20, 0);
    let raw = Raw { name: "a.npy", method: 8, data: deflated(&m), size: declared, crc: crc32(&m[..declared as usize]) };
    let e = npz::read_bytes(&zip_raw(&[raw]), "bomb.npz", Some("a")).unwrap_err();
    assert_eq!(e.0, "bomb.npz:a: corrupt .npy file: shape [16] of uint8 needs 16 bytes of data but 17 are present");
}

/// A member declaring (within the caps) a 4 GB array whose data is not there: under a 1 GiB
/// address-space limit the program ends with one error line (the allocation is tried, not
/// assumed), and without one the missing data is found after the few megabytes present.
#[test]
fn a_member_declaring_a_huge_array_fails_cleanly() {
    let d = tmpdir("npz-huge");
    let n: u64 = 1_000_000_000;
    let mut m = raw_npy(1, &format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({n},), }}"), &[]);
    let declared = m.len() as u64 + 4 * n;
    // 4 MB of incompressible bytes: the deflated size makes the declared one plausible
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    m.extend((0..4_000_000).map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    }));
    let raw = Raw { name: "p.npy", method: 8, data: deflated(&m), size: declared, crc: crc32(&m) };
    let f = d.join("huge.npz");
    std::fs::write(&f, zip_raw(&[raw])).unwrap();
    let e = npz::read(&f).unwrap_err();
    assert!(e.0.starts_with(&format!("{}:p: ", s(&f))), "{}", e.0);
    assert!(e.0.contains("needs 4000000000 bytes of data but only 4000000 are present") || e.0.contains("cannot allocate"), "{}", e.0);
    write_npy(&d.join("t.npy"), &ArrayD::<f32>::zeros(IxDyn(&[1])));
    let args = ["eval", "bce:mode=binary", "--pred", &format!("{}:p", s(&f)), "--target", &s(&d.join("t.npy"))].map(String::from);
    let o = run_with(&args, None, Some(1 << 20), Duration::from_secs(60));
    check_fails(&o, &args, &[&format!("{}:p", s(&f)), "cannot allocate 4000000000 bytes"]);
    let _ = std::fs::remove_dir_all(&d);
}

// ---------------------------------------------------------------- the verbs

/// eval, edt and weight-map read `x.npz:name` as they read the `.npy` file of that array.
#[test]
fn verbs_read_npz_members_as_npy_files() {
    let d = tmpdir("npz-verbs");
    let pred = randn(&[2, 3, 5, 6], 11);
    let labels = ArrayD::from_shape_vec(IxDyn(&[2, 5, 6]), labels(&[2, 5, 6], 3, 12).into_iter().map(|v| v as i64).collect()).unwrap();
    let weight = randn(&[2, 5, 6], 13).mapv(|x| x.abs());
    let mask = ArrayD::from_shape_fn(IxDyn(&[9, 11]), |i| ((i[0] * 7 + i[1] * 3) % 5 < 2) as u8);
    let inst = ArrayD::from_shape_fn(IxDyn(&[9, 11]), |i| (i[0] / 3 * 2 + i[1] / 6) as i32);
    write_npy(&d.join("p.npy"), &pred);
    write_npy(&d.join("t.npy"), &labels);
    write_npy(&d.join("w.npy"), &weight);
    write_npy(&d.join("m.npy"), &mask);
    write_npy(&d.join("i.npy"), &inst);
    let members: Vec<(&str, Vec<u8>)> =
        ["p", "t", "w", "m", "i"].iter().map(|n| (*n, std::fs::read(d.join(format!("{n}.npy"))).unwrap())).collect();
    let named: Vec<(String, &[u8])> = members.iter().map(|(n, b)| (format!("{n}.npy"), b.as_slice())).collect();
    let refs: Vec<(&str, &[u8])> = named.iter().map(|(n, b)| (n.as_str(), *b)).collect();
    std::fs::write(d.join("all.npz"), zip_bytes(&refs, true)).unwrap();
    std::fs::write(d.join("mask.npz"), zip_bytes(&[("mask.npy", &members[3].1)], false)).unwrap();
    let z = |n: &str| format!("{}:{n}", s(&d.join("all.npz")));
    let f = |n: &str| s(&d.join(n));

    let a = ok(&["eval", "ce", "--pred", &f("p.npy"), "--target", &f("t.npy"), "--weight", &f("w.npy"), "--grad-out", &f("g1.npy")]);
    let b = ok(&["eval", "ce", "--pred", &z("p"), "--target", &z("t"), "--weight", &z("w"), "--grad-out", &f("g2.npy")]);
    assert_eq!(a, b);
    assert_eq!(std::fs::read(d.join("g1.npy")).unwrap(), std::fs::read(d.join("g2.npy")).unwrap());

    ok(&["edt", &f("m.npy"), "-o", &f("e1.npy")]);
    ok(&["edt", &z("m"), "-o", &f("e2.npy")]);
    ok(&["edt", &f("mask.npz"), "-o", &f("e3.npy")]);
    let e1 = std::fs::read(d.join("e1.npy")).unwrap();
    assert_eq!(e1, std::fs::read(d.join("e2.npy")).unwrap());
    assert_eq!(e1, std::fs::read(d.join("e3.npy")).unwrap());

    for (input, name) in [("m", "mask"), ("i", "instances")] {
        let _ = name;
        ok(&["weight-map", &f(&format!("{input}.npy")), "-o", &f("w1.npy")]);
        ok(&["weight-map", &z(input), "-o", &f("w2.npy")]);
        assert_eq!(std::fs::read(d.join("w1.npy")).unwrap(), std::fs::read(d.join("w2.npy")).unwrap(), "{input}");
    }

    // A bare archive of several arrays: one error line listing them.
    fails(&["edt", &f("all.npz"), "-o", &f("x.npy")], &[&f("all.npz"), "5 arrays", "p, t, w, m, i"]);
    // The prediction of an .npz member is checked for its dtype like a .npy file.
    fails(&["eval", "ce", "--pred", &z("t"), "--target", &z("t")], &[&z("t"), "float32 or float64", "int64"]);
}

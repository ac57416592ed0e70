//! Unit tests of the `.npy` reader and writer.

use super::*;

fn raw(h: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&[1, 0]);
    bytes.extend_from_slice(&(h.len() as u16).to_le_bytes());
    bytes.extend_from_slice(h.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

#[test]
fn roundtrip_f32() {
    let a = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    let b = to_bytes(&a.view());
    // Header (magic, version, length, dict) padded to a multiple of 64 bytes, ending in '\n'.
    let hl = 10 + ((b[8] as usize) | ((b[9] as usize) << 8));
    assert_eq!((hl % 64, b[hl - 1]), (0, b'\n'));
    assert_eq!(read_bytes(&b, "x").unwrap(), NpyArray::F32(a));
}

#[test]
fn fortran_big_endian() {
    // np.asfortranarray(np.arange(6, dtype='>i4').reshape(2, 3))
    let data: Vec<u8> = [0i32, 3, 1, 4, 2, 5].iter().flat_map(|v| v.to_be_bytes()).collect();
    let a = read_bytes(&raw("{'descr': '>i4', 'fortran_order': True, 'shape': (2, 3), }\n", &data), "x").unwrap();
    let want = ArrayD::from_shape_vec(IxDyn(&[2, 3]), (0..6).collect()).unwrap();
    assert_eq!(a, NpyArray::I32(want));
}

/// Found by tests/fuzz.rs: a newline inside a header key was copied into the message.
#[test]
fn fuzz_regression_newline_in_header_key_stays_one_line() {
    let bytes = raw("{'descr': '<f4', 'fortran_order': False, 'sh\nape': (1,), }\n", &[0; 4]);
    let e = read_bytes(&bytes, "x.npy").unwrap_err();
    assert!(e.0.starts_with("x.npy: malformed .npy header: "), "{}", e.0);
    assert!(!e.0.contains('\n'), "{}", e.0);
}

/// Deep nesting is refused before the crate's recursive parser sees it.
#[test]
fn deeply_nested_header_is_refused() {
    let h = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {}1{}, }}\n", "(".repeat(200_000), ")".repeat(200_000));
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&[2, 0]);
    bytes.extend_from_slice(&(h.len() as u32).to_le_bytes());
    bytes.extend_from_slice(h.as_bytes());
    let e = read_bytes(&bytes, "x.npy").unwrap_err();
    assert_eq!(e.0, "x.npy: malformed .npy header: brackets nested more than 8 deep");
}

#[test]
fn header_errors_are_sentences() {
    let e = read_bytes(&raw("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 4, 4}\n", &[0; 64]), "x").unwrap_err();
    assert!(e.0.starts_with("x: malformed .npy header: not a Python dict literal at 1:"), "{}", e.0);
    let e = read_bytes(&raw("{'descr': '<f4', 'fortran_order': False}\n", &[]), "x").unwrap_err();
    assert_eq!(e.0, "x: malformed .npy header: the key 'shape' is missing");
    let e = read_bytes(&raw("{'descr': '<f4', 'fortran_order': 1, 'shape': ()}\n", &[]), "x").unwrap_err();
    assert_eq!(e.0, "x: malformed .npy header: 'fortran_order' must be True or False, not 1");
    let e = read_bytes(&raw("{'descr': '<f2', 'fortran_order': False, 'shape': ()}\n", &[0, 0]), "x").unwrap_err();
    assert_eq!(e.0, "x: unsupported dtype '<f2' (supported: f4, f8, u1, i4, i8, b1)");
    let e = read_bytes(&raw("{'descr': '|b1', 'fortran_order': False, 'shape': (2,)}\n", &[1, 7]), "x").unwrap_err();
    assert!(e.0.starts_with("x: corrupt .npy file: ") && e.0.contains('7'), "{}", e.0);
}

#[test]
fn scalar_and_empty_shapes() {
    let a = ArrayD::from_elem(IxDyn(&[]), 2.5f64);
    assert_eq!(read_bytes(&to_bytes(&a.view()), "x").unwrap(), NpyArray::F64(a));
    let e = ArrayD::<u8>::zeros(IxDyn(&[0, 4]));
    assert_eq!(read_bytes(&to_bytes(&e.view()), "x").unwrap(), NpyArray::U8(e));
}

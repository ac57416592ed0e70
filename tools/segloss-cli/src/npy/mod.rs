//! A reader and writer of NumPy `.npy` files.
//!
//! Reads format versions 1.0, 2.0 and 3.0, little and big endian, C and Fortran order, with the
//! dtypes `f4`, `f8`, `u1`, `i4`, `i8` and `b1`. Writes version 1.0 (2.0 when the header needs
//! it), little endian, C order. Every error names the file and what is wrong with it; no input
//! makes the reader panic or allocate more than the file's size.
//!
//! A file is read no further than its header declares: the header is at most [`MAX_HEADER_LEN`]
//! bytes, and the data must be exactly the size of the declared shape and dtype, checked from the
//! file's size before the data is read. Trailing bytes after the data are an error (numpy writes
//! none; they mean a corrupt file or a shape that is wrong).

use crate::CliError;
use ndarray::{ArrayD, IxDyn, ShapeBuilder};
use std::io::Read;
use std::path::Path;

mod header;
use header::err;
pub use header::{parse_header, prelude, MAX_HEADER_LEN};

const MAGIC: &[u8] = b"\x93NUMPY";

/// An element type of a `.npy` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    /// `f4`
    F32,
    /// `f8`
    F64,
    /// `u1`
    U8,
    /// `i4`
    I32,
    /// `i8`
    I64,
    /// `b1` (also written `?`)
    Bool,
}

impl Dtype {
    /// The size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::U8 | Dtype::Bool => 1,
        }
    }

    /// The numpy name (`float32`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "float32",
            Dtype::F64 => "float64",
            Dtype::U8 => "uint8",
            Dtype::I32 => "int32",
            Dtype::I64 => "int64",
            Dtype::Bool => "bool",
        }
    }
}

/// The contents of a `.npy` file, in row-major (C) order whatever the file's order.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyArray {
    /// float32
    F32(ArrayD<f32>),
    /// float64
    F64(ArrayD<f64>),
    /// uint8
    U8(ArrayD<u8>),
    /// int32
    I32(ArrayD<i32>),
    /// int64
    I64(ArrayD<i64>),
    /// bool
    Bool(ArrayD<bool>),
}

impl NpyArray {
    /// The shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            NpyArray::F32(a) => a.shape(),
            NpyArray::F64(a) => a.shape(),
            NpyArray::U8(a) => a.shape(),
            NpyArray::I32(a) => a.shape(),
            NpyArray::I64(a) => a.shape(),
            NpyArray::Bool(a) => a.shape(),
        }
    }

    /// The element type.
    pub fn dtype(&self) -> Dtype {
        match self {
            NpyArray::F32(_) => Dtype::F32,
            NpyArray::F64(_) => Dtype::F64,
            NpyArray::U8(_) => Dtype::U8,
            NpyArray::I32(_) => Dtype::I32,
            NpyArray::I64(_) => Dtype::I64,
            NpyArray::Bool(_) => Dtype::Bool,
        }
    }

    /// The values as float32 (float64 is rounded; integers and bools converted), or `None`
    /// when `floats_only` is set and the array is not a float array.
    pub fn to_f32(&self, floats_only: bool) -> Option<ArrayD<f32>> {
        match self {
            NpyArray::F32(a) => Some(a.clone()),
            NpyArray::F64(a) => Some(a.mapv(|x| x as f32)),
            _ if floats_only => None,
            NpyArray::U8(a) => Some(a.mapv(|x| x as f32)),
            NpyArray::I32(a) => Some(a.mapv(|x| x as f32)),
            NpyArray::I64(a) => Some(a.mapv(|x| x as f32)),
            NpyArray::Bool(a) => Some(a.mapv(|x| x as u8 as f32)),
        }
    }
}

/// The parsed header of a `.npy` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Format version (major, minor).
    pub version: (u8, u8),
    /// Element type.
    pub dtype: Dtype,
    /// Whether the data is big endian.
    pub big_endian: bool,
    /// Whether the data is in Fortran (column-major) order.
    pub fortran_order: bool,
    /// The shape.
    pub shape: Vec<usize>,
    /// Byte offset of the data.
    pub data_offset: usize,
}

fn fmt_shape(s: &[usize]) -> String {
    let v: Vec<String> = s.iter().map(|d| d.to_string()).collect();
    format!("[{}]", v.join(", "))
}

/// The size in bytes of the data a header declares.
fn data_len(h: &Header, name: &str) -> Result<usize, CliError> {
    let too_many = || err(name, format!("shape {} has too many elements", fmt_shape(&h.shape)));
    let count = h.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(too_many)?;
    count.checked_mul(h.dtype.size()).ok_or_else(too_many)
}

/// Checks that `present` bytes of data follow the header, `nbytes` being what it declares.
fn check_data_len(h: &Header, nbytes: usize, present: u64, name: &str) -> Result<(), CliError> {
    let (what, only) = match present.cmp(&(nbytes as u64)) {
        std::cmp::Ordering::Equal => return Ok(()),
        std::cmp::Ordering::Less => ("truncated .npy file", "only "),
        std::cmp::Ordering::Greater => ("corrupt .npy file", ""),
    };
    Err(err(
        name,
        format!("{what}: shape {} of {} needs {nbytes} bytes of data but {only}{present} are present", fmt_shape(&h.shape), h.dtype.name()),
    ))
}

/// Parses a whole `.npy` file held in memory; `name` is used in error messages.
pub fn read_bytes(bytes: &[u8], name: &str) -> Result<NpyArray, CliError> {
    let h = parse_header(bytes, name)?;
    let nbytes = data_len(&h, name)?;
    let data = &bytes[h.data_offset..];
    check_data_len(&h, nbytes, data.len() as u64, name)?;
    decode(&h, data, name)
}

/// Decodes the data of a file with header `h` (`data` has the size the header declares).
fn decode(h: &Header, data: &[u8], name: &str) -> Result<NpyArray, CliError> {
    let dim = || -> ndarray::StrideShape<IxDyn> {
        if h.fortran_order {
            IxDyn(&h.shape).f().into()
        } else {
            IxDyn(&h.shape).into()
        }
    };
    macro_rules! decode {
        ($t:ty, $n:expr, $variant:ident) => {{
            let v: Vec<$t> = data
                .chunks_exact($n)
                .map(|c| {
                    let a: [u8; $n] = c.try_into().expect("chunk size");
                    if h.big_endian {
                        <$t>::from_be_bytes(a)
                    } else {
                        <$t>::from_le_bytes(a)
                    }
                })
                .collect();
            let a = ArrayD::from_shape_vec(dim(), v).map_err(|e| err(name, format!("bad shape: {e}")))?;
            NpyArray::$variant(if h.fortran_order { a.as_standard_layout().into_owned() } else { a })
        }};
    }
    Ok(match h.dtype {
        Dtype::F32 => decode!(f32, 4, F32),
        Dtype::F64 => decode!(f64, 8, F64),
        Dtype::I32 => decode!(i32, 4, I32),
        Dtype::I64 => decode!(i64, 8, I64),
        Dtype::U8 => {
            let a = ArrayD::from_shape_vec(dim(), data.to_vec()).map_err(|e| err(name, format!("bad shape: {e}")))?;
            NpyArray::U8(if h.fortran_order { a.as_standard_layout().into_owned() } else { a })
        }
        Dtype::Bool => {
            if let Some(i) = data.iter().position(|&b| b > 1) {
                return Err(err(name, format!("corrupt .npy file: bool element {i} has the byte value {}", data[i])));
            }
            let v: Vec<bool> = data.iter().map(|&b| b == 1).collect();
            let a = ArrayD::from_shape_vec(dim(), v).map_err(|e| err(name, format!("bad shape: {e}")))?;
            NpyArray::Bool(if h.fortran_order { a.as_standard_layout().into_owned() } else { a })
        }
    })
}

/// Reads a `.npy` file, a regular file ([`crate::io::open_regular`]): the magic, version and
/// header length first, then the header (at most [`MAX_HEADER_LEN`] bytes), then, when the
/// file's size is the header's plus exactly the declared data's, that data; never more.
pub fn read(path: &Path) -> Result<NpyArray, CliError> {
    let name = path.display().to_string();
    let (mut f, len) = crate::io::open_regular(path)?;
    let read_err = |e: std::io::Error| crate::io::read_error(path, &e);
    let mut head = Vec::new();
    (&mut f).take(12).read_to_end(&mut head).map_err(read_err)?;
    let (start, hlen) = prelude(&head, &name)?;
    let data_offset = start + hlen;
    if len < data_offset as u64 {
        return Err(err(
            &name,
            format!("truncated .npy file: the header claims {hlen} bytes but only {} follow", len.saturating_sub(start as u64)),
        ));
    }
    (&mut f).take((data_offset.saturating_sub(head.len())) as u64).read_to_end(&mut head).map_err(read_err)?;
    // a header shorter than 2 bytes: the first bytes read are data already
    let mut data = head.split_off(data_offset.min(head.len()));
    let h = parse_header(&head, &name)?;
    let nbytes = data_len(&h, &name)?;
    check_data_len(&h, nbytes, len - data_offset as u64, &name)?;
    data.reserve_exact(nbytes.saturating_sub(data.len()));
    f.take(nbytes.saturating_sub(data.len()) as u64 + 1).read_to_end(&mut data).map_err(read_err)?;
    // the file changed since its size was taken
    check_data_len(&h, nbytes, data.len() as u64, &name)?;
    decode(&h, &data, &name)
}

/// An element type that can be written.
pub trait NpyElem: Copy {
    /// The `descr` string (little endian).
    const DESCR: &'static str;
    /// Appends the little-endian bytes.
    fn put(self, out: &mut Vec<u8>);
}

macro_rules! elem {
    ($t:ty, $d:expr) => {
        impl NpyElem for $t {
            const DESCR: &'static str = $d;
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    };
}
elem!(f32, "<f4");
elem!(f64, "<f8");
elem!(u8, "|u1");
elem!(i32, "<i4");
elem!(i64, "<i8");

impl NpyElem for bool {
    const DESCR: &'static str = "|b1";
    fn put(self, out: &mut Vec<u8>) {
        out.push(self as u8);
    }
}

/// Encodes an array as a version 1.0 `.npy` file (2.0 if the header exceeds 65535 bytes),
/// little endian, C order.
pub fn to_bytes<T: NpyElem>(a: &ndarray::ArrayViewD<'_, T>) -> Vec<u8> {
    let shape = match a.shape() {
        [d] => format!("({d},)"),
        s => format!("({})", s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut dict = format!("{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}", T::DESCR);
    let v2 = dict.len() + 11 > 65535;
    let prefix = if v2 { 12 } else { 10 };
    let total = (prefix + dict.len() + 1).div_ceil(64) * 64;
    while prefix + dict.len() + 1 < total {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = Vec::with_capacity(total + a.len() * std::mem::size_of::<T>());
    out.extend_from_slice(MAGIC);
    if v2 {
        out.extend_from_slice(&[2, 0]);
        out.extend_from_slice(&(dict.len() as u32).to_le_bytes());
    } else {
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    for &x in a.iter() {
        x.put(&mut out);
    }
    out
}

/// Writes an array to a `.npy` file.
pub fn write<T: NpyElem>(path: &Path, a: &ndarray::ArrayViewD<'_, T>) -> Result<(), CliError> {
    std::fs::write(path, to_bytes(a)).map_err(|e| CliError::new(format!("{}: cannot write: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut bytes = MAGIC.to_vec();
        let h = "{'descr': '>i4', 'fortran_order': True, 'shape': (2, 3), }\n";
        bytes.extend_from_slice(&[1, 0]);
        bytes.extend_from_slice(&(h.len() as u16).to_le_bytes());
        bytes.extend_from_slice(h.as_bytes());
        for v in [0i32, 3, 1, 4, 2, 5] {
            bytes.extend_from_slice(&v.to_be_bytes());
        }
        let a = read_bytes(&bytes, "x").unwrap();
        let want = ArrayD::from_shape_vec(IxDyn(&[2, 3]), (0..6).collect()).unwrap();
        assert_eq!(a, NpyArray::I32(want));
    }

    /// Found by tests/fuzz.rs: a newline inside a header key was copied into the message.
    #[test]
    fn fuzz_regression_newline_in_header_key_stays_one_line() {
        let h = "{'descr': '<f4', 'fortran_order': False, 'sh\nape': (1,), }\n";
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[1, 0]);
        bytes.extend_from_slice(&(h.len() as u16).to_le_bytes());
        bytes.extend_from_slice(h.as_bytes());
        let e = read_bytes(&bytes, "x.npy").unwrap_err();
        assert_eq!(e.0, "x.npy: malformed .npy header: unexpected key 'sh\\nape'");
    }

    #[test]
    fn scalar_and_empty_shapes() {
        let a = ArrayD::from_elem(IxDyn(&[]), 2.5f64);
        assert_eq!(read_bytes(&to_bytes(&a.view()), "x").unwrap(), NpyArray::F64(a));
        let e = ArrayD::<u8>::zeros(IxDyn(&[0, 4]));
        assert_eq!(read_bytes(&to_bytes(&e.view()), "x").unwrap(), NpyArray::U8(e));
    }
}

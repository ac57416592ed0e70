//! `.npy` files, read and written with the `ndarray-npy` crate, and `.npz` archives of them
//! ([`npz`]).
//!
//! Reads format versions 1.0, 2.0 and 3.0, little and big endian, C and Fortran order, with the
//! dtypes `f4`, `f8`, `u1`, `i4`, `i8` and `b1`; a Fortran-order array comes out with its logical
//! layout, in row-major (C) order. Writes little endian, C order (version 1.0, or 2.0 when the
//! header needs it). Every error names the file and what is wrong with it; no input makes the
//! reader panic or allocate more than the file's size.
//!
//! The crate parses the header dict and decodes the elements; before it sees them, this module
//! bounds what it is given: the header is at most [`MAX_HEADER_LEN`] bytes with brackets nested
//! at most [`MAX_HEADER_NESTING`] deep, and the data must be exactly the size of the declared
//! shape and dtype, checked from the file's size before the data is read. Trailing bytes after
//! the data are an error (numpy writes none; they mean a corrupt file or a shape that is wrong).

use crate::CliError;
use ndarray::{ArrayD, IxDyn, ShapeBuilder};
use ndarray_npy::npy::header::{Header as CrateHeader, ParseHeaderError, ReadHeaderError};
use ndarray_npy::{ReadDataError, ReadableElement, WritableElement, WriteNpyExt};
use py_literal::Value as PyValue;
use std::io::Read;
use std::path::Path;

pub mod npz;

const MAGIC: &[u8] = b"\x93NUMPY";

/// The largest header (the dict, with its padding) read: numpy writes headers of 64 to a few
/// hundred bytes (its own reader refuses more than 10000 by default).
pub const MAX_HEADER_LEN: usize = 1 << 20;

/// The deepest nesting of brackets in a header: numpy's dict of a string, a bool and a tuple
/// nests 2 deep; the bound keeps the crate's recursive parser off deep inputs.
pub const MAX_HEADER_NESTING: usize = 8;

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

    /// The type code without byte order (`f4`, ...).
    fn code(self) -> &'static str {
        match self {
            Dtype::F32 => "f4",
            Dtype::F64 => "f8",
            Dtype::U8 => "u1",
            Dtype::I32 => "i4",
            Dtype::I64 => "i8",
            Dtype::Bool => "b1",
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

/// An error naming the file; control characters of the message (which may quote header text)
/// are escaped so that it stays one line.
pub(crate) fn err(name: &str, msg: impl std::fmt::Display) -> CliError {
    let msg: String =
        msg.to_string().chars().flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] }).collect();
    CliError::new(format!("{name}: {msg}"))
}

/// `s` cut to its first 120 characters (header text quoted in messages).
fn clip(s: &str) -> String {
    match s.char_indices().nth(120) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

fn fmt_shape(s: &[usize]) -> String {
    let v: Vec<String> = s.iter().map(|d| d.to_string()).collect();
    format!("[{}]", v.join(", "))
}

/// Checks the magic, version and header length at the start of a `.npy` file, from its first
/// bytes (12 are enough): returns where the header dict starts and its length, at most
/// [`MAX_HEADER_LEN`].
pub fn prelude(bytes: &[u8], name: &str) -> Result<(usize, usize), CliError> {
    if bytes.len() < 8 {
        return Err(err(name, format!("not a .npy file: only {} bytes (truncated?)", bytes.len())));
    }
    if &bytes[..6] != MAGIC {
        return Err(err(name, "not a .npy file: the magic string \\x93NUMPY is missing"));
    }
    let len_bytes = match (bytes[6], bytes[7]) {
        (1, 0) => 2,
        (2 | 3, 0) => 4,
        (a, b) => return Err(err(name, format!("unsupported .npy format version {a}.{b} (supported: 1.0, 2.0, 3.0)"))),
    };
    if bytes.len() < 8 + len_bytes {
        return Err(err(name, "truncated .npy file: the header length is missing"));
    }
    let hlen = if len_bytes == 2 {
        u16::from_le_bytes([bytes[8], bytes[9]]) as usize
    } else {
        u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize
    };
    if hlen > MAX_HEADER_LEN {
        return Err(err(name, format!("corrupt .npy file: a header of {hlen} bytes is larger than the {MAX_HEADER_LEN} bytes allowed")));
    }
    Ok((8 + len_bytes, hlen))
}

/// The message of a header the crate refuses, one line.
fn header_error(e: ReadHeaderError) -> String {
    let e = match e {
        ReadHeaderError::Parse(e) => e,
        // the bytes handed over hold the whole header
        ReadHeaderError::Io(e) => return format!("truncated .npy file: {e}"),
    };
    match e {
        ParseHeaderError::NonAscii => "the header of a version 1.0/2.0 .npy file must be ASCII".into(),
        ParseHeaderError::Utf8Parse(_) => "the header of a version 3.0 .npy file is not valid UTF-8".into(),
        ParseHeaderError::UnknownKey(k) => format!("malformed .npy header: unexpected key {}", clip(&k.to_string())),
        // (the crate names the missing shape `shaper`)
        ParseHeaderError::MissingKey(k) => {
            format!("malformed .npy header: the key '{}' is missing", if k == "shaper" { "shape" } else { &k })
        }
        ParseHeaderError::IllegalValue { key, value } => {
            let want = match key.as_str() {
                "shape" => "a tuple of integers",
                "fortran_order" => "True or False",
                _ => "another value",
            };
            format!("malformed .npy header: '{key}' must be {want}, not {}", clip(&value.to_string()))
        }
        ParseHeaderError::DictParse(e) => {
            // pest's report spans lines: ` --> 1:5`, the quoted text, `= expected ...`
            let text = e.to_string();
            let at = text.lines().find_map(|l| l.split_once("--> ")).map(|(_, p)| format!(" at {}", p.trim()));
            let what = text.lines().rev().find_map(|l| l.trim().strip_prefix("= ")).unwrap_or_else(|| text.lines().next().unwrap_or(""));
            format!("malformed .npy header: not a Python dict literal{}: {}", at.unwrap_or_default(), clip(what))
        }
        ParseHeaderError::MetaNotDict(v) => format!("malformed .npy header: not a dict: {}", clip(&v.to_string())),
        ParseHeaderError::MissingNewline => "malformed .npy header: it does not end with a newline".into(),
        other => format!("malformed .npy header: {}", clip(&other.to_string())),
    }
}

fn parse_descr(d: &str) -> Result<(Dtype, bool), String> {
    let unsupported = || format!("unsupported dtype '{}' (supported: f4, f8, u1, i4, i8, b1)", clip(d));
    let (order, code) = match d.as_bytes().first() {
        Some(b'<' | b'>' | b'|' | b'=') => (d.as_bytes()[0], &d[1..]),
        _ => (b'=', d),
    };
    let dtype = match code {
        "f4" => Dtype::F32,
        "f8" => Dtype::F64,
        "u1" | "B" => Dtype::U8,
        "i4" => Dtype::I32,
        "i8" => Dtype::I64,
        "b1" | "?" => Dtype::Bool,
        _ => return Err(unsupported()),
    };
    let big = match order {
        b'>' => true,
        b'<' => false,
        b'|' => {
            if dtype.size() != 1 {
                return Err(format!("dtype '{d}' has no byte order ('|') but elements of {} bytes", dtype.size()));
            }
            false
        }
        _ => cfg!(target_endian = "big"),
    };
    Ok((dtype, big))
}

/// Parses the magic, version and header dict of a `.npy` file (`bytes` holds at least the
/// header; what follows is not read). The dict is parsed by `ndarray-npy`, after the bounds of
/// [`prelude`] and [`MAX_HEADER_NESTING`] are checked.
pub fn parse_header(bytes: &[u8], name: &str) -> Result<Header, CliError> {
    let (start, hlen) = prelude(bytes, name)?;
    let version = (bytes[6], bytes[7]);
    let data_offset = start + hlen;
    if bytes.len() < data_offset {
        return Err(err(name, format!("truncated .npy file: the header claims {hlen} bytes but only {} follow", bytes.len() - start)));
    }
    let mut depth = 0usize;
    for &c in &bytes[start..data_offset] {
        match c {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > MAX_HEADER_NESTING {
            return Err(err(name, format!("malformed .npy header: brackets nested more than {MAX_HEADER_NESTING} deep")));
        }
    }
    let h = CrateHeader::from_reader(&mut &bytes[..data_offset]).map_err(|e| err(name, header_error(e)))?;
    let (dtype, big_endian) = match &h.type_descriptor {
        PyValue::String(d) => parse_descr(d).map_err(|m| err(name, m))?,
        PyValue::List(_) => {
            return Err(err(name, "unsupported dtype: structured dtypes are not supported (supported: f4, f8, u1, i4, i8, b1)"))
        }
        other => return Err(err(name, format!("malformed .npy header: 'descr' must be a string, not {}", clip(&other.to_string())))),
    };
    Ok(Header { version, dtype, big_endian, fortran_order: h.layout.is_fortran(), shape: h.shape, data_offset })
}

/// The size in bytes of the data a header declares.
fn data_len(h: &Header, name: &str) -> Result<usize, CliError> {
    let too_many = || err(name, format!("shape {} has too many elements", fmt_shape(&h.shape)));
    let count = h.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(too_many)?;
    count.checked_mul(h.dtype.size()).filter(|&n| n <= isize::MAX as usize).ok_or_else(too_many)
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

/// Decodes the data of a file with header `h` (`data` has the size the header declares) with
/// the crate's element readers, and puts a Fortran-order array in C order.
fn decode(h: &Header, data: &[u8], name: &str) -> Result<NpyArray, CliError> {
    fn one<T: ReadableElement + Clone>(h: &Header, data: &[u8], name: &str) -> Result<ArrayD<T>, CliError> {
        let order = if h.dtype.size() == 1 {
            '|'
        } else if h.big_endian {
            '>'
        } else {
            '<'
        };
        let descr = PyValue::String(format!("{order}{}", h.dtype.code()));
        let len = data.len() / h.dtype.size();
        let v = T::read_to_end_exact_vec(data, &descr, len).map_err(|e| match e {
            ReadDataError::ParseData(e) => err(name, format!("corrupt .npy file: {e}")),
            e => err(name, format!("corrupt .npy file: {e}")),
        })?;
        let shape = IxDyn(&h.shape);
        let a = ArrayD::from_shape_vec(if h.fortran_order { shape.f() } else { shape.into() }, v)
            .map_err(|e| err(name, format!("bad shape: {e}")))?;
        Ok(if h.fortran_order { a.as_standard_layout().into_owned() } else { a })
    }
    Ok(match h.dtype {
        Dtype::F32 => NpyArray::F32(one(h, data, name)?),
        Dtype::F64 => NpyArray::F64(one(h, data, name)?),
        Dtype::U8 => NpyArray::U8(one(h, data, name)?),
        Dtype::I32 => NpyArray::I32(one(h, data, name)?),
        Dtype::I64 => NpyArray::I64(one(h, data, name)?),
        Dtype::Bool => NpyArray::Bool(one(h, data, name)?),
    })
}

/// Reads a `.npy` file, a regular file ([`crate::io::open_regular`]): the magic, version and
/// header length first, then the header (at most [`MAX_HEADER_LEN`] bytes), then, when the
/// file's size is the header's plus exactly the declared data's, that data; never more.
pub fn read(path: &Path) -> Result<NpyArray, CliError> {
    let name = path.display().to_string();
    let (f, len) = crate::io::open_regular(path)?;
    read_stream(f, len, &name, &|e| crate::io::read_error(path, &e))
}

/// Reads a `.npy` file of `len` bytes from `r`, as [`read`] does: no further than its header
/// declares, and nothing unless `len` is exactly the header's size plus the data's. `io_err`
/// words a read error.
pub(crate) fn read_stream(
    mut r: impl Read,
    len: u64,
    name: &str,
    io_err: &dyn Fn(std::io::Error) -> CliError,
) -> Result<NpyArray, CliError> {
    let mut head = Vec::new();
    (&mut r).take(12).read_to_end(&mut head).map_err(io_err)?;
    let (start, hlen) = prelude(&head, name)?;
    let data_offset = start + hlen;
    if len < data_offset as u64 {
        return Err(err(
            name,
            format!("truncated .npy file: the header claims {hlen} bytes but only {} follow", len.saturating_sub(start as u64)),
        ));
    }
    (&mut r).take((data_offset.saturating_sub(head.len())) as u64).read_to_end(&mut head).map_err(io_err)?;
    // a header shorter than 2 bytes: the first bytes read are data already
    let mut data = head.split_off(data_offset.min(head.len()));
    let h = parse_header(&head, name)?;
    let nbytes = data_len(&h, name)?;
    check_data_len(&h, nbytes, len - data_offset as u64, name)?;
    data.try_reserve_exact(nbytes.saturating_sub(data.len()))
        .map_err(|_| err(name, format!("cannot allocate {nbytes} bytes for the data of shape {}", fmt_shape(&h.shape))))?;
    r.take(nbytes.saturating_sub(data.len()) as u64 + 1).read_to_end(&mut data).map_err(io_err)?;
    // the file changed since its size was taken
    check_data_len(&h, nbytes, data.len() as u64, name)?;
    decode(&h, &data, name)
}

/// An element type that can be written: `f32`, `f64`, `u8`, `i32`, `i64`, `bool`.
pub trait NpyElem: WritableElement + Copy {}

impl NpyElem for f32 {}
impl NpyElem for f64 {}
impl NpyElem for u8 {}
impl NpyElem for i32 {}
impl NpyElem for i64 {}
impl NpyElem for bool {}

/// Encodes an array as a `.npy` file (by `ndarray-npy`): version 1.0 (2.0 if the header exceeds
/// 65535 bytes), little endian, C order (Fortran order for a Fortran-contiguous view).
pub fn to_bytes<T: NpyElem>(a: &ndarray::ArrayViewD<'_, T>) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + std::mem::size_of_val(a.as_slice_memory_order().unwrap_or(&[])));
    // Writing these element types to a Vec cannot fail.
    a.write_npy(&mut out).expect("writing a .npy to memory");
    out
}

/// Writes an array to a `.npy` file.
pub fn write<T: NpyElem>(path: &Path, a: &ndarray::ArrayViewD<'_, T>) -> Result<(), CliError> {
    let cannot = |e: &dyn std::fmt::Display| CliError::new(format!("{}: cannot write: {e}", path.display()));
    let f = std::fs::File::create(path).map_err(|e| cannot(&e))?;
    let mut w = std::io::BufWriter::new(f);
    a.write_npy(&mut w).map_err(|e| cannot(&e))?;
    std::io::Write::flush(&mut w).map_err(|e| cannot(&e))
}

#[cfg(test)]
mod tests;

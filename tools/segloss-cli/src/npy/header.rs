//! The header of a `.npy` file: magic, version and the Python dict literal.

use super::{Dtype, Header, MAGIC};
use crate::CliError;

/// An error naming the file; control characters of the message (which may quote header text)
/// are escaped so that it stays one line.
pub(super) fn err(name: &str, msg: impl std::fmt::Display) -> CliError {
    let msg: String =
        msg.to_string().chars().flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] }).collect();
    CliError::new(format!("{name}: {msg}"))
}

/// A Python literal of the header dict.
#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Str(String),
    Bool(bool),
    Tuple(Vec<u64>),
}

struct HeaderParser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl HeaderParser<'_> {
    fn ws(&mut self) {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected `{}` at byte {} of the header", c as char, self.pos))
        }
    }
    fn string(&mut self) -> Result<String, String> {
        self.ws();
        let q = match self.s.get(self.pos) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => return Err(format!("expected a quoted string at byte {} of the header", self.pos)),
        };
        let start = self.pos + 1;
        let end = self.s[start..]
            .iter()
            .position(|&c| c == q)
            .map(|p| start + p)
            .ok_or_else(|| "unterminated string in the header".to_string())?;
        self.pos = end + 1;
        String::from_utf8(self.s[start..end].to_vec()).map_err(|_| "a header string is not valid text".to_string())
    }
    fn value(&mut self) -> Result<Lit, String> {
        self.ws();
        match self.s.get(self.pos) {
            Some(b'\'' | b'"') => Ok(Lit::Str(self.string()?)),
            Some(b'(') => {
                self.pos += 1;
                let mut v = Vec::new();
                loop {
                    if self.eat(b')') {
                        break;
                    }
                    self.ws();
                    let start = self.pos;
                    while self.s.get(self.pos).is_some_and(|c| c.is_ascii_digit()) {
                        self.pos += 1;
                    }
                    if self.pos == start {
                        return Err(format!("expected a dimension (a non-negative integer) at byte {} of the header", self.pos));
                    }
                    // Python 2 era writers may add an `L` suffix.
                    let digits = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("");
                    let d: u64 = digits.parse().map_err(|_| format!("dimension {digits} is too large"))?;
                    if self.s.get(self.pos) == Some(&b'L') {
                        self.pos += 1;
                    }
                    v.push(d);
                    if self.eat(b')') {
                        break;
                    }
                    self.expect(b',')?;
                }
                Ok(Lit::Tuple(v))
            }
            _ => {
                let rest = &self.s[self.pos..];
                if rest.starts_with(b"True") {
                    self.pos += 4;
                    Ok(Lit::Bool(true))
                } else if rest.starts_with(b"False") {
                    self.pos += 5;
                    Ok(Lit::Bool(false))
                } else {
                    Err(format!("unexpected value at byte {} of the header", self.pos))
                }
            }
        }
    }
    fn dict(&mut self) -> Result<Vec<(String, Lit)>, String> {
        self.expect(b'{')?;
        let mut out: Vec<(String, Lit)> = Vec::new();
        loop {
            if self.eat(b'}') {
                break;
            }
            let k = self.string()?;
            self.expect(b':')?;
            let v = self.value()?;
            if out.iter().any(|(e, _)| *e == k) {
                return Err(format!("the key '{k}' appears twice in the header"));
            }
            out.push((k, v));
            if self.eat(b'}') {
                break;
            }
            self.expect(b',')?;
        }
        self.ws();
        if self.pos != self.s.len() {
            return Err(format!("unexpected text after the header dict at byte {}", self.pos));
        }
        Ok(out)
    }
}

fn parse_descr(d: &str) -> Result<(Dtype, bool), String> {
    let unsupported = || format!("unsupported dtype '{d}' (supported: f4, f8, u1, i4, i8, b1)");
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

/// The largest header (the dict, with its padding) read: numpy writes headers of 64 to a few
/// hundred bytes (its own reader refuses more than 10000 by default).
pub const MAX_HEADER_LEN: usize = 1 << 20;

/// Checks the magic, version and header length at the start of a `.npy` file, from its first
/// bytes (12 are enough): returns where the header dict starts and its length, at most
/// [`MAX_HEADER_LEN`].
pub fn prelude(bytes: &[u8], name: &str) -> Result<(usize, usize), CliError> {
    let (start, hlen, _) = prelude_version(bytes, name)?;
    Ok((start, hlen))
}

fn prelude_version(bytes: &[u8], name: &str) -> Result<(usize, usize, bool), CliError> {
    if bytes.len() < 8 {
        return Err(err(name, format!("not a .npy file: only {} bytes (truncated?)", bytes.len())));
    }
    if &bytes[..6] != MAGIC {
        return Err(err(name, "not a .npy file: the magic string \\x93NUMPY is missing"));
    }
    let version = (bytes[6], bytes[7]);
    let (len_bytes, utf8) = match version.0 {
        1 => (2, false),
        2 => (4, false),
        3 => (4, true),
        v => return Err(err(name, format!("unsupported .npy format version {v}.{} (supported: 1.0, 2.0, 3.0)", version.1))),
    };
    if version.1 != 0 {
        return Err(err(name, format!("unsupported .npy format version {}.{} (supported: 1.0, 2.0, 3.0)", version.0, version.1)));
    }
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
    Ok((8 + len_bytes, hlen, utf8))
}

/// Parses the magic, version and header dict of a `.npy` file.
pub fn parse_header(bytes: &[u8], name: &str) -> Result<Header, CliError> {
    let (start, hlen, utf8) = prelude_version(bytes, name)?;
    let version = (bytes[6], bytes[7]);
    let data_offset = start.checked_add(hlen).ok_or_else(|| err(name, "header length overflows"))?;
    if bytes.len() < data_offset {
        return Err(err(name, format!("truncated .npy file: the header claims {hlen} bytes but only {} follow", bytes.len() - start)));
    }
    let raw = &bytes[start..data_offset];
    if !utf8 && !raw.is_ascii() {
        return Err(err(name, "the header of a version 1.0/2.0 .npy file must be ASCII"));
    }
    if utf8 && std::str::from_utf8(raw).is_err() {
        return Err(err(name, "the header of a version 3.0 .npy file is not valid UTF-8"));
    }
    let mut p = HeaderParser { s: raw, pos: 0 };
    let dict = p.dict().map_err(|m| err(name, format!("malformed .npy header: {m}")))?;
    let get = |k: &str| dict.iter().find(|(e, _)| e == k).map(|(_, v)| v.clone());
    if let Some((k, _)) = dict.iter().find(|(k, _)| !matches!(k.as_str(), "descr" | "fortran_order" | "shape")) {
        return Err(err(name, format!("malformed .npy header: unexpected key '{k}'")));
    }
    let (dtype, big_endian) = match get("descr") {
        Some(Lit::Str(d)) => parse_descr(&d).map_err(|m| err(name, m))?,
        Some(_) => return Err(err(name, "malformed .npy header: 'descr' must be a string (structured dtypes are not supported)")),
        None => return Err(err(name, "malformed .npy header: the key 'descr' is missing")),
    };
    let fortran_order = match get("fortran_order") {
        Some(Lit::Bool(b)) => b,
        Some(_) => return Err(err(name, "malformed .npy header: 'fortran_order' must be True or False")),
        None => return Err(err(name, "malformed .npy header: the key 'fortran_order' is missing")),
    };
    let shape = match get("shape") {
        Some(Lit::Tuple(v)) => v,
        Some(_) => return Err(err(name, "malformed .npy header: 'shape' must be a tuple of integers")),
        None => return Err(err(name, "malformed .npy header: the key 'shape' is missing")),
    };
    let shape: Vec<usize> = shape
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| err(name, format!("dimension {d} is too large"))))
        .collect::<Result<_, _>>()?;
    Ok(Header { version, dtype, big_endian, fortran_order, shape, data_offset })
}

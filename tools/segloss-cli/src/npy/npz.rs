//! `.npz` archives: zip files of `.npy` members, as `numpy.savez` (stored) and
//! `numpy.savez_compressed` (deflated) write them, read with the `zip` crate.
//!
//! An input path `ARCHIVE.npz:NAME` is the array `NAME` (the member `NAME.npy`) of the archive;
//! a bare `ARCHIVE.npz` is its one array, and an error listing the arrays when it holds several.
//!
//! Bounded like a `.npy` file: before a member is decompressed, its declared uncompressed size
//! must be at most [`MAX_MEMBER_BYTES`], no more than its compression can produce from its
//! compressed size (equal for a stored member, at most [`DEFLATE_MAX_RATIO`] times for a
//! deflated one, which is deflate's limit) and the `.npy` header it starts with must declare
//! exactly that size; the member is then read through a reader that stops one byte past the
//! declared size, so a member that inflates to more than it declares (a zip bomb, a lying
//! header) is an error after at most that many bytes, never an exhausted memory.

use super::{err, read_stream, NpyArray};
use crate::CliError;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use zip::result::ZipError;
use zip::{CompressionMethod, ZipArchive};

/// The largest declared uncompressed size of a member read (4 GiB).
pub const MAX_MEMBER_BYTES: u64 = 4 << 30;

/// The largest ratio of uncompressed to compressed size deflate can reach (258-byte matches
/// coded in about 2 bits), plus a little for the block headers of a short stream.
pub const DEFLATE_MAX_RATIO: u64 = 1032;

/// When `path` names an `.npz` input, the archive and the array name: `a.npz` gives
/// (`a.npz`, `None`), `a.npz:logits` gives (`a.npz`, `Some("logits")`) (split at the last
/// `.npz:`, the extension in any case).
pub fn split(path: &Path) -> Option<(PathBuf, Option<String>)> {
    let s = path.to_str()?;
    let lower = s.to_ascii_lowercase();
    if let Some(i) = lower.rfind(".npz:") {
        return Some((PathBuf::from(&s[..i + 4]), Some(s[i + 5..].to_string())));
    }
    lower.ends_with(".npz").then(|| (path.to_path_buf(), None))
}

/// Reads the array an input path names, `ARCHIVE.npz:NAME` or `ARCHIVE.npz` ([`split`]); the
/// archive is a regular file ([`crate::io::open_regular`]).
pub fn read(path: &Path) -> Result<NpyArray, CliError> {
    let (archive, member) =
        split(path).ok_or_else(|| CliError::new(format!("{}: not an .npz input (ARCHIVE.npz or ARCHIVE.npz:NAME)", path.display())))?;
    let (f, len) = crate::io::open_regular(&archive)?;
    read_from(std::io::BufReader::new(f), len, &archive.display().to_string(), member.as_deref())
}

/// [`read`] on an archive held in memory; `archive` names it in messages.
pub fn read_bytes(bytes: &[u8], archive: &str, member: Option<&str>) -> Result<NpyArray, CliError> {
    read_from(std::io::Cursor::new(bytes), bytes.len() as u64, archive, member)
}

/// The message of a zip error.
fn zip_error(e: ZipError) -> String {
    match e {
        ZipError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "not a valid .npz file (a zip archive): it ends before the end of a record (truncated?)".into()
        }
        ZipError::Io(e) => format!("cannot read: {e}"),
        ZipError::InvalidArchive(m) => format!("not a valid .npz file (a zip archive): {m}"),
        ZipError::UnsupportedArchive(m) => format!("unsupported .npz file (zip archive): {m}"),
        e => e.to_string(),
    }
}

/// Array names (member names without `.npy`) for messages: at most 20, each clipped.
fn list(names: &[String]) -> String {
    let mut v: Vec<String> = names.iter().take(20).map(|n| super::clip(n)).collect();
    if names.len() > 20 {
        v.push(format!("... ({} more)", names.len() - 20));
    }
    v.join(", ")
}

/// Reads the array `member` (or the only array) of an `.npz` archive of `len` bytes.
pub fn read_from<R: Read + Seek>(r: R, len: u64, archive: &str, member: Option<&str>) -> Result<NpyArray, CliError> {
    let mut zip = ZipArchive::new(r).map_err(|e| err(archive, zip_error(e)))?;
    let arrays: Vec<String> = zip.file_names().filter_map(|n| n.strip_suffix(".npy")).map(str::to_string).collect();
    let array = match member {
        Some("") => return Err(err(archive, "no array name after `.npz:` (ARCHIVE.npz:NAME)")),
        Some(m) => m.strip_suffix(".npy").unwrap_or(m).to_string(),
        None => match arrays.as_slice() {
            [one] => one.clone(),
            [] => return Err(err(archive, "the archive holds no arrays (.npy members)")),
            _ => {
                return Err(err(
                    archive,
                    format!("the archive holds {} arrays ({}): name one as {archive}:NAME", arrays.len(), list(&arrays)),
                ))
            }
        },
    };
    let name = format!("{archive}:{array}");
    let index = zip.index_for_name(&format!("{array}.npy")).ok_or_else(|| {
        let held = if arrays.is_empty() { "none".to_string() } else { list(&arrays) };
        err(archive, format!("no array '{}' (member {}.npy) in the archive; its arrays: {held}", super::clip(&array), super::clip(&array)))
    })?;
    // the member's sizes and method, from the archive's directory, before any decompression
    let (size, packed, method) = {
        let f = zip.by_index_raw(index).map_err(|e| err(&name, zip_error(e)))?;
        (f.size(), f.compressed_size(), f.compression())
    };
    if packed > len {
        return Err(err(&name, format!("corrupt .npz file: the member declares {packed} compressed bytes, the archive has {len}")));
    }
    if size > MAX_MEMBER_BYTES {
        return Err(err(&name, format!("the member declares {size} bytes uncompressed, more than the {MAX_MEMBER_BYTES} bytes allowed")));
    }
    match method {
        CompressionMethod::Stored if size != packed => {
            return Err(err(&name, format!("corrupt .npz file: a stored member of {size} bytes occupies {packed} bytes")))
        }
        CompressionMethod::Stored => {}
        CompressionMethod::Deflated if size > packed.saturating_mul(DEFLATE_MAX_RATIO).saturating_add(DEFLATE_MAX_RATIO) => {
            return Err(err(
                &name,
                format!(
                    "corrupt .npz file: the member declares {size} bytes from {packed} deflated bytes, more than deflate can produce \
                     ({DEFLATE_MAX_RATIO} to 1)"
                ),
            ))
        }
        CompressionMethod::Deflated => {}
        other => return Err(err(&name, format!("unsupported compression method {other} (supported: stored, deflated)"))),
    }
    let f = zip.by_index(index).map_err(|e| err(&name, zip_error(e)))?;
    read_stream(f, size, &name, &|e| err(&name, format!("cannot read the member: {e}")))
}

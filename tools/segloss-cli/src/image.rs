//! PNG input (masks and label images) and output (heat maps with a colour scale bar, label maps
//! with a legend), through the `png` crate.
//!
//! Input: 1/2/4/8/16-bit grayscale or palette-indexed PNGs; each pixel's stored value is its label
//! (palette indices are labels too, as in the Pascal VOC label images). Colour, gray+alpha and
//! RGBA images are rejected: they are pictures, not masks.
//!
//! Output layout (used by the tests): the images are tiled in a grid with their top-left corner at
//! (`MARGIN`, `MARGIN`), `GAP` pixels apart; the colour bar (heat maps) or the legend (label maps)
//! starts `MARGIN` pixels right of the tiles, `BAR_W` pixels wide, from `MARGIN` to
//! `MARGIN + bar height` (top = the maximum).

use crate::npy::NpyArray;
use crate::CliError;
use ndarray::{Array2, ArrayView2, IxDyn};
use std::io::{BufRead, Cursor, Seek};
use std::path::Path;

/// Outer margin of the output images, in pixels.
pub const MARGIN: usize = 8;
/// Gap between tiled images.
pub const GAP: usize = 4;
/// Width of the colour bar.
pub const BAR_W: usize = 16;
/// Largest decoded PNG (bytes of the output buffer) this reader accepts.
pub const MAX_DECODED_BYTES: usize = 1 << 30;
/// Background colour of the output images.
pub const BACKGROUND: [u8; 3] = [255, 255, 255];
/// Colour of non-finite values (e.g. `+inf` distances of an image without background).
pub const NONFINITE: [u8; 3] = [255, 0, 255];

fn err(name: &str, msg: impl std::fmt::Display) -> CliError {
    CliError::new(format!("{name}: {msg}"))
}

/// A check of a PNG's size (width, height) made from its header, before its pixels are decoded.
pub type SizeCheck<'a> = &'a dyn Fn(usize, usize) -> Result<(), CliError>;

/// A decoding error of the `png` crate as a sentence: its messages print some values as Rust
/// debug structs (`ChunkType { type: IHDR, critical: true, ... }`), which become the chunk's
/// name; a CRC mismatch is said in words.
pub fn png_message(e: &png::DecodingError) -> String {
    if let png::DecodingError::IoError(io) = e {
        if io.kind() == std::io::ErrorKind::UnexpectedEof {
            return "the file ends before the image does (truncated)".into();
        }
    }
    let mut text = e.to_string();
    // `ChunkType { type: IHDR, ... }` -> `IHDR`
    while let Some(i) = text.find("ChunkType { type: ") {
        let rest = &text[i + "ChunkType { type: ".len()..];
        let name: String = rest.chars().take_while(|c| *c != ',' && *c != ' ' && *c != '}').collect();
        let end = rest.find('}').map_or(text.len(), |j| i + "ChunkType { type: ".len() + j + 1);
        text.replace_range(i..end, &name);
    }
    if text.starts_with("CRC error") {
        let chunk = text.split("while decoding ").nth(1).and_then(|r| r.split(' ').next()).unwrap_or("a");
        return format!("the checksum (CRC) of the {chunk} chunk does not match its data: the file is damaged");
    }
    text.trim_end_matches('.').to_string()
}

/// Decodes a mask or label PNG held in memory into a `[H, W]` array: `U8` for bit depths up to 8
/// and palette images, `I32` for 16-bit images.
pub fn read_bytes(bytes: &[u8], name: &str) -> Result<NpyArray, CliError> {
    read_bytes_checked(bytes, name, &|_, _| Ok(()))
}

/// [`read_bytes`] with the size check of [`read_checked`].
pub fn read_bytes_checked(bytes: &[u8], name: &str, check: SizeCheck<'_>) -> Result<NpyArray, CliError> {
    decode(Cursor::new(bytes), name, check)
}

/// Decodes a PNG from a stream, reading no further than the end of the image: its header
/// first, whose size `check` sees before anything else is decoded.
fn decode<R: BufRead + Seek>(r: R, name: &str, check: SizeCheck<'_>) -> Result<NpyArray, CliError> {
    let mut dec = png::Decoder::new_with_limits(r, png::Limits { bytes: MAX_DECODED_BYTES });
    dec.set_transformations(png::Transformations::IDENTITY);
    let mut reader = dec.read_info().map_err(|e| err(name, format!("not a readable PNG: {}", png_message(&e))))?;
    let (w, h, color, depth) = {
        let info = reader.info();
        (info.width as usize, info.height as usize, info.color_type, info.bit_depth)
    };
    check(w, h)?;
    match color {
        png::ColorType::Grayscale | png::ColorType::Indexed => {}
        png::ColorType::Rgb => {
            return Err(err(name, "an RGB colour PNG is not a mask: a mask or label image must be grayscale or palette-indexed"))
        }
        png::ColorType::Rgba => {
            return Err(err(name, "an RGBA colour PNG is not a mask: a mask or label image must be grayscale or palette-indexed"))
        }
        png::ColorType::GrayscaleAlpha => {
            return Err(err(name, "a gray+alpha PNG is not a mask: a mask or label image must be grayscale without alpha"))
        }
    }
    let bits = depth as usize;
    let size = reader.output_buffer_size().ok_or_else(|| err(name, format!("PNG of {w}x{h} pixels is too large")))?;
    if size > MAX_DECODED_BYTES {
        return Err(err(name, format!("PNG of {w}x{h} pixels is too large (more than {MAX_DECODED_BYTES} bytes decoded)")));
    }
    let mut buf = vec![0u8; size];
    let out = reader.next_frame(&mut buf).map_err(|e| err(name, format!("corrupt or truncated PNG: {}", png_message(&e))))?;
    let line = out.line_size;
    if line * h > buf.len() || (out.width as usize, out.height as usize) != (w, h) {
        return Err(err(name, "corrupt PNG: inconsistent frame size"));
    }
    let shape = IxDyn(&[h, w]);
    if bits == 16 {
        let mut v = Vec::with_capacity(w * h);
        for r in 0..h {
            let row = &buf[r * line..];
            v.extend((0..w).map(|x| u16::from_be_bytes([row[2 * x], row[2 * x + 1]]) as i32));
        }
        let a = ndarray::ArrayD::from_shape_vec(shape, v).map_err(|e| err(name, e))?;
        return Ok(NpyArray::I32(a));
    }
    let mut v = Vec::with_capacity(w * h);
    for r in 0..h {
        let row = &buf[r * line..(r + 1) * line];
        if bits == 8 {
            v.extend_from_slice(&row[..w]);
        } else {
            let per = 8 / bits;
            let mask = ((1u16 << bits) - 1) as u8;
            v.extend((0..w).map(|x| (row[x / per] >> (8 - bits * (x % per + 1))) & mask));
        }
    }
    let a = ndarray::ArrayD::from_shape_vec(shape, v).map_err(|e| err(name, e))?;
    Ok(NpyArray::U8(a))
}

/// Reads a mask or label PNG file.
pub fn read(path: &Path) -> Result<NpyArray, CliError> {
    read_checked(path, &|_, _| Ok(()))
}

/// Reads a mask or label PNG file, a regular file ([`crate::io::open_regular`]), as a stream:
/// its header, whose size (width, height) `check` sees before the pixels are decoded, then the
/// image data up to the end of the image (what follows, if anything, is not read).
pub fn read_checked(path: &Path, check: SizeCheck<'_>) -> Result<NpyArray, CliError> {
    let (f, _) = crate::io::open_regular(path)?;
    decode(std::io::BufReader::new(f), &path.display().to_string(), check)
}

/// An RGB8 canvas.
#[derive(Debug, Clone)]
pub struct Canvas {
    /// Width.
    pub w: usize,
    /// Height.
    pub h: usize,
    /// Row-major RGB bytes.
    pub data: Vec<u8>,
}

impl Canvas {
    /// A canvas filled with [`BACKGROUND`].
    pub fn new(w: usize, h: usize) -> Canvas {
        let mut data = Vec::with_capacity(w * h * 3);
        for _ in 0..w * h {
            data.extend_from_slice(&BACKGROUND);
        }
        Canvas { w, h, data }
    }

    /// Sets one pixel (ignored outside the canvas).
    pub fn put(&mut self, x: usize, y: usize, c: [u8; 3]) {
        if x < self.w && y < self.h {
            let i = (y * self.w + x) * 3;
            self.data[i..i + 3].copy_from_slice(&c);
        }
    }

    /// The colour of one pixel.
    pub fn get(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.w + x) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// Fills a rectangle.
    pub fn rect(&mut self, x: usize, y: usize, w: usize, h: usize, c: [u8; 3]) {
        for yy in y..y + h {
            for xx in x..x + w {
                self.put(xx, yy, c);
            }
        }
    }

    /// Draws text in the built-in 3x5 font scaled by 2 (8 pixels per character, 10 high).
    pub fn text(&mut self, x: usize, y: usize, s: &str, c: [u8; 3]) {
        for (k, ch) in s.chars().enumerate() {
            let g = glyph(ch);
            for (row, bits) in g.iter().enumerate() {
                for col in 0..3 {
                    if bits & (4 >> col) != 0 {
                        self.rect(x + k * 8 + col * 2, y + row * 2, 2, 2, c);
                    }
                }
            }
        }
    }

    /// Encodes as an RGB8 PNG.
    pub fn to_png(&self) -> Result<Vec<u8>, CliError> {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, self.w as u32, self.h as u32);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut wr = enc.write_header().map_err(|e| CliError::new(format!("cannot encode PNG: {e}")))?;
            wr.write_image_data(&self.data).map_err(|e| CliError::new(format!("cannot encode PNG: {e}")))?;
            wr.finish().map_err(|e| CliError::new(format!("cannot encode PNG: {e}")))?;
        }
        Ok(out)
    }

    /// Writes as an RGB8 PNG file.
    pub fn write(&self, path: &Path) -> Result<(), CliError> {
        let bytes = self.to_png()?;
        std::fs::write(path, bytes).map_err(|e| CliError::new(format!("{}: cannot write: {e}", path.display())))
    }
}

/// Rows of a 3x5 glyph (bit 2 = left column). Digits, lowercase letters (uppercase is drawn as
/// lowercase) and `. - + _ = : , / ( )`; any other character is a filled box.
fn glyph(c: char) -> [u8; 5] {
    match c.to_ascii_lowercase() {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        'a' => [0, 3, 5, 5, 3],
        'b' => [4, 6, 5, 5, 6],
        'c' => [0, 3, 4, 4, 3],
        'd' => [1, 3, 5, 5, 3],
        'e' => [3, 5, 7, 4, 3],
        'f' => [3, 2, 7, 2, 2],
        'g' => [3, 5, 3, 1, 6],
        'h' => [4, 6, 5, 5, 5],
        'i' => [2, 0, 2, 2, 2],
        'j' => [1, 0, 1, 5, 2],
        'k' => [4, 5, 6, 5, 5],
        'l' => [6, 2, 2, 2, 7],
        'm' => [0, 7, 7, 5, 5],
        'n' => [0, 6, 5, 5, 5],
        'o' => [0, 2, 5, 5, 2],
        'p' => [0, 6, 5, 6, 4],
        'q' => [0, 3, 5, 3, 1],
        'r' => [0, 5, 6, 4, 4],
        's' => [0, 3, 6, 1, 6],
        't' => [2, 7, 2, 2, 3],
        'u' => [0, 5, 5, 5, 3],
        'v' => [0, 5, 5, 5, 2],
        'w' => [0, 5, 5, 7, 7],
        'x' => [0, 5, 2, 5, 5],
        'y' => [0, 5, 3, 1, 6],
        'z' => [7, 1, 2, 4, 7],
        '.' => [0, 0, 0, 0, 2],
        '-' => [0, 0, 7, 0, 0],
        '+' => [0, 2, 7, 2, 0],
        '_' => [0, 0, 0, 0, 7],
        '=' => [0, 7, 0, 7, 0],
        ':' => [0, 2, 0, 2, 0],
        ',' => [0, 0, 0, 2, 4],
        '/' => [1, 1, 2, 4, 4],
        '(' => [2, 4, 4, 4, 2],
        ')' => [2, 1, 1, 1, 2],
        ' ' => [0, 0, 0, 0, 0],
        _ => [7, 7, 7, 7, 7],
    }
}

/// Pixel width of `s` in the built-in font.
pub fn text_width(s: &str) -> usize {
    s.chars().count() * 8
}

/// Height added below the tiles for a caption.
pub const CAPTION_H: usize = 16;

/// The viridis colour map at `t` in [0, 1] (clamped; NaN maps to 0), piecewise linear through
/// nine stops of matplotlib's table.
pub fn colormap(t: f32) -> [u8; 3] {
    const STOPS: [[f32; 3]; 9] = [
        [68.0, 1.0, 84.0],
        [71.0, 44.0, 122.0],
        [59.0, 81.0, 139.0],
        [44.0, 113.0, 142.0],
        [33.0, 144.0, 141.0],
        [39.0, 173.0, 129.0],
        [92.0, 200.0, 99.0],
        [170.0, 220.0, 50.0],
        [253.0, 231.0, 37.0],
    ];
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) } * 8.0;
    let i = (t.floor() as usize).min(7);
    let f = t - i as f32;
    let mut c = [0u8; 3];
    for k in 0..3 {
        c[k] = (STOPS[i][k] * (1.0 - f) + STOPS[i + 1][k] * f).round() as u8;
    }
    c
}

/// The colour of label `l` in label maps (a colour-blind safe palette, repeating after 8).
pub fn label_colour(l: i64) -> [u8; 3] {
    const P: [[u8; 3]; 8] =
        [[0, 0, 0], [230, 159, 0], [86, 180, 233], [0, 158, 115], [240, 228, 66], [0, 114, 178], [213, 94, 0], [204, 121, 167]];
    P[l.rem_euclid(8) as usize]
}

/// Formats a scale value in at most 7 characters of the built-in font.
pub fn fmt_value(v: f32) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let a = v.abs();
    if v == 0.0 || (1e-2..1e4).contains(&a) {
        let s = format!("{v:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        let s = if s == "-0" { "0" } else { s };
        s.chars().take(7).collect()
    } else {
        format!("{v:.1e}")
    }
}

/// Grid placement of `n` tiles of `w` x `h`: (columns, rows, tile-area width, tile-area height).
pub fn grid(n: usize, w: usize, h: usize) -> (usize, usize, usize, usize) {
    let cols = (1..=n.max(1)).find(|c| c * c >= n).unwrap_or(1);
    let rows = n.max(1).div_ceil(cols);
    (cols, rows, cols * w + (cols - 1) * GAP, rows * h + (rows - 1) * GAP)
}

/// The height of the scale bar for a tile area of height `area_h`.
pub fn bar_height(area_h: usize) -> usize {
    area_h.max(100)
}

/// Renders 2D maps as a heat map: the viridis colour of `(v - lo) / (hi - lo)` with `lo`/`hi` the
/// smallest/largest finite value over all maps, non-finite values in [`NONFINITE`], and a colour
/// bar on the right labelled with `hi` (top), the midpoint and `lo` (bottom). `range` fixes
/// `(lo, hi)` instead (values outside are clamped). A non-empty `caption` is written below.
pub fn heatmap(maps: &[ArrayView2<'_, f32>], range: Option<(f32, f32)>, caption: &str) -> Canvas {
    let (h, w) = maps.first().map(|m| m.dim()).unwrap_or((0, 0));
    let (cols, _rows, aw, ah) = grid(maps.len(), w, h);
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for m in maps {
        for &v in m.iter().filter(|v| v.is_finite()) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if lo > hi {
        (lo, hi) = (0.0, 0.0);
    }
    if let Some(r) = range {
        (lo, hi) = r;
    }
    let span = hi - lo;
    let t = |v: f32| if span > 0.0 { (v - lo) / span } else { 0.0 };
    let bh = bar_height(ah);
    let text_w = 7 * 8;
    let body_h = MARGIN + bh.max(ah);
    let cap_h = if caption.is_empty() { 0 } else { CAPTION_H };
    let w_all = (MARGIN + aw + MARGIN + BAR_W + 6 + text_w + MARGIN).max(MARGIN + text_width(caption) + MARGIN);
    let mut c = Canvas::new(w_all, body_h + cap_h + MARGIN);
    c.text(MARGIN, body_h + 4, caption, [0, 0, 0]);
    for (k, m) in maps.iter().enumerate() {
        let (ox, oy) = (MARGIN + (k % cols) * (w + GAP), MARGIN + (k / cols) * (h + GAP));
        for ((y, x), &v) in m.indexed_iter() {
            c.put(ox + x, oy + y, if v.is_finite() { colormap(t(v)) } else { NONFINITE });
        }
    }
    let bx = MARGIN + aw + MARGIN;
    for y in 0..bh {
        let tt = 1.0 - y as f32 / (bh - 1) as f32;
        c.rect(bx, MARGIN + y, BAR_W, 1, colormap(tt));
    }
    let tx = bx + BAR_W + 6;
    c.text(tx, MARGIN, &fmt_value(hi), [0, 0, 0]);
    c.text(tx, MARGIN + bh / 2 - 5, &fmt_value(lo + span / 2.0), [0, 0, 0]);
    c.text(tx, MARGIN + bh - 10, &fmt_value(lo), [0, 0, 0]);
    c
}

/// Renders 2D label maps in [`label_colour`]s with a legend on the right: for each label present
/// (from the smallest, at most 16), a swatch, the label and its name from `names` if any. A
/// non-empty `caption` is written below.
pub fn label_map(maps: &[ArrayView2<'_, i64>], names: &[(i64, &str)], caption: &str) -> Canvas {
    let (h, w) = maps.first().map(|m| m.dim()).unwrap_or((0, 0));
    let (cols, _rows, aw, ah) = grid(maps.len(), w, h);
    let mut present: Vec<i64> = maps.iter().flat_map(|m| m.iter().copied()).collect();
    present.sort_unstable();
    present.dedup();
    present.truncate(16);
    let legend_h = present.len() * 16;
    let entry = |l: i64| match names.iter().find(|(k, _)| *k == l) {
        Some((_, n)) => format!("{l} {n}"),
        None => l.to_string(),
    };
    let text_w = present.iter().map(|&l| text_width(&entry(l))).max().unwrap_or(0);
    let body_h = MARGIN + legend_h.max(ah);
    let cap_h = if caption.is_empty() { 0 } else { CAPTION_H };
    let w_all = (MARGIN + aw + MARGIN + BAR_W + 6 + text_w + MARGIN).max(MARGIN + text_width(caption) + MARGIN);
    let mut c = Canvas::new(w_all, body_h + cap_h + MARGIN);
    c.text(MARGIN, body_h + 4, caption, [0, 0, 0]);
    for (k, m) in maps.iter().enumerate() {
        let (ox, oy) = (MARGIN + (k % cols) * (w + GAP), MARGIN + (k / cols) * (h + GAP));
        for ((y, x), &v) in m.indexed_iter() {
            c.put(ox + x, oy + y, label_colour(v));
        }
    }
    let bx = MARGIN + aw + MARGIN;
    for (i, &l) in present.iter().enumerate() {
        let y = MARGIN + i * 16;
        c.rect(bx, y, BAR_W, 12, [128, 128, 128]);
        c.rect(bx + 1, y + 1, BAR_W - 2, 10, label_colour(l));
        c.text(bx + BAR_W + 6, y + 1, &entry(l), [0, 0, 0]);
    }
    c
}

/// Splits an array of shape `[H, W]`, `[N, H, W]` or `[N, 1, H, W]` into 2D images.
pub fn images_2d<T: Clone>(a: &ndarray::ArrayD<T>, name: &str) -> Result<Vec<Array2<T>>, CliError> {
    let s = a.shape();
    let (n, h, w) = match s {
        [h, w] => (1, *h, *w),
        [n, h, w] => (*n, *h, *w),
        [n, 1, h, w] => (*n, *h, *w),
        _ => {
            return Err(err(
                name,
                format!(
                    "a PNG can only show 2D images ([H, W], [N, H, W] or [N, 1, H, W]); this array has shape {s:?}; write a .npy instead"
                ),
            ))
        }
    };
    if n == 0 || h == 0 || w == 0 {
        return Err(err(name, format!("cannot draw an empty image of shape {s:?}")));
    }
    let flat: Vec<T> = a.iter().cloned().collect();
    Ok((0..n).map(|i| Array2::from_shape_vec((h, w), flat[i * h * w..(i + 1) * h * w].to_vec()).expect("image size")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colormap_ends() {
        assert_eq!(colormap(0.0), [68, 1, 84]);
        assert_eq!(colormap(1.0), [253, 231, 37]);
        assert_eq!(colormap(2.0), [253, 231, 37]);
        assert_eq!(colormap(f32::NAN), [68, 1, 84]);
    }

    #[test]
    fn fmt_values() {
        assert_eq!(fmt_value(0.0), "0");
        assert_eq!(fmt_value(1.5), "1.5");
        assert_eq!(fmt_value(12345.0), "1.2e4");
        assert_eq!(fmt_value(f32::INFINITY), "inf");
    }

    #[test]
    fn legend_and_caption_are_drawn() {
        let m = ndarray::Array2::from_shape_fn((4, 6), |(y, _)| (y % 2) as i64);
        let plain = label_map(&[m.view()], &[], "");
        let named = label_map(&[m.view()], &[(0, "background"), (1, "cell")], "a mask");
        assert!(named.w > plain.w && named.h == plain.h + CAPTION_H);
        // The caption's first glyph ('a', row 1 = 0b011) is drawn in black below the body.
        let body_h = MARGIN + 32;
        assert_eq!(named.get(MARGIN + 2, body_h + 4 + 2), [0, 0, 0]);
        assert_eq!(named.get(MARGIN, body_h + 4 + 2), BACKGROUND);
    }

    #[test]
    fn grid_shapes() {
        assert_eq!(grid(1, 10, 5), (1, 1, 10, 5));
        assert_eq!(grid(4, 10, 5), (2, 2, 10 * 2 + GAP, 5 * 2 + GAP));
        assert_eq!(grid(3, 10, 5).0, 2);
    }
}

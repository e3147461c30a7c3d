//! The embedded font: text measurement and rasterisation with `ab_glyph`.
//!
//! Plotters sizes text in its own unit: a font of size `s` has an em of `s / 1.24` pixels (that
//! is the `font-size` its SVG backend writes). Measuring and rasterising here follow the same
//! convention, so SVG text viewed with DejaVu Sans takes the room the layout gave it.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use plotters::style::{FontDesc, FontFamily, FontStyle};

/// DejaVu Sans, subset to Latin-1, Greek and common symbols (see `assets/README.md`).
static FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans-subset.ttf");

/// The font family named in styles, and written verbatim by plotters into the `font-family`
/// attribute of SVG text, where it reads as a CSS list: DejaVu Sans where the viewer has it (the
/// metrics of the layout), any sans-serif font otherwise.
const FAMILY: &str = "DejaVu Sans, sans-serif";

/// Plotters' ratio of font size to em size.
const SIZE_PER_EM: f32 = 1.24;

/// The parsed embedded font, parsed once per process.
fn face() -> Result<&'static FontRef<'static>, String> {
    static FACE: OnceLock<Result<FontRef<'static>, String>> = OnceLock::new();
    FACE.get_or_init(|| {
        FontRef::try_from_slice(FONT_BYTES)
            .map_err(|e| format!("the embedded DejaVu Sans font could not be parsed: {e}"))
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// A style with the embedded font at plotters size `size`.
pub(super) fn font(size: f64) -> FontDesc<'static> {
    FontDesc::new(FontFamily::Name(FAMILY), size, FontStyle::Normal)
}

/// The `ab_glyph` scale giving an em of `size / 1.24` pixels.
fn scale(face: &FontRef<'_>, size: f64) -> PxScale {
    let units_per_em = face.units_per_em().unwrap_or(2048.0);
    PxScale::from(size as f32 / SIZE_PER_EM * face.height_unscaled() / units_per_em)
}

/// Width and height in pixels of `text` at plotters size `size`: the advance of the line, and
/// ascent minus descent.
pub(super) fn measure(text: &str, size: f64) -> Result<(u32, u32), String> {
    let face = face()?;
    let scaled = face.as_scaled(scale(face, size));
    let width = layout(&scaled, text, |_, _| {});
    Ok((
        width.ceil() as u32,
        (scaled.ascent() - scaled.descent()).ceil() as u32,
    ))
}

/// Calls `glyph(id, pen_x)` for each glyph of `text` laid out on one line (with kerning) and
/// returns the total advance.
fn layout<F: Font, SF: ScaleFont<F>>(
    scaled: &SF,
    text: &str,
    mut glyph: impl FnMut(ab_glyph::GlyphId, f32),
) -> f32 {
    let mut pen = 0.0f32;
    let mut previous = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(previous) = previous {
            pen += scaled.kern(previous, id);
        }
        glyph(id, pen);
        pen += scaled.h_advance(id);
        previous = Some(id);
    }
    pen
}

/// Rasterises `text` at plotters size `size`: calls `pixel(x, y, coverage)` for every covered
/// pixel, `(x, y)` relative to the top-left corner of the box [`measure`] gives.
pub(super) fn rasterize(
    text: &str,
    size: f64,
    mut pixel: impl FnMut(i32, i32, f32),
) -> Result<(), String> {
    let face = face()?;
    let px_scale = scale(face, size);
    let scaled = face.as_scaled(px_scale);
    let baseline = scaled.ascent();
    layout(&scaled, text, |id, pen| {
        let glyph = id.with_scale_and_position(px_scale, point(pen, baseline));
        if let Some(outline) = face.outline_glyph(glyph) {
            let bounds = outline.px_bounds();
            let (left, top) = (bounds.min.x as i32, bounds.min.y as i32);
            outline.draw(|x, y, coverage| pixel(left + x as i32, top + y as i32, coverage));
        }
    });
    Ok(())
}

/// `text` if it is at most `max_width` pixels wide at size `size`, otherwise the longest
/// shortening that fits, with `…` replacing characters from the middle (the start and the end
/// of a layer path are the informative parts).
pub(super) fn fit(text: &str, size: f64, max_width: u32) -> Result<String, String> {
    let width = |s: &str| measure(s, size).map(|(w, _)| w);
    if width(text)? <= max_width {
        return Ok(text.to_owned());
    }
    let chars: Vec<char> = text.chars().collect();
    // Keep `kept` characters of the original: the first half of them, `…`, the rest.
    let shortened = |kept: usize| -> String {
        let head = kept.div_ceil(2);
        let tail = kept - head;
        let mut out: String = chars[..head].iter().collect();
        out.push('…');
        out.extend(&chars[chars.len() - tail..]);
        out
    };
    // Binary search of the largest `kept` that fits; the width grows with `kept`.
    let (mut fits, mut too_wide) = (0, chars.len());
    while too_wide - fits > 1 {
        let mid = fits + (too_wide - fits) / 2;
        if width(&shortened(mid))? <= max_width {
            fits = mid;
        } else {
            too_wide = mid;
        }
    }
    Ok(shortened(fits))
}

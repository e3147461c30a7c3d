//! A drawing backend wrapper that measures (and, for bitmaps, draws) text with the embedded
//! font, so that no system font library is needed.
//!
//! Plotters measures text through its backend; without a font feature its own estimate is
//! crude and its bitmap backend cannot draw text at all. [`Typeset`] forwards every drawing
//! call to the wrapped backend except text: sizes come from [`font::measure`], and bitmap text
//! is rasterised with [`font::rasterize`] and blended pixel by pixel. SVG text stays a `<text>`
//! element written by the SVG backend.

use plotters::backend::DrawingBackend;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};

use super::font;

/// Wraps `DB`, taking over text measurement (and text drawing when `rasterize_text`).
pub(super) struct Typeset<DB> {
    inner: DB,
    rasterize_text: bool,
}

impl<DB: DrawingBackend> Typeset<DB> {
    /// A backend measuring text itself and drawing it as `<text>` elements of `inner` (SVG).
    pub(super) fn vector(inner: DB) -> Self {
        Self {
            inner,
            rasterize_text: false,
        }
    }

    /// A backend measuring text itself and rasterising it into the pixels of `inner` (bitmaps).
    pub(super) fn raster(inner: DB) -> Self {
        Self {
            inner,
            rasterize_text: true,
        }
    }
}

/// A font failure as a backend error.
fn font_error<E: std::error::Error + Send + Sync>(reason: String) -> DrawingErrorKind<E> {
    DrawingErrorKind::FontError(reason.into())
}

type BackendResult<T, DB> = Result<T, DrawingErrorKind<<DB as DrawingBackend>::ErrorType>>;

impl<DB: DrawingBackend> DrawingBackend for Typeset<DB> {
    type ErrorType = DB::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> BackendResult<(), DB> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> BackendResult<(), DB> {
        self.inner.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> BackendResult<(), DB> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> BackendResult<(), DB> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> BackendResult<(), DB> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> BackendResult<(), DB> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> BackendResult<(), DB> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> BackendResult<(), DB> {
        self.inner.fill_polygon(vert, style)
    }

    fn draw_text<TStyle: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &TStyle,
        pos: BackendCoord,
    ) -> BackendResult<(), DB> {
        if !self.rasterize_text {
            return self.inner.draw_text(text, style, pos);
        }
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let (width, height) = font::measure(text, style.size()).map_err(font_error)?;
        let (width, height) = (width as i32, height as i32);
        // Anchor and rotation as plotters' own text drawing does them.
        let anchor = style.anchor();
        let dx = match anchor.h_pos {
            HPos::Left => 0,
            HPos::Center => -width / 2,
            HPos::Right => -width,
        };
        let dy = match anchor.v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let transform = style.transform();
        let mut drawn = Ok(());
        font::rasterize(text, style.size(), |x, y, coverage| {
            if drawn.is_ok() {
                let (x, y) = transform.transform(x + dx, y + dy);
                let pixel = BackendColor {
                    alpha: color.alpha * f64::from(coverage.clamp(0.0, 1.0)),
                    rgb: color.rgb,
                };
                drawn = self.inner.draw_pixel((pos.0 + x, pos.1 + y), pixel);
            }
        })
        .map_err(font_error)?;
        drawn
    }

    fn estimate_text_size<TStyle: BackendTextStyle>(
        &self,
        text: &str,
        style: &TStyle,
    ) -> BackendResult<(u32, u32), DB> {
        font::measure(text, style.size()).map_err(font_error)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> BackendResult<(), DB> {
        self.inner.blit_bitmap(pos, size, src)
    }
}

//! Rendering a figure to SVG text, PNG bytes or a file; the figures only know how to draw on
//! any plotters backend.

use std::fs;
use std::path::Path;

use plotters::backend::{BitMapBackend, DrawingBackend, RGBPixel, SVGBackend};
use plotters::coord::Shift;
use plotters::drawing::{DrawingArea, IntoDrawingArea};

use super::PlotFormat;
use super::typeset::Typeset;
use crate::{MetricsError, Result};

/// The tallest picture drawn, in pixels (bounds the memory of a PNG to under 100 MB).
pub(super) const MAX_HEIGHT: u32 = 32_768;

/// The result of drawing: the error says what failed, [`Figure::NAME`] is added later.
pub(super) type DrawResult<T = ()> = std::result::Result<T, String>;

/// Turns a drawing error into a [`DrawResult`] error naming the `step` that failed.
pub(super) fn failed<E: std::fmt::Display>(step: &'static str) -> impl FnOnce(E) -> String {
    move |e| format!("{step}: {e}")
}

/// A chart with a fixed pixel size that draws itself on any plotters backend.
pub(super) trait Figure {
    /// What the chart is, for [`MetricsError::Plot`] (`"density bars"`, ...).
    const NAME: &'static str;

    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);

    /// Draws the whole chart on `root`, which covers [`Figure::size`].
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult;
}

/// A [`MetricsError::Plot`] for figure `F`.
fn plot_error<F: Figure>(reason: impl Into<String>) -> MetricsError {
    MetricsError::Plot {
        plot: F::NAME.to_owned(),
        reason: reason.into(),
    }
}

/// Draws `figure` on `root` and flushes the backend.
fn draw_on<F: Figure, DB: DrawingBackend>(figure: &F, root: DrawingArea<DB, Shift>) -> Result<()> {
    figure.draw(&root).map_err(plot_error::<F>)?;
    root.present()
        .map_err(|e| plot_error::<F>(format!("finishing the drawing: {e}")))
}

/// `figure` as SVG text.
pub(super) fn svg<F: Figure>(figure: &F) -> Result<String> {
    let mut out = String::new();
    draw_on(
        figure,
        Typeset::vector(SVGBackend::with_string(&mut out, figure.size())).into_drawing_area(),
    )?;
    Ok(out)
}

/// `figure` as an 8-bit RGB PNG image.
pub(super) fn png<F: Figure>(figure: &F) -> Result<Vec<u8>> {
    let (width, height) = figure.size();
    let mut pixels = vec![0u8; width as usize * height as usize * 3];
    let backend = BitMapBackend::<RGBPixel>::with_buffer_and_format(&mut pixels, (width, height))
        .map_err(|e| plot_error::<F>(format!("creating the bitmap: {e}")))?;
    draw_on(figure, Typeset::raster(backend).into_drawing_area())?;

    let encode = || -> std::result::Result<Vec<u8>, png::EncodingError> {
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&pixels)?;
        writer.finish()?;
        Ok(bytes)
    };
    encode().map_err(|e| plot_error::<F>(format!("encoding the PNG: {e}")))
}

/// Renders `figure` in `format` and writes it to `path` atomically (a temporary file synced and
/// renamed), creating missing parent directories.
pub(super) fn save<F: Figure>(figure: &F, format: PlotFormat, path: &Path) -> Result<()> {
    let bytes = match format {
        PlotFormat::Svg => svg(figure)?.into_bytes(),
        PlotFormat::Png => png(figure)?,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|source| MetricsError::Io {
            action: "creating directory".to_owned(),
            path: parent.display().to_string(),
            source,
        })?;
    }
    burn_prune_core::write_atomic(path, &bytes).map_err(|source| MetricsError::Io {
        action: "writing".to_owned(),
        path: path.display().to_string(),
        source,
    })
}

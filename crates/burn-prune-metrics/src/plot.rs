//! Plots of pruning results, drawn with [`plotters`] as SVG or PNG.
//!
//! Plain data in, a picture out: every chart is a function taking a path (the format follows
//! its extension, see [`PlotFormat`]) and a `*_svg` twin returning the SVG text, for tests and
//! for embedding in Markdown or HTML reports. Both share the same drawing code.
//!
//! | function | chart | typical use |
//! |---|---|---|
//! | [`density_bars`] | one horizontal bar per layer, density in `[0, 1]` | what a pruning plan kept |
//! | [`before_after_bars`] | two horizontal bars per layer, with a legend | parameters or MACs per layer, dense vs pruned |
//! | [`line_plot`] | named curves with markers, legend on the right | accuracy vs sparsity, per-layer sensitivity |
//!
//! Layers read top to bottom in the order given, so bar charts stay legible for a hundred
//! layers or more: the picture grows in height (see each function for its size) and long layer
//! names are shortened in the middle with `…`.
//!
//! Text is rendered with an embedded subset of the DejaVu Sans font (Latin-1, Greek and common
//! symbols; see `assets/README.md` of this crate), so PNG output carries real text on machines
//! without any system font, and nothing but Rust code is built. SVG files name the font
//! `DejaVu Sans, sans-serif`, so viewers without DejaVu Sans fall back to their own sans-serif.
//!
//! Invalid input (empty data, NaN or infinite values, a density outside `[0, 1]`, ...) is an
//! [`MetricsError::InvalidArgument`]; a drawing failure is a [`MetricsError::Plot`] and a file
//! that cannot be written is a [`MetricsError::Io`]. Nothing here panics on bad input.

mod figures;
mod font;
mod render;
mod typeset;

use std::collections::HashSet;
use std::path::Path;

use crate::{MetricsError, Result};

use figures::{BeforeAfterFigure, DensityFigure, LineFigure};

/// The file format of a plot, chosen from the extension of its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlotFormat {
    /// Scalable vector graphics (`.svg`): text stays text, the file is small and diffable.
    Svg,
    /// Portable network graphics (`.png`): an RGB bitmap with the text rasterised.
    Png,
}

impl PlotFormat {
    /// The format of `path`, from its extension (`svg` or `png`, in any letter case).
    ///
    /// # Errors
    ///
    /// [`MetricsError::InvalidArgument`] when the path has no extension or another one.
    ///
    /// ```
    /// use burn_prune_metrics::plot::PlotFormat;
    ///
    /// assert_eq!(PlotFormat::from_path("out/density.svg".as_ref()).unwrap(), PlotFormat::Svg);
    /// assert_eq!(PlotFormat::from_path("out/density.PNG".as_ref()).unwrap(), PlotFormat::Png);
    /// assert!(PlotFormat::from_path("out/density.pdf".as_ref()).is_err());
    /// ```
    pub fn from_path(path: &Path) -> Result<Self> {
        let Some(extension) = path.extension() else {
            return Err(MetricsError::invalid(
                "plot path",
                format!(
                    "`{}` has no extension; use `.svg` or `.png`",
                    path.display()
                ),
            ));
        };
        match extension.to_string_lossy().to_ascii_lowercase().as_str() {
            "svg" => Ok(Self::Svg),
            "png" => Ok(Self::Png),
            other => Err(MetricsError::invalid(
                "plot path",
                format!(
                    "`{}` has the unsupported extension `.{other}`; use `.svg` or `.png`",
                    path.display()
                ),
            )),
        }
    }

    /// The usual file extension of the format, without the dot (`"svg"` or `"png"`).
    pub fn extension(self) -> &'static str {
        match self {
            Self::Svg => "svg",
            Self::Png => "png",
        }
    }
}

/// The density of one layer: the fraction of its weights a pruning plan keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct DensityBar {
    /// The layer, as shown next to its bar (for example a module path like `features.3.conv`).
    pub label: String,
    /// Kept weights over all weights, in `[0, 1]` (`1` is dense, `0` is fully pruned).
    pub density: f64,
}

impl DensityBar {
    /// A bar for `label` with `density`.
    pub fn new(label: impl Into<String>, density: f64) -> Self {
        Self {
            label: label.into(),
            density,
        }
    }
}

/// One layer's value before and after pruning (parameters, MACs, latency, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct BeforeAfter {
    /// The layer, as shown next to its bars.
    pub label: String,
    /// The value of the dense model; finite and non-negative.
    pub before: f64,
    /// The value of the pruned model; finite and non-negative.
    pub after: f64,
}

impl BeforeAfter {
    /// A row for `label` with its `before` and `after` values.
    pub fn new(label: impl Into<String>, before: f64, after: f64) -> Self {
        Self {
            label: label.into(),
            before,
            after,
        }
    }
}

/// A named curve of a [`line_plot`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The name shown in the legend; unique within a plot.
    pub name: String,
    /// The `(x, y)` points, finite, in any order: the curve joins them by increasing `x`.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A curve named `name` through `points`.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
        }
    }
}

/// Draws the density of every layer as a horizontal bar chart and writes it to `path`.
///
/// One bar per layer, top to bottom in the order of `bars`, each annotated with its density;
/// the axis spans `0` to `1`. The picture is 960 pixels wide and `110 + 20 × bars.len()`
/// pixels tall (at least 300). The format follows the extension ([`PlotFormat::from_path`]);
/// missing parent directories are created.
///
/// # Errors
///
/// [`MetricsError::InvalidArgument`] for an unknown extension, no bars, a density that is not
/// a number in `[0, 1]`, or so many bars that the picture would be taller than 32768 pixels;
/// [`MetricsError::Plot`] if drawing fails and [`MetricsError::Io`] if the file cannot be
/// written.
///
/// # Example
///
/// ```
/// use burn_prune_metrics::plot::{DensityBar, density_bars};
///
/// let bars = vec![
///     DensityBar::new("conv1", 1.0),
///     DensityBar::new("conv2", 0.42),
///     DensityBar::new("fc", 0.1),
/// ];
/// let path = std::env::temp_dir().join(format!("density-doc-{}.png", std::process::id()));
/// density_bars(&path, "Density per layer", &bars)?;
/// assert!(std::fs::metadata(&path)?.len() > 0);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn density_bars(path: impl AsRef<Path>, title: &str, bars: &[DensityBar]) -> Result<()> {
    let path = path.as_ref();
    let format = PlotFormat::from_path(path)?;
    render::save(&density_figure(title, bars)?, format, path)
}

/// [`density_bars`], returned as SVG text instead of written to a file.
///
/// # Errors
///
/// As [`density_bars`], without the file errors.
///
/// ```
/// use burn_prune_metrics::plot::{DensityBar, density_bars_svg};
///
/// let svg = density_bars_svg("Kept weights", &[DensityBar::new("fc1", 0.5)])?;
/// assert!(svg.starts_with("<svg") && svg.contains("Kept weights") && svg.contains("fc1"));
/// # Ok::<(), burn_prune_metrics::MetricsError>(())
/// ```
pub fn density_bars_svg(title: &str, bars: &[DensityBar]) -> Result<String> {
    render::svg(&density_figure(title, bars)?)
}

/// Draws each layer's value before and after pruning as pairs of horizontal bars, with a legend,
/// and writes the chart to `path`.
///
/// Per layer, top to bottom in the order of `rows`, a grey `before` bar sits above a blue `after`
/// bar; the value axis starts at zero, is described by `value_label` (for example `"parameters"`
/// or `"MACs"`) and reads large numbers with SI suffixes (`1.2M`). The picture is 960 pixels
/// wide and `140 + 28 × rows.len()` pixels tall (at least 300). The format follows the
/// extension ([`PlotFormat::from_path`]); missing parent directories are created.
///
/// # Errors
///
/// [`MetricsError::InvalidArgument`] for an unknown extension, no rows, a value that is
/// negative, NaN or infinite, or so many rows that the picture would be taller than 32768
/// pixels; [`MetricsError::Plot`] if drawing fails and [`MetricsError::Io`] if the file cannot
/// be written.
///
/// # Example
///
/// ```
/// use burn_prune_metrics::plot::{BeforeAfter, before_after_bars};
///
/// let rows = vec![
///     BeforeAfter::new("conv1", 1_728.0, 1_728.0),
///     BeforeAfter::new("conv2", 36_864.0, 9_216.0),
///     BeforeAfter::new("fc", 40_960.0, 4_096.0),
/// ];
/// let path = std::env::temp_dir().join(format!("params-doc-{}.svg", std::process::id()));
/// before_after_bars(&path, "Parameters per layer", "parameters", &rows)?;
/// assert!(std::fs::read_to_string(&path)?.contains("conv2"));
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn before_after_bars(
    path: impl AsRef<Path>,
    title: &str,
    value_label: &str,
    rows: &[BeforeAfter],
) -> Result<()> {
    let path = path.as_ref();
    let format = PlotFormat::from_path(path)?;
    render::save(
        &before_after_figure(title, value_label, rows)?,
        format,
        path,
    )
}

/// [`before_after_bars`], returned as SVG text instead of written to a file.
///
/// # Errors
///
/// As [`before_after_bars`], without the file errors.
pub fn before_after_bars_svg(
    title: &str,
    value_label: &str,
    rows: &[BeforeAfter],
) -> Result<String> {
    render::svg(&before_after_figure(title, value_label, rows)?)
}

/// Draws named curves with markers and a legend and writes the chart to `path`.
///
/// Each series is a line through its points, joined by increasing `x`, with a marker on every
/// point; series differ by colour and marker shape (twenty distinct combinations). The axes span
/// the data with a 5% margin on each side. The legend sits right of the plot, one line per
/// series, so the plot stays readable with dozens of curves (a sensitivity scan of every
/// layer). The picture is 960 pixels wide and `max(600, 100 + 20 × series.len())` pixels tall.
/// The format follows the extension ([`PlotFormat::from_path`]); missing parent directories are
/// created.
///
/// # Errors
///
/// [`MetricsError::InvalidArgument`] for an unknown extension, no series, a series without
/// points, two series with the same name, a coordinate that is NaN or infinite, data spanning
/// more than `f64` can hold, or so many series that the picture would be taller than 32768
/// pixels; [`MetricsError::Plot`] if drawing fails and [`MetricsError::Io`] if the file cannot
/// be written.
///
/// # Example
///
/// ```
/// use burn_prune_metrics::plot::{Series, line_plot};
///
/// let series = vec![
///     Series::new("magnitude", vec![(0.0, 0.93), (0.5, 0.92), (0.8, 0.88), (0.9, 0.81)]),
///     Series::new("random", vec![(0.0, 0.93), (0.5, 0.87), (0.8, 0.71), (0.9, 0.52)]),
/// ];
/// let path = std::env::temp_dir().join(format!("accuracy-doc-{}.png", std::process::id()));
/// line_plot(&path, "Accuracy vs sparsity", "sparsity", "top-1 accuracy", &series)?;
/// assert!(std::fs::read(&path)?.starts_with(b"\x89PNG"));
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn line_plot(
    path: impl AsRef<Path>,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<()> {
    save_points(path.as_ref(), title, x_label, y_label, series, true)
}

/// [`line_plot`] (`joined`) or [`scatter_plot`], written to `path`.
fn save_points(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    joined: bool,
) -> Result<()> {
    let format = PlotFormat::from_path(path)?;
    render::save(
        &line_figure(title, x_label, y_label, series, joined)?,
        format,
        path,
    )
}

/// [`line_plot`], returned as SVG text instead of written to a file.
///
/// # Errors
///
/// As [`line_plot`], without the file errors.
pub fn line_plot_svg(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<String> {
    render::svg(&line_figure(title, x_label, y_label, series, true)?)
}

/// Draws named sets of `(x, y)` points, unjoined (one marker shape and colour per set), and
/// writes the plot to `path`: a [`line_plot`] without the lines, for data whose `x` does not
/// order it (each sampled network's FLOPs per parameter against its error, say).
///
/// # Errors
///
/// As [`line_plot`].
///
/// # Example
///
/// ```
/// use burn_prune_metrics::plot::{Series, scatter_plot_svg};
///
/// let nets = vec![Series::new("sampled", vec![(40.0, 0.12), (25.0, 0.15), (33.0, 0.11)])];
/// let svg = scatter_plot_svg("Error vs FLOPs/param", "MACs / param", "error", &nets)?;
/// assert!(svg.starts_with("<svg"));
/// assert!(scatter_plot_svg("t", "x", "y", &[]).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn scatter_plot(
    path: impl AsRef<Path>,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<()> {
    save_points(path.as_ref(), title, x_label, y_label, series, false)
}

/// [`scatter_plot`], returned as SVG text instead of written to a file.
///
/// # Errors
///
/// As [`scatter_plot`], without the file errors.
pub fn scatter_plot_svg(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<String> {
    render::svg(&line_figure(title, x_label, y_label, series, false)?)
}

/// Validates density bars and lays out their figure.
fn density_figure<'a>(title: &'a str, bars: &'a [DensityBar]) -> Result<DensityFigure<'a>> {
    if bars.is_empty() {
        return Err(MetricsError::invalid(
            "density bars",
            "no bars to draw (the list is empty)",
        ));
    }
    for bar in bars {
        if !(0.0..=1.0).contains(&bar.density) {
            return Err(MetricsError::invalid(
                "density",
                format!(
                    "layer `{}` has density {}, expected a number in [0, 1]",
                    bar.label, bar.density
                ),
            ));
        }
    }
    DensityFigure::new(title, bars)
}

/// Validates before/after rows and lays out their figure.
fn before_after_figure<'a>(
    title: &'a str,
    value_label: &'a str,
    rows: &'a [BeforeAfter],
) -> Result<BeforeAfterFigure<'a>> {
    if rows.is_empty() {
        return Err(MetricsError::invalid(
            "before/after rows",
            "no rows to draw (the list is empty)",
        ));
    }
    for row in rows {
        for (which, value) in [("before", row.before), ("after", row.after)] {
            if !value.is_finite() || value < 0.0 {
                return Err(MetricsError::invalid(
                    "before/after value",
                    format!(
                        "layer `{}` has {which} = {value}, expected a finite non-negative number",
                        row.label
                    ),
                ));
            }
        }
    }
    BeforeAfterFigure::new(title, value_label, rows)
}

/// Validates line series and lays out their figure.
fn line_figure<'a>(
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    series: &'a [Series],
    joined: bool,
) -> Result<LineFigure<'a>> {
    if series.is_empty() {
        return Err(MetricsError::invalid(
            "series",
            "no series to draw (the list is empty)",
        ));
    }
    let mut names = HashSet::with_capacity(series.len());
    for s in series {
        if !names.insert(s.name.as_str()) {
            return Err(MetricsError::invalid(
                "series",
                format!(
                    "two series are named `{}`; names must be unique to tell them apart in the legend",
                    s.name
                ),
            ));
        }
        if s.points.is_empty() {
            return Err(MetricsError::invalid(
                "series",
                format!("series `{}` has no points", s.name),
            ));
        }
        if let Some((x, y)) = s
            .points
            .iter()
            .find(|(x, y)| !x.is_finite() || !y.is_finite())
        {
            return Err(MetricsError::invalid(
                "series point",
                format!(
                    "series `{}` has the point ({x}, {y}), expected finite coordinates",
                    s.name
                ),
            ));
        }
    }
    LineFigure::new(title, x_label, y_label, series, joined)
}

//! The charts: layout computed from validated data, drawing generic over the plotters backend.

use std::ops::Range;

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::{CoordTranslate, Shift};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::render::{DrawResult, Figure, MAX_HEIGHT, failed};
use super::{BeforeAfter, DensityBar, Series, font};
use crate::{MetricsError, Result};

/// Width of every chart, in pixels.
const WIDTH: u32 = 960;
/// Smallest height of a bar chart, in pixels.
const MIN_BAR_HEIGHT: u32 = 300;
/// Smallest height of a line plot, in pixels.
const MIN_LINE_HEIGHT: u32 = 600;
/// Height of the title strip at the top of every chart.
const TITLE_HEIGHT: u32 = 46;
/// Height of the legend strip under the title of a before/after chart.
const LEGEND_STRIP_HEIGHT: u32 = 30;
/// Height of the area under a plot holding tick labels and the axis description.
const X_LABEL_AREA: u32 = 50;
/// Margins around a chart's plotting area, inside the title strip.
const MARGIN_TOP: u32 = 6;
const MARGIN_BOTTOM: u32 = 8;
const MARGIN_LEFT: u32 = 12;
const MARGIN_RIGHT: u32 = 24;
/// Vertical room per layer of a density chart and of a before/after chart.
const DENSITY_ROW: u32 = 20;
const BEFORE_AFTER_ROW: u32 = 28;
/// Vertical room per entry of a line plot's legend.
const LEGEND_ROW: u32 = 20;
/// Height of a density chart besides its rows: title, margins, value axis.
const DENSITY_FIXED: u32 = TITLE_HEIGHT + MARGIN_TOP + MARGIN_BOTTOM + X_LABEL_AREA;
/// Height of a before/after chart besides its rows: the same plus the legend strip.
const BEFORE_AFTER_FIXED: u32 = DENSITY_FIXED + LEGEND_STRIP_HEIGHT;
/// Height of a line plot besides its legend entries: title and room around the legend.
const LINE_FIXED: u32 = 100;
// The sizes documented on the public functions.
const _: () = assert!(DENSITY_FIXED == 110 && DENSITY_ROW == 20);
const _: () = assert!(BEFORE_AFTER_FIXED == 140 && BEFORE_AFTER_ROW == 28);
const _: () = assert!(LINE_FIXED == 100 && LEGEND_ROW == 20 && WIDTH == 960);
/// Widest layer label (or legend name) before it is shortened with `…`.
const MAX_LABEL_WIDTH: u32 = 340;
const MAX_LEGEND_NAME_WIDTH: u32 = 240;

const TITLE_SIZE: f64 = 26.0;
const DESC_SIZE: f64 = 17.0;
const LABEL_SIZE: f64 = 15.0;
const ANNOTATION_SIZE: f64 = 14.0;

const TEXT: RGBColor = RGBColor(0x22, 0x22, 0x22);
const GRID: RGBColor = RGBColor(0xDD, 0xDD, 0xDD);
/// The fill of density bars and of `after` bars.
const BAR: RGBColor = RGBColor(0x1F, 0x77, 0xB4);
/// The fill of `before` bars.
const BEFORE_BAR: RGBColor = RGBColor(0xA6, 0xA6, 0xA6);
/// Line colours, Tableau 10, cycled by series index.
const PALETTE: [RGBColor; 10] = [
    RGBColor(0x1F, 0x77, 0xB4),
    RGBColor(0xFF, 0x7F, 0x0E),
    RGBColor(0x2C, 0xA0, 0x2C),
    RGBColor(0xD6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xBD),
    RGBColor(0x8C, 0x56, 0x4B),
    RGBColor(0xE3, 0x77, 0xC2),
    RGBColor(0x7F, 0x7F, 0x7F),
    RGBColor(0xBC, 0xBD, 0x22),
    RGBColor(0x17, 0xBE, 0xCF),
];

/// Marker shapes, cycled by series index together with [`PALETTE`] (20 distinct pairs).
#[derive(Debug, Clone, Copy)]
enum Marker {
    Circle,
    Square,
    Triangle,
    Cross,
}

const MARKERS: [Marker; 4] = [
    Marker::Circle,
    Marker::Square,
    Marker::Triangle,
    Marker::Cross,
];

/// Colour and marker of series `index`.
fn series_style(index: usize) -> (RGBColor, Marker) {
    (
        PALETTE[index % PALETTE.len()],
        MARKERS[index % MARKERS.len()],
    )
}

/// Height of a chart with `rows` rows of `row` pixels on top of `fixed` pixels, or an error when
/// it exceeds [`MAX_HEIGHT`].
fn chart_height(what: &str, rows: usize, row: u32, fixed: u32, min: u32) -> Result<u32> {
    let height = u32::try_from(rows)
        .ok()
        .and_then(|rows| rows.checked_mul(row))
        .and_then(|h| h.checked_add(fixed))
        .filter(|&h| h <= MAX_HEIGHT)
        .ok_or_else(|| {
            MetricsError::invalid(
                what,
                format!(
                    "{rows} entries need {row} pixels each, more than the {MAX_HEIGHT} pixels \
                     a plot may be tall; plot fewer at a time"
                ),
            )
        })?;
    Ok(height.max(min))
}

/// The labels shortened to `max_width` pixels, and the width of the widest; a failure is a
/// [`MetricsError::Plot`] of `plot`.
fn fit_labels<'a>(
    plot: &str,
    labels: impl Iterator<Item = &'a str>,
    max_width: u32,
) -> Result<(Vec<String>, u32)> {
    let error = |reason| MetricsError::Plot {
        plot: plot.to_owned(),
        reason,
    };
    let mut widest = 0;
    let mut fitted = Vec::new();
    for label in labels {
        let label = font::fit(label, LABEL_SIZE, max_width)
            .and_then(|l| Ok((font::measure(&l, LABEL_SIZE)?.0, l)))
            .map_err(error)?;
        widest = widest.max(label.0);
        fitted.push(label.1);
    }
    Ok((fitted, widest))
}

/// A tick label: SI suffixes from a thousand on, up to six decimals below, scientific
/// notation for tiny values, trailing zeros dropped.
pub(super) fn format_number(value: f64) -> String {
    fn trim(s: String) -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        }
    }
    let magnitude = value.abs();
    if magnitude == 0.0 {
        return "0".to_owned();
    }
    const SI: [(f64, &str); 5] = [(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")];
    if !(1e-4..1e18).contains(&magnitude) {
        return format!("{value:.2e}");
    }
    match SI.iter().find(|(scale, _)| magnitude >= *scale) {
        Some((scale, suffix)) => format!("{}{suffix}", trim(format!("{:.2}", value / scale))),
        None => trim(format!("{value:.6}")),
    }
}

/// Draws `title` centred in a strip at the top of `root`; returns the area below it.
fn draw_title<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> DrawResult<DrawingArea<DB, Shift>> {
    root.fill(&WHITE)
        .map_err(failed("filling the background"))?;
    let (strip, rest) = root.split_vertically(TITLE_HEIGHT);
    let (width, height) = strip.dim_in_pixel();
    let style = font::font(TITLE_SIZE)
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Center));
    strip
        .draw(&Text::new(
            title.to_owned(),
            (width as i32 / 2, height as i32 / 2),
            style,
        ))
        .map_err(failed("drawing the title"))?;
    Ok(rest)
}

/// Draws a marker of `shape` centred on `at`.
fn draw_marker<DB, CT>(
    area: &DrawingArea<DB, CT>,
    at: CT::From,
    shape: Marker,
    color: RGBColor,
) -> DrawResult
where
    DB: DrawingBackend,
    CT: CoordTranslate,
{
    let anchor = EmptyElement::at(at);
    match shape {
        Marker::Circle => area.draw(&(anchor + Circle::new((0, 0), 4, color.filled()))),
        Marker::Square => area.draw(&(anchor + Rectangle::new([(-4, -4), (4, 4)], color.filled()))),
        Marker::Triangle => area.draw(&(anchor + TriangleMarker::new((0, 0), 6, color.filled()))),
        Marker::Cross => area.draw(&(anchor + Cross::new((0, 0), 4, color.stroke_width(2)))),
    }
    .map_err(failed("drawing a marker"))
}

/// A linear `f64` axis with ticks (and grid lines) exactly at the given values: the rows of a
/// bar chart, or round densities. (Plotters' `with_key_points` loses the float formatting.)
struct KeyedAxis {
    linear: RangedCoordf64,
    ticks: Vec<f64>,
}

impl KeyedAxis {
    fn new(range: Range<f64>, ticks: Vec<f64>) -> Self {
        Self {
            linear: range.into(),
            ticks,
        }
    }

    /// An axis spanning `0..rows` with a tick at the centre of each row, first row at the top.
    fn rows(rows: usize) -> Self {
        Self::new(
            0.0..rows as f64,
            (0..rows).map(|i| row_centre(rows, i)).collect(),
        )
    }
}

impl Ranged for KeyedAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.linear.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Bold points only: no light grid lines between the ticks.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.linear.range()
    }
}

impl ValueFormatter<f64> for KeyedAxis {
    fn format(value: &f64) -> String {
        format_number(*value)
    }
}

/// The centre of row `index` of `rows`, first row at the top.
fn row_centre(rows: usize, index: usize) -> f64 {
    rows as f64 - index as f64 - 0.5
}

/// The label of the row centred at `centre`.
fn row_label(labels: &[String], centre: f64) -> String {
    let index = labels.len() as f64 - 0.5 - centre;
    if index >= -0.25 && index.round() < labels.len() as f64 {
        labels[index.round() as usize].clone()
    } else {
        String::new()
    }
}

/// The fraction of a row a bar may fill: `fraction`, but at most `max_pixels` tall.
fn bar_thickness<DB: DrawingBackend, CT: CoordTranslate>(
    plot: &DrawingArea<DB, CT>,
    rows: usize,
    fraction: f64,
    max_pixels: f64,
) -> f64 {
    let row_pixels = f64::from(plot.dim_in_pixel().1) / rows as f64;
    fraction.min(max_pixels / row_pixels.max(1.0))
}

/// The density chart of [`super::density_bars`].
pub(super) struct DensityFigure<'a> {
    title: &'a str,
    bars: &'a [DensityBar],
    labels: Vec<String>,
    label_width: u32,
    height: u32,
}

impl<'a> DensityFigure<'a> {
    /// Lays out validated `bars`.
    pub(super) fn new(title: &'a str, bars: &'a [DensityBar]) -> Result<Self> {
        let height = chart_height(
            "density bars",
            bars.len(),
            DENSITY_ROW,
            DENSITY_FIXED,
            MIN_BAR_HEIGHT,
        )?;
        let (labels, label_width) = fit_labels(
            Self::NAME,
            bars.iter().map(|b| b.label.as_str()),
            MAX_LABEL_WIDTH,
        )?;
        Ok(Self {
            title,
            bars,
            labels,
            label_width,
            height,
        })
    }
}

impl Figure for DensityFigure<'_> {
    const NAME: &'static str = "density bars";

    fn size(&self) -> (u32, u32) {
        (WIDTH, self.height)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let body = draw_title(root, self.title)?;
        let rows = self.bars.len();
        // Room right of 1.0 for the annotation of a dense layer.
        let x_range = KeyedAxis::new(0.0..1.12, vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        let y_range = KeyedAxis::rows(rows);
        let mut chart = ChartBuilder::on(&body)
            .margin_top(MARGIN_TOP)
            .margin_bottom(MARGIN_BOTTOM)
            .margin_left(MARGIN_LEFT)
            .margin_right(MARGIN_RIGHT)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(self.label_width + 16)
            .build_cartesian_2d(x_range, y_range)
            .map_err(failed("laying out the chart"))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .bold_line_style(GRID)
            .axis_style(TEXT)
            .label_style(font::font(LABEL_SIZE).color(&TEXT))
            .axis_desc_style(font::font(DESC_SIZE).color(&TEXT))
            .x_desc("density (fraction of weights kept)")
            .x_label_formatter(&|v| format_number(*v))
            .y_label_formatter(&|v| row_label(&self.labels, *v))
            .draw()
            .map_err(failed("drawing the axes"))?;

        let half = bar_thickness(chart.plotting_area(), rows, 0.7, 14.0) / 2.0;
        chart
            .draw_series(self.bars.iter().enumerate().map(|(i, bar)| {
                let centre = row_centre(rows, i);
                Rectangle::new(
                    [(0.0, centre + half), (bar.density, centre - half)],
                    BAR.filled(),
                )
            }))
            .map_err(failed("drawing the bars"))?;
        let annotation = font::font(ANNOTATION_SIZE)
            .color(&TEXT)
            .pos(Pos::new(HPos::Left, VPos::Center));
        chart
            .draw_series(self.bars.iter().enumerate().map(|(i, bar)| {
                EmptyElement::at((bar.density, row_centre(rows, i)))
                    + Text::new(format!("{:.2}", bar.density), (4, 0), annotation.clone())
            }))
            .map_err(failed("drawing the values"))?;
        Ok(())
    }
}

/// The grouped bar chart of [`super::before_after_bars`].
pub(super) struct BeforeAfterFigure<'a> {
    title: &'a str,
    value_label: &'a str,
    rows: &'a [BeforeAfter],
    labels: Vec<String>,
    label_width: u32,
    height: u32,
}

impl<'a> BeforeAfterFigure<'a> {
    /// Lays out validated `rows`.
    pub(super) fn new(
        title: &'a str,
        value_label: &'a str,
        rows: &'a [BeforeAfter],
    ) -> Result<Self> {
        let height = chart_height(
            "before/after rows",
            rows.len(),
            BEFORE_AFTER_ROW,
            BEFORE_AFTER_FIXED,
            MIN_BAR_HEIGHT,
        )?;
        let (labels, label_width) = fit_labels(
            Self::NAME,
            rows.iter().map(|r| r.label.as_str()),
            MAX_LABEL_WIDTH,
        )?;
        Ok(Self {
            title,
            value_label,
            rows,
            labels,
            label_width,
            height,
        })
    }
}

impl Figure for BeforeAfterFigure<'_> {
    const NAME: &'static str = "before/after bars";

    fn size(&self) -> (u32, u32) {
        (WIDTH, self.height)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let body = draw_title(root, self.title)?;
        let (legend, body) = body.split_vertically(LEGEND_STRIP_HEIGHT);
        let rows = self.rows.len();
        let y_label_area = self.label_width + 16;

        // Legend: a swatch and a name per bar kind, aligned with the plotting area.
        let legend_style = font::font(LABEL_SIZE)
            .color(&TEXT)
            .pos(Pos::new(HPos::Left, VPos::Center));
        let mut x = (MARGIN_LEFT + y_label_area) as i32;
        let y = LEGEND_STRIP_HEIGHT as i32 / 2;
        for (name, color) in [("before", BEFORE_BAR), ("after", BAR)] {
            legend
                .draw(&Rectangle::new(
                    [(x, y - 6), (x + 12, y + 6)],
                    color.filled(),
                ))
                .map_err(failed("drawing the legend"))?;
            legend
                .draw(&Text::new(name, (x + 18, y), legend_style.clone()))
                .map_err(failed("drawing the legend"))?;
            x += 18 + font::measure(name, LABEL_SIZE)?.0 as i32 + 24;
        }

        let max = self
            .rows
            .iter()
            .flat_map(|r| [r.before, r.after])
            .fold(0.0, f64::max);
        // 8% room right of the longest bar (capped: `max` may be close to `f64::MAX`).
        let x_end = if max > 0.0 {
            (max * 1.08).min(f64::MAX)
        } else {
            1.0
        };
        let y_range = KeyedAxis::rows(rows);
        let mut chart = ChartBuilder::on(&body)
            .margin_top(MARGIN_TOP)
            .margin_bottom(MARGIN_BOTTOM)
            .margin_left(MARGIN_LEFT)
            .margin_right(MARGIN_RIGHT)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(y_label_area)
            .build_cartesian_2d(0.0..x_end, y_range)
            .map_err(failed("laying out the chart"))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .axis_style(TEXT)
            .label_style(font::font(LABEL_SIZE).color(&TEXT))
            .axis_desc_style(font::font(DESC_SIZE).color(&TEXT))
            .x_desc(self.value_label)
            .x_labels(8)
            .x_label_formatter(&|v| format_number(*v))
            .y_label_formatter(&|v| row_label(&self.labels, *v))
            .draw()
            .map_err(failed("drawing the axes"))?;

        let thickness = bar_thickness(chart.plotting_area(), rows, 0.38, 11.0);
        let gap = 0.02;
        chart
            .draw_series(self.rows.iter().enumerate().map(|(i, row)| {
                let centre = row_centre(rows, i);
                Rectangle::new(
                    [(0.0, centre + gap + thickness), (row.before, centre + gap)],
                    BEFORE_BAR.filled(),
                )
            }))
            .map_err(failed("drawing the bars"))?;
        chart
            .draw_series(self.rows.iter().enumerate().map(|(i, row)| {
                let centre = row_centre(rows, i);
                Rectangle::new(
                    [(0.0, centre - gap), (row.after, centre - gap - thickness)],
                    BAR.filled(),
                )
            }))
            .map_err(failed("drawing the bars"))?;
        Ok(())
    }
}

/// The line plot of [`super::line_plot`].
pub(super) struct LineFigure<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    /// Each series' points, sorted by `x`.
    curves: Vec<Vec<(f64, f64)>>,
    names: Vec<String>,
    legend_width: u32,
    x_range: (f64, f64),
    y_range: (f64, f64),
    height: u32,
    /// Whether the points of a series are joined (a line plot) or not (a scatter plot).
    joined: bool,
}

/// The axis range covering `lo..=hi` with a 5% margin on each side (or a symmetric one around a
/// single value).
fn padded_range(what: &str, lo: f64, hi: f64) -> Result<(f64, f64)> {
    let span = hi - lo;
    let scale = lo.abs().max(hi.abs());
    let pad = if span > 1e-9 * scale {
        span * 0.05
    } else if scale > 1e-300 {
        scale * 0.1
    } else {
        1.0
    };
    let (start, end) = (lo - pad, hi + pad);
    if start.is_finite() && end.is_finite() && end > start {
        Ok((start, end))
    } else {
        Err(MetricsError::invalid(
            what,
            format!("the data spans [{lo}, {hi}], too wide to put on an axis"),
        ))
    }
}

impl<'a> LineFigure<'a> {
    /// Lays out validated `series`.
    pub(super) fn new(
        title: &'a str,
        x_label: &'a str,
        y_label: &'a str,
        series: &'a [Series],
        joined: bool,
    ) -> Result<Self> {
        let height = chart_height(
            "series",
            series.len(),
            LEGEND_ROW,
            LINE_FIXED,
            MIN_LINE_HEIGHT,
        )?;
        let curves: Vec<Vec<(f64, f64)>> = series
            .iter()
            .map(|s| {
                let mut points = s.points.clone();
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                points
            })
            .collect();
        let bounds = |coordinate: fn(&(f64, f64)) -> f64| {
            curves
                .iter()
                .flatten()
                .map(coordinate)
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                    (lo.min(v), hi.max(v))
                })
        };
        let (x_lo, x_hi) = bounds(|p| p.0);
        let (y_lo, y_hi) = bounds(|p| p.1);
        let x_range = padded_range("x values", x_lo, x_hi)?;
        let y_range = padded_range("y values", y_lo, y_hi)?;
        let (names, widest) = fit_labels(
            Self::NAME,
            series.iter().map(|s| s.name.as_str()),
            MAX_LEGEND_NAME_WIDTH,
        )?;
        Ok(Self {
            title,
            x_label,
            y_label,
            curves,
            names,
            legend_width: widest.max(40) + 60,
            x_range,
            y_range,
            height,
            joined,
        })
    }
}

impl Figure for LineFigure<'_> {
    const NAME: &'static str = "line plot";

    fn size(&self) -> (u32, u32) {
        (WIDTH, self.height)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let body = draw_title(root, self.title)?;
        let (plot, legend) = body.split_horizontally(WIDTH - self.legend_width);

        let mut chart = ChartBuilder::on(&plot)
            .margin_top(MARGIN_TOP)
            .margin_bottom(MARGIN_BOTTOM)
            .margin_left(MARGIN_LEFT)
            .margin_right(MARGIN_RIGHT)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(80)
            .build_cartesian_2d(
                self.x_range.0..self.x_range.1,
                self.y_range.0..self.y_range.1,
            )
            .map_err(failed("laying out the chart"))?;
        chart
            .configure_mesh()
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .axis_style(TEXT)
            .label_style(font::font(LABEL_SIZE).color(&TEXT))
            .axis_desc_style(font::font(DESC_SIZE).color(&TEXT))
            .x_desc(self.x_label)
            .y_desc(self.y_label)
            .x_label_formatter(&|v| format_number(*v))
            .y_label_formatter(&|v| format_number(*v))
            .draw()
            .map_err(failed("drawing the axes"))?;

        for (index, curve) in self.curves.iter().enumerate() {
            let (color, marker) = series_style(index);
            if self.joined {
                chart
                    .draw_series(LineSeries::new(
                        curve.iter().copied(),
                        color.stroke_width(2),
                    ))
                    .map_err(failed("drawing a curve"))?;
            }
            for &point in curve {
                draw_marker(chart.plotting_area(), point, marker, color)?;
            }
        }

        // Legend, right of the plot: a line with the marker, then the name.
        let name_style = font::font(LABEL_SIZE)
            .color(&TEXT)
            .pos(Pos::new(HPos::Left, VPos::Center));
        for (index, name) in self.names.iter().enumerate() {
            let (color, marker) = series_style(index);
            let y = (MARGIN_TOP + LEGEND_ROW / 2 + LEGEND_ROW * index as u32) as i32;
            if self.joined {
                legend
                    .draw(&PathElement::new(
                        vec![(4, y), (32, y)],
                        color.stroke_width(2),
                    ))
                    .map_err(failed("drawing the legend"))?;
            }
            draw_marker(&legend, (18, y), marker, color)?;
            legend
                .draw(&Text::new(name.as_str(), (40, y), name_style.clone()))
                .map_err(failed("drawing the legend"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{format_number, padded_range, row_centre, row_label};

    #[test]
    fn numbers_read_compactly() {
        assert_eq!(format_number(0.0), "0");
        assert_eq!(format_number(0.1 + 0.2), "0.3");
        assert_eq!(format_number(0.925), "0.925");
        assert_eq!(format_number(12.5), "12.5");
        assert_eq!(format_number(1_500.0), "1.5k");
        assert_eq!(format_number(2_000_000.0), "2M");
        assert_eq!(format_number(-3.25e9), "-3.25G");
        assert_eq!(format_number(1.5e-5), "1.50e-5");
    }

    #[test]
    fn rows_map_to_their_labels() {
        let labels = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        for (i, label) in labels.iter().enumerate() {
            assert_eq!(&row_label(&labels, row_centre(3, i)), label);
        }
        assert_eq!(row_label(&labels, 3.5), "");
        assert_eq!(row_label(&labels, -0.5), "");
    }

    #[test]
    fn ranges_have_margins() {
        assert_eq!(padded_range("x", 0.0, 1.0).unwrap(), (-0.05, 1.05));
        let (lo, hi) = padded_range("x", 2.0, 2.0).unwrap();
        assert!(lo < 2.0 && hi > 2.0);
        assert_eq!(padded_range("x", 0.0, 0.0).unwrap(), (-1.0, 1.0));
        assert!(padded_range("x", -f64::MAX, f64::MAX).is_err());
    }
}

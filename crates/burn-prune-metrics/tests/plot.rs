//! Plots: what the SVG says (titles, labels, one bar per layer, bar lengths), that PNG files
//! decode to the documented size with text really rendered, and that bad input is an error.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use burn_prune_metrics::MetricsError;
use burn_prune_metrics::plot::{
    BeforeAfter, DensityBar, PlotFormat, Series, before_after_bars, before_after_bars_svg,
    density_bars, density_bars_svg, line_plot, line_plot_svg, scatter_plot_svg,
};

/// Fill of density bars and `after` bars; `before` bars.
const BAR_FILL: &str = "#1F77B4";
const BEFORE_FILL: &str = "#A6A6A6";
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// A fresh path under the temp dir, unique per process and call.
fn temp_path(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir()
        .join(format!("burn-prune-plot-{}-{n}", std::process::id()))
        .join(name)
}

/// Removes the unique directory of a [`temp_path`], with everything in it.
fn clean(path: &Path) {
    let temp = std::env::temp_dir();
    if let Some(dir) = path
        .ancestors()
        .find(|a| a.parent() == Some(temp.as_path()))
    {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The value of `attr` in an SVG tag.
fn attr(tag: &str, attr: &str) -> Option<f64> {
    let start = tag.find(&format!(" {attr}=\""))? + attr.len() + 3;
    let len = tag[start..].find('"')?;
    tag[start..start + len].parse().ok()
}

/// The `<rect .../>` tags filled with `fill`, in document order.
fn rects_filled<'a>(svg: &'a str, fill: &str) -> Vec<&'a str> {
    let fill = format!("fill=\"{fill}\"");
    svg.split("<rect")
        .skip(1)
        .map(|rest| &rest[..rest.find("/>").unwrap_or(rest.len())])
        .filter(|tag| tag.contains(&fill))
        .collect()
}

/// The `(width, height)` of an SVG document.
fn svg_size(svg: &str) -> (f64, f64) {
    let tag = &svg[..svg.find('>').unwrap()];
    (attr(tag, "width").unwrap(), attr(tag, "height").unwrap())
}

/// The texts of the `<text>` elements.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .map(|rest| {
            let start = rest.find('>').unwrap() + 1;
            let end = rest.find("</text>").unwrap();
            rest[start..end].trim().to_owned()
        })
        .collect()
}

/// Decodes an 8-bit RGB PNG file: `(width, height, pixels)`.
fn decode_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.starts_with(PNG_SIGNATURE), "no PNG signature");
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    pixels.truncate(info.buffer_size());
    (info.width, info.height, pixels)
}

/// Number of pixels darker than mid-grey in rows `rows` of an RGB image `width` wide.
fn dark_pixels(pixels: &[u8], width: u32, rows: std::ops::Range<u32>) -> usize {
    let row_bytes = width as usize * 3;
    pixels[rows.start as usize * row_bytes..rows.end as usize * row_bytes]
        .chunks_exact(3)
        .filter(|p| p.iter().all(|&c| c < 128))
        .count()
}

fn is_invalid(result: Result<impl std::fmt::Debug, MetricsError>, what: &str) {
    match result {
        Err(MetricsError::InvalidArgument { what: got, reason }) => {
            assert!(
                got.contains(what),
                "`{got}` ({reason}) is not about `{what}`"
            );
            assert!(!reason.is_empty());
        }
        other => panic!("expected an invalid {what}, got {other:?}"),
    }
}

fn three_bars() -> Vec<DensityBar> {
    vec![
        DensityBar::new("conv1", 1.0),
        DensityBar::new("conv2", 0.25),
        DensityBar::new("fc", 0.5),
    ]
}

#[test]
fn density_svg_has_title_labels_and_one_bar_per_layer() {
    let svg = density_bars_svg("Kept weights per layer", &three_bars()).unwrap();
    assert!(svg.starts_with("<svg"));
    let texts = texts(&svg);
    for expected in [
        "Kept weights per layer",
        "conv1",
        "conv2",
        "fc",
        "density (fraction of weights kept)",
        "0.25",
        "0.50",
        "1.00",
    ] {
        assert!(
            texts.iter().any(|t| t == expected),
            "no text `{expected}` in {texts:?}"
        );
    }
    assert_eq!(rects_filled(&svg, BAR_FILL).len(), 3);
    // Documented size: 960 wide, 110 + 20 per bar, at least 300.
    assert_eq!(svg_size(&svg), (960.0, 300.0));
}

#[test]
fn density_bar_length_is_proportional_to_density() {
    let svg = density_bars_svg("Density", &three_bars()).unwrap();
    let bars = rects_filled(&svg, BAR_FILL);
    let geometry: Vec<(f64, f64, f64, f64)> = bars
        .iter()
        .map(|tag| {
            (
                attr(tag, "x").unwrap(),
                attr(tag, "y").unwrap(),
                attr(tag, "width").unwrap(),
                attr(tag, "height").unwrap(),
            )
        })
        .collect();
    // All bars start on the axis, have the same thickness, and go top to bottom in input order.
    assert!(geometry.iter().all(|g| g.0 == geometry[0].0));
    assert!(geometry.iter().all(|g| g.3 == geometry[0].3 && g.3 > 0.0));
    assert!(geometry[0].1 < geometry[1].1 && geometry[1].1 < geometry[2].1);
    // conv1 = 1.0, conv2 = 0.25, fc = 0.5: lengths 4 : 1 : 2, to the pixel.
    let (full, quarter, half) = (geometry[0].2, geometry[1].2, geometry[2].2);
    assert!(quarter > 50.0, "bars too short to compare: {quarter}");
    assert!(
        (half - 2.0 * quarter).abs() <= 1.0,
        "{half} vs 2 × {quarter}"
    );
    assert!(
        (full - 4.0 * quarter).abs() <= 1.0,
        "{full} vs 4 × {quarter}"
    );
}

#[test]
fn density_of_sixty_layers_keeps_every_label_and_grows_in_height() {
    let bars: Vec<DensityBar> = (0..60)
        .map(|i| DensityBar::new(format!("blocks.{i}.mlp.fc"), (i % 11) as f64 / 10.0))
        .collect();
    let svg = density_bars_svg("Sixty layers", &bars).unwrap();
    let texts = texts(&svg);
    for bar in &bars {
        assert!(texts.contains(&bar.label), "label {} missing", bar.label);
    }
    assert_eq!(rects_filled(&svg, BAR_FILL).len(), 60);
    assert_eq!(svg_size(&svg), (960.0, 110.0 + 20.0 * 60.0));
    // Rows do not overlap: each bar ends above the next one.
    let tops: Vec<(f64, f64)> = rects_filled(&svg, BAR_FILL)
        .iter()
        .map(|t| (attr(t, "y").unwrap(), attr(t, "height").unwrap()))
        .collect();
    assert!(tops.windows(2).all(|w| w[0].0 + w[0].1 < w[1].0));
}

#[test]
fn long_labels_are_shortened_in_the_middle() {
    let long = format!("start.{}.end", "middle".repeat(40));
    let svg = density_bars_svg("Long", &[DensityBar::new(long.clone(), 0.5)]).unwrap();
    let texts = texts(&svg);
    assert!(!texts.contains(&long));
    let shortened = texts
        .iter()
        .find(|t| t.contains('…'))
        .expect("a shortened label");
    assert!(shortened.starts_with("start.") && shortened.ends_with(".end"));
    assert!(shortened.len() < long.len());
}

#[test]
fn before_after_svg_has_legend_labels_and_proportional_bars() {
    let rows = vec![
        BeforeAfter::new("conv1", 1_000.0, 1_000.0),
        BeforeAfter::new("conv2", 400_000.0, 100_000.0),
    ];
    let svg = before_after_bars_svg("Parameters per layer", "parameters", &rows).unwrap();
    let texts = texts(&svg);
    for expected in [
        "Parameters per layer",
        "parameters",
        "before",
        "after",
        "conv1",
        "conv2",
    ] {
        assert!(texts.iter().any(|t| t == expected), "no `{expected}`");
    }
    // Large numbers on the value axis read with SI suffixes.
    assert!(texts.iter().any(|t| t.ends_with('k')), "{texts:?}");
    // One bar per row and kind, plus one legend swatch per kind (drawn first).
    let before = rects_filled(&svg, BEFORE_FILL);
    let after = rects_filled(&svg, BAR_FILL);
    assert_eq!((before.len(), after.len()), (3, 3));
    let width = |tag: &&str| attr(tag, "width").unwrap();
    let (before_conv2, after_conv2) = (width(&before[2]), width(&after[2]));
    assert!((before_conv2 - 4.0 * after_conv2).abs() <= 1.0);
    assert!((width(&before[1]) - width(&after[1])).abs() <= 0.0);
    // Before sits above after in each row.
    assert!(attr(before[1], "y").unwrap() < attr(after[1], "y").unwrap());
    assert_eq!(svg_size(&svg), (960.0, 300.0));
}

#[test]
fn scatter_plot_svg_has_markers_and_no_lines() {
    let series = vec![
        Series::new("sampled", vec![(40.0, 0.12), (25.0, 0.15), (33.0, 0.11)]),
        Series::new("refined", vec![(35.0, 0.10), (38.0, 0.11)]),
    ];
    let svg = scatter_plot_svg("Error vs FLOPs/param", "MACs / param", "error", &series).unwrap();
    let texts = texts(&svg);
    for expected in [
        "Error vs FLOPs/param",
        "MACs / param",
        "error",
        "sampled",
        "refined",
    ] {
        assert!(texts.iter().any(|t| t == expected), "no `{expected}`");
    }
    // A marker per point and per legend entry, no polyline in either series' colour.
    let circles = svg
        .split("<circle")
        .skip(1)
        .filter(|t| t[..t.find("/>").unwrap()].contains(&format!("fill=\"{BAR_FILL}\"")))
        .count();
    assert_eq!(circles, 3 + 1);
    assert_eq!(rects_filled(&svg, "#FF7F0E").len(), 2 + 1);
    assert!(
        !svg.split("<polyline")
            .skip(1)
            .any(|t| t.contains(&format!("stroke=\"{BAR_FILL}\""))
                || t.contains("stroke=\"#FF7F0E\"")),
        "a scatter plot joins no points"
    );
    // The same points as a line plot do have their lines.
    let lines = line_plot_svg("t", "x", "y", &series).unwrap();
    assert!(lines.contains("<polyline"));
}

#[test]
fn line_plot_svg_has_curves_markers_and_legend() {
    let series = vec![
        Series::new(
            "magnitude",
            vec![(0.9, 0.81), (0.0, 0.93), (0.5, 0.92), (0.8, 0.88)],
        ),
        Series::new("random", vec![(0.0, 0.93), (0.5, 0.87), (0.9, 0.52)]),
    ];
    let svg = line_plot_svg(
        "Accuracy vs sparsity",
        "sparsity",
        "top-1 accuracy",
        &series,
    )
    .unwrap();
    let texts = texts(&svg);
    for expected in [
        "Accuracy vs sparsity",
        "sparsity",
        "top-1 accuracy",
        "magnitude",
        "random",
    ] {
        assert!(texts.iter().any(|t| t == expected), "no `{expected}`");
    }
    // One circle marker per point of the first series, plus its legend marker.
    let circles = svg
        .split("<circle")
        .skip(1)
        .filter(|t| t[..t.find("/>").unwrap()].contains(&format!("fill=\"{BAR_FILL}\"")))
        .count();
    assert_eq!(circles, 4 + 1);
    // The second series uses square markers: 3 points + 1 legend entry.
    assert_eq!(rects_filled(&svg, "#FF7F0E").len(), 3 + 1);
    // The first curve is joined by increasing x: its polyline's x coordinates increase.
    let polyline = svg
        .split("<polyline")
        .skip(1)
        .find(|t| t.contains(&format!("stroke=\"{BAR_FILL}\"")))
        .unwrap();
    let start = polyline.find("points=\"").unwrap() + 8;
    let points = &polyline[start..start + polyline[start..].find('"').unwrap()];
    let xs: Vec<f64> = points
        .split_whitespace()
        .map(|p| p.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(xs.len(), 4);
    assert!(xs.windows(2).all(|w| w[0] < w[1]), "{xs:?}");
    assert_eq!(svg_size(&svg), (960.0, 600.0));
}

#[test]
fn svg_output_is_deterministic() {
    let a = density_bars_svg("Same", &three_bars()).unwrap();
    let b = density_bars_svg("Same", &three_bars()).unwrap();
    assert_eq!(a, b);
}

#[test]
fn density_png_decodes_to_its_size_with_text_rendered() {
    let path = temp_path("density.png");
    density_bars(&path, "Density per layer", &three_bars()).unwrap();
    let (width, height, pixels) = decode_png(&path);
    assert_eq!((width, height), (960, 300));
    // The title strip (top 44 rows) holds only the black title text on white.
    let title_ink = dark_pixels(&pixels, width, 0..44);
    assert!(
        title_ink > 100,
        "title not rendered: {title_ink} dark pixels"
    );
    assert!(
        title_ink < 960 * 44 / 4,
        "title strip mostly dark: {title_ink}"
    );
    // Layer labels: dark pixels in the left margin, beside the bars.
    let row_bytes = width as usize * 3;
    let label_ink = pixels[44 * row_bytes..250 * row_bytes]
        .chunks_exact(row_bytes)
        .flat_map(|row| row[..40 * 3].chunks_exact(3))
        .filter(|p| p.iter().all(|&c| c < 128))
        .count();
    assert!(label_ink > 20, "labels not rendered: {label_ink}");
    // Background is white.
    assert_eq!(&pixels[..3], &[255, 255, 255]);
    clean(&path);
}

#[test]
fn before_after_and_line_png_decode_to_their_size() {
    let rows: Vec<BeforeAfter> = (0..8)
        .map(|i| BeforeAfter::new(format!("layer{i}"), 1e6, 1e6 / (i + 1) as f64))
        .collect();
    let bars = temp_path("macs.png");
    before_after_bars(&bars, "MACs per layer", "MACs", &rows).unwrap();
    let (width, height, pixels) = decode_png(&bars);
    assert_eq!((width, height), (960, 140 + 28 * 8));
    assert!(dark_pixels(&pixels, width, 0..44) > 100);
    clean(&bars);

    let series: Vec<Series> = (0..40)
        .map(|l| {
            Series::new(
                format!("layer{l}"),
                (0..10)
                    .map(|k| (k as f64 / 10.0, 1.0 - k as f64 * l as f64 / 400.0))
                    .collect(),
            )
        })
        .collect();
    let lines = temp_path("nested/dir/sensitivity.PNG");
    line_plot(&lines, "Sensitivity", "pruning ratio", "accuracy", &series).unwrap();
    let (width, height, pixels) = decode_png(&lines);
    // The legend of 40 series makes the picture taller than the minimum 600.
    assert_eq!((width, height), (960, 100 + 20 * 40));
    assert!(dark_pixels(&pixels, width, 0..44) > 100);
    clean(&lines);
}

#[test]
fn svg_files_match_the_in_memory_svg() {
    let path = temp_path("density.svg");
    density_bars(&path, "Density", &three_bars()).unwrap();
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(written, density_bars_svg("Density", &three_bars()).unwrap());
    clean(&path);
}

#[test]
fn format_follows_the_extension() {
    assert_eq!(
        PlotFormat::from_path(Path::new("a/b.svg")).unwrap(),
        PlotFormat::Svg
    );
    assert_eq!(
        PlotFormat::from_path(Path::new("b.Png")).unwrap(),
        PlotFormat::Png
    );
    assert_eq!(PlotFormat::Png.extension(), "png");
    is_invalid(PlotFormat::from_path(Path::new("plot.pdf")), "plot path");
    is_invalid(PlotFormat::from_path(Path::new("plot")), "plot path");
}

#[test]
fn unknown_extension_is_an_error_and_writes_nothing() {
    let path = temp_path("density.jpg");
    is_invalid(density_bars(&path, "t", &three_bars()), "plot path");
    is_invalid(
        before_after_bars(&path, "t", "v", &[BeforeAfter::new("a", 1.0, 1.0)]),
        "plot path",
    );
    is_invalid(
        line_plot(&path, "t", "x", "y", &[Series::new("s", vec![(0.0, 1.0)])]),
        "plot path",
    );
    assert!(!path.exists());
}

#[test]
fn bad_densities_are_errors() {
    is_invalid(density_bars_svg("t", &[]), "density bars");
    for bad in [1.5, -0.1, f64::NAN, f64::INFINITY] {
        let bars = [DensityBar::new("ok", 0.5), DensityBar::new("bad", bad)];
        is_invalid(density_bars_svg("t", &bars), "density");
        let path = temp_path("bad.png");
        is_invalid(density_bars(&path, "t", &bars), "density");
        assert!(!path.exists());
    }
}

#[test]
fn bad_before_after_rows_are_errors() {
    is_invalid(before_after_bars_svg("t", "v", &[]), "before/after rows");
    for (before, after) in [(-1.0, 1.0), (1.0, f64::NAN), (f64::INFINITY, 1.0)] {
        is_invalid(
            before_after_bars_svg("t", "v", &[BeforeAfter::new("l", before, after)]),
            "before/after value",
        );
    }
}

#[test]
fn bad_series_are_errors() {
    is_invalid(line_plot_svg("t", "x", "y", &[]), "series");
    is_invalid(
        line_plot_svg("t", "x", "y", &[Series::new("empty", vec![])]),
        "series",
    );
    is_invalid(
        line_plot_svg(
            "t",
            "x",
            "y",
            &[Series::new("nan", vec![(0.0, 1.0), (f64::NAN, 1.0)])],
        ),
        "series point",
    );
    is_invalid(
        line_plot_svg(
            "t",
            "x",
            "y",
            &[Series::new("inf", vec![(0.0, f64::NEG_INFINITY)])],
        ),
        "series point",
    );
    let twice = [
        Series::new("same", vec![(0.0, 1.0)]),
        Series::new("same", vec![(1.0, 0.0)]),
    ];
    is_invalid(line_plot_svg("t", "x", "y", &twice), "series");
    is_invalid(
        line_plot_svg(
            "t",
            "x",
            "y",
            &[Series::new("wide", vec![(-f64::MAX, 0.0), (f64::MAX, 1.0)])],
        ),
        "x values",
    );
}

#[test]
fn too_many_rows_are_an_error_not_a_huge_allocation() {
    let bars: Vec<DensityBar> = (0..5_000)
        .map(|i| DensityBar::new(format!("l{i}"), 0.5))
        .collect();
    is_invalid(density_bars_svg("t", &bars), "density bars");
}

#[test]
fn a_single_point_and_constant_values_still_plot() {
    let svg = line_plot_svg("One", "x", "y", &[Series::new("dot", vec![(3.0, 3.0)])]).unwrap();
    assert!(svg.contains("dot"));
    let zero = before_after_bars_svg("Zero", "v", &[BeforeAfter::new("l", 0.0, 0.0)]).unwrap();
    assert!(zero.contains("Zero"));
    let huge = [BeforeAfter::new("l", f64::MAX, 1e300)];
    assert!(
        before_after_bars_svg("Huge", "v", &huge)
            .unwrap()
            .contains("Huge")
    );
    let far = [Series::new("far", vec![(-1e300, 0.0), (1e300, 1e-300)])];
    assert!(
        line_plot_svg("Far", "x", "y", &far)
            .unwrap()
            .contains("far")
    );
}

#[test]
fn unwritable_path_is_an_io_error() {
    let blocker = temp_path("file");
    std::fs::create_dir_all(blocker.parent().unwrap()).unwrap();
    std::fs::write(&blocker, b"not a directory").unwrap();
    let path = blocker.join("plot.svg");
    match density_bars(&path, "t", &three_bars()) {
        Err(MetricsError::Io {
            action, path: p, ..
        }) => {
            assert_eq!(action, "creating directory");
            assert!(p.ends_with("file"), "{p}");
        }
        other => panic!("expected an IO error, got {other:?}"),
    }
    clean(&blocker);
}

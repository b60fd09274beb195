//! Plots of the paper's figures (issue 8 item 2), PNG or SVG by the file extension:
//!
//! - [`reward_distributions`]: histograms of original vs generated vs oracle-evaluated rewards
//!   (paper Figure 3 / F.7);
//! - [`learning_curves`]: normalized score vs gradient step, mean ± std band over seeds (paper F.2);
//! - [`score_bars`]: the score table as grouped bars with mean ± std error bars.
//!
//! Every plot has a title, axis labels and a legend. PNG text is rendered with the embedded Roboto
//! font (Apache-2.0, `assets/README.md`), so no system font or fontconfig is needed; SVG names the
//! family and leaves glyphs to the viewer. Files are written to a temporary name in the same
//! folder and renamed when complete.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::stats::mean_std;

/// The font of every label (registered under the family name [`FONT`]).
const FONT_BYTES: &[u8] = include_bytes!("../assets/Roboto-Regular.ttf");
/// Font family used in every text style.
const FONT: &str = "sans-serif";
/// Default plot size in pixels (SVG user units).
const SIZE: (u32, u32) = (960, 560);

/// Errors of the plot functions; each names the output file.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The output extension is neither `.png` nor `.svg`.
    #[error("{path}: unknown plot format (expected a .png or .svg file name)")]
    Format {
        /// The requested output path.
        path: PathBuf,
    },
    /// Nothing to plot (no series, or no finite value in any series).
    #[error("{path}: nothing to plot: {what}")]
    Empty {
        /// The requested output path.
        path: PathBuf,
        /// What was missing.
        what: String,
    },
    /// plotters failed while drawing.
    #[error("{path}: drawing failed: {message}")]
    Draw {
        /// The requested output path.
        path: PathBuf,
        /// plotters' message.
        message: String,
    },
    /// Writing or renaming the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file being written.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// One named set of values (a histogram series).
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// The values; non-finite ones are skipped and counted in [`Histogram::skipped`].
    pub values: Vec<f64>,
}

/// Equal-width bin counts of one series over shared edges.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// Legend label of the series.
    pub label: String,
    /// Left edge of bin 0.
    pub lo: f64,
    /// Right edge of the last bin (closed: a value equal to `hi` falls in the last bin).
    pub hi: f64,
    /// Count per bin.
    pub counts: Vec<usize>,
    /// Non-finite values left out.
    pub skipped: usize,
}

/// Counts `values` into `bins` equal-width bins over [lo, hi]: bin b holds
/// lo + b·h ≤ x < lo + (b+1)·h with h = (hi − lo)/bins, the last bin closed; values outside [lo, hi]
/// and non-finite values are not counted.
pub fn bin_counts(values: &[f64], lo: f64, hi: f64, bins: usize) -> Vec<usize> {
    let mut counts = vec![0usize; bins];
    if bins == 0 || hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return counts;
    }
    let width = (hi - lo) / bins as f64;
    for &x in values {
        if !x.is_finite() || x < lo || x > hi {
            continue;
        }
        let b = (((x - lo) / width).floor() as usize).min(bins - 1);
        counts[b] += 1;
    }
    counts
}

/// Shared edges for all series: [min, max] of their finite values, widened by ±0.5 when all
/// values are equal. `None` when no series has a finite value.
fn shared_range(series: &[Series]) -> Option<(f64, f64)> {
    let finite = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .filter(|x| x.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
        (lo.min(x), hi.max(x))
    });
    if lo > hi {
        return None;
    }
    Some(if hi - lo < 1e-12 {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    })
}

/// Paper Figure 3 / F.7: overlapping histograms of several reward series (typically "original",
/// "generated" and "oracle (true r of generated s, a)") on shared bins, each normalized to its own
/// total so that series of different sizes compare. Returns the bin counts it drew.
pub fn reward_distributions(
    path: &Path,
    title: &str,
    series: &[Series],
    bins: usize,
) -> Result<Vec<Histogram>, PlotError> {
    let empty = |what: &str| PlotError::Empty {
        path: path.to_path_buf(),
        what: what.to_string(),
    };
    if bins == 0 {
        return Err(empty("0 bins requested"));
    }
    let (lo, hi) = shared_range(series).ok_or_else(|| empty("no finite reward in any series"))?;
    let hists: Vec<Histogram> = series
        .iter()
        .map(|s| Histogram {
            label: s.label.clone(),
            lo,
            hi,
            counts: bin_counts(&s.values, lo, hi, bins),
            skipped: s.values.iter().filter(|x| !x.is_finite()).count(),
        })
        .collect();
    let fractions: Vec<Vec<f64>> = hists
        .iter()
        .map(|h| {
            let n = h.counts.iter().sum::<usize>().max(1) as f64;
            h.counts.iter().map(|&c| c as f64 / n).collect()
        })
        .collect();
    let y_max = fractions.iter().flatten().fold(0.0f64, |m, &v| m.max(v)) * 1.1 + 1e-9;
    render(
        path,
        SIZE,
        &HistFigure {
            title,
            hists: &hists,
            fractions: &fractions,
            y_max,
        },
    )?;
    Ok(hists)
}

/// The drawing of [`reward_distributions`].
struct HistFigure<'a> {
    title: &'a str,
    hists: &'a [Histogram],
    fractions: &'a [Vec<f64>],
    y_max: f64,
}

impl Figure for HistFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let (lo, hi) = (self.hists[0].lo, self.hists[0].hi);
        let width = (hi - lo) / self.hists[0].counts.len() as f64;
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, (FONT, 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(lo..hi, 0.0..self.y_max)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc("reward per transition")
            .y_desc("fraction of transitions")
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .draw()
            .map_err(draw_err)?;
        for (i, (h, fr)) in self.hists.iter().zip(self.fractions).enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let bars = fr.iter().enumerate().map(move |(b, &f)| {
                let x0 = lo + b as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width, f)], color.mix(0.35).filled())
            });
            chart
                .draw_series(bars)
                .map_err(draw_err)?
                .label(format!(
                    "{} (n = {})",
                    h.label,
                    h.counts.iter().sum::<usize>()
                ))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.mix(0.6).filled())
                });
            // A step outline so overlapping bars stay readable.
            let outline = fr.iter().enumerate().flat_map(move |(b, &f)| {
                let x0 = lo + b as f64 * width;
                [(x0, f), (x0 + width, f)]
            });
            chart
                .draw_series(LineSeries::new(outline, color.stroke_width(2)))
                .map_err(draw_err)?;
        }
        legend(&mut chart)
    }
}

/// The learning curves of one configuration: one `(step, score)` sequence per seed.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    /// Legend label (e.g. "gta" or "none").
    pub label: String,
    /// One run per seed: (gradient step, normalized score) in step order.
    pub runs: Vec<Vec<(f64, f64)>>,
}

/// Per step (the union of the runs' steps, ascending): (step, mean, std, number of runs with a
/// value at that step) over the runs (paper F.2: mean ± std over seeds). Non-finite points are
/// left out.
pub fn band(runs: &[Vec<(f64, f64)>]) -> Vec<(f64, f64, f64, usize)> {
    let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite();
    let mut steps: Vec<f64> = runs.iter().flatten().filter(finite).map(|p| p.0).collect();
    steps.sort_by(f64::total_cmp);
    steps.dedup();
    steps
        .into_iter()
        .map(|s| {
            let vals: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.iter().filter(finite).find(|p| p.0 == s).map(|p| p.1))
                .collect();
            let (m, sd) = mean_std(&vals);
            (s, m, sd, vals.len())
        })
        .collect()
}

/// Learning curves: mean score vs step per curve, with a shaded mean ± std band over seeds.
pub fn learning_curves(
    path: &Path,
    title: &str,
    y_label: &str,
    curves: &[Curve],
) -> Result<(), PlotError> {
    let bands: Vec<_> = curves.iter().map(|c| band(&c.runs)).collect();
    let pts = bands.iter().flatten();
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for &(s, m, sd, _) in pts {
        if !(s.is_finite() && m.is_finite()) {
            continue;
        }
        x0 = x0.min(s);
        x1 = x1.max(s);
        y0 = y0.min(m - sd);
        y1 = y1.max(m + sd);
    }
    if x0 > x1 {
        return Err(PlotError::Empty {
            path: path.to_path_buf(),
            what: "no (step, score) point in any curve".into(),
        });
    }
    if x1 - x0 < 1e-9 {
        (x0, x1) = (x0 - 1.0, x1 + 1.0);
    }
    let pad = ((y1 - y0) * 0.08).max(1e-3);
    let (y0, y1) = (y0 - pad, y1 + pad);
    render(
        path,
        SIZE,
        &LinesFigure {
            title,
            y_label,
            curves,
            bands: &bands,
            x: (x0, x1),
            y: (y0, y1),
        },
    )
}

/// The drawing of [`learning_curves`].
struct LinesFigure<'a> {
    title: &'a str,
    y_label: &'a str,
    curves: &'a [Curve],
    bands: &'a [Vec<(f64, f64, f64, usize)>],
    x: (f64, f64),
    y: (f64, f64),
}

impl Figure for LinesFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, (FONT, 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(self.x.0..self.x.1, self.y.0..self.y.1)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc("gradient step")
            .y_desc(self.y_label)
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .draw()
            .map_err(draw_err)?;
        for (i, (c, b)) in self.curves.iter().zip(self.bands).enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let mut poly: Vec<(f64, f64)> = b.iter().map(|p| (p.0, p.1 + p.2)).collect();
            poly.extend(b.iter().rev().map(|p| (p.0, p.1 - p.2)));
            chart
                .draw_series(std::iter::once(Polygon::new(poly, color.mix(0.2).filled())))
                .map_err(draw_err)?;
            let seeds = c.runs.len();
            chart
                .draw_series(LineSeries::new(
                    b.iter().map(|p| (p.0, p.1)),
                    color.stroke_width(2),
                ))
                .map_err(draw_err)?
                .label(format!("{} (mean ± std, {seeds} seeds)", c.label))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
                });
        }
        legend(&mut chart)
    }
}

/// One bar of [`score_bars`]: a group on the x axis (e.g. a dataset) and a series within it (e.g.
/// an augmentation), with mean and std over seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    /// Group (x-axis label).
    pub group: String,
    /// Series (legend entry and bar colour).
    pub series: String,
    /// Mean over seeds.
    pub mean: f64,
    /// Standard deviation over seeds (error bar half-length).
    pub std: f64,
}

/// The score table as grouped bars with ± std error bars; groups and series keep their order of
/// first appearance in `bars`.
pub fn score_bars(path: &Path, title: &str, y_label: &str, bars: &[Bar]) -> Result<(), PlotError> {
    let mut groups: Vec<&str> = vec![];
    let mut series: Vec<&str> = vec![];
    for b in bars {
        if !groups.contains(&b.group.as_str()) {
            groups.push(&b.group);
        }
        if !series.contains(&b.series.as_str()) {
            series.push(&b.series);
        }
    }
    let finite = bars.iter().filter(|b| b.mean.is_finite());
    let lo = finite
        .clone()
        .map(|b| b.mean - b.std.max(0.0))
        .fold(0.0f64, f64::min);
    let hi = finite
        .map(|b| b.mean + b.std.max(0.0))
        .fold(0.0f64, f64::max);
    if groups.is_empty() {
        return Err(PlotError::Empty {
            path: path.to_path_buf(),
            what: "no bar".into(),
        });
    }
    let pad = ((hi - lo) * 0.1).max(1.0);
    let (lo, hi) = (if lo < 0.0 { lo - pad } else { 0.0 }, hi + pad);
    let longest = groups.iter().map(|g| g.len()).max().unwrap_or(1) as u32;
    let per_group = (series.len() as u32 * 22 + 24).max(longest * 8);
    let size = ((120 + groups.len() as u32 * per_group).max(SIZE.0), SIZE.1);
    render(
        path,
        size,
        &BarsFigure {
            title,
            y_label,
            bars,
            groups: &groups,
            series: &series,
            y: (lo, hi),
        },
    )
}

/// The drawing of [`score_bars`].
struct BarsFigure<'a> {
    title: &'a str,
    y_label: &'a str,
    bars: &'a [Bar],
    groups: &'a [&'a str],
    series: &'a [&'a str],
    y: (f64, f64),
}

impl Figure for BarsFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let (n_groups, n_series) = (self.groups.len(), self.series.len());
        let slot = 0.8 / n_series as f64;
        let groups = self.groups;
        let label_of = |x: &f64| -> String {
            let r = x.round();
            if (x - r).abs() < 1e-6 && r >= 0.0 && (r as usize) < n_groups {
                groups[r as usize].to_string()
            } else {
                String::new()
            }
        };
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, (FONT, 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(-0.5..n_groups as f64 - 0.5, self.y.0..self.y.1)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n_groups + 1)
            .x_label_formatter(&label_of)
            .y_desc(self.y_label)
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .draw()
            .map_err(draw_err)?;
        for (j, s) in self.series.iter().enumerate() {
            let color = Palette99::pick(j).to_rgba();
            let mine: Vec<(f64, &Bar)> = self
                .bars
                .iter()
                .filter(|b| b.series == *s && b.mean.is_finite())
                .map(|b| {
                    let g = groups.iter().position(|g| *g == b.group).unwrap_or(0);
                    (g as f64 - 0.4 + slot * (j as f64 + 0.5), b)
                })
                .collect();
            chart
                .draw_series(mine.iter().map(|&(x, b)| {
                    Rectangle::new(
                        [(x - slot * 0.45, 0.0), (x + slot * 0.45, b.mean)],
                        color.mix(0.8).filled(),
                    )
                }))
                .map_err(draw_err)?
                .label(*s)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.mix(0.8).filled())
                });
            chart
                .draw_series(mine.iter().map(|&(x, b)| {
                    let sd = b.std.max(0.0);
                    ErrorBar::new_vertical(
                        x,
                        b.mean - sd,
                        b.mean,
                        b.mean + sd,
                        BLACK.stroke_width(1),
                        8,
                    )
                }))
                .map_err(draw_err)?;
        }
        legend(&mut chart)
    }
}

/// Draws the legend box in the upper right corner.
fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<
        'a,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(draw_err)
}

fn draw_err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

/// Registers the embedded font once (plotters' ab_glyph font table is process-global).
fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType file committed with the crate; a failure here is a build
        // defect, reported by every text draw as "font unavailable".
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES);
    });
}

/// A plot that can draw itself on any plotters backend (PNG bitmap or SVG).
trait Figure {
    /// Draws the whole figure on `root` (already filled white).
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// Draws `fig` on a white canvas of `size` and writes it as PNG or SVG (by the extension of
/// `path`) through a temporary file in the same folder.
fn render(path: &Path, size: (u32, u32), fig: &impl Figure) -> Result<(), PlotError> {
    register_font();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let draw_error = |message: String| PlotError::Draw {
        path: path.to_path_buf(),
        message,
    };
    let bytes = match ext.as_deref() {
        Some("svg") => {
            let mut text = String::new();
            {
                let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
                root.fill(&WHITE).map_err(|e| draw_error(draw_err(e)))?;
                fig.draw(&root).map_err(draw_error)?;
                root.present().map_err(|e| draw_error(draw_err(e)))?;
            }
            text.into_bytes()
        }
        Some("png") => {
            let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
            {
                let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
                root.fill(&WHITE).map_err(|e| draw_error(draw_err(e)))?;
                fig.draw(&root).map_err(draw_error)?;
                root.present().map_err(|e| draw_error(draw_err(e)))?;
            }
            encode_png(&rgb, size).map_err(|e| draw_error(format!("PNG encoding: {e}")))?
        }
        _ => {
            return Err(PlotError::Format {
                path: path.to_path_buf(),
            });
        }
    };
    write_atomic(path, &bytes)
}

/// Encodes an RGB8 buffer as PNG (the `png` crate; plotters' own encoder would pull in the
/// `image` crate with JPEG and BMP codecs).
fn encode_png(rgb: &[u8], (w, h): (u32, u32)) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header()?;
        writer.write_image_data(rgb)?;
        writer.finish()?;
    }
    Ok(out)
}

/// Writes `bytes` to `.<name>.tmp` beside `path`, then renames it to `path`.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PlotError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| PlotError::Io { path: p, source }
    };
    std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `<text>` element's content in an SVG document (fails the test if it is not XML).
    fn svg_texts(path: &Path) -> Vec<String> {
        let file = std::fs::File::open(path).unwrap();
        let (mut texts, mut in_text) = (vec![], false);
        let mut root_seen = false;
        for ev in xml::reader::EventReader::new(std::io::BufReader::new(file)) {
            match ev.expect("the SVG parses as XML") {
                xml::reader::XmlEvent::StartElement { name, .. } => {
                    root_seen |= name.local_name == "svg";
                    in_text = name.local_name == "text";
                    if in_text {
                        texts.push(String::new());
                    }
                }
                xml::reader::XmlEvent::Characters(c) if in_text => {
                    texts.last_mut().unwrap().push_str(&c)
                }
                xml::reader::XmlEvent::EndElement { .. } => in_text = false,
                _ => {}
            }
        }
        assert!(root_seen, "no <svg> root in {}", path.display());
        texts.iter().map(|t| t.trim().to_string()).collect()
    }

    fn assert_png(path: &Path, size: (u32, u32)) {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
        let dec = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = dec.read_info().unwrap();
        let info = reader.info();
        assert_eq!((info.width, info.height), size);
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        reader.next_frame(&mut buf).unwrap();
        // Not a blank canvas: text, bars and axes put dark pixels on the white background.
        let dark = buf.chunks(3).filter(|p| p.iter().all(|&c| c < 100)).count();
        assert!(dark > 500, "only {dark} dark pixels in {}", path.display());
    }

    #[test]
    fn bin_counts_equal_an_independent_count() {
        // A deterministic spread of values with exact ties on bin edges and the closed top edge.
        let values: Vec<f64> = (0..1000)
            .map(|i| ((i * 37 % 101) as f64) / 4.0 - 3.0)
            .chain([f64::NAN, f64::INFINITY])
            .collect();
        let (lo, hi, bins) = (-3.0, 22.0, 10); // width 2.5
        let counts = bin_counts(&values, lo, hi, bins);
        // Independent count: for each bin, filter by its half-open interval (last one closed).
        assert_eq!(counts.len(), bins);
        for (b, &count) in counts.iter().enumerate() {
            let (l, r) = (lo + 2.5 * b as f64, lo + 2.5 * (b + 1) as f64);
            let expect = values
                .iter()
                .filter(|&&x| x >= l && (x < r || (b == bins - 1 && x == r)))
                .count();
            assert_eq!(count, expect, "bin {b}");
        }
        assert_eq!(
            counts.iter().sum::<usize>(),
            1000,
            "every finite value counted once"
        );
    }

    #[test]
    fn reward_distributions_write_svg_and_png_with_counts() {
        let dir = tempfile::tempdir().unwrap();
        let original: Vec<f64> = (0..500).map(|i| (i % 50) as f64 * 0.1).collect();
        let generated: Vec<f64> = (0..300).map(|i| 1.0 + (i % 30) as f64 * 0.15).collect();
        let oracle: Vec<f64> = generated.iter().map(|r| r - 0.2).collect();
        let series = [
            Series {
                label: "original".into(),
                values: original.clone(),
            },
            Series {
                label: "generated".into(),
                values: generated.clone(),
            },
            Series {
                label: "oracle".into(),
                values: oracle.clone(),
            },
        ];
        let svg = dir.path().join("rewards.svg");
        let hists = reward_distributions(&svg, "Reward distribution of maze", &series, 20).unwrap();
        // Shared edges: min over all = 0 (original), max = 1 + 29·0.15 = 5.35 (generated).
        assert_eq!(hists[0].lo, 0.0);
        assert!((hists[0].hi - 5.35).abs() < 1e-12);
        for (h, v) in hists.iter().zip([&original, &generated, &oracle]) {
            assert_eq!(h.counts, bin_counts(v, h.lo, h.hi, 20));
            assert_eq!(h.counts.iter().sum::<usize>(), v.len());
        }
        // The first bin [0, 0.2675) holds original values 0.0, 0.1, 0.2 ten times each.
        assert_eq!(hists[0].counts[0], 30);
        let texts = svg_texts(&svg);
        assert!(
            texts.iter().any(|t| t == "Reward distribution of maze"),
            "{texts:?}"
        );
        for want in [
            "reward per transition",
            "fraction of transitions",
            "original (n = 500)",
        ] {
            assert!(
                texts.iter().any(|t| t == want),
                "missing {want:?} in {texts:?}"
            );
        }
        let png = dir.path().join("rewards.png");
        reward_distributions(&png, "Reward distribution", &series, 20).unwrap();
        assert_png(&png, SIZE);
        assert!(
            !dir.path().join(".rewards.png.tmp").exists(),
            "temporary file renamed"
        );
        let err = reward_distributions(&dir.path().join("r.jpg"), "t", &series, 20).unwrap_err();
        assert!(err.to_string().contains("r.jpg"), "{err}");
        let empty = [Series {
            label: "x".into(),
            values: vec![f64::NAN],
        }];
        assert!(reward_distributions(&svg, "t", &empty, 20).is_err());
    }

    #[test]
    fn band_is_mean_and_sample_std_per_step() {
        let runs = vec![
            vec![(0.0, 10.0), (100.0, 20.0)],
            vec![(0.0, 14.0), (100.0, 30.0)],
            vec![(0.0, 12.0), (100.0, f64::NAN)],
        ];
        let b = band(&runs);
        assert_eq!(b.len(), 2);
        assert_eq!((b[0].0, b[0].1, b[0].3), (0.0, 12.0, 3));
        assert!(
            (b[0].2 - 2.0).abs() < 1e-12,
            "sample std of 10, 14, 12 is 2"
        );
        assert_eq!((b[1].1, b[1].3), (25.0, 2));
        assert!((b[1].2 - 50f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn learning_curves_and_score_bars_write_labelled_files() {
        let dir = tempfile::tempdir().unwrap();
        let curves = [
            Curve {
                label: "none".into(),
                runs: vec![
                    vec![(0.0, 5.0), (50.0, 9.0)],
                    vec![(0.0, 7.0), (50.0, 11.0)],
                ],
            },
            Curve {
                label: "gta".into(),
                runs: vec![
                    vec![(0.0, 6.0), (50.0, 14.0)],
                    vec![(0.0, 8.0), (50.0, 12.0)],
                ],
            },
        ];
        let svg = dir.path().join("curves.svg");
        learning_curves(&svg, "TD3+BC on maze2d-umaze", "normalized score", &curves).unwrap();
        let texts = svg_texts(&svg);
        for want in [
            "TD3+BC on maze2d-umaze",
            "gradient step",
            "normalized score",
            "gta (mean ± std, 2 seeds)",
        ] {
            assert!(
                texts.iter().any(|t| t == want),
                "missing {want:?} in {texts:?}"
            );
        }
        let png = dir.path().join("curves.png");
        learning_curves(&png, "curves", "normalized score", &curves).unwrap();
        assert_png(&png, SIZE);

        let bars: Vec<Bar> = ["hopper-medium-v2", "walker2d-medium-v2"]
            .iter()
            .flat_map(|g| {
                [("none", 50.0, 3.0), ("gta", 60.0, 2.0)].map(|(s, m, sd)| Bar {
                    group: g.to_string(),
                    series: s.into(),
                    mean: m,
                    std: sd,
                })
            })
            .collect();
        let svg = dir.path().join("scores.svg");
        score_bars(&svg, "Scores (td3bc)", "normalized score", &bars).unwrap();
        let texts = svg_texts(&svg);
        for want in [
            "Scores (td3bc)",
            "hopper-medium-v2",
            "walker2d-medium-v2",
            "none",
            "gta",
        ] {
            assert!(
                texts.iter().any(|t| t == want),
                "missing {want:?} in {texts:?}"
            );
        }
        let png = dir.path().join("scores.png");
        score_bars(&png, "Scores", "normalized score", &bars).unwrap();
        assert_png(&png, SIZE);
        assert!(score_bars(&png, "Scores", "s", &[]).is_err());
    }
}

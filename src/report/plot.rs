//! Charts, as SVG and PNG next to each result (plotters; the font is bundled,
//! so nothing depends on the fonts a machine happens to have).
//!
//! * `memory-per-instance`: Pss (solid) and VmRSS (dashed) per instance vs N.
//! * `total-pss`: total Pss vs N with a least-squares line per variant: the
//!   slope is the per-instance cost, the intercept the shared cost, and R²
//!   says whether it scales linearly (the seed's question).
//! * `latency`: percentile curves from the saved HDR histograms, on the
//!   axis HdrHistogram's own plotter uses (p0, p90, p99, p99.9, ...).

use super::mib;
use crate::measure::latency::{self, Hist};
use crate::result::ResultFile;
use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Chart size in pixels.
pub const SIZE: (u32, u32) = (960, 600);

pub use crate::measure::fit::{Fit, linear_fit};

/// Total Pss (bytes) vs live instances, fitted, per variant that measured
/// memory at several live-instance counts ([`crate::scenario::MemoryStep`]).
pub fn scaling_fits(r: &ResultFile) -> Vec<(String, Fit)> {
    r.variants
        .iter()
        .filter_map(|v| {
            let pts: Vec<(f64, f64)> = memory_steps(v)
                .iter()
                .map(|st| (f64::from(st.live_instances), st.total.pss_bytes as f64))
                .collect();
            Some((v.name.clone(), linear_fit(&pts)?))
        })
        .collect()
}

/// A variant's memory readings at each live-instance count (none when its
/// scenario does not hold instances alive, or it failed).
fn memory_steps(v: &crate::result::VariantResult) -> Vec<crate::scenario::MemoryStep<'_>> {
    v.result
        .as_ref()
        .map_or_else(Vec::new, crate::scenario::ScenarioResult::memory_steps)
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Style {
    /// Solid line with markers.
    Line,
    /// Dashed line.
    Dashed,
    /// Markers only.
    Points,
    /// Thin solid line without markers.
    Thin,
}

/// One series of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// Colour index (same index, same colour).
    pub color: usize,
    /// How it is drawn.
    pub style: Style,
    /// (x, y) in data units (log axes take log10 of these when drawing).
    pub points: Vec<(f64, f64)>,
}

/// A line chart.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Caption.
    pub title: String,
    /// X axis description.
    pub x_label: String,
    /// Y axis description.
    pub y_label: String,
    /// Logarithmic x axis (base 10).
    pub x_log: bool,
    /// Logarithmic y axis (base 10).
    pub y_log: bool,
    /// Tick labels for the x axis, if not numeric.
    pub x_ticks: Option<fn(f64) -> String>,
    /// The data.
    pub series: Vec<Series>,
}

impl Chart {
    fn tx(&self, x: f64) -> f64 {
        if self.x_log { x.max(1e-12).log10() } else { x }
    }

    fn ty(&self, y: f64) -> f64 {
        if self.y_log { y.max(1e-12).log10() } else { y }
    }

    fn ranges(&self) -> Option<(std::ops::Range<f64>, std::ops::Range<f64>)> {
        let pts = self.series.iter().flat_map(|s| s.points.iter());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in pts {
            let (x, y) = (self.tx(x), self.ty(y));
            if !(x.is_finite() && y.is_finite()) {
                continue;
            }
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        if x0 > x1 {
            return None;
        }
        let pad = |a: f64, b: f64, from_zero: bool| {
            let span = (b - a).abs().max(1e-9);
            let lo = if from_zero && a >= 0.0 {
                0.0
            } else {
                a - span * 0.05
            };
            lo..b + span * 0.08
        };
        Some((pad(x0, x1, false), pad(y0, y1, !self.y_log)))
    }

    /// Draws the chart on any plotters backend.
    pub fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let e = |err: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("drawing: {err:?}");
        area.fill(&WHITE).map_err(e)?;
        let Some((xr, yr)) = self.ranges() else {
            return Ok(());
        };
        let xr_len = xr.end - xr.start;
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, ("sans-serif", 22))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(xr, yr)
            .map_err(e)?;
        let (x_log, y_log, ticks) = (self.x_log, self.y_log, self.x_ticks);
        // On a log or percentile axis, one label per power of ten (or per nine).
        let x_labels = if x_log || ticks.is_some() {
            (xr_len.ceil() as usize + 1).clamp(2, 12)
        } else {
            10
        };
        let x_fmt = move |v: &f64| match ticks {
            Some(f) => f(*v),
            None if x_log => human(10f64.powf(*v)),
            None => human(*v),
        };
        let y_fmt = move |v: &f64| {
            if y_log {
                human(10f64.powf(*v))
            } else {
                human(*v)
            }
        };
        chart
            .configure_mesh()
            .x_labels(x_labels)
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(e)?;
        for s in &self.series {
            let color = Palette99::pick(s.color).to_rgba();
            let pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .map(|&(x, y)| (self.tx(x), self.ty(y)))
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
            let legend = move |(x, y): (i32, i32)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            };
            let anno = match s.style {
                Style::Line => {
                    chart
                        .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                        .map_err(e)?;
                    chart
                        .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                        .map_err(e)?
                }
                Style::Thin => chart
                    .draw_series(LineSeries::new(pts.clone(), color.stroke_width(1)))
                    .map_err(e)?,
                Style::Dashed => chart
                    .draw_series(DashedLineSeries::new(
                        pts.clone(),
                        6,
                        5,
                        color.stroke_width(2),
                    ))
                    .map_err(e)?,
                Style::Points => chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))
                    .map_err(e)?,
            };
            if !s.label.is_empty() {
                anno.label(s.label.as_str()).legend(legend);
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(e)?;
        area.present().map_err(e)?;
        Ok(())
    }

    /// Writes `<stem>.svg` and `<stem>.png`.
    pub fn write(&self, stem: &Path) -> Result<Vec<PathBuf>> {
        register_font();
        if let Some(dir) = stem.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let svg = stem.with_extension("svg");
        let png = stem.with_extension("png");
        {
            let area = SVGBackend::new(&svg, SIZE).into_drawing_area();
            self.draw(&area)?;
        }
        {
            let area = BitMapBackend::new(&png, SIZE).into_drawing_area();
            self.draw(&area)?;
        }
        Ok(vec![svg, png])
    }
}

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // DejaVu Sans is a valid TrueType font; registration cannot fail on it.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

/// Short number for a tick label: `1`, `2.5`, `100`, `1.2k`, `3M`.
fn human(v: f64) -> String {
    let a = v.abs();
    let (x, suffix) = if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let s = if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    };
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s}{suffix}")
}

/// Percentile axis value for quantile `q`: 0 at p0, 1 at p90, 2 at p99, 3 at p99.9.
pub fn percentile_axis(q: f64) -> f64 {
    -(1.0 - q.min(0.999_999)).log10()
}

fn percentile_tick(v: f64) -> String {
    if v < 0.5 {
        return "p0".into();
    }
    let q = 100.0 * (1.0 - 10f64.powf(-v));
    let s = format!("{q:.4}");
    format!("p{}", s.trim_end_matches('0').trim_end_matches('.'))
}

/// (percentile axis, microseconds) points of a histogram's percentile curve.
pub fn percentile_curve(h: &Hist) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    // With n values the tail ends at quantile 1 - 1/n: the last point is
    // drawn there rather than at an arbitrary far right.
    let end = (h.len().max(2) as f64).log10();
    h.iter_quantiles(5)
        .map(|v| {
            (
                percentile_axis(v.quantile_iterated_to()).min(end),
                v.value_iterated_to() as f64 / 1000.0,
            )
        })
        .collect()
}

/// Writes every chart a result has data for into `out_dir` as `<chart>.svg`
/// and `<chart>.png`. Histogram paths in the result are read relative to
/// `json_dir` (the result file's folder). Returns the written files.
pub fn write_all(json_dir: &Path, out_dir: &Path, r: &ResultFile) -> Result<Vec<PathBuf>> {
    let mut charts: Vec<(&str, Chart)> = Vec::new();
    if r.variants.iter().any(|v| !memory_steps(v).is_empty()) {
        charts.push(("memory-per-instance", memory_per_instance(r)));
        charts.push(("total-pss", total_pss(r)));
    }
    if let Some(c) = latency_chart(json_dir, r)? {
        charts.push(("latency", c));
    }
    let mut out = Vec::new();
    for (name, chart) in charts {
        out.extend(chart.write(&out_dir.join(name))?);
    }
    Ok(out)
}

/// Pss (solid) and VmRSS (dashed) per instance vs live instances.
pub fn memory_per_instance(r: &ResultFile) -> Chart {
    let mut series = Vec::new();
    for (i, v) in r.variants.iter().enumerate() {
        let steps = memory_steps(v);
        if steps.is_empty() {
            continue;
        }
        let pts = |f: &dyn Fn(&crate::measure::memory::PerInstance) -> f64| {
            steps
                .iter()
                .map(|st| (f64::from(st.live_instances), f(st.per_instance) / 1048576.0))
                .collect::<Vec<_>>()
        };
        series.push(Series {
            label: format!("{} Pss", v.name),
            color: i,
            style: Style::Line,
            points: pts(&|p| p.pss_bytes),
        });
        series.push(Series {
            label: format!("{} VmRSS", v.name),
            color: i,
            style: Style::Dashed,
            points: pts(&|p| p.vm_rss_bytes),
        });
    }
    Chart {
        title: format!("{}: memory per instance", r.experiment),
        x_label: "live instances (N)".into(),
        y_label: "MiB per instance".into(),
        x_log: true,
        y_log: false,
        x_ticks: None,
        series,
    }
}

/// Total Pss vs N with the fitted line of each variant.
pub fn total_pss(r: &ResultFile) -> Chart {
    let fits = scaling_fits(r);
    let mut series = Vec::new();
    for (i, v) in r.variants.iter().enumerate() {
        let steps = memory_steps(v);
        if steps.is_empty() {
            continue;
        }
        let pts: Vec<(f64, f64)> = steps
            .iter()
            .map(|st| {
                (
                    f64::from(st.live_instances),
                    st.total.pss_bytes as f64 / 1048576.0,
                )
            })
            .collect();
        let max_n = pts.iter().map(|p| p.0).fold(0.0, f64::max);
        let fit = fits.iter().find(|(n, _)| *n == v.name).map(|(_, f)| *f);
        let label = match fit {
            Some(f) => format!(
                "{}: {}/inst + {} shared, R²={:.4}",
                v.name,
                mib(f.slope),
                mib(f.intercept),
                f.r2
            ),
            None => v.name.clone(),
        };
        series.push(Series {
            label,
            color: i,
            style: Style::Points,
            points: pts,
        });
        if let Some(f) = fit {
            let line = (0..=20)
                .map(|k| {
                    let x = max_n * f64::from(k) / 20.0;
                    (x, (f.slope * x + f.intercept) / 1048576.0)
                })
                .collect();
            series.push(Series {
                label: String::new(),
                color: i,
                style: Style::Thin,
                points: line,
            });
        }
    }
    Chart {
        title: format!(
            "{}: total Pss vs live instances (least-squares fit)",
            r.experiment
        ),
        x_label: "live instances (N)".into(),
        y_label: "total Pss (MiB)".into(),
        x_log: false,
        y_log: false,
        x_ticks: None,
        series,
    }
}

/// Percentile curves of the saved histograms of each variant's charted
/// phases ([`crate::scenario::Scenario::charted_phases`]).
fn latency_chart(json_dir: &Path, r: &ResultFile) -> Result<Option<Chart>> {
    let mut series = Vec::new();
    let mut color = 0;
    for v in &r.variants {
        let Some(result) = &v.result else { continue };
        let charted = result.charted_phases();
        for p in &charted {
            let Some(rel) = &p.hlog_path else { continue };
            let bytes = std::fs::read(json_dir.join(rel))?;
            let merged =
                latency::merge(latency::read_interval_log(&bytes)?.iter().map(|(_, h)| h))?;
            series.push(Series {
                label: if charted.len() > 1 {
                    format!("{} {}", v.name, p.phase)
                } else {
                    v.name.clone()
                },
                color,
                style: Style::Thin,
                points: percentile_curve(&merged),
            });
            color += 1;
        }
    }
    if series.is_empty() {
        return Ok(None);
    }
    Ok(Some(Chart {
        title: format!("{}: latency by percentile", r.experiment),
        x_label: "percentile".into(),
        y_label: "latency (µs, log scale)".into(),
        x_log: false,
        y_log: true,
        x_ticks: Some(percentile_tick),
        series,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_recovers_a_line_and_scores_noise() {
        let f = linear_fit(&[(1.0, 12.0), (10.0, 30.0), (100.0, 210.0)]).unwrap();
        assert!((f.slope - 2.0).abs() < 1e-9, "{f:?}");
        assert!((f.intercept - 10.0).abs() < 1e-9);
        assert!((f.r2 - 1.0).abs() < 1e-12);
        let g = linear_fit(&[(1.0, 1.0), (2.0, 5.0), (3.0, 2.0), (4.0, 6.0)]).unwrap();
        assert!(g.r2 < 0.9 && g.r2 > 0.0, "{g:?}");
        assert!(linear_fit(&[(1.0, 1.0)]).is_none());
        assert!(linear_fit(&[(2.0, 1.0), (2.0, 3.0)]).is_none());
    }

    #[test]
    fn percentile_axis_matches_hdr_plotter() {
        assert_eq!(percentile_axis(0.0), 0.0);
        assert!((percentile_axis(0.9) - 1.0).abs() < 1e-9);
        assert!((percentile_axis(0.99) - 2.0).abs() < 1e-9);
        assert_eq!(percentile_tick(0.0), "p0");
        assert_eq!(percentile_tick(2.0), "p99");
        assert_eq!(percentile_tick(3.0), "p99.9");
    }

    #[test]
    fn human_ticks_are_short() {
        assert_eq!(human(1.0), "1");
        assert_eq!(human(2.5), "2.5");
        assert_eq!(human(1500.0), "1.5k");
        assert_eq!(human(3_000_000.0), "3M");
    }
}

//! Charts as SVG, drawn by plotters' SVG backend. A chart is a function of its data only (no
//! clock, no ids), so the same figures give the same bytes and a browser or proxy may cache
//! it by content. Each has a `<title>` and a `<desc>` for screen readers, and a fixed size so a
//! page reserves its space before it loads.
use chrono::NaiveDate;
use plotters::prelude::*;

use super::{backlog::Buckets, streams::StreamFigures, summary::Figures};

/// Width and height in pixels.
pub const SIZE: (u32, u32) = (640, 320);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One bar per label.
    Bars,
    /// One line per series, a point per label; `None` values break the line.
    Lines,
}

/// What a chart shows: labels along x and one or more series of values.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: String,
    /// What it shows, in words (its `<desc>`).
    pub description: String,
    pub kind: Kind,
    /// The unit of the y axis, e.g. `hours`.
    pub y_unit: &'static str,
    pub labels: Vec<String>,
    pub series: Vec<(&'static str, Vec<Option<f64>>)>,
}

/// Colours a reader with the common colour-vision deficiencies can tell apart (Okabe–Ito).
const PALETTE: [RGBColor; 3] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
];

#[derive(Debug, thiserror::Error)]
#[error("chart could not be drawn: {0}")]
pub struct ChartError(String);

impl Chart {
    /// The chart as an SVG document.
    pub fn svg(&self) -> Result<String, ChartError> {
        let mut out = String::new();
        self.draw(&mut out).map_err(|e| ChartError(e.to_string()))?;
        Ok(with_title(&out, &self.title, &self.description))
    }

    fn draw(&self, out: &mut String) -> Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(out, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let n = self.labels.len().max(1);
        let top = self
            .series
            .iter()
            .flat_map(|(_, values)| values.iter().flatten())
            .fold(0.0_f64, |a, b| a.max(*b));
        // Head room above the highest value; an empty chart still has an axis.
        let top = if top > 0.0 { top * 1.1 } else { 1.0 };
        let mut chart = ChartBuilder::on(&root)
            .caption(&self.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..n as f64, 0.0..top)?;
        let labels = &self.labels;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n.min(8))
            .x_label_formatter(&|x| {
                let i = x.floor().max(0.0) as usize;
                labels.get(i).cloned().unwrap_or_default()
            })
            .y_desc(self.y_unit)
            .draw()?;
        let width = 0.8 / self.series.len().max(1) as f64;
        for (k, (name, values)) in self.series.iter().enumerate() {
            let colour = PALETTE[k % PALETTE.len()];
            match self.kind {
                Kind::Bars => {
                    let left = 0.1 + k as f64 * width;
                    chart
                        .draw_series(values.iter().enumerate().filter_map(|(i, v)| {
                            let x = i as f64 + left;
                            v.map(|v| Rectangle::new([(x, 0.0), (x + width, v)], colour.filled()))
                        }))?
                        .label(*name)
                        .legend(move |(x, y)| {
                            Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled())
                        });
                }
                Kind::Lines => {
                    // A gap in the data is a gap in the line, not a drop to zero.
                    let runs = values
                        .iter()
                        .enumerate()
                        .collect::<Vec<_>>()
                        .split(|(_, v)| v.is_none())
                        .map(|run| {
                            run.iter()
                                .filter_map(|(i, v)| v.map(|v| (*i as f64 + 0.5, v)))
                                .collect::<Vec<_>>()
                        })
                        .filter(|run| !run.is_empty())
                        .collect::<Vec<_>>();
                    for run in &runs {
                        chart.draw_series(LineSeries::new(
                            run.iter().copied(),
                            colour.stroke_width(2),
                        ))?;
                        chart
                            .draw_series(run.iter().map(|p| Circle::new(*p, 3, colour.filled())))?;
                    }
                    chart
                        .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
                        .label(*name)
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 12, y)], colour.stroke_width(2))
                        });
                }
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    }
}

/// The charts there are.
pub const CHARTS: [&str; 5] = [
    "incident_volume",
    "mttr_trend",
    "sla_compliance",
    "backlog_age",
    "value_stream",
];

fn label(day: NaiveDate) -> String {
    day.format("%m-%d").to_string()
}

/// Incidents created and resolved per interval (`per_interval`: each interval's first day
/// and figures).
pub fn incident_volume(per_interval: &[(NaiveDate, Figures)]) -> Chart {
    Chart {
        title: "Incident volume".into(),
        description: "Incidents created and resolved per interval, by the tenant's local days."
            .into(),
        kind: Kind::Bars,
        y_unit: "incidents",
        labels: per_interval.iter().map(|(d, _)| label(*d)).collect(),
        series: vec![
            (
                "created",
                per_interval
                    .iter()
                    .map(|(_, f)| Some(f.incidents.created as f64))
                    .collect(),
            ),
            (
                "resolved",
                per_interval
                    .iter()
                    .map(|(_, f)| Some(f.incidents.resolved as f64))
                    .collect(),
            ),
        ],
    }
}

/// MTTR's median and 90th percentile per interval, in hours (gaps where nothing resolved).
pub fn mttr_trend(per_interval: &[(NaiveDate, Figures)]) -> Chart {
    let hours = |s: Option<f64>| s.map(|s| (s / 36.0).round() / 100.0);
    Chart {
        title: "MTTR trend".into(),
        description: "Created to final resolution, median and 90th percentile per interval.".into(),
        kind: Kind::Lines,
        y_unit: "hours",
        labels: per_interval.iter().map(|(d, _)| label(*d)).collect(),
        series: vec![
            (
                "p50",
                per_interval
                    .iter()
                    .map(|(_, f)| hours(f.incidents.mttr_seconds.p50))
                    .collect(),
            ),
            (
                "p90",
                per_interval
                    .iter()
                    .map(|(_, f)| hours(f.incidents.mttr_seconds.p90))
                    .collect(),
            ),
        ],
    }
}

/// Response and resolution SLAs met, in percent of the incidents resolved per interval.
pub fn sla_compliance(per_interval: &[(NaiveDate, Figures)]) -> Chart {
    let percent = |r: Option<f64>| r.map(|r| (r * 1000.0).round() / 10.0);
    Chart {
        title: "SLA compliance".into(),
        description: "Share of the incidents resolved per interval whose response and \
                      resolution targets were met."
            .into(),
        kind: Kind::Lines,
        y_unit: "percent",
        labels: per_interval.iter().map(|(d, _)| label(*d)).collect(),
        series: vec![
            (
                "response",
                per_interval
                    .iter()
                    .map(|(_, f)| percent(f.incidents.sla_response_met_ratio))
                    .collect(),
            ),
            (
                "resolution",
                per_interval
                    .iter()
                    .map(|(_, f)| percent(f.incidents.sla_resolution_met_ratio))
                    .collect(),
            ),
        ],
    }
}

/// Open incidents by age.
pub fn backlog_age(buckets: &Buckets) -> Chart {
    let counts = buckets.as_pairs();
    Chart {
        title: "Backlog by age".into(),
        description: "Open incidents by how long ago they were created.".into(),
        kind: Kind::Bars,
        y_unit: "incidents",
        labels: counts
            .iter()
            .map(|(name, _)| name.replace('_', " "))
            .collect(),
        series: vec![(
            "open",
            counts.iter().map(|(_, n)| Some(*n as f64)).collect(),
        )],
    }
}

/// Each step's total time in hours, for the tickets that completed the stream.
pub fn value_stream(stream: &StreamFigures) -> Chart {
    let bottleneck = stream
        .bottleneck
        .as_ref()
        .map(|b| format!(" The bottleneck is {}.", b.step))
        .unwrap_or_default();
    Chart {
        title: format!("Value stream {}", stream.stream),
        description: format!(
            "Total time per step of the {} tickets that completed the stream.{bottleneck}",
            stream.completed
        ),
        kind: Kind::Bars,
        y_unit: "hours",
        labels: stream
            .steps
            .iter()
            .map(|s| s.step.replace('_', " "))
            .collect(),
        series: vec![(
            "total",
            stream
                .steps
                .iter()
                .map(|s| Some((s.total_seconds / 36.0).round() / 100.0))
                .collect(),
        )],
    }
}

/// `svg` with `<title>` and `<desc>` as the first children of its root, and `role="img"`.
fn with_title(svg: &str, title: &str, description: &str) -> String {
    let Some(open) = svg
        .find("<svg")
        .and_then(|at| svg[at..].find('>').map(|end| at + end))
    else {
        return svg.to_string();
    };
    format!(
        "{} role=\"img\" aria-labelledby=\"chart-title chart-desc\"><title id=\"chart-title\">{}</title><desc id=\"chart-desc\">{}</desc>{}",
        &svg[..open],
        escape(title),
        escape(description),
        &svg[open + 1..]
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(kind: Kind, values: Vec<Option<f64>>) -> Chart {
        Chart {
            title: "Incidents <created>".into(),
            description: "Per day".into(),
            kind,
            y_unit: "incidents",
            labels: (1..=values.len()).map(|d| format!("12-{d:02}")).collect(),
            series: vec![("created", values)],
        }
    }

    #[test]
    fn the_same_data_gives_the_same_bytes_with_an_escaped_title() {
        for kind in [Kind::Bars, Kind::Lines] {
            let c = chart(kind, vec![Some(3.0), None, Some(7.0), Some(1.0)]);
            let (a, b) = (c.svg().ok(), c.svg().ok());
            assert!(a.is_some());
            assert_eq!(a, b);
            let svg = a.unwrap_or_default();
            assert!(svg.starts_with("<svg"), "{svg}");
            assert!(svg.contains("<title id=\"chart-title\">Incidents &lt;created&gt;</title>"));
            assert!(svg.contains("<desc id=\"chart-desc\">Per day</desc>"));
            assert!(svg.contains("role=\"img\""));
        }
    }

    #[test]
    fn different_data_gives_different_bytes_and_empty_data_still_draws() {
        let a = chart(Kind::Bars, vec![Some(3.0)]).svg().ok();
        let b = chart(Kind::Bars, vec![Some(4.0)]).svg().ok();
        assert_ne!(a, b);
        assert!(chart(Kind::Lines, vec![]).svg().is_ok());
        assert!(chart(Kind::Lines, vec![None, None]).svg().is_ok());
    }
}

//! The charts of a benchmark run, built from its rows: throughput against packet size (one
//! chart per direction and tunnel count, bars in Gbit/s) and against tunnel count (one chart
//! per direction and size, lines in Mpps on a log axis). Each series is one transform and
//! worker count; the size charts add the I/O-only baseline of the same run.

use super::latency::LatencyResult;
use super::plot::{Chart, Series, Style, XAxis};
use super::results::CaseResult;
use super::traffic::{Dir, Size};

/// A chart and the tail of its file name (`bench-<date>-<file>.svg`).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedChart {
    pub file: String,
    pub chart: Chart,
}

/// Distinct values in first-seen order.
fn distinct<T: PartialEq + Clone>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// The series key of a row: transform and workers.
fn setting(r: &CaseResult) -> (String, u16) {
    (r.transform.clone(), r.workers)
}

fn setting_name(s: &(String, u16)) -> String {
    format!("{} {}w", s.0, s.1)
}

/// Gbit/s (L2, FCS excluded) of a rate over a row's mean input frame.
fn gbps(r: &CaseResult, mpps: f64) -> f64 {
    mpps * r.mean_input_frame * 8.0 / 1e3
}

const SIZES: [Size; 3] = [Size::B64, Size::Imix, Size::Ip1420];

/// Every chart of the run, in a fixed order; charts without a single figure are left out.
pub fn charts(rows: &[CaseResult]) -> Vec<NamedChart> {
    let settings = distinct(rows.iter().map(setting));
    let dirs = distinct(rows.iter().map(|r| r.dir));
    let mut out = Vec::new();
    let sizes: Vec<Size> =
        SIZES.into_iter().filter(|s| rows.iter().any(|r| r.size == *s)).collect();
    let size_names: Vec<String> = sizes.iter().map(|s| s.label().to_owned()).collect();
    let slot = |s: Size| sizes.iter().position(|&x| x == s).map(|i| i as f64);

    for &dir in &dirs {
        let mut tunnel_counts = distinct(rows.iter().filter(|r| r.dir == dir).map(|r| r.tunnels));
        tunnel_counts.sort_unstable();
        for &t in &tunnel_counts {
            let of = |r: &&CaseResult| r.dir == dir && r.tunnels == t;
            let mut series: Vec<Series> = settings
                .iter()
                .map(|st| Series {
                    name: setting_name(st),
                    points: rows
                        .iter()
                        .filter(of)
                        .filter(|r| setting(r) == *st)
                        .filter_map(|r| Some((slot(r.size)?, gbps(r, r.mpps?))))
                        .collect(),
                })
                .filter(|s| !s.points.is_empty())
                .collect();
            // The I/O-only baseline: the first run of each size (they replay the same
            // capture through the same forwarder, whatever the transform).
            let io: Vec<(f64, f64)> = sizes
                .iter()
                .filter_map(|&size| {
                    let r =
                        rows.iter().filter(of).find(|r| r.size == size && r.io_mpps.is_some())?;
                    Some((slot(size)?, gbps(r, r.io_mpps?)))
                })
                .collect();
            if series.is_empty() {
                continue;
            }
            if !io.is_empty() {
                series.push(Series { name: "I/O-only".into(), points: io });
            }
            out.push(NamedChart {
                file: format!("size-{}-{t}tun", dir.label()),
                chart: Chart {
                    title: format!(
                        "ferrogate {}: throughput vs packet size, {t} tunnel{}",
                        dir_title(dir),
                        if t == 1 { "" } else { "s" }
                    ),
                    x_label: "frame size (B, without FCS; imix = 7:4:1 of 64/594/1518)".into(),
                    y_label: "Gbit/s (L2, input frames)".into(),
                    x: XAxis::Categories(size_names.clone()),
                    style: Style::Bars,
                    series,
                },
            });
        }
    }
    for &dir in &dirs {
        for &size in &sizes {
            let of = |r: &&CaseResult| r.dir == dir && r.size == size;
            if distinct(rows.iter().filter(of).map(|r| r.tunnels)).len() < 2 {
                continue;
            }
            let series: Vec<Series> = settings
                .iter()
                .map(|st| Series {
                    name: setting_name(st),
                    points: rows
                        .iter()
                        .filter(of)
                        .filter(|r| setting(r) == *st)
                        .filter_map(|r| Some((f64::from(r.tunnels), r.mpps?)))
                        .collect(),
                })
                .filter(|s| !s.points.is_empty())
                .collect();
            if series.is_empty() {
                continue;
            }
            out.push(NamedChart {
                file: format!("tunnels-{}-{}", dir.label(), size.label()),
                chart: Chart {
                    title: format!(
                        "ferrogate {}: throughput vs tunnel count, {}",
                        dir_title(dir),
                        match size {
                            Size::Imix => "IMIX".to_owned(),
                            s => format!("{} B", s.label()),
                        }
                    ),
                    x_label: "tunnels (log scale)".into(),
                    y_label: "Mpps".into(),
                    x: XAxis::Log10,
                    style: Style::Lines,
                    series,
                },
            });
        }
    }
    out
}

fn dir_title(d: Dir) -> &'static str {
    match d {
        Dir::Enc => "encrypt",
        Dir::Dec => "decrypt",
    }
}

/// One chart per direction of the latency runs: p50, p99 and p99.9 per size, µs.
pub fn latency_charts(rows: &[LatencyResult]) -> Vec<NamedChart> {
    let mut out = Vec::new();
    for dir in distinct(rows.iter().map(|r| r.dir)) {
        let of: Vec<&LatencyResult> = rows.iter().filter(|r| r.dir == dir).collect();
        let sizes: Vec<Size> =
            SIZES.into_iter().filter(|s| of.iter().any(|r| r.size == *s)).collect();
        let slot = |s: Size| sizes.iter().position(|&x| x == s).map(|i| i as f64);
        type Pick = fn(&LatencyResult) -> Option<f64>;
        let picks: [(&str, Pick); 3] =
            [("p50", |r| r.p50_us), ("p99", |r| r.p99_us), ("p99.9", |r| r.p99_9_us)];
        let series: Vec<Series> = picks
            .iter()
            .map(|(name, pick)| Series {
                name: (*name).to_owned(),
                points: of
                    .iter()
                    .filter(|r| r.error.is_none())
                    .filter_map(|r| Some((slot(r.size)?, pick(r)?)))
                    .collect(),
            })
            .collect();
        if series.iter().all(|s| s.points.is_empty()) {
            continue;
        }
        let rate = of.first().map_or(0, |r| r.rate_pps);
        out.push(NamedChart {
            file: format!("latency-{}", dir.label()),
            chart: Chart {
                title: format!(
                    "ferrogate {}: one-way latency at {rate} pps, 1 tunnel",
                    dir_title(dir)
                ),
                x_label: "frame size (B, without FCS)".into(),
                y_label: "latency (µs)".into(),
                x: XAxis::Categories(sizes.iter().map(|s| s.label().to_owned()).collect()),
                style: Style::Bars,
                series,
            },
        });
    }
    out
}

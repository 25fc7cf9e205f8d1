//! Small SVG charts (grouped bars over categories, lines over a linear or log axis), written
//! by hand so that the benchmark needs no plotting library. The output is deterministic:
//! the same chart gives the same bytes (fixed number formats, no dates or random ids), so
//! result files diff cleanly. Every piece of text is XML-escaped.

use std::fmt::Write as _;

/// Width and height of every chart, pixels.
const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 420.0;
/// Plot area margins: room for the axis labels on the left and bottom, the legend on the
/// right, the title on top.
const LEFT: f64 = 70.0;
const RIGHT: f64 = 210.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
/// Series colours, in turn (a colour-blind-safe palette).
const PALETTE: [&str; 8] =
    ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000"];
/// Y-axis intervals.
const Y_TICKS: usize = 5;

/// How x values map to the plot.
#[derive(Debug, Clone, PartialEq)]
pub enum XAxis {
    /// Evenly spaced, linear.
    Linear,
    /// Decades evenly spaced; values at or below zero are left out.
    Log10,
    /// Named slots; a point's x is the slot's index (0-based).
    Categories(Vec<String>),
}

/// How the series are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// One bar per series in each category (needs [`XAxis::Categories`]).
    Bars,
    /// A line through each series' points, with a dot at each.
    Lines,
}

/// One named set of `(x, y)` points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// A chart to render.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x: XAxis,
    pub style: Style,
    pub series: Vec<Series>,
}

/// Escapes text for SVG element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0.
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A short label for a value: `0.5`, `12.3`, `150`, `10k`, `1M`.
pub fn short_number(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 && (v / 1e6).fract() == 0.0 {
        format!("{}M", v / 1e6)
    } else if a >= 1e3 && (v / 1e3).fract() == 0.0 {
        format!("{}k", v / 1e3)
    } else if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The smallest "round" number (1, 2 or 5 times a power of ten) at or above `v`.
fn nice_ceiling(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|&c| c >= v * (1.0 - 1e-12))
        .unwrap_or(10.0 * p)
}

/// The points that can be drawn on this axis: finite, positive x on a log axis, an
/// existing slot on a category axis.
fn usable(x: &XAxis, points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    points
        .iter()
        .copied()
        .filter(|(px, py)| px.is_finite() && py.is_finite())
        .filter(|(px, _)| match x {
            XAxis::Linear => true,
            XAxis::Log10 => *px > 0.0,
            XAxis::Categories(names) => *px >= 0.0 && *px < names.len() as f64,
        })
        .collect()
}

/// Maps x values to pixels.
struct XMap {
    lo: f64,
    hi: f64,
    log: bool,
    categories: Option<usize>,
}

impl XMap {
    fn new(c: &Chart) -> XMap {
        let xs: Vec<f64> =
            c.series.iter().flat_map(|s| usable(&c.x, &s.points)).map(|p| p.0).collect();
        match &c.x {
            XAxis::Categories(names) => {
                XMap { lo: 0.0, hi: names.len() as f64, log: false, categories: Some(names.len()) }
            }
            axis => {
                let log = *axis == XAxis::Log10;
                let t = |v: f64| if log { v.log10() } else { v };
                let lo = xs.iter().copied().map(t).fold(f64::INFINITY, f64::min);
                let hi = xs.iter().copied().map(t).fold(f64::NEG_INFINITY, f64::max);
                let (lo, hi) = match (lo.is_finite(), hi.is_finite()) {
                    (true, true) if hi > lo => (lo, hi),
                    (true, true) => (lo - 1.0, hi + 1.0),
                    _ => (0.0, 1.0),
                };
                // A log axis spans whole decades.
                let (lo, hi) =
                    if log { (lo.floor(), hi.ceil().max(lo.floor() + 1.0)) } else { (lo, hi) };
                XMap { lo, hi, log, categories: None }
            }
        }
    }

    fn px(&self, v: f64) -> f64 {
        let w = WIDTH - LEFT - RIGHT;
        match self.categories {
            // The middle of the slot.
            Some(n) => LEFT + w * (v + 0.5) / n.max(1) as f64,
            None => {
                let v = if self.log { v.log10() } else { v };
                LEFT + w * (v - self.lo) / (self.hi - self.lo)
            }
        }
    }
}

/// The chart as a standalone SVG document.
pub fn render(c: &Chart) -> String {
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = XMap::new(c);
    let y_max = nice_ceiling(
        c.series.iter().flat_map(|s| usable(&c.x, &s.points)).map(|p| p.1).fold(0.0, f64::max),
    );
    let py = |v: f64| TOP + plot_h * (1.0 - (v / y_max).clamp(0.0, 1.0));

    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH:.0}\" height=\"{HEIGHT:.0}\" \
         viewBox=\"0 0 {WIDTH:.0} {HEIGHT:.0}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(s, "<title>{}</title>", escape(&c.title));
    let _ = writeln!(s, "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>");
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">{}</text>",
        LEFT + plot_w / 2.0,
        escape(&c.title)
    );

    // Y grid and labels.
    for i in 0..=Y_TICKS {
        let v = y_max * i as f64 / Y_TICKS as f64;
        let yy = py(v);
        let _ = writeln!(
            s,
            "<line x1=\"{LEFT:.1}\" y1=\"{yy:.1}\" x2=\"{:.1}\" y2=\"{yy:.1}\" stroke=\"#dddddd\"/>",
            LEFT + plot_w
        );
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT - 6.0,
            yy + 4.0,
            escape(&short_number(v))
        );
    }
    // X ticks and labels.
    let x_ticks: Vec<(f64, String)> = match &c.x {
        XAxis::Categories(names) => {
            names.iter().enumerate().map(|(i, n)| (i as f64, n.clone())).collect()
        }
        XAxis::Log10 => {
            let (lo, hi) = (x.lo as i32, x.hi as i32);
            (lo..=hi).map(|e| 10f64.powi(e)).map(|v| (v, short_number(v))).collect()
        }
        XAxis::Linear => (0..=4)
            .map(|i| x.lo + (x.hi - x.lo) * f64::from(i) / 4.0)
            .map(|v| (v, short_number(v)))
            .collect(),
    };
    for (v, label) in &x_ticks {
        let xx = x.px(*v);
        let _ = writeln!(
            s,
            "<line x1=\"{xx:.1}\" y1=\"{:.1}\" x2=\"{xx:.1}\" y2=\"{:.1}\" stroke=\"#333333\"/>",
            TOP + plot_h,
            TOP + plot_h + 5.0
        );
        let _ = writeln!(
            s,
            "<text x=\"{xx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            TOP + plot_h + 19.0,
            escape(label)
        );
    }
    // Axes and their names.
    let _ = writeln!(
        s,
        "<path d=\"M{LEFT:.1} {TOP:.1} V{:.1} H{:.1}\" fill=\"none\" stroke=\"#333333\"/>",
        TOP + plot_h,
        LEFT + plot_w
    );
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
        LEFT + plot_w / 2.0,
        HEIGHT - 18.0,
        escape(&c.x_label)
    );
    let _ = writeln!(
        s,
        "<text x=\"18\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {:.1})\">{}</text>",
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0,
        escape(&c.y_label)
    );

    // The series.
    let n = c.series.len().max(1);
    for (k, series) in c.series.iter().enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        let mut points = usable(&c.x, &series.points);
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let _ = writeln!(s, "<g class=\"series\" data-name=\"{}\">", escape(&series.name));
        match (c.style, &c.x) {
            (Style::Bars, XAxis::Categories(names)) => {
                let slot = plot_w / names.len().max(1) as f64;
                let bar = slot * 0.8 / n as f64;
                for &(cx, cy) in &points {
                    let left = x.px(cx) - slot * 0.4 + bar * k as f64;
                    let top = py(cy);
                    let _ = writeln!(
                        s,
                        "<rect x=\"{left:.1}\" y=\"{top:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" \
                         fill=\"{colour}\"><title>{}: {}</title></rect>",
                        TOP + plot_h - top,
                        escape(&series.name),
                        escape(&short_number(cy))
                    );
                }
            }
            _ => {
                let path: Vec<String> = points
                    .iter()
                    .map(|&(px_, py_)| format!("{:.1},{:.1}", x.px(px_), py(py_)))
                    .collect();
                if path.len() > 1 {
                    let _ = writeln!(
                        s,
                        "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>",
                        path.join(" ")
                    );
                }
                for &(px_, py_) in &points {
                    let _ = writeln!(
                        s,
                        "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{colour}\"><title>{}: {}</title></circle>",
                        x.px(px_),
                        py(py_),
                        escape(&series.name),
                        escape(&short_number(py_))
                    );
                }
            }
        }
        // Legend entry.
        let ly = TOP + 10.0 + 20.0 * k as f64;
        let lx = LEFT + plot_w + 16.0;
        let _ = writeln!(
            s,
            "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{colour}\"/>",
            ly - 10.0
        );
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{ly:.1}\">{}</text>",
            lx + 18.0,
            escape(&series.name)
        );
        s.push_str("</g>\n");
    }
    if c.series.iter().all(|se| usable(&c.x, &se.points).is_empty()) {
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#999999\">no data</text>",
            LEFT + plot_w / 2.0,
            TOP + plot_h / 2.0
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(style: Style, x: XAxis) -> Chart {
        Chart {
            title: "A <b> & \"c\"".into(),
            x_label: "tunnels".into(),
            y_label: "Mpps".into(),
            x,
            style,
            series: vec![
                Series { name: "aes128gcm16 1w".into(), points: vec![(1.0, 1.5), (1000.0, 1.2)] },
                Series { name: "x<y".into(), points: vec![(0.0, 2.0), (f64::NAN, 1.0)] },
            ],
        }
    }

    #[test]
    fn text_is_escaped_and_output_is_deterministic() {
        let c = chart(Style::Lines, XAxis::Log10);
        let a = render(&c);
        assert_eq!(a, render(&c));
        assert!(a.contains("A &lt;b&gt; &amp; &quot;c&quot;"), "{a}");
        assert!(a.contains("data-name=\"x&lt;y\""));
        assert!(!a.contains("<b>"));
        assert!(!a.contains("NaN"));
        // Log axis: a tick per decade from 1 to 1k; the x = 0 point is left out.
        for t in [">1<", ">10<", ">100<", ">1k<"] {
            assert!(a.contains(t), "{t} missing");
        }
        assert_eq!(a.matches("<circle").count(), 2);
    }

    #[test]
    fn bars_one_per_point_in_range() {
        let mut c = chart(Style::Bars, XAxis::Categories(vec!["64".into(), "imix".into()]));
        c.series[0].points = vec![(0.0, 3.0), (1.0, 4.0), (5.0, 9.0)];
        let svg = render(&c);
        // Two bars of the first series (x = 5 has no slot), one of the second, the
        // background and two legend swatches.
        assert_eq!(svg.matches("<rect").count(), 3 + 1 + 2);
        assert!(svg.contains(">5<"), "y axis rounds 4 up to 5: {svg}");
    }

    #[test]
    fn numbers_and_ceilings() {
        assert_eq!(short_number(1_000_000.0), "1M");
        assert_eq!(short_number(100_000.0), "100k");
        assert_eq!(short_number(2.345), "2.35");
        assert_eq!(short_number(12.34), "12.3");
        assert_eq!(nice_ceiling(4.1), 5.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(20.0), 20.0);
        assert_eq!(escape("a\u{1}b"), "a b");
    }
}

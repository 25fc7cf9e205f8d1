//! A writer for the Prometheus text exposition format, version 0.0.4.
//!
//! The format (Prometheus docs, "Exposition formats", text-based format): one `# HELP` and one
//! `# TYPE` line per metric family, then every sample of that family, each on its own line as
//! `name{label="value",...} value`. All samples of a family must be contiguous, which is why
//! a family is written through one [`Family`] value from start to end. Label values escape
//! backslash, double quote and line feed; help texts escape backslash and line feed.
//!
//! Metric and label names are `'static` strings chosen by this crate; [`valid_name`] is what a
//! test checks them against. Label values come from configuration and counters and are
//! escaped here, whatever they hold.

use std::fmt::Write as _;

/// The `Content-Type` of a response in this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metric types this crate exposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only ever goes up (until the process restarts); its name ends in `_total`.
    Counter,
    /// Goes up and down.
    Gauge,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// A sample value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// Written exactly, as an integer.
    Int(u64),
    /// Written in the shortest form that reads back to the same number; `NaN`, `+Inf` and
    /// `-Inf` as the format spells them.
    Float(f64),
}

impl From<u64> for Value {
    fn from(v: u64) -> Value {
        Value::Int(v)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Value {
        Value::Int(u64::from(v))
    }
}

impl From<u16> for Value {
    fn from(v: u16) -> Value {
        Value::Int(u64::from(v))
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Int(u64::from(v))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Float(v)
    }
}

/// A whole exposition being written.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// An empty exposition.
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// Starts a metric family. Its `# HELP` and `# TYPE` lines are written with its first
    /// sample, so a family without samples leaves no trace.
    pub fn family(&mut self, name: &'static str, kind: Kind, help: &'static str) -> Family<'_> {
        debug_assert!(valid_name(name), "bad metric name {name}");
        debug_assert!(kind != Kind::Counter || name.ends_with("_total"), "{name}");
        Family { out: &mut self.out, name, kind, help, started: false }
    }

    /// The text written so far.
    pub fn as_str(&self) -> &str {
        &self.out
    }

    /// The finished text.
    pub fn into_string(self) -> String {
        self.out
    }
}

/// One metric family being written; see [`Exposition::family`].
#[derive(Debug)]
pub struct Family<'a> {
    out: &'a mut String,
    name: &'static str,
    kind: Kind,
    help: &'static str,
    started: bool,
}

impl Family<'_> {
    /// Writes one sample with `labels` (name, value) in the order given.
    pub fn sample(&mut self, labels: &[(&'static str, &str)], value: impl Into<Value>) {
        if !self.started {
            self.started = true;
            self.out.push_str("# HELP ");
            self.out.push_str(self.name);
            self.out.push(' ');
            escape_help(self.out, self.help);
            self.out.push_str("\n# TYPE ");
            self.out.push_str(self.name);
            self.out.push(' ');
            self.out.push_str(self.kind.as_str());
            self.out.push('\n');
        }
        self.out.push_str(self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (name, value)) in labels.iter().enumerate() {
                debug_assert!(valid_name(name) && !name.contains(':'), "bad label name {name}");
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(name);
                self.out.push_str("=\"");
                escape_label_value(self.out, value);
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        write_value(self.out, value.into());
        self.out.push('\n');
    }
}

/// Whether `name` is a valid metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`); label names are the
/// same without `:`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Appends `value` with `\`, `"` and line feed escaped.
pub fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Appends `help` with `\` and line feed escaped.
fn escape_help(out: &mut String, help: &str) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn write_value(out: &mut String, value: Value) {
    // Writing to a String cannot fail.
    let _ = match value {
        Value::Int(v) => write!(out, "{v}"),
        Value::Float(v) if v.is_nan() => write!(out, "NaN"),
        Value::Float(v) if v == f64::INFINITY => write!(out, "+Inf"),
        Value::Float(v) if v == f64::NEG_INFINITY => write!(out, "-Inf"),
        Value::Float(v) => write!(out, "{v}"),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_get_help_and_type_once_then_samples() {
        let mut e = Exposition::new();
        let mut f = e.family("x_total", Kind::Counter, "Things.");
        f.sample(&[("a", "1")], 3u64);
        f.sample(&[("a", "2"), ("b", "q")], 4u64);
        let mut g = e.family("y_seconds", Kind::Gauge, "Time.");
        g.sample(&[], 1.5);
        assert_eq!(
            e.as_str(),
            "# HELP x_total Things.\n# TYPE x_total counter\nx_total{a=\"1\"} 3\n\
             x_total{a=\"2\",b=\"q\"} 4\n# HELP y_seconds Time.\n# TYPE y_seconds gauge\n\
             y_seconds 1.5\n"
        );
    }

    #[test]
    fn a_family_without_samples_writes_nothing() {
        let mut e = Exposition::new();
        let _ = e.family("x_total", Kind::Counter, "Things.");
        assert_eq!(e.into_string(), "");
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        let mut s = String::new();
        escape_label_value(&mut s, "a\\b\"c\nd'e");
        assert_eq!(s, r#"a\\b\"c\nd'e"#);
        let mut h = String::new();
        escape_help(&mut h, "x\\y\n\"z\"");
        assert_eq!(h, "x\\\\y\\n\"z\"");
    }

    #[test]
    fn values_use_the_formats_spelling() {
        let v = |v: Value| {
            let mut s = String::new();
            write_value(&mut s, v);
            s
        };
        assert_eq!(v(Value::Int(u64::MAX)), "18446744073709551615");
        assert_eq!(v(Value::Float(0.25)), "0.25");
        assert_eq!(v(Value::Float(3.0)), "3");
        assert_eq!(v(Value::Float(f64::NAN)), "NaN");
        assert_eq!(v(Value::Float(f64::INFINITY)), "+Inf");
        assert_eq!(v(Value::Float(f64::NEG_INFINITY)), "-Inf");
        assert_eq!(v(true.into()), "1");
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_name("ferrogate_x_total"));
        assert!(valid_name("_a:b9"));
        assert!(!valid_name(""));
        assert!(!valid_name("9a"));
        assert!(!valid_name("a-b"));
        assert!(!valid_name("a b"));
    }
}

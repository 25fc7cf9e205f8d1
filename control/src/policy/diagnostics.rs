//! Errors and warnings with their position in the config file.
//!
//! The loader never stops at the first problem: every error and warning is collected into a
//! [`Diagnostics`] list, sorted by position, so an operator fixes a file in one pass.

use core::fmt;
use core::ops::Range;
use std::path::{Path, PathBuf};

/// Whether a diagnostic stops the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The file is refused.
    Error,
    /// The file loads; something was adjusted or is weak.
    Warning,
}

/// One error or warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The config file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// Path of the offending field, e.g. `crypto_map[2].peers[10]`; empty for TOML syntax
    /// errors, which belong to no field.
    pub field: String,
    /// What is wrong and what is accepted.
    pub message: String,
    /// Byte offset, for sorting.
    offset: usize,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Every error and warning of one load, sorted by position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// All diagnostics, errors and warnings, in file order.
    pub fn all(&self) -> &[Diagnostic] {
        &self.items
    }

    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.severity == Severity::Error)
    }

    /// The warnings only.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.severity == Severity::Warning)
    }

    /// Whether any error was found.
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// Number of diagnostics.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub(crate) fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    /// Sorts by position (stable, so two findings at one place keep their order) and drops
    /// exact repeats.
    pub(crate) fn finish(&mut self) {
        self.items.sort_by_key(|d| d.offset);
        self.items.dedup();
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.items.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Turns byte offsets into 1-based line and column for one file's text.
pub(crate) struct Positions<'a> {
    file: &'a Path,
    text: &'a str,
    /// Byte offset at which each line starts.
    line_starts: Vec<usize>,
}

impl<'a> Positions<'a> {
    pub(crate) fn new(file: &'a Path, text: &'a str) -> Positions<'a> {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Positions { file, text, line_starts }
    }

    /// Line and column (both 1-based; the column counts characters) of byte `offset`.
    /// Offsets past the end clamp to the end; an offset inside a character counts bytes of
    /// that line so the result is still usable.
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let column = match self.text.get(start..offset) {
            Some(s) => s.chars().count() + 1,
            None => offset - start + 1,
        };
        (line, column)
    }

    pub(crate) fn diagnostic(
        &self,
        severity: Severity,
        span: Range<usize>,
        field: &str,
        message: String,
    ) -> Diagnostic {
        let (line, column) = self.line_col(span.start);
        Diagnostic {
            severity,
            file: self.file.to_owned(),
            line,
            column,
            field: field.to_owned(),
            message,
            offset: span.start,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one_and_in_characters() {
        let p = Positions::new(Path::new("f"), "ab\nçd = 1\n");
        assert_eq!(p.line_col(0), (1, 1));
        assert_eq!(p.line_col(2), (1, 3));
        assert_eq!(p.line_col(3), (2, 1));
        // 'ç' is two bytes: byte 6 is the third character of line 2.
        assert_eq!(p.line_col(6), (2, 3));
        assert_eq!(p.line_col(1000), (3, 1));
    }

    #[test]
    fn display_formats() {
        let p = Positions::new(Path::new("gw.toml"), "x = 1\n");
        let e = p.diagnostic(Severity::Error, 4..5, "x", "bad".into());
        assert_eq!(e.to_string(), "gw.toml:1:5: x: bad");
        let w = p.diagnostic(Severity::Warning, 0..1, "x", "weak".into());
        assert_eq!(w.to_string(), "gw.toml:1:1: warning: x: weak");
        let s = p.diagnostic(Severity::Error, 0..1, "", "TOML syntax: oops".into());
        assert_eq!(s.to_string(), "gw.toml:1:1: TOML syntax: oops");
    }
}

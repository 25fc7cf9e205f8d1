//! Reading typed values out of the spanned TOML tree, reporting every problem with its
//! position and carrying on.
//!
//! The tree comes from `toml::de::DeTable::parse`, in which every key and value is a
//! `toml::Spanned`: each error points at the exact value (or at the table header when a key
//! is missing).

use core::ops::Range;
use std::collections::HashMap;

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use super::diagnostics::{Diagnostics, Positions, Severity};

/// A byte range in the config text.
pub(crate) type Span = Range<usize>;

/// The load in progress: positions and the diagnostics found so far.
pub(crate) struct Ctx<'a> {
    pos: Positions<'a>,
    pub(crate) diags: Diagnostics,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(pos: Positions<'a>) -> Ctx<'a> {
        Ctx { pos, diags: Diagnostics::default() }
    }

    pub(crate) fn error(&mut self, span: Span, field: &str, message: impl Into<String>) {
        let d = self.pos.diagnostic(Severity::Error, span, field, message.into());
        self.diags.push(d);
    }

    pub(crate) fn warn(&mut self, span: Span, field: &str, message: impl Into<String>) {
        let d = self.pos.diagnostic(Severity::Warning, span, field, message.into());
        self.diags.push(d);
    }

    /// Line of byte `offset`, for "first defined at line N" messages.
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        self.pos.line_col(offset).0
    }
}

/// "a string", "an integer", ... for type errors.
pub(crate) fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// The value of a TOML integer, or `None` if it does not fit an `i64`.
pub(crate) fn int_value(v: &DeValue<'_>) -> Option<Option<i64>> {
    v.as_integer().map(|i| i64::from_str_radix(i.as_str(), i.radix()).ok())
}

/// A value read from the file with where it was.
#[derive(Debug, Clone)]
pub(crate) struct At<T> {
    pub(crate) v: T,
    pub(crate) span: Span,
}

/// A name in one item that refers to another item (`match`, `ikev2_proposals[1]`, ...),
/// checked across items in `validate`.
#[derive(Debug, Clone)]
pub(crate) struct Ref {
    /// The key holding it.
    pub(crate) key: &'static str,
    /// Index in the key's array (as written), if an array.
    pub(crate) index: Option<usize>,
    /// The name referred to.
    pub(crate) name: String,
    /// Where.
    pub(crate) span: Span,
}

/// One table being read: its position, its field path, the spans of the keys read (for
/// later cross-checks), the references it makes and whether any of its values was refused.
pub(crate) struct Tbl<'t, 'i> {
    table: &'t DeTable<'i>,
    pub(crate) span: Span,
    pub(crate) path: String,
    pub(crate) spans: HashMap<String, Span>,
    pub(crate) refs: Vec<Ref>,
    pub(crate) poisoned: bool,
}

impl<'t, 'i> Tbl<'t, 'i> {
    /// Starts reading `table` at `path`; reports every key not in `known`.
    pub(crate) fn new(
        ctx: &mut Ctx<'_>,
        table: &'t DeTable<'i>,
        span: Span,
        path: String,
        known: &[&str],
    ) -> Tbl<'t, 'i> {
        let mut t =
            Tbl { table, span, path, spans: HashMap::new(), refs: Vec::new(), poisoned: false };
        for (k, _) in table.iter() {
            if !known.contains(&k.get_ref().as_ref()) {
                let field = t.field(k.get_ref());
                ctx.error(
                    k.span(),
                    &field,
                    format!(
                        "unknown key \"{}\"; expected one of: {}",
                        k.get_ref(),
                        known.join(", ")
                    ),
                );
                t.poisoned = true;
            }
        }
        t
    }

    /// The field path of `key` in this table.
    pub(crate) fn field(&self, key: &str) -> String {
        if self.path.is_empty() { key.to_owned() } else { format!("{}.{key}", self.path) }
    }

    /// Where `key` (or `key[i]`) was, or the table if it was not read.
    pub(crate) fn span_of(&self, key: &str) -> Span {
        self.spans.get(key).cloned().unwrap_or_else(|| self.span.clone())
    }

    /// Records a reference to another item.
    pub(crate) fn add_ref(&mut self, key: &'static str, index: Option<usize>, at: &At<String>) {
        self.refs.push(Ref { key, index, name: at.v.clone(), span: at.span.clone() });
    }

    /// Whether `key` holds an empty array (as written, before any element was refused).
    pub(crate) fn is_empty_array(&self, key: &str) -> bool {
        matches!(self.table.get(key).map(|v| v.get_ref()), Some(DeValue::Array(a)) if a.is_empty())
    }

    /// Whether the key is present at all.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.table.get(key).is_some()
    }

    fn raw(&mut self, key: &str) -> Option<&'t Spanned<DeValue<'i>>> {
        let v = self.table.get(key)?;
        self.spans.insert(key.to_owned(), v.span());
        Some(v)
    }

    fn wrong_type(&mut self, ctx: &mut Ctx<'_>, key: &str, want: &str, v: &Spanned<DeValue<'_>>) {
        let field = self.field(key);
        ctx.error(v.span(), &field, format!("expected {want}, found {}", type_name(v.get_ref())));
        self.poisoned = true;
    }

    /// Reports a missing required key at the table.
    pub(crate) fn missing(&mut self, ctx: &mut Ctx<'_>, key: &str, hint: &str) {
        let field = self.field(key);
        ctx.error(self.span.clone(), &field, format!("missing required key \"{key}\"{hint}"));
        self.poisoned = true;
    }

    /// Reports an error on `key` (at its value if present, else at the table) and poisons
    /// the table.
    pub(crate) fn error(&mut self, ctx: &mut Ctx<'_>, key: &str, message: impl Into<String>) {
        let field = self.field(key);
        ctx.error(self.span_of(key), &field, message);
        self.poisoned = true;
    }

    /// Reports an error on element `i` of the array `key`.
    pub(crate) fn error_at(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &str,
        i: usize,
        span: Span,
        message: impl Into<String>,
    ) {
        let field = format!("{}[{i}]", self.field(key));
        ctx.error(span, &field, message);
        self.poisoned = true;
    }

    /// A warning on `key`.
    pub(crate) fn warn(&self, ctx: &mut Ctx<'_>, key: &str, message: impl Into<String>) {
        ctx.warn(self.span_of(key), &self.field(key), message);
    }

    /// An optional string.
    pub(crate) fn string(&mut self, ctx: &mut Ctx<'_>, key: &str) -> Option<At<String>> {
        let v = self.raw(key)?;
        match v.get_ref().as_str() {
            Some(s) => Some(At { v: s.to_owned(), span: v.span() }),
            None => {
                self.wrong_type(ctx, key, "a string", v);
                None
            }
        }
    }

    /// A required string.
    pub(crate) fn req_string(&mut self, ctx: &mut Ctx<'_>, key: &str) -> Option<At<String>> {
        if !self.has(key) {
            self.missing(ctx, key, "");
            return None;
        }
        self.string(ctx, key)
    }

    /// An optional integer.
    pub(crate) fn int(&mut self, ctx: &mut Ctx<'_>, key: &str) -> Option<At<i64>> {
        let v = self.raw(key)?;
        match int_value(v.get_ref()) {
            Some(Some(n)) => Some(At { v: n, span: v.span() }),
            Some(None) => {
                self.error(ctx, key, "integer does not fit 64 bits");
                None
            }
            None => {
                self.wrong_type(ctx, key, "an integer", v);
                None
            }
        }
    }

    /// An optional integer in `lo..=hi`; `what` names it in the message.
    pub(crate) fn int_in(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &str,
        what: &str,
        lo: i64,
        hi: i64,
        unit: &str,
    ) -> Option<i64> {
        let n = self.int(ctx, key)?;
        if n.v < lo || n.v > hi {
            self.error(ctx, key, format!("{what} {} out of range; expected {lo}..{hi}{unit}", n.v));
            return None;
        }
        Some(n.v)
    }

    /// A required integer in `lo..=hi`.
    pub(crate) fn req_int_in(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &str,
        what: &str,
        lo: i64,
        hi: i64,
    ) -> Option<i64> {
        if !self.has(key) {
            self.missing(ctx, key, "");
            return None;
        }
        self.int_in(ctx, key, what, lo, hi, "")
    }

    /// An optional boolean.
    pub(crate) fn boolean(&mut self, ctx: &mut Ctx<'_>, key: &str) -> Option<bool> {
        let v = self.raw(key)?;
        match v.get_ref().as_bool() {
            Some(b) => Some(b),
            None => {
                self.wrong_type(ctx, key, "a boolean (true or false)", v);
                None
            }
        }
    }

    /// An optional keyword parsed by `parse`; `what` names it ("encryption") and `expected`
    /// lists the accepted keywords.
    pub(crate) fn keyword<T>(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &str,
        what: &str,
        parse: impl Fn(&str) -> Option<T>,
        expected: &str,
    ) -> Option<At<T>> {
        let s = self.string(ctx, key)?;
        match parse(&s.v) {
            Some(v) => Some(At { v, span: s.span }),
            None => {
                self.error(
                    ctx,
                    key,
                    format!("unknown {what} \"{}\"; expected one of: {expected}", s.v),
                );
                None
            }
        }
    }

    /// A required keyword.
    pub(crate) fn req_keyword<T>(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &str,
        what: &str,
        parse: impl Fn(&str) -> Option<T>,
        expected: &str,
    ) -> Option<At<T>> {
        if !self.has(key) {
            self.missing(ctx, key, &format!(" (one of: {expected})"));
            return None;
        }
        self.keyword(ctx, key, what, parse, expected)
    }

    /// An optional array.
    pub(crate) fn array(&mut self, ctx: &mut Ctx<'_>, key: &str) -> Option<&'t DeArray<'i>> {
        let v = self.raw(key)?;
        match v.get_ref() {
            DeValue::Array(a) => Some(a),
            _ => {
                self.wrong_type(ctx, key, "an array", v);
                None
            }
        }
    }

    /// The raw value of `key`, for keys that take several types.
    pub(crate) fn value(&mut self, key: &str) -> Option<&'t Spanned<DeValue<'i>>> {
        self.raw(key)
    }

    /// An optional array of strings; each element's span is recorded as `key[i]`.
    pub(crate) fn strings(&mut self, ctx: &mut Ctx<'_>, key: &str) -> Option<Vec<At<String>>> {
        let a = self.array(ctx, key)?;
        let mut out = Vec::with_capacity(a.len());
        for (i, e) in a.iter().enumerate() {
            self.spans.insert(format!("{key}[{i}]"), e.span());
            match e.get_ref().as_str() {
                Some(s) => out.push(At { v: s.to_owned(), span: e.span() }),
                None => {
                    let msg = format!("expected a string, found {}", type_name(e.get_ref()));
                    self.error_at(ctx, key, i, e.span(), msg);
                }
            }
        }
        Some(out)
    }

    /// An optional array of keywords parsed by `parse`, each unknown or repeated one
    /// reported.
    pub(crate) fn keywords<T: PartialEq>(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &str,
        what: &str,
        parse: impl Fn(&str) -> Option<T>,
        expected: &str,
    ) -> Option<Vec<At<T>>> {
        let items = self.strings(ctx, key)?;
        let mut out: Vec<At<T>> = Vec::with_capacity(items.len());
        for (i, s) in items.into_iter().enumerate() {
            match parse(&s.v) {
                Some(v) if out.iter().any(|o| o.v == v) => {
                    self.error_at(ctx, key, i, s.span, format!("{what} \"{}\" listed twice", s.v));
                }
                Some(v) => out.push(At { v, span: s.span }),
                None => {
                    let msg = format!("unknown {what} \"{}\"; expected one of: {expected}", s.v);
                    self.error_at(ctx, key, i, s.span, msg);
                }
            }
        }
        Some(out)
    }
}

/// The tables of an array of tables (`[[key]]`) at the top level, with their index.
pub(crate) fn array_of_tables<'t, 'i>(
    ctx: &mut Ctx<'_>,
    key: &str,
    v: &'t Spanned<DeValue<'i>>,
) -> Vec<(usize, &'t DeTable<'i>, Span)> {
    let mut out = Vec::new();
    let DeValue::Array(a) = v.get_ref() else {
        ctx.error(
            v.span(),
            key,
            format!("expected an array of tables ([[{key}]]), found {}", type_name(v.get_ref())),
        );
        return out;
    };
    for (i, e) in a.iter().enumerate() {
        match e.get_ref() {
            DeValue::Table(t) => out.push((i, t, e.span())),
            other => ctx.error(
                e.span(),
                &format!("{key}[{i}]"),
                format!("expected a table, found {}", type_name(other)),
            ),
        }
    }
    out
}

/// A top-level table (`[key]`).
pub(crate) fn single_table<'t, 'i>(
    ctx: &mut Ctx<'_>,
    key: &str,
    v: &'t Spanned<DeValue<'i>>,
) -> Option<&'t DeTable<'i>> {
    match v.get_ref() {
        DeValue::Table(t) => Some(t),
        other => {
            ctx.error(
                v.span(),
                key,
                format!("expected a table ([{key}]), found {}", type_name(other)),
            );
            None
        }
    }
}

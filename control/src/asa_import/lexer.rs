//! Lines and sub-modes of an ASA running-config.
//!
//! The ASA prints a sub-mode command (`crypto ikev2 policy 1`, `tunnel-group X
//! ipsec-attributes`, `object-group network G`, `interface G0/0`, ...) at column 0 and the
//! commands inside it indented by one space (nested sub-modes by two). A sub-mode ends at the
//! next line that is not indented. `!` lines separate sections and `:` lines are the
//! `show running-config` header and trailer; both carry no configuration.

/// One line of the running-config, split into whitespace-separated words (ASA commands have
/// no quoting: names and keys cannot contain blanks).
#[derive(Debug, Clone)]
pub(crate) struct Line<'a> {
    /// 1-based line number.
    pub no: usize,
    /// The line without its terminator (and without a trailing `\r`).
    pub raw: &'a str,
    /// Leading blanks (spaces or tabs).
    pub indent: usize,
    pub words: Vec<&'a str>,
}

impl<'a> Line<'a> {
    fn new(no: usize, raw: &'a str) -> Line<'a> {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = raw.trim_start_matches([' ', '\t']);
        Line { no, raw, indent: raw.len() - trimmed.len(), words: raw.split_whitespace().collect() }
    }

    /// The word at `i`, if any.
    pub fn word(&self, i: usize) -> Option<&'a str> {
        self.words.get(i).copied()
    }

    /// Whether the word at `i` is the keyword `kw` (ASA keywords are case-insensitive).
    pub fn is(&self, i: usize, kw: &str) -> bool {
        self.word(i).is_some_and(|w| w.eq_ignore_ascii_case(kw))
    }

    /// Whether the line starts with the keywords `kws`.
    pub fn starts(&self, kws: &[&str]) -> bool {
        kws.iter().enumerate().all(|(i, kw)| self.is(i, kw))
    }

    /// The words from `i` on (empty past the end).
    pub fn rest(&self, i: usize) -> &[&'a str] {
        self.words.get(i..).unwrap_or(&[])
    }

    /// The line as the report shows it: the raw text without trailing blanks.
    pub fn text(&self) -> &'a str {
        self.raw.trim_end()
    }
}

/// A top-level command and the indented lines of its sub-mode (empty for a one-line command).
#[derive(Debug, Clone)]
pub(crate) struct Block<'a> {
    pub head: Line<'a>,
    pub body: Vec<Line<'a>>,
}

impl<'a> Block<'a> {
    /// The head line followed by every body line.
    pub fn lines(&self) -> impl Iterator<Item = &Line<'a>> {
        core::iter::once(&self.head).chain(self.body.iter())
    }
}

/// What the lexer found: sub-mode blocks and indented lines that follow no command.
#[derive(Debug)]
pub(crate) enum Item<'a> {
    Block(Block<'a>),
    /// An indented line with no command above it (start of file or right after a `!`).
    Orphan(Line<'a>),
}

/// The lexed file.
#[derive(Debug)]
pub(crate) struct Lexed<'a> {
    pub items: Vec<Item<'a>>,
    /// Numbers of the lines that carry a command (not blank, not a comment or header).
    pub significant: Vec<usize>,
    /// Number of lines in the file.
    pub line_count: usize,
}

/// Whether a (trimmed) line is a comment or `show running-config` header/trailer line.
fn is_comment(trimmed: &str) -> bool {
    trimmed.starts_with('!') || trimmed.starts_with(':')
}

/// Splits `text` into blocks. Never fails: every line ends up in a block, as an orphan, or is
/// blank/comment.
pub(crate) fn lex(text: &str) -> Lexed<'_> {
    let mut items: Vec<Item<'_>> = Vec::new();
    let mut significant = Vec::new();
    // Whether the last item is a block that indented lines may still join.
    let mut open = false;
    let mut line_count = 0;
    for (i, raw) in text.split('\n').enumerate() {
        let line = Line::new(i + 1, raw);
        line_count = i + 1;
        let trimmed = line.raw.trim();
        if trimmed.is_empty() {
            continue;
        }
        if is_comment(trimmed) {
            // A separator at column 0 closes the sub-mode; an indented one is just a comment.
            if line.indent == 0 {
                open = false;
            }
            continue;
        }
        significant.push(line.no);
        if line.indent == 0 {
            items.push(Item::Block(Block { head: line, body: Vec::new() }));
            open = true;
        } else if let (true, Some(Item::Block(block))) = (open, items.last_mut()) {
            block.body.push(line);
        } else {
            items.push(Item::Orphan(line));
        }
    }
    // A trailing newline does not start another line.
    if text.ends_with('\n') {
        line_count = line_count.saturating_sub(1);
    }
    Lexed { items, significant, line_count }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heads(lexed: &Lexed<'_>) -> Vec<(usize, usize)> {
        lexed
            .items
            .iter()
            .map(|item| match item {
                Item::Block(b) => (b.head.no, b.body.len()),
                Item::Orphan(l) => (l.no, usize::MAX),
            })
            .collect()
    }

    #[test]
    fn sub_mode_ends_when_indentation_ends() {
        let text =
            "crypto ikev2 policy 1\n encryption aes-256\n group 14\ncrypto ikev2 enable outside\n";
        let lexed = lex(text);
        assert_eq!(heads(&lexed), vec![(1, 2), (4, 0)]);
        assert_eq!(lexed.significant, vec![1, 2, 3, 4]);
        assert_eq!(lexed.line_count, 4);
    }

    #[test]
    fn bang_at_column_zero_closes_the_sub_mode() {
        let text = "object network a\n host 10.0.0.1\n!\n subnet 10.0.0.0 255.0.0.0\n";
        let lexed = lex(text);
        assert_eq!(heads(&lexed), vec![(1, 1), (4, usize::MAX)]);
    }

    #[test]
    fn comments_headers_blank_lines_and_crlf() {
        let text =
            ": Saved\r\n:\r\nASA Version 9.16(4)\r\n\r\n  ! indented comment\r\nhostname hub\r\n";
        let lexed = lex(text);
        assert_eq!(heads(&lexed), vec![(3, 0), (6, 0)]);
        let Item::Block(b) = &lexed.items[0] else { panic!("block expected") };
        assert_eq!(b.head.raw, "ASA Version 9.16(4)");
        assert_eq!(b.head.words, vec!["ASA", "Version", "9.16(4)"]);
    }

    #[test]
    fn nested_sub_modes_stay_in_the_outer_block() {
        let text = "crypto ca trustpoint tp\n enrollment terminal\n crl configure\n  no enforcenextupdate\nwebvpn\n";
        let lexed = lex(text);
        assert_eq!(heads(&lexed), vec![(1, 3), (5, 0)]);
    }

    #[test]
    fn keyword_matching_is_case_insensitive() {
        let line = Line::new(1, "Crypto IKEv2 Policy 10");
        assert!(line.starts(&["crypto", "ikev2", "policy"]));
        assert!(!line.starts(&["crypto", "ikev1"]));
        assert_eq!(line.rest(3), &["10"]);
        assert!(line.rest(9).is_empty());
    }
}

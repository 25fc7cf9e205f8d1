//! The import report: what could not be mapped, and advice for the user.

use super::Unmapped;
use super::lexer::Line;

/// What became of a significant line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not a command (blank, comment, header): nothing to report.
    Insignificant,
    /// A command nobody has looked at yet.
    Pending,
    /// Mapped into the output (or a header with nothing to map).
    Mapped,
    /// Reported as unmapped.
    Unmapped,
}

/// Collects unmapped lines and notes, and checks that every command was looked at.
#[derive(Debug)]
pub(crate) struct Report {
    unmapped: Vec<Unmapped>,
    notes: Vec<String>,
    state: Vec<State>,
    secrets_copied: bool,
}

impl Report {
    pub fn new(line_count: usize, significant: &[usize]) -> Report {
        let mut state = vec![State::Insignificant; line_count + 1];
        for &no in significant {
            if let Some(s) = state.get_mut(no) {
                *s = State::Pending;
            }
        }
        Report { unmapped: Vec::new(), notes: Vec::new(), state, secrets_copied: false }
    }

    /// Marks a line as mapped (unless it was already reported as unmapped).
    pub fn mapped(&mut self, line: &Line<'_>) {
        self.mapped_no(line.no);
    }

    /// Marks a line (by number) as mapped (unless it was already reported as unmapped).
    pub fn mapped_no(&mut self, no: usize) {
        if let Some(s) = self.state.get_mut(no)
            && *s == State::Pending
        {
            *s = State::Mapped;
        }
    }

    /// Reports a line as unmapped, once: a second reason for the same line is dropped.
    pub fn unmapped(&mut self, line: &Line<'_>, reason: impl Into<String>) {
        let Some(s) = self.state.get_mut(line.no) else { return };
        if *s == State::Unmapped {
            return;
        }
        *s = State::Unmapped;
        self.unmapped.push(Unmapped {
            line: line.no,
            text: redact(line.text()),
            reason: reason.into(),
        });
    }

    /// Whether the line has not been mapped or reported yet.
    pub fn is_pending(&self, no: usize) -> bool {
        self.state.get(no) == Some(&State::Pending)
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// Records that a pre-shared key was copied into the output.
    pub fn secret_copied(&mut self) {
        self.secrets_copied = true;
    }

    pub fn secrets_copied(&self) -> bool {
        self.secrets_copied
    }

    #[cfg(test)]
    pub fn unmapped_count(&self) -> usize {
        self.unmapped.len()
    }

    #[cfg(test)]
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    #[cfg(test)]
    pub fn unmapped_list(&self) -> &[Unmapped] {
        &self.unmapped
    }

    /// Lines nobody looked at (a converter bug: the caller reports them as unmapped).
    pub fn pending(&self) -> Vec<usize> {
        self.state
            .iter()
            .enumerate()
            .filter(|(_, s)| **s == State::Pending)
            .map(|(no, _)| no)
            .collect()
    }

    /// The unmapped lines in file order, and the notes: those about one line (`line N: ...`)
    /// in file order, then the general ones in the order they were made.
    pub fn finish(mut self) -> (Vec<Unmapped>, Vec<String>) {
        self.unmapped.sort_by_key(|u| u.line);
        self.notes.sort_by_key(|n| note_line(n));
        (self.unmapped, self.notes)
    }
}

/// The line a note is about (`line N: ...`), or `usize::MAX` for a general note.
fn note_line(note: &str) -> usize {
    note.strip_prefix("line ")
        .and_then(|rest| rest.split_once(':'))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or(usize::MAX)
}

/// Masks secrets in a line shown in the report: everything after `pre-shared-key`, and the
/// word after `password`, `passwd`, `secret` or `key` (`failover key K`, `aaa-server ... key
/// K`). The report goes to a terminal; the keys the user wants copied are in the output file.
pub(crate) fn redact(text: &str) -> String {
    let leading_crypto =
        text.split_whitespace().next().is_some_and(|w| w.eq_ignore_ascii_case("crypto"));
    let text = text.replace('\t', " ");
    let mut out = String::with_capacity(text.len());
    let mut mask_rest = false;
    let mut mask_next = false;
    // Split on single spaces so that the indentation and spacing survive.
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if word.is_empty() {
            continue;
        }
        if mask_rest || mask_next {
            out.push_str("*****");
            mask_next = false;
            continue;
        }
        out.push_str(word);
        match word.to_ascii_lowercase().as_str() {
            "pre-shared-key" => mask_rest = true,
            "password" | "passwd" | "secret" => mask_next = true,
            // `crypto key generate rsa ...` names no secret.
            "key" if !leading_crypto => mask_next = true,
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_masks_keys_and_passwords() {
        assert_eq!(redact(" ikev1 pre-shared-key s3cret"), " ikev1 pre-shared-key *****");
        assert_eq!(redact(" ikev1 pre-shared-key 8 abcdef"), " ikev1 pre-shared-key ***** *****");
        assert_eq!(redact("failover key hunter2"), "failover key *****");
        assert_eq!(redact("enable password xyz encrypted"), "enable password ***** encrypted");
        assert_eq!(
            redact("crypto key generate rsa modulus 2048"),
            "crypto key generate rsa modulus 2048"
        );
        assert_eq!(
            redact("route outside 0.0.0.0 0.0.0.0 203.0.113.254 1"),
            "route outside 0.0.0.0 0.0.0.0 203.0.113.254 1"
        );
    }
}

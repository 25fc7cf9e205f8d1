//! The naive reference classifier: a linear first-match scan, as VPP's outbound SPD did.
//! It is the oracle of the property tests and the baseline of the benchmarks.

use super::key::FlowKey;
use super::selector::{Action, Entry, SpdError};

/// Ordered entries, searched one by one. O(n) per packet.
#[derive(Debug, Clone)]
pub struct LinearSpd {
    entries: Vec<Entry>,
    default: Action,
}

impl LinearSpd {
    /// The same validation as [`super::Spd::new`], no index.
    pub fn new(entries: Vec<Entry>, default: Action) -> Result<LinearSpd, SpdError> {
        for (i, e) in entries.iter().enumerate() {
            e.validate(i)?;
        }
        Ok(LinearSpd { entries, default })
    }

    /// Index of the first entry matching `key`.
    pub fn lookup(&self, key: &FlowKey) -> Option<usize> {
        self.entries.iter().position(|e| e.matches(key))
    }

    /// The action for `key`: the first matching entry's, or the default.
    pub fn action(&self, key: &FlowKey) -> Action {
        self.lookup(key).map_or(self.default, |i| self.entries[i].action)
    }

    /// The entries, in priority order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
}

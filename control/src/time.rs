//! The control plane's clock: milliseconds on a monotonic time line the caller owns.
//!
//! Nothing in this crate reads a clock (sans-IO). The appliance passes milliseconds since
//! it started; tests pass a virtual clock and jump it to the next timer, so a two-minute
//! retransmission schedule runs in microseconds.

use core::fmt;
use core::ops::{Add, Sub};
use core::time::Duration;

/// A point in time, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(pub u64);

impl Time {
    /// The start of the time line.
    pub const ZERO: Time = Time(0);

    /// From milliseconds.
    pub const fn from_millis(ms: u64) -> Time {
        Time(ms)
    }

    /// From seconds.
    pub const fn from_secs(s: u64) -> Time {
        Time(s * 1000)
    }

    /// Milliseconds since the start.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// The time since `earlier` (zero if `earlier` is later).
    pub fn since(self, earlier: Time) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        Time(self.0.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
    }
}

impl Sub<Time> for Time {
    type Output = Duration;
    fn sub(self, earlier: Time) -> Duration {
        self.since(earlier)
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}s", self.0 / 1000, self.0 % 1000)
    }
}

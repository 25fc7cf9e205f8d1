//! Request retransmission (RFC 7296 section 2.1), on the reference document's schedule.
//!
//! The initiator of an exchange owns its retransmissions; the responder only replays its
//! cached answer. A request is retransmitted `tries` times at intervals that double from
//! `interval` (capped at `max_interval`), then once more (the reference document's "final
//! retransmit"), and the peer is declared unreachable when that last one goes unanswered
//! for another doubled interval. With the defaults (1 s, 5 tries, 64 s cap) the sends are
//! at 0, 1, 3, 7, 15, 31 and 63 s and the peer is given up at 127 s: the "about 2 minutes"
//! after which the ASA moves to the next peer of a crypto map.

use core::time::Duration;

use crate::time::Time;

/// The schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetransmitPolicy {
    /// The wait after the first send.
    pub interval: Duration,
    /// Retransmissions before the final one.
    pub tries: u32,
    /// No wait grows beyond this.
    pub max_interval: Duration,
}

impl Default for RetransmitPolicy {
    fn default() -> Self {
        RetransmitPolicy {
            interval: Duration::from_secs(1),
            tries: 5,
            max_interval: Duration::from_secs(64),
        }
    }
}

impl RetransmitPolicy {
    /// The wait after send number `n` (0: the first send).
    pub fn wait_after(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.min(31)).unwrap_or(u32::MAX);
        self.interval.saturating_mul(factor).min(self.max_interval)
    }

    /// From the first send to giving up.
    pub fn give_up_after(&self) -> Duration {
        (0..=self.tries + 1).map(|n| self.wait_after(n)).sum()
    }
}

/// What to do when the timer fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// Not due yet (or the exchange was answered).
    Wait,
    /// Send the request again: retransmission number `n` (from 1); `last` for the final one.
    Resend { n: u32, last: bool },
    /// No answer to any of them: the peer is unreachable.
    GiveUp { sends: u32, waited: Duration },
}

/// The retransmission state of one outstanding request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retransmit {
    policy: RetransmitPolicy,
    first_sent: Time,
    /// Sends so far, the first included.
    sends: u32,
    next: Option<Time>,
}

impl Retransmit {
    /// After the first send at `now`.
    pub fn start(policy: RetransmitPolicy, now: Time) -> Retransmit {
        Retransmit { policy, first_sent: now, sends: 1, next: Some(now + policy.wait_after(0)) }
    }

    /// When [`Retransmit::on_timeout`] has something to do; `None` once answered or given up.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.next
    }

    /// The answer arrived: no more retransmissions.
    pub fn answered(&mut self) {
        self.next = None;
    }

    /// Sends so far, the first included.
    pub fn sends(&self) -> u32 {
        self.sends
    }

    /// Advances the schedule at `now`. Calling it early, twice, or after the answer does
    /// nothing.
    pub fn on_timeout(&mut self, now: Time) -> Timeout {
        let Some(due) = self.next else { return Timeout::Wait };
        if now < due {
            return Timeout::Wait;
        }
        // Retransmissions are numbered from 1; `tries` of them, then the final one.
        let n = self.sends;
        if n > self.policy.tries + 1 {
            self.next = None;
            return Timeout::GiveUp { sends: self.sends, waited: now - self.first_sent };
        }
        self.sends += 1;
        self.next = Some(now + self.policy.wait_after(n));
        Timeout::Resend { n, last: n == self.policy.tries + 1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the schedule on a virtual clock: the send times and the give-up time, in s.
    fn run(policy: RetransmitPolicy) -> (Vec<u64>, u64) {
        let mut r = Retransmit::start(policy, Time::ZERO);
        let mut sends = vec![0];
        while let Some(t) = r.poll_timeout() {
            assert_eq!(r.on_timeout(Time(t.0 - 1)), Timeout::Wait, "early");
            match r.on_timeout(t) {
                Timeout::Resend { .. } => sends.push(t.0 / 1000),
                Timeout::GiveUp { waited, sends: n } => {
                    assert_eq!(n as usize, sends.len());
                    return (sends, waited.as_secs());
                }
                Timeout::Wait => panic!("due but waiting"),
            }
        }
        panic!("never gave up")
    }

    #[test]
    fn the_default_gives_up_after_about_two_minutes() {
        let (sends, gave_up) = run(RetransmitPolicy::default());
        assert_eq!(sends, [0, 1, 3, 7, 15, 31, 63], "5 retransmits and a final one");
        assert_eq!(gave_up, 127);
        assert_eq!(RetransmitPolicy::default().give_up_after(), Duration::from_secs(127));
    }

    #[test]
    fn the_cap_and_the_count_are_configurable() {
        let p = RetransmitPolicy {
            interval: Duration::from_secs(2),
            tries: 3,
            max_interval: Duration::from_secs(5),
        };
        let (sends, gave_up) = run(p);
        assert_eq!(sends, [0, 2, 6, 11, 16]);
        assert_eq!(gave_up, 21);
        assert_eq!(p.give_up_after(), Duration::from_secs(21));
    }

    #[test]
    fn an_answer_stops_it_and_late_calls_do_nothing() {
        let mut r = Retransmit::start(RetransmitPolicy::default(), Time::from_secs(10));
        assert_eq!(r.on_timeout(Time::from_secs(11)), Timeout::Resend { n: 1, last: false });
        assert_eq!(r.on_timeout(Time::from_secs(11)), Timeout::Wait, "not due again yet");
        r.answered();
        assert_eq!(r.poll_timeout(), None);
        assert_eq!(r.on_timeout(Time::from_secs(1000)), Timeout::Wait);
        assert_eq!(r.sends(), 2);
    }

    #[test]
    fn huge_settings_saturate_instead_of_overflowing() {
        let p = RetransmitPolicy {
            interval: Duration::from_secs(u64::MAX / 4),
            tries: 100,
            max_interval: Duration::MAX,
        };
        assert!(p.wait_after(90) >= p.wait_after(3));
        let mut r = Retransmit::start(p, Time(u64::MAX - 5));
        assert_eq!(r.poll_timeout(), Some(Time(u64::MAX)));
        assert!(matches!(r.on_timeout(Time(u64::MAX)), Timeout::Resend { n: 1, .. }));
    }
}

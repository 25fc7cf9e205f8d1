//! SA lifetimes (RFC 4301 4.4.2.1): soft limits raise an event so the control plane rekeys,
//! hard limits stop the SA. Time is the caller's (`now` in nanoseconds, any epoch shared by
//! the caller and the SA's creation time); nothing here reads a clock.

use core::sync::atomic::{AtomicU8, Ordering};

use super::Direction;
use super::counters::Counter;

/// One set of limits. `None` = unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Inner (plaintext) bytes.
    pub bytes: Option<u64>,
    /// Packets.
    pub packets: Option<u64>,
    /// Nanoseconds since the SA was created.
    pub time_ns: Option<u64>,
}

/// Soft and hard limits of an SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lifetimes {
    pub soft: Limits,
    pub hard: Limits,
}

impl Lifetimes {
    /// The ASA defaults (`crypto ipsec security-association lifetime`): 28 800 s and
    /// 4 608 000 KB hard; soft at 90 %, when the ASA starts its rekey.
    pub fn asa_default() -> Self {
        const SECS: u64 = 28_800;
        const BYTES: u64 = 4_608_000 * 1024;
        Lifetimes {
            soft: Limits {
                bytes: Some(BYTES / 10 * 9),
                packets: None,
                time_ns: Some(SECS * 1_000_000_000 / 10 * 9),
            },
            hard: Limits { bytes: Some(BYTES), packets: None, time_ns: Some(SECS * 1_000_000_000) },
        }
    }
}

/// Which limit was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    Bytes,
    Packets,
    Time,
    /// The outbound sequence number space (RFC 4303 3.3.3: no wrap, rekey before).
    SequenceNumbers,
}

/// What happened to an SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SaEventKind {
    /// A soft limit: rekey now. Raised once per SA.
    SoftExpired(LimitKind),
    /// A hard limit: the SA passes nothing from now on. Raised once per SA.
    HardExpired(LimitKind),
}

/// An event for the control plane, collected per burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SaEvent {
    pub spi: u32,
    pub direction: Direction,
    pub kind: SaEventKind,
}

const SOFT_FIRED: u8 = 1;
const HARD_FIRED: u8 = 2;

/// Lifetime state of one runtime SA (single writer: the owning worker).
#[derive(Debug)]
pub(crate) struct LifetimeRt {
    /// Limits as absolute values: `u64::MAX` = unlimited, deadlines as absolute `now`.
    soft: [u64; 3],
    hard: [u64; 3],
    /// Bytes and packets admitted so far.
    pub(crate) bytes: Counter,
    pub(crate) packets: Counter,
    state: AtomicU8,
}

impl LifetimeRt {
    pub(crate) fn new(l: &Lifetimes, created_ns: u64) -> Self {
        let abs = |x: &Limits| {
            [
                x.bytes.unwrap_or(u64::MAX),
                x.packets.unwrap_or(u64::MAX),
                x.time_ns.map_or(u64::MAX, |t| created_ns.saturating_add(t)),
            ]
        };
        LifetimeRt {
            soft: abs(&l.soft),
            hard: abs(&l.hard),
            bytes: Counter::default(),
            packets: Counter::default(),
            state: AtomicU8::new(0),
        }
    }

    /// Whether a hard limit was reached.
    #[inline]
    pub(crate) fn is_hard_expired(&self, now: u64) -> bool {
        self.state.load(Ordering::Relaxed) & HARD_FIRED != 0 || now >= self.hard[2]
    }

    /// Admits one packet of `len` bytes: `false` if it would pass a hard limit (the SA is
    /// then expired for good). Raises each event once.
    #[inline]
    pub(crate) fn admit(
        &self,
        now: u64,
        len: u64,
        spi: u32,
        direction: Direction,
        events: &mut Vec<SaEvent>,
    ) -> bool {
        let state = self.state.load(Ordering::Relaxed);
        if state & HARD_FIRED != 0 {
            return false;
        }
        let bytes = self.bytes.get().saturating_add(len);
        let packets = self.packets.get().saturating_add(1);
        if let Some(kind) = Self::reached(&self.hard, bytes, packets, now, false) {
            self.fire(state | HARD_FIRED, spi, direction, SaEventKind::HardExpired(kind), events);
            return false;
        }
        if state & SOFT_FIRED == 0
            && let Some(kind) = Self::reached(&self.soft, bytes, packets, now, true)
        {
            self.fire(state | SOFT_FIRED, spi, direction, SaEventKind::SoftExpired(kind), events);
        }
        self.bytes.add(len);
        self.packets.add(1);
        true
    }

    /// Raises a sequence-number event (outbound only), once per kind.
    pub(crate) fn sequence_event(
        &self,
        hard: bool,
        spi: u32,
        direction: Direction,
        events: &mut Vec<SaEvent>,
    ) {
        let state = self.state.load(Ordering::Relaxed);
        let (bit, kind) = if hard {
            (HARD_FIRED, SaEventKind::HardExpired(LimitKind::SequenceNumbers))
        } else {
            (SOFT_FIRED, SaEventKind::SoftExpired(LimitKind::SequenceNumbers))
        };
        if state & bit == 0 {
            self.fire(state | bit, spi, direction, kind, events);
        }
    }

    fn fire(
        &self,
        new_state: u8,
        spi: u32,
        direction: Direction,
        kind: SaEventKind,
        events: &mut Vec<SaEvent>,
    ) {
        self.state.store(new_state, Ordering::Relaxed);
        events.push(SaEvent { spi, direction, kind });
    }

    /// Soft limits fire when reached, hard limits when exceeded (a hard byte limit of N
    /// still lets N bytes through); time limits fire when reached in both cases.
    fn reached(
        lim: &[u64; 3],
        bytes: u64,
        packets: u64,
        now: u64,
        soft: bool,
    ) -> Option<LimitKind> {
        let over = |v: u64, l: u64| if soft { v >= l } else { v > l };
        if now >= lim[2] {
            Some(LimitKind::Time)
        } else if over(bytes, lim[0]) {
            Some(LimitKind::Bytes)
        } else if over(packets, lim[1]) {
            Some(LimitKind::Packets)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(ev: &[SaEvent]) -> Vec<SaEventKind> {
        ev.iter().map(|e| e.kind).collect()
    }

    #[test]
    fn packet_limits_soft_then_hard_once() {
        let l = Lifetimes {
            soft: Limits { packets: Some(3), ..Limits::default() },
            hard: Limits { packets: Some(5), ..Limits::default() },
        };
        let rt = LifetimeRt::new(&l, 0);
        let mut ev = Vec::new();
        let admitted: Vec<bool> =
            (0..8).map(|_| rt.admit(0, 10, 7, Direction::Outbound, &mut ev)).collect();
        assert_eq!(admitted, [true, true, true, true, true, false, false, false]);
        assert_eq!(
            kinds(&ev),
            [
                SaEventKind::SoftExpired(LimitKind::Packets),
                SaEventKind::HardExpired(LimitKind::Packets)
            ]
        );
        assert_eq!(rt.packets.get(), 5);
        assert!(rt.is_hard_expired(0));
    }

    #[test]
    fn bytes_and_time() {
        let l = Lifetimes {
            soft: Limits { bytes: Some(1000), time_ns: Some(50), ..Limits::default() },
            hard: Limits { bytes: Some(2000), time_ns: Some(100), ..Limits::default() },
        };
        let rt = LifetimeRt::new(&l, 1_000);
        let mut ev = Vec::new();
        assert!(rt.admit(1_010, 600, 1, Direction::Inbound, &mut ev));
        assert!(ev.is_empty());
        assert!(rt.admit(1_020, 600, 1, Direction::Inbound, &mut ev));
        assert_eq!(kinds(&ev), [SaEventKind::SoftExpired(LimitKind::Bytes)]);
        assert!(!rt.is_hard_expired(1_099));
        assert!(rt.is_hard_expired(1_100));
        assert!(!rt.admit(1_100, 1, 1, Direction::Inbound, &mut ev));
        assert_eq!(ev[1].kind, SaEventKind::HardExpired(LimitKind::Time));
        assert_eq!(ev[1].direction, Direction::Inbound);
    }

    #[test]
    fn unlimited_never_fires() {
        let rt = LifetimeRt::new(&Lifetimes::default(), 0);
        let mut ev = Vec::new();
        assert!(rt.admit(u64::MAX - 1, 1500, 1, Direction::Outbound, &mut ev));
        assert!(ev.is_empty());
    }
}

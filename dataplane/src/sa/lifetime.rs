//! SA lifetimes (RFC 4301 4.4.2.1): soft limits raise an event so the control plane rekeys,
//! hard limits stop the SA. Time is the caller's (`now` in nanoseconds, any epoch shared by
//! the caller and the SA's creation time); nothing here reads a clock.

use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

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

/// Lifetime state of one runtime SA. The usage counters and the fired state have one
/// writer (the owning worker); the limits are written by the control thread
/// ([`LifetimeRt::set`]) and read by workers with relaxed loads, which cost what plain
/// loads cost on the packet path.
#[derive(Debug)]
pub(crate) struct LifetimeRt {
    /// Limits as absolute values: `u64::MAX` = unlimited, deadlines as absolute `now`.
    soft: [AtomicU64; 3],
    hard: [AtomicU64; 3],
    /// Bytes and packets admitted so far.
    pub(crate) bytes: Counter,
    pub(crate) packets: Counter,
    state: AtomicU8,
    /// The caller's clock when the SA was created: time limits count from here.
    created_ns: u64,
}

impl LifetimeRt {
    pub(crate) fn new(l: &Lifetimes, created_ns: u64) -> Self {
        let rt = LifetimeRt {
            soft: core::array::from_fn(|_| AtomicU64::new(u64::MAX)),
            hard: core::array::from_fn(|_| AtomicU64::new(u64::MAX)),
            bytes: Counter::default(),
            packets: Counter::default(),
            state: AtomicU8::new(0),
            created_ns,
        };
        rt.store(l);
        rt
    }

    fn store(&self, l: &Lifetimes) {
        let created = self.created_ns;
        let abs = |x: &Limits| {
            [
                x.bytes.unwrap_or(u64::MAX),
                x.packets.unwrap_or(u64::MAX),
                x.time_ns.map_or(u64::MAX, |t| created.saturating_add(t)),
            ]
        };
        for (slot, v) in self.soft.iter().zip(abs(&l.soft)) {
            slot.store(v, Ordering::Relaxed);
        }
        for (slot, v) in self.hard.iter().zip(abs(&l.hard)) {
            slot.store(v, Ordering::Relaxed);
        }
    }

    /// New limits for a live SA (control thread; times still count from the SA's
    /// creation). Workers see them from their next packet on. A limit already passed fires
    /// on the next packet (or, for time, at once); a soft event that already fired is not
    /// raised again, and a hard-expired SA stays expired.
    pub(crate) fn set(&self, l: &Lifetimes) {
        self.store(l);
    }

    /// What is left before the hard limits at `now`: `(time_ns, bytes, packets)`, `None`
    /// for an unlimited one.
    pub(crate) fn remaining(&self, now: u64) -> (Option<u64>, Option<u64>, Option<u64>) {
        let left = |i: usize, used: u64| {
            let lim = self.hard[i].load(Ordering::Relaxed);
            (lim != u64::MAX).then(|| lim.saturating_sub(used))
        };
        (left(2, now), left(0, self.bytes.get()), left(1, self.packets.get()))
    }

    /// Whether a hard limit was reached.
    #[inline]
    pub(crate) fn is_hard_expired(&self, now: u64) -> bool {
        self.state.load(Ordering::Relaxed) & HARD_FIRED != 0
            || now >= self.hard[2].load(Ordering::Relaxed)
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

    /// [`LifetimeRt::admit`] for an SA several workers may use (outbound): the usage this
    /// worker admitted in its current run of packets is kept in `run` (bytes, packets)
    /// instead of the shared counters, which [`LifetimeRt::flush_run`] updates once per run.
    /// The limits are checked against the shared counters plus the run, so they are exact
    /// for one worker and may be overshot by at most one burst per other worker.
    #[inline]
    pub(crate) fn admit_run(
        &self,
        now: u64,
        len: u64,
        run: &mut (u64, u64),
        spi: u32,
        direction: Direction,
        events: &mut Vec<SaEvent>,
    ) -> bool {
        let state = self.state.load(Ordering::Relaxed);
        if state & HARD_FIRED != 0 {
            return false;
        }
        let bytes = self.bytes.get().saturating_add(run.0).saturating_add(len);
        let packets = self.packets.get().saturating_add(run.1).saturating_add(1);
        if let Some(kind) = Self::reached(&self.hard, bytes, packets, now, false) {
            self.fire(state | HARD_FIRED, spi, direction, SaEventKind::HardExpired(kind), events);
            return false;
        }
        if state & SOFT_FIRED == 0
            && let Some(kind) = Self::reached(&self.soft, bytes, packets, now, true)
        {
            self.fire(state | SOFT_FIRED, spi, direction, SaEventKind::SoftExpired(kind), events);
        }
        run.0 += len;
        run.1 += 1;
        true
    }

    /// Adds a run's usage (see [`LifetimeRt::admit_run`]) to the shared counters.
    pub(crate) fn flush_run(&self, run: &mut (u64, u64)) {
        if run.1 != 0 {
            self.bytes.add_shared(run.0);
            self.packets.add_shared(run.1);
        }
        *run = (0, 0);
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
        lim: &[AtomicU64; 3],
        bytes: u64,
        packets: u64,
        now: u64,
        soft: bool,
    ) -> Option<LimitKind> {
        let over = |v: u64, l: &AtomicU64| {
            let l = l.load(Ordering::Relaxed);
            if soft { v >= l } else { v > l }
        };
        if now >= lim[2].load(Ordering::Relaxed) {
            Some(LimitKind::Time)
        } else if over(bytes, &lim[0]) {
            Some(LimitKind::Bytes)
        } else if over(packets, &lim[1]) {
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
    fn limits_change_in_place_and_remaining_follows() {
        let mut ev = Vec::new();
        let l = Lifetimes {
            soft: Limits { packets: Some(10), ..Limits::default() },
            hard: Limits { packets: Some(20), time_ns: Some(1_000), bytes: None },
        };
        let rt = LifetimeRt::new(&l, 500);
        for _ in 0..5 {
            assert!(rt.admit(600, 100, 1, Direction::Inbound, &mut ev));
        }
        assert_eq!(rt.remaining(600), (Some(900), None, Some(15)));
        // Tighter: the soft limit is already passed, so the next packet raises it.
        let tighter = Lifetimes {
            soft: Limits { packets: Some(3), ..Limits::default() },
            hard: Limits { packets: Some(8), time_ns: Some(1_000), bytes: Some(10_000) },
        };
        rt.set(&tighter);
        assert_eq!(rt.remaining(600), (Some(900), Some(9_500), Some(3)));
        assert!(rt.admit(600, 100, 1, Direction::Inbound, &mut ev));
        assert_eq!(kinds(&ev), vec![SaEventKind::SoftExpired(LimitKind::Packets)]);
        // Looser again: the SA lives on, the soft event is not repeated.
        rt.set(&l);
        for _ in 0..10 {
            assert!(rt.admit(700, 100, 1, Direction::Inbound, &mut ev));
        }
        assert_eq!(ev.len(), 1);
        // A later deadline moves expiry; an earlier one expires the SA at once.
        assert!(!rt.is_hard_expired(1_499));
        rt.set(&Lifetimes { hard: Limits { time_ns: Some(10), ..Limits::default() }, ..l });
        assert!(rt.is_hard_expired(700));
        assert_eq!(rt.remaining(700).0, Some(0));
    }

    #[test]
    fn unlimited_never_fires() {
        let rt = LifetimeRt::new(&Lifetimes::default(), 0);
        let mut ev = Vec::new();
        assert!(rt.admit(u64::MAX - 1, 1500, 1, Direction::Outbound, &mut ev));
        assert!(ev.is_empty());
    }
}

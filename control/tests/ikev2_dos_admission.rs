//! Admission control for IKE_SA_INIT (`control::ikev2::dos`): half-open thresholds and
//! limits, the per-source token bucket on a virtual clock, and bounded memory under a
//! spoofed-source flood.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use control::ikev2::dos::{Admission, AdmissionConfig, DropReason, Verdict};
use control::time::Time;

fn v4(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(n))
}

/// Limits with the rate limit out of the way.
fn config(cookie_threshold: u32, max_half_open: u32, per_peer: u32) -> AdmissionConfig {
    AdmissionConfig {
        cookie_threshold,
        max_half_open,
        max_half_open_per_peer: per_peer,
        rate_per_sec: 1_000,
        burst: 1_000,
        table_capacity: 1_024,
    }
}

#[test]
fn cookie_threshold_and_global_limit() {
    let mut a = Admission::new(config(3, 5, 100));
    let t = Time::ZERO;
    for i in 0..3 {
        assert_eq!(a.check(t, v4(i), false), Verdict::Accept, "below threshold, {i}");
        a.opened(v4(i));
    }
    assert_eq!(a.half_open(), 3);
    assert!(a.under_attack());
    // At the threshold: no cookie, challenge; a valid cookie, accept.
    assert_eq!(a.check(t, v4(10), false), Verdict::DemandCookie);
    assert_eq!(a.check(t, v4(10), true), Verdict::Accept);
    a.opened(v4(10));
    assert_eq!(a.check(t, v4(11), true), Verdict::Accept);
    a.opened(v4(11));
    // At the hard limit: dropped even with a cookie.
    assert_eq!(a.half_open(), 5);
    assert_eq!(a.check(t, v4(12), true), Verdict::Drop(DropReason::HalfOpenLimit));
    assert_eq!(a.check(t, v4(12), false), Verdict::Drop(DropReason::HalfOpenLimit));
    // One completes, one expires: room again, still above the cookie threshold.
    a.completed(v4(0));
    a.expired(v4(1));
    assert_eq!(a.half_open(), 3);
    assert_eq!(a.check(t, v4(12), false), Verdict::DemandCookie);
    assert_eq!(a.check(t, v4(12), true), Verdict::Accept);
    a.opened(v4(12));
    // Below the threshold no cookie is needed.
    for ip in [2, 10, 11] {
        a.completed(v4(ip));
    }
    assert_eq!(a.half_open(), 1);
    assert!(!a.under_attack());
    assert_eq!(a.check(t, v4(13), false), Verdict::Accept);

    let c = a.counters();
    assert_eq!(c.accepted, 7);
    assert_eq!(c.cookie_demanded, 2);
    assert_eq!(c.dropped_half_open, 2);
    assert_eq!(c.dropped(DropReason::HalfOpenLimit), 2);
    assert_eq!((c.opened, c.completed, c.expired), (6, 4, 1));
}

#[test]
fn cookie_percent() {
    let c = AdmissionConfig { max_half_open: 2000, ..AdmissionConfig::default() };
    assert_eq!(c.with_cookie_percent(50).cookie_threshold, 1000);
    assert_eq!(c.with_cookie_percent(0).cookie_threshold, 0);
    assert_eq!(c.with_cookie_percent(100).cookie_threshold, 2000);
    let d = AdmissionConfig::default();
    assert_eq!(d.cookie_threshold, d.max_half_open / 2);
    // Threshold 0: always challenge requests without a cookie.
    let mut a = Admission::new(config(0, 10, 10));
    assert_eq!(a.check(Time::ZERO, v4(1), false), Verdict::DemandCookie);
    assert_eq!(a.check(Time::ZERO, v4(1), true), Verdict::Accept);
}

#[test]
fn per_peer_limit() {
    let mut a = Admission::new(config(1_000, 1_000, 2));
    let t = Time::ZERO;
    let nat = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
    for _ in 0..2 {
        assert_eq!(a.check(t, nat, false), Verdict::Accept);
        a.opened(nat);
    }
    assert_eq!(a.half_open_from(nat), 2);
    assert_eq!(a.check(t, nat, true), Verdict::Drop(DropReason::PeerHalfOpenLimit));
    // Other sources are unaffected.
    assert_eq!(a.check(t, v4(7), false), Verdict::Accept);
    a.expired(nat);
    assert_eq!(a.half_open_from(nat), 1);
    assert_eq!(a.check(t, nat, false), Verdict::Accept);
    assert_eq!(a.counters().dropped(DropReason::PeerHalfOpenLimit), 1);
    // Reports for sources with nothing half-open are counted and ignored.
    a.completed(v4(99));
    a.expired(v4(99));
    assert_eq!(a.counters().unmatched_reports, 2);
    assert_eq!(a.half_open(), 1);
}

#[test]
fn token_bucket_refills_on_virtual_clock() {
    let mut a = Admission::new(AdmissionConfig {
        cookie_threshold: 1_000,
        max_half_open: 1_000,
        max_half_open_per_peer: 1_000,
        rate_per_sec: 10,
        burst: 5,
        table_capacity: 16,
    });
    let src = v4(0xc000_0201);
    let at = Time::from_millis;
    // A full bucket: the burst passes, then nothing.
    for i in 0..5 {
        assert_eq!(a.check(at(0), src, false), Verdict::Accept, "burst {i}");
    }
    assert_eq!(a.check(at(0), src, false), Verdict::Drop(DropReason::RateLimited));
    // 10 per second: one token per 100 ms. 99 ms is not enough.
    assert_eq!(a.check(at(99), src, false), Verdict::Drop(DropReason::RateLimited));
    assert_eq!(a.check(at(100), src, false), Verdict::Accept);
    assert_eq!(a.check(at(100), src, false), Verdict::Drop(DropReason::RateLimited));
    // 250 ms later: two and a half tokens.
    assert_eq!(a.check(at(350), src, false), Verdict::Accept);
    assert_eq!(a.check(at(350), src, false), Verdict::Accept);
    assert_eq!(a.check(at(350), src, false), Verdict::Drop(DropReason::RateLimited));
    assert_eq!(a.check(at(400), src, false), Verdict::Accept);
    // Idle for a minute: refilled to the burst, not beyond.
    let later = at(60_400);
    for i in 0..5 {
        assert_eq!(a.check(later, src, false), Verdict::Accept, "refill {i}");
    }
    assert_eq!(a.check(later, src, false), Verdict::Drop(DropReason::RateLimited));
    // The clock going backwards refills nothing and does not panic.
    assert_eq!(a.check(at(10), src, false), Verdict::Drop(DropReason::RateLimited));
    // Each source has its own bucket.
    assert_eq!(a.check(later, v4(1), false), Verdict::Accept);
    assert_eq!(a.counters().dropped_rate, 6);
    assert_eq!(a.counters().accepted, 15);
}

#[test]
fn rate_table_evicts_least_recently_seen() {
    let mut a = Admission::new(AdmissionConfig {
        cookie_threshold: 1_000,
        max_half_open: 1_000,
        max_half_open_per_peer: 1_000,
        rate_per_sec: 1,
        burst: 1,
        table_capacity: 3,
    });
    let t = Time::ZERO;
    let (sa, sb, sc, sd) = (v4(1), v4(2), v4(3), v4(4));
    assert_eq!(a.check(t, sa, false), Verdict::Accept);
    assert_eq!(a.check(t, sb, false), Verdict::Accept);
    assert_eq!(a.check(t, sc, false), Verdict::Accept);
    // A is seen again (and is out of tokens): now B is the least recently seen.
    assert_eq!(a.check(t, sa, false), Verdict::Drop(DropReason::RateLimited));
    assert_eq!(a.check(t, sd, false), Verdict::Accept);
    assert_eq!(a.tracked_sources(), 3);
    assert_eq!(a.counters().table_evictions, 1);
    // A kept its empty bucket: it was not the one evicted.
    assert_eq!(a.check(t, sa, false), Verdict::Drop(DropReason::RateLimited));
    // B was evicted and comes back with a fresh bucket (evicting C).
    assert_eq!(a.check(t, sb, false), Verdict::Accept);
    assert_eq!(a.check(t, sc, false), Verdict::Accept);
    assert_eq!(a.counters().table_evictions, 3);
}

#[test]
fn spoofed_flood_keeps_memory_bounded() {
    const CAPACITY: usize = 4_096;
    const FLOOD: u32 = 1_000_000;
    let mut a = Admission::new(AdmissionConfig {
        table_capacity: CAPACITY,
        ..AdmissionConfig::default().with_cookie_percent(0)
    });
    // Hash slots before any traffic: the table never allocates more, however many sources
    // pass through (tombstones may lower the figure between in-place rehashes).
    let initial_slots = a.table_allocated_slots();
    let mut max_slots = initial_slots;
    for i in 0..FLOOD {
        // Every request from a new address, as a spoofing attacker sends them; one in
        // sixteen over IPv6.
        let src = if i % 16 == 0 {
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, (i >> 16) as u16, i as u16))
        } else {
            v4(0x0a00_0000 + i)
        };
        let now = Time::from_millis(u64::from(i / 1_000));
        // Threshold 0: every request without a cookie is challenged, and none is accepted,
        // so nothing becomes half-open.
        assert_eq!(a.check(now, src, false), Verdict::DemandCookie);
        max_slots = max_slots.max(a.table_allocated_slots());
        if i % 65_536 == 0 {
            assert!(a.tracked_sources() <= CAPACITY);
        }
    }
    assert_eq!(a.tracked_sources(), CAPACITY);
    // The table's allocation did not grow while a million sources passed through it.
    assert_eq!(max_slots, initial_slots);
    assert!(initial_slots <= 4 * CAPACITY, "{initial_slots} slots for {CAPACITY} entries");
    assert_eq!(a.half_open(), 0);
    let c = a.counters();
    assert_eq!(c.cookie_demanded, u64::from(FLOOD));
    assert_eq!(c.table_evictions, u64::from(FLOOD) - CAPACITY as u64);
    assert_eq!(c.accepted + c.dropped_rate, 0);
}

//! The failover pair ([`control::ha`]) as a deterministic simulation: two units on a
//! virtual clock, joined by a simulated failover link with loss, delay (and so
//! reordering), duplication and partitions drawn from a seeded RNG. The clock jumps to the
//! next timer or arrival, so ten simulated minutes run in milliseconds.
//!
//! Covered: startup election in both start orders, hello loss below the hold time,
//! failure of the active, split brain, a flapping link, replication under loss, delay,
//! duplication and reordering (convergence and the takeover sequence-number jump), manual
//! switchover both ways, wrong key / tampered / replayed / recorded datagrams,
//! preemption on and off, sub-second timers, and arbitrary bytes (proptest).

use core::time::Duration;
use std::collections::BTreeMap;

use control::crypto::SecretBytes;
use control::ha::{
    ActiveReason, ChildLifetimes, ChildSaRecord, ChildTransforms, CommandError, ConfigError, Event,
    IkeKeys, IkeSaRecord, IkeTransforms, MapRef, OpenError, Pair, PairConfig, Record, ReplayState,
    Role, Selector, StandbyReason, State, Takeover,
};
use control::time::Time;
use proptest::prelude::*;
use rand_core::Rng;

include!("support/test_rng.rs");

/// The primary's index in a simulation.
const A: usize = 0;
/// The secondary's.
const B: usize = 1;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn secs(v: u64) -> Duration {
    Duration::from_secs(v)
}

fn config(role: Role, key: &[u8]) -> PairConfig {
    let mut c = PairConfig::new(role, SecretBytes::from_slice(key));
    c.monitored_interfaces = 2;
    c
}

/// The failover link's behaviour. Probabilities are per mille.
#[derive(Debug, Clone, Copy)]
struct Link {
    /// Loss, by sender.
    loss: [u32; 2],
    /// Duplication.
    dup: u32,
    /// One-way delay range, milliseconds (a range reorders).
    delay: (u64, u64),
    /// Everything is dropped.
    partitioned: bool,
    /// Drop exactly every other datagram, by sender.
    alternate: [bool; 2],
}

impl Link {
    const CLEAN: Link =
        Link { loss: [0, 0], dup: 0, delay: (1, 1), partitioned: false, alternate: [false; 2] };
}

struct Flight {
    at: Time,
    order: u64,
    to: usize,
    data: Vec<u8>,
}

struct Sim {
    now: Time,
    cfg: [PairConfig; 2],
    units: [Option<Pair>; 2],
    link: Link,
    rng: TestRng,
    flights: Vec<Flight>,
    order: u64,
    /// Every event, with its time.
    log: [Vec<(Time, Event)>; 2],
    /// Every datagram sent, by sender (the attacker's recording).
    tap: [Vec<Vec<u8>>; 2],
    /// Datagrams sent, by sender (for `alternate`).
    sent: [u64; 2],
    steps: u64,
}

impl Sim {
    fn new(seed: &str, a: PairConfig, b: PairConfig) -> Sim {
        Sim {
            now: Time::from_secs(1),
            cfg: [a, b],
            units: [None, None],
            link: Link::CLEAN,
            rng: TestRng::new(seed),
            flights: Vec::new(),
            order: 0,
            log: [Vec::new(), Vec::new()],
            tap: [Vec::new(), Vec::new()],
            sent: [0, 0],
            steps: 0,
        }
    }

    fn pair() -> Sim {
        Sim::new(
            "pair",
            config(Role::Primary, b"failover secret"),
            config(Role::Secondary, b"failover secret"),
        )
    }

    fn unit(&mut self, i: usize) -> &mut Pair {
        self.units[i].as_mut().expect("unit running")
    }

    fn state(&self, i: usize) -> Option<State> {
        self.units[i].as_ref().map(Pair::state)
    }

    fn start(&mut self, i: usize) {
        let p = Pair::new(self.cfg[i].clone(), self.now, &mut self.rng).expect("valid config");
        self.units[i] = Some(p);
        self.collect(i);
    }

    fn kill(&mut self, i: usize) {
        self.units[i] = None;
        self.flights.retain(|f| f.to != i);
    }

    fn chance(&mut self, per_mille: u32) -> bool {
        per_mille > 0 && (self.rng.next_u32() % 1000) < per_mille
    }

    fn delay(&mut self) -> Duration {
        let (lo, hi) = self.link.delay;
        ms(lo + self.rng.next_u64() % (hi - lo + 1))
    }

    fn send(&mut self, from: usize, data: Vec<u8>) {
        self.tap[from].push(data.clone());
        self.sent[from] += 1;
        if self.link.alternate[from] && self.sent[from].is_multiple_of(2) {
            return;
        }
        if self.link.partitioned || self.chance(self.link.loss[from]) {
            return;
        }
        let copies = if self.chance(self.link.dup) { 2 } else { 1 };
        for _ in 0..copies {
            let at = self.now + self.delay();
            self.order += 1;
            self.flights.push(Flight { at, order: self.order, to: 1 - from, data: data.clone() });
        }
    }

    /// Injects a datagram to `to`, bypassing the link.
    fn inject(&mut self, to: usize, data: &[u8]) {
        let now = self.now;
        self.unit(to).handle(now, data);
        self.collect(to);
    }

    fn collect(&mut self, i: usize) {
        let Some(p) = self.units[i].as_mut() else { return };
        let mut out = Vec::new();
        while let Some(d) = p.poll_transmit() {
            assert!(d.len() <= control::ha::wire::MAX_DATAGRAM);
            out.push(d);
        }
        while let Some(e) = p.poll_event() {
            self.log[i].push((self.now, e));
        }
        for d in out {
            self.send(i, d);
        }
    }

    fn next_time(&self) -> Option<Time> {
        let f = self.flights.iter().map(|f| f.at).min();
        let t = self.units.iter().flatten().filter_map(Pair::poll_timeout).min();
        match (f, t) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn step(&mut self, t: Time) {
        self.steps += 1;
        assert!(self.steps < 5_000_000, "the simulation does not make progress");
        self.now = self.now.max(t);
        let now = self.now;
        // Arrivals in time order (ties in sending order).
        while let Some(idx) = self
            .flights
            .iter()
            .enumerate()
            .filter(|(_, f)| f.at <= now)
            .min_by_key(|(_, f)| (f.at, f.order))
            .map(|(i, _)| i)
        {
            let f = self.flights.swap_remove(idx);
            if let Some(p) = self.units[f.to].as_mut() {
                p.handle(now, &f.data);
                self.collect(f.to);
            }
        }
        for i in [A, B] {
            if let Some(p) = self.units[i].as_mut()
                && p.poll_timeout().is_some_and(|t| t <= now)
            {
                p.handle_timeout(now);
                self.collect(i);
            }
        }
    }

    fn run_until(&mut self, end: Time) {
        while let Some(t) = self.next_time().filter(|t| *t <= end) {
            self.step(t);
        }
        self.now = self.now.max(end);
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.run_until(end);
    }

    /// Runs until `f` holds (checked after every step), at most `limit`; returns the time.
    fn run_until_cond(&mut self, limit: Duration, f: impl Fn(&Sim) -> bool) -> Option<Time> {
        let end = self.now + limit;
        if f(self) {
            return Some(self.now);
        }
        while let Some(t) = self.next_time().filter(|t| *t <= end) {
            self.step(t);
            if f(self) {
                return Some(self.now);
            }
        }
        self.now = end;
        None
    }

    fn events(&self, i: usize) -> Vec<Event> {
        self.log[i].iter().map(|(_, e)| *e).collect()
    }

    fn events_since(&self, i: usize, t: Time) -> Vec<Event> {
        self.log[i].iter().filter(|(at, _)| *at >= t).map(|(_, e)| *e).collect()
    }

    fn transitions_since(&self, i: usize, t: Time) -> Vec<Event> {
        self.events_since(i, t)
            .into_iter()
            .filter(|e| matches!(e, Event::BecameActive { .. } | Event::BecameStandby { .. }))
            .collect()
    }

    fn actives(&self) -> usize {
        [A, B].iter().filter(|&&i| self.state(i) == Some(State::Active)).count()
    }

    fn synced(&self, i: usize) -> bool {
        self.units[i].as_ref().is_some_and(Pair::is_synced)
    }

    /// Both running, A active, B standby and synced.
    fn settled() -> Sim {
        let mut s = Sim::pair();
        s.start(A);
        s.start(B);
        s.run_for(secs(5));
        assert_eq!((s.state(A), s.state(B)), (Some(State::Active), Some(State::Standby)));
        assert!(s.synced(B));
        s
    }
}

// ---------------------------------------------------------------------------------------
// Roles

#[test]
fn startup_election_primary_first() {
    let mut s = Sim::pair();
    s.start(A);
    s.run_for(secs(3));
    assert_eq!(s.state(A), Some(State::Negotiating), "listens one hold time first");
    s.start(B);
    let t = s.run_until_cond(secs(2), |s| s.synced(B)).expect("B synced");
    assert!(t < Time::from_secs(5), "election and bulk sync take round trips, not timers");
    assert_eq!((s.state(A), s.state(B)), (Some(State::Active), Some(State::Standby)));
    assert_eq!(
        s.events(A)[..2],
        [Event::MateUp, Event::BecameActive { reason: ActiveReason::Elected }]
    );
    assert!(s.events(B).contains(&Event::BecameStandby { reason: StandbyReason::Elected }));
    assert!(s.events(B).contains(&Event::StandbySynced));
    s.run_for(secs(60));
    assert_eq!(s.transitions_since(A, Time::from_secs(6)), vec![]);
    assert_eq!(s.transitions_since(B, Time::from_secs(6)), vec![]);
}

#[test]
fn startup_election_secondary_first() {
    let mut s = Sim::pair();
    s.start(B);
    s.run_for(secs(10));
    assert_eq!(s.state(B), Some(State::Negotiating));
    s.start(A);
    s.run_for(secs(2));
    assert_eq!((s.state(A), s.state(B)), (Some(State::Active), Some(State::Standby)));
    assert!(s.synced(B));
    // Started at the same instant: the same answer.
    let mut s = Sim::pair();
    s.start(B);
    s.start(A);
    s.run_for(secs(2));
    assert_eq!((s.state(A), s.state(B)), (Some(State::Active), Some(State::Standby)));
}

#[test]
fn lone_unit_goes_active_after_hold_and_late_primary_joins_as_standby() {
    let mut s = Sim::pair();
    s.start(B);
    let t = s.run_until_cond(secs(30), |s| s.state(B) == Some(State::Active)).unwrap();
    assert_eq!(t, Time::from_secs(1) + secs(15), "exactly one hold time");
    assert_eq!(
        s.events(B),
        vec![Event::BecameActive {
            reason: ActiveReason::MateSilent { since: Time::from_secs(1) }
        }]
    );
    // The primary arriving later does not take over (no preemption configured).
    s.start(A);
    s.run_for(secs(60));
    assert_eq!((s.state(A), s.state(B)), (Some(State::Standby), Some(State::Active)));
    assert!(s.events(A).contains(&Event::BecameStandby { reason: StandbyReason::MateActive }));
    assert!(s.synced(A));
}

#[test]
fn hello_loss_below_hold_time_changes_nothing() {
    let mut s = Sim::settled();
    let t0 = s.now;
    for _ in 0..5 {
        // 13 s of total silence, both ways: less than the 15 s hold time.
        s.link.partitioned = true;
        s.run_for(secs(13));
        s.link.partitioned = false;
        s.run_for(secs(3));
    }
    assert_eq!((s.state(A), s.state(B)), (Some(State::Active), Some(State::Standby)));
    for i in [A, B] {
        assert!(
            !s.events_since(i, t0).iter().any(|e| matches!(
                e,
                Event::MateDown { .. } | Event::BecameActive { .. } | Event::BecameStandby { .. }
            )),
            "{:?}",
            s.events_since(i, t0)
        );
    }
}

#[test]
fn active_failure_standby_takes_over_within_hold_plus_one_hello() {
    for (n, offset) in [0u64, 137, 500, 999].into_iter().enumerate() {
        let mut s = Sim::settled();
        s.run_for(ms(offset));
        let killed = s.now;
        s.kill(A);
        let t = s.run_until_cond(secs(30), |s| s.state(B) == Some(State::Active)).unwrap();
        assert!(t <= killed + secs(15) + secs(1), "case {n}: took over at {t}, killed at {killed}");
        assert!(t >= killed + secs(14), "case {n}: not before the hold time");
        let ev = s.events_since(B, killed);
        assert!(matches!(ev[0], Event::MateDown { .. }), "{ev:?}");
        assert!(matches!(ev[1], Event::BecameActive { reason: ActiveReason::MateSilent { .. } }));
        assert!(!ev.contains(&Event::TookOverUnsynced));
        assert!(s.unit(B).take_over().is_some());
    }
}

#[test]
fn split_brain_resolves_to_exactly_one_active_deterministically() {
    // Equal health: the primary wins.
    let mut s = Sim::settled();
    s.link.partitioned = true;
    s.run_for(secs(20));
    assert_eq!(s.actives(), 2, "both active during the partition");
    let healed = s.now;
    s.link.partitioned = false;
    let t = s.run_until_cond(secs(5), |s| s.actives() == 1).expect("resolved");
    assert!(t <= healed + secs(2), "one hello round");
    s.run_for(secs(30));
    assert_eq!((s.state(A), s.state(B)), (Some(State::Active), Some(State::Standby)));
    assert!(s.synced(B), "the loser resynchronises");
    // The winner reports the split brain only if it heard the loser claim active before
    // the loser heard it and yielded; it never yields.
    assert!(
        !s.events_since(A, healed).contains(&Event::SplitBrainResolved { we_stay_active: false })
    );
    assert_eq!(
        s.events_since(B, healed)
            .into_iter()
            .filter(|e| matches!(e, Event::SplitBrainResolved { .. } | Event::BecameStandby { .. }))
            .collect::<Vec<_>>(),
        vec![
            Event::SplitBrainResolved { we_stay_active: false },
            Event::BecameStandby { reason: StandbyReason::SplitBrain }
        ]
    );
    assert_eq!(s.transitions_since(A, healed), vec![]);

    // The secondary is healthier: it wins, whatever the roles.
    let mut s = Sim::settled();
    s.link.partitioned = true;
    s.run_for(secs(20));
    let now = s.now;
    s.unit(A).set_local_health(now, 1);
    s.collect(A);
    s.run_for(secs(1));
    s.link.partitioned = false;
    s.run_for(secs(10));
    assert_eq!((s.state(A), s.state(B)), (Some(State::Standby), Some(State::Active)));
    assert!(s.events(A).contains(&Event::BecameStandby { reason: StandbyReason::SplitBrain }));
}

#[test]
fn flapping_link_never_flips_roles() {
    // Half of everything lost, both ways, for ten minutes. Only a whole hold time of
    // silence counts: at 50 % loss that is 2^-15 per window (the seed is fixed).
    let mut s = Sim::settled();
    let t0 = s.now;
    s.link.loss = [500, 500];
    s.link.delay = (1, 30);
    s.run_for(secs(600));
    assert_eq!((s.state(A), s.state(B)), (Some(State::Active), Some(State::Standby)));
    for i in [A, B] {
        assert!(
            !s.events_since(i, t0).iter().any(|e| matches!(
                e,
                Event::MateDown { .. } | Event::BecameActive { .. } | Event::BecameStandby { .. }
            )),
            "unit {i}: {:?}",
            s.events_since(i, t0)
        );
    }
    let st = s.unit(B).stats();
    assert!(st.hellos_received > 200 && st.hellos_received < 450, "{st:?}");

    // A link that drops exactly every other datagram, both ways.
    let mut s = Sim::settled();
    let t0 = s.now;
    s.link.alternate = [true, true];
    s.run_for(secs(300));
    assert!(s.transitions_since(A, t0).is_empty() && s.transitions_since(B, t0).is_empty());
    assert!(!s.events_since(B, t0).iter().any(|e| matches!(e, Event::MateDown { .. })));
}

// ---------------------------------------------------------------------------------------
// Replication

fn ike_rec(id: u64) -> IkeSaRecord {
    let k = |b: u8| SecretBytes::from_slice(&[b; 32]);
    IkeSaRecord {
        id,
        version: 2,
        spi_i: id.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        spi_r: id.wrapping_mul(0xc2b2_ae3d_27d4_eb4f),
        initiator: id.is_multiple_of(2),
        local: "192.0.2.1:500".parse().unwrap(),
        peer: format!("198.51.100.{}:500", id % 250 + 1).parse().unwrap(),
        transforms: IkeTransforms { encr: 20, encr_key_bits: 256, prf: 5, integ: 0, dh: 19 },
        keys: IkeKeys {
            sk_d: k(1),
            sk_ai: SecretBytes::from_slice(&[]),
            sk_ar: SecretBytes::from_slice(&[]),
            sk_ei: k(4),
            sk_er: k(5),
            sk_pi: k(6),
            sk_pr: k(7),
        },
        next_send_msg_id: 2,
        next_recv_msg_id: 2,
        soft_lifetime_secs: 80_000,
        hard_lifetime_secs: 86_400,
        crypto_map: Some(MapRef {
            name: "outside_map".into(),
            seq: 10,
            peer_index: (id % 3) as u8,
        }),
        nat: false,
        peer_id: vec![],
        extensions: Default::default(),
        local_auth: Default::default(),
        remote_auth: Default::default(),
        virtual_ips: vec![],
        ikev1: None,
    }
}

fn child_rec(ike_id: u64, spi: u32, seq: u64) -> ChildSaRecord {
    let net = |a: [u8; 4]| Selector {
        start: a.into(),
        end: [a[0], a[1], a[2], 255].into(),
        protocol: 0,
        start_port: 0,
        end_port: 65535,
    };
    ChildSaRecord {
        ike_id,
        inbound_spi: spi,
        outbound_spi: spi.rotate_left(16),
        transforms: ChildTransforms { encr: 20, encr_key_bits: 256, integ: 0, esn: true, dh: 0 },
        inbound_key: SecretBytes::from_slice(&[0x11; 36]),
        outbound_key: SecretBytes::from_slice(&[0x22; 36]),
        local_ts: vec![net([10, 0, (spi % 250) as u8, 0])],
        remote_ts: vec![net([10, 1, (spi % 250) as u8, 0])],
        lifetimes: ChildLifetimes { soft_secs: 3000, hard_secs: 3600, soft_kb: 0, hard_kb: 0 },
        outbound_seq: seq,
        replay: ReplayState { highest: 0, bitmap: vec![0; 2] },
        udp_encap: None,
        phase: Default::default(),
    }
}

/// The active's dataplane: Child SAs sending at fixed rates.
struct Traffic {
    /// inbound SPI -> (since, next sequence number then, rate in packets per second).
    sas: BTreeMap<u32, (Time, u64, u64)>,
}

impl Traffic {
    fn new() -> Traffic {
        Traffic { sas: BTreeMap::new() }
    }

    /// The next outbound sequence number of `spi` at `t`.
    fn seq(&self, spi: u32, t: Time) -> u64 {
        let (since, base, rate) = self.sas[&spi];
        base + rate * t.since(since).as_millis() as u64 / 1000
    }

    fn create(&mut self, s: &mut Sim, active: usize, ike: u64, spi: u32, rate: u64) {
        let now = s.now;
        s.unit(active).replicate(now, Record::UpsertIke(ike_rec(ike))).unwrap();
        s.unit(active).replicate(now, Record::UpsertChild(child_rec(ike, spi, 1))).unwrap();
        s.collect(active);
        self.sas.insert(spi, (now, 1, rate));
    }

    /// The new active's dataplane continues from the jumped sequence numbers.
    fn rebase(&mut self, t: &Takeover, now: Time) {
        for c in &t.children {
            if let Some(e) = self.sas.get_mut(&c.inbound_spi) {
                *e = (now, c.outbound_seq, e.2);
            }
        }
    }

    /// The periodic read of the dataplane's counters.
    fn update(&self, s: &mut Sim, active: usize) {
        let now = s.now;
        for &spi in self.sas.keys() {
            let seq = self.seq(spi, now);
            let p = s.unit(active);
            p.replicate(now, Record::SeqUpdate { inbound_spi: spi, outbound_seq: seq }).unwrap();
            p.replicate(
                now,
                Record::ReplayUpdate {
                    inbound_spi: spi,
                    highest: seq / 2,
                    bitmap: vec![u64::MAX; 2],
                },
            )
            .unwrap();
        }
        s.collect(active);
    }

    /// Runs `d`, reading the counters every second.
    fn run(&self, s: &mut Sim, active: usize, d: Duration) {
        let end = s.now + d;
        while s.now < end {
            let next = (s.now + secs(1)).min(end);
            s.run_until(next);
            if s.state(active) == Some(State::Active) {
                self.update(s, active);
            }
        }
    }
}

/// The standby's copy equals the active's mirror, SA by SA.
fn assert_converged(s: &Sim, active: usize, standby: usize, spis: impl Iterator<Item = u32>) {
    let a = s.units[active].as_ref().unwrap();
    let b = s.units[standby].as_ref().unwrap();
    let r = a.replicator().unwrap();
    assert_eq!(b.store().child_count(), r.child_count());
    assert_eq!(b.store().ike_count(), r.ike_count());
    for spi in spis {
        assert_eq!(b.store().child(spi), r.child(spi), "child {spi:#x}");
    }
}

#[test]
fn replication_converges_under_loss_delay_duplication_and_reordering() {
    let mut s = Sim::settled();
    let mut traffic = Traffic::new();
    for i in 0..40u32 {
        traffic.create(&mut s, A, u64::from(i / 2) + 1, 0x1000 + i, 1000 + 997 * u64::from(i));
    }
    s.link = Link { loss: [300, 300], dup: 100, delay: (1, 80), ..Link::CLEAN };
    traffic.run(&mut s, A, secs(60));
    // Churn while the link misbehaves: deletes and new SAs.
    let now = s.now;
    for i in 0..5u32 {
        s.unit(A).replicate(now, Record::DeleteChild(0x1000 + i)).unwrap();
        traffic.sas.remove(&(0x1000 + i));
    }
    s.unit(A).replicate(now, Record::DeleteIke(20)).unwrap();
    traffic.sas.remove(&(0x1000 + 38));
    traffic.sas.remove(&(0x1000 + 39));
    for i in 40..50u32 {
        traffic.create(&mut s, A, 100 + u64::from(i), 0x1000 + i, 5000);
    }
    traffic.run(&mut s, A, secs(30));
    let stats = s.unit(A).stats();
    assert!(stats.replication.retransmits > 0, "{stats:?}");
    let anomalies = s.unit(B).stats().anomalies;
    assert!(anomalies.duplicates > 0, "{anomalies:?}");
    assert_eq!(s.transitions_since(B, Time::from_secs(6)), vec![]);
    // A clean link: the retransmissions catch up.
    s.link = Link::CLEAN;
    s.run_for(secs(3));
    assert!(s.synced(B));
    assert_converged(&s, A, B, 0x1000..0x1000 + 50);
    assert_eq!(s.unit(B).store().child_count(), 50 - 5 - 2);
    assert_eq!(anomalies.seq_regression + anomalies.replay_regression, 0);
}

#[test]
fn takeover_jumps_sequence_numbers_past_everything_sent() {
    for (n, (reads, after)) in [(0, 300), (0, 999), (1, 500), (7, 300)].into_iter().enumerate() {
        let mut s = Sim::settled();
        let mut traffic = Traffic::new();
        for i in 0..20u32 {
            // Up to 200 000 packets per second.
            traffic.create(&mut s, A, u64::from(i) + 1, 0x2000 + i, 10_000 * u64::from(i + 1));
        }
        s.link = Link { loss: [250, 250], dup: 50, delay: (1, 40), ..Link::CLEAN };
        traffic.run(&mut s, A, secs(20 + reads));
        // The active dies between two counter reads: what it sent since the last one is
        // gone with it (and that read itself may be lost or late on the link).
        s.run_for(ms(after));
        let killed = s.now;
        s.kill(A);
        s.run_until_cond(secs(30), |s| s.state(B) == Some(State::Active)).unwrap();
        let t = s.unit(B).take_over().expect("takeover");
        assert_eq!(t.children.len(), 20, "case {n}");
        assert_eq!(t.ike.len(), 20);
        for c in &t.children {
            let sent = traffic.seq(c.inbound_spi, killed);
            assert!(
                c.outbound_seq > sent,
                "case {n}: SA {:#x} resumes at {} but the dead active reached {}",
                c.inbound_spi,
                c.outbound_seq,
                sent
            );
        }
        // Peer indexes and message IDs come across unchanged.
        let ike = t.ike.iter().find(|r| r.id == 3).unwrap();
        assert_eq!(ike.crypto_map.as_ref().unwrap().peer_index, 0);
        assert_eq!(ike, &{
            let mut r = ike_rec(3);
            r.soft_lifetime_secs = ike.soft_lifetime_secs;
            r.hard_lifetime_secs = ike.hard_lifetime_secs;
            r
        });
        assert!(ike.hard_lifetime_secs < 86_400 - 30, "lifetimes aged");
    }
}

#[test]
fn standby_restart_gets_a_bulk_sync() {
    let mut s = Sim::settled();
    let mut traffic = Traffic::new();
    for i in 0..300u32 {
        traffic.create(&mut s, A, u64::from(i) + 1, 0x3000 + i, 100);
    }
    traffic.run(&mut s, A, secs(3));
    s.kill(B);
    traffic.run(&mut s, A, secs(5));
    s.start(B);
    let t0 = s.now;
    traffic.run(&mut s, A, secs(5));
    s.run_for(ms(100));
    assert!(s.synced(B));
    assert_converged(&s, A, B, 0x3000..0x3000 + 300);
    assert!(s.events_since(A, t0).contains(&Event::MateRestarted));
    // `failover reload-standby` does it again.
    s.unit(A).request_reload_standby().unwrap();
    s.collect(A);
    traffic.run(&mut s, A, secs(3));
    assert!(s.events(B).contains(&Event::ReloadRequested));
    s.run_for(ms(100));
    assert!(s.synced(B));
    assert_converged(&s, A, B, 0x3000..0x3000 + 300);
    assert_eq!(s.unit(B).request_reload_standby(), Err(CommandError::NotActive));
}

#[test]
fn unsynced_takeover_is_reported() {
    let mut s = Sim::settled();
    let mut traffic = Traffic::new();
    for i in 0..500u32 {
        traffic.create(&mut s, A, u64::from(i) + 1, 0x4000 + i, 100);
    }
    s.run_for(secs(2));
    // B restarts; A dies while the bulk sync is still under way (the link is slow and lossy).
    s.kill(B);
    s.run_for(secs(1));
    s.link = Link { loss: [600, 0], delay: (50, 50), ..Link::CLEAN };
    s.start(B);
    s.run_until_cond(secs(10), |s| {
        s.units[B].as_ref().unwrap().store().child_count() > 0 && !s.synced(B)
    })
    .expect("bulk sync under way");
    s.kill(A);
    s.run_until_cond(secs(30), |s| s.state(B) == Some(State::Active)).unwrap();
    let ev = s.events(B);
    assert!(ev.contains(&Event::TookOverUnsynced), "{ev:?}");
    let t = s.unit(B).take_over().unwrap();
    assert!(
        !t.children.is_empty() && t.children.len() < 500,
        "a partial copy: {}",
        t.children.len()
    );
}

// ---------------------------------------------------------------------------------------
// Operator commands, preemption

/// Runs until `done`, checking after every step that at most one unit is active.
fn switch(s: &mut Sim, limit: Duration, done: impl Fn(&Sim) -> bool) -> Time {
    let end = s.now + limit;
    while !done(s) {
        let t = s.next_time().filter(|t| *t <= end).expect("switched in time");
        s.step(t);
        assert!(s.actives() <= 1, "two actives at {}", s.now);
    }
    s.now
}

#[test]
fn manual_switchover_both_ways() {
    let mut s = Sim::settled();
    let mut traffic = Traffic::new();
    for i in 0..10u32 {
        traffic.create(&mut s, A, u64::from(i) + 1, 0x5000 + i, 20_000);
    }
    traffic.run(&mut s, A, secs(3));
    let now = s.now;
    assert_eq!(s.unit(A).request_active(now), Err(CommandError::AlreadyActive));
    // `failover active` on the standby, right after a counter read is queued.
    s.unit(B).request_active(now).unwrap();
    s.collect(B);
    let done = switch(&mut s, secs(2), |s| {
        s.state(B) == Some(State::Active) && s.state(A) == Some(State::Standby)
    });
    assert!(done <= now + ms(10), "a few link round trips: {done}");
    assert!(s.events_since(B, now).contains(&Event::BecameActive { reason: ActiveReason::Manual }));
    assert!(
        s.events_since(A, now).contains(&Event::BecameStandby { reason: StandbyReason::Manual })
    );
    assert!(!s.events_since(B, now).contains(&Event::TookOverUnsynced));
    let t = s.unit(B).take_over().unwrap();
    assert_eq!(t.children.len(), 10);
    for c in &t.children {
        assert!(c.outbound_seq > traffic.seq(c.inbound_spi, done));
    }
    traffic.rebase(&t, done);
    traffic.run(&mut s, B, secs(3));
    s.run_for(ms(100));
    assert!(s.synced(A));
    assert_converged(&s, B, A, 0x5000..0x500a);
    // And back with `no failover active` on the new active.
    let now = s.now;
    assert_eq!(s.unit(A).request_standby(now), Err(CommandError::AlreadyStandby));
    s.unit(B).request_standby(now).unwrap();
    s.collect(B);
    let done = switch(&mut s, secs(2), |s| s.state(A) == Some(State::Active));
    assert_eq!(s.state(B), Some(State::Standby));
    assert!(s.events_since(A, now).contains(&Event::BecameActive { reason: ActiveReason::Manual }));
    let t = s.unit(A).take_over().unwrap();
    assert_eq!(t.children.len(), 10);
    for c in &t.children {
        assert!(c.outbound_seq > traffic.seq(c.inbound_spi, done));
    }
    s.run_for(secs(30));
    assert_eq!((s.state(A), s.state(B)), (Some(State::Active), Some(State::Standby)));
    for i in [A, B] {
        let a = s.unit(i).stats().anomalies;
        assert_eq!(a.seq_regression + a.replay_regression, 0, "{a:?}");
    }
    // Nobody to hand over to.
    s.kill(B);
    s.run_for(secs(20));
    let now = s.now;
    assert_eq!(s.unit(A).request_standby(now), Err(CommandError::NoMate));
}

fn preempt_case(preempt: Option<Duration>) -> Sim {
    let mut cfg = config(Role::Primary, b"k");
    cfg.preempt = preempt;
    let mut s = Sim::new("preempt", cfg, config(Role::Secondary, b"k"));
    s.start(A);
    s.start(B);
    s.run_for(secs(5));
    s.kill(A);
    s.run_for(secs(20));
    assert_eq!(s.state(B), Some(State::Active));
    // The primary comes back: standby first, whatever the preemption.
    s.start(A);
    s.run_for(secs(2));
    assert_eq!(s.state(A), Some(State::Standby));
    assert!(s.synced(A));
    s
}

#[test]
fn preemption_on_and_off() {
    let mut s = preempt_case(Some(secs(10)));
    let back = s.now;
    let t = s.run_until_cond(secs(30), |s| s.state(A) == Some(State::Active)).expect("preempted");
    assert!(t >= back + secs(8) && t <= back + secs(11), "after the delay: {t}");
    assert_eq!(s.state(B), Some(State::Standby));
    assert!(s.events(A).contains(&Event::BecameActive { reason: ActiveReason::Preempt }));
    assert!(s.events(B).contains(&Event::BecameStandby { reason: StandbyReason::Preempted }));
    s.run_for(secs(60));
    assert_eq!((s.state(A), s.state(B)), (Some(State::Active), Some(State::Standby)));

    let mut s = preempt_case(None);
    s.run_for(secs(120));
    assert_eq!((s.state(A), s.state(B)), (Some(State::Standby), Some(State::Active)));
}

#[test]
fn health_failover_and_no_preempt_while_less_healthy() {
    let mut s = Sim::settled();
    // The active loses an interface: the healthier standby takes over.
    let now = s.now;
    s.unit(A).set_local_health(now, 1);
    s.collect(A);
    s.run_for(secs(2));
    assert_eq!((s.state(A), s.state(B)), (Some(State::Standby), Some(State::Active)));
    assert!(
        s.events(B).contains(&Event::BecameActive { reason: ActiveReason::MateReportedFailure })
    );
    // Recovering does not move it back without preemption.
    let now = s.now;
    s.unit(A).set_local_health(now, 2);
    s.collect(A);
    s.run_for(secs(30));
    assert_eq!((s.state(A), s.state(B)), (Some(State::Standby), Some(State::Active)));
}

// ---------------------------------------------------------------------------------------
// Authentication and replay

#[test]
fn wrong_key_tampered_and_replayed_datagrams_are_rejected_and_counted() {
    let mut s = Sim::settled();
    let before = (s.state(A), s.state(B));
    // A unit with another key.
    let mut rng = TestRng::new("intruder");
    let mut intruder = Pair::new(config(Role::Secondary, b"another key"), s.now, &mut rng).unwrap();
    let d = intruder.poll_transmit().unwrap();
    s.inject(A, &d);
    assert_eq!(s.unit(A).stats().bad.wrong_key, 1);
    assert!(s.events(A).contains(&Event::BadMessage(OpenError::WrongKey)));
    // Datagrams of A that never reached B.
    let delivered = s.tap[A].len();
    s.link.partitioned = true;
    s.run_for(ms(1500));
    let undelivered = s.tap[A].len() - delivered;
    assert!(undelivered >= 1);
    // Tampered: one bit in the magic, the epoch, the echo, the body, the tag.
    let fresh = s.tap[A].last().unwrap().clone();
    for i in [0usize, 20, 30, 45, fresh.len() - 1] {
        let mut t = fresh.clone();
        t[i] ^= 0x40;
        s.inject(B, &t);
    }
    let bad = s.unit(B).stats().bad;
    assert_eq!((bad.header, bad.auth_failed), (1, 4), "{bad:?}");
    // Replayed: everything A ever sent. Only what B never saw is accepted, once.
    let recorded = s.tap[A].clone();
    let received = s.unit(B).stats().received;
    for d in recorded.iter().chain(&recorded) {
        s.inject(B, d);
    }
    let st = s.unit(B).stats();
    assert_eq!(st.received, received + undelivered as u64);
    assert_eq!(st.bad.replayed, 2 * recorded.len() as u64 - undelivered as u64);
    // Our own datagram reflected.
    let own = s.tap[B].last().unwrap().clone();
    s.inject(B, &own);
    assert_eq!(s.unit(B).stats().bad.same_role, 1);
    s.link.partitioned = false;
    s.run_for(secs(30));
    assert_eq!((s.state(A), s.state(B)), before);
}

#[test]
fn recorded_hellos_do_not_keep_a_dead_active_alive() {
    let mut s = Sim::settled();
    s.run_for(secs(10));
    let recorded = s.tap[A].clone();
    s.kill(A);
    let killed = s.now;
    // An attacker replays the recording, one datagram every 100 ms.
    let mut i = 0;
    let t = loop {
        s.run_for(ms(100));
        s.inject(B, &recorded[i % recorded.len()]);
        i += 1;
        if s.state(B) == Some(State::Active) {
            break s.now;
        }
        assert!(s.now < killed + secs(30));
    };
    assert!(t <= killed + secs(16));
    // A restarted standby (new epoch) is not fooled either: nothing is adopted.
    s.kill(B);
    s.start(B);
    let started = s.now;
    for d in &recorded {
        s.inject(B, d);
    }
    let st = s.unit(B).stats();
    assert_eq!(st.received, 0);
    assert!(st.probes > 0);
    let t = s.run_until_cond(secs(30), |s| s.state(B) == Some(State::Active)).unwrap();
    assert_eq!(t, started + secs(15));
}

#[test]
fn same_role_on_both_units_is_refused() {
    let mut s = Sim::new("same", config(Role::Primary, b"k"), config(Role::Primary, b"k"));
    s.start(A);
    s.start(B);
    s.run_for(secs(20));
    // Neither hears the other: both go active alone, and the misconfiguration is counted.
    assert_eq!(s.actives(), 2);
    assert!(s.unit(A).stats().bad.same_role > 0);
}

// ---------------------------------------------------------------------------------------
// Timers and configuration

#[test]
fn sub_second_timers() {
    let mut a = config(Role::Primary, b"k");
    let mut b = config(Role::Secondary, b"k");
    for c in [&mut a, &mut b] {
        c.hello = ms(200);
        c.hold = ms(600);
    }
    let mut s = Sim::new("fast", a, b);
    s.start(A);
    s.start(B);
    s.run_for(secs(1));
    assert_eq!((s.state(A), s.state(B)), (Some(State::Active), Some(State::Standby)));
    s.run_for(ms(1234));
    let killed = s.now;
    s.kill(A);
    let t = s.run_until_cond(secs(5), |s| s.state(B) == Some(State::Active)).unwrap();
    assert!(t <= killed + ms(800), "within hold + one hello: {t} vs {killed}");
    // Every other datagram lost at these timers is still no reason to flip.
    let mut s2 = Sim::new("fast2", s.cfg[A].clone(), s.cfg[B].clone());
    s2.start(A);
    s2.start(B);
    s2.run_for(secs(1));
    s2.link.alternate = [true, true];
    s2.run_for(secs(60));
    assert_eq!((s2.state(A), s2.state(B)), (Some(State::Active), Some(State::Standby)));
}

#[test]
fn config_validation() {
    let mut c = config(Role::Primary, b"k");
    c.hello = ms(199);
    assert_eq!(c.validate(), Err(ConfigError::Hello(ms(199))));
    c.hello = ms(200);
    c.hold = ms(599);
    assert_eq!(c.validate(), Err(ConfigError::Hold { hold: ms(599), min: ms(600) }));
    c.hold = secs(46);
    assert!(c.validate().is_err());
    c.hold = secs(45);
    c.preempt = Some(secs(3601));
    assert_eq!(c.validate(), Err(ConfigError::Preempt(secs(3601))));
    c.preempt = Some(secs(30));
    assert_eq!(c.validate(), Ok(()));
    let empty = config(Role::Primary, b"");
    assert!(matches!(empty.validate(), Err(ConfigError::Key(_))));
    let mut rng = TestRng::new("cfg");
    assert!(Pair::new(empty, Time::ZERO, &mut rng).is_err());

    let ha = control::policy::HaConfig {
        role: control::policy::HaRole::Secondary,
        interface: "fo".into(),
        local: "10.9.9.1".parse().unwrap(),
        peer: "10.9.9.2".parse().unwrap(),
        key: control::policy::Secret::Inline(zeroize::Zeroizing::new("s3cret".into())),
        poll_ms: 500,
        hold_ms: 2000,
        preempt_seconds: 0,
    };
    let c = PairConfig::from_ha(&ha, None).unwrap();
    assert_eq!((c.role, c.hello, c.hold, c.preempt), (Role::Secondary, ms(500), secs(2), None));
    assert_eq!(c.key.as_bytes(), b"s3cret");
    let file = control::policy::HaConfig {
        key: control::policy::Secret::File("/etc/fo.key".into()),
        preempt_seconds: 60,
        ..ha
    };
    assert_eq!(PairConfig::from_ha(&file, None).unwrap_err(), ConfigError::KeyNotLoaded);
    let c = PairConfig::from_ha(&file, Some(SecretBytes::from_slice(b"x"))).unwrap();
    assert_eq!(c.preempt, Some(secs(60)));
}

#[test]
fn replicate_only_on_the_active_and_records_are_checked() {
    let mut s = Sim::settled();
    let now = s.now;
    assert_eq!(
        s.unit(B).replicate(now, Record::DeleteIke(1)),
        Err(control::ha::ReplicateError::NotActive)
    );
    let mut bad = child_rec(1, 1, 1);
    bad.local_ts = vec![bad.local_ts[0]; 9];
    assert!(matches!(
        s.unit(A).replicate(now, Record::UpsertChild(bad)),
        Err(control::ha::ReplicateError::Invalid(_))
    ));
}

// ---------------------------------------------------------------------------------------
// Arbitrary input

/// A settled pair: B (standby), a datagram of A that B has not seen, and the time.
fn settled_standby() -> (Pair, Vec<u8>, Time) {
    let mut s = Sim::settled();
    s.link.partitioned = true;
    s.run_for(ms(1000));
    let d = s.tap[A].last().unwrap().clone();
    let b = s.units[B].take().unwrap();
    (b, d, s.now)
}

fn snapshot(p: &Pair) -> impl PartialEq + core::fmt::Debug + use<> {
    let st = p.stats();
    (p.state(), p.status(), p.poll_timeout(), p.is_synced(), st.received, st.transitions)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn arbitrary_bytes_never_panic_nor_change_state(
        datagrams in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..1600), 1..8)
    ) {
        let (mut b, _, now) = settled_standby();
        let before = snapshot(&b);
        for d in &datagrams {
            b.handle(now, d);
        }
        prop_assert_eq!(snapshot(&b), before);
        prop_assert!(b.poll_transmit().is_none(), "nothing is answered to garbage");
        prop_assert_eq!(b.stats().bad.total(), datagrams.len() as u64);
    }

    #[test]
    fn mutated_real_datagrams_are_refused(
        flips in proptest::collection::vec((any::<usize>(), 1u8..=255), 1..4),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let (mut b, d, now) = settled_standby();
        let mut m = d.clone();
        for (i, x) in flips {
            let i = i % m.len();
            m[i] ^= x;
        }
        if let Some(c) = cut {
            m.truncate(c % m.len());
        }
        prop_assume!(m != d);
        let before = snapshot(&b);
        b.handle(now, &m);
        prop_assert_eq!(snapshot(&b), before);
        prop_assert!(b.poll_transmit().is_none());
    }
}

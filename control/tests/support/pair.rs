// Two IKE endpoints on a virtual network (quinn's `Pair` harness), shared by
// `ikev2_sa_pair.rs`, `ikev2_rekey.rs` and `ikev2_cert_auth.rs`, which `include!` this
// file: a virtual clock jumped to the next timer or arrival, a fixed latency, a hook that
// may rewrite each datagram and a fault hook that drops, duplicates or delays it. Whole
// retransmission, liveness and rekey schedules run in milliseconds, deterministically
// (seeded RNGs).
//
// Paths are written out in full so that the including files keep their own `use` lists.
// The including file defines two constants, because its tests start many pairs and the
// defaults differ between the files:
// - `CHECK_LIVE: bool`, the default of `Pair::check_live` (the make-before-break check);
// - `EXACT_ADDRESSES: bool`, whether every datagram must use exactly the configured
//   addresses; otherwise the port may float to 4500 once a NAT is seen in IKE_SA_INIT
//   (RFC 7296 section 2.23), as a test that mutates the detection hash makes happen.

include!("test_rng.rs");

/// The initiator's and the responder's addresses.
const I_ADDR: core::net::SocketAddr =
    core::net::SocketAddr::new(core::net::IpAddr::V4(core::net::Ipv4Addr::new(192, 0, 2, 1)), 500);
const R_ADDR: core::net::SocketAddr = core::net::SocketAddr::new(
    core::net::IpAddr::V4(core::net::Ipv4Addr::new(198, 51, 100, 1)),
    500,
);

/// A selector for the IPv4 prefix `a/len`.
#[allow(dead_code)] // Not every including file uses it.
fn net(a: [u8; 4], len: u8) -> control::ikev2::wire::TrafficSelector {
    control::ikev2::selectors::from_prefix(core::net::IpAddr::V4(core::net::Ipv4Addr::from(a)), len)
}

/// One side with a pre-shared key: identities `i.example` / `r.example`, 10.1/16
/// (initiator) and 10.2/16 (responder), the Child SA lifetime `life` seconds.
#[allow(dead_code)] // Not every including file uses it.
fn psk_config(
    initiator: bool,
    ike_p: control::ikev2::proposal::LocalProposal,
    esp_p: control::ikev2::proposal::LocalProposal,
    life: u64,
) -> control::ikev2::sa::PeerConfig {
    use control::ikev2::sa::{ChildConfig, Mode, PeerConfig, Psk};
    use control::ikev2::selectors::PolicySelectors;
    use control::ikev2::wire::IdRepr;
    let (i_net, r_net) = (net([10, 1, 0, 0], 16), net([10, 2, 0, 0], 16));
    let (local_addr, remote_addr, local, remote, me, peer) = if initiator {
        (I_ADDR, R_ADDR, i_net, r_net, "i.example", "r.example")
    } else {
        (R_ADDR, I_ADDR, r_net, i_net, "r.example", "i.example")
    };
    PeerConfig {
        local_addr,
        remote_addr,
        local_id: IdRepr::fqdn(me),
        remote_id: Some(IdRepr::fqdn(peer)),
        psk_local: Psk::new(b"correct horse battery staple"),
        psk_remote: Psk::new(b"correct horse battery staple"),
        psk_by_id: vec![],
        ike_proposals: vec![ike_p],
        child: ChildConfig {
            esp_proposals: vec![esp_p],
            selectors: PolicySelectors { local: vec![local], remote: vec![remote] },
            lifetime_seconds: life,
            lifetime_kilobytes: 4_608_000,
            mode: Mode::Tunnel,
        },
        retransmit: control::retransmit::RetransmitPolicy::default(),
        dpd_interval: core::time::Duration::ZERO,
        dpd_retry: core::time::Duration::ZERO,
        remote_access: None,
        fragmentation: Some(control::ikev2::sa::DEFAULT_FRAGMENT_MTU),
        allow_weak_dh: false,
        auth: Default::default(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    /// Initiator to responder.
    IToR,
    /// Responder to initiator.
    RToI,
}

/// What the network does with one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)] // Not every including file uses every fate.
enum Fate {
    Deliver,
    Drop,
    Duplicate,
    Delay(core::time::Duration),
}

/// One datagram as it went on the wire (after the tamper hook, before the fault hook), for
/// assertions.
#[derive(Debug, Clone)]
#[allow(dead_code)] // Not every including file reads every field.
struct Sent {
    at: control::time::Time,
    dir: Dir,
    /// Index among the datagrams sent in that direction, from 0.
    n: usize,
    bytes: Vec<u8>,
}

struct Side {
    ep: control::ikev2::sa::IkeEndpoint,
    addr: core::net::SocketAddr,
    inbound: Vec<(control::time::Time, core::net::SocketAddr, Vec<u8>)>,
    rng: TestRng,
    events: Vec<(control::time::Time, control::ikev2::sa::SaHandle, control::ikev2::sa::Event)>,
    sent: usize,
    /// Child SAs up and not down: inbound SPI to outbound SPI.
    live: std::collections::BTreeMap<u32, u32>,
}

impl Side {
    fn new(ep: control::ikev2::sa::IkeEndpoint, addr: core::net::SocketAddr, tag: &str) -> Side {
        Side {
            ep,
            addr,
            inbound: Vec::new(),
            rng: TestRng::new(tag),
            events: Vec::new(),
            sent: 0,
            live: std::collections::BTreeMap::new(),
        }
    }
}

/// Decides the fate of the `n`th datagram of a direction.
type Fault = Box<dyn FnMut(Dir, usize, &[u8]) -> Fate>;
/// Rewrites a datagram in flight.
type Tamper = Box<dyn FnMut(Dir, &mut Vec<u8>)>;

#[allow(dead_code)] // Not every including file reads every field.
struct Pair {
    time: control::time::Time,
    latency: core::time::Duration,
    i: Side,
    r: Side,
    tamper: Tamper,
    fault: Fault,
    log: Vec<Sent>,
    /// The initiator's SA.
    h: control::ikev2::sa::SaHandle,
    /// Check that once a Child SA was up each side always has one (off where a test
    /// deletes the last pair).
    check_live: bool,
}

#[allow(dead_code)] // Not every including file calls every method.
impl Pair {
    /// An initiator endpoint that has just started `icfg`, and a responder endpoint that
    /// answers with `rcfg`.
    fn new(icfg: control::ikev2::sa::PeerConfig, rcfg: control::ikev2::sa::PeerConfig) -> Pair {
        Pair::seeded(icfg, rcfg, "", |_, _| {})
    }

    /// With RNG seeds of their own, and `setup` run on both endpoints before the start.
    fn seeded(
        icfg: control::ikev2::sa::PeerConfig,
        rcfg: control::ikev2::sa::PeerConfig,
        seed: &str,
        setup: impl FnOnce(&mut control::ikev2::sa::IkeEndpoint, &mut control::ikev2::sa::IkeEndpoint),
    ) -> Pair {
        use control::ikev2::sa::IkeEndpoint;
        let mut i = Side::new(IkeEndpoint::new(vec![]), I_ADDR, &format!("initiator{seed}"));
        let mut r = Side::new(IkeEndpoint::new(vec![rcfg]), R_ADDR, &format!("responder{seed}"));
        setup(&mut i.ep, &mut r.ep);
        let h = i.ep.connect(control::time::Time::ZERO, icfg, &mut i.rng).expect("valid config");
        Pair {
            time: control::time::Time::ZERO,
            latency: core::time::Duration::from_millis(10),
            i,
            r,
            tamper: Box::new(|_, _| {}),
            fault: Box::new(|_, _, _| Fate::Deliver),
            log: Vec::new(),
            h,
            check_live: CHECK_LIVE,
        }
        // The first request stays queued until the first step, under the hooks.
    }

    fn with_fault(mut self, f: impl FnMut(Dir, usize, &[u8]) -> Fate + 'static) -> Pair {
        self.fault = Box::new(f);
        self
    }

    fn with_tamper(mut self, t: impl FnMut(Dir, &mut Vec<u8>) + 'static) -> Pair {
        self.tamper = Box::new(t);
        self
    }

    /// Moves both sides' output onto the wire and their events into the logs, checking
    /// the Child SAs that are up as the events go by.
    fn flush(&mut self) {
        use control::ikev2::sa::Event;
        for dir in [Dir::IToR, Dir::RToI] {
            let (src, dst) = match dir {
                Dir::IToR => (&mut self.i, &mut self.r),
                Dir::RToI => (&mut self.r, &mut self.i),
            };
            while let Some(t) = src.ep.poll_transmit() {
                if EXACT_ADDRESSES {
                    assert_eq!((t.from, t.to), (src.addr, dst.addr));
                } else {
                    let port_ok = |a: core::net::SocketAddr, want: core::net::SocketAddr| {
                        a.ip() == want.ip() && (a.port() == want.port() || a.port() == 4500)
                    };
                    assert!(port_ok(t.from, src.addr), "sent from the configured address: {t:?}");
                    assert!(port_ok(t.to, dst.addr), "sent to the peer: {t:?}");
                }
                let mut bytes = t.bytes;
                (self.tamper)(dir, &mut bytes);
                let n = src.sent;
                src.sent += 1;
                self.log.push(Sent { at: self.time, dir, n, bytes: bytes.clone() });
                let at = self.time + self.latency;
                match (self.fault)(dir, n, &bytes) {
                    Fate::Deliver => dst.inbound.push((at, src.addr, bytes)),
                    Fate::Drop => {}
                    Fate::Duplicate => {
                        dst.inbound.push((at, src.addr, bytes.clone()));
                        dst.inbound.push((at, src.addr, bytes));
                    }
                    Fate::Delay(d) => dst.inbound.push((at + d, src.addr, bytes)),
                }
            }
            while let Some((h, e)) = src.ep.poll_event() {
                match &e {
                    Event::ChildSaUp(c) => {
                        assert!(src.live.insert(c.inbound_spi, c.outbound_spi).is_none());
                    }
                    Event::ChildSaDown { inbound_spi, outbound_spi } => {
                        assert_eq!(src.live.remove(inbound_spi), Some(*outbound_spi), "{e:?}");
                        assert!(
                            !self.check_live || !src.live.is_empty(),
                            "{dir:?} at {}: the last Child SA went down: {e:?}",
                            self.time
                        );
                    }
                    _ => {}
                }
                src.events.push((self.time, h, e));
            }
        }
    }

    /// Delivers what has arrived and runs the timers that are due, at the current time.
    fn step(&mut self) {
        for side in [&mut self.i, &mut self.r] {
            side.inbound.sort_by_key(|x| x.0);
            let due = side.inbound.iter().take_while(|x| x.0 <= self.time).count();
            let arrived: Vec<_> = side.inbound.drain(..due).collect();
            for (_, from, bytes) in arrived {
                side.ep.handle(self.time, &bytes, from, &mut side.rng);
            }
            if side.ep.poll_timeout().is_some_and(|t| t <= self.time) {
                side.ep.handle_timeout(self.time, &mut side.rng);
            }
        }
        self.flush();
    }

    /// The next timer or arrival of either side.
    fn next_wakeup(&self) -> Option<control::time::Time> {
        [&self.i, &self.r]
            .into_iter()
            .flat_map(|s| s.ep.poll_timeout().into_iter().chain(s.inbound.iter().map(|x| x.0)))
            .min()
    }

    /// Runs until `end` (virtual), jumping from event to event.
    fn run_until(&mut self, end: control::time::Time) {
        for _ in 0..1_000_000 {
            self.step();
            match self.next_wakeup() {
                Some(t) if t <= end => self.time = self.time.max(t),
                _ => {
                    self.time = self.time.max(end);
                    self.step();
                    return;
                }
            }
        }
        panic!("no progress at {}", self.time);
    }

    fn run_for(&mut self, d: core::time::Duration) {
        let end = self.time + d;
        self.run_until(end);
    }

    /// The responder's one SA.
    fn rh(&self) -> control::ikev2::sa::SaHandle {
        use control::ikev2::sa::Event;
        self.r.events.iter().find(|e| matches!(e.2, Event::Established(_))).expect("responder up").1
    }
}

// What a side saw.

#[allow(dead_code)] // Not every including file uses it.
fn ups(s: &Side) -> Vec<&control::ikev2::sa::ChildSa> {
    use control::ikev2::sa::Event;
    s.events
        .iter()
        .filter_map(|e| if let Event::ChildSaUp(c) = &e.2 { Some(c) } else { None })
        .collect()
}

#[allow(dead_code)] // Not every including file uses it.
fn downs(s: &Side) -> Vec<(u32, u32)> {
    use control::ikev2::sa::Event;
    s.events
        .iter()
        .filter_map(|e| match e.2 {
            Event::ChildSaDown { inbound_spi, outbound_spi } => Some((inbound_spi, outbound_spi)),
            _ => None,
        })
        .collect()
}

#[allow(dead_code)] // Not every including file uses it.
fn failures(s: &Side) -> Vec<&control::ikev2::sa::FailureCause> {
    use control::ikev2::sa::Event;
    s.events
        .iter()
        .filter_map(|e| if let Event::Failed(c) = &e.2 { Some(c) } else { None })
        .collect()
}

#[allow(dead_code)] // Not every including file uses it.
fn child_failures(s: &Side) -> Vec<&control::ikev2::sa::FailureCause> {
    use control::ikev2::sa::Event;
    s.events
        .iter()
        .filter_map(|e| if let Event::ChildSaFailed(c) = &e.2 { Some(c) } else { None })
        .collect()
}

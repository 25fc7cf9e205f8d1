//! `--traffic`: proof that every tunnel carries ESP both ways. After the setup, each tunnel
//! that is up sends K ICMP echo requests (inner IPv4 from its own local selector's first
//! address to the traffic target, identifier = tunnel number, sequence 1..K) encrypted
//! with its Child SA's outbound keys by the dataplane crate's user-space ESP engine, and
//! waits for the echo replies on its inbound SA (anti-replay on). A responder answers such
//! a ping through the tunnel: ferrogate's appliance for its own inside address, a Linux
//! responder's kernel for an address of its namespace inside the remote selector.
//!
//! ESP goes where the tunnel's IKE goes, to the target's address only: raw IP protocol 50
//! from the tunnel's source address ([`RawEsp`], root), or, when the IKE SA floated to UDP
//! 4500 (NAT detected, or the target on 4500 from the start), ESP-in-UDP from the
//! tunnel's own socket to port 4500 without the non-ESP marker (RFC 3948). Replies come
//! back the same way and are told apart by SPI.
//!
//! Pacing is the setup's: at most `--max-inflight` tunnels wait for replies at once (a
//! tunnel is done with all K replies or after `--traffic-timeout`), at `--rate` tunnels per
//! second if given, so thousands of tunnels never flood a socket buffer on either side.
//! That bound backs off as TCP's window does: halved (down to one tunnel) when tunnels
//! time out, at most once per timeout, and grown back by one per bound's worth of fully
//! answered tunnels. A responder that answers slowly (its queue longer than the timeout)
//! is then not buried under new requests while the old ones still wait in its queue, and
//! the replies it does send arrive in time.
//! Whatever the network sends (malformed ESP, unknown SPIs, replays, wrong inner packets)
//! is counted, never trusted.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::time::Duration;
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::ErrorKind;
use std::net::UdpSocket;
use std::os::fd::BorrowedFd;
use std::time::Instant;

use control::ikev2::sa::{ChildSa, Mode as ChildMode};
use control::ikev2::wire::{EsnId, TrafficSelector};
use control::time::Time;
use dataplane::buf::{PacketBuf, VecBuf};
use dataplane::crypto::{SaKeys, Transform};
use dataplane::esp::{self, Disposition, EspWorker, VecBufAlloc};
use dataplane::sa::{Direction, DropReason, InboundSa, OutboundSa, SaConfig};
use dataplane::wire::checksum;
use hdrhistogram::Histogram;

use super::pattern::{NAT_T_PORT, TsPattern};
use super::raw::RawEsp;
use super::report::{Failures, Rtt, TrafficReport};

/// The most echo requests per tunnel (the replies are tracked in a 64-bit mask).
pub const MAX_COUNT: u32 = 64;

/// What `--traffic` asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficPlan {
    /// Where the echo requests go; `None`: the first host address of each tunnel's remote
    /// selector (as the `--remote-ts` pattern gives it).
    pub target: Option<Ipv4Addr>,
    /// Echo requests per tunnel, 1 to [`MAX_COUNT`].
    pub count: u32,
    /// How long a tunnel waits for its replies after sending its requests.
    pub timeout: Duration,
}

/// The first host address of an IPv4 selector: of a range of more than two addresses the
/// second (the first is a network's own address: 10.100.0.1 of 10.100.0.0/16), else the
/// first.
pub fn first_host(ts: &TrafficSelector) -> Option<Ipv4Addr> {
    match ts {
        TrafficSelector::Ipv4 { start, end, .. } => {
            let (s, e) = (u32::from(*start), u32::from(*end));
            Some(Ipv4Addr::from(if e.saturating_sub(s) >= 2 { s + 1 } else { s }))
        }
        _ => None,
    }
}

/// Whether an ICMP packet to `a` fits one of the selectors (any protocol or ICMP; the
/// tester's selectors never narrow ports).
fn admits(ts: &[TrafficSelector], a: Ipv4Addr) -> bool {
    ts.iter().any(|t| match t {
        TrafficSelector::Ipv4 { ip_protocol, start, end, .. } => {
            matches!(ip_protocol, 0 | 1) && (*start..=*end).contains(&a)
        }
        _ => false,
    })
}

/// Selectors as address ranges, for messages.
fn ranges(ts: &[TrafficSelector]) -> String {
    let one = |t: &TrafficSelector| match t {
        TrafficSelector::Ipv4 { start, end, .. } => format!("{start}-{end}"),
        TrafficSelector::Ipv6 { start, end, .. } => format!("{start}-{end}"),
        TrafficSelector::Other { ts_type, .. } => format!("{ts_type:?}"),
    };
    ts.iter().map(one).collect::<Vec<_>>().join(", ")
}

/// One tunnel's newest Child SA, kept as key material until its requests go out (a
/// dataplane SA per tunnel for the whole setup would only cost memory).
struct ChildKeys {
    inbound_spi: u32,
    outbound_spi: u32,
    transform: Transform,
    esn: bool,
    inbound: SaKeys,
    outbound: SaKeys,
    /// The inner source: the negotiated local selector's first address.
    src: Ipv4Addr,
    /// The inner destination: the traffic target.
    dst: Ipv4Addr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum FlowState {
    /// Requests not sent yet.
    #[default]
    Waiting,
    /// Requests sent, replies awaited (counted in `in_flight`).
    InFlight,
    /// All replies in, timed out, or not tested.
    Done,
}

/// One tunnel's traffic.
#[derive(Default)]
struct Flow {
    /// ESP in UDP 4500 (the IKE SA floated), else raw ESP.
    udp: bool,
    child: Option<ChildKeys>,
    /// Why the newest Child SA cannot carry the test (cause key, text), when it cannot.
    skip: Option<(&'static str, String)>,
    state: FlowState,
    /// Bit `seq - 1` for each reply received in time.
    answered: u64,
    /// Inner addresses of the requests: ours, the target's.
    src: Option<Ipv4Addr>,
    dst: Option<Ipv4Addr>,
    sent_at: Option<Instant>,
    /// Our inbound SPIs built for this tunnel (the Child SA's, and a rekeyed successor's).
    inbound: Vec<u32>,
}

/// Where the phase is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The setup: Child SAs are recorded as they come up.
    Collecting,
    /// Requests going out, replies coming in.
    Running,
    /// Over: the SAs are dropped; later ESP is only counted.
    Finished,
}

#[derive(Default)]
struct Counts {
    tested: u64,
    answered: u64,
    all_answered: u64,
    not_tested: Failures,
    requests: u64,
    send_failures: Failures,
    replies: u64,
    late: u64,
    duplicates: u64,
    decrypt_failures: Failures,
    unknown_spi: u64,
    malformed: u64,
    unexpected: Failures,
    foreign: u64,
    outside_phase: u64,
    keepalives: u64,
    recv_errors: u64,
}

/// The traffic phase's state: every tunnel's flow, the inbound SAs by SPI, the ESP engine.
pub struct Traffic {
    plan: TrafficPlan,
    remote_ts: TsPattern,
    /// The IKE target's address: every ESP packet goes there, replies come from there.
    peer: Ipv4Addr,
    flows: Vec<Flow>,
    /// Our inbound SPI → (tunnel, SA).
    inbound: HashMap<u32, (u32, InboundSa)>,
    /// The SPIs we send with: on a loopback target our own raw ESP comes back to the raw
    /// socket, and is no stranger's.
    outbound_spis: HashSet<u32>,
    worker: EspWorker,
    raw: Result<RawEsp, String>,
    /// (deadline, tunnel) in send order: the timeout is the same for all, so the order of
    /// the deadlines too.
    deadlines: VecDeque<(Time, u32)>,
    in_flight: usize,
    /// The bound on `in_flight`: `max_window`, backed off on timeouts (see the module
    /// documentation).
    window: f64,
    max_window: f64,
    /// The smallest the bound got.
    min_window: f64,
    /// When the bound was last halved.
    last_cut: Option<Time>,
    stage: Stage,
    /// The dataplane's clock (nanoseconds from here).
    clock: Instant,
    started: Option<Instant>,
    ended: Option<Instant>,
    /// Round-trip times, microseconds.
    rtt: Histogram<u64>,
    c: Counts,
}

/// Bytes of echo payload after the 4-byte tunnel number.
const PAYLOAD_TAG: &[u8; 20] = b"ferrogate loadtest \0";

/// The echo payload of tunnel `idx`: a fixed tag and the tunnel number.
fn payload(idx: u32) -> [u8; 24] {
    let mut p = [0u8; 24];
    p[..20].copy_from_slice(PAYLOAD_TAG);
    p[20..].copy_from_slice(&idx.to_be_bytes());
    p
}

/// An IPv4 ICMP echo request with valid checksums.
fn echo_request(src: Ipv4Addr, dst: Ipv4Addr, idx: u32, seq: u16) -> Vec<u8> {
    let body = payload(idx);
    let total = 20 + 8 + body.len();
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[4..6].copy_from_slice(&((idx as u16) ^ seq.rotate_left(8)).to_be_bytes());
    p[8] = 64;
    p[9] = 1;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let c = !checksum::data(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20] = 8;
    p[24..26].copy_from_slice(&(idx as u16).to_be_bytes());
    p[26..28].copy_from_slice(&seq.to_be_bytes());
    p[28..].copy_from_slice(&body);
    let c = !checksum::data(&p[20..]);
    p[22..24].copy_from_slice(&c.to_be_bytes());
    p
}

/// An echo reply as decrypted: addresses, identifier, sequence number, payload.
#[derive(Debug, PartialEq, Eq)]
struct EchoReply<'a> {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ident: u16,
    seq: u16,
    payload: &'a [u8],
}

/// Parses an inner packet as an IPv4 ICMP echo reply; the error is the cause key.
fn parse_echo_reply(p: &[u8]) -> Result<EchoReply<'_>, &'static str> {
    let hdr = p.get(..20).ok_or("truncated")?;
    if hdr[0] >> 4 != 4 {
        return Err("not_ipv4");
    }
    let ihl = usize::from(hdr[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
    if ihl < 20 || total < ihl || total > p.len() {
        return Err("truncated");
    }
    if u16::from_be_bytes([hdr[6], hdr[7]]) & 0x3fff != 0 {
        return Err("fragment");
    }
    if hdr[9] != 1 {
        return Err("not_icmp");
    }
    let icmp = p.get(ihl..total).ok_or("truncated")?;
    if icmp.len() < 8 {
        return Err("truncated");
    }
    if checksum::data(icmp) != 0xffff {
        return Err("bad_icmp_checksum");
    }
    if (icmp[0], icmp[1]) != (0, 0) {
        return Err("not_echo_reply");
    }
    let addr = |o: usize| Ipv4Addr::new(hdr[o], hdr[o + 1], hdr[o + 2], hdr[o + 3]);
    Ok(EchoReply {
        src: addr(12),
        dst: addr(16),
        ident: u16::from_be_bytes([icmp[4], icmp[5]]),
        seq: u16::from_be_bytes([icmp[6], icmp[7]]),
        payload: &icmp[8..],
    })
}

/// A 20-byte IPv4 header for `esp` (protocol 50) from `src` to `dst`: ESP that came in UDP
/// is handed to the ESP engine as the raw ESP it carries.
fn wrap_esp(src: Ipv4Addr, dst: Ipv4Addr, esp: &[u8]) -> Option<Vec<u8>> {
    let total = u16::try_from(20 + esp.len()).ok()?;
    let mut p = Vec::with_capacity(usize::from(total));
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0, 64, 50, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let c = !checksum::data(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(esp);
    Some(p)
}

impl Traffic {
    /// The phase's state for `tunnels` tunnels to `peer`, at most `max_in_flight` of them
    /// awaiting replies at once; opens the raw ESP sockets (a failure only matters to
    /// tunnels that do not float to UDP 4500).
    pub fn new(
        plan: TrafficPlan,
        remote_ts: TsPattern,
        peer: Ipv4Addr,
        tunnels: u32,
        max_in_flight: usize,
    ) -> Traffic {
        let max_window = max_in_flight.max(1) as f64;
        Traffic {
            plan,
            remote_ts,
            peer,
            flows: (0..tunnels).map(|_| Flow::default()).collect(),
            inbound: HashMap::new(),
            outbound_spis: HashSet::new(),
            worker: EspWorker::new(),
            raw: RawEsp::open().map_err(|e| format!("cannot open a raw ESP socket: {e}")),
            deadlines: VecDeque::new(),
            in_flight: 0,
            window: max_window,
            max_window,
            min_window: max_window,
            last_cut: None,
            stage: Stage::Collecting,
            clock: Instant::now(),
            started: None,
            ended: None,
            // 1 µs to an hour, 3 significant digits: cannot fail.
            rtt: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .unwrap_or_else(|_| Histogram::new(3).expect("a 3-digit histogram")),
            c: Counts::default(),
        }
    }

    /// The raw receiving socket, for epoll.
    pub fn raw_fd(&self) -> Option<BorrowedFd<'_>> {
        self.raw.as_ref().ok().map(RawEsp::rx_fd)
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.clock.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether another tunnel may send its requests now.
    pub fn may_send(&self) -> bool {
        (self.in_flight as f64) < self.window.floor()
    }

    /// Tunnels whose requests are out and whose replies are awaited.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The next timeout of a tunnel in flight.
    pub fn next_deadline(&self) -> Option<Time> {
        self.deadlines.front().map(|&(t, _)| t)
    }

    /// Tunnel `idx`'s IKE SA is up (or was rekeyed): whether its ESP goes in UDP 4500.
    pub fn on_established(&mut self, idx: u32, nat_detected: bool, peer: SocketAddr) {
        if self.stage == Stage::Finished {
            return;
        }
        if let Some(f) = self.flows.get_mut(idx as usize) {
            // As the appliance decides it: behind a NAT, or with a peer on 4500 anyway.
            f.udp = nat_detected || peer.port() == NAT_T_PORT;
        }
    }

    /// Tunnel `idx` has a new Child SA (first or rekeyed).
    pub fn on_child_up(&mut self, idx: u32, child: ChildSa) {
        if self.stage == Stage::Finished {
            return;
        }
        let keys = self.keys_of(idx, &child);
        let Some(f) = self.flows.get_mut(idx as usize) else { return };
        match keys {
            Ok(k) => {
                f.skip = None;
                if f.state == FlowState::Waiting {
                    f.child = Some(k);
                } else if f.sent_at.is_some() {
                    // Requests are out: replies may come on the successor (a rekey by the
                    // responder while we wait).
                    self.install_inbound(idx, &k);
                }
            }
            // A usable older SA stays the one to test.
            Err(why) if f.child.is_none() => f.skip = Some(why),
            Err(_) => {}
        }
    }

    /// A Child SA of some tunnel is gone.
    pub fn on_child_down(&mut self, idx: u32, inbound_spi: u32) {
        if let Some(f) = self.flows.get_mut(idx as usize) {
            if f.child.as_ref().is_some_and(|k| k.inbound_spi == inbound_spi) {
                f.child = None;
            }
            f.inbound.retain(|&s| s != inbound_spi);
        }
        if self.inbound.get(&inbound_spi).is_some_and(|(i, _)| *i == idx) {
            self.inbound.remove(&inbound_spi);
        }
    }

    /// Tunnel `idx`'s IKE SA ended: its Child SAs with it.
    pub fn on_ended(&mut self, idx: u32) {
        let Some(f) = self.flows.get_mut(idx as usize) else { return };
        f.child = None;
        for spi in f.inbound.drain(..) {
            self.inbound.remove(&spi);
        }
    }

    /// The key material of a Child SA, or why it cannot carry the test.
    fn keys_of(&self, idx: u32, c: &ChildSa) -> Result<ChildKeys, (&'static str, String)> {
        if c.mode != ChildMode::Tunnel {
            return Err(("transport_mode", "the Child SA is in transport mode".into()));
        }
        let transform = control::esp::dataplane_transform(c.transforms.encr, c.transforms.integ)
            .map_err(|e| ("unsupported_transform", e.to_string()))?;
        let src = c.local_ts.iter().find_map(|t| match t {
            TrafficSelector::Ipv4 { start, .. } => Some(*start),
            _ => None,
        });
        let Some(src) = src else {
            return Err(("not_ipv4", "the local selector has no IPv4 address".into()));
        };
        let dst = match self.plan.target {
            Some(a) => Some(a),
            None => {
                self.remote_ts.selector(idx, IpAddr::V4(self.peer)).as_ref().and_then(first_host)
            }
        };
        let Some(dst) = dst else {
            return Err(("no_target", "the remote selector pattern gives no IPv4 host".into()));
        };
        if !admits(&c.remote_ts, dst) {
            return Err((
                "target_outside_ts",
                format!(
                    "{dst} is outside the negotiated remote selectors {}",
                    ranges(&c.remote_ts)
                ),
            ));
        }
        Ok(ChildKeys {
            inbound_spi: c.inbound_spi,
            outbound_spi: c.outbound_spi,
            transform,
            esn: c.transforms.esn == Some(EsnId::Yes),
            inbound: SaKeys::new(c.inbound.encr.as_bytes(), c.inbound.integ.as_bytes()),
            outbound: SaKeys::new(c.outbound.encr.as_bytes(), c.outbound.integ.as_bytes()),
            src,
            dst,
        })
    }

    /// The SA configuration of one direction; the outer addresses are the tunnel's source
    /// and the target.
    fn sa_config(&self, k: &ChildKeys, direction: Direction, local: Ipv4Addr) -> SaConfig {
        let (spi, keys) = match direction {
            Direction::Inbound => (k.inbound_spi, k.inbound.clone()),
            Direction::Outbound => (k.outbound_spi, k.outbound.clone()),
        };
        let mut cfg =
            SaConfig::new(spi, direction, k.transform, keys, local.into(), self.peer.into());
        cfg.esn = k.esn;
        // Anti-replay stays on (the default window): a replayed reply is a failure.
        cfg
    }

    /// Builds the inbound SA of `k` for tunnel `idx`; false (counted) when the dataplane
    /// refuses it.
    fn install_inbound(&mut self, idx: u32, k: &ChildKeys) -> bool {
        // The outer addresses of an inbound SA are not checked by the ESP engine; ours are
        // only for its configuration's consistency.
        let cfg = self.sa_config(k, Direction::Inbound, Ipv4Addr::UNSPECIFIED);
        match InboundSa::new(&cfg) {
            Ok(sa) => {
                self.inbound.insert(k.inbound_spi, (idx, sa));
                if let Some(f) = self.flows.get_mut(idx as usize) {
                    f.inbound.push(k.inbound_spi);
                }
                true
            }
            Err(e) => {
                self.c.not_tested.add("sa_rejected", &format!("inbound SA: {e:?}"));
                false
            }
        }
    }

    /// The phase begins: requests may go out.
    pub fn begin(&mut self) {
        self.stage = Stage::Running;
        self.started = Some(Instant::now());
    }

    /// Sends tunnel `idx`'s echo requests (`up`: the tunnel is up; `sock`, `local`: its
    /// IKE socket and address). Whatever keeps it from being tested is counted.
    pub fn start(&mut self, idx: u32, up: bool, sock: &UdpSocket, local: IpAddr, now: Time) {
        if self.stage != Stage::Running {
            return;
        }
        let Some(f) = self.flows.get_mut(idx as usize) else { return };
        if f.state != FlowState::Waiting {
            return;
        }
        f.state = FlowState::Done;
        if !up {
            self.c.not_tested.add("not_up", "the tunnel was not up when the traffic began");
            return;
        }
        if let Some((key, text)) = &f.skip {
            self.c.not_tested.add(key, text);
            return;
        }
        let udp = f.udp;
        // The key material is no longer needed once the SAs are built.
        let Some(keys) = f.child.take() else {
            self.c.not_tested.add("no_child_sa", "no Child SA was reported for the tunnel");
            return;
        };
        let IpAddr::V4(outer_src) = local else {
            self.c.not_tested.add("not_ipv4", "the tunnel's IKE address is IPv6");
            return;
        };
        if !udp && let Err(e) = &self.raw {
            let e = e.clone();
            self.c.not_tested.add("raw_socket", &e);
            return;
        }
        let out = match OutboundSa::new(&self.sa_config(&keys, Direction::Outbound, outer_src)) {
            Ok(sa) => sa,
            Err(e) => {
                self.c.not_tested.add("sa_rejected", &format!("outbound SA: {e:?}"));
                return;
            }
        };
        if !self.install_inbound(idx, &keys) {
            return;
        }
        self.outbound_spis.insert(keys.outbound_spi);
        self.c.tested += 1;
        let to_udp = SocketAddr::new(IpAddr::V4(self.peer), NAT_T_PORT);
        for seq in 1..=self.plan.count {
            let seq = seq as u16;
            let inner = echo_request(keys.src, keys.dst, idx, seq);
            let mut bufs = [VecBuf::from_slice_with_room(&inner, 128, 128)];
            let mut extra = Vec::new();
            let ns = self.now_ns();
            let d = esp::encap_burst(
                &mut self.worker,
                &[&out],
                &mut bufs,
                &mut extra,
                &mut VecBufAlloc,
                ns,
            );
            if d.first() != Some(&Disposition::Forward) || !extra.is_empty() {
                let what =
                    format!("the ESP engine did not encapsulate the request: {:?}", d.first());
                self.c.send_failures.add("encap", &what);
                continue;
            }
            let pkt = bufs[0].data();
            let sent = if udp {
                // Our own engine's output: a 20-byte IPv4 header before the ESP header.
                let ihl = usize::from(pkt.first().map_or(5, |b| b & 0x0f)) * 4;
                sock.send_to(pkt.get(ihl..).unwrap_or_default(), to_udp)
            } else {
                match &self.raw {
                    Ok(raw) => raw.send(pkt, self.peer),
                    Err(e) => Err(std::io::Error::other(e.clone())),
                }
            };
            match sent {
                Ok(_) => self.c.requests += 1,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.c.send_failures.add("buffer_full", &e.to_string());
                }
                Err(e) => self.c.send_failures.add("send_error", &e.to_string()),
            }
        }
        if let Some(f) = self.flows.get_mut(idx as usize) {
            f.src = Some(keys.src);
            f.dst = Some(keys.dst);
            f.sent_at = Some(Instant::now());
            f.state = FlowState::InFlight;
            self.in_flight += 1;
            self.deadlines.push_back((now + self.plan.timeout, idx));
        }
    }

    /// Tunnels whose replies did not all come in time are done.
    pub fn expire(&mut self, now: Time) {
        while let Some(&(at, idx)) = self.deadlines.front() {
            if at > now {
                break;
            }
            self.deadlines.pop_front();
            if let Some(f) = self.flows.get_mut(idx as usize)
                && f.state == FlowState::InFlight
            {
                f.state = FlowState::Done;
                self.in_flight = self.in_flight.saturating_sub(1);
                // Replies missing: the responder is behind (or drops). Tunnels sent
                // together time out together: one cut per timeout.
                if self.last_cut.is_none_or(|t| now >= t + self.plan.timeout) {
                    self.window = (self.window / 2.0).max(1.0);
                    self.min_window = self.min_window.min(self.window);
                    self.last_cut = Some(now);
                }
            }
        }
    }

    /// The phase is over: the SAs and keys are dropped, later ESP is only counted.
    pub fn finish(&mut self) {
        if self.stage == Stage::Finished {
            return;
        }
        if self.stage == Stage::Running {
            self.ended = Some(Instant::now());
        }
        self.stage = Stage::Finished;
        self.in_flight = 0;
        self.deadlines.clear();
        self.inbound.clear();
        for f in &mut self.flows {
            f.child = None;
            f.inbound.clear();
        }
    }

    /// A datagram from the target's port 4500 without the non-ESP marker: ESP in UDP, or a
    /// NAT keepalive. `local`: the address of the socket it came to.
    pub fn on_udp(&mut self, datagram: &[u8], local: IpAddr) {
        if datagram == [0xff] {
            self.c.keepalives += 1;
            return;
        }
        if self.stage != Stage::Running {
            self.c.outside_phase += 1;
            return;
        }
        let IpAddr::V4(local) = local else {
            self.c.malformed += 1;
            return;
        };
        match wrap_esp(self.peer, local, datagram) {
            Some(p) => self.on_esp(&p),
            None => self.c.malformed += 1,
        }
    }

    /// Reads every ESP packet queued on the raw socket.
    pub fn recv_raw(&mut self, buf: &mut [u8]) {
        loop {
            let n = match &self.raw {
                Ok(raw) => match raw.recv(buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(_) => {
                        self.c.recv_errors += 1;
                        return;
                    }
                },
                Err(_) => return,
            };
            let Some(pkt) = buf.get(..n) else { return };
            // Every ESP packet of the namespace reaches the raw socket: only the target's
            // are ours to look at.
            if pkt.get(12..16) != Some(&self.peer.octets()[..]) {
                self.c.foreign += 1;
                continue;
            }
            if self.stage != Stage::Running {
                self.c.outside_phase += 1;
                continue;
            }
            self.on_esp(pkt);
        }
    }

    /// One ESP packet from the target (its IPv4 header included): decrypted by its SPI's
    /// SA, then checked as an echo reply.
    fn on_esp(&mut self, packet: &[u8]) {
        let ns = self.now_ns();
        let mut bufs = [VecBuf::from_slice_with_room(packet, 0, 64)];
        let Traffic { worker, inbound, .. } = self;
        let r = esp::decap_burst(
            worker,
            &mut bufs,
            |spi| inbound.get(&spi).map(|(_, sa)| sa),
            &mut VecBufAlloc,
            ns,
        )
        .first()
        .copied();
        let Some(r) = r else { return };
        match r.disposition {
            Disposition::Forward => {
                let idx = self.inbound.get(&r.spi).map(|&(i, _)| i);
                if let Some(idx) = idx {
                    self.on_inner(idx, bufs[0].data());
                }
            }
            // A fragment held for reassembly.
            Disposition::Consumed => {}
            // Our own raw ESP, looped back by a local target.
            Disposition::Drop(DropReason::NoSa) if self.outbound_spis.contains(&r.spi) => {}
            Disposition::Drop(DropReason::NoSa) => self.c.unknown_spi += 1,
            Disposition::Drop(reason) if self.inbound.contains_key(&r.spi) => {
                let text = format!("SPI {:08x}: {}", r.spi, reason.name());
                self.c.decrypt_failures.add(reason.name(), &text);
            }
            Disposition::Drop(_) | Disposition::ToControl(_) | Disposition::IcmpError => {
                self.c.malformed += 1;
            }
        }
    }

    /// A decrypted inner packet of tunnel `idx`'s inbound SA.
    fn on_inner(&mut self, idx: u32, inner: &[u8]) {
        let count = self.plan.count;
        let Some(f) = self.flows.get_mut(idx as usize) else { return };
        let echo = match parse_echo_reply(inner) {
            Ok(e) => e,
            Err(why) => {
                self.c.unexpected.add(why, &format!("tunnel {idx}: {} bytes", inner.len()));
                return;
            }
        };
        let (Some(src), Some(dst)) = (f.src, f.dst) else {
            self.c.unexpected.add("before_request", &format!("tunnel {idx}: {echo:?}"));
            return;
        };
        let cause = if echo.src != dst || echo.dst != src {
            Some("wrong_addresses")
        } else if echo.ident != idx as u16 {
            Some("wrong_ident")
        } else if echo.seq == 0 || u32::from(echo.seq) > count {
            Some("wrong_seq")
        } else if echo.payload != payload(idx) {
            Some("wrong_payload")
        } else {
            None
        };
        if let Some(cause) = cause {
            let text = format!("tunnel {idx} ({src} to {dst}): {echo:?}");
            self.c.unexpected.add(cause, &text);
            return;
        }
        let bit = 1u64 << (echo.seq - 1);
        if f.answered & bit != 0 {
            self.c.duplicates += 1;
            return;
        }
        if f.state != FlowState::InFlight {
            // Its timeout ran out first: lost, as far as the numbers go.
            self.c.late += 1;
            return;
        }
        if f.answered == 0 {
            self.c.answered += 1;
        }
        f.answered |= bit;
        self.c.replies += 1;
        if let Some(t) = f.sent_at {
            let us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
            let _ = self.rtt.record(us.max(1));
        }
        let all = if count >= 64 { u64::MAX } else { (1u64 << count) - 1 };
        if f.answered == all {
            f.state = FlowState::Done;
            self.c.all_answered += 1;
            self.in_flight = self.in_flight.saturating_sub(1);
            self.window = (self.window + 1.0 / self.window).min(self.max_window);
        }
    }

    /// Tunnels with at least one reply so far.
    pub fn answered(&self) -> u64 {
        self.c.answered
    }

    /// Tunnels whose requests went out so far.
    pub fn tested(&self) -> u64 {
        self.c.tested
    }

    /// Replies so far, of requests so far.
    pub fn replies(&self) -> (u64, u64) {
        (self.c.replies, self.c.requests)
    }

    /// What the target was, in words.
    fn target_text(&self) -> String {
        if let Some(t) = self.plan.target {
            return t.to_string();
        }
        let first = self
            .remote_ts
            .selector(0, IpAddr::V4(self.peer))
            .as_ref()
            .and_then(first_host)
            .map_or_else(|| "-".to_owned(), |a| a.to_string());
        match self.remote_ts {
            TsPattern::Split(..) => {
                format!("the first host of each tunnel's remote selector ({first} for tunnel 0)")
            }
            _ => first,
        }
    }

    /// The phase's results.
    pub fn report(&self) -> TrafficReport {
        let c = &self.c;
        let seconds = match (self.started, self.ended) {
            (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
            (Some(a), None) => a.elapsed().as_secs_f64(),
            _ => 0.0,
        };
        let ms = |us: u64| us as f64 / 1000.0;
        let rtt = (!self.rtt.is_empty()).then(|| Rtt {
            p50_ms: ms(self.rtt.value_at_quantile(0.5)),
            p90_ms: ms(self.rtt.value_at_quantile(0.9)),
            p99_ms: ms(self.rtt.value_at_quantile(0.99)),
            max_ms: ms(self.rtt.max()),
        });
        TrafficReport {
            target: self.target_text(),
            per_tunnel: self.plan.count,
            timeout_s: self.plan.timeout.as_secs_f64(),
            tunnels: c.tested,
            answered: c.answered,
            all_answered: c.all_answered,
            silent: c.tested.saturating_sub(c.answered),
            not_tested: c.not_tested.total(),
            not_tested_causes: c.not_tested.clone(),
            requests: c.requests,
            send_failed: c.send_failures.total(),
            send_failures: c.send_failures.clone(),
            replies: c.replies,
            loss_percent: if c.requests > 0 {
                c.requests.saturating_sub(c.replies) as f64 * 100.0 / c.requests as f64
            } else {
                0.0
            },
            late: c.late,
            duplicates: c.duplicates,
            decrypt_failed: c.decrypt_failures.total(),
            decrypt_failures: c.decrypt_failures.clone(),
            unknown_spi: c.unknown_spi,
            malformed: c.malformed,
            unexpected: c.unexpected.total(),
            unexpected_causes: c.unexpected.clone(),
            foreign: c.foreign,
            outside_phase: c.outside_phase,
            keepalives: c.keepalives,
            recv_errors: c.recv_errors,
            seconds,
            rtt,
            min_in_flight: self.min_window as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use control::ikev2::selectors::from_prefix;

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    /// The reply a responder makes of a request: addresses swapped, type 0, checksum fixed.
    fn reply_of(req: &[u8]) -> Vec<u8> {
        let mut p = req.to_vec();
        let (s, d) = (p[12..16].to_vec(), p[16..20].to_vec());
        p[12..16].copy_from_slice(&d);
        p[16..20].copy_from_slice(&s);
        p[10..12].fill(0);
        let c = !checksum::data(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p[20] = 0;
        p[22..24].fill(0);
        let c = !checksum::data(&p[20..]);
        p[22..24].copy_from_slice(&c.to_be_bytes());
        p
    }

    #[test]
    fn first_hosts_of_selectors() {
        let ts = |a: &str, l| from_prefix(IpAddr::V4(v4(a)), l);
        assert_eq!(first_host(&ts("10.100.0.0", 16)), Some(v4("10.100.0.1")));
        assert_eq!(first_host(&ts("10.100.0.7", 32)), Some(v4("10.100.0.7")));
        assert_eq!(first_host(&ts("10.100.0.6", 31)), Some(v4("10.100.0.6")));
        assert_eq!(first_host(&TrafficSelector::ipv6_any()), None);
        assert!(admits(&[ts("10.100.0.0", 16)], v4("10.100.0.1")));
        assert!(!admits(&[ts("10.100.0.0", 16)], v4("10.101.0.1")));
    }

    #[test]
    fn echo_requests_are_valid_and_their_replies_parse() {
        let req = echo_request(v4("10.200.0.3"), v4("10.100.0.1"), 70_003, 2);
        assert_eq!(checksum::data(&req[..20]), 0xffff, "IPv4 header checksum");
        assert_eq!(checksum::data(&req[20..]), 0xffff, "ICMP checksum");
        assert_eq!(req[20], 8, "echo request");
        assert_eq!(parse_echo_reply(&req), Err("not_echo_reply"));
        let rep = reply_of(&req);
        let e = parse_echo_reply(&rep).unwrap();
        assert_eq!((e.src, e.dst), (v4("10.100.0.1"), v4("10.200.0.3")));
        // The identifier is the tunnel number's low 16 bits; the payload carries it whole.
        assert_eq!((e.ident, e.seq), (70_003u32 as u16, 2));
        assert_eq!(e.payload, payload(70_003));
        let mut bad = rep.clone();
        bad[30] ^= 1;
        assert_eq!(parse_echo_reply(&bad), Err("bad_icmp_checksum"));
        assert_eq!(parse_echo_reply(&rep[..10]), Err("truncated"));
        let mut frag = rep.clone();
        frag[6] = 0x20;
        assert_eq!(parse_echo_reply(&frag), Err("fragment"));
        let mut udp = rep;
        udp[9] = 17;
        assert_eq!(parse_echo_reply(&udp), Err("not_icmp"));
        assert!(wrap_esp(v4("1.2.3.4"), v4("5.6.7.8"), &[0; 70_000]).is_none());
        let w = wrap_esp(v4("1.2.3.4"), v4("5.6.7.8"), &[1, 2, 3]).unwrap();
        assert_eq!(checksum::data(&w[..20]), 0xffff);
        assert_eq!((w[9], w.len()), (50, 23));
    }
}

//! Two pipeline workers wired back to back: A's outside port feeds B's outside port and
//! back; each inside port has one host that answers ARP.
#![allow(dead_code)]

use std::sync::Arc;

use dataplane::buf::VecBuf;
use dataplane::crypto::{AesKeyLen, Cipher, EngineKind, Integ, SaKeys, Transform};
use dataplane::esp::VecBufAlloc;
use dataplane::l3::{Interface, Interfaces, Ipv4Cidr, Ipv6Cidr, NextHop, Role, Route, RouteTable};
use dataplane::pipeline::{Worker, WorkerConfig};
use dataplane::queue::{self, Command, ControlEnd};
use dataplane::sa::{Direction, InboundSa, OutboundSa, SaConfig};
use dataplane::spd::{Action, Entry, IpPrefix, PolicyId, Spd};
use dataplane::table::{SaIndex, SaTable, TableConfig};
use dataplane::wire::icmpv6::NeighborFlags;
use dataplane::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, Icmpv6Packet, Icmpv6Repr, IpProtocol,
    Ipv4Addr, Ipv4Packet, Ipv4Repr, Ipv6Addr, Ipv6Packet, Ipv6Repr, UdpPacket, UdpRepr, arp,
};

pub const OUT_PORT: u16 = 0;
pub const IN_PORT: u16 = 1;
pub const POLICY: PolicyId = PolicyId(1);
pub const A_OUT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const B_OUT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
pub const A_IN: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
pub const B_IN: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 1);
pub const HOST_A: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 5);
pub const HOST_B: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 5);
pub const A_OUT_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0xa, 0]);
pub const A_IN_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0xa, 1]);
pub const B_OUT_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0xb, 0]);
pub const B_IN_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0xb, 1]);
pub const HOST_A_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0xa, 5]);
pub const HOST_B_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0xb, 5]);
pub const ETH_IPV4: u16 = 0x0800;
pub const ETH_ARP: u16 = 0x0806;

pub type W = Worker<VecBuf, VecBufAlloc>;

/// One gateway: its worker, the control thread's queue ends and its SA table.
pub struct Site {
    pub w: W,
    pub ctl: ControlEnd<VecBuf>,
    pub table: SaTable,
    pub host: Ipv4Addr,
    pub host_mac: EthernetAddress,
    pub in_mac: EthernetAddress,
}

struct Plan {
    out_ip: Ipv4Addr,
    out_mac: EthernetAddress,
    in_ip: Ipv4Addr,
    in_mac: EthernetAddress,
    peer_out: Ipv4Addr,
    local_net: Ipv4Addr,
    remote_net: Ipv4Addr,
    host: Ipv4Addr,
    host_mac: EthernetAddress,
}

fn site(p: Plan) -> Site {
    let ifaces = Interfaces::new(vec![
        Interface {
            port: OUT_PORT,
            vlan: None,
            mac: p.out_mac,
            ipv4: vec![Ipv4Cidr::new(p.out_ip, 24).unwrap()],
            ipv6: vec![],
            mtu: 1500,
            role: Role::Outside,
        },
        Interface {
            port: IN_PORT,
            vlan: None,
            mac: p.in_mac,
            ipv4: vec![Ipv4Cidr::new(p.in_ip, 24).unwrap()],
            ipv6: vec![],
            mtu: 1500,
            role: Role::Inside,
        },
    ]);
    let mut routes = RouteTable::with_connected(&ifaces);
    routes.add_v4(
        Ipv4Cidr::new(p.remote_net, 24).unwrap(),
        Route { iface: 0, next_hop: NextHop::Gateway(p.peer_out) },
    );
    let spd = Spd::new(
        vec![Entry::new(
            IpPrefix::v4(p.local_net, 24).unwrap(),
            IpPrefix::v4(p.remote_net, 24).unwrap(),
            Action::Protect(POLICY),
        )],
        Action::Bypass,
    )
    .unwrap();
    let table = SaTable::new(TableConfig {
        inbound_capacity: 256,
        outbound_capacity: 256,
        foreign_capacity: 16,
        max_workers: 2,
        seed: None,
    })
    .unwrap();
    let reader = table.reader(0).unwrap();
    let (ctl, wend) = queue::worker_queues(0, 64, 64);
    let w = Worker::new(
        ifaces,
        routes,
        Arc::new(spd),
        reader,
        wend,
        VecBufAlloc,
        WorkerConfig::default(),
    )
    .unwrap();
    Site { w, ctl, table, host: p.host, host_mac: p.host_mac, in_mac: p.in_mac }
}

fn gcm128() -> Transform {
    Transform::new(Cipher::AesGcm { key: AesKeyLen::Aes128, icv_len: 16 }, Integ::None).unwrap()
}

/// A's outbound SA and B's inbound SA for `spi`, keys derived from `key_byte`.
pub fn sa_pair(spi: u32, key_byte: u8) -> (OutboundSa, InboundSa) {
    sa_pair_with(spi, key_byte, |_| {})
}

/// `sa_pair` after `tweak` ran on both configs.
pub fn sa_pair_with(
    spi: u32,
    key_byte: u8,
    tweak: impl Fn(&mut SaConfig),
) -> (OutboundSa, InboundSa) {
    let t = gcm128();
    let enc: Vec<u8> = (0..t.enc_key_len()).map(|n| n as u8 ^ key_byte).collect();
    let mk = |dir, l: Ipv4Addr, r: Ipv4Addr| {
        let mut c = SaConfig::new(spi, dir, t, SaKeys::new(&enc, &[]), l.into(), r.into());
        c.engine = EngineKind::RustCrypto;
        tweak(&mut c);
        c
    };
    let o = mk(Direction::Outbound, A_OUT, B_OUT);
    let i = mk(Direction::Inbound, B_OUT, A_OUT);
    (OutboundSa::new(&o).unwrap(), InboundSa::new(&i).unwrap())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

/// The two gateways and the wires between them.
pub struct Net {
    pub a: Site,
    pub b: Site,
    pub now: u64,
    /// Frames each inside host received (ARP answered by the harness excluded).
    pub a_inside: Vec<Vec<u8>>,
    pub b_inside: Vec<Vec<u8>>,
    /// Every frame A sent on its outside port.
    pub wire_ab: Vec<Vec<u8>>,
    /// Every frame B sent on its outside port.
    pub wire_ba: Vec<Vec<u8>>,
    /// When set, ESP frames from A to B are kept here instead of delivered.
    pub divert_esp: Option<Vec<Vec<u8>>>,
    pending: Vec<(Side, u16, VecBuf)>,
}

impl Net {
    pub fn new() -> Net {
        let a = site(Plan {
            out_ip: A_OUT,
            out_mac: A_OUT_MAC,
            in_ip: A_IN,
            in_mac: A_IN_MAC,
            peer_out: B_OUT,
            local_net: Ipv4Addr::new(10, 1, 0, 0),
            remote_net: Ipv4Addr::new(10, 2, 0, 0),
            host: HOST_A,
            host_mac: HOST_A_MAC,
        });
        let b = site(Plan {
            out_ip: B_OUT,
            out_mac: B_OUT_MAC,
            in_ip: B_IN,
            in_mac: B_IN_MAC,
            peer_out: A_OUT,
            local_net: Ipv4Addr::new(10, 2, 0, 0),
            remote_net: Ipv4Addr::new(10, 1, 0, 0),
            host: HOST_B,
            host_mac: HOST_B_MAC,
        });
        Net {
            a,
            b,
            now: 1_000_000,
            a_inside: Vec::new(),
            b_inside: Vec::new(),
            wire_ab: Vec::new(),
            wire_ba: Vec::new(),
            divert_esp: None,
            pending: Vec::new(),
        }
    }

    pub fn site(&mut self, s: Side) -> &mut Site {
        match s {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// Allocates B's SPI, installs B's inbound and A's outbound SA; returns the tunnel
    /// index in A's table and the SPI.
    pub fn install_sa(&mut self, key_byte: u8) -> (SaIndex, u32) {
        let spi = self.b.table.alloc_spi().unwrap();
        let (o, i) = sa_pair(spi, key_byte);
        self.b.table.install_inbound(i).unwrap();
        (self.a.table.install_outbound(o).unwrap(), spi)
    }

    /// `install_sa` and bind it to [`POLICY`] on A.
    pub fn tunnel(&mut self, key_byte: u8) -> (SaIndex, u32) {
        let (idx, spi) = self.install_sa(key_byte);
        self.command(Side::A, Command::BindSa { policy: POLICY, sa: Some(idx) });
        (idx, spi)
    }

    pub fn command(&mut self, s: Side, c: Command<VecBuf>) {
        assert!(self.site(s).ctl.commands.push(c).is_ok());
    }

    /// A frame sent by `s`'s inside host to its gateway.
    pub fn host_sends(&mut self, s: Side, ip: &[u8]) {
        let st = self.site(s);
        let f = eth(st.in_mac, st.host_mac, ETH_IPV4, ip);
        self.pending.push((s, IN_PORT, VecBuf::from_slice(&f)));
    }

    /// A raw frame received by `s` on `port`.
    pub fn inject(&mut self, s: Side, port: u16, frame: &[u8]) {
        self.pending.push((s, port, VecBuf::from_slice(frame)));
    }

    /// Runs both workers (control poll, then the queued frames, one burst per port) until
    /// no frame is in flight.
    pub fn run(&mut self) {
        for _ in 0..32 {
            let mut out: Vec<(Side, u16, VecBuf)> = Vec::new();
            for s in [Side::A, Side::B] {
                let now = self.now;
                self.site(s).w.poll_control(now, &mut |p, b| out.push((s, p, b)));
            }
            let pending = std::mem::take(&mut self.pending);
            for s in [Side::A, Side::B] {
                for port in [OUT_PORT, IN_PORT] {
                    let mut burst: Vec<VecBuf> = pending
                        .iter()
                        .filter(|(ps, pp, _)| *ps == s && *pp == port)
                        .map(|(_, _, b)| b.clone())
                        .collect();
                    if burst.is_empty() {
                        continue;
                    }
                    let now = self.now;
                    self.site(s)
                        .w
                        .process_rx(port, &mut burst, now, &mut |p, b| out.push((s, p, b)));
                }
            }
            if out.is_empty() && self.pending.is_empty() {
                return;
            }
            for (s, port, b) in out {
                self.deliver(s, port, b.to_vec());
            }
        }
        panic!("frames still in flight after 32 rounds");
    }

    fn deliver(&mut self, s: Side, port: u16, f: Vec<u8>) {
        let peer = match s {
            Side::A => Side::B,
            Side::B => Side::A,
        };
        if port == OUT_PORT {
            let is_esp = ethertype(&f) == ETH_IPV4 && f.get(23) == Some(&50);
            match s {
                Side::A => self.wire_ab.push(f.clone()),
                Side::B => self.wire_ba.push(f.clone()),
            }
            if let (Side::A, true, Some(d)) = (s, is_esp, self.divert_esp.as_mut()) {
                d.push(f);
                return;
            }
            self.pending.push((peer, OUT_PORT, VecBuf::from_slice(&f)));
            return;
        }
        let st = self.site(s);
        let (host, host_mac, gw_mac) = (st.host, st.host_mac, st.in_mac);
        if ethertype(&f) == ETH_ARP {
            let req = ArpRepr::parse(&ArpPacket::new_checked(&f[14..]).unwrap()).unwrap();
            if req.operation == ArpOperation::Request && req.target_protocol_addr == host {
                let reply = ArpRepr {
                    operation: ArpOperation::Reply,
                    source_hardware_addr: host_mac,
                    source_protocol_addr: host,
                    target_hardware_addr: req.source_hardware_addr,
                    target_protocol_addr: req.source_protocol_addr,
                };
                let mut body = [0u8; arp::PACKET_LEN];
                reply.emit(&mut ArpPacket::new_unchecked(&mut body[..]));
                let frame = eth(gw_mac, host_mac, ETH_ARP, &body);
                self.pending.push((s, IN_PORT, VecBuf::from_slice(&frame)));
            }
            return;
        }
        match s {
            Side::A => self.a_inside.push(f),
            Side::B => self.b_inside.push(f),
        }
    }
}

impl Default for Net {
    fn default() -> Self {
        Net::new()
    }
}

pub fn ethertype(f: &[u8]) -> u16 {
    u16::from_be_bytes([f[12], f[13]])
}

/// An untagged Ethernet frame.
pub fn eth(dst: EthernetAddress, src: EthernetAddress, ethertype: u16, l3: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + l3.len());
    f.extend_from_slice(dst.as_bytes());
    f.extend_from_slice(src.as_bytes());
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(l3);
    f
}

/// An IPv4 packet carrying `payload` as `proto`.
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: IpProtocol, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let repr = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: proto,
        payload_len: payload.len(),
        hop_limit: ttl,
        dscp_ecn: 0,
        dont_frag: true,
    };
    let mut b = vec![0; 20 + payload.len()];
    let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
    repr.emit(&mut p).unwrap();
    p.payload_mut().copy_from_slice(payload);
    b
}

/// An IPv4/UDP datagram with a valid checksum.
pub fn udp(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = vec![0; 8 + payload.len()];
    UdpRepr { src_port: sport, dst_port: dport }
        .emit_v4(&mut UdpPacket::new_unchecked(&mut u[..]), &src, &dst, payload.len(), |p| {
            p.copy_from_slice(payload)
        })
        .unwrap();
    ipv4(src, dst, IpProtocol::Udp, 64, &u)
}

/// `ip` as a router one hop on forwards it: TTL decremented, checksum updated.
pub fn one_hop(ip: &[u8]) -> Vec<u8> {
    let mut v = ip.to_vec();
    let mut p = Ipv4Packet::new_unchecked(&mut v[..]);
    let ttl = p.hop_limit();
    p.set_hop_limit(ttl - 1);
    p.fill_checksum();
    v
}

// ---- Dual stack (IPv6 next to IPv4) and per-interface MTUs ----

pub const ETH_IPV6: u16 = 0x86dd;
/// The IPv6 protect policy of [`Net::dual`] (local /64 to remote /64).
pub const POLICY_V6: PolicyId = PolicyId(2);
/// The outside link, 2001:db8::/64.
pub const A_OUT6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
pub const B_OUT6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
/// A station on the outside link that is neither gateway.
pub const OUTSIDE_HOST6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x77);
pub const OUTSIDE_HOST6_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0x77, 0]);
pub const OUTSIDE_HOST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 77);
pub const OUTSIDE_HOST_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0x77, 4]);
/// A's inside network 2001:db8:1::/64, B's 2001:db8:2::/64.
pub const A_NET6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0);
pub const B_NET6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0);
pub const A_IN6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
pub const B_IN6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 1);
pub const HOST_A6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 5);
pub const HOST_B6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 5);

/// MTUs of a [`Net::dual`] gateway's interfaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mtus {
    pub outside: u16,
    pub inside: u16,
}

impl Default for Mtus {
    fn default() -> Self {
        Mtus { outside: 1500, inside: 1500 }
    }
}

/// The IPv6 inside host of `s`.
pub fn host6(s: Side) -> Ipv6Addr {
    match s {
        Side::A => HOST_A6,
        Side::B => HOST_B6,
    }
}

/// A dual-stack gateway: [`site`]'s IPv4 set-up plus IPv6 addresses on both interfaces,
/// a route to the peer's inside /64 through the peer's outside IPv6 address, an SPD that
/// protects inside-to-inside IPv6 traffic under [`POLICY_V6`], and the given MTUs.
fn dual_site(
    p: Plan,
    local6: Ipv6Addr,
    remote6: Ipv6Addr,
    in6: Ipv6Addr,
    out6: Ipv6Addr,
    peer_out6: Ipv6Addr,
    mtus: Mtus,
) -> Site {
    let ifaces = Interfaces::new(vec![
        Interface {
            port: OUT_PORT,
            vlan: None,
            mac: p.out_mac,
            ipv4: vec![Ipv4Cidr::new(p.out_ip, 24).unwrap()],
            ipv6: vec![Ipv6Cidr::new(out6, 64).unwrap()],
            mtu: mtus.outside,
            role: Role::Outside,
        },
        Interface {
            port: IN_PORT,
            vlan: None,
            mac: p.in_mac,
            ipv4: vec![Ipv4Cidr::new(p.in_ip, 24).unwrap()],
            ipv6: vec![Ipv6Cidr::new(in6, 64).unwrap()],
            mtu: mtus.inside,
            role: Role::Inside,
        },
    ]);
    let mut routes = RouteTable::with_connected(&ifaces);
    routes.add_v4(
        Ipv4Cidr::new(p.remote_net, 24).unwrap(),
        Route { iface: 0, next_hop: NextHop::Gateway(p.peer_out) },
    );
    routes.add_v6(
        Ipv6Cidr::new(remote6, 64).unwrap(),
        Route { iface: 0, next_hop: NextHop::Gateway(peer_out6) },
    );
    let spd = Spd::new(
        vec![
            Entry::new(
                IpPrefix::v4(p.local_net, 24).unwrap(),
                IpPrefix::v4(p.remote_net, 24).unwrap(),
                Action::Protect(POLICY),
            ),
            Entry::new(
                IpPrefix::v6(local6, 64).unwrap(),
                IpPrefix::v6(remote6, 64).unwrap(),
                Action::Protect(POLICY_V6),
            ),
        ],
        Action::Bypass,
    )
    .unwrap();
    let table = SaTable::new(TableConfig {
        inbound_capacity: 256,
        outbound_capacity: 256,
        foreign_capacity: 16,
        max_workers: 2,
        seed: None,
    })
    .unwrap();
    let reader = table.reader(0).unwrap();
    let (ctl, wend) = queue::worker_queues(0, 64, 64);
    let w = Worker::new(
        ifaces,
        routes,
        Arc::new(spd),
        reader,
        wend,
        VecBufAlloc,
        WorkerConfig::default(),
    )
    .unwrap();
    Site { w, ctl, table, host: p.host, host_mac: p.host_mac, in_mac: p.in_mac }
}

/// A's outbound and B's inbound SA for `spi` with IPv6 tunnel endpoints (A_OUT6, B_OUT6).
pub fn sa_pair_outer_v6(spi: u32, key_byte: u8) -> (OutboundSa, InboundSa) {
    let t = gcm128();
    let enc: Vec<u8> = (0..t.enc_key_len()).map(|n| n as u8 ^ key_byte).collect();
    let mk = |dir, l: Ipv6Addr, r: Ipv6Addr| {
        let mut c = SaConfig::new(spi, dir, t, SaKeys::new(&enc, &[]), l.into(), r.into());
        c.engine = EngineKind::RustCrypto;
        c
    };
    let o = mk(Direction::Outbound, A_OUT6, B_OUT6);
    let i = mk(Direction::Inbound, B_OUT6, A_OUT6);
    (OutboundSa::new(&o).unwrap(), InboundSa::new(&i).unwrap())
}

impl Net {
    /// Two dual-stack gateways ([`dual_site`]) with the given MTUs on A and on B.
    pub fn dual(a_mtus: Mtus, b_mtus: Mtus) -> Net {
        let a = dual_site(
            Plan {
                out_ip: A_OUT,
                out_mac: A_OUT_MAC,
                in_ip: A_IN,
                in_mac: A_IN_MAC,
                peer_out: B_OUT,
                local_net: Ipv4Addr::new(10, 1, 0, 0),
                remote_net: Ipv4Addr::new(10, 2, 0, 0),
                host: HOST_A,
                host_mac: HOST_A_MAC,
            },
            A_NET6,
            B_NET6,
            A_IN6,
            A_OUT6,
            B_OUT6,
            a_mtus,
        );
        let b = dual_site(
            Plan {
                out_ip: B_OUT,
                out_mac: B_OUT_MAC,
                in_ip: B_IN,
                in_mac: B_IN_MAC,
                peer_out: A_OUT,
                local_net: Ipv4Addr::new(10, 2, 0, 0),
                remote_net: Ipv4Addr::new(10, 1, 0, 0),
                host: HOST_B,
                host_mac: HOST_B_MAC,
            },
            B_NET6,
            A_NET6,
            B_IN6,
            B_OUT6,
            A_OUT6,
            b_mtus,
        );
        Net {
            a,
            b,
            now: 1_000_000,
            a_inside: Vec::new(),
            b_inside: Vec::new(),
            wire_ab: Vec::new(),
            wire_ba: Vec::new(),
            divert_esp: None,
            pending: Vec::new(),
        }
    }

    /// Installs an SA pair for A→B traffic with IPv6 (`outer_v6`) or IPv4 tunnel endpoints
    /// and binds it to [`POLICY_V6`] on A; returns A's index and the SPI.
    pub fn tunnel_v6(&mut self, key_byte: u8, outer_v6: bool) -> (SaIndex, u32) {
        let spi = self.b.table.alloc_spi().unwrap();
        let (o, i) =
            if outer_v6 { sa_pair_outer_v6(spi, key_byte) } else { sa_pair(spi, key_byte) };
        self.b.table.install_inbound(i).unwrap();
        let idx = self.a.table.install_outbound(o).unwrap();
        self.command(Side::A, Command::BindSa { policy: POLICY_V6, sa: Some(idx) });
        (idx, spi)
    }

    /// An IPv6 packet sent by `s`'s inside host to its gateway.
    pub fn host_sends_v6(&mut self, s: Side, ip: &[u8]) {
        let st = self.site(s);
        let f = eth(st.in_mac, st.host_mac, ETH_IPV6, ip);
        self.pending.push((s, IN_PORT, VecBuf::from_slice(&f)));
    }

    /// [`Net::run`], with each inside host also answering Neighbor Solicitations for its
    /// IPv6 address ([`host6`]) the way a host does (solicited, override, its MAC in the
    /// target link-layer option). The solicitations answered are removed from
    /// `a_inside` / `b_inside`; returns how many there were.
    pub fn run_v6(&mut self) -> usize {
        let mut answered = 0;
        for _ in 0..8 {
            self.run();
            let mut more = false;
            for s in [Side::A, Side::B] {
                let frames = match s {
                    Side::A => std::mem::take(&mut self.a_inside),
                    Side::B => std::mem::take(&mut self.b_inside),
                };
                let (host_mac, gw_mac) = (self.site(s).host_mac, self.site(s).in_mac);
                let mut kept = Vec::new();
                for f in frames {
                    match host_answers_ns(&f, host6(s), host_mac, gw_mac) {
                        Some(na) => {
                            self.pending.push((s, IN_PORT, VecBuf::from_slice(&na)));
                            answered += 1;
                            more = true;
                        }
                        None => kept.push(f),
                    }
                }
                match s {
                    Side::A => self.a_inside = kept,
                    Side::B => self.b_inside = kept,
                }
            }
            if !more {
                return answered;
            }
        }
        panic!("solicitations still coming after 8 rounds");
    }
}

/// The parts of a received ICMPv6 Neighbor Solicitation frame: IPv6 source and destination,
/// destination MAC, target, source link-layer address option.
pub struct SeenNs {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub dst_mac: EthernetAddress,
    pub hop_limit: u8,
    pub target: Ipv6Addr,
    pub lladdr: Option<EthernetAddress>,
}

/// `f` parsed as a Neighbor Solicitation frame (untagged), if it is one.
pub fn parse_ns(f: &[u8]) -> Option<SeenNs> {
    if ethertype(f) != ETH_IPV6 {
        return None;
    }
    let ip = Ipv6Packet::new_checked(&f[14..]).ok()?;
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let icmp = Icmpv6Packet::new_checked(ip.payload()).ok()?;
    match Icmpv6Repr::parse(&src, &dst, &icmp).ok()? {
        Icmpv6Repr::NeighborSolicit { target_addr, lladdr } => Some(SeenNs {
            src,
            dst,
            dst_mac: EthernetAddress::from_bytes(f.get(..6)?)?,
            hop_limit: ip.hop_limit(),
            target: target_addr,
            lladdr,
        }),
        _ => None,
    }
}

/// A Neighbor Advertisement frame from `mac` (`src` → `dst`, hop limit 255) for `target`
/// with `flags` and the target link-layer address `mac`, to `dst_mac`.
pub fn na_frame(
    dst_mac: EthernetAddress,
    mac: EthernetAddress,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    target: Ipv6Addr,
    flags: NeighborFlags,
) -> Vec<u8> {
    let repr = Icmpv6Repr::NeighborAdvert { flags, target_addr: target, lladdr: Some(mac) };
    let mut icmp = vec![0; repr.buffer_len()];
    repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(&mut icmp[..])).unwrap();
    eth(dst_mac, mac, ETH_IPV6, &ipv6(src, dst, IpProtocol::Icmpv6, 255, &icmp))
}

/// The NA a host with `addr` and `mac` sends in answer to the NS frame `f` from its
/// gateway (`gw_mac`), if `f` solicits `addr`.
pub fn host_answers_ns(
    f: &[u8],
    addr: Ipv6Addr,
    mac: EthernetAddress,
    gw_mac: EthernetAddress,
) -> Option<Vec<u8>> {
    let ns = parse_ns(f).filter(|ns| ns.target == addr)?;
    let flags = NeighborFlags { router: false, solicited: true, override_: true };
    Some(na_frame(ns.lladdr.unwrap_or(gw_mac), mac, addr, ns.src, addr, flags))
}

/// An IPv6 packet carrying `payload` as `nh`.
pub fn ipv6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    nh: IpProtocol,
    hop_limit: u8,
    payload: &[u8],
) -> Vec<u8> {
    let repr = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: nh,
        payload_len: payload.len(),
        hop_limit,
        traffic_class: 0,
        flow_label: 0,
    };
    let mut b = vec![0; 40 + payload.len()];
    let mut p = Ipv6Packet::new_unchecked(&mut b[..]);
    repr.emit(&mut p).unwrap();
    p.payload_mut().copy_from_slice(payload);
    b
}

/// An IPv6/UDP datagram with a valid checksum, hop limit 64.
pub fn udp6(src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = vec![0; 8 + payload.len()];
    UdpRepr { src_port: sport, dst_port: dport }
        .emit_v6(&mut UdpPacket::new_unchecked(&mut u[..]), &src, &dst, payload.len(), |p| {
            p.copy_from_slice(payload)
        })
        .unwrap();
    ipv6(src, dst, IpProtocol::Udp, 64, &u)
}

/// `ip` (IPv6) as a router one hop on forwards it: hop limit decremented.
/// `ip` after two routers: the gateway that encapsulates it and the one that decapsulates
/// it both forward it (RFC 1812 5.3.1).
pub fn two_hops(ip: &[u8]) -> Vec<u8> {
    one_hop(&one_hop(ip))
}

/// [`two_hops`] for IPv6.
pub fn two_hops_v6(ip: &[u8]) -> Vec<u8> {
    one_hop_v6(&one_hop_v6(ip))
}

pub fn one_hop_v6(ip: &[u8]) -> Vec<u8> {
    let mut v = ip.to_vec();
    let mut p = Ipv6Packet::new_unchecked(&mut v[..]);
    let hop = p.hop_limit();
    p.set_hop_limit(hop - 1);
    v
}

/// A Neighbor Solicitation frame from `src_mac` (`src` → `dst`) for `target`, carrying
/// `lladdr` as the source link-layer address option, with `hop_limit`.
pub fn ns_frame(
    dst_mac: EthernetAddress,
    src_mac: EthernetAddress,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    target: Ipv6Addr,
    lladdr: Option<EthernetAddress>,
    hop_limit: u8,
) -> Vec<u8> {
    let repr = Icmpv6Repr::NeighborSolicit { target_addr: target, lladdr };
    let mut icmp = vec![0; repr.buffer_len()];
    repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(&mut icmp[..])).unwrap();
    eth(dst_mac, src_mac, ETH_IPV6, &ipv6(src, dst, IpProtocol::Icmpv6, hop_limit, &icmp))
}

/// The solicited-node group of `addr` (RFC 4291 section 2.7.1) and its Ethernet address
/// (RFC 2464 section 7), computed independently of the code under test.
pub fn solicited_node_of(addr: Ipv6Addr) -> (Ipv6Addr, EthernetAddress) {
    let o = addr.octets();
    let group =
        Ipv6Addr::from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15]]);
    (group, EthernetAddress([0x33, 0x33, 0xff, o[13], o[14], o[15]]))
}

/// Runs one frame through `s`'s worker alone; returns what it sent, as (port, frame).
pub fn one_frame(net: &mut Net, s: Side, port: u16, frame: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let now = net.now;
    let mut out = Vec::new();
    let mut burst = vec![VecBuf::from_slice(frame)];
    net.site(s).w.process_rx(port, &mut burst, now, &mut |p, b| out.push((p, b.to_vec())));
    out
}

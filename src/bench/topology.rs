//! The benchmark's fixed lab: addresses, MACs, the tunnels' SAs and policies.
//!
//! ```text
//!  traffic (net_pcap, replayed)                        sink (net_null)
//!  enc: inside  10.1.0.1/24  ──ferrogate──  outside 192.0.2.1/24 ──> gw 192.0.2.2 ──> peers
//!  dec: outside 192.0.2.1/24 ──ferrogate──  inside  10.1.0.1/24  ──> gw 10.1.0.2  ──> hosts
//! ```
//!
//! Tunnel `i` (0-based) has its peer at 198.18.0.1 + (i mod 131,070) (routed via
//! 192.0.2.2; beyond 131,070 tunnels several tunnels share a peer, as several child SAs of one
//! branch would) and protects traffic from the local hosts 172.16.0.0/12 (routed via
//! 10.1.0.2) to the single remote host 10.128.0.0 + i (one /32 protect policy per tunnel,
//! like one crypto-map ACL line per branch office). Both gateways are static neighbours, so
//! no ARP is involved.

use std::net::{IpAddr, Ipv4Addr};

use dataplane::crypto::{EngineKind, Transform};
use dataplane::sa::Direction;
use dataplane::spd::{IpPrefix, PortRange};

use crate::appliance::config::{PolicyAction, PolicyConfig, StaticSa};
use crate::esp_tool::sa_file::{Prefix, SaSpec};

/// The inside interface (plaintext side).
pub const INSIDE_ADDR: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
pub const INSIDE_PREFIX: u8 = 24;
pub const INSIDE_MAC: [u8; 6] = [0x02, 0xfe, 0, 0, 1, 1];
/// The router behind which the local hosts live.
pub const INSIDE_GW: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);
pub const INSIDE_GW_MAC: [u8; 6] = [0x02, 0xfe, 0, 0, 1, 2];
/// The local hosts (sources of enc traffic, destinations of dec traffic).
pub const LOCAL_HOSTS: (Ipv4Addr, u8) = (Ipv4Addr::new(172, 16, 0, 0), 12);

/// The outside interface (ESP side): every tunnel's local endpoint.
pub const OUTSIDE_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const OUTSIDE_PREFIX: u8 = 24;
pub const OUTSIDE_MAC: [u8; 6] = [0x02, 0xfe, 0, 0, 2, 1];
/// The upstream router towards the peers.
pub const OUTSIDE_GW: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
pub const OUTSIDE_GW_MAC: [u8; 6] = [0x02, 0xfe, 0, 0, 2, 2];
/// Where the peers live (RFC 2544 benchmarking range).
pub const PEERS: (Ipv4Addr, u8) = (Ipv4Addr::new(198, 18, 0, 0), 15);

/// Interface MTU and SA MTU: large enough that the IMIX 1518 B frames (1504 B IP packets)
/// and their ESP packets pass without fragmentation, as in ipsec-secgw's runs.
pub const MTU: u16 = 9000;

/// Distinct peer addresses (198.18.0.0/15 less its first and last address).
pub const PEER_ADDRESSES: u32 = (1 << 17) - 2;

/// Most tunnels the lab holds: 2^20 (1,048,576), room for the 1,000,000-tunnel case. The
/// remote hosts 10.128.0.0 + i stay inside 10.128.0.0/9 and every SPI base below stays
/// distinct; the SA table takes up to 2^24 SAs each way.
pub const MAX_TUNNELS: u32 = 1 << 20;

/// First outbound and inbound SPI; tunnel `i` adds `i`.
const SPI_OUT_BASE: u32 = 0x1000_0000;
const SPI_IN_BASE: u32 = 0x2000_0000;

/// One tunnel of the lab (0-based index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tunnel(pub u32);

impl Tunnel {
    /// The peer's tunnel endpoint.
    pub fn peer(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(PEERS.0) + 1 + self.0 % PEER_ADDRESSES)
    }

    /// The remote host this tunnel's policy protects.
    pub fn remote_host(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 128, 0, 0)) + self.0)
    }

    /// SPI of ferrogate's outbound SA (the peer's inbound one).
    pub fn spi_out(self) -> u32 {
        SPI_OUT_BASE + self.0
    }

    /// SPI of ferrogate's inbound SA (the peer's outbound one).
    pub fn spi_in(self) -> u32 {
        SPI_IN_BASE + self.0
    }

    /// Deterministic keys of one direction (ferrogate's view), distinct per tunnel and
    /// direction. Benchmark keys only.
    fn keys(self, transform: Transform, direction: Direction) -> (Vec<u8>, Vec<u8>) {
        let tag: u8 = if direction == Direction::Outbound { 0x5a } else { 0xa5 };
        let idx = self.0.to_be_bytes();
        let fill = |len: usize, salt: u8| -> Vec<u8> {
            (0..len).map(|j| idx[j % 4] ^ tag ^ salt ^ (j as u8).wrapping_mul(0x9d)).collect()
        };
        (fill(transform.enc_key_len(), 0x11), fill(transform.auth_key_len(), 0x22))
    }

    /// Ferrogate's SA of one direction for this tunnel.
    pub fn sa(self, transform: Transform, direction: Direction, replay_window: u32) -> StaticSa {
        let (enc, auth) = self.keys(transform, direction);
        let spi = if direction == Direction::Outbound { self.spi_out() } else { self.spi_in() };
        let mut spec = SaSpec::new(
            spi,
            transform,
            &enc,
            &auth,
            IpAddr::V4(OUTSIDE_ADDR),
            IpAddr::V4(self.peer()),
        );
        spec.mtu = MTU;
        spec.tunnel = Some(format!("t{}", self.0));
        spec.direction = Some(direction);
        if direction == Direction::Inbound {
            // The inner packets' selectors, the mirror of the tunnel's protect policy. Said
            // here rather than derived from the policies, which costs a scan of every SA and
            // policy per SA at start-up (quadratic with 100,000 tunnels).
            spec.match_src = Some(Prefix { addr: IpAddr::V4(self.remote_host()), len: 32 });
            spec.match_dst = Some(Prefix { addr: IpAddr::V4(LOCAL_HOSTS.0), len: LOCAL_HOSTS.1 });
            spec.replay_window = replay_window;
            // A replayed capture restarts every SA's sequence numbers once per pass.
            spec.lab_sequence_restart = replay_window > 0;
        }
        StaticSa { tunnel: format!("t{}", self.0), direction, spec }
    }

    /// The peer's outbound SA: the mirror of ferrogate's inbound one (same SPI and keys,
    /// endpoints swapped). `initial_seq`: the last sequence number already used.
    pub fn peer_outbound(self, transform: Transform, initial_seq: u64) -> SaSpec {
        let (enc, auth) = self.keys(transform, Direction::Inbound);
        let mut spec = SaSpec::new(
            self.spi_in(),
            transform,
            &enc,
            &auth,
            IpAddr::V4(self.peer()),
            IpAddr::V4(OUTSIDE_ADDR),
        );
        spec.mtu = MTU;
        spec.initial_seq = initial_seq;
        // The RustCrypto engine: cheap to key (the generator builds an SA per packet with
        // many tunnels), and an implementation other than the one ferrogate decrypts with.
        spec.engine = EngineKind::RustCrypto;
        spec
    }

    /// The peer's inbound SA: what ferrogate's outbound packets decrypt with (tests).
    pub fn peer_inbound(self, transform: Transform) -> SaSpec {
        let (enc, auth) = self.keys(transform, Direction::Outbound);
        SaSpec::new(
            self.spi_out(),
            transform,
            &enc,
            &auth,
            IpAddr::V4(self.peer()),
            IpAddr::V4(OUTSIDE_ADDR),
        )
    }

    /// The protect policy: local hosts → this tunnel's remote host.
    pub fn policy(self) -> PolicyConfig {
        let prefix = |a: Ipv4Addr, l: u8| {
            IpPrefix::new(IpAddr::V4(a), l).expect("constant prefixes are valid")
        };
        PolicyConfig {
            src: prefix(LOCAL_HOSTS.0, LOCAL_HOSTS.1),
            dst: prefix(self.remote_host(), 32),
            protocol: None,
            src_ports: PortRange::ANY,
            dst_ports: PortRange::ANY,
            action: PolicyAction::Protect { sa: self.spi_out() },
        }
    }
}

/// Local host number `n` (0-based) in 172.16.0.0/12, skipping the network address.
pub fn local_host(n: u32) -> Ipv4Addr {
    let span = (1u32 << (32 - LOCAL_HOSTS.1)) - 2;
    Ipv4Addr::from(u32::from(LOCAL_HOSTS.0) + 1 + n % span)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_stay_in_their_blocks() {
        let last = Tunnel(MAX_TUNNELS - 1);
        assert_eq!(Tunnel(0).peer(), Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(Tunnel(PEER_ADDRESSES - 1).peer(), Ipv4Addr::new(198, 19, 255, 254));
        assert_eq!(Tunnel(PEER_ADDRESSES).peer(), Tunnel(0).peer(), "peers are shared");
        assert_eq!(last.remote_host(), Ipv4Addr::new(10, 143, 255, 255));
        assert!(last.spi_out() < Tunnel(0).spi_in(), "SPI ranges do not overlap");
        assert_eq!(local_host(0), Ipv4Addr::new(172, 16, 0, 1));
    }
}

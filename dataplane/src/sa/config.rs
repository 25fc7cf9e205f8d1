//! What the control plane says about an SA: the configuration a runtime SA is built from.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::crypto::{CryptoError, EngineKind, SaKeys, Transform};

use super::lifetime::Lifetimes;
use super::replay::DEFAULT_WINDOW;

/// Traffic direction of an SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Packets we receive and decapsulate.
    Inbound,
    /// Packets we encapsulate and send.
    Outbound,
}

/// ESP mode (RFC 4301 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// The whole inner IP packet is protected behind a new outer header.
    Tunnel,
    /// ESP sits between the packet's own IP header and its payload.
    Transport,
}

/// How ESP travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encap {
    /// IP protocol 50.
    Raw,
    /// ESP-in-UDP (RFC 3948), normally port 4500 on both sides; the UDP checksum is zero.
    Udp { src_port: u16, dst_port: u16 },
}

/// The DF bit of the outer IPv4 header (ASA `crypto ipsec df-bit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DfPolicy {
    /// Copy the inner packet's DF bit (ASA default). An inner IPv6 packet counts as DF set.
    #[default]
    Copy,
    /// Always set.
    Set,
    /// Always clear: packets that do not fit are fragmented, never refused.
    Clear,
}

/// Where oversize packets are fragmented (ASA `crypto ipsec fragmentation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FragPolicy {
    /// Fragment the inner IPv4 packet (DF clear only) so that every ESP packet fits the MTU:
    /// the peer decrypts fragments and never reassembles ESP (ASA default).
    #[default]
    BeforeEncryption,
    /// Encrypt the whole packet and fragment the outer packet.
    AfterEncryption,
}

/// The DSCP of the outer header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DscpPolicy {
    /// Copy from the inner header (RFC 2983 uniform model; the ASA behaviour).
    #[default]
    Copy,
    /// A fixed value (6 bits).
    Set(u8),
}

/// The addresses a transport-mode peer behind NAT wrote in its own packets, learnt by IKE
/// (RFC 3947 NAT-OA payloads; in IKEv2 the transport-mode traffic selectors, RFC 7296
/// 2.23.1). An inbound ESP-in-UDP transport SA uses them to fix the TCP/UDP checksums of
/// restored packets incrementally (RFC 3948 3.1.2); without them they are recomputed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OriginalAddrs {
    /// The peer's own address: the source of its packets before NAT.
    pub peer: IpAddr,
    /// Our address as the peer addressed its packets (differs when we are behind NAT).
    pub local: IpAddr,
}

/// Everything needed to build an [`super::OutboundSa`] or [`super::InboundSa`].
/// Keys zeroize on drop; `Debug` does not print them.
pub struct SaConfig {
    pub spi: u32,
    pub direction: Direction,
    pub transform: Transform,
    /// Encryption key (with salt where the transform has one) and integrity key.
    pub keys: SaKeys,
    pub engine: EngineKind,
    pub mode: Mode,
    /// Our tunnel endpoint (outbound: outer source; inbound: outer destination).
    pub local: IpAddr,
    /// The peer's tunnel endpoint.
    pub remote: IpAddr,
    pub encap: Encap,
    /// Extended (64-bit) sequence numbers (RFC 4304).
    pub esn: bool,
    /// Anti-replay window in packets; 0 = off (inbound only).
    pub replay_window: u32,
    pub lifetimes: Lifetimes,
    pub df: DfPolicy,
    pub frag: FragPolicy,
    /// TFC padding (RFC 4303 2.7, tunnel mode): pad every inner packet up to this many
    /// bytes (never beyond what the MTU allows). `None` = off.
    pub tfc_pad_to: Option<u16>,
    pub dscp: DscpPolicy,
    /// Outer TTL / hop limit.
    pub ttl: u8,
    /// MTU of the outside link: the largest outer packet sent unfragmented.
    pub mtu: u16,
    /// Outbound: the last sequence number already used (0 = fresh SA). Inbound: the top of
    /// the replay window (everything up to it counts as received). For HA takeover.
    pub initial_seq: u64,
    /// Source address of ICMP "fragmentation needed" errors sent to inside hosts; defaults to
    /// `local` when that is IPv4.
    pub icmp_src_v4: Option<Ipv4Addr>,
    /// Source address of ICMPv6 "packet too big" errors; defaults to `local` when IPv6.
    pub icmp_src_v6: Option<Ipv6Addr>,
    /// The caller's clock at install time (nanoseconds): time lifetimes count from here.
    pub created_ns: u64,
    /// Inbound transport mode over UDP: the peer's pre-NAT addresses, if IKE learnt them.
    pub original_addrs: Option<OriginalAddrs>,
    /// Inbound: the traffic selectors decrypted packets must match (source = the peer's
    /// side, destination = ours), checked after decapsulation (RFC 4301 5.2, step 4); a
    /// packet matching none is dropped as [`super::DropReason::PolicyMismatch`]. Empty = no
    /// check (offline tools, tests). Ignored outbound (the SPD chose the SA).
    pub traffic_selectors: Vec<crate::spd::TrafficSelector>,
    /// **Labs only** (inbound; ignored outbound): accept a sender that restarts its sequence
    /// numbers. A packet left of the anti-replay window (never a duplicate inside it) is
    /// authenticated instead of dropped; if its ICV verifies and it is still left of the
    /// window after the burst's earlier packets, the window restarts with its sequence number
    /// as the top ([`super::ReplayWindow::restart_at`]), and it is processed as usual.
    /// Restarts are counted in [`super::ReplayWindow::sequence_restarts`] (reach it through
    /// `InboundSa::replay_window`). Packets that fail authentication change nothing.
    ///
    /// Why: a benchmark replays a fixed capture of ESP packets (sequence numbers 1..K) for
    /// ever, e.g. through DPDK net_pcap `infinite_rx=1`, with anti-replay on. Without this
    /// every pass after the first is dropped as a replay before any crypto, so the numbers
    /// measure nothing; with it every packet pays the full inbound cost (replay check,
    /// decryption, window update). K must exceed the window, or the second pass is all
    /// duplicates (still dropped).
    ///
    /// It defeats anti-replay protection (RFC 4303 3.4.3) against every packet older than
    /// the window: whoever recorded the traffic can replay it and have it accepted again.
    /// Never enable it on an SA that carries real traffic. Refused together with `esn`
    /// ([`SaError::LabRestartWithEsn`]): with extended sequence numbers a restarted low
    /// number is inferred to belong to the next 2^32 block (RFC 4303 A2.2) and never
    /// authenticates.
    pub lab_sequence_restart: bool,
}

/// Default outer TTL / hop limit.
pub const DEFAULT_TTL: u8 = 64;
/// Default outside MTU (Ethernet).
pub const DEFAULT_MTU: u16 = 1500;
/// The smallest MTU an SA accepts: the IPv6 minimum link MTU (RFC 8200 section 5), which
/// also leaves room for the largest ESP overhead over IPv4.
pub const MIN_MTU: u16 = 576;

impl SaConfig {
    /// A tunnel-mode, raw-ESP SA with the defaults: no ESN, window 64, no lifetimes, DF copy,
    /// fragmentation before encryption, DSCP copy, TTL 64, MTU 1500, and the faster crypto
    /// engine for the transform on this CPU ([`EngineKind::best_for`]).
    pub fn new(
        spi: u32,
        direction: Direction,
        transform: Transform,
        keys: SaKeys,
        local: IpAddr,
        remote: IpAddr,
    ) -> Self {
        SaConfig {
            spi,
            direction,
            transform,
            keys,
            engine: EngineKind::best_for(transform),
            mode: Mode::Tunnel,
            local,
            remote,
            encap: Encap::Raw,
            esn: false,
            replay_window: DEFAULT_WINDOW,
            lifetimes: Lifetimes::default(),
            df: DfPolicy::Copy,
            frag: FragPolicy::BeforeEncryption,
            tfc_pad_to: None,
            dscp: DscpPolicy::Copy,
            ttl: DEFAULT_TTL,
            mtu: DEFAULT_MTU,
            initial_seq: 0,
            icmp_src_v4: None,
            icmp_src_v6: None,
            created_ns: 0,
            original_addrs: None,
            traffic_selectors: Vec::new(),
            lab_sequence_restart: false,
        }
    }

    pub(crate) fn validate(&self, direction: Direction) -> Result<(), SaError> {
        if self.direction != direction {
            return Err(SaError::WrongDirection);
        }
        if self.local.is_ipv4() != self.remote.is_ipv4() {
            return Err(SaError::FamilyMismatch);
        }
        if let Some(o) = self.original_addrs
            && (o.peer.is_ipv4() != self.local.is_ipv4()
                || o.local.is_ipv4() != self.local.is_ipv4())
        {
            return Err(SaError::FamilyMismatch);
        }
        if self.mtu < MIN_MTU {
            return Err(SaError::MtuTooSmall(self.mtu));
        }
        if self.spi < 256 {
            // RFC 4303 2.1: SPIs 1..255 are reserved by IANA, 0 is for local use only.
            return Err(SaError::ReservedSpi(self.spi));
        }
        if let DscpPolicy::Set(d) = self.dscp
            && d > 63
        {
            return Err(SaError::BadDscp(d));
        }
        if direction == Direction::Inbound && self.lab_sequence_restart && self.esn {
            return Err(SaError::LabRestartWithEsn);
        }
        Ok(())
    }
}

impl fmt::Debug for SaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaConfig")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("direction", &self.direction)
            .field("transform", &self.transform)
            .field("keys", &"<redacted>")
            .field("engine", &self.engine)
            .field("mode", &self.mode)
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("encap", &self.encap)
            .field("esn", &self.esn)
            .field("replay_window", &self.replay_window)
            .field("lifetimes", &self.lifetimes)
            .field("df", &self.df)
            .field("frag", &self.frag)
            .field("tfc_pad_to", &self.tfc_pad_to)
            .field("dscp", &self.dscp)
            .field("ttl", &self.ttl)
            .field("mtu", &self.mtu)
            .field("original_addrs", &self.original_addrs)
            .field("lab_sequence_restart", &self.lab_sequence_restart)
            .finish_non_exhaustive()
    }
}

/// Why a runtime SA could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaError {
    /// The crypto context could not be built (key length, engine).
    Crypto(CryptoError),
    /// `local` and `remote` are of different address families.
    FamilyMismatch,
    /// An inbound config given to the outbound constructor or the reverse.
    WrongDirection,
    /// MTU below [`MIN_MTU`].
    MtuTooSmall(u16),
    /// SPI 0..=255 (RFC 4303 2.1).
    ReservedSpi(u32),
    /// DSCP above 63.
    BadDscp(u8),
    /// `lab_sequence_restart` on an inbound SA with extended sequence numbers.
    LabRestartWithEsn,
}

impl fmt::Display for SaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaError::Crypto(e) => write!(f, "crypto: {e}"),
            SaError::FamilyMismatch => f.write_str("local and remote address families differ"),
            SaError::WrongDirection => f.write_str("SA config has the other direction"),
            SaError::MtuTooSmall(m) => write!(f, "MTU {m} below {MIN_MTU}"),
            SaError::ReservedSpi(s) => write!(f, "SPI {s} is reserved (RFC 4303 2.1)"),
            SaError::BadDscp(d) => write!(f, "DSCP {d} does not fit 6 bits"),
            SaError::LabRestartWithEsn => {
                f.write_str("lab_sequence_restart does not work with extended sequence numbers")
            }
        }
    }
}

impl std::error::Error for SaError {}

impl From<CryptoError> for SaError {
    fn from(e: CryptoError) -> Self {
        SaError::Crypto(e)
    }
}

//! Software spreading of inbound ESP over workers by SPI.
//!
//! Raw ESP gives NIC RSS no port entropy (many NICs do not hash the SPI), so one fat tunnel
//! lands on one RX queue; and an inbound SA's replay window must have a single writer
//! (DESIGN-NOTES section 2, and [`crate::sa::ReplayWindow`]'s single-writer atomics). So
//! every worker runs [`Steering::split`] on each burst it receives from a port: it keeps
//! what it owns and hands every inbound ESP frame owned by another worker to that worker's
//! handoff ring. The owner of an SPI is [`spi_owner`], a pure function of the SPI and the
//! worker count, so every worker agrees on it without shared state.
//!
//! Order within an SA survives: the frames of one SA received on one RX queue all take the
//! same path (kept, or one SPSC ring to the owner), each FIFO. Frames of one SA received on
//! different queues (NAT rebinding, a roaming peer) may interleave, which the replay window
//! absorbs as ordinary reordering.
//!
//! [`inbound_spi`] recognises exactly the frames that [`crate::l3::classify()`] would send to
//! ESP decapsulation, apart from checks that need the interface table (our MAC and address,
//! the VLAN) or the IPv4 header checksum: a frame steered but then dropped by the owner costs
//! one ring hop, while an ESP frame classify accepts but steering missed would be decapsulated
//! by a second writer. In particular IPv6 extension headers are walked as classify walks them
//! ([`ipv6ext::upper_layer`], which returns at once when the fixed header names ESP or UDP):
//! a Destination Options header in front of ESP must not open a second path to the SA.
//! ESP transiting the appliance (not addressed to us) is steered too: harmless, one hop.

use core::fmt;

use crate::buf::PacketBuf;
use crate::wire::udp_encap::NAT_T_PORT;
use crate::wire::{
    EtherType, EthernetFrame, IpProtocol, Ipv4Packet, Ipv6Packet, Udp4500, UdpPacket,
    classify_udp4500, ipv6ext,
};

/// SPIs 1 to 255 are reserved by IANA and 0 for local use; none names a negotiated SA
/// (RFC 4303 section 2.1).
pub const MAX_RESERVED_SPI: u32 = 255;

/// The SPI of an inbound ESP frame, raw (IP protocol 50) or UDP-encapsulated on port 4500
/// (RFC 3948), or `None` for anything else: other traffic, IKE after the non-ESP marker, NAT
/// keepalives, IP fragments (reassembly is the control plane's), stacked VLAN tags, SPI 0,
/// truncated or inconsistent headers. Reads headers only, allocates nothing, never panics.
///
/// Accepts Ethernet II with at most one 802.1Q/802.1ad tag; IPv4 with its header and total
/// lengths checked; IPv6 with its payload length checked and its extension header chain
/// walked as [`crate::l3::classify()`] walks it.
pub fn inbound_spi(frame: &[u8]) -> Option<u32> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let vlan = eth.vlan_info().ok()?;
    if vlan.inner.is_some() {
        return None;
    }
    let l3 = frame.get(vlan.payload_offset..)?;
    let (protocol, l4) = match vlan.ethertype {
        EtherType::Ipv4 => {
            let ip = Ipv4Packet::new_checked(l3).ok()?;
            if ip.is_fragment() {
                return None;
            }
            (ip.next_header(), ip.payload())
        }
        EtherType::Ipv6 => {
            let ip = Ipv6Packet::new_checked(l3).ok()?;
            let payload = ip.payload();
            let ul = ipv6ext::upper_layer(ip.next_header(), payload).ok()?;
            if ul.fragment.is_some() {
                return None;
            }
            (ul.protocol, payload.get(ul.offset..)?)
        }
        _ => return None,
    };
    let esp = match protocol {
        IpProtocol::Esp => l4,
        IpProtocol::Udp => {
            let dgram = UdpPacket::new_checked(l4).ok()?;
            let payload = dgram.payload();
            if dgram.dst_port() != NAT_T_PORT || classify_udp4500(payload) != Udp4500::Esp {
                return None;
            }
            payload
        }
        _ => return None,
    };
    match esp {
        [a, b, c, d, ..] => Some(u32::from_be_bytes([*a, *b, *c, *d])).filter(|&spi| spi != 0),
        _ => None,
    }
}

/// Multipliers of MurmurHash3's 32-bit finaliser (`fmix32`): every output bit depends on
/// every input bit, so sequential SPIs spread evenly.
const M1: u32 = 0x85eb_ca6b;
const M2: u32 = 0xc2b2_ae35;

/// The inverse of an odd `a` modulo 2^32 (Newton's iteration: each step doubles the
/// correct low bits, starting from 3 since `a * a ≡ 1 mod 8`).
const fn inverse(a: u32) -> u32 {
    let mut x = a;
    let mut i = 0;
    while i < 5 {
        x = x.wrapping_mul(2u32.wrapping_sub(a.wrapping_mul(x)));
        i += 1;
    }
    x
}

const M1_INV: u32 = inverse(M1);
const M2_INV: u32 = inverse(M2);

/// `fmix32`: a bijection of `u32`.
#[inline(always)]
const fn mix(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(M1);
    x ^= x >> 13;
    x = x.wrapping_mul(M2);
    x ^= x >> 16;
    x
}

/// The inverse of [`mix`].
const fn unmix(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(M2_INV);
    x ^= (x >> 13) ^ (x >> 26);
    x = x.wrapping_mul(M1_INV);
    x ^= x >> 16;
    x
}

/// The worker (`0..workers`) that owns inbound SPI `spi`: `fmix32` of the SPI, reduced by
/// multiply-shift (Lemire), without a division. Stable: it depends on nothing but its
/// arguments, so it is part of the contract with the control plane, which may pick SPIs
/// with [`spi_for_owner`] so that an SA lands on the worker of its choice (the one whose RX
/// queue receives the peer's traffic, say: then nothing is handed off). `workers == 0`
/// gives 0.
#[inline]
pub const fn spi_owner(spi: u32, workers: u32) -> u32 {
    ((mix(spi) as u64 * workers as u64) >> 32) as u32
}

/// An SPI owned by `owner` out of `workers` ([`spi_owner`]), derived from `base`: `base`
/// itself when it already maps to `owner` and is not reserved, otherwise another SPI
/// chosen by `base`. For a uniformly random `base` the result is uniform over the
/// non-reserved SPIs that `owner` owns. The control plane still checks the result is unused
/// (and draws another `base` if not). `None` when `owner >= workers`, or in the absurd case
/// of more than 2^24 workers where the owner's share may be only reserved SPIs.
///
/// Works because [`mix`] is a bijection and Lemire's reduction maps contiguous ranges of
/// hash values to each worker: pick a hash value in the owner's range, invert the mix.
pub fn spi_for_owner(base: u32, owner: u32, workers: u32) -> Option<u32> {
    if owner >= workers {
        return None;
    }
    let w = u64::from(workers);
    // Hash values h with floor(h * w / 2^32) == owner: [lo, hi).
    let lo = (u64::from(owner) << 32).div_ceil(w);
    let hi = ((u64::from(owner) + 1) << 32).div_ceil(w);
    let size = hi - lo; // >= floor(2^32 / w) >= 1
    let h = u64::from(mix(base));
    let start = if (lo..hi).contains(&h) { h - lo } else { h % size };
    // At most 256 reserved SPIs can sit in the range: 257 tries find a free one if any.
    (0..=u64::from(MAX_RESERVED_SPI) + 1).find_map(|k| {
        // `lo + x < hi <= 2^32`: fits a u32.
        let spi = unmix((lo + (start + k) % size) as u32);
        (spi > MAX_RESERVED_SPI).then_some(spi)
    })
}

/// Why a [`Steering`] could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SteeringError {
    /// `workers` was 0.
    NoWorkers,
    /// `me` is not below `workers`.
    NotAWorker {
        /// The worker index given.
        me: u32,
        /// The worker count given.
        workers: u32,
    },
}

impl fmt::Display for SteeringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SteeringError::NoWorkers => f.write_str("steering needs at least one worker"),
            SteeringError::NotAWorker { me, workers } => {
                write!(f, "worker {me} is not one of {workers} workers")
            }
        }
    }
}

impl std::error::Error for SteeringError {}

/// One worker's view of the spreading: who it is, how many workers there are, and a
/// scratch vector for [`split`](Steering::split) (sized for the largest burst seen, never
/// shrunk).
pub struct Steering<B> {
    me: u32,
    workers: u32,
    scratch: Vec<B>,
}

impl<B> fmt::Debug for Steering<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Steering")
            .field("me", &self.me)
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

impl<B: PacketBuf> Steering<B> {
    /// Worker `me` of `workers`, with no scratch reserved yet (the first bursts reserve it).
    pub fn new(me: u32, workers: u32) -> Result<Self, SteeringError> {
        Self::with_burst(me, workers, 0)
    }

    /// Like [`new`](Steering::new), with scratch for bursts of up to `burst` frames
    /// reserved now.
    pub fn with_burst(me: u32, workers: u32, burst: usize) -> Result<Self, SteeringError> {
        if workers == 0 {
            return Err(SteeringError::NoWorkers);
        }
        if me >= workers {
            return Err(SteeringError::NotAWorker { me, workers });
        }
        let scratch = if workers > 1 { Vec::with_capacity(burst) } else { Vec::new() };
        Ok(Steering { me, workers, scratch })
    }

    /// This worker's index.
    pub fn me(&self) -> u32 {
        self.me
    }

    /// The number of workers.
    pub fn workers(&self) -> u32 {
        self.workers
    }

    /// The worker that must process `frame`, when that is not this one: `Some(owner)` for
    /// inbound ESP whose SPI another worker owns.
    #[inline]
    pub fn foreign_owner(&self, frame: &[u8]) -> Option<u32> {
        foreign_owner(self.me, self.workers, frame)
    }

    /// Keeps in `pkts`, in their original relative order, every frame that is not inbound
    /// ESP or whose SPI this worker owns, and calls `handoff(owner, frame)` for each of the
    /// others, in their original order. Returns how many were handed off.
    ///
    /// Allocates nothing once the scratch holds the largest burst (reserved by
    /// [`with_burst`](Steering::with_burst), else by the first split that moves a frame).
    /// The frames from the first foreign one on are moved to the scratch and back: a `Vec`
    /// cannot move removed elements out in place without `unsafe` (`retain` drops them).
    /// With one worker, or when every frame stays, nothing moves at all. Frames handed off
    /// go to the owner's ring as they come, so one SA's frames keep their order there.
    pub fn split(&mut self, pkts: &mut Vec<B>, mut handoff: impl FnMut(u32, B)) -> usize {
        if self.workers == 1 {
            return 0;
        }
        let (me, workers) = (self.me, self.workers);
        let Some((first, first_owner)) = pkts
            .iter()
            .enumerate()
            .find_map(|(i, p)| foreign_owner(me, workers, p.data()).map(|o| (i, o)))
        else {
            return 0;
        };
        // Room for a whole burst, not just this tail: the scratch reaches its final size on
        // the first burst that moves anything. `pkts` keeps its capacity through `drain`,
        // so the pushes below never allocate.
        self.scratch.reserve(pkts.len());
        self.scratch.extend(pkts.drain(first..));
        let mut rest = self.scratch.drain(..);
        let mut handed = 0;
        if let Some(pkt) = rest.next() {
            handoff(first_owner, pkt);
            handed += 1;
        }
        for pkt in rest {
            match foreign_owner(me, workers, pkt.data()) {
                Some(owner) => {
                    handoff(owner, pkt);
                    handed += 1;
                }
                None => pkts.push(pkt),
            }
        }
        handed
    }
}

#[inline]
fn foreign_owner(me: u32, workers: u32, frame: &[u8]) -> Option<u32> {
    let owner = spi_owner(inbound_spi(frame)?, workers);
    (owner != me).then_some(owner)
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::buf::VecBuf;
    use crate::l3::classify::test::{MAC0, eth, v4, v6};
    use crate::l3::classify::{Verdict, classify};
    use crate::l3::iface::test::sample;
    use crate::wire::{Ipv4Addr, Ipv6Addr};
    use proptest::prelude::*;

    const ME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const PEER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
    const ME6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    const PEER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9);
    const SPI: u32 = 0x0000_a5f8;

    /// An ESP header and a few bytes of ciphertext.
    fn esp(spi: u32, seq: u32) -> Vec<u8> {
        let mut p = spi.to_be_bytes().to_vec();
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&[0x5a; 24]);
        p
    }

    fn udp(src: u16, dst: u16, payload: &[u8]) -> Vec<u8> {
        let mut d = src.to_be_bytes().to_vec();
        d.extend_from_slice(&dst.to_be_bytes());
        d.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        d.extend_from_slice(&[0, 0]);
        d.extend_from_slice(payload);
        d
    }

    /// An IPv6 extension header of 8 bytes (Destination Options or Hop-by-Hop, PadN).
    fn ext(next: IpProtocol, rest: &[u8]) -> Vec<u8> {
        let mut e = vec![u8::from(next), 0, 1, 4, 0, 0, 0, 0];
        e.extend_from_slice(rest);
        e
    }

    fn v4_frame(tags: &[u16], proto: IpProtocol, l4: &[u8]) -> Vec<u8> {
        eth(MAC0, tags, EtherType::Ipv4, &v4(PEER, ME, proto, l4))
    }

    fn v6_frame(tags: &[u16], nh: IpProtocol, l4: &[u8]) -> Vec<u8> {
        eth(MAC0, tags, EtherType::Ipv6, &v6(PEER6, ME6, nh, l4))
    }

    /// Valid frames carrying ESP with [`SPI`], every shape.
    fn esp_frames() -> Vec<(&'static str, Vec<u8>)> {
        let e = esp(SPI, 1);
        let u = udp(4500, 4500, &e);
        vec![
            ("v4 raw", v4_frame(&[], IpProtocol::Esp, &e)),
            ("v4 udp", v4_frame(&[], IpProtocol::Udp, &u)),
            ("v4 raw 802.1Q", v4_frame(&[100], IpProtocol::Esp, &e)),
            ("v4 udp 802.1Q", v4_frame(&[100], IpProtocol::Udp, &u)),
            ("v6 raw", v6_frame(&[], IpProtocol::Esp, &e)),
            ("v6 udp", v6_frame(&[], IpProtocol::Udp, &u)),
            ("v6 raw priority-tagged", v6_frame(&[0], IpProtocol::Esp, &e)),
            ("v6 dstopts raw", v6_frame(&[], IpProtocol::Ipv6Opts, &ext(IpProtocol::Esp, &e))),
            ("v6 hbh udp", v6_frame(&[], IpProtocol::HopByHop, &ext(IpProtocol::Udp, &u))),
            ("802.1ad", {
                let mut f = v4_frame(&[100], IpProtocol::Esp, &e);
                f[12..14].copy_from_slice(&0x88a8u16.to_be_bytes());
                f
            }),
        ]
    }

    #[test]
    fn esp_in_every_shape_gives_its_spi() {
        for (name, f) in esp_frames() {
            assert_eq!(inbound_spi(&f), Some(SPI), "{name}");
        }
    }

    #[test]
    fn classify_decapsulates_the_untagged_templates() {
        // The premise of `steering_covers_what_classify_decapsulates`: the templates it
        // mutates reach ESP decapsulation (the tagged ones are on no interface of port 0).
        let mut to_esp = 0;
        for (name, f) in esp_frames() {
            if let Verdict::EspToUs { esp_offset, .. } = classify(&sample(), 0, &f).verdict {
                assert_eq!(f[esp_offset..esp_offset + 4], SPI.to_be_bytes(), "{name}");
                to_esp += 1;
            }
        }
        assert_eq!(to_esp, 7);
    }

    #[test]
    fn ipv4_options_are_skipped() {
        // IHL 6: one word of options (four NOPs) before the ESP header.
        let mut ip = v4(PEER, ME, IpProtocol::Esp, &[[1u8; 4].as_slice(), &esp(SPI, 1)].concat());
        ip[0] = 0x46;
        assert_eq!(inbound_spi(&eth(MAC0, &[], EtherType::Ipv4, &ip)), Some(SPI));
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        // A 4-byte UDP-encapsulated payload padded to the Ethernet minimum: the padding
        // must not turn it into ESP.
        let mut f = v4_frame(&[], IpProtocol::Udp, &udp(4500, 4500, &[0, 0, 0, 7]));
        f.resize(64, 0xee);
        assert_eq!(inbound_spi(&f), None);
        let mut f = v4_frame(&[], IpProtocol::Esp, &esp(SPI, 1));
        f.extend_from_slice(&[0; 20]);
        assert_eq!(inbound_spi(&f), Some(SPI));
    }

    #[test]
    fn everything_else_is_not_steered() {
        let e = esp(SPI, 1);
        let ike = [[0u8; 4].as_slice(), &[0x8a; 28]].concat();
        let mut frag = v4(PEER, ME, IpProtocol::Esp, &e);
        Ipv4Packet::new_unchecked(&mut frag[..]).set_more_frags(true);
        let mut later = v4(PEER, ME, IpProtocol::Esp, &e);
        Ipv4Packet::new_unchecked(&mut later[..]).set_frag_offset(1480);
        let v6_frag_hdr = [u8::from(IpProtocol::Esp), 0, 0, 1, 0, 0, 0, 7];
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("spi 0", v4_frame(&[], IpProtocol::Esp, &esp(0, 1))),
            ("udp spi-less (ike marker)", v4_frame(&[], IpProtocol::Udp, &udp(4500, 4500, &ike))),
            ("v6 ike marker", v6_frame(&[], IpProtocol::Udp, &udp(4500, 4500, &ike))),
            ("keepalive", v4_frame(&[], IpProtocol::Udp, &udp(4500, 4500, &[0xff]))),
            ("short udp 4500", v4_frame(&[], IpProtocol::Udp, &udp(4500, 4500, &[1, 2, 3, 4]))),
            ("ike 500", v4_frame(&[], IpProtocol::Udp, &udp(500, 500, &e))),
            ("from 4500", v4_frame(&[], IpProtocol::Udp, &udp(4500, 1234, &e))),
            ("tcp", v4_frame(&[], IpProtocol::Tcp, &e)),
            ("ah", v4_frame(&[], IpProtocol::Ah, &e)),
            ("v4 first fragment", eth(MAC0, &[], EtherType::Ipv4, &frag)),
            ("v4 later fragment", eth(MAC0, &[], EtherType::Ipv4, &later)),
            ("v6 fragment", v6_frame(&[], IpProtocol::Ipv6Frag, &[&v6_frag_hdr[..], &e].concat())),
            ("raw esp of 3 bytes", v4_frame(&[], IpProtocol::Esp, &[1, 2, 3])),
            ("arp", eth(MAC0, &[], EtherType::Arp, &[0; 28])),
            ("stacked tags", v4_frame(&[5, 100], IpProtocol::Esp, &e)),
            (
                "v4 in a v6 ethertype",
                eth(MAC0, &[], EtherType::Ipv6, &v4(PEER, ME, IpProtocol::Esp, &e)),
            ),
            ("empty", vec![]),
        ];
        for (name, f) in cases {
            assert_eq!(inbound_spi(&f), None, "{name}");
        }
        // Header lengths that do not add up.
        let mut f = v4_frame(&[], IpProtocol::Esp, &e);
        f[14] = 0x44; // IHL 4
        assert_eq!(inbound_spi(&f), None, "ihl < 5");
        let mut f = v4_frame(&[], IpProtocol::Esp, &e);
        f[14] = 0x4f; // IHL 15: 60 bytes of header, past the 52-byte total length
        assert_eq!(inbound_spi(&f), None, "ihl > total length");
        let mut f = v4_frame(&[], IpProtocol::Esp, &e);
        f[16..18].copy_from_slice(&500u16.to_be_bytes());
        assert_eq!(inbound_spi(&f), None, "total length past the frame");
        let mut f = v6_frame(&[], IpProtocol::Esp, &e);
        f[18..20].copy_from_slice(&500u16.to_be_bytes());
        assert_eq!(inbound_spi(&f), None, "payload length past the frame");
        let mut f = v4_frame(&[], IpProtocol::Udp, &udp(4500, 4500, &e));
        f[38..40].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(inbound_spi(&f), None, "udp length below the header");
    }

    #[test]
    fn every_truncation_of_a_valid_frame_is_none() {
        for (name, f) in esp_frames() {
            for n in 0..f.len() {
                assert_eq!(inbound_spi(&f[..n]), None, "{name} cut at {n}");
            }
        }
    }

    #[test]
    fn mix_is_a_bijection_with_a_known_inverse() {
        assert_eq!(M1.wrapping_mul(M1_INV), 1);
        assert_eq!(M2.wrapping_mul(M2_INV), 1);
        for x in [0, 1, 2, 255, 256, 0xdead_beef, u32::MAX - 1, u32::MAX] {
            assert_eq!(unmix(mix(x)), x);
            assert_eq!(mix(unmix(x)), x);
        }
        // MurmurHash3 fmix32 reference values.
        assert_eq!(mix(0), 0);
        assert_eq!(mix(1), 0x514e_28b7);
    }

    #[test]
    fn sequential_spis_spread_evenly() {
        const N: u32 = 100_000;
        for workers in [2u32, 3, 4, 5, 7, 8, 16] {
            for base in [0x100u32, 0xc000_0000] {
                let mut buckets = vec![0u32; workers as usize];
                for spi in base..base + N {
                    let o = spi_owner(spi, workers);
                    assert!(o < workers);
                    buckets[o as usize] += 1;
                }
                let even = f64::from(N) / f64::from(workers);
                for (o, &n) in buckets.iter().enumerate() {
                    let dev = (f64::from(n) - even).abs() / even;
                    assert!(dev < 0.05, "{workers} workers, base {base:#x}: {o} got {n}");
                }
            }
        }
        assert_eq!(spi_owner(12345, 1), 0);
        assert_eq!(spi_owner(12345, 0), 0);
    }

    #[test]
    fn spi_owner_is_stable() {
        // The mapping is a contract with the control plane: values pinned from an
        // independent (Python) computation of fmix32 and the multiply-shift.
        let pinned = [
            (0x100u32, 0, 4),
            (0x1000, 1, 7),
            (0x1001, 0, 0),
            (0x1002, 0, 5),
            (0xc000_0001, 1, 10),
        ];
        for (spi, of3, of16) in pinned {
            assert_eq!((spi_owner(spi, 3), spi_owner(spi, 16)), (of3, of16), "{spi:#x}");
        }
        assert_eq!(spi_owner(1, 4), 1); // mix(1) = 0x514e28b7
        assert_eq!(spi_owner(1, 2), 0);
    }

    #[test]
    fn spi_for_owner_edges() {
        assert_eq!(spi_for_owner(0x1234, 0, 0), None);
        assert_eq!(spi_for_owner(0x1234, 3, 3), None);
        assert_eq!(spi_for_owner(0x1234, 0, 1), Some(0x1234));
        // Reserved bases move out of the reserved range.
        for base in 0..=MAX_RESERVED_SPI {
            for workers in [1, 2, 3, 16] {
                for owner in 0..workers {
                    let spi = spi_for_owner(base, owner, workers).unwrap();
                    assert!(spi > MAX_RESERVED_SPI);
                    assert_eq!(spi_owner(spi, workers), owner);
                }
            }
        }
        // Most workers: every share still has free SPIs.
        let spi = spi_for_owner(9, u32::MAX - 1, u32::MAX).unwrap();
        assert_eq!(spi_owner(spi, u32::MAX), u32::MAX - 1);
    }

    #[test]
    fn steering_rejects_bad_indices() {
        assert_eq!(Steering::<VecBuf>::new(0, 0).unwrap_err(), SteeringError::NoWorkers);
        assert_eq!(
            Steering::<VecBuf>::new(3, 3).unwrap_err(),
            SteeringError::NotAWorker { me: 3, workers: 3 }
        );
        assert_eq!(SteeringError::NoWorkers.to_string(), "steering needs at least one worker");
        let s = Steering::<VecBuf>::new(2, 3).unwrap();
        assert_eq!((s.me(), s.workers()), (2, 3));
        assert!(format!("{s:?}").contains("me: 2"));
    }

    /// An SPI (> 255) that worker `owner` of `workers` owns.
    fn spi_of(owner: u32, workers: u32, nth: u32) -> u32 {
        spi_for_owner(0x1000 + nth * 7919, owner, workers).unwrap()
    }

    #[test]
    fn split_keeps_own_and_hands_off_foreign_in_order() {
        let workers = 3;
        let mut s = Steering::<VecBuf>::new(1, workers).unwrap();
        let spis = [spi_of(0, 3, 0), spi_of(1, 3, 1), spi_of(2, 3, 2), spi_of(0, 3, 3)];
        let mut frames = Vec::new();
        for i in 0..24u32 {
            let f = match i % 6 {
                5 => v4_frame(&[], IpProtocol::Tcp, &i.to_be_bytes()),
                k => v4_frame(&[], IpProtocol::Esp, &esp(spis[k as usize % 4], i)),
            };
            frames.push(f);
        }
        let mut pkts: Vec<VecBuf> = frames.iter().map(|f| VecBuf::from_slice(f)).collect();
        let mut handed = Vec::new();
        let n = s.split(&mut pkts, |o, p| handed.push((o, p.to_vec())));
        assert_eq!(n, handed.len());
        let kept: Vec<Vec<u8>> = pkts.iter().map(VecBuf::to_vec).collect();
        let want_kept: Vec<Vec<u8>> = frames
            .iter()
            .filter(|f| inbound_spi(f).is_none_or(|spi| spi_owner(spi, workers) == 1))
            .cloned()
            .collect();
        let want_handed: Vec<(u32, Vec<u8>)> = frames
            .iter()
            .filter_map(|f| {
                let o = spi_owner(inbound_spi(f)?, workers);
                (o != 1).then(|| (o, f.clone()))
            })
            .collect();
        assert_eq!(kept, want_kept);
        assert_eq!(handed, want_handed);
        assert!(!kept.is_empty() && !handed.is_empty());
    }

    #[test]
    fn split_with_one_worker_or_nothing_foreign_moves_nothing() {
        let f = v4_frame(&[], IpProtocol::Esp, &esp(spi_of(0, 2, 0), 1));
        let mut pkts = vec![VecBuf::from_slice(&f); 4];
        let mut solo = Steering::<VecBuf>::new(0, 1).unwrap();
        assert_eq!(solo.split(&mut pkts, |_, _| panic!("one worker hands nothing off")), 0);
        let mut s = Steering::<VecBuf>::new(0, 2).unwrap();
        assert_eq!(s.split(&mut pkts, |_, _| panic!("all frames are worker 0's")), 0);
        assert_eq!(pkts.len(), 4);
        assert_eq!(s.scratch.capacity(), 0, "nothing moved");
        let mut other = Steering::<VecBuf>::with_burst(1, 2, 8).unwrap();
        let mut out = Vec::new();
        assert_eq!(other.split(&mut pkts, |o, p| out.push((o, p))), 4);
        assert!(pkts.is_empty() && out.iter().all(|(o, _)| *o == 0));
    }

    /// A frame mutated from an ESP template, with the IPv4 checksum repaired so classify
    /// looks past it.
    fn mutated(template: usize, edits: &[(usize, u8)], cut: usize) -> Vec<u8> {
        let frames = esp_frames();
        let (_, mut f) = frames[template % frames.len()].clone();
        let n = f.len();
        for &(at, v) in edits {
            f[at % n] = v;
        }
        if cut > 11 {
            f.truncate(n - (cut - 11));
        }
        if let Ok(info) = EthernetFrame::new_checked(&f[..]).and_then(|e| e.vlan_info())
            && info.ethertype == EtherType::Ipv4
            && let Some(l3) = f.get_mut(info.payload_offset..)
            && let Ok(mut ip) = Ipv4Packet::new_checked(l3)
        {
            ip.fill_checksum();
        }
        f
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Some(spi) = inbound_spi(&bytes) {
                prop_assert_ne!(spi, 0);
            }
        }

        /// Every frame classify sends to ESP decapsulation with a non-zero SPI is steered by
        /// that SPI: no ESP reaches a second writer by a path steering does not know.
        #[test]
        fn steering_covers_what_classify_decapsulates(
            template in 0usize..16,
            edits in proptest::collection::vec((0usize..90, any::<u8>()), 0..4),
            cut in 0usize..16,
        ) {
            let f = mutated(template, &edits, cut);
            let spi = inbound_spi(&f);
            let c = classify(&sample(), 0, &f);
            if let Verdict::EspToUs { esp_offset, .. } = c.verdict {
                // Decapsulation reads within the IP packet only: bytes past its length
                // (Ethernet padding, or a payload length cut short) are no SPI.
                let l3_end = c.l3_offset + c.l3_len;
                let want = f
                    .get(..l3_end)
                    .and_then(|p| p.get(esp_offset..esp_offset + 4))
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                    .filter(|&s| s != 0);
                prop_assert_eq!(spi, want);
            }
        }

        #[test]
        fn spi_for_owner_lands_on_its_owner(
            base in any::<u32>(),
            workers in 1u32..64,
            pick in any::<u32>(),
        ) {
            let owner = pick % workers;
            let spi = spi_for_owner(base, owner, workers).unwrap();
            prop_assert!(spi > MAX_RESERVED_SPI);
            prop_assert_eq!(spi_owner(spi, workers), owner);
            if base > MAX_RESERVED_SPI && spi_owner(base, workers) == owner {
                prop_assert_eq!(spi, base);
            }
        }

        #[test]
        fn mix_round_trips(x in any::<u32>()) {
            prop_assert_eq!(unmix(mix(x)), x);
        }
    }
}

//! Benchmark traffic: the capture files net_pcap replays for ever.
//!
//! Sizes are Ethernet frame lengths **without the FCS** (what a pcap holds): `64` is a
//! 64-byte frame (50-byte IPv4/UDP packet), `imix` is 7:4:1 of 64/594/1518-byte frames
//! (mean 361.8 B), `1420` is a 1420-byte IPv4 packet (1434-byte frame). For `dec` these are
//! the plaintext frames inside the tunnel; the capture holds their ESP frames.
//!
//! - enc: plaintext UDP frames to the inside interface. Packet `k` goes to tunnel
//!   `k % tunnels`; there are 256 flows (distinct source address/port) with one tunnel and
//!   one flow per packet with more, so every tunnel's protect policy matches.
//! - dec: ESP frames to the outside interface, built by this crate's ESP engine with each
//!   tunnel's peer-side SA. Every SA's packets in one pass of the capture end more than the
//!   replay window above the first one of the next pass, so with `lab_sequence_restart` the
//!   capture replays for ever with anti-replay on: one tunnel gets sequence numbers
//!   1..=1032 consecutively; many tunnels get two packets each (e.g. 1 and 66 for a window
//!   of 64), i.e. a window restart every other packet, which is slightly pessimistic.

use std::fs::File;
use std::io::BufWriter;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use dataplane::buf::{PacketBuf, VecBuf};
use dataplane::crypto::Transform;
use dataplane::esp::{self, Disposition, EspWorker, VecBufAlloc};
use dataplane::sa::replay::MAX_WINDOW;
use dataplane::sa::{Direction, OutboundSa};
use dataplane::wire::{
    EtherType, EthernetAddress, EthernetFrame, EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr,
    UdpPacket, UdpRepr,
};
use serde::{Deserialize, Serialize};

use super::topology::{INSIDE_GW_MAC, INSIDE_MAC, OUTSIDE_GW_MAC, OUTSIDE_MAC, Tunnel, local_host};
use crate::pcap::{self, LinkType};

/// Which way the case sends traffic through ferrogate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    /// Plaintext in on the inside, ESP out on the outside.
    Enc,
    /// ESP in on the outside, plaintext out on the inside.
    Dec,
}

impl Dir {
    pub fn label(self) -> &'static str {
        match self {
            Dir::Enc => "enc",
            Dir::Dec => "dec",
        }
    }
}

/// Packet sizes (see the module doc for what each means).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Size {
    /// 64-byte Ethernet frames (FCS excluded).
    #[value(name = "64")]
    #[serde(rename = "64")]
    B64,
    /// 7:4:1 of 64/594/1518-byte frames.
    #[value(name = "imix")]
    #[serde(rename = "imix")]
    Imix,
    /// 1420-byte IPv4 packets (1434-byte frames).
    #[value(name = "1420")]
    #[serde(rename = "1420")]
    Ip1420,
}

/// One round of the IMIX, interleaved so that bursts see a mix: 7 × 64, 4 × 594, 1 × 1518.
const IMIX_ROUND: [usize; 12] = [64, 594, 64, 64, 594, 64, 1518, 64, 594, 64, 64, 594];
/// Ethernet + IPv4 + UDP headers.
const HEADERS: usize = 14 + 20 + 8;
/// Packets per pass of the capture with one tunnel (before rounding to whole IMIX rounds).
const ONE_TUNNEL_PACKETS: usize = 1024;
/// Flows of the one-tunnel capture.
const ONE_TUNNEL_FLOWS: usize = 256;
/// UDP destination port of every flow (iperf's).
const DST_PORT: u16 = 5001;

impl Size {
    pub fn label(self) -> &'static str {
        match self {
            Size::B64 => "64",
            Size::Imix => "imix",
            Size::Ip1420 => "1420",
        }
    }

    /// Plaintext frame lengths (FCS excluded) of one round of the mix.
    pub fn round(self) -> &'static [usize] {
        match self {
            Size::B64 => &[64],
            Size::Imix => &IMIX_ROUND,
            Size::Ip1420 => &[1420 + 14],
        }
    }
}

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub dir: Dir,
    pub size: Size,
    pub tunnels: u32,
    pub transform: Transform,
    /// ferrogate's replay window (dec: spaces the sequence numbers).
    pub replay_window: u32,
    /// Capture files = RX queues of the traffic port (enc only; dec uses one).
    pub queues: usize,
}

/// The capture files written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Written {
    pub files: Vec<PathBuf>,
    pub packets: u64,
    /// Sum of the frame lengths (FCS excluded).
    pub bytes: u64,
    pub max_frame: usize,
    pub flows: u64,
}

impl Written {
    /// Mean frame length of the capture, bytes (FCS excluded).
    pub fn mean_frame(&self) -> f64 {
        if self.packets == 0 { 0.0 } else { self.bytes as f64 / self.packets as f64 }
    }
}

/// A plaintext IPv4/UDP Ethernet frame of `frame_len` bytes (FCS excluded).
pub fn udp_frame(
    frame_len: usize,
    macs: ([u8; 6], [u8; 6]),
    src: Ipv4Addr,
    dst: Ipv4Addr,
    src_port: u16,
) -> anyhow::Result<Vec<u8>> {
    if frame_len < HEADERS {
        bail!("a frame of {frame_len} bytes cannot hold Ethernet, IPv4 and UDP headers");
    }
    let mut buf = vec![0u8; frame_len];
    let (eth, ip) = buf.split_at_mut(14);
    EthernetRepr {
        src_addr: EthernetAddress(macs.0),
        dst_addr: EthernetAddress(macs.1),
        ethertype: EtherType::Ipv4,
    }
    .emit(&mut EthernetFrame::new_unchecked(eth));
    let udp_len = frame_len - 14 - 20;
    Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Udp,
        payload_len: udp_len,
        hop_limit: 64,
        dscp_ecn: 0,
        dont_frag: false,
    }
    .emit(&mut Ipv4Packet::new_unchecked(&mut ip[..]))
    .map_err(|_| anyhow::anyhow!("frame of {frame_len} bytes is too large for IPv4"))?;
    UdpRepr { src_port, dst_port: DST_PORT }
        .emit_v4(&mut UdpPacket::new_unchecked(&mut ip[20..]), &src, &dst, udp_len - 8, |p| {
            for (i, b) in p.iter_mut().enumerate() {
                *b = i as u8;
            }
        })
        .map_err(|_| anyhow::anyhow!("UDP datagram of {udp_len} bytes"))?;
    Ok(buf)
}

/// Source host and port of flow `f` (distinct for every `f` below 4096 × 64,512).
fn flow_source(f: usize) -> (Ipv4Addr, u16) {
    (local_host((f % 4096) as u32), 1024 + (f / 4096) as u16)
}

/// Packets of one pass and the flows among them, for enc.
fn enc_shape(plan: &Plan) -> (usize, usize) {
    let round = plan.size.round().len();
    let base = ONE_TUNNEL_PACKETS.max(plan.tunnels as usize);
    let packets = base.div_ceil(round) * round;
    let flows = if plan.tunnels == 1 { ONE_TUNNEL_FLOWS } else { packets };
    (packets, flows)
}

/// Packets per SA and the step between their sequence numbers, for dec.
fn dec_shape(plan: &Plan) -> (usize, u64) {
    let round = plan.size.round().len();
    let total = ONE_TUNNEL_PACKETS.div_ceil(round) * round;
    let per_sa = total.div_ceil(plan.tunnels as usize).max(2);
    // The last number of a pass must be at least `window` above the first one of the next
    // pass (the first then counts as too old and restarts the window).
    // The window is rounded up to whole 64-bit words (dataplane::sa::replay).
    let window = u64::from(plan.replay_window.min(MAX_WINDOW)).div_ceil(64) * 64;
    let span = (per_sa - 1) as u64;
    let stride = (window + 1).div_ceil(span).max(1);
    (per_sa, stride)
}

/// Packets of one pass of the case's capture (all its files together), known before it is
/// written: what sizes the memory check of the very large cases.
pub fn packets_of(plan: &Plan) -> u64 {
    match plan.dir {
        Dir::Enc => enc_shape(plan).0 as u64,
        Dir::Dec => dec_shape(plan).0 as u64 * u64::from(plan.tunnels),
    }
}

/// Writes the capture file(s) of a case into `dir`.
pub fn generate(plan: &Plan, dir: &Path) -> anyhow::Result<Written> {
    let queues = if plan.dir == Dir::Dec { 1 } else { plan.queues.max(1) };
    let files: Vec<PathBuf> = (0..queues).map(|q| dir.join(format!("traffic-{q}.pcap"))).collect();
    let mut writers = Vec::with_capacity(queues);
    for f in &files {
        let file = File::create(f).with_context(|| format!("creating {}", f.display()))?;
        writers.push(pcap::Writer::new(BufWriter::new(file), LinkType::Ethernet)?);
    }
    let mut out = Written { files, packets: 0, bytes: 0, max_frame: 0, flows: 0 };
    let round = plan.size.round();
    let mut write = |q: usize, frame: &[u8], out: &mut Written| -> anyhow::Result<()> {
        writers[q].write(out.packets * 1000, frame)?;
        out.packets += 1;
        out.bytes += frame.len() as u64;
        out.max_frame = out.max_frame.max(frame.len());
        Ok(())
    };
    match plan.dir {
        Dir::Enc => {
            let (packets, flows) = enc_shape(plan);
            out.flows = flows as u64;
            for k in 0..packets {
                let tunnel = Tunnel((k % plan.tunnels as usize) as u32);
                let (src, sport) = flow_source(k % flows);
                let len = round[k % round.len()];
                let frame =
                    udp_frame(len, (INSIDE_GW_MAC, INSIDE_MAC), src, tunnel.remote_host(), sport)?;
                write((k / round.len()) % queues, &frame, &mut out)?;
            }
        }
        Dir::Dec => {
            let (per_sa, stride) = dec_shape(plan);
            out.flows = plan.tunnels as u64;
            let mut worker = EspWorker::new();
            let mut extra = Vec::new();
            // Consecutive numbers: one peer SA per tunnel counts them. Spaced numbers: a
            // fresh SA per packet starting where the number must be.
            let mut kept: Vec<OutboundSa> = Vec::new();
            if stride == 1 {
                for t in 0..plan.tunnels {
                    let spec = Tunnel(t).peer_outbound(plan.transform, 0);
                    kept.push(OutboundSa::new(&spec.config(Direction::Outbound))?);
                }
            }
            for j in 0..per_sa {
                for t in 0..plan.tunnels {
                    let tunnel = Tunnel(t);
                    let k = j * plan.tunnels as usize + t as usize;
                    let len = round[k % round.len()];
                    let (dst, dport_src) = flow_source(t as usize);
                    let inner = udp_frame(
                        len,
                        (INSIDE_MAC, INSIDE_GW_MAC),
                        tunnel.remote_host(),
                        dst,
                        dport_src,
                    )?;
                    let fresh;
                    let sa = if stride == 1 {
                        &kept[t as usize]
                    } else {
                        let spec = tunnel.peer_outbound(plan.transform, j as u64 * stride);
                        fresh = OutboundSa::new(&spec.config(Direction::Outbound))?;
                        &fresh
                    };
                    let mut pkt = [VecBuf::from_slice(&inner[14..])];
                    extra.clear();
                    let d = esp::encap_burst(
                        &mut worker,
                        &[sa],
                        &mut pkt,
                        &mut extra,
                        &mut VecBufAlloc,
                        0,
                    )[0];
                    if d != Disposition::Forward || !extra.is_empty() {
                        bail!("building the ESP traffic: tunnel {t} packet {j}: {d:?}");
                    }
                    let mut frame = Vec::with_capacity(14 + pkt[0].len());
                    frame.extend_from_slice(&OUTSIDE_MAC);
                    frame.extend_from_slice(&OUTSIDE_GW_MAC);
                    frame.extend_from_slice(&u16::from(EtherType::Ipv4).to_be_bytes());
                    frame.extend_from_slice(pkt[0].data());
                    write(0, &frame, &mut out)?;
                }
            }
        }
    }
    for w in writers {
        w.into_inner()?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esp_tool::sa_file::parse_transform;

    fn plan(dir: Dir, size: Size, tunnels: u32) -> Plan {
        Plan {
            dir,
            size,
            tunnels,
            transform: parse_transform("aes128gcm16").unwrap(),
            replay_window: 64,
            queues: 1,
        }
    }

    #[test]
    fn shapes_cover_every_tunnel_and_restart_the_window() {
        assert_eq!(enc_shape(&plan(Dir::Enc, Size::B64, 1)), (1024, 256));
        assert_eq!(enc_shape(&plan(Dir::Enc, Size::Imix, 100_000)), (100_008, 100_008));
        assert_eq!(dec_shape(&plan(Dir::Dec, Size::Imix, 1)), (1032, 1));
        let (per_sa, stride) = dec_shape(&plan(Dir::Dec, Size::B64, 100_000));
        assert_eq!(per_sa, 2);
        assert!(stride > 64);
        // The minimum that covers every tunnel: one packet each (enc), two per SA (dec: the
        // second restarts the window on the next pass).
        assert_eq!(packets_of(&plan(Dir::Enc, Size::B64, 1_000_000)), 1_000_000);
        assert_eq!(packets_of(&plan(Dir::Dec, Size::Ip1420, 1_000_000)), 2_000_000);
        assert_eq!(packets_of(&plan(Dir::Dec, Size::B64, 1)), 1024);
    }

    #[test]
    fn udp_frames_have_the_asked_length_and_valid_checksums() {
        for len in [64, 594, 1518, 1434] {
            let f = udp_frame(
                len,
                (INSIDE_GW_MAC, INSIDE_MAC),
                local_host(1),
                Tunnel(3).remote_host(),
                1024,
            )
            .unwrap();
            assert_eq!(f.len(), len);
            let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
            assert!(ip.verify_checksum());
            assert_eq!(usize::from(ip.total_len()), len - 14);
            let udp = UdpPacket::new_checked(ip.payload()).unwrap();
            assert!(udp.verify_checksum_v4(&ip.src_addr(), &ip.dst_addr()));
        }
        assert!(
            udp_frame(40, (INSIDE_GW_MAC, INSIDE_MAC), local_host(1), local_host(2), 1).is_err()
        );
    }
}

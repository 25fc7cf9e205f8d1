//! What `ferrogate gen` sends: sizes, inner flows spread over tunnels, the tunnels' SAs, and
//! the per-packet builder that works from precomputed templates.
//!
//! Addressing follows the benchmark lab ([`crate::bench::topology`]), so a ferrogate set up
//! as `ferrogate bench` sets it up is a ready device under test:
//!
//! - flow `f` (0-based) belongs to tunnel `f % tunnels`;
//! - enc (plaintext to the DUT's inside): `local_host(f):sport(f) → remote_host(t):5001`,
//!   Ethernet `02:fe:00:00:01:02 → 02:fe:00:00:01:01`;
//! - dec (ESP to the DUT's outside): the inner packet `remote_host(t):5001 →
//!   local_host(f):sport(f)`, sealed with the peer-side SA of tunnel `t` (outer `198.18.0.1 + t
//!   → 192.0.2.1`, SPI `0x2000_0000 + t`), Ethernet `02:fe:00:00:02:02 → 02:fe:00:00:02:01`.
//!   With an SA file, tunnel `t` is the file's SA `t`, its outer addresses are the SA's
//!   `local → remote`, and the inner source/destination are hosts of its `match_src` /
//!   `match_dst` prefixes when they are IPv4.
//!
//! Sizes are Ethernet frame lengths without FCS (for dec: of the inner plaintext frame, as
//! in `ferrogate bench`). A packet is built by copying its flow's 42-byte header template,
//! writing the lengths, the stamp ([`super::stamp`]) and the fixed filler, and completing
//! the IPv4 and UDP checksums from sums precomputed per flow and per size: no per-packet
//! checksum pass over the payload.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use anyhow::{Context, bail};
use dataplane::buf::{BufError, PacketBuf};
use dataplane::crypto::{EngineKind, Transform};
use dataplane::esp::{self, BufAlloc, Disposition, EspWorker};
use dataplane::sa::{Direction, InboundSa, OutboundSa};

use super::stamp::{STAMP_LEN, Stamp, fold, sum_words};
use crate::bench::topology::{
    INSIDE_GW_MAC, INSIDE_MAC, MAX_TUNNELS, OUTSIDE_GW_MAC, OUTSIDE_MAC, Tunnel, local_host,
};
use crate::bench::traffic::{Dir, Size};
use crate::esp_tool::sa_file::{Prefix, SaSpec};

/// Smallest frame: Ethernet + IPv4 + UDP headers and the whole stamp.
pub const MIN_FRAME: usize = HDR + STAMP_LEN;
/// Largest frame (a 9000-byte jumbo frame, FCS excluded).
pub const MAX_FRAME: usize = 9000;
/// Most inner flows (the local hosts of the lab plan, 172.16.0.0/12, give 2^20 - 2 distinct
/// addresses).
pub const MAX_FLOWS: u32 = (1 << 20) - 2;
/// Ethernet + IPv4 + UDP.
const HDR: usize = 14 + 20 + 8;
const ETH: usize = 14;
/// The UDP port of the lab's remote hosts (iperf's).
const REMOTE_PORT: u16 = 5001;

/// A size mix: the frame lengths of one round, sent in turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeMix {
    pub label: String,
    pub round: Vec<usize>,
}

impl SizeMix {
    /// `imix` (7:4:1 of 64/594/1518-byte frames, interleaved as in `ferrogate bench`), one
    /// size (`64`) or a list sent in turn (`64,128,1518`), each 64..=9000.
    pub fn parse(s: &str) -> Result<SizeMix, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("imix") {
            return Ok(SizeMix { label: "imix".into(), round: Size::Imix.round().to_vec() });
        }
        let mut round = Vec::new();
        for part in s.split(',') {
            let n: usize = part
                .trim()
                .parse()
                .map_err(|_| format!("'{part}' is not a frame size (or use imix)"))?;
            if !(MIN_FRAME..=MAX_FRAME).contains(&n) {
                return Err(format!("frame size {n}: must be {MIN_FRAME}..={MAX_FRAME}"));
            }
            round.push(n);
        }
        if round.is_empty() || round.len() > 1024 {
            return Err("give 1 to 1024 sizes".into());
        }
        Ok(SizeMix { label: s.to_owned(), round })
    }

    pub fn max(&self) -> usize {
        self.round.iter().copied().max().unwrap_or(MIN_FRAME)
    }

    /// Mean frame length of the mix.
    pub fn mean(&self) -> f64 {
        self.round.iter().sum::<usize>() as f64 / self.round.len().max(1) as f64
    }
}

/// Where the tunnels' SAs come from.
#[derive(Debug, Clone)]
pub enum SaSource {
    /// Tunnel `i` gets the benchmark lab's SAs (SPIs and keys derived from `i`).
    Derived { transform: Transform },
    /// Tunnel `i` is SA `i` of a `ferrogate esp` SA file.
    File(Vec<SaSpec>),
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct TrafficSpec {
    pub dir: Dir,
    pub sizes: SizeMix,
    pub flows: u32,
    pub tunnels: u32,
    pub sas: SaSource,
    /// Extra SAs to decrypt returning ESP with (`--rx-sa`).
    pub rx_sas: Vec<SaSpec>,
    /// Overrides of the Ethernet addresses `(source, destination)`.
    pub src_mac: Option<[u8; 6]>,
    pub dst_mac: Option<[u8; 6]>,
}

/// One flow's precomputed headers and partial checksums.
#[derive(Debug, Clone)]
struct FlowTemplate {
    /// Ethernet, IPv4 and UDP headers, lengths and checksums zero.
    hdr: [u8; HDR],
    /// Unfolded sum of the IPv4 header without its length.
    ip_sum: u32,
    /// Unfolded sum of the pseudo header's addresses and protocol and the UDP ports.
    udp_sum: u32,
    tunnel: u32,
}

/// The generator's traffic, ready to build packets from (shared read-only by the workers).
pub struct Traffic {
    pub dir: Dir,
    pub sizes: SizeMix,
    pub flows: u32,
    pub tunnels: u32,
    templates: Vec<FlowTemplate>,
    /// The payload after the stamp, for the largest size.
    filler: Vec<u8>,
    /// Unfolded sum of the filler of each size of the round.
    filler_sums: Vec<u64>,
    /// dec: the outbound SA of each tunnel's side (index: tunnel % len).
    tx_sas: Vec<OutboundSa>,
    /// The specs behind `tx_sas` (for `--write-sa`).
    tx_specs: Vec<SaSpec>,
    /// What returning ESP may be sealed with: built into each receiver's own inbound SAs.
    rx_specs: Vec<SaSpec>,
    /// Ethernet addresses of ESP frames `(source, destination)`.
    esp_macs: ([u8; 6], [u8; 6]),
}

impl std::fmt::Debug for Traffic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Traffic")
            .field("dir", &self.dir)
            .field("sizes", &self.sizes)
            .field("flows", &self.flows)
            .field("tunnels", &self.tunnels)
            .field("tx_sas", &self.tx_sas.len())
            .field("rx_sas", &self.rx_specs.len())
            .finish()
    }
}

/// Source port of flow `f`'s local host (varied for RSS).
fn local_port(f: u32) -> u16 {
    10_000 + (f % 50_000) as u16
}

/// Host `n` of an IPv4 prefix: the address itself for /32, else skipping the network and
/// broadcast addresses where the prefix has them.
fn host_in(p: &Prefix, n: u32) -> Option<Ipv4Addr> {
    let IpAddr::V4(a) = p.addr else { return None };
    let bits = 32 - u32::from(p.len.min(32));
    let base = u32::from(a) & u32::MAX.checked_shl(bits).unwrap_or(0);
    let off = match bits {
        0 => 0,
        1 => n % 2,
        b => 1 + n % ((1u32 << b.min(31)) - 2),
    };
    Some(Ipv4Addr::from(base.wrapping_add(off)))
}

impl FlowTemplate {
    fn new(
        macs: ([u8; 6], [u8; 6]),
        src: (Ipv4Addr, u16),
        dst: (Ipv4Addr, u16),
        tunnel: u32,
    ) -> Self {
        let mut hdr = [0u8; HDR];
        hdr[0..6].copy_from_slice(&macs.1);
        hdr[6..12].copy_from_slice(&macs.0);
        hdr[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        let ip = &mut hdr[ETH..ETH + 20];
        ip[0] = 0x45;
        ip[8] = 64; // TTL
        ip[9] = 17; // UDP
        ip[12..16].copy_from_slice(&src.0.octets());
        ip[16..20].copy_from_slice(&dst.0.octets());
        let ip_sum = sum_words(ip) as u32;
        let udp = &mut hdr[ETH + 20..];
        udp[0..2].copy_from_slice(&src.1.to_be_bytes());
        udp[2..4].copy_from_slice(&dst.1.to_be_bytes());
        let udp_sum = (sum_words(&src.0.octets())
            + sum_words(&dst.0.octets())
            + 17
            + u64::from(src.1)
            + u64::from(dst.1)) as u32;
        FlowTemplate { hdr, ip_sum, udp_sum, tunnel }
    }
}

impl Traffic {
    /// Precomputes every flow's template and builds the tunnels' SAs.
    pub fn new(spec: &TrafficSpec) -> anyhow::Result<Traffic> {
        if spec.tunnels == 0 || spec.tunnels > MAX_TUNNELS {
            bail!("tunnels: must be 1..={MAX_TUNNELS}");
        }
        if spec.flows < spec.tunnels || spec.flows > MAX_FLOWS {
            bail!(
                "flows: must be at least the number of tunnels ({}, so every tunnel carries a \
                 flow) and at most {MAX_FLOWS}",
                spec.tunnels
            );
        }
        if spec.sizes.round.is_empty()
            || spec.sizes.round.iter().any(|l| !(MIN_FRAME..=MAX_FRAME).contains(l))
        {
            bail!("frame sizes: give 1 or more of {MIN_FRAME}..={MAX_FRAME}");
        }
        let file = match &spec.sas {
            SaSource::File(list) => Some(list),
            SaSource::Derived { .. } => None,
        };
        if let Some(list) = file
            && list.len() != spec.tunnels as usize
        {
            bail!("the SA file has {} SA(s) for {} tunnel(s)", list.len(), spec.tunnels);
        }
        let (tx_specs, mut rx_specs) = match (&spec.sas, spec.dir) {
            (SaSource::Derived { transform, .. }, Dir::Dec) => {
                let tx: Vec<SaSpec> = (0..spec.tunnels)
                    .map(|t| {
                        let mut s = Tunnel(t).peer_outbound(*transform, 0);
                        // The generator seals in one piece whatever the size, with the
                        // fastest engine (the lab's peer side uses the cheap-to-key one).
                        s.mtu = u16::MAX;
                        s.engine = EngineKind::best_for(*transform);
                        s
                    })
                    .collect();
                // Looped straight back (no DUT), the generator's own ESP returns.
                let rx = tx.clone();
                (tx, rx)
            }
            // Through a DUT, plaintext goes in and the DUT's ESP comes back.
            (SaSource::Derived { transform, .. }, Dir::Enc) => (
                Vec::new(),
                (0..spec.tunnels).map(|t| Tunnel(t).peer_inbound(*transform)).collect(),
            ),
            (SaSource::File(list), Dir::Dec) => (list.clone(), list.clone()),
            (SaSource::File(_), Dir::Enc) => {
                bail!("an SA file seals the decrypt direction (--dir dec); for enc use --rx-sa")
            }
        };
        rx_specs.extend(spec.rx_sas.iter().cloned());
        let tx_sas = tx_specs
            .iter()
            .map(|s| {
                OutboundSa::new(&s.config(Direction::Outbound))
                    .with_context(|| format!("SA {:#x}", s.spi))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;

        let (plain_macs, esp_macs) = (
            (spec.src_mac.unwrap_or(INSIDE_GW_MAC), spec.dst_mac.unwrap_or(INSIDE_MAC)),
            (spec.src_mac.unwrap_or(OUTSIDE_GW_MAC), spec.dst_mac.unwrap_or(OUTSIDE_MAC)),
        );
        let mut templates = Vec::new();
        templates.try_reserve_exact(spec.flows as usize).context("flow templates")?;
        for f in 0..spec.flows {
            let t = f % spec.tunnels;
            let local = (local_host(f), local_port(f));
            let remote = (Tunnel(t).remote_host(), REMOTE_PORT);
            templates.push(match spec.dir {
                Dir::Enc => FlowTemplate::new(plain_macs, local, remote, t),
                Dir::Dec => {
                    let nth = f / spec.tunnels;
                    let sa = file.and_then(|l| l.get(t as usize));
                    let src = sa
                        .and_then(|s| s.match_src.as_ref())
                        .and_then(|p| host_in(p, nth))
                        .unwrap_or(remote.0);
                    let dst = sa
                        .and_then(|s| s.match_dst.as_ref())
                        .and_then(|p| host_in(p, nth))
                        .unwrap_or(local.0);
                    // The inner Ethernet header is not sent (ESP carries IP).
                    FlowTemplate::new(esp_macs, (src, REMOTE_PORT), (dst, local.1), t)
                }
            });
        }
        let filler: Vec<u8> = (0..MAX_FRAME).map(|j| (j % 251) as u8 ^ 0x5a).collect();
        let filler_sums =
            spec.sizes.round.iter().map(|&l| sum_words(&filler[..l - MIN_FRAME])).collect();
        Ok(Traffic {
            dir: spec.dir,
            sizes: spec.sizes.clone(),
            flows: spec.flows,
            tunnels: spec.tunnels,
            templates,
            filler,
            filler_sums,
            tx_sas,
            tx_specs,
            rx_specs,
            esp_macs,
        })
    }

    /// Whether packets are sealed with ESP before they are sent.
    pub fn sealed(&self) -> bool {
        !self.tx_sas.is_empty()
    }

    /// Each receiver's own inbound SAs (single writer), keyed by SPI, anti-replay off: the
    /// generator measures reordering itself and must see every packet.
    pub fn rx_table(&self) -> anyhow::Result<std::collections::HashMap<u32, InboundSa>> {
        let mut map = std::collections::HashMap::with_capacity(self.rx_specs.len());
        for s in &self.rx_specs {
            if map.contains_key(&s.spi) {
                continue;
            }
            let mut cfg = s.config(Direction::Inbound);
            cfg.replay_window = 0;
            cfg.lab_sequence_restart = false;
            map.insert(s.spi, InboundSa::new(&cfg).with_context(|| format!("SA {:#x}", s.spi))?);
        }
        Ok(map)
    }

    /// Largest frame on the wire, ESP overhead included.
    pub fn max_wire_frame(&self) -> usize {
        // Outer IPv6 (40) + UDP (8) + ESP header (8) + IV (16) + padding (15) + trailer
        // (2) + ICV (32): generous for every transform.
        self.sizes.max() + if self.sealed() { 128 } else { 0 }
    }

    /// The plaintext frame (enc) or inner IP packet (dec) of packet `size_idx` of the
    /// round, flow `flow`, written into `buf` (appended; `buf` should be empty). Returns the
    /// tunnel of the flow.
    #[inline]
    pub fn build<B: PacketBuf>(
        &self,
        buf: &mut B,
        flow: u32,
        size_idx: usize,
        stamp: &Stamp,
    ) -> Result<u32, BufError> {
        let (Some(t), Some(&frame_len), Some(&filler_sum)) = (
            self.templates.get(flow as usize),
            self.sizes.round.get(size_idx),
            self.filler_sums.get(size_idx),
        ) else {
            return Err(BufError::TooShort);
        };
        let skip = if self.sealed() { ETH } else { 0 };
        let out = buf.append(frame_len - skip)?;
        let (Some(hdr_out), Some(hdr_in)) = (out.get_mut(..HDR - skip), t.hdr.get(skip..)) else {
            return Err(BufError::TooShort);
        };
        hdr_out.copy_from_slice(hdr_in);
        let ip = ETH - skip;
        let udp = ip + 20;
        let ip_len = (frame_len - ETH) as u16;
        let udp_len = ip_len - 20;
        out[ip + 2..ip + 4].copy_from_slice(&ip_len.to_be_bytes());
        let ip_csum = !fold(u64::from(t.ip_sum) + u64::from(ip_len));
        out[ip + 10..ip + 12].copy_from_slice(&ip_csum.to_be_bytes());
        out[udp + 4..udp + 6].copy_from_slice(&udp_len.to_be_bytes());
        let stamp_sum = stamp.write(&mut out[udp + 8..]);
        let tail = frame_len - MIN_FRAME;
        if let (Some(dst), Some(src)) =
            (out.get_mut(udp + 8 + STAMP_LEN..), self.filler.get(..tail))
        {
            dst.copy_from_slice(src);
        }
        let sum = u64::from(t.udp_sum) + 2 * u64::from(udp_len) + stamp_sum + filler_sum;
        let udp_csum = match !fold(sum) {
            0 => 0xffff,
            c => c,
        };
        out[udp + 6..udp + 8].copy_from_slice(&udp_csum.to_be_bytes());
        Ok(t.tunnel)
    }

    /// Seals the inner packets of a burst (dec) with their tunnels' SAs in one engine call
    /// and puts the Ethernet header in front of each sealed one. `tunnels[i]` is the tunnel
    /// of `pkts[i]`; fragments (an SA file's small MTU) are appended to `extra`.
    pub fn seal<'w, B: PacketBuf, A: BufAlloc<B>>(
        &self,
        worker: &'w mut EspWorker,
        pkts: &mut [B],
        tunnels: &[u32],
        extra: &mut Vec<B>,
        alloc: &mut A,
        now: u64,
    ) -> &'w [Disposition] {
        let Some(first) = self.tx_sas.first() else {
            return &[];
        };
        let n = pkts.len().min(tunnels.len()).min(crate::dpdk::BURST_MAX);
        let mut refs: [&OutboundSa; crate::dpdk::BURST_MAX] = [first; crate::dpdk::BURST_MAX];
        for (r, &t) in refs.iter_mut().zip(&tunnels[..n]) {
            *r = self.tx_sas.get(t as usize % self.tx_sas.len()).unwrap_or(first);
        }
        let before = extra.len();
        let d = esp::encap_burst(worker, &refs[..n], &mut pkts[..n], extra, alloc, now);
        for (p, d) in pkts.iter_mut().zip(d) {
            if *d == Disposition::Forward {
                self.add_l2(p);
            }
        }
        for p in &mut extra[before..] {
            self.add_l2(p);
        }
        d
    }

    /// Puts the ESP frame's Ethernet header in front of a sealed IP packet.
    fn add_l2<B: PacketBuf>(&self, p: &mut B) {
        let ethertype: u16 =
            if p.data().first().is_some_and(|b| b >> 4 == 6) { 0x86dd } else { 0x0800 };
        if let Ok(h) = p.prepend(ETH) {
            h[0..6].copy_from_slice(&self.esp_macs.1);
            h[6..12].copy_from_slice(&self.esp_macs.0);
            h[12..14].copy_from_slice(&ethertype.to_be_bytes());
        }
    }

    /// Writes the sealing SAs as a `ferrogate esp` SA file (mode 0600: it holds keys), so
    /// that `ferrogate esp decap --sa FILE` decrypts what was sent.
    pub fn write_sa_file(&self, path: &Path, keyword: &str) -> anyhow::Result<()> {
        // The derived ones only: `--rx-sa` SAs follow them in `rx_specs`.
        let specs = if self.sealed() { &self.tx_specs[..] } else { &self.rx_specs[..] };
        let specs = specs.get(..self.tunnels as usize).unwrap_or(specs);
        let mut text = zeroize::Zeroizing::new(String::from(
            "# Written by `ferrogate gen --write-sa`: lab keys, derived from the tunnel index.\n",
        ));
        for s in specs {
            let cfg = s.config(Direction::Outbound);
            let hex = |b: &[u8]| {
                b.iter().fold(String::new(), |mut h, x| {
                    let _ = write!(h, "{x:02x}");
                    h
                })
            };
            let _ = write!(
                text,
                "\n[[sa]]\nspi = {:#010x}\ntransform = \"{keyword}\"\nenc_key = \"{}\"\n",
                s.spi,
                zeroize::Zeroizing::new(hex(cfg.keys.enc())).as_str()
            );
            if !cfg.keys.auth().is_empty() {
                let _ = writeln!(
                    text,
                    "auth_key = \"{}\"",
                    zeroize::Zeroizing::new(hex(cfg.keys.auth())).as_str()
                );
            }
            let _ = write!(
                text,
                "local = \"{}\"\nremote = \"{}\"\nmtu = {}\n",
                s.local, s.remote, s.mtu
            );
        }
        let mut f = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("creating {}", path.display()))?
        };
        f.write_all(text.as_bytes()).with_context(|| format!("writing {}", path.display()))
    }
}

/// One sender's share of the traffic: flows `first, first + step, ...` in turn, the round
/// of sizes in turn, a sequence number per flow. Allocates only when made.
#[derive(Debug)]
pub struct TxStream {
    first: u32,
    step: u32,
    /// Next sequence number of each of this stream's flows.
    seqs: Vec<u64>,
    /// Packets built so far.
    k: u64,
    run: u16,
    round: usize,
}

impl TxStream {
    /// Stream `index` of `count` (flows are dealt round-robin); `run` tags its stamps.
    pub fn new(traffic: &Traffic, index: u32, count: u32, run: u16) -> TxStream {
        let count = count.max(1);
        let own = traffic.flows.saturating_sub(index).div_ceil(count) as usize;
        TxStream {
            first: index,
            step: count,
            seqs: vec![0; own],
            k: 0,
            run,
            round: traffic.sizes.round.len().max(1),
        }
    }

    /// Whether this stream has flows at all (more streams than flows leaves some empty).
    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    /// Builds the next packet into `buf` (see [`Traffic::build`]); returns its tunnel.
    #[inline]
    pub fn next<B: PacketBuf>(
        &mut self,
        traffic: &Traffic,
        buf: &mut B,
        ts_ns: u64,
    ) -> Result<u32, BufError> {
        let n = self.seqs.len() as u64;
        if n == 0 {
            return Err(BufError::TooShort);
        }
        let j = (self.k % n) as usize;
        let flow = self.first + j as u32 * self.step;
        let size_idx = (self.k % self.round as u64) as usize;
        let seq = self.seqs[j];
        let stamp = Stamp { run: self.run, flow, seq, ts_ns };
        let t = traffic.build(buf, flow, size_idx, &stamp)?;
        self.seqs[j] = seq + 1;
        self.k += 1;
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esp_tool::sa_file::parse_transform;
    use dataplane::buf::VecBuf;
    use dataplane::wire::{Ipv4Packet, UdpPacket};

    fn spec(dir: Dir, sizes: &str, flows: u32, tunnels: u32) -> TrafficSpec {
        TrafficSpec {
            dir,
            sizes: SizeMix::parse(sizes).unwrap(),
            flows,
            tunnels,
            sas: SaSource::Derived { transform: parse_transform("aes128gcm16").unwrap() },
            rx_sas: Vec::new(),
            src_mac: None,
            dst_mac: None,
        }
    }

    #[test]
    fn sizes_parse_and_refuse_what_cannot_carry_a_stamp() {
        assert_eq!(SizeMix::parse("imix").unwrap().round.len(), 12);
        assert_eq!(SizeMix::parse("64, 9000").unwrap().round, [64, 9000]);
        for bad in ["63", "9001", "", "x", "64,,128"] {
            assert!(SizeMix::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn plaintext_packets_have_valid_checksums_and_stamps() {
        let t = Traffic::new(&spec(Dir::Enc, "64,333,1518,9000", 10, 3)).unwrap();
        let mut s = TxStream::new(&t, 0, 1, 7);
        for k in 0..40u64 {
            let mut b = VecBuf::with_room(128, 9200);
            let tunnel = s.next(&t, &mut b, 1000 + k).unwrap();
            let f = b.data();
            assert_eq!(f.len(), [64, 333, 1518, 9000][k as usize % 4]);
            let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
            assert!(ip.verify_checksum());
            let udp = UdpPacket::new_checked(ip.payload()).unwrap();
            assert!(udp.verify_checksum_v4(&ip.src_addr(), &ip.dst_addr()), "packet {k}");
            let st = Stamp::read(udp.payload()).unwrap();
            assert_eq!((st.flow, st.seq, st.ts_ns, st.run), ((k % 10) as u32, k / 10, 1000 + k, 7));
            assert_eq!(tunnel, st.flow % 3);
            assert_eq!(ip.dst_addr(), Tunnel(tunnel).remote_host());
        }
    }

    #[test]
    fn streams_share_the_flows_out() {
        let t = Traffic::new(&spec(Dir::Enc, "64", 5, 1)).unwrap();
        let lens: Vec<usize> = (0..3).map(|i| TxStream::new(&t, i, 3, 0).seqs.len()).collect();
        assert_eq!(lens, [2, 2, 1]);
        assert!(TxStream::new(&t, 6, 8, 0).is_empty());
    }

    #[test]
    fn flows_must_cover_the_tunnels() {
        assert!(Traffic::new(&spec(Dir::Enc, "64", 2, 3)).is_err());
        assert!(Traffic::new(&spec(Dir::Enc, "64", 1, 0)).is_err());
    }

    #[test]
    fn hosts_of_prefixes() {
        let p = |s: &str| Prefix::parse(s).unwrap();
        assert_eq!(host_in(&p("10.9.0.0/24"), 0), Some(Ipv4Addr::new(10, 9, 0, 1)));
        assert_eq!(host_in(&p("10.9.0.0/24"), 254), Some(Ipv4Addr::new(10, 9, 0, 1)));
        assert_eq!(host_in(&p("10.9.0.7/32"), 5), Some(Ipv4Addr::new(10, 9, 0, 7)));
        assert_eq!(host_in(&p("10.9.0.6/31"), 1), Some(Ipv4Addr::new(10, 9, 0, 7)));
        assert_eq!(host_in(&p("0.0.0.0/0"), 0), Some(Ipv4Addr::new(0, 0, 0, 1)));
        assert_eq!(host_in(&p("2001:db8::/64"), 0), None);
    }
}

//! `ferrogate esp encap|decap`: applies SAs to every packet of a capture, offline.
//!
//! Users decrypt captures with it (`decap`, with the keys from a key log) and build
//! benchmark traffic (`encap`). It runs the same ESP engine as the appliance, one packet per
//! burst so that every output packet keeps the link header of its input packet. Malformed
//! packets are reported by number and counted; nothing in a capture can crash it.

pub mod sa_file;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use dataplane::buf::{PacketBuf, VecBuf};
use dataplane::esp::{self, ControlReason, Disposition, EspWorker, VecBufAlloc};
use dataplane::sa::{Direction, DropReason, InboundSa, OutboundSa};
use dataplane::wire::{Ipv4Packet, Ipv6Packet};

use crate::pcap::{self, LinkType};
use sa_file::SaSpec;

/// Which way the capture is processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Op {
    /// Plaintext IP packets in, ESP out.
    Encap,
    /// ESP in, plaintext out.
    Decap,
}

/// What happens to packets no SA applies to (non-IP frames, IKE, unmatched selectors,
/// unknown SPIs in decap mode are counted as `no-sa` drops instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Unmatched {
    /// Copy them to the output unchanged.
    Pass,
    /// Leave them out.
    Drop,
}

/// Arguments of `ferrogate esp`.
#[derive(Debug, Clone, clap::Args)]
pub struct EspArgs {
    /// encap: IP packets → ESP; decap: ESP → IP packets.
    #[arg(value_enum)]
    pub op: Op,
    /// SA file (TOML, one [[sa]] table per SA; see README "ESP tool").
    #[arg(long = "sa", value_name = "SA_FILE")]
    pub sa_file: PathBuf,
    /// Input capture (pcap or pcapng).
    #[arg(value_name = "IN.pcap")]
    pub input: PathBuf,
    /// Output capture (pcap, nanosecond timestamps, same link type as the input).
    #[arg(value_name = "OUT.pcap")]
    pub output: PathBuf,
    /// Packets no SA applies to.
    #[arg(long, value_enum, default_value = "pass")]
    pub unmatched: Unmatched,
    /// Print at most this many per-packet problem lines (the counts are always complete).
    #[arg(long, default_value_t = 20)]
    pub max_reports: usize,
}

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub read: u64,
    pub written: u64,
    /// Packets transformed by an SA (including fragments it produced).
    pub transformed: u64,
    pub passed: u64,
    pub dropped: u64,
    pub drops: Vec<(DropReason, u64)>,
    /// Non-ESP packets seen in decap mode (IKE, keepalives, other traffic).
    pub not_esp: u64,
    /// Per-packet problem lines ("packet 7: auth-failed (SPI 0x1001)").
    pub reports: Vec<String>,
    /// Per SA: SPI, packets, bytes.
    pub per_sa: Vec<(u32, u64, u64)>,
}

impl Summary {
    fn drop(&mut self, n: u64, reason: DropReason, spi: Option<u32>, max_reports: usize) {
        self.dropped += 1;
        match self.drops.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, c)) => *c += 1,
            None => self.drops.push((reason, 1)),
        }
        if self.reports.len() < max_reports {
            let mut line = format!("packet {n}: dropped: {}", reason.name());
            if let Some(spi) = spi.filter(|&s| s != 0) {
                let _ = write!(line, " (SPI {spi:#010x})");
            }
            self.reports.push(line);
        }
    }

    /// Human-readable report.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for r in &self.reports {
            let _ = writeln!(s, "{r}");
        }
        let _ = writeln!(
            s,
            "packets: read {}, written {}, transformed {}, passed unchanged {}, dropped {}",
            self.read, self.written, self.transformed, self.passed, self.dropped
        );
        if self.not_esp > 0 {
            let _ = writeln!(s, "not ESP: {}", self.not_esp);
        }
        for (reason, n) in &self.drops {
            let _ = writeln!(s, "  drop {:<20} {n}", reason.name());
        }
        for (spi, p, b) in &self.per_sa {
            let _ = writeln!(s, "  SA {spi:#010x}: {p} packets, {b} bytes");
        }
        s
    }
}

enum Sas {
    Out(Vec<(SaSpec, OutboundSa)>),
    In(HashMap<u32, InboundSa>),
}

/// Runs the tool.
pub fn run(args: &EspArgs) -> Result<Summary> {
    let specs = sa_file::load(&args.sa_file)?;
    let sas = match args.op {
        Op::Encap => Sas::Out(
            specs
                .into_iter()
                .map(|s| {
                    let sa = OutboundSa::new(&s.config(Direction::Outbound))
                        .with_context(|| format!("SA {:#x}", s.spi))?;
                    Ok((s, sa))
                })
                .collect::<Result<_>>()?,
        ),
        Op::Decap => Sas::In(
            specs
                .iter()
                .map(|s| {
                    let sa = InboundSa::new(&s.config(Direction::Inbound))
                        .with_context(|| format!("SA {:#x}", s.spi))?;
                    Ok((s.spi, sa))
                })
                .collect::<Result<_>>()?,
        ),
    };
    let input =
        File::open(&args.input).with_context(|| format!("cannot open {}", args.input.display()))?;
    let mut reader = pcap::Reader::new(BufReader::new(input))
        .with_context(|| format!("{}", args.input.display()))?;
    let mut writer: Option<pcap::Writer<BufWriter<File>>> = None;
    let mut worker = EspWorker::new();
    let mut summary = Summary::default();
    let mut extra: Vec<VecBuf> = Vec::new();
    let mut out_link = None;

    while let Some(rec) =
        reader.next_record().with_context(|| format!("{}", args.input.display()))?
    {
        summary.read += 1;
        let n = summary.read;
        if writer.is_none() {
            let f = File::create(&args.output)
                .with_context(|| format!("cannot create {}", args.output.display()))?;
            writer = Some(pcap::Writer::new(BufWriter::new(f), rec.link)?);
            out_link = Some(rec.link);
        }
        let w = writer.as_mut().expect("created above");
        if Some(rec.link) != out_link {
            // One output file has one link type; pcapng inputs may mix them.
            summary.drop(n, DropReason::Malformed, None, args.max_reports);
            continue;
        }
        let Some(off) = pcap::ip_offset(rec.link, &rec.data).filter(|&o| o < rec.data.len()) else {
            pass_or_drop(args, &mut summary, w, rec.ts_ns, &rec.data)?;
            continue;
        };
        let (l2, ip) = rec.data.split_at(off);
        let mut pkt = [VecBuf::from_slice(ip)];
        extra.clear();
        let (disposition, spi) = match &sas {
            Sas::Out(list) => {
                let Some((src, dst)) = ip_addrs(ip) else {
                    summary.drop(n, DropReason::Malformed, None, args.max_reports);
                    continue;
                };
                let Some((_, sa)) = list.iter().find(|(spec, _)| spec.matches(src, dst)) else {
                    pass_or_drop(args, &mut summary, w, rec.ts_ns, &rec.data)?;
                    continue;
                };
                let d = esp::encap_burst(
                    &mut worker,
                    &[sa],
                    &mut pkt,
                    &mut extra,
                    &mut VecBufAlloc,
                    rec.ts_ns,
                )[0];
                (d, Some(sa.spi()))
            }
            Sas::In(map) => {
                let r = esp::decap_burst(
                    &mut worker,
                    &mut pkt,
                    |spi| map.get(&spi),
                    &mut VecBufAlloc,
                    rec.ts_ns,
                )[0];
                (r.disposition, Some(r.spi))
            }
        };
        match disposition {
            Disposition::Forward => {
                summary.transformed += 1;
                write_ip(w, rec.link, l2, rec.ts_ns, pkt[0].data(), &mut summary)?;
                for e in &extra {
                    summary.transformed += 1;
                    write_ip(w, rec.link, l2, rec.ts_ns, e.data(), &mut summary)?;
                }
            }
            Disposition::Drop(reason) => summary.drop(n, reason, spi, args.max_reports),
            Disposition::ToControl(reason) => {
                if reason == ControlReason::NotEsp || reason == ControlReason::Ike {
                    summary.not_esp += 1;
                }
                pass_or_drop(args, &mut summary, w, rec.ts_ns, &rec.data)?;
            }
            Disposition::IcmpError => {
                summary.drop(n, DropReason::TooBig, spi, args.max_reports);
            }
            // A fragment held for reassembly: the datagram comes out with its last fragment.
            Disposition::Consumed => {}
        }
    }
    if let Some(w) = writer {
        w.into_inner()?;
    } else {
        // An empty capture still gives a valid (empty) output file.
        pcap::Writer::new(BufWriter::new(File::create(&args.output)?), LinkType::Raw)?
            .into_inner()?;
    }
    summary.per_sa = match &sas {
        Sas::Out(list) => list
            .iter()
            .map(|(_, sa)| (sa.spi(), sa.counters().packets.get(), sa.counters().bytes.get()))
            .collect(),
        Sas::In(map) => {
            let mut v: Vec<_> = map
                .values()
                .map(|sa| (sa.spi(), sa.counters().packets.get(), sa.counters().bytes.get()))
                .collect();
            v.sort_unstable();
            v
        }
    };
    Ok(summary)
}

fn pass_or_drop(
    args: &EspArgs,
    summary: &mut Summary,
    w: &mut pcap::Writer<BufWriter<File>>,
    ts: u64,
    frame: &[u8],
) -> Result<()> {
    if args.unmatched == Unmatched::Pass {
        w.write(ts, frame)?;
        summary.passed += 1;
        summary.written += 1;
    }
    Ok(())
}

fn write_ip(
    w: &mut pcap::Writer<BufWriter<File>>,
    link: LinkType,
    l2: &[u8],
    ts: u64,
    ip: &[u8],
    summary: &mut Summary,
) -> Result<()> {
    let mut frame = Vec::with_capacity(l2.len() + ip.len());
    frame.extend_from_slice(l2);
    if let Some(&first) = ip.first() {
        // The IP version may change (4-in-6 and 6-in-4 tunnels): fix the link header's type.
        pcap::set_link_ip_version(link, &mut frame, first >> 4);
    }
    frame.extend_from_slice(ip);
    w.write(ts, &frame)?;
    summary.written += 1;
    Ok(())
}

fn ip_addrs(ip: &[u8]) -> Option<(IpAddr, IpAddr)> {
    match ip.first()? >> 4 {
        4 => {
            let p = Ipv4Packet::new_checked(ip).ok()?;
            Some((p.src_addr().into(), p.dst_addr().into()))
        }
        6 => {
            let p = Ipv6Packet::new_checked(ip).ok()?;
            Some((p.src_addr().into(), p.dst_addr().into()))
        }
        _ => None,
    }
}

//! Outbound: IP packet in, outer ESP packet out.

use core::{mem, ptr};

use crate::buf::PacketBuf;
use crate::crypto::{CryptoOp, OpStatus};
use crate::sa::{
    DfPolicy, DropReason, DscpPolicy, FragPolicy, IPV4_HDR, IPV6_HDR, Mode, OutboundSa, SaEvent,
    SeqBlock, UDP_HDR,
};
use crate::wire::esp as wire_esp;
use crate::wire::{EspPacket, IpProtocol, Ipv4Packet, Ipv6Packet, UdpPacket, checksum};

use super::ip::{self, IpInfo};
use super::{BufAlloc, Disposition, EspWorker, Job, Slot, WorkerStats, ecn, frag, icmp, recycle};

/// ESP header: SPI and sequence number (RFC 4303 2).
const ESP_HDR: usize = 8;
/// Pad length and next header bytes of the trailer.
const TRAILER: usize = 2;
/// The encrypted region is padded to a multiple of this even where the cipher needs less:
/// a partial last AES block costs 15–30 ns per packet on these CPUs (DESIGN-NOTES 3), more
/// than the bytes. It is a multiple of every transform's block length (4 or 16).
const PAD_ALIGN: usize = 16;
/// Marks an extra buffer whose preparation or crypto failed, to be removed.
const FAILED: usize = usize::MAX;

/// Encapsulates a burst. `pkts[i]` is an IP packet (no L2 header) to send on `sas[i]`; on
/// `Forward` it has become the outer packet. Packets fragmented before encryption or after
/// it produce further packets, appended to `extra` (the caller may pass a non-empty
/// `extra`, whose existing entries are left alone); [`EspWorker::extra_parents`] says which
/// packet each belongs to: sent right after it, they keep the SA's sequence order. `alloc` makes the
/// buffers for them. `now` is the caller's clock in nanoseconds.
///
/// One `seal_burst` call covers the whole burst. Returns one [`Disposition`] per packet.
pub fn encap_burst<'w, B: PacketBuf, A: BufAlloc<B>>(
    w: &'w mut EspWorker,
    sas: &[&OutboundSa],
    pkts: &mut [B],
    extra: &mut Vec<B>,
    alloc: &mut A,
    now: u64,
) -> &'w [Disposition] {
    let EspWorker {
        crypto,
        events,
        stats,
        dispositions,
        jobs,
        extra_jobs,
        extra_sa,
        ops,
        statuses,
        ..
    } = w;
    dispositions.clear();
    dispositions.resize(pkts.len(), Disposition::Drop(DropReason::NoSa));
    jobs.clear();
    extra_jobs.clear();
    extra_sa.clear();
    let extra_base = extra.len();

    // Prepare the caller's packets. Fragmenting before encryption adds extra buffers; they
    // take the sequence numbers right after their first fragment's, before the burst's next
    // packet, so the SA's numbers follow the order on the wire (see `extra_parents`).
    let mut seqs = SeqRun::default();
    let mut run_end = 0;
    for (i, pkt) in pkts.iter_mut().enumerate() {
        let Some(&sa) = sas.get(i) else {
            stats.drops.count(DropReason::NoSa);
            continue;
        };
        if i >= run_end {
            run_end = i + sas[i..].iter().take_while(|s| ptr::eq(**s, sa)).count();
        }
        seqs.enter(sa, run_end - i);
        let before = extra.len();
        let prefrag = Some((&mut *extra, &mut *alloc));
        let r = prepare(sa, pkt, now, events, stats, &mut seqs, prefrag);
        extra_sa.resize(extra.len() - extra_base, i);
        match r {
            Ok(mut job) => {
                job.slot = Slot::Main(i);
                job.sa = i;
                jobs.push(job);
            }
            Err(d) => dispositions[i] = d,
        }
        let made = extra.len();
        for k in before..made {
            seqs.enter(sa, (made - k) + (run_end - i - 1));
            let none = None::<(&mut Vec<B>, &mut A)>;
            match prepare(sa, &mut extra[k], now, events, stats, &mut seqs, none) {
                Ok(mut job) => {
                    job.slot = Slot::Extra(k);
                    job.sa = i;
                    extra_jobs.push(job);
                }
                Err(_) => extra_sa[k - extra_base] = FAILED,
            }
        }
    }
    seqs.finish();
    jobs.append(extra_jobs);

    // One crypto call for the burst. Jobs are in buffer order: the caller's, then extras.
    {
        let mut burst: Vec<CryptoOp<'_>> = recycle(mem::take(ops));
        let mut next = jobs.iter().peekable();
        for (i, pkt) in pkts.iter_mut().enumerate() {
            if let Some(job) = next.next_if(|j| matches!(j.slot, Slot::Main(k) if k == i)) {
                burst.push(op(sas[job.sa], pkt, job));
            }
        }
        for (j, pkt) in extra.iter_mut().enumerate() {
            if let Some(job) = next.next_if(|jb| matches!(jb.slot, Slot::Extra(k) if k == j)) {
                burst.push(op(sas[job.sa], pkt, job));
            }
        }
        crypto.seal_burst(&mut burst);
        statuses.clear();
        statuses.extend(burst.iter().map(|o| o.status));
        *ops = recycle(burst);
    }

    // Finish: count, fragment after encryption where planned. Packets and bytes are added
    // once per run of one SA (a locked add: several workers may share an outbound SA).
    let mut counted: Option<(&OutboundSa, u64, u64)> = None;
    let flush = |c: Option<(&OutboundSa, u64, u64)>| {
        if let Some((sa, packets, bytes)) = c {
            sa.counters().packets.add_shared(packets);
            sa.counters().bytes.add_shared(bytes);
        }
    };
    for (job, &status) in jobs.iter().zip(statuses.iter()) {
        let sa = sas[job.sa];
        let ok = status == OpStatus::Ok;
        if !ok {
            sa.counters().drops.count(DropReason::CryptoError);
        }
        match job.slot {
            Slot::Main(i) => {
                if !ok {
                    dispositions[i] = Disposition::Drop(DropReason::CryptoError);
                    continue;
                }
                let pkt = &mut pkts[i];
                let res =
                    if job.frag_after { fragment_outer(sa, pkt, alloc, extra) } else { Ok(0) };
                extra_sa.resize(extra.len() - extra_base, i);
                match res {
                    Ok(n) => {
                        stats.fragments_out.add(n as u64);
                        let len = job.inner_len as u64;
                        match &mut counted {
                            Some((cur, p, b)) if ptr::eq(*cur, sa) => {
                                *p += 1;
                                *b += len;
                            }
                            other => flush(other.replace((sa, 1, len))),
                        }
                        dispositions[i] = Disposition::Forward;
                    }
                    Err(r) => {
                        sa.counters().drops.count(r);
                        dispositions[i] = Disposition::Drop(r);
                    }
                }
            }
            Slot::Extra(j) => {
                if ok {
                    stats.fragments_out.add(1);
                } else {
                    extra_sa[j - extra_base] = FAILED;
                }
            }
        }
    }
    flush(counted);
    if extra_sa.contains(&FAILED) {
        let mut idx = 0;
        extra.retain(|_| {
            let keep = idx < extra_base || extra_sa.get(idx - extra_base) != Some(&FAILED);
            idx += 1;
            keep
        });
        extra_sa.retain(|&p| p != FAILED);
    }
    dispositions
}

fn op<'a, B: PacketBuf>(sa: &'a OutboundSa, pkt: &'a mut B, job: &Job) -> CryptoOp<'a> {
    let esp = &mut pkt.data_mut()[job.esp_off..job.esp_end];
    CryptoOp::new(&sa.cipher, esp, (job.seq >> 32) as u32, sa.esn)
}

/// Sizes that follow from the SA and the packet's header.
struct Layout {
    /// Bytes before the ESP header in the output (outer IP (+UDP), or the packet's own
    /// header (+UDP) in transport mode).
    hdr_out: usize,
    iv: usize,
    icv: usize,
    /// Largest payload (inner packet in tunnel mode, upper layer in transport) that fits.
    max_payload: usize,
}

fn layout(sa: &OutboundSa, info: &IpInfo) -> Layout {
    let t = sa.cipher.transform();
    let udp = if sa.udp.is_some() { UDP_HDR } else { 0 };
    let hdr_out = match sa.mode {
        Mode::Tunnel => usize::from(sa.outer_len),
        Mode::Transport => info.hdr_len + udp,
    };
    let (iv, icv) = (t.iv_len(), t.icv_len());
    let room = usize::from(sa.mtu).saturating_sub(hdr_out + ESP_HDR + iv + icv);
    let max_payload = (room & !(PAD_ALIGN - 1)).saturating_sub(TRAILER);
    Layout { hdr_out, iv, icv, max_payload }
}

type Prefrag<'x, B, A> = Option<(&'x mut Vec<B>, &'x mut A)>;

/// The sequence numbers of the current run of consecutive packets on one SA: one atomic
/// reservation per run (the common burst is one tunnel's traffic), one per packet where
/// SAs alternate.
#[derive(Default)]
struct SeqRun<'s> {
    sa: Option<&'s OutboundSa>,
    block: Option<SeqBlock>,
    /// Packets left in the run, the current one included.
    left: usize,
    /// Bytes and packets admitted by the SA's lifetime in this run, added to its shared
    /// counters when the run ends (one locked add per run: several workers may use an
    /// outbound SA).
    admitted: (u64, u64),
}

impl<'s> SeqRun<'s> {
    /// Moves on to a packet of `sa` with `left` packets (itself included) in its run.
    fn enter(&mut self, sa: &'s OutboundSa, left: usize) {
        if !self.sa.is_some_and(|cur| ptr::eq(cur, sa)) {
            self.finish();
            self.sa = Some(sa);
        }
        self.left = left;
    }

    /// The current packet's sequence number (`None`: the space ran out).
    fn take(&mut self, events: &mut Vec<SaEvent>) -> Option<u64> {
        let sa = self.sa?;
        let block = self.block.get_or_insert(SeqBlock::EMPTY);
        sa.take_seq(block, self.left, events)
    }

    /// Ends the run: numbers reserved for packets that were dropped go back if they can,
    /// and the run's lifetime usage is published.
    fn finish(&mut self) {
        if let Some(sa) = self.sa.take() {
            if let Some(block) = self.block.take() {
                sa.release_seq(block);
            }
            sa.lifetime.flush_run(&mut self.admitted);
        }
    }
}

/// Checks one packet and writes everything but the crypto: outer header, ESP header,
/// padding and trailer; reserves IV and ICV.
fn prepare<B: PacketBuf, A: BufAlloc<B>>(
    sa: &OutboundSa,
    pkt: &mut B,
    now: u64,
    events: &mut Vec<SaEvent>,
    stats: &WorkerStats,
    seqs: &mut SeqRun<'_>,
    prefrag: Prefrag<'_, B, A>,
) -> Result<Job, Disposition> {
    let drop = |r: DropReason| {
        sa.counters().drops.count(r);
        Disposition::Drop(r)
    };
    if sa.lifetime.is_hard_expired(now) {
        return Err(drop(DropReason::SaExpired));
    }
    let mut info = ip::parse(pkt.data(), false).ok_or_else(|| drop(DropReason::Malformed))?;
    pkt.trim(pkt.len() - info.total_len).map_err(|_| drop(DropReason::Malformed))?;
    if sa.mode == Mode::Transport && info.v6 != sa.outer_v6 {
        return Err(drop(DropReason::FamilyMismatch));
    }
    let mut lay = layout(sa, &info);
    let payload_len = |info: &IpInfo| match sa.mode {
        Mode::Tunnel => info.total_len,
        Mode::Transport => info.total_len - info.hdr_len,
    };
    let mut frag_after = false;
    if payload_len(&info) > lay.max_payload {
        let may_fragment = match sa.df {
            DfPolicy::Clear => true,
            DfPolicy::Set => false,
            DfPolicy::Copy => !info.df,
        };
        // What the inner sender should use as its path MTU.
        let host_mtu = match sa.mode {
            Mode::Tunnel => lay.max_payload,
            Mode::Transport => lay.max_payload + info.hdr_len,
        };
        let v6_can_refuse = info.v6 && host_mtu >= icmp::IPV6_MIN_MTU;
        if !may_fragment && (!info.v6 || v6_can_refuse) {
            return Err(too_big(sa, pkt, &info, host_mtu, stats));
        }
        let prefrag_ok = sa.mode == Mode::Tunnel
            && sa.frag == FragPolicy::BeforeEncryption
            && !info.v6
            && !info.df
            && info.hdr_len == IPV4_HDR;
        match prefrag {
            Some((out, alloc)) if prefrag_ok => {
                frag::fragment_v4(pkt, &info, lay.max_payload, alloc, out).map_err(drop)?;
                info = ip::parse(pkt.data(), false).ok_or_else(|| drop(DropReason::Malformed))?;
                lay = layout(sa, &info);
            }
            _ => frag_after = true,
        }
    }

    let inner_len = info.total_len;
    let mut payload = payload_len(&info);
    let tfc = if sa.mode == Mode::Tunnel && usize::from(sa.tfc_pad_to) > payload {
        usize::from(sa.tfc_pad_to).min(lay.max_payload).saturating_sub(payload)
    } else {
        0
    };
    payload += tfc;
    let region = (payload + TRAILER).next_multiple_of(PAD_ALIGN);
    let pad = region - payload - TRAILER;
    let esp_len = ESP_HDR + lay.iv + region + lay.icv;
    let out_len = lay.hdr_out + esp_len;
    let head = match sa.mode {
        Mode::Tunnel => lay.hdr_out + ESP_HDR + lay.iv,
        Mode::Transport => lay.hdr_out - info.hdr_len + ESP_HDR + lay.iv,
    };
    let tail = tfc + pad + TRAILER + lay.icv;
    if pkt.headroom() < head || pkt.tailroom() < tail || out_len > usize::from(u16::MAX) {
        return Err(drop(DropReason::NoBuffer));
    }
    let dir = crate::sa::Direction::Outbound;
    if !sa.lifetime.admit_run(now, inner_len as u64, &mut seqs.admitted, sa.spi, dir, events) {
        return Err(drop(DropReason::SaExpired));
    }
    let seq = seqs.take(events).ok_or_else(|| drop(DropReason::SequenceOverflow))?;

    let next_header = match sa.mode {
        Mode::Tunnel if info.v6 => IpProtocol::Ipv6,
        Mode::Tunnel => IpProtocol::IPV4,
        Mode::Transport => info.proto,
    };
    let inner_tos = info.tos;
    // Trailer: TFC padding (zeros), padding 1, 2, 3, ... (RFC 4303 2.4), pad length, next
    // header; the ICV bytes are the engine's.
    {
        let t = pkt.append(tail).map_err(|_| drop(DropReason::NoBuffer))?;
        let (tfc_bytes, rest) = t.split_at_mut(tfc);
        tfc_bytes.fill(0);
        wire_esp::write_trailer(&mut rest[..pad + TRAILER], next_header)
            .map_err(|_| drop(DropReason::Malformed))?;
    }
    pkt.prepend(head).map_err(|_| drop(DropReason::NoBuffer))?;
    let d = pkt.data_mut();
    match sa.mode {
        Mode::Tunnel => write_outer(sa, d, out_len, inner_tos, &info, frag_after, seq),
        Mode::Transport => {
            d.copy_within(head..head + info.hdr_len, 0);
            let proto = if sa.udp.is_some() { IpProtocol::Udp } else { IpProtocol::Esp };
            ip::set_next_header(d, info.nh_at, proto);
            // `out_len` fits 16 bits (checked above).
            if info.v6 {
                Ipv6Packet::new_unchecked(&mut *d).set_payload_len((out_len - IPV6_HDR) as u16);
            } else {
                let mut p = Ipv4Packet::new_unchecked(&mut d[..info.hdr_len]);
                p.set_total_len(out_len as u16);
                if frag_after {
                    p.set_dont_frag(false);
                }
                p.fill_checksum();
            }
            if let Some((sp, dp)) = sa.udp {
                write_udp(&mut d[info.hdr_len..], sp, dp, out_len - info.hdr_len);
            }
        }
    }
    let esp_off = lay.hdr_out;
    let mut esp = EspPacket::new_unchecked(&mut d[esp_off..]);
    esp.set_spi(sa.spi);
    // The low 32 bits go on the wire; ESN's high half only enters the ICV (RFC 4304).
    esp.set_sequence_number(seq as u32);
    Ok(Job {
        slot: Slot::Main(0),
        sa: 0,
        esp_off,
        esp_end: out_len,
        seq,
        inner_len,
        frag_after,
        ecn: 0,
        v6: info.v6,
        hdr_len: info.hdr_len,
        nh_at: info.nh_at,
        udp_src: None,
    })
}

/// Copies the template and patches the per-packet fields of the outer header.
fn write_outer(
    sa: &OutboundSa,
    d: &mut [u8],
    out_len: usize,
    inner_tos: u8,
    info: &IpInfo,
    frag_after: bool,
    seq: u64,
) {
    let hl = usize::from(sa.outer_len);
    d[..hl].copy_from_slice(&sa.outer[..hl]);
    let dscp = match sa.dscp {
        DscpPolicy::Copy => inner_tos >> 2,
        DscpPolicy::Set(v) => v,
    };
    let tos = (dscp << 2) | ecn::encap(inner_tos);
    let ip_len = if sa.outer_v6 {
        let mut p = Ipv6Packet::new_unchecked(&mut *d);
        p.set_traffic_class(tos);
        p.set_payload_len((out_len - IPV6_HDR) as u16);
        IPV6_HDR
    } else {
        let df = match sa.df {
            DfPolicy::Copy => info.df,
            DfPolicy::Set => true,
            DfPolicy::Clear => false,
        } && !frag_after;
        // The ESP sequence number's low bits: unique per SA among the last 65,536 packets
        // like a counter (RFC 6864), and with no shared per-SA state to write, whichever
        // worker sends the packet.
        let ident = seq as u16;
        let mut p = Ipv4Packet::new_unchecked(&mut *d);
        p.set_dscp_ecn(tos);
        p.set_total_len(out_len as u16);
        p.set_ident(ident);
        // The template's flags and offset are zero.
        p.set_dont_frag(df);
        // The template's sum plus the words patched here (RFC 1071: order does not matter).
        let flags = if df { 0x4000 } else { 0 };
        let sum =
            checksum::combine(&[sa.outer_csum_base, u16::from(tos), out_len as u16, ident, flags]);
        p.set_checksum(!sum);
        IPV4_HDR
    };
    if let Some((sp, dp)) = sa.udp {
        write_udp(&mut d[ip_len..], sp, dp, out_len - ip_len);
    }
}

/// RFC 3948 2.1: ESP-in-UDP, checksum zero (ESP protects the payload).
fn write_udp(d: &mut [u8], sp: u16, dp: u16, len: usize) {
    let mut u = UdpPacket::new_unchecked(d);
    u.set_src_port(sp);
    u.set_dst_port(dp);
    u.set_len(len as u16);
    u.set_checksum(0);
}

/// The packet does not fit and may not be fragmented: answer the inner sender with an ICMP
/// error when allowed, else drop.
fn too_big<B: PacketBuf>(
    sa: &OutboundSa,
    pkt: &mut B,
    info: &IpInfo,
    host_mtu: usize,
    stats: &WorkerStats,
) -> Disposition {
    sa.counters().drops.count(DropReason::TooBig);
    let sent = match (info.v6, sa.icmp_src_v4, sa.icmp_src_v6) {
        (false, Some(src), _) => icmp::frag_needed_v4(pkt, info, src, host_mtu),
        (true, _, Some(src)) => icmp::packet_too_big_v6(pkt, info, src, host_mtu),
        _ => false,
    };
    if sent {
        stats.icmp_errors.add(1);
        Disposition::IcmpError
    } else {
        Disposition::Drop(DropReason::TooBig)
    }
}

/// Fragments a sealed outer packet that exceeds the MTU; returns the number of extra
/// fragments.
fn fragment_outer<B: PacketBuf, A: BufAlloc<B>>(
    sa: &OutboundSa,
    pkt: &mut B,
    alloc: &mut A,
    extra: &mut Vec<B>,
) -> Result<usize, DropReason> {
    let info = ip::parse(pkt.data(), false).ok_or(DropReason::Malformed)?;
    let before = extra.len();
    let mtu = usize::from(sa.mtu);
    if info.v6 {
        frag::fragment_v6(pkt, &info, mtu, u32::from(sa.next_ident()), alloc, extra)?;
    } else {
        frag::fragment_v4(pkt, &info, mtu, alloc, extra)?;
    }
    Ok(extra.len() - before)
}

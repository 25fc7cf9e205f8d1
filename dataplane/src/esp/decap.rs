//! Inbound: outer IP packet in, inner (tunnel) or restored (transport) IP packet out.

use core::mem;
use core::net::{IpAddr, SocketAddr};
use core::sync::atomic::Ordering;

use crate::buf::PacketBuf;
use crate::crypto::{CryptoOp, OpStatus};
use crate::sa::{DropReason, IPV6_HDR, InboundSa, Mode, UDP_HDR};
use crate::wire::esp::{HEADER_LEN as ESP_HDR, Trailer};
use crate::wire::udp_encap::{self, Udp4500};
use crate::wire::{EspPacket, IpProtocol, Ipv4Packet, Ipv6Packet, UdpPacket};

use super::ip;
use super::reassembly::ReassemblyOutcome;
use super::{
    BufAlloc, ControlReason, DecapResult, Disposition, EspWorker, Job, Slot, ecn, natt, recycle,
};

/// Decapsulates a burst of outer IP packets (no L2 header). `lookup` maps an SPI to the
/// inbound SA (the SA table is the caller's). Fragmented outer packets are reassembled
/// (bounded, see [`super::Reassembler`]); `alloc` provides the buffer for a reassembled
/// datagram, which replaces the buffer of its last fragment in `pkts`. `now` is the caller's
/// clock in nanoseconds.
///
/// Replay is checked before the ICV (cheap, read-only) and again after it, and the window
/// advances only for authenticated packets. One `open_burst` call covers the whole burst.
/// Returns one [`DecapResult`] per packet.
///
/// On an SA with `lab_sequence_restart` (labs only, see [`crate::sa::SaConfig`]) a packet
/// left of the window at the first check is authenticated instead of dropped, and restarts
/// the window if it verifies and is still left of it at the second check.
pub fn decap_burst<'w, 's, B, A, F>(
    w: &'w mut EspWorker,
    pkts: &mut [B],
    mut lookup: F,
    alloc: &mut A,
    now: u64,
) -> &'w [DecapResult]
where
    B: PacketBuf,
    A: BufAlloc<B>,
    F: FnMut(u32) -> Option<&'s InboundSa>,
{
    let EspWorker {
        crypto,
        events,
        stats,
        reassembler,
        nat_t_port,
        results,
        jobs,
        ops,
        statuses,
        in_sas,
        ..
    } = w;
    results.clear();
    results.resize(
        pkts.len(),
        DecapResult {
            disposition: Disposition::Drop(DropReason::Malformed),
            spi: 0,
            udp_src: None,
        },
    );
    jobs.clear();
    let mut sas: Vec<&'s InboundSa> = recycle(mem::take(in_sas));
    let timed_out = reassembler.expire(now);
    for _ in 0..timed_out {
        stats.drops.count(DropReason::ReassemblyTimeout);
    }

    for (i, pkt) in pkts.iter_mut().enumerate() {
        let res = &mut results[i];
        let Some(mut info) = ip::parse(pkt.data(), true) else {
            stats.drops.count(DropReason::Malformed);
            continue;
        };
        if pkt.trim(pkt.len() - info.total_len).is_err() {
            stats.drops.count(DropReason::Malformed);
            continue;
        }
        if info.is_fragment {
            match reassembler.insert(now, pkt.data(), &info) {
                ReassemblyOutcome::Held => {
                    res.disposition = Disposition::Consumed;
                    continue;
                }
                ReassemblyOutcome::Dropped(r) => {
                    stats.drops.count(r);
                    res.disposition = Disposition::Drop(r);
                    continue;
                }
                ReassemblyOutcome::Complete(whole) => {
                    let Some(mut nb) = super::alloc_exact(alloc, whole.len()) else {
                        stats.drops.count(DropReason::NoBuffer);
                        res.disposition = Disposition::Drop(DropReason::NoBuffer);
                        continue;
                    };
                    nb.data_mut().copy_from_slice(&whole);
                    *pkt = nb;
                    stats.reassembled.add(1);
                    match ip::parse(pkt.data(), true) {
                        Some(whole_info) if !whole_info.is_fragment => info = whole_info,
                        _ => {
                            stats.drops.count(DropReason::ReassemblyInvalid);
                            res.disposition = Disposition::Drop(DropReason::ReassemblyInvalid);
                            continue;
                        }
                    }
                }
            }
        }
        // `ip::parse` checked the view: `hdr_len <= total_len == data.len()`.
        let data = pkt.data();
        let (esp_off, esp_end, udp_src) = match info.proto {
            IpProtocol::Esp => (info.hdr_len, info.total_len, None),
            IpProtocol::Udp => {
                let l4 = info.hdr_len;
                let seg = &data[l4..info.total_len];
                if seg.len() < UDP_HDR {
                    stats.drops.count(DropReason::Malformed);
                    continue;
                }
                // The ports first (a non-4500 datagram is not ours to judge), then the rest
                // of `check_len`.
                let udp = UdpPacket::new_unchecked(seg);
                if udp.dst_port() != *nat_t_port {
                    stats.not_esp.add(1);
                    res.disposition = Disposition::ToControl(ControlReason::NotEsp);
                    continue;
                }
                if udp.check_len().is_err() {
                    stats.drops.count(DropReason::Malformed);
                    continue;
                }
                match udp_encap::classify_udp4500(udp.payload()) {
                    Udp4500::Esp => {}
                    Udp4500::Keepalive => {
                        stats.nat_keepalives.add(1);
                        res.disposition = Disposition::ToControl(ControlReason::NatKeepalive);
                        continue;
                    }
                    Udp4500::Ike => {
                        stats.ike.add(1);
                        res.disposition = Disposition::ToControl(ControlReason::Ike);
                        continue;
                    }
                    Udp4500::Malformed => {
                        stats.drops.count(DropReason::Malformed);
                        continue;
                    }
                }
                // Same bytes `ip::parse` checked.
                let src: IpAddr = if info.v6 {
                    Ipv6Packet::new_unchecked(data).src_addr().into()
                } else {
                    Ipv4Packet::new_unchecked(data).src_addr().into()
                };
                let end = l4 + usize::from(udp.len());
                (l4 + UDP_HDR, end, Some(SocketAddr::new(src, udp.src_port())))
            }
            _ => {
                stats.not_esp.add(1);
                res.disposition = Disposition::ToControl(ControlReason::NotEsp);
                continue;
            }
        };
        let Ok(esp) = EspPacket::new_checked(&data[esp_off..esp_end]) else {
            stats.drops.count(DropReason::Malformed);
            continue;
        };
        let (spi, seq_lo) = (esp.spi(), esp.sequence_number());
        res.spi = spi;
        let Some(sa) = lookup(spi) else {
            stats.drops.count(DropReason::NoSa);
            res.disposition = Disposition::Drop(DropReason::NoSa);
            continue;
        };
        let drop = |r: DropReason| {
            sa.counters().drops.count(r);
            Disposition::Drop(r)
        };
        // ASA single-SA mode: a duplicate the peer keeps using is refused before any crypto.
        // `non_primary` sits next to `esn`, which every packet reads below: no extra line.
        if sa.non_primary.load(Ordering::Relaxed) {
            res.disposition = drop(DropReason::VpnOverlapConflict);
            continue;
        }
        if sa.lifetime.is_hard_expired(now) {
            res.disposition = drop(DropReason::SaExpired);
            continue;
        }
        let t = sa.cipher.transform();
        let region = (esp_end - esp_off).checked_sub(ESP_HDR + t.iv_len() + t.icv_len());
        if !region.is_some_and(|r| r >= 2 && r.is_multiple_of(t.block_len())) {
            res.disposition = drop(DropReason::Malformed);
            continue;
        }
        let seq = if sa.esn { sa.replay.infer_esn(seq_lo) } else { Some(u64::from(seq_lo)) };
        let Some(seq) = seq else {
            res.disposition = drop(DropReason::Replay);
            continue;
        };
        if let Err(e) = sa.replay.check(seq) {
            if !sa.replay.restart_candidate(seq, e) {
                res.disposition = drop(DropReason::Replay);
                continue;
            }
            // Lab sequence restart: on to authentication, marked (not counted) so that
            // `finish` can tell it from a packet that only fell out of the window during
            // this burst; the mark is overwritten with the packet's final disposition.
            res.disposition = RESTART_CANDIDATE;
        }
        jobs.push(Job {
            slot: Slot::Main(i),
            sa: sas.len(),
            esp_off,
            esp_end,
            seq,
            inner_len: 0,
            frag_after: false,
            ecn: info.tos & 3,
            v6: info.v6,
            hdr_len: info.hdr_len,
            nh_at: info.nh_at,
            udp_src,
        });
        sas.push(sa);
    }

    // One crypto call for the burst.
    {
        let mut burst: Vec<CryptoOp<'_>> = recycle(mem::take(ops));
        let mut next = jobs.iter().peekable();
        for (i, pkt) in pkts.iter_mut().enumerate() {
            if let Some(job) = next.next_if(|j| matches!(j.slot, Slot::Main(k) if k == i)) {
                let sa = sas[job.sa];
                let esp = &mut pkt.data_mut()[job.esp_off..job.esp_end];
                burst.push(CryptoOp::new(&sa.cipher, esp, (job.seq >> 32) as u32, sa.esn));
            }
        }
        crypto.open_burst(&mut burst);
        statuses.clear();
        statuses.extend(burst.iter().map(|o| o.status));
        *ops = recycle(burst);
    }

    for (job, &status) in jobs.iter().zip(statuses.iter()) {
        let Slot::Main(i) = job.slot else { continue };
        let sa = sas[job.sa];
        let pre = &results[i].disposition;
        let disposition = match finish(sa, &mut pkts[i], job, status, pre, now, events) {
            Ok(()) => Disposition::Forward,
            Err(r) => {
                sa.counters().drops.count(r);
                Disposition::Drop(r)
            }
        };
        results[i].disposition = disposition;
        if disposition == Disposition::Forward {
            results[i].udp_src = job.udp_src;
        }
    }
    *in_sas = recycle(sas);
    results
}

/// The result of a packet the pre-crypto check found left of the window on an SA with
/// `lab_sequence_restart`, from the check to [`finish`]: what it would have been without the
/// option. Unambiguous, since every other packet handed to crypto still carries the
/// `Drop(Malformed)` the burst started with.
const RESTART_CANDIDATE: Disposition = Disposition::Drop(DropReason::Replay);

/// After crypto: replay re-check and advance, trailer checks, header removal. `pre` is the
/// packet's result as the pre-crypto stage left it ([`RESTART_CANDIDATE`] or not).
fn finish<B: PacketBuf>(
    sa: &InboundSa,
    pkt: &mut B,
    job: &Job,
    status: OpStatus,
    pre: &Disposition,
    now: u64,
    events: &mut Vec<crate::sa::SaEvent>,
) -> Result<(), DropReason> {
    match status {
        OpStatus::Ok => {}
        OpStatus::AuthFailed => return Err(DropReason::AuthFailed),
        OpStatus::BadLength | OpStatus::Pending => return Err(DropReason::Malformed),
    }
    // Duplicates within one burst all passed the first check; only the first may pass here.
    match sa.replay.check(job.seq) {
        Ok(()) => sa.replay.advance(job.seq),
        // Authenticated and still left of the window: the sender restarted (lab option).
        Err(e) if sa.replay.restart_candidate(job.seq, e) && *pre == RESTART_CANDIDATE => {
            sa.replay.restart_at(job.seq);
        }
        Err(_) => return Err(DropReason::Replay),
    }

    let t = sa.cipher.transform();
    let region_start = job.esp_off + ESP_HDR + t.iv_len();
    let trailer_end = job.esp_end - t.icv_len();
    // RFC 4303 2.4: padding bytes are 1, 2, 3, ...
    let trailer = Trailer::parse(&pkt.data()[region_start..trailer_end])
        .map_err(|_| DropReason::BadPadding)?;
    let next_header = trailer.next_header;
    let payload_len = trailer.payload_len;
    let payload_end = region_start + payload_len;
    if next_header == IpProtocol::Ipv6NoNxt {
        return Err(DropReason::DummyPacket);
    }
    let tail = pkt.len() - payload_end;
    let inner_len = match sa.mode {
        Mode::Tunnel => {
            let want_v6 = match next_header {
                IpProtocol::IPV4 => false,
                IpProtocol::Ipv6 => true,
                _ => return Err(DropReason::BadNextHeader),
            };
            pkt.trim(tail).map_err(|_| DropReason::Malformed)?;
            pkt.adj(region_start).map_err(|_| DropReason::Malformed)?;
            let inner = ip::parse(pkt.data(), false).ok_or(DropReason::Malformed)?;
            if inner.v6 != want_v6 {
                return Err(DropReason::BadNextHeader);
            }
            // Anything after the inner packet is TFC padding (RFC 4303 2.7).
            pkt.trim(pkt.len() - inner.total_len).map_err(|_| DropReason::Malformed)?;
            let inner_ecn = inner.tos & 3;
            let new_ecn = ecn::decap(inner_ecn, job.ecn).ok_or(DropReason::EcnInvalid)?;
            if new_ecn != inner_ecn {
                ip::set_ecn(pkt.data_mut(), inner.v6, new_ecn);
            }
            inner.total_len
        }
        Mode::Transport => {
            let hdr_len = job.hdr_len;
            let new_start = region_start - hdr_len;
            let total = hdr_len + payload_len;
            if total > usize::from(u16::MAX) {
                return Err(DropReason::Malformed);
            }
            pkt.trim(tail).map_err(|_| DropReason::Malformed)?;
            let d = pkt.data_mut();
            d.copy_within(0..hdr_len, new_start);
            pkt.adj(new_start).map_err(|_| DropReason::Malformed)?;
            let d = pkt.data_mut();
            ip::set_next_header(d, job.nh_at, next_header);
            // `total` fits 16 bits (checked above).
            if job.v6 {
                Ipv6Packet::new_unchecked(&mut *d).set_payload_len((total - IPV6_HDR) as u16);
            } else {
                let mut p = Ipv4Packet::new_unchecked(&mut d[..hdr_len]);
                p.set_total_len(total as u16);
                p.fill_checksum();
            }
            if job.udp_src.is_some() {
                natt::fix_transport_checksum(d, job.v6, hdr_len, next_header, sa.original_sum);
            }
            total
        }
    };
    if !sa.lifetime.admit(now, inner_len as u64, sa.spi, crate::sa::Direction::Inbound, events) {
        return Err(DropReason::SaExpired);
    }
    sa.counters().packets.add(1);
    sa.counters().bytes.add(inner_len as u64);
    Ok(())
}

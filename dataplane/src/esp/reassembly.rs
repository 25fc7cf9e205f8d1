//! Reassembly of fragmented outer IPv4 (RFC 791) and IPv6 (RFC 8200 4.5) packets.
//!
//! Off the common path, so it allocates, but every resource is bounded: the number of
//! datagrams in progress, the bytes of one datagram, the fragments of one datagram, the
//! bytes held in total, and the time a datagram may wait (checked against the caller's
//! `now`). Any overlap drops the whole datagram (RFC 5722 for IPv6; the same for IPv4, where
//! overlaps only serve evasion attacks).

use core::net::{Ipv4Addr, Ipv6Addr};

use crate::sa::DropReason;
use crate::wire::ipv6ext::{FRAGMENT_HEADER_LEN, FragmentHeader};
use crate::wire::{IpProtocol, Ipv4Packet, Ipv6Packet, ipv6};

use super::ip::{self, IpInfo, NextHeaderAt};

/// Bounds of a [`Reassembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblyConfig {
    /// Datagrams in progress at once.
    pub max_datagrams: usize,
    /// Payload bytes of one datagram (at most 65 535).
    pub max_datagram_bytes: usize,
    /// Fragments of one datagram.
    pub max_fragments: usize,
    /// Payload bytes held over all datagrams.
    pub max_total_bytes: usize,
    /// How long a datagram may wait for its missing fragments (nanoseconds).
    pub timeout_ns: u64,
}

impl Default for ReassemblyConfig {
    /// 1024 datagrams, 64 fragments and 64 KiB each, 4 MiB in all, 5 s (ASA `fragment
    /// timeout` default; RFC 8200 4.5 allows up to 60 s).
    fn default() -> Self {
        ReassemblyConfig {
            max_datagrams: 1024,
            max_datagram_bytes: 65_535,
            max_fragments: 64,
            max_total_bytes: 4 << 20,
            timeout_ns: 5_000_000_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    V4 { src: Ipv4Addr, dst: Ipv4Addr, id: u16, proto: IpProtocol },
    V6 { src: Ipv6Addr, dst: Ipv6Addr, id: u32 },
}

#[derive(Debug)]
struct Datagram {
    key: Key,
    deadline: u64,
    /// Unfragmentable part (IPv4 header / IPv6 headers before the Fragment header) of the
    /// first fragment, once it arrived.
    header: Option<Vec<u8>>,
    /// IPv6: the protocol after the Fragment header, and where the header names it.
    next_header: IpProtocol,
    nh_at: NextHeaderAt,
    payload: Vec<u8>,
    /// Received payload ranges, sorted, disjoint.
    ranges: Vec<(usize, usize)>,
    /// Payload length, known once the last fragment arrived.
    total: Option<usize>,
}

/// What became of one fragment.
#[derive(Debug, PartialEq, Eq)]
pub enum ReassemblyOutcome {
    /// Held; the datagram is still incomplete.
    Held,
    /// The datagram is complete: the whole reassembled IP packet.
    Complete(Vec<u8>),
    /// The fragment (and possibly its datagram) was dropped.
    Dropped(DropReason),
}

/// Reassembly table of one worker.
#[derive(Debug)]
pub struct Reassembler {
    cfg: ReassemblyConfig,
    datagrams: Vec<Datagram>,
    held_bytes: usize,
}

impl Reassembler {
    pub fn new(cfg: ReassemblyConfig) -> Self {
        Reassembler { cfg, datagrams: Vec::new(), held_bytes: 0 }
    }

    /// Datagrams in progress.
    pub fn pending(&self) -> usize {
        self.datagrams.len()
    }

    /// Payload bytes held.
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// Drops every datagram whose time ran out; returns how many.
    pub fn expire(&mut self, now: u64) -> usize {
        let before = self.datagrams.len();
        let mut held = self.held_bytes;
        self.datagrams.retain(|d| {
            let keep = d.deadline > now;
            if !keep {
                held -= d.payload.len();
            }
            keep
        });
        self.held_bytes = held;
        before - self.datagrams.len()
    }

    /// Takes one fragment (a whole IP packet whose header `info` was parsed by the caller).
    pub(crate) fn insert(&mut self, now: u64, pkt: &[u8], info: &IpInfo) -> ReassemblyOutcome {
        let Some(frag) =
            (if info.v6 { parse_v6_frag(pkt, info) } else { parse_v4_frag(pkt, info) })
        else {
            return ReassemblyOutcome::Dropped(DropReason::ReassemblyInvalid);
        };
        let data = &pkt[frag.payload_start..info.total_len];
        let (start, end) = (frag.offset, frag.offset + data.len());
        // RFC 6946: an IPv6 "atomic fragment" is processed in isolation.
        if info.v6 && start == 0 && !frag.more {
            let mut whole = pkt[..frag.header_len].to_vec();
            whole.extend_from_slice(data);
            return finish_v6(whole, frag.next_header, frag.nh_at);
        }
        if data.is_empty()
            || (frag.more && !data.len().is_multiple_of(8))
            || end > self.cfg.max_datagram_bytes.min(65_535)
        {
            return ReassemblyOutcome::Dropped(DropReason::ReassemblyInvalid);
        }
        let idx = match self.datagrams.iter().position(|d| d.key == frag.key) {
            Some(i) => i,
            None => {
                if self.datagrams.len() >= self.cfg.max_datagrams {
                    return ReassemblyOutcome::Dropped(DropReason::ReassemblyNoRoom);
                }
                self.datagrams.push(Datagram {
                    key: frag.key,
                    deadline: now.saturating_add(self.cfg.timeout_ns),
                    header: None,
                    next_header: frag.next_header,
                    nh_at: frag.nh_at,
                    payload: Vec::new(),
                    ranges: Vec::new(),
                    total: None,
                });
                self.datagrams.len() - 1
            }
        };
        let d = &mut self.datagrams[idx];
        let pos = d.ranges.partition_point(|&(s, _)| s < start);
        let overlaps = (pos > 0 && d.ranges[pos - 1].1 > start)
            || d.ranges.get(pos).is_some_and(|&(s, _)| s < end);
        let bad_len = match (frag.more, d.total) {
            (false, Some(t)) => t != end,
            (false, None) => d.ranges.last().is_some_and(|&(_, e)| e > end),
            (true, Some(t)) => end > t,
            (true, None) => false,
        };
        let reason = if overlaps {
            Some(DropReason::ReassemblyOverlap)
        } else if bad_len || d.ranges.len() >= self.cfg.max_fragments {
            Some(DropReason::ReassemblyInvalid)
        } else if self.held_bytes + end.saturating_sub(d.payload.len()) > self.cfg.max_total_bytes {
            Some(DropReason::ReassemblyNoRoom)
        } else {
            None
        };
        if let Some(reason) = reason {
            self.remove(idx);
            return ReassemblyOutcome::Dropped(reason);
        }
        if d.payload.len() < end {
            self.held_bytes += end - d.payload.len();
            d.payload.resize(end, 0);
        }
        d.payload[start..end].copy_from_slice(data);
        d.ranges.insert(pos, (start, end));
        if !frag.more {
            d.total = Some(end);
        }
        if start == 0 {
            d.header = Some(pkt[..frag.header_len].to_vec());
            d.next_header = frag.next_header;
            d.nh_at = frag.nh_at;
        }
        let complete = d.header.is_some()
            && d.total.is_some_and(|t| {
                let mut reach = 0;
                d.ranges.iter().all(|&(s, e)| {
                    let ok = s == reach;
                    reach = e;
                    ok
                }) && reach == t
            });
        if !complete {
            return ReassemblyOutcome::Held;
        }
        let d = self.remove(idx);
        let total = d.total.unwrap_or(0);
        let mut whole = d.header.unwrap_or_default();
        whole.extend_from_slice(&d.payload[..total]);
        match d.key {
            Key::V4 { .. } => finish_v4(whole),
            Key::V6 { .. } => finish_v6(whole, d.next_header, d.nh_at),
        }
    }

    fn remove(&mut self, idx: usize) -> Datagram {
        let d = self.datagrams.swap_remove(idx);
        self.held_bytes -= d.payload.len();
        d
    }
}

struct Frag {
    key: Key,
    /// Bytes of the unfragmentable part (IPv6: before the Fragment header).
    header_len: usize,
    payload_start: usize,
    offset: usize,
    more: bool,
    next_header: IpProtocol,
    /// IPv6: where the Fragment header is named.
    nh_at: NextHeaderAt,
}

fn parse_v4_frag(pkt: &[u8], info: &IpInfo) -> Option<Frag> {
    let p = Ipv4Packet::new_checked(pkt).ok()?;
    Some(Frag {
        key: Key::V4 { src: p.src_addr(), dst: p.dst_addr(), id: p.ident(), proto: info.proto },
        header_len: info.hdr_len,
        payload_start: info.hdr_len,
        offset: usize::from(p.frag_offset()),
        more: p.more_frags(),
        next_header: info.proto,
        nh_at: NextHeaderAt::Ipv4,
    })
}

fn parse_v6_frag(pkt: &[u8], info: &IpInfo) -> Option<Frag> {
    let fh = info.hdr_len;
    if info.proto != IpProtocol::Ipv6Frag {
        return None;
    }
    let p = Ipv6Packet::new_checked(pkt).ok()?;
    let h = FragmentHeader::new_checked(pkt.get(fh..info.total_len)?).ok()?;
    Some(Frag {
        key: Key::V6 { src: p.src_addr(), dst: p.dst_addr(), id: h.ident() },
        header_len: fh,
        payload_start: fh + FRAGMENT_HEADER_LEN,
        offset: usize::from(h.frag_offset()),
        more: h.more_frags(),
        next_header: h.next_header(),
        nh_at: info.nh_at,
    })
}

/// `whole` is the first fragment's header (checked on arrival) and the payload.
fn finish_v4(mut whole: Vec<u8>) -> ReassemblyOutcome {
    let Ok(total) = u16::try_from(whole.len()) else {
        return ReassemblyOutcome::Dropped(DropReason::ReassemblyInvalid);
    };
    let mut p = Ipv4Packet::new_unchecked(&mut whole[..]);
    p.set_total_len(total);
    // Keep DF; clear MF, the reserved flag and the offset.
    let df = p.dont_frag();
    p.clear_flags();
    p.set_frag_offset(0);
    p.set_dont_frag(df);
    p.fill_checksum();
    ReassemblyOutcome::Complete(whole)
}

fn finish_v6(mut whole: Vec<u8>, next_header: IpProtocol, at: NextHeaderAt) -> ReassemblyOutcome {
    let Ok(plen) = u16::try_from(whole.len() - ipv6::HEADER_LEN) else {
        return ReassemblyOutcome::Dropped(DropReason::ReassemblyInvalid);
    };
    Ipv6Packet::new_unchecked(&mut whole[..]).set_payload_len(plen);
    ip::set_next_header(&mut whole, at, next_header);
    ReassemblyOutcome::Complete(whole)
}

//! Source fragmentation of an IPv4 packet (RFC 791) or an IPv6 packet (RFC 8200 4.5), in
//! place: the first fragment stays in the packet's buffer, the others go to new buffers.

use crate::buf::PacketBuf;
use crate::sa::DropReason;
use crate::wire::ipv6ext::{FRAGMENT_HEADER_LEN, FragmentHeader, FragmentRepr};
use crate::wire::{IpProtocol, Ipv4Packet, Ipv6Packet, ipv4, ipv6};

use super::BufAlloc;
use super::ip::IpInfo;

/// Splits the IPv4 packet in `pkt` (header `info`) into fragments of at most `mtu` bytes.
/// Fragments after the first are appended to `out`. Packets with IP options are refused
/// (options would have to be filtered by their copy flag), as are MTUs too small for 8
/// payload bytes. Nothing is changed on error.
pub(crate) fn fragment_v4<B: PacketBuf, A: BufAlloc<B>>(
    pkt: &mut B,
    info: &IpInfo,
    mtu: usize,
    alloc: &mut A,
    out: &mut Vec<B>,
) -> Result<(), DropReason> {
    let hdr = info.hdr_len;
    let total = info.total_len;
    if hdr != ipv4::HEADER_LEN || mtu < hdr + 8 || total > pkt.len() {
        return Err(DropReason::TooBig);
    }
    let chunk = (mtu - hdr) & !7;
    if total <= mtu {
        return Ok(());
    }
    // `info` came from a checked view of these bytes.
    let p = Ipv4Packet::new_unchecked(pkt.data());
    let (orig_off, orig_mf, df) = (usize::from(p.frag_offset()), p.more_frags(), p.dont_frag());
    if orig_off + total - hdr > usize::from(u16::MAX) {
        return Err(DropReason::Malformed);
    }
    let mark = out.len();
    let mut start = hdr + chunk;
    while start < total {
        let end = (start + chunk).min(total);
        let Some(mut frag) = super::alloc_exact(alloc, hdr + end - start) else {
            out.truncate(mark);
            return Err(DropReason::NoBuffer);
        };
        let d = frag.data_mut();
        let src = pkt.data();
        d[..hdr].copy_from_slice(&src[..hdr]);
        d[hdr..].copy_from_slice(&src[start..end]);
        let mf = if end == total { orig_mf } else { true };
        write_v4_frag_fields(d, end - start + hdr, orig_off + (start - hdr), mf, df);
        out.push(frag);
        start = end;
    }
    let d = pkt.data_mut();
    write_v4_frag_fields(d, hdr + chunk, orig_off, true, df);
    let excess = pkt.len() - (hdr + chunk);
    pkt.trim(excess).map_err(|_| DropReason::Malformed)
}

/// `total` and `offset` (bytes, a multiple of 8) fit 16 bits: checked by the caller.
fn write_v4_frag_fields(d: &mut [u8], total: usize, offset: usize, mf: bool, df: bool) {
    let mut p = Ipv4Packet::new_unchecked(&mut d[..ipv4::HEADER_LEN]);
    p.set_total_len(total as u16);
    p.clear_flags();
    p.set_frag_offset(offset as u16);
    p.set_more_frags(mf);
    p.set_dont_frag(df);
    p.fill_checksum();
}

/// Splits the IPv6 packet in `pkt` into fragments of at most `mtu` bytes, inserting a
/// Fragment header with identification `ident` after the fixed header. Packets with
/// extension headers are refused (the unfragmentable part would have to be found).
pub(crate) fn fragment_v6<B: PacketBuf, A: BufAlloc<B>>(
    pkt: &mut B,
    info: &IpInfo,
    mtu: usize,
    ident: u32,
    alloc: &mut A,
    out: &mut Vec<B>,
) -> Result<(), DropReason> {
    const FH: usize = FRAGMENT_HEADER_LEN;
    const V6: usize = ipv6::HEADER_LEN;
    let total = info.total_len;
    if info.hdr_len != V6 || mtu < V6 + FH + 8 || total > pkt.len() {
        return Err(DropReason::TooBig);
    }
    if total <= mtu {
        return Ok(());
    }
    if pkt.headroom() < FH {
        return Err(DropReason::NoBuffer);
    }
    let chunk = (mtu - V6 - FH) & !7;
    let nh = info.proto;
    let mark = out.len();
    let mut start = V6 + chunk;
    while start < total {
        let end = (start + chunk).min(total);
        let Some(mut frag) = super::alloc_exact(alloc, V6 + FH + end - start) else {
            out.truncate(mark);
            return Err(DropReason::NoBuffer);
        };
        let d = frag.data_mut();
        let src = pkt.data();
        d[..V6].copy_from_slice(&src[..V6]);
        d[V6 + FH..].copy_from_slice(&src[start..end]);
        write_v6_frag(d, FH + end - start, nh, start - V6, end < total, ident);
        out.push(frag);
        start = end;
    }
    let excess = pkt.len() - (V6 + chunk);
    pkt.trim(excess).map_err(|_| DropReason::Malformed)?;
    pkt.prepend(FH).map_err(|_| DropReason::NoBuffer)?;
    let d = pkt.data_mut();
    d.copy_within(FH..FH + V6, 0);
    write_v6_frag(d, FH + chunk, nh, 0, true, ident);
    Ok(())
}

/// Writes the fixed header's length and next header and the Fragment header after it.
/// `payload_len` and `offset` fit 16 bits (a fragment of a packet that did).
fn write_v6_frag(
    d: &mut [u8],
    payload_len: usize,
    nh: IpProtocol,
    offset: usize,
    more: bool,
    ident: u32,
) {
    let mut p = Ipv6Packet::new_unchecked(&mut *d);
    p.set_payload_len(payload_len as u16);
    p.set_next_header(IpProtocol::Ipv6Frag);
    let repr =
        FragmentRepr { next_header: nh, frag_offset: offset as u16, more_frags: more, ident };
    repr.emit(&mut FragmentHeader::new_unchecked(&mut d[ipv6::HEADER_LEN..]));
}

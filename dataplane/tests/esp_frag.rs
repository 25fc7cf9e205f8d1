//! Fragmentation before and after encryption, outer reassembly (bounds, overlap, timeout)
//! and ICMP "fragmentation needed" / "packet too big".

mod esp_support;

use dataplane::buf::PacketBuf;
use dataplane::esp::{Disposition, EspWorker, ReassemblyConfig};
use dataplane::sa::{DfPolicy, DropReason, FragPolicy};
use dataplane::wire::checksum;
use esp_support::*;

fn fix_v4_csum(p: &mut [u8]) {
    p[10] = 0;
    p[11] = 0;
    let c = !checksum::data(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

fn all(out: &[dataplane::buf::VecBuf], extra: &[dataplane::buf::VecBuf]) -> Vec<Vec<u8>> {
    out.iter().chain(extra).map(|b| b.to_vec()).collect()
}

#[test]
fn before_encryption_each_esp_packet_fits() {
    let (o, i) = pair(Params::new(gcm128()));
    let mut w = EspWorker::new();
    let pkt = inner_v4(4000);
    let (d, out, extra) = encap(&mut w, &o, std::slice::from_ref(&pkt), 0);
    assert_eq!(d, [Disposition::Forward]);
    assert_eq!(extra.len(), 2, "4028 bytes → 3 inner fragments at 1438");
    let esp = all(&out, &extra);
    for p in &esp {
        assert!(p.len() <= 1500, "{}", p.len());
        assert_eq!(p[6] & 0x3f, 0, "outer packets are not fragments");
    }
    assert_eq!(w.stats().fragments_out.get(), 2);
    // The peer decrypts three inner fragments; together they are the original packet.
    let (r, back) = decap(&mut w, &i, &esp, 0);
    assert!(r.iter().all(|r| r.disposition == Disposition::Forward));
    let mut payload = vec![0u8; pkt.len() - 20];
    let mut seen = 0;
    for b in &back {
        let f = b.data();
        assert_eq!(checksum::data(&f[..20]), 0xffff);
        let off = usize::from(u16::from_be_bytes([f[6], f[7]]) & 0x1fff) * 8;
        let more = f[6] & 0x20 != 0;
        payload[off..off + f.len() - 20].copy_from_slice(&f[20..]);
        seen += f.len() - 20;
        assert_eq!(more, off + f.len() - 20 < pkt.len() - 20);
        assert_eq!(&f[12..20], &pkt[12..20]);
    }
    assert_eq!(seen, pkt.len() - 20);
    assert_eq!(payload, pkt[20..]);
}

#[test]
fn after_encryption_outer_fragments_reassemble_v4_and_v6() {
    for v6_outer in [false, true] {
        let p = Params { v6_outer, ..Params::new(gcm128()) };
        let (o, i) = pair_with(p, |c| c.frag = FragPolicy::AfterEncryption);
        let mut w = EspWorker::new();
        let pkt = inner_v4(5000);
        let (d, out, extra) = encap(&mut w, &o, std::slice::from_ref(&pkt), 0);
        assert_eq!(d, [Disposition::Forward]);
        assert!(extra.len() >= 3);
        let mut frags = all(&out, &extra);
        for f in &frags {
            assert!(f.len() <= 1500);
        }
        // Arrive in reverse order.
        frags.reverse();
        let (r, back) = decap(&mut w, &i, &frags, 0);
        let n = frags.len();
        for r in &r[..n - 1] {
            assert_eq!(r.disposition, Disposition::Consumed);
        }
        assert_eq!(r[n - 1].disposition, Disposition::Forward, "v6 outer {v6_outer}");
        assert_eq!(back[n - 1].to_vec(), pkt);
        assert_eq!(w.stats().reassembled.get(), 1);
        assert_eq!(w.reassembler().pending(), 0);
        assert_eq!(w.reassembler().held_bytes(), 0);
    }
}

fn outer_fragments(w: &mut EspWorker) -> (dataplane::sa::InboundSa, Vec<Vec<u8>>) {
    let (o, i) = pair_with(Params::new(gcm128()), |c| c.frag = FragPolicy::AfterEncryption);
    let (_, out, extra) = encap(w, &o, &[inner_v4(3000)], 0);
    (i, all(&out, &extra))
}

#[test]
fn overlapping_fragments_drop_the_datagram() {
    let mut w = EspWorker::new();
    let (i, frags) = outer_fragments(&mut w);
    // Exact duplicate of the first fragment.
    let (r, _) = decap(&mut w, &i, &[frags[0].clone(), frags[0].clone()], 0);
    assert_eq!(r[0].disposition, Disposition::Consumed);
    assert_eq!(r[1].disposition, Disposition::Drop(DropReason::ReassemblyOverlap));
    assert_eq!(w.reassembler().pending(), 0);
    // A second fragment moved 8 bytes down into the first one.
    let mut shifted = frags[1].clone();
    let off = u16::from_be_bytes([shifted[6], shifted[7]]);
    shifted[6..8].copy_from_slice(&(off - 1).to_be_bytes());
    fix_v4_csum(&mut shifted);
    let (r, _) = decap(&mut w, &i, &[frags[0].clone(), shifted, frags[2].clone()], 0);
    assert_eq!(r[1].disposition, Disposition::Drop(DropReason::ReassemblyOverlap));
    assert_eq!(r[2].disposition, Disposition::Consumed, "a new datagram starts, incomplete");
    assert_eq!(w.stats().drops.get(DropReason::ReassemblyOverlap), 2);
}

#[test]
fn overlapping_ipv6_fragments_drop_the_datagram() {
    let p = Params { v6_outer: true, ..Params::new(gcm128()) };
    let (o, i) = pair_with(p, |c| c.frag = FragPolicy::AfterEncryption);
    let mut w = EspWorker::new();
    let (_, out, extra) = encap(&mut w, &o, &[inner_v4(3000)], 0);
    let frags = all(&out, &extra);
    assert_eq!(frags[0][6], 44, "IPv6 fragment header");
    // RFC 5722: the second fragment claims to start 8 bytes into the first one.
    let mut shifted = frags[1].clone();
    let off = u16::from_be_bytes([shifted[42], shifted[43]]);
    shifted[42..44].copy_from_slice(&(off - 8).to_be_bytes());
    let (r, _) = decap(&mut w, &i, &[frags[0].clone(), shifted], 0);
    assert_eq!(r[0].disposition, Disposition::Consumed);
    assert_eq!(r[1].disposition, Disposition::Drop(DropReason::ReassemblyOverlap));
    assert_eq!(w.reassembler().pending(), 0);
    // The genuine fragments still make a datagram afterwards.
    let (r, _) = decap(&mut w, &i, &frags, 0);
    assert_eq!(r[frags.len() - 1].disposition, Disposition::Forward);
}

#[test]
fn incomplete_datagrams_time_out() {
    let mut w = EspWorker::new();
    let (i, frags) = outer_fragments(&mut w);
    let (r, _) = decap(&mut w, &i, &frags[..2], 1_000);
    assert!(r.iter().all(|r| r.disposition == Disposition::Consumed));
    assert_eq!(w.reassembler().pending(), 1);
    w.expire(1_000 + 4_999_999_999);
    assert_eq!(w.reassembler().pending(), 1);
    w.expire(1_000 + 5_000_000_000);
    assert_eq!(w.reassembler().pending(), 0);
    assert_eq!(w.reassembler().held_bytes(), 0);
    assert_eq!(w.stats().drops.get(DropReason::ReassemblyTimeout), 1);
    // The late last fragment starts a datagram of its own that never completes.
    let (r, _) = decap(&mut w, &i, &frags[2..], 6_000_000_000);
    assert_eq!(r[0].disposition, Disposition::Consumed);
}

#[test]
fn reassembly_is_bounded() {
    let cfg =
        ReassemblyConfig { max_datagrams: 2, max_fragments: 2, ..ReassemblyConfig::default() };
    let mut w = EspWorker::with_config(cfg, 4500);
    let (i, frags) = outer_fragments(&mut w);
    assert!(frags.len() >= 3);
    // Three datagrams (different idents): the third finds no room.
    let mut firsts = Vec::new();
    for id in 0..3u16 {
        let mut f = frags[0].clone();
        f[4..6].copy_from_slice(&(0x7000 + id).to_be_bytes());
        fix_v4_csum(&mut f);
        firsts.push(f);
    }
    let (r, _) = decap(&mut w, &i, &firsts, 0);
    assert_eq!(r[2].disposition, Disposition::Drop(DropReason::ReassemblyNoRoom));
    w.expire(u64::MAX);
    // More fragments than allowed per datagram.
    let (r, _) = decap(&mut w, &i, &frags[..3], 0);
    assert_eq!(r[2].disposition, Disposition::Drop(DropReason::ReassemblyInvalid));
    // An offset that ends beyond 65535 bytes.
    let mut bogus = frags[1].clone();
    bogus[6..8].copy_from_slice(&(0x2000u16 | 0x1fff).to_be_bytes());
    fix_v4_csum(&mut bogus);
    let (r, _) = decap(&mut w, &i, &[bogus], 0);
    assert_eq!(r[0].disposition, Disposition::Drop(DropReason::ReassemblyInvalid));
    // A non-last fragment whose length is not a multiple of 8.
    let mut odd = frags[0].clone();
    odd.pop();
    let total = odd.len() as u16;
    odd[2..4].copy_from_slice(&total.to_be_bytes());
    fix_v4_csum(&mut odd);
    let (r, _) = decap(&mut w, &i, &[odd], 0);
    assert_eq!(r[0].disposition, Disposition::Drop(DropReason::ReassemblyInvalid));
}

#[test]
fn df_set_too_big_sends_frag_needed_with_the_tunnel_mtu() {
    for udp in [false, true] {
        let (o, _) = pair(Params { udp, ..Params::new(gcm128()) });
        let mut w = EspWorker::new();
        // 1500 - 20 (outer) [- 8 UDP] - 8 (ESP) - 8 (IV) - 16 (ICV) = 1448 / 1440, rounded
        // down to 16 = 1440, minus the 2-byte trailer.
        let mtu = 1438;
        let fits = ipv4_udp(A4, B4, mtu - 28, 0, true);
        let too_big = ipv4_udp(A4, B4, mtu - 27, 0, true);
        let (d, out, extra) = encap(&mut w, &o, &[fits, too_big.clone()], 0);
        assert_eq!(d, [Disposition::Forward, Disposition::IcmpError]);
        assert!(extra.is_empty());
        assert!(out[0].len() <= 1500);
        let icmp = out[1].data();
        assert_eq!(icmp[9], 1);
        assert_eq!(&icmp[12..16], &A4.octets(), "from the SA's local address");
        assert_eq!(&icmp[16..20], &too_big[12..16], "to the inner sender");
        assert_eq!(&icmp[20..22], &[3, 4]);
        assert_eq!(usize::from(u16::from_be_bytes([icmp[26], icmp[27]])), mtu);
        assert_eq!(checksum::data(&icmp[20..]), 0xffff);
        assert_eq!(checksum::data(&icmp[..20]), 0xffff);
        assert_eq!(icmp.len(), 576, "RFC 1812: error capped at 576 bytes");
        assert_eq!(&icmp[28..48], &too_big[..20], "quotes the offending header");
        assert_eq!(o.counters().drops.get(DropReason::TooBig), 1);
        assert_eq!(w.stats().icmp_errors.get(), 1);
    }
}

#[test]
fn ipv6_too_big_sends_packet_too_big() {
    let p = Params { v6_outer: true, ..Params::new(gcm128()) };
    let (o, _) = pair(p);
    let mut w = EspWorker::new();
    // 1500 - 40 - 8 - 8 - 16 = 1428 → 1424 - 2.
    let mtu = 1422;
    let pkt = inner_v6(mtu - 47);
    let (d, out, _) = encap(&mut w, &o, &[inner_v6(mtu - 48), pkt.clone()], 0);
    assert_eq!(d, [Disposition::Forward, Disposition::IcmpError]);
    let m = out[1].data();
    assert_eq!(m[6], 58);
    assert_eq!(&m[8..24], &A6.octets());
    assert_eq!(&m[24..40], &pkt[8..24]);
    assert_eq!(m[40], 2);
    assert_eq!(u32::from_be_bytes([m[44], m[45], m[46], m[47]]) as usize, mtu);
    assert!(m.len() <= 1280);
    let sum = checksum::combine(&[
        checksum::pseudo_header_v6(
            &A6,
            &std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&pkt[8..24]).unwrap()),
            dataplane::wire::IpProtocol::Icmpv6,
            (m.len() - 40) as u32,
        ),
        checksum::data(&m[40..]),
    ]);
    assert_eq!(sum, 0xffff);
}

#[test]
fn ipv6_inner_below_1280_is_fragmented_outside() {
    // 6in4 with a small MTU: the inner path MTU would be under 1280, so the outer packet is
    // fragmented instead of refusing (RFC 8200 5 / RFC 4213 3.2).
    let (o, i) = pair_with(Params::new(gcm128()), |c| c.mtu = 1280);
    let mut w = EspWorker::new();
    let pkt = inner_v6(1232); // a full 1280-byte IPv6 packet
    let (d, out, extra) = encap(&mut w, &o, std::slice::from_ref(&pkt), 0);
    assert_eq!(d, [Disposition::Forward]);
    assert_eq!(extra.len(), 1);
    let (r, back) = decap(&mut w, &i, &all(&out, &extra), 0);
    assert_eq!(r[1].disposition, Disposition::Forward);
    assert_eq!(back[1].to_vec(), pkt);
}

#[test]
fn df_clear_policy_fragments_instead_of_icmp() {
    let (o, i) = pair_with(Params::new(gcm128()), |c| c.df = DfPolicy::Clear);
    let mut w = EspWorker::new();
    let pkt = ipv4_udp(A4, B4, 3000, 0, true);
    let (d, out, extra) = encap(&mut w, &o, std::slice::from_ref(&pkt), 0);
    assert_eq!(d, [Disposition::Forward]);
    // Inner DF set: not pre-fragmented, the outer packet is.
    assert_ne!(out[0].data()[6] & 0x20, 0, "first outer fragment has MF");
    let (r, back) = decap(&mut w, &i, &all(&out, &extra), 0);
    let last = r.len() - 1;
    assert_eq!(r[last].disposition, Disposition::Forward);
    assert_eq!(back[last].to_vec(), pkt);
}

#[test]
fn icmp_not_sent_about_icmp_errors() {
    let (o, _) = pair(Params::new(gcm128()));
    let mut w = EspWorker::new();
    let mut pkt = ipv4_udp(A4, B4, 2000, 0, true);
    pkt[9] = 1;
    pkt[20] = 3; // an ICMP destination unreachable
    fix_v4_csum(&mut pkt);
    let (d, _, _) = encap(&mut w, &o, &[pkt], 0);
    assert_eq!(d, [Disposition::Drop(DropReason::TooBig)]);
}

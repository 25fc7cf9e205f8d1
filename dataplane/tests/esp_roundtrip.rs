//! encap → decap is the identity for every mode, encapsulation, sequence number size,
//! transform and size; the outer packets look as RFC 4303 / RFC 3948 require.

mod esp_support;

use dataplane::buf::PacketBuf;
use dataplane::esp::{Disposition, EspWorker};
use dataplane::sa::{DropReason, Mode};
use esp_support::*;

/// (mode, inner IPv6, outer IPv6): 4in4, 6in4, 4in6, 6in6, transport v4, transport v6.
const MODES: [(Mode, bool, bool); 6] = [
    (Mode::Tunnel, false, false),
    (Mode::Tunnel, true, false),
    (Mode::Tunnel, false, true),
    (Mode::Tunnel, true, true),
    (Mode::Transport, false, false),
    (Mode::Transport, true, true),
];

fn packet(mode: Mode, inner_v6: bool, len: usize) -> Vec<u8> {
    match mode {
        Mode::Tunnel if inner_v6 => inner_v6_pkt(len),
        Mode::Tunnel => inner_v4(len),
        Mode::Transport => transport_pkt(inner_v6, len),
    }
}

fn inner_v6_pkt(len: usize) -> Vec<u8> {
    inner_v6(len)
}

#[test]
fn identity_every_mode_encap_esn_transform_size() {
    let sizes = [0usize, 1, 2, 13, 14, 15, 16, 17, 64, 100, 500, 1000, 1400, 4000, 9000];
    let mut checked = 0;
    for t in transforms() {
        for (mode, inner6, outer6) in MODES {
            for udp in [false, true] {
                for esn in [false, true] {
                    let p = Params { t, mode, v6_outer: outer6, udp, esn };
                    let (o, i) = pair_with(p, |c| c.mtu = 9216);
                    for &len in &sizes {
                        let pkt = packet(mode, inner6, len);
                        assert_eq!(roundtrip(&o, &i, &pkt), pkt, "{p:?} len {len}");
                        checked += 1;
                    }
                    assert_eq!(o.counters().packets.get(), sizes.len() as u64);
                    assert_eq!(i.counters().packets.get(), sizes.len() as u64);
                    assert_eq!(i.counters().drops.total(), 0);
                }
            }
        }
    }
    assert_eq!(checked, 6 * 6 * 2 * 2 * 15);
}

#[test]
fn outer_header_fields_raw_and_udp() {
    for udp in [false, true] {
        let p = Params { udp, ..Params::new(gcm128()) };
        let (o, _) = pair(p);
        let mut w = EspWorker::new();
        let pkt = inner_v4(100);
        let (d, out, _) = encap(&mut w, &o, &[pkt.clone(), pkt.clone()], 0);
        assert_eq!(d, [Disposition::Forward, Disposition::Forward]);
        for (n, b) in out.iter().enumerate() {
            let x = b.data();
            assert_eq!(x[0], 0x45);
            assert_eq!(usize::from(u16::from_be_bytes([x[2], x[3]])), x.len());
            assert_eq!(x[8], 64, "default outer TTL");
            assert_eq!(dataplane::wire::checksum::data(&x[..20]), 0xffff, "header checksum");
            assert_eq!(&x[12..16], &A4.octets());
            assert_eq!(&x[16..20], &B4.octets());
            let esp = if udp {
                assert_eq!(x[9], 17);
                assert_eq!(&x[20..24], &[0x11, 0x94, 0x11, 0x94], "ports 4500");
                assert_eq!(usize::from(u16::from_be_bytes([x[24], x[25]])), x.len() - 20);
                assert_eq!(&x[26..28], &[0, 0], "RFC 3948: UDP checksum zero");
                28
            } else {
                assert_eq!(x[9], 50);
                20
            };
            assert_eq!(&x[esp..esp + 4], &SPI.to_be_bytes());
            assert_eq!(
                u32::from_be_bytes([x[esp + 4], x[esp + 5], x[esp + 6], x[esp + 7]]),
                n as u32 + 1
            );
            // Region (after SPI, seq, 8-byte IV, before the 16-byte ICV) padded to 16.
            assert_eq!((x.len() - esp - 8 - 8 - 16) % 16, 0);
        }
        // Per-SA outer IPv4 identification counter.
        let id0 = u16::from_be_bytes([out[0].data()[4], out[0].data()[5]]);
        let id1 = u16::from_be_bytes([out[1].data()[4], out[1].data()[5]]);
        assert_eq!(id1, id0.wrapping_add(1));
    }
}

#[test]
fn outer_ttl_and_dscp_policies() {
    let (o, _) = pair_with(Params::new(gcm128()), |c| {
        c.ttl = 7;
        c.dscp = dataplane::sa::DscpPolicy::Set(46);
    });
    let mut w = EspWorker::new();
    let pkt = ipv4_udp(A4, B4, 10, 0x28 << 2 | 0b10, false);
    let (_, out, _) = encap(&mut w, &o, &[pkt], 0);
    let x = out[0].data();
    assert_eq!(x[8], 7);
    assert_eq!(x[1], 46 << 2 | 0b10);
    // Copy (default): DSCP from the inner header, on IPv6 outer too.
    let (o, _) = pair(Params { v6_outer: true, ..Params::new(gcm128()) });
    let pkt = ipv4_udp(A4, B4, 10, 0x28 << 2 | 0b01, false);
    let (_, out, _) = encap(&mut w, &o, &[pkt], 0);
    let x = out[0].data();
    let tclass = (x[0] & 0x0f) << 4 | x[1] >> 4;
    assert_eq!(tclass, 0x28 << 2 | 0b01);
    assert_eq!(x[7], 64, "hop limit");
}

#[test]
fn tfc_padding_is_added_and_removed() {
    let (o, i) = pair_with(Params::new(gcm128()), |c| c.tfc_pad_to = Some(1000));
    let pkt = inner_v4(10);
    let mut w = EspWorker::new();
    let (_, out, _) = encap(&mut w, &o, std::slice::from_ref(&pkt), 0);
    assert!(out[0].len() >= 20 + 8 + 8 + 1000 + 16, "padded to 1000: {}", out[0].len());
    let (r, back) = decap(&mut w, &i, &[out[0].to_vec()], 0);
    assert_eq!(r[0].disposition, Disposition::Forward);
    assert_eq!(back[0].to_vec(), pkt);
}

#[test]
fn tamper_anywhere_is_auth_failed() {
    for t in transforms() {
        let (o, i) = pair(Params::new(t));
        let mut w = EspWorker::new();
        let (_, out, _) = encap(&mut w, &o, &[inner_v4(64)], 0);
        let good = out[0].to_vec();
        // Flip a byte in the sequence number, the IV/body and the ICV.
        for at in [24, 30, good.len() - 20, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 0x40;
            let (r, _) = decap(&mut w, &i, &[bad], 0);
            assert_eq!(r[0].disposition, Disposition::Drop(DropReason::AuthFailed), "{t} @{at}");
        }
        assert_eq!(i.counters().drops.get(DropReason::AuthFailed), 4);
        // The window did not move: the genuine packet still passes.
        let (r, _) = decap(&mut w, &i, &[good], 0);
        assert_eq!(r[0].disposition, Disposition::Forward, "{t}");
    }
}

#[test]
fn wrong_spi_is_no_sa() {
    let (o, i) = pair(Params::new(gcm128()));
    let mut w = EspWorker::new();
    let (_, out, _) = encap(&mut w, &o, &[inner_v4(64)], 0);
    let mut bad = out[0].to_vec();
    bad[20] ^= 1;
    let (r, _) = decap(&mut w, &i, &[bad], 0);
    assert_eq!(r[0].disposition, Disposition::Drop(DropReason::NoSa));
    assert_eq!(r[0].spi, SPI ^ 0x0100_0000);
    assert_eq!(w.stats().drops.get(DropReason::NoSa), 1);
}

#[test]
fn duplicate_in_one_burst_passes_once() {
    let (o, i) = pair(Params::new(gcm128()));
    let mut w = EspWorker::new();
    let (_, out, _) = encap(&mut w, &o, &[inner_v4(64)], 0);
    let p = out[0].to_vec();
    let (r, _) = decap(&mut w, &i, &[p.clone(), p.clone(), p], 0);
    let d: Vec<_> = r.iter().map(|r| r.disposition).collect();
    assert_eq!(
        d,
        [
            Disposition::Forward,
            Disposition::Drop(DropReason::Replay),
            Disposition::Drop(DropReason::Replay)
        ]
    );
}

#[test]
fn replayed_and_reordered_across_bursts() {
    let (o, i) = pair(Params::new(gcm128()));
    let mut w = EspWorker::new();
    let pkts: Vec<Vec<u8>> = (0..100).map(inner_v4).collect();
    let (_, out, _) = encap(&mut w, &o, &pkts, 0);
    let esp: Vec<Vec<u8>> = out.iter().map(|b| b.to_vec()).collect();
    // Newest first: seq 100 moves the window, then 99..37 fit, 36..1 are too old (W = 64).
    let rev: Vec<Vec<u8>> = esp.iter().rev().cloned().collect();
    let (r, _) = decap(&mut w, &i, &rev, 0);
    let fwd = r.iter().filter(|r| r.disposition == Disposition::Forward).count();
    assert_eq!(fwd, 64);
    let (r, _) = decap(&mut w, &i, &esp[95..], 0);
    assert!(r.iter().all(|r| r.disposition == Disposition::Drop(DropReason::Replay)));
    assert_eq!(i.counters().drops.get(DropReason::Replay), 36 + 5);
}

#[test]
fn esn_packets_authenticate_the_high_bits() {
    // The receiver expects subspace 1; a sender still in subspace 0 fails the ICV.
    let p = Params { esn: true, ..Params::new(gcm128()) };
    let (o, i) = pair_with(p, |c| {
        if c.direction == dataplane::sa::Direction::Inbound {
            c.initial_seq = (1 << 32) + 100;
        }
    });
    let mut w = EspWorker::new();
    let (_, out, _) = encap(&mut w, &o, &[inner_v4(10)], 0);
    let (r, _) = decap(&mut w, &i, &[out[0].to_vec()], 0);
    assert_eq!(r[0].disposition, Disposition::Drop(DropReason::AuthFailed));
}

#[test]
fn esn_crosses_the_32_bit_boundary() {
    let p = Params { esn: true, ..Params::new(gcm128()) };
    let start = u64::from(u32::MAX) - 3;
    let (o, i) = pair_with(p, |c| c.initial_seq = start);
    let mut w = EspWorker::new();
    let pkts: Vec<Vec<u8>> = (0..8).map(inner_v4).collect();
    let (d, out, _) = encap(&mut w, &o, &pkts, 0);
    assert!(d.iter().all(|d| *d == Disposition::Forward));
    assert_eq!(o.last_seq(), start + 8);
    let esp: Vec<Vec<u8>> = out.iter().map(|b| b.to_vec()).collect();
    let (r, back) = decap(&mut w, &i, &esp, 0);
    for (k, r) in r.iter().enumerate() {
        assert_eq!(r.disposition, Disposition::Forward, "packet {k}");
        assert_eq!(back[k].to_vec(), pkts[k]);
    }
    assert_eq!(i.replay_window().top(), start + 8);
}

#[test]
fn sequence_overflow_without_esn() {
    let (o, _) = pair_with(Params::new(gcm128()), |c| c.initial_seq = u64::from(u32::MAX) - 2);
    let mut w = EspWorker::new();
    let pkts: Vec<Vec<u8>> = (0..4).map(inner_v4).collect();
    let (d, _, _) = encap(&mut w, &o, &pkts, 0);
    assert_eq!(
        d,
        [
            Disposition::Forward,
            Disposition::Forward,
            Disposition::Drop(DropReason::SequenceOverflow),
            // The SA is dead once the space ran out.
            Disposition::Drop(DropReason::SaExpired)
        ]
    );
    use dataplane::sa::{LimitKind, SaEventKind};
    let kinds: Vec<_> = w.drain_events().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            SaEventKind::SoftExpired(LimitKind::SequenceNumbers),
            SaEventKind::HardExpired(LimitKind::SequenceNumbers)
        ]
    );
    assert_eq!(o.counters().drops.get(DropReason::SequenceOverflow), 1);
    assert!(o.is_expired(0));
}

#[test]
fn scratch_is_reused_across_bursts() {
    let (o, i) = pair(Params::new(gcm128()));
    let mut w = EspWorker::new();
    let pkts: Vec<Vec<u8>> = (0..32).map(inner_v4).collect();
    let (_, out, _) = encap(&mut w, &o, &pkts, 0);
    let cap = w.scratch_capacity();
    assert!(cap >= 32);
    for _ in 0..3 {
        let (_, out2, _) = encap(&mut w, &o, &pkts, 0);
        let _ = decap(&mut w, &i, &out2.iter().map(|b| b.to_vec()).collect::<Vec<_>>(), 0);
        assert_eq!(w.scratch_capacity(), cap, "op vector kept its allocation");
    }
    drop(out);
}

//! Outbound sequence numbers are reserved once per run of consecutive packets on one SA
//! (one atomic per run, not per packet); what the receiver sees must not change: numbers
//! are contiguous, never reused, and the 2^32 boundary behaves exactly as per packet.

mod esp_support;

use dataplane::buf::{PacketBuf, VecBuf};
use dataplane::esp::{self, Disposition, EspWorker, VecBufAlloc};
use dataplane::sa::{DropReason, LimitKind, OutboundSa, SaEventKind};
use dataplane::wire::{EspPacket, Ipv4Packet};
use esp_support::*;

const TOP: u64 = u32::MAX as u64;

/// The sequence number on the wire of a raw-ESP IPv4 packet.
fn wire_seq(b: &VecBuf) -> u32 {
    let ip = Ipv4Packet::new_checked(b.data()).unwrap();
    EspPacket::new_checked(ip.payload()).unwrap().sequence_number()
}

/// One burst over `sas[i]` for `pkts[i]`.
fn burst(
    w: &mut EspWorker,
    sas: &[&OutboundSa],
    pkts: &[Vec<u8>],
) -> (Vec<Disposition>, Vec<VecBuf>, Vec<VecBuf>) {
    let mut bufs: Vec<VecBuf> = pkts.iter().map(|p| buf(p)).collect();
    let mut extra = Vec::new();
    let d = esp::encap_burst(w, sas, &mut bufs, &mut extra, &mut VecBufAlloc, 0).to_vec();
    (d, bufs, extra)
}

/// A packet that fails the header checks (dropped before it takes a sequence number).
fn malformed() -> Vec<u8> {
    let mut p = inner_v4(20);
    p[0] = 0x44;
    p
}

#[test]
fn burst_straddling_2_32_without_esn_stops_at_the_last_number() {
    let (o, _) = pair_with(Params::new(gcm128()), |c| c.initial_seq = TOP - 3);
    let mut w = EspWorker::new();
    let pkts: Vec<Vec<u8>> = (0..8).map(|n| inner_v4(n * 3)).collect();
    let (d, out, _) = burst(&mut w, &[&o; 8], &pkts);
    let fwd = Disposition::Forward;
    let mut want = vec![fwd, fwd, fwd, Disposition::Drop(DropReason::SequenceOverflow)];
    want.extend([Disposition::Drop(DropReason::SaExpired); 4]);
    assert_eq!(d, want);
    let seqs: Vec<u32> = out[..3].iter().map(wire_seq).collect();
    assert_eq!(seqs, [u32::MAX - 2, u32::MAX - 1, u32::MAX]);
    let kinds: Vec<_> = w.drain_events().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            SaEventKind::SoftExpired(LimitKind::SequenceNumbers),
            SaEventKind::HardExpired(LimitKind::SequenceNumbers)
        ]
    );
    assert_eq!(o.last_seq(), TOP);
    assert_eq!(o.counters().drops.get(DropReason::SequenceOverflow), 1);
    // Dead for good, and no further events.
    let (d, _, _) = burst(&mut w, &[&o, &o], &pkts[..2]);
    assert!(d.iter().all(|d| matches!(d, Disposition::Drop(_))));
    assert_eq!(w.drain_events().count(), 0);
}

#[test]
fn burst_straddling_2_32_with_esn_carries_on() {
    let p = Params { esn: true, ..Params::new(gcm128()) };
    let (o, i) = pair_with(p, |c| c.initial_seq = TOP - 3);
    let mut w = EspWorker::new();
    let pkts: Vec<Vec<u8>> = (0..8).map(|n| inner_v4(n * 3)).collect();
    let (d, out, _) = burst(&mut w, &[&o; 8], &pkts);
    assert!(d.iter().all(|d| *d == Disposition::Forward));
    let seqs: Vec<u32> = out.iter().map(wire_seq).collect();
    let want: Vec<u32> = (TOP - 2..TOP + 6).map(|s| s as u32).collect();
    assert_eq!(seqs, want, "low 32 bits on the wire");
    assert_eq!(o.last_seq(), TOP + 5);
    assert_eq!(w.drain_events().count(), 0);
    // The receiver authenticates the high half it infers: every packet passes.
    let (r, back) = decap(&mut w, &i, &out.iter().map(|b| b.to_vec()).collect::<Vec<_>>(), 0);
    for (k, r) in r.iter().enumerate() {
        assert_eq!(r.disposition, Disposition::Forward, "packet {k}");
        assert_eq!(back[k].to_vec(), pkts[k]);
    }
    assert_eq!(i.replay_window().top(), TOP + 5);
}

#[test]
fn alternating_sas_straddling_the_boundary_keep_exact_semantics() {
    // A without ESN runs out mid-burst while B (ESN) crosses 2^32, interleaved.
    let (a, _) = pair_with(Params::new(gcm128()), |c| c.initial_seq = TOP - 2);
    let pb = Params { esn: true, ..Params::new(gcm128()) };
    let (b, _) = pair_with(pb, |c| c.initial_seq = TOP - 2);
    let sas = [&a, &b, &a, &a, &b, &b, &a, &b];
    let mut w = EspWorker::new();
    let pkts: Vec<Vec<u8>> = (0..sas.len()).map(inner_v4).collect();
    let (d, out, _) = burst(&mut w, &sas, &pkts);
    let f = Disposition::Forward;
    let over = Disposition::Drop(DropReason::SequenceOverflow);
    let dead = Disposition::Drop(DropReason::SaExpired);
    assert_eq!(d, [f, f, f, over, f, f, dead, f]);
    let a_seqs: Vec<u32> = [0, 2].iter().map(|&k| wire_seq(&out[k])).collect();
    let b_seqs: Vec<u32> = [1, 4, 5, 7].iter().map(|&k| wire_seq(&out[k])).collect();
    assert_eq!(a_seqs, [u32::MAX - 1, u32::MAX]);
    assert_eq!(b_seqs, [u32::MAX - 1, u32::MAX, 0, 1]);
    assert_eq!((a.last_seq(), b.last_seq()), (TOP, TOP + 2));
    let a_events = w.events().iter().filter(|e| e.spi == a.spi()).count();
    assert_eq!(a_events, 2, "A: one soft, one hard");
}

#[test]
fn runs_and_alternation_give_each_sa_contiguous_numbers() {
    let (a, _) = pair(Params::new(gcm128()));
    let (b, _) = pair(Params::new(gcm128()));
    let sas = [&a, &a, &b, &a, &b, &b, &a, &a, &a];
    let mut w = EspWorker::new();
    let pkts: Vec<Vec<u8>> = (0..sas.len()).map(inner_v4).collect();
    for round in 0..3u32 {
        let (d, out, _) = burst(&mut w, &sas, &pkts);
        assert!(d.iter().all(|d| *d == Disposition::Forward));
        let of = |sa: &OutboundSa| -> Vec<u32> {
            sas.iter()
                .zip(&out)
                .filter(|(s, _)| std::ptr::eq(**s, sa))
                .map(|(_, b)| wire_seq(b))
                .collect()
        };
        let want_a: Vec<u32> = (1..=6).map(|s| s + round * 6).collect();
        let want_b: Vec<u32> = (1..=3).map(|s| s + round * 3).collect();
        assert_eq!(of(&a), want_a);
        assert_eq!(of(&b), want_b);
    }
}

#[test]
fn drops_inside_a_run_leave_no_gap() {
    let (o, i) = pair(Params::new(gcm128()));
    let mut w = EspWorker::new();
    let pkts = vec![inner_v4(1), malformed(), inner_v4(2), malformed(), malformed(), inner_v4(3)];
    let (d, out, _) = burst(&mut w, &vec![&o; pkts.len()], &pkts);
    let fwd: Vec<usize> = (0..d.len()).filter(|&k| d[k] == Disposition::Forward).collect();
    assert_eq!(fwd, [0, 2, 5]);
    let seqs: Vec<u32> = fwd.iter().map(|&k| wire_seq(&out[k])).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(o.last_seq(), 3, "the numbers of dropped packets went back");
    let (_, out2, _) = burst(&mut w, &[&o], &pkts[..1]);
    assert_eq!(wire_seq(&out2[0]), 4);
    let esp: Vec<Vec<u8>> = fwd.iter().map(|&k| out[k].to_vec()).collect();
    let (r, _) = decap(&mut w, &i, &esp, 0);
    assert!(r.iter().all(|r| r.disposition == Disposition::Forward));
}

#[test]
fn fragments_made_before_encryption_get_the_next_numbers() {
    let (o, _) = pair(Params::new(gcm128()));
    let mut w = EspWorker::new();
    // 3000 bytes, DF clear: split into inner fragments, each its own ESP packet.
    let pkts = vec![inner_v4(3000), inner_v4(10), inner_v4(3000)];
    let (d, out, extra) = burst(&mut w, &[&o, &o, &o], &pkts);
    assert!(d.iter().all(|d| *d == Disposition::Forward));
    assert!(extra.len() >= 2);
    // Each packet's fragments follow it: sent in this order (what `extra_parents` lets the
    // caller do), the sequence numbers run 1, 2, 3, ... on the wire.
    let parents = w.extra_parents().to_vec();
    assert_eq!(parents.len(), extra.len());
    assert!(parents.windows(2).all(|p| p[0] <= p[1]), "{parents:?}");
    assert!(parents.iter().all(|&p| p == 0 || p == 2), "only the big packets fragment");
    let mut wire = Vec::new();
    for (i, pkt) in out.iter().enumerate() {
        wire.push(wire_seq(pkt));
        wire.extend(extra.iter().zip(&parents).filter(|(_, p)| **p == i).map(|(f, _)| wire_seq(f)));
    }
    let n = wire.len() as u32;
    assert_eq!(wire, (1..=n).collect::<Vec<_>>());
    assert_eq!(o.last_seq(), u64::from(n));
}

#[test]
fn workers_sharing_one_sa_never_reuse_a_number() {
    let (o, _) = pair(Params::new(gcm128()));
    let per_worker: Vec<Vec<u32>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..3)
            .map(|t| {
                let o = &o;
                s.spawn(move || {
                    let mut w = EspWorker::new();
                    let mut seen = Vec::new();
                    for round in 0..100usize {
                        let n = 1 + (round * 5 + t) % 24;
                        let pkts: Vec<Vec<u8>> = (0..n)
                            .map(|k| if (k + round) % 7 == 3 { malformed() } else { inner_v4(k) })
                            .collect();
                        let (d, out, _) = burst(&mut w, &vec![o; n], &pkts);
                        for (d, b) in d.iter().zip(&out) {
                            if *d == Disposition::Forward {
                                seen.push(wire_seq(b));
                            }
                        }
                    }
                    seen
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all = per_worker.concat();
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "a sequence number (an AEAD nonce) was used twice");
    assert!(o.last_seq() >= u64::from(*all.last().unwrap()));
    for w in &per_worker {
        assert!(w.windows(2).all(|p| p[0] < p[1]), "each worker's numbers increase");
    }
    // The SA's counters and lifetime usage are shared by the workers: none lost.
    assert_eq!(o.counters().packets.get(), n as u64, "packets counted by all workers");
    let malformed = o.counters().drops.get(dataplane::sa::DropReason::Malformed);
    let sent: u64 = (0..3usize)
        .map(|t| (0..100usize).map(|r| 1 + (r * 5 + t) % 24).sum::<usize>() as u64)
        .sum();
    assert_eq!(malformed + n as u64, sent, "every drop counted too");
}

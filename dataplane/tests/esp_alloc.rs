//! A warmed-up worker allocates nothing per packet: encap and decap bursts run under a
//! counting global allocator.

mod esp_support;

mod alloc_counter;

use std::sync::atomic::Ordering;

use alloc_counter::{ALLOCS, Counting, counting};

use dataplane::buf::{PacketBuf, VecBuf};
use dataplane::esp::{self, Disposition, EspWorker, VecBufAlloc};
use dataplane::sa::Mode;
use dataplane::wire::UdpPacket;
use esp_support::*;

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn warmed_up_bursts_do_not_allocate() {
    // Transport mode over UDP also runs the RFC 3948 checksum fix on every packet.
    for (t, mode) in
        transforms().into_iter().flat_map(|t| [(t, Mode::Tunnel), (t, Mode::Transport)])
    {
        for udp in [false, true] {
            let (o, i) = pair(Params { udp, mode, ..Params::new(t) });
            let mut w = EspWorker::new();
            let plain: Vec<Vec<u8>> = (0..32)
                .map(|n| match mode {
                    Mode::Tunnel => inner_v4(n * 40),
                    Mode::Transport => {
                        // A real UDP checksum, so the fix recomputes it.
                        let mut p = transport_pkt(false, n * 40);
                        UdpPacket::new_unchecked(&mut p[20..]).fill_checksum_v4(&A4, &B4);
                        p
                    }
                })
                .collect();
            let mut bufs: Vec<VecBuf> = plain.iter().map(|p| buf(p)).collect();
            let mut extra: Vec<VecBuf> = Vec::with_capacity(64);
            let sas = vec![&o; bufs.len()];
            // Warm-up burst sizes the scratch vectors.
            for round in 0..3 {
                for (b, p) in bufs.iter_mut().zip(&plain) {
                    b.reset(p, 256);
                }
                counting(round == 2);
                let d = esp::encap_burst(&mut w, &sas, &mut bufs, &mut extra, &mut VecBufAlloc, 0);
                assert!(d.iter().all(|d| *d == Disposition::Forward));
                let r = esp::decap_burst(
                    &mut w,
                    &mut bufs,
                    |s| (s == SPI).then_some(&i),
                    &mut VecBufAlloc,
                    0,
                );
                assert!(r.iter().all(|r| r.disposition == Disposition::Forward));
                counting(false);
            }
            for (b, p) in bufs.iter().zip(&plain) {
                assert_eq!(b.data(), &p[..]);
            }
            assert_eq!(ALLOCS.load(Ordering::Relaxed), 0, "{t} {mode:?} udp {udp}");
        }
    }
}

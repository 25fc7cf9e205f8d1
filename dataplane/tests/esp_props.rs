//! Properties: encap ∘ decap is the identity, and no input makes decap (or encap) panic.

mod esp_support;

use dataplane::buf::VecBuf;
use dataplane::esp::{self, Disposition, EspWorker, VecBufAlloc};
use dataplane::sa::Mode;
use esp_support::*;
use proptest::prelude::*;

fn mode_of(k: u8) -> (Mode, bool, bool) {
    match k % 6 {
        0 => (Mode::Tunnel, false, false),
        1 => (Mode::Tunnel, true, false),
        2 => (Mode::Tunnel, false, true),
        3 => (Mode::Tunnel, true, true),
        4 => (Mode::Transport, false, false),
        _ => (Mode::Transport, true, true),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn encap_then_decap_is_identity(
        t in 0usize..6,
        m in 0u8..6,
        udp: bool,
        esn: bool,
        tos: u8,
        payload in proptest::collection::vec(any::<u8>(), 0..3000),
    ) {
        let (mode, inner6, outer6) = mode_of(m);
        let p = Params { t: transforms()[t], mode, v6_outer: outer6, udp, esn };
        let (o, i) = pair_with(p, |c| c.mtu = 9216);
        let mut pkt = match mode {
            Mode::Tunnel if inner6 => ipv6_udp(A6, B6, payload.len(), tos),
            Mode::Tunnel => ipv4_udp(A4, B4, payload.len(), tos, tos & 1 != 0),
            Mode::Transport => transport_pkt(inner6, payload.len()),
        };
        let l4 = pkt.len() - payload.len();
        pkt[l4..].copy_from_slice(&payload);
        prop_assert_eq!(roundtrip(&o, &i, &pkt), pkt);
    }

    #[test]
    fn fragments_in_any_order_reassemble(
        v6_outer: bool,
        len in 1500usize..8000,
        order in proptest::collection::vec(any::<u32>(), 8),
    ) {
        let p = Params { v6_outer, ..Params::new(gcm128()) };
        let (o, i) = pair_with(p, |c| c.frag = dataplane::sa::FragPolicy::AfterEncryption);
        let mut w = EspWorker::new();
        let pkt = inner_v4(len);
        let (_, out, extra) = encap(&mut w, &o, std::slice::from_ref(&pkt), 0);
        let mut frags: Vec<Vec<u8>> = out.iter().chain(&extra).map(|b| b.to_vec()).collect();
        // Deterministic shuffle driven by `order`.
        for (k, r) in order.iter().enumerate() {
            let n = frags.len();
            frags.swap(k % n, *r as usize % n);
        }
        let (r, back) = decap(&mut w, &i, &frags, 0);
        let fwd: Vec<usize> =
            (0..r.len()).filter(|&k| r[k].disposition == Disposition::Forward).collect();
        prop_assert_eq!(fwd.len(), 1);
        prop_assert_eq!(back[fwd[0]].to_vec(), pkt);
    }

    #[test]
    fn arbitrary_bytes_never_panic_decap(
        pkts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..8),
        plant_spi: bool,
    ) {
        let (_, i) = pair(Params::new(gcm128()));
        let mut w = EspWorker::new();
        let mut bufs: Vec<VecBuf> = pkts
            .iter()
            .map(|p| {
                let mut p = p.clone();
                if plant_spi && p.len() >= 24 {
                    p[0] = 0x45;
                    p[20..24].copy_from_slice(&SPI.to_be_bytes());
                }
                VecBuf::from_slice(&p)
            })
            .collect();
        let r = esp::decap_burst(&mut w, &mut bufs, |s| (s == SPI).then_some(&i), &mut VecBufAlloc, 0);
        prop_assert_eq!(r.len(), pkts.len());
        prop_assert!(r.iter().all(|r| r.disposition != Disposition::Forward));
    }

    #[test]
    fn mutated_esp_packets_never_panic_and_never_pass_altered(
        t in 0usize..6,
        udp: bool,
        at in any::<prop::sample::Index>(),
        xor in 1u8..=255,
        cut in 0usize..64,
    ) {
        let (o, i) = pair(Params { udp, ..Params::new(transforms()[t]) });
        let mut w = EspWorker::new();
        let pkt = inner_v4(100);
        let (_, out, _) = encap(&mut w, &o, std::slice::from_ref(&pkt), 0);
        let mut bad = out[0].to_vec();
        let k = at.index(bad.len());
        bad[k] ^= xor;
        let truncated: Vec<u8> = bad[..bad.len().saturating_sub(cut)].to_vec();
        let (r, back) = decap(&mut w, &i, &[bad, truncated], 0);
        for (r, b) in r.iter().zip(&back) {
            // Only an unauthenticated outer header field may change and still pass; the
            // inner packet then is exactly the one sent (ECN aside, which tos bits may set).
            if r.disposition == Disposition::Forward {
                let mut got = b.to_vec();
                got[1] &= !3;
                got[10] = pkt[10];
                got[11] = pkt[11];
                let mut want = pkt.clone();
                want[1] &= !3;
                prop_assert_eq!(got, want);
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_encap(
        pkts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..2000), 1..8),
        v4_hdr: bool,
    ) {
        let (o, _) = pair(Params::new(gcm128()));
        let mut w = EspWorker::new();
        let mut bufs: Vec<VecBuf> = pkts
            .iter()
            .map(|p| {
                let mut p = p.clone();
                if v4_hdr && p.len() >= 20 {
                    p[0] = 0x45;
                    let n = p.len() as u16;
                    p[2..4].copy_from_slice(&n.to_be_bytes());
                }
                VecBuf::from_slice(&p)
            })
            .collect();
        let sas = vec![&o; bufs.len()];
        let mut extra = Vec::new();
        let r = esp::encap_burst(&mut w, &sas, &mut bufs, &mut extra, &mut VecBufAlloc, 0);
        prop_assert_eq!(r.len(), pkts.len());
    }
}

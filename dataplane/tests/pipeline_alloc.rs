//! A warmed-up pair of pipeline workers allocates nothing per packet: plaintext in on A,
//! SPD, ESP encapsulation, routing and neighbour output, then classification, ESP
//! decapsulation and forwarding on B, all under a counting global allocator.

mod pipeline_support;

mod alloc_counter;

use std::sync::atomic::Ordering;

use alloc_counter::{ALLOCS, Counting, counting};

use dataplane::buf::VecBuf;

use pipeline_support::*;

#[global_allocator]
static GLOBAL: Counting = Counting;

const BURST: usize = 32;

#[test]
fn steady_state_tunnel_traffic_allocates_nothing() {
    // The counter sees allocations at all.
    counting(true);
    drop(std::hint::black_box(vec![0u8; 16]));
    counting(false);
    assert!(ALLOCS.load(Ordering::SeqCst) > 0);

    let mut net = Net::new();
    net.tunnel(1);
    // Resolve every neighbour on the path once.
    net.host_sends(Side::A, &udp(HOST_A, HOST_B, 1, 2, &[0; 200]));
    net.run();
    assert_eq!(net.b_inside.len(), 1);

    let frames: Vec<Vec<u8>> = (0..BURST)
        .map(|i| {
            let ip = udp(HOST_A, HOST_B, 1000 + i as u16 % 4, 2, &[i as u8; 200]);
            eth(A_IN_MAC, HOST_A_MAC, ETH_IPV4, &ip)
        })
        .collect();
    let mut burst: Vec<VecBuf> = Vec::with_capacity(BURST);
    let mut a_out: Vec<(u16, VecBuf)> = Vec::with_capacity(2 * BURST);
    let mut b_in: Vec<VecBuf> = Vec::with_capacity(2 * BURST);
    let mut b_out: Vec<(u16, VecBuf)> = Vec::with_capacity(2 * BURST);
    let mut delivered = 0;
    for round in 0..8 {
        burst.extend(frames.iter().map(|f| VecBuf::from_slice(f)));
        a_out.clear();
        b_out.clear();
        let measured = round >= 3;
        ALLOCS.store(0, Ordering::SeqCst);
        counting(measured);
        let now = net.now + round * 1000;
        net.a.w.process_rx(IN_PORT, &mut burst, now, &mut |p, b| a_out.push((p, b)));
        b_in.extend(a_out.drain(..).map(|(p, b)| {
            assert_eq!(p, OUT_PORT);
            b
        }));
        net.b.w.process_rx(OUT_PORT, &mut b_in, now, &mut |p, b| b_out.push((p, b)));
        net.a.w.poll_control(now, &mut |p, b| a_out.push((p, b)));
        net.b.w.poll_control(now, &mut |p, b| b_out.push((p, b)));
        counting(false);
        if measured {
            assert_eq!(ALLOCS.load(Ordering::SeqCst), 0, "round {round} allocated");
        }
        assert_eq!(b_out.len(), BURST);
        assert!(b_out.iter().all(|(p, _)| *p == IN_PORT));
        delivered += b_out.len();
    }
    assert_eq!(delivered, 8 * BURST);
    assert_eq!(net.b.w.counters().drop_esp, 0);
}

//! ASA single-SA mode in the worker pipeline: ESP on an inbound SA the control plane marked
//! non-primary (a duplicate tunnel of the same peer and selectors) is dropped before any
//! crypto and counted as `vpn-overlap-conflict` on the SA and `drop_vpn_overlap` on the
//! worker; the primary SA beside it carries traffic, and clearing the mark (the primary
//! went away) lets the duplicate through again without reinstalling it.

mod pipeline_support;

use dataplane::queue::Command;
use dataplane::sa::DropReason;
use dataplane::wire::Ipv4Addr;

use pipeline_support::*;

fn inner(n: u8) -> Vec<u8> {
    udp(HOST_A, HOST_B, 1234, 5678, &[n; 100])
}

#[test]
fn esp_on_a_non_primary_sa_is_dropped_as_vpn_overlap_conflict() {
    let mut net = Net::new();
    // Two tunnels between the same gateways and selectors: B keeps the first as primary.
    let (primary_idx, primary) = net.install_sa(1);
    let (duplicate_idx, duplicate) = net.install_sa(2);
    let dup = net.b.table.inbound(duplicate).unwrap();
    assert!(!dup.is_non_primary(), "a new SA is primary until marked");
    dup.set_non_primary(true);
    assert!(dup.is_non_primary());

    // A (the peer insisting on its duplicate) sends on the duplicate: all dropped.
    net.command(Side::A, Command::BindSa { policy: POLICY, sa: Some(duplicate_idx) });
    for n in 0..3 {
        net.host_sends(Side::A, &inner(n));
    }
    net.run();
    assert!(net.b_inside.is_empty(), "nothing comes out of a non-primary SA");
    let dup = net.b.table.inbound(duplicate).unwrap();
    assert_eq!(dup.counters().drops.get(DropReason::VpnOverlapConflict), 3);
    assert_eq!(dup.counters().drops.total(), 3, "no other reason (no crypto was tried)");
    assert_eq!(dup.counters().packets.get(), 0);
    assert_eq!(dup.replay_window().top(), 0, "the window did not move");
    assert_eq!(net.b.w.counters().drop_vpn_overlap, 3);
    assert_eq!(net.b.w.counters().drop_esp, 3);
    let names = dataplane::pipeline::Counters::NAMES;
    let at = names.iter().position(|n| *n == "drop_vpn_overlap").expect("a named counter");
    assert_eq!(net.b.w.counters().values()[at], 3);

    // The primary SA beside it carries traffic.
    net.command(Side::A, Command::BindSa { policy: POLICY, sa: Some(primary_idx) });
    net.host_sends(Side::A, &inner(7));
    net.run();
    assert_eq!(net.b_inside.len(), 1);
    assert_eq!(&net.b_inside[0][14..], &two_hops(&inner(7))[..]);
    let p = net.b.table.inbound(primary).unwrap();
    assert_eq!(p.counters().packets.get(), 1);
    assert_eq!(p.counters().drops.total(), 0);

    // The primary is gone: the control plane clears the mark, and the duplicate (now the
    // only SA) decrypts from the next burst, its anti-replay window intact.
    net.b.table.inbound(duplicate).unwrap().set_non_primary(false);
    net.command(Side::A, Command::BindSa { policy: POLICY, sa: Some(duplicate_idx) });
    let other = udp(HOST_A, Ipv4Addr::new(10, 2, 0, 5), 4321, 5678, &[9; 60]);
    net.host_sends(Side::A, &other);
    net.run();
    assert_eq!(net.b_inside.len(), 2);
    let dup = net.b.table.inbound(duplicate).unwrap();
    assert_eq!(dup.counters().packets.get(), 1);
    assert_eq!(dup.counters().drops.get(DropReason::VpnOverlapConflict), 3);
    assert_eq!(net.b.w.counters().drop_vpn_overlap, 3, "no new drop");
}

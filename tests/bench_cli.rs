//! `ferrogate bench`: the traffic it generates is what each case claims (checked with the
//! ESP engine and ferrogate's own SAs), the child configs are sized to the capture, the
//! command line rejects bad input, and one tiny case runs end to end.
mod common;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::Duration;

use common::*;
use dataplane::buf::{PacketBuf, VecBuf};
use dataplane::esp::{self, Disposition, EspWorker, VecBufAlloc};
use dataplane::sa::{Direction, InboundSa};
use dataplane::spd::{IpPrefix, TrafficSelector};
use dataplane::wire::{Ipv4Packet, UdpPacket};
use ferrogate::bench::case::{ChildSpec, Kind, flow_cache_for};
use ferrogate::bench::topology::{self, Tunnel};
use ferrogate::bench::traffic::{self, Dir, Plan, Size};
use ferrogate::esp_tool::sa_file::parse_transform;

fn plan(dir: Dir, size: Size, tunnels: u32) -> Plan {
    Plan {
        dir,
        size,
        tunnels,
        transform: parse_transform("aes128gcm16").unwrap(),
        replay_window: 64,
        queues: 1,
    }
}

/// Inner IPv4 header and UDP checks; returns (src, dst, IP length).
fn check_ip(ip: &[u8]) -> (Ipv4Addr, Ipv4Addr, usize) {
    let p = Ipv4Packet::new_checked(ip).expect("IPv4");
    assert!(p.verify_checksum());
    let udp = UdpPacket::new_checked(p.payload()).expect("UDP");
    assert!(udp.verify_checksum_v4(&p.src_addr(), &p.dst_addr()));
    (p.src_addr(), p.dst_addr(), usize::from(p.total_len()))
}

#[test]
fn enc_traffic_reaches_every_tunnel_in_the_imix_ratio() {
    let env = TestEnv::new("bench-enc");
    let w = traffic::generate(&plan(Dir::Enc, Size::Imix, 300), &env.dir).unwrap();
    let frames = read_pcap(&w.files[0]);
    assert_eq!(frames.len() as u64, w.packets);
    assert_eq!(frames.len(), 1032, "1024 rounded up to whole IMIX rounds");
    let mut sizes: HashMap<usize, usize> = HashMap::new();
    let mut tunnels = vec![0u32; 300];
    for f in &frames {
        assert_eq!(&f[..6], &topology::INSIDE_MAC, "to the inside interface");
        *sizes.entry(f.len()).or_default() += 1;
        let (src, dst, len) = check_ip(&f[14..]);
        assert_eq!(len, f.len() - 14);
        assert_eq!(u32::from(src) >> 20, u32::from(topology::LOCAL_HOSTS.0) >> 20);
        let t = (0..300).find(|&t| Tunnel(t).remote_host() == dst).expect("a tunnel's host");
        tunnels[t as usize] += 1;
    }
    assert_eq!(sizes[&64] * 4, sizes[&594] * 7);
    assert_eq!(sizes[&594], sizes[&1518] * 4);
    assert!(tunnels.iter().all(|&n| n >= 3), "every tunnel gets packets");
    assert!((w.mean_frame() - 4342.0 / 12.0).abs() < 1e-9);
}

/// Decrypts a dec capture with ferrogate's own inbound SAs (anti-replay and lab restarts
/// on), twice in a row as net_pcap replays it: nothing may be refused.
fn replay_dec(tunnels: u32, size: Size, expect_inner: &[usize]) {
    let env = TestEnv::new("bench-dec");
    let p = plan(Dir::Dec, size, tunnels);
    let w = traffic::generate(&p, &env.dir).unwrap();
    let frames = read_pcap(&w.files[0]);
    let mut sas: HashMap<u32, InboundSa> = HashMap::new();
    for t in (0..tunnels).map(Tunnel) {
        let s = t.sa(p.transform, Direction::Inbound, 64);
        let mut cfg = s.spec.config(Direction::Inbound);
        cfg.lab_sequence_restart = s.spec.lab_sequence_restart;
        assert!(cfg.lab_sequence_restart);
        // What the appliance checks decrypted packets against.
        let (src, dst) = (s.spec.match_src.unwrap(), s.spec.match_dst.unwrap());
        cfg.traffic_selectors = vec![TrafficSelector::new(
            IpPrefix::new(src.addr, src.len).unwrap(),
            IpPrefix::new(dst.addr, dst.len).unwrap(),
        )];
        sas.insert(t.spi_in(), InboundSa::new(&cfg).unwrap());
    }
    let mut worker = EspWorker::new();
    let mut inner_sizes = Vec::new();
    for pass in 0..2 {
        for f in &frames {
            assert_eq!(&f[..6], &topology::OUTSIDE_MAC, "to the outside interface");
            let outer = Ipv4Packet::new_checked(&f[14..]).unwrap();
            assert_eq!(outer.dst_addr(), topology::OUTSIDE_ADDR);
            let mut pkt = [VecBuf::from_slice(&f[14..])];
            let r =
                esp::decap_burst(&mut worker, &mut pkt, |spi| sas.get(&spi), &mut VecBufAlloc, 0)
                    [0];
            assert_eq!(r.disposition, Disposition::Forward, "pass {pass}: SPI {:#x}", r.spi);
            let (src, dst, len) = check_ip(pkt[0].data());
            assert_eq!(IpAddr::V4(src), IpAddr::V4(Tunnel(r.spi - 0x2000_0000).remote_host()));
            assert_eq!(u32::from(dst) >> 20, u32::from(topology::LOCAL_HOSTS.0) >> 20);
            if pass == 0 {
                inner_sizes.push(len + 14);
            }
        }
    }
    assert_eq!(&inner_sizes[..expect_inner.len()], expect_inner);
    let decrypted: u64 = sas.values().map(|s| s.counters().packets.get()).sum();
    assert_eq!(decrypted, 2 * frames.len() as u64);
}

#[test]
fn dec_traffic_decrypts_with_ferrogates_sas_on_every_pass() {
    // One tunnel: consecutive sequence numbers 1..=1032.
    replay_dec(1, Size::Imix, &[64, 594, 64, 64, 594, 64, 1518]);
    // Many tunnels: two packets per SA, spaced past the window.
    replay_dec(40, Size::Ip1420, &[1434, 1434]);
}

#[test]
fn child_configs_are_sized_to_the_capture() {
    let env = TestEnv::new("bench-cfg");
    let p = plan(Dir::Dec, Size::B64, 1000);
    let w = traffic::generate(&p, &env.dir).unwrap();
    assert_eq!(w.packets, 2000);
    let spec = ChildSpec {
        kind: Kind::Appliance,
        dir: p.dir,
        tunnels: p.tunnels,
        transform: "aes128gcm16".into(),
        replay_window: 64,
        flow_cache: flow_cache_for(w.flows),
        traffic: w.clone(),
        workers: 1,
        burst: 32,
        warmup_s: 0.1,
        measure_s: 0.1,
        file_prefix: "fgb-test".into(),
        operator_socket: env.path("op.sock"),
        result: env.path("r.json"),
        memif: None,
    };
    let profile = spec.profile().unwrap();
    assert!(u64::from(profile.mempool.mbufs) > w.packets + profile.mbufs_needed());
    assert!(usize::from(profile.mempool.data_room) >= 128 + w.max_frame + 64);
    assert!(profile.eal.memory_mb >= 96);
    let cfg = spec.appliance_config().unwrap();
    assert_eq!(cfg.sas.len(), 2000);
    assert_eq!(cfg.policies.len(), 1000);
    assert!(
        cfg.sas
            .iter()
            .filter(|s| s.direction == Direction::Inbound)
            .all(|s| { s.spec.lab_sequence_restart && s.spec.replay_window == 64 })
    );
    // dec: ESP arrives on the traffic port (0) at the outside interface.
    assert_eq!(cfg.interfaces[1].port, 0);
    assert_eq!(flow_cache_for(100_000), 1 << 19);
}

#[test]
fn two_workers_get_one_capture_file_and_rx_queue_each_for_enc() {
    let env = TestEnv::new("bench-2w");
    let mut p = plan(Dir::Enc, Size::Imix, 1);
    p.queues = 2;
    let w = traffic::generate(&p, &env.dir).unwrap();
    assert_eq!(w.files.len(), 2);
    let per_file: Vec<usize> = w.files.iter().map(|f| read_pcap(f).len()).collect();
    assert_eq!(per_file, [516, 516], "whole IMIX rounds alternate between the files");
    let spec = ChildSpec {
        kind: Kind::Forwarder,
        dir: p.dir,
        tunnels: 1,
        transform: "aes128gcm16".into(),
        replay_window: 64,
        flow_cache: flow_cache_for(w.flows),
        traffic: w,
        workers: 2,
        burst: 32,
        warmup_s: 0.1,
        measure_s: 0.1,
        file_prefix: "fgb-test2".into(),
        operator_socket: env.path("op.sock"),
        result: env.path("r.json"),
        memif: None,
    };
    let profile = spec.profile().unwrap();
    assert_eq!(profile.eal.worker_cores, [1, 2]);
    assert_eq!(profile.ports[0].rx_queues, 2);
    let ferrogate::profile::Device::Vdev(dev) = &profile.ports[0].device else { panic!() };
    assert_eq!(dev.matches("rx_pcap=").count(), 2);
}

#[test]
fn bad_arguments_are_refused() {
    for args in [&["--tunnels", "0"][..], &["--transform", "rot13"], &["--size", "65"]] {
        let out = Command::new(FERROGATE).arg("bench").args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} accepted");
        assert!(!out.stderr.is_empty());
    }
}

/// One tiny case through both children: the output ends with its machine-readable line.
#[test]
fn one_tiny_case_runs_end_to_end() {
    let out = run_ferrogate(
        &[
            "bench",
            "--quick",
            "--size",
            "64",
            "--dir",
            "enc",
            "--warmup",
            "0.2",
            "--duration",
            "0.5",
            "--no-save",
        ],
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    let mpps: f64 = last
        .strip_prefix("ferrogate 64 enc Mpps=")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("last line {last:?}"));
    assert!(mpps > 0.0);
    assert!(stdout.contains("I/O-only Mpps"));
}

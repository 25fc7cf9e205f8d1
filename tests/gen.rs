//! `ferrogate gen`: the packets it writes are what it says (sizes, IMIX ratio, flows,
//! tunnels, per-flow sequence numbers, valid checksums; ESP that `ferrogate esp decap`
//! opens with the same SAs), and live runs on DPDK vdevs without hugepages measure what
//! comes back: straight back over a net_ring, and through a `ferrogate run` forwarder over
//! net_memif, at a low fixed rate with no loss, a rate and latency percentiles.
mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use dataplane::wire::{Ipv4Packet, UdpPacket};
use ferrogate::bench::topology::{LOCAL_HOSTS, Tunnel};
use ferrogate::r#gen::stamp::Stamp;
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);

/// An inner frame's addresses, length and stamp, its checksums verified.
fn parse(frame: &[u8]) -> (Ipv4Addr, Ipv4Addr, usize, Stamp) {
    assert_eq!(&frame[12..14], &[0x08, 0x00], "IPv4");
    let ip = Ipv4Packet::new_checked(&frame[14..]).expect("IPv4 header");
    assert!(ip.verify_checksum(), "IPv4 checksum");
    assert_eq!(usize::from(ip.total_len()), frame.len() - 14);
    let udp = UdpPacket::new_checked(ip.payload()).expect("UDP");
    assert!(udp.verify_checksum_v4(&ip.src_addr(), &ip.dst_addr()), "UDP checksum");
    let stamp = Stamp::read(udp.payload()).expect("stamp");
    (ip.src_addr(), ip.dst_addr(), frame.len(), stamp)
}

fn gen_ok(args: &[&str]) -> String {
    let mut all = vec!["gen"];
    all.extend_from_slice(args);
    assert_success(&run_ferrogate(&all, LIMIT))
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
}

/// Per-flow sequence numbers run 0, 1, 2, ... in capture order.
fn check_sequences(stamps: &[Stamp], flows: usize) {
    let mut next: HashMap<u32, u64> = HashMap::new();
    for s in stamps {
        let n = next.entry(s.flow).or_default();
        assert_eq!(s.seq, *n, "flow {} out of sequence", s.flow);
        *n += 1;
    }
    assert_eq!(next.len(), flows, "flows seen");
}

#[test]
fn pcap_enc_imix_has_the_ratio_flows_tunnels_and_sequences() {
    let env = TestEnv::new("gen-enc");
    let pcap = env.path("enc.pcap");
    let p = pcap.to_str().unwrap();
    let out = gen_ok(&[
        "--size",
        "imix",
        "--tunnels",
        "5",
        "--flows",
        "20",
        "--count",
        "240",
        "--write-pcap",
        p,
        "--json",
    ]);
    let v = json(&out);
    assert_eq!(v["pcap"]["packets"], 240);
    let frames = read_pcap(&pcap);
    assert_eq!(frames.len(), 240);
    let mut sizes: BTreeMap<usize, usize> = BTreeMap::new();
    let (mut srcs, mut dsts) = (BTreeSet::new(), BTreeSet::new());
    let mut stamps = Vec::new();
    for f in &frames {
        let (src, dst, len, s) = parse(f);
        *sizes.entry(len).or_default() += 1;
        assert_eq!(u32::from(src) >> 20, u32::from(LOCAL_HOSTS.0) >> 20, "a local host");
        assert_eq!(dst, Tunnel(s.flow % 5).remote_host(), "flow f is in tunnel f % 5");
        srcs.insert(src);
        dsts.insert(dst);
        stamps.push(s);
    }
    assert_eq!(sizes, BTreeMap::from([(64, 140), (594, 80), (1518, 20)]), "7:4:1");
    assert_eq!((srcs.len(), dsts.len()), (20, 5));
    check_sequences(&stamps, 20);
}

#[test]
fn pcap_fixed_and_listed_sizes() {
    let env = TestEnv::new("gen-sizes");
    for (size, expect) in
        [("64", vec![64]), ("9000", vec![9000]), ("128,1500,9000", vec![128, 1500, 9000])]
    {
        let pcap = env.path(&format!("s{size}.pcap"));
        gen_ok(&["--size", size, "--count", "9", "--write-pcap", pcap.to_str().unwrap()]);
        let lens: Vec<usize> = read_pcap(&pcap).iter().map(|f| parse(f).2).collect();
        let want: Vec<usize> = expect.iter().cycle().take(9).copied().collect();
        assert_eq!(lens, want, "--size {size}");
    }
}

/// Decrypts a capture with `ferrogate esp decap --sa` and returns the inner frames.
fn decap(env: &TestEnv, sa: &Path, esp: &Path, n: usize) -> Vec<Vec<u8>> {
    let plain = env.path("plain.pcap");
    let out = Command::new(FERROGATE)
        .args(["esp", "decap", "--sa"])
        .arg(sa)
        .arg(esp)
        .arg(&plain)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains(&format!("transformed {n}, passed unchanged 0, dropped 0")),
        "{stdout}"
    );
    read_pcap(&plain)
}

#[test]
fn pcap_dec_opens_with_esp_decap_and_the_derived_sas() {
    let env = TestEnv::new("gen-dec");
    let (pcap, sa) = (env.path("dec.pcap"), env.path("sa.toml"));
    gen_ok(&[
        "--dir",
        "dec",
        "--size",
        "imix",
        "--tunnels",
        "3",
        "--flows",
        "6",
        "--count",
        "36",
        "--transform",
        "aes256gcm16",
        "--write-pcap",
        pcap.to_str().unwrap(),
        "--write-sa",
        sa.to_str().unwrap(),
    ]);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&sa).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "the SA file holds keys: {mode:o}");
    let esp = read_pcap(&pcap);
    let mut spis = BTreeSet::new();
    for f in &esp {
        let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
        assert_eq!(u8::from(ip.next_header()), 50, "ESP");
        spis.insert(u32::from_be_bytes(ip.payload()[..4].try_into().unwrap()));
    }
    assert_eq!(spis, BTreeSet::from([0x2000_0000, 0x2000_0001, 0x2000_0002]));
    let inner = decap(&env, &sa, &pcap, 36);
    let mut stamps = Vec::new();
    let mut sizes: BTreeMap<usize, usize> = BTreeMap::new();
    for f in &inner {
        let (src, dst, len, s) = parse(f);
        assert_eq!(src, Tunnel(s.flow % 3).remote_host());
        assert_eq!(u32::from(dst) >> 20, u32::from(LOCAL_HOSTS.0) >> 20);
        *sizes.entry(len).or_default() += 1;
        stamps.push(s);
    }
    assert_eq!(sizes, BTreeMap::from([(64, 21), (594, 12), (1518, 3)]));
    check_sequences(&stamps, 6);
}

const SA_FILE: &str = r#"
[[sa]]
spi = 0x4001
transform = "aes128-sha256"
enc_key = "000102030405060708090a0b0c0d0e0f"
auth_key = "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f"
local = "203.0.113.1"
remote = "192.0.2.1"
match_src = "10.20.0.0/24"
match_dst = "10.30.0.0/16"

[[sa]]
spi = 0x4002
transform = "aes128-sha256"
enc_key = "303132333435363738393a3b3c3d3e3f"
auth_key = "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
local = "2001:db8::1"
remote = "2001:db8::2"
"#;

#[test]
fn pcap_dec_with_an_sa_file_uses_its_endpoints_and_prefixes() {
    let env = TestEnv::new("gen-safile");
    let (pcap, sa) = (env.path("dec.pcap"), env.path("sa.toml"));
    std::fs::write(&sa, SA_FILE).unwrap();
    gen_ok(&[
        "--dir",
        "dec",
        "--size",
        "100,1400",
        "--sa",
        sa.to_str().unwrap(),
        "--flows",
        "4",
        "--count",
        "20",
        "--write-pcap",
        pcap.to_str().unwrap(),
    ]);
    let esp = read_pcap(&pcap);
    let ethertypes: BTreeSet<[u8; 2]> = esp.iter().map(|f| [f[12], f[13]]).collect();
    assert_eq!(ethertypes, BTreeSet::from([[0x08, 0x00], [0x86, 0xdd]]), "v4 and v6 tunnels");
    for f in decap(&env, &sa, &pcap, 20) {
        let (src, dst, _, s) = parse(&f);
        if s.flow % 2 == 0 {
            assert_eq!(u32::from(src) >> 8, u32::from(Ipv4Addr::new(10, 20, 0, 0)) >> 8);
            assert_eq!(u32::from(dst) >> 16, u32::from(Ipv4Addr::new(10, 30, 0, 0)) >> 16);
        } else {
            assert_eq!(src, Tunnel(1).remote_host(), "no prefix: the lab plan");
        }
    }
}

#[test]
fn bad_arguments_are_refused() {
    for args in [
        &["--size", "63", "--count", "1", "--write-pcap", "/dev/null"][..],
        &["--size", "imix,64"],
        &["--rate", "0", "--port", "net_ring0"],
        &["--write-pcap", "/dev/null"],
        &["--tunnels", "4", "--flows", "2", "--count", "1", "--write-pcap", "/dev/null"],
        &["--sa", "/nonexistent.toml", "--count", "1", "--write-pcap", "/dev/null"],
        &["--count", "10"],
        &["--port", "net_ring0", "--duration", "-1"],
    ] {
        let out = Command::new(FERROGATE).arg("gen").args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} accepted");
        assert!(!out.stderr.is_empty(), "{args:?}: no message");
    }
}

/// Checks a live run's JSON: everything sent came back, in order, with latencies.
fn check_no_loss(v: &Value, sent: u64) {
    assert_eq!(v["mode"], "dpdk");
    assert_eq!(v["tx"]["packets"], sent, "{v}");
    assert_eq!(v["rx"]["packets"], sent, "{v}");
    assert_eq!(v["rx"]["lost"], 0);
    assert_eq!(v["rx"]["reordered"], 0);
    assert_eq!(v["rx"]["undecryptable"], 0);
    assert!(v["rx"]["pps"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["tx"]["gbps"].as_f64().unwrap() > 0.0, "{v}");
    let l = &v["latency_ns"];
    assert_eq!(l["samples"], sent);
    let (p50, p99, max) =
        (l["p50"].as_u64().unwrap(), l["p99"].as_u64().unwrap(), l["max"].as_u64().unwrap());
    assert!(0 < p50 && p50 <= p99 && p99 <= max, "{l}");
}

/// Straight back over one net_ring port, plaintext and ESP (which the generator decrypts
/// again), 2,000 packets at 4,000 packets/s.
#[test]
fn net_ring_loopback_at_a_low_rate_loses_nothing() {
    for dir in ["enc", "dec"] {
        let env = TestEnv::new(&format!("gen-ring-{dir}"));
        let out = gen_ok(&[
            "--port",
            "net_ring0",
            "--no-huge",
            "--file-prefix",
            &env.prefix,
            "--dir",
            dir,
            "--size",
            "imix",
            "--tunnels",
            "4",
            "--flows",
            "16",
            "--rate",
            "4000",
            "--duration",
            "0.5",
            "--drain",
            "5",
            "--json",
        ]);
        let v = json(&out);
        check_no_loss(&v, 2000);
        assert_eq!(v["esp"], dir == "dec");
        let pps = v["tx"]["pps"].as_f64().unwrap();
        assert!((3000.0..5000.0).contains(&pps), "paced at 4000/s: {pps}");
        assert_eq!(v["ports"][0]["rx_packets"], 2000);
        assert_eq!(env.leftovers(), Vec::<std::path::PathBuf>::new());
    }
}

/// Ends a device under test this test started (SIGINT, by its pid) and collects its output.
fn stop(dut: std::process::Child) -> std::process::Output {
    let kill = Command::new("kill").args(["-INT", &dut.id().to_string()]).status().unwrap();
    assert!(kill.success());
    wait_bounded(dut, LIMIT)
}

/// Through a device under test: `ferrogate run` forwards between a net_memif port (the
/// generator's link) and a net_ring that loops back, so every packet crosses the forwarder
/// twice. The text results say the same as the JSON ones.
#[test]
fn through_a_forwarder_over_memif() {
    let env = TestEnv::new("gen-memif");
    let dut_prefix = format!("{}-d", env.prefix);
    let socket = env.path("memif.sock");
    let memif = |role: &str| {
        format!("net_memif0,role={role},socket={},socket-abstract=no", socket.display())
    };
    let profile = format!(
        "[eal]\nfile_prefix = \"{dut_prefix}\"\nmain_core = 0\nmemory_mb = 64\nhugepages = \
         \"never\"\nin_memory = true\nlog_level = \"error\"\n\n[mempool]\nmbufs = 4095\ncache = \
         32\n\n[run]\nburst = 32\nstats_interval_ms = 0\nidle_sleep_us = 50\nwait_link_up_ms = \
         30000\n\n[[port]]\nvdev = \"{}\"\nrx_desc = 256\ntx_desc = 256\n\n[[port]]\nvdev = \
         \"net_ring0\"\nrx_desc = 256\ntx_desc = 256\n",
        memif("server")
    );
    let path = env.path("dut.toml");
    std::fs::write(&path, profile).unwrap();
    let dut = spawn_ferrogate(&["run", "--profile", path.to_str().unwrap(), "--duration", "30"]);
    let start = std::time::Instant::now();
    while !socket.exists() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(socket.exists(), "the forwarder did not start: {:?}", wait_bounded(dut, LIMIT));
    let port = memif("client");
    let gen_out = run_ferrogate(
        &[
            "gen",
            "--port",
            &port,
            "--no-huge",
            "--file-prefix",
            &env.prefix,
            "--size",
            "64",
            "--flows",
            "8",
            "--rate",
            "2000",
            "--count",
            "1000",
            "--drain",
            "5",
        ],
        LIMIT,
    );
    let dut_out = stop(dut);
    let text = assert_success(&gen_out);
    assert_success(&dut_out);
    assert!(text.contains("tx: 1000 packets"), "{text}");
    assert!(text.contains("rx: 1000 packets"), "{text}");
    assert!(text.contains("lost 0 (0.0000 %), reordered 0"), "{text}");
    assert!(text.contains("latency (µs): min "), "{text}");
    let dut_text = String::from_utf8_lossy(&dut_out.stdout);
    assert!(dut_text.contains("forwarded 2000 of 2000 packets (0 dropped)"), "{dut_text}");
}

/// As fast as the port takes them, send only: net_null without RX.
#[test]
fn maximum_rate_on_net_null() {
    let env = TestEnv::new("gen-null");
    let out = gen_ok(&[
        "--port",
        "net_null0,no-rx=1",
        "--no-huge",
        "--file-prefix",
        &env.prefix,
        "--no-rx",
        "--duration",
        "0.3",
        "--json",
    ]);
    let v = json(&out);
    assert!(v["tx"]["pps"].as_f64().unwrap() > 10_000.0, "{v}");
    assert!(v["rx"].is_null() && v["latency_ns"].is_null());
}

/// SIGINT ends an unbounded run cleanly: results printed, status 0, nothing left behind.
#[test]
fn sigint_stops_an_unbounded_run() {
    let env = TestEnv::new("gen-sigint");
    let child = spawn_ferrogate(&[
        "gen",
        "--port",
        "net_ring0",
        "--no-huge",
        "--file-prefix",
        &env.prefix,
        "--rate",
        "1000",
        "--json",
    ]);
    std::thread::sleep(Duration::from_millis(1500));
    // Only the child this test started, by its pid.
    let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let out = wait_bounded(child, LIMIT);
    let v = json(&assert_success(&out));
    assert_eq!(v["interrupted"], true);
    let sent = v["tx"]["packets"].as_u64().unwrap();
    assert!(sent > 0);
    assert_eq!(v["rx"]["packets"].as_u64(), Some(sent), "in flight drained");
    assert_eq!(env.leftovers(), Vec::<std::path::PathBuf>::new());
}

/// Hex of an SA's encryption key (key and salt), as a config file gives it.
fn enc_key_hex(sa: &ferrogate::appliance::config::StaticSa) -> String {
    let cfg = sa.spec.config(sa.direction);
    cfg.keys.enc().iter().map(|b| format!("{b:02x}")).collect()
}

/// Through the IPsec appliance, both ways, with the benchmark lab's addresses and tunnel 0's
/// SAs: enc sends plaintext into the inside memif and decrypts the appliance's ESP from
/// the outside one; dec sends ESP into the outside and reads the plaintext from the inside.
#[test]
fn through_the_appliance_both_ways_over_memif() {
    use dataplane::sa::Direction;
    let env = TestEnv::new("gen-appl");
    let dut_prefix = format!("{}-d", env.prefix);
    let (inside, outside) = (env.path("in.sock"), env.path("out.sock"));
    let memif = |n: u32, role: &str, sock: &Path| {
        format!("net_memif{n},role={role},socket={},socket-abstract=no", sock.display())
    };
    let transform = ferrogate::esp_tool::sa_file::parse_transform("aes128gcm16").unwrap();
    let out_sa = Tunnel(0).sa(transform, Direction::Outbound, 64);
    let in_sa = Tunnel(0).sa(transform, Direction::Inbound, 64);
    let config = format!(
        r#"
[eal]
file_prefix = "{dut_prefix}"
main_core = 0
worker_cores = [1]
cpus = [0, 0]
memory_mb = 96
hugepages = "never"
in_memory = true
log_level = "error"

[mempool]
mbufs = 4095
cache = 32

[run]
burst = 32
stats_interval_ms = 0
idle_sleep_us = 50
wait_link_up_ms = 30000

[[port]]
name = "lan"
vdev = "{}"
rx_desc = 256
tx_desc = 256

[[port]]
name = "wan"
vdev = "{}"
rx_desc = 256
tx_desc = 256

[[interface]]
name = "inside"
port = "lan"
role = "inside"
address = "10.1.0.1/24"
mac = "02:fe:00:00:01:01"

[[interface]]
name = "outside"
port = "wan"
role = "outside"
address = "192.0.2.1/24"
mac = "02:fe:00:00:02:01"

[[route]]
destination = "172.16.0.0/12"
interface = "inside"
via = "10.1.0.2"

[[route]]
destination = "198.18.0.0/15"
interface = "outside"
via = "192.0.2.2"

[[neighbour]]
interface = "inside"
address = "10.1.0.2"
mac = "02:fe:00:00:01:02"

[[neighbour]]
interface = "outside"
address = "192.0.2.2"
mac = "02:fe:00:00:02:02"

[[sa]]
tunnel = "t0"
direction = "outbound"
spi = {:#x}
transform = "aes128gcm16"
enc_key = "{}"
local = "192.0.2.1"
remote = "198.18.0.1"
match_src = "172.16.0.0/12"
match_dst = "10.128.0.0/32"

[[sa]]
tunnel = "t0"
direction = "inbound"
spi = {:#x}
transform = "aes128gcm16"
enc_key = "{}"
local = "192.0.2.1"
remote = "198.18.0.1"
match_src = "10.128.0.0/32"
match_dst = "172.16.0.0/12"

[dataplane]
default_action = "discard"

[operator]
socket = "{}"
"#,
        memif(0, "server", &inside),
        memif(1, "server", &outside),
        out_sa.spec.spi,
        enc_key_hex(&out_sa),
        in_sa.spec.spi,
        enc_key_hex(&in_sa),
        env.path("op.sock").display(),
    );
    let path = env.path("appliance.toml");
    std::fs::write(&path, config).unwrap();
    let dut = spawn_ferrogate(&["run", "--config", path.to_str().unwrap(), "--duration", "30"]);
    let start = std::time::Instant::now();
    while !(inside.exists() && outside.exists()) && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(outside.exists(), "the appliance did not start: {:?}", wait_bounded(dut, LIMIT));
    for (dir, tx, rx) in
        [("enc", (0, &inside), (1, &outside)), ("dec", (1, &outside), (0, &inside))]
    {
        let (port, rx_port) = (memif(tx.0, "client", tx.1), memif(rx.0, "client", rx.1));
        let prefix = format!("{}-{dir}", env.prefix);
        let out = gen_ok(&[
            "--port",
            &port,
            "--rx-port",
            &rx_port,
            "--no-huge",
            "--file-prefix",
            &prefix,
            "--dir",
            dir,
            "--size",
            "imix",
            "--flows",
            "12",
            "--rate",
            "2000",
            "--count",
            "600",
            "--drain",
            "5",
            "--json",
        ]);
        let v = json(&out);
        check_no_loss(&v, 600);
        assert_eq!(v["esp"], dir == "dec");
    }
    let dut_out = stop(dut);
    let text = assert_success(&dut_out);
    // What the generators sent, and nothing else, reached the appliance.
    assert!(text.contains("appliance: rx 1200 tx "), "{text}");
}

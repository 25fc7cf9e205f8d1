//! End-to-end forwarding: the `ferrogate run` binary on net_pcap and net_ring vdevs, one EAL
//! per process with its own file prefix. A known capture goes in through a port pair and
//! must come out byte-identical, in order, with nothing lost or added.
mod common;

use std::fmt::Write as _;
use std::time::Duration;

use common::*;

const LIMIT: Duration = Duration::from_secs(60);

/// How to write a test profile.
struct Spec<'a> {
    file: &'a str,
    prefix: &'a str,
    hugepages: &'a str,
    workers: &'a [u32],
    in_memory: bool,
    wait_link_ms: u64,
}

/// A profile for `ports` (vdev strings) with the given EAL memory settings.
fn profile(
    env: &TestEnv,
    hugepages: &str,
    workers: &[u32],
    in_memory: bool,
    ports: &[String],
) -> String {
    let spec = Spec {
        file: "profile.toml",
        prefix: &env.prefix,
        hugepages,
        workers,
        in_memory,
        wait_link_ms: 0,
    };
    write_profile(env, &spec, ports)
}

fn write_profile(env: &TestEnv, spec: &Spec<'_>, ports: &[String]) -> String {
    let mut p = format!(
        "[eal]\nfile_prefix = \"{}\"\nmain_core = 0\nworker_cores = {:?}\nmemory_mb = 64\n\
         hugepages = \"{}\"\nin_memory = {}\nlog_level = \"error\"\n\n\
         [mempool]\nmbufs = 4095\ncache = 32\n\n[run]\nburst = 32\nstats_interval_ms = 500\n\
         idle_sleep_us = 200\nwait_link_up_ms = {}\n",
        spec.prefix, spec.workers, spec.hugepages, spec.in_memory, spec.wait_link_ms
    );
    for v in ports {
        write!(p, "\n[[port]]\nvdev = \"{v}\"\nrx_desc = 256\ntx_desc = 256\n").unwrap();
    }
    let path = env.path(spec.file);
    std::fs::write(&path, &p).unwrap();
    path.to_string_lossy().into_owned()
}

/// Defaults for a [`Spec`]: hugepages if reserved, no workers, in-memory.
fn auto() -> Spec<'static> {
    Spec { file: "", prefix: "", hugepages: "auto", workers: &[], in_memory: true, wait_link_ms: 0 }
}

fn assert_same_frames(sent: &[Vec<u8>], out: &std::path::Path) {
    let got = read_pcap(out);
    assert_eq!(got.len(), sent.len(), "{}: frame count", out.display());
    for (i, (g, s)) in got.iter().zip(sent).enumerate() {
        assert!(g == s, "{}: frame {i} differs ({} vs {} bytes)", out.display(), g.len(), s.len());
    }
}

/// Port 0 replays in.pcap and writes what it sends to out.pcap; port 1 is a net_ring that
/// loops back to itself, so every frame crosses the pair twice: 0 -> 1 -> (ring) -> 1 -> 0.
#[test]
fn pcap_through_ring_pair_is_byte_identical_with_no_huge() {
    let env = TestEnv::new("ring-nohuge");
    let frames = test_frames(200, 1);
    write_pcap(&env.path("in.pcap"), &frames);
    let ports = [
        format!(
            "net_pcap0,rx_pcap={},tx_pcap={}",
            env.path("in.pcap").display(),
            env.path("out.pcap").display()
        ),
        "net_ring0".to_owned(),
    ];
    let profile = profile(&env, "never", &[], true, &ports);
    let out = run_ferrogate(&["run", "--profile", &profile, "--duration", "1.5"], LIMIT);
    let stdout = assert_success(&out);
    assert!(stdout.contains("with --no-huge"), "{stdout}");
    assert!(stdout.contains("forwarded 400 of 400 packets (0 dropped)"), "{stdout}");
    assert_same_frames(&frames, &env.path("out.pcap"));
    assert_eq!(env.leftovers(), Vec::<std::path::PathBuf>::new());
}

/// Two pairs (0<->1, 2<->3) on a worker lcore with hugepages: each capture comes back on its
/// own pair only.
#[test]
fn two_port_pairs_on_a_worker_lcore_with_hugepages() {
    if hugepages_free_mb() < 64 {
        eprintln!("skipped: fewer than 64 MB of free 2 MB hugepages (run scripts/setup.sh)");
        return;
    }
    let env = TestEnv::new("pairs-huge");
    let a = test_frames(150, 2);
    let b = test_frames(90, 3);
    write_pcap(&env.path("a.pcap"), &a);
    write_pcap(&env.path("b.pcap"), &b);
    let pcap = |n: u32, i: &str, o: &str| {
        format!("net_pcap{n},rx_pcap={},tx_pcap={}", env.path(i).display(), env.path(o).display())
    };
    let ports = [
        pcap(0, "a.pcap", "a-out.pcap"),
        "net_ring0".into(),
        pcap(1, "b.pcap", "b-out.pcap"),
        "net_ring1".into(),
    ];
    let workers: &[u32] = if has_two_cpus() { &[1] } else { &[] };
    let profile = profile(&env, "always", workers, true, &ports);
    let out = run_ferrogate(&["run", "--profile", &profile, "--duration", "1.5"], LIMIT);
    let stdout = assert_success(&out);
    assert!(stdout.contains("with hugepages"), "{stdout}");
    assert!(stdout.contains("forwarded 480 of 480 packets (0 dropped)"), "{stdout}");
    assert_same_frames(&a, &env.path("a-out.pcap"));
    assert_same_frames(&b, &env.path("b-out.pcap"));
    assert_eq!(env.leftovers(), Vec::<std::path::PathBuf>::new());
}

/// net_pcap straight to net_pcap: port 0 reads, port 1 writes.
#[test]
fn pcap_to_pcap_forwarding_keeps_every_byte() {
    let env = TestEnv::new("pcap-pcap");
    let frames = test_frames(64, 4);
    write_pcap(&env.path("in.pcap"), &frames);
    let ports = [
        format!("net_pcap0,rx_pcap={}", env.path("in.pcap").display()),
        format!("net_pcap1,tx_pcap={}", env.path("out.pcap").display()),
    ];
    let profile = profile(&env, "auto", &[], true, &ports);
    let out = run_ferrogate(&["run", "--profile", &profile, "--duration", "1"], LIMIT);
    let stdout = assert_success(&out);
    assert!(stdout.contains("port 0 port0 (net_pcap0): rx-packets 64 "), "{stdout}");
    assert!(
        stdout.contains("port 1 port1 (net_pcap1): rx-packets 0 rx-bytes 0 tx-packets 64 "),
        "{stdout}"
    );
    assert_same_frames(&frames, &env.path("out.pcap"));
}

/// SIGTERM stops a run that has no time limit: final statistics are printed, the exit is
/// clean and the runtime directory of a non-in-memory EAL is removed.
#[test]
fn sigterm_stops_cleanly_and_leaves_no_files() {
    let env = TestEnv::new("sigterm");
    write_pcap(&env.path("in.pcap"), &test_frames(16, 5));
    let ports = [
        format!("net_pcap0,rx_pcap={},infinite_rx=1", env.path("in.pcap").display()),
        "net_null0,no-rx=1".into(),
    ];
    let profile = profile(&env, "auto", &[], false, &ports);
    let mut child = spawn_ferrogate(&["run", "--profile", &profile]);
    // Read stdout as it comes; stop the run once it prints periodic statistics, i.e. once
    // it is forwarding (start-up takes longer on a loaded machine).
    let (tx, rx) = std::sync::mpsc::channel();
    let pipe = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while let Ok(line) =
        rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
    {
        let running = line.starts_with("--- port statistics (") && !line.contains("final");
        lines.push(line);
        if running {
            break;
        }
    }
    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let out = wait_bounded(child, LIMIT);
    reader.join().expect("stdout reader");
    lines.extend(rx.try_iter());
    let stdout = lines.join("\n");
    assert!(
        out.status.success(),
        "{}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("--- port statistics (final,"), "{stdout}");
    let forwarded: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("forwarded "))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .expect("summary line");
    assert!(forwarded > 0, "{stdout}");
    assert_eq!(env.leftovers(), Vec::<std::path::PathBuf>::new());
}

/// A device name DPDK does not know fails with a message naming it, and cleans up.
#[test]
fn unknown_port_device_is_reported() {
    let env = TestEnv::new("badport");
    let ports = ["net_ring0".to_owned(), "net_nosuchdriver0".to_owned()];
    let profile = profile(&env, "never", &[], true, &ports);
    let out = run_ferrogate(&["run", "--profile", &profile, "--duration", "1"], LIMIT);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ferrogate run: starting the DPDK EAL"), "{stderr}");
    assert_eq!(env.leftovers(), Vec::<std::path::PathBuf>::new());
}

/// A network namespace made for one test, deleted on drop.
struct NetNs(String);

impl NetNs {
    /// Creates it, or says why not (no root, no netns support) so the test can skip.
    fn create(name: &str) -> Result<Self, String> {
        let _ = std::process::Command::new("ip").args(["netns", "del", name]).output();
        let out = std::process::Command::new("ip")
            .args(["netns", "add", name])
            .output()
            .map_err(|e| format!("cannot run ip: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(NetNs(name.to_owned()))
    }

    fn exec(&self, cmd: &[&str]) {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(cmd)
            .output()
            .expect("ip netns exec");
        assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// net_af_packet on a veth pair inside a namespace the test creates: frames leave through
/// one veth end (port 1), come in on the other (port 2), loop through a net_ring (port 3)
/// and return the same way to the capture writer (port 0).
#[test]
fn af_packet_over_a_veth_pair_in_a_test_namespace() {
    let env = TestEnv::new("afp");
    let ns = match NetNs::create(&env.prefix) {
        Ok(ns) => ns,
        Err(why) => {
            eprintln!("skipped: cannot create a network namespace: {why}");
            return;
        }
    };
    // No IPv6 on the veths: the kernel would otherwise send its own ND/MLD frames.
    ns.exec(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
    ns.exec(&["ip", "link", "add", "fgva", "type", "veth", "peer", "name", "fgvb"]);
    ns.exec(&["ip", "link", "set", "fgva", "up"]);
    ns.exec(&["ip", "link", "set", "fgvb", "up"]);

    let frames = test_frames(100, 6);
    write_pcap(&env.path("in.pcap"), &frames);
    let ports = [
        format!(
            "net_pcap0,rx_pcap={},tx_pcap={}",
            env.path("in.pcap").display(),
            env.path("out.pcap").display()
        ),
        "net_af_packet0,iface=fgva".to_owned(),
        "net_af_packet1,iface=fgvb".to_owned(),
        "net_ring0".to_owned(),
    ];
    let profile = profile(&env, "never", &[], true, &ports);
    let out = run_command(
        &["ip", "netns", "exec", &ns.0, FERROGATE, "run", "--profile", &profile, "--duration", "2"],
        LIMIT,
    );
    let stdout = assert_success(&out);
    assert_same_frames(&frames, &env.path("out.pcap"));
    assert!(stdout.contains("forwarded 400 of 400 packets (0 dropped)"), "{stdout}");
}

/// net_memif between two ferrogate processes (two EALs, two prefixes): the client side
/// replays the capture into the memif link, the server side loops it back through a
/// net_ring, and the client writes what returns. Each process waits for the memif link
/// before it forwards.
#[test]
fn memif_between_two_processes() {
    let env = TestEnv::new("memif");
    let server_prefix = format!("{}-s", env.prefix);
    let server_env = TestEnv { prefix: server_prefix.clone(), dir: env.dir.join("server") };
    std::fs::create_dir_all(&server_env.dir).unwrap();
    let frames = test_frames(120, 8);
    write_pcap(&env.path("in.pcap"), &frames);
    let socket = env.path("memif.sock");
    let memif = |role: &str| {
        format!("net_memif0,role={role},socket={},socket-abstract=no", socket.display())
    };
    let server_ports = [memif("server"), "net_ring0".to_owned()];
    let server = write_profile(
        &env,
        &Spec { file: "server.toml", prefix: &server_prefix, wait_link_ms: 30_000, ..auto() },
        &server_ports,
    );
    let client_ports = [
        format!(
            "net_pcap0,rx_pcap={},tx_pcap={}",
            env.path("in.pcap").display(),
            env.path("out.pcap").display()
        ),
        memif("client"),
    ];
    let client = write_profile(
        &env,
        &Spec { file: "client.toml", prefix: &env.prefix, wait_link_ms: 30_000, ..auto() },
        &client_ports,
    );

    let server_child = spawn_ferrogate(&["run", "--profile", &server, "--duration", "4"]);
    let start = std::time::Instant::now();
    while !socket.exists() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let client_out = run_ferrogate(&["run", "--profile", &client, "--duration", "2"], LIMIT);
    let server_out = wait_bounded(server_child, LIMIT);
    let client_stdout = assert_success(&client_out);
    let server_stdout = assert_success(&server_out);
    assert!(client_stdout.contains("forwarded 240 of 240 packets (0 dropped)"), "{client_stdout}");
    assert!(server_stdout.contains("forwarded 240 of 240 packets (0 dropped)"), "{server_stdout}");
    assert_same_frames(&frames, &env.path("out.pcap"));
    assert_eq!(server_env.leftovers(), Vec::<std::path::PathBuf>::new());
    assert_eq!(env.leftovers(), Vec::<std::path::PathBuf>::new());
}

//! An active/standby failover pair of `ferrogate run` appliances in front of a real
//! strongSwan peer, on network namespaces and Linux bridges the test builds and removes.
//!
//! What it proves, end to end with the real binary:
//! - The primary becomes active alone; the secondary joins as a synced standby and holds
//!   a copy of the IKEv2 SA and Child SAs the active negotiated.
//! - `kill -9` of the active: the standby takes over within the hold time (plus a second),
//!   with the same SPIs (strongSwan keeps its IKE SA and Child SA: no renegotiation), the
//!   shared virtual MACs and addresses (only the bridge's forwarding table moves, by the
//!   new active's gratuitous ARP), outbound sequence numbers jumped ahead (strongSwan sees
//!   no replay), and host traffic through the tunnel resumes with a bounded loss (printed).
//! - The killed unit restarted becomes a synced standby without taking the active role
//!   back, and a planned switchover (`failover active` on it) moves the traffic back
//!   without losing a single ping, again with the same SPIs.
//! - The crypto map lists a silent Peer1 before strongSwan: the active unit moves to Peer2,
//!   and the peer index stays on Peer2 through the takeover and the switchover (the
//!   reference document's "HA switchover: No" row, with real processes).
//! - A second strongSwan, a remote-access client of the dynamic entry, keeps its leased
//!   address, its SAs and its traffic through the takeover and the switchover (it moved to
//!   port 4500 in IKE_AUTH; the RFC 6311 synchronisation runs once per IKE SA).
//! - `failover reload-standby` on the active: the standby takes a fresh copy of both
//!   tunnels while the active's traffic is undisturbed.
//!
//! Topology (all addresses from documentation/test ranges, nothing leaves the namespaces):
//!
//! ```text
//!                     ┌─ lan0  A (primary)   wan0 ─┐
//!  h ── br-in ────────┤          │ fo0            ├──────── br-out ── sw (strongSwan)
//!  10.1.0.2/24        └─ lan0  B (secondary) wan0 ─┘         192.0.2.2/24, LAN 10.2.0.1/16
//!  (br-in and br-out: Linux bridges in namespace `br`; fo0-fo0: one veth, no switch;
//!   rc, the remote-access client 192.0.2.20, on br-out too)
//! ```
//!
//! Both units share the virtual addresses 10.1.0.1 (inside) and 192.0.2.1 (outside) with
//! virtual MACs; standby addresses are 10.1.0.3 and 192.0.2.3. Skipped (with a message)
//! without root, two CPUs or strongSwan. The units run with `--no-huge` like every
//! appliance lab test, so hugepages are not needed.
mod common;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::netns::{Namespaces, in_ns, is_root};
use common::strongswan::{CHARON, Charon};
use common::{FERROGATE, TestEnv, has_two_cpus, wait_bounded};
use serde_json::Value;

/// The whole test must end well inside two minutes: every wait takes what is left of this.
const TEST_LIMIT: Duration = Duration::from_secs(100);
/// Each unit ends by itself after this many seconds whatever happens to the test.
const SAFETY_S: &str = "120";
/// `[ha]` timers: hellos every 200 ms, the mate is failed after 1 s of silence.
const POLL_MS: u64 = 200;
const HOLD_MS: u64 = 1000;
/// The host pings every 10 ms (root may go below 200 ms).
const PING_INTERVAL: &str = "0.01";
const TUNNEL: &str = "outside_map 10";
/// The dynamic entry remote-access clients come in through.
const RA_TUNNEL: &str = "outside_map 65535";

/// charon's message for an ESP packet its replay window refused (libipsec).
const CHARON_REPLAY: &str = "ESP sequence number verification failed";
const CHARON_ICV: &str = "ESP decryption or ICV verification failed";

// --- the lab -----------------------------------------------------------------------------

/// The namespaces `h`, `sw`, `a`, `b`, `br` (removed on drop) and the test's directory.
struct Lab {
    ns: Namespaces,
    env: TestEnv,
    start: Instant,
}

impl Lab {
    fn h(&self) -> &str {
        &self.ns.0[0]
    }
    fn sw(&self) -> &str {
        &self.ns.0[1]
    }
    fn unit_ns(&self, unit: &str) -> &str {
        &self.ns.0[if unit == "a" { 2 } else { 3 }]
    }
    fn br(&self) -> &str {
        &self.ns.0[4]
    }
    /// The remote-access client's namespace.
    fn rc(&self) -> &str {
        &self.ns.0[5]
    }

    /// What is left of [`TEST_LIMIT`], at most `limit`.
    fn budget(&self, limit: Duration) -> Duration {
        limit.min(TEST_LIMIT.saturating_sub(self.start.elapsed()))
    }

    /// Builds the topology, or says why the test is skipped.
    fn create() -> Option<Lab> {
        if !has_two_cpus() || !is_root() {
            eprintln!("skipped: needs root and two CPUs");
            return None;
        }
        if !Path::new(CHARON).exists() {
            eprintln!("skipped: strongSwan is not installed (scripts/setup.sh installs it)");
            return None;
        }
        let pid = std::process::id();
        let names: Vec<String> =
            ["h", "sw", "a", "b", "br", "rc"].iter().map(|n| format!("fgha-{n}-{pid}")).collect();
        let ns = match Namespaces::create(&names) {
            Ok(ns) => ns,
            Err(why) => {
                eprintln!("skipped: cannot create network namespaces: {why}");
                return None;
            }
        };
        let lab = Lab { ns, env: TestEnv::new("ha"), start: Instant::now() };
        let (h, sw, a, b, br) = (lab.h(), lab.sw(), lab.unit_ns("a"), lab.unit_ns("b"), lab.br());
        let rc = lab.rc();
        // No IPv6: the hosts' router solicitations and the like would only be noise.
        for n in [h, sw, a, b, br, rc] {
            in_ns(n, &["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
            in_ns(n, &["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
            in_ns(n, &["ip", "link", "set", "lo", "up"]);
        }
        // The switch: two bridges (no STP: ports forward at once, and learning moves a
        // virtual MAC to the port its gratuitous ARP came in on).
        for bridge in ["br-in", "br-out"] {
            in_ns(br, &["ip", "link", "add", bridge, "type", "bridge", "stp_state", "0"]);
            in_ns(br, &["ip", "link", "set", bridge, "up"]);
        }
        // (switch port, bridge, namespace at the other end, its device name)
        let cables = [
            ("p-h", "br-in", h, "eth0"),
            ("p-ain", "br-in", a, "lan0"),
            ("p-bin", "br-in", b, "lan0"),
            ("p-sw", "br-out", sw, "eth0"),
            ("p-rc", "br-out", rc, "eth0"),
            ("p-aout", "br-out", a, "wan0"),
            ("p-bout", "br-out", b, "wan0"),
        ];
        for (port, bridge, n, dev) in cables {
            in_ns(
                br,
                &["ip", "link", "add", port, "type", "veth", "peer", "name", dev, "netns", n],
            );
            in_ns(br, &["ip", "link", "set", port, "master", bridge]);
            in_ns(br, &["ip", "link", "set", port, "up"]);
            in_ns(n, &["ip", "link", "set", dev, "up"]);
        }
        // The failover link: one cable between the units, no switch.
        in_ns(a, &["ip", "link", "add", "fo0", "type", "veth", "peer", "name", "fo0", "netns", b]);
        in_ns(a, &["ip", "link", "set", "fo0", "up"]);
        in_ns(b, &["ip", "link", "set", "fo0", "up"]);
        let ethtool = Command::new("ethtool").arg("--version").output();
        for (n, addr) in [(h, "10.1.0.2/24"), (sw, "192.0.2.2/24"), (rc, "192.0.2.20/24")] {
            // Checksums filled in by software: af_packet hands ferrogate what is on the wire.
            if ethtool.as_ref().is_ok_and(|o| o.status.success()) {
                in_ns(n, &["ethtool", "-K", "eth0", "tx", "off", "tso", "off", "gso", "off"]);
            }
            in_ns(n, &["ip", "addr", "add", addr, "dev", "eth0"]);
        }
        in_ns(h, &["ip", "route", "add", "default", "via", "10.1.0.1"]);
        // strongSwan's LAN on lo (kernel-libipsec routes through its TUN device from an
        // address inside the local selector).
        in_ns(sw, &["ip", "addr", "add", "10.2.0.1/16", "dev", "lo"]);
        Some(lab)
    }

    /// Polls `probe` every 50 ms until it returns `Ok`, at most `limit` (and what is left
    /// of the test's time); panics with `what` and the last probe's context otherwise.
    fn wait<T>(
        &self,
        what: &str,
        limit: Duration,
        mut probe: impl FnMut() -> Result<T, String>,
    ) -> (T, Duration) {
        let limit = self.budget(limit);
        let start = Instant::now();
        loop {
            let last = match probe() {
                Ok(v) => return (v, start.elapsed()),
                Err(e) => e,
            };
            assert!(start.elapsed() < limit, "{what}: not within {limit:?}; last seen: {last}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

// --- the units ---------------------------------------------------------------------------

/// One ferrogate of the pair: its config (written once, private: the failover key and
/// PSK are inline), its namespace, the running process if any.
struct Unit {
    name: &'static str,
    ns: String,
    prefix: String,
    config: PathBuf,
    socket: PathBuf,
    dir: PathBuf,
    starts: usize,
    child: Option<Child>,
}

impl Unit {
    /// `name` is "a" (primary, failover address 198.18.0.1) or "b" (secondary, .2).
    fn new(lab: &Lab, name: &'static str) -> Unit {
        let prefix = format!("{}-{name}", lab.env.prefix);
        let socket = lab.env.path(&format!("{name}.sock"));
        let mut c = format!(
            "[eal]\nfile_prefix = \"{prefix}\"\nmain_core = 0\nworker_cores = [1]\nmemory_mb = 64\n\
             hugepages = \"never\"\nin_memory = true\nlog_level = \"error\"\n\n\
             [mempool]\nmbufs = 2047\ncache = 32\n\n\
             [run]\nburst = 32\nstats_interval_ms = 0\nidle_sleep_us = 100\nwait_link_up_ms = 0\n"
        );
        for (n, (port, dev)) in [("lan", "lan0"), ("wan", "wan0"), ("fo", "fo0")].iter().enumerate()
        {
            write!(
                c,
                "\n[[port]]\nname = \"{port}\"\nvdev = \"net_af_packet{n},iface={dev}\"\n\
                 rx_desc = 256\ntx_desc = 256\n"
            )
            .unwrap();
        }
        let (role, local, peer) = if name == "a" {
            ("primary", "198.18.0.1", "198.18.0.2")
        } else {
            ("secondary", "198.18.0.2", "198.18.0.1")
        };
        c.push_str(&unit_body(role, local, peer));
        write!(c, "\n[operator]\nsocket = \"{}\"\n", socket.display()).unwrap();
        let config = lab.env.path(&format!("{name}.toml"));
        std::fs::write(&config, c).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        Unit {
            name,
            ns: lab.unit_ns(name).to_owned(),
            prefix,
            config,
            socket,
            dir: lab.env.dir.clone(),
            starts: 0,
            child: None,
        }
    }

    /// The log file of the current (or last) run.
    fn log_path(&self) -> PathBuf {
        self.dir.join(format!("{}-{}.log", self.name, self.starts))
    }

    fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Starts it in its namespace. `ip netns exec` execs ferrogate in place, so the child's
    /// process id is ferrogate's own (what `kill -9` must hit). Output goes to a file: a
    /// pipe nobody reads would stall a long run once full.
    fn start(&mut self) {
        assert!(self.child.is_none(), "unit {} already runs", self.name);
        self.starts += 1;
        let log = std::fs::File::create(self.log_path()).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, FERROGATE, "run", "--config"])
            .arg(&self.config)
            .args(["--file-prefix", &self.prefix, "--no-huge", "--duration", SAFETY_S])
            .env("FERROGATE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start ferrogate");
        self.child = Some(child);
    }

    /// Err (for [`Lab::wait`]) with the log's end if the process has exited.
    fn alive(&mut self) -> Result<(), String> {
        let exited = self.child.as_mut().and_then(|c| c.try_wait().ok()).flatten();
        match exited {
            Some(status) => {
                Err(format!("unit {} exited ({status}):\n{}", self.name, self.log_tail(40)))
            }
            None => Ok(()),
        }
    }

    /// `show failover --json`, checked to be an object; Err while it does not answer.
    fn failover(&mut self) -> Result<Value, String> {
        if let Err(e) = self.alive() {
            panic!("{e}");
        }
        let out = Command::new(FERROGATE)
            .args(["show", "failover", "--json", "--socket"])
            .arg(&self.socket)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "show failover: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
        if !v.is_object() {
            return Err(format!("not an object: {v}"));
        }
        Ok(v)
    }

    /// Waits until `show failover --json` satisfies `want`.
    fn wait_failover(
        &mut self,
        lab: &Lab,
        what: &str,
        limit: Duration,
        want: impl Fn(&Value) -> bool,
    ) -> (Value, Duration) {
        let what = format!("unit {}: {what}", self.name);
        lab.wait(&what, limit, || {
            let v = self.failover()?;
            if want(&v) { Ok(v) } else { Err(v.to_string()) }
        })
    }

    /// `ferrogate ARGS --socket` against this unit: its stdout (panics on failure).
    fn operator(&self, args: &[&str]) -> String {
        let out = Command::new(FERROGATE).args(args).arg("--socket").arg(&self.socket).output();
        let out = out.expect("run ferrogate");
        assert!(
            out.status.success(),
            "unit {}: ferrogate {args:?}: {}{}",
            self.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The dataplane SAs of one tunnel (`show crypto ipsec sa --json`).
    fn tunnel_sas(&self, tunnel: &str) -> Vec<Value> {
        let json = self.operator(&["show", "crypto", "ipsec", "sa", "--json"]);
        let sas: Vec<Value> = serde_json::from_str(&json).expect("SA list JSON");
        sas.into_iter().filter(|s| s["tunnel"] == tunnel).collect()
    }

    /// SIGKILL, as a crash: no goodbye to the mate, no cleanup. Returns when it happened.
    fn kill(&mut self) -> Instant {
        let pid = self.child.as_ref().expect("unit runs").id().to_string();
        // The process itself, not a wrapper: killing `ip netns exec` would leave the unit up.
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
        assert_eq!(exe, Path::new(FERROGATE).canonicalize().unwrap(), "pid {pid} is ferrogate");
        let mut child = self.child.take().expect("unit runs");
        assert!(Command::new("kill").args(["-KILL", &pid]).status().unwrap().success());
        let at = Instant::now();
        let _ = child.wait();
        // What DPDK left behind for the killed process (nothing with --no-huge and
        // in_memory, but a crash must not be able to leak hugepages into the next run).
        for p in dpdk_leftovers(&self.prefix) {
            let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
        }
        at
    }

    /// SIGTERM and a clean exit (bounded).
    fn stop(&mut self) {
        let child = self.child.take().expect("unit runs");
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let out = wait_bounded(child, Duration::from_secs(20));
        assert!(out.status.success(), "unit {}: {}\n{}", self.name, out.status, self.log_tail(40));
    }
}

impl Drop for Unit {
    /// A failing test leaves no process and no DPDK files behind.
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for p in dpdk_leftovers(&self.prefix) {
            let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
        }
    }
}

/// What DPDK left behind for `prefix` (hugepage files, runtime directory).
fn dpdk_leftovers(prefix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(d) = std::fs::read_dir("/dev/hugepages") {
        let stem = format!("{prefix}map_");
        out.extend(
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&stem))
                .map(|e| e.path()),
        );
    }
    let run = Path::new("/var/run/dpdk").join(prefix);
    if run.exists() {
        out.push(run);
    }
    out
}

/// The appliance sections of one unit: the shared virtual addresses and MACs with their
/// standby addresses, the crypto map to strongSwan (AES-128-GCM, PSK), and `[ha]`.
fn unit_body(role: &str, local: &str, peer: &str) -> String {
    format!(
        r#"
[[interface]]
name = "inside"
port = "lan"
role = "inside"
address = "10.1.0.1/24"
standby_address = "10.1.0.3/24"
mac = "02:00:00:00:aa:01"

[[interface]]
name = "outside"
port = "wan"
role = "outside"
address = "192.0.2.1/24"
standby_address = "192.0.2.3/24"
mac = "02:00:00:00:aa:02"

[[interface]]
name = "failover"
port = "fo"
role = "inside"
address = "{local}/30"

[ha]
role = "{role}"
interface = "failover"
local = "{local}"
peer = "{peer}"
key = "ha-failover-lab-key"
poll_ms = {POLL_MS}
hold_ms = {HOLD_MS}

[[route]]
destination = "10.2.0.0/16"
interface = "outside"
via = "192.0.2.2"

[dataplane]
default_action = "discard"

[ike]
retransmit_interval_ms = 250
retransmit_tries = 3

[[access_list]]
name = "to-sw"
rules = [{{ action = "permit", protocol = "ip", src = "10.1.0.0/24", dst = "10.2.0.0/16" }}]

[[access_list]]
name = "ra"
rules = [{{ action = "permit", protocol = "ip", src = "10.1.0.0/24", dst = "0.0.0.0/0" }}]

[[address_pool]]
name = "ra-pool"
range = "10.77.0.10-10.77.0.20"

[[ikev2_policy]]
priority = 1
encryption = ["aes-gcm"]
integrity = ["null"]
prf = ["sha256"]
group = [19]

[[ipsec_proposal]]
name = "p1"
encryption = ["aes-gcm"]
integrity = ["null"]

[[crypto_map]]
name = "outside_map"
sequence = 10
match = "to-sw"
peers = ["192.0.2.9", "192.0.2.2"]
ikev2_proposals = ["p1"]
ike_version = ["ikev2"]

[[crypto_map]]
name = "outside_map"
sequence = 65535
dynamic = true
tunnel_group = "RA"
match = "ra"
ikev2_proposals = ["p1"]
ike_version = ["ikev2"]

[[crypto_interface]]
interface = "outside"
crypto_map = "outside_map"
ikev2 = true

[[tunnel_group]]
name = "192.0.2.9"
type = "ipsec-l2l"
ikev2_local_authentication = "pre-shared-key"
ikev2_local_pre_shared_key = "ha-lab-ikev2-psk"
ikev2_remote_authentication = "pre-shared-key"
ikev2_remote_pre_shared_key = "ha-lab-ikev2-psk"

[[tunnel_group]]
name = "192.0.2.2"
type = "ipsec-l2l"
ikev2_local_authentication = "pre-shared-key"
ikev2_local_pre_shared_key = "ha-lab-ikev2-psk"
ikev2_remote_authentication = "pre-shared-key"
ikev2_remote_pre_shared_key = "ha-lab-ikev2-psk"
keepalive = {{ threshold = 10, retry = 2 }}

[[tunnel_group]]
name = "RA"
type = "remote-access"
ikev2_local_authentication = "pre-shared-key"
ikev2_local_pre_shared_key = "ha-lab-ra-psk"
ikev2_remote_authentication = "pre-shared-key"
ikev2_remote_pre_shared_key = "ha-lab-ra-psk"
address_pools = ["ra-pool"]
"#
    )
}

/// strongSwan's side: the pair's virtual outside address is its one peer. No DPD from
/// strongSwan (it must not race the takeover: the point is that it notices nothing), no
/// initiation (the host's first ping makes the active unit initiate).
const SWANCTL: &str = r#"
connections {
    fg {
        version = 2
        local_addrs = 192.0.2.2
        remote_addrs = 192.0.2.1
        proposals = aes128gcm16-prfsha256-ecp256
        dpd_delay = 0s
        local {
            auth = psk
            id = 192.0.2.2
        }
        remote {
            auth = psk
            id = 192.0.2.1
        }
        children {
            net {
                local_ts = 10.2.0.0/16
                remote_ts = 10.1.0.0/24
                esp_proposals = aes128gcm16
            }
        }
    }
}
secrets {
    ike-fg {
        id-1 = 192.0.2.1
        id-2 = 192.0.2.2
        secret = "ha-lab-ikev2-psk"
    }
}
"#;

/// strongSwan as a remote-access client of the pair's dynamic entry (`vips = 0.0.0.0`),
/// initiating as soon as it is loaded; like the site peer, no DPD of its own.
const RA_SWANCTL: &str = r#"
connections {
    ra {
        version = 2
        local_addrs = 192.0.2.20
        remote_addrs = 192.0.2.1
        vips = 0.0.0.0
        proposals = aes128gcm16-prfsha256-ecp256
        dpd_delay = 0s
        local {
            auth = psk
            id = client@ra.lab
        }
        remote {
            auth = psk
            id = 192.0.2.1
        }
        children {
            net {
                remote_ts = 10.1.0.0/24
                esp_proposals = aes128gcm16
                start_action = start
            }
        }
    }
}
secrets {
    ike-ra {
        id-1 = 192.0.2.1
        id-2 = client@ra.lab
        secret = "ha-lab-ra-psk"
    }
}
"#;

/// The address the pool gives the first client.
const RA_VIP: &str = "10.77.0.10";

// --- strongSwan's view -------------------------------------------------------------------

/// charon's SAs from `swanctl --list-sas`: IKE SA SPI pairs (`fg: #1, ESTABLISHED, IKEv2,
/// 1a2b..._i* 3c4d..._r`) and Child SA SPIs (`in  c1234567, ...` / `out c7654321, ...`).
#[derive(Debug, PartialEq, Eq)]
struct SwanSas {
    ike: Vec<(String, String)>,
    child_in: Vec<u32>,
    child_out: Vec<u32>,
}

fn swan_sas(charon: &Charon, conn: &str) -> (SwanSas, String) {
    let out = charon.swanctl(&["--list-sas"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut sas = SwanSas { ike: Vec::new(), child_in: Vec::new(), child_out: Vec::new() };
    for line in text.lines() {
        let t = line.trim_start();
        if t.strip_prefix(conn).is_some_and(|r| r.starts_with(": #")) {
            let spi = |end: &str| {
                t.split_whitespace()
                    .map(|w| w.trim_end_matches('*'))
                    .find_map(|w| w.strip_suffix(end))
                    .unwrap_or("")
                    .to_owned()
            };
            sas.ike.push((spi("_i"), spi("_r")));
        }
        let mut words = t.split_whitespace();
        let (dir, spi) = (words.next(), words.next().map(|s| s.trim_end_matches(',')));
        if let (Some(dir @ ("in" | "out")), Some(spi)) = (dir, spi)
            && let Ok(spi) = u32::from_str_radix(spi, 16)
        {
            if dir == "in" { &mut sas.child_in } else { &mut sas.child_out }.push(spi);
        }
    }
    (sas, text)
}

/// The Child SA SPIs `unit` has in its dataplane match strongSwan's: its inbound SPI is
/// the one strongSwan sends with, its outbound the one strongSwan receives on.
fn assert_same_spis(unit: &Unit, tunnel: &str, swan: &SwanSas) {
    let sas = unit.tunnel_sas(tunnel);
    let spis = |dir: &str| -> Vec<u32> {
        sas.iter()
            .filter(|s| s["direction"] == dir)
            .map(|s| s["spi"].as_u64().unwrap_or(0) as u32)
            .collect()
    };
    assert_eq!(
        (spis("inbound"), spis("outbound")),
        (swan.child_out.clone(), swan.child_in.clone()),
        "unit {} holds strongSwan's Child SA pair of {tunnel}: {sas:#?}",
        unit.name
    );
}

/// Drops the dataplane charged to both tunnels' SAs as replays.
fn replay_drops(unit: &Unit) -> u64 {
    [TUNNEL, RA_TUNNEL]
        .iter()
        .flat_map(|t| unit.tunnel_sas(t))
        .filter_map(|s| s["drops"]["replay"].as_u64())
        .sum()
}

// --- the host's pings --------------------------------------------------------------------

/// A `ping` running in the background, and whom it pings.
struct Pinger {
    child: Child,
    dst: &'static str,
}

/// `ping -i 0.01 -c count` from the host to strongSwan's LAN, running in the background.
fn start_ping(lab: &Lab, count: usize) -> Pinger {
    ping_from(lab.h(), None, "10.2.0.1", count)
}

/// `ping -i 0.01 -c count` from the remote-access client's address to the host.
fn start_client_ping(lab: &Lab, count: usize) -> Pinger {
    ping_from(lab.rc(), Some(RA_VIP), "10.1.0.2", count)
}

fn ping_from(ns: &str, source: Option<&str>, dst: &'static str, count: usize) -> Pinger {
    let count = count.to_string();
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, "ping", "-n", "-i", PING_INTERVAL, "-c", &count, "-W", "1"]);
    if let Some(src) = source {
        cmd.args(["-I", src]);
    }
    let child = cmd
        .arg(dst)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ping");
    Pinger { child, dst }
}

/// What a ping run saw: requests sent, replies, which sequence numbers were answered.
struct Pings {
    transmitted: usize,
    received: usize,
    answered: BTreeSet<usize>,
    text: String,
}

impl Pings {
    fn lost(&self) -> usize {
        self.transmitted - self.received
    }

    /// The last `n` requests were all answered.
    fn tail_answered(&self, n: usize) -> bool {
        (self.transmitted.saturating_sub(n) + 1..=self.transmitted)
            .all(|s| self.answered.contains(&s))
    }
}

fn finish_ping(lab: &Lab, pinger: Pinger, limit: Duration) -> Pings {
    let out = wait_bounded(pinger.child, lab.budget(limit));
    let from = format!("bytes from {}", pinger.dst);
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let summary = text.lines().find(|l| l.contains(" packets transmitted, "));
    let summary = summary.unwrap_or_else(|| panic!("no ping summary in:\n{text}"));
    let mut words = summary.split_whitespace();
    let transmitted = words.next().and_then(|w| w.parse().ok()).expect("transmitted");
    let received = summary
        .split_once("transmitted, ")
        .and_then(|(_, r)| r.split_whitespace().next()?.parse().ok())
        .expect("received");
    let answered = text
        .lines()
        .filter(|l| l.contains(&from))
        .filter_map(|l| l.split_once("icmp_seq=")?.1.split_whitespace().next()?.parse().ok())
        .collect();
    Pings { transmitted, received, answered, text }
}

/// One ping at a time until one is answered (the first waits for the tunnel: ACQUIRE,
/// IKE_SA_INIT, IKE_AUTH).
fn bring_tunnel_up(lab: &Lab) -> Duration {
    let (_, took) = lab.wait("a ping through the tunnel", Duration::from_secs(20), || {
        let out = Command::new("ip")
            .args(["netns", "exec", lab.h(), "ping", "-n", "-c", "1", "-W", "1", "10.2.0.1"])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stdout).into()) }
    });
    took
}

/// The crypto map entry's current peer index (0 = Peer1), from `show crypto map --json`.
fn current_peer(unit: &Unit) -> u64 {
    let maps: Vec<Value> =
        serde_json::from_str(&unit.operator(&["show", "crypto", "map", "--json"]))
            .unwrap_or_default();
    maps.first().and_then(|m| m["current_peer"].as_u64()).unwrap_or(99)
}

/// `show crypto ikev2 sa --json`.
fn ike_sas(unit: &Unit) -> Vec<Value> {
    serde_json::from_str(&unit.operator(&["show", "crypto", "ikev2", "sa", "--json"]))
        .unwrap_or_default()
}

fn state_is(v: &Value, state: &str) -> bool {
    v["state"] == state
}

// --- the test ----------------------------------------------------------------------------

/// See the module documentation.
#[test]
fn ikev2_ha_pair_survives_kill_of_the_active_and_switches_back_without_loss() {
    let Some(lab) = Lab::create() else { return };
    let hold = Duration::from_millis(HOLD_MS);
    // charon's directory must be short: its vici socket lives there.
    let swan_dir = std::env::temp_dir().join(format!("fgha{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&swan_dir);
    std::fs::create_dir_all(&swan_dir).unwrap();
    let _swan_dir_guard = DirGuard(swan_dir.clone());
    let charon = Charon::start(lab.sw(), &swan_dir, SWANCTL).unwrap_or_else(|e| panic!("{e}"));
    let charon_pid = charon.pid().expect("charon runs");
    let mut a = Unit::new(&lab, "a");
    let mut b = Unit::new(&lab, "b");

    // 1. A alone becomes active (after listening one hold time for a mate); B joins as a
    //    standby and completes its bulk sync.
    a.start();
    let (fa, _) =
        a.wait_failover(&lab, "active", Duration::from_secs(15), |v| state_is(v, "active"));
    assert_eq!(fa["role"], "primary", "{fa}");
    b.start();
    let (fb, _) = b.wait_failover(&lab, "synced standby", Duration::from_secs(15), |v| {
        state_is(v, "standby") && v["synced"] == true
    });
    assert_eq!(fb["role"], "secondary", "{fb}");
    let (fa, _) =
        a.wait_failover(&lab, "mate up", Duration::from_secs(5), |v| v["mate_up"] == true);
    assert!(state_is(&fa, "active"), "{fa}");

    // 2. The tunnel, negotiated by the active unit, replicated to the standby.
    //    The crypto map lists a silent Peer1 first: the active unit gives up on it (short
    //    retransmits) and establishes with Peer2, strongSwan.
    let up_in = bring_tunnel_up(&lab);
    eprintln!("tunnel up in {:.1} s (Peer1 silent, Peer2 answered)", up_in.as_secs_f64());
    assert_eq!(current_peer(&a), 1, "the active unit moved to Peer2");

    //    A remote-access client of the dynamic entry: the active unit leases it the pool's
    //    first address and gives its Child SA its own policy (inside network to it).
    let ra_dir = std::env::temp_dir().join(format!("fghr{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&ra_dir);
    std::fs::create_dir_all(&ra_dir).unwrap();
    let _ra_dir_guard = DirGuard(ra_dir.clone());
    let client = Charon::start(lab.rc(), &ra_dir, RA_SWANCTL).unwrap_or_else(|e| panic!("{e}"));
    let client_pid = client.pid().expect("the client's charon runs");
    lab.wait("the client's IKE SA on A, with its address", Duration::from_secs(20), || {
        let sas = ike_sas(&a);
        sas.iter()
            .find(|s| s["assigned"][0] == RA_VIP && s["children"][0].is_object())
            .map_or_else(|| Err(format!("{sas:#?}\nclient:\n{}", client.log_tail(20))), |_| Ok(()))
    });
    let (_, took) = lab.wait("a ping from the client's address", Duration::from_secs(20), || {
        let out = Command::new("ip")
            .args(["netns", "exec", lab.rc(), "ping", "-n", "-c", "1", "-W", "1", "-I", RA_VIP])
            .arg("10.1.0.2")
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stdout).into()) }
    });
    eprintln!("remote-access client: {RA_VIP} leased, answered after {:.1} s", took.as_secs_f64());

    let (fb, _) = b.wait_failover(&lab, "holds the SAs", Duration::from_secs(10), |v| {
        v["ike_sas"].as_u64() >= Some(2) && v["child_sas"].as_u64() >= Some(2)
    });
    eprintln!("standby before the kill: {fb}");
    let (before, swan_text) = swan_sas(&charon, "fg");
    assert_eq!(
        (before.ike.len(), before.child_in.len(), before.child_out.len()),
        (1, 1, 1),
        "strongSwan has one IKE SA and one Child SA pair:\n{swan_text}"
    );
    assert_same_spis(&a, TUNNEL, &before);
    let (ra_before, swan_text) = swan_sas(&client, "ra");
    assert_eq!(
        (ra_before.ike.len(), ra_before.child_in.len(), ra_before.child_out.len()),
        (1, 1, 1),
        "the client has one IKE SA and one Child SA pair:\n{swan_text}"
    );
    assert_same_spis(&a, RA_TUNNEL, &ra_before);

    // 3. Kill the active under 10 ms pings; the standby takes over.
    let pinger = start_ping(&lab, 800);
    let client_pinger = start_client_ping(&lab, 800);
    std::thread::sleep(Duration::from_secs(2));
    let killed = a.kill();
    let (fb, _) =
        b.wait_failover(&lab, "takes over", Duration::from_secs(10), |v| state_is(v, "active"));
    let takeover = killed.elapsed();
    eprintln!(
        "B active {:.0} ms after A was killed (hold {HOLD_MS} ms)",
        takeover.as_secs_f64() * 1e3
    );
    assert!(
        takeover <= hold + Duration::from_secs(1),
        "takeover took {takeover:?}; hold is {hold:?}\n{fb}\n{}",
        b.log_tail(40)
    );
    assert_eq!(fb["takeovers"], 1, "B became active once: {fb}");
    let pings = finish_ping(&lab, pinger, Duration::from_secs(30));
    eprintln!(
        "kill -9 of the active: {} sent, {} answered, {} lost ({} ms of traffic at 10 ms)",
        pings.transmitted,
        pings.received,
        pings.lost(),
        pings.lost() * 10
    );
    let context =
        || format!("{}\nB:\n{}\ncharon:\n{}", pings.text, b.log_tail(40), charon.log_tail(40));
    assert!(pings.lost() < 300, "{} pings lost over the takeover\n{}", pings.lost(), context());
    assert!(pings.tail_answered(100), "pings after the takeover all answered\n{}", context());
    let client_pings = finish_ping(&lab, client_pinger, Duration::from_secs(30));
    eprintln!(
        "the remote-access client's pings over the takeover: {} sent, {} answered, {} lost",
        client_pings.transmitted,
        client_pings.received,
        client_pings.lost()
    );
    let client_context = || {
        format!("{}\nB:\n{}\nclient:\n{}", client_pings.text, b.log_tail(40), client.log_tail(40))
    };
    assert!(client_pings.lost() < 300, "client pings lost\n{}", client_context());
    assert!(client_pings.tail_answered(100), "client pings answered\n{}", client_context());

    // 4. strongSwan noticed nothing: same IKE SA, same Child SA pair, no replay either way.
    let (after, swan_text) = swan_sas(&charon, "fg");
    assert_eq!(after, before, "strongSwan's SAs after the takeover:\n{swan_text}");
    assert_same_spis(&b, TUNNEL, &before);
    let (ra_after, swan_text) = swan_sas(&client, "ra");
    assert_eq!(ra_after, ra_before, "the client's SAs after the takeover:\n{swan_text}");
    assert_same_spis(&b, RA_TUNNEL, &ra_before);
    // The client keeps its address: B took the lease over with the IKE SA.
    let sas = ike_sas(&b);
    assert!(sas.iter().any(|s| s["assigned"][0] == RA_VIP), "B's IKE SAs: {sas:#?}");
    assert_eq!(replay_drops(&b), 0, "replay drops on B: {:#?}", b.tunnel_sas(TUNNEL));
    // The reference document's row "HA switchover: No": the index stays with the SA's peer.
    assert_eq!(current_peer(&b), 1, "B keeps Peer2 after the takeover");
    let log = charon.log();
    assert!(!log.contains(CHARON_REPLAY), "charon refused replays:\n{}", charon.log_tail(40));
    assert!(!log.contains(CHARON_ICV), "charon failed to verify ESP:\n{}", charon.log_tail(40));

    // 5. A back: a synced standby (no preemption: B stays active). Then a planned
    //    switchover to A under the same pings: nothing may be lost.
    a.start();
    let (fa, _) =
        a.wait_failover(&lab, "synced standby after restart", Duration::from_secs(15), |v| {
            state_is(v, "standby") && v["synced"] == true
        });
    eprintln!("restarted A: {fa}");
    assert_eq!((fa["ike_sas"].as_u64(), fa["child_sas"].as_u64()), (Some(2), Some(2)), "{fa}");
    let fb = b.failover().expect("B answers");
    assert!(state_is(&fb, "active"), "B stays active: {fb}");
    let pinger = start_ping(&lab, 500);
    let client_pinger = start_client_ping(&lab, 500);
    std::thread::sleep(Duration::from_millis(1500));
    let asked = Instant::now();
    a.operator(&["failover", "active"]);
    let (fa, _) = a.wait_failover(&lab, "active by switchover", Duration::from_secs(5), |v| {
        state_is(v, "active")
    });
    let (fb, _) = b.wait_failover(&lab, "standby after switchover", Duration::from_secs(5), |v| {
        state_is(v, "standby")
    });
    eprintln!(
        "switchover: A active {:.0} ms after `failover active`",
        asked.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(fa["takeovers"], 1, "the restarted A became active once: {fa}");
    let pings = finish_ping(&lab, pinger, Duration::from_secs(20));
    eprintln!(
        "switchover back to A: {} sent, {} answered, {} lost",
        pings.transmitted,
        pings.received,
        pings.lost()
    );
    let client_pings = finish_ping(&lab, client_pinger, Duration::from_secs(20));
    eprintln!(
        "switchover back to A, the client's pings: {} sent, {} answered, {} lost",
        client_pings.transmitted,
        client_pings.received,
        client_pings.lost()
    );
    assert_eq!(
        (pings.lost(), client_pings.lost()),
        (0, 0),
        "a planned switchover loses nothing\n{}\n{}\nA:\n{}\nB: {fb}\n{}\nclient:\n{}",
        pings.text,
        client_pings.text,
        a.log_tail(40),
        b.log_tail(40),
        client.log_tail(60)
    );
    let (again, swan_text) = swan_sas(&charon, "fg");
    assert_eq!(again, before, "strongSwan's SAs after the switchover:\n{swan_text}");
    assert_same_spis(&a, TUNNEL, &before);
    let (ra_again, swan_text) = swan_sas(&client, "ra");
    assert_eq!(ra_again, ra_before, "the client's SAs after the switchover:\n{swan_text}");
    assert_same_spis(&a, RA_TUNNEL, &ra_before);
    assert_eq!(replay_drops(&a), 0, "replay drops on A: {:#?}", a.tunnel_sas(TUNNEL));
    assert_eq!(current_peer(&a), 1, "A keeps Peer2 after the switchover");
    let log = charon.log();
    assert!(!log.contains(CHARON_REPLAY), "charon refused replays:\n{}", charon.log_tail(40));
    assert!(!log.contains(CHARON_ICV), "charon failed to verify ESP:\n{}", charon.log_tail(40));

    // 6. `failover reload-standby` on the active: the standby forgets its copy and takes a
    //    new one (both tunnels), while the traffic through the active is not disturbed.
    let pinger = start_ping(&lab, 200);
    std::thread::sleep(Duration::from_millis(500));
    a.operator(&["failover", "reload-standby"]);
    let b_log = b.log_path();
    let (fb, took) = b.wait_failover(&lab, "reloaded and synced", Duration::from_secs(10), |v| {
        let log = std::fs::read_to_string(&b_log).unwrap_or_default();
        let resynced =
            log.rfind("ReloadRequested").is_some_and(|at| log[at..].contains("StandbySynced"));
        resynced && state_is(v, "standby") && v["synced"] == true
    });
    eprintln!("reload-standby: B synced again {:.0} ms later: {fb}", took.as_secs_f64() * 1e3);
    assert_eq!((fb["ike_sas"].as_u64(), fb["child_sas"].as_u64()), (Some(2), Some(2)), "{fb}");
    let pings = finish_ping(&lab, pinger, Duration::from_secs(20));
    assert_eq!(pings.lost(), 0, "reload-standby disturbed the active's traffic\n{}", pings.text);
    let fa = a.failover().expect("A answers");
    assert!(state_is(&fa, "active") && fa["mate_up"] == true, "A stays active: {fa}");

    // 7. Everything stops cleanly and leaves nothing behind.
    a.stop();
    b.stop();
    let prefixes = [a.prefix.clone(), b.prefix.clone()];
    drop((a, b));
    drop(charon);
    drop(client);
    assert!(!Path::new(&format!("/proc/{charon_pid}")).exists(), "charon {charon_pid} still runs");
    assert!(!Path::new(&format!("/proc/{client_pid}")).exists(), "charon {client_pid} still runs");
    let names = lab.ns.0.clone();
    let env_prefix = lab.env.prefix.clone();
    drop(lab);
    let listed = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    for n in &names {
        assert!(!listed.lines().any(|l| l.split_whitespace().next() == Some(n)), "{n} left");
    }
    for p in prefixes.iter().chain([&env_prefix]) {
        assert_eq!(dpdk_leftovers(p), Vec::<PathBuf>::new(), "DPDK files of {p} left");
    }
}

/// A directory removed when dropped.
struct DirGuard(PathBuf);

impl Drop for DirGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

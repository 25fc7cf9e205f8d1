//! `ferrogate loadtest` against a real strongSwan responder (charon with kernel-libipsec) in
//! a network namespace the test makes, the load tester running in the same namespace:
//! 200 tunnels from 200 source ports with a /32 each, a rekey storm of every Child SA and
//! IKE SA, the SAs charon holds afterwards; then tunnels from source addresses the load
//! tester adds to the namespace's `lo` (and removes), paced, deleted at the end. The
//! strongSwan case skips without root or strongSwan (scripts/setup.sh installs it).
//!
//! With IKEv1 (`--ike-version 1`, Main Mode and Quick Mode): 100 tunnels against the same
//! kind of charon, a rekey storm of every Quick Mode SA, charon's IKE SAs counted while the
//! tunnels are held, then deleted.
//!
//! Without root: the refusal of a target outside loopback and lab namespaces, and a run
//! against a responder on loopback made of the control crate's own `IkeEndpoint` (the
//! IKEv2 responder the appliance runs), in a thread of the test; and the same with IKEv1
//! against `Ikev1Endpoint`, from loopback source addresses (it keys its peers by address).

mod common;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::netns::{Namespaces, in_ns, is_root};
use common::strongswan::CHARON;
use common::{FERROGATE, run_ferrogate, wait_bounded};
use control::crypto::WeakGroups;
use control::ikev1::sa::{Ikev1Config, Ikev1Endpoint, Phase1Mode};
use control::ikev1::wire::Identification;
use control::ikev2::sa::{ChildConfig, Event, IkeEndpoint, Mode, PeerConfig, Psk};
use control::ikev2::selectors::{PolicySelectors, from_prefix};
use control::ikev2::wire::{IdRepr, ProtocolId};
use control::rng::OsRng;
use control::time::Time;
use ferrogate::loadtest::proposal::{ikev1_phase1, ikev1_phase2, parse_proposals};
use serde_json::Value;

const PSK: &str = "loadtest-only-psk";

/// charon tuned to answer many initiators from one address at once: no per-IP or global
/// half-open limits, no COOKIE challenges, a larger IKE SA table, little logging. With
/// `routes`, kernel-libipsec routes each Child SA's remote selector into its TUN device
/// (table 220), so that the namespace's kernel answers a ping through the tunnel
/// (`--traffic`); without, charon spends nothing on routes while the setup is measured.
fn strongswan_conf(dir: &Path, routes: bool) -> String {
    let d = dir.display();
    let routes = if routes { "yes" } else { "no" };
    format!(
        r#"charon {{
    load_modular = no
    load = random nonce aes sha1 sha2 hmac gmp curve25519 openssl chapoly gcm kdf kernel-libipsec kernel-netlink socket-default vici
    install_routes = {routes}
    ikesa_table_size = 4096
    ikesa_table_segments = 16
    init_limit_half_open = 0
    cookie_threshold = 1000000
    block_threshold = 1000000
    dos_protection = no
    plugins {{
        vici {{
            socket = unix://{d}/charon.vici
        }}
        kernel-libipsec {{
            allow_peer_ts = yes
        }}
    }}
    filelog {{
        test {{
            path = {d}/charon.log
            time_format = %T
            default = 0
            ike = 1
            flush_line = yes
        }}
    }}
    syslog {{
        daemon {{
            default = -1
        }}
    }}
}}
swanctl {{
    socket = unix://{d}/charon.vici
}}
"#
    )
}

/// A responder for any initiator with the key; each tunnel's /32 of 10.200.0.0/16 fits
/// `remote_ts`. `unique = never`: tunnels sharing an identity are not replaced. `lt1` is
/// the same for IKEv1 initiators (charon picks the connection by the IKE version).
const SWANCTL_CONF: &str = r#"
connections {
    lt1 {
        version = 1
        unique = never
        proposals = aes128-sha256-curve25519
        local {
            auth = psk
            id = loadtest-responder
        }
        remote {
            auth = psk
        }
        children {
            net {
                local_ts = 10.100.0.0/16
                remote_ts = 10.200.0.0/16
                esp_proposals = aes128gcm16
            }
        }
    }
    lt {
        version = 2
        unique = never
        proposals = aes128gcm16-prfsha256-curve25519
        local {
            auth = psk
            id = loadtest-responder
        }
        remote {
            auth = psk
        }
        children {
            net {
                local_ts = 10.100.0.0/16
                remote_ts = 10.200.0.0/16
                esp_proposals = aes128gcm16
            }
        }
    }
}
secrets {
    ike-lt {
        secret = "loadtest-only-psk"
    }
}
"#;

/// charon in its own mount namespace (a private /run) inside network namespace `ns`.
struct LabCharon {
    dir: PathBuf,
    child: Option<Child>,
}

impl LabCharon {
    fn start(ns: &str, dir: &Path, routes: bool) -> Result<LabCharon, String> {
        let conf = dir.join("strongswan.conf");
        std::fs::write(&conf, strongswan_conf(dir, routes)).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("swanctl.conf"), SWANCTL_CONF).map_err(|e| e.to_string())?;
        let vici = dir.join("charon.vici");
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "unshare", "-m", "--propagation", "private", "sh", "-c"])
            .arg(format!("mount -t tmpfs fg-charon /run && exec {CHARON}"))
            .env("STRONGSWAN_CONF", &conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("charon.err")).map_err(|e| e.to_string())?,
            ))
            .spawn()
            .map_err(|e| format!("cannot start charon: {e}"))?;
        let mut c = LabCharon { dir: dir.to_owned(), child: Some(child) };
        let start = Instant::now();
        while !vici.exists() {
            if let Some(status) = c.child.as_mut().and_then(|ch| ch.try_wait().ok()).flatten() {
                return Err(format!("charon exited ({status}): {}", c.log_tail(30)));
            }
            if start.elapsed() > Duration::from_secs(10) {
                return Err(format!("charon's vici socket did not appear: {}", c.log_tail(30)));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let (ok, out) =
            c.swanctl(&["--load-all", "--file", &dir.join("swanctl.conf").to_string_lossy()]);
        if !ok {
            return Err(format!("swanctl --load-all: {out}"));
        }
        Ok(c)
    }

    /// Runs swanctl (bounded); its output goes through a file, as a listing of hundreds
    /// of SAs would fill a pipe nobody reads until it exits.
    fn swanctl(&self, args: &[&str]) -> (bool, String) {
        let path = self.dir.join("swanctl.out");
        let child = Command::new("swanctl")
            .args(args)
            .env("STRONGSWAN_CONF", self.dir.join("strongswan.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(std::fs::File::create(&path).expect("swanctl.out")))
            .stderr(Stdio::null())
            .spawn()
            .expect("swanctl");
        let ok = wait_bounded(child, Duration::from_secs(30)).status.success();
        (ok, std::fs::read_to_string(&path).unwrap_or_default())
    }

    /// `ip netns exec`, `unshare` and `sh` all exec charon in place.
    fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    fn log_tail(&self, n: usize) -> String {
        let log = std::fs::read_to_string(self.dir.join("charon.log")).unwrap_or_default();
        let err = std::fs::read_to_string(self.dir.join("charon.err")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().chain(err.lines()).collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The IKE SAs charon holds (ESTABLISHED) and the distinct remote selectors of its
    /// installed Child SAs.
    fn sas(&self) -> (usize, HashSet<String>) {
        let (_, text) = self.swanctl(&["--list-sas"]);
        let established = text.lines().filter(|l| l.contains(", ESTABLISHED,")).count();
        let mut installed = HashSet::new();
        let mut in_installed = false;
        for l in text.lines() {
            if !l.starts_with(' ') {
                in_installed = false; // the next IKE SA
            } else if l.contains(", reqid ") {
                in_installed = l.contains(", INSTALLED,");
            } else if in_installed && let Some(ts) = l.trim().strip_prefix("remote ") {
                installed.insert(ts.trim().to_owned());
            }
        }
        (established, installed)
    }
}

impl Drop for LabCharon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs `ferrogate loadtest ARGS` in namespace `ns` (bounded), its output in files of
/// `dir` (a pipe nobody reads while it runs would stall it); returns the exit code,
/// stdout and stderr.
fn run_in(ns: &str, dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, FERROGATE]);
    run_cmd(cmd, dir, args)
}

/// Runs `CMD loadtest ARGS` (bounded), output in files of `dir`.
fn run_cmd(mut cmd: Command, dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let (out, err) = (dir.join("loadtest.out"), dir.join("loadtest.err"));
    let child = cmd
        .arg("loadtest")
        .args(args)
        .env("FERROGATE_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::fs::File::create(&out).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err).unwrap()))
        .spawn()
        .expect("ferrogate loadtest");
    let status = wait_bounded(child, Duration::from_secs(120)).status;
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    (status.code(), read(&out), read(&err))
}

/// Runs `ferrogate loadtest --json ARGS` in namespace `ns`; returns the exit code, the
/// parsed report and stderr.
fn loadtest_in(ns: &str, dir: &Path, args: &[&str]) -> (Option<i32>, Value, String) {
    let mut argv = vec!["--json", "--quiet"];
    argv.extend_from_slice(args);
    let (code, stdout, stderr) = run_in(ns, dir, &argv);
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("--json output does not parse: {e}\n{stdout}\n{stderr}"));
    (code, report, stderr)
}

fn u(v: &Value, path: &str) -> u64 {
    v.pointer(path).and_then(Value::as_u64).unwrap_or_else(|| panic!("{path} missing in {v:#}"))
}

fn f(v: &Value, path: &str) -> f64 {
    v.pointer(path).and_then(Value::as_f64).unwrap_or_else(|| panic!("{path} missing in {v:#}"))
}

fn lo_has(ns: &str, addr: &str) -> bool {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "ip", "-o", "addr", "show", "dev", "lo"])
        .output()
        .expect("ip addr");
    String::from_utf8_lossy(&out.stdout).contains(&format!("inet {addr}/"))
}

#[test]
fn loadtest_refuses_targets_outside_loopback_and_lab_namespaces() {
    // The host's namespace: a non-loopback target is refused before any socket opens.
    let out = run_ferrogate(
        &["loadtest", "--target", "192.0.2.1", "--tunnels", "1", "--psk", "x"],
        Duration::from_secs(20),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("refusing target 192.0.2.1"), "{stderr}");
    assert!(out.stdout.is_empty());
    // A lab namespace does not make every address fair game: only its own ones.
    if !is_root() {
        eprintln!("skipped the lab namespace case: needs root");
        return;
    }
    let ns = format!("fgls{}", std::process::id());
    let _ns = match Namespaces::create(std::slice::from_ref(&ns)) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("skipped the lab namespace case: {e}");
            return;
        }
    };
    in_ns(&ns, &["ip", "link", "set", "lo", "up"]);
    // A host prefix: on lo, a /24 would make the whole /24 local.
    in_ns(&ns, &["ip", "addr", "add", "10.97.0.1/32", "dev", "lo"]);
    // A link (a veth pair inside the namespace) and a default route through a gateway on it.
    in_ns(&ns, &["ip", "link", "add", "fglta", "type", "veth", "peer", "name", "fgltb"]);
    in_ns(&ns, &["ip", "addr", "add", "10.97.1.1/24", "dev", "fglta"]);
    in_ns(&ns, &["ip", "link", "set", "fglta", "up"]);
    in_ns(&ns, &["ip", "link", "set", "fgltb", "up"]);
    in_ns(&ns, &["ip", "route", "add", "default", "via", "10.97.1.2"]);
    let dir = tempfile::tempdir().unwrap();
    let run = |target: &str| {
        let args = format!(
            "--target {target} --tunnels 1 --psk x --duration 1 --retransmit-timeout 0.2 --quiet"
        );
        run_in(&ns, dir.path(), &args.split_whitespace().collect::<Vec<_>>())
    };
    // Routed through a gateway: could leave the lab.
    let (code, _, stderr) = run("10.97.0.9");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("neither an address of this network namespace"), "{stderr}");
    // Its own address and an address on its link pass the check (nothing answers there:
    // the runs just fail).
    for target in ["10.97.0.1", "10.97.1.9"] {
        let (code, stdout, stderr) = run(target);
        assert_eq!(code, Some(1), "{target}: {stderr}");
        assert!(stdout.contains("NOT OK"), "{target}: {stdout}");
    }
}

/// A lab namespace `TAG<pid>` for the load tester and charon (listening on its loopback),
/// with a scratch directory holding the PSK file. Fields drop in order: charon, then the
/// scratch directory (removed even if the test fails), then the namespace.
struct LoadLab {
    charon: LabCharon,
    psk_file: String,
    dir: PathBuf,
    ns: String,
    _scratch: Scratch,
    _ns: Namespaces,
}

impl LoadLab {
    /// `None`, after saying why, without root, strongSwan or network namespaces. `routes`:
    /// charon routes the Child SAs' traffic (see [`strongswan_conf`]).
    fn start(tag: &str, routes: bool) -> Option<LoadLab> {
        if !is_root() || !Path::new(CHARON).exists() {
            eprintln!("skipped: needs root and strongSwan (scripts/setup.sh installs it)");
            return None;
        }
        let pid = std::process::id();
        let ns = format!("{tag}{pid}");
        let namespaces = match Namespaces::create(std::slice::from_ref(&ns)) {
            Ok(n) => n,
            Err(e) => {
                eprintln!("skipped: no network namespaces: {e}");
                return None;
            }
        };
        in_ns(&ns, &["ip", "link", "set", "lo", "up"]);
        // kernel-libipsec routes a Child SA's policies from an address of its local
        // selector.
        in_ns(&ns, &["ip", "addr", "add", "10.100.0.1/16", "dev", "lo"]);
        // Short: the vici socket path must fit a sockaddr_un.
        let scratch = Scratch(std::env::temp_dir().join(format!("{tag}{pid}")));
        let dir = scratch.0.clone();
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let psk_file = dir.join("psk");
        std::fs::write(&psk_file, format!("{PSK}\n")).unwrap();
        let psk_file = psk_file.to_string_lossy().into_owned();
        let charon = LabCharon::start(&ns, &dir, routes).unwrap_or_else(|e| panic!("{e}"));
        Some(LoadLab { charon, psk_file, dir, ns, _scratch: scratch, _ns: namespaces })
    }
}

#[test]
fn loadtest_opens_rekeys_and_deletes_tunnels_against_strongswan() {
    let Some(lab) = LoadLab::start("fglt", false) else { return };
    let (ns, dir, psk_file, charon) = (&lab.ns, &lab.dir, &lab.psk_file, &lab.charon);
    let charon_pid = charon.pid().to_string();

    // 200 tunnels from 200 source ports of 127.0.0.1, a /32 each, as fast as 64 in flight
    // allow; then every Child SA and IKE SA rekeyed at once; left up.
    let args = format!(
        "--target 127.0.0.1 --tunnels 200 --psk-file {psk_file} --responder-pid {charon_pid} \
         --rekey-after 0 --rekey both --keep --duration 60"
    );
    let (code, r, stderr) = loadtest_in(ns, dir, &args.split_whitespace().collect::<Vec<_>>());
    let ctx = || format!("{r:#}\n{stderr}\n--- charon:\n{}", charon.log_tail(30));
    assert_eq!(code, Some(0), "{}", ctx());
    assert_eq!(r["ok"], Value::Bool(true), "{}", ctx());
    assert_eq!(u(&r, "/setup/up"), 200, "{}", ctx());
    assert_eq!(u(&r, "/setup/failed"), 0, "{}", ctx());
    assert!(r["setup"]["failures"]["counts"].as_object().is_some_and(|m| m.is_empty()));
    assert!(f(&r, "/setup/rate_per_s") > 0.0, "{}", ctx());
    assert!(f(&r, "/setup/time_to_all_up_s") > 0.0, "{}", ctx());
    assert_eq!(u(&r, "/sockets/sockets"), 200);
    assert_eq!(u(&r, "/rekey/tunnels"), 200, "{}", ctx());
    assert_eq!(u(&r, "/rekey/child_ok"), 200, "{}", ctx());
    assert_eq!(u(&r, "/rekey/ike_ok"), 200, "{}", ctx());
    assert_eq!(u(&r, "/rekey/failed"), 0, "{}", ctx());
    assert!(r["teardown"].is_null() && r["kept"] == Value::Bool(true));
    let responder = &r["memory"]["responder"];
    assert_eq!(responder["pid"].as_u64(), Some(u64::from(charon.pid())));
    assert!(responder["up_kib"].as_u64().is_some_and(|k| k > 0), "{}", ctx());
    assert!(responder["bytes_per_tunnel"].as_f64().is_some(), "{}", ctx());
    // charon holds 200 IKE SAs, each with its own installed Child SA for its own /32.
    let (established, selectors) = charon.sas();
    assert_eq!(established, 200, "{}", ctx());
    assert_eq!(selectors.len(), 200, "{selectors:?}");
    assert!(selectors.contains("10.200.0.0/32") && selectors.contains("10.200.0.199/32"));

    // 100 tunnels from 100 source addresses the tester adds to lo, to charon's address on
    // lo (an address of the lab namespace), paced at 200/s, deleted at the end.
    let args = format!(
        "--target 10.100.0.1 --tunnels 100 --psk-file {psk_file} --sources 10.98.0.0/24 \
         --add-sources --local-id {{addr}} --local-ts 10.200.1.0/24:32 --rate 200 --duration 60"
    );
    let (code, r, stderr) = loadtest_in(ns, dir, &args.split_whitespace().collect::<Vec<_>>());
    let ctx = || format!("{r:#}\n{stderr}\n--- charon:\n{}", charon.log_tail(30));
    assert_eq!(code, Some(0), "{}", ctx());
    assert_eq!(u(&r, "/setup/up"), 100, "{}", ctx());
    assert_eq!(u(&r, "/setup/failed"), 0, "{}", ctx());
    assert_eq!(u(&r, "/sockets/sockets"), 100);
    // Paced: 100 setups at 200/s take half a second at least.
    assert!(f(&r, "/setup/time_to_all_up_s") >= 0.45, "{}", ctx());
    assert_eq!(u(&r, "/teardown/requested"), 100, "{}", ctx());
    assert_eq!(u(&r, "/teardown/deleted"), 100, "{}", ctx());
    assert_eq!(u(&r, "/teardown/unfinished"), 0, "{}", ctx());
    assert!(!lo_has(ns, "10.98.0.1"), "the added source addresses are removed");
    // The deleted tunnels are gone from charon; the 200 kept ones are still there.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (established, _) = charon.sas();
        if established == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "charon holds {established} IKE SAs, want 200");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn loadtest_ikev1_opens_rekeys_and_deletes_tunnels_against_strongswan() {
    const N: usize = 100;
    let Some(lab) = LoadLab::start("fglv", false) else { return };
    let (ns, dir, psk_file, charon) = (&lab.ns, &lab.dir, &lab.psk_file, &lab.charon);
    let charon_pid = charon.pid().to_string();

    // N IKEv1 tunnels from N source ports, a /32 each; every Quick Mode SA rekeyed at once;
    // held while charon's SAs are counted, then deleted.
    let args = format!(
        "--ike-version 1 --target 127.0.0.1 --tunnels {N} --psk-file {psk_file} \
         --responder-pid {charon_pid} --rekey-after 0 --rekey child --hold 6 --duration 60"
    );
    let run = {
        let (ns, dir) = (ns.clone(), dir.clone());
        std::thread::spawn(move || {
            loadtest_in(&ns, &dir, &args.split_whitespace().collect::<Vec<_>>())
        })
    };
    // While the tunnels are held: charon holds N IKEv1 SAs, each with an installed Quick
    // Mode SA for its own /32.
    let (mut most, mut selectors) = (0, HashSet::new());
    let deadline = Instant::now() + Duration::from_secs(40);
    while Instant::now() < deadline && !run.is_finished() {
        let (established, installed) = charon.sas();
        if established > most {
            most = established;
        }
        if established == N && installed.len() == N {
            selectors = installed;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, r, stderr) = run.join().expect("the load tester's thread");
    let ctx = || format!("{r:#}\n{stderr}\n--- charon:\n{}", charon.log_tail(30));
    assert_eq!(code, Some(0), "{}", ctx());
    assert_eq!(r["ok"], Value::Bool(true), "{}", ctx());
    assert_eq!(u(&r, "/ike_version"), 1, "{}", ctx());
    assert_eq!(u(&r, "/setup/up"), N as u64, "{}", ctx());
    assert_eq!(u(&r, "/setup/failed"), 0, "{}", ctx());
    assert!(f(&r, "/setup/rate_per_s") > 0.0, "{}", ctx());
    assert!(f(&r, "/setup/time_to_all_up_s") > 0.0, "{}", ctx());
    assert_eq!(u(&r, "/rekey/tunnels"), N as u64, "{}", ctx());
    assert_eq!(u(&r, "/rekey/child_ok"), N as u64, "{}", ctx());
    assert_eq!(u(&r, "/rekey/ike_ok"), 0, "{}", ctx());
    assert_eq!(u(&r, "/rekey/failed"), 0, "{}", ctx());
    assert!(r["lost_after_up"]["counts"].as_object().is_some_and(|m| m.is_empty()), "{}", ctx());
    assert_eq!(u(&r, "/teardown/requested"), N as u64, "{}", ctx());
    assert_eq!(u(&r, "/teardown/deleted"), N as u64, "{}", ctx());
    assert_eq!(u(&r, "/teardown/unfinished"), 0, "{}", ctx());
    assert!(r["memory"]["responder"]["bytes_per_tunnel"].as_f64().is_some(), "{}", ctx());
    assert_eq!(most, N, "charon's IKE SAs while held\n{}", ctx());
    assert_eq!(selectors.len(), N, "{selectors:?}");
    assert!(selectors.contains("10.200.0.0/32") && selectors.contains("10.200.0.99/32"));
    // The DELETEs reached charon: it holds no IKE SA any more.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (established, _) = charon.sas();
        if established == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "charon still holds {established} IKE SAs");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `--traffic` against charon: after the setup, every tunnel's ICMP echo requests go
/// through its Child SA (ESP in UDP 4500: kernel-libipsec fakes a NAT) to 10.100.0.1 on the
/// namespace's `lo`, and the kernel's replies come back through the tunnel (charon routes
/// each /32 into its TUN device); with IKEv2, then with IKEv1 Quick Mode SAs.
#[test]
fn loadtest_traffic_through_every_tunnel_against_strongswan() {
    const N: u64 = 100;
    let Some(lab) = LoadLab::start("fglx", true) else { return };
    let (ns, dir, psk_file, charon) = (&lab.ns, &lab.dir, &lab.psk_file, &lab.charon);
    for version in [2, 1] {
        let args = format!(
            "--ike-version {version} --target 127.0.0.1 --tunnels {N} --psk-file {psk_file} \
             --traffic --duration 60"
        );
        let (code, r, stderr) = loadtest_in(ns, dir, &args.split_whitespace().collect::<Vec<_>>());
        let ctx =
            || format!("IKEv{version}: {r:#}\n{stderr}\n--- charon:\n{}", charon.log_tail(30));
        assert_eq!(code, Some(0), "{}", ctx());
        assert_eq!(r["ok"], Value::Bool(true), "{}", ctx());
        assert_eq!(u(&r, "/setup/up"), N, "{}", ctx());
        assert_eq!(r["traffic"]["target"], "10.100.0.1", "{}", ctx());
        assert_eq!(u(&r, "/traffic/tunnels"), N, "{}", ctx());
        assert_eq!(u(&r, "/traffic/not_tested"), 0, "{}", ctx());
        // Every tunnel answered: each Child SA carried ESP both ways.
        assert_eq!(u(&r, "/traffic/answered"), N, "{}", ctx());
        assert_eq!(u(&r, "/traffic/requests"), 3 * N, "{}", ctx());
        assert!(u(&r, "/traffic/replies") >= N, "{}", ctx());
        assert_eq!(u(&r, "/traffic/decrypt_failed"), 0, "{}", ctx());
        assert_eq!(u(&r, "/traffic/unknown_spi"), 0, "{}", ctx());
        assert_eq!(u(&r, "/traffic/unexpected"), 0, "{}", ctx());
        assert!(r["traffic"]["rtt"]["p50_ms"].as_f64().is_some(), "{}", ctx());
        assert_eq!(u(&r, "/teardown/deleted"), N, "{}", ctx());
    }
}

/// A directory removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the in-process responder saw.
#[derive(Default)]
struct Seen {
    established: AtomicU64,
    children: AtomicU64,
    closed: AtomicU64,
}

/// What [`serve`] drives: the IKEv2 and the IKEv1 endpoint.
trait Responder {
    fn handle(&mut self, now: Time, datagram: &[u8], from: SocketAddr);
    fn handle_timeout(&mut self, now: Time);
    fn poll_timeout(&self) -> Option<Time>;
    fn poll_transmit(&mut self) -> Option<(Vec<u8>, SocketAddr)>;
    fn poll_event(&mut self) -> Option<Event>;
}

impl Responder for IkeEndpoint {
    fn handle(&mut self, now: Time, datagram: &[u8], from: SocketAddr) {
        IkeEndpoint::handle(self, now, datagram, from, &mut OsRng);
    }
    fn handle_timeout(&mut self, now: Time) {
        IkeEndpoint::handle_timeout(self, now, &mut OsRng);
    }
    fn poll_timeout(&self) -> Option<Time> {
        IkeEndpoint::poll_timeout(self)
    }
    fn poll_transmit(&mut self) -> Option<(Vec<u8>, SocketAddr)> {
        IkeEndpoint::poll_transmit(self).map(|t| (t.bytes, t.to))
    }
    fn poll_event(&mut self) -> Option<Event> {
        IkeEndpoint::poll_event(self).map(|(_, e)| e)
    }
}

impl Responder for Ikev1Endpoint {
    fn handle(&mut self, now: Time, datagram: &[u8], from: SocketAddr) {
        Ikev1Endpoint::handle(self, now, datagram, from, &mut OsRng);
    }
    fn handle_timeout(&mut self, now: Time) {
        Ikev1Endpoint::handle_timeout(self, now, &mut OsRng);
    }
    fn poll_timeout(&self) -> Option<Time> {
        Ikev1Endpoint::poll_timeout(self)
    }
    fn poll_transmit(&mut self) -> Option<(Vec<u8>, SocketAddr)> {
        Ikev1Endpoint::poll_transmit(self).map(|t| (t.bytes, t.to))
    }
    fn poll_event(&mut self) -> Option<Event> {
        Ikev1Endpoint::poll_event(self).map(|(_, e)| e)
    }
}

/// Runs `ep` on `sock` in a thread until `stop` (or a minute), counting what it reports in
/// `seen`.
fn serve<R: Responder + Send + 'static>(
    mut ep: R,
    sock: UdpSocket,
    stop: Arc<AtomicBool>,
    seen: Arc<Seen>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let start = Instant::now();
        let now = || Time::from_millis(start.elapsed().as_millis() as u64);
        let mut buf = vec![0u8; 65536];
        while !stop.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(60) {
            let mut busy = false;
            while let Ok((n, from)) = sock.recv_from(&mut buf) {
                busy = true;
                ep.handle(now(), &buf[..n], from);
                while let Some((bytes, to)) = ep.poll_transmit() {
                    let _ = sock.send_to(&bytes, to);
                }
            }
            if ep.poll_timeout().is_some_and(|t| t <= now()) {
                ep.handle_timeout(now());
            }
            while let Some((bytes, to)) = ep.poll_transmit() {
                let _ = sock.send_to(&bytes, to);
            }
            while let Some(ev) = ep.poll_event() {
                let counter = match ev {
                    Event::Established(_) => &seen.established,
                    Event::ChildSaUp(_) => &seen.children,
                    Event::Closed { .. } => &seen.closed,
                    _ => continue,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            if !busy {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    })
}

/// The loopback responders' configuration: any initiator with the key, 10.100.0.0/16 on
/// our side and 10.200.0.0/16 on the initiator's, the load tester's default proposals.
fn responder_config(local: SocketAddr, id: &str) -> PeerConfig {
    let net = |a: [u8; 4], l| from_prefix(IpAddr::V4(Ipv4Addr::from(a)), l);
    PeerConfig {
        local_addr: local,
        remote_addr: SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0),
        local_id: IdRepr::fqdn(id),
        remote_id: None,
        psk_local: Psk::new(PSK.as_bytes()),
        psk_remote: Psk::new(PSK.as_bytes()),
        psk_by_id: vec![],
        ike_proposals: parse_proposals(ferrogate::loadtest::DEFAULT_IKE, ProtocolId::Ike).unwrap(),
        child: ChildConfig {
            esp_proposals: parse_proposals(ferrogate::loadtest::DEFAULT_ESP, ProtocolId::Esp)
                .unwrap(),
            selectors: PolicySelectors {
                local: vec![net([10, 100, 0, 0], 16)],
                remote: vec![net([10, 200, 0, 0], 16)],
            },
            lifetime_seconds: 0,
            lifetime_kilobytes: 0,
            mode: Mode::Tunnel,
        },
        retransmit: Default::default(),
        dpd_interval: Duration::ZERO,
        dpd_retry: Duration::ZERO,
        fragmentation: Some(control::ikev2::sa::DEFAULT_FRAGMENT_MTU),
        remote_access: None,
        allow_weak_dh: false,
        auth: Default::default(),
    }
}

/// A responder on 127.0.0.1 made of `IkeEndpoint`: answers any initiator with the key,
/// 10.100.0.0/16 on its side and 10.200.0.0/16 on the initiator's; runs until `stop`.
fn endpoint_responder(
    stop: Arc<AtomicBool>,
    seen: Arc<Seen>,
) -> (SocketAddr, std::thread::JoinHandle<()>) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_nonblocking(true).unwrap();
    let local = sock.local_addr().unwrap();
    // The real address and port: the NAT detection hashes then match and nobody floats
    // to 4500.
    let cfg = responder_config(local, "endpoint-responder");
    let handle = serve(IkeEndpoint::new(vec![cfg]), sock, stop, seen);
    (local, handle)
}

#[test]
fn loadtest_against_an_ikeendpoint_responder_on_loopback() {
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Seen::default());
    let (addr, responder) = endpoint_responder(Arc::clone(&stop), Arc::clone(&seen));
    let dir = tempfile::tempdir().unwrap();
    let psk = dir.path().join("psk");
    std::fs::write(&psk, PSK).unwrap();
    // One ephemeral source port for all: the tunnels share a socket, told apart by SPI.
    let args = format!(
        "--target {addr} --tunnels 50 --psk-file {} --source-ports 0 --rekey-after 0 \
         --rekey both --json --quiet --duration 30",
        psk.display()
    );
    let (code, stdout, stderr) =
        run_cmd(Command::new(FERROGATE), dir.path(), &args.split_whitespace().collect::<Vec<_>>());
    stop.store(true, Ordering::Relaxed);
    let _ = responder.join();
    let r: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("--json output does not parse: {e}\n{stdout}\n{stderr}"));
    let ctx = || format!("{r:#}\n{stderr}");
    assert_eq!(code, Some(0), "{}", ctx());
    assert_eq!(r["ok"], Value::Bool(true), "{}", ctx());
    assert_eq!(u(&r, "/setup/up"), 50, "{}", ctx());
    assert_eq!(u(&r, "/setup/failed"), 0, "{}", ctx());
    assert!(f(&r, "/setup/rate_per_s") > 0.0, "{}", ctx());
    assert_eq!(u(&r, "/rekey/child_ok"), 50, "{}", ctx());
    assert_eq!(u(&r, "/rekey/ike_ok"), 50, "{}", ctx());
    assert_eq!(u(&r, "/teardown/deleted"), 50, "{}", ctx());
    assert_eq!(u(&r, "/sockets/sockets"), 1, "one source port, shared by all tunnels");
    assert!(r["memory"]["responder"].is_null());
    assert!(r["memory"]["loadtester"]["up_kib"].as_u64().is_some_and(|k| k > 0));
    // The responder saw every tunnel come up (and each first and rekeyed Child SA), and
    // every IKE SA deleted.
    assert_eq!(seen.established.load(Ordering::Relaxed), 50);
    assert_eq!(seen.children.load(Ordering::Relaxed), 100);
    assert_eq!(seen.closed.load(Ordering::Relaxed), 50);
}

/// An IKEv1 responder on 127.0.0.1 made of `Ikev1Endpoint`, which picks its configuration
/// by the peer's address: one for each of `peers`, 10.100.0.0/16 on its side and
/// 10.200.0.0/16 on the initiator's; runs until `stop`.
fn endpoint_v1_responder(
    stop: Arc<AtomicBool>,
    seen: Arc<Seen>,
    peers: Vec<IpAddr>,
) -> (SocketAddr, std::thread::JoinHandle<()>) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_nonblocking(true).unwrap();
    let local = sock.local_addr().unwrap();
    let net = |a: [u8; 4], l| from_prefix(IpAddr::V4(Ipv4Addr::from(a)), l);
    let ike_text = ferrogate::loadtest::DEFAULT_IKE_V1;
    let esp_text = ferrogate::loadtest::DEFAULT_ESP;
    let ike = parse_proposals(ike_text, ProtocolId::Ike).unwrap();
    let esp = parse_proposals(esp_text, ProtocolId::Esp).unwrap();
    let configs = peers
        .into_iter()
        .map(|peer| Ikev1Config {
            // The real address and port: the NAT detection hashes match, nobody floats.
            local,
            peer: SocketAddr::new(peer, 0),
            local_id: Identification::fqdn("endpoint-responder"),
            remote_id: None,
            psk: Psk::new(PSK.as_bytes()),
            certificates: None,
            remote_access: None,
            phase1: ikev1_phase1(&ike, ike_text).unwrap(),
            mode: Phase1Mode::Main,
            allow_aggressive: false,
            phase2: ikev1_phase2(&esp, esp_text).unwrap(),
            selectors: PolicySelectors {
                local: vec![net([10, 100, 0, 0], 16)],
                remote: vec![net([10, 200, 0, 0], 16)],
            },
            dpd: None,
            retransmit: Default::default(),
            initial_contact: false,
            nat_traversal: true,
            weak_groups: WeakGroups::Reject,
            rekey_overlap: Duration::from_secs(1),
        })
        .collect();
    let mut ep = Ikev1Endpoint::new();
    ep.set_responder_configs(configs);
    let handle = serve(ep, sock, stop, seen);
    (local, handle)
}

#[test]
fn loadtest_ikev1_against_an_ikev1endpoint_responder_on_loopback() {
    const N: u64 = 20;
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Seen::default());
    // The load tester's --sources 127.1.0.0/24: tunnel i from 127.1.0.(i+1), all local on
    // lo without root.
    let peers = (1..=N as u8).map(|i| IpAddr::V4(Ipv4Addr::new(127, 1, 0, i))).collect();
    let (addr, responder) = endpoint_v1_responder(Arc::clone(&stop), Arc::clone(&seen), peers);
    let dir = tempfile::tempdir().unwrap();
    let psk = dir.path().join("psk");
    std::fs::write(&psk, PSK).unwrap();
    let args = format!(
        "--ike-version 1 --target {addr} --tunnels {N} --psk-file {} --sources 127.1.0.0/24 \
         --rekey-after 0 --rekey child --json --quiet --duration 30",
        psk.display()
    );
    let (code, stdout, stderr) =
        run_cmd(Command::new(FERROGATE), dir.path(), &args.split_whitespace().collect::<Vec<_>>());
    // IKEv1 DELETEs are not acknowledged: give the responder time to read them.
    let deadline = Instant::now() + Duration::from_secs(5);
    while seen.closed.load(Ordering::Relaxed) < N && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    let _ = responder.join();
    let r: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("--json output does not parse: {e}\n{stdout}\n{stderr}"));
    let ctx = || format!("{r:#}\n{stderr}");
    assert_eq!(code, Some(0), "{}", ctx());
    assert_eq!(r["ok"], Value::Bool(true), "{}", ctx());
    assert_eq!(u(&r, "/ike_version"), 1, "{}", ctx());
    assert_eq!(u(&r, "/setup/up"), N, "{}", ctx());
    assert_eq!(u(&r, "/setup/failed"), 0, "{}", ctx());
    assert_eq!(u(&r, "/rekey/child_ok"), N, "{}", ctx());
    assert_eq!(u(&r, "/rekey/ike_ok"), 0, "{}", ctx());
    assert_eq!(u(&r, "/rekey/failed"), 0, "{}", ctx());
    assert_eq!(u(&r, "/teardown/deleted"), N, "{}", ctx());
    assert_eq!(u(&r, "/sockets/sockets"), N, "one socket per source address");
    // The responder saw every ISAKMP SA come up, each first and rekeyed Quick Mode SA, and
    // every ISAKMP SA deleted.
    assert_eq!(seen.established.load(Ordering::Relaxed), N);
    assert_eq!(seen.children.load(Ordering::Relaxed), 2 * N);
    assert_eq!(seen.closed.load(Ordering::Relaxed), N);
}

/// What the ESP echo responder did.
#[derive(Default)]
struct EspSeen {
    /// Echo requests answered.
    echoed: AtomicU64,
    /// ESP it could not use (unknown SPI, no decryption, no echo request).
    bad: AtomicU64,
}

/// A 20-byte IPv4 header (protocol ESP) before `esp`: the ESP engine reads IP packets.
fn esp_in_ip(src: IpAddr, dst: IpAddr, esp: &[u8]) -> Vec<u8> {
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src, dst) else { panic!("IPv4 only") };
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&(20 + esp.len() as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0, 64, 50, 0, 0]);
    p.extend_from_slice(&s.octets());
    p.extend_from_slice(&d.octets());
    let c = !dataplane::wire::checksum::data(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(esp);
    p
}

/// The echo reply to an echo request: addresses swapped, type 0, checksums redone.
fn echo_reply_of(req: &[u8]) -> Option<Vec<u8>> {
    let ihl = usize::from(req.first()? & 0x0f) * 4;
    if req.len() < ihl + 8 || req[9] != 1 || req[ihl] != 8 {
        return None;
    }
    let mut p = req.to_vec();
    let (src, dst) = (req[12..16].to_vec(), req[16..20].to_vec());
    p[12..16].copy_from_slice(&dst);
    p[16..20].copy_from_slice(&src);
    p[10..12].fill(0);
    let c = !dataplane::wire::checksum::data(&p[..ihl]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[ihl] = 0;
    p[ihl + 2..ihl + 4].fill(0);
    let c = !dataplane::wire::checksum::data(&p[ihl..]);
    p[ihl + 2..ihl + 4].copy_from_slice(&c.to_be_bytes());
    Some(p)
}

/// One Child SA of the ESP echo responder: (inbound, outbound).
type SaPair = (dataplane::sa::InboundSa, dataplane::sa::OutboundSa);

/// The dataplane SAs of a Child SA the responder negotiated.
fn sa_pair(c: &control::ikev2::sa::ChildSa, local: IpAddr, peer: IpAddr) -> SaPair {
    use dataplane::crypto::SaKeys;
    use dataplane::sa::{Direction, InboundSa, OutboundSa, SaConfig};
    let t = control::esp::dataplane_transform(c.transforms.encr, c.transforms.integ).unwrap();
    let keys =
        |k: &control::crypto::DirectionKeys| SaKeys::new(k.encr.as_bytes(), k.integ.as_bytes());
    let inbound =
        SaConfig::new(c.inbound_spi, Direction::Inbound, t, keys(&c.inbound), local, peer);
    let outbound =
        SaConfig::new(c.outbound_spi, Direction::Outbound, t, keys(&c.outbound), local, peer);
    (InboundSa::new(&inbound).unwrap(), OutboundSa::new(&outbound).unwrap())
}

/// Encrypts `inner` with `out`; returns the ESP part (what goes in UDP 4500).
fn seal(
    w: &mut dataplane::esp::EspWorker,
    out: &dataplane::sa::OutboundSa,
    inner: &[u8],
) -> Vec<u8> {
    use dataplane::buf::{PacketBuf, VecBuf};
    let mut bufs = [VecBuf::from_slice_with_room(inner, 128, 128)];
    let d = dataplane::esp::encap_burst(
        w,
        &[out],
        &mut bufs,
        &mut Vec::new(),
        &mut dataplane::esp::VecBufAlloc,
        0,
    );
    assert_eq!(d, [dataplane::esp::Disposition::Forward]);
    bufs[0].data()[20..].to_vec()
}

/// The loopback traffic tests run one at a time, and without root only: as root (CI), about
/// one full run of this file in five saw every tunnel of one of them silent (the load
/// tester then also opens raw ESP sockets; not yet understood), and the strongSwan test
/// covers `--traffic` as root.
static TRAFFIC_ON_LOOPBACK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Whether a rootless loopback traffic test runs here (see [`TRAFFIC_ON_LOOPBACK`]).
fn rootless_traffic_test() -> bool {
    if nix::unistd::Uid::effective().is_root() {
        eprintln!(
            "skipped as root: the strongSwan --traffic test covers it (see TRAFFIC_ON_LOOPBACK)"
        );
        return false;
    }
    true
}

/// One loopback `--traffic` run of `n` tunnels against [`esp_echo_responder`] on `at`
/// (one at a time, see [`TRAFFIC_ON_LOOPBACK`]), with `extra` options: the exit status, the
/// JSON report, stderr and what the responder saw. `None` when the address is taken.
fn traffic_on_loopback(
    at: &str,
    n: u64,
    extra: &str,
    ignore: fn(u16, u16) -> bool,
) -> Option<(Option<i32>, Value, String, Arc<EspSeen>)> {
    let _one_at_a_time = TRAFFIC_ON_LOOPBACK.lock().unwrap_or_else(|e| e.into_inner());
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(EspSeen::default());
    let (addr, responder) = esp_echo_responder(at, Arc::clone(&stop), Arc::clone(&seen), ignore)?;
    let dir = tempfile::tempdir().unwrap();
    let psk = dir.path().join("psk");
    std::fs::write(&psk, PSK).unwrap();
    let args = format!(
        "--target {addr} --tunnels {n} --psk-file {} --traffic {extra} --json --quiet \
         --duration 30",
        psk.display()
    );
    let (code, stdout, stderr) =
        run_cmd(Command::new(FERROGATE), dir.path(), &args.split_whitespace().collect::<Vec<_>>());
    stop.store(true, Ordering::Relaxed);
    let _ = responder.join();
    let r: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("--json output does not parse: {e}\n{stdout}\n{stderr}"));
    Some((code, r, stderr, seen))
}

/// An IKEv2 responder on 127.0.0.45:4500 made of `IkeEndpoint` (IKE with the non-ESP
/// marker from the first message on, so that ESP goes in UDP without any NAT, and without
/// root) that answers ICMP echo requests through the tunnels as a gateway answers a ping
/// to its inside address: the dataplane crate's ESP engine decrypts, the addresses are
/// swapped, the engine encrypts. Before its first reply it sends what the load tester
/// must count and not trust: the reply with a flipped byte (no decryption), under an SPI
/// nobody has, three bytes of nothing, and the request itself sealed (no echo reply).
/// Requests for which `ignore(identifier, sequence)` holds go unanswered. `None` when the
/// address is taken.
fn esp_echo_responder(
    addr: &str,
    stop: Arc<AtomicBool>,
    seen: Arc<EspSeen>,
    ignore: fn(u16, u16) -> bool,
) -> Option<(SocketAddr, std::thread::JoinHandle<()>)> {
    use dataplane::buf::{PacketBuf, VecBuf};
    use dataplane::esp::{Disposition, EspWorker, VecBufAlloc, decap_burst};
    let local: SocketAddr = addr.parse().unwrap();
    let sock = match UdpSocket::bind(local) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("skipped: cannot bind {local}: {e}");
            return None;
        }
    };
    sock.set_nonblocking(true).unwrap();
    let cfg = responder_config(local, "esp-echo-responder");
    let handle = std::thread::spawn(move || {
        let mut ep = IkeEndpoint::new(vec![cfg]);
        let mut sas: std::collections::HashMap<u32, SaPair> = Default::default();
        let mut w = EspWorker::new();
        let mut garbage_sent = false;
        let start = Instant::now();
        let now = || Time::from_millis(start.elapsed().as_millis() as u64);
        let mut buf = vec![0u8; 65536];
        // On port 4500 every IKE message carries the non-ESP marker, both ways.
        let flush = |ep: &mut IkeEndpoint| {
            while let Some(t) = ep.poll_transmit() {
                let _ = sock.send_to(&[&[0u8; 4][..], &t.bytes].concat(), t.to);
            }
        };
        while !stop.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(60) {
            let mut busy = false;
            while let Ok((n, from)) = sock.recv_from(&mut buf) {
                busy = true;
                match &buf[..n] {
                    [0, 0, 0, 0, ike @ ..] => ep.handle(now(), ike, from, &mut OsRng),
                    [0xff] => {}
                    esp => {
                        let spi = esp.get(..4).map(|b| u32::from_be_bytes(b.try_into().unwrap()));
                        let Some((inb, out)) = spi.and_then(|s| sas.get(&s)) else {
                            seen.bad.fetch_add(1, Ordering::Relaxed);
                            continue;
                        };
                        let mut bufs = [VecBuf::from_slice_with_room(
                            &esp_in_ip(from.ip(), local.ip(), esp),
                            0,
                            64,
                        )];
                        let r = decap_burst(&mut w, &mut bufs, |_| Some(inb), &mut VecBufAlloc, 0);
                        let request = bufs[0].data().to_vec();
                        let reply = match r[0].disposition {
                            Disposition::Forward => echo_reply_of(&request),
                            _ => None,
                        };
                        let Some(reply) = reply else {
                            seen.bad.fetch_add(1, Ordering::Relaxed);
                            continue;
                        };
                        // The ICMP identifier and sequence number (20-byte inner header).
                        let field = |o: usize| u16::from_be_bytes([reply[o], reply[o + 1]]);
                        if ignore(field(24), field(26)) {
                            continue;
                        }
                        if !garbage_sent {
                            garbage_sent = true;
                            let mut flipped = seal(&mut w, out, &reply);
                            let last = flipped.len() - 1;
                            flipped[last] ^= 1;
                            let mut stranger = flipped.clone();
                            stranger[..4].copy_from_slice(&0xdead_beef_u32.to_be_bytes());
                            let looped = seal(&mut w, out, &request);
                            for junk in [&flipped[..], &stranger, &[1, 2, 3], &looped] {
                                let _ = sock.send_to(junk, from);
                            }
                        }
                        let sealed = seal(&mut w, out, &reply);
                        let _ = sock.send_to(&sealed, from);
                        seen.echoed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                flush(&mut ep);
            }
            if ep.poll_timeout().is_some_and(|t| t <= now()) {
                ep.handle_timeout(now(), &mut OsRng);
            }
            flush(&mut ep);
            while let Some((_, ev)) = ep.poll_event() {
                match ev {
                    Event::ChildSaUp(c) => {
                        let pair = sa_pair(&c, local.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
                        sas.insert(c.inbound_spi, pair);
                    }
                    Event::ChildSaDown { inbound_spi, .. } => {
                        sas.remove(&inbound_spi);
                    }
                    _ => {}
                }
            }
            if !busy {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    Some((local, handle))
}

/// `--traffic` without root: against [`esp_echo_responder`] on loopback port 4500, every
/// tunnel's echo requests go in UDP from its own socket and every tunnel answers; the bad
/// packets the responder mixes in are counted, each where it belongs, and the run passes.
#[test]
fn loadtest_traffic_against_an_esp_echo_responder_on_loopback() {
    if !rootless_traffic_test() {
        return;
    }
    const N: u64 = 30;
    let Some((code, r, stderr, seen)) =
        traffic_on_loopback("127.0.0.45:4500", N, "--traffic-count 4", |_, _| false)
    else {
        return;
    };
    let ctx = || format!("{r:#}\n{stderr}");
    assert_eq!(code, Some(0), "{}", ctx());
    assert_eq!(r["ok"], Value::Bool(true), "{}", ctx());
    assert_eq!(u(&r, "/setup/up"), N, "{}", ctx());
    assert_eq!(r["traffic"]["target"], "10.100.0.1", "{}", ctx());
    assert_eq!(u(&r, "/traffic/per_tunnel"), 4, "{}", ctx());
    assert_eq!(u(&r, "/traffic/tunnels"), N, "{}", ctx());
    assert_eq!(u(&r, "/traffic/answered"), N, "{}", ctx());
    assert_eq!(u(&r, "/traffic/all_answered"), N, "{}", ctx());
    assert_eq!(u(&r, "/traffic/requests"), 4 * N, "{}", ctx());
    assert_eq!(u(&r, "/traffic/replies"), 4 * N, "{}", ctx());
    assert_eq!(f(&r, "/traffic/loss_percent"), 0.0, "{}", ctx());
    assert_eq!(seen.echoed.load(Ordering::Relaxed), 4 * N);
    assert_eq!(seen.bad.load(Ordering::Relaxed), 0, "every request decrypted at the responder");
    // The junk: one each, counted where it belongs.
    assert_eq!(u(&r, "/traffic/decrypt_failed"), 1, "{}", ctx());
    assert_eq!(u(&r, "/traffic/decrypt_failures/counts/auth-failed"), 1, "{}", ctx());
    assert_eq!(u(&r, "/traffic/unknown_spi"), 1, "{}", ctx());
    assert_eq!(u(&r, "/traffic/malformed"), 1, "{}", ctx());
    assert_eq!(u(&r, "/traffic/unexpected"), 1, "{}", ctx());
    assert_eq!(u(&r, "/traffic/unexpected_causes/counts/not_echo_reply"), 1, "{}", ctx());
    assert_eq!(u(&r, "/traffic/duplicates"), 0, "{}", ctx());
    assert_eq!(u(&r, "/teardown/deleted"), N, "{}", ctx());
}

/// `--traffic` when a tunnel stays silent: the responder ignores every request of tunnel 7
/// and the first of tunnel 8. The run fails (exit status 1), and the report says which
/// part was lost.
#[test]
fn loadtest_traffic_fails_when_a_tunnel_stays_silent() {
    if !rootless_traffic_test() {
        return;
    }
    const N: u64 = 12;
    let ignore = |ident: u16, seq: u16| ident == 7 || (ident, seq) == (8, 1);
    let Some((code, r, stderr, _)) =
        traffic_on_loopback("127.0.0.46:4500", N, "--traffic-timeout 3", ignore)
    else {
        return;
    };
    let ctx = || format!("{r:#}\n{stderr}");
    assert_eq!(code, Some(1), "{}", ctx());
    assert_eq!(r["ok"], Value::Bool(false), "{}", ctx());
    assert_eq!(u(&r, "/setup/up"), N, "{}", ctx());
    assert_eq!(u(&r, "/traffic/tunnels"), N, "{}", ctx());
    assert_eq!(u(&r, "/traffic/answered"), N - 1, "{}", ctx());
    assert_eq!(u(&r, "/traffic/silent"), 1, "{}", ctx());
    assert_eq!(u(&r, "/traffic/all_answered"), N - 2, "{}", ctx());
    assert_eq!(u(&r, "/traffic/requests"), 3 * N, "{}", ctx());
    assert_eq!(u(&r, "/traffic/replies"), 3 * N - 4, "{}", ctx());
    let loss = f(&r, "/traffic/loss_percent");
    assert!((loss - 400.0 / (3 * N) as f64).abs() < 1e-9, "{}", ctx());
    // One timeout: the bound on tunnels awaiting replies backed off once, from 64.
    assert_eq!(u(&r, "/traffic/min_in_flight"), 32, "{}", ctx());
    // The silent tunnel waited out its timeout (3 s: replies of a loaded CI machine's debug
    // build must not look silent), measured from its own send, a little after the phase's
    // clock started; the rest were torn down as usual.
    assert!(f(&r, "/traffic/seconds") >= 2.95, "{}", ctx());
    assert_eq!(u(&r, "/teardown/deleted"), N, "{}", ctx());
}

//! `ferrogate loadtest`: a tunnel-scale load tester. It opens N IKEv2 tunnels (IKE SA and
//! first Child SA, PSK authentication), or with `--ike-version 1` N IKEv1 tunnels (Main
//! Mode with a PSK, then one Quick Mode SA pair), against a responder, a ferrogate or any IKE gateway,
//! from many source UDP ports of one address or from many source addresses, each tunnel
//! with its own traffic selectors if asked, so the gateway installs N distinct SAs. It
//! paces the setups at a target rate or runs as fast as a bound on negotiations in flight
//! allows, and reports the setup rate, the time to N, failures by their typed cause,
//! retransmissions, a rekey storm's outcome (`--rekey-after`) and the responder's memory per
//! tunnel (`--responder-pid`). With `--traffic` it then proves that every tunnel carries
//! ESP both ways: ICMP echo requests through each, encrypted with its Child SA, and the
//! replies decrypted and counted ([`traffic`]). It is bounded (`--duration`), deletes its tunnels at the end
//! unless `--keep`, and sends only to loopback or, from a lab namespace, to that
//! namespace's addresses and directly connected links, unless `--allow-any-target`
//! ([`safety`]).
//!
//! The protocol is the control crate's sans-IO [`IkeSa`](control::ikev2::sa::IkeSa) or
//! [`Ikev1Sa`](control::ikev1::sa::Ikev1Sa); the I/O is one thread, nonblocking sockets and epoll ([`engine`]).

pub mod engine;
pub mod pattern;
pub mod proposal;
mod raw;
pub mod report;
pub mod safety;
pub mod traffic;

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::time::Duration;
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use control::crypto::WeakGroups;
use control::ikev1::sa::{Ikev1Config, Phase1Mode};
use control::ikev1::wire::Identification;
use control::ikev2::sa::{ChildConfig, Mode, PeerConfig, Psk};
use control::ikev2::selectors::PolicySelectors;
use control::ikev2::wire::{IdRepr, ProtocolId};
use control::retransmit::RetransmitPolicy;
use zeroize::Zeroizing;

use engine::{Base, Plan, RekeyKind};
use pattern::{IdPattern, Prefix, TsPattern};

/// The IKE proposal used unless `--ike` says otherwise.
pub const DEFAULT_IKE: &str = "aes128gcm16-prfsha256-curve25519";
/// The IKE proposal used with `--ike-version 1` unless `--ike` says otherwise (IKEv1's
/// phase 1 has no AEAD cipher).
pub const DEFAULT_IKE_V1: &str = "aes128-sha256-curve25519";
/// The ESP proposal used unless `--esp` says otherwise.
pub const DEFAULT_ESP: &str = "aes128gcm16";

/// Arguments of `ferrogate loadtest`.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadtestArgs {
    /// The responder: ADDR, ADDR:PORT or [IPv6]:PORT (port 500 by default; on 4500 the
    /// messages carry the non-ESP marker). Only loopback or, run in a lab network namespace
    /// (ip netns exec LAB ...), its own addresses and directly connected links, unless
    /// --allow-any-target.
    #[arg(long, value_parser = pattern::parse_target, help_heading = "Target")]
    pub target: SocketAddr,
    /// Allow any target (a lab network you own), and --add-sources outside a lab namespace.
    #[arg(long, help_heading = "Target")]
    pub allow_any_target: bool,
    /// The responder's process id, when it runs on this machine: its RSS and CPU time
    /// (/proc/PID) before and after the setup, per tunnel.
    #[arg(long, value_name = "PID", help_heading = "Target")]
    pub responder_pid: Option<u32>,

    /// Tunnels to open (IKE SA and first Child SA each).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000), help_heading = "Load")]
    pub tunnels: u32,
    /// Setups per second (also paces rekeys and deletes) [default: as fast as
    /// --max-inflight allows].
    #[arg(long, value_name = "TUNNELS_PER_S", value_parser = parse_rate, help_heading = "Load")]
    pub rate: Option<f64>,
    /// Negotiations (setups, rekeys, deletes) in flight at most.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=100_000), help_heading = "Load")]
    pub max_inflight: u32,

    /// Source addresses: tunnel i uses the i-th address of the prefix (from its first host
    /// address), round robin when there are fewer addresses than tunnels. They must be
    /// local, or added with --add-sources.
    #[arg(long, value_name = "CIDR", value_parser = Prefix::parse, help_heading = "Sources")]
    pub sources: Option<Prefix>,
    /// Add the --sources addresses missing from this network namespace to `lo` for the run
    /// (removed at the end; lab namespaces only).
    #[arg(long, requires = "sources", help_heading = "Sources")]
    pub add_sources: bool,
    /// Source UDP ports, PORT or FIRST-LAST: one socket per port (per address with
    /// --sources), tunnels spread round robin; 0: one port the kernel picks [default: one
    /// ephemeral port per tunnel, or per address with --sources].
    #[arg(long, value_name = "RANGE", value_parser = pattern::parse_port_range, help_heading = "Sources")]
    pub source_ports: Option<(u16, u16)>,
    /// The source address without --sources [default: loopback for a loopback target,
    /// else the address the kernel would send from].
    #[arg(long, value_name = "ADDR", conflicts_with = "sources", help_heading = "Sources")]
    pub source_address: Option<IpAddr>,

    /// The pre-shared key, from a file (trailing newline ignored).
    #[arg(long, value_name = "FILE", required_unless_present = "psk", help_heading = "IKE")]
    pub psk_file: Option<PathBuf>,
    /// The pre-shared key on the command line (visible to other users: labs only).
    #[arg(long, value_name = "KEY", conflicts_with = "psk_file", help_heading = "IKE")]
    pub psk: Option<String>,
    /// The IKE version: 2, or 1 (Main Mode with the pre-shared key, then one Quick Mode SA
    /// pair per tunnel; `--rekey child` only).
    #[arg(long, value_name = "VERSION", default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=2), help_heading = "IKE")]
    pub ike_version: u8,
    /// IKE proposals, strongSwan syntax, comma-separated (aes256-sha256-modp2048) [default:
    /// aes128gcm16-prfsha256-curve25519; IKEv1: aes128-sha256-curve25519].
    #[arg(long, value_name = "PROPOSAL", help_heading = "IKE")]
    pub ike: Option<String>,
    /// ESP proposals, strongSwan syntax (aes256gcm16, aes128-sha256-ecp256 for PFS).
    #[arg(long, value_name = "PROPOSAL", default_value = DEFAULT_ESP, help_heading = "IKE")]
    pub esp: String,
    /// Our traffic selector: CIDR (the same for all), CIDR:LEN (tunnel i gets the i-th /LEN
    /// block: 10.200.0.0/16:32) or `dynamic` (the tunnel's source address).
    #[arg(long, value_name = "PATTERN", default_value = "10.200.0.0/16:32", value_parser = TsPattern::parse, help_heading = "IKE")]
    pub local_ts: TsPattern,
    /// The responder's traffic selector, same syntax (`dynamic`: the target's address).
    #[arg(long, value_name = "PATTERN", default_value = "10.100.0.0/16", value_parser = TsPattern::parse, help_heading = "IKE")]
    pub remote_ts: TsPattern,
    /// Our identity: {i} is the tunnel number, {addr} the source address; an address is
    /// an IP ID, NAME@DOMAIN an RFC 822 ID, anything else an FQDN.
    #[arg(long, value_name = "PATTERN", default_value = "t{i}.loadtest", value_parser = IdPattern::parse, help_heading = "IKE")]
    pub local_id: IdPattern,
    /// The responder's identity to insist on (IP address, NAME@DOMAIN or FQDN) [default:
    /// any, authenticated by the key].
    #[arg(long, value_name = "ID", help_heading = "IKE")]
    pub remote_id: Option<String>,
    /// First retransmission after this many seconds, doubling after each.
    #[arg(long, value_name = "SECS", default_value_t = 2.0, help_heading = "IKE")]
    pub retransmit_timeout: f64,
    /// Retransmissions before the final one (then the peer is given up).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=10), help_heading = "IKE")]
    pub retransmit_tries: u32,

    /// Rekey storm: this many seconds after the setup, rekey every tunnel (--rekey) and
    /// count the outcomes.
    #[arg(long, value_name = "SECS", help_heading = "Run")]
    pub rekey_after: Option<f64>,
    /// What the rekey storm rekeys.
    #[arg(long, value_enum, default_value = "child", help_heading = "Run")]
    pub rekey: RekeyKind,
    /// Keep the tunnels up this long (after the rekey storm) before deleting them.
    #[arg(long, value_name = "SECS", default_value_t = 0.0, help_heading = "Run")]
    pub hold: f64,
    /// Safety cap on the setup, rekey storm and hold together; then the teardown runs.
    #[arg(long, value_name = "SECS", default_value_t = 300.0, help_heading = "Run")]
    pub duration: f64,
    /// Bound on the teardown.
    #[arg(long, value_name = "SECS", default_value_t = 30.0, help_heading = "Run")]
    pub teardown_timeout: f64,
    /// Leave the tunnels up at the end (no DELETE).
    #[arg(long, help_heading = "Run")]
    pub keep: bool,

    /// After the setup, send ICMP echo requests through every tunnel (ESP with its Child
    /// SA: raw, or in UDP 4500 after a NAT-T float; raw ESP needs root) and count the
    /// replies; the exit status is then 0 only if every tunnel answered at least once.
    /// IPv4 only. Paced by --max-inflight and --rate like the setup.
    #[arg(long, help_heading = "Traffic")]
    pub traffic: bool,
    /// The echo requests' destination, inside the remote selectors [default: the first
    /// host address of each tunnel's --remote-ts block: 10.100.0.1 of 10.100.0.0/16].
    #[arg(long, value_name = "ADDR", requires = "traffic", help_heading = "Traffic")]
    pub traffic_target: Option<Ipv4Addr>,
    /// Echo requests per tunnel (1 to 64).
    #[arg(long, value_name = "K", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=i64::from(traffic::MAX_COUNT)), help_heading = "Traffic")]
    pub traffic_count: u32,
    /// How long a tunnel waits for its replies after sending its requests.
    #[arg(long, value_name = "SECS", default_value_t = 5.0, help_heading = "Traffic")]
    pub traffic_timeout: f64,

    /// Print the results as JSON.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
    /// No progress line every second (on stderr).
    #[arg(long, short, help_heading = "Output")]
    pub quiet: bool,
}

/// Parses a rate: `500`, `2k`, `1.5k`.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (num, mult) = match t.strip_suffix(['k', 'K']) {
        Some(n) => (n, 1e3),
        None => (t, 1.0),
    };
    let v: f64 = num.trim().parse().map_err(|_| format!("'{s}' is not a rate"))?;
    let v = v * mult;
    if v.is_finite() && (0.1..=1e7).contains(&v) {
        Ok(v)
    } else {
        Err(format!("rate {s}: must be 0.1 to 10M tunnels per second"))
    }
}

fn secs(v: f64, flag: &str, zero_ok: bool) -> Result<Duration, String> {
    if v.is_finite() && (v > 0.0 || zero_ok && v == 0.0) && v < 1e7 {
        Ok(Duration::from_secs_f64(v))
    } else {
        let kind = if zero_ok { "" } else { "positive " };
        Err(format!("--{flag} must be a {kind}number of seconds"))
    }
}

fn parse_v1_id(s: &str) -> Identification {
    match s.parse::<IpAddr>() {
        Ok(a) => Identification::address(a),
        Err(_) if s.contains('@') => Identification::user_fqdn(s),
        Err(_) => Identification::fqdn(s),
    }
}

fn parse_id(s: &str) -> IdRepr {
    match s.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => IdRepr::ipv4(a),
        Ok(IpAddr::V6(a)) => IdRepr::ipv6(a),
        Err(_) if s.contains('@') => IdRepr::rfc822(s),
        Err(_) => IdRepr::fqdn(s),
    }
}

fn read_psk(args: &LoadtestArgs) -> Result<Psk, String> {
    let key: Zeroizing<String> = match (&args.psk, &args.psk_file) {
        (Some(k), _) => Zeroizing::new(k.clone()),
        (None, Some(path)) => Zeroizing::new(
            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?,
        ),
        (None, None) => return Err("--psk-file FILE (or --psk KEY) is required".into()),
    };
    let trimmed = key.trim_end_matches(['\n', '\r']);
    if trimmed.is_empty() {
        return Err("the pre-shared key is empty".into());
    }
    Ok(Psk::new(trimmed.as_bytes()))
}

/// The source address for a single-address run.
fn default_source(target: SocketAddr) -> Result<IpAddr, String> {
    match target.ip() {
        IpAddr::V4(a) if a.is_loopback() => Ok(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        IpAddr::V6(a) if a.is_loopback() => Ok(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        ip => {
            // The address the kernel's route lookup picks (connect() sends nothing).
            let any: IpAddr = if ip.is_ipv4() {
                Ipv4Addr::UNSPECIFIED.into()
            } else {
                Ipv6Addr::UNSPECIFIED.into()
            };
            let s = UdpSocket::bind(SocketAddr::new(any, 0)).map_err(|e| e.to_string())?;
            s.connect(target).map_err(|e| format!("no route to {target}: {e}"))?;
            Ok(s.local_addr().map_err(|e| e.to_string())?.ip())
        }
    }
}

/// The sockets to open: (address, port) pairs, at most one per tunnel.
fn socket_plan(args: &LoadtestArgs, addrs: &[IpAddr]) -> Vec<SocketAddr> {
    let n = args.tunnels as usize;
    let ports: Vec<u16> = match args.source_ports {
        Some((a, b)) => (a..=b).collect(),
        None if args.sources.is_some() => vec![0],
        // One ephemeral port per tunnel.
        None => vec![0; n],
    };
    // Addresses vary fastest: with --sources, tunnel i's address is the i-th.
    let total = addrs.len().saturating_mul(ports.len()).min(n);
    (0..total)
        .filter_map(|j| {
            let a = addrs.get(j % addrs.len().max(1))?;
            let p = ports.get(j / addrs.len().max(1))?;
            Some(SocketAddr::new(*a, *p))
        })
        .collect()
}

/// Checks `--traffic` and its options: IPv4 outside and inside (the echo requests are
/// IPv4 ICMP).
fn traffic_plan(args: &LoadtestArgs) -> Result<traffic::TrafficPlan, String> {
    if !args.target.is_ipv4() {
        return Err("--traffic: IPv4 targets only".into());
    }
    let v4 = |p: &TsPattern, own: IpAddr| {
        matches!(p.selector(0, own), Some(control::ikev2::wire::TrafficSelector::Ipv4 { .. }))
    };
    if !v4(&args.local_ts, args.target.ip()) || !v4(&args.remote_ts, args.target.ip()) {
        return Err("--traffic: the echo requests are IPv4: --local-ts and --remote-ts must \
                    be IPv4"
            .into());
    }
    if args.traffic_target.is_none()
        && args
            .remote_ts
            .selector(0, args.target.ip())
            .as_ref()
            .and_then(traffic::first_host)
            .is_none()
    {
        return Err("--traffic: --remote-ts gives no host address: set --traffic-target".into());
    }
    Ok(traffic::TrafficPlan {
        target: args.traffic_target,
        count: args.traffic_count,
        timeout: secs(args.traffic_timeout, "traffic-timeout", false)?,
    })
}

/// Builds the run's plan from the command line (everything checked before a socket opens).
pub fn plan(args: &LoadtestArgs) -> Result<(Plan, Option<safety::AddedAddresses>), String> {
    safety::check_target(args.target.ip(), args.allow_any_target)?;
    let v1 = args.ike_version == 1;
    if v1 && args.rekey_after.is_some() && args.rekey != RekeyKind::Child {
        // Ikev1Sa renews its ISAKMP SA only on its own lifetime timer: there is no phase-1
        // rekey to start on demand.
        return Err("--rekey ike/both: IKEv1 has no on-demand phase-1 rekey here; use \
                    --rekey child with --ike-version 1"
            .into());
    }
    let ike_text = args.ike.as_deref().unwrap_or(if v1 { DEFAULT_IKE_V1 } else { DEFAULT_IKE });
    let ike =
        proposal::parse_proposals(ike_text, ProtocolId::Ike).map_err(|e| format!("--ike: {e}"))?;
    let esp =
        proposal::parse_proposals(&args.esp, ProtocolId::Esp).map_err(|e| format!("--esp: {e}"))?;
    let n = args.tunnels;
    for (flag, p) in [("--local-ts", &args.local_ts), ("--remote-ts", &args.remote_ts)] {
        if let Some(cap) = p.capacity()
            && cap < u128::from(n)
        {
            return Err(format!("{flag}: {cap} blocks for {n} tunnels"));
        }
    }
    let addrs: Vec<IpAddr> = match &args.sources {
        Some(p) => {
            let a = pattern::source_addresses(p, n as usize);
            if a.is_empty() {
                return Err("--sources: the prefix has no host address".into());
            }
            a
        }
        None => vec![match args.source_address {
            Some(a) => a,
            None => default_source(args.target)?,
        }],
    };
    if let Some(a) = addrs.iter().find(|a| a.is_ipv4() != args.target.is_ipv4()) {
        return Err(format!("source {a} and target {} are of different families", args.target));
    }
    let added = if args.add_sources {
        Some(safety::add_sources(&addrs, args.allow_any_target)?)
    } else {
        if let Some(a) = addrs.iter().find(|&&a| !safety::is_local(a)) {
            return Err(format!(
                "source address {a} is not an address of this network namespace (--add-sources \
                 adds the missing ones to lo in a lab namespace)"
            ));
        }
        None
    };
    let traffic = if args.traffic { Some(traffic_plan(args)?) } else { None };
    let sockets = socket_plan(args, &addrs);
    let psk = read_psk(args)?;
    let rto = secs(args.retransmit_timeout, "retransmit-timeout", false)?;
    let retransmit = RetransmitPolicy {
        interval: rto,
        tries: args.retransmit_tries,
        max_interval: Duration::from_secs(64),
    };
    let local_addr = SocketAddr::new(addrs.first().copied().unwrap_or(args.target.ip()), 0);
    let base = if v1 {
        Base::V1(Ikev1Config {
            local: local_addr,
            peer: args.target,
            local_id: Identification::fqdn("loadtest"),
            remote_id: args.remote_id.as_deref().map(parse_v1_id),
            psk,
            certificates: None,
            remote_access: None,
            phase1: proposal::ikev1_phase1(&ike, ike_text).map_err(|e| format!("--ike: {e}"))?,
            mode: Phase1Mode::Main,
            allow_aggressive: false,
            phase2: proposal::ikev1_phase2(&esp, &args.esp).map_err(|e| format!("--esp: {e}"))?,
            selectors: PolicySelectors { local: vec![], remote: vec![] },
            // No DPD: the tunnels carry no traffic and the run is bounded; probes of
            // thousands of idle SAs would only add noise to the measurement.
            dpd: None,
            retransmit,
            // The tunnels share our address: an INITIAL-CONTACT could make the responder
            // drop the other tunnels' SAs.
            initial_contact: false,
            // strongSwan with kernel-libipsec fakes a NAT to get UDP-encapsulated ESP.
            nat_traversal: true,
            weak_groups: WeakGroups::Reject,
            // A storm's rekey is over when the old pair is deleted, and holds a slot of
            // --max-inflight until then: a short overlap (no traffic flows to drain), or the
            // storm's rate would measure the overlap, not the Quick Modes.
            rekey_overlap: Duration::from_millis(100),
        })
    } else {
        Base::V2(PeerConfig {
            local_addr,
            remote_addr: args.target,
            local_id: IdRepr::fqdn("loadtest"),
            remote_id: args.remote_id.as_deref().map(parse_id),
            psk_local: psk.clone(),
            psk_remote: psk,
            psk_by_id: vec![],
            ike_proposals: ike,
            child: ChildConfig {
                esp_proposals: esp,
                selectors: PolicySelectors { local: vec![], remote: vec![] },
                // No lifetimes of our own: the only rekeys are the storm's (and the
                // responder's, which are counted).
                lifetime_seconds: 0,
                lifetime_kilobytes: 0,
                mode: Mode::Tunnel,
            },
            retransmit,
            dpd_interval: Duration::ZERO,
            dpd_retry: Duration::ZERO,
            fragmentation: Some(control::ikev2::sa::DEFAULT_FRAGMENT_MTU),
            remote_access: None,
            allow_weak_dh: false,
            auth: Default::default(),
        })
    };
    let plan = Plan {
        target: args.target,
        tunnels: n,
        rate: args.rate,
        max_inflight: args.max_inflight as usize,
        sockets,
        base,
        local_ts: args.local_ts,
        remote_ts: args.remote_ts,
        local_id: args.local_id.clone(),
        rekey_after: args.rekey_after.map(|s| secs(s, "rekey-after", true)).transpose()?,
        rekey: args.rekey,
        hold: secs(args.hold, "hold", true)?,
        duration: secs(args.duration, "duration", false)?,
        teardown_timeout: secs(args.teardown_timeout, "teardown-timeout", false)?,
        keep: args.keep,
        responder_pid: args.responder_pid,
        progress: !args.quiet,
        traffic,
    };
    // Tunnel 0's configuration stands for all: proposals and selectors are checked here,
    // not n times during the run.
    let first = plan.sockets.first().copied().ok_or("no source sockets")?;
    plan.tunnel_config(0, first)?.validate()?;
    Ok((plan, added))
}

/// Installs a log subscriber for the load tester: `FERROGATE_LOG`, else warnings only, so
/// that thousands of tunnels do not log a line each. Call before
/// [`logging::init`](crate::logging::init), which then leaves it in place.
pub fn init_logging() {
    let base = std::env::var("FERROGATE_LOG").unwrap_or_else(|_| "warn".into());
    let filter = tracing_subscriber::EnvFilter::try_new(&base)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ =
        tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter).try_init();
}

/// `ferrogate loadtest`: exit status 0 when every tunnel came up (and every rekey of the
/// storm completed, and with `--traffic` every tunnel answered at least once), 1 when not,
/// 2 when the run could not start.
pub fn main(args: &LoadtestArgs) -> ExitCode {
    let (plan, added) = match plan(args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ferrogate loadtest: {e}");
            return ExitCode::from(2);
        }
    };
    if !args.local_id.per_tunnel() && plan.sockets.len() < plan.tunnels as usize {
        eprintln!(
            "ferrogate loadtest: warning: tunnels share identities; a responder that keeps one \
             IKE SA per identity (strongSwan's uniqueids) replaces them"
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while tearing down exits at once.
        let registered =
            signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&stop))
                .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&stop)));
        if let Err(e) = registered {
            eprintln!("ferrogate loadtest: cannot install the signal handler: {e}");
            return ExitCode::from(2);
        }
    }
    if !args.quiet {
        eprintln!(
            "ferrogate loadtest: {} tunnels to {} from {} socket(s){}",
            plan.tunnels,
            plan.target,
            plan.sockets.len(),
            added
                .as_ref()
                .filter(|a| !a.is_empty())
                .map_or(String::new(), |a| format!(" ({} source addresses added to lo)", a.len()))
        );
    }
    let result = engine::run(&plan, &stop);
    drop(added);
    match result {
        Ok(report) => {
            let out = if args.json {
                serde_json::to_string_pretty(&report).map(|s| s + "\n").unwrap_or_default()
            } else {
                report.text()
            };
            let _ = std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes());
            if report.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(e) => {
            eprintln!("ferrogate loadtest: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: LoadtestArgs,
    }

    fn args(extra: &[&str]) -> LoadtestArgs {
        let mut v = vec!["x", "--target", "127.0.0.1", "--psk", "k"];
        v.extend_from_slice(extra);
        Cli::try_parse_from(v).unwrap().args
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("500").unwrap(), 500.0);
        assert_eq!(parse_rate("1.5k").unwrap(), 1500.0);
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("fast").is_err());
    }

    #[test]
    fn one_ephemeral_port_per_tunnel_by_default() {
        let a = args(&["--tunnels", "5"]);
        let s = socket_plan(&a, &[IpAddr::V4(Ipv4Addr::LOCALHOST)]);
        assert_eq!(s.len(), 5);
        assert!(s.iter().all(|s| s.port() == 0));
    }

    #[test]
    fn port_ranges_and_sources_multiply_up_to_the_tunnel_count() {
        let a = args(&["--tunnels", "5", "--source-ports", "20000-20001"]);
        let s = socket_plan(&a, &[IpAddr::V4(Ipv4Addr::LOCALHOST)]);
        assert_eq!(s, vec!["127.0.0.1:20000".parse().unwrap(), "127.0.0.1:20001".parse().unwrap()]);
        let a = args(&["--tunnels", "3", "--sources", "127.0.0.0/30"]);
        let addrs = pattern::source_addresses(a.sources.as_ref().unwrap(), 3);
        let s = socket_plan(&a, &addrs);
        let want: Vec<SocketAddr> = ["127.0.0.1:0", "127.0.0.2:0", "127.0.0.3:0"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(s, want);
    }

    #[test]
    fn plans_check_before_running() {
        let p = plan(&args(&["--tunnels", "10"])).unwrap().0;
        assert_eq!(p.sockets.len(), 10);
        let engine::TunnelConfig::V2(cfg) =
            p.tunnel_config(3, "127.0.0.1:40000".parse().unwrap()).unwrap()
        else {
            panic!("IKEv2 by default")
        };
        assert_eq!(cfg.local_id, IdRepr::fqdn("t3.loadtest"));
        assert_eq!(
            cfg.child.selectors.local,
            vec![control::ikev2::selectors::from_prefix("10.200.0.3".parse().unwrap(), 32)]
        );
        let err = plan(&args(&["--tunnels", "300", "--local-ts", "10.0.0.0/24:32"])).unwrap_err();
        assert!(err.contains("256 blocks for 300 tunnels"), "{err}");
        let err = plan(&args(&["--tunnels", "1", "--ike", "aes128-sha256"])).unwrap_err();
        assert!(err.contains("--ike"), "{err}");
        let bad =
            Cli::try_parse_from(["x", "--target", "192.0.2.1", "--psk", "k", "--tunnels", "1"])
                .unwrap()
                .args;
        assert!(plan(&bad).unwrap_err().contains("refusing target"));
    }

    #[test]
    fn traffic_plans() {
        assert_eq!(plan(&args(&["--tunnels", "2"])).unwrap().0.traffic, None);
        let p = plan(&args(&["--tunnels", "2", "--traffic"])).unwrap().0;
        let want = traffic::TrafficPlan { target: None, count: 3, timeout: Duration::from_secs(5) };
        assert_eq!(p.traffic, Some(want));
        let p = plan(&args(&[
            "--tunnels",
            "2",
            "--traffic",
            "--traffic-target",
            "10.100.7.7",
            "--traffic-count",
            "64",
            "--traffic-timeout",
            "0.5",
        ]))
        .unwrap()
        .0;
        let t = p.traffic.unwrap();
        assert_eq!((t.target, t.count), (Some(Ipv4Addr::new(10, 100, 7, 7)), 64));
        assert_eq!(t.timeout, Duration::from_millis(500));
        // The echo requests are IPv4 ICMP.
        let err = plan(&args(&["--tunnels", "1", "--traffic", "--local-ts", "fd00::/48:64"]))
            .unwrap_err();
        assert!(err.contains("--traffic") && err.contains("IPv4"), "{err}");
        let err =
            plan(&args(&["--tunnels", "1", "--traffic", "--traffic-timeout", "0"])).unwrap_err();
        assert!(err.contains("--traffic-timeout"), "{err}");
        let parse = |extra: &[&str]| {
            let mut v = vec!["x", "--target", "127.0.0.1", "--psk", "k", "--tunnels", "1"];
            v.extend_from_slice(extra);
            Cli::try_parse_from(v).map(|c| c.args)
        };
        assert!(parse(&["--traffic-target", "10.100.0.1"]).is_err(), "needs --traffic");
        assert!(parse(&["--traffic", "--traffic-count", "65"]).is_err(), "at most 64");
        assert!(parse(&["--traffic", "--traffic-count", "0"]).is_err());
    }

    #[test]
    fn ikev1_plans() {
        let p = plan(&args(&["--tunnels", "4", "--ike-version", "1", "--local-id", "{addr}"]))
            .unwrap()
            .0;
        assert_eq!(p.base.version(), 1);
        let engine::TunnelConfig::V1(cfg) =
            p.tunnel_config(2, "127.0.0.1:40000".parse().unwrap()).unwrap()
        else {
            panic!("IKEv1 asked for")
        };
        assert_eq!(cfg.local_id, Identification::address("127.0.0.1".parse().unwrap()));
        assert_eq!(cfg.peer, "127.0.0.1:500".parse().unwrap());
        assert_eq!(cfg.phase1.len(), 1, "the IKEv1 default proposal");
        assert_eq!(
            cfg.selectors.local,
            vec![control::ikev2::selectors::from_prefix("10.200.0.2".parse().unwrap(), 32)]
        );
        // The IKEv2 default has an AEAD phase 1, which IKEv1 lacks.
        let err = plan(&args(&["--tunnels", "1", "--ike-version", "1", "--ike", DEFAULT_IKE]))
            .unwrap_err();
        assert!(err.contains("--ike") && err.contains("AES-CBC"), "{err}");
        let err = plan(&args(&[
            "--tunnels",
            "1",
            "--ike-version",
            "1",
            "--rekey-after",
            "1",
            "--rekey",
            "both",
        ]))
        .unwrap_err();
        assert!(err.contains("--rekey child"), "{err}");
        let err =
            plan(&args(&["--tunnels", "1", "--ike-version", "1", "--esp", "aes128-sha256-esn"]))
                .unwrap_err();
        assert!(err.contains("--esp"), "{err}");
    }
}

//! Where the load tester may send: the project rule is that tests and benchmarks send only
//! to loopback or to network namespaces made for them. A target passes if it is a loopback
//! address, or if the load tester runs in a lab namespace (`ip netns exec LAB ferrogate
//! loadtest ...`) and the target is an address of that namespace (datagrams to it never
//! leave the namespace) or is on one of its links without a gateway (the far end of a
//! veth the lab made into another of its namespaces; never routed beyond). Anything else
//! needs `--allow-any-target`.
//!
//! A lab namespace is one `ip netns add` named (its file in /run/netns is this process's
//! namespace), or any namespace other than PID 1's where /proc/1/ns/net is readable (some
//! sandboxes refuse it). The host's namespace never counts.
//!
//! Source addresses the tester adds to `lo` (`--add-sources`) follow the same rule: only in
//! a lab namespace, and they are removed again at the end.

use core::net::{IpAddr, SocketAddr};
use std::io::Write;
use std::net::UdpSocket;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// Which network namespace this process runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Namespace {
    /// The host's (the one of PID 1).
    Host,
    /// Another one: a lab namespace.
    Lab,
    /// Could not tell (not a named namespace, /proc/1/ns/net unreadable): treated as the
    /// host's.
    Unknown(String),
}

/// The (device, inode) pair that names a namespace file.
fn ns_id(path: &Path) -> std::io::Result<(u64, u64)> {
    std::fs::metadata(path).map(|m| (m.dev(), m.ino()))
}

/// Classifies this process's network namespace.
pub fn namespace() -> Namespace {
    let ours = match ns_id(Path::new("/proc/self/ns/net")) {
        Ok(id) => id,
        Err(e) => return Namespace::Unknown(format!("/proc/self/ns/net: {e}")),
    };
    let init = ns_id(Path::new("/proc/1/ns/net"));
    if matches!(init, Ok(id) if id == ours) {
        return Namespace::Host;
    }
    let named = std::fs::read_dir("/run/netns")
        .map(|d| d.flatten().any(|e| ns_id(&e.path()).is_ok_and(|id| id == ours)))
        .unwrap_or(false);
    match init {
        _ if named => Namespace::Lab,
        Ok(_) => Namespace::Lab,
        Err(e) => Namespace::Unknown(format!(
            "not a named namespace (ip netns) and /proc/1/ns/net is unreadable: {e}"
        )),
    }
}

/// Whether `addr` is an address of this namespace (binding to it succeeds).
pub fn is_local(addr: IpAddr) -> bool {
    UdpSocket::bind(SocketAddr::new(addr, 0)).is_ok()
}

/// Parses a hex field of /proc/net/route (a network-order address printed as a host-order
/// number).
fn hex_u32(s: &str) -> Option<u32> {
    u32::from_str_radix(s, 16).ok()
}

/// Whether the main routing table reaches `target` without a gateway (a directly connected
/// link), by longest prefix match over /proc/net/route or /proc/net/ipv6_route of this
/// namespace.
pub fn on_link(target: IpAddr) -> bool {
    let file = if target.is_ipv4() { "/proc/net/route" } else { "/proc/net/ipv6_route" };
    std::fs::read_to_string(file).is_ok_and(|text| on_link_in(&text, target))
}

/// [`on_link`] on the text of /proc/net/route (IPv4) or /proc/net/ipv6_route (IPv6).
fn on_link_in(table: &str, target: IpAddr) -> bool {
    // (prefix length, no gateway) of every route that covers the target.
    let matches: Vec<(u32, bool)> = match target {
        IpAddr::V4(a) => {
            // The file prints each address's network-order bytes as a host-order number.
            let t = u32::from_ne_bytes(a.octets());
            table
                .lines()
                .skip(1)
                .filter_map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    let (dest, gw, mask) =
                        (hex_u32(f.get(1)?)?, hex_u32(f.get(2)?)?, hex_u32(f.get(7)?)?);
                    (t & mask == dest).then_some((mask.count_ones(), gw == 0))
                })
                .collect()
        }
        IpAddr::V6(a) => {
            let t = a.to_bits();
            table
                .lines()
                .filter_map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    let dest = u128::from_str_radix(f.first()?, 16).ok()?;
                    let len = u32::from_str_radix(f.get(1)?, 16).ok()?.min(128);
                    let gw = u128::from_str_radix(f.get(4)?, 16).ok()?;
                    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                    (t & mask == dest & mask).then_some((len, gw == 0))
                })
                .collect()
        }
    };
    matches.into_iter().max_by_key(|&(len, _)| len).is_some_and(|(_, direct)| direct)
}

/// Why a target is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// 127.0.0.0/8 or ::1.
    Loopback,
    /// An address of the lab namespace the tester runs in.
    LabNamespace,
    /// On a link of the lab namespace, without a gateway.
    LabLink,
    /// `--allow-any-target`.
    AllowedByFlag,
}

/// Checks `target` against the rule above.
pub fn check_target(target: IpAddr, allow_any: bool) -> Result<Scope, String> {
    if target.is_loopback() {
        return Ok(Scope::Loopback);
    }
    if allow_any {
        return Ok(Scope::AllowedByFlag);
    }
    let ns = namespace();
    if ns == Namespace::Lab && is_local(target) {
        return Ok(Scope::LabNamespace);
    }
    if ns == Namespace::Lab && on_link(target) {
        return Ok(Scope::LabLink);
    }
    let why = match ns {
        Namespace::Host => "this is the host's network namespace".to_owned(),
        Namespace::Lab => {
            "it is neither an address of this network namespace nor on one of its links".to_owned()
        }
        Namespace::Unknown(e) => format!("cannot tell whether this is a lab namespace: {e}"),
    };
    Err(format!(
        "refusing target {target}: {why}. The load tester sends only to loopback \
         (127.0.0.0/8, ::1), or from a lab network namespace (ip netns exec LAB ferrogate \
         loadtest ...) to its own addresses and its directly connected links; \
         --allow-any-target overrides this for a lab network you own"
    ))
}

/// Addresses added to `lo` for the run; removed when dropped.
#[derive(Debug, Default)]
pub struct AddedAddresses {
    addrs: Vec<IpAddr>,
}

impl AddedAddresses {
    /// How many were added.
    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    /// None were added.
    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }
}

/// Runs `ip -batch -` with one command per line (one process for thousands of addresses).
fn ip_batch(lines: &[String]) -> Result<(), String> {
    let mut child = Command::new("ip")
        .args(["-force", "-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        stdin.write_all(text.as_bytes()).map_err(|e| format!("ip -batch: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| format!("ip -batch: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip -batch: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Adds the addresses of `want` that are not local yet to `lo` (host prefixes), in a lab
/// namespace only (or with `allow_any`).
pub fn add_sources(want: &[IpAddr], allow_any: bool) -> Result<AddedAddresses, String> {
    let missing: Vec<IpAddr> = want.iter().copied().filter(|&a| !is_local(a)).collect();
    if missing.is_empty() {
        return Ok(AddedAddresses::default());
    }
    if !allow_any && namespace() != Namespace::Lab {
        return Err(format!(
            "--add-sources: refusing to add {} address(es) to lo of the host's network \
             namespace; run in a lab namespace (ip netns exec LAB ...)",
            missing.len()
        ));
    }
    let lines: Vec<String> = missing
        .iter()
        .map(|a| format!("addr add {a}/{} dev lo", if a.is_ipv4() { 32 } else { 128 }))
        .collect();
    let added = AddedAddresses { addrs: missing };
    ip_batch(&lines)?;
    if let Some(a) = added.addrs.iter().find(|&&a| !is_local(a)) {
        return Err(format!("--add-sources: {a} is still not usable after adding it to lo"));
    }
    Ok(added)
}

impl Drop for AddedAddresses {
    fn drop(&mut self) {
        if self.addrs.is_empty() {
            return;
        }
        let lines: Vec<String> = self
            .addrs
            .iter()
            .map(|a| format!("addr del {a}/{} dev lo", if a.is_ipv4() { 32 } else { 128 }))
            .collect();
        if let Err(e) = ip_batch(&lines) {
            eprintln!("ferrogate loadtest: removing the source addresses: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_always_allowed() {
        assert_eq!(check_target("127.0.0.1".parse().unwrap(), false), Ok(Scope::Loopback));
        assert_eq!(check_target("127.9.8.7".parse().unwrap(), false), Ok(Scope::Loopback));
        assert_eq!(check_target("::1".parse().unwrap(), false), Ok(Scope::Loopback));
    }

    #[test]
    fn on_link_takes_the_longest_prefix_and_wants_no_gateway() {
        // Little-endian hosts print 10.97.1.0 as 0001610A.
        if u32::from_ne_bytes([1, 0, 0, 0]) != 1 {
            return;
        }
        let v4 = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                  veth0\t00000000\t0201610A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                  veth0\t0001610A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(on_link_in(v4, ip("10.97.1.9")));
        assert!(!on_link_in(v4, ip("10.97.2.9")), "only the default route through a gateway");
        assert!(!on_link_in("Iface\n", ip("10.97.1.9")), "no route at all");
        let v6 = "20010db8000000000000000000000000 40 00000000000000000000000000000000 00 \
                  00000000000000000000000000000000 00000100 00000001 00000000 00000001 veth0\n\
                  00000000000000000000000000000000 00 00000000000000000000000000000000 00 \
                  20010db8000000000000000000000001 00000400 00000001 00000000 00000003 veth0\n";
        assert!(on_link_in(v6, ip("2001:db8::9")));
        assert!(!on_link_in(v6, ip("2001:db9::9")));
    }

    #[test]
    fn a_documentation_address_is_refused_unless_allowed() {
        // 192.0.2.0/24 (TEST-NET-1) is never an address of this namespace.
        let t: IpAddr = "192.0.2.1".parse().unwrap();
        let err = check_target(t, false).unwrap_err();
        assert!(err.contains("refusing target 192.0.2.1"), "{err}");
        assert_eq!(check_target(t, true), Ok(Scope::AllowedByFlag));
    }
}

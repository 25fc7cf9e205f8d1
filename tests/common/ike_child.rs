//! The ferrogate side of the strongSwan interop tests (`ikev2_interop.rs`,
//! `ikev2_rekey_interop.rs`, `ikev2_cert_interop.rs`): the namespaces joined by a veth
//! pair, the test binary re-run inside ours, and there an `IkeSa` driven over kernel UDP
//! sockets (port 500, and 4500 with the non-ESP marker when the peer floats, RFC 3948
//! 2.2) that prints one `EVENT` line per event for the parent to check.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::netns::{Namespaces, in_ns, is_root};
use super::strongswan::{CHARON, Charon};
use super::wait_bounded;
use control::ikev2::proposal::LocalProposal;
use control::ikev2::sa::{Accept, ChildConfig, Event, IkeSa, Mode, PeerConfig, Psk};
use control::ikev2::selectors::{PolicySelectors, from_prefix};
use control::ikev2::wire::IdRepr;
use control::retransmit::RetransmitPolicy;
use control::time::Time;
use rand_core::{Infallible, TryCryptoRng, TryRng};

/// How long our side may negotiate before it reports a timeout (the parent waits 40 s).
pub const NEGOTIATE_LIMIT: Duration = Duration::from_secs(20);

/// The operating system's randomness.
pub struct OsRng;

impl TryRng for OsRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        getrandom::fill(dst).expect("getrandom");
        Ok(())
    }
}

impl TryCryptoRng for OsRng {}

// ---------------------------------------------------------------------------------------
// The parent: namespaces, our side started in its own.

/// Whether the machine can run these tests at all: root (namespaces) and charon.
pub fn have_root_and_charon() -> bool {
    is_root() && Path::new(CHARON).exists()
}

/// Two namespaces joined by a veth pair: charon's (`charon_addr/24`, and strongSwan's LAN
/// 10.2.0.1/16 on lo) and ours (`our_addr/24`). Removed when dropped.
pub struct Lab {
    pub charon_ns: String,
    pub our_ns: String,
    _ns: Namespaces,
}

impl Lab {
    /// Namespaces `fg{tag}{pid}a` / `b`, devices `{tag}0` / `{tag}1`. None (after saying
    /// why) where namespaces cannot be made: the test is skipped.
    pub fn create(tag: &str, charon_addr: Ipv4Addr, our_addr: Ipv4Addr) -> Option<Lab> {
        let pid = std::process::id();
        let (a, b) = (format!("fg{tag}{pid}a"), format!("fg{tag}{pid}b"));
        let ns = match Namespaces::create(&[a.clone(), b.clone()]) {
            Ok(n) => n,
            Err(e) => {
                eprintln!("skipped: no network namespaces: {e}");
                return None;
            }
        };
        let (dev_a, dev_b) = (format!("{tag}0"), format!("{tag}1"));
        in_ns(
            &a,
            &["ip", "link", "add", &dev_a, "type", "veth", "peer", "name", &dev_b, "netns", &b],
        );
        in_ns(&a, &["ip", "addr", "add", &format!("{charon_addr}/24"), "dev", &dev_a]);
        in_ns(&b, &["ip", "addr", "add", &format!("{our_addr}/24"), "dev", &dev_b]);
        for (ns, dev) in [(&a, &dev_a), (&b, &dev_b)] {
            in_ns(ns, &["ip", "link", "set", dev, "up"]);
            in_ns(ns, &["ip", "link", "set", "lo", "up"]);
        }
        // kernel-libipsec routes its policies through a TUN device from an address of the
        // local selector: strongSwan's LAN lives on lo (the `dummy` link type is missing
        // here).
        in_ns(&a, &["ip", "addr", "add", "10.2.0.1/16", "dev", "lo"]);
        Some(Lab { charon_ns: a, our_ns: b, _ns: ns })
    }

    /// Runs our side: this test binary's `test` again, in our namespace with `env=value`
    /// set. Where charon initiates it is told to 300 ms after the start (ours listens by
    /// then). Bounded at 40 s.
    pub fn run_ours(
        &self,
        test: &str,
        env: &str,
        value: &str,
        charon_initiates: Option<&Charon>,
    ) -> Output {
        let ours = Command::new("ip")
            .args(["netns", "exec", &self.our_ns])
            .arg(std::env::current_exe().expect("the test binary"))
            .args(["--exact", test, "--nocapture"])
            .env(env, value)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start our side");
        if let Some(charon) = charon_initiates {
            std::thread::sleep(Duration::from_millis(300));
            let _ = charon.swanctl(&["--initiate", "--child", "net", "--timeout", "5"]);
        }
        wait_bounded(ours, Duration::from_secs(40))
    }
}

/// An empty scratch directory `name` under the temporary directory.
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    dir
}

/// Whether a run covers `role:suite`: `FG_IKE_ONLY=initiator:NAME` narrows a debugging run
/// to one case.
pub fn wanted(role: &str, suite: &str) -> bool {
    std::env::var("FG_IKE_ONLY").ok().is_none_or(|only| only == format!("{role}:{suite}"))
}

/// Runs `case` for each suite with ferrogate as the initiator and as the responder (those
/// `wanted`), then fails with every case's failure at once, so one run shows them all.
pub fn each_suite_both_roles<S>(
    suites: &[S],
    name: impl Fn(&S) -> &'static str,
    mut case: impl FnMut(&S, &str) -> Result<(), String>,
) {
    let mut failures = Vec::new();
    for s in suites {
        for role in ["initiator", "responder"] {
            if !wanted(role, name(s)) {
                continue;
            }
            if let Err(e) = case(s, role) {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// What a failed case shows: our side's exit status, output and protocol log, and the
/// last `charon_lines` lines of charon's log.
pub fn run_report(out: &Output, charon: &Charon, charon_lines: usize) -> String {
    format!(
        "rc {:?}\n--- ours:\n{}{}\n--- charon:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        charon.log_tail(charon_lines)
    )
}

/// The word after `key` in an `EVENT` line (`in=`, `out=`).
pub fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split(key).nth(1).and_then(|v| v.split_whitespace().next()).unwrap_or("")
}

/// How charon logs the pair of an `EVENT child-up` line: its inbound SPI is our outbound.
pub fn charon_spis(child_up: &str) -> String {
    format!("with SPIs {}_i {}_o", field(child_up, "out="), field(child_up, "in="))
}

// ---------------------------------------------------------------------------------------
// Our side, inside its namespace.

/// Sends the protocol log (`ikev2_protocol` at `level`) to stderr, which the parent shows
/// when a run fails.
pub fn log_protocol(level: &str) {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new(format!("ikev2_protocol={level}")))
        .try_init();
}

/// Our configuration towards charon: PSK `psk` both ways, address identities, a tunnel
/// between 10.1.0.0/16 (ours) and 10.2.0.0/16 (charon's), one hour Child SAs, 3 tries
/// 500 ms apart, no liveness checks.
pub fn psk_config(
    our_addr: Ipv4Addr,
    charon_addr: Ipv4Addr,
    psk: &[u8],
    ike: LocalProposal,
    esp: LocalProposal,
) -> PeerConfig {
    let net = |a: [u8; 4], l| from_prefix(IpAddr::V4(Ipv4Addr::from(a)), l);
    PeerConfig {
        local_addr: SocketAddr::new(our_addr.into(), 500),
        remote_addr: SocketAddr::new(charon_addr.into(), 500),
        local_id: IdRepr::ipv4(our_addr),
        remote_id: Some(IdRepr::ipv4(charon_addr)),
        psk_local: Psk::new(psk),
        psk_remote: Psk::new(psk),
        psk_by_id: vec![],
        ike_proposals: vec![ike],
        child: ChildConfig {
            esp_proposals: vec![esp],
            selectors: PolicySelectors {
                local: vec![net([10, 1, 0, 0], 16)],
                remote: vec![net([10, 2, 0, 0], 16)],
            },
            lifetime_seconds: 3600,
            lifetime_kilobytes: 4_608_000,
            mode: Mode::Tunnel,
        },
        retransmit: RetransmitPolicy {
            interval: Duration::from_millis(500),
            tries: 3,
            ..Default::default()
        },
        dpd_interval: Duration::ZERO,
        dpd_retry: Duration::ZERO,
        fragmentation: Some(control::ikev2::sa::DEFAULT_FRAGMENT_MTU),
        remote_access: None,
        allow_weak_dh: false,
        auth: Default::default(),
    }
}

/// Our two kernel UDP sockets (non-blocking) and the clock our `IkeSa` runs on.
pub struct Udp {
    s500: UdpSocket,
    s4500: UdpSocket,
    start: Instant,
}

impl Udp {
    pub fn bind(addr: Ipv4Addr) -> Udp {
        let s500 = UdpSocket::bind((addr, 500)).expect("bind 500");
        let s4500 = UdpSocket::bind((addr, 4500)).expect("bind 4500");
        for sock in [&s500, &s4500] {
            sock.set_nonblocking(true).expect("non-blocking socket");
        }
        Udp { s500, s4500, start: Instant::now() }
    }

    /// Since the sockets were bound.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// The `IkeSa`'s clock.
    pub fn now(&self) -> Time {
        Time::from_millis(self.start.elapsed().as_millis() as u64)
    }

    /// Sends what `sa` has queued.
    pub fn send_all(&self, sa: &mut IkeSa) {
        while let Some(t) = sa.poll_transmit() {
            // Port 4500 carries the non-ESP marker (RFC 3948 2.2).
            if t.to.port() == 4500 {
                let mut framed = vec![0u8; 4];
                framed.extend_from_slice(&t.bytes);
                self.s4500.send_to(&framed, t.to).expect("send 4500");
            } else {
                self.s500.send_to(&t.bytes, t.to).expect("send 500");
            }
        }
    }

    /// Hands `deliver` at most one IKE message from each socket (the marker stripped on
    /// port 4500, where a datagram without it is ESP and skipped); sleeps 2 ms when
    /// neither socket had anything.
    pub fn receive(&self, buf: &mut [u8], mut deliver: impl FnMut(&[u8], SocketAddr)) {
        let mut got = false;
        for (sock, marker) in [(&self.s500, false), (&self.s4500, true)] {
            if let Ok((n, from)) = sock.recv_from(buf) {
                got = true;
                let msg = match (marker, &buf[..n]) {
                    (false, m) => m,
                    (true, [0, 0, 0, 0, rest @ ..]) => rest,
                    (true, _) => continue,
                };
                deliver(msg, from);
            }
        }
        if !got {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// The `EVENT` line of `ev` where the test has no line of its own for it.
pub fn event_line(ev: &Event) -> String {
    match ev {
        Event::Closed { reason } => format!("EVENT closed {reason:?}"),
        Event::Failed(cause) => format!("EVENT failed {cause:?}"),
        other => format!("EVENT {other:?}"),
    }
}

/// Negotiates with `cfg` from `our_addr` (initiating, or accepting charon's request),
/// prints one line per event (`describe`'s where it has one, else `event_line`'s), closes
/// the IKE SA once the first Child SA is up, and returns once it is closed. Exits with 3
/// where negotiation fails and 4 past `NEGOTIATE_LIMIT`.
pub fn negotiate_and_close(
    our_addr: Ipv4Addr,
    cfg: &PeerConfig,
    initiator: bool,
    describe: impl Fn(&Event) -> Option<String>,
) {
    let udp = Udp::bind(our_addr);
    let mut rng = OsRng;
    let mut sa: Option<IkeSa> = match initiator {
        true => Some(IkeSa::initiate(udp.now(), cfg.clone(), &mut rng).expect("config")),
        false => None,
    };
    let mut buf = vec![0u8; 65536];
    let mut closing = false;
    while udp.elapsed() < NEGOTIATE_LIMIT {
        if let Some(sa) = sa.as_mut() {
            udp.send_all(sa);
            while let Some(ev) = sa.poll_event() {
                println!("{}", describe(&ev).unwrap_or_else(|| event_line(&ev)));
                match &ev {
                    Event::ChildSaUp(_) if !closing => {
                        closing = true;
                        sa.close(udp.now(), &mut rng);
                    }
                    Event::Closed { .. } => return,
                    Event::Failed(_) => std::process::exit(3),
                    _ => {}
                }
            }
            if sa.poll_timeout().is_some_and(|t| t <= udp.now()) {
                sa.handle_timeout(udp.now(), &mut rng);
                continue;
            }
        }
        udp.receive(&mut buf, |msg, from| match sa.as_mut() {
            Some(sa) => sa.handle(udp.now(), msg, from, &mut rng),
            None => match IkeSa::accept(udp.now(), cfg.clone(), msg, from, &mut rng) {
                Accept::Sa(new) => sa = Some(*new),
                other => println!("EVENT accept {:?}", std::mem::discriminant(&other)),
            },
        });
    }
    println!("EVENT timeout");
    std::process::exit(4);
}

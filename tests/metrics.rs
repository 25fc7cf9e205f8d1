//! The Prometheus endpoint: the exposition of a hand-built snapshot line by line, a check of
//! the text format on everything rendered, and real HTTP exchanges over loopback TCP,
//! including clients that are slow, too many, too large or not speaking HTTP.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferrogate::metrics::exposition::{CONTENT_TYPE, Exposition};
use ferrogate::metrics::http::Status;
use ferrogate::metrics::render::render_into;
use ferrogate::metrics::{IkeCounters, Limits, MetricsServer, Options, Scrape, render};
use ferrogate::operator::{Direction, InterfaceSnap, SaSnap, Snapshot, WorkerSnap};

fn interface() -> InterfaceSnap {
    InterfaceSnap {
        name: "inside".into(),
        role: "inside".into(),
        port: 0,
        device: "net_pcap0,rx_pcap=/x.pcap".into(),
        driver: "net_pcap".into(),
        mac: "02:00:00:00:00:01".into(),
        vlan: Some(10),
        addresses: vec!["10.1.0.1/24".into()],
        mtu: 1500,
        link_up: true,
        speed_mbps: 10_000,
        rx_packets: 101,
        rx_bytes: 6402,
        tx_packets: 93,
        tx_bytes: 5764,
        rx_missed: 5,
        rx_errors: 6,
        tx_errors: 7,
        rx_nombuf: 8,
    }
}

fn sa(tunnel: &str, direction: Direction, spi: u32) -> SaSnap {
    SaSnap {
        tunnel: tunnel.into(),
        interface: "outside".into(),
        direction,
        spi,
        transform: "esp-aes-gcm-128".into(),
        mode: "tunnel".into(),
        local: "192.0.2.1".into(),
        remote: "192.0.2.2".into(),
        encap: "esp".into(),
        esn: false,
        replay_window: if direction == Direction::Inbound { 64 } else { 0 },
        local_ident: Some("10.1.0.0/16".into()),
        remote_ident: Some("10.2.0.0/16".into()),
        packets: u64::from(spi & 0xff),
        bytes: u64::from(spi & 0xff) * 100,
        seq: u64::from(spi & 0xff) + 1,
        drops: BTreeMap::new(),
        lifetime_remaining_s: None,
        lifetime_remaining_kb: None,
        path_mtu: 1500,
    }
}

fn snapshot() -> Snapshot {
    let mut inbound = sa("site-b", Direction::Inbound, 0x1002);
    inbound.drops = BTreeMap::from([("replay".into(), 5), ("bad-padding".into(), 1)]);
    inbound.lifetime_remaining_s = Some(3000);
    inbound.lifetime_remaining_kb = Some(2);
    let mut odd = sa("odd \"quoted\"\\name\nx", Direction::Outbound, 0xdeadbeef);
    odd.esn = true;
    Snapshot {
        instance: "fg-test".into(),
        uptime_s: 12.5,
        interfaces: vec![interface()],
        workers: vec![WorkerSnap {
            worker: 0,
            lcore: 1,
            counters: BTreeMap::from([("rx".into(), 7), ("drop_no_route".into(), 2)]),
        }],
        sas: vec![sa("site-b", Direction::Outbound, 0x1001), inbound, odd],
        drops: BTreeMap::from([("no-sa".into(), 9)]),
    }
}

fn ike() -> IkeCounters {
    IkeCounters {
        sa_init_ok: 4,
        sa_init_fail_by_cause: BTreeMap::from([("no_proposal_chosen".into(), 2)]),
        auth_ok: 3,
        auth_fail_by_cause: BTreeMap::from([("authentication_failed".into(), 1)]),
        rekeys: 6,
        dpd_timeouts: 1,
        duplicate_ike_sas: 2,
        duplicate_child_sas: 5,
    }
}

/// What [`snapshot`] and [`ike`] render to, checked by hand: label escaping (the odd
/// tunnel name), replay/auth-failed always present, lifetimes only where the SA has them,
/// KiB turned into bytes, Mbit/s into bytes per second, tunnel up only with both directions.
const GOLDEN: &str = r#"# HELP ferrogate_info Always 1; labels: the appliance instance (EAL file prefix) and the software version.
# TYPE ferrogate_info gauge
ferrogate_info{appliance="fg-test",version="{VERSION}"} 1
# HELP ferrogate_uptime_seconds Seconds since the appliance started forwarding.
# TYPE ferrogate_uptime_seconds gauge
ferrogate_uptime_seconds 12.5
# HELP ferrogate_interface_info Always 1; labels: the interface's role, DPDK port, device, driver and MAC address.
# TYPE ferrogate_interface_info gauge
ferrogate_interface_info{interface="inside",role="inside",port="0",device="net_pcap0,rx_pcap=/x.pcap",driver="net_pcap",mac="02:00:00:00:00:01"} 1
# HELP ferrogate_interface_up 1 when the link is up.
# TYPE ferrogate_interface_up gauge
ferrogate_interface_up{interface="inside"} 1
# HELP ferrogate_interface_speed_bytes Link speed in bytes per second; 0 when unknown or down.
# TYPE ferrogate_interface_speed_bytes gauge
ferrogate_interface_speed_bytes{interface="inside"} 1250000000
# HELP ferrogate_interface_mtu_bytes The IP MTU.
# TYPE ferrogate_interface_mtu_bytes gauge
ferrogate_interface_mtu_bytes{interface="inside"} 1500
# HELP ferrogate_interface_receive_packets_total Packets received.
# TYPE ferrogate_interface_receive_packets_total counter
ferrogate_interface_receive_packets_total{interface="inside"} 101
# HELP ferrogate_interface_receive_bytes_total Bytes received.
# TYPE ferrogate_interface_receive_bytes_total counter
ferrogate_interface_receive_bytes_total{interface="inside"} 6402
# HELP ferrogate_interface_transmit_packets_total Packets sent.
# TYPE ferrogate_interface_transmit_packets_total counter
ferrogate_interface_transmit_packets_total{interface="inside"} 93
# HELP ferrogate_interface_transmit_bytes_total Bytes sent.
# TYPE ferrogate_interface_transmit_bytes_total counter
ferrogate_interface_transmit_bytes_total{interface="inside"} 5764
# HELP ferrogate_interface_receive_errors_total Erroneous packets received.
# TYPE ferrogate_interface_receive_errors_total counter
ferrogate_interface_receive_errors_total{interface="inside"} 6
# HELP ferrogate_interface_transmit_errors_total Failed transmissions.
# TYPE ferrogate_interface_transmit_errors_total counter
ferrogate_interface_transmit_errors_total{interface="inside"} 7
# HELP ferrogate_interface_receive_missed_total Packets the NIC dropped because its receive queues were full.
# TYPE ferrogate_interface_receive_missed_total counter
ferrogate_interface_receive_missed_total{interface="inside"} 5
# HELP ferrogate_interface_receive_nombuf_total Receive buffer (mbuf) allocation failures.
# TYPE ferrogate_interface_receive_nombuf_total counter
ferrogate_interface_receive_nombuf_total{interface="inside"} 8
# HELP ferrogate_worker_info Always 1; labels: the EAL lcore each forwarding worker runs on.
# TYPE ferrogate_worker_info gauge
ferrogate_worker_info{worker="0",lcore="1"} 1
# HELP ferrogate_worker_packets_total Packets each forwarding worker counted, by counter (rx, tx, punts, drop_*, ...).
# TYPE ferrogate_worker_packets_total counter
ferrogate_worker_packets_total{worker="0",counter="drop_no_route"} 2
ferrogate_worker_packets_total{worker="0",counter="rx"} 7
# HELP ferrogate_dataplane_drops_total Packets the dataplane dropped that no single SA accounts for, by reason.
# TYPE ferrogate_dataplane_drops_total counter
ferrogate_dataplane_drops_total{reason="no-sa"} 9
# HELP ferrogate_ipsec_sa_info Always 1; labels: each ESP SA's interface, transform, mode, encapsulation and endpoints.
# TYPE ferrogate_ipsec_sa_info gauge
ferrogate_ipsec_sa_info{tunnel="site-b",spi="0x00001001",direction="outbound",interface="outside",transform="esp-aes-gcm-128",mode="tunnel",encap="esp",local="192.0.2.1",remote="192.0.2.2",esn="false"} 1
ferrogate_ipsec_sa_info{tunnel="site-b",spi="0x00001002",direction="inbound",interface="outside",transform="esp-aes-gcm-128",mode="tunnel",encap="esp",local="192.0.2.1",remote="192.0.2.2",esn="false"} 1
ferrogate_ipsec_sa_info{tunnel="odd \"quoted\"\\name\nx",spi="0xdeadbeef",direction="outbound",interface="outside",transform="esp-aes-gcm-128",mode="tunnel",encap="esp",local="192.0.2.1",remote="192.0.2.2",esn="true"} 1
# HELP ferrogate_ipsec_sa_packets_total Packets the SA encapsulated, or decapsulated and verified.
# TYPE ferrogate_ipsec_sa_packets_total counter
ferrogate_ipsec_sa_packets_total{tunnel="site-b",spi="0x00001001",direction="outbound"} 1
ferrogate_ipsec_sa_packets_total{tunnel="site-b",spi="0x00001002",direction="inbound"} 2
ferrogate_ipsec_sa_packets_total{tunnel="odd \"quoted\"\\name\nx",spi="0xdeadbeef",direction="outbound"} 239
# HELP ferrogate_ipsec_sa_bytes_total Bytes of the packets the SA encapsulated, or decapsulated and verified.
# TYPE ferrogate_ipsec_sa_bytes_total counter
ferrogate_ipsec_sa_bytes_total{tunnel="site-b",spi="0x00001001",direction="outbound"} 100
ferrogate_ipsec_sa_bytes_total{tunnel="site-b",spi="0x00001002",direction="inbound"} 200
ferrogate_ipsec_sa_bytes_total{tunnel="odd \"quoted\"\\name\nx",spi="0xdeadbeef",direction="outbound"} 23900
# HELP ferrogate_ipsec_sa_sequence_number Outbound: the last sequence number used; inbound: the highest authenticated one.
# TYPE ferrogate_ipsec_sa_sequence_number gauge
ferrogate_ipsec_sa_sequence_number{tunnel="site-b",spi="0x00001001",direction="outbound"} 2
ferrogate_ipsec_sa_sequence_number{tunnel="site-b",spi="0x00001002",direction="inbound"} 3
ferrogate_ipsec_sa_sequence_number{tunnel="odd \"quoted\"\\name\nx",spi="0xdeadbeef",direction="outbound"} 240
# HELP ferrogate_ipsec_sa_replay_window_packets The anti-replay window; 0 when replay detection is off.
# TYPE ferrogate_ipsec_sa_replay_window_packets gauge
ferrogate_ipsec_sa_replay_window_packets{tunnel="site-b",spi="0x00001001",direction="outbound"} 0
ferrogate_ipsec_sa_replay_window_packets{tunnel="site-b",spi="0x00001002",direction="inbound"} 64
ferrogate_ipsec_sa_replay_window_packets{tunnel="odd \"quoted\"\\name\nx",spi="0xdeadbeef",direction="outbound"} 0
# HELP ferrogate_ipsec_sa_drops_total Packets dropped on the SA, by reason (replay and auth-failed always present).
# TYPE ferrogate_ipsec_sa_drops_total counter
ferrogate_ipsec_sa_drops_total{tunnel="site-b",spi="0x00001001",direction="outbound",reason="replay"} 0
ferrogate_ipsec_sa_drops_total{tunnel="site-b",spi="0x00001001",direction="outbound",reason="auth-failed"} 0
ferrogate_ipsec_sa_drops_total{tunnel="site-b",spi="0x00001002",direction="inbound",reason="replay"} 5
ferrogate_ipsec_sa_drops_total{tunnel="site-b",spi="0x00001002",direction="inbound",reason="auth-failed"} 0
ferrogate_ipsec_sa_drops_total{tunnel="site-b",spi="0x00001002",direction="inbound",reason="bad-padding"} 1
ferrogate_ipsec_sa_drops_total{tunnel="odd \"quoted\"\\name\nx",spi="0xdeadbeef",direction="outbound",reason="replay"} 0
ferrogate_ipsec_sa_drops_total{tunnel="odd \"quoted\"\\name\nx",spi="0xdeadbeef",direction="outbound",reason="auth-failed"} 0
# HELP ferrogate_ipsec_sa_lifetime_remaining_seconds Seconds until the SA's hard time lifetime (only SAs that have one).
# TYPE ferrogate_ipsec_sa_lifetime_remaining_seconds gauge
ferrogate_ipsec_sa_lifetime_remaining_seconds{tunnel="site-b",spi="0x00001002",direction="inbound"} 3000
# HELP ferrogate_ipsec_sa_lifetime_remaining_bytes Bytes until the SA's hard volume lifetime, in whole KiB (only SAs that have one).
# TYPE ferrogate_ipsec_sa_lifetime_remaining_bytes gauge
ferrogate_ipsec_sa_lifetime_remaining_bytes{tunnel="site-b",spi="0x00001002",direction="inbound"} 2048
# HELP ferrogate_ipsec_tunnel_up 1 when the tunnel has at least one inbound and one outbound SA.
# TYPE ferrogate_ipsec_tunnel_up gauge
ferrogate_ipsec_tunnel_up{tunnel="odd \"quoted\"\\name\nx"} 0
ferrogate_ipsec_tunnel_up{tunnel="site-b"} 1
# HELP ferrogate_ipsec_tunnel_sas ESP SAs installed per tunnel.
# TYPE ferrogate_ipsec_tunnel_sas gauge
ferrogate_ipsec_tunnel_sas{tunnel="odd \"quoted\"\\name\nx",direction="inbound"} 0
ferrogate_ipsec_tunnel_sas{tunnel="odd \"quoted\"\\name\nx",direction="outbound"} 1
ferrogate_ipsec_tunnel_sas{tunnel="site-b",direction="inbound"} 1
ferrogate_ipsec_tunnel_sas{tunnel="site-b",direction="outbound"} 1
# HELP ferrogate_ike_exchanges_total IKE exchanges by exchange type and outcome; failures carry their cause.
# TYPE ferrogate_ike_exchanges_total counter
ferrogate_ike_exchanges_total{exchange="ike_sa_init",outcome="ok"} 4
ferrogate_ike_exchanges_total{exchange="ike_sa_init",outcome="failed",cause="no_proposal_chosen"} 2
ferrogate_ike_exchanges_total{exchange="ike_auth",outcome="ok"} 3
ferrogate_ike_exchanges_total{exchange="ike_auth",outcome="failed",cause="authentication_failed"} 1
ferrogate_ike_exchanges_total{exchange="create_child_sa",outcome="rekeyed"} 6
ferrogate_ike_exchanges_total{exchange="informational",outcome="dpd_timeout"} 1
# HELP ferrogate_ike_duplicates_total Duplicate SAs (crossing initiations, a second tunnel for the same peer and selectors) found and reduced to one, by kind.
# TYPE ferrogate_ike_duplicates_total counter
ferrogate_ike_duplicates_total{sa="ike"} 2
ferrogate_ike_duplicates_total{sa="child"} 5
"#;

#[test]
fn a_hand_built_snapshot_renders_line_by_line() {
    let text = render(&Scrape { snapshot: snapshot(), ike: Some(ike()), failover: None });
    let golden = GOLDEN.replace("{VERSION}", env!("CARGO_PKG_VERSION"));
    let (got, want): (Vec<&str>, Vec<&str>) = (text.lines().collect(), golden.lines().collect());
    for (n, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "line {}", n + 1);
    }
    assert_eq!(got.len(), want.len(), "{text}");
    assert!(text.ends_with('\n'));
    check_text_format(&text);
}

#[test]
fn without_ike_there_is_no_ike_family() {
    let text = render(&Scrape { snapshot: snapshot(), ike: None, failover: None });
    assert!(!text.contains("ferrogate_ike"), "{text}");
    assert!(GOLDEN.replace("{VERSION}", env!("CARGO_PKG_VERSION")).starts_with(&text));
    check_text_format(&text);
}

#[test]
fn per_sa_series_can_be_left_out() {
    let scrape = Scrape { snapshot: snapshot(), ike: None, failover: None };
    let mut e = Exposition::new();
    render_into(&mut e, &scrape, Options { per_sa: false });
    let text = e.into_string();
    assert!(!text.contains("ferrogate_ipsec_sa_"), "{text}");
    assert!(text.contains("\nferrogate_ipsec_tunnel_up{tunnel=\"site-b\"} 1\n"), "{text}");
    // Exactly the per-SA families are missing.
    let full = render(&scrape);
    let kept: Vec<&str> = full.lines().filter(|l| !l.contains("ferrogate_ipsec_sa_")).collect();
    assert_eq!(text.lines().collect::<Vec<_>>(), kept);
    check_text_format(&text);
}

#[test]
fn an_empty_appliance_renders_valid_text() {
    let empty = Snapshot {
        instance: String::new(),
        uptime_s: 0.0,
        interfaces: vec![],
        workers: vec![],
        sas: vec![],
        drops: BTreeMap::new(),
    };
    let text =
        render(&Scrape { snapshot: empty, ike: Some(IkeCounters::default()), failover: None });
    assert_eq!(check_text_format(&text), 2 + 4 + 2, "{text}");
}

/// Checks `text` against the text format 0.0.4 and returns the number of samples: every
/// line is a `# HELP`/`# TYPE` line or `name{label="value",...} value`; each family's TYPE
/// comes before its samples, which are contiguous; counters end in `_total` and are not
/// negative; no series appears twice.
fn check_text_format(text: &str) -> usize {
    assert!(text.is_empty() || text.ends_with('\n'), "no final line feed");
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helps = BTreeSet::new();
    let mut finished = BTreeSet::new();
    let mut current: Option<String> = None;
    let mut series = BTreeSet::new();
    let mut samples = 0;
    for (n, line) in text.lines().enumerate() {
        let at = |what: &str| format!("line {}: {what}: {line:?}", n + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(valid_name(name), "{}", at("bad name"));
            assert!(helps.insert(name.to_owned()), "{}", at("second HELP"));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let (name, kind) = (parts.next().unwrap(), parts.next().unwrap_or(""));
            assert!(parts.next().is_none(), "{}", at("junk after TYPE"));
            assert!(valid_name(name), "{}", at("bad name"));
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{}",
                at("bad type")
            );
            assert!(
                types.insert(name.to_owned(), kind.to_owned()).is_none(),
                "{}",
                at("second TYPE")
            );
            assert!(!finished.contains(name), "{}", at("TYPE after samples"));
            continue;
        }
        assert!(!line.starts_with('#') || line.starts_with("# "), "{}", at("bad comment"));
        if line.starts_with('#') {
            continue;
        }
        let (name, labels, value) = parse_sample(line).unwrap_or_else(|e| panic!("{}", at(&e)));
        let kind = types.get(&name).unwrap_or_else(|| panic!("{}", at("sample without TYPE")));
        if kind == "counter" {
            assert!(name.ends_with("_total"), "{}", at("counter not named _total"));
            assert!(value >= 0.0, "{}", at("negative counter"));
        }
        if current.as_deref() != Some(name.as_str()) {
            assert!(!finished.contains(&name), "{}", at("family not contiguous"));
            if let Some(c) = current.take() {
                finished.insert(c);
            }
            current = Some(name.clone());
        }
        let mut sorted = labels.clone();
        sorted.sort();
        assert!(sorted.windows(2).all(|w| w[0].0 != w[1].0), "{}", at("label name repeated"));
        assert!(series.insert((name, sorted)), "{}", at("duplicate series"));
        samples += 1;
    }
    samples
}

fn valid_name(name: &str) -> bool {
    let mut c = name.chars();
    c.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

type Labels = Vec<(String, String)>;

/// `name{a="x",b="y"} value` (labels optional), with the format's escapes undone.
fn parse_sample(line: &str) -> Result<(String, Labels, f64), String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !valid_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let eq = rest.find('=').ok_or("label without =")?;
            let lname = &rest[..eq];
            if !valid_name(lname) || lname.contains(':') {
                return Err(format!("bad label name {lname:?}"));
            }
            rest = rest[eq + 1..].strip_prefix('"').ok_or("label value not quoted")?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let end = loop {
                match chars.next().ok_or("unterminated label value")? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        c => return Err(format!("bad escape \\{c}")),
                    },
                    (_, '\n') => return Err("raw line feed in label value".into()),
                    (_, c) => value.push(c),
                }
            };
            labels.push((lname.to_owned(), value));
            rest = &rest[end + 1..];
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            } else if !rest.starts_with('}') {
                return Err("expected , or } after a label".into());
            }
        }
    }
    let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
    if value.contains(' ') {
        return Err("more than one value (timestamps are not written)".into());
    }
    let v = match value {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse::<f64>().map_err(|e| format!("bad value {v:?}: {e}"))?,
    };
    Ok((name.to_owned(), labels, v))
}

#[test]
fn the_format_checker_catches_mistakes() {
    assert!(parse_sample(r#"a{b="c\"d"} 1"#).is_ok());
    assert_eq!(parse_sample(r#"a{b="x\ny"} 2"#).unwrap().1, vec![("b".into(), "x\ny".into())]);
    for bad in [
        "a",
        "a{b=\"c\"}",
        "a{b=c} 1",
        "a{b=\"c} 1",
        "a{b=\"c\" d=\"e\"} 1",
        "a{b=\"\\t\"} 1",
        "a 1 2",
        "a x",
        "9a 1",
        "a{b-c=\"d\"} 1",
    ] {
        assert!(parse_sample(bad).is_err(), "{bad}");
    }
    let twice = "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n";
    assert!(std::panic::catch_unwind(|| check_text_format(twice)).is_err());
    let dup = "# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n";
    assert!(std::panic::catch_unwind(|| check_text_format(dup)).is_err());
    let untyped = "a 1\n";
    assert!(std::panic::catch_unwind(|| check_text_format(untyped)).is_err());
}

// ---- HTTP over loopback TCP ----

/// A server polled by a background thread every millisecond, as the control thread does.
struct Running {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    scrapes: Arc<AtomicUsize>,
    thread: Option<JoinHandle<MetricsServer>>,
}

impl Running {
    fn start(limits: Limits) -> Running {
        let mut server = MetricsServer::bind_with("127.0.0.1:0".parse().unwrap(), limits).unwrap();
        let addr = server.local_addr();
        assert_ne!(addr.port(), 0);
        let stop = Arc::new(AtomicBool::new(false));
        let scrapes = Arc::new(AtomicUsize::new(0));
        let (s, c) = (Arc::clone(&stop), Arc::clone(&scrapes));
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                server.poll(Instant::now(), &mut || {
                    c.fetch_add(1, Ordering::Relaxed);
                    Scrape { snapshot: snapshot(), ike: Some(ike()), failover: None }
                });
                std::thread::sleep(Duration::from_millis(1));
            }
            server
        });
        Running { addr, stop, scrapes, thread: Some(thread) }
    }

    fn stop(mut self) -> MetricsServer {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads a whole response up to the server's close.
fn read_reply(mut s: TcpStream) -> Reply {
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse_reply(&raw)
}

fn parse_reply(raw: &[u8]) -> Reply {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("no end of head") + 4;
    let head = std::str::from_utf8(&raw[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
    let status = status_line[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(": ").unwrap();
            (n.to_owned(), v.to_owned())
        })
        .collect();
    let reply = Reply { status, headers, body: raw[end..].to_vec() };
    assert_eq!(reply.header("Connection"), Some("close"));
    reply
}

fn exchange(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut s = connect(addr);
    s.write_all(request).unwrap();
    read_reply(s)
}

#[test]
fn get_metrics_answers_the_exposition() {
    let r = Running::start(Limits::default());
    let reply = exchange(r.addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("Content-Type"), Some(CONTENT_TYPE));
    assert!(CONTENT_TYPE.starts_with("text/plain; version=0.0.4"));
    assert_eq!(reply.header("Content-Length"), Some(reply.body.len().to_string().as_str()));
    let text = reply.text();
    let rendered = render(&Scrape { snapshot: snapshot(), ike: Some(ike()), failover: None });
    assert!(text.starts_with(&rendered), "{text}");
    // The endpoint's own counters follow; this is its first response.
    assert!(text.contains("\nferrogate_metrics_http_responses_total{code=\"200\"} 0\n"), "{text}");
    assert!(text.ends_with("\nferrogate_metrics_connections_refused_total 0\n"), "{text}");
    check_text_format(text);

    let again = exchange(r.addr, b"GET /metrics?name[]=x HTTP/1.0\n\n");
    assert_eq!(again.status, 200);
    assert!(again.text().contains("ferrogate_metrics_http_responses_total{code=\"200\"} 1\n"));

    let head = exchange(r.addr, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("Content-Type"), Some(CONTENT_TYPE));
    let server = r.stop();
    assert_eq!(server.stats().responses(Status::Ok), 3);
    assert_eq!(server.stats().accepted, 3);
}

#[test]
fn other_paths_methods_and_garbage_get_errors() {
    let r = Running::start(Limits::default());
    let not_found = exchange(r.addr, b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(not_found.status, 404);
    assert_eq!(not_found.text(), "404 Not Found: only /metrics is served\n");

    let post =
        exchange(r.addr, b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(post.status, 405);
    assert_eq!(post.header("Allow"), Some("GET, HEAD"));
    assert_eq!(exchange(r.addr, b"DELETE /x HTTP/1.1\r\n\r\n").status, 405);

    let tls_hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n";
    assert_eq!(exchange(r.addr, tls_hello).status, 400);
    assert_eq!(exchange(r.addr, b"GET /metrics\r\n\r\n").status, 400);
    assert_eq!(exchange(r.addr, b"GET /metrics HTTP/2.0\r\n\r\n").status, 505);

    // A client that gives up half way through its head.
    let mut s = connect(r.addr);
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_reply(s).status, 400);

    // A connection closed without a byte gets no answer and costs nothing.
    drop(connect(r.addr));
    let scrapes = Arc::clone(&r.scrapes);
    let server = r.stop();
    // Error responses never needed a snapshot.
    assert_eq!(scrapes.load(Ordering::Relaxed), 0);
    let st = server.stats();
    assert_eq!(st.responses(Status::NotFound), 1);
    assert_eq!(st.responses(Status::MethodNotAllowed), 2);
    assert_eq!(st.responses(Status::BadRequest), 3);
    assert_eq!(st.responses(Status::VersionNotSupported), 1);
    assert_eq!(st.responses(Status::Ok), 0);
}

#[test]
fn an_oversize_request_gets_431_and_the_connection_closes() {
    let r = Running::start(Limits::default());
    let mut s = connect(r.addr);
    let mut req = b"GET /metrics HTTP/1.1\r\nX-Pad: ".to_vec();
    req.resize(req.len() + 16 * 1024, b'a');
    s.write_all(&req).unwrap();
    let reply = read_reply(s);
    assert_eq!(reply.status, 431);
    assert_eq!(reply.text(), "431 Request Header Fields Too Large\n");

    // Just under the limit is fine.
    let mut ok = b"GET /metrics HTTP/1.1\r\nX-Pad: ".to_vec();
    ok.resize(8 * 1024 - 4, b'a');
    ok.extend_from_slice(b"\r\n\r\n");
    assert_eq!(ok.len(), 8 * 1024);
    assert_eq!(exchange(r.addr, &ok).status, 200);
    assert_eq!(r.scrapes.load(Ordering::Relaxed), 1);
}

#[test]
fn a_slow_client_does_not_hold_up_another() {
    let limits = Limits { read_timeout: Duration::from_millis(1500), ..Limits::default() };
    let r = Running::start(limits);
    let started = Instant::now();
    let mut slow = connect(r.addr);
    slow.write_all(b"GET /metr").unwrap();

    let fast = exchange(r.addr, b"GET /metrics HTTP/1.1\r\n\r\n");
    assert_eq!(fast.status, 200);
    // The slow client has had no answer yet: the fast one did not wait for it.
    slow.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    assert_eq!(slow.read(&mut byte).unwrap_err().kind(), ErrorKind::WouldBlock);
    assert!(started.elapsed() < limits.read_timeout, "{:?}", started.elapsed());
    slow.set_nonblocking(false).unwrap();

    // Its deadline passes: 408, and closed.
    let reply = read_reply(slow);
    assert_eq!(reply.status, 408);
    assert!(started.elapsed() >= limits.read_timeout);
}

#[test]
fn connections_beyond_the_cap_get_503() {
    let limits = Limits { max_connections: 2, ..Limits::default() };
    let r = Running::start(limits);
    let mut idle: Vec<TcpStream> = (0..2).map(|_| connect(r.addr)).collect();
    for s in &mut idle {
        s.write_all(b"GET /").unwrap();
    }
    // Accepted in order: the third finds both places taken.
    let third = read_reply(connect(r.addr));
    assert_eq!(third.status, 503);
    for mut s in idle {
        s.write_all(b"metrics HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(read_reply(s).status, 200);
    }
    // Places are free again.
    assert_eq!(exchange(r.addr, b"GET /metrics HTTP/1.1\r\n\r\n").status, 200);
    let server = r.stop();
    assert_eq!(server.stats().refused, 1);
    assert_eq!(server.stats().responses(Status::ServiceUnavailable), 1);
}

/// Driven by hand: deadlines follow the `now` given to `poll`, clients served in one poll
/// share one rendering, and the server's options shape it.
#[test]
fn polls_by_hand_share_a_rendering_and_use_the_callers_clock() {
    let mut server = MetricsServer::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    server.set_options(Options { per_sa: false });
    let addr = server.local_addr();
    let mut scrapes = 0;
    let mut scrape = || {
        scrapes += 1;
        Scrape { snapshot: snapshot(), ike: None, failover: None }
    };
    let clients: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut s = connect(addr);
            s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
            s
        })
        .collect();
    let mut silent = connect(addr);
    silent.write_all(b"GET").unwrap();
    // Loopback delivers at once; the pause only makes that certain.
    std::thread::sleep(Duration::from_millis(50));
    let t0 = Instant::now();
    assert_eq!(server.poll(t0, &mut scrape), 3);
    assert_eq!(server.pending(), 4);
    assert_eq!(server.poll(t0 + Duration::from_secs(1), &mut scrape), 0);
    // Past the read deadline of the default limits, by the caller's clock alone.
    assert_eq!(server.poll(t0 + Duration::from_secs(6), &mut scrape), 1);
    assert_eq!(scrapes, 1);
    let bodies: Vec<Vec<u8>> = clients.into_iter().map(|s| read_reply(s).body).collect();
    assert!(bodies.iter().all(|b| *b == bodies[0] && !b.is_empty()));
    let text = std::str::from_utf8(&bodies[0]).unwrap();
    assert!(text.contains("ferrogate_ipsec_tunnel_up") && !text.contains("ferrogate_ipsec_sa_"));
    assert_eq!(read_reply(silent).status, 408);
    // Every connection is closed once its client has read and closed, or its linger ends.
    let mut scrape = || Scrape { snapshot: snapshot(), ike: None, failover: None };
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.pending() > 0 && Instant::now() < deadline {
        server.poll(Instant::now() + Duration::from_secs(20), &mut scrape);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(server.pending(), 0);
}

/// With `[ha]`, the unit's role and state, the mate, the copy and the link's messages.
#[test]
fn failover_families_follow_the_unit() {
    let status = ferrogate::operator::failover::FailoverSnap {
        role: "secondary".into(),
        state: "active".into(),
        synced: false,
        mate_up: false,
        mate_state: None,
        local: "198.18.0.2".into(),
        peer: "198.18.0.1".into(),
        hello_ms: 200,
        hold_ms: 1000,
        ike_sas: 3,
        child_sas: 5,
        takeovers: 1,
        last_change: Some("active (mate silent for the hold time)".into()),
        last_change_age_s: Some(4),
        messages_sent: 40,
        messages_received: 31,
        messages_refused: 2,
        records: 12,
        installed_ike_sas: 3,
        installed_child_sas: 5,
        install_failed: 0,
        ike_dropped_not_active: 0,
    };
    let text = render(&Scrape { snapshot: snapshot(), ike: None, failover: Some(status) });
    for line in [
        "ferrogate_failover_info{role=\"secondary\",state=\"active\"} 1",
        "ferrogate_failover_active 1",
        "ferrogate_failover_mate_up 0",
        "ferrogate_failover_synced 0",
        "ferrogate_failover_ike_sas 3",
        "ferrogate_failover_child_sas 5",
        "ferrogate_failover_takeovers_total 1",
        "ferrogate_failover_messages_total{outcome=\"refused\"} 2",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }
    check_text_format(&text);
    let without = render(&Scrape { snapshot: snapshot(), ike: None, failover: None });
    assert!(!without.contains("ferrogate_failover"), "{without}");
}

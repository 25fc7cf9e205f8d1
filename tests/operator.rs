//! The operator socket end to end: a server polled by a background thread of the test (as
//! the appliance's control thread would), the real `ferrogate show ...` binary as client,
//! and the server's robustness against absent, stale, silent, slow and hostile clients.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferrogate::operator::server::{MAX_REQUEST_BYTES, READ_DEADLINE, WRITE_DEADLINE};
use ferrogate::operator::{
    Direction, InterfaceSnap, OperatorServer, Request, Response, SaSnap, Snapshot, WorkerSnap,
    render, request,
};

/// A socket path in a fresh directory for one test (temp dir + pid + test name), removed
/// with the directory when dropped.
struct Sock {
    path: PathBuf,
}

impl std::ops::Deref for Sock {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for Sock {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl Drop for Sock {
    fn drop(&mut self) {
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn sock_path(test: &str) -> Sock {
    let dir = std::env::temp_dir().join(format!("fg-op-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Sock { path: dir.join("op.sock") }
}

fn sa(direction: Direction, spi: u32, packets: u64) -> SaSnap {
    SaSnap {
        tunnel: "site-b".into(),
        interface: "outside".into(),
        direction,
        spi,
        transform: "esp-aes-gcm-256 esp-null-hmac".into(),
        mode: "tunnel".into(),
        local: "192.0.2.1".into(),
        remote: "198.51.100.2".into(),
        encap: "esp".into(),
        esn: true,
        replay_window: 4096,
        local_ident: Some("10.1.0.0/16".into()),
        remote_ident: Some("10.2.0.0/16".into()),
        packets,
        bytes: packets * 1420,
        seq: packets,
        drops: BTreeMap::new(),
        lifetime_remaining_s: Some(3600),
        lifetime_remaining_kb: None,
        path_mtu: 1500,
    }
}

fn interface(name: &str, port: u16) -> InterfaceSnap {
    InterfaceSnap {
        name: name.into(),
        role: name.into(),
        port,
        device: format!("net_null{port}"),
        driver: "net_null".into(),
        mac: format!("02:00:00:00:00:0{port}"),
        vlan: None,
        addresses: vec![format!("192.0.{}.1/24", 2 + port)],
        mtu: 1500,
        link_up: true,
        speed_mbps: 10_000,
        rx_packets: 1000 + u64::from(port),
        rx_bytes: 64_000,
        tx_packets: 999,
        tx_bytes: 63_936,
        rx_missed: 0,
        rx_errors: 0,
        tx_errors: 0,
        rx_nombuf: 0,
    }
}

fn snapshot() -> Snapshot {
    let mut inbound = sa(Direction::Inbound, 0x1000_0001, 990);
    inbound.drops = BTreeMap::from([("replay".into(), 7), ("auth-failed".into(), 3)]);
    Snapshot {
        instance: "fg-test".into(),
        uptime_s: 12.25,
        interfaces: vec![interface("inside", 0), interface("outside", 1)],
        workers: vec![WorkerSnap {
            worker: 0,
            lcore: 1,
            counters: BTreeMap::from([("rx".into(), 2001), ("tx".into(), 1998)]),
        }],
        sas: vec![inbound, sa(Direction::Outbound, 0x2000_0002, 1000)],
        drops: BTreeMap::from([("no-sa".into(), 4)]),
    }
}

/// A server polled every 2 ms by a background thread until dropped.
struct Served {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<OperatorServer>>,
}

impl Served {
    fn start(path: &Path, answer: Response) -> Served {
        let mut server = OperatorServer::bind(path).expect("bind");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                server.poll(&mut |req| match req {
                    Request::Ping => Response::Pong,
                    // ClearCounters never reaches the handler: the server serves it.
                    _ => answer.clone(),
                });
                std::thread::sleep(Duration::from_millis(2));
            }
            server
        });
        Served { stop, thread: Some(thread) }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn ferrogate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrogate"))
        .args(args)
        .env("FERROGATE_LOG", "warn")
        .output()
        .expect("run ferrogate")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

fn ping(path: &Path) -> Response {
    request(path, &Request::Ping, Duration::from_secs(2)).expect("ping")
}

/// Polls `server` until `done` or 2 s have passed; returns the longest single poll.
fn poll_until(
    server: &mut OperatorServer,
    mut done: impl FnMut(&OperatorServer) -> bool,
) -> Duration {
    let start = Instant::now();
    let mut longest = Duration::ZERO;
    while !done(server) {
        assert!(start.elapsed() < Duration::from_secs(5), "gave up waiting: {server:?}");
        let t = Instant::now();
        server.poll(&mut |_| Response::Pong);
        longest = longest.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(2));
    }
    longest
}

#[test]
fn show_interface_prints_the_served_snapshot() {
    let path = sock_path("show-interface");
    let snap = snapshot();
    let _server = Served::start(&path, Response::Ok(snap.clone()));
    let text = stdout(&ferrogate(&["show", "interface", "--socket", path.to_str().unwrap()]));
    assert_eq!(text, render::interfaces(&snap));
    assert!(text.contains("Interface outside \"outside\", link is up\n"), "{text}");
    assert!(text.contains("\t1001 packets input, 64000 bytes, 0 no buffer\n"), "{text}");
    assert!(
        text.lines().any(|l| l.split_whitespace().eq(["rx", "2001", "2001"])),
        "no total row for rx in\n{text}"
    );
}

#[test]
fn show_crypto_ipsec_sa_prints_asa_style_blocks() {
    let path = sock_path("show-sa");
    let snap = snapshot();
    let _server = Served::start(&path, Response::Ok(snap.clone()));
    let p = path.to_str().unwrap();
    let text = stdout(&ferrogate(&["show", "crypto", "ipsec", "sa", "--socket", p]));
    assert_eq!(text, render::ipsec_sa(&snap, false));
    for line in [
        "interface: outside",
        "    Crypto map tag: site-b, local addr: 192.0.2.1",
        "      #pkts encaps: 1000, #pkts encrypt: 1000, #pkts digest: 1000",
        "      #pkts decaps: 990, #pkts decrypt: 990, #pkts verify: 990",
        "      #pkts verify failed: 3, #pkts replay failed (rcv): 7",
        "      local crypto endpt.: 192.0.2.1/0, remote crypto endpt.: 198.51.100.2/0",
        "      current outbound spi: 0x20000002",
        "      current inbound spi : 0x10000001",
        "         in use settings ={L2L, Tunnel, ESN, }",
        "         sa timing: remaining key lifetime (sec): 3600",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    let detail = stdout(&ferrogate(&["show", "crypto", "ipsec", "sa", "detail", "--socket", p]));
    assert_eq!(detail, render::ipsec_sa(&snap, true));
    assert!(detail.contains("\n           replay: 7\n"), "{detail}");
    // `peer ADDR` keeps that peer's SAs (ASA syntax, with or without `detail`).
    let peer = stdout(&ferrogate(&[
        "show",
        "crypto",
        "ipsec",
        "sa",
        "peer",
        "198.51.100.2",
        "detail",
        "--socket",
        p,
    ]));
    assert_eq!(peer, detail, "every SA of the snapshot is this peer's");
    let other = stdout(&ferrogate(&[
        "show",
        "crypto",
        "ipsec",
        "sa",
        "peer",
        "203.0.113.9",
        "--socket",
        p,
    ]));
    assert_eq!(other, "There are no ipsec sas\n");
    let bad = ferrogate(&["show", "crypto", "ipsec", "sa", "peer", "nowhere", "--socket", p]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("peer \"nowhere\": not an IP address"));
}

#[test]
fn json_output_parses_back_to_the_snapshot() {
    let path = sock_path("json");
    let snap = snapshot();
    let _server = Served::start(&path, Response::Ok(snap.clone()));
    let p = path.to_str().unwrap();
    let sas: Vec<SaSnap> = serde_json::from_str(&stdout(&ferrogate(&[
        "show", "crypto", "ipsec", "sa", "--json", "--socket", p,
    ])))
    .expect("SA JSON");
    assert_eq!(sas, snap.sas);
    let ifs: Vec<InterfaceSnap> =
        serde_json::from_str(&stdout(&ferrogate(&["show", "interface", "--json", "--socket", p])))
            .expect("interface JSON");
    assert_eq!(ifs, snap.interfaces);
    let counters: serde_json::Value =
        serde_json::from_str(&stdout(&ferrogate(&["show", "counters", "--json", "--socket", p])))
            .expect("counters JSON");
    assert_eq!(counters["instance"], "fg-test");
    assert_eq!(counters["drops"]["no-sa"], 4);
    assert_eq!(
        serde_json::from_value::<Vec<WorkerSnap>>(counters["workers"].clone()).unwrap(),
        snap.workers
    );
}

#[test]
fn show_counters_prints_workers_and_global_drops() {
    let path = sock_path("counters");
    let snap = snapshot();
    let _server = Served::start(&path, Response::Ok(snap.clone()));
    let text = stdout(&ferrogate(&["show", "counters", "--socket", path.to_str().unwrap()]));
    assert_eq!(text, render::counters(&snap));
    assert!(text.starts_with("Instance fg-test, uptime 00:00:12\n"), "{text}");
    let drops = text.split_once("\nGlobal drops:\n").expect("drops section").1;
    assert!(drops.lines().next().unwrap().split_whitespace().eq(["no-sa", "4"]), "{text}");
}

#[test]
fn no_server_exits_1_with_a_clear_message() {
    let path = sock_path("absent");
    let expected = format!(
        "ferrogate show: no ferrogate running with socket {} (is `ferrogate run` started? use \
         --socket or --instance)\n",
        path.display()
    );
    let out = ferrogate(&["show", "interface", "--socket", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(String::from_utf8_lossy(&out.stderr), expected);

    // A socket file nobody listens on (a crashed appliance) reads the same.
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    drop(UnixListener::bind(&path).unwrap());
    let out = ferrogate(&["show", "crypto", "ipsec", "sa", "--socket", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr), expected);
}

#[test]
fn an_error_answer_exits_1_with_the_servers_message() {
    let path = sock_path("error-answer");
    let _server = Served::start(&path, Response::error("snapshot not ready"));
    let out = ferrogate(&["show", "counters", "--socket", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "ferrogate show: ferrogate on {} refused the request: snapshot not ready\n",
            path.display()
        )
    );
}

#[test]
fn bind_creates_a_private_socket_and_drop_removes_it() {
    let path = sock_path("bind-mode");
    let server = OperatorServer::bind(&path).unwrap();
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let dir_mode = std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode();
    assert_eq!(dir_mode & 0o777, 0o755);
    // No temporary bind file is left next to it.
    assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
    drop(server);
    assert!(!path.exists());
}

#[test]
fn a_second_bind_on_a_live_socket_fails_and_the_first_keeps_serving() {
    let path = sock_path("live");
    let _first = Served::start(&path, Response::Pong);
    let err = OperatorServer::bind(&path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse);
    assert!(err.to_string().contains("another process already serves"), "{err}");
    assert_eq!(ping(&path), Response::Pong);
}

#[test]
fn a_stale_socket_is_replaced_but_a_regular_file_is_not() {
    let path = sock_path("stale");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    {
        let _server = Served::start(&path, Response::Pong);
        assert_eq!(ping(&path), Response::Pong);
    }
    assert!(!path.exists());

    std::fs::write(&path, b"precious").unwrap();
    let err = OperatorServer::bind(&path).unwrap_err();
    assert!(err.to_string().contains("is not a socket"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

#[test]
fn drop_leaves_a_successors_socket_alone() {
    let path = sock_path("successor");
    let first = OperatorServer::bind(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let _second = Served::start(&path, Response::Pong);
    drop(first);
    assert_eq!(ping(&path), Response::Pong);
}

#[test]
fn a_silent_client_never_blocks_poll_and_is_dropped_after_the_deadline() {
    let path = sock_path("silent");
    let mut server = OperatorServer::bind(&path).unwrap();
    let mut silent = UnixStream::connect(&path).unwrap();
    let t = Instant::now();
    let n = server.poll(&mut |_| Response::Pong);
    assert!(t.elapsed() < Duration::from_millis(300), "poll took {:?}", t.elapsed());
    assert_eq!((n, server.pending()), (0, 1));

    // Meanwhile a well-behaved client is served.
    let mut good = UnixStream::connect(&path).unwrap();
    good.write_all(b"{\"request\":\"ping\"}\n").unwrap();
    let longest = poll_until(&mut server, |s| s.stats().answered == 1 && s.pending() == 1);
    assert!(longest < Duration::from_millis(300), "a poll took {longest:?}");
    let mut line = String::new();
    BufReader::new(&mut good).read_line(&mut line).unwrap();
    assert_eq!(line, "{\"response\":\"pong\"}\n");

    std::thread::sleep(READ_DEADLINE);
    let longest = poll_until(&mut server, |s| s.pending() == 0);
    assert!(longest < Duration::from_millis(300), "a poll took {longest:?}");
    assert_eq!(server.stats().timed_out, 1);
    silent.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut rest = String::new();
    silent.read_to_string(&mut rest).unwrap();
    assert_eq!(
        rest,
        "{\"response\":\"error\",\"message\":\"no complete request line within 200 ms\"}\n"
    );
}

/// Sends `bytes`, then reads the one response line while the test thread polls.
fn exchange(server: &mut OperatorServer, path: &Path, bytes: Vec<u8>) -> Response {
    let path = path.to_path_buf();
    let client = std::thread::spawn(move || {
        let mut s = UnixStream::connect(&path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(&bytes).unwrap();
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).unwrap();
        line
    });
    let before = server.stats();
    poll_until(server, |s| s.stats() != before && s.pending() == 0);
    let line = client.join().unwrap();
    assert!(line.ends_with('\n'), "{line:?}");
    serde_json::from_str(&line).unwrap()
}

#[test]
fn garbage_and_oversize_requests_get_errors() {
    let path = sock_path("garbage");
    let mut server = OperatorServer::bind(&path).unwrap();
    let Response::Error { message } = exchange(&mut server, &path, b"show everything\n".to_vec())
    else {
        panic!("garbage answered")
    };
    assert!(message.starts_with("bad request: "), "{message}");
    let Response::Error { message } =
        exchange(&mut server, &path, b"{\"request\":\"format-disk\"}\n".to_vec())
    else {
        panic!("unknown request answered")
    };
    assert!(message.contains("unknown variant `format-disk`"), "{message}");
    let Response::Error { message } =
        exchange(&mut server, &path, vec![b' '; MAX_REQUEST_BYTES + 100])
    else {
        panic!("oversize answered")
    };
    assert_eq!(message, "request longer than 65536 bytes");
    assert_eq!(server.stats().bad_requests, 3);
    assert_eq!(server.stats().answered, 0);
    // A request without its newline, ended by a half-close, is still served.
    let path2 = path.to_path_buf();
    let half = std::thread::spawn(move || {
        let mut s = UnixStream::connect(&path2).unwrap();
        s.write_all(b"{\"request\":\"ping\"}").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    });
    poll_until(&mut server, |s| s.stats().answered == 1 && s.pending() == 0);
    assert_eq!(half.join().unwrap(), "{\"response\":\"pong\"}\n");
}

#[test]
fn a_client_that_does_not_read_a_large_answer_is_dropped_without_blocking() {
    let path = sock_path("slow-reader");
    let mut server = OperatorServer::bind(&path).unwrap();
    let mut big = snapshot();
    big.sas = (0..2_000).map(|i| sa(Direction::Outbound, i, u64::from(i))).collect();
    let mut lazy = UnixStream::connect(&path).unwrap();
    lazy.write_all(b"{\"request\":\"snapshot\"}\n").unwrap();
    let start = Instant::now();
    let mut longest = Duration::ZERO;
    while server.stats().timed_out == 0 {
        assert!(start.elapsed() < WRITE_DEADLINE * 3, "never dropped: {server:?}");
        let t = Instant::now();
        server.poll(&mut |_| Response::Ok(big.clone()));
        longest = longest.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(start.elapsed() >= WRITE_DEADLINE);
    assert!(longest < Duration::from_millis(300), "a poll took {longest:?}");
    assert_eq!((server.stats().answered, server.pending()), (1, 0));
}

#[test]
fn the_library_client_explains_failures() {
    let path = sock_path("client");
    let err = request(&path, &Request::Ping, Duration::from_millis(200)).unwrap_err();
    assert!(err.to_string().starts_with("no ferrogate running with socket "), "{err}");

    // A listener that accepts but never answers: the client gives up at its timeout.
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let _mute = UnixListener::bind(&path).unwrap();
    let t = Instant::now();
    let err = request(&path, &Request::Snapshot, Duration::from_millis(200)).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(
        err.to_string(),
        format!("ferrogate on {} did not answer within 200 ms", path.display())
    );
}

#[test]
fn clear_counters_zeroes_what_show_prints_but_not_the_dataplane() {
    let path = sock_path("clear");
    let snap = snapshot();
    let _server = Served::start(&path, Response::Ok(snap.clone()));
    let p = path.to_str().unwrap();
    let out = ferrogate(&["clear", "crypto", "ipsec", "sa", "counters", "--socket", p]);
    assert_eq!(stdout(&out), "IPsec SA counters cleared\n");
    let sas: Vec<SaSnap> = serde_json::from_str(&stdout(&ferrogate(&[
        "show", "crypto", "ipsec", "sa", "--json", "--socket", p,
    ])))
    .unwrap();
    for (after, before) in sas.iter().zip(&snap.sas) {
        assert_eq!((after.packets, after.bytes), (0, 0));
        assert!(after.drops.is_empty());
        assert_eq!(after.seq, before.seq, "sequence numbers are state, not counters");
    }
    let text = stdout(&ferrogate(&["show", "crypto", "ipsec", "sa", "--socket", p]));
    assert!(
        text.contains("\n      #pkts encaps: 0, #pkts encrypt: 0, #pkts digest: 0\n"),
        "{text}"
    );
    // Interfaces were not in scope.
    let ifs: Vec<InterfaceSnap> =
        serde_json::from_str(&stdout(&ferrogate(&["show", "interface", "--json", "--socket", p])))
            .unwrap();
    assert_eq!(ifs, snap.interfaces);

    assert_eq!(stdout(&ferrogate(&["clear", "counters", "--socket", p])), "Counters cleared\n");
    let ifs: Vec<InterfaceSnap> =
        serde_json::from_str(&stdout(&ferrogate(&["show", "interface", "--json", "--socket", p])))
            .unwrap();
    assert!(ifs.iter().all(|i| i.rx_packets == 0 && i.tx_bytes == 0), "{ifs:?}");
    let text = stdout(&ferrogate(&["show", "counters", "--socket", p]));
    assert!(text.ends_with("\nGlobal drops:\n  none\n"), "{text}");

    let absent = sock_path("clear-absent");
    let out = ferrogate(&["clear", "counters", "--socket", absent.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("ferrogate clear: no ferrogate running"),
        "{out:?}"
    );
}

#[test]
fn clear_needs_a_snapshot_from_the_handler() {
    let path = sock_path("clear-no-snapshot");
    let mut server = OperatorServer::bind(&path).unwrap();
    // poll_until's handler answers everything with Pong: no snapshot to take a baseline of.
    let req = b"{\"request\":\"clear_counters\",\"scope\":\"counters\"}\n".to_vec();
    assert_eq!(
        exchange(&mut server, &path, req),
        Response::error("the appliance answered a snapshot request without a snapshot")
    );
}

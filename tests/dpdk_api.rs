//! The safe DPDK layer on a live EAL (in this test process, `--no-huge`, one EAL per
//! process, hence one test function): mbufs as `PacketBuf`, bursts, rings, mempool
//! accounting, a net_ring port's TX/RX/statistics, and launching closures on lcores.
mod common;

use common::*;
use dataplane::buf::{BufError, PacketBuf};
use ferrogate::dpdk::{
    BURST_MAX, Burst, DpdkError, Eal, Mempool, Port, PortConfig, Ring, current_lcore,
};

const DATA_ROOM: u16 = 2176;
const HEADROOM: usize = 128;

#[test]
fn live_eal_api() {
    let env = TestEnv::new("api");
    // Asked before the EAL pins this thread to one core.
    let two_cpus = has_two_cpus();
    let lcores = if two_cpus { "0-1" } else { "0" };
    let eal = Eal::init([
        "-l",
        lcores,
        "--no-huge",
        "--no-shconf",
        "-m",
        "64",
        "--no-pci",
        "--no-telemetry",
        "--log-level",
        "error",
        "--file-prefix",
        &env.prefix,
        "--vdev",
        "net_ring0",
    ])
    .expect("EAL starts");
    assert!(matches!(Eal::init(["--no-huge"]), Err(DpdkError::AlreadyInitialised)));
    assert_eq!(eal.file_prefix(), Some(env.prefix.as_str()));
    assert!(Eal::version().starts_with("DPDK "), "{}", Eal::version());
    assert_eq!(eal.main_lcore(), 0);
    assert_eq!(current_lcore(), Some(0), "the thread that started the EAL is the main lcore");

    let pool = Mempool::new(&eal, "api_pool", 1023, 0, DATA_ROOM, 0).expect("pool");
    mbuf_is_a_packet_buf(&pool);
    bursts_and_rings_move_ownership(&eal, &pool);
    ring_port_loops_frames_back(&eal, &pool);
    if two_cpus {
        lcore_scope_runs_closures_on_workers(&eal);
    } else {
        eprintln!("lcore launch part skipped: one CPU");
    }
    assert_eq!(pool.in_use(), 0, "every mbuf went back to the pool");
    drop(eal);
    assert_eq!(env.leftovers(), Vec::<std::path::PathBuf>::new());
}

fn mbuf_is_a_packet_buf(pool: &Mempool<'_>) {
    let before = pool.in_use();
    let mut m = pool.alloc().expect("mbuf");
    assert_eq!(pool.in_use(), before + 1);
    assert_eq!(
        (m.headroom(), m.len(), m.tailroom()),
        (HEADROOM, 0, usize::from(DATA_ROOM) - HEADROOM)
    );
    m.append(6).unwrap().copy_from_slice(b"abcdef");
    m.prepend(2).unwrap().copy_from_slice(b"<<");
    m.append(2).unwrap().copy_from_slice(b">>");
    assert_eq!(m.data(), b"<<abcdef>>");
    assert_eq!(m.pkt_len(), 10);
    assert_eq!(m.segments(), 1);
    m.adj(2).unwrap();
    m.trim(2).unwrap();
    assert_eq!(m.data(), b"abcdef");
    m.data_mut()[0] = b'A';
    assert_eq!(m.data(), b"Abcdef");
    assert_eq!(m.headroom(), HEADROOM);

    let room = (m.headroom(), m.tailroom());
    assert_eq!(m.prepend(HEADROOM + 1).unwrap_err(), BufError::NoHeadroom);
    assert_eq!(m.prepend(70_000).unwrap_err(), BufError::NoHeadroom);
    assert_eq!(m.append(m.tailroom() + 1).unwrap_err(), BufError::NoTailroom);
    assert_eq!(m.adj(7).unwrap_err(), BufError::TooShort);
    assert_eq!(m.trim(7).unwrap_err(), BufError::TooShort);
    assert_eq!(m.data(), b"Abcdef", "failed operations change nothing");
    assert_eq!((m.headroom(), m.tailroom()), room);
    drop(m);
    assert_eq!(pool.in_use(), before, "dropping an mbuf frees it");
}

fn filled<'e>(pool: &Mempool<'e>, i: usize) -> ferrogate::dpdk::Mbuf<'e> {
    let mut m = pool.alloc().expect("mbuf");
    let frame = &test_frames(i + 1, 9)[i];
    m.append(frame.len()).unwrap().copy_from_slice(frame);
    m
}

fn bursts_and_rings_move_ownership<'e>(eal: &'e Eal, pool: &Mempool<'e>) {
    let base = pool.in_use();
    let mut b = Burst::new();
    for i in 0..BURST_MAX {
        assert!(b.push(filled(pool, i % 8)).is_ok());
    }
    assert!(b.push(filled(pool, 0)).is_err(), "a full burst gives the mbuf back");
    assert_eq!(pool.in_use(), base + BURST_MAX as u32);

    let ring = Ring::new(eal, "api_ring", 32, 0).expect("ring");
    assert_eq!(ring.enqueue_burst(&mut b), 31, "a ring of 32 slots holds 31");
    assert_eq!(b.len(), BURST_MAX - 31, "what did not fit stays in the burst");
    assert_eq!(ring.count(), 31);
    b.clear();
    assert_eq!(pool.in_use(), base + 31, "clearing frees the rest");

    assert_eq!(ring.dequeue_burst(&mut b), 31);
    for (i, m) in b.as_slice().iter().enumerate() {
        assert_eq!(m.data(), &test_frames(8, 9)[i % 8][..], "ring keeps order and bytes");
    }
    assert_eq!(b.pop().unwrap().data(), &test_frames(8, 9)[30 % 8][..]);
    b.clear();
    for i in 0..5 {
        let _ = b.push(filled(pool, i));
    }
    assert_eq!(ring.enqueue_burst(&mut b), 5);
    drop(ring);
    assert_eq!(pool.in_use(), base, "dropping a ring frees what it held");
}

fn ring_port_loops_frames_back<'e>(eal: &'e Eal, pool: &Mempool<'e>) {
    assert!(matches!(Port::by_name(eal, "net_nothing9"), Err(DpdkError::NoSuchPort(_))));
    let names = Port::all_names(eal);
    assert_eq!(names, vec![(0, "net_ring0".to_owned())]);
    let mut port = Port::by_name(eal, "net_ring0").expect("net_ring0");
    assert_eq!(port.driver().unwrap(), "net_ring");
    let cfg = PortConfig { rx_desc: 128, tx_desc: 128, ..PortConfig::default() };
    port.configure(&cfg, pool).expect("configure");
    let (mut rx, mut tx) = port.start().expect("start");
    assert_eq!((rx.len(), tx.len()), (1, 1));
    assert!(port.link().unwrap().up);
    assert_eq!(port.mac().unwrap().len(), 6);
    port.reset_stats().unwrap();

    let frames = test_frames(20, 7);
    let mut out = Burst::new();
    for (i, f) in frames.iter().enumerate() {
        let mut m = pool.alloc().unwrap();
        m.append(f.len()).unwrap().copy_from_slice(f);
        assert!(out.push(m).is_ok(), "frame {i}");
    }
    assert_eq!(tx[0].tx_burst(&mut out), 20);
    assert!(out.is_empty());
    let mut back = Burst::new();
    let mut got = 0;
    for _ in 0..100 {
        got += rx[0].rx_burst(&mut back, BURST_MAX);
        if got == 20 {
            break;
        }
    }
    assert_eq!(got, 20, "net_ring0 returns what it was sent");
    for (m, f) in back.as_slice().iter().zip(&frames) {
        assert_eq!(m.data(), &f[..]);
    }
    let s = port.stats().unwrap();
    assert_eq!((s.tx_packets, s.rx_packets), (20, 20));
    back.clear();
    drop(port);
}

fn lcore_scope_runs_closures_on_workers(eal: &Eal) {
    assert_eq!(eal.worker_lcores(), vec![1]);
    let seen = std::sync::atomic::AtomicU32::new(u32::MAX);
    let results = eal.scope(|s| {
        s.spawn(1, || {
            seen.store(current_lcore().unwrap_or(999), std::sync::atomic::Ordering::SeqCst);
            7
        })
        .expect("launch on lcore 1");
        s.join()
    });
    assert_eq!(results, vec![(1, 7)]);
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 1, "the closure ran on lcore 1");
    // The expected panic is caught on the lcore; keep its message out of the test log.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let results = eal.scope(|s| {
        s.spawn(1, || panic!("worker panics")).expect("launch");
        s.join()
    });
    std::panic::set_hook(hook);
    assert_eq!(results, vec![(1, -1)], "a panicking closure reports -1 and does not abort");
    assert!(eal.scope(|s| s.spawn(0, || 0)).is_err(), "the main lcore cannot be launched on");
}

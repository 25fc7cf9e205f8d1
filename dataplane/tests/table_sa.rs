//! The SA table with the real runtime SAs and burst functions, and the control ↔ worker
//! queues.

mod esp_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dataplane::esp::{self, Disposition, EspWorker, VecBufAlloc, WorkerStats};
use dataplane::queue::{self, Command, CountersReply, Event, channel};
use dataplane::sa::{
    Direction, DropReason, InboundSa, LimitKind, OutboundSa, SaEvent, SaEventKind,
};
use dataplane::table::{SaRefs, SaTable, TableConfig, TableError};

use esp_support::{V4_LOCAL, V4_REMOTE, buf, config, gcm128, inner_v4};

fn small_table() -> SaTable {
    SaTable::new(TableConfig {
        inbound_capacity: 1024,
        outbound_capacity: 1024,
        foreign_capacity: 64,
        max_workers: 4,
        seed: None,
    })
    .unwrap()
}

/// Host A's outbound SA and host B's inbound SA for `spi` (B's SPI, allocated by B).
fn sa_pair(spi: u32, key_byte: u8) -> (OutboundSa, InboundSa) {
    let t = gcm128();
    let mut o = config(t, Direction::Outbound, V4_LOCAL, V4_REMOTE);
    let mut i = config(t, Direction::Inbound, V4_REMOTE, V4_LOCAL);
    for c in [&mut o, &mut i] {
        c.spi = spi;
        let enc: Vec<u8> = (0..t.enc_key_len()).map(|n| n as u8 ^ key_byte).collect();
        c.keys = dataplane::crypto::SaKeys::new(&enc, &[]);
    }
    (OutboundSa::new(&o).unwrap(), InboundSa::new(&i).unwrap())
}

/// Encapsulates `n` packets through the reader's view of tunnel `idx`.
fn send(
    w: &mut EspWorker,
    reader: &dataplane::table::SaReader,
    refs: &mut SaRefs<OutboundSa>,
    idx: dataplane::table::SaIndex,
    n: usize,
) -> Vec<Vec<u8>> {
    let mut pkts: Vec<_> = (0..n).map(|_| buf(&inner_v4(100))).collect();
    let sa = reader.outbound(idx).expect("tunnel has an SA");
    let sas = refs.fill(std::iter::repeat_n(sa, n));
    let mut extra = Vec::new();
    let d = esp::encap_burst(w, sas, &mut pkts, &mut extra, &mut VecBufAlloc, 0).to_vec();
    assert!(d.iter().all(|d| *d == Disposition::Forward));
    pkts.iter().map(|b| b.to_vec()).collect()
}

/// Decapsulates through the reader's inbound lookup.
fn receive(
    w: &mut EspWorker,
    reader: &dataplane::table::SaReader,
    pkts: &[Vec<u8>],
) -> Vec<Disposition> {
    let mut bufs: Vec<_> = pkts.iter().map(|p| buf(p)).collect();
    esp::decap_burst(w, &mut bufs, |spi| reader.inbound(spi), &mut VecBufAlloc, 0)
        .iter()
        .map(|r| r.disposition)
        .collect()
}

#[test]
fn esp_through_the_table_with_make_before_break_rekey() {
    // Host A sends, host B receives; each has its own table.
    let mut a = small_table();
    let mut b = small_table();
    let mut ra = a.reader(0).unwrap();
    let mut rb = b.reader(0).unwrap();
    let mut wa = EspWorker::new();
    let mut wb = EspWorker::new();
    let mut refs = SaRefs::with_capacity(32);

    let spi1 = b.alloc_spi().unwrap();
    assert!(spi1 >= 256);
    let (o1, i1) = sa_pair(spi1, 1);
    b.install_inbound(i1).unwrap();
    let tunnel = a.install_outbound(o1).unwrap();

    let old = send(&mut wa, &ra, &mut refs, tunnel, 4);
    assert!(receive(&mut wb, &rb, &old[..2]).iter().all(|d| *d == Disposition::Forward));

    // Rekey: B installs the new inbound SA first, then A switches its tunnel over.
    let spi2 = b.alloc_spi().unwrap();
    assert_ne!(spi2, spi1);
    let (o2, i2) = sa_pair(spi2, 2);
    b.install_inbound(i2).unwrap();
    a.rekey_outbound(tunnel, o2).unwrap();
    ra.quiescent();
    assert_eq!(ra.outbound(tunnel).map(OutboundSa::spi), Some(spi2));
    let new = send(&mut wa, &ra, &mut refs, tunnel, 2);
    // Both SAs accept while the old inbound one lives (packets in flight).
    assert!(receive(&mut wb, &rb, &new).iter().all(|d| *d == Disposition::Forward));
    assert!(receive(&mut wb, &rb, &old[2..3]).iter().all(|d| *d == Disposition::Forward));

    // The old inbound SA is deleted: its late packets are dropped as unknown SPI.
    b.delete_inbound(spi1).unwrap();
    rb.quiescent();
    assert_eq!(receive(&mut wb, &rb, &old[3..]), [Disposition::Drop(DropReason::NoSa)]);
    a.reclaim();
    assert_eq!(b.reclaim(), 1, "the worker passed a quiescent point: old SA freed");
    assert_eq!(a.pending_reclaim(), 0);
    assert_eq!(b.inbound(spi2).map(|sa| sa.counters().packets.get()), Some(2));
}

#[test]
fn static_spis_and_reserved_spis() {
    let mut t = small_table();
    let r = t.reader(1).unwrap();
    // Static SA with an arbitrary SPI.
    let (_, i) = sa_pair(0x0BAD_F00D, 3);
    t.install_inbound(i).unwrap();
    let (_, dup) = sa_pair(0x0BAD_F00D, 4);
    assert_eq!(t.install_inbound(dup), Err(TableError::SpiInUse(0x0BAD_F00D)));
    // Same home slot, other SPI: through the foreign index.
    let (_, j) = sa_pair(0x0BAD_F00D ^ 0x4000_0000, 5);
    t.install_inbound(j).unwrap();
    assert_eq!(t.foreign_len(), 1);
    assert_eq!(r.inbound(0x0BAD_F00D).map(InboundSa::spi), Some(0x0BAD_F00D));
    assert_eq!(r.inbound(0x4BAD_F00D).map(InboundSa::spi), Some(0x4BAD_F00D));
    assert!(r.inbound(0x0BAD_F00E).is_none());
    // A worker id has one reader at a time.
    assert_eq!(t.reader(1).unwrap_err(), TableError::WorkerTaken(1));
    assert_eq!(t.reader(4).unwrap_err(), TableError::BadWorker(4));
    drop(r);
    assert!(t.reader(1).is_ok());
}

#[test]
fn stale_spis_miss_after_slot_reuse() {
    let mut t = SaTable::<InboundSa, OutboundSa>::new(TableConfig {
        inbound_capacity: 256,
        outbound_capacity: 256,
        foreign_capacity: 4,
        max_workers: 1,
        seed: Some(1),
    })
    .unwrap();
    let r = t.reader(0).unwrap();
    let first = t.alloc_spi().unwrap();
    let (o, i) = sa_pair(first, 1);
    t.install_inbound(i).unwrap();
    let idx = t.install_outbound(o).unwrap();
    t.delete_inbound(first).unwrap();
    t.delete_outbound(idx).unwrap();
    // Cycle through every slot so the first one is handed out again.
    let mut again = None;
    let mut idx_again = None;
    for _ in 0..256 {
        let spi = t.alloc_spi().unwrap();
        let (o, _) = sa_pair(spi, 1);
        let k = t.install_outbound(o).unwrap();
        if spi & 0xFF == first & 0xFF {
            again = Some(spi);
        }
        if k.0 & 0xFF == idx.0 & 0xFF {
            idx_again = Some(k);
        }
    }
    let again = again.expect("slot reused");
    assert_ne!(again, first, "a reused slot gets a new tag");
    assert!(r.inbound(first).is_none());
    assert_ne!(idx_again.unwrap(), idx);
    assert!(r.outbound(idx).is_none());
    assert_eq!(t.alloc_spi(), Err(TableError::Full));
}

#[test]
fn worker_queues_carry_commands_and_events() {
    let (mut ctl, mut wrk) = queue::worker_queues::<Vec<u8>>(3, 4, 4);
    assert!(ctl.commands.push(Command::CountersRequest { request: 7 }).is_ok());
    assert!(ctl.commands.push(Command::Transmit(vec![1, 2, 3])).is_ok());
    let mut cmds = Vec::new();
    assert_eq!(wrk.commands.pop_burst(&mut cmds, 16), 2);
    let stats = WorkerStats::default();
    stats.drops.count(DropReason::NoSa);
    stats.ike.add(5);
    let mut events = Vec::new();
    for c in cmds {
        match c {
            Command::CountersRequest { request } => events.push(Event::Counters(
                CountersReply::from_stats(request, wrk.worker, &stats, wrk.events.refused()),
            )),
            Command::Transmit(p) => assert_eq!(p, [1, 2, 3]),
            other => panic!("only counters and transmit were sent, got {other:?}"),
        }
    }
    events.push(Event::Sa(SaEvent {
        spi: 0x1000,
        direction: Direction::Inbound,
        kind: SaEventKind::SoftExpired(LimitKind::Bytes),
    }));
    for n in 0..4u32 {
        events.push(Event::Sa(SaEvent {
            spi: 0x2000 + n,
            direction: Direction::Outbound,
            kind: SaEventKind::HardExpired(LimitKind::Time),
        }));
    }
    // 6 events, room for 4: the rest stay with the worker and are counted as refused.
    assert_eq!(wrk.events.push_burst(&mut events), 4);
    assert_eq!(events.len(), 2);
    assert_eq!(wrk.events.refused(), 2);
    let mut got = Vec::new();
    assert_eq!(ctl.events.pop_burst(&mut got, 16), 4);
    match &got[0] {
        Event::Counters(c) => {
            assert_eq!((c.request, c.worker, c.ike), (7, 3, 5));
            assert_eq!(c.drops[DropReason::NoSa.index()], 1);
        }
        e => panic!("unexpected {e:?}"),
    }
    assert!(matches!(got[1], Event::Sa(SaEvent { spi: 0x1000, .. })));
    assert!(matches!(got[3], Event::Sa(SaEvent { spi: 0x2001, .. })));
    assert_eq!(wrk.events.push_burst(&mut events), 2);
    assert_eq!(ctl.events.refused(), 2);
}

struct Counted(Arc<AtomicUsize>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn spsc_ring_threads_order_and_drop() {
    let (mut tx, mut rx) = channel::<u64>(64);
    const N: u64 = 200_000;
    let h = std::thread::spawn(move || {
        let mut batch = Vec::with_capacity(16);
        let mut next = 0;
        let mut refused = 0;
        while next < N || !batch.is_empty() {
            while batch.len() < 16 && next < N {
                batch.push(next);
                next += 1;
            }
            let offered = batch.len();
            let n = tx.push_burst(&mut batch);
            refused += (offered - n) as u64;
            if n < offered {
                std::thread::yield_now();
            }
        }
        (tx, refused)
    });
    let mut expect = 0;
    let mut out = Vec::with_capacity(32);
    while expect < N {
        out.clear();
        if rx.pop_burst(&mut out, 32) == 0 {
            std::thread::yield_now();
        }
        for v in &out {
            assert_eq!(*v, expect);
            expect += 1;
        }
    }
    let (tx, refused) = h.join().unwrap();
    assert_eq!(tx.refused(), refused, "every item left behind by a full ring is counted");
    // Items left in the ring are dropped with it.
    let drops = Arc::new(AtomicUsize::new(0));
    let (mut tx, rx) = channel::<Counted>(4);
    for _ in 0..3 {
        assert!(tx.push(Counted(drops.clone())).is_ok());
    }
    drop(tx);
    assert_eq!(drops.load(Ordering::Relaxed), 0);
    drop(rx);
    assert_eq!(drops.load(Ordering::Relaxed), 3);
}

#[test]
fn memory_per_slot_is_small() {
    let per_slot = SaTable::<InboundSa, OutboundSa>::bytes_per_slot();
    eprintln!(
        "table: {per_slot} B/slot/direction; runtime SA sizes: inbound {} B, outbound {} B",
        std::mem::size_of::<InboundSa>(),
        std::mem::size_of::<OutboundSa>()
    );
    assert!(per_slot <= 32, "{per_slot} bytes per slot");
    // A million-slot table each way: 2^20 slots * 2 directions.
    let t = SaTable::<InboundSa, OutboundSa>::new(TableConfig::default()).unwrap();
    assert_eq!((t.inbound_capacity(), t.outbound_capacity()), (1 << 20, 1 << 20));
}

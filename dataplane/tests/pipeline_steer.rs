//! Steering inbound ESP by SPI across three workers, wired as the appliance wires it: each
//! worker splits every burst from its RX queue, keeps its own frames and pushes the others
//! to the owner's SPSC handoff ring, then drains its rings. Mixed traffic (raw and
//! UDP-encapsulated ESP over IPv4 and IPv6, VLAN-tagged, IKE, keepalives, TCP, ARP), many
//! rounds. Proves: every frame is processed exactly once, unchanged; non-ESP frames stay on
//! the worker that received them and keep their order; every ESP frame is processed by its
//! SPI's owner, and each SA's packets reach it in sequence; a warmed-up split allocates
//! nothing.

mod alloc_counter;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering;

use alloc_counter::{ALLOCS, Counting, counting};

use dataplane::buf::{PacketBuf, VecBuf};
use dataplane::pipeline::steer::{Steering, inbound_spi, spi_for_owner, spi_owner};
use dataplane::queue::{Consumer, Producer, channel};

#[global_allocator]
static GLOBAL: Counting = Counting;

const WORKERS: u32 = 3;
const BURST: usize = 32;
const ROUNDS: u32 = 40;
/// SPIs per (receiving queue, owner) pair.
const SPIS_PER_PAIR: u32 = 2;

const PEER4: [u8; 4] = [198, 51, 100, 1];
const ME4: [u8; 4] = [192, 0, 2, 1];

fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    h.extend_from_slice(&[0, 0, 0, 0, 64, proto, 0, 0]);
    h.extend_from_slice(&PEER4);
    h.extend_from_slice(&ME4);
    let c = checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

fn ipv6(next_header: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    h.extend_from_slice(&[next_header, 64]);
    h.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]);
    h.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    h.extend_from_slice(payload);
    h
}

fn udp(src: u16, dst: u16, payload: &[u8]) -> Vec<u8> {
    let mut d = src.to_be_bytes().to_vec();
    d.extend_from_slice(&dst.to_be_bytes());
    d.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    d.extend_from_slice(&[0, 0]);
    d.extend_from_slice(payload);
    d
}

fn esp(spi: u32, seq: u32) -> Vec<u8> {
    let mut e = spi.to_be_bytes().to_vec();
    e.extend_from_slice(&seq.to_be_bytes());
    e.extend_from_slice(&[0x5a; 40]);
    e
}

/// An Ethernet frame; the frame's id follows the L3 packet as Ethernet padding (ignored by
/// every parser, so it also checks that padding is not read as payload).
fn frame(vlan: Option<u16>, ethertype: u16, l3: &[u8], id: u32) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0x44, 0, 0, 0, 9];
    if let Some(vid) = vlan {
        f.extend_from_slice(&0x8100u16.to_be_bytes());
        f.extend_from_slice(&vid.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(l3);
    f.extend_from_slice(&id.to_be_bytes());
    f
}

fn id_of(frame: &[u8]) -> u32 {
    let n = frame.len();
    u32::from_be_bytes(frame[n - 4..].try_into().unwrap())
}

/// What the test knows about a frame it made.
#[derive(Debug, Clone, Copy)]
struct Sent {
    /// Receiving worker (RX queue).
    rx: u32,
    /// For ESP: the SA's index in `Traffic::spis`, and its sequence number.
    esp: Option<(usize, u32)>,
}

struct Sa {
    spi: u32,
    owner: u32,
    /// Sequence numbers handed out so far.
    sent: u32,
}

/// Deterministic mixed traffic: each SA arrives on one RX queue only (as RSS puts a raw
/// ESP tunnel on one queue); SAs on every queue are owned by every worker.
struct Traffic {
    sas: Vec<Sa>,
    /// SA indices per RX queue.
    by_queue: Vec<Vec<usize>>,
    frames: Vec<Vec<u8>>,
    sent: Vec<Sent>,
    rng: u64,
}

impl Traffic {
    fn new() -> Traffic {
        let mut sas = Vec::new();
        let mut by_queue = vec![Vec::new(); WORKERS as usize];
        for q in 0..WORKERS {
            for owner in 0..WORKERS {
                for k in 0..SPIS_PER_PAIR {
                    let base = 0x1000_0000 + (q * 1000 + owner * 100 + k) * 0x0001_0001;
                    let spi = spi_for_owner(base, owner, WORKERS).unwrap();
                    assert_eq!(spi_owner(spi, WORKERS), owner);
                    by_queue[q as usize].push(sas.len());
                    sas.push(Sa { spi, owner, sent: 0 });
                }
            }
        }
        let distinct: HashSet<u32> = sas.iter().map(|s| s.spi).collect();
        assert_eq!(distinct.len(), sas.len(), "SPIs are unique");
        Traffic { sas, by_queue, frames: Vec::new(), sent: Vec::new(), rng: 0x9e37_79b9_7f4a_7c15 }
    }

    fn next(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// One RX burst for queue `q`, as fresh buffers; records what was sent.
    fn burst(&mut self, q: u32) -> Vec<VecBuf> {
        let mut out = Vec::with_capacity(BURST);
        for _ in 0..BURST {
            let id = self.frames.len() as u32;
            let r = self.next();
            let (f, esp_of) = if r % 10 < 7 {
                let list = &self.by_queue[q as usize];
                let sa = list[(r >> 8) as usize % list.len()];
                self.sas[sa].sent += 1;
                let e = esp(self.sas[sa].spi, self.sas[sa].sent);
                let f = match (r >> 16) % 4 {
                    0 => frame(None, 0x0800, &ipv4(50, &e), id),
                    1 => frame(None, 0x0800, &ipv4(17, &udp(4500, 4500, &e)), id),
                    2 => frame(None, 0x86dd, &ipv6(50, &e), id),
                    _ => frame(Some(100), 0x0800, &ipv4(50, &e), id),
                };
                (f, Some((sa, self.sas[sa].sent)))
            } else {
                let ike = [[0u8; 4].as_slice(), &[0x8a; 36]].concat();
                let f = match (r >> 16) % 5 {
                    0 => frame(None, 0x0800, &ipv4(6, &[0x11; 40]), id),
                    1 => frame(None, 0x0800, &ipv4(17, &udp(500, 500, &[0x8a; 36])), id),
                    2 => frame(None, 0x0800, &ipv4(17, &udp(4500, 4500, &ike)), id),
                    3 => frame(None, 0x86dd, &ipv6(17, &udp(4500, 4500, &[0xff])), id),
                    _ => frame(None, 0x0806, &[0; 28], id),
                };
                (f, None)
            };
            out.push(VecBuf::from_slice(&f));
            self.frames.push(f);
            self.sent.push(Sent { rx: q, esp: esp_of });
        }
        out
    }
}

/// One worker's ends of the handoff rings: `to[o]` pushes to worker `o`, `from` pops.
struct Ends {
    to: Vec<Option<Producer<VecBuf>>>,
    from: Vec<Consumer<VecBuf>>,
}

fn rings() -> Vec<Ends> {
    let mut ends: Vec<Ends> = (0..WORKERS)
        .map(|_| Ends { to: (0..WORKERS).map(|_| None).collect(), from: Vec::new() })
        .collect();
    for a in 0..WORKERS as usize {
        for b in 0..WORKERS as usize {
            if a != b {
                let (p, c) = channel(4 * BURST);
                ends[a].to[b] = Some(p);
                ends[b].from.push(c);
            }
        }
    }
    ends
}

#[test]
fn steering_across_three_workers_is_exactly_once_in_order_and_allocation_free() {
    // The counter sees allocations at all.
    counting(true);
    drop(std::hint::black_box(vec![0u8; 16]));
    counting(false);
    assert!(ALLOCS.load(Ordering::SeqCst) > 0);

    let mut traffic = Traffic::new();
    let mut ends = rings();
    // Worker 0 reserves its scratch up front, the others on their first split.
    let mut steer: Vec<Steering<VecBuf>> = (0..WORKERS)
        .map(|w| match w {
            0 => Steering::with_burst(w, WORKERS, BURST).unwrap(),
            _ => Steering::new(w, WORKERS).unwrap(),
        })
        .collect();
    // Frame ids in the order each worker processed them.
    let mut processed: Vec<Vec<u32>> = vec![Vec::new(); WORKERS as usize];
    let mut from_ring: Vec<VecBuf> = Vec::with_capacity(WORKERS as usize * 4 * BURST);
    let mut handed_total = 0;
    let mut allocs_after_warmup = 0;

    for round in 0..ROUNDS {
        for w in 0..WORKERS {
            let mut pkts = traffic.burst(w);
            let input: Vec<u32> = pkts.iter().map(|p| id_of(p.data())).collect();
            let to = &mut ends[w as usize].to;
            ALLOCS.store(0, Ordering::SeqCst);
            counting(round > 0);
            let handed = steer[w as usize].split(&mut pkts, |owner, p| {
                assert_ne!(owner, w);
                let ring = to[owner as usize].as_mut().expect("a ring to every other worker");
                ring.push(p).expect("handoff ring has room");
            });
            counting(false);
            allocs_after_warmup += ALLOCS.load(Ordering::SeqCst);
            handed_total += handed;
            assert_eq!(handed + pkts.len(), BURST);

            // Kept frames: exactly the input frames this worker must process, same order.
            let kept: Vec<u32> = pkts.iter().map(|p| id_of(p.data())).collect();
            let want: Vec<u32> = input
                .iter()
                .copied()
                .filter(|&id| {
                    traffic.sent[id as usize].esp.is_none_or(|(sa, _)| traffic.sas[sa].owner == w)
                })
                .collect();
            assert_eq!(kept, want, "worker {w} round {round}");
            for p in &pkts {
                assert_eq!(p.data(), &traffic.frames[id_of(p.data()) as usize][..], "unchanged");
            }
            processed[w as usize].extend(kept);
        }
        // Each worker drains its rings after its own burst (the appliance's loop order).
        for w in 0..WORKERS as usize {
            for c in &mut ends[w].from {
                from_ring.clear();
                ALLOCS.store(0, Ordering::SeqCst);
                counting(round > 0);
                c.pop_burst(&mut from_ring, usize::MAX);
                counting(false);
                allocs_after_warmup += ALLOCS.load(Ordering::SeqCst);
                for p in &from_ring {
                    let id = id_of(p.data());
                    assert_eq!(p.data(), &traffic.frames[id as usize][..], "unchanged");
                    processed[w].push(id);
                }
            }
        }
    }
    assert_eq!(allocs_after_warmup, 0, "split and handoff allocate after warm-up");

    // Every frame exactly once.
    let total = traffic.frames.len();
    assert_eq!(total, (ROUNDS * WORKERS) as usize * BURST);
    let mut seen = vec![0u32; total];
    for ids in &processed {
        for &id in ids {
            seen[id as usize] += 1;
        }
    }
    assert!(seen.iter().all(|&n| n == 1), "every frame processed exactly once");

    // Where each frame went, and per-SA order at the owner.
    let mut next_seq: BTreeMap<usize, u32> = BTreeMap::new();
    let mut esp_frames = 0;
    for (w, ids) in processed.iter().enumerate() {
        for &id in ids {
            let s = traffic.sent[id as usize];
            match s.esp {
                Some((sa, seq)) => {
                    esp_frames += 1;
                    assert_eq!(traffic.sas[sa].owner, w as u32, "ESP goes to its SPI's owner");
                    let f = &traffic.frames[id as usize];
                    assert_eq!(inbound_spi(f), Some(traffic.sas[sa].spi));
                    let want = next_seq.entry(sa).or_insert(1);
                    assert_eq!(seq, *want, "SA {sa} in order at worker {w}");
                    *want += 1;
                }
                None => assert_eq!(s.rx, w as u32, "non-ESP stays where it was received"),
            }
        }
    }
    for (i, sa) in traffic.sas.iter().enumerate() {
        assert_eq!(next_seq.get(&i).map_or(0, |n| n - 1), sa.sent, "all of SA {i} arrived");
    }
    // The traffic really was mixed and really crossed workers.
    assert!(esp_frames > total / 2 && esp_frames < total);
    assert!(handed_total > total / 3, "{handed_total} of {total} handed off");
    for ends in &ends {
        for p in ends.to.iter().flatten() {
            assert_eq!(p.refused(), 0);
        }
    }
}

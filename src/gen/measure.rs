//! The receiving side: what comes back is classified, decrypted when it is ESP sealed with
//! an SA the generator knows, and its stamp read: packets per flow in order or late
//! (reordered), one-way latency into an HDR histogram. One [`Meter`] per receiving worker
//! (single writer, nothing shared); [`Totals`] merges them at the end.
//!
//! A packet is *reordered* when its sequence number is below the next one expected on its
//! flow (RFC 4737's definition: it arrived after a later-sent packet of its flow); duplicates
//! count there too. *Lost* is sent minus received (stamped packets of this run).

use std::collections::HashMap;

use dataplane::buf::PacketBuf;
use dataplane::esp::{self, BufAlloc, Disposition, EspWorker};
use dataplane::sa::InboundSa;
use hdrhistogram::Histogram;
use serde::Serialize;

use super::stamp::Stamp;
use super::traffic::Traffic;
use crate::dpdk::BURST_MAX;

/// Latencies above this (ns: one minute) are recorded as this.
const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// Counters of one receiver.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct RxCounts {
    /// Frames received, whatever they were.
    pub frames: u64,
    /// Stamped packets of this run.
    pub packets: u64,
    /// Their frame bytes as received (FCS excluded).
    pub bytes: u64,
    /// Packets whose sequence number was below the next one expected on their flow.
    pub reordered: u64,
    /// Frames without a stamp of this run (other traffic, another run's packets).
    pub foreign: u64,
    /// ESP frames the generator could not decrypt (unknown SPI, failed ICV, ...).
    pub undecryptable: u64,
}

impl RxCounts {
    fn add(&mut self, o: &RxCounts) {
        self.frames += o.frames;
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.reordered += o.reordered;
        self.foreign += o.foreign;
        self.undecryptable += o.undecryptable;
    }
}

/// One receiver's state.
pub struct Meter {
    run: u16,
    /// Next sequence number expected on each flow.
    next: Vec<u64>,
    hist: Histogram<u64>,
    sas: HashMap<u32, InboundSa>,
    esp: EspWorker,
    pub counts: RxCounts,
    /// Receive time of the first and last stamped packet (generator clock, ns).
    pub first_ns: Option<u64>,
    pub last_ns: u64,
}

impl std::fmt::Debug for Meter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meter").field("counts", &self.counts).finish()
    }
}

/// Where a frame's IP packet starts and whether it is ESP (or ESP-in-UDP on 4500).
fn l3(frame: &[u8]) -> Option<(usize, bool)> {
    let ty = |o: usize| frame.get(o..o + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let (l2, ethertype) = match ty(12)? {
        0x8100 => (18, ty(16)?),
        t => (14, t),
    };
    let udp_dport = |udp: usize| ty(udp + 2);
    let esp = match ethertype {
        0x0800 => {
            let ihl = usize::from(frame.get(l2)? & 0x0f) * 4;
            match *frame.get(l2 + 9)? {
                50 => true,
                17 => udp_dport(l2 + ihl) == Some(4500),
                _ => false,
            }
        }
        0x86dd => match *frame.get(l2 + 6)? {
            50 => true,
            17 => udp_dport(l2 + 40) == Some(4500),
            _ => false,
        },
        _ => return None,
    };
    Some((l2, esp))
}

/// The stamp of an IPv4 or IPv6 UDP packet.
fn stamp_of(ip: &[u8]) -> Option<Stamp> {
    let udp = match ip.first()? >> 4 {
        4 if *ip.get(9)? == 17 => usize::from(ip[0] & 0x0f) * 4,
        6 if *ip.get(6)? == 17 => 40,
        _ => return None,
    };
    Stamp::read(ip.get(udp + 8..)?)
}

impl Meter {
    /// A receiver for `traffic`'s packets of run `run`.
    pub fn new(traffic: &Traffic, run: u16) -> anyhow::Result<Meter> {
        let hist = Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3)
            .map_err(|e| anyhow::anyhow!("latency histogram: {e}"))?;
        Ok(Meter {
            run,
            next: vec![0; traffic.flows as usize],
            hist,
            sas: traffic.rx_table()?,
            esp: EspWorker::new(),
            counts: RxCounts::default(),
            first_ns: None,
            last_ns: 0,
        })
    }

    /// Takes a received burst (frames with their L2 headers; at most [`BURST_MAX`] are
    /// looked at, the rest count as foreign). `now` is the receive time on the generator's
    /// clock. The buffers are changed (headers stripped, ESP decrypted in place).
    pub fn burst<B: PacketBuf, A: BufAlloc<B>>(&mut self, pkts: &mut [B], alloc: &mut A, now: u64) {
        let n = pkts.len().min(BURST_MAX);
        self.counts.frames += pkts.len() as u64;
        self.counts.foreign += (pkts.len() - n) as u64;
        let mut wire = [0u32; BURST_MAX];
        let mut is_ip = [false; BURST_MAX];
        let mut any_esp = false;
        for (i, p) in pkts[..n].iter_mut().enumerate() {
            wire[i] = p.len() as u32;
            if let Some((l2, esp)) = l3(p.data())
                && p.adj(l2).is_ok()
            {
                is_ip[i] = true;
                any_esp |= esp;
            }
        }
        let dispositions = if any_esp && !self.sas.is_empty() {
            let sas = &self.sas;
            Some(esp::decap_burst(&mut self.esp, &mut pkts[..n], |spi| sas.get(&spi), alloc, now))
        } else {
            None
        };
        for i in 0..n {
            if !is_ip[i] {
                self.counts.foreign += 1;
                continue;
            }
            match dispositions.and_then(|d| d.get(i)).map(|r| r.disposition) {
                None | Some(Disposition::Forward) | Some(Disposition::ToControl(_)) => {}
                Some(_) => {
                    self.counts.undecryptable += 1;
                    continue;
                }
            }
            let stamp = stamp_of(pkts[i].data());
            match stamp {
                Some(s) if s.run == self.run && (s.flow as usize) < self.next.len() => {
                    record(
                        &mut self.counts,
                        &mut self.next,
                        &mut self.hist,
                        &s,
                        u64::from(wire[i]),
                        now,
                    );
                    self.first_ns.get_or_insert(now);
                    self.last_ns = now;
                }
                _ => self.counts.foreign += 1,
            }
        }
    }
}

#[inline]
fn record(
    c: &mut RxCounts,
    next: &mut [u64],
    hist: &mut Histogram<u64>,
    s: &Stamp,
    wire: u64,
    now: u64,
) {
    c.packets += 1;
    c.bytes += wire;
    if let Some(expected) = next.get_mut(s.flow as usize) {
        if s.seq < *expected {
            c.reordered += 1;
        } else {
            *expected = s.seq + 1;
        }
    }
    hist.saturating_record(now.saturating_sub(s.ts_ns).max(1));
}

/// Latency percentiles, ns.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Latency {
    pub samples: u64,
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p99_9: u64,
    pub p99_99: u64,
    pub max: u64,
}

/// Every receiver's counters and latencies, merged.
#[derive(Debug)]
pub struct Totals {
    pub counts: RxCounts,
    pub first_ns: Option<u64>,
    pub last_ns: u64,
    hist: Option<Histogram<u64>>,
}

impl Totals {
    pub fn merge<'a>(meters: impl IntoIterator<Item = &'a Meter>) -> Totals {
        let mut t = Totals { counts: RxCounts::default(), first_ns: None, last_ns: 0, hist: None };
        for m in meters {
            t.counts.add(&m.counts);
            t.first_ns = match (t.first_ns, m.first_ns) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            t.last_ns = t.last_ns.max(m.last_ns);
            match &mut t.hist {
                None => t.hist = Some(m.hist.clone()),
                // Same bounds everywhere: adding cannot fail; if it did, the figures would
                // only miss that receiver's samples.
                Some(h) => {
                    let _ = h.add(&m.hist);
                }
            }
        }
        t
    }

    /// The percentiles, or `None` without samples.
    pub fn latency(&self) -> Option<Latency> {
        let h = self.hist.as_ref().filter(|h| !h.is_empty())?;
        Some(Latency {
            samples: h.len(),
            min: h.min(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p99_9: h.value_at_quantile(0.999),
            p99_99: h.value_at_quantile(0.9999),
            max: h.max(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::traffic::Dir;
    use crate::esp_tool::sa_file::parse_transform;
    use crate::r#gen::traffic::{SaSource, SizeMix, TrafficSpec, TxStream};
    use dataplane::buf::VecBuf;
    use dataplane::esp::VecBufAlloc;

    fn traffic(dir: Dir) -> Traffic {
        Traffic::new(&TrafficSpec {
            dir,
            sizes: SizeMix::parse("imix").unwrap(),
            flows: 4,
            tunnels: 2,
            sas: SaSource::Derived { transform: parse_transform("aes256gcm16").unwrap() },
            rx_sas: Vec::new(),
            src_mac: None,
            dst_mac: None,
        })
        .unwrap()
    }

    /// Builds `n` packets of stream 0 of 1, sealed for dec, at times 0, 10, 20, ...
    fn packets(t: &Traffic, run: u16, n: usize) -> Vec<VecBuf> {
        let mut s = TxStream::new(t, 0, 1, run);
        let mut out = Vec::new();
        for k in 0..n {
            let mut b = VecBuf::with_room(128, 2000);
            let tunnel = s.next(t, &mut b, k as u64 * 10).unwrap();
            if t.sealed() {
                let mut one = [b];
                let mut extra = Vec::new();
                let mut w = EspWorker::new();
                let d = t.seal(&mut w, &mut one, &[tunnel], &mut extra, &mut VecBufAlloc, 0);
                assert_eq!(d, [Disposition::Forward]);
                let [b] = one;
                out.push(b);
            } else {
                out.push(b);
            }
        }
        out
    }

    #[test]
    fn in_order_packets_have_no_loss_or_reordering_and_a_latency() {
        for dir in [Dir::Enc, Dir::Dec] {
            let t = traffic(dir);
            let mut m = Meter::new(&t, 9).unwrap();
            let mut pk = packets(&t, 9, 24);
            m.burst(&mut pk, &mut VecBufAlloc, 1_000);
            assert_eq!(m.counts.packets, 24, "{dir:?}: {:?}", m.counts);
            assert_eq!((m.counts.reordered, m.counts.foreign, m.counts.undecryptable), (0, 0, 0));
            let tot = Totals::merge([&m]);
            let l = tot.latency().unwrap();
            assert_eq!(l.samples, 24);
            assert!(l.min >= 760 && l.max <= 1_001, "{l:?}");
        }
    }

    #[test]
    fn late_packets_count_as_reordered_and_other_runs_as_foreign() {
        let t = traffic(Dir::Enc);
        let mut m = Meter::new(&t, 1).unwrap();
        let mut pk = packets(&t, 1, 12);
        // Packets 8 and 4 are flow 0's seq 2 and 1: swap them.
        pk.swap(4, 8);
        m.burst(&mut pk, &mut VecBufAlloc, 500);
        assert_eq!(m.counts.reordered, 1);
        let mut other = packets(&t, 2, 3);
        other.push(VecBuf::from_slice(&[0u8; 60]));
        m.burst(&mut other, &mut VecBufAlloc, 600);
        assert_eq!(m.counts.foreign, 4);
        assert_eq!(m.counts.frames, 16);
    }

    #[test]
    fn esp_that_fails_authentication_is_undecryptable() {
        let t = traffic(Dir::Dec);
        let mut m = Meter::new(&t, 1).unwrap();
        let mut pk = packets(&t, 1, 2);
        let last = pk[0].len() - 1;
        pk[0].data_mut()[last] ^= 1;
        m.burst(&mut pk, &mut VecBufAlloc, 500);
        assert_eq!((m.counts.undecryptable, m.counts.packets), (1, 1));
    }
}

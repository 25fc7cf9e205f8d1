//! `SaConfig::lab_sequence_restart`: a benchmark replays a fixed capture of ESP packets
//! (sequence numbers 1..K) for ever with anti-replay on, and every packet must still be
//! authenticated, decrypted and forwarded. Only numbers left of the window restart it, only
//! after they authenticate; duplicates stay duplicates, and without the option nothing
//! changes.

mod esp_support;

use dataplane::buf::PacketBuf;
use dataplane::esp::{Disposition, EspWorker};
use dataplane::sa::{DropReason, InboundSa, OutboundSa, SaConfig, SaError};
use esp_support::*;

/// Packets in the capture: more than the window of 64.
const K: usize = 200;
/// Burst size of the replay, like a DPDK rx burst.
const BURST: usize = 32;

fn lab(c: &mut SaConfig) {
    c.lab_sequence_restart = true;
}

/// Inner packet number `n` (1-based, its ESP sequence number): lengths differ so a mix-up
/// shows.
fn inner(n: usize) -> Vec<u8> {
    inner_v4(20 + n % 61)
}

/// The capture: sequence numbers 1..=k of `o`, as outer packets.
fn capture(w: &mut EspWorker, o: &OutboundSa, k: usize) -> Vec<Vec<u8>> {
    let pkts: Vec<Vec<u8>> = (1..=k).map(inner).collect();
    let mut out = Vec::with_capacity(k);
    for chunk in pkts.chunks(BURST) {
        let (d, bufs, extra) = encap(w, o, chunk, 0);
        assert!(d.iter().all(|d| *d == Disposition::Forward));
        assert!(extra.is_empty());
        out.extend(bufs.iter().map(|b| b.data().to_vec()));
    }
    out
}

/// Decapsulates `outer` in bursts of [`BURST`] and returns the dispositions; every forwarded
/// packet must be the inner packet its sequence number was built from.
fn replay(w: &mut EspWorker, i: &InboundSa, outer: &[Vec<u8>]) -> Vec<Disposition> {
    let mut all = Vec::with_capacity(outer.len());
    for chunk in outer.chunks(BURST) {
        let (r, bufs) = decap(w, i, chunk, 0);
        for ((res, b), sent) in r.iter().zip(&bufs).zip(chunk) {
            if res.disposition == Disposition::Forward {
                let seq = esp_seq(sent);
                assert_eq!(b.data(), &inner(seq as usize)[..], "plaintext of seq {seq}");
            }
            all.push(res.disposition);
        }
    }
    all
}

/// The ESP sequence number of a raw-ESP IPv4 packet (20-byte header, no options).
fn esp_seq(outer: &[u8]) -> u32 {
    u32::from_be_bytes(outer[24..28].try_into().unwrap())
}

/// Outer packets with sequence numbers `seqs` (1-based) from `cap`.
fn pick(cap: &[Vec<u8>], seqs: impl IntoIterator<Item = usize>) -> Vec<Vec<u8>> {
    seqs.into_iter().map(|s| cap[s - 1].clone()).collect()
}

fn all_forward(d: &[Disposition]) -> bool {
    d.iter().all(|d| *d == Disposition::Forward)
}

#[test]
fn a_replayed_capture_decrypts_on_every_pass() {
    for t in transforms() {
        let (o, i) = pair_with(Params::new(t), lab);
        assert_eq!(i.replay_window().size(), 64);
        assert!(i.replay_window().lab_sequence_restart());
        let mut w = EspWorker::new();
        let cap = capture(&mut w, &o, K);
        for pass in 1..=3u64 {
            let d = replay(&mut w, &i, &cap);
            assert!(all_forward(&d), "{t:?} pass {pass}: {d:?}");
            assert_eq!(i.replay_window().top(), K as u64);
            assert_eq!(i.replay_window().sequence_restarts(), pass - 1, "{t:?}");
        }
        assert_eq!(i.counters().packets.get(), 3 * K as u64);
        assert_eq!(i.counters().drops.total(), 0);
    }
}

#[test]
fn without_the_option_the_second_pass_is_dropped_as_replay() {
    let (o, i) = pair(Params::new(gcm128()));
    assert!(!i.replay_window().lab_sequence_restart());
    let mut w = EspWorker::new();
    let cap = capture(&mut w, &o, K);
    assert!(all_forward(&replay(&mut w, &i, &cap)));
    let d = replay(&mut w, &i, &cap);
    assert!(d.iter().all(|d| *d == Disposition::Drop(DropReason::Replay)), "{d:?}");
    assert_eq!(i.counters().drops.get(DropReason::Replay), K as u64);
    assert_eq!(i.counters().drops.total(), K as u64);
    assert_eq!(i.counters().packets.get(), K as u64);
    assert_eq!(i.replay_window().top(), K as u64);
    assert_eq!(i.replay_window().sequence_restarts(), 0);
}

#[test]
fn duplicates_inside_the_window_are_still_dropped() {
    let (o, i) = pair_with(Params::new(gcm128()), lab);
    let mut w = EspWorker::new();
    let cap = capture(&mut w, &o, K);
    assert!(all_forward(&replay(&mut w, &i, &cap)));
    // Inside the window (200 - 64 < s <= 200) and already seen.
    let d = replay(&mut w, &i, &pick(&cap, [200, 190, 137]));
    assert_eq!(d, [Disposition::Drop(DropReason::Replay); 3]);
    assert_eq!(i.replay_window().sequence_restarts(), 0);
    assert_eq!(i.replay_window().top(), K as u64);
    // An old packet twice in one burst: the first restarts, the second is a duplicate.
    let d = replay(&mut w, &i, &pick(&cap, [3, 3, 4]));
    let fwd = Disposition::Forward;
    assert_eq!(d, [fwd, Disposition::Drop(DropReason::Replay), fwd]);
    assert_eq!(i.replay_window().sequence_restarts(), 1);
    assert_eq!(i.replay_window().top(), 4);
    assert_eq!(i.counters().drops.get(DropReason::Replay), 4);
}

#[test]
fn a_tampered_old_packet_is_dropped_and_leaves_the_window_alone() {
    let (o, i) = pair_with(Params::new(gcm128()), lab);
    let mut w = EspWorker::new();
    let cap = capture(&mut w, &o, K + 1);
    assert!(all_forward(&replay(&mut w, &i, &cap[..K])));
    for s in [1, 5, 100] {
        let mut bad = cap[s - 1].clone();
        let at = bad.len() - 20;
        bad[at] ^= 0x40; // in the ciphertext / ICV
        let d = replay(&mut w, &i, &[bad]);
        assert_eq!(d, [Disposition::Drop(DropReason::AuthFailed)], "seq {s}");
    }
    assert_eq!(i.counters().drops.get(DropReason::AuthFailed), 3);
    assert_eq!(i.replay_window().sequence_restarts(), 0);
    assert_eq!(i.replay_window().top(), K as u64);
    // The window is as it was: its packets are duplicates, the next one is new.
    let d = replay(&mut w, &i, &pick(&cap, [K, K - 63, K + 1]));
    let replayed = Disposition::Drop(DropReason::Replay);
    assert_eq!(d, [replayed, replayed, Disposition::Forward]);
    assert_eq!(i.replay_window().top(), K as u64 + 1);
}

#[test]
fn the_restart_can_happen_in_the_middle_of_a_burst() {
    let (o, i) = pair_with(Params::new(gcm128()), lab);
    let mut w = EspWorker::new();
    let cap = capture(&mut w, &o, K);
    assert!(all_forward(&replay(&mut w, &i, &cap[..194])));
    assert_eq!(i.replay_window().top(), 194);
    let burst = pick(&cap, (195..=200).chain(1..=10));
    let (r, bufs) = decap(&mut w, &i, &burst, 0);
    assert!(r.iter().all(|r| r.disposition == Disposition::Forward), "{r:?}");
    let seqs: Vec<usize> = (195..=200).chain(1..=10).collect();
    for (b, s) in bufs.iter().zip(seqs) {
        assert_eq!(b.data(), &inner(s)[..], "seq {s}");
    }
    assert_eq!(i.replay_window().sequence_restarts(), 1);
    assert_eq!(i.replay_window().top(), 10);
    // The new window goes on from there, and counts the restarted numbers as seen.
    let d = replay(&mut w, &i, &pick(&cap, (11..=20).chain([5])));
    assert_eq!(&d[..10], [Disposition::Forward; 10]);
    assert_eq!(d[10], Disposition::Drop(DropReason::Replay));
    assert_eq!(i.counters().packets.get(), 194 + 16 + 10);
}

#[test]
fn a_packet_pushed_out_of_the_window_by_its_own_burst_is_no_restart() {
    // Before the burst the window is empty: 1..=10 pass the first check, then 100..=200
    // ahead of them in the same burst move the window past them. They were never left of
    // the window when they arrived, so they are dropped as usual, not a restart.
    let (o, i) = pair_with(Params::new(gcm128()), lab);
    let mut w = EspWorker::new();
    let cap = capture(&mut w, &o, K);
    let burst = pick(&cap, (100..=200).chain(1..=10));
    let (r, _) = decap(&mut w, &i, &burst, 0);
    let d: Vec<Disposition> = r.iter().map(|r| r.disposition).collect();
    assert!(all_forward(&d[..101]));
    assert_eq!(&d[101..], [Disposition::Drop(DropReason::Replay); 10]);
    assert_eq!(i.replay_window().sequence_restarts(), 0);
    assert_eq!(i.replay_window().top(), 200);
}

#[test]
fn the_option_is_refused_with_extended_sequence_numbers_inbound() {
    let t = gcm128();
    let mut c = config(t, dataplane::sa::Direction::Inbound, V4_REMOTE, V4_LOCAL);
    c.esn = true;
    c.lab_sequence_restart = true;
    assert_eq!(InboundSa::new(&c).unwrap_err(), SaError::LabRestartWithEsn);
    c.esn = false;
    assert!(InboundSa::new(&c).is_ok());
    // Outbound ignores it.
    let mut c = config(t, dataplane::sa::Direction::Outbound, V4_LOCAL, V4_REMOTE);
    c.esn = true;
    c.lab_sequence_restart = true;
    assert!(OutboundSa::new(&c).is_ok());
}

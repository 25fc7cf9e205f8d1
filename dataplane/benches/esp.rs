//! ESP encapsulation and decapsulation cost per packet, side by side with the raw seal and
//! open of the same crypto engine in the same run, and the ratio between them.
//!
//! `cargo bench -p dataplane --bench esp` (add `-- --quick` for a short run). The harness is
//! our own rather than criterion's because the figure that matters is a ratio of two
//! measurements taken under the same conditions: samples of both are interleaved, and each
//! figure is the median of its samples.
//!
//! - encap: `esp::encap_burst` on bursts of 32 inner IPv4 packets of the given total size,
//!   tunnel mode, raw ESP, outer IPv4. Between bursts the buffers are put back to an inner
//!   packet (pointer moves and a 20-byte header copy); that reset is measured alone and
//!   subtracted.
//! - seal: `WorkerCrypto::seal_burst` on bursts of 32 ESP-laid-out buffers whose encrypted
//!   region has the length encap produces for that size: the engine's AEAD/cipher+HMAC work
//!   with no ESP framing.
//! - decap: `esp::decap_burst` (anti-replay on, window 64) on packets made by encap; each
//!   burst first copies 32 ciphertexts into the buffers, a copy measured alone and subtracted.
//! - open: `WorkerCrypto::open_burst` on the same ciphertexts, copy subtracted likewise.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use dataplane::buf::{PacketBuf, VecBuf};
use dataplane::crypto::{
    AesKeyLen, Cipher, CryptoOp, EngineKind, Integ, SaKeys, Transform, WorkerCrypto,
};
use dataplane::esp::{self, Disposition, EspWorker, VecBufAlloc};
use dataplane::sa::{Direction, InboundSa, OutboundSa, SaConfig};
use dataplane::wire::checksum;

const BURST: usize = 32;
const SIZES: [usize; 4] = [64, 512, 1420, 9000];
/// Distinct ciphertexts per decap pass (sequence numbers 1..=POOL, then a fresh SA).
const POOL: usize = 1024;

struct Opts {
    samples: usize,
    /// Bursts per encap/seal sample.
    bursts: usize,
}

fn transforms() -> Vec<(&'static str, Transform)> {
    let gcm = |key| Transform::new(Cipher::AesGcm { key, icv_len: 16 }, Integ::None).unwrap();
    vec![
        ("aes128gcm16", gcm(AesKeyLen::Aes128)),
        ("aes256gcm16", gcm(AesKeyLen::Aes256)),
        (
            "aes128-sha256",
            Transform::new(Cipher::AesCbc(AesKeyLen::Aes128), Integ::HmacSha256_128).unwrap(),
        ),
        ("chacha20poly1305", Transform::new(Cipher::ChaCha20Poly1305, Integ::None).unwrap()),
    ]
}

fn inner_packet(total: usize) -> Vec<u8> {
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&[10, 0, 0, 1]);
    p[16..20].copy_from_slice(&[10, 1, 0, 1]);
    let c = !checksum::data(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    for (i, b) in p[20..].iter_mut().enumerate() {
        *b = i as u8;
    }
    p
}

fn config(dir: Direction, t: Transform, engine: EngineKind) -> SaConfig {
    let keys = SaKeys::new(&vec![0x11; t.enc_key_len()], &vec![0x22; t.auth_key_len()]);
    let a = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let b = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
    let (local, remote) = if dir == Direction::Outbound { (a, b) } else { (b, a) };
    let mut cfg = SaConfig::new(0x1000, dir, t, keys, local, remote);
    cfg.engine = engine;
    cfg.mtu = 9600;
    cfg
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// ns per packet of `f`, which processes `bursts * BURST` packets.
fn time(packets: usize, f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_nanos() as f64 / packets as f64
}

struct Row {
    encap: f64,
    seal: f64,
    decap: f64,
    open: f64,
}

fn measure(t: Transform, engine: EngineKind, size: usize, o: &Opts) -> Row {
    let inner = inner_packet(size);
    let mut w = EspWorker::new();
    let out = OutboundSa::new(&config(Direction::Outbound, t, engine)).unwrap();
    let sas = [&out; BURST];
    let mut pkts: Vec<VecBuf> = (0..BURST).map(|_| VecBuf::from_slice(&inner)).collect();
    let headroom = pkts[0].headroom();
    let mut extra = Vec::new();
    let reset = |pkts: &mut [VecBuf]| {
        for p in pkts.iter_mut() {
            let front = headroom - p.headroom();
            p.adj(front).unwrap();
            let back = p.len() - size;
            p.trim(back).unwrap();
            p.data_mut()[..20].copy_from_slice(&inner[..20]);
        }
    };

    // A pool of ciphertexts with consecutive sequence numbers, for decap and open.
    let mut pool: Vec<Vec<u8>> = Vec::with_capacity(POOL);
    let seq_out = OutboundSa::new(&config(Direction::Outbound, t, engine)).unwrap();
    while pool.len() < POOL {
        let mut burst: Vec<VecBuf> = (0..BURST).map(|_| VecBuf::from_slice(&inner)).collect();
        let d = esp::encap_burst(
            &mut w,
            &[&seq_out; BURST],
            &mut burst,
            &mut extra,
            &mut VecBufAlloc,
            0,
        );
        assert!(d.iter().all(|d| *d == Disposition::Forward));
        pool.extend(burst.iter().map(|b| b.to_vec()));
    }
    // Ciphertext layout for seal/open: the ESP part of the pool's packets (after IPv4).
    let esp_len = pool[0].len() - 20;
    let open_sa = InboundSa::new(&config(Direction::Inbound, t, engine)).unwrap();
    let mut crypto = WorkerCrypto::new();
    let mut esp_bufs: Vec<Vec<u8>> = (0..BURST).map(|i| pool[i][20..].to_vec()).collect();
    let mut in_pkts: Vec<VecBuf> = (0..BURST).map(|i| VecBuf::from_slice(&pool[i])).collect();

    let (mut encap, mut seal, mut decap, mut open) = (vec![], vec![], vec![], vec![]);
    let (mut reset_only, mut copy_only, mut copy_esp_only) = (vec![], vec![], vec![]);
    let n = o.bursts * BURST;
    for _ in 0..o.samples {
        encap.push(time(n, || {
            for _ in 0..o.bursts {
                let d = esp::encap_burst(&mut w, &sas, &mut pkts, &mut extra, &mut VecBufAlloc, 0);
                black_box(d);
                reset(&mut pkts);
            }
        }));
        reset_only.push(time(n, || {
            for _ in 0..o.bursts {
                reset(black_box(&mut pkts));
            }
        }));
        seal.push(time(n, || {
            for _ in 0..o.bursts {
                let mut it = esp_bufs.iter_mut();
                let mut ops: [CryptoOp<'_>; BURST] = std::array::from_fn(|_| {
                    CryptoOp::new(out.cipher(), it.next().unwrap(), 0, false)
                });
                crypto.seal_burst(black_box(&mut ops));
            }
        }));
        // Decap: one pass over the pool with a fresh SA (its replay window starts empty).
        let sa = InboundSa::new(&config(Direction::Inbound, t, engine)).unwrap();
        decap.push(time(POOL, || {
            for chunk in pool.chunks(BURST) {
                for (p, c) in in_pkts.iter_mut().zip(chunk) {
                    p.reset(c, VecBuf::DEFAULT_HEADROOM);
                }
                let r = esp::decap_burst(&mut w, &mut in_pkts, |_| Some(&sa), &mut VecBufAlloc, 0);
                debug_assert!(r.iter().all(|r| r.disposition == Disposition::Forward));
                black_box(r);
            }
        }));
        copy_only.push(time(POOL, || {
            for chunk in pool.chunks(BURST) {
                for (p, c) in in_pkts.iter_mut().zip(chunk) {
                    p.reset(c, VecBuf::DEFAULT_HEADROOM);
                }
                black_box(&mut in_pkts);
            }
        }));
        open.push(time(POOL, || {
            for chunk in pool.chunks(BURST) {
                for (b, c) in esp_bufs.iter_mut().zip(chunk) {
                    b.copy_from_slice(&c[20..20 + esp_len]);
                }
                let mut it = esp_bufs.iter_mut();
                let mut ops: [CryptoOp<'_>; BURST] = std::array::from_fn(|_| {
                    CryptoOp::new(open_sa.cipher(), it.next().unwrap(), 0, false)
                });
                crypto.open_burst(black_box(&mut ops));
            }
        }));
        copy_esp_only.push(time(POOL, || {
            for chunk in pool.chunks(BURST) {
                for (b, c) in esp_bufs.iter_mut().zip(chunk) {
                    b.copy_from_slice(&c[20..20 + esp_len]);
                }
                black_box(&mut esp_bufs);
            }
        }));
    }
    // Sanity: the last decap pass forwarded everything (outside the timed loop).
    let sa = InboundSa::new(&config(Direction::Inbound, t, engine)).unwrap();
    for (p, c) in in_pkts.iter_mut().zip(&pool) {
        p.reset(c, VecBuf::DEFAULT_HEADROOM);
    }
    let r = esp::decap_burst(&mut w, &mut in_pkts, |_| Some(&sa), &mut VecBufAlloc, 0);
    assert!(r.iter().all(|r| r.disposition == Disposition::Forward), "decap failed: {:?}", r[0]);
    assert_eq!(in_pkts[0].data(), &inner[..]);
    let reset_ns = median(reset_only);
    Row {
        encap: (median(encap) - reset_ns).max(0.0),
        seal: median(seal),
        decap: (median(decap) - median(copy_only)).max(0.0),
        open: (median(open) - median(copy_esp_only)).max(0.0),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    // Any other argument filters the cases: `aes128gcm16/ipsec-mb/64` style substrings.
    let filters: Vec<&String> = args.iter().skip(1).filter(|a| !a.starts_with("--")).collect();
    // `cargo test --benches` runs bench binaries with `--bench` absent: do one tiny pass.
    let smoke = !args.iter().any(|a| a == "--bench");
    let o = if smoke {
        Opts { samples: 1, bursts: 2 }
    } else if quick {
        Opts { samples: 5, bursts: 200 }
    } else {
        Opts { samples: 15, bursts: 1000 }
    };
    for e in EngineKind::ALL.into_iter().filter(|e| e.available()) {
        println!("engine {}: {}", e.name(), e.code_path());
    }
    println!(
        "{:<18} {:<11} {:>5} | {:>8} {:>8} {:>6} | {:>8} {:>8} {:>6}",
        "transform", "engine", "bytes", "encap", "seal", "ratio", "decap", "open", "ratio"
    );
    for (name, t) in transforms() {
        for engine in EngineKind::ALL.into_iter().filter(|e| e.available()) {
            if dataplane::crypto::SaCipher::new(
                engine,
                t,
                &SaKeys::new(&vec![0; t.enc_key_len()], &vec![0; t.auth_key_len()]),
            )
            .is_err()
            {
                continue;
            }
            for size in SIZES {
                if smoke && size > 64 {
                    continue;
                }
                let id = format!("{name}/{}/{size}", engine.name());
                if !filters.is_empty() && !filters.iter().any(|f| id.contains(f.as_str())) {
                    continue;
                }
                let r = measure(t, engine, size, &o);
                println!(
                    "{:<18} {:<11} {:>5} | {:>6.1}ns {:>6.1}ns {:>5.2}x | {:>6.1}ns {:>6.1}ns {:>5.2}x",
                    name,
                    engine.name(),
                    size,
                    r.encap,
                    r.seal,
                    r.encap / r.seal,
                    r.decap,
                    r.open,
                    r.decap / r.open
                );
            }
        }
    }
}

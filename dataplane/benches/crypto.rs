//! Seal cost per packet of the ESP crypto engines, in bursts of 32 as the workers run them.
//!
//! `cargo bench -p dataplane --bench crypto -- --quick` for a short run. Each benchmark seals
//! one burst; divide the time by 32 for ns/packet (the throughput line shows packets/s).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dataplane::crypto::{
    AesKeyLen, Cipher, CryptoOp, EngineKind, Integ, SaCipher, SaKeys, Transform, WorkerCrypto,
};

const BURST: usize = 32;
/// Payload sizes (bytes of ESP region, rounded up to the cipher block).
const SIZES: [usize; 4] = [64, 512, 1420, 9000];

fn transforms() -> [(&'static str, Transform); 4] {
    let gcm = |key| Transform::new(Cipher::AesGcm { key, icv_len: 16 }, Integ::None).unwrap();
    [
        ("aes128-gcm", gcm(AesKeyLen::Aes128)),
        ("aes256-gcm", gcm(AesKeyLen::Aes256)),
        (
            "aes128-cbc-sha256",
            Transform::new(Cipher::AesCbc(AesKeyLen::Aes128), Integ::HmacSha256_128).unwrap(),
        ),
        ("chacha20-poly1305", Transform::new(Cipher::ChaCha20Poly1305, Integ::None).unwrap()),
    ]
}

fn seal(c: &mut Criterion) {
    for engine in EngineKind::ALL.into_iter().filter(|e| e.available()) {
        eprintln!("engine {}: code path {}", engine.name(), engine.code_path());
    }
    let mut worker = WorkerCrypto::new();
    for (name, t) in transforms() {
        let keys = SaKeys::new(&vec![0x11; t.enc_key_len()], &vec![0x22; t.auth_key_len()]);
        let mut group = c.benchmark_group(format!("seal/{name}"));
        group.throughput(Throughput::Elements(BURST as u64));
        for engine in EngineKind::ALL.into_iter().filter(|e| e.available()) {
            let Ok(sa) = SaCipher::new(engine, t, &keys) else { continue };
            for size in SIZES {
                let region = size.div_ceil(t.block_len()) * t.block_len();
                let len = 8 + t.iv_len() + region + t.icv_len();
                let mut bufs: Vec<Vec<u8>> = (0..BURST).map(|_| vec![0x5a; len]).collect();
                group.bench_function(BenchmarkId::new(engine.name(), size), |b| {
                    b.iter(|| {
                        // Ops on the stack, as a worker would keep them: no allocation.
                        let mut it = bufs.iter_mut();
                        let mut ops: [CryptoOp<'_>; BURST] = std::array::from_fn(|i| {
                            let buf = it.next().expect("BURST buffers");
                            buf[4..8].copy_from_slice(&(i as u32).to_be_bytes());
                            CryptoOp::new(&sa, buf, 0, false)
                        });
                        worker.seal_burst(black_box(&mut ops));
                    })
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, seal);
criterion_main!(benches);

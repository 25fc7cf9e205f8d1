//! One conformance suite for every crypto engine, through the public interface only:
//! round trips for every transform × ESN × region size, tamper detection, byte identity
//! across engines, IV generation and length checks.

use dataplane::crypto::{
    AesKeyLen, Cipher, CryptoError, CryptoOp, EngineKind, Integ, OpStatus, SaCipher, SaKeys,
    Transform, WorkerCrypto,
};

/// Region sizes of the brief (rounded up to the transform's block length).
const REGION_SIZES: [usize; 5] = [4, 16, 64, 1424, 9000];
const SPI: [u8; 4] = [0xde, 0xad, 0xbe, 0xef];
const SEQ_HI: u32 = 0x0102_0304;
const SEQ_LO: u32 = 0x1122_3344;

fn all_transforms() -> Vec<Transform> {
    let keys = [AesKeyLen::Aes128, AesKeyLen::Aes192, AesKeyLen::Aes256];
    let integs =
        [Integ::HmacSha1_96, Integ::HmacSha256_128, Integ::HmacSha384_192, Integ::HmacSha512_256];
    let mut v = Vec::new();
    for key in keys {
        for icv_len in [8, 12, 16] {
            v.push(Transform::new(Cipher::AesGcm { key, icv_len }, Integ::None).unwrap());
        }
        v.push(Transform::new(Cipher::AesGmac(key), Integ::None).unwrap());
        for integ in integs {
            v.push(Transform::new(Cipher::AesCbc(key), integ).unwrap());
            v.push(Transform::new(Cipher::AesCtr(key), integ).unwrap());
        }
    }
    v.push(Transform::new(Cipher::ChaCha20Poly1305, Integ::None).unwrap());
    for integ in integs {
        v.push(Transform::new(Cipher::Null, integ).unwrap());
    }
    v
}

/// Deterministic key material of the right lengths, different per transform.
fn keys_for(t: Transform) -> SaKeys {
    let seed = t.enc_key_len() as u8 ^ (t.icv_len() as u8).rotate_left(3);
    let enc: Vec<u8> = (0..t.enc_key_len()).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect();
    let auth: Vec<u8> = (0..t.auth_key_len()).map(|i| (i as u8).wrapping_mul(13) ^ 0x5c).collect();
    SaKeys::new(&enc, &auth)
}

fn engines() -> Vec<EngineKind> {
    let v: Vec<EngineKind> = EngineKind::ALL.into_iter().filter(|e| e.available()).collect();
    if cfg!(feature = "ipsec-mb") {
        assert!(v.contains(&EngineKind::IpsecMb), "feature ipsec-mb on, engine unavailable");
    }
    v
}

fn sa(engine: EngineKind, t: Transform) -> Option<SaCipher> {
    match SaCipher::with_iv_key(engine, t, &keys_for(t), &[0x42; 16]) {
        Ok(sa) => Some(sa),
        Err(CryptoError::Unsupported { .. }) => None,
        Err(e) => panic!("{t} on {engine:?}: {e}"),
    }
}

/// A plaintext ESP packet with a zeroed IV and ICV slot.
fn packet(t: Transform, region_len: usize, fill: u8) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + t.iv_len() + region_len + t.icv_len());
    p.extend_from_slice(&SPI);
    p.extend_from_slice(&SEQ_LO.to_be_bytes());
    p.resize(8 + t.iv_len(), 0);
    p.extend((0..region_len).map(|i| (i as u8).wrapping_add(fill)));
    p.resize(p.len() + t.icv_len(), 0);
    p
}

fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

fn seal_one(w: &mut WorkerCrypto, sa: &SaCipher, buf: &mut [u8], esn: bool) -> OpStatus {
    let mut ops = [CryptoOp::new(sa, buf, SEQ_HI, esn)];
    w.seal_burst(&mut ops);
    ops[0].status
}

fn open_one(
    w: &mut WorkerCrypto,
    sa: &SaCipher,
    buf: &mut [u8],
    seq_hi: u32,
    esn: bool,
) -> OpStatus {
    let mut ops = [CryptoOp::new(sa, buf, seq_hi, esn)];
    w.open_burst(&mut ops);
    ops[0].status
}

/// Positions to corrupt: every byte of short packets, a spread over long ones, always
/// including the first and last byte of header, IV, region and ICV.
fn tamper_positions(len: usize, t: Transform) -> Vec<usize> {
    let mut v: Vec<usize> =
        if len <= 200 { (0..len).collect() } else { (0..len).step_by(97).collect() };
    let iv_end = 8 + t.iv_len();
    let icv_start = len - t.icv_len();
    v.extend([0, 3, 4, 7, 8, iv_end.saturating_sub(1), iv_end, icv_start - 1, icv_start, len - 1]);
    v.sort_unstable();
    v.dedup();
    v
}

/// Test names carry `crypto::` so that `cargo test -p dataplane crypto` selects them.
mod crypto {
    use super::*;

    #[test]
    fn every_transform_round_trips_on_every_engine() {
        let mut w = WorkerCrypto::new();
        let mut runs = 0;
        for engine in engines() {
            for t in all_transforms() {
                let Some(sa) = sa(engine, t) else { continue };
                assert_eq!((sa.transform(), sa.engine()), (t, engine));
                for esn in [false, true] {
                    for size in REGION_SIZES.map(|s| round_up(s, t.block_len())) {
                        let plain = packet(t, size, 3);
                        let mut buf = plain.clone();
                        let st = seal_one(&mut w, &sa, &mut buf, esn);
                        assert_eq!(st, OpStatus::Ok, "{t} {engine:?}");
                        let region = 8 + t.iv_len()..plain.len() - t.icv_len();
                        if t.encrypts() {
                            assert_ne!(buf[region.clone()], plain[region.clone()], "{t}: clear");
                        } else {
                            assert_eq!(buf[region.clone()], plain[region.clone()], "{t}: changed");
                        }
                        assert_ne!(buf[region.end..], plain[region.end..], "{t}: no ICV");
                        let sealed = buf.clone();
                        assert_eq!(open_one(&mut w, &sa, &mut buf, SEQ_HI, esn), OpStatus::Ok);
                        assert_eq!(
                            buf[..region.start],
                            sealed[..region.start],
                            "header/IV changed"
                        );
                        assert_eq!(buf[region.clone()], plain[region], "{t} {engine:?} {size}");
                        runs += 1;
                    }
                }
            }
        }
        assert!(runs >= all_transforms().len() * 2 * REGION_SIZES.len());
    }

    #[test]
    fn counter_mode_ivs_are_the_64_bit_sequence_number_and_cbc_ivs_are_not() {
        let mut w = WorkerCrypto::new();
        let seq64 = (u64::from(SEQ_HI) << 32) | u64::from(SEQ_LO);
        for engine in engines() {
            for t in all_transforms() {
                let Some(sa) = sa(engine, t) else { continue };
                let mut a = packet(t, round_up(16, t.block_len()), 0);
                let mut b = a.clone();
                b[7] ^= 1; // another sequence number
                assert_eq!(seal_one(&mut w, &sa, &mut a, true), OpStatus::Ok);
                assert_eq!(seal_one(&mut w, &sa, &mut b, true), OpStatus::Ok);
                let (iv_a, iv_b) = (&a[8..8 + t.iv_len()], &b[8..8 + t.iv_len()]);
                match t.iv_len() {
                    8 => assert_eq!(iv_a, seq64.to_be_bytes(), "{t}"),
                    16 => {
                        assert_ne!(iv_a, iv_b, "{t}: CBC IV repeats");
                        assert_ne!(iv_a[..8], seq64.to_be_bytes(), "{t}: CBC IV predictable");
                    }
                    _ => assert!(iv_a.is_empty()),
                }
            }
        }
    }

    #[test]
    fn cbc_iv_keys_drawn_at_install_differ_between_sas() {
        let t = Transform::new(Cipher::AesCbc(AesKeyLen::Aes128), Integ::HmacSha256_128).unwrap();
        let mut w = WorkerCrypto::new();
        let sa1 = SaCipher::new(EngineKind::RustCrypto, t, &keys_for(t)).unwrap();
        let sa2 = SaCipher::new(EngineKind::RustCrypto, t, &keys_for(t)).unwrap();
        let mut a = packet(t, 16, 0);
        let mut b = a.clone();
        assert_eq!(seal_one(&mut w, &sa1, &mut a, false), OpStatus::Ok);
        assert_eq!(seal_one(&mut w, &sa2, &mut b, false), OpStatus::Ok);
        assert_ne!(a[8..24], b[8..24], "two SAs produced the same IV for one sequence number");
    }

    #[test]
    fn any_tampered_byte_or_wrong_esn_high_half_fails_authentication() {
        let mut w = WorkerCrypto::new();
        for engine in engines() {
            for t in all_transforms() {
                let Some(sa) = sa(engine, t) else { continue };
                for esn in [false, true] {
                    for size in [4, 64, 1424].map(|s| round_up(s, t.block_len())) {
                        let mut sealed = packet(t, size, 9);
                        assert_eq!(seal_one(&mut w, &sa, &mut sealed, esn), OpStatus::Ok);
                        for pos in tamper_positions(sealed.len(), t) {
                            let mut bad = sealed.clone();
                            bad[pos] ^= 0x80;
                            let st = open_one(&mut w, &sa, &mut bad, SEQ_HI, esn);
                            assert_eq!(st, OpStatus::AuthFailed, "{t} {engine:?} {esn} byte {pos}");
                        }
                        if esn {
                            let mut bad = sealed.clone();
                            let st = open_one(&mut w, &sa, &mut bad, SEQ_HI + 1, esn);
                            assert_eq!(st, OpStatus::AuthFailed, "{t} {engine:?}: seq_hi");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn engines_produce_byte_identical_packets() {
        let engines = engines();
        let mut w = WorkerCrypto::new();
        let mut compared = 0;
        for t in all_transforms() {
            let sas: Vec<SaCipher> = engines.iter().filter_map(|&e| sa(e, t)).collect();
            for esn in [false, true] {
                for size in REGION_SIZES.map(|s| round_up(s, t.block_len())) {
                    let outputs: Vec<Vec<u8>> = sas
                        .iter()
                        .map(|sa| {
                            let mut buf = packet(t, size, 1);
                            assert_eq!(seal_one(&mut w, sa, &mut buf, esn), OpStatus::Ok);
                            buf
                        })
                        .collect();
                    for pair in outputs.windows(2) {
                        assert!(pair[0] == pair[1], "{t} esn={esn} size={size}: engines differ");
                        compared += 1;
                    }
                    // What one engine sealed, the other opens.
                    if let [a, b] = &sas[..] {
                        let mut buf = outputs[0].clone();
                        assert_eq!(open_one(&mut w, b, &mut buf, SEQ_HI, esn), OpStatus::Ok);
                        let mut buf = outputs[1].clone();
                        assert_eq!(open_one(&mut w, a, &mut buf, SEQ_HI, esn), OpStatus::Ok);
                    }
                }
            }
        }
        if engines.len() > 1 {
            assert!(compared > all_transforms().len(), "only {compared} comparisons");
        }
    }

    #[test]
    fn bad_lengths_give_bad_length_and_never_panic() {
        let mut w = WorkerCrypto::new();
        for engine in engines() {
            for t in all_transforms() {
                let Some(sa) = sa(engine, t) else { continue };
                let min = 8 + t.iv_len() + t.icv_len();
                for len in 0..min + 3 * t.block_len() + 1 {
                    let region = len.checked_sub(min);
                    let valid = region.is_some_and(|r| r > 0 && r % t.block_len() == 0);
                    let want = if valid { OpStatus::Ok } else { OpStatus::BadLength };
                    let mut buf = vec![0xa5; len];
                    let st = seal_one(&mut w, &sa, &mut buf, true);
                    assert_eq!(st, want, "{t} {engine:?} seal len {len}");
                    if !valid {
                        assert!(buf.iter().all(|&b| b == 0xa5), "{t}: BadLength packet touched");
                    }
                    let st = open_one(&mut w, &sa, &mut buf, SEQ_HI, true);
                    assert_eq!(st, want, "{t} {engine:?} open len {len}");
                }
            }
        }
    }

    #[test]
    fn mixed_bursts_of_sas_and_engines_longer_than_a_batch() {
        let engines = engines();
        let sas: Vec<SaCipher> = all_transforms()
            .into_iter()
            .flat_map(|t| engines.iter().filter_map(move |&e| sa(e, t)))
            .collect();
        let mut w = WorkerCrypto::new();
        // 3 packets per SA, interleaved, plus one bad length in the middle.
        let mut bufs: Vec<(usize, Vec<u8>)> = Vec::new();
        for round in 0..3 {
            for (i, sa) in sas.iter().enumerate() {
                let t = sa.transform();
                bufs.push((i, packet(t, round_up(40 + round * 100, t.block_len()), round as u8)));
            }
        }
        bufs.insert(bufs.len() / 2, (0, vec![0; 5]));
        let plains: Vec<Vec<u8>> = bufs.iter().map(|(_, b)| b.clone()).collect();
        let mut ops: Vec<CryptoOp<'_>> = bufs
            .iter_mut()
            .enumerate()
            .map(|(k, (i, b))| CryptoOp::new(&sas[*i], b, SEQ_HI, k % 2 == 0))
            .collect();
        assert!(ops.len() > 64, "longer than one ipsec-mb batch");
        w.seal_burst(&mut ops);
        let bad = ops.iter().filter(|o| o.status == OpStatus::BadLength).count();
        assert_eq!(bad, 1);
        assert!(ops.iter().all(|o| matches!(o.status, OpStatus::Ok | OpStatus::BadLength)));
        for op in ops.iter_mut() {
            op.status = OpStatus::Pending;
        }
        // Corrupt the last packet's ICV: only it may fail.
        let victim = ops.len() - 1;
        let last = ops[victim].esp.len() - 1;
        ops[victim].esp[last] ^= 1;
        w.open_burst(&mut ops);
        for (k, op) in ops.iter().enumerate() {
            let want = match k {
                _ if op.esp.len() == 5 => OpStatus::BadLength,
                _ if k == victim => OpStatus::AuthFailed,
                _ => OpStatus::Ok,
            };
            assert_eq!(op.status, want, "op {k} ({})", op.sa.transform());
            if want == OpStatus::Ok {
                let t = op.sa.transform();
                let r = 8 + t.iv_len()..op.esp.len() - t.icv_len();
                assert_eq!(op.esp[r.clone()], plains[k][r], "op {k} not restored");
            }
        }
    }

    #[test]
    fn key_length_errors_engine_names_and_redacted_debug() {
        let t = Transform::new(Cipher::AesGcm { key: AesKeyLen::Aes256, icv_len: 16 }, Integ::None)
            .unwrap();
        let e = SaCipher::new(EngineKind::RustCrypto, t, &SaKeys::new(&[0; 32], &[])).unwrap_err();
        assert_eq!(e, CryptoError::KeyLength { expected: 36, got: 32 });
        let t = Transform::new(Cipher::AesCbc(AesKeyLen::Aes128), Integ::HmacSha1_96).unwrap();
        let keys = SaKeys::new(&[0; 16], &[0; 16]);
        let e = SaCipher::new(EngineKind::RustCrypto, t, &keys).unwrap_err();
        assert_eq!(e, CryptoError::AuthKeyLength { expected: 20, got: 16 });
        assert!(EngineKind::RustCrypto.available());
        assert!(EngineKind::best_available().available());
        assert_eq!(EngineKind::RustCrypto.name(), "rustcrypto");
        assert_eq!(EngineKind::IpsecMb.name(), "ipsec-mb");
        assert_ne!(EngineKind::RustCrypto.code_path(), "unavailable");
        let keys = SaKeys::new(&[0xab, 0xcd, 0xef], &[0x99]);
        let shown = format!("{keys:?}");
        assert!(!shown.contains("171") && shown.contains("redacted"), "{shown}");
        let sa = SaCipher::new_best(t, &keys_for(t)).unwrap();
        assert_eq!(sa.engine(), EngineKind::best_available());
        assert!(!format!("{sa:?}").contains("keys"), "{sa:?}");
    }

    #[test]
    fn sa_cipher_is_send_sync_and_worker_is_send() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<SaCipher>();
        send::<WorkerCrypto>();
    }
}

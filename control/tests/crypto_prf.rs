//! PRF and integrity known-answer tests for `control::crypto`.
//!
//! Vectors: RFC 2202 §2-3 (HMAC-MD5, HMAC-SHA-1), RFC 4868 §2.7.1 (PRF-HMAC-SHA2) and §2.7.2
//! (AUTH-HMAC-SHA2 with full-length keys, truncated), RFC 3566 §4.6 (AES-XCBC-MAC) and
//! RFC 4434 §4 (AES-XCBC-PRF-128 key lengths). All were cross-checked with Python's `hmac`
//! and `cryptography` modules when copied.

use control::crypto::{IntegAlg, IntegKey, PrfAlg, PrfError, SkError};
use hex_literal::hex;

#[test]
fn crypto_prf_hmac_rfc2202_rfc4868_prf1() {
    // RFC 2202 §2 test case 1 (MD5) and §3 test case 1 (SHA-1); RFC 4868 §2.7.1 PRF-1.
    let key20 = [0x0bu8; 20];
    let cases: [(PrfAlg, &[u8], &[u8]); 5] = [
        (PrfAlg::HmacMd5, &[0x0b; 16], &hex!("9294727a3638bb1c13f48ef8158bfc9d")),
        (PrfAlg::HmacSha1, &key20, &hex!("b617318655057264e28bc0b6fb378c8ef146be00")),
        (
            PrfAlg::HmacSha256,
            &key20,
            &hex!("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        ),
        (
            PrfAlg::HmacSha384,
            &key20,
            &hex!(
                "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c"
                "faea9ea9076ede7f4af152e8b2fa9cb6"
            ),
        ),
        (
            PrfAlg::HmacSha512,
            &key20,
            &hex!(
                "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
                "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"
            ),
        ),
    ];
    for (prf, key, want) in cases {
        let out = prf.prf(key, b"Hi There");
        assert_eq!(out.as_bytes(), want, "{prf:?}");
        assert_eq!(out.len(), prf.output_len());
        // The split form hashes the same bytes.
        assert_eq!(prf.prf_parts(key, &[b"Hi ", b"", b"There"]).as_bytes(), want);
    }
}

/// RFC 3566 §4.6 AES-XCBC-MAC-128 test cases (key 000102..0f; the PRF of RFC 4434 equals the
/// MAC for 16-byte keys) and RFC 4434 §4 for 10- and 18-byte keys.
#[test]
fn crypto_prf_aes128_xcbc_rfc3566_rfc4434() {
    let key: Vec<u8> = (0u8..16).collect();
    let msg = |n: u8| (0..n).collect::<Vec<u8>>();
    let cases: [(Vec<u8>, [u8; 16]); 7] = [
        (vec![], hex!("75f0251d528ac01c4573dfd584d79f29")),
        (msg(3), hex!("5b376580ae2f19afe7219ceef172756f")),
        (msg(16), hex!("d2a246fa349b68a79998a4394ff7a263")),
        (msg(20), hex!("47f51b4564966215b8985c63055ed308")),
        (msg(32), hex!("f54f0ec8d2b9f3d36807734bd5283fd4")),
        (msg(34), hex!("becbb3bccdb518a30677d5481fb6b4d8")),
        (vec![0u8; 1000], hex!("f0dafee895db30253761103b5d84528f")),
    ];
    let prf = PrfAlg::Aes128Xcbc;
    for (m, want) in &cases {
        assert_eq!(prf.prf(&key, m).as_bytes(), want, "len {}", m.len());
        // Feeding the message in odd pieces must not change block handling.
        let (a, b) = m.split_at(m.len() / 3);
        assert_eq!(prf.prf_parts(&key, &[a, &[], b]).as_bytes(), want, "split len {}", m.len());
    }
    let m20 = msg(20);
    let key10: Vec<u8> = (0u8..10).collect();
    assert_eq!(prf.prf(&key10, &m20).as_bytes(), hex!("0fa087af7d866e7653434e602fdde835"));
    let mut key18 = key.clone();
    key18.extend_from_slice(&[0xed, 0xcb]);
    assert_eq!(prf.prf(&key18, &m20).as_bytes(), hex!("8cd3c93ae598a9803006ffb67c40e9e4"));
}

/// prf+ is T1 | T2 | ... with T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n)
/// (RFC 7296 §2.13); checked block by block against `prf`.
#[test]
fn crypto_prf_plus_structure_and_limits() {
    for prf in PrfAlg::ALL {
        let key = [0x42u8; 32];
        let seed = b"seed data";
        let n = prf.output_len();
        let out = prf.prf_plus(&key, seed, 3 * n - 5).expect("prf+");
        assert_eq!(out.len(), 3 * n - 5);
        let t1 = prf.prf_parts(&key, &[seed, &[1]]);
        let t2 = prf.prf_parts(&key, &[t1.as_bytes(), seed, &[2]]);
        let t3 = prf.prf_parts(&key, &[t2.as_bytes(), seed, &[3]]);
        let want = [t1.as_bytes(), t2.as_bytes(), &t3.as_bytes()[..n - 5]].concat();
        assert_eq!(out.as_bytes(), want.as_slice(), "{prf:?}");
        // A shorter request is a prefix; the split seed gives the same stream.
        let short = prf.prf_plus_parts(&key, &[b"seed", b" data"], n + 1).expect("prf+");
        assert_eq!(short.as_bytes(), &want[..n + 1]);
        // 255 blocks is the most the one-octet counter allows.
        let max = prf.prf_plus_max();
        assert_eq!(max, 255 * n);
        assert_eq!(prf.prf_plus(&key, seed, max).expect("255 blocks").len(), max);
        assert_eq!(
            prf.prf_plus(&key, seed, max + 1).unwrap_err(),
            PrfError::OutputTooLong { requested: max + 1, max }
        );
        assert_eq!(prf.prf_plus(&key, seed, 0).expect("empty").len(), 0);
    }
}

#[test]
fn crypto_prf_numbers_and_lengths() {
    let table = [(1, 16), (2, 20), (4, 16), (5, 32), (6, 48), (7, 64)];
    for (id, len) in table {
        let p = PrfAlg::from_iana(id).expect("known");
        assert_eq!(p.iana(), id);
        assert_eq!(p.output_len(), len);
        assert_eq!(p.key_len(), len);
    }
    for id in [0, 3, 8, 9] {
        assert_eq!(PrfAlg::from_iana(id).unwrap_err(), PrfError::UnsupportedPrf(id));
    }
    assert!(PrfAlg::Aes128Xcbc.has_fixed_key());
    assert!(!PrfAlg::HmacSha256.has_fixed_key());
}

/// RFC 4868 §2.7.2.1-3 test case AUTH-1 (key of the hash-output length, "Hi There"),
/// truncated to the ICV length; RFC 2202 test case 5 (truncation) for SHA-1-96 and MD5-96.
#[test]
fn crypto_integ_truncated_hmac_kats() {
    /// (algorithm, key, data, ICV)
    type Case = (IntegAlg, Vec<u8>, &'static [u8], &'static [u8]);
    let cases: [Case; 5] = [
        (
            IntegAlg::HmacSha256_128,
            vec![0x0b; 32],
            b"Hi There",
            &hex!("198a607eb44bfbc69903a0f1cf2bbdc5"),
        ),
        (
            IntegAlg::HmacSha384_192,
            vec![0x0b; 48],
            b"Hi There",
            &hex!("b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee973"),
        ),
        (
            IntegAlg::HmacSha512_256,
            vec![0x0b; 64],
            b"Hi There",
            &hex!("637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8"),
        ),
        (
            IntegAlg::HmacSha1_96,
            vec![0x0c; 20],
            b"Test With Truncation",
            &hex!("4c1a03424b55e07fe7f27be1"),
        ),
        (
            IntegAlg::HmacMd5_96,
            vec![0x0c; 16],
            b"Test With Truncation",
            &hex!("56461ef2342edc00f9bab995"),
        ),
    ];
    for (alg, key, data, want) in cases {
        assert_eq!(alg.icv_len(), want.len(), "{alg:?}");
        let k = IntegKey::new(alg, &key).expect("key");
        assert_eq!(k.compute(&[data]), want, "{alg:?}");
        let (a, b) = data.split_at(3);
        assert_eq!(k.compute(&[a, b]), want, "{alg:?} split");
        assert_eq!(k.verify(&[data], want), Ok(()));
        let mut bad = want.to_vec();
        bad[want.len() - 1] ^= 0x80;
        assert_eq!(k.verify(&[data], &bad), Err(SkError::IcvMismatch));
        assert_eq!(k.verify(&[data], &want[..want.len() - 1]), Err(SkError::IcvMismatch));
        assert_eq!(k.verify(&[b"Hi there"], want), Err(SkError::IcvMismatch));
    }
}

#[test]
fn crypto_integ_numbers_and_key_lengths() {
    let table = [(1, 16, 12), (2, 20, 12), (12, 32, 16), (13, 48, 24), (14, 64, 32)];
    for (id, key_len, icv_len) in table {
        let a = IntegAlg::from_iana(id).expect("known");
        assert_eq!((a.iana(), a.key_len(), a.icv_len()), (id, key_len, icv_len));
        assert_eq!(
            IntegKey::new(a, &vec![0; key_len + 1]).unwrap_err(),
            SkError::WrongKeyLength { expected: key_len, got: key_len + 1 }
        );
    }
    assert_eq!(IntegAlg::from_iana(5).unwrap_err(), SkError::UnsupportedInteg(5));
    let k = IntegKey::new(IntegAlg::HmacSha256_128, &[7; 32]).expect("key");
    let dbg = format!("{k:?}");
    assert!(dbg.contains("redacted") && !dbg.contains("7, 7"), "{dbg}");
}

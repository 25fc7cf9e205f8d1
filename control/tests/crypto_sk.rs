//! SK (Encrypted) payload cipher tests for `control::crypto::SkCipher`.
//!
//! KATs: McGrew & Viega GCM spec test case 4 (AES-128, 20-byte AAD, 60-byte plaintext), used
//! through the RFC 5282 nonce split (salt = first 4 bytes, IV = last 8); RFC 8439 §2.8.2
//! (ChaCha20-Poly1305) through the RFC 7634 split; RFC 3602 §4 case 1 (AES-CBC) with its
//! HMAC-SHA2-256-128 ICV computed independently with the `hmac` crate.

use control::crypto::{AesKeySize, EncrAlg, GcmIcv, IntegAlg, SkCipher, SkError, strip_padding};
use hex_literal::hex;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const GCM_KEY: [u8; 16] = hex!("feffe9928665731c6d6a8f9467308308");
const GCM_NONCE: [u8; 12] = hex!("cafebabefacedbaddecaf888");
const GCM_AAD: [u8; 20] = hex!("feedfacedeadbeeffeedfacedeadbeefabaddad2");
const GCM_PT: [u8; 60] = hex!(
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
);
const GCM_CT: [u8; 60] = hex!(
    "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
    "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
);
const GCM_TAG: [u8; 16] = hex!("5bc94fbc3221a5db94fae95ae7121a47");

/// KEYMAT for an AEAD suite is key | salt (RFC 5282 §7.1); the IV is explicit.
fn gcm_tc4(icv: GcmIcv) -> SkCipher {
    let keymat = [&GCM_KEY[..], &GCM_NONCE[..4]].concat();
    SkCipher::new(EncrAlg::AesGcm(AesKeySize::Aes128, icv), None, &keymat, &[]).expect("gcm")
}

#[test]
fn crypto_sk_gcm_mcgrew_test_case_4() {
    let iv = &GCM_NONCE[4..];
    for icv in [GcmIcv::Icv16, GcmIcv::Icv12, GcmIcv::Icv8] {
        let sk = gcm_tc4(icv);
        assert_eq!(sk.iv_len(), 8);
        assert_eq!(sk.icv_len(), icv.icv_len());
        let out = sk.encrypt(&GCM_AAD, iv, &GCM_PT).expect("seal");
        // A shortened GCM tag is the leftmost bits of the full one (SP 800-38D §5.2.1.2).
        let want = [&GCM_CT[..], &GCM_TAG[..icv.icv_len()]].concat();
        assert_eq!(out, want, "{icv:?}");
        assert_eq!(sk.decrypt(&GCM_AAD, iv, &out).expect("open"), GCM_PT);
    }
}

#[test]
fn crypto_sk_chacha20_poly1305_rfc8439_2_8_2() {
    let key: Vec<u8> = (0x80u8..0xa0).collect();
    let keymat = [&key[..], &hex!("07000000")[..]].concat();
    let sk = SkCipher::new(EncrAlg::ChaCha20Poly1305, None, &keymat, &[]).expect("chacha");
    let aad = hex!("50515253c0c1c2c3c4c5c6c7");
    let iv = hex!("4041424344454647");
    let pt = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for \
               the future, sunscreen would be it.";
    let want_ct = hex!(
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
        "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
        "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
        "3ff4def08e4b7a9de576d26586cec64b6116"
    );
    let want_tag = hex!("1ae10b594f09e26a7e902ecbd0600691");
    let out = sk.encrypt(&aad, &iv, pt).expect("seal");
    assert_eq!(&out[..pt.len()], want_ct);
    assert_eq!(&out[pt.len()..], want_tag);
    assert_eq!(sk.decrypt(&aad, &iv, &out).expect("open"), pt);
}

#[test]
fn crypto_sk_aes_cbc_rfc3602_with_hmac_sha256_128() {
    let key = hex!("06a9214036b8a15b512e03d534120006");
    let iv = hex!("3dafba429d9eb430b422da802c9fac41");
    let integ_key = [0x0bu8; 32];
    let aad = b"IKE header + SK payload header";
    let sk = SkCipher::new(
        EncrAlg::AesCbc(AesKeySize::Aes128),
        Some(IntegAlg::HmacSha256_128),
        &key,
        &integ_key,
    )
    .expect("cbc");
    let out = sk.encrypt(aad, &iv, b"Single block msg").expect("seal");
    assert_eq!(&out[..16], hex!("e353779c1079aeb82708942dbe77181a"));
    // RFC 7296 §3.14: the ICV covers everything before it, IV included.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&integ_key).expect("hmac");
    mac.update(aad);
    mac.update(&iv);
    mac.update(&out[..16]);
    let full = mac.finalize().into_bytes();
    assert_eq!(&out[16..], &full[..16]);
    assert_eq!(sk.decrypt(aad, &iv, &out).expect("open"), b"Single block msg");
}

/// Every suite and key size: round trip, then each tampered field is refused and leaves the
/// buffer as it was (integrity is checked before anything is decrypted).
#[test]
fn crypto_sk_round_trip_and_tamper_all_suites() {
    let sizes = [AesKeySize::Aes128, AesKeySize::Aes192, AesKeySize::Aes256];
    let mut suites: Vec<(EncrAlg, Option<IntegAlg>)> = Vec::new();
    for s in sizes {
        for i in IntegAlg::ALL {
            suites.push((EncrAlg::AesCbc(s), Some(i)));
        }
        for icv in [GcmIcv::Icv8, GcmIcv::Icv12, GcmIcv::Icv16] {
            suites.push((EncrAlg::AesGcm(s, icv), None));
        }
    }
    suites.push((EncrAlg::ChaCha20Poly1305, None));

    for (n, (encr, integ)) in suites.into_iter().enumerate() {
        let ek: Vec<u8> = (0..encr.key_len()).map(|i| (i * 7 + n) as u8).collect();
        let ak: Vec<u8> = (0..integ.map_or(0, IntegAlg::key_len)).map(|i| (i * 3) as u8).collect();
        let sk = SkCipher::new(encr, integ, &ek, &ak).expect("suite");
        let aad = [0x2au8; 32];
        let iv: Vec<u8> = (0..sk.iv_len()).map(|i| i as u8).collect();
        let inner = b"IDi AUTH SAi2 TSi TSr payloads";
        let pad = sk.pad_len(inner.len());
        let mut pt = inner.to_vec();
        pt.extend(std::iter::repeat_n(0u8, pad));
        pt.push(pad as u8);
        assert!(pt.len().is_multiple_of(encr.block_len()));

        let out = sk.encrypt(&aad, &iv, &pt).expect("seal");
        assert_eq!(out.len(), pt.len() + sk.icv_len(), "{encr:?}");
        assert_ne!(&out[..pt.len()], pt.as_slice());
        let back = sk.decrypt(&aad, &iv, &out).expect("open");
        assert_eq!(back, pt, "{encr:?} {integ:?}");
        assert_eq!(strip_padding(&back).expect("padding"), inner);

        let (ct, icv) = out.split_at(pt.len());
        let mut bad_aad = aad;
        bad_aad[3] ^= 1;
        let mut bad_iv = iv.clone();
        bad_iv[0] ^= 1;
        let mut bad_icv = icv.to_vec();
        bad_icv[icv.len() - 1] ^= 1;
        let mut bad_ct = ct.to_vec();
        bad_ct[ct.len() / 2] ^= 1;
        for (what, a, v, c, t) in [
            ("aad", &bad_aad[..], &iv[..], ct, icv),
            ("iv", &aad[..], &bad_iv[..], ct, icv),
            ("icv", &aad[..], &iv[..], ct, &bad_icv[..]),
            ("ciphertext", &aad[..], &iv[..], &bad_ct[..], icv),
        ] {
            let mut buf = c.to_vec();
            assert_eq!(
                sk.open_in_place(a, v, &mut buf, t),
                Err(SkError::IcvMismatch),
                "{what} {encr:?} {integ:?}"
            );
            assert_eq!(buf, c, "{what}: buffer changed after a failed check");
        }
        // Truncated input is a typed error, not a panic.
        assert_eq!(
            sk.decrypt(&aad, &iv, &out[..sk.icv_len() - 1]),
            Err(SkError::Truncated(sk.icv_len() - 1))
        );
        let dbg = format!("{sk:?}");
        assert!(dbg.contains("redacted"), "{dbg}");
    }
}

#[test]
fn crypto_sk_construction_and_length_errors() {
    let cbc = EncrAlg::AesCbc(AesKeySize::Aes256);
    let gcm = EncrAlg::AesGcm(AesKeySize::Aes256, GcmIcv::Icv16);
    // CBC needs an integrity algorithm; AEAD takes none (RFC 7296 §3.3.3).
    assert_eq!(SkCipher::new(cbc, None, &[0; 32], &[]).unwrap_err(), SkError::IntegMismatch);
    assert_eq!(
        SkCipher::new(gcm, Some(IntegAlg::HmacSha256_128), &[0; 36], &[0; 32]).unwrap_err(),
        SkError::IntegMismatch
    );
    assert_eq!(SkCipher::new(gcm, None, &[0; 36], &[1]).unwrap_err(), SkError::IntegMismatch);
    // Key material lengths include the AEAD salt.
    assert_eq!(
        SkCipher::new(gcm, None, &[0; 32], &[]).unwrap_err(),
        SkError::WrongKeyLength { expected: 36, got: 32 }
    );
    assert_eq!(
        SkCipher::new(cbc, Some(IntegAlg::HmacSha256_128), &[0; 32], &[0; 31]).unwrap_err(),
        SkError::WrongKeyLength { expected: 32, got: 31 }
    );
    let sk = SkCipher::new(cbc, Some(IntegAlg::HmacSha1_96), &[0; 32], &[0; 20]).expect("cbc");
    assert_eq!(
        sk.encrypt(&[], &[0; 8], &[0; 16]).unwrap_err(),
        SkError::WrongIvLength { expected: 16, got: 8 }
    );
    assert_eq!(sk.encrypt(&[], &[0; 16], &[0; 15]).unwrap_err(), SkError::NotBlockAligned(15));
    assert_eq!(sk.decrypt(&[], &[0; 16], &[0; 12 + 17]).unwrap_err(), SkError::NotBlockAligned(17));
    let mut buf = [0u8; 16];
    assert_eq!(
        sk.seal_in_place(&[], &[0; 16], &mut buf, &mut [0; 11]),
        Err(SkError::Truncated(11))
    );
}

#[test]
fn crypto_sk_transform_numbers() {
    use AesKeySize::*;
    let ok = [
        (12, Some(128), EncrAlg::AesCbc(Aes128)),
        (12, Some(192), EncrAlg::AesCbc(Aes192)),
        (12, Some(256), EncrAlg::AesCbc(Aes256)),
        (18, Some(128), EncrAlg::AesGcm(Aes128, GcmIcv::Icv8)),
        (19, Some(192), EncrAlg::AesGcm(Aes192, GcmIcv::Icv12)),
        (20, Some(256), EncrAlg::AesGcm(Aes256, GcmIcv::Icv16)),
        (28, None, EncrAlg::ChaCha20Poly1305),
    ];
    for (id, bits, alg) in ok {
        assert_eq!(EncrAlg::from_iana(id, bits), Ok(alg));
        assert_eq!(alg.iana(), id);
        assert_eq!(alg.key_bits(), bits);
    }
    for (id, bits) in
        [(12, None), (12, Some(64)), (20, None), (28, Some(256)), (3, None), (13, Some(128))]
    {
        assert_eq!(
            EncrAlg::from_iana(id, bits),
            Err(SkError::UnsupportedEncr { id, key_bits: bits.unwrap_or(0) })
        );
    }
    assert_eq!(EncrAlg::AesGcm(Aes192, GcmIcv::Icv8).key_len(), 28);
    assert_eq!(EncrAlg::ChaCha20Poly1305.key_len(), 36);
    assert!(EncrAlg::ChaCha20Poly1305.is_aead() && !EncrAlg::AesCbc(Aes128).is_aead());
}

#[test]
fn crypto_sk_padding_helpers() {
    let cbc = SkCipher::new(
        EncrAlg::AesCbc(AesKeySize::Aes128),
        Some(IntegAlg::HmacSha1_96),
        &[1; 16],
        &[2; 20],
    )
    .expect("cbc");
    assert_eq!(cbc.pad_len(15), 0);
    assert_eq!(cbc.pad_len(16), 15);
    assert_eq!(cbc.pad_len(0), 15);
    assert_eq!(cbc.pad_len(30), 1);
    let gcm = gcm_tc4(GcmIcv::Icv16);
    assert_eq!(gcm.pad_len(37), 0);
    assert_eq!(strip_padding(&[1, 2, 3, 0]), Ok(&[1u8, 2, 3][..]));
    assert_eq!(strip_padding(&[1, 9, 9, 2]), Ok(&[1u8][..]));
    assert_eq!(strip_padding(&[9, 9, 2]), Ok(&[][..]));
    assert_eq!(strip_padding(&[9, 3]), Err(SkError::BadPadding { pad: 3, len: 2 }));
    assert_eq!(strip_padding(&[]), Err(SkError::BadPadding { pad: 0, len: 0 }));
}

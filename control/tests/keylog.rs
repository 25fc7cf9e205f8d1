//! The debugging key log (`control::keylog`): exact Wireshark `ikev2_decryption_table` and
//! `esp_sa` lines for each algorithm family.
//!
//! The expected lines follow Wireshark's UAT field lists and algorithm names
//! (`packet-isakmp.c`, `packet-esp.c`). The AES-GCM IKEv2 line is one published by another
//! exporter (Nokia SR OS key export, as loaded into Wireshark), reproduced from its keys.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use control::crypto::{
    AesKeySize, DirectionKeys, EncrAlg, GcmIcv, IkeSaKeys, IntegAlg, SecretBytes,
};
use control::keylog::{
    EspSaEntry, IkeSaEntry, KeyLog, KeyLogError, KeyLogTable, MemoryKeyLog, esp_sa_line,
    ikev2_decryption_table_line,
};
use hex_literal::hex;

/// `n` bytes counting up from `start`.
fn seq(start: u8, n: usize) -> Vec<u8> {
    (0..n).map(|i| start.wrapping_add(i as u8)).collect()
}

#[test]
fn ikev2_aes_cbc_hmac_sha256() {
    let (ei, er, ai, ar) = (seq(0x00, 32), seq(0x20, 32), seq(0x40, 32), seq(0x60, 32));
    let keys = IkeSaEntry {
        spi_i: 0x0011_2233_4455_6677,
        spi_r: 0x8899_aabb_ccdd_eeff,
        encr: EncrAlg::AesCbc(AesKeySize::Aes256),
        integ: Some(IntegAlg::HmacSha256_128),
        sk_ei: &ei,
        sk_er: &er,
        sk_ai: &ai,
        sk_ar: &ar,
    };
    let line = ikev2_decryption_table_line(&keys).unwrap();
    assert_eq!(
        line.as_str(),
        "0011223344556677,8899aabbccddeeff,\
         000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f,\
         202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f,\
         \"AES-CBC-256 [RFC3602]\",\
         404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f,\
         606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f,\
         \"HMAC_SHA2_256_128 [RFC4868]\""
    );
}

#[test]
fn ikev2_aes_gcm_matches_published_line() {
    let ei = hex!("8a6c983e7ab2e4a3b0bb4019c20e99fb134686c0");
    let er = hex!("24db145fc32cda417d48a43691f9d3a60a471585");
    let keys = IkeSaEntry {
        spi_i: 0x682f_fbd9_5345_25b7,
        spi_r: 0xb6fa_52ac_eb65_e221,
        encr: EncrAlg::AesGcm(AesKeySize::Aes128, GcmIcv::Icv16),
        integ: None,
        sk_ei: &ei,
        sk_er: &er,
        sk_ai: &[],
        sk_ar: &[],
    };
    assert_eq!(
        ikev2_decryption_table_line(&keys).unwrap().as_str(),
        "682ffbd9534525b7,b6fa52aceb65e221,8a6c983e7ab2e4a3b0bb4019c20e99fb134686c0,\
         24db145fc32cda417d48a43691f9d3a60a471585,\"AES-GCM-128 with 16 octet ICV [RFC5282]\",\
         ,,\"NONE [RFC4306]\""
    );
}

#[test]
fn ikev2_algorithm_names() {
    use AesKeySize::*;
    let cases: [(EncrAlg, Option<IntegAlg>, &str, &str); 8] = [
        (
            EncrAlg::AesCbc(Aes128),
            Some(IntegAlg::HmacSha1_96),
            "AES-CBC-128 [RFC3602]",
            "HMAC_SHA1_96 [RFC2404]",
        ),
        (
            EncrAlg::AesCbc(Aes192),
            Some(IntegAlg::HmacMd5_96),
            "AES-CBC-192 [RFC3602]",
            "HMAC_MD5_96 [RFC2403]",
        ),
        (
            EncrAlg::AesCbc(Aes256),
            Some(IntegAlg::HmacSha384_192),
            "AES-CBC-256 [RFC3602]",
            "HMAC_SHA2_384_192 [RFC4868]",
        ),
        (
            EncrAlg::AesCbc(Aes256),
            Some(IntegAlg::HmacSha512_256),
            "AES-CBC-256 [RFC3602]",
            "HMAC_SHA2_512_256 [RFC4868]",
        ),
        (
            EncrAlg::AesGcm(Aes256, GcmIcv::Icv8),
            None,
            "AES-GCM-256 with 8 octet ICV [RFC5282]",
            "NONE [RFC4306]",
        ),
        (
            EncrAlg::AesGcm(Aes192, GcmIcv::Icv12),
            None,
            "AES-GCM-192 with 12 octet ICV [RFC5282]",
            "NONE [RFC4306]",
        ),
        (
            EncrAlg::AesGcm(Aes256, GcmIcv::Icv16),
            None,
            "AES-GCM-256 with 16 octet ICV [RFC5282]",
            "NONE [RFC4306]",
        ),
        (
            EncrAlg::AesGcm(Aes128, GcmIcv::Icv8),
            None,
            "AES-GCM-128 with 8 octet ICV [RFC5282]",
            "NONE [RFC4306]",
        ),
    ];
    for (encr, integ, encr_name, integ_name) in cases {
        let keys = IkeSaEntry {
            spi_i: 1,
            spi_r: 2,
            encr,
            integ,
            sk_ei: &[0xaa],
            sk_er: &[0xbb],
            sk_ai: &[0xcc],
            sk_ar: &[0xdd],
        };
        let expect = format!(
            "0000000000000001,0000000000000002,aa,bb,\"{encr_name}\",cc,dd,\"{integ_name}\""
        );
        assert_eq!(ikev2_decryption_table_line(&keys).unwrap().as_str(), expect);
    }
}

#[test]
fn ikev2_unsupported_and_mismatched() {
    let keys = IkeSaEntry {
        spi_i: 1,
        spi_r: 2,
        encr: EncrAlg::ChaCha20Poly1305,
        integ: None,
        sk_ei: &[0; 36],
        sk_er: &[0; 36],
        sk_ai: &[],
        sk_ar: &[],
    };
    assert!(matches!(ikev2_decryption_table_line(&keys), Err(KeyLogError::Unsupported(_))));
    let cbc_without_integ = IkeSaEntry { encr: EncrAlg::AesCbc(AesKeySize::Aes128), ..keys };
    assert_eq!(
        ikev2_decryption_table_line(&cbc_without_integ).err(),
        Some(KeyLogError::IntegMismatch)
    );
    let gcm_with_integ = IkeSaEntry {
        encr: EncrAlg::AesGcm(AesKeySize::Aes128, GcmIcv::Icv16),
        integ: Some(IntegAlg::HmacSha256_128),
        ..cbc_without_integ
    };
    assert_eq!(
        ikev2_decryption_table_line(&gcm_with_integ).err(),
        Some(KeyLogError::IntegMismatch)
    );
}

#[test]
fn esp_aes_gcm_ipv4() {
    let key = hex!("40f3001f748d6428725f148fb14a3c5ec142cdc1");
    let keys = EspSaEntry {
        src: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        dst: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2)),
        spi: 0xc637_91a3,
        encr: EncrAlg::AesGcm(AesKeySize::Aes128, GcmIcv::Icv16),
        integ: None,
        encr_key: &key,
        integ_key: &[],
    };
    assert_eq!(
        esp_sa_line(&keys).unwrap().as_str(),
        "\"IPv4\",\"192.0.2.1\",\"198.51.100.2\",\"0xc63791a3\",\
         \"AES-GCM with 16 octet ICV [RFC4106]\",\"0x40f3001f748d6428725f148fb14a3c5ec142cdc1\",\
         \"NULL\",\"\""
    );
}

#[test]
fn esp_aes_cbc_hmac_ipv6() {
    let (ek, ak) = (seq(0x10, 16), seq(0x80, 32));
    let keys = EspSaEntry {
        src: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        dst: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x20)),
        spi: 0x0000_1001,
        encr: EncrAlg::AesCbc(AesKeySize::Aes128),
        integ: Some(IntegAlg::HmacSha256_128),
        encr_key: &ek,
        integ_key: &ak,
    };
    assert_eq!(
        esp_sa_line(&keys).unwrap().as_str(),
        "\"IPv6\",\"2001:db8::1\",\"2001:db8:1::20\",\"0x00001001\",\"AES-CBC [RFC3602]\",\
         \"0x101112131415161718191a1b1c1d1e1f\",\"HMAC-SHA-256-128 [RFC4868]\",\
         \"0x808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f\""
    );
}

#[test]
fn esp_algorithm_names() {
    use AesKeySize::*;
    let v4 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let cases: [(EncrAlg, Option<IntegAlg>, &str, &str); 7] = [
        (EncrAlg::AesGcm(Aes256, GcmIcv::Icv8), None, "AES-GCM with 8 octet ICV [RFC4106]", "NULL"),
        (
            EncrAlg::AesGcm(Aes192, GcmIcv::Icv12),
            None,
            "AES-GCM with 12 octet ICV [RFC4106]",
            "NULL",
        ),
        (EncrAlg::ChaCha20Poly1305, None, "ChaCha20 with Poly1305 [RFC7634]", "NULL"),
        (
            EncrAlg::AesCbc(Aes256),
            Some(IntegAlg::HmacSha1_96),
            "AES-CBC [RFC3602]",
            "HMAC-SHA-1-96 [RFC2404]",
        ),
        (
            EncrAlg::AesCbc(Aes256),
            Some(IntegAlg::HmacMd5_96),
            "AES-CBC [RFC3602]",
            "HMAC-MD5-96 [RFC2403]",
        ),
        (
            EncrAlg::AesCbc(Aes192),
            Some(IntegAlg::HmacSha384_192),
            "AES-CBC [RFC3602]",
            "HMAC-SHA-384-192 [RFC4868]",
        ),
        (
            EncrAlg::AesCbc(Aes128),
            Some(IntegAlg::HmacSha512_256),
            "AES-CBC [RFC3602]",
            "HMAC-SHA-512-256 [RFC4868]",
        ),
    ];
    for (encr, integ, encr_name, integ_name) in cases {
        let ak: &[u8] = if integ.is_some() { &[0xbb] } else { &[] };
        let keys =
            EspSaEntry { src: v4, dst: v4, spi: 1, encr, integ, encr_key: &[0xaa], integ_key: ak };
        let ak_field = if integ.is_some() { "0xbb" } else { "" };
        let expect = format!(
            "\"IPv4\",\"10.0.0.1\",\"10.0.0.1\",\"0x00000001\",\"{encr_name}\",\"0xaa\",\
             \"{integ_name}\",\"{ak_field}\""
        );
        assert_eq!(esp_sa_line(&keys).unwrap().as_str(), expect);
    }
    let mixed = EspSaEntry {
        src: v4,
        dst: IpAddr::V6(Ipv6Addr::LOCALHOST),
        spi: 1,
        encr: EncrAlg::ChaCha20Poly1305,
        integ: None,
        encr_key: &[0; 36],
        integ_key: &[],
    };
    assert_eq!(esp_sa_line(&mixed).err(), Some(KeyLogError::MixedFamilies));
    let mismatch = EspSaEntry { dst: v4, integ: Some(IntegAlg::HmacSha256_128), ..mixed };
    assert_eq!(esp_sa_line(&mismatch).err(), Some(KeyLogError::IntegMismatch));
}

#[test]
fn memory_sink_and_redaction() {
    let secret = [0x5eu8; 32];
    let ike = IkeSaEntry {
        spi_i: 0x1111,
        spi_r: 0x2222,
        encr: EncrAlg::AesGcm(AesKeySize::Aes256, GcmIcv::Icv16),
        integ: None,
        sk_ei: &secret,
        sk_er: &secret,
        sk_ai: &[],
        sk_ar: &[],
    };
    let esp = EspSaEntry {
        src: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        dst: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
        spi: 0xdead_beef,
        encr: EncrAlg::AesGcm(AesKeySize::Aes256, GcmIcv::Icv16),
        integ: None,
        encr_key: &secret,
        integ_key: &[],
    };
    let mut log = MemoryKeyLog::new();
    log.log_ike_sa(&ike).unwrap();
    log.log_esp_sa(&esp).unwrap();
    log.log_esp_sa(&EspSaEntry { src: esp.dst, dst: esp.src, spi: 0xfeed_f00d, ..esp }).unwrap();
    // An unsupported entry is refused and writes nothing.
    let chacha = IkeSaEntry { encr: EncrAlg::ChaCha20Poly1305, sk_ei: &[0; 36], ..ike };
    assert!(log.log_ike_sa(&chacha).is_err());

    let ike_lines: Vec<&str> = log.lines(KeyLogTable::Ikev2DecryptionTable).collect();
    assert_eq!(ike_lines, [ikev2_decryption_table_line(&ike).unwrap().as_str()]);
    let esp_file = log.file_contents(KeyLogTable::EspSa);
    assert_eq!(esp_file.lines().count(), 2);
    assert!(esp_file.ends_with('\n'));
    assert!(esp_file.starts_with("\"IPv4\",\"192.0.2.1\",\"192.0.2.2\",\"0xdeadbeef\","));
    assert!(esp_file.contains("\"0xfeedf00d\""));
    assert_eq!(KeyLogTable::EspSa.file_name(), "esp_sa");
    assert_eq!(KeyLogTable::Ikev2DecryptionTable.file_name(), "ikev2_decryption_table");

    // Debug never shows a key.
    let hex_key = "5e5e5e5e";
    for shown in [format!("{log:?}"), format!("{ike:?}"), format!("{esp:?}")] {
        assert!(!shown.contains(hex_key), "{shown}");
        assert!(!shown.contains("94, 94"), "{shown}");
    }
    assert!(format!("{ike:?}").contains("<redacted>"));
}

#[test]
fn entries_from_derived_keys() {
    let sb = |b: u8, n: usize| SecretBytes::from_slice(&vec![b; n]);
    let ike = IkeSaKeys {
        sk_d: sb(0xd0, 32),
        sk_ai: sb(0xa1, 20),
        sk_ar: sb(0xa2, 20),
        sk_ei: sb(0xe1, 16),
        sk_er: sb(0xe2, 16),
        sk_pi: sb(0xf1, 32),
        sk_pr: sb(0xf2, 32),
    };
    let entry = IkeSaEntry::new(
        0xa,
        0xb,
        EncrAlg::AesCbc(AesKeySize::Aes128),
        Some(IntegAlg::HmacSha1_96),
        &ike,
    );
    let e1 = "e1".repeat(16);
    let e2 = "e2".repeat(16);
    let a1 = "a1".repeat(20);
    let a2 = "a2".repeat(20);
    assert_eq!(
        ikev2_decryption_table_line(&entry).unwrap().as_str(),
        format!(
            "000000000000000a,000000000000000b,{e1},{e2},\"AES-CBC-128 [RFC3602]\",{a1},{a2},\
             \"HMAC_SHA1_96 [RFC2404]\""
        )
    );
    let dir = DirectionKeys { encr: sb(0x77, 36), integ: sb(0, 0) };
    let v4 = |d: u8| IpAddr::V4(Ipv4Addr::new(192, 0, 2, d));
    let esp = EspSaEntry::new(v4(1), v4(2), 0x1234_5678, EncrAlg::ChaCha20Poly1305, None, &dir);
    assert_eq!(
        esp_sa_line(&esp).unwrap().as_str(),
        format!(
            "\"IPv4\",\"192.0.2.1\",\"192.0.2.2\",\"0x12345678\",\
             \"ChaCha20 with Poly1305 [RFC7634]\",\"0x{}\",\"NULL\",\"\"",
            "77".repeat(36)
        )
    );
}

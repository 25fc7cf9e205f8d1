//! Diffie-Hellman known-answer and validation tests for `control::crypto`.
//!
//! Vectors: RFC 5903 §8.1-8.3 (groups 19, 20, 21; also cross-checked with Python
//! `cryptography`), RFC 7748 §6.1 (X25519). MODP has no published IKE vectors: both sides
//! must agree, public values must have the modulus length and the range checks must hold.

use control::crypto::{DhError, DhGroup, WeakGroups};
use hex_literal::hex;
use rand_core::{Infallible, TryCryptoRng, TryRng};
use sha2::{Digest, Sha256};

/// Deterministic test RNG: SHA-256(seed || counter) blocks. Not for production use.
struct TestRng {
    seed: [u8; 32],
    counter: u64,
}

impl TestRng {
    fn new(tag: &str) -> Self {
        TestRng { seed: Sha256::digest(tag.as_bytes()).into(), counter: 0 }
    }
}

impl TryRng for TestRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(32) {
            let mut h = Sha256::new();
            h.update(self.seed);
            h.update(self.counter.to_be_bytes());
            self.counter += 1;
            let block = h.finalize();
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
        Ok(())
    }
}

impl TryCryptoRng for TestRng {}

fn cat(a: &[u8], b: &[u8]) -> Vec<u8> {
    [a, b].concat()
}

/// Runs one RFC 5903 §8 vector: both public values and g^ir from both sides.
fn ecp_kat(group: DhGroup, i: &[u8], gi: &[u8], r: &[u8], gr: &[u8], gir_x: &[u8]) {
    let pi = group.private_from_bytes(i, WeakGroups::Reject).expect("i");
    let pr = group.private_from_bytes(r, WeakGroups::Reject).expect("r");
    assert_eq!(pi.public(), gi, "g^i of {group:?}");
    assert_eq!(pr.public(), gr, "g^r of {group:?}");
    assert_eq!(pi.public().len(), group.public_len());
    let s_i = pi.shared_secret(pr.public()).expect("initiator g^ir");
    let s_r = pr.shared_secret(pi.public()).expect("responder g^ir");
    // RFC 5903 §7: g^ir is the x coordinate only.
    assert_eq!(s_i.as_bytes(), gir_x, "g^ir of {group:?}");
    assert_eq!(s_r.as_bytes(), gir_x);
    assert_eq!(s_i.as_bytes().len(), group.shared_len());
}

#[test]
fn crypto_ecp256_rfc5903_8_1() {
    ecp_kat(
        DhGroup::Ecp256,
        &hex!("C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433"),
        &cat(
            &hex!("DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180"),
            &hex!("5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3"),
        ),
        &hex!("C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53"),
        &cat(
            &hex!("D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63"),
            &hex!("56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB"),
        ),
        &hex!("D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE"),
    );
}

#[test]
fn crypto_ecp384_rfc5903_8_2() {
    ecp_kat(
        DhGroup::Ecp384,
        &hex!(
            "099F3C7034D4A2C699884D73A375A67F7624EF7C6B3C0F160647B67414DCE655"
            "E35B538041E649EE3FAEF896783AB194"
        ),
        &cat(
            &hex!(
                "667842D7D180AC2CDE6F74F37551F55755C7645C20EF73E31634FE72B4C55EE6"
                "DE3AC808ACB4BDB4C88732AEE95F41AA"
            ),
            &hex!(
                "9482ED1FC0EEB9CAFC4984625CCFC23F65032149E0E144ADA024181535A0F38E"
                "EB9FCFF3C2C947DAE69B4C634573A81C"
            ),
        ),
        &hex!(
            "41CB0779B4BDB85D47846725FBEC3C9430FAB46CC8DC5060855CC9BDA0AA2942"
            "E0308312916B8ED2960E4BD55A7448FC"
        ),
        &cat(
            &hex!(
                "E558DBEF53EECDE3D3FCCFC1AEA08A89A987475D12FD950D83CFA41732BC509D"
                "0D1AC43A0336DEF96FDA41D0774A3571"
            ),
            &hex!(
                "DCFBEC7AACF3196472169E838430367F66EEBE3C6E70C416DD5F0C68759DD1FF"
                "F83FA40142209DFF5EAAD96DB9E6386C"
            ),
        ),
        &hex!(
            "11187331C279962D93D604243FD592CB9D0A926F422E47187521287E7156C5C4"
            "D603135569B9E9D09CF5D4A270F59746"
        ),
    );
}

#[test]
fn crypto_ecp521_rfc5903_8_3() {
    ecp_kat(
        DhGroup::Ecp521,
        &hex!(
            "0037ADE9319A89F4DABDB3EF411AACCCA5123C61ACAB57B5393DCE47608172A0"
            "95AA85A30FE1C2952C6771D937BA9777F5957B2639BAB072462F68C27A57382D"
            "4A52"
        ),
        &cat(
            &hex!(
                "0015417E84DBF28C0AD3C278713349DC7DF153C897A1891BD98BAB4357C9ECBE"
                "E1E3BF42E00B8E380AEAE57C2D107564941885942AF5A7F4601723C4195D176C"
                "ED3E"
            ),
            &hex!(
                "017CAE20B6641D2EEB695786D8C946146239D099E18E1D5A514C739D7CB4A10A"
                "D8A788015AC405D7799DC75E7B7D5B6CF2261A6A7F1507438BF01BEB6CA3926F"
                "9582"
            ),
        ),
        &hex!(
            "0145BA99A847AF43793FDD0E872E7CDFA16BE30FDC780F97BCCC3F078380201E"
            "9C677D600B343757A3BDBF2A3163E4C2F869CCA7458AA4A4EFFC311F5CB15168"
            "5EB9"
        ),
        &cat(
            &hex!(
                "00D0B3975AC4B799F5BEA16D5E13E9AF971D5E9B984C9F39728B5E5739735A21"
                "9B97C356436ADC6E95BB0352F6BE64A6C2912D4EF2D0433CED2B6171640012D9"
                "460F"
            ),
            &hex!(
                "015C68226383956E3BD066E797B623C27CE0EAC2F551A10C2C724D9852077B87"
                "220B6536C5C408A1D2AEBB8E86D678AE49CB57091F4732296579AB44FCD17F0F"
                "C56A"
            ),
        ),
        &hex!(
            "01144C7D79AE6956BC8EDB8E7C787C4521CB086FA64407F97894E5E6B2D79B04"
            "D1427E73CA4BAA240A34786859810C06B3C715A3A8CC3151F2BEE417996D19F3"
            "DDEA"
        ),
    );
}

#[test]
fn crypto_x25519_rfc7748_6_1() {
    let a = DhGroup::Curve25519
        .private_from_bytes(
            &hex!("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"),
            WeakGroups::Reject,
        )
        .expect("alice");
    let b = DhGroup::Curve25519
        .private_from_bytes(
            &hex!("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"),
            WeakGroups::Reject,
        )
        .expect("bob");
    assert_eq!(
        a.public(),
        hex!("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    );
    assert_eq!(
        b.public(),
        hex!("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    );
    let k = hex!("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    assert_eq!(a.shared_secret(b.public()).expect("alice K").as_bytes(), k);
    assert_eq!(b.shared_secret(a.public()).expect("bob K").as_bytes(), k);
}

/// RFC 8031 §2.3 / RFC 7748 §6.1: a low-order peer point gives the all-zero secret, which
/// must be refused. u = 0 and u = 1 are such points.
#[test]
fn crypto_x25519_rejects_low_order_points() {
    let mut rng = TestRng::new("x25519 low order");
    let me = DhGroup::Curve25519.generate(&mut rng, WeakGroups::Reject).expect("gen");
    let mut one = [0u8; 32];
    one[0] = 1;
    assert_eq!(me.shared_secret(&[0u8; 32]).unwrap_err(), DhError::LowOrderPoint);
    assert_eq!(me.shared_secret(&one).unwrap_err(), DhError::LowOrderPoint);
    assert!(matches!(
        me.shared_secret(&[9u8; 31]),
        Err(DhError::WrongPublicLength { group: 31, expected: 32, got: 31 })
    ));
}

#[test]
fn crypto_ecp_rejects_bad_points() {
    let mut rng = TestRng::new("ecp bad points");
    for group in [DhGroup::Ecp256, DhGroup::Ecp384, DhGroup::Ecp521] {
        let me = group.generate(&mut rng, WeakGroups::Reject).expect("gen");
        let peer = group.generate(&mut rng, WeakGroups::Reject).expect("gen");
        let n = group.public_len();
        // Wrong length, including the SEC1 form with its 0x04 prefix.
        let mut sec1 = vec![0x04];
        sec1.extend_from_slice(peer.public());
        assert!(matches!(
            me.shared_secret(&sec1),
            Err(DhError::WrongPublicLength { got, .. }) if got == n + 1
        ));
        assert!(matches!(
            me.shared_secret(&peer.public()[1..]),
            Err(DhError::WrongPublicLength { .. })
        ));
        // Off the curve: flip a bit of y.
        let mut off = peer.public().to_vec();
        off[n - 1] ^= 1;
        assert_eq!(me.shared_secret(&off).unwrap_err(), DhError::InvalidPoint, "{group:?}");
        // The identity has no affine x || y form; all zeros is not on these curves.
        assert_eq!(me.shared_secret(&vec![0u8; n]).unwrap_err(), DhError::InvalidPoint);
        // A coordinate >= p: all ones.
        assert_eq!(me.shared_secret(&vec![0xffu8; n]).unwrap_err(), DhError::InvalidPoint);
        // And the genuine value works from both sides.
        let a = me.shared_secret(peer.public()).expect("valid");
        let b = peer.shared_secret(me.public()).expect("valid");
        assert_eq!(a.as_bytes(), b.as_bytes());
    }
}

#[test]
fn crypto_ecp_private_import_range() {
    // Zero and the group order n are not valid scalars (P-256 n, FIPS 186-4 D.1.2.3).
    let n = hex!("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");
    assert_eq!(
        DhGroup::Ecp256.private_from_bytes(&[0u8; 32], WeakGroups::Reject).unwrap_err(),
        DhError::InvalidPrivateKey
    );
    assert_eq!(
        DhGroup::Ecp256.private_from_bytes(&n, WeakGroups::Reject).unwrap_err(),
        DhError::InvalidPrivateKey
    );
    assert_eq!(
        DhGroup::Ecp256.private_from_bytes(&[1u8; 31], WeakGroups::Reject).unwrap_err(),
        DhError::InvalidPrivateKey
    );
}

/// Group 14 both ways: same secret, modulus-length values (a handful of exchanges only:
/// bignum code is slow in debug builds).
#[test]
fn crypto_modp2048_both_sides_agree() {
    let mut rng = TestRng::new("modp 2048");
    let g = DhGroup::Modp2048;
    let a = g.generate(&mut rng, WeakGroups::Reject).expect("a");
    let b = g.generate(&mut rng, WeakGroups::Reject).expect("b");
    assert_eq!(a.public().len(), 256);
    assert_eq!(b.public().len(), 256);
    assert_ne!(a.public(), b.public());
    let sa = a.shared_secret(b.public()).expect("a side");
    let sb = b.shared_secret(a.public()).expect("b side");
    assert_eq!(sa.as_bytes(), sb.as_bytes());
    assert_eq!(sa.as_bytes().len(), g.shared_len());
}

/// A known small exponent makes the public value checkable by hand: 2^x mod p = 2^x when
/// 2^x < p, so x = 2047 gives the big-endian value with only the top bit set, and x = 9
/// gives 0x0200 left-padded to 256 bytes.
#[test]
fn crypto_modp_known_small_exponents() {
    let g = DhGroup::Modp2048;
    let nine = g.private_from_bytes(&[9], WeakGroups::Reject).expect("x = 9");
    let mut want = vec![0u8; 256];
    want[254] = 0x02;
    assert_eq!(nine.public(), want.as_slice());
    // (2^9)^9 = 2^81, also below p.
    let nine_b = g.private_from_bytes(&[0, 9], WeakGroups::Reject).expect("x = 9 padded");
    let s = nine.shared_secret(nine_b.public()).expect("shared");
    let mut want81 = vec![0u8; 256];
    want81[256 - 11] = 0x02; // 2^81 = 2 * 2^80, byte 10 from the end
    assert_eq!(s.as_bytes(), want81.as_slice());
}

#[test]
fn crypto_modp_rejects_out_of_range_peer_values() {
    let mut rng = TestRng::new("modp range");
    // The weak 768-bit group keeps this fast; the check is the same code for every group.
    let g = DhGroup::Modp768;
    let me = g.generate(&mut rng, WeakGroups::Allow).expect("gen");
    let n = g.public_len();
    let mut one = vec![0u8; n];
    one[n - 1] = 1;
    let p_hex = concat!(
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
        "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
        "4FE1356D6D51C245E485B576625E7EC6F44C42E9A63A3620FFFFFFFFFFFFFFFF",
    );
    let p: Vec<u8> =
        (0..n).map(|i| u8::from_str_radix(&p_hex[2 * i..2 * i + 2], 16).expect("hex")).collect();
    let mut p_minus_1 = p.clone();
    p_minus_1[n - 1] -= 1;
    let mut p_minus_2 = p.clone();
    p_minus_2[n - 1] -= 2;
    for (what, y) in [
        ("0", vec![0u8; n]),
        ("1", one),
        ("p-1", p_minus_1),
        ("p", p.clone()),
        ("2^768-1", vec![0xffu8; n]),
    ] {
        assert_eq!(me.shared_secret(&y).unwrap_err(), DhError::PublicOutOfRange, "y = {what}");
    }
    // p-2 is in range (and 2 is the generator).
    assert!(me.shared_secret(&p_minus_2).is_ok());
    let mut two = vec![0u8; n];
    two[n - 1] = 2;
    assert!(me.shared_secret(&two).is_ok());
    // Length must equal the modulus length exactly (RFC 7296 §3.4), even with leading zeros.
    assert_eq!(
        me.shared_secret(&two[1..]).unwrap_err(),
        DhError::WrongPublicLength { group: 1, expected: 96, got: 95 }
    );
    let mut long = vec![0u8];
    long.extend_from_slice(&two);
    assert!(matches!(me.shared_secret(&long), Err(DhError::WrongPublicLength { got: 97, .. })));
}

#[test]
fn crypto_weak_groups_need_explicit_allow() {
    let mut rng = TestRng::new("weak");
    for g in [DhGroup::Modp768, DhGroup::Modp1024, DhGroup::Modp1536] {
        assert!(g.is_weak());
        assert_eq!(
            g.generate(&mut rng, WeakGroups::Reject).unwrap_err(),
            DhError::WeakGroupNotAllowed(g.iana())
        );
        assert_eq!(
            g.private_from_bytes(&[9], WeakGroups::Reject).unwrap_err(),
            DhError::WeakGroupNotAllowed(g.iana())
        );
    }
    let g = DhGroup::Modp1024;
    let a = g.generate(&mut rng, WeakGroups::Allow).expect("allowed");
    let b = g.generate(&mut rng, WeakGroups::Allow).expect("allowed");
    assert_eq!(a.public().len(), 128);
    assert_eq!(
        a.shared_secret(b.public()).expect("a").as_bytes(),
        b.shared_secret(a.public()).expect("b").as_bytes()
    );
    for g in [DhGroup::Modp2048, DhGroup::Ecp256, DhGroup::Curve25519] {
        assert!(!g.is_weak());
    }
}

#[test]
fn crypto_dh_group_numbers_and_lengths() {
    let table = [
        (1, 96, 96),
        (2, 128, 128),
        (5, 192, 192),
        (14, 256, 256),
        (15, 384, 384),
        (16, 512, 512),
        (19, 64, 32),
        (20, 96, 48),
        (21, 132, 66),
        (31, 32, 32),
    ];
    for (id, public_len, shared_len) in table {
        let g = DhGroup::from_iana(id).expect("known group");
        assert_eq!(g.iana(), id);
        assert_eq!(g.public_len(), public_len, "group {id}");
        assert_eq!(g.shared_len(), shared_len, "group {id}");
    }
    for id in [0, 3, 4, 17, 22, 24, 30, 32, 0xffff] {
        assert_eq!(DhGroup::from_iana(id).unwrap_err(), DhError::UnsupportedGroup(id));
    }
}

#[test]
fn crypto_dh_generation_is_deterministic_under_a_seeded_rng() {
    for g in [DhGroup::Ecp256, DhGroup::Ecp521, DhGroup::Curve25519] {
        let a = g.generate(&mut TestRng::new("same"), WeakGroups::Reject).expect("a");
        let b = g.generate(&mut TestRng::new("same"), WeakGroups::Reject).expect("b");
        let c = g.generate(&mut TestRng::new("other"), WeakGroups::Reject).expect("c");
        assert_eq!(a.public(), b.public());
        assert_ne!(a.public(), c.public());
    }
}

#[test]
fn crypto_dh_secrets_are_redacted_in_debug() {
    let k = hex!("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    let a = DhGroup::Curve25519.private_from_bytes(&k, WeakGroups::Reject).expect("a");
    let s = a
        .shared_secret(&hex!("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"))
        .expect("s");
    let dbg = format!("{a:?} {s:?}");
    assert!(dbg.contains("redacted"), "{dbg}");
    // Neither the scalar nor the secret appears, in any common rendering.
    for needle in ["77076d", "119, 7, 109", "4a5d9d", "74, 93, 157"] {
        assert!(!dbg.to_lowercase().contains(needle), "{dbg}");
    }
}

#[test]
fn crypto_modp_private_import_range() {
    let g = DhGroup::Modp2048;
    // 0, 1, empty, and more bits than the 320-bit exponent the group uses are refused.
    for x in [&[][..], &[0], &[1], &[0, 0, 1], &[0xff; 41]] {
        assert_eq!(
            g.private_from_bytes(x, WeakGroups::Reject).unwrap_err(),
            DhError::InvalidPrivateKey,
            "{x:?}"
        );
    }
    // Leading zero bytes do not count against the length.
    let mut padded = vec![0u8; 300];
    padded[299] = 9;
    assert!(g.private_from_bytes(&padded, WeakGroups::Reject).is_ok());
    assert!(g.private_from_bytes(&[0xff; 40], WeakGroups::Reject).is_ok());
}

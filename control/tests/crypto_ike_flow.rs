//! The crypto suite end to end, as an IKE_SA_INIT + IKE_AUTH exchange uses it: both sides
//! run Diffie-Hellman, derive SKEYSEED and the SK_* keys independently, and the initiator's
//! SK payload opens with the responder's keys (and not with the wrong direction's).

use control::crypto::keys::skeyseed;
use control::crypto::{
    AesKeySize, ChildSaKeys, DhGroup, EncrAlg, GcmIcv, IkeKeyLengths, IkeSaKeys, IntegAlg, PrfAlg,
    SkCipher, SkError, WeakGroups, strip_padding,
};

include!("support/test_rng.rs");

struct Side {
    keys: IkeSaKeys,
}

fn derive(
    group: DhGroup,
    prf: PrfAlg,
    encr: EncrAlg,
    integ: Option<IntegAlg>,
) -> (Side, Side, [u8; 32], [u8; 32]) {
    let mut rng = TestRng::new(&format!("{group:?} {prf:?} {encr:?} {integ:?}"));
    let i = group.generate(&mut rng, WeakGroups::Reject).expect("initiator KE");
    let r = group.generate(&mut rng, WeakGroups::Reject).expect("responder KE");
    let mut ni = [0u8; 32];
    let mut nr = [0u8; 32];
    rand_core::Rng::fill_bytes(&mut rng, &mut ni);
    rand_core::Rng::fill_bytes(&mut rng, &mut nr);
    let (spi_i, spi_r) = ([0x11u8; 8], [0x22u8; 8]);
    let lengths = IkeKeyLengths::for_transforms(prf, encr, integ);
    let side = |me: &control::crypto::DhPrivate, peer: &[u8]| {
        let g_ir = me.shared_secret(peer).expect("g^ir");
        let seed = skeyseed(prf, &ni, &nr, &g_ir);
        Side {
            keys: IkeSaKeys::derive(prf, &seed, &ni, &nr, &spi_i, &spi_r, lengths).expect("keys"),
        }
    };
    (side(&i, r.public()), side(&r, i.public()), ni, nr)
}

#[test]
fn crypto_ike_flow_both_sides_derive_the_same_working_keys() {
    let suites = [
        (
            DhGroup::Ecp256,
            PrfAlg::HmacSha256,
            EncrAlg::AesGcm(AesKeySize::Aes256, GcmIcv::Icv16),
            None,
        ),
        (
            DhGroup::Curve25519,
            PrfAlg::HmacSha384,
            EncrAlg::AesCbc(AesKeySize::Aes128),
            Some(IntegAlg::HmacSha384_192),
        ),
        (DhGroup::Ecp384, PrfAlg::Aes128Xcbc, EncrAlg::ChaCha20Poly1305, None),
        (
            DhGroup::Modp2048,
            PrfAlg::HmacSha1,
            EncrAlg::AesCbc(AesKeySize::Aes256),
            Some(IntegAlg::HmacSha1_96),
        ),
    ];
    for (group, prf, encr, integ) in suites {
        let (ini, res, ni, nr) = derive(group, prf, encr, integ);
        for (a, b) in [
            (&ini.keys.sk_d, &res.keys.sk_d),
            (&ini.keys.sk_ei, &res.keys.sk_ei),
            (&ini.keys.sk_ar, &res.keys.sk_ar),
            (&ini.keys.sk_pr, &res.keys.sk_pr),
        ] {
            assert_eq!(a.as_bytes(), b.as_bytes());
        }
        assert_ne!(ini.keys.sk_ei.as_bytes(), ini.keys.sk_er.as_bytes());

        // Initiator seals with SK_ei/SK_ai; responder opens with the same direction's keys.
        let k = &ini.keys;
        let tx = SkCipher::new(encr, integ, k.sk_ei.as_bytes(), k.sk_ai.as_bytes()).expect("tx");
        let k = &res.keys;
        let rx = SkCipher::new(encr, integ, k.sk_ei.as_bytes(), k.sk_ai.as_bytes()).expect("rx");
        let wrong =
            SkCipher::new(encr, integ, k.sk_er.as_bytes(), k.sk_ar.as_bytes()).expect("r2i");
        let header = [0x5au8; 32];
        let iv = vec![7u8; tx.iv_len()];
        let inner = b"IDi | AUTH | SAi2 | TSi | TSr";
        let mut pt = inner.to_vec();
        let pad = tx.pad_len(inner.len());
        pt.extend(std::iter::repeat_n(0, pad));
        pt.push(pad as u8);
        let wire = tx.encrypt(&header, &iv, &pt).expect("seal");
        let opened = rx.decrypt(&header, &iv, &wire).expect("open");
        assert_eq!(strip_padding(&opened).expect("pad"), inner, "{group:?} {encr:?}");
        assert_eq!(wrong.decrypt(&header, &iv, &wire), Err(SkError::IcvMismatch));

        // The first Child SA's keys agree too (RFC 7296 §2.17, IKE_SA_INIT nonces).
        let a = ChildSaKeys::derive(prf, &ini.keys.sk_d, None, &ni, &nr, 36, 0).expect("a");
        let b = ChildSaKeys::derive(prf, &res.keys.sk_d, None, &ni, &nr, 36, 0).expect("b");
        assert_eq!(
            a.responder_to_initiator.encr.as_bytes(),
            b.responder_to_initiator.encr.as_bytes()
        );
    }
}

/// The larger MODP groups agree as well (one exchange each: debug-build bignum is slow).
#[test]
fn crypto_ike_flow_modp_1536_3072_4096_agree() {
    let mut rng = TestRng::new("modp big");
    for (g, weak) in [
        (DhGroup::Modp1536, WeakGroups::Allow),
        (DhGroup::Modp3072, WeakGroups::Reject),
        (DhGroup::Modp4096, WeakGroups::Reject),
    ] {
        let a = g.generate(&mut rng, weak).expect("a");
        let b = g.generate(&mut rng, weak).expect("b");
        let sa = a.shared_secret(b.public()).expect("a side");
        let sb = b.shared_secret(a.public()).expect("b side");
        assert_eq!(sa.as_bytes(), sb.as_bytes(), "{g:?}");
        assert_eq!(sa.as_bytes().len(), g.shared_len());
        assert_eq!(a.public().len(), g.public_len());
    }
}

use core::time::Duration;

use super::*;
use crate::ikev1::wire::{esp_id, p2attr};

fn p1(bits: u16, hash: HashAlg, auth: AuthMethod, group: DhGroup, secs: u64) -> Phase1Policy {
    Phase1Policy {
        encryption_key_bits: bits,
        hash,
        auth,
        group,
        lifetime: Duration::from_secs(secs),
    }
}

fn strong() -> Phase1Policy {
    p1(256, HashAlg::Sha256, AuthMethod::Psk, DhGroup::Modp2048, 86400)
}

fn legacy() -> Phase1Policy {
    p1(128, HashAlg::Sha1, AuthMethod::Psk, DhGroup::Modp1024, 86400)
}

fn gcm(pfs: Option<DhGroup>) -> Phase2Policy {
    Phase2Policy {
        esp_id: esp_id::ESP_AES_GCM_16,
        key_bits: Some(256),
        auth: None,
        mode: EncapMode::Tunnel,
        pfs,
        lifetime_seconds: 28800,
        lifetime_kilobytes: 4_608_000,
    }
}

fn cbc() -> Phase2Policy {
    Phase2Policy {
        esp_id: esp_id::ESP_AES_CBC,
        key_bits: Some(128),
        auth: Some(p2attr::AUTH_HMAC_SHA1),
        mode: EncapMode::Tunnel,
        pfs: None,
        lifetime_seconds: 3600,
        lifetime_kilobytes: 0,
    }
}

fn attr(t: &Transform, kind: u16) -> Option<u64> {
    t.get(kind).and_then(AttrValue::as_u64)
}

#[test]
fn auth_method_code_points_round_trip() {
    for m in [
        AuthMethod::Psk,
        AuthMethod::RsaSig,
        AuthMethod::EcdsaSig(256),
        AuthMethod::EcdsaSig(384),
        AuthMethod::EcdsaSig(521),
        AuthMethod::XauthInitPsk,
        AuthMethod::XauthRespPsk,
        AuthMethod::XauthInitRsa,
        AuthMethod::XauthRespRsa,
    ] {
        let v = m.p1attr().unwrap();
        assert_eq!(AuthMethod::from_p1attr(v), Some(m));
    }
    assert_eq!(AuthMethod::EcdsaSig(384).p1attr(), Some(10));
    assert_eq!(AuthMethod::XauthInitPsk.p1attr(), Some(65001));
    assert_eq!(AuthMethod::EcdsaSig(100).p1attr(), None);
    assert_eq!(AuthMethod::from_p1attr(2), None, "DSS is not implemented");
    assert!(AuthMethod::XauthRespPsk.uses_psk() && !AuthMethod::XauthInitRsa.uses_psk());
}

#[test]
fn phase1_offer_is_one_isakmp_proposal_with_a_transform_per_policy() {
    let mut long = legacy();
    long.lifetime = Duration::from_secs(100_000);
    let bad = p1(256, HashAlg::Sha256, AuthMethod::EcdsaSig(100), DhGroup::Ecp256, 3600);
    let sa = phase1_offer(&[strong(), bad, long]);
    assert_eq!((sa.doi, sa.situation), (DOI_IPSEC, SIT_IDENTITY_ONLY));
    let [prop] = sa.proposals.as_slice() else { panic!("one proposal") };
    assert_eq!((prop.number, prop.protocol, prop.spi.len()), (1, protocol::ISAKMP, 0));
    assert_eq!(prop.transforms.len(), 2, "the ECDSA-100 policy has no code point");
    let t = &prop.transforms[0];
    assert_eq!((t.number, t.id), (1, KEY_IKE));
    assert_eq!(attr(t, p1attr::ENCRYPTION), Some(7));
    assert_eq!(attr(t, p1attr::KEY_LENGTH), Some(256));
    assert_eq!(attr(t, p1attr::HASH), Some(4));
    assert_eq!(attr(t, p1attr::AUTH_METHOD), Some(1));
    assert_eq!(attr(t, p1attr::GROUP), Some(14));
    assert_eq!(attr(t, p1attr::LIFE_TYPE), Some(1));
    assert_eq!(attr(t, p1attr::LIFE_DURATION), Some(86400));
    let t = &prop.transforms[1];
    assert_eq!(t.number, 2);
    assert!(matches!(t.get(p1attr::LIFE_DURATION), Some(AttrValue::Variable(v)) if v.len() == 4));
}

#[test]
fn phase1_local_priority_decides_then_the_initiators_order() {
    // The peer prefers the legacy suite; we prefer the strong one.
    let offer = phase1_offer(&[legacy(), strong()]);
    let (c, answer) = select_phase1(&offer, &[strong(), legacy()]).unwrap();
    assert_eq!(c.policy, strong());
    assert_eq!(c.transform_number, 2);
    assert_eq!(c.responder_lifetime, None);
    // The answer: the same proposal with only the chosen transform, as offered.
    assert_eq!(answer.proposals.len(), 1);
    assert_eq!(answer.proposals[0].transforms, vec![offer.proposals[0].transforms[1].clone()]);
    assert_eq!(answer.proposals[0].spi, offer.proposals[0].spi);
    // Our order reversed: legacy wins.
    let (c, _) = select_phase1(&offer, &[legacy(), strong()]).unwrap();
    assert_eq!((c.policy, c.transform_number), (legacy(), 1));
    // Two offered transforms match the same policy: the initiator's first one wins.
    let mut short = strong();
    short.lifetime = Duration::from_secs(3600);
    let offer = phase1_offer(&[short, strong()]);
    let (c, _) = select_phase1(&offer, &[strong()]).unwrap();
    assert_eq!(c.transform_number, 1);
    assert_eq!(c.policy.lifetime, Duration::from_secs(3600));
}

#[test]
fn phase1_lifetime_rules() {
    let ours = [strong()];
    // Shorter: taken as offered, nothing to announce.
    let mut peer = strong();
    peer.lifetime = Duration::from_secs(28800);
    let (c, _) = select_phase1(&phase1_offer(&[peer]), &ours).unwrap();
    assert_eq!((c.policy.lifetime.as_secs(), c.responder_lifetime), (28800, None));
    // Longer: accepted, brought down to ours, RESPONDER-LIFETIME due.
    peer.lifetime = Duration::from_secs(200_000);
    let (c, answer) = select_phase1(&phase1_offer(&[peer]), &ours).unwrap();
    assert_eq!(c.policy.lifetime.as_secs(), 86400);
    assert_eq!(c.responder_lifetime, Some(Duration::from_secs(86400)));
    assert_eq!(attr(&answer.proposals[0].transforms[0], p1attr::LIFE_DURATION), Some(200_000));
    // None offered: ours, announced.
    let mut offer = phase1_offer(&[strong()]);
    offer.proposals[0].transforms[0]
        .attributes
        .retain(|a| a.kind != p1attr::LIFE_TYPE && a.kind != p1attr::LIFE_DURATION);
    let (c, _) = select_phase1(&offer, &ours).unwrap();
    assert_eq!(c.responder_lifetime, Some(Duration::from_secs(86400)));
    // A kilobytes lifetime is understood (and has no phase-1 effect).
    let mut offer = phase1_offer(&[strong()]);
    offer.proposals[0].transforms[0].attributes.extend([
        Attribute::basic(p1attr::LIFE_TYPE, p1attr::LIFE_KILOBYTES),
        Attribute::number(p1attr::LIFE_DURATION, 1_000_000),
    ]);
    assert!(select_phase1(&offer, &ours).is_ok());
}

#[test]
fn phase1_unknown_or_malformed_attributes_make_the_transform_unacceptable() {
    let mut offer = phase1_offer(&[strong(), strong()]);
    // Transform 1 carries a PRF attribute (13): never implemented, so unacceptable.
    offer.proposals[0].transforms[0].attributes.push(Attribute::basic(13, 1));
    let (c, _) = select_phase1(&offer, &[strong()]).unwrap();
    assert_eq!(c.transform_number, 2);
    offer.proposals[0].transforms[1].attributes.push(Attribute::basic(p1attr::GROUP, 14));
    let e = select_phase1(&offer, &[strong()]).unwrap_err();
    assert!(e.0.contains("#1 (unknown attribute 13)"), "{e}");
    assert!(e.0.contains("#2 (attribute 4 repeated)"), "{e}");
    // A duration without its type, a missing group, a foreign transform ID.
    for broken in [
        |t: &mut Transform| t.attributes.retain(|a| a.kind != p1attr::LIFE_TYPE),
        |t: &mut Transform| t.attributes.retain(|a| a.kind != p1attr::GROUP),
        |t: &mut Transform| t.id = 2,
        |t: &mut Transform| t.attributes.push(Attribute::basic(p1attr::LIFE_TYPE, 3)),
    ] {
        let mut offer = phase1_offer(&[strong()]);
        broken(&mut offer.proposals[0].transforms[0]);
        assert!(select_phase1(&offer, &[strong()]).is_err());
    }
}

#[test]
fn phase1_requires_the_ipsec_doi_and_identity_only() {
    let mut offer = phase1_offer(&[strong()]);
    offer.doi = 0;
    let e = select_phase1(&offer, &[strong()]).unwrap_err();
    assert_eq!(e.to_string(), "peer offered DOI 0, not IPsec (1)");
    let mut offer = phase1_offer(&[strong()]);
    offer.situation = 2;
    assert!(select_phase1(&offer, &[strong()]).is_err());
}

#[test]
fn phase1_no_match_names_both_sides() {
    let mut peer = p1(256, HashAlg::Sha256, AuthMethod::RsaSig, DhGroup::Ecp256, 28800);
    peer.encryption_key_bits = 192;
    let e = select_phase1(&phase1_offer(&[peer]), &[strong(), legacy()]).unwrap_err();
    assert_eq!(
        e.0,
        "peer offered [#1 aes-192/sha256/group19/rsa-sig/28800s]; \
         we have [aes-256/sha256/group14/psk/86400s, aes-128/sha/group2/psk/86400s]"
    );
    // 3DES and an AES key length we do not run never match.
    let mut offer = phase1_offer(&[strong()]);
    offer.proposals[0].transforms[0].attributes[0] = Attribute::basic(p1attr::ENCRYPTION, 5);
    let e = select_phase1(&offer, &[strong()]).unwrap_err();
    assert!(e.0.starts_with("peer offered [#1 3des/sha256/group14/psk/86400s]"), "{e}");
}

#[test]
fn phase1_aes_without_key_length_is_aes_128() {
    let mut offer = phase1_offer(&[legacy()]);
    offer.proposals[0].transforms[0].attributes.retain(|a| a.kind != p1attr::KEY_LENGTH);
    let (c, answer) = select_phase1(&offer, &[legacy()]).unwrap();
    assert_eq!(c.policy.encryption_key_bits, 128);
    assert!(answer.proposals[0].transforms[0].get(p1attr::KEY_LENGTH).is_none(), "echoed");
}

#[test]
fn phase1_answer_validation() {
    let offered = [strong(), legacy()];
    let offer = phase1_offer(&offered);
    let (_, answer) = select_phase1(&offer, &[legacy()]).unwrap();
    let c = phase1_from_answer(&answer, &offered).unwrap();
    assert_eq!((c.policy, c.transform_number, c.responder_lifetime), (legacy(), 2, None));
    // A transform we never offered.
    let other = p1(256, HashAlg::Sha512, AuthMethod::Psk, DhGroup::Modp2048, 86400);
    let (_, foreign) = select_phase1(&phase1_offer(&[other]), &[other]).unwrap();
    let e = phase1_from_answer(&foreign, &offered).unwrap_err();
    assert!(e.0.contains("which we did not offer"), "{e}");
    // Two transforms, two proposals, the wrong protocol.
    assert!(phase1_from_answer(&offer, &offered).is_err());
    let mut two = answer.clone();
    let p = two.proposals[0].clone();
    two.proposals.push(p);
    assert!(phase1_from_answer(&two, &offered).is_err());
    let mut esp = answer.clone();
    esp.proposals[0].protocol = protocol::ESP;
    assert!(phase1_from_answer(&esp, &offered).is_err());
    // A shorter lifetime is taken, a longer one refused.
    let mut shorter = answer.clone();
    shorter.proposals[0].transforms[0].attributes.retain(|a| a.kind != p1attr::LIFE_DURATION);
    shorter.proposals[0].transforms[0]
        .attributes
        .push(Attribute::number(p1attr::LIFE_DURATION, 600));
    let c = phase1_from_answer(&shorter, &offered).unwrap();
    assert_eq!(c.policy.lifetime.as_secs(), 600);
    let mut longer = shorter;
    longer.proposals[0].transforms[0].attributes.pop();
    longer.proposals[0].transforms[0]
        .attributes
        .push(Attribute::number(p1attr::LIFE_DURATION, 90_000));
    assert!(phase1_from_answer(&longer, &offered).is_err());
}

#[test]
fn phase2_offer_carries_both_lifetimes_pfs_and_encapsulation() {
    let sa = phase2_offer(0x1122_3344, &[gcm(Some(DhGroup::Ecp256)), cbc()], NatEncap::None);
    let [prop] = sa.proposals.as_slice() else { panic!("one proposal") };
    assert_eq!((prop.number, prop.protocol), (1, protocol::ESP));
    assert_eq!(prop.spi, vec![0x11, 0x22, 0x33, 0x44]);
    let t = &prop.transforms[0];
    assert_eq!((t.number, t.id), (1, esp_id::ESP_AES_GCM_16));
    let lifes: Vec<(u16, Option<u64>)> =
        t.attributes.iter().map(|a| (a.kind, a.value.as_u64())).take(4).collect();
    assert_eq!(
        lifes,
        vec![
            (p2attr::LIFE_TYPE, Some(1)),
            (p2attr::LIFE_DURATION, Some(28800)),
            (p2attr::LIFE_TYPE, Some(2)),
            (p2attr::LIFE_DURATION, Some(4_608_000)),
        ]
    );
    assert_eq!(attr(t, p2attr::GROUP), Some(19));
    assert_eq!(attr(t, p2attr::ENCAP_MODE), Some(1));
    assert_eq!(attr(t, p2attr::AUTH_ALG), None, "GCM has no AUTH_ALG");
    assert_eq!(attr(t, p2attr::KEY_LENGTH), Some(256));
    let t = &prop.transforms[1];
    assert_eq!(t.number, 2);
    assert_eq!(t.attributes.iter().filter(|a| a.kind == p2attr::LIFE_TYPE).count(), 1);
    assert_eq!(attr(t, p2attr::GROUP), None);
    assert_eq!(attr(t, p2attr::AUTH_ALG), Some(2));
}

#[test]
fn nat_encapsulation_numbers() {
    use EncapMode::*;
    let cases = [
        (NatEncap::None, Tunnel, 1),
        (NatEncap::None, Transport, 2),
        (NatEncap::Rfc3947, Tunnel, 3),
        (NatEncap::Rfc3947, Transport, 4),
        (NatEncap::Draft, Tunnel, 61443),
        (NatEncap::Draft, Transport, 61444),
    ];
    for (nat, mode, v) in cases {
        assert_eq!(nat.encap_mode(mode), v);
        assert_eq!(NatEncap::from_encap_mode(v), Some((mode, nat)));
        let mut p = cbc();
        p.mode = mode;
        let offer = phase2_offer(1, &[p], nat);
        assert_eq!(attr(&offer.proposals[0].transforms[0], p2attr::ENCAP_MODE), Some(v.into()));
        // The responder accepts either family whatever it detected, records and echoes it.
        for detected in [false, true] {
            let (c, answer) = select_phase2(&offer, &[p], 9, detected).unwrap();
            assert_eq!(c.nat, nat);
            assert_eq!(
                attr(&answer.proposals[0].transforms[0], p2attr::ENCAP_MODE),
                Some(v.into())
            );
            let back = phase2_from_answer(&answer, &[p]).unwrap();
            assert_eq!((back.nat, back.peer_spi), (nat, 9));
        }
    }
    assert_eq!(NatEncap::from_encap_mode(5), None);
    // Offered in both families: the one matching what NAT-D found wins.
    let mut offer = phase2_offer(1, &[cbc()], NatEncap::None);
    let udp = phase2_offer(1, &[cbc()], NatEncap::Rfc3947).proposals[0].transforms[0].clone();
    offer.proposals[0].transforms.push(Transform { number: 2, ..udp });
    assert_eq!(select_phase2(&offer, &[cbc()], 9, true).unwrap().0.nat, NatEncap::Rfc3947);
    assert_eq!(select_phase2(&offer, &[cbc()], 9, false).unwrap().0.nat, NatEncap::None);
    // Tunnel is not transport.
    let mut transport = cbc();
    transport.mode = EncapMode::Transport;
    assert!(select_phase2(&offer, &[transport], 9, false).is_err());
}

#[test]
fn phase2_selection_by_local_priority_with_our_spi_in_the_answer() {
    let offer = phase2_offer(0xaaaa_0001, &[cbc(), gcm(None)], NatEncap::None);
    let (c, answer) = select_phase2(&offer, &[gcm(None), cbc()], 0xbbbb_0002, false).unwrap();
    assert_eq!((c.policy.esp_id, c.transform_number, c.proposal_number), (20, 2, 1));
    assert_eq!(c.peer_spi, 0xaaaa_0001);
    assert_eq!(answer.proposals[0].spi, vec![0xbb, 0xbb, 0, 2]);
    assert_eq!(answer.proposals[0].transforms, vec![offer.proposals[0].transforms[1].clone()]);
    assert_eq!(c.responder_lifetime, None, "same lifetimes");
    let back = phase2_from_answer(&answer, &[cbc(), gcm(None)]).unwrap();
    assert_eq!((back.peer_spi, back.policy), (0xbbbb_0002, gcm(None)));
}

#[test]
fn phase2_lifetimes_seconds_and_kilobytes() {
    // Peer: 86400 s and no volume limit; we: 28800 s and 4608000 kB. Both are longer than
    // ours, so the SA takes ours and the answer needs a RESPONDER-LIFETIME.
    let mut peer = gcm(None);
    (peer.lifetime_seconds, peer.lifetime_kilobytes) = (86400, 0);
    let (c, _) =
        select_phase2(&phase2_offer(1, &[peer], NatEncap::None), &[gcm(None)], 2, false).unwrap();
    assert_eq!((c.policy.lifetime_seconds, c.policy.lifetime_kilobytes), (28800, 4_608_000));
    assert_eq!(c.responder_lifetime, Some((28800, 4_608_000)));
    // Peer shorter in both: taken, nothing announced.
    (peer.lifetime_seconds, peer.lifetime_kilobytes) = (3600, 1000);
    let (c, _) =
        select_phase2(&phase2_offer(1, &[peer], NatEncap::None), &[gcm(None)], 2, false).unwrap();
    assert_eq!((c.policy.lifetime_seconds, c.policy.lifetime_kilobytes), (3600, 1000));
    assert_eq!(c.responder_lifetime, None);
    // No lifetime at all: RFC 2407's 28800 s default, which equals ours; no volume limit
    // offered against our 4608000 kB: announced.
    (peer.lifetime_seconds, peer.lifetime_kilobytes) = (0, 0);
    let (c, _) =
        select_phase2(&phase2_offer(1, &[peer], NatEncap::None), &[gcm(None)], 2, false).unwrap();
    assert_eq!(c.responder_lifetime, Some((28800, 4_608_000)));
    // Ours without a volume limit: the peer's kilobytes are taken.
    let mut ours = gcm(None);
    ours.lifetime_kilobytes = 0;
    (peer.lifetime_seconds, peer.lifetime_kilobytes) = (28800, 50_000);
    let (c, _) =
        select_phase2(&phase2_offer(1, &[peer], NatEncap::None), &[ours], 2, false).unwrap();
    assert_eq!((c.policy.lifetime_kilobytes, c.responder_lifetime), (50_000, None));
    // The initiator takes a shorter answered lifetime and refuses a longer one.
    let (_, answer) =
        select_phase2(&phase2_offer(1, &[peer], NatEncap::None), &[ours], 2, false).unwrap();
    let c = phase2_from_answer(&answer, &[gcm(None)]).unwrap();
    assert_eq!((c.policy.lifetime_seconds, c.policy.lifetime_kilobytes), (28800, 50_000));
    let mut small = gcm(None);
    small.lifetime_kilobytes = 10_000;
    assert!(phase2_from_answer(&answer, &[small]).is_err());
}

#[test]
fn phase2_pfs_group_must_match() {
    let offer = phase2_offer(1, &[gcm(Some(DhGroup::Modp2048))], NatEncap::None);
    assert!(select_phase2(&offer, &[gcm(Some(DhGroup::Ecp256))], 2, false).is_err());
    assert!(select_phase2(&offer, &[gcm(None)], 2, false).is_err(), "we do not do PFS");
    let (c, _) = select_phase2(&offer, &[gcm(Some(DhGroup::Modp2048))], 2, false).unwrap();
    assert_eq!(c.policy.pfs, Some(DhGroup::Modp2048));
    let offer = phase2_offer(1, &[gcm(None)], NatEncap::None);
    let e = select_phase2(&offer, &[gcm(Some(DhGroup::Modp2048))], 2, false).unwrap_err();
    assert_eq!(
        e.0,
        "peer offered [#1.1 aes-gcm-16-256/tunnel/28800s/4608000kB]; \
         we have [aes-gcm-16-256/tunnel/group14/28800s/4608000kB]"
    );
}

#[test]
fn phase2_gcm_takes_no_auth_alg() {
    let offer = phase2_offer(1, &[gcm(None)], NatEncap::None);
    assert!(select_phase2(&offer, &[gcm(None)], 2, false).is_ok());
    let mut with_auth = offer.clone();
    with_auth.proposals[0].transforms[0]
        .attributes
        .push(Attribute::basic(p2attr::AUTH_ALG, p2attr::AUTH_HMAC_SHA2_256));
    assert!(select_phase2(&with_auth, &[gcm(None)], 2, false).is_err());
    // CBC without AUTH_ALG does not match a CBC policy with one.
    let mut no_auth = cbc();
    no_auth.auth = None;
    let offer = phase2_offer(1, &[no_auth], NatEncap::None);
    assert!(select_phase2(&offer, &[cbc()], 2, false).is_err());
}

#[test]
fn phase2_refuses_unknown_attributes_bundles_and_bad_spis() {
    let mut offer = phase2_offer(1, &[cbc(), cbc()], NatEncap::None);
    offer.proposals[0].transforms[0].attributes.push(Attribute::basic(p2attr::ESN, 1));
    let (c, _) = select_phase2(&offer, &[cbc()], 2, false).unwrap();
    assert_eq!(c.transform_number, 2, "transform 1 has ESN, which we do not know");
    offer.proposals[0].transforms[1].attributes.push(Attribute::basic(99, 1));
    let e = select_phase2(&offer, &[cbc()], 2, false).unwrap_err();
    assert!(e.0.contains("#1.1 (unknown attribute 11)"), "{e}");
    // An IPComp + ESP bundle under one number is all or nothing: refused.
    let mut bundle = phase2_offer(1, &[cbc()], NatEncap::None);
    bundle.proposals.insert(
        0,
        Proposal { number: 1, protocol: protocol::IPCOMP, spi: vec![0, 1], transforms: vec![] },
    );
    assert!(select_phase2(&bundle, &[cbc()], 2, false).is_err());
    let mut short_spi = phase2_offer(1, &[cbc()], NatEncap::None);
    short_spi.proposals[0].spi = vec![1, 2];
    assert!(select_phase2(&short_spi, &[cbc()], 2, false).is_err());
    // An unknown encapsulation mode.
    let mut odd = phase2_offer(1, &[cbc()], NatEncap::None);
    odd.proposals[0].transforms[0].attributes.retain(|a| a.kind != p2attr::ENCAP_MODE);
    assert!(select_phase2(&odd, &[cbc()], 2, false).is_ok(), "absent: host-dependent");
    odd.proposals[0].transforms[0].attributes.push(Attribute::basic(p2attr::ENCAP_MODE, 7));
    assert!(select_phase2(&odd, &[cbc()], 2, false).is_err());
}

#[test]
fn phase2_answer_must_be_a_transform_we_offered() {
    let offered = [cbc()];
    let offer = phase2_offer(1, &offered, NatEncap::None);
    let (_, answer) = select_phase2(&offer, &offered, 7, false).unwrap();
    assert!(phase2_from_answer(&answer, &offered).is_ok());
    let mut foreign = answer.clone();
    foreign.proposals[0].transforms[0].attributes.retain(|a| a.kind != p2attr::KEY_LENGTH);
    foreign.proposals[0].transforms[0].attributes.push(Attribute::basic(p2attr::KEY_LENGTH, 256));
    let e = phase2_from_answer(&foreign, &offered).unwrap_err();
    assert!(e.0.contains("which we did not offer"), "{e}");
    let mut pfs = answer.clone();
    pfs.proposals[0].transforms[0].attributes.push(Attribute::basic(p2attr::GROUP, 14));
    assert!(phase2_from_answer(&pfs, &offered).is_err());
    let mut no_spi = answer.clone();
    no_spi.proposals[0].spi.clear();
    assert!(phase2_from_answer(&no_spi, &offered).is_err());
    let mut two = answer;
    let t = two.proposals[0].transforms[0].clone();
    two.proposals[0].transforms.push(t);
    assert!(phase2_from_answer(&two, &offered).is_err());
}

#[test]
fn esp_transforms_for_the_dataplane() {
    use dataplane::crypto::{AesKeyLen, Cipher, Integ};
    let t = esp_transform(&gcm(None)).unwrap();
    assert_eq!(t.cipher(), Cipher::AesGcm { key: AesKeyLen::Aes256, icv_len: 16 });
    assert_eq!(t.integ(), Integ::None);
    let t = esp_transform(&cbc()).unwrap();
    assert_eq!((t.cipher(), t.integ()), (Cipher::AesCbc(AesKeyLen::Aes128), Integ::HmacSha1_96));
    for (auth, integ) in [
        (p2attr::AUTH_HMAC_SHA2_256, Integ::HmacSha256_128),
        (p2attr::AUTH_HMAC_SHA2_384, Integ::HmacSha384_192),
        (p2attr::AUTH_HMAC_SHA2_512, Integ::HmacSha512_256),
    ] {
        let p = Phase2Policy { auth: Some(auth), ..cbc() };
        assert_eq!(esp_transform(&p).unwrap().integ(), integ);
    }
    assert!(esp_transform(&Phase2Policy { auth: Some(p2attr::AUTH_HMAC_MD5), ..cbc() }).is_err());
    assert!(esp_transform(&Phase2Policy { auth: Some(3), ..cbc() }).is_err());
    assert!(esp_transform(&Phase2Policy { esp_id: esp_id::ESP_3DES, ..cbc() }).is_err());
    assert!(esp_transform(&Phase2Policy { auth: None, ..cbc() }).is_err(), "CBC needs an HMAC");
    let p = Phase2Policy { key_bits: None, ..cbc() };
    assert_eq!(esp_transform(&p).unwrap().cipher(), Cipher::AesCbc(AesKeyLen::Aes128));
}

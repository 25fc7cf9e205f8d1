//! The IKEv2 codec against real messages: one IKE_SA_INIT / IKE_AUTH exchange between two
//! strongSwan 5.9 charons (PSK, `aes256-sha256-x25519`), captured with tcpdump on a veth pair
//! between two throwaway network namespaces. charon logged the derived keys at `ike` level 4,
//! so the encrypted IKE_AUTH messages are checked down to their inner payloads: the SK view's
//! integrity range and ICV must verify under SK_ai / SK_ar, and its IV / ciphertext split must
//! decrypt under SK_ei / SK_er to a payload chain that parses and re-emits byte for byte.
//!
//! Both charons used kernel-libipsec, which fakes NAT detection: their NAT_DETECTION_SOURCE_IP
//! hashes are deliberately wrong, their NAT_DETECTION_DESTINATION_IP hashes are the real ones.
//! The unnamed notifies are strongSwan's usual REDIRECT_SUPPORTED (16406),
//! NO_ADDITIONAL_ADDRESSES (16399), CHILDLESS_IKEV2_SUPPORTED (16418),
//! EAP_ONLY_AUTHENTICATION (16417) and IKEV2_MESSAGE_ID_SYNC_SUPPORTED (16420).

// One module so that `cargo test -p control ikev2` selects these tests.
mod ikev2_wire {
    use std::net::{IpAddr, Ipv4Addr};

    use aes::cipher::{BlockCipherDecrypt, KeyInit};
    use control::ikev2::wire::{
        AuthMethod, DhGroup, EncrId, Encrypted, Error, ExchangeType, IdType, IntegId, Message,
        NotifyRepr, NotifyType, Payload, PayloadBody, PayloadType, Payloads, PrfId, ProtocolId,
        TrafficSelector, TransformType, emit_chain, parse_chain,
    };
    use hmac::Mac;

    /// IKE_SA_INIT request 0, 10.99.0.1:500 → 10.99.0.2:500 (240 bytes).
    const SA_INIT_REQUEST: &[&str] = &[
        "4b024b47a1dae2a000000000000000002120220800000000000000f0220000300000002c010100040300000c",
        "0100000c800e0100030000080300000c0300000802000005000000080400001f28000028001f0000a7f29e5e",
        "41c35b43ff49064e5481c232c68d38a8a70003f593d572f2f4221b1229000024a6cc3f6551dd8c99f744e4df",
        "208a839b022279298089630bf4439755fe8e39c22900001c000040040a4951a8f1153cada8677ffa665f98a2",
        "8b64c9022900001c000040055e1e3a78cccd77b9126fa33791f26614e508c04f290000080000402e29000010",
        "0000402f00020003000400050000000800004016",
    ];

    /// IKE_SA_INIT response 0, 10.99.0.2:500 → 10.99.0.1:500 (248 bytes).
    const SA_INIT_RESPONSE: &[&str] = &[
        "4b024b47a1dae2a0f2ac328cd07efab42120222000000000000000f8220000300000002c010100040300000c",
        "0100000c800e0100030000080300000c0300000802000005000000080400001f28000028001f0000a8255f06",
        "276f33e87865bc9b40ff331308db003e24eb37aec80d796fd04d997029000024571b8911bcacc3219b741758",
        "1646eda72aef15a298f4a1e77a68b562c80411bd2900001c00004004c4a49a256b38270d58e1bb2dbcddf58d",
        "8c43075d2900001c000040057eed127f7d10977f46be78d2a511225e0c9c53c6290000080000402e29000010",
        "0000402f000200030004000529000008000040220000000800004014",
    ];

    /// IKE_AUTH request 1, 10.99.0.1:4500 → 10.99.0.2:4500: non-ESP marker + 288 bytes.
    const AUTH_REQUEST: &[&str] = &[
        "000000004b024b47a1dae2a0f2ac328cd07efab42e2023080000000100000120230001047b4d346ffb93069b",
        "9776488e0e0dee5e86c4360f620f8396853b4789b44e80b25c3311a98819cfd93a01f2898404c151123d3107",
        "8e4f7f173388c8f48a26e8babfaf56dd13a547b5b1a8e35edf2ec6983938caf9b482c453bb163fa378033282",
        "53d09d78a9b690d336513ab6649946e13d4c7b2a76c7b66e92360eb9a6014df64bb553dd8bdd6e26195386c4",
        "c7215f14709ef7ce06bfe3a2f352d97ecb8985107a1e211696e8f528221c891d14d7ca2f95e70825328a3d95",
        "4e85101b5b155bc21e9ac1b0ff4d21f37c6a141e6897e365d4776466012b108009c0446fb86c7c51fb382df4",
        "3f14486ff8eef79c063c069484dce69edbb9f1253e3a26408bc361d4",
    ];

    /// IKE_AUTH response 1, 10.99.0.2:4500 → 10.99.0.1:4500: non-ESP marker + 160 bytes.
    const AUTH_RESPONSE: &[&str] = &[
        "000000004b024b47a1dae2a0f2ac328cd07efab42e20232000000001000000a024000084aaac252223a3104d",
        "0b750f1308b3fa2d01e2c65fa2dc6972b524ceb589289afe59dae1801ce041a94b7a89a3a9de92af66ab6748",
        "d12a2332603145f3db373318fb844cfcb6668eddb706a784c6269e31a395bf85aabaf3387d1abdfe54f8edcb",
        "4270735985a46d4d596962f5bbd8025449e15ef5a9f3d03da1598441570ba35e",
    ];

    /// Keys of that (throwaway) IKE SA, from charon's log.
    const SK_AI: &str = "d4c3868cdc218e0a644ca83f1f52ae0d539e0b85bc1a021974bbbd42617d756a";
    const SK_AR: &str = "ac397d1bb8cddfdae9568ef2f1df7e028e028c77d1152a7751d1f9866f259f2a";
    const SK_EI: &str = "ec955e51a4b1698e21a7631a813d1042d433d0efcac800a5e9fe288da28c3eff";
    const SK_ER: &str = "022bc1cbb99e61442489f86e05fad99965480a4f355e4ff92d3ae4d928d23899";

    /// AES-CBC: 16-byte IV (RFC 3602); HMAC-SHA2-256-128: 16-byte ICV (RFC 4868).
    const IV_LEN: usize = 16;
    const ICV_LEN: usize = 16;

    fn hex(parts: &[&str]) -> Vec<u8> {
        let s: String = parts.concat();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// Strips the 4-byte non-ESP marker of UDP port 4500 (RFC 3948 section 2.2), the caller's job.
    fn strip_marker(datagram: &[u8]) -> &[u8] {
        assert_eq!(&datagram[..4], &[0, 0, 0, 0]);
        &datagram[4..]
    }

    fn notify_types(m: &Message) -> Vec<NotifyType> {
        m.notifies().map(|n| n.notify_type).collect()
    }

    #[test]
    fn ike_sa_init_request() {
        let bytes = hex(SA_INIT_REQUEST);
        let m = Message::parse(&bytes).unwrap();
        assert_eq!(m.header.spi_i, 0x4b02_4b47_a1da_e2a0);
        assert_eq!(m.header.spi_r, 0);
        assert_eq!(m.header.exchange_type, ExchangeType::IkeSaInit);
        assert!(m.header.initiator && !m.header.response);
        assert_eq!(m.header.message_id, 0);
        assert_eq!(
            m.to_string(),
            "IKE_SA_INIT request mid=0 spi_i=4b024b47a1dae2a0 spi_r=0000000000000000 [I] \
         [SA KE No N(NAT_DETECTION_SOURCE_IP) N(NAT_DETECTION_DESTINATION_IP) \
         N(IKEV2_FRAGMENTATION_SUPPORTED) N(SIGNATURE_HASH_ALGORITHMS) N(UNKNOWN(16406))]"
        );

        let Payload::Sa(sa) = &m.payloads[0] else { panic!("SA first") };
        assert_eq!(sa.proposals.len(), 1);
        let p = &sa.proposals[0];
        assert_eq!((p.number, p.protocol, p.spi.len()), (1, ProtocolId::Ike, 0));
        let t = &p.transforms;
        assert_eq!(t.len(), 4);
        assert_eq!(
            (t[0].transform_type, EncrId::from(t[0].transform_id)),
            (TransformType::Encr, EncrId::AesCbc)
        );
        assert_eq!(t[0].key_length(), Some(256));
        assert_eq!(IntegId::from(t[1].transform_id), IntegId::HmacSha2_256_128);
        assert_eq!(PrfId::from(t[2].transform_id), PrfId::HmacSha2_256);
        assert_eq!(DhGroup::from(t[3].transform_id), DhGroup::Curve25519);

        let Payload::Ke(ke) = &m.payloads[1] else { panic!("KE second") };
        assert_eq!((ke.group, ke.data.len()), (DhGroup::Curve25519, 32));
        let Payload::Nonce(nonce) = &m.payloads[2] else { panic!("Ni third") };
        assert_eq!(nonce.data.len(), 32);

        // The destination hash is SHA-1(SPIi | SPIr=0 | 10.99.0.2 | 500); the source hash is
        // the faked one.
        let dst = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 2));
        let expected = NotifyRepr::nat_detection(
            NotifyType::NatDetectionDestinationIp,
            m.header.spi_i,
            0,
            dst,
            500,
        );
        assert_eq!(m.notify(NotifyType::NatDetectionDestinationIp), Some(&expected));
        let src = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 1));
        let real_src = NotifyRepr::nat_detection(
            NotifyType::NatDetectionSourceIp,
            m.header.spi_i,
            0,
            src,
            500,
        );
        assert_ne!(m.notify(NotifyType::NatDetectionSourceIp), Some(&real_src));

        let sha = m.notify(NotifyType::SignatureHashAlgorithms).unwrap();
        assert_eq!(sha.signature_hash_algorithms(), Some(vec![2, 3, 4, 5]));
        assert!(notify_types(&m).iter().all(|t| t.is_status()));

        // strongSwan zeroes every reserved field, so re-emission is byte-identical.
        assert_eq!(m.to_vec().unwrap(), bytes);
    }

    #[test]
    fn ike_sa_init_response() {
        let bytes = hex(SA_INIT_RESPONSE);
        let m = Message::parse(&bytes).unwrap();
        assert_eq!(m.header.spi_r, 0xf2ac_328c_d07e_fab4);
        assert!(m.header.response && !m.header.initiator);
        assert_eq!(
            notify_types(&m),
            [
                NotifyType::NatDetectionSourceIp,
                NotifyType::NatDetectionDestinationIp,
                NotifyType::Ikev2FragmentationSupported,
                NotifyType::SignatureHashAlgorithms,
                NotifyType::Unknown(16418),
                NotifyType::MultipleAuthSupported,
            ]
        );
        // The responder hashes with both SPIs; its destination is the initiator.
        let dst = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 1));
        let expected = NotifyRepr::nat_detection(
            NotifyType::NatDetectionDestinationIp,
            m.header.spi_i,
            m.header.spi_r,
            dst,
            500,
        );
        assert_eq!(m.notify(NotifyType::NatDetectionDestinationIp), Some(&expected));
        assert_eq!(m.to_vec().unwrap(), bytes);
    }

    /// Verifies the ICV, decrypts, strips the padding and returns the inner chain's bytes.
    fn open(message: &[u8], sk_a: &str, sk_e: &str) -> (PayloadType, Vec<u8>) {
        let e = Encrypted::new_checked(message).unwrap();
        assert_eq!(e.payload_type(), PayloadType::Encrypted);
        assert_eq!(e.payload_offset(), 28);

        let integrity = e.integrity_range(ICV_LEN).unwrap();
        let parts = e.split(IV_LEN, ICV_LEN).unwrap();
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&hex(&[sk_a])).unwrap();
        mac.update(&message[integrity]);
        mac.verify_truncated_left(parts.icv).expect("ICV verifies over integrity_range");

        assert_eq!(parts.ciphertext.len() % 16, 0);
        let aes = aes::Aes256::new_from_slice(&hex(&[sk_e])).unwrap();
        let mut prev = parts.iv.to_vec();
        let mut plain = Vec::new();
        for chunk in parts.ciphertext.chunks(16) {
            let mut block = aes::Block::try_from(chunk).unwrap();
            aes.decrypt_block(&mut block);
            plain.extend(block.iter().zip(&prev).map(|(a, b)| a ^ b));
            prev = chunk.to_vec();
        }
        // Padding then Pad Length (RFC 7296 section 3.14).
        let pad_len = usize::from(*plain.last().unwrap());
        plain.truncate(plain.len() - 1 - pad_len);
        (e.next_payload(), plain)
    }

    #[test]
    fn ike_auth_request() {
        let datagram = hex(AUTH_REQUEST);
        let bytes = strip_marker(&datagram);
        let m = Message::parse(bytes).unwrap();
        assert_eq!(m.header.exchange_type, ExchangeType::IkeAuth);
        assert_eq!(m.header.message_id, 1);
        assert_eq!(m.payloads.len(), 1);
        assert_eq!(m.inner_first_payload(), Some(PayloadType::IdI));
        assert_eq!(m.to_vec().unwrap(), bytes);

        let (first, plain) = open(bytes, SK_AI, SK_EI);
        assert_eq!(first, PayloadType::IdI);
        let inner = parse_chain(first, &plain).unwrap();
        let types: Vec<String> = inner.iter().map(ToString::to_string).collect();
        assert_eq!(
            types,
            [
                "IDi",
                "N(INITIAL_CONTACT)",
                "IDr",
                "AUTH",
                "SA",
                "TSi",
                "TSr",
                "N(MOBIKE_SUPPORTED)",
                "N(UNKNOWN(16399))",
                "N(MULTIPLE_AUTH_SUPPORTED)",
                "N(UNKNOWN(16417))",
                "N(UNKNOWN(16420))",
            ]
        );
        let Payload::IdI(idi) = &inner[0] else { panic!() };
        assert_eq!((idi.id_type, idi.as_text()), (IdType::Fqdn, Some("a.example.com")));
        let Payload::IdR(idr) = &inner[2] else { panic!() };
        assert_eq!(idr.as_text(), Some("b.example.com"));
        let Payload::Auth(auth) = &inner[3] else { panic!() };
        assert_eq!((auth.method, auth.data.len()), (AuthMethod::SharedKeyMic, 32));
        let Payload::Sa(sa) = &inner[4] else { panic!() };
        let p = &sa.proposals[0];
        assert_eq!((p.protocol, p.spi.len()), (ProtocolId::Esp, 4));
        assert_eq!(EncrId::from(p.transforms[0].transform_id), EncrId::AesGcm16);
        assert_eq!(p.transforms[0].key_length(), Some(128));
        let Payload::TsI(tsi) = &inner[5] else { panic!() };
        assert_eq!(
            tsi.selectors,
            [TrafficSelector::Ipv4 {
                ip_protocol: 0,
                start_port: 0,
                end_port: 65535,
                start: Ipv4Addr::new(10, 1, 0, 0),
                end: Ipv4Addr::new(10, 1, 0, 255),
            }]
        );

        // The inner chain re-emits byte for byte, and its first type is what SK names.
        let mut buf = vec![0xa5; plain.len()];
        assert_eq!(emit_chain(&inner, &mut buf).unwrap(), PayloadType::IdI);
        assert_eq!(buf, plain);
        // The IDi body as received is what AUTH signs (RFC 7296 section 2.15).
        let raw_idi = Payloads::new(first, &plain).next().unwrap().unwrap();
        assert_eq!(raw_idi.body, &idi.to_vec().unwrap()[..]);
    }

    #[test]
    fn ike_auth_response() {
        let datagram = hex(AUTH_RESPONSE);
        let bytes = strip_marker(&datagram);
        let m = Message::parse(bytes).unwrap();
        assert!(m.header.response);
        let (first, plain) = open(bytes, SK_AR, SK_ER);
        let inner = parse_chain(first, &plain).unwrap();
        let Payload::IdR(idr) = &inner[0] else { panic!() };
        assert_eq!(idr.as_text(), Some("b.example.com"));
        let Payload::Notify(no_prop) = inner.last().unwrap() else { panic!() };
        assert_eq!(no_prop.notify_type, NotifyType::NoProposalChosen);
        assert!(no_prop.notify_type.is_error());
    }

    #[test]
    fn tampering_is_caught() {
        let datagram = hex(AUTH_REQUEST);
        let mut bytes = strip_marker(&datagram).to_vec();
        // Any flipped byte of the associated data or ciphertext breaks the ICV: here the
        // Message ID.
        bytes[23] ^= 1;
        let e = Encrypted::new_checked(&bytes[..]).unwrap();
        let parts = e.split(IV_LEN, ICV_LEN).unwrap();
        let mut mac =
            <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&hex(&[SK_AI])).unwrap();
        mac.update(&bytes[e.integrity_range(ICV_LEN).unwrap()]);
        assert!(mac.verify_truncated_left(parts.icv).is_err());
    }

    #[test]
    fn every_truncation_fails() {
        for msg in [hex(SA_INIT_REQUEST), hex(SA_INIT_RESPONSE)] {
            for n in 0..msg.len() {
                assert!(Message::parse(&msg[..n]).is_err());
            }
        }
        let datagram = hex(AUTH_REQUEST);
        let bytes = strip_marker(&datagram);
        for n in 0..bytes.len() {
            assert!(Message::parse(&bytes[..n]).is_err());
            assert!(Encrypted::new_checked(&bytes[..n]).is_err());
        }
        // Left with the marker on, the "header" is garbage and fails somewhere.
        assert!(matches!(
            Message::parse(&datagram),
            Err(Error::BadLength | Error::Truncated | Error::InvalidMajorVersion(_))
        ));
    }

    fn capture(which: usize) -> Vec<u8> {
        match which {
            0 => hex(SA_INIT_REQUEST),
            1 => hex(SA_INIT_RESPONSE),
            2 => strip_marker(&hex(AUTH_REQUEST)).to_vec(),
            _ => strip_marker(&hex(AUTH_RESPONSE)).to_vec(),
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]

        /// Overwritten bytes anywhere in a real message: no panic, and whatever still parses
        /// re-emits to the same message.
        #[test]
        fn mutated_captures_never_panic(
            which in 0usize..4,
            edits in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 1..8),
        ) {
            let mut bytes = capture(which);
            for (i, b) in edits {
                let n = bytes.len();
                bytes[i % n] = b;
            }
            if let Ok(m) = Message::parse(&bytes) {
                proptest::prop_assert_eq!(Message::parse(&m.to_vec().unwrap()), Ok(m));
            }
            if let Ok(e) = Encrypted::new_checked(&bytes[..]) {
                let _ = e.split(IV_LEN, ICV_LEN);
            }
        }

        /// The same for the decrypted IKE_AUTH payload chain, which is where a peer's bytes reach
        /// the payload parsers after integrity has passed.
        #[test]
        fn mutated_inner_chain_never_panics(
            edits in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 1..8),
        ) {
            let (first, mut plain) = open(&capture(2), SK_AI, SK_EI);
            for (i, b) in edits {
                let n = plain.len();
                plain[i % n] = b;
            }
            if let Ok(inner) = parse_chain(first, &plain) {
                let mut buf = vec![0; control::ikev2::wire::chain_len(&inner)];
                // Skipped unknown payloads may change the first type: use the emitted one.
                let first_out = emit_chain(&inner, &mut buf).unwrap();
                proptest::prop_assert_eq!(parse_chain(first_out, &buf), Ok(inner));
            }
        }
    }
}

//! Property tests for the IKEv2 codec: no parser panics on arbitrary bytes or on mutations
//! of valid messages, and every generated `Repr` survives emit → parse unchanged.

// One module so that `cargo test -p control ikev2` selects these tests.
mod ikev2_wire {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use control::ikev2::wire::{
        Attribute, AttributeValue, AuthMethod, AuthRepr, CertRepr, CertReqRepr, CfgAttribute,
        CfgAttributeType, CfgType, CpRepr, DeleteRepr, EapRepr, Encrypted, ExchangeType,
        GenericPayload, Header, HeaderRepr, IdRepr, IdType, KeRepr, Message, NonceRepr, NotifyRepr,
        NotifyType, Payload, PayloadBody, PayloadType, Payloads, Proposal, ProtocolId, SaRepr,
        SkRepr, SkfRepr, TrafficSelector, Transform, TransformType, TsRepr, TsType, VendorIdRepr,
        parse_chain,
    };
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn bytes(range: std::ops::Range<usize>) -> impl Strategy<Value = Vec<u8>> {
        vec(any::<u8>(), range)
    }

    fn header() -> impl Strategy<Value = HeaderRepr> {
        (any::<u64>(), any::<u64>(), any::<u8>(), any::<[bool; 3]>(), any::<u32>()).prop_map(
            |(spi_i, spi_r, ex, [initiator, response, version_flag], message_id)| HeaderRepr {
                spi_i,
                spi_r,
                exchange_type: ExchangeType::from(ex),
                initiator,
                response,
                version_flag,
                message_id,
            },
        )
    }

    fn attribute() -> impl Strategy<Value = Attribute> {
        prop_oneof![
            any::<u16>().prop_map(Attribute::key_length),
            (0u16..0x8000, any::<u16>())
                .prop_map(|(attr_type, v)| Attribute { attr_type, value: AttributeValue::Tv(v) }),
            (0u16..0x8000, bytes(0..8)).prop_filter_map("key length is TV", |(attr_type, v)| {
                (attr_type != 14).then_some(Attribute { attr_type, value: AttributeValue::Tlv(v) })
            }),
        ]
    }

    fn transform() -> impl Strategy<Value = Transform> {
        (any::<u8>(), any::<u16>(), vec(attribute(), 0..3)).prop_map(|(t, id, attributes)| {
            Transform { transform_type: TransformType::from(t), transform_id: id, attributes }
        })
    }

    fn proposal() -> impl Strategy<Value = Proposal> {
        let protocol_spi = prop_oneof![
            prop_oneof![Just(0usize), Just(8)].prop_map(|n| (ProtocolId::Ike, n)),
            prop_oneof![Just(ProtocolId::Esp), Just(ProtocolId::Ah)].prop_map(|p| (p, 4)),
            (4u8.., prop_oneof![Just(0usize), Just(4), Just(8)])
                .prop_map(|(p, n)| (ProtocolId::from(p), n)),
        ];
        (any::<u8>(), protocol_spi, bytes(8..9), vec(transform(), 1..5)).prop_map(
            |(number, (protocol, spi_len), spi, transforms)| Proposal {
                number,
                protocol,
                spi: spi[..spi_len].to_vec(),
                transforms,
            },
        )
    }

    fn id() -> impl Strategy<Value = IdRepr> {
        (any::<u8>(), bytes(1..24)).prop_map(|(t, mut data)| {
            let id_type = IdType::from(t);
            match id_type {
                IdType::Ipv4Addr => data.resize(4, 1),
                IdType::Ipv6Addr => data.resize(16, 1),
                IdType::Null => data.clear(),
                _ => {}
            }
            IdRepr { id_type, data }
        })
    }

    fn auth() -> impl Strategy<Value = AuthRepr> {
        (any::<u8>(), bytes(1..20), bytes(1..40)).prop_map(|(m, alg, data)| {
            let method = AuthMethod::from(m);
            let algorithm_identifier = (method == AuthMethod::DigitalSignature).then_some(alg);
            AuthRepr { method, algorithm_identifier, data }
        })
    }

    fn notify() -> impl Strategy<Value = NotifyRepr> {
        (any::<u8>(), bytes(0..9), any::<u16>(), bytes(0..30)).prop_map(|(p, spi, t, mut data)| {
            let notify_type = NotifyType::from(t);
            match notify_type {
                NotifyType::NatDetectionSourceIp | NotifyType::NatDetectionDestinationIp => {
                    data.resize(20, 7)
                }
                NotifyType::Cookie if data.is_empty() => data.push(1),
                NotifyType::InvalidKePayload => data.resize(2, 0),
                NotifyType::SetWindowSize => data.resize(4, 0),
                NotifyType::UnsupportedCriticalPayload | NotifyType::InvalidMajorVersion => {
                    data.resize(1, 0)
                }
                NotifyType::SignatureHashAlgorithms => data.truncate(data.len() & !1),
                _ => {}
            }
            NotifyRepr { protocol: ProtocolId::from(p), spi, notify_type, data }
        })
    }

    fn delete() -> impl Strategy<Value = DeleteRepr> {
        prop_oneof![
            Just(DeleteRepr { protocol: ProtocolId::Ike, spis: vec![] }),
            (prop_oneof![Just(ProtocolId::Esp), Just(ProtocolId::Ah)], vec(any::<u32>(), 0..5))
                .prop_map(|(protocol, spis)| DeleteRepr { protocol, spis }),
        ]
    }

    fn ordered<T: Ord>(a: T, b: T) -> (T, T) {
        if a <= b { (a, b) } else { (b, a) }
    }

    fn ports() -> impl Strategy<Value = (u16, u16)> {
        prop_oneof![(any::<u16>(), any::<u16>()).prop_map(|(a, b)| ordered(a, b)), Just((65535, 0)),]
    }

    fn selector() -> impl Strategy<Value = TrafficSelector> {
        prop_oneof![
            (any::<u8>(), ports(), any::<u32>(), any::<u32>()).prop_map(
                |(ip_protocol, p, a, b)| {
                    let (start, end) = ordered(Ipv4Addr::from(a), Ipv4Addr::from(b));
                    TrafficSelector::Ipv4 {
                        ip_protocol,
                        start_port: p.0,
                        end_port: p.1,
                        start,
                        end,
                    }
                }
            ),
            (any::<u8>(), ports(), any::<u128>(), any::<u128>()).prop_map(
                |(ip_protocol, p, a, b)| {
                    let (start, end) = ordered(Ipv6Addr::from(a), Ipv6Addr::from(b));
                    TrafficSelector::Ipv6 {
                        ip_protocol,
                        start_port: p.0,
                        end_port: p.1,
                        start,
                        end,
                    }
                }
            ),
            (any::<u8>(), any::<u8>(), bytes(0..12)).prop_filter_map(
                "7 and 8 are address ranges",
                |(t, second_octet, data)| {
                    let ts_type = TsType::from(t);
                    (!matches!(ts_type, TsType::Ipv4AddrRange | TsType::Ipv6AddrRange))
                        .then_some(TrafficSelector::Other { ts_type, second_octet, data })
                }
            ),
        ]
    }

    fn cfg_attribute() -> impl Strategy<Value = CfgAttribute> {
        (0u16..0x8000, any::<bool>(), bytes(0..20)).prop_map(|(t, empty, mut value)| {
            let attr_type = CfgAttributeType::from(t);
            let len = match attr_type {
                CfgAttributeType::InternalIp4Address
                | CfgAttributeType::InternalIp4Netmask
                | CfgAttributeType::InternalIp4Dns
                | CfgAttributeType::InternalIp4Nbns
                | CfgAttributeType::InternalIp4Dhcp => 4,
                CfgAttributeType::InternalIp6Address | CfgAttributeType::InternalIp6Subnet => 17,
                CfgAttributeType::InternalIp6Dns | CfgAttributeType::InternalIp6Dhcp => 16,
                CfgAttributeType::InternalIp4Subnet => 8,
                CfgAttributeType::SupportedAttributes => value.len() & !1,
                _ => value.len(),
            };
            value.resize(if empty { 0 } else { len }, 3);
            CfgAttribute { attr_type, value }
        })
    }

    fn plain_payload() -> impl Strategy<Value = Payload> {
        prop_oneof![
            vec(proposal(), 1..4).prop_map(|proposals| Payload::Sa(SaRepr { proposals })),
            (any::<u16>(), bytes(1..64))
                .prop_map(|(g, data)| Payload::Ke(KeRepr { group: g.into(), data })),
            id().prop_map(Payload::IdI),
            id().prop_map(Payload::IdR),
            (any::<u8>(), bytes(1..40))
                .prop_map(|(e, data)| Payload::Cert(CertRepr { encoding: e.into(), data })),
            (any::<u8>(), bytes(0..40)).prop_map(|(e, authorities)| Payload::CertReq(
                CertReqRepr { encoding: e.into(), authorities }
            )),
            auth().prop_map(Payload::Auth),
            bytes(16..80).prop_map(|data| Payload::Nonce(NonceRepr { data })),
            notify().prop_map(Payload::Notify),
            delete().prop_map(Payload::Delete),
            bytes(0..20).prop_map(|data| Payload::VendorId(VendorIdRepr { data })),
            vec(selector(), 0..4).prop_map(|selectors| Payload::TsI(TsRepr { selectors })),
            vec(selector(), 0..4).prop_map(|selectors| Payload::TsR(TsRepr { selectors })),
            (any::<u8>(), vec(cfg_attribute(), 0..5)).prop_map(|(t, attributes)| {
                Payload::Configuration(CpRepr { cfg_type: CfgType::from(t), attributes })
            }),
            bytes(1..30).prop_map(|message| Payload::Eap(EapRepr { message })),
        ]
    }

    fn encrypted_payload() -> impl Strategy<Value = Payload> {
        prop_oneof![
            (any::<u8>(), bytes(1..50)).prop_map(|(n, data)| Payload::Encrypted(SkRepr {
                next_payload: PayloadType::from(n),
                data
            })),
            (any::<u8>(), 1u16..20, any::<u16>(), bytes(1..30)).prop_map(|(n, total, k, data)| {
                Payload::EncryptedFragment(SkfRepr {
                    next_payload: PayloadType::from(n),
                    fragment_number: 1 + k % total,
                    total_fragments: total,
                    data,
                })
            }),
        ]
    }

    fn message() -> impl Strategy<Value = Message> {
        (header(), vec(plain_payload(), 0..8), proptest::option::of(encrypted_payload())).prop_map(
            |(header, mut payloads, sk)| {
                payloads.extend(sk);
                Message { header, payloads }
            },
        )
    }

    /// A mutation of a valid message: overwrite, insert or remove a byte, or truncate.
    #[derive(Debug, Clone)]
    enum Mutation {
        Set(usize, u8),
        Insert(usize, u8),
        Remove(usize),
        Truncate(usize),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            4 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
            1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
            1 => any::<usize>().prop_map(Mutation::Remove),
            1 => any::<usize>().prop_map(Mutation::Truncate),
        ]
    }

    fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
        for m in mutations {
            let n = bytes.len().max(1);
            match *m {
                Mutation::Set(i, b) => {
                    if let Some(x) = bytes.get_mut(i % n) {
                        *x = b;
                    }
                }
                Mutation::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
                Mutation::Remove(i) => {
                    if !bytes.is_empty() {
                        bytes.remove(i % n);
                    }
                }
                Mutation::Truncate(i) => bytes.truncate(i % n),
            }
        }
        bytes
    }

    /// Runs every parser over `bytes`; none may panic. A message that parses re-emits to bytes
    /// that parse to the same message.
    fn exercise(bytes: &[u8]) {
        if let Ok(m) = Message::parse(bytes) {
            let again = m.to_vec().expect("a parsed message emits");
            assert_eq!(again.len(), m.buffer_len());
            assert_eq!(Message::parse(&again).as_ref(), Ok(&m));
            let _ = m.to_string();
        }
        if let Ok(e) = Encrypted::new_checked(bytes) {
            let _ = e.associated_data();
            for (iv, icv) in [(0, 0), (8, 16), (16, 16), (16, 32), (usize::MAX, 1)] {
                let _ = e.split(iv, icv);
                let _ = e.integrity_range(icv);
            }
        }
        if let Ok(h) = Header::new_checked(bytes) {
            let _ = h.to_string();
            let _ = HeaderRepr::parse(&h);
            for raw in Payloads::new(h.next_payload(), h.payloads()).flatten() {
                let _ = Payload::parse(&raw);
            }
        }
        let _ = GenericPayload::new_checked(bytes).map(|p| p.to_string());
        let _ = parse_chain(PayloadType::Sa, bytes);
        let _ = SaRepr::parse(bytes);
        let _ = KeRepr::parse(bytes);
        let _ = IdRepr::parse(bytes);
        let _ = CertRepr::parse(bytes);
        let _ = CertReqRepr::parse(bytes);
        let _ = AuthRepr::parse(bytes);
        let _ = NonceRepr::parse(bytes);
        let _ = NotifyRepr::parse(bytes);
        let _ = DeleteRepr::parse(bytes);
        let _ = VendorIdRepr::parse(bytes);
        let _ = TsRepr::parse(bytes);
        let _ = CpRepr::parse(bytes);
        let _ = EapRepr::parse(bytes);
        let _ = SkRepr::parse(PayloadType::IdI, bytes);
        let _ = SkfRepr::parse(PayloadType::IdI, bytes);
    }

    /// A valid IKE header announcing `chain` as its payloads, so that random chains reach the
    /// payload parsers instead of failing on the header.
    fn with_header(first: u8, chain: &[u8]) -> Vec<u8> {
        let mut m = vec![0; 28];
        m[16] = first;
        m[17] = 0x20;
        m[18] = 34;
        let len = u32::try_from(28 + chain.len()).unwrap();
        m[24..28].copy_from_slice(&len.to_be_bytes());
        m.extend_from_slice(chain);
        m
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_bytes_never_panic(data in bytes(0..400)) {
            exercise(&data);
        }

        #[test]
        fn arbitrary_chains_never_panic(first in prop_oneof![33u8..=53, any::<u8>()], chain in bytes(0..300)) {
            exercise(&with_header(first, &chain));
        }

        #[test]
        fn emit_parse_round_trip(m in message()) {
            let bytes = m.to_vec().unwrap();
            prop_assert_eq!(bytes.len(), m.buffer_len());
            prop_assert_eq!(Message::parse(&bytes), Ok(m));
        }

        #[test]
        fn mutated_messages_never_panic(m in message(), mutations in vec(mutation(), 1..6)) {
            let bytes = m.to_vec().unwrap();
            exercise(&mutate(bytes, &mutations));
        }

        #[test]
        fn short_emit_buffers_fail_cleanly(m in message(), cut in any::<usize>()) {
            let len = m.buffer_len();
            let mut buf = vec![0; cut % len];
            prop_assert!(m.emit(&mut buf).is_err());
        }
    }
}

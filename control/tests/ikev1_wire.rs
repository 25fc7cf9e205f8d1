//! The IKEv1 / ISAKMP codec: every payload type survives emit → parse unchanged and
//! re-emits to the same bytes, no input makes any parser panic (the cargo-fuzz invariant,
//! `round_trip_check`, run here on random and mutated input), truncations fail, attribute
//! encodings switch form at the right boundaries, proxy-ID ranges convert both ways, and a
//! Main Mode first message built by hand from the RFC layouts encodes byte for byte.

// One module so that `cargo test -p control ikev1_wire` selects these tests.
mod ikev1_wire {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use control::ikev1::wire::{
        AttrValue, Attribute, CertPayload, ConfigAttributes, DOI_IPSEC, Delete, ExchangeType,
        HEADER_LEN, Header, ISAKMP_VERSION, Identification, KEY_IKE, MAX_PAYLOADS, Message,
        Notification, Payload, PayloadType, Proposal, SIT_IDENTITY_ONLY, SaPayload, Transform,
        WireError, cfg, emit_payloads, flags, id_type, notify, p1attr, parse_payloads, protocol,
        round_trip_check, try_emit_payloads, vendor,
    };
    use hex_literal::hex;
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn bytes(range: std::ops::Range<usize>) -> impl Strategy<Value = Vec<u8>> {
        vec(any::<u8>(), range)
    }

    fn attribute() -> impl Strategy<Value = Attribute> {
        prop_oneof![
            (0u16..0x8000, any::<u16>()).prop_map(|(k, v)| Attribute::basic(k, v)),
            (0u16..0x8000, bytes(0..12)).prop_map(|(k, v)| Attribute::variable(k, v)),
            (0u16..0x8000, any::<u64>()).prop_map(|(k, v)| Attribute::number(k, v)),
        ]
    }

    fn transform() -> impl Strategy<Value = Transform> {
        (any::<u8>(), any::<u8>(), vec(attribute(), 0..5))
            .prop_map(|(number, id, attributes)| Transform { number, id, attributes })
    }

    fn proposal() -> impl Strategy<Value = Proposal> {
        let spi = prop_oneof![Just(0usize), Just(4), Just(16), 0usize..9];
        (any::<u8>(), any::<u8>(), spi, bytes(16..17), vec(transform(), 0..4)).prop_map(
            |(number, protocol, spi_len, spi, transforms)| Proposal {
                number,
                protocol,
                spi: spi[..spi_len].to_vec(),
                transforms,
            },
        )
    }

    fn sa() -> impl Strategy<Value = SaPayload> {
        let situation = prop_oneof![Just(SIT_IDENTITY_ONLY), any::<u32>().prop_map(|s| s & !6)];
        (any::<u32>(), situation, vec(proposal(), 0..4))
            .prop_map(|(doi, situation, proposals)| SaPayload { doi, situation, proposals })
    }

    /// The data length an address ID type fixes (RFC 2407 section 4.6.2.1).
    fn address_len(kind: u8) -> Option<usize> {
        match kind {
            1 => Some(4),
            5 => Some(16),
            4 | 7 => Some(8),
            6 | 8 => Some(32),
            _ => None,
        }
    }

    fn id() -> impl Strategy<Value = Identification> {
        let kind = prop_oneof![1u8..=11, any::<u8>()];
        (kind, any::<u8>(), any::<u16>(), bytes(0..40)).prop_map(
            |(id_type, protocol, port, mut data)| {
                if let Some(len) = address_len(id_type) {
                    data.resize(len, 0x5a);
                }
                Identification { id_type, protocol, port, data }
            },
        )
    }

    fn nat_oa() -> impl Strategy<Value = Identification> {
        (any::<bool>(), any::<u128>(), any::<u8>(), any::<u16>()).prop_map(|(v6, a, p, port)| {
            let addr = if v6 {
                IpAddr::V6(Ipv6Addr::from(a))
            } else {
                IpAddr::V4(Ipv4Addr::from(a as u32))
            };
            Identification { protocol: p, port, ..Identification::address(addr) }
        })
    }

    fn notification() -> impl Strategy<Value = Notification> {
        (any::<u32>(), any::<u8>(), bytes(0..17), any::<u16>(), bytes(0..20)).prop_map(
            |(doi, protocol, spi, kind, data)| Notification { doi, protocol, spi, kind, data },
        )
    }

    fn delete() -> impl Strategy<Value = Delete> {
        prop_oneof![
            (any::<u32>(), any::<u8>(), 1u8..=16, 0usize..5, any::<u8>()).prop_map(
                |(doi, protocol, spi_size, count, fill)| Delete {
                    doi,
                    protocol,
                    spi_size,
                    spis: (0..count).map(|i| vec![fill ^ i as u8; usize::from(spi_size)]).collect(),
                }
            ),
            (any::<u32>(), any::<u8>()).prop_map(|(doi, protocol)| Delete {
                doi,
                protocol,
                spi_size: 0,
                spis: vec![]
            }),
        ]
    }

    fn config() -> impl Strategy<Value = ConfigAttributes> {
        let attr = prop_oneof![
            attribute(),
            prop_oneof![Just(cfg::XAUTH_USER_NAME), Just(cfg::INTERNAL_IP4_ADDRESS)]
                .prop_map(|k| Attribute::variable(k, [])),
        ];
        (any::<u8>(), any::<u16>(), vec(attr, 0..6)).prop_map(|(kind, identifier, attributes)| {
            ConfigAttributes { kind, identifier, attributes }
        })
    }

    fn unknown() -> impl Strategy<Value = Payload> {
        (any::<u8>(), bytes(0..30)).prop_filter_map("types with a payload variant", |(k, body)| {
            let kind = PayloadType::from(k);
            matches!(kind, PayloadType::Unknown(_) | PayloadType::Fragment)
                .then_some(Payload::Unknown { kind, body })
        })
    }

    fn payload() -> impl Strategy<Value = Payload> {
        prop_oneof![
            sa().prop_map(Payload::Sa),
            bytes(0..64).prop_map(Payload::Ke),
            id().prop_map(Payload::Id),
            (any::<u8>(), bytes(0..40))
                .prop_map(|(encoding, data)| Payload::Cert(CertPayload { encoding, data })),
            (any::<u8>(), bytes(0..40))
                .prop_map(|(encoding, data)| Payload::CertReq(CertPayload { encoding, data })),
            bytes(0..48).prop_map(Payload::Hash),
            bytes(0..64).prop_map(Payload::Signature),
            bytes(0..64).prop_map(Payload::Nonce),
            notification().prop_map(Payload::Notify),
            delete().prop_map(Payload::Delete),
            bytes(0..24).prop_map(Payload::VendorId),
            config().prop_map(Payload::Attributes),
            bytes(0..32).prop_map(Payload::NatD),
            nat_oa().prop_map(Payload::NatOa),
            unknown(),
        ]
    }

    fn header() -> impl Strategy<Value = Header> {
        (any::<u64>(), any::<u64>(), 0x10u8..=0x1f, any::<u8>(), any::<u8>(), any::<u32>())
            .prop_map(|(initiator_cookie, responder_cookie, version, exchange, fl, message_id)| {
                Header {
                    initiator_cookie,
                    responder_cookie,
                    next_payload: PayloadType::None,
                    version,
                    exchange: ExchangeType::from(exchange),
                    flags: fl & !flags::ENCRYPTION,
                    message_id,
                    length: 0,
                }
            })
    }

    fn message() -> impl Strategy<Value = Message> {
        (header(), vec(payload(), 0..8)).prop_map(|(header, payloads)| Message { header, payloads })
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

    /// A valid plaintext header announcing `chain` as its body, so that random chains reach
    /// the payload parsers instead of failing on the header.
    fn with_header(first: u8, chain: &[u8]) -> Vec<u8> {
        let mut m = vec![0; HEADER_LEN];
        m[16] = first;
        m[17] = ISAKMP_VERSION;
        m[18] = 2;
        let len = u32::try_from(HEADER_LEN + chain.len()).unwrap();
        m[24..28].copy_from_slice(&len.to_be_bytes());
        m.extend_from_slice(chain);
        m
    }

    fn check(data: &[u8]) -> Result<(), TestCaseError> {
        round_trip_check(data).map_err(|e| TestCaseError::fail(format!("{e} on {data:02x?}")))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]

        #[test]
        fn arbitrary_bytes_hold_the_fuzz_invariant(data in bytes(0..400)) {
            check(&data)?;
        }

        #[test]
        fn arbitrary_chains_hold_the_fuzz_invariant(
            first in prop_oneof![0u8..=21, 130u8..=132, any::<u8>()],
            chain in bytes(0..300),
        ) {
            check(&with_header(first, &chain))?;
            let mut bare = vec![first];
            bare.extend_from_slice(&chain);
            check(&bare)?;
        }

        #[test]
        fn framed_random_bodies_hold_the_fuzz_invariant(
            parts in vec((prop_oneof![1u8..=14, 20u8..=21, 130u8..=132], bytes(0..48)), 1..6),
            pad in bytes(0..8),
        ) {
            // Correct generic headers around random bodies: the chain walk succeeds, so the
            // random bytes reach every body parser from inside a message.
            let mut chain = Vec::new();
            for (i, (_, body)) in parts.iter().enumerate() {
                let next = parts.get(i + 1).map_or(0, |p| p.0);
                chain.extend_from_slice(&[next, 0]);
                chain.extend_from_slice(&u16::try_from(body.len() + 4).unwrap().to_be_bytes());
                chain.extend_from_slice(body);
            }
            chain.extend_from_slice(&pad);
            check(&with_header(parts[0].0, &chain))?;
        }

        #[test]
        fn mutated_messages_hold_the_fuzz_invariant(m in message(), mutations in vec(mutation(), 1..6)) {
            let bytes = m.to_bytes();
            check(&bytes)?;
            check(&mutate(bytes.clone(), &mutations))?;
            // The chain alone (first byte = first payload type) and each body alone.
            let mut chain = vec![bytes[16]];
            chain.extend_from_slice(&bytes[HEADER_LEN..]);
            check(&mutate(chain, &mutations))?;
            for p in &m.payloads {
                check(&mutate(p.body_bytes(), &mutations))?;
            }
        }

        #[test]
        fn messages_round_trip_byte_exact(m in message()) {
            let bytes = m.to_bytes();
            prop_assert_eq!(m.try_to_bytes(), Ok(bytes.clone()));
            let parsed = Message::parse(&bytes).unwrap();
            prop_assert_eq!(&parsed.payloads, &m.payloads);
            let mut want = m.header;
            want.next_payload = m.payloads.first().map_or(PayloadType::None, Payload::kind);
            want.length = u32::try_from(bytes.len()).unwrap();
            prop_assert_eq!(parsed.header, want);
            prop_assert_eq!(parsed.to_bytes(), bytes);
        }

        #[test]
        fn every_payload_round_trips_alone(p in payload()) {
            let mut chain = Vec::new();
            let first = emit_payloads(std::slice::from_ref(&p), &mut chain);
            prop_assert_eq!(first, p.kind());
            let parsed = parse_payloads(first, &chain).unwrap();
            prop_assert_eq!(&parsed.payloads, &vec![p.clone()]);
            prop_assert_eq!(parsed.spans, vec![0..chain.len()]);
            prop_assert_eq!(Payload::parse(first, &p.body_bytes()), Ok(p));
        }

        #[test]
        fn truncations_fail(m in message()) {
            let bytes = m.to_bytes();
            for n in 0..bytes.len() {
                prop_assert!(Message::parse(&bytes[..n]).is_err(), "message cut to {}", n);
            }
            let chain = &bytes[HEADER_LEN..];
            let first = PayloadType::from(bytes[16]);
            for n in 0..chain.len() {
                prop_assert!(parse_payloads(first, &chain[..n]).is_err(), "chain cut to {}", n);
            }
        }

        #[test]
        fn padding_after_the_chain_is_ignored(m in message(), pad in bytes(0..16)) {
            let mut body = Vec::new();
            let first = emit_payloads(&m.payloads, &mut body);
            let end = body.len();
            body.extend_from_slice(&pad);
            let parsed = parse_payloads(first, &body).unwrap();
            prop_assert_eq!(parsed.end, end);
            prop_assert_eq!(parsed.payloads, m.payloads);
        }

        #[test]
        fn numbers_pick_their_form_at_the_boundaries(kind in 0u16..0x8000, v in prop_oneof![
            any::<u64>(), 0u64..=0x1_0001, 0xffff_fff0u64..=0x1_0000_0010, Just(u64::MAX),
        ]) {
            let a = Attribute::number(kind, v);
            let want_len = if v <= 0xffff { None } else if v <= 0xffff_ffff { Some(4) } else { Some(8) };
            match &a.value {
                AttrValue::Basic(b) => prop_assert_eq!((u64::from(*b), want_len), (v, None)),
                AttrValue::Variable(bytes) => prop_assert_eq!(Some(bytes.len()), want_len),
            }
            prop_assert_eq!(a.value.as_u64(), Some(v));
            prop_assert_eq!(a.encoded_len(), 4 + want_len.unwrap_or(0));
            // Through a transform and back.
            let t = Transform { number: 1, id: KEY_IKE, attributes: vec![a.clone()] };
            let sa = SaPayload {
                doi: DOI_IPSEC,
                situation: SIT_IDENTITY_ONLY,
                proposals: vec![Proposal { number: 1, protocol: 1, spi: vec![], transforms: vec![t] }],
            };
            let back = SaPayload::parse(&sa.body_bytes()).unwrap();
            prop_assert_eq!(&back.proposals[0].transforms[0].attributes[0], &a);
        }

        #[test]
        fn variable_values_of_any_length(kind in 0u16..0x8000, value in bytes(0..20)) {
            let c = ConfigAttributes {
                kind: cfg::REPLY,
                identifier: 7,
                attributes: vec![Attribute::variable(kind, value.clone())],
            };
            let back = ConfigAttributes::parse(&c.body_bytes()).unwrap();
            prop_assert_eq!(&back, &c);
            let want = (1..=8).contains(&value.len())
                .then(|| value.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)));
            prop_assert_eq!(back.attributes[0].value.as_u64(), want);
        }

        #[test]
        fn v4_ranges_convert_both_ways(a in any::<u32>(), b in any::<u32>(), proto in any::<u8>(), port in any::<u16>()) {
            let (s, e) = (a.min(b), a.max(b));
            check_range(IpAddr::V4(s.into()), IpAddr::V4(e.into()), proto, port)?;
        }

        #[test]
        fn v6_ranges_convert_both_ways(a in any::<u128>(), b in any::<u128>()) {
            let (s, e) = (a.min(b), a.max(b));
            check_range(IpAddr::V6(s.into()), IpAddr::V6(e.into()), 0, 0)?;
        }

        #[test]
        fn v4_prefixes_become_subnets(addr in any::<u32>(), len in 0u32..=32) {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            let (s, e) = (addr & mask, addr | !mask);
            let id = Identification::from_range(IpAddr::V4(s.into()), IpAddr::V4(e.into()), 0, 0).unwrap();
            let want = if len == 32 { id_type::IPV4_ADDR } else { id_type::IPV4_ADDR_SUBNET };
            prop_assert_eq!(id.id_type, want);
            if len < 32 {
                prop_assert_eq!(&id.data[4..], &mask.to_be_bytes()[..]);
            }
            check_range(IpAddr::V4(s.into()), IpAddr::V4(e.into()), 0, 0)?;
        }

        #[test]
        fn v6_prefixes_become_subnets(addr in any::<u128>(), len in 0u32..=128) {
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            let (s, e) = (addr & mask, addr | !mask);
            let id = Identification::from_range(IpAddr::V6(s.into()), IpAddr::V6(e.into()), 6, 443).unwrap();
            let want = if len == 128 { id_type::IPV6_ADDR } else { id_type::IPV6_ADDR_SUBNET };
            prop_assert_eq!(id.id_type, want);
            if len < 128 {
                prop_assert_eq!(&id.data[16..], &mask.to_be_bytes()[..]);
            }
            check_range(IpAddr::V6(s.into()), IpAddr::V6(e.into()), 6, 443)?;
        }

        #[test]
        fn subnet_ids_from_peers(addr in any::<u32>(), mask in prop_oneof![any::<u32>(), (0u32..=32).prop_map(|l| u32::MAX.checked_shl(32 - l).unwrap_or(0))]) {
            let mut data = addr.to_be_bytes().to_vec();
            data.extend_from_slice(&mask.to_be_bytes());
            let id = Identification { id_type: id_type::IPV4_ADDR_SUBNET, protocol: 0, port: 0, data };
            let contiguous = mask.leading_ones() + mask.trailing_zeros() == 32;
            match id.address_range() {
                None => prop_assert!(!contiguous),
                Some((s, e)) => {
                    prop_assert!(contiguous);
                    prop_assert_eq!((s, e), (IpAddr::V4((addr & mask).into()), IpAddr::V4((addr | !mask).into())));
                    check_range(s, e, 0, 0)?;
                }
            }
        }
    }

    /// `from_range` then `address_range` gives the range back, in the tightest form, and
    /// the ID survives its own encoding.
    fn check_range(s: IpAddr, e: IpAddr, protocol: u8, port: u16) -> Result<(), TestCaseError> {
        let id = Identification::from_range(s, e, protocol, port).unwrap();
        prop_assert_eq!(id.address_range(), Some((s, e)));
        prop_assert_eq!((id.protocol, id.port), (protocol, port));
        let single = matches!(id.id_type, id_type::IPV4_ADDR | id_type::IPV6_ADDR);
        prop_assert_eq!(single, s == e);
        prop_assert_eq!(Identification::parse(&id.body_bytes()), Ok(id.clone()));
        if s != e {
            prop_assert!(Identification::from_range(e, s, protocol, port).is_err());
        }
        Ok(())
    }

    #[test]
    fn range_edge_cases() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // /0, /32, /128 and a few non-prefix ranges.
        let all4 = Identification::from_range(ip("0.0.0.0"), ip("255.255.255.255"), 0, 0).unwrap();
        assert_eq!(all4.body_bytes(), hex!("04 00 0000 00000000 00000000"));
        let all6 = Identification::from_range(
            ip("::"),
            ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            0,
            0,
        )
        .unwrap();
        assert_eq!((all6.id_type, &all6.data[..]), (id_type::IPV6_ADDR_SUBNET, &[0u8; 32][..]));
        let host = Identification::from_range(ip("10.9.8.7"), ip("10.9.8.7"), 17, 1701).unwrap();
        assert_eq!(host.body_bytes(), hex!("01 11 06a5 0a090807"));
        let host6 = Identification::from_range(ip("2001:db8::7"), ip("2001:db8::7"), 0, 0).unwrap();
        assert_eq!(host6.id_type, id_type::IPV6_ADDR);
        let odd = Identification::from_range(ip("10.0.0.1"), ip("10.0.0.254"), 0, 0).unwrap();
        assert_eq!(odd.body_bytes(), hex!("07 00 0000 0a000001 0a0000fe"));
        let shifted = Identification::from_range(ip("10.0.0.128"), ip("10.0.1.127"), 0, 0).unwrap();
        assert_eq!(shifted.id_type, id_type::IPV4_ADDR_RANGE);
        let all_but_first =
            Identification::from_range(ip("0.0.0.1"), ip("255.255.255.255"), 0, 0).unwrap();
        assert_eq!(all_but_first.id_type, id_type::IPV4_ADDR_RANGE);
        assert_eq!(
            Identification::from_range(ip("10.0.0.1"), ip("::1"), 0, 0),
            Err(WireError::BadRange("start and end of different address families"))
        );
    }

    #[test]
    fn strict_emission_refuses_what_does_not_fit() {
        let big_spi = Payload::Notify(Notification {
            doi: 1,
            protocol: 1,
            spi: vec![0; 256],
            kind: notify::INITIAL_CONTACT,
            data: vec![],
        });
        let mut out = Vec::new();
        assert_eq!(
            try_emit_payloads(std::slice::from_ref(&big_spi), &mut out),
            Err(WireError::TooLong { what: "notification SPI", len: 256, max: 255 })
        );
        assert!(out.is_empty());
        // The clamping emitter still gives a chain that parses.
        let first = emit_payloads(&[big_spi], &mut out);
        let parsed = parse_payloads(first, &out).unwrap();
        assert!(matches!(&parsed.payloads[0], Payload::Notify(n) if n.spi.len() == 255));
        // Too many payloads: emission is fine, parsing refuses.
        let many = vec![Payload::VendorId(vec![]); MAX_PAYLOADS + 1];
        out.clear();
        let first = emit_payloads(&many, &mut out);
        assert_eq!(parse_payloads(first, &out), Err(WireError::TooManyPayloads));
    }

    /// A strongSwan-like Main Mode first message, written out field by field from RFC 2408
    /// sections 3.1 to 3.6 and 3.16, RFC 2409 appendix A and RFC 2407 section 4.6.1.
    const MAIN_MODE_1: &[u8] = &hex!(
        // ISAKMP header: cookies, next SA, version 1.0, ID_PROT, no flags, MID 0, len 280.
        "1122334455667788 0000000000000000 01 10 02 00 00000000 00000118"
        // SA: next VID, length 136; DOI IPsec, SIT_IDENTITY_ONLY.
        "0d 00 0088 00000001 00000001"
        // Proposal 1: last, length 124; PROTO_ISAKMP, no SPI, 3 transforms.
        "00 00 007c 01 01 00 03"
        // Transform 1: next T, length 40, KEY_IKE. Life seconds, 86400 as a 4-byte variable,
        // AES-CBC-256, SHA2-256, PSK, MODP-2048.
        "03 00 0028 01 01 0000"
        "800b 0001  000c 0004 00015180  8001 0007  800e 0100  8002 0004  8003 0001  8004 000e"
        // Transform 2: AES-CBC-128, SHA1.
        "03 00 0028 02 01 0000"
        "800b 0001  000c 0004 00015180  8001 0007  800e 0080  8002 0002  8003 0001  8004 000e"
        // Transform 3: last, length 36; 3DES (no key length), SHA1, MODP-1024.
        "00 00 0024 03 01 0000"
        "800b 0001  000c 0004 00015180  8001 0005  8002 0002  8003 0001  8004 0002"
        // Vendor IDs: XAUTH, DPD, RFC 3947, draft-03, draft-02\n, FRAGMENTATION + caps.
        "0d 00 000c 09002689dfd6b712"
        "0d 00 0014 afcad71368a1f1c96b8696fc77570100"
        "0d 00 0014 4a131c81070358455c5728f20e95452f"
        "0d 00 0014 7d9419a65310ca6f2c179d9215529d56"
        "0d 00 0014 90cb80913ebb696e086381b5ec427b1f"
        "00 00 0018 4048b7d56ebce88525e7de7f00d6c2d3 80000000"
    );

    fn main_mode_1() -> Message {
        let ike = |number, enc, key_len: Option<u16>, hash, group| {
            let mut attributes = vec![
                Attribute::basic(p1attr::LIFE_TYPE, p1attr::LIFE_SECONDS),
                Attribute::number(p1attr::LIFE_DURATION, 86400),
                Attribute::basic(p1attr::ENCRYPTION, enc),
            ];
            attributes.extend(key_len.map(|k| Attribute::basic(p1attr::KEY_LENGTH, k)));
            attributes.extend([
                Attribute::basic(p1attr::HASH, hash),
                Attribute::basic(p1attr::AUTH_METHOD, p1attr::AUTH_PSK),
                Attribute::basic(p1attr::GROUP, group),
            ]);
            Transform { number, id: KEY_IKE, attributes }
        };
        let sa = SaPayload {
            doi: DOI_IPSEC,
            situation: SIT_IDENTITY_ONLY,
            proposals: vec![Proposal {
                number: 1,
                protocol: protocol::ISAKMP,
                spi: vec![],
                transforms: vec![
                    ike(1, p1attr::ENC_AES_CBC, Some(256), p1attr::HASH_SHA2_256, 14),
                    ike(2, p1attr::ENC_AES_CBC, Some(128), p1attr::HASH_SHA1, 14),
                    ike(3, p1attr::ENC_3DES_CBC, None, p1attr::HASH_SHA1, 2),
                ],
            }],
        };
        let mut payloads = vec![Payload::Sa(sa)];
        for vid in [
            vendor::XAUTH,
            vendor::DPD,
            vendor::RFC3947_NAT_T,
            vendor::NAT_T_DRAFT_03,
            vendor::NAT_T_DRAFT_02_N,
        ] {
            payloads.push(Payload::VendorId(vid.to_vec()));
        }
        payloads
            .push(Payload::VendorId(vendor::fragmentation_with_caps(vendor::FRAGMENTATION_IKE)));
        Message {
            header: Header {
                initiator_cookie: 0x1122_3344_5566_7788,
                responder_cookie: 0,
                next_payload: PayloadType::None,
                version: ISAKMP_VERSION,
                exchange: ExchangeType::IdentityProtection,
                flags: 0,
                message_id: 0,
                length: 0,
            },
            payloads,
        }
    }

    #[test]
    fn main_mode_first_message_known_bytes() {
        let m = main_mode_1();
        assert_eq!(MAIN_MODE_1.len(), 280);
        assert_eq!(m.to_bytes(), MAIN_MODE_1);

        let parsed = Message::parse(MAIN_MODE_1).unwrap();
        assert_eq!(parsed.payloads, m.payloads);
        assert_eq!(parsed.header.next_payload, PayloadType::Sa);
        assert_eq!(parsed.header.length, 280);

        let (_, body) = Header::parse(MAIN_MODE_1).unwrap();
        let chain = parse_payloads(PayloadType::Sa, body).unwrap();
        assert_eq!(chain.spans[0], 0..136);
        assert_eq!(chain.end, body.len());
        // SAi_b of RFC 2409: the SA body without its generic header.
        let Payload::Sa(sa) = &parsed.payloads[0] else { panic!("first payload is the SA") };
        assert_eq!(sa.body_bytes(), &body[4..136]);
        let t1 = &sa.proposals[0].transforms[0];
        assert_eq!(
            t1.get(p1attr::LIFE_DURATION),
            Some(&AttrValue::Variable(vec![0, 1, 0x51, 0x80]))
        );
        assert_eq!(t1.get(p1attr::LIFE_DURATION).and_then(AttrValue::as_u64), Some(86400));
        assert_eq!(t1.get(p1attr::KEY_LENGTH), Some(&AttrValue::Basic(256)));

        let kinds: Vec<_> = parsed.payloads[1..]
            .iter()
            .map(|p| match p {
                Payload::VendorId(v) => vendor::classify(v),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        use vendor::Known::*;
        assert_eq!(kinds, [Xauth, Dpd, NatTRfc3947, NatTDraft, NatTDraft, Fragmentation]);
        round_trip_check(MAIN_MODE_1).unwrap();
    }

    #[test]
    fn known_bytes_errors() {
        // IKEv2 on port 500: the version octet says so.
        let mut v2 = MAIN_MODE_1.to_vec();
        v2[17] = 0x20;
        assert_eq!(Message::parse(&v2), Err(WireError::UnsupportedVersion(0x20)));
        assert_eq!(WireError::UnsupportedVersion(0x20).notify(), notify::INVALID_MAJOR_VERSION);
        // The E flag on a plaintext parse.
        let mut enc = MAIN_MODE_1.to_vec();
        enc[19] = flags::ENCRYPTION;
        assert_eq!(Message::parse(&enc), Err(WireError::Encrypted));
        // A transform count that disagrees with the transforms.
        let mut count = MAIN_MODE_1.to_vec();
        count[47] = 2;
        let err = Message::parse(&count).unwrap_err();
        assert_eq!(err.notify(), notify::BAD_PROPOSAL_SYNTAX, "{err}");
        // Extra trailing bytes after Length are ignored (a datagram is one message).
        let mut long = MAIN_MODE_1.to_vec();
        long.extend_from_slice(&[0xee; 5]);
        assert_eq!(Message::parse(&long), Message::parse(MAIN_MODE_1));
        // A Length one short cuts the last VID.
        let mut short = MAIN_MODE_1.to_vec();
        short[27] = 0x17;
        assert!(matches!(
            Message::parse(&short),
            Err(WireError::Truncated { what: "payload", .. })
        ));
    }
}

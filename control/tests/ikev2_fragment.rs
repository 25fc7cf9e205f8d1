//! IKEv2 fragmentation (RFC 7383, `control::ikev2::fragment`): split, encrypt, decrypt and
//! reassemble a 5 KB IKE_AUTH payload chain at several MTUs and with every SK cipher, in
//! order, reversed, shuffled and duplicated; and the reassembly limits against hostile
//! numbering, size, count and time.

use control::crypto::{AesKeySize, EncrAlg, GcmIcv, IntegAlg, SkCipher, SkError};
use control::ikev2::fragment::{
    DEFAULT_IPV4_MTU, DEFAULT_IPV6_MTU, Fragment, FragmentError, FragmentLayout, IPV4_UDP_OVERHEAD,
    IPV6_UDP_OVERHEAD, NON_ESP_MARKER_LEN, Progress, Reassembly, ReassemblyLimits,
    ReceivedFragment, open_fragment, seal_fragments, split,
};
use control::ikev2::wire::{
    AuthMethod, AuthRepr, CertEncoding, CertRepr, ExchangeType, HeaderRepr, IdRepr, IdType,
    Message, Payload, PayloadType, emit_chain, parse_chain,
};
use control::time::Time;
use rand_core::{Infallible, Rng, TryCryptoRng, TryRng};
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
            chunk.copy_from_slice(&h.finalize()[..chunk.len()]);
        }
        Ok(())
    }
}

impl TryCryptoRng for TestRng {}

const MESSAGE_ID: u32 = 1;

fn header() -> HeaderRepr {
    HeaderRepr {
        spi_i: 0x0011_2233_4455_6677,
        spi_r: 0x8899_aabb_ccdd_eeff,
        exchange_type: ExchangeType::IkeAuth,
        initiator: true,
        response: false,
        version_flag: false,
        message_id: MESSAGE_ID,
    }
}

/// An IKE_AUTH request's inner payloads with a certificate: 5 KB or so.
fn payloads(rng: &mut TestRng) -> Vec<Payload> {
    let mut cert = vec![0u8; 4_800];
    rng.fill_bytes(&mut cert);
    let mut sig = vec![0u8; 256];
    rng.fill_bytes(&mut sig);
    vec![
        Payload::IdI(IdRepr { id_type: IdType::Fqdn, data: b"client.example.org".to_vec() }),
        Payload::Cert(CertRepr { encoding: CertEncoding::X509Signature, data: cert }),
        Payload::Auth(AuthRepr {
            method: AuthMethod::SharedKeyMic,
            algorithm_identifier: None,
            data: sig,
        }),
    ]
}

fn chain(payloads: &[Payload]) -> (PayloadType, Vec<u8>) {
    let mut buf = vec![0u8; payloads.iter().map(Payload::buffer_len).sum()];
    let first = emit_chain(payloads, &mut buf).expect("emit chain");
    (first, buf)
}

/// One cipher per suite family, keys from the RNG.
fn ciphers(rng: &mut TestRng) -> Vec<(&'static str, SkCipher)> {
    let mut key = |n: usize| {
        let mut k = vec![0u8; n];
        rng.fill_bytes(&mut k);
        k
    };
    let cbc = EncrAlg::AesCbc(AesKeySize::Aes256);
    let gcm = EncrAlg::AesGcm(AesKeySize::Aes128, GcmIcv::Icv16);
    let chacha = EncrAlg::ChaCha20Poly1305;
    vec![
        (
            "aes256-cbc/sha256",
            SkCipher::new(
                cbc,
                Some(IntegAlg::HmacSha256_128),
                &key(cbc.key_len()),
                &key(IntegAlg::HmacSha256_128.key_len()),
            )
            .expect("cbc"),
        ),
        ("aes128-gcm16", SkCipher::new(gcm, None, &key(gcm.key_len()), &[]).expect("gcm")),
        ("chacha20-poly1305", SkCipher::new(chacha, None, &key(chacha.key_len()), &[]).unwrap()),
    ]
}

/// A deterministic shuffle (Fisher-Yates with the test RNG).
fn shuffle<T>(v: &mut [T], rng: &mut TestRng) {
    for i in (1..v.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

/// Feeds the messages in `order` and returns what completed, checking that only the last
/// new fragment completes and that every duplicate is ignored.
fn reassemble(messages: &[Vec<u8>], order: &[usize], cipher: &SkCipher) -> (PayloadType, Vec<u8>) {
    let mut r = Reassembly::new(MESSAGE_ID, ReassemblyLimits::default());
    let mut seen = vec![false; messages.len()];
    let mut done = None;
    for (step, &i) in order.iter().enumerate() {
        let rx = open_fragment(&messages[i], cipher).expect("open");
        assert_eq!(rx.message_id, MESSAGE_ID);
        let progress = r.accept(Time::from_millis(step as u64), rx).expect("accept");
        let new_count = seen.iter().filter(|&&s| s).count() + usize::from(!seen[i]);
        match progress {
            Progress::Duplicate => assert!(seen[i] || done.is_some(), "step {step}"),
            Progress::Incomplete { received, total } => {
                assert!(!seen[i]);
                assert_eq!(usize::from(received), new_count);
                assert_eq!(usize::from(total), messages.len());
            }
            Progress::Complete(m) => {
                assert_eq!(new_count, messages.len(), "completed early at step {step}");
                assert!(done.is_none());
                done = Some((m.first_payload, m.chain));
            }
            Progress::Stale => panic!("stale at step {step}"),
        }
        seen[i] = true;
    }
    assert!(r.is_complete());
    done.expect("never completed")
}

#[test]
fn round_trip_at_several_mtus() {
    let mut rng = TestRng::new("fragment round trip");
    let payloads = payloads(&mut rng);
    let (first, inner) = chain(&payloads);
    assert!(inner.len() >= 5_000, "{}", inner.len());
    let cases = [
        (DEFAULT_IPV4_MTU, IPV4_UDP_OVERHEAD),
        (DEFAULT_IPV4_MTU, IPV4_UDP_OVERHEAD + NON_ESP_MARKER_LEN),
        (DEFAULT_IPV6_MTU, IPV6_UDP_OVERHEAD),
        (1500, IPV4_UDP_OVERHEAD + NON_ESP_MARKER_LEN),
        (1500, IPV6_UDP_OVERHEAD),
    ];
    for (name, cipher) in ciphers(&mut rng) {
        for (mtu, overhead) in cases {
            let ctx = format!("{name} mtu {mtu} overhead {overhead}");
            let layout = FragmentLayout::for_cipher(mtu, overhead, &cipher);
            let max = layout.max_fragment_data().expect(&ctx);
            let frags = split(first, &inner, max, 64).expect(&ctx);
            assert_eq!(frags.len(), inner.len().div_ceil(max), "{ctx}");
            let messages = seal_fragments(&header(), &frags, &cipher, &mut rng).expect(&ctx);
            let budget = mtu - overhead;
            for (i, m) in messages.iter().enumerate() {
                // Every datagram fits; all but the last fill the MTU to within a block.
                assert!(m.len() <= budget, "{ctx}: fragment {i} is {} > {budget}", m.len());
                if i + 1 < messages.len() {
                    assert!(m.len() + layout.block_len > budget, "{ctx}: fragment {i} short");
                }
                // The codec sees a well-formed SKF message, numbered, first type in #1 only.
                let parsed = Message::parse(m).expect(&ctx);
                let skf = parsed.encrypted_fragment().expect(&ctx);
                assert_eq!(usize::from(skf.fragment_number), i + 1);
                assert_eq!(usize::from(skf.total_fragments), messages.len());
                let expect_next = if i == 0 { first } else { PayloadType::NoNextPayload };
                assert_eq!(skf.next_payload, expect_next, "{ctx}");
                assert_eq!(parsed.header.message_id, MESSAGE_ID);
            }
            let n = messages.len();
            let in_order: Vec<usize> = (0..n).collect();
            let reversed: Vec<usize> = (0..n).rev().collect();
            let mut shuffled = in_order.clone();
            shuffle(&mut shuffled, &mut rng);
            // Every fragment twice, the copies interleaved at random.
            let mut duplicated: Vec<usize> = (0..n).chain(0..n).collect();
            shuffle(&mut duplicated, &mut rng);
            for order in [&in_order, &reversed, &shuffled, &duplicated] {
                let (got_first, got) = reassemble(&messages, order, &cipher);
                assert_eq!(got_first, first, "{ctx}");
                assert_eq!(got, inner, "{ctx}");
                assert_eq!(parse_chain(got_first, &got).expect(&ctx), payloads, "{ctx}");
            }
        }
    }
}

#[test]
fn tampered_or_foreign_fragments_do_not_open() {
    let mut rng = TestRng::new("fragment tamper");
    let (first, inner) = chain(&payloads(&mut rng));
    let all = ciphers(&mut rng);
    for (name, cipher) in &all {
        let layout = FragmentLayout::for_cipher(DEFAULT_IPV4_MTU, IPV4_UDP_OVERHEAD, cipher);
        let frags = split(first, &inner, layout.max_fragment_data().unwrap(), 64).unwrap();
        let messages = seal_fragments(&header(), &frags, cipher, &mut rng).unwrap();
        let m = &messages[1];
        // A flipped bit anywhere from the header to the ICV fails the ICV check (or, in the
        // header and fragment fields, the parse); nothing panics.
        for pos in [0, 8, 20, 31, 34, 40, m.len() / 2, m.len() - 1] {
            let mut t = m.clone();
            t[pos] ^= 0x01;
            assert!(open_fragment(&t, cipher).is_err(), "{name}: flip at {pos}");
        }
        let mut t = m.clone();
        let last = t.len() - 1;
        t[last] ^= 0x80;
        assert_eq!(
            open_fragment(&t, cipher).unwrap_err(),
            FragmentError::Cipher(SkError::IcvMismatch),
            "{name}"
        );
        // Another SA's key.
        for (other, wrong) in &all {
            if other != name {
                assert!(open_fragment(m, wrong).is_err(), "{name} opened with {other}");
            }
        }
        // Truncations.
        for n in 0..m.len() {
            assert!(open_fragment(&m[..n], cipher).is_err(), "{name}: truncated to {n}");
        }
    }
    // Garbage never panics.
    let (_, cipher) = &all[1];
    let mut buf = vec![0u8; 600];
    for len in 0..buf.len() {
        rng.fill_bytes(&mut buf[..len]);
        assert!(open_fragment(&buf[..len], cipher).is_err());
    }
}

fn received(number: u16, total: u16, data: &[u8]) -> ReceivedFragment {
    ReceivedFragment {
        message_id: MESSAGE_ID,
        fragment: Fragment {
            number,
            total,
            next_payload: if number == 1 { PayloadType::IdI } else { PayloadType::NoNextPayload },
            data: data.to_vec(),
        },
    }
}

#[test]
fn hostile_numbers_refused() {
    let mut r = Reassembly::new(MESSAGE_ID, ReassemblyLimits::default());
    let t = Time::ZERO;
    for (number, total) in [(0, 3), (0, 0), (4, 3), (1, 0), (u16::MAX, 1)] {
        assert_eq!(
            r.accept(t, received(number, total, b"x")),
            Err(FragmentError::InvalidNumber { number, total }),
            "{number}/{total}"
        );
    }
    assert_eq!(r.received(), 0);
    // Another message's fragment.
    let mut other = received(1, 2, b"x");
    other.message_id = MESSAGE_ID + 1;
    assert_eq!(
        r.accept(t, other),
        Err(FragmentError::WrongMessageId { expected: MESSAGE_ID, got: MESSAGE_ID + 1 })
    );
}

#[test]
fn too_many_fragments_refused() {
    let limits = ReassemblyLimits { max_fragments: 4, ..ReassemblyLimits::default() };
    let mut r = Reassembly::new(MESSAGE_ID, limits);
    assert_eq!(
        r.accept(Time::ZERO, received(1, 5, b"x")),
        Err(FragmentError::TooManyFragments { total: 5, max: 4 })
    );
    assert_eq!(
        r.accept(Time::ZERO, received(1, u16::MAX, b"x")),
        Err(FragmentError::TooManyFragments { total: usize::from(u16::MAX), max: 4 })
    );
    assert_eq!(r.total(), 0);
    assert_eq!(
        r.accept(Time::ZERO, received(4, 4, b"x")),
        Ok(Progress::Incomplete { received: 1, total: 4 })
    );
    // Splitting refuses too.
    assert_eq!(
        split(PayloadType::IdI, &[0u8; 1000], 100, 9),
        Err(FragmentError::TooManyFragments { total: 10, max: 9 })
    );
    assert_eq!(split(PayloadType::IdI, &[0u8; 1000], 100, 10).unwrap().len(), 10);
}

#[test]
fn byte_limit_drops_partial_message() {
    let limits = ReassemblyLimits { max_bytes: 1_000, ..ReassemblyLimits::default() };
    let mut r = Reassembly::new(MESSAGE_ID, limits);
    let t = Time::ZERO;
    assert!(matches!(r.accept(t, received(1, 3, &[1; 600])), Ok(Progress::Incomplete { .. })));
    assert_eq!(r.bytes(), 600);
    assert_eq!(r.accept(t, received(2, 3, &[2; 401])), Err(FragmentError::TooLarge { max: 1_000 }));
    assert_eq!((r.received(), r.bytes(), r.total()), (0, 0, 0));
}

#[test]
fn timeout_drops_state() {
    let mut r = Reassembly::new(MESSAGE_ID, ReassemblyLimits::default());
    let t0 = Time::from_secs(100);
    assert!(r.poll_timeout().is_none());
    r.accept(t0, received(1, 3, b"aa")).unwrap();
    r.accept(t0, received(2, 3, b"bb")).unwrap();
    let deadline = r.poll_timeout().expect("deadline");
    assert_eq!(deadline, Time::from_secs(130));
    assert!(!r.handle_timeout(Time::from_millis(129_999)));
    assert_eq!(r.received(), 2);
    assert!(r.handle_timeout(deadline));
    assert_eq!((r.received(), r.bytes(), r.total()), (0, 0, 0));
    assert!(r.poll_timeout().is_none());
    // The last fragment alone does not complete the dropped message.
    assert_eq!(
        r.accept(deadline, received(3, 3, b"cc")),
        Ok(Progress::Incomplete { received: 1, total: 3 })
    );
    // A late fragment after a missed handle_timeout also finds the old state gone.
    let late = Time::from_secs(200);
    assert_eq!(
        r.accept(late, received(1, 3, b"aa")),
        Ok(Progress::Incomplete { received: 1, total: 3 })
    );
}

#[test]
fn newer_total_fragments_wins() {
    let mut r = Reassembly::new(MESSAGE_ID, ReassemblyLimits::default());
    let t = Time::ZERO;
    let data = b"0123456789ab";
    // First sent as 2 fragments of 6 bytes; one arrives.
    assert!(matches!(r.accept(t, received(1, 2, &data[..6])), Ok(Progress::Incomplete { .. })));
    // The sender re-fragments for a smaller MTU (RFC 7383 section 2.5.2): 3 of 4 bytes. The
    // old fragment is discarded.
    assert_eq!(
        r.accept(t, received(3, 3, &data[8..])),
        Ok(Progress::Incomplete { received: 1, total: 3 })
    );
    // The rest of the old fragmentation is stale.
    assert_eq!(r.accept(t, received(2, 2, &data[6..])), Ok(Progress::Stale));
    assert_eq!(r.received(), 1);
    assert_eq!(
        r.accept(t, received(1, 3, &data[..4])),
        Ok(Progress::Incomplete { received: 2, total: 3 })
    );
    let Ok(Progress::Complete(m)) = r.accept(t, received(2, 3, &data[4..8])) else {
        panic!("not complete");
    };
    assert_eq!(m.chain, data);
    assert_eq!(m.first_payload, PayloadType::IdI);
    // After completion, retransmitted fragments are duplicates.
    assert_eq!(r.accept(t, received(2, 3, &data[4..8])), Ok(Progress::Duplicate));
}

#[test]
fn layout_limits() {
    let mut rng = TestRng::new("layout");
    for (name, cipher) in ciphers(&mut rng) {
        let layout = FragmentLayout::for_cipher(DEFAULT_IPV4_MTU, IPV4_UDP_OVERHEAD, &cipher);
        let max = layout.max_fragment_data().unwrap();
        // 576 - 28 - 36 = 512 bytes for IV, ciphertext and ICV.
        let expect = match name {
            "aes256-cbc/sha256" => (512 - 16 - 16) / 16 * 16 - 1,
            _ => 512 - 8 - 16 - 1,
        };
        assert_eq!(max, expect, "{name}");
        let tiny = FragmentLayout { mtu: 80, ..layout };
        assert_eq!(tiny.max_fragment_data(), Err(FragmentError::MtuTooSmall { mtu: 80 }));
        let zero = FragmentLayout { mtu: 0, ..layout };
        assert_eq!(zero.max_fragment_data(), Err(FragmentError::MtuTooSmall { mtu: 0 }));
    }
    // An empty chain is one empty fragment.
    let f = split(PayloadType::Notify, &[], 100, 64).unwrap();
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].number, f[0].total, f[0].data.len()), (1, 1, 0));
    assert_eq!(format!("{:?}", f[0]), "Fragment(1/1 next=N 0 bytes)");
}

//! The cookie challenge end to end (RFC 7296 section 2.6): admission control demands a
//! cookie, the responder sends a COOKIE notify from its `CookieJar`, the initiator repeats
//! IKE_SA_INIT with that notify first, and the repeated request parses, verifies and is
//! admitted; the same cookie from elsewhere, or after two rotations, is not.

use core::net::{IpAddr, Ipv4Addr};
use core::time::Duration;

use control::ikev2::cookie::{CookieError, CookieJar, DEFAULT_ROTATION};
use control::ikev2::dos::{Admission, AdmissionConfig, Verdict};
use control::ikev2::wire::{ExchangeType, HeaderRepr, Message, NonceRepr, Payload};
use control::time::Time;
use rand_core::{Infallible, TryCryptoRng, TryRng};

/// Deterministic xorshift RNG for tests only.
struct TestRng(u64);

impl TryRng for TestRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.try_next_u64()? as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Ok(self.0)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

impl TryCryptoRng for TestRng {}

fn sa_init(spi_i: u64, nonce: &[u8], cookie: Option<&Payload>) -> Vec<u8> {
    let mut payloads: Vec<Payload> = cookie.cloned().into_iter().collect();
    payloads.push(Payload::Nonce(NonceRepr { data: nonce.to_vec() }));
    Message {
        header: HeaderRepr {
            spi_i,
            spi_r: 0,
            exchange_type: ExchangeType::IkeSaInit,
            initiator: true,
            response: false,
            version_flag: false,
            message_id: 0,
        },
        payloads,
    }
    .to_vec()
    .expect("emit")
}

fn nonce_of(m: &Message) -> Vec<u8> {
    m.payloads
        .iter()
        .find_map(|p| match p {
            Payload::Nonce(n) => Some(n.data.clone()),
            _ => None,
        })
        .expect("nonce")
}

#[test]
fn cookie_challenge_round_trip() {
    let mut rng = TestRng(0x2545_f491_4f6c_dd1d);
    let t0 = Time::from_secs(1_000);
    let mut jar = CookieJar::new(t0, DEFAULT_ROTATION, &mut rng);
    let config = AdmissionConfig {
        cookie_threshold: 1,
        max_half_open: 100,
        max_half_open_per_peer: 10,
        rate_per_sec: 100,
        burst: 100,
        table_capacity: 64,
    };
    let mut admission = Admission::new(config);
    let other = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9));
    admission.opened(other);

    let src = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 20));
    let spi_i = 0x7a7a_0000_0000_0001;
    let ni = [0x42u8; 32];

    // First request: no cookie, and we are at the threshold: challenge.
    let first = Message::parse(&sa_init(spi_i, &ni, None)).expect("parse");
    assert_eq!(jar.verify_message(&first, &nonce_of(&first), src), Ok(false));
    assert_eq!(admission.check(t0, src, false), Verdict::DemandCookie);
    let notify = Payload::Notify(jar.make(&nonce_of(&first), src, spi_i).to_notify());

    // The initiator repeats the request with the cookie first (RFC 7296 section 2.6).
    let t1 = t0 + Duration::from_millis(30);
    let second = Message::parse(&sa_init(spi_i, &ni, Some(&notify))).expect("parse");
    assert!(matches!(second.payloads[0], Payload::Notify(_)));
    let valid = jar.verify_message(&second, &nonce_of(&second), src).expect("valid cookie");
    assert!(valid);
    assert_eq!(admission.check(t1, src, valid), Verdict::Accept);
    admission.opened(src);

    // The same cookie from another address, or for another SPI or nonce, does not verify.
    assert_eq!(jar.verify_message(&second, &ni, other), Err(CookieError::Mismatch));
    let other_spi = Message::parse(&sa_init(spi_i + 1, &ni, Some(&notify))).unwrap();
    assert_eq!(jar.verify_message(&other_spi, &ni, src), Err(CookieError::Mismatch));
    assert_eq!(jar.verify_message(&second, &[0x43; 32], src), Err(CookieError::Mismatch));

    // Still good after one rotation, gone after two.
    let mut t = t1;
    for rotations in 1..=2 {
        t = jar.poll_timeout();
        assert!(jar.rotate_if_due(t, &mut rng));
        let r = jar.verify_message(&second, &ni, src);
        if rotations == 1 {
            assert_eq!(r, Ok(true));
        } else {
            assert_eq!(r, Err(CookieError::UnknownVersion(0)));
        }
    }
    assert!(!jar.rotate_if_due(t, &mut rng));
    assert_eq!(admission.counters().cookie_demanded, 1);
    assert_eq!(admission.counters().accepted, 1);
}

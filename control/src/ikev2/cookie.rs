//! Stateless cookies for IKE_SA_INIT (RFC 7296 section 2.6).
//!
//! Under a half-open flood the responder answers IKE_SA_INIT with a COOKIE notify instead of
//! doing Diffie-Hellman, and only continues when the initiator repeats its request with that
//! cookie, which proves it receives packets at its source address. The responder keeps no
//! per-request state: the cookie is a MAC, under a secret only the responder knows, of what
//! the repeated request must carry again.
//!
//! Format (the RFC's suggestion, made unambiguous):
//!
//! ```text
//! Cookie = <VersionIDofSecret (1 octet)> | HMAC-SHA-256(secret, SPIi | family | IPi | len(Ni) | Ni)
//! ```
//!
//! - HMAC-SHA-256 rather than the RFC's plain `Hash(Ni | IPi | SPIi | <secret>)`: the RFC leaves
//!   the exact computation to the responder, and HMAC is a PRF under a key, which is the
//!   property a cookie needs, with no dependence on where the secret sits in the input.
//! - The inputs are framed (address family octet, 16-bit nonce length) so that no two
//!   different (Ni, IPi) pairs hash the same bytes: without it a cookie earned from an IPv4
//!   address with a long nonce would also fit a shorter nonce from an IPv6 address whose last
//!   four octets are that IPv4 address.
//! - The full 32-byte MAC is kept (cookie length 33): it fits the 64-octet limit with room to
//!   spare, costs 33 bytes in one message per attempt, and needs no truncation argument.
//!
//! Secrets rotate on the caller's clock ([`CookieJar::rotate_if_due`]); a cookie stays valid
//! while its secret is the current or the previous one, so between one and two periods.

use core::fmt;
use core::net::IpAddr;
use core::time::Duration;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use rand_core::CryptoRng;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::wire::{Message, NotifyRepr, NotifyType};
use crate::time::Time;

/// Shortest COOKIE notification data (RFC 7296 section 2.6: 1 to 64 octets).
pub const MIN_COOKIE_LEN: usize = 1;
/// Longest COOKIE notification data (RFC 7296 section 2.6: 1 to 64 octets).
pub const MAX_COOKIE_LEN: usize = 64;
/// Length of the cookies this jar makes: the secret's version octet and an HMAC-SHA-256.
pub const COOKIE_LEN: usize = 1 + MAC_LEN;
/// Length of each secret: the HMAC-SHA-256 output size, the key size HMAC is designed for.
pub const SECRET_LEN: usize = 32;
/// Default secret lifetime. RFC 7296 section 2.6 asks for the secret to change often; two
/// minutes keeps a cookie valid for at least the time an initiator takes to retry (it
/// retries at once) and at most four minutes.
pub const DEFAULT_ROTATION: Duration = Duration::from_secs(120);

const MAC_LEN: usize = 32;

/// A cookie made by [`CookieJar::make`]: [`COOKIE_LEN`] bytes, to send as the data of a
/// COOKIE notify.
#[derive(Clone, PartialEq, Eq)]
pub struct Cookie([u8; COOKIE_LEN]);

impl Cookie {
    /// The notification data.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The COOKIE notify carrying this cookie, for the responder's reply (RFC 7296 section
    /// 2.6: the reply holds only this notify).
    pub fn to_notify(&self) -> NotifyRepr {
        NotifyRepr::new(NotifyType::Cookie, self.0.to_vec())
    }
}

impl fmt::Debug for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A cookie is not a key, but it is a bearer token for a few minutes: show its version
        // only.
        write!(f, "Cookie(v{}, {} bytes)", self.0[0], self.0.len())
    }
}

/// Why a returned cookie was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CookieError {
    /// Outside the 1..=64 octets RFC 7296 section 2.6 allows.
    #[error("cookie length {0} outside 1..=64")]
    BadLength(usize),
    /// Not the length this jar makes (a cookie from another responder, or forged).
    #[error("cookie length {0} is not ours")]
    WrongLength(usize),
    /// Its secret version is neither the current nor the previous one: expired or forged.
    #[error("cookie secret version {0} unknown or expired")]
    UnknownVersion(u8),
    /// The MAC does not match this Ni, IPi and SPIi.
    #[error("cookie does not match the request")]
    Mismatch,
}

/// One secret with its version octet.
struct Secret {
    version: u8,
    key: Zeroizing<[u8; SECRET_LEN]>,
}

impl Secret {
    fn generate<R: CryptoRng + ?Sized>(version: u8, rng: &mut R) -> Secret {
        let mut key = Zeroizing::new([0u8; SECRET_LEN]);
        rng.fill_bytes(key.as_mut_slice());
        Secret { version, key }
    }

    fn mac(&self, ni: &[u8], ip: IpAddr, spi_i: u64) -> Zeroizing<[u8; MAC_LEN]> {
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(self.key.as_slice()) else {
            unreachable!("HMAC takes any key length")
        };
        mac.update(&spi_i.to_be_bytes());
        match ip {
            IpAddr::V4(a) => {
                mac.update(&[4]);
                mac.update(&a.octets());
            }
            IpAddr::V6(a) => {
                mac.update(&[6]);
                mac.update(&a.octets());
            }
        }
        // Nonces are at most 256 octets (RFC 7296 section 3.9); a longer one still frames
        // uniquely because the length saturates only far beyond any real message.
        let len = u16::try_from(ni.len()).unwrap_or(u16::MAX);
        mac.update(&len.to_be_bytes());
        mac.update(ni);
        let mut out = Zeroizing::new([0u8; MAC_LEN]);
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    }
}

/// The responder's cookie secrets: the current one, which makes cookies, and the previous
/// one, which still verifies them.
pub struct CookieJar {
    current: Secret,
    previous: Option<Secret>,
    rotation: Duration,
    next_rotation: Time,
}

impl CookieJar {
    /// A jar with a fresh secret (version 0) that rotates every `rotation` from `now`. A zero
    /// `rotation` is raised to one millisecond.
    pub fn new<R: CryptoRng + ?Sized>(now: Time, rotation: Duration, rng: &mut R) -> CookieJar {
        let rotation = rotation.max(Duration::from_millis(1));
        CookieJar {
            current: Secret::generate(0, rng),
            previous: None,
            rotation,
            next_rotation: now + rotation,
        }
    }

    /// When [`rotate_if_due`](Self::rotate_if_due) next has work.
    pub fn poll_timeout(&self) -> Time {
        self.next_rotation
    }

    /// Version octet of the current secret.
    pub fn current_version(&self) -> u8 {
        self.current.version
    }

    /// Rotates once if the current secret's period has ended: the current secret becomes the
    /// previous one and a new one is drawn; the old previous one is zeroized. Returns whether
    /// it rotated. A caller that was away for several periods rotates once, so cookies from
    /// before its absence stay valid for one more period: harmless, they still bind the
    /// request.
    pub fn rotate_if_due<R: CryptoRng + ?Sized>(&mut self, now: Time, rng: &mut R) -> bool {
        if now < self.next_rotation {
            return false;
        }
        self.rotate(rng);
        self.next_rotation = now + self.rotation;
        true
    }

    /// Rotates now, whatever the clock says (e.g. when the operator asks).
    pub fn rotate<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) {
        let next = Secret::generate(self.current.version.wrapping_add(1), rng);
        self.previous = Some(core::mem::replace(&mut self.current, next));
    }

    /// The cookie for an IKE_SA_INIT request with nonce `ni` and initiator SPI `spi_i`,
    /// received from `ip`.
    pub fn make(&self, ni: &[u8], ip: IpAddr, spi_i: u64) -> Cookie {
        let mut bytes = [0u8; COOKIE_LEN];
        bytes[0] = self.current.version;
        bytes[1..].copy_from_slice(self.current.mac(ni, ip, spi_i).as_slice());
        Cookie(bytes)
    }

    /// Checks a returned cookie against the request that carries it, under the secret its
    /// version octet names (current or previous); the MAC comparison is constant-time.
    pub fn verify(
        &self,
        cookie: &[u8],
        ni: &[u8],
        ip: IpAddr,
        spi_i: u64,
    ) -> Result<(), CookieError> {
        if !(MIN_COOKIE_LEN..=MAX_COOKIE_LEN).contains(&cookie.len()) {
            return Err(CookieError::BadLength(cookie.len()));
        }
        if cookie.len() != COOKIE_LEN {
            return Err(CookieError::WrongLength(cookie.len()));
        }
        let (&version, mac) = cookie.split_first().ok_or(CookieError::BadLength(0))?;
        let secret = if version == self.current.version {
            &self.current
        } else {
            match &self.previous {
                Some(p) if p.version == version => p,
                _ => return Err(CookieError::UnknownVersion(version)),
            }
        };
        let expected = secret.mac(ni, ip, spi_i);
        if bool::from(expected.as_slice().ct_eq(mac)) { Ok(()) } else { Err(CookieError::Mismatch) }
    }

    /// Checks the COOKIE notify of an IKE_SA_INIT request, given the nonce parsed from it and
    /// its source address. `Ok(false)` when the request carries no cookie.
    pub fn verify_message(
        &self,
        request: &Message,
        ni: &[u8],
        ip: IpAddr,
    ) -> Result<bool, CookieError> {
        match request.notify(NotifyType::Cookie) {
            None => Ok(false),
            Some(n) => self.verify(&n.data, ni, ip, request.header.spi_i).map(|()| true),
        }
    }
}

impl fmt::Debug for CookieJar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieJar")
            .field("current_version", &self.current.version)
            .field("previous_version", &self.previous.as_ref().map(|p| p.version))
            .field("rotation", &self.rotation)
            .field("next_rotation", &self.next_rotation)
            .field("secrets", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod test {
    use core::net::{Ipv4Addr, Ipv6Addr};

    use rand_core::{Infallible, Rng, TryCryptoRng, TryRng};

    use super::*;

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

    const NI: [u8; 32] = [0x5a; 32];
    const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
    const SPI: u64 = 0x0102_0304_0506_0708;

    fn jar() -> (CookieJar, TestRng) {
        let mut rng = TestRng(0x9e37_79b9_7f4a_7c15);
        (CookieJar::new(Time::ZERO, DEFAULT_ROTATION, &mut rng), rng)
    }

    #[test]
    fn test_valid_cookie_verifies() {
        let (jar, _) = jar();
        let c = jar.make(&NI, IP, SPI);
        assert_eq!(c.as_bytes().len(), COOKIE_LEN);
        assert!((MIN_COOKIE_LEN..=MAX_COOKIE_LEN).contains(&COOKIE_LEN));
        assert_eq!(c.as_bytes()[0], 0);
        assert_eq!(jar.verify(c.as_bytes(), &NI, IP, SPI), Ok(()));
        // Deterministic for the same input and secret.
        assert_eq!(jar.make(&NI, IP, SPI), c);
        let n = c.to_notify();
        assert_eq!(n.notify_type, NotifyType::Cookie);
        assert_eq!(n.data, c.as_bytes());
    }

    #[test]
    fn test_rotation() {
        let (mut jar, mut rng) = jar();
        let c = jar.make(&NI, IP, SPI);
        // Not yet due.
        assert!(!jar.rotate_if_due(Time::from_secs(119), &mut rng));
        assert_eq!(jar.poll_timeout(), Time::from_secs(120));
        // One rotation: the cookie's secret is now the previous one.
        assert!(jar.rotate_if_due(Time::from_secs(120), &mut rng));
        assert_eq!(jar.current_version(), 1);
        assert_eq!(jar.verify(c.as_bytes(), &NI, IP, SPI), Ok(()));
        let c1 = jar.make(&NI, IP, SPI);
        assert_ne!(c1, c);
        assert_eq!(c1.as_bytes()[0], 1);
        // Two rotations: gone.
        assert!(jar.rotate_if_due(Time::from_secs(240), &mut rng));
        assert_eq!(jar.verify(c.as_bytes(), &NI, IP, SPI), Err(CookieError::UnknownVersion(0)));
        assert_eq!(jar.verify(c1.as_bytes(), &NI, IP, SPI), Ok(()));
    }

    #[test]
    fn test_version_wraps() {
        let (mut jar, mut rng) = jar();
        for _ in 0..256 {
            jar.rotate(&mut rng);
        }
        assert_eq!(jar.current_version(), 0);
        let c = jar.make(&NI, IP, SPI);
        assert_eq!(jar.verify(c.as_bytes(), &NI, IP, SPI), Ok(()));
    }

    #[test]
    fn test_changed_inputs_fail() {
        let (jar, _) = jar();
        let c = jar.make(&NI, IP, SPI);
        let mut ni2 = NI;
        ni2[31] ^= 1;
        assert_eq!(jar.verify(c.as_bytes(), &ni2, IP, SPI), Err(CookieError::Mismatch));
        assert_eq!(jar.verify(c.as_bytes(), &NI[..31], IP, SPI), Err(CookieError::Mismatch));
        let ip2 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 8));
        assert_eq!(jar.verify(c.as_bytes(), &NI, ip2, SPI), Err(CookieError::Mismatch));
        assert_eq!(jar.verify(c.as_bytes(), &NI, IP, SPI ^ 1), Err(CookieError::Mismatch));
        // The framing keeps a v4 cookie from fitting a v6 address ending in the same octets.
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped());
        assert_eq!(jar.verify(c.as_bytes(), &NI, mapped, SPI), Err(CookieError::Mismatch));
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let c6 = jar.make(&NI, v6, SPI);
        assert_eq!(jar.verify(c6.as_bytes(), &NI, v6, SPI), Ok(()));
        assert_ne!(c6, c);
    }

    #[test]
    fn test_tampered_fails() {
        let (jar, _) = jar();
        let c = jar.make(&NI, IP, SPI);
        for i in 0..COOKIE_LEN {
            let mut t = c.as_bytes().to_vec();
            t[i] ^= 0x80;
            assert!(jar.verify(&t, &NI, IP, SPI).is_err(), "bit flip at {i}");
        }
        assert_eq!(jar.verify(&[], &NI, IP, SPI), Err(CookieError::BadLength(0)));
        assert_eq!(jar.verify(&[0; 65], &NI, IP, SPI), Err(CookieError::BadLength(65)));
        assert_eq!(
            jar.verify(&c.as_bytes()[..32], &NI, IP, SPI),
            Err(CookieError::WrongLength(32))
        );
    }

    #[test]
    fn test_random_bytes_never_verify() {
        let (jar, mut rng) = jar();
        let mut buf = [0u8; 80];
        for i in 0..20_000usize {
            let len = i % buf.len();
            rng.fill_bytes(&mut buf[..len]);
            // Version 0 is the current one: the MAC path runs too.
            if len > 0 && i % 2 == 0 {
                buf[0] = 0;
            }
            assert!(jar.verify(&buf[..len], &NI, IP, SPI).is_err());
        }
    }

    #[test]
    fn test_debug_redacts() {
        let (jar, _) = jar();
        let s = format!("{jar:?} {:?}", jar.make(&NI, IP, SPI));
        assert!(s.contains("<redacted>"), "{s}");
        assert!(!s.contains("key"), "{s}");
    }
}

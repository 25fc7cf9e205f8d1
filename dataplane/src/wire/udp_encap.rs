//! UDP encapsulation of ESP (RFC 3948): telling ESP, IKE and NAT-keepalives apart on the
//! NAT-T port.

use core::fmt;

use super::esp;

/// The UDP port that carries both IKE and ESP once NAT traversal is in use (RFC 3948
/// section 2; RFC 7296 section 2.23).
pub const NAT_T_PORT: u16 = 4500;

/// The single payload byte of a NAT-keepalive packet (RFC 3948 section 2.3).
pub const NAT_KEEPALIVE: u8 = 0xff;

/// The Non-ESP Marker that precedes an IKE message on port 4500: four zero bytes where an
/// ESP packet has its SPI, which is never 0 (RFC 3948 section 2.2).
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// Whether a UDP payload is a NAT-keepalive: exactly one byte, 0xFF (RFC 3948 2.3).
#[inline]
pub fn is_nat_keepalive(payload: &[u8]) -> bool {
    payload == [NAT_KEEPALIVE]
}

/// Whether a UDP payload starts with the Non-ESP Marker (an IKE message follows it).
#[inline]
pub fn has_non_esp_marker(payload: &[u8]) -> bool {
    payload.starts_with(&NON_ESP_MARKER)
}

/// What a UDP payload received on port 4500 is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Udp4500 {
    /// An ESP packet: the payload starts with a non-zero SPI and holds at least the ESP
    /// header.
    Esp,
    /// An IKE message after the Non-ESP Marker (strip [`NON_ESP_MARKER`] first).
    Ike,
    /// A NAT-keepalive: drop it silently.
    Keepalive,
    /// Too short for ESP and neither of the above.
    Malformed,
}

impl fmt::Display for Udp4500 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Udp4500::Esp => "ESP-in-UDP",
            Udp4500::Ike => "IKE (non-ESP marker)",
            Udp4500::Keepalive => "NAT-keepalive",
            Udp4500::Malformed => "malformed UDP-encapsulated payload",
        })
    }
}

/// Classifies a UDP payload received on port 4500 (RFC 3948 sections 2.2, 2.3). Cheap
/// enough for the fast path: at most two comparisons.
#[inline]
pub fn classify_udp4500(payload: &[u8]) -> Udp4500 {
    if has_non_esp_marker(payload) {
        Udp4500::Ike
    } else if is_nat_keepalive(payload) {
        Udp4500::Keepalive
    } else if payload.len() < esp::HEADER_LEN {
        Udp4500::Malformed
    } else {
        Udp4500::Esp
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keepalive() {
        assert!(is_nat_keepalive(&[0xff]));
        assert!(!is_nat_keepalive(&[0xff, 0xff]));
        assert!(!is_nat_keepalive(&[0x00]));
        assert!(!is_nat_keepalive(&[]));
        assert_eq!(classify_udp4500(&[0xff]), Udp4500::Keepalive);
    }

    #[test]
    fn non_esp_marker() {
        // Marker followed by the start of an IKE header (initiator SPI).
        let ike = [0, 0, 0, 0, 0x8a, 0x5c, 0x1b, 0x2f, 0, 0, 0, 0];
        assert!(has_non_esp_marker(&ike));
        assert_eq!(classify_udp4500(&ike), Udp4500::Ike);
        assert_eq!(classify_udp4500(&[0, 0, 0, 0]), Udp4500::Ike);
        assert!(!has_non_esp_marker(&[0, 0, 0]));
    }

    #[test]
    fn esp_and_malformed() {
        // ESP header of draft-mcgrew-gcm-test-01's first packet.
        let esp = [0x00, 0x00, 0xa5, 0xf8, 0x00, 0x00, 0x00, 0x0a];
        assert_eq!(classify_udp4500(&esp), Udp4500::Esp);
        for n in 0..esp::HEADER_LEN {
            assert_eq!(classify_udp4500(&esp[..n]), Udp4500::Malformed, "len {n}");
        }
        assert_eq!(classify_udp4500(&[]), Udp4500::Malformed);
        assert_eq!(classify_udp4500(&[0, 0, 0]), Udp4500::Malformed);
        assert_eq!(classify_udp4500(&[0xfe]), Udp4500::Malformed);
        assert_eq!(Udp4500::Esp.to_string(), "ESP-in-UDP");
    }

    proptest! {
        #[test]
        fn classification_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..20)) {
            let class = classify_udp4500(&bytes);
            match class {
                Udp4500::Esp => prop_assert!(bytes.len() >= 8 && bytes[..4] != [0; 4]),
                Udp4500::Ike => prop_assert!(bytes.len() >= 4 && bytes[..4] == [0; 4]),
                Udp4500::Keepalive => prop_assert_eq!(&bytes[..], &[0xff]),
                Udp4500::Malformed => prop_assert!(bytes.len() < 8),
            }
        }
    }
}
